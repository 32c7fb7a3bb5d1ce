/*
 * log_jobs_api.c - background jobs of the library's areas (connectors,
 * the registry, streams) on the log's runner (bg.h), through the public
 * seam evl_log_job_add / _kick / _remove.
 */
#include "bg.h"
#include "log.h"

EVL_API int evl_log_job_add(evl_log_t *log, const char *name, int lane, evl_job_fn *fn,
                            void *arg, int64_t first_ms)
{
    static const int lanes[] = {[EVL_JOB_NORMAL] = EVL_BG_NORMAL, [EVL_JOB_IDLE] = EVL_BG_IDLE,
                                [EVL_JOB_LONG] = EVL_BG_LONG};
    if (!log || !name || !fn || lane < 0 || lane > EVL_JOB_LONG)
        return EVL_EINVAL;
    if (evl__log_closed(log) || !log->bg)
        return EVL_ESTATE;
    return evl__bg_add(log->bg, lanes[lane], name, fn, arg, first_ms);
}

EVL_API void evl_log_job_kick(evl_log_t *log, int id)
{
    if (log && log->bg && id >= 0)
        evl__bg_kick(log->bg, id);
}

EVL_API void evl_log_job_remove(evl_log_t *log, int id)
{
    if (log && log->bg && id >= 0)
        evl__bg_remove(log->bg, id);
}

EVL_API int64_t evl_now(void) { return evl_now_ms(); }
