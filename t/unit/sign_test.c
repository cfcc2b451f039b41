
/*
 * The COS signature against the official vectors of the documentation and
 * the SDK-computed CI vectors (../shared/cos-signature.md), and the
 * encoder on the characters signing gateways get wrong.
 */


#include <stdlib.h>

#include "tap.h"
#include "ngx_http_ci_jobs_sign.h"


#define S(s)  (const u_char *) (s), sizeof(s) - 1


static const char  *secret_id = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
static const char  *secret_key = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";
static const char  *ci_host = "examplebucket-1250000000.ci.ap-beijing"
                              ".myqcloud.com";


static size_t
sign(u_char *out, const char *method, const char *path,
    const ngx_http_ci_jobs_pair_t *params, size_t nparams,
    const ngx_http_ci_jobs_pair_t *headers, size_t nheaders,
    time_t start, time_t end)
{
    ngx_http_ci_jobs_sign_key_t    key;
    ngx_http_ci_jobs_sign_input_t  in;

    ngx_http_ci_jobs_sign_key(&key, (const u_char *) secret_key,
                              strlen(secret_key), start, end);

    memset(&in, 0, sizeof(in));
    in.method = (const u_char *) method;
    in.method_len = strlen(method);
    in.path = (const u_char *) path;
    in.path_len = strlen(path);
    in.params = params;
    in.nparams = nparams;
    in.headers = headers;
    in.nheaders = nheaders;
    in.secret_id = (const u_char *) secret_id;
    in.secret_id_len = strlen(secret_id);
    in.key = &key;

    if (out == NULL) {
        return ngx_http_ci_jobs_sign_size(&in);
    }

    return ngx_http_ci_jobs_sign(out, &in);
}


static const char *
signature(const u_char *auth, size_t len)
{
    static char  sig[64];
    const char  *p;

    p = strstr((const char *) auth, "&q-signature=");
    if (p == NULL || (size_t) (p - (const char *) auth) > len) {
        return "";
    }

    snprintf(sig, sizeof(sig), "%.40s", p + sizeof("&q-signature=") - 1);
    return sig;
}


static void
test_sign_keys(void)
{
    u_char                       long_key[100];
    ngx_http_ci_jobs_sign_key_t  key;

    ngx_http_ci_jobs_sign_key(&key, (const u_char *) secret_key,
                              strlen(secret_key), 1557989151, 1557996351);
    tap_is_mem(key.hex, sizeof(key.hex),
               "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f",
               "SignKey of the PUT vector");

    ngx_http_ci_jobs_sign_key(&key, (const u_char *) secret_key,
                              strlen(secret_key), 1557989753, 1557996953);
    tap_is_mem(key.hex, sizeof(key.hex),
               "937914bf490e9e8c189836aad2052e4feeb35eaf",
               "SignKey of the GET vector");

    /*
     * Keys of a whole SHA-1 block and longer (hashed first, RFC 2104):
     * printf '1557989151;1557996351' | openssl dgst -sha1 -hmac aaa...a
     */

    memset(long_key, 'a', 64);
    ngx_http_ci_jobs_sign_key(&key, long_key, 64, 1557989151, 1557996351);
    tap_is_mem(key.hex, sizeof(key.hex),
               "64f85466f0b73761360e60b11480362677b112f7",
               "SignKey of a 64-byte SecretKey");

    memset(long_key, 'b', 100);
    ngx_http_ci_jobs_sign_key(&key, long_key, 100, 1557989151, 1557996351);
    tap_is_mem(key.hex, sizeof(key.hex),
               "d161125ecd20f44a71febe0cce16aeaa17cebaa9",
               "SignKey of a 100-byte SecretKey");
}


static void
test_official_vectors(void)
{
    size_t  n;
    u_char  out[2048];

    ngx_http_ci_jobs_pair_t  put_headers[] = {
        { S("Date"), S("Thu, 16 May 2019 06:45:51 GMT") },
        { S("Host"),
          S("examplebucket-1250000000.cos.ap-beijing.myqcloud.com") },
        { S("Content-Type"), S("text/plain") },
        { S("Content-Length"), S("13") },
        { S("Content-MD5"), S("mQ/fVh815F3k6TAUm8m0eg==") },
        { S("x-cos-acl"), S("private") },
        { S("x-cos-grant-read"), S("uin=\"100000000011\"") },
    };

    ngx_http_ci_jobs_pair_t  get_headers[] = {
        { S("Date"), S("Thu, 16 May 2019 06:55:53 GMT") },
        { S("Host"),
          S("examplebucket-1250000000.cos.ap-beijing.myqcloud.com") },
    };

    ngx_http_ci_jobs_pair_t  get_params[] = {
        { S("response-content-type"), S("application/octet-stream") },
        { S("response-cache-control"), S("max-age=600") },
    };

    n = sign(out, "put", "/exampleobject(腾讯云)", NULL, 0, put_headers, 7,
             1557989151, 1557996351);
    out[n] = '\0';
    tap_ok(strcmp(signature(out, n),
                  "3b8851a11a569213c17ba8fa7dcf2abec6935172") == 0,
           "PUT vector: signature (got %s)", signature(out, n));
    tap_ok(strstr((char *) out, "&q-header-list=content-length;content-md5;"
                  "content-type;date;host;x-cos-acl;x-cos-grant-read"
                  "&q-url-param-list=&") != NULL,
           "PUT vector: sorted header list, empty param list");
    tap_ok(n <= sign(NULL, "put", "/exampleobject(腾讯云)", NULL, 0,
                     put_headers, 7, 1557989151, 1557996351),
           "PUT vector: within sign_size()");

    n = sign(out, "get", "/exampleobject(腾讯云)", get_params, 2, get_headers,
             2, 1557989753, 1557996953);
    out[n] = '\0';
    tap_ok(strcmp(signature(out, n),
                  "01681b8c9d798a678e43b685a9f1bba0f6c0e012") == 0,
           "GET vector: signature (got %s)", signature(out, n));
    tap_ok(strstr((char *) out, "&q-url-param-list=response-cache-control;"
                  "response-content-type&") != NULL,
           "GET vector: sorted param list");
}


static void
test_ci_vectors(void)
{
    size_t  n;
    u_char  out[2048];

    ngx_http_ci_jobs_pair_t  host[] = {
        { S("host"), (const u_char *) ci_host, 0 }
    };

    ngx_http_ci_jobs_pair_t  list[] = {
        { S("queueId"), S("p5ad1499214024af2bfaa4401d529xxxx") },
        { S("tag"), S("Transcode") },
        { S("states"), S("Failed") },
        { S("size"), S("10") },
    };

    host[0].value_len = strlen(ci_host);

    n = sign(out, "get", "/jobs/j1", NULL, 0, host, 1, 1700000000,
             1900000000);
    tap_is_mem(out, n, "q-sign-algorithm=sha1"
               "&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
               "&q-sign-time=1700000000;1900000000"
               "&q-key-time=1700000000;1900000000"
               "&q-header-list=host&q-url-param-list="
               "&q-signature=86bd7ddf15d8a27b873c25a7e0388ec68db0f089",
               "CI vector GET /jobs/j1: the whole Authorization");

    n = sign(out, "get", "/pic_jobs/j1", NULL, 0, host, 1, 1700000000,
             1900000000);
    out[n] = '\0';
    tap_ok(strcmp(signature(out, n),
                  "1d72f14378f6dccade0eda8aea4d41ba3dddff0a") == 0,
           "CI vector GET /pic_jobs/j1");

    n = sign(out, "get", "/jobs", list, 4, host, 1, 1700000000, 1900000000);
    tap_is_mem(out, n, "q-sign-algorithm=sha1"
               "&q-ak=AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
               "&q-sign-time=1700000000;1900000000"
               "&q-key-time=1700000000;1900000000"
               "&q-header-list=host&q-url-param-list=queueid;size;states;tag"
               "&q-signature=1f98c7ff182378dc5e0236faffffaa7bee49d0b1",
               "CI vector GET /jobs?queueId=..: names folded and sorted");
}


static void
test_encoder(void)
{
    size_t  n;
    u_char  out[256];

    static const struct {
        const char  *in;
        const char  *out;
    } cases[] = {
        { "a b", "a%20b" },
        { "a+b", "a%2Bb" },
        { "a/b", "a%2Fb" },
        { "~-_.", "~-_." },
        { "*", "%2A" },
        { "%", "%25" },
        { "!'()", "%21%27%28%29" },
        { "=&;,", "%3D%26%3B%2C" },
        { "腾讯云", "%E8%85%BE%E8%AE%AF%E4%BA%91" },
        { "2001-01-01T00:00:00+0800", "2001-01-01T00%3A00%3A00%2B0800" },
        { "AZaz09", "AZaz09" },
        { "", "" },
        { "\x01\x7f\xff", "%01%7F%FF" },
    };

    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = ngx_http_ci_jobs_uri_encode(out, (const u_char *) cases[i].in,
                                        strlen(cases[i].in));
        tap_is_mem(out, n, cases[i].out, "UrlEncode(\"%s\")", cases[i].out);
        tap_ok(n == ngx_http_ci_jobs_uri_encode(NULL,
                                                (const u_char *) cases[i].in,
                                                strlen(cases[i].in)),
               "UrlEncode length of \"%s\"", cases[i].out);
    }
}


/*
 * Parameters with punctuation, empty values and upper-case names.  The
 * expected signature was computed from the documented rules with the
 * openssl command line, independently of this code:
 *
 *   kt='1700000000;1900000000'
 *   sk=$(printf %s "$kt" | openssl dgst -sha1 -hmac "$SECRET_KEY")
 *   hs=$(printf 'get\n/jobs\ninputobject=&nexttoken=a%%2Bb%%2Fc%%3Dd'\
 *        '%%26e%%20f%%25g%%2Ah%%21i%%27j%%28k%%29l~m&queueid=p1'\
 *        '&tag=Transcode\nhost=<host>\n' | openssl dgst -sha1)
 *   printf 'sha1\n%s\n%s\n' "$kt" "$hs" | openssl dgst -sha1 -hmac "$sk"
 */

static void
test_parameters(void)
{
    size_t  n;
    u_char  out[2048];

    ngx_http_ci_jobs_pair_t  host[] = {
        { S("host"), (const u_char *) ci_host, 0 }
    };

    ngx_http_ci_jobs_pair_t  params[] = {
        { S("queueId"), S("p1") },
        { S("tag"), S("Transcode") },
        { S("nextToken"), S("a+b/c=d&e f%g*h!i'j(k)l~m") },
        { S("inputObject"), S("") },
    };

    ngx_http_ci_jobs_pair_t  many[NGX_HTTP_CI_JOBS_MAX_PAIRS + 1];

    host[0].value_len = strlen(ci_host);

    n = sign(out, "get", "/jobs", params, 4, host, 1, 1700000000,
             1900000000);
    out[n] = '\0';
    tap_ok(strstr((char *) out, "&q-url-param-list=inputobject;nexttoken;"
                  "queueid;tag&") != NULL,
           "names lower-cased and sorted, the empty one included");
    tap_ok(strcmp(signature(out, n),
                  "5fa84930f9a87aac8c15c40de16b51ad9ad48e25") == 0,
           "punctuation and an empty value (got %s)", signature(out, n));

    memset(many, 0, sizeof(many));
    for (n = 0; n < NGX_HTTP_CI_JOBS_MAX_PAIRS + 1; n++) {
        many[n].name = (const u_char *) "a";
        many[n].name_len = 1;
    }

    tap_ok(sign(out, "get", "/jobs", many, NGX_HTTP_CI_JOBS_MAX_PAIRS + 1,
                host, 1, 1700000000, 1900000000) == 0,
           "more than %d parameters: refused", NGX_HTTP_CI_JOBS_MAX_PAIRS);
}


int
main(void)
{
    test_sign_keys();
    test_official_vectors();
    test_ci_vectors();
    test_encoder();
    test_parameters();

    return tap_done();
}
