/*
 * test_group.c - consumer groups: assignors, threads and processes in one
 * group, rebalance callbacks, fencing, death by SIGKILL, partition growth,
 * administration.
 *
 * Processes: a test that needs a second member process forks it first,
 * before the parent opens the log (an LMDB environment must not cross a
 * fork), and talks to it through a MAP_SHARED page. The child ends with
 * _exit so that nothing of Criterion runs in it.
 *
 * Timings are printed, never asserted (the SIGKILL takeover time goes to
 * stderr); the waits below are generous bounds that only a hang reaches.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "group.h"
#include "helpers.h"

TestSuite(group, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 60);

static evl_log_t *lg;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void nap_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void mk_topic(evl_log_t *log, const char *name, int parts)
{
    int rc = evl_topic_create(log, name, parts, NULL);
    cr_assert_eq(rc, 0, "topic_create: %s", evl_strerror(rc));
}

static void fill(evl_log_t *log, const char *topic, int p, int n)
{
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(log, topic, NULL, &prod), 0);
    for (int i = 0; i < n; i++)
        test_send(prod, p, NULL, "x", 0);
    evl_producer_close(prod);
}

/* A consumer of group G on log with name=value settings (NULL-ended). */
static evl_consumer_t *member_of(evl_log_t *log, const char *group, ...)
{
    evl_config_t *cfg = evl_config_new();
    char err[128];
    if (group)
        evl_config_set(cfg, "group.id", group, err, sizeof err);
    evl_config_set(cfg, "auto.offset.reset", "earliest", err, sizeof err);
    va_list ap;
    va_start(ap, group);
    for (const char *n; (n = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (evl_config_set(cfg, n, v, err, sizeof err))
            abort();
    }
    va_end(ap);
    evl_consumer_t *cons = NULL;
    int rc = evl_consumer_new(log, cfg, &cons);
    evl_config_free(cfg);
    if (rc)
        abort();
    return cons;
}

static int subscribe1(evl_consumer_t *cons, const char *topic)
{
    const char *topics[] = {topic};
    return evl_consumer_subscribe(cons, topics, 1);
}

/* Bitmask of the partitions assigned to cons. */
static unsigned owned_mask(evl_consumer_t *cons)
{
    evl_topic_partition_t *tps;
    size_t n;
    unsigned mask = 0;
    if (evl_consumer_assignment(cons, &tps, &n) == 0)
        for (size_t i = 0; i < n; i++)
            mask |= 1u << tps[i].partition;
    free(tps);
    return mask;
}

/* Poll cons (discarding records) until its assignment is want, or ms. */
static bool poll_until_owns(evl_consumer_t *cons, unsigned want, int ms)
{
    const evl_record_t *recs[64];
    size_t n;
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        evl_consumer_poll(cons, 10, recs, 64, &n);
        if (owned_mask(cons) == want)
            return true;
    }
    return false;
}

/* ---- assignors (white-box, on group.h) ---------------------------------------- */

static void gs_init(evl_gstate_t *g, int strategy, const char *const *ids, int nm,
                    const int *tparts, int nt)
{
    memset(g, 0, sizeof *g);
    char name[16];
    for (int t = 0; t < nt; t++) {
        snprintf(name, sizeof name, "t%d", t);
        cr_assert_eq(evl__group_state_topic(g, name, true), t);
        g->nparts[t] = tparts[t];
    }
    g->members = calloc((size_t)nm, sizeof *g->members);
    for (int m = 0; m < nm; m++) {
        evl_gmember_t *mb = &g->members[g->nmembers++];
        snprintf(mb->id, sizeof mb->id, "%s", ids[m]);
        mb->strategy = (uint8_t)strategy;
        mb->subs = malloc((size_t)nt * sizeof *mb->subs);
        for (int t = 0; t < nt; t++)
            mb->subs[mb->nsubs++] = t;
    }
}

/* "t0:0,t0:1" style rendering of member m's target. */
static const char *target_str(const evl_gstate_t *g, int m)
{
    static char buf[256];
    buf[0] = 0;
    for (uint32_t i = 0; i < g->members[m].ntarget; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, "%s%s:%d", i ? "," : "",
                 g->topics[g->members[m].target[i].topic], g->members[m].target[i].part);
    }
    return buf;
}

Test(group, assignor_range)
{
    evl_gstate_t g;
    const char *ids[] = {"b", "a"}; /* members go by id, not by join order */
    int parts[] = {5, 3};
    gs_init(&g, 0 /* range */, ids, 2, parts, 2);
    cr_assert_eq(evl__group_assign(&g), 0);
    cr_assert_str_eq(target_str(&g, 1), "t0:0,t0:1,t0:2,t1:0,t1:1");
    cr_assert_str_eq(target_str(&g, 0), "t0:3,t0:4,t1:2");
    evl__group_state_free(&g);
}

Test(group, assignor_roundrobin_respects_subscriptions)
{
    evl_gstate_t g;
    const char *ids[] = {"a", "b"};
    int parts[] = {3, 2};
    gs_init(&g, 1 /* roundrobin */, ids, 2, parts, 2);
    g.members[0].nsubs = 1; /* a: t0 only */
    cr_assert_eq(evl__group_assign(&g), 0);
    cr_assert_str_eq(target_str(&g, 0), "t0:0,t0:2");
    cr_assert_str_eq(target_str(&g, 1), "t0:1,t1:0,t1:1");
    evl__group_state_free(&g);
}

Test(group, assignor_sticky_moves_only_what_balance_needs)
{
    evl_gstate_t g;
    const char *ids[] = {"a", "b", "c"};
    int parts[] = {6};
    gs_init(&g, 2 /* sticky */, ids, 3, parts, 1);
    cr_assert_eq(evl__group_assign(&g), 0);
    char before_a[64], before_c[64];
    snprintf(before_a, sizeof before_a, "%s", target_str(&g, 0));
    snprintf(before_c, sizeof before_c, "%s", target_str(&g, 2));
    for (int m = 0; m < 3; m++)
        cr_assert_eq(g.members[m].ntarget, 2);
    /* b leaves: a and c keep theirs and get one of b's each. */
    free(g.members[1].subs);
    free(g.members[1].target);
    g.members[1] = g.members[2];
    g.nmembers = 2;
    cr_assert_eq(evl__group_assign(&g), 0);
    cr_assert_eq(g.members[0].ntarget, 3);
    cr_assert_eq(g.members[1].ntarget, 3);
    for (int m = 0; m < 2; m++) {
        const char *was = m ? before_c : before_a;
        char now[64];
        snprintf(now, sizeof now, "%s", target_str(&g, m));
        for (const char *tok = was; *tok;) { /* every old partition is still there */
            char one[16];
            size_t len = strcspn(tok, ",");
            snprintf(one, sizeof one, "%.*s", (int)len, tok);
            cr_assert(strstr(now, one), "member %d lost %s (was %s, now %s)", m, one, was, now);
            tok += len + (tok[len] == ',');
        }
    }
    /* A new member joins: it gets two, each of the others gives one. */
    g.members = realloc(g.members, 3 * sizeof *g.members);
    memset(&g.members[2], 0, sizeof g.members[2]);
    snprintf(g.members[2].id, sizeof g.members[2].id, "0first");
    g.members[2].subs = malloc(sizeof(int32_t));
    g.members[2].subs[0] = 0;
    g.members[2].nsubs = 1;
    g.nmembers = 3;
    cr_assert_eq(evl__group_assign(&g), 0);
    for (int m = 0; m < 3; m++)
        cr_assert_eq(g.members[m].ntarget, 2, "member %d: %s", m, target_str(&g, m));
    evl__group_state_free(&g);
}

/* ---- threads of one process ------------------------------------------------------ */

#define NTHREADS 4
#define NPARTS 8
#define NRECS 800

struct tshared {
    _Atomic int owner[NPARTS];   /* members reading the partition now */
    _Atomic int overlap;         /* an ASSIGN found the partition owned */
    _Atomic unsigned mask[NTHREADS];
    _Atomic int seen[NPARTS][NRECS];
    _Atomic int stop;
};

struct tctx {
    struct tshared *sh;
    int idx;
};

static void excl_cb(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                    size_t count, void *opaque)
{
    struct tshared *sh = opaque;
    for (size_t i = 0; i < count; i++) {
        if (event == EVL_REBALANCE_ASSIGN && atomic_fetch_add(&sh->owner[parts[i].partition], 1))
            atomic_fetch_add(&sh->overlap, 1);
        if (event == EVL_REBALANCE_REVOKE)
            atomic_fetch_sub(&sh->owner[parts[i].partition], 1);
    }
}

static void *thread_member(void *arg)
{
    struct tctx *tc = arg;
    evl_consumer_t *cons = member_of(lg, "G", "enable.auto.commit", "false", NULL);
    evl_consumer_set_rebalance_cb(cons, excl_cb, tc->sh);
    if (subscribe1(cons, "t"))
        abort(); /* no cr_assert outside the test's thread */
    const evl_record_t *recs[32];
    size_t n;
    while (!atomic_load(&tc->sh->stop)) {
        if (evl_consumer_poll(cons, 10, recs, 32, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                atomic_fetch_add(&tc->sh->seen[evl_record_partition(recs[i])]
                                             [evl_record_offset(recs[i])], 1);
            evl_consumer_commit(cons);
        }
        atomic_store(&tc->sh->mask[tc->idx], owned_mask(cons));
    }
    evl_consumer_close(cons);
    return NULL;
}

Test(group, threads_get_disjoint_partitions_covering_the_topic)
{
    lg = test_open(NULL);
    mk_topic(lg, "t", NPARTS);
    for (int p = 0; p < NPARTS; p++)
        fill(lg, "t", p, NRECS / NPARTS);
    struct tshared *sh = calloc(1, sizeof *sh);
    struct tctx tc[NTHREADS];
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        tc[i] = (struct tctx){sh, i};
        pthread_create(&th[i], NULL, thread_member, &tc[i]);
    }
    bool stable = false;
    for (int64_t end = now_ms() + 20000; !stable && now_ms() < end; nap_ms(5)) {
        unsigned all = 0;
        int sum = 0;
        bool each = true;
        for (int i = 0; i < NTHREADS; i++) {
            unsigned m = atomic_load(&sh->mask[i]);
            all |= m;
            sum += __builtin_popcount(m);
            each = each && __builtin_popcount(m) == NPARTS / NTHREADS;
        }
        stable = each && sum == NPARTS && all == (1u << NPARTS) - 1;
    }
    cr_assert(stable, "assignment never became disjoint and covering");
    bool consumed = false;
    for (int64_t end = now_ms() + 20000; !consumed && now_ms() < end; nap_ms(5)) {
        consumed = true;
        for (int p = 0; p < NPARTS && consumed; p++)
            for (int o = 0; o < NRECS / NPARTS && consumed; o++)
                consumed = atomic_load(&sh->seen[p][o]) >= 1;
    }
    evl_group_info_t *info;
    cr_assert_eq(evl_group_describe(lg, "G", &info), 0);
    cr_assert_eq(evl_group_info_member_count(info), NTHREADS);
    for (size_t i = 0; i < evl_group_info_partition_count(info); i++) {
        const char *member;
        cr_assert_eq(evl_group_info_partition(info, i, NULL, NULL, NULL, NULL, &member), 0);
        cr_assert_not_null(member, "partition %zu has no owner", i);
    }
    evl_group_info_free(info);
    atomic_store(&sh->stop, 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&sh->overlap), 0, "two members read one partition at once");
    for (int p = 0; p < NPARTS; p++)
        for (int o = 0; o < NRECS / NPARTS; o++)
            cr_assert(atomic_load(&sh->seen[p][o]) >= 1, "%d/%d never consumed", p, o);
    free(sh);
    evl_log_close(lg);
}

/* ---- rebalance callbacks ---------------------------------------------------------- */

struct events {
    char log[64][32];
    int n;
    evl_consumer_t *other; /* the other member, to look at during a revoke */
    unsigned other_mask_at_revoke;
    int commit_rc_at_revoke;
};

static void record_cb(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                      size_t count, void *opaque)
{
    struct events *ev = opaque;
    char *s = ev->log[ev->n++];
    int len = snprintf(s, 32, "%c%s:", *(const char *)(ev->other ? "A" : "B"),
                       event == EVL_REBALANCE_REVOKE ? "-" : "+");
    for (size_t i = 0; i < count; i++)
        len += snprintf(s + len, (size_t)(32 - len), "%d", parts[i].partition);
    if (event == EVL_REBALANCE_REVOKE && ev->other) {
        ev->other_mask_at_revoke = owned_mask(ev->other);
        ev->commit_rc_at_revoke = evl_consumer_commit(cons);
    }
}

Test(group, rebalance_callbacks_revoke_before_assign)
{
    lg = test_open(NULL);
    mk_topic(lg, "t", 4);
    for (int p = 0; p < 4; p++)
        fill(lg, "t", p, 3);
    struct events ea = {.n = 0}, eb = {.n = 0};
    evl_consumer_t *a = member_of(lg, "G", "enable.auto.commit", "false", NULL);
    evl_consumer_t *b = member_of(lg, "G", "enable.auto.commit", "false", NULL);
    ea.other = b;
    evl_consumer_set_rebalance_cb(a, record_cb, &ea);
    evl_consumer_set_rebalance_cb(b, record_cb, &eb);
    cr_assert_eq(subscribe1(a, "t"), 0);
    cr_assert(poll_until_owns(a, 0xf, 5000));
    cr_assert_eq(ea.n, 1);
    cr_assert_str_eq(ea.log[0], "A+:0123");
    cr_assert_eq(subscribe1(b, "t"), 0);
    /* b cannot take anything before a gives it up. */
    const evl_record_t *recs[8];
    size_t n;
    evl_consumer_poll(b, 20, recs, 8, &n);
    cr_assert_eq(eb.n, 0, "b was assigned partitions a still owns");
    unsigned bm = 0, am = 0;
    for (int64_t end = now_ms() + 5000; now_ms() < end && (am | bm) != 0xf;) {
        evl_consumer_poll(a, 5, recs, 8, &n);
        evl_consumer_poll(b, 5, recs, 8, &n);
        am = owned_mask(a);
        bm = owned_mask(b);
    }
    cr_assert_eq(am & bm, 0);
    cr_assert_eq(am | bm, 0xf);
    cr_assert_eq(__builtin_popcount(am), 2);
    cr_assert_eq(ea.n, 2);
    cr_assert(ea.log[1][1] == '-', "%s", ea.log[1]);
    cr_assert_eq(ea.other_mask_at_revoke, 0, "b owned partitions during a's revoke");
    cr_assert_eq(ea.commit_rc_at_revoke, 0, "a commit inside the revoke callback must succeed");
    cr_assert_eq(eb.n, 1);
    cr_assert(eb.log[0][1] == '+');
    /* a leaves: revoke first (from close), then b gets everything. */
    evl_consumer_close(a);
    cr_assert_eq(ea.n, 3);
    cr_assert(ea.log[2][1] == '-', "%s", ea.log[2]);
    cr_assert(poll_until_owns(b, 0xf, 5000));
    cr_assert_eq(eb.n, 2);
    cr_assert(eb.log[1][1] == '+');
    evl_consumer_close(b);
    evl_log_close(lg);
}

/* ---- fencing ----------------------------------------------------------------------- */

struct lost {
    int revokes;
    size_t revoked;
    int commit_rc;
};

static void lost_cb(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                    size_t count, void *opaque)
{
    struct lost *l = opaque;
    if (event == EVL_REBALANCE_REVOKE) {
        l->revokes++;
        l->revoked += count;
        l->commit_rc = evl_consumer_commit_offsets(cons, parts, count, NULL);
    }
}

Test(group, stalled_member_is_fenced)
{
    lg = test_open(NULL);
    mk_topic(lg, "t", 2);
    fill(lg, "t", 0, 10);
    fill(lg, "t", 1, 10);
    struct lost l = {0, 0, 0};
    evl_consumer_t *a =
        member_of(lg, "G", "enable.auto.commit", "false", "max.poll.interval.ms", "100", NULL);
    evl_consumer_set_rebalance_cb(a, lost_cb, &l);
    cr_assert_eq(subscribe1(a, "t"), 0);
    cr_assert(poll_until_owns(a, 0x3, 5000));
    cr_assert_eq(evl_consumer_commit(a), 0);
    /* a stops polling; b notices after max.poll.interval.ms and takes over. */
    evl_consumer_t *b = member_of(lg, "G", "enable.auto.commit", "false", NULL);
    cr_assert_eq(subscribe1(b, "t"), 0);
    cr_assert(poll_until_owns(b, 0x3, 5000), "the stalled member kept its partitions");
    /* The zombie cannot move the group's offsets. */
    cr_assert_eq(evl_consumer_commit(a), EVL_EFENCED);
    evl_topic_partition_t tp = {"t", 0, 0};
    cr_assert_eq(evl_consumer_commit_offsets(a, &tp, 1, NULL), EVL_EFENCED);
    int64_t off;
    evl_consumer_t *peek = member_of(lg, "G", NULL);
    cr_assert_eq(evl_consumer_committed(peek, "t", 0, &off), 0);
    cr_assert_eq(off, 10, "a fenced commit changed the offset");
    evl_consumer_close(peek);
    cr_assert_eq(evl_consumer_commit(b), 0, "the current owner commits");
    /* Its next poll tells the zombie: lost partitions, EVL_EFENCED. */
    const evl_record_t *recs[4];
    size_t n;
    cr_assert_eq(evl_consumer_poll(a, 0, recs, 4, &n), EVL_EFENCED);
    cr_assert_eq(l.revokes, 1);
    cr_assert_eq(l.revoked, 2);
    cr_assert_eq(l.commit_rc, EVL_EFENCED);
    /* It joined again: the two share the topic once more. */
    unsigned am = 0, bm = 0;
    for (int64_t end = now_ms() + 5000; now_ms() < end && !(am && bm && (am | bm) == 3);) {
        evl_consumer_poll(a, 5, recs, 4, &n);
        evl_consumer_poll(b, 5, recs, 4, &n);
        am = owned_mask(a);
        bm = owned_mask(b);
    }
    cr_assert(am && bm && (am & bm) == 0 && (am | bm) == 3, "a=%x b=%x", am, bm);
    evl_consumer_close(a);
    evl_consumer_close(b);
    evl_log_close(lg);
}

/* A consumer outside the group may not commit a partition a member reads. */
Test(group, non_member_commit_refused_while_a_member_owns)
{
    lg = test_open(NULL);
    mk_topic(lg, "t", 1);
    evl_consumer_t *a = member_of(lg, "G", NULL);
    cr_assert_eq(subscribe1(a, "t"), 0);
    cr_assert(poll_until_owns(a, 0x1, 5000));
    evl_consumer_t *m = member_of(lg, "G", "enable.auto.commit", "false", NULL);
    evl_topic_partition_t tp = {"t", 0, 0};
    cr_assert_eq(evl_consumer_commit_offsets(m, &tp, 1, NULL), EVL_EFENCED);
    evl_consumer_close(a);
    cr_assert_eq(evl_consumer_commit_offsets(m, &tp, 1, NULL), 0);
    evl_consumer_close(m);
    evl_log_close(lg);
}

/* ---- growth, independence ----------------------------------------------------------- */

Test(group, rebalance_when_a_subscribed_topic_gains_partitions)
{
    lg = test_open(NULL);
    mk_topic(lg, "t", 2);
    evl_consumer_t *a = member_of(lg, "G", NULL), *b = member_of(lg, "G", NULL);
    cr_assert_eq(subscribe1(a, "t"), 0);
    cr_assert_eq(subscribe1(b, "t"), 0);
    const evl_record_t *recs[4];
    size_t n;
    unsigned am = 0, bm = 0;
    for (int64_t end = now_ms() + 5000; now_ms() < end && (am | bm) != 0x3;) {
        evl_consumer_poll(a, 5, recs, 4, &n);
        evl_consumer_poll(b, 5, recs, 4, &n);
        am = owned_mask(a);
        bm = owned_mask(b);
    }
    cr_assert_eq(am | bm, 0x3);
    cr_assert_eq(evl_topic_add_partitions(lg, "t", 4), 0);
    for (int64_t end = now_ms() + 5000; now_ms() < end && (am | bm) != 0xf;) {
        evl_consumer_poll(a, 5, recs, 4, &n);
        evl_consumer_poll(b, 5, recs, 4, &n);
        am = owned_mask(a);
        bm = owned_mask(b);
    }
    cr_assert_eq(am | bm, 0xf, "a=%x b=%x", am, bm);
    cr_assert_eq(am & bm, 0);
    fill(lg, "t", 3, 1);
    evl_consumer_t *owner3 = am & 8 ? a : b;
    cr_assert_eq(evl_consumer_poll(owner3, 2000, recs, 4, &n), 0);
    cr_assert_eq(evl_record_partition(recs[0]), 3);
    evl_consumer_close(a);
    evl_consumer_close(b);
    evl_log_close(lg);
}

Test(group, groups_are_independent)
{
    lg = test_open(NULL);
    mk_topic(lg, "t", 2);
    fill(lg, "t", 0, 5);
    fill(lg, "t", 1, 5);
    evl_consumer_t *c[2] = {member_of(lg, "G1", NULL), member_of(lg, "G2", NULL)};
    int got[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        cr_assert_eq(subscribe1(c[i], "t"), 0);
    const evl_record_t *recs[16];
    size_t n;
    for (int64_t end = now_ms() + 5000; now_ms() < end && (got[0] < 10 || got[1] < 10);)
        for (int i = 0; i < 2; i++)
            if (evl_consumer_poll(c[i], 5, recs, 16, &n) == 0)
                got[i] += (int)n;
    cr_assert_eq(got[0], 10);
    cr_assert_eq(got[1], 10);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(owned_mask(c[i]), 0x3);
    evl_consumer_close(c[0]);
    evl_consumer_close(c[1]);
    evl_log_close(lg);
}

/* ---- administration ------------------------------------------------------------------- */

Test(group, admin_list_describe_reset_delete)
{
    lg = test_open(NULL);
    mk_topic(lg, "t", 2);
    fill(lg, "t", 0, 5);
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(lg, "t", NULL, &prod), 0);
    for (int i = 0; i < 5; i++) { /* partition 1: timestamps 1000, 2000, ... */
        evl_msg_t m = {NULL, 0, "y", 1, NULL, 0, 1000 * (i + 1), 1, -1};
        cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    }
    evl_producer_close(prod);
    char **names;
    size_t count;
    evl_group_info_t *info;
    cr_assert_eq(evl_group_list(lg, &names, &count), 0);
    cr_assert_eq(count, 0);
    free(names);
    cr_assert_eq(evl_group_describe(lg, "G", &info), EVL_ENOTFOUND);
    cr_assert_null(info);
    cr_assert_eq(evl_group_delete(lg, "G"), EVL_ENOTFOUND);

    evl_consumer_t *a = member_of(lg, "G", NULL);
    cr_assert_eq(subscribe1(a, "t"), 0);
    const evl_record_t *recs[16];
    size_t n, got = 0;
    for (int64_t end = now_ms() + 5000; now_ms() < end && got < 10;)
        if (evl_consumer_poll(a, 5, recs, 16, &n) == 0)
            got += n;
    cr_assert_eq(got, 10);
    cr_assert_eq(evl_consumer_commit(a), 0);
    cr_assert_eq(evl_group_list(lg, &names, &count), 0);
    cr_assert_eq(count, 1);
    cr_assert_str_eq(names[0], "G");
    free(names);
    cr_assert_eq(evl_group_describe(lg, "G", &info), 0);
    cr_assert(evl_group_info_generation(info) >= 1);
    cr_assert_eq(evl_group_info_member_count(info), 1);
    const char *mid = evl_group_info_member(info, 0);
    cr_assert_not_null(mid);
    cr_assert_null(evl_group_info_member(info, 1));
    cr_assert_eq(evl_group_info_partition_count(info), 2);
    for (size_t i = 0; i < 2; i++) {
        const char *topic, *member;
        int32_t p;
        int64_t committed, end;
        cr_assert_eq(evl_group_info_partition(info, i, &topic, &p, &committed, &end, &member), 0);
        cr_assert_str_eq(topic, "t");
        cr_assert_eq(p, (int32_t)i);
        cr_assert_eq(committed, 5);
        cr_assert_eq(end, 5);
        cr_assert_str_eq(member, mid);
    }
    cr_assert_eq(evl_group_info_partition(info, 2, NULL, NULL, NULL, NULL, NULL), EVL_ENOTFOUND);
    evl_group_info_free(info);
    cr_assert_eq(evl_group_reset(lg, "G", "t", EVL_RESET_EARLIEST, 0), EVL_EBUSY);
    cr_assert_eq(evl_group_delete(lg, "G"), EVL_EBUSY);
    evl_consumer_close(a);

    int64_t want[][2] = {{EVL_RESET_EARLIEST, 0}, {EVL_RESET_LATEST, 5}, {EVL_RESET_OFFSET, 3},
                         {EVL_RESET_OFFSET, 100}, {EVL_RESET_TIMESTAMP, 2500}};
    int64_t expect[][2] = {{0, 0}, {5, 5}, {3, 3}, {5, 5}, {0, 2}}; /* p0: ts = now */
    for (size_t k = 0; k < 5; k++) {
        cr_assert_eq(evl_group_reset(lg, "G", "t", (int)want[k][0], want[k][1]), 0);
        cr_assert_eq(evl_group_describe(lg, "G", &info), 0);
        cr_assert_eq(evl_group_info_member_count(info), 0);
        for (size_t i = 0; i < 2; i++) {
            int64_t committed;
            const char *member = "x";
            evl_group_info_partition(info, i, NULL, NULL, &committed, NULL, &member);
            cr_assert_eq(committed, expect[k][i], "reset %zu partition %zu: %lld", k, i,
                         (long long)committed);
            cr_assert_null(member);
        }
        evl_group_info_free(info);
    }
    cr_assert_eq(evl_group_reset(lg, "G", "nope", EVL_RESET_EARLIEST, 0), EVL_ENOTFOUND);
    cr_assert_eq(evl_group_reset(lg, "G", "t", 99, 0), EVL_EINVAL);
    cr_assert_eq(evl_group_delete(lg, "G"), 0);
    cr_assert_eq(evl_group_list(lg, &names, &count), 0);
    cr_assert_eq(count, 0);
    free(names);
    cr_assert_eq(evl_group_describe(lg, "G", &info), EVL_ENOTFOUND);
    a = member_of(lg, "G", NULL);
    cr_assert_eq(evl_consumer_committed(a, "t", 0, &want[0][0]), EVL_ENOTFOUND, "offsets gone");
    evl_consumer_close(a);
    evl_log_close(lg);
}

/* ---- processes --------------------------------------------------------------------- */

#define PNKEYS 64
#define PMAXOFF 4096

struct pshared {
    _Atomic int go, stop, joined;
    _Atomic unsigned owned;          /* the child's assignment */
    _Atomic int64_t processed;       /* records the child processed */
    _Atomic unsigned char seen[4][PMAXOFF];
    _Atomic int order_violations;
    _Atomic int64_t t0_us, takeover_us; /* SIGKILL, first record of its partitions */
    _Atomic unsigned victim;         /* the killed child's partitions */
};

static struct pshared *pshared_new(void)
{
    void *p = mmap(NULL, sizeof(struct pshared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    cr_assert(p != MAP_FAILED);
    return p;
}

/* A member's view for per-key order: the last sequence number seen per key
 * since the key's partition was (re)assigned to it. */
struct pmember {
    struct pshared *sh;
    int64_t last[PNKEYS];
    int keypart[PNKEYS];
};

static void pmember_init(struct pmember *m, struct pshared *sh)
{
    m->sh = sh;
    for (int k = 0; k < PNKEYS; k++) {
        m->last[k] = -1;
        m->keypart[k] = -1;
    }
}

static void pmember_cb(evl_consumer_t *cons, int event, const evl_topic_partition_t *parts,
                       size_t count, void *opaque)
{
    struct pmember *m = opaque;
    if (event != EVL_REBALANCE_ASSIGN)
        return;
    for (size_t i = 0; i < count; i++) /* a replay from the committed offset may follow */
        for (int k = 0; k < PNKEYS; k++)
            if (m->keypart[k] == parts[i].partition)
                m->last[k] = -1;
}

static void process(struct pmember *m, const evl_record_t *r)
{
    size_t kl, vl;
    const char *key = evl_record_key(r, &kl), *val = evl_record_value(r, &vl);
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)kl, key);
    int k = atoi(buf + 1);
    snprintf(buf, sizeof buf, "%.*s", (int)vl, val);
    int64_t seq = atoll(buf), off = evl_record_offset(r);
    int p = evl_record_partition(r);
    if (seq <= m->last[k])
        atomic_fetch_add(&m->sh->order_violations, 1);
    m->last[k] = seq;
    m->keypart[k] = p;
    if (off < PMAXOFF)
        atomic_fetch_add(&m->sh->seen[p][off], 1);
}

/* The forked member: joins when told, processes (slowly: slow_us per
 * batch), commits each batch, publishes its assignment; leaves on stop. */
static void child_member(struct pshared *sh, int slow_us)
{
    while (!atomic_load(&sh->go))
        nap_ms(1);
    evl_log_t *log;
    if (evl_log_open(tpath("log"), NULL, &log))
        _exit(2);
    evl_consumer_t *cons = member_of(log, "G", "enable.auto.commit", "false", NULL);
    struct pmember m;
    pmember_init(&m, sh);
    evl_consumer_set_rebalance_cb(cons, pmember_cb, &m);
    if (subscribe1(cons, "t"))
        _exit(3);
    const evl_record_t *recs[20];
    size_t n;
    while (!atomic_load(&sh->stop)) {
        if (evl_consumer_poll(cons, 10, recs, 20, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                process(&m, recs[i]);
            if (evl_consumer_commit(cons))
                _exit(4);
            atomic_fetch_add(&sh->processed, (int64_t)n);
            if (slow_us)
                usleep((useconds_t)slow_us);
        }
        unsigned mask = owned_mask(cons);
        atomic_store(&sh->owned, mask);
        if (mask)
            atomic_store(&sh->joined, 1);
    }
    evl_consumer_close(cons);
    evl_log_close(log);
    _exit(0);
}

static pid_t fork_member(struct pshared *sh, int slow_us)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        child_member(sh, slow_us);
    return pid;
}

Test(group, second_process_takes_over_some_partitions)
{
    struct pshared *sh = pshared_new();
    pid_t pid = fork_member(sh, 0);
    lg = test_open(NULL);
    mk_topic(lg, "t", 4);
    evl_consumer_t *a = member_of(lg, "G", "enable.auto.commit", "false", NULL);
    struct pmember m;
    pmember_init(&m, sh);
    evl_consumer_set_rebalance_cb(a, pmember_cb, &m);
    cr_assert_eq(subscribe1(a, "t"), 0);
    cr_assert(poll_until_owns(a, 0xf, 5000));
    atomic_store(&sh->go, 1);
    const evl_record_t *recs[32];
    size_t n;
    unsigned am = 0xf, cm = 0;
    for (int64_t end = now_ms() + 10000; now_ms() < end && !(am && cm && (am | cm) == 0xf);) {
        if (evl_consumer_poll(a, 10, recs, 32, &n) == 0)
            evl_consumer_commit(a);
        am = owned_mask(a);
        cm = atomic_load(&sh->owned);
    }
    cr_assert(am && cm && (am & cm) == 0 && (am | cm) == 0xf, "a=%x child=%x", am, cm);
    /* Both consume their own partitions, each record exactly once. */
    evl_producer_t *prod;
    cr_assert_eq(evl_producer_new(lg, "t", NULL, &prod), 0);
    for (int i = 0; i < 200; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "k%d", i % PNKEYS);
        snprintf(v, sizeof v, "%d", i);
        test_send(prod, EVL_PARTITION_ANY, k, v, 0);
    }
    evl_producer_close(prod);
    int64_t mine = 0;
    for (int64_t end = now_ms() + 10000; now_ms() < end && mine + atomic_load(&sh->processed) < 200;)
        if (evl_consumer_poll(a, 10, recs, 32, &n) == 0) {
            for (size_t i = 0; i < n; i++)
                process(&m, recs[i]);
            mine += (int64_t)n;
            evl_consumer_commit(a);
        }
    cr_assert_eq(mine + atomic_load(&sh->processed), 200);
    cr_assert(mine > 0 && atomic_load(&sh->processed) > 0);
    cr_assert_eq(owned_mask(a), am, "the assignment moved while stable");
    for (int p = 0; p < 4; p++) {
        evl_partition_info_t info;
        evl_partition_info(lg, "t", p, &info);
        for (int64_t o = 0; o < info.end_offset; o++)
            cr_assert_eq(atomic_load(&sh->seen[p][o]), 1, "%d/%lld read %d times", p,
                         (long long)o, atomic_load(&sh->seen[p][o]));
    }
    cr_assert_eq(atomic_load(&sh->order_violations), 0);
    /* The child leaves cleanly; its partitions come back. */
    atomic_store(&sh->stop, 1);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    cr_assert(poll_until_owns(a, 0xf, 5000));
    evl_consumer_close(a);
    evl_log_close(lg);
    munmap(sh, sizeof *sh);
}

#define KILL_N 3000

static int64_t mono_us(void) { return (int64_t)(now_ms_f() * 1000.0); }

struct survivor {
    struct pshared *sh;
    pthread_t th;
};

static void *survivor_main(void *arg)
{
    struct survivor *sv = arg;
    struct pmember m;
    pmember_init(&m, sv->sh);
    evl_consumer_t *cons = member_of(lg, "G", "enable.auto.commit", "false", NULL);
    evl_consumer_set_rebalance_cb(cons, pmember_cb, &m);
    if (subscribe1(cons, "t"))
        abort();
    const evl_record_t *recs[50];
    size_t n;
    while (!atomic_load(&sv->sh->stop)) {
        if (evl_consumer_poll(cons, 10, recs, 50, &n) != 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            process(&m, recs[i]);
            int64_t zero = 0;
            if (atomic_load(&sv->sh->t0_us) &&
                (atomic_load(&sv->sh->victim) >> evl_record_partition(recs[i]) & 1))
                atomic_compare_exchange_strong(&sv->sh->takeover_us, &zero, mono_us());
        }
        evl_consumer_commit(cons);
    }
    evl_consumer_close(cons);
    return NULL;
}

static void *kill_producer(void *arg)
{
    evl_producer_t *prod;
    if (evl_producer_new(lg, "t", NULL, &prod))
        abort();
    for (int i = 0; i < KILL_N; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "k%d", i % PNKEYS);
        snprintf(v, sizeof v, "%d", i / PNKEYS);
        evl_msg_t msg = {k, strlen(k), v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW,
                         EVL_PARTITION_ANY, -1};
        if (evl_producer_send(prod, &msg, 0))
            abort();
        if (i % 10 == 9)
            nap_ms(1);
    }
    evl_producer_close(prod);
    return arg;
}

/* A member process is SIGKILLed mid-stream: the survivors take its
 * partitions over (the time is printed), every record is processed at
 * least once, and per key in order. */
Test(group, sigkilled_member_loses_partitions_to_survivors)
{
    struct pshared *sh = pshared_new();
    pid_t pid = fork_member(sh, 2000);
    lg = test_open(NULL);
    mk_topic(lg, "t", 4);
    struct survivor sv[2];
    for (int i = 0; i < 2; i++) {
        sv[i].sh = sh;
        pthread_create(&sv[i].th, NULL, survivor_main, &sv[i]);
    }
    atomic_store(&sh->go, 1);
    for (int64_t end = now_ms() + 10000; now_ms() < end && !atomic_load(&sh->joined);)
        nap_ms(1);
    cr_assert(atomic_load(&sh->joined), "the child never got a partition");
    pthread_t prod;
    pthread_create(&prod, NULL, kill_producer, NULL);
    for (int64_t end = now_ms() + 10000; now_ms() < end && atomic_load(&sh->processed) < 100;)
        nap_ms(1);
    cr_assert(atomic_load(&sh->processed) >= 100);
    atomic_store(&sh->victim, atomic_load(&sh->owned));
    atomic_store(&sh->t0_us, mono_us());
    kill(pid, SIGKILL);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status));
    pthread_join(prod, NULL);
    /* Wait until every produced record was processed by someone. */
    bool all = false;
    for (int64_t end = now_ms() + 20000; !all && now_ms() < end; nap_ms(5)) {
        int64_t total = 0;
        for (int p = 0; p < 4; p++) {
            evl_partition_info_t info;
            evl_partition_info(lg, "t", p, &info);
            for (int64_t o = 0; o < info.end_offset && o < PMAXOFF; o++)
                total += atomic_load(&sh->seen[p][o]) > 0;
        }
        all = total == KILL_N;
    }
    atomic_store(&sh->stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(sv[i].th, NULL);
    cr_assert(all, "records were lost");
    cr_assert_eq(atomic_load(&sh->order_violations), 0, "per-key order broken");
    cr_assert(atomic_load(&sh->takeover_us) > 0, "nobody consumed the dead member's partitions");
    fprintf(stderr, "group: SIGKILL of a member -> its partition consumed by a survivor: %.1f ms\n",
            (double)(atomic_load(&sh->takeover_us) - atomic_load(&sh->t0_us)) / 1000.0);
    evl_group_info_t *info;
    cr_assert_eq(evl_group_describe(lg, "G", &info), 0);
    cr_assert_eq(evl_group_info_member_count(info), 0);
    for (size_t i = 0; i < evl_group_info_partition_count(info); i++) {
        int64_t committed, end;
        evl_group_info_partition(info, i, NULL, NULL, &committed, &end, NULL);
        cr_assert_eq(committed, end, "partition %zu not fully committed", i);
    }
    evl_group_info_free(info);
    evl_log_close(lg);
    munmap(sh, sizeof *sh);
}

/* With every member SIGKILLed, nobody is left to notice: the admin calls
 * find the dead members themselves, so the group is not busy forever. */
Test(group, admin_calls_reap_dead_members)
{
    struct pshared *sh = pshared_new();
    pid_t pid = fork_member(sh, 0);
    lg = test_open(NULL);
    mk_topic(lg, "t", 1);
    atomic_store(&sh->go, 1);
    for (int64_t end = now_ms() + 10000; now_ms() < end && !atomic_load(&sh->joined);)
        nap_ms(1);
    cr_assert(atomic_load(&sh->joined));
    cr_assert_eq(evl_group_delete(lg, "G"), EVL_EBUSY);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    evl_group_info_t *info;
    cr_assert_eq(evl_group_describe(lg, "G", &info), 0);
    cr_assert_eq(evl_group_info_member_count(info), 0);
    evl_group_info_free(info);
    cr_assert_eq(evl_group_reset(lg, "G", "t", EVL_RESET_LATEST, 0), 0);
    cr_assert_eq(evl_group_delete(lg, "G"), 0);
    evl_log_close(lg);
    munmap(sh, sizeof *sh);
}
