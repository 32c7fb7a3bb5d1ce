/*
 * store.h - the registry's state: the topic __schemas (the truth) and its
 * index in the log's metadata (LMDB table registry.index).
 *
 * Index keys (first byte says which):
 *   'A'                          next offset of __schemas to apply (8 bytes BE)
 *   'N'                          highest schema id ever applied (4 bytes BE)
 *   'I' id                       a schema: JSON {"t":type,"s":text,"r":[refs]}
 *   'H' type hash id             "" (schemas by canonical hash, to find an id)
 *   'S' subject 0 version        id (4 BE) + deleted (1 byte)
 *   'U' id subject 0 version     "" (where an id is used)
 *   'R' subject 0 version id     "" (schema id refers to subject's version)
 *   'C' subject                  compatibility level (1 byte); subject "" global
 *   'M' subject                  mode (1 byte); subject "" global
 *   'E'                          epoch of ids' meaning (4 bytes BE)
 * ids and versions are 4 bytes big-endian, so keys sort by number.
 */
#ifndef EVL_REGISTRY_STORE_H
#define EVL_REGISTRY_STORE_H

#include "format.h"
#include "registry_int.h"

#include <pthread.h>

#define EVL_SR_TOPIC "__schemas"
#define EVL_SR_SUBJECT_MAX 255
#define EVL_SR_REF_DEPTH 16

/* A parsed schema kept in memory, by id. */
typedef struct evl_sr_cached {
    int id;
    evl_schema_type_t type;
    void *schema;
    struct evl_sr_cached *next;
} evl_sr_cached_t;

struct evl_registry {
    evl_log_t *log;
    evl_kv_table_t index;
    evl_producer_t *prod;
    pthread_mutex_t mu;      /* the reader, the cache, and writes of this handle */
    evl_reader_t *rd;
    evl_sr_cached_t *cache;
    evl_sr_cached_t *retired; /* parses an id no longer means (serializers
                                 may still hold them): freed at close */
    uint32_t epoch;           /* of the index when the cache was filled */
};

/* A stored version: what an 'S' entry holds. */
typedef struct evl_sr_ver {
    int version;
    int id;
    bool deleted;
} evl_sr_ver_t;

/* Bring the index up to what __schemas holds; *end (may be NULL) the
 * offset the next record of __schemas gets, as far as this handle knows.
 * Called with reg->mu held. */
int evl__sr_sync(evl_registry_t *reg, int64_t *end);

/* Inside a kv transaction: the offset of __schemas the index is applied
 * up to (a snapshot older than the end a sync reached is stale: another
 * handle is rebuilding it); the epoch, moved when an id may change its
 * meaning (a hard delete of its last version, a rebuild); move it. */
int64_t evl__sr_applied(evl_kv_t *kv, evl_registry_t *reg);
uint32_t evl__sr_epoch(evl_kv_t *kv, evl_registry_t *reg);
int evl__sr_bump_epoch(evl_kv_t *kv, evl_registry_t *reg);

/* Append msgs to __schemas (fsync) only if its next offset is still end:
 * 0, EVL_EAGAIN_STALE when it moved (sync and decide again), or an error. */
#define EVL_SR_STALE (-30190)
int evl__sr_append(evl_registry_t *reg, evl_msg_t *msgs, size_t n, int64_t end);

/* Key builders (buf of at least 512 bytes); the length, or EVL_EINVAL for a
 * subject too long. */
size_t evl__sr_key_subj(uint8_t *buf, const char *subject, int version);
size_t evl__sr_key_id(uint8_t *buf, char tag, int id);
size_t evl__sr_key_named(uint8_t *buf, char tag, const char *subject);
size_t evl__sr_key_hash(uint8_t *buf, evl_schema_type_t type, uint64_t hash, int id);
uint32_t evl__sr_be32(const uint8_t *p);
void evl__sr_put32(uint8_t *p, uint32_t v);

/* Inside a kv transaction: the versions of subject (ascending; deleted
 * ones included; *out malloc'd). */
int evl__sr_versions(evl_kv_t *kv, evl_registry_t *reg, const char *subject, evl_sr_ver_t **out,
                     size_t *count);
/* Inside a kv transaction: the stored schema id (type, text, refs JSON). */
int evl__sr_load(evl_kv_t *kv, evl_registry_t *reg, int id, evl_schema_info_t *info);
/* Inside a kv transaction: the level (or mode) of subject, falling back to
 * the global one, then the default. */
int evl__sr_level(evl_kv_t *kv, evl_registry_t *reg, const char *subject);
int evl__sr_mode(evl_kv_t *kv, evl_registry_t *reg, const char *subject);
/* Inside a kv transaction: the id of an identical schema, or 0. */
int evl__sr_find_id(evl_kv_t *kv, evl_registry_t *reg, evl_schema_type_t type,
                    const char *canonical, const evl_schema_ref_t *refs, size_t nrefs);
uint64_t evl__sr_hash(evl_schema_type_t type, const char *canonical, const evl_schema_ref_t *refs,
                      size_t nrefs);

/* A schema parsed with its references resolved (from the index). The
 * caller frees with the format's free; *text (may be NULL) gets the
 * canonical text (malloc'd). */
typedef struct evl_sr_parsed {
    evl_schema_type_t type;
    const evl_sr_format_t *fmt;
    void *schema;
    char *canonical;
} evl_sr_parsed_t;
int evl__sr_parse(evl_kv_t *kv, evl_registry_t *reg, evl_schema_type_t type, const char *text,
                  const evl_schema_ref_t *refs, size_t nrefs, evl_sr_parsed_t *out);
void evl__sr_parsed_free(evl_sr_parsed_t *p);
/* Inside a kv transaction: each reference to a live version (latest: the
 * last live one, written into refs[i].version). */
int evl__sr_resolve_refs(evl_kv_t *kv, evl_registry_t *reg, evl_schema_ref_t *refs, size_t nrefs);
/* The parsed schema of id from the cache (parsed and cached on first use).
 * Borrowed: valid until the registry is closed. */
int evl__sr_cached(evl_kv_t *kv, evl_registry_t *reg, int id, evl_schema_type_t *type,
                   const void **schema);
/* The id's schema from a fresh read transaction (serdes). */
int evl__sr_schema_by_id(evl_registry_t *reg, int id, evl_schema_type_t *type,
                         const void **schema);

/* Compatibility of parsed `nw` against the subject's versions per level
 * (version 0) or against one version: *ok, reasons in why. */
int evl__sr_check(evl_kv_t *kv, evl_registry_t *reg, const evl_sr_parsed_t *nw,
                  const evl_sr_ver_t *vers, size_t nvers, evl_compat_t level, bool *ok,
                  evl_sr_msgs_t *why);

void evl__sr_info_clear(evl_schema_info_t *info);
/* Copy refs (deep) into info. */
int evl__sr_info_refs_json(evl_schema_info_t *info, const char *json);
char *evl__sr_refs_json(const evl_schema_ref_t *refs, size_t nrefs);
bool evl__sr_subject_ok(const char *subject);
/* A scan callback that sets *(bool *)arg and stops. */
int evl__sr_any_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl);
/* Parse text with its refs resolved, after catching up. */
int evl__sr_parse_new(evl_registry_t *reg, evl_schema_type_t type, const char *text,
                      const evl_schema_ref_t *refs, size_t nrefs, evl_sr_parsed_t *out);
/* The thread's message: what, then the reasons. */
void evl__sr_seterr_msgs(const char *what, const evl_sr_msgs_t *m);

#endif
