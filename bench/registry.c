/*
 * registry.c - `make -C bench registry` (also run by `make bench`): what the
 * schema registry costs.
 *
 *  1. A 10-field Avro record: serialize (JSON text -> Confluent wire format)
 *     and produce, beside the baseline of the same run: producing the same
 *     encoded bytes as they are. Then consume + deserialize (-> JSON text)
 *     beside reading the same records raw.
 *  2. Registrations/s and lookups (schema by id)/s through the REST server
 *     (a keep-alive HTTP/1.1 client on 127.0.0.1 in this process) beside the
 *     same calls in-process.
 *
 *   bin/bench_registry [N] [REGS]   (defaults 500000 and 2000; BENCH_SCALE
 *                                    scales both)
 *
 * Prints a table on stdout and writes out/registry.tsv.
 */
#include <arpa/inet.h>
#include <eventlog.h>
#include <eventlog/registry.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char schema10[] =
    "{\"type\":\"record\",\"name\":\"Reading\",\"namespace\":\"bench\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"long\"},{\"name\":\"sensor\",\"type\":\"string\"},"
    "{\"name\":\"temp\",\"type\":\"double\"},{\"name\":\"hum\",\"type\":\"float\"},"
    "{\"name\":\"ok\",\"type\":\"boolean\"},{\"name\":\"seq\",\"type\":\"int\"},"
    "{\"name\":\"site\",\"type\":\"string\"},{\"name\":\"ts\",\"type\":\"long\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\",\"B\"]}}]}";

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_registry: %s: %s %s\n", what, evl_registry_strerror(rc),
            evl_registry_errmsg());
    exit(1);
}

static int json_line(char *buf, size_t n, long i)
{
    return snprintf(buf, n,
                    "{\"id\":%ld,\"sensor\":\"sensor-%ld\",\"temp\":%.2f,\"hum\":%.1f,\"ok\":%s,"
                    "\"seq\":%ld,\"site\":\"plant-7\",\"ts\":%ld,\"note\":%s,\"kind\":\"%s\"}",
                    i, i % 1000, 20.0 + (double)(i % 100) / 10, 40.0 + (double)(i % 50),
                    i % 3 ? "true" : "false", i % 100000, 1700000000000L + i,
                    i % 2 ? "{\"string\":\"checked\"}" : "null", i % 2 ? "B" : "A");
}

/* ---- 1. serdes against raw bytes --------------------------------------------- */

static double produce_raw(evl_log_t *log, const char *topic, void **vals, size_t *lens, long n)
{
    evl_producer_t *p;
    if (evl_topic_create(log, topic, 1, NULL) || evl_producer_new(log, topic, NULL, &p))
        die("topic", -1);
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        if (evl_producer_send_kv(p, NULL, 0, vals[i], lens[i], NULL, NULL))
            die("send", -1);
    double t = now_s() - t0;
    evl_producer_close(p);
    return t;
}

static double read_topic(evl_log_t *log, const char *topic, long n, evl_deserializer_t *des)
{
    evl_reader_t *rd;
    if (evl_reader_open(log, topic, 0, &rd))
        die("reader", -1);
    double t0 = now_s();
    size_t sum = 0;
    for (long i = 0; i < n; i++) {
        const evl_record_t *r;
        if (evl_reader_next(rd, 1000, &r))
            die("read", -1);
        size_t len;
        const void *v = evl_record_value(r, &len);
        if (des) {
            char *json;
            int rc = evl_deserializer_decode(des, v, len, &json, NULL);
            if (rc)
                die("decode", rc);
            sum += strlen(json);
            free(json);
        } else {
            sum += len;
        }
    }
    double t = now_s() - t0;
    evl_reader_close(rd);
    return sum ? t : t;
}

/* ---- 2. a keep-alive HTTP client ----------------------------------------------- */

static int http_fd = -1;

static int http_connect(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    http_fd = socket(AF_INET, SOCK_STREAM, 0);
    return connect(http_fd, (struct sockaddr *)&a, sizeof a);
}

/* One request; the status, the body (no chunked encoding: the server sends
 * Content-Length) discarded. */
static int http_call(const char *method, const char *path, const char *body)
{
    char req[8192];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     "application/vnd.schemaregistry.v1+json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    if (write(http_fd, req, (size_t)n) != n)
        return -1;
    static char resp[65536];
    size_t got = 0;
    long clen = -1;
    char *hend = NULL;
    for (;;) {
        ssize_t r = read(http_fd, resp + got, sizeof resp - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        resp[got] = 0;
        if (!hend && (hend = strstr(resp, "\r\n\r\n"))) {
            char *cl = strcasestr(resp, "Content-Length:");
            clen = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (hend && (long)(got - (size_t)(hend + 4 - resp)) >= clen)
            break;
    }
    return atoi(resp + 9);
}

int main(int argc, char **argv)
{
    double scale = getenv("BENCH_SCALE") ? atof(getenv("BENCH_SCALE")) : 1.0;
    long n = (long)((argc > 1 ? atol(argv[1]) : 500000) * scale);
    long regs = (long)((argc > 2 ? atol(argv[2]) : 2000) * scale);
    if (n < 1000)
        n = 1000;
    if (regs < 50)
        regs = 50;
    char dir[] = "/tmp/bench_registry.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    evl_log_t *log;
    evl_registry_t *reg;
    int rc;
    if ((rc = evl_log_open(dir, NULL, &log)) || (rc = evl_registry_open(log, &reg)))
        die("open", rc);

    /* inputs: JSON lines, and their encodings for the baseline */
    char **lines = calloc((size_t)n, sizeof *lines);
    void **vals = calloc((size_t)n, sizeof *vals);
    size_t *lens = calloc((size_t)n, sizeof *lens);
    evl_serializer_t *ser;
    if ((rc = evl_serializer_new(reg, "ser", EVL_SCHEMA_AVRO, schema10, NULL, 0, NULL, &ser)))
        die("serializer", rc);
    char buf[1024];
    for (long i = 0; i < n; i++) {
        json_line(buf, sizeof buf, i);
        lines[i] = strdup(buf);
        if ((rc = evl_serializer_encode(ser, lines[i], strlen(lines[i]), &vals[i], &lens[i])))
            die("encode", rc);
    }
    double t_raw = produce_raw(log, "raw", vals, lens, n);
    evl_producer_t *p;
    if (evl_topic_create(log, "ser", 1, NULL) || evl_producer_open(log, NULL, &p))
        die("topic", -1);
    double t0 = now_s();
    for (long i = 0; i < n; i++)
        if ((rc = evl_serializer_produce(ser, p, "ser", NULL, 0, lines[i], strlen(lines[i]), 0,
                                         NULL, NULL)))
            die("produce", rc);
    double t_ser = now_s() - t0;
    evl_producer_close(p);
    evl_deserializer_t *des;
    if ((rc = evl_deserializer_new(reg, EVL_SCHEMA_AVRO, NULL, NULL, 0, &des)))
        die("deserializer", rc);
    double t_rawread = read_topic(log, "raw", n, NULL);
    double t_des = read_topic(log, "ser", n, des);
    evl_deserializer_free(des);

    /* registrations and lookups, in-process */
    if ((rc = evl_registry_config_set(reg, NULL, EVL_COMPAT_NONE)))
        die("config", rc);
    t0 = now_s();
    for (long i = 0; i < regs; i++) {
        char s[256];
        snprintf(s, sizeof s, "{\"type\":\"fixed\",\"name\":\"F%ld\",\"size\":8}", i);
        int id;
        if ((rc = evl_registry_register(reg, "inproc", EVL_SCHEMA_AVRO, s, NULL, 0, &id, NULL)))
            die("register", rc);
    }
    double t_reg = now_s() - t0;
    t0 = now_s();
    for (long i = 0; i < regs * 10; i++) {
        evl_schema_info_t *in;
        if ((rc = evl_registry_get_by_id(reg, 2 + (int)(i % regs), &in)))
            die("get", rc);
        evl_schema_info_free(in);
    }
    double t_get = now_s() - t0;

    /* the same through REST */
    evl_registry_server_opts_t so = {.size = sizeof so, .listen = "127.0.0.1:0"};
    evl_registry_server_t *srv;
    if ((rc = evl_registry_serve(reg, &so, &srv)) || http_connect(evl_registry_server_port(srv)))
        die("serve", rc);
    t0 = now_s();
    for (long i = 0; i < regs; i++) {
        char s[256];
        snprintf(s, sizeof s,
                 "{\"schema\":\"{\\\"type\\\":\\\"fixed\\\",\\\"name\\\":\\\"G%ld\\\","
                 "\\\"size\\\":8}\"}",
                 i);
        if (http_call("POST", "/subjects/rest/versions", s) != 200)
            die("REST register", -1);
    }
    double t_rreg = now_s() - t0;
    t0 = now_s();
    for (long i = 0; i < regs * 10; i++) {
        char path[64];
        snprintf(path, sizeof path, "/schemas/ids/%d", 2 + (int)(i % regs));
        if (http_call("GET", path, NULL) != 200)
            die("REST get", -1);
    }
    double t_rget = now_s() - t0;
    close(http_fd);
    evl_registry_server_stop(srv);

    printf("%-44s %12s %12s %8s\n", "workload", "measured/s", "baseline/s", "ratio");
    printf("%-44s %12.0f %12.0f %8.2f\n", "Avro 10 fields: serialize+produce vs produce",
           n / t_ser, n / t_raw, t_raw / t_ser);
    printf("%-44s %12.0f %12.0f %8.2f\n", "Avro 10 fields: consume+deserialize vs consume",
           n / t_des, n / t_rawread, t_rawread / t_des);
    printf("%-44s %12.0f %12.0f %8.2f\n", "registrations: REST vs in-process", regs / t_rreg,
           regs / t_reg, t_reg / t_rreg);
    printf("%-44s %12.0f %12.0f %8.2f\n", "lookups by id: REST vs in-process",
           10 * regs / t_rget, 10 * regs / t_get, t_get / t_rget);
    printf("(%ld records of %zu bytes encoded, %ld registrations, %ld lookups)\n", n, lens[0],
           regs, 10 * regs);
    mkdir("out", 0755);
    FILE *f = fopen("out/registry.tsv", "w");
    if (f) {
        fprintf(f, "workload\tmeasured_per_s\tbaseline_per_s\n");
        fprintf(f, "serialize_produce\t%.0f\t%.0f\n", n / t_ser, n / t_raw);
        fprintf(f, "consume_deserialize\t%.0f\t%.0f\n", n / t_des, n / t_rawread);
        fprintf(f, "register_rest\t%.0f\t%.0f\n", regs / t_rreg, regs / t_reg);
        fprintf(f, "lookup_rest\t%.0f\t%.0f\n", 10 * regs / t_rget, 10 * regs / t_get);
        fclose(f);
    }
    for (long i = 0; i < n; i++) {
        free(lines[i]);
        free(vals[i]);
    }
    free(lines);
    free(vals);
    free(lens);
    evl_serializer_free(ser);
    evl_registry_close(reg);
    evl_log_close(log);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) != 0;
}
