
/*
 * CI's host name resolved at run time, through nginx's resolver (the
 * "resolver" directive of the location): one resolution per target per
 * worker, shared by all its requests, started when the worker starts and
 * again, in the background, shortly before the answer's TTL (or "resolver
 * ... valid=") runs out, so that a new answer is in use by then.
 *
 * The addresses of an answer are a round-robin peer set of their own,
 * the upstream's peer.data in this worker; when an answer differs, a new
 * set replaces it, and requests that began on the old one finish on it.
 * A set is freed when no request holds it any more.  Rebuilding a set is
 * simpler than changing one in place: round robin's per-request state
 * (its tried bitmap, the peer it picked) always matches the set it began
 * with, and addresses never change under a request.
 *
 * A failed resolution keeps the last addresses; requests wait only for
 * the first answer, and get a 502 if a resolution ends without one.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_counters.h"
#include "ngx_http_ci_jobs_keepalive.h"


/* after a failure: the next attempt */
#define NGX_HTTP_CI_JOBS_RESOLVE_RETRY      1000

/*
 * An answer's life, in seconds, as used: a TTL of 0 taken as 1, one over a
 * day as a day (and the timer within 32 bits); the next resolution starts
 * when a tenth of it is left.
 */
#define NGX_HTTP_CI_JOBS_RESOLVE_LIFE_MIN   1
#define NGX_HTTP_CI_JOBS_RESOLVE_LIFE_MAX   86400
#define NGX_HTTP_CI_JOBS_RESOLVE_AHEAD      10

/* round robin's defaults for a server: max_fails=1 fail_timeout=10s */
#define NGX_HTTP_CI_JOBS_MAX_FAILS          1
#define NGX_HTTP_CI_JOBS_FAIL_TIMEOUT       10


typedef struct {
    ngx_http_upstream_rr_peers_t       peers;
    ngx_pool_t                        *pool;
    ngx_uint_t                         refs;    /* requests, and current */
} ngx_http_ci_jobs_peer_set_t;


struct ngx_http_ci_jobs_resolve_s {
    ngx_str_t                          host;
    in_port_t                          port;
    ngx_resolver_t                    *resolver;
    ngx_msec_t                         timeout;
    ngx_http_upstream_srv_conf_t      *upstream;
    ngx_http_ci_jobs_keepalive_t      *keepalive;   /* its pool, or NULL */
    ngx_http_ci_jobs_peer_set_t       *current;
    ngx_resolver_ctx_t                *ctx;         /* under way */
    ngx_event_t                        timer;       /* the next one */
    ngx_queue_t                        waiting;     /* for a first answer */
    unsigned                           failing:1;
};


/* a request waiting for the first answer */

typedef struct {
    ngx_queue_t                        queue;
    ngx_http_request_t                *request;
} ngx_http_ci_jobs_waiter_t;


/* a request's hold on the set it began with */

typedef struct {
    ngx_http_ci_jobs_resolve_t        *resolve;
    ngx_http_ci_jobs_peer_set_t       *set;
} ngx_http_ci_jobs_hold_t;


static void ngx_http_ci_jobs_resolve_timer(ngx_event_t *ev);
static void ngx_http_ci_jobs_resolve_start(ngx_http_ci_jobs_resolve_t *res);
static void ngx_http_ci_jobs_resolve_expire(ngx_http_ci_jobs_resolve_t *res);
static ngx_resolver_node_t *ngx_http_ci_jobs_resolver_node(ngx_resolver_t *r,
    ngx_str_t *name);
static void ngx_http_ci_jobs_resolve_handler(ngx_resolver_ctx_t *ctx);
static void ngx_http_ci_jobs_resolve_failed(ngx_http_ci_jobs_resolve_t *res,
    ngx_int_t state);
static ngx_uint_t ngx_http_ci_jobs_resolve_changed(
    ngx_http_ci_jobs_resolve_t *res, ngx_resolver_ctx_t *ctx);
static ngx_http_ci_jobs_peer_set_t *ngx_http_ci_jobs_peer_set(
    ngx_http_ci_jobs_resolve_t *res, ngx_resolver_ctx_t *ctx);
static void ngx_http_ci_jobs_peer_set_release(ngx_http_ci_jobs_resolve_t *res,
    ngx_http_ci_jobs_peer_set_t *set);
static void ngx_http_ci_jobs_resolve_wake(ngx_http_ci_jobs_resolve_t *res,
    ngx_uint_t answered);
static void ngx_http_ci_jobs_waiter_cleanup(void *data);
static void ngx_http_ci_jobs_hold_cleanup(void *data);


ngx_http_ci_jobs_resolve_t *
ngx_http_ci_jobs_resolve_create(ngx_conf_t *cf, ngx_url_t *u,
    ngx_http_upstream_srv_conf_t *uscf, ngx_resolver_t *resolver,
    ngx_msec_t timeout, ngx_http_ci_jobs_keepalive_t *keepalive)
{
    ngx_str_t                    host;
    ngx_http_ci_jobs_resolve_t  *res;

    res = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_resolve_t));
    if (res == NULL) {
        return NULL;
    }

    /* as nginx's resolver keeps the name: lower case, no final dot */

    host = u->host;

    if (host.len > 1 && host.data[host.len - 1] == '.') {
        host.len--;
    }

    res->host.data = ngx_pnalloc(cf->pool, host.len);
    if (res->host.data == NULL) {
        return NULL;
    }

    ngx_strlow(res->host.data, host.data, host.len);
    res->host.len = host.len;

    res->port = u->port ? u->port : u->default_port;
    res->resolver = resolver;
    res->timeout = timeout;
    res->upstream = uscf;
    res->keepalive = keepalive;

    return res;
}


/* a worker starts: its first resolution, from the event loop */

void
ngx_http_ci_jobs_resolve_init_process(ngx_http_ci_jobs_resolve_t *res)
{
    ngx_queue_init(&res->waiting);

    res->timer.handler = ngx_http_ci_jobs_resolve_timer;
    res->timer.data = res;
    res->timer.log = ngx_cycle->log;
    res->timer.cancelable = 1;

    ngx_add_timer(&res->timer, 0);
}


/* a worker leaves: what this worker holds */

void
ngx_http_ci_jobs_resolve_exit(ngx_http_ci_jobs_resolve_t *res)
{
    if (res->ctx) {
        ngx_resolve_name_done(res->ctx);
        res->ctx = NULL;
    }

    if (res->timer.timer_set) {
        ngx_del_timer(&res->timer);
    }

    if (res->current) {
        res->upstream->peer.data = NULL;
        ngx_http_ci_jobs_peer_set_release(res, res->current);
        res->current = NULL;
    }
}


/*
 * NGX_OK: there are addresses; NGX_AGAIN: the request waits for the first
 * answer, and the resolution resumes it (ngx_http_upstream_init) or ends
 * it with a 502.
 */

ngx_int_t
ngx_http_ci_jobs_resolve_wait(ngx_http_request_t *r,
    ngx_http_ci_jobs_resolve_t *res)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_ci_jobs_waiter_t  *w;

    if (res->current) {
        return NGX_OK;
    }

    w = ngx_palloc(r->pool, sizeof(ngx_http_ci_jobs_waiter_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    ngx_queue_insert_tail(&res->waiting, &w->queue);

    cln->handler = ngx_http_ci_jobs_waiter_cleanup;
    cln->data = w;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ci_jobs resolve: waiting for \"%V\"", &res->host);

    /* none under way: the last one failed, and its retry comes now */

    if (res->ctx == NULL) {
        if (res->timer.timer_set) {
            ngx_del_timer(&res->timer);
        }

        ngx_http_ci_jobs_resolve_start(res);
    }

    return NGX_AGAIN;
}


/*
 * The upstream's peer.init: round robin over the current set, held by the
 * request until it ends, whatever answers come meanwhile.
 */

ngx_int_t
ngx_http_ci_jobs_resolve_init_peer(ngx_http_request_t *r,
    ngx_http_ci_jobs_resolve_t *res, ngx_http_upstream_srv_conf_t *us)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_ci_jobs_hold_t  *hold;

    if (res->current == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ci_jobs: no address of \"%V\" yet", &res->host);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_ci_jobs_hold_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    hold = cln->data;
    hold->resolve = res;
    hold->set = res->current;
    hold->set->refs++;

    cln->handler = ngx_http_ci_jobs_hold_cleanup;

    return ngx_http_upstream_init_round_robin_peer(r, us);
}


/* a resolution the worker schedules asks the DNS server, not the cache */

static void
ngx_http_ci_jobs_resolve_timer(ngx_event_t *ev)
{
    ngx_http_ci_jobs_resolve_t *res = ev->data;

    if (res->ctx == NULL) {
        ngx_http_ci_jobs_resolve_expire(res);
    }

    ngx_http_ci_jobs_resolve_start(res);
}


static void
ngx_http_ci_jobs_resolve_start(ngx_http_ci_jobs_resolve_t *res)
{
    ngx_resolver_ctx_t  *ctx, temp;

    if (res->ctx || ngx_exiting || ngx_terminate) {
        return;
    }

    temp.name = res->host;

    ctx = ngx_resolve_start(res->resolver, &temp);

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_http_ci_jobs_resolve_failed(res, NGX_ERROR);
        return;
    }

    ctx->name = res->host;
    ctx->handler = ngx_http_ci_jobs_resolve_handler;
    ctx->data = res;
    ctx->timeout = res->timeout;

    /* a resolution under way does not hold back a worker that leaves */
    ctx->cancelable = 1;

    res->ctx = ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ci_jobs resolve: resolving \"%V\"", &res->host);

    /* the handler may run before this returns, from the resolver's cache */

    if (ngx_resolve_name(ctx) != NGX_OK) {
        res->ctx = NULL;
        ngx_http_ci_jobs_resolve_failed(res, NGX_ERROR);
    }
}


/*
 * nginx's resolver keeps an answer until the end of the second its TTL runs
 * out in, up to a second longer than the TTL.  Before a scheduled
 * resolution the cached answer, and those of the CNAMEs it leads through,
 * are marked out of date, as nginx marks one it asks again for, so that
 * the DNS server is asked; one being asked for already is left as it is,
 * and joined.
 */

static void
ngx_http_ci_jobs_resolve_expire(ngx_http_ci_jobs_resolve_t *res)
{
    ngx_str_t             name;
    ngx_uint_t            n, naddrs;
    ngx_resolver_node_t  *rn;

    name = res->host;

    for (n = 0; n < NGX_RESOLVER_MAX_RECURSION; n++) {

        rn = ngx_http_ci_jobs_resolver_node(res->resolver, &name);

        if (rn == NULL || rn->waiting || rn->valid < ngx_time()) {
            return;
        }

        rn->valid = 0;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "ci_jobs resolve: cached \"%V\" out of date", &name);

        /* a CNAME alone: nginx's own test (ngx_resolve_name_locked) */

        naddrs = (rn->naddrs == (u_short) -1) ? 0 : rn->naddrs;
#if (NGX_HAVE_INET6)
        naddrs += (rn->naddrs6 == (u_short) -1) ? 0 : rn->naddrs6;
#endif

        if (naddrs || rn->nsrvs || rn->cnlen == 0) {
            return;
        }

        name.data = rn->u.cname;
        name.len = rn->cnlen;
    }
}


/* a name's node in the resolver's cache, found as the resolver finds it */

static ngx_resolver_node_t *
ngx_http_ci_jobs_resolver_node(ngx_resolver_t *r, ngx_str_t *name)
{
    uint32_t              hash;
    ngx_int_t             rc;
    ngx_rbtree_node_t    *node, *sentinel;
    ngx_resolver_node_t  *rn;

    hash = ngx_crc32_short(name->data, name->len);

    node = r->name_rbtree.root;
    sentinel = r->name_rbtree.sentinel;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        rn = ngx_rbtree_data(node, ngx_resolver_node_t, node);

        rc = ngx_memn2cmp(name->data, rn->name, name->len, rn->nlen);

        if (rc == 0) {
            return rn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_ci_jobs_resolve_handler(ngx_resolver_ctx_t *ctx)
{
    ngx_http_ci_jobs_resolve_t *res = ctx->data;

    time_t                        valid, life;
    ngx_int_t                     state;
    ngx_msec_t                    delay;
    ngx_http_ci_jobs_peer_set_t  *set;

    res->ctx = NULL;
    state = ctx->state;
    valid = ctx->valid;

    if (state || ctx->naddrs == 0) {
        ngx_resolve_name_done(ctx);
        ngx_http_ci_jobs_resolve_failed(res, state ? state : NGX_ERROR);
        return;
    }

    if (ngx_http_ci_jobs_resolve_changed(res, ctx)) {
        set = ngx_http_ci_jobs_peer_set(res, ctx);

        if (set == NULL) {
            ngx_resolve_name_done(ctx);
            ngx_http_ci_jobs_resolve_failed(res, NGX_ERROR);
            return;
        }

        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ci_jobs: \"%V\" resolved to %V%s",
                      &res->host, &set->peers.peer->name,
                      set->peers.number > 1 ? " and more" : "");

        if (res->current) {
            ngx_http_ci_jobs_peer_set_release(res, res->current);
        }

        res->current = set;
        res->upstream->peer.data = &set->peers;

        /* idle connections to addresses no longer in the answer */

        if (res->keepalive) {
            ngx_http_ci_jobs_keepalive_forget(res->keepalive);
        }

        ngx_http_ci_jobs_count_resolution(NGX_HTTP_CI_JOBS_RESOLVED_CHANGED);

    } else {
        ngx_http_ci_jobs_count_resolution(
                                      NGX_HTTP_CI_JOBS_RESOLVED_UNCHANGED);
    }

    ngx_resolve_name_done(ctx);

    if (res->failing) {
        res->failing = 0;
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ci_jobs: \"%V\" resolves again", &res->host);
    }

    ngx_http_ci_jobs_resolve_wake(res, 1);

    /*
     * The answer lives valid - now seconds from now, nginx's time being
     * whole seconds: it is fresh from the DNS server (a scheduled
     * resolution expires the cached one), or, for a first answer, one
     * cached at most a second longer.  The next resolution starts when a
     * tenth of that is left, so that a new answer is in use before this
     * one runs out.
     */

    life = valid - ngx_time();

    if (life < NGX_HTTP_CI_JOBS_RESOLVE_LIFE_MIN) {
        life = NGX_HTTP_CI_JOBS_RESOLVE_LIFE_MIN;

    } else if (life > NGX_HTTP_CI_JOBS_RESOLVE_LIFE_MAX) {
        life = NGX_HTTP_CI_JOBS_RESOLVE_LIFE_MAX;
    }

    delay = (ngx_msec_t) life * 1000;
    delay -= delay / NGX_HTTP_CI_JOBS_RESOLVE_AHEAD;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ci_jobs resolve: \"%V\" again in %M ms",
                   &res->host, delay);

    if (!ngx_exiting) {
        ngx_add_timer(&res->timer, delay);
    }
}


/* the last addresses stay; waiting requests get their 502 */

static void
ngx_http_ci_jobs_resolve_failed(ngx_http_ci_jobs_resolve_t *res,
    ngx_int_t state)
{
    ngx_http_ci_jobs_count_resolution(NGX_HTTP_CI_JOBS_RESOLVED_FAILED);

    if (!res->failing) {
        res->failing = 1;
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ci_jobs: \"%V\" could not be resolved (%i: %s)%s",
                      &res->host, state,
                      (state > 0) ? ngx_resolver_strerror(state)
                                  : "no address",
                      res->current ? ", the last addresses are kept" : "");
    }

    ngx_http_ci_jobs_resolve_wake(res, 0);

    if (!ngx_exiting) {
        ngx_add_timer(&res->timer, NGX_HTTP_CI_JOBS_RESOLVE_RETRY);
    }
}


static ngx_uint_t
ngx_http_ci_jobs_resolve_changed(ngx_http_ci_jobs_resolve_t *res,
    ngx_resolver_ctx_t *ctx)
{
    ngx_uint_t                    i;
    ngx_http_upstream_rr_peer_t  *peer;

    if (res->current == NULL || res->current->peers.number != ctx->naddrs) {
        return 1;
    }

    for (i = 0; i < ctx->naddrs; i++) {

        for (peer = res->current->peers.peer; peer; peer = peer->next) {
            if (ngx_cmp_sockaddr(peer->sockaddr, peer->socklen,
                                 ctx->addrs[i].sockaddr,
                                 ctx->addrs[i].socklen, 0)
                == NGX_OK)
            {
                break;
            }
        }

        if (peer == NULL) {
            return 1;
        }
    }

    return 0;
}


/* an answer's addresses, at the URL's port, as round robin's servers */

static ngx_http_ci_jobs_peer_set_t *
ngx_http_ci_jobs_peer_set(ngx_http_ci_jobs_resolve_t *res,
    ngx_resolver_ctx_t *ctx)
{
    u_char                       *p;
    size_t                        len;
    ngx_uint_t                    i, n;
    ngx_pool_t                   *pool;
    struct sockaddr              *sa;
    ngx_http_upstream_rr_peer_t  *peer;
    ngx_http_ci_jobs_peer_set_t  *set;

    n = ctx->naddrs;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    set = ngx_pcalloc(pool, sizeof(ngx_http_ci_jobs_peer_set_t));
    peer = ngx_pcalloc(pool, sizeof(ngx_http_upstream_rr_peer_t) * n);

    if (set == NULL || peer == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    for (i = 0; i < n; i++) {
        len = ctx->addrs[i].socklen;

        sa = ngx_palloc(pool, len);
        p = ngx_pnalloc(pool, NGX_SOCKADDR_STRLEN);

        if (sa == NULL || p == NULL) {
            ngx_destroy_pool(pool);
            return NULL;
        }

        ngx_memcpy(sa, ctx->addrs[i].sockaddr, len);
        ngx_inet_set_port(sa, res->port);

        peer[i].sockaddr = sa;
        peer[i].socklen = len;
        peer[i].name.data = p;
        peer[i].name.len = ngx_sock_ntop(sa, len, p, NGX_SOCKADDR_STRLEN, 1);
        peer[i].server = res->host;
        peer[i].weight = 1;
        peer[i].effective_weight = 1;
        peer[i].max_fails = NGX_HTTP_CI_JOBS_MAX_FAILS;
        peer[i].fail_timeout = NGX_HTTP_CI_JOBS_FAIL_TIMEOUT;
        peer[i].next = (i + 1 < n) ? &peer[i + 1] : NULL;
    }

    set->peers.number = n;
    set->peers.total_weight = n;
    set->peers.tries = n;
    set->peers.single = (n == 1);
    set->peers.name = &res->host;
    set->peers.peer = peer;

    set->pool = pool;
    set->refs = 1;

    return set;
}


/* a set no request and no answer holds goes, with its TLS sessions */

static void
ngx_http_ci_jobs_peer_set_release(ngx_http_ci_jobs_resolve_t *res,
    ngx_http_ci_jobs_peer_set_t *set)
{
    if (--set->refs) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ci_jobs resolve: addresses of \"%V\" freed", &res->host);

#if (NGX_HTTP_SSL)
    ngx_http_ci_jobs_free_sessions(&set->peers);
#endif

    ngx_destroy_pool(set->pool);
}


/* a resolution ends: the requests that waited go on, or get their 502 */

static void
ngx_http_ci_jobs_resolve_wake(ngx_http_ci_jobs_resolve_t *res,
    ngx_uint_t answered)
{
    ngx_queue_t                *q;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_ci_jobs_waiter_t  *w;

    while (!ngx_queue_empty(&res->waiting)) {
        q = ngx_queue_head(&res->waiting);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_ci_jobs_waiter_t, queue);
        r = w->request;
        w->request = NULL;

        c = r->connection;

        if (answered) {
            ngx_http_upstream_init(r);

        } else {
            ngx_http_finalize_request(r, NGX_HTTP_BAD_GATEWAY);
        }

        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_http_ci_jobs_waiter_cleanup(void *data)
{
    ngx_http_ci_jobs_waiter_t  *w = data;

    if (w->request) {
        ngx_queue_remove(&w->queue);
        w->request = NULL;
    }
}


static void
ngx_http_ci_jobs_hold_cleanup(void *data)
{
    ngx_http_ci_jobs_hold_t  *hold = data;

    ngx_http_ci_jobs_peer_set_release(hold->resolve, hold->set);
}
