/*
 * cmd_produce.c - `evl produce TOPIC`: one record per line of stdin.
 *
 * Streaming: stdin is read with read(2) into one fixed buffer of
 * max.message.bytes plus a read chunk, and lines are cut out of it in place,
 * so memory stays flat on a multi-GB input. A line that cannot fit is an
 * error ("longer than max.message.bytes"), never a reason to grow.
 *
 * Batching without adding latency: every complete line already in the buffer
 * goes into one evl_producer_send_batch() call (one checksum and, with
 * --acks fsync, one shared fsync per partition), and the batch is sent before
 * the tool blocks in read(2) for more input. An interactive writer therefore
 * sees each line acknowledged at once, and a fast pipe gets large batches.
 * Records close to max.message.bytes are sent alone, because the library
 * applies that limit to a whole batch too.
 *
 * --print-offsets prints "PARTITION OFFSET" per record, in input order, only
 * after the send call returned success at the chosen --acks level; stdout is
 * then line-buffered, so a line on stdout always means an acknowledged
 * record, even if the tool is killed right after.
 */
#include "evl.h"

#include <eventlog/registry.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define BATCH_MAX 1024   /* records per send_batch() call */
#define RECORD_SLACK 256 /* bytes kept free for the record encoding */

static const char help_produce[] =
    "usage: evl produce TOPIC [-K DELIM] [-p PARTITION] [-H NAME=VALUE]...\n"
    "                   [--acks none|flush|fsync] [--print-offsets] [--create]\n"
    "\n"
    "Append one record per line of stdin (the newline is not part of it).\n"
    "\n"
    "  -K, --key-delimiter DELIM  the text before the first DELIM is the key,\n"
    "                             the rest the value; a line without DELIM\n"
    "                             gets a null key\n"
    "  -p, --partition N          write to partition N (default: keys are\n"
    "                             hashed; keyless records are spread)\n"
    "  -H, --header NAME=VALUE    add this header to every record (repeatable)\n"
    "      --acks LEVEL           when a record counts as written:\n"
    "                               none   in the page cache (survives a crash\n"
    "                                      of evl, not of the machine)\n"
    "                               flush  also flushed by the background\n"
    "                                      thread every flush.interval.ms\n"
    "                               fsync  on disk before it is acknowledged\n"
    "                             (default: the topic's durability setting)\n"
    "      --print-offsets        print \"PARTITION OFFSET\" for each record once\n"
    "                             acknowledged, in input order, line-buffered\n"
    "      --value-schema FILE    each value is a JSON text (Avro's JSON\n"
    "                             encoding, a JSON document, Protobuf's JSON\n"
    "                             mapping) written in Confluent's wire format\n"
    "                             with this schema, registered under\n"
    "                             TOPIC-value in the log's registry first; an\n"
    "                             incompatible schema writes nothing, a line\n"
    "                             that does not fit it stops evl (exit 1)\n"
    "      --schema-type TYPE     avro (default) | json | protobuf\n"
    "      --create               create the topic (with the log's defaults)\n"
    "                             if it does not exist\n"
    "  -d, --dir DIR              log directory\n"
    "\n"
    "A line longer than the topic's max.message.bytes stops evl with exit\n"
    "status 1; the lines before it are written.\n";

struct produce_opts {
    const char *topic;
    const char *key_delim; /* -K, or NULL */
    size_t key_delim_len;
    int partition;         /* -p, or EVL_PARTITION_ANY */
    evl_header_t *headers; /* -H */
    size_t header_count;
    size_t header_bytes;
    int acks;              /* 0: the topic's default */
    int print_offsets;
    int create;
    const char *value_schema; /* --value-schema FILE */
    int schema_type;
};

/* Fixed-size line buffer over a file descriptor. */
struct line_reader {
    int fd;
    char *buf;
    size_t cap, start, end; /* unconsumed bytes are buf[start, end) */
    size_t max_line;
    int eof;
    int64_t lineno;         /* lines handed out so far */
};

struct batch {
    evl_producer_t *prod;
    const struct produce_opts *o;
    evl_msg_t *msgs;
    size_t count;
    size_t bytes;           /* payload bytes in msgs */
    size_t max_bytes;       /* flush a batch before it passes this */
    int64_t first_line;     /* line number of msgs[0] */
    int flags;
    evl_serializer_t *ser;  /* --value-schema */
    void **owned;           /* encoded values of msgs (with ser) */
};

/* ---- options ------------------------------------------------------------- */

enum { OPT_ACKS = 0x1200, OPT_PRINT_OFFSETS, OPT_CREATE, OPT_VALUE_SCHEMA, OPT_SCHEMA_TYPE };

static int parse_acks(const char *s)
{
    if (strcmp(s, "none") == 0)
        return EVL_DURABILITY_NONE;
    if (strcmp(s, "flush") == 0)
        return EVL_DURABILITY_INTERVAL;
    if (strcmp(s, "fsync") == 0)
        return EVL_DURABILITY_FSYNC;
    return -1;
}

static int add_header(struct cli *cli, struct produce_opts *o, char *arg)
{
    char *eq = strchr(arg, '=');

    if (!eq || eq == arg)
        return cli_usage(cli, "malformed header '%s' (want NAME=VALUE)", arg);
    o->headers[o->header_count].name = arg;
    o->headers[o->header_count].name_len = (size_t)(eq - arg);
    o->headers[o->header_count].value = eq + 1;
    o->headers[o->header_count].value_len = strlen(eq + 1);
    o->header_bytes += strlen(arg) + 8;
    o->header_count++;
    return EXIT_OK;
}

static int produce_option(struct cli *cli, struct produce_opts *o, int c,
                          char *arg)
{
    switch (c) {
    case 'K':
        if (!*arg)
            return cli_usage(cli, "the key delimiter must not be empty");
        o->key_delim = arg;
        o->key_delim_len = strlen(arg);
        return EXIT_OK;
    case 'p':
        if (parse_int(arg, 0, 1000000, &o->partition))
            return cli_usage(cli, "bad partition '%s'", arg);
        return EXIT_OK;
    case 'H':
        return add_header(cli, o, arg);
    case OPT_ACKS:
        if ((o->acks = parse_acks(arg)) < 0)
            return cli_usage(cli, "bad --acks '%s' (none, flush or fsync)",
                             arg);
        return EXIT_OK;
    case OPT_PRINT_OFFSETS:
        o->print_offsets = 1;
        return EXIT_OK;
    case OPT_VALUE_SCHEMA:
        o->value_schema = arg;
        return EXIT_OK;
    case OPT_SCHEMA_TYPE:
        if ((o->schema_type = evl_schema_type_parse(arg)) < 0)
            return cli_usage(cli, "bad schema type '%s' (avro, json or protobuf)", arg);
        return EXIT_OK;
    case OPT_CREATE:
        o->create = 1;
        return EXIT_OK;
    }
    return EXIT_USAGE;
}

/* Returns -1 to go on, else an exit status. */
static int produce_parse(struct cli *cli, int argc, char **argv,
                         struct produce_opts *o)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"key-delimiter", required_argument, NULL, 'K'},
        {"partition", required_argument, NULL, 'p'},
        {"header", required_argument, NULL, 'H'},
        {"acks", required_argument, NULL, OPT_ACKS},
        {"print-offsets", no_argument, NULL, OPT_PRINT_OFFSETS},
        {"create", no_argument, NULL, OPT_CREATE},
        {"value-schema", required_argument, NULL, OPT_VALUE_SCHEMA},
        {"schema-type", required_argument, NULL, OPT_SCHEMA_TYPE},
        {NULL, 0, NULL, 0},
    };
    int c, status;

    while ((c = cli_getopt(cli, argc, argv, ":d:hK:p:H:", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_produce);
        if ((status = produce_option(cli, o, c, optarg)) != EXIT_OK)
            return status;
    }
    if (optind >= argc)
        return cli_usage(cli, "missing topic name");
    o->topic = argv[optind++];
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    return cli_check_topic_name(cli, o->topic) ? EXIT_USAGE : -1;
}

/* ---- reading lines ---------------------------------------------------------- */

enum { LR_LINE = 1, LR_REFILL = 0, LR_EOF = -1, LR_TOOLONG = -2 };

/*
 * The next complete line (without its newline) in the buffer. LR_REFILL when
 * the buffer holds no complete line: the caller sends what references the
 * buffer, then calls lr_fill(). The last line may lack a newline.
 */
static int lr_next(struct line_reader *lr, char **line, size_t *len)
{
    char *start = lr->buf + lr->start;
    size_t avail = lr->end - lr->start;
    char *nl = memchr(start, '\n', avail);

    if (!nl && !lr->eof) {
        if (avail > lr->max_line)
            return LR_TOOLONG;
        return LR_REFILL;
    }
    if (!nl && avail == 0)
        return LR_EOF;
    *line = start;
    *len = nl ? (size_t)(nl - start) : avail;
    if (*len > lr->max_line)
        return LR_TOOLONG;
    lr->start += *len + (nl ? 1 : 0);
    lr->lineno++;
    return LR_LINE;
}

/* Move the unconsumed bytes to the front and read more. 0 or -1 (errno). */
static int lr_fill(struct line_reader *lr)
{
    ssize_t n;

    if (lr->start > 0) {
        memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
        lr->end -= lr->start;
        lr->start = 0;
    }
    do {
        n = read(lr->fd, lr->buf + lr->end, lr->cap - lr->end);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if (n == 0)
        lr->eof = 1;
    lr->end += (size_t)n;
    return 0;
}

/* ---- sending ------------------------------------------------------------------ */

static void line_to_msg(const struct produce_opts *o, char *line, size_t len,
                        evl_msg_t *m)
{
    char *delim = o->key_delim
                      ? memmem(line, len, o->key_delim, o->key_delim_len)
                      : NULL;

    memset(m, 0, sizeof *m);
    if (delim) {
        m->key = line;
        m->key_len = (size_t)(delim - line);
        m->value = delim + o->key_delim_len;
        m->value_len = len - m->key_len - o->key_delim_len;
    } else {
        m->value = line;
        m->value_len = len;
    }
    m->headers = o->header_count ? o->headers : NULL;
    m->header_count = o->header_count;
    m->timestamp = EVL_TIMESTAMP_NOW;
    m->partition = o->partition;
    m->offset = -1;
}

/* The lines of b whose records were written (offset set), as ranges
 * "A-B, C" (at most a few, then "..."), into buf. Returns how many. */
static size_t written_lines(const struct batch *b, char *buf, size_t size)
{
    size_t i, n = 0, len = 0, ranges = 0;

    buf[0] = '\0';
    for (i = 0; i < b->count; i++) {
        size_t j = i;
        if (b->msgs[i].offset < 0)
            continue;
        while (j + 1 < b->count && b->msgs[j + 1].offset >= 0)
            j++;
        n += j - i + 1;
        if (ranges++ < 4 && len < size)
            len += (size_t)snprintf(buf + len, size - len, j > i ? "%s%lld-%lld" : "%s%lld",
                                    len ? ", " : "", (long long)(b->first_line + (int64_t)i),
                                    (long long)(b->first_line + (int64_t)j));
        else if (ranges == 5 && len < size)
            len += (size_t)snprintf(buf + len, size - len, ", ...");
        i = j;
    }
    return n;
}

/* A send of the batch failed: say exactly what was written. A batch spans
 * partitions; the library appends each partition's records as frames, and
 * those written before the failure stay (their offsets are set), so a
 * retry of the whole batch would write them twice. */
static int send_fail(const struct batch *b, int rc, int64_t line)
{
    char lines[160];
    size_t n = written_lines(b, lines, sizeof lines);
    int64_t last = line + (int64_t)b->count - 1;

    if (rc == EVL_ETOOBIG)
        return cli_fail("line %lld: record is larger than the topic's "
                        "max.message.bytes; nothing of lines %lld-%lld was written",
                        (long long)line, (long long)line, (long long)last);
    if (rc == EVL_EDURABILITY)
        return cli_fail_rc(rc, "lines %lld-%lld were appended to topic '%s' but "
                           "are not known to be on disk", (long long)line,
                           (long long)last, b->o->topic);
    if (n == 0 && b->count == 1)
        return cli_fail_rc(rc, "line %lld: cannot append to topic '%s'; it was not "
                           "written", (long long)line, b->o->topic);
    if (n == 0)
        return cli_fail_rc(rc, "lines %lld-%lld: cannot append to topic '%s'; none "
                           "of them was written", (long long)line, (long long)last,
                           b->o->topic);
    return cli_fail_rc(rc, "lines %lld-%lld: cannot append to topic '%s'; %zu of "
                       "those %zu lines were written (line%s %s), the others were "
                       "not", (long long)line, (long long)last, b->o->topic, n,
                       b->count, n == 1 ? "" : "s", lines);
}

/* Send the pending records; print their offsets. Returns an exit status. */
static int batch_flush(struct batch *b)
{
    size_t i;
    int rc;

    if (b->count == 0)
        return EXIT_OK;
    if (b->count == 1)
        rc = evl_producer_send(b->prod, &b->msgs[0], b->flags);
    else
        rc = evl_producer_send_batch(b->prod, b->msgs, b->count, b->flags);
    if (b->o->print_offsets) /* those written, also when the rest failed */
        for (i = 0; i < b->count; i++)
            if (b->msgs[i].offset >= 0)
                printf("%d %lld\n", (int)b->msgs[i].partition,
                       (long long)b->msgs[i].offset);
    for (i = 0; b->owned && i < b->count; i++) {
        free(b->owned[i]);
        b->owned[i] = NULL;
    }
    if (rc != 0) {
        fflush(stdout);
        return send_fail(b, rc, b->first_line);
    }
    b->count = 0;
    b->bytes = 0;
    if (ferror(stdout))
        return cli_finish_stdout();
    return EXIT_OK;
}

/* Queue one line; sends first when the batch is full. */
static int batch_add(struct batch *b, char *line, size_t len, int64_t lineno)
{
    size_t size = len + b->o->header_bytes + RECORD_SLACK;
    int status;

    if (b->count == BATCH_MAX || b->bytes + size > b->max_bytes) {
        if ((status = batch_flush(b)) != EXIT_OK)
            return status;
    }
    if (b->count == 0)
        b->first_line = lineno;
    line_to_msg(b->o, line, len, &b->msgs[b->count]);
    if (b->ser) {
        evl_msg_t *m = &b->msgs[b->count];
        size_t n;
        int rc = evl_serializer_encode(b->ser, m->value, m->value_len, &b->owned[b->count], &n);
        if (rc != 0) {
            int status = batch_flush(b); /* the lines before it are written */
            if (status != EXIT_OK)
                return status;
            return cli_fail("line %lld: %s: %s", (long long)lineno, evl_registry_strerror(rc),
                            evl_registry_errmsg());
        }
        m->value = b->owned[b->count];
        m->value_len = n;
        size += n;
    }
    b->count++;
    b->bytes += size;
    /* A record near the limit goes alone: the limit applies to batches. */
    if (size > b->max_bytes)
        return batch_flush(b);
    return EXIT_OK;
}

static int produce_stream(struct batch *b, struct line_reader *lr)
{
    char *line;
    size_t len;
    int r, status;

    for (;;) {
        r = lr_next(lr, &line, &len);
        if (r == LR_LINE) {
            if ((status = batch_add(b, line, len, lr->lineno)) != EXIT_OK)
                return status;
            continue;
        }
        /* Everything queued points into the buffer: send before reuse. */
        if ((status = batch_flush(b)) != EXIT_OK)
            return status;
        if (r == LR_EOF)
            return EXIT_OK;
        if (r == LR_TOOLONG)
            return cli_fail("line %lld is longer than the topic's "
                            "max.message.bytes (%zu bytes)",
                            (long long)lr->lineno + 1, lr->max_line);
        if (lr_fill(lr) != 0)
            return cli_fail("reading stdin: %s", strerror(errno));
    }
}

/* ---- setup -------------------------------------------------------------------- */

static int open_topic(struct cli *cli, const struct produce_opts *o,
                      evl_log_t **log)
{
    int status = cli_open_log(cli, o->create, log);
    int parts, rc;

    if (status)
        return status;
    parts = evl_topic_partitions(*log, o->topic);
    if (parts == EVL_ENOTFOUND && o->create) {
        rc = evl_topic_create(*log, o->topic, 0, NULL);
        if (rc != 0 && rc != EVL_EEXIST)
            return cli_topic_fail(rc, o->topic);
        parts = evl_topic_partitions(*log, o->topic);
    }
    if (parts == EVL_ENOTFOUND)
        return cli_fail("topic '%s' does not exist (create it with 'evl "
                        "topic create' or use --create)", o->topic);
    if (parts < 0)
        return cli_topic_fail(parts, o->topic);
    if (o->partition >= parts)
        return cli_fail("partition %d does not exist (topic '%s' has %d)",
                        o->partition, o->topic, parts);
    return EXIT_OK;
}

static size_t topic_max_message(evl_log_t *log, const char *topic)
{
    char buf[32];
    int64_t v;

    if (evl_topic_config_get(log, topic, "max.message.bytes", buf,
                             sizeof buf) < 0 ||
        parse_i64(buf, 1, INT64_C(1) << 40, &v))
        return 1048576;
    return (size_t)v;
}

/* --value-schema: register it under TOPIC-value and make the serializer. */
static int open_serializer(const struct produce_opts *o, evl_log_t *log,
                           evl_registry_t **reg, struct batch *b)
{
    char *schema = cli_read_text(o->value_schema);
    int rc;

    if (!schema)
        return EXIT_RUNTIME;
    if ((rc = evl_registry_open(log, reg)) != 0) {
        free(schema);
        return cli_fail_rc(rc, "opening the schema registry");
    }
    rc = evl_serializer_new(*reg, o->topic, (evl_schema_type_t)o->schema_type, schema, NULL,
                            0, NULL, &b->ser);
    free(schema);
    if (rc != 0)
        return cli_fail("schema %s: %s: %s", o->value_schema, evl_registry_strerror(rc),
                        evl_registry_errmsg());
    b->owned = calloc(BATCH_MAX, sizeof *b->owned);
    return b->owned ? EXIT_OK : cli_fail("out of memory");
}

static int produce_run(struct cli *cli, struct produce_opts *o)
{
    evl_log_t *log = NULL;
    evl_producer_t *prod = NULL;
    struct line_reader lr = {.fd = 0};
    struct batch b = {.o = o};
    evl_registry_t *reg = NULL;
    int status, rc;

    if ((status = open_topic(cli, o, &log)) != EXIT_OK)
        goto out;
    if ((rc = evl_producer_new(log, o->topic, NULL, &prod)) != 0) {
        status = cli_topic_fail(rc, o->topic);
        goto out;
    }
    lr.max_line = topic_max_message(log, o->topic);
    lr.cap = lr.max_line + 1 + READ_CHUNK;
    lr.buf = malloc(lr.cap);
    b.msgs = malloc(BATCH_MAX * sizeof *b.msgs);
    if (!lr.buf || !b.msgs) {
        status = cli_fail("out of memory");
        goto out;
    }
    if (o->value_schema && (status = open_serializer(o, log, &reg, &b)) != EXIT_OK)
        goto out;
    b.prod = prod;
    b.max_bytes = lr.max_line / 2;
    b.flags = o->acks ? EVL_SEND_DURABILITY(o->acks) : 0;
    if (o->print_offsets)
        setvbuf(stdout, NULL, _IOLBF, 0);
    status = produce_stream(&b, &lr);
    if (status == EXIT_OK && o->acks == EVL_DURABILITY_INTERVAL &&
        (rc = evl_producer_flush(prod)) != 0)
        status = cli_fail_rc(rc, "flushing topic '%s'", o->topic);
out:
    free(lr.buf);
    free(b.msgs);
    free(b.owned);
    evl_serializer_free(b.ser);
    evl_registry_close(reg);
    evl_producer_close(prod);
    evl_log_close(log);
    if (status == EXIT_OK)
        status = cli_finish_stdout();
    return status;
}

int cmd_produce(struct cli *cli, int argc, char **argv)
{
    struct produce_opts o = {.partition = EVL_PARTITION_ANY};
    int status;

    o.headers = calloc((size_t)argc + 1, sizeof *o.headers);
    if (!o.headers)
        return cli_fail("out of memory");
    status = produce_parse(cli, argc, argv, &o);
    if (status < 0)
        status = produce_run(cli, &o);
    free(o.headers);
    return status;
}
