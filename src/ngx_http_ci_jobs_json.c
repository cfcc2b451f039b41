
/*
 * The JSON writer of the XML pass: the answer's events in, its JSON
 * rendering out, written while the document streams by.
 *
 * JSON is written straight into one output buffer, without a tree:
 *
 * - an element starts as a string: '"' is written and its text is escaped
 *   after it; when its first child element starts, the output is cut back
 *   to the value's start (the text beside child elements is dropped) and
 *   '{' is written instead;
 * - every open element keeps a record of each of its child elements (name,
 *   place of the value in the output); a hash table of the names binds
 *   each name to its last record under the innermost open parent
 *   that has one; a record saves the binding it shadows and gives it back
 *   when it is popped, so finding a repeated sibling costs O(1) whatever
 *   the number of siblings;
 * - a name repeated right after itself (the usual case: JobsDetail,
 *   NonExistJobIds) becomes an array on the spot: '[' is slid in before
 *   the previous value, and the next values follow with ','; names of
 *   conf->array_names open their '[' at once;
 * - a name repeated after other names marks the parent, whose records are
 *   kept when it ends, as a plan: each name once, at its first place, with
 *   all its values in document order; nothing written is moved from then
 *   on (a value with a plan inside is not slid: its parent gets a plan);
 * - when the root ends, if there are plans, the output is written once
 *   more into an exactly bounded buffer, each plan in its object's place.
 *
 * So the common answers (no name repeated after others) are converted in
 * one pass with no copy; any other is copied once more, whatever its depth
 * and however many names repeat: the work stays linear.
 *
 * The rules (the official COS SDKs' mapping, with stable arrays):
 * - the root element is kept: {"Response":{...}};
 * - an element with child elements is an object, keys in document order;
 *   repeated names become one array at the first one's place;
 * - conf->array_names are always arrays;
 * - a leaf is a string: its text exactly, entities and character
 *   references decoded, CDATA inlined; an empty element is "";
 * - text beside child elements (mixed content; the SDKs drop fast-xml-
 *   parser's "#text" too), attributes, comments, processing instructions
 *   and the XML declaration are dropped;
 * - a prefixed name is kept whole, "p:name";
 * - strings are escaped as JSON.stringify() does: '"', '\', \b \f \n \r
 *   \t in short form, other control characters as \u00xx, '/' and
 *   non-ASCII characters as they are (UTF-8).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_ci_jobs_xml_pass.h"


struct ngx_http_ci_jobs_json_name_s {
    const u_char        *name;       /* in the input or the parser */
    uint32_t             len;
    uint32_t             hash;
    uint32_t             last;       /* 1 + record of the last such child */
    uint32_t             array;      /* one of conf->array_names */
};


struct ngx_http_ci_jobs_json_rec_s {
    size_t               value;      /* the value's place in the output */
    size_t               end;
    uint32_t             name;       /* index in json->names */
    uint32_t             next;       /* next sibling of that name, 0: none */
    uint32_t             saved;      /* the binding this record shadows */
    unsigned             repeat:1;   /* not the first of its name */
    unsigned             list:1;     /* "v1,v2,...": a run of siblings */
};


struct ngx_http_ci_jobs_json_plan_s {
    size_t                        start;  /* its object's '{' in the output */
    size_t                        end;    /* after its '}' */
    ngx_http_ci_jobs_json_rec_t   *recs;   /* its children; next: relative */
    size_t                        nrecs;
};


struct ngx_http_ci_jobs_json_level_s {
    size_t               value;      /* the value's place in the output */
    uint32_t             first;      /* its first child's record */
    unsigned             object:1;   /* has child elements */
    unsigned             open:1;     /* '[' of the last child's name open */
    unsigned             regroup:1;  /* a name repeated after others */
};


static int ngx_http_ci_jobs_json_plan(ngx_http_ci_jobs_json_t *json,
    ngx_http_ci_jobs_json_level_t *level);
static int ngx_http_ci_jobs_json_plan_cmp(const void *one, const void *two);
static u_char *ngx_http_ci_jobs_json_emit(ngx_http_ci_jobs_json_t *json,
    u_char *p, size_t from, size_t to);
static u_char *ngx_http_ci_jobs_json_emit_plan(ngx_http_ci_jobs_json_t *json,
    u_char *p, ngx_http_ci_jobs_json_plan_t *plan);
static uint32_t ngx_http_ci_jobs_json_hash(const u_char *name, size_t len);
static int ngx_http_ci_jobs_json_name(ngx_http_ci_jobs_json_t *json,
    const u_char *name, size_t len, uint32_t *index);
static int ngx_http_ci_jobs_json_rehash(ngx_http_ci_jobs_json_t *json);
static size_t ngx_http_ci_jobs_json_escaped_len(const u_char *s, size_t len);
static int ngx_http_ci_jobs_json_reserve(ngx_http_ci_jobs_json_t *json,
    size_t n);
static void *ngx_http_ci_jobs_json_grow(ngx_http_ci_jobs_json_t *json,
    void *old, size_t *nalloc, size_t need, size_t size);
static void ngx_http_ci_jobs_json_free(ngx_http_ci_jobs_json_t *json,
    void *p);


/* room for n more bytes of output, the common case without a call */
#define ngx_http_ci_jobs_json_room(json, n)                                   \
    ((json)->cap - (json)->len >= (n)                                         \
     ? 0 : ngx_http_ci_jobs_json_reserve(json, n))


/* text escaped at a time */
#define NGX_HTTP_CI_JOBS_JSON_SLICE  4096


/* the name table's first size: twice the distinct names of CI's answers */
#define NGX_HTTP_CI_JOBS_JSON_SLOTS  128


/* non-zero when a byte of the 64-bit word v is below n (n <= 0x80) */

#define NGX_HTTP_CI_JOBS_ONES   0x0101010101010101ULL
#define NGX_HTTP_CI_JOBS_HIGHS  0x8080808080808080ULL

#define ngx_http_ci_jobs_has_less(v, n)                                       \
    (((v) - (n) * NGX_HTTP_CI_JOBS_ONES) & ~(v) & NGX_HTTP_CI_JOBS_HIGHS)


/*
 * The JSON escape of each byte: 0 as it is, 'u' as \u00xx, else the
 * letter after '\'.
 */

static const u_char  ngx_http_ci_jobs_json_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0,
};


void
ngx_http_ci_jobs_json_init(ngx_http_ci_jobs_json_t *json,
    const ngx_http_ci_jobs_xml_conf_t *conf, size_t hint)
{
    memset(json, 0, sizeof(ngx_http_ci_jobs_json_t));

    json->conf = conf;
    json->hint = hint;
}


/*
 * An element starts: its key (unless it follows a sibling of its name),
 * and the start of a string, its value until a child element comes.
 */

int
ngx_http_ci_jobs_json_start(ngx_http_ci_jobs_json_t *json,
    const u_char *name, size_t len)
{
    u_char                         *p;
    uint32_t                        index, binding, repeat;
    ngx_http_ci_jobs_json_rec_t    *rec, *prev;
    ngx_http_ci_jobs_json_name_t   *nm;
    ngx_http_ci_jobs_json_level_t  *parent, *level;

    if (json->nlevels == json->levels_cap) {
        level = ngx_http_ci_jobs_json_grow(json, json->levels,
                                      &json->levels_cap, json->nlevels + 1,
                                      sizeof(ngx_http_ci_jobs_json_level_t));
        if (level == NULL) {
            return -1;
        }

        json->levels = level;
    }

    if (json->nrecs == json->recs_cap) {
        rec = ngx_http_ci_jobs_json_grow(json, json->recs, &json->recs_cap,
                                        json->nrecs + 1,
                                        sizeof(ngx_http_ci_jobs_json_rec_t));
        if (rec == NULL) {
            return -1;
        }

        json->recs = rec;
    }

    if (ngx_http_ci_jobs_json_name(json, name, len, &index) != 0) {
        return -1;
    }

    nm = &json->names[index];

    /* '{' or ']', ',', '"', the name, '"', ':', '[', '"' */

    if (ngx_http_ci_jobs_json_room(json, nm->len + 8) != 0) {
        return -1;
    }

    if (json->nlevels == 0) {

        /* the root: {"Name":" or {"Name":[" */

        p = json->out + json->len;
        *p++ = '{';
        *p++ = '"';
        p = (u_char *) memcpy(p, nm->name, nm->len) + nm->len;
        *p++ = '"';
        *p++ = ':';

        if (nm->array) {
            *p++ = '[';
        }

        level = &json->levels[json->nlevels++];
        level->value = p - json->out;
        level->first = 0;
        level->object = 0;
        level->open = 0;
        level->regroup = 0;

        *p++ = '"';
        json->len = p - json->out;

        return 0;
    }

    parent = &json->levels[json->nlevels - 1];

    if (!parent->object) {
        /* the first child: the text written so far is dropped */
        parent->object = 1;
        json->len = parent->value;
        json->out[json->len++] = '{';
    }

    p = json->out + json->len;

    binding = nm->last;
    repeat = (binding > parent->first);

    if (repeat && binding == json->nrecs) {

        /*
         * The same name as the previous sibling: the value joins its
         * record, whose values are a list "v1,v2,..." from now on.
         */

        prev = &json->recs[binding - 1];

        if (!parent->open && !parent->regroup) {

            if (json->plans_end > prev->value) {
                /* a plan inside the previous value: it stays in place */
                parent->regroup = 1;

            } else {
                memmove(json->out + prev->value + 1, json->out + prev->value,
                        json->len - prev->value);
                json->out[prev->value] = '[';

                prev->value++;
                prev->end++;
                p++;

                parent->open = 1;
            }
        }

        prev->list = 1;
        *p++ = ',';

        rec = NULL;

    } else {
        if (repeat) {
            /* the name came before, with others in between */
            parent->regroup = 1;
        }

        if (!parent->regroup) {
            if (parent->open) {
                *p++ = ']';
                parent->open = 0;
            }

            if (json->nrecs > parent->first) {
                *p++ = ',';
            }

            *p++ = '"';
            p = (u_char *) memcpy(p, nm->name, nm->len) + nm->len;
            *p++ = '"';
            *p++ = ':';

            if (nm->array) {
                *p++ = '[';
                parent->open = 1;
            }
        }

        rec = &json->recs[json->nrecs];
        rec->name = index;
        rec->next = 0;
        rec->saved = binding;
        rec->repeat = repeat;
        rec->list = 0;

        if (repeat) {
            json->recs[binding - 1].next = (uint32_t) json->nrecs;
        }

        nm->last = (uint32_t) ++json->nrecs;
    }

    level = &json->levels[json->nlevels++];
    level->value = p - json->out;
    level->first = (uint32_t) json->nrecs;
    level->object = 0;
    level->open = 0;
    level->regroup = 0;

    if (rec != NULL) {
        rec->value = level->value;
    }

    *p++ = '"';
    json->len = p - json->out;

    return 0;
}


/*
 * An element ends: its value is closed, and the records of its children
 * are popped, giving back the bindings they shadowed.
 */

int
ngx_http_ci_jobs_json_end(ngx_http_ci_jobs_json_t *json)
{
    size_t                          i;
    ngx_http_ci_jobs_json_rec_t    *rec;
    ngx_http_ci_jobs_json_level_t  *level;

    level = &json->levels[json->nlevels - 1];

    /* '"', or ']' and '}'; the root's ']' and '}' */

    if (ngx_http_ci_jobs_json_room(json, 4) != 0) {
        return -1;
    }

    if (!level->object) {
        json->out[json->len++] = '"';

    } else {
        if (level->open && !level->regroup) {
            json->out[json->len++] = ']';
        }

        json->out[json->len++] = '}';

        if (level->regroup && ngx_http_ci_jobs_json_plan(json, level) != 0) {
            return -1;
        }
    }

    for (i = json->nrecs; i > level->first; i--) {
        rec = &json->recs[i - 1];
        json->names[rec->name].last = rec->saved;
    }

    json->nrecs = level->first;

    if (--json->nlevels == 0) {
        if (json->names[0].array) {
            json->out[json->len++] = ']';
        }

        json->out[json->len++] = '}';

    } else {
        json->recs[json->nrecs - 1].end = json->len;
    }

    return 0;
}


/* text of the innermost element: kept while it has no child element */

int
ngx_http_ci_jobs_json_text(ngx_http_ci_jobs_json_t *json,
    const u_char *text, size_t len)
{
    size_t  n, need;

    if (json->levels[json->nlevels - 1].object) {
        /* text beside child elements is dropped */
        return 0;
    }

    /*
     * In slices, for each room for its escape at its longest (6 bytes a
     * byte), or, when the output has less, for its exact escape: the
     * output is not grown for room it will not use.
     */

    while (len > 0) {
        n = (len < NGX_HTTP_CI_JOBS_JSON_SLICE) ? len
                                                : NGX_HTTP_CI_JOBS_JSON_SLICE;

        if (json->cap - json->len < 6 * n) {
            need = ngx_http_ci_jobs_json_escaped_len(text, n);

            if (ngx_http_ci_jobs_json_room(json, need) != 0) {
                return -1;
            }
        }

        json->len = ngx_http_ci_jobs_json_escape(json->out + json->len, text,
                                                 n)
                    - json->out;

        text += n;
        len -= n;
    }

    return 0;
}


/*
 * An object whose names repeat after others ends: its children's records
 * are kept as its plan, and the growth of its content is bounded.
 */

static int
ngx_http_ci_jobs_json_plan(ngx_http_ci_jobs_json_t *json,
    ngx_http_ci_jobs_json_level_t *level)
{
    size_t                         i, n;
    ngx_http_ci_jobs_json_rec_t   *recs;
    ngx_http_ci_jobs_json_plan_t  *plan;

    if (json->nplans == json->plans_cap) {
        plan = ngx_http_ci_jobs_json_grow(json, json->plans, &json->plans_cap,
                                         json->nplans + 1,
                                         sizeof(ngx_http_ci_jobs_json_plan_t));
        if (plan == NULL) {
            return -1;
        }

        json->plans = plan;
    }

    n = json->nrecs - level->first;

    recs = json->conf->alloc(json->conf->alloc_data,
                            n * sizeof(ngx_http_ci_jobs_json_rec_t));
    if (recs == NULL) {
        return -1;
    }

    memcpy(recs, &json->recs[level->first],
           n * sizeof(ngx_http_ci_jobs_json_rec_t));

    for (i = 0; i < n; i++) {
        if (recs[i].next) {
            recs[i].next -= level->first;
        }

        /* a ',' for each value; "name": and '[' ']' for each name */

        json->extra += 1;

        if (!recs[i].repeat) {
            json->extra += json->names[recs[i].name].len + 3 + 2;
        }
    }

    plan = &json->plans[json->nplans++];
    plan->start = level->value;
    plan->end = json->len;
    plan->recs = recs;
    plan->nrecs = n;

    json->plans_end = json->len;

    return 0;
}


/* the output once more, each plan in its object's place */

int
ngx_http_ci_jobs_json_finish(ngx_http_ci_jobs_json_t *json)
{
    u_char  *out, *p;

    if (json->nplans == 0) {
        return 0;
    }

    /* plans are made as objects end: inner ones first */

    qsort(json->plans, json->nplans, sizeof(ngx_http_ci_jobs_json_plan_t),
          ngx_http_ci_jobs_json_plan_cmp);

    out = json->conf->alloc(json->conf->alloc_data, json->len + json->extra);
    if (out == NULL) {
        return -1;
    }

    p = ngx_http_ci_jobs_json_emit(json, out, 0, json->len);

    ngx_http_ci_jobs_json_free(json, json->out);

    json->out = out;
    json->len = p - out;
    json->cap = json->len;

    return 0;
}


static int
ngx_http_ci_jobs_json_plan_cmp(const void *one, const void *two)
{
    const ngx_http_ci_jobs_json_plan_t  *a = one, *b = two;

    return (a->start > b->start) - (a->start < b->start);
}


/* the output from..to, with the plans inside it */

static u_char *
ngx_http_ci_jobs_json_emit(ngx_http_ci_jobs_json_t *json, u_char *p,
    size_t from, size_t to)
{
    size_t                         lo, hi, mid;
    ngx_http_ci_jobs_json_plan_t  *plan;

    for ( ;; ) {

        /* the first plan at or after from */

        lo = 0;
        hi = json->nplans;

        while (lo < hi) {
            mid = lo + (hi - lo) / 2;

            if (json->plans[mid].start < from) {
                lo = mid + 1;

            } else {
                hi = mid;
            }
        }

        if (lo == json->nplans || json->plans[lo].start >= to) {
            break;
        }

        plan = &json->plans[lo];

        p = (u_char *) memcpy(p, json->out + from, plan->start - from)
            + (plan->start - from);
        p = ngx_http_ci_jobs_json_emit_plan(json, p, plan);

        from = plan->end;
    }

    return (u_char *) memcpy(p, json->out + from, to - from) + (to - from);
}


/* an object from its plan: each name once, at its first place */

static u_char *
ngx_http_ci_jobs_json_emit_plan(ngx_http_ci_jobs_json_t *json, u_char *p,
    ngx_http_ci_jobs_json_plan_t *plan)
{
    u_char                        *start;
    size_t                         i, j;
    ngx_http_ci_jobs_json_rec_t   *rec;
    ngx_http_ci_jobs_json_name_t  *nm;

    *p++ = '{';
    start = p;

    for (i = 0; i < plan->nrecs; i++) {
        rec = &plan->recs[i];

        if (rec->repeat) {
            continue;
        }

        nm = &json->names[rec->name];

        if (p != start) {
            *p++ = ',';
        }

        *p++ = '"';
        p = (u_char *) memcpy(p, nm->name, nm->len) + nm->len;
        *p++ = '"';
        *p++ = ':';

        if (rec->next == 0 && !rec->list && !nm->array) {
            p = ngx_http_ci_jobs_json_emit(json, p, rec->value, rec->end);
            continue;
        }

        *p++ = '[';

        for (j = i; /* void */ ; j = plan->recs[j].next) {
            p = ngx_http_ci_jobs_json_emit(json, p, plan->recs[j].value,
                                           plan->recs[j].end);

            if (plan->recs[j].next == 0) {
                break;
            }

            *p++ = ',';
        }

        *p++ = ']';
    }

    *p++ = '}';

    return p;
}


/*
 * A name's hash, from its length and three of its bytes: enough to tell
 * CI's names apart; equal hashes are compared whole.
 */

static uint32_t
ngx_http_ci_jobs_json_hash(const u_char *name, size_t len)
{
    uint32_t  h;

    h = (uint32_t) len << 24 | (uint32_t) name[0] << 16
        | (uint32_t) name[len / 2] << 8 | name[len - 1];

    /* the table takes the low bits: fold the product's high ones in */

    h *= 0x9e3779b1u;

    return h ^ (h >> 16);
}


/* the index of a name in json->names, added on first sight */

static int
ngx_http_ci_jobs_json_name(ngx_http_ci_jobs_json_t *json,
    const u_char *name, size_t len, uint32_t *index)
{
    size_t                              i, mask;
    uint32_t                            slot, hash;
    ngx_http_ci_jobs_json_name_t       *nm;
    const ngx_http_ci_jobs_xml_conf_t  *conf;

    if (json->nslots == 0 && ngx_http_ci_jobs_json_rehash(json) != 0) {
        return -1;
    }

    hash = ngx_http_ci_jobs_json_hash(name, len);
    mask = json->nslots - 1;

    for (i = hash & mask; /* void */ ; i = (i + 1) & mask) {
        slot = json->slots[i];

        if (slot == 0) {
            break;
        }

        nm = &json->names[slot - 1];

        if (nm->hash == hash && nm->len == len
            && memcmp(nm->name, name, len) == 0)
        {
            *index = slot - 1;
            return 0;
        }
    }

    if (len > UINT32_MAX) {
        return -1;
    }

    if (json->nnames == json->names_cap) {
        nm = ngx_http_ci_jobs_json_grow(json, json->names, &json->names_cap,
                                        json->nnames + 1,
                                        sizeof(ngx_http_ci_jobs_json_name_t));
        if (nm == NULL) {
            return -1;
        }

        json->names = nm;
    }

    nm = &json->names[json->nnames];

    nm->name = name;
    nm->len = (uint32_t) len;
    nm->hash = hash;
    nm->last = 0;
    nm->array = 0;

    conf = json->conf;

    for (i = 0; i < conf->narray_names; i++) {
        if (conf->array_names[i].len == len
            && memcmp(conf->array_names[i].data, name, len) == 0)
        {
            nm->array = 1;
            break;
        }
    }

    *index = (uint32_t) json->nnames++;

    if (2 * json->nnames > json->nslots) {
        return ngx_http_ci_jobs_json_rehash(json);
    }

    for (i = hash & mask; json->slots[i]; i = (i + 1) & mask) {
        /* void */
    }

    json->slots[i] = *index + 1;

    return 0;
}


static int
ngx_http_ci_jobs_json_rehash(ngx_http_ci_jobs_json_t *json)
{
    size_t     i, j, n, mask;
    uint32_t  *slots;

    n = json->nslots ? 2 * json->nslots : NGX_HTTP_CI_JOBS_JSON_SLOTS;

    slots = json->conf->alloc(json->conf->alloc_data, n * sizeof(uint32_t));
    if (slots == NULL) {
        return -1;
    }

    memset(slots, 0, n * sizeof(uint32_t));
    mask = n - 1;

    for (i = 0; i < json->nnames; i++) {
        for (j = json->names[i].hash & mask; slots[j]; j = (j + 1) & mask) {
            /* void */
        }

        slots[j] = (uint32_t) i + 1;
    }

    ngx_http_ci_jobs_json_free(json, json->slots);

    json->slots = slots;
    json->nslots = n;

    return 0;
}


/* the output moved to a buffer with room for n more bytes */

static int
ngx_http_ci_jobs_json_reserve(ngx_http_ci_jobs_json_t *json, size_t n)
{
    u_char  *out;
    size_t   cap;

    cap = json->cap ? 2 * json->cap : json->hint;

    if (cap < json->len + n) {
        cap = json->len + n;
    }

    out = json->conf->alloc(json->conf->alloc_data, cap);
    if (out == NULL) {
        return -1;
    }

    if (json->len) {
        memcpy(out, json->out, json->len);
    }

    ngx_http_ci_jobs_json_free(json, json->out);

    json->out = out;
    json->cap = cap;

    return 0;
}


/*
 * A new array of at least need elements of size bytes, the old ones
 * copied, the old array released.
 */

static void *
ngx_http_ci_jobs_json_grow(ngx_http_ci_jobs_json_t *json, void *old,
    size_t *nalloc, size_t need, size_t size)
{
    void   *p;
    size_t  n;

    n = *nalloc ? 2 * *nalloc : 16;

    if (n < need) {
        n = need;
    }

    if (n > SIZE_MAX / size || n > UINT32_MAX) {
        return NULL;
    }

    p = json->conf->alloc(json->conf->alloc_data, n * size);
    if (p == NULL) {
        return NULL;
    }

    if (*nalloc) {
        memcpy(p, old, *nalloc * size);
    }

    ngx_http_ci_jobs_json_free(json, old);

    *nalloc = n;

    return p;
}


static void
ngx_http_ci_jobs_json_free(ngx_http_ci_jobs_json_t *json, void *p)
{
    if (p != NULL && json->conf->free != NULL) {
        json->conf->free(json->conf->alloc_data, p);
    }
}


/* the pass is over: all the writer holds but the JSON it returns */

void
ngx_http_ci_jobs_json_release(ngx_http_ci_jobs_json_t *json,
    int keep_out)
{
    size_t  i;

    for (i = 0; i < json->nplans; i++) {
        ngx_http_ci_jobs_json_free(json, json->plans[i].recs);
    }

    ngx_http_ci_jobs_json_free(json, json->plans);
    ngx_http_ci_jobs_json_free(json, json->levels);
    ngx_http_ci_jobs_json_free(json, json->recs);
    ngx_http_ci_jobs_json_free(json, json->names);
    ngx_http_ci_jobs_json_free(json, json->slots);

    if (!keep_out) {
        ngx_http_ci_jobs_json_free(json, json->out);
    }
}


/* the length of s escaped */

static size_t
ngx_http_ci_jobs_json_escaped_len(const u_char *s, size_t len)
{
    size_t  i, n;

    n = len;

    for (i = 0; i < len; i++) {
        switch (ngx_http_ci_jobs_json_esc[s[i]]) {

        case 0:
            break;

        case 'u':
            n += 5;
            break;

        default:
            n += 1;
        }
    }

    return n;
}


/* eight bytes at a time while none is below 0x20, '"' or '\' */

u_char *
ngx_http_ci_jobs_json_escape(u_char *p, const u_char *s, size_t len)
{
    u_char         c, e;
    uint64_t       w;
    const u_char  *last;

    static const u_char    hex[] = "0123456789abcdef";
    static const uint64_t  quotes = '"' * NGX_HTTP_CI_JOBS_ONES;
    static const uint64_t  backslashes = '\\' * NGX_HTTP_CI_JOBS_ONES;

    last = s + len;

    while (s < last) {

        while (last - s >= 8) {
            memcpy(&w, s, 8);

            if (ngx_http_ci_jobs_has_less(w, 0x20)
                | ngx_http_ci_jobs_has_less(w ^ quotes, 1)
                | ngx_http_ci_jobs_has_less(w ^ backslashes, 1))
            {
                break;
            }

            memcpy(p, &w, 8);
            p += 8;
            s += 8;
        }

        if (s == last) {
            break;
        }

        c = *s++;
        e = ngx_http_ci_jobs_json_esc[c];

        if (e == 0) {
            *p++ = c;
            continue;
        }

        *p++ = '\\';
        *p++ = e;

        if (e == 'u') {
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    return p;
}
