/*
 * waitset.c - one thread waiting on several partitions at once (eventlog.h,
 * evl_waitset_*): the readers of the set are looked at, and if none has a
 * record the thread sleeps on all their partitions' futex words at once
 * (futex_waitv), so an append to any of them, in any process, wakes it.
 * The same handshake as a single reader's wait (notify.h).
 */
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "notify.h"
#include "os.h"
#include "reader.h"

#define SLICE_NS 5000000 /* the wait's slice where the kernel cannot watch all */

struct evl_waitset {
    evl_reader_t **rd;
    size_t n, cap;
};

EVL_API int evl_waitset_new(evl_waitset_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = evl__calloc(1, sizeof **out);
    return *out ? 0 : EVL_ENOMEM;
}

EVL_API void evl_waitset_free(evl_waitset_t *ws)
{
    if (!ws)
        return;
    free(ws->rd);
    free(ws);
}

EVL_API int evl_waitset_add(evl_waitset_t *ws, evl_reader_t *rd)
{
    if (!ws || !rd)
        return EVL_EINVAL;
    for (size_t i = 0; i < ws->n; i++)
        if (ws->rd[i] == rd)
            return 0;
    if (ws->n == ws->cap) {
        size_t cap = ws->cap ? ws->cap * 2 : 8;
        evl_reader_t **v = evl__realloc(ws->rd, cap * sizeof *v);
        if (!v)
            return EVL_ENOMEM;
        ws->rd = v;
        ws->cap = cap;
    }
    ws->rd[ws->n++] = rd;
    return 0;
}

EVL_API int evl_waitset_remove(evl_waitset_t *ws, evl_reader_t *rd)
{
    if (!ws || !rd)
        return EVL_EINVAL;
    for (size_t i = 0; i < ws->n; i++)
        if (ws->rd[i] == rd) {
            ws->rd[i] = ws->rd[--ws->n];
            return 0;
        }
    return EVL_ENOTFOUND;
}

/* The first reader with a record to return (or an error to report), from
 * `from` on, round robin; NULL if none. */
static evl_reader_t *first_ready(evl_waitset_t *ws, size_t from)
{
    for (size_t k = 0; k < ws->n; k++) {
        evl_reader_t *rd = ws->rd[(from + k) % ws->n];
        if (evl__reader_ready(rd))
            return rd;
    }
    return NULL;
}

EVL_API int evl_waitset_wait(evl_waitset_t *ws, int timeout_ms, evl_reader_t **ready)
{
    if (!ws || !ready)
        return EVL_EINVAL;
    *ready = NULL;
    if (ws->n == 0)
        return EVL_EINVAL;
    for (size_t i = 0; i < ws->n; i++)
        if (evl__log_closed(ws->rd[i]->log))
            return EVL_ESTATE;
    static _Atomic size_t turn; /* fairness between calls: any start will do */
    size_t from = atomic_fetch_add_explicit(&turn, 1, memory_order_relaxed);
    int64_t until = timeout_ms < 0 ? INT64_MAX : evl_mono_ns() + (int64_t)timeout_ms * 1000000;
    _Atomic uint32_t *words[EVL_FUTEX_WAITV_MAX];
    uint32_t vals[EVL_FUTEX_WAITV_MAX];
    for (;;) {
        if ((*ready = first_ready(ws, from)))
            return 0;
        if (evl_mono_ns() >= until)
            return EVL_ETIMEDOUT;
        /* Count ourselves in on every partition, then look once more. */
        size_t nw = EVL_MIN(ws->n, (size_t)EVL_FUTEX_WAITV_MAX);
        for (size_t i = 0; i < nw; i++) {
            evl_ctl_t *ctl = ws->rd[i]->part->ctl;
            words[i] = evl__notify_word(ctl);
            vals[i] = evl__notify_begin_nofence(ctl);
        }
        evl__notify_fence();
        int64_t wake = nw < ws->n ? EVL_MIN(until, evl_mono_ns() + SLICE_NS) : until;
        if (!(*ready = first_ready(ws, from))) {
            evl__stat_add(ws->rd[0]->log, EVL_STAT_READ_SLEEPS, 1);
            if (evl__futex_wait_any(words, vals, nw, wake) == -ENOSYS) {
                int64_t left = wake - evl_mono_ns();
                if (left > 0)
                    evl__futex_wait(words[0], vals[0], EVL_MIN(left, (int64_t)SLICE_NS));
            }
        }
        for (size_t i = 0; i < nw; i++)
            evl__notify_end(ws->rd[i]->part->ctl);
        if (*ready)
            return 0;
    }
}
