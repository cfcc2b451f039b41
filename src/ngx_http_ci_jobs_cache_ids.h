
/*
 * The cache zone's index from a job id (or a workflow run id) to the
 * entries whose lookups name it, for CI's notifications: an rbtree keyed
 * by the id's hash, of links that live in the entries themselves, one
 * per id, so that the index takes room in the zone as the entries do and
 * goes with them.  Every function runs under the zone's mutex.
 */


#ifndef _NGX_HTTP_CI_JOBS_CACHE_IDS_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_CACHE_IDS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* what each entry found is given: 1 if it counts as woken */
typedef ngx_uint_t (*ngx_http_ci_jobs_cache_ids_pt)(void *entry, void *data);


void ngx_http_ci_jobs_cache_ids_init(ngx_rbtree_t *tree,
    ngx_rbtree_node_t *sentinel);

/* the room the links of "id1,id2" take (the ids copied in) */
size_t ngx_http_ci_jobs_cache_ids_size(const u_char *ids, size_t ids_len);

/* the links written in that room, not in the index yet; their number */
ngx_uint_t ngx_http_ci_jobs_cache_ids_init_links(u_char *room,
    const u_char *ids, size_t ids_len);

void ngx_http_ci_jobs_cache_ids_link(ngx_rbtree_t *tree, u_char *room,
    void *entry, ngx_uint_t n);
void ngx_http_ci_jobs_cache_ids_unlink(ngx_rbtree_t *tree, u_char *room,
    ngx_uint_t n);

/* found() for each entry naming the id; the sum of what it returned */
ngx_uint_t ngx_http_ci_jobs_cache_ids_find(ngx_rbtree_t *tree,
    const u_char *id, size_t len, ngx_http_ci_jobs_cache_ids_pt found,
    void *data);


#endif /* _NGX_HTTP_CI_JOBS_CACHE_IDS_H_INCLUDED_ */
