/*
 * producer.c - evl_producer_t: partition choice, batching per partition and
 * durability (none / interval / fsync with group commit).
 *
 * A producer is a thin, thread-safe front: all state that matters lives in
 * the partitions. The keyless policies use one atomic counter, so many
 * threads can share a producer without a lock.
 */
#include <pthread.h>
#include <stdlib.h>

#include "config.h"
#include "log.h"
#include "os.h"
#include "partition.h"
#include "partitioner.h"
#include "producer_id.h"
#include "record.h"
#include "topic.h"

struct evl_producer {
    evl_log_t *log;
    evl_topic_t *topic;
    evl_part_t *p0;          /* partition 0: its ctl holds the partition count */
    int durability;          /* EVL_DURABILITY_* */
    int keyless;             /* EVL_KEYLESS_* */
    int partitioner;         /* EVL_PART_* */
    uint64_t sticky_records;
    uint64_t max_msg;
    bool compacted;          /* cleanup.policy compacts: keys required */
    _Atomic uint64_t counter; /* keyless records sent */
    /* enable.idempotence: */
    bool idem, named;
    int64_t pid;
    int32_t epoch;
    /* Partitions rewound (evl_producer_rewind) and not caught up yet: their
     * sends take rw_mu, so that the sequence and the append go together. */
    pthread_mutex_t rw_mu;
    _Atomic size_t n_rewound;
    struct rewound { int part; int64_t next; } *rw;
    size_t rw_cap;
};

EVL_API int evl_producer_new(evl_log_t *log, const char *topic, const evl_config_t *cfg,
                             evl_producer_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log || !topic)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    int bad = cfg ? evl__cfg_scope_check(cfg, EVL_CFG_SCOPE_PRODUCER, &log->cfg) : -1;
    if (bad >= 0) {
        evl__logf(&log->lg, EVL_LOG_ERR, "producer for %s: %s is not a producer setting", topic,
                  evl__cfg_name(bad));
        return EVL_ECONFIG;
    }
    evl_topic_t *t;
    int rc = evl__topic_get(log, topic, &t);
    if (rc)
        return rc;
    evl_producer_t *prod = evl__calloc(1, sizeof *prod);
    if (!prod)
        return EVL_ENOMEM;
    prod->log = log;
    prod->topic = t;
    bool own = cfg && evl__cfg_isset(cfg, EVL_CFG_DURABILITY);
    prod->durability = 1 + (int)evl__cfg_int(own ? cfg : &t->cfg, EVL_CFG_DURABILITY);
    prod->keyless = (int)evl__cfg_int(cfg ? cfg : &log->cfg, EVL_CFG_PARTITIONER_KEYLESS);
    prod->sticky_records = (uint64_t)evl__cfg_int(cfg ? cfg : &log->cfg, EVL_CFG_STICKY_RECORDS);
    prod->partitioner = (int)evl__cfg_int(&t->cfg, EVL_CFG_PARTITIONER);
    prod->max_msg = (uint64_t)evl__cfg_int(&t->cfg, EVL_CFG_MAX_MESSAGE_BYTES);
    prod->compacted = evl__cleanup_compacts(evl__cfg_int(&t->cfg, EVL_CFG_CLEANUP_POLICY));
    const evl_config_t *pc = cfg ? cfg : &log->cfg;
    const char *pname = evl__cfg_str(pc, EVL_CFG_PRODUCER_NAME);
    prod->idem = evl__cfg_int(pc, EVL_CFG_ENABLE_IDEMPOTENCE) != 0;
    prod->named = *pname != 0;
    pthread_mutex_init(&prod->rw_mu, NULL);
    rc = 0;
    if (*pname && !prod->idem) {
        evl__logf(&log->lg, EVL_LOG_ERR, "producer for %s: producer.name needs "
                  "enable.idempotence=true", topic);
        rc = EVL_ECONFIG;
    } else if (*pname && !evl__name_valid(pname)) {
        evl__logf(&log->lg, EVL_LOG_ERR, "producer for %s: producer.name \"%s\" is not a "
                  "valid name ([A-Za-z0-9._-], 1-249 chars)", topic, pname);
        rc = EVL_ECONFIG;
    } else if (prod->idem) {
        rc = evl__producer_id_take(log, pname, &prod->pid, &prod->epoch);
    }
    if (rc) {
        pthread_mutex_destroy(&prod->rw_mu);
        free(prod);
        return rc;
    }
    /* Partition 0 may be unusable (a damaged folder): sends to it fail
     * then, others work, and growth is seen once it opens. */
    if (evl__topic_part(t, 0, &prod->p0))
        prod->p0 = NULL;
    evl__log_ref(log);
    *out = prod;
    return 0;
}

static int nparts_now(evl_producer_t *prod);

EVL_API void evl_producer_close(evl_producer_t *prod)
{
    if (!prod)
        return;
    evl__log_unref(prod->log);
    pthread_mutex_destroy(&prod->rw_mu);
    free(prod->rw);
    free(prod);
}

EVL_API int evl_producer_partition_for(evl_producer_t *prod, const void *key, size_t key_len)
{
    if (!prod || (!key && key_len))
        return EVL_EINVAL;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    int n = nparts_now(prod);
    return evl__partition_for(prod->partitioner, key ? key : "", key_len, n);
}

/* The topic's partition count, as of now: partitions added by any handle or
 * process show in partition 0's shared state (evl_topic_add_partitions), so
 * keys map over the new count from the next send on, as a Kafka producer's
 * metadata refresh would have it (one load of a line no append writes). */
static int nparts_now(evl_producer_t *prod)
{
    int n = evl__topic_nparts(prod->topic);
    evl_part_t *p0 = prod->p0 ? prod->p0 : evl__topic_part_if_open(prod->topic, 0);
    if (EVL_UNLIKELY(!p0))
        return n;
    uint32_t shared = atomic_load_explicit(&p0->ctl->topic_nparts, memory_order_acquire);
    if (EVL_UNLIKELY(shared > (uint32_t)n)) {
        int r = evl__topic_refresh(prod->topic);
        if (r > n)
            n = r;
    }
    return n;
}

static int choose(evl_producer_t *prod, const evl_msg_t *msg, int nparts)
{
    if (msg->partition != EVL_PARTITION_ANY)
        return msg->partition;
    if (msg->key)
        return evl__partition_for(prod->partitioner, msg->key, msg->key_len, nparts);
    uint64_t c = atomic_fetch_add_explicit(&prod->counter, 1, memory_order_relaxed);
    if (prod->keyless == EVL_KEYLESS_STICKY)
        c /= prod->sticky_records;
    return (int)(c % (uint64_t)nparts);
}

static int msg_check(const evl_producer_t *prod, const evl_msg_t *m, uint64_t *size)
{
    if ((!m->key && m->key_len) || (!m->value && m->value_len) ||
        (m->header_count && !m->headers))
        return EVL_EINVAL;
    for (size_t h = 0; h < m->header_count; h++)
        if (!m->headers[h].name || (!m->headers[h].value && m->headers[h].value_len))
            return EVL_EINVAL;
    if (!m->key && prod->compacted) {
        /* As Kafka: compaction keeps the newest record per key, so a record
         * without one has no place in a compacted topic. */
        evl__logf(&prod->log->lg, EVL_LOG_ERR,
                  "topic %s is compacted (cleanup.policy): a record needs a key",
                  prod->topic->name);
        return EVL_EINVAL;
    }
    uint64_t sz = evl__rec_size(m);
    if (sz == 0 || evl__rec_payload(m) > prod->max_msg)
        return EVL_ETOOBIG;
    *size = sz;
    return 0;
}

/* Partition p of the producer's topic: EVL_EINVAL past the partition count,
 * EVL_ENOTFOUND once the topic was deleted (or replaced by a new one of its
 * name: a new topic for this producer). */
static int part_for(evl_producer_t *prod, int p, int nparts, evl_part_t **out)
{
    if ((*out = evl__topic_part_if_open(prod->topic, p)))
        return 0;
    if (p >= nparts) {
        int n = evl__topic_refresh(prod->topic);
        if (n < 0)
            return n;
        if (p >= n)
            return EVL_EINVAL;
    }
    return evl__topic_part(prod->topic, p, out);
}

static int after_append(evl_producer_t *prod, evl_part_t *part, int durability,
                        uint64_t seg_base, uint64_t end_pos)
{
    if (durability == EVL_DURABILITY_FSYNC)
        return evl__part_sync(part, seg_base, end_pos);
    if (durability == EVL_DURABILITY_INTERVAL &&
        !atomic_load_explicit(&part->interval_flush, memory_order_relaxed)) {
        atomic_store(&part->interval_flush, true);
        evl__log_kick(part->log); /* schedule the first flush */
    }
    return 0;
}

/* The durability a send uses; EVL_EINVAL for flag bits that mean nothing
 * (refused, not ignored: a caller setting them expects something). */
static int resolve(evl_producer_t *prod, int flags)
{
    if (flags & ~EVL_SEND_DURABILITY(~0))
        return EVL_EINVAL;
    int d = EVL_SEND_DURABILITY(flags);
    return d ? d : prod->durability;
}

static struct rewound *rewound_find(evl_producer_t *prod, int p)
{
    for (size_t i = 0; i < atomic_load_explicit(&prod->n_rewound, memory_order_relaxed); i++)
        if (prod->rw[i].part == p)
            return &prod->rw[i];
    return NULL;
}

/* Append msgs[0..k) (at most frame_bytes encoded) to part as one frame and
 * set their offsets and partition; an idempotent producer's records carry
 * its id, epoch and sequences, and those the partition holds already get
 * their original offsets instead of being appended again. */
static int append_frame(evl_producer_t *prod, evl_part_t *part, evl_msg_t *msgs, size_t k,
                        uint64_t frame_bytes, uint64_t *sb, uint64_t *ep)
{
    if (!prod->idem) {
        uint64_t base;
        int rc = evl__part_append(part, msgs, k, frame_bytes, &base, sb, ep);
        for (size_t j = 0; rc == 0 && j < k; j++) {
            msgs[j].offset = (int64_t)(base + j);
            msgs[j].partition = part->id;
        }
        return rc;
    }
    int64_t s_dup[16], *dup = k <= 16 ? s_dup : evl__malloc(k * sizeof *dup);
    if (!dup)
        return EVL_ENOMEM;
    evl_append_opts_t o = {.producer_id = prod->pid, .epoch = prod->epoch, .seq = -1,
                           .named = prod->named};
    struct rewound *r = NULL;
    bool locked = atomic_load_explicit(&prod->n_rewound, memory_order_acquire) > 0;
    if (locked) {
        pthread_mutex_lock(&prod->rw_mu);
        if ((r = rewound_find(prod, part->id)))
            o.seq = r->next;
        else {
            pthread_mutex_unlock(&prod->rw_mu);
            locked = false;
        }
    }
    evl_append_res_t res;
    int rc = evl__part_append_ex(part, msgs, k, frame_bytes, &o, dup, &res);
    if (rc == 0 && r) {
        if (res.skipped < k) { /* caught up: the partition's sequence is ours */
            size_t n = atomic_load(&prod->n_rewound);
            *r = prod->rw[n - 1];
            atomic_store(&prod->n_rewound, n - 1);
        } else {
            r->next += (int64_t)k;
        }
    }
    if (locked)
        pthread_mutex_unlock(&prod->rw_mu);
    if (rc == 0) {
        if (res.skipped)
            evl__part_find_seqs(part, prod->pid, res.first_seq, res.skipped, dup);
        for (size_t j = 0; j < k; j++) {
            msgs[j].offset = j < res.skipped ? dup[j] : (int64_t)(res.base + j - res.skipped);
            msgs[j].partition = part->id;
        }
        *sb = res.seg_base;
        *ep = res.end_pos;
    }
    if (dup != s_dup)
        free(dup);
    return rc;
}

EVL_API int evl_producer_send(evl_producer_t *prod, evl_msg_t *msg, int flags)
{
    if (!prod || !msg)
        return EVL_EINVAL;
    msg->offset = -1;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    int durability = resolve(prod, flags);
    if (durability < 0)
        return durability;
    uint64_t size;
    int rc = msg_check(prod, msg, &size);
    if (rc)
        return rc;
    int nparts = nparts_now(prod);
    int p = choose(prod, msg, nparts);
    evl_part_t *part;
    if (p < 0)
        return EVL_EINVAL;
    if ((rc = part_for(prod, p, nparts, &part)))
        return rc;
    uint64_t sb, ep;
    if (durability == EVL_DURABILITY_FSYNC) {
        int n = atomic_fetch_add(&part->durable_inflight, 1) + 1;
        if (n > atomic_load_explicit(&part->durable_peak, memory_order_relaxed))
            atomic_store_explicit(&part->durable_peak, n, memory_order_relaxed);
        evl__part_pretouch(part, EVL_FRAME_HDR_MAX + size);
    }
    rc = append_frame(prod, part, msg, 1, EVL_FRAME_HDR_MAX + size, &sb, &ep);
    if (rc == 0)
        rc = after_append(prod, part, durability, sb, ep);
    else
        msg->offset = -1;
    if (durability == EVL_DURABILITY_FSYNC)
        atomic_fetch_sub(&part->durable_inflight, 1);
    return rc;
}

EVL_API int evl_producer_send_kv(evl_producer_t *prod, const void *key, size_t key_len,
                                 const void *value, size_t value_len, int32_t *partition,
                                 int64_t *offset)
{
    evl_msg_t m = {key, key_len, value, value_len, NULL, 0, EVL_TIMESTAMP_NOW,
                   EVL_PARTITION_ANY, -1};
    int rc = evl_producer_send(prod, &m, 0);
    if (partition)
        *partition = rc == 0 ? m.partition : -1;
    if (offset)
        *offset = m.offset;
    return rc;
}

/* Append msgs[0..n) (sizes[0..n)) to one partition, as few frames as
 * max.message.bytes and the segment size allow: a frame holds at most
 * max.message.bytes of record payload (evl__rec_payload), as a Kafka batch
 * is bounded by it, and must fit in a segment. */
static int append_run(evl_producer_t *prod, evl_part_t *part, evl_msg_t *msgs,
                      const uint64_t *sizes, size_t n, int durability)
{
    uint64_t room = part->seg_bytes - EVL_SEG_HDR - EVL_FRAME_EOF_BYTES, sb = 0, ep = 0;
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        uint64_t fb = EVL_FRAME_HDR_MAX + sizes[i], pl = evl__rec_payload(&msgs[i]), p2;
        while (i + k < n && fb + sizes[i + k] <= room &&
               (p2 = pl + evl__rec_payload(&msgs[i + k])) <= prod->max_msg) {
            fb += sizes[i + k++];
            pl = p2;
        }
        int rc = append_frame(prod, part, msgs + i, k, fb, &sb, &ep);
        if (rc)
            return rc;
        i += k;
    }
    return after_append(prod, part, durability, sb, ep);
}

/* Append msgs[idx[0..n)] to one partition. Contiguous indexes (a batch
 * for one partition, the common case) are appended in place; others are
 * gathered into scratch (sizes into gsizes), offsets copied back. */
static int append_group(evl_producer_t *prod, evl_part_t *part, evl_msg_t *msgs,
                        const size_t *idx, const uint64_t *sizes, size_t n, int durability,
                        evl_msg_t *scratch, uint64_t *gsizes)
{
    if (idx[n - 1] - idx[0] == n - 1) /* increasing, so contiguous */
        return append_run(prod, part, msgs + idx[0], sizes + idx[0], n, durability);
    for (size_t k = 0; k < n; k++) {
        scratch[k] = msgs[idx[k]];
        gsizes[k] = sizes[idx[k]];
    }
    int rc = append_run(prod, part, scratch, gsizes, n, durability);
    for (size_t k = 0; k < n; k++) {
        msgs[idx[k]].offset = scratch[k].offset;
        msgs[idx[k]].partition = scratch[k].partition;
    }
    return rc;
}

EVL_API int evl_producer_send_batch(evl_producer_t *prod, evl_msg_t *msgs, size_t count,
                                    int flags)
{
    if (!prod || (!msgs && count))
        return EVL_EINVAL;
    for (size_t i = 0; i < count; i++)
        msgs[i].offset = -1;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    int durability = resolve(prod, flags);
    if (durability < 0)
        return durability;
    if (count == 0)
        return 0;
    int nparts = nparts_now(prod);
    /* Typical batches fit on the stack; larger ones are allocated. */
    enum { STACK_BATCH = 128 };
    int s_pidx[STACK_BATCH];
    size_t s_idx[STACK_BATCH];
    uint64_t s_sizes[STACK_BATCH], s_gsizes[STACK_BATCH];
    evl_msg_t s_scratch[STACK_BATCH];
    bool heap = count > STACK_BATCH;
    int *pidx = heap ? evl__malloc(count * sizeof *pidx) : s_pidx;
    size_t *idx = heap ? evl__malloc(count * sizeof *idx) : s_idx;
    uint64_t *sizes = heap ? evl__malloc(count * sizeof *sizes) : s_sizes;
    uint64_t *gsizes = heap ? evl__malloc(count * sizeof *gsizes) : s_gsizes;
    evl_msg_t *scratch = heap ? evl__malloc(count * sizeof *scratch) : s_scratch;
    int rc = 0;
    if (!pidx || !idx || !sizes || !gsizes || !scratch) {
        rc = EVL_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if ((rc = msg_check(prod, &msgs[i], &sizes[i])))
            goto out;
        pidx[i] = choose(prod, &msgs[i], nparts);
        if (pidx[i] < 0) { /* a partition below 0 other than EVL_PARTITION_ANY */
            rc = EVL_EINVAL;
            goto out;
        }
        if (pidx[i] >= nparts) {
            int n = evl__topic_refresh(prod->topic);
            if (pidx[i] < n)
                continue;
            rc = n < 0 ? n : EVL_EINVAL;
            goto out;
        }
    }
    /* One group per partition, in order of first appearance. */
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (pidx[i] < 0)
            continue;
        int p = pidx[i];
        size_t n = 0;
        for (size_t j = i; j < count; j++)
            if (pidx[j] == p) {
                idx[n++] = j;
                pidx[j] = -1;
            }
        evl_part_t *part;
        rc = part_for(prod, p, INT32_MAX, &part);
        if (rc == 0)
            rc = append_group(prod, part, msgs, idx, sizes, n, durability, scratch, gsizes);
    }
out:
    if (heap) {
        free(pidx);
        free(idx);
        free(sizes);
        free(gsizes);
        free(scratch);
    }
    return rc;
}

EVL_API int evl_producer_flush(evl_producer_t *prod)
{
    if (!prod)
        return EVL_EINVAL;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    int rc = 0;
    int n = evl__topic_nparts(prod->topic);
    if (!prod->topic->name[0])
        return EVL_ENOTFOUND; /* deleted through this log handle */
    for (int p = 0; p < n; p++) {
        evl_part_t *part = evl__topic_part_if_open(prod->topic, p);
        if (part && evl__part_deleted(part))
            return EVL_ENOTFOUND;
        if (part && atomic_load(&part->unsynced)) {
            int r = evl__part_sync_now(part);
            if (r && !rc)
                rc = r;
        }
    }
    return rc;
}

/* ---- idempotence -------------------------------------------------------- */

EVL_API int evl_producer_id(const evl_producer_t *prod, int64_t *id, int32_t *epoch)
{
    if (!prod)
        return EVL_EINVAL;
    if (!prod->idem)
        return EVL_ESTATE;
    if (id)
        *id = prod->pid;
    if (epoch)
        *epoch = prod->epoch;
    return 0;
}

EVL_API int evl_producer_sequence(evl_producer_t *prod, int32_t partition, int64_t *next)
{
    if (!prod || !next || partition < 0)
        return EVL_EINVAL;
    *next = -1;
    if (!prod->idem)
        return EVL_ESTATE;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    pthread_mutex_lock(&prod->rw_mu);
    struct rewound *r = rewound_find(prod, partition);
    int64_t v = r ? r->next : -1;
    pthread_mutex_unlock(&prod->rw_mu);
    if (v >= 0) {
        *next = v;
        return 0;
    }
    evl_part_t *part;
    int rc = part_for(prod, partition, nparts_now(prod), &part);
    if (rc == 0)
        rc = evl__part_pid_next(part, prod->pid, next);
    return rc;
}

EVL_API int evl_producer_rewind(evl_producer_t *prod, int32_t partition, int64_t next)
{
    if (!prod || partition < 0 || next < 0 || next > INT64_MAX / 2)
        return EVL_EINVAL;
    if (!prod->idem)
        return EVL_ESTATE;
    if (partition >= nparts_now(prod) && partition >= evl__topic_refresh(prod->topic))
        return EVL_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&prod->rw_mu);
    struct rewound *r = rewound_find(prod, partition);
    size_t n = atomic_load(&prod->n_rewound);
    if (!r && n == prod->rw_cap) {
        size_t cap = prod->rw_cap ? prod->rw_cap * 2 : 4;
        struct rewound *m = realloc(prod->rw, cap * sizeof *m);
        if (!m)
            rc = EVL_ENOMEM;
        else {
            prod->rw = m;
            prod->rw_cap = cap;
        }
    }
    if (rc == 0 && !r) {
        r = &prod->rw[n];
        r->part = partition;
        atomic_store(&prod->n_rewound, n + 1);
    }
    if (rc == 0)
        r->next = next;
    pthread_mutex_unlock(&prod->rw_mu);
    return rc;
}
