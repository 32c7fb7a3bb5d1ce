/*
 * wordcount.c - Kafka Streams' WordCountDemo on libeventlog-streams.
 *
 *   wordcount [-d DIR] [--guarantee exactly_once|at_least_once]
 *             [--state-dir DIR] [--standby N]
 *
 * Reads lines from streams-plaintext-input, splits them into lower-case
 * words, counts each word, and writes WORD -> count (decimal text) to
 * streams-wordcount-output at every change, as Kafka's demo does;
 * application.id streams-wordcount. Runs until SIGINT or SIGTERM, then
 * commits and exits 0. Creates its topics when missing.
 */
#include <ctype.h>
#include <eventlog.h>
#include <eventlog/streams.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* "Hello Kafka, hello" -> "hello", "kafka", "hello" (Kafka's \W+ split) */
static int split(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    const char *s = r->value;
    char word[256];
    size_t n = 0;
    for (size_t i = 0; s && i <= r->value_len; i++) {
        int c = i < r->value_len ? (unsigned char)s[i] : ' ';
        if (isalnum(c) || c == '_') {
            if (n < sizeof word)
                word[n++] = (char)tolower(c);
        } else if (n) {
            int rc = evl_emit(em, word, n, word, n, -1);
            if (rc)
                return rc;
            n = 0;
        }
    }
    return 0;
}

static int by_word(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1); /* the key: the word */
}

/* Kafka's Long (8 bytes, big-endian) as decimal text */
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

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    const char *dir = "evl-data", *guarantee = "exactly_once", *state = NULL, *standby = "0";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--guarantee") && i + 1 < argc)
            guarantee = argv[++i];
        else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
            state = argv[++i];
        else if (!strcmp(argv[i], "--standby") && i + 1 < argc)
            standby = argv[++i];
        else {
            fprintf(stderr, "usage: wordcount [-d DIR] [--guarantee exactly_once|at_least_once]"
                            " [--state-dir DIR] [--standby N]\n");
            return 2;
        }
    }
    char statebuf[1024];
    if (!state) {
        snprintf(statebuf, sizeof statebuf, "%s/streams-state", dir);
        state = statebuf;
    }
    evl_log_t *log;
    int rc = evl_log_open(dir, NULL, &log);
    if (rc) {
        fprintf(stderr, "wordcount: %s: %s\n", dir, evl_strerror(rc));
        return 1;
    }
    evl_topic_create(log, "streams-plaintext-input", 1, NULL);
    evl_topic_create(log, "streams-wordcount-output", 1, NULL);

    evl_streams_builder_t *b;
    evl_streams_builder_new(&b);
    evl_kstream_t *lines = evl_stream(b, "streams-plaintext-input");
    evl_kstream_t *words = evl_stream_flat_map_values(lines, split, NULL);
    evl_ktable_t *counts = evl_grouped_count(evl_stream_group_by(words, by_word, NULL), "counts");
    evl_stream_to(evl_stream_map_values(evl_table_to_stream(counts), as_text, NULL),
                  "streams-wordcount-output");

    const char *conf[] = {"application.id", "streams-wordcount", "processing.guarantee", guarantee,
                          "state.dir", state, "num.standby.replicas", standby};
    char err[256];
    evl_streams_t *app;
    rc = evl_streams_new(log, b, conf, 4, err, sizeof err, &app);
    if (rc) {
        fprintf(stderr, "wordcount: %s: %s\n", evl_strerror(rc), err);
        return 1;
    }
    if ((rc = evl_streams_start(app)) == 0)
        while (!stop && !evl_streams_error(app, NULL, 0))
            usleep(50 * 1000);
    int crc = evl_streams_close(app);
    if (!rc)
        rc = crc;
    evl_streams_builder_free(b);
    evl_log_close(log);
    if (rc)
        fprintf(stderr, "wordcount: %s\n", evl_strerror(rc));
    return rc ? 1 : 0;
}
