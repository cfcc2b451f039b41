
/*
 * The cache: id lookups whose jobs are all finished are kept in a
 * shared-memory zone for ci_jobs_cache_valid, so that polling a finished
 * job costs the upstream nothing; with ci_jobs_cache_valid_pending, other
 * exact answers and list pages for that short time too.
 *
 * A request that finds no fresh entry takes the entry's lock (a node with
 * no answer yet, or the expired entry) and goes upstream; others for the
 * same key, in any worker, wait for it, looking again every few
 * milliseconds, up to ci_jobs_cache_lock_timeout.  A lock is an id drawn
 * from the zone's counter with a deadline, so that neither a worker that
 * dies nor a request that is lost holds it longer.  Waiters wait for the
 * lock's chain (the id of its first holder): a holder that ends without
 * storing an answer (its client gone, an error) hands the lock over, and
 * the first waiter to look takes it, in the same chain, and goes upstream
 * while the others keep waiting.
 *
 * A zone holds an rbtree keyed by a MurmurHash2 of the key past its host
 * and target (the whole key compared on collision) and an LRU queue,
 * under the zone's mutex.  An entry is its node (with the key and
 * upstream's x-ci-request-id) and the XML answer in pieces sized to fill
 * the slab allocator's power-of-two chunks, so that answers of any size
 * waste little of the zone.  When the zone is full the least recently
 * used entries go; expired entries go when they are met.  Each answer
 * stored has a version of its own: a worker copies a hit's answer out
 * of the zone once per version, and its hits send that copy.  Nothing
 * here can turn a request into an error.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"
#include "ngx_http_ci_jobs_cache_ids.h"
#include "ngx_http_ci_jobs_held.h"
#include "ngx_http_ci_jobs_text.h"


/*
 * A hit's answer is copied out of the zone once per worker and version, and
 * the requests that send it reference that copy: one slot per key's hash
 * modulo the slots, answers up to the size below, so that what a worker
 * keeps between hits is bounded (64 x 16k).
 */
#define NGX_HTTP_CI_JOBS_CACHE_COPIES     64
#define NGX_HTTP_CI_JOBS_CACHE_COPY_MAX   16384

/*
 * Each change of an entry that the watch reads counts in the counter of
 * its key's hash modulo these: a watched key whose counter has not moved
 * is not looked up again (ngx_http_ci_jobs_cache_peek_again()).
 */
#define NGX_HTTP_CI_JOBS_CACHE_CHANGES    128

/* the slab allocator's largest chunk (half a page) and a small one */
#define NGX_HTTP_CI_JOBS_CACHE_PIECE_MAX  2048
#define NGX_HTTP_CI_JOBS_CACHE_PIECE_MIN  128


typedef struct ngx_http_ci_jobs_cache_piece_s  ngx_http_ci_jobs_cache_piece_t;

struct ngx_http_ci_jobs_cache_piece_s {
    ngx_http_ci_jobs_cache_piece_t  *next;
    size_t                           len;
    u_char                           data[1];
};


typedef struct {
    u_char                           color;
    u_char                           pending;     /* a pending answer */
    u_short                          key_len;
    u_short                          request_id_len;
    u_char                           handover;    /* its holder ended */
    u_char                           nlinks;      /* in the ids' index */
    uint32_t                         lock;        /* its holder, 0: none */
    uint32_t                         chain;       /* waited for */
    uint32_t                         stored_by;   /* the chain it ended */
    uint32_t                         version;     /* of its answer */
    ngx_queue_t                      queue;
    ngx_msec_t                       expires;     /* 0: no answer yet */
    ngx_msec_t                       fetched;     /* went upstream then */
    ngx_msec_t                       lock_until;
    ngx_msec_t                       woken;       /* by a notification */
    ngx_msec_t                       failed;      /* the last refresh, 0 */
    ngx_http_ci_jobs_cache_piece_t  *error;       /* its error, XML */
    size_t                           xml_len;
    ngx_http_ci_jobs_cache_piece_t  *xml;
    u_char                           digest[NGX_HTTP_CI_JOBS_DIGEST_LEN];
    u_char                           data[1];     /* key, request id,
                                                     ids' links */
} ngx_http_ci_jobs_cache_node_t;


typedef struct {
    ngx_rbtree_t                     rbtree;
    ngx_rbtree_node_t                sentinel;
    ngx_queue_t                      queue;       /* most recent first */
    ngx_rbtree_t                     ids;         /* id -> entries */
    ngx_rbtree_node_t                ids_sentinel;
    uint32_t                         locks;       /* the last lock id */
    uint32_t                         versions;    /* the last answer's */
    ngx_uint_t                       entries;
    size_t                           bytes;       /* of answers held */
    ngx_uint_t                       evictions;
    ngx_atomic_t                     results[NGX_HTTP_CI_JOBS_CACHE_STATUSES];
    ngx_atomic_t                     changes[NGX_HTTP_CI_JOBS_CACHE_CHANGES];
} ngx_http_ci_jobs_cache_sh_t;


typedef struct {
    ngx_http_ci_jobs_cache_sh_t     *sh;
    ngx_slab_pool_t                 *shpool;
} ngx_http_ci_jobs_cache_t;


/*
 * A worker's copy of an entry's answer and request id, freed when neither
 * its slot nor a request refers to it any longer.
 */
typedef struct {
    ngx_uint_t                       refs;
    ngx_http_ci_jobs_cache_sh_t     *sh;          /* its zone */
    uint32_t                         version;
    size_t                           xml_len;
    size_t                           request_id_len;
    u_char                           data[1];     /* answer, request id */
} ngx_http_ci_jobs_cache_shared_t;


/* under the mutex: an entry the watch reads has changed */
#define ngx_http_ci_jobs_cache_changed(cache, hash)                          \
    (cache)->sh->changes[(hash) % NGX_HTTP_CI_JOBS_CACHE_CHANGES]++

#define ngx_http_ci_jobs_cache_node_changed(cache, cn)                       \
    ngx_http_ci_jobs_cache_changed(cache,                                    \
        ((ngx_rbtree_node_t *)                                               \
         ((u_char *) (cn) - offsetof(ngx_rbtree_node_t, color)))->key)


/* a notification came after the pending answer's query left */
#define ngx_http_ci_jobs_cache_notified(cn)                                   \
    ((cn)->woken != 0 && (cn)->expires != 0 && (cn)->pending                  \
     && (ngx_msec_int_t) ((cn)->woken - (cn)->fetched) > 0)


/* where an entry's links in the ids' index are */
#define ngx_http_ci_jobs_cache_links(cn)                                      \
    ((u_char *) ngx_align_ptr((cn)->data + (cn)->key_len                      \
                              + (cn)->request_id_len, NGX_ALIGNMENT))


static ngx_int_t ngx_http_ci_jobs_cache_check_name(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *name);
static ngx_int_t ngx_http_ci_jobs_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_ci_jobs_cache_rbtree_insert_value(
    ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel);
static ngx_inline uint32_t ngx_http_ci_jobs_cache_hash(ngx_str_t *key);
static ngx_rbtree_node_t *ngx_http_ci_jobs_cache_find(
    ngx_http_ci_jobs_cache_t *cache, ngx_str_t *key, uint32_t hash);
static ngx_http_ci_jobs_cache_node_t *ngx_http_ci_jobs_cache_entry(
    ngx_http_ci_jobs_cache_t *cache, ngx_str_t *key, uint32_t hash);
static void ngx_http_ci_jobs_cache_delete(ngx_http_ci_jobs_cache_t *cache,
    ngx_rbtree_node_t *node);
static void *ngx_http_ci_jobs_cache_alloc(ngx_http_ci_jobs_cache_t *cache,
    size_t size);
static size_t ngx_http_ci_jobs_cache_piece_size(size_t left);
static ngx_int_t ngx_http_ci_jobs_cache_copy(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_cache_node_t *cn);
static ngx_int_t ngx_http_ci_jobs_cache_share(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_cache_t *cache,
    ngx_http_ci_jobs_cache_node_t *cn, uint32_t hash);
static void ngx_http_ci_jobs_cache_answer(ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_cache_node_t *cn, ngx_buf_t *b, u_char *request_id,
    ngx_uint_t shared, ngx_http_ci_jobs_held_t *held);
static void ngx_http_ci_jobs_cache_unshare(void *data);
static ngx_int_t ngx_http_ci_jobs_cache_kept(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t status);
static ngx_int_t ngx_http_ci_jobs_cache_take(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_http_ci_jobs_cache_node_t *cn, uint32_t hash);
static ngx_uint_t ngx_http_ci_jobs_cache_handed(
    ngx_http_ci_jobs_cache_node_t *cn, ngx_msec_t now);
static ngx_rbtree_node_t *ngx_http_ci_jobs_cache_lock_node(
    ngx_http_ci_jobs_cache_t *cache, ngx_http_ci_jobs_ctx_t *ctx,
    uint32_t hash);
static ngx_rbtree_node_t *ngx_http_ci_jobs_cache_node(
    ngx_http_ci_jobs_cache_t *cache, ngx_http_ci_jobs_ctx_t *ctx,
    uint32_t hash, size_t extra);
static void ngx_http_ci_jobs_cache_insert(ngx_http_ci_jobs_cache_t *cache,
    ngx_rbtree_node_t *node);
static ngx_uint_t ngx_http_ci_jobs_cache_due(ngx_http_ci_jobs_cache_node_t *cn,
    ngx_msec_t now);
static ngx_uint_t ngx_http_ci_jobs_cache_refresh_waits(
    ngx_http_ci_jobs_cache_node_t *cn, ngx_msec_t interval, ngx_msec_t now);
static void ngx_http_ci_jobs_cache_read(ngx_http_ci_jobs_cache_t *cache,
    ngx_str_t *key, ngx_http_ci_jobs_cache_peek_t *pk);
static void ngx_http_ci_jobs_cache_peek_now(ngx_http_ci_jobs_cache_peek_t *pk);
static ngx_uint_t ngx_http_ci_jobs_cache_woken(void *entry, void *data);
static void ngx_http_ci_jobs_cache_cleanup(void *data);
static void ngx_http_ci_jobs_cache_wait_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_ci_jobs_cache_locked(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx);


/* the worker's copies of hits' answers */
static ngx_http_ci_jobs_cache_shared_t
    *ngx_http_ci_jobs_cache_copies[NGX_HTTP_CI_JOBS_CACHE_COPIES];


char *
ngx_http_ci_jobs_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                    *p;
    ssize_t                    size;
    ngx_str_t                 *value, name, s;
    ngx_shm_zone_t            *shm_zone;
    ngx_http_ci_jobs_cache_t  *cache;

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\" in \"%V\": expected NAME:SIZE",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    if (ngx_http_ci_jobs_cache_check_name(cf, cmd, &name) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\" in \"%V\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" in \"%V\" is too small: "
                           "at least %uz bytes", &value[1], &cmd->name,
                           8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_ci_jobs_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\" in \"%V\"",
                           &name, &cmd->name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_ci_jobs_cache_init_zone;
    shm_zone->data = cache;

    return NGX_CONF_OK;
}


char *
ngx_http_ci_jobs_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ci_jobs_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->cache_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        lcf->cache_zone = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_http_ci_jobs_cache_check_name(cf, cmd, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* a zone of size 0 until "ci_jobs_cache_zone" declares it */

    lcf->cache_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                            &ngx_http_ci_jobs_module);
    if (lcf->cache_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the module's own zones are not cache zones, whatever the tag would say */

static ngx_int_t
ngx_http_ci_jobs_cache_check_name(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name)
{
    ngx_uint_t  i;

    static ngx_keyval_t  reserved[] = {
        { ngx_string(NGX_HTTP_CI_JOBS_STATE_ZONE),
          ngx_string("module's own state") },
        { ngx_string(NGX_HTTP_CI_JOBS_METRICS_ZONE),
          ngx_string("module's counters") }
    };

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (name->len == reserved[i].key.len
            && ngx_strncmp(name->data, reserved[i].key.data, name->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "zone name \"%V\" in \"%V\" is reserved for "
                               "the %V", name, &cmd->name,
                               &reserved[i].value);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* on reload the old zone, entries and all, is taken over */

static ngx_int_t
ngx_http_ci_jobs_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ci_jobs_cache_t  *ocache = data;

    size_t                     len;
    ngx_uint_t                 made;
    ngx_http_ci_jobs_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    cache->sh = ngx_http_ci_jobs_zone_data(shm_zone,
                                           sizeof(ngx_http_ci_jobs_cache_sh_t),
                                           &made);
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    if (!made) {
        return NGX_OK;
    }

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_ci_jobs_cache_rbtree_insert_value);

    ngx_queue_init(&cache->sh->queue);
    ngx_http_ci_jobs_cache_ids_init(&cache->sh->ids, &cache->sh->ids_sentinel);

    len = sizeof(" in ci_jobs_cache_zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in ci_jobs_cache_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is normal: the oldest entries make room */
    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_ci_jobs_cache_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t              **p;
    ngx_http_ci_jobs_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;
            cnt = (ngx_http_ci_jobs_cache_node_t *) &temp->color;

            p = (ngx_memn2cmp(cn->data, cnt->data, cn->key_len,
                              cnt->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Looks the request up.  On a hit the XML answer and its request id are
 * the worker's copy of them, or for an answer over
 * NGX_HTTP_CI_JOBS_CACHE_COPY_MAX a copy in the request's pool (the entry
 * may go as soon as the mutex is released), and NGX_OK is returned;
 * NGX_BUSY when the copy would hold more than the worker or, then with
 * SlowDown in ctx, the connection may.  NGX_AGAIN: another request is
 * fetching it, wait (ngx_http_ci_jobs_cache_wait()).  NGX_DECLINED: go
 * upstream, with the entry's lock when ctx->cache_lock is set.
 */

ngx_int_t
ngx_http_ci_jobs_cache_lookup(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_msec_t                      now;
    ngx_http_ci_jobs_cache_t       *cache;
    ngx_http_ci_jobs_cache_node_t  *cn;

    if (lcf->cache_zone == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_ci_jobs_api_is_list(ctx->req.api)
        && lcf->cache_valid_pending == 0)
    {
        ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_BYPASS;
        return NGX_DECLINED;
    }

    if (ctx->cache_key.data == NULL) {
        rc = ngx_http_ci_jobs_cache_key_init(r, ctx, lcf);

        if (rc != NGX_OK) {
            return (rc == NGX_DECLINED) ? NGX_DECLINED : NGX_ERROR;
        }

        ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_MISS;

    } else if (ctx->cache_key.len == 0) {
        /* a key too long, found so by the watch */
        return NGX_DECLINED;
    }

    cache = lcf->cache_zone->data;
    hash = ngx_http_ci_jobs_cache_hash(&ctx->cache_key);
    now = ngx_current_msec;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_ci_jobs_cache_entry(cache, &ctx->cache_key, hash);

    /*
     * A fresh entry; or, for a request that waited, the entry stored by
     * the request it waited for, however long that one took upstream.
     */

    if (cn != NULL && cn->expires
        && (((ngx_msec_int_t) (cn->expires - now) > 0
             && !ngx_http_ci_jobs_cache_due(cn, now))
            || (ctx->cache_waited && cn->stored_by == ctx->cache_waited)))
    {
        rc = (cn->xml_len <= NGX_HTTP_CI_JOBS_CACHE_COPY_MAX)
             ? ngx_http_ci_jobs_cache_share(r, ctx, cache, cn, hash)
             : ngx_http_ci_jobs_cache_copy(r, ctx, cn);

        ngx_queue_remove(&cn->queue);
        ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

        ngx_shmtx_unlock(&cache->shpool->mutex);

        if (rc == NGX_BUSY) {
            ngx_http_ci_jobs_slow_down(ctx);
        }

        if (rc == NGX_BUSY || rc == NGX_DECLINED) {
            return NGX_BUSY;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->cache_status = ctx->cache_waited
                            ? NGX_HTTP_CI_JOBS_CACHE_COLLAPSED
                            : NGX_HTTP_CI_JOBS_CACHE_HIT;
        return NGX_OK;
    }

    if (cn != NULL && cn->expires && !ctx->cache_waited) {
        ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_EXPIRED;
    }

    if (cn != NULL && cn->lock
        && (ngx_msec_int_t) (cn->lock_until - now) > 0)
    {
        /* another request is on its way upstream */

        if (ctx->cache_waited == 0) {
            ctx->cache_waited = cn->chain;
            ctx->cache_wait_end = now + lcf->cache_lock_timeout;
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_AGAIN;
        }

        if (ctx->cache_waited == cn->chain
            && (ngx_msec_int_t) (ctx->cache_wait_end - now) > 0)
        {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_AGAIN;
        }
    }

    if (ctx->cache_waited
        && !(cn != NULL && cn->chain == ctx->cache_waited
             && ngx_http_ci_jobs_cache_handed(cn, now)
             && (ngx_msec_int_t) (ctx->cache_wait_end - now) > 0))
    {
        /*
         * The lock waited for is gone without being handed over, or taken
         * by another chain, or the wait is over: upstream, without a lock.
         */

        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    /* the lock */

    rc = ngx_http_ci_jobs_cache_take(r, ctx, lcf, cn, hash);

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_DECLINED;
}


/*
 * Under the mutex, which it releases: the key's lock for the request, on
 * its entry cn, or on a node made for it.  NGX_OK; NGX_DECLINED when the
 * zone has no room for the node; NGX_ERROR.
 */

static ngx_int_t
ngx_http_ci_jobs_cache_take(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_http_ci_jobs_cache_node_t *cn, uint32_t hash)
{
    ngx_msec_t                 now;
    ngx_rbtree_node_t         *node;
    ngx_pool_cleanup_t        *cln;
    ngx_http_ci_jobs_cache_t  *cache;

    cache = lcf->cache_zone->data;
    now = ngx_current_msec;

    if (cn == NULL) {
        node = ngx_http_ci_jobs_cache_lock_node(cache, ctx, hash);

        if (node == NULL) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_DECLINED;
        }

        cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;
    }

    if (++cache->sh->locks == 0) {
        cache->sh->locks = 1;
    }

    /* a lock handed over stays in its chain, for the others waiting */
    if (!ngx_http_ci_jobs_cache_handed(cn, now)) {
        cn->chain = cache->sh->locks;
    }

    cn->lock = cache->sh->locks;
    cn->lock_until = now + lcf->cache_lock_timeout;
    cn->handover = 0;
    ngx_http_ci_jobs_cache_changed(cache, hash);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ctx->cache_lock = cn->lock;
    ctx->cache_chain = cn->chain;

    if (ctx->cache_cleanup == NULL) {
        cln = ngx_http_ci_jobs_cleanup_add(r->pool,
                                           ngx_http_ci_jobs_cache_cleanup, r);
        if (cln == NULL) {
            ngx_http_ci_jobs_cache_unlock(ctx, lcf);
            return NGX_ERROR;
        }

        ctx->cache_cleanup = cln;
    }

    return NGX_OK;
}


/*
 * The request's key in ctx->cache_key.  NGX_DECLINED: too long to be
 * cached (BYPASS).
 */

ngx_int_t
ngx_http_ci_jobs_cache_key_init(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_str_t  *id;

    /*
     * Role credentials change with every refresh: their entries are
     * the role's (and the metadata service's), not one SecretId's.
     */
    id = (lcf->source->kind == NGX_HTTP_CI_JOBS_SOURCE_ROLE)
         ? &lcf->source->name : &lcf->source->keys.id;

    ctx->cache_key.len = ngx_http_ci_jobs_cache_key(NULL, lcf->host.data,
                                                    lcf->host.len,
                                                    lcf->cache_target.data,
                                                    lcf->cache_target.len,
                                                    &ctx->req, id->data,
                                                    id->len);

    ctx->cache_key.data = ngx_pnalloc(r->pool, ctx->cache_key.len);
    if (ctx->cache_key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_http_ci_jobs_cache_key(ctx->cache_key.data, lcf->host.data,
                               lcf->host.len, lcf->cache_target.data,
                               lcf->cache_target.len, &ctx->req, id->data,
                               id->len);

    if (ctx->cache_key.len > 0xffff) {
        ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_BYPASS;
        ctx->cache_key.len = 0;
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Under the mutex: the answer and its request id into the request's pool,
 * the answer counted in what the worker and the connection hold
 * (ctx->copy_held, for the answer stage that follows), and refused as
 * ngx_http_ci_jobs_hold() refuses.  The request id apart, as it outlives
 * the answer's copy when a rendering replaces that.
 */

static ngx_int_t
ngx_http_ci_jobs_cache_copy(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_cache_node_t *cn)
{
    u_char                          *p;
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_http_ci_jobs_held_t         *held;
    ngx_http_ci_jobs_cache_piece_t  *piece;

    held = NULL;

    rc = ngx_http_ci_jobs_hold(r, cn->xml_len, &held);
    if (rc != NGX_OK) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, cn->xml_len);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, cn->request_id_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (piece = cn->xml; piece; piece = piece->next) {
        b->last = ngx_cpymem(b->last, piece->data, piece->len);
    }

    ngx_memcpy(p, cn->data + cn->key_len, cn->request_id_len);

    ngx_http_ci_jobs_cache_answer(ctx, cn, b, p, 0, held);

    return NGX_OK;
}


/*
 * Under the mutex: as ngx_http_ci_jobs_cache_copy(), but the answer is the
 * worker's copy of this version of the entry, made once and referenced by
 * the request until it ends.  What the request holds is counted as for a
 * copy of its own: the bounds refuse the same requests.
 */

static ngx_int_t
ngx_http_ci_jobs_cache_share(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_cache_t *cache,
    ngx_http_ci_jobs_cache_node_t *cn, uint32_t hash)
{
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_buf_t                        *b;
    ngx_http_ci_jobs_held_t          *held;
    ngx_http_ci_jobs_cache_piece_t   *piece;
    ngx_http_ci_jobs_cache_shared_t  *sc, **slot;

    slot = &ngx_http_ci_jobs_cache_copies[hash
                                          % NGX_HTTP_CI_JOBS_CACHE_COPIES];
    sc = *slot;

    if (sc == NULL || sc->version != cn->version || sc->sh != cache->sh
        || sc->xml_len != cn->xml_len)
    {

        sc = ngx_alloc(offsetof(ngx_http_ci_jobs_cache_shared_t, data)
                       + cn->xml_len + cn->request_id_len,
                       r->connection->log);
        if (sc == NULL) {
            return NGX_ERROR;
        }

        p = sc->data;

        for (piece = cn->xml; piece; piece = piece->next) {
            p = ngx_cpymem(p, piece->data, piece->len);
        }

        ngx_memcpy(p, cn->data + cn->key_len, cn->request_id_len);

        sc->refs = 1;
        sc->sh = cache->sh;
        sc->version = cn->version;
        sc->xml_len = cn->xml_len;
        sc->request_id_len = cn->request_id_len;

        /* the slot's reference to the version it held goes */

        if (*slot != NULL) {
            ngx_http_ci_jobs_cache_unshare(*slot);
        }

        *slot = sc;
    }

    held = NULL;

    rc = ngx_http_ci_jobs_hold(r, sc->xml_len, &held);
    if (rc != NGX_OK) {
        return rc;
    }

    /* zeroed inline: ngx_calloc_buf() calls memset() */

    b = ngx_palloc(r->pool, sizeof(ngx_buf_t));
    if (b == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(b, sizeof(ngx_buf_t));

    if (ngx_http_ci_jobs_cleanup_add(r->pool, ngx_http_ci_jobs_cache_unshare,
                                     sc)
        == NULL)
    {
        return NGX_ERROR;
    }

    sc->refs++;

    b->start = sc->data;
    b->pos = b->start;
    b->last = b->start + sc->xml_len;
    b->end = b->last;
    b->memory = 1;

    ngx_http_ci_jobs_cache_answer(ctx, cn, b, b->end, 1, held);

    return NGX_OK;
}


/*
 * The request's answer is b, a copy of entry cn (shared: the worker's), with
 * its request id at request_id; what it holds is held.  The answer's ETag
 * was computed once, when it was stored.
 */

static void
ngx_http_ci_jobs_cache_answer(ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_cache_node_t *cn, ngx_buf_t *b, u_char *request_id,
    ngx_uint_t shared, ngx_http_ci_jobs_held_t *held)
{
    ctx->ci_request_id.data = request_id;
    ctx->ci_request_id.len = cn->request_id_len;
    ctx->body = b;
    ctx->body_shared = shared;
    ctx->copy_held = held;

    ngx_memcpy(ctx->digest, cn->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);
    ctx->digested = 1;
}


/*
 * At the worker's exit: the worker's copies go with their slots, as the
 * module itself is unloaded with the cycle's pool.  A request still
 * sending one keeps it until it ends.
 */

void
ngx_http_ci_jobs_cache_exit(void)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_CI_JOBS_CACHE_COPIES; i++) {
        if (ngx_http_ci_jobs_cache_copies[i] != NULL) {
            ngx_http_ci_jobs_cache_unshare(ngx_http_ci_jobs_cache_copies[i]);
            ngx_http_ci_jobs_cache_copies[i] = NULL;
        }
    }
}


static void
ngx_http_ci_jobs_cache_unshare(void *data)
{
    ngx_http_ci_jobs_cache_shared_t  *sc = data;

    if (--sc->refs == 0) {
        ngx_free(sc);
    }
}


/* under the mutex: its holder ended without storing, a while ago at most */

static ngx_uint_t
ngx_http_ci_jobs_cache_handed(ngx_http_ci_jobs_cache_node_t *cn,
    ngx_msec_t now)
{
    return cn->lock == 0 && cn->handover
           && (ngx_msec_int_t) (cn->lock_until - now) > 0;
}


/* under the mutex: a node that holds only a lock, for now */

static ngx_rbtree_node_t *
ngx_http_ci_jobs_cache_lock_node(ngx_http_ci_jobs_cache_t *cache,
    ngx_http_ci_jobs_ctx_t *ctx, uint32_t hash)
{
    ngx_rbtree_node_t  *node;

    node = ngx_http_ci_jobs_cache_node(cache, ctx, hash, 0);
    if (node == NULL) {
        return NULL;
    }

    ngx_http_ci_jobs_cache_insert(cache, node);

    return node;
}


/* under the mutex: into the tree, the LRU queue and the ids' index */

static void
ngx_http_ci_jobs_cache_insert(ngx_http_ci_jobs_cache_t *cache,
    ngx_rbtree_node_t *node)
{
    ngx_http_ci_jobs_cache_node_t  *cn;

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    ngx_rbtree_insert(&cache->sh->rbtree, node);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);
    ngx_http_ci_jobs_cache_changed(cache, node->key);

    ngx_http_ci_jobs_cache_ids_link(&cache->sh->ids,
                                    ngx_http_ci_jobs_cache_links(cn), cn,
                                    cn->nlinks);
}


/*
 * Under the mutex: a node for the request's key, with room for extra
 * bytes after the key, then for the links of an id lookup's ids in the
 * ids' index; zeroed but for its key and ids; not in the tree yet.
 */

static ngx_rbtree_node_t *
ngx_http_ci_jobs_cache_node(ngx_http_ci_jobs_cache_t *cache,
    ngx_http_ci_jobs_ctx_t *ctx, uint32_t hash, size_t extra)
{
    size_t                          size, links;
    ngx_str_t                      *key;
    ngx_rbtree_node_t              *node;
    ngx_http_ci_jobs_cache_node_t  *cn;

    key = &ctx->cache_key;
    links = 0;

    if (!ngx_http_ci_jobs_api_is_list(ctx->req.api)) {
        links = ngx_http_ci_jobs_cache_ids_size(ctx->req.ids,
                                                ctx->req.ids_len);
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_ci_jobs_cache_node_t, data) + key->len + extra
           + (links ? NGX_ALIGNMENT + links : 0);

    node = ngx_http_ci_jobs_cache_alloc(cache, size);
    if (node == NULL) {
        return NULL;
    }

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    ngx_memzero(cn, offsetof(ngx_http_ci_jobs_cache_node_t, data));

    node->key = hash;
    cn->key_len = (u_short) key->len;
    cn->request_id_len = (u_short) extra;
    ngx_memcpy(cn->data, key->data, key->len);

    if (links) {
        cn->nlinks = (u_char) ngx_http_ci_jobs_cache_ids_init_links(
                                  ngx_http_ci_jobs_cache_links(cn),
                                  ctx->req.ids, ctx->req.ids_len);
    }

    return node;
}


/* releases the entry's lock if this request still holds it */

void
ngx_http_ci_jobs_cache_unlock(ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    uint32_t                        hash;
    ngx_rbtree_node_t              *node;
    ngx_http_ci_jobs_cache_t       *cache;
    ngx_http_ci_jobs_cache_node_t  *cn;

    if (ctx->cache_lock == 0 || lcf->cache_zone == NULL) {
        return;
    }

    cache = lcf->cache_zone->data;
    hash = ngx_http_ci_jobs_cache_hash(&ctx->cache_key);

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_ci_jobs_cache_find(cache, &ctx->cache_key, hash);

    if (node != NULL) {
        cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

        if (cn->lock == ctx->cache_lock) {
            /*
             * Ended without storing: the first waiter to look takes the
             * lock over (a node holding only a lock stays for that, and
             * for whoever comes next).
             */
            cn->lock = 0;
            cn->handover = 1;
            cn->lock_until = ngx_current_msec + lcf->cache_lock_timeout;
            ngx_http_ci_jobs_cache_changed(cache, hash);
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ctx->cache_lock = 0;
}


static void
ngx_http_ci_jobs_cache_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);

    if (ctx == NULL) {
        return;
    }

    if (ctx->cache_wait.timer_set) {
        ngx_del_timer(&ctx->cache_wait);
    }

    ngx_http_ci_jobs_cache_unlock(ctx, lcf);
}


/*
 * From the content handler: the request waits for the one holding the
 * lock, looking every NGX_HTTP_CI_JOBS_CACHE_WAIT ms, and goes on through
 * r->write_event_handler, which the content handler has set, when that
 * one's lock is gone or the wait is over, as nginx's file cache lock
 * does.
 */

ngx_int_t
ngx_http_ci_jobs_cache_wait(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx)
{
    ngx_pool_cleanup_t  *cln;

    if (ctx->cache_cleanup == NULL) {
        cln = ngx_http_ci_jobs_cleanup_add(r->pool,
                                           ngx_http_ci_jobs_cache_cleanup, r);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->cache_cleanup = cln;
    }

    ctx->cache_wait.handler = ngx_http_ci_jobs_cache_wait_handler;
    ctx->cache_wait.data = r;
    ctx->cache_wait.log = r->connection->log;

    /* not cancelable: a worker shutting down answers its waiters first */

    ngx_add_timer(&ctx->cache_wait, NGX_HTTP_CI_JOBS_CACHE_WAIT);

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_ci_jobs_cache_wait_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_ci_jobs_ctx_t  *ctx;

    r = ev->data;
    c = r->connection;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    ngx_http_set_log_request(c->log, r);

    if (c->error) {
        ngx_http_finalize_request(r, NGX_ERROR);
        goto done;
    }

    if (ngx_http_ci_jobs_cache_locked(r, ctx)) {
        ngx_add_timer(&ctx->cache_wait, NGX_HTTP_CI_JOBS_CACHE_WAIT);
        return;
    }

    r->write_event_handler(r);

done:

    ngx_http_run_posted_requests(c);
}


/* the lock's chain waited for is still held, and the wait not over */

static ngx_uint_t
ngx_http_ci_jobs_cache_locked(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx)
{
    uint32_t                        hash;
    ngx_msec_t                      now;
    ngx_uint_t                      locked;
    ngx_http_ci_jobs_cache_t       *cache;
    ngx_http_ci_jobs_loc_conf_t    *lcf;
    ngx_http_ci_jobs_cache_node_t  *cn;

    now = ngx_current_msec;

    if ((ngx_msec_int_t) (ctx->cache_wait_end - now) <= 0) {
        return 0;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);
    cache = lcf->cache_zone->data;
    hash = ngx_http_ci_jobs_cache_hash(&ctx->cache_key);

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_ci_jobs_cache_entry(cache, &ctx->cache_key, hash);

    /* a lock handed over is not: one waiter is to take it */
    locked = (cn != NULL && cn->chain == ctx->cache_waited && cn->lock != 0
              && (ngx_msec_int_t) (cn->lock_until - now) > 0);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return locked;
}


/*
 * For the watch: what the zone holds for key, read under the mutex and
 * not copied, so that a worker's timer can look at every watched key.
 */

void
ngx_http_ci_jobs_cache_peek(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_ci_jobs_cache_peek_t *pk)
{
    pk->hash = ngx_http_ci_jobs_cache_hash(key);

    ngx_http_ci_jobs_cache_read(zone->data, key, pk);
}


/*
 * The same, for a key read before with pk: the zone's entry is looked up
 * again only when something of it may have changed since, as the change
 * counter of its hash says; otherwise what pk holds still stands.
 */

void
ngx_http_ci_jobs_cache_peek_again(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_ci_jobs_cache_peek_t *pk)
{
    ngx_http_ci_jobs_cache_t  *cache;

    cache = zone->data;

    if (cache->sh->changes[pk->hash % NGX_HTTP_CI_JOBS_CACHE_CHANGES]
        != pk->seen)
    {
        ngx_http_ci_jobs_cache_read(cache, key, pk);
        return;
    }

    ngx_http_ci_jobs_cache_peek_now(pk);
}


static void
ngx_http_ci_jobs_cache_read(ngx_http_ci_jobs_cache_t *cache, ngx_str_t *key,
    ngx_http_ci_jobs_cache_peek_t *pk)
{
    uint32_t                        hash;
    ngx_rbtree_node_t              *node;
    ngx_http_ci_jobs_cache_node_t  *cn;

    hash = pk->hash;

    ngx_memzero(pk, sizeof(ngx_http_ci_jobs_cache_peek_t));
    pk->hash = hash;

    ngx_shmtx_lock(&cache->shpool->mutex);

    pk->seen = cache->sh->changes[hash % NGX_HTTP_CI_JOBS_CACHE_CHANGES];

    node = ngx_http_ci_jobs_cache_find(cache, key, hash);

    if (node != NULL) {
        cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

        pk->answer = (cn->expires != 0);
        pk->pending = cn->pending;
        pk->lock = (cn->lock != 0);
        pk->lock_until = cn->lock_until;
        pk->woken = ngx_http_ci_jobs_cache_notified(cn);
        pk->fetched = cn->fetched;
        pk->failed = cn->failed;
        ngx_memcpy(pk->digest, cn->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_http_ci_jobs_cache_peek_now(pk);
}


/* what of a peek depends on the time too (ngx_http_ci_jobs_cache_due()) */

static void
ngx_http_ci_jobs_cache_peek_now(ngx_http_ci_jobs_cache_peek_t *pk)
{
    pk->locked = (pk->lock
                  && (ngx_msec_int_t) (pk->lock_until - ngx_current_msec)
                     > 0);
    pk->due = (pk->woken
               && (ngx_msec_int_t) (ngx_current_msec - pk->fetched)
                  >= NGX_HTTP_CI_JOBS_WAKE_SPACING);
}


/*
 * For the watch's refresh: the key's lock, taken only when its entry is
 * pending (or gone) and was fetched at least interval ago and nobody
 * holds the lock, so that one request in the whole nginx refreshes it
 * per interval.  NGX_OK with ctx->cache_lock set, NGX_DECLINED, or
 * NGX_ERROR.
 */

ngx_int_t
ngx_http_ci_jobs_cache_refresh_lock(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_http_ci_jobs_cache_t       *cache;
    ngx_http_ci_jobs_cache_node_t  *cn;

    cache = lcf->cache_zone->data;
    hash = ngx_http_ci_jobs_cache_hash(&ctx->cache_key);

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_ci_jobs_cache_entry(cache, &ctx->cache_key, hash);

    if (cn != NULL
        && ngx_http_ci_jobs_cache_refresh_waits(cn, lcf->watch_interval,
                                                ngx_current_msec))
    {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    rc = ngx_http_ci_jobs_cache_take(r, ctx, lcf, cn, hash);

    if (rc == NGX_OK) {
        ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_EXPIRED;
    }

    return rc;
}


/*
 * For the watch's refresh that failed: its error, CI's or the gateway's
 * (XML, error->len at most NGX_HTTP_CI_JOBS_CACHE_ERROR_MAX), kept with
 * the key's entry, made if need be, with when, for every worker's
 * streams, and so that the retry waits for the interval in the whole
 * nginx.  An answer stored later replaces the entry, and its error.
 */

void
ngx_http_ci_jobs_cache_failed(ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf, ngx_str_t *error)
{
    uint32_t                         hash;
    ngx_rbtree_node_t               *node;
    ngx_http_ci_jobs_cache_t        *cache;
    ngx_http_ci_jobs_cache_node_t   *cn;
    ngx_http_ci_jobs_cache_piece_t  *piece;

    if (lcf->cache_zone == NULL || ctx->cache_key.len == 0
        || error->len > NGX_HTTP_CI_JOBS_CACHE_ERROR_MAX)
    {
        return;
    }

    cache = lcf->cache_zone->data;
    hash = ngx_http_ci_jobs_cache_hash(&ctx->cache_key);

    ngx_shmtx_lock(&cache->shpool->mutex);

    /* first, as making room may evict the entry itself */

    piece = ngx_http_ci_jobs_cache_alloc(cache,
                    offsetof(ngx_http_ci_jobs_cache_piece_t, data)
                    + error->len);
    if (piece == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    node = ngx_http_ci_jobs_cache_find(cache, &ctx->cache_key, hash);

    if (node == NULL) {
        node = ngx_http_ci_jobs_cache_lock_node(cache, ctx, hash);

        if (node == NULL) {
            ngx_slab_free_locked(cache->shpool, piece);
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return;
        }
    }

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    if (cn->error != NULL) {
        ngx_slab_free_locked(cache->shpool, cn->error);
    }

    piece->next = NULL;
    piece->len = error->len;
    ngx_memcpy(piece->data, error->data, error->len);

    cn->error = piece;
    cn->failed = ngx_current_msec ? ngx_current_msec : 1;
    ngx_http_ci_jobs_cache_changed(cache, hash);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/*
 * For a stream: the error of the key's last refresh, if it failed, into
 * error, from pool; NGX_DECLINED when there is none.
 */

ngx_int_t
ngx_http_ci_jobs_cache_error(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *error)
{
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_http_ci_jobs_cache_t       *cache;
    ngx_http_ci_jobs_cache_node_t  *cn;

    cache = zone->data;
    hash = ngx_http_ci_jobs_cache_hash(key);
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_ci_jobs_cache_entry(cache, key, hash);

    if (cn != NULL && cn->error != NULL) {
        error->len = cn->error->len;
        error->data = ngx_pnalloc(pool, error->len);

        if (error->data == NULL) {
            rc = NGX_ERROR;

        } else {
            ngx_memcpy(error->data, cn->error->data, error->len);
            rc = NGX_OK;
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * The entry's answer, fresh or not, into ctx->body: what a watcher is
 * sent when the zone's version is not the one it has.  NGX_OK,
 * NGX_DECLINED when the zone has no answer, or NGX_ERROR.
 */

ngx_int_t
ngx_http_ci_jobs_cache_latest(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    return ngx_http_ci_jobs_cache_kept(r, ctx, lcf,
                                       NGX_HTTP_CI_JOBS_CACHE_HIT);
}


/*
 * Upstream failed: an expired answer, if the zone still has one, replaces
 * the error.  NGX_OK with ctx->body set, NGX_DECLINED, or NGX_ERROR.
 */

ngx_int_t
ngx_http_ci_jobs_cache_stale(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    return ngx_http_ci_jobs_cache_kept(r, ctx, lcf,
                                       NGX_HTTP_CI_JOBS_CACHE_STALE);
}


/* the entry's answer, fresh or not, into ctx->body, served as status */

static ngx_int_t
ngx_http_ci_jobs_cache_kept(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t status)
{
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_http_ci_jobs_cache_t       *cache;
    ngx_http_ci_jobs_cache_node_t  *cn;

    if (lcf->cache_zone == NULL || ctx->cache_key.len == 0) {
        return NGX_DECLINED;
    }

    cache = lcf->cache_zone->data;
    hash = ngx_http_ci_jobs_cache_hash(&ctx->cache_key);

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_http_ci_jobs_cache_entry(cache, &ctx->cache_key, hash);

    if (cn == NULL || cn->expires == 0) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    rc = ngx_http_ci_jobs_cache_copy(r, ctx, cn);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    if (rc == NGX_BUSY || rc == NGX_DECLINED) {
        /* more than may be held: as if there were none */
        return NGX_DECLINED;
    }

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->cache_status = status;

    return NGX_OK;
}


/*
 * Stores ctx->body, a storable answer, under ctx->cache_key: terminal, or
 * pending.  A pending answer never replaces a fresh terminal one (an
 * answer that left upstream before the job finished may arrive after).
 */

void
ngx_http_ci_jobs_cache_store(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t pending)
{
    u_char                           *data;
    size_t                            size, len, left, need;
    uint32_t                          hash;
    ngx_msec_t                        now, woken;
    ngx_rbtree_node_t                *node, *old;
    ngx_http_ci_jobs_cache_t         *cache;
    ngx_http_ci_jobs_cache_node_t    *cn, *ocn;
    ngx_http_ci_jobs_cache_piece_t   *piece, **last;

    cache = lcf->cache_zone->data;
    hash = ngx_http_ci_jobs_cache_hash(&ctx->cache_key);
    now = ngx_current_msec;

    data = ctx->body->pos;
    left = ctx->body->last - ctx->body->pos;

    if (ctx->cache_key.len > 0xffff || ctx->ci_request_id.len > 0xffff) {
        ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        return;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_ci_jobs_cache_node_t, data)
           + ctx->cache_key.len + ctx->ci_request_id.len;

    /*
     * What it would take at best (the pieces' headers and the node): an
     * answer larger than half the zone's pages is not stored, and evicts
     * nothing for a room it would not find.
     */

    need = size + left + (left / (NGX_HTTP_CI_JOBS_CACHE_PIECE_MAX
                                  - offsetof(ngx_http_ci_jobs_cache_piece_t,
                                             data)) + 1)
                         * offsetof(ngx_http_ci_jobs_cache_piece_t, data);

    if (need > (size_t) (cache->shpool->end - cache->shpool->start) / 2) {
        ngx_http_ci_jobs_cache_unlock(ctx, lcf);
        goto too_large;
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    old = ngx_http_ci_jobs_cache_find(cache, &ctx->cache_key, hash);
    woken = 0;

    if (old != NULL) {
        ocn = (ngx_http_ci_jobs_cache_node_t *) &old->color;

        if (pending && ocn->expires && !ocn->pending
            && (ngx_msec_int_t) (ocn->expires - now) > 0)
        {
            /* a fresh terminal answer stays */

            if (ocn->lock == ctx->cache_lock) {
                ocn->lock = 0;
                ngx_http_ci_jobs_cache_changed(cache, hash);
            }

            ngx_shmtx_unlock(&cache->shpool->mutex);
            ctx->cache_lock = 0;
            return;
        }

        /* a notification later than this answer's query still counts */
        woken = ocn->woken;

        ngx_http_ci_jobs_cache_delete(cache, old);
    }

    node = ngx_http_ci_jobs_cache_node(cache, ctx, hash,
                                       ctx->ci_request_id.len);
    if (node == NULL) {
        goto failed;
    }

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    cn->pending = pending ? 1 : 0;
    cn->woken = woken;
    cn->stored_by = ctx->cache_chain;

    if (++cache->sh->versions == 0) {
        cache->sh->versions = 1;
    }

    cn->version = cache->sh->versions;

    /* counted from the request upstream: no older than upstream's state */

    cn->expires = (ctx->cache_fetched ? ctx->cache_fetched : now)
                  + (pending ? lcf->cache_valid_pending
                             : (ngx_msec_t) lcf->cache_valid * 1000);
    cn->fetched = ctx->cache_fetched ? ctx->cache_fetched : now;
    cn->xml_len = left;
    ngx_memcpy(cn->digest, ctx->digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);

    if (cn->expires == 0) {
        cn->expires = 1;
    }

    ngx_memcpy(cn->data + cn->key_len, ctx->ci_request_id.data,
               ctx->ci_request_id.len);

    last = &cn->xml;

    while (left) {
        size = ngx_http_ci_jobs_cache_piece_size(left);
        len = ngx_min(left, size
                            - offsetof(ngx_http_ci_jobs_cache_piece_t, data));

        piece = ngx_http_ci_jobs_cache_alloc(cache, size);

        if (piece == NULL) {
            for (piece = cn->xml; piece; piece = cn->xml) {
                cn->xml = piece->next;
                ngx_slab_free_locked(cache->shpool, piece);
            }

            ngx_slab_free_locked(cache->shpool, node);
            goto failed;
        }

        ngx_memcpy(piece->data, data, len);
        piece->len = len;
        piece->next = NULL;

        *last = piece;
        last = &piece->next;

        data += len;
        left -= len;
    }

    ngx_http_ci_jobs_cache_insert(cache, node);

    cache->sh->entries++;
    cache->sh->bytes += cn->xml_len;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    /* the lock, if any, went with the old node */
    ctx->cache_lock = 0;

    return;

failed:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ctx->cache_lock = 0;

too_large:

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: an answer of %uz bytes does not fit in "
                  "ci_jobs_cache_zone \"%V\"",
                  (size_t) (ctx->body->last - ctx->body->pos),
                  &lcf->cache_zone->shm.name);
}


/*
 * A key's hash in the tree: of what follows its second "\n", past the
 * bucket host and the target that all of a location's keys share, so that
 * a lookup hashes half as much; keys with one hash are told apart whole.
 * ngx_http_ci_jobs_hash(), eight bytes a step: a fifth of
 * ngx_murmur_hash2()'s instructions.
 */

static ngx_inline uint32_t
ngx_http_ci_jobs_cache_hash(ngx_str_t *key)
{
    u_char  *p, *last;

    last = key->data + key->len;

    p = memchr(key->data, '\n', key->len);

    if (p != NULL) {
        p = memchr(p + 1, '\n', last - (p + 1));
    }

    p = (p != NULL) ? p + 1 : key->data;

    return (uint32_t) ngx_http_ci_jobs_hash(0, p, last - p);
}


static ngx_rbtree_node_t *
ngx_http_ci_jobs_cache_find(ngx_http_ci_jobs_cache_t *cache, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                       rc;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_ci_jobs_cache_node_t  *cn;

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, cn->data, key->len, cn->key_len);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* the key's entry, or NULL */

static ngx_http_ci_jobs_cache_node_t *
ngx_http_ci_jobs_cache_entry(ngx_http_ci_jobs_cache_t *cache, ngx_str_t *key,
    uint32_t hash)
{
    ngx_rbtree_node_t  *node;

    node = ngx_http_ci_jobs_cache_find(cache, key, hash);

    return node ? (ngx_http_ci_jobs_cache_node_t *) &node->color : NULL;
}


static void
ngx_http_ci_jobs_cache_delete(ngx_http_ci_jobs_cache_t *cache,
    ngx_rbtree_node_t *node)
{
    ngx_http_ci_jobs_cache_node_t   *cn;
    ngx_http_ci_jobs_cache_piece_t  *piece, *next;

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, node);
    ngx_http_ci_jobs_cache_changed(cache, node->key);
    ngx_http_ci_jobs_cache_ids_unlink(&cache->sh->ids,
                                      ngx_http_ci_jobs_cache_links(cn),
                                      cn->nlinks);

    /* a node that holds only a lock is no answer held */
    if (cn->expires != 0) {
        cache->sh->entries--;
        cache->sh->bytes -= cn->xml_len;
    }

    for (piece = cn->xml; piece; piece = next) {
        next = piece->next;
        ngx_slab_free_locked(cache->shpool, piece);
    }

    if (cn->error != NULL) {
        ngx_slab_free_locked(cache->shpool, cn->error);
    }

    ngx_slab_free_locked(cache->shpool, node);
}


/*
 * The next piece's chunk: half a page while that much is left; then the
 * power of two that holds the rest, unless that wastes more than an
 * eighth of it, in which case the half below it is filled first.
 */

static size_t
ngx_http_ci_jobs_cache_piece_size(size_t left)
{
    size_t  size, need;

    need = offsetof(ngx_http_ci_jobs_cache_piece_t, data) + left;

    if (need >= NGX_HTTP_CI_JOBS_CACHE_PIECE_MAX) {
        return NGX_HTTP_CI_JOBS_CACHE_PIECE_MAX;
    }

    for (size = NGX_HTTP_CI_JOBS_CACHE_PIECE_MIN; size < need; size *= 2) {
        /* void */
    }

    if (size == NGX_HTTP_CI_JOBS_CACHE_PIECE_MIN || size - need <= size / 8) {
        return size;
    }

    return size / 2;
}


/* allocates under the lock, making room from the LRU end when full */

static void *
ngx_http_ci_jobs_cache_alloc(ngx_http_ci_jobs_cache_t *cache, size_t size)
{
    void                           *p;
    ngx_queue_t                    *q;
    ngx_http_ci_jobs_cache_node_t  *cn;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(cache->shpool, size);
        if (p != NULL) {
            return p;
        }

        if (ngx_queue_empty(&cache->sh->queue)) {
            return NULL;
        }

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_http_ci_jobs_cache_node_t, queue);

        cache->sh->evictions++;

        ngx_http_ci_jobs_cache_delete(cache, (ngx_rbtree_node_t *)
                                      ((u_char *) cn
                                       - offsetof(ngx_rbtree_node_t, color)));
    }
}


/*
 * A notification names id: every entry naming it whose lookup is pending
 * or has no answer yet is woken, due for a query once its answer's is a
 * second old (ngx_http_ci_jobs_cache_due()).  Nothing of the
 * notification is kept but when it came.  Returns the entries woken.
 */

ngx_uint_t
ngx_http_ci_jobs_cache_wake(ngx_shm_zone_t *zone, u_char *id, size_t len)
{
    ngx_uint_t                 n;
    ngx_http_ci_jobs_cache_t  *cache;

    cache = zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    n = ngx_http_ci_jobs_cache_ids_find(&cache->sh->ids, id, len,
                                        ngx_http_ci_jobs_cache_woken, cache);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return n;
}


static ngx_uint_t
ngx_http_ci_jobs_cache_woken(void *entry, void *data)
{
    ngx_http_ci_jobs_cache_node_t *cn = entry;
    ngx_http_ci_jobs_cache_t *cache = data;

    if (cn->expires != 0 && !cn->pending) {
        /* a terminal answer never changes */
        return 0;
    }

    cn->woken = ngx_current_msec ? ngx_current_msec : 1;
    ngx_http_ci_jobs_cache_node_changed(cache, cn);

    return 1;
}


/*
 * Under the mutex: a pending entry is due when a notification came after
 * its answer's query left, and that query is at least
 * NGX_HTTP_CI_JOBS_WAKE_SPACING old: notifications make a lookup's
 * query at most once a second.  A query that left in the notification's
 * millisecond is taken for its answer: the notified worker starts one at
 * once, in the same turn of its event loop.
 */

static ngx_uint_t
ngx_http_ci_jobs_cache_due(ngx_http_ci_jobs_cache_node_t *cn, ngx_msec_t now)
{
    return ngx_http_ci_jobs_cache_notified(cn)
           && (ngx_msec_int_t) (now - cn->fetched)
              >= NGX_HTTP_CI_JOBS_WAKE_SPACING;
}


/*
 * The watch's refresh of an entry waits: another request holds its lock,
 * a refresh failed less than interval ago, or the entry is final or was
 * fetched less than interval ago.  CI's notification of a change
 * (ngx_http_ci_jobs_cache_due()) ends the last two waits.
 */

static ngx_uint_t
ngx_http_ci_jobs_cache_refresh_waits(ngx_http_ci_jobs_cache_node_t *cn,
    ngx_msec_t interval, ngx_msec_t now)
{
    if (cn->lock && (ngx_msec_int_t) (cn->lock_until - now) > 0) {
        return 1;
    }

    if (cn->failed
        && (ngx_msec_int_t) (now - cn->failed) < (ngx_msec_int_t) interval
        && !ngx_http_ci_jobs_cache_due(cn, now))
    {
        return 1;
    }

    return cn->expires
           && (!cn->pending
               || ((ngx_msec_int_t) (now - cn->fetched)
                   < (ngx_msec_int_t) interval
                   && !ngx_http_ci_jobs_cache_due(cn, now)));
}


/* the zone is a cache zone (ci_jobs_cache_zone declares it) */

ngx_uint_t
ngx_http_ci_jobs_cache_is_zone(ngx_shm_zone_t *zone)
{
    return zone->tag == &ngx_http_ci_jobs_module
           && zone->init == ngx_http_ci_jobs_cache_init_zone;
}


ngx_int_t
ngx_http_ci_jobs_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL || ctx->cache_status == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_http_ci_jobs_cache_status_names[ctx->cache_status].len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ngx_http_ci_jobs_cache_status_names[ctx->cache_status].data;

    return NGX_OK;
}


/* a lookup's outcome, counted from the log phase: an atomic add, no lock */

void
ngx_http_ci_jobs_cache_count(ngx_shm_zone_t *zone, ngx_uint_t status)
{
    ngx_http_ci_jobs_cache_t  *cache;

    if (zone == NULL || status >= NGX_HTTP_CI_JOBS_CACHE_STATUSES) {
        return;
    }

    cache = zone->data;

    (void) ngx_atomic_fetch_add(&cache->sh->results[status], 1);
}


/* NGX_DECLINED for a zone that is not a cache zone */

ngx_int_t
ngx_http_ci_jobs_cache_stats(ngx_shm_zone_t *zone,
    ngx_http_ci_jobs_cache_stats_t *st)
{
    ngx_uint_t                 i;
    ngx_http_ci_jobs_cache_t  *cache;

    if (zone->tag != &ngx_http_ci_jobs_module
        || zone->init != ngx_http_ci_jobs_cache_init_zone)
    {
        return NGX_DECLINED;
    }

    cache = zone->data;

    for (i = 0; i < NGX_HTTP_CI_JOBS_CACHE_STATUSES; i++) {
        st->results[i] = cache->sh->results[i];
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    st->entries = cache->sh->entries;
    st->bytes = cache->sh->bytes;
    st->evictions = cache->sh->evictions;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return NGX_OK;
}
