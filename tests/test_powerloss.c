/*
 * test_powerloss.c - simulated power cuts.
 *
 * A process crash keeps the page cache; a power cut keeps only what reached
 * the disk, and the kernel writes dirty pages back in any order, each page
 * possibly torn at a sector. Method (in the spirit of SQLite's test6.c):
 *
 *   1. produce with fsync acknowledgements (rolling several small segments);
 *      once the last fsync'd send returns, copy the partition's files: that
 *      copy is what the library has promised is on disk (the "snapshot");
 *   2. keep producing without any sync (within the active segment, so that
 *      no seal fsyncs more), close, and copy the files again ("final");
 *   3. build many post-cut directories from the two: every 4 KiB page of a
 *      .log/.idx that differs takes the snapshot's bytes (never written
 *      back), the final bytes (written), a sector-by-sector mix or a cut at a
 *      random byte (torn), or zeros or garbage from its first changed byte
 *      on (a torn sector read back as junk). partition.ctl is not copied: it
 *      is shared-memory state a reboot loses (the library also rejects one
 *      written under another boot id);
 *   4. open each and check that recovery returns exactly the valid prefix:
 *      everything fsync-acknowledged, then the unsynced frames up to the
 *      first one the cut damaged, and nothing after; no record fails its
 *      checksum; EVL_STAT_TRUNCATED_BYTES equals the non-zero bytes left
 *      after that prefix, and the log callback reports it; the partition then
 *      takes new appends, and recovering a second time drops nothing.
 *
 * The expected prefix is computed independently of the library: the test
 * knows where each unsynced frame lies (from the partition's write position
 * around each send) and compares the cut image with the final one.
 *
 * Counts: default 32 scenarios x 10 cuts = 320 cuts; EVL_TEST_QUICK=1 10 x
 * 10; EVL_TORTURE=1 300 x 10. EVL_RL_SEED replays a run.
 */
#include "reliability.h"
#include "internal.h"

#include "partition.h"
#include "record.h"
#include "topic.h"

#define PAGE 4096u

typedef struct frame_pos {
    uint64_t pos, len; /* unpadded frame bytes in the active .log */
} frame_pos_t;

typedef struct scenario {
    uint64_t seed;
    int64_t durable;        /* records fsync-acknowledged (offsets 0..durable-1) */
    int64_t total;          /* records appended */
    uint64_t active_base;   /* the active segment (where unsynced frames are) */
    frame_pos_t *frames;    /* unsynced frames, offsets durable.. */
    char snap[512], final[512];
} scenario_t;

static const char *topic = "pl";

static void send_one(evl_producer_t *prod, uint64_t seed, int64_t seq, int durability,
                     size_t maxv)
{
    static uint8_t val[8192];
    uint8_t key[8];
    evl_msg_t m;
    size_t len = rl_len(seed, 1, (uint32_t)seq, maxv);
    rl_msg(&m, key, val, len, seed, 1, (uint32_t)seq, 0);
    int rc = evl_producer_send(prod, &m, EVL_SEND_DURABILITY(durability));
    cr_assert_eq(rc, 0, "send %lld: %s", (long long)seq, evl_strerror(rc));
    cr_assert_eq(m.offset, seq);
}

static void produce(scenario_t *sc, rl_rng_t *rng)
{
    char live[512], sb[32], ii[32];
    snprintf(live, sizeof live, "%s", tpath("live"));
    snprintf(sb, sizeof sb, "%llu", 65536ull << rl_below(rng, 5));
    snprintf(ii, sizeof ii, "%llu", 128ull << rl_below(rng, 6));
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log;
    cr_assert_eq(evl_log_open(live, cfg, &log), 0);
    evl_config_t *tcfg = test_cfg("segment.bytes", sb, "index.interval.bytes", ii,
                                  "max.message.bytes", "8192", NULL);
    cr_assert_eq(evl_topic_create(log, topic, 1, tcfg), 0);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, topic, NULL, &prod), 0);
    evl_part_t *part = test_part(log, topic, 0);
    size_t maxv = 64 + rl_below(rng, 4000);
    /* 1: fsync'd (every few records, and the last one). */
    int64_t n1 = 1 + (int64_t)rl_below(rng, 1500);
    for (int64_t i = 0; i < n1; i++)
        send_one(prod, sc->seed, i,
                 i == n1 - 1 || rl_below(rng, 16) == 0 ? EVL_DURABILITY_FSYNC
                                                       : EVL_DURABILITY_NONE,
                 maxv);
    sc->durable = n1;
    char pdir[600];
    snprintf(pdir, sizeof pdir, "%s/topics/%s/0", live, topic);
    cr_assert_eq(rl_copy_dir(pdir, sc->snap), 0);
    /* 2: unsynced, and no roll (a roll's seal would fsync more). */
    int64_t n2 = (int64_t)rl_below(rng, 400);
    sc->frames = calloc((size_t)n2 + 1, sizeof *sc->frames);
    sc->active_base = atomic_load(&part->ctl->active_base);
    int64_t i = n1;
    for (; i < n1 + n2; i++) {
        size_t len = rl_len(sc->seed, 1, (uint32_t)i, maxv);
        uint64_t pos = atomic_load(&part->ctl->write_pos);
        if (pos + len + 256 + EVL_FRAME_EOF_BYTES > part->seg_bytes)
            break;
        send_one(prod, sc->seed, i, EVL_DURABILITY_NONE, maxv);
        cr_assert_eq(atomic_load(&part->ctl->active_base), sc->active_base, "rolled");
        sc->frames[i - n1].pos = pos;
        sc->frames[i - n1].len = evl_ld32(part->wseg->map + pos);
    }
    sc->total = i;
    evl_producer_close(prod);
    evl_log_close(log); /* closing syncs nothing at durability none */
    cr_assert_eq(rl_copy_dir(pdir, sc->final), 0);
    /* Reuse the live meta (LMDB syncs its own commits) for every cut. */
    evl_config_free(tcfg);
    evl_config_free(cfg);
}

/* Mix page bytes of old and new into out (len <= PAGE), per the cut's mood. */
static void cut_page(rl_rng_t *rng, int mood, const uint8_t *old, const uint8_t *new_,
                     uint8_t *out, size_t len)
{
    size_t first = 0;
    while (first < len && old[first] == new_[first])
        first++;
    if (first == len) {
        memcpy(out, new_, len);
        return;
    }
    uint64_t r = rl_below(rng, 100);
    /* mood 0: nothing written back; 1: everything; 2: anything goes */
    if (mood == 0 || (mood == 2 && r < 30)) {
        memcpy(out, old, len);
    } else if (mood == 1 || r < 60) {
        memcpy(out, new_, len);
    } else if (r < 75) { /* torn by 512-byte sectors */
        for (size_t s = 0; s < len; s += 512)
            memcpy(out + s, rl_below(rng, 2) ? new_ + s : old + s, EVL_MIN(512, len - s));
    } else if (r < 85) { /* torn at a byte */
        size_t at = first + (size_t)rl_below(rng, len - first);
        memcpy(out, new_, at);
        memcpy(out + at, old + at, len - at);
    } else if (r < 92) { /* zeros from the first change */
        memcpy(out, old, first);
        memset(out + first, 0, len - first);
    } else { /* junk from the first change */
        memcpy(out, old, first);
        for (size_t i = first; i < len; i++)
            out[i] = (uint8_t)rl_next(rng);
    }
}

/* Build the post-cut partition directory into dir; returns the cut image of
 * the active .log (malloc'd) through img/img_len. */
static void build_cut(scenario_t *sc, rl_rng_t *rng, const char *dir, uint8_t **img,
                      size_t *img_len)
{
    int mood = (int)rl_below(rng, 8);
    mood = mood == 0 ? 0 : mood == 1 ? 1 : 2;
    mkdir(dir, 0755);
    DIR *d = opendir(sc->final);
    cr_assert_not_null(d);
    struct dirent *e;
    char active_name[64];
    snprintf(active_name, sizeof active_name, "%020llu.log",
             (unsigned long long)sc->active_base);
    *img = NULL;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || (strcmp(e->d_name + n - 4, ".log") && strcmp(e->d_name + n - 4, ".idx")))
            continue;
        char a[1024], b[1024], o[1024];
        snprintf(a, sizeof a, "%s/%s", sc->snap, e->d_name);
        snprintf(b, sizeof b, "%s/%s", sc->final, e->d_name);
        snprintf(o, sizeof o, "%s/%s", dir, e->d_name);
        uint8_t *old, *new_;
        size_t ol, nl;
        cr_assert_eq(rl_read_file(b, &new_, &nl), 0);
        if (rl_read_file(a, &old, &ol) != 0) {
            cr_assert_fail("%s appeared after the snapshot (a roll?)", e->d_name);
        }
        /* Files grow in allocation steps (fallocate) as data comes: one
         * that grew after the snapshot either kept its new size through the
         * cut (the allocation was journaled; its pages not written back
         * read as zeros) or lost it. Never shorter than what was synced. */
        cr_assert_leq(ol, nl, "%s shrank after the snapshot", e->d_name);
        if (ol < nl) {
            if (rl_below(rng, 2)) {
                old = realloc(old, nl);
                memset(old + ol, 0, nl - ol);
            } else {
                nl = ol;
            }
        }
        uint8_t *out = malloc(nl ? nl : 1);
        for (size_t p = 0; p < nl; p += PAGE)
            cut_page(rng, mood, old + p, new_ + p, out + p, EVL_MIN(PAGE, nl - p));
        cr_assert_eq(rl_write_file(o, out, nl), 0);
        if (!strcmp(e->d_name, active_name)) {
            *img = out;
            *img_len = nl;
        } else {
            free(out);
        }
        free(old);
        free(new_);
    }
    closedir(d);
    cr_assert_not_null(*img, "no active segment file");
}

/* What recovery must keep and drop, from the cut image alone. */
static void expected(const scenario_t *sc, const uint8_t *img, size_t img_len,
                     const uint8_t *fin, int64_t *count, int64_t *dropped)
{
    int64_t k = 0, n2 = sc->total - sc->durable;
    uint64_t end = 0;
    while (k < n2 && sc->frames[k].pos + sc->frames[k].len <= img_len &&
           memcmp(img + sc->frames[k].pos, fin + sc->frames[k].pos, sc->frames[k].len) == 0)
        k++;
    if (k < n2)
        end = sc->frames[k].pos;
    else if (n2 > 0)
        end = sc->frames[n2 - 1].pos + evl__frame_span(sc->frames[n2 - 1].len);
    *count = sc->durable + k;
    *dropped = 0;
    if (n2 == 0)
        return; /* nothing changed after the snapshot */
    uint64_t last = end, p = end;
    for (; p + 8 <= img_len; p += 8)
        if (evl_ld64(img + p))
            last = p + 8;
    for (; p < img_len; p++) /* frames are 4-aligned: a last half word */
        if (img[p])
            last = p + 1;
    *dropped = (int64_t)(last - end);
}

static int64_t read_all(evl_log_t *log, uint64_t seed)
{
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, topic, 0, &rd), 0);
    const evl_record_t *rec;
    int64_t n = 0;
    int rc;
    while ((rc = evl_reader_next(rd, 0, &rec)) == 0) {
        uint32_t w, s;
        const char *why;
        cr_assert_eq(evl_record_offset(rec), n);
        cr_assert_eq(rl_check(rec, seed, &w, &s, &why), 0, "offset %lld: %s", (long long)n, why);
        cr_assert_eq((int64_t)s, n, "offset %lld holds seq %u", (long long)n, s);
        n++;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT, "reader stopped at %lld: %s", (long long)n, evl_strerror(rc));
    evl_partition_info_t info;
    cr_assert_eq(evl_partition_info(log, topic, 0, &info), 0);
    cr_assert_eq(info.end_offset, n, "end offset %lld, %lld records readable",
                 (long long)info.end_offset, (long long)n);
    evl_reader_close(rd);
    return n;
}

static long cuts_partial, cuts_all, cuts_none; /* how much of the unsynced tail survived */

static void check_cut(scenario_t *sc, rl_rng_t *rng, int cut, long *dropped_total)
{
    char root[600], pdir[700], meta[700], from_meta[700];
    snprintf(root, sizeof root, "%s/cut%d", tpath(""), cut);
    snprintf(pdir, sizeof pdir, "%s/topics", root);
    mkdir(root, 0755);
    mkdir(pdir, 0755);
    snprintf(pdir, sizeof pdir, "%s/topics/%s", root, topic);
    mkdir(pdir, 0755);
    snprintf(pdir, sizeof pdir, "%s/topics/%s/0", root, topic);
    snprintf(meta, sizeof meta, "%s/meta", root);
    snprintf(from_meta, sizeof from_meta, "%s/meta", tpath("live"));
    mkdir(meta, 0755);
    char a[800], b[800];
    snprintf(a, sizeof a, "%s/data.mdb", from_meta);
    snprintf(b, sizeof b, "%s/data.mdb", meta);
    uint8_t *data;
    size_t len;
    cr_assert_eq(rl_read_file(a, &data, &len), 0);
    cr_assert_eq(rl_write_file(b, data, len), 0);
    free(data);
    uint8_t *img, *fin;
    size_t img_len = 0, fin_len = 0;
    build_cut(sc, rng, pdir, &img, &img_len);
    snprintf(a, sizeof a, "%s/%020llu.log", sc->final, (unsigned long long)sc->active_base);
    cr_assert_eq(rl_read_file(a, &fin, &fin_len), 0);
    int64_t want, want_dropped;
    expected(sc, img, img_len, fin, &want, &want_dropped);
    free(img);
    free(fin);

    test_logbuf[0] = 0;
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log;
    int rc = evl_log_open(root, cfg, &log);
    cr_assert_eq(rc, 0, "open after the cut: %s", evl_strerror(rc));
    int64_t n = read_all(log, sc->seed);
    cr_assert_geq(n, sc->durable, "cut %d (seed %llu): %lld records, but %lld were fsync-acknowledged",
                  cut, (unsigned long long)sc->seed, (long long)n, (long long)sc->durable);
    cr_assert_eq(n, want, "cut %d (seed %llu): recovery kept %lld records, the valid prefix is %lld",
                 cut, (unsigned long long)sc->seed, (long long)n, (long long)want);
    int64_t got_dropped = evl_log_stat(log, EVL_STAT_TRUNCATED_BYTES);
    cr_assert_eq(got_dropped, want_dropped, "cut %d (seed %llu): %lld bytes reported dropped, "
                 "%lld expected\n%s", cut, (unsigned long long)sc->seed, (long long)got_dropped,
                 (long long)want_dropped, test_logbuf);
    cr_assert_eq(want_dropped > 0, strstr(test_logbuf, "truncated") != NULL,
                 "cut %d: dropped %lld, log says:\n%s", cut, (long long)want_dropped, test_logbuf);
    *dropped_total += got_dropped;
    if (sc->total > sc->durable)
        (*(n == sc->durable ? &cuts_none : n == sc->total ? &cuts_all : &cuts_partial))++;
    /* The partition takes appends at the next offset. */
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, topic, NULL, &prod), 0);
    for (int i = 0; i < 3; i++)
        send_one(prod, sc->seed, n + i, i == 2 ? EVL_DURABILITY_FSYNC : EVL_DURABILITY_NONE, 300);
    evl_producer_close(prod);
    cr_assert_eq(read_all(log, sc->seed), n + 3);
    evl_log_close(log);
    /* Another reboot: nothing more to drop. */
    char ctl[800];
    snprintf(ctl, sizeof ctl, "%s/partition.ctl", pdir);
    cr_assert_eq(unlink(ctl), 0);
    test_logbuf[0] = 0;
    cr_assert_eq(evl_log_open(root, cfg, &log), 0);
    cr_assert_eq(read_all(log, sc->seed), n + 3);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_TRUNCATED_BYTES), 0, "second recovery dropped:\n%s",
                 test_logbuf);
    evl_log_close(log);
    evl_config_free(cfg);
    rl_rm_rf(root);
}

TestSuite(powerloss, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 900);

Test(powerloss, recovery_keeps_exactly_the_valid_prefix)
{
    uint64_t seed = rl_seed();
    rl_rng_t rng = {seed};
    cr_log_info("seed %llu (replay with EVL_RL_SEED)", (unsigned long long)seed);
    int scenarios = rl_count(32, 10, 300), cuts = 10;
    long total = 0, dropped = 0, lost_frames = 0;
    for (int s = 0; s < scenarios; s++) {
        scenario_t sc = {0};
        sc.seed = rl_next(&rng);
        snprintf(sc.snap, sizeof sc.snap, "%s", tpath("snap"));
        snprintf(sc.final, sizeof sc.final, "%s", tpath("final"));
        produce(&sc, &rng);
        for (int c = 0; c < cuts; c++) {
            check_cut(&sc, &rng, c, &dropped);
            total++;
        }
        lost_frames += sc.total - sc.durable;
        free(sc.frames);
        rl_rm_rf(tpath("live"));
        rl_rm_rf(sc.snap);
        rl_rm_rf(sc.final);
    }
    fprintf(stderr, "test_powerloss: %ld simulated power cuts (%d scenarios); unsynced tail "
            "kept whole %ld, in part %ld, not at all %ld; %ld bytes truncated by recovery\n",
            total, scenarios, cuts_all, cuts_partial, cuts_none, dropped);
    (void)lost_frames;
    rl_leak_check();
}
