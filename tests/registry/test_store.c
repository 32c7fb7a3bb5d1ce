/*
 * test_store.c - the registry's store: subjects, versions, global ids,
 * canonical identity, compatibility levels, deletes, levels and modes, the
 * index rebuilt from __schemas, and registrations racing from several
 * processes (ids and versions never handed out twice).
 */
#include <criterion/criterion.h>
#include <eventlog.h>
#include <eventlog/registry.h>
#include <sys/wait.h>

#include "helpers.h"

static evl_log_t *log_;
static evl_registry_t *reg;

static void setup(void)
{
    test_dir_setup();
    log_ = test_open(NULL);
    int rc = evl_registry_open(log_, &reg);
    cr_assert_eq(rc, 0, "open: %s %s", evl_registry_strerror(rc), evl_registry_errmsg());
}

static void teardown(void)
{
    evl_registry_close(reg);
    evl_log_close(log_);
    test_dir_teardown();
}

TestSuite(store, .init = setup, .fini = teardown);

#define USER_V1 "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"}]}"
/* v1 with whitespace and key order changed: the same schema */
#define USER_V1_SPACED                                                                       \
    "{ \"name\" : \"User\",\n  \"type\" : \"record\",\n  \"fields\" : [ { \"type\" : \"string\", " \
    "\"name\" : \"name\" } ] }"
/* BACKWARD-compatible: a field with a default */
#define USER_V2                                                                               \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"}," \
    "{\"name\":\"age\",\"type\":\"int\",\"default\":0}]}"
/* not BACKWARD-compatible with v2: a field without a default */
#define USER_BAD                                                                              \
    "{\"type\":\"record\",\"name\":\"User\",\"fields\":[{\"name\":\"name\",\"type\":\"string\"}," \
    "{\"name\":\"age\",\"type\":\"int\",\"default\":0},{\"name\":\"email\",\"type\":\"string\"}]}"

static int reg_ok(const char *subject, const char *schema, int *version)
{
    int id = 0;
    int rc = evl_registry_register(reg, subject, EVL_SCHEMA_AVRO, schema, NULL, 0, &id, version);
    cr_assert_eq(rc, 0, "register %s: %s: %s", subject, evl_registry_strerror(rc),
                 evl_registry_errmsg());
    return id;
}

Test(store, ids_versions_and_canonical_identity)
{
    int v;
    int id1 = reg_ok("users-value", USER_V1, &v);
    cr_assert_eq(v, 1);
    cr_assert_gt(id1, 0);
    /* the same schema, spaced and reordered: the same id and version, nothing new */
    cr_assert_eq(reg_ok("users-value", USER_V1_SPACED, &v), id1);
    cr_assert_eq(v, 1);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log_, "__schemas", 0, &pi), 0);
    cr_assert_eq(pi.end_offset, 1, "a repeat registration wrote a record");
    /* the same schema under another subject: the same global id */
    cr_assert_eq(reg_ok("other-value", USER_V1, &v), id1);
    cr_assert_eq(v, 1);
    int id2 = reg_ok("users-value", USER_V2, &v);
    cr_assert_eq(v, 2);
    cr_assert_neq(id2, id1);

    evl_schema_info_t *in;
    cr_assert_eq(evl_registry_get(reg, "users-value", EVL_VERSION_LATEST, false, &in), 0);
    cr_assert_eq(in->version, 2);
    cr_assert_eq(in->id, id2);
    cr_assert_str_eq(in->subject, "users-value");
    evl_schema_info_free(in);
    cr_assert_eq(evl_registry_get_by_id(reg, id1, &in), 0);
    cr_assert_null(in->subject);
    cr_assert_eq(in->type, EVL_SCHEMA_AVRO);
    evl_schema_info_free(in);
    cr_assert_eq(evl_registry_get_by_id(reg, 999, &in), EVL_ESCHEMA_NOTFOUND);
    cr_assert_eq(evl_registry_get(reg, "nope", 1, false, &in), EVL_ESUBJECT_NOTFOUND);
    cr_assert_eq(evl_registry_get(reg, "users-value", 7, false, &in), EVL_EVERSION_NOTFOUND);
    cr_assert_eq(evl_registry_get(reg, "users-value", 0, false, &in), EVL_EVERSION_INVALID);

    char **names;
    size_t n;
    cr_assert_eq(evl_registry_subjects(reg, NULL, false, &names, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0], "other-value");
    cr_assert_str_eq(names[1], "users-value");
    evl_registry_free_list(names, n);
    char **subs;
    int *vers;
    cr_assert_eq(evl_registry_id_versions(reg, id1, false, &subs, &vers, &n), 0);
    cr_assert_eq(n, 2);
    evl_registry_free_list(subs, n);
    free(vers);

    /* lookup */
    cr_assert_eq(evl_registry_lookup(reg, "users-value", EVL_SCHEMA_AVRO, USER_V1_SPACED, NULL, 0,
                                     false, &in),
                 0);
    cr_assert_eq(in->version, 1);
    cr_assert_eq(in->id, id1);
    evl_schema_info_free(in);
    cr_assert_eq(evl_registry_lookup(reg, "other-value", EVL_SCHEMA_AVRO, USER_V2, NULL, 0, false,
                                     &in),
                 EVL_ESCHEMA_NOTFOUND);
}

Test(store, incompatible_is_refused_and_writes_nothing)
{
    int v;
    reg_ok("t-value", USER_V1, &v);
    reg_ok("t-value", USER_V2, &v);
    evl_partition_info_t before, after;
    cr_assert_eq(evl_partition_info(log_, "__schemas", 0, &before), 0);
    int id = 0;
    int rc = evl_registry_register(reg, "t-value", EVL_SCHEMA_AVRO, USER_BAD, NULL, 0, &id, &v);
    cr_assert_eq(rc, EVL_ESCHEMA_INCOMPATIBLE, "%s", evl_registry_strerror(rc));
    cr_assert(strstr(evl_registry_errmsg(), "email") || strstr(evl_registry_errmsg(), "READER"),
              "reasons: %s", evl_registry_errmsg());
    cr_assert_eq(evl_partition_info(log_, "__schemas", 0, &after), 0);
    cr_assert_eq(after.end_offset, before.end_offset);
    /* invalid */
    rc = evl_registry_register(reg, "t-value", EVL_SCHEMA_AVRO, "{\"type\":\"recrod\"}", NULL, 0,
                               &id, &v);
    cr_assert_eq(rc, EVL_ESCHEMA_INVALID);
    cr_assert_neq(evl_registry_errmsg()[0], 0);
    /* check says the same as register would */
    bool ok;
    char **why;
    size_t n;
    cr_assert_eq(evl_registry_check(reg, "t-value", 0, EVL_SCHEMA_AVRO, USER_BAD, NULL, 0, &ok,
                                    &why, &n),
                 0);
    cr_assert_not(ok);
    cr_assert_gt(n, 0);
    evl_registry_free_list(why, n);
    /* under NONE it goes in */
    cr_assert_eq(evl_registry_config_set(reg, "t-value", EVL_COMPAT_NONE), 0);
    reg_ok("t-value", USER_BAD, &v);
    cr_assert_eq(v, 3);
}

/* The levels: FORWARD refuses removing a field without default; transitive
 * levels check every version. */
Test(store, levels)
{
    const char *a = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}";
    const char *b = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
                    "{\"name\":\"y\",\"type\":\"int\",\"default\":1}]}";
    const char *c = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"y\",\"type\":\"int\","
                    "\"default\":1}]}";
    const char *d = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
                    "{\"name\":\"y\",\"type\":\"int\",\"default\":1},{\"name\":\"z\",\"type\":\"int\"}]}";
    int v, id;
    cr_assert_eq(evl_registry_config_set(reg, NULL, EVL_COMPAT_FORWARD), 0);
    evl_compat_t level;
    bool isset;
    cr_assert_eq(evl_registry_config_get(reg, "s", true, &level, &isset), 0);
    cr_assert_eq(level, EVL_COMPAT_FORWARD);
    cr_assert_not(isset);
    cr_assert_eq(evl_registry_config_get(reg, "s", false, &level, &isset), EVL_ESUBJECT_NOTFOUND);
    reg_ok("s", a, &v);
    reg_ok("s", b, &v); /* FORWARD: adding a field is fine */
    /* FORWARD: removing x (no default) breaks old readers */
    cr_assert_eq(evl_registry_register(reg, "s", EVL_SCHEMA_AVRO, c, NULL, 0, &id, &v),
                 EVL_ESCHEMA_INCOMPATIBLE);
    /* BACKWARD: adding z without default is refused; FORWARD allows it */
    reg_ok("s", d, &v);
    cr_assert_eq(v, 3);
    /* FULL_TRANSITIVE: c against a (x removed without default) fails */
    cr_assert_eq(evl_registry_config_set(reg, "s", EVL_COMPAT_FULL_TRANSITIVE), 0);
    cr_assert_eq(evl_registry_config_get(reg, "s", false, &level, &isset), 0);
    cr_assert_eq(level, EVL_COMPAT_FULL_TRANSITIVE);
    cr_assert(isset);
    cr_assert_eq(evl_registry_register(reg, "s", EVL_SCHEMA_AVRO, c, NULL, 0, &id, &v),
                 EVL_ESCHEMA_INCOMPATIBLE);
    evl_compat_t was;
    cr_assert_eq(evl_registry_config_delete(reg, "s", &was), 0);
    cr_assert_eq(was, EVL_COMPAT_FULL_TRANSITIVE);
    cr_assert_eq(evl_registry_config_get(reg, "s", true, &level, NULL), 0);
    cr_assert_eq(level, EVL_COMPAT_FORWARD);
}

Test(store, deletes)
{
    int v;
    int id1 = reg_ok("d", USER_V1, &v);
    reg_ok("d", USER_V2, &v);
    int d;
    /* permanent before soft: refused */
    cr_assert_eq(evl_registry_delete_version(reg, "d", 2, true, &d), EVL_ENOTSOFTDELETED);
    cr_assert_eq(evl_registry_delete_version(reg, "d", 2, false, &d), 0);
    cr_assert_eq(d, 2);
    evl_schema_info_t *in;
    cr_assert_eq(evl_registry_get(reg, "d", 2, false, &in), EVL_EVERSION_NOTFOUND);
    cr_assert_eq(evl_registry_get(reg, "d", 2, true, &in), 0);
    cr_assert(in->deleted);
    evl_schema_info_free(in);
    cr_assert_eq(evl_registry_get(reg, "d", EVL_VERSION_LATEST, false, &in), 0);
    cr_assert_eq(in->version, 1);
    evl_schema_info_free(in);
    /* a new registration after a soft delete takes the next version */
    int id3 = reg_ok("d", USER_V2, &v);
    cr_assert_eq(v, 3);
    (void)id3;
    int *vs;
    size_t n;
    cr_assert_eq(evl_registry_delete_subject(reg, "d", false, &vs, &n), 0);
    cr_assert_eq(n, 2); /* 1 and 3 */
    free(vs);
    cr_assert_eq(evl_registry_versions(reg, "d", false, &vs, &n), EVL_ESUBJECT_NOTFOUND);
    cr_assert_eq(evl_registry_versions(reg, "d", true, &vs, &n), 0);
    cr_assert_eq(n, 3);
    free(vs);
    cr_assert_eq(evl_registry_delete_subject(reg, "d", true, &vs, &n), 0);
    free(vs);
    cr_assert_eq(evl_registry_versions(reg, "d", true, &vs, &n), EVL_ESUBJECT_NOTFOUND);
    cr_assert_eq(evl_registry_get_by_id(reg, id1, &in), EVL_ESCHEMA_NOTFOUND);
    /* the name can be used again, from version 1 */
    reg_ok("d", USER_V1, &v);
    cr_assert_eq(v, 1);
}

Test(store, modes)
{
    int v, id;
    cr_assert_eq(evl_registry_mode_set(reg, "m", EVL_MODE_READONLY), 0);
    cr_assert_eq(evl_registry_register(reg, "m", EVL_SCHEMA_AVRO, USER_V1, NULL, 0, &id, &v),
                 EVL_EREADONLY);
    reg_ok("other", USER_V1, &v);
    evl_registry_mode_t mode;
    cr_assert_eq(evl_registry_mode_get(reg, "m", true, &mode), 0);
    cr_assert_eq(mode, EVL_MODE_READONLY);
    cr_assert_eq(evl_registry_mode_set(reg, "m", EVL_MODE_IMPORT), 0);
    evl_register_opts_t o = {.size = sizeof o, .id = 100, .version = 5};
    cr_assert_eq(evl_registry_register_ex(reg, "m", EVL_SCHEMA_AVRO, USER_V2, NULL, 0, &o, &id, &v),
                 0);
    cr_assert_eq(id, 100);
    cr_assert_eq(v, 5);
    /* ids go on after the highest, imported ones included */
    cr_assert_eq(evl_registry_mode_set(reg, "m", EVL_MODE_READWRITE), 0);
    const char *e = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}";
    cr_assert_eq(evl_registry_register(reg, "e", EVL_SCHEMA_AVRO, e, NULL, 0, &id, &v), 0);
    cr_assert_eq(id, 101);
}

Test(store, references)
{
    const char *addr = "{\"type\":\"record\",\"name\":\"Address\",\"namespace\":\"acme\",\"fields\":"
                       "[{\"name\":\"city\",\"type\":\"string\"}]}";
    const char *person = "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"acme\",\"fields\":"
                         "[{\"name\":\"home\",\"type\":\"acme.Address\"}]}";
    int v, id;
    int aid = reg_ok("address", addr, &v);
    evl_schema_ref_t ref = {"acme.Address", "address", 1};
    int rc = evl_registry_register(reg, "person", EVL_SCHEMA_AVRO, person, &ref, 1, &id, &v);
    cr_assert_eq(rc, 0, "%s", evl_registry_errmsg());
    cr_assert_neq(id, aid);
    /* without the reference the schema does not parse */
    cr_assert_eq(evl_registry_register(reg, "person2", EVL_SCHEMA_AVRO, person, NULL, 0, &id, &v),
                 EVL_ESCHEMA_INVALID);
    int *ids;
    size_t n;
    cr_assert_eq(evl_registry_referenced_by(reg, "address", 1, &ids, &n), 0);
    cr_assert_eq(n, 1);
    free(ids);
    int d;
    cr_assert_eq(evl_registry_delete_version(reg, "address", 1, false, &d), EVL_EREFERENCED);
    evl_schema_info_t *in;
    cr_assert_eq(evl_registry_get(reg, "person", 1, false, &in), 0);
    cr_assert_eq(in->ref_count, 1);
    cr_assert_str_eq(in->refs[0].subject, "address");
    evl_schema_info_free(in);
}

/* The index is only a cache: forgotten and rebuilt from __schemas, and
 * another handle on the same log sees what this one wrote. */
Test(store, rebuild_and_second_handle)
{
    int v;
    int id1 = reg_ok("a", USER_V1, &v);
    int id2 = reg_ok("a", USER_V2, &v);
    cr_assert_eq(evl_registry_config_set(reg, "a", EVL_COMPAT_FULL), 0);
    int d;
    cr_assert_eq(evl_registry_delete_version(reg, "a", 1, false, &d), 0);
    cr_assert_eq(evl_registry_rebuild(reg), 0);
    evl_schema_info_t *in;
    cr_assert_eq(evl_registry_get(reg, "a", EVL_VERSION_LATEST, false, &in), 0);
    cr_assert_eq(in->id, id2);
    evl_schema_info_free(in);
    cr_assert_eq(evl_registry_get(reg, "a", 1, false, &in), EVL_EVERSION_NOTFOUND);
    evl_compat_t level;
    cr_assert_eq(evl_registry_config_get(reg, "a", false, &level, NULL), 0);
    cr_assert_eq(level, EVL_COMPAT_FULL);
    cr_assert_eq(evl_registry_get_by_id(reg, id1, &in), 0);
    evl_schema_info_free(in);

    evl_registry_t *r2;
    cr_assert_eq(evl_registry_open(log_, &r2), 0);
    int id3 = 0;
    const char *e = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}";
    cr_assert_eq(evl_registry_register(r2, "b", EVL_SCHEMA_AVRO, e, NULL, 0, &id3, &v), 0);
    cr_assert_eq(id3, id2 + 1);
    cr_assert_eq(evl_registry_get_by_id(reg, id3, &in), 0);
    evl_schema_info_free(in);
    evl_registry_close(r2);
}

/* Registrations from several processes at once on one log: every schema
 * gets its own id, every version of the shared subject is used once, and
 * versions are 1..N without gaps. */
#define PROCS 4
#define EACH 25
Test(store, concurrent_processes)
{
    cr_assert_eq(evl_registry_config_set(reg, NULL, EVL_COMPAT_NONE), 0);
    pid_t pids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        cr_assert_neq(pids[p], -1);
        if (pids[p] == 0) {
            evl_log_t *l;
            evl_registry_t *r;
            if (evl_log_open(tpath("log"), NULL, &l) || evl_registry_open(l, &r))
                _exit(3);
            for (int i = 0; i < EACH; i++) {
                char s[256];
                snprintf(s, sizeof s,
                         "{\"type\":\"record\",\"name\":\"P%dN%d\",\"fields\":[{\"name\":\"f\","
                         "\"type\":\"int\"}]}",
                         p, i);
                int id, v;
                if (evl_registry_register(r, "shared", EVL_SCHEMA_AVRO, s, NULL, 0, &id, &v))
                    _exit(4);
                snprintf(s, sizeof s, "{\"type\":\"fixed\",\"name\":\"F%dN%d\",\"size\":4}", p, i);
                if (evl_registry_register(r, "own", EVL_SCHEMA_AVRO, s, NULL, 0, &id, &v))
                    _exit(5);
            }
            evl_registry_close(r);
            evl_log_close(l);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++) {
        int st;
        cr_assert_eq(waitpid(pids[p], &st, 0), pids[p]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: status %d", p, st);
    }
    int *vs;
    size_t n;
    cr_assert_eq(evl_registry_versions(reg, "shared", false, &vs, &n), 0);
    cr_assert_eq(n, PROCS * EACH);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(vs[i], (int)i + 1);
    free(vs);
    /* 2 * PROCS * EACH distinct schemas, ids 1..2*PROCS*EACH, each used once */
    static bool seen[2 * PROCS * EACH + 1];
    const char *subj[] = {"shared", "own"};
    for (int s = 0; s < 2; s++)
        for (int v = 1; v <= PROCS * EACH; v++) {
            evl_schema_info_t *in;
            cr_assert_eq(evl_registry_get(reg, subj[s], v, false, &in), 0);
            cr_assert(in->id >= 1 && in->id <= 2 * PROCS * EACH, "id %d", in->id);
            cr_assert_not(seen[in->id], "id %d given twice", in->id);
            seen[in->id] = true;
            evl_schema_info_free(in);
        }
}

/* Records in __schemas the registry did not write (garbage, wrong types,
 * Confluent's NOOP keys, huge versions) are skipped, never fatal. */
Test(store, foreign_records_are_skipped)
{
    int v;
    int id = reg_ok("a", USER_V1, &v);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_open(log_, NULL, &p), 0);
    const char *keys[] = {"garbage", "{\"keytype\":\"NOOP\",\"magic\":0}",
                          "{\"keytype\":\"SCHEMA\",\"subject\":\"a\",\"version\":99999999999,\"magic\":1}",
                          "{\"keytype\":\"SCHEMA\",\"subject\":7,\"version\":1}",
                          "{\"keytype\":\"SCHEMA\",\"subject\":\"b\",\"version\":1,\"magic\":1}",
                          "{\"keytype\":\"CONFIG\",\"subject\":\"a\",\"magic\":0}", "[]"};
    const char *vals[] = {"x", "null", "{}", "{\"id\":\"one\"}",
                          "{\"subject\":\"b\",\"version\":1,\"id\":-4,\"schema\":\"\\\"int\\\"\"}",
                          "{\"compatibilityLevel\":\"SIDEWAYS\"}", "1"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        evl_msg_t m = {.key = keys[i], .key_len = strlen(keys[i]), .value = vals[i],
                       .value_len = strlen(vals[i]), .timestamp = -1};
        cr_assert_eq(evl_producer_send_to(p, "__schemas", &m, 0), 0);
    }
    evl_producer_close(p);
    cr_assert_eq(evl_registry_refresh(reg), 0);
    cr_assert_eq(evl_registry_rebuild(reg), 0);
    evl_schema_info_t *in;
    cr_assert_eq(evl_registry_get(reg, "a", EVL_VERSION_LATEST, false, &in), 0);
    cr_assert_eq(in->id, id);
    evl_schema_info_free(in);
    cr_assert_eq(evl_registry_get(reg, "b", 1, false, &in), EVL_ESUBJECT_NOTFOUND);
    evl_compat_t level;
    cr_assert_eq(evl_registry_config_get(reg, "a", true, &level, NULL), 0);
    cr_assert_eq(level, EVL_COMPAT_BACKWARD);
    /* and it goes on working */
    reg_ok("a", USER_V2, &v);
    cr_assert_eq(v, 2);
}
