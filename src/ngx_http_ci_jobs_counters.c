
/*
 * The counters.  They live in a zone of their own, "ci_jobs_metrics",
 * made when the configuration has a ci_jobs_status location: every worker
 * adds to them with atomic adds, no lock, and the zone is kept across
 * reloads as long as its size is.  Without a ci_jobs_status location
 * nothing is counted.
 */


#include "ngx_http_ci_jobs_counters.h"
#include "ngx_http_ci_jobs_nginx.h"


#define NGX_HTTP_CI_JOBS_COUNTERS_MAGIC  0x63696a6d00000004


static ngx_int_t ngx_http_ci_jobs_counters_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_ci_jobs_count_status(ngx_atomic_t *slots,
    ngx_uint_t status);


/* this worker's view of the zone, or NULL: nothing is counted */
static ngx_http_ci_jobs_counters_t  *ngx_http_ci_jobs_counted;


ngx_msec_t  ngx_http_ci_jobs_bounds[NGX_HTTP_CI_JOBS_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};


/* --- the zone ---------------------------------------------------------- */


ngx_int_t
ngx_http_ci_jobs_counters_zone(ngx_conf_t *cf)
{
    size_t                         size;
    ngx_str_t                      name;
    ngx_http_ci_jobs_zone_t       *zone;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    if (cmcf->metrics_zone != NULL) {
        return NGX_OK;
    }

    ngx_str_set(&name, NGX_HTTP_CI_JOBS_METRICS_ZONE);

    size = ngx_align(sizeof(ngx_http_ci_jobs_counters_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->metrics_zone = ngx_shared_memory_add(cf, &name, size,
                                               &ngx_http_ci_jobs_module);
    if (cmcf->metrics_zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->metrics_zone->init = ngx_http_ci_jobs_counters_init_zone;
    cmcf->metrics_zone->data = zone;

    return NGX_OK;
}


/* the zone of an older configuration is taken over, counts and all */

static ngx_int_t
ngx_http_ci_jobs_counters_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_uint_t                    made;
    ngx_http_ci_jobs_zone_t      *zone;
    ngx_http_ci_jobs_counters_t  *m;

    zone = shm_zone->data;
    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    m = ngx_http_ci_jobs_zone_data(shm_zone,
                                   sizeof(ngx_http_ci_jobs_counters_t), &made);
    if (m == NULL) {
        return NGX_ERROR;
    }

    zone->sh = m;

    if (m->magic != NGX_HTTP_CI_JOBS_COUNTERS_MAGIC) {
        /* a new zone, or another layout: start again */
        ngx_memzero(m, sizeof(ngx_http_ci_jobs_counters_t));
        m->magic = NGX_HTTP_CI_JOBS_COUNTERS_MAGIC;
    }

    return NGX_OK;
}


/* a worker starts: the counters of this cycle, or none */

void
ngx_http_ci_jobs_counters_process(ngx_cycle_t *cycle)
{
    ngx_http_ci_jobs_zone_t       *zone;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    ngx_http_ci_jobs_counted = NULL;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ci_jobs_module);

    if (cmcf == NULL || cmcf->metrics_zone == NULL) {
        return;
    }

    zone = cmcf->metrics_zone->data;
    ngx_http_ci_jobs_counted = zone->sh;
}


ngx_http_ci_jobs_counters_t *
ngx_http_ci_jobs_counters(void)
{
    return ngx_http_ci_jobs_counted;
}


/* --- counting ---------------------------------------------------------- */


/* a gateway request answered, at the log phase */

void
ngx_http_ci_jobs_count_request(ngx_uint_t api, ngx_uint_t status,
    ngx_uint_t error)
{
    ngx_http_ci_jobs_counters_t  *m;

    m = ngx_http_ci_jobs_counted;

    if (m == NULL) {
        return;
    }

    ngx_http_ci_jobs_count_status(m->requests[api], status);

    if (error) {
        (void) ngx_atomic_fetch_add(&m->errors[error], 1);
    }
}


void
ngx_http_ci_jobs_count_refusal(ngx_http_ci_jobs_code_e code)
{
    if (ngx_http_ci_jobs_counted != NULL && code < NGX_HTTP_CI_JOBS_REFUSALS)
    {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_counted->refusals[code],
                                    1);
    }
}


void
ngx_http_ci_jobs_count_access(ngx_uint_t reason)
{
    if (ngx_http_ci_jobs_counted != NULL
        && reason < NGX_HTTP_CI_JOBS_ACCESS_REASONS)
    {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_counted->access[reason],
                                    1);
    }
}


void
ngx_http_ci_jobs_count_signature(void)
{
    if (ngx_http_ci_jobs_counted != NULL) {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_counted->signatures, 1);
    }
}


void
ngx_http_ci_jobs_count_skew(void)
{
    if (ngx_http_ci_jobs_counted != NULL) {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_counted->skew, 1);
    }
}


void
ngx_http_ci_jobs_count_reload(ngx_uint_t ok)
{
    if (ngx_http_ci_jobs_counted != NULL) {
        (void) ngx_atomic_fetch_add(
                               &ngx_http_ci_jobs_counted->reloads[ok ? 1 : 0],
                               1);
    }
}


/* a watcher held (1) or let go of (-1), in any worker */

void
ngx_http_ci_jobs_count_watchers(ngx_int_t n)
{
    if (ngx_http_ci_jobs_counted != NULL) {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_counted->watchers,
                                    (ngx_atomic_int_t) n);
    }
}


/* events of streams and changed answers of long-polls, sent */

void
ngx_http_ci_jobs_count_watch_events(ngx_uint_t n)
{
    if (ngx_http_ci_jobs_counted != NULL) {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_counted->watch_events,
                                    n);
    }
}


void
ngx_http_ci_jobs_count_resolution(ngx_uint_t result)
{
    if (ngx_http_ci_jobs_counted != NULL) {
        (void) ngx_atomic_fetch_add(
                          &ngx_http_ci_jobs_counted->resolutions[result], 1);
    }
}


/* a notification of CI, at ci_jobs_callback */

void
ngx_http_ci_jobs_count_callback(ngx_uint_t result)
{
    if (ngx_http_ci_jobs_counted != NULL) {
        (void) ngx_atomic_fetch_add(
                            &ngx_http_ci_jobs_counted->callbacks[result], 1);
    }
}


/*
 * The upstream exchange ends (u->finalize_request: the peer connection is
 * still there to look at): its time, CI's status, and for a 502 or 504
 * what went wrong.
 */

void
ngx_http_ci_jobs_count_upstream(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_int_t rc)
{
    ngx_uint_t                    i, kind;
    ngx_msec_t                    ms;
    ngx_connection_t             *c;
    ngx_http_upstream_t          *u;
    ngx_http_ci_jobs_counters_t  *m;

    m = ngx_http_ci_jobs_counted;

    if (m == NULL || ctx == NULL) {
        return;
    }

    u = r->upstream;
    c = u->peer.connection;

    ms = ngx_current_msec - ctx->upstream_start;

    for (i = 0; i < NGX_HTTP_CI_JOBS_BUCKETS; i++) {
        if (ms <= ngx_http_ci_jobs_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&m->buckets[i], 1);
    (void) ngx_atomic_fetch_add(&m->response_msec, ms);

    /* CI's status, when its header was read: the hold is let go after */

    if (ctx->hold == NGX_HTTP_CI_JOBS_HOLD_ANSWER) {
        ngx_http_ci_jobs_count_status(m->upstream, ctx->status.code);
    }

    kind = ctx->upstream_error;

    if (kind == 0 && rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        kind = NGX_HTTP_CI_JOBS_UPSTREAM_TIMEOUT;

    } else if (kind == 0 && rc == NGX_HTTP_BAD_GATEWAY
               && ctx->error_status == 0)
    {
        /* (a body refused for its connection is a 503 SlowDown instead) */

        if (c == NULL
            || (u->state && u->state->connect_time == (ngx_msec_t) -1))
        {
#if (NGX_HTTP_SSL)
            kind = (c != NULL && c->ssl != NULL)
                   ? NGX_HTTP_CI_JOBS_UPSTREAM_TLS
                   : NGX_HTTP_CI_JOBS_UPSTREAM_CONNECT;
#else
            kind = NGX_HTTP_CI_JOBS_UPSTREAM_CONNECT;
#endif

        } else if (c->read->error || c->write->error) {
            kind = NGX_HTTP_CI_JOBS_UPSTREAM_RESET;

        } else if (c->read->eof) {
            kind = NGX_HTTP_CI_JOBS_UPSTREAM_TRUNCATED;

        } else {
            kind = NGX_HTTP_CI_JOBS_UPSTREAM_MALFORMED;
        }
    }

    /* counted at the log phase: a malformed body is found after this */
    ctx->upstream_error = kind;
}


/* a status 100..599 into its slot; others are not counted */

static void
ngx_http_ci_jobs_count_status(ngx_atomic_t *slots, ngx_uint_t status)
{
    if (status >= NGX_HTTP_CI_JOBS_STATUS_MIN
        && status < NGX_HTTP_CI_JOBS_STATUS_MIN + NGX_HTTP_CI_JOBS_STATUSES)
    {
        (void) ngx_atomic_fetch_add(
                               &slots[status - NGX_HTTP_CI_JOBS_STATUS_MIN], 1);
    }
}
