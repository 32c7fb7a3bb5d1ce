/*
 * jsonschema_regex.c - ECMA-262 patterns (JSON Schema's "pattern",
 * "patternProperties") translated to POSIX ERE for regcomp.
 *
 * Why POSIX regex: it is in libc, and without back-references glibc's
 * matcher is automaton-based, so no pattern backtracks exponentially
 * (what ECMA constructs ERE cannot say, the schema is refused for:
 * back-references, lookaround, \p{..} classes, \D \W \S inside a class,
 * empty classes [] and [^], \0). Patterns run in the C.UTF-8 locale
 * (uselocale, per thread) so that "." and classes match code points.
 */
#include "jsonschema_internal.h"

#include <locale.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- ECMA-262 pattern -> POSIX ERE ---- */

static _Atomic(locale_t) utf8_loc;

static locale_t utf8_locale(void)
{
    locale_t l = atomic_load(&utf8_loc);
    if (l)
        return l;
    l = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (!l)
        return (locale_t)0;
    locale_t expected = (locale_t)0;
    if (!atomic_compare_exchange_strong(&utf8_loc, &expected, l)) {
        freelocale(l);
        l = expected;
    }
    return l;
}

typedef struct rx_tr {
    const char *p, *end;
    evl_sr_buf_t out;
    const char *why;
    bool utf8;
    double product; /* of counted repetitions: bounds regcomp's expansion */
} rx_tr_t;

/* Decode one UTF-8 code point at *p (jansson gives valid UTF-8; a bad
 * byte is taken as itself). */
static uint32_t next_cp(const char **pp, const char *end)
{
    const unsigned char *p = (const unsigned char *)*pp;
    uint32_t c = *p++;
    int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (more) {
        c &= (uint32_t)(0x3f >> more);
        for (int i = 0; i < more && (const char *)p < end && (*p & 0xc0) == 0x80; i++)
            c = (c << 6) | (*p++ & 0x3f);
    }
    *pp = (const char *)p;
    return c;
}

static bool read_hex(rx_tr_t *t, int n, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        if (t->p + i >= t->end || evl__sr_hexval(t->p[i]) < 0)
            return false;
        v = v * 16 + (uint32_t)evl__sr_hexval(t->p[i]);
    }
    t->p += n;
    *out = v;
    return true;
}

/* \uXXXX with a following low surrogate combined. */
static bool read_u(rx_tr_t *t, uint32_t *cp)
{
    if (!read_hex(t, 4, cp))
        return false;
    if (*cp >= 0xd800 && *cp < 0xdc00 && t->end - t->p >= 6 && t->p[0] == '\\' &&
        t->p[1] == 'u') {
        const char *save = t->p;
        uint32_t lo;
        t->p += 2;
        if (read_hex(t, 4, &lo) && lo >= 0xdc00 && lo < 0xe000)
            *cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
        else
            t->p = save;
    }
    return true;
}

static int emit_lit(rx_tr_t *t, uint32_t cp)
{
    if (cp == 0) {
        t->why = "NUL in a pattern";
        return EVL_ESCHEMA_INVALID;
    }
    if (cp >= 0x80 && !t->utf8) {
        t->why = "non-ASCII character without a UTF-8 locale";
        return EVL_ESCHEMA_INVALID;
    }
    if (cp < 0x80 && strchr(".[]\\()*+?{}|^$", (int)cp))
        if (evl__sr_buf_byte(&t->out, '\\') < 0)
            return EVL_ENOMEM;
    return evl__sr_put_utf8(&t->out, cp);
}

#define CLS_DIGIT "0-9"
#define CLS_WORD "A-Za-z0-9_"
#define CLS_SPACE " \t\n\r\f\v"

/* One class member (a code point) inside brackets. */
static int emit_cls_cp(rx_tr_t *t, uint32_t cp)
{
    if (cp == 0) {
        t->why = "NUL in a pattern";
        return EVL_ESCHEMA_INVALID;
    }
    if (cp >= 0x80 && !t->utf8) {
        t->why = "non-ASCII character without a UTF-8 locale";
        return EVL_ESCHEMA_INVALID;
    }
    if (cp == ']' || cp == '-' || cp == '^' || cp == '[')
        return evl__sr_buf_printf(&t->out, "[.%c.]", (char)cp);
    return evl__sr_put_utf8(&t->out, cp);
}

/* A class escape after '\' inside brackets: *cp the code point, or
 * *cls the expansion of \d \w \s. */
static int class_escape(rx_tr_t *t, uint32_t *cp, const char **cls)
{
    *cls = NULL;
    if (t->p >= t->end) {
        t->why = "\\ at the end";
        return EVL_ESCHEMA_INVALID;
    }
    char c = *t->p++;
    switch (c) {
    case 'd': *cls = CLS_DIGIT; return 0;
    case 'w': *cls = CLS_WORD; return 0;
    case 's': *cls = CLS_SPACE; return 0;
    case 'D': case 'W': case 'S':
        t->why = "negated class escape inside a class";
        return EVL_ESCHEMA_INVALID;
    case 'b': *cp = 8; return 0;
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 't': *cp = '\t'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case 'c':
        if (t->p < t->end && ((*t->p >= 'a' && *t->p <= 'z') || (*t->p >= 'A' && *t->p <= 'Z'))) {
            *cp = (uint32_t)(*t->p++ % 32);
            return 0;
        }
        *cp = '\\';
        t->p--;
        return 0;
    case 'x':
        if (read_hex(t, 2, cp))
            return 0;
        *cp = 'x';
        return 0;
    case 'u':
        if (read_u(t, cp))
            return 0;
        *cp = 'u';
        return 0;
    case 'p': case 'P': case 'k':
        t->why = "\\p, \\P and \\k are not supported";
        return EVL_ESCHEMA_INVALID;
    default:
        if (c >= '0' && c <= '9') {
            t->why = "octal or back-reference escape";
            return EVL_ESCHEMA_INVALID;
        }
        t->p--;
        *cp = next_cp(&t->p, t->end);
        return 0;
    }
}

static int tr_class(rx_tr_t *t)
{
    /* t->p is past '[' */
    bool neg = false;
    if (t->p < t->end && *t->p == '^') {
        neg = true;
        t->p++;
    }
    if (t->p < t->end && *t->p == ']') {
        t->why = neg ? "[^] is not supported" : "[] is not supported";
        return EVL_ESCHEMA_INVALID;
    }
    int rc = evl__sr_buf_put(&t->out, neg ? "[^" : "[", neg ? 2 : 1);
    while (!rc) {
        if (t->p >= t->end) {
            t->why = "unterminated class";
            return EVL_ESCHEMA_INVALID;
        }
        if (*t->p == ']') {
            t->p++;
            break;
        }
        uint32_t lo;
        const char *cls = NULL;
        if (*t->p == '\\') {
            t->p++;
            rc = class_escape(t, &lo, &cls);
        } else {
            lo = next_cp(&t->p, t->end);
        }
        if (rc)
            return rc;
        if (cls) {
            rc = evl__sr_buf_printf(&t->out, "%s", cls);
            if (!rc && t->p + 1 < t->end && *t->p == '-' && t->p[1] != ']') {
                t->why = "a range from a class escape";
                return EVL_ESCHEMA_INVALID;
            }
            continue;
        }
        if (t->p + 1 < t->end && *t->p == '-' && t->p[1] != ']') {
            t->p++;
            uint32_t hi;
            if (*t->p == '\\') {
                t->p++;
                rc = class_escape(t, &hi, &cls);
                if (!rc && cls) {
                    t->why = "a range to a class escape";
                    return EVL_ESCHEMA_INVALID;
                }
            } else {
                hi = next_cp(&t->p, t->end);
            }
            if (rc)
                return rc;
            if (hi < lo) {
                t->why = "range out of order";
                return EVL_ESCHEMA_INVALID;
            }
            rc = emit_cls_cp(t, lo);
            if (!rc)
                rc = evl__sr_buf_byte(&t->out, '-');
            if (!rc)
                rc = emit_cls_cp(t, hi);
            continue;
        }
        rc = emit_cls_cp(t, lo);
    }
    return rc ? rc : evl__sr_buf_byte(&t->out, ']');
}

/* {n}, {n,}, {n,m} at t->p ('{'): true with the text consumed, false
 * (nothing consumed) when it is a literal brace. */
static bool read_braces(rx_tr_t *t, unsigned long *n, unsigned long *m, bool *unbounded)
{
    const char *p = t->p + 1;
    if (p >= t->end || *p < '0' || *p > '9')
        return false;
    unsigned long a = 0, b;
    while (p < t->end && *p >= '0' && *p <= '9') {
        a = a * 10 + (unsigned long)(*p++ - '0');
        if (a > 100000)
            a = 100000;
    }
    *unbounded = false;
    b = a;
    if (p < t->end && *p == ',') {
        p++;
        if (p < t->end && *p >= '0' && *p <= '9') {
            b = 0;
            while (p < t->end && *p >= '0' && *p <= '9') {
                b = b * 10 + (unsigned long)(*p++ - '0');
                if (b > 100000)
                    b = 100000;
            }
        } else {
            *unbounded = true;
        }
    }
    if (p >= t->end || *p != '}')
        return false;
    t->p = p + 1;
    *n = a;
    *m = b;
    return true;
}

static int translate(rx_tr_t *t)
{
    int depth = 0;
    bool atom = false;  /* something to quantify */
    int rc = 0;
    while (!rc && t->p < t->end) {
        char c = *t->p;
        if (c == '*' || c == '+' || c == '?' || c == '{') {
            unsigned long n = 0, m = 0;
            bool unb = false;
            if (c == '{') {
                if (!read_braces(t, &n, &m, &unb)) {
                    t->p++;
                    rc = evl__sr_buf_put(&t->out, "\\{", 2);
                    atom = true;
                    continue;
                }
            } else {
                t->p++;
            }
            if (!atom) {
                t->why = "nothing to repeat";
                return EVL_ESCHEMA_INVALID;
            }
            if (c == '{') {
                if (!unb && m < n) {
                    t->why = "numbers out of order in {}";
                    return EVL_ESCHEMA_INVALID;
                }
                if (n > 1000 || (!unb && m > 1000)) {
                    t->why = "repetition count above 1000";
                    return EVL_ESCHEMA_INVALID;
                }
                t->product *= (double)((unb ? n : m) + 1);
                if (t->product > 10000) {
                    t->why = "counted repetitions too large";
                    return EVL_ESCHEMA_INVALID;
                }
                rc = unb ? evl__sr_buf_printf(&t->out, "{%lu,}", n)
                         : n == m ? evl__sr_buf_printf(&t->out, "{%lu}", n)
                                  : evl__sr_buf_printf(&t->out, "{%lu,%lu}", n, m);
            } else {
                rc = evl__sr_buf_byte(&t->out, (uint8_t)c);
            }
            if (t->p < t->end && *t->p == '?')
                t->p++; /* lazy: the same matches exist */
            atom = false;
            continue;
        }
        atom = true;
        switch (c) {
        case '\\': {
            t->p++;
            if (t->p >= t->end) {
                t->why = "\\ at the end";
                return EVL_ESCHEMA_INVALID;
            }
            char e = *t->p;
            if (e == 'b' || e == 'B') {
                t->p++;
                rc = evl__sr_buf_printf(&t->out, "\\%c", e);
                atom = false;
                break;
            }
            if (e == 'D' || e == 'W' || e == 'S') {
                t->p++;
                rc = evl__sr_buf_printf(&t->out, "[^%s]",
                                        e == 'D' ? CLS_DIGIT : e == 'W' ? CLS_WORD : CLS_SPACE);
                break;
            }
            uint32_t cp;
            const char *cls;
            rc = class_escape(t, &cp, &cls);
            if (rc)
                return rc;
            if (cls)
                rc = evl__sr_buf_printf(&t->out, "[%s]", cls);
            else
                rc = emit_lit(t, cp);
            break;
        }
        case '.':
            t->p++;
            rc = t->utf8 ? evl__sr_buf_printf(&t->out, "[^\n\r\xe2\x80\xa8\xe2\x80\xa9]")
                         : evl__sr_buf_printf(&t->out, "[^\n\r]");
            break;
        case '[':
            t->p++;
            rc = tr_class(t);
            break;
        case '(':
            t->p++;
            if (t->p < t->end && *t->p == '?') {
                if (t->p + 1 < t->end && t->p[1] == ':') {
                    t->p += 2;
                } else if (t->p + 2 < t->end && t->p[1] == '<' && t->p[2] != '=' &&
                           t->p[2] != '!') {
                    /* a named group: a group */
                    const char *q = t->p + 2;
                    while (q < t->end && *q != '>')
                        q++;
                    if (q >= t->end) {
                        t->why = "unterminated group name";
                        return EVL_ESCHEMA_INVALID;
                    }
                    t->p = q + 1;
                } else {
                    t->why = "lookahead and lookbehind are not supported";
                    return EVL_ESCHEMA_INVALID;
                }
            }
            if (++depth > 100) {
                t->why = "groups nested too deep";
                return EVL_ESCHEMA_INVALID;
            }
            rc = evl__sr_buf_byte(&t->out, '(');
            atom = false;
            break;
        case ')':
            t->p++;
            if (depth == 0) {
                t->why = "unmatched )";
                return EVL_ESCHEMA_INVALID;
            }
            depth--;
            rc = evl__sr_buf_byte(&t->out, ')');
            break;
        case '|':
            t->p++;
            rc = evl__sr_buf_byte(&t->out, '|');
            atom = false;
            break;
        case '^':
        case '$':
            t->p++;
            rc = evl__sr_buf_byte(&t->out, (uint8_t)c);
            atom = false;
            break;
        case ']':
        case '}':
            t->p++;
            rc = emit_lit(t, (uint32_t)c);
            break;
        default: {
            uint32_t cp = next_cp(&t->p, t->end);
            rc = emit_lit(t, cp);
        }
        }
    }
    if (!rc && depth) {
        t->why = "unmatched (";
        return EVL_ESCHEMA_INVALID;
    }
    return rc;
}

int evl__js_regex_compile(evl_js_regex_t *rx, const char *pattern, size_t len, char *err,
                          size_t errlen)
{
    if (len > 4096) {
        snprintf(err, errlen, "pattern longer than 4096 bytes");
        return EVL_ESCHEMA_INVALID;
    }
    locale_t loc = utf8_locale();
    rx_tr_t t = {.p = pattern, .end = pattern + len, .utf8 = loc != (locale_t)0, .product = 1};
    int rc = translate(&t);
    if (!rc)
        rc = evl__sr_buf_byte(&t.out, 0);
    if (rc) {
        if (rc == EVL_ESCHEMA_INVALID)
            snprintf(err, errlen, "cannot translate: %s", t.why ? t.why : "?");
        evl__sr_buf_free(&t.out);
        return rc;
    }
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    int r = regcomp(&rx->re, (const char *)t.out.p, REG_EXTENDED | REG_NOSUB);
    if (loc)
        uselocale(old);
    if (r) {
        char m[128];
        regerror(r, &rx->re, m, sizeof m);
        snprintf(err, errlen, "regcomp: %s", m);
        evl__sr_buf_free(&t.out);
        return r == REG_ESPACE ? EVL_ENOMEM : EVL_ESCHEMA_INVALID;
    }
    evl__sr_buf_free(&t.out);
    return 0;
}

void evl__js_regex_free(evl_js_regex_t *rx)
{
    regfree(&rx->re);
}

bool evl__js_regex_search(const evl_js_regex_t *rx, const char *s, size_t len)
{
    locale_t loc = utf8_locale();
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)len}};
    int r = regexec(&rx->re, s, 1, m, REG_STARTEND);
    if (loc)
        uselocale(old);
    return r == 0;
}
