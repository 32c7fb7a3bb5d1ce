/*
 * test_avro_crosscheck.c - our Avro compatibility check against an
 * independent implementation: python3-avro's ReaderWriterCompatibilityChecker.
 *
 * tests/registry/avro_pairs.py draws random (reader, writer) pairs (schema
 * evolutions of every kind) and prints python's answer; every pair must get
 * the same answer from evl__sr_avro.can_read. Pairs on which python3-avro
 * is known to contradict the Avro specification carry a "note" and are
 * excluded (and counted, and checked to get the SPEC's answer from us).
 *
 * Build: gcc ... tests/registry/test_avro_crosscheck.c lib/registry/avro*.c
 *        lib/registry/util.c -ljansson -lcriterion
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"

#define PYTHON "/usr/bin/python3"

static const char *script_path(void)
{
    /* Run from the source root (as the Makefile does) or from tests/registry. */
    static const char *const cands[] = {"tests/registry/avro_pairs.py", "avro_pairs.py",
                                        "../tests/registry/avro_pairs.py"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
        if (access(cands[i], R_OK) == 0)
            return cands[i];
    return NULL;
}

static void *parse_json(json_t *j)
{
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    cr_assert(text);
    void *s = NULL;
    char err[EVL_SR_ERRLEN];
    int rc = evl__sr_avro.parse(text, strlen(text), NULL, 0, &s, err, sizeof err);
    cr_assert_eq(rc, 0, "our parser refuses a schema python accepts: %s\n%s", err, text);
    free(text);
    return s;
}

static void run_pairs(unsigned seed, int count)
{
    if (access(PYTHON, X_OK) != 0 ||
        system(PYTHON " -c 'import avro.compatibility' 2>/dev/null") != 0)
        cr_skip_test("no " PYTHON " with the avro module (python3-avro)");
    const char *script = script_path();
    cr_assert(script, "avro_pairs.py not found");
    char cmd[512];
    snprintf(cmd, sizeof cmd, PYTHON " %s %u %d", script, seed, count);
    FILE *f = popen(cmd, "r");
    cr_assert(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, agree = 0, excluded = 0, compatible = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        cr_assert(j, "bad line from avro_pairs.py: %s", je.text);
        void *r = parse_json(json_object_get(j, "reader"));
        void *w = parse_json(json_object_get(j, "writer"));
        evl_sr_msgs_t why = {0};
        int ours = evl__sr_avro.can_read(r, w, &why);
        cr_assert_geq(ours, 0);
        int theirs = json_is_true(json_object_get(j, "compatible"));
        const char *note = json_string_value(json_object_get(j, "note"));
        if (note && !strcmp(note, "alias_relative_to_namespace")) {
            /* python3-avro compares a reader alias to the writer's full
             * name as written. The Avro 1.11 spec ("Names": "A type alias
             * may be specified either as a fully namespace-qualified, or
             * relative to the namespace of the name it is an alias for")
             * makes alias "W" of "ns.R" mean "ns.W". Excluded from the
             * agreement count; we must give the spec's answer, which
             * avro_pairs.py computes as python's answer once the reader's
             * aliases are written in full. */
            int spec = json_is_true(json_object_get(j, "spec_compatible"));
            cr_assert_eq(ours, spec, "pair %d (seed %u): spec case: we say %d, the spec %d", n,
                         seed, ours, spec);
            excluded++;
        } else {
            if (ours != theirs) {
                char *rt = json_dumps(json_object_get(j, "reader"), JSON_COMPACT);
                char *wt = json_dumps(json_object_get(j, "writer"), JSON_COMPACT);
                cr_assert_eq(ours, theirs,
                             "pair %d (seed %u): we say %d, python3-avro %d\nreader %s\n"
                             "writer %s\nour reasons: %s",
                             n, seed, ours, theirs, rt, wt, why.n ? why.v[0] : "(none)");
                free(rt);
                free(wt);
            }
            if (!ours)
                cr_assert_gt(why.n, 0, "incompatible without a reason");
            agree++;
            compatible += ours;
        }
        evl__sr_msgs_free(&why);
        evl__sr_avro.free(r);
        evl__sr_avro.free(w);
        json_decref(j);
        n++;
    }
    free(line);
    int st = pclose(f);
    cr_assert_eq(st, 0, "avro_pairs.py failed (%d)", st);
    cr_assert_eq(n, count, "got %d pairs of %d", n, count);
    /* Both answers must be well represented, or the check proves little. */
    cr_assert_gt(compatible, count / 5, "%d compatible pairs", compatible);
    cr_assert_gt(agree - compatible, count / 5, "%d incompatible pairs", agree - compatible);
    cr_log_info("seed %u: %d pairs, %d agree (%d compatible), %d excluded "
                "(python3-avro against the spec on relative aliases)",
                seed, n, agree, compatible, excluded);
    cr_assert_eq(agree + excluded, n, "%d agree + %d excluded != %d", agree, excluded, n);
    cr_assert_lt(excluded, n / 10, "%d exclusions", excluded);
}

Test(avro_crosscheck, python_avro_seed_1, .timeout = 120)
{
    run_pairs(1, 2500);
}

Test(avro_crosscheck, python_avro_seed_2, .timeout = 120)
{
    run_pairs(20240611, 2500);
}
