/*
 * The quoter: the one thread that owns the TPM once the proof period is over. nng's
 * callback threads never wait for the TPM; they hand a job (a nonce and a serialised
 * report) to the quoter and are called back when the IRK signature and the TPM quote
 * are ready. One thread per TPM also keeps to what tcti-swtpm and a TPM without resource
 * manager allow (see ../shared/TPM-RECIPE.md).
 */
#ifndef SRTM_QUOTER_H
#define SRTM_QUOTER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "irk.h"
#include "km.h"
#include "merkle.h"

typedef struct srtm_quoter srtm_quoter;

/* What one joint quote adds to a report. When batched (leaf_count > 1), quote covers
 * the Merkle root over the batch's qualifiers and path leads this job's leaf to it. */
typedef struct quote_result {
    srtm_err err;
    uint8_t irk_sig[IRK_SIG_MAX];
    size_t irk_sig_len;
    km_tpm_quote quote;
    uint32_t leaf_index, leaf_count;
    uint8_t path[MERKLE_MAX_PATH][SRTM_DIGEST_LEN];
    size_t path_len;
} quote_result;

typedef struct quote_job quote_job;
struct quote_job {
    /* in: valid until done is called */
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *report;
    size_t report_len;
    const uint8_t *report_digest; /* SHA-256(report) when known, else NULL */
    /* set by quoter_prepare */
    uint8_t digest[SRTM_DIGEST_LEN]; /* SHA-256(report) */
    uint8_t qual[SRTM_DIGEST_LEN];   /* SHA-256(nonce || SHA-256(report)) */
    /* out */
    quote_result result;
    /* called on the quoter thread when result is filled (err set on failure) */
    void (*done)(quote_job *job);
    void *arg;
    quote_job *next; /* queue link, owned by the quoter */
};

/* What the proof period produced and the quoter keeps for every answer. */
typedef struct quoter_identity {
    km_tpm_quote certificate;          /* the IRK certificate (proof-period quote) */
    uint8_t irk_public[IRK_PUB_DER_MAX];
    size_t irk_public_len;
    uint32_t quote_mask;               /* PCRs every joint quote covers */
} quoter_identity;

/*
 * Start the quoter thread. It takes ownership of ctx (closed by quoter_free) and irk
 * (freed and wiped by quoter_free); aik belongs to ctx. tcti (copied; NULL: tctildr's
 * default) and the AIK's handle let the quoter reconnect: a TPM context that lost its
 * connection stays broken, so after a TPM failure the next job opens a new one.
 */
SRTM_WUR srtm_err quoter_start(km_ctx *ctx, const km_aik *aik, irk *key,
                               const quoter_identity *id, const char *tcti,
                               uint32_t aik_handle, srtm_quoter **out);

/*
 * Hash job's report (unless report_digest is given) and compute its qualifier, on the
 * calling thread (the nng workers run these in parallel). The IRK signs on the quoter
 * thread: a job served alone gets the report signature (irk_sign_report's), the jobs of a
 * batch share one signature of the batch's Merkle root (irk_signer_sign_root). On failure
 * the job must not be submitted; answer it with the error.
 */
SRTM_WUR srtm_err quoter_prepare(srtm_quoter *q, quote_job *job);

/* Queue a prepared job; done runs later on the quoter thread. Jobs waiting together share
 * one TPM quote (quoter.c: batching and gathering). */
void quoter_submit(srtm_quoter *q, quote_job *job);

const quoter_identity *quoter_get_identity(const srtm_quoter *q);

/* The quoter's health: joint quotes answered and TPM quotes made for them so far
 * (batching makes the second smaller than the first under load), the joint quotes waiting
 * for the TPM now, and the outcome of the last TPM quote (SRTM_OK before the first). */
typedef struct quoter_counts {
    uint64_t jobs, tpm_quotes;
    size_t waiting;
    srtm_err last_err;
} quoter_counts;

void quoter_stats(srtm_quoter *q, quoter_counts *out);

/* Stop the thread: the job being served finishes (done is called), queued jobs (and jobs
 * submitted later) are dropped without a call; no done call runs after this returns.
 * Called again, it does nothing. NULL is fine. */
void quoter_stop(srtm_quoter *q);
/* quoter_stop, then close the TPM context and wipe the IRK. NULL is fine. */
void quoter_free(srtm_quoter *q);

#endif /* SRTM_QUOTER_H */
