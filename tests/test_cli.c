/*
 * test_cli.c - the `evl` command-line tool, driven as a user drives it.
 *
 * Every test runs the built binary ($EVL_EVL, else build/evl) with fork and
 * exec in a temporary directory of its own, feeds stdin through a pipe and
 * collects stdout, stderr and the exit status. The contract under test is
 * the issue's: exit 0/1/2, errors as one stderr line starting "evl: ",
 * nothing but data on stdout, --json as one valid JSON document (checked by
 * the small validator in cli/json_check.h), and round trips that give back
 * exactly what went in. cli/proc.h runs the processes.
 *
 * Tests that need consumer groups (evl_consumer_* / evl_group_*) are named
 * group_*, so `--filter 'cli/group_*'` runs (or '!(cli/group_*)' skips) them.
 */
#include "helpers.h"
#include "cli/json_check.h"
#include "cli/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* ---- fixture: helpers.h's temp dir per test; the log in it at log/ ------- */

static char dir[300];

static void setup(void)
{
    test_dir_setup();
    snprintf(dir, sizeof dir, "%s", tpath("log"));
    signal(SIGPIPE, SIG_IGN); /* a dead evl must fail a write, not the test */
}

static void teardown(void)
{
    kill_leftovers(); /* evl --follow processes of a test that failed */
    test_dir_teardown();
}

/* One timeout for the whole suite: with per-test .timeout values, Criterion
 * 2.4's runner leaked 48 bytes under ASan with --jobs 2, failing test-asan.
 * Waits inside the tests are bounded too (poll timeouts in cli/proc.h). */
TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

/* ---- running evl (see cli/proc.h) ------------------------------------------- */

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
/* evl -d DIR ARGS..., no stdin / with stdin. */
#define EVL(...) run_env(NULL, 0, ARGS("-d", dir, __VA_ARGS__), NULL)
#define EVL_IN(in, ...) \
    run_env((in), strlen(in), ARGS("-d", dir, __VA_ARGS__), NULL)

static void assert_ok(const struct res *r)
{
    cr_assert_eq(r->status, 0, "exit %d, stderr: %s", r->status, r->err);
}

static void assert_one_error_line(const struct res *r)
{
    cr_assert(strncmp(r->err, "evl: ", 5) == 0, "stderr: %s", r->err);
    cr_assert(r->err_len > 5 && r->err[r->err_len - 1] == '\n' &&
                  strchr(r->err, '\n') == r->err + r->err_len - 1,
              "not exactly one line: %s", r->err);
}

/* One stderr line starting "evl: ", nothing on stdout, the given status. */
static void assert_error(const struct res *r, int status)
{
    cr_assert_eq(r->status, status, "exit %d (want %d), stderr: %s",
                 r->status, status, r->err);
    cr_assert_eq(r->out_len, 0, "stdout not empty: %s", r->out);
    assert_one_error_line(r);
}

static void expect_usage(const struct res *r) { assert_error(r, 2); }
static void expect_runtime(const struct res *r) { assert_error(r, 1); }

static void ok(struct res r)
{
    assert_ok(&r);
    res_free(&r);
}

static void usage_err(struct res r)
{
    expect_usage(&r);
    res_free(&r);
}

static void runtime_err(struct res r, const char *needle)
{
    expect_runtime(&r);
    if (needle)
        cr_assert(strstr(r.err, needle), "stderr lacks '%s': %s", needle,
                  r.err);
    res_free(&r);
}

static void assert_json(const struct res *r)
{
    assert_ok(r);
    cr_assert(json_valid(r->out), "not one JSON document: %s", r->out);
}

Test(cli, json_validator_rejects_bad_documents)
{
    struct res r = {.out = "{\"a\":[1,2,{\"b\":null}],\"c\":\"\\u00e9\"}"};
    const char *bad[] = {"{\"a\":1,}", "[1 2]", "\"\x01\"", "{\"a\" 1}",
                         "\"\\x\"", "01", "[1] [2]", "\"\xff\""};

    cr_assert(js_value(r.out, 0) && !*js_ws(js_value(r.out, 0)));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *end = js_value(bad[i], 0);
        cr_assert(!end || *js_ws(end), "accepted %s", bad[i]);
    }
}

/* ---- shared steps ----------------------------------------------------------- */

static void create_topic(const char *name, const char *partitions)
{
    ok(EVL("topic", "create", name, "-p", partitions));
}

/* A file inside the partition folder whose name ends in ext. */
static void partition_file(const char *topic, int part, const char *ext,
                           char *path, size_t size)
{
    char cmd[600];
    FILE *f;

    snprintf(cmd, sizeof cmd, "ls %s/topics/%s/%d/*%s 2>/dev/null | head -1",
             dir, topic, part, ext);
    f = popen(cmd, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(path, (int)size, f), "no %s file in %s/%d", ext,
                       topic, part);
    pclose(f);
    path[strcspn(path, "\n")] = '\0';
}

/* Flip one byte of the first occurrence of marker in file. */
static void corrupt_at(const char *file, const char *marker)
{
    int fd = open(file, O_RDWR);
    struct stat st;
    char *buf, *hit;

    cr_assert(fd >= 0 && fstat(fd, &st) == 0);
    buf = malloc((size_t)st.st_size);
    cr_assert(pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
    hit = memmem(buf, (size_t)st.st_size, marker, strlen(marker));
    cr_assert_not_null(hit, "marker %s not in %s", marker, file);
    hit[1] ^= 0x20;
    cr_assert(pwrite(fd, hit + 1, 1, hit + 1 - buf) == 1);
    close(fd);
    free(buf);
}

/* ---- version and help ----------------------------------------------------------- */

Test(cli, version)
{
    struct res r = EVL("--version");

    assert_ok(&r);
    cr_assert(strstr(r.out, EVL_VERSION_STRING), "%s", r.out);
    cr_assert_eq(r.err_len, 0);
    res_free(&r);
}

Test(cli, help_for_every_command)
{
    const char *cmds[][4] = { /* each row NULL-terminated */
        {"--help", NULL, NULL},       {"topic", "--help", NULL},
        {"topic", "create", "--help"}, {"topic", "list", "--help"},
        {"topic", "describe", "--help"}, {"topic", "delete", "--help"},
        {"topic", "alter", "--help"}, {"produce", "--help", NULL},
        {"consume", "--help", NULL},  {"group", "--help", NULL},
        {"group", "list", "--help"},  {"group", "describe", "--help"},
        {"group", "reset", "--help"}, {"group", "delete", "--help"},
        {"verify", "--help", NULL},   {"dump", "--help", NULL},
        {"perf", "--help", NULL},     {"help", "consume", NULL},
        {"streams", "--help", NULL},  {"streams", "list", "--help"},
        {"streams", "describe", "--help"}, {"streams", "reset", "--help"},
    };

    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        struct res r = run_env(NULL, 0, cmds[i], NULL);
        assert_ok(&r);
        cr_assert(strncmp(r.out, "usage: evl", 10) == 0, "%s: %s", cmds[i][0],
                  r.out);
        cr_assert_eq(r.err_len, 0);
        res_free(&r);
    }
}

/* ---- usage errors: exit 2 ----------------------------------------------------------- */

Test(cli, usage_errors_exit_2)
{
    create_topic("t", "1");
    usage_err(run_env(NULL, 0, ARGS("-d", dir), NULL));
    usage_err(EVL("bogus"));
    usage_err(EVL("--bogus"));
    usage_err(EVL("topic"));
    usage_err(EVL("topic", "frob"));
    usage_err(EVL("topic", "create"));
    usage_err(EVL("topic", "create", "t2", "-p", "x"));
    usage_err(EVL("topic", "create", "t2", "-p", "0"));
    usage_err(EVL("topic", "create", "t2", "-p"));
    usage_err(EVL("topic", "create", "t2", "--nope"));
    usage_err(EVL("topic", "create", "bad name!"));
    usage_err(EVL("topic", "create", "t2", "--retention-ms", "soon"));
    usage_err(EVL("topic", "create", "t2", "--sync", "sometimes"));
    usage_err(EVL("topic", "create", "t2", "-c", "no.such.setting=1"));
    usage_err(EVL("topic", "create", "t2", "-c", "noequals"));
    usage_err(EVL("topic", "describe"));
    usage_err(EVL("topic", "alter", "t"));
    usage_err(EVL("topic", "list", "extra"));
    usage_err(EVL("produce"));
    usage_err(EVL("produce", "t", "-H", "noequals"));
    usage_err(EVL("produce", "t", "-H", "=value"));
    usage_err(EVL("produce", "t", "--acks", "maybe"));
    usage_err(EVL("produce", "t", "-K", ""));
    usage_err(EVL("produce", "t", "-p", "-1"));
    usage_err(EVL("consume"));
    usage_err(EVL("consume", "t", "-o", "bogus"));
    usage_err(EVL("consume", "t", "-o", "@soon"));
    usage_err(EVL("consume", "t", "-o", "--5"));
    usage_err(EVL("consume", "t", "-c", "0"));
    usage_err(EVL("consume", "t", "-f", "%z"));
    usage_err(EVL("consume", "t", "-f", "trailing %"));
    usage_err(EVL("consume", "t", "-f", "\\q"));
    usage_err(EVL("consume", "t", "-g", "G", "-p", "0"));
    usage_err(EVL("consume", "t", "-g", "G", "-o", "5"));
    usage_err(EVL("group"));
    usage_err(EVL("group", "reset", "G", "t"));
    usage_err(EVL("group", "reset", "G", "t", "--to-offset", "x"));
    usage_err(EVL("group", "reset", "G", "t", "--to-earliest", "--to-latest"));
    usage_err(EVL("group", "describe"));
    usage_err(EVL("dump"));
    usage_err(EVL("verify", "t", "u"));
    usage_err(EVL("perf"));
    usage_err(EVL("perf", "bogus"));
    usage_err(EVL("perf", "produce", "--records", "0"));
    usage_err(EVL("perf", "e2e", "--record-size", "4"));
}

/* ---- runtime errors: exit 1 ------------------------------------------------------------ */

Test(cli, missing_log_directory)
{
    runtime_err(EVL("topic", "list"), "does not exist");
    runtime_err(EVL("consume", "t"), "does not exist");
    runtime_err(EVL("group", "list"), "does not exist");
    runtime_err(EVL("verify"), "does not exist");
    /* and none of them created it */
    cr_assert(access(dir, F_OK) != 0);
}

Test(cli, unusable_log_directory)
{
    char file[400], below[500];
    int fd;

    snprintf(file, sizeof file, "%s/plain-file", test_dir);
    fd = open(file, O_CREAT | O_WRONLY, 0644);
    cr_assert(fd >= 0);
    close(fd);
    snprintf(below, sizeof below, "%s/sub", file);
    runtime_err(run_env(NULL, 0, ARGS("-d", file, "topic", "create", "t"),
                        NULL), "cannot open log directory");
    runtime_err(run_env(NULL, 0, ARGS("-d", below, "topic", "create", "t"),
                        NULL), "cannot open log directory");
    runtime_err(run_env(NULL, 0, ARGS("-d", below, "topic", "list"), NULL),
                "log directory");
}

Test(cli, missing_topic)
{
    create_topic("t", "1");
    runtime_err(EVL_IN("x\n", "produce", "nope"), "does not exist");
    runtime_err(EVL("consume", "nope"), "does not exist");
    runtime_err(EVL("topic", "describe", "nope"), "does not exist");
    runtime_err(EVL("topic", "delete", "nope"), "does not exist");
    runtime_err(EVL("topic", "alter", "nope", "-p", "3"), "does not exist");
    runtime_err(EVL("verify", "nope"), "does not exist");
}

Test(cli, bad_partitions_and_offsets)
{
    create_topic("t", "2");
    ok(EVL_IN("a\nb\nc\n", "produce", "t", "-p", "0"));
    runtime_err(EVL_IN("x\n", "produce", "t", "-p", "2"), "partition 2");
    runtime_err(EVL("consume", "t", "-p", "5"), "partition 5");
    runtime_err(EVL("consume", "t", "-p", "0", "-o", "99"), "out of range");
    runtime_err(EVL("topic", "create", "t"), "already exists");
    runtime_err(EVL("topic", "alter", "t", "-p", "2"), "never shrink");
    runtime_err(EVL("topic", "alter", "t", "-p", "1"), "never shrink");
}

Test(cli, dump_errors)
{
    char file[400];
    int fd;

    runtime_err(EVL("dump", "/nonexistent/00000000000000000000.log"), NULL);
    snprintf(file, sizeof file, "%s/junk.log", test_dir);
    fd = open(file, O_CREAT | O_WRONLY, 0644);
    cr_assert(fd >= 0 && write(fd, "not a segment", 13) == 13);
    close(fd);
    runtime_err(EVL("dump", file), NULL);
    runtime_err(EVL("dump", test_dir), "not a regular file");
}

/* ---- topics ------------------------------------------------------------------------ */

Test(cli, topic_lifecycle)
{
    struct res r;

    ok(EVL("topic", "create", "b", "-p", "3", "--retention-ms", "123456",
           "--segment-bytes", "8388608", "--sync", "fsync"));
    ok(EVL("topic", "create", "a"));
    ok(EVL("topic", "create", "a", "--if-not-exists"));

    r = EVL("topic", "list");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "a\nb\n");
    res_free(&r);

    r = EVL("topic", "list", "--json");
    assert_json(&r);
    cr_assert_str_eq(r.out, "{\"topics\":[{\"name\":\"a\",\"partitions\":1},"
                            "{\"name\":\"b\",\"partitions\":3}]}\n");
    res_free(&r);

    r = EVL("topic", "describe", "b");
    assert_ok(&r);
    cr_assert(strstr(r.out, "3 partitions"), "%s", r.out);
    cr_assert(strstr(r.out, "retention.ms") && strstr(r.out, "123456"), "%s",
              r.out);
    cr_assert(strstr(r.out, "fsync"), "%s", r.out);
    cr_assert_eq(count_lines(r.out), 2 + 15 + 3, "%s", r.out);
    res_free(&r);

    ok(EVL("topic", "alter", "b", "-p", "5"));
    r = EVL("--json", "topic", "describe", "b");
    assert_json(&r);
    cr_assert(strstr(r.out, "\"partition_count\":5"), "%s", r.out);
    cr_assert(strstr(r.out, "{\"partition\":4,\"start_offset\":0,"
                            "\"end_offset\":0,\"records\":0"), "%s", r.out);
    cr_assert(strstr(r.out, "\"segment.bytes\":\"8388608\""), "%s", r.out);
    res_free(&r);

    ok(EVL("topic", "delete", "a"));
    r = EVL("topic", "list");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "b\n");
    res_free(&r);
}

Test(cli, log_dir_from_env_and_default)
{
    struct env e = {.evl_dir = dir};
    struct env cwd = {.cwd = test_dir};
    char def[400];
    struct res r;

    ok(run_env(NULL, 0, ARGS("topic", "create", "from-env"), &e));
    r = EVL("topic", "list");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "from-env\n");
    res_free(&r);

    ok(run_env(NULL, 0, ARGS("topic", "create", "from-cwd"), &cwd));
    snprintf(def, sizeof def, "%s/evl-data", test_dir);
    r = run_env(NULL, 0, ARGS("-d", def, "topic", "list"), NULL);
    assert_ok(&r);
    cr_assert_str_eq(r.out, "from-cwd\n");
    res_free(&r);

    /* -d after the command works too */
    r = run_env(NULL, 0, ARGS("topic", "list", "-d", def), NULL);
    assert_ok(&r);
    cr_assert_str_eq(r.out, "from-cwd\n");
    res_free(&r);
}

/* ---- produce and consume ----------------------------------------------------------- */

Test(cli, round_trip_values)
{
    const char *in = "first\n\nwith\ttab and spaces \nlast line, no newline";
    struct res r;

    create_topic("t", "1");
    ok(EVL_IN(in, "produce", "t"));
    r = EVL("consume", "t");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "first\n\nwith\ttab and spaces \nlast line, no "
                            "newline\n");
    cr_assert_eq(r.err_len, 0, "%s", r.err);
    res_free(&r);
}

Test(cli, round_trip_many_lines_across_partitions)
{
    size_t n = 20000, i, len = 0;
    char *in = malloc(n * 16), *seen = calloc(n, 1), *line, *save;
    struct res r;

    for (i = 0; i < n; i++)
        len += (size_t)sprintf(in + len, "v%zu\n", i);
    create_topic("t", "4");
    ok(run_env(in, len, ARGS("-d", dir, "produce", "t"), NULL));
    r = EVL("consume", "t");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), (int)n);
    for (line = strtok_r(r.out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        size_t v = strtoul(line + 1, NULL, 10);
        cr_assert(v < n && !seen[v], "bad or duplicate %s", line);
        seen[v] = 1;
    }
    res_free(&r);
    free(in);
    free(seen);
}

Test(cli, format_keys_and_headers)
{
    struct res r;

    create_topic("t", "1");
    ok(EVL_IN("k1:v1\nno key here\nk3::v:3\n:empty key\n", "produce", "t",
              "-K", ":", "-H", "trace=abc", "-H", "empty=", "-H", "eq=a=b"));
    r = EVL("consume", "t", "-f", "%t|%p|%o|%k|%s|%h|%K|%S\\n");
    assert_ok(&r);
    cr_assert_str_eq(r.out,
                     "t|0|0|k1|v1|trace=abc,empty=,eq=a=b|2|2\n"
                     "t|0|1||no key here|trace=abc,empty=,eq=a=b|-1|11\n"
                     "t|0|2|k3|:v:3|trace=abc,empty=,eq=a=b|2|4\n"
                     "t|0|3||empty key|trace=abc,empty=,eq=a=b|0|9\n");
    res_free(&r);

    r = EVL("consume", "t", "-c", "1", "-f", "%%\\t%o\\\\%T\\n");
    assert_ok(&r);
    cr_assert(strncmp(r.out, "%\t0\\", 4) == 0, "%s", r.out);
    long long ts = atoll(r.out + 4);
    cr_assert(ts > 1600000000000LL, "timestamp %lld", ts);
    res_free(&r);

    /* a multi-character delimiter */
    ok(EVL_IN("user42 => hello\n", "produce", "t", "-K", " => "));
    r = EVL("consume", "t", "-o", "4", "-f", "[%k][%s]\\n");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "[user42][hello]\n");
    res_free(&r);
}

/* Parse "KEY PARTITION" lines into map[key] = partition; -1 unseen. */
static void key_partitions(const char *out, int *map, int nkeys)
{
    const char *p = out;
    int k, part;

    while (*p) {
        cr_assert(sscanf(p, "k%d %d", &k, &part) == 2, "line: %s", p);
        cr_assert(k >= 0 && k < nkeys);
        cr_assert(map[k] == -1 || map[k] == part,
                  "key k%d in partitions %d and %d", k, map[k], part);
        map[k] = part;
        p = strchr(p, '\n') + 1;
    }
}

Test(cli, keys_go_to_one_partition_each)
{
    enum { KEYS = 40 };
    int map[KEYS], map2[KEYS], used[8] = {0}, distinct = 0;
    char in[8192];
    size_t len = 0;
    struct res r;

    for (int i = 0; i < 400; i++)
        len += (size_t)sprintf(in + len, "k%d:value %d\n", i % KEYS, i);
    create_topic("t", "4");
    ok(run_env(in, len, ARGS("-d", dir, "produce", "t", "-K", ":"), NULL));
    r = EVL("consume", "t", "-f", "%k %p\\n");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 400);
    memset(map, -1, sizeof map);
    key_partitions(r.out, map, KEYS);
    res_free(&r);
    for (int k = 0; k < KEYS; k++) {
        cr_assert(map[k] >= 0 && map[k] < 4);
        distinct += !used[map[k]]++;
    }
    cr_assert(distinct >= 2, "40 keys all hashed to one partition");

    /* A second process maps each key to the same partition. */
    ok(run_env(in, len, ARGS("-d", dir, "produce", "t", "-K", ":"), NULL));
    r = EVL("consume", "t", "-f", "%k %p\\n");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 800);
    memcpy(map2, map, sizeof map);
    key_partitions(r.out, map2, KEYS);
    cr_assert(memcmp(map, map2, sizeof map) == 0);
    res_free(&r);
}

Test(cli, print_offsets)
{
    struct res r;
    char expect[64];
    int p, o, n = 0;

    create_topic("one", "1");
    r = EVL_IN("a\nb\nc\n", "produce", "one", "--print-offsets");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "0 0\n0 1\n0 2\n");
    res_free(&r);
    r = EVL_IN("d\n", "produce", "one", "--print-offsets", "--acks", "fsync");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "0 3\n");
    res_free(&r);

    /* With keys on 3 partitions, each printed pair finds its record. */
    create_topic("three", "3");
    r = EVL_IN("x:1\ny:2\nz:3\nx:4\ny:5\nz:6\n", "produce", "three", "-K", ":",
               "--print-offsets", "--acks", "flush");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 6);
    for (const char *s = r.out; *s; s = strchr(s, '\n') + 1, n++) {
        cr_assert(sscanf(s, "%d %d", &p, &o) == 2);
        char ps[16], os[16];
        snprintf(ps, sizeof ps, "%d", p);
        snprintf(os, sizeof os, "%d", o);
        struct res c = EVL("consume", "three", "-p", ps, "-o", os, "-c", "1",
                           "-f", "%s\\n");
        assert_ok(&c);
        snprintf(expect, sizeof expect, "%d\n", n + 1);
        cr_assert_str_eq(c.out, expect);
        res_free(&c);
    }
    res_free(&r);
}

Test(cli, print_offsets_survive_kill_9)
{
    enum { N = 200 };
    struct proc p;
    char line[128], ps[16], os[16];
    int part[N], off[N];
    struct res r;

    create_topic("t", "3");
    p = spawn(ARGS("-d", dir, "produce", "t", "-K", ":", "--print-offsets"));
    for (int i = 0; i < N; i++) {
        snprintf(line, sizeof line, "key%d:acked %d\n", i % 7, i);
        write_all(p.in, line);
        cr_assert(read_line(p.out, line, sizeof line, 10000) == 0,
                  "no offset for record %d", i);
        cr_assert(sscanf(line, "%d %d", &part[i], &off[i]) == 2, "%s", line);
    }
    write_all(p.in, "key0:never acknowledged, maybe written\n");
    kill(p.pid, SIGKILL);
    cr_assert_eq(wait_status(p.pid, NULL), 128 + SIGKILL);
    close(p.in), close(p.out), close(p.err);

    for (int i = 0; i < N; i++) {
        snprintf(ps, sizeof ps, "%d", part[i]);
        snprintf(os, sizeof os, "%d", off[i]);
        r = EVL("consume", "t", "-p", ps, "-o", os, "-c", "1", "-f", "%s\\n");
        assert_ok(&r);
        snprintf(line, sizeof line, "acked %d\n", i);
        cr_assert_str_eq(r.out, line, "record %d at %d/%d", i, part[i], off[i]);
        res_free(&r);
    }
    r = EVL("verify");
    assert_ok(&r);
    res_free(&r);
}

Test(cli, offset_specs)
{
    struct res r;
    char in[256], at[32];
    size_t len = 0;

    create_topic("t", "1");
    for (int i = 0; i < 10; i++)
        len += (size_t)sprintf(in + len, "r%d\n", i);
    ok(EVL_IN(in, "produce", "t"));

    r = EVL("consume", "t", "-o", "7");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "r7\nr8\nr9\n");
    res_free(&r);
    r = EVL("consume", "t", "-o", "-3");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "r7\nr8\nr9\n");
    res_free(&r);
    r = EVL("consume", "t", "-o", "-50");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 10);
    res_free(&r);
    r = EVL("consume", "t", "-o", "end");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "");
    res_free(&r);
    r = EVL("consume", "t", "-o", "beginning", "-c", "2");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "r0\nr1\n");
    res_free(&r);
    r = EVL("consume", "t", "-o", "10");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "");
    res_free(&r);

    /* @TS: everything at or after a timestamp taken between two produces */
    struct timespec pause = {0, 20 * 1000000};
    nanosleep(&pause, NULL);
    snprintf(at, sizeof at, "@%lld", (long long)time(NULL) * 1000 + 999);
    r = EVL("consume", "t", "-o", at);
    assert_ok(&r);
    cr_assert_str_eq(r.out, "", "records newer than the future: %s", r.out);
    res_free(&r);
    r = EVL("consume", "t", "-o", "@0", "-c", "1");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "r0\n");
    res_free(&r);
    r = EVL("consume", "t", "-c", "1", "-o", "5", "-f", "%T");
    assert_ok(&r);
    snprintf(at, sizeof at, "@%s", r.out);
    res_free(&r);
    r = EVL("consume", "t", "-o", at, "-f", "%o %T\\n");
    assert_ok(&r);
    {
        long long o, ts, want = atoll(at + 1);
        cr_assert(sscanf(r.out, "%lld %lld", &o, &ts) == 2);
        cr_assert(o <= 5 && ts >= want, "@%lld started at %lld (ts %lld)",
                  want, o, ts);
        cr_assert(strstr(r.out, "\n9 "), "did not read to the end: %s", r.out);
    }
    res_free(&r);
}

Test(cli, produce_create_flag)
{
    struct res r;

    create_topic("other", "1");
    runtime_err(EVL_IN("x\n", "produce", "auto"), "--create");
    ok(EVL_IN("x\n", "produce", "auto", "--create"));
    r = EVL("consume", "auto");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "x\n");
    res_free(&r);
}

Test(cli, overlong_line_is_refused)
{
    size_t big = 5000;
    char *in = malloc(big + 32);
    struct res r;

    ok(EVL("topic", "create", "t", "-c", "max.message.bytes=1024"));
    strcpy(in, "before\n");
    memset(in + 7, 'x', big);
    strcpy(in + 7 + big, "\nafter\n");
    r = EVL_IN(in, "produce", "t");
    expect_runtime(&r);
    cr_assert(strstr(r.err, "line 2") && strstr(r.err, "max.message.bytes"),
              "%s", r.err);
    res_free(&r);
    r = EVL("consume", "t");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "before\n");
    res_free(&r);
    free(in);
}

/* A 64 MiB line without a newline: refused, and evl never buffers it. */
Test(cli, produce_memory_stays_bounded)
{
    size_t chunk = 1 << 20, total = 64u << 20, sent = 0;
    char *buf = malloc(chunk);
    struct rusage ru;
    struct proc p;
    struct res r;

    create_topic("t", "1");
    memset(buf, 'y', chunk);
    p = spawn(ARGS("-d", dir, "produce", "t"));
    while (sent < total) {
        ssize_t n = write(p.in, buf, chunk);
        if (n <= 0)
            break; /* evl gave up early: fine */
        sent += (size_t)n;
    }
    r = finish(p, NULL, 0, &ru);
    expect_runtime(&r);
    cr_assert(strstr(r.err, "max.message.bytes"), "%s", r.err);
    cr_assert(ru.ru_maxrss < 24 * 1024, "max RSS %ld KiB", ru.ru_maxrss);
    res_free(&r);
    free(buf);
}

Test(cli, consume_follow_stops_cleanly_on_sigterm)
{
    struct proc p;
    char line[64];
    struct res r;

    create_topic("t", "2");
    ok(EVL_IN("old\n", "produce", "t", "-p", "1"));
    p = spawn(ARGS("-d", dir, "consume", "t", "--follow", "-f", "%p %s\\n"));
    cr_assert(read_line(p.out, line, sizeof line, 10000) == 0);
    cr_assert_str_eq(line, "1 old\n");
    ok(EVL_IN("new0\n", "produce", "t", "-p", "0"));
    cr_assert(read_line(p.out, line, sizeof line, 10000) == 0);
    cr_assert_str_eq(line, "0 new0\n");
    ok(EVL_IN("new1\n", "produce", "t", "-p", "1"));
    cr_assert(read_line(p.out, line, sizeof line, 10000) == 0);
    cr_assert_str_eq(line, "1 new1\n");
    kill(p.pid, SIGTERM);
    r = finish(p, NULL, 0, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    cr_assert_str_eq(r.out, "");
    res_free(&r);

    p = spawn(ARGS("-d", dir, "consume", "t", "--follow", "-c", "2"));
    ok(EVL_IN("a\nb\nc\n", "produce", "t", "-p", "0"));
    r = finish(p, NULL, 0, NULL); /* -c ends --follow */
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 2, "%s", r.out);
    res_free(&r);
}

/* ---- verify and dump ---------------------------------------------------------------- */

/* Three producer calls: three frames of 10 records each (about 500 bytes
 * per frame); index_interval decides how many of them get an index entry. */
static void produce_three_frames(const char *index_interval)
{
    char in[512], setting[64];

    snprintf(setting, sizeof setting, "index.interval.bytes=%s",
             index_interval);
    ok(EVL("topic", "create", "t", "-c", setting));
    for (int f = 0; f < 3; f++) {
        size_t len = 0;
        for (int i = 0; i < 10; i++)
            len += (size_t)sprintf(in + len, "key%d:marker-%d-%d\n", i,
                                   f, i);
        ok(run_env(in, len, ARGS("-d", dir, "produce", "t", "-K", ":"),
                   NULL));
    }
}

Test(cli, verify_clean_log)
{
    struct res r;

    produce_three_frames("4096");
    create_topic("empty", "2");
    r = EVL("verify");
    assert_ok(&r);
    cr_assert(strstr(r.out, "t/0: 30 records, offsets 0 to 29: ok"), "%s",
              r.out);
    cr_assert(strstr(r.out, "3 partitions, 30 records, 0 problems"), "%s",
              r.out);
    res_free(&r);
    r = EVL("verify", "t", "--json");
    assert_json(&r);
    cr_assert(strstr(r.out, "\"clean\":true"), "%s", r.out);
    res_free(&r);
}

Test(cli, verify_finds_a_corrupt_record)
{
    char log[512];
    struct res r;

    produce_three_frames("64"); /* an index entry at every frame */
    partition_file("t", 0, ".log", log, sizeof log);
    corrupt_at(log, "marker-1-4");

    r = EVL("verify");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    assert_one_error_line(&r);
    /* Format 2: the damaged record is lost, not its batch of 10. */
    cr_assert(strstr(r.out, "offset 14: corrupt record"), "%s", r.out);
    cr_assert(strstr(r.out, "offsets 14 to 14 are unreadable, reading resumes "
                            "at 15"), "%s", r.out);
    cr_assert(strstr(r.out, "t/0: 29 records"), "%s", r.out);
    cr_assert(strstr(r.err, "problem"), "%s", r.err);
    res_free(&r);

    r = EVL("verify", "--json");
    cr_assert_eq(r.status, 1);
    cr_assert(js_value(r.out, 0), "bad JSON: %s", r.out);
    cr_assert(strstr(r.out, "\"clean\":false"), "%s", r.out);
    res_free(&r);

    /* --repair cannot truncate mid-log damage: still 1, data untouched */
    r = EVL("verify", "--repair");
    cr_assert_eq(r.status, 1);
    res_free(&r);

    /* consume stops at the bad record with a clear error */
    r = EVL("consume", "t");
    cr_assert_eq(r.status, 1);
    cr_assert_eq(count_lines(r.out), 14, "%s", r.out);
    assert_one_error_line(&r);
    cr_assert(strstr(r.err, "corrupt"), "%s", r.err);
    res_free(&r);
    /* ... and can skip exactly it */
    r = EVL("consume", "t", "-o", "15");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 15);
    res_free(&r);
}

/* Without an index entry after the bad frame, nothing after it is reachable
 * through the reader: verify says so, down to the end offset. */
Test(cli, verify_corruption_without_index_entry_after_it)
{
    char log[512];
    struct res r;

    produce_three_frames("4096");
    partition_file("t", 0, ".log", log, sizeof log);
    corrupt_at(log, "marker-1-4");
    r = EVL("verify", "t");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    assert_one_error_line(&r);
    /* Format 2: a seek into the batch finds the records after the
     * damaged one, index entry or not. */
    cr_assert(strstr(r.out, "offset 14: corrupt record"), "%s", r.out);
    cr_assert(strstr(r.out, "offsets 14 to 14 are unreadable, reading resumes at 15"),
              "%s", r.out);
    res_free(&r);
}

/*
 * What a crash leaves: bytes after the last whole frame. Write a torn frame
 * there and remove the partition's ctl file (white-box: that is how the
 * library knows the page cache was lost, as after a reboot), so the next
 * open runs recovery.
 */
static void tear_tail(const char *topic)
{
    char log[512], ctl[600];
    struct res r;
    long long end;
    const char *at;
    int fd;

    partition_file(topic, 0, ".log", log, sizeof log);
    r = EVL("dump", log);
    assert_ok(&r);
    at = strstr(r.out, "data ends at ");
    cr_assert(at && sscanf(at, "data ends at %lld", &end) == 1, "%s", r.out);
    res_free(&r);
    fd = open(log, O_WRONLY);
    cr_assert(fd >= 0);
    cr_assert(pwrite(fd, "\xc8\0\0\0torn frame, never published", 32, end) ==
              32);
    close(fd);
    snprintf(ctl, sizeof ctl, "%s/topics/%s/0/partition.ctl", dir, topic);
    cr_assert(unlink(ctl) == 0, "%s: %s", ctl, strerror(errno));
}

Test(cli, verify_reports_recovery_of_a_torn_tail)
{
    struct res r;

    create_topic("t", "1");
    ok(EVL_IN("1\n2\n3\n", "produce", "t"));
    tear_tail("t");
    r = EVL("verify");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    assert_one_error_line(&r);
    cr_assert(strstr(r.out, "t/0: 3 records, offsets 0 to 2: ok"), "%s", r.out);
    cr_assert(strstr(r.out, "recovery truncated 32 bytes of torn records\n"),
              "%s", r.out);
    res_free(&r);
    /* recovery already cut it: the log is clean now */
    r = EVL("verify");
    assert_ok(&r);
    cr_assert(strstr(r.out, "0 problems"), "%s", r.out);
    res_free(&r);

    /* with --repair, recovery is the repair */
    ok(EVL_IN("4\n", "produce", "t"));
    tear_tail("t");
    r = EVL("verify", "--repair", "--json");
    assert_json(&r);
    cr_assert(strstr(r.out, "\"truncated_bytes\":32,") &&
                  strstr(r.out, "\"clean\":true"), "%s", r.out);
    res_free(&r);
    r = EVL("consume", "t");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "1\n2\n3\n4\n");
    res_free(&r);
}

Test(cli, dump_segment)
{
    char log[512];
    struct res r;

    produce_three_frames("4096");
    partition_file("t", 0, ".log", log, sizeof log);
    r = EVL("dump", log);
    assert_ok(&r);
    cr_assert(strstr(r.out, "segment: version 2, base offset 0"), "%s", r.out);
    cr_assert(strstr(r.out, "base offset 10, 10 records, crc ok"), "%s", r.out);
    cr_assert(strstr(r.out, "offset 29  timestamp "), "%s", r.out);
    cr_assert(strstr(r.out, "key \"key9\"  value 10 bytes  headers 0  crc ok"),
              "%s", r.out);
    cr_assert(strstr(r.out, "30 records"), "%s", r.out);
    res_free(&r);

    r = EVL("dump", log, "--json");
    assert_json(&r);
    res_free(&r);

    /* A damaged record is named; the others of its batch are printed. */
    corrupt_at(log, "marker-2-0");
    r = EVL("dump", log);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.out, "BAD record: offset 20 fails its checks"), "%s", r.out);
    cr_assert(strstr(r.out, "offset 21  timestamp "), "%s", r.out);
    cr_assert(strstr(r.out, "base offset 10, 10 records, crc ok"), "%s", r.out);
    cr_assert(strstr(r.out, "29 records"), "%s", r.out);
    assert_one_error_line(&r);
    res_free(&r);
}

Test(cli, dump_json_escapes_keys)
{
    char log[512];
    struct res r;

    create_topic("t", "1");
    ok(EVL_IN("q\"uo\\te\x01\xff\xc3\xa9|v\n", "produce", "t", "-K", "|"));
    partition_file("t", 0, ".log", log, sizeof log);
    r = EVL("--json", "dump", log);
    assert_json(&r);
    cr_assert(strstr(r.out, "\"key\":\"q\\\"uo\\\\te\\u0001\\ufffd\xc3\xa9\""),
              "%s", r.out);
    res_free(&r);
}

/* ---- perf (functional only: small numbers, no timing asserted) ------------------- */

Test(cli, perf_modes_run)
{
    const char *modes[] = {"produce", "consume", "e2e"};
    struct res r;

    for (int i = 0; i < 3; i++) {
        r = EVL("perf", modes[i], "--records", "3000", "--record-size", "32",
                "--partitions", "2", "--threads", "2", "--batch", "8",
                "--json");
        assert_json(&r);
        cr_assert(strstr(r.out, "\"records\":3000"), "%s", r.out);
        cr_assert(strstr(r.out, "\"records_per_sec\":"), "%s", r.out);
        res_free(&r);
    }
    r = EVL("perf", "produce", "--records", "100", "--acks", "fsync");
    assert_ok(&r);
    cr_assert(strstr(r.out, "records/s") && strstr(r.out, "p99"), "%s", r.out);
    res_free(&r);
    /* Throughput mode: the run is timed, not each call, so no latencies. */
    r = EVL("perf", "produce", "--records", "5000", "--throughput");
    assert_ok(&r);
    cr_assert(strstr(r.out, "records/s") && !strstr(r.out, "latency"), "%s", r.out);
    res_free(&r);
    r = EVL("topic", "describe", "evl-perf", "--json");
    assert_json(&r);
    cr_assert(strstr(r.out, "\"partition_count\":2"), "%s", r.out);
    res_free(&r);
}

/* ---- consumer groups ------------------------------------------------------------------ */

Test(cli, group_commits_what_it_printed)
{
    struct res r;

    create_topic("t", "3");
    ok(EVL_IN("a:1\nb:2\nc:3\nd:4\ne:5\nf:6\n", "produce", "t", "-K", ":"));
    r = EVL("consume", "t", "-g", "G", "-c", "4");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 4, "%s", r.out);
    res_free(&r);
    r = EVL("consume", "t", "-g", "G");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 2, "the group re-read or skipped: %s",
                 r.out);
    res_free(&r);
    r = EVL("consume", "t", "-g", "G");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "");
    res_free(&r);

    r = EVL("group", "list");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "G\n");
    res_free(&r);
    r = EVL("group", "list", "--json");
    assert_json(&r);
    cr_assert_str_eq(r.out, "{\"groups\":[\"G\"]}\n");
    res_free(&r);

    r = EVL("group", "describe", "G", "--json");
    assert_json(&r);
    cr_assert(strstr(r.out, "\"members\":[]"), "%s", r.out);
    cr_assert(!strstr(r.out, "\"lag\":null") && strstr(r.out, "\"lag\":0"),
              "%s", r.out);
    res_free(&r);

    ok(EVL("group", "reset", "G", "t", "--to-earliest"));
    r = EVL("consume", "t", "-g", "G");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 6);
    res_free(&r);

    ok(EVL("group", "reset", "G", "t", "--to-offset", "0"));
    r = EVL("group", "describe", "G");
    assert_ok(&r);
    cr_assert(strstr(r.out, "COMMITTED"), "%s", r.out);
    res_free(&r);

    ok(EVL("group", "delete", "G"));
    r = EVL("group", "list");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "");
    res_free(&r);
    runtime_err(EVL("group", "describe", "G"), "does not exist");
    runtime_err(EVL("group", "delete", "G"), "does not exist");
    runtime_err(EVL("group", "reset", "G", "nope", "--to-latest"),
                "does not exist");
}

/* Count "member" lines of `evl group describe`. */
static int group_members(const char *group)
{
    struct res r = EVL("group", "describe", group);
    int n = 0;

    if (r.status == 0)
        for (const char *s = r.out; (s = strstr(s, "  member ")); s++)
            n++;
    res_free(&r);
    return n;
}

/* Has the group settled: `members` members, and each of topic t's
 * `parts` partitions owned, by `members` distinct owners in all? */
static int group_settled(const char *group, int members, int parts)
{
    struct res r = EVL("group", "describe", group);
    char owners[8][64];
    int owned = 0, distinct = 0;

    for (const char *s = r.out; r.status == 0 && *s; s = strchr(s, '\n') + 1) {
        char owner[64];
        int i;
        if (strncmp(s, "t ", 2) != 0)
            continue;
        const char *end = strchr(s, '\n'), *sp = end;
        while (sp > s && sp[-1] != ' ')
            sp--;
        snprintf(owner, sizeof owner, "%.*s", (int)(end - sp), sp);
        if (strcmp(owner, "-") == 0)
            continue;
        owned++;
        for (i = 0; i < distinct && strcmp(owners[i], owner); i++)
            ;
        if (i == distinct && distinct < 8)
            strcpy(owners[distinct++], owner);
    }
    res_free(&r);
    return group_members(group) == members && owned == parts &&
           distinct == members;
}

struct collected {
    char *buf;
    size_t len;
};

/* Drain whatever the two processes printed, for up to timeout_ms. */
static void collect(struct proc *ps, struct collected *cs, int want_lines,
                    int timeout_ms)
{
    char buf[4096];
    int waited = 0;

    while (waited < timeout_ms &&
           count_lines(cs[0].buf ? cs[0].buf : "") +
                   count_lines(cs[1].buf ? cs[1].buf : "") < want_lines) {
        struct pollfd fds[2] = {{ps[0].out, POLLIN, 0}, {ps[1].out, POLLIN, 0}};
        int n = poll(fds, 2, 100);
        waited += 100;
        for (int i = 0; n > 0 && i < 2; i++) {
            if (!(fds[i].revents & POLLIN))
                continue;
            ssize_t got = read(ps[i].out, buf, sizeof buf);
            if (got > 0)
                append(&cs[i].buf, &cs[i].len, buf, (size_t)got);
        }
    }
}

Test(cli, group_split_across_two_processes)
{
    enum { N = 400 };
    struct proc ps[2];
    struct collected cs[2] = {{NULL, 0}, {NULL, 0}};
    char in[N * 16], seen[4][N];
    int parts_of[2][4] = {{0}}, waited = 0;
    size_t len = 0;
    struct res r;

    create_topic("t", "4");
    for (int i = 0; i < 2; i++)
        ps[i] = spawn(ARGS("-d", dir, "consume", "t", "-g", "G", "--follow",
                           "-f", "%p %o\\n"));
    /* Produce only once the assignment has settled, so that no partition
     * moves while records flow (a move is allowed to re-deliver). */
    while (!group_settled("G", 2, 4) && waited < 20000) {
        struct timespec nap = {0, 100 * 1000000};
        nanosleep(&nap, NULL);
        waited += 100;
    }
    cr_assert(group_settled("G", 2, 4), "the group never settled on two "
              "members owning all four partitions");
    for (int i = 0; i < N; i++)
        len += (size_t)sprintf(in + len, "k%d:%d\n", i, i);
    ok(run_env(in, len, ARGS("-d", dir, "produce", "t", "-K", ":"), NULL));
    append(&cs[0].buf, &cs[0].len, "", 0);
    append(&cs[1].buf, &cs[1].len, "", 0);
    collect(ps, cs, N, 30000);
    for (int i = 0; i < 2; i++) {
        kill(ps[i].pid, SIGTERM);
        r = finish(ps[i], NULL, 0, NULL);
        cr_assert_eq(r.status, 0, "member %d: exit %d: %s", i, r.status, r.err);
        append(&cs[i].buf, &cs[i].len, r.out, r.out_len);
        res_free(&r);
    }
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 2; i++) {
        cr_assert(count_lines(cs[i].buf) > 0, "member %d got nothing", i);
        for (const char *s = cs[i].buf; *s; s = strchr(s, '\n') + 1) {
            int p, o;
            cr_assert(sscanf(s, "%d %d", &p, &o) == 2 && p >= 0 && p < 4 &&
                      o >= 0 && o < N);
            cr_assert(!seen[p][o]++, "%d/%d printed twice", p, o);
            parts_of[i][p] = 1;
        }
    }
    cr_assert_eq(count_lines(cs[0].buf) + count_lines(cs[1].buf), N);
    for (int p = 0; p < 4; p++)
        cr_assert(!(parts_of[0][p] && parts_of[1][p]),
                  "partition %d read by both members", p);
    /* Both committed everything they printed before exiting. */
    r = EVL("group", "describe", "G", "--json");
    assert_json(&r);
    cr_assert(!strstr(r.out, "\"lag\":null"), "%s", r.out);
    for (const char *s = r.out; (s = strstr(s, "\"lag\":")); s++)
        cr_assert(strncmp(s, "\"lag\":0,", 8) == 0, "%s", r.out);
    res_free(&r);
    free(cs[0].buf);
    free(cs[1].buf);
}

Test(cli, group_busy_while_a_member_runs)
{
    struct proc p;
    char line[64];
    struct res r;

    create_topic("t", "1");
    ok(EVL_IN("x\n", "produce", "t"));
    p = spawn(ARGS("-d", dir, "consume", "t", "-g", "G", "--follow"));
    cr_assert(read_line(p.out, line, sizeof line, 10000) == 0);
    runtime_err(EVL("group", "delete", "G"), "active members");
    runtime_err(EVL("group", "reset", "G", "t", "--to-earliest"),
                "active members");
    kill(p.pid, SIGINT);
    r = finish(p, NULL, 0, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    res_free(&r);
    ok(EVL("group", "delete", "G"));
}

/* ---- a full file system (issue 18) ---------------------------------------- */

/* The log in a tmpfs of 8 MiB (helpers.h: test_small_fs), with topic t
 * holding one record, then the rest of the file system filled. */
static void full_disk_log(void)
{
    test_small_fs(tpath("small"), 8u << 20);
    snprintf(dir, sizeof dir, "%s", tpath("small/log"));
    ok(EVL("topic", "create", "t", "-c", "segment.bytes=1048576"));
    ok(EVL_IN("x\n", "produce", "t"));
    test_fill_fs(tpath("small"));
}

/* Joining a group mapped a member file grown with ftruncate: on a full disk
 * the first store into it was SIGBUS (exit 135). */
Test(cli, group_join_on_a_full_disk_is_an_error_not_sigbus)
{
    full_disk_log();
    runtime_err(EVL("consume", "t", "-g", "G", "-c", "1", "-o", "beginning"),
                "no space left on device");
    /* No temp or lock files left behind by the failed join. */
    DIR *d = opendir(tpath("small/log/groups/G"));
    for (struct dirent *e; d && (e = readdir(d));)
        cr_assert(!strstr(e->d_name, ".tmp") && !strstr(e->d_name, ".lock"), "%s", e->d_name);
    if (d)
        closedir(d);
    /* With room again, the same command works. */
    cr_assert_eq(unlink(tpath("small/fill")), 0);
    struct res r = EVL("consume", "t", "-g", "G", "-c", "1", "-o", "beginning");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "x\n");
    res_free(&r);
}

/* Setting up a missing partition.ctl mapped it after an ftruncate: SIGBUS
 * on a full disk. */
Test(cli, partition_setup_on_a_full_disk_is_an_error_not_sigbus)
{
    full_disk_log();
    cr_assert_eq(unlink(tpath("small/log/topics/t/0/partition.ctl")), 0);
    test_fill_fs(tpath("small")); /* into fill2: the 4 KiB the ctl freed too */
    runtime_err(EVL("consume", "t", "-o", "beginning", "-c", "1"), "no space left on device");
    cr_assert_eq(unlink(tpath("small/fill")), 0);
    cr_assert_eq(unlink(tpath("small/fill2")), 0);
    struct res r = EVL("consume", "t", "-o", "beginning", "-c", "1");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "x\n");
    res_free(&r);
}

/* ---- damage in a cleanly closed partition (issue 18) ------------------------------- */

/* A damaged record in the last frame of a cleanly closed partition was taken
 * for a torn tail: the next open cut the whole frame (870 records), consume
 * exited 0 with 9130 of 10000 records and verify called the log clean
 * (issue 18). In format 2 (issue 19) the damage costs that one record: it is
 * kept and reported, readers stop there until they seek past it, and
 * nothing around it is cut, by an open or by --repair. */
Test(cli, corrupt_record_in_the_last_frame_costs_only_itself)
{
    char log[512], *in = malloc(10000 * 16), *p = in;
    struct res r;

    create_topic("t", "1");
    for (int i = 1; i <= 10000; i++)
        p += sprintf(p, "value-%d\n", i);
    ok(EVL_IN(in, "produce", "t"));
    free(in);
    partition_file("t", 0, ".log", log, sizeof log);
    corrupt_at(log, "value-9990"); /* offset 9989, in the last frame */

    r = EVL("consume", "t", "-o", "beginning");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert_eq(count_lines(r.out), 9989);
    assert_one_error_line(&r);
    cr_assert(strstr(r.err, "offset 9989: corrupt record"), "%s", r.err);
    res_free(&r);
    /* Nothing was cut: verify fails naming exactly it. */
    r = EVL("verify");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "offset 9989: corrupt record; offsets 9989 to 9989 are "
                            "unreadable, reading resumes at 9990"), "%s", r.out);
    cr_assert(strstr(r.out, "t/0: 9999 records"), "%s", r.out);
    cr_assert(strstr(r.out, "fails its checksum: corrupt data, kept"), "%s", r.out);
    res_free(&r);
    /* --repair keeps every intact record around it (the damaged one stays
     * reported: cutting the tail would lose the 10 after it). */
    r = EVL("verify", "--repair");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "t/0: 9999 records"), "%s", r.out);
    res_free(&r);
    r = EVL("consume", "t", "-o", "9990");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 10);
    res_free(&r);
    r = EVL_IN("new\n", "produce", "t", "--print-offsets");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "0 10000\n");
    res_free(&r);
}

/* A missing middle segment with a valid partition.ctl: consume printed the
 * same offsets for ever and verify hung. Both end now, naming the hole. */
Test(cli, missing_middle_segment_ends_with_the_hole_reported)
{
    char *in = malloc(5000 * 16), *p = in, path[700];
    struct res r;

    /* Segments of 64 KiB: at least three, so that the second is in the
     * middle (format 2 fits about 2900 of these records in one). */
    ok(EVL("topic", "create", "t", "-c", "segment.bytes=65536"));
    for (int i = 0; i < 5000; i++)
        p += sprintf(p, "value-%d\n", i);
    ok(EVL_IN(in, "produce", "t"));
    ok(EVL_IN(in, "produce", "t"));
    free(in);
    /* The second segment's base: the first file name after 0. */
    DIR *d = opendir(tpath("log/topics/t/0"));
    unsigned long long second = 0, last = 0;
    for (struct dirent *e; (e = readdir(d));) {
        unsigned long long b = strtoull(e->d_name, NULL, 10);
        if (strstr(e->d_name, ".log") && b > 0 && (!second || b < second))
            second = b;
        if (strstr(e->d_name, ".log") && b > last)
            last = b;
    }
    closedir(d);
    cr_assert(second > 0 && second < last, "second %llu, last %llu", second, last);
    snprintf(path, sizeof path, "%s/%020llu.log", tpath("log/topics/t/0"), second);
    cr_assert_eq(unlink(path), 0);
    r = EVL("consume", "t", "-o", "beginning", "-f", "%o\n");
    assert_ok(&r);
    int lines = count_lines(r.out);
    cr_assert(lines > 0 && lines < 10000, "%d", lines);
    cr_assert(strstr(r.err, "is missing: offsets"), "%s", r.err);
    res_free(&r);
    r = EVL("verify");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    char gap[100];
    snprintf(gap, sizeof gap, "offset gap: expected %llu", second);
    cr_assert(strstr(r.out, gap), "%s", r.out);
    res_free(&r);
}

/* ---- lost or damaged metadata (issue 18) ------------------------------------------ */

Test(cli, deleted_metadata_is_found_and_rebuilt)
{
    struct res r;
    char path[600];

    create_topic("a", "2");
    ok(EVL_IN("x\ny\n", "produce", "a", "-p", "1"));
    r = EVL("consume", "a", "-g", "G", "-o", "beginning", "-c", "1");
    assert_ok(&r);
    res_free(&r);
    snprintf(path, sizeof path, "%s/meta/data.mdb", dir);
    cr_assert_eq(unlink(path), 0);
    r = EVL("topic", "list");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "a\n");
    cr_assert(strstr(r.err, "metadata lost"), "%s", r.err);
    res_free(&r);
    r = EVL("verify");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.out, "committed offsets lost with the metadata: group G"), "%s", r.out);
    res_free(&r);
    runtime_err(EVL("consume", "a", "-g", "G", "-c", "1"), "committed offsets were lost");
    ok(EVL("group", "reset", "G", "a", "--to-earliest"));
    r = EVL("consume", "a", "-g", "G", "-c", "2");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "x\ny\n");
    res_free(&r);
    r = EVL("verify");
    assert_ok(&r);
    res_free(&r);
}

Test(cli, truncated_metadata_is_an_error_naming_the_file)
{
    struct res r;
    char path[600];

    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", i);
        create_topic(name, "1");
    }
    snprintf(path, sizeof path, "%s/meta/data.mdb", dir);
    cr_assert_eq(truncate(path, 16384), 0);
    r = EVL("topic", "list");
    expect_runtime(&r);
    cr_assert(strstr(r.err, "data.mdb is truncated"), "%s", r.err);
    cr_assert(!strstr(r.err, "incompatible version"), "%s", r.err);
    res_free(&r);
    r = EVL("verify", "--repair");
    cr_assert_eq(r.status, 0, "exit %d: %s %s", r.status, r.out, r.err);
    cr_assert(strstr(r.out, "40 topics rebuilt from the files (repaired)"), "%s", r.out);
    res_free(&r);
    r = EVL("topic", "list");
    assert_ok(&r);
    cr_assert_eq(count_lines(r.out), 40);
    res_free(&r);
}

/* A batch that fails midway (ENOSPC): the error said the line was not
 * written while part of the batch was (one partition's records went, the
 * other's did not); a retry then duplicated them. It says exactly which
 * lines were written, and --print-offsets prints theirs. */
Test(cli, failed_batch_says_which_lines_were_written)
{
    char *in = malloc(200 * 120), *p = in, keys[2][16] = {"", ""};
    struct res r;

    test_small_fs(tpath("small"), 4u << 20);
    snprintf(dir, sizeof dir, "%s", tpath("small/log"));
    ok(EVL("topic", "create", "t", "-p", "2"));
    /* A key for each partition. */
    r = EVL_IN("k0:x\nk1:x\nk2:x\nk3:x\nk4:x\nk5:x\nk6:x\nk7:x\n", "produce", "t", "-K", ":",
               "--print-offsets");
    assert_ok(&r);
    const char *o = r.out;
    for (int i = 0; i < 8; i++, o = strchr(o, '\n') + 1)
        if (!keys[o[0] - '0'][0])
            snprintf(keys[o[0] - '0'], sizeof keys[0], "k%d", i);
    res_free(&r);
    cr_assert(keys[0][0] && keys[1][0], "no key for a partition");
    /* Room for the first partition's share of the batch, not the second's. */
    FILE *f = fopen(tpath("small/keep"), "w");
    static char room[20480];
    cr_assert_eq(fwrite(room, 1, sizeof room, f), sizeof room);
    fclose(f);
    test_fill_fs(tpath("small"));
    cr_assert_eq(unlink(tpath("small/keep")), 0);
    /* One batch (evl produce sends up to 1024 lines at once), 100 lines for
     * each partition; the first partition's share needs one allocation
     * step (16 KiB), which fits, the second's then does not. */
    for (int i = 1; i <= 200; i++)
        p += sprintf(p, "%s:%0100d\n", keys[i % 2 == 0], i);
    r = EVL_IN(in, "produce", "t", "-K", ":", "--print-offsets");
    free(in);
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    assert_one_error_line(&r);
    cr_assert_eq(count_lines(r.out), 100, "%s", r.out);
    cr_assert(strstr(r.err, "lines 1-200: cannot append to topic 't'; 100 of those 200 lines "
                            "were written (lines 1, 3, 5, 7, ...), the others were not: no "
                            "space left on device"), "%s", r.err);
    res_free(&r);
    cr_assert_eq(unlink(tpath("small/fill")), 0);
    r = EVL("consume", "t", "-o", "beginning", "-p", "0");
    assert_ok(&r);
    int in0 = count_lines(r.out);
    res_free(&r);
    r = EVL("consume", "t", "-o", "beginning", "-p", "1");
    assert_ok(&r);
    cr_assert_eq(in0 + count_lines(r.out), 8 + 100, "the log holds what was reported");
    res_free(&r);
}

/* ---- migrate (issue 19) ------------------------------------------------------------- */

/* A log of record format 1 (tests/fixtures/v1-log/): consume refuses it
 * and says to migrate; `evl migrate` converts it, once. */
Test(cli, migrate_converts_a_format_1_log)
{
    char cmd[1200];
    struct res r;

    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r tests/fixtures/v1-log '%s'", dir, dir);
    cr_assert_eq(system(cmd), 0);
    r = EVL("consume", "t", "-p", "0", "-c", "1");
    cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
    cr_assert(strstr(r.err, "evl migrate"), "%s", r.err);
    res_free(&r);
    r = EVL("migrate");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "8 segments converted to record format 2\n");
    res_free(&r);
    r = EVL("migrate", "--json");
    assert_ok(&r);
    cr_assert_str_eq(r.out, "{\"converted\":0,\"damaged\":false}\n");
    res_free(&r);
    r = EVL("consume", "t", "-p", "1", "-o", "2999", "-c", "1", "-f", "%o %s\n");
    assert_ok(&r);
    cr_assert(strncmp(r.out, "2999 p1-o2999-", 14) == 0, "%s", r.out);
    res_free(&r);
    r = EVL("verify");
    assert_ok(&r);
    res_free(&r);
}

/* Issue 19: "__" topics are the library's own; compaction from the tool. */
Test(cli, internal_topics_and_compaction)
{
    struct res r;

    runtime_err(EVL("topic", "create", "__x"), "library's own");
    create_topic("plain", "1");
    runtime_err(EVL("topic", "compact", "plain"), "not compacted");
    runtime_err(EVL("topic", "compact", "nope"), NULL);
    ok(EVL("topic", "create", "kv", "-c", "cleanup.policy=compact", "-c",
           "segment.bytes=65536"));
    char in[200000];
    size_t at = 0;
    for (int i = 0; i < 6000; i++)
        at += (size_t)snprintf(in + at, sizeof in - at, "k%d:value-%d\n", i % 10, i);
    ok(EVL_IN(in, "produce", "kv", "-K", ":"));
    ok(EVL("topic", "compact", "kv"));
    r = EVL("consume", "kv", "-o", "beginning", "-f", "%k=%s\n");
    assert_ok(&r);
    cr_assert_lt(count_lines(r.out), 6000, "%s", r.out);
    cr_assert(strstr(r.out, "k9=value-5999\n"), "the newest value stays");
    res_free(&r);
    r = EVL("topic", "list");
    assert_ok(&r);
    cr_assert(strstr(r.out, "kv") && !strstr(r.out, "__"), "%s", r.out);
    res_free(&r);
    usage_err(EVL("topic", "list", "--bogus"));
}

/* ---- connect (issue 20) -------------------------------------------------------------- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Kafka's quickstart pair of files: a file to a topic, the topic to a file;
 * SIGTERM stops both after flushing. */
Test(cli, connect_runs_kafka_connect_standalone_files)
{
    char in[320], out[320], src[320], snk[320], text[1024];
    snprintf(in, sizeof in, "%s", tpath("in.txt"));
    snprintf(out, sizeof out, "%s", tpath("out.txt"));
    snprintf(src, sizeof src, "%s", tpath("src.properties"));
    snprintf(snk, sizeof snk, "%s", tpath("sink.properties"));
    char lines[20000] = "";
    for (int i = 0; i < 1000; i++)
        snprintf(lines + strlen(lines), sizeof lines - strlen(lines), "reading-%d\n", i);
    write_text(in, lines);
    snprintf(text, sizeof text,
             "name=local-file-source\nconnector.class=FileStreamSource\ntasks.max=1\n"
             "file=%s\ntopic=connect-test\n", in);
    write_text(src, text);
    snprintf(text, sizeof text,
             "# the sink\nname=local-file-sink\nconnector.class = FileStreamSink\n"
             "tasks.max=1\nfile=%s\ntopics=connect-test\n", out);
    write_text(snk, text);
    create_topic("connect-test", "1");
    struct proc p = spawn(ARGS("-d", dir, "connect", "run", src, snk));
    for (int i = 0; i < 2000; i++) {
        struct stat st;
        if (stat(out, &st) == 0 && st.st_size == (off_t)strlen(lines))
            break;
        usleep(10000);
    }
    kill(p.pid, SIGTERM);
    struct res r = finish(p, NULL, 0, NULL);
    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);
    res_free(&r);
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    char got[20000] = "";
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = 0;
    cr_assert_str_eq(got, lines);
    /* A bad file: named, nothing runs. */
    snprintf(text, sizeof text, "name=x\nconnector.class=FileStreamSource\nfile=%s\n", in);
    write_text(src, text);
    r = EVL("connect", "run", src);
    expect_usage(&r);
    cr_assert(strstr(r.err, "topic: required"), "%s", r.err);
    res_free(&r);
    usage_err(EVL("connect", "fly"));
    usage_err(EVL("connect", "run", tpath("missing.properties")));
}
