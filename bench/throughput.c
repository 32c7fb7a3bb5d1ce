/*
 * throughput.c - append and scan throughput of libeventlog through its
 * public API, each next to the baseline that bounds it (issue 5):
 *
 *   W1  evl_producer_send, 8-byte key + 100-byte value, durability none, one
 *       thread, one call per record, explicit partition
 *       vs B0 (memcpy into a fresh / pre-faulted mapping), B2 LMDB, B3 SQLite
 *   W2  the same with 1 KiB values, in MB/s, vs B0
 *   W3  evl_producer_send_batch, 64 records per call, vs W1
 *   sweep  W1-style sends with 16 B .. 16 KiB values vs B0 (throughput.png)
 *   W4  durability fsync, one call per record, 1 and 8 threads (group
 *       commit), vs B1 write(2)+fdatasync
 *   W5  2 and 4 threads appending to one partition, vs 1 thread (and that
 *       one vs B0 again)
 *   W6  scan of N records with evl_reader_next, checksums on and off, vs a
 *       bare CRC32C pass over as many bytes as the log appended for them
 *       (EVL_STAT_APPEND_BYTES: the record encodings), one CRC per record
 *
 * Every run gets a fresh log directory; only the loop of sends (or reads) is
 * timed, not opening, closing or deleting the log. Runs of a workload and of
 * its baselines alternate, so their ratio is taken run by run.
 */
#include "bench.h"
#include "eventlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <stdlib.h>

#define TOPIC "bench"
#define KEYLEN 8
#define MAXBATCH 64

static volatile uint64_t sink; /* keeps scan loops from being optimized out */

/* ---- a fresh log with one single-partition topic ------------------------- */
struct env {
    char dir[PATH_MAX];
    evl_log_t *log;
    evl_producer_t *prod;
};

/* durability "none", "fsync"...; a "+idem" suffix: an idempotent
 * producer (enable.idempotence). */
static int env_open(struct env *e, const char *durability)
{
    char dur[32];
    const char *plus = strchr(durability, '+');
    bool idem = plus && !strcmp(plus, "+idem");
    snprintf(dur, sizeof dur, "%.*s", plus ? (int)(plus - durability) : 31, durability);
    durability = dur;
    evl_config_t *cfg = evl_config_new();
    char err[128] = "";
    int rc;

    memset(e, 0, sizeof *e);
    data_path(e->dir, sizeof e->dir, "evl");
    if (!cfg)
        return EVL_ENOMEM;
    rc = evl_log_open(e->dir, NULL, &e->log);
    if (rc == 0)
        rc = evl_topic_create(e->log, TOPIC, 1, NULL);
    if (rc == 0)
        rc = evl_config_set(cfg, "durability", durability, err, sizeof err);
    if (rc == 0 && idem)
        rc = evl_config_set(cfg, "enable.idempotence", "true", err, sizeof err);
    if (rc == 0)
        rc = evl_producer_new(e->log, TOPIC, cfg, &e->prod);
    evl_config_free(cfg);
    if (rc != 0 && err[0])
        progress(1, "config: %s", err);
    return rc;
}

static void env_close(struct env *e)
{
    evl_producer_close(e->prod);
    evl_log_close(e->log);
    rm_rf(e->dir);
    e->prod = NULL;
    e->log = NULL;
}

/* The partition must hold exactly n records. */
static int check_count(evl_log_t *log, size_t n)
{
    evl_partition_info_t info;
    int rc = evl_partition_info(log, TOPIC, 0, &info);
    if (rc != 0)
        return rc;
    if (info.end_offset != (int64_t)n) {
        progress(1, "partition holds %lld records, expected %zu",
                 (long long)info.end_offset, n);
        return EVL_ECORRUPT;
    }
    return 0;
}

/* Send records [from, to) to partition 0, one per call or `batch` a call. */
static int send_range(evl_producer_t *p, size_t from, size_t to, size_t vlen,
                      int batch, const unsigned char *value)
{
    unsigned char keys[MAXBATCH][KEYLEN];
    evl_msg_t msgs[MAXBATCH];
    int rc;

    if (batch <= 1) {
        for (size_t i = from; i < to; i++) {
            evl_msg_t m = {0};
            put_be64(keys[0], i);
            m.key = keys[0];
            m.key_len = KEYLEN;
            m.value = value;
            m.value_len = vlen;
            m.timestamp = EVL_TIMESTAMP_NOW;
            m.partition = 0;
            if ((rc = evl_producer_send(p, &m, 0)) != 0)
                return rc;
        }
        return 0;
    }
    for (size_t i = from; i < to; i += (size_t)batch) {
        size_t cnt = to - i < (size_t)batch ? to - i : (size_t)batch;
        for (size_t j = 0; j < cnt; j++) {
            put_be64(keys[j], i + j);
            msgs[j] = (evl_msg_t){0};
            msgs[j].key = keys[j];
            msgs[j].key_len = KEYLEN;
            msgs[j].value = value;
            msgs[j].value_len = vlen;
            msgs[j].timestamp = EVL_TIMESTAMP_NOW;
            msgs[j].partition = 0;
        }
        if ((rc = evl_producer_send_batch(p, msgs, cnt, 0)) != 0)
            return rc;
    }
    return 0;
}

struct sender {
    pthread_t tid;
    pthread_barrier_t *bar;
    evl_producer_t *prod;
    size_t from, to, vlen;
    const unsigned char *value;
    int rc;
};

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    pthread_barrier_wait(s->bar);
    s->rc = send_range(s->prod, s->from, s->to, s->vlen, 1, s->value);
    return NULL;
}

/*
 * One run: n records of vlen-byte values through one producer shared by
 * `threads` threads (all to partition 0), `batch` records per call (threads
 * == 1 only). Returns ns, or a negative code.
 */
static int64_t w_append(size_t n, size_t vlen, const char *durability,
                        int threads, int batch)
{
    struct env e;
    unsigned char *value = malloc(vlen ? vlen : 1);
    uint64_t t0 = 0, t1 = 0;
    int rc;

    if (!value)
        return EVL_ENOMEM;
    fill_pattern(value, vlen, 10);
    rc = env_open(&e, durability);
    if (rc == 0 && threads <= 1) {
        t0 = now_ns();
        rc = send_range(e.prod, 0, n, vlen, batch, value);
        t1 = now_ns();
    } else if (rc == 0) {
        pthread_barrier_t bar;
        struct sender *s = calloc((size_t)threads, sizeof *s);
        int started = 0;
        if (!s) {
            rc = EVL_ENOMEM;
            goto done;
        }
        pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
        for (int t = 0; t < threads; t++) {
            s[t] = (struct sender){.bar = &bar, .prod = e.prod,
                                   .from = n * (size_t)t / (size_t)threads,
                                   .to = n * (size_t)(t + 1) / (size_t)threads,
                                   .vlen = vlen, .value = value};
            if (pthread_create(&s[t].tid, NULL, sender_main, &s[t]) != 0) {
                fprintf(stderr, "bench: pthread_create failed\n");
                exit(2); /* the barrier would never open */
            }
            started++;
        }
        pthread_barrier_wait(&bar);
        t0 = now_ns();
        for (int t = 0; t < started; t++) {
            pthread_join(s[t].tid, NULL);
            if (s[t].rc && !rc)
                rc = s[t].rc;
        }
        t1 = now_ns();
        pthread_barrier_destroy(&bar);
        free(s);
    }
    if (rc == 0)
        rc = check_count(e.log, n);
done:
    env_close(&e);
    free(value);
    return rc ? rc : (int64_t)(t1 - t0);
}

/* Record a run: ns (or an error) -> a rate of n items, in units of `per`/s. */
static void add_rate(figure_t *f, int64_t ns, double n, double per)
{
    if (ns < 0)
        fig_add_rc(f, (int)ns, 0);
    else
        fig_add(f, n / ((double)(ns > 0 ? ns : 1) / 1e9) / per);
}

/* ---- W1, W2, W3, the size sweep, B0, B2, B3 -------------------------------- */
#define NSIZES 5
static const size_t sweep_sizes[NSIZES] = {16, 100, 1024, 4096, 16384};

int exp_append(void)
{
    figure_t *w[NSIZES], *b0f[NSIZES], *b0p[NSIZES], *w3, *b2, *b3, *w1i, *w3i;
    size_t n[NSIZES], n3 = scaled(1e6, 1000);
    char id[16], name[96], x[16];

    fig_section("append throughput: 8 B key + value, one thread, durability "
                "none (W1-W3, size sweep; MB = 1e6 bytes of key+value)");
    for (int s = 0; s < NSIZES; s++) {
        size_t v = sweep_sizes[s];
        int rec = v == 100; /* the W1 shape is reported in records/s */
        double full = v == 100 ? 4e6 : (double)(512u << 20) / (double)(v + 8);
        n[s] = scaled(full > 8e6 ? 8e6 : full, 1000);
        snprintf(x, sizeof x, "%zu", v);
        snprintf(id, sizeof id, "B0f.%zu", v);
        snprintf(name, sizeof name,
                 "B0 memcpy %zu B rec into fresh MAP_SHARED map", v + 8);
        b0f[s] = fig_new(id, name, rec ? "Mrec/s" : "MB/s", HIGHER_BETTER);
        fig_plot(b0f[s], "sweep", "B0 fresh map", x);
        snprintf(id, sizeof id, "B0p.%zu", v);
        snprintf(name, sizeof name,
                 "B0 memcpy %zu B rec into pre-faulted map", v + 8);
        b0p[s] = fig_new(id, name, rec ? "Mrec/s" : "MB/s", HIGHER_BETTER);
        fig_plot(b0p[s], "sweep", "B0 pre-faulted map", x);
        if (v == 100)
            snprintf(id, sizeof id, "W1");
        else if (v == 1024)
            snprintf(id, sizeof id, "W2");
        else
            snprintf(id, sizeof id, "W1.%zu", v);
        snprintf(name, sizeof name,
                 "send 8 B key + %zu B value, 1 record per call", v);
        w[s] = fig_new(id, name, rec ? "Mrec/s" : "MB/s", HIGHER_BETTER);
        fig_plot(w[s], "sweep", "libeventlog send", x);
    }
    b2 = fig_new("B2", "LMDB queue: be64 keys, MDB_APPEND, 1000/txn, NOSYNC",
                 "Mrec/s", HIGHER_BETTER);
    b3 = fig_new("B3", "SQLite queue: WAL, sync=NORMAL, 1000/txn", "Mrec/s",
                 HIGHER_BETTER);
    w3 = fig_new("W3", "send_batch 8 B key + 100 B value, 64 per call",
                 "Mrec/s", HIGHER_BETTER);
    w1i = fig_new("W1i", "W1 from an idempotent producer (enable.idempotence)", "Mrec/s",
                  HIGHER_BETTER);
    w3i = fig_new("W3i", "W3 from an idempotent producer (enable.idempotence)", "Mrec/s",
                  HIGHER_BETTER);
    for (int s = 0; s < NSIZES; s++) {
        if (sweep_sizes[s] == 100) {
            fig_cmp(w[s], b0f[s], 0.5);
            fig_cmp(w[s], b0p[s], NAN);
            fig_cmp(w[s], b2, 4);
            fig_cmp(w[s], b3, 20);
            fig_cmp(w3, w[s], 1.5);
            fig_cmp(w3, b0f[s], NAN);
            fig_cmp(w1i, w[s], NAN);
            fig_cmp(w3i, w3, NAN);
        } else {
            fig_cmp(w[s], b0f[s], sweep_sizes[s] == 1024 ? 0.7 : NAN);
            fig_cmp(w[s], b0p[s], NAN);
        }
    }

    for (int r = 0; r < g_opt.runs; r++) {
        progress(1, "append: run %d/%d", r + 1, g_opt.runs);
        for (int s = 0; s < NSIZES; s++) {
            size_t v = sweep_sizes[s];
            double per = v == 100 ? 1e6 : 1e6 / (double)(v + 8);
            add_rate(w[s], w_append(n[s], v, "none", 1, 1), (double)n[s], per);
            add_rate(b0f[s], b0_memcpy_map(n[s], KEYLEN, v, 0), (double)n[s],
                     per);
            add_rate(b0p[s], b0_memcpy_map(n[s], KEYLEN, v, 1), (double)n[s],
                     per);
            if (v == 100) {
                add_rate(w3, w_append(n[s], v, "none", 1, MAXBATCH),
                         (double)n[s], 1e6);
                add_rate(w1i, w_append(n[s], v, "none+idem", 1, 1), (double)n[s], 1e6);
                add_rate(w3i, w_append(n[s], v, "none+idem", 1, MAXBATCH), (double)n[s],
                         1e6);
                add_rate(b2, b2_lmdb_queue(n[s], KEYLEN, v), (double)n[s], 1e6);
                add_rate(b3, b3_sqlite_queue(n3, KEYLEN, v), (double)n3, 1e6);
            }
        }
    }
    return 0;
}

/* ---- W4: fsync durability, B1 ------------------------------------------------ */
int exp_fsync(void)
{
    size_t n1 = scaled(2000, 50), n8 = scaled(4000, 80);
    figure_t *b1, *b1o, *w41, *w48;

    fig_section("durable appends: one fsync'd record per call, 8+100 B (W4)");
    b1 = fig_new("B1", "B1 write(2)+fdatasync per 108 B rec, growing file",
                 "krec/s", HIGHER_BETTER);
    b1o = fig_new("B1o", "B1 pwrite(2)+fdatasync overwriting written blocks",
                  "krec/s", HIGHER_BETTER);
    w41 = fig_new("W4.1", "evl send, durability fsync, 1 thread", "krec/s",
                  HIGHER_BETTER);
    w48 = fig_new("W4.8", "evl send, durability fsync, 8 threads 1 partition",
                  "krec/s", HIGHER_BETTER);
    fig_cmp(w41, b1, 0.8);
    fig_cmp(w41, b1o, NAN);
    fig_cmp(w48, w41, 4);
    fig_cmp(w48, b1, NAN);
    for (int r = 0; r < g_opt.runs; r++) {
        progress(1, "fsync: run %d/%d", r + 1, g_opt.runs);
        add_rate(b1, b1_write_fdatasync(n1, KEYLEN + 100, 0), (double)n1, 1e3);
        add_rate(b1o, b1_write_fdatasync(n1, KEYLEN + 100, 1), (double)n1, 1e3);
        add_rate(w41, w_append(n1, 100, "fsync", 1, 1), (double)n1, 1e3);
        add_rate(w48, w_append(n8, 100, "fsync", 8, 1), (double)n8, 1e3);
    }
    return 0;
}

/* ---- W5: threads contending for one partition ------------------------------- */
int exp_contention(void)
{
    static const int th[3] = {1, 2, 4};
    size_t n = scaled(2e6, 2000);
    figure_t *f[3], *b0;

    fig_section("one partition, several threads through one producer, 8+100 B, "
                "durability none (W5)");
    b0 = fig_new("B0f.W5", "B0 memcpy 108 B rec into fresh MAP_SHARED map",
                 "Mrec/s", HIGHER_BETTER);
    f[0] = fig_new("W5.1", "evl send, 1 thread (reference)", "Mrec/s",
                   HIGHER_BETTER);
    fig_cmp(f[0], b0, NAN);
    f[1] = fig_new("W5.2", "evl send, 2 threads, same partition", "Mrec/s",
                   HIGHER_BETTER);
    f[2] = fig_new("W5.4", "evl send, 4 threads, same partition", "Mrec/s",
                   HIGHER_BETTER);
    fig_cmp(f[1], f[0], 1.0);
    fig_cmp(f[2], f[0], NAN);
    for (int r = 0; r < g_opt.runs; r++) {
        progress(1, "contention: run %d/%d", r + 1, g_opt.runs);
        add_rate(b0, b0_memcpy_map(n, KEYLEN, 100, 0), (double)n, 1e6);
        for (int i = 0; i < 3; i++)
            add_rate(f[i], w_append(n, 100, "none", th[i], 1), (double)n, 1e6);
    }
    return 0;
}

/* ---- W6: scan, checksums on and off, vs a bare CRC32C pass ------------------ */
static int64_t scan_all(evl_log_t *log, int check, size_t expect)
{
    evl_reader_t *rd;
    const evl_record_t *rec;
    uint64_t t0, t1, acc = 0;
    size_t cnt = 0;
    int rc;

    t0 = now_ns();
    if ((rc = evl_reader_open(log, TOPIC, 0, &rd)) != 0)
        return rc;
    evl_reader_set_check_crcs(rd, check);
    while ((rc = evl_reader_next(rd, 0, &rec)) == 0) {
        size_t len;
        const unsigned char *v = evl_record_value(rec, &len);
        acc += len + (v && len ? v[0] : 0);
        cnt++;
    }
    t1 = now_ns();
    evl_reader_close(rd);
    sink += acc;
    if (rc != EVL_ETIMEDOUT)
        return rc;
    if (cnt != expect) {
        progress(1, "W6: scanned %zu records, expected %zu", cnt, expect);
        return EVL_ECORRUPT;
    }
    return (int64_t)(t1 - t0);
}

int exp_scan(void)
{
    size_t n = scaled(10e6, 2000), total, chunk;
    unsigned char value[100], *buf = NULL;
    figure_t *wc, *wn, *bc;
    struct env e;
    char name[96];
    int64_t enc;
    uint64_t t0;
    int rc;

    fig_section("scan with evl_reader_next, 8+100 B records written one per "
                "call (W6)");
    snprintf(name, sizeof name,
             "CRC32C (%s) over the records' bytes, 1/record",
             crc32c_impl());
    bc = fig_new("CRC", name, "Mrec/s", HIGHER_BETTER);
    snprintf(name, sizeof name, "evl_reader_next over %zu records, crcs on", n);
    wc = fig_new("W6.crc", name, "Mrec/s", HIGHER_BETTER);
    wn = fig_new("W6.nocrc", "the same, evl_reader_set_check_crcs(rd, 0)",
                 "Mrec/s", HIGHER_BETTER);
    fig_cmp(wc, bc, 0.6);
    fig_target(wn, 100);
    fig_cmp(wn, bc, NAN);

    fill_pattern(value, sizeof value, 11);
    t0 = now_ns();
    rc = env_open(&e, "none");
    if (rc == 0)
        rc = send_range(e.prod, 0, n, sizeof value, 1, value);
    if (rc == 0)
        rc = check_count(e.log, n);
    if (rc != 0) {
        fig_add_rc(wc, rc, 0);
        fig_add_rc(wn, rc, 0);
        fig_add_rc(bc, rc, 0);
        env_close(&e);
        return rc;
    }
    /* "The same bytes": the record encodings the log appended, which is
     * what its checksums cover (key + value if the counter is missing). */
    enc = evl_log_stat(e.log, EVL_STAT_APPEND_BYTES);
    progress(1, "scan: wrote %zu records (%lld encoded bytes) in %.1f s", n,
             (long long)enc, (double)(now_ns() - t0) / 1e9);
    total = enc > 0 ? (size_t)enc : n * (KEYLEN + sizeof value);
    chunk = total / n ? total / n : 1;
    buf = malloc(total);
    if (!buf) {
        fig_fail(bc, "out of memory for %zu bytes", total);
    } else { /* fill fast: one pattern block, copied */
        size_t blk = total < (1u << 20) ? total : (1u << 20);
        fill_pattern(buf, blk, 12);
        for (size_t off = blk; off < total; off += blk)
            memcpy(buf + off, buf, total - off < blk ? total - off : blk);
    }
    for (int r = 0; r < g_opt.runs; r++) {
        uint32_t crc;
        progress(1, "scan: run %d/%d", r + 1, g_opt.runs);
        add_rate(wc, scan_all(e.log, 1, n), (double)n, 1e6);
        add_rate(wn, scan_all(e.log, 0, n), (double)n, 1e6);
        if (buf) {
            add_rate(bc, bcrc_pass(buf, total, chunk, &crc), (double)n, 1e6);
            sink += crc;
        }
    }
    free(buf);
    env_close(&e);
    return 0;
}

/* ---- W11: a compaction pass ------------------------------------------------ */

/* n records of 100 B values over `keys` keys into 1 MiB segments, then one
 * evl_topic_compact: returns its ns; *bytes gets the records' bytes. */
static int64_t w_compact(size_t n, size_t keys, double *mb)
{
    char dir[512];
    data_path(dir, sizeof dir, "compact");
    evl_config_t *cfg = evl_config_new();
    evl_log_t *log = NULL;
    evl_producer_t *prod = NULL;
    int rc = cfg ? 0 : EVL_ENOMEM;
    if (rc == 0)
        rc = evl_config_set(cfg, "segment.bytes", "1048576", NULL, 0);
    if (rc == 0)
        rc = evl_config_set(cfg, "cleanup.policy", "compact", NULL, 0);
    if (rc == 0)
        rc = evl_config_set(cfg, "log.cleaner.enable", "false", NULL, 0);
    if (rc == 0)
        rc = evl_log_open(dir, cfg, &log);
    if (rc == 0)
        rc = evl_topic_create(log, TOPIC, 1, cfg);
    if (rc == 0)
        rc = evl_producer_new(log, TOPIC, NULL, &prod);
    unsigned char value[100];
    fill_pattern(value, sizeof value, 12);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "k%zu", i % keys);
        evl_msg_t m = {key, (size_t)kl, value, sizeof value, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        rc = evl_producer_send(prod, &m, 0);
    }
    *mb = (double)n * (double)(sizeof value + 8) / 1e6;
    uint64_t t0 = now_ns(), t1 = t0;
    if (rc == 0) {
        rc = evl_topic_compact(log, TOPIC);
        t1 = now_ns();
    }
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
    rm_rf(dir);
    return rc ? rc : (int64_t)(t1 - t0);
}

int exp_compact(void)
{
    size_t n = scaled(2e6, 2000);
    fig_section("compaction: one evl_topic_compact pass over 8+100 B records in 1 MiB "
                "segments (W11)");
    figure_t *few = fig_new("W11.10k", "a pass, 10000 keys (most records go)", "MB/s",
                            HIGHER_BETTER);
    figure_t *many = fig_new("W11.uniq", "a pass, every key distinct (every record stays)",
                             "MB/s", HIGHER_BETTER);
    for (int r = 0; r < g_opt.runs; r++) {
        progress(1, "compact: run %d/%d", r + 1, g_opt.runs);
        double mb;
        int64_t ns = w_compact(n, 10000, &mb);
        add_rate(few, ns, mb, 1);
        ns = w_compact(n, n, &mb);
        add_rate(many, ns, mb, 1);
    }
    return 0;
}
