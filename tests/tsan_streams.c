/*
 * tsan_streams.c - a streams application under ThreadSanitizer: two stream
 * threads splitting a 4-partition word count, while the main thread reads
 * the metrics and queries the store, then a close while tasks run; beside
 * it a global table the main thread updates, joined by a processor with a
 * wall-clock punctuation, and a standby thread.
 */
#include <ctype.h>
#include <eventlog/streams.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int split(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    (void)arg;
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

static int by_word(void *arg, const evl_srec_t *r, evl_emit_t *em)
{
    (void)arg;
    return evl_emit(em, r->value, r->value_len, NULL, 0, -1);
}

static int tag(void *arg, const evl_srec_t *r, const void *tv, size_t tl, evl_emit_t *em)
{
    (void)arg;
    (void)r;
    return evl_emit(em, NULL, 0, tv ? tv : "-", tv ? tl : 1, -1);
}

static int pass(void *arg, evl_pctx_t *ctx, const evl_srec_t *r)
{
    (void)arg;
    return evl_pctx_put(ctx, r->value, r->value_len, "1", 1);
}

static int tick(void *arg, evl_pctx_t *ctx, int64_t time)
{
    (void)arg;
    return evl_pctx_forward(ctx, "tick", 4, NULL, 0, time);
}

static int visit(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    ++*(int *)arg;
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/tsan_streams.XXXXXX", logdir[128], state[128];
    evl_log_t *log;
    if (!mkdtemp(dir))
        return 1;
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    snprintf(state, sizeof state, "%s/state", dir);
    if (evl_log_open(logdir, NULL, &log) || evl_topic_create(log, "in", 4, NULL) ||
        evl_topic_create(log, "g", 1, NULL))
        return 1;
    evl_streams_builder_t *b;
    evl_streams_builder_new(&b);
    evl_ktable_t *t = evl_grouped_count(
        evl_stream_group_by(evl_stream_flat_map_values(evl_stream(b, "in"), split, NULL), by_word,
                            NULL),
        "counts");
    evl_stream_to(evl_table_to_stream(t), "out");
    evl_ktable_t *g = evl_global_table(b, "g", "gstore");
    evl_kstream_t *pr = evl_stream_process(
        evl_stream_join_global(evl_stream(b, "in"), g, NULL, NULL, tag, NULL, EVL_JOIN_LEFT), pass,
        NULL, "tags");
    evl_stream_punctuate(pr, EVL_PUNCTUATE_WALL_CLOCK, 5, tick, NULL);
    evl_stream_to(pr, "ticks");
    const char *conf[] = {"application.id", "tsan", "num.stream.threads", "2", "state.dir", state,
                          "num.standby.replicas", "1"};
    char err[256];
    evl_streams_t *app;
    if (evl_streams_new(log, b, conf, 4, err, sizeof err, &app) || evl_streams_start(app)) {
        fprintf(stderr, "tsan_streams: %s\n", err);
        return 1;
    }
    evl_producer_t *p;
    evl_config_t *pc = evl_config_new();
    if (!pc || evl_producer_open(log, pc, &p))
        return 1;
    evl_config_free(pc);
    for (int i = 0; i < 400; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "w%d w%d w%d", i % 13, i % 7, i % 5);
        evl_msg_t m = {NULL, 0, line, (size_t)n, NULL, 0, -1, i % 4, -1};
        evl_producer_send_to(p, "in", &m, 0);
        if (i % 50 == 0) {
            void *v;
            size_t vl;
            if (evl_streams_store_get(app, "counts", "w1", 2, &v, &vl) == 0)
                free(v);
            (void)evl_streams_metric(app, EVL_SM_RECORDS);
            int seen = 0;
            evl_streams_store_range(app, "tags", NULL, 0, NULL, 0, visit, &seen);
            evl_streams_store_range(app, "gstore", NULL, 0, NULL, 0, visit, &seen);
            evl_task_metrics_t tm[16];
            size_t nt;
            evl_streams_task_metrics(app, tm, 16, &nt);
            evl_msg_t gm = {"k", 1, line, (size_t)n, NULL, 0, -1, 0, -1};
            evl_producer_send_to(p, "g", &gm, 0);
            usleep(10000);
        }
    }
    evl_producer_close(p);
    for (int i = 0; i < 200 && evl_streams_metric(app, EVL_SM_RECORDS) < 800; i++)
        usleep(20000);
    int64_t got = evl_streams_metric(app, EVL_SM_RECORDS);
    int rc = evl_streams_close(app);
    evl_streams_builder_free(b);
    evl_log_close(log);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd))
        return 1;
    printf("tsan_streams: %lld records, %s\n", (long long)got, rc || got < 800 ? "FAILED" : "ok");
    return rc || got < 800 ? 1 : 0;
}
