
/*
 * The XML pass: JSON against golden pairs made by another converter
 * (fast-xml-parser, t/unit/xml/README.md), edge cases whose JSON is
 * written by hand from the mapping rules, refusals (nothing half-made,
 * nothing printed), out of memory, limits, and the facts the cache
 * decides on.  Run from the repository root.
 *
 * Each document is converted twice: as it is (by the pass's scanner when
 * in its subset, else by libxml2) and, by libxml2 alone, followed by 4 KB
 * of spaces.
 */


#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "tap.h"
#include "slurp.h"
#include "ngx_http_ci_jobs_xml.h"
#include "ngx_http_ci_jobs_cache_key.h"


#define PAD  4096

/* a string literal and its length, NULs included */
#define S(s)  s, sizeof(s) - 1


typedef struct block_s  block_t;

struct block_s {
    block_t  *next;
};


static block_t  *blocks;
static size_t    allocated;
static long      alloc_left = -1;    /* allocations until NULL; -1: no end */
static u_char   *copy;               /* the padded conversion's JSON */
static int       libxml_only;        /* convert(): skip the scanner */


static void *arena_alloc(void *data, size_t size);
static void arena_free(void);
static int convert(const char *xml, size_t len, int json,
    const ngx_http_ci_jobs_name_t *names, size_t n,
    ngx_http_ci_jobs_xml_result_t *res);
static int convert_both(const char *xml, size_t len, int json, int pad,
    ngx_http_ci_jobs_xml_result_t *res, ngx_http_ci_jobs_xml_result_t *pres);
static int same_json(ngx_http_ci_jobs_xml_result_t *res, const char *json,
    size_t len);
static void check_json(const char *xml, size_t len, int pad,
    const char *json, const char *what);
static void check_refused(const char *xml, size_t len, int pad,
    const char *what);
static int refused(int rc, ngx_http_ci_jobs_xml_result_t *res);
static void test_golden(void);
static void test_mapping(void);
static void test_array_names(void);
static void test_escape_positions(void);
static void test_refused(void);
static void test_prefixes(void);
static void test_limits(void);
static void test_facts(void);
static int parse_runs(const char *xml, ngx_http_ci_jobs_xml_result_t *res);
static void test_runs(void);
static void test_nomem(void);
static void test_handler_kept(void);
static void diag_error(void *data, xmlErrorPtr error);


static const ngx_http_ci_jobs_name_t  jobs_detail[] = {
    { (const u_char *) "JobsDetail", 10 }
};


static void *
arena_alloc(void *data, size_t size)
{
    block_t  *b;

    (void) data;

    if (alloc_left == 0) {
        return NULL;
    }

    if (alloc_left > 0) {
        alloc_left--;
    }

    b = malloc(sizeof(block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = blocks;
    blocks = b;
    allocated += size;

    return b + 1;
}


static void
arena_free(void)
{
    block_t  *b;

    while (blocks) {
        b = blocks;
        blocks = b->next;
        free(b);
    }

    allocated = 0;
}


static int
convert(const char *xml, size_t len, int json,
    const ngx_http_ci_jobs_name_t *names, size_t n,
    ngx_http_ci_jobs_xml_result_t *res)
{
    ngx_http_ci_jobs_xml_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.array_names = names;
    conf.narray_names = n;
    conf.json = json;
    conf.libxml_only = libxml_only;
    conf.alloc = arena_alloc;
    conf.alloc_data = NULL;

    arena_free();

    return ngx_http_ci_jobs_xml_parse((const u_char *) xml, len, &conf, res);
}


/*
 * Converts xml as it is into res and, by libxml2 alone, with pad followed
 * by PAD spaces, into pres (a copy of the JSON is kept there); returns 1
 * when both give the same code, 0 otherwise.  res is left as the first
 * conversion's.
 */

static int
convert_both(const char *xml, size_t len, int json, int pad,
    ngx_http_ci_jobs_xml_result_t *res, ngx_http_ci_jobs_xml_result_t *pres)
{
    int    rc, prc;
    char  *padded;

    padded = malloc(len + PAD);
    memcpy(padded, xml, len);
    memset(padded + len, ' ', PAD);

    libxml_only = 1;
    prc = convert(padded, len + (pad ? PAD : 0), json, jobs_detail, 1, pres);
    libxml_only = 0;

    free(copy);
    copy = NULL;

    if (prc == NGX_HTTP_CI_JOBS_XML_OK && pres->json != NULL) {
        copy = malloc(pres->json_len + 1);
        memcpy(copy, pres->json, pres->json_len);
        pres->json = copy;
    }

    free(padded);

    rc = convert(xml, len, json, jobs_detail, 1, res);

    return rc == prc;
}


static int
same_json(ngx_http_ci_jobs_xml_result_t *res, const char *json, size_t len)
{
    return res->json != NULL && res->json_len == len
           && memcmp(res->json, json, len) == 0;
}


static void
check_json(const char *xml, size_t len, int pad, const char *json,
    const char *what)
{
    int                            same;
    ngx_http_ci_jobs_xml_result_t  res, pres, facts;

    same = convert_both(xml, len, 1, pad, &res, &pres);

    tap_ok(same && res.json != NULL && res.error == NULL,
           "%s: converted", what);
    tap_is_mem(res.json, res.json_len, json, "%s", what);

    if (pad) {
        tap_ok(same_json(&pres, json, strlen(json)),
               "%s: the same by libxml2, padded", what);
    }

    tap_ok(convert(xml, len, 0, jobs_detail, 1, &facts)
           == NGX_HTTP_CI_JOBS_XML_OK
           && facts.json == NULL
           && facts.jobs == res.jobs
           && facts.terminal_jobs == res.terminal_jobs
           && facts.nonexist == res.nonexist
           && facts.response == res.response,
           "%s: the same facts without JSON", what);
}


static int
refused(int rc, ngx_http_ci_jobs_xml_result_t *res)
{
    return rc == NGX_HTTP_CI_JOBS_XML_ERROR && res->error != NULL
           && res->json == NULL && res->json_len == 0 && res->jobs == 0
           && res->terminal_jobs == 0 && !res->nonexist && !res->response;
}


static void
check_refused(const char *xml, size_t len, int pad, const char *what)
{
    int                            json;
    ngx_http_ci_jobs_xml_result_t  res, pres;

    for (json = 0; json <= 1; json++) {
        convert_both(xml, len, json, pad, &res, &pres);

        tap_ok(refused(NGX_HTTP_CI_JOBS_XML_ERROR, &res)
               && refused(convert(xml, len, json, jobs_detail, 1, &res),
                          &res)
               && (!pad || refused(NGX_HTTP_CI_JOBS_XML_ERROR, &pres)),
               "%s: refused (json %d): %s", what, json,
               res.error ? res.error : "(no message)");
    }
}


static void
test_golden(void)
{
    int                            json;
    char                           path[128], *xml, *expected;
    size_t                         i, xml_len, json_len;
    ngx_http_ci_jobs_xml_result_t  res;

    static const struct {
        const char  *name;
        size_t       jobs;
        size_t       terminal;
    } seeds[] = {
        { "seed000-schema", 1, 0 },
        { "seed000", 1, 0 },
        { "seed001-schema", 1, 0 },
        { "seed001", 1, 0 },
        { "seed002-schema", 1, 0 },
        { "seed002-running", 1, 0 },
        { "seed002", 1, 1 },
        { "seed003-schema", 1, 0 },
        { "seed003", 1, 0 },
        { "seed004-schema", 1, 0 },
        { "seed004", 2, 0 },
    };

    for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        snprintf(path, sizeof(path), "t/unit/xml/%s.xml", seeds[i].name);
        xml = slurp(path, &xml_len);
        snprintf(path, sizeof(path), "t/unit/xml/%s.json", seeds[i].name);
        expected = slurp(path, &json_len);

        if (xml == NULL || expected == NULL) {
            tap_ok(0, "%s: golden pair readable (run from the repository "
                   "root)", seeds[i].name);
            free(xml);
            free(expected);
            continue;
        }

        while (json_len && expected[json_len - 1] == '\n') {
            expected[--json_len] = '\0';
        }

        check_json(xml, xml_len, 1, expected, seeds[i].name);

        for (json = 0; json <= 1; json++) {
            tap_ok(convert(xml, xml_len, json, jobs_detail, 1, &res)
                   == NGX_HTTP_CI_JOBS_XML_OK
                   && res.response && !res.nonexist
                   && res.jobs == seeds[i].jobs
                   && res.terminal_jobs == seeds[i].terminal,
                   "%s (json %d): %zu jobs, %zu terminal", seeds[i].name,
                   json, res.jobs, res.terminal_jobs);
        }

        convert(xml, xml_len, 1, jobs_detail, 1, &res);

        tap_ok(allocated <= xml_len + 2 * res.json_len + 16384,
               "%s: %zu bytes allocated for %zu of JSON", seeds[i].name,
               allocated, res.json_len);

        free(xml);
        free(expected);
    }
}


static void
test_mapping(void)
{
    size_t  i;

    static const struct {
        const char  *xml;
        const char  *json;
        const char  *what;
    } cases[] = {
        { "<Response/>", "{\"Response\":\"\"}", "an empty root" },
        { "<Response></Response>", "{\"Response\":\"\"}",
          "an empty root, two tags" },
        { "<Response a=\"1\" b='2'/>", "{\"Response\":\"\"}",
          "an empty root with attributes" },
        { "<R>   </R>", "{\"R\":\"   \"}", "a whitespace-only root" },
        { "<R><a><![CDATA[1\r\n2\r3]]></a></R>",
          "{\"R\":{\"a\":\"1\\n2\\n3\"}}",
          "CDATA line ends normalized" },
        { "<R>text</R>", "{\"R\":\"text\"}", "a root with text" },
        { "<Error><Code>NoSuchKey</Code><Message>m</Message>"
          "<RequestId>r</RequestId></Error>",
          "{\"Error\":{\"Code\":\"NoSuchKey\",\"Message\":\"m\","
          "\"RequestId\":\"r\"}}", "an error answer" },
        { "<R><a>1</a><b>2</b><a>3</a></R>",
          "{\"R\":{\"a\":[\"1\",\"3\"],\"b\":\"2\"}}",
          "a name repeated after another: one array at its first place" },
        { "<R><a>1</a><a>2</a><b>3</b></R>",
          "{\"R\":{\"a\":[\"1\",\"2\"],\"b\":\"3\"}}",
          "a name repeated at once" },
        { "<R><b>0</b><a>1</a><a>2</a></R>",
          "{\"R\":{\"b\":\"0\",\"a\":[\"1\",\"2\"]}}",
          "a name repeated at the end" },
        { "<R><a>1</a><a>2</a><b>3</b><a>4</a><c/><b>5</b><a>6</a>"
          "<a>7</a></R>",
          "{\"R\":{\"a\":[\"1\",\"2\",\"4\",\"6\",\"7\"],"
          "\"b\":[\"3\",\"5\"],\"c\":\"\"}}",
          "runs and scattered repeats" },
        { "<R><b>0</b><a><x>1</x></a><a><x>2</x><x>3</x></a></R>",
          "{\"R\":{\"b\":\"0\",\"a\":[{\"x\":\"1\"},"
          "{\"x\":[\"2\",\"3\"]}]}}", "arrays of objects" },
        { "<R><a><b>1</b><c/><b>2</b></a><d/><a><b>3</b></a></R>",
          "{\"R\":{\"a\":[{\"b\":[\"1\",\"2\"],\"c\":\"\"},{\"b\":\"3\"}],"
          "\"d\":\"\"}}", "regrouped at two levels" },
        { "<R><a><x>1</x><y/><x>2</x></a><a>3</a></R>",
          "{\"R\":{\"a\":[{\"x\":[\"1\",\"2\"],\"y\":\"\"},\"3\"]}}",
          "a name repeated at once after a regrouped object" },
        { "<R><b/><a>1</a><a>2</a><c/><b/></R>",
          "{\"R\":{\"b\":[\"\",\"\"],\"a\":[\"1\",\"2\"],\"c\":\"\"}}",
          "a run of a name in a regrouped object" },
        { "<R><a/><b/><a>1</a><a>2</a></R>",
          "{\"R\":{\"a\":[\"\",\"1\",\"2\"],\"b\":\"\"}}",
          "a run after a scattered repeat" },
        { "<R><JobsDetail><a/><b/><a/></JobsDetail><x/>"
          "<JobsDetail><c/></JobsDetail></R>",
          "{\"R\":{\"JobsDetail\":[{\"a\":[\"\",\"\"],\"b\":\"\"},"
          "{\"c\":\"\"}],\"x\":\"\"}}",
          "regrouped objects in a regrouped array" },
        { "<JobsDetail><a/><b/><a/></JobsDetail>",
          "{\"JobsDetail\":[{\"a\":[\"\",\"\"],\"b\":\"\"}]}",
          "a regrouped JobsDetail root" },
        { "<R><a><x>1</x></a><b><x>2</x></b><a><x>3</x></a></R>",
          "{\"R\":{\"a\":[{\"x\":\"1\"},{\"x\":\"3\"}],\"b\":{\"x\":\"2\"}}}",
          "the same name under other parents is not a repeat" },
        { "<R><a><a>1</a></a><a>2</a></R>",
          "{\"R\":{\"a\":[{\"a\":\"1\"},\"2\"]}}",
          "a child of the same name is not a sibling" },
        { "<R><JobsDetail><State>Success</State></JobsDetail></R>",
          "{\"R\":{\"JobsDetail\":[{\"State\":\"Success\"}]}}",
          "JobsDetail is always an array" },
        { "<R><JobsDetail>1</JobsDetail><X>x</X><JobsDetail>2</JobsDetail>"
          "</R>", "{\"R\":{\"JobsDetail\":[\"1\",\"2\"],\"X\":\"x\"}}",
          "JobsDetail repeated after another name" },
        { "<R><JobsDetail>1</JobsDetail><JobsDetail>2</JobsDetail>"
          "<X>x</X></R>", "{\"R\":{\"JobsDetail\":[\"1\",\"2\"],\"X\":\"x\"}}",
          "JobsDetail repeated at once" },
        { "<R><a><JobsDetail/></a></R>",
          "{\"R\":{\"a\":{\"JobsDetail\":[\"\"]}}}",
          "JobsDetail deeper is an array too" },
        { "<JobsDetail><a>1</a></JobsDetail>",
          "{\"JobsDetail\":[{\"a\":\"1\"}]}", "a JobsDetail root too" },
        { "<R><a> 1 </a><b>   </b><c/><d></d></R>",
          "{\"R\":{\"a\":\" 1 \",\"b\":\"   \",\"c\":\"\",\"d\":\"\"}}",
          "text verbatim, whitespace-only leaves kept" },
        { "<R><a>0012</a><b>true</b><c>1e3</c><d>null</d></R>",
          "{\"R\":{\"a\":\"0012\",\"b\":\"true\",\"c\":\"1e3\","
          "\"d\":\"null\"}}", "no number, boolean or null conversion" },
        { "<R><a>&amp;&lt;&gt;&quot;&apos;</a></R>",
          "{\"R\":{\"a\":\"&<>\\\"'\"}}", "the predefined entities" },
        { "<R><a>&#x4e2d;&#20013;&#x1F600;</a></R>",
          "{\"R\":{\"a\":\"\xe4\xb8\xad\xe4\xb8\xad\xf0\x9f\x98\x80\"}}",
          "character references decoded" },
        { "<R><a>x<![CDATA[<b>&amp;\"]]>y</a></R>",
          "{\"R\":{\"a\":\"x<b>&amp;\\\"y\"}}", "CDATA inlined" },
        { "<R><a><![CDATA[a]]]]><![CDATA[>b]]></a></R>",
          "{\"R\":{\"a\":\"a]]>b\"}}", "]]> through two CDATA sections" },
        { "<R><a><![CDATA[]]></a></R>", "{\"R\":{\"a\":\"\"}}",
          "an empty CDATA section" },
        { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n"
          "<R a=\"1\"><?pi x?><b c=\"2\">t</b><!-- d --></R>\n<!-- e -->\n",
          "{\"R\":{\"b\":\"t\"}}",
          "declaration, comments, PIs and attributes dropped" },
        { "<R><a>x<!-- c -->y<?pi?>z</a></R>", "{\"R\":{\"a\":\"xyz\"}}",
          "comments and PIs inside text" },
        { "<R>\n  <a>1</a>\n  <b>\n    <c>2</c>\n  </b>\n</R>\n",
          "{\"R\":{\"a\":\"1\",\"b\":{\"c\":\"2\"}}}",
          "whitespace between elements dropped" },
        { "<R>text<a>1</a>more</R>", "{\"R\":{\"a\":\"1\"}}",
          "text beside child elements dropped" },
        { "<R><a>1</a>tail<b/>more</R>", "{\"R\":{\"a\":\"1\",\"b\":\"\"}}",
          "text after child elements dropped" },
        { "<R><a>\"\\/&#9;&#10;&#13;</a></R>",
          "{\"R\":{\"a\":\"\\\"\\\\/\\t\\n\\r\"}}",
          "JSON escapes, '/' as it is" },
        { "<R><a>a\r\nb\rc</a></R>", "{\"R\":{\"a\":\"a\\nb\\nc\"}}",
          "line ends normalised by XML, then escaped" },
        { "<R><a>&#x7f;&#x85;&#x2028;</a></R>",
          "{\"R\":{\"a\":\"\x7f\xc2\x85\xe2\x80\xa8\"}}",
          "DEL, NEL and U+2028 as they are" },
        { "\xef\xbb\xbf<R><a>b</a></R>", "{\"R\":{\"a\":\"b\"}}", "a BOM" },
        { "\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?><R>\xc3\xa9</R>",
          "{\"R\":\"\xc3\xa9\"}", "a BOM and UTF-8 declared" },
        { " \n<R>x</R>", "{\"R\":\"x\"}", "whitespace before the root" },
        { "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><R><a>caf\xe9</a>"
          "</R>", "{\"R\":{\"a\":\"caf\xc3\xa9\"}}",
          "ISO-8859-1 converted to UTF-8" },
        { "<R><\xe5\x90\x8d>\xe5\x80\xbc</\xe5\x90\x8d></R>",
          "{\"R\":{\"\xe5\x90\x8d\":\"\xe5\x80\xbc\"}}", "non-ASCII names" },
        { "<R><a-b.c_d>1</a-b.c_d></R>", "{\"R\":{\"a-b.c_d\":\"1\"}}",
          "names with - . _" },
        { "<p:R xmlns:p=\"urn:x\"><p:a>1</p:a><a>2</a><p:a>3</p:a></p:R>",
          "{\"p:R\":{\"p:a\":[\"1\",\"3\"],\"a\":\"2\"}}",
          "prefixed names kept whole" },
        { "<R xmlns=\"urn:x\"><a>1</a></R>", "{\"R\":{\"a\":\"1\"}}",
          "a default namespace" },
        { "<R><q:a>1</q:a></R>", "{\"R\":{\"q:a\":\"1\"}}",
          "an undeclared prefix (well-formed XML 1.0) kept" },
        { "<R><a><b><c><d><e>deep</e></d></c></b></a></R>",
          "{\"R\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":\"deep\"}}}}}}",
          "nesting" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_json(cases[i].xml, strlen(cases[i].xml), 1, cases[i].json,
                   cases[i].what);
    }

    /* UTF-16LE with a BOM: "<R>é</R>" */

    check_json("\xff\xfe<\0R\0>\0\xe9\0<\0/\0R\0>\0", 18, 0,
               "{\"R\":\"\xc3\xa9\"}", "UTF-16 converted to UTF-8");
}


static void
test_array_names(void)
{
    ngx_http_ci_jobs_xml_result_t  res;

    static const ngx_http_ci_jobs_name_t  two[] = {
        { (const u_char *) "JobsDetail", 10 },
        { (const u_char *) "NonExistJobIds", 14 }
    };

    static const char  xml[] =
        "<Response><JobsDetail><State>Success</State></JobsDetail>"
        "<NonExistJobIds>j1</NonExistJobIds></Response>";

    convert(xml, sizeof(xml) - 1, 1, NULL, 0, &res);
    tap_is_mem(res.json, res.json_len,
               "{\"Response\":{\"JobsDetail\":{\"State\":\"Success\"},"
               "\"NonExistJobIds\":\"j1\"}}", "no array names");

    convert(xml, sizeof(xml) - 1, 1, two, 2, &res);
    tap_is_mem(res.json, res.json_len,
               "{\"Response\":{\"JobsDetail\":[{\"State\":\"Success\"}],"
               "\"NonExistJobIds\":[\"j1\"]}}", "two array names");

    convert(xml, sizeof(xml) - 1, 1, two + 1, 1, &res);
    tap_is_mem(res.json, res.json_len,
               "{\"Response\":{\"JobsDetail\":{\"State\":\"Success\"},"
               "\"NonExistJobIds\":[\"j1\"]}}", "another array name");
}


/* each character to escape at each place of a word, among UTF-8 */

static void
test_escape_positions(void)
{
    int                            ok;
    char                           xml[128], json[256], *x, *j;
    size_t                         i, k, n;
    ngx_http_ci_jobs_xml_result_t  res;

    static const char  letters[] = "abcdefghijklmnopqrstuvwx";

    static const struct {
        const char  *xml;
        const char  *json;
    } chars[] = {
        { "\"", "\\\"" },
        { "&quot;", "\\\"" },
        { "\\", "\\\\" },
        { "&#9;", "\\t" },
        { "\n", "\\n" },
        { "&#13;", "\\r" },
        { "\xc3\xa9", "\xc3\xa9" },
        { "\xe4\xb8\xad", "\xe4\xb8\xad" },
    };

    ok = 1;

    for (k = 0; k < sizeof(chars) / sizeof(chars[0]); k++) {
        for (i = 0; i < 24; i++) {
            x = xml + sprintf(xml, "<R>");
            j = json + sprintf(json, "{\"R\":\"");

            for (n = 0; n < sizeof(letters) - 1; n++) {
                if (n == i) {
                    x += sprintf(x, "%s", chars[k].xml);
                    j += sprintf(j, "%s", chars[k].json);
                }

                *x++ = letters[n];
                *j++ = letters[n];
            }

            sprintf(x, "</R>");
            sprintf(j, "\"}");

            if (convert(xml, strlen(xml), 1, jobs_detail, 1, &res)
                != NGX_HTTP_CI_JOBS_XML_OK
                || !same_json(&res, json, strlen(json)))
            {
                ok = 0;
                tap_is_mem(res.json, res.json_len, json,
                           "escape %zu at %zu", k, i);
            }
        }
    }

    tap_ok(ok, "escapes at every place of a 24-byte text");
}


static void
test_refused(void)
{
    size_t  i;

    static const struct {
        const char  *xml;
        size_t       len;
        int          pad;
        const char  *what;
    } cases[] = {
        { S(""), 0, "empty" },
        { S(" \n"), 1, "whitespace only" },
        { S("\xef\xbb\xbf"), 1, "a BOM only" },
        { S("not xml"), 1, "text" },
        { S("x<R/>"), 1, "text before the root" },
        { S("<?xml version=\"1.0\"?>"), 1, "a declaration only" },
        { S("<!-- c -->"), 1, "a comment only" },
        { S("<"), 1, "truncated: <" },
        { S("<R><![CDATA[\xc1\x86]]></R>"), 1, "an overlong form in CDATA" },
        { S("<R><![CDATA[\xed\xa0\x80]]></R>"), 1, "a surrogate in CDATA" },
        { S("<R"), 1, "truncated: <R" },
        { S("<R>"), 1, "truncated: <R>" },
        { S("<R><a>1</a>"), 1, "truncated: no end tag" },
        { S("<R><a>1</a"), 1, "truncated: in an end tag" },
        { S("<R><a>1</a></R"), 1, "truncated: in the root's end tag" },
        { S("<R><JobsDetail><State>Success</State></JobsDetail>"), 1,
          "a job answer cut short" },
        { S("<R><![CDATA[x</R>"), 1, "an unclosed CDATA section" },
        { S("<R><!-- x</R>"), 1, "an unclosed comment" },
        { S("<R><a>1</b></R>"), 1, "mismatched tags" },
        { S("<R></r>"), 1, "case matters" },
        { S("<R/><S/>"), 1, "two roots" },
        { S("<R/>trailing"), 1, "text after the root" },
        { S("<R/><!-- ok -->x"), 1, "text after a comment after the root" },
        { S("<R/>\xff"), 1, "a bad byte after the root" },
        { S("<R/>\0x"), 1, "a NUL byte then text after the root" },
        { S("<R/><!-- c -->\0"), 1, "a NUL byte after the root" },
        { S("<?xml version=\"1.0\"?><?xml version=\"1.0\"?><R/>"), 1,
          "two declarations" },
        { S("<1R/>"), 1, "a bad name" },
        { S("<R a=1/>"), 1, "an unquoted attribute" },
        { S("<R a=\"1\" a=\"2\"/>"), 1, "a repeated attribute" },
        { S("<R>&nope;</R>"), 1, "an undeclared entity" },
        { S("<R>&amp</R>"), 1, "an unterminated reference" },
        { S("<R>a & b</R>"), 1, "a bare &" },
        { S("<R>a < b</R>"), 1, "a bare <" },
        { S("<R>\xff\xfe</R>"), 1, "invalid UTF-8: ff fe" },
        { S("<R>\xc3</R>"), 1, "invalid UTF-8: truncated sequence" },
        { S("<R>\x80</R>"), 1, "invalid UTF-8: lone continuation byte" },
        { S("<R>\xc0\x80</R>"), 1, "invalid UTF-8: overlong" },
        { S("<R>\xed\xa0\x80</R>"), 1, "invalid UTF-8: a surrogate" },
        { S("<R>\xf4\x90\x80\x80</R>"), 1, "invalid UTF-8: above U+10FFFF" },
        { S("<R\xc3>1</R\xc3>"), 1, "invalid UTF-8 in a name" },
        { S("<R>\x01</R>"), 1, "a raw control character" },
        { S("<R>a\0b</R>"), 1, "a NUL byte" },
        { S("<R>&#1;</R>"), 1, "&#1; (not an XML 1.0 character)" },
        { S("<R>&#x0;</R>"), 1, "&#x0;" },
        { S("<R>&#xD800;</R>"), 1, "&#xD800;" },
        { S("<R>&#x110000;</R>"), 1, "&#x110000;" },
        { S("<R>&#xFFFE;</R>"), 1, "&#xFFFE;" },
        { S("<!DOCTYPE R><R/>"), 1, "a DOCTYPE" },
        { S("<!DOCTYPE R [<!ENTITY e \"x\">]><R>&e;</R>"), 1,
          "a DOCTYPE declaring an entity" },
        { S("<!DOCTYPE R [<!ENTITY a \"aaaaaaaaaa\">"
            "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">"
            "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;\">]><R>&c;</R>"), 1,
          "entity expansion (billion laughs)" },
        { S("<!DOCTYPE R SYSTEM \"http://127.0.0.1:9/r.dtd\"><R/>"), 1,
          "an external DTD" },
        { S("<!DOCTYPE \xdaR [<!ENTITY e \"<x/>\">]><R>&e;</R>"), 1,
          "a malformed DOCTYPE declaring an entity" },
        { S("<!DOCTYPE R [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
            "<R>&x;</R>"), 1, "an external entity" },
        { S("<?xml version=\"1.0\" encoding=\"FOO\"?><R/>"), 1,
          "an unknown encoding" },
        { S("<?xml version=\"1.0\" encoding=\"US-ASCII\"?><R>\xe9</R>"), 1,
          "a byte outside the declared US-ASCII" },
        { S("\xff\xfe<\0R\0>\0\x00\xd8<\0/\0R\0>\0"), 0,
          "UTF-16 with a lone surrogate" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_refused(cases[i].xml, cases[i].len, cases[i].pad,
                      cases[i].what);
    }
}


/* every proper prefix of an answer is refused: never half-converted */

static void
test_prefixes(void)
{
    int                            ok;
    char                          *xml;
    size_t                         i, n, len, step;
    ngx_http_ci_jobs_xml_result_t  res;

    static const char  *names[] = {
        "t/unit/xml/seed001.xml", "t/unit/xml/seed002.xml"
    };

    for (n = 0; n < 2; n++) {
        xml = slurp(names[n], &len);
        if (xml == NULL) {
            tap_ok(0, "%s readable", names[n]);
            continue;
        }

        ok = 1;
        step = (len < PAD) ? 1 : 3;

        for (i = 0; i < len; i += step) {
            if (!refused(convert(xml, i, 1, jobs_detail, 1, &res), &res)
                || !refused(convert(xml, i, 0, jobs_detail, 1, &res), &res))
            {
                ok = 0;
                tap_ok(0, "%s: the first %zu bytes refused", names[n], i);
                break;
            }
        }

        tap_ok(ok, "%s: every prefix refused (%zu of them)", names[n],
               len / step);

        free(xml);
    }
}


static void
test_limits(void)
{
    int                            i, json;
    char                          *xml, *expected, *p, *q;
    double                         ms;
    clock_t                        start;
    ngx_http_ci_jobs_xml_result_t  res;

    xml = malloc(64 * 10000 + 1024 * 1024 + 64);
    expected = malloc(64 * 10000 + 2 * 1024 * 1024 + 64);

    /* 10k siblings of one name */

    p = xml + sprintf(xml, "<R>");
    q = expected + sprintf(expected, "{\"R\":{\"a\":[");

    for (i = 0; i < 10000; i++) {
        p += sprintf(p, "<a>%d</a>", i);
        q += sprintf(q, "%s\"%d\"", i ? "," : "", i);
    }

    p += sprintf(p, "</R>");
    q += sprintf(q, "]}}");

    start = clock();
    check_json(xml, p - xml, 1, expected, "10k siblings: one array");
    ms = (double) (clock() - start) * 1000 / CLOCKS_PER_SEC;
    printf("# 10k siblings: %.1f ms for four conversions\n", ms);

    convert(xml, p - xml, 1, jobs_detail, 1, &res);
    tap_ok(allocated <= (size_t) (p - xml) + 2 * res.json_len + 16384,
           "10k siblings: %zu bytes allocated for %zu of JSON", allocated,
           res.json_len);

    /* 10k siblings, two names in turn: regrouped */

    p = xml + sprintf(xml, "<R>");
    q = expected + sprintf(expected, "{\"R\":{\"a\":[");

    for (i = 0; i < 10000; i++) {
        p += sprintf(p, "<%c>%d</%c>", "ab"[i % 2], i, "ab"[i % 2]);
    }

    for (i = 0; i < 10000; i += 2) {
        q += sprintf(q, "%s\"%d\"", i ? "," : "", i);
    }

    q += sprintf(q, "],\"b\":[");

    for (i = 1; i < 10000; i += 2) {
        q += sprintf(q, "%s\"%d\"", i > 1 ? "," : "", i);
    }

    p += sprintf(p, "</R>");
    q += sprintf(q, "]}}");

    start = clock();
    check_json(xml, p - xml, 1, expected, "10k siblings in turn: two arrays");
    ms = (double) (clock() - start) * 1000 / CLOCKS_PER_SEC;
    printf("# 10k siblings in turn: %.1f ms for four conversions\n", ms);

    /* 10k names */

    p = xml + sprintf(xml, "<R>");
    q = expected + sprintf(expected, "{\"R\":{");

    for (i = 0; i < 10000; i++) {
        p += sprintf(p, "<n%d>%d</n%d>", i, i, i);
        q += sprintf(q, "%s\"n%d\":\"%d\"", i ? "," : "", i, i);
    }

    p += sprintf(p, "</R>");
    q += sprintf(q, "}}");

    check_json(xml, p - xml, 1, expected, "10k different names");

    /* 10k jobs, all done */

    p = xml + sprintf(xml, "<Response>");
    q = expected + sprintf(expected, "{\"Response\":{\"JobsDetail\":[");

    for (i = 0; i < 10000; i++) {
        p += sprintf(p, "<JobsDetail><JobId>j%d</JobId><State>%s</State>"
                     "</JobsDetail>", i, (i % 3) ? "Success" : "Failed");
        q += sprintf(q, "%s{\"JobId\":\"j%d\",\"State\":\"%s\"}",
                     i ? "," : "", i, (i % 3) ? "Success" : "Failed");
    }

    p += sprintf(p, "<NonExistJobIds/></Response>");
    q += sprintf(q, "],\"NonExistJobIds\":\"\"}}");

    check_json(xml, p - xml, 1, expected, "10k jobs");

    for (json = 0; json <= 1; json++) {
        tap_ok(convert(xml, p - xml, json, jobs_detail, 1, &res)
               == NGX_HTTP_CI_JOBS_XML_OK
               && res.jobs == 10000 && res.terminal_jobs == 10000
               && res.response && !res.nonexist,
               "10k jobs, all terminal (json %d)", json);
    }

    /* 256 levels: libxml2's limit; 257 refused */

    p = xml + sprintf(xml, "<R>");
    q = expected + sprintf(expected, "{\"R\":");

    for (i = 1; i < 256; i++) {
        p += sprintf(p, "<a>");
        q += sprintf(q, "{\"a\":");
    }

    p += sprintf(p, "x");
    q += sprintf(q, "\"x\"");

    for (i = 1; i < 256; i++) {
        p += sprintf(p, "</a>");
        q += sprintf(q, "}");
    }

    p += sprintf(p, "</R>");
    q += sprintf(q, "}");

    check_json(xml, p - xml, 1, expected, "256 levels");

    p = xml;
    for (i = 0; i < 257; i++) {
        p += sprintf(p, "<a>");
    }
    for (i = 0; i < 257; i++) {
        p += sprintf(p, "</a>");
    }

    check_refused(xml, p - xml, 1, "257 levels");

    p = xml;
    for (i = 0; i < 100000; i++) {
        p += sprintf(p, "<a>");
    }

    check_refused(xml, p - xml, 1, "100000 levels, unclosed");

    /* 200 levels, a name repeated after another at each */

    p = xml + sprintf(xml, "<R>");
    q = expected + sprintf(expected, "{\"R\":");

    for (i = 0; i < 200; i++) {
        p += sprintf(p, "<b/><c>");
        q += sprintf(q, "{\"b\":[\"\",\"\"],\"c\":");
    }

    q += sprintf(q, "\"\"");

    for (i = 0; i < 200; i++) {
        p += sprintf(p, "</c><b/>");
        q += sprintf(q, "}");
    }

    p += sprintf(p, "</R>");
    q += sprintf(q, "}");

    check_json(xml, p - xml, 1, expected, "200 levels regrouped");

    /* 1 MB of text to escape */

    p = xml + sprintf(xml, "<R><a>");
    q = expected + sprintf(expected, "{\"R\":{\"a\":\"");

    for (i = 0; i < 1024 * 1024; i++) {
        *p++ = (i % 7) ? '"' : '\t';
        q += sprintf(q, "%s", (i % 7) ? "\\\"" : "\\t");
    }

    p += sprintf(p, "</a></R>");
    q += sprintf(q, "\"}}");

    check_json(xml, p - xml, 1, expected, "1 MB of text to escape");

    free(xml);
    free(expected);
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
        { "<Response>\n  <JobsDetail>\n    <JobId>a</JobId>\n"
          "    <State>Success</State>\n  </JobsDetail>\n</Response>\n",
          1, 1, 0, 1, "pretty-printed" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<JobsDetail><State>Running</State></JobsDetail></Response>",
          2, 1, 0, 1, "mixed: one running" },
        { "<Response><JobsDetail><State>Submitted</State></JobsDetail>"
          "<JobsDetail><State>Pause</State></JobsDetail></Response>",
          2, 0, 0, 1, "none terminal" },
        { "<Response><JobsDetail><Operation><State>Success</State>"
          "</Operation><State>Running</State></JobsDetail></Response>",
          1, 0, 0, 1, "a nested State does not count" },
        { "<Response><JobsDetail><Operation><DigitalWatermark>"
          "<State>Success</State></DigitalWatermark></Operation>"
          "</JobsDetail></Response>",
          1, 0, 0, 1, "only a nested State: not terminal" },
        { "<Response><JobsDetail><State>Running</State><Operation>"
          "<UserData>&lt;State&gt;Success&lt;/State&gt;</UserData>"
          "</Operation></JobsDetail></Response>",
          1, 0, 0, 1, "UserData that reads like a State" },
        { "<Response><JobsDetail><UserData>&lt;State&gt;Success&lt;/State"
          "&gt;</UserData></JobsDetail></Response>",
          1, 0, 0, 1, "UserData that reads like a State, no State" },
        { "<Response><JobsDetail><State>Running</State><UserData>"
          "<![CDATA[<State>Success</State>]]></UserData></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "UserData with a CDATA State" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<NonExistJobIds></NonExistJobIds></Response>",
          1, 1, 0, 1, "an empty NonExistJobIds" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<NonExistJobIds/></Response>",
          1, 1, 0, 1, "an empty NonExistJobIds, one tag" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "<NonExistJobIds>j2</NonExistJobIds></Response>",
          1, 1, 1, 1, "a missing id" },
        { "<Response><NonExistJobIds>j1</NonExistJobIds>"
          "<NonExistJobIds>j2</NonExistJobIds></Response>",
          0, 0, 1, 1, "only missing ids" },
        { "<Response><NonExistJobIds/><NonExistJobIds>j2</NonExistJobIds>"
          "</Response>", 0, 0, 1, 1, "a second NonExistJobIds" },
        { "<Response><NonExistJobIds> </NonExistJobIds></Response>",
          0, 0, 1, 1, "a whitespace NonExistJobIds is not empty" },
        { "<Response><NonExistJobIds><Id/></NonExistJobIds></Response>",
          0, 0, 1, 1, "a NonExistJobIds with an element is not empty" },
        { "<Response><JobsDetail><State>Success</State><NonExistJobIds>j1"
          "</NonExistJobIds></JobsDetail></Response>",
          1, 1, 0, 1, "NonExistJobIds below the root only" },
        { "<Response><JobsDetail><State> Success</State></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "the state must be exact: space" },
        { "<Response><JobsDetail><State>success</State></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "the state must be exact: case" },
        { "<Response><JobsDetail><State>Successful</State></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "the state must be exact: longer" },
        { "<Response><JobsDetail><State>Cancel\n</State></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "the state must be exact: newline" },
        { "<Response><JobsDetail><State>Succ&#101;ss</State></JobsDetail>"
          "</Response>", 1, 1, 0, 1, "a state with a reference" },
        { "<Response><JobsDetail><State><![CDATA[Failed]]></State>"
          "</JobsDetail></Response>", 1, 1, 0, 1, "a state in CDATA" },
        { "<Response><JobsDetail><State>Success<x/></State></JobsDetail>"
          "</Response>", 1, 0, 0, 1, "a State with a child element" },
        { "<Response><JobsDetail><State/></JobsDetail></Response>",
          1, 0, 0, 1, "an empty State" },
        { "<Response><JobsDetail><State>Success</State>"
          "<State>Running</State></JobsDetail></Response>",
          1, 0, 0, 1, "two States, one running: not terminal" },
        { "<Response><JobsDetail><State>Success</State>"
          "<State>Failed</State></JobsDetail></Response>",
          1, 1, 0, 1, "two terminal States" },
        { "<Response><x><JobsDetail><State>Success</State></JobsDetail>"
          "</x></Response>", 0, 0, 0, 1, "JobsDetail below the root only" },
        { "<Response xmlns:p=\"urn:x\"><p:JobsDetail><State>Success"
          "</State></p:JobsDetail></Response>",
          0, 0, 0, 1, "a prefixed JobsDetail is another name" },
        { "<JobsDetail><State>Success</State></JobsDetail>",
          0, 0, 0, 0, "a JobsDetail root" },
        { "<Response/>", 0, 0, 0, 1, "an empty Response" },
        { "<Error><Code>NoSuchKey</Code><Message>m</Message></Error>",
          0, 0, 0, 0, "an error" },
        { "<Error><JobsDetail><State>Success</State></JobsDetail></Error>",
          1, 1, 0, 0, "an error root still counts its jobs" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (json = 0; json <= 1; json++) {
            tap_ok(convert(cases[i].xml, strlen(cases[i].xml), json,
                           jobs_detail, 1, &res)
                   == NGX_HTTP_CI_JOBS_XML_OK
                   && res.jobs == cases[i].jobs
                   && res.terminal_jobs == cases[i].terminal
                   && res.nonexist == cases[i].nonexist
                   && res.response == cases[i].response,
                   "%s (json %d): %zu jobs, %zu terminal, nonexist %d, "
                   "response %d", cases[i].what, json, res.jobs,
                   res.terminal_jobs, (int) res.nonexist,
                   (int) res.response);
        }
    }
}


/*
 * A workflow run lookup of r1: each <WorkflowExecution> of xml given the
 * RunId r1 first (a second RunId, as in one case, makes it inexact).
 */

static int
parse_runs(const char *xml, ngx_http_ci_jobs_xml_result_t *res)
{
    char                         buf[1024], *p;
    const char                  *q, *tag;
    ngx_http_ci_jobs_xml_conf_t  conf;

    tag = "<WorkflowExecution>";
    p = buf;

    for (q = xml; *q; ) {
        if (strncmp(q, tag, strlen(tag)) == 0) {
            p += sprintf(p, "%s<RunId>r1</RunId>", tag);
            q += strlen(tag);
            continue;
        }

        *p++ = *q++;
    }

    *p = '\0';

    memset(&conf, 0, sizeof(conf));
    conf.alloc = arena_alloc;
    conf.ids = (const u_char *) "r1";
    conf.ids_len = 2;

    arena_free();

    return ngx_http_ci_jobs_xml_parse((const u_char *) buf, p - buf, &conf,
                                      res);
}


/* workflow runs: counted apart from jobs, cached by the same rule */

static void
test_runs(void)
{
    size_t                         i;
    ngx_http_ci_jobs_xml_result_t  res;

    static const struct {
        const char  *xml;
        size_t       runs;
        size_t       terminal;
        size_t       jobs;
        int          store;      /* as a workflowexecution answer */
        const char  *what;
    } cases[] = {
        { "<Response><WorkflowExecution><State>Success"
          "</State><Tasks><State>Running</State></Tasks>"
          "</WorkflowExecution></Response>", 1, 1, 0, 1, "a run done" },
        { "<Response><WorkflowExecution><State>Failed</State>"
          "</WorkflowExecution></Response>", 1, 1, 0, 1, "a run failed" },
        { "<Response><WorkflowExecution><State>Cancel</State>"
          "</WorkflowExecution></Response>", 1, 1, 0, 1, "a run cancelled" },
        { "<Response><WorkflowExecution><State>Running</State><Tasks>"
          "<State>Success</State></Tasks></WorkflowExecution></Response>",
          1, 0, 0, 0, "a run running, its task done" },
        { "<Response><WorkflowExecution><RunId>r1</RunId>"
          "</WorkflowExecution></Response>", 1, 0, 0, 0, "a run, no State" },
        { "<Response><WorkflowExecution><State>Success</State>"
          "</WorkflowExecution><JobsDetail><State>Success</State>"
          "</JobsDetail></Response>", 1, 1, 1, 0, "a run and a job" },
        { "<Response><JobsDetail><State>Success</State></JobsDetail>"
          "</Response>", 0, 0, 1, 0, "a job, no run" },
        { "<Response><WorkflowExecution><State>Success</State>"
          "</WorkflowExecution><NonExistJobIds>r2</NonExistJobIds>"
          "</Response>", 1, 1, 0, 0, "a run and a missing id" },
        { "<Response><WorkflowExecutionList><State>Success</State>"
          "</WorkflowExecutionList></Response>", 0, 0, 0, 0,
          "a run list item is no run" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tap_ok(convert(cases[i].xml, strlen(cases[i].xml), 0, NULL, 0, &res)
               == NGX_HTTP_CI_JOBS_XML_OK
               && res.runs == cases[i].runs
               && res.terminal_runs == cases[i].terminal
               && res.jobs == cases[i].jobs,
               "%s: %zu runs, %zu terminal, %zu jobs", cases[i].what,
               res.runs, res.terminal_runs, res.jobs);

        /* the run asked for, r1, named by each run's RunId */

        tap_ok(parse_runs(cases[i].xml, &res) == NGX_HTTP_CI_JOBS_XML_OK
               && (ngx_http_ci_jobs_cache_storable(
                       NGX_HTTP_CI_JOBS_API_WORKFLOW, 1, 200, &res)
                   == NGX_HTTP_CI_JOBS_STORE_TERMINAL)
                  == cases[i].store,
               "%s: stored as terminal %d", cases[i].what, cases[i].store);

        tap_ok(ngx_http_ci_jobs_cache_storable(
                   NGX_HTTP_CI_JOBS_API_WORKFLOW_LIST, 0, 200, &res)
               != NGX_HTTP_CI_JOBS_STORE_TERMINAL,
               "%s: never terminal as a list", cases[i].what);

        tap_ok(res.runs == 0
               || ngx_http_ci_jobs_cache_storable(NGX_HTTP_CI_JOBS_API_JOBS,
                                                  1, 200, &res)
                  == NGX_HTTP_CI_JOBS_STORE_NONE,
               "%s: a run is never a job answer", cases[i].what);
    }
}


/* every allocation in turn fails: NOMEM, nothing half-made, no crash */

static void
test_nomem(void)
{
    int                            ok, rc;
    long                           k;
    size_t                         i, len[2];
    const char                    *xml[2];
    ngx_http_ci_jobs_xml_result_t  res, full;

    static char  doc[] = "<R><a>1</a><b>2</b><a>3</a><c><d>x</d><d>y</d>"
                         "</c></R>";

    xml[0] = doc;
    len[0] = sizeof(doc) - 1;
    xml[1] = slurp("t/unit/xml/seed002.xml", &len[1]);

    for (i = 0; i < 2; i++) {
        if (xml[i] == NULL) {
            tap_ok(0, "seed002.xml readable");
            continue;
        }

        alloc_left = -1;
        convert(xml[i], len[i], 1, jobs_detail, 1, &full);

        ok = 1;

        for (k = 0; k < 1000; k++) {
            alloc_left = k;
            rc = convert(xml[i], len[i], 1, jobs_detail, 1, &res);

            if (rc == NGX_HTTP_CI_JOBS_XML_OK) {
                break;
            }

            if (rc != NGX_HTTP_CI_JOBS_XML_NOMEM || res.error == NULL
                || res.json != NULL || res.jobs != 0)
            {
                ok = 0;
                break;
            }
        }

        tap_ok(ok && k > 0 && k < 1000 && res.json_len == full.json_len,
               "doc %zu: NOMEM when any of the first %ld allocations "
               "fails, then the whole JSON", i, k);

        alloc_left = 0;
        tap_ok(convert(xml[i], len[i], 0, jobs_detail, 1, &res)
               == NGX_HTTP_CI_JOBS_XML_OK,
               "doc %zu: no allocation without JSON", i);
        alloc_left = -1;
    }

    free((char *) xml[1]);
}


static void
diag_error(void *data, xmlErrorPtr error)
{
    (void) data;
    (void) error;
}


/* the caller's libxml2 error handler is kept, nothing is printed */

static void
test_handler_kept(void)
{
    int                            fd, saved;
    char                           path[] = "/tmp/xml_test_stderr_XXXXXX";
    off_t                          size;
    ngx_http_ci_jobs_xml_result_t  res;

    static int  marker;

    xmlSetStructuredErrorFunc(&marker, diag_error);

    convert("<R>\xc3</R>", 8, 1, jobs_detail, 1, &res);
    convert("\xff\xfe<\0R\0>\0\x00\xd8<\0/\0R\0>\0", 18, 1, jobs_detail, 1,
            &res);

    tap_ok(xmlStructuredError == diag_error
           && xmlStructuredErrorContext == &marker,
           "the caller's structured error handler is given back");

    xmlSetStructuredErrorFunc(NULL, NULL);

    /* with libxml2's default handlers, which print to stderr */

    fd = mkstemp(path);
    saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);

    convert("<R>\xc3</R>", 8, 1, jobs_detail, 1, &res);
    convert("<R><a>1</b></R>", 15, 1, jobs_detail, 1, &res);
    convert("\xff\xfe<\0R\0>\0\x00\xd8<\0/\0R\0>\0", 18, 1, jobs_detail, 1,
            &res);
    convert("<?xml version=\"1.0\" encoding=\"FOO\"?><R/>", 40, 1,
            jobs_detail, 1, &res);
    convert("<!DOCTYPE R SYSTEM \"http://127.0.0.1:9/r.dtd\"><R/>", 50, 1,
            jobs_detail, 1, &res);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    size = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(path);

    tap_ok(size == 0, "nothing printed on stderr (%ld bytes)", (long) size);
}


int
main(void)
{
    xmlInitParser();

    test_golden();
    test_mapping();
    test_array_names();
    test_escape_positions();
    test_refused();
    test_prefixes();
    test_limits();
    test_facts();
    test_runs();
    test_nomem();
    test_handler_kept();

    arena_free();
    free(copy);
    xmlCleanupParser();

    return tap_done();
}
