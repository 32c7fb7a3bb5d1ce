/*
 * cmd_consume.c - `evl consume TOPIC`: print records, alone or in a group.
 *
 * Two engines behind one output path:
 *  - Without -g, one evl_reader per partition. Readers give exact control of
 *    the start position (-o beginning|end|OFFSET|-N|@TS) and never change the
 *    log or any group. Several partitions are read round-robin; when all are
 *    idle in --follow mode the tool blocks in one reader's futex wait for a
 *    short slice, so a new record anywhere is printed within that slice.
 *  - With -g, an evl_consumer subscribed as a group member, so two
 *    `evl consume -g G` processes split the partitions. Auto-commit is off:
 *    after each polled batch is written and stdout flushed, exactly the
 *    printed positions are committed. Nothing printed is ever left
 *    uncommitted when a rebalance (served inside the next poll) takes a
 *    partition away, and nothing is committed that was not printed.
 *
 * Without --follow, each partition is read up to the end offset it had when
 * the tool first saw it, so a busy topic cannot keep the tool running.
 * SIGINT/SIGTERM stop either engine cleanly: commit (in a group), leave the
 * group, exit 0.
 */
#include "evl.h"

#include <eventlog/registry.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define POLL_MAX 500       /* records per consumer poll */
#define FOLLOW_WAIT_MS 200 /* one partition idle: futex wait slice */
#define MULTI_WAIT_MS 10   /* several idle partitions: wait slice on one */
#define JOIN_WAIT_MS 3000  /* without --follow: wait this long for an
                              assignment before giving up */

static const char help_consume[] =
    "usage: evl consume TOPIC [-g GROUP] [-p PARTITION] [-o OFFSET]\n"
    "                   [-c COUNT] [-f FORMAT] [--follow]\n"
    "\n"
    "Print records, by default each value and a newline.\n"
    "\n"
    "  -g, --group GROUP     join consumer group GROUP: members split the\n"
    "                        partitions; what is printed is committed\n"
    "  -p, --partition N     read only partition N (not with -g)\n"
    "  -o, --offset WHERE    where to start (default: beginning):\n"
    "                          beginning | end   the log start or end\n"
    "                          OFFSET            this offset (>= 0)\n"
    "                          -N                N records before the end of\n"
    "                                            each partition\n"
    "                          @TIMESTAMP_MS     the first record at or after\n"
    "                                            this time\n"
    "                        with -g only beginning|end, and only where the\n"
    "                        group has no committed offset yet\n"
    "  -c, --count N         stop after N records\n"
    "  -f, --format FORMAT   output format, kcat's tokens:\n"
    "                          %t topic  %p partition  %o offset  %k key\n"
    "                          %s value  %T timestamp (ms)  %h headers as\n"
    "                          NAME=VALUE,...  %K key size  %S value size\n"
    "                          %% a percent sign  \\n \\t \\r \\\\ escapes\n"
    "                        (default: \"%s\\n\"); a null key or value prints\n"
    "                        nothing\n"
    "      --value-format F  values are in Confluent's wire format with a\n"
    "                        schema of the log's registry: avro | json |\n"
    "                        protobuf; %s prints each decoded as JSON (Avro's\n"
    "                        JSON encoding, Protobuf's JSON mapping); a record\n"
    "                        that does not decode is skipped with a warning\n"
    "      --value-schema FILE  read values with this schema (Avro schema\n"
    "                        resolution; JSON: validated against it)\n"
    "  -F, --follow          wait for new records until SIGINT/SIGTERM,\n"
    "                        then commit (with -g) and exit 0\n"
    "  -d, --dir DIR         log directory\n"
    "\n"
    "Without --follow, evl exits once it has read every partition it reads\n"
    "up to the end offset the partition had when evl started reading it.\n";

enum start_how { START_BEGINNING, START_END, START_OFFSET, START_TAIL,
                 START_TIME };

struct consume_opts {
    const char *topic;
    const char *group;
    int partition;       /* -1: all */
    enum start_how how;
    int64_t value;       /* offset, N of -N, or timestamp */
    int offset_given;
    int64_t count;       /* -1: no limit */
    const char *format;
    int follow;
    int value_type;      /* -1: raw values; else evl_schema_type_t */
    const char *value_schema;
};

/* Decodes values for --value-format (NULL: raw values). */
static evl_deserializer_t *value_des;

/* One partition read by the reader engine. */
struct part_rd {
    int partition;
    evl_reader_t *rd;
    int64_t end;         /* stop here without --follow */
    int done;
};

/* Printed positions per partition, for commits in group mode. */
struct committer {
    int64_t *next;       /* next offset to commit, -1: nothing printed */
    int *dirty;
    int size;
};

/* ---- format --------------------------------------------------------------- */

/* 0 when fmt only holds known tokens; else prints a usage error, returns 2. */
static int format_check(const struct cli *cli, const char *fmt)
{
    const char *p;

    for (p = fmt; *p; p++) {
        if (*p != '%' && *p != '\\')
            continue;
        if (p[1] == '\0')
            return cli_usage(cli, "format ends in a lone '%c'", *p);
        if (*p == '%' && !strchr("tpokshTKS%", p[1]))
            return cli_usage(cli, "unknown format token '%%%c'", p[1]);
        if (*p == '\\' && !strchr("ntr\\", p[1]))
            return cli_usage(cli, "unknown format escape '\\%c'", p[1]);
        p++;
    }
    return EXIT_OK;
}

static void print_headers(FILE *out, const evl_record_t *rec)
{
    size_t i, n = evl_record_header_count(rec);
    evl_header_t h;

    for (i = 0; i < n; i++) {
        if (evl_record_header(rec, i, &h) != 0)
            break;
        if (i)
            putc(',', out);
        fwrite(h.name, 1, h.name_len, out);
        if (h.value) { /* a null value prints the name alone */
            putc('=', out);
            fwrite(h.value, 1, h.value_len, out);
        }
    }
}

static void print_token(FILE *out, char tok, const evl_record_t *rec)
{
    const void *p;
    size_t len;

    switch (tok) {
    case 't': fputs(evl_record_topic(rec), out); break;
    case 'p': fprintf(out, "%d", (int)evl_record_partition(rec)); break;
    case 'o': fprintf(out, "%lld", (long long)evl_record_offset(rec)); break;
    case 'T': fprintf(out, "%lld", (long long)evl_record_timestamp(rec)); break;
    case 'h': print_headers(out, rec); break;
    case 'k':
    case 'K':
        p = evl_record_key(rec, &len);
        if (tok == 'K')
            fprintf(out, "%lld", p ? (long long)len : -1LL);
        else if (p)
            fwrite(p, 1, len, out);
        break;
    case 's':
    case 'S':
        p = evl_record_value(rec, &len);
        if (tok == 'S')
            fprintf(out, "%lld", p ? (long long)len : -1LL);
        else if (p)
            fwrite(p, 1, len, out);
        break;
    case '%': putc('%', out); break;
    }
}

static char *decoded; /* the value of the record being printed, decoded */

static void print_record(FILE *out, const char *fmt, const evl_record_t *rec)
{
    const char *p;

    if (value_des) {
        size_t len;
        const void *v = evl_record_value(rec, &len);
        free(decoded);
        decoded = NULL;
        if (v && evl_deserializer_decode(value_des, v, len, &decoded, NULL) != 0) {
            cli_warn("topic '%s' partition %d offset %lld: value refused: %s",
                     evl_record_topic(rec), (int)evl_record_partition(rec),
                     (long long)evl_record_offset(rec), evl_registry_errmsg());
            return;
        }
    }
    for (p = fmt; *p; p++) {
        if (*p == '%' && p[1] == 's' && decoded) {
            fputs(decoded, out);
            p++;
        } else if (*p == '%') {
            print_token(out, *++p, rec);
        } else if (*p == '\\') {
            p++;
            putc(*p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p,
                 out);
        } else {
            putc(*p, out);
        }
    }
}

/* ---- options ----------------------------------------------------------------- */

static int parse_start(const struct cli *cli, const char *s,
                       struct consume_opts *o)
{
    o->offset_given = 1;
    if (strcmp(s, "beginning") == 0 || strcmp(s, "earliest") == 0)
        o->how = START_BEGINNING;
    else if (strcmp(s, "end") == 0 || strcmp(s, "latest") == 0)
        o->how = START_END;
    else if (s[0] == '@' && parse_i64(s + 1, 0, INT64_MAX, &o->value) == 0)
        o->how = START_TIME;
    else if (s[0] == '-' && parse_i64(s + 1, 0, INT64_MAX, &o->value) == 0)
        o->how = START_TAIL;
    else if (parse_i64(s, 0, INT64_MAX, &o->value) == 0)
        o->how = START_OFFSET;
    else
        return cli_usage(cli, "bad offset '%s' (want beginning, end, OFFSET, "
                         "-N or @TIMESTAMP_MS)", s);
    return EXIT_OK;
}

enum { OPT_VALUE_FORMAT = 0x1300, OPT_VALUE_SCHEMA };

static int consume_option(const struct cli *cli, struct consume_opts *o,
                          int c, const char *arg)
{
    switch (c) {
    case 'g':
        if (!*arg)
            return cli_usage(cli, "the group id must not be empty");
        o->group = arg;
        return EXIT_OK;
    case 'p':
        if (parse_int(arg, 0, 1000000, &o->partition))
            return cli_usage(cli, "bad partition '%s'", arg);
        return EXIT_OK;
    case 'o':
        return parse_start(cli, arg, o);
    case 'c':
        if (parse_i64(arg, 1, INT64_MAX, &o->count))
            return cli_usage(cli, "bad count '%s' (want a number >= 1)", arg);
        return EXIT_OK;
    case 'f':
        o->format = arg;
        return format_check(cli, arg);
    case 'F':
        o->follow = 1;
        return EXIT_OK;
    case OPT_VALUE_FORMAT:
        if ((o->value_type = evl_schema_type_parse(arg)) < 0)
            return cli_usage(cli, "bad value format '%s' (avro, json or protobuf)", arg);
        return EXIT_OK;
    case OPT_VALUE_SCHEMA:
        o->value_schema = arg;
        return EXIT_OK;
    }
    return EXIT_USAGE;
}

static int consume_parse(struct cli *cli, int argc, char **argv,
                         struct consume_opts *o)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"group", required_argument, NULL, 'g'},
        {"partition", required_argument, NULL, 'p'},
        {"offset", required_argument, NULL, 'o'},
        {"count", required_argument, NULL, 'c'},
        {"format", required_argument, NULL, 'f'},
        {"follow", no_argument, NULL, 'F'},
        {"value-format", required_argument, NULL, OPT_VALUE_FORMAT},
        {"value-schema", required_argument, NULL, OPT_VALUE_SCHEMA},
        {NULL, 0, NULL, 0},
    };
    int c, status;

    while ((c = cli_getopt(cli, argc, argv, ":d:hg:p:o:c:f:F", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_consume);
        if ((status = consume_option(cli, o, c, optarg)) != EXIT_OK)
            return status;
    }
    if (optind >= argc)
        return cli_usage(cli, "missing topic name");
    o->topic = argv[optind++];
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if (o->group && o->partition >= 0)
        return cli_usage(cli, "-p cannot be combined with -g (the group "
                         "assigns partitions)");
    if (o->group && o->offset_given && o->how != START_BEGINNING &&
        o->how != START_END)
        return cli_usage(cli, "with -g, -o takes only beginning or end (use "
                         "'evl group reset' to move a group)");
    if (o->value_schema && o->value_type < 0)
        return cli_usage(cli, "--value-schema needs --value-format");
    return cli_check_topic_name(cli, o->topic) ? EXIT_USAGE : -1;
}

/* --value-format: the log's registry and a deserializer. */
static int open_deserializer(const struct consume_opts *o, evl_log_t *log,
                             evl_registry_t **reg)
{
    char *schema = NULL;
    int rc;

    if (o->value_type < 0)
        return EXIT_OK;
    if (o->value_schema && !(schema = cli_read_text(o->value_schema)))
        return EXIT_RUNTIME;
    if ((rc = evl_registry_open(log, reg)) != 0) {
        free(schema);
        return cli_fail_rc(rc, "opening the schema registry");
    }
    rc = evl_deserializer_new(*reg, (evl_schema_type_t)o->value_type, schema, NULL, 0,
                              &value_des);
    free(schema);
    if (rc != 0)
        return cli_fail("reader schema %s: %s: %s", o->value_schema,
                        evl_registry_strerror(rc), evl_registry_errmsg());
    return EXIT_OK;
}

/* ---- reader engine ----------------------------------------------------------- */

static int position_reader(const struct consume_opts *o, evl_log_t *log,
                           struct part_rd *pr)
{
    evl_partition_info_t info;
    int64_t target;
    int rc;

    if ((rc = evl_partition_info(log, o->topic, pr->partition, &info)) != 0)
        return cli_fail_rc(rc, "topic '%s' partition %d", o->topic,
                           pr->partition);
    pr->end = info.end_offset;
    switch (o->how) {
    case START_BEGINNING: rc = evl_reader_seek(pr->rd, EVL_OFFSET_BEGINNING); break;
    case START_END: rc = evl_reader_seek(pr->rd, EVL_OFFSET_END); break;
    case START_OFFSET: rc = evl_reader_seek(pr->rd, o->value); break;
    case START_TIME: rc = evl_reader_seek_time(pr->rd, o->value); break;
    case START_TAIL:
        target = info.end_offset - o->value;
        rc = evl_reader_seek(pr->rd, target > info.start_offset
                                         ? target : info.start_offset);
        break;
    }
    if (rc == EVL_EOFFSET)
        return cli_fail("offset %lld is out of range for topic '%s' "
                        "partition %d (it holds %lld to %lld)",
                        (long long)o->value, o->topic, pr->partition,
                        (long long)info.start_offset,
                        (long long)info.end_offset);
    if (rc != 0)
        return cli_fail_rc(rc, "topic '%s' partition %d: cannot seek",
                           o->topic, pr->partition);
    return EXIT_OK;
}

static int open_readers(const struct consume_opts *o, evl_log_t *log,
                        struct part_rd *prs, int n)
{
    int i, rc, status;

    for (i = 0; i < n; i++) {
        prs[i].partition = o->partition >= 0 ? o->partition : i;
        rc = evl_reader_open(log, o->topic, prs[i].partition, &prs[i].rd);
        if (rc != 0)
            return cli_fail_rc(rc, "topic '%s' partition %d", o->topic,
                               prs[i].partition);
        if ((status = position_reader(o, log, &prs[i])) != EXIT_OK)
            return status;
    }
    return EXIT_OK;
}

/*
 * Handle one reader result: print a record, note the end, skip data lost to
 * retention. Returns 1 if a record was printed, 0 if not, or -1 - status on
 * an error to stop with.
 */
static int reader_result(const struct consume_opts *o, struct part_rd *pr,
                         int rc, const evl_record_t *rec)
{
    if (rc == 0) {
        print_record(stdout, o->format, rec);
        if (!o->follow && evl_record_offset(rec) + 1 >= pr->end)
            pr->done = 1;
        return 1;
    }
    if (rc == EVL_ETIMEDOUT) {
        if (!o->follow)
            pr->done = 1;
        return 0;
    }
    if (rc == EVL_EOFFSET) {
        cli_warn("topic '%s' partition %d: records at offset %lld were "
                 "deleted by retention while reading; skipping ahead",
                 o->topic, pr->partition,
                 (long long)evl_reader_position(pr->rd));
        rc = evl_reader_seek(pr->rd, EVL_OFFSET_BEGINNING);
        if (rc == 0)
            return 0;
    }
    if (rc == EVL_ECORRUPT)
        return -1 - cli_fail("topic '%s' partition %d offset %lld: corrupt "
                             "record (run 'evl verify')", o->topic,
                             pr->partition,
                             (long long)evl_reader_position(pr->rd));
    return -1 - cli_fail_rc(rc, "topic '%s' partition %d: read failed",
                            o->topic, pr->partition);
}

/* One pass over all partitions. Returns records printed, or -1 - status. */
static int64_t reader_round(const struct consume_opts *o, struct part_rd *prs,
                            int n, int64_t *left)
{
    const evl_record_t *rec;
    int64_t printed = 0;
    int i, k, r;

    for (i = 0; i < n && *left != 0; i++) {
        for (k = 0; k < POLL_MAX && !prs[i].done && *left != 0; k++) {
            int rc = evl_reader_next(prs[i].rd, 0, &rec);
            r = reader_result(o, &prs[i], rc, rec);
            if (r < 0)
                return r;
            if (r == 0)
                break;
            printed++;
            if (*left > 0)
                (*left)--;
        }
    }
    return printed;
}

static int all_done(const struct part_rd *prs, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (!prs[i].done)
            return 0;
    return 1;
}

static int reader_loop(const struct consume_opts *o, struct part_rd *prs,
                       int n)
{
    const evl_record_t *rec;
    int64_t left = o->count, r;
    int rc, turn = 0, wait_ms = n == 1 ? FOLLOW_WAIT_MS : MULTI_WAIT_MS;

    if (!o->follow)
        for (turn = 0; turn < n; turn++) /* nothing to read at all */
            prs[turn].done = evl_reader_position(prs[turn].rd) >= prs[turn].end;
    while (!cli_stop_requested && left != 0 && !all_done(prs, n)) {
        if ((r = reader_round(o, prs, n, &left)) < 0)
            return (int)(-1 - r);
        if (r > 0 || !o->follow || left == 0)
            continue;
        cli_flush_warnings(); /* idle in --follow: a good time to print */
        if (fflush(stdout) != 0)
            return cli_finish_stdout();
        /* All idle: sleep in one partition's futex for a short slice. */
        turn = (turn + 1) % n;
        rc = evl_reader_next(prs[turn].rd, wait_ms, &rec);
        if ((r = reader_result(o, &prs[turn], rc, rec)) < 0)
            return (int)(-1 - r);
        if (r > 0 && left > 0)
            left--;
    }
    return EXIT_OK;
}

static int consume_readers(struct cli *cli, const struct consume_opts *o,
                           evl_log_t *log)
{
    int parts = evl_topic_partitions(log, o->topic);
    struct part_rd *prs;
    int n, i, status;

    if (parts < 0)
        return cli_topic_fail(parts, o->topic);
    if (o->partition >= parts)
        return cli_fail("partition %d does not exist (topic '%s' has %d)",
                        o->partition, o->topic, parts);
    n = o->partition >= 0 ? 1 : parts;
    prs = calloc((size_t)n, sizeof *prs);
    if (!prs)
        return cli_fail("out of memory");
    status = open_readers(o, log, prs, n);
    if (status == EXIT_OK)
        status = reader_loop(o, prs, n);
    for (i = 0; i < n; i++)
        evl_reader_close(prs[i].rd);
    free(prs);
    return status;
}

/* ---- group engine ------------------------------------------------------------- */

static int committer_note(struct committer *cm, int partition, int64_t next)
{
    if (partition >= cm->size) {
        int size = partition + 16, i;
        int64_t *nx = realloc(cm->next, (size_t)size * sizeof *nx);
        int *dt = nx ? realloc(cm->dirty, (size_t)size * sizeof *dt) : NULL;
        if (nx)
            cm->next = nx;
        if (!dt)
            return -1;
        cm->dirty = dt;
        for (i = cm->size; i < size; i++) {
            cm->next[i] = -1;
            cm->dirty[i] = 0;
        }
        cm->size = size;
    }
    cm->next[partition] = next;
    cm->dirty[partition] = 1;
    return 0;
}

static int commit_chunk(evl_consumer_t *cons, const evl_topic_partition_t *tps,
                        size_t n)
{
    int rc = n ? evl_consumer_commit_offsets(cons, tps, n, NULL) : 0;

    if (rc == EVL_EFENCED)
        cli_warn("the group rebalanced before the commit; another member "
                 "may print some records again");
    else if (rc != 0)
        return cli_fail_rc(rc, "cannot commit offsets");
    return EXIT_OK;
}

/* Flush stdout, then commit what it now holds. Returns an exit status. */
static int committer_commit(struct committer *cm, evl_consumer_t *cons,
                            const char *topic)
{
    evl_topic_partition_t tps[64];
    size_t n = 0;
    int i, status;

    if (fflush(stdout) != 0)
        return cli_finish_stdout();
    for (i = 0; i < cm->size; i++) {
        if (!cm->dirty[i])
            continue;
        cm->dirty[i] = 0;
        tps[n].topic = topic;
        tps[n].partition = i;
        tps[n].offset = cm->next[i];
        if (++n < sizeof tps / sizeof tps[0])
            continue;
        if ((status = commit_chunk(cons, tps, n)) != EXIT_OK)
            return status;
        n = 0;
    }
    return commit_chunk(cons, tps, n);
}

struct group_run {
    const struct consume_opts *o;
    evl_log_t *log;
    evl_consumer_t *cons;
    struct committer cm;
    int64_t *snap_end;   /* per partition: end offset when first owned */
    int snap_size;
    int64_t left;
};

/* Without --follow: has every owned partition been read to its end? */
static int group_done(struct group_run *g, int *owned)
{
    evl_topic_partition_t *parts = NULL;
    evl_partition_info_t info;
    size_t count = 0, i;
    int64_t pos;
    int done = 1, p;

    *owned = 0;
    if (evl_consumer_assignment(g->cons, &parts, &count) != 0)
        return 0;
    for (i = 0; i < count && done; i++) {
        p = parts[i].partition;
        if (p < 0 || p >= g->snap_size)
            continue;
        if (g->snap_end[p] < 0 &&
            evl_partition_info(g->log, g->o->topic, p, &info) == 0)
            g->snap_end[p] = info.end_offset;
        if (evl_consumer_position(g->cons, g->o->topic, p, &pos) != 0 ||
            pos < g->snap_end[p])
            done = 0;
    }
    *owned = count > 0;
    free(parts);
    return done && count > 0;
}

static int group_batch(struct group_run *g, const evl_record_t **recs,
                       size_t n)
{
    size_t i;

    for (i = 0; i < n && g->left != 0; i++) {
        print_record(stdout, g->o->format, recs[i]);
        if (committer_note(&g->cm, evl_record_partition(recs[i]),
                           evl_record_offset(recs[i]) + 1) != 0)
            return cli_fail("out of memory");
        if (g->left > 0)
            g->left--;
    }
    return committer_commit(&g->cm, g->cons, g->o->topic);
}

static int group_loop(struct group_run *g)
{
    const evl_record_t *recs[POLL_MAX];
    uint64_t started = mono_ns();
    size_t n, max;
    int rc, owned, status;

    while (!cli_stop_requested && g->left != 0) {
        max = g->left > 0 && g->left < POLL_MAX ? (size_t)g->left : POLL_MAX;
        rc = evl_consumer_poll(g->cons, FOLLOW_WAIT_MS, recs, max, &n);
        if (rc == 0 && (status = group_batch(g, recs, n)) != EXIT_OK)
            return status;
        if (rc == EVL_EFENCED) /* removed for not polling; it rejoined */
            cli_warn("group '%s': this member was removed and joined again; "
                     "another member may print some records again",
                     g->o->group);
        else if (rc != 0 && rc != EVL_ETIMEDOUT)
            return cli_fail_rc(rc, "group '%s': poll failed", g->o->group);
        if (g->o->follow) {
            cli_flush_warnings();
            continue;
        }
        if (group_done(g, &owned))
            break;
        if (!owned && mono_ns() - started > JOIN_WAIT_MS * 1000000ull)
            break; /* the other members own every partition */
    }
    return EXIT_OK;
}

static int group_consumer(struct cli *cli, const struct consume_opts *o,
                          evl_log_t *log, evl_consumer_t **cons)
{
    evl_config_t *cfg = evl_config_new();
    int status = cfg ? EXIT_OK : cli_fail("out of memory");
    int rc;

    if (status == EXIT_OK)
        status = cli_config_set(cli, cfg, "group.id", o->group);
    if (status == EXIT_OK)
        status = cli_config_set(cli, cfg, "enable.auto.commit", "false");
    if (status == EXIT_OK)
        status = cli_config_set(cli, cfg, "auto.offset.reset",
                                o->how == START_END ? "latest" : "earliest");
    if (status == EXIT_OK && (rc = evl_consumer_new(log, cfg, cons)) != 0)
        status = rc == EVL_EBADNAME
                     ? cli_usage(cli, "invalid group id '%s'", o->group)
                     : cli_fail_rc(rc, "group '%s'", o->group);
    evl_config_free(cfg);
    return status;
}

static int consume_group(struct cli *cli, const struct consume_opts *o,
                         evl_log_t *log)
{
    struct group_run g = {.o = o, .log = log, .left = o->count};
    const char *topics[1] = {o->topic};
    int parts = evl_topic_partitions(log, o->topic);
    int status, rc, i;

    if (parts < 0)
        return cli_topic_fail(parts, o->topic);
    g.snap_size = parts;
    g.snap_end = malloc((size_t)parts * sizeof *g.snap_end);
    if (!g.snap_end)
        return cli_fail("out of memory");
    for (i = 0; i < parts; i++)
        g.snap_end[i] = -1;
    status = group_consumer(cli, o, log, &g.cons);
    if (status == EXIT_OK && (rc = evl_consumer_subscribe(g.cons, topics, 1)))
        status = cli_fail_rc(rc, "group '%s': cannot subscribe to '%s'",
                             o->group, o->topic);
    if (status == EXIT_OK)
        status = group_loop(&g);
    if (status == EXIT_OK && g.cons)
        status = committer_commit(&g.cm, g.cons, o->topic);
    evl_consumer_close(g.cons);
    free(g.snap_end);
    free(g.cm.next);
    free(g.cm.dirty);
    return status;
}

int cmd_consume(struct cli *cli, int argc, char **argv)
{
    struct consume_opts o = {.partition = -1, .how = START_BEGINNING,
                             .count = -1, .format = "%s\\n", .value_type = -1};
    evl_registry_t *reg = NULL;
    evl_log_t *log;
    int status = consume_parse(cli, argc, argv, &o);

    if (status >= 0)
        return status;
    if ((status = cli_open_log(cli, 0, &log)) != EXIT_OK)
        return status;
    cli_install_stop_signals();
    if ((status = open_deserializer(&o, log, &reg)) != EXIT_OK)
        ;
    else if (o.group)
        status = consume_group(cli, &o, log);
    else
        status = consume_readers(cli, &o, log);
    evl_deserializer_free(value_des);
    value_des = NULL;
    free(decoded);
    decoded = NULL;
    evl_registry_close(reg);
    evl_log_close(log);
    if (status == EXIT_OK)
        status = cli_finish_stdout();
    return status;
}
