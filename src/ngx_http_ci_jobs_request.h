
/*
 * Validation of a gateway request: the raw path below the location prefix
 * and the raw query become one of the ten CI queries, or a refusal.
 * No nginx types: used by the module, the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_REQUEST_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_REQUEST_H_INCLUDED_


#include "ngx_http_ci_jobs_sign.h"


/* plain numbers: the refusals quote them */
#define NGX_HTTP_CI_JOBS_MAX_IDS      10
#define NGX_HTTP_CI_JOBS_MAX_ID_LEN   64
#define NGX_HTTP_CI_JOBS_MAX_PARAMS   12

/* results of ngx_http_ci_jobs_parse_request() */
#define NGX_HTTP_CI_JOBS_REQUEST_OK           0
#define NGX_HTTP_CI_JOBS_REQUEST_INVALID      400    /* InvalidArgument */
#define NGX_HTTP_CI_JOBS_REQUEST_NO_SUCH_API  404    /* NoSuchApi */


/*
 * The first five are the default of ci_jobs_apis; the id lookups come
 * before the lists (ngx_http_ci_jobs_api_is_list()).
 */

typedef enum {
    NGX_HTTP_CI_JOBS_API_JOBS = 0,           /* GET /jobs/<ids> */
    NGX_HTTP_CI_JOBS_API_PIC_JOBS,           /* GET /pic_jobs/<id> */
    NGX_HTTP_CI_JOBS_API_AI_JOBS,            /* GET /ai_jobs/<id> */
    NGX_HTTP_CI_JOBS_API_INVENTORY,          /* GET /inventorytriggerjob/<id> */
    NGX_HTTP_CI_JOBS_API_LIST,               /* GET /jobs?queueId=&tag=... */
    NGX_HTTP_CI_JOBS_API_WORKFLOW,           /* GET /workflowexecution/<id> */
    NGX_HTTP_CI_JOBS_API_WORKFLOW_LIST,      /* GET /workflowexecution?... */
    NGX_HTTP_CI_JOBS_API_PIC_LIST,           /* GET /pic_jobs?queueId=... */
    NGX_HTTP_CI_JOBS_API_AI_LIST,            /* GET /ai_jobs?queueId=... */
    NGX_HTTP_CI_JOBS_API_INVENTORY_LIST,     /* GET /inventorytriggerjob?... */
    NGX_HTTP_CI_JOBS_API_COUNT
} ngx_http_ci_jobs_api_e;


/* the five of before the neighbouring APIs came */
#define NGX_HTTP_CI_JOBS_DEFAULT_APIS                                         \
    ((1u << NGX_HTTP_CI_JOBS_API_WORKFLOW) - 1)

#define ngx_http_ci_jobs_api_is_list(api)                                     \
    ((api) == NGX_HTTP_CI_JOBS_API_LIST                                       \
     || (api) >= NGX_HTTP_CI_JOBS_API_WORKFLOW_LIST)


typedef struct {
    ngx_http_ci_jobs_api_e   api;
    unsigned                 api_known:1;  /* api is set, even if refused */
    const u_char            *ids;        /* "id1,id2", in the scratch */
    size_t                   ids_len;
    size_t                   nids;
    size_t                   nparams;    /* decoded, in request order */
    const u_char            *access_token;  /* raw, in the query */
    size_t                   access_token_len;
    const char              *error;      /* why it was refused */

    /* left as they are by the parse: read up to nparams */
    ngx_http_ci_jobs_pair_t  params[NGX_HTTP_CI_JOBS_MAX_PARAMS];
} ngx_http_ci_jobs_request_t;


/*
 * The names of ci_jobs_apis: "jobs", "pic_jobs", "ai_jobs",
 * "inventorytriggerjob", "list", "workflowexecution",
 * "workflowexecution_list", "pic_jobs_list", "ai_jobs_list",
 * "inventorytriggerjob_list"
 */
extern const char *ngx_http_ci_jobs_api_names[NGX_HTTP_CI_JOBS_API_COUNT];

/*
 * path: the raw (still percent-encoded) request path below the location
 * prefix, e.g. "jobs/j1,j2" (or "jobs/j1%2Cj2": an encoded comma is a
 * separator too); query: the raw query string without "?" (NULL or empty
 * when there is none).  An optional parameter with an empty value is as
 * if absent: it is left out of req->params.  The access_token parameter
 * is the gateway's own: it is left out too, its raw value in
 * req->access_token (NULL when absent).  scratch: path_len + query_len
 * bytes at least, holds the decoded parameters and the ids.  Returns
 * NGX_HTTP_CI_JOBS_REQUEST_OK or a refusal code with req->error set to a
 * short message for the client.
 */
int ngx_http_ci_jobs_parse_request(ngx_http_ci_jobs_request_t *req,
    const u_char *path, size_t path_len, const u_char *query,
    size_t query_len, u_char *scratch);

/*
 * The upstream request target pieces.  Each returns the length written;
 * with buf NULL only computes it.  The path is "/jobs/<ids>" and the like;
 * the query is the parameters re-encoded with ngx_http_ci_jobs_uri_encode()
 * (so the bytes sent are the bytes signed), without "?", empty for ids.
 */
size_t ngx_http_ci_jobs_request_path(u_char *buf,
    const ngx_http_ci_jobs_request_t *req);
size_t ngx_http_ci_jobs_request_query(u_char *buf,
    const ngx_http_ci_jobs_request_t *req);


#endif /* _NGX_HTTP_CI_JOBS_REQUEST_H_INCLUDED_ */
