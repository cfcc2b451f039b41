
/*
 * The XML pass on a 4 MB list answer (the seed media job, repeated),
 * next to libxml2 alone parsing the same bytes with an empty SAX handler:
 * MB/s of each, and the ratio of times.
 *
 * With "seed N": the pass on the gateway benchmark's answer (the seed's
 * media job without its MediaInfo, 2.2 KB, as bench/run.pl serves it),
 * N times in each mode: XML with the cache's facts, XML without the cache,
 * JSON, and XML read by libxml2 instead of the scanner (as an answer
 * outside the scanner's subset is); make bench-xml runs that under
 * callgrind for the instructions per byte of each.
 *
 *   make bench-xml
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>

#include "ngx_http_ci_jobs_xml.h"
#include "pool.h"


static double
now_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
silent(void *ctx, const char *msg, ...)
{
    return;
}


/* the mode of a pass: JSON, the cache's facts, the scanner */

static void
seed_mode(ngx_http_ci_jobs_xml_conf_t *conf, int json, int facts, int scan)
{
    conf->json = json;
    conf->no_facts = !facts;
    conf->libxml_only = !scan;
}


/* the pass in each mode, a function of its own in callgrind's profile */

__attribute__((noinline)) static int
seed_pass(const u_char *xml, size_t len, ngx_http_ci_jobs_xml_conf_t *conf,
    ngx_http_ci_jobs_xml_result_t *res)
{
    seed_mode(conf, 0, 1, 1);
    return ngx_http_ci_jobs_xml_parse(xml, len, conf, res);
}


__attribute__((noinline)) static int
seed_pass_bare(const u_char *xml, size_t len,
    ngx_http_ci_jobs_xml_conf_t *conf, ngx_http_ci_jobs_xml_result_t *res)
{
    seed_mode(conf, 0, 0, 1);
    return ngx_http_ci_jobs_xml_parse(xml, len, conf, res);
}


__attribute__((noinline)) static int
seed_pass_json(const u_char *xml, size_t len,
    ngx_http_ci_jobs_xml_conf_t *conf, ngx_http_ci_jobs_xml_result_t *res)
{
    seed_mode(conf, 1, 1, 1);
    return ngx_http_ci_jobs_xml_parse(xml, len, conf, res);
}


__attribute__((noinline)) static int
seed_pass_libxml(const u_char *xml, size_t len,
    ngx_http_ci_jobs_xml_conf_t *conf, ngx_http_ci_jobs_xml_result_t *res)
{
    seed_mode(conf, 0, 1, 0);
    return ngx_http_ci_jobs_xml_parse(xml, len, conf, res);
}


/*
 * libxml2 alone, the floor of any pass built on it: its push parser, kept
 * and reset, with a SAX2 handler that does nothing.
 */

__attribute__((noinline)) static int
seed_libxml2(xmlParserCtxtPtr ctxt, const u_char *xml, size_t len)
{
    xmlCtxtResetPush(ctxt, NULL, 0, NULL, NULL);
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING);

    if (xmlParseChunk(ctxt, (const char *) xml, (int) len, 1) != 0
        || !ctxt->wellFormed)
    {
        return -1;
    }

    return 0;
}


static int
seed(char *job, long job_len, int runs)
{
    int                            i;
    size_t                         m;
    char                          *p, *q, *xml;
    size_t                         len;
    xmlSAXHandler                  sax;
    xmlParserCtxtPtr               ctxt;
    ngx_http_ci_jobs_xml_conf_t    conf;
    ngx_http_ci_jobs_xml_result_t  res;

    static ngx_http_ci_jobs_name_t  names[] = {
        { (u_char *) "JobsDetail", 10 }
    };

    static int  (*modes[])(const u_char *, size_t,
                           ngx_http_ci_jobs_xml_conf_t *,
                           ngx_http_ci_jobs_xml_result_t *) = {
        seed_pass, seed_pass_bare, seed_pass_json, seed_pass_libxml
    };

    /* "<Response>\n", the first job without its MediaInfo, "</Response>" */

    p = strstr(job, "    <JobsDetail>");
    q = (p != NULL) ? strstr(p, "</JobsDetail>\n") : NULL;

    if (q == NULL) {
        fprintf(stderr, "no JobsDetail in the seed\n");
        return 1;
    }

    xml = malloc(job_len + 64);
    len = sprintf(xml, "<Response>\n");
    memcpy(xml + len, p, q + sizeof("</JobsDetail>\n") - 1 - p);
    len += q + sizeof("</JobsDetail>\n") - 1 - p;
    len += sprintf(xml + len, "</Response>\n");

    p = strstr(xml, "<MediaInfo>");
    q = strstr(xml, "</MediaInfo>");

    if (p != NULL && q != NULL) {
        while (p > xml && p[-1] == ' ') {
            p--;
        }

        p--;
        q += sizeof("</MediaInfo>") - 1;
        memmove(p, q, xml + len - q);
        len -= q - p;
    }

    memset(&conf, 0, sizeof(conf));
    conf.array_names = names;
    conf.narray_names = 1;
    conf.alloc = pool_alloc;

    for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        for (i = 0; i < runs; i++) {
            if (modes[m]((u_char *) xml, len, &conf, &res)
                != NGX_HTTP_CI_JOBS_XML_OK)
            {
                fprintf(stderr, "refused: %s\n", res.error);
                return 1;
            }

            pool_free();
        }
    }

    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;

    ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);

    for (i = 0; i < runs; i++) {
        if (seed_libxml2(ctxt, (u_char *) xml, len) != 0) {
            fprintf(stderr, "libxml2 refused the seed\n");
            return 1;
        }
    }

    xmlFreeParserCtxt(ctxt);

    printf("seed answer: %zu bytes, %d runs each\n", len, runs);

    return 0;
}


int
main(int argc, char **argv)
{
    int                            i, runs;
    char                          *job, *xml, *p, *q;
    long                           job_len;
    size_t                         len;
    FILE                          *f;
    double                         t0, parse_only, with_json, without_json;
    xmlSAXHandler                  sax;
    xmlParserCtxtPtr               ctxt;
    ngx_http_ci_jobs_xml_conf_t    conf;
    ngx_http_ci_jobs_xml_result_t  res;

    static ngx_http_ci_jobs_name_t  names[] = {
        { (u_char *) "JobsDetail", 10 }
    };

    f = fopen("t/unit/xml/seed002.xml", "rb");
    if (f == NULL) {
        perror("seed");
        return 1;
    }

    fseek(f, 0, SEEK_END);
    job_len = ftell(f);
    fseek(f, 0, SEEK_SET);
    job = malloc(job_len + 1);
    job_len = fread(job, 1, job_len, f);
    fclose(f);
    job[job_len] = '\0';

    if (argc > 2 && strcmp(argv[1], "seed") == 0) {
        return seed(job, job_len, atoi(argv[2]));
    }

    /* the seed's JobsDetail elements, repeated to 4 MB */
    p = strstr(job, "<JobsDetail>");
    job_len = 0;

    for (q = p; (q = strstr(q, "</JobsDetail>")) != NULL; q++) {
        job_len = q + sizeof("</JobsDetail>") - 1 - p;
    }

    if (p == NULL || job_len == 0) {
        fprintf(stderr, "no JobsDetail in the seed\n");
        return 1;
    }

    xml = malloc(4 * 1024 * 1024 + job_len + 64);
    len = sprintf(xml, "<Response>\n");
    while (len < 4 * 1024 * 1024) {
        memcpy(xml + len, p, job_len);
        len += job_len;
    }
    len += sprintf(xml + len, "<NextToken>1</NextToken></Response>\n");

    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, silent);

    runs = 20;

    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;

    t0 = now_s();
    for (i = 0; i < runs; i++) {
        ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);
        xmlCtxtUseOptions(ctxt, XML_PARSE_NONET);
        xmlParseChunk(ctxt, xml, (int) len, 1);
        if (!ctxt->wellFormed) {
            fprintf(stderr, "not well-formed\n");
            return 1;
        }
        xmlFreeParserCtxt(ctxt);
    }
    parse_only = (now_s() - t0) / runs;

    memset(&conf, 0, sizeof(conf));
    conf.array_names = names;
    conf.narray_names = 1;
    conf.alloc = pool_alloc;

    t0 = now_s();
    for (i = 0; i < runs; i++) {
        if (ngx_http_ci_jobs_xml_parse((u_char *) xml, len, &conf, &res)
            != NGX_HTTP_CI_JOBS_XML_OK)
        {
            fprintf(stderr, "refused: %s\n", res.error);
            return 1;
        }
        pool_free();
    }
    without_json = (now_s() - t0) / runs;

    conf.json = 1;

    t0 = now_s();
    for (i = 0; i < runs; i++) {
        if (ngx_http_ci_jobs_xml_parse((u_char *) xml, len, &conf, &res)
            != NGX_HTTP_CI_JOBS_XML_OK)
        {
            fprintf(stderr, "refused: %s\n", res.error);
            return 1;
        }
        pool_free();
    }
    with_json = (now_s() - t0) / runs;

    printf("%.1f MB list answer, %zu jobs, %d runs each\n",
           len / 1048576.0, res.jobs, runs);
    printf("libxml2 parse only:        %7.1f MB/s  %6.2f ms\n",
           len / 1048576.0 / parse_only, parse_only * 1e3);
    printf("check + states (XML):      %7.1f MB/s  %6.2f ms  %.2fx\n",
           len / 1048576.0 / without_json, without_json * 1e3,
           without_json / parse_only);
    printf("check + states + JSON:     %7.1f MB/s  %6.2f ms  %.2fx\n",
           len / 1048576.0 / with_json, with_json * 1e3,
           with_json / parse_only);

    return 0;
}
