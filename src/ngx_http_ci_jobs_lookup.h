
/*
 * The cache lookup and what follows it (ngx_http_ci_jobs_lookup.c).
 */


#ifndef _NGX_HTTP_CI_JOBS_LOOKUP_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_LOOKUP_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


ngx_int_t ngx_http_ci_jobs_lookup(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);


#endif /* _NGX_HTTP_CI_JOBS_LOOKUP_H_INCLUDED_ */
