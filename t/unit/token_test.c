
/*
 * Access tokens: the JWK Set, strict base64url, and the token check
 * against RFC 7515's HS256 example and tokens minted by jsonwebtoken and
 * jws (t/lib/jwt_mint.js), kept here as they were minted; the cache of
 * tokens checked against the full check, with tokens signed here.
 */


#include <stdint.h>
#include <stdlib.h>

#include "tap.h"
#include "ngx_http_ci_jobs_token.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


/* "0123456789abcdef0123456789abcdef", kid k1 */
#define KEY1  "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
#define KEY2  "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6"

#define SET_K1                                                                \
    "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k1\",\"k\":\"" KEY1 "\"},"         \
    "{\"kty\":\"oct\",\"kid\":\"k2\",\"k\":\"" KEY2 "\"}]}"

/* exp 2000000000, nbf 1900000000, sub user-1, ci_jobs j1 j2, q1, w1 */
#define GOOD                                                                  \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0."                    \
    "eyJleHAiOjIwMDAwMDAwMDAsIm5iZiI6MTkwMDAwMDAwMCwic3ViIjoidXNlci0xIiwi"    \
    "Y2lfam9icyI6WyJqMSIsImoyIl0sImNpX3F1ZXVlcyI6WyJxMSJdLCJjaV93b3JrZmxv"    \
    "d3MiOlsidzEiXX0.T91TjbYHz9dzreaf9nmZAuIAPPtgP1tW3vdg11063_I"

#define NOW  1950000000


static ngx_http_ci_jobs_jwks_t         set;
static time_t                          max_ttl = 1000000000;
static ngx_http_ci_jobs_token_cache_t  cache;


static int
jwks(const char *s, const char **error)
{
    return ngx_http_ci_jobs_jwks_parse(&set, (const u_char *) s, strlen(s),
                                       error);
}


/* a check in full, or through cache c when it is not NULL */

static int
through(ngx_http_ci_jobs_token_cache_t *c, const char *token, time_t now,
    const char *claim, const char *items, unsigned split, u_char *sub,
    size_t *sub_len)
{
    ngx_http_ci_jobs_scope_t  scope;

    scope.claim = claim;
    scope.items = (const u_char *) items;
    scope.items_len = items ? strlen(items) : 0;
    scope.split = split;

    if (c != NULL) {
        return ngx_http_ci_jobs_token_check_cached(c, (const u_char *) token,
                                                   strlen(token), &set, now,
                                                   max_ttl, &scope, sub,
                                                   sub_len);
    }

    return ngx_http_ci_jobs_token_check((const u_char *) token,
                                        strlen(token), &set, now, max_ttl,
                                        &scope, sub, sub_len);
}


static int
check(const char *token, time_t now, const char *claim, const char *items,
    unsigned split, u_char *sub, size_t *sub_len)
{
    return through(NULL, token, now, claim, items, split, sub, sub_len);
}


static int
cached(const char *token, time_t now, const char *claim, const char *items,
    unsigned split, u_char *sub, size_t *sub_len)
{
    return through(&cache, token, now, claim, items, split, sub, sub_len);
}


static int
jobs(const char *token, const char *ids)
{
    size_t  len;
    u_char  sub[NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN];

    return check(token, NOW, "ci_jobs", ids, 1, sub, &len);
}


static size_t
encode(char *dst, const u_char *src, size_t len)
{
    size_t       i;
    char        *p;
    uint32_t     v;
    static char  digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    p = dst;

    for (i = 0; i < len; i += 3) {
        v = (uint32_t) src[i] << 16;
        v |= i + 1 < len ? (uint32_t) src[i + 1] << 8 : 0;
        v |= i + 2 < len ? src[i + 2] : 0;

        *p++ = digits[v >> 18 & 63];
        *p++ = digits[v >> 12 & 63];

        if (i + 1 < len) {
            *p++ = digits[v >> 6 & 63];
        }

        if (i + 2 < len) {
            *p++ = digits[v & 63];
        }
    }

    *p = '\0';

    return p - dst;
}


/* a token of kid k1 for the claims given as JSON, into dst */

static char *
sign(char *dst, const char *claims)
{
    char          *p;
    unsigned int   mdlen;
    u_char         md[EVP_MAX_MD_SIZE];

    static const char  header[] = "{\"alg\":\"HS256\",\"kid\":\"k1\"}";

    p = dst;
    p += encode(p, (const u_char *) header, sizeof(header) - 1);
    *p++ = '.';
    p += encode(p, (const u_char *) claims, strlen(claims));

    HMAC(EVP_sha256(), "0123456789abcdef0123456789abcdef", 32,
         (u_char *) dst, p - dst, md, &mdlen);

    *p++ = '.';
    encode(p, md, mdlen);

    return dst;
}


static size_t
cache_used(void)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < sizeof(cache.entries) / sizeof(cache.entries[0]); i++) {
        n += cache.entries[i].used != 0;
    }

    return n;
}


static void
test_cache(void)
{
    int          rc, want;
    char        *ids;
    size_t       i, len, want_len, used;
    uint64_t     hits, misses;
    const char  *error;
    char         tok[2048], claims[1280], id[16], tampered[sizeof(GOOD)];
    u_char       sub[NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN];
    u_char       want_sub[NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN];

    static const struct {
        const char  *claim;
        const char  *items;
        unsigned     split;
        int          rc;
        const char  *name;
    } scopes[] = {
        { "ci_jobs", "j1,j3", 1, NGX_HTTP_CI_JOBS_TOKEN_SCOPE,
          "an id outside" },
        { "ci_jobs", "j", 1, NGX_HTTP_CI_JOBS_TOKEN_SCOPE, "a prefix" },
        { "ci_queues", "q1", 0, NGX_HTTP_CI_JOBS_TOKEN_OK, "its queue" },
        { "ci_workflows", "q1", 0, NGX_HTTP_CI_JOBS_TOKEN_SCOPE,
          "a queue is no workflow" },
        { "ci_workflows", "w1", 0, NGX_HTTP_CI_JOBS_TOKEN_OK, "its workflow" },
        { "ci_workflows", NULL, 0, NGX_HTTP_CI_JOBS_TOKEN_SCOPE,
          "no workflowId" },
    };

    ngx_http_ci_jobs_token_cache_init(&cache, 0x0123456789abcdefULL);

    len = 99;
    tap_ok(cached(GOOD, NOW, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK
           && cache.misses == 1 && cache.hits == 0,
           "cache: a valid token, checked in full");
    tap_is_mem(sub, len, "user-1", "cache: its sub");

    len = 99;
    tap_ok(cached(GOOD, NOW, "ci_jobs", "j2,j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK && cache.hits == 1,
           "cache: the same token, found");
    tap_is_mem(sub, len, "user-1", "cache: its sub, from the cache");

    /* the scope is each request's own */

    for (i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
        rc = cached(GOOD, NOW, scopes[i].claim, scopes[i].items,
                    scopes[i].split, sub, &len);
        tap_ok(rc == scopes[i].rc
               && (rc == NGX_HTTP_CI_JOBS_TOKEN_OK ? len == 6 : len == 0),
               "cache: %s", scopes[i].name);
    }

    tap_ok(cache.misses == 1, "cache: all of them from the cache");

    /* a byte changed: the bytes are compared, not the hash alone */

    memcpy(tampered, GOOD, sizeof(GOOD));
    tampered[sizeof(GOOD) - 5] ^= 1;    /* "...063_I": '0' to '1' */
    tap_ok(cached(tampered, NOW, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE,
           "cache: the token with a byte of its signature changed");

    /*
     * The set is chosen by the last bytes: a token ending as the one kept
     * lands in its set, and is still compared whole and refused.
     */

    memcpy(tampered, GOOD, sizeof(GOOD));
    tampered[strchr(GOOD, '.') - GOOD + 4] ^= 1;
    hits = cache.hits;
    tap_ok(cached(tampered, NOW, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE && cache.hits == hits,
           "cache: the token with a byte of its payload changed");
    tap_ok(cached(GOOD, NOW, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK && cache.hits == hits + 1,
           "cache: the one kept, still found");

    /* a byte changed at each place: never found, every byte compared */

    rc = 0;
    hits = cache.hits;

    for (i = 0; i < sizeof(GOOD) - 1; i++) {
        memcpy(tampered, GOOD, sizeof(GOOD));
        tampered[i] ^= 1;

        if (cached(tampered, NOW, "ci_jobs", "j1", 1, sub, &len)
            == NGX_HTTP_CI_JOBS_TOKEN_OK)
        {
            rc = -1;
        }
    }

    tap_ok(rc == 0 && cache.hits == hits,
           "cache: a byte changed at any of %zu places, refused",
           sizeof(GOOD) - 1);

    /* the time, at each use */

    tap_ok(cached(GOOD, 1899999969, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED, "cache: 31 s before nbf");
    tap_ok(cached(GOOD, 1899999970, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK, "cache: 30 s before nbf");
    max_ttl = 86400;
    tap_ok(cached(GOOD, 2000000000 - 86400 - 31, "ci_jobs", "j1", 1, sub,
                  &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED,
           "cache: exp beyond the location's max_ttl");
    max_ttl = 1000000000;
    tap_ok(cached(GOOD, 2000000029, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK, "cache: 29 s after exp");

    hits = cache.hits;
    misses = cache.misses;
    tap_ok(cached(GOOD, 2000000030, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED && cache.hits == hits + 1,
           "cache: 30 s after exp, refused from the cache");
    tap_ok(cache_used() == 0, "cache: and the entry gone");
    tap_ok(cached(GOOD, 2000000031, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED
           && cache.misses == misses + 1 && cache_used() == 0,
           "cache: an expired token is checked in full and not kept");

    /* a new key set: flushed, the token of a key removed refused */

    tap_ok(cached(GOOD, NOW, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK && cache_used() == 1,
           "cache: the token kept again");
    tap_ok(jwks("{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k2\",\"k\":\""
                KEY2 "\"}]}", &error) == 0, "cache: a set without k1");
    ngx_http_ci_jobs_token_cache_flush(&cache);
    tap_ok(cache_used() == 0, "cache: flushed");
    tap_ok(cached(GOOD, NOW, "ci_jobs", "j1", 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE,
           "cache: the token of the key removed refused");
    tap_ok(jwks(SET_K1, &error) == 0, "cache: k1 back");
    ngx_http_ci_jobs_token_cache_flush(&cache);

    /* many tokens: the cache stays bounded, every answer the full one's */

    rc = 0;

    for (i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "j%zu", i % 1000);
        snprintf(claims, sizeof(claims),
                 "{\"sub\":\"user-%zu\",\"exp\":%zu,\"ci_jobs\":[\"%s\"]}",
                 i % 1000, 2000000000 + i % 1000, id);
        sign(tok, claims);

        /* its own id two times in three, another's the third */
        ids = i % 3 ? id : "j1";

        want = check(tok, NOW, "ci_jobs", ids, 1, want_sub, &want_len);

        if (cached(tok, NOW, "ci_jobs", ids, 1, sub, &len) != want
            || len != want_len || memcmp(sub, want_sub, len) != 0)
        {
            rc = -1;
        }
    }

    tap_ok(rc == 0, "cache: 3,000 checks of 1,000 tokens, as the full check");
    tap_ok(cache_used() == NGX_HTTP_CI_JOBS_TOKEN_CACHE_SETS
                           * NGX_HTTP_CI_JOBS_TOKEN_CACHE_WAYS,
           "cache: full, at %zu entries", cache_used());

    hits = cache.hits;
    tap_ok(cached(tok, NOW, "ci_jobs", id, 1, sub, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK && cache.hits == hits + 1,
           "cache: the last token used, found");

    /* a token too large for an entry: checked in full each time */

    strcpy(claims, "{\"exp\":2000000000,\"ci_jobs\":[");
    for (i = 0; i < 30; i++) {
        strcat(claims, i ? ",\"j8d121820f5e411ec926ef19d53ba9c6f\""
                         : "\"j8d121820f5e411ec926ef19d53ba9c6f\"");
    }
    strcat(claims, "]}");
    sign(tok, claims);

    hits = cache.hits;
    misses = cache.misses;
    used = cache_used();

    for (i = 0; i < 2; i++) {
        tap_ok(cached(tok, NOW, "ci_jobs",
                      "j8d121820f5e411ec926ef19d53ba9c6f", 1, sub, &len)
               == NGX_HTTP_CI_JOBS_TOKEN_OK,
               "cache: a %zu-byte token, valid", strlen(tok));
    }

    tap_ok(strlen(tok) >= NGX_HTTP_CI_JOBS_TOKEN_CACHE_DATA
           && cache.hits == hits && cache.misses == misses
           && cache_used() == used,
           "cache: and not kept");

    ngx_http_ci_jobs_token_cache_flush(&cache);
    tap_ok(cache_used() == 0, "cache: flushed at the end");
}


int
main(void)
{
    int          rc;
    size_t       i, len;
    ssize_t      n;
    const char  *error;
    u_char       buf[NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN];
    char         big[NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN + 2];

    static const struct {
        const char  *in;
        const char  *out;   /* NULL: refused */
    } b64[] = {
        { "", "" },
        { "Zg", "f" },
        { "Zm8", "fo" },
        { "Zm9v", "foo" },
        { "-_-_", "\xfb\xff\xbf" },
        { "Zg==", NULL },          /* padding */
        { "Zm8=", NULL },
        { "+/+/", NULL },          /* the standard alphabet */
        { "Z", NULL },             /* a length no encoding has */
        { "Zh", NULL },            /* bits past the last byte */
        { "Zm9", NULL },
        { "Zm 9v", NULL },
        { "Zm9v\n", NULL }
    };

    static const struct {
        const char  *json;
        const char  *error;   /* a part of it; NULL: accepted */
        size_t       nkeys;
    } sets[] = {
        { SET_K1, NULL, 2 },
        { "{\"keys\":[{\"kty\":\"oct\",\"k\":\"" KEY1 "\"}]}", NULL, 1 },
        { "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"x\",\"e\":\"AQAB\"},"
          "{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"" KEY1 "\","
          "\"alg\":\"HS256\",\"use\":\"sig\"},"
          "{\"kty\":\"oct\",\"kid\":\"b\",\"k\":\"" KEY2 "\","
          "\"alg\":\"HS512\"}]}", NULL, 1 },
        { "", "not JSON", 0 },
        { "{\"keys\":[", "not JSON", 0 },
        { "[]", "no \"keys\"", 0 },
        { "{\"keys\":{}}", "no \"keys\"", 0 },
        { "{\"keys\":[]}", "no \"oct\" key", 0 },
        { "{\"keys\":[1]}", "not a JSON object", 0 },
        { "{\"keys\":[{\"kty\":\"RSA\"}]}", "no \"oct\" key", 0 },
        { "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\"}]}", "no \"k\"", 0 },
        { "{\"keys\":[{\"kty\":\"oct\",\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAx"
          "MjM0NTY3ODlhYmNkZQ\"}]}", "shorter than 32", 0 },
        { "{\"keys\":[{\"kty\":\"oct\",\"k\":\"" KEY1 "=\"}]}",
          "not base64url", 0 },
        { "{\"keys\":[{\"kty\":\"oct\",\"k\":\"" KEY1 "\"},"
          "{\"kty\":\"oct\",\"kid\":\"b\",\"k\":\"" KEY2 "\"}]}",
          "has no \"kid\"", 0 },
        { "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"" KEY1 "\"},"
          "{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"" KEY2 "\"}]}",
          "same \"kid\"", 0 },
        { "{\"keys\":[{\"kty\":\"oct\",\"kid\":7,\"k\":\"" KEY1 "\"}]}",
          "\"kid\" is not a string", 0 },
        { "{\"keys\":[],\"keys\":[]}", "not JSON", 0 }
    };

    /* strict base64url */

    for (i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
        n = ngx_http_ci_jobs_base64url_decode(buf, (const u_char *) b64[i].in,
                                              strlen(b64[i].in));
        if (b64[i].out == NULL) {
            tap_ok(n == -1, "base64url \"%s\" refused", b64[i].in);

        } else {
            tap_is_mem(buf, n < 0 ? 0 : n, b64[i].out,
                       "base64url \"%s\"", b64[i].in);
        }
    }

    /* the key set */

    for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        error = "";
        rc = jwks(sets[i].json, &error);

        if (sets[i].error == NULL) {
            tap_ok(rc == 0 && set.nkeys == sets[i].nkeys,
                   "key set %zu: %zu keys", i, sets[i].nkeys);

        } else {
            tap_ok(rc == -1 && strstr(error, sets[i].error) != NULL
                   && strstr(error, "MDEy") == NULL,
                   "key set %zu refused: %s (%s)", i, sets[i].error, error);
        }
    }

    /* RFC 7515 appendix A.1: a set of one key needs no kid */

    tap_ok(jwks("{\"keys\":[{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qz"
                "KObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9C"
                "Aow\"}]}", &error) == 0, "RFC 7515's key");

#define RFC7515                                                               \
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."                               \
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"    \
    "LmNvbS9pc19yb290Ijp0cnVlfQ."

    tap_ok(check(RFC7515 "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                 1300819000, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SCOPE,
           "RFC 7515 A.1: signature valid, no ci_jobs claim");
    tap_ok(check(RFC7515 "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
                 1300819000, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED,
           "RFC 7515 A.1: bits past the signature's end");
    tap_ok(check(RFC7515 "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXY",
                 1300819000, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE,
           "RFC 7515 A.1: another signature");
    tap_ok(check(RFC7515 "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                 1300819380 + 30, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED,
           "RFC 7515 A.1: expired past the leeway");

    /* tokens of jsonwebtoken and jws */

    tap_ok(jwks(SET_K1, &error) == 0, "the set of k1 and k2");

    len = 99;
    tap_ok(check(GOOD, NOW, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK, "a valid token");
    tap_is_mem(buf, len, "user-1", "its sub");

    tap_ok(jobs(GOOD, "j2,j1") == NGX_HTTP_CI_JOBS_TOKEN_OK, "both ids");
    tap_ok(jobs(GOOD, "j1,j3") == NGX_HTTP_CI_JOBS_TOKEN_SCOPE,
           "an id outside");
    tap_ok(jobs(GOOD, "j1,") == NGX_HTTP_CI_JOBS_TOKEN_SCOPE, "an empty id");
    tap_ok(jobs(GOOD, "") == NGX_HTTP_CI_JOBS_TOKEN_SCOPE, "no id");
    tap_ok(jobs(GOOD, "j") == NGX_HTTP_CI_JOBS_TOKEN_SCOPE, "a prefix");
    tap_ok(check(GOOD, NOW, "ci_queues", "q1", 0, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK, "its queue");
    tap_ok(check(GOOD, NOW, "ci_queues", "q1,q1", 0, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SCOPE, "a list value is not split");
    tap_ok(check(GOOD, NOW, "ci_workflows", "q1", 0, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SCOPE, "a queue is no workflow");
    tap_ok(check(GOOD, NOW, "ci_workflows", NULL, 0, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_SCOPE, "no workflowId");

    /* exp 2000000000, nbf 1900000000, 30 s of leeway on both */

    tap_ok(check(GOOD, 2000000029, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK, "29 s after exp");
    tap_ok(check(GOOD, 2000000030, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED, "30 s after exp");
    tap_ok(check(GOOD, 1899999970, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK, "30 s before nbf");
    tap_ok(check(GOOD, 1899999969, "ci_jobs", "j1", 1, buf, &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED, "31 s before nbf");
    max_ttl = 86400;
    tap_ok(check(GOOD, 2000000000 - 86400 - 30, "ci_jobs", "j1", 1, buf,
                 &len)
           == NGX_HTTP_CI_JOBS_TOKEN_OK, "exp max_ttl ahead, with leeway");
    tap_ok(check(GOOD, 2000000000 - 86400 - 31, "ci_jobs", "j1", 1, buf,
                 &len)
           == NGX_HTTP_CI_JOBS_TOKEN_EXPIRED, "exp beyond max_ttl");
    max_ttl = 1000000000;

    tap_ok(jobs("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0."
                "eyJleHAiOjIwMDAwMDAwMDAsImNpX2pvYnMiOiJqMSJ9."
                "flhCDRkgm5sxJZCs78OWbMwosXCxyv7QzhgFGknUZp8", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "ci_jobs a string");
    tap_ok(jobs("eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0."
                "eyJleHAiOjIwMDAwMDAwMDAsImNpX2pvYnMiOlsiajEiXX0."
                "iRrKLITsPpUHIpsMNavfyMHyijoteuzwHPLPdLARU4nBKJe8gyma5q8sxK"
                "fgHwNP", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "HS384");
    tap_ok(jobs("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0."
                "eyJleHAiOiIyMDAwMDAwMDAwIiwiY2lfam9icyI6WyJqMSJdfQ."
                "hH9FZ3H-J9-FBRr1wYW1F7wnPOOPG-mC7eVOzAAFhRo", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "exp a string");
    tap_ok(jobs("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0.bm90IGpzb24."
                "kN0YSX9e4NOVH9ymH34awkQT3gCfcwnFOwGBmQ_0WlU", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "a payload not JSON");
    tap_ok(jobs("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIn0."
                "eyJleHAiOjIwMDAwMDAwMDAsImV4cCI6MjAwMDAwMDAwMSwiY2lfam9icyI6"
                "WyJqMSJdfQ.YN5-UWAMOUqsRWDYAs4hPQPuODun8eSyFo8Rh5txRic", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "exp twice");
    tap_ok(jobs("eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwiY3JpdCI6WyJ4Il19."
                "eyJleHAiOjIwMDAwMDAwMDAsImNpX2pvYnMiOlsiajEiXX0."
                "LkQHHTqJHCwLMrEQFnHWhDsF5NhLYO036c6gBye370E", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "a crit header");

    /* the form */

    tap_ok(jobs("", "j1") == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "empty");
    tap_ok(jobs("a.b", "j1") == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED,
           "two parts");
    tap_ok(jobs(GOOD ".x", "j1") == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED,
           "four parts");
    tap_ok(jobs("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0."
                "eyJleHAiOjIwMDAwMDAwMDAsImNpX2pvYnMiOlsiajEiXX0.", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE, "no signature");
    tap_ok(jobs("eyJhbGciOiJub25lIiwia2lkIjoiazEifQ."
                "eyJleHAiOjIwMDAwMDAwMDAsImNpX2pvYnMiOlsiajEiXX0.", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED, "alg none");
    tap_ok(jobs("eyJhbGciOiJIUzI1NiIsImtpZCI6Ijk5In0."
                "eyJleHAiOjIwMDAwMDAwMDAsImNpX2pvYnMiOlsiajEiXX0."
                "T91TjbYHz9dzreaf9nmZAuIAPPtgP1tW3vdg11063_I", "j1")
           == NGX_HTTP_CI_JOBS_TOKEN_SIGNATURE, "an unknown kid");

    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, GOOD, sizeof(GOOD) - 1);
    tap_ok(jobs(big, "j1") == NGX_HTTP_CI_JOBS_TOKEN_MALFORMED,
           "over %d bytes", NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN);

    test_cache();

    ngx_http_ci_jobs_jwks_clear(&set);
    tap_ok(set.nkeys == 0, "a set cleared");

    return tap_done();
}
