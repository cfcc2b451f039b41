
/*
 * The ETag of an id lookup's answer, and If-None-Match against it.  No
 * nginx types: used by the module and the unit tests.
 *
 * The tag is derived from the bytes of the XML answer (a SHA-1, its
 * first 8 bytes), so that every worker, and the cache's entry, give the
 * same answer the same tag; a JSON answer's tag adds the JSON mapping's
 * array names, which decide its bytes as much as the XML does.
 */


#ifndef _NGX_HTTP_CI_JOBS_ETAG_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_ETAG_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ngx_http_ci_jobs_xml.h"


#define NGX_HTTP_CI_JOBS_DIGEST_LEN  8

/* "<16 hex>" or "<16 hex>-j<8 hex>", quotes included */
#define NGX_HTTP_CI_JOBS_ETAG_LEN    (2 + 16 + 2 + 8)


/* the digest of an XML answer, which the cache keeps with the entry */
void ngx_http_ci_jobs_etag_digest(const u_char *xml, size_t len,
    u_char *digest);

/*
 * Writes the strong ETag of an answer whose XML has digest into dst
 * (NGX_HTTP_CI_JOBS_ETAG_LEN bytes at most); names, n: the JSON mapping's
 * array names for a JSON answer, NULL for XML.  Returns its length.
 */
size_t ngx_http_ci_jobs_etag(u_char *dst, const u_char *digest,
    const ngx_http_ci_jobs_name_t *names, size_t n);

/*
 * An If-None-Match value: 1 when it is "*" or lists etag, compared
 * weakly (a W/ prefix ignored) as RFC 9110 says for If-None-Match; 0
 * otherwise, a malformed list included.
 */
int ngx_http_ci_jobs_etag_match(const u_char *list, size_t len,
    const u_char *etag, size_t etag_len);


#endif /* _NGX_HTTP_CI_JOBS_ETAG_H_INCLUDED_ */
