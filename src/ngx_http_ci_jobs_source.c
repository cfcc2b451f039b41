
/*
 * The sources of credentials and the keys in use.  Inline credentials are
 * the location's own.  A credentials file, or a CVM role's temporary
 * credentials from the instance metadata service, is one source for every
 * location that names it, shared by all workers through the state zone: a
 * timer in each worker looks at the source once a second, and one worker
 * at a time (a flag under the zone's lock) re-reads the file or fetches
 * from the service, with a connection of its own, never blocking; the
 * others keep signing with what the zone holds, and copy it when it
 * changes.
 *
 * Role credentials are fetched at start and again when 300 seconds (or a
 * third of their lifetime, if that is less) remain before their
 * ExpiredTime, a lifetime being taken for 12 hours at most (a far-future
 * ExpiredTime must not pin keys that CI may revoke); a failed fetch keeps
 * the last good ones until they expire, is retried with a backoff, and is
 * logged once per streak of failures.  CI refusing the keys as invalid or
 * expired makes the source fetch or re-read at once, at most once per 10
 * seconds for all workers; the requests refused meanwhile wait for it
 * (ngx_http_ci_jobs_renewal.c).
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_nginx.h"
#include "ngx_http_ci_jobs_counters.h"


#define NGX_HTTP_CI_JOBS_TICK          1000    /* ms between two looks */
#define NGX_HTTP_CI_JOBS_FETCH_TIMEOUT 3000    /* ms, connect, then answer */
#define NGX_HTTP_CI_JOBS_BUSY_STALE    15      /* s: a fetcher that died */
#define NGX_HTTP_CI_JOBS_RETRY_MAX     10      /* s between retries */
#define NGX_HTTP_CI_JOBS_RENEW_EVERY   10      /* s between two renewals */
#define NGX_HTTP_CI_JOBS_ANSWER_MAX    65536
#define NGX_HTTP_CI_JOBS_FILE_MAX      65536


/* a source in the state zone, found by its name */
struct ngx_http_ci_jobs_shsource_s {
    ngx_http_ci_jobs_named_t        name;
    ngx_atomic_t                    generation;  /* bumped at each change */
    ngx_pid_t                       busy;        /* the worker refreshing */
    time_t                          busy_since;
    time_t                          checked;     /* the file's last stat */
    time_t                          mtime;       /* the file version seen */
    off_t                           size;
    time_t                          expires;     /* 0: do not expire */
    time_t                          fetched;
    time_t                          next_try;
    ngx_uint_t                      failures;    /* of the streak */
    ngx_uint_t                      renew;       /* CI refused the keys */
    time_t                          renewed;
    u_char                         *data;        /* id, key, token */
    size_t                          id_len;
    size_t                          key_len;
    size_t                          token_len;
};


static ngx_http_ci_jobs_source_t *ngx_http_ci_jobs_source_add(ngx_conf_t *cf,
    ngx_uint_t kind, ngx_str_t *name);
static char *ngx_http_ci_jobs_role_init(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *lcf);
static char *ngx_http_ci_jobs_file_init(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *lcf);
static ngx_int_t ngx_http_ci_jobs_file_read(ngx_log_t *log, ngx_str_t *file,
    ngx_file_info_t *fi, u_char **bufp, size_t *sizep,
    ngx_http_ci_jobs_parsed_credentials_t *parsed);
static void ngx_http_ci_jobs_source_cleanup(void *data);
static void ngx_http_ci_jobs_keys_sync(ngx_http_ci_jobs_source_t *source);
static void ngx_http_ci_jobs_keys_set(ngx_http_ci_jobs_source_t *source,
    u_char *buf, size_t size, const u_char *id, size_t id_len,
    const u_char *key, size_t key_len, const u_char *token,
    size_t token_len, time_t expires);
static ngx_int_t ngx_http_ci_jobs_publish(ngx_http_ci_jobs_source_t *source,
    ngx_http_ci_jobs_parsed_credentials_t *parsed);
static void ngx_http_ci_jobs_release(ngx_http_ci_jobs_source_t *source);
static void ngx_http_ci_jobs_tick(ngx_event_t *ev);
static ngx_uint_t ngx_http_ci_jobs_source_renewing(
    ngx_http_ci_jobs_source_t *source);
static void ngx_http_ci_jobs_renewal_look(ngx_event_t *ev);
static void ngx_http_ci_jobs_look(ngx_http_ci_jobs_source_t *source);
static ngx_uint_t ngx_http_ci_jobs_due(ngx_http_ci_jobs_source_t *source,
    time_t now);
static void ngx_http_ci_jobs_file_refresh(ngx_http_ci_jobs_source_t *source);
static void ngx_http_ci_jobs_fetch(ngx_http_ci_jobs_source_t *source);
static void ngx_http_ci_jobs_fetch_write(ngx_event_t *wev);
static void ngx_http_ci_jobs_fetch_read(ngx_event_t *rev);
static void ngx_http_ci_jobs_fetch_close(ngx_http_ci_jobs_source_t *source);
static void ngx_http_ci_jobs_fetch_done(ngx_http_ci_jobs_source_t *source);
static void ngx_http_ci_jobs_fetch_failed(ngx_http_ci_jobs_source_t *source,
    const char *reason, ngx_uint_t status);


char *
ngx_http_ci_jobs_source_init(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_uint_t                  sources;
    ngx_http_ci_jobs_source_t  *source;

    sources = (lcf->credentials_file.len != 0)
              + (lcf->credentials_role.len != 0)
              + (lcf->secret_id.len || lcf->secret_key.len
                 || lcf->security_token.len);

    if (sources > 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_credentials_role\", "
                           "\"ci_jobs_credentials_file\" and "
                           "\"ci_jobs_secret_id\", \"ci_jobs_secret_key\" or "
                           "\"ci_jobs_security_token\" are set together: "
                           "use one source of credentials");
        return NGX_CONF_ERROR;
    }

    if (lcf->credentials_role.len) {
        return ngx_http_ci_jobs_role_init(cf, lcf);
    }

    if (lcf->credentials_file.len) {
        return ngx_http_ci_jobs_file_init(cf, lcf);
    }

    if (lcf->secret_id.len == 0 || lcf->secret_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no credentials for \"ci_jobs on\": set "
                           "\"ci_jobs_credentials_file\", "
                           "\"ci_jobs_credentials_role\", or "
                           "\"ci_jobs_secret_id\" and "
                           "\"ci_jobs_secret_key\"");
        return NGX_CONF_ERROR;
    }

    source = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_source_t));
    if (source == NULL) {
        return NGX_CONF_ERROR;
    }

    source->kind = NGX_HTTP_CI_JOBS_SOURCE_INLINE;
    source->keys.id = lcf->secret_id;
    source->keys.key = lcf->secret_key;
    source->keys.token = lcf->security_token;

    lcf->source = source;

    return NGX_CONF_OK;
}


/* the cycle's source of that name, made when first named */

static ngx_http_ci_jobs_source_t *
ngx_http_ci_jobs_source_add(ngx_conf_t *cf, ngx_uint_t kind, ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_ci_jobs_source_t     *source, **cp;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    cp = cmcf->sources.elts;

    for (i = 0; i < cmcf->sources.nelts; i++) {
        if (cp[i]->kind == kind && cp[i]->name.len == name->len
            && ngx_memcmp(cp[i]->name.data, name->data, name->len) == 0)
        {
            return cp[i];
        }
    }

    source = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_source_t));
    if (source == NULL) {
        return NULL;
    }

    source->kind = kind;
    source->name = *name;

    if (ngx_http_ci_jobs_cleanup_add(cf->pool,
                                     ngx_http_ci_jobs_source_cleanup, source)
        == NULL)
    {
        return NULL;
    }

    cp = ngx_array_push(&cmcf->sources);
    if (cp == NULL) {
        return NULL;
    }

    *cp = source;

    return source;
}


static char *
ngx_http_ci_jobs_role_init(ngx_conf_t *cf, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                     *p;
    ngx_str_t                   name, *role, *url;
    ngx_url_t                   u;
    ngx_http_ci_jobs_source_t  *source;

    role = &lcf->credentials_role;
    url = &lcf->metadata_url;

    if (!(role->len == 4 && ngx_strncmp(role->data, "auto", 4) == 0)
        && !ngx_http_ci_jobs_role_name_ok(role->data, role->len))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"ci_jobs_credentials_role\" \"%V\": "
                           "a role name or \"auto\" expected", role);
        return NGX_CONF_ERROR;
    }

    if (url->len <= sizeof("http://") - 1
        || ngx_strncasecmp(url->data, (u_char *) "http://",
                           sizeof("http://") - 1) != 0
        || url->data[url->len - 1] != '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"ci_jobs_metadata_url\" \"%V\": an "
                           "http:// URL ending with \"/\" expected", url);
        return NGX_CONF_ERROR;
    }

    /* "role:<url><role>", the source's name in the zone and in the logs */

    name.len = sizeof("role:") - 1 + url->len + role->len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    p = ngx_cpymem(name.data, "role:", sizeof("role:") - 1);
    p = ngx_cpymem(p, url->data, url->len);
    ngx_memcpy(p, role->data, role->len);

    source = ngx_http_ci_jobs_source_add(cf, NGX_HTTP_CI_JOBS_SOURCE_ROLE,
                                         &name);
    if (source == NULL) {
        return NGX_CONF_ERROR;
    }

    lcf->source = source;

    if (source->addr != NULL) {
        return NGX_CONF_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = url->data + sizeof("http://") - 1;
    u.url.len = url->len - (sizeof("http://") - 1);
    u.default_port = 80;
    u.uri_part = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"ci_jobs_metadata_url\" \"%V\": %s", url,
                           u.err ? u.err : "no address");
        return NGX_CONF_ERROR;
    }

    source->url = *url;
    source->addr = &u.addrs[0];
    source->url_host = u.host;

    if (u.port != 80 && !u.no_port) {
        source->url_host.len = u.host.len + u.port_text.len + 1;
    }

    source->url_path = u.uri;

    if (ngx_strncmp(role->data, "auto", role->len) != 0 || role->len != 4) {
        source->role = *role;
    }

    source->url_host.data = u.host.data;

    return NGX_CONF_OK;
}


static char *
ngx_http_ci_jobs_file_init(ngx_conf_t *cf, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    u_char                                 *buf;
    size_t                                  size;
    ngx_str_t                               name;
    ngx_file_info_t                         fi;
    ngx_http_ci_jobs_source_t              *source;
    ngx_http_ci_jobs_parsed_credentials_t   parsed;

    if (ngx_conf_full_name(cf->cycle, &lcf->credentials_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    name = lcf->credentials_file;

    source = ngx_http_ci_jobs_source_add(cf, NGX_HTTP_CI_JOBS_SOURCE_FILE,
                                         &name);
    if (source == NULL) {
        return NGX_CONF_ERROR;
    }

    lcf->source = source;

    if (source->file.len) {
        return NGX_CONF_OK;
    }

    source->file = name;

    if (ngx_file_info(source->file.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"ci_jobs_credentials_file\" \"%V\" cannot be "
                           "read", &source->file);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_file_read(cf->log, &source->file, &fi, &buf, &size,
                                   &parsed)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_credentials_file\" \"%V\" is not "
                           "usable", &source->file);
        return NGX_CONF_ERROR;
    }

    ngx_http_ci_jobs_keys_set(source, buf, size, parsed.id, parsed.id_len,
                               parsed.key, parsed.key_len, parsed.token,
                               parsed.token ? parsed.token_len : 0,
                               parsed.expires);

    if (fi.st_mode & S_IROTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"ci_jobs_credentials_file\" \"%V\" is "
                           "world-readable", &source->file);
    }

    return NGX_CONF_OK;
}


/* the file read whole and parsed; the buffer holds the values parsed */

static ngx_int_t
ngx_http_ci_jobs_file_read(ngx_log_t *log, ngx_str_t *file,
    ngx_file_info_t *fi, u_char **bufp, size_t *sizep,
    ngx_http_ci_jobs_parsed_credentials_t *parsed)
{
    off_t      size;
    u_char    *buf;
    ssize_t    n;
    ngx_fd_t   fd;

    size = ngx_file_size(fi);

    if (size > NGX_HTTP_CI_JOBS_FILE_MAX) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ci_jobs: credentials file \"%V\" is too large, "
                      "keeping the last good credentials", file);
        return NGX_ERROR;
    }

    buf = ngx_alloc(size + 1, log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(file->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "ci_jobs: credentials file \"%V\" cannot be opened, "
                      "keeping the last good credentials", file);
        ngx_free(buf);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, size + 1);

    ngx_close_file(fd);

    if (n < 0 || n > size
        || ngx_http_ci_jobs_credentials_parse(parsed, buf, n)
           != NGX_HTTP_CI_JOBS_PARSE_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ci_jobs: credentials file \"%V\" is not usable (%s), "
                      "keeping the last good credentials", file,
                      (n < 0 || n > size) ? "it changed while read"
                                          : parsed->error);
        ngx_explicit_memzero(buf, size + 1);
        ngx_free(buf);
        return NGX_ERROR;
    }

    if (parsed->expires && parsed->expires < ngx_time()) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ci_jobs: the credentials in \"%V\" expired at %T",
                      file, parsed->expires);
    }

    *bufp = buf;
    *sizep = size + 1;

    return NGX_OK;
}


/* the worker's copy and the key derived go with the configuration, wiped */

static void
ngx_http_ci_jobs_source_cleanup(void *data)
{
    ngx_http_ci_jobs_source_t  *source = data;

    if (source->fetching && source->peer.connection != NULL) {
        ngx_http_ci_jobs_fetch_close(source);
    }

    if (source->timer.timer_set) {
        ngx_del_timer(&source->timer);
    }

    ngx_http_ci_jobs_renewal_stop(source);

    ngx_explicit_memzero(&source->keys.sign_key,
                         sizeof(ngx_http_ci_jobs_sign_key_t));
    ngx_http_ci_jobs_keys_set(source, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0);
}


/* this worker's copy replaced: BUF (or NULL) holds the values given */

static void
ngx_http_ci_jobs_keys_set(ngx_http_ci_jobs_source_t *source, u_char *buf,
    size_t size, const u_char *id, size_t id_len, const u_char *key,
    size_t key_len, const u_char *token, size_t token_len, time_t expires)
{
    if (source->buf) {
        ngx_explicit_memzero(source->buf, source->buf_size);
        ngx_free(source->buf);
    }

    source->buf = buf;
    source->buf_size = size;

    source->keys.id.data = (u_char *) id;
    source->keys.id.len = id_len;
    source->keys.key.data = (u_char *) key;
    source->keys.key.len = key_len;
    source->keys.token.data = (u_char *) token;
    source->keys.token.len = token_len;
    source->keys.expires = expires;

    source->keys.key_start = 0;
    source->keys.key_end = 0;
}


/* --- the keys in use ---------------------------------------------------- */


/*
 * The keys to sign with now, or NULL when there are none that are valid
 * (role credentials not fetched yet, or expired).
 */

ngx_http_ci_jobs_keys_t *
ngx_http_ci_jobs_keys(ngx_http_request_t *r, ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_http_ci_jobs_source_t  *source;

    source = lcf->source;

    if (source->sh != NULL && source->sh->generation != source->generation) {
        ngx_http_ci_jobs_keys_sync(source);
    }

    if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_ROLE
        && (source->keys.id.len == 0 || source->keys.expires <= ngx_time()))
    {
        return NULL;
    }

    return &source->keys;
}


/* the zone's credentials copied into this worker's */

static void
ngx_http_ci_jobs_keys_sync(ngx_http_ci_jobs_source_t *source)
{
    u_char                       *buf;
    size_t                        size;
    ngx_slab_pool_t              *shpool;
    ngx_atomic_uint_t             generation;
    ngx_http_ci_jobs_shsource_t  *sh;

    sh = source->sh;
    shpool = source->state->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    generation = sh->generation;

    if (sh->data == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        source->generation = generation;
        return;
    }

    size = sh->id_len + sh->key_len + sh->token_len;

    buf = ngx_alloc(size, ngx_cycle->log);
    if (buf == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    ngx_memcpy(buf, sh->data, size);

    if (source->buf == NULL || source->buf_size != size
        || ngx_memcmp(source->buf, buf, size) != 0)
    {
        source->changed = generation;
    }

    ngx_http_ci_jobs_keys_set(source, buf, size, buf, sh->id_len,
                               buf + sh->id_len, sh->key_len,
                               buf + sh->id_len + sh->key_len, sh->token_len,
                               sh->expires);

    ngx_shmtx_unlock(&shpool->mutex);

    source->generation = generation;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ci_jobs credentials of \"%V\" copied, generation %uA",
                   &source->name, generation);
}


/*
 * For ?ready: whether the source can be signed with now, as all workers
 * see it in the state zone.  A role has unexpired credentials; a file is
 * usable as it is now (the last good credentials it keeps do not make it
 * so), and not expired.  *expires: when its credentials expire, or 0.
 */

ngx_uint_t
ngx_http_ci_jobs_source_health(ngx_http_ci_jobs_source_t *source,
    time_t now, time_t *expires)
{
    ngx_uint_t                    failed, held;
    ngx_slab_pool_t              *shpool;
    ngx_http_ci_jobs_shsource_t  *sh;

    sh = source->sh;

    if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_INLINE) {
        *expires = 0;
        return NGX_HTTP_CI_JOBS_HEALTH_OK;
    }

    if (sh == NULL) {
        /* no worker's timer yet: this worker's copy */
        failed = 0;
        held = (source->keys.id.len != 0);
        *expires = source->keys.expires;

    } else {
        shpool = source->state->shpool;

        ngx_shmtx_lock(&shpool->mutex);

        failed = sh->failures;
        held = (sh->data != NULL);
        *expires = held ? sh->expires : source->keys.expires;

        if (!held && source->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE) {
            /* read at start, not published yet */
            held = (source->keys.id.len != 0);
        }

        ngx_shmtx_unlock(&shpool->mutex);
    }

    if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE && failed) {
        return NGX_HTTP_CI_JOBS_HEALTH_UNUSABLE;
    }

    if (!held) {
        return NGX_HTTP_CI_JOBS_HEALTH_NONE;
    }

    if (*expires != 0 && *expires <= now) {
        return NGX_HTTP_CI_JOBS_HEALTH_EXPIRED;
    }

    return NGX_HTTP_CI_JOBS_HEALTH_OK;
}


/* a file's path, or a role's metadata URL and role ("auto" when found) */

void
ngx_http_ci_jobs_source_name(ngx_http_ci_jobs_source_t *source,
    ngx_str_t *name)
{
    if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE) {
        *name = source->file;
        return;
    }

    name->data = source->name.data + sizeof("role:") - 1;
    name->len = source->name.len - (sizeof("role:") - 1);
}


/*
 * CI refused the keys as invalid or expired: the source is fetched or
 * re-read at once, by one worker for all, at most once per
 * NGX_HTTP_CI_JOBS_RENEW_EVERY seconds (a refusal of keys that are still
 * good, or a hostile upstream, cannot make it hammer the service).
 * NGX_OK: the keys to sign with now differ from those of SIGNED_WITH (the
 * source's "changed" when the request was signed); NGX_AGAIN: not yet,
 * and a renewal is asked for or under way; NGX_DECLINED: neither.
 */

ngx_int_t
ngx_http_ci_jobs_source_renew(ngx_http_ci_jobs_source_t *source,
    ngx_atomic_uint_t signed_with)
{
    time_t                        now;
    ngx_str_t                     name;
    ngx_uint_t                    renewing;
    ngx_slab_pool_t              *shpool;
    ngx_http_ci_jobs_shsource_t  *sh;

    sh = source->sh;

    if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_INLINE || sh == NULL) {
        return NGX_DECLINED;
    }

    ngx_http_ci_jobs_source_name(source, &name);

    now = ngx_time();
    shpool = source->state->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    if (now - sh->renewed >= NGX_HTTP_CI_JOBS_RENEW_EVERY) {
        sh->renewed = now;
        sh->renew = 1;

        /* the file is read again even if it looks unchanged */
        sh->mtime = 0;

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "ci_jobs: CI refused the credentials of \"%V\" as "
                      "invalid or expired, renewing them", &name);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    renewing = ngx_http_ci_jobs_source_renewing(source);

    if (source->changed != signed_with) {
        return NGX_OK;
    }

    return renewing ? NGX_AGAIN : NGX_DECLINED;
}


/*
 * Whether a renewal of the source is asked for or under way, in any
 * worker: this worker takes its turn first if it is due (a file is then
 * re-read at once), and copies the zone's keys if they changed.
 */

static ngx_uint_t
ngx_http_ci_jobs_source_renewing(ngx_http_ci_jobs_source_t *source)
{
    time_t                        now;
    ngx_uint_t                    renewing;
    ngx_slab_pool_t              *shpool;
    ngx_http_ci_jobs_shsource_t  *sh;

    sh = source->sh;
    shpool = source->state->shpool;

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_http_ci_jobs_look(source);
    }

    if (sh->generation != source->generation) {
        ngx_http_ci_jobs_keys_sync(source);
    }

    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    renewing = sh->renew
               || (sh->busy && now - sh->busy_since
                               < NGX_HTTP_CI_JOBS_BUSY_STALE);

    ngx_shmtx_unlock(&shpool->mutex);

    return renewing;
}


/* a waiting request's turn to look: is the renewal still under way? */

static void
ngx_http_ci_jobs_renewal_look(ngx_event_t *ev)
{
    ngx_http_ci_jobs_source_t  *source = ev->data;

    ngx_http_ci_jobs_renewal_wake(source,
                                  ngx_http_ci_jobs_source_renewing(source));
}


/* new credentials into the zone, for every worker; the refresh is over */

static ngx_int_t
ngx_http_ci_jobs_publish(ngx_http_ci_jobs_source_t *source,
    ngx_http_ci_jobs_parsed_credentials_t *parsed)
{
    u_char                       *data, *p;
    size_t                        size, token_len;
    ngx_slab_pool_t              *shpool;
    ngx_http_ci_jobs_shsource_t  *sh;

    sh = source->sh;
    shpool = source->state->shpool;

    token_len = parsed->token ? parsed->token_len : 0;
    size = parsed->id_len + parsed->key_len + token_len;

    ngx_shmtx_lock(&shpool->mutex);

    data = ngx_slab_alloc_locked(shpool, size);

    if (data == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ci_jobs: the state zone \"" NGX_HTTP_CI_JOBS_STATE_ZONE
                      "\" is full, credentials of \"%V\" not shared",
                      &source->name);
        return NGX_ERROR;
    }

    p = ngx_cpymem(data, parsed->id, parsed->id_len);
    p = ngx_cpymem(p, parsed->key, parsed->key_len);
    if (token_len) {
        ngx_memcpy(p, parsed->token, token_len);
    }

    if (sh->data != NULL) {
        ngx_explicit_memzero(sh->data,
                             sh->id_len + sh->key_len + sh->token_len);
        ngx_slab_free_locked(shpool, sh->data);
    }

    sh->data = data;
    sh->id_len = parsed->id_len;
    sh->key_len = parsed->key_len;
    sh->token_len = token_len;
    sh->expires = parsed->expires;
    sh->fetched = ngx_time();
    sh->failures = 0;
    sh->next_try = 0;
    sh->generation++;
    sh->busy = 0;

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_ci_jobs_count_reload(1);

    source->fetching = 0;

    ngx_http_ci_jobs_keys_sync(source);
    ngx_http_ci_jobs_renewal_over(source);

    return NGX_OK;
}


/* the refresh is over, nothing new */

static void
ngx_http_ci_jobs_release(ngx_http_ci_jobs_source_t *source)
{
    ngx_slab_pool_t  *shpool;

    shpool = source->state->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    if (source->sh->busy == ngx_pid) {
        source->sh->busy = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    source->fetching = 0;

    ngx_http_ci_jobs_renewal_over(source);
}


/* --- each worker's timer ------------------------------------------------- */


ngx_int_t
ngx_http_ci_jobs_sources_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_http_ci_jobs_zone_t       *state;
    ngx_http_ci_jobs_source_t     *source, **cp;
    ngx_http_ci_jobs_shared_t     *shared;
    ngx_http_ci_jobs_shsource_t   *sh;
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    cmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ci_jobs_module);
    if (cmcf == NULL || cmcf->sources.nelts == 0) {
        return NGX_OK;
    }

    if (cmcf->state_zone == NULL) {
        return NGX_OK;
    }

    state = cmcf->state_zone->data;
    shared = state->sh;

    if (shared == NULL) {
        return NGX_OK;
    }

    cp = cmcf->sources.elts;

    for (i = 0; i < cmcf->sources.nelts; i++) {
        source = cp[i];

        sh = ngx_http_ci_jobs_state_entry(cmcf->state_zone, &shared->sources,
                                          &source->name,
                                          sizeof(ngx_http_ci_jobs_shsource_t));

        if (sh == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "ci_jobs: the state zone \""
                          NGX_HTTP_CI_JOBS_STATE_ZONE "\" is full");
            return NGX_ERROR;
        }

        source->sh = sh;
        source->state = state;

        /* connection errors are said once per streak, by the module */
        source->quiet_log = *cycle->log;
        if (source->quiet_log.log_level > NGX_LOG_CRIT) {
            source->quiet_log.log_level = NGX_LOG_CRIT;
        }

        source->timer.handler = ngx_http_ci_jobs_tick;
        source->timer.data = source;
        source->timer.log = cycle->log;
        source->timer.cancelable = 1;

        ngx_http_ci_jobs_renewal_init(source, ngx_http_ci_jobs_renewal_look,
                                      cycle->log);

        ngx_add_timer(&source->timer, 1);
    }

    return NGX_OK;
}


static void
ngx_http_ci_jobs_tick(ngx_event_t *ev)
{
    ngx_http_ci_jobs_source_t  *source;

    source = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, NGX_HTTP_CI_JOBS_TICK);

    if (source->sh->generation != source->generation) {
        ngx_http_ci_jobs_keys_sync(source);
    }

    ngx_http_ci_jobs_look(source);
}


/* whether the source is due, and if so, this worker's turn to refresh it */

static void
ngx_http_ci_jobs_look(ngx_http_ci_jobs_source_t *source)
{
    time_t            now;
    ngx_uint_t        due;
    ngx_slab_pool_t  *shpool;

    if (source->fetching) {
        return;
    }

    now = ngx_time();
    shpool = source->state->shpool;

    ngx_shmtx_lock(&shpool->mutex);

    due = ngx_http_ci_jobs_due(source, now);

    if (due) {
        source->sh->busy = ngx_pid;
        source->sh->busy_since = now;
        source->sh->renew = 0;

        if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE) {
            source->sh->checked = now;
        }
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (!due) {
        return;
    }

    source->fetching = 1;

    if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE) {
        ngx_http_ci_jobs_file_refresh(source);
        return;
    }

    source->listing = (source->role.len == 0);
    ngx_http_ci_jobs_fetch(source);
}


/* under the zone's lock: whether this worker is to refresh the source now */

static ngx_uint_t
ngx_http_ci_jobs_due(ngx_http_ci_jobs_source_t *source, time_t now)
{
    ngx_http_ci_jobs_shsource_t  *sh;

    sh = source->sh;

    if (sh->busy && now - sh->busy_since < NGX_HTTP_CI_JOBS_BUSY_STALE) {
        return 0;
    }

    if (source->kind == NGX_HTTP_CI_JOBS_SOURCE_FILE) {
        return sh->checked != now || sh->renew;
    }

    if (sh->renew) {
        return 1;
    }

    if (now < sh->next_try) {
        return 0;
    }

    if (sh->data == NULL) {
        return 1;
    }

    return ngx_http_ci_jobs_refresh_due(sh->expires, sh->fetched, now);
}


/* --- the credentials file ------------------------------------------------ */


/*
 * Looked at once a second for all workers, re-read when its mtime or size
 * changed.  A file that cannot be used keeps the last good credentials,
 * and says why once.
 */

static void
ngx_http_ci_jobs_file_refresh(ngx_http_ci_jobs_source_t *source)
{
    u_char                                 *buf;
    size_t                                  size;
    ngx_file_info_t                         fi;
    ngx_http_ci_jobs_shsource_t            *sh;
    ngx_http_ci_jobs_parsed_credentials_t   parsed;

    sh = source->sh;

    if (ngx_file_info(source->file.data, &fi) == NGX_FILE_ERROR) {
        if (sh->failures++ == 0) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                          "ci_jobs: credentials file \"%V\" cannot be read, "
                          "keeping the last good credentials", &source->file);
            ngx_http_ci_jobs_count_reload(0);
        }

        /* the file back as it was is read again, and found good */
        sh->mtime = 0;

        ngx_http_ci_jobs_release(source);
        return;
    }

    if (ngx_file_mtime(&fi) == sh->mtime && ngx_file_size(&fi) == sh->size) {
        ngx_http_ci_jobs_release(source);
        return;
    }

    /* this version of the file is not tried again */
    sh->mtime = ngx_file_mtime(&fi);
    sh->size = ngx_file_size(&fi);

    if (ngx_http_ci_jobs_file_read(ngx_cycle->log, &source->file, &fi, &buf,
                                   &size, &parsed)
        != NGX_OK)
    {
        sh->failures++;
        ngx_http_ci_jobs_count_reload(0);
        ngx_http_ci_jobs_release(source);
        return;
    }

    if (ngx_http_ci_jobs_publish(source, &parsed) == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "ci_jobs: credentials loaded from \"%V\" "
                      "(SecretId \"%V\")", &source->file, &source->keys.id);

    } else {
        ngx_http_ci_jobs_count_reload(0);
        ngx_http_ci_jobs_release(source);
    }

    ngx_explicit_memzero(buf, size);
    ngx_free(buf);
}


/* --- the metadata service ------------------------------------------------ */


/* GET <path>[<role>] HTTP/1.0: the list of roles, or a role's credentials */

static void
ngx_http_ci_jobs_fetch(ngx_http_ci_jobs_source_t *source)
{
    u_char                 *p;
    size_t                  len;
    ngx_int_t               rc;
    ngx_str_t               role;
    ngx_connection_t       *c;
    ngx_peer_connection_t  *pc;

    if (source->listing) {
        ngx_str_null(&role);

    } else if (source->role.len) {
        role = source->role;

    } else {
        role.data = source->found_role;
        role.len = source->found_role_len;
    }

    len = sizeof("GET ") - 1 + source->url_path.len + role.len
          + sizeof(" HTTP/1.0" CRLF "Host: ") - 1 + source->url_host.len
          + sizeof(CRLF "User-Agent: " NGX_HTTP_CI_JOBS_USER_AGENT CRLF CRLF)
          - 1;

    source->out = ngx_alloc(len, ngx_cycle->log);
    source->in = ngx_alloc(NGX_HTTP_CI_JOBS_ANSWER_MAX, ngx_cycle->log);

    if (source->out == NULL || source->in == NULL) {
        ngx_http_ci_jobs_fetch_failed(source, "out of memory", 0);
        return;
    }

    p = ngx_cpymem(source->out, "GET ", sizeof("GET ") - 1);
    p = ngx_cpymem(p, source->url_path.data, source->url_path.len);
    if (role.len) {
        p = ngx_cpymem(p, role.data, role.len);
    }

    p = ngx_cpymem(p, " HTTP/1.0" CRLF "Host: ",
                   sizeof(" HTTP/1.0" CRLF "Host: ") - 1);
    p = ngx_cpymem(p, source->url_host.data, source->url_host.len);
    p = ngx_cpymem(p, CRLF "User-Agent: " NGX_HTTP_CI_JOBS_USER_AGENT
                   CRLF CRLF,
                   sizeof(CRLF "User-Agent: " NGX_HTTP_CI_JOBS_USER_AGENT
                          CRLF CRLF) - 1);

    source->out_len = p - source->out;
    source->sent = 0;
    source->in_len = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "ci_jobs fetching %s of \"%V\"",
                   source->listing ? "the role list" : "credentials",
                   &source->name);

    pc = &source->peer;
    ngx_memzero(pc, sizeof(ngx_peer_connection_t));

    pc->sockaddr = source->addr->sockaddr;
    pc->socklen = source->addr->socklen;
    pc->name = &source->addr->name;
    pc->get = ngx_event_get_peer;
    pc->log = &source->quiet_log;
    pc->log_error = NGX_ERROR_INFO;
    pc->tries = 1;

    rc = ngx_event_connect_peer(pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        if (pc->connection) {
            ngx_close_connection(pc->connection);
            pc->connection = NULL;
        }

        ngx_http_ci_jobs_fetch_failed(source, "cannot connect", 0);
        return;
    }

    c = pc->connection;
    c->data = source;
    c->read->handler = ngx_http_ci_jobs_fetch_read;
    c->write->handler = ngx_http_ci_jobs_fetch_write;

    ngx_add_timer(c->write, NGX_HTTP_CI_JOBS_FETCH_TIMEOUT);

    if (rc == NGX_OK) {
        ngx_http_ci_jobs_fetch_write(c->write);
    }
}


static void
ngx_http_ci_jobs_fetch_write(ngx_event_t *wev)
{
    ssize_t                     n;
    ngx_connection_t           *c;
    ngx_http_ci_jobs_source_t  *source;

    c = wev->data;
    source = c->data;

    if (wev->timedout) {
        ngx_http_ci_jobs_fetch_failed(source, "the connection timed out", 0);
        return;
    }

    while (source->sent < source->out_len) {
        n = c->send(c, source->out + source->sent,
                    source->out_len - source->sent);

        if (n == NGX_AGAIN) {
            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                ngx_http_ci_jobs_fetch_failed(source, "cannot send", 0);
            }

            return;
        }

        if (n <= 0) {
            ngx_http_ci_jobs_fetch_failed(source, "cannot connect", 0);
            return;
        }

        source->sent += n;
    }

    /* the whole request is out: the whole answer has its time */

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    wev->handler = ngx_http_ci_jobs_fetch_write;

    if (!c->read->timer_set) {
        ngx_add_timer(c->read, NGX_HTTP_CI_JOBS_FETCH_TIMEOUT);
    }

    if (c->read->ready) {
        ngx_http_ci_jobs_fetch_read(c->read);
        return;
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_ci_jobs_fetch_failed(source, "cannot read", 0);
    }
}


static void
ngx_http_ci_jobs_fetch_read(ngx_event_t *rev)
{
    ssize_t                          n;
    ngx_connection_t                *c;
    ngx_http_ci_jobs_source_t       *source;
    ngx_http_ci_jobs_http_answer_t   a;

    c = rev->data;
    source = c->data;

    if (rev->timedout) {
        ngx_http_ci_jobs_fetch_failed(source, "the answer timed out", 0);
        return;
    }

    /* a read event before the request is out waits for the write */

    while (source->sent == source->out_len) {

        if (source->in_len == NGX_HTTP_CI_JOBS_ANSWER_MAX) {
            ngx_http_ci_jobs_fetch_failed(source, "the answer is too large",
                                          0);
            return;
        }

        n = c->recv(c, source->in + source->in_len,
                    NGX_HTTP_CI_JOBS_ANSWER_MAX - source->in_len);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR) {
            ngx_http_ci_jobs_fetch_failed(source, "the connection failed", 0);
            return;
        }

        source->in_len += n;

        /*
         * The answer ends when the service closes, or, a keep-alive one,
         * with its Content-Length.
         */

        if (n == 0
            || (ngx_http_ci_jobs_http_answer_parse(&a, source->in,
                                                   source->in_len)
                == NGX_HTTP_CI_JOBS_PARSE_OK
                && a.complete))
        {
            ngx_http_ci_jobs_fetch_done(source);
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_ci_jobs_fetch_failed(source, "cannot read", 0);
    }
}


static void
ngx_http_ci_jobs_fetch_close(ngx_http_ci_jobs_source_t *source)
{
    if (source->peer.connection != NULL) {
        ngx_close_connection(source->peer.connection);
        source->peer.connection = NULL;
    }

    if (source->out != NULL) {
        ngx_free(source->out);
        source->out = NULL;
    }

    if (source->in != NULL) {
        ngx_explicit_memzero(source->in, source->in_len);
        ngx_free(source->in);
        source->in = NULL;
        source->in_len = 0;
    }
}


/* the answer is in whole: the next step, or the credentials published */

static void
ngx_http_ci_jobs_fetch_done(ngx_http_ci_jobs_source_t *source)
{
    size_t                                  len;
    ngx_uint_t                              failed;
    const char                             *error;
    const u_char                           *role;
    ngx_http_ci_jobs_http_answer_t          a;
    ngx_http_ci_jobs_parsed_credentials_t   parsed;

    if (ngx_http_ci_jobs_http_answer_parse(&a, source->in, source->in_len)
        != NGX_HTTP_CI_JOBS_PARSE_OK)
    {
        ngx_http_ci_jobs_fetch_failed(source, a.error, 0);
        return;
    }

    if (source->listing) {
        if (a.status != 200) {
            ngx_http_ci_jobs_fetch_failed(source, "the role list answered",
                                          a.status);
            return;
        }

        if (ngx_http_ci_jobs_metadata_role(a.body, a.body_len, &role, &len,
                                           &error)
            != NGX_HTTP_CI_JOBS_PARSE_OK)
        {
            ngx_http_ci_jobs_fetch_failed(source, error, 0);
            return;
        }

        ngx_memcpy(source->found_role, role, len);
        source->found_role_len = len;

        ngx_http_ci_jobs_fetch_close(source);

        source->listing = 0;
        ngx_http_ci_jobs_fetch(source);
        return;
    }

    if (a.status == NGX_HTTP_NOT_FOUND) {
        ngx_http_ci_jobs_fetch_failed(source, "no such role", a.status);
        return;
    }

    if (a.status != 200) {
        ngx_http_ci_jobs_fetch_failed(source, "the role answered", a.status);
        return;
    }

    if (ngx_http_ci_jobs_metadata_credentials(&parsed, a.body, a.body_len,
                                              ngx_time())
        != NGX_HTTP_CI_JOBS_PARSE_OK)
    {
        ngx_http_ci_jobs_fetch_failed(source, parsed.error, 0);
        return;
    }

    failed = source->sh->failures;

    if (ngx_http_ci_jobs_publish(source, &parsed) != NGX_OK) {
        ngx_http_ci_jobs_fetch_failed(source, "the state zone is full", 0);
        return;
    }

    if (failed) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "ci_jobs: role credentials fetched from \"%V%V\" "
                      "again, after %ui failures", &source->url, &source->role,
                      failed);

    } else if (source->sh->generation == 1) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "ci_jobs: role credentials fetched from \"%V%V\" "
                      "(SecretId \"%V\", ExpiredTime %T)", &source->url,
                      &source->role, &source->keys.id, source->keys.expires);

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "ci_jobs role credentials fetched from \"%V\" "
                       "(SecretId \"%V\", ExpiredTime %T)", &source->name,
                       &source->keys.id, source->keys.expires);
    }

    ngx_http_ci_jobs_fetch_close(source);
}


/*
 * A failed fetch: tried again after 1, 2, 4, 8, then every 10 seconds;
 * said once per streak, nginx-wide, with the URL and never a value.
 */

static void
ngx_http_ci_jobs_fetch_failed(ngx_http_ci_jobs_source_t *source,
    const char *reason, ngx_uint_t status)
{
    u_char                        st[NGX_INT_T_LEN + 2], *p;
    time_t                        now, delay, expires;
    ngx_uint_t                    failures;
    ngx_slab_pool_t              *shpool;
    ngx_http_ci_jobs_shsource_t  *sh;

    ngx_http_ci_jobs_fetch_close(source);
    ngx_http_ci_jobs_count_reload(0);

    sh = source->sh;
    shpool = source->state->shpool;
    now = ngx_time();

    ngx_shmtx_lock(&shpool->mutex);

    failures = ++sh->failures;
    delay = (failures < 5) ? ((time_t) 1 << (failures - 1))
                           : NGX_HTTP_CI_JOBS_RETRY_MAX;
    sh->next_try = now + ngx_min(delay, NGX_HTTP_CI_JOBS_RETRY_MAX);
    expires = sh->data ? sh->expires : 0;

    if (sh->busy == ngx_pid) {
        sh->busy = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    source->fetching = 0;

    ngx_http_ci_jobs_renewal_over(source);

    if (failures != 1) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "ci_jobs fetch of \"%V\" failed again: %s",
                       &source->name, reason);
        return;
    }

    p = status ? ngx_sprintf(st, " %ui", status) : st;

    if (expires > now) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ci_jobs: role credentials from \"%V%V\" not fetched "
                      "(%s%*s), keeping the last good ones until they "
                      "expire in %T s, retrying", &source->url, &source->role,
                      reason, p - st, st, expires - now);

    } else {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "ci_jobs: role credentials from \"%V%V\" not fetched "
                      "(%s%*s), gateway requests are answered 503 until "
                      "they are, retrying", &source->url, &source->role,
                      reason, p - st, st);
    }
}
