/*
 * Fuzz target: the evidence parser and verifier (client-lib/verify.c), srtm_verify over
 * arbitrary bytes with a fixed AIK, policy and nonce; evidence that verifies, verified
 * again with the state kept from it (check continuity must pass: a report extends
 * itself); the same bytes read as a verifier state (srtm_verify_state_parse); and the
 * evidence descriptions (srtm_evidence_describe, srtm_evidence_cel, srtm_policy_create).
 *
 * The constants are those of the real evidence in corpus/verify/swtpm-evidence.bin, taken
 * from srtmd on swtpm (docs/fuzzing.md, "Seeds"): its AIK, a policy built from its
 * platform's reference PCRs under which every component is trusted, and its nonce. So the
 * unmutated seed passes every check (SRTM_OK), and libFuzzer's mutations of it reach each
 * check one at a time instead of failing the first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtm/srtm.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_verify: invariant failed at line %d: %s\n", __LINE__,  \
                    #cond);                                                                \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* The swtpm AIK that signed the seed's TPM quotes (a public key). */
static const char aik_pem[] = "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEI5c7Mk2ha2IG/X5JWFwP+nnsCji9\n"
    "DAR2DzJPQvK8J39oMjvkb/SAC6MvKgmPaXPycoy82+VujWYfQ+P5mKQb0Q==\n"
    "-----END PUBLIC KEY-----\n";

static const uint8_t nonce[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13};

/* The platform's reference PCRs (srtm-keymgr predict) inline; vm-a measured "kernel"
 * into CCR 0 and "initrd" into CCR 1, fw "rules" into CCR 0. */
static const char policy_text[] =
    "{\n"
    " \"format\": \"srtm-policy-v1\",\n"
    " \"aik\": {\n"
    "  \"scheme\": \"ecdsa-sha256\"\n"
    " },\n"
    " \"pcrs\": {\n"
    "  \"proof\": {\n"
    "   \"0\": \"67a79eca89ef6eb7480675da2cc1cea60bc446f5c2b1d4d17818cf1a239a0a30\",\n"
    "   \"1\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"2\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"3\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"4\": \"23d20e879c69a7d3110444f316dab12d42536d50708467475282296118daad93\",\n"
    "   \"5\": \"43d82478a447adb06a7a8d0859d66cd223d6a901a8af38912758ce955d7e28fa\",\n"
    "   \"6\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"7\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"15\": \"de46a4c6509b474938d6faf7dc640d4e3aa413da14fcaa170333244b1c52cdd8\"\n"
    "  },\n"
    "  \"running\": {\n"
    "   \"0\": \"67a79eca89ef6eb7480675da2cc1cea60bc446f5c2b1d4d17818cf1a239a0a30\",\n"
    "   \"1\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"2\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"3\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"4\": \"23d20e879c69a7d3110444f316dab12d42536d50708467475282296118daad93\",\n"
    "   \"5\": \"43d82478a447adb06a7a8d0859d66cd223d6a901a8af38912758ce955d7e28fa\",\n"
    "   \"6\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"7\": \"0000000000000000000000000000000000000000000000000000000000000000\",\n"
    "   \"15\": \"90ab1c5c17d5ae126458a67b5d2004e1463a22507718e969cbf00bf462235aec\"\n"
    "  }\n"
    " },\n"
    " \"components\": {\n"
    "  \"vm-a\": {\n"
    "   \"ccrs\": {\n"
    "    \"0\": {\n"
    "     \"allowed_digests\": [\n"
    "      \"6923dd1bc0460082c5d55a831908c24a282860b7f1cd6c2b79cf1bc8857c639c\"\n"
    "     ]\n"
    "    },\n"
    "    \"1\": {\n"
    "     \"allowed_digests\": [\n"
    "      {\n"
    "       \"digest\": \"09e6c018d2c8c4903308613dd1b72484d57eadf12ec50ddc8f52e5accce470f2\",\n"
    "       \"label\": \"initrd\"\n"
    "      }\n"
    "     ]\n"
    "    }\n"
    "   }\n"
    "  },\n"
    "  \"fw\": {\n"
    "   \"ccrs\": {\n"
    "    \"0\": {\n"
    "     \"expected_value\": \"87e2602685cc037547297c717c46d888437ea0aebcdf612efcf3a57b327d05d4\"\n"
    "    }\n"
    "   }\n"
    "  }\n"
    " },\n"
    " \"require\": [\n"
    "  \"vm-a\",\n"
    "  \"fw\"\n"
    " ],\n"
    " \"unlisted\": \"replay-only\",\n"
    " \"terminated\": \"untrusted\"\n"
    "}\n";

static srtm_verifier_policy *policy;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char msg[256];
    if (srtm_policy_parse(policy_text, strlen(policy_text), NULL, &policy, msg, sizeof(msg)) !=
        SRTM_OK) {
        fprintf(stderr, "fuzz_verify: the built-in policy does not load: %s\n", msg);
        abort();
    }
    return 0;
}

/* Read every string of the result, so that ASan sees any it left dangling. */
static void walk(const srtm_verify_result *r)
{
    size_t sum = 0;
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++) {
        const char *name = srtm_verify_result_check_name(r, i);
        const char *why = srtm_verify_result_check_reason(r, i);
        CHECK(name != NULL);
        sum += strlen(name) + (why != NULL ? strlen(why) : 0);
        (void)srtm_verify_result_check_ok(r, i);
    }
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++) {
        const char *name = srtm_verify_result_component_name(r, i);
        CHECK(name != NULL);
        sum += strlen(name);
        (void)srtm_verify_result_component_trusted(r, i);
        for (size_t j = 0; j < srtm_verify_result_component_reason_count(r, i); j++) {
            const char *why = srtm_verify_result_component_reason(r, i, j);
            CHECK(why != NULL);
            sum += strlen(why);
        }
    }
    (void)sum;
}

/* Evidence whose state was kept, verified again with that state: the same verdict. */
static void again_with_state(const uint8_t *data, size_t size, const srtm_verify_result *r)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    if (srtm_verify_result_state(r, &blob, &len) != SRTM_OK)
        return;
    srtm_verify_state *st = NULL;
    CHECK(srtm_verify_state_parse(blob, len, &st) == SRTM_OK);
    free(blob);
    srtm_verify_result *r2 = NULL;
    srtm_err err = srtm_verify_with_state(data, size, aik_pem, policy, nonce, sizeof(nonce), st,
                                          &r2);
    CHECK(r2 != NULL && srtm_verify_result_ok(r2) == srtm_verify_result_ok(r) &&
          srtm_verify_result_ok(r2) == (err == SRTM_OK) && !srtm_verify_result_needs_full(r2));
    srtm_verify_result_free(r2);
    srtm_verify_state_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srtm_verify_result *r = NULL;
    srtm_err err = srtm_verify(data, size, aik_pem, policy, nonce, sizeof(nonce), &r);
    /* Fail closed: a verdict comes with a result, anything else with none. */
    if (err == SRTM_OK || err == SRTM_E_DENIED) {
        CHECK(r != NULL);
        CHECK(srtm_verify_result_ok(r) == (err == SRTM_OK));
        walk(r);
        again_with_state(data, size, r);
    } else {
        CHECK(r == NULL);
    }
    srtm_verify_result_free(r);
    /* The same bytes as a stored verifier state: one, or an error with nothing. */
    srtm_verify_state *st = NULL;
    err = srtm_verify_state_parse(data, size, &st);
    CHECK((err == SRTM_OK) == (st != NULL));
    uint8_t instance[SRTM_INSTANCE_LEN];
    uint64_t seq = 0;
    (void)srtm_verify_state_since(st, policy, instance, &seq);
    srtm_verify_state_free(st);
    /* The descriptions of the same bytes (show, CEL, policy create) parse them too; each
     * answers JSON text or an error with nothing. */
    srtm_err (*const describe[])(const uint8_t *, size_t, char **) = {srtm_evidence_describe,
                                                                       srtm_evidence_cel};
    for (size_t i = 0; i < 2; i++) {
        char *text = NULL;
        err = describe[i](data, size, &text);
        CHECK((err == SRTM_OK) == (text != NULL));
        free(text);
    }
    char *created = NULL;
    err = srtm_policy_create(data, size, NULL, &created);
    CHECK((err == SRTM_OK) == (created != NULL));
    free(created);
    return 0;
}
