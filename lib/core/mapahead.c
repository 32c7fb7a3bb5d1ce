/*
 * mapahead.c - pages mapped ahead of readers (mapahead.h).
 */
#include "mapahead.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "os.h"
#include "segment.h"

/* How much the job maps per step: a kick of another idle-lane job (space
 * ahead of a writer) waits for one step at most. */
#define STEP ((uint64_t)256 << 10)

typedef struct evl_map_req {
    const void *token;
    evl_seg_t *seg;     /* a reference held */
    uint64_t from, len;
} evl_map_req_t;

struct evl_mapahead {
    pthread_mutex_t mu;
    pthread_cond_t step_cv;  /* a step ended */
    evl_map_req_t reqs[8];   /* oldest first */
    int n;
    const void *cur;         /* token of the step being mapped */
    evl_bg_t *bg;
    int job;
};

/* With mu. */
static void drop_locked(evl_mapahead_t *ma, const void *token)
{
    int k = 0;
    for (int i = 0; i < ma->n; i++) {
        if (ma->reqs[i].token == token)
            evl__seg_unref(ma->reqs[i].seg);
        else
            ma->reqs[k++] = ma->reqs[i];
    }
    ma->n = k;
}

/* One step of the oldest request. */
static int64_t map_step(void *arg, int64_t now)
{
    evl_mapahead_t *ma = arg;
    pthread_mutex_lock(&ma->mu);
    if (ma->n == 0) {
        pthread_mutex_unlock(&ma->mu);
        return INT64_MAX;
    }
    evl_map_req_t *r = &ma->reqs[0];
    evl_seg_t *seg = r->seg;
    evl__seg_ref(seg); /* a cancel during the step drops the request's */
    uint64_t from = r->from, len = EVL_MIN(STEP, r->len);
    r->from += len;
    r->len -= len;
    if (r->len == 0)
        drop_locked(ma, r->token);
    ma->cur = r->token;
    pthread_mutex_unlock(&ma->mu);
    evl__os_populate_read(seg->map + from, (size_t)len);
    pthread_mutex_lock(&ma->mu);
    ma->cur = NULL;
    pthread_cond_broadcast(&ma->step_cv);
    bool more = ma->n > 0;
    pthread_mutex_unlock(&ma->mu);
    evl__seg_unref(seg);
    return more ? now : INT64_MAX;
}

int evl__mapahead_new(evl_bg_t *bg, evl_mapahead_t **out)
{
    evl_mapahead_t *ma = evl__calloc(1, sizeof *ma);
    if (!ma)
        return EVL_ENOMEM;
    pthread_mutex_init(&ma->mu, NULL);
    pthread_cond_init(&ma->step_cv, NULL);
    ma->bg = bg;
    int id = evl__bg_add(bg, EVL_BG_IDLE, "map-ahead", map_step, ma, INT64_MAX);
    if (id < 0) {
        ma->job = -1;
        evl__mapahead_free(ma);
        return id;
    }
    ma->job = id;
    *out = ma;
    return 0;
}

void evl__mapahead_ask(evl_mapahead_t *ma, const void *token, evl_seg_t *seg, uint64_t from,
                       uint64_t len)
{
    pthread_mutex_lock(&ma->mu);
    /* What it asked for before and is still waiting is behind it now:
     * mapped late, that range would stay mapped behind the reader. */
    drop_locked(ma, token);
    bool added = ma->n < (int)EVL_ARRAY_LEN(ma->reqs);
    if (added) {
        evl__seg_ref(seg);
        ma->reqs[ma->n++] = (evl_map_req_t){token, seg, from, len};
    }
    pthread_mutex_unlock(&ma->mu);
    if (added)
        evl__bg_kick(ma->bg, ma->job);
}

void evl__mapahead_cancel(evl_mapahead_t *ma, const void *token)
{
    pthread_mutex_lock(&ma->mu);
    drop_locked(ma, token);
    while (ma->cur == token)
        pthread_cond_wait(&ma->step_cv, &ma->mu);
    pthread_mutex_unlock(&ma->mu);
}

void evl__mapahead_free(evl_mapahead_t *ma)
{
    if (!ma)
        return;
    if (ma->job >= 0)
        evl__bg_remove(ma->bg, ma->job);
    for (int i = 0; i < ma->n; i++)
        evl__seg_unref(ma->reqs[i].seg);
    pthread_cond_destroy(&ma->step_cv);
    pthread_mutex_destroy(&ma->mu);
    free(ma);
}
