/*
 * evl.c - main() of the `evl` command-line tool: global options, the
 * command table, --version and the top-level help.
 *
 * Global options (-d DIR, -v, --json) may come before the command; every
 * command also accepts -d and --help among its own options, so both
 * `evl -d data topic list` and `evl topic list -d data` work. Parsing of the
 * global options stops at the first non-option ("+" in the option string)
 * so the command's options are left for the command.
 */
#include "evl.h"

#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: evl [-d DIR] [-v] [--json] COMMAND [ARGS...]\n"
    "\n"
    "The command-line tool of libeventlog: Kafka's topics, partitions,\n"
    "producers, consumers and consumer groups on a local log directory.\n"
    "\n"
    "Commands:\n"
    "  topic create|list|describe|delete|alter   manage topics\n"
    "  produce TOPIC        append one record per line of stdin\n"
    "  consume TOPIC        print records (alone, or in a group with -g)\n"
    "  group list|describe|reset|delete          manage consumer groups\n"
    "  verify [TOPIC]       check every record's checksum and offsets\n"
    "  dump FILE            print the records of one segment file\n"
    "  perf produce|consume|e2e                  measure throughput/latency\n"
    "  migrate              convert a log of record format 1 to format 2\n"
    "  connect run|status   run connectors (Kafka Connect standalone's files)\n"
    "  registry ...         the schema registry: subjects, versions, register,\n"
    "                       compat, config, delete; serve (Confluent's REST API)\n"
    "  streams list|describe|reset   stream applications' topics, threads, reset\n"
    "\n"
    "Global options:\n"
    "  -d, --dir DIR   log directory (default: $EVL_DIR, else ./evl-data)\n"
    "  -v, --verbose   also print the library's notices on stderr\n"
    "      --json      JSON output for listing and describing commands\n"
    "  -h, --help      this help; 'evl COMMAND --help' for a command\n"
    "  -V, --version   print the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime error, 2 usage error.\n";

struct command {
    const char *name;
    cli_cmd_fn *fn;
};

static const struct command commands[] = {
    {"topic", cmd_topic},     {"produce", cmd_produce},
    {"consume", cmd_consume}, {"group", cmd_group},
    {"verify", cmd_verify},   {"dump", cmd_dump},
    {"perf", cmd_perf},       {"migrate", cmd_migrate},
    {"connect", cmd_connect},
    {"registry", cmd_registry}, {"streams", cmd_streams},
};

static int print_version(void)
{
    printf("evl %s (libeventlog %s)\n", EVL_VERSION_STRING, evl_version());
    return cli_finish_stdout();
}

static const struct command *find_command(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* `evl help [COMMAND...]` is `evl [COMMAND...] --help`. */
static int run_help(struct cli *cli, int argc, char **argv)
{
    const struct command *cmd;
    char *args[4];
    int i, n = 0;

    if (argc < 2)
        return cli_help(usage_text);
    cmd = find_command(argv[1]);
    if (!cmd)
        return cli_usage(cli, "unknown command '%s'", argv[1]);
    for (i = 1; i < argc && n < 2; i++)
        args[n++] = argv[i];
    args[n++] = "--help";
    args[n] = NULL;
    cli->cmd = cmd->name;
    cli_getopt_reset();
    return cmd->fn(cli, n, args);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli cli = {.dir = NULL, .cmd = "", .json = 0, .verbose = 0};
    const struct command *cmd;
    const char *env = getenv("EVL_DIR");
    int c, status;

    cli.dir = env && *env ? env : "./evl-data";
    cli_getopt_reset();
    while ((c = cli_getopt(&cli, argc, argv, "+:d:vhV", opts)) != -1) {
        switch (c) {
        case 'v': cli.verbose = 1; break;
        case 'h': return cli_help(usage_text);
        case 'V': return print_version();
        default: return EXIT_USAGE; /* CLI_OPT_ERR: already reported */
        }
    }
    if (optind >= argc)
        return cli_usage(&cli, "missing command");
    if (strcmp(argv[optind], "help") == 0)
        return run_help(&cli, argc - optind, argv + optind);
    if (strcmp(argv[optind], "version") == 0)
        return print_version();
    cmd = find_command(argv[optind]);
    if (!cmd)
        return cli_usage(&cli, "unknown command '%s'", argv[optind]);
    cli.cmd = cmd->name;
    argc -= optind;
    argv += optind;
    cli_getopt_reset();
    status = cmd->fn(&cli, argc, argv);
    if (status == EXIT_OK)
        cli_flush_warnings();
    return status;
}
