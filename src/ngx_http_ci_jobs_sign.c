
/*
 * The COS request signature (q-sign-algorithm=sha1), over plain buffers:
 *
 *   SignKey       = hex(HMAC-SHA1(SecretKey, KeyTime))
 *   HttpString    = method \n path \n params \n headers \n
 *   StringToSign  = "sha1" \n KeyTime \n hex(SHA1(HttpString)) \n
 *   Signature     = hex(HMAC-SHA1(SignKey, StringToSign))
 *
 * with names lower-cased and percent-encoded, values percent-encoded, and
 * both lists sorted by encoded name.
 */


#include <stdio.h>
#include <string.h>

#include "ngx_http_ci_jobs_sign.h"
#include "ngx_http_ci_jobs_text.h"

#include <openssl/crypto.h>


#define NGX_HTTP_CI_JOBS_HTTP_STRING_MAX  16384
#define NGX_HTTP_CI_JOBS_SHA1_BLOCK       64


static size_t ngx_http_ci_jobs_encode_name(u_char *dst, const u_char *src,
    size_t len);
static int ngx_http_ci_jobs_cmp_names(const ngx_http_ci_jobs_pair_t *a,
    const ngx_http_ci_jobs_pair_t *b);
static void ngx_http_ci_jobs_sort(const ngx_http_ci_jobs_pair_t **sorted,
    const ngx_http_ci_jobs_pair_t *pairs, size_t n);
static u_char *ngx_http_ci_jobs_write_pairs(u_char *p,
    const ngx_http_ci_jobs_pair_t **sorted, size_t n, int values);
static size_t ngx_http_ci_jobs_pairs_size(const ngx_http_ci_jobs_pair_t *pairs,
    size_t n);
static u_char *ngx_http_ci_jobs_hex(u_char *dst, const u_char *src,
    size_t len);
static void ngx_http_ci_jobs_hmac_init(SHA_CTX *inner, SHA_CTX *outer,
    const u_char *key, size_t len);
static void ngx_http_ci_jobs_hmac(u_char *md, const SHA_CTX *inner,
    const SHA_CTX *outer, const u_char *data, size_t len);


/* kept as is by UrlEncode */
#define ngx_http_ci_jobs_is_unreserved(c)                                     \
    (ngx_http_ci_jobs_is_alnum(c)                                             \
     || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~')


size_t
ngx_http_ci_jobs_uri_encode(u_char *dst, const u_char *src, size_t len)
{
    size_t         n;
    const u_char  *last;

    static const u_char  hex[] = "0123456789ABCDEF";

    last = src + len;

    if (dst == NULL) {
        for (n = 0; src < last; src++) {
            n += ngx_http_ci_jobs_is_unreserved(*src) ? 1 : 3;
        }

        return n;
    }

    for (n = 0; src < last; src++) {
        if (ngx_http_ci_jobs_is_unreserved(*src)) {
            dst[n++] = *src;

        } else {
            dst[n++] = '%';
            dst[n++] = hex[*src >> 4];
            dst[n++] = hex[*src & 0xf];
        }
    }

    return n;
}


/* lowercase(UrlEncode(name)): the hex digits of %XX too, as the SDKs do */

static size_t
ngx_http_ci_jobs_encode_name(u_char *dst, const u_char *src, size_t len)
{
    size_t  i, n;

    n = ngx_http_ci_jobs_uri_encode(dst, src, len);

    for (i = 0; i < n; i++) {
        if (dst[i] >= 'A' && dst[i] <= 'Z') {
            dst[i] |= 0x20;
        }
    }

    return n;
}


int
ngx_http_ci_jobs_sign_key(ngx_http_ci_jobs_sign_key_t *key,
    const u_char *secret_key, size_t secret_key_len, time_t start,
    time_t end)
{
    int      n;
    u_char   key_time[NGX_HTTP_CI_JOBS_KEY_TIME_MAX + 1];
    u_char   md[SHA_DIGEST_LENGTH];
    SHA_CTX  inner, outer;

    n = snprintf((char *) key_time, sizeof(key_time), "%lld;%lld",
                 (long long) start, (long long) end);

    if (n <= 0 || (size_t) n >= sizeof(key_time)) {
        return -1;
    }

    ngx_http_ci_jobs_hmac_init(&inner, &outer, secret_key, secret_key_len);
    ngx_http_ci_jobs_hmac(md, &inner, &outer, key_time, n);
    ngx_http_ci_jobs_hex(key->hex, md, sizeof(md));

    memcpy(key->key_time, key_time, n);
    key->key_time_len = n;

    ngx_http_ci_jobs_hmac_init(&key->inner, &key->outer, key->hex,
                               NGX_HTTP_CI_JOBS_SIGN_KEY_LEN);

    /* states keyed with the SecretKey are as secret as the key itself */
    OPENSSL_cleanse(&inner, sizeof(SHA_CTX));
    OPENSSL_cleanse(&outer, sizeof(SHA_CTX));

    return 0;
}


size_t
ngx_http_ci_jobs_sign_size(const ngx_http_ci_jobs_sign_input_t *in)
{
    size_t  len, i;

    len = sizeof("q-sign-algorithm=sha1&q-ak=&q-sign-time=&q-key-time="
                 "&q-header-list=&q-url-param-list=&q-signature=") - 1
          + in->secret_id_len
          + 2 * in->key->key_time_len
          + 2 * 20;                          /* hex of the HMAC-SHA1 */

    /* the lists: each encoded name and a ";" */

    for (i = 0; i < in->nparams; i++) {
        len += 3 * in->params[i].name_len + 1;
    }

    for (i = 0; i < in->nheaders; i++) {
        len += 3 * in->headers[i].name_len + 1;
    }

    return len;
}


size_t
ngx_http_ci_jobs_sign(u_char *buf, const ngx_http_ci_jobs_sign_input_t *in)
{
    size_t                              len;
    u_char                             *p;
    SHA_CTX                             ctx;
    const ngx_http_ci_jobs_pair_t      *params[NGX_HTTP_CI_JOBS_MAX_PAIRS];
    const ngx_http_ci_jobs_pair_t      *headers[NGX_HTTP_CI_JOBS_MAX_PAIRS];
    const ngx_http_ci_jobs_sign_key_t  *key;
    u_char                              md[SHA_DIGEST_LENGTH];
    u_char                              to_sign[sizeof("sha1\n\n\n") - 1
                                                + NGX_HTTP_CI_JOBS_KEY_TIME_MAX
                                                + 2 * SHA_DIGEST_LENGTH];
    u_char                              http[NGX_HTTP_CI_JOBS_HTTP_STRING_MAX];

    if (in->nparams > NGX_HTTP_CI_JOBS_MAX_PAIRS
        || in->nheaders > NGX_HTTP_CI_JOBS_MAX_PAIRS)
    {
        return 0;
    }

    len = in->method_len + 1 + in->path_len + 1
          + ngx_http_ci_jobs_pairs_size(in->params, in->nparams) + 1
          + ngx_http_ci_jobs_pairs_size(in->headers, in->nheaders) + 1;

    if (len > sizeof(http)) {
        return 0;
    }

    key = in->key;

    ngx_http_ci_jobs_sort(params, in->params, in->nparams);
    ngx_http_ci_jobs_sort(headers, in->headers, in->nheaders);

    /* HttpString */

    p = http;

    memcpy(p, in->method, in->method_len);
    p += in->method_len;
    *p++ = '\n';

    memcpy(p, in->path, in->path_len);
    p += in->path_len;
    *p++ = '\n';

    p = ngx_http_ci_jobs_write_pairs(p, params, in->nparams, 1);
    *p++ = '\n';

    p = ngx_http_ci_jobs_write_pairs(p, headers, in->nheaders, 1);
    *p++ = '\n';

    SHA1_Init(&ctx);
    SHA1_Update(&ctx, http, p - http);
    SHA1_Final(md, &ctx);

    /* StringToSign */

    p = to_sign;
    memcpy(p, "sha1\n", sizeof("sha1\n") - 1);
    p += sizeof("sha1\n") - 1;
    memcpy(p, key->key_time, key->key_time_len);
    p += key->key_time_len;
    *p++ = '\n';
    p = ngx_http_ci_jobs_hex(p, md, sizeof(md));
    *p++ = '\n';

    ngx_http_ci_jobs_hmac(md, &key->inner, &key->outer, to_sign,
                          p - to_sign);

    /* Authorization */

    p = buf;

#define ngx_http_ci_jobs_put(s)                                               \
    memcpy(p, s, sizeof(s) - 1);                                              \
    p += sizeof(s) - 1

    ngx_http_ci_jobs_put("q-sign-algorithm=sha1&q-ak=");
    memcpy(p, in->secret_id, in->secret_id_len);
    p += in->secret_id_len;

    ngx_http_ci_jobs_put("&q-sign-time=");
    memcpy(p, key->key_time, key->key_time_len);
    p += key->key_time_len;

    ngx_http_ci_jobs_put("&q-key-time=");
    memcpy(p, key->key_time, key->key_time_len);
    p += key->key_time_len;

    ngx_http_ci_jobs_put("&q-header-list=");
    p = ngx_http_ci_jobs_write_pairs(p, headers, in->nheaders, 0);

    ngx_http_ci_jobs_put("&q-url-param-list=");
    p = ngx_http_ci_jobs_write_pairs(p, params, in->nparams, 0);

    ngx_http_ci_jobs_put("&q-signature=");
    p = ngx_http_ci_jobs_hex(p, md, sizeof(md));

#undef ngx_http_ci_jobs_put

    return p - buf;
}


/* an upper bound of "name=value&..." for these pairs */

static size_t
ngx_http_ci_jobs_pairs_size(const ngx_http_ci_jobs_pair_t *pairs, size_t n)
{
    size_t  i, len;

    for (len = 0, i = 0; i < n; i++) {
        len += 3 * (pairs[i].name_len + pairs[i].value_len) + 2;
    }

    return len;
}


/*
 * Compares the encoded, lower-cased names without building them: byte by
 * byte of their encoded forms.
 */

static int
ngx_http_ci_jobs_cmp_names(const ngx_http_ci_jobs_pair_t *a,
    const ngx_http_ci_jobs_pair_t *b)
{
    size_t  i, j, k, l, la, lb;
    u_char  ea[3], eb[3];

    i = 0;
    j = 0;
    k = 0;
    l = 0;
    la = 0;
    lb = 0;

    for ( ;; ) {
        if (k == la) {
            if (i == a->name_len) {
                break;
            }

            la = ngx_http_ci_jobs_encode_name(ea, &a->name[i++], 1);
            k = 0;
        }

        if (l == lb) {
            if (j == b->name_len) {
                return 1;
            }

            lb = ngx_http_ci_jobs_encode_name(eb, &b->name[j++], 1);
            l = 0;
        }

        if (ea[k] != eb[l]) {
            return ea[k] < eb[l] ? -1 : 1;
        }

        k++;
        l++;
    }

    /* a is exhausted */

    return (l == lb && j == b->name_len) ? 0 : -1;
}


/* a stable insertion sort: the lists are short */

static void
ngx_http_ci_jobs_sort(const ngx_http_ci_jobs_pair_t **sorted,
    const ngx_http_ci_jobs_pair_t *pairs, size_t n)
{
    size_t                          i, j;
    const ngx_http_ci_jobs_pair_t  *pair;

    for (i = 0; i < n; i++) {
        pair = &pairs[i];

        for (j = i; j > 0 && ngx_http_ci_jobs_cmp_names(sorted[j - 1], pair)
                             > 0; j--)
        {
            sorted[j] = sorted[j - 1];
        }

        sorted[j] = pair;
    }
}


/*
 * The sorted names, encoded: "a=1&b=2" with their values (HttpParameters,
 * HttpHeaders), "a;b" without (q-url-param-list, q-header-list).
 */

static u_char *
ngx_http_ci_jobs_write_pairs(u_char *p, const ngx_http_ci_jobs_pair_t **sorted,
    size_t n, int values)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = values ? '&' : ';';
        }

        p += ngx_http_ci_jobs_encode_name(p, sorted[i]->name,
                                          sorted[i]->name_len);

        if (values) {
            *p++ = '=';
            p += ngx_http_ci_jobs_uri_encode(p, sorted[i]->value,
                                             sorted[i]->value_len);
        }
    }

    return p;
}


static u_char *
ngx_http_ci_jobs_hex(u_char *dst, const u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


/*
 * HMAC-SHA1 (RFC 2104) split in two: the states after the key's inner and
 * outer pads, computed once per key, and the MAC of a message continuing
 * from copies of them.  HMAC() would hash the pads and look the digest up
 * again on every call.
 */

static void
ngx_http_ci_jobs_hmac_init(SHA_CTX *inner, SHA_CTX *outer, const u_char *key,
    size_t len)
{
    size_t  i;
    u_char  pad[NGX_HTTP_CI_JOBS_SHA1_BLOCK];
    u_char  hashed[SHA_DIGEST_LENGTH];

    if (len > NGX_HTTP_CI_JOBS_SHA1_BLOCK) {
        SHA1(key, len, hashed);
        key = hashed;
        len = sizeof(hashed);
    }

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] = (i < len ? key[i] : 0) ^ 0x36;
    }

    SHA1_Init(inner);
    SHA1_Update(inner, pad, sizeof(pad));

    for (i = 0; i < sizeof(pad); i++) {
        pad[i] ^= 0x36 ^ 0x5c;
    }

    SHA1_Init(outer);
    SHA1_Update(outer, pad, sizeof(pad));

    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(hashed, sizeof(hashed));
}


static void
ngx_http_ci_jobs_hmac(u_char *md, const SHA_CTX *inner, const SHA_CTX *outer,
    const u_char *data, size_t len)
{
    SHA_CTX  ctx;

    ctx = *inner;
    SHA1_Update(&ctx, data, len);
    SHA1_Final(md, &ctx);

    ctx = *outer;
    SHA1_Update(&ctx, md, SHA_DIGEST_LENGTH);
    SHA1_Final(md, &ctx);
}
