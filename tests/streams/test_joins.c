/*
 * test_joins.c - tables from topics, stream-table joins (inner, left) and
 * table-table joins (inner, left, outer) with their null and one-sided
 * cases, and the co-partitioning a join needs.
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
}

static void teardown(void)
{
    evl_log_close(log_);
    test_dir_teardown();
}

TestSuite(joins, .init = setup, .fini = teardown);

/* Each record a millisecond after the last: the order across inputs is
 * the test's (records of one batch are merged by timestamp). */
static void put(const char *topic, const char *key, const char *value)
{
    static int64_t ts = 1700000000000;
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, topic, NULL, &p), 0);
    evl_msg_t m = {key, key ? strlen(key) : 0, value, value ? strlen(value) : 0, NULL, 0, ++ts, 0,
                   -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    evl_producer_close(p);
}

static char *dump(const char *topic, size_t want)
{
    char *buf = calloc(1, 65536);
    for (int tries = 0; tries < 200; tries++) {
        size_t len = 0, got = 0;
        evl_reader_t *rd;
        if (evl_reader_open(log_, topic, 0, &rd) == 0) {
            const evl_record_t *r;
            while (evl_reader_next(rd, 0, &r) == 0) {
                size_t kl, vl;
                const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
                len += (size_t)snprintf(buf + len, 65536 - len, "%.*s=%.*s\n", (int)kl, k,
                                        v ? (int)vl : 4, v ? v : "null");
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

static evl_streams_t *run(evl_streams_builder_t *b, const char *id)
{
    const char *conf[] = {"application.id", id, "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    int rc = evl_streams_new(log_, b, conf, 2, err, sizeof err, &app);
    cr_assert_eq(rc, 0, "%s: %s", evl_strerror(rc), err);
    cr_assert_eq(evl_streams_start(app), 0);
    return app;
}

static void wait_store(evl_streams_t *app, const char *store, const char *key)
{
    for (int i = 0; i < 200; i++) {
        void *v;
        size_t vl;
        if (evl_streams_store_get(app, store, key, strlen(key), &v, &vl) == 0) {
            free(v);
            return;
        }
        usleep(25000);
    }
    cr_assert_fail("store %s never had %s", store, key);
}

static int enrich(void *arg, const evl_srec_t *r, const void *tv, size_t tl, evl_emit_t *em)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*s by %.*s", (int)r->value_len, (const char *)r->value,
                     tv ? (int)tl : 7, tv ? (const char *)tv : "nobody");
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

Test(joins, stream_table_inner_and_left)
{
    cr_assert_eq(evl_topic_create(log_, "customers", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "orders", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *cust = evl_table(b, "customers", "customers-store");
    evl_kstream_t *orders = evl_stream(b, "orders");
    evl_stream_to(evl_stream_join_table(orders, cust, enrich, NULL, EVL_JOIN_INNER), "inner");
    evl_stream_to(evl_stream_join_table(orders, cust, enrich, NULL, EVL_JOIN_LEFT), "left");
    cr_assert_null(evl_streams_builder_error(b));
    put("customers", "c1", "Ada");
    put("customers", "c2", "Bob");
    evl_streams_t *app = run(b, "j1");
    wait_store(app, "customers-store", "c2");
    put("orders", "c1", "o1");
    put("orders", "c9", "o2");     /* no such customer */
    put("orders", NULL, "o3");     /* no key: dropped by both */
    put("customers", "c1", "Ada L."); /* the table changes */
    wait_store(app, "customers-store", "c1");
    for (int i = 0; i < 200; i++) { /* until the update is in */
        void *v;
        size_t vl;
        if (!evl_streams_store_get(app, "customers-store", "c1", 2, &v, &vl)) {
            free(v);
            if (vl == 6)
                break;
        }
        usleep(25000);
    }
    put("orders", "c1", "o4");
    put("customers", "c2", NULL);  /* Bob deleted */
    usleep(200000);
    put("orders", "c2", "o5");
    char *in = dump("inner", 2), *left = dump("left", 4);
    cr_assert_str_eq(in, "c1=o1 by Ada\nc1=o4 by Ada L.\n");
    cr_assert_str_eq(left, "c1=o1 by Ada\nc9=o2 by nobody\nc1=o4 by Ada L.\nc2=o5 by nobody\n");
    free(in);
    free(left);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

static int both(void *arg, const void *k, size_t kl, const void *a, size_t al, const void *b,
                size_t bl, evl_emit_t *em)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%.*s/%.*s", a ? (int)al : 1, a ? (const char *)a : "-",
                     b ? (int)bl : 1, b ? (const char *)b : "-");
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

/* One update at a time, each awaited, so the order is the test's. */
static void step(evl_streams_t *app, const char *topic, const char *key, const char *value)
{
    int64_t before = evl_streams_metric(app, EVL_SM_RECORDS);
    put(topic, key, value);
    for (int i = 0; i < 200 && evl_streams_metric(app, EVL_SM_RECORDS) == before; i++)
        usleep(10000);
}

Test(joins, table_table_inner_left_outer)
{
    cr_assert_eq(evl_topic_create(log_, "ta", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "tb", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *ta = evl_table(b, "ta", "a"), *tb = evl_table(b, "tb", "b");
    const char *outs[] = {"inner", "left", "outer"};
    const char *stores[] = {"ji", "jl", "jo"};
    for (int how = 0; how < 3; how++)
        evl_stream_to(evl_table_to_stream(evl_table_join(ta, tb, both, NULL, how, stores[how])),
                      outs[how]);
    cr_assert_null(evl_streams_builder_error(b));
    evl_streams_t *app = run(b, "j2");
    usleep(300000);
    step(app, "ta", "k", "a1");   /* left, outer: a1/- */
    step(app, "tb", "k", "b1");   /* all: a1/b1 */
    step(app, "ta", "k", NULL);   /* inner, left: deleted; outer: -/b1 */
    step(app, "tb", "k", NULL);   /* outer: deleted */
    step(app, "tb", "z", "b2");   /* outer: -/b2 */
    char *i = dump("inner", 2), *l = dump("left", 3), *o = dump("outer", 5);
    cr_assert_str_eq(i, "k=a1/b1\nk=null\n");
    cr_assert_str_eq(l, "k=a1/-\nk=a1/b1\nk=null\n");
    cr_assert_str_eq(o, "k=a1/-\nk=a1/b1\nk=-/b1\nk=null\nz=-/b2\n");
    free(i);
    free(l);
    free(o);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

Test(joins, co_partitioning_required)
{
    cr_assert_eq(evl_topic_create(log_, "t2", 2, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "s3", 3, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_stream_to(evl_stream_join_table(evl_stream(b, "s3"), evl_table(b, "t2", "t"), enrich, NULL,
                                        EVL_JOIN_INNER),
                  "x");
    const char *conf[] = {"application.id", "j3", "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), EVL_EINVAL);
    cr_assert(strstr(err, "co-partitioned"), "%s", err);
    evl_streams_builder_free(b);
}
