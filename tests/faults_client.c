/*
 * A client for tests/test_faults.c to kill in the middle of a request: builds a batch of
 * SRTM_MAX_BATCH measurements of CCR 0 of COMPONENT (event type TAG, long descriptions),
 * writes "g" to stdout once it is about to send, then submits it. Its own program because
 * nng cannot be used in a process forked from one that already used it (criterion does).
 * Exit status: 0 the batch was applied, 1 usage, 2 set-up failed, 3 submit failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <srtm/srtm.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: faults_client URL CAP_FILE COMPONENT TAG\n");
        return 1;
    }
    uint32_t tag = (uint32_t)strtoul(argv[4], NULL, 10);
    srtm_cap cap;
    srtm_conn *c = NULL;
    srtm_batch *b = NULL;
    if (srtm_cap_load(argv[2], &cap) != SRTM_OK || srtm_open(argv[1], &c) != SRTM_OK ||
        srtm_batch_new(&b) != SRTM_OK)
        return 2;
    char desc[200];
    memset(desc, 'm', sizeof(desc) - 1);
    desc[sizeof(desc) - 1] = '\0';
    for (uint32_t i = 0; i < SRTM_MAX_BATCH; i++) {
        uint8_t dg[SRTM_DIGEST_LEN];
        memset(dg, (int)(i & 0xff), sizeof(dg));
        memcpy(dg, &tag, sizeof(tag));
        memcpy(dg + 4, &i, sizeof(i));
        if (srtm_batch_add(b, 0, dg, tag, desc) != SRTM_OK)
            return 2;
    }
    if (write(STDOUT_FILENO, "g", 1) != 1)
        return 2;
    srtm_err err = srtm_batch_submit(c, &cap, argv[3], b, NULL, NULL);
    srtm_batch_free(b);
    srtm_close(c);
    srtm_cap_wipe(&cap);
    if (err != SRTM_OK) {
        fprintf(stderr, "faults_client: %s\n", srtm_strerror(err));
        return 3;
    }
    return 0;
}
