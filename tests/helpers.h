/*
 * helpers.h - shared test fixtures: a fresh temp directory per test, a log
 * callback that collects messages, and small record helpers.
 *
 * Criterion runs each test in its own process; the .init fixture makes a
 * directory under /tmp (or $EVL_TEST_TMP) and .fini removes it.
 */
#ifndef EVL_TEST_HELPERS_H
#define EVL_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <eventlog.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char test_dir[200];
static char test_logbuf[16384];

static inline void test_log_cb(void *opaque, int level, const char *msg)
{
    (void)opaque;
    size_t n = strlen(test_logbuf);
    snprintf(test_logbuf + n, sizeof test_logbuf - n, "[%d] %s\n", level, msg);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(path);
}

static inline void test_dir_setup(void)
{
    const char *base = getenv("EVL_TEST_TMP");
    snprintf(test_dir, sizeof test_dir, "%s/evltest.XXXXXX", base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(test_dir));
    test_logbuf[0] = 0;
}

static inline void test_small_fs_done(void);
static inline void test_dir_teardown(void)
{
    test_small_fs_done();
    if (test_dir[0])
        nftw(test_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A path inside the test directory. */
static inline const char *tpath(const char *rel)
{
    static char buf[4][1024];
    static int i;
    char *b = buf[i++ & 3];
    snprintf(b, 1024, "%.200s/%.800s", test_dir, rel);
    return b;
}

/* A config with the test log callback and any name=value pairs (NULL-ended). */
static inline evl_config_t *test_cfg(const char *name, ...)
{
    evl_config_t *cfg = evl_config_new();
    cr_assert_not_null(cfg);
    evl_config_set_log_cb(cfg, test_log_cb, NULL);
    va_list ap;
    va_start(ap, name);
    for (const char *n = name; n; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        char err[256] = "";
        int rc = evl_config_set(cfg, n, v, err, sizeof err);
        cr_assert_eq(rc, 0, "config %s=%s: %s", n, v, err);
    }
    va_end(ap);
    return cfg;
}

static inline evl_log_t *test_open(const evl_config_t *cfg)
{
    evl_log_t *log = NULL;
    int rc = evl_log_open(tpath("log"), cfg, &log);
    cr_assert_eq(rc, 0, "evl_log_open: %s", evl_strerror(rc));
    return log;
}

/* Open the test log, create topic with parts partitions (cfg gives both the
 * log's and the topic's settings; may be NULL) and a producer for it. */
static inline evl_log_t *test_open_topic(evl_config_t *cfg, const char *topic, int parts,
                                         evl_producer_t **prod)
{
    evl_log_t *log = test_open(cfg);
    int rc = evl_topic_create(log, topic, parts, cfg);
    cr_assert_eq(rc, 0, "create %s: %s", topic, evl_errname(rc));
    rc = evl_producer_new(log, topic, NULL, prod);
    cr_assert_eq(rc, 0, "producer: %s", evl_errname(rc));
    return log;
}

/* Append value (a string) with optional key to a partition; return offset. */
static inline int64_t test_send(evl_producer_t *prod, int partition, const char *key,
                                const char *value, int flags)
{
    evl_msg_t m = {key, key ? strlen(key) : 0, value, value ? strlen(value) : 0,
                   NULL, 0, EVL_TIMESTAMP_NOW, partition, -1};
    int rc = evl_producer_send(prod, &m, flags);
    cr_assert_eq(rc, 0, "send: %s", evl_strerror(rc));
    return m.offset;
}

static inline int test_quick(void) { return getenv("EVL_TEST_QUICK") != NULL; }

/*
 * A small file system of `bytes` at path (created), for full-disk tests: a
 * tmpfs mounted in a mount namespace of this test's own process (Criterion
 * runs each test in a process of its own), so the processes it starts see
 * it, nothing else does, and it vanishes with the process. Needs root (or
 * CAP_SYS_ADMIN); where the machine refuses, the test is skipped with the
 * reason. test_small_fs_done() unmounts it (from .fini, before the removal).
 */
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

static char test_small_fs_path[1024];

static inline void test_small_fs(const char *path, size_t bytes)
{
    char opts[64];
    cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST);
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        cr_skip_test("no mount namespace here (%s): full-disk test skipped", strerror(errno));
    snprintf(opts, sizeof opts, "size=%zu", bytes);
    if (mount("tmpfs", path, "tmpfs", 0, opts) != 0)
        cr_skip_test("cannot mount a tmpfs (%s): full-disk test skipped", strerror(errno));
    snprintf(test_small_fs_path, sizeof test_small_fs_path, "%s", path);
}

static inline void test_small_fs_done(void)
{
    if (test_small_fs_path[0])
        umount2(test_small_fs_path, MNT_DETACH);
    test_small_fs_path[0] = 0;
}

/* Fill the file system holding dir until ENOSPC (files fill, fill2, ...). */
static inline void test_fill_fs(const char *dir)
{
    char path[1100];
    static char block[65536];
    static int nfill;
    if (nfill++)
        snprintf(path, sizeof path, "%s/fill%d", dir, nfill);
    else
        snprintf(path, sizeof path, "%s/fill", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    setvbuf(f, NULL, _IONBF, 0);
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    while (fwrite(block, 1, 512, f) == 512)
        ;
    while (fwrite(block, 1, 1, f) == 1)
        ;
    fclose(f);
}

#endif
