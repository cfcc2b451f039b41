
/*
 * The clock offset of each bucket host: learnt when CI refuses a
 * signature whose KeyTime did not hold its Date, kept in the state zone
 * (src/ngx_http_ci_jobs_state_zone.c) for all workers, and added to our
 * clock when signing for that host.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_metrics.h"


#define NGX_HTTP_CI_JOBS_MAX_SKEW  86400      /* a Date further off is absurd */


/* one bucket host's clock, in the state zone */
struct ngx_http_ci_jobs_shoffset_s {
    ngx_http_ci_jobs_shoffset_t    *next;
    ngx_atomic_t                    offset;   /* CI's clock - ours, seconds */
    size_t                          len;
    u_char                          host[1];
};


static ngx_http_ci_jobs_shoffset_t *ngx_http_ci_jobs_offset_of(
    ngx_http_ci_jobs_loc_conf_t *lcf);


/*
 * The host's entry, made when a location of this worker first signs for
 * it, and then read without a lock.
 */

static ngx_http_ci_jobs_shoffset_t *
ngx_http_ci_jobs_offset_of(ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_ci_jobs_shared_t    *shared;
    ngx_http_ci_jobs_shoffset_t  *o;

    shared = ngx_http_ci_jobs_state();

    if (lcf->offset != NULL || shared == NULL) {
        return lcf->offset;
    }

    shpool = ngx_http_ci_jobs_state_pool();

    ngx_shmtx_lock(&shpool->mutex);

    for (o = shared->offsets; o != NULL; o = o->next) {
        if (o->len == lcf->host.len
            && ngx_memcmp(o->host, lcf->host.data, o->len) == 0)
        {
            break;
        }
    }

    if (o == NULL) {
        o = ngx_slab_alloc_locked(shpool,
                                  offsetof(ngx_http_ci_jobs_shoffset_t, host)
                                  + lcf->host.len);
        if (o != NULL) {
            o->offset = 0;
            o->len = lcf->host.len;
            ngx_memcpy(o->host, lcf->host.data, lcf->host.len);
            o->next = shared->offsets;
            shared->offsets = o;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    lcf->offset = o;

    return o;
}


time_t
ngx_http_ci_jobs_clock_offset(ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_http_ci_jobs_shoffset_t  *o;

    o = ngx_http_ci_jobs_offset_of(lcf);

    if (o == NULL) {
        return 0;
    }

    return (time_t) (ngx_atomic_int_t) o->offset;
}


/*
 * CI refused a signature whose KeyTime did not hold its clock (its Date):
 * learn the offset, for this bucket host only.  Returns NGX_OK when it was
 * learnt, NGX_DECLINED when the Date says nothing useful (absent, absurd,
 * or within the window).
 */

ngx_int_t
ngx_http_ci_jobs_learn_offset(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf, time_t date, time_t start, time_t end)
{
    time_t                        offset;
    ngx_http_ci_jobs_shoffset_t  *o;

    if (date == NGX_ERROR || (date >= start && date <= end)) {
        return NGX_DECLINED;
    }

    offset = date - ngx_time();
    o = ngx_http_ci_jobs_offset_of(lcf);

    if (offset > NGX_HTTP_CI_JOBS_MAX_SKEW
        || offset < -NGX_HTTP_CI_JOBS_MAX_SKEW
        || o == NULL)
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: the CI clock of \"%V\" is %T seconds off ours, "
                  "signing for it with that offset", &lcf->host, offset);

    o->offset = (ngx_atomic_uint_t) offset;

    ngx_http_ci_jobs_count_skew();

    return NGX_OK;
}
