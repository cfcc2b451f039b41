
/*
 * What each signature is made with: the clock offset learnt from CI for
 * the location's bucket host (shared by all workers), and the SignKey,
 * reused for as long as its KeyTime window lasts; beside the offsets in
 * the state zone, when each location last logged a signature-mismatch
 * diagnosis.  The credentials themselves are src/ngx_http_ci_jobs_source.c's.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_metrics.h"


#define NGX_HTTP_CI_JOBS_MAX_SKEW  86400      /* a Date further off is absurd */


/* one bucket host's clock, in the state zone */
struct ngx_http_ci_jobs_shoffset_s {
    ngx_http_ci_jobs_shoffset_t    *next;
    ngx_atomic_t                    offset;   /* CI's clock - ours, seconds */
    size_t                          len;
    u_char                          host[1];
};


static ngx_int_t ngx_http_ci_jobs_state_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_ci_jobs_shoffset_t *ngx_http_ci_jobs_offset_of(
    ngx_http_ci_jobs_loc_conf_t *lcf);


/* the zone all workers share the clock offsets and credentials through */
static ngx_http_ci_jobs_shared_t  *ngx_http_ci_jobs_shared;
static ngx_slab_pool_t            *ngx_http_ci_jobs_shpool;


/*
 * The SignKey and its KeyTime.  The window starts up to two minutes in
 * the past (a slow CI clock still accepts it) and is the same for a whole
 * minute, so that one HMAC serves every request of that minute.  Short
 * lifetimes sign as the SDKs do, from a second ago.
 */

ngx_http_ci_jobs_sign_key_t *
ngx_http_ci_jobs_sign_key_for(ngx_http_ci_jobs_creds_t *creds, time_t offset,
    time_t expires, time_t *start, time_t *end)
{
    time_t  now, step;

    now = ngx_time() + offset;
    step = (expires >= 240) ? 60 : 1;

    *start = now - now % step - step;
    *end = *start + expires;

    if (creds->key_start == *start && creds->key_end == *end) {
        return &creds->sign_key;
    }

    if (ngx_http_ci_jobs_sign_key(&creds->sign_key, creds->key.data,
                                  creds->key.len, *start, *end)
        != 0)
    {
        creds->key_start = 0;
        return NULL;
    }

    creds->key_start = *start;
    creds->key_end = *end;

    return &creds->sign_key;
}


/* --- the state zone ------------------------------------------------------ */


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

    cmcf->state_zone = ngx_shared_memory_add(cf, &name, 64 * ngx_pagesize,
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


/* --- the clock offset of each bucket host -------------------------------- */


/*
 * The host's entry, made when a location of this worker first signs for
 * it, and then read without a lock.
 */

static ngx_http_ci_jobs_shoffset_t *
ngx_http_ci_jobs_offset_of(ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_http_ci_jobs_shoffset_t  *o;

    if (lcf->offset != NULL || ngx_http_ci_jobs_shared == NULL) {
        return lcf->offset;
    }

    ngx_shmtx_lock(&ngx_http_ci_jobs_shpool->mutex);

    for (o = ngx_http_ci_jobs_shared->offsets; o != NULL; o = o->next) {
        if (o->len == lcf->host.len
            && ngx_memcmp(o->host, lcf->host.data, o->len) == 0)
        {
            break;
        }
    }

    if (o == NULL) {
        o = ngx_slab_alloc_locked(ngx_http_ci_jobs_shpool,
                                  offsetof(ngx_http_ci_jobs_shoffset_t, host)
                                  + lcf->host.len);
        if (o != NULL) {
            o->offset = 0;
            o->len = lcf->host.len;
            ngx_memcpy(o->host, lcf->host.data, lcf->host.len);
            o->next = ngx_http_ci_jobs_shared->offsets;
            ngx_http_ci_jobs_shared->offsets = o;
        }
    }

    ngx_shmtx_unlock(&ngx_http_ci_jobs_shpool->mutex);

    lcf->offset = o;

    return o;
}


time_t
ngx_http_ci_jobs_clock_offset(ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_http_ci_jobs_shoffset_t  *o;

    o = ngx_http_ci_jobs_offset_of(lcf);

    if (o == NULL) {
        return 0;
    }

    return (time_t) (ngx_atomic_int_t) o->offset;
}


/*
 * CI refused a signature whose KeyTime did not hold its clock (its Date):
 * learn the offset, for this bucket host only.  Returns NGX_OK when it was
 * learnt, NGX_DECLINED when the Date says nothing useful (absent, absurd,
 * or within the window).
 */

ngx_int_t
ngx_http_ci_jobs_learn_offset(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf, time_t date, time_t start, time_t end)
{
    time_t                        offset;
    ngx_http_ci_jobs_shoffset_t  *o;

    if (date == NGX_ERROR || (date >= start && date <= end)) {
        return NGX_DECLINED;
    }

    offset = date - ngx_time();
    o = ngx_http_ci_jobs_offset_of(lcf);

    if (offset > NGX_HTTP_CI_JOBS_MAX_SKEW
        || offset < -NGX_HTTP_CI_JOBS_MAX_SKEW
        || o == NULL)
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: the CI clock of \"%V\" is %T seconds off ours, "
                  "signing for it with that offset", &lcf->host, offset);

    o->offset = (ngx_atomic_uint_t) offset;

    ngx_http_ci_jobs_count_skew();

    return NGX_OK;
}


/*
 * Whether the signature-mismatch diagnosis of a location is due, beside
 * the clock offsets in the state zone: the first worker to swap the time
 * of the last one in wins the minute.
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
