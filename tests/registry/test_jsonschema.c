/*
 * test_jsonschema.c - the JSON Schema format: parse errors, canonical
 * text, references, validation keyword by keyword (with the message's
 * pointer and keyword), the codec, and compatibility against a table of
 * Confluent's cases (exact answers, and the difference type in the
 * reasons when incompatible). The official test suite runs in
 * test_jsonschema_suite.c.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "jsonschema_internal.h"

/* util.c names core error codes through the core library; the test links
 * without it (the library's own definition wins when it is there). */
static const evl_sr_format_t *F = &evl__sr_json;

static void *parse_ok(const char *text)
{
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    int rc = F->parse(text, strlen(text), NULL, 0, &s, err, sizeof err);
    cr_assert_eq(rc, 0, "parse %s: %d %s", text, rc, err);
    cr_assert(s);
    return s;
}

/* ---- parsing ---- */

Test(jsonschema, parse_errors)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"", "not JSON"},
        {"{\"type\": \"string\"", "not JSON"},
        {"5", "object or a boolean"},
        {"\"string\"", "object or a boolean"},
        {"[]", "object or a boolean"},
        {"{\"type\": 5}", "type"},
        {"{\"type\": \"strin\"}", "unknown type"},
        {"{\"type\": [\"string\", \"string\"]}", "duplicate"},
        {"{\"minimum\": \"x\"}", "minimum"},
        {"{\"maxLength\": -1}", "maxLength"},
        {"{\"minItems\": 1.5}", "minItems"},
        {"{\"multipleOf\": 0}", "multipleOf"},
        {"{\"required\": [1]}", "required"},
        {"{\"enum\": 3}", "enum"},
        {"{\"properties\": {\"a\": 3}}", "/properties/a"},
        {"{\"items\": [{\"type\": \"string\"}, 7]}", "/items/1"},
        {"{\"allOf\": []}", "allOf"},
        {"{\"not\": \"x\"}", "/not"},
        {"{\"pattern\": 7}", "pattern"},
        {"{\"pattern\": \"(?=a)b\"}", "lookahead"},
        {"{\"pattern\": \"(a\"}", "unmatched"},
        {"{\"pattern\": \"a**\"}", "nothing to repeat"},
        {"{\"pattern\": \"(a)\\\\1\"}", "back-reference"},
        {"{\"patternProperties\": {\"[\": {}}}", "unterminated"},
        {"{\"$ref\": \"#/definitions/missing\"}", "resolves to no schema"},
        {"{\"$ref\": \"other.json\"}", "resolves to no schema"},
        {"{\"$ref\": 5}", "$ref"},
        {"{\"dependencies\": {\"a\": [1]}}", "dependencies"},
        {"{\"pattern\": \"(a{1000}){1000}\"}", "too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        void *s = (void *)1;
        char err[EVL_SR_ERRLEN] = "";
        int rc = F->parse(bad[i].text, strlen(bad[i].text), NULL, 0, &s, err, sizeof err);
        cr_expect_eq(rc, EVL_ESCHEMA_INVALID, "%s: rc %d", bad[i].text, rc);
        cr_expect_null(s, "%s", bad[i].text);
        cr_expect(strstr(err, bad[i].msg), "%s: message '%s' lacks '%s'", bad[i].text, err,
                  bad[i].msg);
    }
}

Test(jsonschema, parse_accepts)
{
    static const char *const good[] = {
        "true", "false", "{}",
        "{\"type\": [\"string\", \"null\"], \"maxLength\": 3.0}",
        "{\"$schema\": \"http://json-schema.org/draft-04/schema#\", \"exclusiveMaximum\": true, "
        "\"maximum\": 3}",
        "{\"$ref\": \"http://json-schema.org/draft-07/schema#\"}",
        "{\"x-custom\": {\"type\": 5}}", /* unknown keywords are not schemas */
        "{\"pattern\": \"^\\\\d{3}-[\\\\w.]+(?:x|y)*?$\"}",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        F->free(parse_ok(good[i]));
}

/* ---- canonical form ---- */

Test(jsonschema, canonical)
{
    void *a = parse_ok("{ \"type\" : \"object\",\n \"properties\": {\"b\": {\"type\": \"integer\"},"
                       " \"a\": {\"maxLength\": 5, \"type\": \"string\"}}, \"required\": [\"a\"] }");
    void *b = parse_ok("{\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"string\","
                       "\"maxLength\":5},\"b\":{\"type\":\"integer\"}},\"type\":\"object\"}");
    char *ca = F->canonical(a), *cb = F->canonical(b);
    cr_assert_str_eq(ca, cb);
    cr_assert_str_eq(ca, "{\"properties\":{\"a\":{\"maxLength\":5,\"type\":\"string\"},\"b\":{"
                         "\"type\":\"integer\"}},\"required\":[\"a\"],\"type\":\"object\"}");
    /* re-parses to itself */
    void *c = parse_ok(ca);
    char *cc = F->canonical(c);
    cr_assert_str_eq(cc, ca);
    /* a different schema: a different text; array order matters */
    void *d = parse_ok("{\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"string\","
                       "\"maxLength\":6},\"b\":{\"type\":\"integer\"}},\"type\":\"object\"}");
    char *cd = F->canonical(d);
    cr_assert_str_neq(cd, ca);
    free(ca);
    free(cb);
    free(cc);
    free(cd);
    F->free(a);
    F->free(b);
    F->free(c);
    F->free(d);
}

Test(jsonschema, canonical_numbers_and_strings)
{
    void *a = parse_ok("{\"multipleOf\": 0.1, \"maximum\": 1e3, \"minimum\": -2.0, "
                       "\"description\": \"tab\\there \\\"q\\\" \\u00e9 \\u0001\"}");
    char *ca = F->canonical(a);
    cr_assert_str_eq(ca, "{\"description\":\"tab\\there \\\"q\\\" \xc3\xa9 \\u0001\","
                         "\"maximum\":1000.0,\"minimum\":-2.0,\"multipleOf\":0.1}");
    void *b = parse_ok(ca);
    char *cb = F->canonical(b);
    cr_assert_str_eq(ca, cb);
    free(ca);
    free(cb);
    F->free(a);
    F->free(b);
}

Test(jsonschema, record_name)
{
    void *a = parse_ok("{\"title\": \"com.acme.Order\", \"type\": \"object\"}");
    cr_assert_str_eq(F->record_name(a), "com.acme.Order");
    void *b = parse_ok("{\"title\": 5}");
    cr_assert_null(F->record_name(b));
    void *c = parse_ok("true");
    cr_assert_null(F->record_name(c));
    F->free(a);
    F->free(b);
    F->free(c);
}

/* ---- references ---- */

Test(jsonschema, references)
{
    evl_sr_ref_text_t refs[] = {
        {"address.json",
         "{\"type\":\"object\",\"properties\":{\"zip\":{\"type\":\"string\",\"minLength\":5}},"
         "\"definitions\":{\"country\":{\"enum\":[\"FR\",\"DE\"]}}}",
         EVL_SCHEMA_JSON},
    };
    const char *text = "{\"type\":\"object\",\"properties\":{"
                       "\"address\":{\"$ref\":\"address.json\"},"
                       "\"country\":{\"$ref\":\"address.json#/definitions/country\"}}}";
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(F->parse(text, strlen(text), refs, 1, &s, err, sizeof err), 0, "%s", err);
    const char *ok = "{\"address\":{\"zip\":\"75001\"},\"country\":\"FR\"}";
    cr_assert_eq(evl__js_validate(s, ok, strlen(ok), err, sizeof err), 0, "%s", err);
    const char *bad = "{\"address\":{\"zip\":\"750\"}}";
    cr_assert_eq(evl__js_validate(s, bad, strlen(bad), err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert_str_eq(err, "/address/zip: minLength 5");
    const char *bad2 = "{\"country\":\"US\"}";
    cr_assert_eq(evl__js_validate(s, bad2, strlen(bad2), err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert_str_eq(err, "/country: enum");
    F->free(s);

    /* by URL, resolved against the referring schema's $id */
    evl_sr_ref_text_t urlref[] = {
        {"https://example.com/schemas/name.json", "{\"type\":\"string\",\"maxLength\":3}",
         EVL_SCHEMA_JSON},
    };
    const char *t2 = "{\"$id\":\"https://example.com/schemas/person.json\","
                     "\"properties\":{\"n\":{\"$ref\":\"name.json\"}}}";
    cr_assert_eq(F->parse(t2, strlen(t2), urlref, 1, &s, err, sizeof err), 0, "%s", err);
    const char *d2 = "{\"n\":\"abcd\"}";
    cr_assert_eq(evl__js_validate(s, d2, strlen(d2), err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert_str_eq(err, "/n: maxLength 3");
    F->free(s);

    /* a reference that is not a JSON schema is refused */
    evl_sr_ref_text_t avro[] = {{"x.json", "{\"type\":\"string\"}", EVL_SCHEMA_AVRO}};
    s = (void *)1;
    cr_assert_eq(F->parse("{\"$ref\":\"x.json\"}", 17, avro, 1, &s, err, sizeof err),
                 EVL_ESCHEMA_INVALID);
    cr_assert_null(s);
}

Test(jsonschema, ref_loops)
{
    char err[EVL_SR_ERRLEN];
    /* a schema that refers to itself without end is an error, not a crash */
    void *s = parse_ok("{\"$ref\": \"#\"}");
    cr_assert_eq(evl__js_validate(s, "1", 1, err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert(strstr(err, "nested deeper"), "%s", err);
    F->free(s);
    s = parse_ok("{\"definitions\":{\"a\":{\"$ref\":\"#/definitions/b\"},"
                 "\"b\":{\"$ref\":\"#/definitions/a\"}},\"$ref\":\"#/definitions/a\"}");
    cr_assert_eq(evl__js_validate(s, "{}", 2, err, sizeof err), EVL_ESCHEMA_INVALID);
    F->free(s);
    /* recursion that follows the document is fine */
    s = parse_ok("{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"},"
                 "\"v\":{\"type\":\"integer\"}}}");
    const char *d = "{\"v\":1,\"next\":{\"v\":2,\"next\":{\"v\":\"x\"}}}";
    cr_assert_eq(evl__js_validate(s, d, strlen(d), err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert_str_eq(err, "/next/next/v: type");
    F->free(s);
}

/* ---- validation, keyword by keyword ---- */

static const struct vcase {
    const char *schema, *doc;
    bool valid;
    const char *msg; /* the whole message when invalid */
} vcases[] = {
    {"{\"type\":\"integer\"}", "1", true, NULL},
    {"{\"type\":\"integer\"}", "1.0", true, NULL},
    {"{\"type\":\"integer\"}", "1.5", false, "/: type"},
    {"{\"type\":[\"string\",\"null\"]}", "null", true, NULL},
    {"{\"type\":[\"string\",\"null\"]}", "3", false, "/: type"},
    {"{\"enum\":[1,\"a\",{\"x\":[1]}]}", "1.0", true, NULL},
    {"{\"enum\":[1,\"a\",{\"x\":[1]}]}", "{\"x\":[1.0]}", true, NULL},
    {"{\"enum\":[1,\"a\"]}", "\"b\"", false, "/: enum"},
    {"{\"const\":{\"a\":false}}", "{\"a\":false}", true, NULL},
    {"{\"const\":false}", "0", false, "/: const"},
    {"{\"multipleOf\":0.01}", "19.99", true, NULL},
    {"{\"multipleOf\":3}", "10", false, "/: multipleOf 3"},
    {"{\"maximum\":3}", "3", true, NULL},
    {"{\"maximum\":3}", "3.5", false, "/: maximum 3"},
    {"{\"exclusiveMaximum\":3}", "3", false, "/: exclusiveMaximum 3"},
    {"{\"minimum\":1,\"exclusiveMinimum\":1}", "1", false, "/: exclusiveMinimum 1"},
    {"{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"maximum\":3,"
     "\"exclusiveMaximum\":true}",
     "3", false, "/: maximum 3"},
    {"{\"maxLength\":2}", "\"\xc3\xa9\xc3\xa9\"", true, NULL}, /* 2 code points, 4 bytes */
    {"{\"maxLength\":2}", "\"abc\"", false, "/: maxLength 2"},
    {"{\"minLength\":2}", "\"\xf0\x9f\x92\xa9\"", false, "/: minLength 2"},
    {"{\"pattern\":\"\\\\d{3}\"}", "\"ab123\"", true, NULL}, /* unanchored */
    {"{\"pattern\":\"^\\\\d{3}$\"}", "\"1234\"", false, "/: pattern ^\\d{3}$"},
    {"{\"pattern\":\"^[\\\\w-]+$\"}", "\"a-b_c\"", true, NULL},
    {"{\"pattern\":\"^(?:ab)+$\"}", "\"abab\"", true, NULL},
    {"{\"pattern\":\"^a.c$\"}", "\"a\xc3\xa9" "c\"", true, NULL}, /* . is a code point */
    {"{\"pattern\":\"^\\\\S+$\"}", "\"a b\"", false, "/: pattern ^\\S+$"},
    {"{\"pattern\":\"^[^\\\\]]$\"}", "\"]\"", false, "/: pattern ^[^\\]]$"},
    {"{\"items\":{\"type\":\"string\"}}", "[\"a\",2]", false, "/1: type"},
    {"{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}", "[\"a\"]", true, NULL},
    {"{\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}", "[\"a\",1]", false,
     "/1: false schema"},
    {"{\"maxItems\":1}", "[1,2]", false, "/: maxItems 1"},
    {"{\"minItems\":1}", "[]", false, "/: minItems 1"},
    {"{\"uniqueItems\":true}", "[1,{\"a\":1},1.0]", false, "/2: uniqueItems (same as item 0)"},
    {"{\"uniqueItems\":true}", "[[1],[\"1\"],{\"a\":1,\"b\":2},{\"a\":1}]", true, NULL},
    {"{\"contains\":{\"const\":5}}", "[1,5]", true, NULL},
    {"{\"contains\":{\"const\":5}}", "[1,2]", false, "/: contains"},
    {"{\"maxProperties\":1}", "{\"a\":1,\"b\":2}", false, "/: maxProperties 1"},
    {"{\"minProperties\":1}", "{}", false, "/: minProperties 1"},
    {"{\"required\":[\"a/b\"]}", "{}", false, "/a~1b: required"},
    {"{\"properties\":{\"a\":{\"properties\":{\"b~\":{\"type\":\"string\"}}}}}",
     "{\"a\":{\"b~\":1}}", false, "/a/b~0: type"},
    {"{\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
     "{\"x-a\":1}", true, NULL},
    {"{\"patternProperties\":{\"^x-\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
     "{\"y\":1}", false, "/y: false schema"},
    {"{\"properties\":{\"a\":{}},\"additionalProperties\":{\"type\":\"string\"}}",
     "{\"a\":1,\"b\":2}", false, "/b: type"},
    {"{\"dependencies\":{\"card\":[\"billing\"]}}", "{\"card\":1}", false,
     "/card: dependencies (needs billing)"},
    {"{\"dependencies\":{\"card\":{\"required\":[\"cvv\"]}}}", "{\"card\":1}", false,
     "/cvv: required"},
    {"{\"propertyNames\":{\"maxLength\":2}}", "{\"abc\":1}", false, "/abc: maxLength 2"},
    {"{\"if\":{\"properties\":{\"c\":{\"const\":\"US\"}}},\"then\":{\"required\":[\"zip\"]},"
     "\"else\":{\"required\":[\"postcode\"]}}",
     "{\"c\":\"US\"}", false, "/zip: required"},
    {"{\"if\":{\"properties\":{\"c\":{\"const\":\"US\"}}},\"then\":{\"required\":[\"zip\"]},"
     "\"else\":{\"required\":[\"postcode\"]}}",
     "{\"c\":\"FR\",\"postcode\":1}", true, NULL},
    {"{\"allOf\":[{\"type\":\"number\"},{\"minimum\":2}]}", "1", false, "/: minimum 2"},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"minimum\":2}]}", "1", false, "/: anyOf"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "3", false,
     "/: oneOf (more than one matches)"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":2}]}", "1", true, NULL},
    {"{\"not\":{\"type\":\"null\"}}", "null", false, "/: not"},
    {"false", "1", false, "/: false schema"},
    {"{\"definitions\":{\"a~b/c%\":{\"type\":\"string\"}},\"$ref\":\"#/definitions/a~0b~1c%25\"}",
     "1", false, "/: type"},
    {"{\"$id\":\"http://x.org/root.json\",\"definitions\":{\"d\":{\"$id\":\"sub/d.json\","
     "\"definitions\":{\"e\":{\"type\":\"integer\"}},\"properties\":{\"e\":{\"$ref\":\"#/definitions/e\"}}}},"
     "\"properties\":{\"x\":{\"$ref\":\"sub/d.json\"}}}",
     "{\"x\":{\"e\":\"s\"}}", false, "/x/e: type"},
    {"{\"format\":\"date-time\"}", "\"2024-02-29T12:00:00.5+01:00\"", true, NULL},
    {"{\"format\":\"date-time\"}", "\"2023-02-29T12:00:00Z\"", false, "/: format date-time"},
    {"{\"format\":\"date\"}", "\"2024-13-01\"", false, "/: format date"},
    {"{\"format\":\"time\"}", "\"23:59:60Z\"", true, NULL},
    {"{\"format\":\"email\"}", "\"a..b@x.org\"", false, "/: format email"},
    {"{\"format\":\"hostname\"}", "\"-a.org\"", false, "/: format hostname"},
    {"{\"format\":\"ipv4\"}", "\"192.168.0.01\"", false, "/: format ipv4"},
    {"{\"format\":\"ipv6\"}", "\"::ffff:1.2.3.4\"", true, NULL},
    {"{\"format\":\"ipv6\"}", "\"1::2::3\"", false, "/: format ipv6"},
    {"{\"format\":\"uri\"}", "\"relative/path\"", false, "/: format uri"},
    {"{\"format\":\"uri-reference\"}", "\"relative/path#x\"", true, NULL},
    {"{\"format\":\"uuid\"}", "\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\"", true, NULL},
    {"{\"format\":\"uuid\"}", "\"2eb8aa08-aa98-11ea-b4aa-73b441d1638\"", false, "/: format uuid"},
    {"{\"format\":\"regex\"}", "\"^(abc]\"", false, "/: format regex"},
    {"{\"format\":\"json-pointer\"}", "\"/a/~2\"", false, "/: format json-pointer"},
    {"{\"format\":\"unknown-format\"}", "\"anything\"", true, NULL},
    {"{\"format\":\"email\"}", "12", true, NULL}, /* formats apply to strings only */
};

Test(jsonschema, validation_keywords)
{
    for (size_t i = 0; i < sizeof vcases / sizeof *vcases; i++) {
        const struct vcase *vc = &vcases[i];
        void *s = parse_ok(vc->schema);
        char err[EVL_SR_ERRLEN] = "";
        int rc = evl__js_validate(s, vc->doc, strlen(vc->doc), err, sizeof err);
        if (vc->valid) {
            cr_expect_eq(rc, 0, "%s with %s: %d %s", vc->schema, vc->doc, rc, err);
        } else {
            cr_expect_eq(rc, EVL_ESCHEMA_INVALID, "%s with %s: %d", vc->schema, vc->doc, rc);
            cr_expect_str_eq(err, vc->msg, "%s with %s", vc->schema, vc->doc);
        }
        F->free(s);
    }
}

Test(jsonschema, validate_not_json)
{
    void *s = parse_ok("{}");
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(evl__js_validate(s, "{\"a\":", 5, err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert(strstr(err, "not JSON"), "%s", err);
    F->free(s);
}

Test(jsonschema, deep_document)
{
    /* a document nested deeper than the cap is refused, not a crash */
    void *s = parse_ok("{\"items\":{\"$ref\":\"#\"}}");
    char *doc = malloc(2001);
    for (int i = 0; i < 1000; i++) {
        doc[i] = '[';
        doc[1999 - i] = ']';
    }
    doc[2000] = 0;
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(evl__js_validate(s, doc, 2000, err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert(strstr(err, "nested deeper"), "%s", err);
    free(doc);
    F->free(s);
}

Test(jsonschema, pathological_pattern)
{
    /* ERE is automaton-based: no exponential backtracking */
    void *s = parse_ok("{\"pattern\":\"^(a+)+$\"}");
    char doc[80];
    memset(doc, 'a', sizeof doc);
    doc[0] = '"';
    doc[77] = 'b';
    doc[78] = '"';
    doc[79] = 0;
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(evl__js_validate(s, doc, strlen(doc), err, sizeof err), EVL_ESCHEMA_INVALID);
    F->free(s);
}

/* ---- codec ---- */

Test(jsonschema, encode_decode)
{
    void *s = parse_ok("{\"type\":\"object\",\"required\":[\"id\"],"
                       "\"properties\":{\"id\":{\"type\":\"integer\"}}}");
    void *r = parse_ok("{\"type\":\"object\",\"required\":[\"name\"]}");
    evl_sr_buf_t out = {0};
    char err[EVL_SR_ERRLEN];
    const char *doc = "{\"id\": 7}";
    cr_assert_eq(F->encode(s, NULL, 0, doc, strlen(doc), &out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(out.n, strlen(doc));
    cr_assert(memcmp(out.p, doc, out.n) == 0);
    cr_assert_eq(F->encode(s, NULL, 0, "{\"id\":\"x\"}", 10, &out, err, sizeof err),
                 EVL_ESCHEMA_INVALID);
    cr_assert_str_eq(err, "/id: type");
    cr_assert_eq(out.n, strlen(doc), "nothing appended on failure");

    evl_sr_buf_t dec = {0};
    cr_assert_eq(F->decode(s, NULL, NULL, 0, out.p, out.n, &dec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dec.n, out.n);
    cr_assert_eq(F->decode(s, NULL, NULL, 0, (const uint8_t *)"{\"id\"", 5, &dec, err, sizeof err),
                 EVL_ESCHEMA_MISMATCH);
    cr_assert_eq(F->decode(s, r, NULL, 0, out.p, out.n, &dec, err, sizeof err),
                 EVL_ESCHEMA_MISMATCH);
    cr_assert(strstr(err, "/name: required"), "%s", err);
    cr_assert_eq(F->decode(s, s, NULL, 0, out.p, out.n, &dec, err, sizeof err), 0, "%s", err);
    cr_assert_eq(dec.n, 2 * out.n);
    evl__sr_buf_free(&out);
    evl__sr_buf_free(&dec);
    F->free(s);
    F->free(r);
}

/* ---- compatibility (Confluent's json/diff rules) ---- */

static const struct ccase {
    const char *old, *new;
    bool compatible;
    const char *reason; /* when incompatible: this text is among the reasons */
} ccases[] = {
    /* types */
    {"{\"type\":\"string\"}", "{\"type\":\"string\"}", true, NULL},
    {"{\"type\":\"string\"}", "{\"type\":[\"string\",\"null\"]}", true, NULL},
    {"{\"type\":[\"string\",\"null\"]}", "{\"type\":\"string\"}", false, "TYPE_CHANGED at #/"},
    {"{\"type\":\"integer\"}", "{\"type\":\"number\"}", true, NULL},
    {"{\"type\":\"number\"}", "{\"type\":\"integer\"}", false, "TYPE_NARROWED at #/"},
    {"{\"type\":\"string\"}", "{\"type\":\"integer\"}", false, "TYPE_CHANGED at #/"},
    {"{\"type\":\"string\"}", "true", true, NULL},
    {"{\"type\":\"string\"}", "{}", true, NULL},
    {"{}", "{\"type\":\"string\"}", false, "TYPE_CHANGED at #/"},
    {"false", "{\"type\":\"string\"}", true, NULL},
    /* strings */
    {"{\"type\":\"string\",\"maxLength\":10}", "{\"type\":\"string\",\"maxLength\":20}", true,
     NULL},
    {"{\"type\":\"string\",\"maxLength\":10}", "{\"type\":\"string\"}", true, NULL},
    {"{\"type\":\"string\",\"maxLength\":20}", "{\"type\":\"string\",\"maxLength\":10}", false,
     "MAX_LENGTH_DECREASED at #/maxLength"},
    {"{\"type\":\"string\"}", "{\"type\":\"string\",\"maxLength\":10}", false,
     "MAX_LENGTH_ADDED at #/maxLength"},
    {"{\"type\":\"string\",\"minLength\":5}", "{\"type\":\"string\",\"minLength\":2}", true, NULL},
    {"{\"type\":\"string\",\"minLength\":2}", "{\"type\":\"string\",\"minLength\":5}", false,
     "MIN_LENGTH_INCREASED at #/minLength"},
    {"{\"type\":\"string\",\"pattern\":\"^a\"}", "{\"type\":\"string\"}", true, NULL},
    {"{\"type\":\"string\"}", "{\"type\":\"string\",\"pattern\":\"^a\"}", false,
     "PATTERN_ADDED at #/pattern"},
    {"{\"type\":\"string\",\"pattern\":\"^a\"}", "{\"type\":\"string\",\"pattern\":\"^b\"}", false,
     "PATTERN_CHANGED at #/pattern"},
    /* numbers */
    {"{\"type\":\"number\",\"maximum\":10}", "{\"type\":\"number\",\"maximum\":11}", true, NULL},
    {"{\"type\":\"number\",\"maximum\":10}", "{\"type\":\"number\",\"maximum\":9}", false,
     "MAXIMUM_DECREASED at #/maximum"},
    {"{\"type\":\"number\",\"minimum\":10}", "{\"type\":\"number\"}", true, NULL},
    {"{\"type\":\"number\",\"minimum\":10}", "{\"type\":\"number\",\"minimum\":11}", false,
     "MINIMUM_INCREASED at #/minimum"},
    {"{\"type\":\"number\",\"exclusiveMinimum\":1}", "{\"type\":\"number\",\"exclusiveMinimum\":0}",
     true, NULL},
    {"{\"type\":\"integer\",\"multipleOf\":4}", "{\"type\":\"integer\",\"multipleOf\":2}", true,
     NULL},
    {"{\"type\":\"integer\",\"multipleOf\":2}", "{\"type\":\"integer\",\"multipleOf\":4}", false,
     "MULTIPLE_OF_EXPANDED at #/multipleOf"},
    {"{\"type\":\"integer\",\"multipleOf\":3}", "{\"type\":\"integer\",\"multipleOf\":2}", false,
     "MULTIPLE_OF_CHANGED at #/multipleOf"},
    {"{\"type\":\"number\",\"multipleOf\":0.5}", "{\"type\":\"number\"}", true, NULL},
    /* enums and const */
    {"{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"a\",\"b\",\"c\"]}", true, NULL},
    {"{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"a\"]}", false, "ENUM_ARRAY_NARROWED at #/enum"},
    {"{\"enum\":[\"a\",\"b\"]}", "{\"enum\":[\"a\",\"c\"]}", false, "ENUM_ARRAY_CHANGED at #/enum"},
    {"{\"const\":1}", "{\"const\":2}", false, "ENUM_ARRAY_CHANGED at #/const"},
    /* combinators */
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
     "{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"},{\"type\":\"null\"}]}", true, NULL},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
     "{\"anyOf\":[{\"type\":\"string\"}]}", false, "SUM_TYPE_NARROWED at #/"},
    {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"},{\"type\":\"boolean\"}]}", true,
     NULL},
    {"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}",
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"boolean\"}]}", false,
     "COMBINED_TYPE_SUBSCHEMAS_CHANGED at #/"},
    {"{\"allOf\":[{\"type\":\"string\"},{\"maxLength\":5}]}", "{\"allOf\":[{\"type\":\"string\"}]}",
     true, NULL},
    {"{\"allOf\":[{\"type\":\"string\"}]}", "{\"allOf\":[{\"type\":\"string\"},{\"maxLength\":5}]}",
     false, "PRODUCT_TYPE_EXTENDED at #/"},
    {"{\"type\":\"string\"}", "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", true,
     NULL},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}",
     "{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", false,
     "COMBINED_TYPE_CHANGED at #/"},
    {"{\"not\":{\"type\":[\"string\",\"null\"]}}", "{\"not\":{\"type\":\"string\"}}", true, NULL},
    {"{\"not\":{\"type\":\"string\"}}", "{\"not\":{\"type\":[\"string\",\"null\"]}}", false,
     "NOT_TYPE_EXTENDED at #/not"},
    /* objects: required */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}", true, NULL},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},\"required\":[\"a\"]}",
     false, "REQUIRED_ATTRIBUTE_ADDED at #/required/a"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"default\":\"x\"}},"
     "\"required\":[\"a\"]}",
     true, NULL},
    /* content models */
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"
     "\"integer\"}},\"additionalProperties\":false}",
     true, NULL},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"
     "\"integer\"}},\"required\":[\"b\"],\"additionalProperties\":false}",
     false, "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL at #/properties/b"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"
     "\"integer\",\"default\":0}},\"required\":[\"b\"],\"additionalProperties\":false}",
     true, NULL},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"x\":{\"type\":"
     "\"integer\"}}}",
     false, "OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL at #/properties/x"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"x\":{}}}", true, NULL},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{}}}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}", true, NULL},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":"
     "\"string\"}},\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     false, "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/properties/b"},
    {"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":false},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     true, NULL},
    {"{\"type\":\"object\",\"additionalProperties\":false}", "{\"type\":\"object\"}", true, NULL},
    {"{\"type\":\"object\"}", "{\"type\":\"object\",\"additionalProperties\":false}", false,
     "ADDITIONAL_PROPERTIES_REMOVED at #/additionalProperties"},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}",
     "{\"type\":\"object\",\"additionalProperties\":{\"type\":[\"string\",\"null\"]}}", true,
     NULL},
    {"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}",
     "{\"type\":\"object\"}", true, NULL},
    {"{\"type\":\"object\",\"patternProperties\":{\"^s_\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"s_x\":{\"type\":\"string\"}},"
     "\"patternProperties\":{\"^s_\":{\"type\":\"string\"}},\"additionalProperties\":false}",
     true, NULL},
    {"{\"type\":\"object\",\"patternProperties\":{\"^s_\":{\"type\":\"string\"}},"
     "\"additionalProperties\":false}",
     "{\"type\":\"object\",\"properties\":{\"s_x\":{\"type\":\"integer\"}},"
     "\"patternProperties\":{\"^s_\":{\"type\":\"string\"}},\"additionalProperties\":false}",
     false, "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL at #/properties/s_x"},
    /* nested */
    {"{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"number\"}}}",
     "{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\"}}}", false,
     "TYPE_NARROWED at #/properties/age"},
    {"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":9}}}",
     "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8}}}", false,
     "MAX_LENGTH_DECREASED at #/properties/name/maxLength"},
    {"{\"type\":\"object\",\"maxProperties\":3,\"minProperties\":1}",
     "{\"type\":\"object\",\"maxProperties\":4}", true, NULL},
    {"{\"type\":\"object\",\"maxProperties\":3}", "{\"type\":\"object\",\"maxProperties\":2}",
     false, "MAX_PROPERTIES_DECREASED at #/maxProperties"},
    {"{\"type\":\"object\",\"dependencies\":{\"a\":[\"b\",\"c\"]}}",
     "{\"type\":\"object\",\"dependencies\":{\"a\":[\"b\"]}}", true, NULL},
    {"{\"type\":\"object\",\"dependencies\":{\"a\":[\"b\"]}}",
     "{\"type\":\"object\",\"dependencies\":{\"a\":[\"b\",\"c\"]}}", false,
     "DEPENDENCY_ARRAY_EXTENDED at #/dependencies/a"},
    /* arrays */
    {"{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}",
     "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}", true, NULL},
    {"{\"type\":\"array\",\"items\":{\"type\":\"string\"}}",
     "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}", false, "TYPE_CHANGED at #/items"},
    {"{\"type\":\"array\"}", "{\"type\":\"array\",\"items\":{\"type\":\"number\"}}", false,
     "SCHEMA_ADDED at #/items"},
    {"{\"type\":\"array\",\"maxItems\":3}", "{\"type\":\"array\",\"maxItems\":2}", false,
     "MAX_ITEMS_DECREASED at #/maxItems"},
    {"{\"type\":\"array\",\"minItems\":3}", "{\"type\":\"array\",\"minItems\":2}", true, NULL},
    {"{\"type\":\"array\"}", "{\"type\":\"array\",\"uniqueItems\":true}", false,
     "UNIQUE_ITEMS_ADDED at #/uniqueItems"},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}",
     "{\"type\":\"array\",\"items\":[{\"type\":\"string\"},{\"type\":\"integer\"}],"
     "\"additionalItems\":false}",
     true, NULL},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"string\"}]}",
     "{\"type\":\"array\",\"items\":[{\"type\":\"string\"},{\"type\":\"integer\"}]}", false,
     "ITEM_ADDED_TO_OPEN_CONTENT_MODEL at #/items/1"},
    {"{\"type\":\"array\",\"items\":[{\"type\":\"string\"},{\"type\":\"integer\"}],"
     "\"additionalItems\":false}",
     "{\"type\":\"array\",\"items\":[{\"type\":\"string\"}],\"additionalItems\":false}", false,
     "ITEM_REMOVED_FROM_CLOSED_CONTENT_MODEL at #/items/1"},
    /* $ref on both sides */
    {"{\"definitions\":{\"a\":{\"type\":\"string\"}},\"type\":\"object\","
     "\"properties\":{\"x\":{\"$ref\":\"#/definitions/a\"}}}",
     "{\"definitions\":{\"b\":{\"type\":[\"string\",\"null\"]}},\"type\":\"object\","
     "\"properties\":{\"x\":{\"$ref\":\"#/definitions/b\"}}}",
     true, NULL},
    {"{\"definitions\":{\"a\":{\"type\":\"string\"}},\"type\":\"object\","
     "\"properties\":{\"x\":{\"$ref\":\"#/definitions/a\"}}}",
     "{\"definitions\":{\"a\":{\"type\":\"integer\"}},\"type\":\"object\","
     "\"properties\":{\"x\":{\"$ref\":\"#/definitions/a\"}}}",
     false, "TYPE_CHANGED at #/properties/x"},
    /* recursion terminates */
    {"{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"},\"v\":{\"type\":"
     "\"integer\"}}}",
     "{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"},\"v\":{\"type\":"
     "\"number\"}}}",
     true, NULL},
    {"{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"},\"v\":{\"type\":"
     "\"number\"}}}",
     "{\"type\":\"object\",\"properties\":{\"next\":{\"$ref\":\"#\"},\"v\":{\"type\":"
     "\"integer\"}}}",
     false, "TYPE_NARROWED at #/properties/v"},
};

Test(jsonschema, compatibility_table)
{
    for (size_t i = 0; i < sizeof ccases / sizeof *ccases; i++) {
        const struct ccase *cc = &ccases[i];
        void *old = parse_ok(cc->old), *new = parse_ok(cc->new);
        evl_sr_msgs_t why = {0};
        int rc = F->can_read(new, old, &why); /* BACKWARD: reader = new, writer = old */
        cr_expect_eq(rc, cc->compatible ? 1 : 0, "case %zu: %s -> %s: %d (%s)", i, cc->old,
                     cc->new, rc, why.n ? why.v[0] : "no reason");
        if (cc->compatible) {
            cr_expect_eq(why.n, 0, "case %zu: reasons for a compatible change: %s", i,
                         why.n ? why.v[0] : "");
        } else {
            cr_expect(why.n > 0, "case %zu: no reason", i);
            bool found = false;
            for (size_t j = 0; j < why.n; j++)
                found |= strcmp(why.v[j], cc->reason) == 0;
            cr_expect(found, "case %zu: '%s' not among the %zu reasons (first: %s)", i,
                      cc->reason, why.n, why.n ? why.v[0] : "");
        }
        evl__sr_msgs_free(&why);
        /* a schema is compatible with itself */
        cr_expect_eq(F->can_read(old, old, &why), 1, "case %zu: old with itself", i);
        cr_expect_eq(F->can_read(new, new, &why), 1, "case %zu: new with itself", i);
        evl__sr_msgs_free(&why);
        F->free(old);
        F->free(new);
    }
}

Test(jsonschema, compatibility_with_references)
{
    evl_sr_ref_text_t v1[] = {{"address.json", "{\"type\":\"object\",\"properties\":"
                                               "{\"zip\":{\"type\":\"string\"}}}",
                               EVL_SCHEMA_JSON}};
    evl_sr_ref_text_t v2[] = {{"address.json", "{\"type\":\"object\",\"properties\":"
                                               "{\"zip\":{\"type\":\"integer\"}}}",
                               EVL_SCHEMA_JSON}};
    const char *text = "{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"address.json\"}}}";
    void *a = NULL, *b = NULL;
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(F->parse(text, strlen(text), v1, 1, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(F->parse(text, strlen(text), v2, 1, &b, err, sizeof err), 0, "%s", err);
    evl_sr_msgs_t why = {0};
    cr_assert_eq(F->can_read(b, a, &why), 0);
    cr_assert_eq(why.n, 1);
    cr_assert_str_eq(why.v[0], "TYPE_CHANGED at #/properties/a/properties/zip");
    evl__sr_msgs_free(&why);
    F->free(a);
    F->free(b);
}

Test(jsonschema, exponential_combinators_are_bounded)
{
    /* oneOf evaluates both branches at every level: 2^40 without a bound */
    void *s = parse_ok("{\"items\":{\"oneOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}}");
    char doc[81];
    for (int i = 0; i < 40; i++) {
        doc[i] = '[';
        doc[79 - i] = ']';
    }
    doc[80] = 0;
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(evl__js_validate(s, doc, 80, err, sizeof err), EVL_ESCHEMA_INVALID);
    cr_assert(strstr(err, "too long"), "%s", err);
    F->free(s);
}

Test(jsonschema, unique_items_large)
{
    void *s = parse_ok("{\"uniqueItems\":true}");
    evl_sr_buf_t b = {0};
    evl__sr_buf_byte(&b, '[');
    for (int i = 0; i < 20000; i++)
        evl__sr_buf_printf(&b, "%s%d", i ? "," : "", i);
    evl__sr_buf_printf(&b, ",[1],{\"a\":[1]},19999.0]");
    char err[EVL_SR_ERRLEN];
    cr_assert_eq(evl__js_validate(s, (const char *)b.p, b.n, err, sizeof err),
                 EVL_ESCHEMA_INVALID);
    cr_assert_str_eq(err, "/20002: uniqueItems (same as item 19999)");
    b.n -= 9; /* without the last item: all distinct */
    evl__sr_buf_byte(&b, ']');
    cr_assert_eq(evl__js_validate(s, (const char *)b.p, b.n, err, sizeof err), 0, "%s", err);
    evl__sr_buf_free(&b);
    F->free(s);
}
