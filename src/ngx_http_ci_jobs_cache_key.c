
/*
 * The terminal-state cache's key and storage rule, over plain buffers.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_ci_jobs_cache_key.h"
#include "ngx_http_ci_jobs_text.h"


static size_t ngx_http_ci_jobs_key_params(u_char *buf,
    const ngx_http_ci_jobs_request_t *req, u_char first);
static int ngx_http_ci_jobs_cache_name_cmp(const ngx_http_ci_jobs_pair_t *a,
    const ngx_http_ci_jobs_pair_t *b);


size_t
ngx_http_ci_jobs_cache_target(u_char *buf, const u_char *pass,
    size_t pass_len, int verify, const u_char *ca, size_t ca_len)
{
    int      n;
    char     lens[2][24];
    u_char  *p;

    n = snprintf(lens[0], sizeof(lens[0]), "%zu", pass_len)
        + snprintf(lens[1], sizeof(lens[1]), "%zu", ca_len);

    if (buf == NULL) {
        return sizeof("v : :") - 1 + n + pass_len + ca_len;
    }

    p = buf;
    *p++ = verify ? '1' : '0';
    *p++ = ' ';
    p = ngx_http_ci_jobs_cpymem(p, lens[0], strlen(lens[0]));
    *p++ = ':';
    p = ngx_http_ci_jobs_cpymem(p, pass, pass_len);
    *p++ = ' ';
    p = ngx_http_ci_jobs_cpymem(p, lens[1], strlen(lens[1]));
    *p++ = ':';
    p = ngx_http_ci_jobs_cpymem(p, ca, ca_len);

    return p - buf;
}


size_t
ngx_http_ci_jobs_cache_key(u_char *buf, const u_char *host, size_t host_len,
    const u_char *target, size_t target_len,
    const ngx_http_ci_jobs_request_t *req, const u_char *secret_id,
    size_t secret_id_len)
{
    u_char      *p;
    const char  *api;

    api = ngx_http_ci_jobs_api_names[req->api];

    if (buf == NULL) {
        return host_len + 1 + target_len + 1 + strlen(api) + 1
               + req->ids_len + 1 + secret_id_len
               + ngx_http_ci_jobs_key_params(NULL, req, '\n');
    }

    p = ngx_http_ci_jobs_cpymem(buf, host, host_len);
    *p++ = '\n';
    p = ngx_http_ci_jobs_cpymem(p, target, target_len);
    *p++ = '\n';
    p = ngx_http_ci_jobs_cpymem(p, api, strlen(api));
    *p++ = '\n';
    p = ngx_http_ci_jobs_cpymem(p, req->ids, req->ids_len);
    *p++ = '\n';
    p = ngx_http_ci_jobs_cpymem(p, secret_id, secret_id_len);

    p += ngx_http_ci_jobs_key_params(p, req, '\n');

    return p - buf;
}


size_t
ngx_http_ci_jobs_lookup_key(u_char *buf, const ngx_http_ci_jobs_request_t *req)
{
    u_char      *p;
    const char  *api;

    api = ngx_http_ci_jobs_api_names[req->api];

    if (buf == NULL) {
        return strlen(api)
               + (ngx_http_ci_jobs_api_is_list(req->api)
                  ? ngx_http_ci_jobs_key_params(NULL, req, '?')
                  : 1 + req->ids_len);
    }

    p = ngx_http_ci_jobs_cpymem(buf, api, strlen(api));

    if (ngx_http_ci_jobs_api_is_list(req->api)) {
        p += ngx_http_ci_jobs_key_params(p, req, '?');

    } else {
        *p++ = '/';
        p = ngx_http_ci_jobs_cpymem(p, req->ids, req->ids_len);
    }

    return p - buf;
}


/*
 * A list page's parameters, sorted by name (each comes once at most) and
 * percent-encoded: "<first>name=value&name=value"; nothing when there are
 * none.  Returns the length; with buf NULL only computes it.
 */

static size_t
ngx_http_ci_jobs_key_params(u_char *buf, const ngx_http_ci_jobs_request_t *req,
    u_char first)
{
    size_t                          i, j, n, len;
    size_t                          order[NGX_HTTP_CI_JOBS_MAX_PARAMS];
    u_char                         *p;
    const ngx_http_ci_jobs_pair_t  *a, *b;

    n = req->nparams < NGX_HTTP_CI_JOBS_MAX_PARAMS
        ? req->nparams : NGX_HTTP_CI_JOBS_MAX_PARAMS;

    if (buf == NULL) {
        len = 0;

        for (j = 0; j < n; j++) {
            a = &req->params[j];
            len += 1 + a->name_len + 1
                   + ngx_http_ci_jobs_uri_encode(NULL, a->value,
                                                 a->value_len);
        }

        return len;
    }

    for (i = 0; i < n; i++) {
        for (j = i; j > 0; j--) {
            a = &req->params[order[j - 1]];
            b = &req->params[i];

            if (ngx_http_ci_jobs_cache_name_cmp(a, b) <= 0) {
                break;
            }

            order[j] = order[j - 1];
        }

        order[j] = i;
    }

    p = buf;

    for (j = 0; j < n; j++) {
        a = &req->params[order[j]];

        *p++ = j ? '&' : first;
        memcpy(p, a->name, a->name_len);
        p += a->name_len;
        *p++ = '=';
        p += ngx_http_ci_jobs_uri_encode(p, a->value, a->value_len);
    }

    return p - buf;
}


static int
ngx_http_ci_jobs_cache_name_cmp(const ngx_http_ci_jobs_pair_t *a,
    const ngx_http_ci_jobs_pair_t *b)
{
    int     rc;
    size_t  n;

    n = a->name_len < b->name_len ? a->name_len : b->name_len;

    rc = memcmp(a->name, b->name, n);

    if (rc != 0) {
        return rc;
    }

    return (a->name_len > b->name_len) - (a->name_len < b->name_len);
}


ngx_http_ci_jobs_store_e
ngx_http_ci_jobs_cache_storable(ngx_http_ci_jobs_api_e api, size_t nids,
    unsigned status, const ngx_http_ci_jobs_xml_result_t *res)
{
    uint32_t  all;

    if (status != 200 || !res->response) {
        return NGX_HTTP_CI_JOBS_STORE_NONE;
    }

    if (ngx_http_ci_jobs_api_is_list(api)) {
        return NGX_HTTP_CI_JOBS_STORE_PENDING;
    }

    if (nids == 0 || nids > NGX_HTTP_CI_JOBS_XML_MAX_IDS) {
        return NGX_HTTP_CI_JOBS_STORE_NONE;
    }

    all = ((uint32_t) 1 << nids) - 1;

    if (res->foreign || res->ids_seen != all) {
        return NGX_HTTP_CI_JOBS_STORE_NONE;
    }

    if (api == NGX_HTTP_CI_JOBS_API_WORKFLOW) {
        if (res->jobs != 0) {
            return NGX_HTTP_CI_JOBS_STORE_NONE;
        }

        return (res->runs > 0 && res->terminal_runs == res->runs
                && !res->nonexist)
               ? NGX_HTTP_CI_JOBS_STORE_TERMINAL
               : NGX_HTTP_CI_JOBS_STORE_PENDING;
    }

    if (res->runs != 0) {
        return NGX_HTTP_CI_JOBS_STORE_NONE;
    }

    if (res->jobs > 0 && res->terminal_jobs == res->jobs && !res->nonexist) {
        return NGX_HTTP_CI_JOBS_STORE_TERMINAL;
    }

    return NGX_HTTP_CI_JOBS_STORE_PENDING;
}
