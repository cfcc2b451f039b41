
/*
 * libFuzzer target of the XML pass.  Invariants: an accepted body yields
 * valid JSON (checked by a strict validator written here) of valid UTF-8,
 * with no more terminal jobs than jobs; a refused one yields nothing.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_ci_jobs_xml.h"
#include "pool.h"


static const u_char  *p, *last;


static int json_value(int depth);


static void
ws(void)
{
    while (p < last && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
}


static int
json_string(void)
{
    int  n, i;

    if (p >= last || *p++ != '"') {
        return -1;
    }

    while (p < last && *p != '"') {
        if (*p < 0x20) {
            return -1;
        }

        if (*p == '\\') {
            p++;
            if (p >= last) {
                return -1;
            }

            if (*p == 'u') {
                for (i = 1; i <= 4; i++) {
                    if (p + i >= last || !strchr("0123456789abcdefABCDEF",
                                                 p[i]))
                    {
                        return -1;
                    }
                }

                p += 5;
                continue;
            }

            if (!strchr("\"\\/bfnrt", *p)) {
                return -1;
            }

            p++;
            continue;
        }

        if (*p < 0x80) {
            p++;
            continue;
        }

        n = (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
            : (*p & 0xf8) == 0xf0 ? 3 : -1;

        if (n < 0 || last - p <= n) {
            return -1;
        }

        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80) {
                return -1;
            }
        }

        p += n + 1;
    }

    if (p >= last) {
        return -1;
    }

    p++;
    return 0;
}


static int
json_value(int depth)
{
    char  close;

    if (depth > 1000) {
        return -1;
    }

    ws();

    if (p >= last) {
        return -1;
    }

    if (*p == '"') {
        return json_string();
    }

    if (*p != '{' && *p != '[') {
        return -1;
    }

    close = (*p == '{') ? '}' : ']';
    p++;
    ws();

    if (p < last && *p == close) {
        p++;
        return 0;
    }

    for ( ;; ) {
        if (close == '}') {
            ws();
            if (json_string() != 0) {
                return -1;
            }

            ws();
            if (p >= last || *p++ != ':') {
                return -1;
            }
        }

        if (json_value(depth + 1) != 0) {
            return -1;
        }

        ws();

        if (p >= last) {
            return -1;
        }

        if (*p == close) {
            p++;
            return 0;
        }

        if (*p++ != ',') {
            return -1;
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                            json, rc;
    ngx_http_ci_jobs_xml_conf_t    conf;
    ngx_http_ci_jobs_xml_result_t  res;

    static ngx_http_ci_jobs_name_t  names[] = {
        { (u_char *) "JobsDetail", 10 }
    };

    for (json = 0; json <= 1; json++) {
        memset(&conf, 0, sizeof(conf));
        conf.array_names = names;
        conf.narray_names = 1;
        conf.json = json;
        conf.alloc = pool_alloc;

        rc = ngx_http_ci_jobs_xml_parse(data, size, &conf, &res);

        if (rc == NGX_HTTP_CI_JOBS_XML_OK) {
            if (res.terminal_jobs > res.jobs) {
                abort();
            }

            if (json) {
                p = res.json;
                last = res.json + res.json_len;

                if (res.json == NULL || json_value(0) != 0) {
                    abort();
                }

                ws();

                if (p != last) {
                    abort();
                }
            }

        } else if (res.json != NULL || res.jobs || res.error == NULL) {
            abort();
        }

        pool_free();
    }

    return 0;
}
