
/*
 * The clock offset of each target (bucket host and ci_jobs_pass): guessed
 * when CI refuses a signature whose KeyTime did not hold its Date, kept
 * in the state zone (src/ngx_http_ci_jobs_state_zone.c) for all workers
 * only once the retry signed with it was accepted, and added to our clock
 * when signing for that target.  It goes back to zero as soon as an
 * accepted answer's Date lies within the window a signature made with our
 * own clock would have: a Date forged or wrong once cannot move the
 * signatures of other targets, nor keep moving them.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_counters.h"


#define NGX_HTTP_CI_JOBS_MAX_SKEW  86400      /* a Date further off is absurd */


/* one target's clock, in the state zone, found by host and ci_jobs_pass */
struct ngx_http_ci_jobs_shoffset_s {
    ngx_http_ci_jobs_named_t        target;
    ngx_atomic_t                    offset;   /* CI's clock - ours, seconds */
};


static ngx_http_ci_jobs_shoffset_t *ngx_http_ci_jobs_offset_of(
    ngx_http_ci_jobs_loc_conf_t *lcf);


/*
 * The target's entry, "<host> <ci_jobs_pass>", made when a location of
 * this worker first signs for it, and then read without a lock.
 */

static ngx_http_ci_jobs_shoffset_t *
ngx_http_ci_jobs_offset_of(ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                     *p;
    ngx_str_t                   name;
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

    name.len = lcf->host.len + 1 + lcf->pass.len;
    name.data = ngx_pnalloc(ngx_cycle->pool, name.len);
    if (name.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(name.data, lcf->host.data, lcf->host.len);
    *p++ = ' ';
    ngx_memcpy(p, lcf->pass.data, lcf->pass.len);

    lcf->offset = ngx_http_ci_jobs_state_entry(lcf->state_zone,
                                    &shared->offsets, &name,
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
 * the offset to try once, in *offset.  Returns NGX_OK with it, or
 * NGX_DECLINED when the Date says nothing useful (absent, absurd, or
 * within the window).  Nothing is kept yet.
 */

ngx_int_t
ngx_http_ci_jobs_guess_offset(time_t date, time_t start, time_t end,
    time_t *offset)
{
    if (date == NGX_ERROR || (date >= start && date <= end)) {
        return NGX_DECLINED;
    }

    *offset = date - ngx_time();

    if (*offset > NGX_HTTP_CI_JOBS_MAX_SKEW
        || *offset < -NGX_HTTP_CI_JOBS_MAX_SKEW)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * CI accepted a signature.  The one signed with a guessed offset makes
 * that offset the target's; an answer whose Date a signature with our own
 * clock would have held brings a learnt offset back to zero.
 */

void
ngx_http_ci_jobs_offset_accepted(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf, ngx_http_ci_jobs_ctx_t *ctx)
{
    time_t                        start, end;
    ngx_http_ci_jobs_shoffset_t  *o;

    o = ngx_http_ci_jobs_offset_of(lcf);

    if (o == NULL) {
        return;
    }

    if (ctx->offset_tried) {
        if ((time_t) (ngx_atomic_int_t) o->offset == ctx->offset) {
            return;
        }

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ci_jobs: the CI clock of \"%V\" is %T seconds off "
                      "ours, signing for it with that offset", &lcf->host,
                      ctx->offset);

        o->offset = (ngx_atomic_uint_t) ctx->offset;

        ngx_http_ci_jobs_count_skew();
        return;
    }

    if (o->offset == 0 || ctx->date == NGX_ERROR) {
        return;
    }

    ngx_http_ci_jobs_sign_window(0, lcf->sign_expires, &start, &end);

    if (ctx->date < start || ctx->date > end) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                  "ci_jobs: the CI clock of \"%V\" agrees with ours again, "
                  "signing for it without an offset", &lcf->host);

    o->offset = 0;
}
