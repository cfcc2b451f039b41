
/*
 * What comes back: the header and body filters of gateway locations.
 *
 * - An upstream answer's header is held until its whole body is in; the
 *   body is then checked (and converted) in one pass, and sent with its
 *   header, or replaced by a 502 when it is not a well-formed answer.
 * - Every error page of a gateway location, whether nginx's own (502,
 *   504, an access-phase 403) or a refusal of the content handler, is
 *   rewritten into CI's error shape, in XML or JSON, or replaced by a
 *   stale cached answer (ci_jobs_cache_use_stale).
 *
 * What the filters hold is ctx->hold: nothing, upstream's answer, or a
 * body of the module's own to send in place of nginx's error page.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_diagnosis.h"


static ngx_int_t ngx_http_ci_jobs_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_send_stale(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t status);
static ngx_int_t ngx_http_ci_jobs_replace(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_chain_t *cl);
static ngx_int_t ngx_http_ci_jobs_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_ci_jobs_send_answer(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_ci_jobs_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ci_jobs_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ci_jobs_body_filter;

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

    if (!lcf->enable) {
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
    ngx_uint_t    use;
    ngx_str_t     out;
    ngx_chain_t  *cl;

    ngx_http_ci_jobs_cache_unlock(ctx, lcf);

    use = (status == NGX_HTTP_BAD_GATEWAY) ? NGX_HTTP_CI_JOBS_STALE_ERROR
          : (status == NGX_HTTP_GATEWAY_TIME_OUT)
            ? NGX_HTTP_CI_JOBS_STALE_TIMEOUT : 0;

    if (!(lcf->cache_use_stale & use)
        || ngx_http_ci_jobs_cache_stale(r, ctx, lcf) != NGX_OK
        || ngx_http_ci_jobs_cached_answer(r, ctx, &out) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: upstream failed (%ui), a stale answer is served",
                  status);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.status_line.len = 0;

    if (ngx_http_ci_jobs_answer_headers(r, ctx, out.len) != NGX_OK) {
        return NGX_ERROR;
    }

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
        return ngx_http_next_body_filter(r, in);
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
        return ngx_http_next_body_filter(r, ctx->replacement);
    }

    return ngx_http_ci_jobs_send_answer(r, ctx);
}


/*
 * The whole upstream body is in ctx->body, its header held: the answer is
 * sent, or, when the body is no answer, nginx's 502 goes out instead
 * through ngx_http_filter_finalize_request(), as the xslt filter does,
 * and the header filter writes it in CI's error shape.  That closes the
 * client's connection once the 502 is sent: the body nginx was sending
 * is dropped.
 */

static ngx_int_t
ngx_http_ci_jobs_send_answer(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx)
{
    int                             parsed, store;
    ngx_int_t                       rc;
    ngx_str_t                       out;
    ngx_chain_t                    *cl;
    ngx_http_ci_jobs_loc_conf_t    *lcf;
    ngx_http_ci_jobs_xml_result_t   res;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    ngx_http_ci_jobs_diagnose(r, ctx, lcf);

    ctx->hold = NGX_HTTP_CI_JOBS_HOLD_NONE;

    /* the cache's facts only for the cache */

    parsed = ngx_http_ci_jobs_render(r, ctx, &res, &out,
                                     ctx->cache_key.len != 0);

    if (parsed == NGX_HTTP_CI_JOBS_XML_NOMEM) {
        ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        return NGX_ERROR;
    }

    if (parsed == NGX_HTTP_CI_JOBS_XML_OK && ctx->json
        && !ctx->xml_content_type)
    {
        parsed = NGX_HTTP_CI_JOBS_XML_ERROR;
        res.error = "the content type is not XML";
    }

    if (parsed != NGX_HTTP_CI_JOBS_XML_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent a malformed body (status %ui, "
                      "%uz bytes): %s", r->headers_out.status,
                      (size_t) (ctx->body->last - ctx->body->pos),
                      res.error ? res.error : "not XML");

        ctx->upstream_error = NGX_HTTP_CI_JOBS_UPSTREAM_MALFORMED;

        /*
         * Upstream did answer: not the failure an expired entry stands in
         * for (ci_jobs_cache_use_stale), so the cache is done with.
         */

        ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        ngx_str_null(&ctx->cache_key);

        r->keepalive = 0;

        return ngx_http_filter_finalize_request(r, &ngx_http_ci_jobs_module,
                                                NGX_HTTP_BAD_GATEWAY);
    }

    if (ctx->cache_key.len) {
        store = ngx_http_ci_jobs_cache_storable(ctx->req.api, ctx->req.nids,
                                                r->headers_out.status, &res);

        if (store == NGX_HTTP_CI_JOBS_STORE_TERMINAL
            || (store == NGX_HTTP_CI_JOBS_STORE_PENDING
                && lcf->cache_valid_pending))
        {
            ngx_http_ci_jobs_cache_store(r, ctx, lcf,
                                         store
                                         == NGX_HTTP_CI_JOBS_STORE_PENDING);

        } else {
            ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        }
    }

    if (ctx->json) {
        /* what is held from here on is the rendering, not the body */
        ngx_http_ci_jobs_body_done(r, ctx, out.len);
    }

    if (ngx_http_ci_jobs_answer_headers(r, ctx, out.len) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    cl = ngx_http_ci_jobs_answer_body(r, &out);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_next_body_filter(r, cl);
}
