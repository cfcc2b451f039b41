
/*
 * The ETag of an answer and If-None-Match: one tag per answer and JSON
 * mapping, the same whoever computes it, and the list forms clients send.
 */


#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "ngx_http_ci_jobs_etag.h"


static void test_etag(void);
static void test_match(void);


#define XML  "<Response><JobsDetail><JobId>j1</JobId>"                        \
             "<State>Running</State></JobsDetail></Response>"


static void
test_etag(void)
{
    size_t                    n, m;
    u_char                    d1[NGX_HTTP_CI_JOBS_DIGEST_LEN];
    u_char                    d2[NGX_HTTP_CI_JOBS_DIGEST_LEN];
    u_char                    a[NGX_HTTP_CI_JOBS_ETAG_LEN];
    u_char                    b[NGX_HTTP_CI_JOBS_ETAG_LEN];
    ngx_http_ci_jobs_name_t   names1[] = { { (u_char *) "Operation", 9 } };
    ngx_http_ci_jobs_name_t   names2[] = { { (u_char *) "Operation", 9 },
                                           { (u_char *) "Tag", 3 } };

    ngx_http_ci_jobs_etag_digest((u_char *) XML, sizeof(XML) - 1, d1);
    n = ngx_http_ci_jobs_etag(a, d1, NULL, 0);

    /* SHA-1 of the XML, its first 8 bytes */
    tap_is_mem(a, n, "\"898f8b83b2b4db3d\"", "the XML answer's tag");

    ngx_http_ci_jobs_etag_digest((u_char *) XML, sizeof(XML) - 1, d2);
    m = ngx_http_ci_jobs_etag(b, d2, NULL, 0);
    tap_ok(n == m && memcmp(a, b, n) == 0, "the same bytes, the same tag");

    ngx_http_ci_jobs_etag_digest((u_char *) XML, sizeof(XML) - 2, d2);
    m = ngx_http_ci_jobs_etag(b, d2, NULL, 0);
    tap_ok(memcmp(a, b, n) != 0, "one byte less, another tag");

    n = ngx_http_ci_jobs_etag(a, d1, names1, 1);
    tap_ok(n == NGX_HTTP_CI_JOBS_ETAG_LEN && a[0] == '"' && a[n - 1] == '"'
           && memcmp(a + 17, "-j", 2) == 0, "a JSON answer's tag: %.*s",
           (int) n, a);

    m = ngx_http_ci_jobs_etag(b, d1, names2, 2);
    tap_ok(n == m && memcmp(a, b, n) != 0,
           "other array names, another JSON tag");

    m = ngx_http_ci_jobs_etag(b, d1, names1, 1);
    tap_ok(n == m && memcmp(a, b, n) == 0, "the same names, the same tag");
}


static void
test_match(void)
{
    size_t       i;
    const char  *etag = "\"0123456789abcdef\"";

    static const struct {
        const char  *list;
        int          match;
    } tests[] = {
        { "\"0123456789abcdef\"", 1 },
        { "W/\"0123456789abcdef\"", 1 },
        { "*", 1 },
        { "\"x\", \"0123456789abcdef\"", 1 },
        { "\"x\",W/\"0123456789abcdef\" ,\"y\"", 1 },
        { " \t\"0123456789abcdef\"", 1 },
        { "\"0123456789abcdee\"", 0 },
        { "\"0123456789abcdef", 0 },
        { "0123456789abcdef", 0 },
        { "\"x\", junk, \"0123456789abcdef\"", 0 },
        { "\"0123456789abcdef-j00000000\"", 0 },
        { "", 0 },
        { "W/", 0 },
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        tap_ok(ngx_http_ci_jobs_etag_match((u_char *) tests[i].list,
                                           strlen(tests[i].list),
                                           (u_char *) etag, strlen(etag))
               == tests[i].match,
               "If-None-Match: %s %s", tests[i].list,
               tests[i].match ? "matches" : "does not match");
    }
}


int
main(void)
{
    test_etag();
    test_match();

    return tap_done();
}
