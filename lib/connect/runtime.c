/*
 * runtime.c - the connect worker (eventlog/connect.h): connector types and
 * their settings, checked before anything runs; connectors started on
 * threads of their own (source_task.c, sink_task.c), stopped, and their
 * state and metrics.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static const char *const durabilities[] = {"none", "interval", "fsync", NULL};

static int name_ok(void *arg, const char *v, char *msg, size_t msgsz)
{
    (void)arg;
    size_t n = strlen(v);
    bool ok = n > 0 && n <= 200;
    for (size_t i = 0; ok && i < n; i++)
        ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
             (v[i] >= '0' && v[i] <= '9') || v[i] == '.' || v[i] == '_' || v[i] == '-';
    if (!ok)
        snprintf(msg, msgsz, "use 1 to 200 of [A-Za-z0-9._-]");
    return !ok;
}

/* Settings of every connector, before its type's own. */
static const evl_confkey_t worker_keys[] = {
    {"name", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, name_ok, NULL,
     "the connector's name, unique in the worker"},
    {"connector.class", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the connector type"},
    {"topic", EVL_CONF_STRING, NULL, 0, -1, NULL, SCOPE_SOURCE, NULL, NULL,
     "the local topic a source writes to"},
    {"topics", EVL_CONF_LIST, NULL, 0, -1, NULL, SCOPE_SINK, NULL, NULL,
     "the local topics a sink reads (comma-separated)"},
    {"tasks.max", EVL_CONF_INT, "1", 1, MAX_TASKS, NULL, 0, NULL, NULL,
     "tasks at most (a connector type may run fewer: max_tasks)"},
    {"durability", EVL_CONF_ENUM, "fsync", 0, -1, durabilities, SCOPE_SOURCE, NULL, NULL,
     "how durable a batch is before its source offset is committed"},
    {"offset.flush.interval.ms", EVL_CONF_INT, "1000", 1, 3600000, NULL, SCOPE_SINK, NULL,
     NULL, "how often a sink is flushed and its offsets committed"},
    {"errors.retry.timeout", EVL_CONF_INT, "0", -1, INT32_MAX, NULL, 0, NULL, NULL,
     "how long a failed put or flush is tried again, in ms (0: not; -1: for ever)"},
    {"errors.retry.delay.max.ms", EVL_CONF_INT, "60000", 1, INT32_MAX, NULL, 0, NULL, NULL,
     "the longest wait between two tries (the waits double from 300 ms, with jitter)"},
    DATA_KEYS,
};
#define NWORKER_KEYS (sizeof worker_keys / sizeof worker_keys[0])

/* ---- the worker --------------------------------------------------------------- */

EVL_API int evl_connect_register(evl_connect_worker_t *w, const evl_connector_type_t *t)
{
    bool src = t && t->source && t->source->start && t->source->poll && t->source->stop;
    bool snk = t && t->sink && t->sink->start && t->sink->put && t->sink->flush && t->sink->stop;
    if (!w || !t || !t->name || src == snk)
        return EVL_EINVAL; /* one of the two, whole */
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    for (size_t i = 0; i < w->ntypes; i++)
        if (!strcmp(w->types[i].type->name, t->name))
            rc = EVL_EEXIST;
    ctype_t ct = {t, NULL, NULL};
    if (rc == 0 && w->ntypes == MAX_TYPES)
        rc = EVL_EFULL;
    if (rc == 0 && !(ct.keys = calloc(NWORKER_KEYS + t->nkeys, sizeof *ct.keys)))
        rc = EVL_ENOMEM;
    if (rc == 0) {
        memcpy(ct.keys, worker_keys, sizeof worker_keys);
        if (t->nkeys)
            memcpy(ct.keys + NWORKER_KEYS, t->keys, t->nkeys * sizeof *ct.keys);
        rc = evl_confdef_new(t->name, ct.keys, NWORKER_KEYS + t->nkeys, &ct.def);
    }
    if (rc == 0)
        w->types[w->ntypes++] = ct;
    else
        free(ct.keys);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

EVL_API void evl_connect_worker_set_log_cb(evl_connect_worker_t *w, evl_log_cb *cb, void *opaque)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->log_cb = cb;
    w->log_opaque = opaque;
    pthread_mutex_unlock(&w->mu);
}

EVL_API int evl_connect_worker_new(evl_log_t *log, evl_connect_worker_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log)
        return EVL_EINVAL;
    evl_connect_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return EVL_ENOMEM;
    w->log = log;
    pthread_mutex_init(&w->mu, NULL);
    int rc = evl_kv_table(log, "connect.offsets", &w->offsets);
    if (rc == 0)
        rc = evl_kv_table(log, "connect.sinks", &w->sinks);
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_file_source());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_file_sink());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_kafka_sink());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_kafka_source());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_mqtt_source());
    if (rc == 0)
        rc = evl_connect_register(w, evl_connect_mqtt_sink());
    if (rc) {
        evl_connect_worker_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

conn_t *evl__connect_find(evl_connect_worker_t *w, const char *name)
{
    for (conn_t *c = w->conns; c; c = c->next)
        if (c->task == 0 && !strcmp(c->name, name))
            return c;
    return NULL;
}

int evl__connect_tasks(evl_connect_worker_t *w, const char *name, conn_t **out, int max)
{
    int n = 0;
    for (conn_t *c = w->conns; c; c = c->next)
        if (!strcmp(c->name, name) && c->task < max) {
            out[c->task] = c;
            n = c->task + 1 > n ? c->task + 1 : n;
        }
    return n;
}

/* Task t of connector name, made from its settings (not started). */
static int new_task(evl_connect_worker_t *w, const ctype_t *ct, const char *name,
                    const char *const *pairs, size_t npairs, int t, conn_t **out, char *err,
                    size_t errsz)
{
    conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return EVL_ENOMEM;
    pthread_mutex_init(&c->err_mu, NULL);
    c->mu_init = true;
    c->w = w;
    c->ct = ct;
    c->task = t;
    int rc = evl_conf_parse(ct->def, ct->type->source ? SCOPE_SOURCE : SCOPE_SINK, pairs, npairs,
                            &c->conf, err, errsz);
    if (rc == 0 && strlen(name) >= sizeof c->name) {
        snprintf(err, errsz, "name: too long");
        rc = EVL_ECONFIG;
    }
    if (rc == 0) {
        snprintf(c->name, sizeof c->name, "%s", name);
        if (t == 0)
            snprintf(c->label, sizeof c->label, "%s", name);
        else
            snprintf(c->label, sizeof c->label, "%s..%d", name, t);
        rc = evl__pipe_new(c, ct->type->sink != NULL, &c->pipe, err, errsz);
    }
    if (rc == 0 && !(c->pairs = calloc(2 * npairs + 1, sizeof *c->pairs)))
        rc = EVL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < 2 * npairs; i++)
        if (!(c->pairs[i] = strdup(pairs[i] ? pairs[i] : "")))
            rc = EVL_ENOMEM;
    if (c->pairs)
        c->npairs = npairs;
    if (rc) {
        evl__connect_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

EVL_API int evl_connect_start(evl_connect_worker_t *w, const char *const *pairs, size_t npairs,
                              char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = 0;
    if (!w || (!pairs && npairs))
        return EVL_EINVAL;
    const char *cls = NULL, *name = NULL;
    for (size_t i = 0; i < npairs; i++) {
        if (pairs[2 * i] && !strcmp(pairs[2 * i], "connector.class"))
            cls = pairs[2 * i + 1];
        if (pairs[2 * i] && !strcmp(pairs[2 * i], "name"))
            name = pairs[2 * i + 1];
    }
    pthread_mutex_lock(&w->mu);
    const ctype_t *ct = NULL;
    for (size_t i = 0; cls && i < w->ntypes; i++)
        if (!strcmp(w->types[i].type->name, cls))
            ct = &w->types[i];
    int rc = 0;
    if (!ct) {
        snprintf(err, errsz, "connector.class: %s", cls ? "unknown connector type" : "required");
        rc = EVL_ECONFIG;
    } else if (name && evl__connect_find(w, name)) {
        snprintf(err, errsz, "name: a connector %s runs already", name);
        rc = EVL_EEXIST;
    }
    /* Task 0 first (its settings checked), then as many more as tasks.max
     * asks and the type can take; all or none start. */
    conn_t *tasks[MAX_TASKS] = {0};
    int n = 1;
    for (int t = 0; rc == 0 && t < n; t++) {
        rc = new_task(w, ct, name, pairs, npairs, t, &tasks[t], err, errsz);
        if (rc == 0 && t == 0) {
            n = (int)evl_conf_int(tasks[0]->conf, "tasks.max");
            if (ct->type->max_tasks > 0 && n > ct->type->max_tasks)
                n = ct->type->max_tasks;
        }
    }
    for (int t = 0; t < n; t++)
        if (tasks[t])
            tasks[t]->ntasks = n;
    for (int t = 0; rc == 0 && t < n; t++)
        rc = evl__connect_launch(tasks[t]);
    if (rc) {
        for (int t = 0; t < n; t++)
            if (tasks[t])
                evl__connect_free(tasks[t]);
    } else {
        for (int t = n - 1; t >= 0; t--) { /* task 0 ends up first */
            tasks[t]->next = w->conns;
            w->conns = tasks[t];
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* The connector's state from its tasks': FAILED if one failed, PAUSED or
 * STOPPED when all are, RUNNING otherwise; the first failed task's error. */
static int state_of(conn_t **t, int n, conn_t **failed)
{
    int running = 0, paused = 0;
    *failed = NULL;
    for (int i = 0; i < n; i++) {
        int st = t[i] ? atomic_load(&t[i]->state) : EVL_CONNECT_STOPPED;
        if (st == EVL_CONNECT_FAILED && !*failed)
            *failed = t[i];
        running += st == EVL_CONNECT_RUNNING;
        paused += st == EVL_CONNECT_PAUSED;
    }
    return *failed ? EVL_CONNECT_FAILED
           : running ? EVL_CONNECT_RUNNING
           : paused  ? EVL_CONNECT_PAUSED
                     : EVL_CONNECT_STOPPED;
}

static void err_of(conn_t *c, char *err, size_t errsz)
{
    pthread_mutex_lock(&c->err_mu);
    snprintf(err, errsz, "%s", c->err);
    pthread_mutex_unlock(&c->err_mu);
}

EVL_API int evl_connect_status(evl_connect_worker_t *w, const char *connector, int64_t *records,
                               char *err, size_t errsz)
{
    if (!w || !connector)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *t[MAX_TASKS] = {0}, *failed;
    int n = evl__connect_tasks(w, connector, t, MAX_TASKS);
    int st = n ? state_of(t, n, &failed) : EVL_ENOTFOUND;
    if (n && records) {
        *records = 0;
        for (int i = 0; i < n; i++)
            *records += t[i] ? atomic_load(&t[i]->records) : 0;
    }
    if (n && err && errsz)
        err_of(failed ? failed : t[0], err, errsz);
    pthread_mutex_unlock(&w->mu);
    return st;
}

EVL_API int evl_connect_task_status(evl_connect_worker_t *w, const char *connector, int task,
                                    char *err, size_t errsz)
{
    if (!w || !connector || task < 0 || task >= MAX_TASKS)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *t[MAX_TASKS] = {0};
    int n = evl__connect_tasks(w, connector, t, MAX_TASKS);
    int st = task < n && t[task] ? atomic_load(&t[task]->state) : EVL_ENOTFOUND;
    if (st >= 0 && err && errsz)
        err_of(t[task], err, errsz);
    pthread_mutex_unlock(&w->mu);
    return st;
}

EVL_API int evl_connect_task_metrics(evl_connect_worker_t *w, const char *connector, int task,
                                     evl_connect_metrics_t *out)
{
    if (!w || !connector || !out || task < 0 || task >= MAX_TASKS)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *t[MAX_TASKS] = {0};
    int n = evl__connect_tasks(w, connector, t, MAX_TASKS);
    conn_t *c = task < n ? t[task] : NULL;
    if (c) {
        memset(out, 0, sizeof *out);
        out->bytes = atomic_load(&c->bytes);
        out->records = atomic_load(&c->records);
        out->retries = atomic_load(&c->retries);
        out->errors = atomic_load(&c->errors);
        out->dlq_records = atomic_load(&c->dlq);
        out->filtered = atomic_load(&c->filtered);
        out->state = atomic_load(&c->state);
    }
    pthread_mutex_unlock(&w->mu);
    return c ? 0 : EVL_ENOTFOUND;
}

EVL_API int evl_connect_task_count(evl_connect_worker_t *w, const char *connector)
{
    if (!w || !connector)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *t[MAX_TASKS];
    int n = evl__connect_tasks(w, connector, t, MAX_TASKS);
    pthread_mutex_unlock(&w->mu);
    return n ? n : EVL_ENOTFOUND;
}

void evl__connect_end(conn_t *c)
{
    atomic_store(&c->stop, 1);
    if (c->started)
        pthread_join(c->th, NULL);
    c->started = false;
}

int evl__connect_launch(conn_t *c)
{
    atomic_store(&c->stop, 0);
    atomic_store(&c->state, EVL_CONNECT_RUNNING);
    pthread_mutex_lock(&c->err_mu);
    c->err[0] = 0;
    pthread_mutex_unlock(&c->err_mu);
    if (pthread_create(&c->th, NULL,
                       c->ct->type->source ? evl__connect_source_main : evl__connect_sink_main,
                       c) != 0) {
        atomic_store(&c->state, EVL_CONNECT_FAILED);
        return EVL_ENOMEM;
    }
    c->started = true;
    return 0;
}

void evl__connect_free(conn_t *c)
{
    evl__connect_end(c);
    evl__pipe_free(c->pipe);
    evl_conf_free(c->conf);
    evl_connect_pairs_free(c->pairs, c->npairs);
    if (c->mu_init)
        pthread_mutex_destroy(&c->err_mu);
    free(c);
}

EVL_API int evl_connect_metrics(evl_connect_worker_t *w, const char *connector,
                                evl_connect_metrics_t *out)
{
    if (!w || !connector || !out)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *t[MAX_TASKS] = {0}, *failed;
    int n = evl__connect_tasks(w, connector, t, MAX_TASKS);
    conn_t *c = n ? t[0] : NULL;
    bool sink = c && c->ct->type->sink;
    if (c) { /* the sums over its tasks */
        memset(out, 0, sizeof *out);
        for (int i = 0; i < n; i++) {
            if (!t[i])
                continue;
            out->bytes += atomic_load(&t[i]->bytes);
            out->records += atomic_load(&t[i]->records);
            out->retries += atomic_load(&t[i]->retries);
            out->errors += atomic_load(&t[i]->errors);
            out->dlq_records += atomic_load(&t[i]->dlq);
            out->filtered += atomic_load(&t[i]->filtered);
        }
        out->state = state_of(t, n, &failed);
    }
    pthread_mutex_unlock(&w->mu);
    char group[300];
    snprintf(group, sizeof group, "connect-%s", connector);
    evl_group_info_t *gi;
    if (sink && evl_group_describe(w->log, group, &gi) == 0) {
        for (size_t i = 0; i < evl_group_info_partition_count(gi); i++) {
            const char *topic, *member;
            int32_t part;
            int64_t committed, end;
            if (evl_group_info_partition(gi, i, &topic, &part, &committed, &end, &member) == 0)
                out->lag += end - (committed > 0 ? committed : 0);
        }
        evl_group_info_free(gi);
    }
    return c ? 0 : EVL_ENOTFOUND;
}

EVL_API int evl_connect_stop(evl_connect_worker_t *w, const char *connector)
{
    if (!w || !connector)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu); /* held: a delete or restart meanwhile waits */
    conn_t *t[MAX_TASKS] = {0};
    int n = evl__connect_tasks(w, connector, t, MAX_TASKS);
    for (int i = 0; i < n; i++)
        if (t[i])
            evl__connect_end(t[i]);
    pthread_mutex_unlock(&w->mu);
    return n ? 0 : EVL_ENOTFOUND;
}

EVL_API void evl_connect_worker_free(evl_connect_worker_t *w)
{
    if (!w)
        return;
    for (conn_t *c = w->conns, *nx; c; c = nx) {
        nx = c->next;
        evl__connect_free(c);
    }
    for (size_t i = 0; i < w->ntypes; i++) {
        evl_confdef_free(w->types[i].def);
        free(w->types[i].keys);
    }
    pthread_mutex_destroy(&w->mu);
    free(w);
}
