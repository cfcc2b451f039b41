
/*
 * What comes back: the header and body filters of gateway locations.
 *
 * - An upstream answer's header is held until its whole body is in; the
 *   body is then checked (and converted) in one pass, and sent with its
 *   header, or replaced by a 502 when it is not a well-formed answer.
 * - Every error page of a gateway location, whether nginx's own (502,
 *   504, an access-phase 403) or a refusal of the content handler, is
 *   rewritten into CI's error shape, in XML or JSON.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_metrics.h"


typedef struct {
    ngx_uint_t   status;
    ngx_str_t    code;
    char        *message;
} ngx_http_ci_jobs_error_t;


static ngx_int_t ngx_http_ci_jobs_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_ci_jobs_send_answer(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx);
static ngx_int_t ngx_http_ci_jobs_send_stale(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t status);
static int ngx_http_ci_jobs_render(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_xml_result_t *res,
    ngx_str_t *out, ngx_uint_t ids);
static ngx_int_t ngx_http_ci_jobs_output(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *out, ngx_uint_t from_filter);
static ngx_int_t ngx_http_ci_jobs_error_header(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_ci_jobs_request_id_header(ngx_http_request_t *r,
    ngx_str_t *id);
static void ngx_http_ci_jobs_request_id(ngx_http_request_t *r,
    ngx_str_t *id);
static ngx_buf_t *ngx_http_ci_jobs_error_body(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_ci_jobs_set_headers(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t len);
static void *ngx_http_ci_jobs_palloc(void *pool, size_t size);
static void ngx_http_ci_jobs_pfree(void *pool, void *p);
static ngx_int_t ngx_http_ci_jobs_is_range(u_char *range, u_char *end,
    const char *type);
static ngx_int_t ngx_http_ci_jobs_qvalue(u_char *p, u_char *last);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_http_ci_jobs_error_t  ngx_http_ci_jobs_errors[] = {
    { NGX_HTTP_BAD_REQUEST, ngx_string("InvalidArgument"),
      "invalid request" },
    { NGX_HTTP_UNAUTHORIZED, ngx_string("AccessDenied"),
      "authorization required" },
    { NGX_HTTP_FORBIDDEN, ngx_string("AccessDenied"),
      "access denied" },
    { NGX_HTTP_NOT_FOUND, ngx_string("NoSuchApi"),
      "no such API" },
    { NGX_HTTP_NOT_ALLOWED, ngx_string("MethodNotAllowed"),
      "only GET is allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, ngx_string("RequestTimeout"),
      "request timed out" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, ngx_string("InvalidArgument"),
      "request URI too long" },
    { NGX_HTTP_TOO_MANY_REQUESTS, ngx_string("TooManyRequests"),
      "too many requests" },
    { NGX_HTTP_BAD_GATEWAY, ngx_string("BadGateway"),
      "the CI service did not give a valid answer" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, ngx_string("ServiceUnavailable"),
      "service unavailable" },
    { NGX_HTTP_GATEWAY_TIME_OUT, ngx_string("GatewayTimeout"),
      "the CI service did not answer in time" },
    { 0, ngx_string("InternalError"), "internal error" }
};


ngx_int_t
ngx_http_ci_jobs_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_ci_jobs_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ci_jobs_body_filter;

    return NGX_OK;
}


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
    ngx_uint_t        i;
    ngx_int_t         q, json_q, xml_q;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    u_char           *p, *last, *range, *range_end;

    if (lcf->json != NGX_HTTP_CI_JOBS_JSON_AUTO) {
        return lcf->json == NGX_HTTP_CI_JOBS_JSON_ON;
    }

    json_q = 0;
    xml_q = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Accept") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

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


static ngx_int_t
ngx_http_ci_jobs_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_uint_t                    status;
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    if (!lcf->enable) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx != NULL && ctx->upstream_header && r->err_status == 0) {
        ctx->header_held = 1;
        return NGX_OK;
    }

    status = r->headers_out.status;

    if (status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx == NULL) {
        /* an error before the content handler: access phase, limits */

        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ci_jobs_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ctx->json = ngx_http_ci_jobs_wants_json(r, lcf);

        ngx_http_set_ctx(r, ctx, ngx_http_ci_jobs_module);
    }

    if (ctx->cache_lock || ctx->cache_key.len) {
        rc = ngx_http_ci_jobs_send_stale(r, ctx, lcf, status);

        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_ci_jobs_error_header(r, ctx, status);
}


/*
 * nginx's 502 (upstream failed) or 504 (timed out) of a cached request:
 * with ci_jobs_cache_use_stale, the expired entry, if the zone still has
 * it, is the answer.  The lock, held or not, is released either way.
 */

static ngx_int_t
ngx_http_ci_jobs_send_stale(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t status)
{
    int                             rc;
    ngx_uint_t                      use;
    ngx_str_t                       out;
    ngx_buf_t                      *b;
    ngx_table_elt_t                *h;
    ngx_http_ci_jobs_xml_result_t   res;

    ngx_http_ci_jobs_cache_unlock(ctx, lcf);

    use = (status == NGX_HTTP_BAD_GATEWAY) ? NGX_HTTP_CI_JOBS_STALE_ERROR
          : (status == NGX_HTTP_GATEWAY_TIME_OUT)
            ? NGX_HTTP_CI_JOBS_STALE_TIMEOUT : 0;

    if (!(lcf->cache_use_stale & use)
        || ngx_http_ci_jobs_cache_stale(r, ctx, lcf) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (ctx->json) {
        rc = ngx_http_ci_jobs_render(r, ctx, &res, &out, 0);

        if (rc != NGX_HTTP_CI_JOBS_XML_OK) {
            return NGX_DECLINED;
        }

    } else {
        out.data = ctx->body->pos;
        out.len = ctx->body->last - ctx->body->pos;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: upstream failed (%ui), a stale answer is served",
                  status);

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = out.data;
    b->last = out.data + out.len;
    b->memory = (out.len != 0);
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->error_out = ngx_alloc_chain_link(r->pool);
    if (ctx->error_out == NULL) {
        return NGX_ERROR;
    }

    ctx->error_out->buf = b;
    ctx->error_out->next = NULL;
    ctx->replace_body = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.status_line.len = 0;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (ctx->ci_request_id.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "x-ci-request-id");
        h->value = ctx->ci_request_id;
    }

    if (ngx_http_ci_jobs_set_headers(r, ctx, out.len) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_ci_jobs_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_uint_t               last;
    ngx_chain_t             *cl;
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL || !(ctx->header_held || ctx->replace_body)) {
        return ngx_http_next_body_filter(r, in);
    }

    /*
     * What nginx sends here is not sent: nginx's error page, or nothing.
     * A subrequest's output ends with last_in_chain, not last_buf.
     */

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;

        if (cl->buf->last_buf || (r != r->main && cl->buf->last_in_chain)) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    if (ctx->replace_body) {
        ctx->replace_body = 0;
        return ngx_http_next_body_filter(r, ctx->error_out);
    }

    ctx->header_held = 0;

    return ngx_http_ci_jobs_send_answer(r, ctx);
}


/* the whole upstream body is in ctx->body; the header is held */

static ngx_int_t
ngx_http_ci_jobs_send_answer(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx)
{
    int                             rc, store;
    ngx_int_t                       hrc;
    ngx_str_t                       out;
    ngx_http_ci_jobs_loc_conf_t    *lcf;
    ngx_http_ci_jobs_xml_result_t   res;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    ngx_http_ci_jobs_diagnose(r, ctx, lcf);

    rc = ngx_http_ci_jobs_render(r, ctx, &res, &out, 1);

    if (rc == NGX_HTTP_CI_JOBS_XML_NOMEM) {
        ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        return NGX_ERROR;
    }

    if (rc == NGX_HTTP_CI_JOBS_XML_OK && ctx->json && !ctx->xml_content_type)
    {
        rc = NGX_HTTP_CI_JOBS_XML_ERROR;
        res.error = "the content type is not XML";
    }

    if (rc != NGX_HTTP_CI_JOBS_XML_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: upstream sent a malformed body (status %ui, "
                      "%uz bytes): %s", r->headers_out.status,
                      (size_t) (ctx->body->last - ctx->body->pos),
                      res.error ? res.error : "not XML");

        ctx->upstream_error = NGX_HTTP_CI_JOBS_UPSTREAM_MALFORMED;

        r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
        r->headers_out.status_line.len = 0;

        ngx_http_ci_jobs_cache_unlock(ctx, lcf);

        hrc = ngx_http_ci_jobs_error_header(r, ctx, NGX_HTTP_BAD_GATEWAY);

        ctx->replace_body = 0;

        if (hrc == NGX_ERROR || hrc > NGX_OK || r->header_only) {
            return hrc;
        }

        return ngx_http_next_body_filter(r, ctx->error_out);
    }

    if (ctx->cache_key.len) {
        store = ngx_http_ci_jobs_cache_storable(ctx->req.api, ctx->req.nids,
                                                r->headers_out.status, &res);

        if (store == NGX_HTTP_CI_JOBS_STORE_TERMINAL
            || (store == NGX_HTTP_CI_JOBS_STORE_PENDING
                && lcf->cache_valid_pending))
        {
            ngx_http_ci_jobs_cache_store(r, ctx, lcf,
                                         store
                                         == NGX_HTTP_CI_JOBS_STORE_PENDING);

        } else {
            ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        }
    }

    if (ctx->json) {
        /* what is held from here on is the rendering, not the body */
        ngx_http_ci_jobs_body_done(r, ctx, out.len);
    }

    return ngx_http_ci_jobs_output(r, ctx, &out, 1);
}


/* a cache hit, from the content handler: the XML is known to be good */

ngx_int_t
ngx_http_ci_jobs_send_cached(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx)
{
    int                             rc;
    ngx_str_t                       out;
    ngx_http_ci_jobs_xml_result_t   res;

    r->headers_out.status = NGX_HTTP_OK;

    if (ctx->json) {
        rc = ngx_http_ci_jobs_render(r, ctx, &res, &out, 0);

        if (rc != NGX_HTTP_CI_JOBS_XML_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        out.data = ctx->body->pos;
        out.len = ctx->body->last - ctx->body->pos;
    }

    return ngx_http_ci_jobs_output(r, ctx, &out, 0);
}


/*
 * One pass over ctx->body: checks it, reads the job states (and with ids,
 * which of the ids asked for it names), and writes the JSON rendering when
 * the answer is to be JSON.
 */

static int
ngx_http_ci_jobs_render(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_xml_result_t *res, ngx_str_t *out, ngx_uint_t ids)
{
    int                           rc;
    ngx_http_ci_jobs_loc_conf_t  *lcf;
    ngx_http_ci_jobs_xml_conf_t   xc;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    ngx_memzero(&xc, sizeof(ngx_http_ci_jobs_xml_conf_t));
    ngx_memzero(res, sizeof(ngx_http_ci_jobs_xml_result_t));

    xc.array_names = lcf->array_names;
    xc.narray_names = lcf->narray_names;
    xc.json = ctx->json;
    xc.alloc = ngx_http_ci_jobs_palloc;
    xc.free = ngx_http_ci_jobs_pfree;
    xc.alloc_data = r->pool;

    if (ids && ctx->req.api != NGX_HTTP_CI_JOBS_API_LIST) {
        xc.ids = ctx->req.ids;
        xc.ids_len = ctx->req.ids_len;
    }

    rc = ngx_http_ci_jobs_xml_parse(ctx->body->pos,
                                    ctx->body->last - ctx->body->pos,
                                    &xc, res);

    if (ctx->json) {
        out->data = res->json;
        out->len = res->json_len;

    } else {
        out->data = ctx->body->pos;
        out->len = ctx->body->last - ctx->body->pos;
    }

    return rc;
}


/*
 * Sends an answer whole: through the filters after this one when called
 * from a filter, through all of them when called from the handler.
 */

static ngx_int_t
ngx_http_ci_jobs_output(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_str_t *out, ngx_uint_t from_filter)
{
    ngx_int_t     rc;
    ngx_str_t     id;
    ngx_buf_t    *b;
    ngx_chain_t   cl;

    /*
     * Upstream's request id; when upstream sent none that could be passed
     * on, nginx's $request_id, so that every answer carries one.
     */

    id = ctx->ci_request_id;

    if (id.len == 0) {
        ngx_http_ci_jobs_request_id(r, &id);
    }

    if (ngx_http_ci_jobs_request_id_header(r, &id) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_set_headers(r, ctx, out->len) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = from_filter ? ngx_http_next_header_filter(r) : ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = out->data;
    b->last = out->data + out->len;
    b->memory = (out->len != 0);
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl.buf = b;
    cl.next = NULL;

    return from_filter ? ngx_http_next_body_filter(r, &cl)
                       : ngx_http_output_filter(r, &cl);
}


static ngx_int_t
ngx_http_ci_jobs_error_header(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status)
{
    ngx_str_t   id;
    ngx_buf_t  *b;

    b = ngx_http_ci_jobs_error_body(r, ctx, status);
    if (b == NULL) {
        return NGX_ERROR;
    }

    /* the RequestId of the body, as CI's own errors have it */

    ngx_http_ci_jobs_request_id(r, &id);

    if (ngx_http_ci_jobs_request_id_header(r, &id) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->error_out = ngx_alloc_chain_link(r->pool);
    if (ctx->error_out == NULL) {
        return NGX_ERROR;
    }

    ctx->error_out->buf = b;
    ctx->error_out->next = NULL;
    ctx->replace_body = 1;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (ngx_http_ci_jobs_set_headers(r, ctx, b->last - b->pos) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
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
    ngx_table_elt_t  *h;

    if (id->len == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "x-ci-request-id");
    h->value = *id;

    return NGX_OK;
}


static ngx_buf_t *
ngx_http_ci_jobs_error_body(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status)
{
    size_t                          len;
    ngx_str_t                       code, message, request_id;
    ngx_buf_t                      *b;
    ngx_http_ci_jobs_error_t       *e;

    for (e = ngx_http_ci_jobs_errors; e->status; e++) {
        if (e->status == status) {
            break;
        }
    }

    if (e->status == 0 && status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
        e = &ngx_http_ci_jobs_errors[0];
    }

    code = e->code;
    message.data = (u_char *) e->message;

    /* the content handler's refusal says more than the status alone */

    if (ctx->error_code.len && ctx->error_status == status) {
        code = ctx->error_code;
        message.data = (u_char *) ctx->error_message;
    }

    message.len = ngx_strlen(message.data);

    ngx_http_ci_jobs_request_id(r, &request_id);

    /* the code and the request id are [A-Za-z0-9]; the message is ours */

    if (ctx->json) {
        len = sizeof("{\"Error\":{\"Code\":\"\",\"Message\":\"\","
                     "\"RequestId\":\"\"}}") - 1
              + code.len + message.len
              + ngx_escape_json(NULL, message.data, message.len)
              + request_id.len;

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
        b->last = (u_char *) ngx_escape_json(b->last, message.data,
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


/* the headers of every answer, upstream's or an error */

static ngx_int_t
ngx_http_ci_jobs_set_headers(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t len)
{
    ngx_table_elt_t              *h;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    if (lcf->json == NGX_HTTP_CI_JOBS_JSON_AUTO) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Vary");
        ngx_str_set(&h->value, "Accept");
    }

    if (ctx->json) {
        ngx_str_set(&r->headers_out.content_type,
                    "application/json; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/xml");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    return NGX_OK;
}


static void *
ngx_http_ci_jobs_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


static void
ngx_http_ci_jobs_pfree(void *pool, void *p)
{
    (void) ngx_pfree(pool, p);
}
