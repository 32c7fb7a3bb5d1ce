/*
 * partition.h - one partition: its segments, its shared control block, the
 * append path, group commit, retention and waiting for new records.
 *
 * Every process that opens a partition maps DIR/topics/T/P/partition.ctl,
 * a 4096-byte file holding the state all writers share:
 *
 *   - a robust, process-shared mutex: the append lock. Appends are short
 *     memory writes, so a lock costs two uncontended atomics and no system
 *     call, and a writer killed while holding it does not block the others:
 *     the next locker gets EOWNERDEAD and repairs the tail (zeroes what the
 *     dead writer left half-written, or adopts a frame it had published).
 *   - the tail: active segment, write position, next offset, allocation.
 *   - a futex word that appends bump when readers sleep on it, so a reader
 *     in any process wakes at once without polling.
 *
 * The ctl file is a cache of the log, never the truth. It records the boot
 * it was written under; after a reboot (the page cache is gone) or when it
 * is missing or damaged, it is rebuilt from the segment files by recovery
 * (recovery.c). Within one boot it stays valid across process crashes,
 * which is why opening after a kill -9 costs O(1).
 */
#ifndef EVL_PARTITION_H
#define EVL_PARTITION_H

#include <pthread.h>

#include "common.h"
#include "segment.h"

#define EVL_CTL_MAGIC "EVLCTL1"
/* A new segment's first allocation (partition.c: ALLOC_MIN). */
#define EVL_ALLOC_MIN (16u << 10)
/* What a new, empty partition costs on disk at least: its segment's first
 * allocation, a page of index, the control block. */
#define EVL_PART_MIN_BYTES (EVL_ALLOC_MIN + EVL_IDX_STEP_MIN + 4096u)
#define EVL_CTL_VERSION 3u

/* Where a rolled segment ends, as the roll noted it (evl_ctl_t.seal). */
typedef struct evl_seal_note {
    uint64_t base, pos, next, idx_count;
    int64_t max_ts;
} evl_seal_note_t;

typedef struct evl_ctl {
    char magic[8];
    uint32_t version, size;
    char boot_id[40];                 /* boot this state belongs to */
    _Atomic uint32_t valid;           /* 1 once built for this boot */
    _Atomic uint32_t topic_nparts;    /* partition 0 only: the topic's
                                         partition count, raised by
                                         evl_topic_add_partitions, so that
                                         producers everywhere see growth at
                                         their next send; 0: unknown */
    /* Cache line 1: the lock and what every append writes. Two writers
     * taking turns move as few lines between their cores as possible. */
    pthread_mutex_t lock;             /* the append lock (robust, pshared) */
    _Atomic uint64_t write_pos;       /* end of published frames in it */
    _Atomic uint64_t dirty_end;       /* > write_pos while a frame is written */
    _Atomic uint64_t next_offset;     /* offset the next record gets */
    /* Cache line 2: the rest of the tail, read by every append. */
    _Atomic uint64_t active_base;     /* base offset of the active segment */
    _Atomic uint64_t alloc_end;       /* bytes allocated for the active .log */
    _Atomic int64_t max_ts;           /* largest timestamp in active segment */
    _Atomic int64_t seg_created_ms;   /* when the active segment was made */
    _Atomic uint64_t last_frame_pos;  /* start of the last published frame */
    _Atomic uint64_t last_idx_pos;    /* position of the last index entry */
    _Atomic uint64_t idx_count;       /* index entries of the active segment */
    _Atomic uint64_t seg_epoch;       /* bumped when segments come or go */
    /* Cache line 3: rarely written. */
    _Atomic uint64_t start_offset;    /* first offset still in the log */
    _Atomic uint64_t idx_synced;      /* index entries known on disk */
    /* The seal a roll left to finish (partition.c, finish_seal): set under
     * the lock; while seal_pending is nonzero (seal.base + 1, so that it can
     * be checked without the lock), the segment at seal.base has its end
     * marker but its data may not be on disk yet, nor its sealed
     * checkpoint. At most one at a time: a roll finishes the previous one
     * first. */
    _Atomic uint64_t seal_pending;
    evl_seal_note_t seal;
    /* Cache line 4: readers' side (appends only read it). */
    _Atomic uint32_t futex_seq;       /* readers sleep on this word */
    _Atomic uint32_t waiters;         /* readers sleeping (any process) */
} evl_ctl_t;

_Static_assert(offsetof(evl_ctl_t, lock) == 64 && offsetof(evl_ctl_t, active_base) == 128 &&
                   offsetof(evl_ctl_t, start_offset) == 192 &&
                   offsetof(evl_ctl_t, futex_seq) == 256,
               "evl_ctl_t: hot fields on their own cache lines");

struct evl_topic;

/*
 * What a partition is given when it is opened: its settings, where it
 * reports, and the services of its owner (the log: the disk budget and its
 * background threads). The partition module (partition.c, segcache.c,
 * append.c, prefault.c, commit.c, retention.c, recovery.c) uses only this,
 * never the log or topic structures above it.
 */
typedef struct evl_part_env {
    const char *name;              /* the topic's name, for messages */
    const evl_logger_t *lg;        /* where it logs */
    _Atomic int64_t *stats;        /* counters, indexed by enum evl_stat */
    const char *boot_id;           /* the kernel's boot id (os.h) */
    int recovery_mode;             /* EVL_RECOVERY_* */
    uint64_t seg_bytes;            /* segment.bytes: a segment's mapping */
    uint64_t roll_bytes;           /* where segments roll (<= seg_bytes) */
    int64_t seg_ms;                /* segment.ms */
    uint64_t index_interval;       /* index.interval.bytes */
    uint64_t max_msg;              /* max.message.bytes */
    int64_t retention_ms, retention_bytes;
    uint64_t ahead_max;            /* most space made ahead of a fast writer */
    bool drops_oldest;             /* the budget may drop data (drop-oldest) */
    /* The owner's services: the disk budget, with the contract of
     * evl__log_reserve / _try / _done (log.h), and waking its background
     * thread (flushes, seals, retention) and its prefault thread. */
    void *owner;
    int (*reserve)(void *owner, uint64_t bytes);
    int (*reserve_try)(void *owner, uint64_t bytes);
    void (*reserve_done)(void *owner);
    void (*kick)(void *owner);
    void (*kick_prefault)(void *owner);
} evl_part_env_t;

typedef struct evl_part {
    evl_part_env_t env;
    /* The log and topic that opened it, for the layers above (producers,
     * consumers, retention holds); the partition module does not use them. */
    struct evl_log *log;
    struct evl_topic *topic;
    int id;
    char *dir;                  /* DIR/topics/T/P */
    bool made_dir;              /* this open made the folder */
    evl_ctl_t *ctl;
    /* Settings (from the topic). */
    uint64_t seg_bytes, idx_cap, index_interval, max_msg;
    uint64_t roll_bytes;        /* rolls here: segment.bytes, or less under a
                                   disk budget (evl__log_budget_share) */
    int64_t seg_ms;
    /* Open segments of this partition in this handle, by base. */
    pthread_mutex_t seg_mu;
    evl_seg_t *segs;
    uint64_t cache_epoch;       /* ctl->seg_epoch when segs was last checked
                                   against the files (segcache.c) */
    pthread_mutex_t retention_mu; /* one retention pass at a time */
    /* The writer's mapping of the active segment; under the ctl lock. */
    evl_seg_t *wseg;
    /* Group commit (this process): sync_mu protects these fields. */
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;     /* followers wait here for the leader */
    bool sync_leader;           /* a thread is fsyncing */
    uint64_t synced_base, synced_pos; /* durable up to here */
    bool sync_failed;           /* an fsync failed: nothing more is durable */
    _Atomic int durable_inflight; /* fsync-level sends, from before append to after sync */
    _Atomic int durable_peak;   /* most in flight since the last fsync began */
    /* Group commit leaders only (one at a time): */
    int64_t last_fsync_ns;      /* the last fsync's duration */
    uint64_t snap_next;         /* next offset when the last fsync began */
    _Atomic bool unsynced;      /* appended since the last sync */
    _Atomic bool interval_flush; /* a producer wants background flushes */
    _Atomic bool grow_wanted;   /* the writer is close to the allocation end */
    /* The prefault thread's last look: the writer's rate decides whether
     * it maps pages ahead or only allocates (evl__part_grow_ahead). */
    int64_t pf_last_ns;
    uint64_t pf_last_pos, pf_last_base;
    bool pf_fast;       /* the last rate measured was fast */
    /* The writer asks the prefault thread for space when it comes within
     * this much of the allocation's end (set by that thread from the rate). */
    _Atomic uint64_t ahead;
    /* A roll happened, or the partition was opened: the background thread
     * (or the log's close) applies retention to it. */
    _Atomic bool retention_due;
    int pf_small_units; /* 2 MiB units left to prefault with small pages */
    int pf_slow_probes; /* slow 2 MiB folios in a row (prefault_unit) */
    /* This handle's appends, updated under the append lock (so a plain
     * load and store, not a contended atomic add per record). */
    _Atomic int64_t n_appends, n_append_bytes;
    _Atomic int64_t last_flush_ms;
    /* The idempotent producers' table (pidtab.h), once mapped by this
     * handle (under the append lock, or while the partition is set up). */
    struct evl_pidtab *pids;
    void *pids_map;
} evl_part_t;

/* Open partition id in folder tdir/id (tdir must exist: -ENOENT if not,
 * so that a topic folder a delete renamed away does not come back; the
 * partition's own folder is made if missing, and part->made_dir says so). */
int evl__part_open(const evl_part_env_t *env, const char *tdir, int id, evl_part_t **out);
/* Set by a thread that holds another partition's append lock and the disk
 * budget (budget.c, making space): its opens then never wait for a lock
 * (a partition's set-up flock, or its append lock to check or recover its
 * state) but fail with -EAGAIN, as waiting could close a cycle with a
 * writer that holds that lock and waits for the budget. */
extern _Thread_local bool evl__part_nowait;
void evl__part_close(evl_part_t *part);

/* Append msgs[0..n) as one frame of at most frame_bytes (the sum of
 * evl__rec_size + EVL_FRAME_HDR_MAX: a bound, the exact size is known once
 * encoded). Sets *base to the first offset and
 * *end_pos and *seg_base to where the frame ends (for evl__part_sync). */
int evl__part_append(evl_part_t *part, const evl_msg_t *msgs, size_t n,
                     uint64_t frame_bytes, uint64_t *base, uint64_t *seg_base,
                     uint64_t *end_pos);

/* What an append may carry besides its records (evl__part_append_ex). */
typedef struct evl_append_opts {
    int64_t producer_id;   /* > 0: an idempotent producer's records */
    int32_t epoch;         /* its epoch (>= 0) */
    int64_t seq;           /* the sequence of msgs[0]; < 0: the next one the
                              partition expects from producer_id */
    uint8_t attrs;         /* EVL_ATTR_TXN, EVL_ATTR_CONTROL (record.h) */
    bool named;            /* producer_id is a named producer's (pidtab.h) */
    /* Called under the append lock, before anything is checked or written,
     * with the offset the first record would get: nonzero refuses the
     * append with that code. The seam for an area's rules that must hold
     * atomically with the append (transactions, a replica's fencing). */
    int (*hook)(void *arg, evl_part_t *part, uint64_t next_offset);
    void *hook_arg;
} evl_append_opts_t;

typedef struct evl_append_res {
    uint64_t base;         /* offset of the first record appended */
    uint64_t seg_base, end_pos; /* where the frame ends (for evl__part_sync);
                              the tail when nothing was appended */
    uint64_t skipped;      /* leading records the log already held (an
                              idempotent producer's replay): not appended */
    int64_t first_seq;     /* the sequence msgs[0] had (idempotent) */
} evl_append_res_t;

/* evl__part_append with options. With a producer id, the producer table
 * decides (pidtab.h): EVL_EPRODUCER_FENCED, EVL_ESEQUENCE, or res->skipped
 * leading records that are duplicates, whose original offsets go to
 * dup_off[0..skipped) (-1: older than the table remembers, see
 * evl__part_find_seqs), the rest appended as one frame. */
int evl__part_append_ex(evl_part_t *part, const evl_msg_t *msgs, size_t n,
                        uint64_t frame_bytes, const evl_append_opts_t *opts, int64_t *dup_off,
                        evl_append_res_t *res);

/* producers.c: the producer table. Map its region of the control file if
 * there is one (1 if not); with create (append lock held), make it. */
int evl__part_pids_attach(evl_part_t *part, bool create);
void evl__part_pids_detach(evl_part_t *part);
/* Rebuild the table from its snapshot and the frames after it (the
 * partition being set up or its append lock held); 0 if there is none. */
int evl__part_pids_rebuild(evl_part_t *part);
/* The sequence the partition expects next from producer pid (0 if it
 * has none), under the append lock. */
int evl__part_pid_next(evl_part_t *part, int64_t pid, int64_t *next);
/* At a roll (append lock held): copy the table, as of next_base, to the
 * pending copy. */
void evl__part_pids_roll(evl_part_t *part, uint64_t next_base);
/* Finishing the seal of the segment that ends at next_base (append lock
 * held, its data on disk): the pending copy for it, taken (malloc'd;
 * NULL if none); then, without the lock, evl__part_pids_save writes it
 * to producers.snap and frees it. */
struct evl_pidtab *evl__part_pids_take(evl_part_t *part, uint64_t next_base);
void evl__part_pids_save(evl_part_t *part, struct evl_pidtab *snap);
/* Where the records of sequences seq0..seq0+n of producer pid went: fills
 * each out[i] < 0 from the frame headers (newest segment first), leaving
 * -1 for those no longer in the log. Without the append lock. */
void evl__part_find_seqs(evl_part_t *part, int64_t pid, int64_t seq0, uint64_t n, int64_t *out);

/* Before a durable append: take the write fault on the tail pages now,
 * outside the append lock (see partition.c). */
void evl__part_pretouch(evl_part_t *part, uint64_t bytes);
/* Make everything up to (seg_base, end_pos) durable; threads that call at
 * once share one fdatasync. EVL_EDURABILITY if an fsync ever failed. */
int evl__part_sync(evl_part_t *part, uint64_t seg_base, uint64_t end_pos);
/* Background: allocate and pre-fault space ahead of the writer, so that
 * page faults and fallocate stay off the append path. */
void evl__part_grow_ahead(evl_part_t *part);
/* Sync whatever is unsynced now. */
int evl__part_sync_now(evl_part_t *part);
/* Finish the seal the last roll left (see evl_ctl_t.seal_pending), if any:
 * its data on disk, its files trimmed, its sealed checkpoint. `locked`: the
 * caller holds the append lock. 0, or EVL_EDURABILITY when the fdatasync
 * failed. */
int evl__part_finish_seal(evl_part_t *part, bool locked);
/* While seg's seal is pending, its end as the roll noted it: index entries
 * and the end marker's position. False otherwise. Takes the append lock:
 * for seeks, not for each read. */
bool evl__part_pending_end(evl_part_t *part, const evl_seg_t *seg, uint32_t *idx_count,
                           uint64_t *end_pos);

/* Segments: the one holding offset (greatest base <= offset), or the one
 * with exactly base. A reference is taken: evl__seg_unref when done. */
int evl__part_seg_for(evl_part_t *part, uint64_t offset, evl_seg_t **out);
int evl__part_seg_at(evl_part_t *part, uint64_t base, evl_seg_t **out);
/* Sorted base offsets of the segment files on disk (malloc'd). */
int evl__part_list(const char *dir, uint64_t **bases, size_t *count);
/* Is seg sealed? Loads its sealed state once it is no longer active. */
bool evl__part_seg_sealed(evl_part_t *part, evl_seg_t *seg);

/* The owner's services (evl_part_env_t). */
static inline void evl__part_stat_add(evl_part_t *part, int stat, int64_t v)
{
    atomic_fetch_add_explicit(&part->env.stats[stat], v, memory_order_relaxed);
}
static inline void evl__part_stat_max(evl_part_t *part, int stat, int64_t v)
{
    int64_t cur = atomic_load_explicit(&part->env.stats[stat], memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak(&part->env.stats[stat], &cur, v))
        ;
}
static inline int evl__part_reserve(evl_part_t *part, uint64_t bytes)
{
    return part->env.reserve(part->env.owner, bytes);
}
static inline int evl__part_reserve_try(evl_part_t *part, uint64_t bytes)
{
    return part->env.reserve_try(part->env.owner, bytes);
}
static inline void evl__part_reserve_done(evl_part_t *part)
{
    part->env.reserve_done(part->env.owner);
}
static inline void evl__part_kick(evl_part_t *part) { part->env.kick(part->env.owner); }
static inline void evl__part_kick_prefault(evl_part_t *part)
{
    part->env.kick_prefault(part->env.owner);
}

static inline uint64_t evl__part_end(const evl_part_t *part)
{
    return atomic_load_explicit(&part->ctl->next_offset, memory_order_acquire);
}
static inline uint64_t evl__part_start(const evl_part_t *part)
{
    return atomic_load_explicit(&part->ctl->start_offset, memory_order_acquire);
}

/* Retention: delete whole sealed segments that are older than retention_ms
 * or beyond retention_bytes, and (when keep_from >= 0) end at or before
 * keep_from. Returns bytes freed (>= 0) or a negative code. */
int64_t evl__part_retention(evl_part_t *part, int64_t now_ms, int64_t keep_from);
/* Delete the oldest sealed segment (disk budget); bytes freed, 0 if none.
 * consumed_to >= 0: only if its records all come before that offset. */
int64_t evl__part_drop_oldest(evl_part_t *part, int64_t *oldest_ts_out, bool dry_run,
                              int64_t consumed_to);

int evl__part_info(evl_part_t *part, evl_partition_info_t *out);
/* The lowest committed offset of the groups named in the topic's
 * retain.until.consumed.by (group.c), or -1 when there are none. Segments
 * holding records at or after it are kept. */
int64_t evl__part_keep_from(evl_part_t *part);
/* Bytes on disk of this partition's files. */
int64_t evl__part_disk_bytes(const char *dir);


/* First allocation of a new segment file. */
uint64_t evl__part_initial_alloc(const evl_part_t *part);
/* Make a freshly created segment the active one (ctl lock held). */
void evl__part_activate(evl_part_t *part, evl_seg_t *seg, uint64_t alloc, int64_t now);

/* recovery.c: rebuild the ctl state from the segment files (ctl locked by
 * flock; the append mutex is initialised by the caller). */
int evl__part_recover(evl_part_t *part);
/* A topic delete: mark the partition in folder dir deleted, so that every
 * handle's appends to it fail with EVL_ENOTFOUND from now on. */
void evl__part_mark_deleted(const char *dir);
/* True once the partition's topic was deleted (appends fail). */
static inline bool evl__part_deleted(const evl_part_t *part)
{
    return atomic_load_explicit(&part->ctl->valid, memory_order_relaxed) != 1;
}
/* Repair after a writer died holding the append lock. */
void evl__part_repair_tail(evl_part_t *part);
/* recovery.mode=repair: cut the active segment's damaged tail, frames that
 * fail their checks with no intact frame after them (append lock held).
 * Damage followed by intact frames is left for readers to skip. */
int evl__part_cut_damaged_tail(evl_part_t *part);

#endif
