
/*
 * The credentials parser, over plain buffers: a credentials file's
 * "SecretId=", "SecretKey=" and optional "Token=" lines, or the JSON a CVM
 * role's metadata endpoint returns (TmpSecretId, TmpSecretKey, Token,
 * ExpiredTime), and the metadata service's answers.  No nginx types: used
 * by the module (src/ngx_http_ci_jobs_source.c), the unit tests and the
 * fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_CREDENTIALS_PARSE_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_CREDENTIALS_PARSE_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>
#include <time.h>


/* what the parsers return */
typedef enum {
    NGX_HTTP_CI_JOBS_PARSE_OK = 0,
    NGX_HTTP_CI_JOBS_PARSE_ERROR = -1       /* with the error set */
} ngx_http_ci_jobs_parse_rc_e;


/* parsed credentials: a credentials file's, or a role's */
typedef struct {
    const u_char  *id;          /* all point into the parsed buffer */
    size_t         id_len;
    const u_char  *key;
    size_t         key_len;
    const u_char  *token;       /* NULL when there is none */
    size_t         token_len;
    const u_char  *code;        /* the JSON's Code; NULL when not given */
    size_t         code_len;
    time_t         expires;     /* ExpiredTime; 0 when not given */
    const char    *error;       /* why the file is unusable */
} ngx_http_ci_jobs_parsed_credentials_t;


/* an HTTP/1.x answer of the metadata service, as far as it was read */
typedef struct {
    unsigned int   status;
    const u_char  *body;        /* points into the answer */
    size_t         body_len;
    unsigned int   complete;    /* all its Content-Length says is in */
    const char    *error;       /* why the answer is unusable */
} ngx_http_ci_jobs_http_answer_t;


/*
 * A credentials file: NGX_HTTP_CI_JOBS_PARSE_OK, or _ERROR with
 * creds->error set; nothing of the values is in the error.
 */
ngx_http_ci_jobs_parse_rc_e ngx_http_ci_jobs_credentials_parse(
    ngx_http_ci_jobs_parsed_credentials_t *creds, const u_char *data,
    size_t len);

/*
 * The metadata service (GET <url> lists roles, GET <url><role> answers the
 * role's JSON): the status line, headers and body of an answer; the first
 * role of a list; the credentials of a role's JSON, which must say
 * "Code": "Success" and an ExpiredTime later than now.
 * NGX_HTTP_CI_JOBS_PARSE_OK, or _ERROR with the error set, never quoting a
 * value.
 */
ngx_http_ci_jobs_parse_rc_e ngx_http_ci_jobs_http_answer_parse(
    ngx_http_ci_jobs_http_answer_t *a, const u_char *data, size_t len);
ngx_http_ci_jobs_parse_rc_e ngx_http_ci_jobs_metadata_role(
    const u_char *data, size_t len, const u_char **role, size_t *role_len,
    const char **error);
ngx_http_ci_jobs_parse_rc_e ngx_http_ci_jobs_metadata_credentials(
    ngx_http_ci_jobs_parsed_credentials_t *creds, const u_char *data,
    size_t len, time_t now);

/* a role name: 1-128 of letters, digits and +=,.@_-, not dots only */
int ngx_http_ci_jobs_role_name_ok(const u_char *p, size_t len);

/* a SecretId: 1-128 letters and digits */
int ngx_http_ci_jobs_secret_id_ok(const u_char *p, size_t len);

/* whether CI's error answer (its Code) says the keys or token are invalid */
int ngx_http_ci_jobs_keys_refused(const u_char *body, size_t len);

/*
 * Whether role credentials fetched at FETCHED and expiring at EXPIRES are
 * to be fetched again at NOW: 300 s, or a third of their lifetime, before
 * they expire, a lifetime being 12 hours at most.
 */
int ngx_http_ci_jobs_refresh_due(time_t expires, time_t fetched,
    time_t now);


#endif /* _NGX_HTTP_CI_JOBS_CREDENTIALS_PARSE_H_INCLUDED_ */
