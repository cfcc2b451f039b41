
/*
 * The SignKey each signature is made with, reused for as long as its
 * KeyTime window lasts: one HMAC key schedule per window, not per
 * request.  The algorithm is src/ngx_http_ci_jobs_sign.c's; the
 * keys are src/ngx_http_ci_jobs_source.c's.
 */


#include "ngx_http_ci_jobs_module.h"


/* seconds: one window, and one SignKey, for a whole minute */
#define NGX_HTTP_CI_JOBS_KEY_STEP       60

/*
 * A window starts up to two steps in the past; from this lifetime on it
 * still reaches two steps ahead.
 */
#define NGX_HTTP_CI_JOBS_KEY_STEP_FROM  (4 * NGX_HTTP_CI_JOBS_KEY_STEP)


/*
 * The SignKey and its KeyTime.  The window starts up to two minutes in
 * the past (a slow CI clock still accepts it) and is the same for a whole
 * minute, so that one HMAC serves every request of that minute.  Short
 * lifetimes sign as the SDKs do, from a second ago.
 */

ngx_http_ci_jobs_sign_key_t *
ngx_http_ci_jobs_sign_key_for(ngx_http_ci_jobs_keys_t *keys, time_t offset,
    time_t expires, time_t *start, time_t *end)
{
    ngx_http_ci_jobs_sign_window(offset, expires, start, end);

    if (keys->key_start == *start && keys->key_end == *end) {
        return &keys->sign_key;
    }

    if (ngx_http_ci_jobs_sign_key(&keys->sign_key, keys->key.data,
                                  keys->key.len, *start, *end)
        != 0)
    {
        keys->key_start = 0;
        return NULL;
    }

    keys->key_start = *start;
    keys->key_end = *end;

    return &keys->sign_key;
}


/* the KeyTime of a signature made now with that offset to our clock */

void
ngx_http_ci_jobs_sign_window(time_t offset, time_t expires, time_t *start,
    time_t *end)
{
    time_t  now, step;

    now = ngx_time() + offset;
    step = (expires >= NGX_HTTP_CI_JOBS_KEY_STEP_FROM)
           ? NGX_HTTP_CI_JOBS_KEY_STEP : 1;

    *start = now - now % step - step;
    *end = *start + expires;
}
