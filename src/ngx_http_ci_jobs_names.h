
/*
 * The names the module's files share and users see, each defined once:
 * CI's error codes (the refusals among them), $ci_jobs_cache_status, the
 * kinds of upstream failure, why an access token was refused, and the
 * module's own zones.  The values are
 * here; their text is in src/ngx_http_ci_jobs_names.c.
 */


#ifndef _NGX_HTTP_CI_JOBS_NAMES_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_NAMES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* the zones the module makes for itself, names a cache zone may not take */
#define NGX_HTTP_CI_JOBS_STATE_ZONE    "ci_jobs_state"
#define NGX_HTTP_CI_JOBS_METRICS_ZONE  "ci_jobs_metrics"


/*
 * CI's error codes, as the module answers them.  The first ones are the
 * refusals of the content handler, counted in ci_jobs_refusals_total in
 * this order.
 */
typedef enum {
    NGX_HTTP_CI_JOBS_INVALID_ARGUMENT = 0,
    NGX_HTTP_CI_JOBS_NO_SUCH_API,
    NGX_HTTP_CI_JOBS_METHOD_NOT_ALLOWED,
    NGX_HTTP_CI_JOBS_ACCESS_DENIED,
    NGX_HTTP_CI_JOBS_SERVICE_UNAVAILABLE,
    NGX_HTTP_CI_JOBS_CREDENTIALS_UNAVAILABLE,
    NGX_HTTP_CI_JOBS_TOO_MANY_WATCHERS,
    NGX_HTTP_CI_JOBS_SLOW_DOWN,
    NGX_HTTP_CI_JOBS_INVALID_TOKEN,      /* ci_jobs_access_refusals_total */
    NGX_HTTP_CI_JOBS_REQUEST_TIMEOUT,
    NGX_HTTP_CI_JOBS_TOO_MANY_REQUESTS,
    NGX_HTTP_CI_JOBS_BAD_GATEWAY,
    NGX_HTTP_CI_JOBS_GATEWAY_TIMEOUT,
    NGX_HTTP_CI_JOBS_INTERNAL_ERROR
} ngx_http_ci_jobs_code_e;

#define NGX_HTTP_CI_JOBS_REFUSALS                                             \
    (NGX_HTTP_CI_JOBS_SLOW_DOWN + 1)


/* $ci_jobs_cache_status: a lookup's outcome, or none */
typedef enum {
    NGX_HTTP_CI_JOBS_CACHE_NONE = 0,
    NGX_HTTP_CI_JOBS_CACHE_MISS,
    NGX_HTTP_CI_JOBS_CACHE_BYPASS,
    NGX_HTTP_CI_JOBS_CACHE_EXPIRED,
    NGX_HTTP_CI_JOBS_CACHE_HIT,
    NGX_HTTP_CI_JOBS_CACHE_COLLAPSED,
    NGX_HTTP_CI_JOBS_CACHE_STALE,
    NGX_HTTP_CI_JOBS_CACHE_STATUSES
} ngx_http_ci_jobs_cache_status_e;


/* ci_jobs_upstream_errors_total{kind}: how an upstream exchange failed */
typedef enum {
    NGX_HTTP_CI_JOBS_UPSTREAM_NONE = 0,
    NGX_HTTP_CI_JOBS_UPSTREAM_CONNECT,
    NGX_HTTP_CI_JOBS_UPSTREAM_TLS,
    NGX_HTTP_CI_JOBS_UPSTREAM_TIMEOUT,
    NGX_HTTP_CI_JOBS_UPSTREAM_RESET,
    NGX_HTTP_CI_JOBS_UPSTREAM_TRUNCATED,
    NGX_HTTP_CI_JOBS_UPSTREAM_MALFORMED,
    NGX_HTTP_CI_JOBS_UPSTREAM_OVERSIZE,
    NGX_HTTP_CI_JOBS_UPSTREAM_ERRORS
} ngx_http_ci_jobs_upstream_error_e;


/*
 * ci_jobs_access_refusals_total{reason}: "missing", then the refusals of
 * ngx_http_ci_jobs_token_check() by their number
 */
#define NGX_HTTP_CI_JOBS_ACCESS_MISSING  0
#define NGX_HTTP_CI_JOBS_ACCESS_REASONS  5


extern ngx_str_t  ngx_http_ci_jobs_code_names[];
extern ngx_str_t  ngx_http_ci_jobs_access_reason_names[];
extern ngx_str_t  ngx_http_ci_jobs_cache_status_names[];
extern ngx_str_t  ngx_http_ci_jobs_upstream_error_names[];


#endif /* _NGX_HTTP_CI_JOBS_NAMES_H_INCLUDED_ */
