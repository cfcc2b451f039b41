
/*
 * The answers the module writes itself, and what every answer of a gateway
 * location shares with upstream's:
 *
 * - the format, XML or JSON, negotiated from Accept;
 * - the headers every answer carries (x-ci-request-id, Content-Type, Vary);
 * - the body of an answer, and of an error in CI's error shape;
 * - a refusal, counted and kept for the header filter to write.
 *
 * Nothing here sends: the answer stage (ngx_http_ci_jobs_answer.c) and
 * the filters (ngx_http_ci_jobs_filter.c) do.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"
#include "ngx_http_ci_jobs_counters.h"


typedef struct {
    ngx_uint_t                status;
    ngx_http_ci_jobs_code_e   code;
    char                     *message;
} ngx_http_ci_jobs_error_t;


static ngx_int_t ngx_http_ci_jobs_is_range(u_char *range, u_char *end,
    const char *type);
static ngx_int_t ngx_http_ci_jobs_qvalue(u_char *p, u_char *last);
static void ngx_http_ci_jobs_request_id(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_ci_jobs_request_id_header(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_int_t ngx_http_ci_jobs_set_headers(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t len);
static ngx_chain_t *ngx_http_ci_jobs_chain_of(ngx_pool_t *pool,
    ngx_buf_t *b);


static ngx_http_ci_jobs_error_t  ngx_http_ci_jobs_errors[] = {
    { NGX_HTTP_BAD_REQUEST, NGX_HTTP_CI_JOBS_INVALID_ARGUMENT,
      "invalid request" },
    { NGX_HTTP_UNAUTHORIZED, NGX_HTTP_CI_JOBS_ACCESS_DENIED,
      "authorization required" },
    { NGX_HTTP_FORBIDDEN, NGX_HTTP_CI_JOBS_ACCESS_DENIED,
      "access denied" },
    { NGX_HTTP_NOT_FOUND, NGX_HTTP_CI_JOBS_NO_SUCH_API,
      "no such API" },
    { NGX_HTTP_NOT_ALLOWED, NGX_HTTP_CI_JOBS_METHOD_NOT_ALLOWED,
      "only GET is allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, NGX_HTTP_CI_JOBS_REQUEST_TIMEOUT,
      "request timed out" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, NGX_HTTP_CI_JOBS_INVALID_ARGUMENT,
      "request URI too long" },
    { NGX_HTTP_TOO_MANY_REQUESTS, NGX_HTTP_CI_JOBS_TOO_MANY_REQUESTS,
      "too many requests" },
    { NGX_HTTP_BAD_GATEWAY, NGX_HTTP_CI_JOBS_BAD_GATEWAY,
      "the CI service did not give a valid answer" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, NGX_HTTP_CI_JOBS_SERVICE_UNAVAILABLE,
      "service unavailable" },
    { NGX_HTTP_GATEWAY_TIME_OUT, NGX_HTTP_CI_JOBS_GATEWAY_TIMEOUT,
      "the CI service did not answer in time" },
    { 0, NGX_HTTP_CI_JOBS_INTERNAL_ERROR, "internal error" }
};


/*
 * "ci_jobs_json auto": JSON when Accept asks for application/json with a
 * q-value above zero and no lower than that of application/xml or
 * text/xml.  "*\/\*" and the like leave the answer in XML, as upstream has
 * it.
 */

ngx_int_t
ngx_http_ci_jobs_wants_json(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_int_t                      q, json_q, xml_q;
    u_char                        *p, *last, *range, *range_end;
    ngx_table_elt_t               *h;
    ngx_http_ci_jobs_list_walk_t   w;

    if (lcf->json != NGX_HTTP_CI_JOBS_JSON_AUTO) {
        return lcf->json == NGX_HTTP_CI_JOBS_JSON_ON;
    }

    json_q = 0;
    xml_q = 0;

    for (h = ngx_http_ci_jobs_list_first(&w, &r->headers_in.headers);
         h != NULL;
         h = ngx_http_ci_jobs_list_next(&w))
    {
        if (h->key.len != sizeof("Accept") - 1
            || ngx_strncasecmp(h->key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) != 0)
        {
            continue;
        }

        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {

            /* one media range: "type/subtype *( ; param )" up to "," */

            while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
                p++;
            }

            range = p;

            while (p < last && *p != ';' && *p != ',' && *p != ' '
                   && *p != '\t')
            {
                p++;
            }

            range_end = p;
            q = 1000;

            while (p < last && *p != ',') {
                if (*p == ';') {
                    p++;

                    while (p < last && (*p == ' ' || *p == '\t')) {
                        p++;
                    }

                    if (last - p > 2 && (p[0] == 'q' || p[0] == 'Q')
                        && p[1] == '=')
                    {
                        q = ngx_http_ci_jobs_qvalue(p + 2, last);
                    }

                    continue;
                }

                p++;
            }

            if (ngx_http_ci_jobs_is_range(range, range_end,
                                          "application/json"))
            {
                json_q = ngx_max(json_q, q);

            } else if (ngx_http_ci_jobs_is_range(range, range_end,
                                                 "application/xml")
                       || ngx_http_ci_jobs_is_range(range, range_end,
                                                    "text/xml"))
            {
                xml_q = ngx_max(xml_q, q);
            }
        }
    }

    return json_q > 0 && json_q >= xml_q;
}


static ngx_int_t
ngx_http_ci_jobs_is_range(u_char *range, u_char *end, const char *type)
{
    size_t  len;

    len = ngx_strlen(type);

    return (size_t) (end - range) == len
           && ngx_strncasecmp(range, (u_char *) type, len) == 0;
}


/* "0", "0.5", "1.000": thousandths; anything else counts as 1 */

static ngx_int_t
ngx_http_ci_jobs_qvalue(u_char *p, u_char *last)
{
    ngx_int_t   q, scale;

    if (p >= last || (*p != '0' && *p != '1')) {
        return 1000;
    }

    q = (*p++ - '0') * 1000;

    if (p < last && *p == '.') {
        p++;

        for (scale = 100; scale && p < last && *p >= '0' && *p <= '9';
             scale /= 10)
        {
            q += (*p++ - '0') * scale;
        }
    }

    return ngx_min(q, 1000);
}


/*
 * The headers of an answer of CI's, fresh or cached.  Upstream's request
 * id; when upstream sent none that could be passed on, nginx's
 * $request_id, so that every answer carries one.
 */

ngx_int_t
ngx_http_ci_jobs_answer_headers(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t len)
{
    ngx_str_t  id;

    id = ctx->ci_request_id;

    if (id.len == 0) {
        ngx_http_ci_jobs_request_id(r, &id);
    }

    if (ngx_http_ci_jobs_request_id_header(r, &id) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ci_jobs_set_headers(r, ctx, len);
}


/*
 * The body of an answer, whole, in one buffer: the buffer and its link
 * in one allocation, the buffer zeroed inline (ngx_calloc_buf() calls
 * memset()).
 */

ngx_chain_t *
ngx_http_ci_jobs_answer_body(ngx_http_request_t *r, ngx_str_t *out)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    cl = ngx_palloc(r->pool, sizeof(ngx_chain_t) + sizeof(ngx_buf_t));
    if (cl == NULL) {
        return NULL;
    }

    b = (ngx_buf_t *) (cl + 1);
    ngx_memzero(b, sizeof(ngx_buf_t));

    b->pos = out->data;
    b->last = out->data + out->len;
    b->memory = (out->len != 0);
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


/* a chain of the one buffer b */

static ngx_chain_t *
ngx_http_ci_jobs_chain_of(ngx_pool_t *pool, ngx_buf_t *b)
{
    ngx_chain_t  *cl;

    cl = ngx_alloc_chain_link(pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


/*
 * A request refused with status, CI's code and a message: only counted
 * and kept here, the header filter writes the answer, as it turns every
 * error page of a gateway request into CI's error shape.
 */

ngx_int_t
ngx_http_ci_jobs_refuse(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_int_t status, ngx_http_ci_jobs_code_e code, const char *message)
{
    ctx->error_status = status;
    ctx->error_code = code;
    ctx->error_message = message;

    ngx_http_ci_jobs_count_refusal(code);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ci_jobs refused: %i %V \"%s\"",
                   status, &ngx_http_ci_jobs_code_names[code], message);

    return status;
}


/*
 * An error page of a gateway location in CI's error shape: its headers
 * are set, its body is returned, for the header filter to send in place
 * of nginx's own page.
 */

ngx_chain_t *
ngx_http_ci_jobs_error_answer(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status)
{
    ngx_str_t   id;
    ngx_buf_t  *b;

    static ngx_str_t  retry_after = ngx_string("Retry-After");
    static ngx_str_t  one = ngx_string("1");

    b = ngx_http_ci_jobs_error_body(r, ctx, status);
    if (b == NULL) {
        return NULL;
    }

    /* the RequestId of the body, as CI's own errors have it */

    ngx_http_ci_jobs_request_id(r, &id);

    if (ngx_http_ci_jobs_request_id_header(r, &id) != NGX_OK
        || ngx_http_ci_jobs_set_headers(r, ctx, b->last - b->pos) != NGX_OK)
    {
        return NULL;
    }

    /* SlowDown: once the client has read what it asked for before */

    if (ctx->error_status == status
        && ctx->error_code == NGX_HTTP_CI_JOBS_SLOW_DOWN)
    {
        if (ngx_http_ci_jobs_add_header(r, &retry_after, &one) == NULL) {
            return NULL;
        }
    }

    return ngx_http_ci_jobs_chain_of(r->pool, b);
}


/*
 * An answer the gateway makes alone (a stream of events) carries an
 * x-ci-request-id too: nginx's $request_id.
 */

ngx_int_t
ngx_http_ci_jobs_own_request_id(ngx_http_request_t *r)
{
    ngx_str_t  id;

    ngx_http_ci_jobs_request_id(r, &id);

    return ngx_http_ci_jobs_request_id_header(r, &id);
}


/* nginx's $request_id: 32 hexadecimal digits */

static void
ngx_http_ci_jobs_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    ngx_http_variable_value_t     *vv;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);

    vv = ngx_http_get_indexed_variable(r, cmcf->request_id_index);

    if (vv == NULL || vv->not_found) {
        ngx_str_null(id);

    } else {
        id->data = vv->data;
        id->len = vv->len;
    }
}


static ngx_int_t
ngx_http_ci_jobs_request_id_header(ngx_http_request_t *r, ngx_str_t *id)
{
    static ngx_str_t  name = ngx_string("x-ci-request-id");

    if (id->len == 0) {
        return NGX_OK;
    }

    if (ngx_http_ci_jobs_add_header(r, &name, id) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * One more header of the answer; its key and value stay the caller's
 * (literals, or the request's pool).  NULL when out of memory.
 */

ngx_table_elt_t *
ngx_http_ci_jobs_add_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
    h->key = *key;
    h->value = *value;

    return h;
}


/* the body of an error in CI's shape, in the answer's format (ctx->json) */

ngx_buf_t *
ngx_http_ci_jobs_error_body(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status)
{
    size_t                     len;
    ngx_str_t                  code, message, request_id;
    ngx_buf_t                 *b;
    ngx_http_ci_jobs_error_t  *e;

    for (e = ngx_http_ci_jobs_errors; e->status; e++) {
        if (e->status == status) {
            break;
        }
    }

    if (e->status == 0 && status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        e = &ngx_http_ci_jobs_errors[0];
    }

    code = ngx_http_ci_jobs_code_names[e->code];
    message.data = (u_char *) e->message;

    /* the content handler's refusal says more than the status alone */

    if (ctx->error_status && ctx->error_status == status) {
        code = ngx_http_ci_jobs_code_names[ctx->error_code];
        message.data = (u_char *) ctx->error_message;
    }

    message.len = ngx_strlen(message.data);

    ngx_http_ci_jobs_request_id(r, &request_id);

    /* the code and the request id are [A-Za-z0-9]; the message is ours */

    if (ctx->json) {
        len = sizeof("{\"Error\":{\"Code\":\"\",\"Message\":\"\","
                     "\"RequestId\":\"\"}}") - 1
              + code.len + 6 * message.len + request_id.len;

    } else {
        len = sizeof("<Error><Code></Code><Message></Message>"
                     "<RequestId></RequestId></Error>") - 1
              + code.len
              + message.len + ngx_escape_html(NULL, message.data, message.len)
              + request_id.len;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    if (ctx->json) {
        b->last = ngx_sprintf(b->last, "{\"Error\":{\"Code\":\"%V\","
                              "\"Message\":\"", &code);
        b->last = ngx_http_ci_jobs_json_escape(b->last, message.data,
                                               message.len);
        b->last = ngx_sprintf(b->last, "\",\"RequestId\":\"%V\"}}",
                              &request_id);

    } else {
        b->last = ngx_sprintf(b->last, "<Error><Code>%V</Code><Message>",
                              &code);
        b->last = (u_char *) ngx_escape_html(b->last, message.data,
                                             message.len);
        b->last = ngx_sprintf(b->last, "</Message><RequestId>%V</RequestId>"
                              "</Error>", &request_id);
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return b;
}


/*
 * The headers of every answer, upstream's or an error, but its request
 * id: a body of len bytes, the module's own, in place of any other.
 */

static ngx_int_t
ngx_http_ci_jobs_set_headers(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t len)
{
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    static ngx_str_t  vary = ngx_string("Vary");
    static ngx_str_t  accept = ngx_string("Accept");

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (lcf->json == NGX_HTTP_CI_JOBS_JSON_AUTO) {
        if (ngx_http_ci_jobs_add_header(r, &vary, &accept) == NULL) {
            return NGX_ERROR;
        }
    }

    /*
     * As nginx keeps a type with its charset: content_type_len is the
     * type's alone, which gzip_types and the other *_types match.
     */

    if (ctx->json) {
        ngx_str_set(&r->headers_out.content_type,
                    "application/json; charset=utf-8");
        r->headers_out.content_type_len = sizeof("application/json") - 1;
        ngx_str_set(&r->headers_out.charset, "utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/xml");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        ngx_str_null(&r->headers_out.charset);
    }

    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return NGX_OK;
}
