/*
 * producer_id.h - ids and epochs of idempotent producers (producer_id.c).
 */
#ifndef EVL_PRODUCER_ID_H
#define EVL_PRODUCER_ID_H

#include "common.h"

struct evl_log;

/* A producer id and epoch for an idempotent producer: name's (its epoch
 * raised by one) or, for NULL or "", a new id at epoch 0. */
int evl__producer_id_take(struct evl_log *log, const char *name, int64_t *pid, int32_t *epoch);

#endif
