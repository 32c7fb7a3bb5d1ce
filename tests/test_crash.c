/*
 * test_crash.c - process crashes: producers SIGKILLed at random points.
 *
 * Method. The parent creates a topic and closes its handle (handles must not
 * cross fork()). Each round forks producer processes that open the log and
 * append from several threads, with one durability level per round (none,
 * interval, fsync in turn), single records and batches mixed. After each
 * send returns (for fsync: returns 0) the thread writes (writer, seq,
 * offset) to a pipe: the parent's list of acknowledged records. The parent
 * waits a random time, SIGKILLs the producers, reopens the log and checks:
 *
 *   - every acknowledged record is at its offset, intact (records verify
 *     themselves, see reliability.h); a process crash keeps the page cache,
 *     so this holds for every durability level;
 *   - offsets are contiguous from 0 and match evl_partition_info();
 *   - each writer's records form a prefix 0..m of its sequence (a send is
 *     all or nothing), with m at least its last acknowledged sequence;
 *   - the reader never returns an error (nothing fails its checksum);
 *   - the next append gets exactly the next offset, which makes the parent
 *     take the append lock: if a victim died holding it, this goes through
 *     the robust mutex's EOWNERDEAD path (evl__part_repair_tail).
 *
 * With several processes on one partition, they are killed one at a time
 * and the survivors must keep acknowledging records (a writer killed while
 * holding the append lock must not block the others), while a reader
 * process tails the partition and checks every record it sees.
 *
 * Random kills rarely land inside the few instructions of a publication, so
 * a white-box test also replays the append and roll protocols step by step
 * in a child that dies holding the lock after step k, for every k.
 *
 * Counts: the default run makes ~30 kills, EVL_TEST_QUICK=1 ~10,
 * EVL_TORTURE=1 (`make torture`) ~2000. EVL_RL_SEED replays a run.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "reliability.h"
#include "internal.h"

/* White-box: the append/roll protocol tests drive the internals. */
#include "log.h"
#include "os.h"
#include "partition.h"
#include "reader.h"
#include "record.h"
#include "segment.h"
#include "topic.h"

#define MAXV 4096       /* largest value the producers write */
#define MAXP 4          /* producer processes per round */
#define WPR 64          /* writer ids per round */

typedef struct ack {
    uint32_t writer; /* 0: an error report, seq = -rc */
    uint32_t seq;
    int64_t offset;
} ack_t;

static void ack_write(int fd, const ack_t *a, size_t n)
{
    /* n * 16 <= PIPE_BUF: one atomic write, even from several threads. */
    ssize_t r;
    do {
        r = write(fd, a, n * sizeof *a);
    } while (r < 0 && errno == EINTR);
}

/* ---- the producer process ------------------------------------------------- */

typedef struct pthread_arg {
    evl_producer_t *prod;
    int fd;
    uint32_t writer;
    int partition;
    int durability;
    uint64_t seed;
    bool batches;
} pthread_arg_t;

static void *producer_thread(void *p)
{
    pthread_arg_t *a = p;
    rl_rng_t rng = {a->seed ^ a->writer};
    static __thread uint8_t vals[8][MAXV];
    static __thread uint8_t keys[8][8];
    evl_msg_t msgs[8];
    ack_t acks[8];
    int flags = EVL_SEND_DURABILITY(a->durability);
    for (uint32_t seq = 0;;) {
        size_t k = a->batches && rl_below(&rng, 4) == 0 ? 1 + rl_below(&rng, 8) : 1;
        for (size_t i = 0; i < k; i++)
            rl_msg(&msgs[i], keys[i], vals[i], rl_len(a->seed, a->writer, seq + (uint32_t)i, MAXV),
                   a->seed, a->writer, seq + (uint32_t)i, a->partition);
        int rc = k == 1 ? evl_producer_send(a->prod, &msgs[0], flags)
                        : evl_producer_send_batch(a->prod, msgs, k, flags);
        if (rc) {
            ack_t e = {0, (uint32_t)-rc, a->writer};
            ack_write(a->fd, &e, 1);
            _exit(3);
        }
        for (size_t i = 0; i < k; i++)
            acks[i] = (ack_t){a->writer, seq + (uint32_t)i, msgs[i].offset};
        ack_write(a->fd, acks, k);
        seq += (uint32_t)k;
    }
    return NULL;
}

static __attribute__((noreturn)) void producer_main(const char *dir, const char *topic, int fd,
                                                    uint32_t writer0, int nthreads, int nparts,
                                                    int durability, uint64_t seed, bool batches)
{
    evl_log_t *log;
    evl_producer_t *prod;
    ack_t e = {0, 0, -1};
    int rc = evl_log_open(dir, NULL, &log);
    if (rc == 0)
        rc = evl_producer_new(log, topic, NULL, &prod);
    if (rc) {
        e.seq = (uint32_t)-rc;
        ack_write(fd, &e, 1);
        _exit(2);
    }
    pthread_t th[16];
    pthread_arg_t args[16];
    for (int t = 0; t < nthreads; t++) {
        args[t] = (pthread_arg_t){prod, fd, writer0 + (uint32_t)t, (int)((writer0 + t) % nparts),
                                  durability, seed, batches};
        pthread_create(&th[t], NULL, producer_thread, &args[t]);
    }
    for (;;)
        pause();
}

/* ---- a tailing reader process ------------------------------------------------ */

/* Reads partition 0 from the start while producers come and go, checking
 * every record, until stop_fd reports EOF; then reads to the end and exits
 * 0, or 10 + a reason code on the first bad record. */
static __attribute__((noreturn)) void tail_main(const char *dir, const char *topic, int stop_fd,
                                                uint64_t seed)
{
    evl_log_t *log;
    evl_reader_t *rd;
    if (evl_log_open(dir, NULL, &log) || evl_reader_open(log, topic, 0, &rd))
        _exit(9);
    int64_t n = 0;
    bool stopping = false;
    for (;;) {
        const evl_record_t *rec;
        int rc = evl_reader_next(rd, stopping ? 0 : 20, &rec);
        if (rc == EVL_ETIMEDOUT) {
            if (stopping)
                break;
            struct pollfd pfd = {stop_fd, POLLIN, 0};
            if (poll(&pfd, 1, 0) > 0)
                stopping = true;
            continue;
        }
        if (rc)
            _exit(11);
        uint32_t w, s;
        const char *why;
        if (evl_record_offset(rec) != n)
            _exit(12);
        if (rl_check(rec, seed, &w, &s, &why))
            _exit(13);
        n++;
    }
    _exit(n > 0 ? 0 : 14);
}

/* ---- the parent's bookkeeping ------------------------------------------------ */

typedef struct part_state {
    int64_t n;              /* records read at the last check */
    uint32_t *w, *s;        /* identity of the record at each offset */
    size_t cap;
} part_state_t;

typedef struct crash_ctx {
    char dir[512];
    char topic[64];
    int nparts;
    uint64_t seed;
    ack_t *acks;            /* acknowledged records of this topic */
    size_t nacks, capacks;
    int64_t *maxack;        /* per writer: highest acknowledged seq, -1 none */
    int64_t *nextseq;       /* per writer: scratch for the prefix check */
    uint32_t nwriters;
    part_state_t parts[4];
    /* totals for the report */
    long kills, rounds, records, repairs, recoveries;
} crash_ctx_t;

static void ctx_ack(crash_ctx_t *c, const ack_t *a)
{
    if (c->nacks == c->capacks) {
        c->capacks = c->capacks ? c->capacks * 2 : 4096;
        c->acks = realloc(c->acks, c->capacks * sizeof *c->acks);
        cr_assert_not_null(c->acks);
    }
    c->acks[c->nacks++] = *a;
    cr_assert_lt(a->writer, c->nwriters);
    if ((int64_t)a->seq > c->maxack[a->writer])
        c->maxack[a->writer] = a->seq;
}

/* Drain what the pipe holds now; returns 0, or -1 at EOF. Child errors fail
 * the test at once. counts[i] += acks of process i (writer0 known). */
static int drain(crash_ctx_t *c, int fd, uint32_t writer0, int nthreads, long *counts)
{
    static ack_t buf[512];
    static size_t have; /* bytes of a partial ack left from the last read */
    for (;;) {
        ssize_t r = read(fd, (char *)buf + have, sizeof buf - have);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (r <= 0) {
            cr_assert_eq(have, 0, "partial ack at EOF");
            return -1;
        }
        size_t bytes = have + (size_t)r, n = bytes / sizeof(ack_t);
        for (size_t i = 0; i < n; i++) {
            if (buf[i].writer == 0)
                cr_assert_fail("producer reported %s (%d)", evl_strerror(-(int)buf[i].seq),
                         -(int)buf[i].seq);
            ctx_ack(c, &buf[i]);
            if (counts)
                counts[(buf[i].writer - writer0) / (uint32_t)nthreads]++;
        }
        have = bytes - n * sizeof(ack_t);
        memmove(buf, (char *)buf + n * sizeof(ack_t), have);
    }
}

/* Wait up to ms for the pipe, draining it. */
static int pump(crash_ctx_t *c, int fd, int ms, uint32_t writer0, int nthreads, long *counts)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int64_t el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= ms)
            return 0;
        if (poll(&pfd, 1, (int)(ms - el)) > 0 && drain(c, fd, writer0, nthreads, counts) < 0)
            return -1;
    }
}

static void grow_state(part_state_t *ps, int64_t n)
{
    if ((size_t)n < ps->cap)
        return;
    ps->cap = (size_t)n * 2 + 1024;
    ps->w = realloc(ps->w, ps->cap * sizeof *ps->w);
    ps->s = realloc(ps->s, ps->cap * sizeof *ps->s);
    cr_assert(ps->w && ps->s);
}

/*
 * Reopen and check everything (see the top of the file); then append one
 * fsync'd marker per partition as writer `marker` and check its offset.
 */
static void verify(crash_ctx_t *c, uint32_t marker)
{
    test_logbuf[0] = 0;
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log;
    int rc = evl_log_open(c->dir, cfg, &log);
    cr_assert_eq(rc, 0, "reopen: %s", evl_strerror(rc));
    for (uint32_t w = 0; w < c->nwriters; w++)
        c->nextseq[w] = 0;
    for (int p = 0; p < c->nparts; p++) {
        part_state_t *ps = &c->parts[p];
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(log, c->topic, p, &rd), 0);
        int64_t n = 0;
        const evl_record_t *rec;
        while ((rc = evl_reader_next(rd, 0, &rec)) == 0) {
            uint32_t w, s;
            const char *why;
            cr_assert_eq(evl_record_offset(rec), n, "partition %d: offset %lld where %lld expected",
                         p, (long long)evl_record_offset(rec), (long long)n);
            cr_assert_eq(rl_check(rec, c->seed, &w, &s, &why), 0,
                         "partition %d offset %lld: %s (seed %llu)", p, (long long)n, why,
                         (unsigned long long)c->seed);
            cr_assert_lt(w, c->nwriters);
            cr_assert_eq((int64_t)s, c->nextseq[w],
                         "partition %d offset %lld: writer %u seq %u, expected seq %lld "
                         "(a send was split or duplicated)",
                         p, (long long)n, w, s, (long long)c->nextseq[w]);
            c->nextseq[w]++;
            grow_state(ps, n);
            ps->w[n] = w;
            ps->s[n] = s;
            n++;
        }
        cr_assert_eq(rc, EVL_ETIMEDOUT, "partition %d: reader stopped at %lld with %s", p,
                     (long long)n, evl_strerror(rc));
        evl_partition_info_t info;
        cr_assert_eq(evl_partition_info(log, c->topic, p, &info), 0);
        cr_assert_eq(info.start_offset, 0);
        cr_assert_eq(info.end_offset, n, "partition %d: end offset %lld but %lld records readable",
                     p, (long long)info.end_offset, (long long)n);
        cr_assert_geq(n, ps->n, "partition %d: %lld records, %lld before this round", p,
                      (long long)n, (long long)ps->n);
        ps->n = n;
        evl_reader_close(rd);
    }
    for (uint32_t w = 0; w < c->nwriters; w++)
        cr_assert_gt(c->nextseq[w], c->maxack[w],
                     "writer %u: acknowledged up to seq %lld, log has %lld", w,
                     (long long)c->maxack[w], (long long)c->nextseq[w]);
    for (size_t i = 0; i < c->nacks; i++) {
        const ack_t *a = &c->acks[i];
        part_state_t *ps = &c->parts[a->writer % (uint32_t)c->nparts];
        cr_assert(a->offset >= 0 && a->offset < ps->n, "ack of writer %u seq %u at offset %lld: "
                  "past the end (%lld)", a->writer, a->seq, (long long)a->offset, (long long)ps->n);
        cr_assert(ps->w[a->offset] == a->writer && ps->s[a->offset] == a->seq,
                  "offset %lld holds writer %u seq %u, acknowledged as writer %u seq %u",
                  (long long)a->offset, ps->w[a->offset], ps->s[a->offset], a->writer, a->seq);
    }
    /* The next append gets the next offset: this takes the append lock and
     * repairs the tail if a victim died holding it. */
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, c->topic, NULL, &prod), 0);
    for (int p = 0; p < c->nparts; p++) {
        uint32_t w = marker + (uint32_t)p;
        uint8_t key[8], val[64];
        evl_msg_t m;
        cr_assert_lt(w, c->nwriters);
        cr_assert_eq(w % (uint32_t)c->nparts, (uint32_t)p);
        rl_msg(&m, key, val, sizeof val, c->seed, w, 0, p);
        rc = evl_producer_send(prod, &m, EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC));
        cr_assert_eq(rc, 0, "marker send on partition %d: %s", p, evl_strerror(rc));
        cr_assert_eq(m.offset, c->parts[p].n, "marker got offset %lld, expected %lld",
                     (long long)m.offset, (long long)c->parts[p].n);
        ack_t a = {w, 0, m.offset};
        ctx_ack(c, &a);
        grow_state(&c->parts[p], m.offset);
        c->parts[p].w[m.offset] = w;
        c->parts[p].s[m.offset] = 0;
        c->parts[p].n++;
    }
    evl_producer_close(prod);
    c->repairs += rl_log_count("died holding the append lock");
    c->recoveries += evl_log_stat(log, EVL_STAT_RECOVERIES);
    evl_log_close(log);
    evl_config_free(cfg);
}

static void ctx_topic(crash_ctx_t *c, int epoch, int segment_bytes)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log;
    cr_assert_eq(evl_log_open(c->dir, cfg, &log), 0);
    if (epoch > 0)
        cr_assert_eq(evl_topic_delete(log, c->topic), 0);
    snprintf(c->topic, sizeof c->topic, "crash%d", epoch);
    char sb[32];
    snprintf(sb, sizeof sb, "%d", segment_bytes);
    evl_config_t *tcfg = test_cfg("segment.bytes", sb, "index.interval.bytes", "512",
                                  "flush.interval.ms", "5", "max.message.bytes", "32768", NULL);
    int rc = evl_topic_create(log, c->topic, c->nparts, tcfg);
    cr_assert_eq(rc, 0, "create %s: %s\n%s", c->topic, evl_strerror(rc), test_logbuf);
    evl_log_close(log);
    evl_config_free(tcfg);
    evl_config_free(cfg);
    c->nacks = 0;
    for (uint32_t w = 0; w < c->nwriters; w++)
        c->maxack[w] = -1;
    for (int p = 0; p < c->nparts; p++)
        c->parts[p].n = 0;
}

static void ctx_init(crash_ctx_t *c, int nparts, int rounds_per_topic)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", tpath("log"));
    c->nparts = nparts;
    c->seed = rl_seed();
    c->nwriters = (uint32_t)(rounds_per_topic + 2) * WPR;
    c->maxack = malloc(c->nwriters * sizeof *c->maxack);
    c->nextseq = malloc(c->nwriters * sizeof *c->nextseq);
    cr_assert(c->maxack && c->nextseq);
    cr_log_info("seed %llu (replay with EVL_RL_SEED)", (unsigned long long)c->seed);
}

static void ctx_free(crash_ctx_t *c)
{
    free(c->acks);
    free(c->maxack);
    free(c->nextseq);
    for (int p = 0; p < 4; p++) {
        free(c->parts[p].w);
        free(c->parts[p].s);
    }
}

static void reap(pid_t pid, const char *what)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "%s %d ended by itself (status %#x) before it was killed", what, (int)pid, st);
}

/*
 * One round: nprocs producer processes of nthreads threads each; they are
 * killed one after the other, each after the previous kill was followed by
 * progress of all survivors. With tail, a reader process checks every record
 * while this happens.
 */
static void crash_round(crash_ctx_t *c, rl_rng_t *rng, int round, int nprocs, int nthreads,
                        int durability, bool tail)
{
    int fds[2], stop[2] = {-1, -1};
    cr_assert_eq(pipe(fds), 0);
    uint32_t writer0 = (uint32_t)(round + 1) * WPR;
    cr_assert_lt(writer0 + WPR, c->nwriters);
    pid_t pids[MAXP], tail_pid = -1;
    bool alive[MAXP];
    for (int i = 0; i < nprocs; i++) {
        pids[i] = fork();
        cr_assert_geq(pids[i], 0);
        if (pids[i] == 0) {
            close(fds[0]);
            producer_main(c->dir, c->topic, fds[1], writer0 + (uint32_t)(i * nthreads), nthreads,
                          c->nparts, durability, c->seed, true);
        }
        alive[i] = true;
    }
    if (tail) {
        cr_assert_eq(pipe(stop), 0);
        tail_pid = fork();
        cr_assert_geq(tail_pid, 0);
        if (tail_pid == 0) {
            close(stop[1]);
            close(fds[0]);
            close(fds[1]);
            tail_main(c->dir, c->topic, stop[0], c->seed);
        }
        close(stop[0]);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    long counts[MAXP] = {0};
    /* Everyone producing: startup (log open) is not what we want to hit. */
    for (int waited = 0;; waited += 10) {
        bool all = true;
        for (int i = 0; i < nprocs; i++)
            all = all && counts[i] > 0;
        if (all)
            break;
        cr_assert_lt(waited, 30000, "producers did not start");
        cr_assert_eq(pump(c, fds[0], 10, writer0, nthreads, counts), 0,
                     "a producer died on its own");
    }
    for (int k = 0; k < nprocs; k++) {
        int victim = -1;
        for (int i = 0; i < nprocs; i++)
            if (alive[i] && (victim < 0 || rl_below(rng, 2)))
                victim = i;
        pump(c, fds[0], (int)rl_below(rng, 25), writer0, nthreads, counts);
        kill(pids[victim], SIGKILL);
        reap(pids[victim], "producer");
        alive[victim] = false;
        c->kills++;
        /* The survivors must go on: a victim holding the append lock is
         * repaired by the next locker, never waited for. */
        long before[MAXP];
        memcpy(before, counts, sizeof before);
        for (int waited = 0;; waited += 10) {
            bool all = true;
            for (int i = 0; i < nprocs; i++)
                all = all && (!alive[i] || counts[i] > before[i] + 1);
            if (all)
                break;
            if (waited >= 20000 && getenv("EVL_RL_HANG_DEBUG")) {
                for (int i = 0; i < nprocs; i++)
                    if (alive[i])
                        fprintf(stderr, "stuck producer pid %d (acks %ld -> %ld)\n", (int)pids[i],
                                before[i], counts[i]);
                sleep(300);
            }
            cr_assert_lt(waited, 20000, "surviving producers made no progress for 20 s after "
                         "a kill: blocked on the append lock?");
            pump(c, fds[0], 10, writer0, nthreads, counts);
        }
    }
    while (drain(c, fds[0], writer0, nthreads, counts) == 0)
        usleep(1000);
    close(fds[0]);
    if (tail) {
        close(stop[1]);
        int st;
        cr_assert_eq(waitpid(tail_pid, &st, 0), tail_pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "tailing reader failed (status %#x: 11 read error, 12 offset gap, 13 bad record)",
                  st);
    }
    verify(c, writer0 + WPR - 4);
    c->rounds++;
}

static void crash_run(int nparts, int nprocs, int nthreads, int rounds, int per_topic, bool tail)
{
    crash_ctx_t c;
    ctx_init(&c, nparts, per_topic);
    rl_rng_t rng = {c.seed};
    int epoch = 0;
    for (int r = 0; r < rounds; r++) {
        if (r % per_topic == 0)
            ctx_topic(&c, epoch++, 65536 << rl_below(&rng, 3));
        int durability = 1 + r % 3;
        crash_round(&c, &rng, r % per_topic, nprocs, nthreads, durability, tail);
    }
    for (int p = 0; p < nparts; p++)
        c.records += c.parts[p].n;
    cr_log_info("%ld rounds, %ld kills, %ld records in the last topic, %ld lock-holder repairs, "
                "%ld recoveries", c.rounds, c.kills, c.records, c.repairs, c.recoveries);
    fprintf(stderr, "test_crash: %ld kills (%d procs x %d threads), %ld lock-holder repairs\n",
            c.kills, nprocs, nthreads, c.repairs);
    ctx_free(&c);
}

TestSuite(crash, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 900);

/* Several threads of one process, two partitions. */
Test(crash, threads_killed)
{
    crash_run(2, 1, 4, rl_count(16, 5, 1000), 8, false);
    rl_leak_check();
}

/* Several processes on one partition, killed one at a time, and a reader
 * process tailing it throughout. */
Test(crash, processes_killed_one_partition)
{
    crash_run(1, 3, 2, rl_count(5, 2, 350), 5, true);
    rl_leak_check();
}

/* ---- the protocols, step by step --------------------------------------------- */

static const char *steps_topic = "steps";

static evl_log_t *steps_setup(int nrecords)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg);
    evl_config_t *tcfg = test_cfg("segment.bytes", "65536", "index.interval.bytes", "64", NULL);
    cr_assert_eq(evl_topic_create(log, steps_topic, 1, tcfg), 0);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, steps_topic, NULL, &prod), 0);
    for (int i = 0; i < nrecords; i++) {
        uint8_t key[8], val[100];
        evl_msg_t m;
        rl_msg(&m, key, val, sizeof val, 7, 1, (uint32_t)i, 0);
        cr_assert_eq(evl_producer_send(prod, &m, EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC)), 0);
        cr_assert_eq(m.offset, i);
    }
    evl_producer_close(prod);
    evl_config_free(tcfg);
    evl_config_free(cfg);
    return log;
}

/* Read everything; every record must be writer 1's next. Returns the count. */
static int64_t steps_check_ex(evl_log_t *log, bool strict_end)
{
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, steps_topic, 0, &rd), 0);
    const evl_record_t *rec;
    int64_t n = 0;
    int rc;
    while ((rc = evl_reader_next(rd, 0, &rec)) == 0) {
        uint32_t w, s;
        const char *why;
        cr_assert_eq(evl_record_offset(rec), n);
        cr_assert_eq(rl_check(rec, 7, &w, &s, &why), 0, "offset %lld: %s", (long long)n, why);
        cr_assert_eq(s, (uint32_t)n, "offset %lld holds seq %u", (long long)n, s);
        n++;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT, "reader stopped at %lld: %s", (long long)n, evl_strerror(rc));
    evl_partition_info_t info;
    cr_assert_eq(evl_partition_info(log, steps_topic, 0, &info), 0);
    /* Until the next locker repairs it, a frame the dead writer published
     * is readable before the end offset counts it. */
    cr_assert(info.end_offset == n || (!strict_end && info.end_offset == n - 1),
              "end offset %lld, %lld readable", (long long)info.end_offset, (long long)n);
    evl_reader_close(rd);
    return n;
}

static int64_t steps_check(evl_log_t *log) { return steps_check_ex(log, true); }

/* Append writer 1's next record and check its offset. */
static void steps_append(evl_log_t *log, int64_t expect, int durability)
{
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, steps_topic, NULL, &prod), 0);
    uint8_t key[8], val[100];
    evl_msg_t m;
    rl_msg(&m, key, val, sizeof val, 7, 1, (uint32_t)expect, 0);
    int rc = evl_producer_send(prod, &m, EVL_SEND_DURABILITY(durability));
    cr_assert_eq(rc, 0, "append after the dead writer: %s", evl_strerror(rc));
    cr_assert_eq(m.offset, expect, "append got offset %lld, expected %lld", (long long)m.offset,
                 (long long)expect);
    evl_producer_close(prod);
}

/* In a child: take the append lock and replay evl__part_append (partition.c)
 * up to `step`, then die holding the lock. 0 locked, 1 dirty_end, 2 half the
 * frame, 3 whole frame, 4 index entry, 5 published, 6 last_frame_pos,
 * 7 write_pos, 8 next_offset (complete but still locked). */
static __attribute__((noreturn)) void die_in_append(int step, uint32_t seq)
{
    evl_log_t *log;
    evl_topic_t *t;
    evl_part_t *part;
    if (evl_log_open(tpath("log"), NULL, &log) || evl__topic_get(log, steps_topic, &t) ||
        evl__topic_part(t, 0, &part))
        _exit(2);
    evl_ctl_t *ctl = part->ctl;
    int lrc = pthread_mutex_lock(&ctl->lock);
    if (lrc != 0)
        _exit(3);
    evl_seg_t *seg;
    if (evl__part_seg_at(part, atomic_load(&ctl->active_base), &seg))
        _exit(4);
    uint8_t key[8], val[100];
    evl_msg_t m;
    rl_msg(&m, key, val, sizeof val, 7, 1, seq, 0);
    uint64_t pos = atomic_load(&ctl->write_pos), off = atomic_load(&ctl->next_offset);
    /* A bound until the frame is encoded, as in evl__part_append. */
    uint64_t fb = EVL_FRAME_HDR_MAX + evl__rec_size(&m), end = pos + fb;
    if (end + EVL_FRAME_EOF_BYTES > atomic_load(&ctl->alloc_end))
        _exit(5);
    int64_t max_ts = 0;
    uint32_t flen = 0;
    if (step >= 1)
        atomic_store(&ctl->dirty_end, end);
    if (step == 2) {
        uint8_t tmp[512];
        flen = evl__frame_encode(tmp, seg->base, off, &m, 1, evl_now_ms(), NULL, &max_ts);
        memcpy(seg->map + pos + 4, tmp + 4, flen / 2);
    }
    if (step >= 3) {
        flen = evl__frame_encode(seg->map + pos, seg->base, off, &m, 1, evl_now_ms(), NULL,
                                 &max_ts);
        end = pos + evl__frame_span(flen);
    }
    if (step >= 4) {
        uint64_t ic = atomic_load(&ctl->idx_count);
        if (evl__seg_idx_put(seg, (uint32_t)ic, (uint32_t)(off - seg->base), (uint32_t)pos,
                             atomic_load(&ctl->max_ts)) == 0) {
            atomic_store(&ctl->idx_count, ic + 1);
            atomic_store(&ctl->last_idx_pos, pos);
        }
    }
    if (step >= 5)
        evl__frame_publish(seg->map + pos, flen);
    if (step >= 6)
        atomic_store(&ctl->last_frame_pos, pos);
    if (step >= 7) {
        if (max_ts > atomic_load(&ctl->max_ts))
            atomic_store(&ctl->max_ts, max_ts);
        atomic_store(&ctl->write_pos, end);
    }
    if (step >= 8)
        atomic_store(&ctl->next_offset, off + 1);
    _exit(0);
}

/* In a child: take the lock and replay roll() (partition.c) up to `step`:
 * 1 next segment created, 2 old one's end marker written and its seal noted
 * as pending, 3 activation half done (tail reset, active_base not yet
 * switched), 4 activation done; die locked. 5: the roll complete and the
 * lock released, the seal never finished; die. */
static __attribute__((noreturn)) void die_in_roll(int step)
{
    evl_log_t *log;
    evl_topic_t *t;
    evl_part_t *part;
    if (evl_log_open(tpath("log"), NULL, &log) || evl__topic_get(log, steps_topic, &t) ||
        evl__topic_part(t, 0, &part))
        _exit(2);
    evl_ctl_t *ctl = part->ctl;
    if (pthread_mutex_lock(&ctl->lock) != 0)
        _exit(3);
    evl_seg_t *old, *seg;
    if (evl__part_seg_at(part, atomic_load(&ctl->active_base), &old))
        _exit(4);
    uint64_t next = atomic_load(&ctl->next_offset);
    uint64_t alloc = evl__part_initial_alloc(part);
    if (evl__seg_create(part->dir, next, part->seg_bytes, part->idx_cap, alloc, evl_now_ms(),
                        &seg))
        _exit(5);
    if (step >= 2) {
        uint64_t pos = atomic_load(&ctl->write_pos);
        evl__seg_mark_end(old, pos, next);
        ctl->seal = (evl_seal_note_t){old->base, pos, next, atomic_load(&ctl->idx_count),
                                      atomic_load(&ctl->max_ts)};
        atomic_store(&ctl->seal_pending, old->base + 1);
    }
    if (step >= 3) {
        atomic_store(&ctl->write_pos, EVL_SEG_HDR);
        atomic_store(&ctl->dirty_end, EVL_SEG_HDR);
        atomic_store(&ctl->alloc_end, alloc);
        atomic_store(&ctl->max_ts, INT64_MIN);
        atomic_store(&ctl->idx_count, 0);
        atomic_store(&ctl->idx_synced, 0);
        atomic_store(&ctl->last_idx_pos, EVL_SEG_HDR);
        atomic_store(&ctl->last_frame_pos, 0);
    }
    if (step >= 4) {
        atomic_store(&ctl->active_base, seg->base);
        atomic_fetch_add(&ctl->seg_epoch, 1);
    }
    if (step >= 5)
        pthread_mutex_unlock(&ctl->lock);
    _exit(0);
}

/* The segment at base 0 carries its sealed checkpoint, at the end of its
 * 3 records, and its file is trimmed to it. */
static void assert_first_sealed(evl_log_t *log, const char *what)
{
    evl_part_t *part = test_part(log, steps_topic, 0);
    evl_seg_t *seg;
    cr_assert_eq(evl__part_seg_at(part, 0, &seg), 0);
    evl_ckpt_t ck;
    cr_assert(evl__seg_ckpt_read(seg, &ck), "%s", what);
    cr_assert(ck.flags & EVL_SEG_SEALED, "%s: no sealed checkpoint", what);
    cr_assert_eq(ck.next_offset, 3, "%s", what);
    cr_assert_eq(evl__seg_file_size(seg), (int64_t)(ck.pos + EVL_FRAME_EOF_BYTES), "%s", what);
    cr_assert_eq(atomic_load(&part->ctl->seal_pending), 0, "%s", what);
    evl__seg_unref(seg);
}

/* Fork a child that waits for a go, then replays a protocol up to step and
 * dies holding the append lock. Meanwhile the parent opens the log and the
 * partition, so that it meets the dead writer as a running process does
 * (through the lock, not through the checks made when a partition is
 * opened). Returns the parent's handle. */
static evl_log_t *run_dead_child(void (*fn)(int, uint32_t), int step, uint32_t seq,
                                 evl_config_t *cfg)
{
    int go[2];
    cr_assert_eq(pipe(go), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char c;
        close(go[1]);
        if (read(go[0], &c, 1) != 1)
            _exit(7);
        fn(step, seq);
    }
    close(go[0]);
    evl_log_t *log = test_open(cfg);
    evl_partition_info_t info;
    cr_assert_eq(evl_partition_info(log, steps_topic, 0, &info), 0); /* opens the partition */
    cr_assert_eq(write(go[1], "g", 1), 1);
    close(go[1]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "step child failed: status %#x", st);
    return log;
}

static void die_in_roll2(int step, uint32_t seq)
{
    (void)seq;
    die_in_roll(step);
}

static void die_in_append2(int step, uint32_t seq) { die_in_append(step, seq); }

Test(crash, append_protocol_every_step, .timeout = 120)
{
    for (int step = 0; step <= 8; step++) {
        for (int cold = 0; cold <= 1; cold++) {
            test_dir_teardown();
            test_dir_setup();
            evl_log_t *log = steps_setup(3);
            evl_log_close(log); /* no handle across fork */
            evl_config_t *cfg = test_cfg(NULL);
            if (getenv("EVL_RL_VERBOSE"))
                fprintf(stderr, "append step %d cold %d\n", step, cold);
            log = run_dead_child(die_in_append2, step, 3, cfg);
            if (cold) { /* meet it through a fresh open instead */
                evl_log_close(log);
                log = test_open(cfg);
            }
            int64_t n = steps_check_ex(log, false);
            /* From step 5 on the frame was published: readers may have seen
             * it, so it must stay. Before, it must vanish. */
            cr_assert_eq(n, step >= 5 ? 4 : 3, "step %d: %lld records readable", step,
                         (long long)n);
            steps_append(log, n, EVL_DURABILITY_FSYNC);
            cr_assert_eq(rl_log_count("died holding the append lock"), 1, "step %d: log:\n%s",
                         step, test_logbuf);
            cr_assert_eq(steps_check(log), n + 1, "step %d", step);
            for (int64_t i = n + 1; i < n + 200; i++)
                steps_append(log, i, EVL_DURABILITY_NONE);
            cr_assert_eq(steps_check(log), n + 200, "step %d", step);
            evl_log_close(log);
            log = test_open(cfg);
            cr_assert_eq(steps_check(log), n + 200, "step %d, reopened", step);
            evl_log_close(log);
            evl_config_free(cfg);
        }
    }
    rl_leak_check();
}

/* The dead child rolled segment 0 and left its seal pending; this handle
 * knew segment 0 as the active one. A seek into it uses its index, from the
 * end the ctl noted, rather than following its frames from the start. */
static void seek_into_pending(evl_log_t *log)
{
    evl_part_t *part = test_part(log, steps_topic, 0);
    evl_seg_t *seg;
    cr_assert_eq(evl__part_seg_at(part, 0, &seg), 0);
    uint32_t count;
    uint64_t end;
    cr_assert(evl__part_pending_end(part, seg, &count, &end), "no pending seal for segment 0");
    cr_assert_eq(end, part->ctl->seal.pos);
    /* 3 frames, an entry every 64 bytes; the first frame needs none. */
    cr_assert_eq(count, 2, "%u index entries", count);
    evl__seg_unref(seg);
    evl_reader_t *rd;
    const evl_record_t *rec;
    cr_assert_eq(evl_reader_open(log, steps_topic, 0, &rd), 0);
    cr_assert_eq(evl_reader_seek(rd, 2), 0);
    cr_assert_gt(rd->pos, EVL_SEG_HDR, "the seek followed the frames from the start");
    cr_assert_eq(evl_reader_next(rd, 0, &rec), 0);
    cr_assert_eq(evl_record_offset(rec), 2);
    evl_reader_close(rd);
}

/* A writer that dies right after a roll, with the old segment's seal not
 * yet finished, and nobody else running: the next process to open the
 * partition finishes it in its background thread, without a durable send. */
Test(crash, seal_left_by_a_dead_writer_is_finished_after_open, .timeout = 60)
{
    evl_log_t *log = steps_setup(3);
    evl_log_close(log);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        die_in_roll(5);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "roll child failed: status %#x", st);
    evl_config_t *cfg = test_cfg(NULL);
    log = test_open(cfg);
    evl_partition_info_t info;
    cr_assert_eq(evl_partition_info(log, steps_topic, 0, &info), 0); /* opens the partition */
    evl_part_t *part = test_part(log, steps_topic, 0);
    for (int i = 0; i < 500 && atomic_load(&part->ctl->seal_pending); i++)
        usleep(10000);
    assert_first_sealed(log, "after open");
    cr_assert_eq(steps_check(log), 3);
    evl_log_close(log);
    evl_config_free(cfg);
    rl_leak_check();
}

/* A pending seal whose note does not match the file (a damaged ctl) is
 * dropped: trimming by it would cut acknowledged records. */
Test(crash, pending_seal_not_matching_the_file_is_ignored, .timeout = 60)
{
    evl_log_t *log = steps_setup(3);
    evl_log_close(log);
    evl_config_t *cfg = test_cfg(NULL);
    log = run_dead_child(die_in_roll2, 5, 0, cfg);
    evl_part_t *part = test_part(log, steps_topic, 0);
    cr_assert_eq(pthread_mutex_lock(&part->ctl->lock), 0);
    cr_assert_neq(atomic_load(&part->ctl->seal_pending), 0);
    part->ctl->seal.pos = EVL_SEG_HDR; /* the first record's frame */
    pthread_mutex_unlock(&part->ctl->lock);
    steps_append(log, 3, EVL_DURABILITY_FSYNC);
    cr_assert_eq(atomic_load(&part->ctl->seal_pending), 0);
    cr_assert_eq(rl_log_count("ignoring a pending seal"), 1, "log:\n%s", test_logbuf);
    cr_assert_eq(steps_check(log), 4);
    evl_log_close(log);
    log = test_open(cfg);
    cr_assert_eq(steps_check(log), 4, "reopened");
    evl_log_close(log);
    /* After a reboot the rebuild checks segment 0's frames and seals it. */
    evl_config_t *rcfg = test_cfg("recovery.mode", "rebuild", NULL);
    log = test_open(rcfg);
    cr_assert_eq(steps_check(log), 4, "rebuilt");
    assert_first_sealed(log, "after the rebuild");
    evl_log_close(log);
    evl_config_free(rcfg);
    evl_config_free(cfg);
    rl_leak_check();
}

Test(crash, roll_protocol_every_step, .timeout = 120)
{
    for (int step = 1; step <= 5; step++) {
        for (int cold = 0; cold <= 1; cold++) {
            test_dir_teardown();
            test_dir_setup();
            evl_log_t *log = steps_setup(3);
            evl_log_close(log);
            evl_config_t *cfg = test_cfg(NULL);
            if (getenv("EVL_RL_VERBOSE"))
                fprintf(stderr, "roll step %d cold %d\n", step, cold);
            log = run_dead_child(die_in_roll2, step, 0, cfg);
            if (cold) {
                evl_log_close(log);
                log = test_open(cfg);
            }
            if (step == 5 && !cold)
                seek_into_pending(log);
            cr_assert_eq(steps_check(log), 3, "step %d cold %d", step, cold);
            steps_append(log, 3, EVL_DURABILITY_FSYNC);
            cr_assert_eq(steps_check(log), 4, "step %d cold %d: log:\n%s", step, cold,
                         test_logbuf);
            /* A durable append returns with every earlier record on disk:
             * the old segment's seal, left pending, is finished by then. */
            if (step >= 2)
                assert_first_sealed(log, step == 5 ? "after a death past the roll"
                                                   : "after a death in the roll");
            /* Keep going across further rolls. */
            for (int i = 4; i < 400; i++)
                steps_append(log, i, EVL_DURABILITY_NONE);
            cr_assert_eq(steps_check(log), 400, "step %d cold %d", step, cold);
            evl_log_close(log);
            log = test_open(cfg);
            cr_assert_eq(steps_check(log), 400, "step %d cold %d, reopened", step, cold);
            evl_log_close(log);
            evl_config_free(cfg);
        }
    }
    rl_leak_check();
}
