/*
 * test_clients.c - the schema registry with clients nobody here wrote.
 *
 * Each test starts `evl registry serve` on 127.0.0.1 (port 0) over a fresh
 * log and runs third-party clients against it (tests/registry/clients/):
 * Debian's python3-confluent-kafka (SchemaRegistryClient and Confluent's
 * Avro, JSON Schema and Protobuf serializers) and npm's
 * @kafkajs/confluent-schema-registry (installed here with `npm ci` from
 * the committed package-lock.json when node_modules is missing; no npm
 * registry is a failure, not a skip). Checked: (1) and (2) each client's
 * scenario (register, same id again, compatible evolution, 409 refusals,
 * lookups, config, deletes, its own records round trip); (3) records
 * encoded by one client decode in the other, in all three formats (the
 * clients' `encode` mode: records only, so (3) and (4) do not hang on
 * a failure that (1) or (2) reports); (4)
 * `evl produce --value-schema` records decode in both clients, and both
 * clients' records, appended raw to a topic, decode in `evl consume
 * --value-format`; (5) an incompatible `evl produce --value-schema` exits
 * 1 and appends nothing, and the REST clients see what the CLI registered.
 * The expected values are tests/registry/clients/data/records.json.
 */
#include "helpers.h"

#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define PYTHON "/usr/bin/python3"
#define RUN_TIMEOUT_MS 60000

static char clients[PATH_MAX]; /* tests/registry/clients, absolute */
static char evl[PATH_MAX];
static pid_t server_pid;
static char url[64];

static const char *evl_path(void)
{
    const char *p = getenv("EVL_EVL");
    return p && *p ? p : "build/evl";
}

static void setup(void)
{
    test_dir_setup();
    cr_assert(realpath(evl_path(), evl), "no evl binary at %s (make build/evl)", evl_path());
    /* clients/ next to this file: from the source root, or beside build/evl */
    char cand[PATH_MAX];
    snprintf(cand, sizeof cand, "%s", evl);
    char *slash = strrchr(cand, '/');
    if (slash)
        *slash = 0; /* .../build */
    if ((slash = strrchr(cand, '/')))
        *slash = 0; /* the source root */
    strncat(cand, "/tests/registry/clients", sizeof cand - strlen(cand) - 1);
    if (!realpath("tests/registry/clients", clients) && !realpath(cand, clients))
        cr_assert_fail("tests/registry/clients not found from the cwd nor from %s", evl);
    cr_assert(mkdir(tpath("log"), 0755) == 0 && mkdir(tpath("work"), 0755) == 0);
    server_pid = 0;
}

static void teardown(void)
{
    if (server_pid > 0) { /* an assertion stopped the test midway */
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
    test_dir_teardown();
}

TestSuite(clients, .init = setup, .fini = teardown, .timeout = 180);

/* ---- processes ------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void child_common(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* dies with the test */
    for (int fd = 3; fd < 1024; fd++) /* not Criterion's sockets */
        close(fd);
    setenv("PYTHONDONTWRITEBYTECODE", "1", 1); /* no __pycache__ in the tree */
    unsetenv("EVL_DIR");
    signal(SIGPIPE, SIG_DFL);
}

/*
 * Run argv (argv[0] looked up in PATH) with in on stdin; *out gets stdout
 * and stderr together (malloc'd). Returns the exit status, 128 + signal,
 * or 255 after timeout_ms (the child is killed).
 */
static int run_in(const char *const *argv, const char *in, char **out, int timeout_ms)
{
    int pin[2], pout[2];
    cr_assert(pipe(pin) == 0 && pipe(pout) == 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(pout[1], 2);
        child_common();
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    size_t len = 0, sent = 0, inlen = in ? strlen(in) : 0;
    char *buf = malloc(1);
    cr_assert(buf);
    int64_t deadline = now_ms() + timeout_ms;
    bool timed_out = false;
    if (!inlen)
        close(pin[1]), pin[1] = -1;
    for (;;) {
        struct pollfd p[2] = {{pout[0], POLLIN, 0}, {pin[1], POLLOUT, 0}};
        int left = (int)(deadline - now_ms());
        if (left <= 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        if (poll(p, pin[1] >= 0 ? 2 : 1, left) < 0)
            continue;
        if (pin[1] >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(pin[1], in + sent, inlen - sent);
            if (n > 0)
                sent += (size_t)n;
            if (n < 0 || sent == inlen)
                close(pin[1]), pin[1] = -1;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            char chunk[65536];
            ssize_t n = read(pout[0], chunk, sizeof chunk);
            if (n <= 0)
                break;
            buf = realloc(buf, len + (size_t)n + 1);
            cr_assert(buf);
            memcpy(buf + len, chunk, (size_t)n);
            len += (size_t)n;
        }
    }
    buf[len] = 0;
    if (pin[1] >= 0)
        close(pin[1]);
    close(pout[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    *out = buf;
    if (timed_out)
        return 255;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run and require exit status 0; returns the output (malloc'd). */
static char *run_ok(const char *const *argv, const char *in, const char *what)
{
    char *out;
    int st = run_in(argv, in, &out, RUN_TIMEOUT_MS);
    cr_assert_eq(st, 0, "%s: exit status %d%s\n%s", what, st, st == 255 ? " (timed out)" : "", out);
    return out;
}

static const char *cpath(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    char *b = buf[i++ & 3];
    int n = snprintf(b, PATH_MAX, "%s/%s", clients, rel);
    cr_assert(n > 0 && n < PATH_MAX);
    return b;
}

/* ---- the server ----------------------------------------------------------- */

static void server_start(void)
{
    int pout[2];
    cr_assert(pipe(pout) == 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int err = open(tpath("server.err"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(pout[1], 1);
        if (err >= 0)
            dup2(err, 2);
        child_common();
        execl(evl, evl, "registry", "serve", "-d", tpath("log"), "--listen", "127.0.0.1:0",
              (char *)NULL);
        _exit(127);
    }
    server_pid = pid;
    close(pout[1]);
    char line[256];
    size_t len = 0;
    int64_t deadline = now_ms() + 10000;
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        struct pollfd p = {pout[0], POLLIN, 0};
        int left = (int)(deadline - now_ms());
        cr_assert(left > 0 && poll(&p, 1, left) > 0, "evl registry serve printed no address in 10 s");
        ssize_t n = read(pout[0], line + len, sizeof line - 1 - len);
        cr_assert(n > 0, "evl registry serve exited before listening (see %s)", tpath("server.err"));
        len += (size_t)n;
        line[len] = 0;
    }
    close(pout[0]); /* it prints nothing more */
    int port = 0;
    cr_assert(sscanf(line, "listening on http://127.0.0.1:%d", &port) == 1 && port > 0,
              "unexpected first line: %s", line);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
}

static void server_stop(void)
{
    cr_assert(kill(server_pid, SIGTERM) == 0);
    int st = 0;
    int64_t deadline = now_ms() + 10000;
    pid_t r;
    while ((r = waitpid(server_pid, &st, WNOHANG)) == 0 && now_ms() < deadline)
        usleep(20000);
    if (r == 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, &st, 0);
    }
    server_pid = 0;
    cr_assert(r > 0, "evl registry serve did not stop within 10 s of SIGTERM");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "evl registry serve: status %d after SIGTERM", st);
}

/* ---- the clients ---------------------------------------------------------- */

static void need_python(void)
{
    char *out;
    const char *argv[] = {PYTHON, "-c", "import confluent_kafka.schema_registry, avro, jsonschema, "
                                        "google.protobuf, requests", NULL};
    int st = run_in(argv, NULL, &out, RUN_TIMEOUT_MS);
    cr_assert_eq(st, 0, PYTHON " lacks python3-confluent-kafka and friends (make deps):\n%s", out);
    free(out);
}

/* node_modules from the lock file, once (flock: tests may run in parallel). */
static void need_node(void)
{
    char *out;
    const char *ver[] = {"node", "--version", NULL};
    cr_assert_eq(run_in(ver, NULL, &out, RUN_TIMEOUT_MS), 0, "no node in PATH: %s", out);
    free(out);
    const char *mark = cpath("node_modules/@kafkajs/confluent-schema-registry/package.json");
    if (access(mark, R_OK) == 0)
        return;
    int lk = open("/tmp/evl-test-clients-npm.lock", O_RDWR | O_CREAT, 0666);
    cr_assert(lk >= 0);
    flock(lk, LOCK_EX);
    if (access(mark, R_OK) != 0) {
        const char *argv[] = {"npm", "ci", "--prefix", clients, "--no-audit", "--no-fund", NULL};
        int st = run_in(argv, NULL, &out, 300000);
        cr_assert_eq(st, 0,
                     "`npm ci --prefix %s` failed (status %d): the npm registry must be "
                     "reachable to install @kafkajs/confluent-schema-registry:\n%s",
                     clients, st, out);
        free(out);
    }
    flock(lk, LOCK_UN);
    close(lk);
}

static void py(const char *a1, const char *a2, const char *a3, const char *a4, const char *what)
{
    const char *argv[] = {PYTHON, cpath("confluent_py.py"), a1, url, a2, a3, a4, NULL};
    free(run_ok(argv, NULL, what));
}

static void js(const char *a1, const char *a2, const char *a3, const char *what)
{
    const char *argv[] = {"node", cpath("kafkajs_registry.js"), a1, url, a2, a3, NULL};
    free(run_ok(argv, NULL, what));
}

static const char *fmts[] = {"avro", "json", "protobuf"};

static const char *wpath(const char *client, const char *fmt)
{
    static char buf[4][PATH_MAX];
    static int i;
    char *b = buf[i++ & 3];
    int n = snprintf(b, PATH_MAX, "%s/%s-%s.hex", tpath("work"), client, fmt);
    cr_assert(n > 0 && n < PATH_MAX);
    return b;
}

/* ---- the log, through the public API -------------------------------------- */

/* The values of topic (one partition) as hex lines in file; returns the count. */
static int topic_to_hex(const char *topic, const char *file)
{
    evl_log_t *log;
    cr_assert_eq(evl_log_open(tpath("log"), NULL, &log), 0);
    cr_assert_eq(evl_topic_partitions(log, topic), 1, "topic %s: want one partition", topic);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, topic, 0, &rd), 0);
    FILE *f = fopen(file, "w");
    cr_assert(f);
    const evl_record_t *rec;
    int n = 0;
    while (evl_reader_next(rd, 0, &rec) == 0) {
        size_t len;
        const unsigned char *v = evl_record_value(rec, &len);
        for (size_t i = 0; i < len; i++)
            fprintf(f, "%02x", v[i]);
        fputc('\n', f);
        n++;
    }
    fclose(f);
    evl_reader_close(rd);
    evl_log_close(log);
    return n;
}

/* Append the hex lines of file as raw values to a new one-partition topic. */
static void hex_to_topic(const char *file, const char *topic)
{
    evl_log_t *log;
    evl_producer_t *prod;
    cr_assert_eq(evl_log_open(tpath("log"), NULL, &log), 0);
    cr_assert_eq(evl_topic_create(log, topic, 1, NULL), 0);
    cr_assert_eq(evl_producer_new(log, topic, NULL, &prod), 0);
    FILE *f = fopen(file, "r");
    cr_assert(f, "%s: %s", file, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 1) {
        size_t len = (size_t)n / 2;
        unsigned char *v = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            cr_assert(sscanf(line + 2 * i, "%2hhx", &v[i]) == 1);
        cr_assert_eq(evl_producer_send_kv(prod, NULL, 0, v, len, NULL, NULL), 0);
        free(v);
    }
    free(line);
    fclose(f);
    evl_producer_close(prod);
    evl_log_close(log);
}

static int64_t topic_end(const char *topic)
{
    evl_log_t *log;
    evl_partition_info_t info;
    int64_t end = 0;
    cr_assert_eq(evl_log_open(tpath("log"), NULL, &log), 0);
    int np = evl_topic_partitions(log, topic);
    for (int p = 0; p < np; p++) {
        cr_assert_eq(evl_partition_info(log, topic, p, &info), 0);
        end += info.end_offset;
    }
    evl_log_close(log);
    return end;
}

static json_t *expected(const char *key)
{
    json_error_t je;
    json_t *all = json_load_file(cpath("data/records.json"), 0, &je);
    cr_assert(all, "records.json: %s", je.text);
    json_t *v = json_incref(json_object_get(all, key));
    json_decref(all);
    cr_assert(json_is_array(v));
    return v;
}

/* The records of key as JSON lines (stdin of evl produce --value-schema). */
static char *jsonl(const char *key)
{
    json_t *recs = expected(key), *r;
    size_t i;
    char *s = calloc(1, 1);
    json_array_foreach(recs, i, r) {
        char *line = json_dumps(r, JSON_COMPACT | JSON_ENCODE_ANY);
        s = realloc(s, strlen(s) + strlen(line) + 2);
        strcat(strcat(s, line), "\n");
        free(line);
    }
    json_decref(recs);
    return s;
}

static const char *schema_file(const char *fmt)
{
    return !strcmp(fmt, "avro") ? cpath("data/user_v2.avsc")
           : !strcmp(fmt, "json") ? cpath("data/user.schema.json")
                                  : cpath("data/user.proto");
}

/* ---- the tests ------------------------------------------------------------ */

Test(clients, python_confluent_kafka_scenario)
{
    need_python();
    server_start();
    py("scenario", tpath("work"), NULL, NULL, "confluent_py.py scenario");
    server_stop();
}

Test(clients, node_kafkajs_scenario)
{
    need_node();
    server_start();
    js("scenario", tpath("work"), NULL, "kafkajs_registry.js scenario");
    server_stop();
}

Test(clients, encode_in_one_client_decode_in_the_other)
{
    need_python();
    need_node();
    server_start();
    py("encode", tpath("work"), NULL, NULL, "confluent_py.py encode");
    js("encode", tpath("work"), NULL, "kafkajs_registry.js encode");
    for (int i = 0; i < 3; i++) {
        char what[128];
        snprintf(what, sizeof what, "kafkajs decoding python's %s records", fmts[i]);
        js("decode", fmts[i], wpath("py", fmts[i]), what);
        snprintf(what, sizeof what, "python decoding kafkajs's %s records", fmts[i]);
        py("decode", fmts[i], wpath("js", fmts[i]), tpath("work"), what);
    }
    server_stop();
}

Test(clients, evl_produce_and_consume_with_the_clients)
{
    need_python();
    need_node();
    server_start();
    /* evl produce --value-schema -> python and kafkajs */
    for (int i = 0; i < 3; i++) {
        const char *fmt = fmts[i];
        char topic[32], hex[PATH_MAX], what[128];
        snprintf(topic, sizeof topic, "c-%s", fmt);
        char *in = jsonl(!strcmp(fmt, "avro") ? "avro_json" : fmt);
        const char *argv[] = {evl, "produce", topic, "-d", tpath("log"), "--create",
                              "--value-schema", schema_file(fmt), "--schema-type", fmt, NULL};
        snprintf(what, sizeof what, "evl produce --value-schema (%s)", fmt);
        free(run_ok(argv, in, what));
        free(in);
        snprintf(hex, sizeof hex, "%s/c-%s.hex", tpath("work"), fmt);
        cr_assert_eq(topic_to_hex(topic, hex), 2, "%s: want 2 records", topic);
        snprintf(what, sizeof what, "python decoding evl's %s records", fmt);
        py("decode", fmt, hex, tpath("work"), what);
        snprintf(what, sizeof what, "kafkajs decoding evl's %s records", fmt);
        js("decode", fmt, hex, what);
    }
    /* python and kafkajs -> raw topic -> evl consume --value-format */
    py("encode", tpath("work"), NULL, NULL, "confluent_py.py encode");
    js("encode", tpath("work"), NULL, "kafkajs_registry.js encode");
    static const char *who[] = {"py", "js"};
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 3; i++) {
            const char *fmt = fmts[i];
            char topic[32], what[128];
            snprintf(topic, sizeof topic, "from-%s-%s", who[c], fmt);
            hex_to_topic(wpath(who[c], fmt), topic);
            const char *argv[] = {evl, "consume", topic, "-d", tpath("log"), "--value-format", fmt,
                                  NULL};
            snprintf(what, sizeof what, "evl consume --value-format %s of %s's records", fmt,
                     who[c]);
            char *out = run_ok(argv, NULL, what);
            json_t *want = expected(!strcmp(fmt, "avro") ? "avro_json" : fmt), *w;
            size_t k;
            char *save = NULL, *line = strtok_r(out, "\n", &save);
            json_array_foreach(want, k, w) {
                cr_assert(line, "%s: only %zu records printed", what, k);
                json_error_t je;
                json_t *got = json_loads(line, 0, &je);
                char *ws = json_dumps(w, JSON_COMPACT);
                cr_assert(got && json_equal(got, w), "%s: record %zu is %s, want %s", what, k, line,
                          ws);
                free(ws);
                json_decref(got);
                line = strtok_r(NULL, "\n", &save);
            }
            cr_assert_null(line, "%s: more output than records: %s", what, line);
            json_decref(want);
            free(out);
        }
    server_stop();
}

Test(clients, incompatible_evl_produce_appends_nothing)
{
    need_python();
    server_start();
    /* v1 registered over REST; the CLI's incompatible schema is refused */
    py("register", "mixed-value", cpath("data/user_v1.avsc"), NULL, "register v1 over REST");
    const char *bad[] = {evl, "produce", "mixed", "-d", tpath("log"), "--create",
                         "--value-schema", cpath("data/user_bad.avsc"), NULL};
    char *out;
    int st = run_in(bad, "{\"id\":1,\"name\":\"x\",\"email\":null,\"age\":3}\n", &out,
                    RUN_TIMEOUT_MS);
    cr_assert_eq(st, 1, "incompatible evl produce: status %d, want 1:\n%s", st, out);
    cr_assert(strstr(out, "ncompatible"), "no word of incompatibility in: %s", out);
    free(out);
    cr_assert_eq(topic_end("mixed"), 0, "the refused produce appended records");
    const char *versions[] = {PYTHON, cpath("confluent_py.py"), "versions", url, "mixed-value", NULL};
    out = run_ok(versions, NULL, "versions over REST");
    cr_assert(strcmp(out, "[1]\n") == 0, "versions after the refusal: %s", out);
    free(out);
    /* a compatible one goes in, and the server sees the CLI's version */
    const char *good[] = {evl, "produce", "mixed", "-d", tpath("log"), "--create",
                          "--value-schema", cpath("data/user_v2.avsc"), NULL};
    free(run_ok(good, "{\"id\":1,\"name\":\"x\",\"email\":null}\n", "compatible evl produce"));
    cr_assert_eq(topic_end("mixed"), 1);
    out = run_ok(versions, NULL, "versions over REST");
    cr_assert(strcmp(out, "[1, 2]\n") == 0, "the server does not see the CLI's version: %s", out);
    free(out);
    server_stop();
}
