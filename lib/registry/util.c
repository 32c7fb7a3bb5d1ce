/*
 * util.c - the registry's small shared pieces: growable buffers, lists of
 * reasons, the table of formats, the calling thread's last error message.
 */
#include "format.h"
#include "registry_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int evl__sr_buf_put(evl_sr_buf_t *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (b->n + n < b->n)
        return EVL_ENOMEM;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) {
            if (cap > SIZE_MAX / 2)
                return EVL_ENOMEM;
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p)
            return EVL_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    return 0;
}

int evl__sr_buf_byte(evl_sr_buf_t *b, uint8_t c)
{
    return evl__sr_buf_put(b, &c, 1);
}

int evl__sr_buf_printf(evl_sr_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return EVL_EINVAL;
    if ((size_t)n < sizeof small)
        return evl__sr_buf_put(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return EVL_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = evl__sr_buf_put(b, big, (size_t)n);
    free(big);
    return rc;
}

void evl__sr_buf_free(evl_sr_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

char *evl__sr_buf_str(evl_sr_buf_t *b)
{
    if (evl__sr_buf_byte(b, 0) < 0)
        return NULL;
    char *s = (char *)b->p;
    b->p = NULL;
    b->n = b->cap = 0;
    return s;
}

void evl__sr_msg(evl_sr_msgs_t *m, const char *fmt, ...)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        char **v = realloc(m->v, cap * sizeof *v);
        if (!v)
            return; /* a reason lost to no memory; the answer stands */
        m->v = v;
        m->cap = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    if (s)
        m->v[m->n++] = s;
}

void evl__sr_msgs_free(evl_sr_msgs_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i]);
    free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}

/* ---- encodings the formats share ---- */

int evl__sr_put_utf8(evl_sr_buf_t *b, uint32_t cp)
{
    uint8_t s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (uint8_t)(0xc0 | (cp >> 6));
        s[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (uint8_t)(0xe0 | (cp >> 12));
        s[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        s[0] = (uint8_t)(0xf0 | (cp >> 18));
        s[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        s[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        s[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return evl__sr_buf_put(b, s, n);
}

int evl__sr_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int evl__sr_put_varint(evl_sr_buf_t *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    return evl__sr_buf_put(b, t, n);
}

int evl__sr_put_zigzag(evl_sr_buf_t *b, int64_t v)
{
    return evl__sr_put_varint(b, ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

int evl__sr_put_le(evl_sr_buf_t *b, uint64_t v, int n)
{
    uint8_t t[8];
    for (int i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    return evl__sr_buf_put(b, t, (size_t)n);
}

/* ---- the calling thread's last error message ---- */

static _Thread_local char errmsg[1024];

void evl__sr_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
}

void evl__sr_clearerr(void)
{
    errmsg[0] = 0;
}

EVL_API const char *evl_registry_errmsg(void)
{
    return errmsg;
}

EVL_API const char *evl_registry_strerror(int rc)
{
    switch (rc) {
    case EVL_ESCHEMA_INVALID: return "invalid schema, or data that does not fit its schema";
    case EVL_ESCHEMA_INCOMPATIBLE: return "schema incompatible with the subject's earlier versions";
    case EVL_ESCHEMA_NOTFOUND: return "schema not found";
    case EVL_ESUBJECT_NOTFOUND: return "subject not found";
    case EVL_EVERSION_NOTFOUND: return "version not found";
    case EVL_EVERSION_INVALID: return "invalid version";
    case EVL_ESCHEMA_MISMATCH: return "record cannot be decoded with its schema or the reader's";
    case EVL_EREADONLY: return "the registry or subject is read-only";
    case EVL_EREFERENCED: return "the schema is referenced by another schema";
    case EVL_ENOTSOFTDELETED: return "must be soft-deleted before it is permanently deleted";
    }
    return evl_strerror(rc);
}

static const char *const type_names[] = {"AVRO", "JSON", "PROTOBUF"};
static const char *const compat_names[] = {"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD",
                                           "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"};
static const char *const mode_names[] = {"READWRITE", "READONLY", "IMPORT"};

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcasecmp(names[i], s) == 0)
            return i;
    return EVL_EINVAL;
}

EVL_API const char *evl_schema_type_name(evl_schema_type_t type)
{
    return (unsigned)type < 3 ? type_names[type] : "UNKNOWN";
}

EVL_API int evl_schema_type_parse(const char *name)
{
    if (!name || !*name)
        return EVL_SCHEMA_AVRO;
    return name_index(type_names, 3, name);
}

EVL_API const char *evl_compat_name(evl_compat_t level)
{
    return (unsigned)level < 7 ? compat_names[level] : "UNKNOWN";
}

EVL_API int evl_compat_parse(const char *name)
{
    return name_index(compat_names, 7, name);
}

EVL_API const char *evl_registry_mode_name(evl_registry_mode_t mode)
{
    return (unsigned)mode < 3 ? mode_names[mode] : "UNKNOWN";
}

EVL_API int evl_registry_mode_parse(const char *name)
{
    return name_index(mode_names, 3, name);
}
