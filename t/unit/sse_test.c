
/*
 * Server-Sent Events: the jobs of a JSON rendering, their versions, the
 * events' text and their ids.
 */


#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "ngx_http_ci_jobs_sse.h"


#define JOB(id, state, progress)                                              \
    "{\"Code\":\"Success\",\"JobId\":\"" id "\",\"State\":\"" state "\","      \
    "\"Operation\":{\"State\":\"Running\",\"Progress\":\"1\"},"               \
    "\"Progress\":\"" progress "\"}"


static void test_jobs(void);
static void test_event(void);


static void
test_jobs(void)
{
    int                         n;
    const char                 *json;
    ngx_http_ci_jobs_sse_job_t  jobs[NGX_HTTP_CI_JOBS_SSE_JOBS], again[1];

    json = "{\"Response\":{\"JobsDetail\":[" JOB("j1", "Running", "10") ","
           JOB("j2", "Success", "100") "],"
           "\"NonExistJobIds\":[\"nx1\",\"nx2\"]}}";

    n = ngx_http_ci_jobs_sse_jobs((u_char *) json, strlen(json), jobs);
    tap_ok(n == 4, "two jobs and two missing ids: %d", n);
    tap_is_mem(jobs[0].data, jobs[0].len, JOB("j1", "Running", "10"),
               "the first job's object, whole");
    tap_ok(!jobs[0].finished && jobs[1].finished, "Running, then Success");
    tap_is_mem(jobs[2].data, jobs[2].len, "\"nx1\"", "a missing id");
    tap_ok(jobs[2].missing && jobs[2].finished, "missing counts as finished");
    tap_ok(jobs[0].version != jobs[1].version, "versions differ");

    json = "{\"Response\":{\"JobsDetail\":" JOB("j1", "Running", "10") "}}";
    n = ngx_http_ci_jobs_sse_jobs((u_char *) json, strlen(json), again);
    tap_ok(n == 1 && again[0].version == jobs[0].version,
           "one job as an object: the same version for the same state");

    json = "{\"Response\":{\"JobsDetail\":" JOB("j1", "Running", "11") "}}";
    n = ngx_http_ci_jobs_sse_jobs((u_char *) json, strlen(json), again);
    tap_ok(n == 1 && again[0].version != jobs[0].version,
           "another Progress, another version");

    json = "{\"Response\":{\"JobsDetail\":{\"JobId\":\"j1\",\"State\":"
           "\"Running\",\"UserData\":\"x\\\"State\\\":\\\"Success\\\"\","
           "\"Progress\":\"10\"}}}";
    n = ngx_http_ci_jobs_sse_jobs((u_char *) json, strlen(json), again);
    tap_ok(n == 1 && !again[0].finished, "text that looks like a State "
           "in a string is not one");

    json = "{\"Response\":{\"WorkflowExecution\":{\"RunId\":\"r1\","
           "\"State\":\"Failed\"}}}";
    n = ngx_http_ci_jobs_sse_jobs((u_char *) json, strlen(json), again);
    tap_ok(n == 1 && again[0].finished, "a workflow run, Failed");

    json = "{\"Error\":{\"Code\":\"x\"}}";
    tap_ok(ngx_http_ci_jobs_sse_jobs((u_char *) json, strlen(json), again)
           == -1, "an error is no answer");

    json = "{\"Response\":{\"JobsDetail\":[" JOB("j1", "Running", "10");
    tap_ok(ngx_http_ci_jobs_sse_jobs((u_char *) json, strlen(json), again)
           == -1, "a cut rendering is refused");
}


static void
test_event(void)
{
    size_t    n, m;
    u_char    buf[256], id[NGX_HTTP_CI_JOBS_SSE_ID_LEN];
    uint32_t  v[3] = { 0x0123abcd, 1, 0xffffffff }, back[10];

    n = ngx_http_ci_jobs_sse_id(id, v, 3);
    tap_is_mem(id, n, "0123abcd00000001ffffffff", "an id: 8 hex a job");

    m = ngx_http_ci_jobs_sse_id_parse(id, n, back);
    tap_ok(m == 3 && back[0] == v[0] && back[1] == 1
           && back[2] == 0xffffffff, "read back");
    tap_ok(ngx_http_ci_jobs_sse_id_parse((u_char *) "xyz", 3, back) == 0,
           "a foreign id names nothing");
    tap_ok(ngx_http_ci_jobs_sse_id_parse((u_char *) "0123abcG", 8, back)
           == 0, "nor one with another digit");

    n = ngx_http_ci_jobs_sse_event(buf, "job", id, 8, (u_char *) "{}", 2);
    tap_is_mem(buf, n, "event: job\nid: 0123abcd\ndata: {}\n\n",
               "an event");
    tap_ok(n == ngx_http_ci_jobs_sse_event_size(3, 8, 2), "its size");
}


int
main(void)
{
    test_jobs();
    test_event();

    return tap_done();
}
