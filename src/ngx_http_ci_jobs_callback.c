
/*
 * ci_jobs_callback ZONE: the location where CI posts its job and
 * workflow notifications (TaskFinish, WorkflowFinish).
 *
 * CI does not sign them: anyone who finds the URL may post one.  So a
 * notification is only a hint: its ids are looked up in the zone's index
 * (ngx_http_ci_jobs_cache_ids.c), and each lookup naming one that is
 * watched or kept unfinished is woken, due for a query now
 * (ngx_http_ci_jobs_cache_wake()).  The watch's next look (at once in
 * the notified worker, within 50 ms in the others) refreshes it under
 * the key's lock, one query for the whole nginx, and a poller's next
 * lookup finds it expired; CI's answer, signed and verified as always, is
 * what watchers and pollers get.  The notification itself is never
 * stored, served or compared with anything.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_counters.h"
#include "ngx_http_ci_jobs_notification.h"


static ngx_int_t ngx_http_ci_jobs_callback_handler(ngx_http_request_t *r);
static void ngx_http_ci_jobs_callback_body(ngx_http_request_t *r);
static u_char *ngx_http_ci_jobs_callback_read(ngx_http_request_t *r,
    size_t *len);
static ngx_int_t ngx_http_ci_jobs_callback_refuse(ngx_http_request_t *r,
    ngx_int_t status, ngx_http_ci_jobs_code_e code, const char *message);
static void *ngx_http_ci_jobs_callback_palloc(void *pool, size_t size);


char *
ngx_http_ci_jobs_callback(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ci_jobs_loc_conf_t *lcf = conf;

    ngx_str_t                 *value;
    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->callback_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* a zone of size 0 until "ci_jobs_cache_zone" declares it */

    lcf->callback_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                               &ngx_http_ci_jobs_module);
    if (lcf->callback_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_ci_jobs_callback_handler;

    return NGX_CONF_OK;
}


/* from the merge, once every zone is declared */

char *
ngx_http_ci_jobs_callback_check(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_shm_zone_t            *zone;
    ngx_http_core_loc_conf_t  *clcf;

    zone = conf->callback_zone;

    if (zone == NULL) {
        return NGX_CONF_OK;
    }

    if (zone->data == NULL || !ngx_http_ci_jobs_cache_is_zone(zone)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown zone \"%V\" in \"ci_jobs_callback\": no "
                           "\"ci_jobs_cache_zone\" declares it",
                           &zone->shm.name);
        return NGX_CONF_ERROR;
    }

    if (conf->enable) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_callback\" and \"ci_jobs on\" in one "
                           "location");
        return NGX_CONF_ERROR;
    }

    /*
     * The module bounds the body itself, with a 400 as for any other
     * notification it refuses: nginx's own 413 (client_max_body_size) is
     * not asked for here.  The core module's merge has run.
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->client_max_body_size = 0;

    return NGX_CONF_OK;
}


/*
 * POST only, with a Content-Length of at most
 * NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE: the body is bounded before a
 * byte of it is read, whatever client_max_body_size says.
 */

static ngx_int_t
ngx_http_ci_jobs_callback_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    static ngx_str_t  allow = ngx_string("Allow");
    static ngx_str_t  post = ngx_string("POST");

    if (r != r->main) {
        return ngx_http_ci_jobs_callback_refuse(r, NGX_HTTP_FORBIDDEN,
                                                NGX_HTTP_CI_JOBS_ACCESS_DENIED,
                                                "subrequests are not served");
    }

    if (r->method != NGX_HTTP_POST) {
        if (ngx_http_ci_jobs_add_header(r, &allow, &post) == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_ci_jobs_callback_refuse(r, NGX_HTTP_NOT_ALLOWED,
                                           NGX_HTTP_CI_JOBS_METHOD_NOT_ALLOWED,
                                           "only POST is allowed");
    }

    if (r->headers_in.content_length_n < 0) {
        return ngx_http_ci_jobs_callback_refuse(r, NGX_HTTP_BAD_REQUEST,
                                             NGX_HTTP_CI_JOBS_INVALID_ARGUMENT,
                                             "a notification needs a "
                                             "Content-Length");
    }

    if (r->headers_in.content_length_n
        > NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE)
    {
        return ngx_http_ci_jobs_callback_refuse(r, NGX_HTTP_BAD_REQUEST,
                                             NGX_HTTP_CI_JOBS_INVALID_ARGUMENT,
                                             "notification too large");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_ci_jobs_callback_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the whole body is in: its ids woken, a 200 with no body */

static void
ngx_http_ci_jobs_callback_body(ngx_http_request_t *r)
{
    u_char                           *body;
    size_t                            len;
    ngx_int_t                         rc;
    ngx_uint_t                        i, woken;
    ngx_http_ci_jobs_loc_conf_t      *lcf;
    ngx_http_ci_jobs_notification_t  *n;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    n = ngx_palloc(r->pool, sizeof(ngx_http_ci_jobs_notification_t));
    if (n == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    body = ngx_http_ci_jobs_callback_read(r, &len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_http_ci_jobs_notification_parse(body, len,
                                             ngx_http_ci_jobs_callback_palloc,
                                             r->pool, n);

    if (rc == NGX_HTTP_CI_JOBS_NOTIFICATION_NOMEM) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc != NGX_HTTP_CI_JOBS_NOTIFICATION_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ci_jobs callback: notification refused: %s",
                      n->error);

        ngx_http_finalize_request(r,
                  ngx_http_ci_jobs_callback_refuse(r, NGX_HTTP_BAD_REQUEST,
                                             NGX_HTTP_CI_JOBS_INVALID_ARGUMENT,
                                             n->error));
        return;
    }

    woken = 0;

    for (i = 0; i < n->nids; i++) {
        woken += ngx_http_ci_jobs_cache_wake(lcf->callback_zone, n->id[i],
                                             n->id_len[i]);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ci_jobs callback: %ui ids, %ui lookups woken",
                   n->nids, woken);

    ngx_http_ci_jobs_count_callback(woken ? NGX_HTTP_CI_JOBS_CALLBACK_ACCEPTED
                                          : NGX_HTTP_CI_JOBS_CALLBACK_IGNORED);

    if (woken) {
        /* this worker's watchers of them refresh now, not on a tick */
        ngx_http_ci_jobs_watch_soon();
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    ngx_http_finalize_request(r, rc);
}


/* the body in one buffer, from memory or from its temporary file */

static u_char *
ngx_http_ci_jobs_callback_read(ngx_http_request_t *r, size_t *len)
{
    off_t         size;
    u_char       *body, *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    *len = 0;
    size = 0;

    if (r->request_body == NULL) {
        return (u_char *) "";
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size > NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE) {
        /* cannot be, with the Content-Length checked: refused as such */
        size = NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_SIZE + 1;
    }

    body = ngx_pnalloc(r->pool, size + 1);
    if (body == NULL) {
        return NULL;
    }

    p = body;

    for (cl = r->request_body->bufs; cl && p < body + size; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos,
                           ngx_min(b->last - b->pos, body + size - p));
            continue;
        }

        n = ngx_read_file(b->file, p,
                          ngx_min(b->file_last - b->file_pos,
                                  body + size - p),
                          b->file_pos);
        if (n == NGX_ERROR) {
            return NULL;
        }

        p += n;
    }

    *len = p - body;

    return body;
}


static ngx_int_t
ngx_http_ci_jobs_callback_refuse(ngx_http_request_t *r, ngx_int_t status,
    ngx_http_ci_jobs_code_e code, const char *message)
{
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    ngx_http_ci_jobs_count_callback(NGX_HTTP_CI_JOBS_CALLBACK_INVALID);

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ci_jobs_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

        ctx->api = NGX_HTTP_CI_JOBS_API_COUNT;
        ctx->json = ngx_http_ci_jobs_wants_json(r, lcf);

        ngx_http_set_ctx(r, ctx, ngx_http_ci_jobs_module);
    }

    ctx->error_status = status;
    ctx->error_code = code;
    ctx->error_message = message;

    return status;
}


static void *
ngx_http_ci_jobs_callback_palloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}
