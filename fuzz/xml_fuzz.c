
/*
 * libFuzzer target of the XML pass (src/ngx_http_ci_jobs_xml*.c,
 * src/ngx_http_ci_jobs_json.c): make build/fuzz/xml_fuzz, then
 *
 *   mkdir -p /tmp/xml_corpus
 *   build/fuzz/xml_fuzz -dict=fuzz/xml.dict -max_total_time=300 \
 *       /tmp/xml_corpus fuzz/corpus/xml
 *
 * Invariants, each checked with abort():
 * - the scanner and libxml2 agree: the same verdict, message, facts (ids
 *   asked for included) and JSON whether the scanner reads the body or
 *   libxml2 does (conf.libxml_only); without the facts (conf.no_facts)
 *   the verdict, message and JSON stay, the facts are all zero;
 * - an accepted body with JSON yields one strict JSON text (a validator is
 *   written here): an object with one key, strings of valid UTF-8 without
 *   raw control characters, no key twice in an object;
 * - jobs >= terminal_jobs, and the facts are the same with and without
 *   JSON;
 * - a refused body yields nothing but a message, with and without JSON;
 * - the same body followed by 4 KB of spaces, read by libxml2, gives the
 *   same answer;
 * - when an allocation fails, the answer is NOMEM with nothing else, or
 *   the normal answer;
 * - nothing reaches libxml2's generic error handler (stderr), and the
 *   caller's structured error handler is in place after each call.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "ngx_http_ci_jobs_xml.h"


#define PAD        4096
#define MAX_DEPTH  1024


typedef struct block_s  block_t;

struct block_s {
    block_t  *next;
};


typedef struct {
    const u_char  *p;
    const u_char  *last;
} json_t;


static void *fuzz_alloc(void *data, size_t size);
static void fuzz_free(void);
static void fuzz_generic_error(void *ctx, const char *msg, ...);
static void fuzz_structured_error(void *data, xmlErrorPtr error);
static int fuzz_parse(const u_char *data, size_t size, int json,
    ngx_http_ci_jobs_xml_result_t *res);
static int fuzz_same_encoding_padded(const u_char *data, size_t size);
static void fuzz_check_sequence(const u_char *data, size_t size);
static void fuzz_check_readers(const u_char *data, size_t size);
static void fuzz_check_same(int rc, ngx_http_ci_jobs_xml_result_t *res,
    int alone_rc, ngx_http_ci_jobs_xml_result_t *alone, const u_char *json,
    size_t json_len);
static void fuzz_check_ok(ngx_http_ci_jobs_xml_result_t *res, int json);
static void fuzz_check_refused(ngx_http_ci_jobs_xml_result_t *res);
static int json_text(const u_char *p, size_t len);
static void json_ws(json_t *j);
static int json_value(json_t *j, int depth);
static int json_object(json_t *j, int depth);
static int json_array(json_t *j, int depth);
static int json_string(json_t *j);
static int json_number(json_t *j);
static int json_literal(json_t *j, const char *lit);


static block_t  *blocks;
static long      alloc_left = -1;

/* what fuzz_parse() asks for besides the body */
static int            libxml_only;
static int            no_facts;
static const u_char  *ids;
static size_t         ids_len;

static const ngx_http_ci_jobs_name_t  jobs_detail[] = {
    { (const u_char *) "JobsDetail", 10 }
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                            rc, frc, prc, json;
    u_char                        *padded, *copy;
    size_t                         copy_len, i;
    uint32_t                       h;
    ngx_http_ci_jobs_xml_result_t  res, facts, pres, fres;

    static int  inited;

    if (!inited) {
        xmlInitParser();
        xmlSetGenericErrorFunc(NULL, fuzz_generic_error);
        xmlSetStructuredErrorFunc(&inited, fuzz_structured_error);
        inited = 1;
    }

    /* without JSON: the facts alone */

    frc = fuzz_parse(data, size, 0, &facts);

    if (frc == NGX_HTTP_CI_JOBS_XML_OK) {
        fuzz_check_ok(&facts, 0);

    } else if (frc == NGX_HTTP_CI_JOBS_XML_ERROR) {
        fuzz_check_refused(&facts);

    } else {
        abort();
    }

    /* with JSON */

    rc = fuzz_parse(data, size, 1, &res);

    if (rc != frc) {
        abort();
    }

    copy = NULL;
    copy_len = 0;

    if (rc == NGX_HTTP_CI_JOBS_XML_OK) {
        fuzz_check_ok(&res, 1);

        if (res.jobs != facts.jobs || res.terminal_jobs != facts.terminal_jobs
            || res.nonexist != facts.nonexist
            || res.response != facts.response)
        {
            abort();
        }

        copy = malloc(res.json_len + 1);
        memcpy(copy, res.json, res.json_len);
        copy_len = res.json_len;

    } else {
        fuzz_check_refused(&res);
    }

    fuzz_free();

    fuzz_check_readers(data, size);

    /* padded, through libxml2 */

    libxml_only = 1;

    if (fuzz_same_encoding_padded(data, size)) {
        padded = malloc(size + PAD);
        memcpy(padded, data, size);
        memset(padded + size, ' ', PAD);

        for (json = 0; json <= 1; json++) {
            prc = fuzz_parse(padded, size + PAD, json, &pres);

            if (prc != rc) {
                abort();
            }

            if (prc == NGX_HTTP_CI_JOBS_XML_OK
                && (pres.jobs != facts.jobs
                    || pres.terminal_jobs != facts.terminal_jobs
                    || pres.nonexist != facts.nonexist
                    || pres.response != facts.response
                    || (json && (pres.json_len != copy_len
                                 || memcmp(pres.json, copy, copy_len) != 0))))
            {
                abort();
            }

            fuzz_free();
        }

        free(padded);
    }

    libxml_only = 0;

    /* one allocation fails, chosen by the input */

    h = 2166136261u;

    for (i = 0; i < size; i++) {
        h = (h ^ data[i]) * 16777619u;
    }

    alloc_left = h % 16;

    prc = fuzz_parse(data, size, 1, &fres);

    alloc_left = -1;

    if (prc == NGX_HTTP_CI_JOBS_XML_NOMEM) {
        if (fres.json != NULL || fres.json_len || fres.jobs
            || fres.terminal_jobs || fres.error == NULL)
        {
            abort();
        }

    } else if (prc != rc
               || (prc == NGX_HTTP_CI_JOBS_XML_OK
                   && (fres.json_len != copy_len
                       || memcmp(fres.json, copy, copy_len) != 0)))
    {
        abort();
    }

    fuzz_free();
    free(copy);

    fuzz_check_sequence(data, size);

    return 0;
}


/* the scanner against libxml2, with and without JSON, with ids asked for */

static void
fuzz_check_readers(const u_char *data, size_t size)
{
    int                            rc, lrc, json;
    ngx_http_ci_jobs_xml_result_t  res, lres;

    ids = (const u_char *) "a,b";
    ids_len = 3;

    for (json = 0; json <= 1; json++) {
        rc = fuzz_parse(data, size, json, &res);

        libxml_only = 1;
        lrc = fuzz_parse(data, size, json, &lres);
        libxml_only = 0;

        fuzz_check_same(rc, &res, lrc, &lres, json ? lres.json : NULL,
                        lres.json_len);

        no_facts = 1;
        lrc = fuzz_parse(data, size, json, &lres);
        no_facts = 0;

        if (lrc != rc
            || (rc != NGX_HTTP_CI_JOBS_XML_OK
                && strcmp(lres.error, res.error) != 0)
            || (rc == NGX_HTTP_CI_JOBS_XML_OK
                && (lres.jobs || lres.terminal_jobs || lres.runs
                    || lres.terminal_runs || lres.nonexist || lres.response
                    || lres.ids_seen || lres.foreign
                    || lres.json_len != res.json_len
                    || (json && memcmp(lres.json, res.json, res.json_len)))))
        {
            abort();
        }

        fuzz_free();
    }

    ids = NULL;
    ids_len = 0;
}


/* A then B with the kept parser, against B with a new one */

static void
fuzz_check_sequence(const u_char *data, size_t size)
{
    int                            rc, alone_rc, json, a_json;
    u_char                        *copy;
    size_t                         a_len, b_len;
    const u_char                  *nul, *b;
    ngx_http_ci_jobs_xml_result_t  res, alone;

    nul = memchr(data, '\0', size);

    if (nul != NULL) {
        a_len = nul - data;
        b = nul + 1;
        b_len = size - a_len - 1;

    } else {
        a_len = size;
        b = data;
        b_len = size;
    }

    for (json = 0; json <= 1; json++) {
        ngx_http_ci_jobs_xml_cleanup();

        alone_rc = fuzz_parse(b, b_len, json, &alone);

        copy = NULL;

        if (alone_rc == NGX_HTTP_CI_JOBS_XML_OK && json) {
            copy = malloc(alone.json_len + 1);
            memcpy(copy, alone.json, alone.json_len);
        }

        fuzz_free();

        for (a_json = 0; a_json <= 1; a_json++) {
            ngx_http_ci_jobs_xml_cleanup();

            (void) fuzz_parse(data, a_len, a_json, &res);
            fuzz_free();

            rc = fuzz_parse(b, b_len, json, &res);
            fuzz_check_same(rc, &res, alone_rc, &alone, copy, alone.json_len);
            fuzz_free();
        }

        free(copy);
    }
}


static void
fuzz_check_same(int rc, ngx_http_ci_jobs_xml_result_t *res, int alone_rc,
    ngx_http_ci_jobs_xml_result_t *alone, const u_char *json,
    size_t json_len)
{
    if (rc != alone_rc) {
        abort();
    }

    if (rc != NGX_HTTP_CI_JOBS_XML_OK) {
        if (res->error == NULL || alone->error == NULL
            || strcmp(res->error, alone->error) != 0)
        {
            abort();
        }

        return;
    }

    if (res->jobs != alone->jobs
        || res->terminal_jobs != alone->terminal_jobs
        || res->runs != alone->runs
        || res->terminal_runs != alone->terminal_runs
        || res->nonexist != alone->nonexist
        || res->response != alone->response
        || res->ids_seen != alone->ids_seen
        || res->foreign != alone->foreign)
    {
        abort();
    }

    if (json != NULL
        && (res->json_len != json_len || memcmp(res->json, json, json_len)))
    {
        abort();
    }
}


static void *
fuzz_alloc(void *data, size_t size)
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
        abort();
    }

    b->next = blocks;
    blocks = b;

    return b + 1;
}


static void
fuzz_free(void)
{
    block_t  *b;

    while (blocks) {
        b = blocks;
        blocks = b->next;
        free(b);
    }
}


/* libxml2 would print this on stderr: the pass must never let it */

static void
fuzz_generic_error(void *ctx, const char *msg, ...)
{
    (void) ctx;
    (void) msg;

    abort();
}


/* the caller's handler: the pass must put its own in place meanwhile */

static void
fuzz_structured_error(void *data, xmlErrorPtr error)
{
    (void) data;
    (void) error;

    abort();
}


static int
fuzz_parse(const u_char *data, size_t size, int json,
    ngx_http_ci_jobs_xml_result_t *res)
{
    int                          rc;
    ngx_http_ci_jobs_xml_conf_t  conf;

    memset(&conf, 0, sizeof(conf));
    conf.array_names = jobs_detail;
    conf.narray_names = 1;
    conf.json = json;
    conf.libxml_only = libxml_only;
    conf.no_facts = no_facts;
    conf.ids = ids;
    conf.ids_len = ids_len;
    conf.alloc = fuzz_alloc;

    memset(res, 0xa5, sizeof(ngx_http_ci_jobs_xml_result_t));

    rc = ngx_http_ci_jobs_xml_parse(data, size, &conf, res);

    if (xmlStructuredError != fuzz_structured_error) {
        abort();
    }

    return rc;
}


/*
 * Spaces after the root keep the answer only where a space is 0x20 and
 * the encoding is not switched by a declaration: UTF-8 without one.
 */

static int
fuzz_same_encoding_padded(const u_char *data, size_t size)
{
    size_t  i;

    if (size < 2 || data[0] == 0x00 || data[0] == 0xfe || data[0] == 0xff
        || data[0] == 0x4c || data[1] == 0x00)
    {
        return 0;
    }

    for (i = 0; i + 8 <= size; i++) {
        if (memcmp(data + i, "encoding", 8) == 0) {
            return 0;
        }
    }

    return 1;
}


static void
fuzz_check_ok(ngx_http_ci_jobs_xml_result_t *res, int json)
{
    if (res->error != NULL || res->terminal_jobs > res->jobs) {
        abort();
    }

    if (!json) {
        if (res->json != NULL || res->json_len != 0) {
            abort();
        }

        return;
    }

    if (res->json == NULL || json_text(res->json, res->json_len) != 0) {
        abort();
    }
}


static void
fuzz_check_refused(ngx_http_ci_jobs_xml_result_t *res)
{
    if (res->error == NULL || res->json != NULL || res->json_len != 0
        || res->jobs != 0 || res->terminal_jobs != 0 || res->nonexist
        || res->response)
    {
        abort();
    }
}


/* one JSON text (RFC 8259), and the shape of ours: {"root":...} */

static int
json_text(const u_char *p, size_t len)
{
    json_t  j;

    j.p = p;
    j.last = p + len;

    if (len < 2 || p[0] != '{' || p[1] != '"') {
        return -1;
    }

    if (json_value(&j, 0) != 0) {
        return -1;
    }

    json_ws(&j);

    if (j.p != j.last) {
        return -1;
    }

    /* one key: the object's first string is followed by its value only */

    j.p = p + 1;

    if (json_string(&j) != 0 || j.p == j.last || *j.p++ != ':'
        || json_value(&j, 1) != 0 || j.p == j.last || *j.p != '}'
        || j.p + 1 != p + len)
    {
        return -1;
    }

    return 0;
}


static void
json_ws(json_t *j)
{
    while (j->p < j->last
           && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
               || *j->p == '\r'))
    {
        j->p++;
    }
}


static int
json_value(json_t *j, int depth)
{
    if (depth > MAX_DEPTH) {
        return -1;
    }

    json_ws(j);

    if (j->p == j->last) {
        return -1;
    }

    switch (*j->p) {

    case '{':
        return json_object(j, depth);

    case '[':
        return json_array(j, depth);

    case '"':
        return json_string(j);

    case 't':
        return json_literal(j, "true");

    case 'f':
        return json_literal(j, "false");

    case 'n':
        return json_literal(j, "null");

    default:
        return json_number(j);
    }
}


static int
json_object(json_t *j, int depth)
{
    size_t          i, n, nkeys, len[256];
    const u_char   *key[256], *start;

    j->p++;
    json_ws(j);

    if (j->p < j->last && *j->p == '}') {
        j->p++;
        return 0;
    }

    nkeys = 0;

    for ( ;; ) {
        json_ws(j);
        start = j->p;

        if (json_string(j) != 0) {
            return -1;
        }

        /* no key twice (raw bytes: the converter writes names as is) */

        n = j->p - start;

        for (i = 0; i < nkeys && i < 256; i++) {
            if (len[i] == n && memcmp(key[i], start, n) == 0) {
                return -1;
            }
        }

        if (nkeys < 256) {
            key[nkeys] = start;
            len[nkeys] = n;
        }

        nkeys++;

        json_ws(j);

        if (j->p == j->last || *j->p++ != ':') {
            return -1;
        }

        if (json_value(j, depth + 1) != 0) {
            return -1;
        }

        json_ws(j);

        if (j->p == j->last) {
            return -1;
        }

        if (*j->p == '}') {
            j->p++;
            return 0;
        }

        if (*j->p++ != ',') {
            return -1;
        }
    }
}


static int
json_array(json_t *j, int depth)
{
    j->p++;
    json_ws(j);

    if (j->p < j->last && *j->p == ']') {
        j->p++;
        return 0;
    }

    for ( ;; ) {
        if (json_value(j, depth + 1) != 0) {
            return -1;
        }

        json_ws(j);

        if (j->p == j->last) {
            return -1;
        }

        if (*j->p == ']') {
            j->p++;
            return 0;
        }

        if (*j->p++ != ',') {
            return -1;
        }
    }
}


/* a string of valid UTF-8: no overlong forms, surrogates, > U+10FFFF */

static int
json_string(json_t *j)
{
    u_char    c;
    size_t    i, n;
    uint32_t  cp, min;

    if (j->p == j->last || *j->p != '"') {
        return -1;
    }

    j->p++;

    for ( ;; ) {
        if (j->p == j->last) {
            return -1;
        }

        c = *j->p++;

        if (c == '"') {
            return 0;
        }

        if (c < 0x20) {
            return -1;
        }

        if (c == '\\') {
            if (j->p == j->last) {
                return -1;
            }

            c = *j->p++;

            if (c == 'u') {
                for (i = 0; i < 4; i++) {
                    if (j->p == j->last
                        || strchr("0123456789abcdefABCDEF", *j->p) == NULL
                        || *j->p == '\0')
                    {
                        return -1;
                    }

                    j->p++;
                }

                continue;
            }

            if (strchr("\"\\/bfnrt", c) == NULL || c == '\0') {
                return -1;
            }

            continue;
        }

        if (c < 0x80) {
            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;

        } else {
            return -1;
        }

        if ((size_t) (j->last - j->p) < n) {
            return -1;
        }

        for (i = 0; i < n; i++) {
            c = *j->p++;

            if ((c & 0xc0) != 0x80) {
                return -1;
            }

            cp = (cp << 6) | (c & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return -1;
        }
    }
}


static int
json_number(json_t *j)
{
    const u_char  *start;

    if (j->p < j->last && *j->p == '-') {
        j->p++;
    }

    if (j->p == j->last) {
        return -1;
    }

    if (*j->p == '0') {
        j->p++;

    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->last && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }

    } else {
        return -1;
    }

    if (j->p < j->last && *j->p == '.') {
        start = ++j->p;

        while (j->p < j->last && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }

        if (j->p == start) {
            return -1;
        }
    }

    if (j->p < j->last && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;

        if (j->p < j->last && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }

        start = j->p;

        while (j->p < j->last && *j->p >= '0' && *j->p <= '9') {
            j->p++;
        }

        if (j->p == start) {
            return -1;
        }
    }

    return 0;
}


static int
json_literal(json_t *j, const char *lit)
{
    size_t  n;

    n = strlen(lit);

    if ((size_t) (j->last - j->p) < n || memcmp(j->p, lit, n) != 0) {
        return -1;
    }

    j->p += n;

    return 0;
}
