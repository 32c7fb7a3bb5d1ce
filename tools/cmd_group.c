/*
 * cmd_group.c - `evl group list|describe|reset|delete`: consumer-group
 * administration, as kafka-consumer-groups.sh does it.
 *
 * All of it is evl_group_*() from the public API. `describe` adds lag
 * (end offset minus committed offset) per partition; a partition with no
 * committed offset shows "-" (null in JSON) rather than a made-up number.
 * `reset` and `delete` need a group without members: the library answers
 * EVL_EBUSY otherwise and the tool says which group is busy.
 */
#include "evl.h"

#include <stdlib.h>
#include <string.h>

static const char help_group[] =
    "usage: evl group list [--json]\n"
    "       evl group describe GROUP [--json]\n"
    "       evl group reset GROUP TOPIC --to-earliest|--to-latest|\n"
    "                       --to-offset N|--to-time MS\n"
    "       evl group delete GROUP\n"
    "\n"
    "Run 'evl group SUBCOMMAND --help' for details.\n";

static const char help_list[] =
    "usage: evl group list [--json]\n"
    "\n"
    "Print the consumer group ids, one a line. With --json:\n"
    "  {\"groups\":[GROUP,...]}\n";

static const char help_describe[] =
    "usage: evl group describe GROUP [--json]\n"
    "\n"
    "Print the group's generation and members, then per partition: the\n"
    "committed offset, the end offset, the lag (end - committed) and the\n"
    "member that owns it. \"-\" means nothing committed or no owner.\n";

static const char help_reset[] =
    "usage: evl group reset GROUP TOPIC WHERE\n"
    "\n"
    "Move the group's committed offsets on every partition of TOPIC. The\n"
    "group must have no active members. WHERE is one of:\n"
    "  --to-earliest      the first offset still in each partition\n"
    "  --to-latest        the end of each partition (skip everything)\n"
    "  --to-offset N      offset N (clamped to each partition's range)\n"
    "  --to-time MS       the first record at or after timestamp MS\n";

static const char help_delete[] =
    "usage: evl group delete GROUP\n"
    "\n"
    "Forget the group and its committed offsets. It must have no members.\n";

static int group_fail(int rc, const char *group)
{
    if (rc == EVL_ENOTFOUND)
        return cli_fail("group '%s' does not exist", group);
    if (rc == EVL_EBUSY)
        return cli_fail("group '%s' has active members; stop them first",
                        group);
    return cli_fail_rc(rc, "group '%s'", group);
}

/* Options -d/--json/--help and `want` positional arguments into args. */
static int positional(struct cli *cli, int argc, char **argv, const char *help,
                      const char **args, int want, const char *what)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, i;

    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help);
        return EXIT_USAGE;
    }
    for (i = 0; i < want; i++) {
        if (optind >= argc)
            return cli_usage(cli, "missing %s", what);
        args[i] = argv[optind++];
    }
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* ---- list ----------------------------------------------------------------- */

static int group_list(struct cli *cli, int argc, char **argv)
{
    evl_log_t *log;
    char **names = NULL;
    size_t count = 0, i;
    int status = positional(cli, argc, argv, help_list, NULL, 0, NULL);
    int rc;

    if (status >= 0)
        return status;
    if ((status = cli_open_log(cli, 0, &log)) != EXIT_OK)
        return status;
    if ((rc = evl_group_list(log, &names, &count)) != 0) {
        status = cli_fail_rc(rc, "cannot list groups");
    } else if (cli->json) {
        fputs("{\"groups\":[", stdout);
        for (i = 0; i < count; i++) {
            fputs(i ? "," : "", stdout);
            json_cstr(stdout, names[i]);
        }
        fputs("]}\n", stdout);
    } else {
        for (i = 0; i < count; i++)
            printf("%s\n", names[i]);
    }
    free(names);
    evl_log_close(log);
    return status ? status : cli_finish_stdout();
}

/* ---- describe ----------------------------------------------------------------- */

static void describe_members(const struct cli *cli, const char *group,
                             const evl_group_info_t *info)
{
    size_t i, n = evl_group_info_member_count(info);
    long long gen = (long long)evl_group_info_generation(info);

    if (cli->json) {
        fputs("{\"group\":", stdout);
        json_cstr(stdout, group);
        printf(",\"generation\":%lld,\"offsets_lost\":%s,\"members\":[", gen,
               evl_group_info_offsets_lost(info) ? "true" : "false");
        for (i = 0; i < n; i++) {
            fputs(i ? "," : "", stdout);
            json_cstr(stdout, evl_group_info_member(info, i));
        }
        fputs("],\"partitions\":[", stdout);
        return;
    }
    printf("group %s: generation %lld, %zu member%s\n", group, gen, n,
           n == 1 ? "" : "s");
    if (evl_group_info_offsets_lost(info))
        printf("  committed offsets LOST with the metadata: partitions without an offset "
               "need a reset (evl group reset)\n");
    for (i = 0; i < n; i++)
        printf("  member %s\n", evl_group_info_member(info, i));
}

static void json_i64_or_null(int64_t v, int present)
{
    if (present)
        printf("%lld", (long long)v);
    else
        fputs("null", stdout);
}

static void describe_partition(const struct cli *cli, size_t i,
                               const char *topic, int32_t part,
                               int64_t committed, int64_t end,
                               const char *member)
{
    if (cli->json) {
        printf("%s{\"topic\":", i ? "," : "");
        json_cstr(stdout, topic);
        printf(",\"partition\":%d,\"committed\":", (int)part);
        json_i64_or_null(committed, committed >= 0);
        printf(",\"end_offset\":%lld,\"lag\":", (long long)end);
        json_i64_or_null(end - committed, committed >= 0);
        fputs(",\"owner\":", stdout);
        json_cstr(stdout, member);
        putchar('}');
        return;
    }
    printf("%-24s %9d ", topic, (int)part);
    if (committed >= 0)
        printf("%14lld %14lld %10lld", (long long)committed, (long long)end,
               (long long)(end - committed));
    else
        printf("%14s %14lld %10s", "-", (long long)end, "-");
    printf(" %s\n", member ? member : "-");
}

static void describe_print(const struct cli *cli, const char *group,
                           const evl_group_info_t *info)
{
    size_t i, n = evl_group_info_partition_count(info);
    const char *topic, *member;
    int64_t committed, end;
    int32_t part;

    describe_members(cli, group, info);
    if (!cli->json)
        printf("%-24s %9s %14s %14s %10s %s\n", "TOPIC", "PARTITION",
               "COMMITTED", "END-OFFSET", "LAG", "OWNER");
    for (i = 0; i < n; i++) {
        if (evl_group_info_partition(info, i, &topic, &part, &committed, &end,
                                     &member) != 0)
            break;
        describe_partition(cli, i, topic, part, committed, end, member);
    }
    if (cli->json)
        fputs("]}\n", stdout);
}

static int group_describe(struct cli *cli, int argc, char **argv)
{
    const char *group;
    evl_group_info_t *info = NULL;
    evl_log_t *log;
    int status = positional(cli, argc, argv, help_describe, &group, 1,
                            "group id");
    int rc;

    if (status >= 0)
        return status;
    if ((status = cli_open_log(cli, 0, &log)) != EXIT_OK)
        return status;
    if ((rc = evl_group_describe(log, group, &info)) != 0)
        status = group_fail(rc, group);
    else
        describe_print(cli, group, info);
    evl_group_info_free(info);
    evl_log_close(log);
    return status ? status : cli_finish_stdout();
}

/* ---- reset ---------------------------------------------------------------------- */

enum { OPT_EARLIEST = 0x1300, OPT_LATEST, OPT_TO_OFFSET, OPT_TO_TIME };

static int reset_option(struct cli *cli, int c, const char *arg, int *how,
                        int64_t *value)
{
    if (*how)
        return cli_usage(cli, "give only one of --to-earliest, --to-latest, "
                         "--to-offset and --to-time");
    switch (c) {
    case OPT_EARLIEST: *how = EVL_RESET_EARLIEST; return EXIT_OK;
    case OPT_LATEST: *how = EVL_RESET_LATEST; return EXIT_OK;
    case OPT_TO_OFFSET:
        *how = EVL_RESET_OFFSET;
        if (parse_i64(arg, 0, INT64_MAX, value))
            return cli_usage(cli, "bad offset '%s'", arg);
        return EXIT_OK;
    case OPT_TO_TIME:
        *how = EVL_RESET_TIMESTAMP;
        if (parse_i64(arg, 0, INT64_MAX, value))
            return cli_usage(cli, "bad timestamp '%s' (want ms since the "
                             "epoch)", arg);
        return EXIT_OK;
    }
    return EXIT_USAGE;
}

static int reset_run(struct cli *cli, const char *group, const char *topic,
                     int how, int64_t value)
{
    evl_log_t *log;
    int status = cli_open_log(cli, 0, &log);
    int rc;

    if (status)
        return status;
    if ((rc = evl_topic_partitions(log, topic)) < 0)
        status = cli_topic_fail(rc, topic);
    else if ((rc = evl_group_reset(log, group, topic, how, value)) != 0)
        status = group_fail(rc, group);
    evl_log_close(log);
    return status;
}

static int group_reset(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"to-earliest", no_argument, NULL, OPT_EARLIEST},
        {"to-latest", no_argument, NULL, OPT_LATEST},
        {"to-offset", required_argument, NULL, OPT_TO_OFFSET},
        {"to-time", required_argument, NULL, OPT_TO_TIME},
        {NULL, 0, NULL, 0},
    };
    const char *group, *topic;
    int64_t value = 0;
    int how = 0, c, status;

    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_reset);
        if (c == CLI_OPT_ERR)
            return EXIT_USAGE;
        if ((status = reset_option(cli, c, optarg, &how, &value)) != EXIT_OK)
            return status;
    }
    if (argc - optind < 2)
        return cli_usage(cli, "missing %s", optind < argc ? "topic name"
                                                         : "group id");
    group = argv[optind++];
    topic = argv[optind++];
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if (!how)
        return cli_usage(cli, "missing --to-earliest, --to-latest, "
                         "--to-offset N or --to-time MS");
    if ((status = cli_check_topic_name(cli, topic)) != EXIT_OK)
        return status;
    return reset_run(cli, group, topic, how, value);
}

/* ---- delete ---------------------------------------------------------------------- */

static int group_delete(struct cli *cli, int argc, char **argv)
{
    const char *group;
    evl_log_t *log;
    int status = positional(cli, argc, argv, help_delete, &group, 1,
                            "group id");
    int rc;

    if (status >= 0)
        return status;
    if ((status = cli_open_log(cli, 0, &log)) != EXIT_OK)
        return status;
    if ((rc = evl_group_delete(log, group)) != 0)
        status = group_fail(rc, group);
    evl_log_close(log);
    return status;
}

int cmd_group(struct cli *cli, int argc, char **argv)
{
    static const struct subcommand subs[] = {
        {"list", group_list},
        {"describe", group_describe},
        {"reset", group_reset},
        {"delete", group_delete},
    };
    return cli_dispatch(cli, argc, argv, subs, sizeof subs / sizeof subs[0],
                        help_group);
}
