/*
 * streams_serde.c - the registry's formats as serdes of the streams
 * library: deserializing is evl_deserializer_decode (wire format to the
 * JSON form), serializing evl_serializer_encode (the JSON form to the
 * wire format). The streams library is not linked: its serde is a struct
 * of two functions, declared in its header.
 */
#include <eventlog/registry_serde.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct rserde {
    evl_serde_t serde; /* first: the pointer handed out */
    evl_serializer_t *ser;
    evl_deserializer_t *des;
    pthread_mutex_t mu; /* the (de)serializer's caches are not shared safely */
} rserde_t;

static int decode(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    rserde_t *r = arg;
    char *json = NULL;
    pthread_mutex_lock(&r->mu);
    int rc = evl_deserializer_decode(r->des, in, len, &json, NULL);
    pthread_mutex_unlock(&r->mu);
    if (rc)
        return rc;
    *out = json;
    *out_len = strlen(json);
    return 0;
}

static int encode(void *arg, const void *in, size_t len, void **out, size_t *out_len)
{
    rserde_t *r = arg;
    if (!r->ser)
        return EVL_EINVAL;
    pthread_mutex_lock(&r->mu);
    int rc = evl_serializer_encode(r->ser, in, len, out, out_len);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

EVL_API int evl_registry_serde_new(evl_registry_t *reg, const char *topic, evl_schema_type_t type,
                                   const char *schema, bool is_key,
                                   const evl_serializer_opts_t *opts, evl_serde_t **out)
{
    *out = NULL;
    if (!reg || !topic)
        return EVL_EINVAL;
    rserde_t *r = calloc(1, sizeof *r);
    if (!r)
        return EVL_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    int rc = 0;
    if (schema) {
        evl_serializer_opts_t o = {.size = sizeof o};
        if (opts)
            memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
        o.size = sizeof o;
        o.is_key = is_key;
        rc = evl_serializer_new(reg, topic, type, schema, NULL, 0, &o, &r->ser);
    }
    if (!rc)
        rc = evl_deserializer_new(reg, type, schema, NULL, 0, &r->des);
    if (rc) {
        evl_registry_serde_free(&r->serde);
        return rc;
    }
    r->serde = (evl_serde_t){evl_schema_type_name(type), decode, encode, r};
    *out = &r->serde;
    return 0;
}

EVL_API void evl_registry_serde_free(evl_serde_t *serde)
{
    if (!serde)
        return;
    rserde_t *r = (rserde_t *)serde;
    evl_serializer_free(r->ser);
    evl_deserializer_free(r->des);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
