
/*
 * The cache lookup and what follows it, one path for every request that
 * comes to it: a new one (the content handler), one that waited for
 * another's answer (the cache's lock), and a held watcher whose entry is
 * gone (the watch).
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_lookup.h"
#include "ngx_http_ci_jobs_answer.h"
#include "ngx_http_ci_jobs_held.h"


static void ngx_http_ci_jobs_lookup_again(ngx_http_request_t *r);


/* the cached answer, a wait for another's, a refusal, or upstream */

ngx_int_t
ngx_http_ci_jobs_lookup(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_int_t  rc;

    rc = ngx_http_ci_jobs_cache_lookup(r, ctx, lcf);

    if (rc == NGX_OK) {
        return ngx_http_ci_jobs_answer(r, ctx, ctx->body,
                                       NGX_HTTP_CI_JOBS_FROM_CACHE, NULL);
    }

    if (rc == NGX_AGAIN) {
        /*
         * The cache lets the request go on when the lock is gone, through
         * r->write_event_handler, as nginx's file cache lock does.
         */

        r->write_event_handler = ngx_http_ci_jobs_lookup_again;

        return ngx_http_ci_jobs_cache_wait(r, ctx);
    }

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_BUSY && ctx->error_status) {
        /* the hit would take its connection past what it may hold */
        return ctx->error_status;
    }

    if (rc == NGX_BUSY || ngx_http_ci_jobs_worker_full(r)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: the worker holds ci_jobs_max_held_size of "
                      "answers, request refused");

        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       NGX_HTTP_CI_JOBS_SERVICE_UNAVAILABLE,
                                       "the gateway is busy");
    }

    if (ngx_http_ci_jobs_connection_full(r)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ci_jobs: the client connection holds "
                      "ci_jobs_max_held_per_connection of answers, "
                      "request refused");

        ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        ngx_http_ci_jobs_slow_down(ctx);

        return ctx->error_status;
    }

    return ngx_http_ci_jobs_upstream_init(r, lcf);
}


/*
 * The cache's wait is over: the lookup again.  A write event on the
 * connection while the request waits finds the wait's timer set.
 */

static void
ngx_http_ci_jobs_lookup_again(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx->cache_wait.timer_set) {
        return;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, ngx_http_ci_jobs_lookup(r, ctx, lcf));
}
