/*
 * cmd_streams.c - `evl streams list|describe|reset`: the topics, group and
 * local state of libeventlog-streams applications, as Kafka's
 * kafka-streams-application-reset does for resets.
 *
 * An application APP owns: the consumer group APP (its members are the
 * stream threads), and the topics APP-...-changelog, -repartition,
 * -fk-subscription and -fk-response (its positions are in its changelogs'
 * checkpoints, not in the group's committed offsets). `reset` deletes all
 * of them (and, with --state-dir, the local state under DIR/APP), so the
 * next run starts from the inputs' beginning; the application must be
 * stopped. Everything here is the public API of the core.
 */
#include "evl.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help_streams[] =
    "usage: evl streams list [--json]\n"
    "       evl streams describe APP [--json]\n"
    "       evl streams reset APP [--state-dir DIR] [--dry-run]\n"
    "\n"
    "Run 'evl streams SUBCOMMAND --help' for details.\n";

static const char help_list[] =
    "usage: evl streams list [--json]\n"
    "\n"
    "Print the applications whose internal topics are in the log (changelog,\n"
    "repartition and foreign-key topics), one a line. With --json:\n"
    "  {\"applications\":[APP,...]}\n";

static const char help_describe[] =
    "usage: evl streams describe APP [--json]\n"
    "\n"
    "Print the application's internal topics (kind, partitions, records) and\n"
    "its group's members (the running stream threads).\n";

static const char help_reset[] =
    "usage: evl streams reset APP [--state-dir DIR] [--dry-run]\n"
    "\n"
    "Delete the application's internal topics and its group, and with\n"
    "--state-dir its local state (DIR/APP), so that its next run processes\n"
    "its inputs from the beginning. The application must be stopped.\n"
    "--dry-run prints what would go.\n";

static const char *const kinds[] = {"-changelog", "-repartition", "-fk-subscription",
                                    "-fk-response"};

/* The kind of an internal topic of some application, or NULL. */
static const char *kind_of(const char *topic)
{
    size_t n = strlen(topic);
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        size_t k = strlen(kinds[i]);
        if (n > k && !strcmp(topic + n - k, kinds[i]))
            return kinds[i] + 1;
    }
    return NULL;
}

/* Whether topic is one of app's internal topics. */
static int owned_by(const char *topic, const char *app)
{
    size_t n = strlen(app);
    return !strncmp(topic, app, n) && topic[n] == '-' && kind_of(topic);
}

static int args_of(struct cli *cli, int argc, char **argv, const char *help, const char **app,
                   const char **state, int *dry)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"state-dir", required_argument, NULL, 's'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help);
        if (c == 's' && state) {
            *state = optarg;
            continue;
        }
        if (c == 'n' && dry) {
            *dry = 1;
            continue;
        }
        if (c == 's' || c == 'n')
            return cli_usage(cli, "option '%s' does not go with this subcommand",
                             c == 's' ? "--state-dir" : "--dry-run");
        return EXIT_USAGE;
    }
    if (app) {
        if (optind >= argc)
            return cli_usage(cli, "missing application id");
        *app = argv[optind++];
    }
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* ---- list ----------------------------------------------------------------- */

static int streams_list(struct cli *cli, int argc, char **argv)
{
    int status = args_of(cli, argc, argv, help_list, NULL, NULL, NULL);
    if (status >= 0)
        return status;
    evl_log_t *log;
    if ((status = cli_open_log(cli, 0, &log)) != EXIT_OK)
        return status;
    char **topics = NULL, **groups = NULL;
    size_t nt = 0, ng = 0, shown = 0;
    int rc = evl_topic_list(log, &topics, &nt);
    if (!rc)
        rc = evl_group_list(log, &groups, &ng);
    if (rc) {
        status = cli_fail_rc(rc, "cannot list topics and groups");
    } else {
        /* an application: a group with internal topics APP-... */
        if (cli->json)
            fputs("{\"applications\":[", stdout);
        for (size_t g = 0; g < ng; g++) {
            int has = 0;
            for (size_t t = 0; t < nt && !has; t++)
                has = owned_by(topics[t], groups[g]);
            if (!has)
                continue;
            if (cli->json) {
                fputs(shown ? "," : "", stdout);
                json_cstr(stdout, groups[g]);
            } else {
                printf("%s\n", groups[g]);
            }
            shown++;
        }
        if (cli->json)
            fputs("]}\n", stdout);
    }
    free(topics);
    free(groups);
    evl_log_close(log);
    return status ? status : cli_finish_stdout();
}

/* ---- describe ------------------------------------------------------------- */

static int streams_describe(struct cli *cli, int argc, char **argv)
{
    const char *app = NULL;
    int status = args_of(cli, argc, argv, help_describe, &app, NULL, NULL);
    if (status >= 0)
        return status;
    evl_log_t *log;
    if ((status = cli_open_log(cli, 0, &log)) != EXIT_OK)
        return status;
    char **topics = NULL;
    size_t nt = 0, shown = 0;
    int rc = evl_topic_list(log, &topics, &nt);
    evl_group_info_t *info = NULL;
    int grc = rc ? rc : evl_group_describe(log, app, &info);
    if (rc) {
        status = cli_fail_rc(rc, "cannot list topics");
        goto out;
    }
    if (cli->json) {
        fputs("{\"application\":", stdout);
        json_cstr(stdout, app);
        fputs(",\"topics\":[", stdout);
    } else {
        printf("application %s\n%-48s %-16s %10s %12s\n", app, "TOPIC", "KIND", "PARTITIONS",
               "RECORDS");
    }
    for (size_t t = 0; t < nt; t++) {
        if (!owned_by(topics[t], app))
            continue;
        int parts = evl_topic_partitions(log, topics[t]);
        int64_t records = 0;
        for (int p = 0; p < parts; p++) {
            evl_partition_info_t pi;
            if (evl_partition_info(log, topics[t], p, &pi) == 0)
                records += pi.end_offset - pi.start_offset;
        }
        if (cli->json) {
            fputs(shown ? "," : "", stdout);
            fputs("{\"topic\":", stdout);
            json_cstr(stdout, topics[t]);
            fputs(",\"kind\":", stdout);
            json_cstr(stdout, kind_of(topics[t]));
            printf(",\"partitions\":%d,\"records\":%lld}", parts, (long long)records);
        } else {
            printf("%-48s %-16s %10d %12lld\n", topics[t], kind_of(topics[t]), parts,
                   (long long)records);
        }
        shown++;
    }
    size_t members = grc == 0 ? evl_group_info_member_count(info) : 0;
    if (cli->json) {
        fputs("],\"threads\":[", stdout);
        for (size_t i = 0; i < members; i++) {
            fputs(i ? "," : "", stdout);
            json_cstr(stdout, evl_group_info_member(info, i));
        }
        fputs("]}\n", stdout);
    } else {
        printf("%zu stream thread%s running%s\n", members, members == 1 ? "" : "s",
               members ? ":" : "");
        for (size_t i = 0; i < members; i++)
            printf("  %s\n", evl_group_info_member(info, i));
    }
    if (!shown && grc == EVL_ENOTFOUND)
        status = cli_fail("application '%s' has no topics or group in this log", app);
out:
    evl_group_info_free(info);
    free(topics);
    evl_log_close(log);
    return status ? status : cli_finish_stdout();
}

/* ---- reset ---------------------------------------------------------------- */

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) && errno != ENOENT ? -1 : 0;
}

static int streams_reset(struct cli *cli, int argc, char **argv)
{
    const char *app = NULL, *state = NULL;
    int dry = 0;
    int status = args_of(cli, argc, argv, help_reset, &app, &state, &dry);
    if (status >= 0)
        return status;
    evl_log_t *log;
    if ((status = cli_open_log(cli, 0, &log)) != EXIT_OK)
        return status;
    char **topics = NULL;
    size_t nt = 0;
    evl_group_info_t *info = NULL;
    int rc = evl_topic_list(log, &topics, &nt);
    if (rc) {
        status = cli_fail_rc(rc, "cannot list topics");
        goto out;
    }
    if (evl_group_describe(log, app, &info) == 0 && evl_group_info_member_count(info) > 0) {
        status = cli_fail("application '%s' is running (%zu stream threads); stop it first",
                          app, evl_group_info_member_count(info));
        goto out;
    }
    for (size_t t = 0; t < nt && !status; t++) {
        if (!owned_by(topics[t], app))
            continue;
        printf("%s topic %s\n", dry ? "would delete" : "deleted", topics[t]);
        if (!dry && (rc = evl_topic_delete(log, topics[t])) != 0)
            status = cli_topic_fail(rc, topics[t]);
    }
    if (!status && info) {
        printf("%s group %s\n", dry ? "would delete" : "deleted", app);
        if (!dry && (rc = evl_group_delete(log, app)) != 0 && rc != EVL_ENOTFOUND)
            status = cli_fail_rc(rc, "group '%s'", app);
    }
    if (!status && state) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", state, app);
        if (lstat(path, &st) == 0) {
            printf("%s local state %s\n", dry ? "would delete" : "deleted", path);
            if (!dry && nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS))
                status = cli_fail("cannot remove %s: %s", path, strerror(errno));
        }
    }
out:
    evl_group_info_free(info);
    free(topics);
    evl_log_close(log);
    return status ? status : cli_finish_stdout();
}

int cmd_streams(struct cli *cli, int argc, char **argv)
{
    static const struct subcommand subs[] = {
        {"list", streams_list},
        {"describe", streams_describe},
        {"reset", streams_reset},
    };
    return cli_dispatch(cli, argc, argv, subs, sizeof subs / sizeof *subs, help_streams);
}
