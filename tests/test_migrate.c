/*
 * test_migrate.c - logs of record format 1 (tests/fixtures/v1-log/, written
 * by libeventlog 0.1: make_v1_log.c): refused with EVL_EVERSION, never
 * misread; converted by evl_log_migrate with every record, offset,
 * timestamp, header, batch and committed offset kept; a kill -9 at any
 * moment of the conversion leaves a log that the next run finishes; damage
 * in the old files is named, not carried over.
 */
#include <eventlog/batch.h>
#include <signal.h>
#include <sys/wait.h>

#include "fixtures/v1_content.h"
#include "helpers.h"
#include "reliability.h"

TestSuite(migrate, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 120);

/* A fresh copy of the fixture at tpath(name). */
static const char *fixture(const char *name)
{
    static char dst[600];
    char cmd[1400];
    snprintf(dst, sizeof dst, "%s", tpath(name));
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r tests/fixtures/v1-log '%s'", dst, dst);
    cr_assert_eq(system(cmd), 0, "copying the fixture (run from the top of the tree)");
    return dst;
}

static evl_log_t *open_dir(const char *dir)
{
    evl_log_t *log;
    evl_config_t *cfg = test_cfg(NULL);
    int rc = evl_log_open(dir, cfg, &log);
    evl_config_free(cfg);
    cr_assert_eq(rc, 0, "%s", evl_strerror(rc));
    return log;
}

/* Every record of partition p, against v1_content.h; returns the count. */
static int64_t check_partition(evl_log_t *log, int p, int64_t from)
{
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", p, &rd), 0);
    cr_assert_eq(evl_reader_seek(rd, from), 0);
    const evl_record_t *r;
    int64_t n = 0;
    int rc;
    while ((rc = evl_reader_next(rd, 0, &r)) == 0) {
        int64_t o = evl_record_offset(r);
        cr_assert_eq(o, from + n, "partition %d: offset %lld after %lld", p, (long long)o,
                     (long long)(from + n - 1));
        char want[96];
        size_t len;
        const void *k = evl_record_key(r, &len);
        int kl = v1_key(p, o, want, sizeof want);
        cr_assert_eq(k == NULL, kl < 0, "offset %lld: key", (long long)o);
        if (kl >= 0)
            cr_assert(len == (size_t)kl && memcmp(k, want, len) == 0);
        const void *v = evl_record_value(r, &len);
        int vl = v1_value(p, o, want, sizeof want);
        cr_assert_eq(v == NULL, vl < 0, "offset %lld: value", (long long)o);
        if (vl >= 0)
            cr_assert(len == (size_t)vl && memcmp(v, want, len) == 0, "offset %lld", (long long)o);
        cr_assert_eq(evl_record_timestamp(r), v1_timestamp(o));
        cr_assert_eq((int)evl_record_header_count(r), v1_headers(o));
        if (v1_headers(o)) {
            evl_header_t h;
            cr_assert_eq(evl_record_header(r, 0, &h), 0);
            cr_assert(h.name_len == 2 && !memcmp(h.name, "h1", 2) && h.value_len == 1 &&
                      !memcmp(h.value, "x", 1));
            cr_assert_eq(evl_record_header_get(r, "nul", &h), 0);
            cr_assert_null(h.value);
        }
        n++;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT, "partition %d: %s", p, evl_errname(rc));
    evl_reader_close(rd);
    return n;
}

/* The converted log holds exactly what 0.1 wrote, and works. */
static void check_converted(const char *dir)
{
    evl_log_t *log = open_dir(dir);
    for (int p = 0; p < 2; p++) {
        cr_assert_eq(check_partition(log, p, 0), V1_RECORDS);
        cr_assert_eq(check_partition(log, p, 1234), V1_RECORDS - 1234, "a seek by offset");
        evl_reader_t *rd;
        const evl_record_t *r;
        cr_assert_eq(evl_reader_open(log, "t", p, &rd), 0);
        cr_assert_eq(evl_reader_seek_time(rd, v1_timestamp(2000)), 0);
        cr_assert_eq(evl_reader_next(rd, 0, &r), 0);
        cr_assert_eq(evl_record_offset(r), 2000, "a seek by time");
        evl_reader_close(rd);
    }
    /* The batches are the ones 0.1 wrote: sizes 1, 2, ... 9, 1, ... */
    evl_cursor_t *c;
    cr_assert_eq(evl_cursor_open(log, "t", 1, &c), 0);
    evl_batch_t b;
    int rc, call = 0;
    int64_t off = 0;
    while ((rc = evl_cursor_next_batch(c, &b)) != EVL_CURSOR_END) {
        if (rc == EVL_CURSOR_SEGMENT_END)
            continue;
        cr_assert_eq(rc, 0);
        int want = v1_batch(call++);
        if (off + want > V1_RECORDS)
            want = (int)(V1_RECORDS - off);
        cr_assert_eq(b.base_offset, off);
        cr_assert_eq((int)b.record_count, want, "batch %d", call - 1);
        off += want;
    }
    cr_assert_eq(off, V1_RECORDS);
    evl_cursor_close(c);
    /* Committed offsets are untouched; appends go on after the old ones. */
    evl_config_t *cc = test_cfg("group.id", "g", NULL);
    evl_consumer_t *cons;
    cr_assert_eq(evl_consumer_new(log, cc, &cons), 0);
    int64_t committed;
    cr_assert_eq(evl_consumer_committed(cons, "t", 0, &committed), 0);
    cr_assert_eq(committed, 700);
    cr_assert_eq(evl_consumer_committed(cons, "t", 1, &committed), 0);
    cr_assert_eq(committed, V1_RECORDS);
    evl_consumer_close(cons);
    evl_config_free(cc);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, "t", NULL, &prod), 0);
    evl_msg_t m = {NULL, 0, "new", 3, NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    cr_assert_eq(m.offset, V1_RECORDS);
    evl_producer_close(prod);
    evl_log_close(log);
}

Test(migrate, format_1_is_refused_with_eversion_not_misread)
{
    const char *dir = fixture("v1");
    evl_log_t *log = open_dir(dir);
    evl_reader_t *rd = NULL;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), EVL_EVERSION);
    cr_assert_null(rd);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 1, &pi), EVL_EVERSION);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, "t", NULL, &prod), 0);
    cr_assert_eq(evl_producer_send_kv(prod, NULL, 0, "v", 1, NULL, NULL), EVL_EVERSION,
                 "nothing is appended to a log it cannot read");
    evl_producer_close(prod);
    cr_assert(strstr(test_logbuf, "evl migrate"), "%s", test_logbuf);
    evl_log_close(log);
}

Test(migrate, every_record_offset_batch_and_commit_is_kept)
{
    const char *dir = fixture("v1");
    int64_t n = -1;
    cr_assert_eq(evl_log_migrate(dir, NULL, &n), 0);
    cr_assert_eq(n, 8, "4 segments in each of 2 partitions: %lld", (long long)n);
    cr_assert_eq(evl_log_migrate(dir, NULL, &n), 0);
    cr_assert_eq(n, 0, "a second run has nothing left to do");
    check_converted(dir);
}

/* kill -9 at a random moment of the conversion, again and again: the
 * next run finishes it, and nothing is lost or changed. */
Test(migrate, a_kill_at_any_moment_leaves_a_log_the_next_run_finishes)
{
    int rounds = rl_count(12, 6, 60);
    uint64_t seed = 0x5eed;
    int killed_mid = 0;
    for (int round = 0; round < rounds; round++) {
        const char *dir = fixture("v1");
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            _exit(evl_log_migrate(dir, NULL, NULL) == 0 ? 0 : 3);
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        usleep((useconds_t)((seed >> 33) % 40000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        if (WIFSIGNALED(st)) {
            int64_t left;
            cr_assert_eq(evl_log_migrate(dir, NULL, &left), 0);
            killed_mid += left > 0 && left < 8;
        } else {
            cr_assert_eq(WEXITSTATUS(st), 0);
        }
        check_converted(dir);
    }
    cr_log_info("migrate: %d of %d kills landed between two segments", killed_mid, rounds);
}

/* A damaged frame in an old segment: named with its offsets, not carried
 * over; everything around it is. */
Test(migrate, damage_in_the_old_files_is_named_not_carried_over)
{
    const char *dir = fixture("v1");
    char path[700];
    snprintf(path, sizeof path, "%s/topics/t/0/%020d.log", dir, 793);
    uint8_t *d;
    size_t len;
    cr_assert_eq(rl_read_file(path, &d, &len), 0);
    uint8_t *hit = memmem(d + 4096, len - 4096, "p0-o1000-", 9);
    cr_assert_not_null(hit);
    hit[3] ^= 0x10;
    cr_assert_eq(rl_write_file(path, d, len), 0);
    free(d);
    evl_config_t *cfg = test_cfg(NULL);
    int64_t n;
    cr_assert_eq(evl_log_migrate(dir, cfg, &n), 0);
    evl_config_free(cfg);
    cr_assert_eq(n, 8);
    cr_assert(strstr(test_logbuf, "were damaged and are not carried over"), "%s", test_logbuf);
    /* Offset 1000 is in the batch of offsets 999..1002 (sizes 1..9 from 0). */
    evl_log_t *log = open_dir(dir);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, "t", 0, &rd), 0);
    const evl_record_t *r;
    int64_t got = 0, missing_from = -1, expect = 0;
    while (evl_reader_next(rd, 0, &r) == 0) {
        if (evl_record_offset(r) != expect && missing_from < 0)
            missing_from = expect;
        expect = evl_record_offset(r) + 1;
        got++;
    }
    cr_assert_eq(expect, V1_RECORDS);
    cr_assert_geq(missing_from, 990);
    cr_assert_leq(missing_from, 1000);
    cr_assert(got > V1_RECORDS - 10 && got < V1_RECORDS, "%lld records", (long long)got);
    evl_reader_close(rd);
    evl_log_close(log);
    log = open_dir(dir);
    cr_assert_eq(check_partition(log, 1, 0), V1_RECORDS, "the other partition whole");
    evl_log_close(log);
}
