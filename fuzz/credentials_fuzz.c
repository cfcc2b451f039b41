
/*
 * libFuzzer target of the credentials-file parser
 * (src/ngx_http_ci_jobs_credentials_parse.c).  The input is the file.
 *
 * Invariants, each checked with abort():
 * - the answer is 0 with no error, or -1 with an error message;
 * - an error message is one of the parser's fixed sentences, which lies
 *   outside the input: whatever the file holds, nothing of it (a secret)
 *   is ever quoted in an error;
 * - an accepted file has a SecretId and a SecretKey, non-empty, a Token
 *   that is NULL or non-empty, all pointing inside the input and made of
 *   printable ASCII without spaces, 4096 bytes at most (the SecretId of
 *   letters and digits); no ExpiredTime below 0;
 * - the same bytes at another address give the same answer, the values at
 *   the same offsets; a newline appended changes nothing;
 * - the values of an accepted file, written again as NAME=VALUE lines
 *   and (when they can be JSON strings) as the CVM role JSON, read back
 *   the same;
 * - the parser reads the input's bytes only (AddressSanitizer: the input
 *   and the copy with a newline are exactly as long), and nothing leaks.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_ci_jobs_credentials_parse.h"


#define FUZZ_VALUE_MAX  4096


static void fuzz_check_error(
    const ngx_http_ci_jobs_parsed_credentials_t *creds, const u_char *data,
    size_t size);
static void fuzz_check_value(const u_char *value, size_t len,
    const u_char *data, size_t size);
static void fuzz_check_same(const ngx_http_ci_jobs_parsed_credentials_t *a,
    const u_char *adata, const ngx_http_ci_jobs_parsed_credentials_t *b,
    const u_char *bdata);
static void fuzz_check_values(
    const ngx_http_ci_jobs_parsed_credentials_t *a,
    const ngx_http_ci_jobs_parsed_credentials_t *b);
static void fuzz_rewrite(const ngx_http_ci_jobs_parsed_credentials_t *creds);
static u_char *fuzz_put(u_char *p, const char *s, const u_char *v,
    size_t len);
static int fuzz_json_safe(const u_char *p, size_t len);


/* every message the parser has: none is built from the input */

static const char  *fuzz_errors[] = {
    "the file is empty",
    "a line is not NAME=VALUE",
    "unknown name (expected SecretId, SecretKey, Token)",
    "not a valid JSON object of strings and numbers",
    "a value is written with escapes",
    "no SecretId",
    "no SecretKey",
    "the SecretId is not letters and digits only",
    "the SecretKey or the Token is longer than 4096 bytes",
    "the SecretKey or the Token is not printable ASCII without spaces",
    NULL
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                                     rc, crc, nrc;
    u_char                                 *copy, *nl;
    ngx_http_ci_jobs_parsed_credentials_t   creds, ccreds, ncreds;

    rc = ngx_http_ci_jobs_credentials_parse(&creds, data, size);

    if (rc == 0) {
        if (creds.error != NULL) {
            abort();
        }

        if (creds.id == NULL || creds.id_len == 0
            || creds.key == NULL || creds.key_len == 0
            || (creds.token == NULL && creds.token_len != 0)
            || (creds.token != NULL && creds.token_len == 0)
            || creds.expires < 0)
        {
            abort();
        }

        fuzz_check_value(creds.id, creds.id_len, data, size);
        fuzz_check_value(creds.key, creds.key_len, data, size);

        if (creds.token != NULL) {
            fuzz_check_value(creds.token, creds.token_len, data, size);
        }

    } else if (rc == -1) {
        fuzz_check_error(&creds, data, size);

    } else {
        abort();
    }

    /* the same bytes elsewhere (malloc(0) may be NULL: one byte more) */

    copy = malloc(size + 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    crc = ngx_http_ci_jobs_credentials_parse(&ccreds, copy, size);

    if (crc != rc) {
        abort();
    }

    fuzz_check_same(&creds, data, &ccreds, copy);

    /* a newline appended */

    nl = malloc(size + 1);
    if (nl == NULL) {
        abort();
    }

    memcpy(nl, data, size);
    nl[size] = '\n';

    nrc = ngx_http_ci_jobs_credentials_parse(&ncreds, nl, size + 1);

    if (nrc != rc) {
        abort();
    }

    fuzz_check_same(&creds, data, &ncreds, nl);

    if (rc == 0) {
        fuzz_rewrite(&creds);
    }

    free(nl);
    free(copy);

    return 0;
}


static void
fuzz_check_error(const ngx_http_ci_jobs_parsed_credentials_t *creds,
    const u_char *data, size_t size)
{
    size_t  i;

    if (creds->error == NULL) {
        abort();
    }

    /* not a pointer into the input */

    if (size
        && (const u_char *) creds->error >= data
        && (const u_char *) creds->error < data + size)
    {
        abort();
    }

    for (i = 0; fuzz_errors[i] != NULL; i++) {
        if (strcmp(creds->error, fuzz_errors[i]) == 0) {
            return;
        }
    }

    abort();
}


static void
fuzz_check_value(const u_char *value, size_t len, const u_char *data,
    size_t size)
{
    size_t  i;

    if (value < data || len > size || value > data + size - len
        || len > FUZZ_VALUE_MAX)
    {
        abort();
    }

    for (i = 0; i < len; i++) {
        if (value[i] <= 0x20 || value[i] >= 0x7f) {
            abort();
        }
    }
}


/* b: the parse of a copy of a's input, maybe with a newline appended */

static void
fuzz_check_same(const ngx_http_ci_jobs_parsed_credentials_t *a,
    const u_char *adata, const ngx_http_ci_jobs_parsed_credentials_t *b,
    const u_char *bdata)
{
    if (a->error != NULL || b->error != NULL) {
        if (a->error == NULL || b->error == NULL
            || strcmp(a->error, b->error) != 0)
        {
            abort();
        }

        return;
    }

    if (a->id - adata != b->id - bdata
        || a->key - adata != b->key - bdata
        || (a->token == NULL) != (b->token == NULL)
        || (a->token != NULL && a->token - adata != b->token - bdata))
    {
        abort();
    }

    fuzz_check_values(a, b);
}


static void
fuzz_check_values(const ngx_http_ci_jobs_parsed_credentials_t *a,
    const ngx_http_ci_jobs_parsed_credentials_t *b)
{
    if (b->error != NULL
        || a->id_len != b->id_len || memcmp(a->id, b->id, a->id_len) != 0
        || a->key_len != b->key_len
        || memcmp(a->key, b->key, a->key_len) != 0
        || (a->token == NULL) != (b->token == NULL)
        || a->token_len != b->token_len
        || (a->token != NULL
            && memcmp(a->token, b->token, a->token_len) != 0))
    {
        abort();
    }
}


/* the accepted values, written in both formats, read back the same */

static void
fuzz_rewrite(const ngx_http_ci_jobs_parsed_credentials_t *creds)
{
    size_t                                  len;
    u_char                                 *buf, *p;
    ngx_http_ci_jobs_parsed_credentials_t   back;

    len = 128 + creds->id_len + creds->key_len + creds->token_len;

    buf = malloc(len);
    if (buf == NULL) {
        abort();
    }

    p = fuzz_put(buf, "SecretId=", creds->id, creds->id_len);
    p = fuzz_put(p, "\nSecretKey=", creds->key, creds->key_len);

    if (creds->token != NULL) {
        p = fuzz_put(p, "\nToken=", creds->token, creds->token_len);
    }

    if (ngx_http_ci_jobs_credentials_parse(&back, buf, p - buf) != 0
        || back.expires != 0)
    {
        abort();
    }

    fuzz_check_values(creds, &back);

    if (fuzz_json_safe(creds->id, creds->id_len)
        && fuzz_json_safe(creds->key, creds->key_len)
        && (creds->token == NULL
            || fuzz_json_safe(creds->token, creds->token_len)))
    {
        p = fuzz_put(buf, "{\"TmpSecretId\": \"", creds->id, creds->id_len);
        p = fuzz_put(p, "\", \"TmpSecretKey\": \"", creds->key,
                     creds->key_len);

        if (creds->token != NULL) {
            p = fuzz_put(p, "\", \"Token\": \"", creds->token,
                         creds->token_len);
        }

        p += sprintf((char *) p, "\", \"ExpiredTime\": %lld}\n",
                     (long long) creds->expires);

        if (ngx_http_ci_jobs_credentials_parse(&back, buf, p - buf) != 0
            || back.expires != creds->expires)
        {
            abort();
        }

        fuzz_check_values(creds, &back);
    }

    free(buf);
}


static u_char *
fuzz_put(u_char *p, const char *s, const u_char *v, size_t len)
{
    size_t  n;

    n = strlen(s);
    memcpy(p, s, n);
    p += n;

    memcpy(p, v, len);

    return p + len;
}


static int
fuzz_json_safe(const u_char *p, size_t len)
{
    return memchr(p, '"', len) == NULL && memchr(p, '\\', len) == NULL;
}
