/*
 * fuzz_topic_conf.c - libFuzzer target: topic.conf, the copy of a topic's
 * record kept with its data, read when lost metadata is rebuilt from the
 * files (lib/core/topic_recover.c).
 *
 * Each input becomes DIR/topics/t/topic.conf of a log whose metadata is
 * new, with a partition folder beside it. Opening the log must rebuild the
 * topic from it or leave it alone, never crash; a topic it rebuilds must
 * answer for its settings and take a record. Inputs may hold a NUL: the
 * part after it becomes topic.conf.deleted's presence (non-empty) too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eventlog.h>

static char root[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "/tmp/evl-fuzz-conf.%d", (int)getpid());
    return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    if (len && fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512], cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        abort();
    snprintf(path, sizeof path, "%s/topics/t/0", root);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd) != 0)
        abort();
    const uint8_t *nul = memchr(data, 0, size);
    size_t conf_len = nul ? (size_t)(nul - data) : size;
    snprintf(path, sizeof path, "%s/topics/t/topic.conf", root);
    write_file(path, data, conf_len);
    if (nul && size - conf_len > 1) {
        snprintf(path, sizeof path, "%s/topics/t/topic.conf.deleted", root);
        write_file(path, nul + 1, size - conf_len - 1);
    }
    evl_log_t *log;
    int rc = evl_log_open(root, NULL, &log);
    if (rc)
        return 0; /* refused cleanly */
    int parts = evl_topic_partitions(log, "t");
    if (parts > 0) {
        char buf[64];
        if (parts > 100000 ||
            evl_topic_config_get(log, "t", "segment.bytes", buf, sizeof buf) <= 0)
            abort();
        evl_producer_t *prod;
        if (evl_producer_new(log, "t", NULL, &prod) == 0) {
            evl_msg_t m = {NULL, 0, "v", 1, NULL, 0, -1, 0, -1};
            rc = evl_producer_send(prod, &m, 0);
            if (rc != 0 && rc != EVL_EFULL && rc != EVL_ETOOBIG)
                abort();
            evl_producer_close(prod);
        }
    } else if (parts != EVL_ENOTFOUND) {
        abort();
    }
    evl_log_close(log);
    return 0;
}
