/*
 * registry_evolve.c - the schema registry inside an application: a
 * producer's record format evolves under the subject's compatibility
 * level, an incompatible change fails at produce time, and a consumer
 * with its own reader schema reads old and new records alike.
 *
 *   registry_evolve DIR
 *
 * Avro first (v1; v2 adds a field with a default: accepted; v3 adds one
 * without: refused under BACKWARD), then the same story in JSON Schema and
 * Protobuf.
 */
#include <eventlog.h>
#include <eventlog/registry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static evl_log_t *log;
static evl_registry_t *reg;
static evl_producer_t *prod;

static int produce(const char *topic, evl_schema_type_t type, const char *schema,
                   const char *json)
{
    evl_serializer_t *ser;
    int rc = evl_serializer_new(reg, topic, type, schema, NULL, 0, NULL, &ser);
    if (rc) {
        printf("   refused (%s): %.220s\n", evl_registry_strerror(rc), evl_registry_errmsg());
        return rc;
    }
    int64_t off;
    rc = evl_serializer_produce(ser, prod, topic, NULL, 0, json, strlen(json), 0, NULL, &off);
    if (rc)
        printf("   record refused: %s\n", evl_registry_errmsg());
    else
        printf("   schema id %d, version registered under %s; %s -> offset %lld\n",
               evl_serializer_id(ser), evl_serializer_subject(ser), json, (long long)off);
    evl_serializer_free(ser);
    return rc;
}

static void consume(const char *topic, evl_schema_type_t type, const char *reader)
{
    evl_reader_t *rd;
    evl_deserializer_t *des;
    if (evl_reader_open(log, topic, 0, &rd))
        return;
    if (evl_deserializer_new(reg, type, reader, NULL, 0, &des)) {
        evl_reader_close(rd);
        return;
    }
    const evl_record_t *r;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t len;
        const void *v = evl_record_value(r, &len);
        char *json;
        int id;
        if (evl_deserializer_decode(des, v, len, &json, &id) == 0) {
            printf("   offset %lld (written with schema %d): %s\n",
                   (long long)evl_record_offset(r), id, json);
            free(json);
        } else {
            printf("   offset %lld refused: %s\n", (long long)evl_record_offset(r),
                   evl_registry_errmsg());
        }
    }
    evl_deserializer_free(des);
    evl_reader_close(rd);
}

int main(int argc, char **argv)
{
    if (argc < 2 || evl_log_open(argv[1], NULL, &log) || evl_registry_open(log, &reg) ||
        evl_producer_open(log, NULL, &prod))
        return 1;
    const char *topics[] = {"readings", "orders", "events"};
    for (int i = 0; i < 3; i++)
        evl_topic_create(log, topics[i], 1, NULL);

    const char *v1 = "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":["
                     "{\"name\":\"sensor\",\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"float\"}]}";
    const char *v2 = "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":["
                     "{\"name\":\"sensor\",\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"double\"},"
                     "{\"name\":\"unit\",\"type\":\"string\",\"default\":\"C\"}]}";
    const char *v3 = "{\"type\":\"record\",\"name\":\"Reading\",\"fields\":["
                     "{\"name\":\"sensor\",\"type\":\"string\"},{\"name\":\"temp\",\"type\":\"double\"},"
                     "{\"name\":\"unit\",\"type\":\"string\",\"default\":\"C\"},"
                     "{\"name\":\"site\",\"type\":\"string\"}]}";
    printf("-- Avro, BACKWARD (the default): v1, then v2 (float -> double, a field with a default)\n");
    produce("readings", EVL_SCHEMA_AVRO, v1, "{\"sensor\":\"s1\",\"temp\":20.5}");
    produce("readings", EVL_SCHEMA_AVRO, v2, "{\"sensor\":\"s2\",\"temp\":21.25,\"unit\":\"F\"}");
    printf("-- v3 adds a field without a default: old records could not be read with it\n");
    int refused = produce("readings", EVL_SCHEMA_AVRO, v3, "{}") == EVL_ESCHEMA_INCOMPATIBLE;
    printf("-- a record that does not fit v2 is refused before it is appended\n");
    produce("readings", EVL_SCHEMA_AVRO, v2, "{\"sensor\":\"s3\",\"temp\":\"warm\"}");
    printf("-- a consumer reading with v2: v1's record is resolved (temp promoted, unit defaulted)\n");
    consume("readings", EVL_SCHEMA_AVRO, v2);

    const char *j1 = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
                     "\"total\":{\"type\":\"number\",\"minimum\":0}},\"required\":[\"id\"]}";
    const char *j2 = "{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
                     "\"total\":{\"type\":\"number\",\"minimum\":0},\"note\":{\"type\":\"string\"}},"
                     "\"required\":[\"id\"],\"additionalProperties\":false}";
    printf("\n-- JSON Schema: documents are validated before they are produced\n");
    produce("orders", EVL_SCHEMA_JSON, j1, "{\"id\":1,\"total\":9.5}");
    produce("orders", EVL_SCHEMA_JSON, j1, "{\"id\":2,\"total\":-1}");
    printf("-- closing an open content model is not BACKWARD-compatible\n");
    refused &= produce("orders", EVL_SCHEMA_JSON, j2, "{\"id\":3}") == EVL_ESCHEMA_INCOMPATIBLE;
    consume("orders", EVL_SCHEMA_JSON, NULL);

    const char *p1 = "syntax = \"proto3\";\nmessage Event { string name = 1; int32 count = 2; }\n";
    const char *p2 = "syntax = \"proto3\";\nmessage Event { string name = 1; int64 count = 2; "
                     "string source = 3; }\n";
    const char *p3 = "syntax = \"proto3\";\nmessage Event { string name = 1; double count = 2; }\n";
    printf("\n-- Protobuf: int32 -> int64 and a new field are compatible\n");
    produce("events", EVL_SCHEMA_PROTOBUF, p1, "{\"name\":\"boot\",\"count\":1}");
    produce("events", EVL_SCHEMA_PROTOBUF, p2, "{\"name\":\"tick\",\"count\":\"2\",\"source\":\"rtc\"}");
    printf("-- int64 -> double changes the wire type: refused\n");
    refused &= produce("events", EVL_SCHEMA_PROTOBUF, p3, "{}") == EVL_ESCHEMA_INCOMPATIBLE;
    consume("events", EVL_SCHEMA_PROTOBUF, NULL);

    evl_producer_close(prod);
    evl_registry_close(reg);
    evl_log_close(log);
    return refused ? 0 : 1;
}
