
/*
 * Parsing of the credentials file.  Values are checked to be printable
 * ASCII without spaces, since they go into a header line; error messages
 * never quote them.
 */


#include <string.h>

#include "ngx_http_ci_jobs_credentials.h"


#define NGX_HTTP_CI_JOBS_CREDENTIAL_MAX  4096


static int ngx_http_ci_jobs_credentials_lines(
    ngx_http_ci_jobs_credentials_t *creds, const u_char *p,
    const u_char *last);
static int ngx_http_ci_jobs_credentials_json(
    ngx_http_ci_jobs_credentials_t *creds, const u_char *p,
    const u_char *last);
static int ngx_http_ci_jobs_credentials_check(
    ngx_http_ci_jobs_credentials_t *creds);
static int ngx_http_ci_jobs_token_ok(const u_char *p, size_t len);
static const u_char *ngx_http_ci_jobs_skip_space(const u_char *p,
    const u_char *last);


#define ngx_http_ci_jobs_is(name, len, s)                                     \
    ((len) == sizeof(s) - 1 && memcmp(name, s, sizeof(s) - 1) == 0)


int
ngx_http_ci_jobs_credentials_parse(ngx_http_ci_jobs_credentials_t *creds,
    const u_char *data, size_t len)
{
    const u_char  *p, *last;

    memset(creds, 0, sizeof(ngx_http_ci_jobs_credentials_t));

    last = data + len;
    p = ngx_http_ci_jobs_skip_space(data, last);

    if (p == last) {
        creds->error = "the file is empty";
        return -1;
    }

    if (*p == '{') {
        if (ngx_http_ci_jobs_credentials_json(creds, p + 1, last) != 0) {
            return -1;
        }

    } else if (ngx_http_ci_jobs_credentials_lines(creds, p, last) != 0) {
        return -1;
    }

    return ngx_http_ci_jobs_credentials_check(creds);
}


/* NAME=VALUE lines; blank lines and "#" comments are skipped */

static int
ngx_http_ci_jobs_credentials_lines(ngx_http_ci_jobs_credentials_t *creds,
    const u_char *p, const u_char *last)
{
    size_t         name_len;
    const u_char  *eol, *eq, *name, *value, *end;

    for ( /* void */ ; p < last; p = eol + 1) {
        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            eol = last;
        }

        end = eol;

        while (end > p && (end[-1] == '\r' || end[-1] == ' '
                           || end[-1] == '\t'))
        {
            end--;
        }

        p = ngx_http_ci_jobs_skip_space(p, end);

        if (p == end || *p == '#') {
            if (eol == last) {
                break;
            }

            continue;
        }

        eq = memchr(p, '=', end - p);
        if (eq == NULL) {
            creds->error = "a line is not NAME=VALUE";
            return -1;
        }

        name = p;
        name_len = eq - p;

        while (name_len && (name[name_len - 1] == ' '
                            || name[name_len - 1] == '\t'))
        {
            name_len--;
        }

        value = ngx_http_ci_jobs_skip_space(eq + 1, end);

        if (ngx_http_ci_jobs_is(name, name_len, "SecretId")) {
            creds->id = value;
            creds->id_len = end - value;

        } else if (ngx_http_ci_jobs_is(name, name_len, "SecretKey")) {
            creds->key = value;
            creds->key_len = end - value;

        } else if (ngx_http_ci_jobs_is(name, name_len, "Token")) {
            creds->token = value;
            creds->token_len = end - value;

        } else {
            creds->error = "unknown name (expected SecretId, SecretKey, "
                           "Token)";
            return -1;
        }

        if (eol == last) {
            break;
        }
    }

    return 0;
}


/*
 * A flat JSON object of strings and numbers, as the CVM metadata endpoint
 * returns it.  Strings with escapes are refused: credentials have none.
 */

static int
ngx_http_ci_jobs_credentials_json(ngx_http_ci_jobs_credentials_t *creds,
    const u_char *p, const u_char *last)
{
    size_t         name_len, value_len;
    time_t         n;
    const u_char  *name, *value;

    for ( ;; ) {
        p = ngx_http_ci_jobs_skip_space(p, last);

        if (p < last && *p == '}') {
            p = ngx_http_ci_jobs_skip_space(p + 1, last);
            break;
        }

        if (p == last || *p != '"') {
            goto invalid;
        }

        name = ++p;

        while (p < last && *p != '"' && *p != '\\') {
            p++;
        }

        if (p == last || *p != '"') {
            goto invalid;
        }

        name_len = p - name;
        p = ngx_http_ci_jobs_skip_space(p + 1, last);

        if (p == last || *p != ':') {
            goto invalid;
        }

        p = ngx_http_ci_jobs_skip_space(p + 1, last);

        if (p == last) {
            goto invalid;
        }

        if (*p == '"') {
            value = ++p;

            while (p < last && *p != '"' && *p != '\\') {
                p++;
            }

            if (p == last || *p != '"') {
                goto invalid;
            }

            value_len = p - value;
            p++;

            if (ngx_http_ci_jobs_is(name, name_len, "TmpSecretId")) {
                creds->id = value;
                creds->id_len = value_len;

            } else if (ngx_http_ci_jobs_is(name, name_len, "TmpSecretKey")) {
                creds->key = value;
                creds->key_len = value_len;

            } else if (ngx_http_ci_jobs_is(name, name_len, "Token")) {
                creds->token = value;
                creds->token_len = value_len;
            }

        } else if (*p >= '0' && *p <= '9') {
            for (n = 0; p < last && *p >= '0' && *p <= '9'; p++) {
                if (n > 100000000000LL) {
                    goto invalid;
                }

                n = n * 10 + (*p - '0');
            }

            if (ngx_http_ci_jobs_is(name, name_len, "ExpiredTime")) {
                creds->expires = n;
            }

        } else {
            goto invalid;
        }

        p = ngx_http_ci_jobs_skip_space(p, last);

        if (p < last && *p == ',') {
            p++;
            continue;
        }

        if (p < last && *p == '}') {
            continue;
        }

        goto invalid;
    }

    if (p != last) {
        goto invalid;
    }

    return 0;

invalid:

    creds->error = "not a valid JSON object of strings and numbers";
    return -1;
}


static int
ngx_http_ci_jobs_credentials_check(ngx_http_ci_jobs_credentials_t *creds)
{
    if (creds->id == NULL || creds->id_len == 0) {
        creds->error = "no SecretId";
        return -1;
    }

    if (creds->key == NULL || creds->key_len == 0) {
        creds->error = "no SecretKey";
        return -1;
    }

    if (!ngx_http_ci_jobs_token_ok(creds->id, creds->id_len)
        || !ngx_http_ci_jobs_token_ok(creds->key, creds->key_len)
        || (creds->token
            && !ngx_http_ci_jobs_token_ok(creds->token, creds->token_len)))
    {
        creds->error = "a value is not printable ASCII without spaces";
        return -1;
    }

    if (creds->token && creds->token_len == 0) {
        creds->token = NULL;
    }

    return 0;
}


static int
ngx_http_ci_jobs_token_ok(const u_char *p, size_t len)
{
    size_t  i;

    if (len > NGX_HTTP_CI_JOBS_CREDENTIAL_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


static const u_char *
ngx_http_ci_jobs_skip_space(const u_char *p, const u_char *last)
{
    while (p < last && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    {
        p++;
    }

    return p;
}
