
/*
 * Access tokens: the JWK Set, strict base64url, and the token check
 * against RFC 7515's HS256 example and tokens minted by jsonwebtoken and
 * jws (t/lib/jwt_mint.js), kept here as they were minted.
 */


#include <stdint.h>

#include "tap.h"
#include "ngx_http_ci_jobs_token.h"


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


static ngx_http_ci_jobs_jwks_t  set;
static time_t                   max_ttl = 1000000000;


static int
jwks(const char *s, const char **error)
{
    return ngx_http_ci_jobs_jwks_parse(&set, (const u_char *) s, strlen(s),
                                       error);
}


static int
check(const char *token, time_t now, const char *claim, const char *items,
    unsigned split, u_char *sub, size_t *sub_len)
{
    ngx_http_ci_jobs_scope_t  scope;

    scope.claim = claim;
    scope.items = (const u_char *) items;
    scope.items_len = items ? strlen(items) : 0;
    scope.split = split;

    return ngx_http_ci_jobs_token_check((const u_char *) token,
                                        strlen(token), &set, now, max_ttl,
                                        &scope, sub, sub_len);
}


static int
jobs(const char *token, const char *ids)
{
    size_t  len;
    u_char  sub[NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN];

    return check(token, NOW, "ci_jobs", ids, 1, sub, &len);
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

    ngx_http_ci_jobs_jwks_clear(&set);
    tap_ok(set.nkeys == 0, "a set cleared");

    return tap_done();
}
