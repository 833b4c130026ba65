/*
 * Regression tests for what the fuzz targets of tests/fuzz/ found (docs/fuzzing.md): each
 * feeds the input that crashed a target to the same function in the normal build and
 * asserts a clean error.
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <srtm/srtm.h>

#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/*
 * fuzz_policy, crash-b095588e000eb993aed2987aff1e7943ee7caac1: a key holding raw newlines
 * (json-c takes them inside strings) was quoted into the "one-line" failure message as
 * is, so a policy file could forge lines in srtmctl's output or a log.
 */
Test(fuzz_regress, policy_message_with_newlines_in_a_key_stays_one_line)
{
    char text[512];
    char nl[113];
    memset(nl, '\n', 112);
    nl[112] = '\0';
    int n = snprintf(text, sizeof(text),
                     "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                     "\"pcrs\":{\"proo%sf\":{\"0\":\"" Z64 "\"},\"running\":{\"15\":\"" A64
                     "\"}}}\n",
                     nl);
    cr_assert(n == 346, "%d", n); /* the crash file's size */
    srtm_verifier_policy *p = NULL;
    char msg[128];
    srtm_err err = srtm_policy_parse(text, (size_t)n, NULL, &p, msg, sizeof(msg));
    cr_assert_eq(err, SRTM_E_INVALID, "%s", srtm_strerror(err));
    cr_assert_null(p);
    cr_assert(strchr(msg, '\n') == NULL, "message spans lines: %s", msg);
    /* Raw newlines are no JSON: the strict grammar refuses them first. */
    cr_assert(strstr(msg, "a control byte 0x0a in a string") != NULL, "%s", msg);
    /* Escaped newlines are JSON: they reach the key path of the message, replaced. */
    n = snprintf(text, sizeof(text),
                 "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                 "\"pcrs\":{\"proo\\n\\nf\":{\"0\":\"" Z64 "\"},\"running\":{\"15\":\"" A64
                 "\"}}}\n");
    err = srtm_policy_parse(text, (size_t)n, NULL, &p, msg, sizeof(msg));
    cr_assert_eq(err, SRTM_E_INVALID, "%s", srtm_strerror(err));
    cr_assert(strchr(msg, '\n') == NULL, "message spans lines: %s", msg);
    cr_assert(strstr(msg, "pcrs.proo??f") != NULL, "%s", msg);
}
