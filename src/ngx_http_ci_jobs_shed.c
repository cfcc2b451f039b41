
/*
 * What an open stream need not keep: the request's header buffers.
 *
 * nginx frees a connection's header buffers (client_header_buffer_size,
 * and the large_client_header_buffers a longer request took) only when
 * the connection goes idle between requests (ngx_http_set_keepalive()).
 * A stream is a request for minutes, and its request line and header
 * lines are still read: by the refresh, a clone of it, by every log line
 * of its connection and by the access log.  So they are copied first,
 * each buffer's bytes once, into one allocation of their size, and every
 * pointer nginx and the module keep to them is moved there; then the
 * buffers are freed.  The connection is not kept alive after the stream,
 * since it has no header buffer left (nginx would read the next request
 * into the freed one).
 *
 * HTTP/2 streams have no buffers of their own to free: their headers are
 * in the stream's pool already.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"


/* a connection's header buffers: c->buffer and the large ones */
#define NGX_HTTP_CI_JOBS_SHED_BUFS  8


typedef struct {
    u_char                      *old;
    u_char                      *new;
    size_t                       len;
} ngx_http_ci_jobs_shed_range_t;


typedef struct {
    ngx_http_ci_jobs_shed_range_t  range[NGX_HTTP_CI_JOBS_SHED_BUFS];
    ngx_uint_t                     n;
} ngx_http_ci_jobs_shed_t;


static void ngx_http_ci_jobs_shed_str(ngx_http_ci_jobs_shed_t *sh,
    ngx_str_t *s);
static void ngx_http_ci_jobs_shed_ptr(ngx_http_ci_jobs_shed_t *sh,
    u_char **p);
static ngx_uint_t ngx_http_ci_jobs_shed_room(ngx_pool_t *pool,
    size_t size);
static void ngx_http_ci_jobs_shed_cleanup(void *data);


/*
 * Returns the bytes freed (0 when nothing could be: HTTP/2, a pipelined
 * request waiting in the buffer, a buffer inside the connection's pool).
 */

size_t
ngx_http_ci_jobs_shed(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx)
{
    u_char                        *copy, *p;
    size_t                         size, freed;
    ngx_buf_t                     *b, *bufs[NGX_HTTP_CI_JOBS_SHED_BUFS];
    ngx_uint_t                     i;
    ngx_chain_t                   *cl;
    ngx_table_elt_t               *h;
    ngx_connection_t              *c;
    ngx_pool_cleanup_t            *cln;
    ngx_http_connection_t         *hc;
    ngx_http_ci_jobs_shed_t        sh;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_ci_jobs_list_walk_t   w;

    c = r->connection;
    hc = r->http_connection;

    if (r != r->main
        || r->http_version >= NGX_HTTP_VERSION_20
        || r->discard_body || r->reading_body
        || c->buffer == NULL || c->buffer->start == NULL
        || r->header_in == NULL
        || r->header_in->pos < r->header_in->last)
    {
        return 0;
    }

    /* the buffers, and what they hold */

    sh.n = 0;
    size = 0;

    bufs[sh.n++] = c->buffer;

    for (cl = hc->busy; cl; cl = cl->next) {
        if (sh.n == NGX_HTTP_CI_JOBS_SHED_BUFS) {
            return 0;
        }

        if (cl->buf->start != NULL) {
            bufs[sh.n++] = cl->buf;
        }
    }

    for (i = 0; i < sh.n; i++) {
        sh.range[i].old = bufs[i]->start;
        sh.range[i].len = bufs[i]->last - bufs[i]->start;
        size += sh.range[i].len;
    }

    /*
     * The copy takes what is left of the request pool's blocks when it
     * fits (most requests: nginx's own share of the pool took a second
     * block, which the module's context leaves about 800 bytes of), an
     * allocation of its own otherwise.
     */

    if (ngx_http_ci_jobs_shed_room(r->pool, size)) {
        copy = ngx_pnalloc(r->pool, size ? size : 1);
        if (copy == NULL) {
            return 0;
        }

    } else {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return 0;
        }

        copy = ngx_alloc(size ? size : 1, c->log);
        if (copy == NULL) {
            return 0;
        }

        cln->handler = ngx_http_ci_jobs_shed_cleanup;
        cln->data = copy;
    }

    p = copy;

    for (i = 0; i < sh.n; i++) {
        sh.range[i].new = p;
        p = ngx_cpymem(p, sh.range[i].old, sh.range[i].len);
    }

    /* the request line and what its parsing left */

    ngx_http_ci_jobs_shed_str(&sh, &r->request_line);
    ngx_http_ci_jobs_shed_str(&sh, &r->uri);
    ngx_http_ci_jobs_shed_str(&sh, &r->args);
    ngx_http_ci_jobs_shed_str(&sh, &r->exten);
    ngx_http_ci_jobs_shed_str(&sh, &r->unparsed_uri);
    ngx_http_ci_jobs_shed_str(&sh, &r->method_name);
    ngx_http_ci_jobs_shed_str(&sh, &r->http_protocol);
    ngx_http_ci_jobs_shed_str(&sh, &r->schema);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->captures_data);

    ngx_http_ci_jobs_shed_ptr(&sh, &r->header_name_start);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->header_name_end);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->header_start);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->header_end);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->uri_start);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->uri_end);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->uri_ext);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->args_start);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->request_start);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->request_end);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->method_end);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->schema_start);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->schema_end);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->host_start);
    ngx_http_ci_jobs_shed_ptr(&sh, &r->host_end);

    /* the header lines */

    ngx_http_ci_jobs_shed_str(&sh, &r->headers_in.server);
    ngx_http_ci_jobs_shed_str(&sh, &r->headers_in.user);
    ngx_http_ci_jobs_shed_str(&sh, &r->headers_in.passwd);

    for (h = ngx_http_ci_jobs_list_first(&w, &r->headers_in.headers);
         h != NULL;
         h = ngx_http_ci_jobs_list_next(&w))
    {
        ngx_http_ci_jobs_shed_str(&sh, &h->key);
        ngx_http_ci_jobs_shed_str(&sh, &h->value);
        ngx_http_ci_jobs_shed_ptr(&sh, &h->lowcase_key);
    }

    /* the variables already evaluated ($http_..., $request_uri, ...) */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    for (i = 0; i < cmcf->variables.nelts; i++) {
        ngx_http_ci_jobs_shed_ptr(&sh, &r->variables[i].data);
    }

    /* the module's own */

    ngx_http_ci_jobs_shed_ptr(&sh, (u_char **) &ctx->req.access_token);
    ngx_http_ci_jobs_shed_str(&sh, &ctx->access_subject);

    /* then the buffers go, as ngx_http_set_keepalive() frees them */

    freed = 0;

    for (i = 0; i < sh.n; i++) {
        b = bufs[i];
        size = b->end - b->start;

        if (ngx_pfree(c->pool, b->start) == NGX_OK) {
            b->start = NULL;
            b->pos = NULL;
            b->last = NULL;
            b->end = NULL;
            freed += size;
        }
    }

    r->keepalive = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ci_jobs watch: header buffers freed: %uz, kept %uz",
                   freed, (size_t) (p - copy));

    return freed;
}


static void
ngx_http_ci_jobs_shed_str(ngx_http_ci_jobs_shed_t *sh, ngx_str_t *s)
{
    ngx_http_ci_jobs_shed_ptr(sh, &s->data);
}


/* a pointer into a buffer (its end included) moves to the copy */

static void
ngx_http_ci_jobs_shed_ptr(ngx_http_ci_jobs_shed_t *sh, u_char **p)
{
    ngx_uint_t                      i;
    ngx_http_ci_jobs_shed_range_t  *rg;

    if (*p == NULL) {
        return;
    }

    for (i = 0; i < sh->n; i++) {
        rg = &sh->range[i];

        if (*p >= rg->old && *p <= rg->old + rg->len) {
            *p = rg->new + (*p - rg->old);
            return;
        }
    }
}


/* whether size bytes fit in a block the pool has, with no new block */

static ngx_uint_t
ngx_http_ci_jobs_shed_room(ngx_pool_t *pool, size_t size)
{
    ngx_pool_t  *p;

    if (size > pool->max) {
        return 0;
    }

    for (p = pool->current; p; p = p->d.next) {
        if ((size_t) (p->d.end - p->d.last) >= size) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_ci_jobs_shed_cleanup(void *data)
{
    ngx_free(data);
}
