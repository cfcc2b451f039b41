
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


/* an ASCII letter or digit: the bulk of every alphabet the APIs allow */
#define ngx_http_ci_jobs_is_alnum(c)                                          \
    (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z')                \
     || ((c) >= 'A' && (c) <= 'Z'))


/*
 * ngx_cpymem() for the pure core: n bytes of s at p, the end returned.
 * With n 0, s is not read: it may be NULL.
 */
#define ngx_http_ci_jobs_cpymem(p, s, n)                                      \
    ((n) ? (u_char *) memcpy(p, s, n) + (n) : (p))


/* the decimal text of a numeric macro, for messages: "64" */
#define ngx_http_ci_jobs_stringify(n)   ngx_http_ci_jobs_stringify_(n)
#define ngx_http_ci_jobs_stringify_(n)  #n


/* the longest value a credential may have */
#define NGX_HTTP_CI_JOBS_TOKEN_MAX  4096

/*
 * A credential: it goes into a header line, so printable ASCII without
 * spaces, at most NGX_HTTP_CI_JOBS_TOKEN_MAX bytes; empty is left to the
 * caller.  1 if so, 0 if not.
 */
int ngx_http_ci_jobs_token_ok(const u_char *p, size_t len);


#define NGX_HTTP_CI_JOBS_UTF8_BAD  0xffffffff

/*
 * Decodes the character at *p, which must be below last, and moves *p
 * past it.  Strict UTF-8: an overlong form, a surrogate, a code point
 * past 10FFFF or a truncated sequence is NGX_HTTP_CI_JOBS_UTF8_BAD.
 */
uint32_t ngx_http_ci_jobs_utf8_next(const u_char **p, const u_char *last);


/*
 * A hash of len bytes at p for a table, seeded: not a cryptographic one,
 * so a table compares the bytes of the entries whose hashes are equal.
 */
uint64_t ngx_http_ci_jobs_hash(uint64_t seed, const u_char *p, size_t len);


#endif /* _NGX_HTTP_CI_JOBS_TEXT_H_INCLUDED_ */
