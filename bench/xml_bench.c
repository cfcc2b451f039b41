
/*
 * The XML pass on a 4 MB list answer (the seed media job, repeated),
 * next to libxml2 alone parsing the same bytes with an empty SAX handler:
 * MB/s of each, and the ratio of times.
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

    f = fopen(argc > 1 ? argv[1] : "t/unit/xml/seed002.xml", "rb");
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
