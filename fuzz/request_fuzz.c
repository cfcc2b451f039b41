
/*
 * libFuzzer target of request validation and signing.  The input is a
 * path and a query separated by the first "?".  Invariants: an accepted
 * request names one of the five APIs and an upstream target made only of
 * safe characters; it signs; the query sent is the one signed.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_ci_jobs_request.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                             rc;
    size_t                          i, n, path_len, query_len;
    u_char                         *scratch, *target, *auth;
    const u_char                   *q;
    ngx_http_ci_jobs_pair_t         host = { (u_char *) "host", 4,
                                             (u_char *) "h.example", 9 };
    ngx_http_ci_jobs_request_t      req;
    ngx_http_ci_jobs_sign_input_t   in;
    ngx_http_ci_jobs_sign_key_t     key;

    q = memchr(data, '?', size);
    path_len = q ? (size_t) (q - data) : size;
    query_len = q ? size - path_len - 1 : 0;

    scratch = malloc(path_len + query_len + 1);

    rc = ngx_http_ci_jobs_parse_request(&req, data, path_len,
                                        q ? q + 1 : NULL, query_len, scratch);

    if (rc != NGX_HTTP_CI_JOBS_REQUEST_OK) {
        if ((rc != 400 && rc != 404) || req.error == NULL) {
            abort();
        }

        free(scratch);
        return 0;
    }

    if (req.api >= NGX_HTTP_CI_JOBS_API_COUNT
        || (!ngx_http_ci_jobs_api_is_list(req.api)
            && (req.nids == 0 || req.nids > NGX_HTTP_CI_JOBS_MAX_IDS)))
    {
        abort();
    }

    n = ngx_http_ci_jobs_request_path(NULL, &req);
    n += 1 + ngx_http_ci_jobs_request_query(NULL, &req);
    target = malloc(n);

    n = ngx_http_ci_jobs_request_path(target, &req);

    /* the path: "/" api ["/" ids], letters, digits, "_", ","  only */
    for (i = 0; i < n; i++) {
        if (!strchr("abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_,/", target[i]))
        {
            abort();
        }
    }

    n += ngx_http_ci_jobs_request_query(target + n, &req);

    for (i = 0; i < n; i++) {
        if (target[i] <= 0x20 || target[i] >= 0x7f || target[i] == '#'
            || target[i] == '+')
        {
            abort();
        }
    }

    ngx_http_ci_jobs_sign_key(&key, (u_char *) "k", 1, 1, 2);

    memset(&in, 0, sizeof(in));
    in.method = (u_char *) "get";
    in.method_len = 3;
    in.path = target;
    in.path_len = ngx_http_ci_jobs_request_path(NULL, &req);
    in.params = req.params;
    in.nparams = req.nparams;
    in.headers = &host;
    in.nheaders = 1;
    in.secret_id = (u_char *) "id";
    in.secret_id_len = 2;
    in.key = &key;

    auth = malloc(ngx_http_ci_jobs_sign_size(&in));

    if (ngx_http_ci_jobs_sign(auth, &in) == 0) {
        abort();
    }

    free(auth);
    free(target);
    free(scratch);

    return 0;
}
