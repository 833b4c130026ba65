/*
 * Unit tests of the verifier's policy parser (client-lib/policy.c): the shipped example
 * loads; every malformed policy is refused with a message naming the key path; bounds hold;
 * the reference file of srtm-keymgr is read relative to the policy's directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "verify_int.h"

#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bb00000000000000000000000000000000000000000000000000000000000000"
#define HEAD "\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
#define PCRS "\"pcrs\":{\"proof\":{\"15\":\"" Z64 "\"},\"running\":{\"15\":\"" A64 "\"}}"
#define REQ ",\"require\":[\"vm\"]"
#define GOOD "{" HEAD PCRS REQ "}"

static srtm_err parse(const char *text, srtm_verifier_policy **out, char *msg, size_t size)
{
    return srtm_policy_parse(text, strlen(text), "/nonexistent", out, msg, size);
}

Test(policy, example_file_loads)
{
    const char *dir = getenv("SRTM_EXAMPLES");
    cr_assert(dir != NULL, "SRTM_EXAMPLES is not set");
    char path[512], msg[512];
    snprintf(path, sizeof(path), "%s/policy-example.json", dir);
    srtm_verifier_policy *p = NULL;
    srtm_err err = srtm_policy_load(path, &p, msg, sizeof(msg));
    cr_assert_eq(err, SRTM_OK, "%s", msg);
    cr_assert_eq(p->proof.mask, 0x80ffu);
    cr_assert_eq(p->running.mask, 0x80ffu);
    cr_assert_eq(p->n_comps, 2);
    const pol_component *a = policy_find_component(p, "vm-a");
    cr_assert(a != NULL);
    const pol_ccr *c = policy_find_ccr(a, 0);
    cr_assert(c != NULL && c->has_allowed && c->n_allowed == 3 && !c->has_expected);
    uint8_t d[SRTM_DIGEST_LEN];
    cr_assert_eq(hex_decode("9b2ad8b0dc67f4e4bd35f0a1b8a8f0e64c6b2a1d0f3e2c5b4a69788d7e6f5a4b",
                            64, d, sizeof(d)),
                 SRTM_OK);
    const pol_digest *hit = policy_find_digest(c, d);
    cr_assert(hit != NULL && hit->label != NULL && strcmp(hit->label, "initrd.img-6.1.0-13") == 0);
    d[0] ^= 1;
    cr_assert_null(policy_find_digest(c, d));
    const pol_component *fw = policy_find_component(p, "firewall");
    cr_assert(fw != NULL && policy_find_ccr(fw, 0)->has_expected);
    cr_assert_null(policy_find_ccr(fw, 1));
    cr_assert_null(policy_find_component(p, "vm-b"));
    cr_assert_eq(p->n_require, 2);
    cr_assert_eq(p->unlisted, POL_UNLISTED_UNTRUSTED);
    cr_assert_eq(p->terminated, POL_TERMINATED_UNTRUSTED);
    srtm_policy_free(p);
}

Test(policy, several_values_per_pcr)
{
    srtm_verifier_policy *p = NULL;
    char msg[256];
    const char *text = "{" HEAD "\"pcrs\":{\"proof\":{\"0\":[\"" Z64 "\",\"" A64
                       "\"],\"15\":\"" Z64 "\"},\"running\":{\"0\":[\"" Z64 "\",\"" A64
                       "\"],\"15\":[\"" A64 "\",\"" B64 "\"]}}" REQ "}";
    cr_assert_eq(parse(text, &p, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(p->proof.n[0], 2);
    cr_assert_eq(p->proof.n[15], 1);
    cr_assert_eq(p->running.n[15], 2);
    uint8_t z[SRTM_DIGEST_LEN] = {0}, a[SRTM_DIGEST_LEN], b[SRTM_DIGEST_LEN] = {0xbb};
    memset(a, 0xaa, sizeof(a));
    cr_assert(policy_pcr_allows(&p->running, 15, a));
    cr_assert(policy_pcr_allows(&p->running, 15, b));
    cr_assert_not(policy_pcr_allows(&p->running, 15, z));
    cr_assert(policy_pcr_allows(&p->proof, 0, z));
    cr_assert(policy_pcr_allows(&p->proof, 0, a));
    cr_assert_not(policy_pcr_allows(&p->proof, 1, z));
    srtm_policy_free(p);
}

Test(policy, minimal_inline_policy)
{
    srtm_verifier_policy *p = NULL;
    char msg[256];
    cr_assert_eq(parse(GOOD, &p, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(p->proof.mask, 1u << 15);
    cr_assert_eq(p->running.mask, 1u << 15);
    cr_assert_eq(p->running.n[15], 1);
    cr_assert_eq(p->running.value[15][0][0], 0xaa);
    cr_assert(!p->allow_extra_pcrs);
    cr_assert_eq(p->unlisted, POL_UNLISTED_UNTRUSTED);
    cr_assert_eq(p->terminated, POL_TERMINATED_UNTRUSTED);
    srtm_policy_free(p);
    srtm_policy_free(NULL);
}

/* "terminated": what a terminated component (and all that depends on it) means. */
Test(policy, terminated_key)
{
    const char *texts[] = {"{" HEAD PCRS REQ ",\"terminated\":\"accepted\"}",
                           "{" HEAD PCRS REQ ",\"terminated\":\"untrusted\"}"};
    const pol_terminated want[] = {POL_TERMINATED_ACCEPTED, POL_TERMINATED_UNTRUSTED};
    for (size_t i = 0; i < 2; i++) {
        srtm_verifier_policy *p = NULL;
        char msg[256];
        cr_assert_eq(parse(texts[i], &p, msg, sizeof(msg)), SRTM_OK, "%s", msg);
        cr_assert_eq(p->terminated, want[i], "case %zu", i);
        srtm_policy_free(p);
    }
}

/* Each malformed policy, and a piece of the message it must give (the key path). */
typedef struct bad_case {
    const char *text;
    const char *want;
    srtm_err err;
} bad_case;

static const bad_case bad[] = {
    {"", "not valid JSON", SRTM_E_INVALID},
    {"[1]", "must be a JSON object", SRTM_E_INVALID},
    {GOOD " {}", "not valid JSON", SRTM_E_INVALID},
    {"{" HEAD PCRS ",}", "not valid JSON", SRTM_E_INVALID},
    {"{\"aik\":{\"scheme\":\"ecdsa-sha256\"}," PCRS "}", "format: missing", SRTM_E_INVALID},
    {"{\"format\":\"srtm-policy-v2\",\"aik\":{\"scheme\":\"ecdsa-sha256\"}," PCRS "}",
     "format: must be \"srtm-policy-v1\"", SRTM_E_UNSUPPORTED},
    {"{\"format\":1," PCRS "}", "format: must be a string, not a number", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"extra\":1}", "extra: unknown key", SRTM_E_INVALID},
    {"{\"format\":\"srtm-policy-v1\"," PCRS "}", "aik: missing", SRTM_E_INVALID},
    {"{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"rsassa-sha256\"}," PCRS "}",
     "aik.scheme: \"rsassa-sha256\" is not supported", SRTM_E_UNSUPPORTED},
    {"{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\",\"curve\":1}," PCRS
     "}",
     "aik.curve: unknown key", SRTM_E_INVALID},
    {"{\"format\":\"srtm-policy-v1\",\"aik\":\"ecdsa-sha256\"," PCRS "}",
     "aik: must be an object, not a string", SRTM_E_INVALID},
    {"{" HEAD "\"x\":1}", "x: unknown key", SRTM_E_INVALID},
    {"{" HEAD "\"components\":{}}", "pcrs: missing", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"" Z64 "\"}}}", "pcrs: needs reference_file",
     SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"reference_file\":\"r.json\",\"proof\":{\"0\":\"" Z64 "\"}}}",
     "pcrs: give either reference_file", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"" Z64 "\"},\"running\":{\"24\":\"" Z64 "\"}}}",
     "pcrs.running.24: not a PCR number", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"07\":\"" Z64 "\"},\"running\":{\"1\":\"" Z64 "\"}}}",
     "pcrs.proof.07: not a PCR number", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"" Z64 "0\"},\"running\":{\"1\":\"" Z64 "\"}}}",
     "pcrs.proof.0: must be 64 hex digits", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"zz" Z64 "\"},\"running\":{\"1\":\"" Z64 "\"}}}",
     "pcrs.proof.0: must be 64 hex digits", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{},\"running\":{\"1\":\"" Z64 "\"}}}",
     "pcrs.proof: names no PCR", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"" Z64 "\"},\"running\":{\"1\":\"" Z64
     "\"},\"allow_extra\":\"yes\"}}",
     "pcrs.allow_extra: must be a boolean", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"" Z64 "\"},\"running\":{\"1\":\"" Z64
     "\"},\"bank\":\"sha1\"}}",
     "pcrs.bank: unknown key", SRTM_E_INVALID},
    /* Several values of one PCR: 1 to 8 different digests. */
    {"{" HEAD "\"pcrs\":{\"proof\":{\"15\":[]},\"running\":{\"15\":\"" A64 "\"}}" REQ "}",
     "pcrs.proof.15: must list 1 to 8 values", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"15\":[\"" Z64 "\",\"" Z64 "\"]},\"running\":{\"15\":\""
     A64 "\"}}" REQ "}",
     "pcrs.proof.15[1]: the same value as [0]", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"15\":[\"" Z64 "\",7]},\"running\":{\"15\":\"" A64
     "\"}}" REQ "}",
     "pcrs.proof.15[1]: must be", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"15\":[\"" Z64 "\",\"" Z64 "\",\"" Z64 "\",\"" Z64
     "\",\"" Z64 "\",\"" Z64 "\",\"" Z64 "\",\"" Z64 "\",\"" Z64 "\"]},\"running\":{\"15\":\""
     A64 "\"}}" REQ "}",
     "pcrs.proof.15: must list 1 to 8 values", SRTM_E_INVALID},
    /* A running value that is also a proof value of the only PCR both name. */
    {"{" HEAD "\"pcrs\":{\"proof\":{\"15\":[\"" Z64 "\",\"" A64 "\"]},\"running\":{\"15\":\""
     A64 "\"}}" REQ "}",
     "pcrs: proof and running must differ in a PCR both name", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"15\":\"" Z64 "\"},\"running\":{\"15\":[\"" A64
     "\",\"" Z64 "\"]}}" REQ "}",
     "pcrs: proof and running must differ in a PCR both name", SRTM_E_INVALID},
    /* References that cannot tell the proof state from the state after the close. */
    {"{" HEAD "\"pcrs\":{\"proof\":{\"15\":\"" A64 "\"},\"running\":{\"15\":\"" A64
     "\"}}" REQ "}",
     "pcrs: proof and running must differ in a PCR both name", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"" Z64 "\"},\"running\":{\"15\":\"" A64
     "\"}}" REQ "}",
     "pcrs: proof and running must differ in a PCR both name", SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"proof\":{\"0\":\"" Z64 "\",\"15\":\"" A64 "\"},\"running\":{"
     "\"0\":\"" Z64 "\",\"15\":\"" A64 "\",\"16\":\"" Z64 "\"},\"allow_extra\":true}" REQ
     "}",
     "pcrs: proof and running must differ in a PCR both name", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":[]}", "components: must be an object, not an array",
     SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{}}}", "components.vm.ccrs: missing",
     SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{},\"ccr\":{}}}}",
     "components.vm.ccr: unknown key", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"x\":{}}}}}",
     "components.vm.ccrs.x: not a CCR index", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{}}}}}",
     "components.vm.ccrs.0: needs allowed_digests or expected_value", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"allowed_digest\":[]}}}}}",
     "components.vm.ccrs.0.allowed_digest: unknown key", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"allowed_digests\":\"" Z64
     "\"}}}}}",
     "components.vm.ccrs.0.allowed_digests: must be an array, not a string", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"allowed_digests\":[\"" Z64
     "\",\"abc\"]}}}}}",
     "components.vm.ccrs.0.allowed_digests[1]: must be 64 hex digits", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"allowed_digests\":[7]}}}}}",
     "components.vm.ccrs.0.allowed_digests[0]: must be a hex digest or an object",
     SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"allowed_digests\":[{\"label\":"
     "\"x\"}]}}}}}",
     "components.vm.ccrs.0.allowed_digests[0].digest: missing", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"allowed_digests\":[{\"digest\":"
     "\"" Z64 "\",\"label\":5}]}}}}}",
     "components.vm.ccrs.0.allowed_digests[0].label: must be a string", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"allowed_digests\":[{\"digest\":"
     "\"" Z64 "\",\"lable\":\"x\"}]}}}}}",
     "components.vm.ccrs.0.allowed_digests[0].lable: unknown key", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"1\":{\"expected_value\":true}}}}}",
     "components.vm.ccrs.1.expected_value: must be a string, not a boolean", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"require\":\"vm\"}", "require: must be an array", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"require\":[\"vm\",\"\"]}", "require[1]: must hold 1 to 1024 bytes",
     SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"unlisted\":\"trusted\"}", "unlisted: must be \"replay-only\"",
     SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"terminated\":\"trusted\"}",
     "terminated: must be \"untrusted\" or \"accepted\"", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"terminated\":true}", "terminated: must be a string, not a boolean",
     SRTM_E_INVALID},
    {"{" HEAD "\"pcrs\":{\"reference_file\":\"missing.json\"}}",
     "pcrs.reference_file: cannot read '/nonexistent/missing.json'", SRTM_E_IO},
};

Test(policy, malformed_policies_are_refused_with_the_key_path)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        srtm_verifier_policy *p = (srtm_verifier_policy *)0x1;
        char msg[512] = "";
        srtm_err err = parse(bad[i].text, &p, msg, sizeof(msg));
        cr_expect_eq(err, bad[i].err, "case %zu: got %s, message '%s'", i, srtm_strerror(err),
                     msg);
        cr_expect_eq(p, (srtm_verifier_policy *)0x1, "case %zu wrote *out on failure", i);
        cr_expect(strstr(msg, bad[i].want) != NULL, "case %zu: message '%s' lacks '%s'", i,
                  msg, bad[i].want);
    }
}

Test(policy, a_long_message_buffer_is_not_needed)
{
    srtm_verifier_policy *p = NULL;
    char msg[8];
    cr_assert_eq(parse("{\"x\":1}", &p, msg, sizeof(msg)), SRTM_E_INVALID);
    cr_assert_eq(strlen(msg), 7);
    cr_assert_eq(parse("{\"x\":1}", &p, NULL, 0), SRTM_E_INVALID);
}

Test(policy, bounds)
{
    /* More CCRs than POLICY_MAX_CCRS in one component. */
    size_t cap = 64u + (POLICY_MAX_CCRS + 1) * 96u + sizeof(GOOD);
    char *t = malloc(cap);
    cr_assert(t != NULL);
    size_t n = (size_t)snprintf(t, cap, "{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{");
    for (unsigned i = 0; i <= POLICY_MAX_CCRS; i++)
        n += (size_t)snprintf(t + n, cap - n, "%s\"%u\":{\"expected_value\":\"" Z64 "\"}",
                              i ? "," : "", i);
    snprintf(t + n, cap - n, "}}}}");
    srtm_verifier_policy *p = NULL;
    char msg[256];
    cr_assert_eq(parse(t, &p, msg, sizeof(msg)), SRTM_E_TOO_BIG, "%s", msg);
    cr_assert(strstr(msg, "components.vm.ccrs: more than") != NULL, "%s", msg);
    free(t);
    /* A file larger than POLICY_MAX_FILE is refused before parsing. */
    cr_assert_eq(srtm_policy_parse("{}", (size_t)POLICY_MAX_FILE + 1, NULL, &p, msg,
                                   sizeof(msg)),
                 SRTM_E_TOO_BIG);
    /* Nesting deeper than the tokenizer's bound. */
    char deep[200];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    cr_assert_eq(parse(deep, &p, msg, sizeof(msg)), SRTM_E_INVALID);
}

Test(policy, reference_file_relative_to_the_policy)
{
    char dir[] = "/tmp/srtm-policy-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char path[256], ref[256], msg[512];
    snprintf(ref, sizeof(ref), "%s/ref.json", dir);
    snprintf(path, sizeof(path), "%s/policy.json", dir);
    FILE *f = fopen(ref, "w");
    cr_assert(f != NULL);
    fprintf(f, "{\"format\":\"srtm-reference-v1\",\"bank\":\"sha256\",\"srtm_pcr\":15,"
               "\"launch\":{},\"proof\":{\"15\":\"" A64 "\"},\"running\":{\"15\":\"" Z64
               "\"}}");
    fclose(f);
    f = fopen(path, "w");
    cr_assert(f != NULL);
    fprintf(f, "{" HEAD "\"pcrs\":{\"reference_file\":\"ref.json\",\"allow_extra\":true}" REQ "}");
    fclose(f);
    srtm_verifier_policy *p = NULL;
    cr_assert_eq(srtm_policy_load(path, &p, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(p->proof.mask, 1u << 15);
    cr_assert_eq(p->proof.value[15][0][31], 0xaa);
    cr_assert(p->allow_extra_pcrs);
    srtm_policy_free(p);
    /* A reference of another format is refused, naming the file. */
    f = fopen(ref, "w");
    cr_assert(f != NULL);
    fprintf(f, "{\"format\":\"other\"}");
    fclose(f);
    cr_assert_eq(srtm_policy_load(path, &p, msg, sizeof(msg)), SRTM_E_INVALID);
    cr_assert(strstr(msg, "pcrs.reference_file") != NULL && strstr(msg, "ref.json") != NULL,
              "%s", msg);
    unlink(ref);
    unlink(path);
    /* An unreadable policy is SRTM_E_IO with the path. */
    cr_assert_eq(srtm_policy_load(path, &p, msg, sizeof(msg)), SRTM_E_IO);
    cr_assert(strstr(msg, path) != NULL, "%s", msg);
    rmdir(dir);
}

/* ---- strict JSON: what json-c alone would accept ------------------------------------ */

#define VM_RULE "{\"ccrs\":{\"0\":{\"expected_value\":\"" Z64 "\"}}}"
#define VM_LAX "{\"ccrs\":{}}"

/* Each text must be refused as JSON, the message giving this position and reason. */
static const bad_case syntax[] = {
    /* A duplicate key: the last would win and drop the strict rules before it. */
    {"{" HEAD PCRS ",\"components\":{\"vm\":" VM_RULE ",\"vm\":" VM_LAX "}}",
     "key \"vm\" appears twice in one object (first at line 1, column ", SRTM_E_INVALID},
    /* ... at the top level ... */
    {"{" HEAD PCRS REQ ",\"unlisted\":\"untrusted\",\n\"unlisted\":\"replay-only\"}",
     "line 2, column 1: key \"unlisted\" appears twice", SRTM_E_INVALID},
    /* ... nested deeper, and spelled differently ("\u0030" is "0"). */
    {"{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"expected_value\":\"" Z64
     "\"},\"\\u0030\":{\"allowed_digests\":[]}}}}}",
     "key \"0\" appears twice in one object", SRTM_E_INVALID},
    /* An escaped NUL in a key would truncate it to "vm", replacing vm's rules. */
    {"{" HEAD PCRS ",\"components\":{\"vm\":" VM_RULE ",\"vm\\u0000x\":" VM_LAX "}}",
     "NUL (\\u0000) in a string", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"comment\":\"a\\u0000b\"" REQ "}", "NUL (\\u0000) in a string",
     SRTM_E_INVALID},
    {"{" HEAD PCRS ",'require':['vm']}", "found a single quote", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"require\":['vm']}", "found a single quote", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"x\":NaN}", "NaN and Infinity are not JSON", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"x\":Infinity}", "NaN and Infinity are not JSON", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"x\":-Infinity}", "NaN and Infinity are not JSON", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",}", "a key in double quotes expected, found '}'", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"require\":[\"vm\",]}", "a value expected, found ']'", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ "} // comment", "text after the JSON object", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",/* c */\"x\":1}", "found '/' (JSON has no comments)", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"x\":01}", "a number with a leading zero", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"comment\":\"tab\there\"}", "a control byte 0x09", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"comment\":\"\xc3\x28\"}", "not UTF-8", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"comment\":\"\xc0\xaf\"}", "not UTF-8", SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"comment\":\"\\ud800\"}", "an unpaired high surrogate",
     SRTM_E_INVALID},
    {"{" HEAD PCRS REQ ",\"comment\":\"\\x41\"}", "an unknown escape", SRTM_E_INVALID},
    {"{\n  \"format\": \"srtm-policy-v1\",\n  \"format\": \"srtm-policy-v1\"\n}",
     "line 3, column 3: key \"format\" appears twice in one object (first at line 2, column 3)",
     SRTM_E_INVALID},
};

Test(policy, non_json_syntax_is_refused_with_the_position)
{
    for (size_t i = 0; i < sizeof(syntax) / sizeof(syntax[0]); i++) {
        srtm_verifier_policy *p = (srtm_verifier_policy *)0x1;
        char msg[512] = "";
        srtm_err err = parse(syntax[i].text, &p, msg, sizeof(msg));
        cr_expect_eq(err, syntax[i].err, "case %zu: got %s, message '%s'", i,
                     srtm_strerror(err), msg);
        cr_expect_eq(p, (srtm_verifier_policy *)0x1, "case %zu wrote *out on failure", i);
        cr_expect(strstr(msg, "not valid JSON: line ") != NULL, "case %zu: '%s'", i, msg);
        cr_expect(strstr(msg, syntax[i].want) != NULL, "case %zu: message '%s' lacks '%s'", i,
                  msg, syntax[i].want);
    }
}

/* The same texts without the flaw load: the refusals above are about the flaw alone. */
Test(policy, the_same_texts_without_the_flaw_load)
{
    const char *good[] = {
        "{" HEAD PCRS ",\"components\":{\"vm\":" VM_RULE ",\"vm2\":" VM_LAX "}}",
        "{" HEAD PCRS ",\"components\":{\"vm\":{\"ccrs\":{\"0\":{\"expected_value\":\"" Z64
        "\"},\"\\u0031\":{\"allowed_digests\":[]}}}}}",
        "{" HEAD PCRS ",\"comment\":\"caf\xc3\xa9 \\ud83d\\ude00 \\\"q\\\" \\/\"" REQ "}",
        "{" HEAD PCRS ",\"require\":[\"vm\",\"vm2\"]}",
        " \n{" HEAD PCRS REQ "}\n\t ",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        srtm_verifier_policy *p = NULL;
        char msg[512] = "";
        cr_expect_eq(parse(good[i], &p, msg, sizeof(msg)), SRTM_OK, "case %zu: %s", i, msg);
        srtm_policy_free(p);
    }
}

/* ---- policies that fail closed ------------------------------------------------------- */

static const bad_case open_ended[] = {
    /* Naming nothing would trust every component of any report. */
    {"{" HEAD PCRS "}", "components: the policy names no component and requires none",
     SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{}}",
     "components: the policy names no component and requires none", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{},\"unlisted\":\"replay-only\"}",
     "components: the policy names no component and requires none", SRTM_E_INVALID},
    /* "require": [] would require nothing at all. */
    {"{" HEAD PCRS ",\"components\":{\"vm\":" VM_RULE "},\"require\":[]}",
     "require: empty", SRTM_E_INVALID},
    /* Paths: names joined by single slashes. */
    {"{" HEAD PCRS ",\"components\":{\"platform//vm\":" VM_RULE "}}",
     "components.platform//vm: each name of a path is 1 to 128 bytes", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"components\":{\"/vm\":" VM_RULE "}}",
     "components./vm: each name of a path", SRTM_E_INVALID},
    {"{" HEAD PCRS ",\"require\":[\"platform/\"]}", "require[0]: each name of a path",
     SRTM_E_INVALID},
};

Test(policy, open_ended_policies_are_refused)
{
    for (size_t i = 0; i < sizeof(open_ended) / sizeof(open_ended[0]); i++) {
        srtm_verifier_policy *p = (srtm_verifier_policy *)0x1;
        char msg[512] = "";
        srtm_err err = parse(open_ended[i].text, &p, msg, sizeof(msg));
        cr_expect_eq(err, open_ended[i].err, "case %zu: got %s, '%s'", i, srtm_strerror(err),
                     msg);
        cr_expect(strstr(msg, open_ended[i].want) != NULL, "case %zu: message '%s' lacks '%s'",
                  i, msg, open_ended[i].want);
    }
}

/* "unlisted" is "untrusted" unless the policy says otherwise; paths are names too. */
Test(policy, unlisted_defaults_to_untrusted_and_paths_are_names)
{
    srtm_verifier_policy *p = NULL;
    char msg[512];
    cr_assert_eq(parse("{" HEAD PCRS ",\"components\":{\"platform/dm/vm-b\":" VM_RULE
                       ",\"vm-a\":" VM_RULE "},\"require\":[\"platform/dm/vm-b\"]}",
                       &p, msg, sizeof(msg)),
                 SRTM_OK, "%s", msg);
    cr_expect_eq(p->unlisted, POL_UNLISTED_UNTRUSTED);
    cr_expect(policy_find_component(p, "platform/dm/vm-b") != NULL);
    cr_expect(policy_find_component(p, "vm-b") == NULL);
    cr_expect_str_eq(p->require[0], "platform/dm/vm-b");
    srtm_policy_free(p);
    cr_assert_eq(parse("{" HEAD PCRS REQ ",\"unlisted\":\"replay-only\"}", &p, msg, sizeof(msg)),
                 SRTM_OK, "%s", msg);
    cr_expect_eq(p->unlisted, POL_UNLISTED_REPLAY_ONLY);
    srtm_policy_free(p);
    /* What a bare name and a path stand for, given the report's component 0. */
    char out[256];
    cr_expect(policy_resolve_name("vm-b", "platform", out, sizeof(out)));
    cr_expect_str_eq(out, "platform/vm-b");
    cr_expect(policy_resolve_name("platform", "platform", out, sizeof(out)));
    cr_expect_str_eq(out, "platform");
    cr_expect(policy_resolve_name("platform/dm/vm-b", "platform", out, sizeof(out)));
    cr_expect_str_eq(out, "platform/dm/vm-b");
    cr_expect(!policy_resolve_name("vm-b", NULL, out, sizeof(out)));
}
