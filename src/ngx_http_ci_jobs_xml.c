
/*
 * One pass over an upstream XML answer with libxml2's SAX2 push parser:
 * well-formedness, the facts the cache decides on, and, when asked, the
 * JSON rendering.
 *
 * For JSON, SAX events build a small tree in the caller's pool (names,
 * leaf texts, children); repeated sibling names are chained as they come,
 * through a hash table keyed by (parent, name), so that grouping them
 * into arrays stays linear however many siblings there are.  The tree is
 * then measured and written once into an exactly sized buffer.
 *
 * Rules (the official SDKs' mapping, with stable arrays):
 * - the root element is kept: {"Response":{...}};
 * - an element with child elements is an object, keys in document order;
 *   repeated names become one array at the first one's place;
 * - conf->array_names are always arrays;
 * - a leaf is a string: its text exactly, entities and character
 *   references decoded, CDATA inlined; an empty element is "";
 * - text beside child elements (mixed content), attributes, comments,
 *   processing instructions and the XML declaration are dropped.
 *
 * Documents with a DOCTYPE are refused: CI never sends one, and refusing
 * it rules out entity expansion and external loads.
 */


#include <stdint.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "ngx_http_ci_jobs_xml.h"


#define NGX_HTTP_CI_JOBS_XML_ROOT_DEPTH  1
#define NGX_HTTP_CI_JOBS_XML_MAX_DEPTH   256     /* as libxml2's own limit */


typedef struct ngx_http_ci_jobs_xml_node_s  ngx_http_ci_jobs_xml_node_t;

struct ngx_http_ci_jobs_xml_node_s {
    const u_char                 *name;
    size_t                        name_len;
    u_char                       *text;
    size_t                        text_len;
    size_t                        text_cap;
    ngx_http_ci_jobs_xml_node_t  *parent;
    ngx_http_ci_jobs_xml_node_t  *child;        /* first child */
    ngx_http_ci_jobs_xml_node_t  *last_child;
    ngx_http_ci_jobs_xml_node_t  *next;         /* next sibling */
    ngx_http_ci_jobs_xml_node_t  *next_same;    /* next sibling, same name */
    unsigned                      repeat:1;     /* not the first of its name */
    unsigned                      array:1;      /* the first of several */
};


typedef struct {
    ngx_http_ci_jobs_xml_node_t  *parent;
    ngx_http_ci_jobs_xml_node_t  *last;         /* last child of that name */
} ngx_http_ci_jobs_xml_slot_t;


typedef struct {
    const ngx_http_ci_jobs_xml_conf_t  *conf;
    ngx_http_ci_jobs_xml_result_t      *res;
    xmlParserCtxtPtr                    ctxt;

    size_t                              depth;
    int                                 failed;     /* our own refusal */
    int                                 nomem;

    /* without JSON: the text of the element being read, when wanted */
    int                                 capture;    /* 1 State, 2 NonExist */
    int                                 in_job;
    size_t                              job_state_seen;
    u_char                              state[16];
    size_t                              state_len;
    int                                 state_overflow;

    /* with JSON: the tree */
    ngx_http_ci_jobs_xml_node_t        *root;
    ngx_http_ci_jobs_xml_node_t        *current;
    ngx_http_ci_jobs_xml_slot_t        *slots;
    size_t                              nslots;     /* a power of 2 */
    size_t                              used;
} ngx_http_ci_jobs_xml_ctx_t;


static void ngx_http_ci_jobs_xml_start(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri, int nb_namespaces,
    const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
    const xmlChar **attributes);
static void ngx_http_ci_jobs_xml_end(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri);
static void ngx_http_ci_jobs_xml_text(void *data, const xmlChar *ch,
    int len);
static void ngx_http_ci_jobs_xml_doctype(void *data, const xmlChar *name,
    const xmlChar *external_id, const xmlChar *system_id);
static void ngx_http_ci_jobs_xml_error(void *data, xmlErrorPtr error);
static void ngx_http_ci_jobs_xml_warning(void *data, const char *msg, ...);
static void ngx_http_ci_jobs_xml_silent(void *data, const char *msg, ...);
static void ngx_http_ci_jobs_xml_fail(ngx_http_ci_jobs_xml_ctx_t *ctx,
    int nomem, const char *error);
static int ngx_http_ci_jobs_xml_append(ngx_http_ci_jobs_xml_ctx_t *ctx,
    ngx_http_ci_jobs_xml_node_t *node, const u_char *p, size_t len);
static int ngx_http_ci_jobs_xml_chain(ngx_http_ci_jobs_xml_ctx_t *ctx,
    ngx_http_ci_jobs_xml_node_t *node);
static ngx_http_ci_jobs_xml_slot_t *ngx_http_ci_jobs_xml_slot(
    ngx_http_ci_jobs_xml_ctx_t *ctx, ngx_http_ci_jobs_xml_node_t *node);
static void ngx_http_ci_jobs_xml_facts(ngx_http_ci_jobs_xml_ctx_t *ctx);
static int ngx_http_ci_jobs_xml_is_array_name(
    const ngx_http_ci_jobs_xml_conf_t *conf, ngx_http_ci_jobs_xml_node_t *n);
static size_t ngx_http_ci_jobs_json_value(u_char *p,
    const ngx_http_ci_jobs_xml_conf_t *conf, ngx_http_ci_jobs_xml_node_t *n);
static size_t ngx_http_ci_jobs_json_string(u_char *p, const u_char *s,
    size_t len);


#define ngx_http_ci_jobs_xml_is(name, len, s)                                 \
    ((len) == sizeof(s) - 1 && memcmp(name, s, sizeof(s) - 1) == 0)


int
ngx_http_ci_jobs_xml_parse(const u_char *xml, size_t len,
    const ngx_http_ci_jobs_xml_conf_t *conf,
    ngx_http_ci_jobs_xml_result_t *res)
{
    int                          rc, well_formed;
    size_t                       n;
    void                        *generic_error_ctx;
    const char                  *error;
    xmlSAXHandler                sax;
    xmlGenericErrorFunc          generic_error;
    ngx_http_ci_jobs_xml_ctx_t   ctx;

    memset(res, 0, sizeof(ngx_http_ci_jobs_xml_result_t));
    memset(&ctx, 0, sizeof(ngx_http_ci_jobs_xml_ctx_t));

    if (len == 0 || len > INT32_MAX) {
        res->error = "empty or too large";
        return NGX_HTTP_CI_JOBS_XML_ERROR;
    }

    ctx.conf = conf;
    ctx.res = res;

    memset(&sax, 0, sizeof(xmlSAXHandler));

    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = ngx_http_ci_jobs_xml_start;
    sax.endElementNs = ngx_http_ci_jobs_xml_end;
    sax.characters = ngx_http_ci_jobs_xml_text;
    sax.cdataBlock = ngx_http_ci_jobs_xml_text;
    sax.internalSubset = ngx_http_ci_jobs_xml_doctype;
    sax.serror = ngx_http_ci_jobs_xml_error;
    sax.warning = ngx_http_ci_jobs_xml_warning;

    /*
     * Encoding errors are reported through libxml2's generic error
     * function, stderr by default: nginx's error log.  The parse result
     * says all that is needed.
     */

    generic_error = xmlGenericError;
    generic_error_ctx = xmlGenericErrorContext;
    xmlSetGenericErrorFunc(NULL, ngx_http_ci_jobs_xml_silent);

    ctx.ctxt = xmlCreatePushParserCtxt(&sax, &ctx, NULL, 0, NULL);
    if (ctx.ctxt == NULL) {
        xmlSetGenericErrorFunc(generic_error_ctx, generic_error);
        return NGX_HTTP_CI_JOBS_XML_NOMEM;
    }

    xmlCtxtUseOptions(ctx.ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING);

    rc = xmlParseChunk(ctx.ctxt, (const char *) xml, (int) len, 1);

    well_formed = ctx.ctxt->wellFormed;

    xmlFreeParserCtxt(ctx.ctxt);
    xmlSetGenericErrorFunc(generic_error_ctx, generic_error);

    if (ctx.nomem) {
        return NGX_HTTP_CI_JOBS_XML_NOMEM;
    }

    if (rc != 0 || !well_formed || ctx.failed || ctx.depth != 0) {
        error = ctx.failed ? res->error : "not well-formed";
        memset(res, 0, sizeof(ngx_http_ci_jobs_xml_result_t));
        res->error = error;

        return NGX_HTTP_CI_JOBS_XML_ERROR;
    }

    if (conf->json && ctx.root != NULL) {
        ngx_http_ci_jobs_xml_facts(&ctx);

        n = sizeof("{") - 1
            + ngx_http_ci_jobs_json_string(NULL, ctx.root->name,
                                           ctx.root->name_len)
            + sizeof(":") - 1
            + ngx_http_ci_jobs_json_value(NULL, conf, ctx.root)
            + sizeof("}") - 1;

        res->json = conf->alloc(conf->alloc_data, n);
        if (res->json == NULL) {
            return NGX_HTTP_CI_JOBS_XML_NOMEM;
        }

        res->json[0] = '{';
        n = 1;
        n += ngx_http_ci_jobs_json_string(res->json + n, ctx.root->name,
                                          ctx.root->name_len);
        res->json[n++] = ':';
        n += ngx_http_ci_jobs_json_value(res->json + n, conf, ctx.root);
        res->json[n++] = '}';

        res->json_len = n;
    }

    res->error = NULL;

    return NGX_HTTP_CI_JOBS_XML_OK;
}


static void
ngx_http_ci_jobs_xml_start(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri, int nb_namespaces,
    const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
    const xmlChar **attributes)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    size_t                        len;
    ngx_http_ci_jobs_xml_node_t  *node, *parent;

    if (ctx->failed) {
        return;
    }

    if (++ctx->depth > NGX_HTTP_CI_JOBS_XML_MAX_DEPTH) {
        ngx_http_ci_jobs_xml_fail(ctx, 0, "nested too deep");
        return;
    }

    len = strlen((const char *) localname);

    if (ctx->depth == NGX_HTTP_CI_JOBS_XML_ROOT_DEPTH) {
        ctx->res->response = ngx_http_ci_jobs_xml_is(localname, len,
                                                     "Response");
    }

    if (ctx->conf->json) {
        node = ctx->conf->alloc(ctx->conf->alloc_data,
                                sizeof(ngx_http_ci_jobs_xml_node_t) + len);
        if (node == NULL) {
            ngx_http_ci_jobs_xml_fail(ctx, 1, "out of memory");
            return;
        }

        memset(node, 0, sizeof(ngx_http_ci_jobs_xml_node_t));
        node->name = (u_char *) (node + 1);
        node->name_len = len;
        memcpy(node + 1, localname, len);

        parent = ctx->current;
        node->parent = parent;

        if (parent == NULL) {
            ctx->root = node;

        } else {
            /* text beside child elements is dropped */
            parent->text_len = 0;

            if (parent->last_child) {
                parent->last_child->next = node;

            } else {
                parent->child = node;
            }

            parent->last_child = node;

            if (ngx_http_ci_jobs_xml_chain(ctx, node) != 0) {
                ngx_http_ci_jobs_xml_fail(ctx, 1, "out of memory");
                return;
            }
        }

        ctx->current = node;
        return;
    }

    /* without JSON: only what the cache needs */

    if (ctx->depth == NGX_HTTP_CI_JOBS_XML_ROOT_DEPTH + 1) {

        if (ngx_http_ci_jobs_xml_is(localname, len, "JobsDetail")) {
            ctx->res->jobs++;
            ctx->in_job = 1;

        } else if (ngx_http_ci_jobs_xml_is(localname, len, "NonExistJobIds")) {
            ctx->capture = 2;
            ctx->state_len = 0;
        }

    } else if (ctx->depth == NGX_HTTP_CI_JOBS_XML_ROOT_DEPTH + 2
               && ctx->in_job
               && ngx_http_ci_jobs_xml_is(localname, len, "State"))
    {
        ctx->capture = 1;
        ctx->state_len = 0;
        ctx->state_overflow = 0;
    }
}


static void
ngx_http_ci_jobs_xml_end(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    if (ctx->failed) {
        return;
    }

    ctx->depth--;

    if (ctx->conf->json) {
        ctx->current = ctx->current->parent;
        return;
    }

    if (ctx->capture == 1) {
        /* a job counts as terminal by its first direct State only */
        if (!ctx->state_overflow && ctx->job_state_seen < ctx->res->jobs) {
            ctx->job_state_seen = ctx->res->jobs;

            if (ngx_http_ci_jobs_xml_is(ctx->state, ctx->state_len,
                                        "Success")
                || ngx_http_ci_jobs_xml_is(ctx->state, ctx->state_len,
                                           "Failed")
                || ngx_http_ci_jobs_xml_is(ctx->state, ctx->state_len,
                                           "Cancel"))
            {
                ctx->res->terminal_jobs++;
            }
        }

    } else if (ctx->capture == 2) {
        if (ctx->state_len || ctx->state_overflow) {
            ctx->res->nonexist = 1;
        }
    }

    ctx->capture = 0;

    if (ctx->depth == NGX_HTTP_CI_JOBS_XML_ROOT_DEPTH) {
        ctx->in_job = 0;
    }
}


static void
ngx_http_ci_jobs_xml_text(void *data, const xmlChar *ch, int len)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    if (ctx->failed || len <= 0) {
        return;
    }

    if (ctx->conf->json) {
        if (ctx->current != NULL && ctx->current->child == NULL
            && ngx_http_ci_jobs_xml_append(ctx, ctx->current, ch, len) != 0)
        {
            ngx_http_ci_jobs_xml_fail(ctx, 1, "out of memory");
        }

        return;
    }

    if (ctx->capture) {
        if (ctx->state_len + len > sizeof(ctx->state)) {
            ctx->state_overflow = 1;
            return;
        }

        memcpy(ctx->state + ctx->state_len, ch, len);
        ctx->state_len += len;
    }
}


static void
ngx_http_ci_jobs_xml_doctype(void *data, const xmlChar *name,
    const xmlChar *external_id, const xmlChar *system_id)
{
    ngx_http_ci_jobs_xml_fail(data, 0, "a DOCTYPE is not accepted");
}


static void
ngx_http_ci_jobs_xml_error(void *data, xmlErrorPtr error)
{
    ngx_http_ci_jobs_xml_ctx_t *ctx = data;

    if (error != NULL && error->level >= XML_ERR_ERROR
        && ctx->res->error == NULL)
    {
        ctx->res->error = "not well-formed";
    }
}


static void
ngx_http_ci_jobs_xml_warning(void *data, const char *msg, ...)
{
    /* warnings are not errors, and nothing is printed */
    return;
}


static void
ngx_http_ci_jobs_xml_silent(void *data, const char *msg, ...)
{
    return;
}


static void
ngx_http_ci_jobs_xml_fail(ngx_http_ci_jobs_xml_ctx_t *ctx, int nomem,
    const char *error)
{
    ctx->failed = 1;
    ctx->nomem |= nomem;
    ctx->res->error = error;

    xmlStopParser(ctx->ctxt);
}


static int
ngx_http_ci_jobs_xml_append(ngx_http_ci_jobs_xml_ctx_t *ctx,
    ngx_http_ci_jobs_xml_node_t *node, const u_char *p, size_t len)
{
    size_t   cap;
    u_char  *text;

    if (node->text_len + len > node->text_cap) {
        cap = node->text_cap ? 2 * node->text_cap : 32;

        while (cap < node->text_len + len) {
            cap *= 2;
        }

        text = ctx->conf->alloc(ctx->conf->alloc_data, cap);
        if (text == NULL) {
            return -1;
        }

        if (node->text_len) {
            memcpy(text, node->text, node->text_len);
        }

        node->text = text;
        node->text_cap = cap;
    }

    memcpy(node->text + node->text_len, p, len);
    node->text_len += len;

    return 0;
}


/*
 * Links a new child to the previous child of its parent with the same
 * name: a hash table of (parent, name) -> last such child.
 */

static int
ngx_http_ci_jobs_xml_chain(ngx_http_ci_jobs_xml_ctx_t *ctx,
    ngx_http_ci_jobs_xml_node_t *node)
{
    size_t                        i, n;
    ngx_http_ci_jobs_xml_slot_t  *slot, *old;

    if (2 * (ctx->used + 1) > ctx->nslots) {
        old = ctx->slots;
        n = ctx->nslots;

        ctx->nslots = n ? 2 * n : 64;
        ctx->slots = ctx->conf->alloc(ctx->conf->alloc_data,
                                      ctx->nslots
                                      * sizeof(ngx_http_ci_jobs_xml_slot_t));
        if (ctx->slots == NULL) {
            return -1;
        }

        memset(ctx->slots, 0,
               ctx->nslots * sizeof(ngx_http_ci_jobs_xml_slot_t));

        for (i = 0; i < n; i++) {
            if (old[i].last != NULL) {
                *ngx_http_ci_jobs_xml_slot(ctx, old[i].last) = old[i];
            }
        }
    }

    slot = ngx_http_ci_jobs_xml_slot(ctx, node);

    if (slot->last == NULL) {
        slot->parent = node->parent;
        ctx->used++;

    } else {
        slot->last->next_same = node;
        node->repeat = 1;
    }

    slot->last = node;

    return 0;
}


/* the slot of (node->parent, node->name): the one in use, or a free one */

static ngx_http_ci_jobs_xml_slot_t *
ngx_http_ci_jobs_xml_slot(ngx_http_ci_jobs_xml_ctx_t *ctx,
    ngx_http_ci_jobs_xml_node_t *node)
{
    size_t                        i, mask;
    uint32_t                      hash;
    ngx_http_ci_jobs_xml_slot_t  *slot;

    hash = 2166136261u ^ (uint32_t) (uintptr_t) node->parent;

    for (i = 0; i < node->name_len; i++) {
        hash = (hash ^ node->name[i]) * 16777619u;
    }

    mask = ctx->nslots - 1;

    for (i = hash & mask; /* void */; i = (i + 1) & mask) {
        slot = &ctx->slots[i];

        if (slot->last == NULL
            || (slot->parent == node->parent
                && slot->last->name_len == node->name_len
                && memcmp(slot->last->name, node->name, node->name_len) == 0))
        {
            return slot;
        }
    }
}


/* the cache's facts, read from the tree */

static void
ngx_http_ci_jobs_xml_facts(ngx_http_ci_jobs_xml_ctx_t *ctx)
{
    ngx_http_ci_jobs_xml_node_t    *child, *field;
    ngx_http_ci_jobs_xml_result_t  *res;

    res = ctx->res;

    for (child = ctx->root->child; child; child = child->next) {

        if (ngx_http_ci_jobs_xml_is(child->name, child->name_len,
                                    "NonExistJobIds"))
        {
            if (child->text_len || child->child) {
                res->nonexist = 1;
            }

            continue;
        }

        if (!ngx_http_ci_jobs_xml_is(child->name, child->name_len,
                                     "JobsDetail"))
        {
            continue;
        }

        res->jobs++;

        for (field = child->child; field; field = field->next) {
            if (ngx_http_ci_jobs_xml_is(field->name, field->name_len,
                                        "State"))
            {
                if (field->child == NULL
                    && (ngx_http_ci_jobs_xml_is(field->text, field->text_len,
                                                "Success")
                        || ngx_http_ci_jobs_xml_is(field->text,
                                                   field->text_len, "Failed")
                        || ngx_http_ci_jobs_xml_is(field->text,
                                                   field->text_len, "Cancel")))
                {
                    res->terminal_jobs++;
                }

                break;
            }
        }
    }
}


static int
ngx_http_ci_jobs_xml_is_array_name(const ngx_http_ci_jobs_xml_conf_t *conf,
    ngx_http_ci_jobs_xml_node_t *n)
{
    size_t  i;

    for (i = 0; i < conf->narray_names; i++) {
        if (conf->array_names[i].len == n->name_len
            && memcmp(conf->array_names[i].data, n->name, n->name_len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * Writes the value of an element (with p NULL, only measures it): a
 * string for a leaf, an object for an element with children.
 */

static size_t
ngx_http_ci_jobs_json_value(u_char *p, const ngx_http_ci_jobs_xml_conf_t *conf,
    ngx_http_ci_jobs_xml_node_t *n)
{
    int                           array;
    size_t                        len;
    ngx_http_ci_jobs_xml_node_t  *child, *same;

    if (n->child == NULL) {
        return ngx_http_ci_jobs_json_string(p, n->text, n->text_len);
    }

    len = 0;

#define ngx_http_ci_jobs_json_put(c)                                          \
    if (p) {                                                                  \
        p[len] = c;                                                           \
    }                                                                         \
    len++

    ngx_http_ci_jobs_json_put('{');

    for (child = n->child; child; child = child->next) {

        if (child->repeat) {
            continue;
        }

        if (len > 1) {
            ngx_http_ci_jobs_json_put(',');
        }

        len += ngx_http_ci_jobs_json_string(p ? p + len : NULL, child->name,
                                            child->name_len);
        ngx_http_ci_jobs_json_put(':');

        array = child->next_same != NULL
                || ngx_http_ci_jobs_xml_is_array_name(conf, child);

        if (!array) {
            len += ngx_http_ci_jobs_json_value(p ? p + len : NULL, conf,
                                               child);
            continue;
        }

        ngx_http_ci_jobs_json_put('[');

        for (same = child; same; same = same->next_same) {
            if (same != child) {
                ngx_http_ci_jobs_json_put(',');
            }

            len += ngx_http_ci_jobs_json_value(p ? p + len : NULL, conf,
                                               same);
        }

        ngx_http_ci_jobs_json_put(']');
    }

    ngx_http_ci_jobs_json_put('}');

#undef ngx_http_ci_jobs_json_put

    return len;
}


/* a JSON string (RFC 8259) of valid UTF-8; with p NULL, only measures */

static size_t
ngx_http_ci_jobs_json_string(u_char *p, const u_char *s, size_t len)
{
    u_char         c;
    size_t         n;
    const u_char  *last;

    static const u_char  hex[] = "0123456789abcdef";

    n = 0;
    last = len ? s + len : s;       /* an empty leaf has no text at all */

    if (p) {
        p[n] = '"';
    }

    n++;

    for ( /* void */ ; s < last; s++) {
        c = *s;

        if (c >= 0x20 && c != '"' && c != '\\') {
            if (p) {
                p[n] = c;
            }

            n++;
            continue;
        }

        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t'
            || c == '\b' || c == '\f')
        {
            if (p) {
                p[n] = '\\';
                p[n + 1] = (c == '\n') ? 'n' : (c == '\r') ? 'r'
                           : (c == '\t') ? 't' : (c == '\b') ? 'b'
                           : (c == '\f') ? 'f' : c;
            }

            n += 2;
            continue;
        }

        if (p) {
            p[n] = '\\';
            p[n + 1] = 'u';
            p[n + 2] = '0';
            p[n + 3] = '0';
            p[n + 4] = hex[c >> 4];
            p[n + 5] = hex[c & 0xf];
        }

        n += 6;
    }

    if (p) {
        p[n] = '"';
    }

    return n + 1;
}
