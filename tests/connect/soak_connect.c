/*
 * soak_connect.c - `make soak-connect` (not in `make test`): a device's
 * store-and-forward for SOAK_SECONDS (default 600). This process produces
 * 1000 records/s (100-byte values, 16 keys, each key's values numbered) into
 * a local topic and holds a Kafka cluster (librdkafka's mock, 127.0.0.1);
 * a worker process forwards the topic to the cluster with KafkaSink. The
 * cluster goes down and up SOAK_OUTAGES times (default 20), the worker is
 * killed -9 SOAK_KILLS times (default 3), the log runs under
 * disk.bytes.max = 16 MiB with retain.until.consumed.by. At the end every
 * record must be in the cluster exactly once and in per-key order, and the
 * log directory never over its budget. Prints the figures; exit 0 on
 * success.
 */
#include <dirent.h>
#include <eventlog.h>
#include <eventlog/connect.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEYS 16
#define BUDGET (16L << 20)

static char dir[256], boot[256];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static evl_config_t *log_cfg(void)
{
    evl_config_t *c = evl_config_new();
    char e[128];
    if (evl_config_set(c, "disk.bytes.max", "16777216", e, sizeof e) ||
        evl_config_set(c, "disk.full.policy", "block", e, sizeof e)) {
        fprintf(stderr, "soak: %s\n", e);
        exit(2);
    }
    return c;
}

/* The worker: a process of its own (exec'd, not only forked: a fork of this
 * threaded process would inherit its locks and the mock cluster's sockets). */
static void worker(void)
{
    evl_config_t *c = log_cfg();
    evl_log_t *log;
    if (evl_log_open(dir, c, &log))
        _exit(2);
    evl_config_free(c);
    evl_connect_worker_t *w;
    const char *pairs[] = {"name", "fwd", "connector.class", "KafkaSink", "topics", "local",
                           "kafka.bootstrap.servers", boot, "kafka.topic", "remote",
                           "kafka.linger.ms", "5", "offset.flush.interval.ms", "200",
                           "errors.retry.timeout", "-1", "errors.retry.delay.max.ms", "1000"};
    char err[256];
    if (evl_connect_worker_new(log, &w) || evl_connect_start(w, pairs, 9, err, sizeof err))
        _exit(3);
    for (int st = EVL_CONNECT_RUNNING;;) { /* a failure is reported once */
        sleep(1);
        int now = evl_connect_status(w, "fwd", NULL, err, sizeof err);
        if (now != st && now == EVL_CONNECT_FAILED)
            fprintf(stderr, "soak-connect: the worker's task failed: %s\n", err);
        st = now;
    }
}

static pid_t start_worker(void)
{
    pid_t p = fork();
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int fd = 3; fd < 1024; fd++) /* not the mock cluster's sockets */
            close(fd);
        execl("/proc/self/exe", "soak_connect", "worker", dir, boot, (char *)NULL);
        _exit(127);
    }
    return p;
}

static long dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    long total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(p, &st))
            continue;
        if (S_ISDIR(st.st_mode))
            total += dir_bytes(p);
        else if (S_ISREG(st.st_mode) && strcmp(e->d_name, "data.mdb") &&
                 strcmp(e->d_name, "lock.mdb"))
            total += (long)st.st_blocks * 512; /* the records' files, as the budget counts */
    }
    closedir(d);
    return total;
}

static int64_t cluster_total(rd_kafka_t *rk)
{
    int64_t t = 0;
    for (int p = 0; p < 4; p++) {
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, "remote", p, &lo, &hi, 2000))
            return -1;
        t += hi;
    }
    return t;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "worker")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        snprintf(boot, sizeof boot, "%s", argv[3]);
        worker();
    }
    int seconds = getenv("SOAK_SECONDS") ? atoi(getenv("SOAK_SECONDS")) : 600;
    int outages = getenv("SOAK_OUTAGES") ? atoi(getenv("SOAK_OUTAGES")) : 20;
    int kills = getenv("SOAK_KILLS") ? atoi(getenv("SOAK_KILLS")) : 3;
    snprintf(dir, sizeof dir, "/tmp/evl-soak-%d", getpid());
    char err[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "test.mock.num.brokers", "1", err, sizeof err);
    rd_kafka_conf_set(kc, "log_level", "0", err, sizeof err); /* outages are the point */
    rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
    rd_kafka_mock_cluster_t *mock = owner ? rd_kafka_handle_mock_cluster(owner) : NULL;
    if (!mock || rd_kafka_mock_topic_create(mock, "remote", 4, 1)) {
        fprintf(stderr, "soak: no mock cluster: %s\n", err);
        return 2;
    }
    snprintf(boot, sizeof boot, "%s", rd_kafka_mock_cluster_bootstraps(mock));
    evl_config_t *c = log_cfg();
    evl_log_t *log;
    if (evl_log_open(dir, c, &log)) {
        fprintf(stderr, "soak: cannot open %s\n", dir);
        return 2;
    }
    evl_config_t *tc = evl_config_new();
    evl_config_set(tc, "retain.until.consumed.by", "connect-fwd", err, sizeof err);
    evl_config_set(tc, "segment.bytes", "1048576", err, sizeof err);
    if (evl_topic_create(log, "local", 2, tc)) {
        fprintf(stderr, "soak: cannot create the topic\n");
        return 2;
    }
    evl_config_free(tc);
    evl_config_free(c);
    evl_producer_t *prod;
    evl_producer_new(log, "local", NULL, &prod);
    pid_t w = start_worker();
    int64_t t0 = now_ms(), end = t0 + (int64_t)seconds * 1000;
    int64_t next_outage = t0 + (int64_t)seconds * 1000 / (outages + 1);
    int64_t next_kill = t0 + (int64_t)seconds * 1000 / (kills + 1);
    int64_t outage_until = 0, produced = 0, refused = 0;
    int outages_done = 0, kills_done = 0;
    long max_bytes = 0;
    int64_t per_key[KEYS] = {0};
    char value[101];
    unsigned seed = (unsigned)getpid();
    while (now_ms() < end) {
        int64_t due = (now_ms() - t0) * 1000 / 1000; /* 1000 records/s */
        while (produced < due) {
            int k = (int)(produced % KEYS);
            char key[8];
            snprintf(key, sizeof key, "k%d", k);
            snprintf(value, sizeof value, "%lld:%-90lld", (long long)per_key[k], (long long)produced);
            evl_msg_t m = {key, strlen(key), value, 100, NULL, 0, EVL_TIMESTAMP_NOW,
                           EVL_PARTITION_ANY, -1};
            int rc = evl_producer_send(prod, &m, 0);
            if (rc) {
                refused++; /* the budget full: the device's own producer waits */
                break;
            }
            per_key[k]++;
            produced++;
        }
        int64_t t = now_ms();
        if (outage_until && t >= outage_until) {
            rd_kafka_mock_broker_set_up(mock, 1);
            outage_until = 0;
        }
        if (!outage_until && outages_done < outages && t >= next_outage) {
            rd_kafka_mock_broker_set_down(mock, 1);
            outage_until = t + 3000 + rand_r(&seed) % 7000;
            outages_done++;
            next_outage = t0 + (int64_t)seconds * 1000 * (outages_done + 1) / (outages + 1);
        }
        if (kills_done < kills && t >= next_kill) {
            kill(w, SIGKILL);
            waitpid(w, NULL, 0);
            w = start_worker();
            kills_done++;
            next_kill = t0 + (int64_t)seconds * 1000 * (kills_done + 1) / (kills + 1);
        }
        long b = dir_bytes(dir);
        if (b > max_bytes)
            max_bytes = b;
        static int64_t last_report;
        if (t - last_report >= 10000) {
            last_report = t;
            fprintf(stderr, "soak-connect: %3lld s: %lld produced%s, log %ld bytes\n",
                    (long long)(t - t0) / 1000, (long long)produced,
                    outage_until ? ", the cluster down" : "", b);
        }
        usleep(10000);
    }
    if (outage_until)
        rd_kafka_mock_broker_set_up(mock, 1);
    int64_t drain0 = now_ms(), in = 0;
    while (now_ms() - drain0 < 300000 && (in = cluster_total(owner)) < produced) {
        if ((now_ms() - drain0) % 10000 < 100)
            fprintf(stderr, "soak-connect: draining: %lld of %lld in the cluster\n",
                    (long long)in, (long long)produced);
        usleep(100000);
    }
    int64_t drain_ms = now_ms() - drain0;
    sleep(2); /* anything twice would show now */
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    /* Exactly once: the cluster's high watermarks count every append, so
     * they sum to what was produced (a record twice would add one, a lost
     * one take one away). In order: the mock cluster keeps only the newest
     * few MB per partition, so each key's retained records must be
     * consecutive and end at the last one produced. */
    int64_t appended = cluster_total(owner);
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    rd_kafka_conf_set(cc, "bootstrap.servers", boot, err, sizeof err);
    rd_kafka_conf_set(cc, "group.id", "soak-check", err, sizeof err);
    rd_kafka_conf_set(cc, "log_level", "0", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, cc, err, sizeof err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, "remote", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t next[KEYS], got = 0, bad = 0;
    for (int k = 0; k < KEYS; k++)
        next[k] = -1;
    for (int idle = 0; idle < 50;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        idle = 0;
        if (!m->err) {
            int k = m->key_len > 1 ? atoi((const char *)m->key + 1) : -1;
            long long n = m->len ? atoll(m->payload) : -1;
            if (k < 0 || k >= KEYS || n < 0 || (next[k] >= 0 && n != next[k])) {
                if (bad++ < 5)
                    fprintf(stderr, "soak: key k%d: %lld where %lld was due\n", k, n,
                            (long long)(k >= 0 && k < KEYS ? next[k] : -1));
            } else {
                next[k] = n + 1;
            }
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    int64_t missing = produced - appended;
    for (int k = 0; k < KEYS; k++)
        if (next[k] != per_key[k])
            bad++; /* the newest of a key missing or not the last produced */
    printf("soak-connect: %d s, %lld records produced (%lld waits on a full budget), %d outages, "
           "%d kills of the worker\n",
           seconds, (long long)produced, (long long)refused, outages_done, kills_done);
    printf("soak-connect: appended to the cluster %lld (produced - appended: %lld); of the %lld "
           "it retains, out of order, repeated or short %lld; backlog drained %lld ms after the "
           "end\n",
           (long long)appended, (long long)missing, (long long)got, (long long)bad,
           (long long)drain_ms);
    printf("soak-connect: log directory at most %ld bytes (disk.bytes.max %ld)\n", max_bytes,
           BUDGET);
    evl_producer_close(prod);
    evl_log_close(log);
    rd_kafka_destroy(owner);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "soak: could not remove %s\n", dir);
    bool ok = bad == 0 && missing == 0 && got > 0 && max_bytes <= BUDGET;
    printf("soak-connect: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
