/*
 * install_check.c - built by `make check-install` against an installed copy
 * of the library, through pkg-config only, as a program outside the tree
 * would be. Checks that header and library agree and that a log opens.
 */
#include <eventlog.h>
#include <eventlog/batch.h> /* the area headers install beside it */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2 || evl_version_number() != EVL_VERSION_NUMBER)
        return 1;
    evl_log_t *log;
    int rc = evl_log_open(argv[1], NULL, &log);
    if (rc == 0)
        rc = evl_topic_create(log, "installed", 2, NULL);
    printf("install-check: libeventlog %s, open and create: %s\n", evl_version(),
           evl_strerror(rc));
    evl_log_close(log);
    return rc ? 1 : 0;
}
