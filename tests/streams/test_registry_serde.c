/*
 * test_registry_serde.c - the registry's formats as serdes of a topology:
 * Avro records in Confluent's wire format read as their JSON form,
 * filtered and mapped, and written back as Avro under another subject; a
 * record that is not the wire format skipped (or failing the task), an
 * output that does not fit its schema failing the task.
 */
#include <eventlog/registry_serde.h>
#include <stdio.h>

#include "streams_helpers.h"

TestSuite(registry_serde, .init = sh_setup, .fini = sh_teardown);

static const char *reading =
    "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":[{\"name\":\"sensor\","
    "\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"double\"}]}";
static const char *alert =
    "{\"type\":\"record\",\"name\":\"Alert\",\"fields\":[{\"name\":\"sensor\","
    "\"type\":\"string\"},{\"name\":\"level\",\"type\":\"string\"}]}";

static bool hot(void *arg, const evl_srec_t *r)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)r->value_len, (const char *)r->value);
    const char *t = strstr(buf, "\"temp\"");
    return t && strtod(strchr(t, ':') + 1, NULL) > 30;
}

static int to_alert(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    char buf[256], out[256];
    snprintf(buf, sizeof buf, "%.*s", (int)r->value_len, (const char *)r->value);
    const char *s = strstr(buf, "\"sensor\"");
    s = strchr(s + 8, '"');
    const char *e = strchr(s + 1, '"');
    const char *level = arg ? (const char *)arg : "high";
    int n = snprintf(out, sizeof out, "{\"sensor\":\"%.*s\",\"level\":\"%s\"}", (int)(e - s - 1),
                     s + 1, level);
    if (!strcmp(level, "broken")) /* a document the Alert schema refuses */
        n = snprintf(out, sizeof out, "{\"sensor\":7}");
    return evl_emit(em, NULL, 0, out, (size_t)n, -1);
}

static void produce(evl_serializer_t *ser, const char *key, const char *json)
{
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, "readings", NULL, &p), 0);
    int rc = evl_serializer_produce(ser, p, "readings", key, strlen(key), json, strlen(json), 0,
                                    NULL, NULL);
    cr_assert_eq(rc, 0, "%s", evl_registry_errmsg());
    evl_producer_close(p);
}

static evl_streams_builder_t *topology(evl_serde_t *in, evl_serde_t *out, const char *level)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_eq(evl_streams_topic_serdes(b, "readings", evl_serde_string(), in), 0);
    cr_assert_eq(evl_streams_topic_serdes(b, "alerts", evl_serde_string(), out), 0);
    evl_kstream_t *s = evl_stream_filter(evl_stream(b, "readings"), hot, NULL);
    cr_assert_eq(evl_stream_to(evl_stream_map_values(s, to_alert, (void *)level), "alerts"), 0);
    return b;
}

Test(registry_serde, avro_in_and_out)
{
    cr_assert_eq(evl_topic_create(log_, "readings", 1, NULL), 0);
    evl_registry_t *reg;
    cr_assert_eq(evl_registry_open(log_, &reg), 0);
    evl_serializer_t *ser;
    cr_assert_eq(evl_serializer_new(reg, "readings", EVL_SCHEMA_AVRO, reading, NULL, 0, NULL, &ser),
                 0);
    evl_serde_t *in, *out;
    cr_assert_eq(evl_registry_serde_new(reg, "readings", EVL_SCHEMA_AVRO, reading, false, NULL, &in),
                 0);
    cr_assert_eq(evl_registry_serde_new(reg, "alerts", EVL_SCHEMA_AVRO, alert, false, NULL, &out),
                 0);
    evl_streams_builder_t *b = topology(in, out, NULL);
    produce(ser, "s1", "{\"sensor\":\"s1\",\"temp\":21.5}");
    produce(ser, "s2", "{\"sensor\":\"s2\",\"temp\":35.25}");
    sh_put("readings", 0, "s3", "not avro", -1);
    produce(ser, "s3", "{\"sensor\":\"s3\",\"temp\":40.0}");
    const char *extra[] = {"deserialization.exception.handler", "continue"};
    evl_streams_t *app = sh_run_with(b, "r1", extra, 2);
    sh_wait_records(app, 4);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_SKIPPED), 1);
    /* the alerts: Avro under alerts-value, read back with a deserializer */
    evl_deserializer_t *des;
    cr_assert_eq(evl_deserializer_new(reg, EVL_SCHEMA_AVRO, NULL, NULL, 0, &des), 0);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log_, "alerts", 0, &rd), 0);
    const char *want[] = {"s2", "s3"};
    for (int i = 0; i < 2; i++) {
        const evl_record_t *r;
        cr_assert_eq(evl_reader_next(rd, 5000, &r), 0);
        size_t vl, kl;
        const void *v = evl_record_value(r, &vl);
        const char *k = evl_record_key(r, &kl);
        cr_assert_eq(((const unsigned char *)v)[0], 0); /* Confluent's magic byte */
        char *json;
        int id;
        cr_assert_eq(evl_deserializer_decode(des, v, vl, &json, &id), 0, "%s",
                     evl_registry_errmsg());
        char expect[128];
        snprintf(expect, sizeof expect, "{\"sensor\":\"%s\",\"level\":\"high\"}", want[i]);
        cr_assert_str_eq(json, expect);
        cr_assert_eq(kl, 2);
        cr_assert_eq(memcmp(k, want[i], 2), 0);
        free(json);
    }
    evl_reader_close(rd);
    evl_schema_info_t *info;
    cr_assert_eq(evl_registry_get(reg, "alerts-value", EVL_VERSION_LATEST, false, &info), 0);
    evl_schema_info_free(info);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);

    /* fail: the record that is not Avro stops the task, naming it */
    cr_assert_eq(evl_topic_create(log_, "alerts2", 1, NULL), 0);
    b = topology(in, out, NULL);
    app = sh_run(b, "r2");
    for (int i = 0; i < 300 && !evl_streams_error(app, NULL, 0); i++)
        usleep(10000);
    char err[256];
    cr_assert_neq(evl_streams_error(app, err, sizeof err), 0);
    cr_assert(strstr(err, "readings/0@2"), "%s", err);
    evl_streams_close(app);
    evl_streams_builder_free(b);

    /* an output the Alert schema refuses fails the task */
    b = topology(in, out, "broken");
    app = sh_run_with(b, "r3", extra, 2);
    for (int i = 0; i < 300 && !evl_streams_error(app, NULL, 0); i++)
        usleep(10000);
    cr_assert_neq(evl_streams_error(app, err, sizeof err), 0);
    cr_assert(strstr(err, "alerts") && strstr(err, "serialize"), "%s", err);
    evl_streams_close(app);
    evl_streams_builder_free(b);

    /* without a schema: read only */
    evl_serde_t *ro;
    cr_assert_eq(evl_registry_serde_new(reg, "readings", EVL_SCHEMA_AVRO, NULL, false, NULL, &ro),
                 0);
    void *o;
    size_t ol;
    cr_assert_eq(ro->serialize(ro->arg, "{}", 2, &o, &ol), EVL_EINVAL);
    evl_registry_serde_free(ro);
    evl_registry_serde_free(in);
    evl_registry_serde_free(out);
    evl_serializer_free(ser);
    evl_deserializer_free(des);
    evl_registry_close(reg);
}
