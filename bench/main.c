/*
 * main.c - the driver of libeventlog's benchmark suite (issue 5): reads the
 * options, describes the machine, makes a scratch data directory, runs the
 * experiments (each interleaves a workload's runs with its baselines' runs),
 * prints one table on stdout, writes results.tsv (for plot.gp) and
 * machine.txt, and removes the data. Progress goes to stderr.
 *
 *   bin/bench [--quick] [--scale X] [--runs N] [--only LIST] [--dir DIR]
 *             [--out DIR] [-v]
 *
 * Environment: BENCH_SCALE, BENCH_RUNS, BENCH_ONLY, BENCH_DIR, BENCH_QUICK=1,
 * BENCH_DROP_CACHES=1 (see README.md). Exit status 1 if a figure failed.
 */
#include "bench.h"
#include "eventlog.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

struct bench_opts g_opt = {.scale = 1.0, .runs = 5, .outdir = "out"};

static char self_path[PATH_MAX];
static pid_t main_pid;
static int dir_made;

const char *rc_str(int rc) { return evl_strerror(rc); }

static void cleanup(void)
{
    if (dir_made && getpid() == main_pid) {
        rm_rf(g_opt.dir);
        dir_made = 0;
    }
}

static void on_signal(int sig)
{
    cleanup(); /* not async-signal-safe, but better than leaving GBs */
    signal(sig, SIG_DFL);
    raise(sig);
}

struct experiment {
    const char *name;
    const char *ids; /* what --only may name to select it */
    int (*run)(void);
};

static const struct experiment experiments[] = {
    {"append", "append sweep W1 W2 W3 W1i W3i B0 B2 B3", exp_append},
    {"fsync", "fsync W4 B1", exp_fsync},
    {"contention", "contention W5", exp_contention},
    {"scan", "scan W6 CRC", exp_scan},
    {"compact", "compact W11", exp_compact},
    {"latency", "latency W7 W8 BT BP", exp_latency},
    {"recovery", "recovery memory W9 W10 B9 B10", exp_recovery},
};
#define NEXP (sizeof experiments / sizeof experiments[0])

/* Is word (case-insensitive) one of the space-separated words of list? */
static int has_word(const char *list, const char *word, size_t len)
{
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, " ");
        if (n == len && !strncasecmp(p, word, len))
            return 1;
        p += n;
        p += strspn(p, " ");
    }
    return 0;
}

static int selected(const struct experiment *e)
{
    const char *p = g_opt.only;
    if (!p || !*p)
        return 1;
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n && has_word(e->ids, p, n))
            return 1;
        p += n;
        p += strspn(p, ", ");
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench [--quick] [--scale X] [--runs N] [--only LIST] "
            "[--dir DIR] [--out DIR] [-v]\n"
            "  --quick      BENCH_SCALE=0.01: proves the code paths, figures "
            "mean nothing\n"
            "  --scale X    multiply every record count and data size by X "
            "(default 1)\n"
            "  --runs N     runs per figure (default 5; the median is shown)\n"
            "  --only LIST  comma list of experiments or ids: append fsync "
            "contention scan\n"
            "               latency recovery compact, or W1..W11 B0..B3 CRC B9 B10\n"
            "  --dir DIR    parent of the scratch data directory (default "
            "$BENCH_DIR or /tmp)\n"
            "  --out DIR    where results.tsv and machine.txt go (default "
            "out)\n"
            "  -v           progress details on stderr\n");
}

static void parse(int argc, char **argv, const char **parent)
{
    const char *e;
    if ((e = getenv("BENCH_SCALE")) && *e)
        g_opt.scale = atof(e);
    if ((e = getenv("BENCH_QUICK")) && !strcmp(e, "1"))
        g_opt.scale = 0.01;
    if ((e = getenv("BENCH_RUNS")) && *e)
        g_opt.runs = atoi(e);
    if ((e = getenv("BENCH_ONLY")) && *e)
        g_opt.only = e;
    if ((e = getenv("BENCH_DIR")) && *e)
        *parent = e;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--quick"))
            g_opt.scale = 0.01;
        else if (!strcmp(a, "--scale") && more)
            g_opt.scale = atof(argv[++i]);
        else if (!strcmp(a, "--runs") && more)
            g_opt.runs = atoi(argv[++i]);
        else if (!strcmp(a, "--only") && more)
            g_opt.only = argv[++i];
        else if (!strcmp(a, "--dir") && more)
            *parent = argv[++i];
        else if (!strcmp(a, "--out") && more)
            g_opt.outdir = argv[++i];
        else if (!strcmp(a, "-v"))
            g_opt.verbose = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else {
            usage(stderr);
            exit(2);
        }
    }
    if (!(g_opt.scale > 0) || g_opt.runs < 1 || g_opt.runs > BENCH_MAX_RUNS) {
        fprintf(stderr, "bench: need scale > 0 and 1 <= runs <= %d\n",
                BENCH_MAX_RUNS);
        exit(2);
    }
}

/* "model name" from /proc/cpuinfo. */
static void cpu_model(char *buf, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, size, "unknown CPU");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ':');
        if (c && !strncmp(line, "model name", 10)) {
            c++;
            while (isspace((unsigned char)*c))
                c++;
            c[strcspn(c, "\n")] = 0;
            snprintf(buf, size, "%s", c);
            break;
        }
    }
    fclose(f);
}

static void describe(char *out, size_t size)
{
    char cpu[256];
    struct utsname u;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    double mem = (double)sysconf(_SC_PHYS_PAGES) *
                 (double)sysconf(_SC_PAGESIZE) / (1u << 30);
    cpu_model(cpu, sizeof cpu);
    uname(&u);
    snprintf(out, size,
             "libeventlog %s benchmarks: scale %g, %d run%s per figure "
             "(median, min, max)%s\n"
             "ratio = median of per-run ratios against the baseline (VS) run "
             "alongside; targets from issue 5\n"
             "machine: %s, %ld cores online, %.1f GiB RAM, %s %s; data in "
             "%s (%s); crc32c %s\n\n",
             evl_version(), g_opt.scale, g_opt.runs, g_opt.runs == 1 ? "" : "s",
             g_opt.runs < 5 ? " [fewer than 5 runs: not valid figures]" : "",
             cpu, cores, mem, u.sysname, u.release, g_opt.dir,
             fs_type_name(g_opt.dir), crc32c_impl());
}

static void write_machine(const char *header)
{
    char path[PATH_MAX + 32], cmd[PATH_MAX + 32], line[512];
    FILE *f, *p;
    snprintf(path, sizeof path, "%s/machine.txt", g_opt.outdir);
    if (!(f = fopen(path, "w")))
        return;
    fputs(header, f);
    snprintf(cmd, sizeof cmd, "df -T '%s' 2>/dev/null", g_opt.dir);
    if ((p = popen(cmd, "r"))) {
        while (fgets(line, sizeof line, p))
            fputs(line, f);
        pclose(p);
    }
    fclose(f);
}

int main(int argc, char **argv)
{
    const char *parent = "/tmp";
    char header[PATH_MAX + 4096], path[PATH_MAX + 32];
    uint64_t start = now_ns();
    ssize_t n;
    int failed;

    if (argc > 1 && !strncmp(argv[1], "--child-", 8))
        return child_scan_main(argc, argv);
    parse(argc, argv, &parent);
    setvbuf(stdout, NULL, _IOLBF, 0);
    n = readlink("/proc/self/exe", self_path, sizeof self_path - 1);
    if (n <= 0) {
        perror("readlink /proc/self/exe");
        return 2;
    }
    self_path[n] = 0;
    g_opt.self = self_path;
    if (crc32c_selftest() != 0) {
        fprintf(stderr, "bench: CRC32C self-test failed\n");
        return 2;
    }
    snprintf(g_opt.dir, sizeof g_opt.dir, "%s/evl-bench.XXXXXX", parent);
    if (!mkdtemp(g_opt.dir)) {
        fprintf(stderr, "bench: mkdtemp %s: %s\n", g_opt.dir, strerror(errno));
        return 2;
    }
    main_pid = getpid();
    dir_made = 1;
    atexit(cleanup);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    mkdir(g_opt.outdir, 0755);

    describe(header, sizeof header);
    write_machine(header);
    progress(1, "scale %g, %d runs, data in %s (%s)", g_opt.scale, g_opt.runs,
             g_opt.dir, fs_type_name(g_opt.dir));
    for (size_t i = 0; i < NEXP; i++) {
        uint64_t t0 = now_ns();
        if (!selected(&experiments[i]))
            continue;
        /* Start each experiment with no dirty pages left by the previous
         * one: their writeback (kernel flusher threads) would otherwise
         * compete for the cores while this one is timed. Not timed. */
        sync();
        experiments[i].run();
        progress(1, "%s: done in %.1f s", experiments[i].name,
                 (double)(now_ns() - t0) / 1e9);
    }
    cleanup();
    progress(1, "all experiments done in %.0f s", (double)(now_ns() - start) / 1e9);

    failed = report_table(stdout, header);
    snprintf(path, sizeof path, "%s/results.tsv", g_opt.outdir);
    if (report_tsv(path) != 0)
        fprintf(stderr, "bench: cannot write %s\n", path);
    snprintf(path, sizeof path, "%s/FULL", g_opt.outdir);
    if (g_opt.scale == 1.0 && g_opt.runs >= 5 && !g_opt.only) {
        FILE *f = fopen(path, "w");
        if (f)
            fclose(f);
    } else {
        unlink(path);
    }
    return failed ? 1 : 0;
}
