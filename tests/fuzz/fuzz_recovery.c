/*
 * fuzz_recovery.c - libFuzzer target: arbitrary bytes as segment files.
 *
 * The input is split in two at its first byte: a .log and a .idx for the
 * only segment of a partition whose topic exists in a template log (made
 * once per process). partition.ctl is removed (as after a reboot), the log
 * is opened (recovery runs), everything is read, seeks by offset and time are
 * tried, and one record is appended. Errors are fine; crashes, hangs, leaks
 * and invalid records are not.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eventlog.h>

static char root[256];

static void rm_rf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        abort();
}

/* Empty a partition folder (cheaper than rm -rf per input). */
static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        mkdir(dir, 0755);
        return;
    }
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

static void put(const char *path, const uint8_t *d, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        abort();
    if (n && write(fd, d, n) != (ssize_t)n)
        abort();
    close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "/tmp/evl-fuzz-rec.%d", (int)getpid());
    rm_rf(root);
    evl_log_t *log;
    evl_config_t *cfg = evl_config_new();
    char err[128];
    evl_config_set(cfg, "segment.bytes", "65536", err, sizeof err);
    evl_config_set(cfg, "max.message.bytes", "4096", err, sizeof err);
    evl_config_set(cfg, "index.interval.bytes", "64", err, sizeof err);
    if (evl_log_open(root, NULL, &log) || evl_topic_create(log, "t", 1, cfg))
        abort();
    evl_log_close(log);
    evl_config_free(cfg);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/topics/t/0", root);
    empty_dir(dir);
    size_t cut = size ? (size_t)data[0] * size / 256 : 0;
    if (cut < 1 && size)
        cut = 1;
    snprintf(path, sizeof path, "%s/00000000000000000000.log", dir);
    put(path, data + (size ? 1 : 0), cut > 0 ? cut - 1 : 0);
    snprintf(path, sizeof path, "%s/00000000000000000000.idx", dir);
    put(path, data + cut, size - cut);

    evl_log_t *log;
    if (evl_log_open(root, NULL, &log))
        return 0;
    evl_reader_t *rd;
    if (evl_reader_open(log, "t", 0, &rd) == 0) {
        const evl_record_t *rec;
        int64_t last = -1;
        for (int i = 0; i < 10000 && evl_reader_next(rd, 0, &rec) == 0; i++) {
            if (evl_record_offset(rec) <= last)
                abort(); /* offsets only grow */
            last = evl_record_offset(rec);
            size_t n;
            volatile uint8_t sink = 0;
            const uint8_t *v = evl_record_value(rec, &n);
            for (size_t j = 0; v && j < n; j++)
                sink ^= v[j];
            (void)sink;
        }
        evl_reader_seek(rd, 3);
        evl_reader_seek_time(rd, 1000);
        evl_reader_next(rd, 0, &rec);
        evl_reader_close(rd);
    }
    evl_producer_t *prod;
    if (evl_producer_new(log, "t", NULL, &prod) == 0) {
        int64_t off;
        int rc = evl_producer_send_kv(prod, "k", 1, "v", 1, NULL, &off);
        if (rc == 0 && evl_reader_open(log, "t", 0, &rd) == 0) {
            const evl_record_t *rec;
            if (evl_reader_seek(rd, off) != 0 || evl_reader_next(rd, 0, &rec) != 0 ||
                evl_record_offset(rec) != off)
                abort(); /* what was just appended must read back */
            evl_reader_close(rd);
        }
        evl_producer_close(prod);
    }
    evl_log_close(log);
    return 0;
}
