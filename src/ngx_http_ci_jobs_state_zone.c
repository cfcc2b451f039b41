
/*
 * The state zone: the shared memory all workers hold the module's state
 * in, the credentials sources (src/ngx_http_ci_jobs_source.c), the clock
 * offsets (src/ngx_http_ci_jobs_clock_offset.c), each an entry found by
 * its name; and, plain slots in it, when each location last logged a
 * signature-mismatch diagnosis (src/ngx_http_ci_jobs_diagnosis.c).
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"


/* sources and offsets are a few dozen bytes each: room for thousands */
#define NGX_HTTP_CI_JOBS_STATE_ZONE_PAGES  64


static ngx_int_t ngx_http_ci_jobs_state_init(ngx_shm_zone_t *shm_zone,
    void *data);


/*
 * Made for the first gateway location.  Its name is one that cache zones
 * may not take, so that a cache zone can never be taken for it, nor it for
 * a cache zone.
 */

ngx_int_t
ngx_http_ci_jobs_state_zone(ngx_conf_t *cf, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_str_t                      name;
    ngx_http_ci_jobs_zone_t       *zone;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    if (cmcf->state_zone != NULL) {
        lcf->state_zone = cmcf->state_zone;
        return NGX_OK;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, NGX_HTTP_CI_JOBS_STATE_ZONE);

    cmcf->state_zone = ngx_shared_memory_add(cf, &name,
                                             NGX_HTTP_CI_JOBS_STATE_ZONE_PAGES
                                             * ngx_pagesize,
                                             &ngx_http_ci_jobs_module);
    if (cmcf->state_zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->state_zone->init = ngx_http_ci_jobs_state_init;
    cmcf->state_zone->data = zone;

    lcf->state_zone = cmcf->state_zone;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_state_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_uint_t                made;
    ngx_http_ci_jobs_zone_t  *zone;

    zone = shm_zone->data;
    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    zone->sh = ngx_http_ci_jobs_zone_data(shm_zone,
                                          sizeof(ngx_http_ci_jobs_shared_t),
                                          &made);

    return (zone->sh != NULL) ? NGX_OK : NGX_ERROR;
}


/*
 * The entry of that name in a list of the zone, made (size bytes, zeroed,
 * and the name after them) when there is none; NULL when the zone is full.
 */

void *
ngx_http_ci_jobs_state_entry(ngx_shm_zone_t *state_zone,
    ngx_http_ci_jobs_named_t **list, ngx_str_t *name, size_t size)
{
    ngx_slab_pool_t           *shpool;
    ngx_http_ci_jobs_zone_t   *zone;
    ngx_http_ci_jobs_named_t  *e;

    zone = state_zone->data;
    shpool = zone->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    for (e = *list; e != NULL; e = e->next) {
        if (e->name.len == name->len
            && ngx_memcmp(e->name.data, name->data, name->len) == 0)
        {
            break;
        }
    }

    if (e == NULL) {
        e = ngx_slab_calloc_locked(shpool, size + name->len);

        if (e != NULL) {
            e->name.data = (u_char *) e + size;
            e->name.len = name->len;
            ngx_memcpy(e->name.data, name->data, name->len);
            e->next = *list;
            *list = e;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return e;
}
