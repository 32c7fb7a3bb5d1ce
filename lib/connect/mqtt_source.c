/*
 * mqtt_source.c - MqttSource: messages of MQTT topics (with wildcards) into
 * a local topic, the MQTT topic as the key and the payload as the value, as
 * Confluent's MQTT source does.
 *
 * The acknowledgement waits for the log. libmosquitto sends a QoS 1 PUBACK
 * as it reads the PUBLISH, before handing the message over, when it writes
 * its own socket; told that the application runs its loop
 * (mosquitto_threaded_set), it only queues what it sends. So this task
 * drives the loop itself: a poll reads (mosquitto_loop_read) and queues the
 * PUBACKs with the messages it returns, and writes nothing while a batch
 * is out; commit, called once the batch is in the log at the connector's
 * durability and committed, writes them (mosquitto_loop_write). Killed
 * before that, the broker still has the messages (a session kept:
 * mqtt.clean.session.enabled=false) and sends them again: nothing
 * acknowledged is lost, and the messages of the batch being appended when
 * the process died (batch.size at most) come twice: at least once, as
 * MQTT's QoS 1 is (a redelivered message cannot be told from a new one
 * with certainty: the broker reuses packet ids once acknowledged). With QoS 2, libmosquitto answers PUBREC at once and
 * hands the message over only at PUBREL: a message whose PUBREC went out
 * but not yet its PUBREL came in lives in the process only, and is lost if
 * the process dies then; use QoS 1 where that matters. QoS 0 messages are
 * not sent again by anyone.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqtt_common.h"

static const evl_confkey_t msrc_keys[] = {
    {"mqtt.topics", EVL_CONF_LIST, NULL, 0, -1, NULL, 0, NULL, NULL,
     "MQTT topic filters to subscribe to (+ and # allowed), comma-separated"},
    {"batch.size", EVL_CONF_INT, "100", 1, 1000, NULL, 0, NULL, NULL,
     "messages appended and acknowledged together at most (a crash can bring "
     "one batch twice)"},
    MQTT_CONN_KEYS,
};

typedef struct mmsg {
    char *topic;
    void *payload;
    size_t len;
} mmsg_t;

typedef struct msrc {
    mqtt_conn_t mc;
    char *filters[64];
    int nfilters, qos, batch;
    bool up;              /* connected (socket open) */
    bool lost;            /* a message could not be kept (out of memory) */
    int refused;          /* the broker's CONNACK code when it refused us */
    bool out;             /* a batch returned and not yet committed */
    int64_t retry_at;     /* when to try connecting again (ms) */
    int backoff;
    mmsg_t *msgs;
    int n, cap;
    int given;            /* of msgs, returned by the last poll */
} msrc_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    msrc_t *s = arg;
    if (rc != 0) {
        snprintf(s->mc.err, sizeof s->mc.err, "refused: %s", mosquitto_connack_string(rc));
        s->refused = rc;
        return;
    }
    s->mc.err[0] = 0;
    mosquitto_subscribe_multiple(m, NULL, s->nfilters, s->filters, s->qos, 0, NULL);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    (void)rc;
    msrc_t *s = arg;
    s->up = false;
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    msrc_t *s = arg;
    if (s->n == s->cap) {
        int ncap = s->cap ? s->cap * 2 : 64;
        mmsg_t *nm = realloc(s->msgs, (size_t)ncap * sizeof *nm);
        if (!nm) {
            s->lost = true; /* its PUBACK is queued already: never written (below) */
            return;
        }
        s->msgs = nm;
        s->cap = ncap;
    }
    mmsg_t *x = &s->msgs[s->n];
    x->topic = strdup(msg->topic);
    x->len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
    x->payload = malloc(x->len ? x->len : 1);
    if (!x->topic || !x->payload) {
        free(x->topic);
        free(x->payload);
        s->lost = true;
        return;
    }
    if (x->len)
        memcpy(x->payload, msg->payload, x->len);
    s->n++;
}

/* Free what the last poll returned; messages read beyond it stay. */
static void release(msrc_t *s, bool all)
{
    int k = all ? s->n : s->given;
    for (int i = 0; i < k; i++) {
        free(s->msgs[i].topic);
        free(s->msgs[i].payload);
    }
    if (k && s->n > k)
        memmove(s->msgs, s->msgs + k, (size_t)(s->n - k) * sizeof *s->msgs);
    s->n -= k;
    s->given = 0;
}

static void msrc_stop(void *state);

static int msrc_start(const evl_conf_t *conf, const void *offset, size_t len, void **state)
{
    (void)offset;
    (void)len;
    msrc_t *s = calloc(1, sizeof *s);
    if (!s)
        return EVL_ENOMEM;
    char list[4096];
    snprintf(list, sizeof list, "%s", evl_conf_str(conf, "mqtt.topics"));
    int rc = 0;
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t && rc == 0;
         t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (!*t)
            continue;
        if (s->nfilters == 64 || mosquitto_sub_topic_check(t) != MOSQ_ERR_SUCCESS)
            rc = EVL_ECONFIG;
        else if (!(s->filters[s->nfilters++] = strdup(t)))
            rc = EVL_ENOMEM;
    }
    if (rc == 0 && s->nfilters == 0)
        rc = EVL_ECONFIG;
    s->qos = (int)evl_conf_int(conf, "mqtt.qos");
    s->batch = (int)evl_conf_int(conf, "batch.size");
    if (rc == 0)
        rc = evl__mqtt_new(&s->mc, conf, 0, s, false);
    if (rc) {
        msrc_stop(s);
        return rc;
    }
    mosquitto_connect_callback_set(s->mc.mosq, on_connect);
    mosquitto_disconnect_callback_set(s->mc.mosq, on_disconnect);
    mosquitto_message_callback_set(s->mc.mosq, on_message);
    *state = s;
    return 0;
}

/* One turn of the client's loop, waiting at most wait_ms: read what came
 * (messages join the batch), write only while no message is held. */
static void turn(msrc_t *s, int wait_ms)
{
    int fd = mosquitto_socket(s->mc.mosq);
    if (fd < 0) {
        s->up = false;
        return;
    }
    bool may_write = s->n == 0 && !s->out;
    struct pollfd p = {fd, POLLIN, 0};
    if (may_write && mosquitto_want_write(s->mc.mosq))
        p.events |= POLLOUT;
    if (poll(&p, 1, wait_ms) > 0) {
        if ((p.revents & (POLLIN | POLLERR | POLLHUP)) &&
            mosquitto_loop_read(s->mc.mosq, 1) != MOSQ_ERR_SUCCESS)
            s->up = false;
        if (s->up && (p.revents & POLLOUT) && s->n == 0 &&
            mosquitto_loop_write(s->mc.mosq, 1) != MOSQ_ERR_SUCCESS)
            s->up = false;
    }
    if (s->up && mosquitto_loop_misc(s->mc.mosq) != MOSQ_ERR_SUCCESS)
        s->up = false;
}

static int msrc_poll(void *state, evl_source_record_t *recs, int max, int timeout_ms)
{
    msrc_t *s = state;
    release(s, false);
    if (max > s->batch)
        max = s->batch;
    int64_t deadline = now_ms() + timeout_ms;
    if (!s->up) {
        if (now_ms() < s->retry_at) {
            int64_t w = s->retry_at - now_ms();
            struct timespec nap = {0, (long)(w < timeout_ms ? w : timeout_ms) * 1000000};
            nanosleep(&nap, NULL);
            return 0;
        }
        if (evl__mqtt_connect(&s->mc) != 0) {
            s->backoff = s->backoff ? s->backoff * 2 : 100;
            if (s->backoff > 30000)
                s->backoff = 30000;
            s->retry_at = now_ms() + s->backoff;
            return 0;
        }
        s->backoff = 0;
        s->up = true;
        s->out = false; /* what was unacknowledged comes again */
        mosquitto_loop_write(s->mc.mosq, 1); /* CONNECT */
    }
    while (s->up && s->n < max) {
        int64_t left = deadline - now_ms();
        int before = s->n;
        turn(s, s->n ? 0 : (int)(left > 0 ? (left < 100 ? left : 100) : 0));
        if ((s->n > 0 && s->n == before) || now_ms() >= deadline)
            break; /* nothing more came at once, or time is up */
    }
    /* A message not kept fails the task before anything is acknowledged
     * (its PUBACK, queued, is never written: the broker sends it again);
     * a refused connection (credentials, client id) is the task's error. */
    if (s->lost)
        return EVL_ENOMEM;
    if (s->refused)
        return s->refused == 4 || s->refused == 5 ? EVL_EACCES : EVL_ECONFIG;
    int n = s->n < max ? s->n : max;
    for (int i = 0; i < n; i++)
        recs[i] = (evl_source_record_t){s->msgs[i].topic, strlen(s->msgs[i].topic),
                                        s->msgs[i].payload, s->msgs[i].len, -1, NULL, 0,
                                        false, 0};
    s->given = n;
    s->out = n > 0;
    return n;
}

/* The batch is in the log: its acknowledgements go out now. */
static void msrc_commit(void *state)
{
    msrc_t *s = state;
    if (s->n > s->given)
        return; /* read beyond the batch: acknowledged with the next one */
    s->out = false;
    if (s->up && mosquitto_loop_write(s->mc.mosq, 1) != MOSQ_ERR_SUCCESS)
        s->up = false;
}

static void msrc_stop(void *state)
{
    msrc_t *s = state;
    if (!s)
        return;
    release(s, true);
    /* Nothing written on the way out: what was committed was acknowledged at
     * its commit, and what was not must not be. The socket just closes. */
    evl__mqtt_free(&s->mc);
    for (int i = 0; i < s->nfilters; i++)
        free(s->filters[i]);
    free(s->msgs);
    free(s);
}

static const evl_source_ops_t msrc_ops = {msrc_start, msrc_poll, msrc_stop, msrc_commit,
                                          EVL_REPLAY_UNORDERED};

static const evl_connector_type_t mqtt_source = {
    "MqttSource", msrc_keys, sizeof msrc_keys / sizeof msrc_keys[0], &msrc_ops, NULL, 1,
};

EVL_API const evl_connector_type_t *evl_connect_mqtt_source(void) { return &mqtt_source; }
