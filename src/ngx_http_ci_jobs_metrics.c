
/*
 * The operators' kit.  Counters live in a zone of their own,
 * "ci_jobs_metrics", made when the configuration has a ci_jobs_status
 * location: every worker adds to them with atomic adds, no lock, and the
 * zone is kept across reloads as long as its size is.  Without a
 * ci_jobs_status location nothing is counted.
 *
 * ci_jobs_status answers the Prometheus text format (0.0.4), and with
 * "?ready" whether every gateway location can sign.
 */


#include "ngx_http_ci_jobs_metrics.h"


#define NGX_HTTP_CI_JOBS_METRICS_ZONE   "ci_jobs_metrics"
#define NGX_HTTP_CI_JOBS_METRICS_MAGIC  0x63696a6d00000002

/* statuses 100..599, one slot each */
#define NGX_HTTP_CI_JOBS_STATUS_MIN     100
#define NGX_HTTP_CI_JOBS_STATUSES       500

#define NGX_HTTP_CI_JOBS_REFUSALS       6
#define NGX_HTTP_CI_JOBS_ERROR_KINDS    8      /* 1..7 */
#define NGX_HTTP_CI_JOBS_BUCKETS        12     /* and +Inf */

/* the longest line written, beside its label values */
#define NGX_HTTP_CI_JOBS_LINE_MAX       256
#define NGX_HTTP_CI_JOBS_TEXT_CHUNK     16384

#define NGX_HTTP_CI_JOBS_DIAG_PERIOD    60


typedef struct {
    ngx_atomic_t                 magic;
    ngx_atomic_t                 requests[NGX_HTTP_CI_JOBS_API_COUNT + 1]
                                         [NGX_HTTP_CI_JOBS_STATUSES];
    ngx_atomic_t                 refusals[NGX_HTTP_CI_JOBS_REFUSALS];
    ngx_atomic_t                 upstream[NGX_HTTP_CI_JOBS_STATUSES];
    ngx_atomic_t                 errors[NGX_HTTP_CI_JOBS_ERROR_KINDS];
    ngx_atomic_t                 buckets[NGX_HTTP_CI_JOBS_BUCKETS + 1];
    ngx_atomic_t                 response_msec;
    ngx_atomic_t                 signatures;
    ngx_atomic_t                 skew;
    ngx_atomic_t                 reloads[2];      /* error, ok */
    ngx_atomic_t                 access[NGX_HTTP_CI_JOBS_ACCESS_REASONS];
} ngx_http_ci_jobs_metrics_t;


typedef struct {
    ngx_http_request_t          *r;
    ngx_chain_t                 *out;
    ngx_chain_t                **last;
    ngx_buf_t                   *b;
    off_t                        len;
} ngx_http_ci_jobs_text_t;


static ngx_int_t ngx_http_ci_jobs_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_ci_jobs_metrics_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_status_metrics(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t);
static ngx_int_t ngx_http_ci_jobs_status_caches(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t);
static ngx_int_t ngx_http_ci_jobs_status_expiry(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t);
static ngx_int_t ngx_http_ci_jobs_status_ready(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t);
static void ngx_http_ci_jobs_source_name(ngx_http_ci_jobs_creds_t *creds,
    ngx_str_t *name);
static ngx_int_t ngx_http_ci_jobs_text_reserve(ngx_http_ci_jobs_text_t *t,
    size_t size);
static ngx_int_t ngx_http_ci_jobs_text_family(ngx_http_ci_jobs_text_t *t,
    const char *name, const char *type, const char *help);
static u_char *ngx_http_ci_jobs_text_label(u_char *p, ngx_str_t *value);


static ngx_http_ci_jobs_metrics_t  *ngx_http_ci_jobs_metrics;


static ngx_str_t  ngx_http_ci_jobs_refusal_codes[] = {
    ngx_string("InvalidArgument"),
    ngx_string("NoSuchApi"),
    ngx_string("MethodNotAllowed"),
    ngx_string("AccessDenied"),
    ngx_string("ServiceUnavailable"),
    ngx_string("CredentialsUnavailable")
};


/* by ngx_http_ci_jobs_token_check()'s results, and "missing" */
static const char  *ngx_http_ci_jobs_access_reasons[] = {
    "missing", "malformed", "signature", "expired", "scope"
};


static const char  *ngx_http_ci_jobs_error_kinds[] = {
    NULL, "connect", "tls", "timeout", "reset", "truncated", "malformed",
    "oversize"
};


static const char  *ngx_http_ci_jobs_cache_results[] = {
    NULL, "MISS", "BYPASS", "EXPIRED", "HIT", "COLLAPSED", "STALE"
};


/* upper bounds of the histogram's buckets, in milliseconds */
static ngx_msec_t  ngx_http_ci_jobs_bounds[NGX_HTTP_CI_JOBS_BUCKETS] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};


/* --- configuration ---------------------------------------------------- */


char *
ngx_http_ci_jobs_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    size_t                         size;
    ngx_str_t                      name;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_ci_jobs_status_handler;

    if (cmcf->metrics_zone != NULL) {
        return NGX_CONF_OK;
    }

    ngx_str_set(&name, NGX_HTTP_CI_JOBS_METRICS_ZONE);

    size = ngx_align(sizeof(ngx_http_ci_jobs_metrics_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    cmcf->metrics_zone = ngx_shared_memory_add(cf, &name, size,
                                               &ngx_http_ci_jobs_metrics);
    if (cmcf->metrics_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    cmcf->metrics_zone->init = ngx_http_ci_jobs_metrics_init_zone;
    cmcf->metrics_zone->data = &ngx_http_ci_jobs_metrics;

    return NGX_CONF_OK;
}


/* the zone of an older configuration is taken over, counts and all */

static ngx_int_t
ngx_http_ci_jobs_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t             *shpool;
    ngx_http_ci_jobs_metrics_t  *m;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shpool->data != NULL) {
        m = shpool->data;

        if (m->magic == NGX_HTTP_CI_JOBS_METRICS_MAGIC) {
            return NGX_OK;
        }

        /* another layout: start again */
        ngx_memzero(m, sizeof(ngx_http_ci_jobs_metrics_t));
        m->magic = NGX_HTTP_CI_JOBS_METRICS_MAGIC;

        return NGX_OK;
    }

    m = ngx_slab_calloc(shpool, sizeof(ngx_http_ci_jobs_metrics_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    m->magic = NGX_HTTP_CI_JOBS_METRICS_MAGIC;
    shpool->data = m;

    return NGX_OK;
}


/*
 * postconfiguration: the log-phase counter, when there is anything to
 * count into; the remembered gateway locations for ?ready.
 */

ngx_int_t
ngx_http_ci_jobs_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_ci_jobs_main_conf_t  *cjmcf;

    cjmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    if (cjmcf->metrics_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ci_jobs_metrics_log;

    return NGX_OK;
}


/* a worker starts: the counters of this cycle, or none */

void
ngx_http_ci_jobs_metrics_process(ngx_cycle_t *cycle)
{
    ngx_slab_pool_t               *shpool;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    ngx_http_ci_jobs_metrics = NULL;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ci_jobs_module);

    if (cmcf == NULL || cmcf->metrics_zone == NULL) {
        return;
    }

    shpool = (ngx_slab_pool_t *) cmcf->metrics_zone->shm.addr;
    ngx_http_ci_jobs_metrics = shpool->data;
}


/* --- counting --------------------------------------------------------- */


static ngx_int_t
ngx_http_ci_jobs_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                    api, status;
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL || ngx_http_ci_jobs_metrics == NULL) {
        return NGX_OK;
    }

    api = ctx->api;
    status = r->headers_out.status;

    if (status >= NGX_HTTP_CI_JOBS_STATUS_MIN
        && status < NGX_HTTP_CI_JOBS_STATUS_MIN + NGX_HTTP_CI_JOBS_STATUSES)
    {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_metrics
                           ->requests[api][status
                                           - NGX_HTTP_CI_JOBS_STATUS_MIN], 1);
    }

    if (ctx->upstream_error) {
        (void) ngx_atomic_fetch_add(
                    &ngx_http_ci_jobs_metrics->errors[ctx->upstream_error], 1);
    }

    if (ctx->cache_status) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);
        ngx_http_ci_jobs_cache_count(lcf->cache_zone, ctx->cache_status);
    }

    return NGX_OK;
}


void
ngx_http_ci_jobs_count_refusal(ngx_str_t *code)
{
    ngx_uint_t  i;

    if (ngx_http_ci_jobs_metrics == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_CI_JOBS_REFUSALS; i++) {
        if (ngx_http_ci_jobs_refusal_codes[i].len == code->len
            && ngx_strncmp(ngx_http_ci_jobs_refusal_codes[i].data,
                           code->data, code->len)
               == 0)
        {
            (void) ngx_atomic_fetch_add(
                                &ngx_http_ci_jobs_metrics->refusals[i], 1);
            return;
        }
    }
}


void
ngx_http_ci_jobs_count_access(ngx_uint_t reason)
{
    if (ngx_http_ci_jobs_metrics != NULL
        && reason < NGX_HTTP_CI_JOBS_ACCESS_REASONS)
    {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_metrics->access[reason],
                                    1);
    }
}


void
ngx_http_ci_jobs_count_signature(void)
{
    if (ngx_http_ci_jobs_metrics != NULL) {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_metrics->signatures, 1);
    }
}


void
ngx_http_ci_jobs_count_skew(void)
{
    if (ngx_http_ci_jobs_metrics != NULL) {
        (void) ngx_atomic_fetch_add(&ngx_http_ci_jobs_metrics->skew, 1);
    }
}


void
ngx_http_ci_jobs_count_reload(ngx_uint_t ok)
{
    if (ngx_http_ci_jobs_metrics != NULL) {
        (void) ngx_atomic_fetch_add(
                               &ngx_http_ci_jobs_metrics->reloads[ok ? 1 : 0],
                               1);
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
    ngx_uint_t                   i, kind;
    ngx_msec_t                   ms;
    ngx_connection_t            *c;
    ngx_http_upstream_t         *u;
    ngx_http_ci_jobs_metrics_t  *m;

    m = ngx_http_ci_jobs_metrics;

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

    if (ctx->hold == NGX_HTTP_CI_JOBS_HOLD_ANSWER
        && ctx->status.code >= NGX_HTTP_CI_JOBS_STATUS_MIN
        && ctx->status.code < NGX_HTTP_CI_JOBS_STATUS_MIN
                              + NGX_HTTP_CI_JOBS_STATUSES)
    {
        (void) ngx_atomic_fetch_add(
               &m->upstream[ctx->status.code - NGX_HTTP_CI_JOBS_STATUS_MIN],
               1);
    }

    kind = ctx->upstream_error;

    if (kind == 0 && rc == NGX_HTTP_GATEWAY_TIME_OUT) {
        kind = NGX_HTTP_CI_JOBS_UPSTREAM_TIMEOUT;

    } else if (kind == 0 && rc == NGX_HTTP_BAD_GATEWAY) {

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


/* --- the status location ---------------------------------------------- */


static ngx_int_t
ngx_http_ci_jobs_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_str_t                ready;
    ngx_chain_t             *cl;
    ngx_http_ci_jobs_text_t  t;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&t, sizeof(ngx_http_ci_jobs_text_t));
    t.r = r;
    t.last = &t.out;

    ngx_str_set(&ready, "ready");

    if (r->args.len == ready.len
        && ngx_strncmp(r->args.data, ready.data, ready.len) == 0)
    {
        rc = ngx_http_ci_jobs_status_ready(r, &t);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.status = rc;
        ngx_str_set(&r->headers_out.content_type, "text/plain");

    } else {
        if (ngx_http_ci_jobs_status_metrics(r, &t) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.status = NGX_HTTP_OK;
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4");
    }

    for (cl = t.out; cl; cl = cl->next) {
        t.len += cl->buf->last - cl->buf->pos;
    }

    /* the type alone, without its parameter: what gzip_types matches */
    r->headers_out.content_type_len = sizeof("text/plain") - 1;
    r->headers_out.content_length_n = t.len;

    /* a scrape is never to be served from a cache */
    r->headers_out.last_modified_time = -1;

    if (t.b != NULL) {
        t.b->last_buf = (r == r->main) ? 1 : 0;
        t.b->last_in_chain = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only || t.out == NULL) {
        return rc;
    }

    return ngx_http_output_filter(r, t.out);
}


static ngx_int_t
ngx_http_ci_jobs_status_metrics(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t)
{
    ngx_uint_t                   api, s, i, n;
    ngx_atomic_uint_t            v, total;
    ngx_http_ci_jobs_metrics_t  *m;

    static const char  *api_none = "none";

    m = ngx_http_ci_jobs_metrics;

    if (m == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_requests_total", "counter",
                                     "Gateway requests answered, by API "
                                     "and status.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (api = 0; api <= NGX_HTTP_CI_JOBS_API_COUNT; api++) {
        for (s = 0; s < NGX_HTTP_CI_JOBS_STATUSES; s++) {
            v = m->requests[api][s];

            if (v == 0) {
                continue;
            }

            if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            t->b->last = ngx_sprintf(t->b->last,
                            "ci_jobs_requests_total{api=\"%s\",status=\"%ui\"}"
                            " %uA\n",
                            api < NGX_HTTP_CI_JOBS_API_COUNT
                            ? ngx_http_ci_jobs_api_names[api] : api_none,
                            s + NGX_HTTP_CI_JOBS_STATUS_MIN, v);
        }
    }

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_refusals_total", "counter",
                                     "Requests refused before anything was "
                                     "signed, by error code.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_CI_JOBS_REFUSALS; i++) {
        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_refusals_total{code=\"%V\"} %uA\n",
                                 &ngx_http_ci_jobs_refusal_codes[i],
                                 m->refusals[i]);
    }

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_access_refusals_total",
                                     "counter",
                                     "Requests refused for their access "
                                     "token, by reason.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HTTP_CI_JOBS_ACCESS_REASONS; i++) {
        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_access_refusals_total"
                                 "{reason=\"%s\"} %uA\n",
                                 ngx_http_ci_jobs_access_reasons[i],
                                 m->access[i]);
    }

    if (ngx_http_ci_jobs_status_caches(r, t) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_upstream_requests_total",
                                     "counter",
                                     "Answers from CI, by status.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (s = 0; s < NGX_HTTP_CI_JOBS_STATUSES; s++) {
        v = m->upstream[s];

        if (v == 0) {
            continue;
        }

        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_upstream_requests_total"
                                 "{status=\"%ui\"} %uA\n",
                                 s + NGX_HTTP_CI_JOBS_STATUS_MIN, v);
    }

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_upstream_errors_total",
                                     "counter",
                                     "Upstream exchanges that failed, by "
                                     "kind.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 1; i < NGX_HTTP_CI_JOBS_ERROR_KINDS; i++) {
        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_upstream_errors_total"
                                 "{kind=\"%s\"} %uA\n",
                                 ngx_http_ci_jobs_error_kinds[i],
                                 m->errors[i]);
    }

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_upstream_response_seconds",
                                     "histogram",
                                     "Time from the first connection to CI "
                                     "to the end of its answer.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    total = 0;

    for (i = 0; i <= NGX_HTTP_CI_JOBS_BUCKETS; i++) {
        total += m->buckets[i];

        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (i == NGX_HTTP_CI_JOBS_BUCKETS) {
            t->b->last = ngx_sprintf(t->b->last,
                                     "ci_jobs_upstream_response_seconds_bucket"
                                     "{le=\"+Inf\"} %uA\n", total);
            break;
        }

        n = ngx_http_ci_jobs_bounds[i];

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_upstream_response_seconds_bucket"
                                 "{le=\"%ui.%03ui\"} %uA\n",
                                 n / 1000, n % 1000, total);
    }

    v = m->response_msec;

    t->b->last = ngx_sprintf(t->b->last,
                             "ci_jobs_upstream_response_seconds_sum "
                             "%uA.%03uA\n"
                             "ci_jobs_upstream_response_seconds_count %uA\n",
                             v / 1000, v % 1000, total);

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_signatures_total", "counter",
                                     "Requests signed.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t->b->last = ngx_sprintf(t->b->last, "ci_jobs_signatures_total %uA\n",
                             m->signatures);

    if (ngx_http_ci_jobs_text_family(t,
                                     "ci_jobs_clock_skew_corrections_total",
                                     "counter",
                                     "Times the clock offset to CI was "
                                     "learnt from a refused signature.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t->b->last = ngx_sprintf(t->b->last,
                             "ci_jobs_clock_skew_corrections_total %uA\n",
                             m->skew);

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_credentials_reloads_total",
                                     "counter",
                                     "Loads of a credentials file and "
                                     "fetches of role credentials, once "
                                     "for all workers, by result.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t->b->last = ngx_sprintf(t->b->last,
                             "ci_jobs_credentials_reloads_total"
                             "{result=\"ok\"} %uA\n"
                             "ci_jobs_credentials_reloads_total"
                             "{result=\"error\"} %uA\n",
                             m->reloads[1], m->reloads[0]);

    return ngx_http_ci_jobs_status_expiry(r, t);
}


static ngx_int_t
ngx_http_ci_jobs_status_caches(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t)
{
    ngx_uint_t                      i, n, f, res;
    ngx_shm_zone_t                 *zone;
    ngx_list_part_t                *part;
    ngx_http_ci_jobs_cache_stats_t  st;

    static const char  *families[] = {
        "ci_jobs_cache_requests_total", "counter",
        "Cache lookups, by zone and $ci_jobs_cache_status.",
        "ci_jobs_cache_entries", "gauge",
        "Answers held in the zone.",
        "ci_jobs_cache_bytes", "gauge",
        "Bytes of answers held in the zone.",
        "ci_jobs_cache_evictions_total", "counter",
        "Entries taken out of a full zone to make room."
    };

    for (f = 0; f < 4; f++) {

        if (ngx_http_ci_jobs_text_family(t, families[3 * f],
                                         families[3 * f + 1],
                                         families[3 * f + 2])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part;
        zone = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                zone = part->elts;
                i = 0;
            }

            if (ngx_http_ci_jobs_cache_stats(&zone[i], &st) != NGX_OK) {
                continue;
            }

            n = zone[i].shm.name.len * 2;

            for (res = 1;
                 res < (f == 0 ? NGX_HTTP_CI_JOBS_CACHE_STATUSES : 2);
                 res++)
            {

                if (ngx_http_ci_jobs_text_reserve(t,
                                                  NGX_HTTP_CI_JOBS_LINE_MAX + n)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                t->b->last = ngx_sprintf(t->b->last, "%s{zone=\"",
                                         families[3 * f]);
                t->b->last = ngx_http_ci_jobs_text_label(t->b->last,
                                                         &zone[i].shm.name);

                switch (f) {

                case 0:
                    t->b->last = ngx_sprintf(t->b->last,
                                         "\",result=\"%s\"} %ui\n",
                                         ngx_http_ci_jobs_cache_results[res],
                                         st.results[res]);
                    break;

                case 1:
                    t->b->last = ngx_sprintf(t->b->last, "\"} %ui\n",
                                             st.entries);
                    break;

                case 2:
                    t->b->last = ngx_sprintf(t->b->last, "\"} %uz\n",
                                             st.bytes);
                    break;

                default:
                    t->b->last = ngx_sprintf(t->b->last, "\"} %ui\n",
                                             st.evictions);
                }
            }
        }
    }

    return NGX_OK;
}


/*
 * When the credentials of each source expire: every role source (0 until
 * its first fetch), and the credentials files that say so.
 */

static ngx_int_t
ngx_http_ci_jobs_status_expiry(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t)
{
    time_t                          expires;
    ngx_str_t                       source;
    ngx_uint_t                      i;
    ngx_http_ci_jobs_creds_t      **cp;
    ngx_http_ci_jobs_main_conf_t   *cmcf;

    if (ngx_http_ci_jobs_text_family(t, "ci_jobs_credentials_expiry_seconds",
                                     "gauge",
                                     "When the credentials of a source "
                                     "expire (Unix time): roles, and the "
                                     "files that say.")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);
    cp = cmcf->sources.elts;

    for (i = 0; i < cmcf->sources.nelts; i++) {
        (void) ngx_http_ci_jobs_credentials_health(cp[i], ngx_time(),
                                                   &expires);

        if (cp[i]->kind == NGX_HTTP_CI_JOBS_CREDS_FILE && expires == 0) {
            continue;
        }

        ngx_http_ci_jobs_source_name(cp[i], &source);

        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX
                                             + 2 * source.len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_credentials_expiry_seconds{%s=\"",
                                 cp[i]->kind == NGX_HTTP_CI_JOBS_CREDS_FILE
                                 ? "file" : "role");
        t->b->last = ngx_http_ci_jobs_text_label(t->b->last, &source);
        t->b->last = ngx_sprintf(t->b->last, "\"} %T\n", expires);
    }

    return NGX_OK;
}


/*
 * ?ready: 200 when every gateway location has credentials it can sign
 * with and that have not expired; 503 and the reasons otherwise.  A role
 * location is ready with unexpired role credentials, a file location
 * when its file is usable now, as all workers see them.
 */

static ngx_int_t
ngx_http_ci_jobs_status_ready(ngx_http_request_t *r,
    ngx_http_ci_jobs_text_t *t)
{
    time_t                          now, expires;
    ngx_int_t                       status;
    ngx_str_t                       source;
    ngx_uint_t                      i, health;
    const char                     *what;
    ngx_http_ci_jobs_creds_t       *creds;
    ngx_http_ci_jobs_loc_conf_t   **lcfs;
    ngx_http_ci_jobs_main_conf_t   *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);
    lcfs = cmcf->locations.elts;
    now = ngx_time();
    status = NGX_HTTP_OK;

    for (i = 0; i < cmcf->locations.nelts; i++) {
        creds = lcfs[i]->creds;
        health = ngx_http_ci_jobs_credentials_health(creds, now, &expires);

        if (health == NGX_HTTP_CI_JOBS_HEALTH_OK) {
            continue;
        }

        status = NGX_HTTP_SERVICE_UNAVAILABLE;

        what = (creds->kind == NGX_HTTP_CI_JOBS_CREDS_FILE)
               ? "credentials file" : "role credentials from";
        ngx_http_ci_jobs_source_name(creds, &source);

        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX
                                             + lcfs[i]->location.len
                                             + source.len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "not ready: location \"%V\": %s \"%V\" ",
                                 &lcfs[i]->location, what, &source);

        switch (health) {

        case NGX_HTTP_CI_JOBS_HEALTH_UNUSABLE:
            t->b->last = ngx_sprintf(t->b->last, "is not usable\n");
            break;

        case NGX_HTTP_CI_JOBS_HEALTH_EXPIRED:
            t->b->last = ngx_sprintf(t->b->last, "expired at %T\n",
                                     expires);
            break;

        default:
            t->b->last = ngx_sprintf(t->b->last, "not fetched yet\n");
        }
    }

    if (status == NGX_HTTP_OK) {
        if (ngx_http_ci_jobs_text_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last, "ready: %ui locations\n",
                                 cmcf->locations.nelts);
    }

    return status;
}


/* a file's path, or a role's metadata URL and role ("auto" when found) */

static void
ngx_http_ci_jobs_source_name(ngx_http_ci_jobs_creds_t *creds,
    ngx_str_t *name)
{
    if (creds->kind == NGX_HTTP_CI_JOBS_CREDS_FILE) {
        *name = creds->file;
        return;
    }

    name->data = creds->name.data + sizeof("role:") - 1;
    name->len = creds->name.len - (sizeof("role:") - 1);
}


/* room for size more bytes: the current buffer, or a new one chained */

static ngx_int_t
ngx_http_ci_jobs_text_reserve(ngx_http_ci_jobs_text_t *t, size_t size)
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
                                  ngx_max(size, NGX_HTTP_CI_JOBS_TEXT_CHUNK));
    if (cl->buf == NULL) {
        return NGX_ERROR;
    }

    cl->next = NULL;
    *t->last = cl;
    t->last = &cl->next;

    t->b = cl->buf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_text_family(ngx_http_ci_jobs_text_t *t, const char *name,
    const char *type, const char *help)
{
    if (ngx_http_ci_jobs_text_reserve(t, 2 * NGX_HTTP_CI_JOBS_LINE_MAX)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    t->b->last = ngx_sprintf(t->b->last, "# HELP %s %s\n# TYPE %s %s\n",
                             name, help, name, type);

    return NGX_OK;
}


/* a label value: backslash, double quote and line feed escaped */

static u_char *
ngx_http_ci_jobs_text_label(u_char *p, ngx_str_t *value)
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


/* --- the signature-mismatch diagnosis --------------------------------- */


/*
 * CI refused the signature (403 SignatureDoesNotMatch or AccessDenied):
 * say what was signed, once a minute per location (all workers together).
 * Names only, never a value that is secret: no key, no SignKey, no
 * signature.
 */

void
ngx_http_ci_jobs_diagnose(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                    *p, *last, *code;
    size_t                     len, path_len;
    time_t                     now;
    ngx_uint_t                 i;
    ngx_http_ci_jobs_creds_t  *creds;

    if (ctx->hold != NGX_HTTP_CI_JOBS_HOLD_ANSWER
        || ctx->status.code != NGX_HTTP_FORBIDDEN
        || ctx->body == NULL)
    {
        return;
    }

    len = ctx->body->last - ctx->body->pos;

    if (ngx_strnstr(ctx->body->pos, "<Code>SignatureDoesNotMatch</Code>",
                    len)
        != NULL)
    {
        code = (u_char *) "SignatureDoesNotMatch";

    } else if (ngx_strnstr(ctx->body->pos, "<Code>AccessDenied</Code>", len)
               != NULL)
    {
        code = (u_char *) "AccessDenied";

    } else {
        return;
    }

    now = ngx_time();

    if (!ngx_http_ci_jobs_diagnosis_due(lcf->index, now,
                                        NGX_HTTP_CI_JOBS_DIAG_PERIOD))
    {
        return;
    }

    /* the path and the names of the parameters, as the request has them */

    path_len = ngx_http_ci_jobs_request_path(NULL, &ctx->req);

    len = path_len + 1;

    for (i = 0; i < ctx->req.nparams; i++) {
        len += ctx->req.params[i].name_len + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return;
    }

    last = p + ngx_http_ci_jobs_request_path(p, &ctx->req);
    *last++ = '\0';

    for (i = 0; i < ctx->req.nparams; i++) {
        if (i) {
            *last++ = ';';
        }

        last = ngx_cpymem(last, ctx->req.params[i].name,
                          ctx->req.params[i].name_len);
    }

    creds = lcf->creds;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ci_jobs: CI refused the signature with %s in location "
                  "\"%V\"; signed: method \"get\", path \"%s\", headers "
                  "\"host\" (\"%V\"), parameters \"%*s\", KeyTime "
                  "%T;%T (our clock %T, offset %T), SecretId \"%V\"%s",
                  code, &lcf->location, p, &lcf->host,
                  (size_t) (last - (p + path_len + 1)), p + path_len + 1,
                  ctx->sign_start, ctx->sign_end, now,
                  ngx_http_ci_jobs_clock_offset(lcf), &creds->id,
                  creds->token.len ? ", with a security token" : "");
}
