/*
 * fuzz_pidsnap.c - libFuzzer target: the producer snapshot
 * (producers.snap, pidtab.c). Any file must load as a table or be refused
 * with EVL_ECORRUPT; a loaded table must then take checks, notes and
 * offset lookups without overflow or out-of-bounds access.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_file.h"
#include "pidtab.h"

static char dir[256];
static evl_pidtab_t *tab;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/evl-fuzz-pidsnap.%d", (int)getpid());
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0 || !(tab = malloc(EVL_PIDTAB_BYTES)))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[300];
    snprintf(path, sizeof path, "%s/producers.snap", dir);
    fuzz_write_checked(path, data, size);
    uint64_t base;
    int rc = evl__pidtab_load(dir, tab, &base);
    if (rc != 0 && rc != EVL_ECORRUPT)
        abort();
    if (rc == EVL_ECORRUPT) {
        if (evl__pidtab_count(tab) != 0)
            abort(); /* a refused snapshot leaves an empty table */
        return 0;
    }
    /* Use every entry the way appends and replays do. */
    for (uint32_t i = 0; i < EVL_PIDTAB_CAP; i++) {
        evl_pid_ent_t *e = &tab->e[i];
        if (!e->pid)
            continue;
        evl_pid_ent_t *got;
        uint64_t skip;
        int64_t first_new;
        for (int64_t seq = -1; seq <= 2; seq++) {
            int64_t s = seq < 0 ? -1 : e->next_seq - seq;
            if (evl__pidtab_check(tab, e->pid, e->epoch, s, 7, &got, &skip, &first_new) == 0) {
                for (uint64_t k = 0; k < skip; k++)
                    (void)evl__pidtab_dup_offset(got, (s < 0 ? first_new : s) + (int64_t)k);
            }
        }
        if (e->next_seq < EVL_SEQ_MAX - 7 && e->b[e->head].base < (uint64_t)INT64_MAX / 2)
            evl__pidtab_note(tab, e, e->pid, e->epoch, e->next_seq, e->b[e->head].base, 7,
                             i % 2);
    }
    evl__pidtab_note(tab, NULL, INT64_MAX, 0, 0, 0, 1, false);
    if (evl__pidtab_save(dir, tab, base) == 0 && evl__pidtab_load(dir, tab, &base) != 0)
        abort(); /* what is saved loads */
    return 0;
}
