/*
 * cmd_migrate.c - `evl migrate`: convert a log written in record format 1
 * (libeventlog before 0.2) to format 2, through evl_log_migrate.
 */
#include "evl.h"

static const char help_migrate[] =
    "usage: evl migrate [--json]\n"
    "\n"
    "Convert the log directory's segments of record format 1 (written by\n"
    "libeventlog before 0.2, which this version refuses with EVL_EVERSION)\n"
    "to format 2, in place: the same offsets, timestamps, keys, values,\n"
    "headers and batches. A crash leaves each segment old or new: run it\n"
    "again to finish. Segments already converted are left alone. Run it with\n"
    "no other process using the log. Prints how many segments were\n"
    "converted; damaged records that could not be carried over are named on\n"
    "stderr, and then the exit status is 1.\n";

struct lost {
    struct cli *cli;
    int damaged;
};

static void migrate_log(void *opaque, int level, const char *msg)
{
    struct lost *l = opaque;
    if (level <= EVL_LOG_ERR)
        l->damaged = 1;
    cli_log_cb(l->cli, level, msg);
}

int cmd_migrate(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = cli_getopt(cli, argc, argv, ":h", opts)) != -1) {
        if (c == 'h')
            return cli_help(help_migrate);
        return EXIT_USAGE;
    }
    if (optind < argc)
        return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
    evl_config_t *cfg = evl_config_new();
    if (!cfg)
        return cli_fail("out of memory");
    struct lost l = {cli, 0};
    evl_config_set_log_cb(cfg, migrate_log, &l);
    int64_t n = 0;
    int rc = evl_log_migrate(cli->dir, cfg, &n);
    evl_config_free(cfg);
    if (rc != 0)
        return cli_fail_rc(rc, "migrating '%s' (%lld segment%s converted before the error)",
                           cli->dir, (long long)n, n == 1 ? "" : "s");
    if (cli->json)
        printf("{\"converted\":%lld,\"damaged\":%s}\n", (long long)n,
               l.damaged ? "true" : "false");
    else
        printf("%lld segment%s converted to record format 2\n", (long long)n, n == 1 ? "" : "s");
    cli_flush_warnings();
    if (l.damaged)
        return cli_fail("some records were damaged and not carried over (see above)");
    return cli_finish_stdout();
}
