/*
 * latency.c - producer-to-consumer latency (W7 between threads, W8 between
 * processes) of libeventlog: the producer writes CLOCK_MONOTONIC into the
 * first 8 bytes of each 100-byte value just before evl_producer_send; the
 * consumer takes the clock as evl_reader_next returns the record. Two ways of
 * waiting: busy-poll (evl_reader_next with timeout 0 in a loop) and blocking
 * (timeout -1, the library's futex wait); two paces: 100k records/s (the
 * producer spins to each send time) and full speed (queueing included).
 *
 * Baselines (same pace, same wait style, same process layout): a bare
 * shared-memory ring, the producer storing the timestamp and a release store
 * of a 32-bit sequence; the consumer spins on it, or sleeps in FUTEX_WAIT
 * with a waiter flag the producer checks to FUTEX_WAKE. This is the floor any
 * log built on shared memory and futexes can reach on the machine.
 *
 * p50 / p99 / p99.9 / max of each run go into the table (microseconds);
 * each is the median of the runs with min and max.
 */
#include "bench.h"
#include "eventlog.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPIC "lat"
#define VLEN 100
#define PACE_NS 10000 /* 100k records/s */

struct ring { /* MAP_SHARED anonymous: works across fork */
    _Atomic uint32_t seq;     /* records published; the futex word */
    char pad1[60];
    _Atomic uint32_t waiters; /* consumers sleeping (or about to) */
    char pad2[60];
    uint64_t ts[];            /* send time of record i */
};

struct lat_cfg {
    int evl;      /* 0: shared-memory ring baseline */
    int proc;     /* consumer in a forked child */
    int blocking; /* futex wait instead of busy-poll */
    int paced;    /* 100k/s instead of full speed */
    size_t n;
    int nospin;   /* blocking reader with evl_reader_set_spin_us(rd, 0) */
};

static long futex(_Atomic uint32_t *addr, int op, uint32_t val)
{
    return syscall(SYS_futex, (void *)addr, op, val, NULL, NULL, 0);
}

static void *shm_alloc(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static inline void pace(uint64_t start, size_t i, int paced)
{
    if (paced) {
        uint64_t due = start + (uint64_t)i * PACE_NS;
        while (now_ns() < due)
            cpu_relax();
    }
}

/* ---- the shared-memory baseline ---------------------------------------------- */
static void ring_consume(struct ring *r, size_t n, int blocking, uint64_t *lat)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t s;
        while ((s = atomic_load(&r->seq)) <= i) {
            if (!blocking) {
                cpu_relax();
                continue;
            }
            /* A count, not a flag the producer clears: a cleared flag
             * loses the wakeup when the consumer sleeps again before
             * re-arming it. */
            atomic_fetch_add(&r->waiters, 1);
            s = atomic_load(&r->seq);
            if (s <= i)
                futex(&r->seq, FUTEX_WAIT, s);
            atomic_fetch_sub(&r->waiters, 1);
        }
        lat[i] = now_ns() - r->ts[i];
    }
}

static void ring_produce(struct ring *r, size_t n, int blocking, int paced)
{
    uint64_t start = now_ns();
    for (size_t i = 0; i < n; i++) {
        pace(start, i, paced);
        r->ts[i] = now_ns();
        atomic_store(&r->seq, (uint32_t)(i + 1));
        if (blocking && atomic_load(&r->waiters))
            futex(&r->seq, FUTEX_WAKE, 1);
    }
}

/* ---- libeventlog ------------------------------------------------------------- */
static int evl_consume(evl_reader_t *rd, size_t n, int blocking,
                       uint64_t *lat)
{
    const evl_record_t *rec;
    for (size_t i = 0; i < n; i++) {
        int rc;
        while ((rc = evl_reader_next(rd, blocking ? -1 : 0, &rec)) ==
               EVL_ETIMEDOUT)
            ;
        uint64_t t = now_ns(), ts;
        size_t len;
        const void *v;
        if (rc != 0)
            return rc;
        v = evl_record_value(rec, &len);
        if (!v || len < 8)
            return EVL_ECORRUPT;
        memcpy(&ts, v, 8);
        lat[i] = t - ts;
    }
    return 0;
}

static int evl_produce(evl_producer_t *p, size_t n, int paced)
{
    unsigned char key[8], value[VLEN];
    uint64_t start = now_ns();
    fill_pattern(value, sizeof value, 20);
    for (size_t i = 0; i < n; i++) {
        evl_msg_t m = {0};
        uint64_t t;
        int rc;
        pace(start, i, paced);
        put_be64(key, i);
        m.key = key;
        m.key_len = sizeof key;
        m.value = value;
        m.value_len = sizeof value;
        m.timestamp = EVL_TIMESTAMP_NOW;
        m.partition = 0;
        t = now_ns();
        memcpy(value, &t, 8);
        if ((rc = evl_producer_send(p, &m, 0)) != 0)
            return rc;
    }
    return 0;
}

static int open_reader(const char *dir, evl_log_t **log, evl_reader_t **rd)
{
    int rc = evl_log_open(dir, NULL, log);
    if (rc == 0)
        rc = evl_reader_open(*log, TOPIC, 0, rd);
    return rc;
}

static int open_producer(const char *dir, evl_log_t **log,
                         evl_producer_t **p)
{
    int rc = evl_log_open(dir, NULL, log);
    if (rc == 0)
        rc = evl_producer_new(*log, TOPIC, NULL, p);
    return rc;
}

/* ---- one run in one thread pair ------------------------------------------------ */
struct consumer {
    const struct lat_cfg *c;
    struct ring *ring;
    evl_reader_t *rd;
    uint64_t *lat;
    _Atomic int ready;
    int rc;
};

static void *consumer_main(void *arg)
{
    struct consumer *k = arg;
    atomic_store(&k->ready, 1);
    if (k->c->evl)
        k->rc = evl_consume(k->rd, k->c->n, k->c->blocking, k->lat);
    else
        ring_consume(k->ring, k->c->n, k->c->blocking, k->lat);
    return NULL;
}

static int run_threads(const struct lat_cfg *c, const char *dir,
                       struct ring *ring, uint64_t *lat)
{
    struct consumer k = {.c = c, .ring = ring, .lat = lat};
    evl_log_t *log = NULL;
    evl_producer_t *p = NULL;
    pthread_t tid;
    int rc = 0;

    if (c->evl) {
        rc = evl_log_open(dir, NULL, &log);
        if (rc == 0)
            rc = evl_reader_open(log, TOPIC, 0, &k.rd);
        if (rc == 0 && c->nospin)
            evl_reader_set_spin_us(k.rd, 0);
        if (rc == 0)
            rc = evl_producer_new(log, TOPIC, NULL, &p);
        if (rc != 0)
            goto out;
    }
    if (pthread_create(&tid, NULL, consumer_main, &k) != 0) {
        rc = -EAGAIN;
        goto out;
    }
    while (!atomic_load(&k.ready))
        cpu_relax();
    if (c->evl)
        rc = evl_produce(p, c->n, c->paced);
    else
        ring_produce(ring, c->n, c->blocking, c->paced);
    if (rc != 0 && c->blocking) {
        /* The consumer waits forever for records that will not come: leave
         * it (and the log it reads) behind rather than hang the suite. */
        pthread_detach(tid);
        return rc;
    }
    pthread_join(tid, NULL);
    rc = rc ? rc : k.rc;
out:
    evl_reader_close(k.rd);
    evl_producer_close(p);
    evl_log_close(log);
    return rc;
}

/* ---- one run across two processes ----------------------------------------------- */
static int run_procs(const struct lat_cfg *c, const char *dir,
                     struct ring *ring, uint64_t *lat)
{
    evl_log_t *log = NULL;
    evl_producer_t *p = NULL;
    int pfd[2], rc = 0, status;
    char b;
    pid_t pid;

    if (pipe(pfd) != 0)
        return -errno;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -errno;
    }
    if (pid == 0) { /* consumer: its own log handle, as fork() requires */
        evl_log_t *clog = NULL;
        evl_reader_t *rd = NULL;
        int crc = 0;
        close(pfd[0]);
        if (c->evl)
            crc = open_reader(dir, &clog, &rd);
        b = crc == 0 ? 'R' : 'E';
        if (write(pfd[1], &b, 1) != 1 || crc != 0)
            _exit(1);
        if (c->evl)
            crc = evl_consume(rd, c->n, c->blocking, lat);
        else
            ring_consume(ring, c->n, c->blocking, lat);
        evl_reader_close(rd);
        evl_log_close(clog);
        _exit(crc == 0 ? 0 : 1);
    }
    close(pfd[1]);
    if (read(pfd[0], &b, 1) != 1 || b != 'R')
        rc = EVL_ESTATE;
    close(pfd[0]);
    if (rc == 0 && c->evl) {
        rc = open_producer(dir, &log, &p);
        if (rc == 0)
            rc = evl_produce(p, c->n, c->paced);
    } else if (rc == 0) {
        ring_produce(ring, c->n, c->blocking, c->paced);
    }
    if (rc != 0)
        kill(pid, SIGKILL);
    if (waitpid(pid, &status, 0) == pid && rc == 0 &&
        !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        rc = EVL_ESTATE;
    evl_producer_close(p);
    evl_log_close(log);
    return rc;
}

/* One run; percentiles (ns) into pct[4]: p50, p99, p99.9, max. */
static int ucmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static size_t rank(size_t n, double q)
{
    double r = q * (double)n;
    size_t k = (size_t)r;
    if ((double)k < r)
        k++;
    return k ? k - 1 : 0;
}

static int lat_run(const struct lat_cfg *c, double pct[4])
{
    char dir[PATH_MAX];
    size_t ringlen = sizeof(struct ring) + c->n * sizeof(uint64_t);
    size_t latlen = c->n * sizeof(uint64_t);
    struct ring *ring = NULL;
    uint64_t *lat;
    int rc = 0;

    lat = shm_alloc(latlen);
    if (!lat)
        return -ENOMEM;
    dir[0] = 0;
    if (c->evl) { /* the topic exists before either side opens the log */
        evl_log_t *log;
        data_path(dir, sizeof dir, "lat");
        rc = evl_log_open(dir, NULL, &log);
        if (rc == 0) {
            rc = evl_topic_create(log, TOPIC, 1, NULL);
            evl_log_close(log);
        }
    } else {
        ring = shm_alloc(ringlen);
        if (!ring)
            rc = -ENOMEM;
    }
    if (rc == 0)
        rc = c->proc ? run_procs(c, dir, ring, lat)
                     : run_threads(c, dir, ring, lat);
    if (rc == 0) {
        qsort(lat, c->n, sizeof *lat, ucmp);
        pct[0] = (double)lat[rank(c->n, 0.50)] / 1e3;
        pct[1] = (double)lat[rank(c->n, 0.99)] / 1e3;
        pct[2] = (double)lat[rank(c->n, 0.999)] / 1e3;
        pct[3] = (double)lat[c->n - 1] / 1e3;
    }
    if (ring)
        munmap(ring, ringlen);
    munmap(lat, latlen);
    if (dir[0])
        rm_rf(dir);
    return rc;
}

/* ---- the experiment ----------------------------------------------------------------- */
static const char *const pname[4] = {"p50", "p99", "p99.9", "max"};

struct lat_figs {
    struct lat_cfg cfg;
    figure_t *f[4];
};

static void make_figs(struct lat_figs *L, const struct lat_cfg *c)
{
    char id[16], name[96], series[48];
    const char *who = c->evl ? (c->proc ? "W8" : "W7") : (c->proc ? "BP" : "BT");
    char mode = c->nospin ? 'z' : c->blocking ? 'b' : 's';
    const char *what = c->evl ? "evl_reader_next" : "shm ring";
    L->cfg = *c;
    const char *how = c->nospin ? "futex only" : c->blocking ? "blocking" : "busy-poll";
    snprintf(series, sizeof series, "%s %s %s", who, how, c->paced ? "100k/s" : "full speed");
    for (int q = 0; q < 4; q++) {
        snprintf(id, sizeof id, "%s%c%c.%s", who, mode, c->paced ? 'p' : 'f', pname[q]);
        snprintf(name, sizeof name, "%s: %s, %s, %s: %s",
                 c->proc ? "processes" : "threads", what, how,
                 c->paced ? "100k/s" : "full", pname[q]);
        L->f[q] = fig_new(id, name, "us", LOWER_BETTER);
        if (!c->nospin)
            fig_plot(L->f[q], "latency", series, pname[q]);
    }
}

int exp_latency(void)
{
    /* index: proc*8 + evl*4 + blocking*2 + (!paced); L[16]: W7 blocking
     * paced with the reader's spin off (the futex path alone) */
    struct lat_figs L[17];
    size_t n = scaled(1e5, 200);

    for (int proc = 0; proc < 2; proc++) {
        fig_section(proc ? "latency between processes (fork), 8+100 B, "
                           "microseconds (W8; BP = shm ring baseline)"
                         : "latency between threads, 8+100 B, microseconds "
                           "(W7; BT = shm ring baseline)");
        for (int blocking = 0; blocking < 2; blocking++)
            for (int full = 0; full < 2; full++)
                for (int evl = 0; evl < 2; evl++) {
                    struct lat_cfg c = {evl, proc, blocking, !full, n, 0};
                    make_figs(&L[proc * 8 + evl * 4 + blocking * 2 + full], &c);
                }
        if (!proc) {
            struct lat_cfg c = {1, 0, 1, 1, n, 1};
            make_figs(&L[16], &c);
            for (int q = 0; q < 4; q++)
                fig_cmp(L[16].f[q], L[2].f[q], NAN); /* vs the ring, blocking, paced */
        }
    }
    for (int i = 0; i < 16; i++) {
        int proc = i / 8, evl = (i / 4) % 2, blocking = (i / 2) % 2,
            full = i % 2;
        if (!evl)
            continue;
        for (int q = 0; q < 4; q++) {
            figure_t *f = L[i].f[q];
            fig_cmp(f, L[i - 4].f[q], NAN); /* vs the ring, same layout */
            if (proc)
                fig_cmp(f, L[i - 8].f[q], 2.0); /* W8 within 2x of W7 */
            else if (!full && !blocking && q == 1)
                fig_target(f, 2.0);
            else if (!full && blocking && q == 0)
                fig_target(f, 10.0);
            else if (!full && blocking && q == 1)
                fig_target(f, 50.0);
        }
    }
    for (int r = 0; r < g_opt.runs; r++) {
        progress(1, "latency: run %d/%d", r + 1, g_opt.runs);
        for (int i = 0; i < 17; i++) {
            double pct[4];
            int rc = lat_run(&L[i].cfg, pct);
            for (int q = 0; q < 4; q++)
                fig_add_rc(L[i].f[q], rc, rc ? 0 : pct[q]);
        }
    }
    return 0;
}
