/*
 * frame_forge.h - for tests that damage segment files on purpose: where
 * each frame is, and hostile single-record frames forged from real ones
 * with one field changed and the checksum made right again, so that only
 * the structure checks can catch them (layout: lib/core/record.h).
 */
#ifndef EVL_TEST_FRAME_FORGE_H
#define EVL_TEST_FRAME_FORGE_H

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "record.h"
#include "segment.h"

/* The varint fields of a single-record frame, in file order. */
enum {
    FF_BASE_REL, FF_COUNT, FF_LAST_DELTA, FF_BASE_TS, FF_MAX_DELTA, /* header */
    FF_REC_LEN, FF_TS_DELTA, FF_OFF_DELTA, FF_KEY1, FF_VALUE1, FF_HDR_COUNT, /* record */
    FF__N
};

/* Position of frame `index` of a segment file (walking the frame_len words
 * from the header page), or 0 if it has fewer frames. */
static inline uint64_t ff_frame_pos(const char *path, size_t index)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    uint64_t p = EVL_SEG_HDR;
    for (size_t i = 0;; i++) {
        uint32_t fl;
        if (pread(fd, &fl, 4, (off_t)p) != 4 || fl == 0 || fl == EVL_FRAME_EOF) {
            p = 0;
            break;
        }
        if (i == index)
            break;
        p += evl__frame_span(fl);
    }
    close(fd);
    return p;
}

/* The span of the frame at pos (its length, aligned). */
static inline uint64_t ff_frame_span(const char *path, uint64_t pos)
{
    int fd = open(path, O_RDONLY);
    uint32_t fl = 0;
    if (fd >= 0 && pread(fd, &fl, 4, (off_t)pos) != 4)
        fl = 0;
    if (fd >= 0)
        close(fd);
    return evl__frame_span(fl);
}

static inline bool ff_vget(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    return evl__vget(p, end, v);
}

/* Rewrite the single-record frame at pos with field `field` set to value
 * and its checksum recomputed (the frame may grow or shrink by a few
 * bytes: what follows it is overwritten or left as it was). Returns 0, or
 * -1 if the frame is not a well-formed single-record frame to start with. */
static inline int ff_set(const char *path, uint64_t pos, int field, uint64_t value)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return -1;
    uint32_t fl;
    uint8_t in[1 << 16], out[(1 << 16) + 64];
    if (pread(fd, &fl, 4, (off_t)pos) != 4 || fl > sizeof in ||
        pread(fd, in, fl, (off_t)pos) != (ssize_t)fl || !(in[8] & EVL_ATTR_SINGLE)) {
        close(fd);
        return -1;
    }
    const uint8_t *s = in + EVL_FRAME_FIXED, *end = in + fl;
    uint64_t v[FF__N];
    for (int i = 0; i < FF__N; i++)
        if (!ff_vget(&s, end, &v[i])) {
            close(fd);
            return -1;
        }
    v[field] = value;
    memcpy(out, in, EVL_FRAME_FIXED);
    uint8_t *d = out + EVL_FRAME_FIXED;
    for (int i = 0; i < FF__N; i++)
        d = evl__vput(d, v[i]);
    size_t rest = (size_t)(end - s);
    memcpy(d, s, rest);
    d += rest;
    uint32_t nl = (uint32_t)(d - out);
    evl_st32(out, nl);
    uint8_t le[4];
    evl_st32(le, nl);
    evl_st32(out + 4, evl__crc32c(evl__crc32c(0, le, 4), out + 8, nl - 8));
    int rc = pwrite(fd, out, nl, (off_t)pos) == (ssize_t)nl ? 0 : -1;
    close(fd);
    return rc;
}

/* Recompute the checksum of the single-record frame at pos after an edit
 * that kept its length. */
static inline void ff_recrc(const char *path, uint64_t pos)
{
    int fd = open(path, O_RDWR);
    uint32_t fl;
    uint8_t buf[1 << 16];
    if (fd < 0)
        return;
    if (pread(fd, &fl, 4, (off_t)pos) == 4 && fl <= sizeof buf &&
        pread(fd, buf, fl, (off_t)pos) == (ssize_t)fl) {
        uint8_t le[4];
        evl_st32(le, fl);
        uint32_t c = evl__crc32c(evl__crc32c(0, le, 4), buf + 8, fl - 8);
        if (pwrite(fd, &c, 4, (off_t)pos + 4) != 4)
            abort();
    }
    close(fd);
}

#endif
