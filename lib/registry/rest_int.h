/*
 * rest_int.h - Confluent Schema Registry's REST API as a pure function:
 * rest_routes.c answers one request (method, URL, body) from a registry
 * handle and rest.c only moves bytes between it and libmicrohttpd, so the
 * fuzz target and the unit tests call the same routing with no network.
 */
#ifndef EVL_REGISTRY_REST_INT_H
#define EVL_REGISTRY_REST_INT_H

#include <eventlog/registry.h>
#include <stddef.h>

/* What every answer is sent as (Confluent's). */
#define EVL_SR_REST_CTYPE "application/vnd.schemaregistry.v1+json"

/*
 * Answer one request. url is the path as sent (still percent-encoded) with
 * its query string, if any, after '?' (also still encoded): path segments
 * and query values are decoded here, so a subject may hold "%2F". ctype is
 * the request's Content-Type header (NULL: none); body holds len bytes
 * (NULL when len is 0; need not be NUL-terminated).
 *
 * Returns the HTTP status; *resp_body (malloc'd, NUL-terminated, never
 * NULL unless out of memory, then the status is 500) the answer and
 * *resp_type its content type (static). Errors are Confluent's
 * {"error_code": N, "message": "..."}, with N's first three digits the
 * status. Thread-safe as the registry handle is.
 */
int evl__sr_rest_handle(evl_registry_t *reg, const char *method, const char *url,
                        const char *ctype, const char *body, size_t len, char **resp_body,
                        const char **resp_type);

/* An error body as evl__sr_rest_handle gives (malloc'd; NULL on no
 * memory), for the answers rest.c makes itself (401, 413). */
char *evl__sr_rest_error(int error_code, const char *message);

#endif
