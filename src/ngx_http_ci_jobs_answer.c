
/*
 * The answer stage: what becomes of a whole XML body.
 *
 * - upstream's, once read whole (ngx_http_ci_jobs_upstream.c) and handed
 *   over by the body filter as nginx ends the upstream request: one pass
 *   checks it, reads the cache's facts and writes the JSON rendering; it
 *   is stored when the cache keeps it, and sent, or, when it is no
 *   answer, replaced by nginx's 502;
 * - a cached entry, from the content handler (a hit, or the answer a
 *   waiter waited for) or for a stale answer (the header filter): it was
 *   checked when it was stored, so it is only rendered.
 *
 * The watch's refresh sends nothing: its answer is stored, and a failed
 * one's error is kept with the key's entry for the watch's streams
 * (ngx_http_ci_jobs_refresh_failed(), from here and the header filter).
 *
 * The body comes with the way it leaves (ngx_http_ci_jobs_output_t), so
 * that any caller, inside the output filters or not, sends it the same.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_answer.h"
#include "ngx_http_ci_jobs_diagnosis.h"
#include "ngx_http_ci_jobs_held.h"


static ngx_int_t ngx_http_ci_jobs_answer_check(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out);
static ngx_inline ngx_int_t ngx_http_ci_jobs_answer_cached(
    ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out);
static void ngx_http_ci_jobs_answer_store(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_http_ci_jobs_xml_result_t *res);
static ngx_int_t ngx_http_ci_jobs_answer_render(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_xml_result_t *res,
    ngx_str_t *out, ngx_uint_t facts);
static ngx_int_t ngx_http_ci_jobs_answer_etag(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx);
static ngx_int_t ngx_http_ci_jobs_answer_send(ngx_http_request_t *r,
    ngx_str_t *out, ngx_http_ci_jobs_output_t *output);
static void *ngx_http_ci_jobs_palloc(void *pool, size_t size);
static void ngx_http_ci_jobs_pfree(void *pool, void *p);


/* through all the output filters, as a content handler sends */
static ngx_http_ci_jobs_output_t  ngx_http_ci_jobs_output_all = {
    ngx_http_send_header,
    ngx_http_output_filter
};


/*
 * body, whole, becomes the answer, sent through output (NULL: all the
 * output filters).  Upstream's body when it is no answer is nginx's 502
 * instead, through ngx_http_filter_finalize_request() as the xslt filter
 * does, which the header filter writes in CI's error shape; that closes
 * the client's connection once the 502 is sent.  A cached entry that
 * cannot be rendered is a 500.
 */

ngx_int_t
ngx_http_ci_jobs_answer(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_buf_t *body, ngx_http_ci_jobs_from_e from,
    ngx_http_ci_jobs_output_t *output)
{
    ngx_int_t  rc;
    ngx_str_t  out;

    ctx->body = body;

    if (from == NGX_HTTP_CI_JOBS_FROM_UPSTREAM) {
        rc = ngx_http_ci_jobs_answer_check(r, ctx, &out);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED)
                   ? ngx_http_filter_finalize_request(r,
                                                      &ngx_http_ci_jobs_module,
                                                      NGX_HTTP_BAD_GATEWAY)
                   : NGX_ERROR;
        }

    } else {
        rc = ngx_http_ci_jobs_answer_cached(r, ctx, &out);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_HTTP_INTERNAL_SERVER_ERROR
                                        : NGX_ERROR;
        }
    }

    if (ctx->refresh) {
        /* the watch's refresh: stored, for the watchers; nothing sent */

        if (r->headers_out.status != NGX_HTTP_OK) {
            ngx_http_ci_jobs_refresh_failed(r, ctx, r->headers_out.status,
                                            ctx->body);
        }

        /*
         * Its memory is the carrying watcher's, which may stay for long:
         * the body goes, and is no longer counted as held.
         */

        if (ctx->body != NULL && ctx->held != NULL) {
            ngx_http_ci_jobs_body_done(r, ctx, 0);
        }

        return NGX_OK;
    }

    if (ngx_http_ci_jobs_answer_etag(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ci_jobs_answer_send(r, &out,
                                        output ? output
                                               : &ngx_http_ci_jobs_output_all);
}


/*
 * The watch's refresh failed with status: the error it would have
 * answered, upstream's body when CI sent one (an error in CI's shape),
 * or else the gateway's own, kept with the key's entry for every
 * worker's streams (ngx_http_ci_jobs_cache_failed()).
 */

void
ngx_http_ci_jobs_refresh_failed(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status, ngx_buf_t *body)
{
    ngx_str_t                     error;
    ngx_uint_t                    json;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    if (ctx->cache_key.data == NULL
        && ngx_http_ci_jobs_cache_key_init(r, ctx, lcf) != NGX_OK)
    {
        return;
    }

    if (body == NULL
        || (size_t) (body->last - body->pos) > NGX_HTTP_CI_JOBS_CACHE_ERROR_MAX)
    {
        json = ctx->json;
        ctx->json = 0;
        body = ngx_http_ci_jobs_error_body(r, ctx, status);
        ctx->json = json;

        if (body == NULL) {
            return;
        }
    }

    error.data = body->pos;
    error.len = body->last - body->pos;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ci_jobs watch: refresh failed: %ui", status);

    ngx_http_ci_jobs_cache_failed(ctx, lcf, &error);
}


/*
 * Upstream's body, its header held until now: the signature diagnosis,
 * one pass, the cache, the headers.  NGX_DECLINED when it is no answer.
 */

static ngx_int_t
ngx_http_ci_jobs_answer_check(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out)
{
    ngx_int_t                       rc;
    ngx_http_ci_jobs_loc_conf_t    *lcf;
    ngx_http_ci_jobs_xml_result_t   res;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    /* the diagnosis reads upstream's answer while its header is held */

    ngx_http_ci_jobs_diagnose(r, ctx, lcf);

    ctx->hold = NGX_HTTP_CI_JOBS_HOLD_NONE;

    /* the cache's facts only for the cache */

    rc = ngx_http_ci_jobs_answer_render(r, ctx, &res, out,
                                        ctx->cache_key.len != 0);

    if (rc != NGX_OK || (ctx->json && !ctx->xml_content_type)) {

        if (rc == NGX_ERROR) {
            ngx_http_ci_jobs_cache_unlock(ctx, lcf);
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            res.error = "the content type is not XML";
        }

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

        return NGX_DECLINED;
    }

    /* an id lookup's answer: its ETag's digest, kept with the entry */

    if (r->headers_out.status == NGX_HTTP_OK
        && !ngx_http_ci_jobs_api_is_list(ctx->req.api))
    {
        ngx_http_ci_jobs_etag_digest(ctx->body->pos,
                                     ctx->body->last - ctx->body->pos,
                                     ctx->digest);
        ctx->digested = 1;
    }

    if (ctx->cache_key.len) {
        ngx_http_ci_jobs_answer_store(r, ctx, lcf, &res);
    }

    if (ctx->json) {
        /* what is held from here on is the rendering, not the body */
        ngx_http_ci_jobs_body_done(r, ctx, out->len);
    }

    return ngx_http_ci_jobs_answer_headers(r, ctx, out->len);
}


/* stored when the cache keeps it; the lock, if held, is let go of anyway */

static void
ngx_http_ci_jobs_answer_store(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_http_ci_jobs_xml_result_t *res)
{
    ngx_http_ci_jobs_store_e  store;

    store = ngx_http_ci_jobs_cache_storable(ctx->req.api, ctx->req.nids,
                                            r->headers_out.status, res);

    /*
     * With the watch, a pending answer is stored even when it is expired
     * as soon as stored (ci_jobs_cache_valid_pending 0): its version is
     * what the watchers compare theirs with.
     */

    if (store == NGX_HTTP_CI_JOBS_STORE_TERMINAL
        || (store == NGX_HTTP_CI_JOBS_STORE_PENDING
            && (lcf->cache_valid_pending || lcf->watch)))
    {
        ngx_http_ci_jobs_cache_store(r, ctx, lcf,
                                     store == NGX_HTTP_CI_JOBS_STORE_PENDING);

    } else {
        ngx_http_ci_jobs_cache_unlock(ctx, lcf);
    }
}


/* a cached entry for the header filter's stale answer */

ngx_int_t
ngx_http_ci_jobs_answer_entry(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out)
{
    return ngx_http_ci_jobs_answer_cached(r, ctx, out);
}


/*
 * An answer rendered already, in out, as a 200 (or a 304): the watch's
 * long-polls share one rendering per key and change.  ctx->digest and
 * ctx->ci_request_id are the rendering's.
 */

ngx_int_t
ngx_http_ci_jobs_answer_rendered(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out)
{
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.status_line.len = 0;

    if (ngx_http_ci_jobs_answer_headers(r, ctx, out->len) != NGX_OK
        || ngx_http_ci_jobs_answer_etag(r, ctx) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_ci_jobs_answer_send(r, out, &ngx_http_ci_jobs_output_all);
}


/*
 * A cached entry, in ctx->body, as a 200: its XML was good when it was
 * stored, so only a JSON answer needs a pass over it.  NGX_DECLINED when
 * that pass fails.
 */

static ngx_inline ngx_int_t
ngx_http_ci_jobs_answer_cached(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out)
{
    size_t                         size;
    ngx_http_ci_jobs_xml_result_t  res;

    if (!ctx->json) {
        out->data = ctx->body->pos;
        out->len = ctx->body->last - ctx->body->pos;

    } else if (ngx_http_ci_jobs_answer_render(r, ctx, &res, out, 0)
               != NGX_OK)
    {
        return NGX_DECLINED;

    } else {
        /*
         * What is held from here on is the rendering, not the copy: the
         * request's own copy is freed; the worker's stays for others.
         */
        size = ctx->body->end - ctx->body->start;

        if (!ctx->body_shared
            && ngx_pfree(r->pool, ctx->body->start) != NGX_OK)
        {
            size = 0;
        }

        ngx_http_ci_jobs_held_replace(ctx->copy_held, size, out->len);
        ctx->copy_held = NULL;
        ctx->body = NULL;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.status_line.len = 0;

    return ngx_http_ci_jobs_answer_headers(r, ctx, out->len);
}


/*
 * One pass over ctx->body: checks it, writes the JSON rendering when the
 * answer is to be JSON, and with facts, reads what the cache decides on
 * (the job states, which of the ids asked for the answer names).
 * NGX_DECLINED: the body is no answer; NGX_ERROR: no memory for the pass.
 */

static ngx_int_t
ngx_http_ci_jobs_answer_render(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_xml_result_t *res,
    ngx_str_t *out, ngx_uint_t facts)
{
    int                           rc;
    ngx_http_ci_jobs_loc_conf_t  *lcf;
    ngx_http_ci_jobs_xml_conf_t   xc;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    ngx_http_ci_jobs_xml_conf_init(&xc, lcf, r->pool, ctx->json);
    ngx_memzero(res, sizeof(ngx_http_ci_jobs_xml_result_t));

    if (!facts) {
        xc.no_facts = 1;

    } else if (ctx->req.api != NGX_HTTP_CI_JOBS_API_LIST) {
        xc.ids = ctx->req.ids;
        xc.ids_len = ctx->req.ids_len;
    }

    rc = ngx_http_ci_jobs_xml_parse(ctx->body->pos,
                                    ctx->body->last - ctx->body->pos,
                                    &xc, res);

    if (ctx->json) {
        out->data = res->json;
        out->len = res->json_len;

    } else {
        out->data = ctx->body->pos;
        out->len = ctx->body->last - ctx->body->pos;
    }

    if (rc == NGX_HTTP_CI_JOBS_XML_OK) {
        return NGX_OK;
    }

    return (rc == NGX_HTTP_CI_JOBS_XML_NOMEM) ? NGX_ERROR : NGX_DECLINED;
}


/*
 * An id lookup's 200 carries a strong ETag; with If-None-Match naming
 * it, the answer is a 304 with no body (the header filter makes it
 * header only).  nginx's not_modified filter would do the same for a
 * cache hit, but runs before the module's filter for upstream's answer.
 */

static ngx_int_t
ngx_http_ci_jobs_answer_etag(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx)
{
    ngx_str_t                     etag;
    ngx_table_elt_t              *h, *inm;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    static ngx_str_t  name = ngx_string("ETag");

    if (!ctx->digested
        || r->headers_out.status != NGX_HTTP_OK
        || ngx_http_ci_jobs_api_is_list(ctx->req.api))
    {
        return NGX_OK;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    etag.data = ngx_pnalloc(r->pool, NGX_HTTP_CI_JOBS_ETAG_LEN);
    if (etag.data == NULL) {
        return NGX_ERROR;
    }

    etag.len = ngx_http_ci_jobs_etag(etag.data, ctx->digest,
                                     ctx->json ? lcf->array_names : NULL,
                                     lcf->narray_names);

    h = ngx_http_ci_jobs_add_header(r, &name, &etag);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.etag = h;

    inm = r->headers_in.if_none_match;

    if (inm == NULL
        || !ngx_http_ci_jobs_etag_match(inm->value.data, inm->value.len,
                                        h->value.data, h->value.len))
    {
        return NGX_OK;
    }

    r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
    r->headers_out.status_line.len = 0;
    r->headers_out.content_type.len = 0;
    ngx_http_clear_content_length(r);
    r->header_only = 1;

    return NGX_OK;
}


/* the header, then, unless that ends it, the body whole */

static ngx_int_t
ngx_http_ci_jobs_answer_send(ngx_http_request_t *r, ngx_str_t *out,
    ngx_http_ci_jobs_output_t *output)
{
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    rc = output->header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    cl = ngx_http_ci_jobs_answer_body(r, out);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    return output->body(r, cl);
}


/*
 * The XML reader's set-up every rendering shares: the location's array
 * names, and the pool its memory comes from.
 */

void
ngx_http_ci_jobs_xml_conf_init(ngx_http_ci_jobs_xml_conf_t *xc,
    ngx_http_ci_jobs_loc_conf_t *lcf, ngx_pool_t *pool, ngx_uint_t json)
{
    ngx_memzero(xc, sizeof(ngx_http_ci_jobs_xml_conf_t));

    xc->array_names = lcf->array_names;
    xc->narray_names = lcf->narray_names;
    xc->json = json;
    xc->alloc = ngx_http_ci_jobs_palloc;
    xc->free = ngx_http_ci_jobs_pfree;
    xc->alloc_data = pool;
}


static void *
ngx_http_ci_jobs_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static void
ngx_http_ci_jobs_pfree(void *pool, void *p)
{
    (void) ngx_pfree(pool, p);
}
