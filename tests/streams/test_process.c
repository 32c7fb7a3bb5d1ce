/*
 * test_process.c - processors with their stores, punctuation on stream
 * time (its schedule surviving a restart) and on the wall clock,
 * interactive range queries and window fetches, table map_values and
 * filter, timestamp extractors, partitioners, and per-task metrics.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>

#include "streams_helpers.h"

TestSuite(process, .init = sh_setup, .fini = sh_teardown);

/* ---- a processor counting per key, totals on stream-time punctuation ---- */

static int count_rec(void *arg, evl_pctx_t *ctx, const evl_srec_t *r)
{
    const void *v;
    size_t vl;
    long n = 0;
    char num[32];
    if (evl_pctx_get(ctx, NULL, r->key, r->key_len, &v, &vl) == 0) {
        snprintf(num, sizeof num, "%.*s", (int)vl, (const char *)v); /* values do not end */
        n = strtol(num, NULL, 10);
    }
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld", n + 1);
    return evl_pctx_put(ctx, r->key, r->key_len, buf, (size_t)len);
}

typedef struct emit_all {
    evl_pctx_t *ctx;
    int64_t time;
} emit_all_t;

static int emit_one(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    emit_all_t *e = arg;
    char buf[64];
    int len = snprintf(buf, sizeof buf, "%.*s@%lld", (int)vl, (const char *)v, (long long)e->time);
    return evl_pctx_forward(e->ctx, k, kl, buf, (size_t)len, -1);
}

static int totals(void *arg, evl_pctx_t *ctx, int64_t time)
{
    emit_all_t e = {ctx, time};
    cr_assert_eq(evl_pctx_stream_time(ctx), time);
    return evl_pctx_range(ctx, NULL, NULL, 0, NULL, 0, emit_one, &e);
}

static evl_streams_builder_t *counting(void)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *p = evl_stream_process(evl_stream(b, "in"), count_rec, NULL, "counts");
    cr_assert_eq(evl_stream_punctuate(p, EVL_PUNCTUATE_STREAM_TIME, 1000, totals, NULL), 0);
    cr_assert_eq(evl_stream_to(p, "totals"), 0);
    cr_assert_null(evl_streams_builder_error(b));
    return b;
}

Test(process, stream_time_punctuation)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    evl_streams_builder_t *b = counting();
    evl_streams_t *app = sh_run(b, "p1");
    /* the first record punctuates (schedules start at 0), then each time
     * stream time reaches the last punctuation + 1000; a jump punctuates
     * once; a late record does not move stream time */
    sh_put("in", 0, "a", "x", 1000);
    sh_put("in", 0, "b", "x", 1500);
    sh_put("in", 0, "a", "x", 1999);
    sh_put("in", 0, "a", "x", 500);
    sh_put("in", 0, "a", "x", 2000);
    sh_put("in", 0, "c", "x", 5500);
    char *out = sh_dump("totals", 6);
    cr_assert_str_eq(out, "a=1@1000\n"
                          "a=4@2000\nb=1@2000\n"
                          "a=4@5500\nb=1@5500\nc=1@5500\n");
    free(out);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_PUNCTUATIONS), 3);
    /* the processor's store, queried */
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "counts", "a", 1, &v, &vl), 0);
    cr_assert_eq(vl, 1);
    cr_assert_eq(memcmp(v, "4", 1), 0);
    free(v);
    cr_assert_eq(evl_streams_close(app), 0);
    /* the schedule is in the checkpoint: after a restart the next
     * punctuation is at 6500, not at the first record */
    app = sh_run(b, "p1");
    sh_put("in", 0, "a", "x", 6000);
    sh_put("in", 0, "a", "x", 6499);
    sh_put("in", 0, "b", "x", 6500);
    out = sh_dump("totals", 9);
    cr_assert_str_eq(out, "a=1@1000\n"
                          "a=4@2000\nb=1@2000\n"
                          "a=4@5500\nb=1@5500\nc=1@5500\n"
                          "a=6@6500\nb=2@6500\nc=1@6500\n");
    free(out);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* ---- range queries ---- */

typedef struct seen {
    char text[512];
    size_t len;
    int stop_after;
    int n;
} seen_t;

static int note(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    seen_t *s = arg;
    s->len += (size_t)snprintf(s->text + s->len, sizeof s->text - s->len, "%.*s=%.*s ", (int)kl,
                               (const char *)k, (int)vl, (const char *)v);
    return ++s->n == s->stop_after;
}

Test(process, range_queries)
{
    cr_assert_eq(evl_topic_create(log_, "in", 2, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_eq(evl_stream_to(evl_stream_process(evl_stream(b, "in"), count_rec, NULL, "counts"),
                               "unused"),
                 0);
    evl_streams_t *app = sh_run(b, "p2");
    sh_put("in", 0, "ant", "x", -1);
    sh_put("in", 0, "bee", "x", -1);
    sh_put("in", 0, "bee", "x", -1);
    sh_put("in", 0, "cat", "x", -1);
    sh_put("in", 1, "dog", "x", -1);
    sh_put("in", 1, "bat", "x", -1);
    sh_wait_records(app, 6);
    seen_t s = {.stop_after = -1};
    cr_assert_eq(evl_streams_store_range(app, "counts", "b", 1, "c", 1, note, &s), 0);
    /* each task's keys in order; the tasks in the order they run */
    cr_assert(!strcmp(s.text, "bee=2 bat=1 ") || !strcmp(s.text, "bat=1 bee=2 "), "%s", s.text);
    memset(&s, 0, sizeof s);
    s.stop_after = -1;
    cr_assert_eq(evl_streams_store_range(app, "counts", NULL, 0, NULL, 0, note, &s), 0);
    cr_assert_eq(s.n, 5, "%s", s.text);
    memset(&s, 0, sizeof s);
    s.stop_after = 2; /* a stop ends the scan over every task */
    cr_assert_eq(evl_streams_store_range(app, "counts", NULL, 0, NULL, 0, note, &s), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_eq(evl_streams_store_range(app, "nope", NULL, 0, NULL, 0, note, &s), EVL_ENOTFOUND);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* ---- window fetch ---- */

typedef struct wins {
    char text[512];
    size_t len;
} wins_t;

static int note_win(void *arg, int64_t start, int64_t end, const void *v, size_t vl)
{
    wins_t *w = arg;
    uint64_t c = 0;
    for (size_t i = 0; i < vl; i++)
        c = c << 8 | ((const uint8_t *)v)[i];
    w->len += (size_t)snprintf(w->text + w->len, sizeof w->text - w->len, "[%lld,%lld)=%llu ",
                               (long long)start, (long long)end, (unsigned long long)c);
    return 0;
}

Test(process, window_fetch)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kwindowed_t *w = evl_grouped_windowed_by(evl_stream_group_by_key(evl_stream(b, "in")),
                                                 1000, 1000, 100000);
    cr_assert_not_null(evl_windowed_count(w, "wc"));
    evl_streams_t *app = sh_run(b, "p3");
    sh_put("in", 0, "k", "x", 100);
    sh_put("in", 0, "kk", "x", 150);
    sh_put("in", 0, "k", "x", 1100);
    sh_put("in", 0, "k", "x", 1200);
    sh_put("in", 0, "k", "x", 2500);
    sh_wait_records(app, 5);
    wins_t r = {0};
    cr_assert_eq(evl_streams_window_fetch(app, "wc", "k", 1, 0, 1500, note_win, &r), 0);
    cr_assert_str_eq(r.text, "[0,1000)=1 [1000,2000)=2 ");
    memset(&r, 0, sizeof r);
    cr_assert_eq(evl_streams_window_fetch(app, "wc", "k", 1, 0, INT64_MAX, note_win, &r), 0);
    cr_assert_str_eq(r.text, "[0,1000)=1 [1000,2000)=2 [2000,3000)=1 ");
    memset(&r, 0, sizeof r);
    cr_assert_eq(evl_streams_window_fetch(app, "wc", "kk", 2, 0, INT64_MAX, note_win, &r), 0);
    cr_assert_str_eq(r.text, "[0,1000)=1 ");
    cr_assert_eq(evl_streams_window_fetch(app, "counts", "k", 1, 0, 1, note_win, &r), EVL_ENOTFOUND);
    cr_assert_eq(evl_streams_window_fetch(app, "wc", "k", 1, 5, 1, note_win, &r), EVL_EINVAL);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* ---- table map_values and filter ---- */

static int upper(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    char buf[64];
    size_t n = r->value_len < sizeof buf ? r->value_len : sizeof buf;
    for (size_t i = 0; i < n; i++) {
        char c = ((const char *)r->value)[i];
        buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    return evl_emit(em, NULL, 0, buf, n, -1);
}

static bool starts_a(void *arg, const evl_srec_t *r)
{
    return r->value_len && ((const char *)r->value)[0] == 'A';
}

Test(process, table_map_values_and_filter)
{
    cr_assert_eq(evl_topic_create(log_, "t", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *up = evl_table_map_values(evl_table(b, "t", "raw"), upper, NULL, "upper");
    evl_ktable_t *kept = evl_table_filter(up, starts_a, NULL, true, "kept");
    evl_ktable_t *others = evl_table_filter(up, starts_a, NULL, false, NULL);
    cr_assert_eq(evl_stream_to(evl_table_to_stream(kept), "out"), 0);
    cr_assert_eq(evl_stream_to(evl_table_to_stream(others), "others"), 0);
    cr_assert_null(evl_streams_builder_error(b));
    evl_streams_t *app = sh_run(b, "p4");
    sh_put("t", 0, "k1", "apple", -1);
    sh_put("t", 0, "k2", "banana", -1);   /* never passes: no deletion downstream */
    sh_put("t", 0, "k1", "avocado", -1);
    sh_put("t", 0, "k1", "berry", -1);    /* no longer passes: deleted downstream */
    sh_put("t", 0, "k1", NULL, -1);       /* deleted: "kept" no longer has it */
    char *out = sh_dump("out", 3);
    cr_assert_str_eq(out, "k1=APPLE\nk1=AVOCADO\nk1=null\n");
    free(out);
    /* not materialized: every filtered update is a deletion */
    out = sh_dump("others", 5);
    cr_assert_str_eq(out, "k1=null\nk2=BANANA\nk1=null\nk1=BERRY\nk1=null\n");
    free(out);
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "upper", "k2", 2, &v, &vl), 0);
    cr_assert_eq(vl, 6);
    cr_assert_eq(memcmp(v, "BANANA", 6), 0);
    free(v);
    cr_assert_eq(evl_streams_store_get(app, "kept", "k2", 2, &v, &vl), EVL_ENOTFOUND);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
    /* an unmaterialized table cannot be joined */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *plain = evl_table_filter(evl_table(b, "t", "raw"), starts_a, NULL, true, NULL);
    cr_assert_null(evl_stream_join_table(evl_stream(b, "t"), plain, NULL, NULL, EVL_JOIN_INNER));
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);
}

/* ---- timestamp extractors and partitioners ---- */

static int64_t ts_from_value(void *arg, const evl_srec_t *r, int64_t stream_time)
{
    /* "t=NNN": NNN; anything else: skipped */
    if (r->value_len < 3 || memcmp(r->value, "t=", 2))
        return -1;
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)r->value_len - 2, (const char *)r->value + 2);
    return strtoll(buf, NULL, 10);
}

static int32_t by_first_digit(void *arg, const evl_srec_t *r, int32_t parts)
{
    char c = r->key_len ? ((const char *)r->key)[0] : 0;
    return c >= '0' && c <= '9' ? c - '0' : -1;
}

Test(process, timestamps_and_partitioner)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "out", 3, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *s = evl_stream(b, "in");
    cr_assert_eq(evl_source_timestamps(s, ts_from_value, NULL), 0);
    cr_assert_eq(evl_stream_to_with(s, "out", by_first_digit, NULL), 0);
    cr_assert_eq(evl_source_timestamps(evl_stream_filter(s, starts_a, NULL), ts_from_value, NULL),
                 EVL_EINVAL); /* not a source */
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);

    cr_assert_eq(evl_streams_builder_new(&b), 0);
    s = evl_stream(b, "in");
    cr_assert_eq(evl_source_timestamps(s, ts_from_value, NULL), 0);
    cr_assert_eq(evl_stream_to_with(s, "out", by_first_digit, NULL), 0);
    evl_streams_t *app = sh_run(b, "p5");
    sh_put("in", 0, "2x", "t=777", 5);
    sh_put("in", 0, "0y", "garbage", 6);
    sh_put("in", 0, "1z", "t=12", 7);
    sh_wait_records(app, 3);
    char *out = sh_dump_ex("out", 2, true);
    cr_assert_str_eq(out, "1:1z=t=12\n2:2x=t=777\n");
    free(out);
    evl_reader_t *rd;
    const evl_record_t *r;
    cr_assert_eq(evl_reader_open(log_, "out", 2, &rd), 0);
    cr_assert_eq(evl_reader_next(rd, 1000, &r), 0);
    cr_assert_eq(evl_record_timestamp(r), 777);
    evl_reader_close(rd);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_SKIPPED), 1);
    /* a partition out of range fails the task */
    sh_put("in", 0, "7w", "t=1", 8);
    for (int i = 0; i < 200 && !evl_streams_error(app, NULL, 0); i++)
        usleep(10000);
    char err[256];
    cr_assert_eq(evl_streams_error(app, err, sizeof err), EVL_EINVAL, "%s", err);
    cr_assert_eq(evl_streams_close(app), EVL_EINVAL);
    evl_streams_builder_free(b);
}

/* ---- wall-clock punctuation and per-task metrics ---- */

static atomic_int ticks;

static int tick(void *arg, evl_pctx_t *ctx, int64_t time)
{
    atomic_fetch_add(&ticks, 1);
    char k[8], v[32];
    int kl = snprintf(k, sizeof k, "%d", evl_pctx_partition(ctx));
    int vl = snprintf(v, sizeof v, "tick");
    /* a punctuator writes the store too: its count of ticks */
    const void *old;
    size_t ol;
    char num[32] = "0";
    if (evl_pctx_get(ctx, NULL, "ticks", 5, &old, &ol) == 0)
        snprintf(num, sizeof num, "%.*s", (int)ol, (const char *)old); /* values do not end */
    long n = strtol(num, NULL, 10);
    char nb[32];
    int nl = snprintf(nb, sizeof nb, "%ld", n + 1);
    int rc = evl_pctx_put(ctx, "ticks", 5, nb, (size_t)nl);
    return rc ? rc : evl_pctx_forward(ctx, k, (size_t)kl, v, (size_t)vl, time);
}

static int pass(void *arg, evl_pctx_t *ctx, const evl_srec_t *r)
{
    return evl_pctx_forward(ctx, r->key, r->key_len, r->value, r->value_len, -1);
}

/* in -> a processor passing records on, with its store "own" and a
 * wall-clock punctuation (tick) every interval ms -> out. */
static evl_streams_builder_t *wall_topology(int64_t interval)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *p = evl_stream_process(evl_stream(b, "in"), pass, NULL, "own");
    cr_assert_eq(evl_stream_punctuate(p, EVL_PUNCTUATE_WALL_CLOCK, interval, tick, NULL), 0);
    cr_assert_eq(evl_stream_to(p, "out"), 0);
    return b;
}

Test(process, wall_clock_punctuation_and_task_metrics)
{
    cr_assert_eq(evl_topic_create(log_, "in", 2, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *p = evl_stream_process(evl_stream(b, "in"), pass, NULL, "own");
    cr_assert_eq(evl_stream_punctuate(p, EVL_PUNCTUATE_WALL_CLOCK, 100, tick, NULL), 0);
    cr_assert_eq(evl_stream_punctuate(p, 7, 100, tick, NULL), EVL_EINVAL);
    evl_streams_builder_free(b);
    b = wall_topology(100);
    const char *fast[] = {"commit.interval.ms", "20"};
    evl_streams_t *app = sh_run_with(b, "p6", fast, 2);
    for (int i = 0; i < 10; i++)
        sh_put("in", i % 2, "k", "v", -1);
    sh_wait_records(app, 10);
    for (int i = 0; i < 300 && atomic_load(&ticks) < 8; i++)
        usleep(10000);
    cr_assert_geq(atomic_load(&ticks), 8);
    evl_task_metrics_t m[4];
    size_t n = 0;
    cr_assert_eq(evl_streams_task_metrics(app, m, 4, &n), 0);
    cr_assert_eq(n, 2);
    int64_t records = 0, puncts = 0;
    for (size_t i = 0; i < n; i++) {
        records += m[i].records;
        puncts += m[i].punctuations;
        cr_assert_gt(m[i].commits, 0);
        cr_assert_geq(m[i].commit_latency_max_us, m[i].commit_latency_avg_us);
        cr_assert_gt(m[i].commit_latency_max_us, 0);
    }
    cr_assert_eq(records, 10);
    cr_assert_geq(puncts, 8);
    cr_assert_geq(evl_streams_metric(app, EVL_SM_PUNCTUATIONS), puncts);
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "own", "ticks", 5, &v, &vl), 0);
    free(v);
    cr_assert_eq(evl_streams_close(app), 0);
    /* the state directory deleted: restored from the changelog, which the
     * metrics show */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tpath("state"));
    cr_assert_eq(system(cmd), 0);
    app = sh_run_with(b, "p6", fast, 2);
    for (int i = 0; i < 400; i++) {
        cr_assert_eq(evl_streams_task_metrics(app, m, 4, &n), 0);
        if (n == 2)
            break;
        usleep(10000);
    }
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        cr_assert_gt(m[i].restore_total, 0);
        cr_assert_eq(m[i].restored, m[i].restore_total);
    }
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* A wall-clock punctuation's batch cut short by a crash is processed
 * again with its time: the crash is made by hand, an intent naming the
 * punctuation (processor node 1, schedule 0) at time 12345 appended to
 * the changelog after a clean run, as evl__task_wall_punctuate writes it. */
Test(process, wall_clock_punctuation_replayed_with_its_time)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    evl_streams_builder_t *b = wall_topology(3600000);
    evl_streams_t *app = sh_run(b, "p7");
    sh_put("in", 0, "k", "v", 5);
    free(sh_dump("out", 1));
    cr_assert_eq(evl_streams_close(app), 0);
    const char *intent = "x 0 1 1\nw 1 0 12345\n";
    evl_producer_t *pr;
    cr_assert_eq(evl_producer_new(log_, "p7-0-changelog", NULL, &pr), 0);
    evl_msg_t m = {"\xff\xff" "intent", 8, intent, strlen(intent), NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(pr, &m, 0), 0);
    evl_producer_close(pr);
    app = sh_run(b, "p7");
    char *out = sh_dump("out", 2);
    cr_assert_str_eq(out, "k=v\n0=tick\n");
    free(out);
    evl_reader_t *rd;
    const evl_record_t *r;
    cr_assert_eq(evl_reader_open(log_, "out", 0, &rd), 0);
    cr_assert_eq(evl_reader_seek(rd, 1), 0);
    cr_assert_eq(evl_reader_next(rd, 1000, &r), 0);
    cr_assert_eq(evl_record_timestamp(r), 12345);
    evl_reader_close(rd);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_REPLAYED), 1);
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "own", "ticks", 5, &v, &vl), 0);
    cr_assert_eq(vl, 1);
    cr_assert_eq(memcmp(v, "1", 1), 0);
    free(v);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* ---- several stream threads in one instance ---- */

/* Each task's records, in the log of a failing test. */
static void log_tasks(evl_streams_t *app)
{
    evl_task_metrics_t tm[16];
    size_t tn = 0;
    evl_streams_task_metrics(app, tm, 16, &tn);
    for (size_t i = 0; i < tn && i < 16; i++)
        cr_log_error("task %d_%d: %lld records", tm[i].subtopology, tm[i].partition,
                     (long long)tm[i].records);
}

static int by_value(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1);
}

Test(process, three_stream_threads_share_the_tasks)
{
    cr_assert_eq(evl_topic_create(log_, "words", 4, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *c = evl_grouped_count(evl_stream_group_by(evl_stream(b, "words"), by_value, NULL),
                                        "wcounts");
    cr_assert_eq(evl_stream_to(evl_table_to_stream(c), "wout"), 0);
    const char *extra[] = {"num.stream.threads", "3", "commit.interval.ms", "20"};
    evl_streams_t *app = sh_run_with(b, "p8", extra, 4);
    static const char *const vocab[] = {"red", "green", "blue", "cyan", "pink"};
    long truth[5] = {0};
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, "words", NULL, &p), 0);
    unsigned seed = 5;
    for (int i = 0; i < 4000; i++) {
        int w = (int)(rand_r(&seed) % 5);
        truth[w]++;
        evl_msg_t m = {NULL, 0, vocab[w], strlen(vocab[w]), NULL, 0, -1, i % 4, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    evl_producer_close(p);
    /* two sub-topologies (before and after the repartition) of 4 tasks */
    for (int i = 0; i < 1000 && evl_streams_metric(app, EVL_SM_RECORDS) < 8000; i++)
        usleep(10000);
    if (evl_streams_metric(app, EVL_SM_RECORDS) < 8000) {
        log_tasks(app);
        char e[256] = "";
        evl_streams_error(app, e, sizeof e);
        cr_assert_fail("records %lld: %s", (long long)evl_streams_metric(app, EVL_SM_RECORDS), e);
    }
    for (int i = 0; i < 400 && evl_streams_metric(app, EVL_SM_TASKS) != 8; i++)
        usleep(10000);
    if (evl_streams_metric(app, EVL_SM_TASKS) != 8) {
        log_tasks(app);
    }
    cr_assert_eq(evl_streams_metric(app, EVL_SM_TASKS), 8, "tasks: %lld", (long long)evl_streams_metric(app, EVL_SM_TASKS));
    for (int w = 0; w < 5; w++) {
        void *v = NULL;
        size_t vl = 0;
        int rc = EVL_ENOTFOUND;
        for (int i = 0; i < 400; i++) {
            free(v);
            v = NULL;
            rc = evl_streams_store_get(app, "wcounts", vocab[w], strlen(vocab[w]), &v, &vl);
            if (!rc && evl_int64_get(v) == truth[w])
                break;
            usleep(10000);
        }
        cr_assert_eq(rc, 0);
        cr_assert_eq(evl_int64_get(v), truth[w], "%s: %lld, truly %ld", vocab[w],
                     (long long)evl_int64_get(v), truth[w]);
        free(v);
    }
    evl_task_metrics_t m[8];
    size_t n;
    cr_assert_eq(evl_streams_task_metrics(app, m, 8, &n), 0);
    cr_assert_eq(n, 8);
    int64_t records = 0;
    for (size_t i = 0; i < n; i++)
        records += m[i].records;
    cr_assert_eq(records, 8000);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* A wall-clock punctuation more frequent than commit.interval.ms fires on
 * its own schedule: the poll waits no longer than the next one is due. */
Test(process, wall_clock_punctuation_sooner_than_the_commit_interval)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    evl_streams_builder_t *b = wall_topology(50);
    const char *slow[] = {"commit.interval.ms", "2000"};
    evl_streams_t *app = sh_run_with(b, "p9", slow, 2);
    for (int i = 0; i < 400 && evl_streams_metric(app, EVL_SM_TASKS) < 1; i++)
        usleep(10000);
    int64_t before = evl_streams_metric(app, EVL_SM_PUNCTUATIONS);
    usleep(1000000);
    int64_t n = evl_streams_metric(app, EVL_SM_PUNCTUATIONS) - before;
    cr_assert_geq(n, 8, "%lld punctuations in a second at 50 ms", (long long)n);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* Local state that belongs to no changelog any more (the changelog was
 * deleted) is dropped and the task starts over from the changelog there
 * is: from the input's start, so all 6 records are counted again (kept,
 * the state would have been 5 + the new one, with 1 record processed);
 * state.dir holds a quote, which a shell command would have choked on. */
Test(process, local_state_of_another_changelog_dropped)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_not_null(evl_grouped_count(evl_stream_group_by_key(evl_stream(b, "in")), "c"));
    char state[1100];
    snprintf(state, sizeof state, "%s/it's state", tpath(""));
    const char *conf[] = {"application.id", "p10", "state.dir", state};
    char err[256];
    evl_streams_t *app;
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), 0, "%s", err);
    cr_assert_eq(evl_streams_start(app), 0);
    for (int i = 0; i < 5; i++)
        sh_put("in", 0, "k", "v", -1);
    sh_wait_records(app, 5);
    cr_assert_eq(evl_streams_close(app), 0);
    cr_assert_eq(evl_topic_delete(log_, "p10-0-changelog"), 0);
    /* the input read again from the start: a group of its own */
    const char *conf2[] = {"application.id", "p10", "state.dir", state};
    cr_assert_eq(evl_streams_new(log_, b, conf2, 2, err, sizeof err, &app), 0, "%s", err);
    cr_assert_eq(evl_streams_start(app), 0);
    sh_put("in", 0, "k", "v", -1);
    void *v = NULL;
    size_t vl;
    for (int i = 0; i < 400; i++) {
        if (evl_streams_store_get(app, "c", "k", 1, &v, &vl) == 0) {
            if (evl_int64_get(v) == 6)
                break;
            free(v);
            v = NULL;
        }
        usleep(10000);
    }
    cr_assert_not_null(v, "the count never reached 6");
    free(v);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_RECORDS), 6);
    struct stat st;
    char task_dir[1200];
    snprintf(task_dir, sizeof task_dir, "%s/p10/0_0", state);
    cr_assert_eq(stat(task_dir, &st), 0);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}
