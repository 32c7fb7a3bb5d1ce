/*
 * test_windows.c - windowed aggregations of libeventlog-streams
 * (lib/streams/window.c) against Kafka Streams' semantics: tumbling
 * windows with out-of-order records inside the grace period and a late
 * one dropped and counted; hopping windows (a record in size/advance
 * windows, through a repartition topic); session windows merging as
 * Kafka's SessionWindows javadoc example shows (merged sessions retracted
 * with null values); suppress emitting exactly one final result per
 * window once stream time passes its end + grace; a restart in the
 * middle (stream time and open windows survive, no final repeated); and
 * examples/sensor_windows killed -9 again and again: each window's final
 * average exactly once, and right.
 */
#include <criterion/criterion.h>
#include <eventlog.h>
#include <eventlog/streams.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "helpers.h"

static void setup(void)
{
    test_dir_setup();
}

static void teardown(void)
{
    test_dir_teardown();
}

TestSuite(windows, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void send_at(evl_log_t *log, const char *topic, const char *key, const char *value,
                    int64_t ts)
{
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, topic, NULL, &p), 0);
    evl_msg_t m = {key, key ? strlen(key) : 0, value, value ? strlen(value) : 0, NULL, 0, ts,
                   0, -1};
    int rc = evl_producer_send(p, &m, 0);
    cr_assert_eq(rc, 0, "send: %s", evl_strerror(rc));
    evl_producer_close(p);
}

typedef struct at {
    const char *key;
    int64_t ts;
    const char *value;
} at_t;

static void send_all(evl_log_t *log, const at_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        send_at(log, "in", v[i].key, v[i].value ? v[i].value : "x", v[i].ts);
}

/* Topic out's records as text, waiting until there are want of them:
 * "key@start=value" (time windows) or "key[start,end]=value" (sessions),
 * counts as numbers, null values as null; with the timestamps (" ts") if
 * stamps. */
static char *read_out(evl_log_t *log, size_t want, bool session, bool count, bool stamps)
{
    char *buf = calloc(1, 1 << 16);
    size_t got = 0;
    for (int tries = 0; tries < 200; tries++) {
        evl_reader_t *rd;
        if (evl_reader_open(log, "out", 0, &rd)) {
            usleep(50000);
            continue;
        }
        size_t len = 0;
        got = 0;
        buf[0] = 0;
        const evl_record_t *r;
        while (evl_reader_next(rd, 0, &r) == 0) {
            size_t kl, vl, rkl;
            const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
            int64_t start, end;
            cr_assert_eq(evl_windowed_key_parse(k, kl, session, &rkl, &start, &end), 0);
            char val[64];
            if (!v)
                snprintf(val, sizeof val, "null");
            else if (count) {
                cr_assert_eq(vl, 8);
                long long c = 0;
                for (int i = 0; i < 8; i++)
                    c = c << 8 | ((const unsigned char *)v)[i];
                snprintf(val, sizeof val, "%lld", c);
            } else
                snprintf(val, sizeof val, "%.*s", (int)vl, v);
            if (session)
                len += (size_t)snprintf(buf + len, (1 << 16) - len, "%s%.*s[%lld,%lld]=%s",
                                        got ? " " : "", (int)rkl, k, (long long)start,
                                        (long long)end, val);
            else
                len += (size_t)snprintf(buf + len, (1 << 16) - len, "%s%.*s@%lld=%s",
                                        got ? " " : "", (int)rkl, k, (long long)start, val);
            if (stamps)
                len += (size_t)snprintf(buf + len, (1 << 16) - len, " %lld",
                                        (long long)evl_record_timestamp(r));
            got++;
        }
        evl_reader_close(rd);
        if (got >= want)
            break;
        usleep(50000);
    }
    return buf;
}

static evl_streams_t *start(evl_log_t *log, evl_streams_builder_t *b)
{
    cr_assert_null(evl_streams_builder_error(b), "%s", evl_streams_builder_error(b));
    const char *conf[] = {"application.id", "win", "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    int rc = evl_streams_new(log, b, conf, 2, err, sizeof err, &app);
    cr_assert_eq(rc, 0, "%s: %s", evl_strerror(rc), err);
    cr_assert_eq(evl_streams_start(app), 0);
    return app;
}

/* Until the application has processed n input records (all of its
 * sub-topologies'), then a little more for what they sent to land. */
static void wait_records(evl_streams_t *app, int64_t n)
{
    for (int i = 0; i < 400 && evl_streams_metric(app, EVL_SM_RECORDS) < n; i++)
        usleep(25000);
    cr_assert_geq(evl_streams_metric(app, EVL_SM_RECORDS), n);
    usleep(300000);
}

static void stop(evl_streams_t *app, evl_streams_builder_t *b)
{
    char err[256] = "";
    evl_streams_error(app, err, sizeof err);
    cr_assert_eq(evl_streams_close(app), 0, "%s", err);
    evl_streams_builder_free(b);
}

static evl_log_t *open_log(void)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "in", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log, "out", 1, NULL), 0);
    return log;
}

static evl_ktable_t *time_count(evl_streams_builder_t *b, int64_t size, int64_t advance,
                                int64_t grace)
{
    evl_kgrouped_t *g = evl_stream_group_by_key(evl_stream(b, "in"));
    return evl_windowed_count(evl_grouped_windowed_by(g, size, advance, grace), "counts");
}

/* ---- tumbling ---- */

/* 1-minute windows, 10 s grace: records out of order inside the grace
 * period count; one after its window's end + grace is dropped. */
Test(windows, tumbling_grace_and_late, .timeout = 60)
{
    evl_log_t *log = open_log();
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_eq(evl_stream_to(evl_table_to_stream(time_count(b, 60000, 60000, 10000)), "out"),
                 0);
    evl_streams_t *app = start(log, b);
    const at_t in[] = {
        {"k", 1000, NULL},  {"k", 30000, NULL}, {"k", 61000, NULL},
        {"k", 50000, NULL}, /* out of order; window 0 open until 70000 */
        {"j", 59999, NULL}, {"k", 71000, NULL}, /* stream time 71000: window 0 closed */
        {"k", 59000, NULL},                     /* late: dropped */
        {"k", 60000, NULL},                     /* the next window's first instant */
    };
    send_all(log, in, 8);
    wait_records(app, 8);
    char *out = read_out(log, 7, false, true, true);
    cr_assert_str_eq(out, "k@0=1 1000 k@0=2 30000 k@60000=1 61000 k@0=3 50000 j@0=1 59999 "
                          "k@60000=2 71000 k@60000=3 60000");
    free(out);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_DROPPED), 1);
    /* the store: open windows, under the windowed key; closed ones gone */
    unsigned char wk[9] = {'k', 0, 0, 0, 0, 0, 0, 0xea, 0x60}; /* k + 60000 */
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "counts", wk, 9, &v, &vl), 0);
    cr_assert_eq(vl, 8);
    cr_assert_eq(((unsigned char *)v)[7], 3);
    free(v);
    unsigned char w0[9] = {'k', 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(evl_streams_store_get(app, "counts", w0, 9, &v, &vl), EVL_ENOTFOUND);
    stop(app, b);
    evl_log_close(log);
}

/* ---- hopping ---- */

static int by_value(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    (void)arg;
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1);
}

/* 60 s windows every 20 s: a record is in 3 windows (only in those that
 * start at 0 or later near the epoch); the key comes from the value, so
 * the records go through a repartition topic. */
Test(windows, hopping, .timeout = 60)
{
    evl_log_t *log = open_log();
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kgrouped_t *g = evl_stream_group_by(evl_stream(b, "in"), by_value, NULL);
    evl_ktable_t *t = evl_windowed_count(evl_grouped_windowed_by(g, 60000, 20000, 0), "hops");
    cr_assert_eq(evl_stream_to(evl_table_to_stream(t), "out"), 0);
    evl_streams_t *app = start(log, b);
    const at_t in[] = {{"x", 65000, "a"}, {"y", 5000, "a"}, {"z", 70000, "b"}};
    send_all(log, in, 3);
    wait_records(app, 6); /* 3 in, 3 through the repartition topic */
    char *out = read_out(log, 6, false, true, false);
    /* 5000's only window is [0, 60000) (starts are clamped at 0, as in
     * Kafka), closed at stream time 65000: dropped */
    cr_assert_str_eq(out, "a@20000=1 a@40000=1 a@60000=1 b@20000=1 b@40000=1 b@60000=1");
    free(out);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_DROPPED), 1);
    stop(app, b);
    evl_log_close(log);
}

/* A record near the epoch: the one window starting at 0 (Kafka clamps). */
Test(windows, hopping_near_epoch, .timeout = 60)
{
    evl_log_t *log = open_log();
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_eq(evl_stream_to(evl_table_to_stream(time_count(b, 60000, 20000, 0)), "out"), 0);
    evl_streams_t *app = start(log, b);
    const at_t in[] = {{"a", 5000, NULL}, {"a", 25000, NULL}};
    send_all(log, in, 2);
    wait_records(app, 2);
    char *out = read_out(log, 3, false, true, false);
    cr_assert_str_eq(out, "a@0=1 a@0=2 a@20000=1");
    free(out);
    stop(app, b);
    evl_log_close(log);
}

/* ---- sessions ---- */

/* value: the sum of the records' values (decimal text) */
static int add_value(void *arg, const evl_srec_t *r, const void *agg, size_t agg_len,
                     evl_emit_t *em)
{
    (void)arg;
    char a[32], v[32], out[32];
    snprintf(a, sizeof a, "%.*s", (int)agg_len, (const char *)agg);
    snprintf(v, sizeof v, "%.*s", (int)r->value_len, (const char *)r->value);
    int n = snprintf(out, sizeof out, "%ld", strtol(a, NULL, 10) + strtol(v, NULL, 10));
    return evl_emit(em, NULL, 0, out, (size_t)n, -1);
}

static int merge_sums(void *arg, const void *key, size_t key_len, const void *a, size_t alen,
                      const void *b, size_t blen, evl_emit_t *em)
{
    (void)arg;
    (void)key;
    (void)key_len;
    char x[32], y[32], out[32];
    snprintf(x, sizeof x, "%.*s", (int)alen, (const char *)a);
    snprintf(y, sizeof y, "%.*s", (int)blen, (const char *)b);
    int n = snprintf(out, sizeof out, "%ld", strtol(x, NULL, 10) + strtol(y, NULL, 10));
    return evl_emit(em, NULL, 0, out, (size_t)n, -1);
}

/* Kafka's SessionWindows javadoc: gap 5; A at 10, 12, 20 makes sessions
 * [10,12] and [20,20]; A at 16 merges them into [10,20], the aggregate of
 * all 4 values. Each update forwarded with the session's end as its
 * timestamp, merged sessions retracted with a null value. */
Test(windows, session_merging_count, .timeout = 60)
{
    evl_log_t *log = open_log();
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kgrouped_t *g = evl_stream_group_by_key(evl_stream(b, "in"));
    evl_ktable_t *t =
        evl_windowed_count(evl_grouped_session_windowed_by(g, 5, 100), "sessions");
    cr_assert_eq(evl_stream_to(evl_table_to_stream(t), "out"), 0);
    evl_streams_t *app = start(log, b);
    const at_t in[] = {{"A", 10, "1"}, {"A", 12, "2"}, {"A", 20, "3"}, {"A", 16, "4"}};
    send_all(log, in, 4);
    wait_records(app, 4);
    char *out = read_out(log, 7, true, true, true);
    cr_assert_str_eq(out, "A[10,10]=1 10 A[10,10]=null 10 A[10,12]=2 12 A[20,20]=1 20 "
                          "A[10,12]=null 12 A[20,20]=null 20 A[10,20]=4 20");
    free(out);
    /* the store: the merged session only, under Kafka's session key */
    unsigned char sk[17] = {'A', 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 10};
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "sessions", sk, 17, &v, &vl), 0);
    cr_assert_eq(((unsigned char *)v)[7], 4);
    free(v);
    stop(app, b);
    evl_log_close(log);
}

/* The same with an aggregate and a merger (sum of the values), a key
 * that has the other as its prefix kept apart, and a record too late for
 * its session (stream time past its end + gap + grace) dropped. */
Test(windows, session_aggregate_merger_and_late, .timeout = 60)
{
    evl_log_t *log = open_log();
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kgrouped_t *g = evl_stream_group_by_key(evl_stream(b, "in"));
    evl_ktable_t *t = evl_session_aggregate(evl_grouped_session_windowed_by(g, 5, 10), "0", 1,
                                            add_value, merge_sums, NULL, "sums");
    cr_assert_eq(evl_stream_to(evl_table_to_stream(t), "out"), 0);
    evl_streams_t *app = start(log, b);
    const at_t in[] = {{"A", 10, "1"}, {"A", 12, "2"}, {"AB", 11, "7"}, {"A", 20, "3"},
                       {"A", 16, "4"}, {"B", 40, "5"}, /* stream time 40 */
                       {"A", 24, "9"}, /* 24 + 5 + 10 < 40: late */
                       {"A", 33, "6"}}; /* 33 + 5 + 10 >= 40: open */
    send_all(log, in, 8);
    wait_records(app, 8);
    char *out = read_out(log, 10, true, false, false);
    cr_assert_str_eq(out, "A[10,10]=1 A[10,10]=null A[10,12]=3 AB[11,11]=7 A[20,20]=3 "
                          "A[10,12]=null A[20,20]=null A[10,20]=10 B[40,40]=5 A[33,33]=6");
    free(out);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_DROPPED), 1);
    stop(app, b);
    evl_log_close(log);
}

/* ---- suppress ---- */

static evl_streams_builder_t *suppressed_counts(void)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *t = evl_table_suppress_until_window_closes(time_count(b, 60000, 60000, 10000));
    cr_assert_eq(evl_stream_to(evl_table_to_stream(t), "out"), 0);
    cr_assert_null(evl_streams_builder_error(b));
    return b;
}

/* Final results only: each window once, when stream time reaches its
 * end + grace, with the latest timestamp of its records. */
Test(windows, suppress_final_results, .timeout = 60)
{
    evl_log_t *log = open_log();
    evl_streams_builder_t *b = suppressed_counts();
    evl_streams_t *app = start(log, b);
    const at_t in[] = {
        {"b", 1000, NULL},  {"a", 30000, NULL}, {"a", 61000, NULL},
        {"a", 50000, NULL}, {"b", 65000, NULL}, {"a", 69999, NULL}, /* nothing closed yet */
    };
    send_all(log, in, 6);
    wait_records(app, 6);
    char *out = read_out(log, 0, false, true, true);
    cr_assert_str_eq(out, "");
    free(out);
    const at_t more[] = {
        {"a", 70000, NULL},  /* closes [0, 60000): a and b's finals */
        {"a", 59000, NULL},  /* late */
        {"b", 75000, NULL},  {"a", 129999, NULL},
        {"c", 130000, NULL}, /* closes [60000, 120000) */
        {"c", 135000, NULL},
    };
    send_all(log, more, 6);
    wait_records(app, 12);
    out = read_out(log, 4, false, true, true);
    cr_assert_str_eq(out, "a@0=2 50000 b@0=1 1000 a@60000=3 70000 b@60000=2 75000");
    free(out);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_DROPPED), 1);
    stop(app, b);
    evl_log_close(log);
}

/* Closed and opened again in the middle: stream time, open windows and
 * the suppression buffer survive; no final is lost or repeated. */
Test(windows, restart_keeps_windows, .timeout = 90)
{
    evl_log_t *log = open_log();
    evl_streams_builder_t *b = suppressed_counts();
    evl_streams_t *app = start(log, b);
    const at_t one[] = {{"a", 1000, NULL}, {"a", 61000, NULL}, {"a", 71000, NULL}};
    send_all(log, one, 3);
    wait_records(app, 3);
    char *out = read_out(log, 1, false, true, false);
    cr_assert_str_eq(out, "a@0=1");
    free(out);
    stop(app, b);

    b = suppressed_counts();
    app = start(log, b);
    const at_t two[] = {
        {"a", 2000, NULL},   /* late only if stream time (71000) survived */
        {"a", 62000, NULL},  /* counts with the two before the restart */
        {"a", 130000, NULL}, /* closes [60000, 120000) */
    };
    send_all(log, two, 3);
    wait_records(app, 3);
    out = read_out(log, 2, false, true, false);
    cr_assert_str_eq(out, "a@0=1 a@60000=3");
    free(out);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_DROPPED), 1);
    stop(app, b);

    /* a third run with nothing new sends nothing */
    b = suppressed_counts();
    app = start(log, b);
    send_at(log, "in", "z", "x", 130001);
    wait_records(app, 1);
    out = read_out(log, 2, false, true, false);
    cr_assert_str_eq(out, "a@0=1 a@60000=3");
    free(out);
    stop(app, b);
    evl_log_close(log);
}

/* ---- the builder ---- */

static int keep(void *arg, const evl_srec_t *r, const void *agg, size_t agg_len, evl_emit_t *em)
{
    (void)arg;
    (void)agg;
    (void)agg_len;
    return evl_emit(em, NULL, 0, r->value, r->value_len, -1);
}

static void refused(int64_t size, int64_t advance, int64_t grace, const char *what)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kgrouped_t *g = evl_stream_group_by_key(evl_stream(b, "in"));
    cr_assert_null(evl_grouped_windowed_by(g, size, advance, grace), "%s", what);
    cr_assert_not_null(evl_streams_builder_error(b), "%s", what);
    cr_assert_null(evl_windowed_count(NULL, "s"));
    evl_streams_builder_free(b);
}

Test(windows, builder_refuses)
{
    refused(0, 0, 0, "size 0");
    refused(-5, -5, 0, "negative size");
    refused(1000, 0, 0, "advance 0");
    refused(1000, 2000, 0, "advance > size");
    refused(1000, 1000, -1, "negative grace");

    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kgrouped_t *g = evl_stream_group_by_key(evl_stream(b, "in"));
    cr_assert_null(evl_grouped_session_windowed_by(g, 0, 0));
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);

    /* suppress needs a windowed table */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    g = evl_stream_group_by_key(evl_stream(b, "in"));
    cr_assert_null(evl_table_suppress_until_window_closes(evl_grouped_count(g, "plain")));
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);

    /* sessions aggregate only with a merger; reduce is for time windows */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    g = evl_stream_group_by_key(evl_stream(b, "in"));
    evl_kwindowed_t *w = evl_grouped_session_windowed_by(g, 1000, 0);
    cr_assert_not_null(w);
    cr_assert_null(evl_windowed_reduce(w, keep, NULL, "r"));
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);

    /* a good one: time windows' reduce and aggregate, sessions' count,
     * and a suppress each */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    g = evl_stream_group_by_key(evl_stream(b, "in"));
    w = evl_grouped_windowed_by(g, 1000, 500, 0);
    cr_assert_not_null(evl_table_suppress_until_window_closes(evl_windowed_reduce(w, keep, NULL, "r")));
    cr_assert_not_null(evl_windowed_aggregate(w, "", 0, keep, NULL, "ag"));
    evl_ktable_t *s = evl_windowed_count(evl_grouped_session_windowed_by(g, 1000, 0), "sc");
    cr_assert_not_null(evl_table_suppress_until_window_closes(s));
    cr_assert_not_null(evl_table_suppress_until_window_closes(s)); /* twice: a second buffer */
    cr_assert_null(evl_streams_builder_error(b), "%s", evl_streams_builder_error(b));
    cr_assert_null(evl_windowed_count(w, "r")); /* a store named twice */
    evl_streams_builder_free(b);
}

/* ---- exactly once under kill -9: examples/sensor_windows ---- */

#define SENSORS 3
#define READINGS 3000 /* one a second: 49 minutes closed (end + 10 s) */
#define T0 1768471200000LL /* 2026-01-15T10:00:00Z */

static const char *sensor_bin(void)
{
    const char *p = getenv("EVL_SENSOR_WINDOWS");
    return p && *p ? p : "build/examples/sensor_windows";
}

static pid_t spawn_sensor_windows(void)
{
    cr_assert_eq(access(sensor_bin(), X_OK), 0, "%s: build it (make all)", sensor_bin());
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(sensor_bin(), "sensor_windows", "-d", tpath("log"), "--state-dir", tpath("state"),
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int temp_of(int i)
{
    return (i * 7) % 30;
}

typedef struct sfeeder {
    evl_log_t *log;
    atomic_bool done;
} sfeeder_t;

static void *feed_readings(void *arg)
{
    sfeeder_t *f = arg;
    evl_producer_t *p;
    if (evl_producer_new(f->log, "sensor-readings", NULL, &p) == 0) {
        for (int i = 0; i < READINGS; i++) {
            char key[8], val[8];
            snprintf(key, sizeof key, "s%d", i % SENSORS);
            snprintf(val, sizeof val, "%d", temp_of(i));
            evl_msg_t m = {key, strlen(key), val, strlen(val), NULL, 0, T0 + i * 1000LL, 0, -1};
            if (evl_producer_send(p, &m, 0))
                break;
            if (i % 25 == 0)
                usleep(20000); /* about 2.4 s in all, while the kills go on */
        }
        evl_producer_close(p);
    }
    atomic_store(&f->done, true);
    return NULL;
}

Test(windows, sensor_windows_exactly_once_under_kill_9, .timeout = 180)
{
    enum { MINUTES = 49, FINALS = MINUTES * SENSORS };
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "sensor-readings", 1, NULL), 0);
    static sfeeder_t f;
    f.log = log;
    atomic_store(&f.done, false);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, feed_readings, &f), 0);
    unsigned seed = 99;
    pid_t pid = spawn_sensor_windows();
    int kills = test_quick() ? 6 : 12;
    for (int k = 0; k < kills || !atomic_load(&f.done); k++) {
        usleep((useconds_t)(100000 + rand_r(&seed) % 150000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = spawn_sensor_windows();
    }
    pthread_join(th, NULL);

    /* what each final must say */
    static char keys[FINALS][64], avgs[FINALS][16];
    for (int m = 0; m < MINUTES; m++)
        for (int s = 0; s < SENSORS; s++) {
            double sum = 0;
            int n = 0;
            for (int i = m * 60; i < m * 60 + 60; i++)
                if (i % SENSORS == s) {
                    sum += temp_of(i);
                    n++;
                }
            time_t t = (time_t)(T0 / 1000 + m * 60);
            struct tm tm;
            gmtime_r(&t, &tm);
            char when[32];
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            snprintf(keys[m * SENSORS + s], 64, "s%d@%s", s, when);
            snprintf(avgs[m * SENSORS + s], 16, "%.2f", sum / n);
        }
    /* until every final is out (or a timeout) */
    int got = 0;
    for (int tries = 0; tries < 1200 && got < FINALS; tries++) {
        evl_partition_info_t pi;
        got = evl_partition_info(log, "sensor-averages", 0, &pi) == 0 ? (int)pi.end_offset : 0;
        if (got < FINALS)
            usleep(50000);
    }
    usleep(300000);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sensor_windows failed: %d",
              status);

    static bool seen[FINALS];
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "sensor-averages", 0, &rd), 0);
    const evl_record_t *r;
    int n = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t kl, vl;
        const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
        int at = -1;
        for (int i = 0; i < FINALS && at < 0; i++)
            if (strlen(keys[i]) == kl && !memcmp(keys[i], k, kl))
                at = i;
        cr_assert_geq(at, 0, "a final for %.*s (no such closed window)", (int)kl, k);
        cr_assert_not(seen[at], "%s twice (offset %lld)", keys[at],
                      (long long)evl_record_offset(r));
        seen[at] = true;
        cr_assert(strlen(avgs[at]) == vl && !memcmp(avgs[at], v, vl), "%s: %.*s, truly %s",
                  keys[at], (int)vl, v, avgs[at]);
        n++;
    }
    evl_reader_close(rd);
    cr_assert_eq(n, FINALS);
    evl_log_close(log);
}
