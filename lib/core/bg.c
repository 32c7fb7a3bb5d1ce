/*
 * bg.c - the background job runner (bg.h): a thread per lane, started
 * with the lane's first job, sleeping on a condition variable (on the
 * monotonic clock, immune to wall-clock jumps) until a job is due or
 * kicked.
 */
#include "bg.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common.h"
#include "os.h"

typedef struct evl_bg_job {
    char *name;
    evl_bg_fn fn;
    void *arg;
    int lane;
    int64_t due;        /* evl_now_ms() time of its next step */
    uint64_t last_run;  /* the runner's step count at its last step: ties go
                         * to the job that waited longest */
    bool kicked, running, removed;
} evl_bg_job_t;

typedef struct evl_bg_lane {
    pthread_t thread;
    bool started;
    pthread_cond_t cv;  /* a job was kicked or added, or the runner stops */
} evl_bg_lane_t;

struct evl_bg {
    pthread_mutex_t mu;
    pthread_cond_t done_cv; /* a step ended (for evl__bg_remove) */
    evl_bg_job_t **jobs;    /* by id; never moved once made */
    int n_jobs, cap_jobs;
    uint64_t steps;
    bool stopping;
    evl_bg_lane_t lanes[EVL_BG__LANES];
};

struct lane_arg {
    evl_bg_t *bg;
    int lane;
};

int evl__bg_new(evl_bg_t **out)
{
    evl_bg_t *bg = evl__calloc(1, sizeof *bg);
    if (!bg)
        return EVL_ENOMEM;
    pthread_mutex_init(&bg->mu, NULL);
    pthread_cond_init(&bg->done_cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (int l = 0; l < EVL_BG__LANES; l++)
        pthread_cond_init(&bg->lanes[l].cv, &ca);
    pthread_condattr_destroy(&ca);
    *out = bg;
    return 0;
}

/* With mu: the job this lane runs next, or NULL and *wake, when the
 * earliest job falls due (INT64_MAX: none). */
static evl_bg_job_t *pick(evl_bg_t *bg, int lane, int64_t now, int64_t *wake)
{
    evl_bg_job_t *best = NULL;
    *wake = INT64_MAX;
    for (int i = 0; i < bg->n_jobs; i++) {
        evl_bg_job_t *j = bg->jobs[i];
        if (j->lane != lane || j->removed)
            continue;
        if (j->kicked) {
            if (!best || !best->kicked || j->last_run < best->last_run)
                best = j;
        } else if (j->due <= now) {
            if (!best || (!best->kicked && (j->due < best->due ||
                                            (j->due == best->due &&
                                             j->last_run < best->last_run))))
                best = j;
        } else if (j->due < *wake) {
            *wake = j->due;
        }
    }
    return best;
}

static void wait_until(evl_bg_t *bg, pthread_cond_t *cv, int64_t wake_ms)
{
    if (wake_ms == INT64_MAX) {
        pthread_cond_wait(cv, &bg->mu);
        return;
    }
    int64_t wait_ns = (wake_ms - evl_now_ms()) * 1000000;
    if (wait_ns <= 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t at = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + wait_ns;
    ts.tv_sec = at / 1000000000;
    ts.tv_nsec = at % 1000000000;
    pthread_cond_timedwait(cv, &bg->mu, &ts);
}

static void *lane_main(void *p)
{
    struct lane_arg a = *(struct lane_arg *)p;
    free(p);
    evl_bg_t *bg = a.bg;
    if (a.lane != EVL_BG_NORMAL)
        evl__os_sched_idle();
    pthread_mutex_lock(&bg->mu);
    while (!bg->stopping) {
        int64_t now = evl_now_ms(), wake;
        evl_bg_job_t *j = pick(bg, a.lane, now, &wake);
        if (!j) {
            wait_until(bg, &bg->lanes[a.lane].cv, wake);
            continue;
        }
        j->kicked = false;
        j->running = true;
        j->last_run = ++bg->steps;
        pthread_mutex_unlock(&bg->mu);
        int64_t next = j->fn(j->arg, now);
        pthread_mutex_lock(&bg->mu);
        j->running = false;
        j->due = next;
        pthread_cond_broadcast(&bg->done_cv);
    }
    pthread_mutex_unlock(&bg->mu);
    return NULL;
}

int evl__bg_add(evl_bg_t *bg, int lane, const char *name, evl_bg_fn fn, void *arg,
                int64_t first_ms)
{
    if (!bg || !fn || lane < 0 || lane >= EVL_BG__LANES)
        return EVL_EINVAL;
    evl_bg_job_t *j = evl__calloc(1, sizeof *j);
    if (!j || !(j->name = evl__strdup(name ? name : "job"))) {
        free(j);
        return EVL_ENOMEM;
    }
    j->fn = fn;
    j->arg = arg;
    j->lane = lane;
    j->due = first_ms;
    int rc = 0;
    pthread_mutex_lock(&bg->mu);
    if (bg->stopping) {
        rc = EVL_ESTATE;
    } else if (bg->n_jobs == bg->cap_jobs) {
        int cap = bg->cap_jobs ? bg->cap_jobs * 2 : 8;
        evl_bg_job_t **n = evl__realloc(bg->jobs, (size_t)cap * sizeof *n);
        if (n) {
            bg->jobs = n;
            bg->cap_jobs = cap;
        } else {
            rc = EVL_ENOMEM;
        }
    }
    evl_bg_lane_t *ln = &bg->lanes[lane];
    if (rc == 0 && !ln->started) {
        struct lane_arg *a = evl__calloc(1, sizeof *a);
        if (!a) {
            rc = EVL_ENOMEM;
        } else {
            *a = (struct lane_arg){bg, lane};
            if ((rc = -pthread_create(&ln->thread, NULL, lane_main, a)))
                free(a);
            else
                ln->started = true;
        }
    }
    if (rc == 0) {
        bg->jobs[bg->n_jobs] = j;
        rc = bg->n_jobs++;
        pthread_cond_signal(&ln->cv);
    }
    pthread_mutex_unlock(&bg->mu);
    if (rc < 0) {
        free(j->name);
        free(j);
    }
    return rc;
}

void evl__bg_kick(evl_bg_t *bg, int id)
{
    pthread_mutex_lock(&bg->mu);
    if (id >= 0 && id < bg->n_jobs && !bg->stopping) {
        evl_bg_job_t *j = bg->jobs[id];
        j->kicked = true;
        pthread_cond_signal(&bg->lanes[j->lane].cv);
    }
    pthread_mutex_unlock(&bg->mu);
}

void evl__bg_remove(evl_bg_t *bg, int id)
{
    pthread_mutex_lock(&bg->mu);
    if (id >= 0 && id < bg->n_jobs) {
        evl_bg_job_t *j = bg->jobs[id];
        j->removed = true;
        while (j->running)
            pthread_cond_wait(&bg->done_cv, &bg->mu);
    }
    pthread_mutex_unlock(&bg->mu);
}

void evl__bg_stop(evl_bg_t *bg)
{
    pthread_mutex_lock(&bg->mu);
    bg->stopping = true;
    for (int l = 0; l < EVL_BG__LANES; l++)
        pthread_cond_signal(&bg->lanes[l].cv);
    pthread_mutex_unlock(&bg->mu);
    for (int l = 0; l < EVL_BG__LANES; l++)
        if (bg->lanes[l].started) {
            pthread_join(bg->lanes[l].thread, NULL);
            bg->lanes[l].started = false;
        }
}

void evl__bg_free(evl_bg_t *bg)
{
    if (!bg)
        return;
    evl__bg_stop(bg);
    for (int i = 0; i < bg->n_jobs; i++) {
        free(bg->jobs[i]->name);
        free(bg->jobs[i]);
    }
    free(bg->jobs);
    for (int l = 0; l < EVL_BG__LANES; l++)
        pthread_cond_destroy(&bg->lanes[l].cv);
    pthread_cond_destroy(&bg->done_cv);
    pthread_mutex_destroy(&bg->mu);
    free(bg);
}
