/*
 * pipeline.h - converters, transforms and error handling between the log
 * and a task (internal).
 */
#ifndef EVL_CONNECT_PIPELINE_H
#define EVL_CONNECT_PIPELINE_H

#include "data.h"
#include "worker.h"

typedef struct pipe {
    conn_t *c;
    conv_t *kc, *vc;
    chain_t *chain;
    bool passthrough; /* bytes in, bytes out, no transform */
    bool tolerate, log, log_msgs, ctx_headers;
    char dlq_topic[256];
    evl_producer_t *dlq;
    evl_sink_record_t *out;  /* a batch for the sink */
    char (*topics)[256];
    size_t cap;
    void **own;              /* buffers the batch's records point into */
    size_t nown, capown;
} pipe_t;

/** The connector's pipeline (its settings are checked here: EVL_ECONFIG
 * with err naming the setting). */
int evl__pipe_new(conn_t *c, bool sink, pipe_t **out, char *err, size_t errsz);
void evl__pipe_free(pipe_t *p);
/** The sink records of n log records (views valid until the next call):
 * filtered and tolerated ones left out. 0 or an error (the task fails). */
int evl__pipe_sink(pipe_t *p, const evl_record_t *const *recs, size_t n,
                   const evl_sink_record_t **out, size_t *nout);
/** A source record into m's key and value (buffers valid until
 * evl__pipe_source_done); *keep false if filtered or tolerated. */
int evl__pipe_source(pipe_t *p, const evl_source_record_t *in, const char *topic, evl_msg_t *m,
                     bool *keep);
void evl__pipe_source_done(pipe_t *p);

#endif
