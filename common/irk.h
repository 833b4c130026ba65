/*
 * The Integrity Report Key (IRK): an ECDSA P-256 key in software, created by the key
 * management entity (case MIT) or by srtmd (case S1T), obtainable only during the
 * SRTM-proof-period, and used by srtmd to sign CCR reports. This file holds its
 * cryptography (OpenSSL 3 EVP only) and the exact byte strings that are signed and
 * quoted, so that srtmd and every verifier derive them the same way.
 */
#ifndef SRTM_IRK_H
#define SRTM_IRK_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* Domain tags: a signature or quote made for one purpose is never valid for another. */
#define IRK_REPORT_TAG "srtm-irk-report-v1"
#define IRK_CERT_TAG "srtm-irk-certificate-v1"
#define IRK_BATCH_TAG "srtm-irk-batch-v1"

/* The private key as sealed by the TPM: DER ECPrivateKey (with the public point),
 * at most TPM2's MAX_SYM_DATA of 128 bytes. */
#define IRK_PRIV_DER_MAX 128u
/* DER SubjectPublicKeyInfo of a P-256 key is 91 bytes. */
#define IRK_PUB_DER_MAX 128u
/* DER ECDSA P-256 signature: at most 72 bytes. */
#define IRK_SIG_MAX 80u

typedef struct irk irk;

/* A fresh P-256 key from the OpenSSL RNG. The caller owns *out (irk_free). */
SRTM_WUR srtm_err irk_generate(irk **out);

/* Parse a private key (DER ECPrivateKey, P-256 only). */
SRTM_WUR srtm_err irk_from_private_der(const uint8_t *der, size_t len, irk **out);

/* Parse a public key (DER SubjectPublicKeyInfo, P-256 only). */
SRTM_WUR srtm_err irk_from_public_der(const uint8_t *der, size_t len, irk **out);

/* Serialise the private key into out (at most IRK_PRIV_DER_MAX bytes). The bytes are a
 * secret: the caller wipes them (OPENSSL_cleanse) when done. */
SRTM_WUR srtm_err irk_private_der(const irk *k, uint8_t out[IRK_PRIV_DER_MAX], size_t *len_out);

/* Serialise the public key into out (at most IRK_PUB_DER_MAX bytes). */
SRTM_WUR srtm_err irk_public_der(const irk *k, uint8_t out[IRK_PUB_DER_MAX], size_t *len_out);

/* Free and wipe; NULL is fine. */
void irk_free(irk *k);

/*
 * The report signature: DER ECDSA over SHA-256(IRK_REPORT_TAG || nonce || SHA-256(report)).
 * sign needs a private key; verify returns SRTM_OK only for a valid signature
 * (SRTM_E_DENIED for a wrong one, another code when the inputs are malformed).
 */
SRTM_WUR srtm_err irk_sign_report(const irk *k, const uint8_t *nonce, size_t nonce_len,
                                  const uint8_t *report, size_t report_len,
                                  uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out);
SRTM_WUR srtm_err irk_verify_report(const irk *k, const uint8_t *nonce, size_t nonce_len,
                                    const uint8_t *report, size_t report_len, const uint8_t *sig,
                                    size_t sig_len);
/* The same from SHA-256(report), computed by the caller. */
SRTM_WUR srtm_err irk_verify_report_digest(const irk *k, const uint8_t *nonce, size_t nonce_len,
                                           const uint8_t report_digest[SRTM_DIGEST_LEN],
                                           const uint8_t *sig, size_t sig_len);

/*
 * A reusable report signer for one thread at a time: the IRK's signing context and a
 * SHA-256 context set up once, so that a joint quote costs the ECDSA operation and the
 * hashes, not OpenSSL's algorithm look-ups and allocations. irk_signer_sign_report gives
 * irk_sign_report's signature and irk_quote_qualifier's qualifier from one hash of the
 * report. new keeps its own reference to k's key (k may be freed first); the caller owns
 * *out (irk_signer_free, NULL is fine). Fails for a key without its private half.
 */
typedef struct irk_signer irk_signer;
SRTM_WUR srtm_err irk_signer_new(const irk *k, irk_signer **out);
void irk_signer_free(irk_signer *s);
SRTM_WUR srtm_err irk_signer_sign_report(irk_signer *s, const uint8_t *nonce, size_t nonce_len,
                                         const uint8_t *report, size_t report_len,
                                         uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out,
                                         uint8_t qual_out[SRTM_DIGEST_LEN]);
/* The same from the report's SHA-256, computed by the caller (report_digest). */
SRTM_WUR srtm_err irk_signer_sign_digest(irk_signer *s, const uint8_t *nonce, size_t nonce_len,
                                         const uint8_t report_digest[SRTM_DIGEST_LEN],
                                         uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out,
                                         uint8_t qual_out[SRTM_DIGEST_LEN]);

/*
 * The batch signature: one signature for every joint quote of a batch, DER ECDSA over
 * SHA-256(IRK_BATCH_TAG || root), root being the Merkle root the batch's TPM quote holds as
 * qualifyingData (merkle.h). The root commits to each quote's qualifier
 * SHA-256(nonce || SHA-256(report)), so the signature binds every report of the batch to
 * its nonce as irk_sign_report does one. Verify: as irk_verify_report.
 */
SRTM_WUR srtm_err irk_signer_sign_root(irk_signer *s, const uint8_t root[SRTM_DIGEST_LEN],
                                       uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out);
SRTM_WUR srtm_err irk_sign_root(const irk *k, const uint8_t root[SRTM_DIGEST_LEN],
                                uint8_t sig[IRK_SIG_MAX], size_t *sig_len_out);
SRTM_WUR srtm_err irk_verify_root(const irk *k, const uint8_t root[SRTM_DIGEST_LEN],
                                  const uint8_t *sig, size_t sig_len);

/* qualifyingData of a joint quote: SHA-256(nonce || SHA-256(report)). */
SRTM_WUR srtm_err irk_quote_qualifier(const uint8_t *nonce, size_t nonce_len,
                                      const uint8_t *report, size_t report_len,
                                      uint8_t out[SRTM_DIGEST_LEN]);

/* The same from SHA-256(report). */
SRTM_WUR srtm_err irk_quote_qualifier_of_digest(const uint8_t *nonce, size_t nonce_len,
                                                const uint8_t report_digest[SRTM_DIGEST_LEN],
                                                uint8_t out[SRTM_DIGEST_LEN]);

/* qualifyingData of the IRK certificate: SHA-256(IRK_CERT_TAG || public key DER). */
SRTM_WUR srtm_err irk_cert_qualifier(const uint8_t *pub_der, size_t pub_len,
                                     uint8_t out[SRTM_DIGEST_LEN]);

#endif /* SRTM_IRK_H */
