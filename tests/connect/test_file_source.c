/*
 * test_file_source.c - the connect worker with FileStreamSource: lines to a
 * topic, in order, resumed after a stop without loss or repetition, a
 * rotated file followed, bad settings refused naming the setting, and
 * kill -9 of the worker at random moments: every line exactly once.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>
#include <signal.h>
#include <sys/wait.h>

#include "os.h"

TestSuite(file_source, .init = test_dir_setup, .fini = test_dir_teardown);

static int64_t end_of(evl_log_t *log)
{
    evl_partition_info_t pi;
    return evl_partition_info(log, "lines", 0, &pi) == 0 ? pi.end_offset : -1;
}

static void wait_for(evl_log_t *log, int64_t n)
{
    for (int i = 0; i < 1000 && end_of(log) < n; i++)
        usleep(10000);
    cr_assert_eq(end_of(log), n);
}

/* Every record i holds "line-i": each line once, in order. */
static void check_lines(evl_log_t *log, int64_t n)
{
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "lines", 0, &rd), 0);
    const evl_record_t *r;
    int64_t i = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t vl;
        const char *v = evl_record_value(r, &vl);
        char want[32];
        snprintf(want, sizeof want, "line-%lld", (long long)i);
        cr_assert(vl == strlen(want) && !memcmp(v, want, vl), "record %lld: %.*s",
                  (long long)i, (int)vl, v);
        i++;
    }
    cr_assert_eq(i, n);
    evl_reader_close(rd);
}

static int start(evl_connect_worker_t *w, const char *file, char *err, size_t errsz)
{
    const char *pairs[] = {"name", "src", "connector.class", "FileStreamSource", "file", file,
                           "topic", "lines"};
    return evl_connect_start(w, pairs, 4, err, errsz);
}

Test(file_source, lines_go_to_the_topic_and_resume_after_a_stop)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "lines", 1, NULL), 0);
    const char *file = tpath("in.txt");
    append_lines(file, 0, 1000);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    char err[256];
    cr_assert_eq(start(w, file, err, sizeof err), 0, "%s", err);
    wait_for(log, 1000);
    append_lines(file, 1000, 1500);
    wait_for(log, 1500);
    int64_t moved = 0;
    /* Counted once each batch's send returns: just after it is readable. */
    for (int i = 0; i < 500 && moved < 1500; i++) {
        cr_assert_eq(evl_connect_status(w, "src", &moved, err, sizeof err), EVL_CONNECT_RUNNING);
        if (moved < 1500)
            usleep(10000);
    }
    cr_assert_eq(moved, 1500);
    cr_assert_eq(evl_connect_stop(w, "src"), 0);
    cr_assert_eq(evl_connect_status(w, "src", NULL, NULL, 0), EVL_CONNECT_STOPPED);
    evl_connect_worker_free(w);
    /* Lines written while it was stopped, then a new worker. */
    append_lines(file, 1500, 1600);
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(start(w, file, err, sizeof err), 0, "%s", err);
    wait_for(log, 1600);
    usleep(100000);
    cr_assert_eq(end_of(log), 1600, "nothing repeated");
    evl_connect_worker_free(w);
    check_lines(log, 1600);
    evl_log_close(log);
}

Test(file_source, a_rotated_file_is_followed)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "lines", 1, NULL), 0);
    char file[256], old[256];
    snprintf(file, sizeof file, "%s", tpath("app.log"));
    snprintf(old, sizeof old, "%s", tpath("app.log.1"));
    append_lines(file, 0, 100);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    char err[256];
    cr_assert_eq(start(w, file, err, sizeof err), 0, "%s", err);
    wait_for(log, 100);
    append_lines(file, 100, 150);
    cr_assert_eq(rename(file, old), 0);
    append_lines(file, 150, 200);
    wait_for(log, 200);
    evl_connect_worker_free(w);
    check_lines(log, 200);
    evl_log_close(log);
}

Test(file_source, bad_settings_are_refused_naming_the_setting)
{
    evl_log_t *log = test_open(NULL);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    char err[256];
    struct {
        const char *pairs[12];
        size_t n;
        const char *needle;
    } cases[] = {
        {{"name", "a", "connector.class", "Nope", "topic", "t"}, 3, "connector.class"},
        {{"name", "a", "connector.class", "FileStreamSource", "topic", "t"}, 3, "file"},
        {{"name", "a", "connector.class", "FileStreamSource", "file", "/x"}, 3, "topic"},
        {{"name", "a", "connector.class", "FileStreamSource", "file", "/x", "topic", "t",
          "batch.size", "0"}, 5, "batch.size"},
        {{"name", "a", "connector.class", "FileStreamSource", "file", "/x", "topic", "t",
          "colour", "blue"}, 5, "colour"},
        {{"name", "a b", "connector.class", "FileStreamSource", "file", "/x", "topic", "t"}, 4,
         "name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = evl_connect_start(w, cases[i].pairs, cases[i].n, err, sizeof err);
        cr_assert_eq(rc, EVL_ECONFIG, "case %zu: %s", i, evl_errname(rc));
        cr_assert(strstr(err, cases[i].needle), "case %zu: %s", i, err);
    }
    /* A topic that does not exist: the task fails, with its error. */
    const char *pairs[] = {"name", "x", "connector.class", "FileStreamSource", "file", "/x",
                           "topic", "missing"};
    cr_assert_eq(evl_connect_start(w, pairs, 4, err, sizeof err), 0);
    int st = 0;
    for (int i = 0; i < 1000 && (st = evl_connect_status(w, "x", NULL, err, sizeof err)) ==
                                   EVL_CONNECT_RUNNING; i++)
        usleep(10000);
    cr_assert_eq(st, EVL_CONNECT_FAILED);
    cr_assert(strstr(err, "starting"), "%s", err);
    evl_connect_worker_free(w);
    evl_log_close(log);
}

/* A worker in a child process, killed at random moments while it forwards
 * a file of 100 000 lines; the next one resumes. At the end each line is in
 * the topic exactly once, in order. */
static void child(const char *file)
{
    evl_log_t *log;
    if (evl_log_open(tpath("log"), NULL, &log))
        _exit(2);
    evl_connect_worker_t *w;
    char err[256];
    if (evl_connect_worker_new(log, &w) || start(w, file, err, sizeof err))
        _exit(3);
    for (;;) {
        usleep(10000);
        if (evl_connect_status(w, "src", NULL, err, sizeof err) != EVL_CONNECT_RUNNING)
            _exit(4);
    }
}

Test(file_source, kill9_of_the_worker_loses_and_repeats_nothing, .timeout = 120)
{
    enum { N = 100000 };
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "lines", 1, NULL), 0);
    evl_log_close(log);
    char file[256];
    snprintf(file, sizeof file, "%s", tpath("big.txt"));
    append_lines(file, 0, N);
    unsigned seed = (unsigned)getpid();
    int kills = 0;
    for (int round = 0; round < 12; round++) {
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            child(file);
        usleep(5000 + (unsigned)(rand_r(&seed) % 60000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        cr_assert(WIFSIGNALED(st), "the worker stopped by itself: %d", WEXITSTATUS(st));
        kills++;
        log = test_open(NULL);
        int64_t e = end_of(log);
        evl_log_close(log);
        if (e >= N)
            break;
    }
    /* The last one runs to the end. */
    pid_t pid = fork();
    if (pid == 0)
        child(file);
    log = test_open(NULL);
    for (int i = 0; i < 3000 && end_of(log) < N; i++)
        usleep(10000);
    usleep(200000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    check_lines(log, N);
    evl_log_close(log);
    cr_log_info("file source: %d kills, every line once", kills);
}

/* A crash right before each of the first fsyncs of a run (the producer
 * table's first snapshot, each batch's durable append, ...), then a run to
 * the end: every line once. A crash after the first batch was appended but
 * before its progress was committed used to append it again. */
static void crash_child(const char *file, int after)
{
    evl_log_t *log;
    if (evl_log_open(tpath("log"), NULL, &log))
        _exit(2);
    evl_test_fault(EVL_OS_FSYNC, after, EVL_TEST_FAULT_EXIT, -1);
    child(file);
}

Test(file_source, a_crash_before_any_early_fsync_repeats_nothing, .timeout = 120)
{
    enum { N = 3500 };
    int crashed = 0;
    for (int after = 0; after < 8; after++) {
        test_dir_teardown();
        test_dir_setup();
        evl_log_t *log = test_open(NULL);
        cr_assert_eq(evl_topic_create(log, "lines", 1, NULL), 0);
        evl_log_close(log);
        char file[256];
        snprintf(file, sizeof file, "%s", tpath("f.txt"));
        append_lines(file, 0, N);
        pid_t pid = fork();
        if (pid == 0)
            crash_child(file, after);
        int st;
        for (int i = 0; i < 500; i++) {
            if (waitpid(pid, &st, WNOHANG) == pid)
                break;
            usleep(10000);
        }
        if (waitpid(pid, &st, WNOHANG) == 0) { /* ran past its fsyncs: done */
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        } else {
            cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == EVL_TEST_FAULT_EXIT,
                      "child ended with %d", WEXITSTATUS(st));
            crashed++;
        }
        pid = fork();
        if (pid == 0)
            child(file);
        log = test_open(NULL);
        for (int i = 0; i < 3000 && end_of(log) < N; i++)
            usleep(10000);
        usleep(100000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        check_lines(log, N);
        evl_log_close(log);
    }
    cr_assert_gt(crashed, 2);
}
