/*
 * mapahead.h - pages mapped ahead of readers: a reader about to scan a
 * range of a segment asks for it, and a job on the idle lane (bg.h) maps
 * it in short steps, so that the reader finds it resident instead of
 * taking a page fault per page. At most 8 requests wait, one per reader
 * (its token, never dereferenced); more are dropped, which costs only
 * speed.
 */
#ifndef EVL_MAPAHEAD_H
#define EVL_MAPAHEAD_H

#include <stdint.h>

#include "bg.h"

struct evl_seg;
typedef struct evl_mapahead evl_mapahead_t;

/* Registers its job with bg. 0, or an error of evl__bg_add / EVL_ENOMEM. */
int evl__mapahead_new(evl_bg_t *bg, evl_mapahead_t **out);
/* Map [from, from + len) of seg (a reference is held until it is done),
 * instead of what `token` asked for before. */
void evl__mapahead_ask(evl_mapahead_t *ma, const void *token, struct evl_seg *seg,
                       uint64_t from, uint64_t len);
/* Forget what `token` asked for; a step being mapped for it ends first,
 * so that the caller may drop what was mapped. */
void evl__mapahead_cancel(evl_mapahead_t *ma, const void *token);
/* Unregisters the job (after evl__bg_stop or not) and drops every
 * request. NULL is a no-op. */
void evl__mapahead_free(evl_mapahead_t *ma);

#endif
