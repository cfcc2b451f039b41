
/*
 * The signature-mismatch diagnosis: what was signed, logged when CI
 * refuses a signature.
 */


#ifndef _NGX_HTTP_CI_JOBS_DIAGNOSIS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_DIAGNOSIS_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


void ngx_http_ci_jobs_diagnose(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);


#endif /* _NGX_HTTP_CI_JOBS_DIAGNOSIS_H_INCLUDED_ */
