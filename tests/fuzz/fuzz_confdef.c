/*
 * fuzz_confdef.c - libFuzzer target: an area's settings (evl_conf_validate,
 * evl_conf_parse) against a fixed definition. The input is split at NUL
 * bytes into name/value pairs: any pairs must be accepted or refused with
 * each problem named, never crash; what parse accepts, validate accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <eventlog.h>

static const char *const modes[] = {"none", "all", NULL};
static const evl_confkey_t keys[] = {
    {"name", EVL_CONF_STRING, NULL, 0, -1, NULL, 0, NULL, NULL, ""},
    {"tasks.max", EVL_CONF_INT, "1", 1, 1000, NULL, 0, NULL, NULL, ""},
    {"mode", EVL_CONF_ENUM, "none", 0, -1, modes, 0, NULL, NULL, ""},
    {"flag", EVL_CONF_BOOL, "false", 0, -1, NULL, 0, NULL, NULL, ""},
    {"ratio", EVL_CONF_DOUBLE, "0.5", 0, 1, NULL, 0, NULL, NULL, ""},
    {"topic", EVL_CONF_STRING, NULL, 0, -1, NULL, 1, NULL, NULL, ""},
    {"topics", EVL_CONF_LIST, NULL, 0, -1, NULL, 2, NULL, NULL, ""},
    {"secret", EVL_CONF_PASSWORD, "", 0, -1, NULL, 0, NULL, NULL, ""},
};

static void count(void *arg, const char *key, const char *msg)
{
    if (!key || !msg || !*msg)
        abort();
    (*(int *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static evl_confdef_t *d;
    if (!d && evl_confdef_new("fuzz", keys, sizeof keys / sizeof keys[0], &d))
        abort();
    if (size < 1)
        return 0;
    unsigned scope = data[0] % 4;
    char *buf = malloc(size);
    if (!buf)
        abort();
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    const char *pairs[64];
    size_t n = 0;
    for (char *p = buf; p < buf + size - 1 && n < 64; p += strlen(p) + 1)
        pairs[n++] = p;
    n &= ~(size_t)1;
    int problems = 0;
    int bad = evl_conf_validate(d, scope, pairs, n / 2, count, &problems);
    if (bad < 0 || bad != problems)
        abort();
    evl_conf_t *c;
    char err[256];
    int rc = evl_conf_parse(d, scope, pairs, n / 2, &c, err, sizeof err);
    if ((rc == 0) != (bad == 0))
        abort();
    if (rc == 0) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            evl_conf_str(c, keys[i].name);
            evl_conf_int(c, keys[i].name);
            evl_conf_double(c, keys[i].name);
            evl_conf_bool(c, keys[i].name);
        }
        evl_conf_free(c);
    } else if (!strlen(err)) {
        abort();
    }
    free(buf);
    return 0;
}
