/*
 * error.c - return codes, their names and messages, the version functions,
 * and the small helpers every module uses to report (log callback, errstr).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

EVL_API const char *evl_version(void) { return EVL_VERSION_STRING; }
EVL_API int evl_version_number(void) { return EVL_VERSION_NUMBER; }

static const struct {
    int rc;
    const char *name;
    const char *msg;
} codes[] = {
    {EVL_OK, "EVL_OK", "success"},
    {EVL_EINVAL, "EVL_EINVAL", "invalid argument"},
    {EVL_ENOMEM, "EVL_ENOMEM", "out of memory"},
    {EVL_ENOSPC, "EVL_ENOSPC", "no space left on device"},
    {EVL_EIO, "EVL_EIO", "input/output error"},
    {EVL_EACCES, "EVL_EACCES", "permission denied"},
    {EVL_ECORRUPT, "EVL_ECORRUPT", "data failed a checksum or sanity check"},
    {EVL_ETOOBIG, "EVL_ETOOBIG", "record larger than max.message.bytes"},
    {EVL_ENOTFOUND, "EVL_ENOTFOUND", "no such topic, partition or group"},
    {EVL_EEXIST, "EVL_EEXIST", "topic already exists"},
    {EVL_EOFFSET, "EVL_EOFFSET", "offset out of range"},
    {EVL_ETIMEDOUT, "EVL_ETIMEDOUT", "timed out with nothing to return"},
    {EVL_EFENCED, "EVL_EFENCED", "stale consumer group generation"},
    {EVL_EBADNAME, "EVL_EBADNAME",
     "invalid name: use [A-Za-z0-9._-], 1-249 chars, not . or .."},
    {EVL_ECONFIG, "EVL_ECONFIG", "unknown configuration name or invalid value"},
    {EVL_ESTATE, "EVL_ESTATE", "call not valid in this state"},
    {EVL_EVERSION, "EVL_EVERSION", "files written by an incompatible version"},
    {EVL_EFULL, "EVL_EFULL", "log disk budget (disk.bytes.max) reached"},
    {EVL_EBUSY, "EVL_EBUSY", "group has active members"},
    {EVL_ENOOFFSET, "EVL_ENOOFFSET",
     "no committed offset and auto.offset.reset is none"},
    {EVL_EDURABILITY, "EVL_EDURABILITY",
     "record appended but fsync failed: not durable"},
    {EVL_ESEQUENCE, "EVL_ESEQUENCE",
     "producer sequence out of order: records before it are missing"},
    {EVL_EPRODUCER_FENCED, "EVL_EPRODUCER_FENCED",
     "a newer instance of this producer.name has written: this one is fenced"},
};

EVL_API const char *evl_strerror(int rc)
{
    for (size_t i = 0; i < EVL_ARRAY_LEN(codes); i++)
        if (codes[i].rc == rc)
            return codes[i].msg;
    if (rc < 0 && rc > -4096)
        return strerror(-rc); /* glibc's table: static strings for known errnos */
    return "unknown error";
}

EVL_API const char *evl_errname(int rc)
{
    for (size_t i = 0; i < EVL_ARRAY_LEN(codes); i++)
        if (codes[i].rc == rc)
            return codes[i].name;
    if (rc < 0 && rc > -4096)
        return "EVL_ESYSTEM";
    return "EVL_EUNKNOWN";
}

void evl__logf(const evl_logger_t *lg, int level, const char *fmt, ...)
{
    if (!lg || !lg->cb)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lg->cb(lg->opaque, level, buf);
}

void evl__errstr(char *errstr, size_t size, const char *fmt, ...)
{
    if (!errstr || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, size, fmt, ap);
    va_end(ap);
}

bool evl__name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strlen(name);
    if (n == 0 || n > 249 || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}
