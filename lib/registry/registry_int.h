/*
 * registry_int.h - internals shared by the registry's modules (store,
 * serdes, rest).
 */
#ifndef EVL_REGISTRY_INT_H
#define EVL_REGISTRY_INT_H

#include <eventlog/registry.h>

/* Set / clear the calling thread's message (evl_registry_errmsg). */
void evl__sr_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void evl__sr_clearerr(void);

#endif
