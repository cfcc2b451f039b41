
/*
 * What the worker holds for its clients, counted in one place
 * (ngx_http_ci_jobs_held.c).
 */


#ifndef _NGX_HTTP_CI_JOBS_HELD_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_HELD_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


/* the least a request needs to take an answer of unknown length */
#define NGX_HTTP_CI_JOBS_BODY_MIN  4096


ngx_int_t ngx_http_ci_jobs_hold(ngx_http_request_t *r, size_t size,
    ngx_http_ci_jobs_held_t **heldp);
void ngx_http_ci_jobs_let_go(ngx_http_ci_jobs_held_t *held, size_t size);
void ngx_http_ci_jobs_held_replace(ngx_http_ci_jobs_held_t *held,
    size_t size, size_t by);
void ngx_http_ci_jobs_slow_down(ngx_http_ci_jobs_ctx_t *ctx);
ngx_uint_t ngx_http_ci_jobs_worker_full(ngx_http_request_t *r);
ngx_uint_t ngx_http_ci_jobs_connection_full(ngx_http_request_t *r);


#endif /* _NGX_HTTP_CI_JOBS_HELD_H_INCLUDED_ */
