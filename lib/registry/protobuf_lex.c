/*
 * protobuf_lex.c - the .proto lexer and the small token-level helpers of
 * the parser (protobuf_parse.c): comments, identifiers, numbers, string
 * literals with protobuf's escapes (\x, octal, \u, \U; adjacent literals
 * concatenate), positions for "line:col" errors. Split from the parser to
 * keep each file readable; the parser state (parser_t) is in
 * protobuf_internal.h under EVL_PB_PARSER.
 */
#define EVL_PB_PARSER
#include "protobuf_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>





void fail(parser_t *p, const char *fmt, ...)
{
    if (p->rc)
        return;
    p->rc = EVL_ESCHEMA_INVALID;
    if (!p->err || !p->errlen)
        return;
    int k = snprintf(p->err, p->errlen, "%d:%d: ", p->tline, p->tcol);
    if (k < 0 || (size_t)k >= p->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

void nomem(parser_t *p)
{
    if (!p->rc) {
        p->rc = EVL_ENOMEM;
        if (p->err && p->errlen)
            snprintf(p->err, p->errlen, "out of memory");
    }
}

static int peekc(parser_t *p, size_t k)
{
    return p->i + k < p->n ? (unsigned char)p->s[p->i + k] : -1;
}

static void adv(parser_t *p)
{
    if (p->i < p->n) {
        if (p->s[p->i] == '\n') {
            p->line++;
            p->col = 1;
        } else {
            p->col++;
        }
        p->i++;
    }
}

static void put_utf8(parser_t *p, uint32_t cp)
{
    if (evl__sr_put_utf8(&p->str, cp))
        nomem(p);
}

/* One string literal (quote at p->i), decoded and appended to p->str. */
static void lex_string(parser_t *p)
{
    int q = peekc(p, 0);
    adv(p);
    for (;;) {
        int c = peekc(p, 0);
        if (c < 0 || c == '\n') {
            fail(p, "unterminated string");
            return;
        }
        adv(p);
        if (c == q)
            return;
        if (c != '\\') {
            if (evl__sr_buf_byte(&p->str, (uint8_t)c))
                return nomem(p);
            continue;
        }
        c = peekc(p, 0);
        if (c < 0) {
            fail(p, "unterminated string");
            return;
        }
        adv(p);
        int v;
        switch (c) {
        case 'a': v = 7; break;
        case 'b': v = 8; break;
        case 'f': v = 12; break;
        case 'n': v = 10; break;
        case 'r': v = 13; break;
        case 't': v = 9; break;
        case 'v': v = 11; break;
        case '\\': case '\'': case '"': case '?': v = c; break;
        case 'x': case 'X': {
            int h = evl__sr_hexval(peekc(p, 0));
            if (h < 0) {
                fail(p, "bad \\x escape");
                return;
            }
            adv(p);
            v = h;
            if ((h = evl__sr_hexval(peekc(p, 0))) >= 0) {
                adv(p);
                v = v * 16 + h;
            }
            break;
        }
        case 'u': case 'U': {
            int nd = c == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < nd; k++) {
                int h = evl__sr_hexval(peekc(p, 0));
                if (h < 0) {
                    fail(p, "bad \\u escape");
                    return;
                }
                adv(p);
                cp = cp * 16 + (uint32_t)h;
            }
            if (cp > 0x10FFFF) {
                fail(p, "bad \\U escape");
                return;
            }
            put_utf8(p, cp);
            continue;
        }
        default:
            if (c >= '0' && c <= '7') {
                v = c - '0';
                for (int k = 0; k < 2 && peekc(p, 0) >= '0' && peekc(p, 0) <= '7'; k++) {
                    v = v * 8 + (peekc(p, 0) - '0');
                    adv(p);
                }
                v &= 0xFF;
                break;
            }
            fail(p, "bad escape \\%c", c);
            return;
        }
        if (evl__sr_buf_byte(&p->str, (uint8_t)v))
            return nomem(p);
    }
}

static void skip_space(parser_t *p)
{
    for (;;) {
        int c = peekc(p, 0);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            adv(p);
        } else if (c == '/' && peekc(p, 1) == '/') {
            while (peekc(p, 0) >= 0 && peekc(p, 0) != '\n')
                adv(p);
        } else if (c == '/' && peekc(p, 1) == '*') {
            p->tline = p->line;
            p->tcol = p->col;
            adv(p);
            adv(p);
            while (!(peekc(p, 0) == '*' && peekc(p, 1) == '/')) {
                if (peekc(p, 0) < 0)
                    return fail(p, "unterminated comment");
                adv(p);
            }
            adv(p);
            adv(p);
        } else {
            return;
        }
    }
}

void next(parser_t *p)
{
    if (p->rc) {
        p->t = T_EOF;
        return;
    }
    skip_space(p);
    p->tline = p->line;
    p->tcol = p->col;
    p->ts = p->i;
    p->tn = 0;
    if (p->rc) {
        p->t = T_EOF;
        return;
    }
    int c = peekc(p, 0);
    if (c < 0) {
        p->t = T_EOF;
        return;
    }
    if (isalpha(c) || c == '_') {
        while (isalnum(peekc(p, 0)) || peekc(p, 0) == '_')
            adv(p);
        p->t = T_IDENT;
    } else if (isdigit(c) || (c == '.' && isdigit(peekc(p, 1)))) {
        p->t = T_INT;
        if (c == '0' && (peekc(p, 1) == 'x' || peekc(p, 1) == 'X')) {
            adv(p);
            adv(p);
            while (isxdigit(peekc(p, 0)))
                adv(p);
        } else {
            while (isdigit(peekc(p, 0)))
                adv(p);
            if (peekc(p, 0) == '.') {
                p->t = T_FLOAT;
                adv(p);
                while (isdigit(peekc(p, 0)))
                    adv(p);
            }
            if (peekc(p, 0) == 'e' || peekc(p, 0) == 'E') {
                p->t = T_FLOAT;
                adv(p);
                if (peekc(p, 0) == '+' || peekc(p, 0) == '-')
                    adv(p);
                if (!isdigit(peekc(p, 0)))
                    return fail(p, "bad number");
                while (isdigit(peekc(p, 0)))
                    adv(p);
            }
        }
        if (isalpha(peekc(p, 0)) || peekc(p, 0) == '_')
            return fail(p, "bad number");
    } else if (c == '"' || c == '\'') {
        p->str.n = 0;
        lex_string(p);
        /* adjacent literals concatenate */
        for (;;) {
            size_t save_i = p->i;
            int sl = p->line, sc = p->col;
            skip_space(p);
            if (p->rc)
                break;
            if (peekc(p, 0) == '"' || peekc(p, 0) == '\'') {
                lex_string(p);
                if (p->rc)
                    break;
            } else {
                p->i = save_i;
                p->line = sl;
                p->col = sc;
                break;
            }
        }
        p->t = T_STR;
    } else {
        adv(p);
        p->t = T_SYM;
        p->sym = (char)c;
    }
    p->tn = p->i - p->ts;
}

int is_sym(parser_t *p, char c)
{
    return p->t == T_SYM && p->sym == c;
}

int is_kw(parser_t *p, const char *kw)
{
    return p->t == T_IDENT && p->tn == strlen(kw) && memcmp(p->s + p->ts, kw, p->tn) == 0;
}

int expect_sym(parser_t *p, char c)
{
    if (!is_sym(p, c)) {
        if (p->t == T_EOF)
            fail(p, "expected '%c', got end of text", c);
        else
            fail(p, "expected '%c', got '%.*s'", c, (int)(p->tn > 40 ? 40 : p->tn), p->s + p->ts);
        return -1;
    }
    next(p);
    return 0;
}

/* An identifier, malloc'd. */
char *ident(parser_t *p, const char *what)
{
    if (p->t != T_IDENT) {
        fail(p, "expected %s", what);
        return NULL;
    }
    char *s = evl__pb_strndup(p->s + p->ts, p->tn);
    if (!s)
        nomem(p);
    next(p);
    return s;
}

/* A (possibly dotted, possibly absolute) name, malloc'd. */
char *full_ident(parser_t *p, int allow_dot, const char *what)
{
    evl_sr_buf_t b = {0};
    if (allow_dot && is_sym(p, '.')) {
        evl__sr_buf_byte(&b, '.');
        next(p);
    }
    for (;;) {
        if (p->t != T_IDENT) {
            fail(p, "expected %s", what);
            evl__sr_buf_free(&b);
            return NULL;
        }
        if (evl__sr_buf_put(&b, p->s + p->ts, p->tn)) {
            nomem(p);
            evl__sr_buf_free(&b);
            return NULL;
        }
        next(p);
        if (!is_sym(p, '.'))
            break;
        evl__sr_buf_byte(&b, '.');
        next(p);
    }
    char *s = evl__sr_buf_str(&b);
    if (!s)
        nomem(p);
    return s;
}

/* An integer token with an optional sign, in [lo, hi]. */
int int_value(parser_t *p, int64_t lo, int64_t hi, int64_t *out)
{
    int neg = 0;
    if (is_sym(p, '-')) {
        neg = 1;
        next(p);
    }
    if (p->t != T_INT) {
        fail(p, "expected an integer");
        return -1;
    }
    char buf[64];
    if (p->tn >= sizeof buf) {
        fail(p, "integer out of range");
        return -1;
    }
    memcpy(buf, p->s + p->ts, p->tn);
    buf[p->tn] = 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(buf, &end, 0);
    if (errno || *end || v > (unsigned long long)INT64_MAX) {
        fail(p, "integer out of range");
        return -1;
    }
    int64_t r = neg ? -(int64_t)v : (int64_t)v;
    if (r < lo || r > hi) {
        fail(p, "integer %lld out of range", (long long)r);
        return -1;
    }
    *out = r;
    next(p);
    return 0;
}

/* Skip a balanced { ... } (current token is '{'). */
void skip_block(parser_t *p)
{
    int lvl = 0;
    do {
        if (p->t == T_EOF)
            return fail(p, "unbalanced braces");
        if (is_sym(p, '{'))
            lvl++;
        else if (is_sym(p, '}'))
            lvl--;
        next(p);
    } while (lvl > 0 && !p->rc);
}

/* An option name: ident or (full.ident), then .ident or .(x) parts.
 * Returns the plain name when it is a single ident, else "" (custom). */
char *option_name(parser_t *p)
{
    evl_sr_buf_t b = {0};
    int custom = 0;
    for (;;) {
        if (is_sym(p, '(')) {
            custom = 1;
            next(p);
            free(full_ident(p, 1, "an option name"));
            if (p->rc || expect_sym(p, ')'))
                break;
        } else if (p->t == T_IDENT) {
            if (evl__sr_buf_put(&b, p->s + p->ts, p->tn))
                nomem(p);
            next(p);
        } else {
            fail(p, "expected an option name");
            break;
        }
        if (!is_sym(p, '.'))
            break;
        custom = 1;
        next(p);
    }
    if (p->rc) {
        evl__sr_buf_free(&b);
        return NULL;
    }
    if (custom)
        b.n = 0;
    char *s = evl__sr_buf_str(&b);
    if (!s)
        nomem(p);
    return s;
}
