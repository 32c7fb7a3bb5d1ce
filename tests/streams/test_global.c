/*
 * test_global.c - global tables: every partition in every instance, no
 * co-partitioning needed, a lookup key chosen from the record, inner and
 * left joins, updates seen by later records, queries of the global store,
 * and a batch processed again after a crash joining with the values its
 * first attempt saw although the table has moved on since.
 */
#include <stdio.h>

#include "streams_helpers.h"

TestSuite(global, .init = sh_setup, .fini = sh_teardown);

/* orders: key order id, value "CUSTOMER:ITEM"; the lookup key: CUSTOMER */
static int customer_of(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    const char *v = r->value, *colon = v ? memchr(v, ':', r->value_len) : NULL;
    if (!colon)
        return evl_emit(em, NULL, 0, NULL, 0, -1); /* no lookup key */
    return evl_emit(em, v, (size_t)(colon - v), NULL, 0, -1);
}

static int enrich(void *arg, const evl_srec_t *r, const void *tv, size_t tl, evl_emit_t *em)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*s/%.*s", (int)r->value_len, (const char *)r->value,
                     tv ? (int)tl : 4, tv ? (const char *)tv : "none");
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

static evl_streams_builder_t *topology_of(int how, const char *orders, const char *out)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *gt = evl_global_table(b, "customers", "customers-store");
    evl_kstream_t *j =
        evl_stream_join_global(evl_stream(b, orders), gt, customer_of, NULL, enrich, NULL, how);
    cr_assert_eq(evl_stream_to(j, out), 0);
    cr_assert_null(evl_streams_builder_error(b));
    return b;
}

static evl_streams_builder_t *topology(int how)
{
    return topology_of(how, "orders", "enriched");
}

Test(global, inner_and_left)
{
    /* 3 partitions beside 2: no co-partitioning asked */
    cr_assert_eq(evl_topic_create(log_, "customers", 3, NULL), 0);
    sh_put("customers", 0, "alice", "Paris", -1);
    sh_put("customers", 1, "bob", "Oslo", -1);
    sh_put("customers", 2, "carol", "Rome", -1);
    const char *expect[2] = {"0:o1=alice:pen/Paris\n1:o2=carol:ink/Rome\n",
                             "0:o1=alice:pen/Paris\n0:o3=dave:cup/none\n"
                             "1:o2=carol:ink/Rome\n1:o4=nocolon/none\n"};
    for (int how = EVL_JOIN_INNER; how <= EVL_JOIN_LEFT; how++) {
        const char *orders = how == EVL_JOIN_INNER ? "orders-i" : "orders-l";
        const char *out = how == EVL_JOIN_INNER ? "enriched-i" : "enriched-l";
        cr_assert_eq(evl_topic_create(log_, orders, 2, NULL), 0);
        cr_assert_eq(evl_topic_create(log_, out, 2, NULL), 0);
        evl_streams_builder_t *b = topology_of(how, orders, out);
        evl_streams_t *app = sh_run(b, orders);
        sh_put(orders, 0, "o1", "alice:pen", -1);
        sh_put(orders, 1, "o2", "carol:ink", -1);
        sh_put(orders, 0, "o3", "dave:cup", -1);  /* no such customer */
        sh_put(orders, 1, "o4", "nocolon", -1);   /* no lookup key */
        sh_wait_records(app, 4);
        cr_assert_eq(evl_streams_close(app), 0);
        evl_streams_builder_free(b);
        /* keyed outputs go by the key's hash: compare as a set */
        char *got = sh_dump_ex(out, how ? 4 : 2, false);
        size_t n = 0;
        for (const char *c = got; *c; c++)
            n += *c == '\n';
        cr_assert_eq(n, how ? 4u : 2u, "%s", got);
        for (const char *l = expect[how]; *l; l = strchr(l, '\n') + 1) {
            char line[64];
            snprintf(line, sizeof line, "%.*s", (int)(strchr(l, '\n') - l - 2) + 1, l + 2);
            cr_assert(strstr(got, line), "%s not in %s", line, got);
        }
        free(got);
    }
}

Test(global, updates_and_queries)
{
    cr_assert_eq(evl_topic_create(log_, "customers", 2, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "orders", 1, NULL), 0);
    sh_put("customers", 0, "alice", "Paris", -1);
    evl_streams_builder_t *b = topology(EVL_JOIN_LEFT);
    const char *fast[] = {"commit.interval.ms", "20"};
    evl_streams_t *app = sh_run_with(b, "g2", fast, 2);
    sh_put("orders", 0, "o1", "alice:pen", -1);
    sh_wait_records(app, 1);
    sh_put("customers", 1, "alice", "Lyon", -1); /* another partition, same key: newer */
    sh_put("customers", 0, "bob", "Oslo", -1);
    /* the stores see the update before the next batch */
    for (int i = 0; i < 200; i++) {
        void *v;
        size_t vl;
        if (evl_streams_store_get(app, "customers-store", "bob", 3, &v, &vl) == 0) {
            cr_assert_eq(vl, 4);
            free(v);
            break;
        }
        usleep(10000);
    }
    usleep(100000);
    sh_put("orders", 0, "o2", "alice:ink", -1);
    sh_put("orders", 0, "o3", "bob:cup", -1);
    free(sh_dump("enriched", 3));
    sh_put("customers", 0, "bob", NULL, -1); /* deleted */
    usleep(300000);
    sh_put("orders", 0, "o4", "bob:hat", -1);
    char *out = sh_dump("enriched", 4);
    cr_assert_str_eq(out, "o1=alice:pen/Paris\no2=alice:ink/Lyon\no3=bob:cup/Oslo\n"
                          "o4=bob:hat/none\n");
    free(out);
    char text[256] = "";
    size_t len = 0;
    struct acc {
        char *t;
        size_t *l;
    } a = {text, &len};
    int note(void *arg, const void *k, size_t kl, const void *v, size_t vl);
    cr_assert_eq(evl_streams_store_range(app, "customers-store", NULL, 0, NULL, 0, note, &a), 0);
    cr_assert_str_eq(text, "alice=Lyon ");
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

int note(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    struct acc {
        char *t;
        size_t *l;
    } *a = arg;
    *a->l += (size_t)snprintf(a->t + *a->l, 256 - *a->l, "%.*s=%.*s ", (int)kl, (const char *)k,
                              (int)vl, (const char *)v);
    return 0;
}

Test(global, refused)
{
    evl_streams_builder_t *b = topology(EVL_JOIN_INNER);
    cr_assert_eq(evl_topic_create(log_, "orders", 1, NULL), 0);
    const char *conf[] = {"application.id", "g3", "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), EVL_ENOTFOUND);
    cr_assert(strstr(err, "customers"), "%s", err);
    evl_streams_builder_free(b);
    /* a join with a table that is not global, a global table joined as a
     * co-partitioned one */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *t = evl_table(b, "customers", "t");
    cr_assert_null(
        evl_stream_join_global(evl_stream(b, "orders"), t, NULL, NULL, enrich, NULL, EVL_JOIN_INNER));
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *g = evl_global_table(b, "customers", "g");
    cr_assert_null(evl_stream_join_table(evl_stream(b, "orders"), g, enrich, NULL, EVL_JOIN_INNER));
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);
}

/*
 * A batch interrupted by a crash is processed again with the global table
 * as its first attempt saw it. The crash is made by hand: after a clean
 * run, the changelog gets the intent of a batch over two new orders naming
 * the global table's positions then (as evl__task_process writes it), and
 * the table moves on before the application opens again.
 */
Test(global, replay_sees_the_first_attempts_table)
{
    cr_assert_eq(evl_topic_create(log_, "customers", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "orders", 1, NULL), 0);
    sh_put("customers", 0, "alice", "Paris", -1);
    evl_streams_builder_t *b = topology(EVL_JOIN_INNER);
    evl_streams_t *app = sh_run(b, "g4");
    sh_put("orders", 0, "o1", "alice:pen", -1);
    free(sh_dump("enriched", 1));
    cr_assert_eq(evl_streams_close(app), 0);
    /* the interrupted batch: orders 1 and 2 (offsets), table at offset 1 */
    sh_put("orders", 0, "o2", "alice:ink", -1);
    sh_put("orders", 0, "o3", "alice:cup", -1);
    const char *intent = "x 0 1 3\ng 0 0 1\n";
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, "g4-0-changelog", NULL, &p), 0);
    evl_msg_t m = {"\xff\xff" "intent", 8, intent, strlen(intent), NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    evl_producer_close(p);
    sh_put("customers", 0, "alice", "Lyon", -1); /* after the intent */
    app = sh_run(b, "g4");
    sh_put("orders", 0, "o4", "alice:hat", -1);
    char *out = sh_dump("enriched", 4);
    cr_assert_str_eq(out, "o1=alice:pen/Paris\no2=alice:ink/Paris\no3=alice:cup/Paris\n"
                          "o4=alice:hat/Lyon\n");
    free(out);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_REPLAYED), 1);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* The joiner's argument reaches it, and stays the application's (freeing
 * the builder must not free it: it is a static here). */
static int tagged_arg;

static int enrich_tagged(void *arg, const evl_srec_t *r, const void *tv, size_t tl,
                         evl_emit_t *em)
{
    cr_assert_eq(arg, &tagged_arg);
    return enrich(NULL, r, tv, tl, em);
}

/* A global table whose topic lost its first records to retention loads
 * from the log's start. */
Test(global, after_retention_and_with_an_argument)
{
    evl_config_t *tc = evl_config_new();
    cr_assert_eq(evl_config_set(tc, "segment.bytes", "65536", NULL, 0), 0);
    cr_assert_eq(evl_config_set(tc, "max.message.bytes", "8192", NULL, 0), 0);
    cr_assert_eq(evl_config_set(tc, "retention.bytes", "70000", NULL, 0), 0);
    cr_assert_eq(evl_topic_create(log_, "customers", 1, tc), 0);
    evl_config_free(tc);
    cr_assert_eq(evl_topic_create(log_, "orders", 1, NULL), 0);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 200; i++) {
        char k[16];
        snprintf(k, sizeof k, "c%d", i % 50);
        sh_put("customers", 0, k, i >= 150 ? "Oslo" : big, -1);
    }
    cr_assert_eq(evl_log_retention_run(log_), 0);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log_, "customers", 0, &pi), 0);
    cr_assert_gt(pi.start_offset, 0, "retention removed nothing");
    cr_assert_leq(pi.start_offset, 170, "retention took c20's last record");
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *gt = evl_global_table(b, "customers", "customers-store");
    cr_assert_eq(evl_stream_to(evl_stream_join_global(evl_stream(b, "orders"), gt, customer_of,
                                                      NULL, enrich_tagged, &tagged_arg,
                                                      EVL_JOIN_INNER),
                               "enriched"),
                 0);
    evl_streams_t *app = sh_run(b, "g5");
    void *v;
    size_t vl;
    int grc = evl_streams_store_get(app, "customers-store", "c20", 3, &v, &vl);
    cr_assert_eq(grc, 0, "c20 in the global store: %s", evl_strerror(grc));
    cr_assert_eq(vl, 4);
    free(v);
    sh_put("orders", 0, "o1", "c20:pen", -1);
    char *out = sh_dump("enriched", 1);
    char err[256] = "";
    evl_streams_error(app, err, sizeof err);
    cr_assert_str_eq(out, "o1=c20:pen/Oslo\n", "%s", err);
    free(out);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}
