
/*
 * The Prefer request header (RFC 7240): the "wait" preference.
 *
 *   Prefer     = 1#preference
 *   preference = token [ BWS "=" BWS word ]
 *                *( OWS ";" [ OWS parameter ] )
 *   word       = token / quoted-string
 */


#include "ngx_http_ci_jobs_prefer.h"


static const u_char *ngx_http_ci_jobs_prefer_skip(const u_char *p,
    const u_char *last, u_char stop);


long
ngx_http_ci_jobs_prefer_wait(const u_char *p, size_t len)
{
    long           wait;
    size_t         n;
    const u_char  *last, *name;

    last = p + len;

    while (p < last) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        name = p;

        while (p < last && *p != '=' && *p != ',' && *p != ';'
               && *p != ' ' && *p != '\t')
        {
            p++;
        }

        n = p - name;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (n == 4
            && (name[0] | 0x20) == 'w' && (name[1] | 0x20) == 'a'
            && (name[2] | 0x20) == 'i' && (name[3] | 0x20) == 't'
            && p < last && *p == '=')
        {
            p++;

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (p < last && *p == '"') {
                p++;
            }

            if (p == last || *p < '0' || *p > '9') {
                return -1;
            }

            wait = 0;

            while (p < last && *p >= '0' && *p <= '9') {
                if (wait < NGX_HTTP_CI_JOBS_PREFER_WAIT_MAX) {
                    wait = wait * 10 + (*p - '0');
                }

                p++;
            }

            if (p < last && *p == '"') {
                p++;
            }

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            if (p < last && *p != ',' && *p != ';') {
                return -1;
            }

            return (wait < NGX_HTTP_CI_JOBS_PREFER_WAIT_MAX)
                   ? wait : NGX_HTTP_CI_JOBS_PREFER_WAIT_MAX;
        }

        /* another preference, its value and parameters */

        p = ngx_http_ci_jobs_prefer_skip(p, last, ',');
    }

    return -1;
}


/* past the next stop character outside a quoted string, or to last */

static const u_char *
ngx_http_ci_jobs_prefer_skip(const u_char *p, const u_char *last, u_char stop)
{
    int  quoted;

    quoted = 0;

    while (p < last) {

        if (quoted && *p == '\\' && last - p > 1) {
            p += 2;
            continue;
        }

        if (*p == '"') {
            quoted = !quoted;

        } else if (!quoted && *p == stop) {
            return p + 1;
        }

        p++;
    }

    return p;
}
