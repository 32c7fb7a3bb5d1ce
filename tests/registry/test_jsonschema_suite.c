/*
 * test_jsonschema_suite.c - the official JSON-Schema-Test-Suite (draft-07)
 * against our validator: every case of every file of draft7/ (and of
 * optional/format/ for the formats we check), each test's verdict must be
 * its "valid". Skipped: refRemote.json (it needs the suite's HTTP server)
 * and what the table below lists, each with its reason. The files come
 * from the Debian package libtest-json-schema-acceptance-perl.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "jsonschema_internal.h"

/* util.c names core error codes through the core library; the test links
 * without it (the library's own definition wins when it is there). */
#define SUITE_DIR "/usr/share/perl5/auto/share/dist/Test-JSON-Schema-Acceptance/tests/draft7"

/* Cases left out, with the reason (file, case description, test
 * description or NULL for the whole case). */
static const struct skip {
    const char *file, *group, *test, *why;
} skips[] = {
    {"refRemote.json", NULL, NULL, "needs the suite's HTTP server of remote schemas"},
    /* optional/format: what draft-07 lets a validator leave unchecked */
    {"idn-email.json", NULL, NULL, "idn-email not checked (passes)"},
    {"idn-hostname.json", NULL, NULL, "idn-hostname not checked (passes)"},
    {"iri.json", NULL, NULL, "iri not checked (passes)"},
    {"iri-reference.json", NULL, NULL, "iri-reference not checked (passes)"},
    {"uri-template.json", NULL, NULL, "uri-template not checked (passes)"},
};

static const struct skip *skipped(const char *file, const char *group, const char *test)
{
    for (size_t i = 0; i < sizeof skips / sizeof *skips; i++) {
        const struct skip *s = &skips[i];
        if (strcmp(s->file, file) == 0 && (!s->group || strcmp(s->group, group) == 0) &&
            (!s->test || strcmp(s->test, test) == 0))
            return s;
    }
    return NULL;
}

typedef struct counts {
    int passed, skipped, failed;
} counts_t;

static void run_file(const char *dir, const char *file, counts_t *c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t je;
    json_t *cases = json_load_file(path, JSON_ALLOW_NUL, &je);
    cr_assert(cases, "%s: %s", path, je.text);
    size_t i;
    json_t *cs;
    json_array_foreach(cases, i, cs)
    {
        const char *group = json_string_value(json_object_get(cs, "description"));
        json_t *tests = json_object_get(cs, "tests");
        char *text = json_dumps(json_object_get(cs, "schema"), JSON_ENCODE_ANY | JSON_COMPACT);
        cr_assert(text);
        void *schema = NULL;
        char err[EVL_SR_ERRLEN];
        int prc = evl__sr_json.parse(text, strlen(text), NULL, 0, &schema, err, sizeof err);
        size_t j;
        json_t *t;
        json_array_foreach(tests, j, t)
        {
            const char *name = json_string_value(json_object_get(t, "description"));
            const struct skip *s = skipped(file, group, name);
            if (s) {
                c->skipped++;
                continue;
            }
            bool want = json_is_true(json_object_get(t, "valid"));
            if (prc != 0) {
                fprintf(stderr, "MISMATCH %s / %s / %s: schema refused: %s\n", file, group, name,
                        err);
                c->failed++;
                continue;
            }
            char *data = json_dumps(json_object_get(t, "data"), JSON_ENCODE_ANY | JSON_COMPACT);
            cr_assert(data);
            char verr[EVL_SR_ERRLEN];
            int rc = evl__js_validate(schema, data, strlen(data), verr, sizeof verr);
            bool got = rc == 0;
            if (got != want) {
                fprintf(stderr, "MISMATCH %s / %s / %s: want %s, got %s (%s)\n", file, group,
                        name, want ? "valid" : "invalid", got ? "valid" : "invalid",
                        got ? "" : verr);
                c->failed++;
            } else {
                c->passed++;
            }
            if (!got)
                cr_assert(verr[0], "an invalid verdict without a message: %s / %s", file, name);
            free(data);
        }
        if (schema)
            evl__sr_json.free(schema);
        free(text);
    }
    json_decref(cases);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_dir(const char *dir, counts_t *c)
{
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        run_file(dir, names[i], c);
        free(names[i]);
    }
}

static bool have_suite(void)
{
    DIR *d = opendir(SUITE_DIR);
    if (!d)
        return false;
    closedir(d);
    return true;
}

Test(jsonschema_suite, draft7)
{
    if (!have_suite())
        cr_skip("JSON-Schema-Test-Suite not found at " SUITE_DIR
                ": install the Debian package libtest-json-schema-acceptance-perl");
    counts_t c = {0};
    run_dir(SUITE_DIR, &c);
    fprintf(stderr, "draft7: %d passed, %d skipped (refRemote.json: remote server), %d failed\n",
            c.passed, c.skipped, c.failed);
    cr_assert(c.passed > 500, "too few tests ran: %d", c.passed);
    cr_assert_eq(c.failed, 0, "%d mismatches (listed above)", c.failed);
}

Test(jsonschema_suite, draft7_optional_format)
{
    if (!have_suite())
        cr_skip("JSON-Schema-Test-Suite not found at " SUITE_DIR
                ": install the Debian package libtest-json-schema-acceptance-perl");
    counts_t c = {0};
    run_dir(SUITE_DIR "/optional/format", &c);
    fprintf(stderr,
            "draft7 optional/format: %d passed, %d skipped (idn-*, iri*, uri-template), "
            "%d failed\n",
            c.passed, c.skipped, c.failed);
    cr_assert(c.passed > 100, "too few tests ran: %d", c.passed);
    cr_assert_eq(c.failed, 0, "%d mismatches (listed above)", c.failed);
}
