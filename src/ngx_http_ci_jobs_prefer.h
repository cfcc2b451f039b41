
/*
 * The Prefer request header (RFC 7240): the "wait" preference of a
 * long-poll.  No nginx types: used by the module and the unit tests.
 */


#ifndef _NGX_HTTP_CI_JOBS_PREFER_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_PREFER_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>


/* the longest wait read; a larger one is this, before any cap */
#define NGX_HTTP_CI_JOBS_PREFER_WAIT_MAX  86400


/*
 * The seconds of the first "wait" preference in a Prefer value
 * ("respond-async, wait=30", "wait = \"30\"; x=y"), at most
 * NGX_HTTP_CI_JOBS_PREFER_WAIT_MAX; -1 when there is none or its value is
 * not a number of seconds.  Preferences are separated by commas; their
 * parameters, after ";", are skipped.
 */
long ngx_http_ci_jobs_prefer_wait(const u_char *p, size_t len);


#endif /* _NGX_HTTP_CI_JOBS_PREFER_H_INCLUDED_ */
