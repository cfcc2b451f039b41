
/*
 * Request validation, over plain buffers: only the ten CI queries, with
 * valid ids and parameters, are accepted.  Anything else is refused
 * before it can be signed, so the gateway never signs what a client made
 * up.
 */


#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if (__SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_http_ci_jobs_request.h"
#include "ngx_http_ci_jobs_text.h"


#define NGX_HTTP_CI_JOBS_MAX_VALUE_LEN  1024
#define NGX_HTTP_CI_JOBS_MAX_SIZE       100      /* of a list page */
#define NGX_HTTP_CI_JOBS_MAX_SIZE_LEN                                         \
    (sizeof(ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_MAX_SIZE)) - 1)


typedef enum {
    NGX_HTTP_CI_JOBS_VALUE_ID = 0,       /* 1-MAX_ID_LEN letters, digits */
    NGX_HTTP_CI_JOBS_VALUE_TAG,          /* the same, and "_" */
    NGX_HTTP_CI_JOBS_VALUE_TEXT,         /* 1-MAX_VALUE_LEN bytes of text */
    NGX_HTTP_CI_JOBS_VALUE_ORDER,        /* Desc, Asc */
    NGX_HTTP_CI_JOBS_VALUE_SIZE,         /* 1-MAX_SIZE */
    NGX_HTTP_CI_JOBS_VALUE_STATES,       /* a list of job states */
    NGX_HTTP_CI_JOBS_VALUE_RUN_STATES,   /* a list of workflow run states */
    NGX_HTTP_CI_JOBS_VALUE_TYPE,         /* Workflow, Job */
    NGX_HTTP_CI_JOBS_VALUE_TIME          /* YYYY-MM-DDTHH:MM:SS+HHMM */
} ngx_http_ci_jobs_value_e;


typedef struct {
    const char                *name;
    ngx_http_ci_jobs_value_e   value;
    const char                *error;
    const char                *missing;  /* required: the refusal if absent */
} ngx_http_ci_jobs_param_t;


typedef struct {
    const ngx_http_ci_jobs_param_t  *params;
    size_t                           nparams;
} ngx_http_ci_jobs_list_t;


/* the path segment that names the query, and the two APIs it leads to */

typedef struct {
    const char              *name;
    ngx_http_ci_jobs_api_e   id_api;     /* <name>/<ids> */
    ngx_http_ci_jobs_api_e   list_api;   /* <name>?<parameters> */
} ngx_http_ci_jobs_base_t;


static int ngx_http_ci_jobs_parse_ids(ngx_http_ci_jobs_request_t *req,
    const u_char *p, const u_char *last, size_t max, u_char *buf);
static int ngx_http_ci_jobs_parse_query(ngx_http_ci_jobs_request_t *req,
    const u_char *p, const u_char *last, u_char *scratch);
static const u_char *ngx_http_ci_jobs_query_chars(const u_char *p,
    const u_char *last);
static const u_char *ngx_http_ci_jobs_span(const u_char *p,
    const u_char *last, u_char class);
static size_t ngx_http_ci_jobs_decode(u_char *dst, const u_char *src,
    size_t len);
static int ngx_http_ci_jobs_check_text(const u_char *p, size_t len);
static int ngx_http_ci_jobs_check_value(ngx_http_ci_jobs_value_e type,
    const u_char *p, size_t len);
static int ngx_http_ci_jobs_check_states(const u_char *p, size_t len,
    const char **states, size_t nstates);
static int ngx_http_ci_jobs_check_time(const u_char *p, size_t len);
static int ngx_http_ci_jobs_digits(const u_char *p, size_t n, int min,
    int max);
static int ngx_http_ci_jobs_refuse(ngx_http_ci_jobs_request_t *req, int rc,
    const char *error);


const char  *ngx_http_ci_jobs_api_names[NGX_HTTP_CI_JOBS_API_COUNT] = {
    "jobs", "pic_jobs", "ai_jobs", "inventorytriggerjob", "list",
    "workflowexecution", "workflowexecution_list", "pic_jobs_list",
    "ai_jobs_list", "inventorytriggerjob_list"
};


/* the upstream path of each API, "/" before it and the ids after */

static const char  *ngx_http_ci_jobs_api_paths[NGX_HTTP_CI_JOBS_API_COUNT] = {
    "jobs", "pic_jobs", "ai_jobs", "inventorytriggerjob", "jobs",
    "workflowexecution", "workflowexecution", "pic_jobs", "ai_jobs",
    "inventorytriggerjob"
};


static const ngx_http_ci_jobs_base_t  ngx_http_ci_jobs_bases[] = {
    { "jobs", NGX_HTTP_CI_JOBS_API_JOBS, NGX_HTTP_CI_JOBS_API_LIST },
    { "pic_jobs", NGX_HTTP_CI_JOBS_API_PIC_JOBS,
      NGX_HTTP_CI_JOBS_API_PIC_LIST },
    { "ai_jobs", NGX_HTTP_CI_JOBS_API_AI_JOBS, NGX_HTTP_CI_JOBS_API_AI_LIST },
    { "inventorytriggerjob", NGX_HTTP_CI_JOBS_API_INVENTORY,
      NGX_HTTP_CI_JOBS_API_INVENTORY_LIST },
    { "workflowexecution", NGX_HTTP_CI_JOBS_API_WORKFLOW,
      NGX_HTTP_CI_JOBS_API_WORKFLOW_LIST }
};

#define NGX_HTTP_CI_JOBS_NBASES                                               \
    (sizeof(ngx_http_ci_jobs_bases) / sizeof(ngx_http_ci_jobs_bases[0]))


#define NGX_HTTP_CI_JOBS_ID_ERROR                                             \
    "a job id is 1 to "                                                       \
    ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_MAX_ID_LEN)                   \
    " letters and digits"
#define NGX_HTTP_CI_JOBS_IDS_ERROR                                            \
    "at most " ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_MAX_IDS) " job ids"


/* the lists' parameters, each written once: name, value, errors */

#define ngx_http_ci_jobs_param_id(name)                                       \
    { name, NGX_HTTP_CI_JOBS_VALUE_ID, "invalid " name, NULL }
#define ngx_http_ci_jobs_param_text(name)                                     \
    { name, NGX_HTTP_CI_JOBS_VALUE_TEXT, "invalid " name, NULL }

#define NGX_HTTP_CI_JOBS_PARAM_QUEUE                                          \
    { "queueId", NGX_HTTP_CI_JOBS_VALUE_ID, "invalid queueId",                \
      "queueId is required" }
#define NGX_HTTP_CI_JOBS_PARAM_TAG                                            \
    { "tag", NGX_HTTP_CI_JOBS_VALUE_TAG, "invalid tag", "tag is required" }
#define NGX_HTTP_CI_JOBS_PARAM_ORDER                                          \
    { "orderByTime", NGX_HTTP_CI_JOBS_VALUE_ORDER,                            \
      "orderByTime must be Desc or Asc", NULL }
#define NGX_HTTP_CI_JOBS_PARAM_SIZE                                           \
    { "size", NGX_HTTP_CI_JOBS_VALUE_SIZE,                                    \
      "size must be 1 to "                                                    \
      ngx_http_ci_jobs_stringify(NGX_HTTP_CI_JOBS_MAX_SIZE), NULL }
#define NGX_HTTP_CI_JOBS_PARAM_STATES                                         \
    { "states", NGX_HTTP_CI_JOBS_VALUE_STATES,                                \
      "states must be a list of All, Submitted, Running, Success, Failed, "   \
      "Pause, Cancel", NULL }
#define NGX_HTTP_CI_JOBS_PARAM_START                                          \
    { "startCreationTime", NGX_HTTP_CI_JOBS_VALUE_TIME,                       \
      "startCreationTime must be like 2001-01-01T00:00:00+0800", NULL }
#define NGX_HTTP_CI_JOBS_PARAM_END                                            \
    { "endCreationTime", NGX_HTTP_CI_JOBS_VALUE_TIME,                         \
      "endCreationTime must be like 2001-01-01T00:00:00+0800", NULL }


/* the order, page and filters of the job lists */
#define NGX_HTTP_CI_JOBS_PARAMS_JOB_PAGE                                      \
    NGX_HTTP_CI_JOBS_PARAM_ORDER,                                             \
    ngx_http_ci_jobs_param_text("nextToken"),                                 \
    NGX_HTTP_CI_JOBS_PARAM_SIZE,                                              \
    NGX_HTTP_CI_JOBS_PARAM_STATES,                                            \
    NGX_HTTP_CI_JOBS_PARAM_START,                                             \
    NGX_HTTP_CI_JOBS_PARAM_END


/* GET /jobs and GET /pic_jobs (the job lists of media and of pictures) */

static const ngx_http_ci_jobs_param_t  ngx_http_ci_jobs_job_params[] = {
    NGX_HTTP_CI_JOBS_PARAM_QUEUE,
    NGX_HTTP_CI_JOBS_PARAM_TAG,
    ngx_http_ci_jobs_param_id("workflowId"),
    ngx_http_ci_jobs_param_id("inventoryTriggerJobId"),
    ngx_http_ci_jobs_param_text("inputObject"),
    NGX_HTTP_CI_JOBS_PARAMS_JOB_PAGE
};


/* GET /ai_jobs */

static const ngx_http_ci_jobs_param_t  ngx_http_ci_jobs_ai_params[] = {
    NGX_HTTP_CI_JOBS_PARAM_QUEUE,
    NGX_HTTP_CI_JOBS_PARAM_TAG,
    NGX_HTTP_CI_JOBS_PARAMS_JOB_PAGE
};


/*
 * GET /workflowexecution: Tencent's pages disagree on whether workflowId
 * is required (436/80048 says so, 1045/51276 does not): it is optional.
 */

static const ngx_http_ci_jobs_param_t  ngx_http_ci_jobs_run_params[] = {
    ngx_http_ci_jobs_param_id("workflowId"),
    ngx_http_ci_jobs_param_text("name"),
    NGX_HTTP_CI_JOBS_PARAM_ORDER,
    NGX_HTTP_CI_JOBS_PARAM_SIZE,
    { "states", NGX_HTTP_CI_JOBS_VALUE_RUN_STATES,
      "states must be a list of All, Success, Failed, Running, Cancel",
      NULL },
    NGX_HTTP_CI_JOBS_PARAM_START,
    NGX_HTTP_CI_JOBS_PARAM_END,
    ngx_http_ci_jobs_param_text("nextToken"),
    ngx_http_ci_jobs_param_id("jobId")
};


/* GET /inventorytriggerjob: every parameter optional */

static const ngx_http_ci_jobs_param_t  ngx_http_ci_jobs_inventory_params[] = {
    ngx_http_ci_jobs_param_text("nextToken"),
    NGX_HTTP_CI_JOBS_PARAM_SIZE,
    { "type", NGX_HTTP_CI_JOBS_VALUE_TYPE, "type must be Workflow or Job",
      NULL },
    NGX_HTTP_CI_JOBS_PARAM_ORDER,
    NGX_HTTP_CI_JOBS_PARAM_STATES,
    NGX_HTTP_CI_JOBS_PARAM_START,
    NGX_HTTP_CI_JOBS_PARAM_END,
    ngx_http_ci_jobs_param_id("workflowId"),
    ngx_http_ci_jobs_param_id("jobId"),
    ngx_http_ci_jobs_param_text("name")
};


#define ngx_http_ci_jobs_list(params)                                         \
    { params, sizeof(params) / sizeof(params[0]) }

static const ngx_http_ci_jobs_list_t
    ngx_http_ci_jobs_lists[NGX_HTTP_CI_JOBS_API_COUNT] =
{
    [NGX_HTTP_CI_JOBS_API_LIST] =
        ngx_http_ci_jobs_list(ngx_http_ci_jobs_job_params),
    [NGX_HTTP_CI_JOBS_API_PIC_LIST] =
        ngx_http_ci_jobs_list(ngx_http_ci_jobs_job_params),
    [NGX_HTTP_CI_JOBS_API_AI_LIST] =
        ngx_http_ci_jobs_list(ngx_http_ci_jobs_ai_params),
    [NGX_HTTP_CI_JOBS_API_WORKFLOW_LIST] =
        ngx_http_ci_jobs_list(ngx_http_ci_jobs_run_params),
    [NGX_HTTP_CI_JOBS_API_INVENTORY_LIST] =
        ngx_http_ci_jobs_list(ngx_http_ci_jobs_inventory_params)
};


static const char  *ngx_http_ci_jobs_states[] = {
    "All", "Submitted", "Running", "Success", "Failed", "Pause", "Cancel"
};


static const char  *ngx_http_ci_jobs_run_states[] = {
    "All", "Success", "Failed", "Running", "Cancel"
};


/*
 * What each byte may be, one load a byte: in a path (a letter, a digit, "_",
 * "," or "/"), in an id (a letter or a digit), in a query (printable ASCII
 * but "#").
 */

#define NGX_HTTP_CI_JOBS_PATH_CHAR   1
#define NGX_HTTP_CI_JOBS_ID_CHAR     2
#define NGX_HTTP_CI_JOBS_QUERY_CHAR  4

static const u_char  ngx_http_ci_jobs_url_chars[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,     /* 10 */
    0, 4, 4, 0, 4, 4, 4, 4, 4, 4, 4, 4, 5, 4, 4, 5,     /*  !"#$%&'()*+,-./ */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 4, 4, 4, 4, 4, 4,     /* 0123456789:;<=>? */
    4, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,     /* @ABCDEFGHIJKLMNO */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 4, 4, 4, 4, 5,     /* PQRSTUVWXYZ[\]^_ */
    4, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,     /* `abcdefghijklmno */
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 4, 4, 4, 4, 0      /* pqrstuvwxyz{|}~  */
};


/* "%2C" or "%2c" at p, an encoded comma: SDKs send it between ids */
#define ngx_http_ci_jobs_is_comma(p, last)                                    \
    ((last) - (p) >= 3 && (p)[0] == '%' && (p)[1] == '2'                      \
     && ((p)[2] | 0x20) == 'c')


int
ngx_http_ci_jobs_parse_request(ngx_http_ci_jobs_request_t *req,
    const u_char *path, size_t path_len, const u_char *query,
    size_t query_len, u_char *scratch)
{
    int                             rc;
    size_t                          i, len;
    const u_char                   *p, *last, *slash;
    const ngx_http_ci_jobs_base_t  *base;

    memset(req, 0, offsetof(ngx_http_ci_jobs_request_t, params));

    last = path + path_len;

    for (p = path; ; p += 3) {
        p = ngx_http_ci_jobs_span(p, last, NGX_HTTP_CI_JOBS_PATH_CHAR);

        if (p == last) {
            break;
        }

        if (!ngx_http_ci_jobs_is_comma(p, last)) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           "invalid character in path");
        }
    }

    if (path_len && path[0] == '/') {
        return ngx_http_ci_jobs_refuse(req, NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                       "empty path segment");
    }

    slash = memchr(path, '/', path_len);
    len = (slash ? slash : last) - path;

    for (i = 0; i < NGX_HTTP_CI_JOBS_NBASES; i++) {
        if (strlen(ngx_http_ci_jobs_bases[i].name) == len
            && memcmp(ngx_http_ci_jobs_bases[i].name, path, len) == 0)
        {
            break;
        }
    }

    if (i == NGX_HTTP_CI_JOBS_NBASES) {
        return ngx_http_ci_jobs_refuse(req,
                                       NGX_HTTP_CI_JOBS_REQUEST_NO_SUCH_API,
                                       "no such API");
    }

    base = &ngx_http_ci_jobs_bases[i];
    req->api_known = 1;

    if (slash == NULL) {
        req->api = base->list_api;

        return ngx_http_ci_jobs_parse_query(req, query,
                                            query ? query + query_len : NULL,
                                            scratch);
    }

    req->api = base->id_api;

    /* no CI parameter: the gateway's own access_token alone */

    if (query_len) {
        rc = ngx_http_ci_jobs_parse_query(req, query, query + query_len,
                                          scratch);
        if (rc != NGX_HTTP_CI_JOBS_REQUEST_OK) {
            return rc;
        }
    }

    /* after the parameters, which take query_len bytes at most */

    return ngx_http_ci_jobs_parse_ids(req, slash + 1, last,
                                      req->api == NGX_HTTP_CI_JOBS_API_JOBS
                                      ? NGX_HTTP_CI_JOBS_MAX_IDS : 1,
                                      scratch + query_len);
}


/* the ids, copied to buf with "," between them: last - p bytes at most */

static int
ngx_http_ci_jobs_parse_ids(ngx_http_ci_jobs_request_t *req, const u_char *p,
    const u_char *last, size_t max, u_char *buf)
{
    size_t         len;
    u_char        *out;
    const u_char  *id, *end;

    req->ids = buf;
    out = buf;

    if (p == last) {
        return ngx_http_ci_jobs_refuse(req, NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                       "a job id is required");
    }

    for ( ;; ) {

        /* one byte past the longest id is enough to refuse it */

        id = p;
        end = (last - p > NGX_HTTP_CI_JOBS_MAX_ID_LEN)
              ? p + NGX_HTTP_CI_JOBS_MAX_ID_LEN + 1 : last;

        p = ngx_http_ci_jobs_span(p, end, NGX_HTTP_CI_JOBS_ID_CHAR);

        len = p - id;
        out = (u_char *) memcpy(out, id, len) + len;

        if (len == 0 || len > NGX_HTTP_CI_JOBS_MAX_ID_LEN) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           NGX_HTTP_CI_JOBS_ID_ERROR);
        }

        if (++req->nids > max) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           max == 1
                                           ? "one job id only"
                                           : NGX_HTTP_CI_JOBS_IDS_ERROR);
        }

        req->ids_len = out - buf;

        if (p == last) {
            return NGX_HTTP_CI_JOBS_REQUEST_OK;
        }

        if (*p == ',') {
            p++;

        } else if (ngx_http_ci_jobs_is_comma(p, last)) {
            p += 3;

        } else {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           NGX_HTTP_CI_JOBS_ID_ERROR);
        }

        if (req->nids == max) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           max == 1
                                           ? "one job id only"
                                           : NGX_HTTP_CI_JOBS_IDS_ERROR);
        }

        *out++ = ',';
    }
}


static int
ngx_http_ci_jobs_parse_query(ngx_http_ci_jobs_request_t *req,
    const u_char *p, const u_char *last, u_char *scratch)
{
    size_t                           i, j, len;
    unsigned                         seen;
    const u_char                    *item, *eq, *end;
    ngx_http_ci_jobs_pair_t         *pair;
    const ngx_http_ci_jobs_list_t   *list;
    const ngx_http_ci_jobs_param_t  *param;

    seen = 0;
    list = &ngx_http_ci_jobs_lists[req->api];

    /* the bytes that ngx_http_ci_jobs_query_chars() did not vouch for */

    for (item = ngx_http_ci_jobs_query_chars(p, last); item < last; item++) {
        if (!(ngx_http_ci_jobs_url_chars[*item]
              & NGX_HTTP_CI_JOBS_QUERY_CHAR))
        {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           "invalid character in query");
        }
    }

    while (p < last) {
        end = memchr(p, '&', last - p);
        if (end == NULL) {
            end = last;
        }

        eq = memchr(p, '=', end - p);

        if (eq == NULL || eq == p) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           "a parameter must be name=value");
        }

        len = eq - p;

        if (ngx_http_ci_jobs_str_is(p, len, "access_token")) {
            /* the gateway's: never signed, sent or part of a key */

            if (req->access_token != NULL) {
                return ngx_http_ci_jobs_refuse(req,
                                               NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                               "repeated parameter");
            }

            req->access_token = eq + 1;
            req->access_token_len = end - eq - 1;
            goto next;
        }

        for (i = 0; i < list->nparams; i++) {
            if (strlen(list->params[i].name) == len
                && memcmp(list->params[i].name, p, len) == 0)
            {
                break;
            }
        }

        if (i == list->nparams) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           list->nparams
                                           ? "unknown parameter"
                                           : "no query parameters expected");
        }

        if (seen & (1u << i)) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           "repeated parameter");
        }

        seen |= 1u << i;
        param = &list->params[i];

        len = ngx_http_ci_jobs_decode(scratch, eq + 1, end - eq - 1);

        if (len == 0 && param->missing == NULL) {
            /* an empty optional parameter is as if absent, as in CI */
            goto next;
        }

        if (len == (size_t) -1
            || ngx_http_ci_jobs_check_text(scratch, len) != 0
            || ngx_http_ci_jobs_check_value(param->value, scratch, len) != 0)
        {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           param->error);
        }

        pair = &req->params[req->nparams++];
        pair->name = (const u_char *) param->name;
        pair->name_len = strlen(param->name);
        pair->value = scratch;
        pair->value_len = len;

        scratch += len;

    next:

        p = end + 1;

        if (end == last) {
            break;
        }

        if (p == last) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           "a parameter must be name=value");
        }
    }

    for (j = 0; j < list->nparams; j++) {
        if (list->params[j].missing && !(seen & (1u << j))) {
            return ngx_http_ci_jobs_refuse(req,
                                           NGX_HTTP_CI_JOBS_REQUEST_INVALID,
                                           list->params[j].missing);
        }
    }

    return NGX_HTTP_CI_JOBS_REQUEST_OK;
}


/*
 * How far from p the bytes are all query characters, at least: many at a
 * time, as an access_token makes a query some 200 bytes long.  The bytes
 * of the step that failed, and those after it, are for the caller to look
 * at one at a time.  With SSE2, thirty-two a step, then sixteen, then the
 * last sixteen over some of those before, the table's
 * NGX_HTTP_CI_JOBS_QUERY_CHAR as compares: 0x21 to 0x7e, '#' aside (plus
 * 0x5f, those bytes alone are below -34 as signed ones); else eight table
 * loads and one branch a step.
 */

#if (__SSE2__)
#define ngx_http_ci_jobs_query_ok(p)                                          \
    ngx_http_ci_jobs_query_ok_(_mm_loadu_si128((const __m128i *) (p)))
#define ngx_http_ci_jobs_query_ok_(v)                                         \
    _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('#')),                   \
                     _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(0x5f)),     \
                                    _mm_set1_epi8(-34)))
#endif

static const u_char *
ngx_http_ci_jobs_query_chars(const u_char *p, const u_char *last)
{
#if (__SSE2__)

    const u_char  *start;

    start = p;

    while (last - p >= 32) {
        if (_mm_movemask_epi8(_mm_and_si128(ngx_http_ci_jobs_query_ok(p),
                                            ngx_http_ci_jobs_query_ok(p + 16)))
            != 0xffff)
        {
            return p;
        }

        p += 32;
    }

    if (last - p >= 16) {
        if (_mm_movemask_epi8(ngx_http_ci_jobs_query_ok(p)) != 0xffff) {
            return p;
        }

        p += 16;
    }

    if (p < last && last - start >= 16
        && _mm_movemask_epi8(ngx_http_ci_jobs_query_ok(last - 16)) == 0xffff)
    {
        return last;
    }

#else

    while (last - p >= 8) {
        if (!(ngx_http_ci_jobs_url_chars[p[0]]
              & ngx_http_ci_jobs_url_chars[p[1]]
              & ngx_http_ci_jobs_url_chars[p[2]]
              & ngx_http_ci_jobs_url_chars[p[3]]
              & ngx_http_ci_jobs_url_chars[p[4]]
              & ngx_http_ci_jobs_url_chars[p[5]]
              & ngx_http_ci_jobs_url_chars[p[6]]
              & ngx_http_ci_jobs_url_chars[p[7]]
              & NGX_HTTP_CI_JOBS_QUERY_CHAR))
        {
            break;
        }

        p += 8;
    }

#endif

    return p;
}


/*
 * How far from p the bytes are of a class: NGX_HTTP_CI_JOBS_ID_CHAR
 * (letters and digits) or NGX_HTTP_CI_JOBS_PATH_CHAR (those, "_", ","
 * and "/").  With SSE2, sixteen a step, a range a signed compare each: a
 * byte plus 0x1f (of a lower-cased letter) or plus 0x50 (of a digit) is
 * below -102 or -118 for those alone; the last bytes, or all of them
 * without SSE2, one table load each.
 */

static const u_char *
ngx_http_ci_jobs_span(const u_char *p, const u_char *last, u_char class)
{
#if (__SSE2__)

    int            bad;
    __m128i        v, ok;
    const u_char  *start;

    start = p;

    for ( ;; ) {

        if (last - p < 16) {
            if (p == last || last - start < 16) {
                break;
            }

            /* the last sixteen: those before p in them are of the class */
            p = last - 16;
        }

        v = _mm_loadu_si128((const __m128i *) p);

        ok = _mm_or_si128(
                 _mm_cmplt_epi8(
                     _mm_add_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)),
                                  _mm_set1_epi8(0x1f)),
                     _mm_set1_epi8(-102)),
                 _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(0x50)),
                                _mm_set1_epi8(-118)));

        if (class == NGX_HTTP_CI_JOBS_PATH_CHAR) {
            ok = _mm_or_si128(ok,
                     _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')),
                         _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(',')),
                                      _mm_cmpeq_epi8(v, _mm_set1_epi8('/')))));
        }

        bad = _mm_movemask_epi8(ok) ^ 0xffff;

        if (bad) {
            return p + __builtin_ctz(bad);
        }

        p += 16;
    }

#endif

    while (p < last && (ngx_http_ci_jobs_url_chars[*p] & class)) {
        p++;
    }

    return p;
}


/*
 * Percent-decoding.  "+" stays a plus sign (RFC 3986): this keeps the
 * "+0800" of a time value as clients write it.  Returns -1 on a broken
 * escape.
 */

static size_t
ngx_http_ci_jobs_decode(u_char *dst, const u_char *src, size_t len)
{
    u_char         c, h, l;
    size_t         n;
    const u_char  *last;

    last = src + len;

    for (n = 0; src < last; n++) {
        c = *src++;

        if (c == '%') {
            if (last - src < 2) {
                return (size_t) -1;
            }

            h = src[0] | 0x20;
            l = src[1] | 0x20;

            h = (h >= '0' && h <= '9') ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : 0xff;
            l = (l >= '0' && l <= '9') ? l - '0'
                : (l >= 'a' && l <= 'f') ? l - 'a' + 10 : 0xff;

            if (h == 0xff || l == 0xff) {
                return (size_t) -1;
            }

            c = (u_char) (h << 4 | l);
            src += 2;
        }

        dst[n] = c;
    }

    return n;
}


/*
 * 1 to NGX_HTTP_CI_JOBS_MAX_VALUE_LEN bytes of strict UTF-8 without
 * control characters: no C0, no DEL, no C1 (U+0080 to U+009F).
 */

static int
ngx_http_ci_jobs_check_text(const u_char *p, size_t len)
{
    uint32_t       cp;
    const u_char  *last;

    if (len == 0 || len > NGX_HTTP_CI_JOBS_MAX_VALUE_LEN) {
        return -1;
    }

    last = p + len;

    while (p < last) {
        cp = ngx_http_ci_jobs_utf8_next(&p, last);

        if (cp == NGX_HTTP_CI_JOBS_UTF8_BAD
            || cp < 0x20
            || (cp >= 0x7f && cp < 0xa0))
        {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_ci_jobs_check_value(ngx_http_ci_jobs_value_e type, const u_char *p,
    size_t len)
{
    size_t  i;

    switch (type) {

    case NGX_HTTP_CI_JOBS_VALUE_ID:
    case NGX_HTTP_CI_JOBS_VALUE_TAG:
        if (len > NGX_HTTP_CI_JOBS_MAX_ID_LEN) {
            return -1;
        }

        for (i = 0; i < len; i++) {
            if (!ngx_http_ci_jobs_is_alnum(p[i])
                && !(type == NGX_HTTP_CI_JOBS_VALUE_TAG && p[i] == '_'))
            {
                return -1;
            }
        }

        return 0;

    case NGX_HTTP_CI_JOBS_VALUE_TEXT:
        return 0;

    case NGX_HTTP_CI_JOBS_VALUE_ORDER:
        return (len == 4 && memcmp(p, "Desc", 4) == 0)
               || (len == 3 && memcmp(p, "Asc", 3) == 0) ? 0 : -1;

    case NGX_HTTP_CI_JOBS_VALUE_SIZE:
        if (len > NGX_HTTP_CI_JOBS_MAX_SIZE_LEN || p[0] == '0') {
            return -1;
        }

        return ngx_http_ci_jobs_digits(p, len, 1, NGX_HTTP_CI_JOBS_MAX_SIZE);

    case NGX_HTTP_CI_JOBS_VALUE_STATES:
        return ngx_http_ci_jobs_check_states(p, len, ngx_http_ci_jobs_states,
                                             sizeof(ngx_http_ci_jobs_states)
                                             / sizeof(char *));

    case NGX_HTTP_CI_JOBS_VALUE_RUN_STATES:
        return ngx_http_ci_jobs_check_states(p, len,
                                             ngx_http_ci_jobs_run_states,
                                             sizeof(ngx_http_ci_jobs_run_states)
                                             / sizeof(char *));

    case NGX_HTTP_CI_JOBS_VALUE_TYPE:
        return (len == 8 && memcmp(p, "Workflow", 8) == 0)
               || (len == 3 && memcmp(p, "Job", 3) == 0) ? 0 : -1;

    default: /* NGX_HTTP_CI_JOBS_VALUE_TIME */
        return ngx_http_ci_jobs_check_time(p, len);
    }
}


static int
ngx_http_ci_jobs_check_states(const u_char *p, size_t len,
    const char **states, size_t nstates)
{
    size_t         i, n;
    unsigned       seen;
    const u_char  *last, *comma;

    seen = 0;
    last = p + len;

    for ( ;; ) {
        comma = memchr(p, ',', last - p);
        n = (comma ? comma : last) - p;

        for (i = 0; i < nstates; i++) {
            if (strlen(states[i]) == n && memcmp(states[i], p, n) == 0) {
                break;
            }
        }

        if (i == nstates || (seen & (1u << i)))
        {
            return -1;
        }

        seen |= 1u << i;

        if (comma == NULL) {
            return 0;
        }

        p = comma + 1;
    }
}


/* %Y-%m-%dT%H:%M:%S%z, e.g. 2001-01-01T00:00:00+0800 */

static int
ngx_http_ci_jobs_check_time(const u_char *p, size_t len)
{
    if (len != sizeof("2001-01-01T00:00:00+0800") - 1
        || p[4] != '-' || p[7] != '-' || p[10] != 'T' || p[13] != ':'
        || p[16] != ':' || (p[19] != '+' && p[19] != '-'))
    {
        return -1;
    }

    return ngx_http_ci_jobs_digits(p, 4, 0, 9999)
           | ngx_http_ci_jobs_digits(p + 5, 2, 1, 12)
           | ngx_http_ci_jobs_digits(p + 8, 2, 1, 31)
           | ngx_http_ci_jobs_digits(p + 11, 2, 0, 23)
           | ngx_http_ci_jobs_digits(p + 14, 2, 0, 59)
           | ngx_http_ci_jobs_digits(p + 17, 2, 0, 59)
           | ngx_http_ci_jobs_digits(p + 20, 2, 0, 14)
           | ngx_http_ci_jobs_digits(p + 22, 2, 0, 59);
}


/* n decimal digits whose value is within min..max: 0, or -1 */

static int
ngx_http_ci_jobs_digits(const u_char *p, size_t n, int min, int max)
{
    int  value;

    for (value = 0; n; n--, p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }

        value = value * 10 + (*p - '0');
    }

    return (value >= min && value <= max) ? 0 : -1;
}


static int
ngx_http_ci_jobs_refuse(ngx_http_ci_jobs_request_t *req, int rc,
    const char *error)
{
    req->error = error;
    return rc;
}


size_t
ngx_http_ci_jobs_request_path(u_char *buf,
    const ngx_http_ci_jobs_request_t *req)
{
    size_t       len;
    const char  *api;

    api = ngx_http_ci_jobs_api_paths[req->api];
    len = strlen(api);

    if (ngx_http_ci_jobs_api_is_list(req->api)) {
        if (buf) {
            buf[0] = '/';
            memcpy(buf + 1, api, len);
        }

        return 1 + len;
    }

    if (buf) {
        buf[0] = '/';
        memcpy(buf + 1, api, len);
        buf[1 + len] = '/';
        memcpy(buf + 2 + len, req->ids, req->ids_len);
    }

    return 2 + len + req->ids_len;
}


size_t
ngx_http_ci_jobs_request_query(u_char *buf,
    const ngx_http_ci_jobs_request_t *req)
{
    size_t                          i, n;
    const ngx_http_ci_jobs_pair_t  *pair;

    for (n = 0, i = 0; i < req->nparams; i++) {
        pair = &req->params[i];

        if (buf) {
            if (i) {
                buf[n] = '&';
            }

            memcpy(buf + n + (i ? 1 : 0), pair->name, pair->name_len);
            buf[n + (i ? 1 : 0) + pair->name_len] = '=';
        }

        n += (i ? 1 : 0) + pair->name_len + 1;
        n += ngx_http_ci_jobs_uri_encode(buf ? buf + n : NULL, pair->value,
                                         pair->value_len);
    }

    return n;
}
