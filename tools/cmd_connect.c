/*
 * cmd_connect.c - `evl connect run FILE...`: Kafka Connect standalone's
 * shape, one .properties file per connector, run until SIGINT/SIGTERM,
 * then every task stopped, flushed and committed.
 */
#include "evl.h"

#include <arpa/inet.h>
#include <eventlog/connect.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_connect[] =
    "usage: evl connect run [--rest HOST:PORT] [-c NAME=VALUE]... CONNECTOR.properties|.json...\n"
    "       evl connect status [--rest HOST:PORT] [NAME]\n"
    "\n"
    "Run connectors, one per file (Kafka Connect standalone's format:\n"
    "name=..., connector.class=..., and the connector's settings; or JSON,\n"
    "{\"name\": ..., \"config\": {...}}, as Kafka Connect's REST API takes), until\n"
    "SIGINT or SIGTERM; then each task is stopped, flushed and its progress\n"
    "committed. Built-in classes: FileStreamSource, FileStreamSink,\n"
    "KafkaSink, KafkaSource, MqttSource, MqttSink (their settings: see\n"
    "include/eventlog/connect.h). Every file is checked before any\n"
    "connector starts: a bad setting is named and nothing runs (exit 2).\n"
    "-c sets a setting of the log (eventlog.h), e.g. -c disk.bytes.max=67108864\n"
    "-c disk.full.policy=block on a device with little space.\n"
    "With --rest, Kafka Connect's REST API on HOST:PORT (loopback unless\n"
    "told otherwise): /connectors, /connector-plugins, /metrics (Prometheus).\n"
    "status asks a running worker's REST API (default 127.0.0.1:8083) for\n"
    "its connectors' states and metrics, as JSON.\n"
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

static void log_to_stderr(void *opaque, int level, const char *msg)
{
    (void)opaque;
    (void)level;
    fprintf(stderr, "evl: %s\n", msg);
}

static int connect_run(struct cli *cli, const char *rest, evl_config_t *cfg, int nfiles,
                       char **files)
{
    evl_connect_rest_t *srv = NULL;
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
    if ((status = cli_check_dir(cli)) != 0 || (status = cli_open_log_cfg(cli, cfg, &log)) != 0)
        goto out;
    int rc = evl_connect_worker_new(log, &w);
    if (rc) {
        status = cli_fail_rc(rc, "starting the worker");
        goto out;
    }
    evl_connect_worker_set_log_cb(w, log_to_stderr, NULL);
    cli_install_stop_signals();
    if (rest && (rc = evl_connect_rest_start(w, rest, &srv, err, sizeof err))) {
        status = rc == EVL_ECONFIG ? cli_usage(cli, "%s", err) : cli_fail_rc(rc, "%s", err);
        goto out;
    }
    if (srv)
        fprintf(stderr, "evl: REST API on port %d\n", evl_connect_rest_port(srv));
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
    evl_connect_rest_stop(srv);
    evl_connect_worker_free(w); /* stops, flushes and commits every task */
    evl_log_close(log);
    for (int i = 0; pairs && i < nfiles; i++)
        evl_connect_pairs_free(pairs[i], npairs[i]);
    free(pairs);
    free(npairs);
    return status;
}

/* GET path from the worker's REST API at hostport; the body to stdout. */
static int connect_status(struct cli *cli, const char *hostport, const char *name)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof host)
        return cli_usage(cli, "--rest: HOST:PORT expected, not '%s'", hostport);
    snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return cli_usage(cli, "--rest: '%s' is not an IPv4 address", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return cli_fail("no worker's REST API at %s (evl connect run --rest %s ...)", hostport,
                        hostport);
    }
    char req[512];
    int n = name ? snprintf(req, sizeof req,
                            "GET /connectors/%s/status HTTP/1.0\r\nHost: %s\r\n\r\n", name,
                            hostport)
                 : snprintf(req, sizeof req,
                            "GET /connectors?expand=status HTTP/1.0\r\nHost: %s\r\n\r\n",
                            hostport);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return cli_fail("writing to %s failed", hostport);
    }
    char *resp = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            char *nb = realloc(resp, cap = cap ? cap * 2 : 8192);
            if (!nb)
                break;
            resp = nb;
        }
        ssize_t got = read(fd, resp + len, cap - len - 1);
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    if (!resp)
        return cli_fail("no answer from %s", hostport);
    resp[len] = 0;
    int code = 0;
    sscanf(resp, "HTTP/%*s %d", &code);
    char *body = strstr(resp, "\r\n\r\n");
    body = body ? body + 4 : resp + len;
    int status = EXIT_OK;
    if (code == 200)
        printf("%s\n", body);
    else
        status = cli_fail("%s: HTTP %d %s", hostport, code, body);
    free(resp);
    return status ? status : cli_finish_stdout();
}

int cmd_connect(struct cli *cli, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
        return argc < 2 ? cli_usage(cli, "missing subcommand (run, status)")
                        : cli_help(help_connect);
    bool run = !strcmp(argv[1], "run"), status = !strcmp(argv[1], "status");
    if (!run && !status)
        return cli_usage(cli, "unknown subcommand '%s'", argv[1]);
    const char *rest = NULL;
    int i = 2;
    evl_config_t *cfg = evl_config_new();
    if (!cfg)
        return cli_fail("out of memory");
    evl_config_set_log_cb(cfg, cli_log_cb, cli);
    while (i < argc && (!strcmp(argv[i], "--rest") || !strcmp(argv[i], "-c"))) {
        if (i + 1 >= argc) {
            evl_config_free(cfg);
            return cli_usage(cli, "%s needs a value", argv[i]);
        }
        if (!strcmp(argv[i], "--rest")) {
            rest = argv[i + 1];
        } else {
            char name[128], err[256];
            const char *eq = strchr(argv[i + 1], '=');
            if (!eq || (size_t)(eq - argv[i + 1]) >= sizeof name) {
                evl_config_free(cfg);
                return cli_usage(cli, "-c NAME=VALUE, not '%s'", argv[i + 1]);
            }
            snprintf(name, sizeof name, "%.*s", (int)(eq - argv[i + 1]), argv[i + 1]);
            if (evl_config_set(cfg, name, eq + 1, err, sizeof err)) {
                evl_config_free(cfg);
                return cli_usage(cli, "-c %s", err);
            }
        }
        i += 2;
    }
    if (status) {
        evl_config_free(cfg);
        return i + 1 < argc ? cli_usage(cli, "status takes one NAME at most")
                            : connect_status(cli, rest ? rest : "127.0.0.1:8083",
                                             i < argc ? argv[i] : NULL);
    }
    int rc = i >= argc ? cli_usage(cli, "missing CONNECTOR.properties")
                       : connect_run(cli, rest, cfg, argc - i, argv + i);
    evl_config_free(cfg);
    return rc;
}
