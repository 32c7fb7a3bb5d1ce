/*
 * bg.h - background jobs: work that no caller should wait for (interval
 * flushes, seals and retention, space made ahead of writers, pages mapped
 * ahead of readers, and whatever an area registers), run by up to three threads
 * per log handle.
 *
 * A job is a function that does one short step of work and says when it
 * wants to run next. Jobs run on one of three lanes, each a thread that
 * sleeps on a condition variable until a job is due or kicked, so an idle
 * log costs no wake-ups and a close ends them all at once:
 *
 *   EVL_BG_NORMAL  ordinary priority: flushes, seals, retention.
 *   EVL_BG_IDLE    SCHED_IDLE: work that only uses otherwise idle CPU and
 *                  never preempts an application thread (on two cores a
 *                  producer and a spinning consumer would otherwise lose
 *                  their core for milliseconds). It may starve; a job there
 *                  must be something callers can do without, only slower.
 *   EVL_BG_LONG    SCHED_IDLE too, for jobs whose steps take long (a
 *                  compaction pass: seconds), so that they never hold up
 *                  the idle lane's short ones.
 *
 * On a lane, kicked jobs run first, then due jobs, earliest first; a job
 * that wants to go on returns `now` and runs again after the others that
 * are waiting, so a long job made of short steps never holds up a kick.
 * A step must not block on anything but short locks: it holds up every
 * other job of its lane.
 */
#ifndef EVL_BG_H
#define EVL_BG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct evl_bg evl_bg_t;

enum { EVL_BG_NORMAL = 0, EVL_BG_IDLE = 1, EVL_BG_LONG = 2, EVL_BG__LANES };

/* A step of a job, given evl_now_ms(): returns the evl_now_ms() time at
 * which it wants its next step (<= now: as soon as the lane is free;
 * INT64_MAX: not until kicked). */
typedef int64_t (*evl_bg_fn)(void *arg, int64_t now_ms);

/* The job runner, its threads not started yet. 0 or EVL_ENOMEM. */
int evl__bg_new(evl_bg_t **out);
/* Register a job on a lane, first due at `first_ms` (INT64_MAX: at its
 * first kick); starts the lane's thread with its first job. Returns the
 * job's id (>= 0), or EVL_ENOMEM, EVL_EINVAL (bad lane, no fn), EVL_ESTATE
 * (the runner is stopping) or an error starting the thread. `name` is
 * copied (for messages). */
int evl__bg_add(evl_bg_t *bg, int lane, const char *name, evl_bg_fn fn, void *arg,
                int64_t first_ms);
/* Run the job soon, whatever it said. Safe from any thread, any time
 * before evl__bg_free; costs a mutex and a signal. */
void evl__bg_kick(evl_bg_t *bg, int id);
/* Unregister a job; when it returns, the job's step is not running and
 * never will again (do not call it from the job itself). */
void evl__bg_remove(evl_bg_t *bg, int id);
/* Stop the threads (a step in progress ends first) and join them; jobs
 * never run again. Kicks after this are ignored. */
void evl__bg_stop(evl_bg_t *bg);
/* evl__bg_stop, then free. NULL is a no-op. */
void evl__bg_free(evl_bg_t *bg);

#endif
