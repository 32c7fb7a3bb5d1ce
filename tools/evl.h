/*
 * evl.h - what the files of the `evl` command-line tool share.
 *
 * `evl` is to libeventlog what kcat and Kafka's console tools are to Kafka.
 * It uses only the public API (<eventlog.h>); the one exception is `evl
 * dump`, which parses the documented segment byte layout itself because the
 * library has no public segment-file reader.
 *
 * Conventions every command follows, so scripts can rely on them:
 *  - exit status 0 success, 1 runtime error, 2 usage error (EXIT_RUNTIME,
 *    EXIT_USAGE below); commands return the status, only main() exits;
 *  - errors go to stderr as exactly one line starting "evl: ";
 *  - data goes to stdout and nothing else does (help requested with --help
 *    is data, usage errors are not);
 *  - the log directory is -d DIR, else $EVL_DIR, else ./evl-data.
 */
#ifndef EVL_TOOL_H
#define EVL_TOOL_H

#include <eventlog.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* The state every command gets. */
struct cli {
    const char *dir;  /* log directory */
    const char *cmd;  /* command path for messages, e.g. "topic create";
                         "" at the top level */
    int json;         /* --json: one JSON document on stdout */
    int verbose;      /* -v: library notices on stderr too */
};

/* A command: argv[0] is the command's own name; returns an exit status. */
typedef int cli_cmd_fn(struct cli *cli, int argc, char **argv);

int cmd_topic(struct cli *cli, int argc, char **argv);
int cmd_produce(struct cli *cli, int argc, char **argv);
int cmd_consume(struct cli *cli, int argc, char **argv);
int cmd_group(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_dump(struct cli *cli, int argc, char **argv);
int cmd_perf(struct cli *cli, int argc, char **argv);
int cmd_migrate(struct cli *cli, int argc, char **argv);
int cmd_connect(struct cli *cli, int argc, char **argv);
int cmd_registry(struct cli *cli, int argc, char **argv);
int cmd_streams(struct cli *cli, int argc, char **argv);

/* ---- messages and exit statuses (util.c) ---------------------------- */

/* "evl: CMD: message (see 'evl CMD --help')" on stderr; returns 2. */
int cli_usage(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "evl: message" on stderr; returns 1. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "evl: message: <evl_strerror(rc)>" on stderr; returns 1. */
int cli_fail_rc(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "evl: warning: message" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Queue a library message as cli_log_cb does (the next error line ends
 * with the newest one as its reason). */
void cli_note(const char *msg);
/* Print the queued library warnings ("evl: warning: ...") and clear them. */
void cli_flush_warnings(void);
/* SIGINT and SIGTERM set cli_stop_requested (long-running commands poll it). */
#include <signal.h>
extern volatile sig_atomic_t cli_stop_requested;
void cli_install_stop_signals(void);
/* Print a help text to stdout; returns 0. */
int cli_help(const char *text);
/* Flush stdout; 0, or 1 after an "evl: " message if writing failed. */
int cli_finish_stdout(void);

/* ---- options (util.c) ------------------------------------------------- */

/*
 * getopt_long() with the options every command has: -d/--dir DIR,
 * -h/--help, --json (when the command lists it). Handles -d itself and
 * reports bad options. shortopts must start with ':'. Returns the option
 * character, -1 at the end, CLI_OPT_ERR after printing a usage error.
 */
#define CLI_OPT_ERR (-2)
#define OPT_JSON 0x1001 /* long-option codes above any character */
int cli_getopt(struct cli *cli, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* Reset getopt before a command parses its own argv. */
void cli_getopt_reset(void);

/* Strict number parsing: the whole string, within [min, max]. 0 or -1. */
int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);
int parse_int(const char *s, int min, int max, int *out);

/* ---- the log (util.c) --------------------------------------------------- */

/*
 * Open cli->dir. Unless may_create, a missing directory is an error (so a
 * typo does not quietly create an empty log). Library warnings go to stderr.
 * Returns an exit status; *out is set on 0.
 */
int cli_open_log(struct cli *cli, int may_create, evl_log_t **out);
/* 0 if cli->dir exists, else 1 after "log directory ... does not exist". */
int cli_check_dir(const struct cli *cli);
/* As cli_open_log() with a caller's config (copied) and no existence check. */
int cli_open_log_cfg(struct cli *cli, const evl_config_t *cfg, evl_log_t **out);
/* The library log callback: queues warnings (see cli_flush_warnings());
 * with -v prints every message at once. */
void cli_log_cb(void *opaque, int level, const char *msg);

/* The whole of a text file (at most 16 MiB), NUL-terminated, malloc'd; NULL
 * after an "evl: " message. */
char *cli_read_text(const char *path);

/* "topic 'X' does not exist" and friends for a failed call on topic. */
int cli_topic_fail(int rc, const char *topic);
/* A usage error (2) unless name is a valid topic name (Kafka's rules). */
int cli_check_topic_name(const struct cli *cli, const char *name);

/* Subcommands (`evl topic create`): argv[0] is the command, argv[1] the
 * subcommand; sets cli->cmd to "command subcommand" and runs it. */
struct subcommand {
    const char *name;
    cli_cmd_fn *fn;
};
int cli_dispatch(struct cli *cli, int argc, char **argv,
                 const struct subcommand *subs, size_t count,
                 const char *help);

/* Set name=value on cfg; on failure print a usage error and return 2. */
int cli_config_set(const struct cli *cli, evl_config_t *cfg, const char *name,
                   const char *value);

/* ---- JSON output (util.c) ---------------------------------------------- */

/* Write bytes as a JSON string: quotes, escapes, invalid UTF-8 as U+FFFD. */
void json_str(FILE *f, const void *p, size_t n);
void json_cstr(FILE *f, const char *s); /* NULL prints null */

/* ---- time (util.c) ------------------------------------------------------ */
int64_t now_ms(void);   /* wall clock, ms since the epoch */
uint64_t mono_ns(void); /* monotonic clock, ns */


#endif /* EVL_TOOL_H */
