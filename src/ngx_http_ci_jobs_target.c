
/*
 * Where a gateway location connects: the upstream (an upstream {} block
 * that ci_jobs_pass names, or one of the module's own, with a keepalive
 * pool), and the TLS context that verifies CI's certificate.
 *
 * Locations that connect alike (the same URL, bucket host, trust settings
 * and pool size) share one target: one upstream, one pool of connections,
 * one TLS context.  A TLS session is resumed only within the target that
 * verified it: the module's own upstreams belong to one target each, and
 * an upstream {} block that targets of different trust settings share
 * resumes no session at all (nginx keeps sessions per server of a block).
 */


#include "ngx_http_ci_jobs_module.h"


#define NGX_HTTP_CI_JOBS_KEEPALIVE_MODULE  "ngx_http_upstream_keepalive_module"

/* the longest chain from CI's certificate to a trusted root */
#define NGX_HTTP_CI_JOBS_SSL_VERIFY_DEPTH  4


struct ngx_http_ci_jobs_target_s {
    ngx_str_t                      url;        /* ci_jobs_pass, or default */
    ngx_str_t                      host;       /* SNI, the name verified */
    ngx_flag_t                     ssl_verify;
    ngx_str_t                      ssl_trusted_certificate;
    ngx_uint_t                     keepalive;

    ngx_http_upstream_srv_conf_t  *upstream;
    ngx_array_t                    confs;     /* ngx_http_upstream_conf_t * */

#if (NGX_HTTP_SSL)
    ngx_ssl_t                     *ssl;
    ngx_http_complex_value_t      *ssl_name;
#endif

    unsigned                       tls:1;
    unsigned                       session_reuse:1;
};


static ngx_http_ci_jobs_target_t *ngx_http_ci_jobs_target_find(
    ngx_array_t *targets, ngx_str_t *url, ngx_http_ci_jobs_loc_conf_t *conf);
static ngx_int_t ngx_http_ci_jobs_target_trusts_alike(
    ngx_http_ci_jobs_target_t *a, ngx_http_ci_jobs_target_t *b);
static ngx_http_ci_jobs_target_t *ngx_http_ci_jobs_target_create(
    ngx_conf_t *cf, ngx_str_t *url, ngx_http_ci_jobs_loc_conf_t *conf);
static void ngx_http_ci_jobs_target_scope_sessions(ngx_array_t *targets,
    ngx_http_ci_jobs_target_t *target);
static ngx_int_t ngx_http_ci_jobs_target_use(ngx_http_ci_jobs_target_t *target,
    ngx_http_ci_jobs_loc_conf_t *conf);
static ngx_http_upstream_srv_conf_t *ngx_http_ci_jobs_upstream_block(
    ngx_conf_t *cf, ngx_url_t *u, ngx_str_t *url);
static ngx_http_upstream_srv_conf_t *ngx_http_ci_jobs_own_upstream(
    ngx_conf_t *cf, ngx_url_t *u, ngx_uint_t keepalive);
static ngx_module_t *ngx_http_ci_jobs_keepalive_module(ngx_conf_t *cf);
static ngx_int_t ngx_http_ci_jobs_add_keepalive(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_uint_t keepalive);
#if (nginx_version >= 1029007)
static ngx_int_t ngx_http_ci_jobs_init_keepalive(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf);
#endif
#if (NGX_HTTP_SSL)
static ngx_int_t ngx_http_ci_jobs_target_ssl(ngx_conf_t *cf,
    ngx_http_ci_jobs_target_t *target);
static void ngx_http_ci_jobs_free_sessions(ngx_http_upstream_rr_peers_t *peers);
#endif


char *
ngx_http_ci_jobs_set_target(ngx_conf_t *cf, ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_str_t                      url;
    ngx_http_ci_jobs_target_t     *target, **tp;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

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

    target = ngx_http_ci_jobs_target_find(&cmcf->targets, &url, conf);

    if (target == NULL) {
        target = ngx_http_ci_jobs_target_create(cf, &url, conf);
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
    ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_uint_t                  i;
    ngx_http_ci_jobs_target_t  *t, **tp, wanted;

    wanted.host = conf->host;
    wanted.ssl_verify = conf->ssl_verify;
    wanted.ssl_trusted_certificate = conf->ssl_trusted_certificate;

    tp = targets->elts;

    for (i = 0; i < targets->nelts; i++) {
        t = tp[i];

        if (t->url.len == url->len
            && ngx_strncmp(t->url.data, url->data, url->len) == 0
            && t->keepalive == (ngx_uint_t) conf->keepalive
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
    ngx_http_ci_jobs_loc_conf_t *conf)
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
        target->upstream = ngx_http_ci_jobs_own_upstream(cf, &u,
                                                         target->keepalive);
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
 * that no other module's location shares it, and with a keepalive pool, as
 * if the operator had written
 *
 *     upstream { server host:port; keepalive N; }
 *
 * Locations are merged after the upstream module has initialized its
 * upstreams: this one is initialized here.
 */

static ngx_http_upstream_srv_conf_t *
ngx_http_ci_jobs_own_upstream(ngx_conf_t *cf, ngx_url_t *u,
    ngx_uint_t keepalive)
{
    ngx_http_upstream_init_pt      init;
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

    /* an address is one server; a name is resolved by round robin's init */

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

    if (keepalive
        && ngx_http_ci_jobs_add_keepalive(cf, uscf, keepalive) != NGX_OK)
    {
        return NULL;
    }

    init = uscf->peer.init_upstream ? uscf->peer.init_upstream
                                    : ngx_http_upstream_init_round_robin;

    if (init(cf, uscf) != NGX_OK) {
        return NULL;
    }

#if (nginx_version >= 1029007)
    if (keepalive && ngx_http_ci_jobs_init_keepalive(cf, uscf) != NGX_OK) {
        return NULL;
    }
#endif

    return uscf;
}


/* nginx can be built without the keepalive module: it is found by name */

static ngx_module_t *
ngx_http_ci_jobs_keepalive_module(ngx_conf_t *cf)
{
    ngx_uint_t     i;
    ngx_module_t  *m;

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        if (m->type == NGX_HTTP_MODULE
            && ngx_strcmp(m->name, NGX_HTTP_CI_JOBS_KEEPALIVE_MODULE) == 0)
        {
            return m;
        }
    }

    return NULL;
}


/*
 * nginx's keepalive module does the pooling: its "keepalive N" directive
 * is applied to the upstream through the module's own command table, with
 * the upstream as the block being parsed.
 */

static ngx_int_t
ngx_http_ci_jobs_add_keepalive(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf, ngx_uint_t keepalive)
{
    char                 *rv;
    ngx_str_t            *arg;
    ngx_conf_t            pcf;
    ngx_array_t           args;
    ngx_module_t         *m;
    ngx_command_t        *cmd;
    ngx_http_module_t    *module;
    ngx_http_conf_ctx_t   ctx;

    m = ngx_http_ci_jobs_keepalive_module(cf);
    cmd = NULL;

    if (m != NULL) {
        for (cmd = m->commands; cmd->name.len; cmd++) {
            if (ngx_strcmp(cmd->name.data, "keepalive") == 0) {
                break;
            }
        }
    }

    if (cmd == NULL || cmd->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_keepalive\" needs nginx built with the "
                           NGX_HTTP_CI_JOBS_KEEPALIVE_MODULE
                           "; \"ci_jobs_keepalive 0\" turns it off");
        return NGX_ERROR;
    }

    module = m->ctx;

    uscf->srv_conf = ngx_pcalloc(cf->pool,
                                 sizeof(void *) * ngx_http_max_module);
    if (uscf->srv_conf == NULL) {
        return NGX_ERROR;
    }

    uscf->srv_conf[ngx_http_upstream_module.ctx_index] = uscf;
    uscf->srv_conf[m->ctx_index] = module->create_srv_conf(cf);

    if (uscf->srv_conf[m->ctx_index] == NULL) {
        return NGX_ERROR;
    }

    if (ngx_array_init(&args, cf->temp_pool, 2, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    arg = ngx_array_push_n(&args, 2);
    if (arg == NULL) {
        return NGX_ERROR;
    }

    arg[0] = cmd->name;

    arg[1].data = ngx_pnalloc(cf->temp_pool, NGX_INT_T_LEN);
    if (arg[1].data == NULL) {
        return NGX_ERROR;
    }

    arg[1].len = ngx_sprintf(arg[1].data, "%ui", keepalive) - arg[1].data;

    ctx = *(ngx_http_conf_ctx_t *) cf->ctx;
    ctx.srv_conf = uscf->srv_conf;

    pcf = *cf;
    pcf.ctx = &ctx;
    pcf.args = &args;

    rv = cmd->set(&pcf, cmd, uscf->srv_conf[m->ctx_index]);

    if (rv != NGX_CONF_OK) {
        if (rv != NGX_CONF_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"ci_jobs_keepalive\" %s", rv);
        }

        return NGX_ERROR;
    }

    return NGX_OK;
}


#if (nginx_version >= 1029007)

/*
 * Since nginx 1.29.7 "keepalive N" only sizes the pool: the keepalive
 * module sets pools up in its init_main_conf, for the upstream module's
 * list of upstreams.  It is run again here, after round robin's init, on
 * a list of this upstream alone.
 */

static ngx_int_t
ngx_http_ci_jobs_init_keepalive(ngx_conf_t *cf,
    ngx_http_upstream_srv_conf_t *uscf)
{
    void                            **main_conf;
    ngx_conf_t                        pcf;
    ngx_module_t                     *m;
    ngx_http_module_t                *module;
    ngx_http_conf_ctx_t               ctx;
    ngx_http_upstream_srv_conf_t    **uscfp;
    ngx_http_upstream_main_conf_t     umcf;

    m = ngx_http_ci_jobs_keepalive_module(cf);
    module = m ? m->ctx : NULL;

    if (module == NULL || module->init_main_conf == NULL) {
        return NGX_ERROR;
    }

    ctx = *(ngx_http_conf_ctx_t *) cf->ctx;

    main_conf = ngx_palloc(cf->temp_pool,
                           sizeof(void *) * ngx_http_max_module);
    if (main_conf == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(main_conf, ctx.main_conf, sizeof(void *) * ngx_http_max_module);

    umcf = *(ngx_http_upstream_main_conf_t *)
               main_conf[ngx_http_upstream_module.ctx_index];

    if (ngx_array_init(&umcf.upstreams, cf->temp_pool, 1,
                       sizeof(ngx_http_upstream_srv_conf_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    uscfp = ngx_array_push(&umcf.upstreams);
    if (uscfp == NULL) {
        return NGX_ERROR;
    }

    *uscfp = uscf;

    main_conf[ngx_http_upstream_module.ctx_index] = &umcf;
    ctx.main_conf = main_conf;

    pcf = *cf;
    pcf.ctx = &ctx;

    if (module->init_main_conf(&pcf, NULL) != NGX_CONF_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}

#endif


#if (NGX_HTTP_SSL)

static ngx_int_t
ngx_http_ci_jobs_target_ssl(ngx_conf_t *cf, ngx_http_ci_jobs_target_t *target)
{
    ngx_pool_cleanup_t                *cln;
    ngx_http_compile_complex_value_t   ccv;

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

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(target->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = target->ssl;

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



/*
 * At a worker's exit: the TLS sessions kept for the servers the targets
 * connect to.  Outside a shared zone, nginx's round robin holds each in
 * the worker's heap for the worker's life and never frees it; doing it
 * here keeps the worker's exit clean for leak checkers.
 */

void
ngx_http_ci_jobs_targets_exit(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_http_ci_jobs_target_t     **tp;
    ngx_http_ci_jobs_main_conf_t   *cmcf;

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ci_jobs_module);

    if (cmcf == NULL) {
        /* no http {} block */
        return;
    }

    tp = cmcf->targets.elts;

    for (i = 0; i < cmcf->targets.nelts; i++) {
        if (tp[i]->tls && tp[i]->upstream->peer.data != NULL) {
            ngx_http_ci_jobs_free_sessions(tp[i]->upstream->peer.data);
        }
    }
}


static void
ngx_http_ci_jobs_free_sessions(ngx_http_upstream_rr_peers_t *peers)
{
    ngx_http_upstream_rr_peer_t  *peer;

    for ( /* void */ ; peers; peers = peers->next) {

#if (NGX_HTTP_UPSTREAM_ZONE)
        if (peers->shpool) {
            /* kept in the zone, serialized */
            continue;
        }
#endif

        for (peer = peers->peer; peer; peer = peer->next) {
            if (peer->ssl_session != NULL) {
                ngx_ssl_free_session(peer->ssl_session);
                peer->ssl_session = NULL;
            }
        }
    }
}

#endif
