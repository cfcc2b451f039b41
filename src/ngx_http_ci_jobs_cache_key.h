
/*
 * What the terminal-state cache stores, and under which key.  No nginx
 * types: used by the module, the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_CACHE_KEY_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_CACHE_KEY_H_INCLUDED_


#include "ngx_http_ci_jobs_request.h"
#include "ngx_http_ci_jobs_xml.h"


/*
 * How a location reaches CI, for the key: "<verify> <len>:<ci_jobs_pass>
 * <len>:<CA file>" (verify 1 or 0), the lengths keeping it unambiguous.
 * Returns the length; with buf NULL only computes it.
 */
size_t ngx_http_ci_jobs_cache_target(u_char *buf, const u_char *pass,
    size_t pass_len, int verify, const u_char *ca, size_t ca_len);

/*
 * The key: upstream host, target (ngx_http_ci_jobs_cache_target()), API,
 * ids and SecretId, "\n"-separated (none of them but the target can hold
 * a "\n", and the target's lengths say where it ends), so that locations
 * with other buckets, other credentials, or reaching CI another way
 * (another ci_jobs_pass, TLS verification or CAs) never share an entry; a
 * list page's parameters follow, sorted by name and percent-encoded
 * ("\nqueueId=...&tag=..."), so that the same query in another order is
 * the same page.  Returns the length; with buf NULL only computes it.
 */
size_t ngx_http_ci_jobs_cache_key(u_char *buf, const u_char *host,
    size_t host_len, const u_char *target, size_t target_len,
    const ngx_http_ci_jobs_request_t *req, const u_char *secret_id,
    size_t secret_id_len);

/*
 * The lookup key alone, $ci_jobs_key: "<api>/<ids>" for an id lookup
 * ("jobs/j1,j2", the ids in request order), "<api>?<parameters>" for a
 * list, the parameters as in the cache key ("list?queueId=...&tag=..."),
 * so that equivalent requests have one key.  Returns the length; with buf
 * NULL only computes it.
 */
size_t ngx_http_ci_jobs_lookup_key(u_char *buf,
    const ngx_http_ci_jobs_request_t *req);

/* what ngx_http_ci_jobs_cache_storable() decides */
typedef enum {
    NGX_HTTP_CI_JOBS_STORE_NONE = 0,
    NGX_HTTP_CI_JOBS_STORE_TERMINAL,      /* ci_jobs_cache_valid */
    NGX_HTTP_CI_JOBS_STORE_PENDING        /* ci_jobs_cache_valid_pending */
} ngx_http_ci_jobs_store_e;

/*
 * Only a 200 whose root is <Response> is stored.  An id lookup's answer
 * must name exactly the ids asked for (res from a pass given them): each
 * is a JobId (a workflow run's RunId) or in NonExistJobIds, and no other
 * id is there.  It is then terminal when it holds at least one job (one
 * workflow run), every one in Success, Failed or Cancel, and no
 * NonExistJobIds: such an answer never changes.  Any other exact answer,
 * and a list page, is pending.
 */
ngx_http_ci_jobs_store_e ngx_http_ci_jobs_cache_storable(
    ngx_http_ci_jobs_api_e api, size_t nids, unsigned status,
    const ngx_http_ci_jobs_xml_result_t *res);


#endif /* _NGX_HTTP_CI_JOBS_CACHE_KEY_H_INCLUDED_ */
