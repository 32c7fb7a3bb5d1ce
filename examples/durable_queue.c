/*
 * durable_queue.c - an IoT device's store-and-forward queue.
 *
 * `durable_queue produce N` appends N sensor readings with fsync durability:
 * when the call returns the reading is on disk. `durable_queue forward`
 * drains the queue as consumer group "uplink" (where a real device would send
 * upstream), committing after each batch. The topic keeps segments until
 * "uplink" has committed past them (retain.until.consumed.by), within a disk
 * budget.
 *
 * Kill either process with kill -9 at any moment and start it again: every
 * acknowledged reading is still there, and forwarding resumes after the last
 * commit (records after the commit are delivered again: at-least-once).
 *
 *   usage: durable_queue [-d DIR] produce N | forward | status
 */
#include <eventlog.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int open_queue(const char *dir, evl_log_t **log)
{
    evl_config_t *cfg = evl_config_new();
    char err[128];
    evl_config_set(cfg, "disk.bytes.max", "67108864", err, sizeof err);
    evl_config_set(cfg, "disk.full.policy", "reject", err, sizeof err);
    int rc = evl_log_open(dir, cfg, log);
    if (rc == 0) {
        evl_config_t *tc = evl_config_new();
        evl_config_set(tc, "segment.bytes", "1048576", err, sizeof err);
        evl_config_set(tc, "durability", "fsync", err, sizeof err);
        evl_config_set(tc, "retain.until.consumed.by", "uplink", err, sizeof err);
        rc = evl_topic_create(*log, "sensor", 1, tc);
        if (rc == EVL_EEXIST)
            rc = 0;
        evl_config_free(tc);
    }
    evl_config_free(cfg);
    return rc;
}

static int produce(evl_log_t *log, int n)
{
    evl_producer_t *prod;
    int rc = evl_producer_new(log, "sensor", NULL, &prod);
    for (int i = 0; rc == 0 && i < n && !stop; i++) {
        char val[64];
        int len = snprintf(val, sizeof val, "reading %d: %d.%d C", i, 20 + i % 7, i % 10);
        int64_t off;
        rc = evl_producer_send_kv(prod, "device-1", 8, val, (size_t)len, NULL, &off);
        if (rc == 0)
            printf("stored offset %lld (%s)\n", (long long)off, val);
        fflush(stdout);
    }
    evl_producer_close(prod);
    return rc;
}

static int forward(evl_log_t *log)
{
    evl_config_t *cfg = evl_config_new();
    char err[128];
    evl_config_set(cfg, "group.id", "uplink", err, sizeof err);
    evl_config_set(cfg, "auto.offset.reset", "earliest", err, sizeof err);
    evl_config_set(cfg, "enable.auto.commit", "false", err, sizeof err);
    evl_consumer_t *cons;
    int rc = evl_consumer_new(log, cfg, &cons);
    evl_config_free(cfg);
    if (rc)
        return rc;
    const char *topics[] = {"sensor"};
    rc = evl_consumer_subscribe(cons, topics, 1);
    int idle = 0;
    while (rc == 0 && !stop && idle < 10) {
        const evl_record_t *recs[16];
        size_t n;
        rc = evl_consumer_poll(cons, 100, recs, 16, &n);
        if (rc == EVL_ETIMEDOUT) {
            rc = 0;
            idle++;
            continue;
        }
        idle = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            size_t vlen;
            const char *v = evl_record_value(recs[i], &vlen);
            printf("forwarded offset %lld: %.*s\n", (long long)evl_record_offset(recs[i]),
                   (int)vlen, v);
        }
        if (rc == 0)
            rc = evl_consumer_commit(cons); /* only after the uplink took them */
        fflush(stdout);
    }
    evl_consumer_close(cons);
    return rc;
}

static int status(evl_log_t *log)
{
    evl_partition_info_t pi;
    int rc = evl_partition_info(log, "sensor", 0, &pi);
    if (rc)
        return rc;
    printf("queue: offsets %lld..%lld, %lld segment(s), %lld bytes of records\n",
           (long long)pi.start_offset, (long long)pi.end_offset, (long long)pi.segments,
           (long long)pi.bytes);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = "demo-data/queue";
    int a = 1;
    if (argc > 2 && strcmp(argv[1], "-d") == 0) {
        dir = argv[2];
        a = 3;
    }
    if (a >= argc) {
        fprintf(stderr, "usage: %s [-d DIR] produce N | forward | status\n", argv[0]);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    evl_log_t *log;
    int rc = open_queue(dir, &log);
    if (rc) {
        fprintf(stderr, "open %s: %s\n", dir, evl_strerror(rc));
        return 1;
    }
    if (!strcmp(argv[a], "produce") && a + 1 < argc)
        rc = produce(log, atoi(argv[a + 1]));
    else if (!strcmp(argv[a], "forward"))
        rc = forward(log);
    else if (!strcmp(argv[a], "status"))
        rc = status(log);
    else
        rc = EVL_EINVAL;
    if (rc)
        fprintf(stderr, "durable_queue: %s\n", evl_strerror(rc));
    evl_log_close(log);
    return rc ? 1 : 0;
}
