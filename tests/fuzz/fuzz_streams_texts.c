/*
 * fuzz_streams_texts.c - the texts a streams task reads back from its
 * changelog and its local state: checkpoints, intents (input extents,
 * wall-clock punctuations, global-table positions) and the local
 * checkpoint's form. A changelog is a topic anyone can append to: nothing
 * in it may crash a task.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "streams_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evl__streams_fuzz_texts((const char *)data, size);
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    evl__streams_fuzz_positions(s);
    free(s);
    return 0;
}
