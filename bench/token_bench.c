
/*
 * Microseconds per access token check (ci_jobs_access token): a token as
 * an application mints it for one job, and one naming 50 jobs looked up
 * ten at a time, each checked against a set of two keys; the first again
 * found in the cache of tokens checked, as a page polling with it is; and
 * per read of the key set.  The process's CPU time, not the wall clock: on a shared
 * machine the time spent waiting for a core is not the check's.
 *
 *   make bench-token
 */


#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ngx_http_ci_jobs_token.h"


#define N  200000


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


static ngx_http_ci_jobs_token_cache_t  cache;


/* cached: through the cache, the token in it after the first check */

static double
bench(const char *token, const char *ids, const ngx_http_ci_jobs_jwks_t *set,
    int cached, size_t *sink)
{
    int                       rc;
    int                       i;
    double                    t0;
    size_t                    len;
    u_char                    sub[NGX_HTTP_CI_JOBS_TOKEN_MAX_LEN];
    ngx_http_ci_jobs_scope_t  scope;

    scope.claim = "ci_jobs";
    scope.items = (const u_char *) ids;
    scope.items_len = strlen(ids);
    scope.split = 1;

    t0 = now_ns();

    for (i = 0; i < N; i++) {
        if (cached) {
            rc = ngx_http_ci_jobs_token_check_cached(&cache,
                                                     (const u_char *) token,
                                                     strlen(token), set,
                                                     1950000000, 100000000,
                                                     &scope, sub, &len);

        } else {
            rc = ngx_http_ci_jobs_token_check((const u_char *) token,
                                              strlen(token), set, 1950000000,
                                              100000000, &scope, sub, &len);
        }

        if (rc != NGX_HTTP_CI_JOBS_TOKEN_OK) {
            printf("the token was refused\n");
            return 0;
        }

        *sink += len;
    }

    return (now_ns() - t0) / N / 1000;
}


int
main(void)
{
    int                      i;
    double                   t0, one, fifty, parse, kept;
    size_t                   sink;
    const char              *error;
    ngx_http_ci_jobs_jwks_t  set;

    /* two keys, kid k1 and k2, as during a rotation */
    static const char  keys[] =
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"k1\","
        "\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"
        "{\"kty\":\"oct\",\"kid\":\"k2\","
        "\"k\":\"Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6\"}]}";

    /*
     * jsonwebtoken, kid k1: {"sub":"user-1","ci_jobs":["j8d12…9c6f"],
     * "exp":2000000000}, and the same with 50 ids, j8d12…9c01 to …9c50
     */
    static const char  token_one[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0."
        "eyJzdWIiOiJ1c2VyLTEiLCJjaV9qb2JzIjpbImo4ZDEyMTgyMGY1ZTQxMWVjOTI2"
        "ZWYxOWQ1M2JhOWM2ZiJdLCJleHAiOjIwMDAwMDAwMDB9."
        "bMs8oIHq4uV58UvLt9oPre873sNBh-UtTP444K59dYM";
    static const char  token_fifty[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJzdWIiOiJ1"
        "c2VyLTEiLCJjaV9qb2JzIjpbImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMwMSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMwMiIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMwMyIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMwNCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMwNSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMwNiIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMwNyIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMwOCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMwOSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMxMCIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMxMSIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMxMiIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMxMyIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMxNCIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMxNSIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMxNiIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMxNyIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMxOCIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMxOSIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMyMCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMyMSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMyMiIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMyMyIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMyNCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMyNSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMyNiIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMyNyIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMyOCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMyOSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMzMCIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMzMSIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMzMiIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMzMyIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMzNCIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMzNSIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWMzNiIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWMzNyIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMzOCIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWMzOSIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWM0MCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWM0MSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWM0MiIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWM0MyIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWM0NCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWM0NSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWM0NiIsImo4ZDEy"
        "MTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWM0NyIsImo4ZDEyMTgyMGY1ZTQxMWVj"
        "OTI2ZWYxOWQ1M2JhOWM0OCIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2Jh"
        "OWM0OSIsImo4ZDEyMTgyMGY1ZTQxMWVjOTI2ZWYxOWQ1M2JhOWM1MCJdLCJleHAi"
        "OjIwMDAwMDAwMDB9.hibL3XcvBItV9soloXkKaZI0wnKonUXAajkF9tGOHCQ";

    sink = 0;

    t0 = now_ns();
    for (i = 0; i < N / 10; i++) {
        sink += ngx_http_ci_jobs_jwks_parse(&set, (const u_char *) keys,
                                            sizeof(keys) - 1, &error);
        sink += set.nkeys;
    }
    parse = (now_ns() - t0) / (N / 10) / 1000;

    static const char  ten[] =
        "j8d121820f5e411ec926ef19d53ba9c41,"
        "j8d121820f5e411ec926ef19d53ba9c42,"
        "j8d121820f5e411ec926ef19d53ba9c43,"
        "j8d121820f5e411ec926ef19d53ba9c44,"
        "j8d121820f5e411ec926ef19d53ba9c45,"
        "j8d121820f5e411ec926ef19d53ba9c46,"
        "j8d121820f5e411ec926ef19d53ba9c47,"
        "j8d121820f5e411ec926ef19d53ba9c48,"
        "j8d121820f5e411ec926ef19d53ba9c49,"
        "j8d121820f5e411ec926ef19d53ba9c50";

    one = bench(token_one, "j8d121820f5e411ec926ef19d53ba9c6f", &set, 0,
                &sink);
    fifty = bench(token_fifty, ten, &set, 0, &sink);

    ngx_http_ci_jobs_token_cache_init(&cache, 0x0123456789abcdefULL);
    kept = bench(token_one, "j8d121820f5e411ec926ef19d53ba9c6f", &set, 1,
                 &sink);

    printf("token check, one job:                      %6.2f us\n", one);
    printf("token check, 10 ids of a token naming 50:  %6.2f us\n", fifty);
    printf("token check, one job, found in the cache:  %6.2f us "
           "(%llu of %d found)\n", kept, (unsigned long long) cache.hits, N);
    printf("key set read, two keys:                    %6.2f us\n", parse);
    printf("(checksum %zu)\n", sink);

    return 0;
}
