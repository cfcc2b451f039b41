
/*
 * The cache's storage rule and key: which answers are stored, terminal
 * or pending, and the key of a list page.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "tap.h"
#include "pool.h"
#include "ngx_http_ci_jobs_cache_key.h"


static void test_exact(void);
static void test_list_key(void);
static void test_lookup_key(void);
static void test_target_key(void);
static size_t target_key(u_char *buf, const char *pass, int verify,
    const char *ca);
static size_t lookup_key(u_char *buf, const char *path, const char *query);


#define J(id, state)                                                          \
    "<JobsDetail><JobId>" id "</JobId><State>" state "</State></JobsDetail>"


static void
test_exact(void)
{
    int                            rc;
    size_t                         i, nids;
    const char                    *p;
    ngx_http_ci_jobs_xml_conf_t    conf;
    ngx_http_ci_jobs_xml_result_t  res;

    static const struct {
        const char                *ids;
        const char                *xml;
        ngx_http_ci_jobs_store_e   store;
        const char                *what;
    } cases[] = {
        { "j1", "<Response>" J("j1", "Success") "</Response>",
          NGX_HTTP_CI_JOBS_STORE_TERMINAL, "one finished job" },
        { "j1", "<Response>" J("j1", "Running") "</Response>",
          NGX_HTTP_CI_JOBS_STORE_PENDING, "one running job" },
        { "j1,j2", "<Response>" J("j1", "Success") J("j2", "Failed")
          "</Response>", NGX_HTTP_CI_JOBS_STORE_TERMINAL, "two finished" },
        { "j1,j2", "<Response>" J("j2", "Cancel") J("j1", "Success")
          "</Response>", NGX_HTTP_CI_JOBS_STORE_TERMINAL,
          "two finished, in another order" },
        { "j1,j2", "<Response>" J("j1", "Success") "</Response>",
          NGX_HTTP_CI_JOBS_STORE_NONE, "one JobsDetail for two ids" },
        { "j1", "<Response>" J("j9", "Success") "</Response>",
          NGX_HTTP_CI_JOBS_STORE_NONE, "another job's JobId" },
        { "j1", "<Response>" J("j1", "Success") J("j9", "Success")
          "</Response>", NGX_HTTP_CI_JOBS_STORE_NONE, "one job too many" },
        { "j1", "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "</Response>", NGX_HTTP_CI_JOBS_STORE_NONE, "no JobId" },
        { "j1", "<Response><JobsDetail><JobId>j1</JobId><JobId>j1</JobId>"
          "<State>Success</State></JobsDetail></Response>",
          NGX_HTTP_CI_JOBS_STORE_NONE, "two JobIds" },
        { "j1", "<Response><JobsDetail><JobId>j1<b/></JobId>"
          "<State>Success</State></JobsDetail></Response>",
          NGX_HTTP_CI_JOBS_STORE_NONE, "a JobId with markup" },
        { "j1", "<Response><JobsDetail><JobId> j1</JobId>"
          "<State>Success</State></JobsDetail></Response>",
          NGX_HTTP_CI_JOBS_STORE_NONE, "a JobId must be exact" },
        { "j1", "<Response><JobsDetail><Operation><JobId>j1</JobId>"
          "</Operation><State>Success</State></JobsDetail></Response>",
          NGX_HTTP_CI_JOBS_STORE_NONE, "a nested JobId does not count" },
        { "j1,j2", "<Response>" J("j1", "Success")
          "<NonExistJobIds>j2</NonExistJobIds></Response>",
          NGX_HTTP_CI_JOBS_STORE_PENDING, "a missing id: pending" },
        { "j1,j2", "<Response><NonExistJobIds>j1, j2</NonExistJobIds>"
          "</Response>", NGX_HTTP_CI_JOBS_STORE_PENDING,
          "ids in one NonExistJobIds" },
        { "j1", "<Response><NonExistJobIds>j2</NonExistJobIds>"
          "</Response>", NGX_HTTP_CI_JOBS_STORE_NONE,
          "another id missing" },
        { "j1", "<Response/>", NGX_HTTP_CI_JOBS_STORE_NONE, "nothing" },
        { "j1", "<Error>" J("j1", "Success") "</Error>",
          NGX_HTTP_CI_JOBS_STORE_NONE, "an Error root" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&conf, 0, sizeof(conf));
        conf.alloc = pool_alloc;
        conf.ids = (const u_char *) cases[i].ids;
        conf.ids_len = strlen(cases[i].ids);

        rc = ngx_http_ci_jobs_xml_parse((const u_char *) cases[i].xml,
                                        strlen(cases[i].xml), &conf, &res);

        for (nids = 1, p = cases[i].ids; *p; p++) {
            nids += (*p == ',');
        }

        tap_ok(rc == NGX_HTTP_CI_JOBS_XML_OK
               && ngx_http_ci_jobs_cache_storable(NGX_HTTP_CI_JOBS_API_JOBS,
                                                  nids, 200, &res)
                  == cases[i].store,
               "%s: stored %d", cases[i].what, cases[i].store);

        tap_ok(ngx_http_ci_jobs_cache_storable(NGX_HTTP_CI_JOBS_API_JOBS,
                                               nids, 404, &res)
               == NGX_HTTP_CI_JOBS_STORE_NONE,
               "%s: never as a 404", cases[i].what);

        pool_free();
    }

    /* a list page: pending whatever it holds; without ids: never */

    memset(&conf, 0, sizeof(conf));
    conf.alloc = pool_alloc;

    rc = ngx_http_ci_jobs_xml_parse((const u_char *) "<Response>"
                                    J("x", "Success") "</Response>",
                                    sizeof("<Response>" J("x", "Success")
                                           "</Response>") - 1, &conf, &res);

    tap_ok(rc == NGX_HTTP_CI_JOBS_XML_OK
           && ngx_http_ci_jobs_cache_storable(NGX_HTTP_CI_JOBS_API_LIST, 0,
                                              200, &res)
              == NGX_HTTP_CI_JOBS_STORE_PENDING,
           "a list page: pending");

    tap_ok(ngx_http_ci_jobs_cache_storable(NGX_HTTP_CI_JOBS_API_JOBS, 0, 200,
                                           &res)
           == NGX_HTTP_CI_JOBS_STORE_NONE,
           "an id lookup read without its ids: never");

    pool_free();
}


static void
test_list_key(void)
{
    u_char                      a[512], b[512];
    size_t                      alen, blen;
    ngx_http_ci_jobs_request_t  r1, r2;

    static const ngx_http_ci_jobs_pair_t  p1[] = {
        { (const u_char *) "queueId", 7, (const u_char *) "q1", 2 },
        { (const u_char *) "tag", 3, (const u_char *) "Trans code", 10 },
        { (const u_char *) "size", 4, (const u_char *) "5", 1 },
    };

    static const ngx_http_ci_jobs_pair_t  p2[] = {
        { (const u_char *) "size", 4, (const u_char *) "5", 1 },
        { (const u_char *) "tag", 3, (const u_char *) "Trans code", 10 },
        { (const u_char *) "queueId", 7, (const u_char *) "q1", 2 },
    };

    memset(&r1, 0, sizeof(r1));
    memset(&r2, 0, sizeof(r2));

    /* as the request parser leaves a list: no ids, and no pointer */

    r1.api = NGX_HTTP_CI_JOBS_API_LIST;
    r1.ids = NULL;
    memcpy(r1.params, p1, sizeof(p1));
    r1.nparams = 3;

    r2 = r1;
    memcpy(r2.params, p2, sizeof(p2));

    alen = ngx_http_ci_jobs_cache_key(a, (const u_char *) "h", 1, NULL, 0,
                                      &r1, (const u_char *) "AKID", 4);
    blen = ngx_http_ci_jobs_cache_key(b, (const u_char *) "h", 1, NULL, 0,
                                      &r2, (const u_char *) "AKID", 4);

    tap_ok(alen == ngx_http_ci_jobs_cache_key(NULL, (const u_char *) "h", 1,
                                              NULL, 0, &r1,
                                              (const u_char *) "AKID", 4),
           "a list key: the length announced");

    tap_is_mem(a, alen, "h\n\nlist\n\nAKID\nqueueId=q1&size=5&tag=Trans%20code",
               "a list key: the parameters sorted and encoded");

    tap_ok(alen == blen && memcmp(a, b, alen) == 0,
           "a list key: the same in any order");

    r2.params[0].value = (const u_char *) "6";
    blen = ngx_http_ci_jobs_cache_key(b, (const u_char *) "h", 1, NULL, 0,
                                      &r2, (const u_char *) "AKID", 4);

    tap_ok(alen != blen || memcmp(a, b, alen) != 0,
           "a list key: another value, another key");
}


/* the key of jobs/j1 through a target */

static size_t
target_key(u_char *buf, const char *pass, int verify, const char *ca)
{
    size_t                      n;
    u_char                      target[256];
    ngx_http_ci_jobs_request_t  req;

    memset(&req, 0, sizeof(req));
    req.api = NGX_HTTP_CI_JOBS_API_JOBS;
    req.ids = (const u_char *) "j1";
    req.ids_len = 2;
    req.nids = 1;

    n = ngx_http_ci_jobs_cache_target(target, (const u_char *) pass,
                                      strlen(pass), verify,
                                      (const u_char *) ca, strlen(ca));

    if (n != ngx_http_ci_jobs_cache_target(NULL, (const u_char *) pass,
                                           strlen(pass), verify,
                                           (const u_char *) ca, strlen(ca)))
    {
        return 0;
    }

    return ngx_http_ci_jobs_cache_key(buf, (const u_char *) "h", 1, target,
                                      n, &req, (const u_char *) "AKID", 4);
}


static void
test_target_key(void)
{
    size_t  alen, blen;
    u_char  a[512], b[512];

    alen = target_key(a, "https://ci.example", 1, "/ca.pem");

    tap_is_mem(a, alen, "h\n1 18:https://ci.example 7:/ca.pem\njobs\nj1\n"
               "AKID", "the key names the target: verification, pass, CAs");

    blen = target_key(b, "https://ci.example", 1, "/ca.pem");
    tap_ok(alen == blen && memcmp(a, b, alen) == 0,
           "the same target: the same key");

    blen = target_key(b, "http://staging:8080", 1, "/ca.pem");
    tap_ok(alen != blen || memcmp(a, b, alen) != 0,
           "another ci_jobs_pass: another key");

    blen = target_key(b, "https://ci.example", 0, "/ca.pem");
    tap_ok(alen != blen || memcmp(a, b, alen) != 0,
           "ci_jobs_ssl_verify off: another key");

    blen = target_key(b, "https://ci.example", 1, "/other.pem");
    tap_ok(alen != blen || memcmp(a, b, alen) != 0,
           "other CAs: another key");

    /* the lengths keep a space in one part from reading as the next */
    alen = target_key(a, "a 1:b", 1, "");
    blen = target_key(b, "a", 1, "b");
    tap_ok(alen != blen || memcmp(a, b, alen) != 0,
           "parts that would run together: other keys");
}


/* $ci_jobs_key of a request as the parser reads it; 0 when it is refused */

static size_t
lookup_key(u_char *buf, const char *path, const char *query)
{
    size_t                      len;
    u_char                      scratch[512];
    ngx_http_ci_jobs_request_t  req;

    if (ngx_http_ci_jobs_parse_request(&req, (const u_char *) path,
                                       strlen(path), (const u_char *) query,
                                       query ? strlen(query) : 0, scratch)
        != NGX_HTTP_CI_JOBS_REQUEST_OK)
    {
        return 0;
    }

    len = ngx_http_ci_jobs_lookup_key(buf, &req);

    return len == ngx_http_ci_jobs_lookup_key(NULL, &req) ? len : 0;
}


static void
test_lookup_key(void)
{
    u_char  a[512], b[512];
    size_t  alen, blen;

    alen = lookup_key(a, "jobs/j1,j2", NULL);
    tap_is_mem(a, alen, "jobs/j1,j2", "a lookup key: the API and its ids");

    blen = lookup_key(b, "jobs/j1%2Cj2", "");
    tap_ok(alen == blen && memcmp(a, b, alen) == 0,
           "a lookup key: an encoded comma separates as a comma does");

    blen = lookup_key(b, "jobs/j2,j1", NULL);
    tap_ok(alen != blen || memcmp(a, b, alen) != 0,
           "a lookup key: the ids in request order");

    blen = lookup_key(b, "pic_jobs/j1", NULL);
    tap_is_mem(b, blen, "pic_jobs/j1", "a lookup key: another API");

    alen = lookup_key(a, "jobs", "tag=Translation&queueId=q1&size=5");
    tap_is_mem(a, alen, "list?queueId=q1&size=5&tag=Translation",
               "a lookup key: a list's parameters sorted");

    blen = lookup_key(b, "jobs",
                      "size=5&queueId=q1&nextToken=&tag=Translation");
    tap_ok(alen == blen && memcmp(a, b, alen) == 0,
           "a lookup key: in any order, an empty optional one left out");

    tap_ok(lookup_key(a, "jobs/j1/../x", NULL) == 0
           && lookup_key(a, "jobs", "queueId=q1") == 0,
           "a lookup key: none for a refused request");
}


int
main(void)
{
    xmlInitParser();

    test_exact();
    test_list_key();
    test_lookup_key();
    test_target_key();

    xmlCleanupParser();

    return tap_done();
}
