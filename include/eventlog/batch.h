/*
 * eventlog/batch.h - the batches themselves: a read-only cursor over the
 * frames (Kafka's record batches) of one segment file or of a whole
 * partition, with what each batch header says (offsets, timestamps, the
 * producer's id, epoch and sequence, the transaction and control bits) and
 * its records, damage reported per batch and per record.
 *
 * For tools (`evl dump` is built on it) and for the areas that need more
 * than records: a connector resuming where a producer id left off, a
 * cleaner, a replica. Applications read with evl_reader_t / evl_consumer_t.
 *
 * A cursor only reads, through a read-only mapping, and checks every length
 * and checksum before use: it is safe on a live log and on any file (a
 * damaged one gives EVL_ECORRUPT, never a crash). A cursor is used by one
 * thread at a time; its record views stay valid until its next call.
 *
 *   evl_cursor_t *c;
 *   evl_batch_t b;
 *   const evl_record_t *r;
 *   evl_cursor_open_file("data/topics/t/0/00000000000000000000.log", &c);
 *   while ((rc = evl_cursor_next_batch(c, &b)) != EVL_CURSOR_END) {
 *       if (rc != 0) continue;          // damaged batch, end of segment
 *       while ((rc = evl_cursor_next_record(c, &r)) != EVL_CURSOR_END)
 *           if (rc == 0) use(r);         // EVL_ECORRUPT: see evl_cursor_lost
 *   }
 *   evl_cursor_close(c);
 */
#ifndef EVENTLOG_BATCH_H
#define EVENTLOG_BATCH_H

#include <eventlog.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evl_cursor evl_cursor_t;

/* What evl_cursor_next_batch and evl_cursor_next_record return besides 0
 * and errors. */
#define EVL_CURSOR_END 1          /**< nothing more (of the batch, or at all) */
#define EVL_CURSOR_SEGMENT_END 2  /**< an end-of-segment marker: the batch's
                                       base_offset is the next segment's */

/* evl_batch_t.flags */
#define EVL_BATCH_TRANSACTIONAL 0x1 /**< part of a transaction */
#define EVL_BATCH_CONTROL 0x2       /**< its records are commit/abort markers */
#define EVL_BATCH_PRODUCER 0x4      /**< producer_id, epoch and sequence are set */

/** One batch's header. */
typedef struct evl_batch {
    uint64_t position;       /**< its place in the segment file */
    uint32_t length;         /**< its bytes */
    uint64_t next_position;  /**< where the batch after it starts */
    int64_t base_offset;     /**< its first offset */
    int64_t last_offset;     /**< its last offset (records compacted away
                                  leave gaps below it) */
    uint32_t record_count;
    int64_t first_timestamp, max_timestamp;
    int64_t producer_id;     /**< -1 without EVL_BATCH_PRODUCER */
    int32_t producer_epoch;
    int64_t base_sequence;   /**< the first record's sequence (64-bit) */
    unsigned flags;          /**< EVL_BATCH_* */
} evl_batch_t;

/** The segment a cursor is in: its header and newest checkpoint. */
typedef struct evl_segment_info {
    uint32_t version;        /**< its record format (2; 1 is refused) */
    int64_t base_offset;
    uint64_t max_bytes;      /**< segment.bytes when it was made */
    int64_t created_ms;
    int header_ok;           /**< its header's checksum holds */
    uint64_t file_bytes;
    int has_checkpoint;      /**< 0: no valid checkpoint (fields below 0) */
    int checkpoint_slot;
    uint64_t checkpoint_seq, checkpoint_pos;
    int64_t checkpoint_next_offset, checkpoint_max_ts;
    int sealed;
    uint32_t index_entries;  /**< entries the checkpoint vouches for */
} evl_segment_info_t;

/** An entry of a segment's sparse index (.idx). */
typedef struct evl_index_entry {
    int64_t offset;          /**< the base offset of the batch it points at */
    uint64_t position;       /**< that batch's position in the .log */
    int64_t max_ts_before;   /**< the largest timestamp before it */
} evl_index_entry_t;

/**
 * A cursor over one segment file: PATH is its .log, or its .idx (then the
 * .log beside it is read too; either may be missing). Ownership: the
 * caller closes it. Returns 0, EVL_EINVAL, EVL_ENOMEM, EVL_ECORRUPT (not a
 * segment file: no EVLSEG1 header), or a negative errno (open, mmap). A
 * segment of another format opens (its header can be shown) but its
 * batches are refused with EVL_EVERSION.
 */
EVL_API int evl_cursor_open_file(const char *path, evl_cursor_t **out);

/**
 * A cursor over partition PARTITION of TOPIC, from its first segment to
 * the data published when each segment is reached (a live log keeps
 * growing; the cursor sees what was there). Holds a reference on the log,
 * as a reader does. Returns 0, EVL_EINVAL, EVL_ENOTFOUND (no such topic or
 * partition), EVL_ESTATE (the log is closed), EVL_ENOMEM.
 */
EVL_API int evl_cursor_open(evl_log_t *log, const char *topic, int partition,
                            evl_cursor_t **out);

/** Close a cursor (NULL is fine). Views it returned are invalid after. */
EVL_API void evl_cursor_close(evl_cursor_t *cur);

/**
 * The next batch, in file order: 0 with *out set (its records follow with
 * evl_cursor_next_record); EVL_CURSOR_SEGMENT_END at an end-of-segment
 * marker (out->position, out->base_offset: the next segment's base; a
 * partition cursor goes on into that segment); EVL_CURSOR_END when nothing
 * more is published; EVL_ECORRUPT when the batch at out->position fails
 * its header checks (out->length is what its length word says): the next
 * call looks for the next intact batch after it; EVL_EVERSION for a
 * segment of another format.
 */
EVL_API int evl_cursor_next_batch(evl_cursor_t *cur, evl_batch_t *out);

/**
 * The next record of the current batch: 0 with *rec (valid until the next
 * call on the cursor; topic and partition are set for a partition cursor);
 * EVL_CURSOR_END when the batch is done; EVL_ECORRUPT for a record that
 * fails its checksum or structure: evl_cursor_lost says which offsets are
 * lost, and the next call goes on with the next intact record.
 */
EVL_API int evl_cursor_next_record(evl_cursor_t *cur, const evl_record_t **rec);

/** The offsets the last EVL_ECORRUPT of evl_cursor_next_record lost. */
EVL_API void evl_cursor_lost(const evl_cursor_t *cur, int64_t *first, int64_t *last);

/** The segment the cursor is in (its header, newest checkpoint, size). */
EVL_API int evl_cursor_segment(const evl_cursor_t *cur, evl_segment_info_t *out);

/**
 * Index entry I of a file cursor's segment: 0, EVL_ENOTFOUND past the
 * entries written, EVL_ESTATE for a partition cursor or a segment without
 * its .idx.
 */
EVL_API int evl_cursor_index_entry(const evl_cursor_t *cur, uint32_t i, evl_index_entry_t *out);

#ifdef __cplusplus
}
#endif
#endif
