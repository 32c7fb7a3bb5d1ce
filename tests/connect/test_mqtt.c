/*
 * test_mqtt.c - MqttSource and MqttSink against a real mosquitto broker on
 * 127.0.0.1 (started and stopped by the test), fed and read by
 * mosquitto_pub and mosquitto_sub: messages land with their MQTT topic as
 * the key; every message mosquitto_pub had acknowledged at QoS 1 is in the
 * local topic after the worker is killed -9 again and again; local records
 * reach a subscriber; bad settings are refused naming them.
 */
#include "connect_helpers.h"
#include "mqtt_broker.h"

#include <eventlog/connect.h>

/* The broker of the running test, stopped also when an assertion ends it. */
static broker_t *running;

static void teardown(void)
{
    if (running)
        broker_stop(running);
    running = NULL;
    test_dir_teardown();
}

TestSuite(mqtt, .init = test_dir_setup, .fini = teardown);

static void extern_broker_started(broker_t *b) { running = b; }

static int64_t local_total(evl_log_t *log, const char *topic)
{
    int64_t t = 0;
    int np = evl_topic_partitions(log, topic);
    for (int p = 0; p < np; p++) {
        evl_partition_info_t pi;
        cr_assert_eq(evl_partition_info(log, topic, p, &pi), 0);
        t += pi.end_offset;
    }
    return t;
}

static void source_pairs(const broker_t *b, const char **p)
{
    const char *v[] = {"name", "mqtt-in", "connector.class", "MqttSource", "mqtt.server.uri",
                       b->uri, "mqtt.topics", "sensors/+/temp,alarms/#", "topic", "readings",
                       "mqtt.qos", "1", "mqtt.client.id", "evl-test-device"};
    memcpy(p, v, sizeof v);
}

/* Until the worker has subscribed: probes are published until one lands. */
static void wait_subscribed(const broker_t *b, evl_log_t *log)
{
    for (int i = 0; i < 100 && local_total(log, "readings") == 0; i++) {
        published(publish(b, "alarms/probe", "probe", i, i + 1));
        usleep(50000);
    }
    cr_assert_gt(local_total(log, "readings"), 0, "the source never subscribed");
}

Test(mqtt, messages_land_with_their_topic_as_key, .timeout = 60)
{
    broker_t b;
    broker_start(&b);
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "readings", 2, NULL), 0);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *pairs[14];
    source_pairs(&b, pairs);
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 7, err, sizeof err), 0, "%s", err);
    wait_subscribed(&b, log);
    int64_t probes = local_total(log, "readings");
    published(publish(&b, "sensors/kitchen/temp", "t", 0, 500));
    published(publish(&b, "sensors/kitchen/humidity", "h", 0, 10)); /* not subscribed */
    for (int i = 0; i < 500 && local_total(log, "readings") < probes + 500; i++)
        usleep(10000);
    usleep(200000);
    evl_connect_worker_free(w);
    cr_assert_eq(local_total(log, "readings"), probes + 500);
    /* All of one MQTT topic in one partition, in order, keyed by it. */
    int next = 0;
    for (int p = 0; p < 2; p++) {
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(log, "readings", p, &rd), 0);
        const evl_record_t *r;
        while (evl_reader_next(rd, 0, &r) == 0) {
            size_t kl, vl;
            const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
            if (kl == 20 && !memcmp(k, "sensors/kitchen/temp", 20)) {
                char want[16];
                snprintf(want, sizeof want, "t%d", next++);
                cr_assert(vl == strlen(want) && !memcmp(v, want, vl), "%.*s", (int)vl, v);
            } else {
                cr_assert(kl == 12 && !memcmp(k, "alarms/probe", 12), "key %.*s", (int)kl, k);
            }
        }
        evl_reader_close(rd);
    }
    cr_assert_eq(next, 500);
    evl_log_close(log);
    broker_stop(&b);
}

static broker_t kb;

static void child(void)
{
    evl_log_t *log;
    if (evl_log_open(tpath("log"), NULL, &log))
        _exit(2);
    evl_connect_worker_t *w;
    const char *pairs[14];
    source_pairs(&kb, pairs);
    char err[256];
    if (evl_connect_worker_new(log, &w) || evl_connect_start(w, pairs, 7, err, sizeof err))
        _exit(3);
    for (;;)
        usleep(10000);
}

Test(mqtt, kill9_loses_no_acknowledged_message, .timeout = 180)
{
    enum { N = 6000 };
    broker_start(&kb);
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "readings", 2, NULL), 0);
    pid_t w = fork();
    if (w == 0)
        child();
    wait_subscribed(&kb, log); /* the broker keeps the session from now on */
    pid_t pub = publish(&kb, "sensors/yard/temp", "", 0, N);
    unsigned seed = (unsigned)getpid();
    int kills = 0;
    for (int round = 0; round < (test_quick() ? 4 : 12); round++) {
        usleep(20000 + (unsigned)(rand_r(&seed) % 150000));
        kill(w, SIGKILL);
        waitpid(w, NULL, 0);
        kills++;
        if (round % 3 == 0)
            usleep(100000); /* messages pile up at the broker meanwhile */
        w = fork();
        if (w == 0)
            child();
    }
    published(pub); /* every one acknowledged to the publisher */
    static int seen[N];
    int missing = N;
    for (int i = 0; i < 3000 && missing; i++) {
        usleep(10000);
        if (i % 20)
            continue;
        memset(seen, 0, sizeof seen);
        count_values(log, "readings", 2, "sensors/yard/temp", seen, N);
        missing = 0;
        for (int x = 0; x < N; x++)
            missing += seen[x] == 0;
    }
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    int twice = 0;
    for (int i = 0; i < N; i++)
        twice += seen[i] > 1;
    cr_log_info("mqtt source: %d kills, %d of %d messages came twice", kills, twice, N);
    cr_assert_eq(missing, 0, "%d acknowledged messages missing", missing);
    /* Twice: what a killed worker had appended and not yet acknowledged,
     * and acknowledgements lost with the connection (the kernel resets a
     * connection closed with unread data, and the broker drops what it had
     * not read yet). */
    evl_log_close(log);
    broker_stop(&kb);
}

/* A message the log refuses (too big for the topic) fails the task before
 * its batch is committed: it must not be acknowledged, so the broker sends
 * it again to the next worker of the session, which takes it. */
Test(mqtt, a_message_the_log_refuses_is_not_acknowledged, .timeout = 60)
{
    broker_t b;
    broker_start(&b);
    evl_log_t *log = test_open(NULL);
    evl_config_t *small = test_cfg("max.message.bytes", "200", NULL);
    cr_assert_eq(evl_topic_create(log, "small", 1, small), 0);
    evl_config_free(small);
    cr_assert_eq(evl_topic_create(log, "readings", 1, NULL), 0);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *pairs[] = {"name", "mqtt-in", "connector.class", "MqttSource", "mqtt.server.uri",
                           b.uri, "mqtt.topics", "alarms/#", "topic", "small",
                           "mqtt.client.id", "evl-test-device"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 6, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 100 && local_total(log, "small") == 0; i++) { /* subscribed */
        published(publish(&b, "alarms/probe", "probe", i, i + 1));
        usleep(50000);
    }
    cr_assert_gt(local_total(log, "small"), 0);
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    published(publish(&b, "alarms/big", big, 0, 1));
    evl_connect_metrics_t m = {0};
    for (int i = 0; i < 500 && m.state != EVL_CONNECT_FAILED; i++) {
        evl_connect_metrics(w, "mqtt-in", &m);
        usleep(10000);
    }
    cr_assert_eq(m.state, EVL_CONNECT_FAILED, "the too big message did not fail the task");
    evl_connect_worker_free(w);
    /* The same session, into a topic that takes it. */
    pairs[9] = "readings";
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    cr_assert_eq(evl_connect_start(w, pairs, 6, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 500 && local_total(log, "readings") == 0; i++)
        usleep(10000);
    evl_connect_worker_free(w);
    cr_assert_eq(local_total(log, "readings"), 1, "the broker did not send it again");
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "readings", 0, &rd), 0);
    const evl_record_t *r;
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    size_t vl;
    evl_record_value(r, &vl);
    cr_assert_eq(vl, strlen(big) + 1);
    evl_reader_close(rd);
    evl_log_close(log);
    broker_stop(&b);
}

Test(mqtt, local_records_reach_a_subscriber, .timeout = 60)
{
    broker_t b;
    broker_start(&b);
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "commands", 2, NULL), 0);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_new(log, "commands", NULL, &p), 0);
    for (int i = 0; i < 300; i++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "dev/%d", i % 3);
        snprintf(v, sizeof v, "c%d", i);
        evl_msg_t m = {k, strlen(k), v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW, EVL_PARTITION_ANY,
                       -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    }
    evl_producer_close(p);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mosquitto_sub -h 127.0.0.1 -p %d -q 1 -v -C 300 -W 30 -t 'out/#'",
             b.port);
    FILE *sub = popen(cmd, "r");
    cr_assert_not_null(sub);
    usleep(300000); /* subscribed */
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *pairs[] = {"name", "mqtt-out", "connector.class", "MqttSink", "topics", "commands",
                           "mqtt.server.uri", b.uri, "mqtt.topic", "out/${key}",
                           "offset.flush.interval.ms", "100"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, pairs, 6, err, sizeof err), 0, "%s", err);
    int n = 0, last[3] = {-1, -1, -1};
    char line[128];
    while (fgets(line, sizeof line, sub)) {
        int dev, c;
        cr_assert_eq(sscanf(line, "out/dev/%d c%d", &dev, &c), 2, "%s", line);
        cr_assert(dev >= 0 && dev < 3 && c % 3 == dev);
        cr_assert_gt(c, last[dev], "dev/%d: c%d after c%d", dev, c, last[dev]);
        last[dev] = c;
        n++;
    }
    cr_assert_eq(pclose(sub), 0);
    cr_assert_eq(n, 300);
    /* The group commits once the broker acknowledged them. */
    evl_connect_metrics_t m = {0};
    for (int i = 0; i < 300 && m.records < 300; i++) {
        evl_connect_metrics(w, "mqtt-out", &m);
        usleep(10000);
    }
    cr_assert_eq(evl_connect_stop(w, "mqtt-out"), 0);
    evl_connect_worker_free(w);
    int64_t committed = group_committed(log, "connect-mqtt-out");
    cr_assert_eq(committed, 300);
    evl_log_close(log);
    broker_stop(&b);
}

Test(mqtt, bad_settings_are_refused_naming_them)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "readings", 1, NULL), 0);
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    char err[256];
    const char *uri[] = {"name", "m", "connector.class", "MqttSource", "mqtt.server.uri",
                         "http://127.0.0.1:1883", "mqtt.topics", "a/#", "topic", "readings"};
    cr_assert_eq(evl_connect_start(w, uri, 5, err, sizeof err), EVL_ECONFIG);
    cr_assert(strstr(err, "mqtt.server.uri"), "%s", err);
    const char *qos[] = {"name", "m", "connector.class", "MqttSource", "mqtt.server.uri",
                         "tcp://127.0.0.1:1883", "mqtt.topics", "a/#", "topic", "readings",
                         "mqtt.qos", "3"};
    cr_assert_eq(evl_connect_start(w, qos, 6, err, sizeof err), EVL_ECONFIG);
    cr_assert(strstr(err, "mqtt.qos"), "%s", err);
    const char *topics[] = {"name", "m", "connector.class", "MqttSource", "mqtt.server.uri",
                            "tcp://127.0.0.1:1883", "topic", "readings"};
    cr_assert_eq(evl_connect_start(w, topics, 4, err, sizeof err), EVL_ECONFIG);
    cr_assert(strstr(err, "mqtt.topics"), "%s", err);
    /* A broker that is not there: the task keeps trying, it does not fail. */
    int port = free_port();
    char u[64];
    snprintf(u, sizeof u, "tcp://127.0.0.1:%d", port);
    const char *down[] = {"name", "m", "connector.class", "MqttSource", "mqtt.server.uri", u,
                          "mqtt.topics", "a/#", "topic", "readings"};
    cr_assert_eq(evl_connect_start(w, down, 5, err, sizeof err), 0, "%s", err);
    usleep(300000);
    evl_connect_metrics_t m;
    cr_assert_eq(evl_connect_metrics(w, "m", &m), 0);
    cr_assert_eq(m.state, EVL_CONNECT_RUNNING);
    evl_connect_worker_free(w);
    evl_log_close(log);
}

/* TLS: ssl:// with the CA that signed the broker's certificate (made by
 * openssl for this test) works; with another CA nothing gets through. */
Test(mqtt, tls_with_the_brokers_ca_and_not_without, .timeout = 60)
{
    tls_files();
    broker_t b;
    broker_start_tls(&b, true);
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "readings", 1, NULL), 0);
    char ca[512], other[512];
    snprintf(ca, sizeof ca, "%s/ca.crt", tpath("tls"));
    snprintf(other, sizeof other, "%s/other.crt", tpath("tls"));
    evl_connect_worker_t *w;
    cr_assert_eq(evl_connect_worker_new(log, &w), 0);
    const char *wrong[] = {"name", "bad-ca", "connector.class", "MqttSource", "mqtt.server.uri",
                           b.uri, "mqtt.topics", "alarms/#", "topic", "readings",
                           "mqtt.ssl.ca.file", other, "mqtt.client.id", "evl-test-bad"};
    char err[256];
    cr_assert_eq(evl_connect_start(w, wrong, 7, err, sizeof err), 0, "%s", err);
    const char *good[] = {"name", "mqtt-in", "connector.class", "MqttSource", "mqtt.server.uri",
                          b.uri, "mqtt.topics", "alarms/#", "topic", "readings",
                          "mqtt.ssl.ca.file", ca, "mqtt.client.id", "evl-test-tls"};
    cr_assert_eq(evl_connect_start(w, good, 7, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 100 && local_total(log, "readings") == 0; i++) {
        published(publish(&b, "alarms/probe", "probe", i, i + 1));
        usleep(50000);
    }
    cr_assert_gt(local_total(log, "readings"), 0, "nothing came over TLS");
    int64_t before = local_total(log, "readings");
    published(publish(&b, "alarms/x", "m", 0, 50));
    for (int i = 0; i < 300 && local_total(log, "readings") < before + 50; i++)
        usleep(10000);
    cr_assert_eq(local_total(log, "readings"), before + 50);
    /* The task with the wrong CA: still trying, nothing taken. */
    evl_connect_metrics_t m;
    cr_assert_eq(evl_connect_metrics(w, "bad-ca", &m), 0);
    cr_assert_eq(m.records, 0);
    cr_assert_eq(m.state, EVL_CONNECT_RUNNING);
    evl_connect_worker_free(w);
    evl_log_close(log);
    broker_stop(&b);
}
