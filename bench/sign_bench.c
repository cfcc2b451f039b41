
/*
 * Nanoseconds per signature of a list query (four parameters, host
 * signed), with the SignKey computed for each request and with it reused,
 * as the module does within a KeyTime window; and per request validation.
 *
 *   make bench-sign
 */


#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ngx_http_ci_jobs_request.h"


#define N  200000


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


int
main(void)
{
    int                            i;
    double                         t0, fresh, reused, validate;
    size_t                         n, sink;
    ngx_http_ci_jobs_sign_key_t    key;
    u_char                         out[1024], scratch[512];
    ngx_http_ci_jobs_request_t     req;
    ngx_http_ci_jobs_sign_input_t  in;

    static const char  path[] = "jobs";
    static const char  query[] = "queueId=p893bcda225bf4945a378da6662e81a89"
                                 "&tag=Translation&states=Success,Failed"
                                 "&size=10";
    static const char  secret[] = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz";

    ngx_http_ci_jobs_pair_t  host = {
        (u_char *) "host", 4,
        (u_char *) "examplebucket-1250000000.ci.ap-beijing.myqcloud.com", 52
    };

    sink = 0;

    t0 = now_ns();
    for (i = 0; i < N; i++) {
        sink += ngx_http_ci_jobs_parse_request(&req, (u_char *) path,
                                               sizeof(path) - 1,
                                               (u_char *) query,
                                               sizeof(query) - 1, scratch);
    }
    validate = (now_ns() - t0) / N;

    memset(&in, 0, sizeof(in));
    in.method = (u_char *) "get";
    in.method_len = 3;
    in.path = (u_char *) "/jobs";
    in.path_len = 5;
    in.params = req.params;
    in.nparams = req.nparams;
    in.headers = &host;
    in.nheaders = 1;
    in.secret_id = (u_char *) "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q";
    in.secret_id_len = 36;
    in.key = &key;

    t0 = now_ns();
    for (i = 0; i < N; i++) {
        ngx_http_ci_jobs_sign_key(&key, (u_char *) secret, sizeof(secret) - 1,
                                  1700000000, 1700000900);
        n = ngx_http_ci_jobs_sign(out, &in);
        sink += n;
    }
    fresh = (now_ns() - t0) / N;

    t0 = now_ns();
    for (i = 0; i < N; i++) {
        n = ngx_http_ci_jobs_sign(out, &in);
        sink += n;
    }
    reused = (now_ns() - t0) / N;

    printf("request validation (list, 4 parameters): %7.0f ns\n", validate);
    printf("signature, SignKey computed each time:   %7.0f ns\n", fresh);
    printf("signature, SignKey reused:               %7.0f ns\n", reused);
    printf("(checksum %zu)\n", sink);

    return 0;
}
