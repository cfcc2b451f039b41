
/*
 * A minimal TAP producer for the C unit tests, read by prove.
 */


#ifndef _NGX_HTTP_CI_JOBS_TAP_H_INCLUDED_
#define _NGX_HTTP_CI_JOBS_TAP_H_INCLUDED_


#include <stdio.h>
#include <string.h>


static int  tap_run;
static int  tap_failed;


#define tap_ok(cond, ...)                                                     \
    do {                                                                      \
        int  tap_c_ = (cond) ? 1 : 0;                                         \
        printf("%sok %d - ", tap_c_ ? "" : "not ", ++tap_run);                \
        printf(__VA_ARGS__);                                                  \
        printf("\n");                                                         \
        if (!tap_c_) {                                                        \
            tap_failed++;                                                     \
            printf("#   failed at %s line %d\n", __FILE__, __LINE__);         \
        }                                                                     \
    } while (0)


/* compares a buffer with a C string and shows both on failure */
#define tap_is_mem(got, got_len, want, ...)                                   \
    do {                                                                      \
        size_t  tap_l_ = strlen(want);                                        \
        int     tap_m_ = ((size_t) (got_len) == tap_l_                        \
                          && memcmp((got), (want), tap_l_) == 0);             \
        tap_ok(tap_m_, __VA_ARGS__);                                          \
        if (!tap_m_) {                                                        \
            printf("#          got: '%.*s'\n", (int) (got_len),               \
                   (const char *) (got));                                     \
            printf("#     expected: '%s'\n", (want));                         \
        }                                                                     \
    } while (0)


#define tap_done()                                                            \
    (printf("1..%d\n", tap_run), tap_failed ? 1 : 0)


#endif /* _NGX_HTTP_CI_JOBS_TAP_H_INCLUDED_ */
