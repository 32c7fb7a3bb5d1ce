/*
 * reliability.h - shared pieces of the reliability harness (test_crash.c,
 * test_powerloss.c, test_faults.c, test_hostile.c).
 *
 * Records written by these tests verify themselves: the key holds the
 * writer id and its sequence number, the value starts with a small header
 * (magic, writer, seq, length) followed by bytes generated from
 * (seed, writer, seq). A reader can therefore check any record it gets
 * without knowing how it was produced, and a test that knows which
 * (writer, seq) was acknowledged at which offset can check that exactly that
 * record is there, intact.
 *
 * Loop counts scale with the environment: the default is a quick run for
 * `make test`, EVL_TEST_QUICK=1 (the sanitizer pass) is quicker still, and
 * EVL_TORTURE=1 (`make torture`) runs the long version.
 */
#ifndef EVL_TEST_RELIABILITY_H
#define EVL_TEST_RELIABILITY_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "helpers.h"

#define RL_MAGIC 0x31435245u /* "ERC1" */
#define RL_VHDR 16u           /* value header: magic, writer, seq, len */

static inline int rl_torture(void) { return getenv("EVL_TORTURE") != NULL; }

/* Pick a loop count: EVL_TORTURE, else EVL_TEST_QUICK, else the default. */
static inline int rl_count(int dflt, int quick, int torture)
{
    const char *n = getenv("EVL_RL_COUNT"); /* override for debugging */
    if (n && atoi(n) > 0)
        return atoi(n);
    if (rl_torture())
        return torture;
    return test_quick() ? quick : dflt;
}

static inline uint64_t rl_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A small deterministic PRNG (tests print their seed so a failure can be
 * replayed with EVL_RL_SEED). */
typedef struct rl_rng {
    uint64_t s;
} rl_rng_t;

static inline uint64_t rl_next(rl_rng_t *r) { return rl_mix(r->s++); }
static inline uint64_t rl_below(rl_rng_t *r, uint64_t n) { return n ? rl_next(r) % n : 0; }

static inline uint64_t rl_seed(void)
{
    const char *s = getenv("EVL_RL_SEED");
    if (s)
        return strtoull(s, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return rl_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec);
}

/* Length of the value of (writer, seq): 16..max bytes, mostly small. */
static inline size_t rl_len(uint64_t seed, uint32_t writer, uint32_t seq, size_t max)
{
    uint64_t h = rl_mix(seed ^ ((uint64_t)writer << 32) ^ seq ^ 0x5555);
    size_t span = (h & 7) == 0 ? max - RL_VHDR : (max - RL_VHDR) / 16 + 1;
    return RL_VHDR + (size_t)((h >> 8) % span);
}

static inline void rl_fill(uint8_t *v, size_t len, uint64_t seed, uint32_t writer, uint32_t seq)
{
    uint32_t hdr[4] = {RL_MAGIC, writer, seq, (uint32_t)len};
    memcpy(v, hdr, sizeof hdr);
    uint64_t s = rl_mix(seed ^ ((uint64_t)writer << 32) ^ seq);
    for (size_t i = RL_VHDR; i < len; i += 8) {
        uint64_t w = rl_mix(s + i);
        memcpy(v + i, &w, len - i < 8 ? len - i : 8);
    }
}

static inline void rl_key(uint8_t key[8], uint32_t writer, uint32_t seq)
{
    memcpy(key, &writer, 4);
    memcpy(key + 4, &seq, 4);
}

/* Check a record written with rl_fill; returns 0 and the identity, or -1
 * with a reason in why. */
static inline int rl_check(const evl_record_t *rec, uint64_t seed, uint32_t *writer,
                           uint32_t *seq, const char **why)
{
    size_t vlen, klen;
    const uint8_t *v = evl_record_value(rec, &vlen);
    const uint8_t *k = evl_record_key(rec, &klen);
    static uint8_t buf[1 << 20];
    uint32_t hdr[4];
    *why = "ok";
    if (!v || vlen < RL_VHDR || vlen > sizeof buf) {
        *why = "bad value length";
        return -1;
    }
    memcpy(hdr, v, sizeof hdr);
    if (hdr[0] != RL_MAGIC || hdr[3] != vlen) {
        *why = "bad value header";
        return -1;
    }
    uint8_t kk[8];
    rl_key(kk, hdr[1], hdr[2]);
    if (!k || klen != 8 || memcmp(k, kk, 8) != 0) {
        *why = "key does not match value";
        return -1;
    }
    rl_fill(buf, vlen, seed, hdr[1], hdr[2]);
    if (memcmp(buf, v, vlen) != 0) {
        *why = "value bytes differ";
        return -1;
    }
    *writer = hdr[1];
    *seq = hdr[2];
    return 0;
}

/* Fill msg (key buffer and value buffer supplied) for (writer, seq). */
static inline void rl_msg(evl_msg_t *m, uint8_t key[8], uint8_t *val, size_t len,
                          uint64_t seed, uint32_t writer, uint32_t seq, int partition)
{
    rl_key(key, writer, seq);
    rl_fill(val, len, seed, writer, seq);
    memset(m, 0, sizeof *m);
    m->key = key;
    m->key_len = 8;
    m->value = val;
    m->value_len = len;
    m->timestamp = EVL_TIMESTAMP_NOW;
    m->partition = partition;
    m->offset = -1;
}

/* ---- files -------------------------------------------------------------- */

static inline int rl_read_file(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -errno;
    }
    uint8_t *b = malloc(st.st_size ? (size_t)st.st_size : 1);
    size_t got = 0;
    while (b && got < (size_t)st.st_size) {
        ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *data = b;
    *len = got;
    return b ? 0 : -ENOMEM;
}

static inline int rl_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -errno;
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n <= 0) {
            close(fd);
            return -EIO;
        }
        done += (size_t)n;
    }
    close(fd);
    return 0;
}

/* Copy every regular file of directory from into to (created). */
static inline int rl_copy_dir(const char *from, const char *to)
{
    mkdir(to, 0755);
    DIR *d = opendir(from);
    if (!d)
        return -errno;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        struct stat st;
        if (lstat(a, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        uint8_t *data;
        size_t len;
        if ((rc = rl_read_file(a, &data, &len)) == 0) {
            rc = rl_write_file(b, data, len);
            free(data);
        }
        if (rc)
            break;
    }
    closedir(d);
    return rc;
}

static inline int rl_rm_rf(const char *path)
{
    return nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Fail the test if LeakSanitizer finds unreachable memory now (ASan builds
 * only). Needed because a leak report at process exit does not fail a
 * Criterion test: the worker's exit status is not looked at.
 */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
static inline void rl_leak_check(void)
{
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "LeakSanitizer found leaks (above)");
}
#else
static inline void rl_leak_check(void) {}
#endif

/* How many times the log callback buffer mentions needle. */
static inline int rl_log_count(const char *needle)
{
    int n = 0;
    for (const char *p = test_logbuf; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

#endif
