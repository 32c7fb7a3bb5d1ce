/*
 * rest.c - the registry's HTTP server (libmicrohttpd): Confluent Schema
 * Registry's REST API, answered by rest_routes.c, on "HOST:PORT" (IPv4 or
 * [IPv6]; port 0 picks a free one), with optional HTTP basic auth and
 * HTTPS. This file only moves bytes: it gathers a request's body (up to
 * max_body, else 413 before the body is even read when its length is
 * announced), checks the credentials, and hands the raw path and query to
 * evl__sr_rest_handle, which decodes them itself (so a subject's "%2F"
 * stays inside its segment: libmicrohttpd would otherwise decode the path
 * before splitting it).
 *
 * One thread per connection: a registration waits for an fsync of
 * __schemas, and must not hold up the readers on other connections. A
 * connection idle for 30 s is closed, and at most 1024 are served at once,
 * so slow or abandoned clients cannot pile up threads.
 */
#include "rest_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define DEFAULT_LISTEN "127.0.0.1:8081"
#define DEFAULT_MAX_BODY (16u << 20)
#define PEM_MAX (1u << 20)
#define URL_MAX 8192

struct evl_registry_server {
    evl_registry_t *reg;
    struct MHD_Daemon *d;
    int port;
    size_t max_body;
    char *auth; /* "user:password", or NULL */
    char *cert, *key;
};

typedef struct req {
    char *body;
    size_t len, cap;
    bool too_big;
} req_t;

/* ---- answers ----------------------------------------------------------------------- */

static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *body, bool auth)
{
    static char oom[] = "{\"error_code\":50001,\"message\":\"Error in the backend data store\"}";
    if (!body)
        status = 500;
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (auth)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Basic realm=\"SchemaRegistry\"");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_body(c, status, EVL_SR_REST_CTYPE, evl__sr_rest_error((int)status, msg),
                     status == 401);
}

/* ---- basic auth ------------------------------------------------------------------------- */

static int b64val(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A'
           : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
           : ch >= '0' && ch <= '9' ? ch - '0' + 52
           : ch == '+' ? 62
           : ch == '/' ? 63
                       : -1;
}

/* Decode base64 s into out (at most cap-1 bytes, NUL-terminated); the
 * length, or -1 when s is not base64 or too long. */
static long b64decode(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        int v = b64val((unsigned char)*s);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xFFFFFF;
        if ((bits += 6) >= 8) {
            bits -= 8;
            if (n + 1 >= cap)
                return -1;
            out[n++] = (char)(acc >> bits & 0xFF);
        }
    }
    out[n] = 0;
    return (long)n;
}

/* Does the request carry the server's credentials? Compared in time
 * independent of where they differ. */
static bool authorized(const evl_registry_server_t *srv, struct MHD_Connection *c)
{
    if (!srv->auth)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Basic ", 6))
        return false;
    h += 6;
    while (*h == ' ')
        h++;
    char got[1024];
    long n = b64decode(h, got, sizeof got);
    size_t want = strlen(srv->auth);
    if (n < 0 || (size_t)n != want)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < want; i++)
        diff |= (unsigned char)(got[i] ^ srv->auth[i]);
    return diff == 0;
}

/* ---- the handler ------------------------------------------------------------------------ */

typedef struct urlbuf {
    char s[URL_MAX];
    size_t n;
    bool any, overflow;
} urlbuf_t;

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    urlbuf_t *u = cls;
    int w = snprintf(u->s + u->n, sizeof u->s - u->n, "%c%s%s%s", u->any ? '&' : '?', key,
                     value ? "=" : "", value ? value : "");
    if (w < 0 || (size_t)w >= sizeof u->s - u->n) {
        u->overflow = true;
        return MHD_NO;
    }
    u->n += (size_t)w;
    u->any = true;
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **con_cls)
{
    (void)version;
    evl_registry_server_t *srv = cls;
    req_t *q = *con_cls;
    if (!q) { /* the headers: refuse early what needs no body to refuse */
        if (!(q = calloc(1, sizeof *q)))
            return MHD_NO;
        *con_cls = q;
        if (!authorized(srv, c))
            return send_error(c, 401, "Unauthorized");
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->max_body) {
            q->too_big = true;
            return send_error(c, 413, "Request body is larger than the server accepts");
        }
        return MHD_YES;
    }
    if (*size) {
        if (!q->too_big && q->len + *size > srv->max_body) {
            q->too_big = true; /* the rest is read and dropped */
            free(q->body);
            q->body = NULL;
            q->len = q->cap = 0;
        }
        if (!q->too_big) {
            if (q->len + *size + 1 > q->cap) {
                size_t cap = q->cap ? q->cap : 4096;
                while (cap < q->len + *size + 1)
                    cap *= 2;
                char *nb = realloc(q->body, cap);
                if (!nb)
                    return MHD_NO;
                q->body = nb;
                q->cap = cap;
            }
            memcpy(q->body + q->len, data, *size);
            q->len += *size;
            q->body[q->len] = 0;
        }
        *size = 0;
        return MHD_YES;
    }
    if (q->too_big)
        return send_error(c, 413, "Request body is larger than the server accepts");
    /* The path and the query as they came (the unescape callback below
     * leaves both alone). */
    urlbuf_t u = {.n = 0};
    int w = snprintf(u.s, sizeof u.s, "%s", url);
    if (w < 0 || (size_t)w >= sizeof u.s)
        return send_error(c, 414, "URI Too Long");
    u.n = (size_t)w;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &u);
    if (u.overflow)
        return send_error(c, 414, "URI Too Long");
    char *body = NULL;
    const char *type = EVL_SR_REST_CTYPE;
    int status = evl__sr_rest_handle(
        srv->reg, method, u.s,
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE), q->body,
        q->len, &body, &type);
    return send_body(c, (unsigned)status, type, body, false);
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
                 enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    req_t *q = *con_cls;
    if (q) {
        free(q->body);
        free(q);
    }
    *con_cls = NULL;
}

/* Leave the URL as sent: rest_routes.c decodes each segment itself. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* ---- the daemon ------------------------------------------------------------------------- */

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (127.0.0.1) into *sa: HOST an IPv4 or IPv6
 * address, or localhost. */
static int parse_listen(const char *listen, struct sockaddr_storage *sa, socklen_t *salen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return EVL_EINVAL;
    size_t hl = (size_t)(colon - listen);
    const char *h = listen;
    if (hl && listen[0] == '[') {
        if (listen[hl - 1] != ']' || hl < 3)
            return EVL_EINVAL;
        h++;
        hl -= 2;
    }
    if (hl >= sizeof host)
        return EVL_EINVAL;
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port < 0 || port > 65535)
        return EVL_EINVAL;
    /* Addresses only (no name service to wait for), and "localhost". */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST},
                    *res = NULL;
    if (!hl || !strcasecmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    if (getaddrinfo(host, NULL, &hints, &res) || !res)
        return EVL_EINVAL;
    memset(sa, 0, sizeof *sa);
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *salen = res->ai_addrlen;
    freeaddrinfo(res);
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    else if (sa->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    else
        return EVL_EINVAL;
    return 0;
}

/* A PEM file into memory (NUL-terminated), or NULL: missing, unreadable,
 * too large, or no PEM in it. */
static char *read_pem(const char *path)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f)
        return NULL;
    char *buf = malloc(PEM_MAX + 1);
    size_t n = buf ? fread(buf, 1, PEM_MAX + 1, f) : 0;
    bool bad = ferror(f) || n > PEM_MAX;
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (!strstr(buf, "-----BEGIN ")) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void server_free(evl_registry_server_t *srv)
{
    free(srv->auth);
    free(srv->cert);
    free(srv->key);
    free(srv);
}

EVL_API int evl_registry_serve(evl_registry_t *reg, const evl_registry_server_opts_t *opts,
                               evl_registry_server_t **out)
{
    if (!out)
        return EVL_EINVAL;
    *out = NULL;
    evl_registry_server_opts_t o = {0};
    if (opts)
        memcpy(&o, opts, opts->size && opts->size < sizeof o ? opts->size : sizeof o);
    if (!reg)
        return EVL_EINVAL;
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    if (parse_listen(o.listen ? o.listen : DEFAULT_LISTEN, &sa, &salen))
        return EVL_EINVAL;
    if (o.basic_auth && !strchr(o.basic_auth, ':'))
        return EVL_EINVAL;
    if (!o.tls_cert_file != !o.tls_key_file)
        return EVL_EINVAL; /* HTTPS needs both */
    evl_registry_server_t *srv = calloc(1, sizeof *srv);
    if (!srv)
        return EVL_ENOMEM;
    srv->reg = reg;
    srv->max_body = o.max_body ? o.max_body : DEFAULT_MAX_BODY;
    if (o.basic_auth && !(srv->auth = strdup(o.basic_auth))) {
        server_free(srv);
        return EVL_ENOMEM;
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_THREAD_PER_CONNECTION;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (o.tls_cert_file) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
            !(srv->cert = read_pem(o.tls_cert_file)) || !(srv->key = read_pem(o.tls_key_file))) {
            server_free(srv);
            return EVL_EINVAL;
        }
        flags |= MHD_USE_TLS;
    }
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, srv->cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->key},
        {MHD_OPTION_END, 0, NULL},
    };
    errno = 0;
    srv->d = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, done, srv, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, srv,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_ARRAY, srv->cert ? tls : tls + 2, MHD_OPTION_END);
    if (!srv->d) {
        int e = errno;
        server_free(srv);
        if (e == EADDRINUSE || e == EADDRNOTAVAIL || e == EACCES)
            return -e;
        return o.tls_cert_file ? EVL_EINVAL : e > 0 ? -e : EVL_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : 0;
    *out = srv;
    return 0;
}

EVL_API int evl_registry_server_port(const evl_registry_server_t *srv)
{
    return srv ? srv->port : -1;
}

EVL_API void evl_registry_server_stop(evl_registry_server_t *srv)
{
    if (!srv)
        return;
    MHD_stop_daemon(srv->d);
    server_free(srv);
}
