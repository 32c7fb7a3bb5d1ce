/*
 * connect_helpers.h - what the connect tests share: numbered lines written
 * to a file ("line-<i>").
 */
#ifndef EVL_CONNECT_HELPERS_H
#define EVL_CONNECT_HELPERS_H

#include "helpers.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static inline void append_lines(const char *path, int from, int to)
{
    FILE *f = fopen(path, "a");
    cr_assert_not_null(f);
    for (int i = from; i < to; i++)
        fprintf(f, "line-%d\n", i);
    fclose(f);
}

/* A connector file at tpath(name) from n name/value pairs. */
static inline void write_props(const char *name, const char *const *pairs, size_t n)
{
    FILE *f = fopen(tpath(name), "w");
    cr_assert_not_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s=%s\n", pairs[2 * i], pairs[2 * i + 1]);
    fclose(f);
}

/* `evl -d tpath("log") connect run [args...] FILE...` in a process of its
 * own: exec'd, not only forked (a fork of the test process would inherit
 * its threads' locks and the mock cluster's sockets), ending with the
 * test. stderr goes to tpath("worker.err"). */
static inline pid_t spawn_worker(const char *const *files, size_t nfiles, const char *const *args,
                                 size_t nargs)
{
    char dir[512], errf[512], paths[8][512];
    snprintf(dir, sizeof dir, "%s", tpath("log"));
    snprintf(errf, sizeof errf, "%s", tpath("worker.err"));
    cr_assert_leq(nfiles, 8);
    for (size_t i = 0; i < nfiles; i++)
        snprintf(paths[i], sizeof paths[i], "%s", tpath(files[i]));
    const char *bin = getenv("EVL_EVL");
    const char *argv[32] = {"evl", "-d", dir, "connect", "run"};
    size_t a = 5;
    for (size_t i = 0; i < nargs && a < 24; i++)
        argv[a++] = args[i];
    for (size_t i = 0; i < nfiles; i++)
        argv[a++] = paths[i];
    argv[a] = NULL;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(errf, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        for (int k = 3; k < 1024; k++)
            close(k);
        execv(bin && *bin ? bin : "build/evl", (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* A librdkafka consumer on the cluster at boot, assigned every partition
 * of topic (parts of them) from the beginning: an independent reader. */
static inline rd_kafka_t *cluster_reader(const char *boot, const char *topic, int parts)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", boot, err, sizeof err);
    rd_kafka_conf_set(c, "group.id", "check", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    cr_assert_not_null(rk, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    cr_assert_eq(rd_kafka_assign(rk, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    return rk;
}

/* seen[x]++ for each record of topic's first parts partitions keyed key
 * whose value is the number x (0 <= x < n). */
static inline void count_values(evl_log_t *log, const char *topic, int parts, const char *key,
                                int *seen, int n)
{
    for (int p = 0; p < parts; p++) {
        evl_reader_t *rd;
        cr_assert_eq(evl_reader_open(log, topic, p, &rd), 0);
        const evl_record_t *r;
        while (evl_reader_next(rd, 0, &r) == 0) {
            size_t kl, vl;
            const char *k = evl_record_key(r, &kl), *v = evl_record_value(r, &vl);
            if (kl != strlen(key) || memcmp(k, key, kl))
                continue;
            char vb[16] = {0};
            memcpy(vb, v, vl < 15 ? vl : 15);
            int x = atoi(vb);
            cr_assert(x >= 0 && x < n, "value %d", x);
            seen[x]++;
        }
        evl_reader_close(rd);
    }
}

/* What group has committed, over all its partitions (0 if it has none). */
static inline int64_t group_committed(evl_log_t *log, const char *group)
{
    evl_group_info_t *gi;
    if (evl_group_describe(log, group, &gi))
        return 0;
    int64_t t = 0;
    for (size_t i = 0; i < evl_group_info_partition_count(gi); i++) {
        const char *topic, *member;
        int32_t part;
        int64_t committed, end;
        cr_assert_eq(evl_group_info_partition(gi, i, &topic, &part, &committed, &end, &member), 0);
        t += committed > 0 ? committed : 0;
    }
    evl_group_info_free(gi);
    return t;
}

#endif
