
/*
 * The text of the names in src/ngx_http_ci_jobs_names.h, in the order of
 * their enums.
 */


#include "ngx_http_ci_jobs_names.h"


ngx_str_t  ngx_http_ci_jobs_code_names[] = {
    ngx_string("InvalidArgument"),
    ngx_string("NoSuchApi"),
    ngx_string("MethodNotAllowed"),
    ngx_string("AccessDenied"),
    ngx_string("ServiceUnavailable"),
    ngx_string("CredentialsUnavailable"),
    ngx_string("TooManyWatchers"),
    ngx_string("SlowDown"),
    ngx_string("InvalidToken"),
    ngx_string("RequestTimeout"),
    ngx_string("TooManyRequests"),
    ngx_string("BadGateway"),
    ngx_string("GatewayTimeout"),
    ngx_string("InternalError")
};


ngx_str_t  ngx_http_ci_jobs_access_reason_names[] = {
    ngx_string("missing"),
    ngx_string("malformed"),
    ngx_string("signature"),
    ngx_string("expired"),
    ngx_string("scope")
};


ngx_str_t  ngx_http_ci_jobs_cache_status_names[] = {
    ngx_null_string,
    ngx_string("MISS"),
    ngx_string("BYPASS"),
    ngx_string("EXPIRED"),
    ngx_string("HIT"),
    ngx_string("COLLAPSED"),
    ngx_string("STALE")
};


ngx_str_t  ngx_http_ci_jobs_upstream_error_names[] = {
    ngx_null_string,
    ngx_string("connect"),
    ngx_string("tls"),
    ngx_string("timeout"),
    ngx_string("reset"),
    ngx_string("truncated"),
    ngx_string("malformed"),
    ngx_string("oversize")
};
