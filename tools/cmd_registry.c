/*
 * cmd_registry.c - `evl registry ...`: the log's schema registry from the
 * command line (what Confluent's REST API offers, without a server), and
 * `evl registry serve`, that REST API itself.
 */
#include "evl.h"

#include <eventlog/registry.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char help_registry[] =
    "usage: evl registry subjects [--deleted] [--prefix P]\n"
    "       evl registry versions SUBJECT [--deleted]\n"
    "       evl registry get SUBJECT [VERSION|latest] [--deleted] | get --id ID\n"
    "       evl registry register SUBJECT FILE [--schema-type T] [--ref NAME=SUBJECT:VERSION]...\n"
    "       evl registry compat SUBJECT FILE [--version V] [--schema-type T] [--ref ...]\n"
    "       evl registry config [SUBJECT] [LEVEL | --delete]\n"
    "       evl registry mode [SUBJECT] [READWRITE|READONLY|IMPORT]\n"
    "       evl registry delete SUBJECT [VERSION|latest] [--permanent]\n"
    "       evl registry serve [--listen HOST:PORT] [--basic-auth USER:PASS]\n"
    "                          [--tls-cert FILE --tls-key FILE]\n"
    "\n"
    "The log's schema registry (Confluent Schema Registry's model; see\n"
    "include/eventlog/registry.h). Schema types: avro (default), json,\n"
    "protobuf. Levels: NONE, BACKWARD (default), BACKWARD_TRANSITIVE,\n"
    "FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE.\n"
    "get prints the version as Confluent's REST API does (JSON); register\n"
    "prints the schema's id; compat prints true or false and the reasons,\n"
    "exit status 1 when incompatible. serve answers Confluent's REST API\n"
    "(default 127.0.0.1:8081; port 0: any free port) until SIGINT/SIGTERM,\n"
    "after printing \"listening on http[s]://HOST:PORT\".\n";

enum { OPT_DELETED = 0x1400, OPT_PREFIX, OPT_ID, OPT_TYPE, OPT_REF, OPT_VERSION, OPT_DELETE,
       OPT_PERMANENT, OPT_LISTEN, OPT_AUTH, OPT_CERT, OPT_KEY };

struct reg_opts {
    bool deleted, del, permanent;
    const char *prefix, *listen, *auth, *cert, *key;
    int id, version;
    evl_schema_type_t type;
    evl_schema_ref_t refs[16];
    size_t nrefs;
    char *args[3];
    int nargs;
};

static int parse_version(const char *s, int *out)
{
    if (!strcmp(s, "latest")) {
        *out = EVL_VERSION_LATEST;
        return 0;
    }
    return parse_int(s, 1, INT32_MAX, out);
}

static int reg_parse(struct cli *cli, int argc, char **argv, struct reg_opts *o)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"deleted", no_argument, NULL, OPT_DELETED},
        {"prefix", required_argument, NULL, OPT_PREFIX},
        {"id", required_argument, NULL, OPT_ID},
        {"schema-type", required_argument, NULL, OPT_TYPE},
        {"ref", required_argument, NULL, OPT_REF},
        {"version", required_argument, NULL, OPT_VERSION},
        {"delete", no_argument, NULL, OPT_DELETE},
        {"permanent", no_argument, NULL, OPT_PERMANENT},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"basic-auth", required_argument, NULL, OPT_AUTH},
        {"tls-cert", required_argument, NULL, OPT_CERT},
        {"tls-key", required_argument, NULL, OPT_KEY},
        {NULL, 0, NULL, 0},
    };
    int c, t;
    while ((c = cli_getopt(cli, argc, argv, ":d:h", opts)) != -1) {
        switch (c) {
        case 'h': return cli_help(help_registry);
        case OPT_DELETED: o->deleted = true; break;
        case OPT_PREFIX: o->prefix = optarg; break;
        case OPT_ID:
            if (parse_int(optarg, 1, INT32_MAX, &o->id))
                return cli_usage(cli, "bad id '%s'", optarg);
            break;
        case OPT_TYPE:
            if ((t = evl_schema_type_parse(optarg)) < 0)
                return cli_usage(cli, "bad schema type '%s' (avro, json or protobuf)", optarg);
            o->type = (evl_schema_type_t)t;
            break;
        case OPT_REF: {
            char *eq = strchr(optarg, '='), *colon = strrchr(optarg, ':');
            if (!eq || !colon || colon < eq || o->nrefs == 16)
                return cli_usage(cli, "bad reference '%s' (NAME=SUBJECT:VERSION)", optarg);
            *eq = *colon = 0;
            evl_schema_ref_t *r = &o->refs[o->nrefs++];
            r->name = optarg;
            r->subject = eq + 1;
            if (parse_version(colon + 1, &r->version))
                return cli_usage(cli, "bad reference version '%s'", colon + 1);
            break;
        }
        case OPT_VERSION:
            if (parse_version(optarg, &o->version))
                return cli_usage(cli, "bad version '%s'", optarg);
            break;
        case OPT_DELETE: o->del = true; break;
        case OPT_PERMANENT: o->permanent = true; break;
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_AUTH: o->auth = optarg; break;
        case OPT_CERT: o->cert = optarg; break;
        case OPT_KEY: o->key = optarg; break;
        default: return EXIT_USAGE;
        }
    }
    while (optind < argc) {
        if (o->nargs == 3)
            return cli_usage(cli, "unexpected argument '%s'", argv[optind]);
        o->args[o->nargs++] = argv[optind++];
    }
    return -1;
}

/* Open the log and its registry: an exit status. */
static int reg_open(struct cli *cli, evl_log_t **log, evl_registry_t **reg)
{
    int status = cli_open_log(cli, 1, log), rc;
    if (status)
        return status;
    if ((rc = evl_registry_open(*log, reg)) != 0) {
        evl_log_close(*log);
        return cli_fail("opening the schema registry: %s", evl_registry_strerror(rc));
    }
    return EXIT_OK;
}

static int reg_fail(int rc, const char *what)
{
    const char *m = evl_registry_errmsg();
    return cli_fail("%s: %s%s%s", what, evl_registry_strerror(rc), *m ? ": " : "", m);
}

static void print_info(const evl_schema_info_t *in)
{
    printf("{");
    if (in->subject) {
        printf("\"subject\":");
        json_cstr(stdout, in->subject);
        printf(",\"version\":%d,", in->version);
    }
    printf("\"id\":%d", in->id);
    if (in->type != EVL_SCHEMA_AVRO)
        printf(",\"schemaType\":\"%s\"", evl_schema_type_name(in->type));
    printf(",\"schema\":");
    json_cstr(stdout, in->schema);
    if (in->ref_count) {
        printf(",\"references\":[");
        for (size_t i = 0; i < in->ref_count; i++) {
            printf("%s{\"name\":", i ? "," : "");
            json_cstr(stdout, in->refs[i].name);
            printf(",\"subject\":");
            json_cstr(stdout, in->refs[i].subject);
            printf(",\"version\":%d}", in->refs[i].version);
        }
        printf("]");
    }
    if (in->deleted)
        printf(",\"deleted\":true");
    printf("}\n");
}

static int run(struct cli *cli, const char *sub, struct reg_opts *o, evl_registry_t *reg)
{
    int rc = 0;
    if (!strcmp(sub, "subjects")) {
        char **names;
        size_t n;
        if ((rc = evl_registry_subjects(reg, o->prefix, o->deleted, &names, &n)))
            return reg_fail(rc, "subjects");
        for (size_t i = 0; i < n; i++)
            printf("%s\n", names[i]);
        evl_registry_free_list(names, n);
    } else if (!strcmp(sub, "versions")) {
        int *v;
        size_t n;
        if (o->nargs != 1)
            return cli_usage(cli, "want SUBJECT");
        if ((rc = evl_registry_versions(reg, o->args[0], o->deleted, &v, &n)))
            return reg_fail(rc, o->args[0]);
        for (size_t i = 0; i < n; i++)
            printf("%d\n", v[i]);
        free(v);
    } else if (!strcmp(sub, "get")) {
        evl_schema_info_t *in;
        int version = EVL_VERSION_LATEST;
        if (o->id)
            rc = evl_registry_get_by_id(reg, o->id, &in);
        else if (o->nargs < 1 || (o->nargs == 2 && parse_version(o->args[1], &version)))
            return cli_usage(cli, "want SUBJECT [VERSION|latest] or --id ID");
        else
            rc = evl_registry_get(reg, o->args[0], version, o->deleted, &in);
        if (rc)
            return reg_fail(rc, o->id ? "get" : o->args[0]);
        print_info(in);
        evl_schema_info_free(in);
    } else if (!strcmp(sub, "register") || !strcmp(sub, "compat")) {
        if (o->nargs != 2)
            return cli_usage(cli, "want SUBJECT FILE");
        char *text = cli_read_text(o->args[1]);
        if (!text)
            return EXIT_RUNTIME;
        int status = EXIT_OK;
        if (sub[0] == 'r') {
            int id, version;
            rc = evl_registry_register(reg, o->args[0], o->type, text, o->refs, o->nrefs, &id,
                                       &version);
            if (rc)
                status = reg_fail(rc, o->args[0]);
            else
                printf("%d\n", id);
        } else {
            bool ok;
            char **why;
            size_t n;
            rc = evl_registry_check(reg, o->args[0], o->version, o->type, text, o->refs,
                                    o->nrefs, &ok, &why, &n);
            if (rc) {
                status = reg_fail(rc, o->args[0]);
            } else {
                printf("%s\n", ok ? "true" : "false");
                for (size_t i = 0; i < n; i++)
                    printf("%s\n", why[i]);
                evl_registry_free_list(why, n);
                status = ok ? EXIT_OK : EXIT_RUNTIME;
            }
        }
        free(text);
        return status;
    } else if (!strcmp(sub, "config") || !strcmp(sub, "mode")) {
        bool config = sub[0] == 'c';
        const char *subject = NULL, *value = NULL;
        if (o->nargs == 2) {
            subject = o->args[0];
            value = o->args[1];
        } else if (o->nargs == 1) {
            int is_value = config ? evl_compat_parse(o->args[0]) : evl_registry_mode_parse(o->args[0]);
            if (is_value >= 0)
                value = o->args[0];
            else
                subject = o->args[0];
        }
        if (config && o->del) {
            evl_compat_t was;
            if ((rc = evl_registry_config_delete(reg, subject, &was)))
                return reg_fail(rc, "config");
            printf("%s\n", evl_compat_name(was));
        } else if (value) {
            int v = config ? evl_compat_parse(value) : evl_registry_mode_parse(value);
            if (v < 0)
                return cli_usage(cli, "bad %s '%s'", sub, value);
            rc = config ? evl_registry_config_set(reg, subject, (evl_compat_t)v)
                        : evl_registry_mode_set(reg, subject, (evl_registry_mode_t)v);
            if (rc)
                return reg_fail(rc, sub);
            printf("%s\n", value);
        } else if (config) {
            evl_compat_t level;
            if ((rc = evl_registry_config_get(reg, subject, true, &level, NULL)))
                return reg_fail(rc, "config");
            printf("%s\n", evl_compat_name(level));
        } else {
            evl_registry_mode_t mode;
            if ((rc = evl_registry_mode_get(reg, subject, true, &mode)))
                return reg_fail(rc, "mode");
            printf("%s\n", evl_registry_mode_name(mode));
        }
    } else if (!strcmp(sub, "delete")) {
        int version = 0;
        if (o->nargs < 1 || (o->nargs == 2 && parse_version(o->args[1], &version)))
            return cli_usage(cli, "want SUBJECT [VERSION|latest]");
        if (version) {
            int d;
            if ((rc = evl_registry_delete_version(reg, o->args[0], version, o->permanent, &d)))
                return reg_fail(rc, o->args[0]);
            printf("%d\n", d);
        } else {
            int *v;
            size_t n;
            if ((rc = evl_registry_delete_subject(reg, o->args[0], o->permanent, &v, &n)))
                return reg_fail(rc, o->args[0]);
            for (size_t i = 0; i < n; i++)
                printf("%d\n", v[i]);
            free(v);
        }
    } else if (!strcmp(sub, "serve")) {
        evl_registry_server_opts_t so = {.size = sizeof so, .listen = o->listen,
                                         .basic_auth = o->auth, .tls_cert_file = o->cert,
                                         .tls_key_file = o->key};
        evl_registry_server_t *srv;
        if ((o->cert == NULL) != (o->key == NULL))
            return cli_usage(cli, "--tls-cert and --tls-key go together");
        cli_install_stop_signals();
        if ((rc = evl_registry_serve(reg, &so, &srv)))
            return cli_fail_rc(rc, "serving on %s", o->listen ? o->listen : "127.0.0.1:8081");
        const char *host = o->listen ? o->listen : "127.0.0.1:8081";
        const char *colon = strrchr(host, ':');
        printf("listening on %s://%.*s:%d\n", o->cert ? "https" : "http",
               (int)(colon ? colon - host : (long)strlen(host)), host,
               evl_registry_server_port(srv));
        fflush(stdout);
        while (!cli_stop_requested)
            usleep(100 * 1000);
        evl_registry_server_stop(srv);
    } else {
        return cli_usage(cli, "unknown subcommand '%s'", sub);
    }
    return EXIT_OK;
}

int cmd_registry(struct cli *cli, int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
            return cli_help(help_registry);
        return cli_usage(cli, "want a subcommand (see --help)");
    }
    const char *sub = argv[1];
    cli->cmd = "registry";
    struct reg_opts o = {0};
    int status = reg_parse(cli, argc - 1, argv + 1, &o);
    if (status >= 0)
        return status;
    evl_log_t *log;
    evl_registry_t *reg;
    if ((status = reg_open(cli, &log, &reg)))
        return status;
    status = run(cli, sub, &o, reg);
    evl_registry_close(reg);
    evl_log_close(log);
    if (status == EXIT_OK)
        status = cli_finish_stdout();
    return status;
}
