
/*
 * CI's job notifications (the callback of a job or a workflow): which
 * event, and which job ids or workflow run ids it names.  Nothing else
 * of it is read: its content is not signed, so it is only a hint that
 * those lookups may have changed.  No nginx types: used by the module,
 * the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_NOTIFICATION_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_NOTIFICATION_H_INCLUDED_


#include "ngx_http_ci_jobs_request.h"
#include "ngx_http_ci_jobs_xml.h"


/* the largest notification read, whatever client_max_body_size says */
#define NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE  65536

/* the most ids one notification may name */
#define NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS   32

/* results of ngx_http_ci_jobs_notification_parse() */
#define NGX_HTTP_CI_JOBS_NOTIFICATION_OK       0
#define NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID  -1
#define NGX_HTTP_CI_JOBS_NOTIFICATION_NOMEM    -2


typedef enum {
    NGX_HTTP_CI_JOBS_TASK_FINISH = 1,       /* JobsDetail's JobId */
    NGX_HTTP_CI_JOBS_WORKFLOW_FINISH        /* WorkflowExecution's RunId */
} ngx_http_ci_jobs_event_e;


typedef struct {
    ngx_http_ci_jobs_event_e   event;
    size_t                     nids;
    size_t                     id_len[NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS];
    u_char                     id[NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS]
                                 [NGX_HTTP_CI_JOBS_MAX_ID_LEN];
    const char                *error;       /* why it was refused */
} ngx_http_ci_jobs_notification_t;


/*
 * body: CI's notification, XML (<Response><EventName>TaskFinish
 * </EventName><JobsDetail>...<JobId>...</JobId>...</JobsDetail>
 * </Response>, or WorkflowFinish with <WorkflowExecution>...<RunId>) or
 * its JSON form (the same members, with or without the Response object).
 * Each id is a job id as the gateway takes them: 1 to 64 ASCII letters
 * and digits; repeated ids are named once.  At most
 * NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE bytes and
 * NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS ids, at least one.  alloc and
 * data: for the XML pass, whose memory the caller frees.  Returns
 * NGX_HTTP_CI_JOBS_NOTIFICATION_OK, _INVALID with n->error set, or _NOMEM.
 */
int ngx_http_ci_jobs_notification_parse(const u_char *body, size_t len,
    ngx_http_ci_jobs_alloc_pt alloc, void *data,
    ngx_http_ci_jobs_notification_t *n);


#endif /* _NGX_HTTP_CI_JOBS_NOTIFICATION_H_INCLUDED_ */
