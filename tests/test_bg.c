/*
 * test_bg.c - the background job runner (lib/core/bg.c): jobs run when
 * due or kicked, kicked jobs go first, a job made of short steps yields to
 * a kick between steps, the idle lane runs at SCHED_IDLE, a removed job
 * never runs again and its removal waits for a step in progress, stop ends
 * everything.
 */
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bg.h"
#include "common.h"
#include "helpers.h"

TestSuite(bg, .timeout = 30);

typedef struct counter {
    _Atomic int runs;
    _Atomic int policy;
    int64_t again_ms; /* what the step returns, relative to now; INT64_MAX: never */
    useconds_t sleep_us;
} counter_t;

static int64_t count_step(void *arg, int64_t now)
{
    counter_t *c = arg;
    atomic_store(&c->policy, sched_getscheduler(0));
    if (c->sleep_us)
        usleep(c->sleep_us);
    atomic_fetch_add(&c->runs, 1);
    return c->again_ms == INT64_MAX ? INT64_MAX : now + c->again_ms;
}

static void wait_runs(counter_t *c, int n)
{
    for (int i = 0; i < 5000 && atomic_load(&c->runs) < n; i++)
        usleep(1000);
}

Test(bg, a_job_runs_when_kicked_and_not_before)
{
    evl_bg_t *bg;
    cr_assert_eq(evl__bg_new(&bg), 0);
    counter_t c = {.again_ms = INT64_MAX};
    int id = evl__bg_add(bg, EVL_BG_NORMAL, "kicked", count_step, &c, INT64_MAX);
    cr_assert_geq(id, 0);
    usleep(50000);
    cr_assert_eq(atomic_load(&c.runs), 0, "a job waiting for a kick ran on its own");
    evl__bg_kick(bg, id);
    wait_runs(&c, 1);
    cr_assert_eq(atomic_load(&c.runs), 1);
    evl__bg_kick(bg, id);
    wait_runs(&c, 2);
    cr_assert_eq(atomic_load(&c.runs), 2);
    evl__bg_free(bg);
}

Test(bg, a_periodic_job_runs_on_its_period)
{
    evl_bg_t *bg;
    cr_assert_eq(evl__bg_new(&bg), 0);
    counter_t c = {.again_ms = 20};
    cr_assert_geq(evl__bg_add(bg, EVL_BG_NORMAL, "every 20 ms", count_step, &c,
                              evl_now_ms() + 20), 0);
    usleep(300000);
    int runs = atomic_load(&c.runs);
    evl__bg_free(bg);
    /* 15 periods in 300 ms; allow a slow machine a lot of slack, but not
     * a job that never ran or ran without waiting. */
    cr_assert(runs >= 3 && runs <= 16, "%d runs of a 20 ms job in 300 ms", runs);
}

typedef struct stepper {
    _Atomic int steps, left;
    _Atomic int kicked_seen_at; /* steps done when the kicked job ran */
} stepper_t;

static int64_t long_step(void *arg, int64_t now)
{
    stepper_t *s = arg;
    usleep(2000);
    atomic_fetch_add(&s->steps, 1);
    return atomic_fetch_sub(&s->left, 1) > 1 ? now : INT64_MAX;
}

static int64_t note_step(void *arg, int64_t now)
{
    stepper_t *s = arg;
    atomic_store(&s->kicked_seen_at, atomic_load(&s->steps));
    return INT64_MAX;
}

Test(bg, a_kick_goes_between_the_steps_of_a_long_job)
{
    evl_bg_t *bg;
    cr_assert_eq(evl__bg_new(&bg), 0);
    stepper_t s = {.left = 200, .kicked_seen_at = -1};
    int lng = evl__bg_add(bg, EVL_BG_IDLE, "long", long_step, &s, INT64_MAX);
    int kick = evl__bg_add(bg, EVL_BG_IDLE, "urgent", note_step, &s, INT64_MAX);
    cr_assert(lng >= 0 && kick >= 0);
    evl__bg_kick(bg, lng);
    while (atomic_load(&s.steps) < 5)
        usleep(1000);
    evl__bg_kick(bg, kick);
    for (int i = 0; i < 5000 && atomic_load(&s.kicked_seen_at) < 0; i++)
        usleep(1000);
    int at = atomic_load(&s.kicked_seen_at);
    cr_assert(at >= 5 && at < 150, "the kicked job ran after step %d of 200", at);
    while (atomic_load(&s.left) > 0)
        usleep(1000);
    cr_assert_eq(atomic_load(&s.steps), 200);
    evl__bg_free(bg);
}

Test(bg, the_idle_lane_runs_at_sched_idle)
{
    evl_bg_t *bg;
    cr_assert_eq(evl__bg_new(&bg), 0);
    counter_t n = {.again_ms = INT64_MAX, .policy = -1};
    counter_t i = {.again_ms = INT64_MAX, .policy = -1};
    int a = evl__bg_add(bg, EVL_BG_NORMAL, "n", count_step, &n, 0);
    int b = evl__bg_add(bg, EVL_BG_IDLE, "i", count_step, &i, 0);
    cr_assert(a >= 0 && b >= 0);
    wait_runs(&n, 1);
    wait_runs(&i, 1);
    cr_assert_eq(atomic_load(&n.policy), SCHED_OTHER);
    cr_assert_eq(atomic_load(&i.policy), SCHED_IDLE);
    evl__bg_free(bg);
}

Test(bg, remove_waits_for_a_running_step_and_the_job_never_runs_again)
{
    evl_bg_t *bg;
    cr_assert_eq(evl__bg_new(&bg), 0);
    counter_t c = {.again_ms = 0, .sleep_us = 20000}; /* always wants to go on */
    int id = evl__bg_add(bg, EVL_BG_NORMAL, "busy", count_step, &c, 0);
    cr_assert_geq(id, 0);
    wait_runs(&c, 2);
    evl__bg_remove(bg, id);
    int runs = atomic_load(&c.runs);
    usleep(100000);
    cr_assert_eq(atomic_load(&c.runs), runs, "a removed job ran again");
    evl__bg_kick(bg, id); /* a kick of a removed job is harmless */
    usleep(20000);
    cr_assert_eq(atomic_load(&c.runs), runs);
    evl__bg_free(bg);
}

Test(bg, after_stop_nothing_runs_and_nothing_can_be_added)
{
    evl_bg_t *bg;
    cr_assert_eq(evl__bg_new(&bg), 0);
    counter_t c = {.again_ms = INT64_MAX};
    int id = evl__bg_add(bg, EVL_BG_NORMAL, "j", count_step, &c, INT64_MAX);
    evl__bg_stop(bg);
    evl__bg_kick(bg, id);
    usleep(30000);
    cr_assert_eq(atomic_load(&c.runs), 0);
    cr_assert_eq(evl__bg_add(bg, EVL_BG_NORMAL, "late", count_step, &c, 0), EVL_ESTATE);
    cr_assert_eq(evl__bg_add(bg, 7, "bad lane", count_step, &c, 0), EVL_EINVAL);
    evl__bg_free(bg);
}

Test(bg, many_jobs_each_run_when_kicked)
{
    evl_bg_t *bg;
    cr_assert_eq(evl__bg_new(&bg), 0);
    counter_t c[40];
    int ids[40];
    for (int i = 0; i < 40; i++) {
        c[i] = (counter_t){.again_ms = INT64_MAX};
        ids[i] = evl__bg_add(bg, i % 2, "many", count_step, &c[i], INT64_MAX);
        cr_assert_eq(ids[i], i, "ids are handed out in order");
    }
    for (int i = 0; i < 40; i++)
        evl__bg_kick(bg, ids[i]);
    for (int i = 0; i < 40; i++) {
        wait_runs(&c[i], 1);
        cr_assert_eq(atomic_load(&c[i].runs), 1, "job %d", i);
    }
    evl__bg_free(bg);
}

/* The public seam (eventlog.h): an area's job on the log's runner. */
static int64_t count_job(void *arg, int64_t now)
{
    (void)now;
    atomic_fetch_add((_Atomic int *)arg, 1);
    return INT64_MAX;
}

Test(bg, an_area_registers_kicks_and_removes_a_job_on_the_log)
{
    test_dir_setup();
    evl_log_t *log = test_open(NULL);
    _Atomic int runs = 0;
    cr_assert_eq(evl_log_job_add(log, "x", 3, count_job, (void *)&runs, INT64_MAX), EVL_EINVAL);
    cr_assert_eq(evl_log_job_add(log, "x", EVL_JOB_NORMAL, NULL, NULL, 0), EVL_EINVAL);
    int id = evl_log_job_add(log, "area-job", EVL_JOB_LONG, count_job, (void *)&runs,
                             INT64_MAX);
    cr_assert_geq(id, 0);
    usleep(50000);
    cr_assert_eq(atomic_load(&runs), 0, "not before its first kick");
    evl_log_job_kick(log, id);
    for (int i = 0; i < 200 && atomic_load(&runs) == 0; i++)
        usleep(5000);
    cr_assert_eq(atomic_load(&runs), 1);
    int due = evl_log_job_add(log, "due", EVL_JOB_NORMAL, count_job, (void *)&runs, evl_now());
    cr_assert_geq(due, 0);
    for (int i = 0; i < 200 && atomic_load(&runs) < 2; i++)
        usleep(5000);
    cr_assert_eq(atomic_load(&runs), 2);
    evl_log_job_remove(log, id);
    evl_log_job_kick(log, id);
    usleep(50000);
    cr_assert_eq(atomic_load(&runs), 2, "removed: never again");
    evl_log_close(log);
    test_dir_teardown();
}
