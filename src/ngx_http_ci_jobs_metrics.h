
/*
 * The operators' kit: counters in shared memory, the ci_jobs_status
 * location (Prometheus text, ?ready), and the signature-mismatch
 * diagnosis.  The request path calls these, one line each.
 */


#ifndef _NGX_HTTP_CI_JOBS_METRICS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_METRICS_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


/* ci_jobs_upstream_errors_total{kind} */
#define NGX_HTTP_CI_JOBS_UPSTREAM_CONNECT    1
#define NGX_HTTP_CI_JOBS_UPSTREAM_TLS        2
#define NGX_HTTP_CI_JOBS_UPSTREAM_TIMEOUT    3
#define NGX_HTTP_CI_JOBS_UPSTREAM_RESET      4
#define NGX_HTTP_CI_JOBS_UPSTREAM_TRUNCATED  5
#define NGX_HTTP_CI_JOBS_UPSTREAM_MALFORMED  6
#define NGX_HTTP_CI_JOBS_UPSTREAM_OVERSIZE   7

/*
 * ci_jobs_access_refusals_total{reason}: "missing", then the refusals of
 * ngx_http_ci_jobs_token_check() by their number
 */
#define NGX_HTTP_CI_JOBS_ACCESS_MISSING      0
#define NGX_HTTP_CI_JOBS_ACCESS_REASONS      5


char *ngx_http_ci_jobs_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ci_jobs_metrics_init(ngx_conf_t *cf);

void ngx_http_ci_jobs_count_refusal(ngx_str_t *code);
void ngx_http_ci_jobs_count_access(ngx_uint_t reason);
void ngx_http_ci_jobs_count_signature(void);
void ngx_http_ci_jobs_count_skew(void);
void ngx_http_ci_jobs_count_reload(ngx_uint_t ok);
void ngx_http_ci_jobs_count_upstream(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_int_t rc);

void ngx_http_ci_jobs_diagnose(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);


#endif /* _NGX_HTTP_CI_JOBS_METRICS_H_INCLUDED_ */
