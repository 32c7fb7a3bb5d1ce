/*
 * consumer_fetch.c - filling a poll's batch round-robin over the assigned
 * partitions, and waiting for records on all their futex words at once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "consumer_int.h"
#include "notify.h"
#include "config.h"
#include "log.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "record.h"
#include "topic.h"

/* ---- fetching and waiting ------------------------------------------------------------ */

/* Fill recs with up to max records, round-robin over the partitions. *err
 * gets the first error that stopped a partition (records already taken are
 * still returned; the error comes back at the next poll). */
size_t evl__consumer_fetch(evl_consumer_t *cons, const evl_record_t **recs, size_t max, int *err)
{
    size_t n = 0, np = cons->nparts;
    *err = 0;
    if (!np)
        return 0;
    bool stack_done[64], *done = stack_done;
    if (np > EVL_ARRAY_LEN(stack_done) && !(done = evl__malloc(np * sizeof *done))) {
        *err = EVL_ENOMEM;
        return 0;
    }
    memset(done, 0, np * sizeof *done);
    size_t quota = max / np ? max / np : 1;
    for (bool progress = true; progress && n < max;) {
        progress = false;
        for (size_t k = 0; k < np && n < max; k++) {
            size_t i = (cons->rr + k) % np;
            struct cpart *cp = &cons->parts[i];
            for (size_t q = 0; q < quota && n < max && !done[i]; q++) {
                /* Keep room for the pins this batch's views need. */
                if (cp->need_reset || cp->rd->npins >= EVL_READER_PINS - 2) {
                    done[i] = true;
                    break;
                }
                const evl_record_t *r;
                int rc = evl__reader_next(cp->rd, 0, &r);
                if (rc == EVL_EOFFSET) {
                    /* Retention passed our position: Kafka's out-of-range. */
                    evl__logf(&cons->lg, EVL_LOG_WARNING,
                              "%s/%d: position %lld fell below the log start; applying "
                              "auto.offset.reset", cp->topic->name, cp->id,
                              (long long)evl_reader_position(cp->rd));
                    rc = evl__consumer_reset(cons, cp);
                    if (rc == 0 && !cp->need_reset) {
                        q--; /* read from the new position in this round */
                        continue;
                    }
                    if (rc == 0)
                        rc = EVL_ENOOFFSET;
                }
                if (rc) {
                    if (rc != EVL_ETIMEDOUT && !*err)
                        *err = rc;
                    done[i] = true;
                    break;
                }
                cons->recs[n] = *r;
                recs[n] = &cons->recs[n];
                n++;
                progress = true;
            }
        }
        quota = 1 + (max - n) / np; /* leftovers to whoever still has data */
    }
    if (done != stack_done)
        free(done);
    cons->rr = (cons->rr + 1) % np;
    return n;
}

/* Sleep until a record may have arrived in an assigned partition, the
 * group changed, or until_ns (CLOCK_MONOTONIC) passed. */
void evl__consumer_wait_any(evl_consumer_t *cons, int64_t until_ns)
{
    _Atomic uint32_t *words[WAITV_MAX];
    uint32_t vals[WAITV_MAX];
    size_t nw = 0, nparts = 0;
    if (cons->grp && cons->mode == MODE_SUBSCRIBED) {
        words[nw] = evl__group_seq_word(cons->grp);
        vals[nw] = atomic_load(words[nw]);
        if (vals[nw++] != cons->seen)
            return;
    }
    /* Spin first (spin.h): note the partitions' next offsets, look once
     * more (an append before the note would not show as a change), watch. */
    if (evl__spin_wanted(&cons->spin)) {
        _Atomic uint64_t *sw[WAITV_MAX];
        uint64_t sv[WAITV_MAX];
        size_t ns = 0;
        for (size_t i = 0; i < cons->nparts && ns < WAITV_MAX; i++)
            if (!cons->parts[i].need_reset) {
                sw[ns] = &cons->parts[i].rd->part->ctl->next_offset;
                sv[ns] = atomic_load_explicit(sw[ns], memory_order_relaxed);
                ns++;
            }
        for (size_t i = 0; i < cons->nparts; i++)
            if (!cons->parts[i].need_reset && evl__reader_ready(cons->parts[i].rd))
                return;
        if (evl__spin(&cons->spin, sw, sv, ns, until_ns))
            return;
    }
    /* Count ourselves in on every partition, then look once more
     * (notify.h). */
    for (size_t i = 0; i < cons->nparts && nw < WAITV_MAX; i++) {
        evl_ctl_t *ctl = cons->parts[i].rd->part->ctl;
        if (cons->parts[i].need_reset)
            continue;
        words[nw] = evl__notify_word(ctl);
        vals[nw++] = evl__notify_begin_nofence(ctl);
        nparts++;
    }
    if (nparts < cons->nparts) /* more than the kernel can watch: slices */
        until_ns = EVL_MIN(until_ns, evl_mono_ns() + SLICE_NS);
    evl__notify_fence();
    bool ready = false;
    for (size_t i = 0; i < cons->nparts && !ready; i++)
        ready = !cons->parts[i].need_reset && evl__reader_ready(cons->parts[i].rd);
    int64_t left = until_ns - evl_mono_ns();
    if (!ready && left > 0) {
        evl__stat_add(cons->log, EVL_STAT_READ_SLEEPS, 1);
        if (evl__futex_wait_any(words, vals, nw, until_ns) == -ENOSYS) {
            if (nw)
                evl__futex_wait(words[0], vals[0], EVL_MIN(left, (int64_t)SLICE_NS));
            else {
                struct timespec ts = {left / 1000000000, left % 1000000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    for (size_t i = 0, k = 0; i < cons->nparts && k < nparts; i++)
        if (!cons->parts[i].need_reset) {
            evl__notify_end(cons->parts[i].rd->part->ctl);
            k++;
        }
}

