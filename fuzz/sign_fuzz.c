
/*
 * libFuzzer target of the percent-encoder and the COS signer
 * (src/ngx_http_ci_jobs_sign.c).
 *
 * The input, read in order, a missing byte read as 0: the number of
 * params and of headers (each modulo NGX_HTTP_CI_JOBS_MAX_PAIRS + 4, so
 * up to and over the limit), KeyTime start and end (8 bytes each, little
 * endian, signed), then method, path, SecretId, SecretKey and each param's
 * and header's name and value, each a length byte and that many bytes.
 * The whole input is also percent-encoded.
 *
 * Invariants, each checked with abort():
 * - uri_encode: the length computed with dst NULL is the length written
 *   (into exactly as much: AddressSanitizer); the output is unreserved
 *   bytes and %XX of upper-case hex of the other bytes only, and decodes
 *   back to the input;
 * - sign: more than NGX_HTTP_CI_JOBS_MAX_PAIRS params or headers return
 *   0; otherwise 0 only when the HttpString may not fit its buffer (its
 *   worst case, every byte encoded, over 16384 bytes); a signature is
 *   written within ngx_http_ci_jobs_sign_size() bytes (the buffer is
 *   exactly as long);
 * - the Authorization is "q-sign-algorithm=sha1&q-ak=<SecretId>
 *   &q-sign-time=<KeyTime>&q-key-time=<KeyTime>&q-header-list=<list>
 *   &q-url-param-list=<list>&q-signature=<40 lower-case hex>", each list
 *   the names lower-cased, percent-encoded (lower-case hex), sorted and
 *   ";"-joined, one per pair;
 * - it is the one computed here independently from the documented rules
 *   of the COS request signature with OpenSSL's one-shot HMAC(), and the
 *   SignKey is too;
 * - signing is deterministic; the pairs in reverse order give the same
 *   lists, and the same Authorization when no two names of a list encode
 *   alike (else the order of their values is the input's).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_ci_jobs_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


#define FUZZ_HTTP_STRING_MAX  16384


typedef struct {
    const u_char  *p;
    const u_char  *last;
} fuzz_in_t;


typedef struct {
    u_char        *name;      /* lower-cased, encoded */
    size_t         name_len;
    size_t         index;     /* in the input: the sort is stable */
} fuzz_name_t;


static void *fuzz_malloc(size_t size);
static u_char fuzz_byte(fuzz_in_t *in);
static int64_t fuzz_int64(fuzz_in_t *in);
static const u_char *fuzz_bytes(fuzz_in_t *in, size_t *len);
static void fuzz_check_encode(const u_char *data, size_t size);
static int fuzz_unreserved(u_char c);
static int fuzz_hex(u_char c, const char *digits);
static size_t fuzz_encode(u_char *dst, const u_char *src, size_t len,
    int lower);
static fuzz_name_t *fuzz_names(const ngx_http_ci_jobs_pair_t *pairs,
    size_t n);
static void fuzz_names_free(fuzz_name_t *names, size_t n);
static int fuzz_name_cmp(const void *one, const void *two);
static int fuzz_names_distinct(const fuzz_name_t *names, size_t n);
static size_t fuzz_worst(const ngx_http_ci_jobs_pair_t *pairs, size_t n);
static u_char *fuzz_reference(const ngx_http_ci_jobs_sign_input_t *in,
    const u_char *secret_key, size_t secret_key_len, size_t *len,
    const ngx_http_ci_jobs_sign_key_t *key);
static u_char *fuzz_write_pairs(u_char *p,
    const ngx_http_ci_jobs_pair_t *pairs, const fuzz_name_t *names,
    size_t n);
static u_char *fuzz_write_list(u_char *p, const fuzz_name_t *names,
    size_t n);
static u_char *fuzz_write_hex(u_char *p, const u_char *md, size_t len);
static void fuzz_check_form(const u_char *auth, size_t len,
    const ngx_http_ci_jobs_sign_input_t *in);
static const u_char *fuzz_check_list(const u_char *p, const u_char *last,
    size_t n);
static const u_char *fuzz_expect(const u_char *p, const u_char *last,
    const void *s, size_t len);
static void fuzz_check_lists_equal(const ngx_http_ci_jobs_sign_input_t *in,
    const u_char *a, size_t alen, const u_char *b, size_t blen);
static ngx_http_ci_jobs_pair_t *fuzz_reversed(
    const ngx_http_ci_jobs_pair_t *pairs, size_t n);


/* this input's KeyTime, which the references write themselves */
static time_t  fuzz_start;
static time_t  fuzz_end;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                          i, n, m, r, bound, secret_key_len;
    u_char                         *auth, *again, *ref, *rev;
    fuzz_in_t                       in;
    fuzz_name_t                    *pnames, *hnames;
    const u_char                   *secret_key;
    ngx_http_ci_jobs_pair_t        *params, *headers, *rparams, *rheaders;
    ngx_http_ci_jobs_sign_key_t     key;
    ngx_http_ci_jobs_sign_input_t   si;

    fuzz_check_encode(data, size);

    in.p = data;
    in.last = data + size;

    memset(&si, 0, sizeof(si));

    si.nparams = fuzz_byte(&in) % (NGX_HTTP_CI_JOBS_MAX_PAIRS + 4);
    si.nheaders = fuzz_byte(&in) % (NGX_HTTP_CI_JOBS_MAX_PAIRS + 4);
    fuzz_start = (time_t) fuzz_int64(&in);
    fuzz_end = (time_t) fuzz_int64(&in);

    si.method = fuzz_bytes(&in, &si.method_len);
    si.path = fuzz_bytes(&in, &si.path_len);
    si.secret_id = fuzz_bytes(&in, &si.secret_id_len);
    secret_key = fuzz_bytes(&in, &secret_key_len);

    params = fuzz_malloc((si.nparams + 1) * sizeof(ngx_http_ci_jobs_pair_t));
    headers = fuzz_malloc((si.nheaders + 1) * sizeof(ngx_http_ci_jobs_pair_t));

    for (i = 0; i < si.nparams; i++) {
        params[i].name = fuzz_bytes(&in, &params[i].name_len);
        params[i].value = fuzz_bytes(&in, &params[i].value_len);
    }

    for (i = 0; i < si.nheaders; i++) {
        headers[i].name = fuzz_bytes(&in, &headers[i].name_len);
        headers[i].value = fuzz_bytes(&in, &headers[i].value_len);
    }

    si.params = params;
    si.headers = headers;

    if (ngx_http_ci_jobs_sign_key(&key, secret_key, secret_key_len,
                                  fuzz_start, fuzz_end)
        != 0)
    {
        abort();
    }

    si.key = &key;

    bound = ngx_http_ci_jobs_sign_size(&si);

    auth = fuzz_malloc(bound);
    again = fuzz_malloc(bound);

    n = ngx_http_ci_jobs_sign(auth, &si);

    if (n == 0) {
        if (si.nparams <= NGX_HTTP_CI_JOBS_MAX_PAIRS
            && si.nheaders <= NGX_HTTP_CI_JOBS_MAX_PAIRS
            && si.method_len + si.path_len + 4
               + fuzz_worst(params, si.nparams)
               + fuzz_worst(headers, si.nheaders)
               <= FUZZ_HTTP_STRING_MAX)
        {
            abort();
        }

        goto done;
    }

    if (si.nparams > NGX_HTTP_CI_JOBS_MAX_PAIRS
        || si.nheaders > NGX_HTTP_CI_JOBS_MAX_PAIRS
        || n > bound)
    {
        abort();
    }

    fuzz_check_form(auth, n, &si);

    /* the independent computation */

    ref = fuzz_reference(&si, secret_key, secret_key_len, &r, &key);

    if (r != n || memcmp(ref, auth, n) != 0) {
        abort();
    }

    free(ref);

    /* deterministic */

    memset(again, 0x5a, bound);

    m = ngx_http_ci_jobs_sign(again, &si);

    if (m != n || memcmp(again, auth, n) != 0) {
        abort();
    }

    /* the pairs in reverse order */

    rparams = fuzz_reversed(params, si.nparams);
    rheaders = fuzz_reversed(headers, si.nheaders);

    si.params = rparams;
    si.headers = rheaders;

    rev = fuzz_malloc(ngx_http_ci_jobs_sign_size(&si));

    m = ngx_http_ci_jobs_sign(rev, &si);

    if (m == 0 || m > ngx_http_ci_jobs_sign_size(&si)) {
        abort();
    }

    fuzz_check_lists_equal(&si, auth, n, rev, m);

    pnames = fuzz_names(params, si.nparams);
    hnames = fuzz_names(headers, si.nheaders);

    if (fuzz_names_distinct(pnames, si.nparams)
        && fuzz_names_distinct(hnames, si.nheaders)
        && (m != n || memcmp(rev, auth, n) != 0))
    {
        abort();
    }

    fuzz_names_free(pnames, si.nparams);
    fuzz_names_free(hnames, si.nheaders);

    free(rev);
    free(rparams);
    free(rheaders);

done:

    free(again);
    free(auth);
    free(headers);
    free(params);

    return 0;
}


/* allocation failures are not what this target looks for */

static void *
fuzz_malloc(size_t size)
{
    void  *p;

    p = malloc(size);
    if (p == NULL) {
        abort();
    }

    return p;
}


static u_char
fuzz_byte(fuzz_in_t *in)
{
    return (in->p < in->last) ? *in->p++ : 0;
}


static int64_t
fuzz_int64(fuzz_in_t *in)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v |= (uint64_t) fuzz_byte(in) << (8 * i);
    }

    return (int64_t) v;
}


/* a length byte and as many bytes as there are of them */

static const u_char *
fuzz_bytes(fuzz_in_t *in, size_t *len)
{
    size_t         n;
    const u_char  *p;

    n = fuzz_byte(in);

    if (n > (size_t) (in->last - in->p)) {
        n = in->last - in->p;
    }

    p = in->p;
    in->p += n;
    *len = n;

    return p;
}


static void
fuzz_check_encode(const u_char *data, size_t size)
{
    size_t   i, j, n, reserved;
    u_char  *out;

    reserved = 0;

    for (i = 0; i < size; i++) {
        reserved += !fuzz_unreserved(data[i]);
    }

    n = ngx_http_ci_jobs_uri_encode(NULL, data, size);

    if (n != size + 2 * reserved) {
        abort();
    }

    out = fuzz_malloc(n + 1);

    if (ngx_http_ci_jobs_uri_encode(out, data, size) != n) {
        abort();
    }

    /* only unreserved bytes and %XX of the others, and it decodes back */

    for (i = 0, j = 0; i < n; j++) {
        if (j == size) {
            abort();
        }

        if (fuzz_unreserved(out[i])) {
            if (out[i] != data[j]) {
                abort();
            }

            i++;
            continue;
        }

        if (out[i] != '%' || n - i < 3
            || fuzz_hex(out[i + 1], "0123456789ABCDEF") < 0
            || fuzz_hex(out[i + 2], "0123456789ABCDEF") < 0
            || fuzz_hex(out[i + 1], "0123456789ABCDEF") * 16
               + fuzz_hex(out[i + 2], "0123456789ABCDEF") != data[j]
            || fuzz_unreserved(data[j]))
        {
            abort();
        }

        i += 3;
    }

    if (j != size) {
        abort();
    }

    free(out);
}


static int
fuzz_unreserved(u_char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '_' || c == '.' || c == '~';
}


static int
fuzz_hex(u_char c, const char *digits)
{
    const char  *p;

    if (c == '\0') {
        return -1;
    }

    p = strchr(digits, c);

    return p ? (int) (p - digits) : -1;
}


/* UrlEncode as documented, the whole of it lower-cased for names */

static size_t
fuzz_encode(u_char *dst, const u_char *src, size_t len, int lower)
{
    size_t       i, n;
    const char  *digits;

    digits = lower ? "0123456789abcdef" : "0123456789ABCDEF";

    for (n = 0, i = 0; i < len; i++) {
        if (!fuzz_unreserved(src[i])) {
            dst[n++] = '%';
            dst[n++] = digits[src[i] >> 4];
            dst[n++] = digits[src[i] & 0x0f];

        } else if (lower && src[i] >= 'A' && src[i] <= 'Z') {
            dst[n++] = src[i] + ('a' - 'A');

        } else {
            dst[n++] = src[i];
        }
    }

    return n;
}


/* the encoded names, in signing order */

static fuzz_name_t *
fuzz_names(const ngx_http_ci_jobs_pair_t *pairs, size_t n)
{
    size_t        i;
    fuzz_name_t  *names;

    names = fuzz_malloc((n + 1) * sizeof(fuzz_name_t));

    for (i = 0; i < n; i++) {
        names[i].name = fuzz_malloc(3 * pairs[i].name_len + 1);

        names[i].name_len = fuzz_encode(names[i].name, pairs[i].name,
                                        pairs[i].name_len, 1);
        names[i].index = i;
    }

    qsort(names, n, sizeof(fuzz_name_t), fuzz_name_cmp);

    return names;
}


static void
fuzz_names_free(fuzz_name_t *names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        free(names[i].name);
    }

    free(names);
}


static int
fuzz_name_cmp(const void *one, const void *two)
{
    int                 rc;
    size_t              n;
    const fuzz_name_t  *a, *b;

    a = one;
    b = two;

    n = a->name_len < b->name_len ? a->name_len : b->name_len;

    rc = memcmp(a->name, b->name, n);

    if (rc == 0 && a->name_len != b->name_len) {
        rc = a->name_len < b->name_len ? -1 : 1;
    }

    if (rc == 0 && a->index != b->index) {
        rc = a->index < b->index ? -1 : 1;
    }

    return rc;
}


/* sorted names: neighbours differ */

static int
fuzz_names_distinct(const fuzz_name_t *names, size_t n)
{
    size_t  i;

    for (i = 1; i < n; i++) {
        if (names[i].name_len == names[i - 1].name_len
            && memcmp(names[i].name, names[i - 1].name, names[i].name_len)
               == 0)
        {
            return 0;
        }
    }

    return 1;
}


/* "name=value&..." with every byte encoded */

static size_t
fuzz_worst(const ngx_http_ci_jobs_pair_t *pairs, size_t n)
{
    size_t  i, len;

    for (len = 0, i = 0; i < n; i++) {
        len += 3 * (pairs[i].name_len + pairs[i].value_len) + 2;
    }

    return len;
}


static u_char *
fuzz_reference(const ngx_http_ci_jobs_sign_input_t *in,
    const u_char *secret_key, size_t secret_key_len, size_t *len,
    const ngx_http_ci_jobs_sign_key_t *key)
{
    int            kt_len;
    size_t         i, size;
    u_char        *http, *p, *auth;
    u_char         kt[64], sign_key[40], to_sign[128], hex[40];
    u_char         md[EVP_MAX_MD_SIZE];
    unsigned       md_len;
    fuzz_name_t   *pnames, *hnames;

    kt_len = snprintf((char *) kt, sizeof(kt), "%lld;%lld",
                      (long long) fuzz_start, (long long) fuzz_end);

    /* SignKey */

    if (HMAC(EVP_sha1(), secret_key, (int) secret_key_len, kt, kt_len, md,
             &md_len)
        == NULL || md_len != 20)
    {
        abort();
    }

    fuzz_write_hex(sign_key, md, 20);

    if (memcmp(sign_key, key->hex, sizeof(sign_key)) != 0) {
        abort();
    }

    /* HttpString */

    pnames = fuzz_names(in->params, in->nparams);
    hnames = fuzz_names(in->headers, in->nheaders);

    size = in->method_len + in->path_len + 4
           + fuzz_worst(in->params, in->nparams)
           + fuzz_worst(in->headers, in->nheaders);

    http = fuzz_malloc(size);

    p = http;
    memcpy(p, in->method, in->method_len);
    p += in->method_len;
    *p++ = '\n';
    memcpy(p, in->path, in->path_len);
    p += in->path_len;
    *p++ = '\n';
    p = fuzz_write_pairs(p, in->params, pnames, in->nparams);
    *p++ = '\n';
    p = fuzz_write_pairs(p, in->headers, hnames, in->nheaders);
    *p++ = '\n';

    if (EVP_Digest(http, p - http, md, &md_len, EVP_sha1(), NULL) != 1) {
        abort();
    }

    free(http);

    /* StringToSign, Signature */

    p = to_sign;
    p += sprintf((char *) p, "sha1\n%s\n", kt);
    p = fuzz_write_hex(p, md, 20);
    *p++ = '\n';

    if (HMAC(EVP_sha1(), sign_key, sizeof(sign_key), to_sign, p - to_sign,
             md, &md_len)
        == NULL)
    {
        abort();
    }

    fuzz_write_hex(hex, md, 20);

    /* Authorization */

    size = 256 + in->secret_id_len;

    for (i = 0; i < in->nparams; i++) {
        size += pnames[i].name_len + 1;
    }

    for (i = 0; i < in->nheaders; i++) {
        size += hnames[i].name_len + 1;
    }

    auth = fuzz_malloc(size);

    p = auth;
    p += sprintf((char *) p, "q-sign-algorithm=sha1&q-ak=");
    memcpy(p, in->secret_id, in->secret_id_len);
    p += in->secret_id_len;
    p += sprintf((char *) p, "&q-sign-time=%s&q-key-time=%s&q-header-list=",
                 kt, kt);
    p = fuzz_write_list(p, hnames, in->nheaders);
    p += sprintf((char *) p, "&q-url-param-list=");
    p = fuzz_write_list(p, pnames, in->nparams);
    p += sprintf((char *) p, "&q-signature=");
    memcpy(p, hex, sizeof(hex));
    p += sizeof(hex);

    *len = p - auth;

    fuzz_names_free(pnames, in->nparams);
    fuzz_names_free(hnames, in->nheaders);

    return auth;
}


static u_char *
fuzz_write_pairs(u_char *p, const ngx_http_ci_jobs_pair_t *pairs,
    const fuzz_name_t *names, size_t n)
{
    size_t                          i;
    const ngx_http_ci_jobs_pair_t  *pair;

    for (i = 0; i < n; i++) {
        pair = &pairs[names[i].index];

        if (i) {
            *p++ = '&';
        }

        memcpy(p, names[i].name, names[i].name_len);
        p += names[i].name_len;
        *p++ = '=';
        p += fuzz_encode(p, pair->value, pair->value_len, 0);
    }

    return p;
}


static u_char *
fuzz_write_list(u_char *p, const fuzz_name_t *names, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (i) {
            *p++ = ';';
        }

        memcpy(p, names[i].name, names[i].name_len);
        p += names[i].name_len;
    }

    return p;
}


static u_char *
fuzz_write_hex(u_char *p, const u_char *md, size_t len)
{
    size_t  i;

    static const char  digits[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        *p++ = digits[md[i] >> 4];
        *p++ = digits[md[i] & 0x0f];
    }

    return p;
}


/* the fields in their order, read from the Authorization alone */

static void
fuzz_check_form(const u_char *auth, size_t len,
    const ngx_http_ci_jobs_sign_input_t *in)
{
    int            kt_len;
    size_t         i;
    u_char         kt[64];
    const u_char  *p, *last;

    kt_len = snprintf((char *) kt, sizeof(kt), "%lld;%lld",
                      (long long) fuzz_start, (long long) fuzz_end);

    p = auth;
    last = auth + len;

    p = fuzz_expect(p, last, "q-sign-algorithm=sha1&q-ak=", 27);
    p = fuzz_expect(p, last, in->secret_id, in->secret_id_len);
    p = fuzz_expect(p, last, "&q-sign-time=", 13);
    p = fuzz_expect(p, last, kt, kt_len);
    p = fuzz_expect(p, last, "&q-key-time=", 12);
    p = fuzz_expect(p, last, kt, kt_len);
    p = fuzz_expect(p, last, "&q-header-list=", 15);
    p = fuzz_check_list(p, last, in->nheaders);
    p = fuzz_expect(p, last, "&q-url-param-list=", 18);
    p = fuzz_check_list(p, last, in->nparams);
    p = fuzz_expect(p, last, "&q-signature=", 13);

    if (last - p != 40) {
        abort();
    }

    for (i = 0; i < 40; i++) {
        if (fuzz_hex(p[i], "0123456789abcdef") < 0) {
            abort();
        }
    }
}


/*
 * n names, ";"-joined, each of lower-case unreserved bytes and %xx with
 * lower-case hex, in order; returns the end of the list
 */

static const u_char *
fuzz_check_list(const u_char *p, const u_char *last, size_t n)
{
    size_t         i, plen, len;
    const u_char  *name, *prev;

    prev = NULL;
    plen = 0;

    for (i = 0; i < n; i++) {
        if (i) {
            p = fuzz_expect(p, last, ";", 1);
        }

        name = p;

        while (p < last && *p != ';' && *p != '&') {
            if (*p == '%') {
                if (last - p < 3
                    || fuzz_hex(p[1], "0123456789abcdef") < 0
                    || fuzz_hex(p[2], "0123456789abcdef") < 0)
                {
                    abort();
                }

                p += 3;
                continue;
            }

            if (!fuzz_unreserved(*p) || (*p >= 'A' && *p <= 'Z')) {
                abort();
            }

            p++;
        }

        len = p - name;

        if (prev != NULL) {
            if (memcmp(prev, name, plen < len ? plen : len) > 0
                || (memcmp(prev, name, plen < len ? plen : len) == 0
                    && plen > len))
            {
                abort();
            }
        }

        prev = name;
        plen = len;
    }

    return p;
}


static const u_char *
fuzz_expect(const u_char *p, const u_char *last, const void *s, size_t len)
{
    if ((size_t) (last - p) < len || memcmp(p, s, len) != 0) {
        abort();
    }

    return p + len;
}


/*
 * The lists of two Authorization values of the same SecretId and KeyTime
 * (checked by fuzz_check_form()) are the same: they are what lies between
 * that prefix and "&q-signature=" and 40 hex digits.
 */

static void
fuzz_check_lists_equal(const ngx_http_ci_jobs_sign_input_t *in,
    const u_char *a, size_t alen, const u_char *b, size_t blen)
{
    size_t  off;
    u_char  kt[64];

    off = sizeof("q-sign-algorithm=sha1&q-ak=") - 1 + in->secret_id_len
          + sizeof("&q-sign-time=&q-key-time=") - 1
          + 2 * snprintf((char *) kt, sizeof(kt), "%lld;%lld",
                         (long long) fuzz_start, (long long) fuzz_end);

    if (alen != blen
        || memcmp(a + off, b + off, alen - off - (13 + 40)) != 0)
    {
        abort();
    }
}


static ngx_http_ci_jobs_pair_t *
fuzz_reversed(const ngx_http_ci_jobs_pair_t *pairs, size_t n)
{
    size_t                    i;
    ngx_http_ci_jobs_pair_t  *rev;

    rev = fuzz_malloc((n + 1) * sizeof(ngx_http_ci_jobs_pair_t));

    for (i = 0; i < n; i++) {
        rev[i] = pairs[n - 1 - i];
    }

    return rev;
}
