
/*
 * What each signature is made with: the credentials in use (from the
 * configuration, or from a credentials file re-read when it changes), the
 * clock offset learnt from CI (shared by all workers), and the SignKey,
 * reused for as long as its KeyTime window lasts.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_metrics.h"


#define NGX_HTTP_CI_JOBS_MAX_SKEW  86400      /* a Date further off is absurd */

/* locations that share a slot share the diagnosis' once a minute */
#define NGX_HTTP_CI_JOBS_DIAG_SLOTS  256


typedef struct {
    ngx_atomic_t                    offset;   /* CI's clock - ours, seconds */
    ngx_atomic_t                    diagnosed[NGX_HTTP_CI_JOBS_DIAG_SLOTS];
} ngx_http_ci_jobs_shared_t;


static ngx_int_t ngx_http_ci_jobs_credentials_load(ngx_log_t *log,
    ngx_http_ci_jobs_creds_t *creds, ngx_file_info_t *fi);
static void ngx_http_ci_jobs_credentials_cleanup(void *data);
static ngx_int_t ngx_http_ci_jobs_state_init(ngx_shm_zone_t *shm_zone,
    void *data);


/* the zone all workers share the clock offset through */
static ngx_http_ci_jobs_shared_t  *ngx_http_ci_jobs_shared;


char *
ngx_http_ci_jobs_credentials_init(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    ngx_file_info_t            fi;
    ngx_pool_cleanup_t        *cln;
    ngx_http_ci_jobs_creds_t  *creds;

    creds = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_creds_t));
    if (creds == NULL) {
        return NGX_CONF_ERROR;
    }

    lcf->creds = creds;

    if (lcf->credentials_file.len == 0) {

        if (lcf->secret_id.len == 0 || lcf->secret_key.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no credentials for \"ci_jobs on\": set "
                               "\"ci_jobs_credentials_file\", or "
                               "\"ci_jobs_secret_id\" and "
                               "\"ci_jobs_secret_key\"");
            return NGX_CONF_ERROR;
        }

        creds->id = lcf->secret_id;
        creds->key = lcf->secret_key;
        creds->token = lcf->security_token;

        return NGX_CONF_OK;
    }

    if (lcf->secret_id.len || lcf->secret_key.len
        || lcf->security_token.len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_credentials_file\" and "
                           "\"ci_jobs_secret_id\", \"ci_jobs_secret_key\" or "
                           "\"ci_jobs_security_token\" are set together: "
                           "use one source of credentials");
        return NGX_CONF_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, &lcf->credentials_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    creds->file = lcf->credentials_file;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_ci_jobs_credentials_cleanup;
    cln->data = creds;

    if (ngx_file_info(creds->file.data, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"ci_jobs_credentials_file\" \"%V\" cannot be "
                           "read", &creds->file);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_credentials_load(cf->log, creds, &fi) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_credentials_file\" \"%V\" is not "
                           "usable", &creds->file);
        return NGX_CONF_ERROR;
    }

    if (fi.st_mode & S_IROTH) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"ci_jobs_credentials_file\" \"%V\" is "
                           "world-readable", &creds->file);
    }

    return NGX_CONF_OK;
}


/*
 * The credentials to sign with now: a credentials file is looked at, at
 * most once a second, and re-read when its mtime or size changed.  A file
 * that cannot be used keeps the last good credentials, and says why once.
 */

ngx_http_ci_jobs_creds_t *
ngx_http_ci_jobs_credentials(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf)
{
    time_t                     now;
    ngx_int_t                  rc;
    ngx_file_info_t            fi;
    ngx_http_ci_jobs_creds_t  *creds;

    creds = lcf->creds;
    now = ngx_time();

    if (creds->file.len == 0 || creds->checked == now) {
        return creds;
    }

    creds->checked = now;

    if (ngx_file_info(creds->file.data, &fi) == NGX_FILE_ERROR) {
        if (!creds->failed) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                          "ci_jobs: credentials file \"%V\" cannot be read, "
                          "keeping the last good credentials", &creds->file);
            creds->failed = 1;
            ngx_http_ci_jobs_count_reload(0);
        }

        /* the file back as it was is read again, and found good */
        creds->mtime = 0;

        return creds;
    }

    if (ngx_file_mtime(&fi) == creds->mtime
        && ngx_file_size(&fi) == creds->size)
    {
        return creds;
    }

    rc = ngx_http_ci_jobs_credentials_load(r->connection->log, creds, &fi);

    ngx_http_ci_jobs_count_reload(rc == NGX_OK);

    if (rc != NGX_OK) {
        /* this version of the file is not tried again */
        creds->mtime = ngx_file_mtime(&fi);
        creds->size = ngx_file_size(&fi);
    }

    return creds;
}


static ngx_int_t
ngx_http_ci_jobs_credentials_load(ngx_log_t *log,
    ngx_http_ci_jobs_creds_t *creds, ngx_file_info_t *fi)
{
    off_t                           size;
    u_char                         *buf;
    ssize_t                         n;
    ngx_fd_t                        fd;
    ngx_http_ci_jobs_credentials_t  parsed;

    size = ngx_file_size(fi);

    if (size > 65536) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ci_jobs: credentials file \"%V\" is too large, "
                      "keeping the last good credentials", &creds->file);
        creds->failed = 1;
        return NGX_ERROR;
    }

    buf = ngx_alloc(size + 1, log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(creds->file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_ERR, log, ngx_errno,
                      "ci_jobs: credentials file \"%V\" cannot be opened, "
                      "keeping the last good credentials", &creds->file);
        ngx_free(buf);
        creds->failed = 1;
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, size + 1);

    ngx_close_file(fd);

    if (n < 0 || n > size
        || ngx_http_ci_jobs_credentials_parse(&parsed, buf, n) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "ci_jobs: credentials file \"%V\" is not usable (%s), "
                      "keeping the last good credentials", &creds->file,
                      (n < 0 || n > size) ? "it changed while read"
                                          : parsed.error);
        ngx_explicit_memzero(buf, size + 1);
        ngx_free(buf);
        creds->failed = 1;
        return NGX_ERROR;
    }

    if (parsed.expires && parsed.expires < ngx_time()) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "ci_jobs: the credentials in \"%V\" expired at %T",
                      &creds->file, parsed.expires);
    }

    if (creds->buf) {
        ngx_explicit_memzero(creds->buf, creds->buf_size);
        ngx_free(creds->buf);
    }

    creds->buf = buf;
    creds->buf_size = size + 1;

    creds->id.data = (u_char *) parsed.id;
    creds->id.len = parsed.id_len;
    creds->key.data = (u_char *) parsed.key;
    creds->key.len = parsed.key_len;
    creds->token.data = (u_char *) parsed.token;
    creds->token.len = parsed.token ? parsed.token_len : 0;

    creds->mtime = ngx_file_mtime(fi);
    creds->size = ngx_file_size(fi);
    creds->failed = 0;
    creds->key_start = 0;
    creds->expires = parsed.expires;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "ci_jobs: credentials loaded from \"%V\" (SecretId \"%V\")",
                  &creds->file, &creds->id);

    return NGX_OK;
}


/* the file's contents and the key derived go with the configuration, wiped */

static void
ngx_http_ci_jobs_credentials_cleanup(void *data)
{
    ngx_http_ci_jobs_creds_t  *creds = data;

    ngx_explicit_memzero(&creds->sign_key, sizeof(ngx_http_ci_jobs_sign_key_t));

    if (creds->buf) {
        ngx_explicit_memzero(creds->buf, creds->buf_size);
        ngx_free(creds->buf);
        creds->buf = NULL;
    }
}


/*
 * The SignKey and its KeyTime.  The window starts up to two minutes in
 * the past (a slow CI clock still accepts it) and is the same for a whole
 * minute, so that one HMAC serves every request of that minute.  Short
 * lifetimes sign as the SDKs do, from a second ago.
 */

ngx_http_ci_jobs_sign_key_t *
ngx_http_ci_jobs_sign_key_for(ngx_http_ci_jobs_creds_t *creds,
    time_t expires, time_t *start, time_t *end)
{
    time_t  now, step;

    now = ngx_time() + ngx_http_ci_jobs_clock_offset();
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


/* --- the clock offset, shared by all workers ------------------------------ */


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

    cmcf->state_zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
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


time_t
ngx_http_ci_jobs_clock_offset(void)
{
    if (ngx_http_ci_jobs_shared == NULL) {
        return 0;
    }

    return (time_t) (ngx_atomic_int_t) ngx_http_ci_jobs_shared->offset;
}


/*
 * CI refused a signature whose KeyTime did not hold its clock (its Date):
 * learn the offset.  Returns NGX_OK when it was learnt, NGX_DECLINED when
 * the Date says nothing useful (absent, absurd, or within the window).
 */

ngx_int_t
ngx_http_ci_jobs_learn_offset(ngx_http_request_t *r, time_t date,
    time_t start, time_t end)
{
    time_t  offset;

    if (date == NGX_ERROR || (date >= start && date <= end)) {
        return NGX_DECLINED;
    }

    offset = date - ngx_time();

    if (offset > NGX_HTTP_CI_JOBS_MAX_SKEW
        || offset < -NGX_HTTP_CI_JOBS_MAX_SKEW
        || ngx_http_ci_jobs_shared == NULL)
    {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "ci_jobs: the CI clock is %T seconds off ours, "
                  "signing with that offset", offset);

    ngx_http_ci_jobs_shared->offset = (ngx_atomic_uint_t) offset;

    ngx_http_ci_jobs_count_skew();

    return NGX_OK;
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
