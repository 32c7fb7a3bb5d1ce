/*
 * bench.h - shared declarations of the libeventlog benchmark suite.
 *
 * The suite measures libeventlog's workloads (W1-W10 of issue 5) through the
 * public API only, each next to a baseline (B0-B3, a bare CRC32C pass, bare
 * shared-memory latency, a whole-file mapping) run in the same process and
 * interleaved run by run, so that a noisy shared machine moves both figures
 * alike and the ratio between them stays meaningful. This header holds the
 * timing helpers, the options, the result registry ("figures": median, min,
 * max of the runs and paired ratios against a baseline) and the entry points
 * of each source file.
 */
#ifndef BENCH_H
#define BENCH_H

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_RUNS 64

/* ---- options (main.c) ---------------------------------------------------- */
struct bench_opts {
    double scale;        /* BENCH_SCALE / --scale: multiplies every count */
    int runs;            /* BENCH_RUNS / --runs: runs per figure (>= 5) */
    const char *only;    /* BENCH_ONLY / --only: comma list of W/B ids */
    char dir[PATH_MAX];  /* data directory (removed at the end) */
    const char *outdir;  /* results.tsv and machine.txt go here */
    const char *self;    /* path of this executable, for re-exec */
    int verbose;         /* -v: progress and notes on stderr */
};
extern struct bench_opts g_opt;

/** A return code (-errno or EVL_E*) as text (main.c, via evl_strerror). */
const char *rc_str(int rc);

/** Count for a full-scale count `full`, scaled, never below `min`. */
size_t scaled(double full, size_t min);

/* ---- time, records, files (common.c) ------------------------------------ */
static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void put_be64(void *p, uint64_t v)
{
    unsigned char *b = p;
    for (int i = 7; i >= 0; i--) {
        b[i] = (unsigned char)v;
        v >>= 8;
    }
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/** Fill buf with reproducible pseudo-random bytes (not compressible). */
void fill_pattern(void *buf, size_t n, uint64_t seed);
/** A fresh path "<data dir>/<name>-<n>" (not created). */
void data_path(char *out, size_t size, const char *name);
/** rm -rf path. 0 or -errno. */
int rm_rf(const char *path);
/** Make dir (mkdir -p of one level). 0 or -errno. */
int make_dir(const char *path);
/** Resident set and its high-water mark of this process, in KiB. */
int proc_mem_kb(long *rss_kb, long *hwm_kb);
/** Name of the file system holding path ("ext4", "tmpfs", ...). */
const char *fs_type_name(const char *path);
/** Progress line on stderr (only with -v, or always when `force`). */
void progress(int force, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- figures (report.c) -------------------------------------------------- */
typedef struct figure figure_t;

#define HIGHER_BETTER 1
#define LOWER_BETTER 0

/** Start a titled section of the table. */
void fig_section(const char *title);
/** A new figure (one table row). */
figure_t *fig_new(const char *id, const char *name, const char *unit,
                  int higher_better);
/** Add one run's value. */
void fig_add(figure_t *f, double v);
/** Mark a run as failed (the row then prints the reason). */
void fig_fail(figure_t *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Print f / base as a ratio, with target (NAN: none): >= target when f is
 * higher-better, <= target when lower-better. */
void fig_cmp(figure_t *f, const figure_t *base, double target);
/** An absolute target on f's median (>= or <= as above). */
void fig_target(figure_t *f, double target);
/** Tag a figure for plotting: group (e.g. "sweep"), series, x value. */
void fig_plot(figure_t *f, const char *group, const char *series,
              const char *x);
/** Convenience: add v if rc == 0, else record the failure. */
void fig_add_rc(figure_t *f, int rc, double v);
/** Print the whole table to out. Returns the number of failed figures. */
int report_table(FILE *out, const char *header);
/** Write every figure to path as tab-separated values. */
int report_tsv(const char *path);
/** Number of runs recorded so far for f. */
int fig_runs(const figure_t *f);

/* ---- CRC32C (crc32c.c: the library's own routine) ------------------------ */
/** The fastest one this CPU runs; crc32c_impl() says which ("sse4.2+pclmul",
 * "sse4.2" or "slice-8"). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
const char *crc32c_impl(void);
/** Self-check against the software version. 0 or -1. */
int crc32c_selftest(void);

/* ---- baselines (baselines.c): each returns elapsed ns, or -errno --------- */
/** B0: memcpy n records (8-byte key + vlen value) into a MAP_SHARED file
 * mapping; prefault: touch every page first (untimed). */
int64_t b0_memcpy_map(size_t n, size_t klen, size_t vlen, int prefault);
/** B1: write(2) + fdatasync per record; overwrite: into a pre-written file. */
int64_t b1_write_fdatasync(size_t n, size_t reclen, int overwrite);
/** B2: LMDB as a queue: be64 keys, MDB_APPEND, 1000 per txn, MDB_NOSYNC. */
int64_t b2_lmdb_queue(size_t n, size_t klen, size_t vlen);
/** B3: SQLite as a queue: WAL, synchronous=NORMAL, 1000 per txn. */
int64_t b3_sqlite_queue(size_t n, size_t klen, size_t vlen);
/** CRC32C of total bytes of buf in chunks of chunk bytes (one per record). */
int64_t bcrc_pass(const void *buf, size_t total, size_t chunk, uint32_t *out);

/* ---- experiments (one per group of workloads) ----------------------------- */
int exp_append(void);     /* W1 W2 W3, size sweep, B0 B2 B3 (throughput.c) */
int exp_fsync(void);      /* W4, B1 (throughput.c) */
int exp_contention(void); /* W5 (throughput.c) */
int exp_scan(void);       /* W6, CRC32C pass (throughput.c) */
int exp_compact(void);    /* W11, a compaction pass (throughput.c) */
int exp_latency(void);    /* W7 W8, shared-memory spin/futex (latency.c) */
int exp_recovery(void);   /* W9 W10, B9 B10 (recovery.c) */

/** Entry points of re-executed children (recovery.c). */
int child_scan_main(int argc, char **argv);

#endif /* BENCH_H */
