/*
 * streams.c - `make -C bench streams` (also run by `make bench`): what the
 * streams library costs. The word count (Kafka's WordCountDemo) over N
 * lines of 10 words from a vocabulary of 10,000, one stream thread:
 *
 *  - with processing.guarantee at_least_once and exactly_once;
 *  - beside the baseline of the same run: a hand-written C loop reading the
 *    same topic, splitting, counting in a hash map and appending each
 *    word's new count (decimal text) to an output topic, as the topology
 *    does, but without repartitioning, state stores or commits.
 *
 * A windowed aggregation the same way: sensor readings (1,000 sensors, a
 * reading every 10 ms of event time) counted per sensor per 1-minute
 * tumbling window with 10 s of grace, each update appended, beside a
 * hand-written loop with a hash map of (sensor, window) that drops closed
 * windows.
 *
 * Then a task's state restored from its changelog: the counts of the
 * vocabulary (and of 1 M distinct keys) rebuilt after state.dir is deleted.
 *
 *   bin/bench_streams [LINES]   (default 100000; BENCH_SCALE scales it)
 */
#include <ctype.h>
#include <eventlog.h>
#include <eventlog/streams.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_streams: %s: %s\n", what, evl_strerror(rc));
    exit(1);
}

static int split(void *arg __attribute__((unused)), const evl_srec_t *r, evl_emit_t *em)
{
    const char *s = r->value;
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= r->value_len; i++) {
        int c = i < r->value_len ? (unsigned char)s[i] : ' ';
        if (isalnum(c)) {
            if (!n)
                start = i;
            n++;
        } else if (n) {
            int rc = evl_emit(em, NULL, 0, s + start, n, -1);
            if (rc)
                return rc;
            n = 0;
        }
    }
    return 0;
}

static int by_word(void *arg __attribute__((unused)), const evl_srec_t *r, evl_emit_t *em)
{
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1);
}

static int as_text(void *arg __attribute__((unused)), const evl_srec_t *r, evl_emit_t *em)
{
    const unsigned char *v = r->value;
    long long n = 0;
    for (size_t i = 0; i < 8 && i < r->value_len; i++)
        n = n << 8 | v[i];
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%lld", n);
    return evl_emit(em, NULL, 0, buf, (size_t)len, -1);
}

static int64_t end_of(evl_log_t *log, const char *topic)
{
    evl_partition_info_t pi;
    return evl_partition_info(log, topic, 0, &pi) ? 0 : pi.end_offset;
}

/* Application id of topology b on log, until `out` holds want records
 * (or, with probe, until store answers for that key): seconds. */
static double run_app(evl_log_t *log, evl_streams_builder_t *b, const char *dir, const char *id,
                      const char *guarantee, const char *out, int64_t want, const char *store,
                      const char *probe)
{
    char state[512];
    snprintf(state, sizeof state, "%s/state-%s", dir, id);
    const char *conf[] = {"application.id", id, "processing.guarantee", guarantee,
                          "state.dir", state};
    char err[256];
    evl_streams_t *app;
    int rc = evl_streams_new(log, b, conf, 3, err, sizeof err, &app);
    if (rc) {
        fprintf(stderr, "bench_streams: %s\n", err);
        exit(1);
    }
    double t0 = now_s();
    if ((rc = evl_streams_start(app)))
        die("start", rc);
    if (probe) { /* until the store answers: the task's state is restored */
        void *v;
        size_t vl;
        while (evl_streams_store_get(app, store, probe, strlen(probe), &v, &vl) &&
               !evl_streams_error(app, NULL, 0))
            usleep(1000);
        if (!evl_streams_error(app, NULL, 0))
            free(v);
    } else {
        while (end_of(log, out) < want && !evl_streams_error(app, NULL, 0))
            usleep(2000);
    }
    double dt = now_s() - t0;
    if ((rc = evl_streams_close(app)))
        die("streams", rc);
    evl_streams_builder_free(b);
    return dt;
}

/* The word count on topic in. */
static double run_topology_on(evl_log_t *log, const char *dir, const char *in, const char *id,
                              const char *guarantee, const char *out, int64_t want,
                              const char *probe)
{
    evl_streams_builder_t *b;
    evl_streams_builder_new(&b);
    evl_kstream_t *w = evl_stream_flat_map_values(evl_stream(b, in), split, NULL);
    evl_ktable_t *t = evl_grouped_count(evl_stream_group_by(w, by_word, NULL), "counts");
    evl_stream_to(evl_stream_map_values(evl_table_to_stream(t), as_text, NULL), out);
    return run_app(log, b, dir, id, guarantee, out, want, "counts", probe);
}

static double run_topology(evl_log_t *log, const char *dir, const char *guarantee, const char *out,
                           int64_t want)
{
    return run_topology_on(log, dir, "lines", guarantee, guarantee, out, want, NULL);
}

/* ---- the windowed count ---- */

#define SENSORS 1000
#define WSIZE 60000
#define WGRACE 10000
#define T0 1768471200000LL

static double run_windowed(evl_log_t *log, const char *dir, const char *guarantee, int64_t n)
{
    evl_streams_builder_t *b;
    evl_streams_builder_new(&b);
    evl_kwindowed_t *w = evl_grouped_windowed_by(evl_stream_group_by_key(evl_stream(b, "readings")),
                                                 WSIZE, WSIZE, WGRACE);
    char out[64], id[64];
    snprintf(out, sizeof out, "wout-%s", guarantee);
    snprintf(id, sizeof id, "w-%s", guarantee);
    evl_stream_to(evl_table_to_stream(evl_windowed_count(w, "wcounts")), out);
    return run_app(log, b, dir, id, guarantee, out, n, "wcounts", NULL);
}

typedef struct wslot {
    int sensor;          /* -1: free */
    int64_t start;
    int64_t n;
} wslot_t;

#define WBITS 14

static double hand_windowed(evl_log_t *log, int64_t n)
{
    wslot_t *h = malloc((1u << WBITS) * sizeof *h);
    for (size_t i = 0; i < (1u << WBITS); i++)
        h[i].sensor = -1;
    evl_reader_t *rd;
    evl_producer_t *p;
    if (evl_reader_open(log, "readings", 0, &rd) || evl_topic_create(log, "hand-wout", 1, NULL) ||
        evl_producer_new(log, "hand-wout", NULL, &p))
        die("hand", -1);
    int64_t stream_time = 0, swept = 0;
    double t0 = now_s();
    for (int64_t i = 0; i < n; i++) {
        const evl_record_t *r;
        if (evl_reader_next(rd, 1000, &r))
            die("read", -1);
        size_t kl;
        const char *k = evl_record_key(r, &kl);
        int sensor = atoi(k + 1);
        int64_t ts = evl_record_timestamp(r), start = ts - ts % WSIZE;
        if (ts > stream_time)
            stream_time = ts;
        size_t at = ((uint64_t)sensor * 2654435761u ^ (uint64_t)start) & ((1u << WBITS) - 1);
        while (h[at].sensor != -1 && (h[at].sensor != sensor || h[at].start != start))
            at = (at + 1) & ((1u << WBITS) - 1);
        if (h[at].sensor == -1)
            h[at] = (wslot_t){sensor, start, 0};
        char key[32], val[8];
        memcpy(key, k, kl);
        for (int q = 0; q < 8; q++)
            key[kl + q] = (char)((uint64_t)start >> (56 - 8 * q));
        int64_t c = ++h[at].n;
        for (int q = 0; q < 8; q++)
            val[q] = (char)((uint64_t)c >> (56 - 8 * q));
        if (evl_producer_send_kv(p, key, kl + 8, val, 8, NULL, NULL))
            die("send", -1);
        if (stream_time - swept >= WSIZE) { /* closed windows leave the map */
            wslot_t *old = h;
            h = malloc((1u << WBITS) * sizeof *h);
            for (size_t q = 0; q < (1u << WBITS); q++)
                h[q].sensor = -1;
            for (size_t q = 0; q < (1u << WBITS); q++)
                if (old[q].sensor != -1 && old[q].start + WSIZE + WGRACE > stream_time) {
                    size_t a = ((uint64_t)old[q].sensor * 2654435761u ^ (uint64_t)old[q].start) &
                               ((1u << WBITS) - 1);
                    while (h[a].sensor != -1)
                        a = (a + 1) & ((1u << WBITS) - 1);
                    h[a] = old[q];
                }
            free(old);
            swept = stream_time;
        }
    }
    double dt = now_s() - t0;
    evl_producer_close(p);
    evl_reader_close(rd);
    free(h);
    return dt;
}

/* ---- the hand-written loop ---- */

#define HBITS 16
typedef struct slot {
    char *word;
    size_t len;
    long long n;
} slot_t;

static double hand_loop(evl_log_t *log, int64_t lines)
{
    slot_t *h = calloc(1u << HBITS, sizeof *h);
    evl_reader_t *rd;
    evl_producer_t *p;
    if (evl_reader_open(log, "lines", 0, &rd) || evl_topic_create(log, "hand-out", 1, NULL) ||
        evl_producer_new(log, "hand-out", NULL, &p))
        die("hand", -1);
    double t0 = now_s();
    for (int64_t i = 0; i < lines; i++) {
        const evl_record_t *r;
        if (evl_reader_next(rd, 1000, &r))
            die("read", -1);
        size_t vl;
        const char *s = evl_record_value(r, &vl);
        size_t n = 0, start = 0;
        for (size_t k = 0; k <= vl; k++) {
            int c = k < vl ? (unsigned char)s[k] : ' ';
            if (isalnum(c)) {
                if (!n)
                    start = k;
                n++;
                continue;
            }
            if (!n)
                continue;
            uint64_t hash = 1469598103934665603ull;
            for (size_t q = 0; q < n; q++)
                hash = (hash ^ (unsigned char)s[start + q]) * 1099511628211ull;
            size_t at = hash & ((1u << HBITS) - 1);
            while (h[at].word && (h[at].len != n || memcmp(h[at].word, s + start, n)))
                at = (at + 1) & ((1u << HBITS) - 1);
            if (!h[at].word) {
                h[at].word = strndup(s + start, n);
                h[at].len = n;
            }
            char buf[24];
            int len = snprintf(buf, sizeof buf, "%lld", ++h[at].n);
            if (evl_producer_send_kv(p, s + start, n, buf, (size_t)len, NULL, NULL))
                die("send", -1);
            n = 0;
        }
    }
    double dt = now_s() - t0;
    evl_producer_close(p);
    evl_reader_close(rd);
    for (size_t i = 0; i < (1u << HBITS); i++)
        free(h[i].word);
    free(h);
    return dt;
}

int main(int argc, char **argv)
{
    double scale = getenv("BENCH_SCALE") ? atof(getenv("BENCH_SCALE")) : 1.0;
    int64_t lines = (int64_t)((argc > 1 ? atol(argv[1]) : 100000) * scale);
    if (lines < 1000)
        lines = 1000;
    char dir[] = "/tmp/bench_streams.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char logdir[600];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    evl_log_t *log;
    int rc = evl_log_open(logdir, NULL, &log);
    if (rc || (rc = evl_topic_create(log, "lines", 1, NULL)))
        die("open", rc);
    evl_producer_t *p;
    if ((rc = evl_producer_new(log, "lines", NULL, &p)))
        die("producer", rc);
    unsigned seed = 1;
    for (int64_t i = 0; i < lines; i++) {
        char line[200];
        size_t len = 0;
        for (int w = 0; w < 10; w++)
            len += (size_t)snprintf(line + len, sizeof line - len, "w%u ", rand_r(&seed) % 10000);
        if ((rc = evl_producer_send_kv(p, NULL, 0, line, len, NULL, NULL)))
            die("send", rc);
    }
    evl_producer_close(p);
    int64_t words = lines * 10;
    double t_hand = hand_loop(log, lines);
    double t_alos = run_topology(log, dir, "at_least_once", "out-alos", words);
    double t_eos = run_topology(log, dir, "exactly_once", "out-eos", words);

    /* the windowed count: as many readings as words above */
    int64_t readings = words;
    if ((rc = evl_topic_create(log, "readings", 1, NULL)) ||
        (rc = evl_producer_new(log, "readings", NULL, &p)))
        die("readings", rc);
    for (int64_t i = 0; i < readings; i++) {
        char key[16], val[8];
        int kl = snprintf(key, sizeof key, "s%d", (int)(rand_r(&seed) % SENSORS));
        int vl = snprintf(val, sizeof val, "%d", (int)(rand_r(&seed) % 40));
        evl_msg_t m = {key, (size_t)kl, val, (size_t)vl, NULL, 0, T0 + i * 10, 0, -1};
        if ((rc = evl_producer_send(p, &m, 0)))
            die("send", rc);
    }
    evl_producer_close(p);
    double tw_hand = hand_windowed(log, readings);
    double tw_alos = run_windowed(log, dir, "at_least_once", readings);
    double tw_eos = run_windowed(log, dir, "exactly_once", readings);

    /* restoring: KEYS distinct words counted, state.dir deleted, then the
     * time until the store answers for the last one */
    int64_t keys = (int64_t)(1000000 * scale);
    if (keys < 10000)
        keys = 10000;
    if ((rc = evl_topic_create(log, "uniq", 1, NULL)) || (rc = evl_producer_new(log, "uniq", NULL, &p)))
        die("uniq", rc);
    for (int64_t i = 0; i < keys; i += 10) {
        char line[200];
        size_t len = 0;
        for (int w = 0; w < 10; w++)
            len += (size_t)snprintf(line + len, sizeof line - len, "u%lld ", (long long)(i + w));
        if ((rc = evl_producer_send_kv(p, NULL, 0, line, len, NULL, NULL)))
            die("send", rc);
    }
    evl_producer_close(p);
    double t_count = run_topology_on(log, dir, "uniq", "uniq", "exactly_once", "out-uniq", keys, NULL);
    char cmd[700], probe[32];
    snprintf(cmd, sizeof cmd, "rm -rf %s/state-uniq", dir);
    if (system(cmd))
        return 1;
    snprintf(probe, sizeof probe, "u%lld", (long long)(keys - 1));
    double t_restore = run_topology_on(log, dir, "uniq", "uniq", "exactly_once", "out-uniq", keys,
                                       probe);

    printf("%-46s %12s %12s %8s\n", "workload", "measured/s", "baseline/s", "ratio");
    printf("%-46s %12.0f %12.0f %8.2f\n", "word count at_least_once vs hand-written loop",
           words / t_alos, words / t_hand, t_hand / t_alos);
    printf("%-46s %12.0f %12.0f %8.2f\n", "word count exactly_once vs hand-written loop",
           words / t_eos, words / t_hand, t_hand / t_eos);
    printf("%-46s %12.0f %12.0f %8.2f\n", "exactly_once vs at_least_once", words / t_eos,
           words / t_alos, t_alos / t_eos);
    printf("%-46s %12.0f %12.0f %8.2f\n", "windowed count at_least_once vs hand loop",
           readings / tw_alos, readings / tw_hand, tw_hand / tw_alos);
    printf("%-46s %12.0f %12.0f %8.2f\n", "windowed count exactly_once vs hand loop",
           readings / tw_eos, readings / tw_hand, tw_hand / tw_eos);
    printf("%-46s %12.0f %12.0f %8.2f\n", "windowed exactly_once vs at_least_once",
           readings / tw_eos, readings / tw_alos, tw_alos / tw_eos);
    printf("%lld distinct keys: counted in %.2f s; restored from the changelog after state.dir "
           "was deleted in %.2f s (%.0f keys/s)\n",
           (long long)keys, t_count, t_restore, keys / t_restore);
    printf("(%lld lines of 10 words; words/s of input; %lld readings, readings/s)\n",
           (long long)lines, (long long)readings);
    evl_log_close(log);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) != 0;
}
