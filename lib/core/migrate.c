/*
 * migrate.c - evl_log_migrate: convert the segments of record format 1 (the
 * library before 0.2) to format 2 (record.h), in place and crash-safely.
 *
 * This is the one place that still knows format 1, and only to read it:
 *
 *   frame (8-aligned): u32 frame_len, u32 crc of [+8, frame_len), u64 base
 *   offset, i64 max_ts, u32 count, u16 magic 0x4C45, u16 attributes (0);
 *   then records (8-aligned): u32 rec_len, u32 offset_delta (= index), i64
 *   timestamp, i32 key_len (-1 null), i32 value_len (-1 null), u32
 *   hdr_count, u32 hdr_bytes, key, value, headers (u32 name_len, i32
 *   value_len, name, value). End of segment: frame_len 0xFFFFFFFF and the
 *   next base at +8. The segment header is format 2's with version 1.
 *
 * Each segment is rewritten frame for frame (the same offsets, timestamps,
 * keys, values, headers and batches) into a new file made in
 * P/migrate.tmp/, synced, checkpointed (sealed if the old one was), then
 * renamed over the old one, index first; the rename of the .log is the
 * commit. A crash leaves each segment old or new, never half: run it
 * again and it converts what is left. Frames that fail their checks are
 * reported with their offsets and not carried over, as recovery would drop
 * them. partition.ctl is removed afterwards, so that the next open
 * rebuilds the shared state from the new files.
 *
 * Run it with no other process using the log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "os.h"
#include "record.h"
#include "segment.h"

#define V1_FRAME_HDR 32u
#define V1_REC_HDR 32u
#define V1_MAGIC 0x4C45u
#define V1_ALIGN(x) (((x) + 7u) & ~(uint64_t)7u)
#define IDX_INTERVAL 4096u /* the default index.interval.bytes */

typedef struct migrate {
    const evl_logger_t *lg;
    int64_t converted, lost;
} migrate_t;

/* The v1 frame at p (avail bytes) if it checks out with base > after:
 * its record count, or 0. */
static uint32_t v1_frame_ok(const uint8_t *p, uint64_t avail)
{
    if (avail < V1_FRAME_HDR + V1_REC_HDR)
        return 0;
    uint32_t fl = evl_ld32(p), count = evl_ld32(p + 24);
    if (fl < V1_FRAME_HDR + V1_REC_HDR || fl == EVL_FRAME_EOF || fl > avail ||
        (evl_ld32(p + 28) & 0xffff) != V1_MAGIC || count == 0 ||
        (uint64_t)count * V1_REC_HDR > fl || evl_ld32(p + 4) != evl__crc32c(0, p + 8, fl - 8))
        return 0;
    /* Every record in bounds, in order, headers too. */
    uint64_t pos = V1_FRAME_HDR;
    for (uint32_t i = 0; i < count; i++) {
        if (pos + V1_REC_HDR > fl)
            return 0;
        const uint8_t *r = p + pos;
        uint32_t rl = evl_ld32(r), hc = evl_ld32(r + 24), hb = evl_ld32(r + 28);
        int32_t kl = (int32_t)evl_ld32(r + 16), vl = (int32_t)evl_ld32(r + 20);
        if (rl < V1_REC_HDR || rl > fl - pos || evl_ld32(r + 4) != i || kl < -1 || vl < -1 ||
            (uint64_t)V1_REC_HDR + (uint64_t)(kl > 0 ? kl : 0) + (uint64_t)(vl > 0 ? vl : 0) +
                    hb != rl ||
            (uint64_t)hc * 8 > hb)
            return 0;
        const uint8_t *h = r + rl - hb, *hend = r + rl;
        for (uint32_t k = 0; k < hc; k++) {
            if (hend - h < 8)
                return 0;
            uint64_t nl = evl_ld32(h);
            int32_t hv = (int32_t)evl_ld32(h + 4);
            if (hv < -1 || nl + (uint64_t)(hv > 0 ? hv : 0) > (uint64_t)(hend - h - 8))
                return 0;
            h += 8 + nl + (uint64_t)(hv > 0 ? hv : 0);
        }
        if (i + 1 == count && pos + rl != fl)
            return 0;
        pos += V1_ALIGN(rl);
    }
    return count;
}

/* Decode the records of a checked v1 frame into msgs/hdrs (room for its
 * count; headers allocated in *hdrs, grown as needed). */
static int v1_decode(const uint8_t *p, evl_msg_t *msgs, evl_header_t **hdrs, size_t *hcap)
{
    uint32_t count = evl_ld32(p + 24);
    size_t nh = 0;
    const uint8_t *r = p + V1_FRAME_HDR;
    for (uint32_t i = 0; i < count; i++, r += V1_ALIGN(evl_ld32(r)))
        nh += evl_ld32(r + 24);
    if (nh > *hcap) {
        evl_header_t *n = evl__realloc(*hdrs, nh * sizeof *n);
        if (!n)
            return EVL_ENOMEM;
        *hdrs = n;
        *hcap = nh;
    }
    nh = 0;
    r = p + V1_FRAME_HDR;
    for (uint32_t i = 0; i < count; i++, r += V1_ALIGN(evl_ld32(r))) {
        int32_t kl = (int32_t)evl_ld32(r + 16), vl = (int32_t)evl_ld32(r + 20);
        uint32_t hc = evl_ld32(r + 24), rl = evl_ld32(r), hb = evl_ld32(r + 28);
        const uint8_t *d = r + V1_REC_HDR;
        evl_msg_t *m = &msgs[i];
        *m = (evl_msg_t){0};
        m->timestamp = (int64_t)evl_ld64(r + 8);
        m->key = kl < 0 ? NULL : d;
        m->key_len = kl < 0 ? 0 : (size_t)kl;
        d += m->key_len;
        m->value = vl < 0 ? NULL : d;
        m->value_len = vl < 0 ? 0 : (size_t)vl;
        m->headers = *hdrs + nh;
        m->header_count = hc;
        const uint8_t *h = r + rl - hb;
        for (uint32_t k = 0; k < hc; k++, nh++) {
            uint32_t nl = evl_ld32(h);
            int32_t hv = (int32_t)evl_ld32(h + 4);
            (*hdrs)[nh] = (evl_header_t){(const char *)h + 8, nl, hv < 0 ? NULL : h + 8 + nl,
                                         hv < 0 ? 0 : (size_t)hv};
            h += 8 + nl + (hv > 0 ? (uint32_t)hv : 0);
        }
    }
    return 0;
}

/* The next intact v1 frame after a damaged one at pos, or 0. */
static uint64_t v1_resync(const uint8_t *map, uint64_t pos, uint64_t limit, uint64_t after)
{
    for (uint64_t p = pos + 8; p + V1_FRAME_HDR + V1_REC_HDR <= limit; p += 8)
        if (evl_ld64(map + p + 8) > after && v1_frame_ok(map + p, limit - p))
            return p;
    return 0;
}

/* Convert one v1 segment of partition folder dir. */
static int convert(migrate_t *mg, const char *dir, const char *stage, uint64_t base,
                   const uint8_t *old, uint64_t old_len)
{
    uint64_t max_bytes = evl__seg_header_max_bytes(old);
    uint64_t limit = EVL_MIN(old_len, max_bytes);
    evl_seg_t *seg;
    int rc = evl__seg_create(stage, base, max_bytes, max_bytes / IDX_INTERVAL + 2, EVL_SEG_HDR,
                             evl__seg_header_created_ms(old), &seg);
    if (rc)
        return rc;
    evl_msg_t *msgs = NULL;
    size_t mcap = 0, hcap = 0;
    evl_header_t *hdrs = NULL;
    uint64_t in = EVL_SEG_HDR, out = EVL_SEG_HDR, next = base, alloc = EVL_SEG_HDR;
    int64_t max_ts = INT64_MIN;
    bool sealed = false;
    while (in + 8 <= limit) {
        uint32_t fl = evl_ld32(old + in);
        if (fl == 0)
            break;
        if (fl == EVL_FRAME_EOF) {
            if (in + EVL_FRAME_EOF_BYTES <= limit && evl_ld64(old + in + 8) >= next &&
                evl_ld64(old + in + 8) > base) {
                if (evl_ld64(old + in + 8) > next) {
                    mg->lost += (int64_t)(evl_ld64(old + in + 8) - next);
                    evl__logf(mg->lg, EVL_LOG_ERR, "%s: segment %llu: offsets %llu to %llu "
                              "were damaged and are not carried over", dir,
                              (unsigned long long)base, (unsigned long long)next,
                              (unsigned long long)evl_ld64(old + in + 8) - 1);
                }
                next = evl_ld64(old + in + 8);
                sealed = true;
            }
            break;
        }
        uint32_t count = v1_frame_ok(old + in, limit - in);
        if (!count || evl_ld64(old + in + 8) < next) {
            uint64_t at = v1_resync(old, in, limit, next);
            if (!at)
                break; /* nothing intact after it: as recovery, the data ends */
            uint64_t nb = evl_ld64(old + at + 8);
            mg->lost += (int64_t)(nb - next);
            evl__logf(mg->lg, EVL_LOG_ERR, "%s: segment %llu: offsets %llu to %llu were "
                      "damaged and are not carried over", dir, (unsigned long long)base,
                      (unsigned long long)next, (unsigned long long)nb - 1);
            in = at;
            continue;
        }
        if (count > mcap) {
            evl_msg_t *n = evl__realloc(msgs, count * sizeof *n);
            if (!n) {
                rc = EVL_ENOMEM;
                goto out;
            }
            msgs = n;
            mcap = count;
        }
        if ((rc = v1_decode(old + in, msgs, &hdrs, &hcap)))
            goto out;
        uint64_t bound = EVL_FRAME_HDR_MAX;
        for (uint32_t i = 0; i < count; i++)
            bound += evl__rec_size(&msgs[i]);
        if (out + bound + EVL_FRAME_EOF_BYTES > max_bytes) {
            rc = EVL_ETOOBIG; /* cannot happen: format 2 is the smaller */
            goto out;
        }
        if (out + bound + EVL_FRAME_EOF_BYTES > alloc) {
            alloc = EVL_MIN(EVL_ALIGN_UP(out + bound + EVL_FRAME_EOF_BYTES + (1u << 20), 4096),
                            max_bytes);
            if ((rc = evl__os_allocate(seg->fd, 0, alloc)) < 0)
                goto out;
        }
        int64_t fts;
        uint64_t fbase = evl_ld64(old + in + 8);
        if (fbase > next && out > EVL_SEG_HDR) {
            mg->lost += (int64_t)(fbase - next);
            evl__logf(mg->lg, EVL_LOG_ERR, "%s: segment %llu: offsets %llu to %llu were "
                      "missing (a gap in the old file)", dir, (unsigned long long)base,
                      (unsigned long long)next, (unsigned long long)fbase - 1);
        }
        uint32_t nl = evl__frame_encode(seg->map + out, base, fbase, msgs, count, 0, NULL, &fts);
        evl__frame_publish(seg->map + out, nl);
        if (fts > max_ts)
            max_ts = fts;
        out += evl__frame_span(nl);
        next = fbase + count;
        in += V1_ALIGN(fl);
    }
    if (out + EVL_FRAME_EOF_BYTES > alloc &&
        (rc = evl__os_allocate(seg->fd, 0, out + EVL_FRAME_EOF_BYTES)) < 0)
        goto out;
    uint64_t add = evl__seg_idx_shortfall(seg, out, IDX_INTERVAL);
    if (add && (rc = evl__seg_idx_extend(seg, add)) < 0)
        goto out;
    uint32_t nidx = evl__seg_idx_rebuild(seg, 0, out, IDX_INTERVAL);
    if (sealed) {
        rc = evl__seg_seal(seg, out, next, max_ts, nidx);
    } else {
        evl__seg_ckpt_write(seg, &(evl_ckpt_t){0, out, next, max_ts, 0, nidx});
        if ((rc = evl__os_fdatasync(seg->idx_fd)) == 0)
            rc = evl__os_fdatasync(seg->fd);
    }
    if (rc < 0)
        goto out;
    /* The commit: the index, then the .log, over the old ones. */
    char from[PATH_MAX], to[PATH_MAX];
    evl__seg_path(from, sizeof from, stage, base, "idx");
    evl__seg_path(to, sizeof to, dir, base, "idx");
    if ((rc = evl__os_rename(from, to)) < 0)
        goto out;
    evl__seg_path(from, sizeof from, stage, base, "log");
    evl__seg_path(to, sizeof to, dir, base, "log");
    if ((rc = evl__os_rename(from, to)) < 0 || (rc = evl__os_fsync_dir(dir)) < 0)
        goto out;
    mg->converted++;
    rc = 0;
out:
    evl__seg_unref(seg);
    free(msgs);
    free(hdrs);
    return rc;
}

/* Is dir/name a segment of format 1 (header intact)? Maps it if so. */
static int old_segment(const char *path, uint8_t **map, uint64_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    uint8_t h[EVL_SEG_HDR];
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if ((uint64_t)st.st_size < EVL_SEG_HDR || pread(fd, h, sizeof h, 0) != sizeof h ||
             !evl__seg_header_magic(h) || !evl__seg_header_crc_ok(h) ||
             evl__seg_header_version(h) != 1)
        rc = 1; /* not one to convert */
    if (rc == 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            rc = -errno;
        } else {
            *map = m;
            *len = (uint64_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

static int migrate_partition(migrate_t *mg, const char *dir)
{
    char stage[PATH_MAX], path[PATH_MAX];
    if ((size_t)snprintf(stage, sizeof stage, "%s/migrate.tmp", dir) >= sizeof stage)
        return EVL_EINVAL;
    evl__os_rmtree(stage);
    int rc = evl__os_mkdirs(stage, 0755);
    if (rc)
        return rc;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int64_t before = mg->converted;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n != 24 || strcmp(e->d_name + 20, ".log") != 0)
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        uint8_t *map = NULL;
        uint64_t len = 0;
        int r = old_segment(path, &map, &len);
        if (r == 1)
            continue;
        if (r < 0) {
            rc = r;
            break;
        }
        rc = convert(mg, dir, stage, strtoull(e->d_name, NULL, 10), map, len);
        munmap(map, (size_t)len);
    }
    closedir(d);
    evl__os_rmtree(stage);
    if (rc == 0 && mg->converted > before) {
        if ((size_t)snprintf(path, sizeof path, "%s/partition.ctl", dir) < sizeof path &&
            unlink(path) != 0 && errno != ENOENT)
            rc = -errno;
    }
    return rc;
}

EVL_API int evl_log_migrate(const char *dir, const evl_config_t *cfg, int64_t *converted)
{
    if (converted)
        *converted = 0;
    if (!dir || !dir[0] || strlen(dir) > PATH_MAX - 600)
        return EVL_EINVAL;
    evl_config_t defaults;
    evl__cfg_defaults(&defaults);
    migrate_t mg = {.lg = cfg ? &cfg->logger : &defaults.logger};
    char topics[PATH_MAX];
    snprintf(topics, sizeof topics, "%s/topics", dir);
    DIR *td = opendir(topics);
    if (!td)
        return errno == ENOENT ? 0 : -errno;
    int rc = 0;
    struct dirent *t;
    while (rc == 0 && (t = readdir(td))) {
        if (t->d_name[0] == '.')
            continue;
        char tdir[PATH_MAX];
        if ((size_t)snprintf(tdir, sizeof tdir, "%s/%s", topics, t->d_name) >= sizeof tdir)
            continue;
        DIR *pd = opendir(tdir);
        if (!pd)
            continue; /* a file (topic.conf...) */
        struct dirent *p;
        while (rc == 0 && (p = readdir(pd))) {
            char *end;
            strtol(p->d_name, &end, 10);
            if (p->d_name[0] < '0' || p->d_name[0] > '9' || *end)
                continue;
            char pdir[PATH_MAX];
            if ((size_t)snprintf(pdir, sizeof pdir, "%s/%s", tdir, p->d_name) < sizeof pdir)
                rc = migrate_partition(&mg, pdir);
        }
        closedir(pd);
    }
    closedir(td);
    if (mg.converted)
        evl__logf(mg.lg, EVL_LOG_NOTICE, "migrate: %lld segment(s) converted to record format "
                  "2 in %s%s", (long long)mg.converted, dir,
                  mg.lost ? " (damaged records were not carried over: see above)" : "");
    if (converted)
        *converted = mg.converted;
    return rc;
}
