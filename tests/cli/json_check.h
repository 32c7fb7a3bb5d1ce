/*
 * tests/cli/json_check.h - a small JSON validator for test_cli.c.
 *
 * `evl ... --json` promises exactly one valid JSON document on stdout. This
 * checks the grammar of RFC 8259 (objects, arrays, strings with their
 * escapes, numbers, literals), that strings hold no raw control characters
 * and only well-formed UTF-8 lead/continuation bytes, and nesting depth; no
 * library needed. json_valid() is true when the whole text is one value
 * surrounded by optional whitespace.
 */
#ifndef EVL_TEST_JSON_CHECK_H
#define EVL_TEST_JSON_CHECK_H

#include <string.h>

static const char *js_value(const char *p, int depth);

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *js_string(const char *p)
{
    const unsigned char *s = (const unsigned char *)p + 1;

    if (*p != '"')
        return NULL;
    while (*s != '"') {
        if (*s < 0x20)
            return NULL;
        if (*s == '\\') {
            s++;
            if (*s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
                        return NULL;
                s += 5;
                continue;
            }
            if (!*s || !strchr("\"\\/bfnrt", *s))
                return NULL;
            s++;
            continue;
        }
        if (*s >= 0x80) { /* valid UTF-8 only */
            int len = *s >= 0xF0 ? 4 : *s >= 0xE0 ? 3 : *s >= 0xC2 ? 2 : 0;
            if (!len || *s > 0xF4)
                return NULL;
            for (int i = 1; i < len; i++)
                if ((s[i] & 0xC0) != 0x80)
                    return NULL;
            s += len;
            continue;
        }
        s++;
    }
    return (const char *)s + 1;
}

static const char *js_number(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (*++p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static const char *js_members(const char *p, int depth, char close, int obj)
{
    p = js_ws(p + 1);
    if (*p == close)
        return p + 1;
    for (;;) {
        if (obj) {
            if (!(p = js_string(js_ws(p))))
                return NULL;
            p = js_ws(p);
            if (*p++ != ':')
                return NULL;
        }
        if (!(p = js_value(p, depth + 1)))
            return NULL;
        p = js_ws(p);
        if (*p == close)
            return p + 1;
        if (*p++ != ',')
            return NULL;
    }
}

static const char *js_value(const char *p, int depth)
{
    p = js_ws(p);
    if (depth > 64)
        return NULL;
    switch (*p) {
    case '{': return js_members(p, depth, '}', 1);
    case '[': return js_members(p, depth, ']', 0);
    case '"': return js_string(p);
    case 't': return strncmp(p, "true", 4) ? NULL : p + 4;
    case 'f': return strncmp(p, "false", 5) ? NULL : p + 5;
    case 'n': return strncmp(p, "null", 4) ? NULL : p + 4;
    default: return js_number(p);
    }
}

/* One JSON value and nothing but whitespace around it? */
static int json_valid(const char *text)
{
    const char *end = js_value(text, 0);
    return end && *js_ws(end) == '\0';
}

#endif
