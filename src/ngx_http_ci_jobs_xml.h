
/*
 * One pass over an upstream XML answer: checks that it is well-formed,
 * reads what the cache needs (the job states), and optionally writes the
 * JSON rendering.  No nginx types: used by the module, the unit tests and
 * the fuzzers.  The pass's own parts: ngx_http_ci_jobs_xml_pass.h.
 */


#ifndef _NGX_HTTP_CI_JOBS_XML_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_XML_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>


#define NGX_HTTP_CI_JOBS_XML_OK     0
#define NGX_HTTP_CI_JOBS_XML_ERROR  -1    /* not well-formed, not UTF-8 ... */
#define NGX_HTTP_CI_JOBS_XML_NOMEM  -2

/* the most ids conf->ids may name */
#define NGX_HTTP_CI_JOBS_XML_MAX_IDS  10


/*
 * Pool-style allocation; free, when set, takes back what the pass has
 * outgrown or no longer needs (a pool frees large blocks only: the ones
 * that matter).
 */
typedef void *(*ngx_http_ci_jobs_alloc_pt)(void *data, size_t size);
typedef void (*ngx_http_ci_jobs_free_pt)(void *data, void *p);


typedef struct {
    const u_char  *data;
    size_t         len;
} ngx_http_ci_jobs_name_t;


typedef struct {
    const ngx_http_ci_jobs_name_t  *array_names;  /* always JSON arrays */
    size_t                          narray_names;
    unsigned                        json:1;       /* write JSON too */
    unsigned                        no_facts:1;   /* no cache: no facts */
    /* libxml2 reads every answer: the fuzzers compare it with the scanner */
    unsigned                        libxml_only:1;
    ngx_http_ci_jobs_alloc_pt       alloc;
    ngx_http_ci_jobs_free_pt        free;         /* or NULL */
    void                           *alloc_data;
    const u_char                   *ids;          /* "id1,id2" asked for */
    size_t                          ids_len;      /* 0: not an id lookup */
} ngx_http_ci_jobs_xml_conf_t;


typedef struct {
    u_char        *json;           /* with conf->json: the rendering */
    size_t         json_len;
    /* the cache's facts, all zero with conf->no_facts */
    size_t         jobs;           /* <JobsDetail> children of the root */
    size_t         terminal_jobs;  /* of those, State Success/Failed/Cancel */
    size_t         runs;           /* <WorkflowExecution> children of it */
    size_t         terminal_runs;  /* of those, in a terminal State */
    unsigned       nonexist:1;     /* a non-empty <NonExistJobIds> */
    unsigned       response:1;     /* the root element is <Response> */
    /*
     * With conf->ids: bit i is set when the i-th id asked for is a JobId
     * of a JobsDetail or is named in a NonExistJobIds; foreign when a
     * JobsDetail has no JobId (or several, or one with markup) or names
     * an id not asked for, or a NonExistJobIds does.
     */
    uint32_t       ids_seen;
    unsigned       foreign:1;
    const char    *error;          /* on failure: why, for the error log */
} ngx_http_ci_jobs_xml_result_t;


int ngx_http_ci_jobs_xml_parse(const u_char *xml, size_t len,
    const ngx_http_ci_jobs_xml_conf_t *conf,
    ngx_http_ci_jobs_xml_result_t *res);

/*
 * s, valid UTF-8, as the content of a JSON string, escaped as the JSON
 * answers are (as JSON.stringify() does): at most 6 * len bytes at p.
 */
u_char *ngx_http_ci_jobs_json_escape(u_char *p, const u_char *s,
    size_t len);

/* frees the calling thread's parser, kept from one answer to the next */
void ngx_http_ci_jobs_xml_cleanup(void);


#endif /* _NGX_HTTP_CI_JOBS_XML_H_INCLUDED_ */
