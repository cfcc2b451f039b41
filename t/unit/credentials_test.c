
/*
 * The credentials file: both formats, and every way it can be unusable,
 * with error messages that never quote a value.
 */


#include <stdint.h>

#include "tap.h"
#include "ngx_http_ci_jobs_credentials_parse.h"


static int
answer(ngx_http_ci_jobs_http_answer_t *a, const char *s)
{
    return ngx_http_ci_jobs_http_answer_parse(a, (const u_char *) s,
                                              strlen(s));
}


static int
role_json(ngx_http_ci_jobs_parsed_credentials_t *c, const char *s)
{
    return ngx_http_ci_jobs_metadata_credentials(c, (const u_char *) s,
                                                 strlen(s), 1600000000);
}


static int
refused(const char *s)
{
    return ngx_http_ci_jobs_keys_refused((const u_char *) s, strlen(s));
}


static int
parse(ngx_http_ci_jobs_parsed_credentials_t *c, const char *s)
{
    return ngx_http_ci_jobs_credentials_parse(c, (const u_char *) s,
                                              strlen(s));
}


int
main(void)
{
    size_t                                  i, role_len;
    const char                             *error;
    const u_char                           *role;
    ngx_http_ci_jobs_http_answer_t          a;
    ngx_http_ci_jobs_parsed_credentials_t   c;

    static const char  *bad_answers[] = {
        "",
        "HTTP/1.1 200 OK\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n"
        "\r\nx",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
    };

    static const char  *bad_roles[] = {
        "",
        "not json",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"ExpiredTime\":1600007200}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"ExpiredTime\":1600007200,\"Code\":\"Failure\"}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"Code\":\"Success\"}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"ExpiredTime\":1599999999,\"Code\":\"Success\"}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"ExpiredTime\":1600007200,\"Code\":\"Success\"",
        "{\"Code\":\"Success\",\"ExpiredTime\":1600007200}",
    };

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
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"TmpSecretKey\":\"k2\"}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"ExpiredTime\":-1}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
        "\"ExpiredTime\":1.5}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\",\"A\":null}",
        "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k\\/1\"}",
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

    tap_ok(parse(&c, "{\"Code\":\"k5\",\"TmpSecretId\":\"AKID5\","
                     "\"TmpSecretKey\":\"k5\"}") == 0,
           "JSON: a value written twice");
    tap_is_mem(c.key, c.key_len, "k5", "JSON: either place holds it");

    /* the message is the parser's own text, never a piece of the file */

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tap_ok(parse(&c, bad[i]) == -1 && c.error != NULL
               && ((uintptr_t) c.error < (uintptr_t) bad[i]
                   || (uintptr_t) c.error > (uintptr_t) bad[i]
                                            + strlen(bad[i])),
               "unusable file %zu: refused (%s)", i, c.error);
    }

    /* the metadata service's answers */

    tap_ok(answer(&a, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                      "Content-Length: 5\r\n\r\nrole1extra") == 0
           && a.status == 200, "an answer with Content-Length");
    tap_is_mem(a.body, a.body_len, "role1", "its body, to the length");

    tap_ok(answer(&a, "HTTP/1.0 404 Not Found\r\n\r\nnope") == 0
           && a.status == 404, "an answer read to the end");
    tap_is_mem(a.body, a.body_len, "nope", "its body");

    tap_ok(answer(&a, "HTTP/1.1 200\nServer: x\n\n") == 0
           && a.status == 200 && a.body_len == 0,
           "bare LF, no reason phrase, empty body");

    for (i = 0; i < sizeof(bad_answers) / sizeof(bad_answers[0]); i++) {
        tap_ok(answer(&a, bad_answers[i]) == -1 && a.error != NULL,
               "bad answer %zu: refused (%s)", i, a.error);
    }

    tap_ok(ngx_http_ci_jobs_metadata_role((const u_char *) "\n ci-gateway\r\n"
                                          "other\n", 19, &role, &role_len,
                                          &error) == 0,
           "the first role of a list");
    tap_is_mem(role, role_len, "ci-gateway", "its name");

    tap_ok(ngx_http_ci_jobs_metadata_role((const u_char *) " \r\n", 3,
                                          &role, &role_len, &error) == -1
           && strcmp(error, "the role list is empty") == 0,
           "an empty role list");

    tap_ok(ngx_http_ci_jobs_metadata_role((const u_char *) "<html>", 6,
                                          &role, &role_len, &error) == -1,
           "a role list that is no list");

    tap_ok(role_json(&c, "{\"TmpSecretId\":\"AKID4\",\"TmpSecretKey\":"
                         "\"k4\",\"Token\":\"t4\",\"ExpiredTime\":"
                         "1600007200,\"Expiration\":\"x\",\"Code\":"
                         "\"Success\"}") == 0
           && c.expires == 1600007200, "a role's credentials");
    tap_is_mem(c.token, c.token_len, "t4", "and their token");

    for (i = 0; i < sizeof(bad_roles) / sizeof(bad_roles[0]); i++) {
        tap_ok(role_json(&c, bad_roles[i]) == -1 && c.error != NULL
               && strstr(c.error, "k1") == NULL,
               "bad role answer %zu: refused (%s)", i, c.error);
    }

    tap_ok(ngx_http_ci_jobs_role_name_ok((const u_char *) "a.b@c_d-e+f=,", 13)
           && !ngx_http_ci_jobs_role_name_ok((const u_char *) "a/b", 3)
           && !ngx_http_ci_jobs_role_name_ok((const u_char *) "", 0),
           "role names");

    tap_ok(!ngx_http_ci_jobs_role_name_ok((const u_char *) "..", 2)
           && !ngx_http_ci_jobs_role_name_ok((const u_char *) ".", 1)
           && ngx_http_ci_jobs_role_name_ok((const u_char *) "..a", 3),
           "a role name of dots only is a path segment: refused");

    tap_ok(parse(&c, "SecretId=AKID1&q-ak=x\nSecretKey=k1\n") == -1
           && strcmp(c.error, "the SecretId is not letters and digits only")
              == 0, "a SecretId with \"&\": refused, saying why");
    tap_ok(parse(&c, "SecretId=AKID=1\nSecretKey=k1\n") == -1,
           "a SecretId with \"=\": refused");
    tap_ok(ngx_http_ci_jobs_secret_id_ok((const u_char *) "AKIDz09", 7)
           && !ngx_http_ci_jobs_secret_id_ok((const u_char *) "AK-ID", 5),
           "SecretIds: letters and digits");

    {
        static char  json[8192];

        memset(json, 0, sizeof(json));
        strcpy(json, "{\"TmpSecretId\":\"AKID1\",\"TmpSecretKey\":\"k1\","
                     "\"Token\":\"");
        memset(json + strlen(json), 't', 4096);
        strcat(json, "\"}");

        tap_ok(parse(&c, json) == 0 && c.token_len == 4096,
               "a 4096-byte token: taken");

        json[strlen(json) - 2] = 't';
        strcat(json, "\"}");

        tap_ok(parse(&c, json) == -1
               && strcmp(c.error, "the SecretKey or the Token is longer "
                                  "than 4096 bytes") == 0,
               "a 4097-byte token: refused, saying why (%s)", c.error);
    }

    tap_ok(answer(&a, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                      "Connection: keep-alive\r\n\r\nabc") == 0
           && a.complete, "an answer whose Content-Length is in: complete");
    tap_ok(answer(&a, "HTTP/1.1 200 OK\r\n\r\nabc") == 0 && !a.complete,
           "without Content-Length: read to the connection's end");

    tap_ok(refused("<?xml version='1.0'?><Error><Code>InvalidAccessKeyId</Code>"
               "<Message>m</Message></Error>")
           && refused("<Error><Code>ExpiredToken</Code></Error>")
           && refused("<Error><Code>InvalidToken</Code></Error>"),
           "keys refused: InvalidAccessKeyId, ExpiredToken, InvalidToken");
    tap_ok(!refused("<Error><Code>SignatureDoesNotMatch</Code></Error>")
           && !refused("<Error><Code>InvalidAccessKeyIdx</Code></Error>")
           && !refused("<Error><Code>InvalidAccessKeyId")
           && !refused("<Code>"),
           "not for a signature, another code, or a truncated one");

    tap_ok(!ngx_http_ci_jobs_refresh_due(1000 + 7200, 1000, 1000 + 6899)
           && ngx_http_ci_jobs_refresh_due(1000 + 7200, 1000, 1000 + 6900),
           "a 2-hour lifetime: refreshed 300 s before it ends");
    tap_ok(!ngx_http_ci_jobs_refresh_due(1000 + 12, 1000, 1000 + 7)
           && ngx_http_ci_jobs_refresh_due(1000 + 12, 1000, 1000 + 8),
           "a 12 s lifetime: with a third of it left");
    tap_ok(!ngx_http_ci_jobs_refresh_due(99999999999LL, 1800000000,
                                         1800000000 + 43199 - 300)
           && ngx_http_ci_jobs_refresh_due(99999999999LL, 1800000000,
                                           1800000000 + 43200 - 300),
           "ExpiredTime 99999999999: refreshed as if it were 12 h away");

    return tap_done();
}
