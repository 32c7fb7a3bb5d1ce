/*
 * fuzz_protobuf.c - libFuzzer target: the Protobuf schema format
 * (lib/registry/protobuf*.c). The first byte picks what the rest is:
 * 0 .proto text to parse (then canonical text, which must reparse to
 * itself), 1 raw FileDescriptorProto bytes (base64-encoded first, as the
 * registry receives them), 2 a payload to decode as a fixed rich message,
 * 3 JSON to encode into it (and decode back). Never a crash, a read past
 * the input, a leak or a loop.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

static const char RICH[] =
    "syntax = \"proto3\"; package t;\n"
    "message Order { int32 i32 = 1; int64 i64 = 2; uint64 u64 = 3; sint32 s32 = 4;"
    " sint64 s64 = 5; fixed32 f32 = 6; sfixed64 sf64 = 7; float fl = 8; double db = 9;"
    " bool ok = 10; string name = 11; bytes raw = 12; Kind kind = 13; repeated int32 nums = 14;"
    " repeated string tags = 15; map<string, int32> counts = 16; Item item = 17;"
    " repeated Item items = 18; oneof pick { string s = 19; Item it = 20; }"
    " optional int32 maybe = 21; map<int64, Item> by_id = 22;"
    " message Item { string id = 1; map<int32, Item> sub = 2; repeated Order orders = 3; }"
    " enum Kind { K0 = 0; K1 = 1; } }\n";

static void check_schema(const char *text, size_t n)
{
    const evl_sr_format_t *F = &evl__sr_protobuf;
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    int rc = F->parse(text, n, NULL, 0, &s, err, sizeof err);
    if (rc) {
        if (rc != EVL_ESCHEMA_INVALID && rc != EVL_ENOMEM)
            abort();
        return;
    }
    char *c = F->canonical(s);
    if (!c)
        abort();
    void *s2 = NULL;
    if (F->parse(c, strlen(c), NULL, 0, &s2, err, sizeof err))
        abort(); /* the canonical text must parse */
    char *c2 = F->canonical(s2);
    if (!c2 || strcmp(c, c2) != 0)
        abort(); /* ... to itself */
    evl_sr_msgs_t why = {0};
    if (F->can_read(s, s2, &why) != 1)
        abort(); /* a schema reads itself */
    evl__sr_msgs_free(&why);
    int path[EVL_SR_PATH_MAX];
    size_t d;
    if (evl__pb_message_path(s, F->record_name(s), path, &d) == 0) {
        evl_sr_buf_t b = {0};
        F->encode(s, path, d, "{}", 2, &b, err, sizeof err);
        evl__sr_buf_free(&b);
    }
    free(c);
    free(c2);
    F->free(s);
    F->free(s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data[0] & 3;
    data++;
    size--;
    const evl_sr_format_t *F = &evl__sr_protobuf;
    char err[EVL_SR_ERRLEN];
    if (mode == 0) {
        char *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
        if (!copy)
            abort();
        if (size)
            memcpy(copy, data, size);
        check_schema(copy, size);
        free(copy);
    } else if (mode == 1) {
        static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *b = malloc(size / 3 * 4 + 4), *q = b;
        if (!b)
            abort();
        for (size_t i = 0; i < size; i += 3) {
            uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < size ? (uint32_t)data[i + 1] << 8 : 0) |
                         (i + 2 < size ? data[i + 2] : 0);
            *q++ = t[v >> 18 & 63];
            *q++ = t[v >> 12 & 63];
            *q++ = i + 1 < size ? t[v >> 6 & 63] : '=';
            *q++ = i + 2 < size ? t[v & 63] : '=';
        }
        check_schema(b, (size_t)(q - b));
        free(b);
    } else {
        void *s = NULL;
        if (F->parse(RICH, strlen(RICH), NULL, 0, &s, err, sizeof err))
            abort();
        int path[1] = {0};
        evl_sr_buf_t out = {0};
        if (mode == 2) {
            uint8_t *copy = malloc(size ? size : 1);
            if (!copy)
                abort();
            if (size)
                memcpy(copy, data, size);
            int rc = F->decode(s, s, path, 1, copy, size, &out, err, sizeof err);
            if (rc && rc != EVL_ESCHEMA_MISMATCH && rc != EVL_ENOMEM)
                abort();
            free(copy);
        } else {
            char *copy = malloc(size ? size : 1);
            if (!copy)
                abort();
            if (size)
                memcpy(copy, data, size);
            int rc = F->encode(s, path, 1, copy, size, &out, err, sizeof err);
            if (rc == 0) { /* what we wrote decodes */
                evl_sr_buf_t j = {0};
                if (F->decode(s, NULL, path, 1, out.p, out.n, &j, err, sizeof err))
                    abort();
                evl__sr_buf_free(&j);
            } else if (rc != EVL_ESCHEMA_INVALID && rc != EVL_ENOMEM) {
                abort();
            }
            free(copy);
        }
        evl__sr_buf_free(&out);
        F->free(s);
    }
    return 0;
}
