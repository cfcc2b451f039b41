
/*
 * CI's job notifications, XML or JSON, read for their event and ids.
 *
 * The XML form goes through the module's XML pass, which checks it as
 * strictly as an upstream answer and renders it in JSON; both forms are
 * then read by jansson, the same way: the root object, or its Response
 * member; EventName; each JobsDetail's JobId (TaskFinish, or no
 * EventName at all, as CI's older job notifications) or each
 * WorkflowExecution's RunId (WorkflowFinish), a member being an object or
 * an array of them.
 */


#include <string.h>
#include <jansson.h>

#include "ngx_http_ci_jobs_notification.h"


static int ngx_http_ci_jobs_notification_json(const u_char *json,
    size_t len, ngx_http_ci_jobs_notification_t *n);
static int ngx_http_ci_jobs_notification_ids(json_t *member,
    const char *name, ngx_http_ci_jobs_notification_t *n);
static int ngx_http_ci_jobs_notification_id(json_t *value,
    ngx_http_ci_jobs_notification_t *n);


/* the XML's elements that are JSON arrays even when alone */
static const ngx_http_ci_jobs_name_t  ngx_http_ci_jobs_notification_arrays[] =
{
    { (const u_char *) "JobsDetail", sizeof("JobsDetail") - 1 },
    { (const u_char *) "WorkflowExecution", sizeof("WorkflowExecution") - 1 }
};


int
ngx_http_ci_jobs_notification_parse(const u_char *body, size_t len,
    ngx_http_ci_jobs_alloc_pt alloc, void *data,
    ngx_http_ci_jobs_notification_t *n)
{
    int                            rc;
    size_t                         i;
    ngx_http_ci_jobs_xml_conf_t    xc;
    ngx_http_ci_jobs_xml_result_t  res;

    memset(n, 0, sizeof(ngx_http_ci_jobs_notification_t));

    if (len > NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE) {
        n->error = "notification too large";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    for (i = 0; i < len; i++) {
        if (body[i] != ' ' && body[i] != '\t' && body[i] != '\r'
            && body[i] != '\n')
        {
            break;
        }
    }

    if (i == len) {
        n->error = "empty notification";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    if (body[i] == '{') {
        return ngx_http_ci_jobs_notification_json(body, len, n);
    }

    memset(&xc, 0, sizeof(ngx_http_ci_jobs_xml_conf_t));

    xc.json = 1;
    xc.no_facts = 1;
    xc.array_names = ngx_http_ci_jobs_notification_arrays;
    xc.narray_names = sizeof(ngx_http_ci_jobs_notification_arrays)
                      / sizeof(ngx_http_ci_jobs_name_t);
    xc.alloc = alloc;
    xc.alloc_data = data;

    rc = ngx_http_ci_jobs_xml_parse(body, len, &xc, &res);

    if (rc == NGX_HTTP_CI_JOBS_XML_NOMEM) {
        return NGX_HTTP_CI_JOBS_NOTIFICATION_NOMEM;
    }

    if (rc != NGX_HTTP_CI_JOBS_XML_OK) {
        n->error = "notification not well-formed";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    return ngx_http_ci_jobs_notification_json(res.json, res.json_len, n);
}


static int
ngx_http_ci_jobs_notification_json(const u_char *json, size_t len,
    ngx_http_ci_jobs_notification_t *n)
{
    int           rc;
    json_t       *root, *obj, *event;
    const char   *name, *member, *id;
    json_error_t  err;

    root = json_loadb((const char *) json, len, JSON_REJECT_DUPLICATES, &err);

    if (root == NULL) {
        n->error = "notification not valid JSON";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    obj = json_object_get(root, "Response");

    if (obj == NULL) {
        obj = root;
    }

    rc = NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;

    if (!json_is_object(obj)) {
        n->error = "notification not an object";
        goto done;
    }

    /*
     * CI's older job notifications have no EventName, only JobsDetail:
     * they are a job's end too.
     */

    event = json_object_get(obj, "EventName");
    name = json_string_value(event);

    if (event != NULL && name == NULL) {
        n->error = "EventName not a string in the notification";
        goto done;
    }

    if (name == NULL && json_object_get(obj, "JobsDetail") == NULL) {
        n->error = "no EventName in the notification";
        goto done;
    }

    if (name == NULL || strcmp(name, "TaskFinish") == 0) {
        n->event = NGX_HTTP_CI_JOBS_TASK_FINISH;
        member = "JobsDetail";
        id = "JobId";

    } else if (strcmp(name, "WorkflowFinish") == 0) {
        n->event = NGX_HTTP_CI_JOBS_WORKFLOW_FINISH;
        member = "WorkflowExecution";
        id = "RunId";

    } else {
        n->error = "unknown EventName in the notification";
        goto done;
    }

    rc = ngx_http_ci_jobs_notification_ids(json_object_get(obj, member), id,
                                           n);

    if (rc == NGX_HTTP_CI_JOBS_NOTIFICATION_OK && n->nids == 0) {
        n->error = "no id in the notification";
        rc = NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

done:

    json_decref(root);

    if (rc != NGX_HTTP_CI_JOBS_NOTIFICATION_OK) {
        n->nids = 0;
    }

    return rc;
}


/* the name member of member, an object or an array of objects */

static int
ngx_http_ci_jobs_notification_ids(json_t *member, const char *name,
    ngx_http_ci_jobs_notification_t *n)
{
    size_t   i;
    json_t  *item;

    if (json_is_object(member)) {
        return ngx_http_ci_jobs_notification_id(json_object_get(member, name),
                                                n);
    }

    if (!json_is_array(member)) {
        n->error = "no job in the notification";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    json_array_foreach(member, i, item) {

        if (!json_is_object(item)) {
            n->error = "a job in the notification is not an object";
            return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
        }

        if (ngx_http_ci_jobs_notification_id(json_object_get(item, name), n)
            != NGX_HTTP_CI_JOBS_NOTIFICATION_OK)
        {
            return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
        }
    }

    return NGX_HTTP_CI_JOBS_NOTIFICATION_OK;
}


/* one id: 1-64 letters and digits, kept once */

static int
ngx_http_ci_jobs_notification_id(json_t *value,
    ngx_http_ci_jobs_notification_t *n)
{
    size_t       i, len;
    const char  *s;

    s = json_string_value(value);

    if (s == NULL) {
        n->error = "a job without an id in the notification";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    len = json_string_length(value);

    if (len == 0 || len > NGX_HTTP_CI_JOBS_MAX_ID_LEN) {
        n->error = "an id of the notification is too long or empty";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= 'A' && s[i] <= 'Z')))
        {
            n->error = "an id of the notification is not letters and digits";
            return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
        }
    }

    for (i = 0; i < n->nids; i++) {
        if (n->id_len[i] == len && memcmp(n->id[i], s, len) == 0) {
            return NGX_HTTP_CI_JOBS_NOTIFICATION_OK;
        }
    }

    if (n->nids == NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS) {
        n->error = "too many ids in the notification";
        return NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID;
    }

    memcpy(n->id[n->nids], s, len);
    n->id_len[n->nids] = len;
    n->nids++;

    return NGX_HTTP_CI_JOBS_NOTIFICATION_OK;
}
