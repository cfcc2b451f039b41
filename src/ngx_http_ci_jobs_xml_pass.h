
/*
 * Inside the XML pass: the state one answer's pass keeps, the events its
 * two readers deliver (the module's own scanner and the libxml2 driver)
 * and the two consumers of those events (the cache's facts, the JSON
 * writer).  Private to the pass: include ngx_http_ci_jobs_xml.h instead.
 */


#ifndef _NGX_HTTP_CI_JOBS_XML_PASS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_XML_PASS_H_INCLUDED_


#include "ngx_http_ci_jobs_xml.h"
#include "ngx_http_ci_jobs_text.h"


/*
 * What a reader returns: the document taken, every event delivered; the
 * pass refused it (pass->error says why, pass->nomem when out of memory);
 * the scanner only: outside its subset, libxml2 decides.
 */
#define NGX_HTTP_CI_JOBS_XML_READ       0
#define NGX_HTTP_CI_JOBS_XML_REFUSED   -1
#define NGX_HTTP_CI_JOBS_XML_DECLINED  -3

/* libxml2's own limit without XML_PARSE_HUGE; deeper is refused */
#define NGX_HTTP_CI_JOBS_XML_MAX_DEPTH  256

/* a JobId, or a NonExistJobIds of ten ids with commas and spaces */
#define NGX_HTTP_CI_JOBS_XML_IDS_TEXT   1024


/* the cache's facts (ngx_http_ci_jobs_xml_facts.c) */

typedef struct {
    size_t                              jobs;
    size_t                              terminal_jobs;
    size_t                              runs;
    size_t                              terminal_runs;
    uint32_t                            ids_seen;
    unsigned                            nonexist:1;
    unsigned                            response:1;
    unsigned                            foreign:1;

    /* where the reading is */
    unsigned                            in_job:1;
    unsigned                            in_run:1;
    unsigned                            job_terminal:1;
    unsigned                            text_child:1;
    unsigned                            ids_over:1;  /* ids_text overflown */
    unsigned                            capture:2;
    size_t                              job_states;
    size_t                              job_ids;     /* JobIds of the job */
    size_t                              state_len;
    u_char                              state[8];

    /* the ids asked for */
    size_t                              nids;
    const u_char                       *id[NGX_HTTP_CI_JOBS_XML_MAX_IDS];
    size_t                              id_len[NGX_HTTP_CI_JOBS_XML_MAX_IDS];
    size_t                              ids_text_len;
    u_char                              ids_text[NGX_HTTP_CI_JOBS_XML_IDS_TEXT];
} ngx_http_ci_jobs_xml_facts_t;


/* the JSON writer's state (ngx_http_ci_jobs_json.c) */

typedef struct ngx_http_ci_jobs_json_name_s   ngx_http_ci_jobs_json_name_t;
typedef struct ngx_http_ci_jobs_json_rec_s    ngx_http_ci_jobs_json_rec_t;
typedef struct ngx_http_ci_jobs_json_plan_s   ngx_http_ci_jobs_json_plan_t;
typedef struct ngx_http_ci_jobs_json_level_s  ngx_http_ci_jobs_json_level_t;

typedef struct {
    const ngx_http_ci_jobs_xml_conf_t  *conf;

    u_char                             *out;
    size_t                              len;
    size_t                              cap;
    size_t                              hint;        /* first capacity */

    ngx_http_ci_jobs_json_level_t      *levels;
    size_t                              nlevels;
    size_t                              levels_cap;

    ngx_http_ci_jobs_json_rec_t        *recs;
    size_t                              nrecs;
    size_t                              recs_cap;

    ngx_http_ci_jobs_json_name_t       *names;
    size_t                              nnames;
    size_t                              names_cap;

    uint32_t                           *slots;       /* 1 + name index */
    size_t                              nslots;      /* a power of 2 */

    ngx_http_ci_jobs_json_plan_t       *plans;
    size_t                              nplans;
    size_t                              plans_cap;
    size_t                              plans_end;   /* the last one's end */
    size_t                              extra;       /* plans' growth bound */
} ngx_http_ci_jobs_json_t;


/* one answer's pass (ngx_http_ci_jobs_xml.c, its events in _xml_events.c) */

typedef struct {
    const ngx_http_ci_jobs_xml_conf_t  *conf;
    const char                         *error;       /* our own refusal */
    unsigned                            failed:1;
    unsigned                            nomem:1;
    unsigned                            root:1;      /* root seen */
    unsigned                            closed:1;    /* root closed */
    size_t                              depth;

    ngx_http_ci_jobs_xml_facts_t        facts;
    ngx_http_ci_jobs_json_t             json;
} ngx_http_ci_jobs_xml_pass_t;


/*
 * The events a reader delivers, in document order: an element starts (its
 * name, "prefix:local" when prefixed; valid as long as the pass), ends,
 * or has text (UTF-8, entities decoded, line ends normalized; in pieces
 * of any size).  Text outside the root is not delivered.  -1 when the
 * pass refuses the document or runs out of memory: the reader stops.
 * Once the root has ended and the document is well-formed, the reader
 * calls ngx_http_ci_jobs_xml_done() while its names are still alive.
 */
int ngx_http_ci_jobs_xml_start(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *name, size_t len);
int ngx_http_ci_jobs_xml_end(ngx_http_ci_jobs_xml_pass_t *pass);
int ngx_http_ci_jobs_xml_text(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *text, size_t len);
int ngx_http_ci_jobs_xml_done(ngx_http_ci_jobs_xml_pass_t *pass);

/*
 * Whether the events are read at all: not when the pass only checks the
 * answer (XML, no cache).  A reader may then deliver none.
 */
#define ngx_http_ci_jobs_xml_wants_events(pass)                               \
    ((pass)->conf->json || !(pass)->conf->no_facts)

/*
 * Whether text here is read at all: always for JSON, else only inside an
 * element the cache's facts capture.  A reader may leave the rest out,
 * and text that follows a child element too: the JSON of an element with
 * children drops its text, and the facts read leaves only.
 */
#define ngx_http_ci_jobs_xml_wants_text(pass)                                 \
    ((pass)->conf->json || (pass)->facts.capture)

void ngx_http_ci_jobs_xml_fail(ngx_http_ci_jobs_xml_pass_t *pass,
    const char *error);
int ngx_http_ci_jobs_xml_nomem(ngx_http_ci_jobs_xml_pass_t *pass);

/*
 * The readers.  The scanner takes only a plain subset of XML that it can
 * check completely, and declines anything else before the caller starts
 * the pass again with libxml2 (ngx_http_ci_jobs_xml_scan.c).
 */
int ngx_http_ci_jobs_xml_scan(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *xml, size_t len);
int ngx_http_ci_jobs_xml_libxml(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *xml, size_t len);

void ngx_http_ci_jobs_xml_facts_init(ngx_http_ci_jobs_xml_facts_t *facts,
    const u_char *ids, size_t ids_len);
void ngx_http_ci_jobs_xml_facts_start(ngx_http_ci_jobs_xml_facts_t *facts,
    size_t depth, const u_char *name, size_t len);
void ngx_http_ci_jobs_xml_facts_end(ngx_http_ci_jobs_xml_facts_t *facts,
    size_t depth);
void ngx_http_ci_jobs_xml_facts_text(ngx_http_ci_jobs_xml_facts_t *facts,
    size_t depth, const u_char *text, size_t len);

/* each -1 only when out of memory */
void ngx_http_ci_jobs_json_init(ngx_http_ci_jobs_json_t *json,
    const ngx_http_ci_jobs_xml_conf_t *conf, size_t hint);
int ngx_http_ci_jobs_json_start(ngx_http_ci_jobs_json_t *json,
    const u_char *name, size_t len);
int ngx_http_ci_jobs_json_end(ngx_http_ci_jobs_json_t *json);
int ngx_http_ci_jobs_json_text(ngx_http_ci_jobs_json_t *json,
    const u_char *text, size_t len);
/* the root has ended: names repeated after others grouped (names alive) */
int ngx_http_ci_jobs_json_finish(ngx_http_ci_jobs_json_t *json);
/* all the writer holds but, with keep_out, the JSON it wrote */
void ngx_http_ci_jobs_json_release(ngx_http_ci_jobs_json_t *json,
    int keep_out);


#endif /* _NGX_HTTP_CI_JOBS_XML_PASS_H_INCLUDED_ */
