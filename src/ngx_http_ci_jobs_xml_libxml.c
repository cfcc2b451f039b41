
/*
 * The XML pass's libxml2 reader: a SAX2 push parser, kept from one answer
 * to the next, turns any answer the scanner declines into the pass's
 * events, with libxml2's verdict on its well-formedness.  Only answers
 * outside CI's plain XML come here, so one parser does: the pull parser
 * would run a large body about 20% faster, but takes a NUL byte for the
 * end of the input.
 */


#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include "ngx_http_ci_jobs_xml_pass.h"


/* what the push parser is given at a time */
#define NGX_HTTP_CI_JOBS_XML_CHUNK        (1024 * 1024)

/* past these, the kept push parser is freed after the answer */
#define NGX_HTTP_CI_JOBS_XML_KEEP_NAMES   4096
#define NGX_HTTP_CI_JOBS_XML_KEEP_ATTS    256


typedef struct {
    ngx_http_ci_jobs_xml_pass_t  *pass;
    xmlParserCtxtPtr              ctxt;
    int                           code;        /* libxml2's first error */
    unsigned                      encoding:1;  /* conversion failed */
} ngx_http_ci_jobs_libxml_t;


static xmlParserCtxtPtr ngx_http_ci_jobs_libxml_push_ctxt(void);
static void ngx_http_ci_jobs_libxml_keep(xmlParserCtxtPtr ctxt, int nomem);
static void ngx_http_ci_jobs_libxml_sax(xmlSAXHandler *sax);
static void ngx_http_ci_jobs_libxml_start(void *data,
    const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
    int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
    int nb_defaulted, const xmlChar **attributes);
static void ngx_http_ci_jobs_libxml_end(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri);
static void ngx_http_ci_jobs_libxml_text(void *data, const xmlChar *ch,
    int len);
static void ngx_http_ci_jobs_libxml_cdata(void *data, const xmlChar *ch,
    int len);
static int ngx_http_ci_jobs_libxml_utf8(const u_char *p, size_t len);
static void ngx_http_ci_jobs_libxml_doctype(void *data, const xmlChar *name,
    const xmlChar *external_id, const xmlChar *system_id);
static void ngx_http_ci_jobs_libxml_error(void *data, xmlErrorPtr error);
static void ngx_http_ci_jobs_libxml_stop(ngx_http_ci_jobs_libxml_t *lx);
static const char *ngx_http_ci_jobs_libxml_why(ngx_http_ci_jobs_libxml_t *lx);


/*
 * The push parser kept between answers, one per thread: an nginx worker
 * has one; the unit tests and the fuzzers too.
 */

static __thread xmlParserCtxtPtr  ngx_http_ci_jobs_libxml_kept;


int
ngx_http_ci_jobs_xml_libxml(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *xml, size_t len)
{
    int                         rc, well_formed;
    size_t                      n;
    void                       *old_data;
    xmlStructuredErrorFunc      old_handler;
    ngx_http_ci_jobs_libxml_t   lx;

    memset(&lx, 0, sizeof(ngx_http_ci_jobs_libxml_t));
    lx.pass = pass;

    /* libxml2's one-time set-up, done where libxml2 is used: a no-op after */

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
    xmlSetStructuredErrorFunc(&lx, ngx_http_ci_jobs_libxml_error);

    lx.ctxt = ngx_http_ci_jobs_libxml_push_ctxt();

    if (lx.ctxt == NULL) {
        xmlSetStructuredErrorFunc(old_data, old_handler);
        return ngx_http_ci_jobs_xml_nomem(pass);
    }

    lx.ctxt->userData = &lx;

    /*
     * In chunks: given more than 10 MB at once, libxml2 refuses the
     * document ("huge input lookup") where the same bytes in chunks pass.
     */

    do {
        n = (len > NGX_HTTP_CI_JOBS_XML_CHUNK) ? NGX_HTTP_CI_JOBS_XML_CHUNK
                                                : len;
        len -= n;

        rc = xmlParseChunk(lx.ctxt, (const char *) xml, (int) n, len == 0);
        xml += n;

    } while (rc == 0 && len && !pass->failed);

    well_formed = (rc == 0 && lx.ctxt->wellFormed && !pass->failed
                   && !lx.encoding && pass->closed);

    if (well_formed) {
        /* while the names are alive in the parser's dictionary */
        (void) ngx_http_ci_jobs_xml_done(pass);
    }

    if (lx.ctxt->myDoc != NULL) {
        /*
         * entity declarations past a malformed DOCTYPE, which libxml2
         * keeps in a document of its own even without a tree
         */
        xmlFreeDoc(lx.ctxt->myDoc);
        lx.ctxt->myDoc = NULL;
    }

    lx.ctxt->userData = NULL;
    ngx_http_ci_jobs_libxml_keep(lx.ctxt, pass->nomem);

    xmlSetStructuredErrorFunc(old_data, old_handler);

    if (pass->nomem) {
        return NGX_HTTP_CI_JOBS_XML_REFUSED;
    }

    if (!well_formed) {
        pass->error = ngx_http_ci_jobs_libxml_why(&lx);
        return NGX_HTTP_CI_JOBS_XML_REFUSED;
    }

    return NGX_HTTP_CI_JOBS_XML_READ;
}


void
ngx_http_ci_jobs_xml_cleanup(void)
{
    if (ngx_http_ci_jobs_libxml_kept != NULL) {
        xmlFreeParserCtxt(ngx_http_ci_jobs_libxml_kept);
        ngx_http_ci_jobs_libxml_kept = NULL;
    }
}


/*
 * The thread's push parser, reset for a new answer: created once, its
 * dictionary and its stacks kept from one answer to the next.
 */

static xmlParserCtxtPtr
ngx_http_ci_jobs_libxml_push_ctxt(void)
{
    xmlSAXHandler     sax;
    xmlParserCtxtPtr  ctxt;

    ctxt = ngx_http_ci_jobs_libxml_kept;

    if (ctxt != NULL) {
        ngx_http_ci_jobs_libxml_kept = NULL;

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
        ngx_http_ci_jobs_libxml_sax(&sax);

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
ngx_http_ci_jobs_libxml_keep(xmlParserCtxtPtr ctxt, int nomem)
{
    if (nomem
        || xmlDictSize(ctxt->dict) > NGX_HTTP_CI_JOBS_XML_KEEP_NAMES
        || ctxt->maxatts > NGX_HTTP_CI_JOBS_XML_KEEP_ATTS)
    {
        xmlFreeParserCtxt(ctxt);
        return;
    }

    ngx_http_ci_jobs_libxml_kept = ctxt;
}


static void
ngx_http_ci_jobs_libxml_sax(xmlSAXHandler *sax)
{
    memset(sax, 0, sizeof(xmlSAXHandler));

    sax->initialized = XML_SAX2_MAGIC;
    sax->startElementNs = ngx_http_ci_jobs_libxml_start;
    sax->endElementNs = ngx_http_ci_jobs_libxml_end;
    sax->characters = ngx_http_ci_jobs_libxml_text;
    sax->ignorableWhitespace = ngx_http_ci_jobs_libxml_text;
    sax->cdataBlock = ngx_http_ci_jobs_libxml_cdata;
    sax->internalSubset = ngx_http_ci_jobs_libxml_doctype;
    sax->serror = ngx_http_ci_jobs_libxml_error;
}


static void
ngx_http_ci_jobs_libxml_start(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri, int nb_namespaces,
    const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
    const xmlChar **attributes)
{
    ngx_http_ci_jobs_libxml_t *lx = data;

    const xmlChar  *name;

    if (lx->pass->failed) {
        return;
    }

    name = localname;

    if (prefix != NULL) {
        /* "prefix:local", interned: alive as long as the dictionary */
        name = xmlDictQLookup(lx->ctxt->dict, prefix, localname);
        if (name == NULL) {
            lx->pass->nomem = 1;
            ngx_http_ci_jobs_xml_fail(lx->pass, "out of memory");
            ngx_http_ci_jobs_libxml_stop(lx);
            return;
        }
    }

    if (ngx_http_ci_jobs_xml_start(lx->pass, name,
                                   strlen((const char *) name))
        != 0)
    {
        ngx_http_ci_jobs_libxml_stop(lx);
    }
}


static void
ngx_http_ci_jobs_libxml_end(void *data, const xmlChar *localname,
    const xmlChar *prefix, const xmlChar *uri)
{
    ngx_http_ci_jobs_libxml_t *lx = data;

    if (lx->pass->failed || lx->pass->depth == 0) {
        return;
    }

    if (ngx_http_ci_jobs_xml_end(lx->pass) != 0) {
        ngx_http_ci_jobs_libxml_stop(lx);
    }
}


static void
ngx_http_ci_jobs_libxml_text(void *data, const xmlChar *ch, int len)
{
    ngx_http_ci_jobs_libxml_t *lx = data;

    if (lx->pass->failed || lx->pass->depth == 0 || len <= 0) {
        return;
    }

    if (ngx_http_ci_jobs_xml_text(lx->pass, ch, len) != 0) {
        ngx_http_ci_jobs_libxml_stop(lx);
    }
}


/*
 * libxml2 2.9's push parser passes CDATA on with its carriage returns:
 * line ends are normalized here, as XML wants ("\r\n" and "\r" become
 * "\n").
 */

static void
ngx_http_ci_jobs_libxml_cdata(void *data, const xmlChar *ch, int len)
{
    ngx_http_ci_jobs_libxml_t *lx = data;

    int      i, n;
    xmlChar  buf[1024];

    if (lx->pass->failed) {
        return;
    }

    /* the push parser lets overlong forms through in CDATA: check here */

    if (!ngx_http_ci_jobs_libxml_utf8(ch, len)) {
        ngx_http_ci_jobs_xml_fail(lx->pass, "invalid character or encoding");
        ngx_http_ci_jobs_libxml_stop(lx);
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
            ngx_http_ci_jobs_libxml_text(data, buf, n);
            n = 0;

            /* a failure halts the parser, which frees ch */
            if (lx->pass->failed) {
                return;
            }
        }
    }

    ngx_http_ci_jobs_libxml_text(data, buf, n);
}


static int
ngx_http_ci_jobs_libxml_utf8(const u_char *p, size_t len)
{
    const u_char  *last;

    last = p + len;

    while (p < last) {
        if (ngx_http_ci_jobs_utf8_next(&p, last) == NGX_HTTP_CI_JOBS_UTF8_BAD)
        {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_ci_jobs_libxml_doctype(void *data, const xmlChar *name,
    const xmlChar *external_id, const xmlChar *system_id)
{
    ngx_http_ci_jobs_libxml_t *lx = data;

    ngx_http_ci_jobs_xml_fail(lx->pass, "a DOCTYPE is not accepted");
    ngx_http_ci_jobs_libxml_stop(lx);
}


static void
ngx_http_ci_jobs_libxml_error(void *data, xmlErrorPtr error)
{
    ngx_http_ci_jobs_libxml_t *lx = data;

    if (error == NULL || error->level == XML_ERR_WARNING) {
        return;
    }

    if (error->code == XML_ERR_NO_MEMORY) {
        lx->pass->nomem = 1;
    }

    if (error->domain == XML_FROM_I18N || error->domain == XML_FROM_IO) {
        /* raised without a parsing context: refuse the document */
        lx->encoding = 1;
    }

    if (lx->code == 0) {
        lx->code = error->code;
    }
}


static void
ngx_http_ci_jobs_libxml_stop(ngx_http_ci_jobs_libxml_t *lx)
{
    xmlStopParser(lx->ctxt);
}


/* a short static message for the error log */

static const char *
ngx_http_ci_jobs_libxml_why(ngx_http_ci_jobs_libxml_t *lx)
{
    if (lx->pass->failed) {
        return lx->pass->error;
    }

    if (lx->encoding) {
        return "invalid character or encoding";
    }

    switch (lx->code) {

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

        if (lx->pass->closed) {
            return "content after the root element";
        }

        return lx->pass->root ? "truncated document" : "no root element";

    default:
        break;
    }

    return "not well-formed XML";
}
