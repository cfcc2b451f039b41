
/*
 * CI's job notifications: the event and the ids, nothing else; anything
 * malformed, oversize or off the shape refused.
 */


#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "pool.h"
#include "ngx_http_ci_jobs_notification.h"


#define TASK_XML                                                              \
    "<Response><EventName>TaskFinish</EventName><JobsDetail>"                 \
    "<Code>Success</Code><Message>Success</Message>"                          \
    "<JobId>j8d121820f5e411ec926ef19d53ba9c6f</JobId><State>Success</State>"  \
    "<CreationTime>2022-06-27T15:23:10+0800</CreationTime>"                   \
    "<QueueId>p2242ab62c7c94486915508540933a2c6</QueueId><Tag>Transcode</Tag>"\
    "<Input><BucketId>examplebucket-1250000000</BucketId>"                    \
    "<Object>a.mp4</Object><Region>ap-beijing</Region></Input>"               \
    "<Operation><JobId>ignored0</JobId><Output><Object>b.mp4</Object>"        \
    "</Output></Operation></JobsDetail></Response>"

#define WORKFLOW_XML                                                          \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                            \
    "<Response>\n  <EventName>WorkflowFinish</EventName>\n"                   \
    "  <WorkflowExecution>\n    <RunId>id1f94868688111eca793525400ca1839"     \
    "</RunId>\n    <BucketId>examplebucket-1250000000</BucketId>\n"           \
    "    <Object>a.mp4</Object>\n    <State>Success</State>\n"                \
    "    <Tasks><Type>Transcode</Type><JobId>j1</JobId></Tasks>\n"            \
    "  </WorkflowExecution>\n</Response>\n"


static int parse(const char *body, ngx_http_ci_jobs_notification_t *n);
static int refused(const char *body);


int
main(void)
{
    int                              rc;
    char                             big[NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE
                                         + 2];
    char                            *p;
    size_t                           i;
    ngx_http_ci_jobs_notification_t  n;

    rc = parse(TASK_XML, &n);
    tap_ok(rc == NGX_HTTP_CI_JOBS_NOTIFICATION_OK, "TaskFinish in XML");
    tap_ok(n.event == NGX_HTTP_CI_JOBS_TASK_FINISH, "its event");
    tap_ok(n.nids == 1, "one id: the JobsDetail's, not the Operation's");
    tap_is_mem(n.id[0], n.id_len[0], "j8d121820f5e411ec926ef19d53ba9c6f",
               "the JobId");

    rc = parse(WORKFLOW_XML, &n);
    tap_ok(rc == NGX_HTTP_CI_JOBS_NOTIFICATION_OK, "WorkflowFinish in XML");
    tap_ok(n.event == NGX_HTTP_CI_JOBS_WORKFLOW_FINISH, "its event");
    tap_ok(n.nids == 1, "one id: the run's, not its tasks'");
    tap_is_mem(n.id[0], n.id_len[0], "id1f94868688111eca793525400ca1839",
               "the RunId");

    rc = parse("<Response><EventName>TaskFinish</EventName>"
               "<JobsDetail><JobId>a1</JobId></JobsDetail>"
               "<JobsDetail><JobId>b2</JobId></JobsDetail>"
               "<JobsDetail><JobId>a1</JobId></JobsDetail></Response>", &n);
    tap_ok(rc == 0 && n.nids == 2, "several JobsDetail, a repeated id once");
    tap_is_mem(n.id[1], n.id_len[1], "b2", "in order");

    rc = parse("{\"EventName\":\"TaskFinish\",\"JobsDetail\":"
               "{\"Code\":\"Success\",\"JobId\":\"jabc\","
               "\"State\":\"Success\"}}", &n);
    tap_ok(rc == 0 && n.nids == 1 && n.event == NGX_HTTP_CI_JOBS_TASK_FINISH,
           "TaskFinish in JSON");
    tap_is_mem(n.id[0], n.id_len[0], "jabc", "its JobId");

    rc = parse(" \n{\"Response\":{\"EventName\":\"WorkflowFinish\","
               "\"WorkflowExecution\":[{\"RunId\":\"i1\"},"
               "{\"RunId\":\"i2\"}]}}", &n);
    tap_ok(rc == 0 && n.nids == 2
           && n.event == NGX_HTTP_CI_JOBS_WORKFLOW_FINISH,
           "WorkflowFinish in JSON, in Response, an array");

    rc = parse("<Response><JobsDetail><Code>Success</Code><JobId>jold</JobId>"
               "<State>Success</State></JobsDetail></Response>", &n);
    tap_ok(rc == 0 && n.nids == 1 && n.event == NGX_HTTP_CI_JOBS_TASK_FINISH,
           "CI's older job notification, without EventName: a job's end");
    tap_is_mem(n.id[0], n.id_len[0], "jold", "its JobId");

    /* what is refused */

    tap_ok(refused(""), "empty");
    tap_ok(refused(" \r\n"), "blank");
    tap_ok(refused("<Response><EventName>TaskFinish</EventName>"),
           "XML cut short");
    tap_ok(refused("<Response><EventName>TaskFinish</EventName>"
                   "<JobsDetail><JobId>j1</JobId></JobsDetail></Respons>"),
           "XML not well-formed");
    tap_ok(refused("<!DOCTYPE r [<!ENTITY e \"j1\">]><Response><EventName>"
                   "TaskFinish</EventName><JobsDetail><JobId>&e;</JobId>"
                   "</JobsDetail></Response>"), "a DOCTYPE");
    tap_ok(refused("{\"EventName\":\"TaskFinish\""), "JSON cut short");
    tap_ok(refused("[1]"), "not an object");
    tap_ok(refused("{\"EventName\":\"TaskFinish\",\"EventName\":"
                   "\"TaskFinish\",\"JobsDetail\":{\"JobId\":\"j1\"}}"),
           "a repeated member");
    tap_ok(refused("{\"EventName\":\"TaskStart\","
                   "\"JobsDetail\":{\"JobId\":\"j1\"}}"), "another event");
    tap_ok(refused("{\"WorkflowExecution\":{\"RunId\":\"i1\"}}"),
           "no event, no JobsDetail");
    tap_ok(refused("{\"EventName\":1,\"JobsDetail\":{\"JobId\":\"j1\"}}"),
           "an event not a string");
    tap_ok(refused("{\"EventName\":\"TaskFinish\","
                   "\"WorkflowExecution\":{\"RunId\":\"i1\"}}"),
           "TaskFinish without JobsDetail");
    tap_ok(refused("{\"EventName\":\"TaskFinish\",\"JobsDetail\":{}}"),
           "a JobsDetail without JobId");
    tap_ok(refused("{\"EventName\":\"TaskFinish\",\"JobsDetail\":[]}"),
           "no job");
    tap_ok(refused("{\"EventName\":\"TaskFinish\",\"JobsDetail\":[1]}"),
           "a job not an object");
    tap_ok(refused("{\"EventName\":\"TaskFinish\","
                   "\"JobsDetail\":{\"JobId\":\"j/../1\"}}"),
           "an id with other characters");
    tap_ok(refused("{\"EventName\":\"TaskFinish\","
                   "\"JobsDetail\":{\"JobId\":\"\"}}"), "an empty id");
    tap_ok(refused("{\"EventName\":\"TaskFinish\","
                   "\"JobsDetail\":{\"JobId\":\"j\\u0000\"}}"),
           "an id with a NUL");
    tap_ok(refused("{\"EventName\":\"TaskFinish\",\"JobsDetail\":{\"JobId\":"
                   "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaa\"}}"), "an id of 65 characters");
    tap_ok(refused("<Response><EventName>TaskFinish</EventName><JobsDetail>"
                   "<JobId>j<b/>1</JobId></JobsDetail></Response>"),
           "an id with markup");

    p = big;
    p += sprintf(p, "{\"EventName\":\"TaskFinish\",\"JobsDetail\":[");

    for (i = 0; i <= NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS; i++) {
        p += sprintf(p, "%s{\"JobId\":\"j%zu\"}", i ? "," : "", i);
    }

    strcpy(p, "]}");
    tap_ok(refused(big), "%d ids", NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS + 1);

    p[-1 - strlen("{\"JobId\":\"j32\"}")] = ']';
    p[-strlen("{\"JobId\":\"j32\"}")] = '}';
    p[1 - strlen("{\"JobId\":\"j32\"}")] = '\0';
    rc = parse(big, &n);
    tap_ok(rc == 0 && n.nids == NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS,
           "%d ids", NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS);

    memset(big, ' ', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big + sizeof(big) - 1 - strlen(TASK_XML), TASK_XML,
           strlen(TASK_XML));
    tap_ok(refused(big), "more than %d bytes",
           NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE);

    rc = parse(big + 1, &n);
    tap_ok(rc == 0 && n.nids == 1, "%d bytes",
           NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE);

    pool_free();

    return tap_done();
}


static int
parse(const char *body, ngx_http_ci_jobs_notification_t *n)
{
    return ngx_http_ci_jobs_notification_parse((const u_char *) body,
                                               strlen(body), pool_alloc,
                                               NULL, n);
}


/* refused, with a reason and no id */

static int
refused(const char *body)
{
    int                              rc;
    ngx_http_ci_jobs_notification_t  n;

    rc = parse(body, &n);

    return rc == NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID && n.error != NULL
           && n.nids == 0;
}
