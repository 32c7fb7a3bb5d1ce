/*
 * test_cursor.c - the batch cursor (include/eventlog/batch.h): a partition
 * read batch by batch across segment ends, a segment file with its header,
 * checkpoint and index, damage named per record and per batch header, and
 * files of another format refused, never misread.
 */
#include <eventlog/batch.h>
#include <fcntl.h>
#include <unistd.h>

#include "crc32c.h"
#include "frame_forge.h"
#include "helpers.h"

TestSuite(cursor, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 60);

/* `calls` producer calls of `per` records each (values "v<offset>",
 * timestamps 1000 + offset: from 1970, so retention by time is off). */
static evl_log_t *make_log(evl_config_t *cfg, int calls, int per)
{
    evl_producer_t *prod;
    evl_config_t *own = cfg ? NULL : (cfg = test_cfg(NULL));
    char err[128];
    cr_assert_eq(evl_config_set(cfg, "retention.ms", "-1", err, sizeof err), 0);
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    evl_config_free(own);
    int64_t off = 0;
    for (int c = 0; c < calls; c++) {
        evl_msg_t m[16];
        char v[16][24];
        for (int i = 0; i < per; i++) {
            int n = snprintf(v[i], sizeof v[i], "v%lld", (long long)off + i);
            m[i] = (evl_msg_t){"key", 3, v[i], (size_t)n, NULL, 0, 1000 + off + i, 0, -1};
        }
        cr_assert_eq(per == 1 ? evl_producer_send(prod, m, 0)
                              : evl_producer_send_batch(prod, m, (size_t)per, 0), 0);
        off += per;
    }
    evl_producer_close(prod);
    return log;
}

static const char *seg_path(uint64_t base, const char *ext)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/topics/t/0/%020llu.%s", tpath("log"), (unsigned long long)base,
             ext);
    return p;
}

static void check_value(const evl_record_t *r)
{
    char want[24];
    size_t len;
    const char *v = evl_record_value(r, &len);
    int n = snprintf(want, sizeof want, "v%lld", (long long)evl_record_offset(r));
    cr_assert_eq(len, (size_t)n);
    cr_assert_eq(memcmp(v, want, len), 0);
    cr_assert_eq(evl_record_timestamp(r), 1000 + evl_record_offset(r));
}

Test(cursor, a_partition_is_read_batch_by_batch_across_segments)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", NULL);
    evl_log_t *log = make_log(cfg, 800, 10); /* 8000 records, several segments */
    evl_cursor_t *c;
    cr_assert_eq(evl_cursor_open(log, "t", 0, &c), 0);
    evl_batch_t b;
    const evl_record_t *r;
    int rc, batches = 0, ends = 0;
    int64_t next = 0;
    while ((rc = evl_cursor_next_batch(c, &b)) != EVL_CURSOR_END) {
        if (rc == EVL_CURSOR_SEGMENT_END) {
            cr_assert_eq(b.base_offset, next, "the next segment starts where this one ends");
            ends++;
            continue;
        }
        cr_assert_eq(rc, 0, "%s", evl_errname(rc));
        cr_assert_eq(b.base_offset, next, "batch at %llu: base %lld, want %lld\n%s",
                     (unsigned long long)b.position, (long long)b.base_offset, (long long)next,
                     test_logbuf);
        cr_assert_eq(b.last_offset, next + 9);
        cr_assert_eq(b.record_count, 10);
        cr_assert_eq(b.first_timestamp, 1000 + next);
        cr_assert_eq(b.max_timestamp, 1000 + next + 9);
        cr_assert_eq(b.producer_id, -1);
        cr_assert_eq(b.flags, 0);
        cr_assert_gt(b.next_position, b.position + b.length - 1);
        while ((rc = evl_cursor_next_record(c, &r)) == 0) {
            cr_assert_eq(evl_record_offset(r), next++);
            cr_assert_str_eq(evl_record_topic(r), "t");
            cr_assert_eq(evl_record_partition(r), 0);
            check_value(r);
        }
        cr_assert_eq(rc, EVL_CURSOR_END);
        batches++;
    }
    cr_assert_eq(next, 8000);
    cr_assert_eq(batches, 800);
    cr_assert_geq(ends, 2, "%d segment ends", ends);
    evl_segment_info_t si;
    cr_assert_eq(evl_cursor_segment(c, &si), 0);
    cr_assert_eq(si.version, 2);
    cr_assert(si.header_ok);
    evl_cursor_close(c);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(cursor, a_segment_file_shows_its_header_checkpoint_and_index)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", "index.interval.bytes", "256", NULL);
    evl_log_t *log = make_log(cfg, 200, 1);
    cr_assert_eq(evl_log_sync(log), 0); /* writes a checkpoint */
    evl_log_close(log);
    evl_cursor_t *c;
    cr_assert_eq(evl_cursor_open_file(seg_path(0, "log"), &c), 0);
    evl_segment_info_t si;
    cr_assert_eq(evl_cursor_segment(c, &si), 0);
    cr_assert_eq(si.version, 2);
    cr_assert_eq(si.base_offset, 0);
    cr_assert_eq(si.max_bytes, 65536);
    cr_assert(si.header_ok);
    cr_assert(si.has_checkpoint, "a closed log leaves a checkpoint");
    cr_assert_eq(si.checkpoint_next_offset, 200);
    evl_batch_t b;
    int64_t n = 0;
    uint64_t prev_end = 4096;
    int rc;
    while ((rc = evl_cursor_next_batch(c, &b)) == 0) {
        cr_assert_eq(b.position, prev_end, "batches are back to back");
        cr_assert_eq(b.base_offset, n++);
        prev_end = b.next_position;
    }
    cr_assert_eq(rc, EVL_CURSOR_END);
    cr_assert_eq(n, 200);
    evl_index_entry_t e, prev = {-1, 0, 0};
    uint32_t i = 0;
    for (; evl_cursor_index_entry(c, i, &e) == 0; i++) {
        cr_assert_gt(e.offset, prev.offset);
        cr_assert_gt(e.position, prev.position);
        prev = e;
    }
    cr_assert_gt(i, 10, "%u index entries", i);
    evl_cursor_close(c);
    /* The .idx path reads the same index. */
    cr_assert_eq(evl_cursor_open_file(seg_path(0, "idx"), &c), 0);
    cr_assert_eq(evl_cursor_index_entry(c, 0, &e), 0);
    cr_assert_eq(evl_cursor_index_entry(c, i, &e), EVL_ENOTFOUND);
    evl_cursor_close(c);
    evl_config_free(cfg);
}

/* A flipped byte inside one record of a batch of 10 costs that record:
 * named by evl_cursor_lost, the 9 others returned. */
Test(cursor, a_damaged_record_is_named_and_the_rest_of_its_batch_read)
{
    evl_log_t *log = make_log(NULL, 3, 10);
    evl_log_close(log);
    int fd = open(seg_path(0, "log"), O_RDWR);
    uint8_t buf[4096];
    cr_assert_eq(pread(fd, buf, sizeof buf, 4096), (ssize_t)sizeof buf);
    uint8_t *hit = memmem(buf, sizeof buf, "v14", 3);
    cr_assert_not_null(hit);
    hit[1] ^= 0x01;
    cr_assert_eq(pwrite(fd, hit + 1, 1, 4096 + (hit + 1 - buf)), 1);
    close(fd);
    evl_cursor_t *c;
    cr_assert_eq(evl_cursor_open_file(seg_path(0, "log"), &c), 0);
    evl_batch_t b;
    const evl_record_t *r;
    int got = 0, bad = 0, rc;
    while (evl_cursor_next_batch(c, &b) == 0)
        while ((rc = evl_cursor_next_record(c, &r)) != EVL_CURSOR_END) {
            if (rc == 0) {
                cr_assert_neq(evl_record_offset(r), 14);
                check_value(r);
                got++;
                continue;
            }
            cr_assert_eq(rc, EVL_ECORRUPT);
            int64_t a, z;
            evl_cursor_lost(c, &a, &z);
            cr_assert_eq(a, 14);
            cr_assert_eq(z, 14);
            bad++;
        }
    cr_assert_eq(got, 29);
    cr_assert_eq(bad, 1);
    evl_cursor_close(c);
}

/* A batch whose header fails is reported at its position, and the cursor
 * goes on with the next intact batch. */
Test(cursor, a_damaged_batch_header_is_reported_and_passed)
{
    evl_log_t *log = make_log(NULL, 5, 1);
    evl_log_close(log);
    uint64_t pos = ff_frame_pos(seg_path(0, "log"), 2);
    cr_assert_eq(ff_set(seg_path(0, "log"), pos, FF_COUNT, 7), 0); /* count > offsets */
    evl_cursor_t *c;
    cr_assert_eq(evl_cursor_open_file(seg_path(0, "log"), &c), 0);
    evl_batch_t b;
    int64_t seen[8];
    int n = 0, rc, bad = 0;
    while ((rc = evl_cursor_next_batch(c, &b)) != EVL_CURSOR_END) {
        if (rc == EVL_ECORRUPT) {
            cr_assert_eq(b.position, pos);
            bad++;
            continue;
        }
        cr_assert_eq(rc, 0);
        seen[n++] = b.base_offset;
    }
    cr_assert_eq(bad, 1);
    cr_assert_eq(n, 4);
    cr_assert(seen[0] == 0 && seen[1] == 1 && seen[2] == 3 && seen[3] == 4);
    evl_cursor_close(c);
}

/* A segment of format 1 opens (its header shows) but its batches are
 * refused: never read as format 2. */
Test(cursor, another_format_is_refused_not_misread)
{
    evl_log_t *log = make_log(NULL, 3, 1);
    evl_log_close(log);
    const char *p = seg_path(0, "log");
    int fd = open(p, O_RDWR);
    uint8_t h[44];
    cr_assert_eq(pread(fd, h, sizeof h, 0), (ssize_t)sizeof h);
    evl_st32(h + 8, 1);
    evl_st32(h + 40, evl__crc32c(0, h, 40));
    cr_assert_eq(pwrite(fd, h, sizeof h, 0), (ssize_t)sizeof h);
    close(fd);
    evl_cursor_t *c;
    cr_assert_eq(evl_cursor_open_file(p, &c), 0);
    evl_segment_info_t si;
    cr_assert_eq(evl_cursor_segment(c, &si), 0);
    cr_assert_eq(si.version, 1);
    cr_assert(si.header_ok);
    evl_batch_t b;
    cr_assert_eq(evl_cursor_next_batch(c, &b), EVL_EVERSION);
    evl_cursor_close(c);
}

Test(cursor, bad_paths_and_files_are_errors)
{
    evl_cursor_t *c = (evl_cursor_t *)1;
    cr_assert_eq(evl_cursor_open_file(NULL, &c), EVL_EINVAL);
    cr_assert_null(c);
    cr_assert_eq(evl_cursor_open_file(tpath("missing.log"), &c), -ENOENT);
    cr_assert_eq(evl_cursor_open_file(test_dir, &c), EVL_EINVAL, "a folder");
    const char *junk = tpath("junk.log");
    int fd = open(junk, O_CREAT | O_WRONLY, 0644);
    cr_assert_eq(write(fd, "not a segment", 13), 13);
    close(fd);
    cr_assert_eq(evl_cursor_open_file(junk, &c), EVL_ECORRUPT);
    evl_log_t *log = make_log(NULL, 1, 1);
    cr_assert_eq(evl_cursor_open(log, "nope", 0, &c), EVL_ENOTFOUND);
    cr_assert_eq(evl_cursor_open(log, "t", 5, &c), EVL_ENOTFOUND);
    cr_assert_eq(evl_cursor_open(log, "t", -1, &c), EVL_EINVAL);
    cr_assert_eq(evl_cursor_next_batch(NULL, NULL), EVL_EINVAL);
    evl_log_close(log);
}
