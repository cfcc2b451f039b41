
/*
 * The terminal-state cache: id lookups whose jobs are all finished are
 * kept in a shared-memory zone, so that polling a finished job costs the
 * upstream nothing.
 *
 * A zone holds an rbtree keyed by a MurmurHash2 of the key (the whole key
 * compared on collision) and an LRU queue, under the zone's mutex.  An
 * entry is its node (with the key and upstream's x-ci-request-id) and the
 * XML answer in pieces sized to fill the slab allocator's power-of-two
 * chunks, so that answers of any size waste little of the zone.  When the zone
 * is full the least recently used entries go; expired entries go when
 * they are met.  Nothing here can turn a request into an error.
 */


#include "ngx_http_ci_jobs_module.h"


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
    u_char                           dummy;
    u_short                          key_len;
    u_short                          request_id_len;
    ngx_queue_t                      queue;
    time_t                           expires;
    size_t                           xml_len;
    ngx_http_ci_jobs_cache_piece_t  *xml;
    u_char                           data[1];     /* key, request id */
} ngx_http_ci_jobs_cache_node_t;


typedef struct {
    ngx_rbtree_t                     rbtree;
    ngx_rbtree_node_t                sentinel;
    ngx_queue_t                      queue;       /* most recent first */
    ngx_uint_t                       entries;
    size_t                           bytes;       /* of answers held */
    ngx_uint_t                       evictions;
    ngx_atomic_t                     results[5];  /* lookups, by status */
} ngx_http_ci_jobs_cache_sh_t;


typedef struct {
    ngx_http_ci_jobs_cache_sh_t     *sh;
    ngx_slab_pool_t                 *shpool;
} ngx_http_ci_jobs_cache_t;


static ngx_int_t ngx_http_ci_jobs_cache_check_name(ngx_conf_t *cf,
    ngx_command_t *cmd, ngx_str_t *name);
static ngx_int_t ngx_http_ci_jobs_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_ci_jobs_cache_rbtree_insert_value(
    ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel);
static ngx_rbtree_node_t *ngx_http_ci_jobs_cache_find(
    ngx_http_ci_jobs_cache_t *cache, ngx_str_t *key, uint32_t hash);
static void ngx_http_ci_jobs_cache_delete(ngx_http_ci_jobs_cache_t *cache,
    ngx_rbtree_node_t *node);
static void *ngx_http_ci_jobs_cache_alloc(ngx_http_ci_jobs_cache_t *cache,
    size_t size);
static size_t ngx_http_ci_jobs_cache_piece_size(size_t left);


static ngx_str_t  ngx_http_ci_jobs_cache_statuses[] = {
    ngx_null_string,
    ngx_string("MISS"),
    ngx_string("BYPASS"),
    ngx_string("EXPIRED"),
    ngx_string("HIT")
};


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


/* the module's own zone is not a cache zone, whatever the tag would say */

static ngx_int_t
ngx_http_ci_jobs_cache_check_name(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name)
{
    if (name->len == sizeof(NGX_HTTP_CI_JOBS_STATE_ZONE) - 1
        && ngx_strncmp(name->data, NGX_HTTP_CI_JOBS_STATE_ZONE, name->len)
           == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"%V\" in \"%V\" is reserved for the "
                           "module's own state", name, &cmd->name);
        return NGX_ERROR;
    }

    if (name->len == sizeof("ci_jobs_metrics") - 1
        && ngx_strncmp(name->data, "ci_jobs_metrics", name->len) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"%V\" in \"%V\" is reserved for the "
                           "module's counters", name, &cmd->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* on reload the old zone, entries and all, is taken over */

static ngx_int_t
ngx_http_ci_jobs_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ci_jobs_cache_t  *ocache = data;

    size_t                     len;
    ngx_http_ci_jobs_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_calloc(cache->shpool,
                                sizeof(ngx_http_ci_jobs_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_ci_jobs_cache_rbtree_insert_value);

    ngx_queue_init(&cache->sh->queue);

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
 * copied into the request's pool (the entry may go as soon as the lock is
 * released) and NGX_OK is returned.
 */

ngx_int_t
ngx_http_ci_jobs_cache_lookup(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                          *p;
    uint32_t                         hash;
    ngx_str_t                       *id;
    ngx_buf_t                       *b;
    ngx_rbtree_node_t               *node;
    ngx_http_ci_jobs_cache_t        *cache;
    ngx_http_ci_jobs_cache_node_t   *cn;
    ngx_http_ci_jobs_cache_piece_t  *piece;

    if (lcf->cache_zone == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_ci_jobs_api_is_list(ctx->req.api)) {
        ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_BYPASS;
        return NGX_DECLINED;
    }

    /*
     * Role credentials change with every refresh: their entries are the
     * role's (and the metadata service's), not one SecretId's.
     */
    id = (lcf->creds->kind == NGX_HTTP_CI_JOBS_CREDS_ROLE)
         ? &lcf->creds->name : &lcf->creds->id;

    ctx->cache_key.len = ngx_http_ci_jobs_cache_key(NULL, lcf->host.data,
                                                    lcf->host.len, &ctx->req,
                                                    id->data, id->len);

    ctx->cache_key.data = ngx_pnalloc(r->pool, ctx->cache_key.len);
    if (ctx->cache_key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_http_ci_jobs_cache_key(ctx->cache_key.data, lcf->host.data,
                               lcf->host.len, &ctx->req, id->data, id->len);

    cache = lcf->cache_zone->data;
    hash = ngx_murmur_hash2(ctx->cache_key.data, ctx->cache_key.len);

    ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_MISS;

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = ngx_http_ci_jobs_cache_find(cache, &ctx->cache_key, hash);

    if (node == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    if (cn->expires <= ngx_time()) {
        ngx_http_ci_jobs_cache_delete(cache, node);
        ngx_shmtx_unlock(&cache->shpool->mutex);

        ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_EXPIRED;
        return NGX_DECLINED;
    }

    b = ngx_create_temp_buf(r->pool, cn->xml_len + cn->request_id_len);
    if (b == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_ERROR;
    }

    for (piece = cn->xml; piece; piece = piece->next) {
        b->last = ngx_cpymem(b->last, piece->data, piece->len);
    }

    p = ngx_cpymem(b->last, cn->data + cn->key_len, cn->request_id_len);

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ctx->ci_request_id.data = b->last;
    ctx->ci_request_id.len = p - b->last;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ctx->body = b;
    ctx->cache_status = NGX_HTTP_CI_JOBS_CACHE_HIT;

    return NGX_OK;
}


/* stores ctx->body, a storable answer, under ctx->cache_key */

void
ngx_http_ci_jobs_cache_store(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                           *data;
    size_t                            size, len, left;
    uint32_t                          hash;
    ngx_rbtree_node_t                *node, *old;
    ngx_http_ci_jobs_cache_t         *cache;
    ngx_http_ci_jobs_cache_node_t    *cn;
    ngx_http_ci_jobs_cache_piece_t   *piece, **last;

    cache = lcf->cache_zone->data;
    hash = ngx_murmur_hash2(ctx->cache_key.data, ctx->cache_key.len);

    data = ctx->body->pos;
    left = ctx->body->last - ctx->body->pos;

    if (ctx->cache_key.len > 0xffff || ctx->ci_request_id.len > 0xffff) {
        return;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_ci_jobs_cache_node_t, data)
           + ctx->cache_key.len + ctx->ci_request_id.len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    /* a concurrent request may have stored the same answer already */

    old = ngx_http_ci_jobs_cache_find(cache, &ctx->cache_key, hash);
    if (old != NULL) {
        ngx_http_ci_jobs_cache_delete(cache, old);
    }

    node = ngx_http_ci_jobs_cache_alloc(cache, size);
    if (node == NULL) {
        goto failed;
    }

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    node->key = hash;
    cn->key_len = (u_short) ctx->cache_key.len;
    cn->request_id_len = (u_short) ctx->ci_request_id.len;
    cn->expires = ngx_time() + lcf->cache_valid;
    cn->xml_len = left;
    cn->xml = NULL;

    ngx_memcpy(cn->data, ctx->cache_key.data, ctx->cache_key.len);
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

    ngx_rbtree_insert(&cache->sh->rbtree, node);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    cache->sh->entries++;
    cache->sh->bytes += cn->xml_len;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return;

failed:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: an answer of %uz bytes does not fit in "
                  "ci_jobs_cache_zone \"%V\"",
                  (size_t) (ctx->body->last - ctx->body->pos),
                  &lcf->cache_zone->shm.name);
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


static void
ngx_http_ci_jobs_cache_delete(ngx_http_ci_jobs_cache_t *cache,
    ngx_rbtree_node_t *node)
{
    ngx_http_ci_jobs_cache_node_t   *cn;
    ngx_http_ci_jobs_cache_piece_t  *piece, *next;

    cn = (ngx_http_ci_jobs_cache_node_t *) &node->color;

    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, node);

    cache->sh->entries--;
    cache->sh->bytes -= cn->xml_len;

    for (piece = cn->xml; piece; piece = next) {
        next = piece->next;
        ngx_slab_free_locked(cache->shpool, piece);
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

    v->len = ngx_http_ci_jobs_cache_statuses[ctx->cache_status].len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ngx_http_ci_jobs_cache_statuses[ctx->cache_status].data;

    return NGX_OK;
}


/* a lookup's outcome, counted from the log phase: an atomic add, no lock */

void
ngx_http_ci_jobs_cache_count(ngx_shm_zone_t *zone, ngx_uint_t status)
{
    ngx_http_ci_jobs_cache_t  *cache;

    if (zone == NULL || status >= 5) {
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

    for (i = 0; i < 5; i++) {
        st->results[i] = cache->sh->results[i];
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    st->entries = cache->sh->entries;
    st->bytes = cache->sh->bytes;
    st->evictions = cache->sh->evictions;

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return NGX_OK;
}
