
/*
 * ngx_http_ci_jobs_module: the types shared by the module's files.
 */


#ifndef _NGX_HTTP_CI_JOBS_MODULE_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_ci_jobs_sign.h"
#include "ngx_http_ci_jobs_request.h"
#include "ngx_http_ci_jobs_xml.h"
#include "ngx_http_ci_jobs_cache_key.h"
#include "ngx_http_ci_jobs_etag.h"
#include "ngx_http_ci_jobs_credentials_parse.h"
#include "ngx_http_ci_jobs_names.h"


#define NGX_HTTP_CI_JOBS_VERSION     "0.1.0"
#define NGX_HTTP_CI_JOBS_USER_AGENT  "ngx_http_ci_jobs_module/"              \
                                     NGX_HTTP_CI_JOBS_VERSION

#define NGX_HTTP_CI_JOBS_JSON_OFF    0
#define NGX_HTTP_CI_JOBS_JSON_ON     1
#define NGX_HTTP_CI_JOBS_JSON_AUTO   2

/* ci_jobs_cache_use_stale */
#define NGX_HTTP_CI_JOBS_STALE_OFF      0x0002
#define NGX_HTTP_CI_JOBS_STALE_ERROR    0x0004
#define NGX_HTTP_CI_JOBS_STALE_TIMEOUT  0x0008

/* a waiting request looks at the entry this often */
#define NGX_HTTP_CI_JOBS_CACHE_WAIT     10

/* CI's notifications make a lookup's query at most this often */
#define NGX_HTTP_CI_JOBS_WAKE_SPACING   1000


/*
 * What the filters hold of a request's answer (ctx->hold): nothing; the
 * answer of upstream, whose header the header filter holds while
 * ngx_http_ci_jobs_upstream.c reads its body; or a body of the module's
 * own (an error in CI's shape, a stale entry) that the body filter sends
 * in place of nginx's own error page.
 */
#define NGX_HTTP_CI_JOBS_HOLD_NONE         0
#define NGX_HTTP_CI_JOBS_HOLD_ANSWER       1
#define NGX_HTTP_CI_JOBS_HOLD_REPLACEMENT  2


typedef struct ngx_http_ci_jobs_target_s  ngx_http_ci_jobs_target_t;
typedef struct ngx_http_ci_jobs_resolve_s  ngx_http_ci_jobs_resolve_t;
typedef struct ngx_http_ci_jobs_keepalive_s  ngx_http_ci_jobs_keepalive_t;


/*
 * The module's zones are all tagged with the module and told apart by
 * their init (a cache zone's, the state zone's, the counters'); names of
 * the last two are ones cache zones may not take.  The shm_zone->data of
 * the state zone and of the counters' is this, in the configuration's
 * pool; a cache zone's is its ngx_http_ci_jobs_cache_t, of the same kind.
 */
typedef struct {
    ngx_slab_pool_t             *shpool;
    void                        *sh;          /* what the zone holds */
} ngx_http_ci_jobs_zone_t;


/* the largest error a failed refresh keeps for the streams, XML */
#define NGX_HTTP_CI_JOBS_CACHE_ERROR_MAX  1024


/*
 * What the watch reads of a cache entry (ngx_http_ci_jobs_cache_peek()):
 * locked and due follow from the others and the time; what was read is
 * read again only once the zone has changed something of the key's
 * (ngx_http_ci_jobs_cache_peek_again()).
 */
typedef struct {
    u_char                       digest[NGX_HTTP_CI_JOBS_DIGEST_LEN];
    ngx_msec_t                   fetched;
    ngx_msec_t                   failed;      /* its last refresh, or 0 */
    ngx_msec_t                   lock_until;
    ngx_atomic_uint_t            seen;        /* the key's changes then */
    uint32_t                     hash;        /* the key's, in the zone */
    unsigned                     answer:1;    /* it holds an answer */
    unsigned                     pending:1;   /* not all jobs finished */
    unsigned                     lock:1;      /* held until lock_until */
    unsigned                     woken:1;     /* notified since fetched */
    unsigned                     locked:1;    /* someone is upstream */
    unsigned                     due:1;       /* woken by a notification */
} ngx_http_ci_jobs_cache_peek_t;


/* a cache zone's counts, for ci_jobs_status */
typedef struct {
    ngx_uint_t                   results[NGX_HTTP_CI_JOBS_CACHE_STATUSES];
    ngx_uint_t                   entries;
    size_t                       bytes;
    ngx_uint_t                   evictions;
} ngx_http_ci_jobs_cache_stats_t;


typedef struct {
    ngx_int_t                    request_id_index;   /* $request_id */
    size_t                       max_held_size;
    ngx_array_t                  targets;   /* ngx_http_ci_jobs_target_t * */
    ngx_shm_zone_t              *state_zone;
    ngx_array_t                  sources;   /* ngx_http_ci_jobs_source_t * */
    ngx_shm_zone_t              *metrics_zone;  /* with ci_jobs_status */
    ngx_array_t                  locations;  /* gateway loc confs, ?ready */
    ngx_hash_t                   upstream_headers;  /* the headers read */
    ngx_int_t                    watch_max;  /* watchers per worker */
} ngx_http_ci_jobs_main_conf_t;


#define NGX_HTTP_CI_JOBS_SOURCE_INLINE  0
#define NGX_HTTP_CI_JOBS_SOURCE_FILE    1
#define NGX_HTTP_CI_JOBS_SOURCE_ROLE    2

#define NGX_HTTP_CI_JOBS_METADATA_URL                                         \
    "http://metadata.tencentyun.com/latest/meta-data/cam/security-credentials/"


typedef struct ngx_http_ci_jobs_shsource_s  ngx_http_ci_jobs_shsource_t;
typedef struct ngx_http_ci_jobs_keyfile_s   ngx_http_ci_jobs_keyfile_t;
typedef struct ngx_http_ci_jobs_shoffset_s  ngx_http_ci_jobs_shoffset_t;
typedef struct ngx_http_ci_jobs_named_s  ngx_http_ci_jobs_named_t;


/* an entry of the state zone found by its name, the head of its struct */
struct ngx_http_ci_jobs_named_s {
    ngx_http_ci_jobs_named_t     *next;
    ngx_str_t                     name;       /* in the zone, after it */
};


/* locations that share a slot share the diagnosis' once a minute */
#define NGX_HTTP_CI_JOBS_DIAG_SLOTS  256


/* the module's state zone: what all workers share */
typedef struct {
    ngx_http_ci_jobs_named_t     *sources;
    ngx_http_ci_jobs_named_t     *offsets;
    ngx_atomic_t                  diagnosed[NGX_HTTP_CI_JOBS_DIAG_SLOTS];
} ngx_http_ci_jobs_shared_t;


/* what ngx_http_ci_jobs_source_health() finds, for ?ready */
#define NGX_HTTP_CI_JOBS_HEALTH_OK        0
#define NGX_HTTP_CI_JOBS_HEALTH_UNUSABLE  1   /* the file, now */
#define NGX_HTTP_CI_JOBS_HEALTH_EXPIRED   2
#define NGX_HTTP_CI_JOBS_HEALTH_NONE      3   /* role: none fetched yet */


/*
 * The keys a location signs with now: a SecretId, its SecretKey, a
 * security token or none, and the SignKey made of them, reused for its
 * KeyTime window (src/ngx_http_ci_jobs_sign_key.c).
 */
typedef struct {
    ngx_str_t                    id;
    ngx_str_t                    key;
    ngx_str_t                    token;
    time_t                       expires;     /* 0: do not expire */
    time_t                       key_start;   /* sign_key's KeyTime */
    time_t                       key_end;
    ngx_http_ci_jobs_sign_key_t  sign_key;
} ngx_http_ci_jobs_keys_t;


/*
 * A source of credentials: inline (the location's own), a credentials
 * file, or a role's (src/ngx_http_ci_jobs_source.c).  A file or a role is
 * one source for every location naming it, refreshed by one worker at a
 * time through the state zone, each worker holding a copy of the keys
 * shared there.
 */
typedef struct {
    ngx_uint_t                   kind;
    ngx_str_t                    name;        /* the source's, in the zone */
    ngx_str_t                    file;
    ngx_str_t                    role;        /* empty: "auto" */
    ngx_str_t                    url;         /* ci_jobs_metadata_url */
    ngx_str_t                    url_host;    /* its Host header */
    ngx_str_t                    url_path;    /* ends with "/" */
    ngx_addr_t                  *addr;
    ngx_http_ci_jobs_keys_t      keys;
    u_char                      *buf;         /* this worker's copy */
    size_t                       buf_size;
    ngx_atomic_uint_t            generation;  /* of the shared copy held */
    ngx_atomic_uint_t            changed;     /* the generation of its values */
    ngx_http_ci_jobs_shsource_t *sh;
    ngx_http_ci_jobs_zone_t     *state;       /* the zone sh is in */
    ngx_event_t                  timer;
    ngx_log_t                    quiet_log;   /* for the fetch connection */
    ngx_peer_connection_t        peer;
    u_char                      *out;         /* the request to the service */
    size_t                       out_len;
    size_t                       sent;
    u_char                      *in;          /* its answer */
    size_t                       in_len;
    u_char                       found_role[128];
    size_t                       found_role_len;
    ngx_queue_t                  renewal_waiting;  /* refused requests */
    ngx_event_t                  renewal_look;
    unsigned                     fetching:1;  /* this worker's turn */
    unsigned                     listing:1;   /* asking for the roles */
} ngx_http_ci_jobs_source_t;


typedef struct {
    ngx_flag_t                   enable;
    ngx_str_t                    location;     /* its name, for the logs */
    ngx_uint_t                   index;        /* of the gateway's */

    ngx_str_t                    bucket;
    ngx_str_t                    region;
    ngx_str_t                    host;         /* <bucket>.ci.<region>... */
    ngx_str_t                    pass;         /* ci_jobs_pass as written */
    ngx_int_t                    keepalive;    /* of the module's upstream */
    ngx_http_ci_jobs_resolve_t  *resolve;      /* at run time, or NULL */

    ngx_str_t                    secret_id;
    ngx_str_t                    secret_key;
    ngx_str_t                    security_token;
    ngx_str_t                    credentials_file;
    ngx_str_t                    credentials_role;
    ngx_str_t                    metadata_url;
    ngx_http_ci_jobs_source_t   *source;
    ngx_http_ci_jobs_shoffset_t *offset;       /* of the target's clock */
    ngx_shm_zone_t              *state_zone;
    time_t                       sign_expires;

    ngx_uint_t                   apis;         /* 1 << api, of enabled */

    ngx_uint_t                   json;
    ngx_array_t                 *json_array;   /* of ngx_str_t */
    ngx_http_ci_jobs_name_t     *array_names;
    size_t                       narray_names;
    size_t                       max_body_size;
    size_t                       max_held_per_connection;

    ngx_shm_zone_t              *cache_zone;
    ngx_str_t                    cache_target;  /* in the cache key */
    time_t                       cache_valid;
    ngx_msec_t                   cache_valid_pending;
    ngx_msec_t                   cache_lock_timeout;
    ngx_uint_t                   cache_use_stale;

    ngx_flag_t                   watch;
    ngx_msec_t                   watch_interval;
    ngx_msec_t                   watch_timeout;

    ngx_shm_zone_t              *callback_zone;  /* ci_jobs_callback */

    ngx_flag_t                   ssl_verify;
    ngx_str_t                    ssl_trusted_certificate;

    ngx_uint_t                   access;       /* ci_jobs_access */
    ngx_http_ci_jobs_keyfile_t  *access_keys;
    time_t                       access_max_ttl;

    ngx_http_upstream_conf_t     upstream;
} ngx_http_ci_jobs_loc_conf_t;


/* what a request holds of the worker's bytes (ngx_http_ci_jobs_held.c) */
typedef struct ngx_http_ci_jobs_held_s  ngx_http_ci_jobs_held_t;


typedef struct {
    /* the refusal to answer with, set by the content handler */
    ngx_uint_t                   error_status;
    ngx_http_ci_jobs_code_e      error_code;
    const char                  *error_message;

    /* the upstream answer */
    ngx_http_status_t            status;
    ngx_http_chunked_t           chunked;
    ngx_str_t                    ci_request_id;  /* x-ci-request-id */
    time_t                       date;           /* CI's Date */
    ngx_buf_t                   *body;
    ngx_http_ci_jobs_held_t     *held;           /* the body's bytes */
    ngx_http_ci_jobs_held_t     *copy_held;      /* the last cache copy's */
    u_char                       digest[NGX_HTTP_CI_JOBS_DIGEST_LEN];

    /* the signature sent, and the one retry a refusal may be worth */
    ngx_atomic_uint_t            keys_signed;    /* their source's changed */
    time_t                       offset;         /* the guess tried */
    time_t                       sign_start;
    time_t                       sign_end;
    ngx_event_free_peer_pt       free_peer;
    void                        *peer_data;
    void                        *renewal_waiter; /* waiting for new keys */

    ngx_str_t                    cache_key;
    ngx_uint_t                   cache_status;
    uint32_t                     cache_lock;     /* the lock held, or 0 */
    uint32_t                     cache_chain;    /* the lock's chain */
    uint32_t                     cache_waited;   /* the chain waited for */
    ngx_msec_t                   cache_wait_end;
    ngx_msec_t                   cache_fetched;  /* went upstream */
    ngx_event_t                  cache_wait;
    ngx_pool_cleanup_t          *cache_cleanup;

    ngx_uint_t                   api;            /* or API_COUNT: none */
    ngx_msec_t                   upstream_start;
    ngx_uint_t                   upstream_error; /* a kind, or 0 */

    ngx_str_t                    access_subject; /* the token's sub */

    ngx_uint_t                   hold;           /* NGX_HTTP_CI_JOBS_HOLD_ */
    ngx_chain_t                 *replacement;    /* of nginx's error page */

    unsigned                     json:1;           /* answer in JSON */
    unsigned                     chunked_body:1;
    unsigned                     xml_content_type:1;
    unsigned                     retried:1;
    unsigned                     replaced:1;       /* its upstream made anew */
    unsigned                     offset_tried:1;
    unsigned                     digested:1;       /* digest is body's */
    unsigned                     body_shared:1;    /* a worker's copy */
    unsigned                     refresh:1;        /* the watch's refresh */

    /* a watcher (ngx_http_ci_jobs_watch.c) */
    ngx_http_request_t          *watch_request;
    void                        *watch_group;    /* NULL: not watching */
    ngx_queue_t                  watch_queue;
    ngx_msec_t                   watch_end;
    time_t                       watch_wait;     /* Preference-Applied */
    u_char                       watch_digest[NGX_HTTP_CI_JOBS_DIGEST_LEN];
    ngx_http_request_t          *refresh_sr;     /* the refresh it carries */
    void                        *refresh_pool;   /* its record, in its pool */
    unsigned                     watch_stream:1;   /* Server-Sent Events */
    unsigned                     stream_opened:1;  /* its first events */
    uint32_t                    *stream_sent;    /* the jobs' versions */
    ngx_uint_t                   stream_njobs;
    ngx_msec_t                   stream_last;    /* for heartbeats */
    ngx_msec_t                   stream_failed;  /* the error sent */
    ngx_chain_t                 *stream_busy;    /* events not sent yet */
    ngx_chain_t                 *stream_free;    /* their headers, sent */

    /* last: the content handler zeroes what comes before its parameters */
    ngx_http_ci_jobs_request_t   req;
} ngx_http_ci_jobs_ctx_t;


ngx_int_t ngx_http_ci_jobs_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

ngx_int_t ngx_http_ci_jobs_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_ci_jobs_request_path_below(ngx_http_request_t *r,
    ngx_str_t *path);

char *ngx_http_ci_jobs_set_target(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf);
void ngx_http_ci_jobs_targets_init_process(ngx_cycle_t *cycle);
void ngx_http_ci_jobs_targets_exit(ngx_cycle_t *cycle);

ngx_http_ci_jobs_resolve_t *ngx_http_ci_jobs_resolve_create(ngx_conf_t *cf,
    ngx_url_t *u, ngx_http_upstream_srv_conf_t *uscf,
    ngx_resolver_t *resolver, ngx_msec_t timeout,
    ngx_http_ci_jobs_keepalive_t *keepalive);
void ngx_http_ci_jobs_resolve_init_process(ngx_http_ci_jobs_resolve_t *res);
void ngx_http_ci_jobs_resolve_exit(ngx_http_ci_jobs_resolve_t *res);
ngx_int_t ngx_http_ci_jobs_resolve_wait(ngx_http_request_t *r,
    ngx_http_ci_jobs_resolve_t *res);
ngx_int_t ngx_http_ci_jobs_resolve_init_peer(ngx_http_request_t *r,
    ngx_http_ci_jobs_resolve_t *res, ngx_http_upstream_srv_conf_t *us);
ngx_int_t ngx_http_ci_jobs_upstream_headers_init(ngx_conf_t *cf);
ngx_int_t ngx_http_ci_jobs_upstream_init(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf);
void ngx_http_ci_jobs_body_done(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t rendering);
ngx_int_t ngx_http_ci_jobs_filter_init(ngx_conf_t *cf);

ngx_int_t ngx_http_ci_jobs_watch_poll(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_watch_stream(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_watch_refresh(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_uint_t ngx_http_ci_jobs_watch_is_refresh(ngx_http_request_t *r);
void ngx_http_ci_jobs_watch_soon(void);
size_t ngx_http_ci_jobs_shed(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx);

char *ngx_http_ci_jobs_callback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ci_jobs_callback_check(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *conf);

ngx_int_t ngx_http_ci_jobs_wants_json(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_answer_headers(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, size_t len);
ngx_chain_t *ngx_http_ci_jobs_answer_body(ngx_http_request_t *r,
    ngx_str_t *out);
ngx_chain_t *ngx_http_ci_jobs_error_answer(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status);
ngx_int_t ngx_http_ci_jobs_refuse(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_int_t status,
    ngx_http_ci_jobs_code_e code, const char *message);
ngx_buf_t *ngx_http_ci_jobs_error_body(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_uint_t status);
ngx_int_t ngx_http_ci_jobs_own_request_id(ngx_http_request_t *r);
ngx_table_elt_t *ngx_http_ci_jobs_add_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);

char *ngx_http_ci_jobs_source_init(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_http_ci_jobs_keys_t *ngx_http_ci_jobs_keys(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_sources_init_process(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_ci_jobs_source_health(ngx_http_ci_jobs_source_t *source,
    time_t now, time_t *expires);
void ngx_http_ci_jobs_source_name(ngx_http_ci_jobs_source_t *source,
    ngx_str_t *name);
ngx_int_t ngx_http_ci_jobs_source_renew(ngx_http_ci_jobs_source_t *source,
    ngx_atomic_uint_t signed_with);

typedef void (*ngx_http_ci_jobs_resume_pt)(ngx_http_request_t *r);

void ngx_http_ci_jobs_renewal_init(ngx_http_ci_jobs_source_t *source,
    ngx_event_handler_pt look, ngx_log_t *log);
void ngx_http_ci_jobs_renewal_stop(ngx_http_ci_jobs_source_t *source);
ngx_int_t ngx_http_ci_jobs_renewal_wait(ngx_http_request_t *r,
    ngx_http_ci_jobs_source_t *source, ngx_atomic_uint_t signed_with,
    ngx_http_ci_jobs_resume_pt resume);
void ngx_http_ci_jobs_renewal_over(ngx_http_ci_jobs_source_t *source);
void ngx_http_ci_jobs_renewal_wake(ngx_http_ci_jobs_source_t *source,
    ngx_uint_t renewing);
void ngx_http_ci_jobs_renewal_leave(ngx_http_ci_jobs_ctx_t *ctx);

ngx_http_ci_jobs_sign_key_t *ngx_http_ci_jobs_sign_key_for(
    ngx_http_ci_jobs_keys_t *keys, time_t offset, time_t expires,
    time_t *start, time_t *end);
void ngx_http_ci_jobs_sign_window(time_t offset, time_t expires,
    time_t *start, time_t *end);

ngx_int_t ngx_http_ci_jobs_state_zone(ngx_conf_t *cf,
    ngx_http_ci_jobs_loc_conf_t *lcf);
void *ngx_http_ci_jobs_state_entry(ngx_shm_zone_t *state_zone,
    ngx_http_ci_jobs_named_t **list, ngx_str_t *name, size_t size);

time_t ngx_http_ci_jobs_clock_offset(ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_guess_offset(time_t date, time_t start,
    time_t end, time_t *offset);
void ngx_http_ci_jobs_offset_accepted(ngx_http_request_t *r,
    ngx_http_ci_jobs_loc_conf_t *lcf, ngx_http_ci_jobs_ctx_t *ctx);

char *ngx_http_ci_jobs_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ci_jobs_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_ci_jobs_cache_lookup(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_cache_wait(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx);
void ngx_http_ci_jobs_cache_store(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf,
    ngx_uint_t pending);
void ngx_http_ci_jobs_cache_unlock(ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_cache_key_init(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
void ngx_http_ci_jobs_cache_peek(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_ci_jobs_cache_peek_t *pk);
void ngx_http_ci_jobs_cache_peek_again(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_http_ci_jobs_cache_peek_t *pk);
void ngx_http_ci_jobs_cache_failed(ngx_http_ci_jobs_ctx_t *ctx,
    ngx_http_ci_jobs_loc_conf_t *lcf, ngx_str_t *error);
ngx_int_t ngx_http_ci_jobs_cache_error(ngx_shm_zone_t *zone, ngx_str_t *key,
    ngx_pool_t *pool, ngx_str_t *error);
ngx_int_t ngx_http_ci_jobs_cache_refresh_lock(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
ngx_int_t ngx_http_ci_jobs_cache_latest(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
void ngx_http_ci_jobs_cache_exit(void);
ngx_int_t ngx_http_ci_jobs_cache_stale(ngx_http_request_t *r,
    ngx_http_ci_jobs_ctx_t *ctx, ngx_http_ci_jobs_loc_conf_t *lcf);
void ngx_http_ci_jobs_cache_count(ngx_shm_zone_t *zone, ngx_uint_t status);
ngx_int_t ngx_http_ci_jobs_cache_stats(ngx_shm_zone_t *zone,
    ngx_http_ci_jobs_cache_stats_t *st);
ngx_uint_t ngx_http_ci_jobs_cache_wake(ngx_shm_zone_t *zone, u_char *id,
    size_t len);
ngx_uint_t ngx_http_ci_jobs_cache_is_zone(ngx_shm_zone_t *zone);
ngx_int_t ngx_http_ci_jobs_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


extern ngx_module_t  ngx_http_ci_jobs_module;


#endif /* _NGX_HTTP_CI_JOBS_MODULE_H_INCLUDED_ */
