/*
 * The quoter thread; see quoter.h. Invariant: only this thread touches ctx after
 * quoter_start returns; the queue is covered by lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "quoter.h"

struct srtm_quoter {
    km_ctx *ctx; /* NULL after a TPM failure until the next job reconnects */
    const km_aik *aik;
    char tcti[256];
    bool has_tcti;
    uint32_t aik_handle;
    irk *key;
    quoter_identity id;
    pthread_t thread;
    pthread_mutex_t lock; /* covers head, tail, stopping */
    pthread_cond_t cond;
    quote_job *head, *tail;
    bool stopping;
};

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

static void serve(srtm_quoter *q, quote_job *job)
{
    quote_result *r = &job->result;
    memset(r, 0, sizeof(*r));
    if (q->ctx == NULL && (r->err = reconnect(q)) != SRTM_OK) {
        log_warn("quote failed: the TPM is still unreachable");
        job->done(job);
        return;
    }
    r->err = irk_sign_report(q->key, job->nonce, job->nonce_len, job->report, job->report_len,
                             r->irk_sig, &r->irk_sig_len);
    uint8_t qual[SRTM_DIGEST_LEN];
    if (r->err == SRTM_OK)
        r->err = irk_quote_qualifier(job->nonce, job->nonce_len, job->report, job->report_len,
                                     qual);
    if (r->err == SRTM_OK)
        r->err = km_quote(q->ctx, q->aik, q->id.quote_mask, qual, sizeof(qual), &r->quote);
    if (r->err != SRTM_OK)
        log_warn("quote failed: %s", srtm_strerror(r->err));
    if (r->err == SRTM_E_TPM) {
        km_close(q->ctx);
        q->ctx = NULL;
        q->aik = NULL;
    }
    job->done(job);
}

static void *quoter_main(void *arg)
{
    srtm_quoter *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->head == NULL && !q->stopping)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->stopping)
            break;
        quote_job *job = q->head;
        q->head = job->next;
        if (q->head == NULL)
            q->tail = NULL;
        pthread_mutex_unlock(&q->lock);
        serve(q, job);
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
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        free(q);
        return SRTM_E_INTERNAL;
    }
    if (pthread_cond_init(&q->cond, NULL) != 0) {
        pthread_mutex_destroy(&q->lock);
        free(q);
        return SRTM_E_INTERNAL;
    }
    if (pthread_create(&q->thread, NULL, quoter_main, q) != 0) {
        pthread_cond_destroy(&q->cond);
        pthread_mutex_destroy(&q->lock);
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
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}

const quoter_identity *quoter_get_identity(const srtm_quoter *q)
{
    return &q->id;
}

void quoter_free(srtm_quoter *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    q->head = q->tail = NULL;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    irk_free(q->key);
    km_close(q->ctx);
    free(q);
}
