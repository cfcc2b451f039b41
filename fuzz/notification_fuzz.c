
/*
 * libFuzzer target of the notification parser
 * (src/ngx_http_ci_jobs_notification.c): make build/fuzz/notification_fuzz,
 * then
 *
 *   mkdir -p /tmp/notification_corpus
 *   build/fuzz/notification_fuzz -dict=fuzz/xml.dict -max_total_time=300 \
 *       /tmp/notification_corpus fuzz/corpus/notification
 *
 * Invariants, each checked with abort():
 * - accepted: an event TaskFinish or WorkflowFinish, 1 to
 *   NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS ids, each 1-64 ASCII letters
 *   and digits, no two the same, no error;
 * - refused: an error and no id;
 * - the same bytes at another address give the same answer;
 * - nothing is read outside the input (AddressSanitizer), nothing leaks
 *   (LeakSanitizer) once the pass's pool is freed.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "ngx_http_ci_jobs_notification.h"


static void fuzz_check(int rc, const ngx_http_ci_jobs_notification_t *n);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                              rc, crc;
    u_char                          *copy;
    ngx_http_ci_jobs_notification_t  n, cn;

    rc = ngx_http_ci_jobs_notification_parse(data, size, pool_alloc, NULL,
                                             &n);
    fuzz_check(rc, &n);
    pool_free();

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }

    memcpy(copy, data, size);

    crc = ngx_http_ci_jobs_notification_parse(copy, size, pool_alloc, NULL,
                                              &cn);
    pool_free();
    free(copy);

    if (crc != rc || cn.event != n.event || cn.nids != n.nids
        || memcmp(cn.id_len, n.id_len, sizeof(n.id_len)) != 0
        || memcmp(cn.id, n.id, sizeof(n.id)) != 0)
    {
        abort();
    }

    return 0;
}


static void
fuzz_check(int rc, const ngx_http_ci_jobs_notification_t *n)
{
    size_t  i, j;
    u_char  c;

    if (rc == NGX_HTTP_CI_JOBS_NOTIFICATION_INVALID) {
        if (n->error == NULL || n->nids != 0) {
            abort();
        }

        return;
    }

    if (rc != NGX_HTTP_CI_JOBS_NOTIFICATION_OK || n->error != NULL
        || n->nids == 0 || n->nids > NGX_HTTP_CI_JOBS_NOTIFICATION_MAX_IDS
        || (n->event != NGX_HTTP_CI_JOBS_TASK_FINISH
            && n->event != NGX_HTTP_CI_JOBS_WORKFLOW_FINISH))
    {
        abort();
    }

    for (i = 0; i < n->nids; i++) {

        if (n->id_len[i] == 0 || n->id_len[i] > NGX_HTTP_CI_JOBS_MAX_ID_LEN) {
            abort();
        }

        for (j = 0; j < n->id_len[i]; j++) {
            c = n->id[i][j];

            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
                  || (c >= 'A' && c <= 'Z')))
            {
                abort();
            }
        }

        for (j = 0; j < i; j++) {
            if (n->id_len[j] == n->id_len[i]
                && memcmp(n->id[j], n->id[i], n->id_len[i]) == 0)
            {
                abort();
            }
        }
    }
}
