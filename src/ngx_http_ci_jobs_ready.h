
/*
 * ci_jobs_status?ready: whether every gateway location can sign.
 */


#ifndef _NGX_HTTP_CI_JOBS_READY_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_READY_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_plain.h"


/* NGX_HTTP_OK or NGX_HTTP_SERVICE_UNAVAILABLE, the reasons in t; NGX_ERROR */
ngx_int_t ngx_http_ci_jobs_ready(ngx_http_request_t *r,
    ngx_http_ci_jobs_plain_t *t);


#endif /* _NGX_HTTP_CI_JOBS_READY_H_INCLUDED_ */
