
/*
 * What comes back: the header and body filters of gateway locations.
 *
 * - An upstream answer's header is held until its whole body is in; the
 *   body filter then hands both to the answer stage
 *   (ngx_http_ci_jobs_answer.c), which sends them through the filters
 *   below these, or replaces them by a 502.
 * - Every error page of a gateway location, whether nginx's own (502,
 *   504, an access-phase 403) or a refusal of the content handler, is
 *   rewritten into CI's error shape, in XML or JSON, or replaced by a
 *   stale cached answer (ci_jobs_cache_use_stale).
 *
 * What the filters hold is ctx->hold: nothing, upstream's answer, or a
 * body of the module's own to send in place of nginx's error page.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_answer.h"


static ngx_int_t ngx_http_ci_jobs_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_send_stale(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t status);
static ngx_int_t ngx_http_ci_jobs_replace(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_chain_t *cl);
static ngx_int_t ngx_http_ci_jobs_body_below(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_ci_jobs_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

/* the filters below the module's, which upstream's answer is sent through */
static ngx_http_ci_jobs_output_t         ngx_http_ci_jobs_output_below;


ngx_int_t
ngx_http_ci_jobs_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ci_jobs_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ci_jobs_body_filter;

    ngx_http_ci_jobs_output_below.header = ngx_http_next_header_filter;
    ngx_http_ci_jobs_output_below.body = ngx_http_next_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_uint_t                    status;
    ngx_chain_t                  *cl;
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    if (!lcf->enable && lcf->callback_zone == NULL) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    /*
     * Upstream's answer: held, not passed on, until the body filter has
     * the whole body.  When upstream fails before that, the module's
     * finalize_request handler (ngx_http_ci_jobs_upstream.c) lets go of
     * it and clears u->header_sent, before the upstream module looks at
     * that, and nginx's error page comes here instead.
     */

    if (ctx != NULL && ctx->hold == NGX_HTTP_CI_JOBS_HOLD_ANSWER) {
        return NGX_OK;
    }

    status = r->headers_out.status;

    if (status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx == NULL) {
        /* an error before the content handler: access phase, limits */

        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ci_jobs_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ctx->json = ngx_http_ci_jobs_wants_json(r, lcf);

        ngx_http_set_ctx(r, ctx, ngx_http_ci_jobs_module);
    }

    if (status == NGX_HTTP_BAD_GATEWAY
        && ctx->error_code == NGX_HTTP_CI_JOBS_SLOW_DOWN
        && ctx->error_status)
    {
        /* upstream's body refused for its connection (_held.c): no 502 */
        status = ctx->error_status;
        r->headers_out.status = status;
    }

    if (ctx->refresh) {
        /* the watch's refresh failed: its streams are told */
        ngx_http_ci_jobs_refresh_failed(r, ctx, status, NULL);
    }

    if (ctx->cache_lock || ctx->cache_key.len) {
        rc = ngx_http_ci_jobs_send_stale(r, ctx, lcf, status);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    cl = ngx_http_ci_jobs_error_answer(r, ctx, status);

    return ngx_http_ci_jobs_replace(r, ctx, cl);
}


/*
 * nginx's 502 (upstream failed) or 504 (timed out) of a cached request:
 * with ci_jobs_cache_use_stale, the expired entry, if the zone still has
 * it, is the answer.  The lock, held or not, is released either way.
 */

static ngx_int_t
ngx_http_ci_jobs_send_stale(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t status)
{
    ngx_int_t     rc;
    ngx_uint_t    use;
    ngx_str_t     out;
    ngx_chain_t  *cl;

    ngx_http_ci_jobs_cache_unlock(ctx, lcf);

    use = (status == NGX_HTTP_BAD_GATEWAY) ? NGX_HTTP_CI_JOBS_STALE_ERROR
          : (status == NGX_HTTP_GATEWAY_TIME_OUT)
            ? NGX_HTTP_CI_JOBS_STALE_TIMEOUT : 0;

    if (!(lcf->cache_use_stale & use)
        || ngx_http_ci_jobs_cache_stale(r, ctx, lcf) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_ci_jobs_answer_entry(r, ctx, &out);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: upstream failed (%ui), a stale answer is served",
                  status);

    cl = ngx_http_ci_jobs_answer_body(r, &out);

    return ngx_http_ci_jobs_replace(r, ctx, cl);
}


/*
 * cl, the module's own body, is sent in place of nginx's (the body
 * filter drops nginx's and sends cl), after the header.
 */

static ngx_int_t
ngx_http_ci_jobs_replace(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_chain_t *cl)
{
    if (cl == NULL) {
        return NGX_ERROR;
    }

    ctx->replacement = cl;
    ctx->hold = NGX_HTTP_CI_JOBS_HOLD_REPLACEMENT;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ci_jobs_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t               last;
    ngx_chain_t             *cl;
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL || ctx->hold == NGX_HTTP_CI_JOBS_HOLD_NONE) {
        return ngx_http_ci_jobs_body_below(r, ctx, in);
    }

    /*
     * What nginx sends here is not sent: nginx's error page, or nothing
     * (upstream's body is read into ctx->body, not passed here).  A
     * subrequest's output ends with last_in_chain, not last_buf.
     */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;

        if (cl->buf->last_buf || (r != r->main && cl->buf->last_in_chain)) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    if (ctx->hold == NGX_HTTP_CI_JOBS_HOLD_REPLACEMENT) {
        ctx->hold = NGX_HTTP_CI_JOBS_HOLD_NONE;
        return ngx_http_ci_jobs_body_below(r, ctx, ctx->replacement);
    }

    /* upstream's body is whole, its header held: the answer stage's now */

    return ngx_http_ci_jobs_answer(r, ctx, ctx->body,
                                   NGX_HTTP_CI_JOBS_FROM_UPSTREAM,
                                   &ngx_http_ci_jobs_output_below);
}


/*
 * To the filters below; but the watch's refresh, a background subrequest,
 * sends nothing: its output would be postponed for ever, and the
 * subrequest would never end.
 */

static ngx_int_t
ngx_http_ci_jobs_body_below(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    if (ctx == NULL || !ctx->refresh) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}
