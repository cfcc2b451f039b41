
/*
 * The XML pass's own scanner: which answers it reads itself (CI's plain
 * XML) and which it leaves to libxml2, and that either way the pass gives
 * what libxml2 alone gives: the verdict, the message, the facts and the
 * JSON.  Run from the repository root.
 */


#include <glob.h>
#include <stdlib.h>

#include <libxml/parser.h>

#include "tap.h"
#include "slurp.h"
#include "pool.h"
#include "ngx_http_ci_jobs_xml_pass.h"


/* a string literal and its length, NULs included */
#define S(s)  s, sizeof(s) - 1


static int scan(const char *xml, size_t len, int json);
static void check_same(const char *xml, size_t len, const char *what);
static void check_scanned(const char *xml, size_t len, const char *what);
static void check_declined(const char *xml, size_t len, const char *what);
static void test_subset(void);
static void test_outside(void);
static void test_seeds(void);
static void test_depth(void);
static void test_sixteen(void);
static void test_large(void);


static const ngx_http_ci_jobs_name_t  jobs_detail[] = {
    { (const u_char *) "JobsDetail", 10 }
};


static void
conf_init(ngx_http_ci_jobs_xml_conf_t *conf, int json, int libxml_only)
{
    memset(conf, 0, sizeof(ngx_http_ci_jobs_xml_conf_t));

    conf->array_names = jobs_detail;
    conf->narray_names = 1;
    conf->json = json;
    conf->libxml_only = libxml_only;
    conf->alloc = pool_alloc;
    conf->ids = (const u_char *) "j1,j2";
    conf->ids_len = 5;
}


/* the scanner alone, as the pass runs it: READ or DECLINED */

static int
scan(const char *xml, size_t len, int json)
{
    int                          rc;
    ngx_http_ci_jobs_xml_conf_t  conf;
    ngx_http_ci_jobs_xml_pass_t  pass;

    conf_init(&conf, json, 0);

    memset(&pass, 0, sizeof(ngx_http_ci_jobs_xml_pass_t));
    pass.conf = &conf;

    ngx_http_ci_jobs_xml_facts_init(&pass.facts, conf.ids, conf.ids_len);
    ngx_http_ci_jobs_json_init(&pass.json, &conf, len + 64);

    rc = ngx_http_ci_jobs_xml_scan(&pass, (const u_char *) xml, len);

    ngx_http_ci_jobs_json_release(&pass.json, 0);

    return rc;
}


/* the pass with the scanner and libxml2 alone agree, with and without JSON */

static void
check_same(const char *xml, size_t len, const char *what)
{
    int                            rc, lrc, json, same;
    ngx_http_ci_jobs_xml_conf_t    conf, lconf;
    ngx_http_ci_jobs_xml_result_t  res, lres;

    for (json = 0; json <= 1; json++) {
        conf_init(&conf, json, 0);
        conf_init(&lconf, json, 1);

        rc = ngx_http_ci_jobs_xml_parse((const u_char *) xml, len, &conf,
                                        &res);
        lrc = ngx_http_ci_jobs_xml_parse((const u_char *) xml, len, &lconf,
                                         &lres);

        same = (rc == lrc);

        if (same && rc != NGX_HTTP_CI_JOBS_XML_OK) {
            same = (strcmp(res.error, lres.error) == 0);

        } else if (same) {
            same = res.jobs == lres.jobs
                   && res.terminal_jobs == lres.terminal_jobs
                   && res.runs == lres.runs
                   && res.terminal_runs == lres.terminal_runs
                   && res.nonexist == lres.nonexist
                   && res.response == lres.response
                   && res.ids_seen == lres.ids_seen
                   && res.foreign == lres.foreign
                   && res.json_len == lres.json_len
                   && (res.json_len == 0
                       || memcmp(res.json, lres.json, res.json_len) == 0);
        }

        tap_ok(same, "%s: as libxml2 alone (%s)", what,
               json ? "JSON" : "XML");

        if (!same) {
            printf("#   scanner: %d %s '%.*s'\n", rc,
                   rc ? res.error : "", (int) res.json_len, res.json);
            printf("#   libxml2: %d %s '%.*s'\n", lrc,
                   lrc ? lres.error : "", (int) lres.json_len, lres.json);
        }

        pool_free();
    }
}


static void
check_scanned(const char *xml, size_t len, const char *what)
{
    tap_ok(scan(xml, len, 0) == NGX_HTTP_CI_JOBS_XML_READ
           && scan(xml, len, 1) == NGX_HTTP_CI_JOBS_XML_READ,
           "%s: read by the scanner", what);
    pool_free();

    check_same(xml, len, what);
}


static void
check_declined(const char *xml, size_t len, const char *what)
{
    tap_ok(scan(xml, len, 1) == NGX_HTTP_CI_JOBS_XML_DECLINED,
           "%s: left to libxml2", what);
    pool_free();

    check_same(xml, len, what);
}


static void
test_subset(void)
{
    check_scanned(S("<a/>"), "an empty root");
    check_scanned(S("<a></a>"), "an empty root, two tags");
    check_scanned(S("\n <a >x</a >\n\t"), "white space around and in tags");
    check_scanned(S("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<Response><JobsDetail><JobId>j1</JobId>"
                    "<State>Success</State></JobsDetail></Response>"),
                  "a declaration and a terminal job");
    check_scanned(S("<?xml version='1.0' encoding='utf-8' "
                    "standalone='yes' ?><a/>"),
                  "a declaration in single quotes, standalone");
    check_scanned(S("<?xml version = \"1.0\"?><a/>"),
                  "a declaration with spaces around '='");
    check_scanned(S("<a>x &amp; &lt;y&gt; &quot;z&quot; &apos;</a>"),
                  "the predefined entities");
    check_scanned(S("<a>&#65;&#x4e2D;&#20013;&#x1F600;&#9;&#10;&#13;</a>"),
                  "character references");
    check_scanned(S("<a>\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \x7f</a>"),
                  "UTF-8 text and DEL");
    check_scanned(S("<a>] ]] ]&gt; x]</a>"), "brackets that are not ]]>");
    check_scanned(S("<Response><NonExistJobIds>j1, j2</NonExistJobIds>"
                    "<NonExistJobIds>j3</NonExistJobIds></Response>"),
                  "NonExistJobIds with an id not asked for");
    check_scanned(S("<a><b>1</b><c>2</c><b>3</b></a>"),
                  "a name repeated after another");
    check_scanned(S("<A_b-1.c><_x/></A_b-1.c>"), "names with _ - . digits");
    check_scanned(S("<a>0123456789abcdef0123456789abcdef\t\n"
                    "0123456789abcdef0123456789abcdef\n</a>"),
                  "text longer than sixteen bytes, tabs and line feeds");
}


static void
test_outside(void)
{
    /* outside the subset, well-formed */

    check_declined(S("\xef\xbb\xbf<a/>"), "a byte order mark");
    check_declined(S("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
                     "<a>\xe9</a>"),
                   "another encoding");
    check_declined(S("<a><!-- c --></a>"), "a comment");
    check_declined(S("<a><![CDATA[x]]></a>"), "CDATA");
    check_declined(S("<?pi x?><a/>"), "a processing instruction");
    check_declined(S("<a x=\"1\"/>"), "an attribute");
    check_declined(S("<p:a xmlns:p=\"urn:x\"/>"), "a prefixed name");
    check_declined(S("<a>x\r\ny</a>"), "a carriage return");
    check_declined(S("<\xc3\xa9/>"), "a non-ASCII name");

    /* not well-formed: libxml2's verdict and message */

    check_declined(S("<?xml version=\"1.1\"?><a/>"), "version 1.1");
    check_declined(S("<!DOCTYPE a><a/>"), "a DOCTYPE");
    check_declined(S("<a>]]></a>"), "]]> in text");
    check_declined(S("<a>&foo;</a>"), "an undeclared entity");
    check_declined(S("<a>&#0;</a>"), "a reference to NUL");
    check_declined(S("<a>&#xD800;</a>"), "a reference to a surrogate");
    check_declined(S("<a>&#1114112;</a>"), "a reference past U+10FFFF");
    check_declined(S("<a>&#x000000041;</a>"), "a reference of nine digits");
    check_declined(S("<a>\xc0\xaf</a>"), "an overlong form");
    check_declined(S("<a>\xef\xbf\xbe</a>"), "U+FFFE");
    check_declined(S("<a>\x01</a>"), "a control character");
    check_declined(S("<a>x\0y</a>"), "a NUL byte");
    check_declined(S("<a></b>"), "a mismatched end tag");
    check_declined(S("<ab></a>"), "an end tag of a shorter name");
    check_declined(S("<a></ab>"), "an end tag of a longer name");
    check_declined(S("<a><b>x</b>"), "a truncated document");
    check_declined(S("<a/><b/>"), "a second root");
    check_declined(S("<a/>x"), "text after the root");
    check_declined(S("x<a/>"), "text before the root");
    check_declined(S("</a>"), "an end tag first");
    check_declined(S("   "), "white space only");
    check_declined(S("<a"), "a cut start tag");
    check_declined(S("<a/"), "a cut empty-element tag");
}


/* CI's own answers (the golden XML of t/unit/xml/) are in the subset */

static void
test_seeds(void)
{
    char    *xml;
    size_t   i, len;
    glob_t   g;

    if (glob("t/unit/xml/*.xml", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        tap_ok(0, "t/unit/xml/*.xml found");
        return;
    }

    for (i = 0; i < g.gl_pathc; i++) {
        xml = slurp(g.gl_pathv[i], &len);

        if (xml == NULL) {
            tap_ok(0, "%s read", g.gl_pathv[i]);
            continue;
        }

        check_scanned(xml, len, g.gl_pathv[i]);
        free(xml);
    }

    globfree(&g);
}


static void
test_depth(void)
{
    size_t  i, n;
    char    xml[NGX_HTTP_CI_JOBS_XML_MAX_DEPTH * 8 + 16];

    for (n = NGX_HTTP_CI_JOBS_XML_MAX_DEPTH - 1;
         n <= NGX_HTTP_CI_JOBS_XML_MAX_DEPTH + 1;
         n++)
    {
        char  *p = xml;

        for (i = 0; i < n; i++) {
            p += sprintf(p, "<a>");
        }

        for (i = 0; i < n; i++) {
            p += sprintf(p, "</a>");
        }

        if (n < NGX_HTTP_CI_JOBS_XML_MAX_DEPTH + 1) {
            check_scanned(xml, p - xml, "nesting at the limit");

        } else {
            check_declined(xml, p - xml, "nesting past the limit");
        }
    }
}


/*
 * Where names and indentation are read sixteen bytes at a time: names and
 * runs of spaces on either side of sixteen bytes, a difference in any
 * byte of an end tag's name, and the last bytes of the document, where
 * sixteen are no longer there to load.
 */

static void
test_sixteen(void)
{
    int     n;
    size_t  i, len;
    char    name[40], other[40], spaces[41], xml[256];

    static const int  lengths[] = { 1, 15, 16, 17, 31, 32, 33 };

    memset(spaces, ' ', sizeof(spaces) - 1);
    spaces[sizeof(spaces) - 1] = '\0';

    for (i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        n = lengths[i];
        memset(name, 'a', n);
        name[n] = '\0';
        name[n - 1] = 'z';

        /* the end tag far from the end, and as the document's last bytes */

        len = snprintf(xml, sizeof(xml), "<%s>x</%s>%.20s", name, name,
                       spaces);
        check_scanned(xml, len, "a name, then spaces");

        len = snprintf(xml, sizeof(xml), "<%s><b/></%s>", name, name);
        check_scanned(xml, len, "a name, at the end");

        /* one byte changed, first and last; one byte more and less */

        memcpy(other, name, n + 1);
        other[0] = 'b';
        len = snprintf(xml, sizeof(xml), "<%s>x</%s>%.20s", name, other,
                       spaces);
        check_declined(xml, len, "an end tag other in its first byte");

        other[0] = 'a';
        other[n - 1] = 'y';
        len = snprintf(xml, sizeof(xml), "<%s>x</%s>%.20s", name, other,
                       spaces);
        check_declined(xml, len, "an end tag other in its last byte");

        len = snprintf(xml, sizeof(xml), "<%s>x</%sa>%.20s", name, name,
                       spaces);
        check_declined(xml, len, "an end tag a byte longer");

        if (n > 1) {
            len = snprintf(xml, sizeof(xml), "<%s>x</%.*s>%.20s", name,
                           n - 1, name, spaces);
            check_declined(xml, len, "an end tag a byte shorter");
        }

        /* indentation of that many spaces before a tag, and before text */

        len = snprintf(xml, sizeof(xml), "<a>\n%.*s<b/>\n%.*s</a>", n,
                       spaces, n, spaces);
        check_scanned(xml, len, "indentation before tags");

        len = snprintf(xml, sizeof(xml), "<a>\n%.*sx &amp; y\n%.*s</a>", n,
                       spaces, n, spaces);
        check_scanned(xml, len, "indentation before text");

        len = snprintf(xml, sizeof(xml), "<a>\n%.*s\x01</a>", n, spaces);
        check_declined(xml, len, "indentation before a control character");

        len = snprintf(xml, sizeof(xml), "<a>\n%.*s\n%.*s<b/></a>", n,
                       spaces, n, spaces);
        check_scanned(xml, len, "two lines of indentation");
    }

    check_declined(S("<a>x</a\x80>"), "a non-ASCII byte after an end tag's name");
    check_declined(S("<aaaaaaaaaaaaaaa\x80>x</aaaaaaaaaaaaaaa>"),
                   "a non-ASCII byte in a name's sixteen bytes");
}


/* past libxml2's 10 MB at a time: a long text, a long list */

static void
test_large(void)
{
    char    *xml;
    size_t   len, size;

    size = 12 * 1024 * 1024;

    xml = malloc(size + 256);    /* a job and the end tag past size */
    if (xml == NULL) {
        tap_ok(0, "12 MB allocated");
        return;
    }

    len = sprintf(xml, "<a>");
    memset(xml + len, 'x', size);
    len += size;
    len += sprintf(xml + len, "</a>");

    check_scanned(xml, len, "a 12 MB text");

    len = sprintf(xml, "<Response>");

    while (len < size) {
        len += sprintf(xml + len, "<JobsDetail><JobId>j1</JobId>"
                                  "<State>Success</State></JobsDetail>\n");
    }

    len += sprintf(xml + len, "</Response>");

    check_scanned(xml, len, "a 12 MB list");

    free(xml);
}


int
main(void)
{
    xmlInitParser();

    test_subset();
    test_outside();
    test_seeds();
    test_depth();
    test_sixteen();
    test_large();

    pool_free();
    ngx_http_ci_jobs_xml_cleanup();
    xmlCleanupParser();

    return tap_done();
}
