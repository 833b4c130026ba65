/*
 * TPM public keys as OpenSSL 3 EVP_PKEYs and PEM, built from the ECC point with
 * OSSL_PARAM and EVP_PKEY_fromdata (no deprecated EC_KEY). Pure: no TPM needed.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "km_int.h"

srtm_err km_ecc_public_to_evp(const TPMT_PUBLIC *pub, void **pkey_out)
{
    if (pub->type != TPM2_ALG_ECC)
        return SRTM_E_UNSUPPORTED;
    if (pub->parameters.eccDetail.curveID != TPM2_ECC_NIST_P256)
        return SRTM_E_UNSUPPORTED;
    const TPMS_ECC_POINT *pt = &pub->unique.ecc;
    if (pt->x.size != 32 || pt->y.size != 32)
        return SRTM_E_MALFORMED;

    /* Uncompressed SEC1 point: 0x04 || X || Y. */
    uint8_t point[65];
    point[0] = 0x04;
    memcpy(point + 1, pt->x.buffer, 32);
    memcpy(point + 33, pt->y.buffer, 32);

    srtm_err err = SRTM_E_CRYPTO;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    pctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1)
        goto out;
    /* fromdata checks that the point is on the curve. */
    if (EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        err = SRTM_E_MALFORMED;
        goto out;
    }
    *pkey_out = pkey;
    pkey = NULL;
    err = SRTM_OK;
out:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return err;
}

/* PEM SubjectPublicKeyInfo of an ECC TPMT_PUBLIC into buf (NUL-terminated). */
static srtm_err tpmt_to_pem(const TPMT_PUBLIC *pub, char *buf, size_t size, size_t *len_out)
{
    void *vkey = NULL;
    srtm_err err = km_ecc_public_to_evp(pub, &vkey);
    if (err != SRTM_OK)
        return err;
    EVP_PKEY *pkey = vkey;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n = 0;
    err = SRTM_E_CRYPTO;
    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1)
        goto out;
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || data == NULL)
        goto out;
    if ((size_t)n >= size) {
        err = SRTM_E_TOO_BIG;
        goto out;
    }
    memcpy(buf, data, (size_t)n);
    buf[n] = '\0';
    *len_out = (size_t)n;
    err = SRTM_OK;
out:
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return err;
}

srtm_err km_public_to_pem(const uint8_t *pub, size_t pub_len, char *buf, size_t size,
                          size_t *len_out)
{
    if (pub == NULL || buf == NULL || len_out == NULL)
        return SRTM_E_INVALID;
    TPM2B_PUBLIC p;
    memset(&p, 0, sizeof(p));
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, pub_len, &off, &p) != TSS2_RC_SUCCESS ||
        off != pub_len)
        return SRTM_E_MALFORMED;
    return tpmt_to_pem(&p.publicArea, buf, size, len_out);
}

srtm_err km_aik_pem(const km_aik *aik, char *buf, size_t size, size_t *len_out)
{
    if (aik == NULL || buf == NULL || len_out == NULL)
        return SRTM_E_INVALID;
    return tpmt_to_pem(&aik->pub.publicArea, buf, size, len_out);
}

srtm_err km_aik_public(const km_aik *aik, uint8_t *buf, size_t size, size_t *len_out)
{
    if (aik == NULL || buf == NULL || len_out == NULL)
        return SRTM_E_INVALID;
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&aik->pub, buf, size, &off);
    if (rc != TSS2_RC_SUCCESS)
        return rc == TSS2_MU_RC_INSUFFICIENT_BUFFER ? SRTM_E_TOO_BIG : km_rc(rc, "marshal");
    *len_out = off;
    return SRTM_OK;
}

uint32_t km_aik_handle(const km_aik *aik)
{
    return aik != NULL ? aik->handle : 0;
}
