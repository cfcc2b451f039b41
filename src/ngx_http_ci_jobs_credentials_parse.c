
/*
 * The credentials parser: credentials files and the metadata service's
 * answers.  Values are checked to be printable ASCII without spaces, since
 * they go into a header line; error messages never quote them.
 */


#include <string.h>
#include <strings.h>

#include "ngx_http_ci_jobs_credentials_parse.h"
#include "ngx_http_ci_jobs_text.h"

#include <jansson.h>


static ngx_http_ci_jobs_parse_rc_e ngx_http_ci_jobs_credentials_lines(
    ngx_http_ci_jobs_parsed_credentials_t *creds, const u_char *p,
    const u_char *last);
static ngx_http_ci_jobs_parse_rc_e ngx_http_ci_jobs_credentials_json(
    ngx_http_ci_jobs_parsed_credentials_t *creds, const u_char *data,
    size_t len);
static const u_char *ngx_http_ci_jobs_json_as_written(const u_char *data,
    size_t len, json_t *value);
static ngx_http_ci_jobs_parse_rc_e ngx_http_ci_jobs_credentials_check(
    ngx_http_ci_jobs_parsed_credentials_t *creds);
static int ngx_http_ci_jobs_word_ok(const u_char *p, size_t len,
    const char *also);
static const u_char *ngx_http_ci_jobs_header_end(const u_char *p,
    const u_char *last);
static const u_char *ngx_http_ci_jobs_skip_space(const u_char *p,
    const u_char *last);


ngx_http_ci_jobs_parse_rc_e
ngx_http_ci_jobs_credentials_parse(
    ngx_http_ci_jobs_parsed_credentials_t *creds, const u_char *data,
    size_t len)
{
    const u_char  *p, *last;

    memset(creds, 0, sizeof(ngx_http_ci_jobs_parsed_credentials_t));

    last = data + len;
    p = ngx_http_ci_jobs_skip_space(data, last);

    if (p == last) {
        creds->error = "the file is empty";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (*p == '{') {
        if (ngx_http_ci_jobs_credentials_json(creds, data, len)
            != NGX_HTTP_CI_JOBS_PARSE_OK)
        {
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

    } else if (ngx_http_ci_jobs_credentials_lines(creds, p, last)
               != NGX_HTTP_CI_JOBS_PARSE_OK)
    {
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    return ngx_http_ci_jobs_credentials_check(creds);
}


/* NAME=VALUE lines; blank lines and "#" comments are skipped */

static ngx_http_ci_jobs_parse_rc_e
ngx_http_ci_jobs_credentials_lines(ngx_http_ci_jobs_parsed_credentials_t *creds,
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
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

        name = p;
        name_len = eq - p;

        while (name_len && (name[name_len - 1] == ' '
                            || name[name_len - 1] == '\t'))
        {
            name_len--;
        }

        value = ngx_http_ci_jobs_skip_space(eq + 1, end);

        if (ngx_http_ci_jobs_str_is(name, name_len, "SecretId")) {
            creds->id = value;
            creds->id_len = end - value;

        } else if (ngx_http_ci_jobs_str_is(name, name_len, "SecretKey")) {
            creds->key = value;
            creds->key_len = end - value;

        } else if (ngx_http_ci_jobs_str_is(name, name_len, "Token")) {
            creds->token = value;
            creds->token_len = end - value;

        } else {
            creds->error = "unknown name (expected SecretId, SecretKey, "
                           "Token)";
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

        if (eol == last) {
            break;
        }
    }

    return NGX_HTTP_CI_JOBS_PARSE_OK;
}


/*
 * A flat JSON object of strings and numbers, as the CVM metadata endpoint
 * returns it, read with jansson (duplicate names refused).  The values
 * are then found in the input as written, so that they point into it as
 * the lines' values do: a value written with escapes is not there, and
 * is refused (credentials have none).
 */

static ngx_http_ci_jobs_parse_rc_e
ngx_http_ci_jobs_credentials_json(ngx_http_ci_jobs_parsed_credentials_t *creds,
    const u_char *data, size_t len)
{
    size_t         n;
    json_t        *root, *value;
    json_int_t     number;
    const char    *name;
    const u_char  *at;
    json_error_t   jerr;

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);

    if (root == NULL || !json_is_object(root)) {
        goto invalid;
    }

    json_object_foreach(root, name, value) {

        if (json_is_integer(value)) {
            number = json_integer_value(value);

            if (number < 0 || number > 100000000000LL) {
                goto invalid;
            }

            if (strcmp(name, "ExpiredTime") == 0) {
                creds->expires = (time_t) number;
            }

            continue;
        }

        if (!json_is_string(value)) {
            goto invalid;
        }

        at = ngx_http_ci_jobs_json_as_written(data, len, value);
        n = json_string_length(value);

        if (at == NULL) {
            json_decref(root);
            creds->error = "a value is written with escapes";
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

        if (strcmp(name, "TmpSecretId") == 0) {
            creds->id = at;
            creds->id_len = n;

        } else if (strcmp(name, "TmpSecretKey") == 0) {
            creds->key = at;
            creds->key_len = n;

        } else if (strcmp(name, "Token") == 0) {
            creds->token = at;
            creds->token_len = n;

        } else if (strcmp(name, "Code") == 0) {
            creds->code = at;
            creds->code_len = n;
        }
    }

    json_decref(root);

    return NGX_HTTP_CI_JOBS_PARSE_OK;

invalid:

    if (root != NULL) {
        json_decref(root);
    }

    creds->error = "not a valid JSON object of strings and numbers";
    return NGX_HTTP_CI_JOBS_PARSE_ERROR;
}


/*
 * A string's bytes, quoted as they are in the input, or NULL.  Where the
 * same bytes are written twice, either place holds the value.
 */

static const u_char *
ngx_http_ci_jobs_json_as_written(const u_char *data, size_t len,
    json_t *value)
{
    size_t         n;
    const char    *s;
    const u_char  *p, *last;

    s = json_string_value(value);
    n = json_string_length(value);

    last = data + len;

    for (p = data; last - p >= (ptrdiff_t) n + 2; p++) {
        p = memchr(p, '"', last - p - n - 1);
        if (p == NULL) {
            return NULL;
        }

        if (p[n + 1] == '"' && memcmp(p + 1, s, n) == 0) {
            return p + 1;
        }
    }

    return NULL;
}


static ngx_http_ci_jobs_parse_rc_e
ngx_http_ci_jobs_credentials_check(ngx_http_ci_jobs_parsed_credentials_t *creds)
{
    if (creds->id == NULL || creds->id_len == 0) {
        creds->error = "no SecretId";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (creds->key == NULL || creds->key_len == 0) {
        creds->error = "no SecretKey";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    /* an "&" or "=" in it would split the Authorization fields */
    if (!ngx_http_ci_jobs_secret_id_ok(creds->id, creds->id_len)) {
        creds->error = "the SecretId is not letters and digits only";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (creds->key_len > NGX_HTTP_CI_JOBS_TOKEN_MAX
        || (creds->token && creds->token_len > NGX_HTTP_CI_JOBS_TOKEN_MAX))
    {
        creds->error = "the SecretKey or the Token is longer than "
                       "4096 bytes";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (!ngx_http_ci_jobs_token_ok(creds->key, creds->key_len)
        || (creds->token
            && !ngx_http_ci_jobs_token_ok(creds->token, creds->token_len)))
    {
        creds->error = "the SecretKey or the Token is not printable ASCII "
                       "without spaces";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (creds->token && creds->token_len == 0) {
        creds->token = NULL;
    }

    return NGX_HTTP_CI_JOBS_PARSE_OK;
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


/* --- the metadata service ------------------------------------------------- */


#define NGX_HTTP_CI_JOBS_ROLE_MAX      128
#define NGX_HTTP_CI_JOBS_REFRESH       300     /* s before ExpiredTime */
#define NGX_HTTP_CI_JOBS_LIFETIME_MAX  43200   /* s: a longer one is not */


ngx_http_ci_jobs_parse_rc_e
ngx_http_ci_jobs_http_answer_parse(ngx_http_ci_jobs_http_answer_t *a,
    const u_char *data, size_t len)
{
    size_t         clen, name_len;
    const u_char  *p, *last, *eol, *colon, *v, *end;
    unsigned int   chunked, has_clen;

    memset(a, 0, sizeof(ngx_http_ci_jobs_http_answer_t));

    p = data;
    last = data + len;

    eol = memchr(p, '\n', len);

    if (eol == NULL || eol - p < 12
        || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1')
        || p[8] != ' '
        || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9'
        || (eol - p > 12 && p[12] != ' ' && p[12] != '\r'))
    {
        a->error = "no valid HTTP/1.x status line";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    a->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    chunked = 0;
    has_clen = 0;
    clen = 0;

    for (p = eol + 1; /* void */; p = eol + 1) {
        if (p >= last) {
            a->error = "the header is truncated";
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

        eol = memchr(p, '\n', last - p);
        if (eol == NULL) {
            a->error = "the header is truncated";
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

        end = ngx_http_ci_jobs_header_end(p, eol);

        if (end == p) {
            break;
        }

        colon = memchr(p, ':', end - p);
        if (colon == NULL || colon == p) {
            a->error = "a header line is not valid";
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

        name_len = colon - p;
        v = ngx_http_ci_jobs_skip_space(colon + 1, end);

        if (name_len == sizeof("Content-Length") - 1
            && strncasecmp((const char *) p, "Content-Length", name_len) == 0)
        {
            if (has_clen || v == end) {
                a->error = "a Content-Length is not valid";
                return NGX_HTTP_CI_JOBS_PARSE_ERROR;
            }

            has_clen = 1;

            for ( /* void */ ; v < end; v++) {
                if (*v < '0' || *v > '9' || clen > 100000000) {
                    a->error = "a Content-Length is not valid";
                    return NGX_HTTP_CI_JOBS_PARSE_ERROR;
                }

                clen = clen * 10 + (*v - '0');
            }

        } else if (name_len == sizeof("Transfer-Encoding") - 1
                   && strncasecmp((const char *) p, "Transfer-Encoding",
                                  name_len) == 0)
        {
            chunked = 1;
        }
    }

    if (chunked) {
        a->error = "a chunked answer to an HTTP/1.0 request";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    a->body = eol + 1;
    a->body_len = last - a->body;

    if (has_clen) {
        a->complete = (a->body_len >= clen);

        if (a->body_len < clen) {
            a->error = "the body is truncated";
            return NGX_HTTP_CI_JOBS_PARSE_ERROR;
        }

        a->body_len = clen;
    }

    return NGX_HTTP_CI_JOBS_PARSE_OK;
}


/* the line's end without its CR and trailing blanks */

static const u_char *
ngx_http_ci_jobs_header_end(const u_char *p, const u_char *eol)
{
    while (eol > p && (eol[-1] == '\r' || eol[-1] == ' ' || eol[-1] == '\t'))
    {
        eol--;
    }

    return eol;
}


ngx_http_ci_jobs_parse_rc_e
ngx_http_ci_jobs_metadata_role(const u_char *data, size_t len,
    const u_char **role, size_t *role_len, const char **error)
{
    const u_char  *p, *last, *end;

    last = data + len;
    p = ngx_http_ci_jobs_skip_space(data, last);

    if (p == last) {
        *error = "the role list is empty";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    end = memchr(p, '\n', last - p);
    if (end == NULL) {
        end = last;
    }

    end = ngx_http_ci_jobs_header_end(p, end);

    if (!ngx_http_ci_jobs_role_name_ok(p, end - p)) {
        *error = "the first role name is not valid";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    *role = p;
    *role_len = end - p;

    return NGX_HTTP_CI_JOBS_PARSE_OK;
}


int
ngx_http_ci_jobs_role_name_ok(const u_char *p, size_t len)
{
    size_t  i;

    /* ".", "..": a path segment of the metadata URL, not a role */
    for (i = 0; i < len && p[i] == '.'; i++) {
        /* void */
    }

    if (i == len) {
        return 0;
    }

    return ngx_http_ci_jobs_word_ok(p, len, "+=,.@_-");
}


ngx_http_ci_jobs_parse_rc_e
ngx_http_ci_jobs_metadata_credentials(
    ngx_http_ci_jobs_parsed_credentials_t *creds, const u_char *data,
    size_t len, time_t now)
{
    const u_char  *p;

    p = ngx_http_ci_jobs_skip_space(data, data + len);

    if (p == data + len || *p != '{') {
        memset(creds, 0, sizeof(ngx_http_ci_jobs_parsed_credentials_t));
        creds->error = "the answer is not a JSON object";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (ngx_http_ci_jobs_credentials_parse(creds, data, len)
        != NGX_HTTP_CI_JOBS_PARSE_OK)
    {
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (creds->code == NULL
        || !ngx_http_ci_jobs_str_is(creds->code, creds->code_len, "Success"))
    {
        creds->error = "its Code is not Success";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (creds->expires == 0) {
        creds->error = "no ExpiredTime";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    if (creds->expires <= now) {
        creds->error = "its ExpiredTime is in the past";
        return NGX_HTTP_CI_JOBS_PARSE_ERROR;
    }

    return NGX_HTTP_CI_JOBS_PARSE_OK;
}


int
ngx_http_ci_jobs_secret_id_ok(const u_char *p, size_t len)
{
    return ngx_http_ci_jobs_word_ok(p, len, "");
}


/*
 * 1 to NGX_HTTP_CI_JOBS_ROLE_MAX letters, digits and characters of also:
 * a role name's and a SecretId's alphabets.
 */

static int
ngx_http_ci_jobs_word_ok(const u_char *p, size_t len, const char *also)
{
    size_t  i;

    if (len == 0 || len > NGX_HTTP_CI_JOBS_ROLE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
            || (p[i] >= '0' && p[i] <= '9')
            || (p[i] != '\0' && strchr(also, p[i]) != NULL))
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/*
 * CI's and COS's codes for keys or a token that are not (or no longer)
 * valid, as against a signature or a clock that is wrong.
 */

int
ngx_http_ci_jobs_keys_refused(const u_char *body, size_t len)
{
    size_t         i, n;
    const u_char  *p, *last, *end;

    static const char  *codes[] = {
        "InvalidAccessKeyId",
        "ExpiredToken",
        "InvalidToken",
        "TokenExpired",
        "InvalidSecurityToken",
        "AccessKeyExpired",
        "AccessKeyDisabled",
    };

    last = body + len;

    for (p = body; last - p > 6; p++) {
        if (memcmp(p, "<Code>", 6) == 0) {
            break;
        }
    }

    if (last - p <= 6) {
        return 0;
    }

    p += 6;
    end = p;

    while (end < last && *end != '<') {
        end++;
    }

    if (end == last) {
        return 0;
    }

    n = end - p;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (strlen(codes[i]) == n && memcmp(p, codes[i], n) == 0) {
            return 1;
        }
    }

    return 0;
}


/*
 * Role credentials are fetched again when 300 seconds, or a third of
 * their lifetime if that is less, remain; a lifetime is taken for 12 hours
 * at most, whatever ExpiredTime says (one far in the future must not pin
 * keys that CI may revoke).
 */

int
ngx_http_ci_jobs_refresh_due(time_t expires, time_t fetched, time_t now)
{
    time_t  margin;

    if (expires - fetched > NGX_HTTP_CI_JOBS_LIFETIME_MAX) {
        expires = fetched + NGX_HTTP_CI_JOBS_LIFETIME_MAX;
    }

    margin = (expires - fetched) / 3;

    if (margin > NGX_HTTP_CI_JOBS_REFRESH) {
        margin = NGX_HTTP_CI_JOBS_REFRESH;
    }

    return expires - now <= margin;
}
