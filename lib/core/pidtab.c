/*
 * pidtab.c - a partition's table of idempotent producers (pidtab.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "os.h"
#include "pidtab.h"

#define SNAP_MAGIC "EVLPSNP1"
#define SNAP_VERSION 1u

void evl__pidtab_init(evl_pidtab_t *t)
{
    memset(t, 0, EVL_PIDTAB_BYTES);
    memcpy(t->magic, EVL_PIDTAB_MAGIC, 8);
    t->version = 1;
    t->cap = (uint32_t)EVL_PIDTAB_CAP;
}

evl_pid_ent_t *evl__pidtab_find(evl_pidtab_t *t, int64_t pid)
{
    for (uint32_t i = 0; i < EVL_PIDTAB_CAP; i++)
        if (t->e[i].pid == pid)
            return &t->e[i];
    return NULL;
}

uint32_t evl__pidtab_count(const evl_pidtab_t *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < EVL_PIDTAB_CAP; i++)
        n += t->e[i].pid != 0;
    return n;
}

int evl__pidtab_check(evl_pidtab_t *t, int64_t pid, int32_t epoch, int64_t seq, uint64_t n,
                      evl_pid_ent_t **ent, uint64_t *skip, int64_t *first_new)
{
    evl_pid_ent_t *e = evl__pidtab_find(t, pid);
    *ent = e;
    *skip = 0;
    if (!e) {
        /* Unknown here: its first batch in this partition, or one whose
         * entry was evicted. Either way there is nothing to check against. */
        *first_new = seq < 0 ? 0 : seq;
        return (uint64_t)(EVL_SEQ_MAX - *first_new) < n ? EVL_ESEQUENCE : 0;
    }
    if (epoch < e->epoch)
        return EVL_EPRODUCER_FENCED;
    if (seq < 0)
        seq = e->next_seq;
    if (seq > e->next_seq || (uint64_t)(EVL_SEQ_MAX - e->next_seq) < n)
        return EVL_ESEQUENCE;
    uint64_t have = (uint64_t)(e->next_seq - seq);
    *skip = have < n ? have : n;
    *first_new = e->next_seq;
    return 0;
}

int64_t evl__pidtab_dup_offset(const evl_pid_ent_t *e, int64_t s)
{
    for (uint32_t k = 0; k < e->nb; k++) {
        const evl_pid_batch_t *b = &e->b[(e->head + EVL_PID_BATCHES - k) % EVL_PID_BATCHES];
        if (s >= b->first_seq && (uint64_t)(s - b->first_seq) < b->count)
            return (int64_t)(b->base + (uint64_t)(s - b->first_seq));
    }
    return -1;
}

static evl_pid_ent_t *make(evl_pidtab_t *t, int64_t pid)
{
    evl_pid_ent_t *lru = NULL;
    for (uint32_t i = 0; i < EVL_PIDTAB_CAP; i++) {
        evl_pid_ent_t *e = &t->e[i];
        if (e->pid == 0) {
            lru = e;
            break;
        }
        /* Unnamed before named, then least recently used. */
        if (!lru || e->named < lru->named ||
            (e->named == lru->named && e->last_off < lru->last_off))
            lru = e;
    }
    if (lru->pid != 0)
        t->evicted++;
    memset(lru, 0, sizeof *lru);
    lru->pid = pid;
    return lru;
}

void evl__pidtab_note(evl_pidtab_t *t, evl_pid_ent_t *e, int64_t pid, int32_t epoch,
                      int64_t first_seq, uint64_t base, uint64_t count, bool named)
{
    if (!e && !(e = evl__pidtab_find(t, pid)))
        e = make(t, pid);
    if (named)
        e->named = 1;
    if (epoch > e->epoch)
        e->epoch = epoch;
    e->head = e->nb ? (e->head + 1) % EVL_PID_BATCHES : 0;
    if (e->nb < EVL_PID_BATCHES)
        e->nb++;
    e->b[e->head] = (evl_pid_batch_t){first_seq, base, count};
    e->next_seq = first_seq + (int64_t)count;
    e->last_off = base + count;
}

/* ---- snapshot --------------------------------------------------------- */

typedef struct snap_hdr {
    char magic[8];
    uint32_t version, count;
    uint64_t base;
} snap_hdr_t;

int evl__pidtab_save(const char *dir, const evl_pidtab_t *t, uint64_t base)
{
    enum { MAX = sizeof(snap_hdr_t) + EVL_PIDTAB_CAP * sizeof(evl_pid_ent_t) + 4 };
    uint8_t *buf = evl__malloc(MAX);
    if (!buf)
        return EVL_ENOMEM;
    snap_hdr_t h = {.version = SNAP_VERSION, .base = base};
    memcpy(h.magic, SNAP_MAGIC, 8);
    size_t len = sizeof h;
    for (uint32_t i = 0; i < EVL_PIDTAB_CAP; i++)
        if (t->e[i].pid) {
            memcpy(buf + len, &t->e[i], sizeof t->e[i]);
            len += sizeof t->e[i];
            h.count++;
        }
    memcpy(buf, &h, sizeof h);
    uint32_t crc = evl__crc32c(0, buf, len);
    memcpy(buf + len, &crc, 4);
    len += 4;
    int rc = evl__os_write_file(dir, "producers.snap", buf, len);
    free(buf);
    return rc;
}

int evl__pidtab_load(const char *dir, evl_pidtab_t *t, uint64_t *base)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/producers.snap", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    enum { MAX = sizeof(snap_hdr_t) + EVL_PIDTAB_CAP * sizeof(evl_pid_ent_t) + 4 };
    uint8_t *buf = evl__malloc(MAX + 1);
    int rc = EVL_ENOMEM;
    if (!buf)
        goto out;
    ssize_t got = pread(fd, buf, MAX + 1, 0);
    snap_hdr_t h;
    rc = EVL_ECORRUPT;
    if (got < (ssize_t)(sizeof h + 4) || got > (ssize_t)MAX)
        goto out;
    memcpy(&h, buf, sizeof h);
    uint32_t crc;
    memcpy(&crc, buf + got - 4, 4);
    if (memcmp(h.magic, SNAP_MAGIC, 8) != 0 || h.version != SNAP_VERSION ||
        h.count > EVL_PIDTAB_CAP ||
        (size_t)got != sizeof h + h.count * sizeof(evl_pid_ent_t) + 4 ||
        evl__crc32c(0, buf, (size_t)got - 4) != crc)
        goto out;
    evl__pidtab_init(t);
    for (uint32_t i = 0; i < h.count; i++) {
        evl_pid_ent_t e;
        memcpy(&e, buf + sizeof h + i * sizeof e, sizeof e);
        if (e.pid <= 0 || e.epoch < 0 || e.nb > EVL_PID_BATCHES || e.named > 1 ||
            e.head >= EVL_PID_BATCHES || e.next_seq < 0 || e.next_seq > EVL_SEQ_MAX)
            goto out;
        for (uint32_t b = 0; b < EVL_PID_BATCHES; b++) /* the ring: any may be used */
            if (e.b[b].first_seq < 0 || e.b[b].first_seq > EVL_SEQ_MAX ||
                e.b[b].count > UINT32_MAX || e.b[b].base > (uint64_t)INT64_MAX - e.b[b].count)
                goto out;
        t->e[i] = e;
    }
    *base = h.base;
    rc = 0;
out:
    if (rc == EVL_ECORRUPT)
        evl__pidtab_init(t);
    free(buf);
    close(fd);
    return rc;
}
