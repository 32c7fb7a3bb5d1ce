/*
 * config.c - evl_config_t: Kafka-style names checked at set time.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"

enum { T_INT, T_BOOL, T_ENUM, T_STR, T_FRAC };

static const char *const full_policies[] = {"reject", "block", "drop-oldest", NULL};
static const char *const recovery_modes[] = {"auto", "rebuild", "repair", NULL};
static const char *const partitioners[] = {"xxh3", "murmur2", NULL};
static const char *const durabilities[] = {"none", "interval", "fsync", NULL};
static const char *const keyless[] = {"sticky", "round-robin", NULL};
static const char *const resets[] = {"earliest", "latest", "none", NULL};
static const char *const strategies[] = {"range", "roundrobin", "sticky", NULL};
static const char *const cleanup_policies[] = {"delete", "compact", "compact,delete",
                                               "delete,compact", NULL};

/* Which calls a setting applies to (evl__cfg_scope_check). */
enum { S_LOG = EVL_CFG_SCOPE_LOG, S_TOPIC = EVL_CFG_SCOPE_TOPIC,
       S_PROD = EVL_CFG_SCOPE_PRODUCER, S_CONS = EVL_CFG_SCOPE_CONSUMER,
       S_STORED = EVL_CFG_SCOPE_STORED | EVL_CFG_SCOPE_TOPIC };

static const struct row {
    const char *name;
    int type;
    int64_t def, min, max;
    const char *const *values; /* T_ENUM */
    unsigned scope;            /* S_* */
} rows[EVL_CFG__COUNT] = {
    [EVL_CFG_DISK_BYTES_MAX] = {"disk.bytes.max", T_INT, 0, 0, INT64_MAX, NULL, S_LOG},
    [EVL_CFG_DISK_FULL_POLICY] = {"disk.full.policy", T_ENUM, 0, 0, 0, full_policies, S_LOG},
    [EVL_CFG_DISK_FULL_BLOCK_MS] = {"disk.full.block.ms", T_INT, 5000, 0, INT32_MAX, NULL, S_LOG},
    [EVL_CFG_META_MAPSIZE] = {"meta.mapsize", T_INT, 1 << 24, 1 << 20, INT64_MAX / 4, NULL, S_LOG},
    [EVL_CFG_RETENTION_CHECK_MS] = {"retention.check.interval.ms", T_INT, 30000, 10, INT32_MAX, NULL, S_LOG},
    [EVL_CFG_RECOVERY_MODE] = {"recovery.mode", T_ENUM, 0, 0, 0, recovery_modes, S_LOG},
    [EVL_CFG_LOG_CLEANER_ENABLE] = {"log.cleaner.enable", T_BOOL, 1, 0, 1, NULL, S_LOG},
    [EVL_CFG_LOG_CLEANER_BACKOFF_MS] = {"log.cleaner.backoff.ms", T_INT, 15000, 10, INT32_MAX, NULL, S_LOG},
    [EVL_CFG_NUM_PARTITIONS] = {"num.partitions", T_INT, 1, 1, 100000, NULL, S_TOPIC},
    [EVL_CFG_SEGMENT_BYTES] = {"segment.bytes", T_INT, 1 << 30, 1 << 16, 1LL << 31, NULL, S_STORED},
    [EVL_CFG_SEGMENT_MS] = {"segment.ms", T_INT, 604800000, 1, INT64_MAX, NULL, S_STORED},
    [EVL_CFG_RETENTION_MS] = {"retention.ms", T_INT, 604800000, -1, INT64_MAX, NULL, S_STORED},
    [EVL_CFG_RETENTION_BYTES] = {"retention.bytes", T_INT, -1, -1, INT64_MAX, NULL, S_STORED},
    [EVL_CFG_MAX_MESSAGE_BYTES] = {"max.message.bytes", T_INT, 1 << 20, 64, 1 << 30, NULL, S_STORED},
    [EVL_CFG_INDEX_INTERVAL_BYTES] = {"index.interval.bytes", T_INT, 4096, 64, 1 << 30, NULL, S_STORED},
    [EVL_CFG_PARTITIONER] = {"partitioner", T_ENUM, 0, 0, 0, partitioners, S_STORED},
    [EVL_CFG_DURABILITY] = {"durability", T_ENUM, 0, 0, 0, durabilities, S_STORED | S_PROD},
    [EVL_CFG_FLUSH_INTERVAL_MS] = {"flush.interval.ms", T_INT, 1000, 1, INT32_MAX, NULL, S_STORED},
    [EVL_CFG_RETAIN_UNTIL_CONSUMED_BY] = {"retain.until.consumed.by", T_STR, 0, 0, 0, NULL, S_STORED},
    [EVL_CFG_CLEANUP_POLICY] = {"cleanup.policy", T_ENUM, 0, 0, 0, cleanup_policies, S_STORED},
    [EVL_CFG_MIN_CLEANABLE_DIRTY_RATIO] = {"min.cleanable.dirty.ratio", T_FRAC, 500000, 0, EVL_CFG_FRAC_ONE, NULL, S_STORED},
    [EVL_CFG_MIN_COMPACTION_LAG_MS] = {"min.compaction.lag.ms", T_INT, 0, 0, INT64_MAX, NULL, S_STORED},
    [EVL_CFG_MAX_COMPACTION_LAG_MS] = {"max.compaction.lag.ms", T_INT, INT64_MAX, 1, INT64_MAX, NULL, S_STORED},
    [EVL_CFG_DELETE_RETENTION_MS] = {"delete.retention.ms", T_INT, 86400000, 0, INT64_MAX, NULL, S_STORED},
    [EVL_CFG_PARTITIONER_KEYLESS] = {"partitioner.keyless", T_ENUM, 0, 0, 0, keyless, S_PROD},
    [EVL_CFG_STICKY_RECORDS] = {"sticky.records", T_INT, 64, 1, INT32_MAX, NULL, S_PROD},
    [EVL_CFG_ENABLE_IDEMPOTENCE] = {"enable.idempotence", T_BOOL, 0, 0, 1, NULL, S_PROD},
    [EVL_CFG_PRODUCER_NAME] = {"producer.name", T_STR, 0, 0, 0, NULL, S_PROD},
    [EVL_CFG_GROUP_ID] = {"group.id", T_STR, 0, 0, 0, NULL, S_CONS},
    [EVL_CFG_AUTO_OFFSET_RESET] = {"auto.offset.reset", T_ENUM, 1, 0, 0, resets, S_CONS},
    [EVL_CFG_ENABLE_AUTO_COMMIT] = {"enable.auto.commit", T_BOOL, 1, 0, 1, NULL, S_CONS},
    [EVL_CFG_AUTO_COMMIT_INTERVAL_MS] = {"auto.commit.interval.ms", T_INT, 5000, 1, INT32_MAX, NULL, S_CONS},
    [EVL_CFG_MAX_POLL_INTERVAL_MS] = {"max.poll.interval.ms", T_INT, 300000, 10, INT32_MAX, NULL, S_CONS},
    [EVL_CFG_ASSIGNMENT_STRATEGY] = {"partition.assignment.strategy", T_ENUM, 0, 0, 0, strategies, S_CONS},
    [EVL_CFG_CHECK_CRCS] = {"check.crcs", T_BOOL, 1, 0, 1, NULL, S_CONS},
    [EVL_CFG_MAX_POLL_RECORDS] = {"max.poll.records", T_INT, 500, 1, 1000000, NULL, S_CONS},
    [EVL_CFG_WAIT_SPIN_US] = {"wait.spin.us", T_INT, -1, -1, 1000000, NULL, S_CONS},
};

int evl__cfg_key_lookup(const char *name)
{
    for (int k = 0; k < EVL_CFG__COUNT; k++)
        if (!strcmp(rows[k].name, name))
            return k;
    return -1;
}

void evl__cfg_defaults(evl_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int k = 0; k < EVL_CFG__COUNT; k++)
        cfg->num[k] = rows[k].def;
}

void evl__cfg_release(evl_config_t *cfg)
{
    for (int k = 0; k < EVL_CFG__COUNT; k++) {
        free(cfg->str[k]);
        cfg->str[k] = NULL;
    }
}

int evl__cfg_copy(evl_config_t *dst, const evl_config_t *src)
{
    evl_config_t tmp = *src;
    for (int k = 0; k < EVL_CFG__COUNT; k++) {
        tmp.str[k] = NULL;
        if (src->str[k] && !(tmp.str[k] = evl__strdup(src->str[k]))) {
            evl__cfg_release(&tmp);
            return EVL_ENOMEM;
        }
    }
    *dst = tmp;
    return 0;
}

int64_t evl__cfg_int(const evl_config_t *cfg, int key) { return cfg->num[key]; }

const char *evl__cfg_str(const evl_config_t *cfg, int key)
{
    return cfg->str[key] ? cfg->str[key] : "";
}

EVL_API evl_config_t *evl_config_new(void)
{
    evl_config_t *cfg = evl__malloc(sizeof *cfg);
    if (cfg)
        evl__cfg_defaults(cfg);
    return cfg;
}

EVL_API evl_config_t *evl_config_dup(const evl_config_t *src)
{
    if (!src)
        return evl_config_new();
    evl_config_t *cfg = evl__malloc(sizeof *cfg);
    if (cfg && evl__cfg_copy(cfg, src) != 0) {
        free(cfg);
        cfg = NULL;
    }
    return cfg;
}

EVL_API void evl_config_free(evl_config_t *cfg)
{
    if (!cfg)
        return;
    evl__cfg_release(cfg);
    free(cfg);
}

static int parse_value(int k, const char *value, int64_t *num, char *errstr,
                       size_t errsz)
{
    const struct row *r = &rows[k];
    switch (r->type) {
    case T_INT: {
        /* Plain decimal only: no sign but a leading '-', no spaces, no
         * leading zeros (strtoll alone takes " 1", "+1" and "01", and a
         * value a user mistyped should not pass for another). */
        const char *d = value + (value[0] == '-');
        bool plain = d[0] >= '0' && d[0] <= '9' && (d[0] != '0' || d[1] == 0);
        for (const char *c = d; plain && *c; c++)
            plain = *c >= '0' && *c <= '9';
        errno = 0;
        char *end;
        long long v = plain ? strtoll(value, &end, 10) : 0;
        if (!plain || errno || *end) {
            evl__errstr(errstr, errsz, "%s: \"%s\" is not an integer", r->name, value);
            return EVL_ECONFIG;
        }
        if (v < r->min || v > r->max) {
            evl__errstr(errstr, errsz, "%s: %lld is outside [%" PRId64 ", %" PRId64 "]",
                         r->name, v, r->min, r->max);
            return EVL_ECONFIG;
        }
        *num = v;
        return 0;
    }
    case T_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1")) {
            *num = 1;
            return 0;
        }
        if (!strcmp(value, "false") || !strcmp(value, "0")) {
            *num = 0;
            return 0;
        }
        evl__errstr(errstr, errsz, "%s: expected true or false, got \"%s\"", r->name, value);
        return EVL_ECONFIG;
    case T_ENUM:
        for (int i = 0; r->values[i]; i++)
            if (!strcmp(r->values[i], value)) {
                *num = i;
                return 0;
            }
        evl__errstr(errstr, errsz, "%s: \"%s\" is not one of the allowed values", r->name,
                     value);
        return EVL_ECONFIG;
    case T_FRAC: {
        /* 0, 1, or a decimal fraction with up to 6 digits: "0.5", "0.125". */
        int64_t whole = 0, frac = 0, scale = EVL_CFG_FRAC_ONE;
        const char *c = value;
        bool ok = *c >= '0' && *c <= '9';
        for (; ok && *c >= '0' && *c <= '9'; c++)
            whole = whole * 10 + (*c - '0') > 10 ? 10 : whole * 10 + (*c - '0');
        if (ok && *c == '.') {
            ok = c[1] >= '0' && c[1] <= '9';
            for (c++; ok && *c >= '0' && *c <= '9'; c++) {
                scale /= 10;
                ok = scale > 0;
                frac += (*c - '0') * scale;
            }
        }
        int64_t v = whole * EVL_CFG_FRAC_ONE + frac;
        if (!ok || *c || v < r->min || v > r->max) {
            evl__errstr(errstr, errsz, "%s: \"%s\" is not a number from 0 to 1", r->name,
                        value);
            return EVL_ECONFIG;
        }
        *num = v;
        return 0;
    }
    default:
        return 0;
    }
}

static int set_key(evl_config_t *cfg, int k, const char *value, char *errstr,
                   size_t errsz)
{
    if (rows[k].type == T_STR) {
        if (strlen(value) > 4096) {
            evl__errstr(errstr, errsz, "%s: value too long", rows[k].name);
            return EVL_ECONFIG;
        }
        char *s = evl__strdup(value);
        if (!s)
            return EVL_ENOMEM;
        free(cfg->str[k]);
        cfg->str[k] = s;
    } else {
        int64_t v = 0;
        int rc = parse_value(k, value, &v, errstr, errsz);
        if (rc)
            return rc;
        cfg->num[k] = v;
    }
    cfg->set[k / 64] |= 1ull << (k % 64);
    return 0;
}

EVL_API int evl_config_set(evl_config_t *cfg, const char *name, const char *value,
                           char *errstr, size_t errstr_size)
{
    if (!cfg || !name || !value) {
        evl__errstr(errstr, errstr_size, "NULL argument");
        return EVL_EINVAL;
    }
    int k = evl__cfg_key_lookup(name);
    if (k < 0) {
        evl__errstr(errstr, errstr_size, "unknown configuration name \"%s\"", name);
        return EVL_ECONFIG;
    }
    return set_key(cfg, k, value, errstr, errstr_size);
}

static int format_key(const evl_config_t *cfg, int k, char *buf, size_t size)
{
    const struct row *r = &rows[k];
    switch (r->type) {
    case T_STR:
        return snprintf(buf, size, "%s", evl__cfg_str(cfg, k));
    case T_BOOL:
        return snprintf(buf, size, "%s", cfg->num[k] ? "true" : "false");
    case T_ENUM:
        return snprintf(buf, size, "%s", r->values[cfg->num[k]]);
    case T_FRAC: {
        int64_t v = cfg->num[k], f = v % EVL_CFG_FRAC_ONE;
        if (f == 0)
            return snprintf(buf, size, "%" PRId64, v / EVL_CFG_FRAC_ONE);
        char digits[8];
        snprintf(digits, sizeof digits, "%06" PRId64, f);
        for (int i = 5; i > 0 && digits[i] == '0'; i--)
            digits[i] = 0;
        return snprintf(buf, size, "%" PRId64 ".%s", v / EVL_CFG_FRAC_ONE, digits);
    }
    default:
        return snprintf(buf, size, "%" PRId64, cfg->num[k]);
    }
}

EVL_API int evl_config_get(const evl_config_t *cfg, const char *name, char *buf,
                           size_t size)
{
    if (!cfg || !name)
        return EVL_EINVAL;
    int k = evl__cfg_key_lookup(name);
    if (k < 0)
        return EVL_ECONFIG;
    char dummy[1];
    if (!buf || size == 0) {
        buf = dummy;
        size = sizeof dummy;
    }
    return format_key(cfg, k, buf, size);
}

EVL_API void evl_config_set_log_cb(evl_config_t *cfg, evl_log_cb *cb, void *opaque)
{
    if (!cfg)
        return;
    cfg->logger.cb = cb;
    cfg->logger.opaque = opaque;
}

int evl__cfg_overlay_topic(evl_config_t *dst, const evl_config_t *base)
{
    for (int k = 0; k < EVL_CFG__COUNT; k++) {
        if (!(rows[k].scope & EVL_CFG_SCOPE_STORED) || evl__cfg_isset(dst, k))
            continue;
        dst->num[k] = base->num[k];
        if (base->str[k]) {
            char *s = evl__strdup(base->str[k]);
            if (!s)
                return EVL_ENOMEM;
            free(dst->str[k]);
            dst->str[k] = s;
        }
    }
    return 0;
}

char *evl__cfg_topic_serialize(const evl_config_t *cfg)
{
    size_t cap = 256, len = 0;
    for (int k = 0; k < EVL_CFG__COUNT; k++)
        cap += strlen(rows[k].name) + 32 + (cfg->str[k] ? strlen(cfg->str[k]) : 0);
    char *out = evl__malloc(cap);
    if (!out)
        return NULL;
    for (int k = 0; k < EVL_CFG__COUNT; k++) {
        if (!(rows[k].scope & EVL_CFG_SCOPE_STORED))
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s=", rows[k].name);
        len += (size_t)format_key(cfg, k, out + len, cap - len);
        len += (size_t)snprintf(out + len, cap - len, "\n");
    }
    return out;
}

int evl__cfg_topic_parse(evl_config_t *cfg, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    char line[4400];
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n >= sizeof line)
            return EVL_ECORRUPT;
        memcpy(line, p, n);
        line[n] = 0;
        p += n + (nl ? 1 : 0);
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = 0;
        int k = evl__cfg_key_lookup(line);
        if (k < 0)
            continue;
        int rc = set_key(cfg, k, eq + 1, NULL, 0);
        if (rc)
            return rc == EVL_ECONFIG ? EVL_ECORRUPT : rc;
    }
    return 0;
}

int evl__cfg_scope_check(const evl_config_t *cfg, unsigned scopes, const evl_config_t *same_ok)
{
    for (int k = 0; k < EVL_CFG__COUNT; k++) {
        if (!evl__cfg_isset(cfg, k) || (rows[k].scope & scopes))
            continue;
        if (same_ok && cfg->num[k] == same_ok->num[k] &&
            !strcmp(evl__cfg_str(cfg, k), evl__cfg_str(same_ok, k)))
            continue;
        return k;
    }
    return -1;
}

const char *evl__cfg_name(int key) { return rows[key].name; }
