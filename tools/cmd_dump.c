/*
 * cmd_dump.c - `evl dump FILE`: print what one segment file holds.
 *
 * Through the batch cursor (eventlog/batch.h): the .log header and its
 * newest checkpoint, then each batch (frame) with its records, or the
 * entries of an .idx file. The library checks every length and checksum;
 * this file knows no byte layout. The file is only read (a read-only
 * mapping), so it is safe on a live log. A damaged batch header or record
 * gives a "BAD" line and the dump goes on with the next intact one.
 *
 * Exit status 1 when anything failed a check, after printing everything.
 */
#include "evl.h"

#include <eventlog/batch.h>
#include <string.h>

static const char help_dump[] =
    "usage: evl dump FILE [--json]\n"
    "\n"
    "Print the records of a segment file (DIR/topics/TOPIC/PARTITION/\n"
    "*.log): the header, the newest checkpoint, then per batch (one\n"
    "producer call) its position, offsets, record count, producer and\n"
    "header checksum state, and per record its offset, timestamp, key, value\n"
    "size, header count and checksum state. An index file (*.idx) prints\n"
    "its entries. The file is only read. Exit status 1 if any checksum or\n"
    "structure check failed.\n";

struct dump {
    evl_cursor_t *c;
    int json;
    int bad;           /* checks that failed */
    int64_t records;
    uint64_t data_end;
    int items;         /* JSON: array items printed so far */
};

static const char *ok(int good)
{
    return good ? "ok" : "BAD";
}

static const char *yes(const struct dump *d, int v)
{
    return d->json ? (v ? "true" : "false") : (v ? "yes" : "no");
}

static void comma(struct dump *d)
{
    if (d->json && d->items++)
        putchar(',');
}

/* ---- header and checkpoint -------------------------------------------------- */

static void dump_header(struct dump *d, const evl_segment_info_t *s)
{
    d->bad += !s->header_ok;
    printf(d->json ? "\"header\":{\"version\":%u,\"base_offset\":%lld,\"max_bytes\":%llu,"
                     "\"created_ms\":%lld,\"crc\":\"%s\"}"
                   : "segment: version %u, base offset %lld, max bytes %llu, created %lld ms, "
                     "header crc %s\n",
           s->version, (long long)s->base_offset, (unsigned long long)s->max_bytes,
           (long long)s->created_ms, ok(s->header_ok));
    if (!s->has_checkpoint) {
        fputs(d->json ? ",\"checkpoint\":null" : "checkpoint: none\n", stdout);
        return;
    }
    printf(d->json ? ",\"checkpoint\":{\"slot\":%d,\"seq\":%llu,\"pos\":%llu,"
                     "\"next_offset\":%lld,\"max_ts\":%lld,\"sealed\":%s,\"index_entries\":%u}"
                   : "checkpoint: slot %d, seq %llu, pos %llu, next offset %lld, max "
                     "timestamp %lld, sealed %s, index entries %u\n",
           s->checkpoint_slot, (unsigned long long)s->checkpoint_seq,
           (unsigned long long)s->checkpoint_pos, (long long)s->checkpoint_next_offset,
           (long long)s->checkpoint_max_ts, yes(d, s->sealed), s->index_entries);
}

/* ---- batches and records ------------------------------------------------------ */

static void print_record(struct dump *d, const evl_record_t *r, int first)
{
    size_t klen, vlen;
    const void *k = evl_record_key(r, &klen);
    const void *v = evl_record_value(r, &vlen);
    if (d->json) {
        printf("%s{\"offset\":%lld,\"timestamp\":%lld,\"key\":", first ? "" : ",",
               (long long)evl_record_offset(r), (long long)evl_record_timestamp(r));
        if (k)
            json_str(stdout, k, klen);
        else
            fputs("null", stdout);
        if (v)
            printf(",\"value_bytes\":%zu", vlen);
        else
            fputs(",\"value_bytes\":null", stdout);
        printf(",\"headers\":%zu}", evl_record_header_count(r));
        return;
    }
    printf("  offset %lld  timestamp %lld  key ", (long long)evl_record_offset(r),
           (long long)evl_record_timestamp(r));
    if (k)
        json_str(stdout, k, klen);
    else
        fputs("null", stdout);
    if (v)
        printf("  value %zu bytes", vlen);
    else
        fputs("  value null", stdout);
    printf("  headers %zu  crc ok\n", evl_record_header_count(r));
}

static void batch_open(struct dump *d, const evl_batch_t *b)
{
    comma(d);
    if (d->json) {
        printf("{\"pos\":%llu,\"len\":%u,\"base_offset\":%lld,\"last_offset\":%lld,"
               "\"count\":%u,\"first_ts\":%lld,\"max_ts\":%lld,\"crc\":\"ok\"",
               (unsigned long long)b->position, b->length, (long long)b->base_offset,
               (long long)b->last_offset, b->record_count, (long long)b->first_timestamp,
               (long long)b->max_timestamp);
        if (b->flags & EVL_BATCH_PRODUCER)
            printf(",\"producer_id\":%lld,\"producer_epoch\":%d,\"base_sequence\":%lld",
                   (long long)b->producer_id, b->producer_epoch,
                   (long long)b->base_sequence);
        printf(",\"transactional\":%s,\"control\":%s,\"records\":[",
               yes(d, b->flags & EVL_BATCH_TRANSACTIONAL), yes(d, b->flags & EVL_BATCH_CONTROL));
        return;
    }
    printf("frame at %llu: %u bytes, base offset %lld, %u record%s, crc ok",
           (unsigned long long)b->position, b->length, (long long)b->base_offset,
           b->record_count, b->record_count == 1 ? "" : "s");
    if (b->last_offset != b->base_offset + (int64_t)b->record_count - 1)
        printf(", last offset %lld", (long long)b->last_offset);
    if (b->flags & EVL_BATCH_PRODUCER)
        printf(", producer %lld epoch %d sequence %lld", (long long)b->producer_id,
               b->producer_epoch, (long long)b->base_sequence);
    if (b->flags & EVL_BATCH_TRANSACTIONAL)
        fputs(", transactional", stdout);
    if (b->flags & EVL_BATCH_CONTROL)
        fputs(", control", stdout);
    putchar('\n');
}

static void batch_records(struct dump *d)
{
    const evl_record_t *r;
    int rc, first = 1;
    while ((rc = evl_cursor_next_record(d->c, &r)) != EVL_CURSOR_END) {
        if (rc == 0) {
            print_record(d, r, first);
            d->records++;
        } else {
            int64_t a, z;
            evl_cursor_lost(d->c, &a, &z);
            d->bad++;
            if (d->json)
                printf("%s{\"error\":\"corrupt\",\"first_offset\":%lld,\"last_offset\":%lld}",
                       first ? "" : ",", (long long)a, (long long)z);
            else if (a == z)
                printf("  BAD record: offset %lld fails its checks\n", (long long)a);
            else
                printf("  BAD records: offsets %lld to %lld fail their checks\n",
                       (long long)a, (long long)z);
        }
        first = 0;
    }
    if (d->json)
        fputs("]}", stdout);
}

static void dump_batches(struct dump *d)
{
    evl_batch_t b;
    int rc;
    fputs(d->json ? ",\"frames\":[" : "", stdout);
    while ((rc = evl_cursor_next_batch(d->c, &b)) != EVL_CURSOR_END) {
        if (rc == 0) {
            batch_open(d, &b);
            batch_records(d);
            d->data_end = b.next_position;
        } else if (rc == EVL_CURSOR_SEGMENT_END) {
            if (d->json)
                printf("],\"end_of_segment\":{\"pos\":%llu,\"next_base_offset\":%lld}",
                       (unsigned long long)b.position, (long long)b.base_offset);
            else
                printf("end of segment at %llu: next base offset %lld\n",
                       (unsigned long long)b.position, (long long)b.base_offset);
            d->data_end = b.position;
            d->items = -1; /* the array is closed */
        } else if (rc == EVL_ECORRUPT) {
            d->bad++;
            comma(d);
            if (d->json)
                printf("{\"pos\":%llu,\"error\":\"the batch header fails its checks\"}",
                       (unsigned long long)b.position);
            else
                printf("BAD frame at %llu: the batch header fails its checks\n",
                       (unsigned long long)b.position);
        } else {
            d->bad++;
            if (!d->json)
                printf("frames not read: %s\n", evl_strerror(rc));
            break;
        }
    }
    if (d->json && d->items >= 0)
        putchar(']');
    if (d->json)
        printf(",\"records\":%lld,\"data_end\":%llu", (long long)d->records,
               (unsigned long long)d->data_end);
    else
        printf("%lld record%s, data ends at %llu\n", (long long)d->records,
               d->records == 1 ? "" : "s", (unsigned long long)d->data_end);
}

/* ---- index files -------------------------------------------------------------------- */

static void dump_index(struct dump *d)
{
    evl_index_entry_t e;
    fputs(d->json ? "\"index\":[" : "", stdout);
    for (uint32_t i = 0; evl_cursor_index_entry(d->c, i, &e) == 0; i++) {
        if (d->json)
            printf("%s{\"offset\":%lld,\"pos\":%llu,\"max_ts_before\":%lld}", i ? "," : "",
                   (long long)e.offset, (unsigned long long)e.position,
                   (long long)e.max_ts_before);
        else
            printf("entry %u: offset %lld, pos %llu, max timestamp before %lld\n", i,
                   (long long)e.offset, (unsigned long long)e.position,
                   (long long)e.max_ts_before);
    }
    if (d->json)
        putchar(']');
}

/* ---- the command ---------------------------------------------------------------------- */

static int is_index(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && strcmp(path + n - 4, ".idx") == 0;
}

int cmd_dump(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dump d = {.json = cli->json};
    const char *path;
    int c, rc, status = EXIT_OK;

    while ((c = cli_getopt(cli, argc, argv, ":h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_dump);
        return EXIT_USAGE;
    }
    d.json = cli->json;
    if (optind >= argc)
        return cli_usage(cli, "missing file name");
    path = argv[optind++];
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if ((rc = evl_cursor_open_file(path, &d.c)) != 0) {
        if (rc == EVL_ECORRUPT)
            return cli_fail("%s: not a segment file (no EVLSEG1 header)", path);
        if (rc == EVL_EINVAL)
            return cli_fail("%s: not a regular file", path);
        return cli_fail("%s: %s", path, rc == -ENOENT ? "no such file" : evl_strerror(rc));
    }
    if (d.json) {
        fputs("{\"file\":", stdout);
        json_cstr(stdout, path);
        putchar(',');
    }
    evl_segment_info_t si;
    if (is_index(path)) {
        dump_index(&d);
    } else if (evl_cursor_segment(d.c, &si) == 0) {
        dump_header(&d, &si);
        dump_batches(&d);
    } else {
        status = cli_fail("%s: empty file", path);
    }
    if (d.json)
        fputs("}\n", stdout);
    evl_cursor_close(d.c);
    if (status == EXIT_OK && d.bad)
        status = cli_fail("%s: %d check%s failed", path, d.bad, d.bad == 1 ? "" : "s");
    if (status == EXIT_OK)
        status = cli_finish_stdout();
    return status;
}
