/*
 * files.c - the few file operations the streams library makes on its
 * state directory: directories made with their parents, and a task's
 * directory removed when its local state belongs to no changelog any more
 * (nftw, not a shell: state.dir is the application's string).
 */
#include "streams_int.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int evl__mkdirs(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return EVL_ENOMEM;
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST) {
                free(p);
                return -errno;
            }
            *s = '/';
        }
    int rc = mkdir(p, 0755) && errno != EEXIST ? -errno : 0;
    free(p);
    return rc;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) && errno != ENOENT ? -1 : 0;
}

int evl__rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) && errno == ENOENT)
        return 0;
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) ? (errno ? -errno : EVL_EIO) : 0;
}
