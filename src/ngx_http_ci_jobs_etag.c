
/*
 * The ETag of an id lookup's answer, and If-None-Match against it.
 */


#include <string.h>

/* the SHA1_* calls: no provider fetch, no allocation, as ngx_sha1.h */
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif

#include <openssl/sha.h>

#include "ngx_http_ci_jobs_etag.h"


static u_char *ngx_http_ci_jobs_hex(u_char *dst, const u_char *src,
    size_t len);


void
ngx_http_ci_jobs_etag_digest(const u_char *xml, size_t len, u_char *digest)
{
    u_char   md[SHA_DIGEST_LENGTH];
    SHA_CTX  sha;

    SHA1_Init(&sha);
    SHA1_Update(&sha, xml, len);
    SHA1_Final(md, &sha);

    memcpy(digest, md, NGX_HTTP_CI_JOBS_DIGEST_LEN);
}


size_t
ngx_http_ci_jobs_etag(u_char *dst, const u_char *digest,
    const ngx_http_ci_jobs_name_t *names, size_t n)
{
    size_t    i, j;
    u_char   *p, tag[4];
    uint32_t  h;

    p = dst;

    *p++ = '"';
    p = ngx_http_ci_jobs_hex(p, digest, NGX_HTTP_CI_JOBS_DIGEST_LEN);

    if (names != NULL) {
        /* FNV-1a over the names, each ended by a 0 */

        h = 2166136261u;

        for (i = 0; i < n; i++) {
            for (j = 0; j < names[i].len; j++) {
                h = (h ^ names[i].data[j]) * 16777619u;
            }

            h *= 16777619u;
        }

        tag[0] = (u_char) (h >> 24);
        tag[1] = (u_char) (h >> 16);
        tag[2] = (u_char) (h >> 8);
        tag[3] = (u_char) h;

        *p++ = '-';
        *p++ = 'j';
        p = ngx_http_ci_jobs_hex(p, tag, 4);
    }

    *p++ = '"';

    return p - dst;
}


int
ngx_http_ci_jobs_etag_match(const u_char *list, size_t len,
    const u_char *etag, size_t etag_len)
{
    const u_char  *p, *last, *start;

    p = list;
    last = list + len;

    for ( ;; ) {

        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p == last) {
            return 0;
        }

        if (*p == '*') {
            return 1;
        }

        if (last - p > 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }

        if (*p != '"') {
            return 0;
        }

        start = p++;

        while (p < last && *p != '"') {
            p++;
        }

        if (p == last) {
            return 0;
        }

        p++;

        if ((size_t) (p - start) == etag_len
            && memcmp(start, etag, etag_len) == 0)
        {
            return 1;
        }
    }
}


static u_char *
ngx_http_ci_jobs_hex(u_char *dst, const u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}
