/*
 * test_compact.c - log compaction (cleanup.policy=compact): the newest
 * record per key stays, offsets never change, tombstones go after
 * delete.retention.ms, recent segments wait for min.compaction.lag.ms,
 * readers in progress read on unharmed, the background cleaner runs, and a
 * kill -9 at any moment of a pass leaves the old segments or the new ones.
 */
#include "helpers.h"
#include "clock.h"
#include "os.h"

#include <signal.h>
#include <sys/wait.h>

TestSuite(compact, .init = test_dir_setup, .fini = test_dir_teardown);

enum { KEYS = 50 };

static evl_config_t *compact_cfg(const char *extra_name, const char *extra_value)
{
    return test_cfg("segment.bytes", "65536", "cleanup.policy", "compact",
                    "log.cleaner.enable", "false", extra_name, extra_value, NULL);
}

/* Append records from..to-1: key "k<i % KEYS>", value "<i>" (so a value
 * names the offset it was written at: one partition, nothing else writes). */
static void produce(evl_producer_t *p, int64_t from, int64_t to)
{
    for (int64_t i = from; i < to; i++) {
        char k[16], v[24];
        snprintf(k, sizeof k, "k%lld", (long long)(i % KEYS));
        snprintf(v, sizeof v, "%lld", (long long)i);
        evl_msg_t m = {k, strlen(k), v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        int rc = evl_producer_send(p, &m, 0);
        cr_assert_eq(rc, 0, "send: %s", evl_errname(rc));
        cr_assert_eq(m.offset, i);
    }
}

typedef struct seen {
    int64_t count, last_off;
    int64_t newest[KEYS]; /* newest offset read per key, -1 none */
} seen_t;

/* Read the whole partition: offsets strictly increase and every value is
 * its own offset (compaction moved nothing). */
static void read_all(evl_log_t *log, seen_t *s)
{
    memset(s, 0, sizeof *s);
    s->last_off = -1;
    for (int k = 0; k < KEYS; k++)
        s->newest[k] = -1;
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int rc;
    while ((rc = evl_reader_next(rd, 0, &r)) == 0) {
        int64_t off = evl_record_offset(r);
        size_t vl, kl;
        const char *v = evl_record_value(r, &vl), *k = evl_record_key(r, &kl);
        cr_assert_gt(off, s->last_off);
        if (v) {
            char buf[24] = {0};
            memcpy(buf, v, vl < 23 ? vl : 23);
            cr_assert_eq(atoll(buf), off, "offset %lld holds value %s", (long long)off, buf);
        }
        cr_assert_not_null(k);
        char kb[16] = {0};
        memcpy(kb, k, kl < 15 ? kl : 15);
        int key = atoi(kb + 1);
        cr_assert(key >= 0 && key < KEYS);
        s->newest[key] = off;
        s->last_off = off;
        s->count++;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT, "reader: %s", evl_errname(rc));
    evl_reader_close(rd);
}

static int64_t segments_of(evl_log_t *log)
{
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    return pi.segments;
}

Test(compact, the_newest_record_of_each_key_stays_at_its_offset)
{
    evl_config_t *c = compact_cfg(NULL, NULL);
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    enum { N = 20000 };
    produce(p, 0, N);
    int64_t segs = segments_of(log);
    cr_assert_gt(segs, 3);
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    seen_t s;
    read_all(log, &s);
    /* Every key's newest record is there; the sealed part holds at most
     * one record per key (plus what the active segment holds). */
    for (int k = 0; k < KEYS; k++)
        cr_assert_eq(s.newest[k], N - KEYS + k);
    cr_assert_lt(s.count, N / 4, "%lld records left", (long long)s.count);
    cr_assert_eq(s.last_off, N - 1);
    cr_assert_lt(segments_of(log), segs);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    cr_assert_eq(pi.start_offset, 0);
    cr_assert_eq(pi.end_offset, N);
    /* Appends go on at the end, and a second pass changes nothing read. */
    produce(p, N, N + 10);
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    seen_t s2;
    read_all(log, &s2);
    cr_assert_eq(s2.last_off, N + 9);
    /* Seeking into a range compaction emptied lands on the next record. */
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    cr_assert_eq(evl_reader_seek(rd, 100), 0);
    const evl_record_t *r;
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_geq(evl_record_offset(r), 100);
    evl_reader_close(rd);
    evl_producer_close(p);
    evl_log_close(log);
    /* And all of it after a reopen that rebuilds from the files. */
    evl_config_t *rb = compact_cfg("recovery.mode", "rebuild");
    log = test_open(rb);
    seen_t s3;
    read_all(log, &s3);
    cr_assert_eq(s3.count, s2.count);
    evl_log_close(log);
    evl_config_free(rb);
    evl_config_free(c);
}

Test(compact, tombstones_go_after_delete_retention_ms)
{
    evl_config_t *c = compact_cfg("delete.retention.ms", "3600000");
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    int64_t now = evl_now_ms();
    /* Key a: a value, then a tombstone two hours old. Key b: a value, then
     * a tombstone of now. Then enough other keys to seal them. */
    evl_msg_t m[4] = {
        {"a", 1, "1", 1, NULL, 0, now - 7200000, 0, -1},
        {"a", 1, NULL, 0, NULL, 0, now - 7200000, 0, -1},
        {"b", 1, "1", 1, NULL, 0, now, 0, -1},
        {"b", 1, NULL, 0, NULL, 0, now, 0, -1},
    };
    cr_assert_eq(evl_producer_send_batch(p, m, 4, 0), 0);
    char big[512];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 400; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i);
        evl_msg_t f = {k, strlen(k), big, sizeof big, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send(p, &f, 0), 0);
    }
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int a = 0, b_tomb = 0, b_val = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t kl, vl;
        const char *k = evl_record_key(r, &kl);
        const void *v = evl_record_value(r, &vl);
        if (kl == 1 && k[0] == 'a')
            a++;
        if (kl == 1 && k[0] == 'b')
            v ? b_val++ : b_tomb++;
    }
    evl_reader_close(rd);
    cr_assert_eq(a, 0, "key a: its old tombstone went, and the value before it");
    cr_assert_eq(b_val, 0, "key b: the value before the tombstone went");
    cr_assert_eq(b_tomb, 1, "key b: a recent tombstone stays");
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

Test(compact, min_compaction_lag_keeps_recent_segments)
{
    evl_config_t *c = compact_cfg("min.compaction.lag.ms", "3600000");
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    produce(p, 0, 8000);
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    seen_t s;
    read_all(log, &s);
    cr_assert_eq(s.count, 8000);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

Test(compact, keyless_records_and_delete_topics_are_refused)
{
    evl_config_t *c = compact_cfg(NULL, NULL);
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    evl_msg_t m = {NULL, 0, "v", 1, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), EVL_EINVAL);
    cr_assert(strstr(test_logbuf, "needs a key"), "%s", test_logbuf);
    evl_config_t *del = test_cfg("cleanup.policy", "delete", NULL);
    cr_assert_eq(evl_topic_create(log, "plain", 1, del), 0);
    evl_config_free(del);
    cr_assert_eq(evl_topic_compact(log, "plain"), EVL_ECONFIG);
    cr_assert_eq(evl_topic_compact(log, "nope"), EVL_ENOTFOUND);
    char err[128];
    cr_assert_eq(evl_config_set(c, "min.cleanable.dirty.ratio", "1.5", err, sizeof err),
                 EVL_ECONFIG);
    cr_assert_eq(evl_config_set(c, "min.cleanable.dirty.ratio", "0.25", err, sizeof err), 0);
    char buf[16];
    cr_assert_gt(evl_config_get(c, "min.cleanable.dirty.ratio", buf, sizeof buf), 0);
    cr_assert_str_eq(buf, "0.25");
    cr_assert_eq(evl_config_set(c, "cleanup.policy", "shred", err, sizeof err), EVL_ECONFIG);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

/* A reader part way through the log, in the first segment of a group or
 * in a later one (whose file the swap removes), reads on: offsets only
 * grow, every value is its offset, nothing is reported lost. */
static void reader_in_progress(int before)
{
    evl_config_t *c = compact_cfg(NULL, NULL);
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    enum { N = 20000 };
    produce(p, 0, N);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int64_t last = -1, n = 0;
    for (int i = 0; i < before; i++) {
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        last = evl_record_offset(r);
        n++;
    }
    /* Compacted from another handle, as another process would. */
    evl_log_t *other;
    cr_assert_eq(evl_log_open(tpath("log"), c, &other), 0);
    cr_assert_eq(evl_topic_compact(other, "t"), 0);
    evl_log_close(other);
    int rc;
    while ((rc = evl_reader_next(rd, 0, &r)) == 0) {
        int64_t off = evl_record_offset(r);
        size_t vl;
        const char *v = evl_record_value(r, &vl);
        char buf[24] = {0};
        memcpy(buf, v, vl < 23 ? vl : 23);
        cr_assert_gt(off, last);
        cr_assert_eq(atoll(buf), off);
        last = off;
        n++;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT, "%s", evl_errname(rc));
    cr_assert_eq(last, N - 1);
    cr_assert_lt(n, N, "it read on in the compacted segments");
    cr_assert_null(strstr(test_logbuf, "lost"), "%s", test_logbuf);
    evl_reader_close(rd);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

Test(compact, a_reader_in_the_first_segment_of_a_group_reads_on)
{
    reader_in_progress(1500);
}

Test(compact, a_reader_in_a_later_segment_of_a_group_reads_on)
{
    reader_in_progress(9000);
}

/* A consumer with records of a batch in hand when the segment they are in
 * is swapped out keeps valid views (review of issue 19: it crashed). */
Test(compact, a_consumer_polling_across_a_swap_keeps_valid_records)
{
    evl_config_t *c = compact_cfg(NULL, NULL);
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    produce(p, 0, 20000);
    evl_config_t *cc = test_cfg(NULL);
    evl_consumer_t *cons;
    cr_assert_eq(evl_consumer_new(log, cc, &cons), 0);
    evl_config_free(cc);
    evl_topic_partition_t tp = {"t", 0, 1830};
    cr_assert_eq(evl_consumer_assign(cons, &tp, 1), 0);
    const evl_record_t *recs[500];
    size_t n;
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 100, &n), 0);
    cr_assert_gt(n, 0);
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    int64_t last = -1;
    int rounds = 0;
    while (evl_consumer_poll(cons, 0, recs, 500, &n) == 0 && n > 0 && rounds++ < 1000) {
        for (size_t i = 0; i < n; i++) {
            size_t vl;
            const char *v = evl_record_value(recs[i], &vl);
            char buf[24] = {0};
            memcpy(buf, v, vl < 23 ? vl : 23);
            cr_assert_eq(atoll(buf), evl_record_offset(recs[i]));
            cr_assert_gt(evl_record_offset(recs[i]), last);
            last = evl_record_offset(recs[i]);
        }
    }
    cr_assert_eq(last, 19999);
    evl_consumer_close(cons);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

/* Keys whose values and expired tombstones fill whole segments: no value
 * may come back (review of issue 19: a group's last frame was kept whole). */
Test(compact, a_deleted_key_never_comes_back)
{
    evl_config_t *c = compact_cfg("delete.retention.ms", "1000");
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    int64_t old = evl_now_ms() - 3600000;
    char k[16], v[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "d%d", i % 300);
        snprintf(v, sizeof v, "value-%d-%032d", i, 0);
        evl_msg_t m = {k, strlen(k), v, strlen(v), NULL, 0, old, 0, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "d%d", i);
        evl_msg_t m = {k, strlen(k), NULL, 0, NULL, 0, old, 0, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "live%d", i);
        evl_msg_t m = {k, strlen(k), "x", 1, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int live = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t kl;
        const char *key = evl_record_key(r, &kl);
        cr_assert(!(kl >= 1 && key[0] == 'd'), "a deleted key came back at offset %lld",
                  (long long)evl_record_offset(r));
        live++;
    }
    cr_assert_eq(live, 3000);
    evl_reader_close(rd);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

/* A big batch of one key after a big batch of many: the group's estimate
 * is what is kept, and the pass must not fail on the source frame's size
 * (review of issue 19: EVL_ETOOBIG on every pass). */
Test(compact, a_big_frame_with_one_record_kept_does_not_stop_the_cleaner)
{
    evl_config_t *c = compact_cfg(NULL, NULL);
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    enum { B = 400 };
    static evl_msg_t m[B];
    static char keys[B][32], val[100];
    memset(val, 'v', sizeof val);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 200; i++) { /* ~26 KB, all kept */
            snprintf(keys[i], sizeof keys[i], "u%d-%d", round, i);
            m[i] = (evl_msg_t){keys[i], strlen(keys[i]), val, sizeof val, NULL, 0,
                               EVL_TIMESTAMP_NOW, 0, -1};
        }
        cr_assert_eq(evl_producer_send_batch(p, m, 200, 0), 0);
        for (int i = 0; i < B; i++) /* ~50 KB, one kept */
            m[i] = (evl_msg_t){"same", 4, val, sizeof val, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send_batch(p, m, 250, 0), 0);
    }
    for (int i = 0; i < 3000; i++) {
        char k[16];
        snprintf(k, sizeof k, "f%d", i);
        evl_msg_t f = {k, strlen(k), "x", 1, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send(p, &f, 0), 0);
    }
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    cr_assert_null(strstr(test_logbuf, "compaction failed"), "%s", test_logbuf);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int same = 0, unique = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t kl;
        const char *key = evl_record_key(r, &kl);
        if (kl == 4 && !memcmp(key, "same", 4))
            same++;
        else if (key[0] == 'u')
            unique++;
    }
    cr_assert_eq(same, 1);
    cr_assert_eq(unique, 600);
    evl_reader_close(rd);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

/* A compacted segment that recovery scans again (the segment after it was
 * quarantined; recovery.mode=rebuild) keeps its records: its gaps are not
 * damage (review of issue 19: they were cut). */
Test(compact, recovery_keeps_a_compacted_segment_with_gaps)
{
    evl_config_t *c = compact_cfg(NULL, NULL);
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    produce(p, 0, 20000);
    cr_assert_eq(evl_topic_compact(log, "t"), 0);
    seen_t before;
    read_all(log, &before);
    evl_producer_close(p);
    evl_log_close(log);
    /* Its checkpoints lost: recovery must walk its frames again. */
    FILE *f = fopen(tpath("log/topics/t/0/00000000000000000000.log"), "r+");
    cr_assert_not_null(f);
    fseek(f, 64, SEEK_SET);
    for (int i = 0; i < 128; i++)
        fputc(0, f);
    fclose(f);
    evl_config_t *rb = compact_cfg("recovery.mode", "rebuild");
    log = test_open(rb);
    seen_t after;
    read_all(log, &after);
    cr_assert_eq(after.count, before.count);
    for (int k = 0; k < KEYS; k++)
        cr_assert_eq(after.newest[k], before.newest[k]);
    cr_assert_null(strstr(test_logbuf, "damaged"), "%s", test_logbuf);
    evl_log_close(log);
    evl_config_free(rb);
    evl_config_free(c);
}

Test(compact, the_background_cleaner_compacts)
{
    evl_config_t *c = test_cfg("segment.bytes", "65536", "cleanup.policy", "compact",
                               "log.cleaner.backoff.ms", "50", "min.cleanable.dirty.ratio",
                               "0.1", NULL);
    evl_producer_t *p;
    evl_log_t *log = test_open_topic(c, "t", 1, &p);
    produce(p, 0, 20000);
    int64_t segs = segments_of(log);
    int64_t deadline = evl_now_ms() + 10000;
    while (segments_of(log) >= segs && evl_now_ms() < deadline)
        usleep(20000);
    cr_assert_lt(segments_of(log), segs);
    seen_t s;
    read_all(log, &s);
    for (int k = 0; k < KEYS; k++)
        cr_assert_eq(s.newest[k], 20000 - KEYS + k);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

/* A child appends and compacts in turns until killed; after each kill
 * (a reopen in the same boot, then one that rebuilds from the files, as
 * after a reboot) every key's newest record must be there with its value,
 * and every record read must hold its own offset. */
static void child(void)
{
    evl_config_t *c = evl_config_new();
    evl_config_set(c, "segment.bytes", "65536", NULL, 0);
    evl_config_set(c, "log.cleaner.enable", "false", NULL, 0);
    evl_log_t *log;
    if (evl_log_open(tpath("log"), c, &log))
        _exit(2);
    evl_producer_t *p;
    if (evl_producer_new(log, "t", NULL, &p))
        _exit(3);
    evl_partition_info_t pi;
    if (evl_partition_info(log, "t", 0, &pi))
        _exit(4);
    for (int64_t i = pi.end_offset;; i += 3000) {
        for (int64_t j = i; j < i + 3000; j++) {
            char k[16], v[24];
            snprintf(k, sizeof k, "k%lld", (long long)(j % KEYS));
            snprintf(v, sizeof v, "%lld", (long long)j);
            evl_msg_t m = {k, strlen(k), v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
            if (evl_producer_send(p, &m, 0) || m.offset != j)
                _exit(5);
        }
        if (evl_topic_compact(log, "t"))
            _exit(6);
    }
}

static void check_after_kill(const char *mode)
{
    evl_config_t *c = compact_cfg("recovery.mode", mode);
    evl_log_t *log = test_open(c);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    seen_t s;
    read_all(log, &s);
    cr_assert_eq(s.last_off, pi.end_offset - 1);
    for (int k = 0; k < KEYS; k++) {
        int64_t want = pi.end_offset - 1 - ((pi.end_offset - 1 - k) % KEYS);
        if (want >= 0)
            cr_assert_eq(s.newest[k], want, "key %d: newest %lld, expected %lld (%s)", k,
                         (long long)s.newest[k], (long long)want, mode);
    }
    evl_log_close(log);
    evl_config_free(c);
}

Test(compact, kill9_during_compaction_loses_no_newest_value, .timeout = 180)
{
    evl_config_t *c = compact_cfg(NULL, NULL);
    evl_log_t *log = test_open(c);
    cr_assert_eq(evl_topic_create(log, "t", 1, c), 0);
    evl_log_close(log);
    unsigned seed = (unsigned)getpid();
    int rounds = test_quick() ? 6 : 16, mid_write = 0, mid_swap = 0;
    for (int i = 0; i < rounds; i++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            child();
        usleep(20000 + (unsigned)(rand_r(&seed) % 200000));
        kill(pid, SIGKILL);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFSIGNALED(st), "child exit %d", WEXITSTATUS(st));
        if (access(tpath("log/topics/t/0/compact.tmp"), F_OK) == 0)
            mid_write++;
        if (access(tpath("log/topics/t/0/compact.swap"), F_OK) == 0)
            mid_swap++;
        check_after_kill(i % 2 ? "rebuild" : "auto");
    }
    cr_log_info("kill9 during compaction: %d rounds, %d killed while writing, %d while swapping",
                rounds, mid_write, mid_swap);
    evl_config_free(c);
}

/*
 * A crash right before each file-system step of a pass (every open, write,
 * fsync and rename the cleaner makes: test fault injection ends the
 * process there), then a reopen in the same boot and one that rebuilds
 * from the files as after a power cut (every step before the crash was
 * made durable where the protocol needs it: the new segments and the plan
 * are fsynced before the rename that commits them). Each time: every key's
 * newest record is there, every value is its own offset, and a later pass
 * succeeds.
 */
enum { CRASH_KEYS = 2000, CRASH_N = 12000 };

/* Every key's newest record (key "c<k>", value "<offset>") must be there:
 * with 2000 keys, most of them live in sealed segments. */
static void check_crash(const char *mode)
{
    evl_config_t *c = compact_cfg("recovery.mode", mode);
    evl_log_t *log = test_open(c);
    static int64_t newest[CRASH_KEYS];
    for (int k = 0; k < CRASH_KEYS; k++)
        newest[k] = -1;
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int64_t last = -1;
    int rc;
    while ((rc = evl_reader_next(rd, 0, &r)) == 0) {
        size_t kl, vl;
        const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
        char kb[16] = {0}, vb[24] = {0};
        memcpy(kb, k, kl < 15 ? kl : 15);
        memcpy(vb, v, vl < 23 ? vl : 23);
        int64_t off = evl_record_offset(r);
        cr_assert_gt(off, last);
        cr_assert_eq(atoll(vb), off);
        newest[atoi(kb + 1)] = off;
        last = off;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT, "%s", evl_errname(rc));
    for (int k = 0; k < CRASH_KEYS; k++)
        cr_assert_eq(newest[k], CRASH_N - CRASH_KEYS + k, "key c%d: newest %lld (%s)", k,
                     (long long)newest[k], mode);
    cr_assert_null(strstr(test_logbuf, "lost"), "%s", test_logbuf);
    evl_reader_close(rd);
    evl_log_close(log);
    evl_config_free(c);
}

static int crash_child(int op, int after)
{
    evl_config_t *c = evl_config_new();
    evl_config_set(c, "segment.bytes", "65536", NULL, 0);
    evl_config_set(c, "log.cleaner.enable", "false", NULL, 0);
    evl_log_t *log;
    if (evl_log_open(tpath("log"), c, &log))
        _exit(2);
    evl_partition_info_t pi;
    if (evl_partition_info(log, "t", 0, &pi)) /* opens the partition first */
        _exit(3);
    evl_test_fault(op, after, EVL_TEST_FAULT_EXIT, -1);
    int rc = evl_topic_compact(log, "t");
    evl_test_fault_clear();
    _exit(rc ? 4 : 0);
}

Test(compact, a_crash_at_any_step_of_a_pass_leaves_old_or_new, .timeout = 300)
{
    static const int ops[] = {EVL_OS_RENAME, EVL_OS_FSYNC, EVL_OS_OPEN, EVL_OS_PWRITE,
                              EVL_OS_FALLOCATE};
    static const char *const names[] = {"rename", "fsync", "open", "pwrite", "fallocate"};
    int crashes = 0;
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (int after = 0;; after++) {
            test_dir_teardown();
            test_dir_setup();
            evl_config_t *c = compact_cfg(NULL, NULL);
            evl_producer_t *p;
            evl_log_t *log = test_open_topic(c, "t", 1, &p);
            for (int i = 0; i < CRASH_N; i++) {
                char k[16], v[24];
                snprintf(k, sizeof k, "c%d", i % CRASH_KEYS);
                snprintf(v, sizeof v, "%d", i);
                evl_msg_t m = {k, strlen(k), v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
                cr_assert_eq(evl_producer_send(p, &m, 0), 0);
            }
            evl_producer_close(p);
            evl_log_close(log);
            evl_config_free(c);
            pid_t pid = fork();
            cr_assert_geq(pid, 0);
            if (pid == 0)
                crash_child(ops[o], after);
            int st;
            cr_assert_eq(waitpid(pid, &st, 0), pid);
            cr_assert(WIFEXITED(st), "child died of a signal");
            int code = WEXITSTATUS(st);
            cr_assert(code == 0 || code == EVL_TEST_FAULT_EXIT, "%s #%d: child exit %d",
                      names[o], after, code);
            check_crash(after % 2 ? "rebuild" : "auto");
            check_crash("rebuild");
            /* And a pass now completes. */
            evl_config_t *c2 = compact_cfg(NULL, NULL);
            log = test_open(c2);
            cr_assert_eq(evl_topic_compact(log, "t"), 0, "%s #%d", names[o], after);
            evl_log_close(log);
            evl_config_free(c2);
            check_crash("auto");
            if (code == 0)
                break; /* the pass made fewer such steps: all covered */
            crashes++;
            cr_assert_lt(after, 400, "a pass of this size makes no 400 %s steps", names[o]);
        }
    }
    cr_log_info("crash before each step of a compaction pass: %d crash points", crashes);
    cr_assert_gt(crashes, 10);
}
