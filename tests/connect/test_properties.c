/*
 * test_properties.c - Java .properties text as Kafka Connect standalone
 * files use it: separators, comments, continuations, escapes, duplicates.
 */
#include "helpers.h"

#include <eventlog/connect.h>

TestSuite(properties);

static const char *get(char **pairs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(pairs[2 * i], key))
            return pairs[2 * i + 1];
    return NULL;
}

Test(properties, the_forms_kafka_connect_files_use)
{
    const char *text = "# a comment\n"
                       "! another\n"
                       "name=local-file-source\n"
                       "connector.class = FileStreamSource\r\n"
                       "tasks.max: 1\n"
                       "   file    /tmp/test.txt\n"
                       "topic=connect-\\\n"
                       "      test\n"
                       "path=C:\\\\data\\tfile\n"
                       "unicode=caf\\u00e9\n"
                       "key\\=with\\:seps=v\n"
                       "empty=\n"
                       "\n";
    char **p;
    size_t n;
    char err[128];
    cr_assert_eq(evl_connect_properties(text, strlen(text), &p, &n, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(n, 9);
    cr_assert_str_eq(get(p, n, "name"), "local-file-source");
    cr_assert_str_eq(get(p, n, "connector.class"), "FileStreamSource");
    cr_assert_str_eq(get(p, n, "tasks.max"), "1");
    cr_assert_str_eq(get(p, n, "file"), "/tmp/test.txt");
    cr_assert_str_eq(get(p, n, "topic"), "connect-test");
    cr_assert_str_eq(get(p, n, "path"), "C:\\data\tfile");
    cr_assert_str_eq(get(p, n, "unicode"), "caf\xc3\xa9");
    cr_assert_str_eq(get(p, n, "key=with:seps"), "v");
    cr_assert_str_eq(get(p, n, "empty"), "");
    evl_connect_pairs_free(p, n);
}

Test(properties, a_key_given_twice_or_a_bad_escape_is_refused)
{
    char **p;
    size_t n;
    char err[128];
    const char *twice = "a=1\nb=2\na=3\n";
    cr_assert_eq(evl_connect_properties(twice, strlen(twice), &p, &n, err, sizeof err),
                 EVL_ECONFIG);
    cr_assert(strstr(err, "line 3") && strstr(err, "a is given twice"), "%s", err);
    cr_assert_null(p);
    const char *esc = "a=\\u12\n";
    cr_assert_eq(evl_connect_properties(esc, strlen(esc), &p, &n, err, sizeof err), EVL_ECONFIG);
    cr_assert_eq(evl_connect_properties("", 0, &p, &n, err, sizeof err), 0);
    cr_assert_eq(n, 0);
    evl_connect_pairs_free(p, n);
}

Test(properties, json_connector_files_in_kafka_connects_shapes)
{
    char **p;
    size_t n;
    char err[128];
    const char *full = "{\"name\": \"fwd\", \"config\": {\"connector.class\": \"KafkaSink\","
                       " \"topics\": \"a,b\", \"tasks.max\": 1, \"kafka.enable.idempotence\": true,"
                       " \"x\": 2.5}}";
    cr_assert_eq(evl_connect_json(full, strlen(full), &p, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 6);
    cr_assert_str_eq(get(p, n, "name"), "fwd");
    cr_assert_str_eq(get(p, n, "connector.class"), "KafkaSink");
    cr_assert_str_eq(get(p, n, "tasks.max"), "1");
    cr_assert_str_eq(get(p, n, "kafka.enable.idempotence"), "true");
    cr_assert_str_eq(get(p, n, "x"), "2.5");
    evl_connect_pairs_free(p, n);
    const char *bare = "{\"name\": \"f\", \"connector.class\": \"FileStreamSink\"}";
    cr_assert_eq(evl_connect_json(bare, strlen(bare), &p, &n, err, sizeof err), 0, "%s", err);
    cr_assert_eq(n, 2);
    evl_connect_pairs_free(p, n);
    const char *bad[] = {"{\"name\": \"a\", \"config\": {\"name\": \"b\"}}",
                         "{\"config\": {\"topics\": [\"a\"]}}",
                         "{\"config\": {\"a\": 1, \"a\": 2}}",
                         "{\"name\": \"a\", \"config\": {}, \"extra\": 1}",
                         "[1, 2]", "{\"config\": "};
    const char *says[] = {"differ", "topics", "duplicate", "extra", "object", "line 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(evl_connect_json(bad[i], strlen(bad[i]), &p, &n, err, sizeof err),
                     EVL_ECONFIG, "%s", bad[i]);
        cr_assert(strstr(err, says[i]), "%s: %s", bad[i], err);
        cr_assert_null(p);
    }
}
