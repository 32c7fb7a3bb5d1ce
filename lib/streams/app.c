/*
 * app.c - a running application: its settings, its stream threads, each a
 * member of the consumer group APPLICATION_ID subscribed to every input of
 * the topology (the range assignor gives co-partitioned topics' partition
 * P to one member), the tasks each thread opens for the partitions it is
 * given and closes when they are taken away, and the records it polls
 * handed to their tasks in batches. Positions are the tasks' own (in
 * their checkpoints), so the group's committed offsets are not used: a
 * thread seeks each partition it is given to its task's position.
 */
#include "streams_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MAX 500

void evl__app_fail(evl_streams_t *app, int rc, const char *fmt, ...)
{
    pthread_mutex_lock(&app->mu);
    if (!app->error) {
        app->error = rc;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(app->errmsg, sizeof app->errmsg, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&app->mu);
    atomic_store(&app->stop, true);
}

typedef struct thr {
    evl_streams_t *app;
    evl_consumer_t *cons;
    evl_task_t **tasks;
    size_t ntasks;
    bool closing;        /* the consumer's last callbacks open nothing */
    bool running;        /* its thread was started */
} thr_t;

static void app_add_task(evl_streams_t *app, evl_task_t *t, bool add)
{
    pthread_mutex_lock(&app->mu);
    if (add) {
        evl_task_t **v = realloc(app->tasks, (app->ntasks + 1) * sizeof *v);
        if (v) {
            app->tasks = v;
            app->tasks[app->ntasks++] = t;
        }
    } else {
        for (size_t i = 0; i < app->ntasks; i++)
            if (app->tasks[i] == t)
                app->tasks[i] = app->tasks[--app->ntasks];
    }
    atomic_store(&app->metrics[EVL_SM_TASKS], (long long)app->ntasks);
    pthread_mutex_unlock(&app->mu);
}

static bool assigned(const evl_topic_partition_t *a, size_t n, const char *topic, int p)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].partition == p && !strcmp(a[i].topic, topic))
            return true;
    return false;
}

/* The tasks the current assignment calls for: open the missing ones (and
 * put the consumer at their positions), close those no longer wanted. */
static void retask(thr_t *th)
{
    evl_streams_t *app = th->app;
    evl_topic_partition_t *a = NULL;
    size_t n = 0;
    if (evl_consumer_assignment(th->cons, &a, &n))
        return;
    for (size_t i = 0; i < th->ntasks;) {
        evl_task_t *t = th->tasks[i];
        evl_sub_t *s = evl__task_sub(t);
        bool keep = true;
        for (size_t k = 0; k < s->nsources; k++)
            keep &= assigned(a, n, s->sources[k], evl__task_partition(t));
        if (keep) {
            i++;
            continue;
        }
        app_add_task(app, t, false);
        evl__task_close(t);
        th->tasks[i] = th->tasks[--th->ntasks];
    }
    for (size_t si = 0; si < app->nsubs; si++) {
        evl_sub_t *s = &app->subs[si];
        for (int p = 0; p < s->partitions; p++) {
            bool all = true, have = false;
            for (size_t k = 0; k < s->nsources; k++)
                all &= assigned(a, n, s->sources[k], p);
            for (size_t i = 0; i < th->ntasks; i++)
                have |= evl__task_sub(th->tasks[i]) == s && evl__task_partition(th->tasks[i]) == p;
            if (!all || have)
                continue;
            evl_task_t *t;
            int rc = evl__task_open(app, s, p, &t);
            if (rc) {
                evl__app_fail(app, rc, "task %zu_%d: opening: %s", si, p, evl_strerror(rc));
                free(a);
                return;
            }
            evl_task_t **v = realloc(th->tasks, (th->ntasks + 1) * sizeof *v);
            if (!v) {
                evl__task_close(t);
                evl__app_fail(app, EVL_ENOMEM, "out of memory");
                free(a);
                return;
            }
            th->tasks = v;
            th->tasks[th->ntasks++] = t;
            app_add_task(app, t, true);
            for (size_t k = 0; k < s->nsources; k++)
                evl_consumer_seek(th->cons, s->sources[k], p, evl__task_position(t, k));
        }
    }
    free(a);
}

static void on_rebalance(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                         size_t count, void *opaque)
{
    thr_t *th = opaque;
    (void)cons;
    if (th->closing)
        return;
    if (event == EVL_REBALANCE_REVOKE) {
        /* the consumer still lists what goes (an assignment may not
         * follow): close the tasks that read any of it */
        for (size_t i = 0; i < th->ntasks;) {
            evl_task_t *t = th->tasks[i];
            evl_sub_t *s = evl__task_sub(t);
            bool goes = false;
            for (size_t k = 0; k < s->nsources && !goes; k++)
                goes = assigned(parts, count, s->sources[k], evl__task_partition(t));
            if (!goes) {
                i++;
                continue;
            }
            app_add_task(th->app, t, false);
            evl__task_close(t);
            th->tasks[i] = th->tasks[--th->ntasks];
        }
        return;
    }
    retask(th);
}

/* The task reading topic's partition p, and which of its sources it is. */
static evl_task_t *task_for(thr_t *th, const char *topic, int p, size_t *src)
{
    for (size_t i = 0; i < th->ntasks; i++) {
        evl_sub_t *s = evl__task_sub(th->tasks[i]);
        if (evl__task_partition(th->tasks[i]) != p)
            continue;
        for (size_t k = 0; k < s->nsources; k++)
            if (!strcmp(s->sources[k], topic)) {
                *src = k;
                return th->tasks[i];
            }
    }
    return NULL;
}

typedef struct item {
    const evl_record_t *rec;
    size_t src;
    evl_task_t *task;
} item_t;

/* Each task's records: by task, then source, then offset. */
static int item_cmp(const void *x, const void *y)
{
    const item_t *a = x, *b = y;
    if (a->task != b->task)
        return a->task < b->task ? -1 : 1;
    if (a->src != b->src)
        return a->src < b->src ? -1 : 1;
    int64_t oa = evl_record_offset(a->rec), ob = evl_record_offset(b->rec);
    return oa < ob ? -1 : oa > ob;
}

/* The task dropped after another member fenced it (its batch was not
 * committed; the new owner finishes it); the rebalance follows. */
static void drop_fenced(thr_t *th, evl_task_t *t)
{
    for (size_t k = 0; k < th->ntasks; k++)
        if (th->tasks[k] == t)
            th->tasks[k] = th->tasks[--th->ntasks];
    app_add_task(th->app, t, false);
    evl__task_close(t);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long a poll may wait: commit.interval.ms, or less when one of the
 * thread's tasks has a wall-clock punctuation due sooner; at most 100 ms
 * while the thread has no tasks (those its first assignment opens, during
 * the poll, may punctuate sooner). */
static int poll_wait(thr_t *th)
{
    int64_t wait = th->app->commit_ms, now = wall_ms();
    if (!th->ntasks && wait > 100)
        wait = 100;
    for (size_t i = 0; i < th->ntasks; i++) {
        int64_t due = evl__task_next_wall(th->tasks[i]);
        if (due != INT64_MAX && due - now < wait)
            wait = due - now;
    }
    return wait < 0 ? 0 : (int)wait;
}

/* Wall-clock punctuations due now, task by task. */
static int wall_punctuate(thr_t *th)
{
    int64_t now = wall_ms();
    for (size_t i = 0; i < th->ntasks;) {
        evl_task_t *t = th->tasks[i];
        int rc = evl__task_wall_punctuate(t, now);
        if (rc == EVL_EPRODUCER_FENCED) {
            drop_fenced(th, t);
            continue;
        }
        if (rc) {
            evl__app_fail(th->app, rc, "task %d_%d: punctuating: %s", evl__task_sub(t)->id,
                          evl__task_partition(t), evl_strerror(rc));
            return rc;
        }
        i++;
    }
    return 0;
}

static int run_batch(thr_t *th, const evl_record_t **recs, size_t n)
{
    item_t *it = malloc(n * sizeof *it);
    const evl_record_t **r = malloc(n * sizeof *r);
    size_t *src = malloc(n * sizeof *src);
    int rc = it && r && src ? 0 : EVL_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t k;
        evl_task_t *t = task_for(th, evl_record_topic(recs[i]), evl_record_partition(recs[i]), &k);
        /* records below the task's position were processed before */
        if (t && evl_record_offset(recs[i]) >= evl__task_position(t, k))
            it[m++] = (item_t){recs[i], k, t};
    }
    qsort(it, m, sizeof *it, item_cmp);
    for (size_t i = 0; !rc && i < m;) {
        size_t j = i;
        while (j < m && it[j].task == it[i].task) {
            r[j - i] = it[j].rec;
            src[j - i] = it[j].src;
            j++;
        }
        rc = evl__task_process(it[i].task, r, src, j - i);
        if (rc == EVL_EPRODUCER_FENCED) {
            /* the task moved to another member, which has fenced this one */
            drop_fenced(th, it[i].task);
            rc = 0;
            i = j;
            continue;
        }
        if (rc) {
            evl_sub_t *s = evl__task_sub(it[i].task);
            evl__app_fail(th->app, rc, "task %d_%d: %s", s->id, evl__task_partition(it[i].task),
                          evl_strerror(rc));
        }
        i = j;
    }
    free(it);
    free(r);
    free(src);
    return rc;
}

static void *thread_main(void *arg)
{
    thr_t *th = arg;
    evl_streams_t *app = th->app;
    const evl_record_t *recs[POLL_MAX];
    while (!atomic_load(&app->stop)) {
        size_t n = 0;
        int rc = evl_consumer_poll(th->cons, poll_wait(th), recs, POLL_MAX, &n);
        if (rc == EVL_EFENCED) {
            /* removed from the group (too long without a poll): its
             * partitions, revoked, closed their tasks, and the consumer
             * has joined again; go on */
            continue;
        }
        if (rc && rc != EVL_ETIMEDOUT) {
            evl__app_fail(app, rc, "polling: %s", evl_strerror(rc));
            break;
        }
        if ((rc = evl__global_refresh(app))) {
            evl__app_fail(app, rc, "global tables: %s", evl_strerror(rc));
            break;
        }
        if (n && run_batch(th, recs, n))
            break;
        if (wall_punctuate(th))
            break;
    }
    th->closing = true;
    for (size_t i = 0; i < th->ntasks; i++) {
        app_add_task(app, th->tasks[i], false);
        evl__task_close(th->tasks[i]);
    }
    th->ntasks = 0;
    evl_consumer_close(th->cons);
    th->cons = NULL;
    return NULL;
}

/* ---- the application ---- */

static const char *const guarantees[] = {"exactly_once", "exactly_once_v2", "at_least_once",
                                         NULL};
static const char *const serdes[] = {"bytes", "string", "int64", "json", NULL};
static const char *const handlers[] = {"fail", "continue", "LogAndFail", "LogAndContinue", NULL};
static const evl_confkey_t keys[] = {
    {"application.id", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL,
     "the group id and the prefix of the application's topics"},
    {"num.stream.threads", EVL_CONF_INT, "1", 1, 64, NULL, 0, NULL, NULL, "stream threads"},
    {"processing.guarantee", EVL_CONF_ENUM, "exactly_once", 0, -1, guarantees, 0, NULL, NULL,
     "exactly_once or at_least_once"},
    {"commit.interval.ms", EVL_CONF_INT, "100", 1, 600000, NULL, 0, NULL, NULL,
     "the longest a poll waits; each batch is committed"},
    {"state.dir", EVL_CONF_STRING, "/tmp/evl-streams", 0, -1, NULL, 0, NULL, NULL,
     "this instance's state stores"},
    {"default.key.serde", EVL_CONF_ENUM, "bytes", 0, -1, serdes, 0, NULL, NULL,
     "the keys' serde of topics without their own"},
    {"default.value.serde", EVL_CONF_ENUM, "bytes", 0, -1, serdes, 0, NULL, NULL,
     "the values' serde of topics without their own"},
    {"deserialization.exception.handler", EVL_CONF_ENUM, "fail", 0, -1, handlers, 0, NULL, NULL,
     "a record that does not deserialize: fail the task, or continue past it"},
    {"num.standby.replicas", EVL_CONF_INT, "0", 0, 64, NULL, 0, NULL, NULL,
     "> 0: warm copies of the tasks this instance does not run"},
};

EVL_API int evl_streams_new(evl_log_t *log, const evl_streams_builder_t *b,
                            const char *const *pairs, size_t npairs, char *errbuf,
                            size_t errlen, evl_streams_t **out)
{
    *out = NULL;
    char dummy[8];
    if (!errbuf || !errlen) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = 0;
    if (!b || b->err[0]) {
        snprintf(errbuf, errlen, "%s", b ? b->err : "no topology");
        return EVL_EINVAL;
    }
    evl_confdef_t *def;
    evl_conf_t *c = NULL;
    int rc = evl_confdef_new("streams", keys, sizeof keys / sizeof *keys, &def);
    if (rc)
        return rc;
    rc = evl_conf_parse(def, 0, pairs, npairs, &c, errbuf, errlen);
    evl_streams_t *app = rc ? NULL : calloc(1, sizeof *app);
    if (!rc && !app)
        rc = EVL_ENOMEM;
    if (!rc) {
        app->log = log;
        app->b = (evl_streams_builder_t *)b;
        pthread_mutex_init(&app->mu, NULL);
        app->app_id = strdup(evl_conf_str(c, "application.id"));
        app->state_dir = strdup(evl_conf_str(c, "state.dir"));
        app->nthreads = (int)evl_conf_int(c, "num.stream.threads");
        app->commit_ms = (int)evl_conf_int(c, "commit.interval.ms");
        app->eos = strcmp(evl_conf_str(c, "processing.guarantee"), "at_least_once") != 0;
        app->default_key = evl__serde_named(evl_conf_str(c, "default.key.serde"));
        app->default_value = evl__serde_named(evl_conf_str(c, "default.value.serde"));
        app->deser_continue = strstr(evl_conf_str(c, "deserialization.exception.handler"),
                                     "ontinue") != NULL;
        app->standbys = (int)evl_conf_int(c, "num.standby.replicas");
        pthread_mutex_init(&app->smu, NULL);
        pthread_cond_init(&app->scond, NULL);
        if (!app->app_id || !app->state_dir)
            rc = EVL_ENOMEM;
        else if (!*app->app_id) {
            snprintf(errbuf, errlen, "application.id: must not be empty");
            rc = EVL_ECONFIG;
        }
        if (!rc)
            rc = evl__topo_finish(app, errbuf, errlen);
        if (!rc)
            rc = evl__global_open(app, errbuf, errlen);
        if (!rc) { /* the set of tasks open here */
            size_t total = 0;
            app->open_base = calloc(app->nsubs + 1, sizeof *app->open_base);
            for (size_t i = 0; app->open_base && i < app->nsubs; i++) {
                app->open_base[i] = total;
                total += (size_t)app->subs[i].partitions;
            }
            app->open = calloc(total + 1, sizeof *app->open);
            app->busy = calloc(total + 1, sizeof *app->busy);
            if (!app->open_base || !app->open || !app->busy)
                rc = EVL_ENOMEM;
        }
        if (rc) {
            evl_streams_close(app);
            app = NULL;
        }
    }
    evl_conf_free(c);
    evl_confdef_free(def);
    *out = app;
    return rc;
}

static size_t slot(const evl_streams_t *app, const evl_sub_t *sub, int p)
{
    return app->open_base[sub->id] + (size_t)p;
}

void evl__app_task_opening(evl_streams_t *app, const evl_sub_t *sub, int p)
{
    while (app->busy[slot(app, sub, p)])
        pthread_cond_wait(&app->scond, &app->smu);
    app->open[slot(app, sub, p)]++;
}

void evl__app_task_closed(evl_streams_t *app, const evl_sub_t *sub, int p)
{
    app->open[slot(app, sub, p)]--;
}

bool evl__app_standby_take(evl_streams_t *app, const evl_sub_t *sub, int p)
{
    size_t i = slot(app, sub, p);
    if (app->open[i] > 0 || app->busy[i])
        return false;
    return app->busy[i] = true;
}

void evl__app_standby_give(evl_streams_t *app, const evl_sub_t *sub, int p)
{
    pthread_mutex_lock(&app->smu);
    app->busy[slot(app, sub, p)] = false;
    pthread_cond_broadcast(&app->scond);
    pthread_mutex_unlock(&app->smu);
}

/* Standby replicas: every 200 ms, each task not open here brought up to
 * its changelog's end. A standby that fails is tried again next round (it
 * is a cache; the task restores what it lacks when it opens). */
static void *standby_main(void *arg)
{
    evl_streams_t *app = arg;
    while (!atomic_load(&app->stop)) {
        for (size_t si = 0; si < app->nsubs && !atomic_load(&app->stop); si++)
            for (int p = 0; p < app->subs[si].partitions && !atomic_load(&app->stop); p++)
                evl__task_standby(app, &app->subs[si], p);
        for (int i = 0; i < 20 && !atomic_load(&app->stop); i++)
            usleep(10000);
    }
    return NULL;
}

EVL_API int evl_streams_start(evl_streams_t *app)
{
    if (app->threads)
        return EVL_ESTATE;
    /* the global tables up to the topics' ends before any task */
    int grc = evl__global_refresh(app);
    if (grc)
        return grc;
    size_t ntopics = 0;
    for (size_t i = 0; i < app->nsubs; i++)
        ntopics += app->subs[i].nsources;
    const char **topics = calloc(ntopics + 1, sizeof *topics);
    app->threads = calloc((size_t)app->nthreads, sizeof *app->threads);
    thr_t *ths = calloc((size_t)app->nthreads, sizeof *ths);
    if (!topics || !app->threads || !ths) {
        free(topics);
        free(ths);
        return EVL_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < app->nsubs; i++)
        for (size_t j = 0; j < app->subs[i].nsources; j++)
            topics[k++] = app->subs[i].sources[j];
    int rc = 0;
    for (int i = 0; !rc && i < app->nthreads; i++) {
        thr_t *th = &ths[i];
        th->app = app;
        evl_config_t *cc = evl_config_new();
        rc = cc ? 0 : EVL_ENOMEM;
        if (!rc)
            rc = evl_config_set(cc, "group.id", app->app_id, NULL, 0);
        if (!rc)
            rc = evl_config_set(cc, "enable.auto.commit", "false", NULL, 0);
        if (!rc)
            rc = evl_config_set(cc, "auto.offset.reset", "earliest", NULL, 0);
        if (!rc)
            rc = evl_config_set(cc, "partition.assignment.strategy", "range", NULL, 0);
        if (!rc)
            rc = evl_consumer_new(app->log, cc, &th->cons);
        evl_config_free(cc);
        if (!rc) {
            evl_consumer_set_rebalance_cb(th->cons, on_rebalance, th);
            rc = evl_consumer_subscribe(th->cons, topics, k);
        }
        if (!rc && pthread_create(&app->threads[i], NULL, thread_main, th))
            rc = EVL_ENOMEM;
        else if (!rc)
            th->running = true;
        if (rc && th->cons) {
            evl_consumer_close(th->cons);
            th->cons = NULL;
        }
    }
    free(topics);
    app->thr = ths;
    if (!rc && app->standbys > 0) {
        if (pthread_create(&app->standby_thr, NULL, standby_main, app))
            rc = EVL_ENOMEM;
        else
            app->standby_started = true;
    }
    if (rc)
        atomic_store(&app->stop, true);
    return rc;
}

EVL_API int evl_streams_close(evl_streams_t *app)
{
    if (!app)
        return 0;
    atomic_store(&app->stop, true);
    thr_t *ths = app->thr;
    for (int i = 0; app->threads && i < app->nthreads; i++)
        if (ths && ths[i].running)
            pthread_join(app->threads[i], NULL);
    if (app->standby_started)
        pthread_join(app->standby_thr, NULL);
    for (int i = 0; ths && i < app->nthreads; i++)
        free(ths[i].tasks);
    free(ths);
    free(app->threads);
    for (size_t i = 0; i < app->nsubs; i++) {
        for (size_t k = 0; k < app->subs[i].nsources; k++)
            free(app->subs[i].sources[k]);
        for (size_t k = 0; k < app->subs[i].nstores; k++)
            free(app->subs[i].stores[k]);
        free(app->subs[i].sources);
        free(app->subs[i].source_nodes);
        free(app->subs[i].stores);
    }
    free(app->subs);
    free(app->tasks);
    free(app->open);
    free(app->busy);
    free(app->open_base);
    evl__global_close(app);
    int rc = app->error;
    pthread_mutex_destroy(&app->mu);
    pthread_mutex_destroy(&app->smu);
    pthread_cond_destroy(&app->scond);
    free(app->app_id);
    free(app->state_dir);
    free(app);
    return rc;
}

EVL_API int evl_streams_error(evl_streams_t *app, char *buf, size_t len)
{
    pthread_mutex_lock(&app->mu);
    int rc = app->error;
    if (buf && len)
        snprintf(buf, len, "%s", app->errmsg);
    pthread_mutex_unlock(&app->mu);
    return rc;
}

typedef struct get {
    const void *key;
    size_t klen;
    void **val;
    size_t *vlen;
    bool found;
} get_t;

static int get_one(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    get_t *g = arg;
    if (klen != g->klen || (klen && memcmp(key, g->key, klen)))
        return 0;
    if (!(*g->val = malloc(vlen ? vlen : 1)))
        return EVL_ENOMEM;
    if (vlen)
        memcpy(*g->val, val, vlen);
    *g->vlen = vlen;
    g->found = true;
    return 1;
}

EVL_API int evl_streams_store_get(evl_streams_t *app, const char *store, const void *key,
                                  size_t key_len, void **val, size_t *val_len)
{
    int rc = EVL_ENOTFOUND;
    pthread_mutex_lock(&app->mu);
    for (size_t i = 0; rc == EVL_ENOTFOUND && i < app->ntasks; i++)
        rc = evl__task_store_get(app->tasks[i], store, key, key_len, val, val_len);
    pthread_mutex_unlock(&app->mu);
    if (rc == EVL_ENOTFOUND && app->glob) {
        get_t g = {key, key_len, val, val_len, false};
        int q = evl__global_query(app, store, key, key_len, key, key_len, false, get_one, &g);
        rc = q ? q : g.found ? 0 : EVL_ENOTFOUND;
    }
    return rc;
}

/* A visitor over several tasks' scans: a stop ends them all. */
typedef struct stop {
    evl_entry_fn *fn;
    void *arg;
    bool stopped;
} stop_t;

static int stop_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    stop_t *st = arg;
    int r = st->fn(st->arg, key, klen, val, vlen);
    st->stopped |= r != 0;
    return r;
}

int evl__app_query(evl_streams_t *app, const char *store, const void *from, size_t fl,
                   const void *to, size_t tl, bool prefix, evl_entry_fn *fn, void *arg)
{
    stop_t st = {fn, arg, false};
    bool any = false;
    int rc = 0;
    pthread_mutex_lock(&app->mu);
    for (size_t i = 0; !st.stopped && i < app->ntasks; i++) {
        int r = evl__task_query_range(app->tasks[i], store, from, fl, to, tl, prefix, stop_cb,
                                      &st);
        if (r == EVL_ENOTFOUND)
            continue;
        any = true;
        if ((rc = r))
            break;
    }
    pthread_mutex_unlock(&app->mu);
    return any ? rc : EVL_ENOTFOUND;
}

EVL_API int evl_streams_store_range(evl_streams_t *app, const char *store, const void *from,
                                    size_t from_len, const void *to, size_t to_len,
                                    evl_entry_fn *fn, void *arg)
{
    if (!app || !store || !fn)
        return EVL_EINVAL;
    int rc = evl__global_query(app, store, from, from_len, to, to_len, false, fn, arg);
    if (rc != EVL_ENOTFOUND)
        return rc;
    return evl__app_query(app, store, from, from_len, to, to_len, false, fn, arg);
}

EVL_API int evl_streams_task_metrics(evl_streams_t *app, evl_task_metrics_t *out, size_t max,
                                     size_t *n)
{
    if (!app || (max && !out))
        return EVL_EINVAL;
    pthread_mutex_lock(&app->mu);
    for (size_t i = 0; i < app->ntasks && i < max; i++)
        evl__task_metrics(app->tasks[i], &out[i]);
    if (n)
        *n = app->ntasks;
    pthread_mutex_unlock(&app->mu);
    return 0;
}

EVL_API int64_t evl_streams_metric(evl_streams_t *app, int metric)
{
    if (metric < 0 || metric > EVL_SM_STANDBY)
        return EVL_EINVAL;
    return atomic_load(&app->metrics[metric]);
}
