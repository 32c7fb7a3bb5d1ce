/*
 * properties.c - Java .properties text (what Kafka Connect standalone
 * reads): `key=value`, `key: value` or `key value`; `#` and `!` comment
 * lines; leading blanks skipped; a line ending in an odd number of
 * backslashes goes on in the next; escapes \t \n \r \f \\ \= \: \# \! and
 * \uXXXX (as UTF-8). A key given twice is an error here (Java keeps the
 * last silently: a typo should not pass for a setting).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eventlog/connect.h>

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static int put(sbuf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return EVL_ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The logical line from *at (continuations joined, leading blanks of
 * continuation lines dropped), raw (escapes kept). */
static int logical_line(const char *t, size_t len, size_t *at, sbuf_t *out)
{
    out->len = 0;
    if (out->p)
        out->p[0] = 0;
    bool first = true;
    while (*at < len) {
        size_t s = *at;
        if (!first)
            while (s < len && (t[s] == ' ' || t[s] == '\t' || t[s] == '\f'))
                s++;
        size_t e = s;
        while (e < len && t[e] != '\n' && t[e] != '\r')
            e++;
        *at = e < len ? e + 1 : e;
        if (e < len && t[e] == '\r' && *at < len && t[*at] == '\n')
            (*at)++;
        size_t bs = 0;
        for (size_t k = e; k > s && t[k - 1] == '\\'; k--)
            bs++;
        bool more = bs % 2 == 1;
        int rc = put(out, t + s, e - s - (more ? 1 : 0));
        if (rc)
            return rc;
        first = false;
        if (!more)
            break;
    }
    return 0;
}

/* Unescape raw[from, to) into out. */
static int unescape(const char *raw, size_t from, size_t to, sbuf_t *out, char *err, size_t errsz)
{
    out->len = 0;
    int rc = put(out, "", 0);
    for (size_t i = from; rc == 0 && i < to; i++) {
        char c = raw[i];
        if (c != '\\' || i + 1 >= to) {
            rc = put(out, &c, 1);
            continue;
        }
        c = raw[++i];
        char o = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 'f' ? '\f' : c;
        if (c != 'u') {
            rc = put(out, &o, 1);
            continue;
        }
        unsigned cp = 0;
        for (int k = 0; k < 4; k++) {
            int h = i + 1 + (size_t)k < to ? hexval(raw[i + 1 + (size_t)k]) : -1;
            if (h < 0) {
                snprintf(err, errsz, "a \\u escape needs 4 hex digits");
                return EVL_ECONFIG;
            }
            cp = cp * 16 + (unsigned)h;
        }
        i += 4;
        char u[3];
        size_t n;
        if (cp < 0x80) {
            u[0] = (char)cp;
            n = 1;
        } else if (cp < 0x800) {
            u[0] = (char)(0xc0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3f));
            n = 2;
        } else {
            u[0] = (char)(0xe0 | (cp >> 12));
            u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
            u[2] = (char)(0x80 | (cp & 0x3f));
            n = 3;
        }
        rc = put(out, u, n);
    }
    return rc;
}

EVL_API void evl_connect_pairs_free(char **pairs, size_t npairs)
{
    if (!pairs)
        return;
    for (size_t i = 0; i < 2 * npairs; i++)
        free(pairs[i]);
    free(pairs);
}

EVL_API int evl_connect_properties(const char *text, size_t len, char ***pairs_out,
                                   size_t *npairs_out, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = 0;
    if (!pairs_out || !npairs_out || (!text && len))
        return EVL_EINVAL;
    *pairs_out = NULL;
    *npairs_out = 0;
    char **pairs = NULL;
    size_t n = 0, cap = 0, at = 0, lineno = 0;
    sbuf_t line = {0}, key = {0}, val = {0};
    int rc = 0;
    while (rc == 0 && at < len) {
        lineno++;
        if ((rc = logical_line(text, len, &at, &line)))
            break;
        const char *l = line.p ? line.p : "";
        size_t s = 0, L = line.len;
        while (s < L && (l[s] == ' ' || l[s] == '\t' || l[s] == '\f'))
            s++;
        if (s == L || l[s] == '#' || l[s] == '!')
            continue;
        /* The key ends at an unescaped =, : or blank. */
        size_t k = s;
        while (k < L && l[k] != '=' && l[k] != ':' && l[k] != ' ' && l[k] != '\t' &&
               l[k] != '\f') {
            if (l[k] == '\\' && k + 1 < L)
                k++;
            k++;
        }
        size_t v = k;
        while (v < L && (l[v] == ' ' || l[v] == '\t' || l[v] == '\f'))
            v++;
        if (v < L && (l[v] == '=' || l[v] == ':'))
            v++;
        while (v < L && (l[v] == ' ' || l[v] == '\t' || l[v] == '\f'))
            v++;
        if ((rc = unescape(l, s, k, &key, err, errsz)) ||
            (rc = unescape(l, v, L, &val, err, errsz)))
            break;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(pairs[2 * i], key.p)) {
                snprintf(err, errsz, "line %zu: %s is given twice", lineno, key.p);
                rc = EVL_ECONFIG;
            }
        if (rc)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **np = realloc(pairs, 2 * cap * sizeof *np);
            if (!np) {
                rc = EVL_ENOMEM;
                break;
            }
            pairs = np;
        }
        pairs[2 * n] = strdup(key.p);
        pairs[2 * n + 1] = strdup(val.p);
        n++;
        if (!pairs[2 * n - 2] || !pairs[2 * n - 1])
            rc = EVL_ENOMEM;
    }
    free(line.p);
    free(key.p);
    free(val.p);
    if (rc) {
        evl_connect_pairs_free(pairs, n);
        return rc;
    }
    *pairs_out = pairs;
    *npairs_out = n;
    return 0;
}
