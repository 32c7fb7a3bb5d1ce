/*
 * manage.c - what Kafka Connect's REST API does to a worker, as calls:
 * list connectors, their settings and kinds; pause, resume, restart and
 * delete one; the connector types known; a configuration checked without
 * starting anything.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

EVL_API int evl_connect_list(evl_connect_worker_t *w, char ***names, size_t *count)
{
    if (!w || !names || !count)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    size_t n = 0;
    for (conn_t *c = w->conns; c; c = c->next)
        n += c->task == 0;
    char **v = calloc(n + 1, sizeof *v);
    int rc = v ? 0 : EVL_ENOMEM;
    size_t i = 0;
    for (conn_t *c = w->conns; rc == 0 && c; c = c->next)
        if (c->task == 0 && !(v[i++] = strdup(c->name)))
            rc = EVL_ENOMEM;
    pthread_mutex_unlock(&w->mu);
    /* Oldest first, as they were started (the list keeps the newest first). */
    for (size_t a = 0, b = i ? i - 1 : 0; rc == 0 && a < b; a++, b--) {
        char *t = v[a];
        v[a] = v[b];
        v[b] = t;
    }
    if (rc) {
        for (size_t k = 0; v && k < n; k++)
            free(v[k]);
        free(v);
        return rc;
    }
    *names = v;
    *count = n;
    return 0;
}

EVL_API void evl_connect_list_free(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

EVL_API int evl_connect_config(evl_connect_worker_t *w, const char *name, char ***pairs,
                               size_t *npairs, const char **cls, int *is_sink)
{
    if (!w || !name || !pairs || !npairs)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *c = evl__connect_find(w, name);
    int rc = c ? 0 : EVL_ENOTFOUND;
    char **p = NULL;
    if (rc == 0 && !(p = calloc(2 * c->npairs + 1, sizeof *p)))
        rc = EVL_ENOMEM;
    for (size_t i = 0; rc == 0 && i < 2 * c->npairs; i++)
        if (!(p[i] = strdup(c->pairs[i])))
            rc = EVL_ENOMEM;
    if (rc == 0) {
        *pairs = p;
        *npairs = c->npairs;
        if (cls)
            *cls = c->ct->type->name; /* the type outlives the worker's use */
        if (is_sink)
            *is_sink = c->ct->type->sink != NULL;
    } else if (p) {
        evl_connect_pairs_free(p, c->npairs);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* what to every task of connector name (task < 0), or to one. */
static int with_conn(evl_connect_worker_t *w, const char *name, int task, int what)
{
    if (!w || !name)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    conn_t *t[MAX_TASKS] = {0};
    int n = evl__connect_tasks(w, name, t, MAX_TASKS);
    int rc = n && (task < 0 || (task < n && t[task])) ? 0 : EVL_ENOTFOUND;
    for (int i = 0; rc == 0 && i < n; i++) {
        conn_t *c = t[i];
        if (!c || (task >= 0 && i != task))
            continue;
        switch (what) {
        case 0: /* pause */
            atomic_store(&c->paused, 1);
            break;
        case 1: /* resume */
            atomic_store(&c->paused, 0);
            break;
        case 2: /* restart: from the committed progress */
            evl__connect_end(c);
            rc = evl__connect_launch(c);
            break;
        default: { /* delete */
            conn_t **pp;
            for (pp = &w->conns; *pp != c; pp = &(*pp)->next)
                ;
            *pp = c->next;
            evl__connect_free(c);
        }
        }
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

EVL_API int evl_connect_pause(evl_connect_worker_t *w, const char *name)
{
    return with_conn(w, name, -1, 0);
}

EVL_API int evl_connect_resume(evl_connect_worker_t *w, const char *name)
{
    return with_conn(w, name, -1, 1);
}

EVL_API int evl_connect_restart(evl_connect_worker_t *w, const char *name)
{
    return with_conn(w, name, -1, 2);
}

EVL_API int evl_connect_restart_task(evl_connect_worker_t *w, const char *name, int task)
{
    return task < 0 ? EVL_EINVAL : with_conn(w, name, task, 2);
}

EVL_API int evl_connect_delete(evl_connect_worker_t *w, const char *name)
{
    return with_conn(w, name, -1, 3);
}

EVL_API size_t evl_connect_type_count(evl_connect_worker_t *w)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    size_t n = w->ntypes;
    pthread_mutex_unlock(&w->mu);
    return n;
}

EVL_API const evl_connector_type_t *evl_connect_type(evl_connect_worker_t *w, size_t i)
{
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->mu);
    const evl_connector_type_t *t = i < w->ntypes ? w->types[i].type : NULL;
    pthread_mutex_unlock(&w->mu);
    return t;
}

EVL_API const evl_confdef_t *evl_connect_type_settings(evl_connect_worker_t *w, const char *cls)
{
    if (!w || !cls)
        return NULL;
    pthread_mutex_lock(&w->mu);
    const evl_confdef_t *d = NULL;
    for (size_t i = 0; i < w->ntypes; i++)
        if (!strcmp(w->types[i].type->name, cls))
            d = w->types[i].def;
    pthread_mutex_unlock(&w->mu);
    return d;
}

EVL_API int evl_connect_validate(evl_connect_worker_t *w, const char *cls,
                                 const char *const *pairs, size_t npairs,
                                 evl_conf_problem_fn *problem, void *arg)
{
    if (!w || !cls)
        return EVL_EINVAL;
    pthread_mutex_lock(&w->mu);
    const ctype_t *ct = NULL;
    for (size_t i = 0; i < w->ntypes; i++)
        if (!strcmp(w->types[i].type->name, cls))
            ct = &w->types[i];
    pthread_mutex_unlock(&w->mu);
    if (!ct)
        return EVL_ENOTFOUND;
    int n = evl_conf_validate(ct->def, ct->type->source ? SCOPE_SOURCE : SCOPE_SINK, pairs,
                              npairs, problem, arg);
    if (n != 0)
        return n;
    /* Settings that only make sense together: converters and transforms. */
    evl_conf_t *conf;
    char err[256];
    if (evl_conf_parse(ct->def, ct->type->source ? SCOPE_SOURCE : SCOPE_SINK, pairs, npairs,
                       &conf, err, sizeof err))
        return EVL_EINVAL;
    conn_t probe = {.conf = conf, .w = w};
    pipe_t *p = NULL;
    int rc = evl__pipe_new(&probe, ct->type->sink != NULL, &p, err, sizeof err);
    evl__pipe_free(p);
    evl_conf_free(conf);
    if (rc == EVL_ECONFIG) {
        char key[128];
        size_t kl = strcspn(err, ":");
        memcpy(key, err, kl < sizeof key ? kl : sizeof key - 1);
        key[kl < sizeof key ? kl : sizeof key - 1] = 0;
        if (problem)
            problem(arg, key, err);
        return 1;
    }
    return rc;
}
