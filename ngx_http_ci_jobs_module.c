
/*
 * ngx_http_ci_jobs_module: unsigned, validated endpoints for the Tencent
 * Cloud CI job queries, signed with server-side credentials and proxied
 * to CI over verified TLS.
 *
 * This file holds the directives and the configuration; the request's way
 * through the module is in src/.
 */


#include "ngx_http_ci_jobs_module.h"
#include "ngx_http_ci_jobs_metrics.h"
#include "ngx_http_ci_jobs_counters.h"
#include "ngx_http_ci_jobs_text.h"
#include "ngx_http_ci_jobs_access.h"


#if (defined __SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif


#define NGX_HTTP_CI_JOBS_CA_BUNDLE  "/etc/ssl/certs/ca-certificates.crt"
#define NGX_HTTP_CI_JOBS_ALL_APIS   ((1 << NGX_HTTP_CI_JOBS_API_COUNT) - 1)

/* ci_jobs_apis' "all": a bit of its own, past those of the APIs */
#define NGX_HTTP_CI_JOBS_APIS_ALL                                             \
    ((ngx_uint_t) 1 << NGX_HTTP_CI_JOBS_API_COUNT)

/* a bucket's name and a region are each one label of the CI host name */
#define NGX_HTTP_CI_JOBS_MAX_LABEL_LEN   63

/* the buffer CI's status line and headers are read into */
#define NGX_HTTP_CI_JOBS_HEADER_BUFFER   8192

/* ci_jobs_sign_expires */
#define NGX_HTTP_CI_JOBS_SIGN_EXPIRES_MIN  10
#define NGX_HTTP_CI_JOBS_SIGN_EXPIRES_MAX  86400

/* idle connections to CI a worker keeps for each upstream of its own */
#define NGX_HTTP_CI_JOBS_KEEPALIVE       64

/* a list page of 100 media jobs is a few hundred KB */
#define NGX_HTTP_CI_JOBS_MAX_BODY_SIZE   (2 * 1024 * 1024)

/* what one worker holds of answers at once: 64 of the largest */
#define NGX_HTTP_CI_JOBS_MAX_HELD_SIZE   (128 * 1024 * 1024)

/* what one client connection holds: a few of the largest, not the worker */
#define NGX_HTTP_CI_JOBS_MAX_HELD_CONN   (8 * 1024 * 1024)


static void *ngx_http_ci_jobs_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ci_jobs_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ci_jobs_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ci_jobs_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ci_jobs_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ci_jobs_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_ci_jobs_init_process(ngx_cycle_t *cycle);
static void ngx_http_ci_jobs_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_ci_jobs(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_ci_jobs_apis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ci_jobs_json_array(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ci_jobs_check_merged(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf);
static ngx_int_t ngx_http_ci_jobs_remember(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf);
static ngx_int_t ngx_http_ci_jobs_check_token(ngx_str_t *value,
    const char *allowed_punct);
static char *ngx_http_ci_jobs_set_array_names(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf);
static char *ngx_http_ci_jobs_check_token_post(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_ci_jobs_check_secret_id_post(ngx_conf_t *cf,
    void *post, void *data);
static char *ngx_http_ci_jobs_check_sign_expires(ngx_conf_t *cf, void *post,
    void *data);


/* ci_jobs_apis: the names of ngx_http_ci_jobs_api_names[], and "all" */
static ngx_conf_bitmask_t  ngx_http_ci_jobs_api_masks[
                               NGX_HTTP_CI_JOBS_API_COUNT + 2];

static ngx_conf_post_t  ngx_http_ci_jobs_token_post =
    { ngx_http_ci_jobs_check_token_post };
static ngx_conf_post_t  ngx_http_ci_jobs_secret_id_post =
    { ngx_http_ci_jobs_check_secret_id_post };

static ngx_conf_post_t  ngx_http_ci_jobs_sign_expires_post =
    { ngx_http_ci_jobs_check_sign_expires };


static ngx_conf_enum_t  ngx_http_ci_jobs_json_modes[] = {
    { ngx_string("off"), NGX_HTTP_CI_JOBS_JSON_OFF },
    { ngx_string("on"), NGX_HTTP_CI_JOBS_JSON_ON },
    { ngx_string("auto"), NGX_HTTP_CI_JOBS_JSON_AUTO },
    { ngx_null_string, 0 }
};


static ngx_conf_bitmask_t  ngx_http_ci_jobs_use_stale[] = {
    { ngx_string("off"), NGX_HTTP_CI_JOBS_STALE_OFF },
    { ngx_string("error"), NGX_HTTP_CI_JOBS_STALE_ERROR },
    { ngx_string("timeout"), NGX_HTTP_CI_JOBS_STALE_TIMEOUT },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_ci_jobs_commands[] = {

    { ngx_string("ci_jobs"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_ci_jobs,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, enable),
      NULL },

    { ngx_string("ci_jobs_bucket"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, bucket),
      NULL },

    { ngx_string("ci_jobs_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, region),
      NULL },

    { ngx_string("ci_jobs_pass"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, pass),
      NULL },

    { ngx_string("ci_jobs_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, keepalive),
      NULL },

    { ngx_string("ci_jobs_secret_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, secret_id),
      &ngx_http_ci_jobs_secret_id_post },

    { ngx_string("ci_jobs_secret_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, secret_key),
      &ngx_http_ci_jobs_token_post },

    { ngx_string("ci_jobs_security_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, security_token),
      &ngx_http_ci_jobs_token_post },

    { ngx_string("ci_jobs_credentials_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, credentials_file),
      NULL },

    { ngx_string("ci_jobs_credentials_role"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, credentials_role),
      NULL },

    { ngx_string("ci_jobs_metadata_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, metadata_url),
      NULL },

    { ngx_string("ci_jobs_sign_expires"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, sign_expires),
      &ngx_http_ci_jobs_sign_expires_post },

    { ngx_string("ci_jobs_apis"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ci_jobs_apis,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, apis),
      &ngx_http_ci_jobs_api_masks },

    { ngx_string("ci_jobs_json"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, json),
      &ngx_http_ci_jobs_json_modes },

    { ngx_string("ci_jobs_json_array"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ci_jobs_json_array,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, json_array),
      NULL },

    { ngx_string("ci_jobs_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("ci_jobs_max_held_per_connection"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, max_held_per_connection),
      NULL },

    { ngx_string("ci_jobs_max_held_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_main_conf_t, max_held_size),
      NULL },

    { ngx_string("ci_jobs_watch"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, watch),
      NULL },

    { ngx_string("ci_jobs_watch_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, watch_interval),
      NULL },

    { ngx_string("ci_jobs_watch_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, watch_timeout),
      NULL },

    { ngx_string("ci_jobs_watch_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_main_conf_t, watch_max),
      NULL },

    { ngx_string("ci_jobs_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_ci_jobs_cache_zone,
      0,
      0,
      NULL },

    { ngx_string("ci_jobs_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ci_jobs_cache,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ci_jobs_cache_valid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, cache_valid),
      NULL },

    { ngx_string("ci_jobs_cache_valid_pending"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, cache_valid_pending),
      NULL },

    { ngx_string("ci_jobs_cache_lock_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, cache_lock_timeout),
      NULL },

    { ngx_string("ci_jobs_cache_use_stale"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, cache_use_stale),
      &ngx_http_ci_jobs_use_stale },

    { ngx_string("ci_jobs_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("ci_jobs_read_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("ci_jobs_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, ssl_verify),
      NULL },

    { ngx_string("ci_jobs_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("ci_jobs_access"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, access),
      &ngx_http_ci_jobs_access_modes },

    { ngx_string("ci_jobs_access_keys"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ci_jobs_access_keys,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ci_jobs_access_max_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ci_jobs_loc_conf_t, access_max_ttl),
      NULL },

    { ngx_string("ci_jobs_callback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ci_jobs_callback,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ci_jobs_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ci_jobs_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_variable_t  ngx_http_ci_jobs_vars[] = {

    { ngx_string("ci_jobs_cache_status"), NULL,
      ngx_http_ci_jobs_cache_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ci_jobs_key"), NULL,
      ngx_http_ci_jobs_key_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ci_jobs_access_subject"), NULL,
      ngx_http_ci_jobs_access_subject_variable, 0, NGX_HTTP_VAR_NOCACHEABLE,
      0 },

      ngx_http_null_variable
};


static ngx_http_module_t  ngx_http_ci_jobs_module_ctx = {
    ngx_http_ci_jobs_add_variables,        /* preconfiguration */
    ngx_http_ci_jobs_postconfiguration,    /* postconfiguration */

    ngx_http_ci_jobs_create_main_conf,     /* create main configuration */
    ngx_http_ci_jobs_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ci_jobs_create_loc_conf,      /* create location configuration */
    ngx_http_ci_jobs_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_ci_jobs_module = {
    NGX_MODULE_V1,
    &ngx_http_ci_jobs_module_ctx,          /* module context */
    ngx_http_ci_jobs_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ci_jobs_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ci_jobs_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_ci_jobs_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_main_conf_t));
    if (cmcf == NULL) {
        return NULL;
    }

    cmcf->request_id_index = NGX_ERROR;
    cmcf->max_held_size = NGX_CONF_UNSET_SIZE;
    cmcf->watch_max = NGX_CONF_UNSET;

    if (ngx_array_init(&cmcf->sources, cf->pool, 4,
                       sizeof(ngx_http_ci_jobs_source_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return cmcf;
}


static char *
ngx_http_ci_jobs_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ci_jobs_main_conf_t *cmcf = conf;

    ngx_conf_init_size_value(cmcf->max_held_size,
                             NGX_HTTP_CI_JOBS_MAX_HELD_SIZE);
    ngx_conf_init_value(cmcf->watch_max, 10000);

    return NGX_CONF_OK;
}


static void *
ngx_http_ci_jobs_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ci_jobs_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ci_jobs_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->bucket = { 0, NULL };
     *     conf->region = { 0, NULL };
     *     conf->host = { 0, NULL };
     *     conf->pass = { 0, NULL };
     *     conf->secret_id = { 0, NULL };
     *     conf->secret_key = { 0, NULL };
     *     conf->security_token = { 0, NULL };
     *     conf->credentials_file = { 0, NULL };
     *     conf->credentials_role = { 0, NULL };
     *     conf->metadata_url = { 0, NULL };
     *     conf->apis = 0;
     *     conf->source = NULL;
     *     conf->offset = NULL;
     *     conf->ssl_trusted_certificate = { 0, NULL };
     *     conf->array_names = NULL;
     *     conf->upstream.* = 0 or NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->keepalive = NGX_CONF_UNSET;
    conf->sign_expires = NGX_CONF_UNSET;
    conf->json = NGX_CONF_UNSET_UINT;
    conf->json_array = NGX_CONF_UNSET_PTR;
    conf->max_body_size = NGX_CONF_UNSET_SIZE;
    conf->max_held_per_connection = NGX_CONF_UNSET_SIZE;
    conf->cache_zone = NGX_CONF_UNSET_PTR;
    conf->cache_valid = NGX_CONF_UNSET;
    conf->cache_valid_pending = NGX_CONF_UNSET_MSEC;
    conf->cache_lock_timeout = NGX_CONF_UNSET_MSEC;
    conf->watch = NGX_CONF_UNSET;
    conf->watch_interval = NGX_CONF_UNSET_MSEC;
    conf->watch_timeout = NGX_CONF_UNSET_MSEC;
    conf->ssl_verify = NGX_CONF_UNSET;
    conf->access = NGX_CONF_UNSET_UINT;
    conf->access_keys = NGX_CONF_UNSET_PTR;
    conf->access_max_ttl = NGX_CONF_UNSET;

    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;

    /* the hardcoded values: the body is read whole, in memory */
    conf->upstream.buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.pass_request_headers = 0;
    conf->upstream.pass_request_body = 0;
    conf->upstream.buffer_size = NGX_HTTP_CI_JOBS_HEADER_BUFFER;
    conf->upstream.next_upstream = NGX_HTTP_UPSTREAM_FT_ERROR
                                   |NGX_HTTP_UPSTREAM_FT_TIMEOUT;
    conf->upstream.next_upstream_tries = 0;
    conf->upstream.next_upstream_timeout = 0;

    return conf;
}


static char *
ngx_http_ci_jobs_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ci_jobs_loc_conf_t *prev = parent;
    ngx_http_ci_jobs_loc_conf_t *conf = child;

    /* like proxy_pass, "ci_jobs on" belongs to its own location only */
    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable = 0;
    }

    ngx_conf_merge_str_value(conf->bucket, prev->bucket, "");
    ngx_conf_merge_str_value(conf->region, prev->region, "");
    ngx_conf_merge_str_value(conf->pass, prev->pass, "");
    ngx_conf_merge_value(conf->keepalive, prev->keepalive,
                         NGX_HTTP_CI_JOBS_KEEPALIVE);
    ngx_conf_merge_str_value(conf->secret_id, prev->secret_id, "");
    ngx_conf_merge_str_value(conf->secret_key, prev->secret_key, "");
    ngx_conf_merge_str_value(conf->security_token, prev->security_token, "");
    ngx_conf_merge_str_value(conf->credentials_file, prev->credentials_file,
                             "");
    ngx_conf_merge_str_value(conf->credentials_role, prev->credentials_role,
                             "");
    ngx_conf_merge_str_value(conf->metadata_url, prev->metadata_url,
                             NGX_HTTP_CI_JOBS_METADATA_URL);
    ngx_conf_merge_sec_value(conf->sign_expires, prev->sign_expires, 900);
    ngx_conf_merge_bitmask_value(conf->apis, prev->apis,
                                 NGX_HTTP_CI_JOBS_DEFAULT_APIS);
    ngx_conf_merge_uint_value(conf->json, prev->json,
                              NGX_HTTP_CI_JOBS_JSON_OFF);
    ngx_conf_merge_ptr_value(conf->json_array, prev->json_array, NULL);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              NGX_HTTP_CI_JOBS_MAX_BODY_SIZE);
    ngx_conf_merge_size_value(conf->max_held_per_connection,
                              prev->max_held_per_connection,
                              NGX_HTTP_CI_JOBS_MAX_HELD_CONN);
    ngx_conf_merge_ptr_value(conf->cache_zone, prev->cache_zone, NULL);
    ngx_conf_merge_sec_value(conf->cache_valid, prev->cache_valid, 3600);
    ngx_conf_merge_msec_value(conf->cache_valid_pending,
                              prev->cache_valid_pending, 0);
    ngx_conf_merge_msec_value(conf->cache_lock_timeout,
                              prev->cache_lock_timeout, 5000);
    ngx_conf_merge_value(conf->watch, prev->watch, 0);
    ngx_conf_merge_msec_value(conf->watch_interval, prev->watch_interval,
                              2000);
    ngx_conf_merge_msec_value(conf->watch_timeout, prev->watch_timeout,
                              600000);
    ngx_conf_merge_bitmask_value(conf->cache_use_stale,
                                 prev->cache_use_stale,
                                 NGX_CONF_BITMASK_SET
                                 |NGX_HTTP_CI_JOBS_STALE_OFF);

    if (conf->cache_use_stale & NGX_HTTP_CI_JOBS_STALE_OFF) {
        conf->cache_use_stale = NGX_CONF_BITMASK_SET
                                |NGX_HTTP_CI_JOBS_STALE_OFF;
    }
    ngx_conf_merge_value(conf->ssl_verify, prev->ssl_verify, 1);
    ngx_conf_merge_str_value(conf->ssl_trusted_certificate,
                             prev->ssl_trusted_certificate,
                             NGX_HTTP_CI_JOBS_CA_BUNDLE);

    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 5000);
    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 30000);

    conf->upstream.send_timeout = conf->upstream.read_timeout;

    if (ngx_http_ci_jobs_access_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_callback_check(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (ngx_http_ci_jobs_check_merged(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_set_array_names(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_state_zone(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_remember(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_ci_jobs_set_target(cf, conf);
}


/*
 * A location that cannot work is refused here, at "nginx -t", with the
 * directive named, rather than at the first request.
 */

static char *
ngx_http_ci_jobs_check_merged(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf)
{
    u_char  *p;

    if (conf->bucket.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_bucket\" is not set for \"ci_jobs on\"");
        return NGX_CONF_ERROR;
    }

    /*
     * NAME-APPID, lower case: letters, digits and dashes, a dash inside;
     * that what follows the dash is an APPID (digits) is not checked.
     */
    p = ngx_strlchr(conf->bucket.data, conf->bucket.data + conf->bucket.len,
                    '-');

    if (ngx_http_ci_jobs_check_token(&conf->bucket, "-") != NGX_OK
        || p == NULL
        || conf->bucket.len > NGX_HTTP_CI_JOBS_MAX_LABEL_LEN
        || conf->bucket.data[conf->bucket.len - 1] == '-'
        || conf->bucket.data[0] == '-')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"ci_jobs_bucket\" \"%V\": "
                           "expected NAME-APPID", &conf->bucket);
        return NGX_CONF_ERROR;
    }

    for (p = conf->bucket.data; p < conf->bucket.data + conf->bucket.len; p++)
    {
        if (*p >= 'A' && *p <= 'Z') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"ci_jobs_bucket\" \"%V\": "
                               "bucket names are lower case", &conf->bucket);
            return NGX_CONF_ERROR;
        }
    }

    if (conf->region.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_region\" is not set for \"ci_jobs on\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_check_token(&conf->region, "-") != NGX_OK
        || conf->region.len > NGX_HTTP_CI_JOBS_MAX_LABEL_LEN)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"ci_jobs_region\" \"%V\"", &conf->region);
        return NGX_CONF_ERROR;
    }

    if (conf->cache_zone && conf->cache_zone->data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown zone \"%V\" in \"ci_jobs_cache\": no "
                           "\"ci_jobs_cache_zone\" declares it",
                           &conf->cache_zone->shm.name);
        return NGX_CONF_ERROR;
    }

    /* the watch learns of new answers from the cache's zone */

    if (conf->watch && conf->cache_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_watch\" needs \"ci_jobs_cache\"");
        return NGX_CONF_ERROR;
    }

    if (conf->watch && conf->watch_interval == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ci_jobs_watch_interval\" must not be 0");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ci_jobs_source_init(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    conf->host.len = conf->bucket.len + sizeof(".ci.") - 1 + conf->region.len
                     + sizeof(".myqcloud.com") - 1;
    conf->host.data = ngx_pnalloc(cf->pool, conf->host.len);
    if (conf->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(conf->host.data, "%V.ci.%V.myqcloud.com",
                &conf->bucket, &conf->region);

    /* the cache's entries are the target's: how this location reaches CI */
    conf->cache_target.len = ngx_http_ci_jobs_cache_target(NULL,
                                 conf->pass.data, conf->pass.len,
                                 conf->ssl_verify,
                                 conf->ssl_trusted_certificate.data,
                                 conf->ssl_trusted_certificate.len);
    conf->cache_target.data = ngx_pnalloc(cf->pool, conf->cache_target.len);
    if (conf->cache_target.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_http_ci_jobs_cache_target(conf->cache_target.data, conf->pass.data,
                                  conf->pass.len, conf->ssl_verify,
                                  conf->ssl_trusted_certificate.data,
                                  conf->ssl_trusted_certificate.len);

    return NGX_CONF_OK;
}


/* the gateway locations, for ci_jobs_status?ready */

static ngx_int_t
ngx_http_ci_jobs_remember(ngx_conf_t *cf, ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_http_ci_jobs_loc_conf_t   **lcfp;
    ngx_http_ci_jobs_main_conf_t   *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    if (cmcf->locations.elts == NULL
        && ngx_array_init(&cmcf->locations, cf->pool, 4,
                          sizeof(ngx_http_ci_jobs_loc_conf_t *))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    lcfp = ngx_array_push(&cmcf->locations);
    if (lcfp == NULL) {
        return NGX_ERROR;
    }

    *lcfp = conf;
    conf->index = cmcf->locations.nelts - 1;

    return NGX_OK;
}


/* letters, digits and the punctuation allowed; nothing else */

static ngx_int_t
ngx_http_ci_jobs_check_token(ngx_str_t *value, const char *allowed_punct)
{
    u_char  *p, *last;

    last = value->data + value->len;

    for (p = value->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9'))
        {
            continue;
        }

        if (*p == '\0' || strchr(allowed_punct, *p) == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static char *
ngx_http_ci_jobs_set_array_names(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf)
{
    ngx_str_t                 *names;
    ngx_uint_t                 i;
    ngx_http_ci_jobs_name_t   *an;

    static ngx_http_ci_jobs_name_t  default_names[] = {
        { (u_char *) "JobsDetail", sizeof("JobsDetail") - 1 }
    };

    if (conf->json_array == NULL) {
        conf->array_names = default_names;
        conf->narray_names = 1;
        return NGX_CONF_OK;
    }

    names = conf->json_array->elts;

    an = ngx_palloc(cf->pool,
                    conf->json_array->nelts * sizeof(ngx_http_ci_jobs_name_t));
    if (an == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < conf->json_array->nelts; i++) {
        an[i].data = names[i].data;
        an[i].len = names[i].len;
    }

    conf->array_names = an;
    conf->narray_names = conf->json_array->nelts;

    return NGX_CONF_OK;
}


static char *
ngx_http_ci_jobs(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ci_jobs_loc_conf_t *cjcf = conf;

    char                      *rv;
    ngx_http_core_loc_conf_t  *clcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK || !cjcf->enable) {
        return rv;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /* the API path is what follows the location's prefix */

#if (NGX_PCRE)
    if (clcf->regex) {
        return "cannot be used in a regular expression location";
    }
#endif

    if (clcf->named || clcf->noname || clcf->name.len == 0) {
        return "can only be used in a prefix location";
    }

    clcf->handler = ngx_http_ci_jobs_handler;
    cjcf->location = clcf->name;

    return NGX_CONF_OK;
}


/*
 * ngx_conf_set_bitmask_slot() over ngx_http_ci_jobs_api_masks, filled here
 * from request.c's names.  "all" sets a bit of its own, then all the APIs:
 * as the mask of them all it would not be set once one of them is.  An
 * unknown name is refused first, with the directive named, which nginx's
 * own message does not.
 */

static char *
ngx_http_ci_jobs_apis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ci_jobs_loc_conf_t *cjcf = conf;

    char                *rv;
    ngx_str_t           *value;
    ngx_uint_t           i, api;
    ngx_conf_bitmask_t  *m;

    if (cjcf->apis != 0) {
        return "is duplicate";
    }

    m = ngx_http_ci_jobs_api_masks;

    for (api = 0; api < NGX_HTTP_CI_JOBS_API_COUNT; api++) {
        m[api].name.data = (u_char *) ngx_http_ci_jobs_api_names[api];
        m[api].name.len = ngx_strlen(ngx_http_ci_jobs_api_names[api]);
        m[api].mask = (ngx_uint_t) 1 << api;
    }

    ngx_str_set(&m[api].name, "all");
    m[api].mask = NGX_HTTP_CI_JOBS_APIS_ALL;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        for (m = ngx_http_ci_jobs_api_masks; m->name.len; m++) {
            if (m->name.len == value[i].len
                && ngx_strncasecmp(m->name.data, value[i].data,
                                   value[i].len)
                   == 0)
            {
                break;
            }
        }

        if (m->name.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid value \"%V\" in \"%V\"",
                               &value[i], &cmd->name);
            return NGX_CONF_ERROR;
        }
    }

    rv = ngx_conf_set_bitmask_slot(cf, cmd, conf);

    if (cjcf->apis & NGX_HTTP_CI_JOBS_APIS_ALL) {
        cjcf->apis = NGX_HTTP_CI_JOBS_ALL_APIS;
    }

    return rv;
}


static char *
ngx_http_ci_jobs_json_array(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ci_jobs_loc_conf_t *cjcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    if (cjcf->json_array != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    cjcf->json_array = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                        sizeof(ngx_str_t));
    if (cjcf->json_array == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    /* "off": no name is always an array, the shape of the SDKs' xml2json */

    if (cf->args->nelts == 2
        && value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        name = ngx_array_push(cjcf->json_array);
        *name = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * Inline credentials, checked as those of a file or a role are; nginx's
 * own parser already refuses a parameter longer than its 4 KB buffer.
 */

static char *
ngx_http_ci_jobs_check_token_post(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *value = data;

    if (value->len == 0) {
        return "must not be empty";
    }

    if (!ngx_http_ci_jobs_token_ok(value->data, value->len)) {
        return "must be printable ASCII without spaces";
    }

    return NGX_CONF_OK;
}


/* an "&" or "=" in a SecretId would split the Authorization fields */

static char *
ngx_http_ci_jobs_check_secret_id_post(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *value = data;

    if (!ngx_http_ci_jobs_secret_id_ok(value->data, value->len)) {
        return "must be 1 to 128 letters and digits";
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_ci_jobs_check_sign_expires(ngx_conf_t *cf, void *post, void *data)
{
    time_t  *sp = data;

    if (*sp < NGX_HTTP_CI_JOBS_SIGN_EXPIRES_MIN
        || *sp > NGX_HTTP_CI_JOBS_SIGN_EXPIRES_MAX)
    {
        return "must be between 10s and 1d";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ci_jobs_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ci_jobs_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ci_jobs_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                      name = ngx_string("request_id");
    ngx_http_ci_jobs_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ci_jobs_module);

    cmcf->request_id_index = ngx_http_get_variable_index(cf, &name);
    if (cmcf->request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ci_jobs_upstream_headers_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_ci_jobs_filter_init(cf);
}


static ngx_int_t
ngx_http_ci_jobs_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ci_jobs_counters_process(cycle);
    ngx_http_ci_jobs_targets_init_process(cycle);

    return ngx_http_ci_jobs_sources_init_process(cycle);
}


/*
 * With the module built with ASan (make test-asan): a worker's connection
 * and event arrays, which nginx allocates for the worker's life and never
 * frees, become unreachable when its exit destroys the cycle's pool;
 * LeakSanitizer is told they are not the module's to free.  Debian's
 * nginx is stripped, so a suppression by function name cannot name them.
 */

static void
ngx_http_ci_jobs_exit_process(ngx_cycle_t *cycle)
{
#if (defined __SANITIZE_ADDRESS__)
    __lsan_ignore_object(cycle->connections);
    __lsan_ignore_object(cycle->read_events);
    __lsan_ignore_object(cycle->write_events);
#endif

    ngx_http_ci_jobs_xml_cleanup();

    ngx_http_ci_jobs_cache_exit();

    ngx_http_ci_jobs_targets_exit(cycle);
}
