
/*
 * The clock offset of each bucket host: learnt when CI refuses a
 * signature whose KeyTime did not hold its Date, kept in the state zone
 * (src/ngx_http_ci_jobs_state_zone.c) for all workers, and added to our
 * clock when signing for that host.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_counters.h"


#define NGX_HTTP_CI_JOBS_MAX_SKEW  86400      /* a Date further off is absurd */


/* one bucket host's clock, in the state zone, found by the host's name */
struct ngx_http_ci_jobs_shoffset_s {
    ngx_http_ci_jobs_named_t        host;
    ngx_atomic_t                    offset;   /* CI's clock - ours, seconds */
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
    ngx_http_ci_jobs_zone_t    *zone;
    ngx_http_ci_jobs_shared_t  *shared;

    if (lcf->offset != NULL || lcf->state_zone == NULL) {
        return lcf->offset;
    }

    zone = lcf->state_zone->data;
    shared = zone->sh;

    if (shared == NULL) {
        return NULL;
    }

    lcf->offset = ngx_http_ci_jobs_state_entry(lcf->state_zone,
                                    &shared->offsets, &lcf->host,
                                    sizeof(ngx_http_ci_jobs_shoffset_t));

    return lcf->offset;
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
