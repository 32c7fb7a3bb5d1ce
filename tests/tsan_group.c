/*
 * tsan_group.c - consumer groups under ThreadSanitizer.
 *
 * A plain program (Criterion cannot run under TSan, see tsan_core.c);
 * `make test-tsan` builds it with -fsanitize=thread and runs it: a race
 * report or a failed check fails the run. tests/test_concurrency.c runs the
 * same scenario as a Criterion test in the normal and ASan suites.
 *
 * What runs at once: a producer thread; three member threads of one group,
 * two on one log handle and one on a second handle (as another process
 * would be); the first member leaves and joins again halfway, so partitions
 * move (revoke, release, claim) while records flow and members sleep in
 * futex_waitv on partition and group words. Checked: every record consumed
 * at least once, never two members owning one partition at once.
 */
#include <eventlog.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PARTS 6
#define RECS 900
#define MEMBERS 3

static evl_log_t *log_a, *log_b;
static _Atomic int owners[PARTS], overlap, seen[PARTS][RECS], produced_done, stop, ids;

static void on_rebalance(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                         size_t count, void *opaque)
{
    (void)cons;
    (void)opaque;
    for (size_t i = 0; i < count; i++) {
        if (event == EVL_REBALANCE_ASSIGN && atomic_fetch_add(&owners[parts[i].partition], 1))
            atomic_fetch_add(&overlap, 1);
        else if (event == EVL_REBALANCE_REVOKE)
            atomic_fetch_sub(&owners[parts[i].partition], 1);
    }
}

static evl_consumer_t *join(evl_log_t *log)
{
    evl_config_t *cfg = evl_config_new();
    char err[64];
    evl_config_set(cfg, "group.id", "G", err, sizeof err);
    evl_config_set(cfg, "auto.offset.reset", "earliest", err, sizeof err);
    evl_config_set(cfg, "auto.commit.interval.ms", "5", err, sizeof err);
    evl_consumer_t *cons;
    if (evl_consumer_new(log, cfg, &cons))
        abort();
    evl_config_free(cfg);
    evl_consumer_set_rebalance_cb(cons, on_rebalance, NULL);
    const char *topics[] = {"t"};
    if (evl_consumer_subscribe(cons, topics, 1))
        abort();
    return cons;
}

static void *member(void *arg)
{
    (void)arg;
    int id = atomic_fetch_add(&ids, 1);
    evl_log_t *log = id == 2 ? log_b : log_a;
    evl_consumer_t *cons = join(log);
    const evl_record_t *recs[16];
    size_t n, total = 0;
    bool rejoined = false;
    while (!atomic_load(&stop)) {
        int rc = evl_consumer_poll(cons, 20, recs, 16, &n);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            int64_t off = evl_record_offset(recs[i]);
            if (off < RECS)
                atomic_fetch_add(&seen[evl_record_partition(recs[i])][off], 1);
        }
        total += rc == 0 ? n : 0;
        if (id == 0 && !rejoined && total >= 50) {
            evl_consumer_close(cons);
            cons = join(log);
            rejoined = true;
        }
    }
    evl_consumer_close(cons);
    return NULL;
}

static void *producer(void *arg)
{
    (void)arg;
    evl_producer_t *prod;
    if (evl_producer_new(log_a, "t", NULL, &prod))
        abort();
    for (int i = 0; i < RECS; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i % 50);
        if (evl_producer_send_kv(prod, k, strlen(k), "v", 1, NULL, NULL))
            abort();
        if (i % 100 == 99) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    evl_producer_close(prod);
    atomic_store(&produced_done, 1);
    return NULL;
}

static bool all_seen(void)
{
    int64_t total = 0, expect = 0;
    for (int p = 0; p < PARTS; p++) {
        evl_partition_info_t info;
        if (evl_partition_info(log_a, "t", p, &info))
            return false;
        expect += info.end_offset;
        for (int64_t o = 0; o < info.end_offset && o < RECS; o++)
            total += atomic_load(&seen[p][o]) > 0;
    }
    return expect == RECS && total == RECS;
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    char dir[] = "/tmp/evltsan.XXXXXX", path[64];
    if (!mkdtemp(dir))
        return 2;
    snprintf(path, sizeof path, "%s/log", dir);
    if (evl_log_open(path, NULL, &log_a) || evl_log_open(path, NULL, &log_b) ||
        evl_topic_create(log_a, "t", PARTS, NULL))
        return 2;
    pthread_t th[MEMBERS + 1];
    for (int i = 0; i < MEMBERS; i++)
        pthread_create(&th[i], NULL, member, NULL);
    pthread_create(&th[MEMBERS], NULL, producer, NULL);
    bool done = false;
    for (int i = 0; i < 30000 && !done; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        done = atomic_load(&produced_done) && all_seen();
    }
    atomic_store(&stop, 1);
    for (int i = 0; i <= MEMBERS; i++)
        pthread_join(th[i], NULL);
    int failed = 0;
    if (!done) {
        fprintf(stderr, "FAIL: not every record was consumed\n");
        failed++;
    }
    if (atomic_load(&overlap)) {
        fprintf(stderr, "FAIL: two members owned one partition at once\n");
        failed++;
    }
    evl_log_close(log_b);
    evl_log_close(log_a);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("tsan_group: %s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}
