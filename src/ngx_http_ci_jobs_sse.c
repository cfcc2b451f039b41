
/*
 * Server-Sent Events of a watched id lookup.  The JSON read here is the
 * module's own rendering (compact, well-formed, strings, objects and
 * arrays only), so a small walker suffices; anything else is refused.
 */


#include <string.h>

#include "ngx_http_ci_jobs_sse.h"
#include "ngx_http_ci_jobs_text.h"


static const u_char *ngx_http_ci_jobs_sse_skip(const u_char *p,
    const u_char *last);
static const u_char *ngx_http_ci_jobs_sse_string(const u_char *p,
    const u_char *last);
static const u_char *ngx_http_ci_jobs_sse_member(const u_char *p,
    const u_char *last, const u_char **value);
static int ngx_http_ci_jobs_sse_job(const u_char *p, const u_char *last,
    ngx_http_ci_jobs_sse_job_t *job);
static uint32_t ngx_http_ci_jobs_sse_hash(uint32_t h, const u_char *p,
    size_t len);


#define ngx_http_ci_jobs_sse_key_is(k, klen, lit)                             \
    ngx_http_ci_jobs_str_is(k, klen, "\"" lit "\"")


int
ngx_http_ci_jobs_sse_jobs(const u_char *json, size_t len,
    ngx_http_ci_jobs_sse_job_t *jobs)
{
    int            n;
    size_t         klen;
    const u_char  *p, *last, *key, *v, *end;

    p = json;
    last = json + len;
    n = 0;

    if (len < sizeof("{\"Response\":{") - 1
        || memcmp(p, "{\"Response\":{", sizeof("{\"Response\":{") - 1) != 0)
    {
        return -1;
    }

    p += sizeof("{\"Response\":{") - 1;

    while (p < last && *p != '}') {

        key = p;
        p = ngx_http_ci_jobs_sse_member(p, last, &v);

        if (p == NULL) {
            return -1;
        }

        klen = v - 1 - key;

        if (ngx_http_ci_jobs_sse_key_is(key, klen, "JobsDetail")
            || ngx_http_ci_jobs_sse_key_is(key, klen, "WorkflowExecution"))
        {
            if (*v == '{') {
                if (n == NGX_HTTP_CI_JOBS_SSE_JOBS
                    || ngx_http_ci_jobs_sse_job(v, p, &jobs[n++]) != 0)
                {
                    return -1;
                }

            } else if (*v == '[') {
                for (v++; v < p - 1; v = (*end == ',') ? end + 1 : end) {
                    end = ngx_http_ci_jobs_sse_skip(v, p);

                    if (end == NULL || *v != '{'
                        || n == NGX_HTTP_CI_JOBS_SSE_JOBS
                        || ngx_http_ci_jobs_sse_job(v, end, &jobs[n++]) != 0)
                    {
                        return -1;
                    }
                }
            }

        } else if (ngx_http_ci_jobs_sse_key_is(key, klen, "NonExistJobIds")) {
            if (*v == '[') {
                v++;
            }

            while (v < p && *v == '"') {
                end = ngx_http_ci_jobs_sse_string(v, p);

                if (end == NULL || n == NGX_HTTP_CI_JOBS_SSE_JOBS) {
                    return -1;
                }

                jobs[n].data = v;
                jobs[n].len = end - v;
                jobs[n].version = ngx_http_ci_jobs_sse_hash(2166136261u,
                                                            (u_char *) "-",
                                                            1);
                jobs[n].finished = 1;
                jobs[n].missing = 1;
                n++;

                v = (end < p && *end == ',') ? end + 1 : end;
            }
        }

        if (p < last && *p == ',') {
            p++;
        }
    }

    return n;
}


/*
 * An object's member at p, "name":value: *value is where the value
 * starts, just after the ":" that ends the name; returns the end of the
 * value, or NULL.
 */

static const u_char *
ngx_http_ci_jobs_sse_member(const u_char *p, const u_char *last,
    const u_char **value)
{
    p = ngx_http_ci_jobs_sse_string(p, last);

    if (p == NULL || p == last || *p != ':') {
        return NULL;
    }

    *value = ++p;

    return ngx_http_ci_jobs_sse_skip(p, last);
}


/* a job's object [p, last): its State and Progress */

static int
ngx_http_ci_jobs_sse_job(const u_char *p, const u_char *last,
    ngx_http_ci_jobs_sse_job_t *job)
{
    size_t         klen, slen, plen;
    uint32_t       h;
    const u_char  *key, *v, *state, *progress;

    job->data = p;
    job->len = last - p;
    job->missing = 0;

    state = NULL;
    progress = NULL;
    slen = 0;
    plen = 0;

    for (p++; p < last - 1; ) {
        key = p;
        p = ngx_http_ci_jobs_sse_member(p, last, &v);

        if (p == NULL) {
            return -1;
        }

        klen = v - 1 - key;

        if (*v == '"' && ngx_http_ci_jobs_sse_key_is(key, klen, "State")) {
            state = v + 1;
            slen = p - v - 2;

        } else if (*v == '"'
                   && ngx_http_ci_jobs_sse_key_is(key, klen, "Progress"))
        {
            progress = v + 1;
            plen = p - v - 2;
        }

        if (p < last && *p == ',') {
            p++;
        }
    }

    h = ngx_http_ci_jobs_sse_hash(2166136261u, state, slen);
    h = ngx_http_ci_jobs_sse_hash(h * 16777619u, progress, plen);

    job->version = h ? h : 1;
    job->finished = ngx_http_ci_jobs_str_is(state, slen, "Success")
                    || ngx_http_ci_jobs_str_is(state, slen, "Failed")
                    || ngx_http_ci_jobs_str_is(state, slen, "Cancel");

    return 0;
}


/* past the value at p: a string, an object or an array; NULL if cut */

static const u_char *
ngx_http_ci_jobs_sse_skip(const u_char *p, const u_char *last)
{
    size_t  depth;

    depth = 0;

    while (p < last) {

        if (*p == '"') {
            p = ngx_http_ci_jobs_sse_string(p, last);
            if (p == NULL) {
                return NULL;
            }

        } else if (*p == '{' || *p == '[') {
            depth++;
            p++;

        } else if (*p == '}' || *p == ']') {
            if (depth == 0) {
                return NULL;
            }

            depth--;
            p++;

        } else {
            p++;
        }

        if (depth == 0) {
            return p;
        }
    }

    return NULL;
}


/* past the string whose quote is at p; NULL if cut */

static const u_char *
ngx_http_ci_jobs_sse_string(const u_char *p, const u_char *last)
{
    if (p == last || *p != '"') {
        return NULL;
    }

    for (p++; p < last; p++) {

        if (*p == '\\') {
            p++;
            continue;
        }

        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


/* FNV-1a */

static uint32_t
ngx_http_ci_jobs_sse_hash(uint32_t h, const u_char *p, size_t len)
{
    while (len--) {
        h = (h ^ *p++) * 16777619u;
    }

    return h;
}


size_t
ngx_http_ci_jobs_sse_event_size(size_t name_len, size_t id_len,
    size_t data_len)
{
    return sizeof("event: \nid: \ndata: \n\n") - 1 + name_len + id_len
           + data_len;
}


size_t
ngx_http_ci_jobs_sse_event(u_char *dst, const char *name, const u_char *id,
    size_t id_len, const u_char *data, size_t data_len)
{
    size_t   n;
    u_char  *p;

    n = strlen(name);
    p = dst;

    memcpy(p, "event: ", 7);
    p += 7;
    memcpy(p, name, n);
    p += n;

    memcpy(p, "\nid: ", 5);
    p += 5;
    memcpy(p, id, id_len);
    p += id_len;

    memcpy(p, "\ndata: ", 7);
    p += 7;
    memcpy(p, data, data_len);
    p += data_len;

    *p++ = '\n';
    *p++ = '\n';

    return p - dst;
}


size_t
ngx_http_ci_jobs_sse_id(u_char *dst, const uint32_t *versions, size_t n)
{
    int                   shift;
    size_t                i;
    static const u_char   hex[] = "0123456789abcdef";

    for (i = 0; i < n; i++) {
        for (shift = 28; shift >= 0; shift -= 4) {
            *dst++ = hex[(versions[i] >> shift) & 0xf];
        }
    }

    return n * 8;
}


size_t
ngx_http_ci_jobs_sse_id_parse(const u_char *id, size_t len,
    uint32_t *versions)
{
    size_t    i, j, n;
    u_char    c;
    uint32_t  v;

    if (len % 8 != 0 || len > NGX_HTTP_CI_JOBS_SSE_ID_LEN) {
        return 0;
    }

    n = len / 8;

    for (i = 0; i < n; i++) {
        v = 0;

        for (j = 0; j < 8; j++) {
            c = id[i * 8 + j];

            if (c >= '0' && c <= '9') {
                v = (v << 4) | (c - '0');

            } else if (c >= 'a' && c <= 'f') {
                v = (v << 4) | (c - 'a' + 10);

            } else {
                return 0;
            }
        }

        versions[i] = v;
    }

    return n;
}
