/* install_check_registry.c - built by `make check-install` against the
 * installed libeventlog-registry through pkg-config only: registers an
 * Avro schema in a log at argv[1] and round-trips a record. */
#include <eventlog/registry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    evl_log_t *log;
    evl_registry_t *reg;
    evl_serializer_t *ser;
    evl_deserializer_t *des;
    void *buf;
    size_t len;
    char *json;
    const char *schema = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"n\",\"type\":\"long\"}]}";
    if (argc < 2 || evl_log_open(argv[1], NULL, &log) || evl_registry_open(log, &reg))
        return 1;
    if (evl_serializer_new(reg, "t", EVL_SCHEMA_AVRO, schema, NULL, 0, NULL, &ser) ||
        evl_serializer_encode(ser, "{\"n\":42}", 8, &buf, &len) ||
        evl_deserializer_new(reg, EVL_SCHEMA_AVRO, NULL, NULL, 0, &des) ||
        evl_deserializer_decode(des, buf, len, &json, NULL) || strcmp(json, "{\"n\":42}") != 0)
        return 1;
    free(buf);
    free(json);
    evl_deserializer_free(des);
    evl_serializer_free(ser);
    evl_registry_close(reg);
    evl_log_close(log);
    puts("install_check_registry: ok");
    return 0;
}
