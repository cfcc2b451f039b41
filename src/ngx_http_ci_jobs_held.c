
/*
 * What the worker holds for its clients: every answer byte a request
 * keeps in its pool (upstream's body, the copy of a cached entry, a JSON
 * rendering) is counted, until it is freed or its pool is, against two
 * bounds:
 *
 * - ci_jobs_max_held_size, the worker's, past which what would hold more
 *   is refused (503 ServiceUnavailable, or 502 for upstream's body);
 * - ci_jobs_max_held_per_connection, a client connection's, all its
 *   HTTP/2 streams together: past it, what another of its requests would
 *   hold is refused (503 SlowDown), so that a client that does not read
 *   costs the others nothing.  What a request holds alone on its
 *   connection is never refused by this bound: one answer is always
 *   served, however large.
 *
 * A connection's count lives in a cleanup of the connection's pool,
 * found again by its handler: the pool outlives the connection's requests
 * and HTTP/2 streams (nginx closes the connection once they are all gone).
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"
#include "ngx_http_ci_jobs_held.h"
#include "ngx_http_ci_jobs_counters.h"


typedef struct {
    size_t                          held;
} ngx_http_ci_jobs_conn_held_t;


struct ngx_http_ci_jobs_held_s {
    size_t                          size;
    ngx_http_ci_jobs_conn_held_t   *conn;   /* NULL: the worker's only */
};


static ngx_int_t ngx_http_ci_jobs_conn_held(ngx_http_request_t *r,
    ngx_http_ci_jobs_conn_held_t **connp);
static void ngx_http_ci_jobs_conn_cleanup(void *data);
static void ngx_http_ci_jobs_held_cleanup(void *data);


/* the worker's, all its requests together */
static size_t  ngx_http_ci_jobs_held;


/*
 * size more bytes held by the request, in *heldp, made on r->pool when
 * NULL.  NGX_OK; NGX_DECLINED past the worker's bound; NGX_BUSY past the
 * connection's; NGX_ERROR.  Nothing is counted unless NGX_OK.
 */

ngx_int_t
ngx_http_ci_jobs_hold(ngx_http_request_t *r, size_t size,
    ngx_http_ci_jobs_held_t **heldp)
{
    size_t                         others;
    ngx_pool_cleanup_t            *cln;
    ngx_http_ci_jobs_held_t       *held;
    ngx_http_ci_jobs_loc_conf_t   *lcf;
    ngx_http_ci_jobs_main_conf_t  *cmcf;
    ngx_http_ci_jobs_conn_held_t  *conn;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);

    if (ngx_http_ci_jobs_held + size > cmcf->max_held_size) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: the worker holds %uz bytes of answers, "
                      "%uz more would pass ci_jobs_max_held_size %uz",
                      ngx_http_ci_jobs_held, size, cmcf->max_held_size);
        return NGX_DECLINED;
    }

    held = *heldp;

    if (held != NULL) {
        conn = held->conn;

    } else if (ngx_http_ci_jobs_conn_held(r, &conn) != NGX_OK) {
        return NGX_ERROR;
    }

    if (conn != NULL) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

        others = conn->held - (held ? held->size : 0);

        if (others != 0 && conn->held + size > lcf->max_held_per_connection)
        {
            /* the client's doing, not the server's: logged as such */
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "ci_jobs: the client connection holds %uz bytes "
                          "of answers, %uz more would pass "
                          "ci_jobs_max_held_per_connection %uz",
                          conn->held, size, lcf->max_held_per_connection);
            return NGX_BUSY;
        }
    }

    if (held == NULL) {
        /* every answer's: not zeroed, its two fields set */

        cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_ci_jobs_held_t));
        if (cln == NULL) {
            return NGX_ERROR;
        }

        held = cln->data;
        held->size = 0;
        held->conn = conn;

        cln->handler = ngx_http_ci_jobs_held_cleanup;
        *heldp = held;
    }

    held->size += size;
    ngx_http_ci_jobs_held += size;

    if (conn != NULL) {
        conn->held += size;
    }

    return NGX_OK;
}


/* size of what held counts is freed */

void
ngx_http_ci_jobs_let_go(ngx_http_ci_jobs_held_t *held, size_t size)
{
    held->size -= size;
    ngx_http_ci_jobs_held -= size;

    if (held->conn != NULL) {
        held->conn->held -= size;
    }
}


/*
 * size of what held counts is freed, and by bytes made in its place (a
 * rendering of the body freed, made before it could be refused) are held
 */

void
ngx_http_ci_jobs_held_replace(ngx_http_ci_jobs_held_t *held, size_t size,
    size_t by)
{
    ngx_http_ci_jobs_let_go(held, size);

    held->size += by;
    ngx_http_ci_jobs_held += by;

    if (held->conn != NULL) {
        held->conn->held += by;
    }
}


static void
ngx_http_ci_jobs_held_cleanup(void *data)
{
    ngx_http_ci_jobs_held_t  *held = data;

    ngx_http_ci_jobs_let_go(held, held->size);
}


/*
 * The answer to a request refused for its connection: 503 SlowDown, with
 * a Retry-After (ngx_http_ci_jobs_response.c).
 */

void
ngx_http_ci_jobs_slow_down(ngx_http_ci_jobs_ctx_t *ctx)
{
    ctx->error_status = NGX_HTTP_SERVICE_UNAVAILABLE;
    ctx->error_code = NGX_HTTP_CI_JOBS_SLOW_DOWN;
    ctx->error_message = "the connection holds "
                         "ci_jobs_max_held_per_connection of answers "
                         "it has not read";

    ngx_http_ci_jobs_count_refusal(NGX_HTTP_CI_JOBS_SLOW_DOWN);
}


/*
 * The content handler's checks: no request is sent upstream while the
 * worker could not take even a small answer, or while other requests of
 * its connection hold what the connection may.
 */

ngx_uint_t
ngx_http_ci_jobs_worker_full(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);

    return ngx_http_ci_jobs_held + NGX_HTTP_CI_JOBS_BODY_MIN
           > cmcf->max_held_size;
}


ngx_uint_t
ngx_http_ci_jobs_connection_full(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_loc_conf_t   *lcf;
    ngx_http_ci_jobs_conn_held_t  *conn;

    if (ngx_http_ci_jobs_conn_held(r, &conn) != NGX_OK || conn == NULL) {
        return 0;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    return conn->held != 0
           && conn->held + NGX_HTTP_CI_JOBS_BODY_MIN
              > lcf->max_held_per_connection;
}


/*
 * The count of the client connection the request came on: with HTTP/2
 * and HTTP/3 a stream's is its connection's.  A subrequest (the watch's
 * refresh, for all the watchers of a key) counts for the worker only.
 */

static ngx_int_t
ngx_http_ci_jobs_conn_held(ngx_http_request_t *r,
    ngx_http_ci_jobs_conn_held_t **connp)
{
    ngx_connection_t              *c;
    ngx_pool_cleanup_t            *cln;
    ngx_http_ci_jobs_conn_held_t  *conn;

    *connp = NULL;

    if (r != r->main) {
        return NGX_OK;
    }

    c = r->connection;

#if (NGX_HTTP_V2)
    if (r->stream) {
        c = r->stream->connection->connection;
    }
#endif

#if (NGX_HTTP_V3)
    if (c->quic) {
        c = c->quic->parent;
    }
#endif

    for (cln = c->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ci_jobs_conn_cleanup) {
            *connp = cln->data;
            return NGX_OK;
        }
    }

    conn = ngx_http_ci_jobs_cleanup_alloc(c->pool,
                                          sizeof(ngx_http_ci_jobs_conn_held_t),
                                          ngx_http_ci_jobs_conn_cleanup);
    if (conn == NULL) {
        return NGX_ERROR;
    }

    *connp = conn;

    return NGX_OK;
}


/* the connection's requests are all gone, and what they held with them */

static void
ngx_http_ci_jobs_conn_cleanup(void *data)
{
    return;
}
