
/*
 * The ci_jobs_status location: the Prometheus exposition and ?ready.
 */


#ifndef _NGX_HTTP_CI_JOBS_METRICS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_METRICS_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


char *ngx_http_ci_jobs_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ci_jobs_metrics_init(ngx_conf_t *cf);


#endif /* _NGX_HTTP_CI_JOBS_METRICS_H_INCLUDED_ */
