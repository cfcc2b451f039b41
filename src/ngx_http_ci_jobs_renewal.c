
/*
 * Requests whose keys CI refused while their source's renewal is asked
 * for or under way (ngx_http_ci_jobs_source_renew()) wait for it, in a
 * queue of the source's in each worker, and then go on as the waiter
 * said (the upstream sends them again: signed with the new keys, or with
 * the same ones when the renewal failed or brought nothing new, whose
 * refusal the client then gets).  The worker that renews wakes its own
 * requests as soon as it is over; the others look at the state zone every
 * NGX_HTTP_CI_JOBS_RENEWAL_LOOK ms while a request waits (the source's
 * look, which says whether the renewal is still under way).  No request
 * waits longer than a fetch from the metadata service may take.  The
 * queue knows neither the source's state nor the upstream: both call
 * into it.
 */


#include "ngx_http_ci_jobs_module.h"


#define NGX_HTTP_CI_JOBS_RENEWAL_LOOK  10      /* ms between two looks */
#define NGX_HTTP_CI_JOBS_RENEWAL_WAIT  6000    /* ms: a fetch's timeouts */


typedef struct {
    ngx_queue_t                  queue;
    ngx_http_request_t          *request;      /* NULL: no longer waits */
    ngx_http_ci_jobs_resume_pt   resume;
    ngx_atomic_uint_t            signed_with;  /* the source's changed */
    ngx_msec_t                   end;
} ngx_http_ci_jobs_renewal_waiter_t;


static void ngx_http_ci_jobs_renewal_cleanup(void *data);


/*
 * At the worker's start, for a source shared through the state zone: LOOK
 * finds out whether the renewal is still under way, then calls
 * ngx_http_ci_jobs_renewal_wake().
 */

void
ngx_http_ci_jobs_renewal_init(ngx_http_ci_jobs_source_t *source,
    ngx_event_handler_pt look, ngx_log_t *log)
{
    ngx_queue_init(&source->renewal_waiting);

    source->renewal_look.handler = look;
    source->renewal_look.data = source;
    source->renewal_look.log = log;
}


/* with the source's configuration: no look left behind */

void
ngx_http_ci_jobs_renewal_stop(ngx_http_ci_jobs_source_t *source)
{
    if (source->renewal_look.timer_set) {
        ngx_del_timer(&source->renewal_look);
    }

    if (source->renewal_look.posted) {
        ngx_delete_posted_event(&source->renewal_look);
    }
}


/*
 * R, refused for the keys of its signature (SIGNED_WITH), waits, then goes
 * on through RESUME.  The
 * waiter goes with the request's pool, and leaves the queue when the
 * request's upstream ends (ngx_http_ci_jobs_renewal_leave()), whatever
 * ends it: the client gone, or the request sent again.
 */

ngx_int_t
ngx_http_ci_jobs_renewal_wait(ngx_http_request_t *r,
    ngx_http_ci_jobs_source_t *source, ngx_atomic_uint_t signed_with,
    ngx_http_ci_jobs_resume_pt resume)
{
    ngx_pool_cleanup_t                 *cln;
    ngx_http_ci_jobs_ctx_t             *ctx;
    ngx_http_ci_jobs_renewal_waiter_t  *w;

    if (source->renewal_look.handler == NULL) {
        return NGX_DECLINED;
    }

    cln = ngx_pool_cleanup_add(r->pool,
                               sizeof(ngx_http_ci_jobs_renewal_waiter_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    w = cln->data;
    w->request = r;
    w->resume = resume;
    w->signed_with = signed_with;
    w->end = ngx_current_msec + NGX_HTTP_CI_JOBS_RENEWAL_WAIT;

    cln->handler = ngx_http_ci_jobs_renewal_cleanup;

    ngx_queue_insert_tail(&source->renewal_waiting, &w->queue);

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);
    ctx->renewal_waiter = w;

    if (!source->renewal_look.timer_set && !source->renewal_look.posted) {
        ngx_add_timer(&source->renewal_look, NGX_HTTP_CI_JOBS_RENEWAL_LOOK);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ci_jobs waiting for the renewal of \"%V\"",
                   &source->name);

    return NGX_OK;
}


/* this worker's renewal is over: its waiters are looked at at once */

void
ngx_http_ci_jobs_renewal_over(ngx_http_ci_jobs_source_t *source)
{
    if (source->renewal_look.handler == NULL
        || ngx_queue_empty(&source->renewal_waiting)
        || source->renewal_look.posted)
    {
        return;
    }

    ngx_post_event(&source->renewal_look, &ngx_posted_events);
}


/* the request's upstream ends: it waits no more */

void
ngx_http_ci_jobs_renewal_leave(ngx_http_ci_jobs_ctx_t *ctx)
{
    ngx_http_ci_jobs_renewal_waiter_t  *w;

    w = ctx->renewal_waiter;

    if (w == NULL) {
        return;
    }

    ctx->renewal_waiter = NULL;

    if (w->request != NULL) {
        ngx_queue_remove(&w->queue);
        w->request = NULL;
    }
}


/*
 * From the source's look, RENEWING saying whether its renewal is still
 * asked for or under way: the requests whose wait is over go on (the keys
 * changed since they were signed, the renewal ended without new ones, or
 * the wait ran out).  They are taken out of the queue first, as going on
 * may end other requests.
 */

void
ngx_http_ci_jobs_renewal_wake(ngx_http_ci_jobs_source_t *source,
    ngx_uint_t renewing)
{
    ngx_msec_t                          now;
    ngx_event_t                        *ev;
    ngx_queue_t                         ready, *q, *next;
    ngx_connection_t                   *c;
    ngx_http_request_t                 *r;
    ngx_http_ci_jobs_renewal_waiter_t  *w;

    ev = &source->renewal_look;
    ev->timedout = 0;

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    if (ngx_queue_empty(&source->renewal_waiting)) {
        return;
    }

    now = ngx_current_msec;

    ngx_queue_init(&ready);

    for (q = ngx_queue_head(&source->renewal_waiting);
         q != ngx_queue_sentinel(&source->renewal_waiting);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_ci_jobs_renewal_waiter_t, queue);

        if (renewing && source->changed == w->signed_with
            && (ngx_msec_int_t) (w->end - now) > 0)
        {
            continue;
        }

        ngx_queue_remove(q);
        ngx_queue_insert_tail(&ready, q);
    }

    while (!ngx_queue_empty(&ready)) {
        q = ngx_queue_head(&ready);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_ci_jobs_renewal_waiter_t, queue);
        r = w->request;
        w->request = NULL;

        c = r->connection;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ci_jobs renewal of \"%V\" waited for, keys %s",
                       &source->name,
                       source->changed != w->signed_with ? "new" : "same");

        w->resume(r);
        ngx_http_run_posted_requests(c);
    }

    if (!ngx_queue_empty(&source->renewal_waiting)) {
        ngx_add_timer(ev, NGX_HTTP_CI_JOBS_RENEWAL_LOOK);
    }
}


static void
ngx_http_ci_jobs_renewal_cleanup(void *data)
{
    ngx_http_ci_jobs_renewal_waiter_t  *w = data;

    if (w->request != NULL) {
        ngx_queue_remove(&w->queue);
        w->request = NULL;
    }
}
