
/*
 * One pass over an upstream XML answer: well-formedness, the facts the
 * cache decides on (ngx_http_ci_jobs_xml_facts.c) and, when asked, the
 * JSON rendering (ngx_http_ci_jobs_json.c), from one stream of events.
 *
 * The events come from the module's own scanner when the answer is in
 * the plain subset of XML that CI writes (ngx_http_ci_jobs_xml_scan.c),
 * and otherwise from libxml2 (ngx_http_ci_jobs_xml_libxml.c): the scanner
 * checks its subset completely and declines anything outside it, before
 * the pass is started again with libxml2.  So an answer is accepted
 * exactly when libxml2 accepts it, with the same facts and JSON (the
 * fuzzers compare both), and CI's usual answers cost a fraction of a
 * libxml2 parse.
 *
 * Refused: anything not well-formed, invalid UTF-8 or a failing encoding
 * conversion, elements nested deeper than 256 levels (libxml2's own limit
 * without XML_PARSE_HUGE), and any DOCTYPE: CI never sends one, and
 * refusing it rules out entity expansion and external loads.
 */


#include <limits.h>
#include <string.h>

#include "ngx_http_ci_jobs_xml_pass.h"


static int ngx_http_ci_jobs_xml_read(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *xml, size_t len, int scan);
static int ngx_http_ci_jobs_xml_nomem(ngx_http_ci_jobs_xml_pass_t *pass);


int
ngx_http_ci_jobs_xml_parse(const u_char *xml, size_t len,
    const ngx_http_ci_jobs_xml_conf_t *conf,
    ngx_http_ci_jobs_xml_result_t *res)
{
    int                           rc;
    ngx_http_ci_jobs_xml_pass_t   pass;

    memset(res, 0, sizeof(ngx_http_ci_jobs_xml_result_t));

    if (len == 0) {
        res->error = "empty body";
        return NGX_HTTP_CI_JOBS_XML_ERROR;
    }

    if (len > INT_MAX) {
        res->error = "body too large";
        return NGX_HTTP_CI_JOBS_XML_ERROR;
    }

    pass.conf = conf;

    rc = NGX_HTTP_CI_JOBS_XML_DECLINED;

    if (!conf->libxml_only) {
        rc = ngx_http_ci_jobs_xml_read(&pass, xml, len, 1);
    }

    if (rc == NGX_HTTP_CI_JOBS_XML_DECLINED) {
        rc = ngx_http_ci_jobs_xml_read(&pass, xml, len, 0);
    }

    if (rc != NGX_HTTP_CI_JOBS_XML_OK) {
        res->error = pass.error;
        return rc;
    }

    res->jobs = pass.facts.jobs;
    res->terminal_jobs = pass.facts.terminal_jobs;
    res->runs = pass.facts.runs;
    res->terminal_runs = pass.facts.terminal_runs;
    res->nonexist = pass.facts.nonexist;
    res->response = pass.facts.response;
    res->ids_seen = pass.facts.ids_seen;
    res->foreign = pass.facts.foreign;

    if (conf->json) {
        res->json = pass.json.out;
        res->json_len = pass.json.len;
    }

    return NGX_HTTP_CI_JOBS_XML_OK;
}


/*
 * The pass from the start, by the scanner or by libxml2; on anything but
 * success, everything it allocated is given back.
 */

static int
ngx_http_ci_jobs_xml_read(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *xml, size_t len, int scan)
{
    int                                 rc;
    const ngx_http_ci_jobs_xml_conf_t  *conf;

    conf = pass->conf;

    pass->error = NULL;
    pass->failed = 0;
    pass->nomem = 0;
    pass->root = 0;
    pass->closed = 0;
    pass->depth = 0;

    ngx_http_ci_jobs_xml_facts_init(&pass->facts, conf->ids, conf->ids_len);

    /*
     * The JSON of an answer is shorter than its XML (about half for CI's
     * indented answers): one buffer of the body's size usually does.
     */

    ngx_http_ci_jobs_json_init(&pass->json, conf, len + 64);

    if (scan) {
        rc = ngx_http_ci_jobs_xml_scan(pass, xml, len);

    } else {
        rc = ngx_http_ci_jobs_xml_libxml(pass, xml, len);
    }

    if (rc == NGX_HTTP_CI_JOBS_XML_NOMEM) {
        pass->error = "out of memory";
    }

    ngx_http_ci_jobs_json_release(&pass->json,
                                  rc == NGX_HTTP_CI_JOBS_XML_OK
                                  && conf->json);

    return rc;
}


int
ngx_http_ci_jobs_xml_start(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *name, size_t len)
{
    if (pass->depth == NGX_HTTP_CI_JOBS_XML_MAX_DEPTH) {
        ngx_http_ci_jobs_xml_fail(pass, "elements nested too deep");
        return -1;
    }

    pass->depth++;
    pass->root = 1;

    if (!pass->conf->no_facts) {
        ngx_http_ci_jobs_xml_facts_start(&pass->facts, pass->depth, name,
                                         len);
    }

    if (pass->conf->json
        && ngx_http_ci_jobs_json_start(&pass->json, name, len) != 0)
    {
        return ngx_http_ci_jobs_xml_nomem(pass);
    }

    return 0;
}


int
ngx_http_ci_jobs_xml_end(ngx_http_ci_jobs_xml_pass_t *pass)
{
    if (!pass->conf->no_facts) {
        ngx_http_ci_jobs_xml_facts_end(&pass->facts, pass->depth);
    }

    if (pass->conf->json && ngx_http_ci_jobs_json_end(&pass->json) != 0) {
        return ngx_http_ci_jobs_xml_nomem(pass);
    }

    if (--pass->depth == 0) {
        pass->closed = 1;
    }

    return 0;
}


int
ngx_http_ci_jobs_xml_text(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *text, size_t len)
{
    if (!pass->conf->no_facts) {
        ngx_http_ci_jobs_xml_facts_text(&pass->facts, pass->depth, text, len);
    }

    if (pass->conf->json
        && ngx_http_ci_jobs_json_text(&pass->json, text, len) != 0)
    {
        return ngx_http_ci_jobs_xml_nomem(pass);
    }

    return 0;
}


/*
 * The root has ended and the document is well-formed: called by the
 * reader while the names it delivered are still alive.
 */

int
ngx_http_ci_jobs_xml_done(ngx_http_ci_jobs_xml_pass_t *pass)
{
    if (pass->conf->json && ngx_http_ci_jobs_json_finish(&pass->json) != 0) {
        return ngx_http_ci_jobs_xml_nomem(pass);
    }

    return 0;
}


void
ngx_http_ci_jobs_xml_fail(ngx_http_ci_jobs_xml_pass_t *pass,
    const char *error)
{
    if (!pass->failed) {
        pass->failed = 1;
        pass->error = error;
    }
}


/* the JSON rendering ran out of memory: the pass fails, -1 for the reader */

static int
ngx_http_ci_jobs_xml_nomem(ngx_http_ci_jobs_xml_pass_t *pass)
{
    pass->nomem = 1;
    ngx_http_ci_jobs_xml_fail(pass, "out of memory");

    return -1;
}
