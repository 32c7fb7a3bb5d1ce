/*
 * tsan_core.c - concurrency stress of the core for ThreadSanitizer.
 *
 * A plain program, not a Criterion test: Criterion's runner cannot start
 * under TSan (its shared arena collides with TSan's address-space layout,
 * Criterion issue #274). `make test-tsan` builds it with -fsanitize=thread
 * and runs it; any data race report fails the run (halt_on_error=1), and
 * the checks below fail it with a non-zero exit.
 *
 * What runs at once: 4 producer threads on one partition (2 of them through
 * a second log handle, as another process would), 2 readers sleeping on the
 * futex between records, the background thread's prefault/flush/retention,
 * batch sends to a second topic, and a thread asking for stats and partition
 * info the whole time. Then a log under a disk budget (drop-oldest), two
 * handles writing two partitions while a reader follows: every growth goes
 * through the budget, and making space deletes segments under both.
 */
#include <eventlog.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRODUCERS 4
#define PER_PRODUCER 3000

static int passed, failed;
#define CHECK(cond, ...)                                  \
    do {                                                  \
        if (cond) {                                       \
            passed++;                                     \
        } else {                                          \
            failed++;                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                 \
            fputc('\n', stderr);                          \
        }                                                 \
    } while (0)

static evl_log_t *log_a, *log_b;
static atomic_int producers_done;

struct pargs {
    int id;
    evl_producer_t *prod;
    int errors;
};

static void *producer(void *arg)
{
    struct pargs *a = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        char v[48];
        int n = snprintf(v, sizeof v, "%d:%d", a->id, i);
        evl_msg_t m = {NULL, 0, v, (size_t)n, NULL, 0, -1, 0, -1};
        int flags = (i % 500 == 0) ? EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC) : 0;
        if (evl_producer_send(a->prod, &m, flags))
            a->errors++;
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

struct rargs {
    evl_log_t *log;
    long got;
    int bad;
};

static void *reader(void *arg)
{
    struct rargs *a = arg;
    evl_reader_t *rd;
    if (evl_reader_open(a->log, "t", 0, &rd)) {
        a->bad++;
        return NULL;
    }
    int next[PRODUCERS] = {0};
    int64_t expect = 0;
    while (a->got < (long)PRODUCERS * PER_PRODUCER) {
        const evl_record_t *r;
        int rc = evl_reader_next(rd, 2000, &r);
        if (rc) {
            a->bad++;
            break;
        }
        if (evl_record_offset(r) != expect++)
            a->bad++;
        size_t vl;
        const char *v = evl_record_value(r, &vl);
        char buf[48] = {0};
        memcpy(buf, v, vl < 47 ? vl : 47);
        int id, i;
        if (sscanf(buf, "%d:%d", &id, &i) != 2 || id < 0 || id >= PRODUCERS || i != next[id]++)
            a->bad++;
        a->got++;
    }
    evl_reader_close(rd);
    return NULL;
}

/* One thread on a wait set over t/0 and b/0..2 (another handle's appends
 * wake it); it reads whatever is ready until all of t is read. */
static void *waitset_reader(void *arg)
{
    struct rargs *a = arg;
    evl_reader_t *rd[4];
    evl_waitset_t *ws;
    if (evl_waitset_new(&ws) || evl_reader_open(a->log, "t", 0, &rd[0])) {
        a->bad++;
        return NULL;
    }
    evl_waitset_add(ws, rd[0]);
    for (int p = 0; p < 3; p++)
        if (evl_reader_open(a->log, "b", p, &rd[p + 1]) == 0)
            evl_waitset_add(ws, rd[p + 1]);
        else
            a->bad++;
    int64_t expect = 0;
    while (a->got < (long)PRODUCERS * PER_PRODUCER) {
        evl_reader_t *ready;
        if (evl_waitset_wait(ws, 5000, &ready)) {
            a->bad++;
            break;
        }
        const evl_record_t *r;
        while (evl_reader_next(ready, 0, &r) == 0)
            if (ready == rd[0]) {
                if (evl_record_offset(r) != expect++)
                    a->bad++;
                a->got++;
            }
    }
    evl_waitset_free(ws);
    for (int i = 0; i < 4; i++)
        evl_reader_close(rd[i]);
    return NULL;
}

static void *batcher(void *arg)
{
    (void)arg;
    evl_producer_t *prod;
    if (evl_producer_new(log_a, "b", NULL, &prod))
        return (void *)1;
    evl_msg_t msgs[32];
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < 32; i++)
            msgs[i] = (evl_msg_t){"k", 1, "batch-value", 11, NULL, 0, -1, EVL_PARTITION_ANY, -1};
        if (evl_producer_send_batch(prod, msgs, 32, 0))
            return (void *)1;
    }
    evl_producer_close(prod);
    return NULL;
}

static void *observer(void *arg)
{
    (void)arg;
    while (atomic_load(&producers_done) < PRODUCERS) {
        evl_partition_info_t pi;
        evl_partition_info(log_b, "t", 0, &pi);
        (void)evl_log_stat(log_a, EVL_STAT_APPENDS);
        (void)evl_log_stat(log_a, EVL_STAT_FSYNCS);
        evl_log_retention_run(log_b);
        usleep(1000);
    }
    return NULL;
}

/* Large records on a topic of 64 MiB segments: the prefault thread maps
 * ahead of a fast writer (2 MiB units) and ahead of scanners (their next
 * 16 MiB window), which seek back and close while it works. */
#define BIG_RECS 1024
static char big_value[64 << 10];

static void *big_writer(void *arg)
{
    (void)arg;
    evl_producer_t *prod;
    if (evl_producer_new(log_a, "big", NULL, &prod))
        return (void *)1;
    for (int i = 0; i < BIG_RECS; i++) {
        evl_msg_t m = {NULL, 0, big_value, sizeof big_value, NULL, 0, -1, 0, -1};
        if (evl_producer_send(prod, &m, 0))
            return (void *)1;
    }
    evl_producer_close(prod);
    return NULL;
}

static void *scanner(void *arg)
{
    evl_reader_t *rd;
    if (evl_reader_open(arg, "big", 0, &rd))
        return (void *)1;
    evl_reader_set_check_crcs(rd, 0);
    for (int pass = 0; pass < 2; pass++) {
        if (evl_reader_seek(rd, EVL_OFFSET_BEGINNING))
            return (void *)1;
        for (int64_t i = 0; i < (pass ? BIG_RECS : BIG_RECS / 2); i++) {
            const evl_record_t *r;
            if (evl_reader_next(rd, 5000, &r) || evl_record_offset(r) != i)
                return (void *)1;
        }
    }
    evl_reader_close(rd);
    return NULL;
}

/* ---- under a disk budget ----------------------------------------------- */

struct bargs {
    evl_log_t *log;
    int partition;
    int errors;
};

static void *budget_writer(void *arg)
{
    struct bargs *a = arg;
    evl_producer_t *prod;
    static char v[1024];
    if (evl_producer_new(a->log, "q", NULL, &prod))
        return (void *)1;
    for (int i = 0; i < 6000; i++) {
        evl_msg_t m = {NULL, 0, v, sizeof v, NULL, 0, -1, a->partition, -1};
        int rc = evl_producer_send(prod, &m, 0);
        if (rc) {
            fprintf(stderr, "budget send: %s\n", evl_errname(rc));
            a->errors++;
        }
    }
    evl_producer_close(prod);
    return NULL;
}

static atomic_int budget_done;

static void *budget_reader(void *arg)
{
    evl_reader_t *rd;
    if (evl_reader_open(arg, "q", 0, &rd))
        return (void *)1;
    const evl_record_t *rec;
    long got = 0;
    while (!atomic_load(&budget_done)) {
        int rc = evl_reader_next(rd, 10, &rec);
        if (rc == 0)
            got++;
        else if (rc == EVL_EOFFSET) /* dropped under it: start over */
            evl_reader_seek(rd, EVL_OFFSET_BEGINNING);
        else if (rc != EVL_ETIMEDOUT)
            return (void *)2;
    }
    evl_reader_close(rd);
    return got > 0 ? NULL : (void *)3;
}

static void budget_phase(void)
{
    char dir[] = "/tmp/evl-tsan-budget.XXXXXX";
    if (!mkdtemp(dir))
        return;
    evl_config_t *cfg = evl_config_new();
    evl_config_set(cfg, "disk.bytes.max", "4194304", NULL, 0);
    evl_config_set(cfg, "disk.full.policy", "drop-oldest", NULL, 0);
    evl_log_t *c, *d;
    CHECK(evl_log_open(dir, cfg, &c) == 0 && evl_log_open(dir, cfg, &d) == 0, "open budget");
    CHECK(evl_topic_create(c, "q", 2, NULL) == 0, "create q");
    struct bargs ba[2] = {{c, 0, 0}, {d, 1, 0}};
    pthread_t w[2], r;
    pthread_create(&r, NULL, budget_reader, d);
    for (int i = 0; i < 2; i++)
        pthread_create(&w[i], NULL, budget_writer, &ba[i]);
    void *ret;
    for (int i = 0; i < 2; i++) {
        pthread_join(w[i], &ret);
        CHECK(ret == NULL && ba[i].errors == 0, "budget writer %d: %d errors", i, ba[i].errors);
    }
    atomic_store(&budget_done, 1);
    pthread_join(r, &ret);
    CHECK(ret == NULL, "budget reader failed (%p)", ret);
    int64_t used = evl_log_stat(c, EVL_STAT_DISK_BYTES);
    CHECK(used > 0 && used <= 4194304, "disk bytes %lld over the budget", (long long)used);
    evl_log_close(d);
    evl_log_close(c);
    evl_config_free(cfg);
    char cmd[80];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    char dir[] = "/tmp/evl-tsan.XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    evl_config_t *cfg = evl_config_new();
    char err[128];
    evl_config_set(cfg, "segment.bytes", "131072", err, sizeof err);
    evl_config_set(cfg, "durability", "interval", err, sizeof err);
    evl_config_set(cfg, "flush.interval.ms", "5", err, sizeof err);
    CHECK(evl_log_open(dir, cfg, &log_a) == 0, "open a");
    CHECK(evl_log_open(dir, cfg, &log_b) == 0, "open b");
    CHECK(evl_topic_create(log_a, "t", 1, cfg) == 0, "create t");
    CHECK(evl_topic_create(log_a, "b", 3, cfg) == 0, "create b");

    pthread_t pt[PRODUCERS], rt[2], bt, ot, wt;
    struct pargs pa[PRODUCERS];
    struct rargs ra[2] = {{log_a, 0, 0}, {log_b, 0, 0}}, wa = {log_b, 0, 0};
    for (int i = 0; i < 2; i++)
        pthread_create(&rt[i], NULL, reader, &ra[i]);
    pthread_create(&wt, NULL, waitset_reader, &wa);
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i].id = i;
        pa[i].errors = 0;
        evl_producer_new(i < 2 ? log_a : log_b, "t", NULL, &pa[i].prod);
        pthread_create(&pt[i], NULL, producer, &pa[i]);
    }
    pthread_create(&bt, NULL, batcher, NULL);
    pthread_create(&ot, NULL, observer, NULL);
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(pt[i], NULL);
        CHECK(pa[i].errors == 0, "producer %d had %d errors", i, pa[i].errors);
        evl_producer_close(pa[i].prod);
    }
    void *bret;
    pthread_join(bt, &bret);
    CHECK(bret == NULL, "batcher failed");
    pthread_join(ot, NULL);
    for (int i = 0; i < 2; i++) {
        pthread_join(rt[i], NULL);
        CHECK(ra[i].bad == 0, "reader %d saw %d bad records", i, ra[i].bad);
        CHECK(ra[i].got == (long)PRODUCERS * PER_PRODUCER, "reader %d got %ld", i, ra[i].got);
    }
    pthread_join(wt, NULL);
    CHECK(wa.bad == 0 && wa.got == (long)PRODUCERS * PER_PRODUCER,
          "wait set reader: %d bad, got %ld", wa.bad, wa.got);
    evl_config_t *bcfg = evl_config_new();
    evl_config_set(bcfg, "segment.bytes", "67108864", err, sizeof err);
    CHECK(evl_topic_create(log_a, "big", 1, bcfg) == 0, "create big");
    evl_config_free(bcfg);
    pthread_t bw, sc[2];
    pthread_create(&bw, NULL, big_writer, NULL);
    pthread_create(&sc[0], NULL, scanner, log_a);
    pthread_create(&sc[1], NULL, scanner, log_b);
    pthread_join(bw, &bret);
    CHECK(bret == NULL, "big writer failed");
    for (int i = 0; i < 2; i++) {
        pthread_join(sc[i], &bret);
        CHECK(bret == NULL, "scanner %d failed", i);
    }
    evl_partition_info_t pi;
    CHECK(evl_partition_info(log_a, "t", 0, &pi) == 0 &&
              pi.end_offset == (int64_t)PRODUCERS * PER_PRODUCER,
          "end offset %lld", (long long)pi.end_offset);
    evl_log_close(log_b);
    evl_log_close(log_a);
    evl_config_free(cfg);
    budget_phase();
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("tsan_core: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
