/*
 * The evidence of a simulated host, byte for byte as srtmd makes it (docs/evidence.md),
 * and the answers to the requests of srtmd's read-only tcp listener. A lie (sim.h) changes
 * exactly one thing of the honest evidence, so that exactly the check it names fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "sim_int.h"
#include "srtm.pb-c.h"

#define SLOTS (1u + 2u * SIM_VMS)
#define NCOMP (1u + SIM_VMS)

srtm_err sim_make_attest(const sim_attest *s, uint8_t *out, size_t size, size_t *len_out)
{
    TPMS_ATTEST a;
    memset(&a, 0, sizeof(a));
    a.magic = TPM2_GENERATED_VALUE;
    a.type = TPM2_ST_ATTEST_QUOTE;
    a.qualifiedSigner.size = 2 + SRTM_DIGEST_LEN;
    a.qualifiedSigner.name[1] = 0x0b; /* TPM_ALG_SHA256 */
    memcpy(a.qualifiedSigner.name + 2, s->signer, SRTM_DIGEST_LEN);
    a.extraData.size = SRTM_DIGEST_LEN;
    memcpy(a.extraData.buffer, s->qual, SRTM_DIGEST_LEN);
    a.clockInfo.clock = s->clock;
    a.clockInfo.resetCount = s->reset_count;
    a.clockInfo.restartCount = 0;
    a.clockInfo.safe = TPM2_YES;
    a.firmwareVersion = 0x2000000000001ull;
    TPMS_PCR_SELECTION *sel = &a.attested.quote.pcrSelect.pcrSelections[0];
    a.attested.quote.pcrSelect.count = 1;
    sel->hash = TPM2_ALG_SHA256;
    sel->sizeofSelect = 3;
    sel->pcrSelect[0] = 1u << 0;  /* PCR 0 */
    sel->pcrSelect[1] = 1u << 7;  /* PCR 15 */
    uint8_t both[2 * SRTM_DIGEST_LEN];
    memcpy(both, s->pcr0, SRTM_DIGEST_LEN);
    memcpy(both + SRTM_DIGEST_LEN, s->pcr15, SRTM_DIGEST_LEN);
    a.attested.quote.pcrDigest.size = SRTM_DIGEST_LEN;
    srtm_err err = srtm_sha256(both, sizeof(both), a.attested.quote.pcrDigest.buffer);
    size_t off = 0;
    if (err == SRTM_OK && Tss2_MU_TPMS_ATTEST_Marshal(&a, out, size, &off) != TSS2_RC_SUCCESS)
        err = SRTM_E_INTERNAL;
    if (err == SRTM_OK)
        *len_out = off;
    return err;
}

/* r and s of 32 bytes, left-padded with zeros as a TPM writes them. */
srtm_err sim_tpm_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *out, size_t size,
                      size_t *len_out)
{
    uint8_t der[80];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    srtm_err err = md != NULL && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
                           EVP_DigestSign(md, der, &der_len, msg, len) == 1
                       ? SRTM_OK
                       : SRTM_E_CRYPTO;
    EVP_MD_CTX_free(md);
    const uint8_t *p = der;
    ECDSA_SIG *es = err == SRTM_OK ? d2i_ECDSA_SIG(NULL, &p, (long)der_len) : NULL;
    TPMT_SIGNATURE s;
    memset(&s, 0, sizeof(s));
    s.sigAlg = TPM2_ALG_ECDSA;
    s.signature.ecdsa.hash = TPM2_ALG_SHA256;
    s.signature.ecdsa.signatureR.size = 32;
    s.signature.ecdsa.signatureS.size = 32;
    if (es == NULL ||
        BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, 32) != 32)
        err = SRTM_E_CRYPTO;
    ECDSA_SIG_free(es);
    size_t off = 0;
    if (err == SRTM_OK && Tss2_MU_TPMT_SIGNATURE_Marshal(&s, out, size, &off) != TSS2_RC_SUCCESS)
        err = SRTM_E_INTERNAL;
    if (err == SRTM_OK)
        *len_out = off;
    return err;
}

/* ---- the report ---- */

/* Everything a packed report points into; freed after packing. */
typedef struct report_mem {
    Srtm__LogEntry *entries[SLOTS];
    Srtm__LogEntry **logs[SLOTS];
    Srtm__ReportCcr ccr[SLOTS], *ccrp[SLOTS];
    Srtm__ReportComponent comp[NCOMP], *compp[NCOMP];
    Srtm__DependencyChange chg[NCOMP][3], *chgp[NCOMP][3];
    uint8_t value[SLOTS][SRTM_DIGEST_LEN], base[SLOTS][SRTM_DIGEST_LEN];
    uint8_t odd[SRTM_DIGEST_LEN];
    char names[NCOMP][16];
} report_mem;

static void report_mem_free(report_mem *m)
{
    for (unsigned s = 0; s < SLOTS; s++) {
        free(m->entries[s]);
        free(m->logs[s]);
    }
}

/* The lying slot: vm-1's CCR 0. */
#define LIE_SLOT 1u

/* What a report says of one CCR slot: its entries, the ones left out, and the one entry a
 * lie alters. */
typedef struct slot_plan {
    uint64_t n;                /* entries, the unknown-binary lie's extra one included */
    uint64_t offset;           /* entries left out of an incremental report */
    uint64_t lie_at;           /* the entry whose digest is not the honest one, or UINT64_MAX */
    const uint8_t *lie_digest;
    bool replay_value;         /* the value is the replay of the lying log (the splice) */
} slot_plan;

/* The global sequence number of entry k of slot (sim_host.c's invariant). */
static uint64_t entry_seq(unsigned slot, uint64_t k)
{
    return SIM_VMS + 1 + k * SLOTS + slot;
}

/* Entries of slot with seq <= since, of its first n (logs are in seq order). */
static uint64_t entries_upto(unsigned slot, uint64_t n, uint64_t since)
{
    if (since < entry_seq(slot, 0))
        return 0;
    uint64_t k = (since - entry_seq(slot, 0)) / SLOTS + 1;
    return k < n ? k : n;
}

/* The lies that touch logs. bad-digest alters entry 0 of a full report and the first
 * reported entry of an incremental one (entry 0 again when none is reported: the base
 * value is then the lying log's); the splice rewrites entry 0 in every other quote, the
 * value and an incremental report's base value replayed from the spliced log. A lie in
 * the log already makes the evidence untrusted; the splice stays out of it. */
static void plan_slot(const sim_host *h, unsigned slot, uint64_t since, const uint8_t *odd,
                      slot_plan *p)
{
    const sim_ccr *c = &h->ccrs[slot];
    bool lying = slot == LIE_SLOT, unknown = lying && h->k.lie == SIM_UNKNOWN_BINARY,
         bad = lying && h->k.lie == SIM_BAD_DIGEST;
    memset(p, 0, sizeof(*p));
    p->n = c->n + ((unknown || (bad && c->n == 0)) ? 1 : 0);
    p->offset = entries_upto(slot, p->n, since);
    p->lie_at = UINT64_MAX;
    if (unknown) {
        p->lie_at = c->n;
        p->lie_digest = odd;
    } else if (bad) { /* an allowed binary, not the one measured: only the replay tells */
        p->lie_at = p->offset < p->n ? p->offset : 0;
        p->lie_digest = sim_binary(slot, c->n == 0 ? 0 : p->lie_at + 1);
    } else if (lying && h->k.spliced && p->n > 0 && h->quotes % 2 == 1) {
        p->lie_at = 0;
        p->lie_digest = sim_binary(slot, 1);
        p->replay_value = true;
    }
}

static const uint8_t *plan_digest(const slot_plan *p, unsigned slot, uint64_t k)
{
    return k == p->lie_at ? p->lie_digest : sim_binary(slot, k);
}

/* The replay of the slot's first upto entries as the report says them: honest entries
 * from the shared checkpoints, the rest one by one. */
static srtm_err plan_value(const slot_plan *p, unsigned slot, uint64_t upto,
                           uint8_t out[SRTM_DIGEST_LEN])
{
    uint64_t k = p->lie_at < upto ? p->lie_at : upto;
    srtm_err err = sim_value_at(slot, k, out);
    for (; k < upto && err == SRTM_OK; k++)
        err = sim_extend(out, plan_digest(p, slot, k), out);
    return err;
}

/* The value, the base value and the reported log of one CCR slot. */
static srtm_err report_log(const sim_host *h, unsigned slot, const slot_plan *p, report_mem *m)
{
    const sim_ccr *c = &h->ccrs[slot];
    size_t n = (size_t)(p->n - p->offset);
    srtm_err err = SRTM_OK;
    memcpy(m->value[slot], c->value, SRTM_DIGEST_LEN);
    if (p->replay_value)
        err = plan_value(p, slot, p->n, m->value[slot]);
    else if (p->lie_digest == m->odd) /* the unknown binary, replayed correctly */
        err = sim_extend(m->value[slot], m->odd, m->value[slot]);
    if (err == SRTM_OK && p->offset > 0)
        err = plan_value(p, slot, p->offset, m->base[slot]);
    m->entries[slot] = calloc(n + 1, sizeof(Srtm__LogEntry));
    m->logs[slot] = calloc(n + 1, sizeof(Srtm__LogEntry *));
    if (err == SRTM_OK && (m->entries[slot] == NULL || m->logs[slot] == NULL))
        err = SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n && err == SRTM_OK; i++) {
        uint64_t k = p->offset + i;
        Srtm__LogEntry *e = &m->entries[slot][i];
        srtm__log_entry__init(e);
        e->index = k;
        e->seq = entry_seq(slot, k);
        e->digest = (ProtobufCBinaryData){SRTM_DIGEST_LEN, (uint8_t *)plan_digest(p, slot, k)};
        e->event_type = 1;
        e->description = k == p->lie_at && p->lie_digest == m->odd ? "unknown" : "binary";
        m->logs[slot][i] = e;
    }
    Srtm__ReportCcr *rc = &m->ccr[slot];
    srtm__report_ccr__init(rc);
    rc->policy = SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE;
    rc->value = (ProtobufCBinaryData){SRTM_DIGEST_LEN, m->value[slot]};
    rc->n_log = n;
    rc->log = m->logs[slot];
    rc->log_offset = p->offset;
    if (p->offset > 0)
        rc->base_value = (ProtobufCBinaryData){SRTM_DIGEST_LEN, m->base[slot]};
    m->ccrp[slot] = rc;
    return err;
}

static void report_component(unsigned handle, report_mem *m)
{
    Srtm__ReportComponent *c = &m->comp[handle];
    srtm__report_component__init(c);
    c->handle = handle;
    if (handle == 0)
        snprintf(m->names[0], sizeof(m->names[0]), "platform");
    else
        snprintf(m->names[handle], sizeof(m->names[handle]), "vm-%u", handle);
    c->name = m->names[handle];
    unsigned first;
    c->n_ccrs = sim_component_slots(handle, &first);
    c->ccrs = &m->ccrp[first];
    for (unsigned i = 0; i < c->n_ccrs; i++)
        m->ccr[first + i].index = i;
    const uint64_t *deps;
    c->n_depends_on = sim_component_deps(handle, &deps);
    c->depends_on = (uint64_t *)deps;
    /* Its registration (seq = handle, by the parent's capability) made every edge. */
    for (size_t i = 0; i < c->n_depends_on; i++) {
        Srtm__DependencyChange *d = &m->chg[handle][i];
        srtm__dependency_change__init(d);
        d->seq = handle;
        d->component = handle;
        d->on = deps[i];
        m->chgp[handle][i] = d;
    }
    c->n_dependency_changes = c->n_depends_on;
    c->dependency_changes = m->chgp[handle];
}

/* The since_seq of the report: the request's when it names this boot's srtmd instance
 * and a sequence number this run has reached (srtmd's rule), else 0: a full report. */
static uint64_t report_since(const sim_host *h, const sim_since *since, uint64_t cut_seq)
{
    if (since == NULL || since->seq == 0 || since->seq > cut_seq ||
        since->instance_len != sizeof(h->instance) ||
        memcmp(since->instance, h->instance, sizeof(h->instance)) != 0)
        return 0;
    return since->seq;
}

srtm_err sim_report(const sim_host *h, uint32_t selected, const sim_since *since,
                    uint8_t **out, size_t *len_out)
{
    report_mem m;
    memset(&m, 0, sizeof(m));
    slot_plan plan[SLOTS];
    uint64_t max_seq = SIM_VMS;
    srtm_err err = srtm_sha256(SIM_UNKNOWN_TEXT, strlen(SIM_UNKNOWN_TEXT), m.odd);
    for (unsigned s = 0; s < SLOTS; s++) {
        plan_slot(h, s, 0, m.odd, &plan[s]);
        if (plan[s].n > 0 && entry_seq(s, plan[s].n - 1) > max_seq)
            max_seq = entry_seq(s, plan[s].n - 1);
    }
    uint64_t since_seq = report_since(h, since, max_seq);
    for (unsigned s = 0; s < SLOTS && err == SRTM_OK; s++) {
        plan_slot(h, s, since_seq, m.odd, &plan[s]);
        err = report_log(h, s, &plan[s], &m);
    }
    size_t n = 0;
    for (unsigned c = 0; c < NCOMP && err == SRTM_OK; c++) {
        report_component(c, &m);
        if (selected & (1u << c))
            m.compp[n++] = &m.comp[c];
    }
    Srtm__CcrReport r = SRTM__CCR_REPORT__INIT;
    r.format = 1;
    r.srtm_instance = (ProtobufCBinaryData){sizeof(h->instance), (uint8_t *)h->instance};
    r.reset_count = (uint32_t)(1 + h->boot);
    r.seq = max_seq;
    r.since_seq = since_seq;
    r.n_components = n;
    r.components = m.compp;
    size_t len = err == SRTM_OK ? srtm__ccr_report__get_packed_size(&r) : 0;
    if (len > SRTM_MAX_REPORT) /* srtmd's bound: it refuses such a quote */
        err = SRTM_E_TOO_BIG;
    uint8_t *buf = err == SRTM_OK ? malloc(len) : NULL;
    if (err == SRTM_OK && buf == NULL)
        err = SRTM_E_NO_MEMORY;
    if (err == SRTM_OK) {
        srtm__ccr_report__pack(&r, buf);
        *out = buf;
        *len_out = len;
    }
    report_mem_free(&m);
    return err;
}
