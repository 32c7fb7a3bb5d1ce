/*
 * source_task.c - a source task's thread: records polled from the task go
 * to the log through an idempotent producer, and the batch's source offset
 * is committed with the producer's sequences so that a restart, also after
 * kill -9, neither loses nor repeats a record.
 *
 * Progress of connector NAME, in the log's metadata table connect.offsets
 * under key NAME: u32 offset length, the source offset, u32 n, then n times
 * (u32 partition, u64 next sequence). One write transaction per committed
 * batch: the offset and the sequences agree. Records sent after the last
 * commit are sent again after a crash, with the sequences they had; the
 * partition recognises them (enable.idempotence) and returns their
 * offsets instead of appending them again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* ---- progress -------------------------------------------------------------- */

typedef struct progress {
    const char *name;
    uint8_t offset[EVL_CONNECT_OFFSET_MAX];
    uint32_t offset_len;
    uint32_t nparts;
    struct { uint32_t part; uint64_t seq; } parts[MAX_PARTS];
    evl_kv_table_t table;
    bool found;
} progress_t;

static int progress_read_fn(evl_kv_t *kv, void *arg)
{
    progress_t *p = arg;
    const uint8_t *v;
    size_t vl;
    int rc = evl_kv_get(kv, p->table, p->name, strlen(p->name), (const void **)&v, &vl);
    if (rc == EVL_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    uint32_t ol, n;
    if (vl < 8 || (memcpy(&ol, v, 4), ol > EVL_CONNECT_OFFSET_MAX) || vl < 8 + ol ||
        (memcpy(&n, v + 4 + ol, 4), n > MAX_PARTS) || vl != 8 + ol + (size_t)n * 12)
        return EVL_ECORRUPT;
    p->offset_len = ol;
    memcpy(p->offset, v + 4, ol);
    p->nparts = n;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(&p->parts[i].part, v + 8 + ol + i * 12, 4);
        memcpy(&p->parts[i].seq, v + 12 + ol + i * 12, 8);
    }
    p->found = true;
    return 0;
}

static int progress_write_fn(evl_kv_t *kv, void *arg)
{
    const progress_t *p = arg;
    uint8_t buf[8 + EVL_CONNECT_OFFSET_MAX + MAX_PARTS * 12];
    size_t len = 0;
    memcpy(buf, &p->offset_len, 4);
    memcpy(buf + 4, p->offset, p->offset_len);
    len = 4 + p->offset_len;
    memcpy(buf + len, &p->nparts, 4);
    len += 4;
    for (uint32_t i = 0; i < p->nparts; i++) {
        memcpy(buf + len, &p->parts[i].part, 4);
        memcpy(buf + len + 4, &p->parts[i].seq, 8);
        len += 12;
    }
    return evl_kv_put(kv, p->table, p->name, strlen(p->name), buf, len);
}

/* ---- a source task ---------------------------------------------------------- */

void *evl__connect_source_main(void *arg)
{
    conn_t *c = arg;
    evl_connect_worker_t *w = c->w;
    const evl_source_ops_t *ops = c->ct->type->source;
    const char *topic = evl_conf_str(c->conf, "topic");
    const char *dur = evl_conf_str(c->conf, "durability");
    int level = !strcmp(dur, "none") ? EVL_DURABILITY_NONE
                : !strcmp(dur, "interval") ? EVL_DURABILITY_INTERVAL
                                           : EVL_DURABILITY_FSYNC;
    progress_t p = {.name = c->label, .table = w->offsets};
    evl_producer_t *prod = NULL;
    void *state = NULL;
    evl_config_t *pc = evl_config_new();
    char pname[300];
    snprintf(pname, sizeof pname, "connect-%s", c->label);
    int rc = pc ? 0 : EVL_ENOMEM;
    if (rc == 0)
        rc = evl_config_set(pc, "enable.idempotence", "true", NULL, 0);
    if (rc == 0)
        rc = evl_config_set(pc, "producer.name", pname, NULL, 0);
    if (rc == 0)
        rc = evl_producer_new(w->log, topic, pc, &prod);
    evl_config_free(pc);
    if (rc == 0)
        rc = evl_kv_read(w->log, progress_read_fn, &p);
    if (rc == 0 && !p.found) {
        /* The first start: progress "nothing read yet" is committed first,
         * with where each partition's sequence stands now, so that a crash
         * before the first batch's commit replays that batch with the same
         * sequences (and the partitions recognise it). */
        int np = evl_topic_partitions(w->log, topic);
        rc = np < 0 ? np : 0;
        for (int k = 0; rc == 0 && k < np && k < MAX_PARTS; k++) {
            int64_t next;
            if ((rc = evl_producer_sequence(prod, k, &next)) == 0) {
                p.parts[p.nparts].part = (uint32_t)k;
                p.parts[p.nparts++].seq = (uint64_t)next;
            }
        }
        if (rc == 0)
            rc = evl_kv_write(w->log, progress_write_fn, &p);
    }
    /* Sent after the last commit: again, with the sequences they had (a
     * source that replays in another order gets new ones: at least once). */
    for (uint32_t i = 0; rc == 0 && ops->replay == EVL_REPLAY_EXACT && i < p.nparts; i++)
        rc = evl_producer_rewind(prod, (int32_t)p.parts[i].part, (int64_t)p.parts[i].seq);
    if (rc == 0)
        rc = ops->start(c->conf, p.offset_len ? p.offset : NULL, p.offset_len, &state);
    if (rc) {
        evl__connect_fail(c, rc, "starting");
        evl_producer_close(prod);
        return NULL;
    }
    evl_source_record_t *recs = calloc(BATCH_MAX, sizeof *recs);
    evl_msg_t *msgs = calloc(BATCH_MAX, sizeof *msgs);
    if (!recs || !msgs) {
        evl__connect_fail(c, EVL_ENOMEM, "starting");
        goto out;
    }
    while (!atomic_load(&c->stop)) {
        if (evl__connect_paused(c))
            continue;
        int n = ops->poll(state, recs, BATCH_MAX, 100);
        if (n < 0) {
            evl__connect_fail(c, n, "poll");
            break;
        }
        if (n == 0)
            continue;
        int m = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            /* Keyless records to partition 0: a replay must land where the
             * first attempt did (keyed ones hash, which is deterministic). */
            msgs[m] = (evl_msg_t){recs[i].key, recs[i].key_len, recs[i].value,
                                  recs[i].value_len, NULL, 0, recs[i].timestamp,
                                  recs[i].has_partition ? recs[i].partition
                                  : recs[i].key         ? EVL_PARTITION_ANY
                                                        : 0,
                                  -1};
            bool keep;
            rc = evl__pipe_source(c->pipe, &recs[i], topic, &msgs[m], &keep);
            if (keep && !recs[i].has_partition && !msgs[m].key)
                msgs[m].partition = 0;
            else if (keep && !recs[i].has_partition)
                msgs[m].partition = EVL_PARTITION_ANY;
            m += keep;
        }
        if (rc) {
            if (atomic_load(&c->state) != EVL_CONNECT_FAILED)
                evl__connect_fail(c, rc, "converting");
            break;
        }
        rc = m ? evl_producer_send_batch(prod, msgs, (size_t)m, EVL_SEND_DURABILITY(level)) : 0;
        evl__pipe_source_done(c->pipe);
        if (rc) {
            evl__connect_fail(c, rc, "sending");
            break;
        }
        atomic_fetch_add(&c->records, n);
        int64_t b = 0;
        for (int i = 0; i < m; i++)
            b += (int64_t)(msgs[i].key_len + msgs[i].value_len);
        atomic_fetch_add(&c->bytes, b);
        /* Commit: the last record's source offset, and where each
         * partition's sequence stands. */
        const evl_source_record_t *last = &recs[n - 1];
        if (last->source_offset_len > EVL_CONNECT_OFFSET_MAX) {
            evl__connect_fail(c, EVL_EINVAL, "a source offset longer than EVL_CONNECT_OFFSET_MAX");
            break;
        }
        if (last->source_offset_len)
            memcpy(p.offset, last->source_offset, last->source_offset_len);
        p.offset_len = (uint32_t)last->source_offset_len;
        for (int i = 0; i < m; i++) {
            uint32_t part = (uint32_t)msgs[i].partition, k;
            for (k = 0; k < p.nparts && p.parts[k].part != part; k++)
                ;
            if (k == p.nparts && p.nparts < MAX_PARTS)
                p.parts[p.nparts++].part = part;
        }
        for (uint32_t k = 0; k < p.nparts; k++) {
            int64_t next;
            if ((rc = evl_producer_sequence(prod, (int32_t)p.parts[k].part, &next)))
                break;
            p.parts[k].seq = (uint64_t)next;
        }
        if (rc == 0)
            rc = evl_kv_write(w->log, progress_write_fn, &p);
        if (rc) {
            evl__connect_fail(c, rc, "committing the source offset");
            break;
        }
        if (ops->commit)
            ops->commit(state);
    }
out:
    ops->stop(state);
    evl_producer_close(prod);
    free(recs);
    free(msgs);
    if (atomic_load(&c->state) == EVL_CONNECT_RUNNING)
        atomic_store(&c->state, EVL_CONNECT_STOPPED);
    return NULL;
}

