/*
 * json_config.c - a connector's settings as JSON, the shapes Kafka
 * Connect's REST API and its standalone mode take:
 * {"name": "...", "config": {"connector.class": "...", ...}} or the config
 * object alone. Values are strings; numbers and booleans are taken as their
 * text (Kafka Connect's clients send both). Parsed with jansson.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eventlog/connect.h>

static char *text_of(json_t *v)
{
    char buf[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strndup(json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    case JSON_REAL:
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        return strdup(buf);
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    default:
        return NULL;
    }
}

EVL_API int evl_connect_json(const char *text, size_t len, char ***pairs, size_t *npairs,
                             char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = 0;
    if (!pairs || !npairs || (!text && len))
        return EVL_EINVAL;
    *pairs = NULL;
    *npairs = 0;
    json_error_t je;
    json_t *root = json_loadb(text ? text : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errsz, "line %d column %d: %s", je.line, je.column, je.text);
        return EVL_ECONFIG;
    }
    int rc = 0;
    json_t *conf = json_object_get(root, "config"), *name = NULL;
    if (!json_is_object(root)) {
        snprintf(err, errsz, "not a JSON object");
        rc = EVL_ECONFIG;
    } else if (conf) {
        name = json_object_get(root, "name");
        if (!json_is_object(conf) || (name && !json_is_string(name))) {
            snprintf(err, errsz, "%s", !json_is_object(conf) ? "config: not an object"
                                                             : "name: not a string");
            rc = EVL_ECONFIG;
        }
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v) {
            if (rc == 0 && strcmp(k, "config") && strcmp(k, "name") && strcmp(k, "tasks")) {
                snprintf(err, errsz, "%.100s: unknown (a connector is {\"name\", \"config\"})", k);
                rc = EVL_ECONFIG;
            }
        }
    } else {
        conf = root;
    }
    size_t n = rc ? 0 : json_object_size(conf);
    json_t *inner = conf ? json_object_get(conf, "name") : NULL;
    bool add_name = rc == 0 && name && !inner;
    if (rc == 0 && name && inner &&
        (!json_is_string(inner) || strcmp(json_string_value(inner), json_string_value(name)))) {
        snprintf(err, errsz, "name: the connector's name and config.name differ");
        rc = EVL_ECONFIG;
    }
    char **p = NULL;
    if (rc == 0 && !(p = calloc(2 * (n + 1), sizeof *p)))
        rc = EVL_ENOMEM;
    size_t i = 0;
    if (rc == 0 && add_name) {
        p[0] = strdup("name");
        p[1] = strdup(json_string_value(name));
        i = 1;
        if (!p[0] || !p[1])
            rc = EVL_ENOMEM;
    }
    const char *k;
    json_t *v;
    if (rc == 0)
        json_object_foreach(conf, k, v) {
            if (rc)
                break;
            if (!(p[2 * i + 1] = text_of(v))) {
                snprintf(err, errsz, "%.100s: a value must be a string, number or boolean", k);
                rc = EVL_ECONFIG;
                break;
            }
            if (!(p[2 * i] = strdup(k)))
                rc = EVL_ENOMEM;
            i++;
        }
    json_decref(root);
    if (rc) {
        if (p)
            evl_connect_pairs_free(p, n + 1);
        return rc;
    }
    *pairs = p;
    *npairs = i;
    return 0;
}
