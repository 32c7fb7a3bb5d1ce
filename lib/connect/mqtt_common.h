/*
 * mqtt_common.h - what the MQTT connectors share (internal): their
 * connection settings and a libmosquitto client made from them.
 */
#ifndef EVL_CONNECT_MQTT_COMMON_H
#define EVL_CONNECT_MQTT_COMMON_H

#include <mosquitto.h>
#include <stdbool.h>

#include <eventlog/connect.h>

/* The settings both connectors take (after each one's own). */
#define MQTT_CONN_KEYS                                                                        \
    {"mqtt.server.uri", EVL_CONF_LIST, NULL, 0, -1, NULL, 0, evl__mqtt_uri_ok, NULL,          \
     "brokers, tcp://host:port or ssl://host:port, comma-separated (tried in turn)"},         \
        {"mqtt.client.id", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,                   \
         "the MQTT client id (empty: evl-connect-NAME)"},                                     \
        {"mqtt.clean.session.enabled", EVL_CONF_BOOL, "false", 0, -1, NULL, 0, NULL, NULL,    \
         "false: the broker keeps the session (subscriptions, unacknowledged messages)"},    \
        {"mqtt.qos", EVL_CONF_INT, "1", 0, 2, NULL, 0, NULL, NULL, "the QoS: 0, 1 or 2"},     \
        {"mqtt.username", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL, "user name"},      \
        {"mqtt.password", EVL_CONF_PASSWORD, "", 0, -1, NULL, 0, NULL, NULL, "password"},     \
        {"mqtt.keepalive.interval.seconds", EVL_CONF_INT, "60", 5, 65535, NULL, 0, NULL,      \
         NULL, "keep-alive interval"},                                                        \
        {"mqtt.connect.timeout.seconds", EVL_CONF_INT, "30", 1, 3600, NULL, 0, NULL, NULL,    \
         "how long a reconnect waits at most between tries"},                                 \
        {"mqtt.ssl.ca.file", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,                 \
         "PEM file of the CAs trusted (ssl:// URIs)"},                                        \
        {"mqtt.ssl.cert.file", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,               \
         "PEM client certificate (ssl://, with mqtt.ssl.key.file)"},                          \
        {"mqtt.ssl.key.file", EVL_CONF_STRING, "", 0, -1, NULL, 0, NULL, NULL,                \
         "PEM client key"},                                                                   \
    {                                                                                         \
        "mqtt.ssl.insecure", EVL_CONF_BOOL, "false", 0, -1, NULL, 0, NULL, NULL,              \
            "true: do not check the broker's host name against its certificate"               \
    }

int evl__mqtt_uri_ok(void *arg, const char *v, char *msg, size_t msgsz);

typedef struct mqtt_conn {
    struct mosquitto *mosq;
    char *uris;     /* the list, comma-separated */
    int next_uri;   /* the one to try next */
    int keepalive;
    char err[256];
} mqtt_conn_t;

/** A client from the settings (not connected yet). 0, EVL_ECONFIG (err
 * says why), EVL_ENOMEM. threaded: libmosquitto's own thread runs it
 * (mosquitto_loop_start); otherwise the caller's loop does. */
int evl__mqtt_new(mqtt_conn_t *mc, const evl_conf_t *conf, int task, void *userdata,
                  bool threaded);
/** The next broker of the list, in turn: host and port. */
int evl__mqtt_target(mqtt_conn_t *mc, char *host, size_t hostsz, int *port);
/** Connect to the next broker of the list (blocking, a short while). 0 or
 * EVL_EIO with mc->err set. */
int evl__mqtt_connect(mqtt_conn_t *mc);
void evl__mqtt_free(mqtt_conn_t *mc);

#endif
