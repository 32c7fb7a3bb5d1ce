/*
 * config.h - the configuration table behind evl_config_t.
 *
 * One table lists every name with its type, range and default, so that
 * setting, getting, validating, serializing a topic's settings into LMDB and
 * documenting them all read the same rows. Values are kept typed; a bitmap
 * remembers which were set explicitly, so a topic's settings can be laid over
 * the log's defaults.
 */
#ifndef EVL_CONFIG_H
#define EVL_CONFIG_H

#include "common.h"

enum evl_cfg_key {
    EVL_CFG_DISK_BYTES_MAX = 0,
    EVL_CFG_DISK_FULL_POLICY,
    EVL_CFG_DISK_FULL_BLOCK_MS,
    EVL_CFG_META_MAPSIZE,
    EVL_CFG_RETENTION_CHECK_MS,
    EVL_CFG_RECOVERY_MODE,
    EVL_CFG_LOG_CLEANER_ENABLE,
    EVL_CFG_LOG_CLEANER_BACKOFF_MS,
    EVL_CFG_NUM_PARTITIONS,
    /* topic-level settings, stored with each topic: */
    EVL_CFG_SEGMENT_BYTES,
    EVL_CFG_SEGMENT_MS,
    EVL_CFG_RETENTION_MS,
    EVL_CFG_RETENTION_BYTES,
    EVL_CFG_MAX_MESSAGE_BYTES,
    EVL_CFG_INDEX_INTERVAL_BYTES,
    EVL_CFG_PARTITIONER,
    EVL_CFG_DURABILITY,
    EVL_CFG_FLUSH_INTERVAL_MS,
    EVL_CFG_RETAIN_UNTIL_CONSUMED_BY,
    EVL_CFG_CLEANUP_POLICY,
    EVL_CFG_MIN_CLEANABLE_DIRTY_RATIO,
    EVL_CFG_MIN_COMPACTION_LAG_MS,
    EVL_CFG_MAX_COMPACTION_LAG_MS,
    EVL_CFG_DELETE_RETENTION_MS,
    /* producer */
    EVL_CFG_PARTITIONER_KEYLESS,
    EVL_CFG_STICKY_RECORDS,
    EVL_CFG_ENABLE_IDEMPOTENCE,
    EVL_CFG_PRODUCER_NAME,
    /* consumer */
    EVL_CFG_GROUP_ID,
    EVL_CFG_AUTO_OFFSET_RESET,
    EVL_CFG_ENABLE_AUTO_COMMIT,
    EVL_CFG_AUTO_COMMIT_INTERVAL_MS,
    EVL_CFG_MAX_POLL_INTERVAL_MS,
    EVL_CFG_ASSIGNMENT_STRATEGY,
    EVL_CFG_CHECK_CRCS,
    EVL_CFG_MAX_POLL_RECORDS,
    EVL_CFG_WAIT_SPIN_US,
    EVL_CFG__COUNT
};

/* Which keys were set explicitly: a bit each, as many words as the keys
 * need (no cap on their number, no order among them). */
#define EVL_CFG_SET_WORDS ((EVL_CFG__COUNT + 63) / 64)

/* Enumerated values (their index in the row's list). */
enum { EVL_FULL_REJECT = 0, EVL_FULL_BLOCK, EVL_FULL_DROP_OLDEST };
enum { EVL_RECOVERY_AUTO = 0, EVL_RECOVERY_REBUILD, EVL_RECOVERY_REPAIR };
enum { EVL_PART_XXH3 = 0, EVL_PART_MURMUR2 };
enum { EVL_KEYLESS_STICKY = 0, EVL_KEYLESS_ROUND_ROBIN };
enum { EVL_RESET_POLICY_EARLIEST = 0, EVL_RESET_POLICY_LATEST, EVL_RESET_POLICY_NONE };
enum { EVL_ASSIGN_RANGE = 0, EVL_ASSIGN_ROUNDROBIN, EVL_ASSIGN_STICKY };
enum { EVL_CLEANUP_DELETE = 0, EVL_CLEANUP_COMPACT, EVL_CLEANUP_COMPACT_DELETE,
       EVL_CLEANUP_DELETE_COMPACT };
/* cleanup.policy's two halves. */
static inline bool evl__cleanup_compacts(int64_t v) { return v != EVL_CLEANUP_DELETE; }
static inline bool evl__cleanup_deletes(int64_t v) { return v != EVL_CLEANUP_COMPACT; }
/* Fractions (min.cleanable.dirty.ratio) are kept in millionths. */
#define EVL_CFG_FRAC_ONE 1000000
/* durability values are EVL_DURABILITY_* - 1 as enum index */

struct evl_config {
    int64_t num[EVL_CFG__COUNT]; /* integers, booleans and enum indexes */
    char *str[EVL_CFG__COUNT];   /* string-typed values (malloc'd) */
    uint64_t set[EVL_CFG_SET_WORDS]; /* bit k: key k was set explicitly */
    evl_logger_t logger;
};

static inline bool evl__cfg_isset(const evl_config_t *cfg, int key)
{
    return (cfg->set[key / 64] >> (key % 64)) & 1;
}

int64_t evl__cfg_int(const evl_config_t *cfg, int key);
const char *evl__cfg_str(const evl_config_t *cfg, int key);
/* Initialise a config in place with defaults (no allocation). */
void evl__cfg_defaults(evl_config_t *cfg);
/* Release what a config in place owns. */
void evl__cfg_release(evl_config_t *cfg);
/* Copy src into dst (in place). 0 or EVL_ENOMEM. */
int evl__cfg_copy(evl_config_t *dst, const evl_config_t *src);
/* dst's topic keys not set explicitly take base's values. */
int evl__cfg_overlay_topic(evl_config_t *dst, const evl_config_t *base);
/* Serialize the topic keys as "name=value\n" lines; malloc'd. */
char *evl__cfg_topic_serialize(const evl_config_t *cfg);
/* Parse such lines over cfg (unknown names are ignored for forward
 * compatibility; invalid values are an error). */
int evl__cfg_topic_parse(evl_config_t *cfg, const char *text, size_t len);
int evl__cfg_key_lookup(const char *name);
const char *evl__cfg_name(int key);

/* The calls a setting applies to. */
#define EVL_CFG_SCOPE_STORED 16u  /* stored with each topic (its record) */
#define EVL_CFG_SCOPE_LOG 1u      /* evl_log_open */
#define EVL_CFG_SCOPE_TOPIC 2u    /* evl_topic_create (and the log's defaults) */
#define EVL_CFG_SCOPE_PRODUCER 4u /* evl_producer_new (and the log's defaults) */
#define EVL_CFG_SCOPE_CONSUMER 8u /* evl_consumer_new */
/* The first key set explicitly in cfg that applies to none of scopes, and
 * whose value differs from same_ok's (NULL: any value); -1 if none. A call
 * refuses such a key rather than ignore it silently. */
int evl__cfg_scope_check(const evl_config_t *cfg, unsigned scopes, const evl_config_t *same_ok);

#endif
