/*
 * test_transforms.c - converters, single message transforms, predicates and
 * Kafka Connect's error handling (errors.tolerance, the dead letter queue
 * with its __connect.errors.* headers), seen by a sink that keeps what it
 * is given.
 */
#include "connect_helpers.h"

#include <eventlog/connect.h>
#include <jansson.h>
#include <pthread.h>

TestSuite(transforms, .init = test_dir_setup, .fini = test_dir_teardown);

/* ---- a sink that keeps what it is given ----------------------------------------- */

typedef struct got {
    char topic[256];
    char *key, *value; /* NUL-terminated copies; NULL: none */
    char headers[512]; /* name=value;... */
} got_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static got_t got[64];
static int ngot;

static char *dup_or_null(const void *p, size_t n)
{
    if (!p)
        return NULL;
    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static int keep_start(const evl_conf_t *c, evl_sink_task_t *t, void **st)
{
    (void)c;
    (void)t;
    *st = NULL;
    return 0;
}

static int keep_put(void *st, const evl_sink_record_t *r, size_t n)
{
    (void)st;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n && ngot < 64; i++) {
        got_t *g = &got[ngot++];
        snprintf(g->topic, sizeof g->topic, "%s", r[i].topic);
        g->key = dup_or_null(r[i].key, r[i].key_len);
        g->value = dup_or_null(r[i].value, r[i].value_len);
        g->headers[0] = 0;
        for (size_t h = 0; h < r[i].nheaders; h++)
            snprintf(g->headers + strlen(g->headers), sizeof g->headers - strlen(g->headers),
                     "%.*s;", (int)r[i].headers[h].name_len, r[i].headers[h].name);
    }
    pthread_mutex_unlock(&mu);
    return 0;
}

static int keep_flush(void *st)
{
    (void)st;
    return 0;
}

static void keep_stop(void *st) { (void)st; }

static const evl_sink_ops_t keep_ops = {keep_start, keep_put, keep_flush, keep_stop, NULL};
static const evl_connector_type_t keep_type = {"Keep", NULL, 0, NULL, &keep_ops, 0};

static void reset(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < ngot; i++) {
        free(got[i].key);
        free(got[i].value);
    }
    ngot = 0;
    pthread_mutex_unlock(&mu);
}

static void put_local(evl_log_t *log, const char *topic, const char *key, const char *value,
                      const char *header, int64_t ts)
{
    evl_producer_t *p;
    if (evl_topic_partitions(log, topic) < 0)
        cr_assert_eq(evl_topic_create(log, topic, 1, NULL), 0);
    cr_assert_eq(evl_producer_new(log, topic, NULL, &p), 0);
    evl_header_t h = {header, header ? strlen(header) : 0, "1", 1};
    evl_msg_t m = {key, key ? strlen(key) : 0, value, value ? strlen(value) : 0,
                   header ? &h : NULL, header ? 1 : 0, ts, 0, -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    evl_producer_close(p);
}

/* Run the Keep sink with pairs until it has seen want records (or failed). */
static evl_connect_metrics_t run(evl_log_t *log, const char **pairs, size_t n, int want)
{
    reset();
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(evl_connect_register(w, &keep_type), 0);
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, n, err, sizeof err), 0, "%s", err);
    evl_connect_metrics_t m = {0};
    for (int i = 0; i < 500; i++) {
        evl_connect_metrics(w, "k", &m);
        pthread_mutex_lock(&mu);
        int g = ngot;
        pthread_mutex_unlock(&mu);
        if (m.state == EVL_CONNECT_FAILED || (g >= want && m.records + 0 >= 1 && i > 20))
            break;
        usleep(10000);
    }
    evl_connect_metrics(w, "k", &m);
    evl_connect_worker_free(w);
    return m;
}

static void json_is(const char *got_text, const char *want)
{
    cr_assert_not_null(got_text);
    json_t *a = json_loads(got_text, 0, NULL), *b = json_loads(want, 0, NULL);
    cr_assert_not_null(a, "not JSON: %s", got_text);
    cr_assert_not_null(b, "test's own JSON: %s", want);
    cr_assert(json_equal(a, b), "got %s, want %s", got_text, want);
    json_decref(a);
    json_decref(b);
}

Test(transforms, a_chain_on_schemaless_json)
{
    evl_log_t *log = test_open(NULL);
    put_local(log, "local-a", NULL,
              "{\"id\": 7, \"temp\": \"21.5\", \"secret\": \"pin\", \"drop\": 1, \"n\": 300}", NULL,
              1000);
    const char *pairs[] = {
        "name", "k", "connector.class", "Keep", "topics", "local-a",
        "value.converter", "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable", "false",
        "transforms", "ins,mask,repl,cast,route,key",
        "transforms.ins.type", "org.apache.kafka.connect.transforms.InsertField$Value",
        "transforms.ins.static.field", "site", "transforms.ins.static.value", "north",
        "transforms.ins.topic.field", "from!",
        "transforms.mask.type", "MaskField$Value", "transforms.mask.fields", "secret",
        "transforms.repl.type", "ReplaceField$Value", "transforms.repl.exclude", "drop",
        "transforms.repl.renames", "temp:temperature",
        "transforms.cast.type", "Cast$Value", "transforms.cast.spec", "temperature:float64,n:int8",
        "transforms.route.type", "RegexRouter", "transforms.route.regex", "local-(.*)",
        "transforms.route.replacement", "out-$1",
        "transforms.key.type", "ValueToKey", "transforms.key.fields", "id",
        "key.converter", "JsonConverter", "key.converter.schemas.enable", "false"};
    evl_connect_metrics_t m = run(log, pairs, sizeof pairs / sizeof pairs[0] / 2, 1);
    cr_assert_eq(m.state, EVL_CONNECT_RUNNING);
    cr_assert_eq(ngot, 1);
    cr_assert_str_eq(got[0].topic, "out-a");
    /* n: 300 cast to int8 wraps to 44, as Kafka's Cast does. */
    json_is(got[0].value, "{\"id\": 7, \"temperature\": 21.5, \"secret\": \"\", \"n\": 44,"
                          " \"site\": \"north\", \"from\": \"local-a\"}");
    json_is(got[0].key, "{\"id\": 7}");
    reset();
    evl_log_close(log);
}

Test(transforms, extract_hoist_and_the_string_converter)
{
    evl_log_t *log = test_open(NULL);
    put_local(log, "t", "{\"user\": {\"name\": \"ada\"}}", "hello", NULL, 1000);
    const char *pairs[] = {
        "name", "k", "connector.class", "Keep", "topics", "t",
        "key.converter", "JsonConverter", "key.converter.schemas.enable", "false",
        "value.converter", "StringConverter",
        "transforms", "ex,hoist",
        "transforms.ex.type", "ExtractField$Key", "transforms.ex.field", "user",
        "transforms.hoist.type", "HoistField$Value", "transforms.hoist.field", "greeting"};
    run(log, pairs, sizeof pairs / sizeof pairs[0] / 2, 1);
    cr_assert_eq(ngot, 1);
    json_is(got[0].key, "{\"name\": \"ada\"}");
    /* StringConverter writes a struct as its JSON text. */
    json_is(got[0].value, "{\"greeting\": \"hello\"}");
    reset();
    evl_log_close(log);
}

Test(transforms, filter_with_predicates_and_negate)
{
    evl_log_t *log = test_open(NULL);
    put_local(log, "t", "a", "keep-1", NULL, 1000);
    put_local(log, "t", "b", "drop-header", "skip", 1000);
    put_local(log, "t", "c", NULL, NULL, 1000); /* a tombstone */
    put_local(log, "t", "d", "keep-2", NULL, 1000);
    const char *pairs[] = {
        "name", "k", "connector.class", "Keep", "topics", "t",
        "predicates", "hasSkip,tomb,isT",
        "predicates.hasSkip.type", "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
        "predicates.hasSkip.name", "skip",
        "predicates.tomb.type", "RecordIsTombstone",
        "predicates.isT.type", "TopicNameMatches", "predicates.isT.pattern", "t|u",
        "transforms", "dropSkip,dropTomb,dropOthers",
        "transforms.dropSkip.type", "Filter", "transforms.dropSkip.predicate", "hasSkip",
        "transforms.dropTomb.type", "Filter", "transforms.dropTomb.predicate", "tomb",
        /* negate: drops what is NOT topic t or u, so nothing here */
        "transforms.dropOthers.type", "Filter", "transforms.dropOthers.predicate", "isT",
        "transforms.dropOthers.negate", "true"};
    evl_connect_metrics_t m = run(log, pairs, sizeof pairs / sizeof pairs[0] / 2, 2);
    cr_assert_eq(ngot, 2);
    cr_assert_str_eq(got[0].value, "keep-1");
    cr_assert_str_eq(got[1].value, "keep-2");
    cr_assert_eq(m.filtered, 2);
    reset();
    evl_log_close(log);
}

Test(transforms, json_schemas_envelope_follows_the_transforms)
{
    evl_log_t *log = test_open(NULL);
    put_local(log, "t", NULL,
              "{\"schema\": {\"type\": \"struct\", \"name\": \"reading\", \"optional\": false,"
              " \"fields\": [{\"field\": \"a\", \"type\": \"int32\", \"optional\": false},"
              " {\"field\": \"b\", \"type\": \"string\", \"optional\": true}]},"
              " \"payload\": {\"a\": 1, \"b\": \"x\"}}",
              NULL, 86400000LL * 365);
    const char *pairs[] = {
        "name", "k", "connector.class", "Keep", "topics", "t",
        "value.converter", "org.apache.kafka.connect.json.JsonConverter",
        "transforms", "cast,ren,ts",
        "transforms.cast.type", "Cast$Value", "transforms.cast.spec", "a:string",
        "transforms.ren.type", "ReplaceField$Value", "transforms.ren.renames", "b:c",
        "transforms.ts.type", "TimestampRouter",
        "transforms.ts.topic.format", "${topic}-${timestamp}",
        "transforms.ts.timestamp.format", "yyyy-MM-dd"};
    run(log, pairs, sizeof pairs / sizeof pairs[0] / 2, 1);
    cr_assert_eq(ngot, 1);
    cr_assert_str_eq(got[0].topic, "t-1971-01-01");
    json_is(got[0].value,
            "{\"schema\": {\"type\": \"struct\", \"name\": \"reading\", \"optional\": false,"
            " \"fields\": [{\"field\": \"a\", \"type\": \"string\", \"optional\": false},"
            " {\"field\": \"c\", \"type\": \"string\", \"optional\": true}]},"
            " \"payload\": {\"a\": \"1\", \"c\": \"x\"}}");
    reset();
    evl_log_close(log);
}

Test(transforms, bad_records_go_to_the_dead_letter_queue_with_context_headers)
{
    evl_log_t *log = test_open(NULL);
    put_local(log, "t", "k1", "{\"ok\": 1}", NULL, 1000);
    put_local(log, "t", "k2", "{not json", "trace", 1000);
    put_local(log, "t", "k3", "{\"ok\": 3}", NULL, 1000);
    const char *pairs[] = {
        "name", "k", "connector.class", "Keep", "topics", "t",
        "value.converter", "JsonConverter", "value.converter.schemas.enable", "false",
        "errors.tolerance", "all",
        "errors.deadletterqueue.topic.name", "dlq-k",
        "errors.deadletterqueue.context.headers.enable", "true"};
    evl_connect_metrics_t m = run(log, pairs, sizeof pairs / sizeof pairs[0] / 2, 2);
    cr_assert_eq(m.state, EVL_CONNECT_RUNNING);
    cr_assert_eq(ngot, 2);
    cr_assert_eq(m.errors, 1);
    cr_assert_eq(m.dlq_records, 1);
    /* The record as it was, with its own header and the context's. */
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "dlq-k", 0, &rd), 0);
    const evl_record_t *r;
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    size_t vl;
    const char *v = evl_record_value(r, &vl);
    cr_assert(vl == 9 && !memcmp(v, "{not json", 9));
    const char *want[][2] = {{"trace", "1"},
                             {"__connect.errors.topic", "t"},
                             {"__connect.errors.partition", "0"},
                             {"__connect.errors.offset", "1"},
                             {"__connect.errors.connector.name", "k"},
                             {"__connect.errors.stage", "VALUE_CONVERTER"},
                             {"__connect.errors.class.name", "JsonConverter"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        evl_header_t h;
        bool found = false;
        for (size_t j = 0; evl_record_header(r, j, &h) == 0; j++)
            if (h.name_len == strlen(want[i][0]) && !memcmp(h.name, want[i][0], h.name_len)) {
                found = true;
                cr_assert(h.value_len == strlen(want[i][1]) &&
                              !memcmp(h.value, want[i][1], h.value_len),
                          "%s: %.*s", want[i][0], (int)h.value_len, (const char *)h.value);
            }
        cr_assert(found, "no header %s", want[i][0]);
    }
    evl_header_t h;
    bool msg = false;
    for (size_t j = 0; evl_record_header(r, j, &h) == 0; j++)
        msg = msg || (h.name_len == 34 && !memcmp(h.name, "__connect.errors.exception.message", 34));
    cr_assert(msg);
    evl_reader_close(rd);
    reset();
    /* errors.tolerance none (the default): the task fails, naming the stage. */
    const char *strict[] = {"name", "strict", "connector.class", "Keep", "topics", "t",
                            "value.converter", "JsonConverter"};
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(evl_connect_register(w, &keep_type), 0);
    char err[256];
    cr_assert_eq(evl_connect_start(w, strict, 4, err, sizeof err), 0, "%s", err);
    int st = 0;
    for (int i = 0; i < 300 && st != EVL_CONNECT_FAILED; i++) {
        st = evl_connect_status(w, "strict", NULL, err, sizeof err);
        usleep(10000);
    }
    cr_assert_eq(st, EVL_CONNECT_FAILED);
    cr_assert(strstr(err, "VALUE_CONVERTER") && strstr(err, "JsonConverter"), "%s", err);
    evl_connect_worker_free(w);
    reset();
    evl_log_close(log);
}

Test(transforms, bad_transform_settings_are_refused_naming_them)
{
    evl_log_t *log = test_open(NULL);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(evl_connect_register(w, &keep_type), 0);
    struct {
        const char *k1, *v1, *k2, *v2, *k3, *v3, *says;
    } cases[] = {
        {"transforms", "x", "transforms.x.type", "NoSuch", NULL, NULL, "transforms.x.type"},
        {"transforms", "x", "transforms.x.type", "InsertField", NULL, NULL, "$Key or $Value"},
        {"transforms", "x", "transforms.x.type", "ExtractField$Value", NULL, NULL,
         "transforms.x.field"},
        {"transforms", "x", "transforms.x.type", "RegexRouter", "transforms.x.regex", "(",
         "transforms.x.replacement"},
        {"transforms", "x", "transforms.x.type", "Filter", "transforms.x.predicate", "nope",
         "transforms.x.predicate"},
        {"transforms", "x", "transforms.x.type", "Cast$Value", "transforms.x.spec", "a:uint9",
         "transforms.x.spec"},
        {"predicates", "p", "predicates.p.type", "TopicNameMatches", NULL, NULL,
         "predicates.p.pattern"},
        {"value.converter", "AvroConverter", NULL, NULL, NULL, NULL, "value.converter"},
        {"errors.tolerance", "some", NULL, NULL, NULL, NULL, "errors.tolerance"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pairs[12] = {"name", "k", "connector.class", "Keep", "topics", "t",
                                 cases[i].k1, cases[i].v1};
        size_t n = 4;
        if (cases[i].k2)
            pairs[8] = cases[i].k2, pairs[9] = cases[i].v2, n++;
        if (cases[i].k3)
            pairs[10] = cases[i].k3, pairs[11] = cases[i].v3, n++;
        char err[256];
        cr_assert_eq(evl_connect_start(w, pairs, n, err, sizeof err), EVL_ECONFIG, "case %zu", i);
        cr_assert(strstr(err, cases[i].says), "case %zu: %s", i, err);
    }
    evl_connect_worker_free(w);
    evl_log_close(log);
}

/* Regression: ValueToKey shared the value's nested objects with the key, so
 * a transform of the key changed the value too. */
Test(transforms, a_key_made_from_the_value_is_its_own)
{
    evl_log_t *log = test_open(NULL);
    put_local(log, "t", NULL, "{\"user\": {\"name\": \"ada\"}}", NULL, 1000);
    const char *pairs[] = {
        "name", "k", "connector.class", "Keep", "topics", "t",
        "key.converter", "JsonConverter", "key.converter.schemas.enable", "false",
        "value.converter", "JsonConverter", "value.converter.schemas.enable", "false",
        "transforms", "v2k,ex,ins",
        "transforms.v2k.type", "ValueToKey", "transforms.v2k.fields", "user",
        "transforms.ex.type", "ExtractField$Key", "transforms.ex.field", "user",
        "transforms.ins.type", "InsertField$Key", "transforms.ins.static.field", "x",
        "transforms.ins.static.value", "y"};
    run(log, pairs, sizeof pairs / sizeof pairs[0] / 2, 1);
    cr_assert_eq(ngot, 1);
    json_is(got[0].key, "{\"name\": \"ada\", \"x\": \"y\"}");
    json_is(got[0].value, "{\"user\": {\"name\": \"ada\"}}");
    reset();
    evl_log_close(log);
}

/* tasks.max: a sink's tasks split the topic's partitions as members of the
 * group connect-NAME, each record to one of them; a type that takes one
 * task (FileStreamSource) runs one whatever is asked. */
Test(transforms, sink_tasks_split_the_partitions, .timeout = 60)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "many", 4, NULL), 0);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, "many", NULL, &p), 0);
    for (int i = 0; i < 40; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        evl_msg_t m = {NULL, 0, v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW, i % 4, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    evl_producer_close(p);
    reset();
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(evl_connect_register(w, &keep_type), 0);
    const char *pairs[] = {"name", "k", "connector.class", "Keep", "topics", "many", "tasks.max",
                           "2"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 4, err, sizeof err), 0, "%s", err);
    cr_assert_eq(evl_connect_task_count(w, "k"), 2);
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&mu);
        int g = ngot;
        pthread_mutex_unlock(&mu);
        if (g >= 40)
            break;
        usleep(10000);
    }
    usleep(300000);
    evl_connect_metrics_t m0, m1, all;
    cr_assert_eq(evl_connect_task_metrics(w, "k", 0, &m0), 0);
    cr_assert_eq(evl_connect_task_metrics(w, "k", 1, &m1), 0);
    cr_assert_eq(evl_connect_metrics(w, "k", &all), 0);
    cr_assert_eq(ngot, 40, "each record once: %d", ngot);
    cr_assert_eq(all.records, 40);
    cr_assert_eq(m0.records + m1.records, 40);
    cr_assert_eq(evl_connect_task_status(w, "k", 1, err, sizeof err), EVL_CONNECT_RUNNING);
    cr_assert_eq(evl_connect_task_status(w, "k", 2, err, sizeof err), EVL_ENOTFOUND);
    cr_assert_eq(evl_connect_restart_task(w, "k", 1), 0);
    cr_assert_eq(evl_connect_delete(w, "k"), 0);
    cr_assert_eq(evl_connect_task_count(w, "k"), EVL_ENOTFOUND);
    const char *one[] = {"name", "src", "connector.class", "FileStreamSource", "file",
                         tpath("in.txt"), "topic", "many", "tasks.max", "3"};
    cr_assert_eq(evl_connect_start(w, one, 5, err, sizeof err), 0, "%s", err);
    cr_assert_eq(evl_connect_task_count(w, "src"), 1);
    evl_connect_worker_free(w);
    reset();
    evl_log_close(log);
}
