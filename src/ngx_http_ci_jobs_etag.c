
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


/* each byte's two digits at once: a load and a store, not two of each */

static u_char *
ngx_http_ci_jobs_hex(u_char *dst, const u_char *src, size_t len)
{
    static const char  pairs[512 + 1] =
    "00" "01" "02" "03" "04" "05" "06" "07"
    "08" "09" "0a" "0b" "0c" "0d" "0e" "0f"
    "10" "11" "12" "13" "14" "15" "16" "17"
    "18" "19" "1a" "1b" "1c" "1d" "1e" "1f"
    "20" "21" "22" "23" "24" "25" "26" "27"
    "28" "29" "2a" "2b" "2c" "2d" "2e" "2f"
    "30" "31" "32" "33" "34" "35" "36" "37"
    "38" "39" "3a" "3b" "3c" "3d" "3e" "3f"
    "40" "41" "42" "43" "44" "45" "46" "47"
    "48" "49" "4a" "4b" "4c" "4d" "4e" "4f"
    "50" "51" "52" "53" "54" "55" "56" "57"
    "58" "59" "5a" "5b" "5c" "5d" "5e" "5f"
    "60" "61" "62" "63" "64" "65" "66" "67"
    "68" "69" "6a" "6b" "6c" "6d" "6e" "6f"
    "70" "71" "72" "73" "74" "75" "76" "77"
    "78" "79" "7a" "7b" "7c" "7d" "7e" "7f"
    "80" "81" "82" "83" "84" "85" "86" "87"
    "88" "89" "8a" "8b" "8c" "8d" "8e" "8f"
    "90" "91" "92" "93" "94" "95" "96" "97"
    "98" "99" "9a" "9b" "9c" "9d" "9e" "9f"
    "a0" "a1" "a2" "a3" "a4" "a5" "a6" "a7"
    "a8" "a9" "aa" "ab" "ac" "ad" "ae" "af"
    "b0" "b1" "b2" "b3" "b4" "b5" "b6" "b7"
    "b8" "b9" "ba" "bb" "bc" "bd" "be" "bf"
    "c0" "c1" "c2" "c3" "c4" "c5" "c6" "c7"
    "c8" "c9" "ca" "cb" "cc" "cd" "ce" "cf"
    "d0" "d1" "d2" "d3" "d4" "d5" "d6" "d7"
    "d8" "d9" "da" "db" "dc" "dd" "de" "df"
    "e0" "e1" "e2" "e3" "e4" "e5" "e6" "e7"
    "e8" "e9" "ea" "eb" "ec" "ed" "ee" "ef"
    "f0" "f1" "f2" "f3" "f4" "f5" "f6" "f7"
    "f8" "f9" "fa" "fb" "fc" "fd" "fe" "ff";

    while (len--) {
        memcpy(dst, &pairs[*src++ * 2], 2);
        dst += 2;
    }

    return dst;
}
