/*
 * streams_helpers.h - what the streams tests share: a log per test, a
 * record put on a topic, a topic's records as text, an application run
 * with a test's settings, waiting for a store's key.
 */
#ifndef STREAMS_HELPERS_H
#define STREAMS_HELPERS_H

#include <criterion/criterion.h>
#include <eventlog.h>
#include <eventlog/streams.h>
#include <unistd.h>

#include "helpers.h"

static evl_log_t *log_;

static inline void sh_setup(void)
{
    test_dir_setup();
    log_ = test_open(NULL);
}

static inline void sh_teardown(void)
{
    evl_log_close(log_);
    test_dir_teardown();
}

/* A record on topic's partition part (-1: by key) at ts (< 0: each a
 * millisecond after the last, so the order across inputs is the test's:
 * a batch's records are merged by timestamp). */
static inline void sh_put(const char *topic, int part, const char *key, const char *value,
                          int64_t ts)
{
    static int64_t next = 1700000000000;
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log_, topic, NULL, &p), 0);
    evl_msg_t m = {key, key ? strlen(key) : 0, value, value ? strlen(value) : 0, NULL, 0,
                   ts >= 0 ? ts : ++next, part >= 0 ? part : EVL_PARTITION_ANY, -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    evl_producer_close(p);
}

/* topic's records as "key=value" lines (a null value: "null"; with
 * parts, "P:" first), partitions in order, once there are want. */
static inline char *sh_dump_ex(const char *topic, size_t want, bool parts)
{
    char *buf = calloc(1, 65536);
    for (int tries = 0; tries < 200; tries++) {
        size_t len = 0, got = 0;
        int np = evl_topic_partitions(log_, topic);
        for (int p = 0; p < np; p++) {
            evl_reader_t *rd;
            if (evl_reader_open(log_, topic, p, &rd))
                continue;
            const evl_record_t *r;
            while (evl_reader_next(rd, 0, &r) == 0 && len < 60000) {
                size_t kl, vl;
                const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
                if (parts)
                    len += (size_t)snprintf(buf + len, 65536 - len, "%d:", p);
                len += (size_t)snprintf(buf + len, 65536 - len, "%.*s=%.*s\n", k ? (int)kl : 0,
                                        k ? k : "", v ? (int)vl : 4, v ? v : "null");
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

static inline char *sh_dump(const char *topic, size_t want)
{
    return sh_dump_ex(topic, want, false);
}

/* Run b as application id with settings extra (pairs) added. */
static inline evl_streams_t *sh_run_with(evl_streams_builder_t *b, const char *id,
                                         const char *const *extra, size_t nextra)
{
    const char *conf[16] = {"application.id", id, "state.dir", tpath("state")};
    size_t n = 4;
    for (size_t i = 0; i < nextra && n < 16; i++)
        conf[n++] = extra[i];
    char err[256];
    evl_streams_t *app;
    int rc = evl_streams_new(log_, b, conf, n / 2, err, sizeof err, &app);
    cr_assert_eq(rc, 0, "%s: %s", evl_strerror(rc), err);
    cr_assert_eq(evl_streams_start(app), 0);
    return app;
}

static inline evl_streams_t *sh_run(evl_streams_builder_t *b, const char *id)
{
    return sh_run_with(b, id, NULL, 0);
}

static inline void sh_wait_records(evl_streams_t *app, int64_t n)
{
    for (int i = 0; i < 400 && evl_streams_metric(app, EVL_SM_RECORDS) < n; i++)
        usleep(10000);
    cr_assert_geq(evl_streams_metric(app, EVL_SM_RECORDS), n);
}

#endif
