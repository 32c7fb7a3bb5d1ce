/*
 * test_stream_joins.c - windowed stream-stream joins of libeventlog-streams
 * (evl_stream_join, lib/streams/join.c) against Kafka Streams' 3.x
 * semantics: the KStream-KStream join table of Kafka's documentation
 * (inner, left and outer alike when every record finds a partner in the
 * window); the window's bounds, before and after, on both sides; left
 * and outer joins emitting (a, null) / (null, b) only once a record's
 * window and grace have passed, never when a match arrives in time; a
 * late record dropped and counted; duplicates of a key joining every
 * pair; a restart in the middle (stored records and stream time survive,
 * no result twice); and what the builder refuses.
 */
#include <criterion/criterion.h>
#include <eventlog.h>
#include <eventlog/streams.h>

#include "helpers.h"

static evl_log_t *log_;

static void setup(void)
{
    test_dir_setup();
    log_ = test_open(NULL);
    const char *topics[] = {"left", "right", "inner", "lout", "oout"};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(evl_topic_create(log_, topics[i], 1, NULL), 0);
}

static void teardown(void)
{
    evl_log_close(log_);
    test_dir_teardown();
}

TestSuite(stream_joins, .init = setup, .fini = teardown);

/* ---- helpers ---- */

/* "a/b", "-" for the missing side */
static int both(void *arg, const void *k, size_t kl, const void *a, size_t al, const void *b,
                size_t bl, evl_emit_t *em)
{
    (void)arg;
    (void)k;
    (void)kl;
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*s/%.*s", a ? (int)al : 1, a ? (const char *)a : "-",
                     b ? (int)bl : 1, b ? (const char *)b : "-");
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

static evl_streams_t *start(evl_streams_builder_t *b, const char *id)
{
    cr_assert_null(evl_streams_builder_error(b), "%s", evl_streams_builder_error(b));
    const char *conf[] = {"application.id", id, "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    int rc = evl_streams_new(log_, b, conf, 2, err, sizeof err, &app);
    cr_assert_eq(rc, 0, "%s: %s", evl_strerror(rc), err);
    cr_assert_eq(evl_streams_start(app), 0);
    return app;
}

static void stop(evl_streams_t *app, evl_streams_builder_t *b)
{
    char err[256] = "";
    evl_streams_error(app, err, sizeof err);
    cr_assert_eq(evl_streams_close(app), 0, "%s", err);
    evl_streams_builder_free(b);
}

/* One record (value NULL: a null value) at ts on "left" or "right",
 * awaited until processed, so the processing order is the test's. */
static void step(evl_streams_t *app, const char *topic, const char *key, const char *value,
                 int64_t ts)
{
    int64_t before = evl_streams_metric(app, EVL_SM_RECORDS);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, topic, NULL, &p), 0);
    evl_msg_t m = {key, key ? strlen(key) : 0, value, value ? strlen(value) : 0, NULL, 0, ts, 0,
                   -1};
    int rc = evl_producer_send(p, &m, 0);
    cr_assert_eq(rc, 0, "send: %s", evl_strerror(rc));
    evl_producer_close(p);
    for (int i = 0; i < 800 && evl_streams_metric(app, EVL_SM_RECORDS) == before; i++)
        usleep(10000);
    cr_assert_gt(evl_streams_metric(app, EVL_SM_RECORDS), before, "%s@%lld not processed", key,
                 (long long)ts);
}

#define L(k, v, ts) step(app, "left", k, v, ts)
#define R(k, v, ts) step(app, "right", k, v, ts)

/* topic's records as "key=value@ts ...", once there are want of them (a
 * moment after the last step, so that nothing more is on its way) */
static char *out(const char *topic, size_t want)
{
    usleep(300000);
    char *buf = calloc(1, 1 << 16);
    for (int tries = 0; tries < 200; tries++) {
        size_t len = 0, got = 0;
        buf[0] = 0;
        evl_reader_t *rd;
        if (evl_reader_open(log_, topic, 0, &rd) == 0) {
            const evl_record_t *r;
            while (evl_reader_next(rd, 0, &r) == 0) {
                size_t kl, vl;
                const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
                len += (size_t)snprintf(buf + len, (1 << 16) - len, "%s%.*s=%.*s@%lld",
                                        got ? " " : "", (int)kl, k, v ? (int)vl : 4,
                                        v ? v : "null", (long long)evl_record_timestamp(r));
                got++;
            }
            evl_reader_close(rd);
        }
        if (got >= want)
            break;
        usleep(50000);
    }
    return buf;
}

static void expect(const char *topic, size_t want, const char *text)
{
    char *s = out(topic, want);
    cr_expect_str_eq(s, text, "%s", topic);
    free(s);
}

/* the three joins of "left" and "right", to "inner", "lout", "oout" */
static evl_streams_builder_t *three(int64_t before, int64_t after, int64_t grace)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *l = evl_stream(b, "left"), *r = evl_stream(b, "right");
    const char *outs[] = {"inner", "lout", "oout"}, *stores[] = {"ji", "jl", "jo"};
    for (int how = 0; how < 3; how++)
        cr_assert_eq(evl_stream_to(evl_stream_join(l, r, both, NULL, how, before, after, grace,
                                                   stores[how]),
                                   outs[how]),
                     0);
    return b;
}

/* ---- Kafka's table ---- */

/*
 * The inputs of Kafka's KStream-KStream join table (the developer guide's,
 * and the "Kafka Streams Join Semantics" wiki page's: STREAM_1 1:null,
 * 3:A, 5:B, 7:null, 9:C, 12:null, 15:D; STREAM_2 2:null, 4:a, 6:b, 8:null,
 * 10:c, 11:null, 13:null, 14:d), one key, all records within one window,
 * processed in timestamp order (null: a null value, skipped). The expected
 * outputs are its 3.x columns as the semantics give them (no eager
 * left/outer results, so the three joins agree): each pair once, when its
 * later record arrives, with the later timestamp.
 */
Test(stream_joins, kafka_docs_table, .timeout = 120)
{
    evl_streams_builder_t *b = three(20000, 20000, 0);
    evl_streams_t *app = start(b, "docs");
    L("k", NULL, 1000);
    R("k", NULL, 2000);
    L("k", "A", 3000);
    R("k", "a", 4000);
    L("k", "B", 5000);
    R("k", "b", 6000);
    L("k", NULL, 7000);
    R("k", NULL, 8000);
    L("k", "C", 9000);
    R("k", "c", 10000);
    R("k", NULL, 11000);
    L("k", NULL, 12000);
    R("k", NULL, 13000);
    R("k", "d", 14000);
    L("k", "D", 15000);
    /* every window closes: nothing was left without a partner */
    L("z", "Z", 100000);
    const char *table = "k=A/a@4000 k=B/a@5000 k=A/b@6000 k=B/b@6000 k=C/a@9000 k=C/b@9000 "
                        "k=A/c@10000 k=B/c@10000 k=C/c@10000 k=A/d@14000 k=B/d@14000 "
                        "k=C/d@14000 k=D/a@15000 k=D/b@15000 k=D/c@15000 k=D/d@15000";
    expect("inner", 16, table);
    expect("lout", 16, table);
    expect("oout", 16, table);
    cr_expect_eq(evl_streams_metric(app, EVL_SM_DROPPED), 0);
    stop(app, b);
}

/* ---- the window ---- */

/* before 100, after 200: a at t joins b in [t - 100, t + 200], and b at t
 * joins a in [t - 200, t + 100]; both bounds included. */
Test(stream_joins, window_bounds, .timeout = 120)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_stream_to(evl_stream_join(evl_stream(b, "left"), evl_stream(b, "right"), both, NULL,
                                  EVL_JOIN_INNER, 100, 200, 10000, "w"),
                  "inner");
    evl_streams_t *app = start(b, "bounds");
    L("k", "a", 1000);
    R("k", "b899", 899);   /* before the window */
    R("k", "b900", 900);   /* its first instant */
    R("k", "b1200", 1200); /* its last */
    R("k", "b1201", 1201); /* after it */
    R("q", "b", 5000);     /* b first: a in [4800, 5100] */
    L("q", "a4801", 4801);
    L("q", "a4799", 4799);
    L("q", "a5101", 5101);
    L("q", "a5100", 5100);
    L("x", "a", 6000);     /* another key: nothing */
    expect("inner", 4, "k=a/b900@1000 k=a/b1200@1200 q=a4801/b@5000 q=a5100/b@5100");
    stop(app, b);
}

/* ---- left and outer: after the window closes, never before ---- */

Test(stream_joins, left_outer_late_duplicates, .timeout = 180)
{
    /* a at t joins b in [t - 10 s, t + 10 s]; grace 5 s */
    evl_streams_builder_t *b = three(10000, 10000, 5000);
    evl_streams_t *app = start(b, "lo");
    L("k", "a1", 1000);
    L("j", "a2", 2000);
    R("m", "b2", 3000);
    R("k", "b1", 5000);   /* a1's match, in time: a1 gets no result with null */
    L("y", "a3", 16000);  /* nothing closed yet (a2's grace ends at 17000) */
    L("z", "a4", 17500);  /* a2 closed: (a2, null), with a2's time */
    R("w", "b3", 18001);  /* b2 closed (18000 passed): outer's (null, b2) */
    L("k", "a5", 60000);  /* a3, a4 (left, outer) and b3 (outer) closed */
    R("k", "b5", 30000);  /* late: before 60000 - 20000 - 5000 */
    R("k", "b6", 55000);  /* a5's match */
    L("k", "a6", 60000);  /* a duplicate of a5's key and time */
    R("k", "b7", 58000);  /* both */
    R("k", "b8", 75000);  /* nothing in its window */
    L("x", "a9", 200000); /* b8 closed (outer) */
    expect("inner", 5, "k=a1/b1@5000 k=a5/b6@60000 k=a6/b6@60000 k=a5/b7@60000 k=a6/b7@60000");
    expect("lout", 8,
           "k=a1/b1@5000 j=a2/-@2000 y=a3/-@16000 z=a4/-@17500 k=a5/b6@60000 k=a6/b6@60000 "
           "k=a5/b7@60000 k=a6/b7@60000");
    expect("oout", 11,
           "k=a1/b1@5000 j=a2/-@2000 m=-/b2@3000 y=a3/-@16000 z=a4/-@17500 w=-/b3@18001 "
           "k=a5/b6@60000 k=a6/b6@60000 k=a5/b7@60000 k=a6/b7@60000 k=-/b8@75000");
    cr_expect_eq(evl_streams_metric(app, EVL_SM_DROPPED), 3); /* b5, by each join */
    stop(app, b);
}

/* ---- a restart ---- */

static evl_streams_builder_t *left_join(void)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_stream_to(evl_stream_join(evl_stream(b, "left"), evl_stream(b, "right"), both, NULL,
                                  EVL_JOIN_LEFT, 10000, 10000, 0, "rj"),
                  "lout");
    return b;
}

Test(stream_joins, restart_keeps_records_and_time, .timeout = 180)
{
    evl_streams_builder_t *b = left_join();
    evl_streams_t *app = start(b, "rs");
    L("k", "a1", 1000);
    L("j", "a2", 2000);
    R("k", "b1", 1500);
    expect("lout", 1, "k=a1/b1@1500");
    stop(app, b);

    b = left_join();
    app = start(b, "rs");
    R("k", "b2", 9000);  /* a1 is still there */
    L("z", "a3", 30000); /* a2, unmatched and waiting, is closed */
    R("k", "b3", 9500);  /* late only if stream time (30000) survived */
    expect("lout", 3, "k=a1/b1@1500 k=a1/b2@9000 j=a2/-@2000");
    cr_expect_eq(evl_streams_metric(app, EVL_SM_DROPPED), 1);
    /* a1 in the store rj/a: key + time (order-preserving) + sequence 0 */
    unsigned char wk[17] = {'k', 0x80, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0, 0, 0, 0};
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "rj/a", wk, sizeof wk, &v, &vl), 0);
    cr_expect(vl == 2 && !memcmp(v, "a1", 2));
    free(v);
    stop(app, b);

    /* a third run: nothing is sent again */
    b = left_join();
    app = start(b, "rs");
    L("x", "a4", 30001);
    expect("lout", 3, "k=a1/b1@1500 k=a1/b2@9000 j=a2/-@2000");
    stop(app, b);
}

/* ---- the builder ---- */

static int upper(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    (void)arg;
    return evl_emit(em, r->value, r->value_len, r->value, r->value_len, -1);
}

Test(stream_joins, builder_refuses)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *l = evl_stream(b, "left"), *r = evl_stream(b, "right");
    cr_assert_not_null(evl_stream_join(l, r, both, NULL, EVL_JOIN_OUTER, 10, 0, 0, "J"));
    cr_assert_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);

    struct {
        int how;
        int64_t before, after, grace;
        const char *store;
        bool rekey;
        const char *what;
    } bad[] = {
        {3, 1, 1, 0, "s", false, "kind"},
        {EVL_JOIN_INNER, -1, 1, 0, "s", false, "before"},
        {EVL_JOIN_INNER, 1, -1, 0, "s", false, "after"},
        {EVL_JOIN_INNER, 1, 1, -1, "s", false, "grace"},
        {EVL_JOIN_INNER, (int64_t)1 << 53, 1, 0, "s", false, "huge"},
        {EVL_JOIN_INNER, 1, 1, 0, NULL, false, "no store"},
        {EVL_JOIN_INNER, 1, 1, 0, "", false, "empty store"},
        {EVL_JOIN_INNER, 1, 1, 0, "a/b", false, "store with /"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(evl_streams_builder_new(&b), 0);
        l = evl_stream(b, "left");
        r = evl_stream(b, "right");
        if (bad[i].rekey)
            r = evl_stream_map(r, upper, NULL);
        cr_expect_null(evl_stream_join(l, r, both, NULL, bad[i].how, bad[i].before,
                                       bad[i].after, bad[i].grace, bad[i].store),
                       "%s", bad[i].what);
        cr_expect_not_null(evl_streams_builder_error(b), "%s", bad[i].what);
        evl_streams_builder_free(b);
    }
    /* a side whose key changed is not refused: it is repartitioned
     * (tests/streams/test_joins.c runs one) */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    r = evl_stream_map(evl_stream(b, "right"), upper, NULL);
    cr_assert_not_null(evl_stream_join(evl_stream(b, "left"), r, both, NULL, EVL_JOIN_INNER, 1, 1,
                                       0, "s"));
    cr_assert_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);
    /* no joiner */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_expect_null(evl_stream_join(evl_stream(b, "left"), evl_stream(b, "right"), NULL, NULL,
                                   EVL_JOIN_INNER, 1, 1, 0, "s"));
    evl_streams_builder_free(b);

    /* a store's name once: another join, or a table, after a join */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    l = evl_stream(b, "left");
    r = evl_stream(b, "right");
    cr_assert_not_null(evl_stream_join(l, r, both, NULL, EVL_JOIN_LEFT, 1, 1, 0, "J"));
    cr_expect_null(evl_stream_join(l, r, both, NULL, EVL_JOIN_LEFT, 1, 1, 0, "J"));
    cr_expect_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    l = evl_stream(b, "left");
    r = evl_stream(b, "right");
    cr_assert_not_null(evl_stream_join(l, r, both, NULL, EVL_JOIN_INNER, 1, 1, 0, "J"));
    cr_expect_null(evl_table(b, "inner", "J"));
    evl_streams_builder_free(b);
    cr_expect_null(evl_stream_join(NULL, NULL, both, NULL, EVL_JOIN_INNER, 1, 1, 0, "J"));
}

Test(stream_joins, co_partitioning_required)
{
    cr_assert_eq(evl_topic_create(log_, "l2", 2, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "r3", 3, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_stream_to(evl_stream_join(evl_stream(b, "l2"), evl_stream(b, "r3"), both, NULL,
                                  EVL_JOIN_INNER, 1, 1, 0, "c"),
                  "x");
    const char *conf[] = {"application.id", "cp", "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), EVL_EINVAL);
    cr_assert(strstr(err, "co-partitioned"), "%s", err);
    evl_streams_builder_free(b);
}
