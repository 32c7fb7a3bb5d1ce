/*
 * test_storage.c - what happens on disk: rolls, retention by size and age,
 * the disk budget and its three policies, recovery of torn tails and bad
 * indexes, durability levels and fsync failures.
 */
#include "helpers.h"
#include "internal.h"

#include <dirent.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "crc32c.h"
#include "frame_forge.h"
#include "os.h"
#include "reader.h"
#include "segment.h"

TestSuite(storage, .init = test_dir_setup, .fini = test_dir_teardown);

static void fill(evl_producer_t *prod, int partition, int n, size_t size)
{
    char *v = malloc(size);
    memset(v, 'z', size);
    for (int i = 0; i < n; i++) {
        int k = snprintf(v, size, "%d", i);
        v[k] = 'z';
        evl_msg_t m = {NULL, 0, v, size, NULL, 0, -1, partition, -1};
        int rc = evl_producer_send(prod, &m, 0);
        cr_assert_eq(rc, 0, "send %d: %s", i, evl_strerror(rc));
    }
    free(v);
}

static int64_t count_records(evl_log_t *log, const char *topic, int p, int64_t *first)
{
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, topic, p, &rd), 0);
    const evl_record_t *r;
    int64_t n = 0, prev = -1;
    int rc;
    while ((rc = evl_reader_next(rd, 0, &r)) == 0) {
        if (prev < 0 && first)
            *first = evl_record_offset(r);
        if (prev >= 0)
            cr_assert_eq(evl_record_offset(r), prev + 1, "offsets not contiguous");
        prev = evl_record_offset(r);
        n++;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT, "reader stopped with %s", evl_errname(rc));
    evl_reader_close(rd);
    return n;
}

/* Create topic "t" (one partition) with cfg's settings, and close the log:
 * for tests whose writer is a child process. */
static void topic_in_closed_log(const evl_config_t *cfg)
{
    evl_log_t *log = test_open(cfg);
    cr_assert_eq(evl_topic_create(log, "t", 1, cfg), 0);
    evl_log_close(log);
}

/* A log holding mib MiB in 64 KiB records on partition 0 of "t", closed
 * and opened again, so that nothing of it is mapped in this process. */
static evl_log_t *reopened_log_of(const evl_config_t *cfg, int mib)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic((evl_config_t *)cfg, "t", 1, &prod);
    fill(prod, 0, mib * 16, 64 << 10);
    evl_producer_close(prod);
    evl_log_close(log);
    return test_open(cfg);
}

Test(storage, retention_by_bytes_deletes_whole_old_segments)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", "retention.bytes", "200000",
                                 "retention.ms", "-1", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 1, 200);
    evl_reader_t *old;
    evl_reader_open(log, "t", 0, &old); /* holds a view into segment 0 */
    const evl_record_t *r;
    cr_assert_eq(evl_reader_next(old, 0, &r), 0);
    /* About 900 KB: 14 segments. Retention runs after rolls (in the
     * background) and once more here. */
    fill(prod, 0, 3999, 200);
    cr_assert_eq(evl_log_retention_run(log), 0);
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_gt(pi.start_offset, 0);
    cr_assert_leq(pi.bytes, 200000 + 2 * 65536 + 65536);
    cr_assert_eq(pi.end_offset, 4000);
    /* The view still reads its (now deleted) segment's bytes. */
    size_t vl;
    const char *v = evl_record_value(r, &vl);
    cr_assert_eq(vl, 200);
    cr_assert_eq(v[0], '0');
    /* A new seek below the start is refused; reading from the start works. */
    cr_assert_eq(evl_reader_seek(old, 0), EVL_EOFFSET);
    evl_reader_close(old);
    int64_t first = -1;
    cr_assert_eq(count_records(log, "t", 0, &first), 4000 - pi.start_offset);
    cr_assert_eq(first, pi.start_offset);
    cr_assert_gt(evl_log_stat(log, EVL_STAT_SEGMENTS_DELETED), 0);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, retention_by_age_keeps_active_segment)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", "retention.ms", "1000", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    /* Old timestamps: everything is past retention. */
    for (int i = 0; i < 2000; i++) {
        evl_msg_t m = {NULL, 0, "old-record-with-some-bytes", 26, NULL, 0, 1000 + i, 0, -1};
        cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    }
    cr_assert_eq(evl_log_retention_run(log), 0);
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_eq(pi.segments, 1, "only the active segment stays");
    cr_assert_gt(pi.start_offset, 0);
    cr_assert_eq(pi.end_offset, 2000);
    cr_assert_eq(count_records(log, "t", 0, NULL), 2000 - pi.start_offset);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Every segment before the active one carries its sealed checkpoint, its
 * file is trimmed to its end marker, and it ends where the next begins. */
static void assert_rolled_sealed(evl_part_t *part)
{
    uint64_t *bases;
    size_t n;
    cr_assert_eq(evl__part_list(part->dir, &bases, &n), 0);
    cr_assert_geq(n, 2);
    for (size_t i = 0; i + 1 < n; i++) {
        evl_seg_t *seg;
        evl_ckpt_t ck;
        cr_assert_eq(evl__part_seg_at(part, bases[i], &seg), 0);
        cr_assert(evl__seg_ckpt_read(seg, &ck) && (ck.flags & EVL_SEG_SEALED),
                  "segment %llu has no sealed checkpoint", (unsigned long long)bases[i]);
        cr_assert_eq(ck.next_offset, bases[i + 1]);
        cr_assert_eq(evl__seg_file_size(seg), (int64_t)(ck.pos + EVL_FRAME_EOF_BYTES),
                     "segment %llu not trimmed", (unsigned long long)bases[i]);
        evl__seg_unref(seg);
    }
    free(bases);
}

/* A roll writes the old segment's end marker and leaves the rest of its
 * seal (fdatasync, trim, sealed checkpoint) to the background thread,
 * instead of stalling the writer for the segment's write-back; a durable
 * send finishes it before it returns, since it vouches for earlier records. */
Test(storage, roll_leaves_the_seal_to_the_background_and_durable_sends)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    evl_part_t *part = test_part(log, "t", 0);
    fill(prod, 0, 2000, 100);
    cr_assert_geq(evl_log_stat(log, EVL_STAT_SEGMENTS_ROLLED), 3);
    for (int i = 0; i < 500 && atomic_load(&part->ctl->seal_pending); i++)
        usleep(10000);
    cr_assert_eq(atomic_load(&part->ctl->seal_pending), 0, "no thread finished the seal");
    assert_rolled_sealed(part);
    int sent = 2000;
    for (int r = 0; r < 5; r++) {
        int64_t rolls = evl_log_stat(log, EVL_STAT_SEGMENTS_ROLLED);
        while (evl_log_stat(log, EVL_STAT_SEGMENTS_ROLLED) == rolls) {
            fill(prod, 0, 1, 100);
            sent++;
        }
        test_send(prod, 0, NULL, "durable", EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC));
        sent++;
        cr_assert_eq(atomic_load(&part->ctl->seal_pending), 0,
                     "a durable send returned with the roll's seal pending");
        assert_rolled_sealed(part);
    }
    cr_assert_eq(count_records(log, "t", 0, NULL), sent);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, segment_rolls_by_age)
{
    evl_config_t *cfg = test_cfg("segment.ms", "50", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    test_send(prod, 0, NULL, "a", 0);
    usleep(80000);
    test_send(prod, 0, NULL, "b", 0);
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_eq(pi.segments, 2);
    cr_assert_eq(count_records(log, "t", 0, NULL), 2);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, disk_budget_reject)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "1048576", "disk.bytes.max", "6000000",
                                 "disk.full.policy", "reject", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    char v[1000] = {0};
    int rc = 0, sent = 0;
    for (int i = 0; i < 20000 && rc == 0; i++) {
        evl_msg_t m = {NULL, 0, v, sizeof v, NULL, 0, -1, 0, -1};
        if ((rc = evl_producer_send(prod, &m, 0)) == 0)
            sent++;
    }
    cr_assert_eq(rc, EVL_EFULL, "got %s", evl_errname(rc));
    cr_assert_leq(evl_log_stat(log, EVL_STAT_DISK_BYTES), 6000000);
    /* Everything accepted is readable; the log is intact. */
    cr_assert_eq(count_records(log, "t", 0, NULL), sent);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, disk_budget_drop_oldest_keeps_accepting)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "1048576", "disk.bytes.max", "6000000",
                                 "disk.full.policy", "drop-oldest", "retention.ms", "-1", NULL);
    evl_log_t *log = test_open(cfg);
    cr_assert_eq(evl_topic_create(log, "a", 1, cfg), 0);
    cr_assert_eq(evl_topic_create(log, "b", 1, cfg), 0);
    evl_producer_t *pa, *pb;
    evl_producer_new(log, "a", NULL, &pa);
    evl_producer_new(log, "b", NULL, &pb);
    fill(pa, 0, 4000, 1000);
    fill(pb, 0, 8000, 1000);
    cr_assert_leq(evl_log_stat(log, EVL_STAT_DISK_BYTES), 6000000);
    evl_partition_info_t ia, ib;
    evl_partition_info(log, "a", 0, &ia);
    evl_partition_info(log, "b", 0, &ib);
    cr_assert_gt(ia.start_offset, 0, "the oldest data (topic a) goes first");
    cr_assert_eq(ib.end_offset, 8000);
    cr_assert_eq(count_records(log, "b", 0, NULL), ib.end_offset - ib.start_offset);
    evl_producer_close(pa);
    evl_producer_close(pb);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, disk_budget_block_times_out)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "1048576", "disk.bytes.max", "3000000",
                                 "disk.full.policy", "block", "disk.full.block.ms", "100", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    char v[1000] = {0};
    int rc = 0;
    for (int i = 0; i < 10000 && rc == 0; i++) {
        evl_msg_t m = {NULL, 0, v, sizeof v, NULL, 0, -1, 0, -1};
        rc = evl_producer_send(prod, &m, 0);
    }
    cr_assert_eq(rc, EVL_EFULL);
    cr_assert(strstr(test_logbuf, "disk budget"));
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Remove partition.ctl, as a reboot would make it stale. */
static void forget_shared_state(const char *topic, int p)
{
    char path[512];
    snprintf(path, sizeof path, "log/topics/%s/%d/partition.ctl", topic, p);
    cr_assert_eq(unlink(tpath(path)), 0);
}

static const char *last_segment(const char *topic, int p)
{
    static char best[1024];
    char dir[512];
    snprintf(dir, sizeof dir, "%.200s/log/topics/%.100s/%d", test_dir, topic, p);
    DIR *d = opendir(dir);
    struct dirent *e;
    best[0] = 0;
    char name[64] = "";
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".log") && strlen(e->d_name) == 24 && strcmp(e->d_name, name) > 0)
            snprintf(name, sizeof name, "%.63s", e->d_name);
    closedir(d);
    snprintf(best, sizeof best, "%.512s/%.64s", dir, name);
    return best;
}

Test(storage, torn_tail_is_truncated_and_reported)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 100, 100);
    evl_producer_close(prod);
    evl_log_close(log);
    /* Tear the last record: flip a byte inside it (its value). */
    off_t last = (off_t)ff_frame_pos(last_segment("t", 0), 99);
    off_t span = (off_t)ff_frame_span(last_segment("t", 0), (uint64_t)last);
    cr_assert_gt(last, 0);
    int fd = open(last_segment("t", 0), O_RDWR);
    char c;
    cr_assert_eq(pread(fd, &c, 1, last + 80), 1);
    c ^= 0x40;
    cr_assert_eq(pwrite(fd, &c, 1, last + 80), 1);
    /* And leave garbage after it, as a torn write of a later frame would. */
    cr_assert_eq(pwrite(fd, "garbage!garbage!", 16, last + span + 8), 16);
    close(fd);
    forget_shared_state("t", 0);
    test_logbuf[0] = 0;
    log = test_open(cfg);
    cr_assert_eq(count_records(log, "t", 0, NULL), 99);
    cr_assert_gt(evl_log_stat(log, EVL_STAT_TRUNCATED_BYTES), 0);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_RECOVERIES), 1);
    cr_assert(strstr(test_logbuf, "truncated the torn tail at offset 99"), "%s", test_logbuf);
    /* Appends continue at offset 99, and the garbage never surfaces. */
    evl_producer_new(log, "t", NULL, &prod);
    cr_assert_eq(test_send(prod, 0, NULL, "new", 0), 99);
    cr_assert_eq(test_send(prod, 0, NULL, "new2", 0), 100);
    cr_assert_eq(count_records(log, "t", 0, NULL), 101);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, garbage_index_costs_a_scan_not_a_wrong_answer)
{
    evl_config_t *cfg = test_cfg("index.interval.bytes", "256", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 1000, 100);
    evl_producer_close(prod);
    evl_log_close(log);
    char idx[1100];
    snprintf(idx, sizeof idx, "%s", last_segment("t", 0));
    strcpy(idx + strlen(idx) - 3, "idx");
    int fd = open(idx, O_RDWR);
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    cr_assert_eq(pwrite(fd, junk, sizeof junk, 64), (ssize_t)sizeof junk);
    close(fd);
    log = test_open(cfg); /* ctl still valid: live damage to the index */
    evl_reader_t *rd;
    evl_reader_open(log, "t", 0, &rd);
    const evl_record_t *r;
    for (int64_t o = 0; o < 1000; o += 97) {
        cr_assert_eq(evl_reader_seek(rd, o), 0);
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), o);
    }
    evl_reader_close(rd);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, live_corruption_returns_ecorrupt_not_data)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &prod);
    fill(prod, 0, 10, 100);
    off_t at = (off_t)ff_frame_pos(last_segment("t", 0), 5);
    int fd = open(last_segment("t", 0), O_RDWR);
    cr_assert_eq(pwrite(fd, "X", 1, at + 100), 1);
    close(fd);
    evl_reader_t *rd;
    evl_reader_open(log, "t", 0, &rd);
    const evl_record_t *r;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ECORRUPT);
    cr_assert_eq(evl_reader_position(rd), 5);
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
}

Test(storage, fsync_durability_counts_and_group_commit_stats)
{
    evl_config_t *cfg = test_cfg("durability", "fsync", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    for (int i = 0; i < 20; i++)
        test_send(prod, 0, NULL, "durable", 0);
    cr_assert_geq(evl_log_stat(log, EVL_STAT_FSYNCS), 20);
    cr_assert_gt(evl_log_stat(log, EVL_STAT_FSYNC_NS), 0);
    cr_assert_geq(evl_log_stat(log, EVL_STAT_FSYNC_NS), evl_log_stat(log, EVL_STAT_FSYNC_MAX_NS));
    /* A per-call override to none skips the fsync. */
    int64_t before = evl_log_stat(log, EVL_STAT_FSYNCS);
    test_send(prod, 0, NULL, "fast", EVL_SEND_DURABILITY(EVL_DURABILITY_NONE));
    cr_assert_eq(evl_log_stat(log, EVL_STAT_FSYNCS), before);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, interval_durability_flushes_in_background)
{
    evl_config_t *cfg = test_cfg("durability", "interval", "flush.interval.ms", "20", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    test_send(prod, 0, NULL, "x", 0);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_FSYNCS), 0, "the call itself must not fsync");
    for (int i = 0; i < 100 && evl_log_stat(log, EVL_STAT_FSYNCS) == 0; i++)
        usleep(10000);
    cr_assert_gt(evl_log_stat(log, EVL_STAT_FSYNCS), 0);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, failed_fsync_is_never_reported_durable)
{
    evl_config_t *cfg = test_cfg("durability", "fsync", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    test_send(prod, 0, NULL, "ok", 0);
    evl_test_fault(EVL_OS_FSYNC, 0, EIO, 1);
    evl_msg_t m = {NULL, 0, "lost?", 5, NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_EDURABILITY);
    cr_assert_eq(m.offset, 1, "the record was appended");
    /* The fault is gone, but an earlier failure poisons later claims. */
    cr_assert_eq(evl_producer_send(prod, &m, 0), EVL_EDURABILITY);
    cr_assert(strstr(test_logbuf, "fdatasync failed"));
    evl_producer_close(prod);
    evl_log_close(log);
    /* A new handle starts clean. */
    log = test_open(cfg);
    evl_producer_new(log, "t", NULL, &prod);
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    cr_assert_eq(count_records(log, "t", 0, NULL), 4);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, enospc_on_growth_appends_nothing)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 10, 100);
    evl_test_fault(EVL_OS_FALLOCATE, 0, ENOSPC, -1);
    static char big[8 << 20];
    int rc = 0, i;
    for (i = 0; i < 100 && rc == 0; i++) {
        evl_msg_t m = {NULL, 0, big, 512 << 10, NULL, 0, -1, 0, -1};
        rc = evl_producer_send(prod, &m, 0);
    }
    cr_assert_eq(rc, EVL_ENOSPC);
    evl_test_fault_clear();
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_eq(count_records(log, "t", 0, NULL), pi.end_offset);
    cr_assert_eq(test_send(prod, 0, NULL, "after", 0), pi.end_offset);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, fsync_acked_records_survive_kill9)
{
    evl_config_t *cfg = test_cfg("durability", "fsync", "segment.bytes", "65536", NULL);
    topic_in_closed_log(cfg);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        evl_log_t *l;
        evl_producer_t *p;
        if (evl_log_open(tpath("log"), NULL, &l) || evl_producer_new(l, "t", NULL, &p))
            _exit(2);
        for (int i = 0;; i++) {
            char v[64];
            int n = snprintf(v, sizeof v, "rec-%d", i);
            evl_msg_t m = {NULL, 0, v, (size_t)n, NULL, 0, -1, 0, -1};
            if (evl_producer_send(p, &m, 0))
                _exit(3);
            int64_t off = m.offset;
            if (write(fds[1], &off, sizeof off) != sizeof off)
                _exit(4);
        }
    }
    close(fds[1]);
    int64_t acked = -1, off;
    while (acked < 200 && read(fds[0], &off, sizeof off) == sizeof off)
        acked = off;
    kill(pid, SIGKILL);
    while (read(fds[0], &off, sizeof off) == sizeof off)
        acked = off;
    waitpid(pid, NULL, 0);
    close(fds[0]);
    evl_log_t *log = test_open(cfg);
    evl_reader_t *rd;
    evl_reader_open(log, "t", 0, &rd);
    const evl_record_t *r;
    int64_t n = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        char want[64];
        int len = snprintf(want, sizeof want, "rec-%lld", (long long)n);
        size_t vl;
        const void *v = evl_record_value(r, &vl);
        cr_assert_eq(vl, (size_t)len);
        cr_assert_eq(memcmp(v, want, vl), 0);
        cr_assert_eq(evl_record_offset(r), n++);
    }
    cr_assert_gt(n, acked, "acknowledged %lld, found %lld", (long long)acked, (long long)n);
    evl_reader_close(rd);
    evl_log_close(log);
    evl_config_free(cfg);
}

struct fsync_thread {
    evl_producer_t *prod;
    int n, errors;
};

static void *fsync_sender(void *arg)
{
    struct fsync_thread *t = arg;
    for (int i = 0; i < t->n; i++) {
        evl_msg_t m = {NULL, 0, "durable-record", 14, NULL, 0, -1, 0, -1};
        if (evl_producer_send(t->prod, &m, 0))
            t->errors++;
    }
    return NULL;
}

Test(storage, concurrent_fsync_senders_share_fsyncs)
{
    evl_config_t *cfg = test_cfg("durability", "fsync", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    test_send(prod, 0, NULL, "warm-up", 0);
    /* A slow disk (5 ms per fsync) makes the senders overlap for sure. */
    evl_test_fsync_delay(5000);
    int64_t before = evl_log_stat(log, EVL_STAT_FSYNCS);
    pthread_t th[8];
    struct fsync_thread ft[8];
    for (int i = 0; i < 8; i++) {
        ft[i] = (struct fsync_thread){prod, 40, 0};
        pthread_create(&th[i], NULL, fsync_sender, &ft[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(ft[i].errors, 0);
    }
    evl_test_fsync_delay(0);
    int64_t fsyncs = evl_log_stat(log, EVL_STAT_FSYNCS) - before;
    /* 320 durable sends; while one fsync runs the others queue behind it
     * and are covered by the next one (group commit), and the next one
     * waits for the senders it covered to send again: ~40 fsyncs of 8.
     * Without that wait the senders split into two cohorts taking turns
     * (61-75 fsyncs). */
    cr_log_info("%lld fsyncs for 320 sends", (long long)fsyncs);
    cr_assert_lt(fsyncs, 320 / 6, "%lld fsyncs for 320 sends: group commit in halves or none",
                 (long long)fsyncs);
    cr_assert_gt(fsyncs, 0);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, recovery_mode_rebuild_checks_tails_without_a_reboot)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 50, 100);
    evl_producer_close(prod);
    evl_log_close(log);
    off_t at = (off_t)ff_frame_pos(last_segment("t", 0), 49);
    int fd = open(last_segment("t", 0), O_RDWR);
    cr_assert_eq(pwrite(fd, "torn", 4, at + 60), 4);
    close(fd);
    evl_config_t *rb = test_cfg("recovery.mode", "rebuild", NULL);
    log = test_open(rb);
    cr_assert_eq(count_records(log, "t", 0, NULL), 49);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_RECOVERIES), 1);
    cr_assert_gt(evl_log_stat(log, EVL_STAT_TRUNCATED_BYTES), 0);
    evl_log_close(log);
    /* Back to auto: the rebuilt state is trusted, nothing more to drop. */
    log = test_open(cfg);
    cr_assert_eq(count_records(log, "t", 0, NULL), 49);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_RECOVERIES), 0);
    evl_log_close(log);
    evl_config_free(cfg);
    evl_config_free(rb);
}

Test(storage, malformed_record_with_valid_checksum_is_refused)
{
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(NULL, "t", 1, &prod);
    fill(prod, 0, 3, 100);
    /* Give frame 1's record a key length past the record, with the
     * checksum made right, so that only the structure is wrong. */
    cr_assert_eq(ff_set(last_segment("t", 0), ff_frame_pos(last_segment("t", 0), 1), FF_KEY1,
                        5001), 0);
    evl_reader_t *rd;
    evl_reader_open(log, "t", 0, &rd);
    const evl_record_t *r;
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ECORRUPT);
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ECORRUPT, "must stay stopped, not skip");
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
}

Test(storage, seeking_past_damage_resumes_at_the_next_intact_record)
{
    evl_config_t *cfg = test_cfg(NULL); /* default index interval: 4096 */
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 40, 100);
    /* Damage the frame of offset 10 (no index entry until ~offset 24). */
    off_t at = (off_t)ff_frame_pos(last_segment("t", 0), 10);
    int fd = open(last_segment("t", 0), O_RDWR);
    cr_assert_eq(pwrite(fd, "\xff\xff", 2, at + 70), 2);
    close(fd);
    evl_reader_t *rd;
    evl_reader_open(log, "t", 0, &rd);
    const evl_record_t *r;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &r), EVL_ECORRUPT);
    cr_assert_eq(evl_reader_position(rd), 10);
    cr_assert_eq(evl_reader_seek(rd, evl_reader_position(rd) + 1), 0);
    int64_t n = 0;
    while (evl_reader_next(rd, 0, &r) == 0)
        cr_assert_eq(evl_record_offset(r), 11 + n++);
    cr_assert_eq(n, 29, "offsets 11..39 are intact and must be readable");
    cr_assert(strstr(test_logbuf, "skipped damaged data: offsets 10 to 10"), "%s", test_logbuf);
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

Test(storage, background_thread_applies_retention_on_its_schedule)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", "retention.bytes", "100000",
                                 "retention.ms", "-1", "retention.check.interval.ms", "50", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 2000, 200);
    /* Wait for the counter: a deletion moves the log start first and is
     * counted last, so once it is counted the start has moved. */
    for (int i = 0; i < 200 && evl_log_stat(log, EVL_STAT_SEGMENTS_DELETED) == 0; i++)
        usleep(10000);
    evl_partition_info_t pi = {0};
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_gt(evl_log_stat(log, EVL_STAT_SEGMENTS_DELETED), 0,
                 "no retention without an explicit call");
    cr_assert_gt(pi.start_offset, 0);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* How many mappings of this test's segment files (*.log) have the
 * MADV_HUGEPAGE flag ("hg" in smaps' VmFlags), and how many there are. */
static int hugepage_segment_maps(int *maps)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    cr_assert_not_null(f);
    char line[1024];
    bool seg = false;
    int hg = 0;
    *maps = 0;
    while (fgets(line, sizeof line, f)) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        size_t n = strlen(line);
        if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' ')) { /* a mapping */
            seg = strstr(line, test_dir) && n > 4 && !strcmp(line + n - 4, ".log");
            *maps += seg;
        } else if (seg && !strncmp(line, "VmFlags:", 8) && strstr(line, " hg")) {
            hg++;
        }
    }
    fclose(f);
    return hg;
}

/* 2 MiB folios make a fast writer's and its readers' page work ~30x cheaper,
 * but a dirty folio is written back whole: behind a slow writer every fsync
 * would write 2 MiB. So only a writer measured fast gets them. */
Test(storage, huge_pages_only_ahead_of_fast_writers)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    /* 24 MiB at ~25 MiB/s: the segment grows several times, slowly. */
    for (int mib = 0; mib < 24; mib++) {
        fill(prod, 0, 16, 64 << 10);
        usleep(40000);
    }
    int maps;
    cr_assert_eq(hugepage_segment_maps(&maps), 0, "a slow writer's segment got huge pages");
    cr_assert_gt(maps, 0);

    void *probe = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(probe, MAP_FAILED);
    bool thp = madvise(probe, 4 << 20, MADV_HUGEPAGE) == 0;
    munmap(probe, 4 << 20);
    if (!thp) {
        cr_log_warn("no transparent huge pages in this kernel: fast part skipped");
    } else {
        /* Fast, in bursts that leave the prefault thread time to run
         * ahead even when the machine is busy. */
        int hg = 0;
        for (int mib = 0; mib < 512 && !hg; mib += 4) {
            fill(prod, 0, 64, 64 << 10);
            usleep(2000);
            if (mib % 16 == 12)
                hg = hugepage_segment_maps(&maps);
        }
        cr_assert_gt(hg, 0, "a fast writer got no huge pages ahead of it");
    }
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Fork a child that opens the log and a producer on "t" (exit status 2 if
 * it cannot): 0 in the child, with *prod set; the child's pid in the
 * parent. */
static pid_t fork_producer(const evl_config_t *cfg, evl_producer_t **prod)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        evl_log_t *l;
        if (evl_log_open(tpath("log"), cfg, &l) || evl_producer_new(l, "t", NULL, prod))
            _exit(2);
    }
    return pid;
}

static void wait_ok(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

/* A durable sync writes the index file only once 64 entries wait (a second
 * fdatasync otherwise); the checkpoint vouches for the synced entries only,
 * and recovery from the files (as after a power cut) rebuilds the rest:
 * every seek by offset and by time still lands exactly. */
Test(storage, index_synced_in_batches_and_rebuilt_after_a_cut)
{
    evl_config_t *cfg = test_cfg("durability", "fsync", "index.interval.bytes", "64", NULL);
    topic_in_closed_log(cfg);
    enum { N = 300 };
    evl_producer_t *p;
    pid_t pid = fork_producer(cfg, &p);
    if (pid == 0) {
        long before = evl_test_calls(EVL_OS_FSYNC);
        for (int i = 0; i < N; i++) {
            evl_msg_t m = {NULL, 0, "indexed", 7, NULL, 0, 1000 + 10 * i, 0, -1};
            if (evl_producer_send(p, &m, 0))
                _exit(3);
        }
        long calls = evl_test_calls(EVL_OS_FSYNC) - before;
        /* One fdatasync per send, the index's every 64 entries (an entry
         * per send here): ~305; 600 when the index is synced each time. */
        _exit(calls >= N && calls <= N + N / 16 ? 0 : 4); /* no close: a crash */
    }
    wait_ok(pid);
    evl_config_t *rb = test_cfg("recovery.mode", "rebuild", NULL);
    evl_log_t *log = test_open(rb);
    cr_assert_eq(count_records(log, "t", 0, NULL), N);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(evl_reader_seek(rd, i), 0);
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), i);
        cr_assert_eq(evl_reader_seek_time(rd, 1000 + 10 * i - 5), 0);
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), i, "seek_time to record %d", i);
    }
    evl_reader_close(rd);
    evl_log_close(log);
    evl_config_free(rb);
    evl_config_free(cfg);
}

/* The newest checkpoint sequence in the header of partition 0 of "t"'s
 * first segment (two slots, at 64 and 128). */
static uint64_t ckpt_seq(void)
{
    int fd = open(tpath("log/topics/t/0/00000000000000000000.log"), O_RDONLY);
    cr_assert_geq(fd, 0);
    uint8_t h[192];
    cr_assert_eq(pread(fd, h, sizeof h, 0), (ssize_t)sizeof h);
    close(fd);
    return EVL_MAX(evl_ld64(h + 64), evl_ld64(h + 128));
}

/* A durable send dirties its data page only: the checkpoint in the header
 * page (which the next fdatasync would write as a second I/O) moves once
 * per MiB. Recovery from the files scans past it and loses nothing. */
Test(storage, durable_sends_move_the_checkpoint_once_per_mib)
{
    /* Index entries far apart: syncing the index records a checkpoint. */
    evl_config_t *cfg = test_cfg("durability", "fsync", "index.interval.bytes", "1048576", NULL);
    topic_in_closed_log(cfg);
    enum { SMALL = 100, MORE = 1100, SIZE = 1000 };
    evl_producer_t *p;
    pid_t pid = fork_producer(cfg, &p);
    if (pid == 0) {
        static char v[SIZE];
        evl_msg_t m = {NULL, 0, v, SIZE, NULL, 0, -1, 0, -1};
        uint64_t first = 0;
        for (int i = 0; i < SMALL + MORE; i++) {
            if (evl_producer_send(p, &m, 0))
                _exit(3);
            if (i == 0)
                first = ckpt_seq();
            else if (i == SMALL - 1 && ckpt_seq() != first)
                _exit(4); /* 100 KB moved it */
        }
        _exit(ckpt_seq() == first + 1 ? 0 : 5); /* 1.1 MB more: once; no close */
    }
    wait_ok(pid);
    evl_config_t *rb = test_cfg("recovery.mode", "rebuild", NULL);
    evl_log_t *log = test_open(rb);
    cr_assert_eq(count_records(log, "t", 0, NULL), SMALL + MORE);
    evl_log_close(log);
    evl_config_free(rb);
    evl_config_free(cfg);
}

static long rss_file_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "RssFile:", 8))
            kb = atol(line + 8);
    fclose(f);
    return kb;
}

/* Of the 4 KiB pages of [addr, addr + len), how many are mapped. */
static long pages_mapped(const void *addr, size_t len)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    cr_assert_geq(fd, 0);
    long n = 0;
    for (uintptr_t p = (uintptr_t)addr; p < (uintptr_t)addr + len; p += 4096) {
        uint64_t e;
        cr_assert_eq(pread(fd, &e, 8, (off_t)(p / 4096 * 8)), 8);
        n += (e >> 63) & 1;
    }
    close(fd);
    return n;
}

/* A scan maps the window it reads (16 MiB) and, through the prefault
 * thread, the next one; what it passed is dropped, so its resident set
 * stays near two windows whatever the log's size. */
Test(storage, scan_maps_the_next_window_ahead_and_stays_bounded)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = reopened_log_of(cfg, 96); /* nothing of it mapped */
    long rss0 = rss_file_kb();
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    while (rd->dropped_to <= EVL_SEG_HDR)
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    /* Past the first window: the one after the next is being mapped. */
    const uint8_t *next = rd->seg->map + rd->dropped_to + (16u << 20);
    long want = (16 << 20) / 4096, got = 0;
    for (int i = 0; i < 1000 && got < want; i++) {
        got = pages_mapped(next, 16u << 20);
        usleep(10000);
    }
    cr_assert_eq(got, want, "%ld of the next window's %ld pages mapped", got, want);
    long peak = 0;
    int rc, n = 0;
    while ((rc = evl_reader_next(rd, 0, &r)) == 0)
        if (++n % 64 == 0)
            peak = EVL_MAX(peak, rss_file_kb() - rss0);
    cr_assert_eq(rc, EVL_ETIMEDOUT);
    cr_log_info("scan of 96 MiB: resident file pages grew by at most %ld KiB", peak);
    cr_assert_lt(peak, 44 << 10, "a scan of 96 MiB kept %ld KiB resident", peak);
    evl_reader_close(rd);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* A lookup (seek, read a record) maps no window ahead, and what a reader
 * mapped is dropped when it seeks elsewhere: seeks all over a segment keep
 * its resident set small. */
Test(storage, seeks_map_nothing_ahead_and_leave_nothing_behind)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = reopened_log_of(cfg, 96);
    long rss0 = rss_file_kb(), peak = 0;
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    /* A scan of the first 40 MiB (map-ahead on), then lookups backwards. */
    for (int i = 0; i < 40 * 16; i++)
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    for (int64_t off = 96 * 16 - 1; off >= 0; off -= 37) {
        cr_assert_eq(evl_reader_seek(rd, off), 0);
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), off);
        cr_assert_eq(rd->ahead, 0, "a lookup at %lld mapped ahead", (long long)off);
        peak = EVL_MAX(peak, rss_file_kb() - rss0);
    }
    cr_log_info("lookups after a scan: resident file pages grew by at most %ld KiB", peak);
    cr_assert_lt(peak, 44 << 10, "lookups kept %ld KiB resident", peak);
    long end = rss_file_kb() - rss0;
    cr_assert_lt(end, 8 << 10, "%ld KiB still resident after the lookups", end);
    evl_reader_close(rd);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* Found in review: opening a partition read its shared state and the files
 * without the append lock, so an append landing in between passed for a
 * mismatch, and a healthy live partition was recovered (1 open in ~300). */
struct appender {
    evl_producer_t *prod;
    _Atomic int stop;
};

static void *append_loop(void *arg)
{
    struct appender *a = arg;
    while (!atomic_load(&a->stop)) {
        evl_msg_t m = {NULL, 0, "v", 1, NULL, 0, -1, 0, -1};
        if (evl_producer_send(a->prod, &m, 0))
            break;
    }
    return NULL;
}

Test(storage, opening_a_live_partition_never_recovers_it)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    struct appender a = {prod, 0};
    pthread_t th;
    pthread_create(&th, NULL, append_loop, &a);
    for (int i = 0; i < (test_quick() ? 100 : 400); i++) {
        evl_log_t *other = test_open(cfg);
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(other, "t", 0, &rd), 0);
        evl_reader_close(rd);
        evl_log_close(other);
    }
    atomic_store(&a.stop, 1);
    pthread_join(th, NULL);
    cr_assert(!strstr(test_logbuf, "does not match the files"), "%s", test_logbuf);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_RECOVERIES), 0);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}

/* A reader that was refused a seek below the log start reads again once
 * it seeks to the start (a fresh reader there reads; so must this one). */
Test(storage, seek_to_start_after_a_refused_seek_reads)
{
    evl_config_t *cfg = test_cfg("segment.bytes", "65536", "retention.bytes", "200000",
                                 "retention.ms", "-1", NULL);
    evl_producer_t *prod;
    evl_log_t *log = test_open_topic(cfg, "t", 1, &prod);
    fill(prod, 0, 4000, 200);
    cr_assert_eq(evl_log_retention_run(log), 0);
    evl_partition_info_t pi;
    evl_partition_info(log, "t", 0, &pi);
    cr_assert_gt(pi.start_offset, 0);
    evl_reader_t *rd;
    const evl_record_t *r;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    cr_assert_eq(evl_reader_seek(rd, 0), EVL_EOFFSET);
    cr_assert_eq(evl_reader_seek(rd, pi.start_offset), 0);
    cr_assert_eq(evl_reader_position(rd), pi.start_offset);
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_eq(evl_record_offset(r), pi.start_offset);
    evl_reader_close(rd);
    /* the same on a fresh reader, seeking to where it already is */
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    cr_assert_eq(evl_reader_seek(rd, pi.start_offset), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
    cr_assert_eq(evl_record_offset(r), pi.start_offset);
    evl_reader_close(rd);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(cfg);
}
