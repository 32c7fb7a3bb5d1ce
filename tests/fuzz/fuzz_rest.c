/*
 * fuzz_rest.c - libFuzzer target: the schema registry's REST routing
 * (evl__sr_rest_handle, everything the HTTP server does with a request
 * once its bytes are in). An input is "METHOD\nURL\nCONTENT-TYPE\nBODY":
 * any method, path, query and body is answered with a status and a body,
 * never a crash, a read past the body, a leak or a hang. One registry on a
 * temporary log serves all inputs (it holds two subjects to begin with,
 * so that reads, lookups and checks reach the formats); what the inputs
 * register or delete stays for the next ones.
 */
#include <eventlog.h>
#include <eventlog/registry.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/registry/rest_int.h"

static char dir[64];
static evl_log_t *log_;
static evl_registry_t *reg;

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    evl_registry_close(reg);
    evl_log_close(log_);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "/tmp/fuzz_rest.XXXXXX");
    if (!mkdtemp(dir) || evl_log_open(dir, NULL, &log_) || evl_registry_open(log_, &reg))
        abort();
    atexit(cleanup);
    static const char *const v1 = "{\"type\":\"record\",\"name\":\"U\",\"fields\":"
                                  "[{\"name\":\"a\",\"type\":\"string\"}]}";
    static const char *const v2 = "{\"type\":\"record\",\"name\":\"U\",\"fields\":"
                                  "[{\"name\":\"a\",\"type\":\"string\"},"
                                  "{\"name\":\"b\",\"type\":\"int\",\"default\":0}]}";
    int id;
    if (evl_registry_register(reg, "s", EVL_SCHEMA_AVRO, v1, NULL, 0, &id, NULL) ||
        evl_registry_register(reg, "s", EVL_SCHEMA_AVRO, v2, NULL, 0, &id, NULL) ||
        evl_registry_register(reg, "t", EVL_SCHEMA_AVRO, "\"string\"", NULL, 0, &id, NULL))
        abort();
    return 0;
}

/* The next line of data[*at..size) as a malloc'd string (NULs kept out:
 * an HTTP request line cannot carry one). */
static char *line(const uint8_t *data, size_t size, size_t *at)
{
    size_t start = *at, end = start;
    while (end < size && data[end] != '\n')
        end++;
    *at = end < size ? end + 1 : end;
    char *s = malloc(end - start + 1);
    if (!s)
        abort();
    size_t n = 0;
    for (size_t i = start; i < end; i++)
        if (data[i])
            s[n++] = (char)data[i];
    s[n] = 0;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t at = 0;
    char *method = line(data, size, &at), *url = line(data, size, &at),
         *ctype = line(data, size, &at);
    size_t len = size - at;
    char *body = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    if (!body)
        abort();
    if (len)
        memcpy(body, data + at, len);
    char *resp = NULL;
    const char *type = NULL;
    int status = evl__sr_rest_handle(reg, method, url, ctype[0] ? ctype : NULL,
                                     len ? body : NULL, len, &resp, &type);
    if (status < 200 || status > 599 || !type || (!resp && status != 500))
        abort();
    if (resp && status >= 400 && !strstr(resp, "\"error_code\""))
        abort(); /* every error is Confluent's shape */
    free(resp);
    free(body);
    free(method);
    free(url);
    free(ctype);
    return 0;
}
