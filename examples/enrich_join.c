/*
 * enrich_join.c - orders joined with a customers table, as a service
 * would enrich events with reference data.
 *
 *   enrich_join [-d DIR] [--demo]
 *
 * Topic `customers` (key customer id, value name) is a table; topic
 * `orders` (key customer id, value the order) a stream. Each order is
 * joined with its customer as the table stands when the order is
 * processed, and written to `orders-enriched` ("ORDER for NAME"); an
 * order of a customer the table does not know goes to
 * `orders-unmatched` (a left join, split by branch). Runs until SIGINT or
 * SIGTERM; --demo produces a few customers and orders, prints the
 * results and exits.
 */
#include <eventlog.h>
#include <eventlog/streams.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* "ORDER for NAME", or the order alone (then branch sends it apart) */
static int enrich(void *arg, const evl_srec_t *order, const void *name, size_t len, evl_emit_t *em)
{
    (void)arg;
    char buf[512];
    int n = name ? snprintf(buf, sizeof buf, "%.*s for %.*s", (int)order->value_len,
                            (const char *)order->value, (int)len, (const char *)name)
                 : snprintf(buf, sizeof buf, "%.*s", (int)order->value_len,
                            (const char *)order->value);
    return evl_emit(em, NULL, 0, buf, (size_t)n, -1);
}

static bool matched(void *arg, const evl_srec_t *r)
{
    (void)arg;
    return memmem(r->value, r->value_len, " for ", 5) != NULL;
}

static void put(evl_log_t *log, const char *topic, const char *key, const char *value, int64_t ts)
{
    evl_producer_t *p;
    if (evl_producer_new(log, topic, NULL, &p))
        return;
    evl_msg_t m = {key, strlen(key), value, value ? strlen(value) : 0, NULL, 0, ts, 0, -1};
    evl_producer_send(p, &m, 0);
    evl_producer_close(p);
}

static int64_t count(evl_log_t *log, const char *topic)
{
    evl_partition_info_t pi;
    return evl_partition_info(log, topic, 0, &pi) ? 0 : pi.end_offset;
}

static void print(evl_log_t *log, const char *topic)
{
    evl_reader_t *rd;
    const evl_record_t *r;
    if (evl_reader_open(log, topic, 0, &rd))
        return;
    printf("-- %s:\n", topic);
    while (evl_reader_next(rd, 0, &r) == 0) {
        size_t kl, vl;
        const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
        printf("   %.*s: %.*s\n", (int)kl, k, (int)vl, v);
    }
    evl_reader_close(rd);
}

int main(int argc, char **argv)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    const char *dir = "evl-data";
    int demo = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--demo"))
            demo = 1;
        else {
            fprintf(stderr, "usage: enrich_join [-d DIR] [--demo]\n");
            return 2;
        }
    }
    evl_log_t *log;
    int rc = evl_log_open(dir, NULL, &log);
    if (rc) {
        fprintf(stderr, "enrich_join: %s: %s\n", dir, evl_strerror(rc));
        return 1;
    }
    evl_topic_create(log, "customers", 1, NULL);
    evl_topic_create(log, "orders", 1, NULL);

    evl_streams_builder_t *b;
    evl_streams_builder_new(&b);
    evl_ktable_t *customers = evl_table(b, "customers", "customers");
    evl_kstream_t *joined = evl_stream_join_table(evl_stream(b, "orders"), customers, enrich, NULL,
                                                  EVL_JOIN_LEFT);
    evl_pred_fn *preds[] = {matched, NULL};
    evl_kstream_t *out[2];
    evl_stream_branch(joined, preds, NULL, 2, out);
    evl_stream_to(out[0], "orders-enriched");
    evl_stream_to(out[1], "orders-unmatched");

    char state[1024];
    snprintf(state, sizeof state, "%s/streams-state", dir);
    const char *conf[] = {"application.id", "enrich-join", "state.dir", state};
    char err[256];
    evl_streams_t *app;
    if ((rc = evl_streams_new(log, b, conf, 2, err, sizeof err, &app))) {
        fprintf(stderr, "enrich_join: %s: %s\n", evl_strerror(rc), err);
        return 1;
    }
    if ((rc = evl_streams_start(app)) == 0 && demo) {
        /* event times one second apart: the join sees the table as of each order */
        int64_t t = 1767225600000;
        put(log, "customers", "c1", "Ada", t++);
        put(log, "customers", "c2", "Grace", t++);
        put(log, "orders", "c1", "3 kg coffee", t++);
        put(log, "orders", "c3", "1 teapot", t++);
        put(log, "customers", "c1", "Ada Lovelace", t++);
        put(log, "orders", "c1", "2 cups", t++);
        put(log, "orders", "c2", "1 compiler", t++);
        for (int i = 0; i < 200 && count(log, "orders-enriched") + count(log, "orders-unmatched") < 4;
             i++)
            usleep(20000);
        stop = 1;
    }
    while (!rc && !stop && !evl_streams_error(app, NULL, 0))
        usleep(50000);
    int crc = evl_streams_close(app);
    if (!rc)
        rc = crc;
    if (demo && !rc) {
        print(log, "orders-enriched");
        print(log, "orders-unmatched");
    }
    evl_streams_builder_free(b);
    evl_log_close(log);
    if (rc)
        fprintf(stderr, "enrich_join: %s\n", evl_strerror(rc));
    return rc ? 1 : 0;
}
