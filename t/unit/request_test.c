
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

    /* the parser's contract: path and query's length together at least */

    if (strlen(path) + (query ? strlen(query) : 0) > sizeof(scratch)) {
        abort();
    }

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
    char                        long_id[80], many_ids[700];
    char                        long_value[1100];
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

        /* an encoded comma separates ids; an empty optional value is absent */
        { "jobs/a%2Cb", NULL, 0 },
        { "jobs/a%2cb,c", NULL, 0 },
        { "jobs", Q "&size=", 0 },
        { "jobs", Q "&nextToken=&workflowId=", 0 },

        /* the neighbouring APIs */
        { "workflowexecution/i166ee19017b011eda8a5525400c540df", NULL, 0 },
        { "workflowexecution", NULL, 0 },
        { "workflowexecution", "", 0 },
        { "workflowexecution", "workflowId=w1&name=a%20b.mp4&orderByTime=Asc"
          "&size=100&states=Success,Failed,Running,Cancel"
          "&startCreationTime=2001-01-01T00:00:00+0800"
          "&endCreationTime=2001-01-02T00:00:00+0800&nextToken=115716"
          "&jobId=j1", 0 },
        { "workflowexecution", "states=All", 0 },
        { "workflowexecution", "workflowId=&nextToken=", 0 },
        { "pic_jobs", Q, 0 },
        { "pic_jobs", Q "&workflowId=w1&inventoryTriggerJobId=i1"
          "&inputObject=a.jpg&orderByTime=Desc&nextToken=t&size=1"
          "&states=Pause&startCreationTime=2001-01-01T00:00:00+0800"
          "&endCreationTime=2001-01-01T00:00:00+0800", 0 },
        { "ai_jobs", Q, 0 },
        { "ai_jobs", Q "&orderByTime=Asc&nextToken=t&size=10"
          "&states=Submitted&startCreationTime=2001-01-01T00:00:00+0800"
          "&endCreationTime=2001-01-01T00:00:00+0800", 0 },
        { "inventorytriggerjob", NULL, 0 },
        { "inventorytriggerjob", "nextToken=t&size=5&type=Workflow"
          "&orderByTime=Asc&states=Running,Success"
          "&startCreationTime=2001-01-01T00:00:00+0800"
          "&endCreationTime=2001-01-01T00:00:00+0800&workflowId=w1"
          "&jobId=j1&name=batch%201", 0 },
        { "inventorytriggerjob", "type=Job", 0 },

        { "workflowexecution/a,b", NULL, 400 },
        { "workflowexecution/a%2Cb", NULL, 400 },
        { "workflowexecution/", NULL, 400 },
        { "workflowexecution/a", "size=1", 400 },
        { "workflowexecution", "states=Submitted", 400 },
        { "workflowexecution", "states=Pause", 400 },
        { "workflowexecution", "states=Success,Success", 400 },
        { "workflowexecution", "queueId=q1", 400 },
        { "workflowexecution", "size=0", 400 },
        { "workflowexecution", "size=101", 400 },
        { "workflowexecution", "size=1&size=2", 400 },
        { "workflowexecution", "size=&size=2", 400 },
        { "workflowexecution", "jobId=j-1", 400 },
        { "workflowexecution", "name=a%0a", 400 },
        { "workflowexecution", "orderByTime=asc", 400 },
        { "workflowexecution", "startCreationTime=2001-01-01", 400 },
        { "pic_jobs", "queueId=q1", 400 },
        { "pic_jobs", "tag=PicProcess", 400 },
        { "pic_jobs", Q "&jobId=j1", 400 },
        { "pic_jobs", Q "&states=Done", 400 },
        { "ai_jobs", "queueId=q1", 400 },
        { "ai_jobs", Q "&workflowId=w1", 400 },
        { "ai_jobs", Q "&inputObject=a", 400 },
        { "ai_jobs", Q "&size=1000", 400 },
        { "inventorytriggerjob", "type=job", 400 },
        { "inventorytriggerjob", "type=Workflow,Job", 400 },
        { "inventorytriggerjob", "queueId=q1", 400 },
        { "inventorytriggerjob", "states=Cancel&states=All", 400 },
        { "inventorytriggerjob", "name=%ff", 400 },
        { "inventorytriggerjob", "size=-1", 400 },
        { "workflowexecution_list", NULL, 404 },
        { "pic_jobs_list", Q, 404 },
        { "WorkflowExecution/a", NULL, 404 },

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
        { "jobs/a%2C", NULL, 400 },
        { "jobs/%2Ca", NULL, 400 },
        { "jobs/a%2C%2Cb", NULL, 400 },
        { "jobs/a%2", NULL, 400 },
        { "jobs/a%2Db", NULL, 400 },
        { "jobs/a%252Cb", NULL, 400 },
        { "jobs%2Ca", NULL, 404 },
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
        { "jobs", Q "&queueId=", 400 },
        { "jobs", "queueId=&tag=Translation", 400 },
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

    strcpy(many_ids, "jobs/");
    for (i = 1; i <= 10; i++) {
        memset(many_ids + strlen(many_ids), 'a', 64);
        strcpy(many_ids + 5 + (i - 1) * 67 + 64, i < 10 ? "%2C" : "");
    }
    tap_ok(parse(&req, many_ids, NULL) == 0, "10 ids of 64, %%2C between");
    tap_ok(req.ids_len == 10 * 65 - 1, "...kept with \",\"");

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
    int                         rc, c, refused;
    size_t                      i, n;
    char                        query[13 + 64 + 1];
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

    tap_ok(parse(&req, "jobs/a1%2Cb2%2cc3", NULL) == 0, "jobs/a1%%2Cb2%%2cc3");
    tap_ok(req.nids == 3, "three ids");
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/jobs/a1,b2,c3", "an encoded comma goes as \",\"");

    tap_ok(parse(&req, "workflowexecution/r1", NULL) == 0, "a workflow run");
    tap_ok(req.api == NGX_HTTP_CI_JOBS_API_WORKFLOW, "the workflow API");
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/workflowexecution/r1", "workflow path");

    tap_ok(parse(&req, "workflowexecution", "nextToken=&size=2") == 0
           && req.api == NGX_HTTP_CI_JOBS_API_WORKFLOW_LIST
           && req.nparams == 1, "run list: the empty nextToken left out");
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/workflowexecution", "run list path");
    n = ngx_http_ci_jobs_request_query(buf, &req);
    tap_is_mem(buf, n, "size=2", "run list query");

    tap_ok(parse(&req, "pic_jobs", Q) == 0
           && req.api == NGX_HTTP_CI_JOBS_API_PIC_LIST, "the picture list");
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/pic_jobs", "picture list path");

    tap_ok(parse(&req, "ai_jobs", Q) == 0
           && req.api == NGX_HTTP_CI_JOBS_API_AI_LIST, "the AI list");
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/ai_jobs", "AI list path");

    tap_ok(parse(&req, "inventorytriggerjob", NULL) == 0
           && req.api == NGX_HTTP_CI_JOBS_API_INVENTORY_LIST
           && req.nparams == 0, "the batch job list, no parameter");
    n = ngx_http_ci_jobs_request_path(buf, &req);
    tap_is_mem(buf, n, "/inventorytriggerjob", "batch list path");
    tap_ok(ngx_http_ci_jobs_request_query(NULL, &req) == 0, "empty query");

    /* access_token: the gateway's own, in no API's parameters */

    tap_ok(parse(&req, "jobs/a1", "access_token=x.y.z") == 0
           && req.access_token_len == 5
           && memcmp(req.access_token, "x.y.z", 5) == 0,
           "an id lookup with access_token alone");
    tap_ok(parse(&req, "jobs/a1", "access_token=") == 0
           && req.access_token != NULL && req.access_token_len == 0,
           "an empty access_token is still one");
    tap_ok(parse(&req, "jobs/a1", "access_token=t&size=1") == 400
           && strcmp(req.error, "no query parameters expected") == 0,
           "an id lookup with another parameter");
    tap_ok(parse(&req, "jobs", "access_token=t1&" Q "&size=2") == 0
           && req.nparams == 3
           && req.access_token_len == 2
           && memcmp(req.access_token, "t1", 2) == 0,
           "a list with access_token");
    n = ngx_http_ci_jobs_request_query(buf, &req);
    tap_is_mem(buf, n, Q "&size=2",
               "access_token is not in the query signed and sent");
    tap_ok(parse(&req, "jobs", Q "&access_token=a&access_token=b") == 400
           && strcmp(req.error, "repeated parameter") == 0,
           "access_token twice");
    tap_ok(parse(&req, "jobs/a1", NULL) == 0 && req.access_token == NULL,
           "no access_token");

    /* a long query's characters, eight at a time: each position refused */

    rc = 0;

    for (i = 0; i < 64; i++) {
        memcpy(query, "access_token=", 13);
        memset(query + 13, 'a', 64);
        query[13 + 64] = '\0';
        query[13 + i] = '#';

        if (parse(&req, "jobs/a1", query) != 400
            || strcmp(req.error, "invalid character in query") != 0)
        {
            rc = -1;
        }
    }

    tap_ok(rc == 0, "a character refused at each place of a long query");
    memset(query + 13, 'a', 64);
    tap_ok(parse(&req, "jobs/a1", query) == 0 && req.access_token_len == 64,
           "and the same query without it accepted");

    /*
     * Each byte at each place, in the steps of 16 and 8 bytes and after
     * them: refused as a character where the table says.
     */

    rc = 0;

    for (c = 1; c < 256; c++) {
        for (i = 0; i < 40; i++) {
            memcpy(query, "access_token=", 13);
            memset(query + 13, 'a', 40);
            query[13 + 40] = '\0';
            query[13 + i] = (char) c;

            refused = parse(&req, "jobs/a1", query) == 400
                      && strcmp(req.error, "invalid character in query") == 0;

            if (refused != (c < 0x21 || c > 0x7e || c == '#')) {
                rc = -1;
            }
        }
    }

    tap_ok(rc == 0, "every byte at 40 places of a 53-byte query");

    tap_ok(parse(&req, "ai_jobs", Q "&workflowId=w1") == 400
           && req.api_known && req.api == NGX_HTTP_CI_JOBS_API_AI_LIST,
           "a refused request still names its API");
    tap_ok(parse(&req, "objects", NULL) == 404 && !req.api_known,
           "an unknown one does not");

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


/*
 * Every byte value at each place of a path long enough for the byte
 * scans' sixteen-byte steps, and of queries of each length up to 95 (and,
 * built without SSE2, their other loops): accepted, or refused with the
 * message the byte calls for.
 */

static void
test_bytes(void)
{
    int                         c, rc, bad;
    char                        path[48], query[96];
    size_t                      at, len;
    const char                 *want;
    ngx_http_ci_jobs_request_t  req;

    bad = 0;
    len = sizeof("jobs/") - 1 + 40;

    for (at = sizeof("jobs/") - 1 + 1; at < len - 1; at++) {
        for (c = 1; c < 256; c++) {
            memcpy(path, "jobs/", sizeof("jobs/") - 1);
            memset(path + sizeof("jobs/") - 1, 'a', 40);
            path[len] = '\0';
            path[at] = (char) c;

            rc = parse(&req, path, NULL);

            if ((c >= '0' && c <= '9')
                || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
                || c == ',')
            {
                want = NULL;    /* one id, or two */

            } else if (c == '_' || c == '/') {
                want = "a job id is 1 to 64 letters and digits";

            } else {
                want = "invalid character in path";
            }

            if (want == NULL ? (rc != 0 || req.nids != 1 + (c == ','))
                : (rc != NGX_HTTP_CI_JOBS_REQUEST_INVALID
                   || strcmp(req.error, want) != 0))
            {
                bad++;
            }
        }
    }

    tap_ok(bad == 0, "each byte at each place of a 45-byte path: "
           "%d wrong", bad);

    /* the same in the query, of each length the steps of its scan meet */

    bad = 0;

    for (len = sizeof("access_token=") - 1 + 1; len < sizeof(query); len++) {
        for (at = sizeof("access_token=") - 1; at < len; at++) {
            for (c = 1; c < 256; c++) {
                memcpy(query, "access_token=", sizeof("access_token=") - 1);
                memset(query + sizeof("access_token=") - 1, 'a',
                       len - (sizeof("access_token=") - 1));
                query[len] = '\0';
                query[at] = (char) c;

                rc = parse(&req, "jobs/j1", query);

                if (c == '&') {
                    want = "a parameter must be name=value";

                } else if (c > 0x20 && c < 0x7f && c != '#') {
                    want = NULL;

                } else {
                    want = "invalid character in query";
                }

                if (want == NULL
                    ? (rc != 0
                       || req.access_token_len
                          != len - (sizeof("access_token=") - 1))
                    : (rc != NGX_HTTP_CI_JOBS_REQUEST_INVALID
                       || strcmp(req.error, want) != 0))
                {
                    bad++;
                }
            }
        }
    }

    tap_ok(bad == 0, "each byte at each place of a 14 to 95-byte query: "
           "%d wrong", bad);
}


int
main(void)
{
    test_table();
    test_results();
    test_bytes();

    return tap_done();
}
