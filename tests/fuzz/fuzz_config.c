/*
 * fuzz_config.c - libFuzzer target: configuration strings and names.
 *
 * The input is split at NUL bytes into name, value, and a topic name:
 * evl_config_set/get must check and report, never crash; evl_topic_create
 * must refuse any name outside Kafka's rule (so no name can leave the
 * directory) and accept the config it was given or reject it cleanly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <eventlog.h>

static evl_log_t *log_;
static char root[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "/tmp/evl-fuzz-cfg.%d", (int)getpid());
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0 || evl_log_open(root, NULL, &log_))
        abort();
    return 0;
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 3);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = buf[size + 2] = 0;
    const char *name = buf;
    const char *value = name + strlen(name) + 1;
    const char *topic = value + strlen(value) + 1;
    if (topic > buf + size)
        topic = buf + size;

    evl_config_t *cfg = evl_config_new();
    char err[64], out[64];
    int rc = evl_config_set(cfg, name, value, err, sizeof err);
    if (rc != 0 && rc != EVL_ECONFIG)
        abort();
    int g = evl_config_get(cfg, name, out, sizeof out);
    if (rc == 0 && g < 0)
        abort(); /* a name that was set can be read */
    evl_config_t *dup = evl_config_dup(cfg);
    evl_config_get(dup, "segment.bytes", out, 4);
    evl_config_free(dup);

    if (*topic) {
        rc = evl_topic_create(log_, topic, 1, cfg);
        if (!name_ok(topic) && rc != EVL_EBADNAME)
            abort(); /* a bad name must never reach the file system */
        if (rc == 0) {
            if (evl_topic_partitions(log_, topic) != 1)
                abort();
            if (evl_topic_delete(log_, topic) != 0)
                abort();
        }
    }
    evl_config_free(cfg);
    free(buf);
    return 0;
}
