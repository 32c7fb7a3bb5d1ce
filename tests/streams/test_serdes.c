/*
 * test_serdes.c - serdes per topic: the built-in ones refusing what is not
 * of their type (deserialization.exception.handler fail and continue, an
 * output that does not serialize), the defaults from the settings, a
 * serde that converts (hex text in topics, raw bytes in callbacks) on
 * sources, sinks and global tables.
 */
#include <stdio.h>

#include "streams_helpers.h"

TestSuite(serdes, .init = sh_setup, .fini = sh_teardown);

static int len_of(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    char v[8];
    evl_int64_put(v, (int64_t)r->value_len);
    return evl_emit(em, NULL, 0, v, 8, -1);
}

static evl_streams_t *app_with(evl_streams_builder_t *b, const char *id, const char *handler)
{
    const char *extra[] = {"deserialization.exception.handler", handler};
    return sh_run_with(b, id, extra, 2);
}

static void wait_error(evl_streams_t *app, char *err, size_t len)
{
    for (int i = 0; i < 300 && !evl_streams_error(app, NULL, 0); i++)
        usleep(10000);
    cr_assert_neq(evl_streams_error(app, err, len), 0);
}

Test(serdes, string_input_fail_and_continue)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    for (int cont = 0; cont < 2; cont++) {
        evl_streams_builder_t *b;
        cr_assert_eq(evl_streams_builder_new(&b), 0);
        cr_assert_eq(evl_streams_topic_serdes(b, "in", evl_serde_string(), evl_serde_string()), 0);
        cr_assert_eq(evl_streams_topic_serdes(b, "out", NULL, evl_serde_int64()), 0);
        cr_assert_eq(evl_streams_topic_serdes(b, "in", NULL, NULL), EVL_EINVAL); /* twice */
        evl_streams_builder_free(b);
        cr_assert_eq(evl_streams_builder_new(&b), 0);
        cr_assert_eq(evl_streams_topic_serdes(b, "in", evl_serde_string(), evl_serde_string()), 0);
        const char *out = cont ? "out-c" : "out-f";
        cr_assert_eq(evl_streams_topic_serdes(b, out, NULL, evl_serde_int64()), 0);
        cr_assert_eq(evl_stream_to(evl_stream_map_values(evl_stream(b, "in"), len_of, NULL), out), 0);
        if (!cont) {
            sh_put("in", 0, "k", "fine", -1);
            sh_put("in", 0, "k", "caf\xc3", -1);   /* cut short */
            sh_put("in", 0, "k", "\xed\xa0\x80", -1); /* a surrogate */
            sh_put("in", 0, "k", "caf\xc3\xa9", -1);
        }
        evl_streams_t *app = app_with(b, cont ? "s-c" : "s-f", cont ? "continue" : "fail");
        if (!cont) {
            char err[256];
            wait_error(app, err, sizeof err);
            cr_assert(strstr(err, "in/0@1") && strstr(err, "value") && strstr(err, "string"),
                      "%s", err);
            cr_assert_eq(evl_streams_close(app), EVL_EINVAL);
        } else {
            free(sh_dump("out-c", 2));
            sh_wait_records(app, 4);
            cr_assert_eq(evl_streams_metric(app, EVL_SM_SKIPPED), 2);
            cr_assert_eq(evl_streams_close(app), 0);
            /* the two valid lengths, 8-byte big-endian */
            evl_reader_t *rd;
            const evl_record_t *r;
            cr_assert_eq(evl_reader_open(log_, "out-c", 0, &rd), 0);
            int64_t want[] = {4, 5};
            for (int i = 0; i < 2; i++) {
                cr_assert_eq(evl_reader_next(rd, 1000, &r), 0);
                size_t vl;
                const void *v = evl_record_value(r, &vl);
                cr_assert_eq(vl, 8);
                cr_assert_eq(evl_int64_get(v), want[i]);
            }
            evl_reader_close(rd);
        }
        evl_streams_builder_free(b);
    }
}

static int echo(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, NULL, 0, r->value, r->value_len, -1);
}

Test(serdes, output_that_does_not_serialize_and_defaults)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_eq(evl_streams_topic_serdes(b, "in", NULL, evl_serde_bytes()), 0);
    cr_assert_eq(evl_stream_to(evl_stream_map_values(evl_stream(b, "in"), echo, NULL), "ints"), 0);
    cr_assert_eq(evl_streams_topic_serdes(b, "ints", NULL, evl_serde_int64()), 0);
    evl_streams_t *app = sh_run(b, "s2");
    sh_put("in", 0, "k", "1234567", -1); /* 7 bytes: not an int64 */
    char err[256];
    wait_error(app, err, sizeof err);
    cr_assert(strstr(err, "ints") && strstr(err, "serialize") && strstr(err, "int64"), "%s", err);
    cr_assert_eq(evl_streams_close(app), EVL_EINVAL);
    evl_streams_builder_free(b);

    /* default.value.serde=json for every topic without its own */
    cr_assert_eq(evl_topic_create(log_, "docs", 1, NULL), 0);
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_eq(evl_stream_to(evl_stream(b, "docs"), "docs-out"), 0);
    const char *extra[] = {"default.value.serde", "json", "deserialization.exception.handler",
                           "LogAndContinue"};
    app = sh_run_with(b, "s3", extra, 4);
    sh_put("docs", 0, "a", "{\"x\": [1, 2]}", -1);
    sh_put("docs", 0, "b", "{\"x\": ", -1);
    sh_put("docs", 0, "c", "{\"x\": 1, \"x\": 2}", -1); /* duplicate member */
    sh_put("docs", 0, "d", "\"text\"", -1);
    sh_put("docs", 0, "e", NULL, -1); /* null stays null */
    char *got = sh_dump("docs-out", 3);
    cr_assert_str_eq(got, "a={\"x\": [1, 2]}\nd=\"text\"\ne=null\n");
    free(got);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_SKIPPED), 2);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
    /* an unknown serde name is refused by name */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_not_null(evl_stream(b, "docs"));
    const char *conf[] = {"application.id", "s4", "default.key.serde", "avro"};
    char msg[256];
    evl_streams_t *bad;
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, msg, sizeof msg, &bad), EVL_ECONFIG);
    cr_assert(strstr(msg, "default.key.serde"), "%s", msg);
    evl_streams_builder_free(b);
}

/* ---- a converting serde: hex text in topics, raw bytes in callbacks ---- */

static int hex_decode(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    const char *s = in;
    if (len % 2)
        return EVL_EINVAL;
    unsigned char *o = malloc(len / 2 + 1);
    if (!o)
        return EVL_ENOMEM;
    for (size_t i = 0; i < len / 2; i++) {
        unsigned x;
        char two[3] = {s[2 * i], s[2 * i + 1], 0};
        if (sscanf(two, "%2x", &x) != 1) {
            free(o);
            return EVL_EINVAL;
        }
        o[i] = (unsigned char)x;
    }
    *out = o;
    *out_len = len / 2;
    return 0;
}

static int hex_encode(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    char *o = malloc(2 * len + 1);
    if (!o)
        return EVL_ENOMEM;
    for (size_t i = 0; i < len; i++)
        sprintf(o + 2 * i, "%02x", ((const unsigned char *)in)[i]);
    *out = o;
    *out_len = 2 * len;
    return 0;
}

static const evl_serde_t hex = {"hex", hex_decode, hex_encode, NULL};

static int invert(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    unsigned char b[64];
    for (size_t i = 0; i < r->value_len && i < sizeof b; i++)
        b[i] = (unsigned char)~((const unsigned char *)r->value)[i];
    return evl_emit(em, NULL, 0, b, r->value_len, -1);
}

static int joined(void *arg, const evl_srec_t *r, const void *tv, size_t tl, evl_emit_t *em)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%.*s+%.*s", (int)r->value_len, (const char *)r->value,
                     tv ? (int)tl : 1, tv ? (const char *)tv : "-");
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

Test(serdes, converting_serde_on_sources_sinks_and_global_tables)
{
    cr_assert_eq(evl_topic_create(log_, "hexin", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "names", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_eq(evl_streams_topic_serdes(b, "hexin", &hex, &hex), 0);
    cr_assert_eq(evl_streams_topic_serdes(b, "hexout", NULL, &hex), 0);
    cr_assert_eq(evl_streams_topic_serdes(b, "names", &hex, NULL), 0);
    evl_kstream_t *s = evl_stream(b, "hexin");
    cr_assert_eq(evl_stream_to(evl_stream_map_values(s, invert, NULL), "hexout"), 0);
    evl_ktable_t *g = evl_global_table(b, "names", "names");
    cr_assert_eq(evl_stream_to(evl_stream_join_global(s, g, NULL, NULL, joined, NULL,
                                                      EVL_JOIN_LEFT),
                               "plain"),
                 0);
    sh_put("names", 0, "6b31", "first", -1);  /* key "k1" in hex */
    sh_put("names", 0, "zz", "bad key", -1);  /* not hex: skipped */
    const char *extra[] = {"deserialization.exception.handler", "continue"};
    evl_streams_t *app = sh_run_with(b, "s5", extra, 2);
    sh_put("hexin", 0, "6b31", "414243", -1); /* k1 = "ABC" */
    sh_put("hexin", 0, "6b32", "00ff", -1);   /* k2 = 00 ff */
    char *got = sh_dump("hexout", 2);
    /* keys keep their callback form (raw) where the topic has no key serde */
    cr_assert_str_eq(got, "k1=bebdbc\nk2=ff00\n");
    free(got);
    got = sh_dump("plain", 2);
    cr_assert_eq(memcmp(got, "k1=ABC+first\nk2=", 16), 0, "%s", got);
    free(got);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_SKIPPED), 1);
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "names", "k1", 2, &v, &vl), 0);
    free(v);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}
