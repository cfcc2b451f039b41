
/*
 * Small helpers over nginx's own structures (a list, a pool's cleanups,
 * a shared zone), for the files that would otherwise write them out
 * each time.  Inline, and apart from ngx_http_ci_jobs_module.h: they
 * name nothing of the module.
 */


#ifndef _NGX_HTTP_CI_JOBS_NGINX_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_NGINX_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * A walk over the elements of an ngx_list_t (a request's headers, the
 * cycle's shared zones), part by part:
 *
 *     for (h = ngx_http_ci_jobs_list_first(&w, &list);
 *          h != NULL;
 *          h = ngx_http_ci_jobs_list_next(&w))
 */

typedef struct {
    ngx_list_part_t  *part;
    ngx_uint_t        i;
    size_t            size;
} ngx_http_ci_jobs_list_walk_t;


static ngx_inline void *
ngx_http_ci_jobs_list_next(ngx_http_ci_jobs_list_walk_t *w)
{
    while (w->i >= w->part->nelts) {
        if (w->part->next == NULL) {
            return NULL;
        }

        w->part = w->part->next;
        w->i = 0;
    }

    return (u_char *) w->part->elts + w->i++ * w->size;
}


static ngx_inline void *
ngx_http_ci_jobs_list_first(ngx_http_ci_jobs_list_walk_t *w, ngx_list_t *list)
{
    w->part = &list->part;
    w->i = 0;
    w->size = list->size;

    return ngx_http_ci_jobs_list_next(w);
}


/* a cleanup of the pool that calls handler(data); NULL when out of memory */

static ngx_inline ngx_pool_cleanup_t *
ngx_http_ci_jobs_cleanup_add(ngx_pool_t *pool, ngx_pool_cleanup_pt handler,
    void *data)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = handler;
    cln->data = data;

    return cln;
}


/*
 * A cleanup of the pool with size bytes of its own, zeroed, that it calls
 * handler with: those bytes, or NULL when out of memory.
 */

static ngx_inline void *
ngx_http_ci_jobs_cleanup_alloc(ngx_pool_t *pool, size_t size,
    ngx_pool_cleanup_pt handler)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(pool, size);
    if (cln == NULL) {
        return NULL;
    }

    ngx_memzero(cln->data, size);
    cln->handler = handler;

    return cln->data;
}


/*
 * From a shared zone's init: what the zone holds, its slab pool's data,
 * made (size bytes, zeroed) when the zone is new, then *made is 1; NULL
 * when there is no room.
 */

static ngx_inline void *
ngx_http_ci_jobs_zone_data(ngx_shm_zone_t *shm_zone, size_t size,
    ngx_uint_t *made)
{
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    *made = (shpool->data == NULL);

    if (*made) {
        shpool->data = ngx_slab_calloc(shpool, size);
    }

    return shpool->data;
}


#endif /* _NGX_HTTP_CI_JOBS_NGINX_H_INCLUDED_ */
