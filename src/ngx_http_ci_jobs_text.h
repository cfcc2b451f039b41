
/*
 * Small checks over bytes that several parts of the pure core share.  No
 * nginx types: used by the module, the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_TEXT_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_TEXT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>


/* s of length len is the string literal lit */
#define ngx_http_ci_jobs_str_is(s, len, lit)                                  \
    ((len) == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)


#define NGX_HTTP_CI_JOBS_UTF8_BAD  0xffffffff

/*
 * Decodes the character at *p, which must be below last, and moves *p
 * past it.  Strict UTF-8: an overlong form, a surrogate, a code point
 * past 10FFFF or a truncated sequence is NGX_HTTP_CI_JOBS_UTF8_BAD.
 */
uint32_t ngx_http_ci_jobs_utf8_next(const u_char **p, const u_char *last);


#endif /* _NGX_HTTP_CI_JOBS_TEXT_H_INCLUDED_ */
