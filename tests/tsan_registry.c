/*
 * tsan_registry.c - one registry handle shared by threads under
 * ThreadSanitizer: registrations, lookups, compatibility checks, and a
 * serializer and a deserializer per thread (the parsed-schema cache and
 * the index catch-up are the handle's shared state), while a second handle
 * on the same log registers too.
 */
#include <eventlog/registry.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define EACH 40

static int failed;
#define CHECK(cond, ...)                                           \
    do {                                                           \
        if (!(cond)) {                                             \
            __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
            fprintf(stderr, __VA_ARGS__);                          \
            fputc('\n', stderr);                                   \
        }                                                          \
    } while (0)

static evl_registry_t *reg, *reg2;
static int ids[THREADS][EACH];

static void *worker(void *arg)
{
    long t = (long)arg;
    evl_registry_t *r = t == THREADS - 1 ? reg2 : reg;
    char topic[32];
    snprintf(topic, sizeof topic, "t%ld", t);
    for (int i = 0; i < EACH; i++) {
        char s[256];
        snprintf(s, sizeof s,
                 "{\"type\":\"record\",\"name\":\"R%ldN%d\",\"fields\":[{\"name\":\"n\",\"type\":\"int\"}]}",
                 t, i);
        int rc = evl_registry_register(r, "shared", EVL_SCHEMA_AVRO, s, NULL, 0, &ids[t][i], NULL);
        CHECK(rc == 0, "register: %s %s", evl_registry_strerror(rc), evl_registry_errmsg());
        evl_schema_info_t *in;
        rc = evl_registry_get_by_id(reg, ids[t][i], &in);
        CHECK(rc == 0, "get %d: %s", ids[t][i], evl_registry_strerror(rc));
        evl_schema_info_free(in);
        evl_serializer_t *ser;
        rc = evl_serializer_new(r, topic, EVL_SCHEMA_AVRO, s, NULL, 0, NULL, &ser);
        CHECK(rc == 0, "serializer: %s", evl_registry_errmsg());
        if (rc)
            continue;
        void *buf;
        size_t len;
        CHECK(evl_serializer_encode(ser, "{\"n\":5}", 7, &buf, &len) == 0, "encode");
        evl_deserializer_t *des;
        CHECK(evl_deserializer_new(reg, EVL_SCHEMA_AVRO, NULL, NULL, 0, &des) == 0, "des");
        char *json = NULL;
        rc = evl_deserializer_decode(des, buf, len, &json, NULL);
        CHECK(rc == 0 && json && strcmp(json, "{\"n\":5}") == 0, "decode: %s", json);
        free(json);
        free(buf);
        evl_deserializer_free(des);
        evl_serializer_free(ser);
    }
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/tsan_registry.XXXXXX";
    evl_log_t *log;
    if (!mkdtemp(dir) || evl_log_open(dir, NULL, &log) || evl_registry_open(log, &reg) ||
        evl_registry_open(log, &reg2))
        return 1;
    CHECK(evl_registry_config_set(reg, NULL, EVL_COMPAT_NONE) == 0, "config");
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    /* every registration of "shared" got its own id */
    for (int a = 0; a < THREADS * EACH; a++)
        for (int b = a + 1; b < THREADS * EACH; b++)
            CHECK(ids[a / EACH][a % EACH] != ids[b / EACH][b % EACH], "id %d twice",
                  ids[a / EACH][a % EACH]);
    evl_registry_close(reg2);
    evl_registry_close(reg);
    evl_log_close(log);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    printf("tsan_registry: %s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}
