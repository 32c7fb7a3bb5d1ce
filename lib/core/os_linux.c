/*
 * os_linux.c - Linux implementation of the system-call layer (os.h).
 *
 * Errors come back as negative errno values, never through the global errno,
 * so callers can pass them straight up as EVL_E* codes. In test builds every
 * operation first asks the fault table whether it should fail.
 */
#include "os.h"
#include "common.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#ifdef EVL_TESTING
#include <pthread.h>
static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int armed, after, err, count;
} faults[EVL_OS__COUNT];

void evl_test_fault(int op, int after, int err, int count)
{
    if (op < 0 || op >= EVL_OS__COUNT)
        return;
    pthread_mutex_lock(&fault_mu);
    faults[op].armed = 1;
    faults[op].after = after;
    faults[op].err = err;
    faults[op].count = count;
    pthread_mutex_unlock(&fault_mu);
}

void evl_test_fault_clear(void)
{
    pthread_mutex_lock(&fault_mu);
    memset(faults, 0, sizeof faults);
    pthread_mutex_unlock(&fault_mu);
}

static _Atomic int fsync_delay_us;

void evl_test_fsync_delay(int us) { atomic_store(&fsync_delay_us, us); }

static _Atomic long op_calls[EVL_OS__COUNT];

long evl_test_calls(int op)
{
    return op >= 0 && op < EVL_OS__COUNT ? atomic_load(&op_calls[op]) : 0;
}

int evl__os_fault(int op)
{
    atomic_fetch_add(&op_calls[op], 1);
    if (op == EVL_OS_FSYNC && atomic_load(&fsync_delay_us) > 0)
        usleep((useconds_t)atomic_load(&fsync_delay_us));
    int err = 0;
    pthread_mutex_lock(&fault_mu);
    if (faults[op].armed) {
        if (faults[op].after > 0) {
            faults[op].after--;
        } else if (faults[op].count != 0) {
            err = faults[op].err;
            if (faults[op].count > 0 && --faults[op].count == 0)
                faults[op].armed = 0;
        }
    }
    pthread_mutex_unlock(&fault_mu);
    if (err == EVL_TEST_FAULT_EXIT)
        _exit(EVL_TEST_FAULT_EXIT); /* a crash right before the op */
    return err;
}
#endif

int evl__os_open(const char *path, int flags, int mode)
{
    return evl__os_openat(AT_FDCWD, path, flags, mode);
}

int evl__os_openat(int dirfd, const char *path, int flags, int mode)
{
    int err = EVL_FAULT(EVL_OS_OPEN);
    if (err)
        return -err;
    int fd;
    do {
        fd = openat(dirfd, path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int evl__os_allocate(int fd, uint64_t off, uint64_t len)
{
    int err = EVL_FAULT(EVL_OS_FALLOCATE);
    if (err)
        return -err;
    if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return -errno;
    /* No fallocate here: write real zeros so every block exists. */
    static const char zeros[65536];
    uint64_t end = off + len;
    for (uint64_t p = off; p < end;) {
        size_t n = (size_t)((end - p) < sizeof zeros ? (end - p) : sizeof zeros);
        int rc = evl__os_pwrite(fd, zeros, n, p);
        if (rc < 0)
            return rc;
        p += n;
    }
    return 0;
}

int evl__os_ftruncate(int fd, uint64_t len)
{
    int err = EVL_FAULT(EVL_OS_FTRUNCATE);
    if (err)
        return -err;
    return ftruncate(fd, (off_t)len) == 0 ? 0 : -errno;
}

int evl__os_fdatasync(int fd)
{
    int err = EVL_FAULT(EVL_OS_FSYNC);
    if (err)
        return -err;
    int rc;
    do {
        rc = fdatasync(fd);
    } while (rc < 0 && errno == EINTR);
    return rc == 0 ? 0 : -errno;
}

int evl__os_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = EVL_FAULT(EVL_OS_FSYNC);
    int rc = err ? -err : (fsync(fd) == 0 ? 0 : -errno);
    close(fd);
    return rc;
}

int evl__os_write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name) >= (int)sizeof tmp ||
        snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return -ENAMETOOLONG;
    int fd = evl__os_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? fd : evl__os_pwrite(fd, data, len, 0);
    if (rc == 0)
        rc = evl__os_fdatasync(fd);
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = evl__os_rename(tmp, path);
    if (rc == 0)
        rc = evl__os_fsync_dir(dir);
    else
        unlink(tmp);
    return rc;
}

int evl__os_mmap(int fd, size_t len, int writable, void **out)
{
    *out = NULL;
    int err = EVL_FAULT(EVL_OS_MMAP);
    if (err)
        return -err;
    void *p = mmap(NULL, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
                   fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    *out = p;
    return 0;
}

int evl__os_munmap(void *addr, size_t len)
{
    if (!addr)
        return 0;
    return munmap(addr, len) == 0 ? 0 : -errno;
}

int evl__os_rename(const char *from, const char *to)
{
    int err = EVL_FAULT(EVL_OS_RENAME);
    if (err)
        return -err;
    return rename(from, to) == 0 ? 0 : -errno;
}

int evl__os_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    int err = EVL_FAULT(EVL_OS_PWRITE);
    if (err)
        return -err;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* madvise over the pages [addr, addr+len) touches, best effort. */
static void advise_pages(void *addr, size_t len, int advice)
{
    uintptr_t a = EVL_ALIGN_DOWN((uintptr_t)addr, 4096);
    (void)madvise((void *)a, len + ((uintptr_t)addr - a), advice);
}

void evl__os_prefault(void *addr, size_t len)
{
    /* MADV_POPULATE_WRITE (5.14+) maps the pages writable in one call; on
     * older kernels the first store to each page takes the fault instead. */
    advise_pages(addr, len, MADV_POPULATE_WRITE);
}

void evl__os_populate_read(void *addr, size_t len)
{
    advise_pages(addr, len, MADV_POPULATE_READ);
}

void evl__os_hugepages(void *addr, size_t len)
{
    uintptr_t a = EVL_ALIGN_UP((uintptr_t)addr, EVL_HUGE_PAGE);
    uintptr_t e = EVL_ALIGN_DOWN((uintptr_t)addr + len, EVL_HUGE_PAGE);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
}

void evl__os_dontneed(void *addr, size_t len)
{
    uintptr_t a = EVL_ALIGN_UP((uintptr_t)addr, 4096);
    uintptr_t e = EVL_ALIGN_DOWN((uintptr_t)addr + len, 4096);
    if (e > a)
        (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

void *evl__malloc(size_t n)
{
    if (EVL_FAULT(EVL_OS_MALLOC))
        return NULL;
    return malloc(n ? n : 1);
}

void *evl__calloc(size_t n, size_t m)
{
    if (EVL_FAULT(EVL_OS_MALLOC))
        return NULL;
    return calloc(n ? n : 1, m ? m : 1);
}

void *evl__realloc(void *p, size_t n)
{
    if (EVL_FAULT(EVL_OS_MALLOC))
        return NULL;
    return realloc(p, n ? n : 1);
}

char *evl__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = evl__malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

int evl__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, expected, tsp,
                      NULL, 0);
    if (rc == 0 || errno == EAGAIN)
        return 0;
    return -errno;
}

int evl__futex_wait_any(_Atomic uint32_t *const *words, const uint32_t *vals, size_t n,
                        int64_t until_ns)
{
#ifdef __NR_futex_waitv
    static _Atomic bool missing; /* the kernel said ENOSYS once */
    if (n == 0 || n > EVL_FUTEX_WAITV_MAX || atomic_load_explicit(&missing, memory_order_relaxed))
        return -ENOSYS;
    struct futex_waitv w[EVL_FUTEX_WAITV_MAX];
    memset(w, 0, n * sizeof *w);
    for (size_t i = 0; i < n; i++) {
        w[i].val = vals[i];
        w[i].uaddr = (uintptr_t)words[i];
        w[i].flags = FUTEX_32; /* not private: other processes wake us */
    }
    struct timespec ts = {until_ns / 1000000000, until_ns % 1000000000};
    long rc = syscall(__NR_futex_waitv, w, (unsigned)n, 0, &ts, CLOCK_MONOTONIC);
    if (rc < 0 && errno == ENOSYS) {
        atomic_store(&missing, true);
        return -ENOSYS;
    }
    return 0;
#else
    (void)words, (void)vals, (void)n, (void)until_ns;
    return -ENOSYS;
#endif
}

void evl__futex_wake_all(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void evl__os_boot_id(char out[40])
{
    memset(out, 0, 40);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (f) {
        if (!fgets(out, 40, f))
            out[0] = 0;
        fclose(f);
        out[strcspn(out, "\n")] = 0;
    }
    if (!out[0]) {
        /* No boot id: fall back to the boot time, which also changes per boot. */
        struct timespec now, up;
        clock_gettime(CLOCK_REALTIME, &now);
        clock_gettime(CLOCK_BOOTTIME, &up);
        snprintf(out, 40, "bt-%lld", (long long)(now.tv_sec - up.tv_sec) / 10);
    }
}

int evl__os_sched_idle(void)
{
    struct sched_param sp = {0};
    return pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0 ? 0 : -1;
}

int evl__os_mkdirs(const char *path, int mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(buf, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int evl__os_rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : (errno == ENOTDIR ? (unlink(path) == 0 ? 0 : -errno) : -errno);
    struct dirent *e;
    int rc = 0;
    char sub[PATH_MAX];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= sizeof sub) {
            rc = -ENAMETOOLONG;
            continue;
        }
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
            int r = evl__os_rmtree(sub);
            if (r < 0)
                rc = r;
        } else if (unlink(sub) < 0 && errno != ENOENT) {
            rc = -errno;
        }
    }
    closedir(d);
    if (rmdir(path) < 0 && errno != ENOENT)
        rc = -errno;
    return rc;
}
