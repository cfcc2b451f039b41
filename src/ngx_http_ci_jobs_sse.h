
/*
 * Server-Sent Events of a watched id lookup: the jobs of its JSON
 * rendering, one by one, and the events' text.  No nginx types: used by
 * the module and the unit tests.
 */


#ifndef _NGX_HTTP_CI_JOBS_SSE_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_SSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


/* an id lookup names at most 10 ids */
#define NGX_HTTP_CI_JOBS_SSE_JOBS  10

/* an event's id: 8 hex digits per job, in the answer's order */
#define NGX_HTTP_CI_JOBS_SSE_ID_LEN  (8 * NGX_HTTP_CI_JOBS_SSE_JOBS)


typedef struct {
    const u_char  *data;      /* the job's object, or its id's string */
    size_t         len;
    uint32_t       version;   /* of its State and Progress; never 0 */
    unsigned       finished:1;   /* Success, Failed, Cancel; or missing */
    unsigned       missing:1;    /* named in NonExistJobIds */
} ngx_http_ci_jobs_sse_job_t;


/*
 * The jobs of a JSON rendering ({"Response":{...}}): each element of
 * JobsDetail or WorkflowExecution (an object or an array of them), then
 * each id of NonExistJobIds (missing: data is the JSON string, quotes
 * included).  Returns their number, at most NGX_HTTP_CI_JOBS_SSE_JOBS,
 * or -1 when the rendering is not an answer's.
 */
int ngx_http_ci_jobs_sse_jobs(const u_char *json, size_t len,
    ngx_http_ci_jobs_sse_job_t *jobs);

/* the bytes of an event: "event: NAME\nid: ID\ndata: DATA\n\n" */
size_t ngx_http_ci_jobs_sse_event_size(size_t name_len, size_t id_len,
    size_t data_len);
size_t ngx_http_ci_jobs_sse_event(u_char *dst, const char *name,
    const u_char *id, size_t id_len, const u_char *data, size_t data_len);

/*
 * The event id of versions[0..n): 8 hex digits each; and back: the
 * versions an id names (0 where it names none).  Returns the count.
 */
size_t ngx_http_ci_jobs_sse_id(u_char *dst, const uint32_t *versions,
    size_t n);
size_t ngx_http_ci_jobs_sse_id_parse(const u_char *id, size_t len,
    uint32_t *versions);


#endif /* _NGX_HTTP_CI_JOBS_SSE_H_INCLUDED_ */
