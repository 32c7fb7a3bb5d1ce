/*
 * test_protobuf.c - the Protobuf schema format (lib/registry/protobuf*.c):
 * .proto parsing (proto2, proto3, nesting, maps, oneofs, enums, imports by
 * reference and the built-in well-known files, errors with line:column),
 * text and descriptor giving the same canonical text (descriptors made by
 * protoc --descriptor_set_out, the FileDescriptorSet wrapper stripped
 * here, base64'd as confluent-kafka-python sends them), Confluent's
 * compatibility rules, the JSON <-> binary codec checked byte for byte
 * against protoc --encode, message-index paths, hostile payloads.
 *
 * White-box: it drives evl__sr_protobuf from format.h.
 */
#include <criterion/criterion.h>

#include "format.h"
#include "protobuf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const evl_sr_format_t *F = &evl__sr_protobuf;
static char err[EVL_SR_ERRLEN];

static void *parse_refs(const char *text, const evl_sr_ref_text_t *refs, size_t n)
{
    void *s = NULL;
    int rc = F->parse(text, strlen(text), refs, n, &s, err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed (%d): %s\n%s", rc, err, text);
    return s;
}

static void *parse(const char *text)
{
    return parse_refs(text, NULL, 0);
}

static int parse_fails(const char *text, const char *want_err)
{
    void *s = NULL;
    int rc = F->parse(text, strlen(text), NULL, 0, &s, err, sizeof err);
    cr_assert_eq(rc, EVL_ESCHEMA_INVALID, "expected an error for:\n%s", text);
    cr_assert_null(s);
    if (want_err)
        cr_assert(strstr(err, want_err), "error '%s' lacks '%s'", err, want_err);
    return rc;
}

/* canonical text, checked to be a fixed point of parse + print */
static char *canon_refs(void *s, const evl_sr_ref_text_t *refs, size_t n)
{
    char *c = F->canonical(s);
    cr_assert_not_null(c);
    void *again = parse_refs(c, refs, n);
    char *c2 = F->canonical(again);
    cr_assert_str_eq(c2, c, "canonical text does not reparse to itself");
    free(c2);
    F->free(again);
    return c;
}

static char *canon_refs_free(void *s, const evl_sr_ref_text_t *refs, size_t n)
{
    char *c = canon_refs(s, refs, n);
    F->free(s);
    return c;
}

static char *canon(void *s)
{
    char *c = F->canonical(s);
    cr_assert_not_null(c);
    void *again = parse(c);
    char *c2 = F->canonical(again);
    cr_assert_str_eq(c2, c, "canonical text does not reparse to itself");
    free(c2);
    F->free(again);
    return c;
}

/* ---- protoc helpers ---- */

static char dir[64];

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof dir, "/tmp/evl_pb_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void rmdir_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    uint8_t *buf = NULL;
    *n = 0;
    size_t cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            buf = realloc(buf, cap);
        }
        buf[(*n)++] = (uint8_t)c;
    }
    fclose(f);
    return buf;
}

static uint64_t rd_varint(const uint8_t *p, size_t n, size_t *i)
{
    uint64_t v = 0;
    for (int s = 0; *i < n; s += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            break;
    }
    return v;
}

static char *base64(const uint8_t *p, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc(n / 3 * 4 + 8), *q = s;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        *q++ = t[v >> 18 & 63];
        *q++ = t[v >> 12 & 63];
        *q++ = i + 1 < n ? t[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? t[v & 63] : '=';
    }
    *q = 0;
    return s;
}

/* protoc's FileDescriptorProto of file name (in dir), base64'd. */
static char *descriptor_b64(const char *name)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s && protoc --descriptor_set_out=%s.pb %s", dir, name, name);
    cr_assert_eq(system(cmd), 0, "protoc failed: %s", cmd);
    char path[256];
    snprintf(path, sizeof path, "%s/%s.pb", dir, name);
    size_t n, i = 0;
    uint8_t *set = read_all(path, &n);
    /* FileDescriptorSet { repeated FileDescriptorProto file = 1; }: one */
    cr_assert_eq(set[i++], 0x0a);
    size_t len = (size_t)rd_varint(set, n, &i);
    cr_assert_eq(i + len, n);
    char *b = base64(set + i, len);
    free(set);
    return b;
}

static void text_vs_descriptor(const char *name, const char *text)
{
    mkdir_tmp();
    write_file(name, text);
    char *b64 = descriptor_b64(name);
    void *st = parse(text), *sd = parse(b64);
    char *ct = canon(st), *cd = canon(sd);
    cr_assert_str_eq(cd, ct, "descriptor:\n%s\ntext:\n%s", cd, ct);
    cr_assert_str_eq(F->record_name(sd), F->record_name(st));
    free(ct);
    free(cd);
    free(b64);
    F->free(st);
    F->free(sd);
    rmdir_tmp();
}

/* ---- parsing ---- */

Test(protobuf, parse_proto3)
{
    void *s = parse("syntax = \"proto3\";\npackage shop.v1;\n"
                    "// an order\nmessage Order { /* the id */ int64 id = 1; string note = 2;\n"
                    "  repeated string tags = 3; optional bool rush = 4; }\n");
    cr_assert_str_eq(F->record_name(s), "shop.v1.Order");
    char *c = canon(s);
    cr_assert_str_eq(c, "syntax = \"proto3\";\npackage shop.v1;\n\nmessage Order {\n"
                        "  int64 id = 1;\n  string note = 2;\n  repeated string tags = 3;\n"
                        "  optional bool rush = 4;\n}\n");
    free(c);
    F->free(s);
}

Test(protobuf, parse_proto2_labels_defaults)
{
    void *s = parse("syntax = \"proto2\"; message P { required int32 a = 1 [default = 0x10];\n"
                    "optional string b = 2 [default = \"a\\\"b\\n\"]; optional double d = 3 "
                    "[default = 1e3]; optional E e = 4 [default = Y]; repeated int32 r = 5 "
                    "[packed = true]; enum E { X = 1; Y = 2; } }");
    char *c = canon(s);
    cr_assert(strstr(c, "required int32 a = 1 [default = 16];"), "%s", c);
    cr_assert(strstr(c, "optional string b = 2 [default = \"a\\\"b\\012\"];"), "%s", c);
    cr_assert(strstr(c, "optional double d = 3 [default = 1000];"), "%s", c);
    cr_assert(strstr(c, "optional .P.E e = 4 [default = Y];"), "%s", c);
    cr_assert(strstr(c, "repeated int32 r = 5 [packed = true];"), "%s", c);
    free(c);
    F->free(s);
}

Test(protobuf, parse_nested_maps_oneofs_enums)
{
    void *s = parse(
        "syntax = \"proto3\"; package p;\n"
        "message Outer { message Inner { enum Kind { option allow_alias = true; A = 0; B = 1;"
        " C = 1; } Kind k = 1; } map<string, Inner> by_name = 1; map<int32, string> m2 = 2;"
        " oneof choice { string s = 3; Inner i = 4; } Inner.Kind kind = 5; reserved 9, 10 to 12,"
        " 100 to max; reserved \"old\"; }\n"
        "enum Top { T0 = 0; }\n"
        "service Svc { rpc Get(Outer) returns (stream Outer.Inner); }\n");
    char *c = canon(s);
    cr_assert(strstr(c, "map<string, .p.Outer.Inner> by_name = 1;"), "%s", c);
    cr_assert(strstr(c, "map<int32, string> m2 = 2;"), "%s", c);
    cr_assert(strstr(c, "  oneof choice {\n    string s = 3;\n    .p.Outer.Inner i = 4;\n  }"),
              "%s", c);
    cr_assert(strstr(c, ".p.Outer.Inner.Kind kind = 5;"), "%s", c);
    cr_assert(strstr(c, "reserved 9, 10 to 12, 100 to max;"), "%s", c);
    cr_assert(strstr(c, "reserved \"old\";"), "%s", c);
    cr_assert(strstr(c, "option allow_alias = true;"), "%s", c);
    cr_assert(strstr(c, "rpc Get(.p.Outer) returns (stream .p.Outer.Inner);"), "%s", c);
    free(c);
    F->free(s);
}

Test(protobuf, parse_scoping)
{
    /* innermost scope first: B inside A.C resolves to A.C.B, not the top B */
    void *s = parse("syntax = \"proto3\"; package x.y; message B {} message A { message C {"
                    " message B {} B f1 = 1; .x.y.B f2 = 2; y.B f3 = 3; } }");
    char *c = canon(s);
    cr_assert(strstr(c, ".x.y.A.C.B f1 = 1;"), "%s", c);
    cr_assert(strstr(c, ".x.y.B f2 = 2;"), "%s", c);
    cr_assert(strstr(c, ".x.y.B f3 = 3;"), "%s", c);
    free(c);
    F->free(s);
}

Test(protobuf, parse_options_extend_skipped)
{
    void *s = parse("syntax = \"proto2\"; option java_package = \"com.x\";"
                    " option (my.opt).a = { b: 1 };\n"
                    "message M { option (m) = true; optional int32 a = 1 [(f).g = 2, deprecated"
                    " = true]; extensions 100 to 199; }\n extend M { optional int32 e = 100; }");
    char *c = canon(s);
    cr_assert_str_eq(c, "syntax = \"proto2\";\n\noption java_package = \"com.x\";\n\n"
                        "message M {\n  optional int32 a = 1 [deprecated = true];\n"
                        "  extensions 100 to 199;\n}\n");
    free(c);
    F->free(s);
}

Test(protobuf, imports_through_refs)
{
    evl_sr_ref_text_t refs[2] = {
        {"common/money.proto", "syntax = \"proto3\"; package common; message Money {"
                               " string currency = 1; int64 units = 2; }", EVL_SCHEMA_PROTOBUF},
        {"other.proto", "syntax = \"proto3\"; package other; import \"common/money.proto\";"
                        " message Line { common.Money price = 1; }", EVL_SCHEMA_PROTOBUF},
    };
    void *s = parse_refs("syntax = \"proto3\"; package shop; import \"other.proto\";"
                         " import \"common/money.proto\";"
                         " message Order { repeated other.Line lines = 1; common.Money total = 2;}",
                         refs, 2);
    char *c = canon_refs_free(s, refs, 2);
    cr_assert(strstr(c, "import \"common/money.proto\";\nimport \"other.proto\";"), "%s", c);
    cr_assert(strstr(c, "repeated .other.Line lines = 1;"), "%s", c);
    cr_assert(strstr(c, ".common.Money total = 2;"), "%s", c);
    free(c);
    /* without the reference: refused, naming the import */
    void *t = NULL;
    const char *txt = "syntax = \"proto3\"; import \"other.proto\"; message A {}";
    cr_assert_eq(F->parse(txt, strlen(txt), NULL, 0, &t, err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert(strstr(err, "other.proto"), "%s", err);
}

Test(protobuf, well_known_imports_builtin)
{
    void *s = parse("syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\";"
                    " import \"google/protobuf/wrappers.proto\";"
                    " import \"google/protobuf/struct.proto\";"
                    " import \"google/protobuf/any.proto\"; import \"google/protobuf/empty.proto\";"
                    " import \"google/protobuf/duration.proto\";"
                    " import \"google/protobuf/field_mask.proto\";"
                    " message E { google.protobuf.Timestamp at = 1; google.protobuf.Int64Value n"
                    " = 2; google.protobuf.Struct st = 3; google.protobuf.Any any = 4;"
                    " google.protobuf.Duration d = 5; google.protobuf.FieldMask fm = 6;"
                    " google.protobuf.Empty e = 7; google.protobuf.Value v = 8; }");
    char *c = canon(s);
    cr_assert(strstr(c, ".google.protobuf.Timestamp at = 1;"), "%s", c);
    free(c);
    F->free(s);
}

Test(protobuf, errors_with_position)
{
    parse_fails("syntax = \"proto3\";\nmessage A {\n  int32 x = ;\n}\n", "3:13:");
    parse_fails("syntax = \"proto3\";\nmessage A {\n  int32 x = 1;\n", "4:1:");
    parse_fails("syntax = \"proto4\";", "1:10:");
    parse_fails("syntax = \"proto3\"; message A { Missing m = 1; }", "Missing");
    parse_fails("syntax = \"proto3\"; message A { int32 a = 1; int32 b = 1; }", "twice");
    parse_fails("syntax = \"proto3\"; message A { required int32 a = 1; }", "required");
    parse_fails("syntax = \"proto2\"; message A { int32 a = 1; }", "label");
    parse_fails("syntax = \"proto3\"; enum E { A = 1; }", "must be 0");
    parse_fails("syntax = \"proto3\"; message A { int32 a = 1; reserved 1; }", "reserved");
    parse_fails("syntax = \"proto3\"; message A { string s = 1 [default = \"x\"]; }", "default");
    parse_fails("syntax = \"proto3\"; message A { int32 a = 0; }", "out of range");
    parse_fails("syntax = \"proto3\"; /* open", "unterminated comment");
    parse_fails("syntax = \"proto3\"; message A { string s = 1 [json_name = \"x\" ", NULL);
    parse_fails("message A { optional group G = 1 { } }", "group");
}

/* ---- text vs descriptor ---- */

Test(protobuf, descriptor_equals_text_proto3)
{
    text_vs_descriptor("a.proto",
        "syntax = \"proto3\";\npackage shop.v1;\noption java_package = \"com.shop\";\n"
        "option go_package = \"shop/v1\";\noption java_multiple_files = true;\n"
        "message Order {\n  int64 id = 1;\n  string name_x = 2 [json_name = \"nm\"];\n"
        "  map<string, int32> counts = 3;\n  optional int64 maybe = 4;\n"
        "  oneof choice { string s = 5; Item item = 6; }\n  repeated int32 r = 7 [packed = false];\n"
        "  Status status = 8;\n  map<int64, Item> items = 9;\n  bytes raw = 10;\n"
        "  reserved 20, 30 to 40, 1000 to max;\n  reserved \"gone\";\n"
        "  message Item { Kind kind = 1; repeated Item children = 2; enum Kind { K0 = 0; K1 = 1; } }\n"
        "}\n"
        "enum Status { option allow_alias = true; UNKNOWN = 0; OK = 1; FINE = 1; reserved 5 to 9; }\n"
        "service Shop { rpc Put(Order) returns (Order); rpc Watch(stream Order) returns (stream Order.Item); }\n");
}

Test(protobuf, descriptor_equals_text_proto2)
{
    text_vs_descriptor("b.proto",
        "syntax = \"proto2\";\npackage legacy;\n"
        "message Rec {\n  required int32 a = 1 [default = 0x10];\n"
        "  optional string b = 2 [default = \"q\\\"x\\n\"];\n  optional bytes c = 3 [default = \"\\001\\377z\"];\n"
        "  optional double d = 4 [default = 1e3];\n  optional float f = 5 [default = -1.5];\n"
        "  optional Color col = 6 [default = GREEN];\n  repeated sint64 s = 7 [packed = true];\n"
        "  optional bool ok = 8 [default = true, deprecated = true];\n"
        "  extensions 100 to 199;\n  optional uint64 big = 9 [default = 18446744073709551615];\n"
        "  optional double inf = 10 [default = -inf];\n"
        "  enum Color { RED = 1; GREEN = 2; }\n}\n");
}

Test(protobuf, descriptor_equals_text_imports)
{
    mkdir_tmp();
    const char *dep = "syntax = \"proto3\";\npackage common;\nmessage Money { string cur = 1; int64 units = 2; }\n";
    const char *main_ = "syntax = \"proto3\";\npackage shop;\nimport \"common.proto\";\n"
                        "import \"google/protobuf/timestamp.proto\";\n"
                        "message Order { common.Money total = 1; google.protobuf.Timestamp at = 2; }\n";
    write_file("common.proto", dep);
    write_file("main.proto", main_);
    char *b64 = descriptor_b64("main.proto");
    evl_sr_ref_text_t refs[1] = {{"common.proto", dep, EVL_SCHEMA_PROTOBUF}};
    void *st = parse_refs(main_, refs, 1), *sd = parse_refs(b64, refs, 1);
    char *ct = F->canonical(st), *cd = F->canonical(sd);
    cr_assert_str_eq(cd, ct);
    cr_assert(strstr(ct, ".common.Money total = 1;"), "%s", ct);
    free(ct);
    free(cd);
    free(b64);
    F->free(st);
    F->free(sd);
    rmdir_tmp();
}

Test(protobuf, descriptor_garbage_is_text)
{
    /* valid base64 that is not a descriptor: parsed as text, which fails */
    parse_fails("AAAA", NULL);
    parse_fails("CgdhLnByb3Rv////", NULL);
}

/* ---- compatibility: can_read(reader = new, writer = old) ---- */

static int check(const char *old, const char *new_, const char *want_reason)
{
    void *o = parse(old), *n = parse(new_);
    evl_sr_msgs_t why = {0};
    int r = F->can_read(n, o, &why);
    cr_assert(r == 0 || r == 1);
    if (r == 0)
        cr_assert_gt(why.n, 0);
    if (want_reason) {
        int found = 0;
        for (size_t i = 0; i < why.n; i++)
            found |= strcmp(why.v[i], want_reason) == 0;
        cr_assert(found, "reason '%s' missing (%zu: %s)", want_reason, why.n,
                  why.n ? why.v[0] : "");
    }
    evl__sr_msgs_free(&why);
    F->free(o);
    F->free(n);
    return r;
}

#define P3 "syntax = \"proto3\"; package p; "
#define P2 "syntax = \"proto2\"; package p; "

Test(protobuf_compat, compatible_changes)
{
    const char *base = P3 "message Order { int32 a = 1; string s = 2; E e = 3; }"
                          " enum E { Z = 0; ONE = 1; }";
    cr_assert_eq(check(base, base, NULL), 1);
    /* MESSAGE_ADDED, MESSAGE_MOVED */
    cr_assert_eq(check(base, P3 "message X {} message Order { int32 a = 1; string s = 2; E e = 3; }"
                                " enum E { Z = 0; ONE = 1; }", NULL), 1);
    /* ENUM_ADDED / REMOVED, ENUM_CONST_ADDED / CHANGED / REMOVED */
    cr_assert_eq(check(base, P3 "message Order { int32 a = 1; string s = 2; E e = 3; }"
                                " enum E { Z = 0; UNO = 1; TWO = 2; } enum F { F0 = 0; }", NULL), 1);
    cr_assert_eq(check(P3 "message M {} enum E { Z = 0; }", P3 "message M {}", NULL), 1);
    /* FIELD_ADDED, FIELD_REMOVED, FIELD_NAME_CHANGED */
    cr_assert_eq(check(base, P3 "message Order { int32 a = 1; E e = 3; int64 n = 4; }"
                                " enum E { Z = 0; ONE = 1; }", NULL), 1);
    cr_assert_eq(check(base, P3 "message Order { int32 renamed = 1; string s = 2; E e = 3; }"
                                " enum E { Z = 0; ONE = 1; }", NULL), 1);
    /* FIELD_STRING_OR_BYTES_LABEL_CHANGED */
    cr_assert_eq(check(P2 "message M { optional string s = 1; }",
                       P2 "message M { repeated string s = 1; }", NULL), 1);
    /* scalar groups: int32 -> int64, uint64, bool; enum <-> int32; string <-> bytes;
       fixed32 <-> sfixed32; sint32 -> sint64 */
    cr_assert_eq(check(base, P3 "message Order { int64 a = 1; bytes s = 2; int32 e = 3; }"
                                " enum E { Z = 0; ONE = 1; }", NULL), 1);
    cr_assert_eq(check(P3 "message M { fixed32 a = 1; sint32 b = 2; fixed64 c = 3; bool d = 4;}",
                       P3 "message M { sfixed32 a = 1; sint64 b = 2; sfixed64 c = 3; uint64 d = 4;}",
                       NULL), 1);
    /* ONEOF_ADDED (new fields), ONEOF_REMOVED (all members gone), ONEOF_FIELD_ADDED */
    cr_assert_eq(check(P3 "message M { int32 a = 1; }",
                       P3 "message M { int32 a = 1; oneof o { string x = 2; int32 y = 3; } }", NULL), 1);
    cr_assert_eq(check(P3 "message M { int32 a = 1; oneof o { string x = 2; int32 y = 3; } }",
                       P3 "message M { int32 a = 1; }", NULL), 1);
    cr_assert_eq(check(P3 "message M { oneof o { string x = 2; } }",
                       P3 "message M { oneof o { string x = 2; int32 y = 3; } }", NULL), 1);
    /* one top-level field moved into a new oneof: a single group, fine */
    cr_assert_eq(check(P3 "message M { int32 a = 1; }",
                       P3 "message M { oneof o { int32 a = 1; string b = 2; } }", NULL), 1);
    /* a nested message added / a map value unchanged */
    cr_assert_eq(check(P3 "message M { map<string, int32> m = 1; }",
                       P3 "message M { map<string, int64> m = 1; message N {} }", NULL), 1);
}

Test(protobuf_compat, incompatible_changes)
{
    cr_assert_eq(check(P3 "message Order { int32 a = 1; }",
                       "syntax = \"proto3\"; package q; message Order { int32 a = 1; }",
                       "PACKAGE_CHANGED #/"), 0);
    cr_assert_eq(check(P3 "message Order { int32 a = 1; } message Gone {}",
                       P3 "message Order { int32 a = 1; }", "MESSAGE_REMOVED #/Gone"), 0);
    cr_assert_eq(check(P3 "message Order { int32 a = 1; string b = 2; }",
                       P3 "message Order { int32 a = 1; double b = 2; }",
                       "FIELD_SCALAR_KIND_CHANGED #/Order/2"), 0);
    cr_assert_eq(check(P3 "message Order { int32 a = 1; }", P3 "message Order { sint32 a = 1; }",
                       "FIELD_SCALAR_KIND_CHANGED #/Order/1"), 0);
    cr_assert_eq(check(P3 "message Order { float a = 1; }", P3 "message Order { double a = 1; }",
                       "FIELD_SCALAR_KIND_CHANGED #/Order/1"), 0);
    cr_assert_eq(check(P3 "message Order { E a = 1; } enum E { Z = 0; }",
                       P3 "message Order { string a = 1; } enum E { Z = 0; }",
                       "FIELD_SCALAR_KIND_CHANGED #/Order/1"), 0);
    /* FIELD_KIND_CHANGED: scalar <-> message <-> map */
    cr_assert_eq(check(P3 "message Order { int32 a = 1; } message X {}",
                       P3 "message Order { X a = 1; } message X {}", "FIELD_KIND_CHANGED #/Order/1"), 0);
    cr_assert_eq(check(P3 "message Order { map<string, int32> a = 1; } message X {}",
                       P3 "message Order { X a = 1; } message X {}", "FIELD_KIND_CHANGED #/Order/1"), 0);
    cr_assert_eq(check(P3 "message Order { map<string, int32> a = 1; }",
                       P3 "message Order { map<string, string> a = 1; }",
                       "FIELD_SCALAR_KIND_CHANGED #/Order/1"), 0);
    /* FIELD_NAMED_TYPE_CHANGED */
    cr_assert_eq(check(P3 "message Order { X a = 1; } message X {} message Y {}",
                       P3 "message Order { Y a = 1; } message X {} message Y {}",
                       "FIELD_NAMED_TYPE_CHANGED #/Order/1"), 0);
    /* labels: numeric label change (proto2), required added / removed */
    cr_assert_eq(check(P2 "message M { optional int32 a = 1; }", P2 "message M { repeated int32 a = 1; }",
                       "FIELD_NUMERIC_LABEL_CHANGED #/M/1"), 0);
    cr_assert_eq(check(P2 "message M { optional int32 a = 1; }", P2 "message M { required int32 a = 1; }",
                       "FIELD_NUMERIC_LABEL_CHANGED #/M/1"), 0);
    cr_assert_eq(check(P2 "message M { required int32 a = 1; }", P2 "message M { }",
                       "REQUIRED_FIELD_REMOVED #/M/1"), 0);
    cr_assert_eq(check(P2 "message M { }", P2 "message M { required int32 a = 1; }",
                       "REQUIRED_FIELD_ADDED #/M/1"), 0);
    /* oneofs */
    cr_assert_eq(check(P3 "message M { oneof o { string x = 2; int32 y = 3; } }",
                       P3 "message M { oneof o { string x = 2; } }", "ONEOF_FIELD_REMOVED #/M/o/3"), 0);
    cr_assert_eq(check(P3 "message M { int32 a = 1; int32 b = 2; }",
                       P3 "message M { oneof o { int32 a = 1; int32 b = 2; } }",
                       "MULTIPLE_FIELDS_MOVED_TO_ONEOF #/M/o"), 0);
    cr_assert_eq(check(P3 "message M { int32 a = 1; oneof o { int32 b = 2; } }",
                       P3 "message M { oneof o { int32 a = 1; int32 b = 2; } }",
                       "FIELD_MOVED_TO_EXISTING_ONEOF #/M/o"), 0);
    /* nested messages are compared recursively */
    cr_assert_eq(check(P3 "message M { message N { int32 a = 1; } }",
                       P3 "message M { message N { string a = 1; } }",
                       "FIELD_SCALAR_KIND_CHANGED #/M/N/1"), 0);
}

Test(protobuf_compat, referenced_types_compared)
{
    evl_sr_ref_text_t r1[1] = {{"dep.proto", P3 "message D { int32 a = 1; }", EVL_SCHEMA_PROTOBUF}};
    evl_sr_ref_text_t r2[1] = {{"dep.proto", P3 "message D { string a = 1; }", EVL_SCHEMA_PROTOBUF}};
    const char *m = "syntax = \"proto3\"; package q; import \"dep.proto\"; message M { p.D d = 1; }";
    void *o = parse_refs(m, r1, 1), *n = parse_refs(m, r2, 1);
    evl_sr_msgs_t why = {0};
    cr_assert_eq(F->can_read(n, o, &why), 0);
    int a = 0, b = 0;
    for (size_t i = 0; i < why.n; i++) {
        a |= strcmp(why.v[i], "FIELD_SCALAR_KIND_CHANGED #/D/1") == 0;
        b |= strcmp(why.v[i], "FIELD_NAMED_TYPE_CHANGED #/M/1") == 0;
    }
    cr_assert(a && b, "%zu %s", why.n, why.n ? why.v[0] : "");
    evl__sr_msgs_free(&why);
    cr_assert_eq(F->can_read(o, o, &why), 1);
    F->free(o);
    F->free(n);
}

/* ---- codec ---- */

static const char *RICH =
    "syntax = \"proto3\";\npackage t;\n"
    "message Order {\n  int32 i32 = 1;\n  int64 i64 = 2;\n  uint64 u64 = 3;\n  sint32 s32 = 4;\n"
    "  sint64 s64 = 5;\n  fixed32 f32 = 6;\n  sfixed64 sf64 = 7;\n  float fl = 8;\n  double db = 9;\n"
    "  bool ok = 10;\n  string name_x = 11;\n  bytes raw = 12;\n  Kind kind = 13;\n"
    "  repeated int32 nums = 14;\n  repeated string tags = 15;\n  map<string, int32> counts = 16;\n"
    "  Item item = 17;\n  repeated Item items = 18;\n  oneof pick { string s = 19; Item it = 20; }\n"
    "  optional int32 maybe = 21;\n"
    "  message Item { string id = 1; map<int32, Item> sub = 2; }\n"
    "  enum Kind { K0 = 0; K1 = 1; K2 = 2; }\n}\n"
    "message Other { int32 x = 1; message Deep { string y = 1; } }\n";

/* JSON -> binary, compared with protoc --encode of the same text format */
static void encode_vs_protoc(const char *json, const char *textfmt)
{
    mkdir_tmp();
    write_file("rich.proto", RICH);
    write_file("in.txt", textfmt);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cd %s && protoc --encode=t.Order rich.proto < in.txt > out.bin", dir);
    cr_assert_eq(system(cmd), 0, "protoc --encode failed");
    char path[256];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    size_t n;
    uint8_t *want = read_all(path, &n);
    void *s = parse(RICH);
    int p[1] = {0};
    evl_sr_buf_t b = {0};
    int rc = F->encode(s, p, 1, json, strlen(json), &b, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(b.n, n, "length %zu, protoc %zu", b.n, n);
    cr_assert(n == 0 || memcmp(b.p, want, n) == 0, "bytes differ from protoc's");
    /* and back: decoding gives JSON that encodes to the same bytes */
    evl_sr_buf_t j = {0}, b2 = {0};
    cr_assert_eq(F->decode(s, NULL, p, 1, b.p, b.n, &j, err, sizeof err), 0, "%s", err);
    cr_assert_eq(F->encode(s, p, 1, (char *)j.p, j.n, &b2, err, sizeof err), 0, "%s", err);
    cr_assert_eq(b2.n, b.n);
    cr_assert(b.n == 0 || memcmp(b2.p, b.p, b.n) == 0);
    evl__sr_buf_free(&b);
    evl__sr_buf_free(&b2);
    evl__sr_buf_free(&j);
    free(want);
    F->free(s);
    rmdir_tmp();
}

Test(protobuf_codec, encode_matches_protoc)
{
    encode_vs_protoc(
        "{\"i32\": -5, \"i64\": \"-9000000000\", \"u64\": \"18446744073709551615\", \"s32\": -3,"
        " \"s64\": \"-70000000000\", \"f32\": 4000000000, \"sf64\": -2, \"fl\": 1.5, \"db\": -0.25,"
        " \"ok\": true, \"nameX\": \"h\\u00e9\", \"raw\": \"AAH/\", \"kind\": \"K2\","
        " \"nums\": [1, -1, 300], \"tags\": [\"a\", \"\"], \"counts\": {\"x\": 1},"
        " \"item\": {\"id\": \"q\", \"sub\": {\"7\": {\"id\": \"r\"}}}, \"items\": [{}, {\"id\": \"z\"}],"
        " \"it\": {\"id\": \"one\"}, \"maybe\": 0}",
        "i32: -5 i64: -9000000000 u64: 18446744073709551615 s32: -3 s64: -70000000000"
        " f32: 4000000000 sf64: -2 fl: 1.5 db: -0.25 ok: true name_x: \"h\\303\\251\""
        " raw: \"\\000\\001\\377\" kind: K2 nums: [1, -1, 300] tags: [\"a\", \"\"]"
        " counts { key: \"x\" value: 1 } item { id: \"q\" sub { key: 7 value { id: \"r\" } } }"
        " items { } items { id: \"z\" } it { id: \"one\" } maybe: 0\n");
}

Test(protobuf_codec, encode_defaults_and_alt_forms)
{
    /* proto3 defaults are not written; original names, numbers for enums, strings for ints */
    encode_vs_protoc("{\"i32\": 0, \"name_x\": \"\", \"kind\": 1, \"i64\": 7, \"u64\": \"12\", \"s\": \"x\"}",
                     "kind: K1 i64: 7 u64: 12 s: \"x\"\n");
    encode_vs_protoc("{}", "");
}

static char *decode_str(void *s, const int *p, size_t d, const uint8_t *data, size_t n, int *rc)
{
    evl_sr_buf_t j = {0};
    *rc = F->decode(s, NULL, p, d, data, n, &j, err, sizeof err);
    if (*rc) {
        evl__sr_buf_free(&j);
        return NULL;
    }
    return evl__sr_buf_str(&j);
}

Test(protobuf_codec, decode_json_mapping)
{
    void *s = parse(RICH);
    int p[1] = {0}, rc;
    /* i64 = 5, fl = 1.1f, kind = 9 (unknown number), unknown field 99 varint, raw = "hi" */
    const uint8_t data[] = {0x10, 0x05, 0x45, 0xcd, 0xcc, 0x8c, 0x3f, 0x68, 0x09,
                            0x98, 0x06, 0x01, 0x62, 0x02, 'h', 'i'};
    char *j = decode_str(s, p, 1, data, sizeof data, &rc);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(j, "{\"i64\":\"5\",\"fl\":1.1,\"raw\":\"aGk=\",\"kind\":9}");
    free(j);
    /* oneof: the last member wins; a message seen twice merges */
    const uint8_t one[] = {0x9a, 0x01, 0x01, 'a', 0xa2, 0x01, 0x02, 0x0a, 0x00,
                           0x8a, 0x01, 0x03, 0x0a, 0x01, 0x01, 0x8a, 0x01, 0x00};
    j = decode_str(s, p, 1, one, sizeof one, &rc);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(j, "{\"item\":{\"id\":\"\\u0001\"},\"it\":{}}");
    free(j);
    F->free(s);
}

Test(protobuf_codec, message_paths_and_nested)
{
    void *s = parse(RICH);
    int p[EVL_SR_PATH_MAX];
    size_t d;
    cr_assert_eq(evl__pb_message_path(s, NULL, p, &d), 0);
    cr_assert(d == 1 && p[0] == 0);
    cr_assert_eq(evl__pb_message_path(s, "t.Other", p, &d), 0);
    cr_assert(d == 1 && p[0] == 1);
    cr_assert_eq(evl__pb_message_path(s, "t.Other.Deep", p, &d), 0);
    cr_assert(d == 2 && p[0] == 1 && p[1] == 0);
    cr_assert_eq(evl__pb_message_path(s, "t.Order.Item", p, &d), 0);
    cr_assert(d == 2 && p[0] == 0 && p[1] == 0);
    cr_assert_eq(evl__pb_message_path(s, "t.Nope", p, &d), EVL_ESCHEMA_INVALID);
    /* encode / decode the nested message at [1, 0] */
    int deep[2] = {1, 0}, rc;
    evl_sr_buf_t b = {0};
    cr_assert_eq(F->encode(s, deep, 2, "{\"y\":\"v\"}", 9, &b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(b.n, 3);
    char *j = decode_str(s, deep, 2, b.p, b.n, &rc);
    cr_assert_str_eq(j, "{\"y\":\"v\"}");
    free(j);
    evl__sr_buf_free(&b);
    int bad[2] = {1, 5};
    cr_assert_eq(F->encode(s, bad, 2, "{}", 2, &b, err, sizeof err), EVL_ESCHEMA_INVALID);
    F->free(s);
}

Test(protobuf_codec, encode_rejects_misfits)
{
    void *s = parse(RICH);
    int p[1] = {0};
    const char *bad[] = {"[]", "{\"nope\": 1}", "{\"i32\": \"x\"}", "{\"i32\": 3000000000}",
                         "{\"u64\": -1}", "{\"kind\": \"K9\"}", "{\"raw\": \"!!\"}",
                         "{\"nums\": 1}", "{\"item\": 3}", "{\"s\": \"a\", \"it\": {}}",
                         "{\"ok\": 1}", "{\"counts\": {\"x\": \"y\"}}", "{\"i32\": 1.5}", "{"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evl_sr_buf_t b = {0};
        cr_assert_eq(F->encode(s, p, 1, bad[i], strlen(bad[i]), &b, err, sizeof err),
                     EVL_ESCHEMA_INVALID, "%s accepted", bad[i]);
        cr_assert_eq(b.n, 0);
        evl__sr_buf_free(&b);
    }
    F->free(s);
}

Test(protobuf_codec, decode_with_reader)
{
    void *w = parse("syntax = \"proto3\"; package t; message M { int32 a = 1; string b = 2; }");
    void *r = parse("syntax = \"proto3\"; package t; message M { int64 a = 1; int32 c = 3; }");
    int p[1] = {0};
    const uint8_t data[] = {0x08, 0x2a, 0x12, 0x01, 'x', 0x18, 0x07};
    evl_sr_buf_t j = {0};
    cr_assert_eq(F->decode(w, r, p, 1, data, sizeof data, &j, err, sizeof err), 0, "%s", err);
    char *s = evl__sr_buf_str(&j);
    cr_assert_str_eq(s, "{\"a\":\"42\",\"c\":7}");
    free(s);
    void *r2 = parse("syntax = \"proto3\"; package u; message M { int32 a = 1; }");
    cr_assert_eq(F->decode(w, r2, p, 1, data, sizeof data, &j, err, sizeof err),
                 EVL_ESCHEMA_MISMATCH);
    evl__sr_buf_free(&j);
    F->free(w);
    F->free(r);
    F->free(r2);
}

Test(protobuf_codec, hostile_payloads)
{
    void *s = parse(RICH);
    int p[1] = {0}, rc;
    struct { const uint8_t *d; size_t n; } cases[] = {
        {(const uint8_t *)"\x08", 1},                  /* truncated varint */
        {(const uint8_t *)"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12}, /* 11 bytes */
        {(const uint8_t *)"\x5a\x05" "ab", 4},            /* length past the end */
        {(const uint8_t *)"\x5a\xff\xff\xff\xff\x0f", 6},
        {(const uint8_t *)"\x09\x01\x02\x03\x04\x05\x06\x07\x08", 9}, /* i32 as fixed64 */
        {(const uint8_t *)"\x5a\x02\xc3\x28", 4},      /* invalid UTF-8 */
        {(const uint8_t *)"\x00", 1},                  /* field 0 */
        {(const uint8_t *)"\x0f", 1},                  /* wire type 7 */
        {(const uint8_t *)"\xfb\x01\x00", 3},          /* unterminated group 31 */
        {(const uint8_t *)"\x82\x01\x03\x08\x01", 5},  /* map entry cut */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *j = decode_str(s, p, 1, cases[i].d, cases[i].n, &rc);
        cr_assert_eq(rc, EVL_ESCHEMA_MISMATCH, "case %zu: %d %s", i, rc, j ? j : "");
        cr_assert_null(j);
    }
    /* build properly: lengths from the inside out */
    uint8_t buf[8192];
    size_t len = 0;
    for (int k = 0; k < 100; k++) {
        uint8_t tmp[8192];
        size_t t = 0;
        tmp[t++] = 0x12; /* Item.sub entry */
        size_t inner = len + 2;
        if (inner > 127)
            break;
        tmp[t++] = (uint8_t)inner;
        tmp[t++] = 0x12; /* value */
        tmp[t++] = (uint8_t)len;
        memcpy(tmp + t, buf, len);
        t += len;
        memcpy(buf, tmp, t);
        len = t;
    }
    uint8_t top[8192];
    top[0] = 0x8a;
    top[1] = 0x01;
    top[2] = (uint8_t)len;
    memcpy(top + 3, buf, len);
    char *j = decode_str(s, p, 1, top, len + 3, &rc);
    cr_assert(rc == 0 || rc == EVL_ESCHEMA_MISMATCH);
    free(j);
    /* unknown fields of every wire type are skipped, groups too */
    const uint8_t unk[] = {0xb8, 0x06, 0x01, 0xb9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0xbd, 0x06,
                           1, 2, 3, 4, 0xba, 0x06, 0x01, 0x00, 0xbb, 0x06, 0x08, 0x01, 0xbc, 0x06};
    j = decode_str(s, p, 1, unk, sizeof unk, &rc);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(j, "{}");
    free(j);
    F->free(s);
}
