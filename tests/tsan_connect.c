/*
 * tsan_connect.c - the connect worker under ThreadSanitizer: a source and a
 * sink task on their threads, the status polled from another thread while
 * the file grows, then a stop and a worker freed while tasks run.
 */
#include <eventlog/connect.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failed;
#define CHECK(cond, ...)                                           \
    do {                                                           \
        if (!(cond)) {                                             \
            failed++;                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
            fprintf(stderr, __VA_ARGS__);                          \
            fputc('\n', stderr);                                   \
        }                                                          \
    } while (0)

static evl_connect_worker_t *w;
static atomic_int done;

static void *poller(void *arg)
{
    (void)arg;
    char err[128];
    int64_t n;
    while (!atomic_load(&done)) {
        evl_connect_status(w, "in", &n, err, sizeof err);
        evl_connect_status(w, "out", &n, err, sizeof err);
        usleep(1000);
    }
    return NULL;
}

int main(void)
{
    char dir[] = "/tmp/evl-tsan-connect.XXXXXX";
    if (!mkdtemp(dir))
        return 2;
    char logdir[128], in[128], out[128];
    snprintf(logdir, sizeof logdir, "%s/log", dir);
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    evl_log_t *log;
    CHECK(evl_log_open(logdir, NULL, &log) == 0, "open");
    CHECK(evl_topic_create(log, "t", 1, NULL) == 0, "create");
    CHECK(evl_connect_worker_new(log, &w) == 0, "worker");
    const char *src[] = {"name", "in", "connector.class", "FileStreamSource", "file", in,
                         "topic", "t", "durability", "none"};
    const char *snk[] = {"name", "out", "connector.class", "FileStreamSink", "file", out,
                         "topics", "t", "offset.flush.interval.ms", "20"};
    char err[256];
    CHECK(evl_connect_start(w, src, 5, err, sizeof err) == 0, "start in: %s", err);
    CHECK(evl_connect_start(w, snk, 5, err, sizeof err) == 0, "start out: %s", err);
    pthread_t th;
    pthread_create(&th, NULL, poller, NULL);
    FILE *f = fopen(in, "a");
    for (int i = 0; f && i < 3000; i++) {
        fprintf(f, "line-%d\n", i);
        if (i % 100 == 0)
            fflush(f);
    }
    if (f)
        fclose(f);
    struct stat st;
    for (int i = 0; i < 1000 && (stat(out, &st) != 0 || st.st_size < 3000 * 8); i++)
        usleep(10000);
    CHECK(evl_connect_stop(w, "in") == 0, "stop in");
    atomic_store(&done, 1);
    pthread_join(th, NULL);
    evl_connect_worker_free(w); /* the sink still running */
    evl_log_close(log);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("tsan_connect: %s\n", failed ? "FAILED" : "ok");
    return failed ? 1 : 0;
}
