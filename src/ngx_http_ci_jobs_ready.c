
/*
 * ci_jobs_status?ready, for health checks: 200 when every gateway
 * location has credentials it can sign with and that have not expired;
 * 503 and the reasons otherwise.  A role location is ready with unexpired
 * role credentials, a file location when its file is usable now, as all
 * workers see them.
 */


#include "ngx_http_ci_jobs_ready.h"


ngx_int_t
ngx_http_ci_jobs_ready(ngx_http_request_t *r, ngx_http_ci_jobs_plain_t *t)
{
    time_t                          now, expires;
    ngx_int_t                       status;
    ngx_str_t                       name;
    ngx_uint_t                      i, health;
    const char                     *what;
    ngx_http_ci_jobs_source_t      *source;
    ngx_http_ci_jobs_loc_conf_t   **lcfs;
    ngx_http_ci_jobs_main_conf_t   *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);
    lcfs = cmcf->locations.elts;
    now = ngx_time();
    status = NGX_HTTP_OK;

    for (i = 0; i < cmcf->locations.nelts; i++) {
        source = lcfs[i]->source;
        health = ngx_http_ci_jobs_source_health(source, now, &expires);

        if (health == NGX_HTTP_CI_JOBS_HEALTH_OK) {
            continue;
        }

        status = NGX_HTTP_SERVICE_UNAVAILABLE;

        what = (source->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE)
               ? "credentials file" : "role credentials from";
        ngx_http_ci_jobs_source_name(source, &name);

        if (ngx_http_ci_jobs_plain_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX
                                              + lcfs[i]->location.len
                                              + name.len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "not ready: location \"%V\": %s \"%V\" ",
                                 &lcfs[i]->location, what, &name);

        switch (health) {

        case NGX_HTTP_CI_JOBS_HEALTH_UNUSABLE:
            t->b->last = ngx_sprintf(t->b->last, "is not usable\n");
            break;

        case NGX_HTTP_CI_JOBS_HEALTH_EXPIRED:
            t->b->last = ngx_sprintf(t->b->last, "expired at %T\n",
                                     expires);
            break;

        default:
            t->b->last = ngx_sprintf(t->b->last, "not fetched yet\n");
        }
    }

    if (status == NGX_HTTP_OK) {
        if (ngx_http_ci_jobs_plain_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last, "ready: %ui locations\n",
                                 cmcf->locations.nelts);
    }

    return status;
}
