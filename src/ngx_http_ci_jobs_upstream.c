
/*
 * The upstream side: the signed request, the answer's status line and
 * headers, and the body read whole into memory (Content-Length or
 * chunked, bounded by ci_jobs_max_body_size).
 *
 * The body is not passed to the output filters as it arrives: the header
 * filter holds the answer's header until the whole body is in, so that a
 * truncated, reset or malformed answer can still become a clean 502.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_counters.h"
#include "ngx_http_ci_jobs_held.h"
#include "ngx_http_ci_jobs_text.h"


#define NGX_HTTP_CI_JOBS_MAX_REQUEST_ID  128

/* a header's value is the token lit, in any case */
#define ngx_http_ci_jobs_value_is(value, lit)                                 \
    ((value)->len == sizeof(lit) - 1                                          \
     && ngx_strncasecmp((value)->data, (u_char *) lit, sizeof(lit) - 1) == 0)


static ngx_int_t ngx_http_ci_jobs_upstream_start(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf);
static ngx_int_t ngx_http_ci_jobs_create_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_reinit_request(ngx_http_request_t *r);
static void ngx_http_ci_jobs_answer_forget(ngx_http_ci_jobs_ctx_t *ctx);
static ngx_int_t ngx_http_ci_jobs_process_status_line(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ci_jobs_is_ci_status(ngx_uint_t status);
static ngx_int_t ngx_http_ci_jobs_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_content_length(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_ci_jobs_transfer_encoding(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_ci_jobs_content_encoding(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_ci_jobs_connection(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_ci_jobs_content_type(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_ci_jobs_date(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);
static ngx_int_t ngx_http_ci_jobs_ci_request_id(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);
static ngx_uint_t ngx_http_ci_jobs_is_request_id(ngx_str_t *value);
static ngx_uint_t ngx_http_ci_jobs_is_xml_type(ngx_str_t *value);
static ngx_int_t ngx_http_ci_jobs_process_refusal(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_retry(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx);
static void ngx_http_ci_jobs_upstream_again(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_park(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
static ngx_int_t ngx_http_ci_jobs_parked_header(ngx_http_request_t *r);
static ssize_t ngx_http_ci_jobs_parked_recv(ngx_connection_t *c, u_char *buf,
    size_t size);
static void ngx_http_ci_jobs_parked(ngx_http_request_t *r,
    ngx_http_upstream_t *u);
static void ngx_http_ci_jobs_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state);
static void ngx_http_ci_jobs_abort_request(ngx_http_request_t *r);
static void ngx_http_ci_jobs_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_ci_jobs_input_filter_init(void *data);
static ngx_int_t ngx_http_ci_jobs_input_filter(void *data, ssize_t bytes);
static ngx_int_t ngx_http_ci_jobs_chunked_filter(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_buf_t *buf);
static ngx_int_t ngx_http_ci_jobs_append(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, u_char *data, size_t len);
static ngx_int_t ngx_http_ci_jobs_body_buf(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t size, ngx_buf_t **bp);


typedef ngx_int_t (*ngx_http_ci_jobs_header_pt)(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value);


typedef struct {
    ngx_str_t                    name;
    ngx_http_ci_jobs_header_pt   handler;
} ngx_http_ci_jobs_header_t;


/*
 * The upstream headers read, in a hash built at configuration time
 * (ngx_http_ci_jobs_upstream_headers_init()), as the upstream module's
 * own.  They are read, never copied: only x-ci-request-id goes back to the
 * client, added when the answer is sent.  Any other header is dropped.
 */

static ngx_http_ci_jobs_header_t  ngx_http_ci_jobs_upstream_headers[] = {
    { ngx_string("Content-Length"), ngx_http_ci_jobs_content_length },
    { ngx_string("Transfer-Encoding"), ngx_http_ci_jobs_transfer_encoding },
    { ngx_string("Content-Encoding"), ngx_http_ci_jobs_content_encoding },
    { ngx_string("Connection"), ngx_http_ci_jobs_connection },
    { ngx_string("Content-Type"), ngx_http_ci_jobs_content_type },
    { ngx_string("Date"), ngx_http_ci_jobs_date },
    { ngx_string("x-ci-request-id"), ngx_http_ci_jobs_ci_request_id },
    { ngx_null_string, NULL }
};


ngx_int_t
ngx_http_ci_jobs_upstream_headers_init(ngx_conf_t *cf)
{
    ngx_array_t                    names;
    ngx_hash_key_t                *hk;
    ngx_hash_init_t                hash;
    ngx_http_ci_jobs_header_t     *h;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    if (ngx_array_init(&names, cf->temp_pool, 8, sizeof(ngx_hash_key_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (h = ngx_http_ci_jobs_upstream_headers; h->name.len; h++) {
        hk = ngx_array_push(&names);
        if (hk == NULL) {
            return NGX_ERROR;
        }

        hk->key = h->name;
        hk->key_hash = ngx_hash_key_lc(h->name.data, h->name.len);
        hk->value = h;
    }

    hash.hash = &cmcf->upstream_headers;
    hash.key = ngx_hash_key_lc;
    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "ci_jobs_upstream_headers_hash";
    hash.pool = cf->pool;
    hash.temp_pool = NULL;

    return ngx_hash_init(&hash, names.elts, names.nelts);
}


ngx_int_t
ngx_http_ci_jobs_upstream_init(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    ctx->cache_fetched = ngx_current_msec;
    ctx->upstream_start = ngx_current_msec;

    r->main->count++;

    if (ngx_http_ci_jobs_upstream_start(r, lcf) != NGX_OK) {
        r->main->count--;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DONE;
}


/*
 * A request that waited for its keys' renewal (ngx_http_ci_jobs_park())
 * is sent again, signed anew, on an upstream made anew: making it
 * finalizes the one that holds the refusal, as ngx_http_upstream_create()
 * does for any upstream made again, and closes its connection.  That one
 * is not counted: the request's upstream is, once, when it ends.
 */

static void
ngx_http_ci_jobs_upstream_again(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    ngx_http_ci_jobs_answer_forget(ctx);
    ctx->replaced = 1;

    if (ngx_http_ci_jobs_upstream_start(r, lcf) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/* NGX_OK: sent, or waiting for CI's addresses, which then send it */

static ngx_int_t
ngx_http_ci_jobs_upstream_start(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_http_upstream_t  *u;

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_ERROR;
    }

    u = r->upstream;

#if (NGX_HTTP_SSL)
    u->ssl = (lcf->upstream.ssl != NULL);
#endif

    if (u->ssl) {
        ngx_str_set(&u->schema, "https://");

    } else {
        ngx_str_set(&u->schema, "http://");
    }

    u->output.tag = (ngx_buf_tag_t) &ngx_http_ci_jobs_module;
    u->conf = &lcf->upstream;

    u->create_request = ngx_http_ci_jobs_create_request;
    u->reinit_request = ngx_http_ci_jobs_reinit_request;
    u->process_header = ngx_http_ci_jobs_process_status_line;
    u->abort_request = ngx_http_ci_jobs_abort_request;
    u->finalize_request = ngx_http_ci_jobs_finalize_request;

    u->input_filter_init = ngx_http_ci_jobs_input_filter_init;
    u->input_filter = ngx_http_ci_jobs_input_filter;
    u->input_filter_ctx = r;

    /* before the first answer for CI's name: the resolution resumes it */

    if (lcf->resolve) {
        switch (ngx_http_ci_jobs_resolve_wait(r, lcf->resolve)) {

        case NGX_OK:
            break;

        case NGX_AGAIN:
            return NGX_OK;

        default:
            return NGX_ERROR;
        }
    }

    ngx_http_upstream_init(r);

    return NGX_OK;
}


/*
 * GET <path>[?<query>] HTTP/1.1, Host, Authorization, the token when there
 * is one, User-Agent: nothing of the client's request but the validated
 * API, ids and parameters.
 */

static ngx_int_t
ngx_http_ci_jobs_create_request(ngx_http_request_t *r)
{
    size_t                          len, path_len, query_len, auth_len;
    time_t                          offset;
    u_char                         *path;
    ngx_buf_t                      *b;
    ngx_str_t                      *token;
    ngx_chain_t                    *cl;
    ngx_http_ci_jobs_ctx_t         *ctx;
    ngx_http_ci_jobs_pair_t         host;
    ngx_http_ci_jobs_keys_t        *keys;
    ngx_http_ci_jobs_loc_conf_t    *lcf;
    ngx_http_ci_jobs_sign_key_t    *sign_key;
    ngx_http_ci_jobs_sign_input_t   in;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    path_len = ngx_http_ci_jobs_request_path(NULL, &ctx->req);
    query_len = ngx_http_ci_jobs_request_query(NULL, &ctx->req);

    /* none valid any more (they expired since the handler looked): CI says */
    keys = ngx_http_ci_jobs_keys(r, lcf);
    if (keys == NULL) {
        keys = &lcf->source->keys;
    }

    token = &keys->token;
    ctx->keys_signed = lcf->source->changed;

    offset = ctx->offset_tried ? ctx->offset
                               : ngx_http_ci_jobs_clock_offset(lcf);

    sign_key = ngx_http_ci_jobs_sign_key_for(keys, offset, lcf->sign_expires,
                                             &ctx->sign_start, &ctx->sign_end);
    if (sign_key == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: computing the signing key failed");
        return NGX_ERROR;
    }

    host.name = (u_char *) "host";
    host.name_len = sizeof("host") - 1;
    host.value = lcf->host.data;
    host.value_len = lcf->host.len;

    ngx_memzero(&in, sizeof(ngx_http_ci_jobs_sign_input_t));

    in.method = (u_char *) "get";
    in.method_len = sizeof("get") - 1;
    in.params = ctx->req.params;
    in.nparams = ctx->req.nparams;
    in.headers = &host;
    in.nheaders = 1;
    in.secret_id = keys->id.data;
    in.secret_id_len = keys->id.len;
    in.key = sign_key;

    /* the path signed is the path sent: ids are letters and digits only */
    in.path_len = path_len;

    len = sizeof("GET ") - 1 + path_len + 1 + query_len
          + sizeof(" HTTP/1.1" CRLF) - 1
          + sizeof("Host: ") - 1 + lcf->host.len + sizeof(CRLF) - 1
          + sizeof("Authorization: ") - 1 + ngx_http_ci_jobs_sign_size(&in)
          + sizeof(CRLF) - 1
          + sizeof("User-Agent: " NGX_HTTP_CI_JOBS_USER_AGENT CRLF) - 1
          + sizeof(CRLF) - 1;

    if (token->len) {
        len += sizeof("x-ci-security-token: ") - 1 + token->len
               + sizeof(CRLF) - 1;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, "GET ", sizeof("GET ") - 1);

    path = b->last;
    b->last += ngx_http_ci_jobs_request_path(b->last, &ctx->req);
    in.path = path;

    if (query_len) {
        *b->last++ = '?';
        b->last += ngx_http_ci_jobs_request_query(b->last, &ctx->req);
    }

    b->last = ngx_cpymem(b->last, " HTTP/1.1" CRLF "Host: ",
                         sizeof(" HTTP/1.1" CRLF "Host: ") - 1);
    b->last = ngx_cpymem(b->last, lcf->host.data, lcf->host.len);
    b->last = ngx_cpymem(b->last, CRLF "Authorization: ",
                         sizeof(CRLF "Authorization: ") - 1);

    auth_len = ngx_http_ci_jobs_sign(b->last, &in);

    if (auth_len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: signing the request failed");
        return NGX_ERROR;
    }

    b->last += auth_len;
    *b->last++ = CR; *b->last++ = LF;

    ngx_http_ci_jobs_count_signature();

    if (token->len) {
        b->last = ngx_cpymem(b->last, "x-ci-security-token: ",
                             sizeof("x-ci-security-token: ") - 1);
        b->last = ngx_cpymem(b->last, token->data, token->len);
        *b->last++ = CR; *b->last++ = LF;
    }

    b->last = ngx_cpymem(b->last,
                         "User-Agent: " NGX_HTTP_CI_JOBS_USER_AGENT CRLF CRLF,
                         sizeof("User-Agent: " NGX_HTTP_CI_JOBS_USER_AGENT
                                CRLF CRLF) - 1);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ci_jobs upstream request: GET %*s%s",
                   path_len + (query_len ? 1 + query_len : 0), path,
                   token->len ? " with a security token" : "");

    /* sent at once: over TLS, nginx would otherwise hold it in its buffer */
    b->flush = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->upstream->request_bufs = cl;

    return NGX_OK;
}


/* before the request is sent again, to the next server */

static ngx_int_t
ngx_http_ci_jobs_reinit_request(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    ngx_http_ci_jobs_answer_forget(ctx);

    r->upstream->process_header = ngx_http_ci_jobs_process_status_line;

    /* a fresh signature: the clock offset may just have been learnt */
    return ngx_http_ci_jobs_create_request(r);
}


/* what was read of an answer, before another try */

static void
ngx_http_ci_jobs_answer_forget(ngx_http_ci_jobs_ctx_t *ctx)
{
    ngx_memzero(&ctx->status, sizeof(ngx_http_status_t));
    ngx_memzero(&ctx->chunked, sizeof(ngx_http_chunked_t));
    ngx_str_null(&ctx->ci_request_id);
    ctx->date = NGX_ERROR;

    ctx->chunked_body = 0;
    ctx->xml_content_type = 0;
    ctx->hold = NGX_HTTP_CI_JOBS_HOLD_NONE;

    if (ctx->body) {
        ctx->body->last = ctx->body->pos;
    }
}


static ngx_int_t
ngx_http_ci_jobs_process_status_line(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_upstream_t     *u;
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    u = r->upstream;

    rc = ngx_http_parse_status_line(r, &u->buffer, &ctx->status);

    if (rc == NGX_AGAIN) {
        return rc;
    }

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent no valid HTTP/1.x status line");
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->state && u->state->status == 0) {
        u->state->status = ctx->status.code;
    }

    if (!ngx_http_ci_jobs_is_ci_status(ctx->status.code)) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent unexpected status %ui",
                      ctx->status.code);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    /* the status line is nginx's: upstream's reason phrase is not sent */

    u->headers_in.status_n = ctx->status.code;

    if (ctx->status.http_version < NGX_HTTP_VERSION_11) {
        u->headers_in.connection_close = 1;
    }

    u->process_header = ngx_http_ci_jobs_process_header;

    return ngx_http_ci_jobs_process_header(r);
}


/*
 * What CI answers: a 2xx, 4xx or 5xx with a body.  Anything else (no body
 * by definition, a redirect, a number outside HTTP's classes) is no answer
 * of CI's, and would not be framed by nginx the way upstream framed it.
 */

static ngx_uint_t
ngx_http_ci_jobs_is_ci_status(ngx_uint_t status)
{
    if (status == NGX_HTTP_NO_CONTENT || status == 205) {
        return 0;
    }

    return (status >= 200 && status < 300) || (status >= 400 && status < 600);
}


static ngx_int_t
ngx_http_ci_jobs_process_header(ngx_http_request_t *r)
{
    size_t                         len;
    ngx_int_t                      rc;
    ngx_str_t                      value;
    ngx_http_upstream_t           *u;
    ngx_http_ci_jobs_ctx_t        *ctx;
    ngx_http_ci_jobs_header_t     *h;
    ngx_http_ci_jobs_loc_conf_t   *lcf;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);
    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);
    u = r->upstream;

    for ( ;; ) {

        rc = ngx_http_parse_header_line(r, &u->buffer, 1);

        if (rc == NGX_OK) {

            /*
             * r->lowcase_header is the name lowercased when it is shorter
             * than NGX_HTTP_LC_HEADER_LEN and all of it counted in
             * r->header_hash, as every name of the table is
             */

            len = r->header_name_end - r->header_name_start;

            if (len != r->lowcase_index) {
                continue;
            }

            h = ngx_hash_find(&cmcf->upstream_headers, r->header_hash,
                              r->lowcase_header, len);
            if (h == NULL) {
                continue;
            }

            value.data = r->header_start;
            value.len = r->header_end - r->header_start;

            rc = h->handler(r, ctx, &value);
            if (rc != NGX_OK) {
                return rc;
            }

            continue;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            break;
        }

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent invalid header");

        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (ctx->chunked_body && u->headers_in.content_length_n != -1) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent \"Content-Length\" and "
                      "\"Transfer-Encoding\" headers at the same time");
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->headers_in.content_length_n > (off_t) lcf->max_body_size) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream body of %O bytes is larger than "
                      "ci_jobs_max_body_size %uz",
                      u->headers_in.content_length_n, lcf->max_body_size);
        ctx->upstream_error = NGX_HTTP_CI_JOBS_UPSTREAM_OVERSIZE;
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (ctx->status.code == NGX_HTTP_FORBIDDEN && !ctx->retried) {
        u->process_header = ngx_http_ci_jobs_process_refusal;
        return ngx_http_ci_jobs_process_refusal(r);
    }

    /* CI's own answers (a 5xx may be a proxy's): the signature passed */
    if (ctx->status.code != NGX_HTTP_FORBIDDEN && ctx->status.code < 500) {
        ngx_http_ci_jobs_offset_accepted(r, lcf, ctx);
    }

    /* held by the header filter (ngx_http_ci_jobs_filter.c) from here on */
    ctx->hold = NGX_HTTP_CI_JOBS_HOLD_ANSWER;

    return NGX_OK;
}


/*
 * A 403: its error Code is read before the answer is passed on, when the
 * body is small enough to wait for in the header buffer (CI's are a few
 * hundred bytes).  Keys refused as invalid or expired make the source
 * renew them, and the request is tried once more when the keys to sign
 * with have changed since, or, while the renewal is under way, once it is
 * over; a Date outside the signature's window is a clock offset, tried
 * once, and kept only if that try is accepted.  The buffer's pos stays at
 * the body's start.
 */

static ngx_int_t
ngx_http_ci_jobs_process_refusal(ngx_http_request_t *r)
{
    off_t                         len;
    ngx_int_t                     rc;
    ngx_http_upstream_t          *u;
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);
    u = r->upstream;

    len = u->headers_in.content_length_n;

    if (!ctx->chunked_body && len > 0
        && len <= u->buffer.end - u->buffer.pos)
    {
        if (u->buffer.last - u->buffer.pos < len) {
            return NGX_AGAIN;
        }

        if (ngx_http_ci_jobs_keys_refused(u->buffer.pos, (size_t) len)) {
            rc = ngx_http_ci_jobs_source_renew(lcf->source, ctx->keys_signed);

            if (rc == NGX_OK) {
                return ngx_http_ci_jobs_retry(r, ctx);
            }

            if (rc == NGX_AGAIN
                && ngx_http_ci_jobs_park(r, ctx, lcf) == NGX_OK)
            {
                return NGX_AGAIN;
            }
        }
    }

    if (ngx_http_ci_jobs_guess_offset(ctx->date, ctx->sign_start,
                                      ctx->sign_end, &ctx->offset)
        == NGX_OK)
    {
        /* kept for the target only if the retry is accepted */
        ctx->offset_tried = 1;
        return ngx_http_ci_jobs_retry(r, ctx);
    }

    ctx->hold = NGX_HTTP_CI_JOBS_HOLD_ANSWER;

    return NGX_OK;
}


/*
 * One more try, signed anew (with new keys, or the corrected clock),
 * through the upstream module's own "next upstream" path, the only way to
 * a retry a module has (ngx_http_upstream_next() is static, reached
 * through the status process_header leaves and next_upstream).  So:
 *
 * - a 403 is made retryable in a copy of u->conf for this request only,
 *   the location's conf being every request's;
 * - the balancer is left one more try and no other: the tries are raised
 *   to 2 for the upstream module's test, and set to 1 after the
 *   balancer's free (ngx_http_ci_jobs_free_peer()), which round robin
 *   ends with tries at 0 for a single server.  That free is the one call
 *   between the test and the next try's connect.
 *
 * reinit_request then signs anew.
 */

static ngx_int_t
ngx_http_ci_jobs_retry(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx)
{
    ngx_http_upstream_t       *u;
    ngx_http_upstream_conf_t  *conf;

    u = r->upstream;

    conf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
    if (conf == NULL) {
        return NGX_ERROR;
    }

    *conf = *u->conf;
    conf->next_upstream |= NGX_HTTP_UPSTREAM_FT_HTTP_403;
    u->conf = conf;

    ctx->retried = 1;
    ctx->free_peer = u->peer.free;
    ctx->peer_data = u->peer.data;

    u->peer.free = ngx_http_ci_jobs_free_peer;
    u->peer.data = r;
    u->peer.tries = ngx_max(u->peer.tries, 2);

    u->headers_in.status_n = NGX_HTTP_FORBIDDEN;

    return NGX_OK;
}


/*
 * The keys' renewal is under way: the request waits for it
 * (ngx_http_ci_jobs_renewal.c), then is sent again on an upstream made
 * anew (ngx_http_ci_jobs_upstream_again()), its one more try.  The
 * upstream module waits meanwhile as for the rest of a header: the
 * refusal stays unanswered in its buffer, and nothing more is read from
 * CI's connection (its recv says there is nothing yet), whose timeout is
 * the wait's own.  A buffer already full would be taken for too large a
 * header: that refusal is passed on.
 */

static ngx_int_t
ngx_http_ci_jobs_park(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_connection_t     *c;
    ngx_http_upstream_t  *u;

    u = r->upstream;
    c = u->peer.connection;

    if (c == NULL || u->buffer.last == u->buffer.end) {
        return NGX_DECLINED;
    }

    if (ngx_http_ci_jobs_renewal_wait(r, lcf->source, ctx->keys_signed,
                                      ngx_http_ci_jobs_upstream_again)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ctx->retried = 1;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    c->recv = ngx_http_ci_jobs_parked_recv;
    u->process_header = ngx_http_ci_jobs_parked_header;
    u->read_event_handler = ngx_http_ci_jobs_parked;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_parked_header(ngx_http_request_t *r)
{
    return NGX_AGAIN;
}


static ssize_t
ngx_http_ci_jobs_parked_recv(ngx_connection_t *c, u_char *buf, size_t size)
{
    return NGX_AGAIN;
}


/* CI closing, or sending more: nothing is read, and no event repeats */

static void
ngx_http_ci_jobs_parked(ngx_http_request_t *r, ngx_http_upstream_t *u)
{
    ngx_event_t  *rev;

    rev = u->peer.connection->read;
    rev->timedout = 0;

    (void) ngx_handle_read_event(rev, 0);
}


/* the balancer's own free, then the refusal's one try */

static void
ngx_http_ci_jobs_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_request_t  *r = data;

    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    pc->free = ctx->free_peer;
    pc->data = ctx->peer_data;

    pc->free(pc, pc->data, state);

    pc->tries = 1;
}


static ngx_int_t
ngx_http_ci_jobs_content_length(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value)
{
    off_t                 n;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    n = ngx_atoof(value->data, value->len);

    if (n == NGX_ERROR
        || (u->headers_in.content_length_n != -1
            && u->headers_in.content_length_n != n))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent invalid "
                      "\"Content-Length\" header");
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    u->headers_in.content_length_n = n;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_transfer_encoding(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value)
{
    if (!ngx_http_ci_jobs_value_is(value, "chunked")) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent unknown "
                      "\"Transfer-Encoding\" \"%V\"", value);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    ctx->chunked_body = 1;

    return NGX_OK;
}


/* no Accept-Encoding is sent: anything but identity is an error */

static ngx_int_t
ngx_http_ci_jobs_content_encoding(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value)
{
    if (!ngx_http_ci_jobs_value_is(value, "identity")) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent an encoded body \"%V\"",
                      value);
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_connection(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value)
{
    if (ngx_strlcasestrn(value->data, value->data + value->len,
                         (u_char *) "close", sizeof("close") - 2)
        != NULL)
    {
        r->upstream->headers_in.connection_close = 1;
    }

    return NGX_OK;
}


/* application/xml, text/xml, or any +xml type, with parameters */

static ngx_int_t
ngx_http_ci_jobs_content_type(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value)
{
    ctx->xml_content_type = ngx_http_ci_jobs_is_xml_type(value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_date(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_str_t *value)
{
    ctx->date = ngx_parse_http_time(value->data, value->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_ci_request_id(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *value)
{
    if (!ngx_http_ci_jobs_is_request_id(value)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ci_jobs: upstream sent an \"x-ci-request-id\" "
                      "that is not a token, not passed on");
        return NGX_OK;
    }

    ctx->ci_request_id.data = ngx_pstrdup(r->pool, value);
    if (ctx->ci_request_id.data == NULL) {
        return NGX_ERROR;
    }

    ctx->ci_request_id.len = value->len;

    return NGX_OK;
}


/* CI's request ids are base64: passed on only when they look like one */

static ngx_uint_t
ngx_http_ci_jobs_is_request_id(ngx_str_t *value)
{
    u_char  *p, *last;

    /* besides letters and digits, both base64 alphabets' symbols and "=" */

    static u_char  symbols[] = "+/=-_";

    if (value->len == 0 || value->len > NGX_HTTP_CI_JOBS_MAX_REQUEST_ID) {
        return 0;
    }

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if (!ngx_http_ci_jobs_is_alnum(*p)
            && ngx_strlchr(symbols, symbols + sizeof(symbols) - 1, *p) == NULL)
        {
            return 0;
        }
    }

    return 1;
}


static ngx_uint_t
ngx_http_ci_jobs_is_xml_type(ngx_str_t *value)
{
    u_char  *p, *last;

    last = value->data + value->len;
    p = ngx_strlchr(value->data, last, ';');

    if (p != NULL) {
        last = p;
    }

    while (last > value->data && last[-1] == ' ') {
        last--;
    }

    p = value->data;

    if ((last - p == sizeof("application/xml") - 1
         && ngx_strncasecmp(p, (u_char *) "application/xml", last - p) == 0)
        || (last - p == sizeof("text/xml") - 1
            && ngx_strncasecmp(p, (u_char *) "text/xml", last - p) == 0))
    {
        return 1;
    }

    return last - p > 4 && ngx_strncasecmp(last - 4, (u_char *) "+xml", 4)
                           == 0;
}


static void
ngx_http_ci_jobs_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abort ci_jobs request");
    return;
}


/*
 * Called before nginx finishes the request.  When the answer failed after
 * its header was read, the client has still seen nothing: the header
 * filter (ngx_http_ci_jobs_filter.c) holds it.  The hold is let go, and
 * u->header_sent cleared, so that nginx answers with the error status
 * instead, which the header filter then writes in CI's error shape.  This
 * leans on the order of ngx_http_upstream_finalize_request(): it calls
 * this handler before it looks at header_sent, which, set, would end the
 * request with nothing sent.  The upstream module has no call for "the
 * header was not sent after all".
 */

static void
ngx_http_ci_jobs_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_ci_jobs_ctx_t  *ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "finalize ci_jobs request: %i", rc);

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx != NULL) {
        ngx_http_ci_jobs_renewal_leave(ctx);

        if (ctx->replaced) {
            ctx->replaced = 0;
            return;
        }
    }

    ngx_http_ci_jobs_count_upstream(r, ctx, rc);

    if (ctx != NULL && ctx->hold == NGX_HTTP_CI_JOBS_HOLD_ANSWER
        && rc >= NGX_HTTP_SPECIAL_RESPONSE)
    {
        ctx->hold = NGX_HTTP_CI_JOBS_HOLD_NONE;
        r->upstream->header_sent = 0;
    }
}


static ngx_int_t
ngx_http_ci_jobs_input_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    off_t                    n;
    ngx_int_t                rc;
    ngx_http_upstream_t     *u;
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    u = r->upstream;

    n = u->headers_in.content_length_n;

    if (ctx->chunked_body) {
        /* anything but 0 or -1: the end is the last chunk, not EOF */
        u->length = 1;

    } else {
        u->length = n;

        if (n == 0) {
            u->keepalive = !u->headers_in.connection_close;
        }
    }

    if (ctx->body != NULL) {
        return NGX_OK;
    }

    rc = ngx_http_ci_jobs_body_buf(r, ctx,
                                   n > 0 ? (size_t) n
                                         : NGX_HTTP_CI_JOBS_BODY_MIN,
                                   &ctx->body);

    if (rc == NGX_DECLINED) {
        u->error = 1;
        return NGX_OK;
    }

    return rc;
}


/*
 * bytes new bytes are at u->buffer.last; they are copied into ctx->body.
 * A body over the limit or a broken chunk sets u->error instead of
 * returning NGX_ERROR, so that nginx answers 502 rather than dropping the
 * connection.
 */

static ngx_int_t
ngx_http_ci_jobs_input_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    ngx_buf_t               *buf;
    ngx_uint_t               extra;
    ngx_http_upstream_t     *u;
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    u = r->upstream;
    buf = &u->buffer;

    buf->pos = buf->last;
    buf->last += bytes;

    if (u->error) {
        buf->pos = buf->last;
        return NGX_OK;
    }

    if (ctx->chunked_body) {
        return ngx_http_ci_jobs_chunked_filter(r, ctx, buf);
    }

    extra = (u->length != -1 && bytes > u->length);

    if (extra) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ci_jobs: upstream sent more data than specified in "
                      "\"Content-Length\" header");
        bytes = u->length;
    }

    if (ngx_http_ci_jobs_append(r, ctx, buf->pos, bytes) != NGX_OK) {
        return NGX_ERROR;
    }

    buf->pos = buf->last;

    if (u->length != -1) {
        u->length -= bytes;

        if (u->length == 0) {
            u->keepalive = !extra && !u->headers_in.connection_close;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_chunked_filter(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_buf_t *buf)
{
    size_t                len;
    ngx_int_t             rc;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    for ( ;; ) {

#if (nginx_version >= 1027002)
        /* trailers, if any, are dropped with the rest of upstream's headers */
        rc = ngx_http_parse_chunked(r, buf, &ctx->chunked, 0);
#else
        rc = ngx_http_parse_chunked(r, buf, &ctx->chunked);
#endif

        if (rc == NGX_OK) {

            /* a part of a chunk's data is in the buffer */

            len = ngx_min((off_t) (buf->last - buf->pos), ctx->chunked.size);

            if (ngx_http_ci_jobs_append(r, ctx, buf->pos, len) != NGX_OK) {
                return NGX_ERROR;
            }

            buf->pos += len;
            ctx->chunked.size -= len;

            if (u->error) {
                buf->pos = buf->last;
                return NGX_OK;
            }

            continue;
        }

        if (rc == NGX_DONE) {
            u->keepalive = !u->headers_in.connection_close;
            u->length = 0;

            if (buf->pos != buf->last) {
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "ci_jobs: upstream sent data after final chunk");
                u->keepalive = 0;
            }

            buf->pos = buf->last;
            return NGX_OK;
        }

        if (rc == NGX_AGAIN) {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent invalid chunked response");

        ctx->upstream_error = NGX_HTTP_CI_JOBS_UPSTREAM_MALFORMED;
        u->error = 1;
        buf->pos = buf->last;

        return NGX_OK;
    }
}


static ngx_int_t
ngx_http_ci_jobs_append(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    u_char *data, size_t len)
{
    size_t                        size, used;
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    b = ctx->body;
    used = b->last - b->pos;

    if ((size_t) (b->end - b->last) < len) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

        if (used + len > lcf->max_body_size) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ci_jobs: upstream body is larger than "
                          "ci_jobs_max_body_size %uz", lcf->max_body_size);
            ctx->upstream_error = NGX_HTTP_CI_JOBS_UPSTREAM_OVERSIZE;
            r->upstream->error = 1;
            return NGX_OK;
        }

        size = ngx_max(2 * (size_t) (b->end - b->start), used + len);
        size = ngx_min(size, lcf->max_body_size);

        rc = ngx_http_ci_jobs_body_buf(r, ctx, size, &b);

        if (rc == NGX_DECLINED) {
            r->upstream->error = 1;
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        b->last = ngx_cpymem(b->pos, ctx->body->pos, used);

        ngx_http_ci_jobs_let_go(ctx->held, ctx->body->end - ctx->body->start);

        ngx_pfree(r->pool, ctx->body->start);
        ctx->body = b;
    }

    b->last = ngx_cpymem(b->last, data, len);

    return NGX_OK;
}


/*
 * A buffer for the body, counted in what the worker and the connection
 * hold; NGX_DECLINED when either holds too much already (the answer is
 * then a 502, or a 503 SlowDown for the connection, and nothing is held
 * for it).
 */

static ngx_int_t
ngx_http_ci_jobs_body_buf(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    size_t size, ngx_buf_t **bp)
{
    ngx_int_t  rc;

    rc = ngx_http_ci_jobs_hold(r, size, &ctx->held);

    if (rc == NGX_BUSY) {
        ngx_http_ci_jobs_slow_down(ctx);
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return rc;
    }

    *bp = ngx_create_temp_buf(r->pool, size);
    if (*bp == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A JSON answer is sent from its rendering: the body goes back to the
 * pool, and the rendering counts in its place in what the worker holds.
 */

void
ngx_http_ci_jobs_body_done(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    size_t rendering)
{
    ngx_http_ci_jobs_held_replace(ctx->held, ctx->body->end - ctx->body->start,
                                  rendering);

    ngx_pfree(r->pool, ctx->body->start);
    ctx->body = NULL;
}
