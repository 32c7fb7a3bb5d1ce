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
#include <string.h>

#include "config.h"
#include "log.h"
#include "os.h"
#include "partitioner.h"
#include "producer_id.h"
#include "producer_int.h"
#include "record.h"

/* A producer, of topic (bound) or of any topic (NULL). */
static int producer_make(evl_log_t *log, const char *topic, const evl_config_t *cfg,
                         evl_producer_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    if (!log)
        return EVL_EINVAL;
    if (evl__log_closed(log))
        return EVL_ESTATE;
    const char *who = topic ? topic : "any topic";
    int bad = cfg ? evl__cfg_scope_check(cfg, EVL_CFG_SCOPE_PRODUCER, &log->cfg) : -1;
    if (bad >= 0) {
        evl__logf(&log->lg, EVL_LOG_ERR, "producer for %s: %s is not a producer setting", who,
                  evl__cfg_name(bad));
        return EVL_ECONFIG;
    }
    evl_topic_t *t = NULL;
    int rc = topic ? evl__topic_get(log, topic, &t) : 0;
    if (rc)
        return rc;
    evl_producer_t *prod = evl__calloc(1, sizeof *prod);
    if (!prod)
        return EVL_ENOMEM;
    prod->log = log;
    const evl_config_t *pc = cfg ? cfg : &log->cfg;
    /* Its own durability, or each topic's (ptopic_t). */
    if (cfg && evl__cfg_isset(cfg, EVL_CFG_DURABILITY))
        prod->durability = 1 + (int)evl__cfg_int(cfg, EVL_CFG_DURABILITY);
    prod->keyless = (int)evl__cfg_int(pc, EVL_CFG_PARTITIONER_KEYLESS);
    prod->sticky_records = (uint64_t)evl__cfg_int(pc, EVL_CFG_STICKY_RECORDS);
    const char *pname = evl__cfg_str(pc, EVL_CFG_PRODUCER_NAME);
    prod->idem = evl__cfg_int(pc, EVL_CFG_ENABLE_IDEMPOTENCE) != 0;
    prod->named = *pname != 0;
    pthread_mutex_init(&prod->rw_mu, NULL);
    pthread_mutex_init(&prod->topics_mu, NULL);
    if (*pname && !prod->idem) {
        evl__logf(&log->lg, EVL_LOG_ERR, "producer for %s: producer.name needs "
                  "enable.idempotence=true", who);
        rc = EVL_ECONFIG;
    } else if (*pname && !evl__name_valid(pname)) {
        evl__logf(&log->lg, EVL_LOG_ERR, "producer for %s: producer.name \"%s\" is not a "
                  "valid name ([A-Za-z0-9._-], 1-249 chars)", who, pname);
        rc = EVL_ECONFIG;
    } else if (prod->idem) {
        rc = evl__producer_id_take(log, pname, &prod->pid, &prod->epoch);
    }
    if (rc == 0 && t && !(prod->bound = evl__prod_topic_new(prod, t)))
        rc = EVL_ENOMEM;
    if (rc) {
        pthread_mutex_destroy(&prod->rw_mu);
        pthread_mutex_destroy(&prod->topics_mu);
        free(prod);
        return rc;
    }
    evl__log_ref(log);
    *out = prod;
    return 0;
}

EVL_API int evl_producer_new(evl_log_t *log, const char *topic, const evl_config_t *cfg,
                             evl_producer_t **out)
{
    if (!topic) {
        if (out)
            *out = NULL;
        return EVL_EINVAL;
    }
    return producer_make(log, topic, cfg, out);
}

EVL_API int evl_producer_open(evl_log_t *log, const evl_config_t *cfg, evl_producer_t **out)
{
    return producer_make(log, NULL, cfg, out);
}



EVL_API void evl_producer_close(evl_producer_t *prod)
{
    if (!prod)
        return;
    evl__log_unref(prod->log);
    pthread_mutex_destroy(&prod->rw_mu);
    pthread_mutex_destroy(&prod->topics_mu);
    evl__prod_topics_free(prod);
    free(prod->rw);
    free(prod);
}

EVL_API int evl_producer_partition_for(evl_producer_t *prod, const void *key, size_t key_len)
{
    if (!prod || (!key && key_len))
        return EVL_EINVAL;
    if (evl__log_closed(prod->log) || !prod->bound)
        return EVL_ESTATE;
    int n = evl__prod_nparts(prod->bound);
    return evl__partition_for(prod->bound->partitioner, key ? key : "", key_len, n);
}

static int choose(evl_producer_t *prod, const ptopic_t *pt, const evl_msg_t *msg, int nparts)
{
    if (msg->partition != EVL_PARTITION_ANY)
        return msg->partition;
    if (msg->key)
        return evl__partition_for(pt->partitioner, msg->key, msg->key_len, nparts);
    uint64_t c = atomic_fetch_add_explicit(&prod->counter, 1, memory_order_relaxed);
    if (prod->keyless == EVL_KEYLESS_STICKY)
        c /= prod->sticky_records;
    return (int)(c % (uint64_t)nparts);
}

static int msg_check(const evl_producer_t *prod, const ptopic_t *pt, const evl_msg_t *m,
                     uint64_t *size)
{
    if ((!m->key && m->key_len) || (!m->value && m->value_len) ||
        (m->header_count && !m->headers))
        return EVL_EINVAL;
    for (size_t h = 0; h < m->header_count; h++)
        if (!m->headers[h].name || (!m->headers[h].value && m->headers[h].value_len))
            return EVL_EINVAL;
    if (!m->key && pt->compacted) {
        /* As Kafka: compaction keeps the newest record per key, so a record
         * without one has no place in a compacted topic. */
        evl__logf(&prod->log->lg, EVL_LOG_ERR,
                  "topic %s is compacted (cleanup.policy): a record needs a key",
                  pt->topic->name);
        return EVL_EINVAL;
    }
    uint64_t sz = evl__rec_size(m);
    if (sz == 0 || evl__rec_payload(m) > pt->max_msg)
        return EVL_ETOOBIG;
    *size = sz;
    return 0;
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
static int resolve(const ptopic_t *pt, int flags)
{
    if (flags & ~EVL_SEND_DURABILITY(~0))
        return EVL_EINVAL;
    int d = EVL_SEND_DURABILITY(flags);
    return d ? d : pt->durability;
}

EVL_API int evl_producer_send_to(evl_producer_t *prod, const char *topic, evl_msg_t *msg,
                                 int flags)
{
    if (!prod || !msg)
        return EVL_EINVAL;
    msg->offset = -1;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    ptopic_t *pt;
    int rc = evl__prod_topic(prod, topic, &pt);
    if (rc)
        return rc;
    int durability = resolve(pt, flags);
    if (durability < 0)
        return durability;
    uint64_t size;
    if ((rc = msg_check(prod, pt, msg, &size)))
        return rc;
    int nparts = evl__prod_nparts(pt);
    int p = choose(prod, pt, msg, nparts);
    evl_part_t *part;
    if (p < 0)
        return EVL_EINVAL;
    if ((rc = evl__prod_part(pt, p, nparts, &part)))
        return rc;
    uint64_t sb, ep;
    if (durability == EVL_DURABILITY_FSYNC) {
        int n = atomic_fetch_add(&part->durable_inflight, 1) + 1;
        if (n > atomic_load_explicit(&part->durable_peak, memory_order_relaxed))
            atomic_store_explicit(&part->durable_peak, n, memory_order_relaxed);
        evl__part_pretouch(part, EVL_FRAME_HDR_MAX + size);
    }
    rc = evl__prod_append(prod, part, msg, 1, EVL_FRAME_HDR_MAX + size, NULL, &sb, &ep);
    if (rc == 0)
        rc = after_append(prod, part, durability, sb, ep);
    else
        msg->offset = -1;
    if (durability == EVL_DURABILITY_FSYNC)
        atomic_fetch_sub(&part->durable_inflight, 1);
    return rc;
}

EVL_API int evl_producer_send(evl_producer_t *prod, evl_msg_t *msg, int flags)
{
    return evl_producer_send_to(prod, NULL, msg, flags);
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
static int append_run(evl_producer_t *prod, const ptopic_t *pt, evl_part_t *part,
                      evl_msg_t *msgs, const uint64_t *sizes, size_t n, int durability,
                      const evl_send_opts_t *so)
{
    uint64_t room = part->seg_bytes - EVL_SEG_HDR - EVL_FRAME_EOF_BYTES, sb = 0, ep = 0;
    for (size_t i = 0; i < n;) {
        size_t k = 1;
        uint64_t fb = EVL_FRAME_HDR_MAX + sizes[i], pl = evl__rec_payload(&msgs[i]), p2;
        while (i + k < n && fb + sizes[i + k] <= room &&
               (p2 = pl + evl__rec_payload(&msgs[i + k])) <= pt->max_msg) {
            fb += sizes[i + k++];
            pl = p2;
        }
        int rc = evl__prod_append(prod, part, msgs + i, k, fb, so, &sb, &ep);
        if (rc)
            return rc;
        i += k;
    }
    return after_append(prod, part, durability, sb, ep);
}

/* Append msgs[idx[0..n)] to one partition. Contiguous indexes (a batch
 * for one partition, the common case) are appended in place; others are
 * gathered into scratch (sizes into gsizes), offsets copied back. */
static int append_group(evl_producer_t *prod, const ptopic_t *pt, evl_part_t *part,
                        evl_msg_t *msgs, const size_t *idx, const uint64_t *sizes, size_t n,
                        int durability, evl_msg_t *scratch, uint64_t *gsizes,
                        const evl_send_opts_t *so)
{
    if (idx[n - 1] - idx[0] == n - 1) /* increasing, so contiguous */
        return append_run(prod, pt, part, msgs + idx[0], sizes + idx[0], n, durability, so);
    for (size_t k = 0; k < n; k++) {
        scratch[k] = msgs[idx[k]];
        gsizes[k] = sizes[idx[k]];
    }
    int rc = append_run(prod, pt, part, scratch, gsizes, n, durability, so);
    for (size_t k = 0; k < n; k++) {
        msgs[idx[k]].offset = scratch[k].offset;
        msgs[idx[k]].partition = scratch[k].partition;
    }
    return rc;
}

EVL_API int evl_producer_send_batch_ex(evl_producer_t *prod, const char *topic,
                                       evl_msg_t *msgs, size_t count, int flags,
                                       const evl_send_opts_t *so)
{
    if (!prod || (!msgs && count))
        return EVL_EINVAL;
    if (so && (so->size != sizeof *so ||
               (so->attrs & ~(unsigned)(EVL_SEND_CONTROL | EVL_SEND_TRANSACTIONAL))))
        return EVL_EINVAL;
    for (size_t i = 0; i < count; i++)
        msgs[i].offset = -1;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    ptopic_t *pt;
    int trc = evl__prod_topic(prod, topic, &pt);
    if (trc)
        return trc;
    int durability = resolve(pt, flags);
    if (durability < 0)
        return durability;
    if (count == 0)
        return 0;
    int nparts = evl__prod_nparts(pt);
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
        if ((rc = msg_check(prod, pt, &msgs[i], &sizes[i])))
            goto out;
        pidx[i] = choose(prod, pt, &msgs[i], nparts);
        if (pidx[i] < 0) { /* a partition below 0 other than EVL_PARTITION_ANY */
            rc = EVL_EINVAL;
            goto out;
        }
        if (pidx[i] >= nparts) {
            int n = evl__topic_refresh(pt->topic);
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
        rc = evl__prod_part(pt, p, INT32_MAX, &part);
        if (rc == 0)
            rc = append_group(prod, pt, part, msgs, idx, sizes, n, durability, scratch, gsizes,
                              so);
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

EVL_API int evl_producer_send_batch_to(evl_producer_t *prod, const char *topic,
                                       evl_msg_t *msgs, size_t count, int flags)
{
    return evl_producer_send_batch_ex(prod, topic, msgs, count, flags, NULL);
}

EVL_API int evl_producer_send_batch(evl_producer_t *prod, evl_msg_t *msgs, size_t count,
                                    int flags)
{
    return evl_producer_send_batch_ex(prod, NULL, msgs, count, flags, NULL);
}

static int flush_topic(const ptopic_t *pt)
{
    int rc = 0;
    int n = evl__topic_nparts(pt->topic);
    if (!pt->topic->name[0])
        return EVL_ENOTFOUND; /* deleted through this log handle */
    for (int p = 0; p < n; p++) {
        evl_part_t *part = evl__topic_part_if_open(pt->topic, p);
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

EVL_API int evl_producer_flush(evl_producer_t *prod)
{
    if (!prod)
        return EVL_EINVAL;
    if (evl__log_closed(prod->log))
        return EVL_ESTATE;
    if (prod->bound)
        return flush_topic(prod->bound);
    int rc = 0;
    for (ptopic_t *pt = atomic_load(&prod->topics); pt; pt = pt->next) {
        if (!pt->topic->name[0])
            continue; /* deleted: nothing left to flush */
        int r = flush_topic(pt);
        if (r && !rc)
            rc = r;
    }
    return rc;
}

