/*
 * pubsub_threads.c - durable pub/sub between threads.
 *
 * One producer thread appends readings to a 1-partition topic; three reader
 * threads each follow the log from the start with their own position,
 * sleeping (no spinning) until records arrive. Reading is non-destructive:
 * every reader sees every record. Run it twice: the second run's readers
 * replay the first run's records too, because the log is on disk.
 *
 *   usage: pubsub_threads [DIR]     (default ./demo-data/pubsub)
 */
#include <eventlog.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORDS 10

static evl_log_t *log_;
static int64_t start_offset;

static void *reader_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    evl_reader_t *rd;
    int rc = evl_reader_open(log_, "readings", 0, &rd);
    if (rc) {
        fprintf(stderr, "reader %d: %s\n", id, evl_strerror(rc));
        return NULL;
    }
    evl_reader_seek(rd, start_offset); /* this run's records only */
    for (int got = 0; got < RECORDS;) {
        const evl_record_t *rec;
        rc = evl_reader_next(rd, 2000, &rec); /* sleeps on a futex */
        if (rc == EVL_ETIMEDOUT)
            break;
        if (rc) {
            fprintf(stderr, "reader %d: %s\n", id, evl_strerror(rc));
            break;
        }
        size_t klen, vlen;
        const char *key = evl_record_key(rec, &klen);
        const char *val = evl_record_value(rec, &vlen);
        printf("  reader %d got offset %3lld  %.*s = %.*s\n", id,
               (long long)evl_record_offset(rec), (int)klen, key, (int)vlen, val);
        got++;
    }
    evl_reader_close(rd);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "demo-data/pubsub";
    int rc = evl_log_open(dir, NULL, &log_);
    if (rc) {
        fprintf(stderr, "open %s: %s\n", dir, evl_strerror(rc));
        return 1;
    }
    rc = evl_topic_create(log_, "readings", 1, NULL);
    if (rc && rc != EVL_EEXIST) {
        fprintf(stderr, "create: %s\n", evl_strerror(rc));
        return 1;
    }
    evl_partition_info_t info;
    evl_partition_info(log_, "readings", 0, &info);
    start_offset = info.end_offset;
    printf("pubsub: log %s holds %lld earlier record(s); starting 3 readers\n", dir,
           (long long)info.end_offset);

    pthread_t readers[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&readers[i], NULL, reader_main, (void *)(intptr_t)(i + 1));

    evl_producer_t *prod;
    evl_producer_new(log_, "readings", NULL, &prod);
    for (int i = 0; i < RECORDS; i++) {
        char key[16], val[32];
        snprintf(key, sizeof key, "sensor-%d", i % 2);
        snprintf(val, sizeof val, "%.1f C", 20.0 + i * 0.5);
        int64_t off;
        rc = evl_producer_send_kv(prod, key, strlen(key), val, strlen(val), NULL, &off);
        if (rc) {
            fprintf(stderr, "send: %s\n", evl_strerror(rc));
            break;
        }
        usleep(20000);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(readers[i], NULL);
    printf("pubsub: %lld record(s) appended in all, %lld this run\n",
           (long long)evl_log_stat(log_, EVL_STAT_APPENDS) + start_offset,
           (long long)evl_log_stat(log_, EVL_STAT_APPENDS));
    evl_producer_close(prod);
    evl_log_close(log_);
    return 0;
}
