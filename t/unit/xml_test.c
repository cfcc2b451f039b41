
/*
 * The XML pass: JSON against golden pairs made by the official COS SDK's
 * converter (t/unit/xml/README.md), edge cases whose JSON is derived by
 * hand from the mapping rules, refusals, and the facts the cache decides
 * on.  Run from the repository root.
 */


#include <stdlib.h>

#include "tap.h"
#include "pool.h"
#include "ngx_http_ci_jobs_xml.h"


static int
convert(const char *xml, size_t len, int json,
    ngx_http_ci_jobs_xml_result_t *res)
{
    ngx_http_ci_jobs_xml_conf_t  conf;

    static ngx_http_ci_jobs_name_t  names[] = {
        { (u_char *) "JobsDetail", 10 }
    };

    memset(&conf, 0, sizeof(conf));
    conf.array_names = names;
    conf.narray_names = 1;
    conf.json = json;
    conf.alloc = pool_alloc;
    conf.alloc_data = NULL;

    pool_free();

    return ngx_http_ci_jobs_xml_parse((const u_char *) xml, len, &conf, res);
}


static char *
slurp(const char *path, size_t *len)
{
    FILE  *f;
    char  *buf;
    long   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    *len = fread(buf, 1, n, f);
    buf[*len] = '\0';
    fclose(f);

    while (*len && buf[*len - 1] == '\n') {
        buf[--*len] = '\0';
    }

    return buf;
}


static void
test_golden(void)
{
    int                            i, rc;
    char                           path[64], *xml, *json;
    size_t                         xml_len, json_len;
    ngx_http_ci_jobs_xml_result_t  res;

    for (i = 0; i <= 4; i++) {
        snprintf(path, sizeof(path), "t/unit/xml/seed%03d.xml", i);
        xml = slurp(path, &xml_len);
        snprintf(path, sizeof(path), "t/unit/xml/seed%03d.json", i);
        json = slurp(path, &json_len);

        if (xml == NULL || json == NULL) {
            tap_ok(0, "golden pair %d is readable", i);
            continue;
        }

        rc = convert(xml, xml_len, 1, &res);
        tap_ok(rc == NGX_HTTP_CI_JOBS_XML_OK, "seed %d: converted", i);
        tap_is_mem(res.json, res.json_len, json,
                   "seed %d: the SDK's JSON", i);

        rc = convert(xml, xml_len, 0, &res);
        tap_ok(rc == NGX_HTTP_CI_JOBS_XML_OK && res.json == NULL,
               "seed %d: checked without JSON", i);

        free(xml);
        free(json);
    }
}


static void
test_mapping(void)
{
    size_t                         i;
    ngx_http_ci_jobs_xml_result_t  res;

    static const struct {
        const char  *xml;
        const char  *json;
        const char  *what;
    } cases[] = {
        { "<Response/>", "{\"Response\":\"\"}", "an empty root" },
        { "<Response></Response>", "{\"Response\":\"\"}", "an empty root" },
        { "<R><a>1</a><b>2</b><a>3</a></R>",
          "{\"R\":{\"a\":[\"1\",\"3\"],\"b\":\"2\"}}",
          "repeated names: one array at the first one's place" },
        { "<R><JobsDetail><State>Success</State></JobsDetail></R>",
          "{\"R\":{\"JobsDetail\":[{\"State\":\"Success\"}]}}",
          "JobsDetail is always an array" },
        { "<R><a> 1 </a><b>   </b><c/></R>",
          "{\"R\":{\"a\":\" 1 \",\"b\":\"   \",\"c\":\"\"}}",
          "text verbatim, whitespace-only leaves kept" },
        { "<R><a>0012</a><b>true</b></R>",
          "{\"R\":{\"a\":\"0012\",\"b\":\"true\"}}",
          "no number or boolean conversion" },
        { "<R><a>&amp;&lt;&gt;&quot;&apos;</a></R>",
          "{\"R\":{\"a\":\"&<>\\\"'\"}}", "the predefined entities" },
        { "<R><a>&#x4e2d;&#20013;</a></R>",
          "{\"R\":{\"a\":\"\xe4\xb8\xad\xe4\xb8\xad\"}}",
          "character references decoded" },
        { "<R><a>x<![CDATA[<b>&amp;]]>y</a></R>",
          "{\"R\":{\"a\":\"x<b>&amp;y\"}}", "CDATA inlined" },
        { "<?xml version=\"1.0\"?><!-- c --><R a=\"1\"><?pi x?>"
          "<b c=\"2\">t</b><!-- d --></R>",
          "{\"R\":{\"b\":\"t\"}}",
          "declaration, comments, PIs and attributes dropped" },
        { "<R>\n  <a>1</a>\n  <b>\n    <c>2</c>\n  </b>\n</R>",
          "{\"R\":{\"a\":\"1\",\"b\":{\"c\":\"2\"}}}",
          "whitespace between elements dropped" },
        { "<R>text<a>1</a>more</R>", "{\"R\":{\"a\":\"1\"}}",
          "text beside child elements dropped" },
        { "<R><a>\"\\/&#9;&#10;&#13;</a></R>",
          "{\"R\":{\"a\":\"\\\"\\\\/\\t\\n\\r\"}}", "JSON escapes" },
        { "\xef\xbb\xbf<R><a>b</a></R>", "{\"R\":{\"a\":\"b\"}}", "a BOM" },
        { "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><R><a>\xe9</a></R>",
          "{\"R\":{\"a\":\"\xc3\xa9\"}}", "ISO-8859-1 converted to UTF-8" },
        { "<R><a><b><c><d><e>deep</e></d></c></b></a></R>",
          "{\"R\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":\"deep\"}}}}}}",
          "nesting" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tap_ok(convert(cases[i].xml, strlen(cases[i].xml), 1, &res)
               == NGX_HTTP_CI_JOBS_XML_OK, "%s: converted", cases[i].what);
        tap_is_mem(res.json, res.json_len, cases[i].json, "%s",
                   cases[i].what);
    }
}


static void
test_refused(void)
{
    size_t                         i;
    ngx_http_ci_jobs_xml_result_t  res;

    static const char  *cases[] = {
        "",
        "not xml",
        "<R><a>1</a>",
        "<R><a>1</b></R>",
        "<R/><S/>",
        "<R/>trailing",
        "<R>&nope;</R>",
        "<R>\xff\xfe</R>",
        "<R>\xc3</R>",
        "<R>&#1;</R>",
        "<!DOCTYPE R [<!ENTITY e \"x\">]><R>&e;</R>",
        "<!DOCTYPE R SYSTEM \"http://example.com/r.dtd\"><R/>",
        "<R><JobsDetail><State>Success</State></JobsDetail>",
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tap_ok(convert(cases[i], strlen(cases[i]), 1, &res)
               == NGX_HTTP_CI_JOBS_XML_ERROR && res.error != NULL
               && res.json == NULL && res.jobs == 0,
               "refused with JSON, nothing half-made: case %zu", i);
        tap_ok(convert(cases[i], strlen(cases[i]), 0, &res)
               == NGX_HTTP_CI_JOBS_XML_ERROR,
               "refused without JSON: case %zu", i);
    }
}


static void
test_limits(void)
{
    int                            i, json;
    char                          *xml, *p;
    ngx_http_ci_jobs_xml_result_t  res;

    xml = malloc(20 * 10000 + 64);

    p = xml + sprintf(xml, "<R>");
    for (i = 0; i < 10000; i++) {
        p += sprintf(p, "<a>%d</a>", i);
    }
    p += sprintf(p, "</R>");

    tap_ok(convert(xml, p - xml, 1, &res) == NGX_HTTP_CI_JOBS_XML_OK,
           "10k siblings: converted");
    tap_ok(res.json_len > 20
           && memcmp(res.json, "{\"R\":{\"a\":[\"0\",\"1\",", 19) == 0
           && memcmp(res.json + res.json_len - 10, ",\"9999\"]}}", 10) == 0,
           "10k siblings: one array, in order");

    p = xml;
    for (i = 0; i < 256; i++) {
        p += sprintf(p, "<a>");
    }
    for (i = 0; i < 256; i++) {
        p += sprintf(p, "</a>");
    }

    tap_ok(convert(xml, p - xml, 1, &res) == NGX_HTTP_CI_JOBS_XML_OK,
           "256 levels: converted");

    p = xml;
    for (i = 0; i < 5000; i++) {
        p += sprintf(p, "<a>");
    }
    for (i = 0; i < 5000; i++) {
        p += sprintf(p, "</a>");
    }

    for (json = 0; json <= 1; json++) {
        tap_ok(convert(xml, p - xml, json, &res)
               == NGX_HTTP_CI_JOBS_XML_ERROR,
               "5000 levels: refused (json %d)", json);
    }

    free(xml);
}


static void
test_facts(void)
{
    int                            json;
    size_t                         i;
    ngx_http_ci_jobs_xml_result_t  res;

    static const struct {
        const char  *xml;
        size_t       jobs;
        size_t       terminal;
        int          nonexist;
        int          response;
        const char  *what;
    } cases[] = {
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<JobsDetail><State>Failed</State></JobsDetail>"
          "<JobsDetail><State>Cancel</State></JobsDetail></Response>",
          3, 3, 0, 1, "all terminal" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<JobsDetail><State>Running</State></JobsDetail></Response>",
          2, 1, 0, 1, "one running" },
        { "<Response><JobsDetail><Operation><State>Success</State>"
          "</Operation><State>Running</State></JobsDetail></Response>",
          1, 0, 0, 1, "a nested State does not count" },
        { "<Response><JobsDetail><State>Running</State><UserData>"
          "&lt;State&gt;Success&lt;/State&gt;</UserData></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "UserData that reads like a State" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<NonExistJobIds></NonExistJobIds></Response>",
          1, 1, 0, 1, "an empty NonExistJobIds" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<NonExistJobIds>j2</NonExistJobIds></Response>",
          1, 1, 1, 1, "a missing id" },
        { "<Response><JobsDetail><State> Success</State></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "the state must be exact" },
        { "<Response><x><JobsDetail><State>Success</State></JobsDetail>"
          "</x></Response>", 0, 0, 0, 1, "JobsDetail below the root only" },
        { "<Error><Code>NoSuchKey</Code><Message>m</Message></Error>",
          0, 0, 0, 0, "an error" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (json = 0; json <= 1; json++) {
            tap_ok(convert(cases[i].xml, strlen(cases[i].xml), json, &res)
                   == NGX_HTTP_CI_JOBS_XML_OK
                   && res.jobs == cases[i].jobs
                   && res.terminal_jobs == cases[i].terminal
                   && res.nonexist == cases[i].nonexist
                   && res.response == cases[i].response,
                   "%s (json %d): %zu jobs, %zu terminal", cases[i].what,
                   json, res.jobs, res.terminal_jobs);
        }
    }
}


int
main(void)
{
    test_golden();
    test_mapping();
    test_refused();
    test_limits();
    test_facts();

    pool_free();

    return tap_done();
}
