/*
 * retry.c - what every task uses: failing with a message, and Kafka
 * Connect's retries (errors.retry.timeout, errors.retry.delay.max.ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "worker.h"

int64_t evl__connect_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void evl__connect_fail_msg(conn_t *c, int rc, const char *msg)
{
    (void)rc;
    pthread_mutex_lock(&c->err_mu);
    snprintf(c->err, sizeof c->err, "%s", msg);
    pthread_mutex_unlock(&c->err_mu);
    atomic_store(&c->state, EVL_CONNECT_FAILED);
}

void evl__connect_log(evl_connect_worker_t *w, int level, const char *msg)
{
    if (w->log_cb)
        w->log_cb(w->log_opaque, level, msg);
}

void evl__connect_fail(conn_t *c, int rc, const char *what)
{
    pthread_mutex_lock(&c->err_mu);
    snprintf(c->err, sizeof c->err, "%s: %s", what, evl_strerror(rc));
    pthread_mutex_unlock(&c->err_mu);
    atomic_store(&c->state, EVL_CONNECT_FAILED);
}

/* ---- retries (errors.retry.timeout, errors.retry.delay.max.ms) -------------------- */

/* Run op until it succeeds, the retry time is spent, or the task is asked to
 * stop; the waits double from 300 ms up to the maximum, each with up to 20%
 * of jitter, as Kafka Connect's. */
int evl__connect_retrying(conn_t *c, int (*op)(void *), void *arg, const char *stage)
{
    int64_t timeout = evl_conf_int(c->conf, "errors.retry.timeout");
    int64_t max = evl_conf_int(c->conf, "errors.retry.delay.max.ms");
    int64_t start = evl__connect_mono_ms(), delay = max < 300 ? max : 300;
    unsigned seed = (unsigned)start ^ (unsigned)(uintptr_t)c;
    for (;;) {
        int rc = op(arg);
        if (rc == 0 || timeout == 0 || atomic_load(&c->stop))
            return rc;
        if (timeout > 0 && evl__connect_mono_ms() - start + delay > timeout)
            return rc;
        atomic_fetch_add(&c->retries, 1);
        pthread_mutex_lock(&c->err_mu);
        snprintf(c->err, sizeof c->err, "%s: %s (trying again)", stage, evl_strerror(rc));
        pthread_mutex_unlock(&c->err_mu);
        int64_t wait = delay + (int64_t)(rand_r(&seed) % (unsigned)(delay / 5 + 1));
        for (int64_t until = evl__connect_mono_ms() + wait; evl__connect_mono_ms() < until && !atomic_load(&c->stop);) {
            struct timespec nap = {0, 5 * 1000000};
            nanosleep(&nap, NULL);
        }
        delay = delay * 2 > max ? max : delay * 2;
    }
}


bool evl__connect_paused(conn_t *c)
{
    int st = atomic_load(&c->state);
    if (!atomic_load(&c->paused)) {
        if (st == EVL_CONNECT_PAUSED)
            atomic_compare_exchange_strong(&c->state, &st, EVL_CONNECT_RUNNING);
        return false;
    }
    if (st == EVL_CONNECT_RUNNING)
        atomic_compare_exchange_strong(&c->state, &st, EVL_CONNECT_PAUSED);
    struct timespec nap = {0, 20 * 1000000};
    nanosleep(&nap, NULL);
    return true;
}
