/*
 * cmd_dump.c - `evl dump FILE`: print what one segment file holds.
 *
 * The library has no public segment-file reader, so this file parses the
 * byte layout documented in lib/core/segment.h (the .log header page, its two
 * checkpoint slots, the .idx entries) and lib/core/record.h (frames and records)
 * itself, and checks every CRC-32C with its own software CRC (crc32c.c).
 * It reads the file through a read-only mapping and never writes it, so it
 * is safe on a live log. Every length is bounds-checked before use: a
 * damaged file gives "BAD" lines, never a crash. Parsing stops at the first
 * frame whose length or magic is wrong (the next frame cannot be found); a
 * frame with a wrong CRC but a sane structure is reported and skipped.
 *
 * Exit status 1 when anything failed a check, after printing everything.
 */
#include "evl.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* From lib/core/segment.h and lib/core/record.h (format version 1). */
#define SEG_MAGIC "EVLSEG1"     /* 8 bytes with its NUL */
#define SEG_HDR_CRC_AT 40
#define SEG_CKPT0 64
#define SEG_CKPT1 128
#define CKPT_CRC_AT 40
#define FRAME_HDR 32u
#define REC_HDR 32u
#define FRAME_MAGIC 0x4C45u
#define FRAME_EOF 0xFFFFFFFFu
#define IDX_ENTRY 16u
#define ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)

static const char help_dump[] =
    "usage: evl dump FILE [--json]\n"
    "\n"
    "Print the records of a segment file (DIR/topics/TOPIC/PARTITION/\n"
    "*.log): the header, the newest checkpoint, then per frame (one\n"
    "producer call) its position, base offset, record count and checksum\n"
    "state, and per record its offset, timestamp, key, value size and\n"
    "header count. An index file (*.idx) prints its entries. The file is\n"
    "only read. Exit status 1 if any checksum or structure check failed.\n";

struct dump {
    const unsigned char *p;
    uint64_t size;
    int json;
    int bad;           /* checks that failed */
    int64_t records;
    int frames_out;    /* JSON: frames printed so far */
};

static uint32_t ld32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t ld64(const unsigned char *p)
{
    return (uint64_t)ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static const char *ok(int good)
{
    return good ? "ok" : "BAD";
}

/* ---- header and checkpoints ------------------------------------------------ */

static int dump_header(struct dump *d, uint64_t *data_start)
{
    const unsigned char *p = d->p;
    int crc_ok;

    if (d->size < 4096 || memcmp(p, SEG_MAGIC, 8) != 0) {
        d->bad++;
        return cli_fail("not a segment file (no EVLSEG1 header)");
    }
    crc_ok = ld32(p + SEG_HDR_CRC_AT) == crc32c(0, p, SEG_HDR_CRC_AT);
    d->bad += !crc_ok;
    *data_start = ld32(p + 12);
    if (*data_start < 4096 || *data_start > d->size) {
        d->bad++;
        return cli_fail("bad header size %llu", (unsigned long long)*data_start);
    }
    if (d->json) {
        printf("\"header\":{\"version\":%u,\"base_offset\":%llu,"
               "\"max_bytes\":%llu,\"created_ms\":%lld,\"crc\":\"%s\"}",
               ld32(p + 8), (unsigned long long)ld64(p + 16),
               (unsigned long long)ld64(p + 24), (long long)ld64(p + 32),
               ok(crc_ok));
    } else {
        printf("segment: version %u, base offset %llu, max bytes %llu, "
               "created %lld ms, header crc %s\n",
               ld32(p + 8), (unsigned long long)ld64(p + 16),
               (unsigned long long)ld64(p + 24), (long long)ld64(p + 32),
               ok(crc_ok));
    }
    return EXIT_OK;
}

static int ckpt_valid(const unsigned char *s)
{
    return ld32(s + CKPT_CRC_AT) == crc32c(0, s, CKPT_CRC_AT) && ld64(s) != 0;
}

/* The newest valid checkpoint slot (as LMDB's meta pages, higher seq wins). */
static void dump_checkpoint(struct dump *d)
{
    const unsigned char *s0 = d->p + SEG_CKPT0, *s1 = d->p + SEG_CKPT1;
    const unsigned char *s = NULL;
    int slot = 0;

    if (ckpt_valid(s0))
        s = s0;
    if (ckpt_valid(s1) && (!s || ld64(s1) > ld64(s0))) {
        s = s1;
        slot = 1;
    }
    if (!s) {
        fputs(d->json ? ",\"checkpoint\":null" : "checkpoint: none\n", stdout);
        return;
    }
    printf(d->json ? ",\"checkpoint\":{\"slot\":%d,\"seq\":%llu,\"pos\":%llu,"
                     "\"next_offset\":%llu,\"max_ts\":%lld,\"sealed\":%s,"
                     "\"index_entries\":%u}"
                   : "checkpoint: slot %d, seq %llu, pos %llu, next offset "
                     "%llu, max timestamp %lld, sealed %s, index entries %u\n",
           slot, (unsigned long long)ld64(s), (unsigned long long)ld64(s + 8),
           (unsigned long long)ld64(s + 16), (long long)ld64(s + 24),
           (ld32(s + 32) & 1) ? (d->json ? "true" : "yes")
                              : (d->json ? "false" : "no"),
           ld32(s + 36));
}

/* ---- records ------------------------------------------------------------------ */

/* Check one record inside a frame (room bytes left); its length or 0. */
static uint32_t record_len(const unsigned char *r, uint64_t room, uint32_t i)
{
    uint32_t len;
    int32_t klen, vlen;
    uint64_t need;

    if (room < REC_HDR)
        return 0;
    len = ld32(r);
    klen = (int32_t)ld32(r + 16);
    vlen = (int32_t)ld32(r + 20);
    if (len < REC_HDR || len > room || ld32(r + 4) != i || klen < -1 ||
        vlen < -1)
        return 0;
    need = (uint64_t)REC_HDR + (uint64_t)(klen > 0 ? klen : 0) +
           (uint64_t)(vlen > 0 ? vlen : 0) + ld32(r + 28);
    return need == len ? len : 0;
}

static void print_record(struct dump *d, const unsigned char *r, uint64_t base,
                         int first, int crc_ok)
{
    int32_t klen = (int32_t)ld32(r + 16), vlen = (int32_t)ld32(r + 20);
    unsigned long long off = base + ld32(r + 4);
    long long ts = (long long)ld64(r + 8);

    if (d->json) {
        printf("%s{\"offset\":%llu,\"timestamp\":%lld,\"key\":", first ? "" : ",",
               off, ts);
        if (klen < 0)
            fputs("null", stdout);
        else
            json_str(stdout, r + REC_HDR, (size_t)klen);
        printf(",\"value_bytes\":%d,\"headers\":%u}", vlen, ld32(r + 24));
        return;
    }
    printf("  offset %llu  timestamp %lld  key ", off, ts);
    if (klen < 0)
        fputs("null", stdout);
    else
        json_str(stdout, r + REC_HDR, (size_t)klen);
    printf("  value %d bytes%s  headers %u  crc %s\n", vlen,
           vlen < 0 ? " (null)" : "", ld32(r + 24), ok(crc_ok));
}

/* ---- frames ----------------------------------------------------------------------- */

static void frame_open(struct dump *d, uint64_t pos, uint32_t len,
                       const char *state)
{
    const unsigned char *f = d->p + pos;

    if (d->json)
        printf("%s{\"pos\":%llu,\"len\":%u,\"base_offset\":%llu,\"count\":%u,"
               "\"max_ts\":%lld,\"crc\":\"%s\",\"records\":[",
               d->frames_out++ ? "," : "", (unsigned long long)pos, len,
               (unsigned long long)ld64(f + 8), ld32(f + 24),
               (long long)ld64(f + 16), state);
    else
        printf("frame at %llu: %u bytes, base offset %llu, %u record%s, "
               "crc %s\n", (unsigned long long)pos, len,
               (unsigned long long)ld64(f + 8), ld32(f + 24),
               ld32(f + 24) == 1 ? "" : "s", state);
}

/* Walk a frame's records; 0 if its structure is sound. */
static int frame_records(struct dump *d, uint64_t pos, uint32_t len,
                         int crc_ok)
{
    const unsigned char *f = d->p + pos;
    uint32_t count = ld32(f + 24), i, rlen;
    uint64_t at = FRAME_HDR;

    for (i = 0; i < count; i++) {
        rlen = at < len ? record_len(f + at, len - at, i) : 0;
        if (!rlen)
            return -1;
        print_record(d, f + at, ld64(f + 8), i == 0, crc_ok);
        d->records++;
        at += ALIGN8(rlen);
    }
    return 0;
}

static void report_bad(struct dump *d, uint64_t pos, const char *why)
{
    d->bad++;
    if (d->json)
        printf("%s{\"pos\":%llu,\"error\":", d->frames_out++ ? "," : "",
               (unsigned long long)pos);
    else
        printf("BAD frame at %llu: %s\n", (unsigned long long)pos, why);
    if (d->json) {
        json_cstr(stdout, why);
        putchar('}');
    }
}

/* Dump one frame at pos; returns the next position, or 0 to stop. */
static uint64_t dump_frame(struct dump *d, uint64_t pos)
{
    const unsigned char *f = d->p + pos;
    uint32_t len = ld32(f);
    int crc_ok;

    if (len == FRAME_EOF) {
        printf(d->json ? "],\"end_of_segment\":{\"pos\":%llu,"
                         "\"next_base_offset\":%llu}"
                       : "end of segment at %llu: next base offset %llu\n",
               (unsigned long long)pos,
               (unsigned long long)(pos + 16 <= d->size ? ld64(f + 8) : 0));
        return 0;
    }
    if (len < FRAME_HDR + REC_HDR || len > d->size - pos) {
        report_bad(d, pos, "frame length out of bounds");
        return 0;
    }
    if ((ld32(f + 28) & 0xFFFFu) != FRAME_MAGIC) {
        report_bad(d, pos, "bad frame magic");
        return 0;
    }
    crc_ok = ld32(f + 4) == crc32c(0, f + 8, len - 8);
    d->bad += !crc_ok;
    frame_open(d, pos, len, ok(crc_ok));
    if (frame_records(d, pos, len, crc_ok) != 0) {
        if (d->json)
            fputs("]}", stdout);
        report_bad(d, pos, "bad record structure");
        return 0;
    }
    if (d->json)
        fputs("]}", stdout);
    return ALIGN8(pos + len);
}

static void dump_frames(struct dump *d, uint64_t pos)
{
    int ended = 0;

    if (d->json)
        fputs(",\"frames\":[", stdout);
    while (pos + 4 <= d->size && ld32(d->p + pos) != 0) {
        uint64_t next = dump_frame(d, pos);
        if (next == 0) {
            ended = d->p[pos] == 0xFF && ld32(d->p + pos) == FRAME_EOF;
            break;
        }
        pos = next;
    }
    if (d->json && !ended)
        fputs("]", stdout);
    if (!d->json)
        printf("%lld record%s, data ends at %llu\n", (long long)d->records,
               d->records == 1 ? "" : "s", (unsigned long long)pos);
}

/* ---- index files -------------------------------------------------------------------- */

static void dump_index(struct dump *d)
{
    uint64_t i, n = d->size / IDX_ENTRY;
    const unsigned char *e;

    fputs(d->json ? "\"index\":[" : "", stdout);
    for (i = 0; i < n; i++) {
        e = d->p + i * IDX_ENTRY;
        if (ld32(e + 4) == 0)
            break; /* preallocated zeros: no entry points into the header */
        if (d->json)
            printf("%s{\"rel_offset\":%u,\"pos\":%u,\"max_ts_before\":%lld}",
                   i ? "," : "", ld32(e), ld32(e + 4), (long long)ld64(e + 8));
        else
            printf("entry %llu: relative offset %u, pos %u, max timestamp "
                   "before %lld\n", (unsigned long long)i, ld32(e),
                   ld32(e + 4), (long long)ld64(e + 8));
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

static int dump_mapped(struct cli *cli, const char *path, struct dump *d)
{
    uint64_t start = 0;
    int status = EXIT_OK;

    if (d->json) {
        fputs("{\"file\":", stdout);
        json_cstr(stdout, path);
        putchar(',');
    }
    if (is_index(path)) {
        dump_index(d);
    } else if ((status = dump_header(d, &start)) == EXIT_OK) {
        dump_checkpoint(d);
        dump_frames(d, start);
    }
    if (d->json)
        fputs(status == EXIT_OK ? "}\n" : "\"error\":\"not a segment\"}\n",
              stdout);
    if (status == EXIT_OK && d->bad)
        status = cli_fail("%s: %d check%s failed", path, d->bad,
                          d->bad == 1 ? "" : "s");
    return status;
}

int cmd_dump(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct dump d = {.json = 0};
    struct stat st;
    const char *path;
    void *map;
    int fd, c, status;

    while ((c = cli_getopt(cli, argc, argv, ":h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_dump);
        return EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage(cli, "missing file name");
    path = argv[optind++];
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        status = cli_fail("%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return status;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return cli_fail("%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return cli_fail("%s: empty file", path);
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return cli_fail("%s: cannot map: %s", path, strerror(errno));
    d.p = map;
    d.size = (uint64_t)st.st_size;
    d.json = cli->json;
    status = dump_mapped(cli, path, &d);
    munmap(map, (size_t)st.st_size);
    if (status == EXIT_OK)
        status = cli_finish_stdout();
    return status;
}
