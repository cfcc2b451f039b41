
/*
 * A whole file read into memory, for the C unit tests.
 */


#ifndef _NGX_HTTP_CI_JOBS_SLURP_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_SLURP_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>


/* path's bytes, NUL-terminated, their number in *len; NULL on failure */

static char *
slurp(const char *path, size_t *len)
{
    long   n;
    FILE  *f;
    char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = (n < 0) ? NULL : malloc(n + 1);

    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);

    buf[n] = '\0';
    *len = n;

    return buf;
}


#endif /* _NGX_HTTP_CI_JOBS_SLURP_H_INCLUDED_ */
