/*
 * A simulated host's answers to the requests srtmd serves on a read-only tcp listener:
 * quote answers with evidence (incremental when asked since a report of this boot's
 * srtmd instance, as srtmd answers); a mutation and status are refused as srtmd refuses them
 * there (DENIED, with srtmd's message); read, log, list and graph are not simulated
 * (UNSUPPORTED); malformed requests, other versions and oversized messages get srtmd's
 * status.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km.h"
#include "sim_int.h"
#include "srtm.pb-c.h"

#define NCOMP (1u + SIM_VMS)

typedef struct answer {
    Srtm__Response resp;
    char message[256];
} answer;

static srtm_err refuse(answer *a, srtm_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof(a->message), fmt, ap);
    va_end(ap);
    a->resp.message = a->message;
    return err;
}

/* The handle a ComponentRef names, or NCOMP when none. */
static unsigned find_ref(const Srtm__ComponentRef *r)
{
    if (r->ref_case == SRTM__COMPONENT_REF__REF_HANDLE)
        return r->handle < NCOMP ? (unsigned)r->handle : NCOMP;
    if (r->ref_case != SRTM__COMPONENT_REF__REF_NAME)
        return NCOMP;
    char name[16];
    for (unsigned c = 0; c < NCOMP; c++) {
        if (c == 0)
            snprintf(name, sizeof(name), "platform");
        else
            snprintf(name, sizeof(name), "vm-%u", c);
        if (r->name.len == strlen(name) && memcmp(r->name.data, name, r->name.len) == 0)
            return c;
    }
    return NCOMP;
}

/* The components a quote reports: the selection and, with closure, what it depends on. */
static srtm_err selection(const Srtm__QuoteRequest *q, answer *a, uint32_t *out)
{
    if (q->n_components == 0) {
        *out = (1u << NCOMP) - 1;
        return SRTM_OK;
    }
    uint32_t sel = 0;
    for (size_t i = 0; i < q->n_components; i++) {
        unsigned c = find_ref(q->components[i]);
        if (c == NCOMP)
            return refuse(a, SRTM_E_NO_COMPONENT, "no such component");
        sel |= 1u << c;
    }
    for (unsigned round = 0; round < NCOMP && !q->no_closure; round++)
        for (unsigned c = 0; c < NCOMP; c++) {
            const uint64_t *deps;
            size_t n = (sel & (1u << c)) ? sim_component_deps(c, &deps) : 0;
            for (size_t i = 0; i < n; i++)
                sel |= 1u << deps[i];
        }
    *out = sel;
    return SRTM_OK;
}

/* The evidence answering nonce (already the one the lie chose) over report. */
typedef struct evidence_mem {
    uint8_t irk_sig[IRK_SIG_MAX], qa[KM_MAX_ATTEST], qs[KM_MAX_SIG];
    size_t irk_sig_len, qa_len, qs_len;
    uint32_t pcrs[2];
    ProtobufCBinaryData qv[2], cv[2];
    Srtm__TpmQuote quote, cert;
    Srtm__Evidence ev;
    Srtm__QuoteResponse qr;
} evidence_mem;

static srtm_err sign_evidence(sim_host *h, const uint8_t *nonce, size_t nonce_len,
                              const uint8_t *report, size_t report_len, double now,
                              evidence_mem *m)
{
    uint8_t q[SRTM_DIGEST_LEN];
    sim_attest at = {.qual = q, .pcr0 = h->pcr_boot, .pcr15 = h->pcr_running,
                     .clock = (uint64_t)((now - h->boot_start) * 1000.0) + 5000,
                     .reset_count = (uint32_t)(1 + h->boot), .signer = h->signer};
    EVP_PKEY *key = h->k.lie == SIM_WRONG_AIK ? h->wrong_aik : h->aik;
    srtm_err err = irk_sign_report(h->irk, nonce, nonce_len, report, report_len, m->irk_sig,
                                   &m->irk_sig_len);
    if (err == SRTM_OK)
        err = irk_quote_qualifier(nonce, nonce_len, report, report_len, q);
    if (err == SRTM_OK)
        err = sim_make_attest(&at, m->qa, sizeof(m->qa), &m->qa_len);
    if (err == SRTM_OK)
        err = sim_tpm_sign(key, m->qa, m->qa_len, m->qs, sizeof(m->qs), &m->qs_len);
    return err;
}

static void fill_evidence(sim_host *h, const uint8_t *nonce, size_t nonce_len,
                          uint8_t *report, size_t report_len, evidence_mem *m)
{
    m->pcrs[0] = 0;
    m->pcrs[1] = 15;
    m->qv[0] = m->cv[0] = (ProtobufCBinaryData){SRTM_DIGEST_LEN, h->pcr_boot};
    m->qv[1] = (ProtobufCBinaryData){SRTM_DIGEST_LEN, h->pcr_running};
    m->cv[1] = (ProtobufCBinaryData){SRTM_DIGEST_LEN, h->pcr_proof};
    srtm__tpm_quote__init(&m->quote);
    m->quote.attest = (ProtobufCBinaryData){m->qa_len, m->qa};
    m->quote.signature = (ProtobufCBinaryData){m->qs_len, m->qs};
    m->quote.n_pcrs = m->quote.n_pcr_values = 2;
    m->quote.pcrs = m->pcrs;
    m->quote.pcr_values = m->qv;
    srtm__tpm_quote__init(&m->cert);
    m->cert.attest = (ProtobufCBinaryData){h->cert_attest_len, h->cert_attest};
    m->cert.signature = (ProtobufCBinaryData){h->cert_sig_len, h->cert_sig};
    m->cert.n_pcrs = m->cert.n_pcr_values = 2;
    m->cert.pcrs = m->pcrs;
    m->cert.pcr_values = m->cv;
    srtm__evidence__init(&m->ev);
    m->ev.format = 1;
    m->ev.nonce = (ProtobufCBinaryData){nonce_len, (uint8_t *)nonce};
    m->ev.report = (ProtobufCBinaryData){report_len, report};
    m->ev.irk_signature = (ProtobufCBinaryData){m->irk_sig_len, m->irk_sig};
    m->ev.quote = &m->quote;
    m->ev.irk_certificate = &m->cert;
    m->ev.irk_public = (ProtobufCBinaryData){h->irk_pub_len, h->irk_pub};
    srtm__quote_response__init(&m->qr);
    m->qr.evidence = &m->ev;
}

/* The nonce the evidence answers: the request's, or for replayed-nonce the one before. */
static void choose_nonce(sim_host *h, const ProtobufCBinaryData *asked, uint8_t *nonce,
                         size_t *len)
{
    memcpy(nonce, asked->data, asked->len);
    *len = asked->len;
    if (h->k.lie == SIM_REPLAYED_NONCE) {
        if (h->last_nonce_len == 0) { /* nothing asked before: a stale nonce of its own */
            memset(h->last_nonce, 0x5a, 32);
            h->last_nonce_len = 32;
        }
        memcpy(nonce, h->last_nonce, h->last_nonce_len);
        *len = h->last_nonce_len;
    }
    memcpy(h->last_nonce, asked->data, asked->len);
    h->last_nonce_len = asked->len;
}

/* Packs the answer while m, report and nonce are alive. */
static srtm_err pack(answer *a, uint8_t **out, size_t *out_len);

static srtm_err quote(sim_host *h, const Srtm__QuoteRequest *q, double now, answer *a,
                      uint8_t **out, size_t *out_len)
{
    if (q->nonce.len < SRTM_MIN_NONCE || q->nonce.len > SRTM_MAX_NONCE)
        return refuse(a, SRTM_E_INVALID, "nonce of %zu bytes; it must have %u to %u",
                      q->nonce.len, SRTM_MIN_NONCE, SRTM_MAX_NONCE);
    uint32_t sel = 0;
    srtm_err err = selection(q, a, &sel);
    if (err != SRTM_OK)
        return err;
    uint8_t nonce[SIM_NONCE_MAX], *report = NULL;
    size_t nonce_len = 0, report_len = 0;
    sim_since since = {q->since_instance.data, q->since_instance.len, q->since_seq};
    evidence_mem *m = calloc(1, sizeof(*m));
    err = m != NULL ? sim_host_advance(h, now) : SRTM_E_NO_MEMORY;
    if (err == SRTM_OK)
        err = sim_report(h, sel, &since, &report, &report_len);
    if (err == SRTM_OK) {
        choose_nonce(h, &q->nonce, nonce, &nonce_len);
        err = sign_evidence(h, nonce, nonce_len, report, report_len, now, m);
    }
    if (err == SRTM_OK) {
        h->quotes++;
        fill_evidence(h, nonce, nonce_len, report, report_len, m);
        a->resp.result_case = SRTM__RESPONSE__RESULT_QUOTE;
        a->resp.quote = &m->qr;
        err = pack(a, out, out_len);
    }
    free(report);
    free(m);
    if (err == SRTM_E_TOO_BIG)
        return refuse(a, err, "the report would exceed %u bytes; select fewer components",
                      SRTM_MAX_REPORT);
    return err != SRTM_OK ? refuse(a, err, "the simulated host failed: %s", srtm_strerror(err))
                          : SRTM_OK;
}

static srtm_err pack(answer *a, uint8_t **out, size_t *out_len)
{
    size_t len = srtm__response__get_packed_size(&a->resp);
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return SRTM_E_NO_MEMORY;
    srtm__response__pack(&a->resp, buf);
    *out = buf;
    *out_len = len;
    return SRTM_OK;
}

static srtm_err run(sim_host *h, const Srtm__Request *r, double now, answer *a, uint8_t **out,
                    size_t *out_len)
{
    switch (r->op_case) {
    case SRTM__REQUEST__OP_QUOTE:
        return quote(h, r->quote, now, a, out, out_len);
    case SRTM__REQUEST__OP_REGISTER_COMPONENT:
    case SRTM__REQUEST__OP_EXTEND:
    case SRTM__REQUEST__OP_DEPEND:
    case SRTM__REQUEST__OP_REVERT:
    case SRTM__REQUEST__OP_TERMINATE:
        return refuse(a, SRTM_E_DENIED, "this listener serves reads and quotes only; change "
                                        "state over the local socket");
    case SRTM__REQUEST__OP_DAEMON_STATUS:
        return refuse(a, SRTM_E_DENIED,
                      "status is served on the local socket only: it tells srtmd's load");
    case SRTM__REQUEST__OP_READ:
    case SRTM__REQUEST__OP_LOG:
    case SRTM__REQUEST__OP_LIST:
    case SRTM__REQUEST__OP_GRAPH:
        return refuse(a, SRTM_E_UNSUPPORTED, "srtm-sim answers quotes only");
    default:
        return refuse(a, SRTM_E_UNSUPPORTED,
                      "no operation in request, or one this daemon does not offer");
    }
}

srtm_err sim_host_answer(sim_host *h, const uint8_t *req, size_t len, double now, uint8_t **out,
                         size_t *out_len)
{
    answer a;
    memset(&a, 0, sizeof(a));
    srtm__response__init(&a.resp);
    Srtm__Request *r = NULL;
    srtm_err err;
    *out = NULL;
    if (len > SRTM_MAX_MESSAGE)
        err = refuse(&a, SRTM_E_TOO_BIG, "message of %zu bytes; at most %u", len,
                     SRTM_MAX_MESSAGE);
    else if ((r = srtm__request__unpack(NULL, len, req)) == NULL)
        err = refuse(&a, SRTM_E_MALFORMED, "not a valid srtm Request message");
    else if (r->version != SRTM__VERSION__VERSION_1)
        err = refuse(&a, SRTM_E_VERSION, "protocol version %d not supported; this daemon "
                                         "speaks %d",
                     (int)r->version, (int)SRTM__VERSION__VERSION_1);
    else {
        pthread_mutex_lock(&h->lock);
        err = run(h, r, now, &a, out, out_len);
        pthread_mutex_unlock(&h->lock);
    }
    if (r != NULL)
        srtm__request__free_unpacked(r, NULL);
    if (err == SRTM_OK)
        return SRTM_OK;
    free(*out);
    a.resp.result_case = SRTM__RESPONSE__RESULT__NOT_SET;
    a.resp.status = (Srtm__Status)err;
    return pack(&a, out, out_len);
}
