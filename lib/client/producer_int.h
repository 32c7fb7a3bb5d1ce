/*
 * producer_int.h - the producer's private structures, shared by
 * producer.c (sending), producer_topics.c (the topics it sends to) and
 * producer_idem.c (idempotence).
 */
#ifndef EVL_PRODUCER_INT_H
#define EVL_PRODUCER_INT_H

#include <pthread.h>

#include "common.h"
#include "partition.h"
#include "topic.h"

/* What a producer knows of one topic it sends to (read-only once made). */
typedef struct ptopic {
    evl_topic_t *topic;
    evl_part_t *p0;          /* partition 0: its ctl holds the partition count */
    int partitioner;         /* EVL_PART_* */
    int durability;          /* EVL_DURABILITY_*: the producer's, else the topic's */
    uint64_t max_msg;
    bool compacted;          /* cleanup.policy compacts: keys required */
    struct ptopic *next;
} ptopic_t;

struct evl_producer {
    evl_log_t *log;
    ptopic_t *bound;         /* evl_producer_new's topic; NULL: evl_producer_open */
    /* Topics an unbound producer has sent to: a list that only grows (and
     * is freed at close), so a found entry needs no lock. */
    pthread_mutex_t topics_mu;
    _Atomic(ptopic_t *) topics;
    int durability;          /* its own (EVL_DURABILITY_*), or 0: each topic's */
    int keyless;             /* EVL_KEYLESS_* */
    uint64_t sticky_records;
    _Atomic uint64_t counter; /* keyless records sent */
    /* enable.idempotence: */
    bool idem, named;
    int64_t pid;
    int32_t epoch;
    /* Partitions rewound (evl_producer_rewind) and not caught up yet: their
     * sends take rw_mu, so that the sequence and the append go together. */
    pthread_mutex_t rw_mu;
    _Atomic size_t n_rewound;
    struct rewound { const evl_part_t *part; int64_t next; } *rw;
    size_t rw_cap;
};

/* producer_topics.c */
/* The producer's entry for topic (NULL: the bound one), made at first use.
 * 0, EVL_ENOTFOUND, EVL_ESTATE (an unbound producer asked for its topic),
 * EVL_ENOMEM. */
int evl__prod_topic(evl_producer_t *prod, const char *topic, ptopic_t **out);
ptopic_t *evl__prod_topic_new(evl_producer_t *prod, evl_topic_t *t);
void evl__prod_topics_free(evl_producer_t *prod);
/* The topic's partition count as of now (growth by any process included). */
int evl__prod_nparts(const ptopic_t *pt);
/* Partition p of the topic: EVL_EINVAL past the count, EVL_ENOTFOUND once
 * the topic was deleted. */
int evl__prod_part(const ptopic_t *pt, int p, int nparts, evl_part_t **out);

/* producer_idem.c */
/* Append msgs[0..k) (at most frame_bytes encoded) to part as one frame and
 * set their offsets and partition (idempotently for such a producer). */
int evl__prod_append(evl_producer_t *prod, evl_part_t *part, evl_msg_t *msgs, size_t k,
                     uint64_t frame_bytes, const evl_send_opts_t *so, uint64_t *sb,
                     uint64_t *ep);

#endif
