/*
 * test_concurrency.c - threads sharing one log: a producer thread and a
 * consumer group of threads that join and leave while records flow.
 *
 * Kept short: it puts the cross-thread paths (futex waits on the partitions
 * and the group word, group state in LMDB, segment pins, heartbeats) under
 * the normal and ASan suites, and checks only what must hold whatever the
 * interleaving: every record consumed at least once, and never two members
 * reading one partition at once. Criterion cannot run under TSan, so
 * tests/tsan_group.c runs the same scenario as a plain program there.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "helpers.h"

TestSuite(concurrency, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 120);

#define PARTS 6
#define RECS 1200
#define MEMBERS 3

static evl_log_t *lg;

struct shared {
    _Atomic int owners[PARTS];
    _Atomic int overlap;
    _Atomic int seen[PARTS][RECS];
    _Atomic int produced_done;
    _Atomic int stop;
};

static void on_rebalance(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                         size_t count, void *opaque)
{
    struct shared *sh = opaque;
    for (size_t i = 0; i < count; i++) {
        if (event == EVL_REBALANCE_ASSIGN && atomic_fetch_add(&sh->owners[parts[i].partition], 1))
            atomic_fetch_add(&sh->overlap, 1);
        else if (event == EVL_REBALANCE_REVOKE)
            atomic_fetch_sub(&sh->owners[parts[i].partition], 1);
    }
}

static evl_consumer_t *join(struct shared *sh)
{
    evl_config_t *cfg = evl_config_new();
    char err[64];
    evl_config_set(cfg, "group.id", "G", err, sizeof err);
    evl_config_set(cfg, "auto.offset.reset", "earliest", err, sizeof err);
    evl_config_set(cfg, "auto.commit.interval.ms", "5", err, sizeof err);
    evl_consumer_t *cons;
    if (evl_consumer_new(lg, cfg, &cons))
        abort();
    evl_config_free(cfg);
    evl_consumer_set_rebalance_cb(cons, on_rebalance, sh);
    const char *topics[] = {"t"};
    if (evl_consumer_subscribe(cons, topics, 1))
        abort();
    return cons;
}

/* Consume until told to stop; the first member leaves halfway and joins
 * again, so partitions move while records flow. */
static void *member(void *arg)
{
    struct shared *sh = arg;
    static _Atomic int ids;
    int id = atomic_fetch_add(&ids, 1);
    evl_consumer_t *cons = join(sh);
    const evl_record_t *recs[16];
    size_t n, total = 0;
    bool rejoined = false;
    while (!atomic_load(&sh->stop)) {
        int rc = evl_consumer_poll(cons, 20, recs, 16, &n);
        if (rc == 0)
            for (size_t i = 0; i < n; i++) {
                int64_t off = evl_record_offset(recs[i]);
                if (off < RECS)
                    atomic_fetch_add(&sh->seen[evl_record_partition(recs[i])][off], 1);
            }
        total += rc == 0 ? n : 0;
        if (id == 0 && !rejoined && total >= 50) {
            evl_consumer_close(cons);
            cons = join(sh);
            rejoined = true;
        }
    }
    evl_consumer_close(cons);
    return NULL;
}

static void *producer(void *arg)
{
    struct shared *sh = arg;
    evl_producer_t *prod;
    if (evl_producer_new(lg, "t", NULL, &prod))
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
    atomic_store(&sh->produced_done, 1);
    return NULL;
}

static bool all_seen(struct shared *sh)
{
    int64_t total = 0, expect = 0;
    for (int p = 0; p < PARTS; p++) {
        evl_partition_info_t info;
        if (evl_partition_info(lg, "t", p, &info))
            return false;
        expect += info.end_offset;
        for (int64_t o = 0; o < info.end_offset && o < RECS; o++)
            total += atomic_load(&sh->seen[p][o]) > 0;
    }
    return expect == RECS && total == RECS;
}

Test(concurrency, group_threads_with_a_producer_thread)
{
    lg = test_open(NULL);
    cr_assert_eq(evl_topic_create(lg, "t", PARTS, NULL), 0);
    struct shared *sh = calloc(1, sizeof *sh);
    pthread_t th[MEMBERS + 1];
    for (int i = 0; i < MEMBERS; i++)
        pthread_create(&th[i], NULL, member, sh);
    pthread_create(&th[MEMBERS], NULL, producer, sh);
    bool done = false;
    for (int i = 0; i < 30000 && !done; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        done = atomic_load(&sh->produced_done) && all_seen(sh);
    }
    atomic_store(&sh->stop, 1);
    for (int i = 0; i <= MEMBERS; i++)
        pthread_join(th[i], NULL);
    cr_assert(done, "not every record was consumed");
    cr_assert_eq(atomic_load(&sh->overlap), 0, "two members owned one partition at once");
    free(sh);
    evl_log_close(lg);
}
