/*
 * sensor_windows.c - IoT readings averaged per sensor per minute, in event
 * time, final results only: libeventlog-streams' windowed aggregation
 * (Kafka Streams' windowedBy(TimeWindows.ofSizeAndGrace(1 min, 10 s))
 * .aggregate(...).suppress(untilWindowCloses(...))).
 *
 *   sensor_windows [-d DIR] [--state-dir DIR] [--guarantee G]
 *   sensor_windows --demo [-d DIR]
 *
 * Reads sensor-readings (key: the sensor id; value: the temperature as
 * decimal text; the record's timestamp: when it was measured), and writes
 * to sensor-averages, once per sensor and minute when that minute's
 * window closes (stream time 10 s past its end: readings up to 10 s late
 * still count, later ones are dropped), key "SENSOR@2026-01-15T10:00:00Z"
 * (the window's start, UTC), value the average ("21.50").
 * application.id sensor-windows. Runs until SIGINT or SIGTERM, then
 * commits and exits 0. Creates its topics when missing.
 *
 * --demo (for make demo; DIR defaults to demo-data/sensor-windows and must
 * hold no readings yet): sends a fixed set of readings, some out of order
 * and one later than the grace period, runs until the two closed minutes'
 * averages are out, prints them and exits 0.
 */
#include <eventlog.h>
#include <eventlog/streams.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MINUTE 60000
#define GRACE 10000

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* The aggregate: 8-byte big-endian count, then the sum (a double's bits,
 * big-endian). */
static void agg_put(unsigned char *b, uint64_t n, double sum)
{
    uint64_t bits;
    memcpy(&bits, &sum, 8);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(n >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(bits >> (56 - 8 * i));
    }
}

static void agg_get(const void *v, size_t len, uint64_t *n, double *sum)
{
    const unsigned char *b = v;
    uint64_t c = 0, bits = 0;
    for (int i = 0; len == 16 && i < 8; i++) {
        c = c << 8 | b[i];
        bits = bits << 8 | b[8 + i];
    }
    *n = c;
    memcpy(sum, &bits, 8);
}

static int add_reading(void *arg, const evl_srec_t *r, const void *agg, size_t agg_len,
                       evl_emit_t *em)
{
    (void)arg;
    uint64_t n;
    double sum;
    agg_get(agg, agg_len, &n, &sum);
    char text[64];
    snprintf(text, sizeof text, "%.*s", (int)(r->value_len < 63 ? r->value_len : 63),
             r->value ? (const char *)r->value : "");
    char *end;
    double t = strtod(text, &end);
    if (end != text) { /* (a reading that is not a number is ignored) */
        n++;
        sum += t;
    }
    unsigned char out[16];
    agg_put(out, n, sum);
    return evl_emit(em, NULL, 0, out, sizeof out, -1);
}

/* windowed key + aggregate -> "SENSOR@START" and "AVG" */
static int to_text(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    (void)arg;
    size_t kl;
    int64_t start;
    if (evl_windowed_key_parse(r->key, r->key_len, false, &kl, &start, NULL))
        return 0;
    time_t s = (time_t)(start / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char key[600], when[32], avg[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int klen = snprintf(key, sizeof key, "%.*s@%s", (int)kl, (const char *)r->key, when);
    uint64_t n;
    double sum;
    agg_get(r->value, r->value_len, &n, &sum);
    int alen = snprintf(avg, sizeof avg, "%.2f", n ? sum / (double)n : 0.0);
    return evl_emit(em, key, (size_t)klen, avg, (size_t)alen, -1);
}

static evl_streams_builder_t *topology(void)
{
    evl_streams_builder_t *b;
    if (evl_streams_builder_new(&b))
        return NULL;
    unsigned char zero[16];
    agg_put(zero, 0, 0.0);
    evl_kgrouped_t *by_sensor = evl_stream_group_by_key(evl_stream(b, "sensor-readings"));
    evl_kwindowed_t *minutes = evl_grouped_windowed_by(by_sensor, MINUTE, MINUTE, GRACE);
    evl_ktable_t *sums =
        evl_windowed_aggregate(minutes, zero, sizeof zero, add_reading, NULL, "sensor-sums");
    evl_ktable_t *finals = evl_table_suppress_until_window_closes(sums);
    evl_stream_to(evl_stream_map(evl_table_to_stream(finals), to_text, NULL), "sensor-averages");
    return b;
}

/* ---- the demo ---- */

#define T0 1768471200000LL /* 2026-01-15T10:00:00Z */

static const struct reading {
    const char *sensor;
    int sec;            /* after T0 */
    const char *temp;
    const char *note;
} readings[] = {
    {"greenhouse-1", 5, "20.0", ""},
    {"greenhouse-2", 20, "18.5", ""},
    {"greenhouse-1", 40, "21.0", ""},
    {"greenhouse-1", 65, "22.0", ""},
    {"greenhouse-2", 55, "19.5", "out of order, inside the grace period: counted"},
    {"greenhouse-2", 75, "20.0", "stream time 10:01:15: the 10:00 window closes"},
    {"greenhouse-1", 50, "35.0", "its window closed at 10:01:10: late, dropped"},
    {"greenhouse-1", 90, "23.0", ""},
    {"greenhouse-2", 105, "21.0", ""},
    {"greenhouse-1", 118, "24.0", ""},
    {"greenhouse-2", 125, "22.0", ""},
    {"greenhouse-2", 119, "30.0", "out of order, inside the grace period: counted"},
    {"greenhouse-1", 140, "25.0", "stream time 10:02:20: the 10:01 window closes"},
};
#define NREADINGS (sizeof readings / sizeof readings[0])
#define NFINALS 4 /* two sensors, two closed minutes */

static int produce_readings(evl_log_t *log)
{
    evl_partition_info_t pi;
    if (evl_partition_info(log, "sensor-readings", 0, &pi) == 0 && pi.end_offset > 0) {
        fprintf(stderr, "sensor_windows: --demo needs a fresh directory (readings are there)\n");
        return 1;
    }
    evl_producer_t *p;
    int rc = evl_producer_new(log, "sensor-readings", NULL, &p);
    if (rc) {
        fprintf(stderr, "sensor_windows: producer: %s\n", evl_strerror(rc));
        return 1;
    }
    printf("-- readings (event time; sent in this order):\n");
    for (size_t i = 0; i < NREADINGS && !rc; i++) {
        const struct reading *r = &readings[i];
        evl_msg_t m = {.key = r->sensor, .key_len = strlen(r->sensor), .value = r->temp,
                       .value_len = strlen(r->temp), .timestamp = T0 + r->sec * 1000LL,
                       .partition = 0};
        rc = evl_producer_send(p, &m, 0);
        printf("   %s 10:%02d:%02d %5s  %s\n", r->sensor, r->sec / 60, r->sec % 60, r->temp,
               r->note);
    }
    evl_producer_close(p);
    if (rc)
        fprintf(stderr, "sensor_windows: send: %s\n", evl_strerror(rc));
    return rc ? 1 : 0;
}

/* The finals, printed as they come; 0 once all are there. */
static int await_finals(evl_log_t *log, evl_streams_t *app)
{
    evl_reader_t *rd = NULL;
    int got = 0;
    printf("-- final averages per sensor and minute (sensor-averages):\n");
    for (int tries = 0; got < NFINALS && tries < 300 && !stop; tries++) {
        if (evl_streams_error(app, NULL, 0))
            break;
        if (!rd && evl_reader_open(log, "sensor-averages", 0, &rd)) {
            rd = NULL;
            usleep(100 * 1000);
            continue;
        }
        const evl_record_t *rec;
        int rc = evl_reader_next(rd, 100, &rec);
        if (rc)
            continue;
        size_t kl, vl;
        const char *k = evl_record_key(rec, &kl), *v = evl_record_value(rec, &vl);
        printf("   %.*s  %.*s\n", (int)kl, k, (int)vl, v);
        got++;
    }
    evl_reader_close(rd);
    if (got < NFINALS) {
        fprintf(stderr, "sensor_windows: %d of %d results\n", got, NFINALS);
        return 1;
    }
    printf("   (the 10:02 window is still open: no result for it yet)\n");
    printf("-- readings dropped as late: %lld\n",
           (long long)evl_streams_metric(app, EVL_SM_DROPPED));
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    const char *dir = NULL, *guarantee = "exactly_once", *state = NULL;
    int demo = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--guarantee") && i + 1 < argc)
            guarantee = argv[++i];
        else if (!strcmp(argv[i], "--state-dir") && i + 1 < argc)
            state = argv[++i];
        else if (!strcmp(argv[i], "--demo"))
            demo = 1;
        else {
            fprintf(stderr, "usage: sensor_windows [-d DIR] [--guarantee exactly_once|"
                            "at_least_once] [--state-dir DIR] [--demo]\n");
            return 2;
        }
    }
    if (!dir)
        dir = demo ? "demo-data/sensor-windows" : "evl-data";
    char statebuf[1024];
    if (!state) {
        snprintf(statebuf, sizeof statebuf, "%s/streams-state", dir);
        state = statebuf;
    }
    evl_log_t *log;
    int rc = evl_log_open(dir, NULL, &log);
    if (rc) {
        fprintf(stderr, "sensor_windows: %s: %s\n", dir, evl_strerror(rc));
        return 1;
    }
    evl_topic_create(log, "sensor-readings", 1, NULL);
    evl_topic_create(log, "sensor-averages", 1, NULL);
    if (demo && produce_readings(log)) {
        evl_log_close(log);
        return 1;
    }

    evl_streams_builder_t *b = topology();
    const char *conf[] = {"application.id", "sensor-windows", "processing.guarantee", guarantee,
                          "state.dir", state};
    char err[256] = "";
    evl_streams_t *app = NULL;
    rc = b ? evl_streams_new(log, b, conf, 3, err, sizeof err, &app) : EVL_ENOMEM;
    if (rc) {
        fprintf(stderr, "sensor_windows: %s: %s\n", evl_strerror(rc), err);
        evl_streams_builder_free(b);
        evl_log_close(log);
        return 1;
    }
    int bad = 0;
    if ((rc = evl_streams_start(app)) == 0) {
        if (demo)
            bad = await_finals(log, app);
        else
            while (!stop && !evl_streams_error(app, NULL, 0))
                usleep(50 * 1000);
    }
    int crc = evl_streams_close(app);
    if (!rc)
        rc = crc;
    evl_streams_builder_free(b);
    evl_log_close(log);
    if (rc)
        fprintf(stderr, "sensor_windows: %s\n", evl_strerror(rc));
    return rc || bad ? 1 : 0;
}
