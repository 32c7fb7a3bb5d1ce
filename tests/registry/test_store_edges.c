/*
 * test_store_edges.c - the registry's store where it is easiest to get
 * wrong: ids after hard deletes, compaction and a rebuild; IMPORT mode;
 * the last version number; references to "latest"; a handle's parsed
 * schemas when an id comes to mean another schema; subjects that are not
 * Unicode. __schemas rolls a segment per record here (segment.ms 1) so
 * that compaction reaches everything.
 */
#include <criterion/criterion.h>
#include <eventlog.h>
#include <eventlog/registry.h>
#include <limits.h>
#include <sys/wait.h>

#include "helpers.h"

static evl_log_t *log_;
static evl_registry_t *reg;

static void setup(void)
{
    test_dir_setup();
    evl_config_t *lc = test_cfg("log.cleaner.enable", "false", NULL);
    log_ = test_open(lc);
    evl_config_t *tc = test_cfg("cleanup.policy", "compact", "segment.ms", "1",
                                "delete.retention.ms", "0", NULL);
    cr_assert_eq(evl_topic_create_internal(log_, "__schemas", 1, tc), 0);
    evl_config_free(tc);
    evl_config_free(lc);
    cr_assert_eq(evl_registry_open(log_, &reg), 0);
}

static void teardown(void)
{
    evl_registry_close(reg);
    evl_log_close(log_);
    test_dir_teardown();
}

TestSuite(edges, .init = setup, .fini = teardown);

#define S(n) "{\"type\":\"record\",\"name\":\"" n "\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}]}"

static int regs(const char *subj, const char *schema)
{
    int id = 0, v = 0;
    int rc = evl_registry_register(reg, subj, EVL_SCHEMA_AVRO, schema, NULL, 0, &id, &v);
    cr_assert_eq(rc, 0, "register %s: %s %s", subj, evl_registry_strerror(rc),
                 evl_registry_errmsg());
    usleep(3000); /* the next record in a segment of its own */
    return id;
}

/* Compaction drops a hard-deleted schema's records; its id stays taken. */
Test(edges, ids_not_given_twice_after_compaction_and_rebuild)
{
    regs("a", S("X"));
    int y = regs("b", S("Y"));
    cr_assert_eq(evl_registry_delete_subject(reg, "b", false, NULL, NULL), 0);
    usleep(3000);
    cr_assert_eq(evl_registry_delete_subject(reg, "b", true, NULL, NULL), 0);
    usleep(3000);
    cr_assert_eq(evl_registry_config_set(reg, "zz", EVL_COMPAT_NONE), 0);
    usleep(3000);
    cr_assert_eq(evl_registry_config_set(reg, "zz", EVL_COMPAT_FULL), 0);
    cr_assert_eq(evl_topic_compact(log_, "__schemas"), 0);
    cr_assert_eq(evl_registry_rebuild(reg), 0);
    int z = regs("c", S("Z"));
    cr_assert_gt(z, y, "id %d of a hard-deleted schema given again", y);
}

Test(edges, import_with_another_id_is_refused)
{
    int x = regs("s", S("X"));
    cr_assert_eq(evl_registry_mode_set(reg, "s", EVL_MODE_IMPORT), 0);
    evl_register_opts_t o = {.size = sizeof o, .id = 77};
    int id = 0, v = 0;
    int rc = evl_registry_register_ex(reg, "s", EVL_SCHEMA_AVRO, S("X"), NULL, 0, &o, &id, &v);
    cr_assert_eq(rc, EVL_EEXIST, "schema %d imported as 77: rc %d id %d", x, rc, id);
    o.id = x;
    cr_assert_eq(evl_registry_register_ex(reg, "s", EVL_SCHEMA_AVRO, S("X"), NULL, 0, &o, &id, &v),
                 0);
    cr_assert_eq(id, x);
    cr_assert_eq(v, 1);
}

Test(edges, last_version_number)
{
    cr_assert_eq(evl_registry_mode_set(reg, "s", EVL_MODE_IMPORT), 0);
    evl_register_opts_t o = {.size = sizeof o, .id = 5, .version = INT_MAX};
    int id = 0, v = 0;
    cr_assert_eq(evl_registry_register_ex(reg, "s", EVL_SCHEMA_AVRO, S("X"), NULL, 0, &o, &id, &v),
                 0);
    cr_assert_eq(evl_registry_mode_set(reg, "s", EVL_MODE_READWRITE), 0);
    cr_assert_eq(evl_registry_config_set(reg, "s", EVL_COMPAT_NONE), 0);
    cr_assert_eq(evl_registry_register(reg, "s", EVL_SCHEMA_AVRO, S("Y"), NULL, 0, &id, &v),
                 EVL_EFULL);
    int *vs;
    size_t n;
    cr_assert_eq(evl_registry_versions(reg, "s", true, &vs, &n), 0);
    cr_assert_eq(n, 1);
    free(vs);
}

/* A reference to "latest" is stored as the version it meant: that version
 * is protected, and the schema means the same later. */
Test(edges, latest_reference_is_pinned)
{
    const char *dep = "{\"type\":\"record\",\"name\":\"Dep\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}";
    const char *dep2 = "{\"type\":\"record\",\"name\":\"Dep\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
                       "{\"name\":\"b\",\"type\":\"int\",\"default\":0}]}";
    regs("dep", dep);
    evl_schema_ref_t r = {"Dep", "dep", EVL_VERSION_LATEST};
    const char *top = "{\"type\":\"record\",\"name\":\"Top\",\"fields\":[{\"name\":\"d\",\"type\":\"Dep\"}]}";
    int id = 0, v = 0;
    cr_assert_eq(evl_registry_register(reg, "top", EVL_SCHEMA_AVRO, top, &r, 1, &id, &v), 0, "%s",
                 evl_registry_errmsg());
    evl_schema_info_t *in;
    cr_assert_eq(evl_registry_get(reg, "top", 1, false, &in), 0);
    cr_assert_eq(in->refs[0].version, 1);
    evl_schema_info_free(in);
    int d = 0;
    cr_assert_eq(evl_registry_delete_version(reg, "dep", 1, false, &d), EVL_EREFERENCED);
    regs("dep", dep2);
    /* the same registration again is the same schema: latest now means v2,
     * which is another schema (new id) */
    int id2 = 0;
    cr_assert_eq(evl_registry_register(reg, "top", EVL_SCHEMA_AVRO, top, &r, 1, &id2, &v), 0);
    cr_assert_neq(id2, id);
    evl_schema_ref_t r1 = {"Dep", "dep", 1};
    cr_assert_eq(evl_registry_lookup(reg, "top", EVL_SCHEMA_AVRO, top, &r1, 1, false, &in), 0);
    cr_assert_eq(in->id, id);
    evl_schema_info_free(in);
    /* a fresh handle decodes top's records */
    evl_registry_t *r2;
    cr_assert_eq(evl_registry_open(log_, &r2), 0);
    evl_deserializer_t *des;
    cr_assert_eq(evl_deserializer_new(r2, EVL_SCHEMA_AVRO, NULL, NULL, 0, &des), 0);
    uint8_t buf[6] = {0, 0, 0, 0, (uint8_t)id, 2};
    char *js = NULL;
    cr_assert_eq(evl_deserializer_decode(des, buf, 6, &js, NULL), 0, "%s", evl_registry_errmsg());
    cr_assert_str_eq(js, "{\"d\":{\"a\":1}}");
    free(js);
    evl_deserializer_free(des);
    evl_registry_close(r2);
}

/* An id hard-deleted, then imported for another schema: a handle that had
 * parsed the old one decodes with the new one. */
Test(edges, a_handle_sees_an_id_rebound)
{
    const char *xs = "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}";
    const char *ys = "{\"type\":\"record\",\"name\":\"Y\",\"fields\":[{\"name\":\"s\",\"type\":\"string\"}]}";
    int x = regs("a", xs);
    evl_deserializer_t *des;
    cr_assert_eq(evl_deserializer_new(reg, EVL_SCHEMA_AVRO, NULL, NULL, 0, &des), 0);
    uint8_t buf[] = {0, 0, 0, 0, (uint8_t)x, 2, 'h'};
    char *js = NULL;
    cr_assert_eq(evl_deserializer_decode(des, buf, 6, &js, NULL), 0);
    cr_assert_str_eq(js, "{\"a\":1}");
    free(js);
    cr_assert_eq(evl_registry_delete_subject(reg, "a", false, NULL, NULL), 0);
    cr_assert_eq(evl_registry_delete_subject(reg, "a", true, NULL, NULL), 0);
    cr_assert_eq(evl_registry_mode_set(reg, "b", EVL_MODE_IMPORT), 0);
    evl_register_opts_t o = {.size = sizeof o, .id = x};
    int id, v;
    cr_assert_eq(evl_registry_register_ex(reg, "b", EVL_SCHEMA_AVRO, ys, NULL, 0, &o, &id, &v), 0);
    js = NULL;
    cr_assert_eq(evl_deserializer_decode(des, buf, 7, &js, NULL), 0, "%s", evl_registry_errmsg());
    cr_assert_str_eq(js, "{\"s\":\"h\"}");
    free(js);
    evl_deserializer_free(des);
}

Test(edges, subjects_must_be_unicode)
{
    const char *bad[] = {"\xED\xA0\x80", "\xF4\x90\x80\x80", "\xC0\xAF", "\xE0\x80\xAF", "a\xff",
                         "tab\there", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int id, v;
        cr_assert_eq(evl_registry_register(reg, bad[i], EVL_SCHEMA_AVRO, S("X"), NULL, 0, &id, &v),
                     EVL_EINVAL, "subject %zu", i);
    }
    regs("ü-value", S("X"));
}

/* A second handle that rebuilds while the first registers: no id given
 * twice (the first decides only on a fully applied index). */
Test(edges, rebuild_beside_registrations)
{
    cr_assert_eq(evl_registry_config_set(reg, NULL, EVL_COMPAT_NONE), 0);
    /* more records than one batch of the rebuild (512) */
    int before = test_quick() ? 520 : 600;
    for (int i = 0; i < before; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"type\":\"fixed\",\"name\":\"F%d\",\"size\":2}", i);
        int id, v;
        cr_assert_eq(evl_registry_register(reg, "many", EVL_SCHEMA_AVRO, s, NULL, 0, &id, &v), 0);
    }
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        evl_log_t *l;
        evl_registry_t *r;
        if (evl_log_open(tpath("log"), NULL, &l) || evl_registry_open(l, &r))
            _exit(3);
        for (int i = 0; i < 5; i++)
            if (evl_registry_rebuild(r))
                _exit(4);
        evl_registry_close(r);
        evl_log_close(l);
        _exit(0);
    }
    int ids[40];
    for (int i = 0; i < 40; i++) {
        char s[128];
        snprintf(s, sizeof s, "{\"type\":\"fixed\",\"name\":\"G%d\",\"size\":2}", i);
        int v;
        int rc = evl_registry_register(reg, "more", EVL_SCHEMA_AVRO, s, NULL, 0, &ids[i], &v);
        cr_assert_eq(rc, 0, "%s", evl_registry_errmsg());
        cr_assert_gt(ids[i], before, "id %d reused", ids[i]);
        for (int j = 0; j < i; j++)
            cr_assert_neq(ids[i], ids[j]);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
