
/*
 * Job-scoped access (ci_jobs_access token): the directives' handlers and
 * the check the content handler makes before the cache.
 */


#ifndef _NGX_HTTP_CI_JOBS_ACCESS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_ACCESS_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


#define NGX_HTTP_CI_JOBS_ACCESS_OFF    0
#define NGX_HTTP_CI_JOBS_ACCESS_TOKEN  1


extern ngx_conf_enum_t  ngx_http_ci_jobs_access_modes[];


char *ngx_http_ci_jobs_access_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ci_jobs_access_merge(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *prev, ngx_http_ci_jobs_loc_conf_t *conf);

/*
 * NGX_OK, or the status to refuse the request with (401, 403), *code and
 * *message set for the refusal, WWW-Authenticate added for a 401
 */
ngx_int_t ngx_http_ci_jobs_access(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_http_ci_jobs_code_e *code, const char **message);

ngx_int_t ngx_http_ci_jobs_access_subject_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#endif /* _NGX_HTTP_CI_JOBS_ACCESS_H_INCLUDED_ */
