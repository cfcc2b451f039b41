
/*
 * The state zone: the shared memory all workers hold the module's state
 * in, the credentials sources (src/ngx_http_ci_jobs_source.c) and the clock
 * offsets (src/ngx_http_ci_jobs_clock_offset.c); and, plain slots in it,
 * when each location last logged a signature-mismatch diagnosis.
 */


#include "ngx_http_ci_jobs_module.h"


/* sources and offsets are a few dozen bytes each: room for thousands */
#define NGX_HTTP_CI_JOBS_STATE_ZONE_PAGES  64


static ngx_int_t ngx_http_ci_jobs_state_init(ngx_shm_zone_t *shm_zone,
    void *data);


static ngx_http_ci_jobs_shared_t  *ngx_http_ci_jobs_shared;
static ngx_slab_pool_t            *ngx_http_ci_jobs_shpool;


/*
 * Made for the first gateway location, with a tag of its own: a cache zone
 * can never be taken for it, nor it for a cache zone.
 */

ngx_int_t
ngx_http_ci_jobs_state_zone(ngx_conf_t *cf)
{
    ngx_str_t                      name;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    if (cmcf->state_zone != NULL) {
        return NGX_OK;
    }

    ngx_str_set(&name, NGX_HTTP_CI_JOBS_STATE_ZONE);

    cmcf->state_zone = ngx_shared_memory_add(cf, &name,
                                             NGX_HTTP_CI_JOBS_STATE_ZONE_PAGES
                                             * ngx_pagesize,
                                             &ngx_http_ci_jobs_shared);
    if (cmcf->state_zone == NULL) {
        return NGX_ERROR;
    }

    cmcf->state_zone->init = ngx_http_ci_jobs_state_init;
    cmcf->state_zone->data = &ngx_http_ci_jobs_shared;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_state_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ngx_http_ci_jobs_shpool = shpool;

    if (shm_zone->shm.exists || shpool->data) {
        ngx_http_ci_jobs_shared = shpool->data;
        return NGX_OK;
    }

    ngx_http_ci_jobs_shared =
                   ngx_slab_calloc(shpool, sizeof(ngx_http_ci_jobs_shared_t));
    if (ngx_http_ci_jobs_shared == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ngx_http_ci_jobs_shared;

    return NGX_OK;
}


ngx_slab_pool_t *
ngx_http_ci_jobs_state_pool(void)
{
    return ngx_http_ci_jobs_shpool;
}


ngx_http_ci_jobs_shared_t *
ngx_http_ci_jobs_state(void)
{
    return ngx_http_ci_jobs_shared;
}


/*
 * Whether the signature-mismatch diagnosis of a location is due: the
 * first worker to swap the time of the last one in wins the minute.
 */

ngx_uint_t
ngx_http_ci_jobs_diagnosis_due(ngx_uint_t index, time_t now, time_t period)
{
    ngx_atomic_t      *slot;
    ngx_atomic_uint_t  last;

    if (ngx_http_ci_jobs_shared == NULL) {
        return 1;
    }

    slot = &ngx_http_ci_jobs_shared->diagnosed[index
                                               % NGX_HTTP_CI_JOBS_DIAG_SLOTS];
    last = *slot;

    if (last != 0 && now - (time_t) last < period) {
        return 0;
    }

    return ngx_atomic_cmp_set(slot, last, (ngx_atomic_uint_t) now);
}
