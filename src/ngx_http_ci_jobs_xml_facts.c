
/*
 * The cache's facts, read from the structure of an answer as its events
 * come: <JobsDetail> children of the root, their direct <State> children
 * (leaves only), and a non-empty <NonExistJobIds> child of the root.  A
 * job counts as terminal when it has a direct State and every direct
 * State it has reads exactly Success, Failed or Cancel.
 * <WorkflowExecution> children of the root (a workflow run) are counted
 * apart, by the same rule.  With ids asked for, also which of them the
 * answer names: each JobsDetail's direct JobId (a WorkflowExecution's
 * RunId; a leaf, exactly one), and the ids of each NonExistJobIds (a
 * leaf: ids separated by commas or spaces).
 *
 * Depths count from the root, 1: the depth of the element that starts,
 * ends or holds the text.
 */


#include <string.h>

#include "ngx_http_ci_jobs_xml_pass.h"


/* the text being read */
#define NGX_HTTP_CI_JOBS_FACTS_NONE      0
#define NGX_HTTP_CI_JOBS_FACTS_STATE     1
#define NGX_HTTP_CI_JOBS_FACTS_NONEXIST  2
#define NGX_HTTP_CI_JOBS_FACTS_JOBID     3

#define ngx_http_ci_jobs_facts_space(c)                                       \
    ((c) == ',' || (c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')


static int ngx_http_ci_jobs_xml_id_seen(ngx_http_ci_jobs_xml_facts_t *facts,
    const u_char *id, size_t len);
static void ngx_http_ci_jobs_xml_nonexist_ids(
    ngx_http_ci_jobs_xml_facts_t *facts);


/* "id1,id2": the ids asked for (no more than a bit each) */

void
ngx_http_ci_jobs_xml_facts_init(ngx_http_ci_jobs_xml_facts_t *facts,
    const u_char *ids, size_t ids_len)
{
    const u_char  *p, *last, *comma;

    memset(facts, 0, sizeof(ngx_http_ci_jobs_xml_facts_t));

    if (ids_len == 0) {
        return;
    }

    p = ids;
    last = ids + ids_len;

    while (p < last && facts->nids < NGX_HTTP_CI_JOBS_XML_MAX_IDS) {
        comma = memchr(p, ',', last - p);
        if (comma == NULL) {
            comma = last;
        }

        facts->id[facts->nids] = p;
        facts->id_len[facts->nids] = comma - p;
        facts->nids++;

        p = comma + 1;
    }
}


void
ngx_http_ci_jobs_xml_facts_start(ngx_http_ci_jobs_xml_facts_t *facts,
    size_t depth, const u_char *name, size_t len)
{
    switch (depth) {

    case 1:
        facts->response = ngx_http_ci_jobs_str_is(name, len, "Response");
        return;

    case 2:
        if (ngx_http_ci_jobs_str_is(name, len, "JobsDetail")
            || ngx_http_ci_jobs_str_is(name, len, "WorkflowExecution"))
        {
            facts->in_run = (name[0] == 'W');

            if (facts->in_run) {
                facts->runs++;

            } else {
                facts->jobs++;
            }

            facts->in_job = 1;
            facts->job_states = 0;
            facts->job_ids = 0;
            facts->job_terminal = 1;

        } else if (ngx_http_ci_jobs_str_is(name, len, "NonExistJobIds")) {
            facts->capture = NGX_HTTP_CI_JOBS_FACTS_NONEXIST;
            facts->ids_text_len = 0;
            facts->ids_over = 0;
            facts->text_child = 0;
        }

        return;

    case 3:
        if (facts->in_job && ngx_http_ci_jobs_str_is(name, len, "State")) {
            facts->capture = NGX_HTTP_CI_JOBS_FACTS_STATE;
            facts->state_len = 0;
            facts->text_child = 0;
            return;
        }

        if (facts->in_job && facts->nids
            && (facts->in_run ? ngx_http_ci_jobs_str_is(name, len, "RunId")
                              : ngx_http_ci_jobs_str_is(name, len, "JobId")))
        {
            facts->capture = NGX_HTTP_CI_JOBS_FACTS_JOBID;
            facts->ids_text_len = 0;
            facts->ids_over = 0;
            facts->text_child = 0;
            return;
        }

        break;

    default:
        break;
    }

    if (facts->capture == NGX_HTTP_CI_JOBS_FACTS_STATE
        || facts->capture == NGX_HTTP_CI_JOBS_FACTS_JOBID)
    {
        facts->text_child = 1;

    } else if (facts->capture == NGX_HTTP_CI_JOBS_FACTS_NONEXIST) {
        facts->nonexist = 1;
        facts->text_child = 1;
    }
}


void
ngx_http_ci_jobs_xml_facts_end(ngx_http_ci_jobs_xml_facts_t *facts,
    size_t depth)
{
    int  terminal;

    if (depth == 3 && facts->capture == NGX_HTTP_CI_JOBS_FACTS_STATE) {
        terminal = !facts->text_child
                   && (ngx_http_ci_jobs_str_is(facts->state, facts->state_len,
                                               "Success")
                       || ngx_http_ci_jobs_str_is(facts->state,
                                                  facts->state_len, "Failed")
                       || ngx_http_ci_jobs_str_is(facts->state,
                                                  facts->state_len, "Cancel"));

        facts->job_states++;
        facts->job_terminal &= terminal;
        facts->capture = NGX_HTTP_CI_JOBS_FACTS_NONE;

    } else if (depth == 3 && facts->capture == NGX_HTTP_CI_JOBS_FACTS_JOBID) {

        if (facts->text_child || facts->ids_over
            || !ngx_http_ci_jobs_xml_id_seen(facts, facts->ids_text,
                                             facts->ids_text_len))
        {
            facts->foreign = 1;
        }

        facts->job_ids++;
        facts->capture = NGX_HTTP_CI_JOBS_FACTS_NONE;

    } else if (depth == 2) {

        if (facts->capture == NGX_HTTP_CI_JOBS_FACTS_NONEXIST && facts->nids)
        {
            ngx_http_ci_jobs_xml_nonexist_ids(facts);
        }

        facts->capture = NGX_HTTP_CI_JOBS_FACTS_NONE;

        if (facts->in_job) {
            if (facts->job_states && facts->job_terminal) {
                if (facts->in_run) {
                    facts->terminal_runs++;

                } else {
                    facts->terminal_jobs++;
                }
            }

            if (facts->nids && facts->job_ids != 1) {
                facts->foreign = 1;
            }

            facts->in_job = 0;
            facts->in_run = 0;
        }
    }
}


void
ngx_http_ci_jobs_xml_facts_text(ngx_http_ci_jobs_xml_facts_t *facts,
    size_t depth, const u_char *text, size_t len)
{
    size_t  n;

    switch (facts->capture) {

    case NGX_HTTP_CI_JOBS_FACTS_STATE:
        if (depth == 3) {
            /* enough to tell the terminal states from any other text */
            n = sizeof(facts->state) - facts->state_len;
            n = (len < n) ? len : n;

            memcpy(facts->state + facts->state_len, text, n);
            facts->state_len += n;
        }

        return;

    case NGX_HTTP_CI_JOBS_FACTS_NONEXIST:
        facts->nonexist = 1;

        if (depth != 2) {
            return;
        }

        break;

    case NGX_HTTP_CI_JOBS_FACTS_JOBID:
        if (depth != 3) {
            return;
        }

        break;

    default:
        return;
    }

    if (facts->nids == 0) {
        return;
    }

    n = sizeof(facts->ids_text) - facts->ids_text_len;

    if (len > n) {
        facts->ids_over = 1;
        return;
    }

    memcpy(facts->ids_text + facts->ids_text_len, text, len);
    facts->ids_text_len += len;
}


/* marks every id asked for that is this one; 0 when none is */

static int
ngx_http_ci_jobs_xml_id_seen(ngx_http_ci_jobs_xml_facts_t *facts,
    const u_char *id, size_t len)
{
    int     found;
    size_t  i;

    found = 0;

    for (i = 0; i < facts->nids; i++) {
        if (facts->id_len[i] == len && len
            && memcmp(facts->id[i], id, len) == 0)
        {
            facts->ids_seen |= (uint32_t) 1 << i;
            found = 1;
        }
    }

    return found;
}


static void
ngx_http_ci_jobs_xml_nonexist_ids(ngx_http_ci_jobs_xml_facts_t *facts)
{
    u_char  *p, *last, *start;

    if (facts->text_child || facts->ids_over) {
        facts->foreign = 1;
        return;
    }

    p = facts->ids_text;
    last = p + facts->ids_text_len;

    while (p < last) {

        while (p < last && ngx_http_ci_jobs_facts_space(*p)) {
            p++;
        }

        start = p;

        while (p < last && !ngx_http_ci_jobs_facts_space(*p)) {
            p++;
        }

        if (p > start
            && !ngx_http_ci_jobs_xml_id_seen(facts, start, p - start))
        {
            facts->foreign = 1;
        }
    }
}
