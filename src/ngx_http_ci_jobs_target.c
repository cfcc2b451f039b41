
/*
 * Where a gateway location connects: the upstream (an upstream {} block
 * that ci_jobs_pass names, or one of the module's own, with its own pool
 * of idle connections, src/ngx_http_ci_jobs_keepalive.c), and the TLS
 * context that verifies CI's certificate.
 *
 * Locations that connect alike (the same URL, bucket host, trust settings
 * and pool size) share one target: one upstream, one pool of connections,
 * one TLS context.  A TLS session is resumed only within the target that
 * verified it: the module's own upstreams belong to one target each, and
 * an upstream {} block that targets of different trust settings share
 * resumes no session at all (nginx keeps sessions per server of a block).
 *
 * With nginx's resolver set, the host name of a module's own upstream is
 * resolved at run time (src/ngx_http_ci_jobs_resolve.c), not when the
 * configuration is read; locations with different resolvers do not share
 * a target.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"
#include "ngx_http_ci_jobs_keepalive.h"


/* the longest chain from CI's certificate to a trusted root */
#define NGX_HTTP_CI_JOBS_SSL_VERIFY_DEPTH     4

struct ngx_http_ci_jobs_target_s {
    ngx_str_t                      url;        /* ci_jobs_pass, or default */
    ngx_str_t                      host;       /* SNI, the name verified */
    ngx_flag_t                     ssl_verify;
    ngx_str_t                      ssl_trusted_certificate;
    ngx_uint_t                     keepalive;
    ngx_resolver_t                *resolver;   /* with addresses, or NULL */
    ngx_msec_t                     resolver_timeout;

    ngx_http_upstream_srv_conf_t  *upstream;
    ngx_http_ci_jobs_resolve_t    *resolve;
    ngx_array_t                    confs;     /* ngx_http_upstream_conf_t * */

#if (NGX_HTTP_SSL)
    ngx_ssl_t                     *ssl;
    ngx_http_complex_value_t      *ssl_name;
#endif

    unsigned                       tls:1;
    unsigned                       session_reuse:1;
};


/* what an own upstream keeps in its srv_conf */

typedef struct {
    ngx_http_ci_jobs_keepalive_t      *keepalive;     /* or NULL */
    ngx_http_ci_jobs_resolve_t        *resolve;       /* or NULL */
} ngx_http_ci_jobs_own_t;


static ngx_http_ci_jobs_target_t *ngx_http_ci_jobs_target_find(
    ngx_array_t *targets, ngx_str_t *url, ngx_http_ci_jobs_loc_conf_t *conf,
    ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_http_ci_jobs_target_trusts_alike(
    ngx_http_ci_jobs_target_t *a, ngx_http_ci_jobs_target_t *b);
static ngx_http_ci_jobs_target_t *ngx_http_ci_jobs_target_create(
    ngx_conf_t *cf, ngx_str_t *url, ngx_http_ci_jobs_loc_conf_t *conf,
    ngx_http_core_loc_conf_t *clcf);
static void ngx_http_ci_jobs_target_scope_sessions(ngx_array_t *targets,
    ngx_http_ci_jobs_target_t *target);
static ngx_int_t ngx_http_ci_jobs_target_use(ngx_http_ci_jobs_target_t *target,
    ngx_http_ci_jobs_loc_conf_t *conf);
static ngx_http_upstream_srv_conf_t *ngx_http_ci_jobs_upstream_block(
    ngx_conf_t *cf, ngx_url_t *u, ngx_str_t *url);
static ngx_http_upstream_srv_conf_t *ngx_http_ci_jobs_own_upstream(
    ngx_conf_t *cf, ngx_url_t *u, ngx_http_ci_jobs_target_t *target);
static ngx_int_t ngx_http_ci_jobs_own_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_ci_jobs_target_ssl(ngx_conf_t *cf,
    ngx_http_ci_jobs_target_t *target);
#endif
static ngx_http_ci_jobs_target_t **ngx_http_ci_jobs_targets(
    ngx_cycle_t *cycle, ngx_uint_t *n);


char *
ngx_http_ci_jobs_set_target(ngx_conf_t *cf, ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_str_t                      url;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_ci_jobs_target_t     *target, **tp;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    /* the location's, merged: the core module's merge comes first */
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->pass.len) {
        url = conf->pass;

    } else {
        url.len = sizeof("https://") - 1 + conf->host.len;
        url.data = ngx_pnalloc(cf->pool, url.len);
        if (url.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(url.data, "https://%V", &conf->host);
    }

    if (cmcf->targets.elts == NULL
        && ngx_array_init(&cmcf->targets, cf->pool, 4,
                          sizeof(ngx_http_ci_jobs_target_t *))
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    target = ngx_http_ci_jobs_target_find(&cmcf->targets, &url, conf, clcf);

    if (target == NULL) {
        target = ngx_http_ci_jobs_target_create(cf, &url, conf, clcf);
        if (target == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_http_ci_jobs_target_scope_sessions(&cmcf->targets, target);

        tp = ngx_array_push(&cmcf->targets);
        if (tp == NULL) {
            return NGX_CONF_ERROR;
        }

        *tp = target;
    }

    if (ngx_http_ci_jobs_target_use(target, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_http_ci_jobs_target_t *
ngx_http_ci_jobs_target_find(ngx_array_t *targets, ngx_str_t *url,
    ngx_http_ci_jobs_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf)
{
    ngx_uint_t                  i;
    ngx_resolver_t             *resolver;
    ngx_http_ci_jobs_target_t  *t, **tp, wanted;

    resolver = clcf->resolver->connections.nelts ? clcf->resolver : NULL;

    wanted.host = conf->host;
    wanted.ssl_verify = conf->ssl_verify;
    wanted.ssl_trusted_certificate = conf->ssl_trusted_certificate;

    tp = targets->elts;

    for (i = 0; i < targets->nelts; i++) {
        t = tp[i];

        if (t->url.len == url->len
            && ngx_strncmp(t->url.data, url->data, url->len) == 0
            && t->keepalive == (ngx_uint_t) conf->keepalive
            && t->resolver == resolver
            && (resolver == NULL
                || t->resolver_timeout == clcf->resolver_timeout)
            && ngx_http_ci_jobs_target_trusts_alike(t, &wanted))
        {
            return t;
        }
    }

    return NULL;
}


/* a connection or a session verified for one is good for the other */

static ngx_int_t
ngx_http_ci_jobs_target_trusts_alike(ngx_http_ci_jobs_target_t *a,
    ngx_http_ci_jobs_target_t *b)
{
    if (a->host.len != b->host.len
        || ngx_strncmp(a->host.data, b->host.data, a->host.len) != 0
        || a->ssl_verify != b->ssl_verify)
    {
        return 0;
    }

    return !a->ssl_verify
           || (a->ssl_trusted_certificate.len
               == b->ssl_trusted_certificate.len
               && ngx_strncmp(a->ssl_trusted_certificate.data,
                              b->ssl_trusted_certificate.data,
                              a->ssl_trusted_certificate.len)
                  == 0);
}


/* the URL is parsed here, once, and the upstream found or made */

static ngx_http_ci_jobs_target_t *
ngx_http_ci_jobs_target_create(ngx_conf_t *cf, ngx_str_t *url,
    ngx_http_ci_jobs_loc_conf_t *conf, ngx_http_core_loc_conf_t *clcf)
{
    size_t                      add;
    in_port_t                   port;
    ngx_url_t                   u;
    ngx_http_ci_jobs_target_t  *target;

    target = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_target_t));
    if (target == NULL) {
        return NULL;
    }

    if (ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0) {
        add = 8;
        port = 443;
        target->tls = 1;

    } else if (ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0) {
        add = 7;
        port = 80;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid URL prefix in \"ci_jobs_pass\" \"%V\": "
                           "expected https:// or http://", url);
        return NULL;
    }

    target->url = *url;
    target->host = conf->host;
    target->ssl_verify = conf->ssl_verify;
    target->ssl_trusted_certificate = conf->ssl_trusted_certificate;
    target->keepalive = conf->keepalive;

    if (clcf->resolver->connections.nelts) {
        target->resolver = clcf->resolver;
        target->resolver_timeout = clcf->resolver_timeout;
    }

    if (ngx_array_init(&target->confs, cf->pool, 4,
                       sizeof(ngx_http_upstream_conf_t *))
        != NGX_OK)
    {
        return NULL;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.len = url->len - add;
    u.url.data = url->data + add;
    u.default_port = port;
    u.uri_part = 1;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s in \"ci_jobs_pass\" \"%V\"",
                           u.err ? u.err : "invalid URL", url);
        return NULL;
    }

    if (u.uri.len > 1 || (u.uri.len == 1 && u.uri.data[0] != '/')) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_pass\" \"%V\" must not have a URI part",
                           url);
        return NULL;
    }

    target->upstream = ngx_http_ci_jobs_upstream_block(cf, &u, url);

    if (target->upstream == NGX_CONF_ERROR) {
        return NULL;
    }

    if (target->upstream == NULL) {
        target->upstream = ngx_http_ci_jobs_own_upstream(cf, &u, target);
        if (target->upstream == NULL) {
            return NULL;
        }
    }

    if (!target->tls) {
        return target;
    }

#if (NGX_HTTP_SSL)
    if (ngx_http_ci_jobs_target_ssl(cf, target) != NGX_OK) {
        return NULL;
    }

    return target;
#else
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"ci_jobs_pass\" \"%V\": https needs nginx built "
                       "with the http_ssl_module", url);
    return NULL;
#endif
}


/*
 * Sessions are kept per server of an upstream: one that targets of
 * different trust settings share (an upstream {} block named by locations
 * of other buckets or CAs) resumes none, for any of them.
 */

static void
ngx_http_ci_jobs_target_scope_sessions(ngx_array_t *targets,
    ngx_http_ci_jobs_target_t *target)
{
    ngx_uint_t                   i, j;
    ngx_http_ci_jobs_target_t  **tp;
    ngx_http_upstream_conf_t   **confs;

    target->session_reuse = target->tls;

    tp = targets->elts;

    for (i = 0; i < targets->nelts; i++) {

        if (tp[i]->upstream != target->upstream
            || ngx_http_ci_jobs_target_trusts_alike(tp[i], target))
        {
            continue;
        }

        target->session_reuse = 0;
        tp[i]->session_reuse = 0;

        confs = tp[i]->confs.elts;

        for (j = 0; j < tp[i]->confs.nelts; j++) {
            confs[j]->ssl_session_reuse = 0;
        }
    }
}


static ngx_int_t
ngx_http_ci_jobs_target_use(ngx_http_ci_jobs_target_t *target,
    ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_http_upstream_conf_t  **cp;

    cp = ngx_array_push(&target->confs);
    if (cp == NULL) {
        return NGX_ERROR;
    }

    *cp = &conf->upstream;

    conf->upstream.upstream = target->upstream;
    conf->resolve = target->resolve;

#if (NGX_HTTP_SSL)
    if (target->tls) {
        conf->upstream.ssl = target->ssl;
        conf->upstream.ssl_name = target->ssl_name;
        conf->upstream.ssl_server_name = 1;
        conf->upstream.ssl_verify = target->ssl_verify;
        conf->upstream.ssl_session_reuse = target->session_reuse;
    }
#endif

    return NGX_OK;
}


/*
 * The upstream {} block the URL names, as proxy_pass would find it: by
 * name, with no port.  NULL when there is none; NGX_CONF_ERROR when the
 * URL gives a block's name a port.
 */

static ngx_http_upstream_srv_conf_t *
ngx_http_ci_jobs_upstream_block(ngx_conf_t *cf, ngx_url_t *u, ngx_str_t *url)
{
    ngx_uint_t                      i;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);

    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {

        if (!(uscfp[i]->flags & NGX_HTTP_UPSTREAM_CREATE)
            || uscfp[i]->host.len != u->host.len
            || ngx_strncasecmp(uscfp[i]->host.data, u->host.data,
                               u->host.len)
               != 0)
        {
            continue;
        }

        if (!u->no_port) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ci_jobs_pass\" \"%V\": upstream \"%V\" "
                               "may not have a port", url, &u->host);
            return NGX_CONF_ERROR;
        }

        return uscfp[i];
    }

    return NULL;
}


/*
 * An upstream of the module's own for a host[:port]: what the upstream
 * module makes of "proxy_pass http://host:port", but outside its list, so
 * that no other module's location shares it, and with a pool of idle
 * connections that behaves as if the operator had written
 *
 *     upstream { server host:port; keepalive N; }
 *
 * Locations are merged after the upstream module has initialized its
 * upstreams: this one is initialized here, by round robin, and its pool
 * wraps round robin's peers.  A host name with a resolver set is not
 * resolved here: the worker's answers become round robin's peers.
 */

static ngx_http_upstream_srv_conf_t *
ngx_http_ci_jobs_own_upstream(ngx_conf_t *cf, ngx_url_t *u,
    ngx_http_ci_jobs_target_t *target)
{
    ngx_uint_t                     resolved;
    ngx_http_ci_jobs_own_t        *own;
    ngx_http_upstream_server_t    *us;
    ngx_http_upstream_srv_conf_t  *uscf;

    uscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_upstream_srv_conf_t));
    if (uscf == NULL) {
        return NULL;
    }

    uscf->host = u->host;
    uscf->port = u->port;
    uscf->no_port = u->no_port;
    uscf->file_name = cf->conf_file->file.name.data;
    uscf->line = cf->conf_file->line;

    own = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_own_t));
    if (own == NULL) {
        return NULL;
    }

    resolved = (target->resolver && u->naddrs == 0 && u->family != AF_UNIX);

    /* first: the resolution closes the pool's connections an answer drops */

    if (target->keepalive) {
        own->keepalive = ngx_http_ci_jobs_keepalive_create(cf,
                                                      target->keepalive,
                                                      resolved ? uscf : NULL);
        if (own->keepalive == NULL) {
            return NULL;
        }
    }

    if (resolved) {
        own->resolve = ngx_http_ci_jobs_resolve_create(cf, u, uscf,
                                                  target->resolver,
                                                  target->resolver_timeout,
                                                  own->keepalive);
        if (own->resolve == NULL) {
            return NULL;
        }

        target->resolve = own->resolve;

    } else {

        /* an address is one server; a name is resolved by round robin */

        if (u->naddrs == 1 && (u->port || u->family == AF_UNIX)) {
            uscf->servers = ngx_array_create(cf->pool, 1,
                                          sizeof(ngx_http_upstream_server_t));
            if (uscf->servers == NULL) {
                return NULL;
            }

            us = ngx_array_push(uscf->servers);
            if (us == NULL) {
                return NULL;
            }

            ngx_memzero(us, sizeof(ngx_http_upstream_server_t));

            us->addrs = u->addrs;
            us->naddrs = 1;
        }

        if (ngx_http_upstream_init_round_robin(cf, uscf) != NGX_OK) {
            return NULL;
        }
    }

    /* found by init_peer where any balancer finds its own: in srv_conf */

    uscf->srv_conf = ngx_pcalloc(cf->pool,
                                 sizeof(void *) * ngx_http_max_module);
    if (uscf->srv_conf == NULL) {
        return NULL;
    }

    uscf->srv_conf[ngx_http_upstream_module.ctx_index] = uscf;
    uscf->srv_conf[ngx_http_ci_jobs_module.ctx_index] = own;

    uscf->peer.init = ngx_http_ci_jobs_own_init_peer;

    return uscf;
}


/* the upstream's peer.init: round robin's, the pool around it */

static ngx_int_t
ngx_http_ci_jobs_own_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_int_t                rc;
    ngx_http_ci_jobs_own_t  *own;

    own = ngx_http_conf_upstream_srv_conf(us, ngx_http_ci_jobs_module);

    if (own->resolve) {
        rc = ngx_http_ci_jobs_resolve_init_peer(r, own->resolve, us);

    } else {
        rc = ngx_http_upstream_init_round_robin_peer(r, us);
    }

    if (rc != NGX_OK || own->keepalive == NULL) {
        return rc;
    }

    return ngx_http_ci_jobs_keepalive_init_peer(r, own->keepalive);
}
#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_ci_jobs_target_ssl(ngx_conf_t *cf, ngx_http_ci_jobs_target_t *target)
{
    ngx_http_compile_complex_value_t  ccv;

    target->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (target->ssl == NULL) {
        return NGX_ERROR;
    }

    target->ssl->log = cf->log;

    if (ngx_ssl_create(target->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_cleanup_add(cf->pool, ngx_ssl_cleanup_ctx,
                                     target->ssl)
        == NULL)
    {
        ngx_ssl_cleanup_ctx(target->ssl);
        return NGX_ERROR;
    }

    if (target->ssl_verify
        && ngx_ssl_trusted_certificate(cf, target->ssl,
                                       &target->ssl_trusted_certificate,
                                       NGX_HTTP_CI_JOBS_SSL_VERIFY_DEPTH)
           != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot load \"ci_jobs_ssl_trusted_certificate\" "
                           "\"%V\"", &target->ssl_trusted_certificate);
        return NGX_ERROR;
    }

    /* a later target may still turn reuse off: the cache is always set up */

    if (ngx_ssl_client_session_cache(cf, target->ssl, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    /* SNI and the name verified are the bucket's host, whatever we dial */

    target->ssl_name = ngx_pcalloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (target->ssl_name == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &target->host;
    ccv.complex_value = target->ssl_name;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}

#endif


/* a worker starts: the first resolution of each name resolved at run time */

void
ngx_http_ci_jobs_targets_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i, n;
    ngx_http_ci_jobs_target_t  **tp;

    /* not in the cache manager and loader, which run init_process too */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    tp = ngx_http_ci_jobs_targets(cycle, &n);

    for (i = 0; i < n; i++) {
        if (tp[i]->resolve) {
            ngx_http_ci_jobs_resolve_init_process(tp[i]->resolve);
        }
    }
}


/* the cycle's targets; none without an http {} block */

static ngx_http_ci_jobs_target_t **
ngx_http_ci_jobs_targets(ngx_cycle_t *cycle, ngx_uint_t *n)
{
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ci_jobs_module);

    if (cmcf == NULL) {
        *n = 0;
        return NULL;
    }

    *n = cmcf->targets.nelts;

    return cmcf->targets.elts;
}


/*
 * At a worker's exit: the TLS sessions round robin kept for the servers
 * the targets connect to, of the module's own upstreams and of blocks.
 * Outside a shared zone round robin holds each in the worker's heap for
 * the worker's life and never frees it (a plain proxy_pass https:// leaves
 * the same, t/valgrind.supp), and nginx has no call that releases them:
 * they are reached through the peers of ngx_http_upstream_round_robin.h,
 * the header every balancer builds on.  This keeps a worker's exit clean
 * for LeakSanitizer, which runs the suite's nginx without suppressions.
 * Then what run-time resolution holds.
 */

void
ngx_http_ci_jobs_targets_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                   i, n;
    ngx_http_ci_jobs_target_t  **tp;

    tp = ngx_http_ci_jobs_targets(cycle, &n);

    for (i = 0; i < n; i++) {

#if (NGX_HTTP_SSL)
        if (tp[i]->tls && tp[i]->upstream->peer.data != NULL) {
            ngx_http_ci_jobs_free_sessions(tp[i]->upstream->peer.data);
        }
#endif

        /* the answers' peer sets, their sessions freed above */

        if (tp[i]->resolve) {
            ngx_http_ci_jobs_resolve_exit(tp[i]->resolve);
        }
    }
}
