
/*
 * Access tokens over plain buffers: the JWK Set of HS256 keys
 * (RFC 7517), and the check of a JWT in JWS compact form (RFC 7519,
 * RFC 7515) against it, its lifetime and the scope a request needs.
 * No nginx types: used by the module, the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_TOKEN_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_TOKEN_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* the SHA256_* calls, keyed once per key: as sign.h does for SHA-1 */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif

#include <openssl/sha.h>


#define NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN   8192   /* a token, encoded */
#define NGX_HTTP_CI_JOBS_JWK_MIN_LEN     32     /* a key's bytes, at least */
#define NGX_HTTP_CI_JOBS_JWK_MAX_LEN     512
#define NGX_HTTP_CI_JOBS_KID_MAX_LEN     256
#define NGX_HTTP_CI_JOBS_JWKS_MAX_KEYS   64
#define NGX_HTTP_CI_JOBS_JWKS_MAX_SIZE   (256 * 1024)   /* the file */
#define NGX_HTTP_CI_JOBS_TOKEN_LEEWAY    30     /* seconds, exp and nbf */

/*
 * The cache of tokens checked: 64 sets of 4 entries, each holding a token
 * and its claims in 1 KB (a token naming about 10 jobs); a larger token is
 * checked in full each time.  About 270 KB.
 */
#define NGX_HTTP_CI_JOBS_TOKEN_CACHE_SETS   64
#define NGX_HTTP_CI_JOBS_TOKEN_CACHE_WAYS   4
#define NGX_HTTP_CI_JOBS_TOKEN_CACHE_DATA   1024

/* results of ngx_http_ci_jobs_token_check(), the metric's reasons */
#define NGX_HTTP_CI_JOBS_TOKEN_OK          0
#define NGX_HTTP_CI_JOBS_TOKEN_MALFORMED   1
#define NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE   2
#define NGX_HTTP_CI_JOBS_TOKEN_EXPIRED     3
#define NGX_HTTP_CI_JOBS_TOKEN_SCOPE       4


/* one key of the set, with HMAC-SHA256's states after its pads */
typedef struct {
    u_char         kid[NGX_HTTP_CI_JOBS_KID_MAX_LEN];
    size_t         kid_len;     /* 0: the key has no kid */
    SHA256_CTX     inner;
    SHA256_CTX     outer;
} ngx_http_ci_jobs_jwk_t;


typedef struct {
    size_t                  nkeys;
    ngx_http_ci_jobs_jwk_t  keys[NGX_HTTP_CI_JOBS_JWKS_MAX_KEYS];
} ngx_http_ci_jobs_jwks_t;


/*
 * What a request needs of the token: each item of items (separated by
 * commas when split is set) in the array the claim names ("ci_jobs",
 * "ci_queues", "ci_workflows").  items NULL: no item can be in scope.
 */
typedef struct {
    const char    *claim;
    const u_char  *items;
    size_t         items_len;
    unsigned       split:1;
} ngx_http_ci_jobs_scope_t;


#define NGX_HTTP_CI_JOBS_TOKEN_CACHE_SIZE                                     \
    (NGX_HTTP_CI_JOBS_TOKEN_CACHE_SETS * NGX_HTTP_CI_JOBS_TOKEN_CACHE_WAYS)


/* a token whose signature was valid, and what it says, packed */
typedef struct {
    uint64_t       hash;
    uint64_t       used;        /* the cache's tick at the last use; 0: free */
    double         exp;
    double         nbf;
    uint16_t       token_len;
    uint16_t       claims_len;
    u_char         data[NGX_HTTP_CI_JOBS_TOKEN_CACHE_DATA];
} ngx_http_ci_jobs_token_entry_t;


/*
 * One per key set and process: tokens are looked up by their bytes (a
 * seeded hash of their last 16 bytes, the signature's, chooses the set,
 * all the bytes are compared in constant time), the least recently used
 * entry of a set is replaced.  Valid for the key set it was filled from
 * alone: flushed when the set changes.
 */
typedef struct {
    uint64_t                        seed;
    uint64_t                        tick;
    uint64_t                        hits;
    uint64_t                        misses;
    ngx_http_ci_jobs_token_entry_t  entries[NGX_HTTP_CI_JOBS_TOKEN_CACHE_SIZE];
} ngx_http_ci_jobs_token_cache_t;


/*
 * Parses a JWK Set: {"keys": [...]}.  Keys of another "kty" than "oct",
 * or whose "use" or "alg" say they are not HS256 signing keys, are left
 * out; an "oct" key must have a base64url "k" of NGX_HTTP_CI_JOBS_JWK_MIN_LEN
 * bytes or more, and, when the set holds more than one key, a "kid" of its
 * own.  0, or -1 with *error set to a message that quotes no key material.
 * The set is cleansed by ngx_http_ci_jobs_jwks_clear().
 */
int ngx_http_ci_jobs_jwks_parse(ngx_http_ci_jobs_jwks_t *set,
    const u_char *data, size_t len, const char **error);
void ngx_http_ci_jobs_jwks_clear(ngx_http_ci_jobs_jwks_t *set);

/*
 * Checks a token: its form, alg "HS256", its kid and signature against
 * the set, exp (required) and nbf with NGX_HTTP_CI_JOBS_TOKEN_LEEWAY,
 * exp no further than max_ttl ahead, the claims' types, and the scope.
 * The signature is checked before the payload is parsed.  sub: token_len
 * bytes at least, receives the "sub" claim (*sub_len 0 when there is
 * none).  Returns NGX_HTTP_CI_JOBS_TOKEN_OK or the reason of the refusal.
 */
int ngx_http_ci_jobs_token_check(const u_char *token, size_t token_len,
    const ngx_http_ci_jobs_jwks_t *set, time_t now, time_t max_ttl,
    const ngx_http_ci_jobs_scope_t *scope, u_char *sub, size_t *sub_len);

/*
 * The same check, the signature's and the claims' part of it skipped for
 * a token already in the cache: exp, nbf, max_ttl and the scope are
 * checked at each use, so the result is always the one the full check
 * would give.  A token whose signature is valid is added; one expired
 * beyond the leeway leaves it.
 */
int ngx_http_ci_jobs_token_check_cached(ngx_http_ci_jobs_token_cache_t *cache,
    const u_char *token, size_t token_len, const ngx_http_ci_jobs_jwks_t *set,
    time_t now, time_t max_ttl, const ngx_http_ci_jobs_scope_t *scope,
    u_char *sub, size_t *sub_len);

/*
 * init: an empty cache, its hash seeded.  flush: every entry dropped and
 * cleansed, the seed kept.
 */
void ngx_http_ci_jobs_token_cache_init(ngx_http_ci_jobs_token_cache_t *cache,
    uint64_t seed);
void ngx_http_ci_jobs_token_cache_flush(
    ngx_http_ci_jobs_token_cache_t *cache);

/*
 * Strict base64url (RFC 7515 section 2): the URL-safe alphabet, no
 * padding, no line breaks, zero bits past the last byte.  dst: len * 3 / 4
 * bytes at least.  Returns the length decoded, or -1.
 */
ssize_t ngx_http_ci_jobs_base64url_decode(u_char *dst, const u_char *src,
    size_t len);


#endif /* _NGX_HTTP_CI_JOBS_TOKEN_H_INCLUDED_ */
