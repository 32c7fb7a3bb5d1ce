/*
 * util.c - helpers every `evl` command uses: one-line error messages with the
 * right exit status, option parsing around getopt_long(), strict number
 * parsing, opening the log directory, and a small JSON string writer.
 *
 * Why hand-written JSON: the tool must not add dependencies, and the only
 * hard part of writing JSON is strings. Record keys and group ids are
 * arbitrary bytes, so json_str() escapes control characters and replaces
 * invalid UTF-8 with U+FFFD: the output is always a valid JSON document.
 *
 * Library messages (the log callback) are queued rather than printed at
 * once, so that an error stays one line: when a command fails, the newest
 * queued message is appended to its error line (it is usually the reason,
 * e.g. "max.message.bytes does not fit segment.bytes"); when it succeeds,
 * the queue is printed as "evl: warning: ..." lines.
 */
#include "evl.h"

#include <signal.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- messages ----------------------------------------------------------- */

#define NOTE_MAX 8
#define NOTE_LEN 400

static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;
static char notes[NOTE_MAX][NOTE_LEN];
static int note_count, notes_dropped;

static void note_push(const char *msg)
{
    pthread_mutex_lock(&note_lock);
    if (note_count < NOTE_MAX)
        snprintf(notes[note_count++], NOTE_LEN, "%s", msg);
    else
        notes_dropped++;
    pthread_mutex_unlock(&note_lock);
}

void cli_note(const char *msg) { note_push(msg); }

/* End an error line: the newest library message as its reason, then '\n'. */
static void end_error_line(void)
{
    pthread_mutex_lock(&note_lock);
    if (note_count > 0)
        fprintf(stderr, " (library: %s)", notes[note_count - 1]);
    note_count = notes_dropped = 0;
    pthread_mutex_unlock(&note_lock);
    fputc('\n', stderr);
}

void cli_flush_warnings(void)
{
    int i;

    pthread_mutex_lock(&note_lock);
    for (i = 0; i < note_count; i++)
        fprintf(stderr, "evl: warning: %s\n", notes[i]);
    if (notes_dropped)
        fprintf(stderr, "evl: warning: %d more library messages\n",
                notes_dropped);
    note_count = notes_dropped = 0;
    pthread_mutex_unlock(&note_lock);
}

int cli_usage(const struct cli *cli, const char *fmt, ...)
{
    va_list ap;
    int top = cli->cmd[0] == '\0';
    fprintf(stderr, top ? "evl: " : "evl: %s: ", cli->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'evl %s%s--help')", cli->cmd, top ? "" : " ");
    end_error_line();
    return EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("evl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    end_error_line();
    return EXIT_RUNTIME;
}

int cli_fail_rc(int rc, const char *fmt, ...)
{
    va_list ap;
    fputs("evl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s", evl_strerror(rc));
    end_error_line();
    return EXIT_RUNTIME;
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    fputs("evl: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_help(const char *text)
{
    fputs(text, stdout);
    return cli_finish_stdout();
}

int cli_finish_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_fail("writing to stdout: %s", strerror(errno));
    return EXIT_OK;
}

/* ---- options ------------------------------------------------------------ */

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: 0 re-initializes the scanner completely */
    opterr = 0; /* we print our own one-line messages */
}

int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    int prev = optind ? optind : 1;
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);

    if (c == 'd') {
        cli->dir = optarg;
        return cli_getopt(cli, argc, argv, shortopts, longopts);
    }
    if (c == OPT_JSON) {
        cli->json = 1;
        return cli_getopt(cli, argc, argv, shortopts, longopts);
    }
    if (c == ':' || c == '?') {
        const char *arg = optind > prev ? argv[optind - 1] : argv[prev];
        const char *what = c == ':' ? "needs a value" : "is unknown";
        if (arg && arg[0] == '-' && arg[1] == '-')
            cli_usage(cli, "option '%.*s' %s", (int)strcspn(arg, "="), arg,
                      what);
        else
            cli_usage(cli, "option '-%c' %s", optopt, what);
        return CLI_OPT_ERR;
    }
    return c;
}

int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s || (s[0] == ' ' || s[0] == '\t'))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int parse_int(const char *s, int min, int max, int *out)
{
    int64_t v;
    if (parse_i64(s, min, max, &v))
        return -1;
    *out = (int)v;
    return 0;
}

/* ---- the log -------------------------------------------------------------- */

void cli_log_cb(void *opaque, int level, const char *msg)
{
    const struct cli *cli = opaque;
    if (cli && cli->verbose)
        fprintf(stderr, "evl: note: %s\n", msg);
    else if (level <= EVL_LOG_WARNING)
        note_push(msg);
}

int cli_open_log_cfg(struct cli *cli, const evl_config_t *cfg, evl_log_t **out)
{
    int rc = evl_log_open(cli->dir, cfg, out);
    if (rc != 0)
        return cli_fail_rc(rc, "cannot open log directory '%s'", cli->dir);
    return EXIT_OK;
}

int cli_check_dir(const struct cli *cli)
{
    struct stat st;

    if (stat(cli->dir, &st) == 0)
        return EXIT_OK;
    if (errno == ENOENT)
        return cli_fail("log directory '%s' does not exist (use -d DIR or "
                        "set EVL_DIR)", cli->dir);
    return cli_fail("cannot open log directory '%s': %s", cli->dir,
                    strerror(errno));
}

int cli_open_log(struct cli *cli, int may_create, evl_log_t **out)
{
    evl_config_t *cfg;
    int status;

    *out = NULL;
    if (!may_create && (status = cli_check_dir(cli)) != EXIT_OK)
        return status;
    cfg = evl_config_new();
    if (!cfg)
        return cli_fail("out of memory");
    evl_config_set_log_cb(cfg, cli_log_cb, cli);
    status = cli_open_log_cfg(cli, cfg, out);
    evl_config_free(cfg);
    return status;
}

int cli_topic_fail(int rc, const char *topic)
{
    if (rc == EVL_ENOTFOUND)
        return cli_fail("topic '%s' does not exist", topic);
    return cli_fail_rc(rc, "topic '%s'", topic);
}

int cli_check_topic_name(const struct cli *cli, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 249 || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") != len)
        return cli_usage(cli, "invalid topic name '%s' (1 to 249 of "
                         "[A-Za-z0-9._-], not '.' or '..')", name);
    return EXIT_OK;
}

int cli_dispatch(struct cli *cli, int argc, char **argv,
                 const struct subcommand *subs, size_t count,
                 const char *help)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char path[64];
    const char *top = argv[0];
    size_t i;
    int c;

    /* Options before the subcommand: `evl topic -d DIR list`. */
    while ((c = cli_getopt(cli, argc, argv, "+:d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help);
        return EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage(cli, "missing subcommand");
    for (i = 0; i < count; i++) {
        if (strcmp(subs[i].name, argv[optind]) != 0)
            continue;
        snprintf(path, sizeof path, "%s %s", top, subs[i].name);
        cli->cmd = path;
        argc -= optind;
        argv += optind;
        cli_getopt_reset();
        return subs[i].fn(cli, argc, argv);
    }
    return cli_usage(cli, "unknown subcommand '%s'", argv[optind]);
}

int cli_config_set(const struct cli *cli, evl_config_t *cfg, const char *name,
                   const char *value)
{
    char err[256] = "";
    int rc = evl_config_set(cfg, name, value, err, sizeof err);
    if (rc == 0)
        return EXIT_OK;
    if (rc == EVL_ENOMEM)
        return cli_fail("out of memory");
    return cli_usage(cli, "bad setting %s=%s: %s", name, value,
                     err[0] ? err : evl_strerror(rc));
}

/* ---- JSON ----------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if invalid:
 * overlong forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len, i;
    uint32_t cp;

    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return len;
}

void json_str(FILE *f, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0, len;

    putc('"', f);
    while (i < n) {
        unsigned char c = s[i];
        switch (c) {
        case '"':  fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (c < 0x20) {
                fprintf(f, "\\u%04x", c);
            } else if (c < 0x80) {
                putc(c, f);
            } else if ((len = utf8_len(s + i, n - i)) != 0) {
                fwrite(s + i, 1, len, f);
                i += len;
                continue;
            } else {
                fputs("\\ufffd", f);
            }
        }
        i++;
    }
    putc('"', f);
}

void json_cstr(FILE *f, const char *s)
{
    if (s)
        json_str(f, s, strlen(s));
    else
        fputs("null", f);
}

/* ---- time ----------------------------------------------------------------- */

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

volatile sig_atomic_t cli_stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    cli_stop_requested = 1;
}

/* No SA_RESTART: a blocking wait returns early and the loop sees the flag. */
void cli_install_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

char *cli_read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_fail("%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap) {
            char *nb = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        cli_fail("%s: %s", path, buf ? "read error" : "too big or out of memory");
        return NULL;
    }
    buf[n] = 0;
    return buf;
}
