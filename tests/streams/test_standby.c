/*
 * test_standby.c - standby replicas (num.standby.replicas): two instances
 * split a count's tasks, each keeping a warm copy of the other's; when
 * one stops, the task that moves restores only what its copy lacked, and
 * the counts stay exact. Without standbys the same move restores the
 * whole changelog.
 */
#include <stdio.h>

#include "streams_helpers.h"

TestSuite(standby, .init = sh_setup, .fini = sh_teardown);

static evl_streams_t *instance(evl_streams_builder_t *b, const char *state, const char *standbys)
{
    const char *conf[] = {"application.id", "sb", "state.dir", state, "num.stream.threads", "1",
                          "commit.interval.ms", "20", "num.standby.replicas", standbys};
    char err[256];
    evl_streams_t *app;
    int rc = evl_streams_new(log_, b, conf, 5, err, sizeof err, &app);
    cr_assert_eq(rc, 0, "%s: %s", evl_strerror(rc), err);
    cr_assert_eq(evl_streams_start(app), 0);
    return app;
}

static void wait_tasks(evl_streams_t *app, int64_t n)
{
    for (int i = 0; i < 500 && evl_streams_metric(app, EVL_SM_TASKS) != n; i++)
        usleep(10000);
    cr_assert_eq(evl_streams_metric(app, EVL_SM_TASKS), n);
}

/* Returns the records the moved task restored at its open. */
static int64_t move_one(const char *standbys, long *truth)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_not_null(evl_grouped_count(evl_stream_group_by_key(evl_stream(b, "words")), "c"));
    char sa[1100], sb[1100];
    snprintf(sa, sizeof sa, "%s-%s", tpath("state-a"), standbys);
    snprintf(sb, sizeof sb, "%s-%s", tpath("state-b"), standbys);
    evl_streams_t *a = instance(b, sa, standbys);
    wait_tasks(a, 2);
    evl_streams_t *c = instance(b, sb, standbys);
    wait_tasks(a, 1);
    wait_tasks(c, 1);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, "words", NULL, &p), 0);
    for (int i = 0; i < 3000; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i % 50);
        evl_msg_t m = {k, strlen(k), "x", 1, NULL, 0, -1, (i % 50) % 2, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
        truth[i % 50]++;
        if (i % 100 == 99)
            usleep(20000); /* many small commits: a long changelog */
    }
    for (int i = 0; i < 500; i++) {
        if (evl_streams_metric(a, EVL_SM_RECORDS) + evl_streams_metric(c, EVL_SM_RECORDS) >= 3000)
            break;
        usleep(10000);
    }
    usleep(600000); /* three standby rounds */
    if (atoi(standbys) > 0)
        cr_assert_gt(evl_streams_metric(a, EVL_SM_STANDBY), 0);
    else
        cr_assert_eq(evl_streams_metric(a, EVL_SM_STANDBY), 0);
    cr_assert_eq(evl_streams_close(c), 0); /* its task moves to a */
    wait_tasks(a, 2);
    evl_task_metrics_t m[2];
    size_t n;
    cr_assert_eq(evl_streams_task_metrics(a, m, 2, &n), 0);
    cr_assert_eq(n, 2);
    /* the moved task: the one a did not run before (its records 0 so far) */
    int64_t restored = -1;
    for (size_t i = 0; i < n; i++)
        if (m[i].records == 0)
            restored = m[i].restore_total;
    cr_assert_geq(restored, 0);
    /* counts exact after the move */
    for (int k = 0; k < 50; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        void *v;
        size_t vl;
        cr_assert_eq(evl_streams_store_get(a, "c", key, strlen(key), &v, &vl), 0);
        cr_assert_eq(evl_int64_get(v), truth[k], "%s", key);
        free(v);
    }
    cr_assert_eq(evl_streams_close(a), 0);
    evl_producer_close(p);
    evl_streams_builder_free(b);
    return restored;
}

Test(standby, a_moved_task_restores_little, .timeout = 60)
{
    cr_assert_eq(evl_topic_create(log_, "words", 2, NULL), 0);
    long truth[50] = {0};
    int64_t warm = move_one("1", truth);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log_, "sb-0-changelog", 1, &pi), 0);
    cr_assert_gt(pi.end_offset, 200);
    cr_assert_lt(warm, 10, "restored %lld of %lld", (long long)warm, (long long)pi.end_offset);
    /* the same without standbys: the whole changelog (of both runs) */
    int64_t cold = move_one("0", truth);
    cr_log_info("restored with a standby: %lld; without: %lld", (long long)warm, (long long)cold);
    cr_assert_gt(cold, 200, "restored %lld", (long long)cold);
}
