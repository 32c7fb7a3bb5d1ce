/*
 * protobuf_internal.h - the Protobuf format's descriptor model, shared by
 * protobuf.c (model, resolution, canonical text, the format table),
 * protobuf_parse.c (.proto text), protobuf_desc.c (a serialized
 * FileDescriptorProto, what confluent-kafka-python sends), protobuf_compat.c
 * (Confluent's SchemaDiff) and protobuf_codec.c (JSON mapping <-> binary).
 *
 * One model for both input forms, so that text and descriptor give the same
 * canonical text. Maps are map fields (never their XxxEntry messages), the
 * synthetic oneofs of proto3 `optional` are not oneofs, and type references
 * are resolved to full names (no leading dot) once the file and its imports
 * are all parsed. Everything is malloc'd and owned by the tree.
 */
#ifndef EVL_REGISTRY_PROTOBUF_INTERNAL_H
#define EVL_REGISTRY_PROTOBUF_INTERNAL_H

#include "format.h"

#include <stddef.h>
#include <stdint.h>

/* Field types: descriptor.proto's FieldDescriptorProto.Type numbers. */
enum {
    PB_DOUBLE = 1, PB_FLOAT = 2, PB_INT64 = 3, PB_UINT64 = 4, PB_INT32 = 5,
    PB_FIXED64 = 6, PB_FIXED32 = 7, PB_BOOL = 8, PB_STRING = 9, PB_GROUP = 10,
    PB_MESSAGE = 11, PB_BYTES = 12, PB_UINT32 = 13, PB_ENUM = 14, PB_SFIXED32 = 15,
    PB_SFIXED64 = 16, PB_SINT32 = 17, PB_SINT64 = 18,
    PB_NAMED = 19 /* parsed, not yet resolved to PB_MESSAGE or PB_ENUM */
};

/* Labels: descriptor numbers, plus "none" (a proto3 singular field, a map,
 * a oneof member) so that Confluent's label rules can be followed. */
enum { PB_L_NONE = 0, PB_L_OPTIONAL = 1, PB_L_REQUIRED = 2, PB_L_REPEATED = 3 };

#define PB_MAX_DEPTH 64           /* nesting cap: messages, JSON, payloads */
#define PB_FIELD_MAX 536870911    /* 2^29 - 1 */

typedef struct evl_pb_msg evl_pb_msg_t;
typedef struct evl_pb_enum evl_pb_enum_t;

typedef struct evl_pb_range {
    int32_t start, end; /* inclusive both ends */
} evl_pb_range_t;

typedef struct evl_pb_field {
    char *name;
    int32_t number;
    int label;            /* PB_L_* */
    int proto3_optional;  /* proto3 `optional` (explicit presence) */
    int type;             /* PB_* (the value type for a map) */
    char *type_name;      /* named types: as written, then the full name */
    evl_pb_msg_t *msg;    /* resolved PB_MESSAGE (borrowed) */
    evl_pb_enum_t *en;    /* resolved PB_ENUM (borrowed) */
    int is_map;
    int key_type;         /* map key: a scalar PB_* */
    int oneof;            /* index into the message's oneofs, or -1 */
    char *def;            /* proto2 default, normalised text (strings raw) */
    size_t def_len;
    int def_set;
    char *json_name;      /* explicit json_name, or NULL */
    int packed;           /* -1 unset, 0, 1 */
    int deprecated;
} evl_pb_field_t;

typedef struct evl_pb_enum_value {
    char *name;
    int32_t number;
} evl_pb_enum_value_t;

struct evl_pb_enum {
    char *name, *full_name;
    evl_pb_enum_value_t *values;
    size_t nvalues;
    int allow_alias;
    evl_pb_range_t *reserved;
    size_t nreserved;
    char **reserved_names;
    size_t nreserved_names;
};

struct evl_pb_msg {
    char *name, *full_name;
    evl_pb_field_t *fields; /* declaration order; oneof members contiguous */
    size_t nfields;
    char **oneofs;
    size_t noneofs;
    evl_pb_msg_t **msgs; /* nested messages */
    size_t nmsgs;
    evl_pb_enum_t **enums;
    size_t nenums;
    evl_pb_range_t *reserved;
    size_t nreserved;
    char **reserved_names;
    size_t nreserved_names;
    evl_pb_range_t *ext_ranges;
    size_t next_ranges;
    int map_entry; /* only while decoding a descriptor */
    int proto3;    /* its file's syntax (set when resolved) */
};

typedef struct evl_pb_method {
    char *name, *input, *output;
    int client_streaming, server_streaming;
} evl_pb_method_t;

typedef struct evl_pb_service {
    char *name;
    evl_pb_method_t *methods;
    size_t nmethods;
} evl_pb_service_t;

typedef struct evl_pb_import {
    char *path;
    int kind; /* 0 plain, 1 public, 2 weak */
} evl_pb_import_t;

typedef struct evl_pb_option {
    char *name;  /* a FileOptions field name (java_package, ...) */
    char *value; /* strings raw; bools and enums as identifiers */
    int is_string;
} evl_pb_option_t;

typedef struct evl_pb_file {
    char *name; /* import path ("" for the registered schema) */
    int proto3;
    char *package; /* "" when none */
    evl_pb_import_t *imports;
    size_t nimports;
    evl_pb_option_t *options;
    size_t noptions;
    evl_pb_msg_t **msgs;
    size_t nmsgs;
    evl_pb_enum_t **enums;
    size_t nenums;
    evl_pb_service_t *services;
    size_t nservices;
} evl_pb_file_t;

/* The parsed schema: its file and the files it imports (references and
 * well-known types), all resolved. */
typedef struct evl_pb_schema {
    evl_pb_file_t *file;
    evl_pb_file_t **deps;
    size_t ndeps;
    char *canon; /* cached canonical text */
} evl_pb_schema_t;

/* ---- protobuf.c ---- */
void evl__pb_file_free(evl_pb_file_t *f);
void evl__pb_msg_free(evl_pb_msg_t *m);
void evl__pb_enum_free(evl_pb_enum_t *e);
/* Append to a malloc'd array of elements of size sz (*n grows by one);
 * returns the new element zeroed, NULL on no memory. */
void *evl__pb_push(void *arrp, size_t *n, size_t sz);
/* strndup that returns NULL only on no memory. */
char *evl__pb_strndup(const char *s, size_t n);
/* The default JSON name of a field (lowerCamelCase), malloc'd. */
char *evl__pb_json_name(const char *name);
/* Scalar type keyword <-> PB_* (0 when not a scalar). */
int evl__pb_scalar_type(const char *s, size_t n);
const char *evl__pb_type_keyword(int type);
/* Normalise a number default to its canonical text (malloc'd) or NULL
 * when it is not a number of that type. */
char *evl__pb_norm_number(int type, const char *s, size_t n);
/* Canonical .proto text of a file (malloc'd), NULL on no memory. */
char *evl__pb_print(const evl_pb_file_t *f);
/* The message / enum of a full name in s (its file and deps), or NULL. */
evl_pb_msg_t *evl__pb_find_msg(const evl_pb_schema_t *s, const char *full);
evl_pb_enum_t *evl__pb_find_enum(const evl_pb_schema_t *s, const char *full);

/* ---- the .proto lexer (protobuf_lex.c), shared with protobuf_parse.c ---- */
#ifdef EVL_PB_PARSER
enum { T_EOF, T_IDENT, T_INT, T_FLOAT, T_STR, T_SYM };

typedef struct parser {
    const char *s;
    size_t n, i;
    int line, col;
    /* current token */
    int t;
    size_t ts, tn; /* its text */
    int tline, tcol;
    char sym;
    evl_sr_buf_t str; /* decoded string literal */
    char *err;
    size_t errlen;
    int rc;
    int depth;
    int proto3;
} parser_t;

#define fail evl__pb_fail
#define nomem evl__pb_nomem
#define next evl__pb_next
#define is_sym evl__pb_is_sym
#define is_kw evl__pb_is_kw
#define expect_sym evl__pb_expect_sym
#define ident evl__pb_ident
#define full_ident evl__pb_full_ident
#define int_value evl__pb_int_value
#define skip_block evl__pb_skip_block
#define option_name evl__pb_option_name

void fail(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void nomem(parser_t *p);
void next(parser_t *p);          /* the next token into p->t (T_EOF after an error) */
int is_sym(parser_t *p, char c);
int is_kw(parser_t *p, const char *kw);
int expect_sym(parser_t *p, char c);                   /* 0, or -1 with the error set */
char *ident(parser_t *p, const char *what);            /* malloc'd, NULL on error */
char *full_ident(parser_t *p, int allow_dot, const char *what);
int int_value(parser_t *p, int64_t lo, int64_t hi, int64_t *out);
void skip_block(parser_t *p);                          /* a balanced { ... } */
char *option_name(parser_t *p); /* a plain name, "" for a custom (x).y one */
#endif

/* ---- protobuf_parse.c ---- */
/* Parse .proto text into *out. 0, EVL_ESCHEMA_INVALID ("line:col: ..."
 * in err) or EVL_ENOMEM. */
int evl__pb_parse_text(const char *text, size_t len, evl_pb_file_t **out, char *err,
                       size_t errlen);

/* ---- protobuf_desc.c ---- */
/* Decode text as base64 of a FileDescriptorProto. 0, 1 when it is not one
 * (then parse it as text), EVL_ENOMEM. */
int evl__pb_parse_desc(const char *text, size_t len, evl_pb_file_t **out);
/* Decode raw FileDescriptorProto bytes: 0, 1 when invalid, EVL_ENOMEM. */
int evl__pb_parse_desc_bytes(const uint8_t *p, size_t n, evl_pb_file_t **out);

/* ---- protobuf_compat.c ---- */
int evl__pb_can_read(const void *reader, const void *writer, evl_sr_msgs_t *why);

/* ---- protobuf_codec.c ---- */
int evl__pb_encode(const void *schema, const int *path, size_t depth, const char *json,
                   size_t len, evl_sr_buf_t *out, char *err, size_t errlen);
int evl__pb_decode(const void *writer, const void *reader, const int *path, size_t depth,
                   const uint8_t *data, size_t len, evl_sr_buf_t *out, char *err,
                   size_t errlen);

#endif
