/*
 * test_idempotence.c - the idempotent producer (enable.idempotence,
 * producer.name): duplicates not appended and their original offsets
 * returned, replays after a restart and after kill -9, fencing of an older
 * instance, out-of-order sequences, and the producer table rebuilt from its
 * snapshot and the frames (recovery.mode=rebuild: what a reboot does).
 */
#include "helpers.h"
#include <eventlog/batch.h>

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

TestSuite(idempotence, .init = test_dir_setup, .fini = test_dir_teardown);

static evl_producer_t *idem_producer(evl_log_t *log, const char *topic, const char *name)
{
    evl_config_t *c = name ? test_cfg("enable.idempotence", "true", "producer.name", name, NULL)
                           : test_cfg("enable.idempotence", "true", NULL);
    evl_producer_t *p;
    int rc = evl_producer_new(log, topic, c, &p);
    cr_assert_eq(rc, 0, "producer: %s", evl_errname(rc));
    evl_config_free(c);
    return p;
}

static void fill(evl_msg_t *m, char (*buf)[24], int from, int n, int partition)
{
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof buf[i], "v%d", from + i);
        m[i] = (evl_msg_t){NULL, 0, buf[i], strlen(buf[i]), NULL, 0, EVL_TIMESTAMP_NOW,
                           partition, -1};
    }
}

static int64_t end_of(evl_log_t *log, const char *topic, int p)
{
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, topic, p, &pi), 0);
    return pi.end_offset;
}

/* Read the partition: every value must be "v<i>" with i = 0, 1, 2...
 * (each record once, in order); returns how many. */
static int64_t check_exactly_once(evl_log_t *log, const char *topic, int p)
{
    evl_reader_t *rd;
    cr_assert_eq(evl_reader_open(log, topic, p, &rd), 0);
    const evl_record_t *r;
    int64_t n = 0;
    int rc;
    while ((rc = evl_reader_next(rd, 0, &r)) == 0) {
        size_t vl;
        const char *v = evl_record_value(r, &vl);
        char want[24];
        snprintf(want, sizeof want, "v%lld", (long long)n);
        cr_assert(vl == strlen(want) && memcmp(v, want, vl) == 0,
                  "offset %lld holds %.*s, expected %s", (long long)evl_record_offset(r),
                  (int)vl, v, want);
        n++;
    }
    cr_assert_eq(rc, EVL_ETIMEDOUT);
    evl_reader_close(rd);
    return n;
}

Test(idempotence, a_resent_batch_is_not_appended_and_gets_its_offsets)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    evl_producer_t *p = idem_producer(log, "t", NULL);
    int64_t id;
    int32_t epoch;
    cr_assert_eq(evl_producer_id(p, &id, &epoch), 0);
    cr_assert_gt(id, 0);
    cr_assert_eq(epoch, 0);
    evl_msg_t m[10];
    char buf[10][24];
    fill(m, buf, 0, 10, 0);
    cr_assert_eq(evl_producer_send_batch(p, m, 10, 0), 0);
    int64_t next;
    cr_assert_eq(evl_producer_sequence(p, 0, &next), 0);
    cr_assert_eq(next, 10);
    /* The application did not learn the outcome, and sends again. */
    cr_assert_eq(evl_producer_rewind(p, 0, 0), 0);
    fill(m, buf, 0, 10, 0);
    cr_assert_eq(evl_producer_send_batch(p, m, 10, 0), 0);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(m[i].offset, i);
        cr_assert_eq(m[i].partition, 0);
    }
    cr_assert_eq(end_of(log, "t", 0), 10);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_DUPLICATES), 10);
    /* Caught up: the next send appends. */
    fill(m, buf, 10, 1, 0);
    cr_assert_eq(evl_producer_send(p, &m[0], 0), 0);
    cr_assert_eq(m[0].offset, 10);
    cr_assert_eq(check_exactly_once(log, "t", 0), 11);
    evl_producer_close(p);
    evl_log_close(log);
}

Test(idempotence, a_replay_that_overlaps_appends_only_what_is_missing)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 2, NULL), 0);
    evl_producer_t *p = idem_producer(log, "t", NULL);
    evl_msg_t m[8];
    char buf[8][24];
    fill(m, buf, 0, 5, 1);
    cr_assert_eq(evl_producer_send_batch(p, m, 5, 0), 0);
    cr_assert_eq(evl_producer_rewind(p, 1, 0), 0);
    fill(m, buf, 0, 8, 1);
    cr_assert_eq(evl_producer_send_batch(p, m, 8, 0), 0);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(m[i].offset, i, "record %d at %lld", i, (long long)m[i].offset);
    cr_assert_eq(end_of(log, "t", 1), 8);
    cr_assert_eq(end_of(log, "t", 0), 0);
    cr_assert_eq(check_exactly_once(log, "t", 1), 8);
    evl_producer_close(p);
    evl_log_close(log);
}

Test(idempotence, duplicates_older_than_the_table_are_found_in_the_frames)
{
    /* 300 single sends: 300 batches, far more than the table keeps per
     * producer, over several segments. */
    evl_config_t *c = test_cfg("segment.bytes", "65536", NULL);
    evl_log_t *log = test_open(c);
    cr_assert_eq(evl_topic_create(log, "t", 1, c), 0);
    evl_producer_t *p = idem_producer(log, "t", NULL);
    char big[400];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 300; i++) {
        evl_msg_t m = {"k", 1, big, sizeof big, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
        cr_assert_eq(m.offset, i);
    }
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    cr_assert_gt(pi.segments, 1);
    cr_assert_eq(evl_producer_rewind(p, 0, 0), 0);
    for (int i = 0; i < 300; i++) {
        evl_msg_t m = {"k", 1, big, sizeof big, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send(p, &m, 0), 0);
        cr_assert_eq(m.offset, i, "resent record %d got offset %lld", i, (long long)m.offset);
    }
    cr_assert_eq(end_of(log, "t", 0), 300);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
}

Test(idempotence, a_sequence_past_the_expected_one_is_refused)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    evl_producer_t *p = idem_producer(log, "t", NULL);
    test_send(p, 0, NULL, "v0", 0);
    cr_assert_eq(evl_producer_rewind(p, 0, 5), 0);
    evl_msg_t m = {NULL, 0, "v1", 2, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
    cr_assert_eq(evl_producer_send(p, &m, 0), EVL_ESEQUENCE);
    cr_assert_eq(m.offset, -1);
    cr_assert_eq(end_of(log, "t", 0), 1);
    cr_assert_eq(evl_producer_rewind(p, 0, 1), 0);
    cr_assert_eq(evl_producer_send(p, &m, 0), 0);
    cr_assert_eq(m.offset, 1);
    /* Bad calls. */
    cr_assert_eq(evl_producer_rewind(p, 0, -1), EVL_EINVAL);
    cr_assert_eq(evl_producer_rewind(p, 7, 0), EVL_EINVAL);
    evl_producer_t *plain;
    cr_assert_eq(evl_producer_new(log, "t", NULL, &plain), 0);
    int64_t next;
    cr_assert_eq(evl_producer_sequence(plain, 0, &next), EVL_ESTATE);
    cr_assert_eq(evl_producer_rewind(plain, 0, 0), EVL_ESTATE);
    cr_assert_eq(evl_producer_id(plain, NULL, NULL), EVL_ESTATE);
    evl_producer_close(plain);
    evl_producer_close(p);
    evl_log_close(log);
}

Test(idempotence, producer_name_needs_idempotence_and_a_valid_name)
{
    evl_config_t *lc = test_cfg(NULL);
    evl_log_t *log = test_open(lc);
    evl_config_free(lc);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    evl_producer_t *p = NULL;
    evl_config_t *c = test_cfg("producer.name", "n", NULL);
    cr_assert_eq(evl_producer_new(log, "t", c, &p), EVL_ECONFIG);
    cr_assert_null(p);
    cr_assert(strstr(test_logbuf, "enable.idempotence"));
    evl_config_free(c);
    c = test_cfg("enable.idempotence", "true", "producer.name", "a/b", NULL);
    cr_assert_eq(evl_producer_new(log, "t", c, &p), EVL_ECONFIG);
    evl_config_free(c);
    evl_log_close(log);
}

Test(idempotence, a_named_producer_keeps_its_id_and_fences_the_older_instance)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 2, NULL), 0);
    evl_producer_t *a = idem_producer(log, "t", "sensor-uplink");
    int64_t ida, idb;
    int32_t ea, eb;
    cr_assert_eq(evl_producer_id(a, &ida, &ea), 0);
    test_send(a, 0, NULL, "v0", 0);
    evl_producer_t *b = idem_producer(log, "t", "sensor-uplink");
    cr_assert_eq(evl_producer_id(b, &idb, &eb), 0);
    cr_assert_eq(idb, ida);
    cr_assert_eq(eb, ea + 1);
    /* The new instance continues the sequence where the log stands. */
    int64_t next;
    cr_assert_eq(evl_producer_sequence(b, 0, &next), 0);
    cr_assert_eq(next, 1);
    test_send(b, 0, NULL, "v1", 0);
    evl_msg_t m = {NULL, 0, "zombie", 6, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
    cr_assert_eq(evl_producer_send(a, &m, 0), EVL_EPRODUCER_FENCED);
    cr_assert_eq(end_of(log, "t", 0), 2);
    /* A different name is a different producer. */
    evl_producer_t *c = idem_producer(log, "t", "other");
    int64_t idc;
    cr_assert_eq(evl_producer_id(c, &idc, NULL), 0);
    cr_assert_neq(idc, ida);
    cr_assert_eq(check_exactly_once(log, "t", 0), 2);
    evl_producer_close(a);
    evl_producer_close(b);
    evl_producer_close(c);
    evl_log_close(log);
}

/* The table must come back after a reboot: recovery.mode=rebuild rebuilds
 * every partition's state from the files, snapshot and frames included. */
enum { KEEP_CTL, SCRIBBLE_TABLE, DELETE_CTL, DAMAGE_SNAPSHOT };

static void sequences_survive_a_rebuild(int how)
{
    bool damage_snapshot = how == DAMAGE_SNAPSHOT;
    evl_config_t *c = test_cfg("segment.bytes", "65536", NULL);
    evl_log_t *log = test_open(c);
    cr_assert_eq(evl_topic_create(log, "t", 1, c), 0);
    evl_producer_t *p = idem_producer(log, "t", "n");
    enum { N = 20000, B = 10 };
    evl_msg_t m[B];
    char buf[B][24];
    for (int i = 0; i < N; i += B) {
        fill(m, buf, i, B, 0);
        cr_assert_eq(evl_producer_send_batch(p, m, B, 0), 0);
    }
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    cr_assert_gt(pi.segments, 2);
    evl_producer_close(p);
    evl_log_close(log);
    if (how == SCRIBBLE_TABLE || how == DAMAGE_SNAPSHOT) {
        /* What the table said must not matter: it is rebuilt from the log
         * (after a power cut it could claim batches the log lost). */
        FILE *f = fopen(tpath("log/topics/t/0/partition.ctl"), "r+");
        cr_assert_not_null(f);
        fseek(f, 4096 + 64, SEEK_SET);
        for (int i = 0; i < 8192; i++)
            fputc(0x7f, f);
        fclose(f);
    } else if (how == DELETE_CTL) {
        cr_assert_eq(unlink(tpath("log/topics/t/0/partition.ctl")), 0);
    }
    if (damage_snapshot) {
        FILE *f = fopen(tpath("log/topics/t/0/producers.snap"), "r+");
        cr_assert_not_null(f);
        fseek(f, 20, SEEK_SET);
        fputc(0x5a, f);
        fclose(f);
    }
    evl_config_t *rb = test_cfg("segment.bytes", "65536", "recovery.mode", "rebuild", NULL);
    log = test_open(rb);
    p = idem_producer(log, "t", "n");
    int64_t next;
    cr_assert_eq(evl_producer_sequence(p, 0, &next), 0);
    cr_assert_eq(next, N);
    if (damage_snapshot)
        cr_assert(strstr(test_logbuf, "producer snapshot is damaged"), "%s", test_logbuf);
    /* Replay the last 25 and the first 25: all recognised. */
    cr_assert_eq(evl_producer_rewind(p, 0, N - 25), 0);
    fill(m, buf, N - 25, 5, 0);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(evl_producer_send_batch(p, m, 5, 0), 0);
        for (int j = 0; j < 5; j++)
            cr_assert_eq(m[j].offset, N - 25 + i * 5 + j);
        fill(m, buf, N - 20 + i * 5, 5, 0);
    }
    cr_assert_eq(evl_producer_rewind(p, 0, 0), 0);
    fill(m, buf, 0, 5, 0);
    cr_assert_eq(evl_producer_send_batch(p, m, 5, 0), 0);
    for (int j = 0; j < 5; j++)
        cr_assert_eq(m[j].offset, j);
    cr_assert_eq(end_of(log, "t", 0), N);
    evl_producer_close(p);
    evl_log_close(log);
    evl_config_free(c);
    evl_config_free(rb);
}

Test(idempotence, sequences_survive_a_rebuild_from_snapshot_and_frames)
{
    sequences_survive_a_rebuild(KEEP_CTL);
}

Test(idempotence, a_scribbled_table_is_rebuilt_from_snapshot_and_frames)
{
    sequences_survive_a_rebuild(SCRIBBLE_TABLE);
}

Test(idempotence, a_lost_control_file_is_rebuilt_from_snapshot_and_frames)
{
    sequences_survive_a_rebuild(DELETE_CTL);
}

Test(idempotence, a_damaged_snapshot_is_rebuilt_from_every_segment)
{
    sequences_survive_a_rebuild(DAMAGE_SNAPSHOT);
}

typedef struct thr {
    evl_producer_t *p;
    int id, n;
} thr_t;

static void *sender(void *arg)
{
    thr_t *t = arg;
    for (int i = 0; i < t->n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%d-%d", t->id, i);
        evl_msg_t m = {NULL, 0, v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        if (evl_producer_send(t->p, &m, 0) != 0)
            return (void *)1;
    }
    return NULL;
}

Test(idempotence, threads_sharing_a_producer_never_collide_on_sequences)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    evl_producer_t *p = idem_producer(log, "t", NULL);
    pthread_t th[4];
    thr_t t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (thr_t){p, i, 5000};
        pthread_create(&th[i], NULL, sender, &t[i]);
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_null(r);
    }
    cr_assert_eq(end_of(log, "t", 0), 20000);
    int64_t next;
    cr_assert_eq(evl_producer_sequence(p, 0, &next), 0);
    cr_assert_eq(next, 20000);
    cr_assert_eq(evl_log_stat(log, EVL_STAT_DUPLICATES), 0);
    evl_producer_close(p);
    evl_log_close(log);
}

/*
 * kill -9, then replay: a child appends v0, v1, ... through a named
 * producer and, every 37 records, notes its progress (record index and
 * sequence) in shared memory, as an application would commit its own
 * offsets, lagging the log. The parent kills it at a random moment,
 * restarts the producer, rewinds to the noted sequence and sends again
 * from the noted record; the next child is killed in turn. At the end
 * each value is in the log exactly once, in order.
 */
typedef struct progress {
    _Atomic int64_t index, seq;
} progress_t;

static void run_child(progress_t *pr, int64_t total)
{
    evl_log_t *log;
    if (evl_log_open(tpath("log"), NULL, &log))
        _exit(2);
    evl_config_t *c = evl_config_new();
    evl_config_set(c, "enable.idempotence", "true", NULL, 0);
    evl_config_set(c, "producer.name", "uplink", NULL, 0);
    evl_producer_t *p;
    if (evl_producer_new(log, "t", c, &p))
        _exit(3);
    int64_t i = atomic_load(&pr->index);
    if (evl_producer_rewind(p, 0, atomic_load(&pr->seq)))
        _exit(4);
    for (; i < total; i++) {
        char v[24];
        snprintf(v, sizeof v, "v%lld", (long long)i);
        evl_msg_t m = {NULL, 0, v, strlen(v), NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        if (evl_producer_send(p, &m, 0))
            _exit(5);
        if (m.offset != i)
            _exit(6); /* a replayed record must get its original offset */
        if ((i + 1) % 37 == 0) {
            atomic_store(&pr->seq, i + 1); /* one partition: sequence == index */
            atomic_store(&pr->index, i + 1);
        }
    }
    evl_producer_close(p);
    evl_log_close(log);
    _exit(0);
}

Test(idempotence, replay_after_kill9_is_exactly_once, .timeout = 120)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    evl_log_close(log);
    progress_t *pr = mmap(NULL, sizeof *pr, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                          -1, 0);
    cr_assert_neq(pr, MAP_FAILED);
    atomic_init(&pr->index, 0);
    atomic_init(&pr->seq, 0);
    const int64_t total = test_quick() ? 60000 : 200000;
    unsigned seed = (unsigned)getpid();
    int kills = 0, rounds = 0;
    for (;;) {
        rounds++;
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0)
            run_child(pr, total);
        int st;
        if (rounds <= 8) {
            usleep(2000 + (unsigned)(rand_r(&seed) % 40000));
            kill(pid, SIGKILL);
        }
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        if (WIFSIGNALED(st)) {
            kills++;
            continue;
        }
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child exit %d", WEXITSTATUS(st));
        break;
    }
    log = test_open(NULL);
    cr_assert_eq(check_exactly_once(log, "t", 0), total);
    cr_assert_gt(kills, 0);
    evl_log_close(log);
    cr_log_info("replay_after_kill9: %d kills, %d rounds", kills, rounds);
    munmap(pr, sizeof *pr);
}

/* The frames carry what the table is rebuilt from: id, epoch, sequence. */
Test(idempotence, batches_carry_producer_id_epoch_and_sequence)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    evl_producer_t *a = idem_producer(log, "t", "n");
    evl_producer_close(a);
    evl_producer_t *p = idem_producer(log, "t", "n"); /* epoch 1 */
    int64_t id;
    cr_assert_eq(evl_producer_id(p, &id, NULL), 0);
    evl_msg_t m[4];
    char buf[4][24];
    fill(m, buf, 0, 4, 0);
    cr_assert_eq(evl_producer_send_batch(p, m, 4, 0), 0);
    fill(m, buf, 4, 1, 0);
    cr_assert_eq(evl_producer_send(p, &m[0], 0), 0);
    evl_cursor_t *c;
    cr_assert_eq(evl_cursor_open(log, "t", 0, &c), 0);
    evl_batch_t b;
    cr_assert_eq(evl_cursor_next_batch(c, &b), 0);
    cr_assert(b.flags & EVL_BATCH_PRODUCER);
    cr_assert_eq(b.producer_id, id);
    cr_assert_eq(b.producer_epoch, 1);
    cr_assert_eq(b.base_sequence, 0);
    cr_assert_eq(b.record_count, 4);
    cr_assert_eq(evl_cursor_next_batch(c, &b), 0);
    cr_assert_eq(b.base_sequence, 4);
    cr_assert_eq(b.base_offset, 4);
    evl_cursor_close(c);
    evl_producer_close(p);
    evl_log_close(log);
}

/* Rolls by a handle that never used the producer table still snapshot it:
 * otherwise retention deletes the frames a rebuild needs (review of issue
 * 19: a named producer's sequence came back as 0 instead of 10). */
Test(idempotence, rolls_by_plain_producers_keep_the_snapshot_current)
{
    evl_config_t *c = test_cfg("segment.bytes", "65536", "retention.bytes", "65536", NULL);
    evl_log_t *log = test_open(c);
    cr_assert_eq(evl_topic_create(log, "t", 1, c), 0);
    evl_producer_t *a = idem_producer(log, "t", "keeper");
    evl_msg_t m[10];
    char buf[10][24];
    fill(m, buf, 0, 10, 0);
    cr_assert_eq(evl_producer_send_batch(a, m, 10, 0), 0);
    evl_producer_close(a);
    evl_log_close(log);
    log = test_open(c);
    evl_producer_t *plain;
    cr_assert_eq(evl_producer_new(log, "t", NULL, &plain), 0);
    char big[200];
    memset(big, 'y', sizeof big);
    for (int i = 0; i < 20000; i++) {
        evl_msg_t f = {NULL, 0, big, sizeof big, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
        cr_assert_eq(evl_producer_send(plain, &f, 0), 0);
    }
    evl_producer_close(plain);
    evl_log_close(log);
    evl_config_t *rb = test_cfg("segment.bytes", "65536", "retention.bytes", "65536",
                                "recovery.mode", "rebuild", NULL);
    log = test_open(rb);
    evl_partition_info_t pi;
    cr_assert_eq(evl_partition_info(log, "t", 0, &pi), 0);
    cr_assert_gt(pi.start_offset, 10, "retention deleted the producer's frames");
    a = idem_producer(log, "t", "keeper");
    int64_t next;
    cr_assert_eq(evl_producer_sequence(a, 0, &next), 0);
    cr_assert_eq(next, 10);
    evl_producer_close(a);
    evl_log_close(log);
    evl_config_free(c);
    evl_config_free(rb);
}

/* A full table drops unnamed producers' entries before a named one's. */
Test(idempotence, a_full_table_evicts_unnamed_producers_first)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "t", 1, NULL), 0);
    evl_producer_t *named = idem_producer(log, "t", "kept");
    for (int i = 0; i < 7; i++)
        test_send(named, 0, NULL, "n", 0);
    for (int i = 0; i < 300; i++) {
        evl_producer_t *u = idem_producer(log, "t", NULL);
        test_send(u, 0, NULL, "u", 0);
        evl_producer_close(u);
    }
    int64_t next;
    cr_assert_eq(evl_producer_sequence(named, 0, &next), 0);
    cr_assert_eq(next, 7);
    cr_assert_eq(evl_producer_rewind(named, 0, 3), 0);
    evl_msg_t m = {NULL, 0, "n", 1, NULL, 0, EVL_TIMESTAMP_NOW, 0, -1};
    cr_assert_eq(evl_producer_send(named, &m, 0), 0);
    cr_assert_eq(m.offset, 3, "a replay still recognised");
    evl_producer_close(named);
    evl_log_close(log);
}

/* The same for a producer of any topic: sequences per topic and partition. */
Test(idempotence, a_producer_of_any_topic_is_idempotent_per_topic)
{
    evl_log_t *log = test_open(NULL);
    cr_assert_eq(evl_topic_create(log, "a", 1, NULL), 0);
    cr_assert_eq(evl_topic_create(log, "b", 1, NULL), 0);
    evl_config_t *c = test_cfg("enable.idempotence", "true", "producer.name", "multi", NULL);
    evl_producer_t *p;
    cr_assert_eq(evl_producer_open(log, c, &p), 0);
    evl_config_free(c);
    evl_msg_t m[5];
    char buf[5][24];
    fill(m, buf, 0, 5, 0);
    cr_assert_eq(evl_producer_send_batch_to(p, "a", m, 5, 0), 0);
    fill(m, buf, 0, 2, 0);
    cr_assert_eq(evl_producer_send_batch_to(p, "b", m, 2, 0), 0);
    int64_t na, nb;
    cr_assert_eq(evl_producer_sequence_to(p, "a", 0, &na), 0);
    cr_assert_eq(evl_producer_sequence_to(p, "b", 0, &nb), 0);
    cr_assert_eq(na, 5);
    cr_assert_eq(nb, 2);
    cr_assert_eq(evl_producer_sequence(p, 0, &na), EVL_ESTATE, "no bound topic");
    cr_assert_eq(evl_producer_rewind_to(p, "a", 0, 3), 0);
    fill(m, buf, 3, 2, 0);
    cr_assert_eq(evl_producer_send_batch_to(p, "a", m, 2, 0), 0);
    cr_assert_eq(m[0].offset, 3);
    cr_assert_eq(m[1].offset, 4);
    cr_assert_eq(end_of(log, "a", 0), 5);
    cr_assert_eq(end_of(log, "b", 0), 2);
    evl_producer_close(p);
    evl_log_close(log);
}
