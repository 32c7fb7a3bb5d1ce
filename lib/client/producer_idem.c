/*
 * producer_idem.c - the idempotent producer's side (enable.idempotence):
 * each frame carries the producer's id, epoch and sequences; the partition
 * decides under its append lock (pidtab.h); a rewound partition's sends
 * carry the sequences the application replays.
 */
#include <stdlib.h>

#include "log.h"
#include "os.h"
#include "producer_int.h"
#include "record.h"

static struct rewound *rewound_find(evl_producer_t *prod, const evl_part_t *part)
{
    for (size_t i = 0; i < atomic_load_explicit(&prod->n_rewound, memory_order_relaxed); i++)
        if (prod->rw[i].part == part)
            return &prod->rw[i];
    return NULL;
}

/* The application's hook (evl_send_opts_t) under the append lock. */
static int user_hook(void *arg, evl_part_t *part, uint64_t next_offset)
{
    const evl_send_opts_t *so = arg;
    int rc = so->hook(so->hook_arg, part->topic->name, part->id, (int64_t)next_offset);
    return rc > 0 ? EVL_EINVAL : rc;
}

int evl__prod_append(evl_producer_t *prod, evl_part_t *part, evl_msg_t *msgs, size_t k,
                     uint64_t frame_bytes, const evl_send_opts_t *so, uint64_t *sb,
                     uint64_t *ep)
{
    if (!prod->idem && !so) {
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
    evl_append_opts_t o = {.producer_id = prod->idem ? prod->pid : 0, .epoch = prod->epoch,
                           .seq = -1, .named = prod->named};
    if (so) {
        o.attrs = (uint8_t)(((so->attrs & EVL_SEND_CONTROL) ? EVL_ATTR_CONTROL : 0) |
                            ((so->attrs & EVL_SEND_TRANSACTIONAL) ? EVL_ATTR_TXN : 0));
        if (so->hook) {
            o.hook = user_hook;
            o.hook_arg = (void *)so;
        }
    }
    struct rewound *r = NULL;
    bool locked = prod->idem && atomic_load_explicit(&prod->n_rewound, memory_order_acquire) > 0;
    if (locked) {
        pthread_mutex_lock(&prod->rw_mu);
        if ((r = rewound_find(prod, part)))
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
        if (res.skipped && prod->idem)
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

/* The idempotent producer's partition of topic (NULL: its bound one). */
static int idem_part(evl_producer_t *prod, const char *topic, int32_t partition,
                     evl_part_t **out)
{
    if (!prod || partition < 0)
        return EVL_EINVAL;
    if (!prod->idem || evl__log_closed(prod->log))
        return EVL_ESTATE;
    ptopic_t *pt;
    int rc = evl__prod_topic(prod, topic, &pt);
    return rc ? rc : evl__prod_part(pt, partition, evl__prod_nparts(pt), out);
}

EVL_API int evl_producer_sequence_to(evl_producer_t *prod, const char *topic,
                                     int32_t partition, int64_t *next)
{
    if (!next)
        return EVL_EINVAL;
    *next = -1;
    evl_part_t *part;
    int rc = idem_part(prod, topic, partition, &part);
    if (rc)
        return rc;
    pthread_mutex_lock(&prod->rw_mu);
    struct rewound *r = rewound_find(prod, part);
    int64_t v = r ? r->next : -1;
    pthread_mutex_unlock(&prod->rw_mu);
    if (v >= 0) {
        *next = v;
        return 0;
    }
    return evl__part_pid_next(part, prod->pid, next);
}

EVL_API int evl_producer_sequence(evl_producer_t *prod, int32_t partition, int64_t *next)
{
    return evl_producer_sequence_to(prod, NULL, partition, next);
}

EVL_API int evl_producer_rewind_to(evl_producer_t *prod, const char *topic, int32_t partition,
                                   int64_t next)
{
    if (next < 0 || next > INT64_MAX / 2)
        return EVL_EINVAL;
    evl_part_t *part;
    int rc = idem_part(prod, topic, partition, &part);
    if (rc)
        return rc;
    pthread_mutex_lock(&prod->rw_mu);
    struct rewound *r = rewound_find(prod, part);
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
        r->part = part;
        atomic_store(&prod->n_rewound, n + 1);
    }
    if (rc == 0)
        r->next = next;
    pthread_mutex_unlock(&prod->rw_mu);
    return rc;
}

EVL_API int evl_producer_rewind(evl_producer_t *prod, int32_t partition, int64_t next)
{
    return evl_producer_rewind_to(prod, NULL, partition, next);
}
