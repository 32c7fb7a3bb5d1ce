/*
 * kafka_common.h - what the Kafka connectors share (internal): librdkafka
 * settings passed through from `kafka.*`, and librdkafka's log kept off the
 * application's stderr.
 */
#ifndef EVL_CONNECT_KAFKA_COMMON_H
#define EVL_CONNECT_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include <eventlog/connect.h>

/** Where librdkafka's last error line goes: the opaque of the handle
 * (rd_kafka_conf_set_opaque) must start with this. */
typedef struct kafka_errbuf {
    char err[256];
} kafka_errbuf_t;

/**
 * A librdkafka configuration from the connector's `kafka.*` settings
 * (prefix dropped), except the names in ours (NULL-terminated: the
 * connector's own), with librdkafka's log to errbuf. NULL with err set if
 * librdkafka refuses a setting.
 */
rd_kafka_conf_t *evl__kafka_conf(const evl_conf_t *conf, const char *const *ours,
                                 kafka_errbuf_t *errbuf, char *err, size_t errsz);

#endif
