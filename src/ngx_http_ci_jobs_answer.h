
/*
 * The answer stage: a whole XML body, upstream's or a cached entry,
 * checked, stored, rendered and sent.  Whoever has a body hands it here:
 * the module's body filter for upstream's, the content handler for a
 * cache hit, the same way.
 */


#ifndef _NGX_HTTP_CI_JOBS_ANSWER_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_ANSWER_H_INCLUDED_


#include "ngx_http_ci_jobs_module.h"


/* where a body comes from, and so how much of the stage it takes */
typedef enum {
    NGX_HTTP_CI_JOBS_FROM_UPSTREAM = 0,  /* checked, stored, rendered */
    NGX_HTTP_CI_JOBS_FROM_CACHE          /* checked when stored: rendered */
} ngx_http_ci_jobs_from_e;


/*
 * How an answer leaves, its header and then its body: NULL, through all
 * the output filters, as a content handler sends; the module's body
 * filter, whose header filter holds upstream's header, hands the filters
 * below its own.
 */
typedef struct {
    ngx_http_output_header_filter_pt  header;
    ngx_http_output_body_filter_pt    body;
} ngx_http_ci_jobs_output_t;


ngx_int_t ngx_http_ci_jobs_answer(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_buf_t *body,
    ngx_http_ci_jobs_from_e from, ngx_http_ci_jobs_output_t *output);
ngx_int_t ngx_http_ci_jobs_answer_entry(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out);
void ngx_http_ci_jobs_refresh_failed(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status, ngx_buf_t *body);
void ngx_http_ci_jobs_xml_conf_init(ngx_http_ci_jobs_xml_conf_t *xc,
    ngx_http_ci_jobs_loc_conf_t *lcf, ngx_pool_t *pool, ngx_uint_t json);
ngx_int_t ngx_http_ci_jobs_answer_rendered(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out);


#endif /* _NGX_HTTP_CI_JOBS_ANSWER_H_INCLUDED_ */
