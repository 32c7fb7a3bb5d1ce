/*
 * test_consumer.c - evl_consumer_t alone: manual assignment, batches across
 * partitions and segments, positions and seeks, commits, reset policies,
 * lag, clamping of a committed offset past the end, blocking polls.
 *
 * Group behaviour (several members, rebalances, processes) is in
 * test_group.c. Every test has its own log directory (helpers.h).
 */
#include <pthread.h>
#include <time.h>

#include "helpers.h"

TestSuite(consumer, .init = test_dir_setup, .fini = test_dir_teardown, .timeout = 30);

static evl_log_t *lg;

static void mk_topic(const char *name, int parts, evl_config_t *tcfg)
{
    int rc = evl_topic_create(lg, name, parts, tcfg);
    cr_assert_eq(rc, 0, "topic_create: %s", evl_strerror(rc));
}

static evl_producer_t *producer(const char *topic)
{
    evl_producer_t *prod;
    int rc = evl_producer_new(lg, topic, NULL, &prod);
    cr_assert_eq(rc, 0, "producer_new: %s", evl_strerror(rc));
    return prod;
}

/* n records "v<i>" to partition p of topic, starting with i = first. */
static void fill(const char *topic, int p, int first, int n)
{
    evl_producer_t *prod = producer(topic);
    char v[32];
    for (int i = first; i < first + n; i++) {
        snprintf(v, sizeof v, "v%d", i);
        test_send(prod, p, NULL, v, 0);
    }
    evl_producer_close(prod);
}

static evl_consumer_t *consumer(const char *name, ...)
{
    evl_config_t *cfg = evl_config_new();
    va_list ap;
    va_start(ap, name);
    for (const char *n = name; n; n = va_arg(ap, const char *)) {
        const char *v = va_arg(ap, const char *);
        char err[128];
        cr_assert_eq(evl_config_set(cfg, n, v, err, sizeof err), 0, "%s: %s", n, err);
    }
    va_end(ap);
    evl_consumer_t *cons;
    int rc = evl_consumer_new(lg, cfg, &cons);
    evl_config_free(cfg);
    cr_assert_eq(rc, 0, "consumer_new: %s", evl_strerror(rc));
    return cons;
}

static void assign1(evl_consumer_t *cons, const char *topic, int p, int64_t off)
{
    evl_topic_partition_t tp = {topic, p, off};
    int rc = evl_consumer_assign(cons, &tp, 1);
    cr_assert_eq(rc, 0, "assign: %s", evl_strerror(rc));
}

static int64_t value_num(const evl_record_t *r)
{
    size_t len;
    const char *v = evl_record_value(r, &len);
    cr_assert(v && len > 1 && v[0] == 'v');
    return strtoll(v + 1, NULL, 10);
}

static void setup_log(void) { lg = test_open(NULL); }

static evl_log_t *open_with_log_cb(void)
{
    evl_config_t *cfg = test_cfg(NULL);
    evl_log_t *log = test_open(cfg);
    evl_config_free(cfg);
    return log;
}

Test(consumer, manual_assign_batches_are_fair_across_partitions)
{
    setup_log();
    mk_topic("t", 2, NULL);
    fill("t", 0, 0, 50);
    fill("t", 1, 1000, 50);
    evl_consumer_t *cons = consumer(NULL);
    evl_topic_partition_t tps[2] = {{"t", 0, EVL_OFFSET_BEGINNING}, {"t", 1, EVL_OFFSET_BEGINNING}};
    cr_assert_eq(evl_consumer_assign(cons, tps, 2), 0);
    const evl_record_t *recs[20];
    size_t n;
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 20, &n), 0);
    cr_assert_eq(n, 20);
    int per[2] = {0, 0};
    int64_t next[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        int p = evl_record_partition(recs[i]);
        cr_assert_str_eq(evl_record_topic(recs[i]), "t");
        cr_assert_eq(evl_record_offset(recs[i]), next[p]++, "offsets in order per partition");
        cr_assert_eq(value_num(recs[i]), p * 1000 + evl_record_offset(recs[i]));
        per[p]++;
    }
    cr_assert_eq(per[0], 10, "one batch serves both partitions evenly");
    cr_assert_eq(per[1], 10);
    int64_t pos;
    cr_assert_eq(evl_consumer_position(cons, "t", 0, &pos), 0);
    cr_assert_eq(pos, 10);
    cr_assert_eq(evl_consumer_position(cons, "t", 5, &pos), EVL_ENOTFOUND);
    /* Drain; then nothing. */
    size_t total = n;
    while (evl_consumer_poll(cons, 0, recs, 20, &n) == 0)
        total += n;
    cr_assert_eq(total, 100);
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 20, &n), EVL_ETIMEDOUT);
    cr_assert_eq(n, 0);
    evl_topic_partition_t *as;
    size_t count;
    cr_assert_eq(evl_consumer_assignment(cons, &as, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert_str_eq(as[0].topic, "t");
    cr_assert_eq(as[0].offset, 50);
    free(as);
    evl_consumer_close(cons);
    evl_log_close(lg);
}

/* A batch that crosses several segments: every view stays valid until the
 * next poll (segments left behind stay pinned). */
Test(consumer, batch_views_stay_valid_across_segments)
{
    setup_log();
    evl_config_t *tcfg = test_cfg("segment.bytes", "65536", "max.message.bytes", "8192", NULL);
    mk_topic("t", 1, tcfg);
    evl_config_free(tcfg);
    evl_producer_t *prod = producer("t");
    char big[3000];
    for (int i = 0; i < 100; i++) {
        memset(big, 'a' + i % 26, sizeof big - 1);
        big[sizeof big - 1] = 0;
        test_send(prod, 0, NULL, big, 0);
    }
    evl_producer_close(prod);
    evl_partition_info_t info;
    cr_assert_eq(evl_partition_info(lg, "t", 0, &info), 0);
    cr_assert(info.segments >= 3, "%lld segments", (long long)info.segments);
    evl_consumer_t *cons = consumer(NULL);
    assign1(cons, "t", 0, EVL_OFFSET_BEGINNING);
    const evl_record_t *recs[100];
    size_t n, total = 0;
    while (total < 100) {
        cr_assert_eq(evl_consumer_poll(cons, 1000, recs, 100, &n), 0);
        for (size_t i = 0; i < n; i++) { /* check all views only after the batch */
            size_t len;
            const char *v = evl_record_value(recs[i], &len);
            int64_t off = evl_record_offset(recs[i]);
            cr_assert_eq(off, (int64_t)(total + i));
            cr_assert_eq(len, sizeof big - 1);
            cr_assert(v[0] == 'a' + off % 26 && v[len - 1] == 'a' + off % 26);
        }
        total += n;
    }
    evl_consumer_close(cons);
    evl_log_close(lg);
}

Test(consumer, seek_and_seek_time)
{
    setup_log();
    mk_topic("t", 1, NULL);
    evl_producer_t *prod = producer("t");
    for (int i = 0; i < 10; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        evl_msg_t m = {NULL, 0, v, strlen(v), NULL, 0, 1000 * (i + 1), 0, -1};
        cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    }
    evl_producer_close(prod);
    evl_consumer_t *cons = consumer(NULL);
    assign1(cons, "t", 0, 4);
    const evl_record_t *recs[4];
    size_t n;
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 4);
    cr_assert_eq(evl_consumer_seek(cons, "t", 0, 7), 0);
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 7);
    cr_assert_eq(evl_consumer_seek_time(cons, "t", 0, 2500), 0);
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 2, "first record with ts >= 2500");
    cr_assert_eq(evl_consumer_seek(cons, "t", 0, EVL_OFFSET_END), 0);
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 1, &n), EVL_ETIMEDOUT);
    cr_assert_eq(evl_consumer_seek(cons, "t", 0, 11), EVL_EOFFSET);
    cr_assert_eq(evl_consumer_seek(cons, "t", 1, 0), EVL_ENOTFOUND, "not assigned");
    /* An explicit offset out of range is refused and changes nothing. */
    evl_topic_partition_t bad = {"t", 0, 99};
    cr_assert_eq(evl_consumer_assign(cons, &bad, 1), EVL_EOFFSET);
    int64_t pos;
    cr_assert_eq(evl_consumer_position(cons, "t", 0, &pos), 0);
    cr_assert_eq(pos, 10);
    evl_consumer_close(cons);
    evl_log_close(lg);
}

Test(consumer, commit_committed_and_metadata)
{
    setup_log();
    mk_topic("t", 2, NULL);
    fill("t", 0, 0, 10);
    evl_consumer_t *nog = consumer(NULL);
    cr_assert_eq(evl_consumer_commit(nog), EVL_ESTATE, "no group.id");
    const char *topics[] = {"t"};
    cr_assert_eq(evl_consumer_subscribe(nog, topics, 1), EVL_ESTATE);
    evl_consumer_close(nog);

    evl_consumer_t *cons = consumer("group.id", "G", "enable.auto.commit", "false", NULL);
    int64_t off = -7;
    cr_assert_eq(evl_consumer_committed(cons, "t", 0, &off), EVL_ENOTFOUND);
    assign1(cons, "t", 0, EVL_OFFSET_BEGINNING);
    const evl_record_t *recs[4];
    size_t n;
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 4, &n), 0);
    cr_assert_eq(evl_consumer_commit(cons), 0);
    cr_assert_eq(evl_consumer_committed(cons, "t", 0, &off), 0);
    cr_assert_eq(off, 4);
    evl_topic_partition_t tp = {"t", 1, 0};
    cr_assert_eq(evl_consumer_commit_offsets(cons, &tp, 1, "from a test"), 0);
    cr_assert_eq(evl_consumer_committed(cons, "t", 1, &off), 0);
    cr_assert_eq(off, 0);
    tp.offset = -5;
    cr_assert_eq(evl_consumer_commit_offsets(cons, &tp, 1, NULL), EVL_EINVAL);
    /* A second consumer of the group starts where the first committed. */
    evl_consumer_t *c2 = consumer("group.id", "G", NULL);
    assign1(c2, "t", 0, EVL_OFFSET_COMMITTED);
    cr_assert_eq(evl_consumer_poll(c2, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 4);
    evl_consumer_close(c2);
    evl_consumer_close(cons);
    /* Any commit makes the group visible to the admin calls. */
    char **names;
    size_t count;
    cr_assert_eq(evl_group_list(lg, &names, &count), 0);
    cr_assert_eq(count, 1);
    cr_assert_str_eq(names[0], "G");
    free(names);
    evl_log_close(lg);
}

Test(consumer, auto_commit_from_poll_and_close)
{
    setup_log();
    mk_topic("t", 1, NULL);
    fill("t", 0, 0, 10);
    evl_consumer_t *cons =
        consumer("group.id", "G", "auto.commit.interval.ms", "1", "auto.offset.reset", "earliest",
                 NULL);
    assign1(cons, "t", 0, EVL_OFFSET_COMMITTED);
    const evl_record_t *recs[4];
    size_t n;
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 3, &n), 0);
    struct timespec nap = {0, 3000000};
    nanosleep(&nap, NULL);
    /* The next poll commits what the previous one returned. */
    cr_assert_eq(evl_consumer_poll(cons, 0, recs, 2, &n), 0);
    int64_t off;
    cr_assert_eq(evl_consumer_committed(cons, "t", 0, &off), 0);
    cr_assert_eq(off, 3);
    evl_consumer_close(cons); /* commits 5 */
    cons = consumer("group.id", "G", NULL);
    cr_assert_eq(evl_consumer_committed(cons, "t", 0, &off), 0);
    cr_assert_eq(off, 5);
    evl_consumer_close(cons);
    evl_log_close(lg);
}

Test(consumer, reset_policies_without_a_committed_offset)
{
    setup_log();
    mk_topic("t", 1, NULL);
    fill("t", 0, 0, 10);
    const evl_record_t *recs[4];
    size_t n;

    evl_consumer_t *e = consumer("group.id", "E", "auto.offset.reset", "earliest", NULL);
    assign1(e, "t", 0, EVL_OFFSET_COMMITTED);
    cr_assert_eq(evl_consumer_poll(e, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 0);

    evl_consumer_t *l = consumer("group.id", "L", "auto.offset.reset", "latest", NULL);
    assign1(l, "t", 0, EVL_OFFSET_COMMITTED);
    cr_assert_eq(evl_consumer_poll(l, 0, recs, 1, &n), EVL_ETIMEDOUT);
    fill("t", 0, 10, 1);
    cr_assert_eq(evl_consumer_poll(l, 1000, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 10);

    evl_consumer_t *x = consumer("group.id", "X", "auto.offset.reset", "none", NULL);
    assign1(x, "t", 0, EVL_OFFSET_COMMITTED);
    int64_t pos;
    cr_assert_eq(evl_consumer_poll(x, 0, recs, 1, &n), EVL_ENOOFFSET);
    cr_assert_eq(evl_consumer_position(x, "t", 0, &pos), EVL_ENOOFFSET);
    cr_assert_eq(evl_consumer_seek(x, "t", 0, 3), 0);
    cr_assert_eq(evl_consumer_poll(x, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 3);

    /* The same policies for a subscribed member. */
    evl_consumer_t *s = consumer("group.id", "S", "auto.offset.reset", "none", NULL);
    const char *topics[] = {"t"};
    cr_assert_eq(evl_consumer_subscribe(s, topics, 1), 0);
    int rc = EVL_ETIMEDOUT;
    for (int i = 0; i < 100 && rc == EVL_ETIMEDOUT; i++)
        rc = evl_consumer_poll(s, 10, recs, 1, &n);
    cr_assert_eq(rc, EVL_ENOOFFSET);
    cr_assert_eq(evl_consumer_seek(s, "t", 0, EVL_OFFSET_BEGINNING), 0);
    cr_assert_eq(evl_consumer_poll(s, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 0);

    evl_consumer_close(s);
    evl_consumer_close(e);
    evl_consumer_close(l);
    evl_consumer_close(x);
    evl_log_close(lg);
}

/* A committed offset that retention left behind (below the log start)
 * takes the reset policy; none says so with EVL_ENOOFFSET. */
Test(consumer, committed_offset_below_log_start_takes_reset_policy)
{
    setup_log();
    evl_config_t *tcfg = test_cfg("segment.bytes", "65536", "max.message.bytes", "8192",
                                  "retention.bytes", "70000", NULL);
    mk_topic("t", 1, tcfg);
    evl_config_free(tcfg);
    evl_consumer_t *c = consumer("group.id", "G", NULL);
    evl_topic_partition_t tp = {"t", 0, 0};
    cr_assert_eq(evl_consumer_commit_offsets(c, &tp, 1, NULL), 0);
    evl_consumer_close(c);
    evl_producer_t *prod = producer("t");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 200; i++)
        test_send(prod, 0, NULL, big, 0);
    evl_producer_close(prod);
    cr_assert_eq(evl_log_retention_run(lg), 0);
    evl_partition_info_t info;
    cr_assert_eq(evl_partition_info(lg, "t", 0, &info), 0);
    cr_assert(info.start_offset > 0, "retention removed nothing");

    const evl_record_t *recs[1];
    size_t n;
    int64_t pos;
    c = consumer("group.id", "G", "auto.offset.reset", "earliest", "enable.auto.commit", "false",
                 NULL);
    assign1(c, "t", 0, EVL_OFFSET_COMMITTED);
    cr_assert_eq(evl_consumer_position(c, "t", 0, &pos), 0);
    cr_assert_eq(pos, info.start_offset);
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 1, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), info.start_offset);
    evl_consumer_close(c);
    c = consumer("group.id", "G", "auto.offset.reset", "latest", "enable.auto.commit", "false",
                 NULL);
    assign1(c, "t", 0, EVL_OFFSET_COMMITTED);
    cr_assert_eq(evl_consumer_position(c, "t", 0, &pos), 0);
    cr_assert_eq(pos, info.end_offset);
    evl_consumer_close(c);
    c = consumer("group.id", "G", "auto.offset.reset", "none", NULL);
    assign1(c, "t", 0, EVL_OFFSET_COMMITTED);
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 1, &n), EVL_ENOOFFSET);
    evl_consumer_close(c);
    evl_log_close(lg);
}

/* After a crash truncated the tail, a committed offset can be past the
 * end: the consumer starts at the end and says so, never at the start. */
Test(consumer, committed_offset_past_end_is_clamped_and_reported)
{
    lg = open_with_log_cb();
    mk_topic("t", 1, NULL);
    fill("t", 0, 0, 5);
    evl_consumer_t *c = consumer("group.id", "G", NULL);
    evl_topic_partition_t tp = {"t", 0, 40}; /* as if offsets 5..39 were lost */
    cr_assert_eq(evl_consumer_commit_offsets(c, &tp, 1, NULL), 0);
    evl_consumer_close(c);

    c = consumer("group.id", "G", "auto.offset.reset", "earliest", NULL);
    const char *topics[] = {"t"};
    cr_assert_eq(evl_consumer_subscribe(c, topics, 1), 0);
    const evl_record_t *recs[4];
    size_t n;
    int64_t pos = -1;
    for (int i = 0; i < 100 && evl_consumer_position(c, "t", 0, &pos) != 0; i++)
        cr_assert_eq(evl_consumer_poll(c, 10, recs, 4, &n), EVL_ETIMEDOUT, "nothing to read");
    cr_assert_eq(pos, 5, "clamped to the end, not reset to the beginning");
    cr_assert(strstr(test_logbuf, "past the end"), "not reported: %s", test_logbuf);
    fill("t", 0, 5, 1);
    cr_assert_eq(evl_consumer_poll(c, 1000, recs, 4, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 5);
    evl_consumer_close(c);
    evl_log_close(lg);
}

Test(consumer, lag_figures)
{
    setup_log();
    mk_topic("t", 2, NULL);
    fill("t", 0, 0, 10);
    fill("t", 1, 0, 4);
    evl_consumer_t *c = consumer("group.id", "G", "enable.auto.commit", "false", NULL);
    evl_topic_partition_t tps[2] = {{"t", 0, EVL_OFFSET_BEGINNING}, {"t", 1, 2}};
    cr_assert_eq(evl_consumer_assign(c, tps, 2), 0);
    int64_t lag;
    cr_assert_eq(evl_consumer_lag(c, "t", 0, &lag), 0);
    cr_assert_eq(lag, 10, "nothing committed: end - position");
    cr_assert_eq(evl_consumer_lag(c, "t", 1, &lag), 0);
    cr_assert_eq(lag, 2);
    const evl_record_t *recs[6];
    size_t n;
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 6, &n), 0);
    cr_assert_eq(n, 6); /* 3 + 2, then 1 more from partition 0 */
    cr_assert_eq(evl_consumer_commit(c), 0);
    cr_assert_eq(evl_consumer_lag(c, "t", 0, &lag), 0);
    cr_assert_eq(lag, 6);
    cr_assert_eq(evl_consumer_lag(c, "t", 1, &lag), 0);
    cr_assert_eq(lag, 0);
    fill("t", 1, 4, 3);
    cr_assert_eq(evl_consumer_lag(c, "t", 1, &lag), 0);
    cr_assert_eq(lag, 3, "end moved, committed did not");
    cr_assert_eq(evl_consumer_lag(c, "u", 0, &lag), EVL_ENOTFOUND);
    evl_consumer_close(c);
    evl_log_close(lg);
}

static void *late_producer(void *arg)
{
    struct timespec nap = {0, 50 * 1000000};
    nanosleep(&nap, NULL);
    fill(arg, 1, 77, 1);
    return NULL;
}

/* A waiting poll on c while late_producer appends record 77 to partition
 * 1 of "t": it returns that record. */
static void poll_late_append(evl_consumer_t *c)
{
    pthread_t th;
    pthread_create(&th, NULL, late_producer, "t");
    const evl_record_t *recs[2];
    size_t n;
    cr_assert_eq(evl_consumer_poll(c, 10000, recs, 2, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(evl_record_partition(recs[0]), 1);
    cr_assert_eq(value_num(recs[0]), 77);
    pthread_join(th, NULL);
}

/* A blocking poll over several partitions wakes for an append to any one. */
Test(consumer, blocking_poll_wakes_on_append)
{
    setup_log();
    mk_topic("t", 3, NULL);
    evl_consumer_t *c = consumer(NULL);
    evl_topic_partition_t tps[3] = {{"t", 0, EVL_OFFSET_END}, {"t", 1, EVL_OFFSET_END},
                                    {"t", 2, EVL_OFFSET_END}};
    cr_assert_eq(evl_consumer_assign(c, tps, 3), 0);
    poll_late_append(c);
    evl_consumer_close(c);
    evl_log_close(lg);
}

/* wait.spin.us: a poll that spins long enough catches the append without
 * sleeping on the futex; one that does not spin sleeps. */
Test(consumer, waiting_poll_spins_first_when_configured)
{
    setup_log();
    mk_topic("t", 3, NULL);
    evl_topic_partition_t tps[3] = {{"t", 0, EVL_OFFSET_END}, {"t", 1, EVL_OFFSET_END},
                                    {"t", 2, EVL_OFFSET_END}};
    const char *spins[2] = {"0", "1000000"};
    for (int k = 0; k < 2; k++) {
        evl_consumer_t *c = consumer("wait.spin.us", spins[k], NULL);
        cr_assert_eq(evl_consumer_assign(c, tps, 3), 0);
        int64_t sleeps = evl_log_stat(lg, EVL_STAT_READ_SLEEPS);
        poll_late_append(c);
        if (k == 0)
            cr_assert_gt(evl_log_stat(lg, EVL_STAT_READ_SLEEPS), sleeps, "no spin: it sleeps");
        else
            cr_assert_eq(evl_log_stat(lg, EVL_STAT_READ_SLEEPS), sleeps, "a 1 s spin slept");
        evl_consumer_close(c);
    }
    evl_config_t *cfg = evl_config_new();
    cr_assert_eq(evl_config_set(cfg, "wait.spin.us", "-2", NULL, 0), EVL_ECONFIG);
    cr_assert_eq(evl_config_set(cfg, "wait.spin.us", "1000001", NULL, 0), EVL_ECONFIG);
    evl_config_free(cfg);
    evl_log_close(lg);
}

Test(consumer, argument_and_state_errors)
{
    setup_log();
    mk_topic("t", 1, NULL);
    evl_consumer_t *c;
    evl_config_t *cfg = test_cfg("group.id", "bad/name", NULL);
    cr_assert_eq(evl_consumer_new(lg, cfg, &c), EVL_EBADNAME);
    cr_assert_null(c);
    evl_config_free(cfg);
    c = consumer("group.id", "G", NULL);
    const char *missing[] = {"nope"};
    cr_assert_eq(evl_consumer_subscribe(c, missing, 1), EVL_ENOTFOUND);
    assign1(c, "t", 0, EVL_OFFSET_BEGINNING);
    const char *topics[] = {"t"};
    cr_assert_eq(evl_consumer_subscribe(c, topics, 1), EVL_ESTATE, "assigned by hand");
    cr_assert_eq(evl_consumer_assign(c, NULL, 0), 0); /* unassign */
    cr_assert_eq(evl_consumer_subscribe(c, topics, 1), 0);
    evl_topic_partition_t tp = {"t", 0, 0};
    cr_assert_eq(evl_consumer_assign(c, &tp, 1), EVL_ESTATE, "subscribed");
    evl_topic_partition_t dup[2] = {{"t", 0, 0}, {"t", 0, 0}};
    evl_consumer_t *m = consumer(NULL);
    cr_assert_eq(evl_consumer_assign(m, dup, 2), EVL_EINVAL);
    tp.partition = 3;
    cr_assert_eq(evl_consumer_assign(m, &tp, 1), EVL_ENOTFOUND);
    const evl_record_t *recs[1];
    size_t n = 9;
    cr_assert_eq(evl_consumer_poll(m, 0, recs, 1, &n), EVL_ETIMEDOUT, "nothing assigned");
    cr_assert_eq(n, 0);
    cr_assert_eq(evl_consumer_poll(m, 0, recs, 0, &n), EVL_EINVAL);
    evl_consumer_close(m);
    evl_consumer_close(c);
    evl_consumer_close(NULL);
    evl_log_close(lg);
}

/* retain.until.consumed.by reads the commits of the named group (same key
 * layout): segments stay until the group has committed past them. */
Test(consumer, retention_waits_for_the_named_group)
{
    setup_log();
    evl_config_t *tcfg = test_cfg("segment.bytes", "65536", "max.message.bytes", "8192",
                                  "retention.bytes", "70000", "retain.until.consumed.by", "fwd",
                                  NULL);
    mk_topic("t", 1, tcfg);
    evl_config_free(tcfg);
    evl_producer_t *prod = producer("t");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 200; i++)
        test_send(prod, 0, NULL, big, 0);
    evl_producer_close(prod);
    evl_partition_info_t info;
    cr_assert_eq(evl_log_retention_run(lg), 0);
    cr_assert_eq(evl_partition_info(lg, "t", 0, &info), 0);
    cr_assert_eq(info.start_offset, 0, "fwd consumed nothing: everything stays");
    evl_consumer_t *c = consumer("group.id", "fwd", "auto.offset.reset", "earliest",
                                 "enable.auto.commit", "false", NULL);
    const char *topics[] = {"t"};
    cr_assert_eq(evl_consumer_subscribe(c, topics, 1), 0);
    const evl_record_t *recs[100];
    size_t n, total = 0;
    for (int i = 0; i < 1000 && total < 150; i++)
        if (evl_consumer_poll(c, 10, recs, 100, &n) == 0)
            total += n;
    cr_assert(total >= 150);
    cr_assert_eq(evl_consumer_commit(c), 0);
    cr_assert_eq(evl_log_retention_run(lg), 0);
    cr_assert_eq(evl_partition_info(lg, "t", 0, &info), 0);
    cr_assert(info.start_offset > 0 && info.start_offset <= (int64_t)total,
              "start %lld after committing %zu", (long long)info.start_offset, total);
    evl_consumer_close(c);
    evl_log_close(lg);
}

/* Issue 18: the contract for a committed offset past the end, with
 * auto.offset.reset=none: no position (the end is taken only for earliest
 * and latest), and the message does not claim a crash happened. */
Test(consumer, committed_offset_past_end_with_reset_none_has_no_position)
{
    lg = open_with_log_cb();
    mk_topic("t", 1, NULL);
    fill("t", 0, 0, 5);
    evl_consumer_t *c = consumer("group.id", "G", NULL);
    evl_topic_partition_t tp = {"t", 0, 40};
    cr_assert_eq(evl_consumer_commit_offsets(c, &tp, 1, NULL), 0);
    evl_consumer_close(c);
    c = consumer("group.id", "G", "auto.offset.reset", "none", NULL);
    tp.offset = EVL_OFFSET_COMMITTED;
    cr_assert_eq(evl_consumer_assign(c, &tp, 1), 0);
    const evl_record_t *recs[4];
    size_t n;
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 4, &n), EVL_ENOOFFSET);
    cr_assert(strstr(test_logbuf, "committed offset 40 is past the end of the log (5)"), "%s",
              test_logbuf);
    cr_assert(!strstr(test_logbuf, "crash"), "%s", test_logbuf);
    cr_assert_eq(evl_consumer_seek(c, "t", 0, 2), 0);
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 4, &n), 0);
    cr_assert_eq(evl_record_offset(recs[0]), 2);
    evl_consumer_close(c);
    evl_log_close(lg);
}

/* Issue 18: a reader overtaken by retention returned records of the
 * deleted segment for a while. It gets EVL_EOFFSET at its next frame, and
 * a consumer applies auto.offset.reset. */
Test(consumer, reader_overtaken_by_retention_is_out_of_range)
{
    lg = open_with_log_cb();
    evl_config_t *tcfg = test_cfg("segment.bytes", "65536", "retention.bytes", "0",
                                  "retention.ms", "-1", NULL);
    mk_topic("t", 1, tcfg);
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(lg, "t", 0, &rd), 0);
    evl_consumer_t *c = consumer("auto.offset.reset", "earliest", NULL);
    evl_topic_partition_t tp = {"t", 0, EVL_OFFSET_BEGINNING};
    evl_producer_t *prod = producer("t");
    char v[600];
    memset(v, 'v', sizeof v);
    evl_msg_t m = {NULL, 0, v, sizeof v, NULL, 0, -1, 0, -1};
    cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    cr_assert_eq(evl_consumer_assign(c, &tp, 1), 0);
    const evl_record_t *rec, *recs[1];
    size_t n;
    cr_assert_eq(evl_reader_next(rd, 0, &rec), 0);
    cr_assert_eq(evl_consumer_poll(c, 0, recs, 1, &n), 0);
    /* 300 records of 600 bytes: three segments. Retention (0 bytes) keeps
     * only the active one. */
    for (int i = 0; i < 300; i++)
        cr_assert_eq(evl_producer_send(prod, &m, 0), 0);
    cr_assert_eq(evl_log_retention_run(lg), 0);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(lg, "t", 0, &pi), 0);
    cr_assert_gt(pi.start_offset, 100);
    cr_assert_eq(evl_reader_next(rd, 0, &rec), EVL_EOFFSET, "a record of a deleted segment");
    cr_assert_eq(evl_reader_position(rd), 1);
    cr_assert_eq(evl_reader_seek(rd, EVL_OFFSET_BEGINNING), 0);
    cr_assert_eq(evl_reader_next(rd, 0, &rec), 0);
    cr_assert_eq(evl_record_offset(rec), pi.start_offset);
    int rc = evl_consumer_poll(c, 0, recs, 1, &n);
    cr_assert_eq(rc, 0, "%s", evl_errname(rc));
    cr_assert_eq(evl_record_offset(recs[0]), pi.start_offset, "reset to the log start");
    cr_assert(strstr(test_logbuf, "fell below the log start"), "%s", test_logbuf);
    evl_producer_close(prod);
    evl_consumer_close(c);
    evl_reader_close(rd);
    evl_log_close(lg);
    evl_config_free(tcfg);
}

/* Issue 18: commit metadata could be written but not read back. */
Test(consumer, commit_metadata_reads_back)
{
    setup_log();
    mk_topic("t", 2, NULL);
    evl_consumer_t *c = consumer("group.id", "G", NULL);
    evl_topic_partition_t tp = {"t", 1, 7};
    cr_assert_eq(evl_consumer_commit_offsets(c, &tp, 1, "batch=42;host=a"), 0);
    int64_t off = -1;
    char buf[64];
    cr_assert_eq(evl_consumer_committed_metadata(c, "t", 1, &off, buf, sizeof buf), 15);
    cr_assert_eq(off, 7);
    cr_assert_str_eq(buf, "batch=42;host=a");
    char small[6];
    cr_assert_eq(evl_consumer_committed_metadata(c, "t", 1, &off, small, sizeof small), 15);
    cr_assert_str_eq(small, "batch");
    cr_assert_eq(evl_consumer_committed_metadata(c, "t", 1, &off, NULL, 0), 15);
    tp.offset = 9;
    cr_assert_eq(evl_consumer_commit_offsets(c, &tp, 1, NULL), 0);
    cr_assert_eq(evl_consumer_committed_metadata(c, "t", 1, &off, buf, sizeof buf), 0);
    cr_assert_eq(off, 9);
    cr_assert_str_eq(buf, "");
    cr_assert_eq(evl_consumer_committed_metadata(c, "t", 0, &off, buf, sizeof buf),
                 EVL_ENOTFOUND);
    evl_consumer_close(c);
    evl_consumer_t *nog = consumer(NULL);
    cr_assert_eq(evl_consumer_committed_metadata(nog, "t", 1, &off, buf, sizeof buf), EVL_ESTATE);
    evl_consumer_close(nog);
    evl_log_close(lg);
}
