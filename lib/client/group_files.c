/*
 * group_files.c - the files of a group under DIR/groups/GROUP (layout in
 * group.h): the shared state word that is bumped after each change, and the
 * member lock files whose flock tells a live member from a dead one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "group_int.h"
#include "config.h"
#include "meta.h"
#include "offsets.h"
#include "os.h"
#include "partition.h"
#include "reader.h"
#include "topic.h"

/* ---- files: the state word and member lock files ------------------------------ */

/* Map a group file, its blocks allocated first: a store into a page of a
 * file grown with ftruncate on a full file system is SIGBUS, where
 * fallocate fails cleanly with ENOSPC (and allocates the blocks a file made
 * sparse by an older version lacks). */
int evl__group_map_file(int fd, void **out)
{
    int rc = evl__os_allocate(fd, 0, GFILE_SIZE);
    return rc ? rc : evl__os_mmap(fd, GFILE_SIZE, 1, out);
}

void evl__group_bump(struct evl_gfile *sf)
{
    atomic_fetch_add_explicit(&sf->seq, 1, memory_order_release);
    evl__futex_wake_all(&sf->seq);
}

/* Bump the state word of the group in dir when no handle has it mapped. */
void evl__group_bump_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/state", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    void *p;
    if (fd < 0)
        return;
    if (evl__group_map_file(fd, &p) == 0) {
        evl__group_bump(p);
        munmap(p, GFILE_SIZE);
    }
    close(fd);
}

int evl__group_dir(evl_log_t *log, const char *group, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s/groups/%s", log->dir, group);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}


/* Is member id of the group in dir alive? DEAD: nobody holds its lock (the
 * process is gone); STALE: it holds it but has not polled for longer than
 * its max.poll.interval.ms. Errors other than a missing file count as
 * alive: taking partitions from a live member is the one mistake to avoid. */
int evl__group_member_status(const char *dir, const char *id, int64_t now_ms)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.lock", dir, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? M_DEAD : M_ALIVE;
    int st = M_ALIVE;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        st = M_DEAD;
    } else {
        /* The owner stores the heartbeat with one aligned store; read it
         * twice so a torn copy is never acted upon. */
        struct evl_mfile a, b;
        for (int i = 0; i < 4; i++) {
            if (pread(fd, &a, sizeof a, 0) != (ssize_t)sizeof a ||
                pread(fd, &b, sizeof b, 0) != (ssize_t)sizeof b)
                break;
            int64_t ha = atomic_load(&a.heartbeat_ms), hb = atomic_load(&b.heartbeat_ms);
            if (ha != hb)
                continue;
            if (ha > 0 && a.max_poll_ms > 0 && now_ms - ha > a.max_poll_ms)
                st = M_STALE;
            break;
        }
    }
    close(fd);
    return st;
}

/* A joiner's ID.tmp is locked from just after it is made until renamed to
 * ID.lock; one that nobody holds and that is older than a few seconds was
 * left by a joiner that died in between: remove it. */
#define TMP_GRACE_S 5
static void tmp_gc(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_mtime + TMP_GRACE_S < time(NULL) &&
        flock(fd, LOCK_EX | LOCK_NB) == 0)
        unlink(path);
    close(fd);
}

/* Remove *.lock files of members that are gone and not in the group (left
 * behind by members removed as stalled that then died). ids: current
 * members. Lock files appear only after being locked (made under a .tmp
 * name, then renamed), so a free *.lock is never a joiner's. */
void evl__group_gc_files(const char *dir, char (*ids)[EVL_MEMBER_ID_MAX], size_t n)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")) {
            tmp_gc(dir, e->d_name);
            continue;
        }
        if (len < 6 || len - 5 >= EVL_MEMBER_ID_MAX || strcmp(e->d_name + len - 5, ".lock"))
            continue;
        char id[EVL_MEMBER_ID_MAX];
        memcpy(id, e->d_name, len - 5);
        id[len - 5] = 0;
        bool listed = false;
        for (size_t i = 0; i < n && !listed; i++)
            listed = !strcmp(ids[i], id);
        if (!listed && evl__group_member_status(dir, id, group_mono_ms()) == M_DEAD) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

