/*
 * keymgmt against a real swtpm: one fresh swtpm (own state dir, own ports) per test.
 * Every check that something is refused is made next to the check that it works.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "km.h"
#include "km_int.h"

#define AIK_HANDLE 0x81010001u
#define AIK2_HANDLE 0x81010002u
#define SRK_HANDLE 0x81000101u

static test_swtpm tpm;
static km_ctx *ctx;

static void setup(void)
{
    test_swtpm_start(&tpm);
    srtm_err err = km_open(tpm.tcti, &ctx);
    cr_assert_eq(err, SRTM_OK, "km_open %s: %s", tpm.tcti, srtm_strerror(err));
}

static void teardown(void)
{
    km_close(ctx);
    ctx = NULL;
    test_swtpm_stop(&tpm);
}

TestSuite(keymgmt, .init = setup, .fini = teardown, .timeout = 60);

static void sha256_two(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                       uint8_t out[32])
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    cr_assert(m != NULL);
    cr_assert(EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1);
    cr_assert(EVP_DigestUpdate(m, a, alen) == 1);
    cr_assert(EVP_DigestUpdate(m, b, blen) == 1);
    cr_assert(EVP_DigestFinal_ex(m, out, NULL) == 1);
    EVP_MD_CTX_free(m);
}

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + 7 * i);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* OpenSSL check of a quote: ECDSA over SHA-256 of the attest bytes with the AIK PEM. */
static bool openssl_verify(const char *pem, const uint8_t *msg, size_t msg_len,
                           const uint8_t *der, size_t der_len)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    cr_assert(bio != NULL);
    EVP_PKEY *pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    cr_assert(pkey != NULL, "PEM does not parse:\n%s", pem);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    cr_assert(m != NULL);
    cr_assert(EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, pkey) == 1);
    bool ok = EVP_DigestVerify(m, der, der_len, msg, msg_len) == 1;
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pkey);
    return ok;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "open %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* ---- PCRs ---- */

Test(keymgmt, pcr_extend_then_read_is_sha256_of_old_and_digest)
{
    km_pcr_values before, after;
    cr_assert_eq(km_pcr_read(ctx, (1u << 16) | (1u << 23), &before), SRTM_OK);
    uint8_t d[32], want[32], sw[32];
    fill(d, sizeof(d), 1);
    cr_assert_eq(km_pcr_extend(ctx, 23, d), SRTM_OK);
    cr_assert_eq(km_pcr_read(ctx, (1u << 16) | (1u << 23), &after), SRTM_OK);
    sha256_two(before.value[23], 32, d, 32, want);
    cr_assert_arr_eq(after.value[23], want, 32);
    cr_assert_arr_eq(after.value[16], before.value[16], 32, "PCR 16 must not move");
    cr_assert_eq(km_pcr_extend_sw(before.value[23], d, sw), SRTM_OK);
    cr_assert_arr_eq(sw, want, 32);

    /* Reset brings 23 back to zero; PCR 0 cannot be reset from here. */
    static const uint8_t zero[32];
    cr_assert_eq(km_pcr_reset(ctx, 23), SRTM_OK);
    cr_assert_eq(km_pcr_read(ctx, 1u << 23, &after), SRTM_OK);
    cr_assert_arr_eq(after.value[23], zero, 32);
    cr_assert_eq(km_pcr_reset(ctx, 0), SRTM_E_INVALID);
    cr_assert_eq(km_pcr_reset(ctx, 17), SRTM_E_INVALID);
}

Test(keymgmt, pcr_read_all_and_bad_arguments)
{
    km_pcr_values all;
    cr_assert_eq(km_pcr_read(ctx, KM_PCR_MASK_ALL, &all), SRTM_OK); /* > 8 PCRs: 3 passes */
    cr_assert_eq(all.mask, KM_PCR_MASK_ALL);
    for (unsigned i = 17; i <= 22; i++)
        for (unsigned k = 0; k < 32; k++)
            cr_assert_eq(all.value[i][k], 0xFF, "PCR %u reads all 0xFF on swtpm", i);
    uint8_t d[32] = {0};
    cr_assert_eq(km_pcr_read(ctx, 0, &all), SRTM_E_INVALID);
    cr_assert_eq(km_pcr_read(ctx, 1u << 24, &all), SRTM_E_INVALID);
    cr_assert_eq(km_pcr_extend(ctx, 24, d), SRTM_E_INVALID);
    cr_assert_eq(km_pcr_extend(ctx, 17, d), SRTM_E_TPM, "17-22 refuse extend at locality 0");
}

/* ---- AIK ---- */

Test(keymgmt, aik_create_persist_and_load_in_a_new_context)
{
    const km_aik *aik = NULL, *again = NULL;
    cr_assert_eq(km_aik_create(ctx, AIK_HANDLE, &aik), SRTM_OK);
    char pem1[KM_MAX_PEM], pem2[KM_MAX_PEM];
    size_t len1 = 0, len2 = 0;
    cr_assert_eq(km_aik_pem(aik, pem1, sizeof(pem1), &len1), SRTM_OK);
    cr_assert(strstr(pem1, "-----BEGIN PUBLIC KEY-----") == pem1);
    cr_assert_eq(strlen(pem1), len1);
    cr_assert_eq(km_aik_handle(aik), AIK_HANDLE);

    /* The same handle again is refused; a handle outside the owner range too. */
    cr_assert_eq(km_aik_create(ctx, AIK_HANDLE, &again), SRTM_E_EXISTS);
    cr_assert_eq(km_aik_create(ctx, 0x81800000u, &again), SRTM_E_INVALID);
    cr_assert_eq(km_aik_create(ctx, 0x80000001u, &again), SRTM_E_INVALID);

    /* The marshalled TPM2B_PUBLIC converts to the same PEM. */
    uint8_t pub[KM_MAX_PUBLIC];
    size_t pub_len = 0;
    cr_assert_eq(km_aik_public(aik, pub, sizeof(pub), &pub_len), SRTM_OK);
    cr_assert_eq(km_public_to_pem(pub, pub_len, pem2, sizeof(pem2), &len2), SRTM_OK);
    cr_assert_str_eq(pem1, pem2);
    cr_assert_eq(km_public_to_pem(pub, pub_len - 1, pem2, sizeof(pem2), &len2),
                 SRTM_E_MALFORMED);

    /* A new context loads it by handle. */
    km_close(ctx);
    ctx = NULL;
    cr_assert_eq(km_open(tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_aik_load(ctx, AIK_HANDLE, &aik), SRTM_OK);
    cr_assert_eq(km_aik_load(ctx, AIK_HANDLE, &again), SRTM_OK);
    cr_assert_eq(aik, again, "one object per handle and context");
    cr_assert_eq(km_aik_pem(aik, pem2, sizeof(pem2), &len2), SRTM_OK);
    cr_assert_str_eq(pem1, pem2);

    /* A second AIK at another handle is another key. */
    const km_aik *aik2 = NULL;
    cr_assert_eq(km_aik_create(ctx, AIK2_HANDLE, &aik2), SRTM_OK);
    cr_assert_eq(km_aik_pem(aik2, pem2, sizeof(pem2), &len2), SRTM_OK);
    cr_assert_str_neq(pem1, pem2);

    /* Nothing at a handle; a storage key is not an AIK; evicted means gone. */
    const km_aik *none = NULL;
    cr_assert_eq(km_aik_load(ctx, 0x81010009u, &none), SRTM_E_TPM);
    cr_assert_eq(km_storage_persist(ctx, SRK_HANDLE), SRTM_OK);
    cr_assert_eq(km_aik_load(ctx, SRK_HANDLE, &none), SRTM_E_INVALID);
    cr_assert_eq(km_evict(ctx, AIK_HANDLE), SRTM_OK);
    uint8_t q[16] = {1};
    km_tpm_quote quote;
    cr_assert_eq(km_quote(ctx, aik, 1u << 23, q, sizeof(q), &quote), SRTM_E_INVALID);
    cr_assert_eq(km_aik_load(ctx, AIK_HANDLE, &none), SRTM_E_TPM);
}

/* ---- quotes ---- */

static const char *tool_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "/usr/bin/%s", name);
    cr_assert(access(buf, X_OK) == 0, "%s is not installed", buf);
    return buf;
}

Test(keymgmt, quote_verifies_with_openssl_and_tpm2_checkquote)
{
    const km_aik *aik = NULL;
    cr_assert_eq(km_aik_create(ctx, AIK_HANDLE, &aik), SRTM_OK);
    uint8_t d[32];
    fill(d, sizeof(d), 9);
    cr_assert_eq(km_pcr_extend(ctx, 16, d), SRTM_OK);
    uint8_t nonce[32];
    fill(nonce, sizeof(nonce), 42);
    const uint32_t mask = (1u << 16) | (1u << 23);
    km_tpm_quote q;
    cr_assert_eq(km_quote(ctx, aik, mask, nonce, sizeof(nonce), &q), SRTM_OK);

    km_quote_info info;
    cr_assert_eq(km_quote_parse(q.attest, q.attest_len, &info), SRTM_OK);
    cr_assert_eq(info.qualifying_len, sizeof(nonce));
    cr_assert_arr_eq(info.qualifying, nonce, sizeof(nonce));
    cr_assert_eq(info.pcr_mask, mask);
    uint8_t digest[32];
    cr_assert_eq(km_pcr_digest(&q.pcrs, digest), SRTM_OK);
    cr_assert_arr_eq(info.pcr_digest, digest, 32);

    char pem[KM_MAX_PEM];
    size_t pem_len = 0;
    cr_assert_eq(km_aik_pem(aik, pem, sizeof(pem), &pem_len), SRTM_OK);
    uint8_t der[KM_MAX_DER_SIG];
    size_t der_len = 0;
    cr_assert_eq(km_sig_to_der(q.sig, q.sig_len, der, sizeof(der), &der_len), SRTM_OK);
    cr_assert(openssl_verify(pem, q.attest, q.attest_len, der, der_len));
    q.attest[q.attest_len - 1] ^= 1;
    cr_assert_not(openssl_verify(pem, q.attest, q.attest_len, der, der_len), "flipped byte");
    q.attest[q.attest_len - 1] ^= 1;

    /* tpm2_checkquote with the plain DER signature and the raw PCR values. */
    char dir[] = "/tmp/srtm-quote-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char p_pem[64], p_msg[64], p_sig[64], p_pcr[64], p_pub[64], p_tsig[64];
    snprintf(p_pem, sizeof(p_pem), "%s/ak.pem", dir);
    snprintf(p_msg, sizeof(p_msg), "%s/q.msg", dir);
    snprintf(p_sig, sizeof(p_sig), "%s/q.sig", dir);
    snprintf(p_pcr, sizeof(p_pcr), "%s/q.pcrs", dir);
    snprintf(p_pub, sizeof(p_pub), "%s/ak.pub", dir);
    snprintf(p_tsig, sizeof(p_tsig), "%s/q.tsig", dir);
    write_file(p_pem, pem, pem_len);
    write_file(p_msg, q.attest, q.attest_len);
    write_file(p_sig, der, der_len);
    write_file(p_tsig, q.sig, q.sig_len);
    uint8_t raw[64];
    memcpy(raw, q.pcrs.value[16], 32);
    memcpy(raw + 32, q.pcrs.value[23], 32);
    write_file(p_pcr, raw, sizeof(raw));
    uint8_t pub[KM_MAX_PUBLIC];
    size_t pub_len = 0;
    cr_assert_eq(km_aik_public(aik, pub, sizeof(pub), &pub_len), SRTM_OK);
    write_file(p_pub, pub, pub_len);
    char nonce_hex[65], other_hex[65];
    cr_assert_eq(hex_encode(nonce, sizeof(nonce), nonce_hex, sizeof(nonce_hex)), SRTM_OK);
    nonce[0] ^= 0x80;
    cr_assert_eq(hex_encode(nonce, sizeof(nonce), other_hex, sizeof(other_hex)), SRTM_OK);

    const char *cq = tool_path("tpm2_checkquote");
    char out[4096], err[4096];
    const char *good[] = {cq, "-u", p_pem, "-m", p_msg, "-s", p_sig, "-f", p_pcr,
                          "-l", "sha256:16,23", "-g", "sha256", "-q", nonce_hex, NULL};
    int rc = test_run(good, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 0, "tpm2_checkquote refused: %s%s", out, err);
    /* TPM2B_PUBLIC key and TPMT_SIGNATURE as marshalled by km work too. */
    const char *tss[] = {cq, "-u", p_pub, "-m", p_msg, "-s", p_tsig, "-f", p_pcr,
                         "-l", "sha256:16,23", "-g", "sha256", "-q", nonce_hex, NULL};
    rc = test_run(tss, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 0, "tpm2_checkquote (tss formats) refused: %s%s", out, err);
    const char *bad_nonce[] = {cq, "-u", p_pem, "-m", p_msg, "-s", p_sig, "-f", p_pcr,
                               "-l", "sha256:16,23", "-g", "sha256", "-q", other_hex, NULL};
    cr_assert_neq(test_run(bad_nonce, out, sizeof(out), err, sizeof(err)), 0,
                  "a different nonce must not verify");
    raw[0] ^= 1;
    write_file(p_pcr, raw, sizeof(raw));
    cr_assert_neq(test_run(good, out, sizeof(out), err, sizeof(err)), 0,
                  "other PCR values must not verify");

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);

    /* Bounds on qualifyingData. */
    uint8_t big[KM_MAX_QUALIFYING + 1] = {0};
    cr_assert_eq(km_quote(ctx, aik, mask, big, KM_MAX_QUALIFYING, &q), SRTM_OK);
    cr_assert_eq(km_quote(ctx, aik, mask, big, sizeof(big), &q), SRTM_E_INVALID);
    cr_assert_eq(km_quote(ctx, aik, mask, big, 0, &q), SRTM_E_INVALID);
}

Test(keymgmt, quote_parse_refuses_forgeries_and_garbage)
{
    const km_aik *aik = NULL;
    cr_assert_eq(km_aik_create(ctx, AIK_HANDLE, &aik), SRTM_OK);
    uint8_t nonce[16] = {7};
    km_tpm_quote q;
    cr_assert_eq(km_quote(ctx, aik, 1u << 23, nonce, sizeof(nonce), &q), SRTM_OK);
    km_quote_info info;
    /* Not TPM-generated: the magic is the first 4 bytes. */
    q.attest[0] ^= 0xFF;
    cr_assert_eq(km_quote_parse(q.attest, q.attest_len, &info), SRTM_E_INVALID);
    q.attest[0] ^= 0xFF;
    /* Well-formed but forged structures: re-marshalled with another magic or type. */
    TPMS_ATTEST a;
    memset(&a, 0, sizeof(a));
    size_t off = 0;
    cr_assert_eq(Tss2_MU_TPMS_ATTEST_Unmarshal(q.attest, q.attest_len, &off, &a), 0);
    uint8_t forged[KM_MAX_ATTEST];
    size_t forged_len = 0;
    a.magic = 0x12345678;
    cr_assert_eq(Tss2_MU_TPMS_ATTEST_Marshal(&a, forged, sizeof(forged), &forged_len), 0);
    cr_assert_eq(km_quote_parse(forged, forged_len, &info), SRTM_E_INVALID);
    a.magic = TPM2_GENERATED_VALUE;
    forged_len = 0;
    cr_assert_eq(Tss2_MU_TPMS_ATTEST_Marshal(&a, forged, sizeof(forged), &forged_len), 0);
    cr_assert_eq(km_quote_parse(forged, forged_len, &info), SRTM_OK, "control");
    a.type = TPM2_ST_ATTEST_TIME;
    memset(&a.attested, 0, sizeof(a.attested));
    forged_len = 0;
    cr_assert_eq(Tss2_MU_TPMS_ATTEST_Marshal(&a, forged, sizeof(forged), &forged_len), 0);
    cr_assert_eq(km_quote_parse(forged, forged_len, &info), SRTM_E_INVALID);
    /* A selection in the SHA-1 bank is not what km reports on. */
    off = 0;
    cr_assert_eq(Tss2_MU_TPMS_ATTEST_Unmarshal(q.attest, q.attest_len, &off, &a), 0);
    a.attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA1;
    forged_len = 0;
    cr_assert_eq(Tss2_MU_TPMS_ATTEST_Marshal(&a, forged, sizeof(forged), &forged_len), 0);
    cr_assert_eq(km_quote_parse(forged, forged_len, &info), SRTM_E_MALFORMED);
    /* Truncated, trailing bytes. */
    cr_assert_eq(km_quote_parse(q.attest, q.attest_len - 1, &info), SRTM_E_MALFORMED);
    cr_assert_eq(km_quote_parse(q.attest, q.attest_len + 1, &info), SRTM_E_MALFORMED);
    cr_assert_eq(km_quote_parse(q.attest, q.attest_len, &info), SRTM_OK);

    uint8_t der[KM_MAX_DER_SIG];
    size_t der_len;
    cr_assert_eq(km_sig_to_der(q.sig, q.sig_len - 1, der, sizeof(der), &der_len),
                 SRTM_E_MALFORMED);
    cr_assert_eq(km_sig_to_der(q.sig, q.sig_len, der, 8, &der_len), SRTM_E_TOO_BIG);
    uint8_t rsa_sig[] = {0x00, 0x14, 0x00, 0x0b, 0x00, 0x01, 0x00}; /* RSASSA, 1 byte */
    cr_assert_eq(km_sig_to_der(rsa_sig, sizeof(rsa_sig), der, sizeof(der), &der_len),
                 SRTM_E_UNSUPPORTED);
}

/* ---- policy ---- */

Test(keymgmt, software_policy_pcr_equals_the_tpm_trial_session)
{
    const uint32_t masks[] = {1u << 23, (1u << 16) | (1u << 23), 1u | (1u << 7) | (1u << 23),
                              0x00FF00FFu};
    uint8_t d[32];
    fill(d, sizeof(d), 3);
    cr_assert_eq(km_pcr_extend(ctx, 23, d), SRTM_OK);
    for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        km_pcr_values v;
        uint8_t sw[32], hw[32];
        cr_assert_eq(km_pcr_read(ctx, masks[i], &v), SRTM_OK);
        cr_assert_eq(km_policy_pcr(NULL, &v, sw), SRTM_OK);
        cr_assert_eq(km_policy_pcr_tpm(ctx, masks[i], hw), SRTM_OK);
        cr_assert_arr_eq(sw, hw, 32, "mask 0x%06x", masks[i]);
        /* Other values give another digest. */
        v.value[23][0] ^= 1;
        cr_assert_eq(km_policy_pcr(NULL, &v, sw), SRTM_OK);
        cr_assert_arr_neq(sw, hw, 32);
    }
    km_pcr_values empty = {.mask = 0};
    uint8_t out[32];
    cr_assert_eq(km_policy_pcr(NULL, &empty, out), SRTM_E_INVALID);
}

/* ---- seal / unseal ---- */

Test(keymgmt, seal_to_predicted_state_unseals_only_in_that_state)
{
    const uint32_t mask = (1u << 16) | (1u << 23);
    km_pcr_values now, predicted;
    cr_assert_eq(km_pcr_read(ctx, mask, &now), SRTM_OK);
    uint8_t srtmd_digest[32];
    fill(srtmd_digest, sizeof(srtmd_digest), 77);
    predicted = now;
    cr_assert_eq(km_pcr_extend_sw(now.value[23], srtmd_digest, predicted.value[23]), SRTM_OK);
    uint8_t policy[32];
    cr_assert_eq(km_policy_pcr(NULL, &predicted, policy), SRTM_OK);

    uint8_t secret[KM_MAX_SECRET];
    fill(secret, sizeof(secret), 200);
    km_sealed blob;
    cr_assert_eq(km_seal(ctx, KM_PARENT_PRIMARY, policy, secret, sizeof(secret), &blob),
                 SRTM_OK);

    km_secret out;
    memset(&out, 0xAB, sizeof(out));
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &blob, mask, &out), SRTM_E_DENIED,
                 "not yet in the proof state");
    cr_assert_eq(out.bytes[0], 0xAB, "output untouched on failure");

    cr_assert_eq(km_pcr_extend(ctx, 23, srtmd_digest), SRTM_OK);
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &blob, mask, &out), SRTM_OK);
    cr_assert_eq(out.len, sizeof(secret));
    cr_assert_arr_eq(out.bytes, secret, sizeof(secret));
    km_secret_wipe(&out);
    cr_assert_eq(out.len, 0);
    /* Twice in a row works (nothing left loaded). */
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &blob, mask, &out), SRTM_OK);
    /* Another selection is another policy. */
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &blob, 1u << 23, &out), SRTM_E_DENIED);

    /* The proof period closes: one more extend, and the secret is out of reach. */
    uint8_t close_event[32];
    fill(close_event, sizeof(close_event), 5);
    cr_assert_eq(km_pcr_extend(ctx, 23, close_event), SRTM_OK);
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &blob, mask, &out), SRTM_E_DENIED);

    /* A damaged blob is refused without a crash. */
    km_sealed bad = blob;
    bad.len -= 1;
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &bad, mask, &out), SRTM_E_MALFORMED);
    bad = blob;
    bad.blob[10] ^= 0x55; /* inside the encrypted private part: integrity check fails */
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &bad, mask, &out), SRTM_E_TPM);
    bad.len = sizeof(bad.blob) + 1;
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &bad, mask, &out), SRTM_E_MALFORMED);

    /* Bounds on the secret. */
    uint8_t big[KM_MAX_SECRET + 1] = {0};
    cr_assert_eq(km_seal(ctx, KM_PARENT_PRIMARY, policy, big, sizeof(big), &blob),
                 SRTM_E_INVALID);
    cr_assert_eq(km_seal(ctx, KM_PARENT_PRIMARY, policy, big, 0, &blob), SRTM_E_INVALID);
}

Test(keymgmt, seal_under_a_persistent_storage_key)
{
    cr_assert_eq(km_storage_persist(ctx, SRK_HANDLE), SRTM_OK);
    cr_assert_eq(km_storage_persist(ctx, SRK_HANDLE), SRTM_E_EXISTS);
    km_pcr_values now;
    cr_assert_eq(km_pcr_read(ctx, 1u << 23, &now), SRTM_OK);
    uint8_t policy[32];
    cr_assert_eq(km_policy_pcr(NULL, &now, policy), SRTM_OK);
    const uint8_t secret[] = "irk private key bytes";
    km_sealed blob;
    cr_assert_eq(km_seal(ctx, SRK_HANDLE, policy, secret, sizeof(secret), &blob), SRTM_OK);
    km_secret out;
    cr_assert_eq(km_unseal(ctx, SRK_HANDLE, &blob, 1u << 23, &out), SRTM_OK);
    cr_assert_eq(out.len, sizeof(secret));
    cr_assert_arr_eq(out.bytes, secret, sizeof(secret));
    km_secret_wipe(&out);
    /* The persistent key is the same key as the transient primary (same template). */
    cr_assert_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &blob, 1u << 23, &out), SRTM_OK);
    km_secret_wipe(&out);
    /* No parent at a handle. */
    cr_assert_eq(km_unseal(ctx, 0x81000102u, &blob, 1u << 23, &out), SRTM_E_TPM);
}

/* ---- reboot, leftovers, a TPM that goes away ---- */

Test(keymgmt, reboot_keeps_the_aik_and_changes_reset_count)
{
    const km_aik *aik = NULL;
    cr_assert_eq(km_aik_create(ctx, AIK_HANDLE, &aik), SRTM_OK);
    char pem1[KM_MAX_PEM], pem2[KM_MAX_PEM];
    size_t len = 0;
    cr_assert_eq(km_aik_pem(aik, pem1, sizeof(pem1), &len), SRTM_OK);
    uint8_t d[32], nonce[16] = {1};
    fill(d, sizeof(d), 11);
    cr_assert_eq(km_pcr_extend(ctx, 16, d), SRTM_OK);
    km_tpm_quote q;
    km_quote_info before, after;
    cr_assert_eq(km_quote(ctx, aik, 1u << 16, nonce, sizeof(nonce), &q), SRTM_OK);
    cr_assert_eq(km_quote_parse(q.attest, q.attest_len, &before), SRTM_OK);
    km_close(ctx);
    ctx = NULL;

    test_swtpm_reboot(&tpm);
    cr_assert_eq(km_open(tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_aik_load(ctx, AIK_HANDLE, &aik), SRTM_OK);
    cr_assert_eq(km_aik_pem(aik, pem2, sizeof(pem2), &len), SRTM_OK);
    cr_assert_str_eq(pem1, pem2);
    cr_assert_eq(km_quote(ctx, aik, 1u << 16, nonce, sizeof(nonce), &q), SRTM_OK);
    cr_assert_eq(km_quote_parse(q.attest, q.attest_len, &after), SRTM_OK);
    static const uint8_t zero[32];
    cr_assert_arr_eq(q.pcrs.value[16], zero, 32, "PCRs start from zero after a reboot");
    cr_assert_neq(after.reset_count, before.reset_count);
    cr_assert_gt(after.reset_count, before.reset_count);
}

/* How many handles of a range the TPM holds; for KM_HR_HMAC_SESSION: all loaded
 * sessions (the test peeks into the km context). */
static uint32_t loaded_count(TPM2_HC first)
{
    TPMS_CAPABILITY_DATA *cap = NULL;
    TPMI_YES_NO more;
    cr_assert_eq(Esys_GetCapability(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES, &more, &cap),
                 TSS2_RC_SUCCESS);
    uint32_t n = 0;
    for (uint32_t i = 0; i < cap->data.handles.count; i++)
        if ((cap->data.handles.handle[i] & KM_HR_RANGE_MASK) == first ||
            (first == KM_HR_HMAC_SESSION &&
             (cap->data.handles.handle[i] & KM_HR_RANGE_MASK) == KM_HR_POLICY_SESSION))
            n++; /* the loaded-session query lists policy sessions too */
    Esys_Free(cap);
    return n;
}

Test(keymgmt, open_flushes_what_a_crashed_run_left_loaded)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        /* A "crashed" user: fill the object slots and exit without flushing. */
        km_ctx *c = NULL;
        if (km_open(tpm.tcti, &c) != SRTM_OK)
            _exit(2);
        ESYS_TR tr, sess;
        TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
        if (Esys_StartAuthSession(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym,
                                  TPM2_ALG_SHA256, &sess) != TSS2_RC_SUCCESS ||
            Esys_StartAuthSession(c->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                  ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym,
                                  TPM2_ALG_SHA256, &sess) != TSS2_RC_SUCCESS)
            _exit(4);
        int n = 0;
        while (n < 16 && km_storage_primary(c, &tr) == SRTM_OK)
            n++;
        _exit(n > 0 && n < 16 ? 0 : 3); /* stopped because the TPM was full */
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    /* The suite's context was opened before: the TPM is still full for it. */
    const uint8_t secret[] = "s";
    uint8_t policy[32] = {0};
    km_sealed blob;
    cr_assert_eq(km_seal(ctx, KM_PARENT_PRIMARY, policy, secret, sizeof(secret), &blob),
                 SRTM_E_TPM);
    cr_assert_eq(loaded_count(KM_HR_HMAC_SESSION), 2, "two sessions left behind");
    /* A new km_open cleans up. */
    km_close(ctx);
    ctx = NULL;
    cr_assert_eq(km_open(tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(loaded_count(KM_HR_TRANSIENT), 0);
    cr_assert_eq(loaded_count(KM_HR_HMAC_SESSION), 0);
    cr_assert_eq(loaded_count(KM_HR_POLICY_SESSION), 0);
    cr_assert_eq(km_seal(ctx, KM_PARENT_PRIMARY, policy, secret, sizeof(secret), &blob),
                 SRTM_OK);
}

Test(keymgmt, a_tpm_that_is_gone_gives_srtm_e_tpm_quickly)
{
    const km_aik *aik = NULL;
    cr_assert_eq(km_aik_create(ctx, AIK_HANDLE, &aik), SRTM_OK);
    test_swtpm_kill(&tpm);

    double t0 = now_s();
    km_pcr_values v;
    uint8_t d[32] = {0}, nonce[16] = {0};
    km_tpm_quote q;
    km_secret s;
    km_sealed blob = {.len = 0};
    cr_assert_eq(km_pcr_read(ctx, 1u << 23, &v), SRTM_E_TPM);
    cr_assert_eq(km_pcr_extend(ctx, 23, d), SRTM_E_TPM);
    cr_assert_eq(km_quote(ctx, aik, 1u << 23, nonce, sizeof(nonce), &q), SRTM_E_TPM);
    cr_assert_eq(km_seal(ctx, KM_PARENT_PRIMARY, d, d, 1, &blob), SRTM_E_TPM);
    (void)s;
    km_ctx *c2 = NULL;
    cr_assert_eq(km_open(tpm.tcti, &c2), SRTM_E_TPM);
    cr_assert_null(c2);
    cr_assert_eq(km_open("swtpm:host=127.0.0.1,port=1", &c2), SRTM_E_TPM);
    cr_assert_eq(km_open("no-such-tcti", &c2), SRTM_E_TPM);
    double dt = now_s() - t0;
    cr_assert_lt(dt, 5.0, "failing took %.1f s", dt);
}
