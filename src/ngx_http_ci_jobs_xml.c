
/*
 * One pass over an upstream XML answer: well-formedness, the facts the
 * cache decides on (ngx_http_ci_jobs_xml_facts.c) and, when asked, the
 * JSON rendering (ngx_http_ci_jobs_json.c), from one stream of events.
 *
 * The events (ngx_http_ci_jobs_xml_events.c) come from the module's own
 * scanner when the answer is in the plain subset of XML that CI writes
 * (ngx_http_ci_jobs_xml_scan.c), and otherwise from libxml2
 * (ngx_http_ci_jobs_xml_libxml.c): the scanner checks its subset
 * completely and declines anything outside it, before the pass is
 * started again with libxml2.  So an answer is accepted exactly when
 * libxml2 accepts it, with the same facts and JSON (the fuzzers compare
 * both), and CI's usual answers cost a fraction of a libxml2 parse.
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

    if (rc == NGX_HTTP_CI_JOBS_XML_READ) {
        rc = NGX_HTTP_CI_JOBS_XML_OK;

    } else if (rc == NGX_HTTP_CI_JOBS_XML_REFUSED) {
        rc = NGX_HTTP_CI_JOBS_XML_ERROR;

        if (pass->nomem) {
            pass->error = "out of memory";
            rc = NGX_HTTP_CI_JOBS_XML_NOMEM;
        }
    }

    ngx_http_ci_jobs_json_release(&pass->json,
                                  rc == NGX_HTTP_CI_JOBS_XML_OK
                                  && conf->json);

    return rc;
}
