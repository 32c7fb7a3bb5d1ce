/*
 * common.c - helpers shared by every benchmark: scaled counts, record
 * payloads, scratch paths under the data directory, recursive removal,
 * memory figures from /proc/self/status and the file-system name of the data
 * directory (an fsync figure on tmpfs means nothing, so the table says where
 * the data lived). Nothing here is timed.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

size_t scaled(double full, size_t min)
{
    double v = full * g_opt.scale;
    if (v < (double)min)
        return min;
    return (size_t)v;
}

void fill_pattern(void *buf, size_t n, uint64_t seed)
{
    /* xorshift64*: cheap, reproducible, incompressible enough */
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        p[i] = (unsigned char)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

void data_path(char *out, size_t size, const char *name)
{
    static unsigned counter;
    snprintf(out, size, "%s/%s-%u", g_opt.dir, name, counter++);
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

int rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? 0 : -errno;
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS) != 0)
        return -errno;
    return 0;
}

int make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int proc_mem_kb(long *rss_kb, long *hwm_kb)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    if (!f)
        return -errno;
    *rss_kb = *hwm_kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6))
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (!strncmp(line, "VmHWM:", 6))
            *hwm_kb = strtol(line + 6, NULL, 10);
    }
    fclose(f);
    return (*rss_kb < 0 || *hwm_kb < 0) ? -ENOENT : 0;
}

const char *fs_type_name(const char *path)
{
    struct statfs s;
    if (statfs(path, &s) != 0)
        return "unknown";
    switch ((unsigned long)s.f_type) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794c7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0xF2F52010: return "f2fs";
    case 0x6969: return "nfs";
    default: return "other";
    }
}

void progress(int force, const char *fmt, ...)
{
    va_list ap;
    if (!force && !g_opt.verbose)
        return;
    va_start(ap, fmt);
    fputs("bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
