
/*
 * Job-scoped access: ci_jobs_access token.  The request's token, from
 * "Authorization: Bearer" or else the access_token parameter, is checked
 * against the key file's JWK Set and the ids or list the request names,
 * before the cache and before anything is signed.  Each worker re-reads
 * the key file when it changes, looking at most once a second, so keys
 * rotate without a reload, and keeps the tokens it has checked against
 * the set in use, so that a page polling with the same token costs a
 * look-up, the time and the scope, not a parse.  No token or key byte
 * reaches a log line.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_counters.h"
#include "ngx_http_ci_jobs_token.h"
#include "ngx_http_ci_jobs_access.h"

#include <openssl/rand.h>


struct ngx_http_ci_jobs_keyfile_s {
    ngx_str_t                        path;    /* full, null-terminated */
    ngx_http_ci_jobs_jwks_t         *set;     /* this worker's, ngx_alloc() */
    ngx_http_ci_jobs_token_cache_t  *cache;   /* tokens checked against set */
    ngx_file_uniq_t                  uniq;    /* the file of set */
    time_t                           mtime;
    long                             mtime_ns;
    off_t                            size;
    time_t                           checked; /* the last look at the file */
    unsigned                         failed:1; /* the last read is logged */
};


static ngx_int_t ngx_http_ci_jobs_keys_load(ngx_http_ci_jobs_keyfile_t *kf,
    ngx_log_t *log, ngx_uint_t level);
static void ngx_http_ci_jobs_keys_refresh(ngx_http_ci_jobs_keyfile_t *kf,
    ngx_log_t *log);
static void ngx_http_ci_jobs_keys_cleanup(void *data);
static ngx_http_ci_jobs_token_cache_t *ngx_http_ci_jobs_keys_cache(
    ngx_http_ci_jobs_keyfile_t *kf, ngx_log_t *log);
static ngx_int_t ngx_http_ci_jobs_access_token(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *token);
static void ngx_http_ci_jobs_access_scope(ngx_http_ci_jobs_request_t *req,
    ngx_http_ci_jobs_scope_t *scope);
static ngx_int_t ngx_http_ci_jobs_access_refuse(ngx_http_request_t *r,
    ngx_uint_t reason, ngx_http_ci_jobs_code_e *code, const char **message);


ngx_conf_enum_t  ngx_http_ci_jobs_access_modes[] = {
    { ngx_string("off"), NGX_HTTP_CI_JOBS_ACCESS_OFF },
    { ngx_string("token"), NGX_HTTP_CI_JOBS_ACCESS_TOKEN },
    { ngx_null_string, 0 }
};


/* by reason: "missing", then ngx_http_ci_jobs_token_check()'s results */
static const char  *ngx_http_ci_jobs_access_messages[] = {
    "an access token is required",
    "the access token is malformed",
    "the access token's signature is not valid",
    "the access token has expired or is not valid yet",
    "the access token does not cover this request"
};


/* --- configuration ---------------------------------------------------- */


char *
ngx_http_ci_jobs_access_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ci_jobs_loc_conf_t *cjcf = conf;

    ngx_str_t                   *value;
    ngx_pool_cleanup_t          *cln;
    ngx_http_ci_jobs_keyfile_t  *kf;

    if (cjcf->access_keys != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    kf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_keyfile_t));
    if (kf == NULL) {
        return NGX_CONF_ERROR;
    }

    kf->path = value[1];

    if (ngx_conf_full_name(cf->cycle, &kf->path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ci_jobs_keys_cleanup;
    cln->data = kf;

    cjcf->access_keys = kf;

    return NGX_CONF_OK;
}


/*
 * Merged for every location; a gateway location with "ci_jobs_access
 * token" reads its key set here, once for all the locations that
 * inherit it, so that "nginx -t" fails on a missing or unusable file.
 */

char *
ngx_http_ci_jobs_access_merge(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *prev, ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_conf_merge_uint_value(conf->access, prev->access,
                              NGX_HTTP_CI_JOBS_ACCESS_OFF);
    ngx_conf_merge_ptr_value(conf->access_keys, prev->access_keys, NULL);
    ngx_conf_merge_sec_value(conf->access_max_ttl, prev->access_max_ttl,
                             86400);

    if (!conf->enable || conf->access != NGX_HTTP_CI_JOBS_ACCESS_TOKEN) {
        return NGX_CONF_OK;
    }

    if (conf->access_keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_access_keys\" is not set for "
                           "\"ci_jobs_access token\"");
        return NGX_CONF_ERROR;
    }

    if (conf->access_keys->set != NULL) {
        return NGX_CONF_OK;
    }

    if (ngx_http_ci_jobs_keys_load(conf->access_keys, cf->log,
                                   NGX_LOG_EMERG)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The file read whole and parsed into a new set, which replaces the one
 * in use; on any failure the set in use stays, and the failure is logged
 * once until the file changes again.
 */

static ngx_int_t
ngx_http_ci_jobs_keys_load(ngx_http_ci_jobs_keyfile_t *kf, ngx_log_t *log,
    ngx_uint_t level)
{
    off_t                     size;
    u_char                   *buf;
    ssize_t                   n;
    ngx_fd_t                  fd;
    const char               *error;
    ngx_file_info_t           fi;
    ngx_http_ci_jobs_jwks_t  *set;

    buf = NULL;
    set = NULL;
    error = NULL;

    fd = ngx_open_file(kf->path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(level, log, ngx_errno,
                      "ci_jobs: \"ci_jobs_access_keys\" \"%V\" cannot be "
                      "opened%s", &kf->path,
                      kf->set ? ", keeping the keys in use" : "");
        goto failed;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(level, log, ngx_errno,
                      "ci_jobs: \"ci_jobs_access_keys\" \"%V\" cannot be "
                      "read", &kf->path);
        ngx_close_file(fd);
        goto failed;
    }

    /* the file this read is of, whether it is usable or not */

    kf->uniq = ngx_file_uniq(&fi);
    kf->mtime = fi.st_mtim.tv_sec;
    kf->mtime_ns = fi.st_mtim.tv_nsec;
    kf->size = ngx_file_size(&fi);

    size = ngx_file_size(&fi);

    if (size > NGX_HTTP_CI_JOBS_JWKS_MAX_SIZE) {
        error = "too large";
        ngx_close_file(fd);
        goto unusable;
    }

    buf = ngx_alloc(size + 1, log);
    set = ngx_alloc(sizeof(ngx_http_ci_jobs_jwks_t), log);

    if (buf == NULL || set == NULL) {
        ngx_close_file(fd);
        goto failed;
    }

    n = ngx_read_fd(fd, buf, size + 1);

    ngx_close_file(fd);

    if (n < 0 || n > size) {
        error = "it changed while read";
        goto unusable;
    }

    if (ngx_http_ci_jobs_jwks_parse(set, buf, n, &error) != 0) {
        goto unusable;
    }

    ngx_explicit_memzero(buf, size + 1);
    ngx_free(buf);

    if (kf->set != NULL) {
        ngx_http_ci_jobs_jwks_clear(kf->set);
        ngx_free(kf->set);
    }

    kf->set = set;
    kf->failed = 0;

    if (kf->cache != NULL) {
        /* checked against keys that may be gone */
        ngx_http_ci_jobs_token_cache_flush(kf->cache);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "ci_jobs access keys \"%V\": %uz keys",
                   &kf->path, set->nkeys);

    return NGX_OK;

unusable:

    ngx_log_error(level, log, 0,
                  "ci_jobs: \"ci_jobs_access_keys\" \"%V\" is not usable "
                  "(%s)%s", &kf->path, error,
                  kf->set ? ", keeping the keys in use" : "");

failed:

    if (buf != NULL) {
        ngx_explicit_memzero(buf, size + 1);
        ngx_free(buf);
    }

    if (set != NULL) {
        ngx_http_ci_jobs_jwks_clear(set);
        ngx_free(set);
    }

    kf->failed = 1;

    return NGX_ERROR;
}


/* at most once a second: a look at the file, a read when it changed */

static void
ngx_http_ci_jobs_keys_refresh(ngx_http_ci_jobs_keyfile_t *kf, ngx_log_t *log)
{
    time_t           now;
    ngx_file_info_t  fi;

    now = ngx_time();

    if (kf->checked == now) {
        return;
    }

    kf->checked = now;

    if (ngx_file_info(kf->path.data, &fi) == NGX_FILE_ERROR) {
        if (!kf->failed) {
            ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                          "ci_jobs: \"ci_jobs_access_keys\" \"%V\" cannot "
                          "be read, keeping the keys in use", &kf->path);
            kf->failed = 1;
            kf->uniq = 0;
        }

        return;
    }

    if (ngx_file_uniq(&fi) == kf->uniq
        && fi.st_mtim.tv_sec == kf->mtime
        && fi.st_mtim.tv_nsec == kf->mtime_ns
        && ngx_file_size(&fi) == kf->size)
    {
        return;
    }

    (void) ngx_http_ci_jobs_keys_load(kf, log, NGX_LOG_ERR);
}


static void
ngx_http_ci_jobs_keys_cleanup(void *data)
{
    ngx_http_ci_jobs_keyfile_t  *kf = data;

    if (kf->set != NULL) {
        ngx_http_ci_jobs_jwks_clear(kf->set);
        ngx_free(kf->set);
        kf->set = NULL;
    }

    if (kf->cache != NULL) {
        ngx_http_ci_jobs_token_cache_flush(kf->cache);
        ngx_free(kf->cache);
        kf->cache = NULL;
    }
}


/*
 * The worker's cache of tokens checked, made at its first token: the
 * master never checks one.  NULL when it cannot be allocated, and then
 * every token is checked in full.
 */

static ngx_http_ci_jobs_token_cache_t *
ngx_http_ci_jobs_keys_cache(ngx_http_ci_jobs_keyfile_t *kf, ngx_log_t *log)
{
    uint64_t  seed;

    if (kf->cache != NULL) {
        return kf->cache;
    }

    kf->cache = ngx_alloc(sizeof(ngx_http_ci_jobs_token_cache_t), log);
    if (kf->cache == NULL) {
        return NULL;
    }

    /* a seed of the worker's own: which tokens share a set is unforeseen */

    if (RAND_bytes((u_char *) &seed, sizeof(seed)) != 1) {
        seed = (uint64_t) ngx_random() << 32 ^ ngx_random() ^ ngx_pid;
    }

    ngx_http_ci_jobs_token_cache_init(kf->cache, seed);

    return kf->cache;
}


/* --- the request ------------------------------------------------------ */


ngx_int_t
ngx_http_ci_jobs_access(ngx_http_request_t *r, ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf, ngx_http_ci_jobs_code_e *code,
    const char **message)
{
    int                              rc;
    u_char                          *sub;
    size_t                           sub_len;
    ngx_str_t                        token;
    ngx_http_ci_jobs_scope_t         scope;
    ngx_http_ci_jobs_keyfile_t      *kf;
    ngx_http_ci_jobs_token_cache_t  *cache;

    if (lcf->access != NGX_HTTP_CI_JOBS_ACCESS_TOKEN) {
        return NGX_OK;
    }

    /* what a failed allocation answers */
    *code = NGX_HTTP_CI_JOBS_INTERNAL_ERROR;
    *message = "internal error";

    if (ngx_http_ci_jobs_access_token(r, ctx, &token) != NGX_OK) {
        return ngx_http_ci_jobs_access_refuse(r,
                                              NGX_HTTP_CI_JOBS_ACCESS_MISSING,
                                              code, message);
    }

    kf = lcf->access_keys;

    ngx_http_ci_jobs_keys_refresh(kf, r->connection->log);

    ngx_http_ci_jobs_access_scope(&ctx->req, &scope);

    sub = ngx_pnalloc(r->pool, token.len);
    if (sub == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cache = ngx_http_ci_jobs_keys_cache(kf, r->connection->log);

    if (cache != NULL) {
        rc = ngx_http_ci_jobs_token_check_cached(cache, token.data,
                                                 token.len, kf->set,
                                                 ngx_time(),
                                                 lcf->access_max_ttl,
                                                 &scope, sub, &sub_len);

    } else {
        rc = ngx_http_ci_jobs_token_check(token.data, token.len, kf->set,
                                          ngx_time(), lcf->access_max_ttl,
                                          &scope, sub, &sub_len);
    }

    if (rc != NGX_HTTP_CI_JOBS_TOKEN_OK) {
        return ngx_http_ci_jobs_access_refuse(r, rc, code, message);
    }

    ctx->access_subject.data = sub;
    ctx->access_subject.len = sub_len;

    return NGX_OK;
}


/*
 * "Authorization: Bearer", or else the access_token parameter: one token,
 * the header's when there are both, so that a second one never widens
 * the scope.  An Authorization of another scheme is not a token.
 */

static ngx_int_t
ngx_http_ci_jobs_access_token(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h != NULL
        && h->value.len >= sizeof("Bearer ") - 1
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1)
           == 0)
    {
        p = h->value.data + sizeof("Bearer ") - 1;
        last = h->value.data + h->value.len;

        while (p < last && *p == ' ') {
            p++;
        }

        while (last > p && last[-1] == ' ') {
            last--;
        }

        token->data = p;
        token->len = last - p;

        return NGX_OK;
    }

    if (ctx->req.access_token != NULL) {
        token->data = (u_char *) ctx->req.access_token;
        token->len = ctx->req.access_token_len;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * The scope a request needs: every id of a lookup in ci_jobs; a list's
 * queueId in ci_queues; a workflow run list's (and a batch job list's,
 * which has no queue) workflowId in ci_workflows.
 */

static void
ngx_http_ci_jobs_access_scope(ngx_http_ci_jobs_request_t *req,
    ngx_http_ci_jobs_scope_t *scope)
{
    size_t                    i;
    const char               *param;
    ngx_http_ci_jobs_pair_t  *pair;

    ngx_memzero(scope, sizeof(ngx_http_ci_jobs_scope_t));

    if (!ngx_http_ci_jobs_api_is_list(req->api)) {
        scope->claim = "ci_jobs";
        scope->items = req->ids;
        scope->items_len = req->ids_len;
        scope->split = 1;
        return;
    }

    if (req->api == NGX_HTTP_CI_JOBS_API_WORKFLOW_LIST
        || req->api == NGX_HTTP_CI_JOBS_API_INVENTORY_LIST)
    {
        scope->claim = "ci_workflows";
        param = "workflowId";

    } else {
        scope->claim = "ci_queues";
        param = "queueId";
    }

    for (i = 0; i < req->nparams; i++) {
        pair = &req->params[i];

        if (pair->name_len == ngx_strlen(param)
            && ngx_strncmp(pair->name, param, pair->name_len) == 0)
        {
            scope->items = pair->value;
            scope->items_len = pair->value_len;
            return;
        }
    }
}


/* 401 with RFC 6750's challenge for a token that is not valid, 403 else */

static ngx_int_t
ngx_http_ci_jobs_access_refuse(ngx_http_request_t *r, ngx_uint_t reason,
    ngx_http_ci_jobs_code_e *code, const char **message)
{
    static ngx_str_t  challenge = ngx_string("WWW-Authenticate");
    static ngx_str_t  invalid = ngx_string("Bearer error=\"invalid_token\"");

    ngx_http_ci_jobs_count_access(reason);

    *message = ngx_http_ci_jobs_access_messages[reason];

    if (reason == NGX_HTTP_CI_JOBS_TOKEN_SCOPE) {
        *code = NGX_HTTP_CI_JOBS_ACCESS_DENIED;
        return NGX_HTTP_FORBIDDEN;
    }

    if (ngx_http_ci_jobs_add_header(r, &challenge, &invalid) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *code = NGX_HTTP_CI_JOBS_INVALID_TOKEN;

    return NGX_HTTP_UNAUTHORIZED;
}


ngx_int_t
ngx_http_ci_jobs_access_subject_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_ci_jobs_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ci_jobs_module);

    if (ctx == NULL || ctx->access_subject.data == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->access_subject.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ctx->access_subject.data;

    return NGX_OK;
}
