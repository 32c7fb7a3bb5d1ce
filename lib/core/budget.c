/*
 * budget.c - the log-wide disk budget (disk.bytes.max) and its policies.
 *
 * Every growth of a file under DIR/topics asks first (evl__log_reserve):
 * a segment's allocation steps, a roll's new segment, the prefault
 * thread's allocation ahead, a topic's first segments. What is counted is
 * what the file system charges: the blocks of every file in every
 * partition folder (segments with their preallocated tails, indexes,
 * control blocks), so that the folder never holds more than the budget.
 *
 * Several processes share one budget through DIR/budget.ctl, a mapped page
 * holding the bytes in use as last counted plus what was reserved since,
 * and an flock on it that serialises the check with the allocation that
 * follows it (evl__log_reserve_done releases both). Counting means walking
 * the folders, so it is done at most once a second, and always when a
 * request comes within a margin of the budget: there the answer is exact.
 * Frees are not subtracted; the next count sees them.
 *
 * When a request does not fit, space is made first, whatever the policy:
 * retention (retention.ms / retention.bytes) runs at once rather than on
 * its timer, and sealed segments that every group named in a topic's
 * retain.until.consumed.by has committed past are deleted, oldest first
 * (store and forward: forwarded data goes when space is needed). Then:
 *   reject       EVL_EFULL;
 *   block        wait, making space again every 10 ms (a consumer that
 *                commits in another process frees what it consumed), up
 *                to disk.full.block.ms, then EVL_EFULL;
 *   drop-oldest  delete the oldest sealed segment of any topic until the
 *                request fits; with none left, the partition asking seals
 *                its own segment to drop it (partition.c).
 * Each change between "fits" and "full" is logged once, not each refusal
 * ("full" ends once a quarter of the budget is free again).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "os.h"
#include "topic.h"

#define BUDGET_MAGIC "EVLBGT1"
#define RECOUNT_MS 1000
/* Within this of the budget a request always recounts. */
#define MARGIN(max) EVL_MIN((max) / 16, (int64_t)(1 << 20))

struct evl_budget_file {
    char magic[8];
    _Atomic int64_t used;      /* counted, plus reserved since */
    _Atomic int64_t counted_ms; /* CLOCK_MONOTONIC ms of the last count */
};

/* The log a thread holds the budget of (reserve succeeded, done not yet),
 * and how many requests made while holding it are still to be done. */
static __thread evl_log_t *held;
static __thread int held_nested;

int evl__budget_open(evl_log_t *log)
{
    log->budget_fd = -1;
    if (evl__cfg_int(&log->cfg, EVL_CFG_DISK_BYTES_MAX) <= 0)
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/budget.ctl", log->dir);
    int fd = evl__os_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fd;
    void *p;
    int rc = evl__os_allocate(fd, 0, 4096);
    if (rc == 0)
        rc = evl__os_mmap(fd, 4096, 1, &p);
    if (rc) {
        close(fd);
        return rc;
    }
    log->budget_fd = fd;
    log->budget = p;
    if (memcmp(log->budget->magic, BUDGET_MAGIC, 8) != 0) {
        atomic_store(&log->budget->counted_ms, 0); /* count at the first request */
        memcpy(log->budget->magic, BUDGET_MAGIC, 8);
    }
    return 0;
}

void evl__budget_close(evl_log_t *log)
{
    if (log->budget)
        evl__os_munmap(log->budget, 4096);
    if (log->budget_fd >= 0)
        close(log->budget_fd);
    log->budget = NULL;
    log->budget_fd = -1;
}

int64_t evl__log_budget_share(const evl_log_t *log, int parts)
{
    int64_t max = evl__cfg_int(&log->cfg, EVL_CFG_DISK_BYTES_MAX);
    return max > 0 ? EVL_MAX(max / parts, (int64_t)1 << 20) : INT64_MAX;
}

bool evl__log_drops_oldest(const evl_log_t *log)
{
    return evl__cfg_int(&log->cfg, EVL_CFG_DISK_BYTES_MAX) > 0 &&
           evl__cfg_int(&log->cfg, EVL_CFG_DISK_FULL_POLICY) == EVL_FULL_DROP_OLDEST;
}

/* ---- counting ------------------------------------------------------------ */

int64_t evl__log_disk_bytes(evl_log_t *log)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/topics", log->dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char tdir[PATH_MAX];
        if ((size_t)snprintf(tdir, sizeof tdir, "%s/%s", path, e->d_name) >= sizeof tdir)
            continue;
        DIR *td = opendir(tdir);
        if (!td)
            continue;
        struct dirent *pe;
        while ((pe = readdir(td))) {
            if (pe->d_name[0] < '0' || pe->d_name[0] > '9')
                continue;
            char pdir[PATH_MAX];
            if ((size_t)snprintf(pdir, sizeof pdir, "%s/%s", tdir, pe->d_name) < sizeof pdir)
                total += evl__part_disk_bytes(pdir);
        }
        closedir(td);
    }
    closedir(d);
    return total;
}

/* ---- making space ---------------------------------------------------------- */

struct oldest {
    evl_part_t *part;
    int64_t ts;
    bool consumed_only;        /* only segments the retain groups consumed */
};

static int find_oldest(evl_part_t *part, void *arg)
{
    struct oldest *o = arg;
    int64_t ts = INT64_MAX, keep = -1;
    if (o->consumed_only && (keep = evl__part_keep_from(part)) < 0)
        return 0; /* no retain.until.consumed.by on its topic */
    if (evl__part_drop_oldest(part, &ts, true, keep) > 0 && ts < o->ts) {
        o->ts = ts;
        o->part = part;
    }
    return 0;
}

/* Delete the oldest sealed segment of any topic (consumed_only: that its
 * retain groups have consumed); bytes freed, 0 if none. */
static int64_t drop_oldest(evl_log_t *log, bool consumed_only)
{
    struct oldest o = {NULL, INT64_MAX, consumed_only};
    evl__log_each_partition(log, find_oldest, &o);
    if (!o.part)
        return 0;
    return evl__part_drop_oldest(o.part, NULL, false,
                                 consumed_only ? evl__part_keep_from(o.part) : -1);
}

static int retain_one(evl_part_t *part, void *arg)
{
    evl__part_retention(part, *(int64_t *)arg, evl__part_keep_from(part));
    return 0;
}

/* Make space until used + bytes fits (budget held). Returns the new count.
 * Partitions this handle has not opened yet are opened without waiting for
 * any lock (evl__part_nowait); one that would need to wait is passed over. */
static int64_t make_space_nowait(evl_log_t *log, uint64_t bytes, int64_t max, int policy)
{
    int64_t now = evl_now_ms();
    evl__log_each_partition(log, retain_one, &now);
    int64_t used = evl__log_disk_bytes(log);
    /* Forwarded data goes first, and down to a quarter of the budget free
     * (it is not needed, and one request at a time would keep the log at
     * the brim); unconsumed data only as far as the request needs. */
    while (used + (int64_t)bytes > max - max / 4 && drop_oldest(log, true) > 0)
        used = evl__log_disk_bytes(log);
    while (used + (int64_t)bytes > max && policy == EVL_FULL_DROP_OLDEST &&
           drop_oldest(log, false) > 0)
        used = evl__log_disk_bytes(log);
    return used;
}

static int64_t make_space(evl_log_t *log, uint64_t bytes, int64_t max, int policy)
{
    bool was = evl__part_nowait;
    evl__part_nowait = true;
    int64_t used = make_space_nowait(log, bytes, max, policy);
    evl__part_nowait = was;
    return used;
}

static void budget_lock(evl_log_t *log)
{
    pthread_mutex_lock(&log->budget_mu);
    while (flock(log->budget_fd, LOCK_EX) < 0 && errno == EINTR)
        ;
}

static void budget_unlock(evl_log_t *log)
{
    flock(log->budget_fd, LOCK_UN);
    pthread_mutex_unlock(&log->budget_mu);
}

static const char *const policy_names[] = {"reject", "block", "drop-oldest"};

/* The bytes in use (budget held): counted again when the count is older
 * than RECOUNT_MS or the request comes within MARGIN of the budget. */
static int64_t budget_used(evl_log_t *log, uint64_t bytes, int64_t max)
{
    struct evl_budget_file *f = log->budget;
    int64_t now = evl_mono_ns() / 1000000, used = atomic_load(&f->used);
    if (now - atomic_load(&f->counted_ms) > RECOUNT_MS ||
        used + (int64_t)bytes > max - MARGIN(max)) {
        used = evl__log_disk_bytes(log);
        atomic_store(&f->counted_ms, now);
        atomic_store(&f->used, used);
    }
    return used;
}

int evl__log_reserve(evl_log_t *log, uint64_t bytes)
{
    int64_t max = evl__cfg_int(&log->cfg, EVL_CFG_DISK_BYTES_MAX);
    if (max <= 0 || !log->budget)
        return 0;
    if (held == log) {
        held_nested++; /* inside a request: counted with it, at the next count */
        return 0;
    }
    int policy = (int)evl__cfg_int(&log->cfg, EVL_CFG_DISK_FULL_POLICY);
    int64_t deadline = evl_mono_ns() +
                       evl__cfg_int(&log->cfg, EVL_CFG_DISK_FULL_BLOCK_MS) * 1000000;
    struct evl_budget_file *f = log->budget;
    for (;;) {
        budget_lock(log);
        int64_t used = budget_used(log, bytes, max);
        if (used + (int64_t)bytes > max)
            used = make_space(log, bytes, max, policy);
        atomic_store(&f->used, used);
        if (used + (int64_t)bytes <= max) {
            atomic_store(&f->used, used + (int64_t)bytes);
            held = log; /* until evl__log_reserve_done */
            /* "Room again" once there is real room (a quarter of the
             * budget), not each time a smaller request fits, nor when a
             * seal's trim gives back a segment's unused tail: one line per
             * change of state. */
            if (used + (int64_t)bytes <= max - max / 4 &&
                atomic_exchange(&log->budget_full, false))
                evl__logf(&log->lg, EVL_LOG_NOTICE,
                          "disk budget: room again (%lld of %lld bytes in use)",
                          (long long)used, (long long)max);
            return 0;
        }
        budget_unlock(log);
        if (!atomic_exchange(&log->budget_full, true))
            evl__logf(&log->lg, EVL_LOG_WARNING,
                      "disk budget reached: %lld of %lld bytes in use, %llu more needed; "
                      "disk.full.policy=%s: %s", (long long)used, (long long)max,
                      (unsigned long long)bytes, policy_names[policy],
                      policy == EVL_FULL_BLOCK ? "sends wait for space"
                                               : "sends fail with EVL_EFULL");
        if (policy != EVL_FULL_BLOCK || evl_mono_ns() >= deadline)
            return EVL_EFULL;
        /* block: consumers and retention may free space meanwhile */
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

int evl__log_reserve_try(evl_log_t *log, uint64_t bytes)
{
    int64_t max = evl__cfg_int(&log->cfg, EVL_CFG_DISK_BYTES_MAX);
    if (max <= 0 || !log->budget)
        return 0;
    if (held == log) {
        held_nested++;
        return 0;
    }
    struct evl_budget_file *f = log->budget;
    budget_lock(log);
    int64_t used = budget_used(log, bytes, max);
    if (used + (int64_t)bytes > max) {
        budget_unlock(log);
        return EVL_EFULL;
    }
    atomic_store(&f->used, used + (int64_t)bytes);
    held = log;
    return 0;
}

void evl__log_reserve_done(evl_log_t *log)
{
    if (held != log)
        return;
    if (held_nested > 0) {
        held_nested--;
        return;
    }
    held = NULL;
    budget_unlock(log);
}
