/* The Integrity Report Key's cryptography; see irk.h. OpenSSL 3 EVP only. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "irk.h"

struct irk {
    EVP_PKEY *pkey;
    bool has_private;
};

static bool is_p256(EVP_PKEY *pkey)
{
    char group[32];
    size_t n = 0;
    return EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
           EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                          &n) == 1 &&
           strcmp(group, "prime256v1") == 0;
}

static srtm_err wrap(EVP_PKEY *pkey, bool priv, irk **out)
{
    if (pkey == NULL)
        return SRTM_E_INVALID;
    if (!is_p256(pkey)) {
        EVP_PKEY_free(pkey);
        return SRTM_E_INVALID;
    }
    irk *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return SRTM_E_NO_MEMORY;
    }
    k->pkey = pkey;
    k->has_private = priv;
    *out = k;
    return SRTM_OK;
}

srtm_err irk_generate(irk **out)
{
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (pkey == NULL)
        return SRTM_E_CRYPTO;
    return wrap(pkey, true, out);
}

srtm_err irk_from_private_der(const uint8_t *der, size_t len, irk **out)
{
    if (der == NULL || len == 0 || len > IRK_PRIV_DER_MAX)
        return SRTM_E_INVALID;
    const unsigned char *p = der;
    EVP_PKEY *pkey = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, (long)len);
    if (pkey != NULL && p != der + len) {
        EVP_PKEY_free(pkey); /* trailing bytes: not exactly one key */
        pkey = NULL;
    }
    return wrap(pkey, true, out);
}

srtm_err irk_from_public_der(const uint8_t *der, size_t len, irk **out)
{
    if (der == NULL || len == 0 || len > IRK_PUB_DER_MAX)
        return SRTM_E_INVALID;
    const unsigned char *p = der;
    EVP_PKEY *pkey = d2i_PUBKEY(NULL, &p, (long)len);
    if (pkey != NULL && p != der + len) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return wrap(pkey, false, out);
}

srtm_err irk_private_der(const irk *k, uint8_t out[IRK_PRIV_DER_MAX], size_t *len_out)
{
    if (k == NULL || !k->has_private)
        return SRTM_E_INVALID;
    int n = i2d_PrivateKey(k->pkey, NULL);
    if (n <= 0 || (size_t)n > IRK_PRIV_DER_MAX)
        return SRTM_E_CRYPTO;
    unsigned char *p = out;
    if (i2d_PrivateKey(k->pkey, &p) != n)
        return SRTM_E_CRYPTO;
    *len_out = (size_t)n;
    return SRTM_OK;
}

srtm_err irk_public_der(const irk *k, uint8_t out[IRK_PUB_DER_MAX], size_t *len_out)
{
    if (k == NULL)
        return SRTM_E_INVALID;
    int n = i2d_PUBKEY(k->pkey, NULL);
    if (n <= 0 || (size_t)n > IRK_PUB_DER_MAX)
        return SRTM_E_CRYPTO;
    unsigned char *p = out;
    if (i2d_PUBKEY(k->pkey, &p) != n)
        return SRTM_E_CRYPTO;
    *len_out = (size_t)n;
    return SRTM_OK;
}

void irk_free(irk *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey); /* OpenSSL clears private key material when freeing */
    free(k);
}

static bool report_inputs_ok(const uint8_t *nonce, size_t nonce_len, const uint8_t *report,
                             size_t report_len)
{
    return nonce != NULL && nonce_len > 0 && nonce_len <= 64 && (report != NULL || report_len == 0);
}

/* The signed message, IRK_REPORT_TAG || nonce || SHA-256(report), from the report's hash. */
static size_t report_message_of(const uint8_t *nonce, size_t nonce_len,
                                const uint8_t report_hash[SRTM_DIGEST_LEN], uint8_t *msg)
{
    size_t tag = strlen(IRK_REPORT_TAG);
    memcpy(msg, IRK_REPORT_TAG, tag);
    memcpy(msg + tag, nonce, nonce_len);
    memcpy(msg + tag + nonce_len, report_hash, SRTM_DIGEST_LEN);
    return tag + nonce_len + SRTM_DIGEST_LEN;
}

static srtm_err report_message(const uint8_t *nonce, size_t nonce_len, const uint8_t *report,
                               size_t report_len, uint8_t *msg, size_t *msg_len)
{
    if (!report_inputs_ok(nonce, nonce_len, report, report_len))
        return SRTM_E_INVALID;
    uint8_t h[SRTM_DIGEST_LEN];
    srtm_err err = srtm_sha256(report, report_len, h);
    if (err == SRTM_OK)
        *msg_len = report_message_of(nonce, nonce_len, h, msg);
    return err;
}

#define REPORT_MSG_MAX (sizeof(IRK_REPORT_TAG) + 64 + SRTM_DIGEST_LEN)

/* One-shot ECDSA-with-SHA-256 over msg (EVP_DigestSign). */
static srtm_err sign_message(const irk *k, const uint8_t *msg, size_t msg_len,
                             uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out)
{
    if (k == NULL || !k->has_private || sig == NULL || sig_len_out == NULL)
        return SRTM_E_INVALID;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = IRK_SIG_MAX;
    srtm_err err = SRTM_OK;
    if (ctx == NULL)
        return SRTM_E_NO_MEMORY;
    if (EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, k->pkey, NULL) != 1 ||
        EVP_DigestSign(ctx, sig, &n, msg, msg_len) != 1)
        err = SRTM_E_CRYPTO;
    EVP_MD_CTX_free(ctx);
    if (err == SRTM_OK)
        *sig_len_out = n;
    return err;
}

/* SRTM_OK only for a valid strict-DER signature of msg; SRTM_E_DENIED otherwise. */
static srtm_err verify_message(const irk *k, const uint8_t *msg, size_t msg_len,
                               const uint8_t *sig, size_t sig_len)
{
    if (k == NULL || sig == NULL || sig_len == 0 || sig_len > IRK_SIG_MAX)
        return SRTM_E_INVALID;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    srtm_err err = SRTM_OK;
    if (ctx == NULL)
        return SRTM_E_NO_MEMORY;
    if (EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, k->pkey, NULL) != 1)
        err = SRTM_E_CRYPTO;
    else if (EVP_DigestVerify(ctx, sig, sig_len, msg, msg_len) != 1)
        err = SRTM_E_DENIED; /* wrong signature, or not a DER signature at all */
    EVP_MD_CTX_free(ctx);
    return err;
}

/* The batch message, IRK_BATCH_TAG || root. */
#define BATCH_MSG_LEN (sizeof(IRK_BATCH_TAG) - 1 + SRTM_DIGEST_LEN)
static void batch_message(const uint8_t root[SRTM_DIGEST_LEN], uint8_t msg[BATCH_MSG_LEN])
{
    memcpy(msg, IRK_BATCH_TAG, sizeof(IRK_BATCH_TAG) - 1);
    memcpy(msg + sizeof(IRK_BATCH_TAG) - 1, root, SRTM_DIGEST_LEN);
}

srtm_err irk_sign_report(const irk *k, const uint8_t *nonce, size_t nonce_len,
                         const uint8_t *report, size_t report_len, uint8_t sig[IRK_SIG_MAX],
                         size_t *sig_len_out)
{
    uint8_t msg[REPORT_MSG_MAX];
    size_t msg_len = 0;
    srtm_err err = report_message(nonce, nonce_len, report, report_len, msg, &msg_len);
    if (err == SRTM_OK)
        err = sign_message(k, msg, msg_len, sig, sig_len_out);
    return err;
}

srtm_err irk_sign_root(const irk *k, const uint8_t root[SRTM_DIGEST_LEN], uint8_t sig[IRK_SIG_MAX],
                       size_t *sig_len_out)
{
    if (root == NULL)
        return SRTM_E_INVALID;
    uint8_t msg[BATCH_MSG_LEN];
    batch_message(root, msg);
    return sign_message(k, msg, sizeof(msg), sig, sig_len_out);
}

srtm_err irk_verify_root(const irk *k, const uint8_t root[SRTM_DIGEST_LEN], const uint8_t *sig,
                         size_t sig_len)
{
    if (root == NULL)
        return SRTM_E_INVALID;
    uint8_t msg[BATCH_MSG_LEN];
    batch_message(root, msg);
    return verify_message(k, msg, sizeof(msg), sig, sig_len);
}

struct irk_signer {
    EVP_PKEY_CTX *pctx; /* EVP_PKEY_sign over a SHA-256 digest, initialised once */
    sha256_hasher *h;
};

srtm_err irk_signer_new(const irk *k, irk_signer **out)
{
    if (k == NULL || !k->has_private || out == NULL)
        return SRTM_E_INVALID;
    irk_signer *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = sha256_hasher_new(&s->h);
    EVP_MD *md = err == SRTM_OK ? EVP_MD_fetch(NULL, "SHA256", NULL) : NULL;
    if (err == SRTM_OK && (md == NULL ||
                           (s->pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) == NULL ||
                           EVP_PKEY_sign_init(s->pctx) != 1 ||
                           EVP_PKEY_CTX_set_signature_md(s->pctx, md) != 1))
        err = SRTM_E_CRYPTO;
    EVP_MD_free(md); /* the context keeps its own reference */
    if (err != SRTM_OK) {
        irk_signer_free(s);
        return err;
    }
    *out = s;
    return SRTM_OK;
}

void irk_signer_free(irk_signer *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_CTX_free(s->pctx);
    sha256_hasher_free(s->h);
    free(s);
}

srtm_err irk_signer_sign_report(irk_signer *s, const uint8_t *nonce, size_t nonce_len,
                                const uint8_t *report, size_t report_len,
                                uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out,
                                uint8_t qual_out[SRTM_DIGEST_LEN])
{
    if (s == NULL || !report_inputs_ok(nonce, nonce_len, report, report_len))
        return SRTM_E_INVALID;
    uint8_t h[SRTM_DIGEST_LEN];
    srtm_err err = sha256_hasher_two(s->h, report, report_len, NULL, 0, h);
    if (err == SRTM_OK)
        err = irk_signer_sign_digest(s, nonce, nonce_len, h, sig, sig_len_out, qual_out);
    return err;
}

srtm_err irk_signer_sign_digest(irk_signer *s, const uint8_t *nonce, size_t nonce_len,
                                const uint8_t h[SRTM_DIGEST_LEN], uint8_t sig[IRK_SIG_MAX],
                                size_t *sig_len_out, uint8_t qual_out[SRTM_DIGEST_LEN])
{
    if (s == NULL || h == NULL || sig == NULL || sig_len_out == NULL || qual_out == NULL ||
        !report_inputs_ok(nonce, nonce_len, NULL, 0))
        return SRTM_E_INVALID;
    uint8_t digest[SRTM_DIGEST_LEN], qual[SRTM_DIGEST_LEN];
    uint8_t msg[REPORT_MSG_MAX];
    size_t n = IRK_SIG_MAX;
    srtm_err err = sha256_hasher_two(s->h, msg, report_message_of(nonce, nonce_len, h, msg), NULL,
                                     0, digest);
    /* ECDSA over SHA-256(msg): the signature EVP_DigestSign with SHA-256 makes of msg. */
    if (err == SRTM_OK && EVP_PKEY_sign(s->pctx, sig, &n, digest, sizeof(digest)) != 1)
        err = SRTM_E_CRYPTO;
    if (err == SRTM_OK)
        err = sha256_hasher_two(s->h, nonce, nonce_len, h, SRTM_DIGEST_LEN, qual);
    if (err != SRTM_OK)
        return err;
    memcpy(qual_out, qual, SRTM_DIGEST_LEN);
    *sig_len_out = n;
    return SRTM_OK;
}

srtm_err irk_signer_sign_root(irk_signer *s, const uint8_t root[SRTM_DIGEST_LEN],
                              uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out)
{
    if (s == NULL || root == NULL || sig == NULL || sig_len_out == NULL)
        return SRTM_E_INVALID;
    uint8_t msg[BATCH_MSG_LEN], digest[SRTM_DIGEST_LEN];
    size_t n = IRK_SIG_MAX;
    batch_message(root, msg);
    srtm_err err = sha256_hasher_two(s->h, msg, sizeof(msg), NULL, 0, digest);
    if (err == SRTM_OK && EVP_PKEY_sign(s->pctx, sig, &n, digest, sizeof(digest)) != 1)
        err = SRTM_E_CRYPTO;
    if (err == SRTM_OK)
        *sig_len_out = n;
    return err;
}

srtm_err irk_verify_report(const irk *k, const uint8_t *nonce, size_t nonce_len,
                           const uint8_t *report, size_t report_len, const uint8_t *sig,
                           size_t sig_len)
{
    if (!report_inputs_ok(nonce, nonce_len, report, report_len))
        return SRTM_E_INVALID;
    uint8_t h[SRTM_DIGEST_LEN];
    srtm_err err = srtm_sha256(report, report_len, h);
    if (err == SRTM_OK)
        err = irk_verify_report_digest(k, nonce, nonce_len, h, sig, sig_len);
    return err;
}

srtm_err irk_verify_report_digest(const irk *k, const uint8_t *nonce, size_t nonce_len,
                                  const uint8_t report_digest[SRTM_DIGEST_LEN],
                                  const uint8_t *sig, size_t sig_len)
{
    if (report_digest == NULL || !report_inputs_ok(nonce, nonce_len, NULL, 0))
        return SRTM_E_INVALID;
    uint8_t msg[REPORT_MSG_MAX];
    size_t msg_len = report_message_of(nonce, nonce_len, report_digest, msg);
    return verify_message(k, msg, msg_len, sig, sig_len);
}

srtm_err irk_quote_qualifier(const uint8_t *nonce, size_t nonce_len, const uint8_t *report,
                             size_t report_len, uint8_t out[SRTM_DIGEST_LEN])
{
    if (!report_inputs_ok(nonce, nonce_len, report, report_len))
        return SRTM_E_INVALID;
    uint8_t h[SRTM_DIGEST_LEN];
    srtm_err err = srtm_sha256(report, report_len, h);
    if (err == SRTM_OK)
        err = irk_quote_qualifier_of_digest(nonce, nonce_len, h, out);
    return err;
}

srtm_err irk_quote_qualifier_of_digest(const uint8_t *nonce, size_t nonce_len,
                                       const uint8_t report_digest[SRTM_DIGEST_LEN],
                                       uint8_t out[SRTM_DIGEST_LEN])
{
    if (report_digest == NULL || out == NULL || !report_inputs_ok(nonce, nonce_len, NULL, 0))
        return SRTM_E_INVALID;
    uint8_t buf[64 + SRTM_DIGEST_LEN];
    memcpy(buf, nonce, nonce_len);
    memcpy(buf + nonce_len, report_digest, SRTM_DIGEST_LEN);
    return srtm_sha256(buf, nonce_len + SRTM_DIGEST_LEN, out);
}

srtm_err irk_cert_qualifier(const uint8_t *pub_der, size_t pub_len, uint8_t out[SRTM_DIGEST_LEN])
{
    if (pub_der == NULL || pub_len == 0 || pub_len > IRK_PUB_DER_MAX)
        return SRTM_E_INVALID;
    uint8_t buf[sizeof(IRK_CERT_TAG) + IRK_PUB_DER_MAX];
    size_t tag = strlen(IRK_CERT_TAG);
    memcpy(buf, IRK_CERT_TAG, tag);
    memcpy(buf + tag, pub_der, pub_len);
    return srtm_sha256(buf, tag + pub_len, out);
}
