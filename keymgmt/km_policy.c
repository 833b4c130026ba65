/*
 * Pure PCR arithmetic: selections, predicted extends, the PCR digest of a quote and the
 * PolicyPCR policy digest, computed without a TPM so that srtm-keymgr can target PCR
 * states the TPM is not (yet) in.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "km_int.h"

bool km_mask_valid(uint32_t mask)
{
    return mask != 0 && (mask & ~KM_PCR_MASK_ALL) == 0;
}

void km_sel_from_mask(uint32_t mask, TPML_PCR_SELECTION *sel)
{
    memset(sel, 0, sizeof(*sel));
    sel->count = 1;
    sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel->pcrSelections[0].sizeofSelect = 3;
    for (unsigned i = 0; i < KM_PCR_COUNT; i++)
        if (mask & (1u << i))
            sel->pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
}

bool km_mask_from_sel(const TPML_PCR_SELECTION *sel, uint32_t *mask)
{
    uint32_t m = 0;
    if (sel->count > TPM2_NUM_PCR_BANKS)
        return false;
    for (uint32_t b = 0; b < sel->count; b++) {
        const TPMS_PCR_SELECTION *s = &sel->pcrSelections[b];
        if (s->sizeofSelect > TPM2_PCR_SELECT_MAX)
            return false;
        for (unsigned byte = 0; byte < s->sizeofSelect; byte++) {
            if (s->pcrSelect[byte] == 0)
                continue;
            if (s->hash != TPM2_ALG_SHA256 || byte >= 3)
                return false;
            m |= (uint32_t)s->pcrSelect[byte] << (8 * byte);
        }
    }
    *mask = m;
    return true;
}

srtm_err km_pcr_extend_sw(const uint8_t old[KM_DIGEST_LEN], const uint8_t digest[KM_DIGEST_LEN],
                          uint8_t out[KM_DIGEST_LEN])
{
    sha256_hasher *h = NULL;
    srtm_err err = sha256_hasher_new(&h);
    if (err == SRTM_OK)
        err = sha256_hasher_two(h, old, KM_DIGEST_LEN, digest, KM_DIGEST_LEN, out);
    sha256_hasher_free(h);
    return err;
}

srtm_err km_pcr_digest(const km_pcr_values *pcrs, uint8_t out[KM_DIGEST_LEN])
{
    if (pcrs == NULL || !km_mask_valid(pcrs->mask))
        return SRTM_E_INVALID;
    sha256_hasher *h = NULL;
    srtm_err err = sha256_hasher_new(&h);
    if (err == SRTM_OK)
        err = sha256_hasher_begin(h);
    for (unsigned i = 0; err == SRTM_OK && i < KM_PCR_COUNT; i++)
        if (pcrs->mask & (1u << i))
            err = sha256_hasher_update(h, pcrs->value[i], KM_DIGEST_LEN);
    if (err == SRTM_OK)
        err = sha256_hasher_finish(h, out);
    sha256_hasher_free(h);
    return err;
}

srtm_err km_policy_pcr(const uint8_t prev[KM_DIGEST_LEN], const km_pcr_values *pcrs,
                       uint8_t out[KM_DIGEST_LEN])
{
    static const uint8_t zero[KM_DIGEST_LEN];
    uint8_t pcr_digest[KM_DIGEST_LEN];
    srtm_err err = km_pcr_digest(pcrs, pcr_digest);
    if (err != SRTM_OK)
        return err;

    /* The command code and the selection enter the policy hash marshalled (big-endian). */
    TPML_PCR_SELECTION sel;
    km_sel_from_mask(pcrs->mask, &sel);
    uint8_t sel_buf[sizeof(TPML_PCR_SELECTION)];
    size_t sel_len = 0;
    if (Tss2_MU_TPML_PCR_SELECTION_Marshal(&sel, sel_buf, sizeof(sel_buf), &sel_len) !=
        TSS2_RC_SUCCESS)
        return SRTM_E_INTERNAL;
    const uint8_t cc[4] = {0x00, 0x00, 0x01, 0x7F};
    _Static_assert(TPM2_CC_PolicyPCR == 0x17F, "TPM_CC_PolicyPCR");

    sha256_hasher *h = NULL;
    err = sha256_hasher_new(&h);
    if (err == SRTM_OK)
        err = sha256_hasher_begin(h);
    if (err == SRTM_OK)
        err = sha256_hasher_update(h, prev != NULL ? prev : zero, KM_DIGEST_LEN);
    if (err == SRTM_OK)
        err = sha256_hasher_update(h, cc, sizeof(cc));
    if (err == SRTM_OK)
        err = sha256_hasher_update(h, sel_buf, sel_len);
    if (err == SRTM_OK)
        err = sha256_hasher_update(h, pcr_digest, sizeof(pcr_digest));
    if (err == SRTM_OK)
        err = sha256_hasher_finish(h, out);
    sha256_hasher_free(h);
    return err;
}

void km_secret_wipe(km_secret *s)
{
    if (s != NULL)
        OPENSSL_cleanse(s, sizeof(*s));
}
