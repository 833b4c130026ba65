/*
 * The AIK: an ECC P-256 restricted signing primary key of the endorsement hierarchy,
 * persisted at a handle of the owner range (km.h says why), and TPM2_Quote with it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "km_int.h"

#define AIK_ATTRS                                                                          \
    (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |    \
     TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT)

static srtm_err aik_template(uint32_t handle, TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = AIK_ATTRS;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    /* unique = SHA-256("srtm AIK" || handle, big-endian): one distinct AIK per handle. */
    const uint8_t h[4] = {(uint8_t)(handle >> 24), (uint8_t)(handle >> 16),
                          (uint8_t)(handle >> 8), (uint8_t)handle};
    sha256_hasher *hs = NULL;
    srtm_err err = sha256_hasher_new(&hs);
    if (err == SRTM_OK)
        err = sha256_hasher_two(hs, "srtm AIK", 8, h, sizeof(h), p->unique.ecc.x.buffer);
    sha256_hasher_free(hs);
    p->unique.ecc.x.size = 32;
    return err;
}

/* The object at handle must be what km_aik_create makes (any unique value). */
static bool aik_public_ok(const TPMT_PUBLIC *p)
{
    const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;
    return p->type == TPM2_ALG_ECC && p->nameAlg == TPM2_ALG_SHA256 &&
           (p->objectAttributes & AIK_ATTRS) == AIK_ATTRS &&
           !(p->objectAttributes & TPMA_OBJECT_DECRYPT) && e->curveID == TPM2_ECC_NIST_P256 &&
           e->scheme.scheme == TPM2_ALG_ECDSA && e->scheme.details.ecdsa.hashAlg == TPM2_ALG_SHA256;
}

/* Is a persistent handle occupied? */
static srtm_err handle_used(km_ctx *ctx, uint32_t handle, bool *used)
{
    TPMS_CAPABILITY_DATA *cap KM_AUTO_ESYS = NULL;
    TPMI_YES_NO more = TPM2_NO;
    srtm_err err = km_rc(Esys_GetCapability(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                            TPM2_CAP_HANDLES, handle, 1, &more, &cap),
                         "list persistent handles");
    if (err == SRTM_OK)
        *used = cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle;
    return err;
}

static struct km_aik *aik_find(km_ctx *ctx, uint32_t handle)
{
    for (struct km_aik *a = ctx->aiks; a != NULL; a = a->next)
        if (a->handle == handle && a->tr != ESYS_TR_NONE)
            return a;
    return NULL;
}

/* Remember a persistent AIK in ctx; takes the ESYS_TR (closed on failure). */
static srtm_err aik_add(km_ctx *ctx, uint32_t handle, ESYS_TR tr, const TPM2B_PUBLIC *pub,
                        const km_aik **out)
{
    struct km_aik *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        (void)Esys_TR_Close(ctx->esys, &tr);
        return SRTM_E_NO_MEMORY;
    }
    a->ctx = ctx;
    a->handle = handle;
    a->tr = tr;
    a->pub = *pub;
    a->next = ctx->aiks;
    ctx->aiks = a;
    *out = a;
    return SRTM_OK;
}

/* Persist a transient object at handle (owner authorisation); returns the new ESYS_TR. */
static srtm_err persist(km_ctx *ctx, ESYS_TR obj, uint32_t handle, ESYS_TR *out)
{
    return km_rc(Esys_EvictControl(ctx->esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD,
                                   ESYS_TR_NONE, ESYS_TR_NONE, handle, out),
                 "persist object");
}

srtm_err km_aik_create(km_ctx *ctx, uint32_t handle, const km_aik **out)
{
    if (ctx == NULL || out == NULL || !km_handle_valid(handle))
        return SRTM_E_INVALID;
    bool used = true;
    srtm_err err = handle_used(ctx, handle, &used);
    if (err != SRTM_OK)
        return err;
    if (used) /* not an error for a caller that takes the AIK there: the caller says */
        return SRTM_E_EXISTS;
    TPM2B_PUBLIC tmpl;
    err = aik_template(handle, &tmpl);
    if (err != SRTM_OK)
        return err;
    TPM2B_SENSITIVE_CREATE sens;
    memset(&sens, 0, sizeof(sens));
    TPM2B_DATA outside = {.size = 0};
    TPML_PCR_SELECTION no_pcrs = {.count = 0};
    ESYS_TR obj = ESYS_TR_NONE, pers = ESYS_TR_NONE;
    TPM2B_PUBLIC *pub KM_AUTO_ESYS = NULL;
    err = km_rc(Esys_CreatePrimary(ctx->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD,
                                   ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &no_pcrs,
                                   &obj, &pub, NULL, NULL, NULL),
                "create AIK");
    if (err == SRTM_OK)
        err = persist(ctx, obj, handle, &pers);
    km_flush(ctx, &obj);
    if (err != SRTM_OK)
        return err;
    return aik_add(ctx, handle, pers, pub, out);
}

srtm_err km_aik_load(km_ctx *ctx, uint32_t handle, const km_aik **out)
{
    if (ctx == NULL || out == NULL || !km_handle_valid(handle))
        return SRTM_E_INVALID;
    struct km_aik *have = aik_find(ctx, handle);
    if (have != NULL) {
        *out = have;
        return SRTM_OK;
    }
    ESYS_TR tr = ESYS_TR_NONE;
    srtm_err err = km_rc(Esys_TR_FromTPMPublic(ctx->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                               ESYS_TR_NONE, &tr),
                         "open persistent AIK");
    if (err != SRTM_OK)
        return err;
    TPM2B_PUBLIC *pub KM_AUTO_ESYS = NULL;
    err = km_rc(Esys_ReadPublic(ctx->esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub,
                                NULL, NULL),
                "read AIK public");
    if (err == SRTM_OK && !aik_public_ok(&pub->publicArea)) {
        log_error("TPM: the object at 0x%08x is not a P-256 ECDSA/SHA-256 restricted signing "
                  "key", (unsigned)handle);
        err = SRTM_E_INVALID;
    }
    if (err != SRTM_OK) {
        (void)Esys_TR_Close(ctx->esys, &tr);
        return err;
    }
    return aik_add(ctx, handle, tr, pub, out);
}

srtm_err km_evict(km_ctx *ctx, uint32_t handle)
{
    if (ctx == NULL || !km_handle_valid(handle))
        return SRTM_E_INVALID;
    struct km_aik *a = aik_find(ctx, handle);
    ESYS_TR tr = ESYS_TR_NONE;
    srtm_err err = SRTM_OK;
    if (a != NULL)
        tr = a->tr;
    else
        err = km_rc(Esys_TR_FromTPMPublic(ctx->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                          ESYS_TR_NONE, &tr),
                    "open persistent object");
    if (err != SRTM_OK)
        return err;
    ESYS_TR none = ESYS_TR_NONE;
    err = km_rc(Esys_EvictControl(ctx->esys, ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
                                  ESYS_TR_NONE, ESYS_TR_NONE, handle, &none),
                "evict persistent object");
    if (err == SRTM_OK) {
        /* ESYS drops its record of an evicted persistent object itself. */
        if (a != NULL)
            a->tr = ESYS_TR_NONE;
    } else if (a == NULL) {
        (void)Esys_TR_Close(ctx->esys, &tr);
    }
    return err;
}

/* Take the quote's PCR digest out of the attest bytes. */
static srtm_err attest_pcr_digest(const km_tpm_quote *q, uint8_t out[KM_DIGEST_LEN])
{
    km_quote_info info;
    srtm_err err = km_quote_parse(q->attest, q->attest_len, &info);
    if (err != SRTM_OK)
        return err;
    memcpy(out, info.pcr_digest, KM_DIGEST_LEN);
    return SRTM_OK;
}

static srtm_err quote_once(km_ctx *ctx, const km_aik *aik, uint32_t mask, const uint8_t *q,
                           size_t q_len, km_tpm_quote *out)
{
    TPM2B_DATA qual;
    memset(&qual, 0, sizeof(qual));
    qual.size = (UINT16)q_len;
    memcpy(qual.buffer, q, q_len);
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_NULL}; /* the key's own: ECDSA/SHA-256 */
    TPML_PCR_SELECTION sel;
    km_sel_from_mask(mask, &sel);
    TPM2B_ATTEST *attest KM_AUTO_ESYS = NULL;
    TPMT_SIGNATURE *sig KM_AUTO_ESYS = NULL;
    srtm_err err = km_rc(Esys_Quote(ctx->esys, aik->tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &qual, &scheme, &sel, &attest, &sig),
                         "quote");
    if (err != SRTM_OK)
        return err;
    if (attest->size > sizeof(out->attest)) {
        log_error("TPM: quote of %u bytes is over the limit", (unsigned)attest->size);
        return SRTM_E_TOO_BIG;
    }
    memcpy(out->attest, attest->attestationData, attest->size);
    out->attest_len = attest->size;
    size_t off = 0;
    err = km_rc(Tss2_MU_TPMT_SIGNATURE_Marshal(sig, out->sig, sizeof(out->sig), &off),
                "marshal signature");
    if (err != SRTM_OK)
        return err;
    out->sig_len = off;
    return km_pcr_read(ctx, mask, &out->pcrs);
}

srtm_err km_quote(km_ctx *ctx, const km_aik *aik, uint32_t mask, const uint8_t *q, size_t q_len,
                  km_tpm_quote *out)
{
    if (ctx == NULL || aik == NULL || out == NULL || q == NULL || q_len == 0 ||
        q_len > KM_MAX_QUALIFYING || !km_mask_valid(mask) || aik->ctx != ctx ||
        aik->tr == ESYS_TR_NONE)
        return SRTM_E_INVALID;
    km_tpm_quote *tmp = calloc(1, sizeof(*tmp));
    if (tmp == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = SRTM_E_TPM;
    /* An extend between the quote and the PCR read changes the values: quote again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        uint8_t want[KM_DIGEST_LEN], got[KM_DIGEST_LEN];
        err = quote_once(ctx, aik, mask, q, q_len, tmp);
        if (err == SRTM_OK)
            err = attest_pcr_digest(tmp, want);
        if (err == SRTM_OK)
            err = km_pcr_digest(&tmp->pcrs, got);
        if (err != SRTM_OK)
            break;
        if (memcmp(want, got, KM_DIGEST_LEN) == 0) {
            *out = *tmp;
            break;
        }
        err = SRTM_E_TPM;
        log_warn("TPM: PCRs changed during a quote; quoting again");
    }
    free(tmp);
    return err;
}
