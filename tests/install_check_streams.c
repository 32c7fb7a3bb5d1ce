/* install_check_streams.c - built by `make check-install` against the
 * installed libeventlog-streams through pkg-config only: a topology with
 * the JSON serde (jansson, a private dependency) counts two records of a
 * log at argv[1]. */
#include <eventlog/streams.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    evl_log_t *log;
    evl_producer_t *p;
    if (argc < 2 || evl_log_open(argv[1], NULL, &log) || evl_topic_create(log, "in", 1, NULL) ||
        evl_producer_new(log, "in", NULL, &p))
        return 1;
    for (int i = 0; i < 2; i++)
        if (evl_producer_send_kv(p, "k", 1, "{\"n\":1}", 7, NULL, NULL))
            return 1;
    evl_producer_close(p);
    evl_streams_builder_t *b;
    evl_streams_builder_new(&b);
    evl_streams_topic_serdes(b, "in", evl_serde_string(), evl_serde_json());
    evl_grouped_count(evl_stream_group_by_key(evl_stream(b, "in")), "c");
    char state[1100], err[256];
    snprintf(state, sizeof state, "%s/state", argv[1]);
    const char *conf[] = {"application.id", "check", "state.dir", state};
    evl_streams_t *app;
    if (evl_streams_new(log, b, conf, 2, err, sizeof err, &app) || evl_streams_start(app))
        return 1;
    while (evl_streams_metric(app, EVL_SM_RECORDS) < 2 && !evl_streams_error(app, NULL, 0))
        usleep(10000);
    void *v;
    size_t vl;
    int ok = evl_streams_store_get(app, "c", "k", 1, &v, &vl) == 0 && vl == 8 &&
             evl_int64_get(v) == 2;
    if (evl_streams_close(app))
        ok = 0;
    evl_streams_builder_free(b);
    evl_log_close(log);
    puts(ok ? "install_check_streams: ok" : "install_check_streams: FAILED");
    return ok ? 0 : 1;
}
