/*
 * Batched joint quotes on a real swtpm: with many verifiers asking at once, srtmd
 * answers several with one TPM quote and one IRK signature over a Merkle root. Every
 * answer, batched or not, verifies; a batched answer with a corrupted path, with another request's leaf, or
 * with a tree that does not match the quote is refused by the verifier.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common.h"
#include "helpers.h"
#include "srtm.pb-c.h"

static test_platform P;

static void setup(void)
{
    test_platform_start(&P);
}

static void teardown(void)
{
    test_platform_stop(&P);
}

TestSuite(batch, .init = setup, .fini = teardown, .timeout = 180);

#define THREADS 16
#define PER_THREAD 8

typedef struct job {
    int id;
    uint8_t nonce[PER_THREAD][20];
    uint8_t *ev[PER_THREAD];
    size_t len[PER_THREAD];
    srtm_err err;
} job;

static void *asker(void *arg)
{
    job *j = arg;
    srtm_conn *c = NULL;
    j->err = srtm_open(P.d.url, &c);
    for (int i = 0; j->err == SRTM_OK && i < PER_THREAD; i++) {
        snprintf((char *)j->nonce[i], sizeof(j->nonce[i]), "nonce-%02d-%02d-xxxxx", j->id, i);
        j->err = srtm_quote(c, j->nonce[i], sizeof(j->nonce[i]), NULL, 0, &j->ev[i], &j->len[i]);
    }
    srtm_close(c);
    return NULL;
}

static char *aik_pem(void)
{
    char *pem = NULL;
    size_t len = 0;
    cr_assert_eq(read_small_file(P.aik_pem, 4096, &pem, &len), SRTM_OK);
    return pem;
}

static srtm_verifier_policy *policy(void)
{
    char text[600], msg[256];
    snprintf(text, sizeof(text),
             "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
             "\"pcrs\":{\"reference_file\":\"%s\"},\"require\":[\"vm\"],"
             "\"unlisted\":\"replay-only\"}",
             P.ref);
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_parse(text, strlen(text), NULL, &pol, msg, sizeof(msg)), SRTM_OK,
                 "%s", msg);
    return pol;
}

static srtm_err verify(const uint8_t *ev, size_t len, const char *pem,
                       const srtm_verifier_policy *pol, const uint8_t *nonce)
{
    srtm_verify_result *r = NULL;
    srtm_err err = srtm_verify(ev, len, pem, pol, nonce, 20, &r);
    srtm_verify_result_free(r);
    return err;
}

/* Re-encode evidence e into a new buffer. */
static uint8_t *repack(const Srtm__Evidence *e, size_t *len)
{
    *len = srtm__evidence__get_packed_size(e);
    uint8_t *b = malloc(*len);
    cr_assert(b != NULL);
    srtm__evidence__pack(e, b);
    return b;
}

Test(batch, concurrent_verifiers_share_tpm_quotes_and_every_answer_verifies)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    srtm_cap cap;
    uint64_t h;
    cr_assert_eq(srtm_register(c, &P.d.admin, "vm", 1, &h, &cap), SRTM_OK);
    srtm_close(c);
    static job jobs[THREADS];
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&jobs[t], 0, sizeof(jobs[t]));
        jobs[t].id = t;
        cr_assert_eq(pthread_create(&th[t], NULL, asker, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    char *pem = aik_pem();
    srtm_verifier_policy *pol = policy();
    int batched = 0;
    Srtm__Evidence *a = NULL, *b = NULL; /* two evidences from the same batch */
    for (int t = 0; t < THREADS; t++) {
        cr_assert_eq(jobs[t].err, SRTM_OK, "asker %d: %s", t, srtm_strerror(jobs[t].err));
        for (int i = 0; i < PER_THREAD; i++) {
            cr_expect_eq(verify(jobs[t].ev[i], jobs[t].len[i], pem, pol, jobs[t].nonce[i]),
                         SRTM_OK, "evidence %d/%d does not verify", t, i);
            Srtm__Evidence *e = srtm__evidence__unpack(NULL, jobs[t].len[i], jobs[t].ev[i]);
            cr_assert(e != NULL);
            if (e->batch != NULL) {
                batched++;
                if (a == NULL) {
                    a = e;
                    continue;
                }
                if (b == NULL && e->quote->attest.len == a->quote->attest.len &&
                    memcmp(e->quote->attest.data, a->quote->attest.data, a->quote->attest.len) == 0) {
                    b = e;
                    continue;
                }
            }
            srtm__evidence__free_unpacked(e, NULL);
        }
    }
    cr_assert_gt(batched, 0, "128 concurrent quotes and not one batched");
    cr_assert(a != NULL && b != NULL, "no two answers of one batch to compare");
    /* The IRK signed the batch once: both answers carry the same signature, of the root. */
    cr_expect(a->irk_signature.len == b->irk_signature.len &&
                  memcmp(a->irk_signature.data, b->irk_signature.data, a->irk_signature.len) == 0,
              "two answers of one batch carry different IRK signatures");
    size_t len;
    uint8_t *bytes;
    /* One flipped byte in the path. */
    a->batch->path[0].data[3] ^= 1;
    bytes = repack(a, &len);
    cr_expect_eq(verify(bytes, len, pem, pol, (const uint8_t *)a->nonce.data), SRTM_E_DENIED,
                 "a corrupted batch path was accepted");
    free(bytes);
    a->batch->path[0].data[3] ^= 1;
    /* Another request's leaf: b's index and path with a's report and nonce. */
    Srtm__MerkleProof *mine = a->batch;
    a->batch = b->batch;
    bytes = repack(a, &len);
    cr_expect_eq(verify(bytes, len, pem, pol, (const uint8_t *)a->nonce.data), SRTM_E_DENIED,
                 "a swapped leaf was accepted");
    free(bytes);
    a->batch = mine;
    /* A tree that does not match the quote: one leaf more. */
    a->batch->leaf_count += 1;
    bytes = repack(a, &len);
    cr_expect_eq(verify(bytes, len, pem, pol, (const uint8_t *)a->nonce.data), SRTM_E_DENIED,
                 "a root that does not match the quote was accepted");
    free(bytes);
    a->batch->leaf_count -= 1;
    /* Unchanged, it still verifies (the refusals above came from the changes). */
    bytes = repack(a, &len);
    cr_expect_eq(verify(bytes, len, pem, pol, (const uint8_t *)a->nonce.data), SRTM_OK);
    free(bytes);
    srtm__evidence__free_unpacked(a, NULL);
    srtm__evidence__free_unpacked(b, NULL);
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            free(jobs[t].ev[i]);
    srtm_policy_free(pol);
    free(pem);
}
