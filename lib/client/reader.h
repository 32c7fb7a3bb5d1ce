/*
 * reader.h - internal side of evl_reader_t, shared with the consumer.
 */
#ifndef EVL_READER_H
#define EVL_READER_H

#include "common.h"
#include "partition.h"
#include "record.h"
#include "spin.h"
#include "topic.h"

#define EVL_READER_PINS 8

struct evl_reader {
    evl_log_t *log;
    evl_topic_t *topic;
    evl_part_t *part;
    evl_seg_t *seg;            /* current segment (a reference) */
    uint64_t pos;              /* position of the current or next frame */
    uint64_t frame_next;       /* offset after the frames before pos: the frame at
                                * pos has its base there or above (compaction gaps) */
    uint64_t next;             /* next offset to return */
    uint64_t known_size;       /* .log size last seen (reads stay below) */
    uint64_t dropped_to;       /* pages before this were released (RSS) */
    uint64_t fast_end;         /* next_fast() stops before this position */
    uint64_t ahead;            /* mapping asked for up to here (map_ahead) */
    evl_frame_t fr;            /* frame being returned (fr.p NULL: none) */
    int64_t read_records;      /* added to EVL_STAT_READ_RECORDS at close */
    const uint8_t *rec;        /* next record in it */
    uint32_t rec_i;            /* records of it read (or skipped as damaged) */
    int64_t prev_delta;        /* offset delta of the last record read (-1) */
    bool check_crc;
    /* Isolation (evl_reader_set_bound): records at or past what bound_fn
     * says are not returned yet; bound is its last answer. */
    evl_bound_fn *bound_fn;
    void *bound_arg;
    uint64_t bound;
    bool log_ref;              /* holds a reference on the log (evl_reader_open) */
    bool scanning;             /* read a whole window in order since a seek */
    evl_spin_t spin;           /* how a blocking next() waits */
    struct evl_record cur;
    /* Segments left behind while views into them may still be in use
     * (a consumer's batch); released at the next evl__reader_unpin. */
    evl_seg_t *pins[EVL_READER_PINS];
    int npins;
};

int evl__reader_open(evl_log_t *log, evl_topic_t *topic, int partition, evl_reader_t **out);
/* Read the next record without releasing earlier views (consumer batches). */
int evl__reader_next(evl_reader_t *rd, int64_t timeout_ns, const evl_record_t **rec);
/* Release segments that earlier views pointed into. */
void evl__reader_unpin(evl_reader_t *rd);
/* Is a record available right now? (no wait) */
bool evl__reader_ready(evl_reader_t *rd);

#endif
