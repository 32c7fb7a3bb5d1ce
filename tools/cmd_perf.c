/*
 * cmd_perf.c - `evl perf produce|consume|e2e`: throughput and latency, in
 * the spirit of kafka-producer-perf-test and kafka-consumer-perf-test.
 *
 *  produce  T threads share one producer and send N records of B bytes;
 *           the latency of each send call is recorded.
 *  consume  readers (partitions split over T threads) read N records from
 *           the log start; missing records are produced first, untimed.
 *  e2e      T producer threads send N records stamped with the monotonic
 *           clock; one reader thread per partition, blocked in its futex
 *           wait, receives them; latency is receive time minus stamp.
 *
 * Latencies go into a log-linear histogram (16 sub-buckets per power of
 * two, so each percentile is within about 6%) instead of an array of N
 * samples: memory stays constant whatever --records is. Results go to
 * stdout (text, or one JSON document with --json); on a terminal, stderr
 * shows a progress line that is erased at the end.
 */
#include "evl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HIST_SUB 16
#define HIST_BUCKETS (64 * HIST_SUB)
#define MAX_THREADS 256
#define MAX_READERS 256
#define READ_WAIT_MS 100

static const char help_perf[] =
    "usage: evl perf produce|consume|e2e [--records N] [--record-size B]\n"
    "                [--partitions P] [--acks none|flush|fsync]\n"
    "                [--threads T] [--batch K] [--topic NAME] [--throughput]\n"
    "                [--json]\n"
    "\n"
    "Measure the log in DIR (created if needed):\n"
    "  produce   T threads send N records of B bytes; prints records/s,\n"
    "            MB/s and the latency percentiles of the send calls\n"
    "  consume   read N records from the start of the topic (producing\n"
    "            them first if it holds fewer); prints records/s and MB/s\n"
    "  e2e       produce and read at once; prints the time from the send\n"
    "            call to the reader getting the record\n"
    "\n"
    "  --records N       records (default: 100000)\n"
    "  --record-size B   value bytes (default: 100; e2e needs >= 8)\n"
    "  --partitions P    partitions when the topic is created (default: 1)\n"
    "  --acks LEVEL      none | flush | fsync (default: the topic's)\n"
    "  --threads T       producer threads, or consume threads (default: 1)\n"
    "  --batch K         records per send call (default: 1)\n"
    "  --topic NAME      topic to use (default: evl-perf)\n"
    "  --throughput      produce: time the whole run only, not each send\n"
    "                    call (two clock reads per call cost about as much\n"
    "                    as the send itself); no latency figures. This is\n"
    "                    how bench/ measures appends.\n";

struct hist {
    uint64_t count, sum, max;
    uint64_t b[HIST_BUCKETS];
};

struct perf_opts {
    const char *mode;
    const char *topic;
    int64_t records;
    int record_size;
    int partitions;
    int partitions_given;
    int acks;
    int threads;
    int batch;
    int throughput;
};

struct perf {
    struct cli *cli;
    const struct perf_opts *o;
    evl_log_t *log;
    evl_producer_t *prod;
    int parts;
    _Atomic int64_t produced, consumed;
    _Atomic int failed;
    _Atomic int stop;
    struct hist *hists;     /* one per thread, merged at the end */
};

struct worker {
    struct perf *pf;
    int index;
    int64_t records;        /* producer: how many to send */
    int first_part, nparts; /* reader threads: partitions[first, +n) */
    int64_t *quota;         /* consume: records to read per partition */
    evl_reader_t *rd;       /* e2e: this thread's reader, at the end */
    int rc;
};

/* ---- histogram ----------------------------------------------------------- */

static int hist_index(uint64_t v)
{
    int msb;

    if (v < HIST_SUB)
        return (int)v;
    msb = 63 - __builtin_clzll(v);
    return (msb - 3) * HIST_SUB + (int)((v >> (msb - 4)) & (HIST_SUB - 1));
}

static uint64_t hist_value(int i)
{
    int msb = i / HIST_SUB + 3;

    if (i < HIST_SUB)
        return (uint64_t)i;
    return ((uint64_t)1 << msb) | ((uint64_t)(i % HIST_SUB) << (msb - 4));
}

static void hist_add(struct hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

static void hist_merge(struct hist *into, const struct hist *h)
{
    int i;

    for (i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += h->b[i];
    into->count += h->count;
    into->sum += h->sum;
    if (h->max > into->max)
        into->max = h->max;
}

static double hist_pct(const struct hist *h, double pct)
{
    uint64_t want = (uint64_t)(pct / 100.0 * (double)h->count), seen = 0;
    int i;

    if (want >= h->count)
        want = h->count ? h->count - 1 : 0;
    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want)
            return (double)hist_value(i);
    }
    return (double)h->max;
}

/* ---- options ------------------------------------------------------------------ */

enum {
    OPT_RECORDS = 0x1400, OPT_SIZE, OPT_PARTS, OPT_ACKS, OPT_THREADS,
    OPT_BATCH, OPT_TOPIC, OPT_THROUGHPUT,
};

static int perf_option(struct cli *cli, struct perf_opts *o, int c,
                       const char *arg)
{
    int bad = 0;

    switch (c) {
    case OPT_RECORDS: bad = parse_i64(arg, 1, INT64_C(1) << 40, &o->records); break;
    case OPT_SIZE: bad = parse_int(arg, 0, 64 << 20, &o->record_size); break;
    case OPT_PARTS:
        bad = parse_int(arg, 1, MAX_READERS, &o->partitions);
        o->partitions_given = 1;
        break;
    case OPT_THREADS: bad = parse_int(arg, 1, MAX_THREADS, &o->threads); break;
    case OPT_BATCH: bad = parse_int(arg, 1, 100000, &o->batch); break;
    case OPT_TOPIC: o->topic = arg; break;
    case OPT_THROUGHPUT: o->throughput = 1; break;
    case OPT_ACKS:
        o->acks = strcmp(arg, "none") == 0    ? EVL_DURABILITY_NONE
                  : strcmp(arg, "flush") == 0 ? EVL_DURABILITY_INTERVAL
                  : strcmp(arg, "fsync") == 0 ? EVL_DURABILITY_FSYNC : -1;
        bad = o->acks < 0;
        break;
    default:
        return EXIT_USAGE;
    }
    if (bad)
        return cli_usage(cli, "bad value '%s'", arg);
    return EXIT_OK;
}

static int perf_parse(struct cli *cli, int argc, char **argv,
                      struct perf_opts *o)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"records", required_argument, NULL, OPT_RECORDS},
        {"record-size", required_argument, NULL, OPT_SIZE},
        {"partitions", required_argument, NULL, OPT_PARTS},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"topic", required_argument, NULL, OPT_TOPIC},
        {"throughput", no_argument, NULL, OPT_THROUGHPUT},
        {NULL, 0, NULL, 0},
    };
    int c, status;

    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_perf);
        if ((status = perf_option(cli, o, c, optarg)) != EXIT_OK)
            return status;
    }
    if (optind >= argc)
        return cli_usage(cli, "missing mode (produce, consume or e2e)");
    o->mode = argv[optind++];
    if (strcmp(o->mode, "produce") && strcmp(o->mode, "consume") &&
        strcmp(o->mode, "e2e"))
        return cli_usage(cli, "unknown mode '%s' (produce, consume or e2e)",
                         o->mode);
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if (strcmp(o->mode, "e2e") == 0 && o->record_size < 8)
        return cli_usage(cli, "e2e needs --record-size of at least 8");
    return cli_check_topic_name(cli, o->topic) ? EXIT_USAGE : -1;
}

/* ---- producing ------------------------------------------------------------------- */

/* Send w->records records; with stamp, each value starts with mono_ns(). */
static int produce_records(struct perf *pf, struct worker *w, int stamp,
                           struct hist *h)
{
    const struct perf_opts *o = pf->o;
    int flags = o->acks ? EVL_SEND_DURABILITY(o->acks) : 0;
    size_t vsize = (size_t)o->record_size, i, n;
    char *vals = malloc(vsize * (size_t)o->batch + 1);
    evl_msg_t *msgs = calloc((size_t)o->batch, sizeof *msgs);
    int64_t left = w->records;
    uint64_t t0, dt;
    int rc = 0;

    if (!vals || !msgs)
        rc = EVL_ENOMEM;
    for (i = 0; rc == 0 && i < vsize * (size_t)o->batch; i++)
        vals[i] = (char)('a' + (i * 7 + (size_t)w->index) % 26);
    while (rc == 0 && left > 0 && !atomic_load(&pf->stop)) {
        n = left < o->batch ? (size_t)left : (size_t)o->batch;
        /* Without a histogram or stamps (--throughput), no clock reads. */
        t0 = h || stamp ? mono_ns() : 0;
        for (i = 0; i < n; i++) {
            if (stamp)
                memcpy(vals + i * vsize, &t0, sizeof t0);
            msgs[i] = (evl_msg_t){.value = vals + i * vsize, .value_len = vsize,
                                  .timestamp = EVL_TIMESTAMP_NOW,
                                  .partition = EVL_PARTITION_ANY};
        }
        rc = n == 1 ? evl_producer_send(pf->prod, msgs, flags)
                    : evl_producer_send_batch(pf->prod, msgs, n, flags);
        if (h) {
            dt = mono_ns() - t0;
            for (i = 0; i < n; i++)
                hist_add(h, dt);
        }
        atomic_fetch_add(&pf->produced, (int64_t)n);
        left -= (int64_t)n;
    }
    free(vals);
    free(msgs);
    return rc;
}

static void *producer_thread(void *arg)
{
    struct worker *w = arg;
    int e2e = strcmp(w->pf->o->mode, "e2e") == 0;

    w->rc = produce_records(w->pf, w, e2e,
                            e2e || w->pf->o->throughput ? NULL : &w->pf->hists[w->index]);
    if (w->rc)
        atomic_store(&w->pf->failed, 1);
    return NULL;
}

/* ---- reading ------------------------------------------------------------------------ */

/* consume: read quota[p] records of each partition from its start. */
static int read_quota(struct perf *pf, struct worker *w)
{
    const evl_record_t *rec;
    evl_reader_t *rd;
    int p, rc = 0;
    int64_t left;

    for (p = w->first_part; rc == 0 && p < w->first_part + w->nparts; p++) {
        if ((rc = evl_reader_open(pf->log, pf->o->topic, p, &rd)) != 0)
            break;
        for (left = w->quota[p]; left > 0 && rc == 0; left--) {
            rc = evl_reader_next(rd, READ_WAIT_MS, &rec);
            if (rc == 0)
                atomic_fetch_add(&pf->consumed, 1);
        }
        evl_reader_close(rd);
    }
    return rc;
}

/* e2e: read partition first_part from its end until all records arrived. */
static int read_e2e(struct perf *pf, struct worker *w, evl_reader_t *rd)
{
    const evl_record_t *rec;
    const void *v;
    size_t len;
    uint64_t stamp;
    int rc;

    while (atomic_load(&pf->consumed) < pf->o->records &&
           !atomic_load(&pf->stop)) {
        rc = evl_reader_next(rd, READ_WAIT_MS, &rec);
        if (rc == EVL_ETIMEDOUT)
            continue;
        if (rc != 0)
            return rc;
        v = evl_record_value(rec, &len);
        if (v && len >= sizeof stamp) {
            memcpy(&stamp, v, sizeof stamp);
            hist_add(&pf->hists[w->index], mono_ns() - stamp);
        }
        atomic_fetch_add(&pf->consumed, 1);
    }
    return 0;
}

static void *reader_thread(void *arg)
{
    struct worker *w = arg;

    w->rc = w->quota ? read_quota(w->pf, w) : read_e2e(w->pf, w, w->rd);
    if (w->rc)
        atomic_store(&w->pf->failed, 1);
    return NULL;
}

/* ---- running ---------------------------------------------------------------------- */

/* Wait for the threads, with a progress line on a terminal. */
static void wait_progress(struct perf *pf, _Atomic int64_t *counter,
                          const char *what, pthread_t *tids, int n)
{
    int tty = isatty(2), i;
    uint64_t start = mono_ns();
    struct timespec nap = {0, 200 * 1000000L};
    int64_t done;

    while (tty && !atomic_load(&pf->failed) &&
           (done = atomic_load(counter)) < pf->o->records) {
        double s = (double)(mono_ns() - start) / 1e9;
        fprintf(stderr, "\r%s %lld/%lld records, %.0f records/s", what,
                (long long)done, (long long)pf->o->records,
                s > 0 ? (double)done / s : 0.0);
        nanosleep(&nap, NULL);
    }
    for (i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    if (tty)
        fputs("\r\033[K", stderr);
}

static int first_error(const struct worker *ws, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (ws[i].rc)
            return ws[i].rc;
    return 0;
}

static int start_producers(struct perf *pf, struct worker *ws, pthread_t *tids,
                           int64_t total)
{
    int t, n = pf->o->threads;

    for (t = 0; t < n; t++) {
        ws[t] = (struct worker){.pf = pf, .index = t};
        ws[t].records = total / n + (t < total % n ? 1 : 0);
        if (pthread_create(&tids[t], NULL, producer_thread, &ws[t]) != 0)
            return t;
    }
    return n;
}

static int run_produce(struct perf *pf)
{
    struct worker ws[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int n = start_producers(pf, ws, tids, pf->o->records);

    if (n < pf->o->threads)
        atomic_store(&pf->stop, 1);
    wait_progress(pf, &pf->produced, "produced", tids, n);
    if (n < pf->o->threads)
        return cli_fail("cannot start threads");
    if (first_error(ws, n))
        return cli_fail_rc(first_error(ws, n), "perf produce");
    return EXIT_OK;
}

/* consume: make sure the topic holds o->records, then split them. */
static int consume_quotas(struct perf *pf, int64_t *quota)
{
    evl_partition_info_t info;
    int64_t have = 0, want = pf->o->records;
    int p, rc;

    for (p = 0; p < pf->parts; p++) {
        if ((rc = evl_partition_info(pf->log, pf->o->topic, p, &info)) != 0)
            return rc;
        quota[p] = info.end_offset - info.start_offset;
        have += quota[p];
    }
    if (have < want) {
        struct worker w = {.pf = pf, .records = want - have};
        if ((rc = produce_records(pf, &w, 0, NULL)) != 0)
            return rc;
        return consume_quotas(pf, quota);
    }
    for (p = 0; p < pf->parts; p++) {
        if (quota[p] > want)
            quota[p] = want;
        want -= quota[p];
    }
    return 0;
}

static int run_consume(struct perf *pf, uint64_t *t0)
{
    struct worker ws[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int64_t quota[MAX_READERS];
    int t, n = pf->o->threads, per, rc;

    if ((rc = consume_quotas(pf, quota)) != 0)
        return cli_fail_rc(rc, "perf consume: preparing records");
    per = (pf->parts + n - 1) / n;
    *t0 = mono_ns();
    for (t = 0; t < n; t++) {
        ws[t] = (struct worker){.pf = pf, .index = t, .quota = quota};
        ws[t].first_part = t * per < pf->parts ? t * per : pf->parts;
        ws[t].nparts = ws[t].first_part + per <= pf->parts
                           ? per : pf->parts - ws[t].first_part;
        if (pthread_create(&tids[t], NULL, reader_thread, &ws[t]) != 0)
            break;
    }
    wait_progress(pf, &pf->consumed, "consumed", tids, t);
    if (t < n)
        return cli_fail("cannot start threads");
    if (first_error(ws, n))
        return cli_fail_rc(first_error(ws, n), "perf consume");
    return EXIT_OK;
}

static int open_e2e_readers(struct perf *pf, struct worker *rs)
{
    int p, rc;

    for (p = 0; p < pf->parts; p++) {
        rs[p] = (struct worker){.pf = pf, .index = p, .first_part = p};
        if ((rc = evl_reader_open(pf->log, pf->o->topic, p, &rs[p].rd)) != 0 ||
            (rc = evl_reader_seek(rs[p].rd, EVL_OFFSET_END)) != 0)
            return rc;
    }
    return 0;
}

static int run_e2e(struct perf *pf)
{
    static struct worker rs[MAX_READERS];
    struct worker ws[MAX_THREADS];
    pthread_t rt[MAX_READERS], pt[MAX_THREADS];
    int p, nr = 0, np = 0, rc = open_e2e_readers(pf, rs);

    for (p = 0; rc == 0 && p < pf->parts; p++, nr++)
        if (pthread_create(&rt[p], NULL, reader_thread, &rs[p]) != 0)
            break;
    if (rc == 0 && nr == pf->parts)
        np = start_producers(pf, ws, pt, pf->o->records);
    if (rc != 0 || nr < pf->parts || np < pf->o->threads)
        atomic_store(&pf->stop, 1);
    wait_progress(pf, &pf->consumed, "received", pt, np);
    if (first_error(ws, np))
        atomic_store(&pf->stop, 1); /* readers would wait for lost records */
    for (p = 0; p < nr; p++)
        pthread_join(rt[p], NULL);
    for (p = 0; p < pf->parts; p++)
        evl_reader_close(rs[p].rd);
    if (rc == 0 && (nr < pf->parts || np < pf->o->threads))
        return cli_fail("cannot start threads");
    if (rc || (rc = first_error(ws, np)) || (rc = first_error(rs, nr)))
        return cli_fail_rc(rc, "perf e2e");
    return EXIT_OK;
}

/* ---- reporting ------------------------------------------------------------------- */

static void report(struct perf *pf, double secs, const struct hist *h)
{
    const struct perf_opts *o = pf->o;
    double rps = secs > 0 ? (double)o->records / secs : 0;
    double mbps = rps * o->record_size / (1024.0 * 1024.0);
    double avg = h->count ? (double)h->sum / (double)h->count / 1e3 : 0;

    if (pf->cli->json) {
        printf("{\"mode\":\"%s\",\"topic\":", o->mode);
        json_cstr(stdout, o->topic);
        printf(",\"records\":%lld,\"record_size\":%d,\"partitions\":%d,"
               "\"threads\":%d,\"batch\":%d,\"seconds\":%.6f,"
               "\"records_per_sec\":%.1f,\"mb_per_sec\":%.2f",
               (long long)o->records, o->record_size, pf->parts, o->threads,
               o->batch, secs, rps, mbps);
        if (h->count)
            printf(",\"latency_us\":{\"avg\":%.2f,\"p50\":%.2f,\"p95\":%.2f,"
                   "\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f}", avg,
                   hist_pct(h, 50) / 1e3, hist_pct(h, 95) / 1e3,
                   hist_pct(h, 99) / 1e3, hist_pct(h, 99.9) / 1e3,
                   (double)h->max / 1e3);
        fputs("}\n", stdout);
        return;
    }
    printf("%s: %lld records of %d bytes, %d partition%s, %d thread%s, "
           "batch %d\n", o->mode, (long long)o->records, o->record_size,
           pf->parts, pf->parts == 1 ? "" : "s", o->threads,
           o->threads == 1 ? "" : "s", o->batch);
    printf("%.3f s: %.1f records/s, %.2f MB/s\n", secs, rps, mbps);
    if (h->count)
        printf("latency (us): avg %.2f, p50 %.2f, p95 %.2f, p99 %.2f, "
               "p99.9 %.2f, max %.2f\n", avg, hist_pct(h, 50) / 1e3,
               hist_pct(h, 95) / 1e3, hist_pct(h, 99) / 1e3,
               hist_pct(h, 99.9) / 1e3, (double)h->max / 1e3);
}

static int perf_setup(struct perf *pf)
{
    const struct perf_opts *o = pf->o;
    int status = cli_open_log(pf->cli, 1, &pf->log);
    int rc;

    if (status)
        return status;
    rc = evl_topic_create(pf->log, o->topic, o->partitions, NULL);
    if (rc != 0 && rc != EVL_EEXIST)
        return cli_topic_fail(rc, o->topic);
    if ((pf->parts = evl_topic_partitions(pf->log, o->topic)) < 0)
        return cli_topic_fail(pf->parts, o->topic);
    if (rc == EVL_EEXIST && o->partitions_given && pf->parts != o->partitions)
        cli_warn("topic '%s' exists with %d partition%s; --partitions %d "
                 "applies only when it is created", o->topic, pf->parts,
                 pf->parts == 1 ? "" : "s", o->partitions);
    if (pf->parts > MAX_READERS)
        return cli_fail("topic '%s' has more than %d partitions", o->topic,
                        MAX_READERS);
    if ((rc = evl_producer_new(pf->log, o->topic, NULL, &pf->prod)) != 0)
        return cli_topic_fail(rc, o->topic);
    pf->hists = calloc(MAX_THREADS > MAX_READERS ? MAX_THREADS : MAX_READERS,
                       sizeof *pf->hists);
    return pf->hists ? EXIT_OK : cli_fail("out of memory");
}

static int perf_run(struct cli *cli, const struct perf_opts *o)
{
    struct perf pf = {.cli = cli, .o = o};
    static struct hist all;
    uint64_t t0 = mono_ns();
    int status = perf_setup(&pf), i;

    if (status == EXIT_OK) {
        t0 = mono_ns();
        if (strcmp(o->mode, "produce") == 0)
            status = run_produce(&pf);
        else if (strcmp(o->mode, "consume") == 0)
            status = run_consume(&pf, &t0);
        else
            status = run_e2e(&pf);
    }
    if (status == EXIT_OK) {
        double secs = (double)(mono_ns() - t0) / 1e9;
        for (i = 0; i < MAX_THREADS && i < MAX_READERS; i++)
            hist_merge(&all, &pf.hists[i]);
        report(&pf, secs, &all);
    }
    free(pf.hists);
    evl_producer_close(pf.prod);
    evl_log_close(pf.log);
    return status ? status : cli_finish_stdout();
}

int cmd_perf(struct cli *cli, int argc, char **argv)
{
    struct perf_opts o = {.topic = "evl-perf", .records = 100000,
                          .record_size = 100, .partitions = 1, .threads = 1,
                          .batch = 1};
    int status = perf_parse(cli, argc, argv, &o);

    if (status >= 0)
        return status;
    return perf_run(cli, &o);
}
