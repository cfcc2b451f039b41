
/*
 * The credentials file: both formats, and every way it can be unusable,
 * with error messages that never quote a value.
 */


#include <stdint.h>

#include "tap.h"
#include "ngx_http_ci_jobs_credentials.h"


static int
parse(ngx_http_ci_jobs_credentials_t *c, const char *s)
{
    return ngx_http_ci_jobs_credentials_parse(c, (const u_char *) s,
                                              strlen(s));
}


int
main(void)
{
    size_t                          i;
    ngx_http_ci_jobs_credentials_t  c;

    static const char  *bad[] = {
        "",
        "  \n\n",
        "SecretId=AKID1\n",
        "SecretKey=k1\n",
        "SecretId=AKID1\nSecretKey=\n",
        "SecretId=AKID1\nSecretKey=k 1\n",
        "SecretId=AKID1\nSecretKey=k1\nPassword=x\n",
        "SecretId AKID1\nSecretKey=k1\n",
        "{\"TmpSecretId\":\"AKID1\"}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\"",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k\\u00311\"}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\"} trailing",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\",}x",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\",\"A\":[1]}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\",\"Token\":\"t\x01\"}",
    };

    tap_ok(parse(&c, "SecretId=AKID1\nSecretKey=k1\n") == 0, "lines");
    tap_is_mem(c.id, c.id_len, "AKID1", "lines: SecretId");
    tap_is_mem(c.key, c.key_len, "k1", "lines: SecretKey");
    tap_ok(c.token == NULL && c.expires == 0, "lines: no token");

    tap_ok(parse(&c, "# rotated daily\r\n\r\n  SecretId = AKID2 \r\n"
                     "SecretKey=k2\r\nToken=tok2") == 0,
           "lines with comments, spaces, CRLF, no final newline");
    tap_is_mem(c.id, c.id_len, "AKID2", "trimmed SecretId");
    tap_is_mem(c.token, c.token_len, "tok2", "Token");

    tap_ok(parse(&c, "{\"TmpSecretId\": \"AKID3\", \"TmpSecretKey\": \"k3\","
                     " \"ExpiredTime\": 1592206680, \"Expiration\": "
                     "\"2020-06-15T07:38:00Z\", \"Token\": \"tok3\", "
                     "\"Code\": \"Success\"}\n") == 0,
           "the CVM role JSON");
    tap_is_mem(c.id, c.id_len, "AKID3", "JSON: TmpSecretId");
    tap_is_mem(c.key, c.key_len, "k3", "JSON: TmpSecretKey");
    tap_is_mem(c.token, c.token_len, "tok3", "JSON: Token");
    tap_ok(c.expires == 1592206680, "JSON: ExpiredTime");

    /* the message is the parser's own text, never a piece of the file */

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tap_ok(parse(&c, bad[i]) == -1 && c.error != NULL
               && ((uintptr_t) c.error < (uintptr_t) bad[i]
                   || (uintptr_t) c.error > (uintptr_t) bad[i]
                                            + strlen(bad[i])),
               "unusable file %zu: refused (%s)", i, c.error);
    }

    return tap_done();
}
