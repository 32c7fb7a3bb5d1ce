/*
 * test_process_kill.c - exactly once under repeated kill -9 for what runs
 * beside records: stream-time and wall-clock punctuation writing state
 * and output, and a stream-global-table join while the global table
 * changes. The processing process is this test binary run again as a
 * worker (EVL_STREAMS_WORKER=1: a constructor runs the application and
 * exits before Criterion starts).
 *
 * Each output sequence must go up by one at a time and never repeat: a
 * key's running count (records), and each task's count of wall-clock and
 * stream-time punctuations, kept in its store and sent with each tick. A
 * punctuation whose batch was cut short and not processed again, or
 * processed again differently, shows as a gap or a repeat.
 */
#include <criterion/criterion.h>
#include <eventlog.h>
#include <eventlog/streams.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define KEYS 8

/* ---- the worker ---- */

static int keyfn(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->key, r->key_len, NULL, 0, -1);
}

static int price(void *arg, const evl_srec_t *r, const void *tv, size_t tl, evl_emit_t *em)
{
    return evl_emit(em, NULL, 0, tv ? tv : "-", tv ? tl : 1, -1);
}

static long bump(evl_pctx_t *ctx, const char *key, size_t kl)
{
    const void *v;
    size_t vl;
    char buf[32];
    long n = 0;
    if (evl_pctx_get(ctx, NULL, key, kl, &v, &vl) == 0) {
        snprintf(buf, sizeof buf, "%.*s", (int)vl, (const char *)v);
        n = strtol(buf, NULL, 10);
    }
    int len = snprintf(buf, sizeof buf, "%ld", n + 1);
    return evl_pctx_put(ctx, key, kl, buf, (size_t)len) ? -1 : n + 1;
}

static int count(void *arg, evl_pctx_t *ctx, const evl_srec_t *r)
{
    long n = bump(ctx, r->key, r->key_len);
    if (n < 0)
        return EVL_EIO;
    char v[96];
    int len = snprintf(v, sizeof v, "%ld %.*s", n, (int)r->value_len, (const char *)r->value);
    return evl_pctx_forward(ctx, r->key, r->key_len, v, (size_t)len, -1);
}

static int tick(void *arg, evl_pctx_t *ctx, int64_t time)
{
    const char *name = arg; /* "wall" or "stream" */
    char key[32], v[32];
    int kl = snprintf(key, sizeof key, "%s-%d", name, evl_pctx_partition(ctx));
    long n = bump(ctx, key, (size_t)kl);
    if (n < 0)
        return EVL_EIO;
    int len = snprintf(v, sizeof v, "%ld", n);
    return evl_pctx_forward(ctx, key, (size_t)kl, v, (size_t)len, -1);
}

static volatile sig_atomic_t stop;
static void on_term(int sig) { stop = 1; }

__attribute__((constructor)) static void worker(void)
{
    const char *dir = getenv("EVL_STREAMS_WORKER");
    if (!dir)
        return;
    char logdir[1100], state[1100];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    signal(SIGTERM, on_term);
    evl_log_t *log;
    if (evl_log_open(logdir, NULL, &log))
        _exit(2);
    evl_streams_builder_t *b;
    evl_streams_builder_new(&b);
    evl_ktable_t *gt = evl_global_table(b, "prices", "prices");
    evl_kstream_t *s = evl_stream_join_global(evl_stream(b, "events"), gt, keyfn, NULL, price,
                                              NULL, EVL_JOIN_LEFT);
    evl_kstream_t *p = evl_stream_process(s, count, NULL, "counts");
    evl_stream_punctuate(p, EVL_PUNCTUATE_WALL_CLOCK, 20, tick, "wall");
    evl_stream_punctuate(p, EVL_PUNCTUATE_STREAM_TIME, 50, tick, "stream");
    evl_stream_to(p, "out");
    const char *conf[] = {"application.id", "pk", "state.dir", state, "commit.interval.ms", "10"};
    evl_streams_t *app;
    char err[256];
    if (evl_streams_new(log, b, conf, 3, err, sizeof err, &app) || evl_streams_start(app))
        _exit(3);
    while (!stop && !evl_streams_error(app, NULL, 0))
        usleep(5000);
    int rc = evl_streams_close(app);
    evl_streams_builder_free(b);
    evl_log_close(log);
    _exit(rc ? 4 : 0);
}

/* ---- the test ---- */

static void setup(void)
{
    test_dir_setup();
}

static void teardown(void)
{
    test_dir_teardown();
}

TestSuite(process_kill, .init = setup, .fini = teardown);

static pid_t spawn(void)
{
    char self[1024];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(n, 0);
    self[n] = 0;
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setenv("EVL_STREAMS_WORKER", tpath(""), 1);
        execl(self, self, (char *)NULL);
        _exit(127);
    }
    return pid;
}

typedef struct feeder {
    evl_log_t *log;
    long truth[KEYS];
    int64_t ts;
    atomic_bool stop;
} feeder_t;

static void *feed(void *arg)
{
    feeder_t *f = arg;
    evl_producer_t *p;
    evl_config_t *c = evl_config_new();
    int rc = c ? evl_producer_open(f->log, c, &p) : EVL_ENOMEM;
    evl_config_free(c);
    if (rc)
        return NULL;
    unsigned seed = 99;
    for (long i = 0; !atomic_load(&f->stop); i++) {
        char key[16], val[32];
        int k = (int)(rand_r(&seed) % KEYS);
        snprintf(key, sizeof key, "k%d", k);
        snprintf(val, sizeof val, "%ld", i);
        evl_msg_t m = {key, strlen(key), val, strlen(val), NULL, 0, f->ts += 7, k % 2, -1};
        if (evl_producer_send_to(p, "events", &m, 0))
            break;
        f->truth[k]++;
        if (i % 10 == 0) { /* the global table moves too */
            snprintf(val, sizeof val, "p%ld", i);
            evl_msg_t g = {key, strlen(key), val, strlen(val), NULL, 0, -1, 0, -1};
            if (evl_producer_send_to(p, "prices", &g, 0))
                break;
        }
        usleep(300);
    }
    evl_producer_close(p);
    return NULL;
}

Test(process_kill, punctuation_and_global_join_exactly_once, .timeout = 150)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "events", 2, NULL), 0);
    cr_assert_eq(evl_topic_create(log, "prices", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log, "out", 1, NULL), 0);
    static feeder_t f;
    memset(&f, 0, sizeof f);
    f.log = log;
    f.ts = 1000;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, feed, &f), 0);
    unsigned seed = 31337;
    int kills = test_quick() ? 8 : 16;
    pid_t pid = spawn();
    for (int k = 0; k < kills; k++) {
        usleep((useconds_t)(150000 + rand_r(&seed) % 150000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = spawn();
    }
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);
    long total = 0;
    for (int i = 0; i < KEYS; i++)
        total += f.truth[i];
    cr_assert_gt(total, 1000, "the feeder wrote %ld records", total);
    /* wait for every record's count, then stop the worker cleanly */
    long last[KEYS] = {0};
    for (int tries = 0; tries < 600; tries++) {
        long seen = 0;
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(log, "out", 0, &rd), 0);
        const evl_record_t *r;
        while (evl_reader_next(rd, 0, &r) == 0) {
            size_t kl;
            const char *k = evl_record_key(r, &kl);
            seen += kl == 2 && k[0] == 'k';
        }
        evl_reader_close(rd);
        if (seen >= total)
            break;
        usleep(50000);
    }
    usleep(500000); /* anything past the true count would show now; the worker
                       has its SIGTERM handler */
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker ended with %d", st);
    /* every sequence goes up by one */
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "out", 0, &rd), 0);
    const evl_record_t *r;
    long ticks[2][2] = {{0}}, nticks = 0, n = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t kl, vl;
        const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
        char key[32], val[64];
        snprintf(key, sizeof key, "%.*s", (int)kl, k);
        snprintf(val, sizeof val, "%.*s", (int)vl, v);
        long c = strtol(val, NULL, 10);
        int part;
        if (kl == 2 && key[0] == 'k') {
            int i = key[1] - '0';
            cr_assert_eq(c, last[i] + 1, "%s: %ld after %ld (offset %lld)", key, c, last[i],
                         (long long)evl_record_offset(r));
            cr_assert_not_null(strchr(val, ' '), "%s: no price", val);
            last[i] = c;
            n++;
        } else if (sscanf(key, "wall-%d", &part) == 1 || sscanf(key, "stream-%d", &part) == 1) {
            int w = key[0] == 'w' ? 0 : 1;
            cr_assert(part == 0 || part == 1);
            cr_assert_eq(c, ticks[w][part] + 1, "%s: %ld after %ld (offset %lld)", key, c,
                         ticks[w][part], (long long)evl_record_offset(r));
            ticks[w][part] = c;
            nticks++;
        } else {
            cr_assert_fail("unexpected record %s=%s", key, val);
        }
    }
    evl_reader_close(rd);
    for (int i = 0; i < KEYS; i++)
        cr_assert_eq(last[i], f.truth[i], "k%d: %ld, truly %ld", i, last[i], f.truth[i]);
    cr_assert_eq(n, total);
    cr_log_info("records %ld, wall ticks %ld, stream ticks %ld", n, ticks[0][0] + ticks[0][1], ticks[1][0] + ticks[1][1]);
    cr_assert_gt(ticks[0][0] + ticks[0][1], 10, "wall-clock punctuations: %ld", ticks[0][0] + ticks[0][1]);
    cr_assert_gt(ticks[1][0] + ticks[1][1], 10, "stream-time punctuations: %ld, %ld (records %ld)", ticks[1][0], ticks[1][1], n);
    evl_log_close(log);
}
