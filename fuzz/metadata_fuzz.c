
/*
 * libFuzzer target of the metadata service's answer parsers
 * (src/ngx_http_ci_jobs_credentials_parse.c).  The input is a whole HTTP
 * answer, as read to the connection's end.
 *
 * Invariants, each checked with abort():
 * - the answer parser says 0 with a status of 100-599 and a body inside
 *   the input, or -1 with an error that lies outside the input;
 * - the body, as a role list: 0 with a valid role name inside it, or -1
 *   with an error; as a role's JSON: 0 with Code "Success", an
 *   ExpiredTime later than now and values inside the body, printable
 *   ASCII without spaces; or -1 with an error outside the input;
 * - the same bytes at another address give the same answers;
 * - nothing is read outside the input (AddressSanitizer).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_ci_jobs_credentials_parse.h"


#define FUZZ_NOW  1600000000


static void fuzz_inside(const u_char *p, size_t len, const u_char *data,
    size_t size);
static void fuzz_outside(const char *error, const u_char *data, size_t size);
static void fuzz_body(const u_char *body, size_t len, const u_char *data,
    size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                             rc, crc;
    u_char                         *copy;
    ngx_http_ci_jobs_http_answer_t  a, ca;

    rc = ngx_http_ci_jobs_http_answer_parse(&a, data, size);

    if (rc == 0) {
        if (a.error != NULL || a.status < 100 || a.status > 599) {
            abort();
        }

        fuzz_inside(a.body, a.body_len, data, size);
        fuzz_body(a.body, a.body_len, data, size);

    } else if (rc == -1) {
        fuzz_outside(a.error, data, size);

    } else {
        abort();
    }

    /* the whole input as a body too */
    fuzz_body(data, size, data, size);

    copy = malloc(size + 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    crc = ngx_http_ci_jobs_http_answer_parse(&ca, copy, size);

    if (crc != rc
        || (rc == 0 && (ca.status != a.status || ca.body_len != a.body_len
                        || ca.body - copy != a.body - data))
        || (rc == -1 && strcmp(ca.error, a.error) != 0))
    {
        abort();
    }

    free(copy);

    return 0;
}


static void
fuzz_body(const u_char *body, size_t len, const u_char *data, size_t size)
{
    size_t                                  i, role_len;
    const char                             *error;
    const u_char                           *role;
    ngx_http_ci_jobs_parsed_credentials_t   c;

    error = NULL;

    if (ngx_http_ci_jobs_metadata_role(body, len, &role, &role_len, &error)
        == 0)
    {
        fuzz_inside(role, role_len, body, len);

        if (!ngx_http_ci_jobs_role_name_ok(role, role_len)) {
            abort();
        }

    } else {
        fuzz_outside(error, data, size);
    }

    if (ngx_http_ci_jobs_metadata_credentials(&c, body, len, FUZZ_NOW) == 0) {
        if (c.error != NULL || c.expires <= FUZZ_NOW || c.code == NULL
            || c.code_len != 7 || memcmp(c.code, "Success", 7) != 0
            || c.id_len == 0 || c.key_len == 0)
        {
            abort();
        }

        fuzz_inside(c.id, c.id_len, body, len);
        fuzz_inside(c.key, c.key_len, body, len);

        for (i = 0; i < c.key_len; i++) {
            if (c.key[i] <= 0x20 || c.key[i] >= 0x7f) {
                abort();
            }
        }

        if (c.token != NULL) {
            fuzz_inside(c.token, c.token_len, body, len);
        }

    } else {
        fuzz_outside(c.error, data, size);
    }
}


static void
fuzz_inside(const u_char *p, size_t len, const u_char *data, size_t size)
{
    if (len > size || (len && (p < data || p > data + size - len))) {
        abort();
    }
}


static void
fuzz_outside(const char *error, const u_char *data, size_t size)
{
    if (error == NULL) {
        abort();
    }

    if (size && (const u_char *) error >= data
        && (const u_char *) error < data + size)
    {
        abort();
    }
}
