
/*
 * Access tokens: HS256 JWTs checked against a JWK Set.  JSON is read with
 * jansson, duplicate members refused; the signature is compared in
 * constant time and checked before the payload is parsed.  A check is in
 * two steps: what the signature vouches for (the claims, their types,
 * packed), then what depends on the time and the request (exp, nbf, the
 * scope), which is all a token found in the cache of tokens checked
 * costs.  Nothing here writes a key or a token anywhere but into the
 * caller's buffers and the cache.
 */


#include <string.h>

#if (__SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_http_ci_jobs_token.h"
#include "ngx_http_ci_jobs_text.h"

#include <jansson.h>
#include <openssl/crypto.h>


#define NGX_HTTP_CI_JOBS_HS256_LEN   SHA256_DIGEST_LENGTH

/* a token's header and payload, decoded */
#define NGX_HTTP_CI_JOBS_TOKEN_DECODED                                        \
    (NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN / 4 * 3)

/*
 * The claims packed: sub, then ci_jobs, ci_queues and ci_workflows, each
 * a count (NGX_HTTP_CI_JOBS_ABSENT: no such claim) and its strings; every
 * length and count in two bytes.  Never longer than the JSON it comes
 * from but for the counts of absent claims.
 */
#define NGX_HTTP_CI_JOBS_PACKED       (NGX_HTTP_CI_JOBS_TOKEN_DECODED + 8)
#define NGX_HTTP_CI_JOBS_ABSENT       0xffff
#define NGX_HTTP_CI_JOBS_SCOPE_CLAIMS 3

/* the bytes of a token its cache set is chosen by: 96 bits of signature */
#define NGX_HTTP_CI_JOBS_TOKEN_HASHED 16


/* what a token's signature vouches for */
typedef struct {
    double         exp;
    double         nbf;      /* -1e300 when there is none */
    const u_char  *packed;
    size_t         len;
} ngx_http_ci_jobs_claims_t;


static int ngx_http_ci_jobs_jwk_add(ngx_http_ci_jobs_jwks_t *set,
    json_t *jwk, const char **error);
static void ngx_http_ci_jobs_jwk_key(ngx_http_ci_jobs_jwk_t *k,
    const u_char *key, size_t len);
static int ngx_http_ci_jobs_token_header(const ngx_http_ci_jobs_jwks_t *set,
    const u_char *p, size_t len, const ngx_http_ci_jobs_jwk_t **key);
static int ngx_http_ci_jobs_token_mac(const ngx_http_ci_jobs_jwk_t *k,
    const u_char *input, size_t input_len, const u_char *sig,
    size_t sig_len);
static int ngx_http_ci_jobs_token_verify(const u_char *token,
    size_t token_len, const ngx_http_ci_jobs_jwks_t *set, u_char *packed,
    ngx_http_ci_jobs_claims_t *c);
static int ngx_http_ci_jobs_token_claims(json_t *claims, u_char *packed,
    ngx_http_ci_jobs_claims_t *c);
static u_char *ngx_http_ci_jobs_pack(u_char *p, const char *s, size_t len);
static int ngx_http_ci_jobs_token_time(json_t *claims, const char *name,
    int required, double *value);
static int ngx_http_ci_jobs_token_admit(const ngx_http_ci_jobs_claims_t *c,
    time_t now, time_t max_ttl, const ngx_http_ci_jobs_scope_t *scope,
    u_char *sub, size_t *sub_len);
static int ngx_http_ci_jobs_token_scope(const ngx_http_ci_jobs_claims_t *c,
    const ngx_http_ci_jobs_scope_t *scope);
static int ngx_http_ci_jobs_token_has(const u_char *p, size_t n,
    const u_char *item, size_t len);
static size_t ngx_http_ci_jobs_unpack(const u_char *p);
static int ngx_http_ci_jobs_token_differ(const u_char *a, const u_char *b,
    size_t len);
static int ngx_http_ci_jobs_json_string_is(json_t *value, const char *s);


static const char  *ngx_http_ci_jobs_scope_claims[] = {
    "ci_jobs", "ci_queues", "ci_workflows"
};


static const u_char  ngx_http_ci_jobs_base64url[256] = {
    /* 0xff: not in the alphabet; otherwise the digit's value */
#define X 0xff
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X,          /* - */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X, /* 0-9 */
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,      /* A-O */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63, /* P-Z _ */
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X
#undef X
};


/* --- the key set ----------------------------------------------------- */


int
ngx_http_ci_jobs_jwks_parse(ngx_http_ci_jobs_jwks_t *set, const u_char *data,
    size_t len, const char **error)
{
    size_t         i, j;
    json_t        *root, *keys;
    json_error_t   jerr;

    memset(set, 0, sizeof(ngx_http_ci_jobs_jwks_t));

    if (len > NGX_HTTP_CI_JOBS_JWKS_MAX_SIZE) {
        *error = "the key set is too large";
        return -1;
    }

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL) {
        *error = "the key set is not JSON";
        return -1;
    }

    keys = json_object_get(root, "keys");

    if (!json_is_object(root) || !json_is_array(keys)) {
        *error = "the key set has no \"keys\" array";
        goto failed;
    }

    for (i = 0; i < json_array_size(keys); i++) {
        if (ngx_http_ci_jobs_jwk_add(set, json_array_get(keys, i), error)
            != 0)
        {
            goto failed;
        }
    }

    if (set->nkeys == 0) {
        *error = "the key set holds no \"oct\" key for HS256";
        goto failed;
    }

    for (i = 0; i < set->nkeys; i++) {
        if (set->nkeys > 1 && set->keys[i].kid_len == 0) {
            *error = "a key of a set of several has no \"kid\"";
            goto failed;
        }

        for (j = 0; j < i; j++) {
            if (set->keys[i].kid_len == set->keys[j].kid_len
                && memcmp(set->keys[i].kid, set->keys[j].kid,
                          set->keys[i].kid_len)
                   == 0)
            {
                *error = "two keys have the same \"kid\"";
                goto failed;
            }
        }
    }

    json_decref(root);
    return 0;

failed:

    json_decref(root);
    ngx_http_ci_jobs_jwks_clear(set);
    return -1;
}


static int
ngx_http_ci_jobs_jwk_add(ngx_http_ci_jobs_jwks_t *set, json_t *jwk,
    const char **error)
{
    int                      rc;
    size_t                   klen, kid_len;
    json_t                  *k, *kid, *use, *alg;
    ssize_t                  n;
    const char              *kstr;
    ngx_http_ci_jobs_jwk_t  *key;
    u_char                   buf[NGX_HTTP_CI_JOBS_JWK_MAX_LEN];

    if (!json_is_object(jwk)) {
        *error = "a key is not a JSON object";
        return -1;
    }

    if (!ngx_http_ci_jobs_json_string_is(json_object_get(jwk, "kty"),
                                         "oct"))
    {
        /* another kind of key, for another use: not ours */
        return 0;
    }

    use = json_object_get(jwk, "use");
    alg = json_object_get(jwk, "alg");

    if ((use != NULL && !ngx_http_ci_jobs_json_string_is(use, "sig"))
        || (alg != NULL && !ngx_http_ci_jobs_json_string_is(alg, "HS256")))
    {
        return 0;
    }

    if (set->nkeys == NGX_HTTP_CI_JOBS_JWKS_MAX_KEYS) {
        *error = "the key set holds more than "
                 ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_JWKS_MAX_KEYS)
                 " keys";
        return -1;
    }

    kid = json_object_get(jwk, "kid");
    kid_len = 0;

    if (kid != NULL) {
        kid_len = json_string_length(kid);

        if (!json_is_string(kid) || kid_len == 0
            || kid_len > NGX_HTTP_CI_JOBS_KID_MAX_LEN)
        {
            *error = "a \"kid\" is not a string of 1 to "
                     ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_KID_MAX_LEN)
                     " bytes";
            return -1;
        }
    }

    k = json_object_get(jwk, "k");

    if (!json_is_string(k)) {
        *error = "an \"oct\" key has no \"k\" string";
        return -1;
    }

    kstr = json_string_value(k);
    klen = json_string_length(k);

    if (klen > NGX_HTTP_CI_JOBS_JWK_MAX_LEN / 3 * 4) {
        *error = "a \"k\" is longer than "
                 ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_JWK_MAX_LEN)
                 " bytes";
        return -1;
    }

    n = ngx_http_ci_jobs_base64url_decode(buf, (const u_char *) kstr, klen);

    rc = 0;

    if (n < 0) {
        *error = "a \"k\" is not base64url without padding";
        rc = -1;

    } else if (n < NGX_HTTP_CI_JOBS_JWK_MIN_LEN) {
        *error = "a \"k\" is shorter than "
                 ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_JWK_MIN_LEN)
                 " bytes";
        rc = -1;

    } else {
        key = &set->keys[set->nkeys++];
        key->kid_len = kid_len;

        if (kid_len) {
            memcpy(key->kid, json_string_value(kid), kid_len);
        }

        ngx_http_ci_jobs_jwk_key(key, buf, n);
    }

    OPENSSL_cleanse(buf, sizeof(buf));

    return rc;
}


/*
 * HMAC (RFC 2104) split in two, as sign.c does: the states after the
 * key's inner and outer pads are kept, and each check continues from
 * copies of them.  A key longer than SHA-256's block is hashed first.
 */

static void
ngx_http_ci_jobs_jwk_key(ngx_http_ci_jobs_jwk_t *k, const u_char *key,
    size_t len)
{
    size_t   i;
    u_char   hashed[SHA256_DIGEST_LENGTH];
    u_char   pad[SHA256_CBLOCK];

    if (len > SHA256_CBLOCK) {
        SHA256(key, len, hashed);
        key = hashed;
        len = sizeof(hashed);
    }

    memset(pad, 0x36, sizeof(pad));

    for (i = 0; i < len; i++) {
        pad[i] ^= key[i];
    }

    SHA256_Init(&k->inner);
    SHA256_Update(&k->inner, pad, sizeof(pad));

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] ^= 0x36 ^ 0x5c;
    }

    SHA256_Init(&k->outer);
    SHA256_Update(&k->outer, pad, sizeof(pad));

    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(hashed, sizeof(hashed));
}


void
ngx_http_ci_jobs_jwks_clear(ngx_http_ci_jobs_jwks_t *set)
{
    OPENSSL_cleanse(set, sizeof(ngx_http_ci_jobs_jwks_t));
}


/* --- the token -------------------------------------------------------- */


int
ngx_http_ci_jobs_token_check(const u_char *token, size_t token_len,
    const ngx_http_ci_jobs_jwks_t *set, time_t now, time_t max_ttl,
    const ngx_http_ci_jobs_scope_t *scope, u_char *sub, size_t *sub_len)
{
    int                        rc;
    ngx_http_ci_jobs_claims_t  c;
    u_char                     packed[NGX_HTTP_CI_JOBS_PACKED];

    *sub_len = 0;

    rc = ngx_http_ci_jobs_token_verify(token, token_len, set, packed, &c);
    if (rc != NGX_HTTP_CI_JOBS_TOKEN_OK) {
        return rc;
    }

    return ngx_http_ci_jobs_token_admit(&c, now, max_ttl, scope, sub,
                                        sub_len);
}


/* the form, the header, the signature, the claims' types: not the time */

static int
ngx_http_ci_jobs_token_verify(const u_char *token, size_t token_len,
    const ngx_http_ci_jobs_jwks_t *set, u_char *packed,
    ngx_http_ci_jobs_claims_t *c)
{
    int                            rc;
    json_t                        *claims;
    ssize_t                        n;
    const u_char                  *dot1, *dot2, *last;
    json_error_t                   jerr;
    const ngx_http_ci_jobs_jwk_t  *key;
    u_char                         buf[NGX_HTTP_CI_JOBS_TOKEN_DECODED];

    if (token_len > NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    last = token + token_len;

    dot1 = memchr(token, '.', token_len);
    if (dot1 == NULL) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    dot2 = memchr(dot1 + 1, '.', last - dot1 - 1);
    if (dot2 == NULL || memchr(dot2 + 1, '.', last - dot2 - 1) != NULL) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    /* the header: alg and kid choose the key */

    n = ngx_http_ci_jobs_base64url_decode(buf, token, dot1 - token);
    if (n <= 0) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    key = NULL;

    rc = ngx_http_ci_jobs_token_header(set, buf, n, &key);
    if (rc != NGX_HTTP_CI_JOBS_TOKEN_OK) {
        return rc;
    }

    /* the signature, over "header.payload" as sent */

    n = ngx_http_ci_jobs_base64url_decode(buf, dot2 + 1, last - dot2 - 1);
    if (n < 0) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    if (ngx_http_ci_jobs_token_mac(key, token, dot2 - token, buf, n) != 0) {
        return NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE;
    }

    /* the claims, signed by a key of ours */

    n = ngx_http_ci_jobs_base64url_decode(buf, dot1 + 1, dot2 - dot1 - 1);
    if (n <= 0) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    claims = json_loadb((const char *) buf, n, JSON_REJECT_DUPLICATES, &jerr);
    if (claims == NULL) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    if (!json_is_object(claims)) {
        json_decref(claims);
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    rc = ngx_http_ci_jobs_token_claims(claims, packed, c);

    json_decref(claims);

    return rc;
}


/*
 * The key a header names.  A header that is not HS256's, or names no key
 * when the set holds several, is malformed; a kid the set does not hold
 * cannot have signed the token.
 */

static int
ngx_http_ci_jobs_token_header(const ngx_http_ci_jobs_jwks_t *set,
    const u_char *p, size_t len, const ngx_http_ci_jobs_jwk_t **key)
{
    int            rc;
    size_t         i, kid_len;
    json_t        *header, *kid;
    const char    *kid_str;
    json_error_t   jerr;

    header = json_loadb((const char *) p, len, JSON_REJECT_DUPLICATES, &jerr);
    if (header == NULL) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    rc = NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    kid = json_object_get(header, "kid");

    /* "crit" names extensions the token requires: none is understood */

    if (!json_is_object(header)
        || !ngx_http_ci_jobs_json_string_is(json_object_get(header, "alg"),
                                            "HS256")
        || json_object_get(header, "crit") != NULL
        || (kid != NULL && !json_is_string(kid)))
    {
        goto done;
    }

    if (kid == NULL) {
        /* without a kid, only a set of one key says which */
        if (set->nkeys == 1) {
            *key = &set->keys[0];
            rc = NGX_HTTP_CI_JOBS_TOKEN_OK;
        }

        goto done;
    }

    kid_str = json_string_value(kid);
    kid_len = json_string_length(kid);
    rc = NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE;

    for (i = 0; i < set->nkeys; i++) {
        if (set->keys[i].kid_len == kid_len
            && memcmp(set->keys[i].kid, kid_str, kid_len) == 0)
        {
            *key = &set->keys[i];
            rc = NGX_HTTP_CI_JOBS_TOKEN_OK;
            break;
        }
    }

done:

    json_decref(header);
    return rc;
}


static int
ngx_http_ci_jobs_token_mac(const ngx_http_ci_jobs_jwk_t *k,
    const u_char *input, size_t input_len, const u_char *sig, size_t sig_len)
{
    int         rc;
    SHA256_CTX  c;
    u_char      md[SHA256_DIGEST_LENGTH];

    if (sig_len != NGX_HTTP_CI_JOBS_HS256_LEN) {
        return -1;
    }

    c = k->inner;
    SHA256_Update(&c, input, input_len);
    SHA256_Final(md, &c);

    c = k->outer;
    SHA256_Update(&c, md, sizeof(md));
    SHA256_Final(md, &c);

    rc = CRYPTO_memcmp(md, sig, sizeof(md)) == 0 ? 0 : -1;

    OPENSSL_cleanse(&c, sizeof(c));

    return rc;
}


/* the claims' types checked, and the claims packed */

static int
ngx_http_ci_jobs_token_claims(json_t *claims, u_char *packed,
    ngx_http_ci_jobs_claims_t *c)
{
    size_t   i, j, n;
    json_t  *v, *sub, *item;
    u_char  *p;

    if (ngx_http_ci_jobs_token_time(claims, "exp", 1, &c->exp) != 0
        || ngx_http_ci_jobs_token_time(claims, "nbf", 0, &c->nbf) != 0)
    {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    sub = json_object_get(claims, "sub");

    if (sub != NULL && !json_is_string(sub)) {
        return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
    }

    /* each scope claim, when present, is an array of strings */

    for (i = 0; i < NGX_HTTP_CI_JOBS_SCOPE_CLAIMS; i++) {
        v = json_object_get(claims, ngx_http_ci_jobs_scope_claims[i]);

        if (v == NULL) {
            continue;
        }

        if (!json_is_array(v)) {
            return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
        }

        for (j = 0; j < json_array_size(v); j++) {
            if (!json_is_string(json_array_get(v, j))) {
                return NGX_HTTP_CI_JOBS_TOKEN_MALFORMED;
            }
        }
    }

    /*
     * Packed: every string is shorter than its JSON, quotes included, and
     * an array counts fewer items than its JSON has bytes, so that
     * NGX_HTTP_CI_JOBS_PACKED holds the claims of any payload.
     */

    p = packed;

    if (sub != NULL) {
        p = ngx_http_ci_jobs_pack(p, json_string_value(sub),
                                  json_string_length(sub));

    } else {
        p = ngx_http_ci_jobs_pack(p, NULL, 0);
    }

    for (i = 0; i < NGX_HTTP_CI_JOBS_SCOPE_CLAIMS; i++) {
        v = json_object_get(claims, ngx_http_ci_jobs_scope_claims[i]);
        n = v != NULL ? json_array_size(v) : NGX_HTTP_CI_JOBS_ABSENT;

        *p++ = (u_char) (n >> 8);
        *p++ = (u_char) n;

        for (j = 0; v != NULL && j < n; j++) {
            item = json_array_get(v, j);
            p = ngx_http_ci_jobs_pack(p, json_string_value(item),
                                      json_string_length(item));
        }
    }

    c->packed = packed;
    c->len = p - packed;

    return NGX_HTTP_CI_JOBS_TOKEN_OK;
}


static u_char *
ngx_http_ci_jobs_pack(u_char *p, const char *s, size_t len)
{
    *p++ = (u_char) (len >> 8);
    *p++ = (u_char) len;

    return ngx_http_ci_jobs_cpymem(p, s, len);
}


/* a NumericDate: a JSON number; absent is -inf unless required */

static int
ngx_http_ci_jobs_token_time(json_t *claims, const char *name, int required,
    double *value)
{
    json_t  *v;

    v = json_object_get(claims, name);

    if (v == NULL) {
        *value = -1e300;
        return required ? -1 : 0;
    }

    if (!json_is_number(v)) {
        return -1;
    }

    *value = json_number_value(v);

    return 0;
}


/* what depends on the time and the request: checked at every use */

static int
ngx_http_ci_jobs_token_admit(const ngx_http_ci_jobs_claims_t *c, time_t now,
    time_t max_ttl, const ngx_http_ci_jobs_scope_t *scope, u_char *sub,
    size_t *sub_len)
{
    size_t  len;

    *sub_len = 0;

    if (c->exp + NGX_HTTP_CI_JOBS_TOKEN_LEEWAY <= (double) now
        || c->nbf - NGX_HTTP_CI_JOBS_TOKEN_LEEWAY > (double) now
        || c->exp > (double) now + max_ttl + NGX_HTTP_CI_JOBS_TOKEN_LEEWAY)
    {
        return NGX_HTTP_CI_JOBS_TOKEN_EXPIRED;
    }

    if (ngx_http_ci_jobs_token_scope(c, scope) != 0) {
        return NGX_HTTP_CI_JOBS_TOKEN_SCOPE;
    }

    /* the sub first: shorter than the token it was decoded from */

    len = ngx_http_ci_jobs_unpack(c->packed);

    if (len) {
        memcpy(sub, c->packed + 2, len);
    }

    *sub_len = len;

    return NGX_HTTP_CI_JOBS_TOKEN_OK;
}


static int
ngx_http_ci_jobs_token_scope(const ngx_http_ci_jobs_claims_t *c,
    const ngx_http_ci_jobs_scope_t *scope)
{
    size_t         i, j, n;
    const u_char  *p, *last, *comma, *array;

    if (scope->items == NULL || scope->items_len == 0) {
        return -1;
    }

    /* the claim's array: past the sub and the claims before it */

    p = c->packed;
    p += 2 + ngx_http_ci_jobs_unpack(p);

    for (i = 0; i < NGX_HTTP_CI_JOBS_SCOPE_CLAIMS; i++) {
        n = ngx_http_ci_jobs_unpack(p);
        p += 2;

        if (strcmp(ngx_http_ci_jobs_scope_claims[i], scope->claim) == 0) {
            break;
        }

        for (j = 0; n != NGX_HTTP_CI_JOBS_ABSENT && j < n; j++) {
            p += 2 + ngx_http_ci_jobs_unpack(p);
        }
    }

    if (i == NGX_HTTP_CI_JOBS_SCOPE_CLAIMS || n == NGX_HTTP_CI_JOBS_ABSENT) {
        return -1;
    }

    array = p;

    if (!scope->split) {
        return ngx_http_ci_jobs_token_has(array, n, scope->items,
                                          scope->items_len);
    }

    p = scope->items;
    last = p + scope->items_len;

    for ( ;; ) {
        comma = memchr(p, ',', last - p);

        if (ngx_http_ci_jobs_token_has(array, n, p,
                                       (comma ? comma : last) - p)
            != 0)
        {
            return -1;
        }

        if (comma == NULL) {
            return 0;
        }

        p = comma + 1;
    }
}


/* whether the n packed strings at p hold the item */

static int
ngx_http_ci_jobs_token_has(const u_char *p, size_t n, const u_char *item,
    size_t len)
{
    size_t  i, l;

    if (len == 0) {
        return -1;
    }

    for (i = 0; i < n; i++) {
        l = ngx_http_ci_jobs_unpack(p);

        if (l == len && memcmp(p + 2, item, len) == 0) {
            return 0;
        }

        p += 2 + l;
    }

    return -1;
}


static size_t
ngx_http_ci_jobs_unpack(const u_char *p)
{
    return (size_t) p[0] << 8 | p[1];
}


/* --- the cache of tokens checked ---------------------------------------- */


void
ngx_http_ci_jobs_token_cache_init(ngx_http_ci_jobs_token_cache_t *cache,
    uint64_t seed)
{
    memset(cache, 0, sizeof(ngx_http_ci_jobs_token_cache_t));
    cache->seed = seed;
}


void
ngx_http_ci_jobs_token_cache_flush(ngx_http_ci_jobs_token_cache_t *cache)
{
    OPENSSL_cleanse(cache->entries, sizeof(cache->entries));
    cache->tick = 0;
}


int
ngx_http_ci_jobs_token_check_cached(ngx_http_ci_jobs_token_cache_t *cache,
    const u_char *token, size_t token_len, const ngx_http_ci_jobs_jwks_t *set,
    time_t now, time_t max_ttl, const ngx_http_ci_jobs_scope_t *scope,
    u_char *sub, size_t *sub_len)
{
    int                              rc;
    size_t                           i, tail, first;
    uint64_t                         hash;
    ngx_http_ci_jobs_claims_t        c;
    ngx_http_ci_jobs_token_entry_t  *e, *victim;
    u_char                           packed[NGX_HTTP_CI_JOBS_PACKED];

    *sub_len = 0;

    if (token_len >= NGX_HTTP_CI_JOBS_TOKEN_CACHE_DATA) {
        /* too large to be kept: checked in full, every time */
        return ngx_http_ci_jobs_token_check(token, token_len, set, now,
                                            max_ttl, scope, sub, sub_len);
    }

    /*
     * The set from the token's last bytes alone: those of a valid token
     * are its signature's, HMAC output that differs from one token to the
     * next, and only tokens whose signature was valid are kept.
     */

    tail = token_len > NGX_HTTP_CI_JOBS_TOKEN_HASHED
           ? token_len - NGX_HTTP_CI_JOBS_TOKEN_HASHED : 0;

    hash = ngx_http_ci_jobs_hash(cache->seed, token + tail, token_len - tail);
    first = (hash >> 32) % NGX_HTTP_CI_JOBS_TOKEN_CACHE_SETS
            * NGX_HTTP_CI_JOBS_TOKEN_CACHE_WAYS;

    for (i = first; i < first + NGX_HTTP_CI_JOBS_TOKEN_CACHE_WAYS; i++) {
        e = &cache->entries[i];

        if (e->used == 0 || e->hash != hash || e->token_len != token_len
            || ngx_http_ci_jobs_token_differ(e->data, token, token_len))
        {
            continue;
        }

        cache->hits++;

        c.exp = e->exp;
        c.nbf = e->nbf;
        c.packed = e->data + token_len;
        c.len = e->claims_len;

        rc = ngx_http_ci_jobs_token_admit(&c, now, max_ttl, scope, sub,
                                          sub_len);

        if (e->exp + NGX_HTTP_CI_JOBS_TOKEN_LEEWAY <= (double) now) {
            /* expired for good: the entry goes */
            OPENSSL_cleanse(e, sizeof(ngx_http_ci_jobs_token_entry_t));

        } else {
            e->used = ++cache->tick;
        }

        return rc;
    }

    cache->misses++;

    rc = ngx_http_ci_jobs_token_verify(token, token_len, set, packed, &c);
    if (rc != NGX_HTTP_CI_JOBS_TOKEN_OK) {
        return rc;
    }

    rc = ngx_http_ci_jobs_token_admit(&c, now, max_ttl, scope, sub, sub_len);

    if (c.exp + NGX_HTTP_CI_JOBS_TOKEN_LEEWAY <= (double) now
        || token_len + c.len > NGX_HTTP_CI_JOBS_TOKEN_CACHE_DATA)
    {
        OPENSSL_cleanse(packed, c.len);
        return rc;
    }

    /* a free entry of the set, or one expired, or the least recently used */

    victim = &cache->entries[first];

    for (i = first; i < first + NGX_HTTP_CI_JOBS_TOKEN_CACHE_WAYS; i++) {
        e = &cache->entries[i];

        if (e->used == 0
            || e->exp + NGX_HTTP_CI_JOBS_TOKEN_LEEWAY <= (double) now)
        {
            victim = e;
            break;
        }

        if (e->used < victim->used) {
            victim = e;
        }
    }

    victim->hash = hash;
    victim->used = ++cache->tick;
    victim->exp = c.exp;
    victim->nbf = c.nbf;
    victim->token_len = (uint16_t) token_len;
    victim->claims_len = (uint16_t) c.len;
    memcpy(victim->data, token, token_len);
    memcpy(victim->data + token_len, packed, c.len);

    OPENSSL_cleanse(packed, c.len);

    return rc;
}


/*
 * Whether two tokens differ, in a time that depends on their length
 * alone: CRYPTO_memcmp()'s guarantee, many bytes a step rather than one
 * (a fifth of a cached check's instructions went to it): with SSE2
 * thirty-two, their differences or'ed and looked at once at the end,
 * else eight; the bytes the steps leave in one step too, over some of
 * the step before.
 */

static int
ngx_http_ci_jobs_token_differ(const u_char *a, const u_char *b, size_t len)
{
    size_t    i;
    uint64_t  x, y, d;
#if (__SSE2__)
    __m128i   v;
#endif

    d = 0;

    if (len < 8) {
        for (i = 0; i < len; i++) {
            d |= a[i] ^ b[i];
        }

        return d != 0;
    }

    i = 0;

#if (__SSE2__)

    if (len >= 16) {
        v = _mm_setzero_si128();

        for ( /* void */ ; i + 32 <= len; i += 32) {
            v = _mm_or_si128(v, _mm_or_si128(
                    _mm_xor_si128(
                        _mm_loadu_si128((const __m128i *) (a + i)),
                        _mm_loadu_si128((const __m128i *) (b + i))),
                    _mm_xor_si128(
                        _mm_loadu_si128((const __m128i *) (a + i + 16)),
                        _mm_loadu_si128((const __m128i *) (b + i + 16)))));
        }

        v = _mm_or_si128(v, _mm_xor_si128(
                _mm_loadu_si128((const __m128i *) (a + len - 16)),
                _mm_loadu_si128((const __m128i *) (b + len - 16))));

        if (i + 16 < len) {
            v = _mm_or_si128(v, _mm_xor_si128(
                    _mm_loadu_si128((const __m128i *) (a + i)),
                    _mm_loadu_si128((const __m128i *) (b + i))));
        }

        return _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()))
               != 0xffff;
    }

#endif

    for ( /* void */ ; i + 8 < len; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        d |= x ^ y;
    }

    memcpy(&x, a + len - 8, 8);
    memcpy(&y, b + len - 8, 8);
    d |= x ^ y;

    return d != 0;
}


static int
ngx_http_ci_jobs_json_string_is(json_t *value, const char *s)
{
    return json_is_string(value)
           && json_string_length(value) == strlen(s)
           && memcmp(json_string_value(value), s, strlen(s)) == 0;
}


ssize_t
ngx_http_ci_jobs_base64url_decode(u_char *dst, const u_char *src,
    size_t len)
{
    size_t   i, n;
    u_char   a, b, c, d;

    if (len % 4 == 1) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        if (ngx_http_ci_jobs_base64url[src[i]] == 0xff) {
            return -1;
        }
    }

    n = 0;

    for (i = 0; i + 4 <= len; i += 4) {
        a = ngx_http_ci_jobs_base64url[src[i]];
        b = ngx_http_ci_jobs_base64url[src[i + 1]];
        c = ngx_http_ci_jobs_base64url[src[i + 2]];
        d = ngx_http_ci_jobs_base64url[src[i + 3]];

        dst[n++] = (u_char) (a << 2 | b >> 4);
        dst[n++] = (u_char) (b << 4 | c >> 2);
        dst[n++] = (u_char) (c << 6 | d);
    }

    /* the rest: 2 or 3 digits, whose unused low bits must be zero */

    if (len - i == 2) {
        a = ngx_http_ci_jobs_base64url[src[i]];
        b = ngx_http_ci_jobs_base64url[src[i + 1]];

        if (b & 0x0f) {
            return -1;
        }

        dst[n++] = (u_char) (a << 2 | b >> 4);

    } else if (len - i == 3) {
        a = ngx_http_ci_jobs_base64url[src[i]];
        b = ngx_http_ci_jobs_base64url[src[i + 1]];
        c = ngx_http_ci_jobs_base64url[src[i + 2]];

        if (c & 0x03) {
            return -1;
        }

        dst[n++] = (u_char) (a << 2 | b >> 4);
        dst[n++] = (u_char) (b << 4 | c >> 2);
    }

    return n;
}
