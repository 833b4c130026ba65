/* PCR read, extend and reset (SHA-256 bank) on the TPM. */
#include <string.h>

#include "km_int.h"

/* One pass over the selection: TPM2_PCR_Read answers at most 8 PCRs per call. */
static srtm_err read_once(km_ctx *ctx, uint32_t mask, km_pcr_values *vals, uint32_t *counter)
{
    uint32_t left = mask;
    bool first = true;
    memset(vals, 0, sizeof(*vals));
    vals->mask = mask;
    while (left != 0) {
        TPML_PCR_SELECTION sel, *sel_out KM_AUTO_ESYS = NULL;
        TPML_DIGEST *digests KM_AUTO_ESYS = NULL;
        UINT32 upd = 0;
        uint32_t got = 0;
        km_sel_from_mask(left, &sel);
        srtm_err err = km_rc(Esys_PCR_Read(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                           &sel, &upd, &sel_out, &digests),
                             "PCR read");
        if (err != SRTM_OK)
            return err;
        if (!km_mask_from_sel(sel_out, &got) || got == 0 || (got & ~left) != 0)
            return km_rc(TSS2_ESYS_RC_MALFORMED_RESPONSE, "PCR read selection");
        unsigned k = 0;
        for (unsigned i = 0; i < KM_PCR_COUNT; i++) {
            if (!(got & (1u << i)))
                continue;
            if (k >= digests->count || digests->digests[k].size != KM_DIGEST_LEN)
                return km_rc(TSS2_ESYS_RC_MALFORMED_RESPONSE, "PCR read digests");
            memcpy(vals->value[i], digests->digests[k].buffer, KM_DIGEST_LEN);
            k++;
        }
        if (!first && upd != *counter)
            return SRTM_E_RANGE; /* changed between passes: caller retries */
        *counter = upd;
        first = false;
        left &= ~got;
    }
    return SRTM_OK;
}

srtm_err km_pcr_read(km_ctx *ctx, uint32_t mask, km_pcr_values *out)
{
    if (ctx == NULL || out == NULL || !km_mask_valid(mask))
        return SRTM_E_INVALID;
    km_pcr_values vals;
    uint32_t counter = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        srtm_err err = read_once(ctx, mask, &vals, &counter);
        if (err == SRTM_OK) {
            *out = vals;
            return SRTM_OK;
        }
        if (err != SRTM_E_RANGE)
            return err;
    }
    log_error("TPM: PCRs kept changing while being read");
    return SRTM_E_TPM;
}

srtm_err km_pcr_extend(km_ctx *ctx, unsigned pcr, const uint8_t digest[KM_DIGEST_LEN])
{
    if (ctx == NULL || digest == NULL || pcr >= KM_PCR_COUNT)
        return SRTM_E_INVALID;
    TPML_DIGEST_VALUES v;
    memset(&v, 0, sizeof(v));
    v.count = 1;
    v.digests[0].hashAlg = TPM2_ALG_SHA256;
    memcpy(v.digests[0].digest.sha256, digest, KM_DIGEST_LEN);
    return km_rc(Esys_PCR_Extend(ctx->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                 ESYS_TR_NONE, &v),
                 "PCR extend");
}

srtm_err km_pcr_reset(km_ctx *ctx, unsigned pcr)
{
    if (ctx == NULL || (pcr != 16 && pcr != 23))
        return SRTM_E_INVALID;
    return km_rc(Esys_PCR_Reset(ctx->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE),
                 "PCR reset");
}
