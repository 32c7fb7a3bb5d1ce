/*
 * test_produce.c - producing and reading: keys and order, batches, headers,
 * seeks by offset and time, waits woken across threads and processes, many
 * threads and several processes appending to one partition.
 */
#include "helpers.h"
#include "os.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "record.h"
#include "spin.h"

TestSuite(produce, .init = test_dir_setup, .fini = test_dir_teardown);


Test(produce, same_key_same_partition_in_order)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 4, &prod);
    int32_t part_of[10];
    for (int i = 0; i < 200; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "k%d", i % 10);
        snprintf(v, sizeof v, "%d", i);
        int32_t p;
        int64_t off;
        cr_assert_eq(evl_producer_send_kv(prod, k, strlen(k), v, strlen(v), &p, &off), 0);
        if (i < 10)
            part_of[i] = p;
        else
            cr_assert_eq(p, part_of[i % 10]);
        cr_assert_eq(p, evl_producer_partition_for(prod, k, strlen(k)));
    }
    /* Each partition returns its keys' values in send order, offsets 0.. */
    int last[10];
    memset(last, -1, sizeof last);
    int total = 0;
    for (int p = 0; p < 4; p++) {
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(log, "t", p, &rd), 0);
        const evl_record_t *r;
        int64_t expect = 0;
        while (evl_reader_next(rd, 0, &r) == 0) {
            cr_assert_eq(evl_record_offset(r), expect++);
            cr_assert_eq(evl_record_partition(r), p);
            cr_assert_str_eq(evl_record_topic(r), "t");
            size_t kl, vl;
            const char *k = evl_record_key(r, &kl);
            const char *v = evl_record_value(r, &vl);
            char kb[8] = {0}, vb[16] = {0};
            memcpy(kb, k, kl);
            memcpy(vb, v, vl);
            int ki = atoi(kb + 1), vi = atoi(vb);
            cr_assert_eq(vi % 10, ki);
            cr_assert_gt(vi, last[ki]);
            last[ki] = vi;
            total++;
        }
        evl_reader_close(rd);
    }
    cr_assert_eq(total, 200);
    evl_producer_close(prod);
    evl_log_close(log);
}

Test(produce, keyless_round_robin_and_sticky)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 4, NULL), 0);
    evl_config_t *rr = test_cfg("partitioner.keyless", "round-robin", NULL);
    evl_config_t *st = test_cfg("sticky.records", "8", NULL);
    evl_producer_t *a, *b;
    cr_assert_eq(evl_producer_new(log, "t", rr, &a), 0);
    cr_assert_eq(evl_producer_new(log, "t", st, &b), 0);
    int32_t p, prev = -1;
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(evl_producer_send_kv(a, NULL, 0, "x", 1, &p, NULL), 0);
        cr_assert_eq(p, i % 4);
    }
    for (int i = 0; i < 32; i++) {
        cr_assert_eq(evl_producer_send_kv(b, NULL, 0, "x", 1, &p, NULL), 0);
        if (i % 8)
            cr_assert_eq(p, prev, "sticky producer moved within a batch");
        prev = p;
    }
    for (int q = 0; q < 4; q++) {
        evl_partition_info_t pi;
        evl_partition_info(log, "t", q, &pi);
        cr_assert_eq(pi.end_offset, 2 + 8);
    }
    evl_producer_close(a);
    evl_producer_close(b);
    evl_log_close(log);
    evl_config_free(rr);
    evl_config_free(st);
}

Test(produce, batch_is_contiguous_and_headers_survive)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 2, &prod);
    evl_header_t hs[2] = {{"trace-id", 8, "abc", 3}, {"empty", 5, "", 0}};
    evl_msg_t msgs[100];
    char vals[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(vals[i], 16, "v%d", i);
        msgs[i] = (evl_msg_t){NULL, 0, vals[i], strlen(vals[i]), hs, 2, 1000 + i, i % 2, -1};
    }
    cr_assert_eq(evl_producer_send_batch(prod, msgs, 100, 0), 0);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(msgs[i].partition, i % 2);
        cr_assert_eq(msgs[i].offset, i / 2);
    }
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 1, &rd), 0);
    const evl_record_t *r;
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_timestamp(r), 1000 + 2 * i + 1);
        evl_header_t h;
        cr_assert_eq(evl_record_header_count(r), 2);
        cr_assert_eq(evl_record_header_get(r, "trace-id", &h), 0);
        cr_assert_eq(h.value_len, 3);
        cr_assert_eq(evl_record_header_get(r, "empty", &h), 0);
        cr_assert_not_null(h.value);
        cr_assert_eq(h.value_len, 0);
    }
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ETIMEDOUT);
    evl_reader_close(rd);
    cr_assert_eq(evl_producer_send_batch(prod, NULL, 0, 0), 0);
    evl_producer_close(prod);
    evl_log_close(log);
}

Test(produce, bad_input_is_refused_cleanly)
{
    evl_config_t *cfg = test_cfg("max.message.bytes", "1024", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 2, &prod);
    static char big[2048];
    evl_msg_t m = {NULL, 0, big, sizeof big, NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ETOOBIG);
    cr_assert_eq(m.offset, -1);
    m.value_len = 100;
    m.partition = 7;
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_EINVAL);
    m.partition = 0;
    m.value = NULL; /* NULL with a length */
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_EINVAL);
    cr_assert_eq(evl_producer_send(NULL, &m, 0), EVL_EINVAL);
    evl_producer_t *p2 = (evl_producer_t *)1;
    cr_assert_eq(evl_producer_new(log, "missing", NULL, &p2), EVL_ENOTFOUND);
    cr_assert_null(p2);
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_eq(pi.end_offset, 0, "nothing may be appended by refused sends");
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(produce, seek_offsets_and_range_errors)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "131072", "index.interval.bytes", "256", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    char v[200];
    memset(v, 'x', sizeof v);
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(v, sizeof v, "%d", i);
        v[n] = 'x';
        evl_msg_t m = {NULL, 0, v, sizeof v, NULL, 0, -1, 0, -1};
        cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    }
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_gt(pi.segments, 3, "expected several segments");
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int64_t probes[] = {0, 1, 255, 1024, 1999, 2998, 2999};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        cr_assert_eq(evl_reader_seek(rd, probes[i]), 0);
        cr_assert_eq(evl_reader_position(rd), probes[i]);
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), probes[i]);
        size_t vl;
        cr_assert_eq(atoi(evl_record_value(r, &vl)), probes[i]);
    }
    cr_assert_eq(evl_reader_seek(rd, EVL_OFFSET_END), 0);
    cr_assert_eq(evl_reader_position(rd), 3000);
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ETIMEDOUT);
    cr_assert_eq(evl_reader_seek(rd, 3001), EVL_EOFFSET);
    cr_assert_eq(evl_reader_seek(rd, -7), EVL_EOFFSET);
    /* Reading straight through crosses every segment boundary. */
    cr_assert_eq(evl_reader_seek(rd, EVL_OFFSET_BEGINNING), 0);
    int64_t n = 0;
    while (evl_reader_next(rd, 0, &r) == 0)
        cr_assert_eq(evl_record_offset(r), n++);
    cr_assert_eq(n, 3000);
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(produce, seek_by_time)
{
    /* Timestamps from 1970: without retention.ms=-1, retention after each
     * roll would delete them. */
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", "index.interval.bytes", "128",
                                 "retention.ms", "-1", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    for (int i = 0; i < 2000; i++) {
        char v[64];
        snprintf(v, sizeof v, "%d", i);
        evl_msg_t m = {NULL, 0, v, 60, NULL, 0, 10000 + i * 10, 0, -1};
        cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    }
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    cr_assert_eq(evl_reader_seek_time(rd, 0), 0);
    cr_assert_eq(evl_reader_position(rd), 0);
    cr_assert_eq(evl_reader_seek_time(rd, 10000 + 1234 * 10), 0);
    cr_assert_eq(evl_reader_position(rd), 1234);
    cr_assert_eq(evl_reader_seek_time(rd, 10000 + 1234 * 10 - 5), 0);
    cr_assert_eq(evl_reader_position(rd), 1234);
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_eq(evl_record_timestamp(r), 10000 + 12340);
    cr_assert_eq(evl_reader_seek_time(rd, 99999999), 0);
    cr_assert_eq(evl_reader_position(rd), 2000);
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

struct waiter {
    evl_log_t *log;
    int64_t got;
    int rc;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    evl_reader_t *rd;
    evl_reader_open(w->log, "t", 0, &rd);
    const evl_record_t *r;
    w->rc = evl_reader_next(rd, 10000, &r);
    w->got = w->rc == 0 ? evl_record_offset(r) : -1;
    evl_reader_close(rd);
    return NULL;
}

Test(produce, blocked_reader_woken_by_another_thread)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &prod);
    struct waiter w = {log, -1, -1};
    pthread_t th;
    pthread_create(&th, NULL, wait_thread, &w);
    usleep(50000);
    test_send(prod, 0, NULL, "wake", 0);
    pthread_join(th, NULL);
    cr_assert_eq(w.rc, 0);
    cr_assert_eq(w.got, 0);
    /* A timeout with nothing to read says so. */
    evl_reader_t *rd;
    evl_reader_open(log, "t", 0, &rd);
    evl_reader_seek(rd, EVL_OFFSET_END);
    const evl_record_t *r;
    cr_assert_eq(evl_reader_next(rd, 30, &r), EVL_ETIMEDOUT);
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
}

static void *paced_sender(void *arg)
{
    for (int i = 0; i < 20; i++) {
        usleep(2000);
        test_send(arg, 0, NULL, "paced", 0);
    }
    return NULL;
}

/* A waiting read spins first (evl_reader_set_spin_us): records that come
 * within the spin are taken without a futex sleep; with no spin every wait
 * sleeps; a spin never outlasts the read's timeout. */
Test(produce, waiting_reader_spins_before_sleeping)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &prod);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    for (int k = 0; k < 2; k++) {
        evl_reader_set_spin_us(rd, k ? 1000000 : 0);
        int64_t sleeps = evl_log_stat(log, EVL_STAT_READ_SLEEPS);
        pthread_t th;
        pthread_create(&th, NULL, paced_sender, prod);
        for (int i = 0; i < 20; i++) {
            cr_assert_eq(evl_reader_next(rd, -1, &r), 0);
            cr_assert_eq(evl_record_offset(r), k * 20 + i);
        }
        pthread_join(th, NULL);
        if (k)
            cr_assert_eq(evl_log_stat(log, EVL_STAT_READ_SLEEPS), sleeps, "a 1 s spin slept");
        else
            cr_assert_gt(evl_log_stat(log, EVL_STAT_READ_SLEEPS), sleeps, "no spin: it sleeps");
    }
    int64_t t0 = evl_mono_ns();
    cr_assert_eq(evl_reader_next(rd, 30, &r), EVL_ETIMEDOUT);
    int64_t took = evl_mono_ns() - t0;
    cr_assert(took >= 30000000 && took < 500000000, "a 30 ms read with a 1 s spin took %lld ns",
              (long long)took);
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
}

/* The spin policy: a spin ends when a word moves; after EVL_SPIN_MISSES
 * failed spins the next EVL_SPIN_SKIP waits sleep at once, then it tries
 * again; no spin on request. */
Test(produce, failing_spins_are_left_out_for_a_while)
{
    evl_spin_t sp;
    evl__spin_init(&sp, 100);
    _Atomic uint64_t w = 5;
    _Atomic uint64_t *wp = &w;
    uint64_t seen = 5;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < EVL_SPIN_MISSES; i++) {
            cr_assert(evl__spin_wanted(&sp));
            int64_t t0 = evl_mono_ns();
            cr_assert_not(evl__spin(&sp, &wp, &seen, 1, 0));
            cr_assert_geq(evl_mono_ns() - t0, 100000);
        }
        for (int i = 0; i < EVL_SPIN_SKIP; i++)
            cr_assert_not(evl__spin_wanted(&sp), "wait %d after the misses spun", i);
    }
    cr_assert(evl__spin_wanted(&sp));
    atomic_store(&w, 6);
    cr_assert(evl__spin(&sp, &wp, &seen, 1, 0));
    /* A deadline before the spin's end ends it. */
    evl__spin_init(&sp, 1000000);
    int64_t t0 = evl_mono_ns();
    seen = 6;
    cr_assert_not(evl__spin(&sp, &wp, &seen, 1, t0 + 2000000));
    cr_assert_lt(evl_mono_ns() - t0, 500000000);
    evl__spin_init(&sp, 0);
    cr_assert_not(evl__spin_wanted(&sp));
}

Test(produce, blocked_reader_woken_by_another_process)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &prod);
    evl_producer_close(prod);
    evl_log_close(log);
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        evl_log_t *l;
        evl_reader_t *rd;
        if (evl_log_open(tpath("log"), NULL, &l) || evl_reader_open(l, "t", 0, &rd))
            _exit(2);
        if (write(pipefd[1], "r", 1) != 1)
            _exit(3);
        const evl_record_t *r;
        int rc = evl_reader_next(rd, 10000, &r);
        size_t vl;
        int ok = rc == 0 && evl_record_offset(r) == 0 &&
                 memcmp(evl_record_value(r, &vl), "hello", 5) == 0;
        evl_reader_close(rd);
        evl_log_close(l);
        _exit(ok ? 0 : 1);
    }
    char c;
    cr_assert_eq(read(pipefd[0], &c, 1), 1);
    usleep(50000); /* let the child sleep on the futex */
    log = test_open(NULL);
    cr_assert_eq(evl_producer_new(log, "t", NULL, &prod), 0);
    test_send(prod, 0, NULL, "hello", 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    evl_producer_close(prod);
    evl_log_close(log);
}

struct sender {
    evl_producer_t *prod;
    int id, n;
};

static void *send_thread(void *arg)
{
    struct sender *s = arg;
    for (int i = 0; i < s->n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%d:%d", s->id, i);
        evl_msg_t m = {NULL, 0, v, strlen(v), NULL, 0, -1, 0, -1};
        if (evl_producer_send(s->prod, &m, 0))
            return (void *)1;
    }
    return NULL;
}

/* Check partition 0 holds n records per writer, each writer's in order. */
static void check_writers(evl_log_t *log, int writers, int n)
{
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    int next[16] = {0};
    const evl_record_t *r;
    int64_t off = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        cr_assert_eq(evl_record_offset(r), off++);
        size_t vl;
        const char *v = evl_record_value(r, &vl);
        int id, i;
        cr_assert_eq(sscanf(v, "%d:%d", &id, &i), 2);
        cr_assert_eq(i, next[id]++, "writer %d out of order", id);
    }
    cr_assert_eq(off, (int64_t)writers * n);
    evl_reader_close(rd);
}

Test(produce, many_threads_one_partition)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "262144", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    int n = test_quick() ? 2000 : 10000;
    pthread_t th[4];
    struct sender s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct sender){prod, i, n};
        pthread_create(&th[i], NULL, send_thread, &s[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        cr_assert_null(ret);
    }
    check_writers(log, 4, n);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(produce, several_processes_one_partition)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "262144", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    evl_producer_close(prod);
    evl_log_close(log);
    int n = test_quick() ? 1000 : 5000;
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            evl_log_t *l;
            evl_producer_t *p;
            if (evl_log_open(tpath("log"), NULL, &l) || evl_producer_new(l, "t", NULL, &p))
                _exit(2);
            struct sender s = {p, i, n};
            void *r = send_thread(&s);
            evl_producer_close(p);
            evl_log_close(l);
            _exit(r ? 1 : 0);
        }
    }
    for (int i = 0; i < 3; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    log = test_open(cfg);
    check_writers(log, 3, n);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(produce, writer_killed_holding_the_lock_does_not_block_others)
{
    evl_producer_t *prod;
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    test_send(prod, 0, NULL, "before", 0);
    pid_t pid = fork();
    if (pid == 0) {
        /* Take the append lock directly and die with it held: the state a
         * writer killed mid-append leaves. */
        evl_log_t *l;
        evl_producer_t *p;
        if (evl_log_open(tpath("log"), NULL, &l) || evl_producer_new(l, "t", NULL, &p))
            _exit(2);
        evl_msg_t m = {NULL, 0, "x", 1, NULL, 0, -1, 0, -1};
        evl_producer_send(p, &m, 0); /* maps the partition */
        extern void evl_test_hold_append_lock(evl_log_t *, const char *, int);
        evl_test_hold_append_lock(l, "t", 0);
        raise(SIGKILL);
    }
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFSIGNALED(status));
    /* The next append must repair and go on, not hang. */
    cr_assert_eq(test_send(prod, 0, NULL, "after", 0), 2);
    evl_reader_t *rd;
    evl_reader_open(log, "t", 0, &rd);
    const evl_record_t *r;
    int n = 0;
    while (evl_reader_next(rd, 0, &r) == 0)
        n++;
    cr_assert_eq(n, 3);
    evl_reader_close(rd);
    cr_assert(strstr(test_logbuf, "died holding the append lock"), "log: %s", test_logbuf);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* The value written for offset off: its decimal digits, then a pattern, of
 * a length that varies with off. */
static size_t scan_value(int64_t off, char *buf)
{
    size_t n = (size_t)snprintf(buf, 32, "%lld:", (long long)off);
    size_t len = n + (size_t)(off * 37 % 1500);
    for (size_t i = n; i < len; i++)
        buf[i] = (char)('a' + (off + (int64_t)i) % 26);
    return len;
}

static void scan_check(const evl_record_t *r, int64_t want)
{
    char buf[1600];
    size_t len, wl = scan_value(want, buf);
    cr_assert_eq(evl_record_offset(r), want);
    const char *v = evl_record_value(r, &len);
    cr_assert_eq(len, wl, "offset %lld: length %zu, want %zu", (long long)want, len, wl);
    cr_assert_eq(memcmp(v, buf, len), 0, "offset %lld: wrong bytes", (long long)want);
}

/* A reader's fast path (next record of a frame, first record of the next
 * frame) and its general path (segment ends, the resident-set window, seeks
 * into the middle of a batch) hand over to each other at every boundary:
 * single sends and batches of 2-9 records, mixed, over small segments (many
 * rolls) and over one segment larger than the 16 MiB window. */
Test(produce, scans_and_seeks_cross_frames_segments_and_windows)
{
    const char *seg_sizes[] = {"65536", "67108864"};
    const int64_t counts[] = {3000, 40000}; /* ~2 MB, ~30 MB */
    for (int t = 0; t < 2; t++) {
        evl_config_t *cfg = test_cfg("segment.bytes", seg_sizes[t], NULL);
        evl_producer_t *prod;
        evl_log_t *log = test_open_topic(cfg, "s", 1, &prod);
        static char vals[9][1600];
        evl_msg_t m[9];
        int64_t off = 0;
        for (int call = 0; off < counts[t]; call++) {
            int n = call % 2 ? 1 : 1 + (call / 2) % 9; /* 1, 2, 1, 3, ... 1, 9 */
            if (off + n > counts[t])
                n = (int)(counts[t] - off);
            for (int i = 0; i < n; i++) {
                size_t len = scan_value(off + i, vals[i]);
                m[i] = (evl_msg_t){"k", 1, vals[i], len, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
            }
            int rc = n == 1 ? evl_producer_send(prod, m, 0) : evl_producer_send_batch(prod, m, (size_t)n, 0);
            cr_assert_eq(rc, 0, "send: %s", evl_errname(rc));
            cr_assert_eq(m[0].offset, off);
            off += n;
        }
        for (int check = 0; check < 2; check++) {
            evl_reader_t *rd;
            cr_assert_eq(evl_reader_open(log, "s", 0, &rd), 0);
            evl_reader_set_check_crcs(rd, check);
            const evl_record_t *r;
            int64_t want = 0;
            int rc;
            while ((rc = evl_reader_next(rd, 0, &r)) == 0)
                scan_check(r, want++);
            cr_assert_eq(rc, EVL_ETIMEDOUT);
            cr_assert_eq(want, counts[t], "scanned %lld of %lld", (long long)want,
                         (long long)counts[t]);
            /* Seeks anywhere (inside batches too), then a few records on. */
            for (int i = 0; i < 300; i++) {
                int64_t at = (int64_t)(((uint64_t)i * 2654435761u) % (uint64_t)counts[t]);
                cr_assert_eq(evl_reader_seek(rd, at), 0);
                for (int k = 0; k < 12 && at + k < counts[t]; k++) {
                    cr_assert_eq(evl_reader_next(rd, 0, &r), 0, "after seek to %lld", (long long)at);
                    scan_check(r, at + k);
                }
            }
            evl_reader_close(rd);
        }
        /* Nothing was skipped or reported damaged on the way. */
        cr_assert_null(strstr(test_logbuf, "[3]"), "log: %s", test_logbuf);
        cr_assert_null(strstr(test_logbuf, "[4]"), "log: %s", test_logbuf);
        evl_producer_close(prod);
        evl_log_close(log);
        evl_config_free(cfg);
        test_dir_teardown();
        test_dir_setup();
    }
}

/* Issue 18: max.message.bytes is exact: key + value + header names and
 * values may add up to the limit, not one byte more (a 1032-byte value used
 * to pass a 1024 limit), in single sends and in batches alike. */
Test(produce, max_message_bytes_is_exact)
{
    evl_config_t *cfg = test_cfg("max.message.bytes", "1024", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    static char v[2048];
    memset(v, 'v', sizeof v);
    evl_msg_t m = {NULL, 0, v, 1024, NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    m.value_len = 1025;
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ETOOBIG);
    m.value_len = 1032;
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ETOOBIG);
    m.key = "key";
    m.key_len = 3;
    m.value_len = 1021;
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    m.value_len = 1022;
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ETOOBIG);
    evl_header_t h = {"hh", 2, "xyz", 3};
    m.headers = &h;
    m.header_count = 1;
    m.value_len = 1016;
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    m.value_len = 1017;
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ETOOBIG);
    /* A batch: each record is checked the same way... */
    evl_msg_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (evl_msg_t){NULL, 0, v, 400, NULL, 0, -1, 0, -1};
    b[5].value_len = 1025;
    cr_assert_eq(evl_producer_send_batch(prod, b, 8, 0), EVL_ETOOBIG);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(b[i].offset, -1, "nothing of a refused batch is written");
    /* ...and one within the limit is written in frames of at most 1024
     * bytes of records each (2 records of 400 per frame here). */
    b[5].value_len = 400;
    cr_assert_eq(evl_producer_send_batch(prod, b, 8, 0), 0);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(b[i].offset, 3 + i);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    cr_assert_eq(pi.end_offset, 11);
    /* Format 2 (record.h): a frame header of 9 bytes and five varints
     * (base_rel, count, last_delta, max_delta of one byte each here, and
     * the base timestamp's), frames 4-aligned. 3 single frames: records of
     * a 2-byte length, then ts, delta, key, header count (1 byte each),
     * value length (2), data: 1024 -> 1032, 3+1021 -> 1032, 3+1016 plus a
     * 7-byte header -> 1034. Then 4 frames of 2 records of 400 with a
     * checksum each: 2 + 4 + 1+1+1+2+1 + 400 = 412. */
    int64_t hdr = 9 + 4 + evl__vlen((uint64_t)evl_now_ms());
    int64_t singles = EVL_ALIGN_UP(hdr + 1032, 4) + EVL_ALIGN_UP(hdr + 1032, 4) +
                      EVL_ALIGN_UP(hdr + 1034, 4);
    cr_assert_eq(pi.bytes, singles + 4 * EVL_ALIGN_UP(hdr + 2 * 412, 4), "bytes %lld",
                 (long long)pi.bytes);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Issue 18: evl_log_close with children still open used to free what they
 * use (segfault, heap-use-after-free under ASan). Now their calls fail with
 * EVL_ESTATE and the last child's close releases the log. */
Test(produce, log_close_with_open_children_is_safe)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 2, &prod);
    test_send(prod, 0, NULL, "a", 0);
    test_send(prod, 0, NULL, "b", 0);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    evl_config_t *ccfg = evl_config_new();
    evl_config_set(ccfg, "group.id", "g", NULL, 0);
    evl_consumer_t *cons;
    cr_assert_eq(evl_consumer_new(log, ccfg, &cons), 0);
    evl_topic_partition_t tp = {"t", 0, EVL_OFFSET_BEGINNING};
    cr_assert_eq(evl_consumer_assign(cons, &tp, 1), 0);
    evl_log_close(log);
    cr_assert(strstr(test_logbuf, "3 producer(s), reader(s) or consumer(s) are still open"), "%s",
              test_logbuf);
    evl_msg_t m = {NULL, 0, "c", 1, NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ESTATE);
    cr_assert_eq(evl_producer_send_batch(prod, &m, 1, 0), EVL_ESTATE);
    cr_assert_eq(evl_producer_flush(prod), EVL_ESTATE);
    const evl_record_t *rec;
    cr_assert_eq(evl_reader_seek(rd, 0), EVL_ESTATE);
    cr_assert_eq(evl_reader_next(rd, 0, &rec), EVL_ESTATE);
    const evl_record_t *recs[4];
    size_t n;
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 4, &n), EVL_ESTATE);
    cr_assert_eq(evl_consumer_commit(cons), EVL_ESTATE);
    cr_assert_eq(evl_consumer_seek(cons, "t", 0, 0), EVL_ESTATE);
    evl_producer_close(prod);
    evl_reader_close(rd);
    evl_consumer_close(cons); /* the last one: the log goes now */
    evl_config_free(ccfg);
    evl_config_free(cfg);
    /* Nothing was lost: what was sent is there for the next handle. */
    log = test_open(NULL);
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &rec), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &rec), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &rec), EVL_ETIMEDOUT);
    evl_reader_close(rd);
    evl_log_close(log);
}

/* Issue 18: send flag bits that mean nothing are refused, not ignored. */
Test(produce, unknown_send_flags_are_refused)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &prod);
    evl_msg_t m = {NULL, 0, "x", 1, NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0x4), EVL_EINVAL);
    cr_assert_eq(evl_producer_send(prod, &m, 0x100 | EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC)),
                 EVL_EINVAL);
    cr_assert_eq(evl_producer_send_batch(prod, &m, 1, 1 << 30), EVL_EINVAL);
    cr_assert_eq(m.offset, -1);
    cr_assert_eq(evl_producer_send(prod, &m, EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC)), 0);
    cr_assert_eq(m.offset, 0, "only the valid send was appended");
    evl_producer_close(prod);
    evl_log_close(log);
}

/* Issue 18: a producer whose topic was deleted (or deleted and created
 * again) went on returning 0 with offsets for records that went nowhere,
 * and flush returned 0. */
Test(produce, deleted_topic_is_enotfound_for_its_producers)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 2, &prod);
    evl_log_t *other = test_open(cfg); /* as another process would */
    evl_producer_t *oprod;
    cr_assert_eq(evl_producer_new(other, "t", NULL, &oprod), 0);
    test_send(prod, 0, NULL, "a", 0);
    test_send(oprod, 0, NULL, "b", 0); /* partition 1 not yet open in `other` */
    cr_assert_eq(evl_topic_delete(log, "t"), 0);
    evl_msg_t m = {NULL, 0, "x", 1, NULL, 0, -1, 0, -1};
    for (int p = 0; p < 2; p++) {
        m.partition = p;
        cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ENOTFOUND, "p%d", p);
        cr_assert_eq(evl_producer_send(oprod, &m, 0), EVL_ENOTFOUND, "other p%d", p);
        cr_assert_eq(m.offset, -1);
        cr_assert_eq(evl_producer_send_batch(oprod, &m, 1, 0), EVL_ENOTFOUND);
    }
    cr_assert_eq(evl_producer_flush(prod), EVL_ENOTFOUND);
    cr_assert_eq(evl_producer_flush(oprod), EVL_ENOTFOUND);
    /* Created again: a new topic, which the old producers do not write to. */
    cr_assert_eq(evl_topic_create(log, "t", 2, NULL), 0);
    m.partition = 0;
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_ENOTFOUND);
    cr_assert_eq(evl_producer_send(oprod, &m, 0), EVL_ENOTFOUND);
    evl_producer_t *np;
    cr_assert_eq(evl_producer_new(other, "t", NULL, &np), 0);
    cr_assert_eq(test_send(np, 0, NULL, "new", 0), 0, "the new topic starts at 0");
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *rec;
    cr_assert_eq(evl_reader_next(rd, 0, &rec), 0);
    size_t n;
    cr_assert_eq(memcmp(evl_record_value(rec, &n), "new", 3), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &rec), EVL_ETIMEDOUT);
    evl_reader_close(rd);
    evl_producer_close(np);
    evl_producer_close(oprod);
    evl_producer_close(prod);
    evl_log_close(other);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* A send racing a delete gets 0 (it came first) or EVL_ENOTFOUND, never a
 * system error such as -ENOENT; after the delete, only EVL_ENOTFOUND. */
struct race {
    evl_producer_t *prod;
    _Atomic int deleted, stop;
    int bad, late_ok;
};

static void *race_sender(void *arg)
{
    struct race *r = arg;
    int i = 0;
    while (!atomic_load(&r->stop)) {
        int after = atomic_load(&r->deleted);
        evl_msg_t m = {NULL, 0, "v", 1, NULL, 0, -1, i++ % 4, -1};
        int rc = evl_producer_send(r->prod, &m, 0);
        if (rc != 0 && rc != EVL_ENOTFOUND)
            r->bad = rc;
        if (after && rc == 0)
            r->late_ok++;
    }
    return NULL;
}

Test(produce, send_racing_a_delete_is_ok_or_enotfound)
{
    for (int round = 0; round < (test_quick() ? 5 : 20); round++) {
        evl_log_t *log = test_open(NULL), *other = test_open(NULL);
        cr_assert_eq(evl_topic_create(log, "r", 4, NULL), 0);
        struct race r = {0};
        cr_assert_eq(evl_producer_new(other, "r", NULL, &r.prod), 0);
        pthread_t th;
        pthread_create(&th, NULL, race_sender, &r);
        usleep(2000 + round * 300);
        cr_assert_eq(evl_topic_delete(log, "r"), 0);
        atomic_store(&r.deleted, 1);
        usleep(2000);
        atomic_store(&r.stop, 1);
        pthread_join(th, NULL);
        cr_assert_eq(r.bad, 0, "round %d: %s", round, evl_errname(r.bad));
        cr_assert_eq(r.late_ok, 0, "round %d: %d sends succeeded after the delete", round,
                     r.late_ok);
        evl_producer_close(r.prod);
        evl_log_close(other);
        evl_log_close(log);
    }
}

/* Issue 18: a send failing with ENOSPC in the middle of a multi-partition
 * batch left part of it on disk unacknowledged. The contract is exact
 * reporting: the records written have their offsets set, the others -1,
 * and the log holds exactly the former. */
Test(produce, failed_batch_reports_exactly_what_was_written)
{
    evl_config_t *cfg = test_cfg("max.message.bytes", "4096", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 2, &prod);
    enum { N = 400 };
    evl_msg_t msgs[N];
    static char v[100];
    memset(v, 'v', sizeof v);
    /* Partition 0: 10 records (they fit the first allocation); partition 1:
     * 390 (frames of ~40 records; the segment must grow after a few). */
    for (int i = 0; i < N; i++)
        msgs[i] = (evl_msg_t){NULL, 0, v, sizeof v, NULL, 0, -1, i < 10 ? 0 : 1, -1};
    test_send(prod, 0, NULL, "first", 0); /* both partitions open before the fault */
    test_send(prod, 1, NULL, "first", 0);
    evl_test_fault(EVL_OS_FALLOCATE, 0, ENOSPC, -1);
    int rc = evl_producer_send_batch(prod, msgs, N, 0);
    evl_test_fault_clear();
    cr_assert_eq(rc, EVL_ENOSPC, "%s", evl_errname(rc));
    int written[2] = {1, 1};
    for (int i = 0; i < N; i++)
        if (msgs[i].offset >= 0) {
            cr_assert_eq(msgs[i].offset, written[msgs[i].partition]++, "record %d", i);
            cr_assert(i < 10 || msgs[i - 1].offset >= 0, "written records are a prefix");
        }
    cr_assert_eq(written[0], 11);
    cr_assert_gt(written[1], 1, "part of partition 1's records went before the failure");
    cr_assert_lt(written[1], N - 9);
    for (int p = 0; p < 2; p++) {
        evl_partition_info_t pi;
        cr_assert_eq(evl_partition_info(log, "t", p, &pi), 0);
        cr_assert_eq(pi.end_offset, written[p], "partition %d holds %lld, %d were reported", p,
                     (long long)pi.end_offset, written[p]);
    }
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Found in review: a batch record with a partition below -22 was skipped
 * silently (0 returned, nothing sent); every negative partition other than
 * EVL_PARTITION_ANY is EVL_EINVAL, as for single sends. */
Test(produce, batch_with_a_negative_partition_is_refused)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 2, &prod);
    int32_t bad[] = {-2, -5, -22, -23, -100, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evl_msg_t m[2] = {{NULL, 0, "a", 1, NULL, 0, -1, 0, -1},
                          {NULL, 0, "b", 1, NULL, 0, -1, bad[i], -1}};
        cr_assert_eq(evl_producer_send_batch(prod, m, 2, 0), EVL_EINVAL, "partition %d",
                     bad[i]);
        cr_assert_eq(m[0].offset, -1, "nothing of a refused batch is written");
        cr_assert_eq(evl_producer_send(prod, &m[1], 0), EVL_EINVAL);
    }
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    cr_assert_eq(pi.end_offset, 0);
    evl_producer_close(prod);
    evl_log_close(log);
}

/* Issue 19: a producer of any topic (Kafka's shape). */
Test(produce, a_producer_of_any_topic_names_the_topic_in_each_send)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "a", 2, NULL), 0);
    evl_config_t *fs = test_cfg("durability", "fsync", NULL);
    cr_assert_eq(evl_topic_create(log, "b", 1, fs), 0);
    evl_config_free(fs);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_open(log, NULL, &p), 0);
    evl_msg_t m = {"k", 1, "v", 1, NULL, 0, EVL_TIMESTAMP_NOW, EVL_PARTITION_ANY, -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), EVL_ESTATE, "no topic to send to");
    cr_assert_eq(evl_producer_send_to(p, "nope", &m, 0), EVL_ENOTFOUND);
    for (int i = 0; i < 10; i++) {
        m.partition = EVL_PARTITION_ANY; /* an out parameter too */
        cr_assert_eq(evl_producer_send_to(p, "a", &m, 0), 0);
        m.partition = EVL_PARTITION_ANY;
        cr_assert_eq(evl_producer_send_to(p, "b", &m, 0), 0);
        cr_assert_eq(m.offset, i);
    }
    evl_msg_t batch[3] = {
        {"x", 1, "1", 1, NULL, 0, EVL_TIMESTAMP_NOW, EVL_PARTITION_ANY, -1},
        {"y", 1, "2", 1, NULL, 0, EVL_TIMESTAMP_NOW, EVL_PARTITION_ANY, -1},
        {NULL, 0, "3", 1, NULL, 0, EVL_TIMESTAMP_NOW, 1, -1},
    };
    cr_assert_eq(evl_producer_send_batch_to(p, "a", batch, 3, 0), 0);
    cr_assert_eq(batch[2].partition, 1);
    cr_assert_eq(evl_producer_flush(p), 0);
    evl_partition_info_t pa0, pa1, pb;
    cr_assert_eq(evl_partition_info(log, "a", 0, &pa0), 0);
    cr_assert_eq(evl_partition_info(log, "a", 1, &pa1), 0);
    cr_assert_eq(evl_partition_info(log, "b", 0, &pb), 0);
    cr_assert_eq(pa0.end_offset + pa1.end_offset, 13);
    cr_assert_eq(pb.end_offset, 10);
    /* The same key lands where a bound producer puts it. */
    evl_producer_t *bound;
    cr_assert_eq(evl_producer_new(log, "a", NULL, &bound), 0);
    m.partition = EVL_PARTITION_ANY;
    cr_assert_eq(evl_producer_send_to(p, "a", &m, 0), 0);
    cr_assert_eq(m.partition, evl_producer_partition_for(bound, "k", 1));
    cr_assert_eq(evl_producer_partition_for(p, "k", 1), EVL_ESTATE);
    cr_assert_eq(evl_producer_send_to(bound, "b", &m, 0), EVL_EINVAL, "bound to a");
    cr_assert_eq(evl_producer_send_to(bound, "a", &m, 0), 0);
    /* A deleted topic: its sends fail, the others go on. */
    cr_assert_eq(evl_topic_delete(log, "b"), 0);
    m.partition = EVL_PARTITION_ANY;
    cr_assert_eq(evl_producer_send_to(p, "b", &m, 0), EVL_ENOTFOUND);
    cr_assert_eq(evl_producer_send_to(p, "a", &m, 0), 0);
    cr_assert_eq(evl_producer_flush(p), 0);
    evl_producer_close(bound);
    evl_producer_close(p);
    evl_log_close(log);
}
