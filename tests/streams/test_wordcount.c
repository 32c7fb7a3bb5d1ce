/*
 * test_wordcount.c - Kafka Streams' WordCount on libeventlog-streams: the
 * output Kafka's documentation shows for its demo, the counts restored
 * from the changelog after the state directory is deleted, and exactly
 * once under repeated kill -9 of the processing process (each word's
 * counts go up by one at a time, never repeat, and end at the true
 * count).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <ctype.h>
#include <eventlog.h>
#include <eventlog/streams.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>

#include "helpers.h"

static void setup(void)
{
    test_dir_setup();
}

static void teardown(void)
{
    test_dir_teardown();
}

TestSuite(wordcount, .init = setup, .fini = teardown);

static int split(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    const char *s = r->value;
    char word[256];
    size_t n = 0;
    for (size_t i = 0; s && i <= r->value_len; i++) {
        int c = i < r->value_len ? (unsigned char)s[i] : ' ';
        if (isalnum(c)) {
            if (n < sizeof word)
                word[n++] = (char)tolower(c);
        } else if (n) {
            int rc = evl_emit(em, NULL, 0, word, n, -1);
            if (rc)
                return rc;
            n = 0;
        }
    }
    return 0;
}

static int by_word(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1);
}

static int as_text(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    const unsigned char *v = r->value;
    long long n = 0;
    for (size_t i = 0; i < 8 && i < r->value_len; i++)
        n = n << 8 | v[i];
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%lld", n);
    return evl_emit(em, NULL, 0, buf, (size_t)len, -1);
}

static evl_streams_builder_t *wordcount_topology(void)
{
    evl_streams_builder_t *b;
    cr_assert_eq(evl_streams_builder_new(&b), 0);
    evl_kstream_t *words = evl_stream_flat_map_values(evl_stream(b, "in"), split, NULL);
    evl_ktable_t *counts = evl_grouped_count(evl_stream_group_by(words, by_word, NULL), "counts");
    cr_assert_eq(evl_stream_to(evl_stream_map_values(evl_table_to_stream(counts), as_text, NULL),
                               "out"),
                 0);
    cr_assert_null(evl_streams_builder_error(b));
    return b;
}

static void send_lines(evl_log_t *log, const char *const *lines, size_t n)
{
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, "in", NULL, &p), 0);
    for (size_t i = 0; i < n; i++)
        test_send(p, 0, NULL, lines[i], 0);
    evl_producer_close(p);
}

/* "key value" lines of topic out, waiting until there are want of them. */
static char *read_out(evl_log_t *log, size_t want)
{
    evl_reader_t *rd;
    char *buf = calloc(1, 1 << 20);
    size_t len = 0, got = 0;
    for (int tries = 0; got < want && tries < 200; tries++) {
        if (evl_reader_open(log, "out", 0, &rd)) {
            usleep(50000);
            continue;
        }
        len = 0;
        got = 0;
        const evl_record_t *r;
        while (evl_reader_next(rd, 0, &r) == 0) {
            size_t kl, vl;
            const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
            len += (size_t)snprintf(buf + len, (1 << 20) - len, "%.*s %.*s\n", (int)kl, k,
                                    (int)vl, v);
            got++;
        }
        evl_reader_close(rd);
        if (got < want)
            usleep(50000);
    }
    return buf;
}

static evl_streams_t *start(evl_log_t *log, evl_streams_builder_t *b, const char *guarantee)
{
    const char *conf[] = {"application.id", "wc", "processing.guarantee", guarantee,
                          "state.dir", tpath("state")};
    char err[256];
    evl_streams_t *app;
    int rc = evl_streams_new(log, b, conf, 3, err, sizeof err, &app);
    cr_assert_eq(rc, 0, "%s: %s", evl_strerror(rc), err);
    cr_assert_eq(evl_streams_start(app), 0);
    return app;
}

/* The example output of Kafka's WordCount documentation. */
Test(wordcount, kafka_documented_output)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "in", 1, NULL), 0);
    evl_streams_builder_t *b = wordcount_topology();
    evl_streams_t *app = start(log, b, "exactly_once");
    const char *lines[] = {"all streams lead to kafka", "hello kafka streams", "join kafka summit"};
    send_lines(log, lines, 3);
    char *out = read_out(log, 11);
    cr_assert_str_eq(out, "all 1\nstreams 1\nlead 1\nto 1\nkafka 1\n"
                          "hello 1\nkafka 2\nstreams 2\n"
                          "join 1\nkafka 3\nsummit 1\n");
    free(out);
    void *v;
    size_t vl;
    cr_assert_eq(evl_streams_store_get(app, "counts", "kafka", 5, &v, &vl), 0);
    cr_assert_eq(vl, 8);
    cr_assert_eq(((unsigned char *)v)[7], 3);
    free(v);
    cr_assert_eq(evl_streams_store_get(app, "counts", "nope", 4, &v, &vl), EVL_ENOTFOUND);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
    evl_log_close(log);
}

/* The state directory deleted between two runs: the counts come back
 * from the changelog. */
Test(wordcount, restored_from_changelog)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "in", 1, NULL), 0);
    evl_streams_builder_t *b = wordcount_topology();
    evl_streams_t *app = start(log, b, "exactly_once");
    const char *one[] = {"a b a", "b a"};
    send_lines(log, one, 2);
    free(read_out(log, 5));
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tpath("state"));
    cr_assert_eq(system(cmd), 0);
    b = wordcount_topology();
    app = start(log, b, "exactly_once");
    const char *two[] = {"a"};
    send_lines(log, two, 1);
    char *out = read_out(log, 6);
    cr_assert_str_eq(out, "a 1\nb 1\na 2\nb 2\na 3\na 4\n");
    free(out);
    cr_assert_gt(evl_streams_metric(app, EVL_SM_RESTORED), 0);
    cr_assert_eq(evl_streams_close(app), 0);
    evl_streams_builder_free(b);
    evl_log_close(log);
}

/* ---- exactly once under kill -9 ---- */

static const char *wordcount_bin(void)
{
    const char *p = getenv("EVL_WORDCOUNT");
    return p && *p ? p : "build/examples/wordcount";
}

static const char *standby_n = "0";

static pid_t spawn_wordcount_in(const char *state)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(wordcount_bin(), "wordcount", "-d", tpath("log"), "--state-dir", state, "--guarantee", getenv("WC_G") ? getenv("WC_G") : "exactly_once",
              "--standby", standby_n, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static pid_t spawn_wordcount(void)
{
    return spawn_wordcount_in(tpath("state"));
}

#define WORDS 7
static const char *const vocab[WORDS] = {"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"};

/* Wait until the output holds a count per input word, stop the
 * processors cleanly, and check each word's counts: 1, 2, ... the true
 * count, nothing twice. */
static void verify(evl_log_t *log, const long *truth, pid_t *pids, int npids)
{
    long total = 0;
    for (int i = 0; i < WORDS; i++)
        total += truth[i];
    evl_reader_t *rd;
    long last[WORDS], seen = 0;
    for (int i = 0; i < WORDS; i++)
        last[i] = 0;
    for (int tries = 0; tries < 600; tries++) {
        seen = 0;
        if (evl_reader_open(log, "streams-wordcount-output", 0, &rd) == 0) {
            const evl_record_t *r;
            while (evl_reader_next(rd, 0, &r) == 0)
                seen++;
            evl_reader_close(rd);
        }
        if (seen >= total)
            break;
        usleep(50000);
    }
    usleep(300000); /* anything past the true count would show now */
    for (int i = 0; i < npids; i++) {
        kill(pids[i], SIGTERM);
        int st;
        waitpid(pids[i], &st, 0);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wordcount stopped with %d", st);
    }
    cr_assert_eq(evl_reader_open(log, "streams-wordcount-output", 0, &rd), 0);
    const evl_record_t *r;
    long n = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t kl, vl;
        const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
        int w = -1;
        for (int i = 0; i < WORDS; i++)
            if (strlen(vocab[i]) == kl && !memcmp(vocab[i], k, kl))
                w = i;
        cr_assert_geq(w, 0, "unknown word %.*s", (int)kl, k);
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)vl, v);
        long c = strtol(num, NULL, 10);
        cr_assert_eq(c, last[w] + 1, "%s: %ld after %ld (offset %lld)", vocab[w], c, last[w],
                     (long long)evl_record_offset(r));
        last[w] = c;
        n++;
    }
    evl_reader_close(rd);
    for (int i = 0; i < WORDS; i++)
        cr_assert_eq(last[i], truth[i], "%s: %ld, truly %ld", vocab[i], last[i], truth[i]);
    cr_assert_eq(n, total);
}

typedef struct feeder {
    evl_log_t *log;
    long truth[WORDS];
    int parts;
    atomic_bool stop;
} feeder_t;

/* Lines keep coming while the processor runs and dies. */
static void *feed(void *arg)
{
    feeder_t *f = arg;
    evl_producer_t *p;
    if (evl_producer_new(f->log, "streams-plaintext-input", NULL, &p))
        return NULL;
    unsigned seed = 12345;
    while (!atomic_load(&f->stop)) {
        for (int i = 0; i < 50; i++) {
            char line[256];
            size_t len = 0;
            for (int w = 0; w < 5; w++) {
                int x = (int)(rand_r(&seed) % WORDS);
                f->truth[x]++;
                len += (size_t)snprintf(line + len, sizeof line - len, "%s ", vocab[x]);
            }
            evl_msg_t m = {.value = line, .value_len = len, .timestamp = -1,
                           .partition = (int32_t)(rand_r(&seed) % (unsigned)f->parts)};
            if (evl_producer_send(p, &m, 0))
                break;
        }
        usleep(2000);
    }
    evl_producer_close(p);
    return NULL;
}

Test(wordcount, exactly_once_under_kill_9, .timeout = 120)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "streams-plaintext-input", 1, NULL), 0);
    static feeder_t f;
    memset(&f, 0, sizeof f);
    f.log = log;
    f.parts = 1;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, feed, &f), 0);
    unsigned seed = 777;
    int kills = test_quick() ? 10 : 20;
    pid_t pid = spawn_wordcount();
    for (int k = 0; k < kills; k++) {
        usleep((useconds_t)(100000 + rand_r(&seed) % 150000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pid = spawn_wordcount();
    }
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);
    verify(log, f.truth, &pid, 1);
    evl_log_close(log);
}

/* Two instances (processes with state directories of their own) split a
 * 4-partition input; one is killed -9 again and again, its tasks move to
 * the other and back, with their state from the changelog. */
static void two_instances_one_killed(void)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "streams-plaintext-input", 4, NULL), 0);
    static feeder_t f;
    memset(&f, 0, sizeof f);
    f.log = log;
    f.parts = 4;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, feed, &f), 0);
    unsigned seed = 4242;
    pid_t pids[2] = {spawn_wordcount_in(tpath("state-a")), spawn_wordcount_in(tpath("state-b"))};
    int kills = test_quick() ? 6 : 12;
    for (int k = 0; k < kills; k++) {
        usleep((useconds_t)(200000 + rand_r(&seed) % 200000));
        kill(pids[1], SIGKILL);
        waitpid(pids[1], NULL, 0);
        usleep(100000);
        pids[1] = spawn_wordcount_in(tpath("state-b"));
    }
    atomic_store(&f.stop, true);
    pthread_join(th, NULL);
    verify(log, f.truth, pids, 2);
    evl_log_close(log);
}

Test(wordcount, two_instances_one_killed, .timeout = 120)
{
    two_instances_one_killed();
}

/* The same with standby replicas: each instance keeps warm copies of the
 * other's tasks, which take over from them, exactly. */
Test(wordcount, two_instances_one_killed_with_standbys, .timeout = 120)
{
    standby_n = "1";
    two_instances_one_killed();
}
