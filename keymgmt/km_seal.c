/*
 * Sealing a small secret to a PolicyPCR policy and unsealing it: the storage parent,
 * salted sessions so the secret never crosses the TPM bus in clear, and the trial
 * session that lets tests compare km_policy_pcr with the TPM's own arithmetic.
 * Every path flushes what it loaded and wipes what it unsealed.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "km_int.h"

/* SRK-style storage key: ECC P-256, restricted decrypt, AES-128-CFB for children. */
static void storage_template(TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                          TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p->parameters.eccDetail.symmetric.keyBits.aes = 128;
    p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p->unique.ecc.x.size = 32; /* all zero, as the TCG provisioning guidance's SRK */
    p->unique.ecc.y.size = 32;
}

srtm_err km_storage_primary(km_ctx *ctx, ESYS_TR *out)
{
    TPM2B_PUBLIC tmpl;
    storage_template(&tmpl);
    TPM2B_SENSITIVE_CREATE sens;
    memset(&sens, 0, sizeof(sens));
    TPM2B_DATA outside = {.size = 0};
    TPML_PCR_SELECTION no_pcrs = {.count = 0};
    return km_rc(Esys_CreatePrimary(ctx->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &sens, &tmpl, &outside, &no_pcrs, out, NULL,
                                    NULL, NULL, NULL),
                 "create storage primary");
}

srtm_err km_parent_get(km_ctx *ctx, uint32_t parent, ESYS_TR *out, bool *flush)
{
    if (parent == KM_PARENT_PRIMARY) {
        *flush = true;
        return km_storage_primary(ctx, out);
    }
    *flush = false;
    return km_rc(Esys_TR_FromTPMPublic(ctx->esys, parent, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, out),
                 "open storage parent");
}

static void parent_put(km_ctx *ctx, ESYS_TR *tr, bool flush)
{
    if (flush)
        km_flush(ctx, tr);
    else if (*tr != ESYS_TR_NONE)
        (void)Esys_TR_Close(ctx->esys, tr);
}

srtm_err km_storage_persist(km_ctx *ctx, uint32_t handle)
{
    if (ctx == NULL || !km_handle_valid(handle))
        return SRTM_E_INVALID;
    ESYS_TR obj = ESYS_TR_NONE, pers = ESYS_TR_NONE;
    srtm_err err = km_storage_primary(ctx, &obj);
    if (err == SRTM_OK)
        err = km_rc(Esys_EvictControl(ctx->esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD,
                                      ESYS_TR_NONE, ESYS_TR_NONE, handle, &pers),
                    "persist storage key");
    if (err == SRTM_E_TPM) {
        /* Most likely TPM_RC_NV_DEFINED: the handle is taken. */
        TPMS_CAPABILITY_DATA *cap KM_AUTO_ESYS = NULL;
        TPMI_YES_NO more;
        if (Esys_GetCapability(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                               TPM2_CAP_HANDLES, handle, 1, &more, &cap) == TSS2_RC_SUCCESS &&
            cap->data.handles.count > 0 && cap->data.handles.handle[0] == handle)
            err = SRTM_E_EXISTS;
    }
    km_flush(ctx, &obj);
    if (pers != ESYS_TR_NONE)
        (void)Esys_TR_Close(ctx->esys, &pers);
    return err;
}

/* A session salted with the parent key (ECDH), AES-128-CFB parameter encryption. */
static srtm_err start_session(km_ctx *ctx, ESYS_TR salt_key, TPM2_SE type, TPMA_SESSION attrs,
                              ESYS_TR *out)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    if (type == TPM2_SE_TRIAL)
        sym.algorithm = TPM2_ALG_NULL;
    srtm_err err = km_rc(Esys_StartAuthSession(ctx->esys, salt_key, ESYS_TR_NONE, ESYS_TR_NONE,
                                               ESYS_TR_NONE, ESYS_TR_NONE, NULL, type, &sym,
                                               TPM2_ALG_SHA256, out),
                         "start session");
    if (err == SRTM_OK && attrs != 0)
        err = km_rc(Esys_TRSess_SetAttributes(ctx->esys, *out, attrs, 0xFF),
                    "session attributes");
    return err;
}

static srtm_err sealed_marshal(const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                               km_sealed *out)
{
    km_sealed s;
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, s.blob, sizeof(s.blob), &off);
    if (rc == TSS2_RC_SUCCESS)
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, s.blob, sizeof(s.blob), &off);
    if (rc != TSS2_RC_SUCCESS)
        return km_rc(rc, "marshal sealed object");
    s.len = off;
    *out = s;
    return SRTM_OK;
}

static srtm_err sealed_unmarshal(const km_sealed *s, TPM2B_PRIVATE *priv, TPM2B_PUBLIC *pub)
{
    if (s->len > sizeof(s->blob))
        return SRTM_E_MALFORMED;
    size_t off = 0;
    memset(priv, 0, sizeof(*priv));
    memset(pub, 0, sizeof(*pub));
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(s->blob, s->len, &off, priv) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(s->blob, s->len, &off, pub) != TSS2_RC_SUCCESS ||
        off != s->len || pub->publicArea.type != TPM2_ALG_KEYEDHASH)
        return SRTM_E_MALFORMED;
    return SRTM_OK;
}

srtm_err km_seal(km_ctx *ctx, uint32_t parent, const uint8_t policy[KM_DIGEST_LEN],
                 const uint8_t *secret, size_t secret_len, km_sealed *out)
{
    if (ctx == NULL || policy == NULL || secret == NULL || out == NULL || secret_len == 0 ||
        secret_len > KM_MAX_SECRET || (parent != KM_PARENT_PRIMARY && !km_handle_valid(parent)))
        return SRTM_E_INVALID;

    TPM2B_PUBLIC tmpl;
    memset(&tmpl, 0, sizeof(tmpl));
    TPMT_PUBLIC *p = &tmpl.publicArea;
    p->type = TPM2_ALG_KEYEDHASH;
    p->nameAlg = TPM2_ALG_SHA256;
    /* No USERWITHAUTH: the policy is the only way to use it. */
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_NODA;
    p->authPolicy.size = KM_DIGEST_LEN;
    memcpy(p->authPolicy.buffer, policy, KM_DIGEST_LEN);
    p->parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;

    TPM2B_SENSITIVE_CREATE sens;
    memset(&sens, 0, sizeof(sens));
    sens.sensitive.data.size = (UINT16)secret_len;
    memcpy(sens.sensitive.data.buffer, secret, secret_len);

    TPM2B_DATA outside = {.size = 0};
    TPML_PCR_SELECTION no_pcrs = {.count = 0};
    ESYS_TR par = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    bool flush_parent = false;
    TPM2B_PRIVATE *priv KM_AUTO_ESYS = NULL;
    TPM2B_PUBLIC *pub KM_AUTO_ESYS = NULL;
    srtm_err err = km_parent_get(ctx, parent, &par, &flush_parent);
    if (err == SRTM_OK)
        err = start_session(ctx, par, TPM2_SE_HMAC,
                            TPMA_SESSION_DECRYPT | TPMA_SESSION_CONTINUESESSION, &sess);
    if (err == SRTM_OK)
        err = km_rc(Esys_Create(ctx->esys, par, sess, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                                &outside, &no_pcrs, &priv, &pub, NULL, NULL, NULL),
                    "create sealed object");
    if (err == SRTM_OK)
        err = sealed_marshal(priv, pub, out);
    OPENSSL_cleanse(&sens, sizeof(sens));
    km_flush(ctx, &sess);
    parent_put(ctx, &par, flush_parent);
    return err;
}

srtm_err km_unseal(km_ctx *ctx, uint32_t parent, const km_sealed *sealed, uint32_t mask,
                   km_secret *out)
{
    if (ctx == NULL || sealed == NULL || out == NULL || !km_mask_valid(mask) ||
        (parent != KM_PARENT_PRIMARY && !km_handle_valid(parent)))
        return SRTM_E_INVALID;
    TPM2B_PRIVATE priv;
    TPM2B_PUBLIC pub;
    srtm_err err = sealed_unmarshal(sealed, &priv, &pub);
    if (err != SRTM_OK)
        return err;

    ESYS_TR par = ESYS_TR_NONE, obj = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    bool flush_parent = false;
    TPM2B_SENSITIVE_DATA *data KM_AUTO_ESYS = NULL;
    TPML_PCR_SELECTION sel;
    km_sel_from_mask(mask, &sel);
    TPM2B_DIGEST current = {.size = 0}; /* empty: the TPM uses the PCRs' current values */

    err = km_parent_get(ctx, parent, &par, &flush_parent);
    if (err == SRTM_OK)
        err = km_rc(Esys_Load(ctx->esys, par, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                              &priv, &pub, &obj),
                    "load sealed object");
    if (err == SRTM_OK)
        err = start_session(ctx, par, TPM2_SE_POLICY,
                            TPMA_SESSION_ENCRYPT | TPMA_SESSION_CONTINUESESSION, &sess);
    if (err == SRTM_OK)
        err = km_rc(Esys_PolicyPCR(ctx->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   &current, &sel),
                    "policy PCR");
    if (err == SRTM_OK)
        err = km_rc(Esys_Unseal(ctx->esys, obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, &data),
                    "unseal");
    if (err == SRTM_OK && (data->size == 0 || data->size > KM_MAX_SECRET)) {
        log_error("TPM: unsealed %u bytes, expected 1..%u", (unsigned)data->size,
                  KM_MAX_SECRET);
        err = SRTM_E_MALFORMED;
    }
    if (err == SRTM_OK) {
        memcpy(out->bytes, data->buffer, data->size);
        out->len = data->size;
    }
    if (data != NULL)
        OPENSSL_cleanse(data, sizeof(*data));
    km_flush(ctx, &sess);
    km_flush(ctx, &obj);
    parent_put(ctx, &par, flush_parent);
    return err;
}

srtm_err km_policy_pcr_tpm(km_ctx *ctx, uint32_t mask, uint8_t out[KM_DIGEST_LEN])
{
    if (ctx == NULL || out == NULL || !km_mask_valid(mask))
        return SRTM_E_INVALID;
    ESYS_TR sess = ESYS_TR_NONE;
    TPML_PCR_SELECTION sel;
    km_sel_from_mask(mask, &sel);
    TPM2B_DIGEST current = {.size = 0};
    TPM2B_DIGEST *digest KM_AUTO_ESYS = NULL;
    srtm_err err = start_session(ctx, ESYS_TR_NONE, TPM2_SE_TRIAL, 0, &sess);
    if (err == SRTM_OK)
        err = km_rc(Esys_PolicyPCR(ctx->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   &current, &sel),
                    "trial policy PCR");
    if (err == SRTM_OK)
        err = km_rc(Esys_PolicyGetDigest(ctx->esys, sess, ESYS_TR_NONE, ESYS_TR_NONE,
                                         ESYS_TR_NONE, &digest),
                    "policy digest");
    if (err == SRTM_OK && digest->size != KM_DIGEST_LEN)
        err = km_rc(TSS2_ESYS_RC_MALFORMED_RESPONSE, "policy digest size");
    if (err == SRTM_OK)
        memcpy(out, digest->buffer, KM_DIGEST_LEN);
    km_flush(ctx, &sess);
    return err;
}
