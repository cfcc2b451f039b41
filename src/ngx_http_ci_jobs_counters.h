
/*
 * The counters of ci_jobs_status, in a zone of their own: what the
 * request path counts, one call each, and what the exposition
 * (src/ngx_http_ci_jobs_metrics.c) reads.  Nothing here calls into the
 * rest of the module.
 */


#ifndef _NGX_HTTP_CI_JOBS_COUNTERS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_COUNTERS_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


/* statuses 100..599, one slot each */
#define NGX_HTTP_CI_JOBS_STATUS_MIN  100
#define NGX_HTTP_CI_JOBS_STATUSES    500

#define NGX_HTTP_CI_JOBS_BUCKETS     12     /* and +Inf */

/* ci_jobs_upstream_resolutions_total{result} */
#define NGX_HTTP_CI_JOBS_RESOLVED_CHANGED    0
#define NGX_HTTP_CI_JOBS_RESOLVED_UNCHANGED  1
#define NGX_HTTP_CI_JOBS_RESOLVED_FAILED     2
#define NGX_HTTP_CI_JOBS_RESOLVED            3

/* ci_jobs_callbacks_total{result} */
#define NGX_HTTP_CI_JOBS_CALLBACK_ACCEPTED   0    /* a lookup woken */
#define NGX_HTTP_CI_JOBS_CALLBACK_IGNORED    1    /* none to wake */
#define NGX_HTTP_CI_JOBS_CALLBACK_INVALID    2    /* refused */
#define NGX_HTTP_CI_JOBS_CALLBACK_RESULTS    3


typedef struct {
    ngx_atomic_t                 magic;
    ngx_atomic_t                 requests[NGX_HTTP_CI_JOBS_API_COUNT + 1]
                                         [NGX_HTTP_CI_JOBS_STATUSES];
    ngx_atomic_t                 refusals[NGX_HTTP_CI_JOBS_REFUSALS];
    ngx_atomic_t                 upstream[NGX_HTTP_CI_JOBS_STATUSES];
    ngx_atomic_t                 errors[NGX_HTTP_CI_JOBS_UPSTREAM_ERRORS];
    ngx_atomic_t                 buckets[NGX_HTTP_CI_JOBS_BUCKETS + 1];
    ngx_atomic_t                 response_msec;
    ngx_atomic_t                 signatures;
    ngx_atomic_t                 skew;
    ngx_atomic_t                 reloads[2];      /* error, ok */
    ngx_atomic_t                 access[NGX_HTTP_CI_JOBS_ACCESS_REASONS];
    ngx_atomic_t                 watchers;        /* held now, a gauge */
    ngx_atomic_t                 watch_events;
    ngx_atomic_t                 resolutions[NGX_HTTP_CI_JOBS_RESOLVED];
    ngx_atomic_t                 callbacks[NGX_HTTP_CI_JOBS_CALLBACK_RESULTS];
} ngx_http_ci_jobs_counters_t;


/* upper bounds of the histogram's buckets, in milliseconds */
extern ngx_msec_t  ngx_http_ci_jobs_bounds[NGX_HTTP_CI_JOBS_BUCKETS];


ngx_int_t ngx_http_ci_jobs_counters_zone(ngx_conf_t *cf);
void ngx_http_ci_jobs_counters_process(ngx_cycle_t *cycle);
ngx_http_ci_jobs_counters_t *ngx_http_ci_jobs_counters(void);

void ngx_http_ci_jobs_count_request(ngx_uint_t api, ngx_uint_t status,
    ngx_uint_t error);
void ngx_http_ci_jobs_count_refusal(ngx_http_ci_jobs_code_e code);
void ngx_http_ci_jobs_count_access(ngx_uint_t reason);
void ngx_http_ci_jobs_count_signature(void);
void ngx_http_ci_jobs_count_skew(void);
void ngx_http_ci_jobs_count_reload(ngx_uint_t ok);
void ngx_http_ci_jobs_count_watchers(ngx_int_t n);
void ngx_http_ci_jobs_count_watch_events(ngx_uint_t n);
void ngx_http_ci_jobs_count_resolution(ngx_uint_t result);
void ngx_http_ci_jobs_count_callback(ngx_uint_t result);
void ngx_http_ci_jobs_count_upstream(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_int_t rc);


#endif /* _NGX_HTTP_CI_JOBS_COUNTERS_H_INCLUDED_ */
