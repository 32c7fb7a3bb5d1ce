/*
 * test_rest.c - Kafka Connect's REST API on a worker, called by curl (an
 * independent client) on 127.0.0.1 at a port the worker chose: create,
 * read, change, pause, resume, restart and delete a connector; plugins and
 * config validation; Prometheus metrics; Kafka Connect's error shapes.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>
#include <jansson.h>

TestSuite(rest, .init = test_dir_setup, .fini = test_dir_teardown);

static int port;

/* curl METHOD path [body]: the HTTP status, the body parsed (or NULL). */
static int call(const char *method, const char *path, const char *body, json_t **out,
                char **text)
{
    char bodyfile[512] = "";
    if (body) {
        snprintf(bodyfile, sizeof bodyfile, "%s", tpath("body.json"));
        FILE *f = fopen(bodyfile, "w");
        cr_assert_not_null(f);
        fputs(body, f);
        fclose(f);
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "curl -s -X %s -H 'Content-Type: application/json' %s%s%s "
             "-w '\\n%%{http_code}' 'http://127.0.0.1:%d%s'",
             method, body ? "--data-binary @'" : "", body ? bodyfile : "", body ? "'" : "", port,
             path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    cr_assert_eq(pclose(p), 0, "curl failed: %s", cmd);
    char *nl = strrchr(buf, '\n');
    cr_assert_not_null(nl);
    int code = atoi(nl + 1);
    *nl = 0;
    if (out)
        *out = buf[0] ? json_loads(buf, JSON_DECODE_ANY, NULL) : NULL;
    if (text)
        *text = buf;
    return code;
}

static const char *state_of(const char *name)
{
    static char st[32];
    json_t *j;
    cr_assert_eq(call("GET", name, NULL, &j, NULL), 200);
    snprintf(st, sizeof st, "%s",
             json_string_value(json_object_get(json_array_get(json_object_get(j, "tasks"), 0),
                                               "state")));
    json_decref(j);
    return st;
}

static int lines_in(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void produce(evl_log_t *log, int n)
{
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, "lines", NULL, &p), 0);
    for (int i = 0; i < n; i++) {
        evl_msg_t m = {NULL, 0, "x", 1, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    evl_producer_close(p);
}

Test(rest, a_connectors_life_through_the_api, .timeout = 60)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "lines", 1, NULL), 0);
    produce(log, 10);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    evl_connect_rest_t *srv;
    char err[256];
    cr_assert_eq(evl_connect_rest_start(w, "127.0.0.1:0", &srv, err, sizeof err), 0, "%s", err);
    port = evl_connect_rest_port(srv);
    cr_assert_gt(port, 0);
    char out1[512], out2[512], body[2048];
    snprintf(out1, sizeof out1, "%s", tpath("out1.txt"));
    snprintf(out2, sizeof out2, "%s", tpath("out2.txt"));

    /* Create: 201 with the connector's info. */
    snprintf(body, sizeof body,
             "{\"name\": \"out\", \"config\": {\"connector.class\": \"FileStreamSink\","
             " \"file\": \"%s\", \"topics\": \"lines\", \"offset.flush.interval.ms\": \"50\"}}",
             out1);
    json_t *j;
    cr_assert_eq(call("POST", "/connectors", body, &j, NULL), 201);
    cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "sink");
    json_decref(j);
    cr_assert_eq(call("POST", "/connectors", body, &j, NULL), 409);
    cr_assert_eq(json_integer_value(json_object_get(j, "error_code")), 409);
    json_decref(j);
    for (int i = 0; i < 300 && lines_in(out1) < 10; i++)
        usleep(10000);
    cr_assert_eq(lines_in(out1), 10);

    cr_assert_eq(call("GET", "/connectors", NULL, &j, NULL), 200);
    cr_assert(json_is_array(j) && json_array_size(j) == 1);
    json_decref(j);
    cr_assert_eq(call("GET", "/connectors/out/config", NULL, &j, NULL), 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "file")), out1);
    json_decref(j);
    cr_assert_str_eq(state_of("/connectors/out/status"), "RUNNING");

    /* Pause: nothing more moves; resume: it does again. */
    cr_assert_eq(call("PUT", "/connectors/out/pause", NULL, NULL, NULL), 202);
    for (int i = 0; i < 100 && strcmp(state_of("/connectors/out/status"), "PAUSED"); i++)
        usleep(10000);
    cr_assert_str_eq(state_of("/connectors/out/status"), "PAUSED");
    produce(log, 5);
    usleep(300000);
    cr_assert_eq(lines_in(out1), 10);
    cr_assert_eq(call("PUT", "/connectors/out/resume", NULL, NULL, NULL), 202);
    for (int i = 0; i < 300 && lines_in(out1) < 15; i++)
        usleep(10000);
    cr_assert_eq(lines_in(out1), 15);

    /* A new config: checked, then the connector goes on from its progress. */
    snprintf(body, sizeof body,
             "{\"connector.class\": \"FileStreamSink\", \"file\": \"%s\", \"topics\": \"lines\","
             " \"offset.flush.interval.ms\": \"50\"}",
             out2);
    cr_assert_eq(call("PUT", "/connectors/out/config", body, &j, NULL), 200);
    json_decref(j);
    cr_assert_eq(call("PUT", "/connectors/out/config",
                      "{\"connector.class\": \"FileStreamSink\", \"topics\": \"lines\"}", &j,
                      NULL),
                 400);
    cr_assert(strstr(json_string_value(json_object_get(j, "message")), "file"));
    json_decref(j);
    produce(log, 3);
    for (int i = 0; i < 300 && lines_in(out2) < 3; i++)
        usleep(10000);
    cr_assert_eq(lines_in(out2), 3, "only what came after the last commit");
    cr_assert_eq(call("POST", "/connectors/out/restart", NULL, NULL, NULL), 204);
    cr_assert_eq(call("POST", "/connectors/out/tasks/0/restart", NULL, NULL, NULL), 204);
    cr_assert_str_eq(state_of("/connectors/out/status"), "RUNNING");

    /* Metrics, as Prometheus text. */
    char *text;
    cr_assert_eq(call("GET", "/metrics", NULL, NULL, &text), 200);
    cr_assert(strstr(text, "# TYPE evl_connect_records_total counter"), "%s", text);
    cr_assert(strstr(text, "evl_connect_lag{connector=\"out\"} 0"), "%s", text);
    cr_assert(strstr(text, "evl_connect_records_total{connector=\"out\",task=\"0\"} "), "%s",
              text);

    /* Gone: 204, then 404 in Kafka Connect's error shape. */
    cr_assert_eq(call("DELETE", "/connectors/out", NULL, NULL, NULL), 204);
    cr_assert_eq(call("GET", "/connectors/out/status", NULL, &j, NULL), 404);
    cr_assert_eq(json_integer_value(json_object_get(j, "error_code")), 404);
    json_decref(j);
    evl_connect_rest_stop(srv);
    evl_connect_worker_free(w);
    evl_log_close(log);
}

Test(rest, plugins_and_config_validation, .timeout = 30)
{
    evl_log_t *log = test_open(NULL);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    evl_connect_rest_t *srv;
    char err[256];
    cr_assert_eq(evl_connect_rest_start(w, "127.0.0.1:0", &srv, err, sizeof err), 0, "%s", err);
    port = evl_connect_rest_port(srv);
    json_t *j;
    cr_assert_eq(call("GET", "/connector-plugins", NULL, &j, NULL), 200);
    const char *want[] = {"FileStreamSource", "FileStreamSink", "KafkaSink",
                          "KafkaSource", "MqttSource", "MqttSink"};
    for (size_t i = 0; i < 6; i++) {
        bool found = false;
        size_t k;
        json_t *e;
        json_array_foreach(j, k, e) {
            found = found || !strcmp(json_string_value(json_object_get(e, "class")), want[i]);
        }
        cr_assert(found, "%s missing", want[i]);
    }
    json_decref(j);
    cr_assert_eq(call("PUT", "/connector-plugins/MqttSource/config/validate",
                      "{\"connector.class\": \"MqttSource\", \"name\": \"m\", \"topic\": \"t\","
                      " \"mqtt.topics\": \"a/#\", \"mqtt.server.uri\": \"http://x\","
                      " \"mqtt.qos\": \"5\", \"no.such\": \"1\"}",
                      &j, NULL),
                 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "error_count")), 3,
                 "%s", json_dumps(j, 0));
    json_decref(j);
    cr_assert_eq(call("PUT", "/connector-plugins/Nope/config/validate", "{}", &j, NULL), 404);
    json_decref(j);
    cr_assert_eq(call("POST", "/connectors", "{\"name\": \"x\", \"config\": {", &j, NULL), 400);
    json_decref(j);
    evl_connect_rest_stop(srv);
    evl_connect_worker_free(w);
    evl_log_close(log);
}
