
/*
 * The credentials file, over plain buffers: "SecretId=", "SecretKey=" and
 * optional "Token=" lines, or the JSON a CVM role's metadata endpoint
 * returns (TmpSecretId, TmpSecretKey, Token, ExpiredTime).  No nginx
 * types: used by the module, the unit tests and the fuzzers.
 */


#ifndef _NGX_HTTP_CI_JOBS_CREDENTIALS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_CREDENTIALS_H_INCLUDED_


#include <stddef.h>
#include <sys/types.h>
#include <time.h>


typedef struct {
    const u_char  *id;          /* all point into the parsed buffer */
    size_t         id_len;
    const u_char  *key;
    size_t         key_len;
    const u_char  *token;       /* NULL when there is none */
    size_t         token_len;
    time_t         expires;     /* ExpiredTime; 0 when not given */
    const char    *error;       /* why the file is unusable */
} ngx_http_ci_jobs_credentials_t;


/* 0, or -1 with creds->error set; nothing of the values is in the error */
int ngx_http_ci_jobs_credentials_parse(ngx_http_ci_jobs_credentials_t *creds,
    const u_char *data, size_t len);


#endif /* _NGX_HTTP_CI_JOBS_CREDENTIALS_H_INCLUDED_ */
