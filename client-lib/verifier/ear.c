/*
 * A verdict as an IETF RATS EAR attestation result (draft-ietf-rats-ear; the profile
 * "tag:github.com,2023:veraison/ear"): a JWT signed with ES256 (RFC 7518: ECDSA P-256 with
 * SHA-256, the signature the raw r || s, 64 bytes). One submodule per verdict of the
 * result; the claims and the status mapping are specified in docs/verifier.md, "The
 * verdict as an EAR". The result is taken as it is: srtm_verify decided it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "verify_int.h"

#define EAR_PROFILE "tag:github.com,2023:veraison/ear"
#define ES256_HALF 32u
#define EAR_MAX_JWT (64u * 1024u * 1024u)

/* Base64url without padding (RFC 7515 section 2) of len bytes; malloc'd. */
static char *b64url(const uint8_t *in, size_t len)
{
    if (len > EAR_MAX_JWT)
        return NULL;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return out;
}

/* The status of one verdict (docs/verifier.md): trusted -> affirming; untrusted ->
 * contraindicated; a name of the policy that matched no reported component -> none. */
static const char *ear_status(const verify_verdict *v)
{
    if (!v->in_report)
        return "none";
    return v->trusted ? "affirming" : "contraindicated";
}

static bool put(json_object *o, const char *key, json_object *v)
{
    if (o == NULL || v == NULL) {
        json_object_put(v);
        return false;
    }
    return json_object_object_add(o, key, v) == 0;
}

static json_object *submod(const verify_verdict *v, const char *policy_id)
{
    json_object *o = json_object_new_object(), *reasons = json_object_new_array();
    bool ok = o != NULL && reasons != NULL;
    for (size_t j = 0; ok && j < v->n_reasons; j++) {
        json_object *r = json_object_new_string(v->reasons[j]);
        ok = r != NULL && json_object_array_add(reasons, r) == 0;
        if (!ok)
            json_object_put(r);
    }
    ok = ok && put(o, "ear.status", json_object_new_string(ear_status(v)));
    ok = ok && put(o, "ear.appraisal-policy-id", json_object_new_string(policy_id));
    ok = put(o, "srtm.reasons", reasons) && ok;
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* The claims set (docs/verifier.md lists each). */
static json_object *ear_claims(const srtm_verify_result *r, const uint8_t *nonce,
                               size_t nonce_len, const uint8_t policy_sha256[SRTM_DIGEST_LEN],
                               int64_t iat)
{
    char policy_id[16 + 2 * SRTM_DIGEST_LEN + 1] = "sha256:";
    char *nonce64 = b64url(nonce, nonce_len);
    json_object *c = json_object_new_object(), *vid = json_object_new_object();
    json_object *subs = json_object_new_object();
    bool ok = nonce64 != NULL && c != NULL && vid != NULL && subs != NULL &&
              hex_encode(policy_sha256, SRTM_DIGEST_LEN, policy_id + 7,
                         sizeof(policy_id) - 7) == SRTM_OK;
    ok = ok && put(c, "eat_profile", json_object_new_string(EAR_PROFILE));
    ok = ok && put(c, "iat", json_object_new_int64(iat));
    ok = ok && put(vid, "developer", json_object_new_string("srtm"));
    ok = ok && put(vid, "build", json_object_new_string("srtm " SRTM_VERSION_STRING));
    ok = put(c, "ear.verifier-id", vid) && ok;
    vid = NULL;
    ok = ok && put(c, "eat_nonce", json_object_new_string(nonce64));
    ok = ok && put(c, "srtm.ok", json_object_new_boolean(r->ok));
    for (size_t i = 0; ok && i < r->n_comps; i++) {
        const verify_verdict *v = &r->comps[i];
        const char *key = v->path != NULL && v->path[0] != '\0' ? v->path : v->name;
        /* Two verdicts under one key would lose one: refused (srtm_verify never makes them). */
        ok = !json_object_object_get_ex(subs, key, NULL) && put(subs, key, submod(v, policy_id));
    }
    ok = put(c, "submods", subs) && ok && r->n_comps > 0;
    subs = NULL;
    free(nonce64);
    json_object_put(vid);
    json_object_put(subs);
    if (!ok) {
        json_object_put(c);
        return NULL;
    }
    return c;
}

/* The ES256 key: a P-256 private key in PEM. NULL otherwise. */
static EVP_PKEY *load_key(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    char group[64];
    size_t glen = 0;
    if (k != NULL && (!EVP_PKEY_is_a(k, "EC") ||
                      EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                     sizeof(group), &glen) != 1 ||
                      strcmp(group, "prime256v1") != 0)) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

/* ES256 over text: the raw r || s. */
static srtm_err es256(EVP_PKEY *key, const char *text, uint8_t sig[2 * ES256_HALF])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[128];
    size_t der_len = sizeof(der);
    srtm_err err = md != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    if (err == SRTM_OK && (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
                           EVP_DigestSign(md, der, &der_len, (const uint8_t *)text,
                                          strlen(text)) != 1))
        err = SRTM_E_CRYPTO;
    EVP_MD_CTX_free(md);
    const uint8_t *p = der;
    ECDSA_SIG *s = err == SRTM_OK ? d2i_ECDSA_SIG(NULL, &p, (long)der_len) : NULL;
    if (err == SRTM_OK &&
        (s == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, ES256_HALF) != ES256_HALF ||
         BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + ES256_HALF, ES256_HALF) != ES256_HALF))
        err = SRTM_E_CRYPTO;
    ECDSA_SIG_free(s);
    return err;
}

/* header.payload.signature, base64url each. */
static srtm_err jws_compact(EVP_PKEY *key, const char *payload, char **out)
{
    static const char header[] = "{\"alg\":\"ES256\",\"typ\":\"JWT\"}";
    char *h = b64url((const uint8_t *)header, strlen(header));
    char *p = b64url((const uint8_t *)payload, strlen(payload));
    size_t n = h != NULL && p != NULL ? strlen(h) + strlen(p) + 2 : 0;
    char *signing = n > 0 ? malloc(n) : NULL;
    srtm_err err = signing != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    uint8_t sig[2 * ES256_HALF];
    if (err == SRTM_OK) {
        snprintf(signing, n, "%s.%s", h, p);
        err = es256(key, signing, sig);
    }
    char *s = err == SRTM_OK ? b64url(sig, sizeof(sig)) : NULL;
    char *jwt = s != NULL ? malloc(n + strlen(s) + 1) : NULL;
    if (err == SRTM_OK && jwt == NULL)
        err = SRTM_E_NO_MEMORY;
    if (err == SRTM_OK)
        snprintf(jwt, n + strlen(s) + 1, "%s.%s", signing, s);
    free(h);
    free(p);
    free(signing);
    free(s);
    if (err == SRTM_OK)
        *out = jwt;
    return err;
}

SRTM_API srtm_err srtm_verify_result_ear(const srtm_verify_result *result, const uint8_t *nonce,
                                         size_t nonce_len,
                                         const uint8_t policy_sha256[SRTM_DIGEST_LEN],
                                         const char *key_pem, int64_t iat, char **jwt_out)
{
    if (result == NULL || nonce == NULL || nonce_len < SRTM_MIN_NONCE ||
        nonce_len > SRTM_MAX_NONCE || policy_sha256 == NULL || key_pem == NULL ||
        jwt_out == NULL || iat < 0)
        return SRTM_E_INVALID;
    EVP_PKEY *key = load_key(key_pem);
    if (key == NULL)
        return SRTM_E_INVALID;
    json_object *claims = ear_claims(result, nonce, nonce_len, policy_sha256, iat);
    srtm_err err = claims != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    const char *payload = NULL;
    if (err == SRTM_OK) {
        payload = json_object_to_json_string_ext(claims, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE);
        err = payload != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    }
    char *jwt = NULL;
    if (err == SRTM_OK)
        err = jws_compact(key, payload, &jwt);
    json_object_put(claims);
    EVP_PKEY_free(key);
    if (err == SRTM_OK)
        *jwt_out = jwt;
    return err;
}
