
/*
 * The pool of idle connections of the module's own upstreams, a balancer
 * of our own in the public balancer interface: its get and free wrap
 * round robin's, keeping the idle connections of the upstream's one
 * target.  The rules are those of nginx's keepalive module, which does the
 * same for the upstream {} blocks that ask for it.
 *
 * It knows round robin's peers alone: for a host name resolved at run
 * time (ngx_http_ci_jobs_resolve.c) the upstream's peer.data is the
 * answer in use, and only connections to its addresses are kept.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_keepalive.h"


/* an own upstream's pool: nginx's keepalive defaults */
#define NGX_HTTP_CI_JOBS_KEEPALIVE_REQUESTS   1000
#define NGX_HTTP_CI_JOBS_KEEPALIVE_TIME       3600000     /* 1 h */
#define NGX_HTTP_CI_JOBS_KEEPALIVE_TIMEOUT    60000       /* 60 s */


/* the idle connections of an own upstream, most recently used first */

struct ngx_http_ci_jobs_keepalive_s {
    ngx_queue_t                        cache;
    ngx_queue_t                        free;
    ngx_http_upstream_srv_conf_t      *resolved;      /* or NULL */
};


typedef struct {
    ngx_http_ci_jobs_keepalive_t      *keepalive;
    ngx_queue_t                        queue;
    ngx_connection_t                  *connection;
    socklen_t                          socklen;
    ngx_sockaddr_t                     sockaddr;
} ngx_http_ci_jobs_keepalive_item_t;


/* a request's peer: round robin's, wrapped */

typedef struct {
    ngx_http_ci_jobs_keepalive_t      *keepalive;
    ngx_http_upstream_t               *upstream;
    void                              *data;          /* round robin's */
    ngx_event_get_peer_pt              get_peer;
    ngx_event_free_peer_pt             free_peer;
#if (NGX_HTTP_SSL)
    ngx_event_set_peer_session_pt      set_session;
    ngx_event_save_peer_session_pt     save_session;
#endif
} ngx_http_ci_jobs_keepalive_peer_t;


static ngx_uint_t ngx_http_ci_jobs_keepalive_current(
    ngx_http_ci_jobs_keepalive_t *ka, struct sockaddr *sockaddr,
    socklen_t socklen);
static ngx_int_t ngx_http_ci_jobs_keepalive_get_peer(ngx_peer_connection_t *pc,
    void *data);
static void ngx_http_ci_jobs_keepalive_free_peer(ngx_peer_connection_t *pc,
    void *data, ngx_uint_t state);
static void ngx_http_ci_jobs_keepalive_log(ngx_connection_t *c,
    ngx_log_t *log);
static void ngx_http_ci_jobs_keepalive_dummy_handler(ngx_event_t *ev);
static void ngx_http_ci_jobs_keepalive_close_handler(ngx_event_t *ev);
static void ngx_http_ci_jobs_keepalive_close(ngx_connection_t *c);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_ci_jobs_keepalive_set_session(
    ngx_peer_connection_t *pc, void *data);
static void ngx_http_ci_jobs_keepalive_save_session(ngx_peer_connection_t *pc,
    void *data);
#endif


/*
 * A pool of max_cached connections; resolved: the upstream whose
 * peer.data is the answer in use, when its name is resolved at run time.
 */

ngx_http_ci_jobs_keepalive_t *
ngx_http_ci_jobs_keepalive_create(ngx_conf_t *cf, ngx_uint_t max_cached,
    ngx_http_upstream_srv_conf_t *resolved)
{
    ngx_uint_t                          i;
    ngx_http_ci_jobs_keepalive_t       *ka;
    ngx_http_ci_jobs_keepalive_item_t  *items;

    ka = ngx_palloc(cf->pool, sizeof(ngx_http_ci_jobs_keepalive_t));
    if (ka == NULL) {
        return NULL;
    }

    items = ngx_pcalloc(cf->pool,
                        sizeof(ngx_http_ci_jobs_keepalive_item_t)
                        * max_cached);
    if (items == NULL) {
        return NULL;
    }

    ngx_queue_init(&ka->cache);
    ngx_queue_init(&ka->free);
    ka->resolved = resolved;

    for (i = 0; i < max_cached; i++) {
        items[i].keepalive = ka;
        ngx_queue_insert_head(&ka->free, &items[i].queue);
    }

    return ka;
}


/* after the upstream's peer.init: the pool around round robin's peer */

ngx_int_t
ngx_http_ci_jobs_keepalive_init_peer(ngx_http_request_t *r,
    ngx_http_ci_jobs_keepalive_t *ka)
{
    ngx_http_upstream_t                *u;
    ngx_http_ci_jobs_keepalive_peer_t  *kp;

    kp = ngx_palloc(r->pool, sizeof(ngx_http_ci_jobs_keepalive_peer_t));
    if (kp == NULL) {
        return NGX_ERROR;
    }

    u = r->upstream;

    kp->keepalive = ka;
    kp->upstream = u;
    kp->data = u->peer.data;
    kp->get_peer = u->peer.get;
    kp->free_peer = u->peer.free;

    u->peer.data = kp;
    u->peer.get = ngx_http_ci_jobs_keepalive_get_peer;
    u->peer.free = ngx_http_ci_jobs_keepalive_free_peer;

#if (NGX_HTTP_SSL)
    kp->set_session = u->peer.set_session;
    kp->save_session = u->peer.save_session;

    u->peer.set_session = ngx_http_ci_jobs_keepalive_set_session;
    u->peer.save_session = ngx_http_ci_jobs_keepalive_save_session;
#endif

    return NGX_OK;
}


/*
 * An answer changed: the idle connections to addresses it no longer has
 * are closed (the ones in use finish their requests, and are not kept).
 */

void
ngx_http_ci_jobs_keepalive_forget(ngx_http_ci_jobs_keepalive_t *ka)
{
    ngx_queue_t                        *q, *next;
    ngx_http_ci_jobs_keepalive_item_t  *item;

    for (q = ngx_queue_head(&ka->cache);
         q != ngx_queue_sentinel(&ka->cache);
         q = next)
    {
        next = ngx_queue_next(q);

        item = ngx_queue_data(q, ngx_http_ci_jobs_keepalive_item_t, queue);

        if (ngx_http_ci_jobs_keepalive_current(ka,
                                            (struct sockaddr *) &item->sockaddr,
                                            item->socklen))
        {
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "ci_jobs keepalive: closing connection %p, "
                       "its address is gone", item->connection);

        ngx_queue_remove(q);
        ngx_queue_insert_head(&ka->free, q);

        ngx_http_ci_jobs_keepalive_close(item->connection);
    }
}


/* whether an address is one of the answer's in use, as resolved */

static ngx_uint_t
ngx_http_ci_jobs_keepalive_current(ngx_http_ci_jobs_keepalive_t *ka,
    struct sockaddr *sockaddr, socklen_t socklen)
{
    ngx_http_upstream_rr_peer_t   *peer;
    ngx_http_upstream_rr_peers_t  *peers;

    peers = ka->resolved->peer.data;

    if (peers == NULL) {
        return 0;
    }

    for (peer = peers->peer; peer; peer = peer->next) {
        if (ngx_cmp_sockaddr(peer->sockaddr, peer->socklen, sockaddr, socklen,
                             1)
            == NGX_OK)
        {
            return 1;
        }
    }

    return 0;
}


/* the server round robin picks, over an idle connection to it if any */

static ngx_int_t
ngx_http_ci_jobs_keepalive_get_peer(ngx_peer_connection_t *pc, void *data)
{
    ngx_http_ci_jobs_keepalive_peer_t  *kp = data;

    ngx_int_t                           rc;
    ngx_queue_t                        *q, *cache;
    ngx_connection_t                   *c;
    ngx_http_ci_jobs_keepalive_item_t  *item;

    rc = kp->get_peer(pc, kp->data);

    if (rc != NGX_OK) {
        return rc;
    }

    cache = &kp->keepalive->cache;

    for (q = ngx_queue_head(cache);
         q != ngx_queue_sentinel(cache);
         q = ngx_queue_next(q))
    {
        item = ngx_queue_data(q, ngx_http_ci_jobs_keepalive_item_t, queue);

        if (ngx_memn2cmp((u_char *) &item->sockaddr, (u_char *) pc->sockaddr,
                         item->socklen, pc->socklen)
            == 0)
        {
            ngx_queue_remove(q);
            ngx_queue_insert_head(&kp->keepalive->free, q);

            goto found;
        }
    }

    return NGX_OK;

found:

    c = item->connection;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "ci_jobs keepalive: using connection %p", c);

    c->idle = 0;
    c->sent = 0;
    c->data = NULL;
    ngx_http_ci_jobs_keepalive_log(c, pc->log);

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    pc->connection = c;
    pc->cached = 1;

    return NGX_DONE;
}


/*
 * A connection is kept when its answer was read whole and the upstream may
 * send another (u->keepalive), nothing failed on it, it is young enough
 * and the worker is not leaving; the least recently used one makes room.
 */

static void
ngx_http_ci_jobs_keepalive_free_peer(ngx_peer_connection_t *pc, void *data,
    ngx_uint_t state)
{
    ngx_http_ci_jobs_keepalive_peer_t  *kp = data;

    ngx_queue_t                        *q;
    ngx_connection_t                   *c;
    ngx_http_upstream_t                *u;
    ngx_http_ci_jobs_keepalive_t       *ka;
    ngx_http_ci_jobs_keepalive_item_t  *item;

    u = kp->upstream;
    ka = kp->keepalive;
    c = pc->connection;

    if (state & NGX_PEER_FAILED
        || c == NULL
        || c->read->eof
        || c->read->error
        || c->read->timedout
        || c->write->error
        || c->write->timedout
        || c->requests >= NGX_HTTP_CI_JOBS_KEEPALIVE_REQUESTS
        || ngx_current_msec - c->start_time > NGX_HTTP_CI_JOBS_KEEPALIVE_TIME
        || !u->keepalive
        || !u->request_body_sent
        || ngx_terminate
        || ngx_exiting
        || (ka->resolved
            && !ngx_http_ci_jobs_keepalive_current(ka, pc->sockaddr,
                                                   pc->socklen))
        || ngx_handle_read_event(c->read, 0) != NGX_OK)
    {
        goto done;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->log, 0,
                   "ci_jobs keepalive: saving connection %p", c);

    if (ngx_queue_empty(&ka->free)) {
        q = ngx_queue_last(&ka->cache);
        ngx_queue_remove(q);

        item = ngx_queue_data(q, ngx_http_ci_jobs_keepalive_item_t, queue);

        ngx_http_ci_jobs_keepalive_close(item->connection);

    } else {
        q = ngx_queue_head(&ka->free);
        ngx_queue_remove(q);

        item = ngx_queue_data(q, ngx_http_ci_jobs_keepalive_item_t, queue);
    }

    ngx_queue_insert_head(&ka->cache, q);

    item->connection = c;
    item->socklen = pc->socklen;
    ngx_memcpy(&item->sockaddr, pc->sockaddr, pc->socklen);

    pc->connection = NULL;

    c->read->delayed = 0;
    ngx_add_timer(c->read, NGX_HTTP_CI_JOBS_KEEPALIVE_TIMEOUT);

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->write->handler = ngx_http_ci_jobs_keepalive_dummy_handler;
    c->read->handler = ngx_http_ci_jobs_keepalive_close_handler;

    /* idle: a worker that leaves closes it (ngx_close_idle_connections) */

    c->data = item;
    c->idle = 1;
    ngx_http_ci_jobs_keepalive_log(c, ngx_cycle->log);

    if (c->read->ready) {
        ngx_http_ci_jobs_keepalive_close_handler(c->read);
    }

done:

    kp->free_peer(pc, kp->data, state);
}


/* a connection's log, and its events' and pool's: a request's or the cycle's */

static void
ngx_http_ci_jobs_keepalive_log(ngx_connection_t *c, ngx_log_t *log)
{
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->pool->log = log;
}


static void
ngx_http_ci_jobs_keepalive_dummy_handler(ngx_event_t *ev)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "ci_jobs keepalive: write event while idle");
}


/*
 * An idle connection closes when its idle time is up, when the worker
 * leaves, and when the server sends anything: its close, or bytes no
 * request asked for.
 */

static void
ngx_http_ci_jobs_keepalive_close_handler(ngx_event_t *ev)
{
    int                                 n;
    char                                buf[1];
    ngx_connection_t                   *c;
    ngx_http_ci_jobs_keepalive_item_t  *item;

    c = ev->data;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                   "ci_jobs keepalive: event on idle connection %p", c);

    if (!c->close && !c->read->timedout) {
        n = recv(c->fd, buf, 1, MSG_PEEK);

        if (n == -1 && ngx_socket_errno == NGX_EAGAIN) {
            ev->ready = 0;

            if (ngx_handle_read_event(c->read, 0) == NGX_OK) {
                return;
            }
        }
    }

    item = c->data;

    ngx_http_ci_jobs_keepalive_close(c);

    ngx_queue_remove(&item->queue);
    ngx_queue_insert_head(&item->keepalive->free, &item->queue);
}


static void
ngx_http_ci_jobs_keepalive_close(ngx_connection_t *c)
{
#if (NGX_HTTP_SSL)

    if (c->ssl) {
        c->ssl->no_wait_shutdown = 1;
        c->ssl->no_send_shutdown = 1;

        if (ngx_ssl_shutdown(c) == NGX_AGAIN) {
            c->ssl->handler = ngx_http_ci_jobs_keepalive_close;
            return;
        }
    }

#endif

    ngx_destroy_pool(c->pool);
    ngx_close_connection(c);
}


#if (NGX_HTTP_SSL)

/* TLS sessions stay round robin's: one kept per server, per target */

static ngx_int_t
ngx_http_ci_jobs_keepalive_set_session(ngx_peer_connection_t *pc,
    void *data)
{
    ngx_http_ci_jobs_keepalive_peer_t  *kp = data;

    return kp->set_session(pc, kp->data);
}


static void
ngx_http_ci_jobs_keepalive_save_session(ngx_peer_connection_t *pc,
    void *data)
{
    ngx_http_ci_jobs_keepalive_peer_t  *kp = data;

    kp->save_session(pc, kp->data);
}

#endif


#if (NGX_HTTP_SSL)

/* the TLS sessions round robin keeps per server, outside a zone */

void
ngx_http_ci_jobs_free_sessions(ngx_http_upstream_rr_peers_t *peers)
{
    ngx_http_upstream_rr_peer_t  *peer;

    for ( /* void */ ; peers; peers = peers->next) {

#if (NGX_HTTP_UPSTREAM_ZONE)
        if (peers->shpool) {
            /* kept in the zone, serialized */
            continue;
        }
#endif

        for (peer = peers->peer; peer; peer = peer->next) {
            if (peer->ssl_session != NULL) {
                ngx_ssl_free_session(peer->ssl_session);
                peer->ssl_session = NULL;
            }
        }
    }
}

#endif
