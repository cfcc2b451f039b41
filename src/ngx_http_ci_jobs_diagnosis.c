
/*
 * The signature-mismatch diagnosis.  CI refused the signature (403
 * SignatureDoesNotMatch or AccessDenied): say what was signed, once a
 * minute per location, all workers together, through slots in the state
 * zone (src/ngx_http_ci_jobs_state_zone.c).  Names only, never a value
 * that is secret: no key, no SignKey, no signature.
 */


#include "ngx_http_ci_jobs_diagnosis.h"


#define NGX_HTTP_CI_JOBS_DIAG_PERIOD  60


static ngx_uint_t ngx_http_ci_jobs_diagnosis_due(
    ngx_http_ci_jobs_loc_conf_t *lcf, time_t now);


void
ngx_http_ci_jobs_diagnose(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                   *p, *last, *code;
    size_t                    len, path_len;
    time_t                    now;
    ngx_uint_t                i;
    ngx_http_ci_jobs_keys_t  *keys;

    if (ctx->hold != NGX_HTTP_CI_JOBS_HOLD_ANSWER
        || ctx->status.code != NGX_HTTP_FORBIDDEN
        || ctx->body == NULL)
    {
        return;
    }

    len = ctx->body->last - ctx->body->pos;

    if (ngx_strnstr(ctx->body->pos, "<Code>SignatureDoesNotMatch</Code>",
                    len)
        != NULL)
    {
        code = (u_char *) "SignatureDoesNotMatch";

    } else if (ngx_strnstr(ctx->body->pos, "<Code>AccessDenied</Code>", len)
               != NULL)
    {
        code = (u_char *) "AccessDenied";

    } else {
        return;
    }

    now = ngx_time();

    if (!ngx_http_ci_jobs_diagnosis_due(lcf, now)) {
        return;
    }

    /* the path and the names of the parameters, as the request has them */

    path_len = ngx_http_ci_jobs_request_path(NULL, &ctx->req);

    len = path_len + 1;

    for (i = 0; i < ctx->req.nparams; i++) {
        len += ctx->req.params[i].name_len + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return;
    }

    last = p + ngx_http_ci_jobs_request_path(p, &ctx->req);
    *last++ = '\0';

    for (i = 0; i < ctx->req.nparams; i++) {
        if (i) {
            *last++ = ';';
        }

        last = ngx_cpymem(last, ctx->req.params[i].name,
                          ctx->req.params[i].name_len);
    }

    keys = &lcf->source->keys;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "ci_jobs: CI refused the signature with %s in location "
                  "\"%V\"; signed: method \"get\", path \"%s\", headers "
                  "\"host\" (\"%V\"), parameters \"%*s\", KeyTime "
                  "%T;%T (our clock %T, offset %T), SecretId \"%V\"%s",
                  code, &lcf->location, p, &lcf->host,
                  (size_t) (last - (p + path_len + 1)), p + path_len + 1,
                  ctx->sign_start, ctx->sign_end, now,
                  ngx_http_ci_jobs_clock_offset(lcf), &keys->id,
                  keys->token.len ? ", with a security token" : "");
}


/*
 * Whether the diagnosis of a location is due: the first worker to swap
 * the time of the last one in its slot wins the minute.  Locations that
 * share a slot share the minute.
 */

static ngx_uint_t
ngx_http_ci_jobs_diagnosis_due(ngx_http_ci_jobs_loc_conf_t *lcf, time_t now)
{
    ngx_atomic_t               *slot;
    ngx_atomic_uint_t           last;
    ngx_http_ci_jobs_zone_t    *zone;
    ngx_http_ci_jobs_shared_t  *shared;

    zone = lcf->state_zone->data;
    shared = zone->sh;

    if (shared == NULL) {
        return 1;
    }

    slot = &shared->diagnosed[lcf->index % NGX_HTTP_CI_JOBS_DIAG_SLOTS];
    last = *slot;

    if (last != 0 && now - (time_t) last < NGX_HTTP_CI_JOBS_DIAG_PERIOD) {
        return 0;
    }

    return ngx_atomic_cmp_set(slot, last, (ngx_atomic_uint_t) now);
}
