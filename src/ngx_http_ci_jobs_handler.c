
/*
 * The content handler: a gateway request is validated here, and either
 * refused (nothing signed, nothing sent), answered from the cache, or
 * handed to the upstream.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_lookup.h"
#include "ngx_http_ci_jobs_access.h"


ngx_int_t
ngx_http_ci_jobs_handler(ngx_http_request_t *r)
{
    int                           rc;
    u_char                       *scratch;
    ngx_int_t                     status;
    ngx_str_t                     path;
    const char                   *message;
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_code_e       code;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    static ngx_str_t  allow = ngx_string("Allow");
    static ngx_str_t  get = ngx_string("GET");

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    /*
     * Zeroed up to the request's parameters, 384 bytes that nothing reads
     * before the parse has filled as many of them as it tells.
     */

    ctx = ngx_palloc(r->pool, sizeof(ngx_http_ci_jobs_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(ctx, offsetof(ngx_http_ci_jobs_ctx_t, req.params));

    ngx_http_set_ctx(r, ctx, ngx_http_ci_jobs_module);

    ctx->watch_request = r;
    ctx->date = NGX_ERROR;
    ctx->api = NGX_HTTP_CI_JOBS_API_COUNT;
    ctx->json = ngx_http_ci_jobs_wants_json(r, lcf);

    /*
     * A subrequest's answer is another response's to use (SSI, mirror,
     * auth_request): no signed request is made for it.  The watch's
     * refresh, the module's own, is the exception.
     */

    if (r != r->main && ngx_http_ci_jobs_watch_is_refresh(r)) {
        ctx->refresh = 1;
        ctx->json = 0;      /* it sends nothing: no rendering */

    } else if (r != r->main) {
        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_FORBIDDEN,
                                       NGX_HTTP_CI_JOBS_ACCESS_DENIED,
                                       "subrequests are not served");
    }

    if (r->method != NGX_HTTP_GET) {
        if (ngx_http_ci_jobs_add_header(r, &allow, &get) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                       NGX_HTTP_CI_JOBS_METHOD_NOT_ALLOWED,
                                       "only GET is allowed");
    }

    status = ngx_http_discard_request_body(r);
    if (status != NGX_OK) {
        return status;
    }

    if (ngx_http_ci_jobs_request_path_below(r, &path) != NGX_OK) {
        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_CI_JOBS_INVALID_ARGUMENT,
                                       "the request path is not canonical");
    }

    scratch = ngx_pnalloc(r->pool, path.len + r->args.len + 1);
    if (scratch == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_ci_jobs_parse_request(&ctx->req, path.data, path.len,
                                        r->args.data, r->args.len, scratch);

    /* an API left out of ci_jobs_apis is unknown, valid request or not */

    if (ctx->req.api_known
        && !(lcf->apis & ((ngx_uint_t) 1 << ctx->req.api)))
    {
        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_CI_JOBS_NO_SUCH_API,
                                       "this API is not enabled here");
    }

    if (rc == NGX_HTTP_CI_JOBS_REQUEST_NO_SUCH_API) {
        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_NOT_FOUND,
                                       NGX_HTTP_CI_JOBS_NO_SUCH_API,
                                       ctx->req.error);
    }

    if (rc != NGX_HTTP_CI_JOBS_REQUEST_OK) {
        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_CI_JOBS_INVALID_ARGUMENT,
                                       ctx->req.error);
    }

    ctx->api = ctx->req.api;

    /*
     * Before the cache: no answer, cached or not, without a valid token.
     * The watch's refresh is a clone of a watcher checked when it came,
     * whose token may expire while it watches.
     */

    if (!ctx->refresh) {
        status = ngx_http_ci_jobs_access(r, ctx, lcf, &code, &message);
        if (status != NGX_OK) {
            return ngx_http_ci_jobs_refuse(r, ctx, status, code, message);
        }
    }

    if (ngx_http_ci_jobs_keys(r, lcf) == NULL) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ci_jobs: no valid role credentials yet, or any more: "
                      "request refused");

        return ngx_http_ci_jobs_refuse(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       NGX_HTTP_CI_JOBS_CREDENTIALS_UNAVAILABLE,
                                       "the gateway has no valid "
                                       "credentials at the moment");
    }

    if (ctx->refresh) {
        return ngx_http_ci_jobs_watch_refresh(r, ctx, lcf);
    }

    if (lcf->watch && lcf->cache_zone
        && !ngx_http_ci_jobs_api_is_list(ctx->api))
    {
        status = ngx_http_ci_jobs_watch_stream(r, ctx, lcf);

        if (status == NGX_DECLINED) {
            status = ngx_http_ci_jobs_watch_poll(r, ctx, lcf);
        }

        if (status == NGX_BUSY) {
            return ngx_http_ci_jobs_refuse(r, ctx,
                                       NGX_HTTP_SERVICE_UNAVAILABLE,
                                       NGX_HTTP_CI_JOBS_TOO_MANY_WATCHERS,
                                       "the gateway holds "
                                       "ci_jobs_watch_max watchers");
        }

        if (status == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (status != NGX_DECLINED) {
            return status;
        }
    }

    return ngx_http_ci_jobs_lookup(r, ctx, lcf);
}


/*
 * The raw path below the location's prefix: the client's own bytes, so
 * that an encoded slash or dot segment is seen and refused, not silently
 * normalized by nginx.  After an internal redirect only the normalized URI
 * is left, which the configuration, not the client, has chosen.
 */

ngx_int_t
ngx_http_ci_jobs_request_path_below(ngx_http_request_t *r, ngx_str_t *path)
{
    u_char                    *p, *last;
    ngx_str_t                  raw;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (r->valid_unparsed_uri) {
        raw.data = r->unparsed_uri.data;
        last = r->unparsed_uri.data + r->unparsed_uri.len;

        p = memchr(raw.data, '?', r->unparsed_uri.len);
        raw.len = (p ? p : last) - raw.data;

    } else {
        raw = r->uri;
    }

    if (raw.len < clcf->name.len
        || ngx_strncmp(raw.data, clcf->name.data, clcf->name.len) != 0)
    {
        return NGX_DECLINED;
    }

    path->data = raw.data + clcf->name.len;
    path->len = raw.len - clcf->name.len;

    /* "location /ci" serves "/ci/jobs/..." as well as "location /ci/" */

    if (clcf->name.data[clcf->name.len - 1] != '/' && path->len) {

        if (path->data[0] != '/') {
            /* "/cijobs/..." is no path below "/ci": an unknown API */
            path->len = 0;
            return NGX_OK;
        }

        path->data++;
        path->len--;
    }

    return NGX_OK;
}

