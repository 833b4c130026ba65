/*
 * The formats srtm's verdicts and evidence travel in, on the stored example evidence
 * (tests/data/example): a policy created from it verifies it and is refused when a PCR
 * differs; several reference values of one PCR; the EAR that 'srtmctl verify --ear'
 * writes, checked by an independent JOSE implementation (tests/check-ear.py, jwcrypto).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include <srtm/srtm.h>

#include "helpers.h"
#include "verify_int.h"

static const char *example(const char *name)
{
    static char path[4][4096];
    static unsigned next;
    const char *data = getenv("SRTM_TEST_DATA");
    cr_assert_not_null(data, "SRTM_TEST_DATA is not set");
    char *p = path[next++ % 4];
    snprintf(p, sizeof(path[0]), "%s/example/%s", data, name);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char *buf = malloc(1 << 20);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static void spill(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
}

static size_t example_nonce(uint8_t nonce[SRTM_MAX_NONCE], char *hex, size_t hex_size)
{
    char *h = slurp(example("nonce.hex"), NULL);
    h[strcspn(h, "\n")] = '\0';
    snprintf(hex, hex_size, "%s", h);
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++)
        cr_assert(sscanf(h + 2 * i, "%2hhx", &nonce[i]) == 1);
    free(h);
    return n;
}

/* srtm_verify of the example evidence against a policy given as text. */
static srtm_err verify_text(const char *policy, srtm_verify_result **r)
{
    char msg[512];
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_parse(policy, strlen(policy), NULL, &pol, msg, sizeof(msg)), SRTM_OK,
                 "%s", msg);
    size_t len = 0;
    char *ev = slurp(example("evidence.bin"), &len);
    char *aik = slurp(example("aik.pem"), NULL);
    uint8_t nonce[SRTM_MAX_NONCE];
    char hex[2 * SRTM_MAX_NONCE + 1];
    size_t nlen = example_nonce(nonce, hex, sizeof(hex));
    srtm_err err = srtm_verify((const uint8_t *)ev, len, aik, pol, nonce, nlen, r);
    free(ev);
    free(aik);
    srtm_policy_free(pol);
    return err;
}

static const char *first_failed_reason(const srtm_verify_result *r)
{
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++)
        if (!srtm_verify_result_check_ok(r, i))
            return srtm_verify_result_check_reason(r, i);
    return "";
}

/* Replace the first occurrence of from (which must be there) by to, in place. */
static void replace(char *text, const char *from, const char *to)
{
    char *p = strstr(text, from);
    cr_assert_not_null(p, "'%s' not found", from);
    cr_assert_eq(strlen(from), strlen(to));
    memcpy(p, to, strlen(to));
}

#define PCR0 "843ed88982c0e842743655ccc782209ee9531316e39aa262371bdfdfcdf6eda4"
#define PCR15_RUNNING "16aa3475e3bca9c70fac5ac92fa8bc4337dd78cc9b6e2af393d8bc6c85628b45"
#define PCR15_PROOF "dea097e48fcd92ecacfd6859d9060b3513086b20bc6a27dead4011574ce23bbf"
#define OTHER1 "1111111111111111111111111111111111111111111111111111111111111111"
#define OTHER2 "2222222222222222222222222222222222222222222222222222222222222222"

Test(formats, a_created_policy_verifies_its_platform_and_refuses_another_pcr_value)
{
    size_t len = 0;
    char *ev = slurp(example("evidence.bin"), &len);
    char *text = NULL;
    cr_assert_eq(srtm_policy_create((const uint8_t *)ev, len, NULL, &text), SRTM_OK);
    srtm_verify_result *r = NULL;
    cr_assert_eq(verify_text(text, &r), SRTM_OK, "%s", text);
    cr_assert_eq(srtm_verify_result_component_count(r), 2);
    srtm_verify_result_free(r);
    /* The platform running other code: PCR 0 differs from the one the policy took. */
    replace(text, "\"0\": \"843e", "\"0\": \"943e");
    cr_assert_eq(verify_text(text, &r), SRTM_E_DENIED);
    cr_assert(strstr(first_failed_reason(r), "PCR 0 is 843e") != NULL, "%s",
              first_failed_reason(r));
    srtm_verify_result_free(r);
    free(text);
    /* Bytes that are not evidence. */
    cr_assert_eq(srtm_policy_create((const uint8_t *)"\xff\xff", 2, NULL, &text),
                 SRTM_E_MALFORMED);
    free(ev);
}

#define POLICY_WITH(proof15, running15)                                                     \
    "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},\"pcrs\":{\"proof\":" \
    "{\"0\":\"" PCR0 "\",\"15\":" proof15 "},\"running\":{\"0\":\"" PCR0 "\",\"15\":"          \
    running15 "}},\"components\":{\"platform\":{\"ccrs\":{\"0\":{\"allowed_digests\":[]}}},"   \
    "\"vm-a\":{\"ccrs\":{\"0\":{\"allowed_digests\":[\"a29997274f58fe0d063fb56e35740cc6a8517"   \
    "2833772deacc482ca5863ff5e02\",\"ab83f6ca7c45d0a8882d3f1ba36940720be339f0f53e6bb14dc832c95" \
    "6f9110e\"]}}}}}"

Test(formats, several_reference_values_of_a_pcr)
{
    srtm_verify_result *r = NULL;
    /* The old and the new value during an update: either verifies. */
    cr_assert_eq(verify_text(POLICY_WITH("[\"" OTHER1 "\",\"" PCR15_PROOF "\"]",
                                         "[\"" PCR15_RUNNING "\",\"" OTHER2 "\"]"),
                             &r),
                 SRTM_OK);
    srtm_verify_result_free(r);
    cr_assert_eq(verify_text(POLICY_WITH("\"" PCR15_PROOF "\"",
                                         "[\"" OTHER1 "\",\"" PCR15_RUNNING "\"]"),
                             &r),
                 SRTM_OK);
    srtm_verify_result_free(r);
    /* Neither value is the platform's: refused, both for the quote and the certificate. */
    cr_assert_eq(verify_text(POLICY_WITH("\"" PCR15_PROOF "\"",
                                         "[\"" OTHER1 "\",\"" OTHER2 "\"]"),
                             &r),
                 SRTM_E_DENIED);
    cr_assert(strstr(first_failed_reason(r), "PCR 15 is " PCR15_RUNNING
                                             ", none of the 2 values the running reference "
                                             "allows (" OTHER1 ", ...)") != NULL,
              "%s", first_failed_reason(r));
    srtm_verify_result_free(r);
    cr_assert_eq(verify_text(POLICY_WITH("[\"" OTHER1 "\",\"" OTHER2 "\"]",
                                         "\"" PCR15_RUNNING "\""),
                             &r),
                 SRTM_E_DENIED);
    cr_assert(strstr(first_failed_reason(r), "PCR 15 is " PCR15_PROOF ", none of the 2") !=
                  NULL,
              "%s", first_failed_reason(r));
    srtm_verify_result_free(r);
}

/* 'srtmctl verify --ear' on the example; its exit status. */
static int verify_ear(const char *dir, const char *nonce_hex, const char *key, char *jwt_path)
{
    sprintf(jwt_path, "%s/result.jwt", dir);
    unlink(jwt_path);
    const char *ctl = test_binary("SRTMCTL");
    const char *argv[] = {ctl, "verify", example("evidence.bin"), "--aik", example("aik.pem"),
                          "--policy", example("policy.json"), "--nonce", nonce_hex, "--ear",
                          key, "-o", jwt_path, NULL};
    char out[4096], err[4096];
    return test_run(argv, out, sizeof(out), err, sizeof(err));
}

static int check_ear(const char *jwt_path, const char *key, const char *nonce_hex,
                     const char *s1, const char *s2, char *err, size_t err_size)
{
    char script[4096], out[4096];
    snprintf(script, sizeof(script), "%s/../check-ear.py", getenv("SRTM_TEST_DATA"));
    const char *argv[] = {"/usr/bin/python3", script, jwt_path, key, nonce_hex,
                          example("policy.json"), s1, s2, NULL};
    return test_run(argv, out, sizeof(out), err, err_size);
}

Test(formats, the_ear_is_checked_by_an_independent_jose_implementation)
{
    char dir[] = "/tmp/srtm-ear-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    uint8_t nonce[SRTM_MAX_NONCE];
    char hex[2 * SRTM_MAX_NONCE + 1], jwt[4200], err[4096];
    example_nonce(nonce, hex, sizeof(hex));
    /* The EAR key: any P-256 private key; the example's IRK key serves. */
    char key[4096];
    snprintf(key, sizeof(key), "%s", example("irk-key.pem"));
    cr_assert_eq(verify_ear(dir, hex, key, jwt), 0);
    cr_assert_eq(check_ear(jwt, key, hex, "platform=affirming", "platform/vm-a=affirming", err,
                           sizeof(err)),
                 0, "%s", err);
    /* The checker is not vacuous: another status, another key, a changed claim. */
    cr_assert_neq(check_ear(jwt, key, hex, "platform=affirming",
                            "platform/vm-a=contraindicated", err, sizeof(err)),
                  0);
    cr_assert_neq(check_ear(jwt, example("aik-key.pem"), hex, "platform=affirming",
                            "platform/vm-a=affirming", err, sizeof(err)),
                  0);
    cr_assert(strstr(err, "signature refused") != NULL, "%s", err);
    char *token = slurp(jwt, NULL);
    char *payload = strchr(token, '.') + 1;
    payload[10] = payload[10] == 'A' ? 'B' : 'A';
    spill(jwt, token);
    free(token);
    cr_assert_neq(check_ear(jwt, key, hex, "platform=affirming", "platform/vm-a=affirming", err,
                            sizeof(err)),
                  0);
    cr_assert(strstr(err, "signature refused") != NULL, "%s", err);
    /* Evidence that does not verify (another nonce): contraindicated, and exit 1. */
    const char *other = "ffeeddccbbaa99887766554433221100";
    cr_assert_eq(verify_ear(dir, other, key, jwt), 1);
    cr_assert_eq(check_ear(jwt, key, other, "platform=contraindicated",
                           "platform/vm-a=contraindicated", err, sizeof(err)),
                 0, "%s", err);
    /* A key that is not a P-256 private key: exit 4, nothing written. */
    cr_assert_eq(verify_ear(dir, hex, example("aik.pem"), jwt), 4);
    cr_assert_neq(access(jwt, F_OK), 0);
    unlink(jwt);
    rmdir(dir);
}

Test(formats, show_describes_the_evidence_without_verifying_it)
{
    const char *ctl = test_binary("SRTMCTL");
    static char out[1 << 16];
    char err[4096];
    const char *j[] = {ctl, "--json", "show", example("evidence.bin"), NULL};
    cr_assert_eq(test_run(j, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    json_object *o = json_tokener_parse(out);
    cr_assert_not_null(o, "%s", out);
    json_object *v = NULL, *q = NULL, *rep = NULL, *comps = NULL;
    cr_assert(json_object_object_get_ex(o, "verified", &v) && !json_object_get_boolean(v));
    cr_assert(json_object_object_get_ex(o, "nonce", &v));
    cr_assert_str_eq(json_object_get_string(v), "00112233445566778899aabbccddeeff");
    cr_assert(json_object_object_get_ex(o, "quote", &q));
    cr_assert(json_object_object_get_ex(q, "reset_count", &v) && json_object_get_int(v) == 1);
    cr_assert(json_object_object_get_ex(q, "pcrs", &v));
    cr_assert(json_object_object_get_ex(v, "15", &v));
    cr_assert_str_eq(json_object_get_string(v), PCR15_RUNNING);
    cr_assert(json_object_object_get_ex(o, "report", &rep));
    cr_assert(json_object_object_get_ex(rep, "components", &comps));
    cr_assert_eq(json_object_array_length(comps), 2);
    json_object *vm = json_object_array_get_idx(comps, 1);
    cr_assert(json_object_object_get_ex(vm, "path", &v));
    cr_assert_str_eq(json_object_get_string(v), "platform/vm-a");
    json_object_put(o);
    const char *t[] = {ctl, "show", example("evidence.bin"), NULL};
    cr_assert_eq(test_run(t, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(out, "not verified") != NULL, "%s", out);
    cr_assert(strstr(out, "component platform/vm-a handle 1 parent 0\n") != NULL, "%s", out);
    cr_assert(strstr(out, "    entry 1 seq 3 digest ab83f6ca7c45d0a8882d3f1ba36940720be339f0f53e6bb"
                          "14dc832c956f9110e type 2 config\n") != NULL,
              "%s", out);
    /* '-' is stdin: the same description (show) and a policy from it (policy create). */
    char cmd[1200], pol[] = "/tmp/srtm-formats-pol-XXXXXX";
    int fd = mkstemp(pol);
    cr_assert(fd >= 0);
    close(fd);
    unlink(pol); /* policy create never replaces a file */
    snprintf(cmd, sizeof(cmd),
             "\"%s\" show - < \"%s\" && \"%s\" policy create --from - -o \"%s\" < \"%s\"", ctl,
             example("evidence.bin"), ctl, pol, example("evidence.bin"));
    const char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    cr_assert_eq(test_run(sh, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(out, "component platform/vm-a handle 1 parent 0\n") != NULL, "%s", out);
    cr_assert(strstr(out, "policy ") != NULL && access(pol, R_OK) == 0, "%s", out);
    unlink(pol);
    /* Not evidence: exit 4. */
    const char *bad[] = {ctl, "show", example("policy.json"), NULL};
    cr_assert_eq(test_run(bad, out, sizeof(out), err, sizeof(err)), 4, "%s", err);
    cr_assert(strstr(err, "not an evidence file") != NULL, "%s", err);
}
