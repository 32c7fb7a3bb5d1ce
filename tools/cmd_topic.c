/*
 * cmd_topic.c - `evl topic create|list|describe|delete|alter`.
 *
 * Thin wrappers over evl_topic_*() and evl_partition_info(). Settings given
 * on the command line are checked by evl_config_set() before anything is
 * created, so a typo is a usage error (exit 2) and never a half-made topic.
 * `alter` only grows a topic: partitions never shrink, as in Kafka, and the
 * tool says so instead of passing EVL_EINVAL through.
 */
#include "evl.h"

#include <stdlib.h>
#include <string.h>

static const char help_topic[] =
    "usage: evl topic create NAME [-p PARTITIONS] [--retention-ms MS]\n"
    "                 [--retention-bytes BYTES] [--segment-bytes BYTES]\n"
    "                 [--sync none|interval|fsync] [-c NAME=VALUE]...\n"
    "                 [--if-not-exists]\n"
    "       evl topic list [--internal] [--json]\n"
    "       evl topic describe NAME [--json]\n"
    "       evl topic delete NAME\n"
    "       evl topic alter NAME -p PARTITIONS\n"
    "       evl topic compact NAME\n"
    "\n"
    "Run 'evl topic SUBCOMMAND --help' for the options of each.\n";

static const char help_create[] =
    "usage: evl topic create NAME [options]\n"
    "\n"
    "Create topic NAME. Names: 1 to 249 of [A-Za-z0-9._-].\n"
    "\n"
    "  -p, --partitions N        number of partitions (default: 1)\n"
    "      --retention-ms MS     delete segments older than MS (-1: never)\n"
    "      --retention-bytes B   per-partition size cap (-1: none)\n"
    "      --segment-bytes B     segment file roll size\n"
    "      --sync LEVEL          default durability: none | interval | fsync\n"
    "  -c, --config NAME=VALUE   any topic setting (see eventlog.h), repeatable\n"
    "      --if-not-exists       succeed if the topic already exists\n"
    "  -d, --dir DIR             log directory\n";

static const char help_list[] =
    "usage: evl topic list [--internal] [--json]\n"
    "\n"
    "Print the topic names, one a line. With --json:\n"
    "  {\"topics\":[{\"name\":NAME,\"partitions\":N},...]}\n"
    "--internal also lists the library's own topics (names starting\n"
    "with \"__\").\n";

static const char help_describe[] =
    "usage: evl topic describe NAME [--json]\n"
    "\n"
    "Print the topic's settings and, per partition, the log start offset,\n"
    "the end offset (the next offset to be written), the record count\n"
    "(end - start), the bytes of record data and the number of segments.\n";

static const char help_delete[] =
    "usage: evl topic delete NAME\n"
    "\n"
    "Delete the topic and its data.\n";

static const char help_alter[] =
    "usage: evl topic alter NAME -p PARTITIONS\n"
    "\n"
    "Grow the topic to PARTITIONS partitions in total. Partitions never\n"
    "shrink. Keys then map to other partitions than before, as in Kafka.\n";

static const char help_compact[] =
    "usage: evl topic compact NAME\n"
    "\n"
    "Compact a topic of cleanup.policy compact (or compact,delete) now: in\n"
    "its sealed segments older than min.compaction.lag.ms, only the newest\n"
    "record of each key stays (tombstones until delete.retention.ms). Offsets\n"
    "do not change. Processes that have the log open also compact in the\n"
    "background, every log.cleaner.backoff.ms.\n";

/* Settings `topic describe` shows, in this order. */
static const char *const topic_keys[] = {
    "segment.bytes",        "segment.ms",        "retention.ms",
    "retention.bytes",      "max.message.bytes", "index.interval.bytes",
    "partitioner",          "durability",        "flush.interval.ms",
    "retain.until.consumed.by", "cleanup.policy", "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms", "max.compaction.lag.ms", "delete.retention.ms",
};

/* Parse the options common to subcommands that take only -d/--json/--help
 * and one NAME; returns -1 to go on, else an exit status. */
static int one_name(struct cli *cli, int argc, char **argv, const char *help,
                    const char **name)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help);
        return EXIT_USAGE;
    }
    if (name) {
        if (optind >= argc)
            return cli_usage(cli, "missing topic name");
        *name = argv[optind++];
    }
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* ---- create --------------------------------------------------------------- */

enum {
    OPT_RETENTION_MS = 0x1100,
    OPT_RETENTION_BYTES,
    OPT_SEGMENT_BYTES,
    OPT_SYNC,
    OPT_IF_NOT_EXISTS,
};

/* Apply one create option to cfg; returns an exit status. */
static int create_option(struct cli *cli, evl_config_t *cfg, int c,
                         const char *arg, int *partitions)
{
    const char *eq;
    char name[128];

    switch (c) {
    case 'p':
        if (parse_int(arg, 1, 1000000, partitions))
            return cli_usage(cli, "bad partition count '%s'", arg);
        return EXIT_OK;
    case OPT_RETENTION_MS:
        return cli_config_set(cli, cfg, "retention.ms", arg);
    case OPT_RETENTION_BYTES:
        return cli_config_set(cli, cfg, "retention.bytes", arg);
    case OPT_SEGMENT_BYTES:
        return cli_config_set(cli, cfg, "segment.bytes", arg);
    case OPT_SYNC:
        return cli_config_set(cli, cfg, "durability", arg);
    case 'c':
        eq = strchr(arg, '=');
        if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof name)
            return cli_usage(cli, "bad setting '%s' (want NAME=VALUE)", arg);
        memcpy(name, arg, (size_t)(eq - arg));
        name[eq - arg] = '\0';
        return cli_config_set(cli, cfg, name, eq + 1);
    }
    return EXIT_USAGE;
}

static int topic_create_run(struct cli *cli, const char *name, int partitions,
                            const evl_config_t *cfg, int if_not_exists)
{
    evl_log_t *log;
    int status = cli_open_log(cli, 1, &log);
    int rc;

    if (status)
        return status;
    rc = evl_topic_create(log, name, partitions, cfg);
    if (rc == EVL_EEXIST && if_not_exists)
        rc = 0;
    if (rc == EVL_EEXIST)
        status = cli_fail("topic '%s' already exists", name);
    else if (rc == EVL_ECONFIG) /* the settings given do not fit together */
        status = cli_usage(cli, "cannot create topic '%s': %s", name,
                           evl_strerror(rc));
    else if (rc != 0)
        status = cli_fail_rc(rc, "cannot create topic '%s'", name);
    evl_log_close(log);
    return status;
}

static int topic_create(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"partitions", required_argument, NULL, 'p'},
        {"config", required_argument, NULL, 'c'},
        {"retention-ms", required_argument, NULL, OPT_RETENTION_MS},
        {"retention-bytes", required_argument, NULL, OPT_RETENTION_BYTES},
        {"segment-bytes", required_argument, NULL, OPT_SEGMENT_BYTES},
        {"sync", required_argument, NULL, OPT_SYNC},
        {"if-not-exists", no_argument, NULL, OPT_IF_NOT_EXISTS},
        {NULL, 0, NULL, 0},
    };
    evl_config_t *cfg = evl_config_new();
    const char *name = NULL;
    int partitions = 0, if_not_exists = 0, status = EXIT_OK, c;

    if (!cfg)
        return cli_fail("out of memory");
    while (status == EXIT_OK &&
           (c = cli_getopt(cli, argc, argv, ":d:hp:c:", opts)) != -1) {
        if (c == 'h') {
            evl_config_free(cfg);
            return cli_help(help_create);
        }
        if (c == OPT_IF_NOT_EXISTS)
            if_not_exists = 1;
        else if (c == CLI_OPT_ERR)
            status = EXIT_USAGE;
        else
            status = create_option(cli, cfg, c, optarg, &partitions);
    }
    if (status == EXIT_OK && optind >= argc)
        status = cli_usage(cli, "missing topic name");
    if (status == EXIT_OK && (name = argv[optind++], optind < argc))
        status = cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if (status == EXIT_OK)
        status = cli_check_topic_name(cli, name);
    if (status == EXIT_OK)
        status = topic_create_run(cli, name, partitions, cfg, if_not_exists);
    evl_config_free(cfg);
    return status;
}

/* ---- list ----------------------------------------------------------------- */

static void list_print(struct cli *cli, evl_log_t *log, char **names,
                       size_t count)
{
    size_t i;

    if (!cli->json) {
        for (i = 0; i < count; i++)
            printf("%s\n", names[i]);
        return;
    }
    fputs("{\"topics\":[", stdout);
    for (i = 0; i < count; i++) {
        int parts = evl_topic_partitions(log, names[i]);
        fputs(i ? ",{\"name\":" : "{\"name\":", stdout);
        json_cstr(stdout, names[i]);
        printf(",\"partitions\":%d}", parts < 0 ? 0 : parts);
    }
    fputs("]}\n", stdout);
}

static int topic_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"internal", no_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    evl_log_t *log;
    char **names = NULL;
    size_t count = 0;
    int status, rc, c, flags = 0;

    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_list);
        if (c != 'i')
            return EXIT_USAGE;
        flags |= EVL_TOPIC_LIST_INTERNAL;
    }
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if ((status = cli_open_log(cli, 0, &log)) != 0)
        return status;
    rc = evl_topic_list_v2(log, flags, &names, &count);
    if (rc != 0) {
        status = cli_fail_rc(rc, "cannot list topics");
    } else {
        list_print(cli, log, names, count);
        status = cli_finish_stdout();
    }
    free(names);
    evl_log_close(log);
    return status;
}

/* ---- describe --------------------------------------------------------------- */

static void describe_config(struct cli *cli, evl_log_t *log, const char *name)
{
    size_t i, shown = 0;
    char buf[1024];

    for (i = 0; i < sizeof topic_keys / sizeof topic_keys[0]; i++) {
        if (evl_topic_config_get(log, name, topic_keys[i], buf, sizeof buf) < 0)
            continue;
        if (cli->json) {
            fputs(shown++ ? "," : "", stdout);
            json_cstr(stdout, topic_keys[i]);
            putchar(':');
            json_cstr(stdout, buf);
        } else {
            printf("  %-26s %s\n", topic_keys[i], buf);
        }
    }
}

static int describe_partitions(struct cli *cli, evl_log_t *log,
                               const char *name, int parts)
{
    evl_partition_info_t info;
    int64_t disk;
    int p, rc;

    if (!cli->json)
        printf("%9s %14s %14s %14s %14s %8s %14s\n", "PARTITION", "START-OFFSET",
               "END-OFFSET", "RECORDS", "BYTES", "SEGMENTS", "DISK-BYTES");
    for (p = 0; p < parts; p++) {
        if ((rc = evl_partition_info(log, name, p, &info)) != 0 ||
            (rc = evl_partition_disk_usage(log, name, p, &disk)) != 0)
            return cli_fail_rc(rc, "topic '%s' partition %d", name, p);
        if (cli->json)
            printf("%s{\"partition\":%d,\"start_offset\":%lld,"
                   "\"end_offset\":%lld,\"records\":%lld,\"bytes\":%lld,"
                   "\"segments\":%lld,\"disk_bytes\":%lld}",
                   p ? "," : "", p, (long long)info.start_offset,
                   (long long)info.end_offset,
                   (long long)(info.end_offset - info.start_offset),
                   (long long)info.bytes, (long long)info.segments,
                   (long long)disk);
        else
            printf("%9d %14lld %14lld %14lld %14lld %8lld %14lld\n", p,
                   (long long)info.start_offset, (long long)info.end_offset,
                   (long long)(info.end_offset - info.start_offset),
                   (long long)info.bytes, (long long)info.segments,
                   (long long)disk);
    }
    return EXIT_OK;
}

static int topic_describe(struct cli *cli, int argc, char **argv)
{
    const char *name;
    evl_log_t *log;
    int status = one_name(cli, argc, argv, help_describe, &name);
    int parts;

    if (status >= 0)
        return status;
    if ((status = cli_open_log(cli, 0, &log)) != 0)
        return status;
    parts = evl_topic_partitions(log, name);
    if (parts < 0) {
        status = cli_topic_fail(parts, name);
        evl_log_close(log);
        return status;
    }
    if (cli->json) {
        fputs("{\"name\":", stdout);
        json_cstr(stdout, name);
        printf(",\"partition_count\":%d,\"config\":{", parts);
        describe_config(cli, log, name);
        fputs("},\"partitions\":[", stdout);
    } else {
        printf("topic %s: %d partition%s\n", name, parts, parts == 1 ? "" : "s");
        describe_config(cli, log, name);
    }
    status = describe_partitions(cli, log, name, parts);
    if (cli->json && status == EXIT_OK)
        fputs("]}\n", stdout);
    if (status == EXIT_OK)
        status = cli_finish_stdout();
    evl_log_close(log);
    return status;
}

/* ---- delete, alter, compact ---------------------------------------------------- */

static int topic_compact(struct cli *cli, int argc, char **argv)
{
    const char *name;
    evl_log_t *log;
    int status = one_name(cli, argc, argv, help_compact, &name);
    int rc;

    if (status >= 0)
        return status;
    if ((status = cli_open_log(cli, 0, &log)) != 0)
        return status;
    if ((rc = evl_topic_compact(log, name)) == EVL_ECONFIG)
        status = cli_fail("topic '%s' is not compacted (cleanup.policy=delete)", name);
    else if (rc != 0)
        status = cli_topic_fail(rc, name);
    evl_log_close(log);
    return status;
}

static int topic_delete(struct cli *cli, int argc, char **argv)
{
    const char *name;
    evl_log_t *log;
    int status = one_name(cli, argc, argv, help_delete, &name);
    int rc;

    if (status >= 0)
        return status;
    if ((status = cli_open_log(cli, 0, &log)) != 0)
        return status;
    if ((rc = evl_topic_delete(log, name)) != 0)
        status = cli_topic_fail(rc, name);
    evl_log_close(log);
    return status;
}

static int topic_alter_run(struct cli *cli, const char *name, int total)
{
    evl_log_t *log;
    int status = cli_open_log(cli, 0, &log);
    int parts, rc;

    if (status)
        return status;
    parts = evl_topic_partitions(log, name);
    if (parts < 0)
        status = cli_topic_fail(parts, name);
    else if (total <= parts)
        status = cli_fail("topic '%s' has %d partition%s; -p must be larger "
                          "(partitions never shrink)",
                          name, parts, parts == 1 ? "" : "s");
    else if ((rc = evl_topic_add_partitions(log, name, total)) != 0)
        status = cli_topic_fail(rc, name);
    evl_log_close(log);
    return status;
}

static int topic_alter(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"partitions", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *name;
    int total = 0, c;

    while ((c = cli_getopt(cli, argc, argv, ":d:hp:", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_alter);
        if (c != 'p')
            return EXIT_USAGE;
        if (parse_int(optarg, 1, 1000000, &total))
            return cli_usage(cli, "bad partition count '%s'", optarg);
    }
    if (optind >= argc)
        return cli_usage(cli, "missing topic name");
    name = argv[optind++];
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    if (total == 0)
        return cli_usage(cli, "missing -p PARTITIONS");
    return topic_alter_run(cli, name, total);
}

int cmd_topic(struct cli *cli, int argc, char **argv)
{
    static const struct subcommand subs[] = {
        {"create", topic_create},     {"list", topic_list},
        {"describe", topic_describe}, {"delete", topic_delete},
        {"alter", topic_alter},       {"compact", topic_compact},
    };
    return cli_dispatch(cli, argc, argv, subs, sizeof subs / sizeof subs[0],
                        help_topic);
}
