/*
 * test_waitset.c - one thread waiting on several partitions (evl_waitset_*):
 * woken by an append to any of them, from a thread or another process;
 * timeouts; readers take turns; remove and bad calls.
 */
#include "helpers.h"

#include <pthread.h>
#include <sys/wait.h>

#include "clock.h"

TestSuite(waitset, .init = test_dir_setup, .fini = test_dir_teardown);

typedef struct later {
    evl_producer_t *p;
    int partition;
    int delay_ms;
} later_t;

static void *send_later(void *arg)
{
    later_t *l = arg;
    usleep((useconds_t)l->delay_ms * 1000);
    evl_msg_t m = {NULL, 0, "x", 1, NULL, 0, EVL_TIMESTAMP_NOW, l->partition, -1};
    evl_producer_send(l->p, &m, 0);
    return NULL;
}

Test(waitset, an_append_to_any_partition_wakes_the_waiter)
{
    evl_producer_t *pa, *pb;
    evl_log_t *log = test_open_topic(NULL, "a", 2, &pa);
    cr_assert_eq(evl_topic_create(log, "b", 1, NULL), 0);
    cr_assert_eq(evl_producer_new(log, "b", NULL, &pb), 0);
    evl_reader_t *rd[3];
    cr_assert_eq(evl_reader_open(log, "a", 0, &rd[0]), 0);
    cr_assert_eq(evl_reader_open(log, "a", 1, &rd[1]), 0);
    cr_assert_eq(evl_reader_open(log, "b", 0, &rd[2]), 0);
    evl_waitset_t *ws;
    cr_assert_eq(evl_waitset_new(&ws), 0);
    evl_reader_t *ready = NULL;
    cr_assert_eq(evl_waitset_wait(ws, 0, &ready), EVL_EINVAL, "empty");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(evl_waitset_add(ws, rd[i]), 0);
    cr_assert_eq(evl_waitset_add(ws, rd[0]), 0, "twice: no-op");
    int64_t t0 = evl_mono_ns();
    cr_assert_eq(evl_waitset_wait(ws, 50, &ready), EVL_ETIMEDOUT);
    cr_assert_geq(evl_mono_ns() - t0, 45 * 1000000LL);
    cr_assert_null(ready);
    /* An append to b/0 from another thread. */
    pthread_t th;
    later_t l = {pb, 0, 30};
    pthread_create(&th, NULL, send_later, &l);
    t0 = evl_mono_ns();
    cr_assert_eq(evl_waitset_wait(ws, 5000, &ready), 0);
    cr_assert_lt(evl_mono_ns() - t0, 2000 * 1000000LL, "woken, not timed out");
    pthread_join(th, NULL);
    cr_assert_eq(ready, rd[2]);
    const evl_record_t *r;
    cr_assert_eq(evl_reader_next(ready, 0, &r), 0);
    /* From another process, to a/1. */
    pid_t pid = fork();
    if (pid == 0) {
        evl_log_t *l2;
        evl_producer_t *p2;
        usleep(30000);
        if (evl_log_open(tpath("log"), NULL, &l2) || evl_producer_new(l2, "a", NULL, &p2))
            _exit(2);
        evl_msg_t m = {NULL, 0, "y", 1, NULL, 0, EVL_TIMESTAMP_NOW, 1, -1};
        _exit(evl_producer_send(p2, &m, 0) ? 3 : 0);
    }
    cr_assert_eq(evl_waitset_wait(ws, 5000, &ready), 0);
    cr_assert_eq(ready, rd[1]);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(evl_reader_next(ready, 0, &r), 0);
    /* All have records: the readers take turns. */
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            evl_msg_t m = {NULL, 0, "z", 1, NULL, 0, EVL_TIMESTAMP_NOW, i == 1, -1};
            cr_assert_eq(evl_producer_send(i == 2 ? pb : pa, &m, 0), 0);
        }
    evl_reader_t *seen[3] = {NULL};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(evl_waitset_wait(ws, 0, &seen[i]), 0);
    }
    cr_assert(seen[0] != seen[1] || seen[1] != seen[2], "not always the same reader");
    cr_assert_eq(evl_waitset_remove(ws, rd[1]), 0);
    cr_assert_eq(evl_waitset_remove(ws, rd[1]), EVL_ENOTFOUND);
    evl_waitset_free(ws);
    for (int i = 0; i < 3; i++)
        evl_reader_close(rd[i]);
    evl_producer_close(pa);
    evl_producer_close(pb);
    evl_log_close(log);
}
