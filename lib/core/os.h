/*
 * os.h - the thin system-call layer under every file operation.
 *
 * Every call that can fail in the write path goes through here, so that test
 * builds (-DEVL_TESTING) can make any of them fail on purpose: a countdown
 * per operation kind ("the next N calls succeed, then fail with errno E"),
 * which is how the fault-injection tests walk every failure point, as
 * SQLite's test_malloc.c does for allocations. Release builds compile the
 * hook away. Linux-specific pieces (futex, fallocate, boot id) live here too,
 * so a port swaps this file only.
 */
#ifndef EVL_OS_H
#define EVL_OS_H

#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

enum evl_os_op {
    EVL_OS_OPEN = 0,
    EVL_OS_FALLOCATE,
    EVL_OS_FTRUNCATE,
    EVL_OS_FSYNC,
    EVL_OS_MMAP,
    EVL_OS_RENAME,
    EVL_OS_MALLOC,
    EVL_OS_PWRITE,
    EVL_OS__COUNT
};

#ifdef EVL_TESTING
/* Fail the op after `after` more successful calls, with errno err, for
 * `count` calls (count < 0: forever); err EVL_TEST_FAULT_EXIT ends the
 * process there instead (_exit with that status: a crash right before the
 * op). Visible to tests only. */
#define EVL_TEST_FAULT_EXIT 99
__attribute__((visibility("default"))) void evl_test_fault(int op, int after,
                                                           int err, int count);
__attribute__((visibility("default"))) void evl_test_fault_clear(void);
/* Make every fdatasync take at least us microseconds (0: off). */
__attribute__((visibility("default"))) void evl_test_fsync_delay(int us);
/* How many times op was called (failed or not) since the process began. */
__attribute__((visibility("default"))) long evl_test_calls(int op);
int evl__os_fault(int op); /* 0 or the errno to fail with */
#define EVL_FAULT(op) evl__os_fault(op)
#else
#define EVL_FAULT(op) 0
#endif

/* Each returns 0 / an fd, or a negative errno. */
int evl__os_open(const char *path, int flags, int mode);
int evl__os_openat(int dirfd, const char *path, int flags, int mode);
/* Make [0, len) allocated on disk, extending the file if needed. Falls back
 * to writing zeros where fallocate is unsupported. Never leaves a sparse
 * hole that a later page fault could fail to fill (SIGBUS on ENOSPC). */
int evl__os_allocate(int fd, uint64_t off, uint64_t len);
int evl__os_ftruncate(int fd, uint64_t len);
int evl__os_fdatasync(int fd);
int evl__os_fsync_dir(const char *path);
/* dir/name holding exactly data, or as it was: written to name.tmp,
 * fdatasync'd, renamed over name, the folder fsync'd. */
int evl__os_write_file(const char *dir, const char *name, const void *data, size_t len);
int evl__os_mmap(int fd, size_t len, int writable, void **out);
int evl__os_munmap(void *addr, size_t len);
int evl__os_rename(const char *from, const char *to);
int evl__os_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Pre-fault [addr, addr+len) of a shared writable mapping so later stores do
 * not page-fault; best effort. */
void evl__os_prefault(void *addr, size_t len);
/* Map [addr, addr+len) of a shared mapping readable ahead of a reader (the
 * page cache reads it in if needed); best effort. */
void evl__os_populate_read(void *addr, size_t len);
/* Ask for the page cache behind [addr, addr+len) of a file mapping to be
 * built of 2 MiB folios, mapped by one page-table entry each (the range is
 * shrunk to whole 2 MiB units); best effort. */
void evl__os_hugepages(void *addr, size_t len);
/* Drop a read-only range from the page tables (RSS), keeping the page cache. */
void evl__os_dontneed(void *addr, size_t len);

void *evl__malloc(size_t n);
void *evl__calloc(size_t n, size_t m);
void *evl__realloc(void *p, size_t n);
char *evl__strdup(const char *s);

/* futex on a word in a MAP_SHARED mapping (not FUTEX_PRIVATE: other
 * processes wait on it too). timeout_ns < 0 waits forever. Returns 0 when
 * woken or the value differed, -ETIMEDOUT, -EINTR. */
int evl__futex_wait(_Atomic uint32_t *addr, uint32_t expected, int64_t timeout_ns);
void evl__futex_wake_all(_Atomic uint32_t *addr);
/* Sleep until any of the n words moves from its value in vals, or until
 * until_ns (CLOCK_MONOTONIC, absolute). futex_waitv(2) (Linux 5.16+); returns
 * 0 when woken or timed out, -ENOSYS when the kernel lacks it (the caller
 * then waits on one word in slices). n <= EVL_FUTEX_WAITV_MAX. */
#define EVL_FUTEX_WAITV_MAX 128
int evl__futex_wait_any(_Atomic uint32_t *const *words, const uint32_t *vals, size_t n,
                        int64_t until_ns);

/* The kernel's boot id (36 chars + NUL): shared-memory state written under
 * another boot is stale, because the page cache did not survive. */
void evl__os_boot_id(char out[40]);

/* Run the calling thread at SCHED_IDLE from now on, for background work
 * that must never preempt application threads (unprivileged threads cannot
 * come back, so only a dedicated thread does this). 0, or -1 if refused. */
int evl__os_sched_idle(void);

/* mkdir -p; 0 or -errno. */
int evl__os_mkdirs(const char *path, int mode);
/* rm -rf; 0 or -errno. */
int evl__os_rmtree(const char *path);

#endif
