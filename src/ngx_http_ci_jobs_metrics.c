
/*
 * ci_jobs_status: the Prometheus text format (0.0.4) of the counters
 * (src/ngx_http_ci_jobs_counters.c), the cache zones and the credentials
 * sources, and with "?ready" whether every gateway location can sign
 * (src/ngx_http_ci_jobs_ready.c).  This reads the rest of the module;
 * nothing of it calls in here.
 */


#include "ngx_http_ci_jobs_metrics.h"
#include "ngx_http_ci_jobs_counters.h"
#include "ngx_http_ci_jobs_nginx.h"
#include "ngx_http_ci_jobs_plain.h"
#include "ngx_http_ci_jobs_ready.h"


static ngx_int_t ngx_http_ci_jobs_metrics_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ci_jobs_status_metrics(ngx_http_request_t *r,
    ngx_http_ci_jobs_plain_t *t);
static ngx_int_t ngx_http_ci_jobs_status_lines(ngx_http_ci_jobs_plain_t *t,
    const char *name, const char *api, ngx_atomic_t *slots);
static ngx_int_t ngx_http_ci_jobs_status_histogram(
    ngx_http_ci_jobs_plain_t *t, ngx_http_ci_jobs_counters_t *m);
static ngx_int_t ngx_http_ci_jobs_status_caches(ngx_http_request_t *r,
    ngx_http_ci_jobs_plain_t *t);
static ngx_int_t ngx_http_ci_jobs_status_expiry(ngx_http_request_t *r,
    ngx_http_ci_jobs_plain_t *t);


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_requests_family = {
    "ci_jobs_requests_total", "counter",
    "Gateway requests answered, by API and status."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_refusals_family = {
    "ci_jobs_refusals_total", "counter",
    "Requests refused before anything was signed, by error code."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_access_family = {
    "ci_jobs_access_refusals_total", "counter",
    "Requests refused for their access token, by reason."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_cache_families[] = {
    { "ci_jobs_cache_requests_total", "counter",
      "Cache lookups, by zone and $ci_jobs_cache_status." },
    { "ci_jobs_cache_entries", "gauge",
      "Answers held in the zone." },
    { "ci_jobs_cache_bytes", "gauge",
      "Bytes of answers held in the zone." },
    { "ci_jobs_cache_evictions_total", "counter",
      "Entries taken out of a full zone to make room." }
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_upstream_family = {
    "ci_jobs_upstream_requests_total", "counter",
    "Answers from CI, by status."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_errors_family = {
    "ci_jobs_upstream_errors_total", "counter",
    "Upstream exchanges that failed, by kind."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_seconds_family = {
    "ci_jobs_upstream_response_seconds", "histogram",
    "Time from the first connection to CI to the end of its answer."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_signatures_family = {
    "ci_jobs_signatures_total", "counter",
    "Requests signed."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_skew_family = {
    "ci_jobs_clock_skew_corrections_total", "counter",
    "Times the clock offset to CI was learnt from a refused signature."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_watchers_family = {
    "ci_jobs_watchers", "gauge",
    "Streams and long-polls held now, all workers together."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_watch_events_family = {
    "ci_jobs_watch_events_total", "counter",
    "Events sent to streams, and changed answers sent to long-polls."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_reloads_family = {
    "ci_jobs_credentials_reloads_total", "counter",
    "Loads of a credentials file and fetches of role credentials, once for "
    "all workers, by result."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_resolutions_family = {
    "ci_jobs_upstream_resolutions_total", "counter",
    "Run-time resolutions of CI's host name, by each worker, by result."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_callbacks_family = {
    "ci_jobs_callbacks_total", "counter",
    "CI's notifications received at ci_jobs_callback, by result: accepted "
    "(a lookup woken), ignored (none to wake), invalid (refused)."
};


static ngx_http_ci_jobs_family_t  ngx_http_ci_jobs_expiry_family = {
    "ci_jobs_credentials_expiry_seconds", "gauge",
    "When the credentials of a source expire (Unix time): roles, and the "
    "files that say."
};


static ngx_str_t  ngx_http_ci_jobs_resolution_results[] = {
    ngx_string("changed"),
    ngx_string("unchanged"),
    ngx_string("failed")
};


static ngx_str_t  ngx_http_ci_jobs_callback_results[] = {
    ngx_string("accepted"),
    ngx_string("ignored"),
    ngx_string("invalid")
};


static ngx_str_t  ngx_http_ci_jobs_reload_results[] = {
    ngx_string("ok"),
    ngx_string("error")
};


/* --- configuration ---------------------------------------------------- */


char *
ngx_http_ci_jobs_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_ci_jobs_status_handler;

    if (ngx_http_ci_jobs_counters_zone(cf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * postconfiguration: the log-phase counter, when there is anything to
 * count into.
 */

ngx_int_t
ngx_http_ci_jobs_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_ci_jobs_main_conf_t  *cjmcf;

    cjmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    if (cjmcf->metrics_zone == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ci_jobs_metrics_log;

    return NGX_OK;
}


/*
 * A gateway request is over: its API, status and failure, and its cache
 * lookup in its zone.
 */

static ngx_int_t
ngx_http_ci_jobs_metrics_log(ngx_http_request_t *r)
{
    ngx_http_ci_jobs_ctx_t       *ctx;
    ngx_http_ci_jobs_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL || ngx_http_ci_jobs_counters() == NULL) {
        return NGX_OK;
    }

    ngx_http_ci_jobs_count_request(ctx->api, r->headers_out.status,
                                   ctx->upstream_error);

    if (ctx->cache_status) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_ci_jobs_module);
        ngx_http_ci_jobs_cache_count(lcf->cache_zone, ctx->cache_status);
    }

    return NGX_OK;
}


/* --- the status location ---------------------------------------------- */


static ngx_int_t
ngx_http_ci_jobs_status_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_str_t                 ready, type;
    ngx_http_ci_jobs_plain_t  t;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_http_ci_jobs_plain_init(&t, r);

    ngx_str_set(&ready, "ready");

    if (r->args.len == ready.len
        && ngx_strncmp(r->args.data, ready.data, ready.len) == 0)
    {
        rc = ngx_http_ci_jobs_ready(r, &t);
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&type, "text/plain");

    } else {
        if (ngx_http_ci_jobs_status_metrics(r, &t) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = NGX_HTTP_OK;
        ngx_str_set(&type, "text/plain; version=0.0.4");
    }

    return ngx_http_ci_jobs_plain_send(&t, rc, &type);
}


static ngx_int_t
ngx_http_ci_jobs_status_metrics(ngx_http_request_t *r,
    ngx_http_ci_jobs_plain_t *t)
{
    ngx_uint_t                    api;
    const char                   *name;
    ngx_atomic_t                  reloads[2];
    ngx_http_ci_jobs_counters_t  *m;

    m = ngx_http_ci_jobs_counters();

    if (m == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_plain_family(t, &ngx_http_ci_jobs_requests_family)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (api = 0; api <= NGX_HTTP_CI_JOBS_API_COUNT; api++) {
        name = (api < NGX_HTTP_CI_JOBS_API_COUNT)
               ? ngx_http_ci_jobs_api_names[api] : "none";

        if (ngx_http_ci_jobs_status_lines(t, "ci_jobs_requests_total", name,
                                          m->requests[api])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_ci_jobs_plain_labelled(t, &ngx_http_ci_jobs_refusals_family,
                                        "code", ngx_http_ci_jobs_code_names,
                                        m->refusals,
                                        NGX_HTTP_CI_JOBS_REFUSALS)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_plain_labelled(t, &ngx_http_ci_jobs_access_family,
                                        "reason",
                                        ngx_http_ci_jobs_access_reason_names,
                                        m->access,
                                        NGX_HTTP_CI_JOBS_ACCESS_REASONS)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_status_caches(r, t) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_plain_family(t, &ngx_http_ci_jobs_upstream_family)
        != NGX_OK
        || ngx_http_ci_jobs_status_lines(t, "ci_jobs_upstream_requests_total",
                                         NULL, m->upstream)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* the kinds of failure, from 1: 0 is none */

    if (ngx_http_ci_jobs_plain_labelled(t, &ngx_http_ci_jobs_errors_family,
                                   "kind",
                                   &ngx_http_ci_jobs_upstream_error_names[1],
                                   &m->errors[1],
                                   NGX_HTTP_CI_JOBS_UPSTREAM_ERRORS - 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_status_histogram(t, m) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_plain_labelled(t,
                                        &ngx_http_ci_jobs_signatures_family,
                                        NULL, NULL, &m->signatures, 1)
        != NGX_OK
        || ngx_http_ci_jobs_plain_labelled(t, &ngx_http_ci_jobs_skew_family,
                                           NULL, NULL, &m->skew, 1)
           != NGX_OK
        || ngx_http_ci_jobs_plain_labelled(t,
                                           &ngx_http_ci_jobs_watchers_family,
                                           NULL, NULL, &m->watchers, 1)
           != NGX_OK
        || ngx_http_ci_jobs_plain_labelled(t,
                                      &ngx_http_ci_jobs_watch_events_family,
                                      NULL, NULL, &m->watch_events, 1)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    reloads[0] = m->reloads[1];
    reloads[1] = m->reloads[0];

    if (ngx_http_ci_jobs_plain_labelled(t, &ngx_http_ci_jobs_reloads_family,
                                        "result",
                                        ngx_http_ci_jobs_reload_results,
                                        reloads, 2)
        != NGX_OK
        || ngx_http_ci_jobs_plain_labelled(t,
                                        &ngx_http_ci_jobs_resolutions_family,
                                        "result",
                                        ngx_http_ci_jobs_resolution_results,
                                        m->resolutions,
                                        NGX_HTTP_CI_JOBS_RESOLVED)
           != NGX_OK
        || ngx_http_ci_jobs_plain_labelled(t,
                                        &ngx_http_ci_jobs_callbacks_family,
                                        "result",
                                        ngx_http_ci_jobs_callback_results,
                                        m->callbacks,
                                        NGX_HTTP_CI_JOBS_CALLBACK_RESULTS)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_ci_jobs_status_expiry(r, t);
}


/* a line for each status counted, of one API or of CI's answers */

static ngx_int_t
ngx_http_ci_jobs_status_lines(ngx_http_ci_jobs_plain_t *t, const char *name,
    const char *api, ngx_atomic_t *slots)
{
    ngx_uint_t         s;
    ngx_atomic_uint_t  v;

    for (s = 0; s < NGX_HTTP_CI_JOBS_STATUSES; s++) {
        v = slots[s];

        if (v == 0) {
            continue;
        }

        if (ngx_http_ci_jobs_plain_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (api != NULL) {
            t->b->last = ngx_sprintf(t->b->last,
                                     "%s{api=\"%s\",status=\"%ui\"} %uA\n",
                                     name, api,
                                     s + NGX_HTTP_CI_JOBS_STATUS_MIN, v);
            continue;
        }

        t->b->last = ngx_sprintf(t->b->last, "%s{status=\"%ui\"} %uA\n",
                                 name, s + NGX_HTTP_CI_JOBS_STATUS_MIN, v);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_status_histogram(ngx_http_ci_jobs_plain_t *t,
    ngx_http_ci_jobs_counters_t *m)
{
    ngx_uint_t         i, n;
    ngx_atomic_uint_t  v, total;

    if (ngx_http_ci_jobs_plain_family(t, &ngx_http_ci_jobs_seconds_family)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    total = 0;

    for (i = 0; i <= NGX_HTTP_CI_JOBS_BUCKETS; i++) {
        total += m->buckets[i];

        if (ngx_http_ci_jobs_plain_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (i == NGX_HTTP_CI_JOBS_BUCKETS) {
            t->b->last = ngx_sprintf(t->b->last,
                                     "ci_jobs_upstream_response_seconds_bucket"
                                     "{le=\"+Inf\"} %uA\n", total);
            break;
        }

        n = ngx_http_ci_jobs_bounds[i];

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_upstream_response_seconds_bucket"
                                 "{le=\"%ui.%03ui\"} %uA\n",
                                 n / 1000, n % 1000, total);
    }

    v = m->response_msec;

    t->b->last = ngx_sprintf(t->b->last,
                             "ci_jobs_upstream_response_seconds_sum "
                             "%uA.%03uA\n"
                             "ci_jobs_upstream_response_seconds_count %uA\n",
                             v / 1000, v % 1000, total);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_status_caches(ngx_http_request_t *r,
    ngx_http_ci_jobs_plain_t *t)
{
    ngx_uint_t                       n, f, res;
    ngx_list_t                      *zones;
    ngx_shm_zone_t                  *zone;
    ngx_http_ci_jobs_list_walk_t     w;
    ngx_http_ci_jobs_cache_stats_t   st;

    zones = &((ngx_cycle_t *) ngx_cycle)->shared_memory;

    for (f = 0; f < 4; f++) {

        if (ngx_http_ci_jobs_plain_family(t,
                                          &ngx_http_ci_jobs_cache_families[f])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        for (zone = ngx_http_ci_jobs_list_first(&w, zones);
             zone != NULL;
             zone = ngx_http_ci_jobs_list_next(&w))
        {
            if (ngx_http_ci_jobs_cache_stats(zone, &st) != NGX_OK) {
                continue;
            }

            n = zone->shm.name.len * 2;

            for (res = 1;
                 res < (f == 0 ? NGX_HTTP_CI_JOBS_CACHE_STATUSES : 2);
                 res++)
            {

                if (ngx_http_ci_jobs_plain_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX
                                                      + n)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                t->b->last = ngx_sprintf(t->b->last, "%s{zone=\"",
                                     ngx_http_ci_jobs_cache_families[f].name);
                t->b->last = ngx_http_ci_jobs_plain_label(t->b->last,
                                                          &zone->shm.name);

                switch (f) {

                case 0:
                    t->b->last = ngx_sprintf(t->b->last,
                                     "\",result=\"%V\"} %ui\n",
                                     &ngx_http_ci_jobs_cache_status_names[res],
                                     st.results[res]);
                    break;

                case 1:
                    t->b->last = ngx_sprintf(t->b->last, "\"} %ui\n",
                                             st.entries);
                    break;

                case 2:
                    t->b->last = ngx_sprintf(t->b->last, "\"} %uz\n",
                                             st.bytes);
                    break;

                default:
                    t->b->last = ngx_sprintf(t->b->last, "\"} %ui\n",
                                             st.evictions);
                }
            }
        }
    }

    return NGX_OK;
}


/*
 * When the credentials of each source expire: every role source (0 until
 * its first fetch), and the credentials files that say so.
 */

static ngx_int_t
ngx_http_ci_jobs_status_expiry(ngx_http_request_t *r,
    ngx_http_ci_jobs_plain_t *t)
{
    time_t                          expires;
    ngx_str_t                       name;
    ngx_uint_t                      i;
    ngx_http_ci_jobs_source_t     **cp;
    ngx_http_ci_jobs_main_conf_t   *cmcf;

    if (ngx_http_ci_jobs_plain_family(t, &ngx_http_ci_jobs_expiry_family)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_ci_jobs_module);
    cp = cmcf->sources.elts;

    for (i = 0; i < cmcf->sources.nelts; i++) {
        (void) ngx_http_ci_jobs_source_health(cp[i], ngx_time(), &expires);

        if (cp[i]->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE && expires == 0) {
            continue;
        }

        ngx_http_ci_jobs_source_name(cp[i], &name);

        if (ngx_http_ci_jobs_plain_reserve(t, NGX_HTTP_CI_JOBS_LINE_MAX
                                              + 2 * name.len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        t->b->last = ngx_sprintf(t->b->last,
                                 "ci_jobs_credentials_expiry_seconds{%s=\"",
                                 cp[i]->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE
                                 ? "file" : "role");
        t->b->last = ngx_http_ci_jobs_plain_label(t->b->last, &name);
        t->b->last = ngx_sprintf(t->b->last, "\"} %T\n", expires);
    }

    return NGX_OK;
}
