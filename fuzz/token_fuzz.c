
/*
 * libFuzzer target of the access tokens' parsers
 * (src/ngx_http_ci_jobs_token.c).  The first byte chooses what the rest
 * is:
 *
 *   0  a JWK Set file;
 *   1  a token, checked against a set of two keys;
 *   2  "HEADER\nPAYLOAD\nITEMS": the header and payload as JSON text,
 *      encoded and signed here with the set's first key, so that the
 *      claims are read past the signature; ITEMS the ids in scope;
 *   3  bytes for base64url.
 *
 * Invariants, each checked with abort():
 * - a set parsed holds 1 to NGX_HTTP_CI_JOBS_JWKS_MAX_KEYS keys, a refused
 *   one an error message that is one of the parser's own sentences, never
 *   a part of the input;
 * - a check answers one of the five results, and a sub only with OK, no
 *   longer than the token; the same token answers the same again, and
 *   the same through the cache of tokens checked, once to fill it and
 *   once from it;
 * - a token signed with a key of the set never fails its signature: a
 *   header naming HS256 and kid "a" either passes it or is malformed;
 * - base64url: what decodes, encoded again, is the input; what encodes
 *   decodes back;
 * - nothing is read outside the input, nothing leaks (ASan, LSan).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_ci_jobs_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FUZZ_KEY  "0123456789abcdef0123456789abcdef"
#define FUZZ_SET                                                              \
    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\","                              \
    "\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"                 \
    "{\"kty\":\"oct\",\"kid\":\"b\","                                         \
    "\"k\":\"Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6\"}]}"


static void fuzz_set(const u_char *data, size_t size);
static int fuzz_check(const u_char *token, size_t len, const u_char *items,
    size_t items_len);
static void fuzz_signed(const u_char *data, size_t size);
static void fuzz_base64(const u_char *data, size_t size);
static size_t fuzz_encode(u_char *dst, const u_char *src, size_t len);


static ngx_http_ci_jobs_jwks_t         fuzz_keys;
static ngx_http_ci_jobs_token_cache_t  fuzz_cache;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *error;

    if (size == 0) {
        return 0;
    }

    if (fuzz_keys.nkeys == 0
        && ngx_http_ci_jobs_jwks_parse(&fuzz_keys, (const u_char *) FUZZ_SET,
                                       sizeof(FUZZ_SET) - 1, &error)
           != 0)
    {
        abort();
    }

    switch (data[0] & 3) {

    case 0:
        fuzz_set(data + 1, size - 1);
        break;

    case 1:
        (void) fuzz_check(data + 1, size - 1, (const u_char *) "j1,j2", 5);
        break;

    case 2:
        fuzz_signed(data + 1, size - 1);
        break;

    default:
        fuzz_base64(data + 1, size - 1);
    }

    return 0;
}


static void
fuzz_set(const u_char *data, size_t size)
{
    int                       rc;
    u_char                   *copy;
    const char               *error;
    ngx_http_ci_jobs_jwks_t  *set;

    /* an exact copy: a read past the end is ASan's to see */
    copy = malloc(size ? size : 1);
    set = malloc(sizeof(ngx_http_ci_jobs_jwks_t));
    if (copy == NULL || set == NULL) {
        abort();
    }

    memcpy(copy, data, size);
    error = NULL;

    rc = ngx_http_ci_jobs_jwks_parse(set, copy, size, &error);

    if (rc == 0) {
        if (set->nkeys == 0 || set->nkeys > NGX_HTTP_CI_JOBS_JWKS_MAX_KEYS) {
            abort();
        }

    } else if (rc != -1 || error == NULL
               || ((const u_char *) error >= copy
                   && (const u_char *) error < copy + size))
    {
        abort();
    }

    ngx_http_ci_jobs_jwks_clear(set);

    if (set->nkeys != 0) {
        abort();
    }

    free(set);
    free(copy);
}


static int
fuzz_check(const u_char *token, size_t len, const u_char *items,
    size_t items_len)
{
    int                        i, rc, again;
    size_t                     sub_len, again_len;
    u_char                    *copy, *sub;
    ngx_http_ci_jobs_scope_t   scope;

    copy = malloc(len ? len : 1);
    sub = malloc(len ? len : 1);
    if (copy == NULL || sub == NULL) {
        abort();
    }

    memcpy(copy, token, len);

    scope.claim = "ci_jobs";
    scope.items = items;
    scope.items_len = items_len;
    scope.split = 1;

    rc = ngx_http_ci_jobs_token_check(copy, len, &fuzz_keys, 1900000000,
                                      86400, &scope, sub, &sub_len);

    if (rc < NGX_HTTP_CI_JOBS_TOKEN_OK || rc > NGX_HTTP_CI_JOBS_TOKEN_SCOPE
        || (rc != NGX_HTTP_CI_JOBS_TOKEN_OK && sub_len != 0)
        || sub_len > len)
    {
        abort();
    }

    again = ngx_http_ci_jobs_token_check(copy, len, &fuzz_keys, 1900000000,
                                         86400, &scope, sub, &again_len);

    if (again != rc || again_len != sub_len) {
        abort();
    }

    for (i = 0; i < 2; i++) {
        again = ngx_http_ci_jobs_token_check_cached(&fuzz_cache, copy, len,
                                                    &fuzz_keys, 1900000000,
                                                    86400, &scope, sub,
                                                    &again_len);

        if (again != rc || again_len != sub_len) {
            abort();
        }
    }

    free(sub);
    free(copy);

    return rc;
}


static void
fuzz_signed(const u_char *data, size_t size)
{
    int            rc;
    size_t         n, hlen, plen;
    u_char        *token, *p;
    unsigned int   mdlen;
    const u_char  *nl1, *nl2, *last;
    u_char         md[EVP_MAX_MD_SIZE];

    last = data + size;

    nl1 = memchr(data, '\n', size);
    if (nl1 == NULL) {
        return;
    }

    nl2 = memchr(nl1 + 1, '\n', last - nl1 - 1);
    if (nl2 == NULL) {
        return;
    }

    hlen = nl1 - data;
    plen = nl2 - nl1 - 1;

    token = malloc((hlen + plen + 2) / 3 * 4 + 8 + 64);
    if (token == NULL) {
        abort();
    }

    p = token;
    p += fuzz_encode(p, data, hlen);
    *p++ = '.';
    p += fuzz_encode(p, nl1 + 1, plen);

    HMAC(EVP_sha256(), FUZZ_KEY, sizeof(FUZZ_KEY) - 1, token, p - token, md,
         &mdlen);

    *p++ = '.';
    p += fuzz_encode(p, md, mdlen);
    n = p - token;

    rc = fuzz_check(token, n, nl2 + 1, last - nl2 - 1);

    /*
     * signed with the key of kid "a": a header that is HS256's and names
     * "a" (what jsonwebtoken writes) never fails the signature
     */
    if (rc == NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE
        && n <= NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN
        && hlen == sizeof("{\"alg\":\"HS256\",\"kid\":\"a\"}") - 1
        && memcmp(data, "{\"alg\":\"HS256\",\"kid\":\"a\"}", hlen) == 0)
    {
        abort();
    }

    free(token);
}


static void
fuzz_base64(const u_char *data, size_t size)
{
    size_t    n;
    ssize_t   d;
    u_char   *dst, *again;

    dst = malloc(size + 1);
    again = malloc(size / 3 * 4 + 8);
    if (dst == NULL || again == NULL) {
        abort();
    }

    d = ngx_http_ci_jobs_base64url_decode(dst, data, size);

    if (d >= 0) {
        n = fuzz_encode(again, dst, d);

        if (n != size || memcmp(again, data, size) != 0) {
            abort();
        }
    }

    free(again);
    free(dst);

    /* and the way back: any bytes, encoded, decode to themselves */

    again = malloc(size / 3 * 4 + 8);
    dst = malloc(size + 1);
    if (dst == NULL || again == NULL) {
        abort();
    }

    n = fuzz_encode(again, data, size);
    d = ngx_http_ci_jobs_base64url_decode(dst, again, n);

    if (d < 0 || (size_t) d != size || memcmp(dst, data, size) != 0) {
        abort();
    }

    free(dst);
    free(again);
}


/* base64url without padding, written independently of the parser */

static size_t
fuzz_encode(u_char *dst, const u_char *src, size_t len)
{
    size_t     i;
    u_char    *p;
    uint32_t   v;

    static const char  digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    p = dst;

    for (i = 0; i + 3 <= len; i += 3) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8 | src[i + 2];
        *p++ = digits[v >> 18 & 63];
        *p++ = digits[v >> 12 & 63];
        *p++ = digits[v >> 6 & 63];
        *p++ = digits[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) src[i] << 16;
        *p++ = digits[v >> 18 & 63];
        *p++ = digits[v >> 12 & 63];

    } else if (len - i == 2) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8;
        *p++ = digits[v >> 18 & 63];
        *p++ = digits[v >> 12 & 63];
        *p++ = digits[v >> 6 & 63];
    }

    return p - dst;
}
