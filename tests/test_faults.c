/*
 * test_faults.c - I/O and allocation failures at every point, in turn.
 *
 * Method (SQLite's test_malloc.c, applied to every system call of the write
 * path through the lib/os seam): for each operation kind (open, fallocate,
 * ftruncate, fsync, mmap, rename, malloc, pwrite), each errno (ENOSPC, EIO)
 * and each mode (fail once, fail from then on), walk N = 0, 1, 2, ...: arm
 * evl_test_fault(op, N, errno, mode) and run a fixed, single-threaded
 * scenario in a fresh directory:
 *
 *   "fresh":   open a new log, create a topic with 64 KiB segments, send 90
 *              records of ~1.5 KiB (single and batched, durability none,
 *              interval and fsync in turn; two segment rolls), flush, read
 *              everything back;
 *   "recover": the same sends on a log whose partition.ctl was removed (as
 *              after a reboot), so that recovery itself meets the fault.
 *
 * At every N: each call returns 0 or a clean negative code (never a crash);
 * a send that fails with anything but EVL_EDURABILITY appended nothing, and
 * one that returned EVL_EDURABILITY appended its record; then, with faults
 * cleared, the same handles work again, except that fsync-level sends on a
 * partition whose fsync failed keep failing with EVL_EDURABILITY until it is
 * reopened; after a reopen the log holds exactly the records that were
 * reported appended, each intact, and fsync sends succeed again. ASan's leak
 * check runs over all of it in the sanitizer pass. The walk ends once the
 * scenario has run cleanly (the fault point lies past its last call) three
 * times in a row.
 *
 * Counts: the default and torture runs walk both errnos and both modes; the
 * EVL_TEST_QUICK run walks EIO in both modes.
 */
#include "reliability.h"
#include "internal.h"

#include "os.h"
#include "partition.h"
#include "topic.h"

#define NREC 90
#define VAL 1700

static const char *op_names[] = {"open", "fallocate", "ftruncate", "fsync",
                                 "mmap", "rename",    "malloc",    "pwrite"};

typedef struct run {
    int op, err;
    int64_t offs[NREC + 64];  /* offset each seq got, -1 none */
    int64_t next;             /* offset the next append must get */
    int failures;             /* calls that returned an error */
    bool saw_edurability;
    char what[256];           /* first failure, for messages */
} run_t;

static evl_config_t *fault_cfg(void)
{
    /* No background flush or retention: the walk must be deterministic. */
    return test_cfg("flush.interval.ms", "3600000", "retention.check.interval.ms", "3600000",
                    NULL);
}

/* A clean code for a fault of errno err (or an allocation failure). */
static void check_rc(run_t *r, int rc, const char *call)
{
    if (rc == 0)
        return;
    if (!r->failures++)
        snprintf(r->what, sizeof r->what, "%s: %s", call, evl_errname(rc));
    bool ok = rc == -r->err || rc == EVL_ENOMEM || rc == EVL_EDURABILITY;
    cr_assert(ok, "%s op %s errno %d: %s returned %s (%d)", r->what, op_names[r->op], r->err, call,
              evl_errname(rc), rc);
}

static const uint64_t SEED = 0xfa17;

static void mk(evl_msg_t *m, uint8_t *key, uint8_t *val, uint32_t seq)
{
    rl_msg(m, key, val, 1200 + (seq * 37) % 500, SEED, 1, seq, 0); /* ~1.5 KiB */
}

/* Send seqs [from, to): singles, with a batch of 3 every 7th, durability
 * cycling. Records the offsets the library reported. */
static void sends(run_t *r, evl_producer_t *prod, uint32_t from, uint32_t to, int force_dur)
{
    static uint8_t vals[4][VAL], keys[4][8];
    for (uint32_t s = from; s < to;) {
        int dur = force_dur ? force_dur : 1 + (int)(s % 3);
        uint32_t k = s % 7 == 0 && s + 3 <= to ? 3 : 1;
        evl_msg_t m[3];
        for (uint32_t i = 0; i < k; i++)
            mk(&m[i], keys[i], vals[i], s + i);
        int rc = k == 1 ? evl_producer_send(prod, &m[0], EVL_SEND_DURABILITY(dur))
                        : evl_producer_send_batch(prod, m, k, EVL_SEND_DURABILITY(dur));
        check_rc(r, rc, k == 1 ? "send" : "send_batch");
        if (rc == EVL_EDURABILITY)
            r->saw_edurability = true;
        bool prefix = true;
        for (uint32_t i = 0; i < k; i++) {
            r->offs[s + i] = m[i].offset;
            if (m[i].offset >= 0) {
                cr_assert(prefix, "batch: seq %u appended after a record that was not", s + i);
                cr_assert_eq(m[i].offset, r->next, "seq %u got offset %lld, expected %lld (%s)",
                             s + i, (long long)m[i].offset, (long long)r->next, r->what);
                r->next++;
            } else {
                prefix = false;
            }
        }
        if (rc && rc != EVL_EDURABILITY && k == 1)
            cr_assert_eq(m[0].offset, -1, "send failed with %s but says it appended at %lld",
                         evl_errname(rc), (long long)m[0].offset);
        s += k;
    }
}

/* Read the partition: every record must be the one reported at its offset.
 * With allow_fail, a read error (an injected fault) ends the check. Returns
 * how many were read. */
static int64_t read_back(run_t *r, evl_log_t *log, bool allow_fail)
{
    evl_reader_t *rd;
    int rc = evl_reader_open(log, "f", 0, &rd);
    if (allow_fail && rc) {
        check_rc(r, rc, "reader_open");
        return -1;
    }
    cr_assert_eq(rc, 0, "reader_open after the faults: %s", evl_errname(rc));
    int64_t n = 0;
    const evl_record_t *rec;
    while ((rc = evl_reader_next(rd, 0, &rec)) == 0) {
        uint32_t w, s;
        const char *why;
        cr_assert_eq(evl_record_offset(rec), n, "read offset %lld where %lld expected (%s)\n%s",
                     (long long)evl_record_offset(rec), (long long)n, r->what, test_logbuf);
        cr_assert_eq(rl_check(rec, SEED, &w, &s, &why), 0, "offset %lld: %s", (long long)n, why);
        cr_assert_lt(s, NREC + 64);
        cr_assert_eq(r->offs[s], n, "offset %lld holds seq %u, reported at %lld (%s)",
                     (long long)n, s, (long long)r->offs[s], r->what);
        n++;
    }
    evl_reader_close(rd);
    if (rc != EVL_ETIMEDOUT) {
        cr_assert(allow_fail, "read after the faults stopped at %lld: %s", (long long)n,
                  evl_errname(rc));
        check_rc(r, rc, "reader_next");
        return -1;
    }
    cr_assert_eq(n, r->next, "read %lld records, %lld were reported appended (%s)", (long long)n,
                 (long long)r->next, r->what);
    return n;
}

/* A log with NREC/2 records and no partition.ctl (the "recover" start). */
static void prepare_recover(const char *dir, run_t *r)
{
    evl_config_t *cfg = fault_cfg();
    evl_log_t *log;
    cr_assert_eq(evl_log_open(dir, cfg, &log), 0);
    evl_config_t *tcfg = test_cfg("segment.bytes", "65536", "index.interval.bytes", "256", NULL);
    cr_assert_eq(evl_topic_create(log, "f", 1, tcfg), 0);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, "f", NULL, &prod), 0);
    sends(r, prod, 0, NREC / 2, 0);
    cr_assert_eq(r->failures, 0);
    evl_producer_close(prod);
    evl_log_close(log);
    char ctl[600];
    snprintf(ctl, sizeof ctl, "%s/topics/f/0/partition.ctl", dir);
    cr_assert_eq(unlink(ctl), 0);
    evl_config_free(tcfg);
    evl_config_free(cfg);
}

/* One point of the walk. Returns the number of failed calls seen. */
static int run_point(int op, int err, int after, int count, bool recover)
{
    run_t r;
    memset(&r, 0, sizeof r);
    r.op = op;
    r.err = err;
    for (size_t i = 0; i < EVL_ARRAY_LEN(r.offs); i++)
        r.offs[i] = -1;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tpath("w"));
    rl_rm_rf(dir);
    uint32_t first = 0;
    if (recover) {
        prepare_recover(dir, &r);
        first = NREC / 2;
    }
    evl_config_t *cfg = fault_cfg();
    evl_config_t *tcfg = test_cfg("segment.bytes", "65536", "index.interval.bytes", "256", NULL);
    evl_log_t *log = NULL;
    evl_producer_t *prod = NULL;

    evl_test_fault(op, after, err, count);
    int rc = evl_log_open(dir, cfg, &log);
    check_rc(&r, rc, "log_open");
    if (rc == 0 && !recover) {
        rc = evl_topic_create(log, "f", 1, tcfg);
        check_rc(&r, rc, "topic_create");
    }
    bool topic_failed = rc != 0;
    if (log && (rc = evl_producer_new(log, "f", NULL, &prod)) != 0) {
        /* No topic if its creation failed. */
        if (!(topic_failed && rc == EVL_ENOTFOUND))
            check_rc(&r, rc, "producer_new");
    }
    if (prod) {
        sends(&r, prod, first, NREC, 0);
        check_rc(&r, evl_producer_flush(prod), "flush");
        read_back(&r, log, true);
    }
    int failures = r.failures;
    evl_test_fault_clear();

    /* The same handles work again (those that exist). */
    if (log && !prod) {
        /* The topic may not exist if its creation failed. */
        rc = evl_topic_create(log, "f", 1, tcfg);
        cr_assert(rc == 0 || rc == EVL_EEXIST, "topic_create after the faults: %s",
                  evl_errname(rc));
        cr_assert_eq(evl_producer_new(log, "f", NULL, &prod), 0);
    }
    if (prod) {
        int before = r.failures;
        sends(&r, prod, NREC, NREC + 10, EVL_DURABILITY_NONE);
        cr_assert_eq(r.failures, before, "a send failed after the faults were cleared: %s", r.what);
        /* fsync level: fails (but appends) exactly when this partition has
         * seen an fsync fail since it was opened. */
        evl_part_t *part = test_part(log, "f", 0);
        bool failed = part->sync_failed;
        if (r.saw_edurability)
            cr_assert(failed, "EVL_EDURABILITY was returned but the partition forgot it");
        uint8_t key[8], val[VAL];
        evl_msg_t m;
        mk(&m, key, val, NREC + 10);
        rc = evl_producer_send(prod, &m, EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC));
        cr_assert_eq(rc, failed ? EVL_EDURABILITY : 0,
                     "fsync send after the faults: %s (an fsync failed before: %d)",
                     evl_errname(rc), failed);
        cr_assert_eq(m.offset, r.next);
        r.offs[NREC + 10] = m.offset;
        r.next++;
        read_back(&r, log, false);
        evl_producer_close(prod);
    }
    evl_log_close(log);

    /* Reopened: exactly what was reported appended, and durable again. */
    test_logbuf[0] = 0;
    cr_assert_eq(evl_log_open(dir, cfg, &log), 0);
    rc = evl_topic_create(log, "f", 1, tcfg);
    cr_assert(rc == 0 || rc == EVL_EEXIST);
    read_back(&r, log, false);
    cr_assert_eq(evl_producer_new(log, "f", NULL, &prod), 0);
    uint8_t key[8], val[VAL];
    evl_msg_t m;
    mk(&m, key, val, NREC + 11);
    rc = evl_producer_send(prod, &m, EVL_SEND_DURABILITY(EVL_DURABILITY_FSYNC));
    cr_assert_eq(rc, 0, "fsync send after reopening: %s", evl_errname(rc));
    r.offs[NREC + 11] = m.offset;
    r.next++;
    read_back(&r, log, false);
    evl_producer_close(prod);
    evl_log_close(log);
    evl_config_free(tcfg);
    evl_config_free(cfg);
    rl_leak_check(); /* every point: a leak on an error path shows here */
    return failures;
}

static long walk(int op, int err, int count, bool recover)
{
    int clean = 0, n = 0;
    long points = 0;
    for (; clean < 3; n++) {
        cr_assert_lt(n, 2000, "op %s never stopped failing", op_names[op]);
        int f = run_point(op, err, n, count, recover);
        if (getenv("EVL_RL_VERBOSE") && atoi(getenv("EVL_RL_VERBOSE")) > 1)
            fprintf(stderr, "    %s N=%d errno=%d count=%d: %d failed calls\n", op_names[op], n,
                    err, count, f);
        clean = f == 0 ? clean + 1 : 0;
        points++;
    }
    return points;
}

static void walk_all(bool recover)
{
    long total = 0;
    int errs[2] = {EIO, ENOSPC};
    int nerr = test_quick() ? 1 : 2;
    for (int op = 0; op < EVL_OS__COUNT; op++) {
        long pts = 0;
        for (int e = 0; e < nerr; e++)
            for (int mode = 0; mode < 2; mode++)
                pts += walk(op, errs[e], mode ? -1 : 1, recover);
        total += pts;
        if (getenv("EVL_RL_VERBOSE"))
            fprintf(stderr, "  %s: %ld points\n", op_names[op], pts);
    }
    fprintf(stderr, "test_faults (%s): %ld fault points walked\n", recover ? "recover" : "fresh",
            total);
}

TestSuite(faults, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 900);

Test(faults, every_point_fresh_log) { walk_all(false); rl_leak_check(); }

Test(faults, every_point_during_recovery) { walk_all(true); rl_leak_check(); }
