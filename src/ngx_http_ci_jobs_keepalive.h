
/*
 * The pool of idle connections of the module's own upstreams
 * (ngx_http_ci_jobs_keepalive.c), and the TLS sessions round robin keeps.
 */


#ifndef _NGX_HTTP_CI_JOBS_KEEPALIVE_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_KEEPALIVE_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


ngx_http_ci_jobs_keepalive_t *ngx_http_ci_jobs_keepalive_create(
    ngx_conf_t *cf, ngx_uint_t max_cached,
    ngx_http_upstream_srv_conf_t *resolved);
ngx_int_t ngx_http_ci_jobs_keepalive_init_peer(ngx_http_request_t *r,
    ngx_http_ci_jobs_keepalive_t *ka);
void ngx_http_ci_jobs_keepalive_forget(ngx_http_ci_jobs_keepalive_t *ka);
#if (NGX_HTTP_SSL)
void ngx_http_ci_jobs_free_sessions(ngx_http_upstream_rr_peers_t *peers);
#endif


#endif /* _NGX_HTTP_CI_JOBS_KEEPALIVE_H_INCLUDED_ */
