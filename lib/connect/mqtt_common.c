/*
 * mqtt_common.c - a libmosquitto client from an MQTT connector's settings:
 * broker URIs (tcp:// or ssl://, tried in turn), client id, session, user,
 * TLS files.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt_common.h"

/* One URI: scheme://host:port; *host and *port filled (host in buf). */
static int parse_uri(const char *u, size_t len, char *host, size_t hostsz, int *port, bool *tls)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++)
        if (u[i] == ':' && u[i + 1] == '/' && u[i + 2] == '/') {
            sep = u + i;
            break;
        }
    if (!sep)
        return -1;
    size_t sl = (size_t)(sep - u);
    if ((sl == 3 && !memcmp(u, "tcp", 3)) || (sl == 4 && !memcmp(u, "mqtt", 4)))
        *tls = false;
    else if ((sl == 3 && !memcmp(u, "ssl", 3)) || (sl == 5 && !memcmp(u, "mqtts", 5)))
        *tls = true;
    else
        return -1;
    const char *h = sep + 3, *end = u + len, *colon = NULL;
    for (const char *p = h; p < end; p++)
        if (*p == ':')
            colon = p;
    size_t hl = (size_t)((colon ? colon : end) - h);
    if (hl == 0 || hl >= hostsz)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = *tls ? 8883 : 1883;
    if (colon) {
        char pb[8];
        size_t pl = (size_t)(end - colon - 1);
        if (pl == 0 || pl >= sizeof pb)
            return -1;
        memcpy(pb, colon + 1, pl);
        pb[pl] = 0;
        char *e;
        long p = strtol(pb, &e, 10);
        if (*e || p < 1 || p > 65535)
            return -1;
        *port = (int)p;
    }
    return 0;
}

/* The n-th URI of the list (0-based), or NULL past the last. */
static const char *nth(const char *list, int n, size_t *len)
{
    const char *p = list;
    for (int i = 0; i < n; i++) {
        p = strchr(p, ',');
        if (!p)
            return NULL;
        p++;
    }
    while (*p == ' ')
        p++;
    const char *e = strchr(p, ',');
    *len = e ? (size_t)(e - p) : strlen(p);
    while (*len && p[*len - 1] == ' ')
        (*len)--;
    return p;
}

int evl__mqtt_uri_ok(void *arg, const char *v, char *msg, size_t msgsz)
{
    (void)arg;
    size_t len;
    int n = 0;
    for (const char *u; (u = nth(v, n, &len)); n++) {
        char host[256];
        int port;
        bool tls;
        if (parse_uri(u, len, host, sizeof host, &port, &tls)) {
            snprintf(msg, msgsz, "'%.*s' is not tcp://host:port or ssl://host:port",
                     (int)(len < 100 ? len : 100), u);
            return 1;
        }
    }
    if (n == 0)
        snprintf(msg, msgsz, "no broker given");
    return n == 0;
}

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void) { mosquitto_lib_init(); }

int evl__mqtt_new(mqtt_conn_t *mc, const evl_conf_t *conf, int task, void *userdata,
                  bool threaded)
{
    pthread_once(&lib_once, lib_init);
    memset(mc, 0, sizeof *mc);
    char id[300];
    const char *cid = evl_conf_str(conf, "mqtt.client.id");
    if (cid[0])
        snprintf(id, sizeof id, "%.250s", cid);
    else
        snprintf(id, sizeof id, "evl-connect-%.200s", evl_conf_str(conf, "name"));
    if (task > 0) /* each task its own session */
        snprintf(id + strlen(id), sizeof id - strlen(id), "-%d", task);
    bool clean = evl_conf_bool(conf, "mqtt.clean.session.enabled") == 1;
    if (!(mc->uris = strdup(evl_conf_str(conf, "mqtt.server.uri"))))
        return EVL_ENOMEM;
    mc->keepalive = (int)evl_conf_int(conf, "mqtt.keepalive.interval.seconds");
    mc->mosq = mosquitto_new(id, clean, userdata);
    if (!mc->mosq) {
        snprintf(mc->err, sizeof mc->err, "mosquitto_new failed");
        return EVL_ENOMEM;
    }
    if (!threaded)
        mosquitto_threaded_set(mc->mosq, true); /* the caller's thread writes, when it says */
    int rc = MOSQ_ERR_SUCCESS;
    const char *user = evl_conf_str(conf, "mqtt.username");
    if (user[0])
        rc = mosquitto_username_pw_set(mc->mosq, user, evl_conf_str(conf, "mqtt.password"));
    const char *ca = evl_conf_str(conf, "mqtt.ssl.ca.file");
    const char *cert = evl_conf_str(conf, "mqtt.ssl.cert.file");
    const char *key = evl_conf_str(conf, "mqtt.ssl.key.file");
    bool tls = strstr(mc->uris, "ssl://") || strstr(mc->uris, "mqtts://");
    if (rc == MOSQ_ERR_SUCCESS && (tls || ca[0] || cert[0])) {
        /* Without a CA file, the system's CAs. */
        rc = mosquitto_tls_set(mc->mosq, ca[0] ? ca : NULL, ca[0] ? NULL : "/etc/ssl/certs",
                               cert[0] ? cert : NULL, key[0] ? key : NULL, NULL);
        if (rc == MOSQ_ERR_SUCCESS && evl_conf_bool(conf, "mqtt.ssl.insecure") == 1)
            rc = mosquitto_tls_insecure_set(mc->mosq, true);
    }
    int wait = (int)evl_conf_int(conf, "mqtt.connect.timeout.seconds");
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_reconnect_delay_set(mc->mosq, 1, (unsigned)wait, true);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(mc->err, sizeof mc->err, "%s", mosquitto_strerror(rc));
        return EVL_ECONFIG;
    }
    return 0;
}

int evl__mqtt_target(mqtt_conn_t *mc, char *host, size_t hostsz, int *port)
{
    size_t len;
    const char *u = nth(mc->uris, mc->next_uri, &len);
    if (!u) {
        mc->next_uri = 0;
        u = nth(mc->uris, 0, &len);
    }
    mc->next_uri++;
    bool tls;
    if (!u || parse_uri(u, len, host, hostsz, port, &tls))
        return EVL_ECONFIG; /* checked with the settings */
    return 0;
}

int evl__mqtt_connect(mqtt_conn_t *mc)
{
    char host[256];
    int port;
    if (evl__mqtt_target(mc, host, sizeof host, &port))
        return EVL_ECONFIG;
    int rc = mosquitto_connect(mc->mosq, host, port, mc->keepalive);
    if (rc != MOSQ_ERR_SUCCESS) {
        snprintf(mc->err, sizeof mc->err, "%.200s:%d: %s", host, port,
                 rc == MOSQ_ERR_ERRNO ? "cannot connect" : mosquitto_strerror(rc));
        return EVL_EIO;
    }
    return 0;
}

void evl__mqtt_free(mqtt_conn_t *mc)
{
    if (mc->mosq)
        mosquitto_destroy(mc->mosq);
    free(mc->uris);
    memset(mc, 0, sizeof *mc);
}
