/*
 * fuzz_jsonschema.c - libFuzzer target: the JSON Schema format. The first
 * byte picks what the rest is: a schema (parsed; when it parses, a few
 * fixed documents are validated against it, its canonical text re-parsed
 * to itself, and it is compared with itself), a document (validated
 * against a few fixed schemas), or two schemas split at the first NUL
 * (compared both ways). Never a crash, a hang, a leak or a read past the
 * input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "jsonschema_internal.h"

static const char *const docs[] = {
    "null", "true", "0", "1.5", "-7", "\"\"", "\"abc\"", "\"2024-01-02T03:04:05Z\"", "[]",
    "[1,\"a\",[1],{\"a\":1}]", "{}", "{\"a\":1,\"b\":\"x\",\"c\":[null]}",
    "{\"a\":{\"a\":{\"a\":{}}}}",
};

static const char *const schemas[] = {
    "{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"integer\","
    "\"minimum\":0},\"b\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\",\"maxLength\":5}},"
    "\"additionalProperties\":false}",
    "{\"type\":\"array\",\"items\":{\"$ref\":\"#\"},\"uniqueItems\":true,\"contains\":{}}",
    "{\"anyOf\":[{\"type\":\"string\",\"format\":\"email\"},{\"type\":\"number\","
    "\"multipleOf\":0.5}],\"not\":{\"const\":3}}",
    "{\"definitions\":{\"n\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":"
    "\"#/definitions/n\"}},\"dependencies\":{\"a\":[\"b\"]},\"propertyNames\":{\"format\":"
    "\"regex\"}}},\"oneOf\":[{\"$ref\":\"#/definitions/n\"},{\"type\":\"array\"}]}",
    "{\"$ref\":\"http://json-schema.org/draft-07/schema#\"}",
};

static void *parse(const char *text, size_t len)
{
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    int rc = evl__sr_json.parse(text, len, NULL, 0, &s, err, sizeof err);
    if (rc == 0 && !s)
        abort();
    if (rc != 0 && (s || (rc != EVL_ESCHEMA_INVALID && rc != EVL_ENOMEM) || !err[0]))
        abort();
    return s;
}

static void validate(const void *s, const char *doc, size_t len)
{
    char err[EVL_SR_ERRLEN];
    int rc = evl__js_validate(s, doc, len, err, sizeof err);
    if (rc != 0 && (rc != EVL_ESCHEMA_INVALID || !err[0]))
        abort();
}

static void compare(const void *a, const void *b)
{
    evl_sr_msgs_t why = {0};
    int rc = evl__sr_json.can_read(a, b, &why);
    if (rc == 0 && why.n == 0)
        abort();
    if (rc != 0 && rc != 1 && rc != EVL_ENOMEM)
        abort();
    evl__sr_msgs_free(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0] % 3;
    size--;
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    if (size)
        memcpy(copy, data + 1, size);
    if (mode == 0) {
        void *s = parse(copy, size);
        if (s) {
            for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
                validate(s, docs[i], strlen(docs[i]));
            char *canon = evl__sr_json.canonical(s);
            if (canon) {
                void *t = parse(canon, strlen(canon));
                if (!t)
                    abort(); /* the canonical text must parse */
                char *again = evl__sr_json.canonical(t);
                if (again && strcmp(again, canon) != 0)
                    abort(); /* and be a fixed point */
                free(again);
                evl_sr_msgs_t why = {0};
                if (evl__sr_json.can_read(t, s, &why) == 0)
                    abort(); /* the same schema: compatible */
                evl__sr_msgs_free(&why);
                evl__sr_json.free(t);
                free(canon);
            }
            compare(s, s);
            evl__sr_json.free(s);
        }
    } else if (mode == 1) {
        for (size_t i = 0; i < sizeof schemas / sizeof *schemas; i++) {
            void *s = parse(schemas[i], strlen(schemas[i]));
            if (!s)
                abort();
            validate(s, copy, size);
            evl__sr_json.free(s);
        }
    } else {
        char *nul = memchr(copy, 0, size);
        size_t na = nul ? (size_t)(nul - copy) : size / 2;
        size_t off = nul ? na + 1 : na;
        void *a = parse(copy, na);
        void *b = a ? parse(copy + off, size - off) : NULL;
        if (a && b) {
            compare(a, b);
            compare(b, a);
        }
        if (a)
            evl__sr_json.free(a);
        if (b)
            evl__sr_json.free(b);
    }
    free(copy);
    return 0;
}
