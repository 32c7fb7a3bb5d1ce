/*
 * test_joins.c - tables from topics, stream-table joins (inner, left) and
 * table-table joins (inner, left, outer) with their null and one-sided
 * cases, and the co-partitioning a join needs.
 */
#include "streams_helpers.h"

TestSuite(joins, .init = sh_setup, .fini = sh_teardown);

/* Each record a millisecond after the last, on partition 0: the order
 * across inputs is the test's (a batch's records are merged by
 * timestamp). */
static void put(const char *topic, const char *key, const char *value)
{
    sh_put(topic, 0, key, value, -1);
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
    evl_streams_t *app = sh_run(b, "j1");
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
    char *in = sh_dump("inner", 2), *left = sh_dump("left", 4);
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
    evl_streams_t *app = sh_run(b, "j2");
    usleep(300000);
    step(app, "ta", "k", "a1");   /* left, outer: a1/- */
    step(app, "tb", "k", "b1");   /* all: a1/b1 */
    step(app, "ta", "k", NULL);   /* inner, left: deleted; outer: -/b1 */
    step(app, "tb", "k", NULL);   /* outer: deleted */
    step(app, "tb", "z", "b2");   /* outer: -/b2 */
    char *i = sh_dump("inner", 2), *l = sh_dump("left", 3), *o = sh_dump("outer", 5);
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

/* The key changed before a join: the stream goes through a repartition
 * topic made as wide as the table (3 partitions beside 2), and every order
 * finds its customer. */
static int customer_key(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    const char *v = r->value, *colon = memchr(v, ':', r->value_len);
    return evl_emit(em, v, (size_t)(colon - v), NULL, 0, -1);
}

static bool has_colon(void *arg, const evl_srec_t *r)
{
    return r->value && memchr(r->value, ':', r->value_len);
}

Test(joins, repartitioned_before_joins)
{
    cr_assert_eq(evl_topic_create(log_, "customers", 3, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "orders", 2, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "payments", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *cust = evl_table(b, "customers", "cust");
    evl_kstream_t *by_cust =
        evl_stream_select_key(evl_stream_filter(evl_stream(b, "orders"), has_colon, NULL),
                              customer_key, NULL);
    cr_assert_eq(evl_stream_to(evl_stream_join_table(by_cust, cust, enrich, NULL, EVL_JOIN_LEFT),
                               "enriched"),
                 0);
    /* a stream-stream join of two re-keyed streams: orders and payments
     * by customer, within a minute */
    evl_kstream_t *pays = evl_stream_select_key(evl_stream(b, "payments"), customer_key, NULL);
    cr_assert_eq(evl_stream_to(evl_stream_join(by_cust, pays, both, NULL, EVL_JOIN_INNER, 60000,
                                               60000, 0, "op"),
                               "paid"),
                 0);
    cr_assert_null(evl_streams_builder_error(b));
    /* customers keyed c0..c9 over 3 partitions by their key's hash */
    for (int i = 0; i < 10; i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "c%d", i);
        snprintf(v, sizeof v, "Name%d", i);
        evl_producer_t *p;
        cr_assert_eq(evl_producer_new(log_, "customers", NULL, &p), 0);
        cr_assert_eq(evl_producer_send_kv(p, k, strlen(k), v, strlen(v), NULL, NULL), 0);
        evl_producer_close(p);
    }
    evl_streams_t *app = sh_run(b, "j4");
    wait_store(app, "cust", "c9");
    char **names;
    size_t count, found = 0;
    cr_assert_eq(evl_topic_list(log_, &names, &count), 0);
    for (size_t i = 0; i < count; i++) {
        if (!strncmp(names[i], "j4-cust-join-", 13)) { /* as wide as the table */
            cr_assert_eq(evl_topic_partitions(log_, names[i]), 3, "%s", names[i]);
            found++;
        }
        if (!strncmp(names[i], "j4-op-", 6)) /* a stream join's sides: the wider */
            cr_assert_eq(evl_topic_partitions(log_, names[i]), 2, "%s", names[i]);
    }
    free(names); /* one block */
    cr_assert_eq(found, 1);
    for (int i = 0; i < 20; i++) {
        char k[16], v[32];
        snprintf(k, sizeof k, "o%d", i);
        snprintf(v, sizeof v, "c%d:item%d", i % 10, i);
        evl_producer_t *p;
        cr_assert_eq(evl_producer_new(log_, "orders", NULL, &p), 0);
        evl_msg_t m = {k, strlen(k), v, strlen(v), NULL, 0, 1700000000000 + i, i % 2, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
        evl_producer_close(p);
    }
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, "payments", NULL, &p), 0);
    evl_msg_t m = {"pay1", 4, "c3:100", 6, NULL, 0, 1700000000030, 0, -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    evl_producer_close(p);
    /* every order enriched with its customer's name, whatever partition */
    int n = 0, named = 0;
    for (int tries = 0; tries < 200 && n < 20; tries++) {
        n = named = 0;
        for (int part = 0; part < evl_topic_partitions(log_, "enriched"); part++) {
            evl_reader_t *rd;
            if (evl_reader_open(log_, "enriched", part, &rd))
                continue;
            const evl_record_t *r;
            while (evl_reader_next(rd, 0, &r) == 0) {
                size_t kl, vl;
                const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
                char want[32];
                snprintf(want, sizeof want, "by Name%.*s", (int)kl - 1, k + 1);
                n++;
                named += vl >= strlen(want) && !memcmp(v + vl - strlen(want), want, strlen(want));
            }
            evl_reader_close(rd);
        }
        if (n < 20)
            usleep(25000);
    }
    cr_assert_eq(n, 20);
    cr_assert_eq(named, 20);
    /* c3's two orders (items 3 and 13) each met the payment */
    int paid = 0;
    for (int tries = 0; tries < 200 && paid < 2; tries++) {
        paid = 0;
        for (int part = 0; part < evl_topic_partitions(log_, "paid"); part++) {
            evl_reader_t *rd;
            if (evl_reader_open(log_, "paid", part, &rd))
                continue;
            const evl_record_t *r;
            while (evl_reader_next(rd, 0, &r) == 0) {
                size_t vl;
                const char *v = evl_record_value(r, &vl);
                paid += vl > 3 && strstr(v, "c3:100") != NULL;
            }
            evl_reader_close(rd);
        }
        if (paid < 2)
            usleep(25000);
    }
    cr_assert_eq(paid, 2);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* ---- foreign-key joins ---- */

static int fk_of(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    const char *v = r->value, *colon = memchr(v, ':', r->value_len);
    if (!colon)
        return 0; /* no foreign key */
    return evl_emit(em, v, (size_t)(colon - v), NULL, 0, -1);
}

static int item_by(void *arg, const void *k, size_t kl, const void *a, size_t al, const void *b,
                   size_t bl, evl_emit_t *em)
{
    const char *colon = memchr(a, ':', al);
    const char *item = colon ? colon + 1 : a;
    size_t il = colon ? al - (size_t)(item - (const char *)a) : al;
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%.*s by %.*s", (int)il, item, b ? (int)bl : 6,
                     b ? (const char *)b : "nobody");
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

/* Until the result for key is want (NULL: none). */
static void expect_fk(evl_streams_t *app, const char *store, const char *key, const char *want)
{
    char got[128] = "(none)";
    for (int i = 0; i < 300; i++) {
        void *v;
        size_t vl;
        int rc = evl_streams_store_get(app, store, key, strlen(key), &v, &vl);
        if (rc == 0) {
            snprintf(got, sizeof got, "%.*s", (int)vl, (const char *)v);
            free(v);
            if (want && !strcmp(got, want))
                return;
        } else if (!want) {
            return;
        } else {
            strcpy(got, "(none)");
        }
        usleep(10000);
    }
    cr_assert_fail("%s: %s, want %s", key, got, want ? want : "(none)");
}

static void put_on(const char *topic, const char *key, const char *value)
{
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, topic, NULL, &p), 0);
    cr_assert_eq(evl_producer_send_kv(p, key, strlen(key), value, value ? strlen(value) : 0,
                                      NULL, NULL),
                 0);
    evl_producer_close(p);
}

Test(joins, foreign_key_inner_and_left)
{
    /* orders (3 partitions, by order id) and customers (2, by customer id):
     * not co-partitioned, keyed differently */
    cr_assert_eq(evl_topic_create(log_, "orders", 3, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "customers", 2, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_ktable_t *orders = evl_table(b, "orders", "orders-store");
    evl_ktable_t *cust = evl_table(b, "customers", "cust-store");
    evl_ktable_t *inner =
        evl_table_join_fk(orders, cust, fk_of, NULL, item_by, NULL, EVL_JOIN_INNER, "fki");
    evl_ktable_t *left =
        evl_table_join_fk(orders, cust, fk_of, NULL, item_by, NULL, EVL_JOIN_LEFT, "fkl");
    cr_assert_not_null(inner);
    cr_assert_not_null(left);
    cr_assert_eq(evl_stream_to(evl_table_to_stream(inner), "fki-out"), 0);
    cr_assert_null(evl_streams_builder_error(b));
    put_on("customers", "c1", "Ada");
    put_on("customers", "c2", "Bob");
    evl_streams_t *app = sh_run(b, "fk1");
    char **names;
    size_t count;
    cr_assert_eq(evl_topic_list(log_, &names, &count), 0);
    for (size_t i = 0; i < count; i++) {
        if (strstr(names[i], "fki-fk-subscription"))
            cr_assert_eq(evl_topic_partitions(log_, names[i]), 2, "%s", names[i]);
        if (strstr(names[i], "fki-fk-response"))
            cr_assert_eq(evl_topic_partitions(log_, names[i]), 3, "%s", names[i]);
    }
    free(names);
    put_on("orders", "o1", "c1:pen");
    expect_fk(app, "fki", "o1", "pen by Ada");
    put_on("orders", "o2", "c3:cup"); /* no such customer yet */
    expect_fk(app, "fkl", "o2", "cup by nobody");
    expect_fk(app, "fki", "o2", NULL);
    put_on("customers", "c3", "Cy");
    expect_fk(app, "fki", "o2", "cup by Cy");
    put_on("customers", "c1", "Ada L.");
    expect_fk(app, "fki", "o1", "pen by Ada L.");
    put_on("orders", "o1", "c2:pen"); /* another customer */
    expect_fk(app, "fki", "o1", "pen by Bob");
    put_on("orders", "o4", "c1:ink");
    expect_fk(app, "fki", "o4", "ink by Ada L.");
    put_on("customers", "c1", "Ada X"); /* o4 follows c1, o1 no longer does */
    expect_fk(app, "fki", "o4", "ink by Ada X");
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "fki", "o1", 2, &v, &vl), 0);
    cr_assert_eq(vl, 10);
    cr_assert_eq(memcmp(v, "pen by Bob", 10), 0);
    free(v);
    put_on("orders", "o3", "nokey");  /* no foreign key */
    expect_fk(app, "fkl", "o3", "nokey by nobody");
    expect_fk(app, "fki", "o3", NULL);
    put_on("orders", "o2", NULL);     /* deleted */
    expect_fk(app, "fki", "o2", NULL);
    expect_fk(app, "fkl", "o2", NULL);
    put_on("customers", "c2", NULL);  /* o1's customer deleted */
    expect_fk(app, "fki", "o1", NULL);
    expect_fk(app, "fkl", "o1", "pen by nobody");
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}
