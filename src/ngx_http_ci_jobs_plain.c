
/*
 * The text/plain answers of the ci_jobs_status location: lines written
 * into buffers chained as they fill, Prometheus families and label values,
 * and the answer sent.
 */


#include "ngx_http_ci_jobs_plain.h"


#define NGX_HTTP_CI_JOBS_PLAIN_CHUNK  16384


void
ngx_http_ci_jobs_plain_init(ngx_http_ci_jobs_plain_t *t,
    ngx_http_request_t *r)
{
    ngx_memzero(t, sizeof(ngx_http_ci_jobs_plain_t));

    t->r = r;
    t->last = &t->out;
}


/* room for size more bytes: the current buffer, or a new one chained */

ngx_int_t
ngx_http_ci_jobs_plain_reserve(ngx_http_ci_jobs_plain_t *t, size_t size)
{
    ngx_chain_t  *cl;

    if (t->b != NULL && (size_t) (t->b->end - t->b->last) >= size) {
        return NGX_OK;
    }

    cl = ngx_alloc_chain_link(t->r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = ngx_create_temp_buf(t->r->pool,
                                  ngx_max(size, NGX_HTTP_CI_JOBS_PLAIN_CHUNK));
    if (cl->buf == NULL) {
        return NGX_ERROR;
    }

    cl->next = NULL;
    *t->last = cl;
    t->last = &cl->next;

    t->b = cl->buf;

    return NGX_OK;
}


/* a label value: backslash, double quote and line feed escaped */

u_char *
ngx_http_ci_jobs_plain_label(u_char *p, ngx_str_t *value)
{
    u_char  *s, *last;

    last = value->data + value->len;

    for (s = value->data; s < last; s++) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = *s;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = *s;
        }
    }

    return p;
}


ngx_int_t
ngx_http_ci_jobs_plain_family(ngx_http_ci_jobs_plain_t *t,
    ngx_http_ci_jobs_family_t *f)
{
    if (ngx_http_ci_jobs_plain_reserve(t, 2 * NGX_HTTP_CI_JOBS_LINE_MAX)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t->b->last = ngx_sprintf(t->b->last, "# HELP %s %s\n# TYPE %s %s\n",
                             f->name, f->help, f->name, f->type);

    return NGX_OK;
}


/*
 * A family and its n counts, each on a line of its own with its label's
 * value: name{label="values[i]"} counts[i].  A NULL label: one line, the
 * count alone.
 */

ngx_int_t
ngx_http_ci_jobs_plain_labelled(ngx_http_ci_jobs_plain_t *t,
    ngx_http_ci_jobs_family_t *f, const char *label, ngx_str_t *values,
    ngx_atomic_t *counts, ngx_uint_t n)
{
    ngx_uint_t  i;

    if (ngx_http_ci_jobs_plain_family(t, f) != NGX_OK) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_ci_jobs_plain_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (label == NULL) {
            t->b->last = ngx_sprintf(t->b->last, "%s %uA\n",
                                     f->name, counts[i]);
            continue;
        }

        t->b->last = ngx_sprintf(t->b->last, "%s{%s=\"%V\"} %uA\n",
                                 f->name, label, &values[i], counts[i]);
    }

    return NGX_OK;
}


/* the lines written, as a whole answer that no cache is to keep */

ngx_int_t
ngx_http_ci_jobs_plain_send(ngx_http_ci_jobs_plain_t *t, ngx_uint_t status,
    ngx_str_t *type)
{
    off_t                len;
    ngx_int_t            rc;
    ngx_chain_t         *cl;
    ngx_http_request_t  *r;

    r = t->r;
    len = 0;

    for (cl = t->out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = *type;

    /* the type alone, without its parameter: what gzip_types matches */
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_length_n = len;

    /* a scrape is never to be served from a cache */
    r->headers_out.last_modified_time = -1;

    if (t->b != NULL) {
        t->b->last_buf = (r == r->main) ? 1 : 0;
        t->b->last_in_chain = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only || t->out == NULL) {
        return rc;
    }

    return ngx_http_output_filter(r, t->out);
}
