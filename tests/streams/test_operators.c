/*
 * test_operators.c - each stateless operator and the keyed aggregations
 * against expected outputs, repartitioning when a key changes, and what
 * the builder and the settings refuse (co-partitioning, names, values).
 */
#include <ctype.h>
#include <stdatomic.h>

#include "streams_helpers.h"

TestSuite(ops, .init = sh_setup, .fini = sh_teardown);

static bool not_skip(void *arg, const evl_srec_t *r)
{
    return !(r->value_len == 4 && !memcmp(r->value, "skip", 4));
}

static int upper(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    char buf[64];
    size_t n = r->value_len < sizeof buf ? r->value_len : sizeof buf;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)toupper(((const char *)r->value)[i]);
    return evl_emit(em, NULL, 0, buf, n, -1);
}

static bool starts_a(void *arg, const evl_srec_t *r)
{
    return r->value_len && ((const char *)r->value)[0] == 'A';
}

static int twice(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    int rc = evl_emit(em, "x", 1, r->value, r->value_len, -1);
    return rc ? rc : evl_emit(em, "y", 1, r->value, r->value_len, -1);
}

static atomic_int peeked, seen;
static void count_peek(void *arg, const evl_srec_t *r) { atomic_fetch_add(&peeked, 1); }
static void count_each(void *arg, const evl_srec_t *r) { atomic_fetch_add(&seen, 1); }

Test(ops, stateless_chain)
{
    cr_assert_eq(evl_topic_create(log_, "in", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "in2", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *s = evl_stream_merge(evl_stream(b, "in"), evl_stream(b, "in2"));
    s = evl_stream_peek(evl_stream_map_values(evl_stream_filter(s, not_skip, NULL), upper, NULL),
                        count_peek, NULL);
    evl_pred_fn *preds[] = {starts_a, NULL};
    evl_kstream_t *br[2];
    cr_assert_eq(evl_stream_branch(s, preds, NULL, 2, br), 0);
    cr_assert_eq(evl_stream_to(br[0], "out-a"), 0);
    cr_assert_eq(evl_stream_to(br[1], "out-rest"), 0);
    cr_assert_eq(evl_stream_to(evl_stream_flat_map(br[0], twice, NULL), "out-twice"), 0);
    cr_assert_eq(evl_stream_foreach(evl_stream_filter_not(s, starts_a, NULL), count_each, NULL), 0);
    cr_assert_null(evl_streams_builder_error(b));
    sh_put("in", 0, "k1", "apple", 10);
    sh_put("in", 0, "k2", "skip", 11);
    sh_put("in2", 0, "k3", "banana", 12);
    sh_put("in", 0, "k4", "avocado", 13);
    evl_streams_t *app = sh_run(b, "ops1");
    char *a = sh_dump("out-a", 2), *rest = sh_dump("out-rest", 1), *tw = sh_dump("out-twice", 4);
    cr_assert_str_eq(a, "k1=APPLE\nk4=AVOCADO\n");
    cr_assert_str_eq(rest, "k3=BANANA\n");
    cr_assert_str_eq(tw, "x=APPLE\ny=APPLE\nx=AVOCADO\ny=AVOCADO\n");
    free(a);
    free(rest);
    free(tw);
    cr_assert_eq(atomic_load(&peeked), 3);
    cr_assert_eq(atomic_load(&seen), 1);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_RECORDS), 4);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

/* reduce concatenates, aggregate sums lengths; the key is changed first,
 * so both go through repartition topics. */
static int first_letter(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->value, 1, NULL, 0, -1);
}

static int concat(void *arg, const evl_srec_t *r, const void *agg, size_t alen, evl_emit_t *em)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%.*s+%.*s", (int)alen, (const char *)agg,
                     (int)r->value_len, (const char *)r->value);
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

static int sum_len(void *arg, const evl_srec_t *r, const void *agg, size_t alen, evl_emit_t *em)
{
    char buf[32], cur[32];
    snprintf(cur, sizeof cur, "%.*s", (int)alen, (const char *)agg);
    long v = strtol(cur, NULL, 10) + (long)r->value_len;
    int n = snprintf(buf, sizeof buf, "%ld", v);
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

Test(ops, reduce_and_aggregate_through_repartition)
{
    cr_assert_eq(evl_topic_create(log_, "words", 2, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *w = evl_stream(b, "words");
    evl_ktable_t *red = evl_grouped_reduce(evl_stream_group_by(w, first_letter, NULL), concat, NULL,
                                           "by-letter");
    evl_stream_to(evl_table_to_stream(red), "reduced");
    evl_ktable_t *agg = evl_grouped_aggregate(evl_stream_group_by(w, first_letter, NULL), "0", 1,
                                              sum_len, NULL, "lengths");
    evl_stream_to(evl_table_to_stream(agg), "summed");
    cr_assert_null(evl_streams_builder_error(b));
    sh_put("words", 0, NULL, "ant", 1);
    sh_put("words", 1, NULL, "bee", 2);
    sh_put("words", 0, NULL, "asp", 3);
    sh_put("words", 1, NULL, "boar", 4);
    evl_streams_t *app = sh_run(b, "ops2");
    char *r = sh_dump("reduced", 4), *s = sh_dump("summed", 4);
    /* per key in order; keys a and b may sit in either partition */
    cr_assert(strstr(r, "a=ant\na=ant+asp\n") || (strstr(r, "a=ant\n") && strstr(r, "a=ant+asp\n")),
              "%s", r);
    cr_assert(strstr(r, "b=bee\n") && strstr(r, "b=bee+boar\n"), "%s", r);
    cr_assert(strstr(s, "a=3\n") && strstr(s, "a=6\n") && strstr(s, "b=3\n") && strstr(s, "b=7\n"),
              "%s", s);
    free(r);
    free(s);
    cr_assert_eq(evl_topic_partitions(log_, "ops2-by-letter-repartition"), 2);
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "lengths", "b", 1, &v, &vl), 0);
    cr_assert_eq(vl, 1);
    cr_assert_eq(((char *)v)[0], '7');
    free(v);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
}

Test(ops, refusals)
{
    cr_assert_eq(evl_topic_create(log_, "two", 2, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "three", 3, NULL), 0);
    evl_streams_builder_t *b;
    char err[256];
    evl_streams_t *app;
    /* a merge of topics with different partition counts */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_stream_to(evl_stream_merge(evl_stream(b, "two"), evl_stream(b, "three")), "x");
    const char *conf[] = {"application.id", "r", "state.dir", tpath("state")};
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), EVL_EINVAL);
    cr_assert(strstr(err, "co-partitioned"), "%s", err);
    evl_streams_builder_free(b);
    /* an input that does not exist */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_stream_to(evl_stream(b, "nope"), "x");
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), EVL_ENOTFOUND);
    /* settings */
    const char *bad1[] = {"state.dir", "x"};
    cr_assert_eq(evl_streams_new(log_, b, bad1, 1, err, sizeof err, &app), EVL_ECONFIG);
    cr_assert(strstr(err, "application.id"), "%s", err);
    const char *bad2[] = {"application.id", "a", "processing.guarantee", "maybe"};
    cr_assert_eq(evl_streams_new(log_, b, bad2, 2, err, sizeof err, &app), EVL_ECONFIG);
    const char *bad3[] = {"application.id", "a", "no.such.key", "1"};
    cr_assert_eq(evl_streams_new(log_, b, bad3, 2, err, sizeof err, &app), EVL_ECONFIG);
    cr_assert(strstr(err, "no.such.key"), "%s", err);
    evl_streams_builder_free(b);
    /* the builder remembers its first error */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kgrouped_t *g = evl_stream_group_by_key(evl_stream(b, "two"));
    cr_assert_not_null(evl_grouped_count(g, "s"));
    cr_assert_null(evl_grouped_count(g, "s"));
    cr_assert(strstr(evl_streams_builder_error(b), "named twice"));
    cr_assert_null(evl_stream_filter(evl_stream(b, "two"), NULL, NULL));
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), EVL_EINVAL);
    cr_assert(strstr(err, "named twice"), "%s", err);
    evl_streams_builder_free(b);
}

/* ---- cogroup ---- */

/* each input's aggregator appends its own letter and the value */
static int add_click(void *arg, const evl_srec_t *r, const void *agg, size_t alen,
                     evl_emit_t *em)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*sc%.*s ", (int)alen, (const char *)agg,
                     (int)r->value_len, (const char *)r->value);
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

static int add_view(void *arg, const evl_srec_t *r, const void *agg, size_t alen, evl_emit_t *em)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%.*sv%.*s ", (int)alen, (const char *)agg,
                     (int)r->value_len, (const char *)r->value);
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

/* views arrive keyed by page with the user in the value: re-keyed */
static int user_of(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1);
}

Test(ops, cogroup_two_inputs_one_aggregate)
{
    cr_assert_eq(evl_topic_create(log_, "clicks", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log_, "views", 1, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kcogrouped_t *c =
        evl_grouped_cogroup(evl_stream_group_by_key(evl_stream(b, "clicks")), add_click, NULL);
    c = evl_cogrouped_add(c, evl_stream_group_by(evl_stream(b, "views"), user_of, NULL), add_view,
                          NULL);
    evl_ktable_t *t = evl_cogrouped_aggregate(c, "", 0, "activity");
    cr_assert_not_null(t);
    cr_assert_eq(evl_stream_to(evl_table_to_stream(t), "activity-out"), 0);
    cr_assert_null(evl_streams_builder_error(b));
    evl_streams_t *app = sh_run(b, "cg1");
    sh_put("clicks", 0, "ann", "1", 1000);
    sh_wait_records(app, 1);
    sh_put("views", 0, "home", "ann", 1001);   /* re-keyed to ann */
    sh_put("views", 0, "shop", "bob", 1002);   /* bob */
    for (int i = 0; i < 200 && evl_streams_metric(app, EVL_SM_RECORDS) < 5; i++)
        usleep(10000); /* 2 views, each read again from the repartition topic */
    sh_put("clicks", 0, "ann", "2", 1003);
    char *out = sh_dump("activity-out", 4);
    cr_assert_str_eq(out, "ann=c1 \nann=c1 vann \nbob=vbob \nann=c1 vann c2 \n");
    free(out);
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "activity", "bob", 3, &v, &vl), 0);
    cr_assert_eq(vl, 5);
    cr_assert_eq(memcmp(v, "vbob ", 5), 0);
    free(v);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
    /* no aggregator: refused */
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_null(evl_grouped_cogroup(evl_stream_group_by_key(evl_stream(b, "clicks")), NULL,
                                       NULL));
    cr_assert_not_null(evl_streams_builder_error(b));
    evl_streams_builder_free(b);
}
