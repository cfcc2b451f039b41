
/*
 * The cache zone's index from an id to the entries naming it.  An entry
 * of an id lookup carries one link per id after its key and answer's
 * request id; the links are in the index while the entry is in the zone.
 * The same id in several lookups ("jobs/a", "jobs/a,b") is several links
 * of equal keys: the tree is nginx's string tree, ordered by hash then
 * id, and a search for an id visits every subtree that may hold an equal
 * one.
 */


#include "ngx_http_ci_jobs_cache_ids.h"


/* sn: the id's hash and the id, in the entry after the links */
typedef struct {
    ngx_str_node_t                   sn;
    void                            *entry;
} ngx_http_ci_jobs_cache_link_t;


static ngx_uint_t ngx_http_ci_jobs_cache_ids_visit(ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, uint32_t hash, const u_char *id,
    size_t len, ngx_http_ci_jobs_cache_ids_pt found, void *data);


void
ngx_http_ci_jobs_cache_ids_init(ngx_rbtree_t *tree,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_init(tree, sentinel, ngx_str_rbtree_insert_value);
}


size_t
ngx_http_ci_jobs_cache_ids_size(const u_char *ids, size_t ids_len)
{
    size_t        n;
    const u_char  *p;

    if (ids_len == 0) {
        return 0;
    }

    n = 1;

    for (p = ids; p < ids + ids_len; p++) {
        if (*p == ',') {
            n++;
        }
    }

    return n * sizeof(ngx_http_ci_jobs_cache_link_t) + ids_len;
}


ngx_uint_t
ngx_http_ci_jobs_cache_ids_init_links(u_char *room, const u_char *ids,
    size_t ids_len)
{
    u_char                         *copy, *p, *end, *comma;
    ngx_uint_t                      i, n;
    ngx_http_ci_jobs_cache_link_t  *links;

    n = (ngx_http_ci_jobs_cache_ids_size(ids, ids_len) - ids_len)
        / sizeof(ngx_http_ci_jobs_cache_link_t);

    links = (ngx_http_ci_jobs_cache_link_t *) room;
    copy = room + n * sizeof(ngx_http_ci_jobs_cache_link_t);
    ngx_memcpy(copy, ids, ids_len);

    p = copy;
    end = copy + ids_len;

    for (i = 0; i < n; i++) {
        comma = ngx_strlchr(p, end, ',');

        if (comma == NULL) {
            comma = end;
        }

        links[i].sn.str.data = p;
        links[i].sn.str.len = comma - p;
        links[i].sn.node.key = ngx_murmur_hash2(p, comma - p);

        p = comma + 1;
    }

    return n;
}


void
ngx_http_ci_jobs_cache_ids_link(ngx_rbtree_t *tree, u_char *room,
    void *entry, ngx_uint_t n)
{
    ngx_uint_t                      i;
    ngx_http_ci_jobs_cache_link_t  *links;

    links = (ngx_http_ci_jobs_cache_link_t *) room;

    for (i = 0; i < n; i++) {
        links[i].entry = entry;
        ngx_rbtree_insert(tree, &links[i].sn.node);
    }
}


void
ngx_http_ci_jobs_cache_ids_unlink(ngx_rbtree_t *tree, u_char *room,
    ngx_uint_t n)
{
    ngx_uint_t                      i;
    ngx_http_ci_jobs_cache_link_t  *links;

    links = (ngx_http_ci_jobs_cache_link_t *) room;

    for (i = 0; i < n; i++) {
        ngx_rbtree_delete(tree, &links[i].sn.node);
    }
}


ngx_uint_t
ngx_http_ci_jobs_cache_ids_find(ngx_rbtree_t *tree, const u_char *id,
    size_t len, ngx_http_ci_jobs_cache_ids_pt found, void *data)
{
    return ngx_http_ci_jobs_cache_ids_visit(tree->root, tree->sentinel,
                                            ngx_murmur_hash2((u_char *) id,
                                                             len),
                                            id, len, found, data);
}


/*
 * The tree's order is (hash, id), equal keys on either side after
 * rotations: a node equal to the id may have equal ones in both subtrees.
 */

static ngx_uint_t
ngx_http_ci_jobs_cache_ids_visit(ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel, uint32_t hash, const u_char *id,
    size_t len, ngx_http_ci_jobs_cache_ids_pt found, void *data)
{
    ngx_int_t                       rc;
    ngx_uint_t                      n;
    ngx_http_ci_jobs_cache_link_t  *link;

    n = 0;

    while (node != sentinel) {

        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        link = (ngx_http_ci_jobs_cache_link_t *) node;

        rc = ngx_memn2cmp((u_char *) id, link->sn.str.data, len,
                          link->sn.str.len);

        if (rc != 0) {
            node = (rc < 0) ? node->left : node->right;
            continue;
        }

        n += found(link->entry, data);
        n += ngx_http_ci_jobs_cache_ids_visit(node->left, sentinel, hash, id,
                                              len, found, data);
        node = node->right;
    }

    return n;
}

