/*
 * avro_internal.h - the parsed Avro schema, shared by avro.c (parse,
 * canonical text), avro_compat.c (schema resolution as a compatibility
 * check) and avro_codec.c (JSON encoding <-> binary, with resolution).
 * Private to those files.
 *
 * A schema is a graph, not a tree: a named type is one node, and every
 * later use of its name (including a recursive one inside itself) points
 * at that node. So every node is owned by the schema's arena (nodes[]) and
 * freed from there, never by walking the graph.
 */
#ifndef EVL_REGISTRY_AVRO_INTERNAL_H
#define EVL_REGISTRY_AVRO_INTERNAL_H

#include "format.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Nesting caps. Schema nesting is bounded at parse time; data nesting is
 * bounded in the codec (a recursive type can nest data without bound). */
#define EVL_AVRO_MAX_SCHEMA_DEPTH 64
#define EVL_AVRO_MAX_DATA_DEPTH 128

typedef enum evl_avro_kind {
    EVL_AVRO_NULL,
    EVL_AVRO_BOOLEAN,
    EVL_AVRO_INT,
    EVL_AVRO_LONG,
    EVL_AVRO_FLOAT,
    EVL_AVRO_DOUBLE,
    EVL_AVRO_BYTES,
    EVL_AVRO_STRING,
    EVL_AVRO_RECORD, /* also "error" */
    EVL_AVRO_ENUM,
    EVL_AVRO_ARRAY,
    EVL_AVRO_MAP,
    EVL_AVRO_UNION,
    EVL_AVRO_FIXED
} evl_avro_kind_t;

typedef struct evl_avro_node evl_avro_node_t;

typedef struct evl_avro_field {
    char *name;
    char **aliases;        /* as given (field aliases have no namespace) */
    size_t naliases;
    evl_avro_node_t *type;
    json_t *def;           /* the default (a reference), NULL when none */
} evl_avro_field_t;

struct evl_avro_node {
    evl_avro_kind_t kind;
    /* named types (record, enum, fixed) */
    char *name;            /* unqualified */
    char *fullname;        /* namespace.name, or name in the null namespace */
    char **aliases;        /* full names, resolved against the namespace */
    size_t naliases;
    /* record */
    evl_avro_field_t *fields;
    size_t nfields;
    /* enum */
    char **symbols;
    size_t nsymbols;
    int enum_default;      /* index into symbols, -1 when none */
    /* array items, map values */
    evl_avro_node_t *items;
    /* union */
    evl_avro_node_t **branches;
    size_t nbranches;
    /* fixed */
    size_t size;
    /* annotations kept for the reader: "decimal", "uuid", ... or NULL */
    const char *logical;   /* borrowed from the schema's JSON */
};

typedef struct evl_avro_schema {
    evl_avro_node_t *root;
    evl_avro_node_t **nodes; /* the arena: every node, owned */
    size_t nnodes, capnodes;
    evl_avro_node_t **named; /* the named types known (refs' and ours) */
    size_t nnamed, capnamed;
    json_t **docs;           /* parsed JSON texts (main last), owned */
    size_t ndocs;
    char *canonical;         /* the canonical text of the main text */
} evl_avro_schema_t;

/* The name a union branch goes by in the JSON encoding: the primitive's
 * name, "array", "map", or the full name of a named type. */
const char *evl__avro_type_name(const evl_avro_node_t *n);

/* Do the unqualified names match, or is the writer's full name one of the
 * reader's aliases? (Avro 1.11 spec, "Schema Resolution"; Java's
 * SchemaCompatibility.schemaNameEquals.) */
int evl__avro_names_match(const evl_avro_node_t *reader, const evl_avro_node_t *writer);

/* The reader field that reads writer field named wname (by name, then by
 * the reader field's aliases), or -1. */
long evl__avro_field_for(const evl_avro_node_t *reader, const char *wname);

/* Field index of name in record n, or -1. */
long evl__avro_field_index(const evl_avro_node_t *n, const char *name);

/* Symbol index in enum n, or -1. */
long evl__avro_symbol_index(const evl_avro_node_t *n, const char *sym);

/* The format's entry points living outside avro.c. */
int evl__avro_can_read(const void *reader, const void *writer, evl_sr_msgs_t *why);
int evl__avro_encode(const void *schema, const int *path, size_t depth, const char *json,
                     size_t len, evl_sr_buf_t *out, char *err, size_t errlen);
int evl__avro_decode(const void *writer, const void *reader, const int *path, size_t depth,
                     const uint8_t *data, size_t len, evl_sr_buf_t *out, char *err,
                     size_t errlen);

#endif
