/*
 * test_file_sink.c - FileStreamSink and a whole pipeline: a file to a topic
 * (FileStreamSource) to another file (FileStreamSink), resumed after a stop
 * from the sink's committed offsets (group connect-NAME); a sink's settings
 * given to a source are refused.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>

TestSuite(file_sink, .init = test_dir_setup, .fini = test_dir_teardown);

static int count_lines_in(const char *path, int expect_from)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[64];
    int n = 0;
    while (fgets(buf, sizeof buf, f)) {
        if (!strchr(buf, '\n'))
            break; /* the line being written */
        char want[64];
        snprintf(want, sizeof want, "line-%d\n", expect_from + n);
        cr_assert_str_eq(buf, want, "line %d of %s", n, path);
        n++;
    }
    fclose(f);
    return n;
}

static void wait_lines(const char *path, int n)
{
    for (int i = 0; i < 1000 && count_lines_in(path, 0) < n; i++)
        usleep(10000);
    cr_assert_eq(count_lines_in(path, 0), n);
}

static void start_both(evl_connect_worker_t *w, const char *in, const char *out)
{
    char err[256];
    const char *src[] = {"name", "in", "connector.class", "FileStreamSource", "file", in,
                         "topic", "t"};
    const char *snk[] = {"name", "out", "connector.class", "FileStreamSink", "file", out,
                         "topics", "t", "offset.flush.interval.ms", "50"};
    cr_assert_eq(evl_connect_start(w, src, 4, err, sizeof err), 0, "%s", err);
    cr_assert_eq(evl_connect_start(w, snk, 5, err, sizeof err), 0, "%s", err);
}

Test(file_sink, a_file_goes_through_the_log_to_another_file)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    char in[256], out[256];
    snprintf(in, sizeof in, "%s", tpath("in.txt"));
    snprintf(out, sizeof out, "%s", tpath("out.txt"));
    append_lines(in, 0, 2000);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    start_both(w, in, out);
    wait_lines(out, 2000);
    cr_assert_eq(evl_connect_stop(w, "out"), 0);
    cr_assert_eq(evl_connect_stop(w, "in"), 0);
    evl_connect_worker_free(w);
    /* More lines while stopped; a new worker resumes both from their
     * committed progress: nothing lost, nothing repeated. */
    append_lines(in, 2000, 2500);
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    start_both(w, in, out);
    wait_lines(out, 2500);
    usleep(200000);
    cr_assert_eq(count_lines_in(out, 0), 2500);
    int64_t moved = 0;
    char err[256];
    /* Counted once each put returns: just after the lines are written. */
    for (int i = 0; i < 500 && moved < 500; i++) {
        cr_assert_eq(evl_connect_status(w, "out", &moved, err, sizeof err), EVL_CONNECT_RUNNING);
        if (moved < 500)
            usleep(10000);
    }
    cr_assert_eq(moved, 500, "this worker's sink moved only the new lines");
    evl_connect_worker_free(w);
    evl_log_close(log);
}

Test(file_sink, settings_of_the_other_kind_are_refused)
{
    evl_log_t *log = test_open(NULL);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    char err[256];
    const char *a[] = {"name", "a", "connector.class", "FileStreamSink", "file", "/x",
                       "topics", "t", "topic", "t"};
    cr_assert_eq(evl_connect_start(w, a, 5, err, sizeof err), EVL_ECONFIG);
    cr_assert(strstr(err, "topic: does not apply"), "%s", err);
    const char *b[] = {"name", "b", "connector.class", "FileStreamSink", "file", "/x"};
    cr_assert_eq(evl_connect_start(w, b, 3, err, sizeof err), EVL_ECONFIG);
    cr_assert(strstr(err, "topics"), "%s", err);
    evl_connect_worker_free(w);
    evl_log_close(log);
}
