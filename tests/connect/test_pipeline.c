/*
 * test_pipeline.c - the IoT pipeline of the README, end to end, with real
 * peers on 127.0.0.1: mosquitto_pub -> mosquitto -> `evl connect run
 * mqtt-in.properties to-kafka.properties` (MqttSource -> local topic ->
 * KafkaSink) -> a Kafka cluster (librdkafka's mock, in this process),
 * while the evl process is killed -9 again and again. Every message the
 * broker acknowledged to the publisher reaches the cluster, and the cluster
 * holds exactly what the local log holds: each record once.
 */
#include "connect_helpers.h"
#include "mqtt_broker.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static broker_t br;
static broker_t *running;
static pid_t worker;

static void teardown(void)
{
    if (worker > 0) {
        kill(worker, SIGKILL);
        waitpid(worker, NULL, 0);
    }
    worker = 0;
    if (running)
        broker_stop(running);
    running = NULL;
    test_dir_teardown();
}

static void extern_broker_started(broker_t *b) { running = b; }

TestSuite(pipeline, .init = test_dir_setup, .fini = teardown);

enum { N = 3000, CPARTS = 3 };

static pid_t start_worker(void)
{
    static const char *const files[] = {"mqtt-in.properties", "to-kafka.properties"};
    static const char *const args[] = {"-c", "disk.bytes.max=268435456"};
    return spawn_worker(files, 2, args, 2);
}

static int64_t local_total(evl_log_t *log)
{
    int64_t t = 0;
    for (int p = 0; p < 2; p++) {
        evl_partition_info_t pi;
        cr_assert_eq(evl_partition_info(log, "readings", p, &pi), 0);
        t += pi.end_offset;
    }
    return t;
}

static rd_kafka_t *owner;

static int64_t cluster_total(void)
{
    int64_t t = 0;
    for (int p = 0; p < CPARTS; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(owner, "device-readings", p, &lo, &hi, 5000))
            return -1;
        t += hi;
    }
    return t;
}

/* Value -> count, from the cluster. */
static void count_cluster(int *seen, const char *boot)
{
    rd_kafka_t *rk = cluster_reader(boot, "device-readings", CPARTS);
    for (int idle = 0; idle < 30;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (!m->err && m->key_len == 14 && !memcmp(m->key, "sensors/a/temp", 14)) {
            char vb[16] = {0};
            memcpy(vb, m->payload, m->len < 15 ? m->len : 15);
            int x = atoi(vb);
            cr_assert(x >= 0 && x < N);
            seen[x]++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
}

Test(pipeline, mqtt_to_kafka_through_the_log_survives_kill9, .timeout = 240)
{
    broker_start(&br);
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "test.mock.num.brokers", "1", err, sizeof err);
    owner = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    cr_assert_not_null(owner, "%s", err);
    rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(owner);
    cr_assert_eq(rd_kafka_mock_topic_create(mock, "device-readings", CPARTS, 1), 0);
    char boot[256];
    snprintf(boot, sizeof boot, "%s", rd_kafka_mock_cluster_bootstraps(mock));

    evl_config_t *tc = test_cfg("retain.until.consumed.by", "connect-to-kafka", NULL);
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "readings", 2, tc), 0);
    evl_config_free(tc);
    FILE *f = fopen(tpath("mqtt-in.properties"), "w");
    fprintf(f, "name=mqtt-in\nconnector.class=MqttSource\nmqtt.server.uri=%s\n"
               "mqtt.topics=sensors/+/temp\nmqtt.qos=1\ntopic=readings\n",
            br.uri);
    fclose(f);
    f = fopen(tpath("to-kafka.properties"), "w");
    fprintf(f, "name=to-kafka\nconnector.class=KafkaSink\ntopics=readings\n"
               "kafka.bootstrap.servers=%s\nkafka.topic=device-readings\n"
               "errors.retry.timeout=-1\noffset.flush.interval.ms=100\n",
            boot);
    fclose(f);

    worker = start_worker();
    for (int i = 0; i < 100 && local_total(log) == 0; i++) { /* subscribed: sessions kept */
        published(publish(&br, "sensors/probe/temp", "", 0, 1));
        usleep(100000);
    }
    cr_assert_gt(local_total(log), 0, "the worker never subscribed");
    pid_t pub = publish(&br, "sensors/a/temp", "", 0, N);
    unsigned seed = (unsigned)getpid();
    int kills = 0;
    for (int round = 0; round < (test_quick() ? 3 : 6); round++) {
        usleep(100000 + (unsigned)(rand_r(&seed) % 300000));
        kill(worker, SIGKILL);
        waitpid(worker, NULL, 0);
        kills++;
        worker = start_worker();
    }
    published(pub); /* the broker has acknowledged every one */
    int64_t want = -1;
    for (int i = 0; i < 600; i++) { /* the local log settles, then the cluster catches up */
        int64_t l = local_total(log), k = cluster_total();
        if (l == want && k == l)
            break;
        want = l;
        usleep(100000);
    }
    kill(worker, SIGTERM); /* a clean stop: flushed, committed, exit 0 */
    int st;
    cr_assert_eq(waitpid(worker, &st, 0), worker);
    worker = 0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "evl connect run ended with %d", st);

    static int local[N], remote[N];
    memset(local, 0, sizeof local);
    memset(remote, 0, sizeof remote);
    count_values(log, "readings", 2, "sensors/a/temp", local, N);
    count_cluster(remote, boot);
    int missing = 0, differ = 0, twice = 0;
    for (int i = 0; i < N; i++) {
        missing += local[i] == 0;
        differ += local[i] != remote[i];
        twice += local[i] > 1;
    }
    cr_log_info("pipeline: %d kills; %d of %d came twice from MQTT (at least once); the "
                "cluster holds what the log holds: %s",
                kills, twice, N, differ ? "NO" : "yes");
    cr_assert_eq(missing, 0, "%d acknowledged readings missing", missing);
    cr_assert_eq(differ, 0, "%d readings differ between the log and the cluster", differ);
    evl_log_close(log);
    rd_kafka_destroy(owner);
    broker_stop(&br);
}
