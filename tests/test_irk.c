/*
 * The IRK's cryptography: key round trips, the report signature (checked also with the
 * openssl command line, independently of the code under test), the quote qualifiers
 * (recomputed here with plain EVP), and refusals of wrong keys, curves and bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "helpers.h"
#include "irk.h"

static const uint8_t nonce[20] = "a verifier's nonce!";
static const uint8_t report[] = "the exact bytes of a serialised CCR report";

static irk *fresh(void)
{
    irk *k = NULL;
    cr_assert_eq(irk_generate(&k), SRTM_OK);
    return k;
}

static void sha256(const void *a, size_t alen, uint8_t out[32])
{
    unsigned int n = 0;
    cr_assert_eq(EVP_Digest(a, alen, out, &n, EVP_sha256(), NULL), 1);
}

Test(irk, private_key_round_trip_fits_a_tpm_sealed_object)
{
    irk *k = fresh();
    uint8_t priv[IRK_PRIV_DER_MAX], pub[IRK_PUB_DER_MAX], pub2[IRK_PUB_DER_MAX];
    size_t plen = 0, n1 = 0, n2 = 0;
    cr_assert_eq(irk_private_der(k, priv, &plen), SRTM_OK);
    cr_expect_leq(plen, 128u, "sealed data must fit TPM2 MAX_SYM_DATA");
    irk *k2 = NULL;
    cr_assert_eq(irk_from_private_der(priv, plen, &k2), SRTM_OK);
    cr_assert_eq(irk_public_der(k, pub, &n1), SRTM_OK);
    cr_assert_eq(irk_public_der(k2, pub2, &n2), SRTM_OK);
    cr_expect_eq(n1, n2);
    cr_expect_arr_eq(pub, pub2, n1, "the restored key is another key");
    /* A signature by the restored key verifies with the original's public key. */
    uint8_t sig[IRK_SIG_MAX];
    size_t slen = 0;
    cr_assert_eq(irk_sign_report(k2, nonce, sizeof(nonce), report, sizeof(report), sig, &slen),
                 SRTM_OK);
    cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), report, sizeof(report), sig, slen),
                 SRTM_OK);
    /* Trailing bytes after the key are refused. */
    priv[plen] = 0;
    cr_expect_neq(irk_from_private_der(priv, plen + 1, &k2 /* unchanged on failure */),
                  SRTM_OK);
    irk_free(k);
    irk_free(k2);
}

Test(irk, report_signature_and_its_refusals)
{
    irk *k = fresh(), *other = fresh();
    uint8_t sig[IRK_SIG_MAX];
    size_t slen = 0;
    cr_assert_eq(irk_sign_report(k, nonce, sizeof(nonce), report, sizeof(report), sig, &slen),
                 SRTM_OK);
    cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), report, sizeof(report), sig, slen),
                 SRTM_OK);
    uint8_t bad_report[sizeof(report)];
    memcpy(bad_report, report, sizeof(report));
    bad_report[7] ^= 1;
    cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), bad_report, sizeof(report), sig, slen),
                 SRTM_E_DENIED, "a flipped report byte was accepted");
    uint8_t bad_nonce[sizeof(nonce)];
    memcpy(bad_nonce, nonce, sizeof(nonce));
    bad_nonce[0] ^= 0x80;
    cr_expect_eq(irk_verify_report(k, bad_nonce, sizeof(nonce), report, sizeof(report), sig, slen),
                 SRTM_E_DENIED, "another nonce was accepted");
    cr_expect_eq(irk_verify_report(other, nonce, sizeof(nonce), report, sizeof(report), sig, slen),
                 SRTM_E_DENIED, "another key's verification accepted");
    sig[slen - 1] ^= 1;
    cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), report, sizeof(report), sig, slen),
                 SRTM_E_DENIED, "a flipped signature byte was accepted");
    cr_expect_neq(irk_verify_report(k, nonce, sizeof(nonce), report, sizeof(report), sig, 0),
                  SRTM_OK);
    cr_expect_eq(irk_sign_report(k, nonce, 0, report, sizeof(report), sig, &slen), SRTM_E_INVALID,
                 "empty nonce");
    /* A public-only key cannot sign. */
    uint8_t pub[IRK_PUB_DER_MAX];
    size_t plen = 0;
    cr_assert_eq(irk_public_der(k, pub, &plen), SRTM_OK);
    irk *pubonly = NULL;
    cr_assert_eq(irk_from_public_der(pub, plen, &pubonly), SRTM_OK);
    cr_expect_eq(irk_sign_report(pubonly, nonce, sizeof(nonce), report, sizeof(report), sig, &slen),
                 SRTM_E_INVALID);
    irk_free(pubonly);
    irk_free(k);
    irk_free(other);
}

/* The signed message is exactly TAG || nonce || SHA-256(report): `openssl dgst -verify`
 * over a message file built here accepts the signature. */
Test(irk, signature_verifies_with_the_openssl_command)
{
    irk *k = fresh();
    uint8_t sig[IRK_SIG_MAX], pub[IRK_PUB_DER_MAX];
    size_t slen = 0, plen = 0;
    cr_assert_eq(irk_sign_report(k, nonce, sizeof(nonce), report, sizeof(report), sig, &slen),
                 SRTM_OK);
    cr_assert_eq(irk_public_der(k, pub, &plen), SRTM_OK);
    char dir[] = "/tmp/srtm-irk-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char msgp[64], sigp[64], pubp[64];
    snprintf(msgp, sizeof(msgp), "%s/msg", dir);
    snprintf(sigp, sizeof(sigp), "%s/sig", dir);
    snprintf(pubp, sizeof(pubp), "%s/pub.der", dir);
    FILE *f = fopen(msgp, "wb");
    cr_assert(f != NULL);
    uint8_t h[32];
    sha256(report, sizeof(report), h);
    fwrite(IRK_REPORT_TAG, 1, strlen(IRK_REPORT_TAG), f);
    fwrite(nonce, 1, sizeof(nonce), f);
    fwrite(h, 1, sizeof(h), f);
    fclose(f);
    f = fopen(sigp, "wb");
    fwrite(sig, 1, slen, f);
    fclose(f);
    f = fopen(pubp, "wb");
    fwrite(pub, 1, plen, f);
    fclose(f);
    const char *argv[] = {"/usr/bin/openssl", "dgst", "-sha256", "-keyform", "DER", "-verify",
                          pubp, "-signature", sigp, msgp, NULL};
    char out[256];
    int rc = test_run(argv, out, sizeof(out), NULL, 0);
    cr_expect_eq(rc, 0, "openssl dgst -verify: %s", out);
    cr_expect(strstr(out, "Verified OK") != NULL, "%s", out);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
    irk_free(k);
}

Test(irk, qualifiers_are_the_documented_hashes)
{
    uint8_t got[32], want[32], h[32];
    cr_assert_eq(irk_quote_qualifier(nonce, sizeof(nonce), report, sizeof(report), got), SRTM_OK);
    uint8_t buf[sizeof(nonce) + 32];
    memcpy(buf, nonce, sizeof(nonce));
    sha256(report, sizeof(report), buf + sizeof(nonce));
    sha256(buf, sizeof(buf), want);
    cr_expect_arr_eq(got, want, 32, "joint quote qualifyingData");

    irk *k = fresh();
    uint8_t pub[IRK_PUB_DER_MAX];
    size_t plen = 0;
    cr_assert_eq(irk_public_der(k, pub, &plen), SRTM_OK);
    cr_assert_eq(irk_cert_qualifier(pub, plen, got), SRTM_OK);
    uint8_t cbuf[64 + IRK_PUB_DER_MAX];
    size_t tag = strlen(IRK_CERT_TAG);
    memcpy(cbuf, IRK_CERT_TAG, tag);
    memcpy(cbuf + tag, pub, plen);
    sha256(cbuf, tag + plen, want);
    cr_expect_arr_eq(got, want, 32, "IRK certificate qualifyingData");
    /* The two are domain-separated: a certificate qualifier is never a quote qualifier. */
    cr_assert_eq(irk_quote_qualifier(pub, plen > 64 ? 64 : plen, NULL, 0, h), SRTM_OK);
    cr_expect_arr_neq(h, got, 32);
    irk_free(k);
}

Test(irk, other_curves_and_garbage_are_refused)
{
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    cr_assert(p384 != NULL);
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(p384, &der);
    cr_assert_gt(n, 0);
    irk *k = NULL;
    cr_expect_eq(irk_from_public_der(der, (size_t)n, &k), SRTM_E_INVALID, "P-384 accepted");
    OPENSSL_free(der);
    EVP_PKEY_free(p384);
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    cr_assert(rsa != NULL);
    der = NULL;
    n = i2d_PUBKEY(rsa, &der);
    cr_expect_neq(irk_from_public_der(der, (size_t)n, &k), SRTM_OK, "RSA accepted");
    OPENSSL_free(der);
    EVP_PKEY_free(rsa);
    const uint8_t junk[40] = {0x30, 0x26, 0x01};
    cr_expect_eq(irk_from_public_der(junk, sizeof(junk), &k), SRTM_E_INVALID);
    cr_expect_eq(irk_from_private_der(junk, sizeof(junk), &k), SRTM_E_INVALID);
    cr_expect_eq(irk_from_public_der(junk, 0, &k), SRTM_E_INVALID);
}

/* Verify sig over msg with k's public key by plain OpenSSL calls. */
static bool plain_verify_msg(irk *k, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                             size_t slen)
{
    uint8_t pub[IRK_PUB_DER_MAX];
    size_t plen = 0;
    cr_assert_eq(irk_public_der(k, pub, &plen), SRTM_OK);
    const uint8_t *p = pub;
    EVP_PKEY *pk = d2i_PUBKEY(NULL, &p, (long)plen);
    cr_assert(pk != NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) == 1 &&
              EVP_DigestVerify(ctx, sig, slen, msg, msg_len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return ok;
}

/* EVP_DigestVerify with SHA-256 over TAG || nonce || SHA-256(report), built here. */
static bool plain_verify(irk *k, const uint8_t *sig, size_t slen)
{
    uint8_t msg[128], h[32];
    size_t tag = strlen(IRK_REPORT_TAG);
    sha256(report, sizeof(report), h);
    memcpy(msg, IRK_REPORT_TAG, tag);
    memcpy(msg + tag, nonce, sizeof(nonce));
    memcpy(msg + tag + sizeof(nonce), h, sizeof(h));
    return plain_verify_msg(k, msg, tag + sizeof(nonce) + sizeof(h), sig, slen);
}

/* The reusable signer makes the same signature and qualifier as the one-shot functions,
 * every time it is used, and refuses what they refuse. */
Test(irk, signer_signs_and_qualifies_like_the_one_shot_functions)
{
    irk *k = fresh(), *other = fresh();
    irk_signer *s = NULL;
    cr_assert_eq(irk_signer_new(k, &s), SRTM_OK);
    uint8_t want_qual[32];
    cr_assert_eq(irk_quote_qualifier(nonce, sizeof(nonce), report, sizeof(report), want_qual),
                 SRTM_OK);
    uint8_t report_hash[32];
    cr_assert_eq(srtm_sha256(report, sizeof(report), report_hash), SRTM_OK);
    for (int i = 0; i < 4; i++) {
        uint8_t sig[IRK_SIG_MAX], qual[32];
        size_t slen = 0;
        /* The last round from the report's digest, as srtmd signs a report it keeps. */
        if (i < 3)
            cr_assert_eq(irk_signer_sign_report(s, nonce, sizeof(nonce), report, sizeof(report),
                                                sig, &slen, qual),
                         SRTM_OK);
        else
            cr_assert_eq(irk_signer_sign_digest(s, nonce, sizeof(nonce), report_hash, sig, &slen,
                                                qual),
                         SRTM_OK);
        cr_expect(plain_verify(k, sig, slen), "signature %d is not over TAG||nonce||H(report)", i);
        cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), report, sizeof(report), sig, slen),
                     SRTM_OK);
        cr_expect_arr_eq(qual, want_qual, 32, "qualifier %d differs", i);
        /* Verified from the report's digest, as the verifier does after hashing it once. */
        cr_expect_eq(irk_verify_report_digest(k, nonce, sizeof(nonce), report_hash, sig, slen),
                     SRTM_OK);
        uint8_t other_hash[32];
        memcpy(other_hash, report_hash, 32);
        other_hash[i] ^= 0x01;
        cr_expect_eq(irk_verify_report_digest(k, nonce, sizeof(nonce), other_hash, sig, slen),
                     SRTM_E_DENIED, "a signature verified for another report's digest");
        cr_expect_eq(irk_verify_report(other, nonce, sizeof(nonce), report, sizeof(report), sig,
                                       slen),
                     SRTM_E_DENIED, "another key's verification accepted");
        uint8_t bad[sizeof(report)];
        memcpy(bad, report, sizeof(report));
        bad[i % 3] ^= 1;
        cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), bad, sizeof(bad), sig, slen),
                     SRTM_E_DENIED, "a flipped report byte was accepted");
    }
    /* Bounds: an empty or over-long nonce is refused and nothing is written. */
    uint8_t long_nonce[65] = {0}, sig[IRK_SIG_MAX], qual[32] = {0};
    size_t slen = 12345;
    cr_expect_eq(irk_signer_sign_report(s, nonce, 0, report, sizeof(report), sig, &slen, qual),
                 SRTM_E_INVALID);
    cr_expect_eq(irk_signer_sign_report(s, long_nonce, sizeof(long_nonce), report, sizeof(report),
                                        sig, &slen, qual),
                 SRTM_E_INVALID);
    cr_expect_eq(slen, 12345u, "the length was written on failure");
    /* A public-only key gives no signer. */
    uint8_t pub[IRK_PUB_DER_MAX];
    size_t plen = 0;
    cr_assert_eq(irk_public_der(k, pub, &plen), SRTM_OK);
    irk *pubonly = NULL;
    irk_signer *none = NULL;
    cr_assert_eq(irk_from_public_der(pub, plen, &pubonly), SRTM_OK);
    cr_expect_eq(irk_signer_new(pubonly, &none), SRTM_E_INVALID);
    cr_expect_null(none);
    /* The signer keeps its own reference: it still signs after the irk is freed. */
    irk_free(k);
    cr_expect_eq(irk_signer_sign_report(s, nonce, sizeof(nonce), report, sizeof(report), sig,
                                        &slen, qual),
                 SRTM_OK);
    irk_signer_free(s);
    irk_signer_free(NULL);
    irk_free(pubonly);
    irk_free(other);
}

/* The batch signature is ECDSA over "srtm-irk-batch-v1" || root, from the signer and the
 * one-shot function alike; it verifies only for its root and key, and a report signature
 * and a batch signature never stand in for each other. */
Test(irk, batch_signature_over_the_root_only)
{
    irk *k = fresh(), *other = fresh();
    irk_signer *s = NULL;
    cr_assert_eq(irk_signer_new(k, &s), SRTM_OK);
    uint8_t root[32], msg[64], sig[2][IRK_SIG_MAX];
    size_t slen[2] = {0, 0}, tag = strlen(IRK_BATCH_TAG);
    sha256(report, sizeof(report), root);
    cr_assert_eq(tag, 17u);
    memcpy(msg, IRK_BATCH_TAG, tag);
    memcpy(msg + tag, root, 32);
    cr_assert_eq(irk_signer_sign_root(s, root, sig[0], &slen[0]), SRTM_OK);
    cr_assert_eq(irk_sign_root(k, root, sig[1], &slen[1]), SRTM_OK);
    for (int i = 0; i < 2; i++) {
        cr_expect(plain_verify_msg(k, msg, tag + 32, sig[i], slen[i]),
                  "signature %d is not over TAG||root", i);
        cr_expect_eq(irk_verify_root(k, root, sig[i], slen[i]), SRTM_OK);
        cr_expect_eq(irk_verify_root(other, root, sig[i], slen[i]), SRTM_E_DENIED);
        uint8_t bad[32];
        memcpy(bad, root, 32);
        bad[31] ^= 0x01;
        cr_expect_eq(irk_verify_root(k, bad, sig[i], slen[i]), SRTM_E_DENIED,
                     "a signature of another root was accepted");
        cr_expect_neq(irk_verify_root(k, root, sig[i], 0), SRTM_OK);
    }
    /* Domain separation: a report signature is no batch signature, and the other way. */
    uint8_t rsig[IRK_SIG_MAX];
    size_t rlen = 0;
    cr_assert_eq(irk_sign_report(k, nonce, sizeof(nonce), report, sizeof(report), rsig, &rlen),
                 SRTM_OK);
    cr_expect_eq(irk_verify_root(k, root, rsig, rlen), SRTM_E_DENIED);
    cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), report, sizeof(report), sig[0],
                                   slen[0]),
                 SRTM_E_DENIED);
    /* Bounds and a public-only key. */
    cr_expect_eq(irk_signer_sign_root(s, NULL, sig[0], &slen[0]), SRTM_E_INVALID);
    uint8_t pub[IRK_PUB_DER_MAX];
    size_t plen = 0;
    irk *pubonly = NULL;
    cr_assert_eq(irk_public_der(k, pub, &plen), SRTM_OK);
    cr_assert_eq(irk_from_public_der(pub, plen, &pubonly), SRTM_OK);
    cr_expect_eq(irk_sign_root(pubonly, root, sig[1], &slen[1]), SRTM_E_INVALID);
    irk_signer_free(s);
    irk_free(pubonly);
    irk_free(k);
    irk_free(other);
}
