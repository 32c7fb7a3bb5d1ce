/*
 * cmd_connect.c - `evl connect run FILE...`: Kafka Connect standalone's
 * shape, one .properties file per connector, run until SIGINT/SIGTERM,
 * then every task stopped, flushed and committed.
 */
#include "evl.h"

#include <eventlog/connect.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_connect[] =
    "usage: evl connect run CONNECTOR.properties|CONNECTOR.json...\n"
    "\n"
    "Run connectors, one per file (Kafka Connect standalone's format:\n"
    "name=..., connector.class=..., and the connector's settings; or JSON,\n"
    "{\"name\": ..., \"config\": {...}}, as Kafka Connect's REST API takes), until\n"
    "SIGINT or SIGTERM; then each task is stopped, flushed and its progress\n"
    "committed. Built-in classes: FileStreamSource, FileStreamSink,\n"
    "KafkaSink, KafkaSource, MqttSource, MqttSink (their settings: see\n"
    "include/eventlog/connect.h). Every file is checked before any\n"
    "connector starts: a bad setting is named and nothing runs (exit 2).\n"
    "A connector that fails while running is reported on stderr; the others\n"
    "go on, and the exit status is then 1.\n";

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap && cap < (1u << 20)) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            } else {
                buf = nb;
            }
        } else if (n == cap) {
            break; /* over 1 MiB: not a connector's settings */
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static const char *pair_get(char **pairs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(pairs[2 * i], key))
            return pairs[2 * i + 1];
    return NULL;
}

static int connect_run(struct cli *cli, int nfiles, char **files)
{
    char ***pairs = calloc((size_t)nfiles, sizeof *pairs);
    size_t *npairs = calloc((size_t)nfiles, sizeof *npairs);
    evl_log_t *log = NULL;
    evl_connect_worker_t *w = NULL;
    int status = EXIT_OK, started = 0;
    char err[512];
    if (!pairs || !npairs) {
        status = cli_fail("out of memory");
        goto out;
    }
    for (int i = 0; i < nfiles; i++) {
        size_t len;
        char *text = read_file(files[i], &len);
        if (!text) {
            status = cli_usage(cli, "cannot read '%s'", files[i]);
            goto out;
        }
        size_t fl = strlen(files[i]);
        bool json = fl > 5 && !strcmp(files[i] + fl - 5, ".json");
        int rc = json ? evl_connect_json(text, len, &pairs[i], &npairs[i], err, sizeof err)
                      : evl_connect_properties(text, len, &pairs[i], &npairs[i], err, sizeof err);
        free(text);
        if (rc) {
            status = cli_usage(cli, "%s: %s", files[i], err[0] ? err : evl_strerror(rc));
            goto out;
        }
    }
    if ((status = cli_open_log(cli, 0, &log)) != 0)
        goto out;
    int rc = evl_connect_worker_new(log, &w);
    if (rc) {
        status = cli_fail_rc(rc, "starting the worker");
        goto out;
    }
    cli_install_stop_signals();
    for (int i = 0; i < nfiles; i++) {
        rc = evl_connect_start(w, (const char *const *)pairs[i], npairs[i], err, sizeof err);
        if (rc) {
            status = rc == EVL_ECONFIG ? cli_usage(cli, "%s: %s", files[i], err)
                                       : cli_fail_rc(rc, "%s: %s", files[i], err);
            goto out;
        }
        started++;
    }
    fprintf(stderr, "evl: %d connector%s running; SIGINT or SIGTERM stops\n", started,
            started == 1 ? "" : "s");
    bool *reported = calloc((size_t)nfiles, sizeof *reported);
    while (!cli_stop_requested) {
        usleep(100000);
        for (int i = 0; reported && i < nfiles; i++) {
            const char *name = pair_get(pairs[i], npairs[i], "name");
            if (!reported[i] &&
                evl_connect_status(w, name, NULL, err, sizeof err) == EVL_CONNECT_FAILED) {
                fprintf(stderr, "evl: connector %s failed: %s\n", name, err);
                reported[i] = true;
                status = EXIT_RUNTIME;
            }
        }
    }
    free(reported);
out:
    evl_connect_worker_free(w); /* stops, flushes and commits every task */
    evl_log_close(log);
    for (int i = 0; pairs && i < nfiles; i++)
        evl_connect_pairs_free(pairs[i], npairs[i]);
    free(pairs);
    free(npairs);
    return status;
}

int cmd_connect(struct cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return argc < 2 ? cli_usage(cli, "missing subcommand (run)") : cli_help(help_connect);
    if (strcmp(argv[1], "run") != 0)
        return cli_usage(cli, "unknown subcommand '%s'", argv[1]);
    if (argc < 3)
        return cli_usage(cli, "missing CONNECTOR.properties");
    return connect_run(cli, argc - 2, argv + 2);
}
