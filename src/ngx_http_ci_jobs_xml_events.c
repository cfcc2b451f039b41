
/*
 * The events of one answer's pass, from whichever reader delivers them
 * (ngx_http_ci_jobs_xml_scan.c, ngx_http_ci_jobs_xml_libxml.c): the depth
 * and the root are kept here, and each event goes to the cache's facts
 * (ngx_http_ci_jobs_xml_facts.c) and, when asked, the JSON writer
 * (ngx_http_ci_jobs_json.c).  The readers never call back into the pass's
 * entry point (ngx_http_ci_jobs_xml.c), which only chooses them.
 */


#include "ngx_http_ci_jobs_xml_pass.h"


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


/* out of memory: the pass fails, -1 for the reader */

int
ngx_http_ci_jobs_xml_nomem(ngx_http_ci_jobs_xml_pass_t *pass)
{
    pass->nomem = 1;
    ngx_http_ci_jobs_xml_fail(pass, "out of memory");

    return -1;
}
