/*
 * test_rest.c - the registry's REST server as Confluent's clients see it:
 * curl (an independent HTTP client) against evl_registry_serve on
 * 127.0.0.1 at a port the server chose, on a registry over a fresh log.
 * Every route of Confluent Schema Registry's API with its JSON shapes and
 * error codes; basic auth; HTTPS with a certificate made by openssl; body
 * limits; hostile requests; many clients at once. A few cases call the
 * routing (evl__sr_rest_handle) directly, with bytes no HTTP client sends.
 */
#include "helpers.h"

#include <eventlog/registry.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "rest_int.h"

static evl_log_t *log_;
static evl_registry_t *reg;
static evl_registry_server_t *srv;
static int port;
static char scheme[8] = "http";
static char curl_opts[1024] = "";

static const char *V1 =
    "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"t\",\"fields\":"
    "[{\"name\":\"name\",\"type\":\"string\"}]}";
static const char *V2 = /* adds a field with a default: BACKWARD compatible */
    "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"t\",\"fields\":"
    "[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"age\",\"type\":\"int\",\"default\":0}]}";
static const char *BAD = /* adds a field without one: not BACKWARD compatible */
    "{\"type\":\"record\",\"name\":\"User\",\"namespace\":\"t\",\"fields\":"
    "[{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"email\",\"type\":\"string\"}]}";
static const char *OTHER = "{\"type\":\"record\",\"name\":\"Other\",\"fields\":"
                           "[{\"name\":\"x\",\"type\":\"long\"}]}";

static void serve(const evl_registry_server_opts_t *opts)
{
    evl_registry_server_opts_t o = {sizeof o, "127.0.0.1:0", NULL, NULL, NULL, 0};
    int rc = evl_registry_serve(reg, opts ? opts : &o, &srv);
    cr_assert_eq(rc, 0, "serve: %s", evl_registry_strerror(rc));
    port = evl_registry_server_port(srv);
    cr_assert_gt(port, 0);
}

static void setup(void)
{
    test_dir_setup();
    cr_assert_eq(evl_log_open(tpath("log"), NULL, &log_), 0);
    cr_assert_eq(evl_registry_open(log_, &reg), 0);
}

static void setup_serve(void)
{
    setup();
    serve(NULL);
}

static void teardown(void)
{
    evl_registry_server_stop(srv);
    evl_registry_close(reg);
    evl_log_close(log_);
    test_dir_teardown();
}

TestSuite(rest, .init = setup_serve, .fini = teardown);
TestSuite(rest_server, .init = setup, .fini = teardown);

static char resp[1 << 20];

/* curl METHOD path [body]: the HTTP status; *out the body parsed (NULL
 * when not JSON), resp its text. */
static int call(const char *method, const char *path, const char *body, json_t **out)
{
    char bodyfile[512] = "";
    if (body) {
        snprintf(bodyfile, sizeof bodyfile, "%s", tpath("body.json"));
        FILE *f = fopen(bodyfile, "w");
        cr_assert_not_null(f);
        fputs(body, f);
        fclose(f);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "curl -s -g -X %s -H 'Content-Type: application/vnd.schemaregistry.v1+json' %s "
             "%s%s%s -w '\\n%%{http_code}' '%s://127.0.0.1:%d%s'",
             method, curl_opts, body ? "--data-binary @'" : "", body ? bodyfile : "",
             body ? "'" : "", scheme, port, path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(resp, 1, sizeof resp - 1, p);
    resp[n] = 0;
    cr_assert_eq(pclose(p), 0, "curl failed: %s", cmd);
    char *nl = strrchr(resp, '\n');
    cr_assert_not_null(nl);
    int code = atoi(nl + 1);
    *nl = 0;
    if (out)
        *out = resp[0] ? json_loads(resp, JSON_DECODE_ANY, NULL) : NULL;
    return code;
}

/* {"schema": schema} (plus "schemaType" when type is not NULL). */
static char *sbody(const char *schema, const char *type)
{
    json_t *j = json_pack("{s:s}", "schema", schema);
    if (type)
        json_object_set_new(j, "schemaType", json_string(type));
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* POST /subjects/S/versions: the status, *id (may be NULL) the id. */
static int reg_schema(const char *subject_path, const char *schema, int *id)
{
    char path[512];
    snprintf(path, sizeof path, "/subjects/%s/versions", subject_path);
    char *b = sbody(schema, NULL);
    json_t *j;
    int code = call("POST", path, b, &j);
    free(b);
    if (id)
        *id = code == 200 ? (int)json_integer_value(json_object_get(j, "id")) : -1;
    json_decref(j);
    return code;
}

/* The error code of an error body (0 when there is none). */
static int ecode(json_t *j)
{
    int c = (int)json_integer_value(json_object_get(j, "error_code"));
    json_decref(j);
    return c;
}

static const char *jmsg(json_t *j)
{
    static char m[2048];
    const char *s = json_string_value(json_object_get(j, "message"));
    snprintf(m, sizeof m, "%s", s ? s : "");
    return m;
}

/* The JSON text of j, compact and in order (j released). */
static const char *dump(json_t *j)
{
    static char s[65536];
    char *d = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(s, sizeof s, "%s", d ? d : "(null)");
    free(d);
    json_decref(j);
    return s;
}

Test(rest, root_types_and_unknown_paths)
{
    json_t *j;
    cr_assert_eq(call("GET", "/", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{}");
    cr_assert_eq(call("GET", "/schemas/types", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"JSON\",\"PROTOBUF\",\"AVRO\"]");
    cr_assert_eq(call("GET", "/nope", NULL, &j), 404);
    cr_assert_str_eq(dump(j), "{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}");
    cr_assert_eq(call("GET", "/subjects/a/versions/1/nope", NULL, &j), 404);
    cr_assert_eq(ecode(j), 404);
    cr_assert_eq(call("GET", "/schemas/ids/abc", NULL, &j), 404);
    cr_assert_eq(ecode(j), 404);
    cr_assert_eq(call("DELETE", "/schemas/types", NULL, &j), 405);
    cr_assert_str_eq(dump(j), "{\"error_code\":405,\"message\":\"HTTP 405 Method Not Allowed\"}");
    cr_assert_eq(call("PUT", "/subjects", "{}", &j), 405);
    cr_assert_eq(ecode(j), 405);
    cr_assert_eq(call("GET", "/compatibility/subjects/a/versions", NULL, &j), 405);
    cr_assert_eq(ecode(j), 405);
    cr_assert_eq(call("DELETE", "/mode", NULL, &j), 405);
    cr_assert_eq(ecode(j), 405);
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[]");
}

Test(rest, register_same_id_and_reads)
{
    int id, id2, id3;
    cr_assert_eq(reg_schema("orders-value", V1, &id), 200);
    cr_assert_gt(id, 0);
    cr_assert_eq(reg_schema("orders-value", V1, &id2), 200, "again: %s", resp);
    cr_assert_eq(id2, id);
    cr_assert_eq(reg_schema("other-value", V1, &id3), 200); /* shared across subjects */
    cr_assert_eq(id3, id);

    json_t *j;
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"orders-value\",\"other-value\"]");
    cr_assert_eq(call("GET", "/subjects?subjectPrefix=ord", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"orders-value\"]");
    cr_assert_eq(call("GET", "/subjects/orders-value/versions", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[1]");

    cr_assert_eq(call("GET", "/subjects/orders-value/versions/1", NULL, &j), 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "subject")), "orders-value");
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "id")), id);
    cr_assert_null(json_object_get(j, "schemaType"), "Avro has none, as Confluent");
    cr_assert_null(json_object_get(j, "references"));
    const char *text = json_string_value(json_object_get(j, "schema"));
    cr_assert_not_null(text);
    json_t *parsed = json_loads(text, 0, NULL), *orig = json_loads(V1, 0, NULL);
    cr_assert(json_equal(parsed, orig), "schema %s", text);
    json_decref(parsed);
    json_decref(orig);
    json_decref(j);

    cr_assert_eq(call("GET", "/subjects/orders-value/versions/latest", NULL, &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);
    cr_assert_eq(call("GET", "/subjects/orders-value/versions/-1", NULL, &j), 200);
    json_decref(j);

    cr_assert_eq(call("GET", "/subjects/orders-value/versions/1/schema", NULL, &j), 200);
    orig = json_loads(V1, 0, NULL);
    cr_assert(json_equal(j, orig), "raw schema %s", resp);
    json_decref(orig);
    json_decref(j);

    char path[64];
    snprintf(path, sizeof path, "/schemas/ids/%d", id);
    cr_assert_eq(call("GET", path, NULL, &j), 200);
    cr_assert_not_null(json_string_value(json_object_get(j, "schema")));
    cr_assert_null(json_object_get(j, "schemaType"));
    cr_assert_null(json_object_get(j, "subject"));
    json_decref(j);
    snprintf(path, sizeof path, "/schemas/ids/%d?subject=orders-value&fetchMaxId=false", id);
    cr_assert_eq(call("GET", path, NULL, &j), 200);
    json_decref(j);
    snprintf(path, sizeof path, "/schemas/ids/%d/schema", id);
    cr_assert_eq(call("GET", path, NULL, &j), 200);
    cr_assert(json_is_object(j));
    json_decref(j);
    snprintf(path, sizeof path, "/schemas/ids/%d/versions", id);
    cr_assert_eq(call("GET", path, NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[{\"subject\":\"orders-value\",\"version\":1},"
                              "{\"subject\":\"other-value\",\"version\":1}]");
    snprintf(path, sizeof path, "/schemas/ids/%d/subjects", id);
    cr_assert_eq(call("GET", path, NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"orders-value\",\"other-value\"]");

    /* lookup */
    char *b = sbody(V1, NULL);
    cr_assert_eq(call("POST", "/subjects/orders-value", b, &j), 200, "%s", resp);
    cr_assert_eq(json_integer_value(json_object_get(j, "id")), id);
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(j, "subject")), "orders-value");
    cr_assert_not_null(json_object_get(j, "schema"));
    json_decref(j);
    cr_assert_eq(call("POST", "/subjects/nobody", b, &j), 404);
    cr_assert_str_eq(jmsg(j), "Subject 'nobody' not found.");
    cr_assert_eq(ecode(j), 40401);
    free(b);
    b = sbody(OTHER, NULL);
    cr_assert_eq(call("POST", "/subjects/orders-value", b, &j), 404);
    cr_assert_eq(ecode(j), 40403);
    free(b);
}

Test(rest, evolution_and_incompatible)
{
    int id1, id2, idbad;
    cr_assert_eq(reg_schema("u", V1, &id1), 200);
    cr_assert_eq(reg_schema("u", V2, &id2), 200, "%s", resp);
    cr_assert_neq(id2, id1);
    json_t *j;
    cr_assert_eq(call("GET", "/subjects/u/versions", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[1,2]");
    cr_assert_eq(call("GET", "/subjects/u/versions/latest", NULL, &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 2);
    cr_assert_eq(json_integer_value(json_object_get(j, "id")), id2);
    json_decref(j);

    char *b = sbody(BAD, NULL);
    cr_assert_eq(call("POST", "/subjects/u/versions", b, &j), 409);
    free(b);
    const char *m = jmsg(j);
    cr_assert(strstr(m, "incompatible") && strstr(m, "\"u\""), "%s", m);
    cr_assert(strstr(m, "email"), "the reason names the field: %s", m);
    cr_assert_eq(ecode(j), 409);
    (void)idbad;
    cr_assert_eq(call("GET", "/subjects/u/versions", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[1,2]", "nothing written");
}

Test(rest, bad_bodies)
{
    json_t *j;
    char *b = sbody("{\"type\":\"record\",\"name\":\"X\"", NULL); /* not even JSON */
    cr_assert_eq(call("POST", "/subjects/s/versions", b, &j), 422);
    cr_assert_eq(ecode(j), 42201);
    free(b);
    b = sbody("{\"type\":\"nosuchtype\"}", NULL);
    cr_assert_eq(call("POST", "/subjects/s/versions", b, &j), 422);
    cr_assert_eq(ecode(j), 42201);
    free(b);
    b = sbody(V1, "COBOL");
    cr_assert_eq(call("POST", "/subjects/s/versions", b, &j), 422);
    cr_assert_eq(ecode(j), 42201);
    free(b);
    cr_assert_eq(call("POST", "/subjects/s/versions", "{\"schema\":", &j), 422);
    cr_assert_eq(ecode(j), 422);
    cr_assert_eq(call("POST", "/subjects/s/versions", "{\"schemaType\":\"AVRO\"}", &j), 422);
    cr_assert_eq(ecode(j), 422);
    cr_assert_eq(call("POST", "/subjects/s/versions", "{\"schema\":42}", &j), 422);
    cr_assert_eq(ecode(j), 422);
    cr_assert_eq(call("POST", "/subjects/s/versions", "[\"schema\"]", &j), 422);
    cr_assert_eq(ecode(j), 422);
    cr_assert_eq(call("POST", "/subjects/s/versions", "", &j), 422);
    cr_assert_eq(ecode(j), 422);
    cr_assert_eq(call("POST", "/subjects/s/versions", "{\"schema\":\"\xff\xfe\"}", &j), 422);
    cr_assert_eq(ecode(j), 422);
    cr_assert_eq(call("POST", "/subjects/s/versions",
                      "{\"schema\":\"\\\"string\\\"\",\"references\":[{\"name\":1}]}", &j),
                 422);
    cr_assert_eq(ecode(j), 422);
    char longname[300];
    memset(longname, 'n', 256);
    longname[256] = 0;
    cr_assert_eq(reg_schema(longname, V1, NULL), 422);
    cr_assert_eq(ecode(json_loads(resp, 0, NULL)), 42208);
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[]", "nothing registered");
}

Test(rest, not_found_and_invalid_versions)
{
    cr_assert_eq(reg_schema("s", V1, NULL), 200);
    json_t *j;
    cr_assert_eq(call("GET", "/subjects/nope/versions", NULL, &j), 404);
    cr_assert_str_eq(jmsg(j), "Subject 'nope' not found.");
    cr_assert_eq(ecode(j), 40401);
    cr_assert_eq(call("GET", "/subjects/nope/versions/1", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40401);
    cr_assert_eq(call("GET", "/subjects/s/versions/7", NULL, &j), 404);
    cr_assert_str_eq(jmsg(j), "Version 7 not found.");
    cr_assert_eq(ecode(j), 40402);
    cr_assert_eq(call("GET", "/schemas/ids/999", NULL, &j), 404);
    cr_assert_str_eq(jmsg(j), "Schema 999 not found");
    cr_assert_eq(ecode(j), 40403);
    cr_assert_eq(call("GET", "/schemas/ids/-3", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40403);
    cr_assert_eq(call("GET", "/schemas/ids/999/versions", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40403);
    cr_assert_eq(call("GET", "/schemas/ids/99999999999999999999", NULL, &j), 404);
    cr_assert_eq(ecode(j), 404);
    cr_assert_eq(call("GET", "/subjects/s/versions/abc", NULL, &j), 422);
    cr_assert_str_eq(jmsg(j), "The specified version 'abc' is not a valid version id. Allowed "
                              "values are between [1, 2^31-1] and the string \"latest\"");
    cr_assert_eq(ecode(j), 42202);
    const char *bad[] = {"0", "-2", "2147483648", "99999999999999999999", "1.5", "+1", "%20"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/subjects/s/versions/%s", bad[i]);
        cr_assert_eq(call("GET", path, NULL, &j), 422, "%s", path);
        cr_assert_eq(ecode(j), 42202, "%s", path);
        snprintf(path, sizeof path, "/subjects/s/versions/%s", bad[i]);
        cr_assert_eq(call("DELETE", path, NULL, &j), 422, "%s", path);
        cr_assert_eq(ecode(j), 42202, "%s", path);
    }
    cr_assert_eq(call("GET", "/subjects/s/versions/2147483647", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40402);
}

Test(rest, soft_and_permanent_delete)
{
    cr_assert_eq(reg_schema("d", V1, NULL), 200);
    cr_assert_eq(reg_schema("d", V2, NULL), 200);
    json_t *j;
    cr_assert_eq(call("DELETE", "/subjects/d/versions/1?permanent=true", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40407);
    cr_assert_eq(call("DELETE", "/subjects/d/versions/1", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "1");
    cr_assert_eq(call("GET", "/subjects/d/versions/1", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40402);
    cr_assert_eq(call("DELETE", "/subjects/d/versions/1", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40406);
    cr_assert_eq(call("GET", "/subjects/d/versions/1?deleted=true", NULL, &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "version")), 1);
    json_decref(j);
    cr_assert_eq(call("GET", "/subjects/d/versions", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[2]");
    cr_assert_eq(call("GET", "/subjects/d/versions?deleted=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[1,2]");
    cr_assert_eq(call("DELETE", "/subjects/d/versions/1?permanent=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "1");
    cr_assert_eq(call("GET", "/subjects/d/versions?deleted=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[2]");

    /* the subject */
    cr_assert_eq(call("DELETE", "/subjects/d?permanent=true", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40405);
    cr_assert_eq(call("DELETE", "/subjects/d", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[2]");
    cr_assert_eq(call("GET", "/subjects/d/versions", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40401);
    cr_assert_eq(call("GET", "/subjects/d/versions/latest", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40401);
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[]");
    cr_assert_eq(call("GET", "/subjects?deleted=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"d\"]");
    cr_assert_eq(call("DELETE", "/subjects/d", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40404);
    cr_assert_eq(call("DELETE", "/subjects/d?permanent=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[2]");
    cr_assert_eq(call("GET", "/subjects?deleted=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[]");
    cr_assert_eq(call("DELETE", "/subjects/d", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40401);
    cr_assert_eq(call("DELETE", "/subjects/nobody/versions/1", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40401);
}

Test(rest, config_global_and_subject)
{
    json_t *j;
    cr_assert_eq(call("GET", "/config", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibilityLevel\":\"BACKWARD\"}");
    cr_assert_eq(call("PUT", "/config", "{\"compatibility\":\"FULL\"}", &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibility\":\"FULL\"}");
    cr_assert_eq(call("GET", "/config", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibilityLevel\":\"FULL\"}");
    cr_assert_eq(call("PUT", "/config", "{\"compatibility\":\"SIDEWAYS\"}", &j), 422);
    cr_assert_eq(ecode(j), 42203);
    cr_assert_eq(call("PUT", "/config", "{}", &j), 422);
    cr_assert_eq(ecode(j), 42203);

    cr_assert_eq(call("GET", "/config/s", NULL, &j), 404);
    cr_assert_str_eq(jmsg(j), "Subject 's' does not have subject-level compatibility configured");
    cr_assert_eq(ecode(j), 40408);
    cr_assert_eq(call("GET", "/config/s?defaultToGlobal=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibilityLevel\":\"FULL\"}");
    cr_assert_eq(call("PUT", "/config/s", "{\"compatibility\":\"none\"}", &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibility\":\"NONE\"}");
    cr_assert_eq(call("GET", "/config/s", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibilityLevel\":\"NONE\"}");

    /* NONE on s lets the incompatible schema in */
    cr_assert_eq(reg_schema("s", V1, NULL), 200);
    cr_assert_eq(reg_schema("s", BAD, NULL), 200, "%s", resp);

    cr_assert_eq(call("DELETE", "/config/s", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibilityLevel\":\"NONE\"}");
    cr_assert_eq(call("GET", "/config/s", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40408);
    cr_assert_eq(call("DELETE", "/config", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibilityLevel\":\"FULL\"}");
    cr_assert_eq(call("GET", "/config", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"compatibilityLevel\":\"BACKWARD\"}");
}

Test(rest, modes)
{
    json_t *j;
    cr_assert_eq(call("GET", "/mode", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"mode\":\"READWRITE\"}");
    cr_assert_eq(call("PUT", "/mode", "{\"mode\":\"READONLY\"}", &j), 200);
    cr_assert_str_eq(dump(j), "{\"mode\":\"READONLY\"}");
    cr_assert_eq(call("GET", "/mode", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"mode\":\"READONLY\"}");
    char *b = sbody(V1, NULL);
    cr_assert_eq(call("POST", "/subjects/m/versions", b, &j), 422);
    cr_assert_eq(ecode(j), 42205);
    free(b);
    cr_assert_eq(call("PUT", "/mode", "{\"mode\":\"SIDEWAYS\"}", &j), 422);
    cr_assert_eq(ecode(j), 42204);
    cr_assert_eq(call("PUT", "/mode", "{\"mode\":\"READWRITE\"}", &j), 200);
    json_decref(j);
    cr_assert_eq(reg_schema("m", V1, NULL), 200);

    cr_assert_eq(call("GET", "/mode/m", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40409);
    cr_assert_eq(call("GET", "/mode/m?defaultToGlobal=true", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"mode\":\"READWRITE\"}");
    cr_assert_eq(call("PUT", "/mode/m", "{\"mode\":\"READONLY\"}", &j), 200);
    cr_assert_str_eq(dump(j), "{\"mode\":\"READONLY\"}");
    cr_assert_eq(call("GET", "/mode/m", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "{\"mode\":\"READONLY\"}");
    cr_assert_eq(reg_schema("m", V2, NULL), 422);
    cr_assert_eq(call("DELETE", "/subjects/m", NULL, &j), 422);
    cr_assert_eq(ecode(j), 42205);
    cr_assert_eq(reg_schema("n", V2, NULL), 200, "another subject is writable");

    /* IMPORT keeps the id and version given */
    cr_assert_eq(call("PUT", "/mode/imp", "{\"mode\":\"IMPORT\"}", &j), 200);
    json_decref(j);
    b = sbody(OTHER, NULL);
    char *withid = malloc(strlen(b) + 64);
    snprintf(withid, strlen(b) + 64, "{\"id\":100,\"version\":5,%s", b + 1);
    cr_assert_eq(call("POST", "/subjects/imp/versions", withid, &j), 200, "%s", resp);
    cr_assert_str_eq(dump(j), "{\"id\":100}");
    cr_assert_eq(call("POST", "/subjects/imp/versions", "{\"schema\":\"\\\"int\\\"\"}", &j),
                 422, "IMPORT needs the id: %s", resp);
    cr_assert_eq(ecode(j), 42205);
    cr_assert_eq(call("GET", "/subjects/imp/versions/5", NULL, &j), 200);
    cr_assert_eq(json_integer_value(json_object_get(j, "id")), 100);
    json_decref(j);
    free(withid);
    free(b);
}

Test(rest, compatibility_endpoint)
{
    cr_assert_eq(reg_schema("c", V1, NULL), 200);
    json_t *j;
    char *good = sbody(V2, NULL), *bad = sbody(BAD, NULL);
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions/latest", good, &j), 200);
    cr_assert_str_eq(dump(j), "{\"is_compatible\":true}");
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions/1?verbose=true", good, &j), 200);
    cr_assert_str_eq(dump(j), "{\"is_compatible\":true,\"messages\":[]}");
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions/latest", bad, &j), 200);
    cr_assert_str_eq(dump(j), "{\"is_compatible\":false}");
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions/1?verbose=true", bad, &j), 200);
    cr_assert_eq(json_is_false(json_object_get(j, "is_compatible")), 1);
    json_t *msgs = json_object_get(j, "messages");
    cr_assert(json_is_array(msgs) && json_array_size(msgs) > 0, "%s", resp);
    cr_assert(strstr(resp, "email"), "%s", resp);
    json_decref(j);
    /* all versions the level checks */
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions?verbose=true", bad, &j), 200);
    cr_assert_eq(json_is_false(json_object_get(j, "is_compatible")), 1);
    json_decref(j);
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions/9", good, &j), 404);
    cr_assert_eq(ecode(j), 40402);
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions/abc", good, &j), 422);
    cr_assert_eq(ecode(j), 42202);
    cr_assert_eq(call("POST", "/compatibility/subjects/new/versions/latest", bad, &j), 200);
    cr_assert_str_eq(dump(j), "{\"is_compatible\":true}");
    cr_assert_eq(call("POST", "/compatibility/subjects/c/versions/latest", "{\"schema\":\"{\"}",
                      &j), 422);
    cr_assert_eq(ecode(j), 42201);
    free(good);
    free(bad);
}

Test(rest, references_and_referencedby)
{
    int base, user;
    const char *addr = "{\"type\":\"record\",\"name\":\"Address\",\"namespace\":\"t\",\"fields\":"
                       "[{\"name\":\"city\",\"type\":\"string\"}]}";
    cr_assert_eq(reg_schema("addr", addr, &base), 200);
    json_t *b = json_pack("{s:s, s:[{s:s, s:s, s:i}]}", "schema",
                          "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"t\","
                          "\"fields\":[{\"name\":\"home\",\"type\":\"t.Address\"}]}",
                          "references", "name", "t.Address", "subject", "addr", "version", 1);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    json_t *j;
    cr_assert_eq(call("POST", "/subjects/person/versions", body, &j), 200, "%s", resp);
    user = (int)json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    free(body);
    cr_assert_eq(call("GET", "/subjects/addr/versions/1/referencedby", NULL, &j), 200);
    char want[32];
    snprintf(want, sizeof want, "[%d]", user);
    cr_assert_str_eq(dump(j), want);
    cr_assert_eq(call("GET", "/subjects/person/versions/1", NULL, &j), 200);
    cr_assert_str_eq(dump(json_incref(json_object_get(j, "references"))),
                     "[{\"name\":\"t.Address\",\"subject\":\"addr\",\"version\":1}]");
    json_decref(j);
    char path[64];
    snprintf(path, sizeof path, "/schemas/ids/%d", user);
    cr_assert_eq(call("GET", path, NULL, &j), 200);
    cr_assert_not_null(json_object_get(j, "references"));
    json_decref(j);
    /* referenced: not deletable */
    cr_assert_eq(call("DELETE", "/subjects/addr/versions/1", NULL, &j), 422);
    cr_assert_eq(ecode(j), 42206);
    cr_assert_eq(call("GET", "/subjects/nobody/versions/1/referencedby", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40401);
    cr_assert_eq(call("GET", "/subjects/addr/versions/3/referencedby", NULL, &j), 404);
    cr_assert_eq(ecode(j), 40402);
    /* a reference to nothing */
    cr_assert_eq(call("POST", "/subjects/p2/versions",
                      "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"P\\\","
                      "\\\"fields\\\":[{\\\"name\\\":\\\"a\\\",\\\"type\\\":\\\"t.Zip\\\"}]}\","
                      "\"references\":[{\"name\":\"t.Zip\",\"subject\":\"zip\",\"version\":1}]}",
                      &j),
                 422);
    cr_assert_eq(ecode(j), 42201);
}

Test(rest, other_schema_types)
{
    json_t *j;
    char *b = sbody("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}", "JSON");
    cr_assert_eq(call("POST", "/subjects/js/versions", b, &j), 200, "%s", resp);
    json_decref(j);
    free(b);
    cr_assert_eq(call("GET", "/subjects/js/versions/1", NULL, &j), 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "schemaType")), "JSON");
    json_decref(j);
    b = sbody("syntax = \"proto3\";\nmessage M { string a = 1; }\n", "PROTOBUF");
    cr_assert_eq(call("POST", "/subjects/pb/versions", b, &j), 200, "%s", resp);
    json_decref(j);
    free(b);
    cr_assert_eq(call("GET", "/subjects/pb/versions/1", NULL, &j), 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "schemaType")), "PROTOBUF");
    json_decref(j);
    cr_assert_eq(call("GET", "/subjects/pb/versions/1/schema", NULL, NULL), 200);
    cr_assert(strstr(resp, "message M"), "raw text: %s", resp);
}

Test(rest, encoded_subject_names)
{
    cr_assert_eq(reg_schema("a%2Fb%3Ac.d%20e", V1, NULL), 200, "%s", resp);
    cr_assert_eq(reg_schema("caf%C3%A9", V1, NULL), 200, "%s", resp);
    json_t *j;
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"a/b:c.d e\",\"caf\xc3\xa9\"]");
    cr_assert_eq(call("GET", "/subjects/a%2Fb%3Ac.d%20e/versions/1", NULL, &j), 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "subject")), "a/b:c.d e");
    json_decref(j);
    cr_assert_eq(call("GET", "/subjects/a/b:c.d%20e/versions/1", NULL, &j), 404);
    cr_assert_eq(ecode(j), 404);
    /* not UTF-8, an encoded NUL, a bad escape: no subject can be named so */
    cr_assert_eq(call("GET", "/subjects/%ff/versions", NULL, &j), 404);
    cr_assert_eq(ecode(j), 404);
    cr_assert_eq(call("GET", "/subjects/a%00b/versions", NULL, &j), 404);
    cr_assert_eq(ecode(j), 404);
    cr_assert_eq(call("GET", "/subjects/%zz/versions", NULL, &j), 404);
    cr_assert_eq(ecode(j), 404);
    cr_assert_eq(reg_schema("%ff", V1, NULL), 404);
    cr_assert_eq(call("GET", "/subjects?subjectPrefix=a%2F", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"a/b:c.d e\"]");
}

Test(rest, content_types)
{
    const char *types[] = {"application/vnd.schemaregistry.v1+json",
                           "application/vnd.schemaregistry+json", "application/json",
                           "application/octet-stream", "application/json; charset=utf-8"};
    char *b = sbody(V1, NULL);
    FILE *f = fopen(tpath("b.json"), "w");
    fputs(b, f);
    fclose(f);
    free(b);
    for (size_t i = 0; i < sizeof types / sizeof types[0] + 2; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "curl -s -o /dev/null -w '%%{http_code} %%{content_type}' -X POST %s%s%s "
                 "--data-binary @%s http://127.0.0.1:%d/subjects/ct/versions",
                 i < 5 ? "-H 'Content-Type: " : i == 5 ? "-H 'Content-Type:'" : "-H 'Content-Type: text/plain'",
                 i < 5 ? types[i] : "", i < 5 ? "'" : "", tpath("b.json"), port);
        FILE *p = popen(cmd, "r");
        char out[256] = "";
        cr_assert_not_null(fgets(out, sizeof out, p));
        pclose(p);
        if (i < 6)
            cr_assert_str_eq(out, "200 application/vnd.schemaregistry.v1+json", "%zu: %s", i, out);
        else
            cr_assert_eq(atoi(out), 415, "%s", out);
    }
}

Test(rest, body_limits)
{
    /* 17 MiB: refused from its announced length, and when it comes in
     * chunks with no length at all */
    FILE *f = fopen(tpath("big.json"), "w");
    cr_assert_not_null(f);
    fputs("{\"schema\":\"", f);
    static char chunk[1 << 16];
    memset(chunk, 'x', sizeof chunk);
    for (int i = 0; i < 17 * 16; i++)
        fwrite(chunk, 1, sizeof chunk, f);
    fputs("\"}", f);
    fclose(f);
    for (int chunked = 0; chunked < 2; chunked++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "curl -s -o %s -w '%%{http_code}' -X POST %s -H 'Content-Type: "
                 "application/json' --data-binary @%s http://127.0.0.1:%d/subjects/big/versions",
                 tpath("out"), chunked ? "-H 'Transfer-Encoding: chunked'" : "",
                 tpath("big.json"), port);
        FILE *p = popen(cmd, "r");
        char out[64] = "";
        cr_assert_not_null(fgets(out, sizeof out, p));
        pclose(p);
        cr_assert_eq(atoi(out), 413, "chunked %d: %s", chunked, out);
    }
    /* and the server goes on */
    cr_assert_eq(reg_schema("small", V1, NULL), 200);
}

Test(rest_server, max_body_option)
{
    evl_registry_server_opts_t o = {sizeof o, "127.0.0.1:0", NULL, NULL, NULL, 100};
    serve(&o);
    json_t *j;
    char *b = sbody(V2, NULL); /* > 100 bytes */
    cr_assert_eq(call("POST", "/subjects/x/versions", b, &j), 413);
    cr_assert_eq(ecode(j), 413);
    free(b);
    cr_assert_eq(reg_schema("x", "\"string\"", NULL), 200);
}

Test(rest_server, basic_auth)
{
    evl_registry_server_opts_t o = {sizeof o, "127.0.0.1:0", "alice:s3cr:t", NULL, NULL, 0};
    serve(&o);
    json_t *j;
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 401);
    cr_assert_eq(ecode(j), 401);
    snprintf(curl_opts, sizeof curl_opts, "-u alice:wrong");
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 401);
    json_decref(j);
    snprintf(curl_opts, sizeof curl_opts, "-u alice:s3cr:tX");
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 401);
    json_decref(j);
    snprintf(curl_opts, sizeof curl_opts, "-u alice:s3cr:t");
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    json_decref(j);
    cr_assert_eq(reg_schema("a", V1, NULL), 200);
    /* the challenge */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "curl -s -i http://127.0.0.1:%d/subjects", port);
    FILE *p = popen(cmd, "r");
    size_t n = fread(resp, 1, sizeof resp - 1, p);
    resp[n] = 0;
    pclose(p);
    cr_assert(strcasestr(resp, "WWW-Authenticate: Basic"), "%s", resp);
    /* a body refused before it is read */
    curl_opts[0] = 0;
    char *b = sbody(V2, NULL);
    cr_assert_eq(call("POST", "/subjects/a/versions", b, &j), 401);
    json_decref(j);
    free(b);
}

Test(rest_server, tls)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s >/dev/null 2>&1",
             tpath("key.pem"), tpath("cert.pem"));
    cr_assert_eq(system(cmd), 0);
    evl_registry_server_opts_t o = {sizeof o, "127.0.0.1:0", NULL, tpath("nope.pem"),
                                    tpath("key.pem"), 0};
    cr_assert_eq(evl_registry_serve(reg, &o, &srv), EVL_EINVAL);
    cr_assert_null(srv);
    o.tls_cert_file = tpath("cert.pem");
    o.tls_key_file = NULL;
    cr_assert_eq(evl_registry_serve(reg, &o, &srv), EVL_EINVAL);
    o.tls_key_file = tpath("body.json"); /* not PEM */
    FILE *f = fopen(tpath("body.json"), "w");
    fputs("not a key", f);
    fclose(f);
    cr_assert_eq(evl_registry_serve(reg, &o, &srv), EVL_EINVAL);
    o.tls_key_file = tpath("key.pem");
    serve(&o);
    snprintf(scheme, sizeof scheme, "https");
    snprintf(curl_opts, sizeof curl_opts, "--cacert %s", tpath("cert.pem"));
    json_t *j;
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    json_decref(j);
    cr_assert_eq(reg_schema("tls", V1, NULL), 200);
    /* plain HTTP gets nothing */
    snprintf(cmd, sizeof cmd, "curl -s -m 5 -o /dev/null http://127.0.0.1:%d/subjects", port);
    cr_assert_neq(system(cmd), 0);
}

Test(rest_server, listen_addresses)
{
    evl_registry_server_opts_t o = {sizeof o, "nonsense", NULL, NULL, NULL, 0};
    cr_assert_eq(evl_registry_serve(reg, &o, &srv), EVL_EINVAL);
    const char *bad[] = {"127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:x", "[::1:0", "256.1.1.1:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.listen = bad[i];
        cr_assert_eq(evl_registry_serve(reg, &o, &srv), EVL_EINVAL, "%s", bad[i]);
    }
    o.listen = "127.0.0.1:0";
    serve(&o);
    char busy[64];
    snprintf(busy, sizeof busy, "127.0.0.1:%d", port);
    evl_registry_server_t *two = NULL;
    o.listen = busy;
    cr_assert_eq(evl_registry_serve(reg, &o, &two), -EADDRINUSE);
    cr_assert_null(two);
    /* IPv6 loopback, where the machine has it */
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool v6 = s >= 0 && bind(s, (struct sockaddr *)&a6, sizeof a6) == 0;
    if (s >= 0)
        close(s);
    if (!v6)
        return;
    o.listen = "[::1]:0";
    cr_assert_eq(evl_registry_serve(reg, &o, &two), 0);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "curl -s -g 'http://[::1]:%d/schemas/types'",
             evl_registry_server_port(two));
    FILE *p = popen(cmd, "r");
    char out[128] = "";
    cr_assert_not_null(fgets(out, sizeof out, p));
    pclose(p);
    cr_assert_str_eq(out, "[\"JSON\",\"PROTOBUF\",\"AVRO\"]");
    evl_registry_server_stop(two);
}

Test(rest, many_clients_at_once)
{
    /* 40 registrations (4 subjects x 10 identical) and 40 reads in parallel */
    char *b = sbody(V1, NULL);
    FILE *f = fopen(tpath("b.json"), "w");
    fputs(b, f);
    fclose(f);
    free(b);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd %s && for i in $(seq 1 40); do "
             "(curl -s -o /dev/null -w '%%{http_code}\\n' -X POST -H 'Content-Type: "
             "application/json' --data-binary @b.json "
             "http://127.0.0.1:%d/subjects/s$((i %% 4))/versions > r$i.txt) & "
             "(curl -s -o /dev/null -w '%%{http_code}\\n' http://127.0.0.1:%d/subjects "
             "> g$i.txt) & done; wait; cat r*.txt g*.txt | sort | uniq -c",
             test_dir, port, port);
    FILE *p = popen(cmd, "r");
    size_t n = fread(resp, 1, sizeof resp - 1, p);
    resp[n] = 0;
    pclose(p);
    cr_assert(strstr(resp, "80 200") != NULL, "%s", resp);
    json_t *j;
    cr_assert_eq(call("GET", "/subjects", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"s0\",\"s1\",\"s2\",\"s3\"]");
    cr_assert_eq(call("GET", "/schemas/ids/1/subjects", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[\"s0\",\"s1\",\"s2\",\"s3\"]", "one id for all");
    cr_assert_eq(call("GET", "/subjects/s0/versions", NULL, &j), 200);
    cr_assert_str_eq(dump(j), "[1]");
}

Test(rest, stalled_clients_hold_up_nobody, .timeout = 60)
{
    /* half a request, and a body promised and never sent: others are
     * served meanwhile, and stopping the server does not wait for them */
    int fd[2];
    const char *half[] = {"GET /subjects HTTP/1.1\r\nHost: x\r\n",
                          "POST /subjects/s/versions HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 1000\r\n\r\n{\"schema\""};
    for (int i = 0; i < 2; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert_eq(connect(fd[i], (struct sockaddr *)&a, sizeof a), 0);
        cr_assert_gt(write(fd[i], half[i], strlen(half[i])), 0);
    }
    json_t *j;
    cr_assert_eq(call("GET", "/schemas/types", NULL, &j), 200);
    json_decref(j);
    cr_assert_eq(reg_schema("s", V1, NULL), 200);
    evl_registry_server_stop(srv);
    srv = NULL;
    close(fd[0]);
    close(fd[1]);
}

/* ---- the routing alone, with what HTTP clients would not send ---- */

static int direct(const char *method, const char *url, const char *body, size_t len,
                  json_t **out)
{
    char *r = NULL;
    const char *type = NULL;
    int st = evl__sr_rest_handle(reg, method, url, NULL, body, len, &r, &type);
    cr_assert_not_null(r);
    cr_assert_str_eq(type, EVL_SR_REST_CTYPE);
    if (out)
        *out = json_loads(r, JSON_DECODE_ANY, NULL);
    free(r);
    return st;
}

Test(rest_server, routing_hostile_inputs)
{
    json_t *j;
    cr_assert_eq(direct("GET", "", NULL, 0, &j), 404);
    json_decref(j);
    cr_assert_eq(direct("GET", "subjects", NULL, 0, &j), 404);
    json_decref(j);
    cr_assert_eq(direct("GET", "/a/b/c/d/e/f/g/h/i/j/k", NULL, 0, &j), 404);
    json_decref(j);
    cr_assert_eq(direct("GET", "/subjects//versions", NULL, 0, &j), 404);
    json_decref(j);
    cr_assert_eq(direct("BREW", "/subjects", NULL, 0, &j), 405);
    json_decref(j);
    cr_assert_eq(direct("GET", "/subjects/", NULL, 0, &j), 200);
    json_decref(j);
    cr_assert_eq(direct("HEAD", "/subjects", NULL, 0, &j), 200);
    json_decref(j);
    /* a body with a NUL in it, a schema with an escaped NUL */
    const char nul[] = "{\"schema\":\"\\\"string\\\"\"}\0garbage";
    cr_assert_eq(direct("POST", "/subjects/n/versions", nul, sizeof nul - 1, &j), 422);
    cr_assert_eq(ecode(j), 422);
    const char esc[] = "{\"schema\":\"\\u0000\"}";
    cr_assert_eq(direct("POST", "/subjects/n/versions", esc, sizeof esc - 1, &j), 422);
    json_decref(j);
    /* a subject that is not UTF-8, registered through the C API, is listed
     * with '?' for what JSON cannot carry (the store refuses such subjects
     * for now: then there is nothing to list) */
    int id;
    if (evl_registry_register(reg, "bad\xff", EVL_SCHEMA_AVRO, "\"string\"", NULL, 0, &id,
                              NULL) == 0) {
        cr_assert_eq(direct("GET", "/subjects", NULL, 0, &j), 200);
        cr_assert_eq(json_array_size(j), 1);
        cr_assert_str_eq(json_string_value(json_array_get(j, 0)), "bad?");
        json_decref(j);
    }
    /* the last of repeated parameters wins; unknown ones are ignored */
    cr_assert_eq(direct("GET", "/subjects?deleted=false&deleted=true&x&=&&", NULL, 0, &j), 200);
    json_decref(j);
    /* deep JSON */
    static char deep[200000];
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"schema\":\"\\\"int\\\"\",\"x\":");
    for (int i = 0; i < 60000; i++)
        deep[n++] = '[';
    cr_assert_eq(direct("POST", "/subjects/n/versions", deep, n, &j), 422);
    json_decref(j);
}
