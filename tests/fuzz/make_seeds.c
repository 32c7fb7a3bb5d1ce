/*
 * make_seeds.c - writes the seed corpora of fuzz_frame and fuzz_recovery in
 * the current record format, through the library itself: frames of every
 * shape (one record and many, keys, nulls, headers, a producer's fields),
 * and small partitions made by real appends. Run by `make -C tests/fuzz
 * seeds` after a format change; the output is committed.
 *
 *   make_seeds CORPUS_DIR
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pidtab.h"
#include "record.h"

static const char *out_dir;
static int nseed;

static void put_seed(const char *target, const uint8_t *d, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/seed-%03d", out_dir, target, nseed++);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n)
        abort();
    fclose(f);
}

static void frame_seed(uint64_t seg_base, uint64_t base, const evl_msg_t *m, size_t n,
                       const evl_frame_opts_t *o)
{
    static uint8_t buf[1 << 16];
    memcpy(buf, &seg_base, 8);
    uint32_t fl = evl__frame_encode(buf + 8, seg_base, base, m, n, 1765000000000, o, NULL);
    evl__frame_publish(buf + 8, fl);
    put_seed("fuzz_frame", buf, 8 + fl);
}

static void frames(void)
{
    evl_header_t h[2] = {{"trace", 5, "abc", 3}, {"nullv", 5, NULL, 0}};
    evl_msg_t m[4] = {
        {"k1", 2, "value-one", 9, h, 2, 1000, 0, -1},
        {NULL, 0, "", 0, NULL, 0, 2000, 0, -1},
        {"", 0, NULL, 0, NULL, 0, -1, 0, -1},
        {"a-longer-key-16b", 16, "v", 1, h, 1, 500, 0, -1},
    };
    frame_seed(0, 0, m, 1, NULL);
    frame_seed(0, 3, m, 4, NULL);
    frame_seed(1000, 1200, m + 1, 3, NULL);
    evl_frame_opts_t o = {123456, 3, 77, EVL_ATTR_TXN};
    frame_seed(0, 9, m, 2, &o);
    static char big[300];
    memset(big, 'x', sizeof big);
    evl_msg_t b = {NULL, 0, big, sizeof big, NULL, 0, -1, 0, -1};
    frame_seed(5, 200, &b, 1, NULL);
}

static int read_file(const char *path, uint8_t **d, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *d = malloc(*n + 1);
    if (fread(*d, 1, *n, f) != *n)
        abort();
    fclose(f);
    return 0;
}

/* A partition made by appends, as fuzz_recovery's input: one byte that
 * splits the rest in two halves, the .log's data (cut after what was
 * written), then the .idx. */
static void partition_seed(int shape)
{
    char root[256], path[600];
    snprintf(root, sizeof root, "/tmp/evl-seeds.%d", (int)getpid());
    snprintf(path, sizeof path, "rm -rf '%s'", root);
    if (system(path) != 0)
        abort();
    evl_log_t *log;
    evl_config_t *cfg = evl_config_new();
    char err[128];
    evl_config_set(cfg, "segment.bytes", "65536", err, sizeof err);
    evl_config_set(cfg, "max.message.bytes", "4096", err, sizeof err);
    evl_config_set(cfg, "index.interval.bytes", "64", err, sizeof err);
    if (evl_log_open(root, NULL, &log) || evl_topic_create(log, "t", 1, cfg))
        abort();
    evl_producer_t *prod;
    if (evl_producer_new(log, "t", NULL, &prod))
        abort();
    evl_header_t h = {"h", 1, "hv", 2};
    for (int i = 0; i < 6 + shape * 5; i++) {
        char v[64];
        int n = snprintf(v, sizeof v, "value-%d", i);
        evl_msg_t ms[3];
        for (int k = 0; k < 3; k++)
            ms[k] = (evl_msg_t){shape & 1 ? "key" : NULL, shape & 1 ? 3u : 0u, v, (size_t)n,
                                shape & 2 ? &h : NULL, shape & 2 ? 1u : 0u, -1, 0, -1};
        if (i % 3 == 2 ? evl_producer_send_batch(prod, ms, 3, 0) : evl_producer_send(prod, ms, 0))
            abort();
    }
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
    uint8_t *lg, *ix;
    size_t ln, in;
    snprintf(path, sizeof path, "%s/topics/t/0/00000000000000000000.log", root);
    if (read_file(path, &lg, &ln))
        abort();
    snprintf(path, sizeof path, "%s/topics/t/0/00000000000000000000.idx", root);
    if (read_file(path, &ix, &in))
        abort();
    size_t data = 4096 + (size_t)pi.bytes + 64; /* the data and a little after */
    if (data < ln)
        ln = data;
    if (in > 512)
        in = 512;
    size_t half = (ln + 1 > in ? ln + 1 : in), size = 2 * half;
    uint8_t *s = calloc(1, size + 1);
    s[0] = 128; /* cut = 128 * size / 256 = half: the .log is s[1..half) */
    memcpy(s + 1, lg, ln);
    memcpy(s + half, ix, in);
    put_seed("fuzz_recovery", s, size);
    free(s);
    free(lg);
    free(ix);
    snprintf(path, sizeof path, "rm -rf '%s'", root);
    if (system(path) != 0)
        abort();
}

/* A producer snapshot with three producers (one wrapped its batch ring). */
static void pidsnap_seed(void)
{
    evl_pidtab_t *t = malloc(EVL_PIDTAB_BYTES);
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/fuzz_pidsnap", out_dir);
    mkdir(dir, 0755);
    evl__pidtab_init(t);
    uint64_t off = 0;
    for (int i = 0; i < 9; i++, off += 10)
        evl__pidtab_note(t, NULL, 1 + i % 3, i / 3, i / 3 * 10, off, 10, i % 3 == 0);
    if (evl__pidtab_save(dir, t, off) != 0)
        exit(1);
    snprintf(path, sizeof path, "%s/producers.snap", dir);
    char to[400];
    snprintf(to, sizeof to, "%s/seed-%03d", dir, nseed++);
    if (rename(path, to) != 0)
        exit(1);
    free(t);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    out_dir = argv[1];
    frames();
    for (int shape = 0; shape < 4; shape++)
        partition_seed(shape);
    pidsnap_seed();
    printf("make_seeds: %d seeds\n", nseed);
    return 0;
}
