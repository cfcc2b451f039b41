
/*
 * The terminal-state cache's key and storage rule, over plain buffers.
 */


#include <string.h>

#include "ngx_http_ci_jobs_cache_key.h"


size_t
ngx_http_ci_jobs_cache_key(u_char *buf, const u_char *host, size_t host_len,
    const ngx_http_ci_jobs_request_t *req, const u_char *secret_id,
    size_t secret_id_len)
{
    size_t       api_len;
    u_char      *p;
    const char  *api;

    api = ngx_http_ci_jobs_api_names[req->api];
    api_len = strlen(api);

    if (buf == NULL) {
        return host_len + 1 + api_len + 1 + req->ids_len + 1 + secret_id_len;
    }

    p = buf;

    memcpy(p, host, host_len);
    p += host_len;
    *p++ = '\n';

    memcpy(p, api, api_len);
    p += api_len;
    *p++ = '\n';

    memcpy(p, req->ids, req->ids_len);
    p += req->ids_len;
    *p++ = '\n';

    memcpy(p, secret_id, secret_id_len);
    p += secret_id_len;

    return p - buf;
}


int
ngx_http_ci_jobs_cache_storable(ngx_http_ci_jobs_api_e api, unsigned status,
    const ngx_http_ci_jobs_xml_result_t *res)
{
    if (ngx_http_ci_jobs_api_is_list(api)
        || status != 200
        || !res->response
        || res->nonexist)
    {
        return 0;
    }

    if (api == NGX_HTTP_CI_JOBS_API_WORKFLOW) {
        return res->runs > 0
               && res->terminal_runs == res->runs
               && res->jobs == 0;
    }

    return res->jobs > 0
           && res->terminal_jobs == res->jobs
           && res->runs == 0;
}
