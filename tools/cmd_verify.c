/*
 * cmd_verify.c - `evl verify [TOPIC] [--repair]`: check a log's records.
 *
 * Through the public API only: per partition, a reader with checksum checks
 * on reads from the log start to the end offset, and every record must come
 * back with the next offset. A record that fails its checksum or structure
 * check (EVL_ECORRUPT) is reported with its offset; the tool then probes
 * forward by seeking (linearly, then by doubling and bisecting) for the first
 * offset that reads again, and reports the unreadable range. Indexes are
 * checked by sampling: seeking to about 32 offsets per partition must land
 * exactly there, and a time seek to a sampled record's timestamp must not
 * return an earlier timestamp.
 *
 * Repair, and its limits: a plain open runs the library's recovery, which
 * within a boot cuts nothing that was published (a frame published whole and
 * damaged later is corruption: kept, reported, readers stop there), and
 * after a reboot truncates torn records past the last checkpoint. verify
 * reports what recovery dropped (EVL_STAT_TRUNCATED_BYTES and the library's
 * log messages); that counts as a problem. --repair opens the log with
 * recovery.mode=rebuild: every partition is rebuilt from its files as after
 * a power loss, which cuts whatever fails its checks past the last
 * checkpoint (torn or corrupt tails), and damaged metadata is set aside and
 * rebuilt from the topics' files; what that drops is the repair. Damage
 * before a checkpoint (bit rot in data already fsynced) is not cut: it is
 * reported with its offsets and the exit status stays 1. Readers stop at
 * such a record; skip it with `evl consume -o OFFSET` or a group reset.
 */
#include "evl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_SAMPLES 32
#define LINEAR_PROBES 4096

static const char help_verify[] =
    "usage: evl verify [TOPIC] [--repair] [--json]\n"
    "\n"
    "Read every record of every partition (of TOPIC, or of all topics) with\n"
    "checksums on; check that offsets are contiguous from the log start to\n"
    "the end offset, and that the offset and time indexes find sampled\n"
    "records. Exit status 0 when clean, 1 with a report of the problems.\n"
    "\n"
    "  --repair   rebuild every partition from its files (as after a power\n"
    "             loss): records that fail their checks past the last\n"
    "             checkpoint (torn or corrupt tails) are cut, and damaged or\n"
    "             lost metadata is rebuilt from the topics' files. Run it\n"
    "             with no other process using the log. Corrupt records in\n"
    "             data already fsynced are not cut: they are reported with\n"
    "             their offsets, and the exit status stays 1.\n"
    "  --json     one JSON document: {\"clean\":BOOL,\"problems\":N,\n"
    "             \"records\":N,\"truncated_bytes\":N,\"log\":[MESSAGE,...],\n"
    "             \"partitions\":[{\"topic\":T,\"partition\":P,\"records\":N,\n"
    "             \"start_offset\":N,\"end_offset\":N,\"problems\":[TEXT,...]}]}\n";

/* Messages the library logs while we verify (from any of its threads). */
struct log_notes {
    pthread_mutex_t lock;
    char **msgs;
    size_t count;
};

/* The state of one partition's check. */
struct part_check {
    const char *topic;
    int partition;
    evl_partition_info_t info;
    int64_t records;
    int corrupt;          /* any unreadable record: skip index sampling */
    int compacted;        /* cleanup.policy compacts: offsets have gaps */
    char **problems;
    size_t nproblems;
};

struct verify {
    struct cli *cli;
    int repair;
    int64_t records, problems, partitions;
    int printed;          /* JSON: partitions printed so far */
};

/* ---- collecting -------------------------------------------------------------- */

static void notes_cb(void *opaque, int level, const char *msg)
{
    struct log_notes *n = opaque;
    char **grown;

    if (level > EVL_LOG_NOTICE)
        return;
    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < n->count; i++) {
        if (strcmp(n->msgs[i], msg) == 0) { /* once is enough */
            pthread_mutex_unlock(&n->lock);
            return;
        }
    }
    grown = realloc(n->msgs, (n->count + 1) * sizeof *grown);
    if (grown) {
        n->msgs = grown;
        if ((n->msgs[n->count] = strdup(msg)) != NULL)
            n->count++;
    }
    pthread_mutex_unlock(&n->lock);
}

static void problem(struct part_check *pc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void problem(struct part_check *pc, const char *fmt, ...)
{
    char buf[512], **grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    grown = realloc(pc->problems, (pc->nproblems + 1) * sizeof *grown);
    if (!grown)
        return;
    pc->problems = grown;
    if ((pc->problems[pc->nproblems] = strdup(buf)) != NULL)
        pc->nproblems++;
}

static void free_strings(char **v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- reading ------------------------------------------------------------------ */

/* Does offset o read back (as o) after a seek? */
static int readable(evl_reader_t *rd, int64_t o)
{
    const evl_record_t *rec;
    return evl_reader_seek(rd, o) == 0 && evl_reader_next(rd, 0, &rec) == 0 &&
           evl_record_offset(rec) == o;
}

/*
 * The first offset after bad (< end) that reads again, or end. Linear for
 * LINEAR_PROBES offsets, then doubling to find a readable one and bisecting
 * back to the first (assuming the damage is one contiguous stretch).
 */
static int64_t find_readable(evl_reader_t *rd, int64_t bad, int64_t end)
{
    int64_t o, step = LINEAR_PROBES, lo, hi, mid;

    for (o = bad + 1; o < end && o <= bad + LINEAR_PROBES; o++)
        if (readable(rd, o))
            return o;
    lo = bad + LINEAR_PROBES;
    for (hi = lo + step; hi < end && !readable(rd, hi); hi += step)
        lo = hi, step *= 2;
    if (hi >= end)
        hi = end - 1;
    if (lo >= end - 1 || !readable(rd, hi))
        return end;
    while (hi - lo > 1) { /* lo unreadable, hi readable */
        mid = lo + (hi - lo) / 2;
        if (readable(rd, mid))
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* Read the partition from its start; note gaps and corrupt records. */
static void scan_partition(struct part_check *pc, evl_reader_t *rd)
{
    const evl_record_t *rec;
    int64_t expected = pc->info.start_offset, end = pc->info.end_offset, off;
    int rc;

    for (;;) {
        rc = evl_reader_next(rd, 0, &rec);
        if (rc == 0) {
            off = evl_record_offset(rec);
            /* Compaction leaves gaps; nothing ever goes backwards. */
            if (off < expected || (off > expected && !pc->compacted))
                problem(pc, "offset gap: expected %lld, read %lld",
                        (long long)expected, (long long)off);
            if (evl_record_partition(rec) != pc->partition)
                problem(pc, "offset %lld says partition %d", (long long)off,
                        (int)evl_record_partition(rec));
            expected = off + 1;
            pc->records++;
            continue;
        }
        if (rc == EVL_ETIMEDOUT) {
            if (expected < end)
                problem(pc, "the log ends at offset %lld, before the end "
                        "offset %lld", (long long)expected, (long long)end);
            return;
        }
        if (rc == EVL_EOFFSET) { /* retention moved the start meanwhile */
            if (evl_reader_seek(rd, EVL_OFFSET_BEGINNING) != 0)
                return;
            expected = evl_reader_position(rd);
            continue;
        }
        off = evl_reader_position(rd);
        pc->corrupt = 1;
        if (rc != EVL_ECORRUPT) {
            problem(pc, "offset %lld: read failed: %s", (long long)off,
                    evl_strerror(rc));
            return;
        }
        if (off >= end) {
            problem(pc, "offset %lld: unreadable bytes after the end of the "
                    "log (a torn write); readers stop here until an append "
                    "overwrites them", (long long)off);
            return;
        }
        expected = find_readable(rd, off, end);
        if (expected >= end) {
            problem(pc, "offset %lld: corrupt record; offsets %lld to %lld "
                    "(the end) are unreadable", (long long)off, (long long)off,
                    (long long)end - 1);
            return;
        }
        problem(pc, "offset %lld: corrupt record; offsets %lld to %lld are "
                "unreadable, reading resumes at %lld", (long long)off,
                (long long)off, (long long)expected - 1, (long long)expected);
        evl_reader_seek(rd, expected);
    }
}

/* Sample the offset and time indexes. */
static void check_indexes(struct part_check *pc, evl_reader_t *rd)
{
    const evl_record_t *rec;
    int64_t start = pc->info.start_offset, end = pc->info.end_offset;
    int64_t stride = (end - start) / INDEX_SAMPLES + 1, o, ts;
    int rc;

    for (o = start; o < end; o += stride) {
        if ((rc = evl_reader_seek(rd, o)) != 0 ||
            (rc = evl_reader_next(rd, 0, &rec)) != 0) {
            problem(pc, "index: seek to offset %lld failed: %s", (long long)o,
                    evl_strerror(rc));
            continue;
        }
        if (evl_record_offset(rec) < o ||
            (evl_record_offset(rec) != o && !pc->compacted)) {
            problem(pc, "index: seek to offset %lld read offset %lld",
                    (long long)o, (long long)evl_record_offset(rec));
            continue;
        }
        o = evl_record_offset(rec); /* compacted: the next one still there */
        ts = evl_record_timestamp(rec);
        if ((rc = evl_reader_seek_time(rd, ts)) != 0 ||
            (rc = evl_reader_next(rd, 0, &rec)) != 0)
            problem(pc, "time index: seek to %lld (offset %lld) failed: %s",
                    (long long)ts, (long long)o, evl_strerror(rc));
        else if (evl_record_timestamp(rec) < ts || evl_record_offset(rec) > o)
            problem(pc, "time index: seek to %lld found offset %lld, "
                    "timestamp %lld", (long long)ts,
                    (long long)evl_record_offset(rec),
                    (long long)evl_record_timestamp(rec));
    }
}

static void check_partition(evl_log_t *log, struct part_check *pc)
{
    evl_reader_t *rd = NULL;
    int rc;

    char policy[32] = "";
    if ((rc = evl_partition_info(log, pc->topic, pc->partition, &pc->info)) ||
        (rc = evl_reader_open(log, pc->topic, pc->partition, &rd))) {
        problem(pc, "cannot open: %s", evl_strerror(rc));
        return;
    }
    if (evl_topic_config_get(log, pc->topic, "cleanup.policy", policy, sizeof policy) > 0)
        pc->compacted = strstr(policy, "compact") != NULL;
    evl_reader_set_check_crcs(rd, 1);
    if ((rc = evl_reader_seek(rd, EVL_OFFSET_BEGINNING)) != 0)
        problem(pc, "cannot seek to the log start: %s", evl_strerror(rc));
    else
        scan_partition(pc, rd);
    if (!pc->corrupt)
        check_indexes(pc, rd);
    evl_reader_close(rd);
}

/* ---- reporting ------------------------------------------------------------------ */

static void report_partition(struct verify *v, const struct part_check *pc)
{
    size_t i;

    v->records += pc->records;
    v->problems += (int64_t)pc->nproblems;
    v->partitions++;
    if (v->cli->json) {
        printf("%s{\"topic\":", v->printed++ ? "," : "");
        json_cstr(stdout, pc->topic);
        printf(",\"partition\":%d,\"records\":%lld,\"start_offset\":%lld,"
               "\"end_offset\":%lld,\"problems\":[", pc->partition,
               (long long)pc->records, (long long)pc->info.start_offset,
               (long long)pc->info.end_offset);
        for (i = 0; i < pc->nproblems; i++) {
            fputs(i ? "," : "", stdout);
            json_cstr(stdout, pc->problems[i]);
        }
        fputs("]}", stdout);
        return;
    }
    for (i = 0; i < pc->nproblems; i++)
        printf("%s/%d: %s\n", pc->topic, pc->partition, pc->problems[i]);
    printf("%s/%d: %lld records, offsets %lld to %lld: %s\n", pc->topic,
           pc->partition, (long long)pc->records,
           (long long)pc->info.start_offset,
           (long long)pc->info.end_offset - 1,
           pc->nproblems ? "PROBLEMS" : "ok");
}

static int verify_topic(struct verify *v, evl_log_t *log, const char *topic)
{
    int parts = evl_topic_partitions(log, topic), p;

    if (parts < 0)
        return cli_topic_fail(parts, topic);
    for (p = 0; p < parts; p++) {
        struct part_check pc = {.topic = topic, .partition = p};
        check_partition(log, &pc);
        report_partition(v, &pc);
        free_strings(pc.problems, pc.nproblems);
    }
    return EXIT_OK;
}

static int verify_all(struct verify *v, evl_log_t *log, const char *only)
{
    char **names = NULL;
    size_t count = 0, i;
    int rc, status = EXIT_OK;

    if (only)
        return verify_topic(v, log, only);
    if ((rc = evl_topic_list(log, &names, &count)) != 0)
        return cli_fail_rc(rc, "cannot list topics");
    for (i = 0; i < count && status == EXIT_OK; i++)
        status = verify_topic(v, log, names[i]);
    free(names);
    return status;
}

/* Groups whose committed offsets were lost with the metadata: one problem
 * each (a consumer cannot know where it was), until the group is reset. */
static int64_t lost_groups(evl_log_t *log, char *list, size_t size)
{
    char **names = NULL;
    size_t count = 0, i, len = 0;
    int64_t n = 0;
    evl_group_info_t *info;

    list[0] = '\0';
    if (evl_group_list(log, &names, &count) != 0)
        return 0;
    for (i = 0; i < count; i++) {
        if (evl_group_describe(log, names[i], &info) != 0)
            continue;
        if (evl_group_info_offsets_lost(info)) {
            n++;
            if (len + strlen(names[i]) + 3 < size)
                len += (size_t)snprintf(list + len, size - len, "%s%s",
                                        len ? ", " : "", names[i]);
        }
        evl_group_info_free(info);
    }
    free(names);
    return n;
}

/* The recovery part of the report; returns the problems it counts. */
static int64_t report_recovery(struct verify *v, evl_log_t *log,
                               const struct log_notes *notes)
{
    int64_t dropped = evl_log_stat(log, EVL_STAT_TRUNCATED_BYTES);
    int64_t rebuilt = evl_log_stat(log, EVL_STAT_TOPICS_RECOVERED), lost;
    char groups[512];
    size_t i;

    if (dropped < 0)
        dropped = 0;
    if (rebuilt < 0)
        rebuilt = 0;
    lost = lost_groups(log, groups, sizeof groups);
    if (v->cli->json) {
        printf("],\"truncated_bytes\":%lld,\"topics_rebuilt\":%lld,"
               "\"groups_offsets_lost\":%lld,\"log\":[", (long long)dropped,
               (long long)rebuilt, (long long)lost);
        for (i = 0; i < notes->count; i++) {
            fputs(i ? "," : "", stdout);
            json_cstr(stdout, notes->msgs[i]);
        }
        putchar(']');
    } else {
        for (i = 0; i < notes->count; i++)
            printf("log: %s\n", notes->msgs[i]);
        if (dropped > 0 && v->repair)
            printf("repair dropped %lld bytes of torn or corrupt records\n",
                   (long long)dropped);
        else if (dropped > 0)
            printf("recovery truncated %lld bytes of torn records\n", (long long)dropped);
        if (rebuilt > 0)
            printf("metadata was lost: %lld topic%s rebuilt from the files%s\n",
                   (long long)rebuilt, rebuilt == 1 ? "" : "s",
                   v->repair ? " (repaired)" : "");
        if (lost > 0)
            printf("committed offsets lost with the metadata: group%s %s (reset %s: evl "
                   "group reset)\n", lost == 1 ? "" : "s", groups, lost == 1 ? "it" : "them");
    }
    return (dropped > 0 && !v->repair ? 1 : 0) + (rebuilt > 0 && !v->repair ? 1 : 0) + lost;
}

static int verify_run(struct verify *v, const char *topic)
{
    struct log_notes notes = {.lock = PTHREAD_MUTEX_INITIALIZER};
    evl_config_t *cfg = evl_config_new();
    evl_log_t *log = NULL;
    int status, rc;

    if (!cfg)
        return cli_fail("out of memory");
    evl_config_set_log_cb(cfg, notes_cb, &notes);
    /* The repair: rebuild every partition's state from its files, which cuts
     * what fails its checks past the last checkpoint (torn or corrupt
     * tails), and set damaged metadata aside, rebuilding it from the files. */
    if (v->repair && evl_config_set(cfg, "recovery.mode", "repair", NULL, 0) != 0) {
        evl_config_free(cfg);
        return cli_fail("out of memory");
    }
    if ((rc = evl_log_open(v->cli->dir, cfg, &log)) != 0) {
        if (notes.count) /* the reason, e.g. which file is damaged */
            cli_note(notes.msgs[notes.count - 1]);
        status = cli_fail_rc(rc, "cannot open log directory '%s'", v->cli->dir);
    } else {
        status = EXIT_OK;
    }
    evl_config_free(cfg);
    if (status == EXIT_OK && topic && (rc = evl_topic_partitions(log, topic)) < 0)
        status = cli_topic_fail(rc, topic);
    if (status == EXIT_OK) {
        if (v->cli->json)
            fputs("{\"partitions\":[", stdout);
        status = verify_all(v, log, topic);
    }
    if (status == EXIT_OK) {
        v->problems += report_recovery(v, log, &notes);
        if (v->cli->json)
            printf(",\"records\":%lld,\"problems\":%lld,\"clean\":%s}\n",
                   (long long)v->records, (long long)v->problems,
                   v->problems ? "false" : "true");
        else
            printf("verify: %lld partition%s, %lld records, %lld problem%s\n",
                   (long long)v->partitions, v->partitions == 1 ? "" : "s",
                   (long long)v->records, (long long)v->problems,
                   v->problems == 1 ? "" : "s");
    }
    evl_log_close(log);
    free_strings(notes.msgs, notes.count);
    return status;
}

int cmd_verify(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"repair", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    struct verify v = {.cli = cli};
    const char *topic = NULL;
    int c, status;

    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_verify);
        if (c != 'r')
            return EXIT_USAGE;
        v.repair = 1;
    }
    if (optind < argc)
        topic = argv[optind++];
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if (topic && (status = cli_check_topic_name(cli, topic)) != EXIT_OK)
        return status;
    if ((status = cli_check_dir(cli)) != EXIT_OK)
        return status;
    status = verify_run(&v, topic);
    if (status == EXIT_OK && v.problems)
        status = cli_fail("verify found %lld problem%s", (long long)v.problems,
                          v.problems == 1 ? "" : "s");
    return status ? status : cli_finish_stdout();
}
