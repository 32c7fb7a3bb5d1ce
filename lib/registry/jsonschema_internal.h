/*
 * jsonschema_internal.h - what the JSON Schema format's files share
 * (jsonschema.c: parsing, references, canonical form, the format's table;
 * jsonschema_validate.c: the validator and the regex translation;
 * jsonschema_compat.c: Confluent's schema diff).
 *
 * A parsed schema keeps the documents as jansson values and, computed once
 * at parse time, what validation needs to be quick and safe: the base URI
 * of each schema node, the target of each $ref (every $ref must resolve,
 * or the schema is invalid), and the compiled regexes of "pattern" and
 * "patternProperties" (a pattern we cannot translate makes the schema
 * invalid). Validation and the diff then never fail on a missing target.
 */
#ifndef EVL_REGISTRY_JSONSCHEMA_INTERNAL_H
#define EVL_REGISTRY_JSONSCHEMA_INTERNAL_H

#include "format.h"

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>

/* Nesting cap for validation and the diff (schemas, instances and $ref
 * hops together): beyond it the answer is an error, never a stack
 * overflow. jansson itself refuses JSON nested deeper than 2048. */
#define EVL_JS_MAX_DEPTH 256

/* A pointer-keyed map (open addressing): schema node -> value. */
typedef struct evl_js_map {
    struct evl_js_slot {
        const void *key;
        void *val;
    } *v;
    size_t n, cap;
} evl_js_map_t;

void *evl__js_map_get(const evl_js_map_t *m, const void *key);
int evl__js_map_put(evl_js_map_t *m, const void *key, void *val);
void evl__js_map_free(evl_js_map_t *m);

/* A compiled ECMA-262 pattern (translated to POSIX ERE). */
typedef struct evl_js_regex {
    regex_t re;
} evl_js_regex_t;

typedef struct evl_js_schema {
    json_t *root;        /* the schema itself */
    json_t **docs;       /* referenced documents (and the meta-schema) */
    size_t ndocs;
    /* URI (absolute, no fragment; or "uri#anchor") -> schema node */
    struct evl_js_res {
        char *uri;
        json_t *node;
    } *res;
    size_t nres, capres;
    evl_js_map_t base;   /* schema node -> its base URI (char *, in strs) */
    evl_js_map_t refs;   /* schema node holding $ref -> target node */
    evl_js_map_t regex;  /* pattern json string node -> evl_js_regex_t * */
    evl_js_map_t seen;   /* schema nodes walked (-> (void *)1) */
    char **strs;         /* strings owned by the schema */
    size_t nstrs, capstrs;
    char *canon;
    const char *title;
    int draft;           /* 4, 6 or 7 (the default) */
} evl_js_schema_t;

/* The target of the $ref of node (a schema object with "$ref"), or NULL. */
json_t *evl__js_ref_target(const evl_js_schema_t *js, const json_t *node);
/* The compiled regex of a pattern string node of the schema, or NULL. */
const evl_js_regex_t *evl__js_pattern(const evl_js_schema_t *js, const json_t *str);

/* Translate an ECMA-262 pattern to POSIX ERE and compile it. 0, or
 * EVL_ESCHEMA_INVALID with a message (the construct we cannot translate),
 * or EVL_ENOMEM. */
int evl__js_regex_compile(evl_js_regex_t *rx, const char *pattern, size_t len, char *err,
                          size_t errlen);
void evl__js_regex_free(evl_js_regex_t *rx);
/* Does the pattern match somewhere in s (unanchored, as ECMA's test())? */
bool evl__js_regex_search(const evl_js_regex_t *rx, const char *s, size_t len);

/* JSON equality as JSON Schema means it (1 == 1.0, deep). */
bool evl__js_equal(const json_t *a, const json_t *b);

/* Validate inst against js: 1 valid, 0 not (err says where and why),
 * EVL_ENOMEM, or EVL_ESCHEMA_INVALID when the depth cap is hit (err). */
int evl__js_check(const evl_js_schema_t *js, const json_t *inst, char *err, size_t errlen);

/* Confluent's diff: original = writer, update = reader. */
int evl__js_can_read(const void *reader, const void *writer, evl_sr_msgs_t *why);

/* Is node a valid draft-07 "format" of name? Unknown formats pass. */
bool evl__js_format_ok(const char *name, const char *s, size_t len);

#endif
