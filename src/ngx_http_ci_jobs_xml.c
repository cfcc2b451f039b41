
/*
 * One pass over an upstream XML answer with a libxml2 SAX2 parser:
 * well-formedness, the facts the cache decides on, and, when asked, the
 * JSON rendering, written while the document streams by.
 *
 * JSON is written straight into one output buffer, without a tree:
 *
 * - an element starts as a string: '"' is written and its text is escaped
 *   after it; when its first child element starts, the output is cut back
 *   to the value's start (the text beside child elements is dropped) and
 *   '{' is written instead;
 * - every open element keeps a record of each of its child elements (name,
 *   place of the value in the output); a table keyed by the name (names
 *   are interned in the parser's dictionary, so the pointer is the key)
 *   binds each name to its last record under the innermost open parent
 *   that has one; a record saves the binding it shadows and gives it back
 *   when it is popped, so finding a repeated sibling costs O(1) whatever
 *   the number of siblings;
 * - a name repeated right after itself (the usual case: JobsDetail,
 *   NonExistJobIds) becomes an array on the spot: '[' is slid in before
 *   the previous value, and the next values follow with ','; names of
 *   conf->array_names open their '[' at once;
 * - a name repeated after other names marks the parent, whose records are
 *   kept when it ends, as a plan: each name once, at its first place, with
 *   all its values in document order; nothing written is moved from then
 *   on (a value with a plan inside is not slid: its parent gets a plan);
 * - when the root ends, if there are plans, the output is written once
 *   more into an exactly bounded buffer, each plan in its object's place.
 *
 * So the common answers (no name repeated after others) are converted in
 * one pass with no copy; any other is copied once more, whatever its depth
 * and however many names repeat: the work stays linear.
 *
 * The rules (the official COS SDKs' mapping, with stable arrays):
 * - the root element is kept: {"Response":{...}};
 * - an element with child elements is an object, keys in document order;
 *   repeated names become one array at the first one's place;
 * - conf->array_names are always arrays;
 * - a leaf is a string: its text exactly, entities and character
 *   references decoded, CDATA inlined; an empty element is "";
 * - text beside child elements (mixed content; the SDKs drop fast-xml-
 *   parser's "#text" too), attributes, comments, processing instructions
 *   and the XML declaration are dropped;
 * - a prefixed name is kept whole, "p:name";
 * - strings are escaped as JSON.stringify() does: '"', '\', \b \f \n \r
 *   \t in short form, other control characters as \u00xx, '/' and
 *   non-ASCII characters as they are (UTF-8).
 *
 * Refused: anything not well-formed, invalid UTF-8 or a failing encoding
 * conversion, elements nested deeper than 256 levels (libxml2's own limit
 * without XML_PARSE_HUGE), and any DOCTYPE: CI never sends one, and
 * refusing it rules out entity expansion and external loads.
 */


#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include "ngx_http_ci_jobs_xml.h"


#define NGX_HTTP_CI_JOBS_XML_MAX_DEPTH    256

/*
 * libxml2's push parser starts faster, its pull parser runs faster: on
 * this project's machines push wins below about 3 KB (1 KB: 2.9 us against
 * 3.8 us), pull above (16 KB: 30 us against 36 us; 4 MB: 7.9 ms against
 * 9.8 ms).  Both are driven by the same SAX handler and options.  But the
 * pull parser of libxml2 2.9 takes a NUL character for the end of the
 * input: "<a/>\0garbage" would pass, and so would a NUL made by a
 * declared encoding (UTF-7 "+AAA-").  So it gets only bodies without a NUL
 * byte that are UTF-8 as they are; the push parser checks every byte.
 */

#ifndef NGX_HTTP_CI_JOBS_XML_PULL_MIN
#define NGX_HTTP_CI_JOBS_XML_PULL_MIN     4096
#endif

/* past these, the kept push parser is freed after the answer */
#define NGX_HTTP_CI_JOBS_XML_KEEP_NAMES   4096
#define NGX_HTTP_CI_JOBS_XML_KEEP_ATTS    256

#define NGX_HTTP_CI_JOBS_XML_NONE         0
#define NGX_HTTP_CI_JOBS_XML_STATE        1
#define NGX_HTTP_CI_JOBS_XML_NONEXIST     2
#define NGX_HTTP_CI_JOBS_XML_JOBID        3

/* a JobId, or a NonExistJobIds of ten ids with commas and spaces */
#define NGX_HTTP_CI_JOBS_XML_IDS_TEXT     1024


typedef struct {
    const xmlChar       *name;       /* interned in the parser's dict */
    uint32_t             len;
    uint32_t             last;       /* 1 + record of the last such child */
    uint32_t             array;      /* one of conf->array_names */
} ngx_http_ci_jobs_xml_name_t;


typedef struct {
    size_t               value;      /* the value's place in the output */
    size_t               end;
    uint32_t             name;       /* index in ctx->names */
    uint32_t             next;       /* next sibling of that name, 0: none */
    uint32_t             saved;      /* the binding this record shadows */
    unsigned             repeat:1;   /* not the first of its name */
    unsigned             list:1;     /* "v1,v2,...": a run of siblings */
} ngx_http_ci_jobs_xml_rec_t;


typedef struct {
    size_t                        start;  /* its object's '{' in the output */
    size_t                        end;    /* after its '}' */
    ngx_http_ci_jobs_xml_rec_t   *recs;   /* its children; next: relative */
    size_t                        nrecs;
} ngx_http_ci_jobs_xml_plan_t;


typedef struct {
    size_t               value;      /* the value's place in the output */
    uint32_t             first;      /* its first child's record */
    unsigned             object:1;   /* has child elements */
    unsigned             open:1;     /* '[' of the last child's name open */
    unsigned             regroup:1;  /* a name repeated after others */
} ngx_http_ci_jobs_xml_level_t;


typedef struct {
    const ngx_http_ci_jobs_xml_conf_t  *conf;
    xmlParserCtxtPtr                    ctxt;
    const char                         *error;
    int                                 code;        /* libxml2's first */

    unsigned                            failed:1;    /* our own refusal */
    unsigned                            nomem:1;
    unsigned                            encoding:1;  /* conversion failed */
    unsigned                            root:1;      /* root seen */
    unsigned                            closed:1;    /* root closed */

    size_t                              depth;

    /* the cache's facts */
    size_t                              jobs;
    size_t                              terminal_jobs;
    size_t                              job_states;
    size_t                              runs;
    size_t                              terminal_runs;
    unsigned                            nonexist:1;
    unsigned                            in_run:1;
    unsigned                            response:1;
    unsigned                            in_job:1;
    unsigned                            job_terminal:1;
    unsigned                            text_child:1;
    unsigned                            capture:2;
    size_t                              text_len;
    u_char                              text[8];

    /* the ids asked for, and what the answer says of them */
    size_t                              nids;
    const u_char                       *id[NGX_HTTP_CI_JOBS_XML_MAX_IDS];
    size_t                              id_len[NGX_HTTP_CI_JOBS_XML_MAX_IDS];
    uint32_t                            ids_seen;
    size_t                              job_ids;     /* JobIds of the job */
    unsigned                            foreign:1;
    unsigned                            ids_over:1;  /* ids_text overflown */
    size_t                              ids_text_len;
    u_char                              ids_text[NGX_HTTP_CI_JOBS_XML_IDS_TEXT];

    /* JSON */
    u_char                             *out;
    size_t                              len;
    size_t                              cap;
    size_t                              hint;        /* first capacity */

    ngx_http_ci_jobs_xml_level_t       *levels;
    size_t                              nlevels;
    size_t                              levels_cap;

    ngx_http_ci_jobs_xml_rec_t         *recs;
    size_t                              nrecs;
    size_t                              recs_cap;

    ngx_http_ci_jobs_xml_name_t        *names;
    size_t                              nnames;
    size_t                              names_cap;

    uint32_t                           *slots;       /* 1 + name index */
    size_t                              nslots;      /* a power of 2 */

    ngx_http_ci_jobs_xml_plan_t        *plans;
    size_t                              nplans;
    size_t                              plans_cap;
    size_t                              plans_end;   /* the last one's end */
    size_t                              extra;       /* plans' growth bound */
} ngx_http_ci_jobs_xml_ctx_t;


static xmlParserCtxtPtr ngx_http_ci_jobs_xml_push_ctxt(void);
static void ngx_http_ci_jobs_xml_keep(xmlParserCtxtPtr ctxt, int nomem);
static void ngx_http_ci_jobs_xml_sax(xmlSAXHandler *sax);
static void ngx_http_ci_jobs_xml_start(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri, int nb_namespaces,
    const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
    const xmlChar **attributes);
static void ngx_http_ci_jobs_xml_end(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri);
static void ngx_http_ci_jobs_xml_text(void *data, const xmlChar *ch,
    int len);
static void ngx_http_ci_jobs_xml_cdata(void *data, const xmlChar *ch,
    int len);
static int ngx_http_ci_jobs_xml_utf8(const xmlChar *p, int len);
static void ngx_http_ci_jobs_xml_doctype(void *data, const xmlChar *name,
    const xmlChar *external_id, const xmlChar *system_id);
static void ngx_http_ci_jobs_xml_error(void *data, xmlErrorPtr error);
static void ngx_http_ci_jobs_xml_fail(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const char *error);
static const char *ngx_http_ci_jobs_xml_why(ngx_http_ci_jobs_xml_ctx_t *ctx);
static int ngx_http_ci_jobs_xml_pull(const u_char *xml, size_t len);
static void ngx_http_ci_jobs_xml_facts_start(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const xmlChar *name);
static void ngx_http_ci_jobs_xml_facts_end(ngx_http_ci_jobs_xml_ctx_t *ctx);
static void ngx_http_ci_jobs_xml_ids_init(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const u_char *ids, size_t len);
static int ngx_http_ci_jobs_xml_id_seen(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const u_char *id, size_t len);
static void ngx_http_ci_jobs_xml_nonexist_ids(
    ngx_http_ci_jobs_xml_ctx_t *ctx);
static int ngx_http_ci_jobs_json_start(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const xmlChar *name);
static int ngx_http_ci_jobs_json_end(ngx_http_ci_jobs_xml_ctx_t *ctx);
static int ngx_http_ci_jobs_json_plan(ngx_http_ci_jobs_xml_ctx_t *ctx,
    ngx_http_ci_jobs_xml_level_t *level);
static int ngx_http_ci_jobs_json_finish(ngx_http_ci_jobs_xml_ctx_t *ctx);
static int ngx_http_ci_jobs_json_plan_cmp(const void *one, const void *two);
static u_char *ngx_http_ci_jobs_json_emit(ngx_http_ci_jobs_xml_ctx_t *ctx,
    u_char *p, size_t from, size_t to);
static u_char *ngx_http_ci_jobs_json_emit_plan(
    ngx_http_ci_jobs_xml_ctx_t *ctx, u_char *p,
    ngx_http_ci_jobs_xml_plan_t *plan);
static int ngx_http_ci_jobs_json_name(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const xmlChar *name, uint32_t *index);
static int ngx_http_ci_jobs_json_rehash(ngx_http_ci_jobs_xml_ctx_t *ctx);
static int ngx_http_ci_jobs_json_reserve(ngx_http_ci_jobs_xml_ctx_t *ctx,
    size_t n);
static void *ngx_http_ci_jobs_xml_grow(ngx_http_ci_jobs_xml_ctx_t *ctx,
    void *old, size_t *nalloc, size_t need, size_t size);
static void ngx_http_ci_jobs_xml_release(ngx_http_ci_jobs_xml_ctx_t *ctx,
    void *p);
static void ngx_http_ci_jobs_xml_release_all(ngx_http_ci_jobs_xml_ctx_t *ctx,
    int keep_out);
static u_char *ngx_http_ci_jobs_json_escape(u_char *p, const u_char *s,
    size_t len);


#define ngx_http_ci_jobs_xml_is(s, len, lit)                                  \
    ((len) == sizeof(lit) - 1 && memcmp(s, lit, sizeof(lit) - 1) == 0)

#define ngx_http_ci_jobs_xml_name_is(name, lit)                               \
    (strcmp((const char *) (name), lit) == 0)


/* non-zero when a byte of the 64-bit word v is below n (n <= 0x80) */

#define NGX_HTTP_CI_JOBS_ONES   0x0101010101010101ULL
#define NGX_HTTP_CI_JOBS_HIGHS  0x8080808080808080ULL

#define ngx_http_ci_jobs_has_less(v, n)                                       \
    (((v) - (n) * NGX_HTTP_CI_JOBS_ONES) & ~(v) & NGX_HTTP_CI_JOBS_HIGHS)


/*
 * The JSON escape of each byte: 0 as it is, 'u' as \u00xx, else the
 * letter after '\'.
 */

static const u_char  ngx_http_ci_jobs_json_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
};


/*
 * The push parser kept between answers, one per thread: an nginx worker
 * has one; the unit tests and the fuzzers too.
 */

static __thread xmlParserCtxtPtr  ngx_http_ci_jobs_xml_ctxt;


int
ngx_http_ci_jobs_xml_parse(const u_char *xml, size_t len,
    const ngx_http_ci_jobs_xml_conf_t *conf,
    ngx_http_ci_jobs_xml_result_t *res)
{
    int                          rc, pull, well_formed;
    void                        *old_data;
    xmlStructuredErrorFunc       old_handler;
    ngx_http_ci_jobs_xml_ctx_t   ctx;

    memset(res, 0, sizeof(ngx_http_ci_jobs_xml_result_t));

    if (len == 0) {
        res->error = "empty body";
        return NGX_HTTP_CI_JOBS_XML_ERROR;
    }

    if (len > INT_MAX) {
        res->error = "body too large";
        return NGX_HTTP_CI_JOBS_XML_ERROR;
    }

    memset(&ctx, 0, sizeof(ngx_http_ci_jobs_xml_ctx_t));
    ctx.conf = conf;

    if (conf->ids_len) {
        ngx_http_ci_jobs_xml_ids_init(&ctx, conf->ids, conf->ids_len);
    }

    /*
     * The JSON of an answer is shorter than its XML (about half for CI's
     * indented answers): one buffer of the body's size usually does.
     */

    ctx.hint = len + 64;

    xmlInitParser();

    /*
     * Errors of the parsing context go to sax.serror.  libxml2 2.9 reports
     * a failed encoding conversion (and its I/O errors) without a context,
     * through its per-thread handler, which prints to stderr by default:
     * for the duration of the call that handler is ours, then the caller's
     * again.
     */

    old_handler = xmlStructuredError;
    old_data = xmlStructuredErrorContext;
    xmlSetStructuredErrorFunc(&ctx, ngx_http_ci_jobs_xml_error);

    pull = ngx_http_ci_jobs_xml_pull(xml, len);

    if (!pull) {
        ctx.ctxt = ngx_http_ci_jobs_xml_push_ctxt();

    } else {
        ctx.ctxt = xmlCreateMemoryParserCtxt((const char *) xml, (int) len);

        if (ctx.ctxt != NULL) {
            ngx_http_ci_jobs_xml_sax(ctx.ctxt->sax);
            xmlCtxtUseOptions(ctx.ctxt,
                              XML_PARSE_NONET | XML_PARSE_NOWARNING);
        }
    }

    if (ctx.ctxt == NULL) {
        xmlSetStructuredErrorFunc(old_data, old_handler);
        res->error = "out of memory";
        return NGX_HTTP_CI_JOBS_XML_NOMEM;
    }

    ctx.ctxt->userData = &ctx;

    if (!pull) {
        rc = xmlParseChunk(ctx.ctxt, (const char *) xml, (int) len, 1);

    } else {
        rc = xmlParseDocument(ctx.ctxt);
    }

    well_formed = ctx.ctxt->wellFormed;

    if (rc == 0 && well_formed && !ctx.failed && !ctx.encoding && ctx.closed
        && ctx.nplans)
    {
        /* while the names are alive in the parser's dictionary */
        (void) ngx_http_ci_jobs_json_finish(&ctx);
    }

    if (ctx.ctxt->myDoc != NULL) {
        /*
         * entity declarations past a malformed DOCTYPE, which libxml2
         * keeps in a document of its own even without a tree
         */
        xmlFreeDoc(ctx.ctxt->myDoc);
        ctx.ctxt->myDoc = NULL;
    }

    if (pull) {
        xmlFreeParserCtxt(ctx.ctxt);

    } else {
        ctx.ctxt->userData = NULL;
        ngx_http_ci_jobs_xml_keep(ctx.ctxt, ctx.nomem);
    }

    xmlSetStructuredErrorFunc(old_data, old_handler);

    if (ctx.nomem) {
        ngx_http_ci_jobs_xml_release_all(&ctx, 0);
        res->error = "out of memory";
        return NGX_HTTP_CI_JOBS_XML_NOMEM;
    }

    if (rc != 0 || !well_formed || ctx.failed || ctx.encoding
        || !ctx.closed || (conf->json && ctx.out == NULL))
    {
        ngx_http_ci_jobs_xml_release_all(&ctx, 0);
        res->error = ngx_http_ci_jobs_xml_why(&ctx);
        return NGX_HTTP_CI_JOBS_XML_ERROR;
    }

    ngx_http_ci_jobs_xml_release_all(&ctx, conf->json);

    res->jobs = ctx.jobs;
    res->terminal_jobs = ctx.terminal_jobs;
    res->runs = ctx.runs;
    res->terminal_runs = ctx.terminal_runs;
    res->nonexist = ctx.nonexist;
    res->response = ctx.response;
    res->ids_seen = ctx.ids_seen;
    res->foreign = ctx.foreign;

    if (conf->json) {
        res->json = ctx.out;
        res->json_len = ctx.len;
    }

    return NGX_HTTP_CI_JOBS_XML_OK;
}


void
ngx_http_ci_jobs_xml_cleanup(void)
{
    if (ngx_http_ci_jobs_xml_ctxt != NULL) {
        xmlFreeParserCtxt(ngx_http_ci_jobs_xml_ctxt);
        ngx_http_ci_jobs_xml_ctxt = NULL;
    }
}


/*
 * The thread's push parser, reset for a new answer: created once, its
 * dictionary and its stacks kept from one answer to the next.
 */

static xmlParserCtxtPtr
ngx_http_ci_jobs_xml_push_ctxt(void)
{
    xmlSAXHandler     sax;
    xmlParserCtxtPtr  ctxt;

    ctxt = ngx_http_ci_jobs_xml_ctxt;

    if (ctxt != NULL) {
        ngx_http_ci_jobs_xml_ctxt = NULL;

        if (xmlCtxtResetPush(ctxt, NULL, 0, NULL, NULL) != 0) {
            xmlFreeParserCtxt(ctxt);
            return NULL;
        }

        /*
         * As xmlCreatePushParserCtxt() leaves it without a first chunk:
         * the encoding is detected from the first bytes (a BOM, UTF-16),
         * where the reset would take UTF-8 for granted.
         */

        ctxt->charset = XML_CHAR_ENCODING_NONE;

    } else {
        ngx_http_ci_jobs_xml_sax(&sax);

        ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);
        if (ctxt == NULL) {
            return NULL;
        }
    }

    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING);

    return ctxt;
}


/*
 * The push parser is kept for the next answer unless it ran out of memory
 * or has grown past what CI's answers need: a dictionary of names from
 * many different answers, room for many attributes.
 */

static void
ngx_http_ci_jobs_xml_keep(xmlParserCtxtPtr ctxt, int nomem)
{
    if (nomem
        || xmlDictSize(ctxt->dict) > NGX_HTTP_CI_JOBS_XML_KEEP_NAMES
        || ctxt->maxatts > NGX_HTTP_CI_JOBS_XML_KEEP_ATTS)
    {
        xmlFreeParserCtxt(ctxt);
        return;
    }

    ngx_http_ci_jobs_xml_ctxt = ctxt;
}


static void
ngx_http_ci_jobs_xml_sax(xmlSAXHandler *sax)
{
    memset(sax, 0, sizeof(xmlSAXHandler));

    sax->initialized = XML_SAX2_MAGIC;
    sax->startElementNs = ngx_http_ci_jobs_xml_start;
    sax->endElementNs = ngx_http_ci_jobs_xml_end;
    sax->characters = ngx_http_ci_jobs_xml_text;
    sax->ignorableWhitespace = ngx_http_ci_jobs_xml_text;
    sax->cdataBlock = ngx_http_ci_jobs_xml_cdata;
    sax->internalSubset = ngx_http_ci_jobs_xml_doctype;
    sax->serror = ngx_http_ci_jobs_xml_error;
}


static void
ngx_http_ci_jobs_xml_start(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri, int nb_namespaces,
    const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
    const xmlChar **attributes)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    const xmlChar  *name;

    (void) uri;
    (void) nb_namespaces;
    (void) namespaces;
    (void) nb_attributes;
    (void) nb_defaulted;
    (void) attributes;

    if (ctx->failed) {
        return;
    }

    if (ctx->depth == NGX_HTTP_CI_JOBS_XML_MAX_DEPTH) {
        ngx_http_ci_jobs_xml_fail(ctx, "elements nested too deep");
        return;
    }

    ctx->depth++;
    ctx->root = 1;

    name = localname;

    if (prefix != NULL) {
        name = xmlDictQLookup(ctx->ctxt->dict, prefix, localname);
        if (name == NULL) {
            ctx->nomem = 1;
            ngx_http_ci_jobs_xml_fail(ctx, "out of memory");
            return;
        }
    }

    ngx_http_ci_jobs_xml_facts_start(ctx, name);

    if (ctx->conf->json && ngx_http_ci_jobs_json_start(ctx, name) != 0) {
        ngx_http_ci_jobs_xml_fail(ctx, "out of memory");
    }
}


static void
ngx_http_ci_jobs_xml_end(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    (void) localname;
    (void) prefix;
    (void) uri;

    if (ctx->failed || ctx->depth == 0) {
        return;
    }

    ngx_http_ci_jobs_xml_facts_end(ctx);

    if (ctx->conf->json && ngx_http_ci_jobs_json_end(ctx) != 0) {
        ngx_http_ci_jobs_xml_fail(ctx, "out of memory");
        return;
    }

    if (--ctx->depth == 0) {
        ctx->closed = 1;
    }
}


static void
ngx_http_ci_jobs_xml_text(void *data, const xmlChar *ch, int len)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    size_t  n;

    if (ctx->failed || ctx->depth == 0 || len <= 0) {
        return;
    }

    if (ctx->capture == NGX_HTTP_CI_JOBS_XML_STATE) {
        if (ctx->depth == 3) {
            n = sizeof(ctx->text) - ctx->text_len;
            n = ((size_t) len < n) ? (size_t) len : n;

            memcpy(ctx->text + ctx->text_len, ch, n);
            ctx->text_len += n;
        }

    } else if (ctx->capture == NGX_HTTP_CI_JOBS_XML_NONEXIST
               || ctx->capture == NGX_HTTP_CI_JOBS_XML_JOBID)
    {
        if (ctx->capture == NGX_HTTP_CI_JOBS_XML_NONEXIST) {
            ctx->nonexist = 1;
        }

        if (ctx->nids && ctx->depth == 2 + (ctx->capture
                                            == NGX_HTTP_CI_JOBS_XML_JOBID))
        {
            n = sizeof(ctx->ids_text) - ctx->ids_text_len;

            if ((size_t) len > n) {
                ctx->ids_over = 1;
                n = 0;
            }

            n = ((size_t) len < n) ? (size_t) len : n;

            memcpy(ctx->ids_text + ctx->ids_text_len, ch, n);
            ctx->ids_text_len += n;
        }
    }

    if (!ctx->conf->json || ctx->levels[ctx->nlevels - 1].object) {
        /* text beside child elements is dropped */
        return;
    }

    /* in slices: an escape takes 6 bytes at most, which rarely comes */

    while (len > 0) {
        n = ((size_t) len < 4096) ? (size_t) len : 4096;

        if (ngx_http_ci_jobs_json_reserve(ctx, 6 * n) != 0) {
            ngx_http_ci_jobs_xml_fail(ctx, "out of memory");
            return;
        }

        ctx->len = ngx_http_ci_jobs_json_escape(ctx->out + ctx->len, ch, n)
                   - ctx->out;

        ch += n;
        len -= (int) n;
    }
}


/*
 * libxml2 2.9's push parser passes CDATA on with its carriage returns,
 * the pull parser with line ends normalized, as XML wants: normalize here,
 * so that both give the same text ("\r\n" and "\r" become "\n").
 */

static void
ngx_http_ci_jobs_xml_cdata(void *data, const xmlChar *ch, int len)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    int      i, n;
    xmlChar  buf[1024];

    if (ctx->failed) {
        return;
    }

    /* the push parser lets overlong forms through in CDATA: check here */

    if (!ngx_http_ci_jobs_xml_utf8(ch, len)) {
        ngx_http_ci_jobs_xml_fail(ctx, "invalid character or encoding");
        return;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (ch[i] == '\r') {
            buf[n++] = '\n';

            if (i + 1 < len && ch[i + 1] == '\n') {
                i++;
            }

        } else {
            buf[n++] = ch[i];
        }

        if (n == (int) sizeof(buf)) {
            ngx_http_ci_jobs_xml_text(data, buf, n);
            n = 0;

            /* a failure halts the parser, which frees ch */
            if (ctx->failed) {
                return;
            }
        }
    }

    ngx_http_ci_jobs_xml_text(data, buf, n);
}


/* strict UTF-8: no overlong forms, surrogates or code points past 10FFFF */

static int
ngx_http_ci_jobs_xml_utf8(const xmlChar *p, int len)
{
    int       i, n;
    uint32_t  cp, min;

    for (i = 0; i < len; /* void */) {

        if (p[i] < 0x80) {
            i++;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 1; cp = p[i] & 0x1f; min = 0x80;

        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 2; cp = p[i] & 0x0f; min = 0x800;

        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 3; cp = p[i] & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (len - i <= n) {
            return 0;
        }

        for (i++; n; n--, i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return 0;
            }

            cp = cp << 6 | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_ci_jobs_xml_doctype(void *data, const xmlChar *name,
    const xmlChar *external_id, const xmlChar *system_id)
{
    (void) name;
    (void) external_id;
    (void) system_id;

    ngx_http_ci_jobs_xml_fail(data, "a DOCTYPE is not accepted");
}


static void
ngx_http_ci_jobs_xml_error(void *data, xmlErrorPtr error)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    if (error == NULL || error->level == XML_ERR_WARNING) {
        return;
    }

    if (error->code == XML_ERR_NO_MEMORY) {
        ctx->nomem = 1;
    }

    if (error->domain == XML_FROM_I18N || error->domain == XML_FROM_IO) {
        /* raised without a parsing context: refuse the document */
        ctx->encoding = 1;
    }

    if (ctx->code == 0) {
        ctx->code = error->code;
    }
}


static void
ngx_http_ci_jobs_xml_fail(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const char *error)
{
    if (ctx->failed) {
        return;
    }

    ctx->failed = 1;
    ctx->error = error;

    xmlStopParser(ctx->ctxt);
}


/* a short static message for the error log */

static const char *
ngx_http_ci_jobs_xml_why(ngx_http_ci_jobs_xml_ctx_t *ctx)
{
    if (ctx->failed) {
        return ctx->error;
    }

    if (ctx->encoding) {
        return "invalid character or encoding";
    }

    switch (ctx->code) {

    case XML_ERR_INVALID_CHAR:
    case XML_ERR_INVALID_CHARREF:
    case XML_ERR_INVALID_DEC_CHARREF:
    case XML_ERR_INVALID_HEX_CHARREF:
    case XML_ERR_INVALID_ENCODING:
    case XML_ERR_UNKNOWN_ENCODING:
    case XML_ERR_UNSUPPORTED_ENCODING:
        return "invalid character or encoding";

    case XML_ERR_UNDECLARED_ENTITY:
    case XML_WAR_UNDECLARED_ENTITY:
        return "undeclared entity";

    case XML_ERR_TAG_NAME_MISMATCH:
        return "mismatched end tag";

    case XML_ERR_DOCUMENT_EMPTY:
        return "no root element";

    case XML_ERR_TAG_NOT_FINISHED:
        return "truncated document";

    case XML_ERR_DOCUMENT_END:
        /* the push parser's word for a document cut short too */

        if (ctx->closed) {
            return "content after the root element";
        }

        return ctx->root ? "truncated document" : "no root element";

    default:
        break;
    }

    return "not well-formed XML";
}


/*
 * Whether the pull parser may read the body: long enough to be worth it,
 * no NUL byte, and UTF-8 as it is (an optional BOM, no encoding declared
 * but UTF-8, not another encoding detected from the first bytes).
 */

static int
ngx_http_ci_jobs_xml_pull(const u_char *xml, size_t len)
{
    u_char         q;
    const u_char  *p, *last, *end;

    if (len < NGX_HTTP_CI_JOBS_XML_PULL_MIN || memchr(xml, '\0', len)) {
        return 0;
    }

    p = xml;
    last = xml + len;

    if (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    if (*p != '<' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
        return 0;
    }

    if (memcmp(p, "<?xml", 5) != 0) {
        return 1;
    }

    /* the declaration: version, then perhaps encoding, standalone */

    end = (last - p > 256) ? p + 256 : last;

    for (p += 5; p + 1 < end; p++) {
        if (p[0] == '?' && p[1] == '>') {
            return 1;
        }

        if (end - p > 8 && memcmp(p, "encoding", 8) == 0) {
            break;
        }
    }

    if (p + 1 >= end) {
        return 0;
    }

    for (p += 8; p < end && (*p == ' ' || *p == '='); p++) {
        /* void */
    }

    if (p == end || (*p != '"' && *p != '\'')) {
        return 0;
    }

    q = *p++;

    if (end - p > 6
        && (p[0] | 0x20) == 'u' && (p[1] | 0x20) == 't'
        && (p[2] | 0x20) == 'f' && p[3] == '-' && p[4] == '8' && p[5] == q)
    {
        return 1;
    }

    return 0;
}


/*
 * The cache's facts, from the structure: <JobsDetail> children of the
 * root, their direct <State> children (leaves only), and a non-empty
 * <NonExistJobIds> child of the root.  A job counts as terminal when it
 * has a direct State and every direct State it has reads exactly Success,
 * Failed or Cancel.  <WorkflowExecution> children of the root (a workflow
 * run) are counted apart, by the same rule.  With ids asked for, also
 * which of them the answer names: each JobsDetail's direct JobId (a
 * WorkflowExecution's RunId; a leaf, exactly one), and the ids of each
 * NonExistJobIds (a leaf: ids separated by commas or spaces).
 */

static void
ngx_http_ci_jobs_xml_facts_start(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const xmlChar *name)
{
    switch (ctx->depth) {

    case 1:
        ctx->response = ngx_http_ci_jobs_xml_name_is(name, "Response");
        return;

    case 2:
        if (ngx_http_ci_jobs_xml_name_is(name, "JobsDetail")
            || ngx_http_ci_jobs_xml_name_is(name, "WorkflowExecution"))
        {
            ctx->in_run = (name[0] == 'W');

            if (ctx->in_run) {
                ctx->runs++;

            } else {
                ctx->jobs++;
            }

            ctx->in_job = 1;
            ctx->job_states = 0;
            ctx->job_ids = 0;
            ctx->job_terminal = 1;

        } else if (ngx_http_ci_jobs_xml_name_is(name, "NonExistJobIds")) {
            ctx->capture = NGX_HTTP_CI_JOBS_XML_NONEXIST;
            ctx->ids_text_len = 0;
            ctx->ids_over = 0;
            ctx->text_child = 0;
        }

        return;

    case 3:
        if (ctx->in_job && ngx_http_ci_jobs_xml_name_is(name, "State")) {
            ctx->capture = NGX_HTTP_CI_JOBS_XML_STATE;
            ctx->text_len = 0;
            ctx->text_child = 0;
            return;
        }

        if (ctx->in_job && ctx->nids
            && ngx_http_ci_jobs_xml_name_is(name, ctx->in_run ? "RunId"
                                                              : "JobId"))
        {
            ctx->capture = NGX_HTTP_CI_JOBS_XML_JOBID;
            ctx->ids_text_len = 0;
            ctx->ids_over = 0;
            ctx->text_child = 0;
            return;
        }

        break;

    default:
        break;
    }

    if (ctx->capture == NGX_HTTP_CI_JOBS_XML_STATE
        || ctx->capture == NGX_HTTP_CI_JOBS_XML_JOBID)
    {
        ctx->text_child = 1;

    } else if (ctx->capture == NGX_HTTP_CI_JOBS_XML_NONEXIST) {
        ctx->nonexist = 1;
        ctx->text_child = 1;
    }
}


static void
ngx_http_ci_jobs_xml_facts_end(ngx_http_ci_jobs_xml_ctx_t *ctx)
{
    int  terminal;

    if (ctx->depth == 3 && ctx->capture == NGX_HTTP_CI_JOBS_XML_STATE) {
        terminal = !ctx->text_child
                   && (ngx_http_ci_jobs_xml_is(ctx->text, ctx->text_len,
                                               "Success")
                       || ngx_http_ci_jobs_xml_is(ctx->text, ctx->text_len,
                                                  "Failed")
                       || ngx_http_ci_jobs_xml_is(ctx->text, ctx->text_len,
                                                  "Cancel"));

        ctx->job_states++;
        ctx->job_terminal &= terminal;
        ctx->capture = NGX_HTTP_CI_JOBS_XML_NONE;

    } else if (ctx->depth == 3 && ctx->capture == NGX_HTTP_CI_JOBS_XML_JOBID)
    {
        if (ctx->text_child || ctx->ids_over
            || !ngx_http_ci_jobs_xml_id_seen(ctx, ctx->ids_text,
                                             ctx->ids_text_len))
        {
            ctx->foreign = 1;
        }

        ctx->job_ids++;
        ctx->capture = NGX_HTTP_CI_JOBS_XML_NONE;

    } else if (ctx->depth == 2) {

        if (ctx->capture == NGX_HTTP_CI_JOBS_XML_NONEXIST && ctx->nids) {
            ngx_http_ci_jobs_xml_nonexist_ids(ctx);
        }

        ctx->capture = NGX_HTTP_CI_JOBS_XML_NONE;

        if (ctx->in_job) {
            if (ctx->job_states && ctx->job_terminal) {
                if (ctx->in_run) {
                    ctx->terminal_runs++;

                } else {
                    ctx->terminal_jobs++;
                }
            }

            if (ctx->nids && ctx->job_ids != 1) {
                ctx->foreign = 1;
            }

            ctx->in_job = 0;
            ctx->in_run = 0;
        }
    }
}


/* "id1,id2": the ids asked for (no more than a bit each) */

static void
ngx_http_ci_jobs_xml_ids_init(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const u_char *ids, size_t len)
{
    const u_char  *p, *last, *comma;

    p = ids;
    last = ids + len;

    while (p < last && ctx->nids < NGX_HTTP_CI_JOBS_XML_MAX_IDS) {
        comma = memchr(p, ',', last - p);
        if (comma == NULL) {
            comma = last;
        }

        ctx->id[ctx->nids] = p;
        ctx->id_len[ctx->nids] = comma - p;
        ctx->nids++;

        p = comma + 1;
    }
}


/* marks every id asked for that is this one; 0 when none is */

static int
ngx_http_ci_jobs_xml_id_seen(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const u_char *id, size_t len)
{
    int     found;
    size_t  i;

    found = 0;

    for (i = 0; i < ctx->nids; i++) {
        if (ctx->id_len[i] == len && len
            && memcmp(ctx->id[i], id, len) == 0)
        {
            ctx->ids_seen |= (uint32_t) 1 << i;
            found = 1;
        }
    }

    return found;
}


static void
ngx_http_ci_jobs_xml_nonexist_ids(ngx_http_ci_jobs_xml_ctx_t *ctx)
{
    u_char  *p, *last, *start;

    if (ctx->text_child || ctx->ids_over) {
        ctx->foreign = 1;
        return;
    }

    p = ctx->ids_text;
    last = p + ctx->ids_text_len;

    while (p < last) {

        while (p < last && (*p == ',' || *p == ' ' || *p == '\t'
                            || *p == '\n' || *p == '\r'))
        {
            p++;
        }

        start = p;

        while (p < last && *p != ',' && *p != ' ' && *p != '\t'
               && *p != '\n' && *p != '\r')
        {
            p++;
        }

        if (p > start && !ngx_http_ci_jobs_xml_id_seen(ctx, start, p - start))
        {
            ctx->foreign = 1;
        }
    }
}


/*
 * An element starts: its key (unless it follows a sibling of its name),
 * and the start of a string, its value until a child element comes.
 */

static int
ngx_http_ci_jobs_json_start(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const xmlChar *name)
{
    u_char                        *p;
    uint32_t                       index, binding, repeat;
    ngx_http_ci_jobs_xml_rec_t    *rec, *prev;
    ngx_http_ci_jobs_xml_name_t   *nm;
    ngx_http_ci_jobs_xml_level_t  *parent, *level;

    if (ctx->nlevels == ctx->levels_cap) {
        level = ngx_http_ci_jobs_xml_grow(ctx, ctx->levels, &ctx->levels_cap,
                                          ctx->nlevels + 1,
                                          sizeof(ngx_http_ci_jobs_xml_level_t));
        if (level == NULL) {
            return -1;
        }

        ctx->levels = level;
    }

    if (ctx->nrecs == ctx->recs_cap) {
        rec = ngx_http_ci_jobs_xml_grow(ctx, ctx->recs, &ctx->recs_cap,
                                        ctx->nrecs + 1,
                                        sizeof(ngx_http_ci_jobs_xml_rec_t));
        if (rec == NULL) {
            return -1;
        }

        ctx->recs = rec;
    }

    if (ngx_http_ci_jobs_json_name(ctx, name, &index) != 0) {
        return -1;
    }

    nm = &ctx->names[index];

    /* '{' or ']', ',', '"', the name, '"', ':', '[', '"' */

    if (ngx_http_ci_jobs_json_reserve(ctx, nm->len + 8) != 0) {
        return -1;
    }

    if (ctx->nlevels == 0) {

        /* the root: {"Name":" or {"Name":[" */

        p = ctx->out + ctx->len;
        *p++ = '{';
        *p++ = '"';
        p = (u_char *) memcpy(p, nm->name, nm->len) + nm->len;
        *p++ = '"';
        *p++ = ':';

        if (nm->array) {
            *p++ = '[';
        }

        level = &ctx->levels[ctx->nlevels++];
        level->value = p - ctx->out;
        level->first = 0;
        level->object = 0;
        level->open = 0;
        level->regroup = 0;

        *p++ = '"';
        ctx->len = p - ctx->out;

        return 0;
    }

    parent = &ctx->levels[ctx->nlevels - 1];

    if (!parent->object) {
        /* the first child: the text written so far is dropped */
        parent->object = 1;
        ctx->len = parent->value;
        ctx->out[ctx->len++] = '{';
    }

    p = ctx->out + ctx->len;

    binding = nm->last;
    repeat = (binding > parent->first);

    if (repeat && binding == ctx->nrecs) {

        /*
         * The same name as the previous sibling: the value joins its
         * record, whose values are a list "v1,v2,..." from now on.
         */

        prev = &ctx->recs[binding - 1];

        if (!parent->open && !parent->regroup) {

            if (ctx->plans_end > prev->value) {
                /* a plan inside the previous value: it stays in place */
                parent->regroup = 1;

            } else {
                memmove(ctx->out + prev->value + 1, ctx->out + prev->value,
                        ctx->len - prev->value);
                ctx->out[prev->value] = '[';

                prev->value++;
                prev->end++;
                p++;

                parent->open = 1;
            }
        }

        prev->list = 1;
        *p++ = ',';

        rec = NULL;

    } else {
        if (repeat) {
            /* the name came before, with others in between */
            parent->regroup = 1;
        }

        if (!parent->regroup) {
            if (parent->open) {
                *p++ = ']';
                parent->open = 0;
            }

            if (ctx->nrecs > parent->first) {
                *p++ = ',';
            }

            *p++ = '"';
            p = (u_char *) memcpy(p, nm->name, nm->len) + nm->len;
            *p++ = '"';
            *p++ = ':';

            if (nm->array) {
                *p++ = '[';
                parent->open = 1;
            }
        }

        rec = &ctx->recs[ctx->nrecs];
        rec->name = index;
        rec->next = 0;
        rec->saved = binding;
        rec->repeat = repeat;
        rec->list = 0;

        if (repeat) {
            ctx->recs[binding - 1].next = (uint32_t) ctx->nrecs;
        }

        nm->last = (uint32_t) ++ctx->nrecs;
    }

    level = &ctx->levels[ctx->nlevels++];
    level->value = p - ctx->out;
    level->first = (uint32_t) ctx->nrecs;
    level->object = 0;
    level->open = 0;
    level->regroup = 0;

    if (rec != NULL) {
        rec->value = level->value;
    }

    *p++ = '"';
    ctx->len = p - ctx->out;

    return 0;
}


/*
 * An element ends: its value is closed, and the records of its children
 * are popped, giving back the bindings they shadowed.
 */

static int
ngx_http_ci_jobs_json_end(ngx_http_ci_jobs_xml_ctx_t *ctx)
{
    size_t                         i;
    ngx_http_ci_jobs_xml_rec_t    *rec;
    ngx_http_ci_jobs_xml_level_t  *level;

    level = &ctx->levels[ctx->nlevels - 1];

    /* '"', or ']' and '}'; the root's ']' and '}' */

    if (ngx_http_ci_jobs_json_reserve(ctx, 4) != 0) {
        return -1;
    }

    if (!level->object) {
        ctx->out[ctx->len++] = '"';

    } else {
        if (level->open && !level->regroup) {
            ctx->out[ctx->len++] = ']';
        }

        ctx->out[ctx->len++] = '}';

        if (level->regroup && ngx_http_ci_jobs_json_plan(ctx, level) != 0) {
            return -1;
        }
    }

    for (i = ctx->nrecs; i > level->first; i--) {
        rec = &ctx->recs[i - 1];
        ctx->names[rec->name].last = rec->saved;
    }

    ctx->nrecs = level->first;

    if (--ctx->nlevels == 0) {
        if (ctx->names[0].array) {
            ctx->out[ctx->len++] = ']';
        }

        ctx->out[ctx->len++] = '}';

    } else {
        ctx->recs[ctx->nrecs - 1].end = ctx->len;
    }

    return 0;
}


/*
 * An object whose names repeat after others ends: its children's records
 * are kept as its plan, and the growth of its content is bounded.
 */

static int
ngx_http_ci_jobs_json_plan(ngx_http_ci_jobs_xml_ctx_t *ctx,
    ngx_http_ci_jobs_xml_level_t *level)
{
    size_t                        i, n;
    ngx_http_ci_jobs_xml_rec_t   *recs;
    ngx_http_ci_jobs_xml_plan_t  *plan;

    if (ctx->nplans == ctx->plans_cap) {
        plan = ngx_http_ci_jobs_xml_grow(ctx, ctx->plans, &ctx->plans_cap,
                                         ctx->nplans + 1,
                                         sizeof(ngx_http_ci_jobs_xml_plan_t));
        if (plan == NULL) {
            return -1;
        }

        ctx->plans = plan;
    }

    n = ctx->nrecs - level->first;

    recs = ctx->conf->alloc(ctx->conf->alloc_data,
                            n * sizeof(ngx_http_ci_jobs_xml_rec_t));
    if (recs == NULL) {
        ctx->nomem = 1;
        return -1;
    }

    memcpy(recs, &ctx->recs[level->first],
           n * sizeof(ngx_http_ci_jobs_xml_rec_t));

    for (i = 0; i < n; i++) {
        if (recs[i].next) {
            recs[i].next -= level->first;
        }

        /* a ',' for each value; "name": and '[' ']' for each name */

        ctx->extra += 1;

        if (!recs[i].repeat) {
            ctx->extra += ctx->names[recs[i].name].len + 3 + 2;
        }
    }

    plan = &ctx->plans[ctx->nplans++];
    plan->start = level->value;
    plan->end = ctx->len;
    plan->recs = recs;
    plan->nrecs = n;

    ctx->plans_end = ctx->len;

    return 0;
}


/* the output once more, each plan in its object's place */

static int
ngx_http_ci_jobs_json_finish(ngx_http_ci_jobs_xml_ctx_t *ctx)
{
    u_char  *out, *p;

    /* plans are made as objects end: inner ones first */

    qsort(ctx->plans, ctx->nplans, sizeof(ngx_http_ci_jobs_xml_plan_t),
          ngx_http_ci_jobs_json_plan_cmp);

    out = ctx->conf->alloc(ctx->conf->alloc_data, ctx->len + ctx->extra);
    if (out == NULL) {
        ctx->nomem = 1;
        return -1;
    }

    p = ngx_http_ci_jobs_json_emit(ctx, out, 0, ctx->len);

    ngx_http_ci_jobs_xml_release(ctx, ctx->out);

    ctx->out = out;
    ctx->len = p - out;
    ctx->cap = ctx->len;

    return 0;
}


static int
ngx_http_ci_jobs_json_plan_cmp(const void *one, const void *two)
{
    const ngx_http_ci_jobs_xml_plan_t  *a = one, *b = two;

    return (a->start > b->start) - (a->start < b->start);
}


/* the output from..to, with the plans inside it */

static u_char *
ngx_http_ci_jobs_json_emit(ngx_http_ci_jobs_xml_ctx_t *ctx, u_char *p,
    size_t from, size_t to)
{
    size_t                        lo, hi, mid;
    ngx_http_ci_jobs_xml_plan_t  *plan;

    for ( ;; ) {

        /* the first plan at or after from */

        lo = 0;
        hi = ctx->nplans;

        while (lo < hi) {
            mid = lo + (hi - lo) / 2;

            if (ctx->plans[mid].start < from) {
                lo = mid + 1;

            } else {
                hi = mid;
            }
        }

        if (lo == ctx->nplans || ctx->plans[lo].start >= to) {
            break;
        }

        plan = &ctx->plans[lo];

        p = (u_char *) memcpy(p, ctx->out + from, plan->start - from)
            + (plan->start - from);
        p = ngx_http_ci_jobs_json_emit_plan(ctx, p, plan);

        from = plan->end;
    }

    return (u_char *) memcpy(p, ctx->out + from, to - from) + (to - from);
}


/* an object from its plan: each name once, at its first place */

static u_char *
ngx_http_ci_jobs_json_emit_plan(ngx_http_ci_jobs_xml_ctx_t *ctx, u_char *p,
    ngx_http_ci_jobs_xml_plan_t *plan)
{
    u_char                       *start;
    size_t                        i, j;
    ngx_http_ci_jobs_xml_rec_t   *rec;
    ngx_http_ci_jobs_xml_name_t  *nm;

    *p++ = '{';
    start = p;

    for (i = 0; i < plan->nrecs; i++) {
        rec = &plan->recs[i];

        if (rec->repeat) {
            continue;
        }

        nm = &ctx->names[rec->name];

        if (p != start) {
            *p++ = ',';
        }

        *p++ = '"';
        p = (u_char *) memcpy(p, nm->name, nm->len) + nm->len;
        *p++ = '"';
        *p++ = ':';

        if (rec->next == 0 && !rec->list && !nm->array) {
            p = ngx_http_ci_jobs_json_emit(ctx, p, rec->value, rec->end);
            continue;
        }

        *p++ = '[';

        for (j = i; /* void */ ; j = plan->recs[j].next) {
            p = ngx_http_ci_jobs_json_emit(ctx, p, plan->recs[j].value,
                                           plan->recs[j].end);

            if (plan->recs[j].next == 0) {
                break;
            }

            *p++ = ',';
        }

        *p++ = ']';
    }

    *p++ = '}';

    return p;
}


/* the index of a name in ctx->names, added on first sight */

static int
ngx_http_ci_jobs_json_name(ngx_http_ci_jobs_xml_ctx_t *ctx,
    const xmlChar *name, uint32_t *index)
{
    size_t                              i, mask, n;
    uint32_t                            slot;
    ngx_http_ci_jobs_xml_name_t        *nm;
    const ngx_http_ci_jobs_xml_conf_t  *conf;

    if (ctx->nslots == 0 && ngx_http_ci_jobs_json_rehash(ctx) != 0) {
        return -1;
    }

    mask = ctx->nslots - 1;
    i = (size_t) (((uint64_t) (uintptr_t) name * 0x9e3779b97f4a7c15ULL)
                  >> 32) & mask;

    for ( ;; ) {
        slot = ctx->slots[i];

        if (slot == 0) {
            break;
        }

        if (ctx->names[slot - 1].name == name) {
            *index = slot - 1;
            return 0;
        }

        i = (i + 1) & mask;
    }

    if (ctx->nnames == ctx->names_cap) {
        nm = ngx_http_ci_jobs_xml_grow(ctx, ctx->names, &ctx->names_cap,
                                       ctx->nnames + 1,
                                       sizeof(ngx_http_ci_jobs_xml_name_t));
        if (nm == NULL) {
            return -1;
        }

        ctx->names = nm;
    }

    nm = &ctx->names[ctx->nnames];
    n = strlen((const char *) name);

    nm->name = name;
    nm->len = (uint32_t) n;
    nm->last = 0;
    nm->array = 0;

    conf = ctx->conf;

    for (i = 0; i < conf->narray_names; i++) {
        if (conf->array_names[i].len == n
            && memcmp(conf->array_names[i].data, name, n) == 0)
        {
            nm->array = 1;
            break;
        }
    }

    *index = (uint32_t) ctx->nnames++;

    if (2 * ctx->nnames > ctx->nslots) {
        return ngx_http_ci_jobs_json_rehash(ctx);
    }

    i = (size_t) (((uint64_t) (uintptr_t) name * 0x9e3779b97f4a7c15ULL)
                  >> 32) & mask;

    while (ctx->slots[i]) {
        i = (i + 1) & mask;
    }

    ctx->slots[i] = *index + 1;

    return 0;
}


static int
ngx_http_ci_jobs_json_rehash(ngx_http_ci_jobs_xml_ctx_t *ctx)
{
    size_t     i, j, n, mask;
    uint32_t  *slots;

    n = ctx->nslots ? 2 * ctx->nslots : 32;

    slots = ctx->conf->alloc(ctx->conf->alloc_data, n * sizeof(uint32_t));
    if (slots == NULL) {
        ctx->nomem = 1;
        return -1;
    }

    memset(slots, 0, n * sizeof(uint32_t));
    mask = n - 1;

    for (i = 0; i < ctx->nnames; i++) {
        j = (size_t) (((uint64_t) (uintptr_t) ctx->names[i].name
                       * 0x9e3779b97f4a7c15ULL) >> 32) & mask;

        while (slots[j]) {
            j = (j + 1) & mask;
        }

        slots[j] = (uint32_t) i + 1;
    }

    ngx_http_ci_jobs_xml_release(ctx, ctx->slots);

    ctx->slots = slots;
    ctx->nslots = n;

    return 0;
}


/* room for n more bytes of output */

static int
ngx_http_ci_jobs_json_reserve(ngx_http_ci_jobs_xml_ctx_t *ctx, size_t n)
{
    u_char  *out;
    size_t   cap;

    if (ctx->cap - ctx->len >= n) {
        return 0;
    }

    cap = ctx->cap ? 2 * ctx->cap : ctx->hint;

    if (cap < ctx->len + n) {
        cap = ctx->len + n;
    }

    out = ctx->conf->alloc(ctx->conf->alloc_data, cap);
    if (out == NULL) {
        ctx->nomem = 1;
        return -1;
    }

    if (ctx->len) {
        memcpy(out, ctx->out, ctx->len);
    }

    ngx_http_ci_jobs_xml_release(ctx, ctx->out);

    ctx->out = out;
    ctx->cap = cap;

    return 0;
}


/*
 * A new array of at least need elements of size bytes, the old ones
 * copied, the old array released.
 */

static void *
ngx_http_ci_jobs_xml_grow(ngx_http_ci_jobs_xml_ctx_t *ctx, void *old,
    size_t *nalloc, size_t need, size_t size)
{
    void    *p;
    size_t   n;

    n = *nalloc ? 2 * *nalloc : 16;

    if (n < need) {
        n = need;
    }

    if (n > SIZE_MAX / size || n > UINT32_MAX) {
        ctx->nomem = 1;
        return NULL;
    }

    p = ctx->conf->alloc(ctx->conf->alloc_data, n * size);
    if (p == NULL) {
        ctx->nomem = 1;
        return NULL;
    }

    if (*nalloc) {
        memcpy(p, old, *nalloc * size);
    }

    ngx_http_ci_jobs_xml_release(ctx, old);

    *nalloc = n;

    return p;
}


/*
 * A JSON string's content; libxml2 hands over valid UTF-8 only.  Eight
 * bytes at a time while none is below 0x20, '"' or '\'.
 */

static void
ngx_http_ci_jobs_xml_release(ngx_http_ci_jobs_xml_ctx_t *ctx, void *p)
{
    if (p != NULL && ctx->conf->free != NULL) {
        ctx->conf->free(ctx->conf->alloc_data, p);
    }
}


/* the pass is over: all it kept but the JSON it returns */

static void
ngx_http_ci_jobs_xml_release_all(ngx_http_ci_jobs_xml_ctx_t *ctx,
    int keep_out)
{
    size_t  i;

    for (i = 0; i < ctx->nplans; i++) {
        ngx_http_ci_jobs_xml_release(ctx, ctx->plans[i].recs);
    }

    ngx_http_ci_jobs_xml_release(ctx, ctx->plans);
    ngx_http_ci_jobs_xml_release(ctx, ctx->levels);
    ngx_http_ci_jobs_xml_release(ctx, ctx->recs);
    ngx_http_ci_jobs_xml_release(ctx, ctx->names);
    ngx_http_ci_jobs_xml_release(ctx, ctx->slots);

    if (!keep_out) {
        ngx_http_ci_jobs_xml_release(ctx, ctx->out);
    }
}


static u_char *
ngx_http_ci_jobs_json_escape(u_char *p, const u_char *s, size_t len)
{
    u_char         c, e;
    uint64_t       w;
    const u_char  *last;

    static const u_char    hex[] = "0123456789abcdef";
    static const uint64_t  quotes = '"' * NGX_HTTP_CI_JOBS_ONES;
    static const uint64_t  backslashes = '\\' * NGX_HTTP_CI_JOBS_ONES;

    last = s + len;

    while (s < last) {

        while (last - s >= 8) {
            memcpy(&w, s, 8);

            if (ngx_http_ci_jobs_has_less(w, 0x20)
                | ngx_http_ci_jobs_has_less(w ^ quotes, 1)
                | ngx_http_ci_jobs_has_less(w ^ backslashes, 1))
            {
                break;
            }

            memcpy(p, &w, 8);
            p += 8;
            s += 8;
        }

        if (s == last) {
            break;
        }

        c = *s++;
        e = ngx_http_ci_jobs_json_esc[c];

        if (e == 0) {
            *p++ = c;
            continue;
        }

        *p++ = '\\';
        *p++ = e;

        if (e == 'u') {
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    return p;
}
