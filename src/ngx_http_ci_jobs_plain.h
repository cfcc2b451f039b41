
/*
 * The text/plain answers of the ci_jobs_status location, the Prometheus
 * exposition and ?ready: lines written into chained buffers, then sent.
 */


#ifndef _NGX_HTTP_CI_JOBS_PLAIN_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_PLAIN_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


/* the longest line written, beside its label values */
#define NGX_HTTP_CI_JOBS_LINE_MAX  256


typedef struct {
    ngx_http_request_t          *r;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *b;
} ngx_http_ci_jobs_plain_t;


/* a metric family: its # HELP and # TYPE lines */
typedef struct {
    const char                  *name;
    const char                  *type;
    const char                  *help;
} ngx_http_ci_jobs_family_t;


void ngx_http_ci_jobs_plain_init(ngx_http_ci_jobs_plain_t *t,
    ngx_http_request_t *r);
ngx_int_t ngx_http_ci_jobs_plain_reserve(ngx_http_ci_jobs_plain_t *t,
    size_t size);
u_char *ngx_http_ci_jobs_plain_label(u_char *p, ngx_str_t *value);
ngx_int_t ngx_http_ci_jobs_plain_family(ngx_http_ci_jobs_plain_t *t,
    ngx_http_ci_jobs_family_t *f);
ngx_int_t ngx_http_ci_jobs_plain_labelled(ngx_http_ci_jobs_plain_t *t,
    ngx_http_ci_jobs_family_t *f, const char *label, ngx_str_t *values,
    ngx_atomic_t *counts, ngx_uint_t n);
ngx_int_t ngx_http_ci_jobs_plain_send(ngx_http_ci_jobs_plain_t *t,
    ngx_uint_t status, ngx_str_t *type);


#endif /* _NGX_HTTP_CI_JOBS_PLAIN_H_INCLUDED_ */
