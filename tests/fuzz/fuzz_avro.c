/*
 * fuzz_avro.c - libFuzzer target: the registry's Avro format
 * (lib/registry/avro*.c). The first byte picks what the rest is:
 *   0: a schema text. Parsed; when it parses, its canonical text must parse
 *      to the same canonical text, and it must read itself.
 *   1: a payload, decoded with fixed schemas (a record of every type, a
 *      recursive list, a union), alone and resolved to evolved readers.
 *   2: a JSON text, encoded with the same schemas; what encodes must decode.
 * Never a crash, a loop, a read past the input or an unbounded allocation.
 *
 * Build (not in the Makefile yet):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE
 *     -Iinclude -Ilib/registry tests/fuzz/fuzz_avro.c lib/registry/avro*.c
 *     lib/registry/util.c -ljansson -o /tmp/fuzz_avro
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

static const char *const writers[] = {
    "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Col\",\"symbols\":[\"R\",\"G\",\"B\"]}},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Two\",\"size\":2}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":[\"null\",\"string\",\"Col\"]}},"
    "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"In\",\"fields\":["
    "{\"name\":\"x\",\"type\":\"long\"}]}}]}",
    "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"int\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"L\"]},"
    "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"L\"}}]}",
    "[\"null\",\"int\",\"string\",{\"type\":\"array\",\"items\":[\"null\",\"double\"]},"
    "{\"type\":\"map\",\"values\":\"bytes\"},{\"type\":\"record\",\"name\":\"P\",\"fields\":"
    "[{\"name\":\"q\",\"type\":\"float\"}]}]",
};

/* Evolved readers of the writers above (index for index). */
static const char *const readers[] = {
    "{\"type\":\"record\",\"name\":\"All2\",\"namespace\":\"t\",\"aliases\":[\"All\"],\"fields\":["
    "{\"name\":\"l\",\"type\":\"double\"},{\"name\":\"i\",\"type\":[\"null\",\"long\"]},"
    "{\"name\":\"s\",\"type\":\"bytes\"},{\"name\":\"by\",\"type\":\"string\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Col\",\"symbols\":[\"R\"],"
    "\"default\":\"R\"}},{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"float\"}},"
    "{\"name\":\"extra\",\"type\":[\"string\",\"null\"],\"default\":\"x\"},"
    "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"In\",\"fields\":["
    "{\"name\":\"x\",\"type\":\"float\"},{\"name\":\"y\",\"type\":{\"type\":\"map\",\"values\":"
    "\"int\"},\"default\":{\"k\":1}}]}}]}",
    "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},"
    "{\"name\":\"next\",\"type\":[\"null\",\"L\"]},{\"name\":\"w\",\"type\":\"int\","
    "\"default\":0}]}",
    "[\"null\",\"long\",\"bytes\",{\"type\":\"array\",\"items\":[\"null\",\"double\"]},"
    "{\"type\":\"map\",\"values\":\"string\"},{\"type\":\"record\",\"name\":\"P\",\"fields\":"
    "[{\"name\":\"q\",\"type\":\"double\"}]}]",
};

#define NS (sizeof writers / sizeof writers[0])

static void *ws[NS], *rs[NS];

static void *must_parse(const char *t)
{
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    if (evl__sr_avro.parse(t, strlen(t), NULL, 0, &s, err, sizeof err) != 0)
        abort();
    return s;
}

static void init(void)
{
    if (ws[0])
        return;
    for (size_t i = 0; i < NS; i++) {
        ws[i] = must_parse(writers[i]);
        rs[i] = must_parse(readers[i]);
    }
}

static void mode_schema(const char *p, size_t n)
{
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    int rc = evl__sr_avro.parse(p, n, NULL, 0, &s, err, sizeof err);
    if (rc != 0) {
        if (s || (rc != EVL_ESCHEMA_INVALID && rc != EVL_ENOMEM))
            abort();
        return;
    }
    char *c = evl__sr_avro.canonical(s);
    if (!c)
        abort();
    void *s2 = NULL;
    if (evl__sr_avro.parse(c, strlen(c), NULL, 0, &s2, err, sizeof err) != 0)
        abort(); /* the canonical text must parse again */
    char *c2 = evl__sr_avro.canonical(s2);
    if (!c2 || strcmp(c, c2) != 0)
        abort(); /* ... to the same canonical text */
    evl_sr_msgs_t why = {0};
    if (evl__sr_avro.can_read(s, s2, &why) != 1)
        abort(); /* a schema reads itself */
    evl__sr_msgs_free(&why);
    (void)evl__sr_avro.record_name(s);
    /* and with the fixed schemas, both ways: only must not crash */
    for (size_t i = 0; i < NS; i++) {
        evl__sr_avro.can_read(s, ws[i], &why);
        evl__sr_avro.can_read(ws[i], s, &why);
        evl__sr_msgs_free(&why);
    }
    free(c);
    free(c2);
    evl__sr_avro.free(s);
    evl__sr_avro.free(s2);
}

static void mode_decode(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < NS; i++) {
        for (int resolved = 0; resolved < 2; resolved++) {
            evl_sr_buf_t o = {0};
            char err[EVL_SR_ERRLEN];
            int rc = evl__sr_avro.decode(ws[i], resolved ? rs[i] : NULL, NULL, 0, p, n, &o, err,
                                         sizeof err);
            if (rc != 0 && rc != EVL_ESCHEMA_MISMATCH && rc != EVL_ENOMEM)
                abort();
            if (rc == 0) {
                /* The output is JSON. Two things it may hold that jansson
                 * will not read back: a map key with a NUL, and a key twice
                 * (a payload may repeat a map key; readers keep the last, as
                 * Java's HashMap does). */
                json_error_t je;
                json_t *j = json_loadb((const char *)o.p, o.n,
                                       JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
                                       &je);
                if (!j && !strstr(je.text, "NUL") && !strstr(je.text, "duplicate"))
                    abort();
                json_decref(j);
                if (!j)
                    rc = 1; /* not comparable below */
            }
            if (rc == 0 && !resolved) {
                /* What decodes is the JSON encoding: it encodes back to the
                 * same bytes. */
                evl_sr_buf_t b = {0};
                if (evl__sr_avro.encode(ws[i], NULL, 0, (const char *)o.p, o.n, &b, err,
                                        sizeof err) != 0)
                    abort();
                if (b.n != n || memcmp(b.p, p, n) != 0) {
                    /* Blocks may be written differently (negative counts,
                     * split blocks) and still mean the same: compare by
                     * decoding again. */
                    evl_sr_buf_t o2 = {0};
                    if (evl__sr_avro.decode(ws[i], NULL, NULL, 0, b.p, b.n, &o2, err,
                                            sizeof err) != 0 ||
                        o2.n != o.n || memcmp(o2.p, o.p, o.n) != 0)
                        abort();
                    evl__sr_buf_free(&o2);
                }
                evl__sr_buf_free(&b);
            }
            evl__sr_buf_free(&o);
        }
    }
}

static void mode_encode(const char *p, size_t n)
{
    for (size_t i = 0; i < NS; i++) {
        evl_sr_buf_t b = {0}, o = {0};
        char err[EVL_SR_ERRLEN];
        int rc = evl__sr_avro.encode(ws[i], NULL, 0, p, n, &b, err, sizeof err);
        if (rc != 0 && rc != EVL_ESCHEMA_INVALID && rc != EVL_ENOMEM)
            abort();
        if (rc == 0) {
            if (evl__sr_avro.decode(ws[i], NULL, NULL, 0, b.p, b.n, &o, err, sizeof err) != 0)
                abort(); /* what we encode, we decode */
            int r2 = evl__sr_avro.decode(ws[i], rs[i], NULL, 0, b.p, b.n, &o, err, sizeof err);
            if (r2 != 0 && r2 != EVL_ESCHEMA_MISMATCH)
                abort();
        }
        evl__sr_buf_free(&b);
        evl__sr_buf_free(&o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size == 0)
        return 0;
    size_t n = size - 1;
    uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    if (n)
        memcpy(copy, data + 1, n);
    switch (data[0] % 3) {
    case 0: mode_schema((const char *)copy, n); break;
    case 1: mode_decode(copy, n); break;
    default: mode_encode((const char *)copy, n); break;
    }
    free(copy);
    return 0;
}
