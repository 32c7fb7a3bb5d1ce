/*
 * fuzz_transforms.c - libFuzzer target: a connector's converter and
 * transform settings (Java .properties text) and a record to run through
 * them. Input: settings, a NUL byte, then the record's value (the key is
 * the value's first half). Settings are refused with a message or give a
 * chain; a record converts and transforms, or fails with a message; never
 * a crash, a leak or a read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/connect/data.h"

static const evl_confkey_t keys[] = {DATA_KEYS};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    const uint8_t *val = nul ? nul + 1 : data + size;
    size_t vlen = nul ? size - plen - 1 : 0;
    char *props = malloc(plen ? plen : 1), *v = malloc(vlen ? vlen : 1);
    if (!props || !v)
        abort();
    memcpy(props, data, plen);
    memcpy(v, val, vlen);
    char **pairs;
    size_t n;
    char err[256];
    evl_confdef_t *def;
    if (evl_confdef_new("fuzz", keys, sizeof keys / sizeof keys[0], &def))
        abort();
    if (evl_connect_properties(props, plen, &pairs, &n, err, sizeof err) == 0) {
        evl_conf_t *conf;
        if (evl_conf_parse(def, 2, (const char *const *)pairs, n, &conf, err, sizeof err) == 0) {
            chain_t *chain = NULL;
            conv_t *kc = NULL, *vc = NULL;
            if (evl__conv_new(conf, "key.converter", &kc, err, sizeof err) == 0 &&
                evl__conv_new(conf, "value.converter", &vc, err, sizeof err) == 0 &&
                evl__chain_new(conf, &chain, err, sizeof err) == 0) {
                crec_t r = {.topic = "topic-a", .partition = 1, .offset = 42,
                            .timestamp = 1700000000000};
                char msg[256];
                const char *cls = "";
                size_t kl = vlen / 2;
                int rc = evl__conv_parse(kc, v, kl, false, &r.key, msg, sizeof msg);
                if (rc == 0)
                    rc = evl__conv_parse(vc, v + kl, vlen - kl, vlen == 0, &r.value, msg,
                                         sizeof msg);
                if (rc == 0 && chain)
                    rc = evl__chain_apply(chain, &r, msg, sizeof msg, &cls);
                if (rc != 0 && rc != 1 && rc != EVL_EINVAL)
                    abort();
                if (rc == 0) {
                    void *ko, *vo;
                    size_t kol, vol;
                    if (evl__conv_format(kc, &r.key, &ko, &kol, msg, sizeof msg) == 0)
                        free(ko);
                    if (evl__conv_format(vc, &r.value, &vo, &vol, msg, sizeof msg) == 0)
                        free(vo);
                }
                evl__cval_clear(&r.key);
                evl__cval_clear(&r.value);
            }
            evl__chain_free(chain);
            evl__conv_free(kc);
            evl__conv_free(vc);
            evl_conf_free(conf);
        }
        evl_connect_pairs_free(pairs, n);
    }
    evl_confdef_free(def);
    free(props);
    free(v);
    return 0;
}
