/*
 * connect_files.c - Kafka Connect inside an application: a FileStreamSource
 * follows a file into the topic "lines", and a sink type of the
 * application's own (a struct of callbacks) gets each line after a
 * transform chain turned it into JSON with a field added. Progress is
 * stored: run it twice and the second run takes only what is new.
 *
 *   connect_files DIR FILE      (make demo runs it)
 */
#include <eventlog.h>
#include <eventlog/connect.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The application's sink: prints what it is given; flush has nothing to
 * make safe (a real one would fsync, or wait for acknowledgements). */
static int show_start(const evl_conf_t *conf, evl_sink_task_t *task, void **state)
{
    (void)conf;
    (void)task;
    *state = NULL;
    return 0;
}

static int show_put(void *state, const evl_sink_record_t *recs, size_t n)
{
    (void)state;
    for (size_t i = 0; i < n; i++)
        printf("   %s[%d]@%lld: %.*s\n", recs[i].topic, (int)recs[i].partition,
               (long long)recs[i].offset, (int)recs[i].value_len, (const char *)recs[i].value);
    fflush(stdout);
    return 0;
}

static int show_flush(void *state)
{
    (void)state;
    return 0;
}

static void show_stop(void *state) { (void)state; }

static const evl_sink_ops_t show_ops = {show_start, show_put, show_flush, show_stop, NULL};
static const evl_connector_type_t show_type = {"ShowSink", NULL, 0, NULL, &show_ops, 0};

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: connect_files DIR FILE\n");
        return 2;
    }
    evl_log_t *log;
    int rc = evl_log_open(argv[1], NULL, &log);
    if (rc) {
        fprintf(stderr, "connect_files: %s\n", evl_strerror(rc));
        return 1;
    }
    rc = evl_topic_create(log, "lines", 1, NULL);
    if (rc && rc != EVL_EEXIST) {
        fprintf(stderr, "connect_files: %s\n", evl_strerror(rc));
        return 1;
    }
    evl_connect_worker_t *w;
    evl_connect_worker_new(log, &w);
    evl_connect_register(w, &show_type);
    const char *source[] = {"name", "file-in", "connector.class", "FileStreamSource",
                            "file", argv[2], "topic", "lines"};
    const char *sink[] = {
        "name", "show", "connector.class", "ShowSink", "topics", "lines",
        "offset.flush.interval.ms", "100",
        "value.converter", "org.apache.kafka.connect.storage.StringConverter",
        "transforms", "wrap,stamp",
        "transforms.wrap.type", "org.apache.kafka.connect.transforms.HoistField$Value",
        "transforms.wrap.field", "line",
        "transforms.stamp.type", "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.stamp.static.field", "site",
        "transforms.stamp.static.value", "plant-7"};
    char err[256];
    if ((rc = evl_connect_start(w, source, sizeof source / sizeof source[0] / 2, err,
                                sizeof err)) ||
        (rc = evl_connect_start(w, sink, sizeof sink / sizeof sink[0] / 2, err, sizeof err))) {
        fprintf(stderr, "connect_files: %s\n", err);
        evl_connect_worker_free(w);
        evl_log_close(log);
        return 1;
    }
    sleep(1); /* an application would run until it stops */
    evl_connect_metrics_t m;
    evl_connect_metrics(w, "show", &m);
    printf("   the sink took %lld record(s) this run\n", (long long)m.records);
    evl_connect_worker_free(w); /* stops, flushes and commits both */
    evl_log_close(log);
    return 0;
}
