
/*
 * What the terminal-state cache stores, and under which key.  No nginx
 * types: used by the module, the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_CACHE_KEY_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_CACHE_KEY_H_INCLUDED_


#include "ngx_http_ci_jobs_request.h"
#include "ngx_http_ci_jobs_xml.h"


/*
 * The key: upstream host, API, ids and SecretId, "\n"-separated (none of
 * them can hold a "\n"), so that locations with other buckets or other
 * credentials never share an entry.  Returns the length; with buf NULL
 * only computes it.
 */
size_t ngx_http_ci_jobs_cache_key(u_char *buf, const u_char *host,
    size_t host_len, const ngx_http_ci_jobs_request_t *req,
    const u_char *secret_id, size_t secret_id_len);

/*
 * An answer is stored when it is an id lookup answered 200 whose every
 * JobsDetail is in a terminal state (Success, Failed, Cancel), with at
 * least one job and no NonExistJobIds: such an answer never changes.  A
 * workflow run lookup is stored by the same rule over its
 * WorkflowExecution (Success, Failed, Cancel).  Lists are never stored.
 */
int ngx_http_ci_jobs_cache_storable(ngx_http_ci_jobs_api_e api,
    unsigned status, const ngx_http_ci_jobs_xml_result_t *res);


#endif /* _NGX_HTTP_CI_JOBS_CACHE_KEY_H_INCLUDED_ */
