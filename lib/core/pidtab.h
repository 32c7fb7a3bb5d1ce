/*
 * pidtab.h - a partition's idempotent producers (enable.idempotence): for
 * each producer id, its epoch, the sequence the partition expects from it
 * next, and where its last EVL_PID_BATCHES batches went. Checked and updated
 * under the append lock; shared by every process through a region of the
 * partition's control file, mapped only once a producer id has written to
 * the partition (a partition without idempotent producers pays nothing).
 *
 * Like the rest of the control block, the table is a cache of the log: each
 * frame of an idempotent producer carries its id, epoch and base sequence
 * (record.h). After a reboot, or whenever the control block is rebuilt, the
 * table is rebuilt from the last snapshot (producers.snap: the table as of
 * a segment's base offset) plus the frames after that base. A roll copies
 * the table, as of the new segment's base, to the region's second half
 * (the pending copy); whoever finishes the roll's seal writes it to
 * producers.snap once the sealed segment's data is on disk, never before:
 * a snapshot never names a batch a power cut could take. No snapshot
 * means no idempotent producer ever wrote here: the first one writes an
 * empty one, durably, before its first frame.
 *
 * The table holds EVL_PIDTAB_CAP producers; when full, the least recently
 * used unnamed producer's entry goes first (an unnamed producer cannot
 * replay after a restart anyway), then the least recently used named one.
 *
 * Sequences are 64-bit, per producer id and partition, and go on across
 * epochs: a new instance of a named producer (a higher epoch) may replay
 * what an older one sent and have it recognised. A send whose sequence is
 * below what the partition expects is a duplicate: nothing is appended and
 * the original offsets are reported (from the table's batches, or, for
 * older batches, by a scan of frame headers: evl__part_find_seqs).
 */
#ifndef EVL_PIDTAB_H
#define EVL_PIDTAB_H

#include "common.h"

#define EVL_PIDTAB_MAGIC "EVLPID1"
#define EVL_PIDTAB_OFF 4096u            /* where the region starts in the ctl file */
#define EVL_PIDTAB_BYTES (16u << 10)    /* a table's size: the live one, then the
                                           pending copy (the region is twice it) */
#define EVL_PID_BATCHES 5               /* batches remembered per producer */
/* The largest sequence (far from overflow: 2^62 records). */
#define EVL_SEQ_MAX (INT64_MAX / 2)

typedef struct evl_pid_batch {
    int64_t first_seq;
    uint64_t base;      /* offset of its first record */
    uint64_t count;
} evl_pid_batch_t;

typedef struct evl_pid_ent {
    int64_t pid;        /* 0: a free slot */
    int32_t epoch;
    uint32_t nb;        /* batches remembered (<= EVL_PID_BATCHES) */
    int64_t next_seq;   /* the sequence expected next */
    uint64_t last_off;  /* offset after its last batch (least recently
                           used goes first when the table is full) */
    uint32_t head;      /* b[head] is the newest batch */
    uint32_t named;     /* a named producer's (evicted last) */
    evl_pid_batch_t b[EVL_PID_BATCHES];
} evl_pid_ent_t;

typedef struct evl_pidtab {
    char magic[8];
    uint32_t version, cap;
    uint64_t evicted;   /* entries dropped to make room (a stat) */
    uint64_t snap_base; /* the pending copy (see below): the base it is as
                           of, 0 once taken */
    uint8_t pad[32];
    evl_pid_ent_t e[];
} evl_pidtab_t;

#define EVL_PIDTAB_CAP ((EVL_PIDTAB_BYTES - sizeof(evl_pidtab_t)) / sizeof(evl_pid_ent_t))
_Static_assert(sizeof(evl_pidtab_t) == 64, "pidtab header");

/* Empty t (EVL_PIDTAB_BYTES at t). */
void evl__pidtab_init(evl_pidtab_t *t);

/* What to do with n records of producer pid at epoch, whose first has
 * sequence seq (< 0: the next one the partition expects). Returns 0 with
 * *skip = how many leading records are already in the log (all n: a
 * duplicate; 0: a new batch; between: a replay that catches up) and
 * *first_new = the sequence of the first record to append;
 * EVL_EPRODUCER_FENCED (epoch older than the partition has seen) or
 * EVL_ESEQUENCE (seq past the expected one: records would be missing).
 * *ent is the producer's entry, or NULL if it has none yet (evl__pidtab_note
 * makes one). Changes nothing. */
int evl__pidtab_check(evl_pidtab_t *t, int64_t pid, int32_t epoch, int64_t seq, uint64_t n,
                      evl_pid_ent_t **ent, uint64_t *skip, int64_t *first_new);
/* The original offset of the record of sequence s of ent (a duplicate), or
 * -1 when it is older than the remembered batches. */
int64_t evl__pidtab_dup_offset(const evl_pid_ent_t *ent, int64_t s);
/* After an append (or while rebuilding): count records from pid at epoch,
 * sequences first_seq.., went to offsets base... ent: from
 * evl__pidtab_check, or NULL to look it up / make it (evicting the least
 * recently used entry when the table is full). */
void evl__pidtab_note(evl_pidtab_t *t, evl_pid_ent_t *ent, int64_t pid, int32_t epoch,
                      int64_t first_seq, uint64_t base, uint64_t count, bool named);
/* pid's entry, or NULL. */
evl_pid_ent_t *evl__pidtab_find(evl_pidtab_t *t, int64_t pid);
/* Entries in use. */
uint32_t evl__pidtab_count(const evl_pidtab_t *t);

/* producers.snap in folder dir: the table as of offset base. Written to a
 * temporary file, fsynced and renamed (and the folder fsynced). */
int evl__pidtab_save(const char *dir, const evl_pidtab_t *t, uint64_t base);
/* Load it into t: 0 with *base set; -ENOENT if there is none; EVL_ECORRUPT
 * if it does not check out. */
int evl__pidtab_load(const char *dir, evl_pidtab_t *t, uint64_t *base);

#endif
