
/*
 * Pool-style allocation for the XML pass outside nginx (unit tests,
 * fuzzers, benchmarks): a bump allocator over large blocks, freed all at
 * once, as nginx's request pools are.
 */


#ifndef _NGX_HTTP_CI_JOBS_POOL_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_POOL_H_INCLUDED_


#include <stdlib.h>
#include <sys/types.h>


#define POOL_BLOCK  65536


typedef struct pool_block_s  pool_block_t;

struct pool_block_s {
    pool_block_t  *next;
    size_t         used;
    size_t         size;
};


static pool_block_t  *pool_blocks;


static void *
pool_alloc(void *data, size_t size)
{
    u_char        *p;
    pool_block_t  *b;

    size = (size + 15) & ~(size_t) 15;

    if (pool_blocks == NULL || pool_blocks->size - pool_blocks->used < size) {
        b = malloc(sizeof(pool_block_t) + (size > POOL_BLOCK ? size
                                                              : POOL_BLOCK));
        if (b == NULL) {
            return NULL;
        }

        b->size = size > POOL_BLOCK ? size : POOL_BLOCK;
        b->used = 0;
        b->next = pool_blocks;
        pool_blocks = b;
    }

    p = (u_char *) (pool_blocks + 1) + pool_blocks->used;
    pool_blocks->used += size;

    return p;
}


static void
pool_free(void)
{
    pool_block_t  *b;

    while (pool_blocks) {
        b = pool_blocks;
        pool_blocks = b->next;
        free(b);
    }
}


#endif /* _NGX_HTTP_CI_JOBS_POOL_H_INCLUDED_ */
