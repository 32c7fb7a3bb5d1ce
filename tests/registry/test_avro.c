/*
 * test_avro.c - the registry's Avro format (lib/registry/avro*.c): parsing
 * and its refusals, the canonical text, compatibility (the Avro spec's and
 * Confluent's documented cases), and the codec (round trips, resolution,
 * hostile payloads). White-box: through evl__sr_avro of format.h.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"

static const evl_sr_format_t *F = &evl__sr_avro;

static void *parse_ok(const char *text)
{
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    int rc = F->parse(text, strlen(text), NULL, 0, &s, err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed (%d): %s\n%s", rc, err, text);
    cr_assert(s);
    return s;
}

static void parse_bad(const char *text, const char *want)
{
    void *s = (void *)1;
    char err[EVL_SR_ERRLEN] = "";
    int rc = F->parse(text, strlen(text), NULL, 0, &s, err, sizeof err);
    cr_assert_eq(rc, EVL_ESCHEMA_INVALID, "accepted: %s", text);
    cr_assert_null(s);
    cr_assert(err[0], "no message for %s", text);
    if (want)
        cr_assert(strstr(err, want), "message '%s' lacks '%s'", err, want);
}

static char *canon(const char *text)
{
    void *s = parse_ok(text);
    char *c = F->canonical(s);
    cr_assert(c);
    F->free(s);
    return c;
}

/* ====================================================================== */
/* Parse                                                                   */

Test(avro_parse, primitives_and_complex)
{
    const char *ok[] = {
        "\"int\"", "\"null\"", "{\"type\":\"string\"}", "[\"null\",\"string\"]",
        "{\"type\":\"array\",\"items\":\"long\"}", "{\"type\":\"map\",\"values\":\"bytes\"}",
        "{\"type\":\"fixed\",\"name\":\"md5\",\"size\":16}",
        "{\"type\":\"enum\",\"name\":\"Suit\",\"symbols\":[\"SPADES\",\"HEARTS\"],"
        "\"default\":\"SPADES\"}",
        "{\"type\":\"error\",\"name\":\"Oops\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"a.b.C\",\"fields\":[{\"name\":\"x\",\"type\":"
        "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":4,\"scale\":2}}]}",
        "{\"type\":\"int\",\"logicalType\":\"date\"}",
        "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}",
        "{\"type\":\"fixed\",\"name\":\"d\",\"size\":12,\"logicalType\":\"duration\"}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        F->free(parse_ok(ok[i]));
}

Test(avro_parse, bad_schemas)
{
    parse_bad("", "not JSON");
    parse_bad("{", "not JSON");
    parse_bad("\"integer\"", "unknown type 'integer'");
    parse_bad("42", NULL);
    parse_bad("{\"type\":\"record\",\"name\":\"1abc\",\"fields\":[]}", "invalid name");
    parse_bad("{\"type\":\"record\",\"name\":\"a-b\",\"fields\":[]}", "invalid name");
    parse_bad("{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"x..y\",\"fields\":[]}",
              "invalid name");
    parse_bad("{\"type\":\"record\",\"fields\":[]}", "name");
    parse_bad("{\"type\":\"record\",\"name\":\"R\"}", "fields");
    parse_bad("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
              "\"int\"},{\"name\":\"a\",\"type\":\"long\"}]}",
              "twice");
    parse_bad("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a b\",\"type\":"
              "\"int\"}]}",
              "invalid field name");
    parse_bad("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}", "twice");
    parse_bad("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"1\"]}", "symbol");
    parse_bad("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"B\"}",
              "default");
    parse_bad("{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}", "size");
    parse_bad("{\"type\":\"fixed\",\"name\":\"F\"}", "size");
    parse_bad("{\"type\":\"array\"}", "items");
    parse_bad("[\"int\",\"int\"]", "twice");
    parse_bad("[\"null\",[\"int\"]]", "union");
    parse_bad("{\"type\":\"record\",\"name\":\"int\",\"fields\":[]}", "may not be called");
    /* a named type defined twice */
    parse_bad("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
              "{\"type\":\"fixed\",\"name\":\"F\",\"size\":1}},{\"name\":\"b\",\"type\":"
              "{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}}]}",
              "twice");
    /* a reference to a type not defined (yet) */
    parse_bad("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
              "\"Later\"}]}",
              "unknown type 'Later'");
    /* duplicate JSON keys */
    parse_bad("{\"type\":\"int\",\"type\":\"long\"}", "not JSON");
}

Test(avro_parse, bad_defaults)
{
    const char *bad[] = {
        "\"int\",\"default\":\"x\"", "\"int\",\"default\":2147483648", "\"int\",\"default\":1.5",
        "\"string\",\"default\":1", "\"boolean\",\"default\":0", "\"null\",\"default\":0",
        "\"bytes\",\"default\":\"\\u0100\"",
        "{\"type\":\"fixed\",\"name\":\"F\",\"size\":2},\"default\":\"abc\"",
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]},\"default\":\"B\"",
        "{\"type\":\"array\",\"items\":\"int\"},\"default\":[1,\"x\"]",
        "{\"type\":\"map\",\"values\":\"int\"},\"default\":[]",
        /* a union's default is of its FIRST branch */
        "[\"null\",\"string\"],\"default\":\"x\"", "[\"string\",\"null\"],\"default\":null",
        /* a record default must give the fields without defaults */
        "{\"type\":\"record\",\"name\":\"S\",\"fields\":[{\"name\":\"q\",\"type\":\"int\"}]},"
        "\"default\":{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":%s}]}",
                 bad[i]);
        parse_bad(text, "default");
    }
    const char *good[] = {
        "\"int\",\"default\":-2147483648", "\"long\",\"default\":9007199254740993",
        "\"float\",\"default\":1", "\"double\",\"default\":1.5", "\"bytes\",\"default\":\"\\u00ff\"",
        "[\"null\",\"string\"],\"default\":null", "[\"string\",\"null\"],\"default\":\"x\"",
        "{\"type\":\"record\",\"name\":\"S\",\"fields\":[{\"name\":\"q\",\"type\":\"int\","
        "\"default\":1}]},\"default\":{}",
        "{\"type\":\"map\",\"values\":\"int\"},\"default\":{\"a\":1}",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"f\",\"type\":%s}]}",
                 good[i]);
        F->free(parse_ok(text));
    }
}

Test(avro_parse, namespaces_and_record_name)
{
    void *s = parse_ok("{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.acme\","
                       "\"fields\":[{\"name\":\"addr\",\"type\":{\"type\":\"record\",\"name\":"
                       "\"Addr\",\"fields\":[]}},{\"name\":\"addr2\",\"type\":\"Addr\"},"
                       "{\"name\":\"addr3\",\"type\":\"com.acme.Addr\"},"
                       "{\"name\":\"o\",\"type\":{\"type\":\"enum\",\"name\":\"x.Other\","
                       "\"symbols\":[\"A\"]}},{\"name\":\"o2\",\"type\":\"x.Other\"}]}");
    cr_assert_str_eq(F->record_name(s), "com.acme.User");
    F->free(s);
    s = parse_ok("{\"type\":\"record\",\"name\":\"a.b.Rec\",\"namespace\":\"ignored\","
                 "\"fields\":[]}");
    cr_assert_str_eq(F->record_name(s), "a.b.Rec");
    F->free(s);
    s = parse_ok("\"string\"");
    cr_assert_null(F->record_name(s));
    F->free(s);
    /* "Other" alone is not visible from com.acme once defined in x */
    parse_bad("{\"type\":\"record\",\"name\":\"U\",\"namespace\":\"com.acme\",\"fields\":["
              "{\"name\":\"o\",\"type\":{\"type\":\"enum\",\"name\":\"x.Other\",\"symbols\":"
              "[\"A\"]}},{\"name\":\"o2\",\"type\":\"Other\"}]}",
              "unknown type 'Other'");
}

Test(avro_parse, recursive_linked_list)
{
    const char *list = "{\"type\":\"record\",\"name\":\"LongList\",\"aliases\":[\"LinkedLongs\"],"
                       "\"fields\":[{\"name\":\"value\",\"type\":\"long\"},{\"name\":\"next\","
                       "\"type\":[\"null\",\"LongList\"]}]}";
    void *s = parse_ok(list);
    cr_assert_str_eq(F->record_name(s), "LongList");
    evl_sr_msgs_t why = {0};
    cr_assert_eq(F->can_read(s, s, &why), 1);
    /* encode / decode a three-element list */
    const char *v = "{\"value\":1,\"next\":{\"LongList\":{\"value\":2,\"next\":{\"LongList\":"
                    "{\"value\":3,\"next\":null}}}}}";
    evl_sr_buf_t b = {0}, o = {0};
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(F->encode(s, NULL, 0, v, strlen(v), &b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(F->decode(s, NULL, NULL, 0, b.p, b.n, &o, err, sizeof err), 0, "%s", err);
    char *out = evl__sr_buf_str(&o);
    cr_assert_str_eq(out, v);
    free(out);
    evl__sr_buf_free(&b);
    F->free(s);
}

Test(avro_parse, references)
{
    evl_sr_ref_text_t refs[] = {
        {"com.acme.Addr",
         "{\"type\":\"record\",\"name\":\"Addr\",\"namespace\":\"com.acme\",\"fields\":["
         "{\"name\":\"city\",\"type\":\"string\"}]}",
         EVL_SCHEMA_AVRO},
        {"com.acme.Kind", "{\"type\":\"enum\",\"name\":\"com.acme.Kind\",\"symbols\":[\"A\"]}",
         EVL_SCHEMA_AVRO},
    };
    const char *main_text = "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.acme\","
                            "\"fields\":[{\"name\":\"a\",\"type\":\"Addr\"},{\"name\":\"k\","
                            "\"type\":\"com.acme.Kind\"}]}";
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(F->parse(main_text, strlen(main_text), refs, 2, &s, err, sizeof err), 0, "%s",
                 err);
    /* The canonical text is the main text's alone. */
    char *c = F->canonical(s);
    cr_assert(!strstr(c, "city"));
    cr_assert_str_eq(F->record_name(s), "com.acme.User");
    const char *v = "{\"a\":{\"city\":\"Oslo\"},\"k\":\"A\"}";
    evl_sr_buf_t b = {0}, o = {0};
    cr_assert_eq(F->encode(s, NULL, 0, v, strlen(v), &b, err, sizeof err), 0, "%s", err);
    cr_assert_eq(F->decode(s, NULL, NULL, 0, b.p, b.n, &o, err, sizeof err), 0, "%s", err);
    char *out = evl__sr_buf_str(&o);
    cr_assert_str_eq(out, v);
    free(out);
    free(c);
    evl__sr_buf_free(&b);
    F->free(s);
    /* Without the references, the names are unknown. */
    parse_bad(main_text, "unknown type");
    /* A reference that is no Avro schema. */
    evl_sr_ref_text_t bad = {"x", "syntax = \"proto3\";", EVL_SCHEMA_PROTOBUF};
    cr_assert_eq(F->parse(main_text, strlen(main_text), &bad, 1, &s, err, sizeof err),
                 EVL_ESCHEMA_INVALID);
    evl_sr_ref_text_t broken = {"x", "{\"type\":", EVL_SCHEMA_AVRO};
    cr_assert_eq(F->parse(main_text, strlen(main_text), &broken, 1, &s, err, sizeof err),
                 EVL_ESCHEMA_INVALID);
}

/* ====================================================================== */
/* Canonical text                                                          */

Test(avro_canonical, whitespace_and_key_order)
{
    const char *a = "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.acme\","
                    "\"doc\":\"a user\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},"
                    "{\"name\":\"email\",\"type\":[\"null\",\"string\"],\"default\":null,"
                    "\"doc\":\"mail\"}],\"x-custom\":{\"b\":1,\"a\":2}}";
    const char *b = "{ \"fields\" : [ { \"type\" : {\"type\": \"long\"}, \"name\" : \"id\" } ,\n"
                    "  { \"doc\":\"mail\", \"default\": null, \"type\": [\"null\", "
                    "{\"type\":\"string\"}], \"name\":\"email\" } ],\n"
                    "\"x-custom\":{\"a\":2,\"b\":1}, \"namespace\": \"com.acme\", \"doc\":\"a user\","
                    "\"name\": \"User\", \"type\": \"record\" }";
    char *ca = canon(a), *cb = canon(b);
    cr_assert_str_eq(ca, cb);
    cr_assert_str_eq(ca, "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"com.acme\","
                         "\"doc\":\"a user\",\"fields\":[{\"type\":\"long\",\"name\":\"id\"},"
                         "{\"type\":[\"null\",\"string\"],\"name\":\"email\",\"doc\":\"mail\","
                         "\"default\":null}],\"x-custom\":{\"a\":2,\"b\":1}}");
    /* and it parses again to itself */
    char *cc = canon(ca);
    cr_assert_str_eq(cc, ca);
    free(ca);
    free(cb);
    free(cc);
}

Test(avro_canonical, keeps_everything_clients_read)
{
    const char *s =
        "{\"type\":\"record\",\"name\":\"P\",\"aliases\":[\"Old\"],\"fields\":[{\"name\":\"amt\","
        "\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":9,\"scale\":2},"
        "\"aliases\":[\"amount\"],\"order\":\"descending\"},{\"name\":\"ts\",\"type\":{\"type\":"
        "\"long\",\"logicalType\":\"timestamp-millis\"}},{\"name\":\"e\",\"type\":{\"type\":"
        "\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}}],"
        "\"connect.name\":\"P\"}";
    char *c = canon(s);
    const char *keep[] = {"\"aliases\":[\"Old\"]",       "\"logicalType\":\"decimal\"",
                          "\"precision\":9",             "\"scale\":2",
                          "\"aliases\":[\"amount\"]",    "\"order\":\"descending\"",
                          "\"timestamp-millis\"",        "\"default\":\"A\"",
                          "\"connect.name\":\"P\""};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        cr_assert(strstr(c, keep[i]), "%s lost from %s", keep[i], c);
    char *c2 = canon(c);
    cr_assert_str_eq(c, c2);
    free(c);
    free(c2);
}

Test(avro_canonical, fixed_points)
{
    const char *texts[] = {
        "\"int\"", "{\"type\":\"int\"}", " [ \"null\" , {\"type\":\"long\"} ] ",
        "{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"string\"}}",
        "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"n\",\"type\":[\"null\",\"L\"],"
        "\"default\":null},{\"name\":\"d\",\"type\":\"double\",\"default\":0.1}]}",
        "{\"type\":\"record\",\"name\":\"U\",\"fields\":[{\"name\":\"s\",\"type\":\"string\","
        "\"default\":\"caf\\u00e9 \\\"q\\\" \\n\"}]}",
    };
    const char *want[] = {"\"int\"", "\"int\"", "[\"null\",\"long\"]",
                          "{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":\"string\"}}",
                          NULL, NULL};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *c = canon(texts[i]);
        if (want[i])
            cr_assert_str_eq(c, want[i]);
        char *c2 = canon(c);
        cr_assert_str_eq(c, c2, "not a fixed point: %s", texts[i]);
        free(c);
        free(c2);
    }
    /* Different schemas stay different. */
    char *a = canon("{\"type\":\"int\",\"logicalType\":\"date\"}");
    char *b = canon("\"int\"");
    cr_assert_str_neq(a, b);
    free(a);
    free(b);
}

/* ====================================================================== */
/* Compatibility                                                           */

/* can_read(reader, writer): the answer, reasons non-empty when 0; *first
 * the first reason (static copy) for callers that check it. */
static char last_reason[512];

static int compat(const char *reader, const char *writer)
{
    void *r = parse_ok(reader), *w = parse_ok(writer);
    evl_sr_msgs_t why = {0};
    int rc = F->can_read(r, w, &why);
    cr_assert_geq(rc, 0);
    if (rc == 0) {
        cr_assert_gt(why.n, 0, "incompatible without a reason:\nreader %s\nwriter %s", reader,
                     writer);
        snprintf(last_reason, sizeof last_reason, "%s", why.v[0]);
    } else {
        last_reason[0] = 0;
    }
    evl__sr_msgs_free(&why);
    F->free(r);
    F->free(w);
    return rc;
}

#define REC(fields) "{\"type\":\"record\",\"name\":\"User\",\"fields\":[" fields "]}"
#define FLD(n, t) "{\"name\":\"" n "\",\"type\":" t "}"
#define FLDD(n, t, d) "{\"name\":\"" n "\",\"type\":" t ",\"default\":" d "}"

typedef struct ccase {
    const char *what, *reader, *writer;
    int want;
    const char *reason; /* a substring of the first reason, or NULL */
} ccase_t;

static const ccase_t cases[] = {
    /* Confluent's documented evolutions (BACKWARD: reader = new) */
    {"add field with default", REC(FLD("id", "\"int\"") "," FLDD("email", "\"string\"", "\"\"")),
     REC(FLD("id", "\"int\"")), 1, NULL},
    {"add field without default",
     REC(FLD("id", "\"int\"") "," FLD("x", "\"int\"") "," FLD("email", "\"string\"")),
     REC(FLD("id", "\"int\"") "," FLD("x", "\"int\"")), 0,
     "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/2 (field 'email')"},
    {"remove field", REC(FLD("id", "\"int\"")),
     REC(FLD("id", "\"int\"") "," FLD("email", "\"string\"")), 1, NULL},
    {"type change", REC(FLD("id", "\"int\"")), REC(FLD("id", "\"string\"")), 0,
     "TYPE_MISMATCH reader type: INT not compatible with writer type: STRING at "
     "/fields/0/type"},
    /* promotions, and not back */
    {"int->long", "\"long\"", "\"int\"", 1, NULL},
    {"int->float", "\"float\"", "\"int\"", 1, NULL},
    {"int->double", "\"double\"", "\"int\"", 1, NULL},
    {"long->float", "\"float\"", "\"long\"", 1, NULL},
    {"long->double", "\"double\"", "\"long\"", 1, NULL},
    {"float->double", "\"double\"", "\"float\"", 1, NULL},
    {"string->bytes", "\"bytes\"", "\"string\"", 1, NULL},
    {"bytes->string", "\"string\"", "\"bytes\"", 1, NULL},
    {"long-/->int", "\"int\"", "\"long\"", 0, "TYPE_MISMATCH"},
    {"double-/->float", "\"float\"", "\"double\"", 0, "TYPE_MISMATCH"},
    {"float-/->long", "\"long\"", "\"float\"", 0, "TYPE_MISMATCH"},
    {"int-/->string", "\"string\"", "\"int\"", 0, "TYPE_MISMATCH"},
    {"boolean-/->int", "\"int\"", "\"boolean\"", 0, "TYPE_MISMATCH"},
    {"null-/->int", "\"int\"", "\"null\"", 0, "TYPE_MISMATCH"},
    /* enums */
    {"enum add symbol", "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}", 1, NULL},
    {"enum remove symbol", "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}", 0,
     "MISSING_ENUM_SYMBOLS [C]"},
    {"enum remove symbol, reader default",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}", 1, NULL},
    {"enum writer default does not help", "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}", 0,
     "MISSING_ENUM_SYMBOLS [B]"},
    {"enum renamed", "{\"type\":\"enum\",\"name\":\"F\",\"symbols\":[\"A\"]}",
     "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}", 0, "NAME_MISMATCH"},
    /* unions */
    {"union add branch", "[\"null\",\"int\",\"string\"]", "[\"null\",\"int\"]", 1, NULL},
    {"union remove branch", "[\"null\",\"int\"]", "[\"null\",\"int\",\"string\"]", 0,
     "MISSING_UNION_BRANCH"},
    {"non-union to union", "[\"null\",\"string\"]", "\"string\"", 1, NULL},
    {"non-union to union by promotion", "[\"null\",\"long\"]", "\"int\"", 1, NULL},
    {"non-union to union lacking it", "[\"null\",\"string\"]", "\"int\"", 0,
     "MISSING_UNION_BRANCH"},
    {"union to non-union, all branches fit", "\"double\"", "[\"int\",\"float\"]", 1, NULL},
    {"union to non-union, one branch does not", "\"string\"", "[\"null\",\"string\"]", 0,
     "TYPE_MISMATCH"},
    {"union reordered", "[\"string\",\"null\"]", "[\"null\",\"string\"]", 1, NULL},
    /* aliases */
    {"renamed field with alias",
     REC("{\"name\":\"mail\",\"type\":\"string\",\"aliases\":[\"email\"]}"),
     REC(FLD("email", "\"string\"")), 1, NULL},
    {"renamed field without alias", REC(FLD("mail", "\"string\"")),
     REC(FLD("email", "\"string\"")), 0, "READER_FIELD_MISSING_DEFAULT_VALUE"},
    {"renamed record with alias",
     "{\"type\":\"record\",\"name\":\"Person\",\"aliases\":[\"User\"],\"fields\":[]}",
     REC(FLD("id", "\"int\"")), 1, NULL},
    {"renamed record without alias", "{\"type\":\"record\",\"name\":\"Person\",\"fields\":[]}",
     REC(FLD("id", "\"int\"")), 0, "NAME_MISMATCH"},
    {"same short name, other namespace",
     "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"b\",\"fields\":[]}",
     "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"a\",\"fields\":[]}", 1, NULL},
    {"alias relative to the reader's namespace",
     "{\"type\":\"record\",\"name\":\"P\",\"namespace\":\"a\",\"aliases\":[\"User\"],"
     "\"fields\":[]}",
     "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"a\",\"fields\":[]}", 1, NULL},
    {"relative alias does not name another namespace",
     "{\"type\":\"record\",\"name\":\"P\",\"namespace\":\"b\",\"aliases\":[\"User\"],"
     "\"fields\":[]}",
     "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"a\",\"fields\":[]}", 0,
     "NAME_MISMATCH"},
    /* fixed */
    {"fixed same", "{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}",
     "{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}", 1, NULL},
    {"fixed size change", "{\"type\":\"fixed\",\"name\":\"H\",\"size\":32}",
     "{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}", 0,
     "FIXED_SIZE_MISMATCH expected: 16, found: 32 at /size"},
    {"fixed renamed", "{\"type\":\"fixed\",\"name\":\"G\",\"size\":16}",
     "{\"type\":\"fixed\",\"name\":\"H\",\"size\":16}", 0, "NAME_MISMATCH"},
    /* containers */
    {"array items promoted", "{\"type\":\"array\",\"items\":\"long\"}",
     "{\"type\":\"array\",\"items\":\"int\"}", 1, NULL},
    {"map values narrowed", "{\"type\":\"map\",\"values\":\"int\"}",
     "{\"type\":\"map\",\"values\":\"long\"}", 0, "at /values"},
    {"array vs map", "{\"type\":\"array\",\"items\":\"int\"}",
     "{\"type\":\"map\",\"values\":\"int\"}", 0, "TYPE_MISMATCH"},
    /* nested records */
    {"nested field added with default",
     REC(FLD("a", "{\"type\":\"record\",\"name\":\"In\",\"fields\":[" FLD(
         "x", "\"int\"") "," FLDD("y", "\"int\"", "0") "]}")),
     REC(FLD("a", "{\"type\":\"record\",\"name\":\"In\",\"fields\":[" FLD("x", "\"int\"") "]}")),
     1, NULL},
    {"nested field added without default",
     REC(FLD("a", "{\"type\":\"record\",\"name\":\"In\",\"fields\":[" FLD(
         "x", "\"int\"") "," FLD("y", "\"int\"") "]}")),
     REC(FLD("a", "{\"type\":\"record\",\"name\":\"In\",\"fields\":[" FLD("x", "\"int\"") "]}")),
     0, "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/0/type/fields/1"},
    /* recursive types */
    {"recursive list, value promoted",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" FLD("v", "\"long\"") "," FLD(
         "next", "[\"null\",\"L\"]") "]}",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" FLD("v", "\"int\"") "," FLD(
         "next", "[\"null\",\"L\"]") "]}",
     1, NULL},
    {"recursive list, value narrowed",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" FLD("v", "\"int\"") "," FLD(
         "next", "[\"null\",\"L\"]") "]}",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" FLD("v", "\"long\"") "," FLD(
         "next", "[\"null\",\"L\"]") "]}",
     0, "TYPE_MISMATCH"},
    {"recursive tree vs list",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" FLD(
         "kids", "{\"type\":\"array\",\"items\":\"L\"}") "]}",
     "{\"type\":\"record\",\"name\":\"L\",\"fields\":[" FLD("kids", "[\"null\",\"L\"]") "]}", 0,
     NULL},
    /* logical types over the same primitive */
    {"date over int", "{\"type\":\"int\",\"logicalType\":\"date\"}", "\"int\"", 1, NULL},
    {"timestamp over long", "\"long\"", "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}",
     1, NULL},
    {"decimal precision change",
     "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":10,\"scale\":2}",
     "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":8,\"scale\":2}", 1, NULL},
};

Test(avro_compat, table)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ccase_t *c = &cases[i];
        int got = compat(c->reader, c->writer);
        cr_expect_eq(got, c->want, "%s: got %d, want %d (%s)", c->what, got, c->want,
                     last_reason);
        if (c->reason && got == 0)
            cr_expect(strstr(last_reason, c->reason), "%s: reason '%s' lacks '%s'", c->what,
                      last_reason, c->reason);
    }
}

Test(avro_compat, full_is_both_directions)
{
    /* Add a field with a default: FULL. Without: BACKWARD fails, FORWARD ok. */
    const char *v1 = REC(FLD("id", "\"int\""));
    const char *v2d = REC(FLD("id", "\"int\"") "," FLDD("n", "\"string\"", "\"\""));
    const char *v2 = REC(FLD("id", "\"int\"") "," FLD("n", "\"string\""));
    cr_assert_eq(compat(v2d, v1), 1);
    cr_assert_eq(compat(v1, v2d), 1);
    cr_assert_eq(compat(v2, v1), 0);
    cr_assert_eq(compat(v1, v2), 1);
}

Test(avro_compat, all_reasons_collected)
{
    void *r = parse_ok(REC(FLD("a", "\"int\"") "," FLD("b", "\"int\"") "," FLD("c", "\"int\"")));
    void *w = parse_ok(REC(FLD("a", "\"string\"") "," FLD("b", "\"boolean\"")));
    evl_sr_msgs_t why = {0};
    cr_assert_eq(F->can_read(r, w, &why), 0);
    cr_assert_eq(why.n, 3, "%zu reasons", why.n);
    cr_assert(strstr(why.v[0], "/fields/0/type"));
    cr_assert(strstr(why.v[1], "/fields/1/type"));
    cr_assert(strstr(why.v[2], "READER_FIELD_MISSING_DEFAULT_VALUE at /fields/2 (field 'c')"));
    evl__sr_msgs_free(&why);
    F->free(r);
    F->free(w);
}

/* ====================================================================== */
/* Codec                                                                   */

static const char *all_types =
    "{\"type\":\"record\",\"name\":\"All\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Col\",\"symbols\":[\"R\",\"G\"]}},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"Two\",\"size\":2}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"Col\"]},"
    "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"In\",\"fields\":["
    "{\"name\":\"x\",\"type\":\"long\"}]}},"
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\","
    "\"precision\":4,\"scale\":2}}]}";

static char *roundtrip(void *s, const char *json, evl_sr_buf_t *bin)
{
    char err[EVL_SR_ERRLEN];
    evl_sr_buf_t b = {0}, o = {0};
    int rc = F->encode(s, NULL, 0, json, strlen(json), &b, err, sizeof err);
    cr_assert_eq(rc, 0, "encode %s: %s", json, err);
    rc = F->decode(s, NULL, NULL, 0, b.p, b.n, &o, err, sizeof err);
    cr_assert_eq(rc, 0, "decode of %s: %s", json, err);
    if (bin)
        *bin = b;
    else
        evl__sr_buf_free(&b);
    return evl__sr_buf_str(&o);
}

Test(avro_codec, roundtrip_every_type)
{
    void *s = parse_ok(all_types);
    const char *v =
        "{\"n\":null,\"b\":true,\"i\":-2147483648,\"l\":9223372036854775807,\"f\":1.5,"
        "\"d\":-0.1,\"by\":\"\\u0000\\u00ff\\u0080a\",\"s\":\"h\\u00e9\\\"llo\\n\\u263a\","
        "\"e\":\"G\",\"fx\":\"\\u00fe\\u0001\",\"a\":[1,-2,3],\"m\":{\"k\":\"v\"},"
        "\"u\":{\"t.Col\":\"R\"},\"r\":{\"x\":-1},\"dec\":\"\\u0004\\u00d2\"}";
    char *out = roundtrip(s, v, NULL);
    /* The text we write back is the same value in the JSON encoding. */
    const char *want =
        "{\"n\":null,\"b\":true,\"i\":-2147483648,\"l\":9223372036854775807,\"f\":1.5,"
        "\"d\":-0.1,\"by\":\"\\u0000\xc3\xbf\xc2\x80" "a\",\"s\":\"h\xc3\xa9\\\"llo\\u000a\xe2\x98\xba\","
        "\"e\":\"G\",\"fx\":\"\xc3\xbe\\u0001\",\"a\":[1,-2,3],\"m\":{\"k\":\"v\"},"
        "\"u\":{\"t.Col\":\"R\"},\"r\":{\"x\":-1},\"dec\":\"\\u0004\xc3\x92\"}";
    cr_assert_str_eq(out, want);
    /* and that text encodes to the same bytes again */
    char *again = roundtrip(s, out, NULL);
    cr_assert_str_eq(again, out);
    free(out);
    free(again);
    F->free(s);
}

Test(avro_codec, binary_layout)
{
    /* Known bytes from the spec: int 1 -> 02, -1 -> 01, 64 -> 80 01; "foo" -> 06 66 6f 6f;
     * an array of [3, 27] -> 04 06 36 00. */
    void *s = parse_ok("{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"a\",\"type\":"
                       "\"int\"},{\"name\":\"b\",\"type\":\"int\"},{\"name\":\"c\",\"type\":"
                       "\"long\"},{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"x\",\"type\":"
                       "{\"type\":\"array\",\"items\":\"long\"}},{\"name\":\"u\",\"type\":"
                       "[\"null\",\"string\"]}]}");
    evl_sr_buf_t b;
    char *out = roundtrip(s, "{\"a\":1,\"b\":-1,\"c\":64,\"s\":\"foo\",\"x\":[3,27],\"u\":\"a\"}",
                          &b);
    const uint8_t want[] = {0x02, 0x01, 0x80, 0x01, 0x06, 'f', 'o', 'o', 0x04,
                            0x06, 0x36, 0x00, 0x02, 0x02, 'a'};
    cr_assert_eq(b.n, sizeof want);
    cr_assert_eq(memcmp(b.p, want, sizeof want), 0);
    /* the bare union value "a" came back in the spec's form */
    cr_assert(strstr(out, "\"u\":{\"string\":\"a\"}"), "%s", out);
    evl__sr_buf_free(&b);
    free(out);
    F->free(s);
}

Test(avro_codec, top_level_primitives_and_floats)
{
    struct {
        const char *schema, *in, *out;
    } t[] = {
        {"\"string\"", "\"x\"", "\"x\""},
        {"\"long\"", "-5", "-5"},
        {"\"double\"", "1e300", "1e+300"},
        {"\"double\"", "\"NaN\"", "\"NaN\""},
        {"\"float\"", "\"-Infinity\"", "\"-Infinity\""},
        {"\"float\"", "0.1", "0.1"},
        {"\"double\"", "3", "3.0"},
        {"\"null\"", "null", "null"},
        {"[\"null\",\"long\"]", "null", "null"},
        {"[\"null\",\"long\"]", "7", "{\"long\":7}"},
        {"{\"type\":\"map\",\"values\":[\"int\",\"string\"]}", "{\"a\":1,\"b\":\"x\"}",
         "{\"a\":{\"int\":1},\"b\":{\"string\":\"x\"}}"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        void *s = parse_ok(t[i].schema);
        char *out = roundtrip(s, t[i].in, NULL);
        cr_assert_str_eq(out, t[i].out, "%s of %s", t[i].in, t[i].schema);
        free(out);
        F->free(s);
    }
}

static void encode_bad(const char *schema, const char *json, const char *want)
{
    void *s = parse_ok(schema);
    char err[EVL_SR_ERRLEN] = "";
    evl_sr_buf_t b = {0};
    int rc = F->encode(s, NULL, 0, json, strlen(json), &b, err, sizeof err);
    cr_assert_eq(rc, EVL_ESCHEMA_INVALID, "%s accepted for %s", json, schema);
    cr_assert_eq(b.n, 0, "bytes left after a failed encode");
    if (want)
        cr_assert(strstr(err, want), "'%s' lacks '%s'", err, want);
    evl__sr_buf_free(&b);
    F->free(s);
}

Test(avro_codec, encode_errors_name_the_path)
{
    const char *rec = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":"
                      "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"I\","
                      "\"fields\":[{\"name\":\"v\",\"type\":\"int\"}]}}}]}";
    encode_bad(rec, "{\"a\":[{\"v\":1},{\"v\":2147483648}]}", "/a/1/v");
    encode_bad(rec, "{\"a\":[{\"v\":1},{\"w\":2}]}", "no field 'w'");
    encode_bad(rec, "{\"a\":[{}]}", "/a/0/v");
    encode_bad(rec, "{\"a\":[{\"v\":\"1\"}]}", "integer");
    encode_bad(rec, "not json", "not JSON");
    encode_bad("\"bytes\"", "\"\\u0100\"", "above 255");
    encode_bad("{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}", "\"abc\"", "size 2");
    encode_bad("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}", "\"B\"", "symbol");
    encode_bad("[\"int\",\"long\"]", "1", "several branches");
    encode_bad("[\"null\",\"int\"]", "\"x\"", "no branch");
    encode_bad("[\"int\",\"string\"]", "null", "no null branch");
    encode_bad("\"boolean\"", "1", "boolean");
}

Test(avro_codec, encode_fills_defaults_and_union_forms)
{
    void *s = parse_ok("{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                       "{\"name\":\"a\",\"type\":\"int\"},"
                       "{\"name\":\"u\",\"type\":[\"string\",\"null\"],\"default\":\"d\"},"
                       "{\"name\":\"w\",\"type\":[\"int\",\"long\"]}]}");
    char *out = roundtrip(s, "{\"a\":1,\"w\":{\"long\":5}}", NULL);
    cr_assert_str_eq(out, "{\"a\":1,\"u\":{\"string\":\"d\"},\"w\":{\"long\":5}}");
    free(out);
    F->free(s);
}

static char *resolve(const char *writer, const char *reader, const char *json, int *rc_out)
{
    void *w = parse_ok(writer), *r = parse_ok(reader);
    char err[EVL_SR_ERRLEN];
    evl_sr_buf_t b = {0}, o = {0};
    cr_assert_eq(F->encode(w, NULL, 0, json, strlen(json), &b, err, sizeof err), 0, "%s", err);
    int rc = F->decode(w, r, NULL, 0, b.p, b.n, &o, err, sizeof err);
    if (rc_out)
        *rc_out = rc;
    else
        cr_assert_eq(rc, 0, "%s", err);
    evl__sr_buf_free(&b);
    F->free(w);
    F->free(r);
    if (rc) {
        evl__sr_buf_free(&o);
        return strdup(err);
    }
    return evl__sr_buf_str(&o);
}

Test(avro_codec, resolution_v1_to_v2)
{
    const char *v1 =
        "{\"type\":\"record\",\"name\":\"U\",\"fields\":[{\"name\":\"id\",\"type\":\"int\"},"
        "{\"name\":\"gone\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
        "{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\",\"B\","
        "\"Z\"]}},{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"s\",\"type\":\"string\"},"
        "{\"name\":\"old\",\"type\":\"int\"},{\"name\":\"opt\",\"type\":\"string\"}]}";
    const char *v2 =
        "{\"type\":\"record\",\"name\":\"U2\",\"aliases\":[\"U\"],\"fields\":["
        "{\"name\":\"opt\",\"type\":[\"null\",\"string\"]},"
        "{\"name\":\"id\",\"type\":\"long\"},"
        "{\"name\":\"c\",\"type\":{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\",\"B\"],"
        "\"default\":\"A\"}},{\"name\":\"f\",\"type\":\"double\"},{\"name\":\"s\",\"type\":"
        "\"bytes\"},{\"name\":\"new_\",\"type\":\"int\",\"aliases\":[\"old\"]},"
        "{\"name\":\"email\",\"type\":[\"null\",\"string\"],\"default\":null},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"long\"},\"default\":"
        "{\"x\":1}},{\"name\":\"in\",\"type\":{\"type\":\"record\",\"name\":\"In\",\"fields\":["
        "{\"name\":\"q\",\"type\":[\"string\",\"null\"],\"default\":\"z\"}]},\"default\":{}}]}";
    cr_assert_eq(compat(v2, v1), 1, "%s", last_reason);
    char *out = resolve(v1, v2,
                        "{\"id\":7,\"gone\":[\"x\",\"y\"],\"c\":\"Z\",\"f\":0.5,\"s\":\"\\u00e9\","
                        "\"old\":3,\"opt\":\"o\"}",
                        NULL);
    cr_assert_str_eq(out, "{\"opt\":{\"string\":\"o\"},\"id\":7,\"c\":\"A\",\"f\":0.5,"
                          "\"s\":\"\xc3\x83\xc2\xa9\",\"new_\":3,\"email\":null,"
                          "\"tags\":{\"x\":1},\"in\":{\"q\":{\"string\":\"z\"}}}");
    free(out);
}

Test(avro_codec, resolution_failures)
{
    int rc;
    char *err = resolve("{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\",\"Z\"]}",
                        "{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"A\"]}", "\"Z\"", &rc);
    cr_assert_eq(rc, EVL_ESCHEMA_MISMATCH);
    cr_assert(strstr(err, "Z"), "%s", err);
    free(err);
    err = resolve(REC(FLD("a", "\"int\"")), REC(FLD("a", "\"int\"") "," FLD("b", "\"int\"")),
                  "{\"a\":1}", &rc);
    cr_assert_eq(rc, EVL_ESCHEMA_MISMATCH);
    cr_assert(strstr(err, "/b"), "%s", err);
    free(err);
    err = resolve("\"long\"", "\"int\"", "1", &rc);
    cr_assert_eq(rc, EVL_ESCHEMA_MISMATCH);
    free(err);
    /* a writer union branch the reader lacks fails only when written */
    char *ok = resolve("[\"null\",\"string\"]", "\"string\"", "\"x\"", NULL);
    cr_assert_str_eq(ok, "\"x\"");
    free(ok);
    err = resolve("[\"null\",\"string\"]", "\"string\"", "null", &rc);
    cr_assert_eq(rc, EVL_ESCHEMA_MISMATCH);
    free(err);
    ok = resolve("\"int\"", "[\"null\",\"double\"]", "3", NULL);
    cr_assert_str_eq(ok, "{\"double\":3.0}");
    free(ok);
}

static int decode_raw(const char *schema, const uint8_t *p, size_t n, char *err)
{
    void *s = parse_ok(schema);
    evl_sr_buf_t o = {0};
    int rc = F->decode(s, NULL, NULL, 0, p, n, &o, err, EVL_SR_ERRLEN);
    if (rc)
        cr_assert_eq(o.n, 0);
    evl__sr_buf_free(&o);
    F->free(s);
    return rc;
}

Test(avro_codec, hostile_payloads)
{
    char err[EVL_SR_ERRLEN];
    const char *str = "\"string\"", *arr = "{\"type\":\"array\",\"items\":\"null\"}";
    const char *recarr = "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"E\","
                         "\"fields\":[]}}";
    const char *list = "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"n\","
                       "\"type\":[\"null\",\"L\"]}]}";
    struct {
        const char *schema;
        uint8_t b[24];
        size_t n;
    } t[] = {
        {str, {0x06, 'a'}, 2},                                     /* truncated string */
        {str, {0xfe, 0xff, 0xff, 0xff, 0x0f}, 5},                   /* huge length */
        {str, {0x01}, 1},                                          /* negative length */
        {str, {0x02, 0xff}, 2},                                    /* not UTF-8 */
        {str, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 11},
        {"\"long\"", {0x80, 0x80}, 2},                              /* truncated varint */
        {"\"int\"", {0x80, 0x80, 0x80, 0x80, 0x20}, 5},             /* int out of range */
        {"\"boolean\"", {0x02}, 1},
        {"\"double\"", {0, 0, 0}, 3},
        {arr, {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10}, /* 2^62 nulls */
        {recarr, {0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00}, 6},
        {arr, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10}, /* INT64_MIN */
        {arr, {0x01, 0x7f}, 2},                                    /* block size too big */
        {arr, {0x02}, 1},                                          /* no end of array */
        {"[\"null\",\"int\"]", {0x04}, 1},                         /* no such branch */
        {"[\"null\",\"int\"]", {0x01}, 1},                         /* negative branch */
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}", {0x02}, 1},
        {"{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}", {1, 2, 3}, 3},
        {"\"int\"", {0x02, 0x00}, 2},                               /* trailing bytes */
        {"\"int\"", {0}, 0},                                       /* empty */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cr_assert_eq(decode_raw(t[i].schema, t[i].b, t[i].n, err), EVL_ESCHEMA_MISMATCH,
                     "case %zu decoded", i);
    /* deep nesting: a list 1000 levels deep (branch 1 = L, 2 bytes each). */
    uint8_t deep[2001];
    memset(deep, 0x02, 2000);
    deep[2000] = 0x00;
    cr_assert_eq(decode_raw(list, deep, sizeof deep, err), EVL_ESCHEMA_MISMATCH);
    cr_assert(strstr(err, "deeper"), "%s", err);
    /* but 20 levels are fine */
    deep[20] = 0x00;
    cr_assert_eq(decode_raw(list, deep, 21, err), 0, "%s", err);
    /* a block of 1000 nulls is fine; the decoder bounds them, not forbids */
    uint8_t ok[] = {0xd0, 0x0f, 0x00};
    cr_assert_eq(decode_raw(arr, ok, sizeof ok, err), 0, "%s", err);
}

Test(avro_codec, hostile_random_bytes_never_crash)
{
    void *s = parse_ok(all_types);
    void *l = parse_ok("{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"n\","
                       "\"type\":[\"null\",\"L\"]},{\"name\":\"m\",\"type\":{\"type\":\"map\","
                       "\"values\":[\"null\",\"L\"]}}]}");
    uint32_t x = 12345;
    uint8_t buf[64];
    int decoded = 0;
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(i % 64);
        for (size_t k = 0; k < n; k++) {
            x = x * 1103515245u + 12345u;
            buf[k] = (uint8_t)(x >> 16);
        }
        evl_sr_buf_t o = {0};
        char err[EVL_SR_ERRLEN];
        int rc = F->decode(i & 1 ? l : s, NULL, NULL, 0, buf, n, &o, err, sizeof err);
        cr_assert(rc == 0 || rc == EVL_ESCHEMA_MISMATCH);
        decoded += rc == 0;
        evl__sr_buf_free(&o);
    }
    /* Random bytes rarely are a whole value; a real one still decodes. */
    const uint8_t two[] = {0x02, 0x00, 0x00, 0x00}; /* n = {L: {n null, m {}}}, m {} */
    evl_sr_buf_t o = {0};
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(F->decode(l, NULL, NULL, 0, two, sizeof two, &o, err, sizeof err), 0, "%s",
                 err);
    char *out = evl__sr_buf_str(&o);
    cr_assert_str_eq(out, "{\"n\":{\"L\":{\"n\":null,\"m\":{}}},\"m\":{}}");
    free(out);
    cr_log_info("%d of 20000 random payloads decoded", decoded);
    F->free(s);
    F->free(l);
}

/* Names as Java's Schema.toString writes them: a namespace repeated on a
 * nested type, a full name in the enclosing namespace, or the namespace
 * inside the name, make no other schema (Python's avro adds the
 * namespaces Java leaves out: the same schema must keep its id). */
Test(avro_parse, namespaces_in_canonical_form)
{
    const char *plain = "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"evltest\",\"fields\":["
                        "{\"name\":\"k\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\"]}},"
                        "{\"name\":\"k2\",\"type\":\"Kind\"}]}";
    const char *spelled[] = {
        "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"evltest\",\"fields\":["
        "{\"name\":\"k\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"namespace\":\"evltest\",\"symbols\":[\"A\"]}},"
        "{\"name\":\"k2\",\"type\":\"evltest.Kind\"}]}",
        "{\"type\":\"record\",\"name\":\"evltest.User\",\"fields\":["
        "{\"name\":\"k\",\"type\":{\"type\":\"enum\",\"name\":\"evltest.Kind\",\"symbols\":[\"A\"]}},"
        "{\"name\":\"k2\",\"type\":{\"type\":\"evltest.Kind\"}}]}"};
    char *want = canon(plain);
    for (size_t i = 0; i < 2; i++) {
        char *got = canon(spelled[i]);
        cr_assert_str_eq(got, want, "form %zu", i);
        free(got);
    }
    /* a nested type in another namespace keeps it */
    char *other = canon("{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"evltest\",\"fields\":["
                        "{\"name\":\"k\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"namespace\":\"x\","
                        "\"symbols\":[\"A\"]}}]}");
    cr_assert(strstr(other, "\"namespace\":\"x\""), "%s", other);
    free(other);
    free(want);
}
