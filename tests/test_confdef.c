/*
 * test_confdef.c - the areas' own settings (evl_confdef_*, evl_conf_*):
 * types, ranges, enums, validators, scopes, required keys, defaults, every
 * problem named by validate, bad tables refused.
 */
#include "helpers.h"

TestSuite(confdef);

enum { SOURCE = 1, SINK = 2 };

static int no_spaces(void *arg, const char *v, char *msg, size_t msgsz)
{
    (void)arg;
    if (strchr(v, ' ')) {
        snprintf(msg, msgsz, "must not contain spaces");
        return 1;
    }
    return 0;
}

static const char *const tolerance[] = {"none", "all", NULL};
static const evl_confkey_t keys[] = {
    {"name", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, no_spaces, NULL, "the connector's name"},
    {"tasks.max", EVL_CONF_INT, "1", 1, 1000, NULL, 0, NULL, NULL, "tasks at most"},
    {"errors.tolerance", EVL_CONF_ENUM, "none", 0, -1, tolerance, 0, NULL, NULL, ""},
    {"errors.log.enable", EVL_CONF_BOOL, "false", 0, -1, NULL, 0, NULL, NULL, ""},
    {"ratio", EVL_CONF_DOUBLE, "0.5", 0, 1, NULL, 0, NULL, NULL, ""},
    {"topic", EVL_CONF_STRING, NULL, 0, -1, NULL, SOURCE, NULL, NULL, "source: where to"},
    {"topics", EVL_CONF_LIST, NULL, 0, -1, NULL, SINK, NULL, NULL, "sink: from where"},
};

static evl_confdef_t *def(void)
{
    evl_confdef_t *d;
    cr_assert_eq(evl_confdef_new("connect", keys, sizeof keys / sizeof keys[0], &d), 0);
    return d;
}

Test(confdef, values_are_checked_typed_and_defaulted)
{
    evl_confdef_t *d = def();
    cr_assert_eq(evl_confdef_count(d), 7);
    cr_assert_str_eq(evl_confdef_key(d, 1)->name, "tasks.max");
    const char *ok[] = {"name", "file-source", "topic", "lines", "tasks.max", "3",
                        "errors.tolerance", "all", "ratio", "0.25"};
    evl_conf_t *c;
    char err[256] = "";
    cr_assert_eq(evl_conf_parse(d, SOURCE, ok, 5, &c, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(evl_conf_str(c, "name"), "file-source");
    cr_assert_eq(evl_conf_int(c, "tasks.max"), 3);
    cr_assert_eq(evl_conf_bool(c, "errors.log.enable"), 0, "default");
    cr_assert(evl_conf_double(c, "ratio") == 0.25);
    cr_assert_eq(evl_conf_isset(c, "tasks.max"), 1);
    cr_assert_eq(evl_conf_isset(c, "errors.log.enable"), 0);
    cr_assert_null(evl_conf_str(c, "nope"));
    evl_conf_free(c);
    evl_confdef_free(d);
}

struct seen {
    int n;
    char keys[8][32];
};

static void collect(void *arg, const char *key, const char *msg)
{
    struct seen *s = arg;
    (void)msg;
    if (s->n < 8)
        snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
    s->n++;
}

Test(confdef, every_problem_is_named)
{
    evl_confdef_t *d = def();
    const char *bad[] = {"tasks.max", "0",              /* below the range */
                         "errors.tolerance", "some",    /* not an allowed value */
                         "errors.log.enable", "yes",    /* not a bool */
                         "ratio", "1.5",                /* above */
                         "topics", "a,b",               /* a sink's key, given to a source */
                         "nonsense", "1",               /* unknown */
                         "name", "has space"};          /* the validator */
    struct seen s = {0};
    cr_assert_eq(evl_conf_validate(d, SOURCE, bad, 7, collect, &s), 8);
    cr_assert_str_eq(s.keys[0], "tasks.max");
    cr_assert_str_eq(s.keys[4], "topics");
    cr_assert_str_eq(s.keys[5], "nonsense");
    cr_assert_str_eq(s.keys[6], "name");
    cr_assert_str_eq(s.keys[7], "topic", "required for a source, missing");
    evl_conf_t *c;
    char err[256];
    cr_assert_eq(evl_conf_parse(d, SOURCE, bad, 7, &c, err, sizeof err), EVL_ECONFIG);
    cr_assert_null(c);
    cr_assert(strstr(err, "tasks.max"), "%s", err);
    const char *twice[] = {"name", "a", "name", "b", "topics", "t"};
    cr_assert_eq(evl_conf_validate(d, SINK, twice, 3, NULL, NULL), 1);
    const char *ints[] = {"name", "x", "topics", "t", "tasks.max", "01"};
    cr_assert_eq(evl_conf_validate(d, SINK, ints, 3, NULL, NULL), 1, "no leading zeros");
    evl_confdef_free(d);
}

Test(confdef, bad_tables_are_refused)
{
    evl_confdef_t *d;
    evl_confkey_t dup[] = {{"a", EVL_CONF_INT, "1", 0, -1, NULL, 0, NULL, NULL, ""},
                           {"a", EVL_CONF_INT, "1", 0, -1, NULL, 0, NULL, NULL, ""}};
    cr_assert_eq(evl_confdef_new("x", dup, 2, &d), EVL_EINVAL);
    cr_assert_null(d);
    evl_confkey_t baddef[] = {{"a", EVL_CONF_INT, "ten", 0, -1, NULL, 0, NULL, NULL, ""}};
    cr_assert_eq(evl_confdef_new("x", baddef, 1, &d), EVL_EINVAL);
    evl_confkey_t badtype[] = {{"a", 42, NULL, 0, -1, NULL, 0, NULL, NULL, ""}};
    cr_assert_eq(evl_confdef_new("x", badtype, 1, &d), EVL_EINVAL);
    evl_confkey_t noenum[] = {{"a", EVL_CONF_ENUM, NULL, 0, -1, NULL, 0, NULL, NULL, ""}};
    cr_assert_eq(evl_confdef_new("x", noenum, 1, &d), EVL_EINVAL);
    cr_assert_eq(evl_confdef_new(NULL, NULL, 0, &d), EVL_EINVAL);
}
