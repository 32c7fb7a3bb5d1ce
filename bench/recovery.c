/*
 * recovery.c - what a log costs to reopen after a crash, and what a reader
 * costs in memory (issue 5):
 *
 *   W9   time to open a log after a simulated crash: a child process appends
 *        1 KiB records and is killed with SIGKILL mid-append; the parent then
 *        times evl_log_open ("open"), and open + a first append + a reader
 *        positioned at the end ("first", in case recovery is done lazily on
 *        first use). For 100 MB and 2 GB of keys and values in the
 *        partition (times BENCH_SCALE):
 *        the 2 GB open must stay within 2x of the 100 MB one.
 *   B9   open + mmap + read of the last page + munmap + close of a file of
 *        the small size: the floor for checking a tail.
 *   W10  peak resident set growth of a fresh process (this program re-run
 *        with --child-scan) scanning a whole partition with evl_reader_next:
 *        VmHWM at the end minus VmRSS before the scan. For the 2 GB and the
 *        100 MB logs: bounded mappings keep the two alike.
 *   B10  the same for a naive reader that maps every file of the log whole.
 *
 * BENCH_DROP_CACHES=1 (root only) drops the page cache before each W9 open
 * (sync first), for cold-cache figures; it is off by default because it
 * disturbs everything else on the machine.
 */
#include "bench.h"
#include "eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOPIC "crash"
#define VLEN 1024
#define TAIL_RECORDS 256

static volatile uint64_t sink;

static void human(char *buf, size_t size, double bytes)
{
    if (bytes >= 1e9)
        snprintf(buf, size, "%.1f GB", bytes / 1e9);
    else if (bytes >= 1e6)
        snprintf(buf, size, "%.0f MB", bytes / 1e6);
    else
        snprintf(buf, size, "%.0f kB", bytes / 1e3);
}

/* ---- the crashing writer --------------------------------------------------- */
static void put_byte(int fd, char b)
{
    if (write(fd, &b, 1) != 1)
        _exit(1);
}

/* Child: append to dir's partition; once this process appended >= target
 * bytes of keys and values and >= TAIL_RECORDS records, say 'R' on wfd and
 * keep appending until killed. (The payload is counted here: the `bytes` of
 * evl_partition_info counts allocated blocks, preallocation included.)
 * Never returns. */
static void writer_child(const char *dir, int64_t target, int wfd)
{
    evl_log_t *log = NULL;
    evl_producer_t *p = NULL;
    unsigned char key[8], value[VLEN];
    pid_t parent = getppid();
    int signaled = 0, rc;
    size_t extra = 0;

    rc = evl_log_open(dir, NULL, &log);
    if (rc == 0) {
        rc = evl_topic_create(log, TOPIC, 1, NULL);
        if (rc == EVL_EEXIST)
            rc = 0;
    }
    if (rc == 0)
        rc = evl_producer_new(log, TOPIC, NULL, &p);
    if (rc != 0)
        put_byte(wfd, 'E'), _exit(1);
    fill_pattern(value, sizeof value, 30);
    for (uint64_t i = 0;; i++) {
        evl_msg_t m = {0};
        put_be64(key, i);
        m.key = key;
        m.key_len = sizeof key;
        m.value = value;
        m.value_len = sizeof value;
        m.timestamp = EVL_TIMESTAMP_NOW;
        m.partition = 0;
        if ((rc = evl_producer_send(p, &m, 0)) != 0) {
            if (!signaled)
                put_byte(wfd, 'E');
            _exit(1);
        }
        if (i % 256 != 255)
            continue;
        if (getppid() != parent)
            _exit(1);
        if (!signaled && i + 1 >= TAIL_RECORDS &&
            (int64_t)((i + 1) * (sizeof key + sizeof value)) >= target) {
            put_byte(wfd, 'R');
            signaled = 1;
        }
        if (signaled && (extra += 256) > 100000)
            for (;;) /* the parent kills us; don't fill the disk */
                pause();
    }
}

/* Start this program again as a child (argv[0] is g_opt.self) with
 * posix_spawn, which does not copy the parent's address space: after a
 * fork() on some hypervisors (shadow paging), the parent's first touch of
 * each page is slow for a while, and that cost would land in the next
 * figure this process takes. child_out, if >= 0, becomes the child's stdout;
 * close_fd, if >= 0, is closed in the child. */
static int spawn_self(char *const args[], int child_out, int close_fd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        return -rc;
    if (close_fd >= 0)
        rc = posix_spawn_file_actions_addclose(&fa, close_fd);
    if (rc == 0 && child_out >= 0) {
        rc = posix_spawn_file_actions_adddup2(&fa, child_out, 1);
        if (rc == 0)
            rc = posix_spawn_file_actions_addclose(&fa, child_out);
    }
    fflush(NULL);
    if (rc == 0)
        rc = posix_spawn(pid, g_opt.self, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    return -rc;
}

/* Run a writer child (this program, --child-write) on dir until it
 * reports, then SIGKILL it mid-append. */
static int crash_writer(const char *dir, int64_t target)
{
    int pfd[2], status, rc;
    char b = 0, tbuf[32], fbuf[16];
    pid_t pid;

    if (pipe(pfd) != 0)
        return -errno;
    snprintf(tbuf, sizeof tbuf, "%lld", (long long)target);
    snprintf(fbuf, sizeof fbuf, "%d", pfd[1]);
    char *args[] = {(char *)g_opt.self, "--child-write", (char *)dir, tbuf, fbuf, NULL};
    rc = spawn_self(args, -1, pfd[0], &pid);
    close(pfd[1]);
    if (rc != 0) {
        close(pfd[0]);
        return rc;
    }
    if (read(pfd[0], &b, 1) != 1)
        b = 0;
    close(pfd[0]);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return b == 'R' ? 0 : EVL_ESTATE;
}

static void drop_caches(void)
{
    int fd;
    if (!getenv("BENCH_DROP_CACHES") || strcmp(getenv("BENCH_DROP_CACHES"), "1"))
        return;
    sync();
    fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "3\n", 2) != 2)
            progress(1, "W9: cannot drop caches");
        close(fd);
    }
}

/* Time evl_log_open, and open + first append + reader at the end (us). */
static int w9_open(const char *dir, double *open_us, double *first_us, int rebuild)
{
    evl_log_t *log = NULL;
    evl_config_t *cfg = evl_config_new();
    evl_producer_t *p = NULL;
    evl_reader_t *rd = NULL;
    unsigned char key[8] = {0}, value[VLEN] = {0};
    evl_msg_t m = {0};
    uint64_t t0, t1, t2;
    int rc;

    /* rebuild: what the first open after a reboot does (the shared state
     * died with the page cache): check every partition's tail from its last
     * checkpoint. */
    if (rebuild)
        evl_config_set(cfg, "recovery.mode", "rebuild", NULL, 0);
    drop_caches();
    t0 = now_ns();
    rc = evl_log_open(dir, cfg, &log);
    t1 = now_ns();
    evl_config_free(cfg);
    if (rc == 0)
        rc = evl_producer_new(log, TOPIC, NULL, &p);
    if (rc == 0) {
        m.key = key;
        m.key_len = sizeof key;
        m.value = value;
        m.value_len = sizeof value;
        m.timestamp = EVL_TIMESTAMP_NOW;
        m.partition = 0;
        rc = evl_producer_send(p, &m, 0);
    }
    if (rc == 0)
        rc = evl_reader_open(log, TOPIC, 0, &rd);
    if (rc == 0)
        rc = evl_reader_seek(rd, EVL_OFFSET_END);
    t2 = now_ns();
    if (rc == 0)
        progress(0, "W9 %s: recoveries %lld, truncated %lld bytes", dir,
                 (long long)evl_log_stat(log, EVL_STAT_RECOVERIES),
                 (long long)evl_log_stat(log, EVL_STAT_TRUNCATED_BYTES));
    evl_reader_close(rd);
    evl_producer_close(p);
    evl_log_close(log);
    *open_us = (double)(t1 - t0) / 1e3;
    *first_us = (double)(t2 - t0) / 1e3;
    return rc;
}

/* B9: open, map and read the last page of a file, then close it (us). */
static int b9_tail(const char *path, double *us)
{
    struct stat st;
    uint64_t t0 = now_ns(), t1;
    int fd = open(path, O_RDONLY);
    void *p;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 4096) {
        if (fd >= 0)
            close(fd);
        return -EIO;
    }
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return -errno;
    }
    sink += ((volatile unsigned char *)p)[st.st_size - 1];
    munmap(p, (size_t)st.st_size);
    close(fd);
    t1 = now_ns();
    *us = (double)(t1 - t0) / 1e3;
    return 0;
}

/* ---- W10 / B10: scans in a fresh process ---------------------------------------- */
static void report_child(long rss0, uint64_t records, uint64_t bytes,
                         uint64_t ns)
{
    long rss, hwm;
    if (proc_mem_kb(&rss, &hwm) != 0)
        _exit(3);
    printf("%llu %llu %ld %ld %llu\n", (unsigned long long)records,
           (unsigned long long)bytes, rss0, hwm, (unsigned long long)ns);
    fflush(stdout);
}

#define MAX_MAPS 4096
static struct { void *p; size_t len; } maps[MAX_MAPS];
static int nmaps;
static uint64_t mapped_bytes;

static int map_one(const char *path, const struct stat *st, int flag,
                   struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode) || st->st_size == 0 ||
        nmaps == MAX_MAPS)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    void *p = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    for (off_t off = 0; off < st->st_size; off += 4096)
        sink += ((volatile unsigned char *)p)[off];
    maps[nmaps].p = p; /* kept mapped to the end, as a naive reader would */
    maps[nmaps++].len = (size_t)st->st_size;
    mapped_bytes += (uint64_t)st->st_size;
    return 0;
}

/* argv: self --child-scan DIR TOPIC | self --child-mapscan DIR |
 * self --child-write DIR TARGET_BYTES FD */
int child_scan_main(int argc, char **argv)
{
    long rss0, hwm0;
    uint64_t t0;

    if (argc < 3)
        return 2;
    if (!strcmp(argv[1], "--child-write")) {
        if (argc < 5)
            return 2;
        writer_child(argv[2], strtoll(argv[3], NULL, 10), atoi(argv[4]));
    }
    if (!strcmp(argv[1], "--child-mapscan")) {
        if (proc_mem_kb(&rss0, &hwm0) != 0)
            return 3;
        t0 = now_ns();
        nftw(argv[2], map_one, 32, FTW_PHYS);
        report_child(rss0, (uint64_t)nmaps, mapped_bytes, now_ns() - t0);
        return 0;
    }
    if (argc < 4)
        return 2;
    evl_log_t *log = NULL;
    evl_reader_t *rd = NULL;
    const evl_record_t *rec;
    uint64_t count = 0, bytes = 0;
    int rc = evl_log_open(argv[2], NULL, &log);
    if (rc == 0)
        rc = evl_reader_open(log, argv[3], 0, &rd);
    if (rc != 0 || proc_mem_kb(&rss0, &hwm0) != 0) {
        fprintf(stderr, "child-scan: %s\n", evl_strerror(rc));
        return 1;
    }
    t0 = now_ns();
    while ((rc = evl_reader_next(rd, 0, &rec)) == 0) {
        size_t len;
        const unsigned char *v = evl_record_value(rec, &len);
        bytes += len;
        sink += v && len ? v[len - 1] : 0;
        count++;
    }
    if (rc != EVL_ETIMEDOUT) {
        fprintf(stderr, "child-scan: %s\n", evl_strerror(rc));
        return 1;
    }
    report_child(rss0, count, bytes, now_ns() - t0);
    evl_reader_close(rd);
    evl_log_close(log);
    return 0;
}

/* Run this program as a scanning child; *mb = peak RSS growth in MB. */
static int scan_child(const char *mode, const char *dir, const char *topic,
                      double *mb)
{
    int pfd[2], status;
    char out[256] = "";
    unsigned long long records, bytes, ns;
    long rss0, hwm;
    struct rusage ru;
    ssize_t got = 0, r;
    pid_t pid;

    if (pipe(pfd) != 0)
        return -errno;
    char *args[] = {(char *)g_opt.self, (char *)mode, (char *)dir,
                    (char *)topic, NULL};
    int rc = spawn_self(args, pfd[1], pfd[0], &pid);
    if (rc != 0) {
        close(pfd[0]);
        close(pfd[1]);
        return rc;
    }
    close(pfd[1]);
    while (got < (ssize_t)sizeof out - 1 &&
           (r = read(pfd[0], out + got, sizeof out - 1 - (size_t)got)) > 0)
        got += r;
    close(pfd[0]);
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        return EVL_ESTATE;
    if (sscanf(out, "%llu %llu %ld %ld %llu", &records, &bytes, &rss0, &hwm,
               &ns) != 5)
        return EVL_ESTATE;
    progress(0, "%s %s: %llu records/files, %llu bytes, rss %ld kB -> hwm "
             "%ld kB (ru_maxrss %ld kB), %.2f s", mode, dir, records, bytes,
             rss0, hwm, ru.ru_maxrss, (double)ns / 1e9);
    *mb = (double)(hwm - rss0) * 1024.0 / 1e6;
    return 0;
}

/* ---- the experiment ------------------------------------------------------------- */
int exp_recovery(void)
{
    int64_t small = (int64_t)scaled(100e6, 1u << 20);
    int64_t large = (int64_t)scaled(2e9, 20u << 20);
    char dsmall[PATH_MAX], dlarge[PATH_MAX], bfile[PATH_MAX];
    char hs[32], hl[32], name[96];
    figure_t *os, *ol, *fs, *fl, *b9, *rs, *rl, *b10s, *b10l, *ps, *pl;
    uint64_t t0;
    int rc, fd;

    human(hs, sizeof hs, (double)small);
    human(hl, sizeof hl, (double)large);
    fig_section("reopening after a crash (SIGKILL mid-append), 1 KiB values "
                "(W9), microseconds");
    snprintf(name, sizeof name, "B9 open+mmap+read last page of a %s file", hs);
    b9 = fig_new("B9", name, "us", LOWER_BETTER);
    snprintf(name, sizeof name, "evl_log_open after crash, %s partition", hs);
    os = fig_new("W9.open.S", name, "us", LOWER_BETTER);
    snprintf(name, sizeof name, "evl_log_open after crash, %s partition", hl);
    ol = fig_new("W9.open.L", name, "us", LOWER_BETTER);
    snprintf(name, sizeof name, "open + first append + reader at end, %s", hs);
    fs = fig_new("W9.first.S", name, "us", LOWER_BETTER);
    snprintf(name, sizeof name, "open + first append + reader at end, %s", hl);
    fl = fig_new("W9.first.L", name, "us", LOWER_BETTER);
    snprintf(name, sizeof name, "open after a reboot (recovery.mode=rebuild), %s", hs);
    ps = fig_new("W9.reboot.S", name, "us", LOWER_BETTER);
    snprintf(name, sizeof name, "open after a reboot (recovery.mode=rebuild), %s", hl);
    pl = fig_new("W9.reboot.L", name, "us", LOWER_BETTER);
    fig_cmp(os, b9, NAN);
    fig_cmp(ol, os, 2.0);
    fig_cmp(pl, ps, NAN);
    fig_cmp(fs, b9, NAN);
    fig_cmp(fl, fs, 2.0);

    data_path(dsmall, sizeof dsmall, "w9s");
    data_path(dlarge, sizeof dlarge, "w9l");
    data_path(bfile, sizeof bfile, "b9");
    t0 = now_ns();
    rc = crash_writer(dsmall, small);
    if (rc == 0)
        rc = crash_writer(dlarge, large);
    fd = open(bfile, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, small) != 0)
        fig_fail(b9, "cannot create %s", bfile);
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        figure_t *all[] = {os, ol, fs, fl, ps, pl};
        for (int i = 0; i < 6; i++)
            fig_fail(all[i], "the writer child failed (%s)", rc_str(rc));
    } else {
        progress(1, "recovery: wrote %s and %s in %.1f s", hs, hl,
                 (double)(now_ns() - t0) / 1e9);
        for (int r = 0; r < g_opt.runs; r++) {
            double o = 0, f = 0, b = 0;
            progress(1, "recovery: run %d/%d", r + 1, g_opt.runs);
            rc = crash_writer(dsmall, 0);
            if (rc == 0)
                rc = w9_open(dsmall, &o, &f, 0);
            fig_add_rc(os, rc, o);
            fig_add_rc(fs, rc, f);
            if (rc == 0)
                rc = w9_open(dsmall, &o, &f, 1);
            fig_add_rc(ps, rc, o);
            rc = crash_writer(dlarge, 0);
            if (rc == 0)
                rc = w9_open(dlarge, &o, &f, 0);
            fig_add_rc(ol, rc, o);
            fig_add_rc(fl, rc, f);
            if (rc == 0)
                rc = w9_open(dlarge, &o, &f, 1);
            fig_add_rc(pl, rc, o);
            rc = b9_tail(bfile, &b);
            fig_add_rc(b9, rc, b);
        }
    }
    unlink(bfile);

    fig_section("memory of a reader scanning a whole partition: peak RSS "
                "growth, MB (W10)");
    snprintf(name, sizeof name, "B10 map every file of the %s log whole", hs);
    b10s = fig_new("B10.S", name, "MB", LOWER_BETTER);
    snprintf(name, sizeof name, "evl_reader_next over the %s partition", hs);
    rs = fig_new("W10.S", name, "MB", LOWER_BETTER);
    snprintf(name, sizeof name, "B10 map every file of the %s log whole", hl);
    b10l = fig_new("B10.L", name, "MB", LOWER_BETTER);
    snprintf(name, sizeof name, "evl_reader_next over the %s partition", hl);
    rl = fig_new("W10.L", name, "MB", LOWER_BETTER);
    fig_cmp(rs, b10s, NAN);
    fig_cmp(rl, rs, 2.0);
    fig_cmp(rl, b10l, NAN);
    if (fig_runs(os) == 0) {
        figure_t *all[] = {rs, rl, b10s, b10l};
        for (int i = 0; i < 4; i++)
            fig_fail(all[i], "no log to scan");
    } else {
        for (int r = 0; r < g_opt.runs; r++) {
            double mb = 0;
            progress(1, "memory: run %d/%d", r + 1, g_opt.runs);
            rc = scan_child("--child-scan", dlarge, TOPIC, &mb);
            fig_add_rc(rl, rc, mb);
            rc = scan_child("--child-scan", dsmall, TOPIC, &mb);
            fig_add_rc(rs, rc, mb);
            rc = scan_child("--child-mapscan", dsmall, "-", &mb);
            fig_add_rc(b10s, rc, mb);
            rc = scan_child("--child-mapscan", dlarge, "-", &mb);
            fig_add_rc(b10l, rc, mb);
        }
    }
    rm_rf(dsmall);
    rm_rf(dlarge);
    return 0;
}
