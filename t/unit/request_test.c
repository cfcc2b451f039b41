
/*
 * Request validation: what is accepted, what is refused and with which
 * code, and the upstream request target an accepted request becomes.
 */


#include <stdlib.h>

#include "tap.h"
#include "ngx_http_ci_jobs_request.h"


#define Q  "queueId=p893bcda225bf4945a378da6662e81a89&tag=Translation"


static int
parse(ngx_http_ci_jobs_request_t *req, const char *path, const char *query)
{
    static u_char  scratch[8192];

    return ngx_http_ci_jobs_parse_request(req, (const u_char *) path,
                                          strlen(path),
                                          (const u_char *) query,
                                          query ? strlen(query) : 0,
                                          scratch);
}


static void
test_table(void)
{
    size_t                      i;
    int                         rc;
    char                        long_id[80], many_ids[200], long_value[1100];
    ngx_http_ci_jobs_request_t  req;

    static struct {
        const char  *path;
        const char  *query;
        int          rc;
    } cases[] = {
        /* accepted */
        { "jobs/j8d121820f5e411ec926ef19d53ba9c6f", NULL, 0 },
        { "jobs/a,b,c", NULL, 0 },
        { "jobs/a,b,c,d,e,f,g,h,i,j", NULL, 0 },
        { "pic_jobs/c1", NULL, 0 },
        { "ai_jobs/A1", "", 0 },
        { "inventorytriggerjob/b3", NULL, 0 },
        { "jobs", Q, 0 },
        { "jobs", Q "&size=1&orderByTime=Asc&states=Success,Failed", 0 },
        { "jobs", Q "&size=100&orderByTime=Desc&states=All", 0 },
        { "jobs", Q "&startCreationTime=2001-01-01T00:00:00+0800", 0 },
        { "jobs", Q "&endCreationTime=2001-12-31T23:59:59-1400", 0 },
        { "jobs", Q "&startCreationTime=2001-01-01T00%3A00%3A00%2B0800", 0 },
        { "jobs", Q "&inputObject=a%20b%2Fc%E8%85%BE", 0 },
        { "jobs", Q "&nextToken=%21%27%28%29%2A%2B", 0 },
        { "jobs", "tag=Speech_Recognition&queueId=q1", 0 },

        /* unknown API */
        { "", NULL, 404 },
        { "list", Q, 404 },
        { "Jobs/a", NULL, 404 },
        { "objects/a", NULL, 404 },
        { "jobsx/a", NULL, 404 },

        /* the path */
        { "jobs/%2e%2e/a", NULL, 400 },
        { "jobs%2fa", NULL, 400 },
        { "jobs/%252fa", NULL, 400 },
        { "jobs/../a", NULL, 400 },
        { "jobs/./a", NULL, 400 },
        { "jobs\\a", NULL, 400 },
        { "jobs/a;x", NULL, 400 },
        { "jobs/a b", NULL, 400 },
        { "jobs/a+b", NULL, 400 },
        { "jobs/\xc3\xa9", NULL, 400 },
        { "/jobs/a", NULL, 400 },
        { "jobs//a", NULL, 400 },

        /* ids */
        { "jobs/", NULL, 400 },
        { "jobs/a/", NULL, 400 },
        { "jobs/a/b", NULL, 400 },
        { "jobs/a,,b", NULL, 400 },
        { "jobs/,a", NULL, 400 },
        { "jobs/a,", NULL, 400 },
        { "jobs/a_b", NULL, 400 },
        { "pic_jobs/a,b", NULL, 400 },
        { "pic_jobs", NULL, 400 },
        { "ai_jobs/", NULL, 400 },
        { "jobs/a", "x=1", 400 },

        /* the list */
        { "jobs", NULL, 400 },
        { "jobs", "", 400 },
        { "jobs", "tag=Translation", 400 },
        { "jobs", "queueId=q1", 400 },
        { "jobs", Q "&foo=1", 400 },
        { "jobs", Q "&QueueId=q2", 400 },
        { "jobs", Q "&tag=Transcode", 400 },
        { "jobs", Q "&size", 400 },
        { "jobs", Q "&&size=1", 400 },
        { "jobs", Q "&", 400 },
        { "jobs", "&" Q, 400 },
        { "jobs", Q "&=1", 400 },
        { "jobs", Q "&size=", 400 },
        { "jobs", Q "&size=0", 400 },
        { "jobs", Q "&size=101", 400 },
        { "jobs", Q "&size=010", 400 },
        { "jobs", Q "&size=-1", 400 },
        { "jobs", Q "&size=abc", 400 },
        { "jobs", Q "&size=1000", 400 },
        { "jobs", Q "&states=Done", 400 },
        { "jobs", Q "&states=Success,,Failed", 400 },
        { "jobs", Q "&states=Success,Success", 400 },
        { "jobs", Q "&states=success", 400 },
        { "jobs", Q "&states=Success,", 400 },
        { "jobs", Q "&orderByTime=desc", 400 },
        { "jobs", Q "&startCreationTime=2001-01-01", 400 },
        { "jobs", Q "&startCreationTime=2001-13-01T00:00:00+0800", 400 },
        { "jobs", Q "&startCreationTime=2001-01-32T00:00:00+0800", 400 },
        { "jobs", Q "&startCreationTime=2001-01-01T24:00:00+0800", 400 },
        { "jobs", Q "&startCreationTime=2001-01-01T00:60:00+0800", 400 },
        { "jobs", Q "&startCreationTime=2001-01-01T00:00:00+1500", 400 },
        { "jobs", Q "&startCreationTime=2001-01-01T00:00:00Z", 400 },
        { "jobs", Q "&startCreationTime=2001-01-01 00:00:00+0800", 400 },
        { "jobs", "queueId=p1%0d%0aX:1&tag=T", 400 },
        { "jobs", "queueId=p1%00&tag=T", 400 },
        { "jobs", Q "&inputObject=a%0ab", 400 },
        { "jobs", Q "&inputObject=a%7f", 400 },
        { "jobs", Q "&inputObject=%FF", 400 },
        { "jobs", Q "&inputObject=%C0%AF", 400 },
        { "jobs", Q "&inputObject=%ED%A0%80", 400 },
        { "jobs", Q "&inputObject=%E8%85", 400 },
        { "jobs", Q "&nextToken=%zz", 400 },
        { "jobs", Q "&nextToken=%4", 400 },
        { "jobs", "queueId=p1%26tag%3DX&tag=T", 400 },
        { "jobs", "queueId=p-1&tag=T", 400 },
        { "jobs", "queueId=p1&tag=T-1", 400 },
        { "jobs", Q "&size=5#frag", 400 },
        { "jobs", Q "&inputObject=a b", 400 },
        { "jobs", Q "&inputObject=a\xc3\xa9", 400 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = parse(&req, cases[i].path, cases[i].query);
        tap_ok(rc == cases[i].rc, "\"%s\" \"%s\": %d (got %d%s%s)",
               cases[i].path, cases[i].query ? cases[i].query : "",
               cases[i].rc, rc, req.error ? ", " : "",
               req.error ? req.error : "");
        tap_ok(rc == 0 || req.error != NULL, "a refusal says why");
    }

    memset(long_id, 0, sizeof(long_id));
    memcpy(long_id, "jobs/", 5);
    memset(long_id + 5, 'a', 64);
    tap_ok(parse(&req, long_id, NULL) == 0, "a 64-character id");
    long_id[5 + 64] = 'a';
    tap_ok(parse(&req, long_id, NULL) == 400, "a 65-character id");

    strcpy(many_ids, "jobs/j1");
    for (i = 2; i <= 11; i++) {
        sprintf(many_ids + strlen(many_ids), ",j%zu", i);
    }
    tap_ok(parse(&req, many_ids, NULL) == 400, "11 ids");

    strcpy(long_value, Q "&inputObject=");
    memset(long_value + strlen(long_value), 'a', 1024);
    long_value[strlen(Q "&inputObject=") + 1024] = '\0';
    tap_ok(parse(&req, "jobs", long_value) == 0, "a 1024-byte value");
    strcat(long_value, "a");
    tap_ok(parse(&req, "jobs", long_value) == 400, "a 1025-byte value");
}


static void
test_results(void)
{
    size_t                      n;
    u_char                      buf[2048];
    ngx_http_ci_jobs_request_t  req;

    tap_ok(parse(&req, "jobs/a1,b2", NULL) == 0, "jobs/a1,b2");
    tap_ok(req.api == NGX_HTTP_CI_JOBS_API_JOBS && req.nids == 2,
           "the jobs API, two ids");
    tap_is_mem(req.ids, req.ids_len, "a1,b2", "the ids");
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/jobs/a1,b2", "upstream path");
    tap_ok(ngx_http_ci_jobs_request_query(NULL, &req) == 0, "no query");

    parse(&req, "inventorytriggerjob/b3", NULL);
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/inventorytriggerjob/b3", "inventory path");

    tap_ok(parse(&req, "jobs", Q "&inputObject=a%20b%2fc&startCreationTime="
                 "2001-01-01T00:00:00+0800&nextToken=x%2Ay") == 0,
           "a list with encoded values");
    tap_ok(req.api == NGX_HTTP_CI_JOBS_API_LIST && req.nparams == 5,
           "the list API, five parameters");
    tap_is_mem(req.params[2].value, req.params[2].value_len, "a b/c",
               "values decoded");
    tap_is_mem(req.params[3].value, req.params[3].value_len,
               "2001-01-01T00:00:00+0800", "\"+\" kept as a plus sign");

    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/jobs", "list path");

    n = ngx_http_ci_jobs_request_query(buf, &req);
    tap_is_mem(buf, n, Q "&inputObject=a%20b%2Fc&startCreationTime="
               "2001-01-01T00%3A00%3A00%2B0800&nextToken=x%2Ay",
               "the query re-encoded as it is signed");
    tap_ok(n == ngx_http_ci_jobs_request_query(NULL, &req),
           "query length");
}


int
main(void)
{
    test_table();
    test_results();

    return tap_done();
}
