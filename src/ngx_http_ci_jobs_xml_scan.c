
/*
 * The XML pass's own reader.  CI writes plain XML: a declaration,
 * elements without attributes, text with a few entities.  For that subset
 * a scanner checks well-formedness completely, at a fraction of the cost
 * of libxml2, whose setup and generality dominate on answers of a few
 * kilobytes.  Whatever is outside the subset, or not well-formed, is
 * declined before any verdict, and libxml2 reads the answer from the
 * start: the scanner never refuses a document, nor accepts one that
 * libxml2 would refuse.
 *
 * The subset:
 * - an optional XML declaration: version "1.0", then perhaps encoding
 *   "UTF-8" (any case) and standalone "yes" or "no"; no byte order mark;
 * - element names of ASCII letters, digits, '_', '-' and '.', starting
 *   with a letter or '_', of NGX_HTTP_CI_JOBS_SCAN_NAME_MAX bytes at the
 *   most (no prefix: namespaces are left to libxml2);
 * - tags without attributes; white space before '>' or "/>";
 * - text of UTF-8 XML characters but carriage returns (line ends would
 *   need normalizing) and "]]>"; the five predefined entities and
 *   character references to XML characters;
 * - outside the root, white space only: no comment, processing
 *   instruction, CDATA section or DOCTYPE anywhere;
 * - fewer than NGX_HTTP_CI_JOBS_XML_MAX_DEPTH levels.
 */


#include <string.h>

#if (__SSE2__)
#include <emmintrin.h>
#endif

#include "ngx_http_ci_jobs_xml_pass.h"


#define NGX_HTTP_CI_JOBS_SCAN_NAME_MAX   1000

/* digits of a character reference: past these, libxml2 decides */
#define NGX_HTTP_CI_JOBS_SCAN_REF_MAX    8

/* ngx_http_ci_jobs_scan_name[] */
#define NGX_HTTP_CI_JOBS_SCAN_NAME       1
#define NGX_HTTP_CI_JOBS_SCAN_FIRST      2


typedef struct {
    const u_char  *name;
    size_t         len;
} ngx_http_ci_jobs_scan_tag_t;


typedef struct {
    ngx_http_ci_jobs_xml_pass_t  *pass;
    const u_char                 *p;
    const u_char                 *last;
    int                           events;     /* the pass reads them */
    int                           child;      /* the last tag closed one */
    size_t                        depth;
    ngx_http_ci_jobs_scan_tag_t   open[NGX_HTTP_CI_JOBS_XML_MAX_DEPTH];
} ngx_http_ci_jobs_scan_t;


static int ngx_http_ci_jobs_scan_start_tag(ngx_http_ci_jobs_scan_t *s);
static int ngx_http_ci_jobs_scan_end_tag(ngx_http_ci_jobs_scan_t *s);
static int ngx_http_ci_jobs_scan_content(ngx_http_ci_jobs_scan_t *s);
static const u_char *ngx_http_ci_jobs_scan_decl(const u_char *p,
    const u_char *last);
static const u_char *ngx_http_ci_jobs_scan_pseudo(const u_char *p,
    const u_char *last, const char *name, const u_char **value,
    size_t *len);
static const u_char *ngx_http_ci_jobs_scan_space(const u_char *p,
    const u_char *last);
static const u_char *ngx_http_ci_jobs_scan_name_end(const u_char *p,
    const u_char *last);
static int ngx_http_ci_jobs_scan_is_open(const ngx_http_ci_jobs_scan_t *s,
    const u_char *p);
static const u_char *ngx_http_ci_jobs_scan_plain_run(const u_char *p,
    const u_char *last);
static const u_char *ngx_http_ci_jobs_scan_ref(const u_char *p,
    const u_char *last, u_char *buf, size_t *len);


#define ngx_http_ci_jobs_scan_is_space(c)                                     \
    ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

/* an XML character, past the ASCII ones (surrogates are not UTF-8) */
#define ngx_http_ci_jobs_scan_is_char(cp)                                     \
    ((cp) != 0xfffe && (cp) != 0xffff)


/* text bytes that need no second look: ASCII but '<', '&', ']', controls */

static const u_char  ngx_http_ci_jobs_scan_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};


static const u_char  ngx_http_ci_jobs_scan_name[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
    0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
};


int
ngx_http_ci_jobs_xml_scan(ngx_http_ci_jobs_xml_pass_t *pass,
    const u_char *xml, size_t len)
{
    int                      rc;
    ngx_http_ci_jobs_scan_t  s;

    s.pass = pass;
    s.last = xml + len;
    s.depth = 0;
    s.child = 0;
    s.events = ngx_http_ci_jobs_xml_wants_events(pass);

    s.p = ngx_http_ci_jobs_scan_decl(xml, s.last);
    if (s.p == NULL) {
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    s.p = ngx_http_ci_jobs_scan_space(s.p, s.last);

    if (s.p == s.last || *s.p != '<') {
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    /* tags and what is between them, until the root is closed */

    for ( ;; ) {
        if (++s.p == s.last) {
            return NGX_HTTP_CI_JOBS_XML_DECLINED;
        }

        rc = (*s.p == '/') ? ngx_http_ci_jobs_scan_end_tag(&s)
                           : ngx_http_ci_jobs_scan_start_tag(&s);

        if (rc != NGX_HTTP_CI_JOBS_XML_READ) {
            return rc;
        }

        if (s.depth == 0) {
            break;
        }

        rc = ngx_http_ci_jobs_scan_content(&s);

        if (rc != NGX_HTTP_CI_JOBS_XML_READ) {
            return rc;
        }
    }

    /* after the root: white space only */

    if (ngx_http_ci_jobs_scan_space(s.p, s.last) != s.last) {
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    if (s.events && ngx_http_ci_jobs_xml_done(pass) != 0) {
        return NGX_HTTP_CI_JOBS_XML_REFUSED;
    }

    return NGX_HTTP_CI_JOBS_XML_READ;
}


/* s->p past "<" of a start or an empty-element tag */

static int
ngx_http_ci_jobs_scan_start_tag(ngx_http_ci_jobs_scan_t *s)
{
    size_t         n;
    const u_char  *p, *name;

    p = s->p;

    if (!(ngx_http_ci_jobs_scan_name[*p] & NGX_HTTP_CI_JOBS_SCAN_FIRST)
        || s->depth == NGX_HTTP_CI_JOBS_XML_MAX_DEPTH)
    {
        /* a comment, a PI, CDATA, a DOCTYPE, a prefix, too deep */
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    name = p;
    p = ngx_http_ci_jobs_scan_name_end(p + 1, s->last);
    n = p - name;

    if (n > NGX_HTTP_CI_JOBS_SCAN_NAME_MAX) {
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    if (p != s->last && ngx_http_ci_jobs_scan_is_space(*p)) {
        p = ngx_http_ci_jobs_scan_space(p, s->last);
    }

    if (p == s->last) {
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    if (*p == '>') {
        s->open[s->depth].name = name;
        s->open[s->depth].len = n;
        s->depth++;
        s->p = p + 1;
        s->child = 0;

        if (s->events && ngx_http_ci_jobs_xml_start(s->pass, name, n) != 0) {
            return NGX_HTTP_CI_JOBS_XML_REFUSED;
        }

        return NGX_HTTP_CI_JOBS_XML_READ;
    }

    if (*p != '/' || s->last - p < 2 || p[1] != '>') {
        /* an attribute, or not well-formed */
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    s->p = p + 2;
    s->child = 1;

    if (s->events
        && (ngx_http_ci_jobs_xml_start(s->pass, name, n) != 0
            || ngx_http_ci_jobs_xml_end(s->pass) != 0))
    {
        return NGX_HTTP_CI_JOBS_XML_REFUSED;
    }

    return NGX_HTTP_CI_JOBS_XML_READ;
}


/* s->p at "/" of an end tag: the name of the element open, and no more */

static int
ngx_http_ci_jobs_scan_end_tag(ngx_http_ci_jobs_scan_t *s)
{
    const u_char  *p;

    p = s->p + 1;

    if (!ngx_http_ci_jobs_scan_is_open(s, p)) {
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    p += s->open[s->depth - 1].len;

    if (ngx_http_ci_jobs_scan_is_space(*p)) {
        p = ngx_http_ci_jobs_scan_space(p, s->last);
    }

    if (p == s->last || *p != '>') {
        return NGX_HTTP_CI_JOBS_XML_DECLINED;
    }

    s->p = p + 1;
    s->depth--;
    s->child = 1;

    if (s->events && ngx_http_ci_jobs_xml_end(s->pass) != 0) {
        return NGX_HTTP_CI_JOBS_XML_REFUSED;
    }

    return NGX_HTTP_CI_JOBS_XML_READ;
}


/* the content from s->p up to the next tag's "<" */

static int
ngx_http_ci_jobs_scan_content(ngx_http_ci_jobs_scan_t *s)
{
    int            wanted;
    size_t         n;
    uint32_t       cp;
    const u_char  *p, *text;
    u_char         ref[4];

    p = s->p;
    text = p;
    wanted = s->events && !s->child
             && ngx_http_ci_jobs_xml_wants_text(s->pass);

    for ( ;; ) {
        p = ngx_http_ci_jobs_scan_plain_run(p, s->last);

        if (p == s->last) {
            return NGX_HTTP_CI_JOBS_XML_DECLINED;
        }

        switch (*p) {

        case '<':
        case '&':
            if (p > text && wanted
                && ngx_http_ci_jobs_xml_text(s->pass, text, p - text) != 0)
            {
                return NGX_HTTP_CI_JOBS_XML_REFUSED;
            }

            if (*p == '<') {
                s->p = p;
                return NGX_HTTP_CI_JOBS_XML_READ;
            }

            p = ngx_http_ci_jobs_scan_ref(p, s->last, ref, &n);
            if (p == NULL) {
                return NGX_HTTP_CI_JOBS_XML_DECLINED;
            }

            if (wanted && ngx_http_ci_jobs_xml_text(s->pass, ref, n) != 0)
            {
                return NGX_HTTP_CI_JOBS_XML_REFUSED;
            }

            text = p;
            break;

        case ']':
            if (s->last - p > 2 && p[1] == ']' && p[2] == '>') {
                return NGX_HTTP_CI_JOBS_XML_DECLINED;
            }

            p++;
            break;

        default:
            if (*p < 0x80) {
                /* a carriage return or another control character */
                return NGX_HTTP_CI_JOBS_XML_DECLINED;
            }

            cp = ngx_http_ci_jobs_utf8_next(&p, s->last);

            if (cp == NGX_HTTP_CI_JOBS_UTF8_BAD
                || !ngx_http_ci_jobs_scan_is_char(cp))
            {
                return NGX_HTTP_CI_JOBS_XML_DECLINED;
            }
        }
    }
}


/* past the XML declaration, if any; NULL: one outside the subset */

static const u_char *
ngx_http_ci_jobs_scan_decl(const u_char *p, const u_char *last)
{
    size_t         len;
    const u_char  *value, *next;

    if (last - p < 6 || memcmp(p, "<?xml", 5) != 0) {
        /* "<?" of another processing instruction is declined later */
        return p;
    }

    p = ngx_http_ci_jobs_scan_pseudo(p + 5, last, "version", &value, &len);

    if (p == NULL || !ngx_http_ci_jobs_str_is(value, len, "1.0")) {
        return NULL;
    }

    next = ngx_http_ci_jobs_scan_pseudo(p, last, "encoding", &value, &len);

    if (next != NULL) {
        if (len != 5
            || (value[0] | 0x20) != 'u' || (value[1] | 0x20) != 't'
            || (value[2] | 0x20) != 'f' || value[3] != '-' || value[4] != '8')
        {
            return NULL;
        }

        p = next;
    }

    next = ngx_http_ci_jobs_scan_pseudo(p, last, "standalone", &value, &len);

    if (next != NULL) {
        if (!ngx_http_ci_jobs_str_is(value, len, "yes")
            && !ngx_http_ci_jobs_str_is(value, len, "no"))
        {
            return NULL;
        }

        p = next;
    }

    p = ngx_http_ci_jobs_scan_space(p, last);

    if (last - p < 2 || p[0] != '?' || p[1] != '>') {
        return NULL;
    }

    return p + 2;
}


/*
 * S name S? '=' S? quoted value, as in the XML declaration: past the
 * value's closing quote, or NULL.
 */

static const u_char *
ngx_http_ci_jobs_scan_pseudo(const u_char *p, const u_char *last,
    const char *name, const u_char **value, size_t *len)
{
    u_char         quote;
    size_t         n;
    const u_char  *start, *end;

    start = p;
    p = ngx_http_ci_jobs_scan_space(p, last);

    n = strlen(name);

    if (p == start || (size_t) (last - p) < n || memcmp(p, name, n) != 0) {
        return NULL;
    }

    p = ngx_http_ci_jobs_scan_space(p + n, last);

    if (p == last || *p != '=') {
        return NULL;
    }

    p = ngx_http_ci_jobs_scan_space(p + 1, last);

    if (p == last || (*p != '"' && *p != '\'')) {
        return NULL;
    }

    quote = *p++;

    end = memchr(p, quote, last - p);
    if (end == NULL) {
        return NULL;
    }

    *value = p;
    *len = end - p;

    return end + 1;
}


static const u_char *
ngx_http_ci_jobs_scan_space(const u_char *p, const u_char *last)
{
    while (p < last && ngx_http_ci_jobs_scan_is_space(*p)) {
        p++;
    }

    return p;
}


/*
 * Whether the name at p is the open element's, whole: the end tag's.
 * Names up to sixteen bytes, most of them, are compared in one go where
 * SSE2 is there; the open name lies before p, so it has sixteen bytes
 * too.
 */

static int
ngx_http_ci_jobs_scan_is_open(const ngx_http_ci_jobs_scan_t *s,
    const u_char *p)
{
    size_t                              n;
    const ngx_http_ci_jobs_scan_tag_t  *tag;

    if (s->depth == 0) {
        return 0;
    }

    tag = &s->open[s->depth - 1];
    n = tag->len;

    if ((size_t) (s->last - p) <= n) {
        return 0;
    }

#if (__SSE2__)
    if (n <= 16 && s->last - p >= 16) {
        unsigned  same, first;

        same = _mm_movemask_epi8(
                   _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) p),
                                  _mm_loadu_si128((const __m128i *)
                                                  tag->name)));
        first = (1u << n) - 1;

        /* the first n bytes equal, and the next one ends the name */
        return (same & first) == first && !ngx_http_ci_jobs_scan_name[p[n]];
    }
#endif

    return memcmp(p, tag->name, n) == 0 && !ngx_http_ci_jobs_scan_name[p[n]];
}


/*
 * The first byte from p that is no name character: sixteen at a time
 * where SSE2 is there.  Signed compares leave the non-ASCII bytes out.
 */

static const u_char *
ngx_http_ci_jobs_scan_name_end(const u_char *p, const u_char *last)
{
#if (__SSE2__)
    int      mask;
    __m128i  v, lower, letter, other;

    while (last - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);
        lower = _mm_or_si128(v, _mm_set1_epi8(0x20));

        letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                               _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));

        /* '-', '.', '/' and the digits; then '/' out and '_' in */
        other = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('-' - 1)),
                              _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
        other = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('/')), other);
        other = _mm_or_si128(other, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));

        mask = ~_mm_movemask_epi8(_mm_or_si128(letter, other)) & 0xffff;

        if (mask != 0) {
            return p + __builtin_ctz(mask);
        }

        p += 16;
    }

#endif

    while (p < last && ngx_http_ci_jobs_scan_name[*p]) {
        p++;
    }

    return p;
}


/*
 * Past the plain text bytes from p: sixteen at a time where SSE2 is there
 * (a signed compare with 0x20 finds the controls and the non-ASCII bytes
 * at once; tabs and line feeds, which indent CI's answers, are plain).
 */

static const u_char *
ngx_http_ci_jobs_scan_plain_run(const u_char *p, const u_char *last)
{
#if (__SSE2__)
    int      mask;
    __m128i  v, special, spacing;

    /*
     * CI indents its answers: between two tags, most often, a line feed
     * and spaces, which one compare classifies.
     */

    if (p < last && *p == '\n') {
        for (p++; last - p >= 16; p += 16) {
            mask = ~_mm_movemask_epi8(
                        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *) p),
                                       _mm_set1_epi8(' ')))
                   & 0xffff;

            if (mask != 0) {
                p += __builtin_ctz(mask);

                if (*p == '<') {
                    return p;
                }

                break;
            }
        }
    }

    while (last - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        spacing = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')),
                               _mm_cmpeq_epi8(v, _mm_set1_epi8('\t')));

        special = _mm_or_si128(
                      _mm_andnot_si128(spacing,
                                       _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))),
                      _mm_or_si128(
                          _mm_cmpeq_epi8(v, _mm_set1_epi8('<')),
                          _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('&')),
                                       _mm_cmpeq_epi8(v, _mm_set1_epi8(']')))));

        mask = _mm_movemask_epi8(special);

        if (mask != 0) {
            return p + __builtin_ctz(mask);
        }

        p += 16;
    }

#endif

    while (p < last && ngx_http_ci_jobs_scan_plain[*p]) {
        p++;
    }

    return p;
}


/*
 * An entity or character reference at p ('&'): its text, UTF-8, in buf;
 * past its ';', or NULL when it is none libxml2 would take without a
 * second look.
 */

static const u_char *
ngx_http_ci_jobs_scan_ref(const u_char *p, const u_char *last, u_char *buf,
    size_t *len)
{
    size_t         n;
    uint32_t       cp, digit;
    const u_char  *end;

    static const struct {
        const char  *name;
        u_char       c;
    } predefined[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
        { "&quot;", '"' }, { "&apos;", '\'' }
    };

    end = (last - p > NGX_HTTP_CI_JOBS_SCAN_REF_MAX + 4)
          ? p + NGX_HTTP_CI_JOBS_SCAN_REF_MAX + 4 : last;

    if (end - p < 3 || p[1] != '#') {

        for (n = 0; n < sizeof(predefined) / sizeof(predefined[0]); n++) {
            if ((size_t) (end - p) >= strlen(predefined[n].name)
                && memcmp(p, predefined[n].name, strlen(predefined[n].name))
                   == 0)
            {
                buf[0] = predefined[n].c;
                *len = 1;

                return p + strlen(predefined[n].name);
            }
        }

        return NULL;
    }

    /* "&#N;" or "&#xH;" */

    p += 2;
    cp = 0;
    n = 0;

    if (*p == 'x') {
        for (p++; p < end && *p != ';'; p++, n++) {
            if (*p >= '0' && *p <= '9') {
                digit = *p - '0';

            } else if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f') {
                digit = (*p | 0x20) - 'a' + 10;

            } else {
                return NULL;
            }

            cp = cp * 16 + digit;
        }

    } else {
        for ( /* void */ ; p < end && *p != ';'; p++, n++) {
            if (*p < '0' || *p > '9') {
                return NULL;
            }

            cp = cp * 10 + (*p - '0');
        }
    }

    if (p == end || n == 0 || n > NGX_HTTP_CI_JOBS_SCAN_REF_MAX) {
        return NULL;
    }

    /* the XML characters, in UTF-8 */

    if (cp < 0x80) {
        if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') {
            return NULL;
        }

        buf[0] = (u_char) cp;
        *len = 1;

    } else if (cp < 0x800) {
        buf[0] = (u_char) (0xc0 | (cp >> 6));
        buf[1] = (u_char) (0x80 | (cp & 0x3f));
        *len = 2;

    } else if (cp < 0x10000) {
        if ((cp >= 0xd800 && cp <= 0xdfff)
            || !ngx_http_ci_jobs_scan_is_char(cp))
        {
            return NULL;
        }

        buf[0] = (u_char) (0xe0 | (cp >> 12));
        buf[1] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        buf[2] = (u_char) (0x80 | (cp & 0x3f));
        *len = 3;

    } else if (cp <= 0x10ffff) {
        buf[0] = (u_char) (0xf0 | (cp >> 18));
        buf[1] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
        buf[2] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        buf[3] = (u_char) (0x80 | (cp & 0x3f));
        *len = 4;

    } else {
        return NULL;
    }

    return p + 1;
}
