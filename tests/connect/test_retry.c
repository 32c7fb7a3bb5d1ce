/*
 * test_retry.c - errors.retry.timeout and errors.retry.delay.max.ms: a
 * sink whose target fails for a while is tried again with growing waits
 * and nothing is lost; without retries, or when the time is spent, the
 * task is FAILED with the error; a user-defined connector type.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>
#include <stdatomic.h>

TestSuite(retry, .init = test_dir_setup, .fini = test_dir_teardown);

/* A sink that keeps values in memory and fails its first `fail_puts` puts
 * and first `fail_flushes` flushes. */
static _Atomic int fail_puts, fail_flushes, got;

static int flaky_start(const evl_conf_t *conf, evl_sink_task_t *task, void **state)
{
    (void)conf;
    *state = NULL;
    return 0;
}

static int flaky_put(void *state, const evl_sink_record_t *recs, size_t n)
{
    (void)state, (void)recs;
    if (atomic_load(&fail_puts) > 0) {
        atomic_fetch_sub(&fail_puts, 1);
        return EVL_EIO;
    }
    atomic_fetch_add(&got, (int)n);
    return 0;
}

static int flaky_flush(void *state)
{
    (void)state;
    if (atomic_load(&fail_flushes) > 0) {
        atomic_fetch_sub(&fail_flushes, 1);
        return EVL_EIO;
    }
    return 0;
}

static void flaky_stop(void *state) { (void)state; }

static const evl_sink_ops_t flaky_ops = {flaky_start, flaky_put, flaky_flush, flaky_stop, NULL};
static const evl_connector_type_t flaky = {"FlakySink", NULL, 0, NULL, &flaky_ops, 0};

static evl_connect_worker_t *setup(evl_log_t **log)
{
    *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(*log, "t", 1, NULL), 0);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(*log, "t", NULL, &p), 0);
    for (int i = 0; i < 100; i++)
        test_send(p, 0, NULL, "x", 0);
    evl_producer_close(p);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(*log, &w), 0);
    cr_assert_eq(evl_connect_register(w, &flaky), 0);
    cr_assert_eq(evl_connect_register(w, &flaky), EVL_EEXIST);
    return w;
}

Test(retry, a_failing_target_is_tried_again_and_nothing_is_lost)
{
    evl_log_t *log;
    evl_connect_worker_t *w = setup(&log);
    atomic_store(&fail_puts, 3);
    atomic_store(&fail_flushes, 2);
    atomic_store(&got, 0);
    const char *pairs[] = {"name", "f", "connector.class", "FlakySink", "topics", "t",
                           "errors.retry.timeout", "10000", "errors.retry.delay.max.ms", "20",
                           "offset.flush.interval.ms", "10"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 6, err, sizeof err), 0, "%s", err);
    evl_connect_metrics_t m = {0};
    for (int i = 0; i < 500; i++) {
        evl_connect_metrics(w, "f", &m);
        if (m.records == 100 && m.retries == 5)
            break;
        usleep(10000);
    }
    cr_assert_eq(m.state, EVL_CONNECT_RUNNING);
    cr_assert_eq(atomic_load(&got), 100);
    cr_assert_eq(m.retries, 5, "3 puts and 2 flushes tried again");
    evl_connect_worker_free(w);
    evl_log_close(log);
}

Test(retry, without_retries_or_past_the_timeout_the_task_fails)
{
    evl_log_t *log;
    evl_connect_worker_t *w = setup(&log);
    atomic_store(&fail_puts, 1000000);
    const char *none[] = {"name", "a", "connector.class", "FlakySink", "topics", "t"};
    const char *brief[] = {"name", "b", "connector.class", "FlakySink", "topics", "t",
                           "errors.retry.timeout", "100", "errors.retry.delay.max.ms", "20"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, none, 3, err, sizeof err), 0, "%s", err);
    cr_assert_eq(evl_connect_start(w, brief, 5, err, sizeof err), 0, "%s", err);
    evl_connect_metrics_t a = {0}, b = {0};
    for (int i = 0; i < 300; i++) {
        evl_connect_metrics(w, "a", &a);
        evl_connect_metrics(w, "b", &b);
        if (a.state == EVL_CONNECT_FAILED && b.state == EVL_CONNECT_FAILED)
            break;
        usleep(10000);
    }
    cr_assert_eq(a.state, EVL_CONNECT_FAILED);
    cr_assert_eq(a.retries, 0);
    cr_assert_eq(b.state, EVL_CONNECT_FAILED);
    cr_assert_geq(b.retries, 2, "tried again until 100 ms were spent");
    cr_assert_eq(evl_connect_status(w, "b", NULL, err, sizeof err), EVL_CONNECT_FAILED);
    cr_assert(strstr(err, "put"), "%s", err);
    evl_connect_metrics_t x;
    cr_assert_eq(evl_connect_metrics(w, "nope", &x), EVL_ENOTFOUND);
    const char *bad[] = {"name", "c", "connector.class", "FlakySink", "topics", "t",
                         "errors.retry.timeout", "-2"};
    cr_assert_eq(evl_connect_start(w, bad, 4, err, sizeof err), EVL_ECONFIG);
    cr_assert(strstr(err, "errors.retry.timeout"), "%s", err);
    evl_connect_worker_free(w);
    evl_log_close(log);
}
