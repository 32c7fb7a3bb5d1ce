/*
 * test_streams_cli.c - `evl streams list|describe|reset` on an
 * application this test ran: its internal topics and group listed, a
 * reset refused while it runs, then everything deleted (topics, group,
 * local state), after which the application counts its input again from
 * the start.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "streams_helpers.h"

TestSuite(streams_cli, .init = sh_setup, .fini = sh_teardown);

/* evl -d LOG args: its exit status, its stdout in out. */
static int evl_run(char *out, size_t len, const char *args)
{
    const char *bin = getenv("EVL_EVL") ? getenv("EVL_EVL") : "build/evl";
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "'%s' -d '%s' %s 2>&1", bin, tpath("log"), args);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, len - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int by_value(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1);
}

static evl_streams_t *start(evl_streams_builder_t *b)
{
    const char *conf[] = {"application.id", "wc", "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    cr_assert_eq(evl_streams_new(log_, b, conf, 2, err, sizeof err, &app), 0, "%s", err);
    cr_assert_eq(evl_streams_start(app), 0);
    return app;
}

Test(streams_cli, list_describe_reset)
{
    cr_assert_eq(evl_topic_create(log_, "words", 2, NULL), 0);
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    cr_assert_not_null(
        evl_grouped_count(evl_stream_group_by(evl_stream(b, "words"), by_value, NULL), "counts"));
    evl_streams_t *app = start(b);
    for (int i = 0; i < 10; i++)
        sh_put("words", i % 2, NULL, i % 3 ? "a" : "b", -1);
    sh_wait_records(app, 20); /* each word read twice: input, repartition */
    char out[8192];
    cr_assert_eq(evl_run(out, sizeof out, "streams list"), 0, "%s", out);
    cr_assert_str_eq(out, "wc\n");
    cr_assert_eq(evl_run(out, sizeof out, "streams describe wc"), 0, "%s", out);
    cr_assert(strstr(out, "wc-counts-repartition") && strstr(out, "repartition") &&
                  strstr(out, "wc-0-changelog") && strstr(out, "wc-1-changelog") &&
                  strstr(out, "1 stream thread running"),
              "%s", out);
    cr_assert_eq(evl_run(out, sizeof out, "streams describe wc --json"), 0, "%s", out);
    cr_assert(strstr(out, "\"application\":\"wc\"") && strstr(out, "\"kind\":\"changelog\""),
              "%s", out);
    /* running: refused */
    cr_assert_eq(evl_run(out, sizeof out, "streams reset wc"), 1, "%s", out);
    cr_assert(strstr(out, "is running"), "%s", out);
    cr_assert_eq(evl_streams_close(app), 0);
    /* a dry run deletes nothing */
    char args[1400];
    snprintf(args, sizeof args, "streams reset wc --dry-run --state-dir '%s'", tpath("state"));
    cr_assert_eq(evl_run(out, sizeof out, args), 0, "%s", out);
    cr_assert(strstr(out, "would delete topic wc-0-changelog"), "%s", out);
    cr_assert_gt(evl_topic_partitions(log_, "wc-0-changelog"), 0);
    snprintf(args, sizeof args, "streams reset wc --state-dir '%s'", tpath("state"));
    cr_assert_eq(evl_run(out, sizeof out, args), 0, "%s", out);
    cr_assert(strstr(out, "deleted group wc") && strstr(out, "deleted local state"), "%s", out);
    cr_assert_eq(evl_topic_partitions(log_, "wc-0-changelog"), EVL_ENOTFOUND);
    cr_assert_eq(evl_topic_partitions(log_, "wc-counts-repartition"), EVL_ENOTFOUND);
    struct stat st;
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/wc", tpath("state"));
    cr_assert_neq(stat(dir, &st), 0);
    cr_assert_eq(evl_run(out, sizeof out, "streams list"), 0, "%s", out);
    cr_assert_str_eq(out, "");
    /* run again: from the start, the same counts (not doubled) */
    app = start(b);
    sh_wait_records(app, 20);
    void *v;
    size_t vl;
    for (int i = 0; i < 300; i++) {
        if (evl_streams_store_get(app, "counts", "a", 1, &v, &vl) == 0) {
            if (evl_int64_get(v) == 6)
                break;
            free(v);
        }
        usleep(10000);
    }
    cr_assert_eq(evl_int64_get(v), 6);
    free(v);
    cr_assert_eq(evl_streams_close(app), 0);
    /* usage and unknown application */
    cr_assert_eq(evl_run(out, sizeof out, "streams describe"), 2, "%s", out);
    cr_assert_eq(evl_run(out, sizeof out, "streams describe nosuch"), 1, "%s", out);
    evl_streams_builder_free(b);
}
