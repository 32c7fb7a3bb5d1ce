/*
 * fuzz_cplan.c - libFuzzer target: a compaction's plan file
 * (compact.swap/plan, compact.c), which the next open of a partition reads
 * to finish a swap a stopped cleaner left. Any file must be read as a plan
 * or refused with EVL_ECORRUPT, never read out of bounds or overflow.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compact.h"
#include "fuzz_file.h"

static char dir[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/evl-fuzz-cplan.%d", (int)getpid());
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/plan", dir);
    fuzz_write_checked(path, data, size);
    size_t groups, sources;
    int rc = evl__compact_plan_groups(dir, &groups, &sources);
    if (rc != 0 && rc != EVL_ECORRUPT && rc != EVL_ENOMEM)
        abort();
    if (rc == 0 && sources < groups)
        abort(); /* every group has a source */
    return 0;
}
