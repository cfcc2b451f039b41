
/*
 * COS request signature (q-sign-algorithm=sha1) over plain buffers.
 * No nginx types: used by the module, the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_SIGN_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_SIGN_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* the SHA1_* calls: no provider fetch, no allocation, as ngx_sha1.h */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif

#include <openssl/sha.h>


#define NGX_HTTP_CI_JOBS_SIGN_KEY_LEN  40     /* hex of an HMAC-SHA1 */
#define NGX_HTTP_CI_JOBS_KEY_TIME_MAX  (2 * 20 + 1)  /* "start;end" */
#define NGX_HTTP_CI_JOBS_MAX_PAIRS     16     /* params or headers signed */


/*
 * A SignKey, its KeyTime, and the HMAC-SHA1 states keyed with it: the
 * key's pads are hashed and its KeyTime written once per KeyTime window,
 * not once per request.
 */
typedef struct {
    u_char         hex[NGX_HTTP_CI_JOBS_SIGN_KEY_LEN];
    u_char         key_time[NGX_HTTP_CI_JOBS_KEY_TIME_MAX];
    size_t         key_time_len;
    SHA_CTX        inner;
    SHA_CTX        outer;
} ngx_http_ci_jobs_sign_key_t;


typedef struct {
    const u_char  *name;
    size_t         name_len;
    const u_char  *value;
    size_t         value_len;
} ngx_http_ci_jobs_pair_t;


typedef struct {
    const u_char                       *method;      /* lower case: "get" */
    size_t                              method_len;
    const u_char                       *path;        /* decoded: "/jobs/j1" */
    size_t                              path_len;
    const ngx_http_ci_jobs_pair_t      *params;      /* decoded */
    size_t                              nparams;
    const ngx_http_ci_jobs_pair_t      *headers;     /* decoded */
    size_t                              nheaders;
    const u_char                       *secret_id;
    size_t                              secret_id_len;
    const ngx_http_ci_jobs_sign_key_t  *key;         /* and its KeyTime */
} ngx_http_ci_jobs_sign_input_t;


/*
 * Percent-encodes as COS does: every byte but A-Z a-z 0-9 - _ . ~ becomes
 * %XX with upper-case hex.  Returns the encoded length; with dst NULL only
 * computes it.
 */
size_t ngx_http_ci_jobs_uri_encode(u_char *dst, const u_char *src,
    size_t len);

/*
 * SignKey: lower-case hex of HMAC-SHA1(secret_key, "start;end"), that
 * KeyTime, and the states ngx_http_ci_jobs_sign() continues from; the
 * signatures made with it have that KeyTime and sign time.
 */
int ngx_http_ci_jobs_sign_key(ngx_http_ci_jobs_sign_key_t *key,
    const u_char *secret_key, size_t secret_key_len, time_t start,
    time_t end);

/* an upper bound of the Authorization value's length for this input and key */
size_t ngx_http_ci_jobs_sign_size(const ngx_http_ci_jobs_sign_input_t *in);

/*
 * Writes the Authorization value into buf (ngx_http_ci_jobs_sign_size()
 * bytes at least).  Returns its length, or 0 when the input is more than
 * NGX_HTTP_CI_JOBS_MAX_PAIRS params or headers or an HttpString longer
 * than 16 KB.
 */
size_t ngx_http_ci_jobs_sign(u_char *buf,
    const ngx_http_ci_jobs_sign_input_t *in);


#endif /* _NGX_HTTP_CI_JOBS_SIGN_H_INCLUDED_ */
