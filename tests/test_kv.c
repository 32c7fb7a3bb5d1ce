/*
 * test_kv.c - the areas' tables in the log's metadata (evl_kv_*): names,
 * atomic transactions over several tables, scans, aborts, read-only
 * transactions, sharing between processes, persistence, and a transaction
 * that runs again when the metadata's map grows.
 */
#include "helpers.h"

#include <sys/wait.h>

TestSuite(kv, .init = test_dir_setup, .fini = test_dir_teardown);

typedef struct ctx {
    evl_kv_table_t a, b;
    int n;
    int fail_with;
    int runs;
} ctx_t;

static int put_some(evl_kv_t *kv, void *arg)
{
    ctx_t *c = arg;
    c->runs++;
    for (int i = 0; i < c->n; i++) {
        char k[32], v[64];
        snprintf(k, sizeof k, "key-%04d", i);
        snprintf(v, sizeof v, "value-%d", i);
        int rc = evl_kv_put(kv, c->a, k, strlen(k), v, strlen(v));
        if (rc)
            return rc;
        if ((rc = evl_kv_put(kv, c->b, k, strlen(k), "b", 1)))
            return rc;
    }
    return c->fail_with;
}

static int count_cb(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
    (void)k, (void)kl, (void)v, (void)vl;
    (*(int *)arg)++;
    return 0;
}

typedef struct reads {
    ctx_t *c;
    int in_a, in_b, prefixed;
    char got[64];
    int get_rc, put_rc;
} reads_t;

static int read_back(evl_kv_t *kv, void *arg)
{
    reads_t *r = arg;
    const void *v;
    size_t vl;
    r->get_rc = evl_kv_get(kv, r->c->a, "key-0007", 8, &v, &vl);
    if (r->get_rc == 0)
        snprintf(r->got, sizeof r->got, "%.*s", (int)vl, (const char *)v);
    evl_kv_scan(kv, r->c->a, NULL, 0, count_cb, &r->in_a);
    evl_kv_scan(kv, r->c->b, NULL, 0, count_cb, &r->in_b);
    evl_kv_scan(kv, r->c->a, "key-001", 7, count_cb, &r->prefixed);
    r->put_rc = evl_kv_put(kv, r->c->a, "x", 1, "y", 1);
    return 0;
}

Test(kv, tables_transactions_scans_and_aborts)
{
    evl_log_t *log = test_open(NULL);
    ctx_t c = {0};
    const char *bad[] = {"topics", "a", "A.b", ".ab", "ab.", "a b.c", "a/b.c", NULL};
    for (int i = 0; bad[i]; i++)
        cr_assert_eq(evl_kv_table(log, bad[i], &c.a), EVL_EBADNAME, "%s", bad[i]);
    cr_assert_eq(evl_kv_table(log, "connect.offsets", &c.a), 0);
    cr_assert_eq(evl_kv_table(log, "connect.status", &c.b), 0);
    evl_kv_table_t again;
    cr_assert_eq(evl_kv_table(log, "connect.offsets", &again), 0);
    cr_assert_eq(again, c.a);
    /* An aborted transaction leaves nothing. */
    c.n = 20;
    c.fail_with = EVL_EINVAL;
    cr_assert_eq(evl_kv_write(log, put_some, &c), EVL_EINVAL);
    reads_t r = {.c = &c};
    cr_assert_eq(evl_kv_read(log, read_back, &r), 0);
    cr_assert_eq(r.get_rc, EVL_ENOTFOUND);
    cr_assert_eq(r.in_a + r.in_b, 0);
    /* Both tables in one transaction. */
    c.fail_with = 0;
    cr_assert_eq(evl_kv_write(log, put_some, &c), 0);
    memset(&r, 0, sizeof r);
    r.c = &c;
    cr_assert_eq(evl_kv_read(log, read_back, &r), 0);
    cr_assert_eq(r.get_rc, 0);
    cr_assert_str_eq(r.got, "value-7");
    cr_assert_eq(r.in_a, 20);
    cr_assert_eq(r.in_b, 20);
    cr_assert_eq(r.prefixed, 10, "key-0010 .. key-0019");
    cr_assert_eq(r.put_rc, EVL_ESTATE, "a read transaction does not write");
    evl_log_close(log);
    /* Kept across a reopen. */
    log = test_open(NULL);
    cr_assert_eq(evl_kv_table(log, "connect.offsets", &c.a), 0);
    cr_assert_eq(evl_kv_table(log, "connect.status", &c.b), 0);
    memset(&r, 0, sizeof r);
    r.c = &c;
    cr_assert_eq(evl_kv_read(log, read_back, &r), 0);
    cr_assert_eq(r.in_a, 20);
    evl_log_close(log);
}

static int bad_handle(evl_kv_t *kv, void *arg)
{
    evl_kv_table_t mine = *(evl_kv_table_t *)arg;
    const void *v;
    size_t vl;
    /* Every other handle is LMDB's or the core's (topics, offsets...). */
    for (evl_kv_table_t t = 0; t < 16; t++)
        if (t != mine && evl_kv_get(kv, t, "k", 1, &v, &vl) != EVL_EINVAL)
            return -1;
    return evl_kv_get(kv, mine, "k", 1, &v, &vl) == EVL_ENOTFOUND ? 0 : -2;
}

Test(kv, core_tables_are_out_of_reach)
{
    evl_log_t *log = test_open(NULL);
    evl_kv_table_t t;
    cr_assert_eq(evl_kv_table(log, "area.one", &t), 0);
    cr_assert_eq(evl_kv_read(log, bad_handle, &t), 0);
    evl_log_close(log);
}

Test(kv, another_process_sees_a_committed_transaction)
{
    evl_log_t *log = test_open(NULL);
    ctx_t c = {0};
    cr_assert_eq(evl_kv_table(log, "registry.ids", &c.a), 0);
    cr_assert_eq(evl_kv_table(log, "registry.subjects", &c.b), 0);
    pid_t pid = fork();
    if (pid == 0) {
        evl_log_t *l2;
        ctx_t c2 = {0};
        if (evl_log_open(tpath("log"), NULL, &l2) || evl_kv_table(l2, "registry.ids", &c2.a) ||
            evl_kv_table(l2, "registry.subjects", &c2.b))
            _exit(2);
        c2.n = 5;
        _exit(evl_kv_write(l2, put_some, &c2) ? 3 : 0);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    reads_t r = {.c = &c};
    cr_assert_eq(evl_kv_read(log, read_back, &r), 0);
    cr_assert_eq(r.in_a, 5);
    cr_assert_eq(r.in_b, 5);
    evl_log_close(log);
}

Test(kv, a_transaction_runs_again_when_the_map_grows)
{
    evl_config_t *cfg = test_cfg("meta.mapsize", "1048576", NULL);
    evl_log_t *log = test_open(cfg);
    ctx_t c = {0};
    cr_assert_eq(evl_kv_table(log, "big.a", &c.a), 0);
    cr_assert_eq(evl_kv_table(log, "big.b", &c.b), 0);
    c.n = 40000; /* 80000 records: more than 1 MiB of pages */
    cr_assert_eq(evl_kv_write(log, put_some, &c), 0);
    cr_assert_gt(c.runs, 1, "it ran again after the map grew");
    reads_t r = {.c = &c};
    cr_assert_eq(evl_kv_read(log, read_back, &r), 0);
    cr_assert_eq(r.in_a, 40000);
    evl_log_close(log);
    evl_config_free(cfg);
}
