/*
 * rest.c - the part of Kafka Connect's REST API users script against, on a
 * worker (libmicrohttpd, bodies through jansson), and its metrics as
 * Prometheus text (GET /metrics):
 *
 *   GET    /                                      version
 *   GET    /connectors[?expand=status|info]
 *   POST   /connectors                            {"name", "config"}: 201
 *   GET    /connectors/NAME                       name, config, tasks, type
 *   GET    /connectors/NAME/config
 *   PUT    /connectors/NAME/config                create (201) or replace (200)
 *   GET    /connectors/NAME/status                connector and task states
 *   GET    /connectors/NAME/tasks
 *   POST   /connectors/NAME/restart, /connectors/NAME/tasks/N/restart
 *   GET    /connectors/NAME/tasks/N/status
 *   PUT    /connectors/NAME/pause, /connectors/NAME/resume: 202
 *   DELETE /connectors/NAME                       204
 *   GET    /connector-plugins
 *   PUT    /connector-plugins/TYPE/config/validate
 *   GET    /metrics                               Prometheus text
 *
 * Errors are Kafka Connect's: {"error_code": HTTP status, "message"}.
 * Listens where told (127.0.0.1 by default: a worker's API changes what it
 * runs, so it stays on loopback unless asked otherwise).
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker.h"

#define BODY_MAX (1u << 20)

struct evl_connect_rest {
    evl_connect_worker_t *w;
    struct MHD_Daemon *d;
    int port;
    char id[96]; /* worker_id in statuses: host:port */
};

typedef struct req {
    char *body;
    size_t len;
    bool too_big;
} req_t;

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *type,
                                 char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (char *)"",
                                        text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    if (type)
        MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return send_text(c, code, s ? "application/json" : NULL, s);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *msg)
{
    return send_json(c, code, json_pack("{s:i, s:s}", "error_code", (int)code, "message", msg));
}

static const char *state_name(int st)
{
    switch (st) {
    case EVL_CONNECT_RUNNING:
        return "RUNNING";
    case EVL_CONNECT_FAILED:
        return "FAILED";
    case EVL_CONNECT_PAUSED:
        return "PAUSED";
    default:
        return "STOPPED";
    }
}

static json_t *config_of(evl_connect_worker_t *w, const char *name, const char **cls, int *sink)
{
    char **p;
    size_t n;
    if (evl_connect_config(w, name, &p, &n, cls, sink))
        return NULL;
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, p[2 * i], json_string(p[2 * i + 1]));
    evl_connect_pairs_free(p, n);
    return o;
}

static json_t *info_of(evl_connect_worker_t *w, const char *name)
{
    int sink = 0;
    json_t *conf = config_of(w, name, NULL, &sink);
    if (!conf)
        return NULL;
    json_t *tasks = json_array();
    int n = evl_connect_task_count(w, name);
    for (int i = 0; i < n; i++)
        json_array_append_new(tasks, json_pack("{s:s, s:i}", "connector", name, "task", i));
    return json_pack("{s:s, s:o, s:o, s:s}", "name", name, "config", conf, "tasks", tasks,
                     "type", sink ? "sink" : "source");
}

static json_t *task_status(evl_connect_rest_t *r, const char *name, int i)
{
    char err[256];
    int st = evl_connect_task_status(r->w, name, i, err, sizeof err);
    if (st < 0)
        return NULL;
    json_t *task = json_pack("{s:i, s:s, s:s}", "id", i, "state", state_name(st), "worker_id",
                             r->id);
    if (st == EVL_CONNECT_FAILED || err[0])
        json_object_set_new(task, "trace", json_string(err));
    return task;
}

static json_t *status_of(evl_connect_rest_t *r, const char *name)
{
    int st = evl_connect_status(r->w, name, NULL, NULL, 0);
    if (st < 0)
        return NULL;
    int sink = 0;
    json_t *conf = config_of(r->w, name, NULL, &sink);
    json_decref(conf);
    json_t *tasks = json_array();
    int n = evl_connect_task_count(r->w, name);
    for (int i = 0; i < n; i++) {
        json_t *t = task_status(r, name, i);
        if (t)
            json_array_append_new(tasks, t);
    }
    evl_connect_metrics_t m = {0};
    evl_connect_metrics(r->w, name, &m);
    json_t *metrics = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "records",
                                (json_int_t)m.records, "bytes", (json_int_t)m.bytes, "errors",
                                (json_int_t)m.errors, "retries", (json_int_t)m.retries,
                                "dlq_records", (json_int_t)m.dlq_records, "filtered",
                                (json_int_t)m.filtered, "lag", (json_int_t)m.lag);
    /* The connector itself runs while its tasks do (a task's failure is the
     * task's state, as Kafka Connect shows it). */
    return json_pack("{s:s, s:{s:s, s:s}, s:o, s:s, s:o}", "name", name, "connector", "state",
                     state_name(st == EVL_CONNECT_FAILED ? EVL_CONNECT_RUNNING : st),
                     "worker_id", r->id, "tasks", tasks, "type", sink ? "sink" : "source",
                     "metrics", metrics);
}

/* The body's config as pairs (a bare config object, or {"name","config"});
 * name, when given, must agree. */
static int body_pairs(const req_t *q, const char *name, char ***pairs, size_t *n, char *err,
                      size_t errsz)
{
    int rc = evl_connect_json(q->body, q->len, pairs, n, err, errsz);
    if (rc || !name)
        return rc;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*pairs)[2 * i], "name") && strcmp((*pairs)[2 * i + 1], name)) {
            snprintf(err, errsz, "name: the body names %s, the path %s", (*pairs)[2 * i + 1],
                     name);
            evl_connect_pairs_free(*pairs, *n);
            return EVL_ECONFIG;
        }
    /* The path's name, when the body leaves it out. */
    bool has = false;
    for (size_t i = 0; i < *n; i++)
        has = has || !strcmp((*pairs)[2 * i], "name");
    if (!has) {
        char **p = realloc(*pairs, (2 * *n + 3) * sizeof *p);
        if (!p) {
            evl_connect_pairs_free(*pairs, *n);
            return EVL_ENOMEM;
        }
        p[2 * *n] = strdup("name");
        p[2 * *n + 1] = strdup(name);
        *pairs = p;
        (*n)++;
        if (!p[2 * *n - 2] || !p[2 * *n - 1]) {
            evl_connect_pairs_free(p, *n);
            return EVL_ENOMEM;
        }
    }
    return 0;
}

static void first_problem(void *arg, const char *key, const char *msg)
{
    char *err = arg;
    if (!err[0])
        snprintf(err, 512, "%s: %s", key, msg);
}

static enum MHD_Result create(evl_connect_rest_t *r, struct MHD_Connection *c, const req_t *q,
                              const char *name, bool replace)
{
    char **p;
    size_t n;
    char err[512];
    int rc = body_pairs(q, name, &p, &n, err, sizeof err);
    if (rc)
        return send_error(c, rc == EVL_ENOMEM ? 500 : 400, err);
    const char *nm = NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(p[2 * i], "name"))
            nm = p[2 * i + 1];
    if (!nm) {
        evl_connect_pairs_free(p, n);
        return send_error(c, 400, "name: required");
    }
    char cname[256];
    snprintf(cname, sizeof cname, "%s", nm);
    int st = evl_connect_status(r->w, cname, NULL, NULL, 0);
    if (st >= 0 && !replace) {
        evl_connect_pairs_free(p, n);
        snprintf(err, sizeof err, "Connector %s already exists", cname);
        return send_error(c, 409, err);
    }
    if (st >= 0) { /* the new settings checked first, then swapped in */
        const char *cls = NULL;
        for (size_t i = 0; i < n; i++)
            if (!strcmp(p[2 * i], "connector.class"))
                cls = p[2 * i + 1];
        err[0] = 0;
        int bad = cls ? evl_connect_validate(r->w, cls, (const char *const *)p, n, first_problem,
                                             err)
                      : 1;
        if (bad) {
            if (!err[0])
                snprintf(err, sizeof err, "connector.class: %s",
                         cls ? "unknown connector type" : "required");
            evl_connect_pairs_free(p, n);
            return send_error(c, 400, err);
        }
        evl_connect_delete(r->w, cname);
    }
    rc = evl_connect_start(r->w, (const char *const *)p, n, err, sizeof err);
    evl_connect_pairs_free(p, n);
    if (rc)
        return send_error(c, rc == EVL_ECONFIG ? 400 : rc == EVL_EEXIST ? 409 : 500, err);
    return send_json(c, st >= 0 ? 200 : 201, info_of(r->w, cname));
}

typedef struct problems {
    json_t *bykey; /* key -> [messages] */
    int n;
} problems_t;

static void on_problem(void *arg, const char *key, const char *msg)
{
    problems_t *pr = arg;
    json_t *a = json_object_get(pr->bykey, key);
    if (!a) {
        a = json_array();
        json_object_set_new(pr->bykey, key, a);
    }
    json_array_append_new(a, json_string(msg));
    pr->n++;
}

static const char *type_name(int t)
{
    static const char *const n[] = {"?", "STRING", "INT", "DOUBLE", "BOOLEAN", "STRING",
                                    "LIST", "PASSWORD"};
    return t >= 1 && t <= 7 ? n[t] : "STRING";
}

static enum MHD_Result validate(evl_connect_rest_t *r, struct MHD_Connection *c,
                                const req_t *q, const char *cls)
{
    char **p;
    size_t n;
    char err[512];
    int rc = evl_connect_json(q->body, q->len, &p, &n, err, sizeof err);
    if (rc)
        return send_error(c, 400, err);
    const evl_confdef_t *d = evl_connect_type_settings(r->w, cls);
    if (!d) {
        evl_connect_pairs_free(p, n);
        snprintf(err, sizeof err, "Connector plugin %s not found", cls);
        return send_error(c, 404, err);
    }
    problems_t pr = {json_object(), 0};
    rc = evl_connect_validate(r->w, cls, (const char *const *)p, n, on_problem, &pr);
    unsigned scope = 1; /* the worker's scopes: 1 source, 2 sink */
    for (size_t i = 0; i < evl_connect_type_count(r->w); i++)
        if (!strcmp(evl_connect_type(r->w, i)->name, cls) && evl_connect_type(r->w, i)->sink)
            scope = 2;
    json_t *configs = json_array();
    for (size_t i = 0; i < evl_confdef_count(d); i++) {
        const evl_confkey_t *k = evl_confdef_key(d, i);
        if (k->scope && !(k->scope & scope))
            continue; /* the other kind's */
        const char *v = NULL;
        for (size_t j = 0; j < n; j++)
            if (!strcmp(p[2 * j], k->name))
                v = p[2 * j + 1];
        json_t *errs = json_object_get(pr.bykey, k->name);
        json_array_append_new(
            configs,
            json_pack("{s:{s:s, s:s, s:b, s:s*, s:s}, s:{s:s, s:s*, s:[], s:o, s:b}}",
                      "definition", "name", k->name, "type", type_name(k->type), "required",
                      k->def == NULL, "default_value", k->def, "documentation",
                      k->doc ? k->doc : "", "value", "name", k->name, "value",
                      k->type == EVL_CONF_PASSWORD && v ? "[hidden]" : v, "recommended_values",
                      "errors", errs ? json_incref(errs) : json_array(), "visible", 1));
        if (errs)
            json_object_del(pr.bykey, k->name);
    }
    /* Problems with keys the type does not define (unknown settings). */
    const char *key;
    json_t *errs;
    json_object_foreach(pr.bykey, key, errs) {
        json_array_append_new(configs,
                              json_pack("{s:{s:s, s:s, s:b, s:s}, s:{s:s, s:n, s:[], s:O, s:b}}",
                                        "definition", "name", key, "type", "STRING", "required",
                                        0, "documentation", "", "value", "name", key, "value",
                                        "recommended_values", "errors", errs, "visible", 1));
    }
    json_decref(pr.bykey);
    evl_connect_pairs_free(p, n);
    return send_json(c, 200, json_pack("{s:s, s:i, s:[], s:o}", "name", cls, "error_count",
                                       rc > 0 ? rc : pr.n, "groups", "configs", configs));
}

static void prom_line(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void prom_line(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = *buf ? vsnprintf(*buf + *len, *cap - *len, fmt, ap) : -1;
        va_end(ap);
        if (n >= 0 && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return;
        }
        size_t nc = *cap ? *cap * 2 : 4096;
        char *nb = realloc(*buf, nc);
        if (!nb)
            return;
        *buf = nb;
        *cap = nc;
    }
}

static enum MHD_Result metrics(evl_connect_rest_t *r, struct MHD_Connection *c)
{
    char **names;
    size_t n;
    if (evl_connect_list(r->w, &names, &n))
        return send_error(c, 500, "out of memory");
    static const struct {
        const char *name, *help;
    } counters[] = {
        {"evl_connect_records_total", "Records the connector's task moved."},
        {"evl_connect_bytes_total", "Key and value bytes the connector's task moved."},
        {"evl_connect_errors_total", "Records that failed conversion or a transform."},
        {"evl_connect_retries_total", "Failed operations tried again."},
        {"evl_connect_dlq_records_total", "Records written to the dead letter queue."},
        {"evl_connect_filtered_total", "Records a Filter transform dropped."},
        {"evl_connect_lag", "Records in the sink's topics its group has not committed."},
        {"evl_connect_running", "1 if the connector's task is running."},
    };
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (size_t k = 0; k < sizeof counters / sizeof counters[0]; k++) {
        prom_line(&buf, &len, &cap, "# HELP %s %s\n# TYPE %s %s\n", counters[k].name,
                  counters[k].help, counters[k].name,
                  strstr(counters[k].name, "_total") ? "counter" : "gauge");
        for (size_t i = 0; i < n; i++) {
            evl_connect_metrics_t all = {0};
            if (evl_connect_metrics(r->w, names[i], &all))
                continue;
            if (k == 6) { /* lag: the group's, the connector's */
                prom_line(&buf, &len, &cap, "%s{connector=\"%s\"} %lld\n", counters[k].name,
                          names[i], (long long)all.lag);
                continue;
            }
            for (int t = 0; t < evl_connect_task_count(r->w, names[i]); t++) {
                evl_connect_metrics_t m = {0};
                if (evl_connect_task_metrics(r->w, names[i], t, &m))
                    continue;
                int64_t v[] = {m.records, m.bytes, m.errors, m.retries, m.dlq_records,
                               m.filtered, 0, m.state == EVL_CONNECT_RUNNING};
                prom_line(&buf, &len, &cap, "%s{connector=\"%s\",task=\"%d\"} %lld\n",
                          counters[k].name, names[i], t, (long long)v[k]);
            }
        }
    }
    evl_connect_list_free(names, n);
    return send_text(c, 200, "text/plain; version=0.0.4", buf);
}

/* Up to 6 path segments of url (decoded in place into buf). */
static int split(const char *url, char *buf, size_t sz, char **seg)
{
    snprintf(buf, sz, "%s", url);
    int n = 0;
    for (char *save = NULL, *s = strtok_r(buf, "/", &save); s && n < 6;
         s = strtok_r(NULL, "/", &save)) {
        MHD_http_unescape(s);
        seg[n++] = s;
    }
    return n;
}

static enum MHD_Result route(evl_connect_rest_t *r, struct MHD_Connection *c, const char *url,
                             const char *method, const req_t *q)
{
    char buf[1024], *s[6] = {0};
    int n = split(url, buf, sizeof buf, s);
    bool get = !strcmp(method, "GET"), put = !strcmp(method, "PUT"),
         post = !strcmp(method, "POST"), del = !strcmp(method, "DELETE");
    if (n == 0 && get)
        return send_json(c, 200, json_pack("{s:s, s:s, s:s}", "version", "libeventlog",
                                           "commit", "", "kafka_cluster_id", ""));
    if (n == 1 && !strcmp(s[0], "metrics") && get)
        return metrics(r, c);
    if (n == 1 && !strcmp(s[0], "connector-plugins") && get) {
        json_t *a = json_array();
        for (size_t i = 0; i < evl_connect_type_count(r->w); i++) {
            const evl_connector_type_t *t = evl_connect_type(r->w, i);
            json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "class", t->name, "type",
                                               t->sink ? "sink" : "source", "version",
                                               "libeventlog"));
        }
        return send_json(c, 200, a);
    }
    if (n == 4 && !strcmp(s[0], "connector-plugins") && !strcmp(s[2], "config") &&
        !strcmp(s[3], "validate") && put)
        return validate(r, c, q, s[1]);
    if (n >= 1 && strcmp(s[0], "connectors"))
        return send_error(c, 404, "not found");
    if (n == 1 && get) {
        const char *expand = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "expand");
        char **names;
        size_t k;
        if (evl_connect_list(r->w, &names, &k))
            return send_error(c, 500, "out of memory");
        json_t *out = expand ? json_object() : json_array();
        for (size_t i = 0; i < k; i++) {
            if (!expand) {
                json_array_append_new(out, json_string(names[i]));
                continue;
            }
            json_t *e = json_object();
            if (!strcmp(expand, "status"))
                json_object_set_new(e, "status", status_of(r, names[i]));
            else if (!strcmp(expand, "info"))
                json_object_set_new(e, "info", info_of(r->w, names[i]));
            json_object_set_new(out, names[i], e);
        }
        evl_connect_list_free(names, k);
        return send_json(c, 200, out);
    }
    if (n == 1 && post)
        return create(r, c, q, NULL, false);
    if (n < 2)
        return send_error(c, 405, "method not allowed");
    const char *name = s[1];
    if (evl_connect_status(r->w, name, NULL, NULL, 0) < 0 && !(n == 3 && put &&
                                                              !strcmp(s[2], "config"))) {
        char msg[300];
        snprintf(msg, sizeof msg, "Connector %s not found", name);
        return send_error(c, 404, msg);
    }
    if (n == 2 && get)
        return send_json(c, 200, info_of(r->w, name));
    if (n == 2 && del) {
        evl_connect_delete(r->w, name);
        return send_text(c, 204, NULL, NULL);
    }
    if (n == 3 && !strcmp(s[2], "config") && get)
        return send_json(c, 200, config_of(r->w, name, NULL, NULL));
    if (n == 3 && !strcmp(s[2], "config") && put)
        return create(r, c, q, name, true);
    if (n == 3 && !strcmp(s[2], "status") && get)
        return send_json(c, 200, status_of(r, name));
    if (n == 3 && !strcmp(s[2], "tasks") && get) {
        json_t *a = json_array();
        for (int i = 0; i < evl_connect_task_count(r->w, name); i++)
            json_array_append_new(a, json_pack("{s:{s:s, s:i}, s:o}", "id", "connector", name,
                                               "task", i, "config",
                                               config_of(r->w, name, NULL, NULL)));
        return send_json(c, 200, a);
    }
    if (n == 3 && !strcmp(s[2], "restart") && post) {
        int rc = evl_connect_restart(r->w, name);
        return rc ? send_error(c, 500, evl_strerror(rc)) : send_text(c, 204, NULL, NULL);
    }
    char *end = NULL;
    long task = n == 5 && !strcmp(s[2], "tasks") ? strtol(s[3], &end, 10) : -1;
    if (n == 5 && (!end || *end || task < 0 || task >= evl_connect_task_count(r->w, name)))
        return send_error(c, 404, "no such task");
    if (n == 5 && !strcmp(s[4], "restart") && post) {
        int rc = evl_connect_restart_task(r->w, name, (int)task);
        return rc ? send_error(c, 500, evl_strerror(rc)) : send_text(c, 204, NULL, NULL);
    }
    if (n == 5 && !strcmp(s[4], "status") && get)
        return send_json(c, 200, task_status(r, name, (int)task));
    if (n == 3 && (!strcmp(s[2], "pause") || !strcmp(s[2], "resume")) && put) {
        int rc = !strcmp(s[2], "pause") ? evl_connect_pause(r->w, name)
                                        : evl_connect_resume(r->w, name);
        return rc ? send_error(c, 500, evl_strerror(rc)) : send_text(c, 202, NULL, NULL);
    }
    return send_error(c, 404, "not found");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    (void)version;
    evl_connect_rest_t *r = cls;
    req_t *q = *con_cls;
    if (!q) { /* the headers: the body comes next */
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        return MHD_YES;
    }
    if (*size) {
        if (q->len + *size > BODY_MAX) {
            q->too_big = true;
        } else {
            char *nb = realloc(q->body, q->len + *size + 1);
            if (!nb)
                return MHD_NO;
            memcpy(nb + q->len, data, *size);
            q->body = nb;
            q->len += *size;
            q->body[q->len] = 0;
        }
        *size = 0;
        return MHD_YES;
    }
    if (q->too_big)
        return send_error(c, 413, "body larger than 1 MiB");
    return route(r, c, url, method, q);
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    req_t *q = *con_cls;
    if (q) {
        free(q->body);
        free(q);
    }
    *con_cls = NULL;
}

EVL_API int evl_connect_rest_start(evl_connect_worker_t *w, const char *listen,
                                   evl_connect_rest_t **out, char *err, size_t errsz)
{
    if (!w || !out)
        return EVL_EINVAL;
    *out = NULL;
    char host[64] = "127.0.0.1";
    int port = 8083;
    if (listen && *listen) {
        const char *colon = strrchr(listen, ':');
        char *e;
        long p = colon ? strtol(colon + 1, &e, 10) : -1;
        if (!colon || *e || p < 0 || p > 65535 || (size_t)(colon - listen) >= sizeof host) {
            snprintf(err, errsz, "listen: HOST:PORT expected, not '%s'", listen);
            return EVL_ECONFIG;
        }
        if (colon > listen)
            snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
        port = (int)p;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        snprintf(err, errsz, "listen: '%s' is not an IPv4 address", host);
        return EVL_ECONFIG;
    }
    evl_connect_rest_t *r = calloc(1, sizeof *r);
    if (!r)
        return EVL_ENOMEM;
    r->w = w;
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, handler,
                            r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                            MHD_OPTION_NOTIFY_COMPLETED, done, r, MHD_OPTION_END);
    if (!r->d) {
        snprintf(err, errsz, "listen: cannot listen on %s:%d", host, port);
        free(r);
        return EVL_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT);
    r->port = info ? info->port : port;
    snprintf(r->id, sizeof r->id, "%s:%d", host, r->port);
    *out = r;
    return 0;
}

EVL_API int evl_connect_rest_port(const evl_connect_rest_t *r) { return r ? r->port : -1; }

EVL_API void evl_connect_rest_stop(evl_connect_rest_t *r)
{
    if (!r)
        return;
    MHD_stop_daemon(r->d);
    free(r);
}
