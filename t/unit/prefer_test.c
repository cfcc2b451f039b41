
/*
 * Prefer: wait=N (RFC 7240), as clients write it.
 */


#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "ngx_http_ci_jobs_prefer.h"


int
main(void)
{
    size_t  i;
    long    got;

    static const struct {
        const char  *value;
        long         wait;
    } tests[] = {
        { "wait=30", 30 },
        { "WAIT=5", 5 },
        { "wait = 7", 7 },
        { "wait=\"12\"", 12 },
        { "respond-async, wait=100", 100 },
        { "respond-async,wait=3;x=y", 3 },
        { "handling=lenient; p=\"a,wait=9\", wait=4", 4 },
        { "return=minimal", -1 },
        { "waiting=3", -1 },
        { "wait", -1 },
        { "wait=", -1 },
        { "wait=-1", -1 },
        { "wait=1.5", -1 },
        { "wait=0", 0 },
        { "wait=99999999999999999999", 86400 },
        { "", -1 },
        { " , ,", -1 },
    };

    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        got = ngx_http_ci_jobs_prefer_wait((u_char *) tests[i].value,
                                           strlen(tests[i].value));
        tap_ok(got == tests[i].wait, "Prefer: %s: %ld (got %ld)",
               tests[i].value, tests[i].wait, got);
    }

    return tap_done();
}
