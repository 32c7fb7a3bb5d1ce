/*
 * cache.c - a task's batch cache: the store entries a batch read or wrote,
 * by key (the store's index byte and the record key), so that a key read
 * again costs a hash lookup instead of a B-tree descent, and the commit
 * finds the batch's changes (each key once, with its last value) without
 * reading them back from LMDB or sorting a list of changes. Writes still
 * go through to the LMDB transaction at once (scans read LMDB), so the
 * cache never holds anything the transaction does not.
 *
 * Entries live in an array in the order they were made (the commit's
 * order: the same batch makes the same order, so a replay writes the same
 * frame); an open-addressing table of indexes finds them. Values are
 * malloc'd each, so a value's address holds until that key is written
 * again, whatever else the batch does.
 */
#include "streams_int.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const uint8_t *k, size_t n)
{
    uint64_t h = fnv1a64(k, n);
    return h ^ (h >> 29); /* the high bits into the low ones the table uses */
}

static int grow(evl_bcache_t *c)
{
    size_t cap = c->tcap ? c->tcap * 2 : 256;
    uint32_t *tab = malloc(cap * sizeof *tab);
    if (!tab)
        return EVL_ENOMEM;
    memset(tab, 0xff, cap * sizeof *tab);
    for (size_t i = 0; i < c->n; i++) {
        size_t s = c->ents[i].hash & (cap - 1);
        while (tab[s] != UINT32_MAX)
            s = (s + 1) & (cap - 1);
        tab[s] = (uint32_t)i;
    }
    free(c->tab);
    c->tab = tab;
    c->tcap = cap;
    return 0;
}

evl_bent_t *evl__bcache_find(evl_bcache_t *c, const uint8_t *k, size_t kl)
{
    if (!c->n)
        return NULL;
    uint64_t h = hash(k, kl);
    for (size_t s = h & (c->tcap - 1);; s = (s + 1) & (c->tcap - 1)) {
        uint32_t i = c->tab[s];
        if (i == UINT32_MAX)
            return NULL;
        evl_bent_t *e = &c->ents[i];
        if (e->hash == h && e->klen == kl && !memcmp(e->key, k, kl))
            return e;
    }
}

int evl__bcache_set(evl_bcache_t *c, const uint8_t *k, size_t kl, const void *v, size_t vl,
                    bool dirty, evl_bent_t **out)
{
    void *copy = NULL;
    if (v) {
        if (!(copy = malloc(vl ? vl : 1)))
            return EVL_ENOMEM;
        if (vl)
            memcpy(copy, v, vl);
    }
    evl_bent_t *e = evl__bcache_find(c, k, kl);
    if (!e) {
        if ((c->n + 1) * 2 > c->tcap && grow(c)) {
            free(copy);
            return EVL_ENOMEM;
        }
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 128;
            evl_bent_t *ents = realloc(c->ents, cap * sizeof *ents);
            if (!ents) {
                free(copy);
                return EVL_ENOMEM;
            }
            c->ents = ents;
            c->cap = cap;
        }
        uint8_t *key = malloc(kl ? kl : 1);
        if (!key) {
            free(copy);
            return EVL_ENOMEM;
        }
        memcpy(key, k, kl);
        e = &c->ents[c->n];
        *e = (evl_bent_t){.key = key, .klen = kl, .hash = hash(k, kl)};
        size_t s = e->hash & (c->tcap - 1);
        while (c->tab[s] != UINT32_MAX)
            s = (s + 1) & (c->tcap - 1);
        c->tab[s] = (uint32_t)c->n++;
    }
    free(e->val);
    e->val = copy;
    e->vlen = v ? vl : 0;
    e->dirty |= dirty;
    if (out)
        *out = e;
    return 0;
}

void evl__bcache_clear(evl_bcache_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->ents[i].key);
        free(c->ents[i].val);
    }
    c->n = 0;
    if (c->tab)
        memset(c->tab, 0xff, c->tcap * sizeof *c->tab);
}

void evl__bcache_free(evl_bcache_t *c)
{
    evl__bcache_clear(c);
    free(c->ents);
    free(c->tab);
    memset(c, 0, sizeof *c);
}
