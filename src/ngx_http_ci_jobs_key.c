
/*
 * $ci_jobs_key: the lookup a request names, as a gateway location would
 * read it, for any location (an edge tier's "hash $ci_jobs_key
 * consistent"), so that every request for one job goes to one node.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_cache_key.h"


ngx_int_t
ngx_http_ci_jobs_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                       len;
    u_char                      *scratch, *key;
    ngx_str_t                    path;
    ngx_http_ci_jobs_request_t  *req;

    /* empty for a request no gateway location would accept */

    v->len = 0;
    v->data = (u_char *) "";
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    if (r->method != NGX_HTTP_GET
        || ngx_http_ci_jobs_request_path_below(r, &path) != NGX_OK)
    {
        return NGX_OK;
    }

    req = ngx_palloc(r->pool, sizeof(ngx_http_ci_jobs_request_t));
    scratch = ngx_pnalloc(r->pool, path.len + r->args.len + 1);

    if (req == NULL || scratch == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_parse_request(req, path.data, path.len,
                                       r->args.data, r->args.len, scratch)
        != NGX_HTTP_CI_JOBS_REQUEST_OK)
    {
        return NGX_OK;
    }

    len = ngx_http_ci_jobs_lookup_key(NULL, req);

    key = ngx_pnalloc(r->pool, len);
    if (key == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_http_ci_jobs_lookup_key(key, req);
    v->data = key;

    return NGX_OK;
}
