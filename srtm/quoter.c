/*
 * The quoter thread; see quoter.h. Invariant: only this thread touches ctx after
 * quoter_start returns; the queue is covered by lock.
 *
 * Gathering: while a TPM quote runs, the verifiers answered by the previous one send
 * their next requests, so under steady load the waiting jobs split into two cohorts that
 * take turns, each getting half the batch. Before a quote, when fewer jobs wait than the
 * previous batch answered, the quoter waits for the rest, at most GATHER_SHARE of the
 * previous TPM quote's duration (and GATHER_MAX_NS): on a TPM that quotes in 200 ms that
 * is up to 25 ms for twice the batch, on swtpm a fraction of a millisecond.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quoter.h"

struct srtm_quoter {
    km_ctx *ctx; /* NULL after a TPM failure until the next job reconnects */
    const km_aik *aik;
    char tcti[256];
    bool has_tcti;
    uint32_t aik_handle;
    irk *key;
    irk_signer *signer; /* quoter thread only */
    quoter_identity id;
    pthread_t thread;
    pthread_mutex_t lock; /* covers head, tail, queued, gather_target, stopping */
    pthread_cond_t cond;
    quote_job *head, *tail;
    size_t queued;        /* jobs from head to tail */
    size_t gather_target; /* while gathering: wake the quoter when this many wait */
    bool stopping;
    bool joined; /* quoter_stop joined the thread */
    uint64_t jobs, tpm_quotes; /* under lock */
    srtm_err last_err;         /* of the last TPM quote; under lock */
    /* quoter thread only: the previous batch */
    size_t last_batch;
    long long last_quote_ns;
};

/* The share of the previous TPM quote's duration the quoter waits for a full batch. */
#define GATHER_SHARE 8
#define GATHER_MAX_NS 50000000LL

static long long mono_ns(void)
{
    return (long long)srtm_mono_ns();
}

/* A context whose TPM went away stays broken in ESYS: open a new one. The AIK is the
 * persistent one of the proof period; a rebooted TPM still holds it, and verifiers see
 * the reboot in the quote's resetCount. */
static srtm_err reconnect(srtm_quoter *q)
{
    km_close(q->ctx);
    q->ctx = NULL;
    q->aik = NULL;
    km_ctx *ctx = NULL;
    srtm_err err = km_open(q->has_tcti ? q->tcti : NULL, &ctx);
    if (err == SRTM_OK && (err = km_aik_load(ctx, q->aik_handle, &q->aik)) != SRTM_OK)
        km_close(ctx);
    if (err == SRTM_OK) {
        q->ctx = ctx;
        log_info("quoter: reconnected to the TPM");
    }
    return err;
}

srtm_err quoter_prepare(srtm_quoter *q, quote_job *job)
{
    (void)q;
    memset(&job->result, 0, sizeof(job->result));
    srtm_err err = SRTM_OK;
    if (job->report_digest != NULL)
        memcpy(job->digest, job->report_digest, SRTM_DIGEST_LEN);
    else
        err = srtm_sha256(job->report, job->report_len, job->digest);
    if (err == SRTM_OK)
        err = irk_quote_qualifier_of_digest(job->nonce, job->nonce_len, job->digest, job->qual);
    return err;
}

/* The IRK's signature for n jobs quoted over root: alone, the report signature; in a
 * batch, one signature of the root for all (irk.h). */
static srtm_err sign_batch(srtm_quoter *q, quote_job **jobs, size_t n,
                           const uint8_t root[SRTM_DIGEST_LEN], uint8_t sig[IRK_SIG_MAX],
                           size_t *sig_len)
{
    if (n == 1)
        return irk_signer_sign_digest(q->signer, jobs[0]->nonce, jobs[0]->nonce_len,
                                      jobs[0]->digest, sig, sig_len, jobs[0]->qual);
    return irk_signer_sign_root(q->signer, root, sig, sig_len);
}

/*
 * Serve n prepared jobs with one TPM quote and one IRK signature: alone, its
 * qualifyingData is the job's qualifier; in a batch, the Merkle root over every qualifier,
 * each job getting its inclusion path (all paths from one pass over the tree).
 */
static void serve_batch(srtm_quoter *q, quote_job **jobs, size_t n)
{
    /* The quoter thread's own scratch space. */
    static uint8_t qual[MERKLE_MAX_LEAVES][SRTM_DIGEST_LEN];
    static uint8_t paths[MERKLE_MAX_LEAVES][MERKLE_MAX_PATH][SRTM_DIGEST_LEN];
    static size_t lens[MERKLE_MAX_LEAVES];
    for (size_t i = 0; i < n; i++)
        memcpy(qual[i], jobs[i]->qual, SRTM_DIGEST_LEN);
    srtm_err err = SRTM_OK;
    uint8_t root[SRTM_DIGEST_LEN], sig[IRK_SIG_MAX];
    size_t sig_len = 0;
    km_tpm_quote tq;
    if (q->ctx == NULL)
        err = reconnect(q);
    if (err == SRTM_OK) {
        if (n == 1)
            memcpy(root, qual[0], SRTM_DIGEST_LEN);
        else
            err = merkle_build_all((const uint8_t(*)[SRTM_DIGEST_LEN])qual, n, root, paths, lens);
        if (err == SRTM_OK)
            err = sign_batch(q, jobs, n, root, sig, &sig_len);
        long long t0 = mono_ns();
        if (err == SRTM_OK)
            err = km_quote(q->ctx, q->aik, q->id.quote_mask, root, sizeof(root), &tq);
        q->last_quote_ns = mono_ns() - t0;
    }
    q->last_batch = err == SRTM_OK ? n : 0;
    for (size_t i = 0; i < n; i++) {
        quote_result *r = &jobs[i]->result;
        r->err = err;
        if (err != SRTM_OK)
            continue;
        r->quote = tq;
        memcpy(r->irk_sig, sig, sig_len);
        r->irk_sig_len = sig_len;
        r->leaf_index = (uint32_t)i;
        r->leaf_count = (uint32_t)n;
        if (n > 1) {
            memcpy(r->path, paths[i], lens[i] * SRTM_DIGEST_LEN);
            r->path_len = lens[i];
        }
    }
    if (err != SRTM_OK)
        log_warn("quote failed: %s", srtm_strerror(err));
    if (err == SRTM_E_TPM) {
        km_close(q->ctx);
        q->ctx = NULL;
        q->aik = NULL;
    }
    pthread_mutex_lock(&q->lock);
    q->jobs += n;
    q->tpm_quotes += err == SRTM_OK ? 1 : 0;
    q->last_err = err;
    pthread_mutex_unlock(&q->lock);
    for (size_t i = 0; i < n; i++)
        jobs[i]->done(jobs[i]);
}

/* Under lock, with jobs waiting: wait for as many as the previous batch had, within the
 * time share of the previous quote (see the top of the file). */
static void gather(srtm_quoter *q)
{
    size_t want = q->last_batch < MERKLE_MAX_LEAVES ? q->last_batch : MERKLE_MAX_LEAVES;
    if (want < 2 || q->queued >= want)
        return;
    long long wait = q->last_quote_ns / GATHER_SHARE;
    long long until = mono_ns() + (wait < GATHER_MAX_NS ? wait : GATHER_MAX_NS);
    struct timespec ts = {.tv_sec = (time_t)(until / 1000000000LL),
                          .tv_nsec = (long)(until % 1000000000LL)};
    q->gather_target = want;
    while (q->queued < want && !q->stopping)
        if (pthread_cond_timedwait(&q->cond, &q->lock, &ts) == ETIMEDOUT)
            break;
    q->gather_target = 0;
}

static void *quoter_main(void *arg)
{
    srtm_quoter *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->head == NULL && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        if (!q->stopping)
            gather(q);
        if (q->stopping)
            break;
        /* Everything waiting, up to a full tree, goes into one TPM quote. */
        quote_job *batch[MERKLE_MAX_LEAVES];
        size_t n = 0;
        while (q->head != NULL && n < MERKLE_MAX_LEAVES) {
            batch[n++] = q->head;
            q->head = q->head->next;
            q->queued--;
        }
        if (q->head == NULL)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);
        serve_batch(q, batch, n);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

srtm_err quoter_start(km_ctx *ctx, const km_aik *aik, irk *key, const quoter_identity *id,
                      const char *tcti, uint32_t aik_handle, srtm_quoter **out)
{
    if (tcti != NULL && strlen(tcti) >= sizeof(((srtm_quoter *)0)->tcti))
        return SRTM_E_TOO_BIG;
    srtm_quoter *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return SRTM_E_NO_MEMORY;
    q->ctx = ctx;
    q->aik = aik;
    q->has_tcti = tcti != NULL;
    if (tcti != NULL)
        memcpy(q->tcti, tcti, strlen(tcti) + 1);
    q->aik_handle = aik_handle;
    q->key = key;
    q->id = *id;
    srtm_err err = irk_signer_new(key, &q->signer);
    if (err != SRTM_OK) {
        free(q);
        return err;
    }
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        irk_signer_free(q->signer);
        free(q);
        return SRTM_E_INTERNAL;
    }
    pthread_condattr_t ca;
    bool cond_ok = pthread_condattr_init(&ca) == 0;
    if (cond_ok) {
        /* gather()'s deadline is on the monotonic clock. */
        cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&q->cond, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!cond_ok) {
        pthread_mutex_destroy(&q->lock);
        irk_signer_free(q->signer);
        free(q);
        return SRTM_E_INTERNAL;
    }
    if (pthread_create(&q->thread, NULL, quoter_main, q) != 0) {
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->lock);
        irk_signer_free(q->signer);
        free(q);
        return SRTM_E_INTERNAL;
    }
    *out = q;
    return SRTM_OK;
}

void quoter_submit(srtm_quoter *q, quote_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->tail != NULL)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->queued++;
    /* One wake-up per batch: the quoter waits on an empty queue, or while gathering for
     * gather_target jobs; it takes everything waiting when it runs. */
    bool wake = q->queued == 1 || q->queued == q->gather_target;
    pthread_mutex_unlock(&q->lock);
    if (wake)
        pthread_cond_signal(&q->cond);
}

const quoter_identity *quoter_get_identity(const srtm_quoter *q)
{
    return &q->id;
}

void quoter_stats(srtm_quoter *q, quoter_counts *out)
{
    pthread_mutex_lock(&q->lock);
    out->jobs = q->jobs;
    out->tpm_quotes = q->tpm_quotes;
    out->waiting = q->queued;
    out->last_err = q->last_err;
    pthread_mutex_unlock(&q->lock);
}

void quoter_stop(srtm_quoter *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    bool joined = q->joined;
    q->stopping = true;
    q->joined = true;
    q->head = q->tail = NULL;
    q->queued = 0;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    if (!joined)
        pthread_join(q->thread, NULL);
}

void quoter_free(srtm_quoter *q)
{
    if (q == NULL)
        return;
    quoter_stop(q);
    log_info("quoter: %llu joint quotes answered with %llu TPM quotes",
             (unsigned long long)q->jobs, (unsigned long long)q->tpm_quotes);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    irk_signer_free(q->signer);
    irk_free(q->key);
    km_close(q->ctx);
    free(q);
}
