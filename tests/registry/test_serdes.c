/*
 * test_serdes.c - producing and consuming through the registry: the wire
 * format, a producer whose schema the subject refuses (nothing appended),
 * a record that does not fit its schema (nothing appended), a consumer
 * with a reader schema resolving evolved records, and records it cannot
 * read (unknown id, garbage, another format) refused by offset while the
 * consumer goes on past them. The three formats.
 */
#include <criterion/criterion.h>
#include <eventlog.h>
#include <eventlog/registry.h>

#include "helpers.h"

static evl_log_t *log_;
static evl_registry_t *reg;
static evl_producer_t *prod;

static void setup(void)
{
    test_dir_setup();
    log_ = test_open(NULL);
    cr_assert_eq(evl_registry_open(log_, &reg), 0);
    cr_assert_eq(evl_topic_create(log_, "t", 1, NULL), 0);
    cr_assert_eq(evl_producer_open(log_, NULL, &prod), 0);
}

static void teardown(void)
{
    evl_producer_close(prod);
    evl_registry_close(reg);
    evl_log_close(log_);
    test_dir_teardown();
}

TestSuite(serdes, .init = setup, .fini = teardown);

#define V1 "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":[{\"name\":\"sensor\",\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"int\"}]}"
/* v2: temp promoted to double, a field with a default: BACKWARD-compatible */
#define V2 "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":[{\"name\":\"sensor\",\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"double\"},{\"name\":\"unit\",\"type\":\"string\",\"default\":\"C\"}]}"
/* breaks v2 under BACKWARD: a new field without default */
#define V3_BAD "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":[{\"name\":\"sensor\",\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"double\"},{\"name\":\"unit\",\"type\":\"string\",\"default\":\"C\"},{\"name\":\"site\",\"type\":\"string\"}]}"

static int64_t end_of(const char *topic)
{
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log_, topic, 0, &pi), 0);
    return pi.end_offset;
}

Test(serdes, wire_format_and_subject)
{
    evl_serializer_t *ser;
    int rc = evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V1, NULL, 0, NULL, &ser);
    cr_assert_eq(rc, 0, "%s", evl_registry_errmsg());
    cr_assert_str_eq(evl_serializer_subject(ser), "t-value");
    void *buf;
    size_t len;
    const char *j = "{\"sensor\":\"a\",\"temp\":-3}";
    cr_assert_eq(evl_serializer_encode(ser, j, strlen(j), &buf, &len), 0);
    const uint8_t *b = buf;
    int id = evl_serializer_id(ser);
    /* magic 0, id big-endian, then Avro: string "a" (len 1 zig-zag = 2), int -3 (zig-zag 5) */
    uint8_t want[] = {0, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id,
                      2, 'a', 5};
    cr_assert_eq(len, sizeof want);
    cr_assert_arr_eq(b, want, sizeof want);
    free(buf);
    evl_serializer_free(ser);

    /* record-name strategies */
    evl_serializer_opts_t o = {.size = sizeof o, .strategy = EVL_SUBJECT_TOPIC_RECORD_NAME, .is_key = true};
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V1, NULL, 0, &o, &ser), 0);
    cr_assert_str_eq(evl_serializer_subject(ser), "t-Reading");
    evl_serializer_free(ser);
    char *s = evl_subject_name(EVL_SUBJECT_TOPIC_NAME, "t", true, NULL);
    cr_assert_str_eq(s, "t-key");
    free(s);
    cr_assert_null(evl_subject_name(EVL_SUBJECT_RECORD_NAME, "t", false, NULL));
}

Test(serdes, refused_schema_and_bad_records_append_nothing)
{
    evl_serializer_t *ser;
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V1, NULL, 0, NULL, &ser), 0);
    evl_serializer_free(ser);
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V2, NULL, 0, NULL, &ser), 0);
    evl_serializer_free(ser);
    int64_t before = end_of("t");
    /* an incompatible schema: refused at once, before any record */
    int rc = evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V3_BAD, NULL, 0, NULL, &ser);
    cr_assert_eq(rc, EVL_ESCHEMA_INCOMPATIBLE);
    cr_assert_null(ser);
    rc = evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, "{\"type\":", NULL, 0, NULL, &ser);
    cr_assert_eq(rc, EVL_ESCHEMA_INVALID);
    /* no auto-registration: a schema not registered is not found */
    evl_serializer_opts_t o = {.size = sizeof o, .no_auto_register = true};
    const char *other = "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":[{\"name\":\"x\",\"type\":\"long\",\"default\":1},{\"name\":\"sensor\",\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"double\"},{\"name\":\"unit\",\"type\":\"string\",\"default\":\"C\"}]}";
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, other, NULL, 0, &o, &ser),
                 EVL_ESCHEMA_NOTFOUND);
    /* records that do not fit: nothing appended */
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V2, NULL, 0, NULL, &ser), 0);
    const char *bad[] = {"{\"sensor\":\"a\"}", "{\"sensor\":1,\"temp\":2.0,\"unit\":\"C\"}",
                         "not json", "{\"sensor\":\"a\",\"temp\":\"hot\",\"unit\":\"C\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rc = evl_serializer_produce(ser, prod, "t", NULL, 0, bad[i], strlen(bad[i]), 0, NULL, NULL);
        cr_assert_eq(rc, EVL_ESCHEMA_INVALID, "%s: %s", bad[i], evl_registry_strerror(rc));
    }
    cr_assert_eq(end_of("t"), before);
    const char *good = "{\"sensor\":\"a\",\"temp\":21.5,\"unit\":\"F\"}";
    int64_t off;
    cr_assert_eq(evl_serializer_produce(ser, prod, "t", "k", 1, good, strlen(good), 0, NULL, &off), 0);
    cr_assert_eq(off, before);
    evl_serializer_free(ser);
}

/* v1 and v2 records, a garbage record, and a record with an unknown id,
 * read by a consumer whose reader schema is v2. */
Test(serdes, consumer_resolves_and_refuses_by_offset)
{
    evl_serializer_t *s1, *s2;
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V1, NULL, 0, NULL, &s1), 0);
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, V2, NULL, 0, NULL, &s2), 0);
    const char *r1 = "{\"sensor\":\"old\",\"temp\":20}";
    const char *r2 = "{\"sensor\":\"new\",\"temp\":20.5,\"unit\":\"F\"}";
    cr_assert_eq(evl_serializer_produce(s1, prod, "t", NULL, 0, r1, strlen(r1), 0, NULL, NULL), 0);
    evl_msg_t junk = {.value = "\0\0\0\0\x63zz", .value_len = 7, .timestamp = -1};
    cr_assert_eq(evl_producer_send_to(prod, "t", &junk, 0), 0); /* id 99: unknown */
    evl_msg_t garbage = {.value = "hello", .value_len = 5, .timestamp = -1};
    cr_assert_eq(evl_producer_send_to(prod, "t", &garbage, 0), 0);
    uint8_t trunc[6] = {0, 0, 0, 0, 0, 0x80};
    trunc[4] = (uint8_t)evl_serializer_id(s2);
    evl_msg_t cut = {.value = trunc, .value_len = sizeof trunc, .timestamp = -1};
    cr_assert_eq(evl_producer_send_to(prod, "t", &cut, 0), 0);
    cr_assert_eq(evl_serializer_produce(s2, prod, "t", NULL, 0, r2, strlen(r2), 0, NULL, NULL), 0);
    evl_serializer_free(s1);
    evl_serializer_free(s2);

    evl_config_t *cc = test_cfg("group.id", "g", "auto.offset.reset", "earliest", NULL);
    evl_consumer_t *cons;
    cr_assert_eq(evl_consumer_new(log_, cc, &cons), 0);
    evl_config_free(cc);
    const char *topics[] = {"t"};
    cr_assert_eq(evl_consumer_subscribe(cons, topics, 1), 0);
    evl_deserializer_t *des;
    cr_assert_eq(evl_deserializer_new(reg, EVL_SCHEMA_AVRO, V2, NULL, 0, &des), 0);
    int want[] = {0, EVL_ESCHEMA_NOTFOUND, EVL_ESCHEMA_MISMATCH, EVL_ESCHEMA_MISMATCH, 0};
    const char *json_want[] = {"{\"sensor\":\"old\",\"temp\":20.0,\"unit\":\"C\"}", NULL, NULL, NULL,
                               "{\"sensor\":\"new\",\"temp\":20.5,\"unit\":\"F\"}"};
    for (int i = 0; i < 5; i++) {
        const evl_record_t *rec = NULL;
        char *json = NULL;
        int rc = evl_deserializer_poll(des, cons, 5000, &rec, &json);
        cr_assert_eq(rc, want[i], "record %d: %s (%s)", i, evl_registry_strerror(rc),
                     evl_registry_errmsg());
        cr_assert_not_null(rec);
        cr_assert_eq(evl_record_offset(rec), i);
        if (rc == 0) {
            cr_assert_str_eq(json, json_want[i]);
        } else {
            char at[32];
            snprintf(at, sizeof at, "t/0@%d", i);
            cr_assert(strstr(evl_registry_errmsg(), at), "message names the offset: %s",
                      evl_registry_errmsg());
        }
        free(json);
    }
    evl_deserializer_free(des);
    evl_consumer_close(cons);
}

Test(serdes, json_schema_validates_before_produce)
{
    const char *schema = "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":0}},"
                         "\"required\":[\"n\"],\"additionalProperties\":false}";
    evl_serializer_t *ser;
    int rc = evl_serializer_new(reg, "t", EVL_SCHEMA_JSON, schema, NULL, 0, NULL, &ser);
    cr_assert_eq(rc, 0, "%s", evl_registry_errmsg());
    int64_t before = end_of("t");
    const char *bad[] = {"{}", "{\"n\":-1}", "{\"n\":1,\"x\":2}", "{\"n\":1.5}", "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(evl_serializer_produce(ser, prod, "t", NULL, 0, bad[i], strlen(bad[i]), 0,
                                            NULL, NULL),
                     EVL_ESCHEMA_INVALID, "%s", bad[i]);
    cr_assert_eq(end_of("t"), before);
    void *buf;
    size_t len;
    cr_assert_eq(evl_serializer_encode(ser, "{\"n\":3}", 7, &buf, &len), 0);
    evl_deserializer_t *des;
    cr_assert_eq(evl_deserializer_new(reg, EVL_SCHEMA_JSON, NULL, NULL, 0, &des), 0);
    char *json;
    int id;
    cr_assert_eq(evl_deserializer_decode(des, buf, len, &json, &id), 0);
    cr_assert_eq(id, evl_serializer_id(ser));
    cr_assert_str_eq(json, "{\"n\":3}");
    free(json);
    free(buf);
    /* an Avro deserializer refuses a JSON record */
    evl_deserializer_t *adeser;
    cr_assert_eq(evl_deserializer_new(reg, EVL_SCHEMA_AVRO, NULL, NULL, 0, &adeser), 0);
    cr_assert_eq(evl_serializer_encode(ser, "{\"n\":3}", 7, &buf, &len), 0);
    cr_assert_eq(evl_deserializer_decode(adeser, buf, len, &json, NULL), EVL_ESCHEMA_MISMATCH);
    free(buf);
    evl_deserializer_free(adeser);
    evl_deserializer_free(des);
    evl_serializer_free(ser);
}

Test(serdes, protobuf_message_indexes)
{
    const char *proto = "syntax = \"proto3\";\npackage acme;\n"
                        "message A { string s = 1; }\n"
                        "message B { message C { int64 n = 1; } C c = 1; }\n";
    evl_serializer_opts_t o = {.size = sizeof o, .message_name = "acme.B.C"};
    evl_serializer_t *ser;
    int rc = evl_serializer_new(reg, "t", EVL_SCHEMA_PROTOBUF, proto, NULL, 0, &o, &ser);
    cr_assert_eq(rc, 0, "%s", evl_registry_errmsg());
    void *buf;
    size_t len;
    cr_assert_eq(evl_serializer_encode(ser, "{\"n\":\"7\"}", 9, &buf, &len), 0,
                 "%s", evl_registry_errmsg());
    const uint8_t *b = buf;
    /* path [1,0]: count 2 -> 0x04, 1 -> 0x02, 0 -> 0x00; then field 1 varint 7 */
    uint8_t want[] = {0x04, 0x02, 0x00, 0x08, 0x07};
    cr_assert_eq(len, 5 + sizeof want);
    cr_assert_arr_eq(b + 5, want, sizeof want);
    evl_deserializer_t *des;
    cr_assert_eq(evl_deserializer_new(reg, EVL_SCHEMA_PROTOBUF, NULL, NULL, 0, &des), 0);
    char *json;
    cr_assert_eq(evl_deserializer_decode(des, buf, len, &json, NULL), 0, "%s", evl_registry_errmsg());
    cr_assert(strstr(json, "\"n\"") && strstr(json, "7"), "%s", json);
    free(json);
    free(buf);
    evl_serializer_free(ser);
    /* the first message: the single byte 0 */
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_PROTOBUF, proto, NULL, 0, NULL, &ser), 0);
    cr_assert_eq(evl_serializer_encode(ser, "{\"s\":\"hi\"}", 10, &buf, &len), 0);
    b = buf;
    cr_assert_eq(b[5], 0);
    cr_assert_eq(b[6], 0x0a);
    /* hostile message-index arrays */
    uint8_t *h = malloc(len + 8);
    memcpy(h, buf, 5);
    h[5] = 0x7f; /* a count of -64 */
    cr_assert_eq(evl_deserializer_decode(des, h, 6, &json, NULL), EVL_ESCHEMA_MISMATCH);
    h[5] = 0x02; /* count 1, index missing */
    cr_assert_eq(evl_deserializer_decode(des, h, 6, &json, NULL), EVL_ESCHEMA_MISMATCH);
    h[5] = 0x02;
    h[6] = 0x0e; /* message 7: none */
    cr_assert_eq(evl_deserializer_decode(des, h, 7, &json, NULL), EVL_ESCHEMA_MISMATCH);
    free(h);
    free(buf);
    evl_deserializer_free(des);
    evl_serializer_free(ser);
}

/* A record built as a generic datum encodes to the same bytes as its JSON
 * text, and decodes back into a datum. */
Test(serdes, generic_datum)
{
    const char *schema = "{\"type\":\"record\",\"name\":\"D\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"},"
                         "{\"name\":\"s\",\"type\":[\"null\",\"string\"]},{\"name\":\"b\",\"type\":\"bytes\"},"
                         "{\"name\":\"xs\",\"type\":{\"type\":\"array\",\"items\":\"double\"}}]}";
    evl_serializer_t *ser;
    cr_assert_eq(evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, schema, NULL, 0, NULL, &ser), 0);
    evl_datum_t *d = evl_datum_object();
    cr_assert_eq(evl_datum_set(d, "n", evl_datum_int(-5)), 0);
    cr_assert_eq(evl_datum_set(d, "s", evl_datum_union("string", evl_datum_string("hé", 3))), 0);
    cr_assert_eq(evl_datum_set(d, "b", evl_datum_bytes("\x00\xff", 2)), 0);
    evl_datum_t *xs = evl_datum_array();
    cr_assert_eq(evl_datum_append(xs, evl_datum_double(1.5)), 0);
    cr_assert_eq(evl_datum_set(d, "xs", xs), 0);
    cr_assert_eq(evl_datum_append(d, evl_datum_null()), EVL_EINVAL);
    void *b1, *b2;
    size_t l1, l2;
    cr_assert_eq(evl_serializer_encode_datum(ser, d, &b1, &l1), 0, "%s", evl_registry_errmsg());
    const char *j = "{\"n\":-5,\"s\":{\"string\":\"hé\"},\"b\":\"\\u0000\\u00ff\",\"xs\":[1.5]}";
    cr_assert_eq(evl_serializer_encode(ser, j, strlen(j), &b2, &l2), 0, "%s", evl_registry_errmsg());
    cr_assert_eq(l1, l2);
    cr_assert_arr_eq(b1, b2, l1);
    evl_deserializer_t *des;
    cr_assert_eq(evl_deserializer_new(reg, EVL_SCHEMA_AVRO, NULL, NULL, 0, &des), 0);
    evl_datum_t *back;
    cr_assert_eq(evl_deserializer_decode_datum(des, b1, l1, &back, NULL), 0);
    cr_assert_eq(evl_datum_type(back), EVL_DATUM_OBJECT);
    cr_assert_eq(evl_datum_int_value(evl_datum_get(back, "n")), -5);
    size_t n;
    const evl_datum_t *s = evl_datum_get(evl_datum_get(back, "s"), "string");
    cr_assert_str_eq(evl_datum_string_value(s, &n), "hé");
    cr_assert_eq(evl_datum_size(evl_datum_get(back, "xs")), 1);
    cr_assert_float_eq(evl_datum_double_value(evl_datum_at(evl_datum_get(back, "xs"), 0)), 1.5, 1e-12);
    evl_datum_free(back);
    evl_datum_free(d);
    free(b1);
    free(b2);
    evl_deserializer_free(des);
    evl_serializer_free(ser);
}
