/*
 * kafka_common.c - librdkafka settings from a connector's `kafka.*`, and
 * librdkafka's log kept out of the application's stderr (a library does
 * not print): the last error line stays for the task.
 */
#include <stdio.h>
#include <string.h>

#include "kafka_common.h"

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)fac;
    kafka_errbuf_t *e = rd_kafka_opaque(rk);
    if (e && level <= 3)
        snprintf(e->err, sizeof e->err, "%s", buf);
}

typedef struct setup {
    rd_kafka_conf_t *conf;
    const char *const *ours;
    char *err;
    size_t errsz;
} setup_t;

static int pass_through(void *arg, const char *name, const char *value)
{
    setup_t *st = arg;
    const char *k = name + strlen("kafka.");
    for (const char *const *o = st->ours; *o; o++)
        if (!strcmp(k, *o))
            return 0; /* the connector's own */
    if (rd_kafka_conf_set(st->conf, k, value, st->err, st->errsz) != RD_KAFKA_CONF_OK)
        return EVL_ECONFIG;
    return 0;
}

rd_kafka_conf_t *evl__kafka_conf(const evl_conf_t *conf, const char *const *ours,
                                 kafka_errbuf_t *errbuf, char *err, size_t errsz)
{
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    setup_t st = {kc, ours, err, errsz};
    if (evl_conf_each(conf, "kafka.", pass_through, &st)) {
        rd_kafka_conf_destroy(kc);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(kc, quiet_log);
    rd_kafka_conf_set_opaque(kc, errbuf);
    return kc;
}
