/*
 * mqtt_sink.c - MqttSink: local records published to an MQTT broker, the
 * value as the payload, to the topic `mqtt.topic` makes of the record
 * (${key}, ${topic}, ${partition}; default ${key}: what MqttSource made the
 * key, so a round trip keeps the topic), at `mqtt.qos`, `mqtt.retain`.
 *
 * libmosquitto's own thread runs the connection and reconnects (to the
 * first broker of mqtt.server.uri); a flush
 * waits until every message published at QoS 1 or 2 is acknowledged
 * (PUBACK, PUBCOMP) and the local group commits only then. After a crash
 * the records since the last commit are published again: at least once, as
 * MQTT has no way to tell a repeat.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqtt_common.h"

static const evl_confkey_t msink_keys[] = {
    {"mqtt.topic", EVL_CONF_STRING, "${key}", 0, -1, NULL, 0, NULL, NULL,
     "the topic published to: text with ${key}, ${topic}, ${partition} (a keyless "
     "record's ${key} is its local topic)"},
    {"mqtt.retain", EVL_CONF_BOOL, "false", 0, -1, NULL, 0, NULL, NULL,
     "publish with the retain flag"},
    {"mqtt.flush.timeout.ms", EVL_CONF_INT, "30000", 1, INT32_MAX, NULL, 0, NULL, NULL,
     "how long a flush waits for the broker's acknowledgements"},
    MQTT_CONN_KEYS,
};

typedef struct msink {
    mqtt_conn_t mc;
    char *tmpl;
    int qos, flush_ms;
    bool retain, looping;
    bool connected_once; /* a CONNACK came: publishing before it reorders */
    pthread_mutex_t mu;
    int64_t sent, acked; /* QoS 1 and 2 messages */
} msink_t;

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    (void)mid;
    msink_t *s = arg;
    pthread_mutex_lock(&s->mu);
    s->acked++;
    pthread_mutex_unlock(&s->mu);
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    msink_t *s = arg;
    pthread_mutex_lock(&s->mu);
    if (rc) {
        snprintf(s->mc.err, sizeof s->mc.err, "refused: %s", mosquitto_connack_string(rc));
    } else {
        s->mc.err[0] = 0;
        s->connected_once = true;
    }
    pthread_mutex_unlock(&s->mu);
}

static void msink_stop(void *state);

static int msink_start(const evl_conf_t *conf, evl_sink_task_t *task, void **state)
{
    msink_t *s = calloc(1, sizeof *s);
    if (!s)
        return EVL_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    s->qos = (int)evl_conf_int(conf, "mqtt.qos");
    s->retain = evl_conf_bool(conf, "mqtt.retain") == 1;
    s->flush_ms = (int)evl_conf_int(conf, "mqtt.flush.timeout.ms");
    int rc = (s->tmpl = strdup(evl_conf_str(conf, "mqtt.topic"))) ? 0 : EVL_ENOMEM;
    if (rc == 0)
        rc = evl__mqtt_new(&s->mc, conf, evl_sink_task_id(task), s, true);
    if (rc == 0) {
        mosquitto_publish_callback_set(s->mc.mosq, on_publish);
        mosquitto_connect_callback_set(s->mc.mosq, on_connect);
        /* Connected by libmosquitto's thread, which also reconnects: a
         * broker down at the start delays the records, it fails nothing. */
        char host[256];
        int port;
        evl__mqtt_target(&s->mc, host, sizeof host, &port);
        if (mosquitto_connect_async(s->mc.mosq, host, port, s->mc.keepalive) != MOSQ_ERR_SUCCESS)
            snprintf(s->mc.err, sizeof s->mc.err, "%.200s:%d: cannot connect yet", host, port);
        if (mosquitto_loop_start(s->mc.mosq) != MOSQ_ERR_SUCCESS)
            rc = EVL_ENOMEM;
        else
            s->looping = true;
    }
    if (rc) {
        msink_stop(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* The topic of record r from the template, into buf. */
static int topic_of(const msink_t *s, const evl_sink_record_t *r, char *buf, size_t sz)
{
    size_t at = 0, kl = r->key_len;
    const char *key = r->key;
    if (!key || !kl) {
        key = r->topic;
        kl = strlen(key);
    }
    char part[16];
    snprintf(part, sizeof part, "%d", (int)r->partition);
    for (const char *t = s->tmpl; *t;) {
        const char *v = NULL;
        size_t vl = 0, skip = 1;
        if (!strncmp(t, "${key}", 6))
            v = key, vl = kl, skip = 6;
        else if (!strncmp(t, "${topic}", 8))
            v = r->topic, vl = strlen(v), skip = 8;
        else if (!strncmp(t, "${partition}", 12))
            v = part, vl = strlen(part), skip = 12;
        else
            v = t, vl = 1;
        if (at + vl >= sz)
            return EVL_ETOOBIG;
        memcpy(buf + at, v, vl);
        at += vl;
        t += skip;
    }
    buf[at] = 0;
    if (memchr(buf, 0, at) || mosquitto_pub_topic_check(buf) != MOSQ_ERR_SUCCESS)
        return EVL_EINVAL; /* empty, a wildcard, or a NUL inside */
    return 0;
}

static int msink_put(void *state, const evl_sink_record_t *recs, size_t n)
{
    msink_t *s = state;
    /* Not before the first connection: libmosquitto sends what was
     * published while it connects out of order with what comes after.
     * Later outages keep the order (its queue). */
    for (int waited = 0;; waited += 5) {
        pthread_mutex_lock(&s->mu);
        bool up = s->connected_once;
        pthread_mutex_unlock(&s->mu);
        if (up)
            break;
        if (waited >= s->flush_ms)
            return EVL_ETIMEDOUT;
        struct timespec nap = {0, 5 * 1000000};
        nanosleep(&nap, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        char topic[1024];
        int rc = topic_of(s, &recs[i], topic, sizeof topic);
        if (rc)
            return rc;
        size_t vl = recs[i].value_len;
        const void *v = recs[i].value;
        if (vl > 268435455u)
            return EVL_ETOOBIG; /* MQTT's largest packet */
        if (s->qos > 0) {
            pthread_mutex_lock(&s->mu);
            s->sent++;
            pthread_mutex_unlock(&s->mu);
        }
        int e = mosquitto_publish(s->mc.mosq, NULL, topic, (int)vl, v, s->qos, s->retain);
        if (e == MOSQ_ERR_NO_CONN && s->qos > 0)
            e = MOSQ_ERR_SUCCESS; /* queued: sent when the connection is back */
        if (e != MOSQ_ERR_SUCCESS) {
            if (s->qos > 0) {
                pthread_mutex_lock(&s->mu);
                s->sent--;
                pthread_mutex_unlock(&s->mu);
            }
            return e == MOSQ_ERR_NOMEM ? EVL_ENOMEM : EVL_EIO;
        }
    }
    return 0;
}

static int msink_flush(void *state)
{
    msink_t *s = state;
    for (int waited = 0;; waited += 5) {
        pthread_mutex_lock(&s->mu);
        bool done = s->acked >= s->sent;
        pthread_mutex_unlock(&s->mu);
        if (done)
            return 0;
        if (waited >= s->flush_ms)
            return EVL_ETIMEDOUT;
        struct timespec nap = {0, 5 * 1000000};
        nanosleep(&nap, NULL);
    }
}

static void msink_stop(void *state)
{
    msink_t *s = state;
    if (!s)
        return;
    if (s->looping) {
        mosquitto_disconnect(s->mc.mosq);
        mosquitto_loop_stop(s->mc.mosq, false);
    }
    evl__mqtt_free(&s->mc);
    pthread_mutex_destroy(&s->mu);
    free(s->tmpl);
    free(s);
}

static const evl_sink_ops_t msink_ops = {msink_start, msink_put, msink_flush, msink_stop, NULL};

static const evl_connector_type_t mqtt_sink = {
    "MqttSink", msink_keys, sizeof msink_keys / sizeof msink_keys[0], NULL, &msink_ops, 0,
};

EVL_API const evl_connector_type_t *evl_connect_mqtt_sink(void) { return &mqtt_sink; }
