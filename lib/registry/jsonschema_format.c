/*
 * jsonschema_format.c - the "format" keyword: date-time, date, time, email,
 * hostname, ipv4, ipv6, uri, uri-reference, uuid, regex, json-pointer,
 * relative-json-pointer checked as draft-07 describes; the others
 * (idn-*, iri*, uri-template) pass.
 */
#include "jsonschema_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- formats ---- */

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

static bool full_date(const char *s, size_t len)
{
    if (len != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    return true;
}

/* full-time of RFC 3339: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM) */
static bool full_time(const char *s, size_t len)
{
    if (len < 9 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2) || s[5] != ':' ||
        !digits(s + 6, 2))
        return false;
    int h = num(s, 2), mi = num(s + 3, 2), se = num(s + 6, 2);
    size_t i = 8;
    if (i < len && s[i] == '.') {
        i++;
        size_t k = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == k)
            return false;
    }
    if (i >= len)
        return false;
    int oh = 0, om = 0, sign = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (len - i != 6 || !digits(s + i + 1, 2) || s[i + 3] != ':' || !digits(s + i + 4, 2))
            return false;
        oh = num(s + i + 1, 2);
        om = num(s + i + 4, 2);
        if (oh > 23 || om > 59)
            return false;
        i += 6;
    } else {
        return false;
    }
    if (i != len || h > 23 || mi > 59 || se > 60)
        return false;
    if (se == 60) {
        /* a leap second: 23:59:60 in UTC */
        int utc = h * 60 + mi - sign * (oh * 60 + om);
        utc = ((utc % 1440) + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

static bool hostname_ok(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t lab = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (lab == 0 || lab > 63 || s[i - 1] == '-' || s[i - lab] == '-')
                return false;
            lab = 0;
            continue;
        }
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
        lab++;
    }
    return true;
}

static bool ipv4_ok(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
        size_t k = i;
        int v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - k < 4)
            v = v * 10 + (s[i++] - '0');
        if (i == k || i - k > 3 || v > 255 || (i - k > 1 && s[k] == '0'))
            return false;
    }
    return i == len;
}

static bool ipv6_ok(const char *s, size_t len)
{
    if (len < 2 || len > 45)
        return false;
    int groups = 0;
    bool dbl = false;
    size_t i = 0;
    if (s[0] == ':') {
        if (s[1] != ':')
            return false;
        dbl = true;
        i = 2;
        if (i == len)
            return true;
    }
    while (i < len) {
        size_t k = i;
        while (i < len && evl__sr_hexval(s[i]) >= 0 && i - k < 5)
            i++;
        if (i < len && s[i] == '.') {
            /* a trailing dotted IPv4 counts for two groups */
            if (!ipv4_ok(s + k, len - k))
                return false;
            groups += 2;
            i = len;
            break;
        }
        if (i == k || i - k > 4)
            return false;
        groups++;
        if (i == len)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < len && s[i] == ':') {
            if (dbl)
                return false;
            dbl = true;
            i++;
            if (i == len)
                break;
        } else if (i == len) {
            return false;
        }
    }
    return dbl ? groups < 8 : groups == 8;
}

static bool uri_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~:/?#[]@!$&'()*+,;=%", c);
}

static bool uri_ok(const char *s, size_t len, bool need_scheme)
{
    size_t i = 0;
    bool scheme = false;
    if (len && ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                           (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
                           s[i] == '.'))
            i++;
        scheme = i < len && s[i] == ':';
    }
    if (need_scheme && !scheme)
        return false;
    for (size_t j = 0; j < len; j++) {
        unsigned char c = (unsigned char)s[j];
        if (!uri_char(c))
            return false;
        if (c == '%' && (j + 2 >= len || evl__sr_hexval(s[j + 1]) < 0 || evl__sr_hexval(s[j + 2]) < 0))
            return false;
    }
    /* brackets only around an IPv6 host; '#' once */
    const char *h = memchr(s, '#', len);
    if (h && memchr(h + 1, '#', len - (size_t)(h + 1 - s)))
        return false;
    size_t start = scheme ? i + 1 : 0;
    if (len - start >= 2 && s[start] == '/' && s[start + 1] == '/') {
        size_t a = start + 2, e = a;
        while (e < len && !strchr("/?#", s[e]))
            e++;
        const char *at = NULL;
        for (size_t j = a; j < e; j++)
            if (s[j] == '@')
                at = s + j;
        size_t hs = at ? (size_t)(at + 1 - s) : a;
        for (size_t j = hs; j < e; j++) {
            if (s[j] == '[') {
                const char *rb = memchr(s + j, ']', e - j);
                if (j != hs || !rb)
                    return false;
                j = (size_t)(rb - s);
                if (j + 1 < e && s[j + 1] != ':')
                    return false;
            } else if (s[j] == ']') {
                return false;
            } else if (s[j] == ':') {
                for (size_t k = j + 1; k < e; k++)
                    if (s[k] < '0' || s[k] > '9')
                        return false;
                break;
            }
        }
    } else {
        for (size_t j = start; j < len; j++)
            if (s[j] == '[' || s[j] == ']')
                return false;
    }
    if (!scheme && need_scheme == false) {
        /* a relative reference: its first segment has no ':' */
        size_t e = 0;
        while (e < len && !strchr("/?#", s[e]))
            e++;
        if (memchr(s, ':', e))
            return false;
    }
    return true;
}

static bool email_ok(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    if (!at)
        return false;
    size_t nl = (size_t)(at - s), nd = len - nl - 1;
    if (nl == 0 || nd == 0 || memchr(at + 1, '@', nd))
        return false;
    if (s[0] == '.' || s[nl - 1] == '.')
        return false;
    for (size_t i = 0; i + 1 < nl; i++)
        if (s[i] == '.' && s[i + 1] == '.')
            return false;
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)s[i] <= ' ' || strchr("()<>[]:;\\,\"", s[i]))
            return false;
    const char *d = at + 1;
    if (d[0] == '[' && d[nd - 1] == ']') {
        if (nd > 6 && memcmp(d + 1, "IPv6:", 5) == 0)
            return ipv6_ok(d + 6, nd - 7);
        return ipv4_ok(d + 1, nd - 2);
    }
    return hostname_ok(d, nd);
}

static bool json_pointer_ok(const char *s, size_t len)
{
    if (len && s[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
            return false;
    return true;
}

bool evl__js_format_ok(const char *name, const char *s, size_t len)
{
    if (strcmp(name, "date-time") == 0) {
        return len > 11 && full_date(s, 10) && (s[10] == 'T' || s[10] == 't') &&
               full_time(s + 11, len - 11);
    } else if (strcmp(name, "date") == 0) {
        return full_date(s, len);
    } else if (strcmp(name, "time") == 0) {
        return full_time(s, len);
    } else if (strcmp(name, "email") == 0) {
        return email_ok(s, len);
    } else if (strcmp(name, "hostname") == 0) {
        return hostname_ok(s, len);
    } else if (strcmp(name, "ipv4") == 0) {
        return ipv4_ok(s, len);
    } else if (strcmp(name, "ipv6") == 0) {
        return ipv6_ok(s, len);
    } else if (strcmp(name, "uri") == 0) {
        return uri_ok(s, len, true);
    } else if (strcmp(name, "uri-reference") == 0) {
        return uri_ok(s, len, false);
    } else if (strcmp(name, "uuid") == 0) {
        if (len != 36)
            return false;
        for (size_t i = 0; i < 36; i++) {
            bool dash = i == 8 || i == 13 || i == 18 || i == 23;
            if (dash ? s[i] != '-' : evl__sr_hexval(s[i]) < 0)
                return false;
        }
        return true;
    } else if (strcmp(name, "regex") == 0) {
        evl_js_regex_t rx;
        char e[128];
        if (evl__js_regex_compile(&rx, s, len, e, sizeof e) < 0)
            return false;
        evl__js_regex_free(&rx);
        return true;
    } else if (strcmp(name, "json-pointer") == 0) {
        return json_pointer_ok(s, len);
    } else if (strcmp(name, "relative-json-pointer") == 0) {
        size_t i = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == 0 || (i > 1 && s[0] == '0'))
            return false;
        if (i < len && s[i] == '#')
            return i + 1 == len;
        return json_pointer_ok(s + i, len - i);
    }
    return true;
}
