
/*
 * libFuzzer target of the terminal-state cache's storage rule and key
 * (src/ngx_http_ci_jobs_cache_key.c), fed as the module feeds them: an
 * upstream answer goes through the XML pass, whose facts decide.
 *
 * The input: byte 0 the API (modulo the five), byte 1 the status (below
 * 0x80: 200, else 100 + 5 * (byte - 0x80)), byte 2 flags (bit 0: JSON
 * written too; bits 1-2: the key part varied; bits 3-7: the SecretId's
 * length), byte 3 the host's (low nibble) and ids' (high nibble) lengths;
 * the rest is the answer, whose first bytes are the key's parts too.
 *
 * The ids asked for are the first 1 + (byte 0 / 5) % 3 of "j1,j2,j3".
 *
 * Invariants, each checked with abort():
 * - nothing is stored that is not a 200 the XML pass accepts with a
 *   <Response> root; an id lookup only when exact (every id asked for a
 *   JobId or in NonExistJobIds, one leaf JobId per JobsDetail, no other
 *   id); terminal only for an id lookup with at least one job, every job
 *   terminal and no NonExistJobIds; the list is at most pending; whatever
 *   the facts, statuses other than 200 (1xx to 5xx, and values that 200
 *   would be if truncated) never store, nor does an id lookup read
 *   without its ids;
 * - the facts are those of an independent reading of the document with
 *   libxml2's tree parser: the qualified name of the root; the
 *   <JobsDetail> children of the root, and apart from them the
 *   <WorkflowExecution> ones (workflow runs, named by RunId instead of
 *   JobId); a job is terminal when it has a
 *   direct <State> and every direct <State> is a leaf whose text is
 *   exactly Success, Failed or Cancel; a <NonExistJobIds> child of the
 *   root with any text or element in it; which ids asked for are named,
 *   and whether another is, as above (ids split at commas and white
 *   space);
 * - the key's length is the one announced for a NULL buffer, host +
 *   target (a fixed one) + API name + ids + SecretId + 4 separators, and
 *   it is written within that length (the buffer is exactly as long:
 *   AddressSanitizer);
 * - the key is deterministic, and two keys are equal exactly when host,
 *   API, ids and SecretId are (the parts hold no "\n", as in the module:
 *   each part varied alone, and a second set of parts from elsewhere in
 *   the input).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "ngx_http_ci_jobs_cache_key.h"
#include "pool.h"


/* the target every fuzzed key is made for */
#define FUZZ_TARGET  "1 18:https://ci.example 0:"


#define FUZZ_HEAD  4


typedef struct {
    u_char                      *host;
    size_t                       host_len;
    u_char                      *secret_id;
    size_t                       secret_id_len;
    ngx_http_ci_jobs_request_t   req;
} fuzz_key_t;


typedef struct {
    size_t                       jobs;
    size_t                       terminal_jobs;
    size_t                       runs;
    size_t                       terminal_runs;
    unsigned                     nonexist:1;
    unsigned                     response:1;
    unsigned                     foreign:1;
    unsigned                     long_text:1;  /* past the pass's buffer */
    uint32_t                     ids_seen;
} fuzz_facts_t;


static void fuzz_quiet(void *data, xmlErrorPtr error);
static int fuzz_tree_facts(const u_char *data, size_t size,
    fuzz_facts_t *facts);
static int fuzz_name_is(xmlNodePtr node, const char *name);
static int fuzz_job_terminal(xmlNodePtr job);
static int fuzz_state_terminal(xmlNodePtr state);
static int fuzz_not_empty(xmlNodePtr node);
static void fuzz_job_id(xmlNodePtr job, const char *id_name,
    fuzz_facts_t *facts);
static void fuzz_ids_text(xmlNodePtr node, int split, fuzz_facts_t *facts);
static void fuzz_check_decision(ngx_http_ci_jobs_api_e api, size_t nids,
    unsigned status, int rc, const ngx_http_ci_jobs_xml_result_t *res,
    const fuzz_facts_t *tree);
static void fuzz_keys(const u_char *data, size_t size, const u_char *head);
static void fuzz_key_parts(fuzz_key_t *k, const u_char *p, size_t size,
    ngx_http_ci_jobs_api_e api, size_t host_len, size_t ids_len,
    size_t secret_id_len);
static u_char *fuzz_part(const u_char *p, size_t len);
static u_char *fuzz_key(const fuzz_key_t *k, size_t *len);
static int fuzz_key_parts_equal(const fuzz_key_t *a, const fuzz_key_t *b);
static void fuzz_key_parts_free(fuzz_key_t *k);


static const char  *fuzz_ids[] = { "j1", "j2", "j3" };
static size_t       fuzz_nids;


static const ngx_http_ci_jobs_name_t  jobs_detail[] = {
    { (const u_char *) "JobsDetail", 10 }
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                            rc, have_tree;
    size_t                         len, nids;
    unsigned                       status;
    const u_char                  *body;
    fuzz_facts_t                   tree;
    ngx_http_ci_jobs_api_e         api;
    ngx_http_ci_jobs_xml_conf_t    conf;
    ngx_http_ci_jobs_xml_result_t  res;

    static int  inited;

    if (!inited) {
        xmlInitParser();
        xmlSetStructuredErrorFunc(NULL, fuzz_quiet);
        inited = 1;
    }

    if (size < FUZZ_HEAD) {
        return 0;
    }

    api = data[0] % NGX_HTTP_CI_JOBS_API_COUNT;
    status = data[1] < 0x80 ? 200 : 100 + 5 * (unsigned) (data[1] - 0x80);

    body = data + FUZZ_HEAD;
    len = size - FUZZ_HEAD;

    nids = ngx_http_ci_jobs_api_is_list(api) ? 0 : 1 + (data[0] / 5) % 3;
    fuzz_nids = nids;

    /* the module's call (ngx_http_ci_jobs_answer_render()) */

    memset(&conf, 0, sizeof(conf));
    conf.array_names = jobs_detail;
    conf.narray_names = 1;
    conf.json = data[2] & 1;
    conf.alloc = pool_alloc;
    conf.ids = (const u_char *) "j1,j2,j3";
    conf.ids_len = nids ? 3 * nids - 1 : 0;

    memset(&res, 0xa5, sizeof(res));

    rc = ngx_http_ci_jobs_xml_parse(body, len, &conf, &res);

    if (rc != NGX_HTTP_CI_JOBS_XML_OK && rc != NGX_HTTP_CI_JOBS_XML_ERROR) {
        abort();
    }

    have_tree = (rc == NGX_HTTP_CI_JOBS_XML_OK
                 && fuzz_tree_facts(body, len, &tree));

    fuzz_check_decision(api, nids, status, rc, &res,
                        have_tree ? &tree : NULL);

    pool_free();

    /* the facts are those of the document */

    if (have_tree) {
        if (tree.jobs != res.jobs || tree.terminal_jobs != res.terminal_jobs
            || tree.runs != res.runs || tree.terminal_runs != res.terminal_runs
            || tree.nonexist != res.nonexist
            || tree.response != res.response)
        {
            abort();
        }

        if (nids && !tree.long_text
            && (tree.ids_seen != res.ids_seen || tree.foreign != res.foreign))
        {
            abort();
        }
    }

    fuzz_keys(body, len, data);

    return 0;
}


/* one direct JobId (RunId of a run), a leaf naming an id asked for */

static void
fuzz_job_id(xmlNodePtr job, const char *id_name, fuzz_facts_t *facts)
{
    size_t      n;
    xmlNodePtr  child;

    n = 0;

    for (child = job->children; child != NULL; child = child->next) {
        if (child->type == XML_ELEMENT_NODE && fuzz_name_is(child, id_name)) {
            fuzz_ids_text(child, 0, facts);
            n++;
        }
    }

    if (n != 1) {
        facts->foreign = 1;
    }
}


/* the text of a leaf: one id, or ids split at commas and white space */

static void
fuzz_ids_text(xmlNodePtr node, int split, fuzz_facts_t *facts)
{
    int         found;
    size_t      i, len;
    xmlChar    *text;
    const char *p, *start;
    xmlNodePtr  child;

    for (child = node->children; child != NULL; child = child->next) {
        if (child->type == XML_ELEMENT_NODE) {
            facts->foreign = 1;
            return;
        }
    }

    text = xmlNodeGetContent(node);
    if (text == NULL) {
        text = xmlStrdup((const xmlChar *) "");
        if (text == NULL) {
            abort();
        }
    }

    if (strlen((const char *) text) > 1024) {
        facts->long_text = 1;
        xmlFree(text);
        return;
    }

    p = (const char *) text;

    for ( ;; ) {
        if (split) {
            p += strspn(p, ", \t\n\r");
            len = strcspn(p, ", \t\n\r");

        } else {
            len = strlen(p);
        }

        if (len == 0) {
            if (!split) {
                facts->foreign = 1;
            }

            break;
        }

        start = p;
        p += len;
        found = 0;

        for (i = 0; i < fuzz_nids; i++) {
            if (strlen(fuzz_ids[i]) == len
                && memcmp(fuzz_ids[i], start, len) == 0)
            {
                facts->ids_seen |= (uint32_t) 1 << i;
                found = 1;
            }
        }

        if (!found) {
            facts->foreign = 1;
        }

        if (!split) {
            break;
        }
    }

    xmlFree(text);
}


static void
fuzz_check_decision(ngx_http_ci_jobs_api_e api, size_t nids, unsigned status,
    int rc, const ngx_http_ci_jobs_xml_result_t *res,
    const fuzz_facts_t *tree)
{
    int                     store;
    size_t                  i;
    uint32_t                all;
    ngx_http_ci_jobs_api_e  a;

    static const unsigned  statuses[] = {
        0, 100, 199, 201, 204, 206, 299, 300, 304, 400, 403, 404, 500, 502,
        200 + 256, 200 + 65536, (unsigned) -200
    };

    if (rc != NGX_HTTP_CI_JOBS_XML_OK) {
        /* not asked by the module; what a refusal leaves must not store */

        for (i = 0; i <= NGX_HTTP_CI_JOBS_XML_MAX_IDS + 1; i++) {
            if (ngx_http_ci_jobs_cache_storable(NGX_HTTP_CI_JOBS_API_JOBS, i,
                                                200, res))
            {
                abort();
            }
        }

        return;
    }

    if (res->terminal_jobs > res->jobs) {
        abort();
    }

    store = ngx_http_ci_jobs_cache_storable(api, nids, status, res);

    if (store != NGX_HTTP_CI_JOBS_STORE_NONE
        && store != NGX_HTTP_CI_JOBS_STORE_TERMINAL
        && store != NGX_HTTP_CI_JOBS_STORE_PENDING)
    {
        abort();
    }

    if (store && (status != 200 || !res->response)) {
        abort();
    }

    all = ((uint32_t) 1 << nids) - 1;

    if (store && !ngx_http_ci_jobs_api_is_list(api)
        && (nids == 0 || res->foreign || res->ids_seen != all))
    {
        abort();
    }

    /* an exact answer by the document itself */

    if (store && !ngx_http_ci_jobs_api_is_list(api) && tree != NULL
        && !tree->long_text && (tree->foreign || tree->ids_seen != all))
    {
        abort();
    }

    if (store == NGX_HTTP_CI_JOBS_STORE_TERMINAL
        && (ngx_http_ci_jobs_api_is_list(api)
            || res->nonexist
            || (api == NGX_HTTP_CI_JOBS_API_WORKFLOW
                ? res->runs == 0 || res->terminal_runs != res->runs
                  || res->jobs != 0
                : res->jobs == 0 || res->terminal_jobs != res->jobs
                  || res->runs != 0)))
    {
        abort();
    }

    /* the same answer by any other API or status, or without its ids */

    for (a = 0; a < NGX_HTTP_CI_JOBS_API_COUNT; a++) {
        if (ngx_http_ci_jobs_api_is_list(a)
            && ngx_http_ci_jobs_cache_storable(a, 0, 200, res)
               == NGX_HTTP_CI_JOBS_STORE_TERMINAL)
        {
            abort();
        }

        if (!ngx_http_ci_jobs_api_is_list(a)
            && ngx_http_ci_jobs_cache_storable(a, 0, 200, res))
        {
            abort();
        }

        for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
            if (ngx_http_ci_jobs_cache_storable(a, nids, statuses[i], res)) {
                abort();
            }
        }
    }
}


static void
fuzz_quiet(void *data, xmlErrorPtr error)
{
    (void) data;
    (void) error;
}


/* the facts from libxml2's tree; 0 when the tree parser refuses it */

static int
fuzz_tree_facts(const u_char *data, size_t size, fuzz_facts_t *facts)
{
    xmlDocPtr   doc;
    xmlNodePtr  root, child;

    memset(facts, 0, sizeof(fuzz_facts_t));

    doc = xmlReadMemory((const char *) data, (int) size, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR
                        | XML_PARSE_NOWARNING);
    if (doc == NULL) {
        return 0;
    }

    root = xmlDocGetRootElement(doc);
    if (root == NULL) {
        xmlFreeDoc(doc);
        return 0;
    }

    facts->response = fuzz_name_is(root, "Response");

    for (child = root->children; child != NULL; child = child->next) {
        if (child->type != XML_ELEMENT_NODE) {
            continue;
        }

        if (fuzz_name_is(child, "JobsDetail")) {
            facts->jobs++;
            facts->terminal_jobs += fuzz_job_terminal(child);
            fuzz_job_id(child, "JobId", facts);

        } else if (fuzz_name_is(child, "WorkflowExecution")) {
            facts->runs++;
            facts->terminal_runs += fuzz_job_terminal(child);
            fuzz_job_id(child, "RunId", facts);

        } else if (fuzz_name_is(child, "NonExistJobIds")) {
            if (fuzz_not_empty(child)) {
                facts->nonexist = 1;
            }

            fuzz_ids_text(child, 1, facts);
        }
    }

    xmlFreeDoc(doc);

    return 1;
}


/* the qualified name, "p:name" when prefixed, as the pass compares it */

static int
fuzz_name_is(xmlNodePtr node, const char *name)
{
    size_t  n;

    if (node->ns != NULL && node->ns->prefix != NULL) {
        n = strlen((const char *) node->ns->prefix);

        return strncmp(name, (const char *) node->ns->prefix, n) == 0
               && name[n] == ':'
               && strcmp(name + n + 1, (const char *) node->name) == 0;
    }

    return strcmp(name, (const char *) node->name) == 0;
}


static int
fuzz_job_terminal(xmlNodePtr job)
{
    int         states;
    xmlNodePtr  child;

    states = 0;

    for (child = job->children; child != NULL; child = child->next) {
        if (child->type != XML_ELEMENT_NODE || !fuzz_name_is(child, "State"))
        {
            continue;
        }

        if (!fuzz_state_terminal(child)) {
            return 0;
        }

        states++;
    }

    return states > 0;
}


static int
fuzz_state_terminal(xmlNodePtr state)
{
    int         terminal;
    xmlChar    *text;
    xmlNodePtr  child;

    for (child = state->children; child != NULL; child = child->next) {
        if (child->type == XML_ELEMENT_NODE) {
            return 0;
        }
    }

    /* text and CDATA, comments and processing instructions left out */

    text = xmlNodeGetContent(state);
    if (text == NULL) {
        return 0;
    }

    terminal = strcmp((const char *) text, "Success") == 0
               || strcmp((const char *) text, "Failed") == 0
               || strcmp((const char *) text, "Cancel") == 0;

    xmlFree(text);

    return terminal;
}


static int
fuzz_not_empty(xmlNodePtr node)
{
    xmlNodePtr  child;

    for (child = node->children; child != NULL; child = child->next) {
        switch (child->type) {

        case XML_ELEMENT_NODE:
            return 1;

        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (child->content != NULL && child->content[0] != '\0') {
                return 1;
            }

            break;

        default:
            break;
        }
    }

    return 0;
}


static void
fuzz_keys(const u_char *data, size_t size, const u_char *head)
{
    size_t                  host_len, ids_len, secret_id_len, off, n, m, i;
    u_char                 *key, *again, *other;
    fuzz_key_t              a, b;
    ngx_http_ci_jobs_api_e  api;

    api = head[0] % NGX_HTTP_CI_JOBS_API_COUNT;
    host_len = head[3] & 0x0f;
    ids_len = head[3] >> 4;
    secret_id_len = head[2] >> 3;

    fuzz_key_parts(&a, data, size, api, host_len, ids_len, secret_id_len);

    key = fuzz_key(&a, &n);

    if (n != a.host_len + sizeof(FUZZ_TARGET) - 1
             + strlen(ngx_http_ci_jobs_api_names[api])
             + a.req.ids_len + a.secret_id_len + 4)
    {
        abort();
    }

    /* deterministic */

    again = fuzz_key(&a, &m);

    if (m != n || memcmp(key, again, n) != 0) {
        abort();
    }

    free(again);

    /* one part varied: another key */

    fuzz_key_parts(&b, data, size, api, host_len, ids_len, secret_id_len);

    switch ((head[2] >> 1) & 3) {

    case 0:
        if (b.host_len) {
            b.host[b.host_len - 1] ^= 0x01;

            if (b.host[b.host_len - 1] == '\n') {
                b.host_len--;
            }

        } else {
            b.host[b.host_len++] = 'h';
        }

        break;

    case 1:
        b.req.api = (api + 1 + head[1] % (NGX_HTTP_CI_JOBS_API_COUNT - 1))
                    % NGX_HTTP_CI_JOBS_API_COUNT;
        break;

    case 2:
        if (b.req.ids_len) {
            b.req.ids_len--;

        } else {
            ((u_char *) b.req.ids)[b.req.ids_len++] = ',';
        }

        break;

    default:
        if (b.secret_id_len) {
            b.secret_id[0] ^= 0x20;

            if (b.secret_id[0] == '\n') {
                b.secret_id[0] = 'A';
            }

            if (b.secret_id_len == a.secret_id_len
                && memcmp(b.secret_id, a.secret_id, a.secret_id_len) == 0)
            {
                b.secret_id[0] ^= 0x01;
            }

        } else {
            b.secret_id[b.secret_id_len++] = 'A';
        }

        break;
    }

    if (fuzz_key_parts_equal(&a, &b)) {
        abort();
    }

    other = fuzz_key(&b, &m);

    if (m == n && memcmp(key, other, n) == 0) {
        abort();
    }

    free(other);
    fuzz_key_parts_free(&b);

    /* parts from elsewhere: equal keys exactly when the parts are */

    for (i = 1; i <= 3; i++) {
        off = (head[1] + i) % 8;

        if (off > size) {
            continue;
        }

        fuzz_key_parts(&b, data + off, size - off,
                       (api + (head[3] & i)) % NGX_HTTP_CI_JOBS_API_COUNT,
                       host_len ^ (i & 1), ids_len, secret_id_len ^ (i >> 1));

        other = fuzz_key(&b, &m);

        if ((m == n && memcmp(key, other, n) == 0)
            != fuzz_key_parts_equal(&a, &b))
        {
            abort();
        }

        free(other);
        fuzz_key_parts_free(&b);
    }

    free(key);
    fuzz_key_parts_free(&a);
}


/* the parts one after the other in p, cut to what is there, no "\n" */

static void
fuzz_key_parts(fuzz_key_t *k, const u_char *p, size_t size,
    ngx_http_ci_jobs_api_e api, size_t host_len, size_t ids_len,
    size_t secret_id_len)
{
    memset(k, 0, sizeof(fuzz_key_t));

    host_len = host_len < size ? host_len : size;
    k->host = fuzz_part(p, host_len);
    k->host_len = host_len;
    p += host_len;
    size -= host_len;

    ids_len = ids_len < size ? ids_len : size;
    k->req.api = api;
    k->req.ids = fuzz_part(p, ids_len);
    k->req.ids_len = ids_len;
    p += ids_len;
    size -= ids_len;

    secret_id_len = secret_id_len < size ? secret_id_len : size;
    k->secret_id = fuzz_part(p, secret_id_len);
    k->secret_id_len = secret_id_len;
}


/* a copy with room for one byte more, "\n" made " " */

static u_char *
fuzz_part(const u_char *p, size_t len)
{
    size_t   i;
    u_char  *part;

    part = malloc(len + 1);
    if (part == NULL) {
        abort();
    }

    for (i = 0; i < len; i++) {
        part[i] = (p[i] == '\n') ? ' ' : p[i];
    }

    return part;
}


/* the module's two calls: the length, then the key in exactly as much */

static u_char *
fuzz_key(const fuzz_key_t *k, size_t *len)
{
    size_t   n;
    u_char  *key;

    n = ngx_http_ci_jobs_cache_key(NULL, k->host, k->host_len,
                                   (const u_char *) FUZZ_TARGET,
                                   sizeof(FUZZ_TARGET) - 1, &k->req,
                                   k->secret_id, k->secret_id_len);

    key = malloc(n);
    if (key == NULL) {
        abort();
    }

    memset(key, 0xa5, n);

    *len = ngx_http_ci_jobs_cache_key(key, k->host, k->host_len,
                                      (const u_char *) FUZZ_TARGET,
                                      sizeof(FUZZ_TARGET) - 1, &k->req,
                                      k->secret_id, k->secret_id_len);

    if (*len != n) {
        abort();
    }

    return key;
}


static int
fuzz_key_parts_equal(const fuzz_key_t *a, const fuzz_key_t *b)
{
    return a->req.api == b->req.api
           && a->host_len == b->host_len
           && memcmp(a->host, b->host, a->host_len) == 0
           && a->req.ids_len == b->req.ids_len
           && memcmp(a->req.ids, b->req.ids, a->req.ids_len) == 0
           && a->secret_id_len == b->secret_id_len
           && memcmp(a->secret_id, b->secret_id, a->secret_id_len) == 0;
}


static void
fuzz_key_parts_free(fuzz_key_t *k)
{
    free(k->host);
    free((u_char *) k->req.ids);
    free(k->secret_id);
}
