/*
 * worker.h - what the connect worker's files share (internal): a running
 * connector, the worker, and the helpers every task uses.
 */
#ifndef EVL_CONNECT_WORKER_H
#define EVL_CONNECT_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <eventlog/connect.h>

#define MAX_TYPES 32
#define SCOPE_SOURCE 1u
#define SCOPE_SINK 2u
#define MAX_TOPICS 64
#define MAX_PARTS 64
#define BATCH_MAX 1000
#define MAX_TASKS 64

typedef struct ctype {
    const evl_connector_type_t *type;
    evl_confdef_t *def;
    evl_confkey_t *keys;
} ctype_t;

/* A task of a connector (a connector with tasks.max = N runs N of these,
 * the same name, task 0 to N-1; task 0 stands for the connector). */
typedef struct conn {
    char name[256];
    char label[264];          /* the task's own keys: NAME (task 0), NAME..i */
    int task, ntasks;
    const ctype_t *ct;
    evl_conf_t *conf;
    evl_connect_worker_t *w;
    pthread_t th;
    bool started;
    _Atomic int stop;
    _Atomic int state;
    _Atomic int64_t records;
    _Atomic int64_t retries;
    _Atomic int64_t errors;   /* records that failed conversion or a transform */
    _Atomic int64_t dlq;      /* of those, sent to the dead letter queue */
    _Atomic int64_t filtered; /* records a Filter dropped */
    _Atomic int64_t bytes;    /* key and value bytes moved */
    _Atomic int paused;       /* asked to pause (PUT .../pause) */
    struct pipe *pipe;        /* converters, transforms, error handling */
    char **pairs;             /* its settings as given */
    size_t npairs;
    bool mu_init;
    pthread_mutex_t err_mu;
    char err[256];
    struct conn *next;
} conn_t;

struct evl_connect_worker {
    evl_log_t *log;
    pthread_mutex_t mu;
    ctype_t types[MAX_TYPES];
    size_t ntypes;
    conn_t *conns;
    evl_kv_table_t offsets; /* connect.offsets: source progress */
    evl_kv_table_t sinks;   /* connect.sinks: what sink tasks keep */
    evl_log_cb *log_cb;     /* errors.log.enable reports here */
    void *log_opaque;
};

/** The task's state becomes FAILED with "what: error". */
void evl__connect_fail(conn_t *c, int rc, const char *what);
/** The same with the whole message given. */
void evl__connect_fail_msg(conn_t *c, int rc, const char *msg);
/** A report to the worker's log callback, if any. */
void evl__connect_log(evl_connect_worker_t *w, int level, const char *msg);
/** op until it succeeds, errors.retry.timeout is spent or the task stops. */
int evl__connect_retrying(conn_t *c, int (*op)(void *), void *arg, const char *stage);
int64_t evl__connect_mono_ms(void);

/** The connector named (its task 0), or NULL (w->mu held). */
conn_t *evl__connect_find(evl_connect_worker_t *w, const char *name);
/** The connector's tasks into out (at most max), task order; how many
 * (w->mu held). */
int evl__connect_tasks(evl_connect_worker_t *w, const char *name, conn_t **out, int max);
/** Start c's task thread; stop it (and wait); stop it and free c. */
int evl__connect_launch(conn_t *c);
void evl__connect_end(conn_t *c);
void evl__connect_free(conn_t *c);
/** true while c is paused (its state PAUSED meanwhile); naps a little. */
bool evl__connect_paused(conn_t *c);

/** The tasks' threads. */
void *evl__connect_source_main(void *conn);
void *evl__connect_sink_main(void *conn);

#endif
