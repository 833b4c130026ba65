/*
 * Reading what the TPM signed: a quote's TPMS_ATTEST (nonce, clock info for the same-boot
 * check, PCR selection and digest) and the conversion of a TPMT_SIGNATURE into the plain
 * DER form OpenSSL and tpm2_checkquote verify. Pure: no TPM needed.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "km_int.h"

srtm_err km_quote_parse(const uint8_t *attest, size_t attest_len, km_quote_info *out)
{
    if (attest == NULL || out == NULL)
        return SRTM_E_INVALID;
    TPMS_ATTEST a;
    memset(&a, 0, sizeof(a));
    size_t off = 0;
    if (Tss2_MU_TPMS_ATTEST_Unmarshal(attest, attest_len, &off, &a) != TSS2_RC_SUCCESS ||
        off != attest_len)
        return SRTM_E_MALFORMED;
    if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE)
        return SRTM_E_INVALID;
    const TPMS_QUOTE_INFO *q = &a.attested.quote;
    km_quote_info info;
    memset(&info, 0, sizeof(info));
    if (!km_mask_from_sel(&q->pcrSelect, &info.pcr_mask) || q->pcrDigest.size != KM_DIGEST_LEN)
        return SRTM_E_MALFORMED;
    if (a.extraData.size > KM_MAX_QUALIFYING || a.qualifiedSigner.size > sizeof(info.signer_name))
        return SRTM_E_MALFORMED;
    memcpy(info.pcr_digest, q->pcrDigest.buffer, KM_DIGEST_LEN);
    memcpy(info.qualifying, a.extraData.buffer, a.extraData.size);
    info.qualifying_len = a.extraData.size;
    memcpy(info.signer_name, a.qualifiedSigner.name, a.qualifiedSigner.size);
    info.signer_name_len = a.qualifiedSigner.size;
    info.clock = a.clockInfo.clock;
    info.reset_count = a.clockInfo.resetCount;
    info.restart_count = a.clockInfo.restartCount;
    info.safe = a.clockInfo.safe == TPM2_YES;
    info.firmware_version = a.firmwareVersion;
    *out = info;
    return SRTM_OK;
}

srtm_err km_sig_to_der(const uint8_t *sig, size_t sig_len, uint8_t *der, size_t size,
                       size_t *len_out)
{
    if (sig == NULL || der == NULL || len_out == NULL)
        return SRTM_E_INVALID;
    TPMT_SIGNATURE s;
    memset(&s, 0, sizeof(s));
    size_t off = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sig_len, &off, &s) != TSS2_RC_SUCCESS ||
        off != sig_len)
        return SRTM_E_MALFORMED;
    if (s.sigAlg != TPM2_ALG_ECDSA || s.signature.ecdsa.hash != TPM2_ALG_SHA256)
        return SRTM_E_UNSUPPORTED;
    const TPMS_SIGNATURE_ECC *e = &s.signature.ecdsa;
    if (e->signatureR.size == 0 || e->signatureR.size > 32 || e->signatureS.size == 0 ||
        e->signatureS.size > 32)
        return SRTM_E_MALFORMED;

    srtm_err err = SRTM_E_CRYPTO;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
    BIGNUM *sv = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
    if (es == NULL || r == NULL || sv == NULL || ECDSA_SIG_set0(es, r, sv) != 1)
        goto out;
    r = sv = NULL; /* owned by es now */
    int n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0)
        goto out;
    if ((size_t)n > size) {
        err = SRTM_E_TOO_BIG;
        goto out;
    }
    uint8_t *p = der;
    if (i2d_ECDSA_SIG(es, &p) != n)
        goto out;
    *len_out = (size_t)n;
    err = SRTM_OK;
out:
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(es);
    return err;
}
