/*
 * test_cli_registry.c - `evl registry ...`, `evl produce --value-schema` and
 * `evl consume --value-format`, run as a user would (the built binary,
 * $EVL_EVL, through tests/cli/proc.h): outputs and exit statuses.
 */
#include <criterion/criterion.h>
#include <eventlog.h>

/* proc.h serves test_cli.c too: not every helper is used here */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "cli/proc.h"
#include "helpers.h"

static void setup(void)
{
    test_dir_setup();
}

static void teardown(void)
{
    kill_leftovers();
    test_dir_teardown();
}

TestSuite(cli_registry, .init = setup, .fini = teardown);

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(tpath(name), "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* evl -d LOG ARGS... with stdin in. */
static struct res evl(const char *in, const char *a1, const char *a2, const char *a3,
                      const char *a4, const char *a5, const char *a6, const char *a7)
{
    const char *args[12] = {"-d", tpath("log")};
    const char *rest[] = {a1, a2, a3, a4, a5, a6, a7};
    int n = 2;
    for (int i = 0; i < 7 && rest[i]; i++)
        args[n++] = rest[i];
    args[n] = NULL;
    struct env env = {0};
    return run_env(in, in ? strlen(in) : 0, args, &env);
}

#define V1 "{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"}]}"
#define V2 "{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"total\",\"type\":\"double\",\"default\":0}]}"
#define V3 "{\"type\":\"record\",\"name\":\"Order\",\"fields\":[{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"total\",\"type\":\"double\",\"default\":0},{\"name\":\"cur\",\"type\":\"string\"}]}"

Test(cli_registry, register_get_compat_config_delete)
{
    write_file("v1.avsc", V1);
    write_file("v2.avsc", V2);
    write_file("v3.avsc", V3);
    struct res r = evl(NULL, "registry", "register", "orders-value", tpath("v1.avsc"), NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "1\n");
    res_free(&r);
    r = evl(NULL, "registry", "compat", "orders-value", tpath("v3.avsc"), NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(!strncmp(r.out, "false\n", 6) && strstr(r.out, "cur"), "%s", r.out);
    res_free(&r);
    r = evl(NULL, "registry", "compat", "orders-value", tpath("v2.avsc"), NULL, NULL, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out, "true\n");
    res_free(&r);
    r = evl(NULL, "registry", "register", "orders-value", tpath("v3.avsc"), NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "incompatible"), "%s", r.err);
    res_free(&r);
    r = evl(NULL, "registry", "register", "orders-value", tpath("v2.avsc"), NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "2\n");
    res_free(&r);
    r = evl(NULL, "registry", "versions", "orders-value", NULL, NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "1\n2\n");
    res_free(&r);
    r = evl(NULL, "registry", "get", "orders-value", "1", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "\"subject\":\"orders-value\",\"version\":1,\"id\":1,\"schema\":"),
              "%s", r.out);
    res_free(&r);
    r = evl(NULL, "registry", "get", "--id", "2", NULL, NULL, NULL);
    cr_assert(strstr(r.out, "\"id\":2") && strstr(r.out, "total"), "%s", r.out);
    res_free(&r);
    r = evl(NULL, "registry", "get", "nope", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "subject not found"), "%s", r.err);
    res_free(&r);
    r = evl(NULL, "registry", "config", "orders-value", "NONE", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0);
    res_free(&r);
    r = evl(NULL, "registry", "config", "orders-value", NULL, NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "NONE\n");
    res_free(&r);
    r = evl(NULL, "registry", "config", NULL, NULL, NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "BACKWARD\n");
    res_free(&r);
    r = evl(NULL, "registry", "subjects", NULL, NULL, NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "orders-value\n");
    res_free(&r);
    r = evl(NULL, "registry", "delete", "orders-value", NULL, NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "1\n2\n");
    res_free(&r);
    r = evl(NULL, "registry", "subjects", NULL, NULL, NULL, NULL, NULL);
    cr_assert_str_eq(r.out, "");
    res_free(&r);
    r = evl(NULL, "registry", "config", "orders-value", "SIDEWAYS", NULL, NULL, NULL);
    cr_assert_eq(r.status, 2);
    res_free(&r);
}

Test(cli_registry, produce_with_schema_and_consume_decoded)
{
    write_file("v1.avsc", V1);
    write_file("v2.avsc", V2);
    write_file("v3.avsc", V3);
    struct res r = evl("{\"id\":1}\n{\"id\":2}\n", "produce", "orders", "--create", "--value-schema",
                       tpath("v1.avsc"), NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    res_free(&r);
    r = evl("{\"id\":3,\"total\":4.5}\n{\"id\":\"four\"}\n{\"id\":5}\n", "produce", "orders",
            "--value-schema", tpath("v2.avsc"), NULL, NULL, NULL);
    cr_assert_eq(r.status, 1, "a line that does not fit stops evl");
    cr_assert(strstr(r.err, "line 2"), "%s", r.err);
    res_free(&r);
    /* incompatible: nothing written */
    r = evl("{\"id\":6,\"total\":1,\"cur\":\"EUR\"}\n", "produce", "orders", "--value-schema",
            tpath("v3.avsc"), NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "incompatible"), "%s", r.err);
    res_free(&r);
    r = evl(NULL, "consume", "orders", "--value-format", "avro", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "{\"id\":1}\n{\"id\":2}\n{\"id\":3,\"total\":4.5}\n");
    res_free(&r);
    /* with a reader schema: v1's records get the default */
    r = evl(NULL, "consume", "orders", "--value-format", "avro", "--value-schema", tpath("v2.avsc"),
            NULL);
    cr_assert_str_eq(r.out, "{\"id\":1,\"total\":0.0}\n{\"id\":2,\"total\":0.0}\n{\"id\":3,\"total\":4.5}\n");
    res_free(&r);
    /* a raw record among them is skipped with a warning naming its offset */
    r = evl("plain text\n", "produce", "orders", NULL, NULL, NULL, NULL, NULL);
    res_free(&r);
    r = evl(NULL, "consume", "orders", "--value-format", "avro", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert_eq(count_lines(r.out), 3);
    cr_assert(strstr(r.err, "offset 3"), "%s", r.err);
    res_free(&r);
}
