
/*
 * The watch: a long-poll (If-None-Match with the current ETag, and
 * Prefer: wait=N) is held until the zone's answer for its key changes,
 * or the wait is over.
 *
 * Each worker keeps its watchers by key (a group per cache zone and
 * key) and looks at the zone on one timer, every
 * NGX_HTTP_CI_JOBS_WATCH_TICK ms, not one per watcher: a watcher whose
 * answer's digest is no longer the zone's is sent the zone's answer (a
 * 200 with the new ETag); one whose wait is over is sent the same (a
 * 304 if nothing changed).  When a key's entry is pending and older than
 * ci_jobs_watch_interval, or gone, and nobody holds its lock, the worker
 * starts a refresh: a background subrequest of one of the key's
 * watchers, as proxy_cache_background_update does, which goes through
 * the module's own path (the lock, upstream, the answer stage, the
 * store) and sends nothing.  The lock is taken only when the entry is
 * still older than the interval (ngx_http_ci_jobs_cache_refresh_lock()),
 * so one request in the whole nginx goes upstream per key and interval,
 * whatever the number of workers and watchers.  The subrequest has a
 * pool of its own, freed once it is done, so that what a refresh
 * allocates does not stay with its carrier for as long as it watches.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"
#include "ngx_http_ci_jobs_answer.h"
#include "ngx_http_ci_jobs_lookup.h"
#include "ngx_http_ci_jobs_prefer.h"
#include "ngx_http_ci_jobs_sse.h"
#include "ngx_http_ci_jobs_counters.h"


/*
 * How often a worker looks at the zone for its watchers' keys: a look
 * costs a key, not its watchers, unless the key's answer changed or one
 * of them falls due (ngx_http_ci_jobs_watch_walk_due()).
 */
#define NGX_HTTP_CI_JOBS_WATCH_TICK       50

/*
 * Refreshes due at once (keys first asked for together, as when browsers
 * reconnect after a reload) are spread over the interval: a tick starts
 * at most this many times its share of the worker's keys' refreshes, the
 * others start on the ticks after.  Keys once apart stay apart, so CI
 * gets a few queries a tick, and the watchers a few keys' changes, rather
 * than every key's in one burst.
 */
#define NGX_HTTP_CI_JOBS_WATCH_SPREAD     2

/* a stream sends a comment when it has sent nothing for this long */
#define NGX_HTTP_CI_JOBS_WATCH_HEARTBEAT  15000

/*
 * When a key's watchers are walked, a stream quiet for this long sends
 * its comment too, early: the beats of a key's streams come together, in
 * one walk per HEARTBEAT, not one walk per stream.
 */
#define NGX_HTTP_CI_JOBS_WATCH_BEAT_EARLY  7500    /* half the heartbeat */

/*
 * A stream whose reader lets more than this wait unsent is cut when it
 * has more to send: what a stream holds is bounded by it and one batch.
 */
#define NGX_HTTP_CI_JOBS_WATCH_BACKLOG    65536


typedef struct {
    ngx_str_node_t                 sn;        /* the zone's address, the key */
    ngx_queue_t                    queue;     /* in the worker's groups */
    ngx_queue_t                    stored;    /* to be looked at at once */
    ngx_queue_t                    watchers;  /* ctx->watch_queue */
    ngx_shm_zone_t                *zone;
    ngx_str_t                      key;
    ngx_msec_t                     interval;
    ngx_msec_t                     refreshed;  /* this worker's last refresh */
    ngx_http_ci_jobs_cache_peek_t  peek;       /* the zone's entry, read */

    /* what the watchers were last looked at for */
    u_char                         digest[NGX_HTTP_CI_JOBS_DIGEST_LEN];
    ngx_msec_t                     failed;
    ngx_msec_t                     walk_by;    /* a watcher's end or beat */
    void                          *render;     /* the long-polls' answer */
    unsigned                       answered:1; /* digest is an answer's */
    unsigned                       joined:1;   /* a watcher came since */
    unsigned                       soon:1;     /* in the stored queue */
} ngx_http_ci_jobs_watch_group_t;


/*
 * The zone's answer rendered once for the long-polls of a key that it
 * wakes (not once per request): each answer sent refers to it until its
 * request ends.
 */

typedef struct {
    ngx_uint_t                    refs;      /* the group's, the requests' */
    ngx_http_ci_jobs_loc_conf_t  *lcf;
    ngx_uint_t                    json;
    u_char                        digest[NGX_HTTP_CI_JOBS_DIGEST_LEN];
    ngx_str_t                     id;        /* x-ci-request-id */
    ngx_str_t                     out;       /* the answer's bytes */
} ngx_http_ci_jobs_watch_render_t;


/* a refresh under way or done, in its own pool, until that is freed */

typedef struct {
    ngx_queue_t                  queue;     /* the worker's refreshes */
    ngx_pool_t                  *pool;
    ngx_http_request_t          *sr;
    ngx_http_ci_jobs_ctx_t      *carrier;
} ngx_http_ci_jobs_watch_refresh_t;


static long ngx_http_ci_jobs_watch_prefer(ngx_http_request_t *r);
static ngx_http_ci_jobs_watch_group_t *ngx_http_ci_jobs_watch_group(
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
static void ngx_http_ci_jobs_watch_cleanup(void *data);
static void ngx_http_ci_jobs_watch_remove(ngx_http_ci_jobs_ctx_t *ctx);
static void ngx_http_ci_jobs_watch_tick(ngx_event_t *ev);
static void ngx_http_ci_jobs_watch_stored_look(ngx_event_t *ev);
static void ngx_http_ci_jobs_watch_look(ngx_http_ci_jobs_watch_group_t *g);
static void ngx_http_ci_jobs_watch_budget_reset(void);
static ngx_uint_t ngx_http_ci_jobs_watch_spread(void);
static ngx_uint_t ngx_http_ci_jobs_watch_walk_due(
    ngx_http_ci_jobs_watch_group_t *g, ngx_http_ci_jobs_cache_peek_t *pk,
    ngx_msec_t now);
static void ngx_http_ci_jobs_watch_walked(ngx_http_ci_jobs_watch_group_t *g,
    ngx_http_ci_jobs_cache_peek_t *pk, ngx_msec_t now);
static ngx_int_t ngx_http_ci_jobs_watch_refreshed(ngx_http_request_t *r,
    void *data, ngx_int_t rc);
static void ngx_http_ci_jobs_watch_wake(ngx_http_request_t *r,
    ngx_http_ci_jobs_watch_group_t *g, ngx_http_ci_jobs_cache_peek_t *pk);
static ngx_int_t ngx_http_ci_jobs_watch_shared(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_http_ci_jobs_watch_group_t *g, ngx_http_ci_jobs_cache_peek_t *pk);
static void ngx_http_ci_jobs_watch_render_free(void *data);
static void ngx_http_ci_jobs_watch_refresh_start(
    ngx_http_ci_jobs_watch_group_t *g);
static void ngx_http_ci_jobs_watch_refresh_free(void);
static ngx_table_elt_t *ngx_http_ci_jobs_watch_header(ngx_http_request_t *r,
    const char *name, size_t len, ngx_table_elt_t *after);
static ngx_int_t ngx_http_ci_jobs_watch_register(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
static ngx_int_t ngx_http_ci_jobs_stream_open(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf);
static void ngx_http_ci_jobs_stream_look(ngx_http_request_t *r,
    ngx_http_ci_jobs_cache_peek_t *pk);
static ngx_int_t ngx_http_ci_jobs_stream_events(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t *done);
static ngx_int_t ngx_http_ci_jobs_stream_error(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_cache_peek_t *pk);
static ngx_int_t ngx_http_ci_jobs_stream_send(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, u_char *data, size_t len, ngx_uint_t own);
static size_t ngx_http_ci_jobs_stream_sent(ngx_http_ci_jobs_ctx_t *ctx);
static void ngx_http_ci_jobs_stream_end(ngx_http_request_t *r,
    ngx_int_t rc);
static void ngx_http_ci_jobs_stream_write(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_watch_latest(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_pool_t **pool);
static ngx_int_t ngx_http_ci_jobs_watch_json(ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_pool_t *pool, u_char *xml, size_t len,
    ngx_http_ci_jobs_xml_result_t *res);


static ngx_rbtree_t       ngx_http_ci_jobs_watch_tree;
static ngx_rbtree_node_t  ngx_http_ci_jobs_watch_sentinel;
static ngx_queue_t        ngx_http_ci_jobs_watch_groups;
static ngx_queue_t        ngx_http_ci_jobs_watch_refreshes;
static ngx_uint_t         ngx_http_ci_jobs_watchers;
static ngx_event_t        ngx_http_ci_jobs_watch_timer;
static ngx_event_t        ngx_http_ci_jobs_watch_stored_event;
static ngx_queue_t        ngx_http_ci_jobs_watch_stored;

/* the refreshes a tick may start: the keys' shares, in thousandths */
static ngx_uint_t         ngx_http_ci_jobs_watch_share;
static ngx_msec_t         ngx_http_ci_jobs_watch_window;
static ngx_uint_t         ngx_http_ci_jobs_watch_started;
static ngx_uint_t         ngx_http_ci_jobs_watch_budget;


/*
 * From the content handler, for an id lookup of a location with
 * ci_jobs_watch on: a long-poll whose If-None-Match names the zone's
 * current answer is held (NGX_DONE); NGX_BUSY past ci_jobs_watch_max;
 * NGX_DECLINED: not a long-poll, or the answer has changed, so the
 * lookup goes on as any other; NGX_ERROR.
 */

ngx_int_t
ngx_http_ci_jobs_watch_poll(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    long                             wait;
    size_t                           len;
    u_char                           etag[NGX_HTTP_CI_JOBS_ETAG_LEN];
    ngx_int_t                        rc;
    ngx_table_elt_t                 *inm;
    ngx_http_ci_jobs_cache_peek_t    pk;

    inm = r->headers_in.if_none_match;

    if (inm == NULL) {
        return NGX_DECLINED;
    }

    wait = ngx_http_ci_jobs_watch_prefer(r);

    if (wait <= 0) {
        return NGX_DECLINED;
    }

    rc = ngx_http_ci_jobs_cache_key_init(r, ctx, lcf);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_MISS;

    ngx_http_ci_jobs_cache_peek(lcf->cache_zone, &ctx->cache_key, &pk);

    if (!pk.answer) {
        return NGX_DECLINED;
    }

    len = ngx_http_ci_jobs_etag(etag, pk.digest,
                                ctx->json ? lcf->array_names : NULL,
                                lcf->narray_names);

    if (!ngx_http_ci_jobs_etag_match(inm->value.data, inm->value.len,
                                     etag, len))
    {
        return NGX_DECLINED;
    }

    /* the wait, in whole seconds as asked, at most ci_jobs_watch_timeout */

    if ((ngx_msec_t) wait * 1000 > lcf->watch_timeout) {
        wait = lcf->watch_timeout / 1000;
    }

    ctx->watch_wait = (wait > 0) ? wait : 1;
    ctx->watch_end = ngx_current_msec + (ngx_msec_t) ctx->watch_wait * 1000;
    ngx_memcpy(ctx->watch_digest, pk.digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);

    rc = ngx_http_ci_jobs_watch_register(r, ctx, lcf);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ci_jobs watch: held for %ds, %ui watchers",
                   (int) ctx->watch_wait, ngx_http_ci_jobs_watchers);

    r->main->count++;

    return NGX_DONE;
}


/*
 * The request joins its key's group and the worker's timer; NGX_BUSY
 * past ci_jobs_watch_max.
 */

static ngx_int_t
ngx_http_ci_jobs_watch_register(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_pool_cleanup_t              *cln;
    ngx_http_ci_jobs_main_conf_t    *cmcf;
    ngx_http_ci_jobs_watch_group_t  *g;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);

    if (ngx_http_ci_jobs_watchers >= (ngx_uint_t) cmcf->watch_max) {
        return NGX_BUSY;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    g = ngx_http_ci_jobs_watch_group(ctx, lcf);
    if (g == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ci_jobs_watch_cleanup;
    cln->data = r;

    ctx->watch_group = g;
    g->joined = 1;

    ngx_queue_insert_tail(&g->watchers, &ctx->watch_queue);
    ngx_http_ci_jobs_watchers++;
    ngx_http_ci_jobs_count_watchers(1);

    if (!ngx_http_ci_jobs_watch_timer.timer_set) {
        ngx_http_ci_jobs_watch_timer.handler = ngx_http_ci_jobs_watch_tick;
        ngx_http_ci_jobs_watch_timer.log = ngx_cycle->log;
        ngx_http_ci_jobs_watch_timer.data = NULL;

        /* not cancelable: a worker shutting down answers its watchers */

        ngx_add_timer(&ngx_http_ci_jobs_watch_timer,
                      NGX_HTTP_CI_JOBS_WATCH_TICK);
    }

    /* a client that goes away ends its wait (and frees its place) */

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    return NGX_OK;
}


/*
 * From the content handler, for an id lookup of a location with
 * ci_jobs_watch on whose Accept names text/event-stream: a stream of
 * Server-Sent Events (NGX_DONE once open); NGX_DECLINED when Accept does
 * not ask for one; NGX_BUSY past ci_jobs_watch_max; NGX_ERROR.
 */

ngx_int_t
ngx_http_ci_jobs_watch_stream(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_int_t                       rc;
    ngx_table_elt_t                *h;
    ngx_http_ci_jobs_cache_peek_t   pk;

    h = ngx_http_ci_jobs_watch_header(r, "Accept", sizeof("Accept") - 1,
                                      NULL);

    if (h == NULL
        || ngx_strlcasestrn(h->value.data, h->value.data + h->value.len,
                            (u_char *) "text/event-stream",
                            sizeof("text/event-stream") - 2)
           == NULL)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_ci_jobs_cache_key_init(r, ctx, lcf);

    if (rc != NGX_OK) {
        return rc;
    }

    ctx->stream_sent = ngx_pcalloc(r->pool, NGX_HTTP_CI_JOBS_SSE_JOBS
                                            * sizeof(uint32_t));
    if (ctx->stream_sent == NULL) {
        return NGX_ERROR;
    }

    /* a reconnect: what its last event said the jobs were */

    h = ngx_http_ci_jobs_watch_header(r, "Last-Event-ID",
                                      sizeof("Last-Event-ID") - 1, NULL);
    if (h != NULL) {
        ctx->stream_njobs = ngx_http_ci_jobs_sse_id_parse(h->value.data,
                                                          h->value.len,
                                                          ctx->stream_sent);
    }

    ctx->watch_stream = 1;
    ctx->watch_end = ngx_current_msec + lcf->watch_timeout;

    rc = ngx_http_ci_jobs_watch_register(r, ctx, lcf);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_ci_jobs_stream_open(r, lcf) != NGX_OK) {
        ngx_http_ci_jobs_watch_remove(ctx);
        return NGX_ERROR;
    }

    r->write_event_handler = ngx_http_ci_jobs_stream_write;
    r->main->count++;

    /* what the zone holds is sent at once, if anything */

    ngx_http_ci_jobs_cache_peek(lcf->cache_zone, &ctx->cache_key, &pk);

    if (pk.answer) {
        ngx_http_ci_jobs_stream_look(r, &pk);
    }

    /* open for longer than a look: what it need not keep goes */

    if (ctx->watch_group != NULL) {
        (void) ngx_http_ci_jobs_shed(r, ctx);
    }

    return NGX_DONE;
}


/* the stream's header, and how long EventSource waits to reconnect */

static ngx_int_t
ngx_http_ci_jobs_stream_open(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                  *p;
    ngx_int_t                rc;
    ngx_http_ci_jobs_ctx_t  *ctx;

    static ngx_str_t  cache_control = ngx_string("Cache-Control");
    static ngx_str_t  no_cache = ngx_string("no-cache");
    static ngx_str_t  accel_buffering = ngx_string("X-Accel-Buffering");
    static ngx_str_t  no = ngx_string("no");

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    r->headers_out.status = NGX_HTTP_OK;
    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_length_n = -1;

    if (ngx_http_ci_jobs_add_header(r, &cache_control, &no_cache) == NULL) {
        return NGX_ERROR;
    }

    /* nginx in front (proxy_buffering) would hold the events back */

    if (ngx_http_ci_jobs_add_header(r, &accel_buffering, &no) == NULL) {
        return NGX_ERROR;
    }

    /* before any query: the request's own id, as the gateway's errors */

    if (ngx_http_ci_jobs_own_request_id(r) != NGX_OK) {
        return NGX_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_alloc(sizeof("retry: \n\n") + NGX_INT_T_LEN, r->connection->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_ci_jobs_stream_send(r, ctx, p,
                                        ngx_sprintf(p, "retry: %M\n\n",
                                                    lcf->watch_interval)
                                        - p, 1);
}


/*
 * A stream at its worker's look: the jobs that changed, or a heartbeat;
 * its end when every job is finished, when ci_jobs_watch_timeout is
 * over, or when the worker exits.
 */

static void
ngx_http_ci_jobs_stream_look(ngx_http_request_t *r,
    ngx_http_ci_jobs_cache_peek_t *pk)
{
    size_t                   backlog;
    ngx_int_t                rc;
    ngx_uint_t               done, changed, failed, quiet;
    ngx_msec_t               now;
    ngx_connection_t        *c;
    ngx_http_ci_jobs_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    now = ngx_current_msec;

    ngx_http_set_log_request(c->log, r);

    if (ngx_exiting || ngx_terminate
        || (ngx_msec_int_t) (ctx->watch_end - now) <= 0)
    {
        ngx_http_ci_jobs_stream_end(r, NGX_OK);
        return;
    }

    changed = pk->answer
              && (!ctx->stream_opened
                  || ngx_memcmp(pk->digest, ctx->watch_digest,
                                NGX_HTTP_CI_JOBS_DIGEST_LEN) != 0);

    /* a query that failed since the stream last heard: its error */
    failed = (pk->failed && pk->failed != ctx->stream_failed);

    quiet = ((ngx_msec_int_t) (now - ctx->stream_last)
             >= NGX_HTTP_CI_JOBS_WATCH_BEAT_EARLY);

    if (!changed && !failed && !quiet) {
        return;
    }

    /*
     * A reader that does not keep up is cut rather than buffered for: it
     * reconnects with its last id and is told what changed since.
     */

    backlog = ngx_http_ci_jobs_stream_sent(ctx);

    if (backlog > NGX_HTTP_CI_JOBS_WATCH_BACKLOG) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "ci_jobs watch: a stream's reader is too slow "
                      "(%uz bytes wait), stream closed", backlog);
        ngx_http_ci_jobs_stream_end(r, NGX_ERROR);
        return;
    }

    done = 0;
    rc = NGX_OK;

    if (changed) {
        rc = ngx_http_ci_jobs_stream_events(r, ctx, &done);
    }

    if (rc == NGX_OK && !done && failed) {
        rc = ngx_http_ci_jobs_stream_error(r, ctx, pk);
    }

    if (rc == NGX_OK && !done
        && (ngx_msec_int_t) (now - ctx->stream_last)
           >= NGX_HTTP_CI_JOBS_WATCH_BEAT_EARLY)
    {
        rc = ngx_http_ci_jobs_stream_send(r, ctx, (u_char *) ":\n\n", 3, 0);
    }

    if (rc == NGX_ERROR) {
        ngx_http_ci_jobs_stream_end(r, NGX_ERROR);
        return;
    }

    if (done) {
        ngx_http_ci_jobs_stream_end(r, NGX_OK);
    }
}


/*
 * The zone's answer, rendered in JSON, job by job: an event for each
 * job whose State or Progress is not what the stream last sent of it,
 * "end" when every one is finished or missing.
 */

static ngx_int_t
ngx_http_ci_jobs_stream_events(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t *done)
{
    int                             i, n, finished;
    u_char                         *buf, *p, id[NGX_HTTP_CI_JOBS_SSE_ID_LEN];
    size_t                          size, id_len;
    ngx_int_t                       rc;
    ngx_uint_t                      events;
    ngx_pool_t                     *pool;
    ngx_http_ci_jobs_sse_job_t      jobs[NGX_HTTP_CI_JOBS_SSE_JOBS];
    ngx_http_ci_jobs_loc_conf_t    *lcf;
    ngx_http_ci_jobs_xml_result_t   res;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    /* gone once the events are written: the stream grows by its events */

    rc = ngx_http_ci_jobs_watch_latest(r, ctx, lcf, &pool);

    if (rc != NGX_OK) {
        if (pool != NULL) {
            ngx_destroy_pool(pool);
        }

        ctx->body = NULL;
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_ci_jobs_watch_json(lcf, pool, ctx->body->pos,
                                    ctx->body->last - ctx->body->pos, &res)
        != NGX_OK
        || (n = ngx_http_ci_jobs_sse_jobs(res.json, res.json_len, jobs)) < 0)
    {
        ngx_destroy_pool(pool);
        ctx->body = NULL;
        ngx_str_null(&ctx->ci_request_id);
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->watch_digest, ctx->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);
    ctx->stream_opened = 1;

    /* the events, in one buffer, freed once sent */

    size = sizeof("event: end\nid: \ndata: {}\n\n") + sizeof(id);

    for (i = 0; i < n; i++) {
        size += ngx_http_ci_jobs_sse_event_size(sizeof("missing") - 1,
                                                sizeof(id),
                                                jobs[i].len
                                                + sizeof("{\"JobId\":}"));
    }

    buf = ngx_alloc(size, r->connection->log);
    if (buf == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    p = buf;
    finished = 0;
    events = 0;

    if ((ngx_uint_t) n != ctx->stream_njobs) {
        /* another set of jobs than the id said: all of them again */
        ngx_memzero(ctx->stream_sent, n * sizeof(uint32_t));
        ctx->stream_njobs = n;
    }

    for (i = 0; i < n; i++) {
        finished += jobs[i].finished;

        if (ctx->stream_sent[i] == jobs[i].version) {
            continue;
        }

        ctx->stream_sent[i] = jobs[i].version;
        id_len = ngx_http_ci_jobs_sse_id(id, ctx->stream_sent, n);

        if (jobs[i].missing) {
            p += ngx_sprintf(p, "event: missing\nid: %*s\n"
                             "data: {\"JobId\":%*s}\n\n",
                             id_len, id, jobs[i].len, jobs[i].data)
                 - p;

        } else {
            p += ngx_http_ci_jobs_sse_event(p, "job", id, id_len,
                                            jobs[i].data, jobs[i].len);
        }

        events++;
    }

    if (n > 0 && finished == n) {
        id_len = ngx_http_ci_jobs_sse_id(id, ctx->stream_sent, n);
        p += ngx_http_ci_jobs_sse_event(p, "end", id, id_len,
                                        (u_char *) "{}", 2);
        events++;
        *done = 1;
    }

    ngx_http_ci_jobs_count_watch_events(events);

    ngx_destroy_pool(pool);

    /* what pointed into it */

    ctx->body = NULL;
    ngx_str_null(&ctx->ci_request_id);

    if (p == buf) {
        ngx_free(buf);
        return NGX_OK;
    }

    return ngx_http_ci_jobs_stream_send(r, ctx, buf, p - buf, 1);
}


/*
 * The error of the key's last query, which failed: "event: error", its
 * data CI's error object as JSON renders it ({"Error":{...}}), its id
 * the stream's last, so that a reconnect resumes from the same place.
 * The stream stays open; the query is retried after the interval.
 */

static ngx_int_t
ngx_http_ci_jobs_stream_error(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_cache_peek_t *pk)
{
    u_char                         *buf, id[NGX_HTTP_CI_JOBS_SSE_ID_LEN];
    size_t                          size, id_len;
    ngx_int_t                       rc;
    ngx_str_t                       error;
    ngx_pool_t                     *pool;
    ngx_http_ci_jobs_loc_conf_t    *lcf;
    ngx_http_ci_jobs_xml_result_t   res;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    ctx->stream_failed = pk->failed;

    pool = ngx_create_pool(4096, r->connection->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_ci_jobs_cache_error(lcf->cache_zone, &ctx->cache_key, pool,
                                      &error);
    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        return (rc == NGX_DECLINED) ? NGX_OK : NGX_ERROR;
    }

    if (ngx_http_ci_jobs_watch_json(lcf, pool, error.data, error.len, &res)
        != NGX_OK)
    {
        /* kept only when it was CI's error shape */
        ngx_destroy_pool(pool);
        return NGX_OK;
    }

    id_len = ngx_http_ci_jobs_sse_id(id, ctx->stream_sent,
                                     ctx->stream_njobs);

    size = ngx_http_ci_jobs_sse_event_size(sizeof("error") - 1, id_len,
                                           res.json_len);

    buf = ngx_alloc(size, r->connection->log);
    if (buf == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    size = ngx_http_ci_jobs_sse_event(buf, "error", id, id_len, res.json,
                                      res.json_len);

    ngx_destroy_pool(pool);

    ngx_http_ci_jobs_count_watch_events(1);

    return ngx_http_ci_jobs_stream_send(r, ctx, buf, size, 1);
}


/*
 * Bytes of the stream, flushed.  With own, data was ngx_alloc()ed and is
 * freed once sent: a stream's pool does not grow with its events, and
 * the buffer headers of sent events are used again.
 */

static ngx_int_t
ngx_http_ci_jobs_stream_send(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, u_char *data, size_t len, ngx_uint_t own)
{
    ngx_buf_t    *b;
    ngx_int_t     rc;
    ngx_chain_t  *cl, **last, out;

    cl = ctx->stream_free;

    if (cl != NULL) {
        ctx->stream_free = cl->next;
        b = cl->buf;
        ngx_memzero(b, sizeof(ngx_buf_t));

    } else {
        cl = ngx_alloc_chain_link(r->pool);
        b = ngx_calloc_buf(r->pool);

        if (cl == NULL || b == NULL) {
            if (own) {
                ngx_free(data);
            }

            return NGX_ERROR;
        }

        cl->buf = b;
    }

    b->start = own ? data : NULL;
    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->flush = 1;

    cl->next = NULL;

    for (last = &ctx->stream_busy; *last; last = &(*last)->next) {
        /* void */
    }

    *last = cl;

    ctx->stream_last = ngx_current_msec;

    out.buf = b;
    out.next = NULL;

    rc = ngx_http_output_filter(r, &out);

    (void) ngx_http_ci_jobs_stream_sent(ctx);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/*
 * The stream's buffers that are sent are freed, their headers kept for
 * the next events; returns the bytes that wait unsent.
 */

static size_t
ngx_http_ci_jobs_stream_sent(ngx_http_ci_jobs_ctx_t *ctx)
{
    size_t        backlog;
    ngx_chain_t  *cl;

    while (ctx->stream_busy
           && ngx_buf_size(ctx->stream_busy->buf) == 0)
    {
        cl = ctx->stream_busy;
        ctx->stream_busy = cl->next;

        if (cl->buf->start) {
            ngx_free(cl->buf->start);
            cl->buf->start = NULL;
        }

        cl->next = ctx->stream_free;
        ctx->stream_free = cl;
    }

    backlog = 0;

    for (cl = ctx->stream_busy; cl; cl = cl->next) {
        backlog += ngx_buf_size(cl->buf);
    }

    return backlog;
}


/* the stream ends: its last chunk, then the request, or the connection */

static void
ngx_http_ci_jobs_stream_end(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    ngx_http_ci_jobs_watch_remove(ctx);

    if (rc == NGX_OK) {
        rc = ngx_http_send_special(r, NGX_HTTP_LAST);
    }

    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_http_finalize_request(r, rc);
}


/* the client can take more: what waits is sent */

static void
ngx_http_ci_jobs_stream_write(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_ctx_t  *ctx;

    if (ngx_http_output_filter(r, NULL) == NGX_ERROR) {
        ngx_http_ci_jobs_stream_end(r, NGX_ERROR);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    (void) ngx_http_ci_jobs_stream_sent(ctx);
}


/* the first header line of that name after "after" (NULL: any), or NULL */

static ngx_table_elt_t *
ngx_http_ci_jobs_watch_header(ngx_http_request_t *r, const char *name,
    size_t len, ngx_table_elt_t *after)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (after != NULL) {
            if (&h[i] == after) {
                after = NULL;
            }

            continue;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * The zone's entry (ngx_http_ci_jobs_cache_latest()) copied into a pool
 * of its own, *pool, for a rendering made in it: the request's pool does
 * not grow by them, *pool goes once they are sent.  *pool is NULL when
 * it could not be made.
 */

static ngx_int_t
ngx_http_ci_jobs_watch_latest(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_pool_t **pool)
{
    ngx_int_t    rc;
    ngx_pool_t  *saved;

    *pool = ngx_create_pool(4096, r->connection->log);
    if (*pool == NULL) {
        return NGX_ERROR;
    }

    saved = r->pool;
    r->pool = *pool;
    rc = ngx_http_ci_jobs_cache_latest(r, ctx, lcf);
    r->pool = saved;

    return rc;
}


/* XML (an answer, an error) rendered in JSON as the JSON mode does */

static ngx_int_t
ngx_http_ci_jobs_watch_json(ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_pool_t *pool, u_char *xml, size_t len,
    ngx_http_ci_jobs_xml_result_t *res)
{
    ngx_http_ci_jobs_xml_conf_t  xc;

    ngx_http_ci_jobs_xml_conf_init(&xc, lcf, pool, 1);
    ngx_memzero(res, sizeof(ngx_http_ci_jobs_xml_result_t));

    xc.no_facts = 1;

    if (ngx_http_ci_jobs_xml_parse(xml, len, &xc, res)
        != NGX_HTTP_CI_JOBS_XML_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the first "wait" preference of the Prefer lines, or -1 */

static long
ngx_http_ci_jobs_watch_prefer(ngx_http_request_t *r)
{
    long              wait;
    ngx_table_elt_t  *h;

    for (h = ngx_http_ci_jobs_watch_header(r, "Prefer", 6, NULL);
         h != NULL;
         h = ngx_http_ci_jobs_watch_header(r, "Prefer", 6, h))
    {
        wait = ngx_http_ci_jobs_prefer_wait(h->value.data, h->value.len);

        if (wait >= 0) {
            return wait;
        }
    }

    return -1;
}


/* the worker's group for the request's zone and key, made if need be */

static ngx_http_ci_jobs_watch_group_t *
ngx_http_ci_jobs_watch_group(ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                          *p;
    uint32_t                         hash;
    ngx_str_t                        name;
    ngx_str_node_t                  *sn;
    ngx_http_ci_jobs_watch_group_t  *g;

    if (ngx_http_ci_jobs_watch_groups.next == NULL) {
        ngx_rbtree_init(&ngx_http_ci_jobs_watch_tree,
                        &ngx_http_ci_jobs_watch_sentinel,
                        ngx_str_rbtree_insert_value);
        ngx_queue_init(&ngx_http_ci_jobs_watch_groups);
        ngx_queue_init(&ngx_http_ci_jobs_watch_refreshes);
        ngx_queue_init(&ngx_http_ci_jobs_watch_stored);

        ngx_http_ci_jobs_watch_stored_event.handler =
                                        ngx_http_ci_jobs_watch_stored_look;
        ngx_http_ci_jobs_watch_stored_event.log = ngx_cycle->log;
    }

    /* the zone's address first: two zones may hold the same key */

    name.len = sizeof(ngx_shm_zone_t *) + ctx->cache_key.len;
    name.data = ngx_alloc(name.len, ngx_cycle->log);
    if (name.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(name.data, &lcf->cache_zone, sizeof(ngx_shm_zone_t *));
    ngx_memcpy(p, ctx->cache_key.data, ctx->cache_key.len);

    hash = ngx_murmur_hash2(name.data, name.len);

    sn = ngx_str_rbtree_lookup(&ngx_http_ci_jobs_watch_tree, &name, hash);

    if (sn != NULL) {
        ngx_free(name.data);
        return (ngx_http_ci_jobs_watch_group_t *) sn;
    }

    g = ngx_calloc(sizeof(ngx_http_ci_jobs_watch_group_t), ngx_cycle->log);
    if (g == NULL) {
        ngx_free(name.data);
        return NULL;
    }

    g->sn.node.key = hash;
    g->sn.str = name;
    g->zone = lcf->cache_zone;
    g->key.data = p;
    g->key.len = ctx->cache_key.len;
    g->interval = lcf->watch_interval;
    g->refreshed = ngx_current_msec - lcf->watch_interval;

    ngx_http_ci_jobs_cache_peek(g->zone, &g->key, &g->peek);

    ngx_http_ci_jobs_watch_share += NGX_HTTP_CI_JOBS_WATCH_TICK * 1000
                                    / g->interval;

    ngx_queue_init(&g->watchers);
    ngx_queue_insert_tail(&ngx_http_ci_jobs_watch_groups, &g->queue);
    ngx_rbtree_insert(&ngx_http_ci_jobs_watch_tree, &g->sn.node);

    return g;
}


static void
ngx_http_ci_jobs_watch_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_chain_t                       *cl;
    ngx_http_ci_jobs_ctx_t            *ctx;
    ngx_http_ci_jobs_watch_refresh_t  *rf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL) {
        return;
    }

    ngx_http_ci_jobs_watch_remove(ctx);

    /*
     * Its refresh, over since its request could not end before, goes
     * now, while the connection that its log lines and its counts of
     * held bytes refer to is still there.
     */

    rf = ctx->refresh_pool;

    if (rf != NULL) {
        ctx->refresh_pool = NULL;
        ngx_queue_remove(&rf->queue);
        ngx_destroy_pool(rf->pool);
    }

    /* a stream's events not sent: the request and its output go too */

    for (cl = ctx->stream_busy; cl; cl = cl->next) {
        if (cl->buf->start) {
            ngx_free(cl->buf->start);
            cl->buf->start = NULL;
        }
    }

    ctx->stream_busy = NULL;
}


/* out of its group; an empty group goes on the next tick */

static void
ngx_http_ci_jobs_watch_remove(ngx_http_ci_jobs_ctx_t *ctx)
{
    if (ctx->watch_group == NULL) {
        return;
    }

    ngx_queue_remove(&ctx->watch_queue);
    ctx->watch_group = NULL;
    ngx_http_ci_jobs_watchers--;
    ngx_http_ci_jobs_count_watchers(-1);
}


/* the worker's one timer: every group's key looked at in the zone */

static void
ngx_http_ci_jobs_watch_tick(ngx_event_t *ev)
{
    ngx_queue_t                     *q, *next;
    ngx_http_ci_jobs_watch_group_t  *g;

    ngx_http_ci_jobs_watch_refresh_free();
    ngx_http_ci_jobs_watch_budget_reset();

    for (q = ngx_queue_head(&ngx_http_ci_jobs_watch_groups);
         q != ngx_queue_sentinel(&ngx_http_ci_jobs_watch_groups);
         q = next)
    {
        next = ngx_queue_next(q);
        g = ngx_queue_data(q, ngx_http_ci_jobs_watch_group_t, queue);

        if (!ngx_queue_empty(&g->watchers)) {
            ngx_http_ci_jobs_watch_look(g);
        }

        if (ngx_queue_empty(&g->watchers)) {
            if (g->render != NULL) {
                ngx_http_ci_jobs_watch_render_free(g->render);
            }

            ngx_http_ci_jobs_watch_share -= NGX_HTTP_CI_JOBS_WATCH_TICK
                                            * 1000 / g->interval;

            if (g->soon) {
                ngx_queue_remove(&g->stored);
            }

            ngx_rbtree_delete(&ngx_http_ci_jobs_watch_tree, &g->sn.node);
            ngx_queue_remove(&g->queue);
            ngx_free(g->sn.str.data);
            ngx_free(g);
        }
    }

    if (ngx_http_ci_jobs_watchers
        || !ngx_queue_empty(&ngx_http_ci_jobs_watch_refreshes))
    {
        ngx_add_timer(ev, NGX_HTTP_CI_JOBS_WATCH_TICK);
    }
}


/*
 * The refreshes a tick may start.  One that comes late, on a busy worker,
 * may start as many more as its lateness is worth.
 */

static void
ngx_http_ci_jobs_watch_budget_reset(void)
{
    ngx_msec_t  elapsed;

    elapsed = ngx_current_msec - ngx_http_ci_jobs_watch_window;

    if (elapsed < NGX_HTTP_CI_JOBS_WATCH_TICK) {
        return;
    }

    elapsed = ngx_min(elapsed, 2 * NGX_HTTP_CI_JOBS_WATCH_TICK);

    ngx_http_ci_jobs_watch_window = ngx_current_msec;
    ngx_http_ci_jobs_watch_started = 0;
    ngx_http_ci_jobs_watch_budget =
        (NGX_HTTP_CI_JOBS_WATCH_SPREAD * ngx_http_ci_jobs_watch_share
         * elapsed / NGX_HTTP_CI_JOBS_WATCH_TICK + 999) / 1000;
}


/*
 * The pools of the refreshes that are done are freed, after the events
 * that finished them: nothing refers to the subrequest any more.  (One
 * whose carrier ends goes with it, ngx_http_ci_jobs_watch_cleanup().)
 */

static void
ngx_http_ci_jobs_watch_refresh_free(void)
{
    ngx_queue_t                       *q, *next;
    ngx_http_log_ctx_t                *lctx;
    ngx_http_request_t                *r;
    ngx_http_ci_jobs_watch_refresh_t  *rf;

    if (ngx_http_ci_jobs_watch_refreshes.next == NULL) {
        return;
    }

    for (q = ngx_queue_head(&ngx_http_ci_jobs_watch_refreshes);
         q != ngx_queue_sentinel(&ngx_http_ci_jobs_watch_refreshes);
         q = next)
    {
        next = ngx_queue_next(q);
        rf = ngx_queue_data(q, ngx_http_ci_jobs_watch_refresh_t, queue);

        if (!rf->sr->done) {
            continue;
        }

        rf->carrier->refresh_pool = NULL;

        if (rf->carrier->refresh_sr == rf->sr) {
            rf->carrier->refresh_sr = NULL;
        }

        /* the carrier's log lines no longer name the subrequest */

        r = rf->carrier->watch_request;
        lctx = r->connection->log->data;

        if (lctx->current_request == rf->sr) {
            lctx->current_request = r;
        }

        ngx_queue_remove(q);
        ngx_destroy_pool(rf->pool);
    }
}


/*
 * One key: its watchers whose answer changed or whose wait is over are
 * answered (all of them when the worker is exiting); the entry is
 * refreshed when it is due.
 */

static void
ngx_http_ci_jobs_watch_look(ngx_http_ci_jobs_watch_group_t *g)
{
    ngx_msec_t                      now;
    ngx_queue_t                    *q, *next;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_ci_jobs_ctx_t         *ctx;
    ngx_http_ci_jobs_cache_peek_t   pk;

    now = ngx_current_msec;

    ngx_http_ci_jobs_cache_peek_again(g->zone, &g->key, &g->peek);
    pk = g->peek;

    if (ngx_http_ci_jobs_watch_walk_due(g, &pk, now)) {

        for (q = ngx_queue_head(&g->watchers);
             q != ngx_queue_sentinel(&g->watchers);
             q = next)
        {
            next = ngx_queue_next(q);
            ctx = ngx_queue_data(q, ngx_http_ci_jobs_ctx_t, watch_queue);
            r = ctx->watch_request;

            if (ctx->watch_stream) {
                /* the request may be gone after its look */
                c = r->connection;
                ngx_http_ci_jobs_stream_look(r, &pk);
                ngx_http_run_posted_requests(c);
                continue;
            }

            if (ngx_exiting || ngx_terminate
                || (ngx_msec_int_t) (ctx->watch_end - now) <= 0
                || (pk.answer
                    && ngx_memcmp(pk.digest, ctx->watch_digest,
                                  NGX_HTTP_CI_JOBS_DIGEST_LEN) != 0))
            {
                ngx_http_ci_jobs_watch_wake(r, g, &pk);
            }
        }

        ngx_http_ci_jobs_watch_walked(g, &pk, now);
    }

    /*
     * Due: the entry's age in the zone says so, or a notification of CI
     * (ngx_http_ci_jobs_callback.c) has woken it.  This worker's own last
     * refresh counts too, so that upstream's errors, which store nothing,
     * are not retried on every tick.
     */

    if (!ngx_queue_empty(&g->watchers)
        && !pk.locked
        && (ngx_msec_int_t) (now - g->refreshed)
           >= (ngx_msec_int_t) (pk.due ? ngx_min(g->interval,
                                                 NGX_HTTP_CI_JOBS_WAKE_SPACING)
                                       : g->interval)
        && (pk.failed == 0
            || pk.due
            || (ngx_msec_int_t) (now - pk.failed)
               >= (ngx_msec_int_t) g->interval)
        && (!pk.answer
            || pk.due
            || (pk.pending
                && (ngx_msec_int_t) (now - pk.fetched)
                   >= (ngx_msec_int_t) g->interval))
        && (pk.due || ngx_http_ci_jobs_watch_spread()))
    {
        ngx_http_ci_jobs_watch_refresh_start(g);
    }
}


/*
 * Whether a refresh that is due may start in this tick (one woken by a
 * notification of CI is not held back).
 */

static ngx_uint_t
ngx_http_ci_jobs_watch_spread(void)
{
    if (ngx_http_ci_jobs_watch_started
        >= ngx_max(ngx_http_ci_jobs_watch_budget, 1))
    {
        return 0;
    }

    ngx_http_ci_jobs_watch_started++;

    return 1;
}


/*
 * The key's watchers are walked only when something may be due for one
 * of them: another answer or a failed query in the zone, a watcher new
 * since the last walk, the earliest end or heartbeat among them, or the
 * worker's exit.  Otherwise a look costs the key, not its watchers.
 */

static ngx_uint_t
ngx_http_ci_jobs_watch_walk_due(ngx_http_ci_jobs_watch_group_t *g,
    ngx_http_ci_jobs_cache_peek_t *pk, ngx_msec_t now)
{
    return ngx_exiting || ngx_terminate || g->joined
           || pk->failed != g->failed
           || (pk->answer
               && (!g->answered
                   || ngx_memcmp(pk->digest, g->digest,
                                 NGX_HTTP_CI_JOBS_DIGEST_LEN) != 0))
           || (ngx_msec_int_t) (now - g->walk_by) >= 0;
}


/* after a walk: what it saw, and when the next watcher falls due */

static void
ngx_http_ci_jobs_watch_walked(ngx_http_ci_jobs_watch_group_t *g,
    ngx_http_ci_jobs_cache_peek_t *pk, ngx_msec_t now)
{
    ngx_msec_t               by, beat;
    ngx_queue_t             *q;
    ngx_http_ci_jobs_ctx_t  *ctx;

    ngx_memcpy(g->digest, pk->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);
    g->answered = pk->answer;
    g->failed = pk->failed;
    g->joined = 0;

    by = now + NGX_HTTP_CI_JOBS_WATCH_HEARTBEAT;

    for (q = ngx_queue_head(&g->watchers);
         q != ngx_queue_sentinel(&g->watchers);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_http_ci_jobs_ctx_t, watch_queue);

        if ((ngx_msec_int_t) (ctx->watch_end - by) < 0) {
            by = ctx->watch_end;
        }

        beat = ctx->stream_last + NGX_HTTP_CI_JOBS_WATCH_HEARTBEAT;

        if (ctx->watch_stream && (ngx_msec_int_t) (beat - by) < 0) {
            by = beat;
        }
    }

    g->walk_by = by;
}


/*
 * A refresh has stored its answer (or failed): this worker looks at its
 * key at once rather than on its next tick (at every key when the
 * carrier is no longer the key's watcher); the others see it on theirs.
 */

static ngx_int_t
ngx_http_ci_jobs_watch_refreshed(ngx_http_request_t *r, void *data,
    ngx_int_t rc)
{
    ngx_http_ci_jobs_watch_refresh_t *rf = data;

    ngx_http_ci_jobs_watch_group_t  *g;

    g = rf->carrier->watch_group;

    if (g == NULL) {
        ngx_http_ci_jobs_watch_soon();
        return rc;
    }

    if (!g->soon) {
        g->soon = 1;
        ngx_queue_insert_tail(&ngx_http_ci_jobs_watch_stored, &g->stored);
    }

    if (!ngx_http_ci_jobs_watch_stored_event.posted) {
        ngx_post_event(&ngx_http_ci_jobs_watch_stored_event,
                       &ngx_posted_events);
    }

    return rc;
}


/* the keys whose refresh has just stored, after the events that did it */

static void
ngx_http_ci_jobs_watch_stored_look(ngx_event_t *ev)
{
    ngx_queue_t                     *q;
    ngx_http_ci_jobs_watch_group_t  *g;

    while (!ngx_queue_empty(&ngx_http_ci_jobs_watch_stored)) {
        q = ngx_queue_head(&ngx_http_ci_jobs_watch_stored);
        g = ngx_queue_data(q, ngx_http_ci_jobs_watch_group_t, stored);

        ngx_queue_remove(q);
        g->soon = 0;

        /* an empty group is freed on the tick */

        if (!ngx_queue_empty(&g->watchers)) {
            ngx_http_ci_jobs_watch_look(g);
        }
    }
}


/* the worker's watchers looked at after the current events, not later */

void
ngx_http_ci_jobs_watch_soon(void)
{
    if (ngx_http_ci_jobs_watchers
        && !ngx_http_ci_jobs_watch_timer.posted)
    {
        ngx_post_event(&ngx_http_ci_jobs_watch_timer, &ngx_posted_events);
    }
}


/* the watcher is answered from the zone: 200 if it changed, 304 if not */

static void
ngx_http_ci_jobs_watch_wake(ngx_http_request_t *r,
    ngx_http_ci_jobs_watch_group_t *g, ngx_http_ci_jobs_cache_peek_t *pk)
{
    ngx_str_t                     wait;
    ngx_int_t                     rc;
    ngx_connection_t             *c;
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    static ngx_str_t  applied = ngx_string("Preference-Applied");

    c = r->connection;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    ngx_http_ci_jobs_watch_remove(ctx);

    ngx_http_set_log_request(c->log, r);

    wait.data = ngx_pnalloc(r->pool, sizeof("wait=") - 1 + NGX_TIME_T_LEN);
    if (wait.data == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        goto done;
    }

    wait.len = ngx_sprintf(wait.data, "wait=%T", ctx->watch_wait) - wait.data;

    if (ngx_http_ci_jobs_add_header(r, &applied, &wait) == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        goto done;
    }

    /* a changed answer: the key's rendering, made once for all */

    rc = NGX_DECLINED;

    if (pk->answer
        && ngx_memcmp(pk->digest, ctx->watch_digest,
                      NGX_HTTP_CI_JOBS_DIGEST_LEN) != 0)
    {
        rc = ngx_http_ci_jobs_watch_shared(r, ctx, lcf, g, pk);

        if (rc != NGX_DECLINED) {
            if (r->headers_out.status == NGX_HTTP_OK) {
                ngx_http_ci_jobs_count_watch_events(1);
            }

            goto finalize;
        }
    }

    rc = ngx_http_ci_jobs_cache_latest(r, ctx, lcf);

    if (rc == NGX_OK) {
        rc = ngx_http_ci_jobs_answer(r, ctx, ctx->body,
                                     NGX_HTTP_CI_JOBS_FROM_CACHE, NULL);

        if (r->headers_out.status == NGX_HTTP_OK) {
            /* a changed answer, not the 304 of a wait that is over */
            ngx_http_ci_jobs_count_watch_events(1);
        }

    } else if (rc == NGX_DECLINED) {
        /* the entry is gone: a lookup as any other */
        rc = ngx_http_ci_jobs_lookup(r, ctx, lcf);

    } else {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

finalize:

    ngx_http_finalize_request(r, rc);

done:

    ngx_http_run_posted_requests(c);
}


/*
 * A woken long-poll sent the key's rendering of the zone's answer, made
 * by the first of them and shared by the others: the burst of answers a
 * change wakes costs one copy and one rendering, not one per request.
 * NGX_DECLINED: none to share (another location's, the entry gone).
 */

static ngx_int_t
ngx_http_ci_jobs_watch_shared(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_http_ci_jobs_watch_group_t *g, ngx_http_ci_jobs_cache_peek_t *pk)
{
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_str_t                         out;
    ngx_pool_t                       *pool;
    ngx_http_ci_jobs_xml_result_t     res;
    ngx_http_ci_jobs_watch_render_t  *rd;

    rd = g->render;

    if (rd == NULL
        || ngx_memcmp(rd->digest, pk->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN)
           != 0)
    {
        rc = ngx_http_ci_jobs_watch_latest(r, ctx, lcf, &pool);

        if (pool == NULL) {
            return NGX_ERROR;
        }

        if (rc == NGX_OK) {
            out.data = ctx->body->pos;
            out.len = ctx->body->last - ctx->body->pos;

            if (ctx->json) {
                rc = ngx_http_ci_jobs_watch_json(lcf, pool, out.data, out.len,
                                                 &res);
                out.data = res.json;
                out.len = res.json_len;
            }
        }

        rd = NULL;

        if (rc == NGX_OK) {
            rd = ngx_alloc(sizeof(ngx_http_ci_jobs_watch_render_t)
                           + ctx->ci_request_id.len + out.len,
                           r->connection->log);
        }

        if (rd != NULL) {
            rd->refs = 1;
            rd->lcf = lcf;
            rd->json = ctx->json;
            ngx_memcpy(rd->digest, ctx->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);

            p = (u_char *) rd + sizeof(ngx_http_ci_jobs_watch_render_t);

            rd->id.data = p;
            rd->id.len = ctx->ci_request_id.len;
            p = ngx_cpymem(p, ctx->ci_request_id.data, rd->id.len);

            rd->out.data = p;
            rd->out.len = out.len;
            ngx_memcpy(p, out.data, out.len);
        }

        ngx_destroy_pool(pool);

        /* what pointed into it */

        ctx->body = NULL;
        ctx->copy_held = NULL;
        ngx_str_null(&ctx->ci_request_id);

        if (rd == NULL) {
            return NGX_DECLINED;
        }

        if (g->render != NULL) {
            ngx_http_ci_jobs_watch_render_free(g->render);
        }

        g->render = rd;
    }

    if (rd->lcf != lcf || rd->json != ctx->json) {
        return NGX_DECLINED;
    }

    /* the request refers to it until it ends */

    if (ngx_http_ci_jobs_cleanup_add(r->pool,
                                     ngx_http_ci_jobs_watch_render_free, rd)
        == NULL)
    {
        return NGX_ERROR;
    }

    rd->refs++;

    ngx_memcpy(ctx->digest, rd->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);
    ctx->digested = 1;
    ctx->ci_request_id = rd->id;
    ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_HIT;

    return ngx_http_ci_jobs_answer_rendered(r, ctx, &rd->out);
}


/* a reference to a rendering let go of; the last frees it */

static void
ngx_http_ci_jobs_watch_render_free(void *data)
{
    ngx_http_ci_jobs_watch_render_t  *rd = data;

    if (--rd->refs == 0) {
        ngx_free(rd);
    }
}


/*
 * A refresh, carried by the key's newest watcher (the one likely to stay
 * longest is not the one to pay for it in its pool): a background
 * subrequest of it, which the content handler knows for the module's own
 * (ctx->refresh_sr) and which nothing but the cache sees.
 */

static void
ngx_http_ci_jobs_watch_refresh_start(ngx_http_ci_jobs_watch_group_t *g)
{
    ngx_int_t                          rc;
    ngx_pool_t                        *pool, *saved;
    ngx_connection_t                  *c;
    ngx_http_request_t                *r, *sr;
    ngx_http_ci_jobs_ctx_t            *ctx;
    ngx_http_core_srv_conf_t          *cscf;
    ngx_http_post_subrequest_t        *ps;
    ngx_http_ci_jobs_watch_refresh_t  *rf;

    ctx = ngx_queue_data(ngx_queue_last(&g->watchers),
                         ngx_http_ci_jobs_ctx_t, watch_queue);
    r = ctx->watch_request;
    c = r->connection;

    if (ctx->refresh_pool != NULL) {
        /* its last refresh is not done yet */
        return;
    }

    ngx_http_set_log_request(c->log, r);

    cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);

    pool = ngx_create_pool(cscf->request_pool_size, c->log);
    if (pool == NULL) {
        return;
    }

    rf = ngx_palloc(pool, sizeof(ngx_http_ci_jobs_watch_refresh_t));
    ps = ngx_palloc(pool, sizeof(ngx_http_post_subrequest_t));

    if (rf == NULL || ps == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    ps->handler = ngx_http_ci_jobs_watch_refreshed;
    ps->data = rf;

    /* the subrequest is made in the pool (sr->pool = r->pool) */

    saved = r->pool;
    r->pool = pool;

    rc = ngx_http_subrequest(r, &r->uri, &r->args, &sr, ps,
                             NGX_HTTP_SUBREQUEST_CLONE
                             |NGX_HTTP_SUBREQUEST_BACKGROUND);

    r->pool = saved;

    if (rc != NGX_OK) {
        ngx_destroy_pool(pool);
        return;
    }

    rf->pool = pool;
    rf->sr = sr;
    rf->carrier = ctx;
    ngx_queue_insert_tail(&ngx_http_ci_jobs_watch_refreshes, &rf->queue);

    ctx->refresh_sr = sr;
    ctx->refresh_pool = rf;
    g->refreshed = ngx_current_msec;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ci_jobs watch: refresh");

    ngx_http_run_posted_requests(c);
}


/*
 * In the content handler, for a subrequest: the module's own refresh,
 * which goes upstream only with the key's lock, taken when the entry is
 * still due; another worker's refresh makes it needless.
 */

ngx_int_t
ngx_http_ci_jobs_watch_refresh(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_int_t  rc;

    rc = ngx_http_ci_jobs_cache_key_init(r, ctx, lcf);

    if (rc == NGX_OK) {
        rc = ngx_http_ci_jobs_cache_refresh_lock(r, ctx, lcf);
    }

    if (rc == NGX_DECLINED) {
        return NGX_OK;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ci_jobs_upstream_init(r, lcf);
}


/* a subrequest is the module's own refresh when its parent says so */

ngx_uint_t
ngx_http_ci_jobs_watch_is_refresh(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_ctx_t  *pctx;

    pctx = ngx_http_get_module_ctx(r->parent, ngx_http_ci_jobs_module);

    return (pctx != NULL && pctx->refresh_sr == r);
}
