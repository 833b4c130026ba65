/*
 * The verifier against REAL evidence: swtpm, srtm-keymgr (enroll, predict, wrap-irk),
 * srtm-launch and srtmd exactly as the README's recipe (tests/helpers.c,
 * test_platform_start), joint quotes through libsrtm and srtmctl. Every attack of issue 3's
 * list is attempted and must be refused by the check that defends against it; the good
 * cases show each test could fail. The CCR replay rule is also tested on hand-built
 * reports, since a report with a wrong value cannot be signed by anyone but srtmd.
 */
#define _GNU_SOURCE /* asprintf, memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "helpers.h"
#include "irk.h"
#include "verify_int.h"

static const uint8_t NONCE[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
#define NONCE_HEX "00112233445566778899aabbccddeeff"

static test_platform P;

static void stop_platform(void)
{
    test_platform_stop(&P);
}

TestSuite(verify, .fini = stop_platform, .timeout = 180);

/* ---- helpers ------------------------------------------------------------------------ */

static void digest_hex(const char *data, char out[65])
{
    uint8_t d[SRTM_DIGEST_LEN];
    cr_assert_eq(srtm_sha256(data, strlen(data), d), SRTM_OK);
    cr_assert_eq(hex_encode(d, sizeof(d), out, 65), SRTM_OK);
}

/* vm-a: CCR 0 <- "kernel", "initrd"; vm-b: CCR 1 <- "app". */
static void populate(const test_platform *p)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(p->d.url, &c), SRTM_OK);
    srtm_cap a, b;
    uint64_t h;
    cr_assert_eq(srtm_register(c, &p->d.admin, "vm-a", 1, &h, &a), SRTM_OK);
    cr_assert_eq(srtm_register(c, &p->d.admin, "vm-b", 2, &h, &b), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &a, "vm-a", 0, "kernel", 6, 1, "vmlinuz", NULL), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &a, "vm-a", 0, "initrd", 6, 1, "initrd.img", NULL),
                 SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &b, "vm-b", 1, "app", 3, 2, "app", NULL), SRTM_OK);
    srtm_close(c);
}

static void quote(const test_platform *p, const char *const *names, size_t n, uint8_t **ev,
                  size_t *len)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(p->d.url, &c), SRTM_OK);
    srtm_err err = srtm_quote(c, NONCE, sizeof(NONCE), names, n, ev, len);
    cr_assert_eq(err, SRTM_OK, "quote: %s: %s", srtm_strerror(err), srtm_last_message(c));
    srtm_close(c);
}

static void start_with_evidence(uint8_t **ev, size_t *len)
{
    test_platform_start(&P);
    populate(&P);
    quote(&P, NULL, 0, ev, len);
}

/* A policy using srtm-keymgr's reference file; vm_a_rule is vm-a's CCR 0 rule. */
static char *policy(const test_platform *p, const char *vm_a_rule, const char *require)
{
    char k[65], i[65], a[65];
    digest_hex("kernel", k);
    digest_hex("initrd", i);
    digest_hex("app", a);
    char rule[512];
    if (vm_a_rule == NULL)
        snprintf(rule, sizeof(rule),
                 "{\"allowed_digests\":[{\"digest\":\"%s\",\"label\":\"kernel\"},\"%s\"]}", k, i);
    else
        snprintf(rule, sizeof(rule), "%s", vm_a_rule);
    char *t = NULL;
    cr_assert(asprintf(&t,
                       "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                       "\"pcrs\":{\"reference_file\":\"%s\"},"
                       "\"components\":{\"vm-a\":{\"ccrs\":{\"0\":%s}},"
                       "\"vm-b\":{\"ccrs\":{\"0\":{\"allowed_digests\":[]},"
                       "\"1\":{\"allowed_digests\":[\"%s\"]}}}},"
                       "\"require\":%s}",
                       p->ref, rule, a, require ? require : "[\"vm-a\",\"vm-b\"]") > 0);
    return t;
}

static srtm_verify_result *verify_full(const uint8_t *ev, size_t len, const char *pem_path,
                                       const char *policy_text, const uint8_t *nonce,
                                       srtm_err *err_out)
{
    char *pem = NULL;
    size_t pem_len = 0;
    cr_assert_eq(read_small_file(pem_path, 65536, &pem, &pem_len), SRTM_OK);
    srtm_verifier_policy *pol = NULL;
    char msg[512];
    srtm_err err = srtm_policy_parse(policy_text, strlen(policy_text), "/", &pol, msg,
                                     sizeof(msg));
    cr_assert_eq(err, SRTM_OK, "policy: %s", msg);
    srtm_verify_result *r = NULL;
    err = srtm_verify(ev, len, pem, pol, nonce, sizeof(NONCE), &r);
    cr_assert(err == SRTM_OK || err == SRTM_E_DENIED, "srtm_verify: %s", srtm_strerror(err));
    cr_assert(r != NULL);
    cr_assert_eq(err == SRTM_OK, srtm_verify_result_ok(r) != 0);
    srtm_policy_free(pol);
    free(pem);
    if (err_out != NULL)
        *err_out = err;
    return r;
}

static srtm_verify_result *verify_default(const uint8_t *ev, size_t len, srtm_err *err)
{
    char *pol = policy(&P, NULL, NULL);
    srtm_verify_result *r = verify_full(ev, len, P.aik_pem, pol, NONCE, err);
    free(pol);
    return r;
}

/* A policy of the reference PCRs with components {comps} and the top-level keys tail. */
static srtm_verify_result *verify_comps(const uint8_t *ev, size_t len, const char *comps,
                                        const char *tail, srtm_err *err)
{
    char *pol = NULL;
    cr_assert(asprintf(&pol,
                       "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                       "\"pcrs\":{\"reference_file\":\"%s\"},\"components\":{%s}%s}",
                       P.ref, comps, tail) > 0);
    srtm_verify_result *r = verify_full(ev, len, P.aik_pem, pol, NONCE, err);
    free(pol);
    return r;
}

static size_t check_index(const srtm_verify_result *r, const char *name)
{
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++)
        if (strcmp(srtm_verify_result_check_name(r, i), name) == 0)
            return i;
    cr_assert_fail("no check named %s", name);
    return 0;
}

static void expect_check(const srtm_verify_result *r, const char *name, bool ok,
                         const char *reason_part)
{
    size_t i = check_index(r, name);
    cr_expect_eq(srtm_verify_result_check_ok(r, i) != 0, ok, "check %s: expected %s (%s)", name,
                 ok ? "pass" : "failure", srtm_verify_result_check_reason(r, i));
    if (reason_part != NULL)
        cr_expect(strstr(srtm_verify_result_check_reason(r, i), reason_part) != NULL,
                  "check %s: reason '%s' lacks '%s'", name,
                  srtm_verify_result_check_reason(r, i), reason_part);
}

/* Exactly the named checks (NULL-terminated) fail, every other passes. */
static void expect_failed_exactly(const srtm_verify_result *r, const char *const *failed)
{
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++) {
        const char *name = srtm_verify_result_check_name(r, i);
        bool want_fail = false;
        for (size_t k = 0; failed[k] != NULL; k++)
            want_fail = want_fail || strcmp(failed[k], name) == 0;
        cr_expect_eq(srtm_verify_result_check_ok(r, i) == 0, want_fail,
                     "check %s: expected %s, got '%s'", name, want_fail ? "failure" : "pass",
                     srtm_verify_result_check_reason(r, i));
    }
}

static size_t comp_index(const srtm_verify_result *r, const char *name)
{
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        if (strcmp(srtm_verify_result_component_name(r, i), name) == 0)
            return i;
    cr_assert_fail("no verdict for %s", name);
    return 0;
}

static bool comp_reason_has(const srtm_verify_result *r, size_t i, const char *part)
{
    for (size_t j = 0; j < srtm_verify_result_component_reason_count(r, i); j++)
        if (strstr(srtm_verify_result_component_reason(r, i, j), part) != NULL)
            return true;
    return false;
}

static void expect_no_component_trusted(const srtm_verify_result *r)
{
    cr_expect_gt(srtm_verify_result_component_count(r), 0);
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        cr_expect(!srtm_verify_result_component_trusted(r, i), "%s is trusted",
                  srtm_verify_result_component_name(r, i));
}

static Srtm__Evidence *unpack(const uint8_t *ev, size_t len)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert(e != NULL);
    return e;
}

static void pack(const Srtm__Evidence *e, uint8_t **out, size_t *len)
{
    *len = srtm__evidence__get_packed_size(e);
    *out = malloc(*len);
    cr_assert(*out != NULL);
    srtm__evidence__pack(e, *out);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* ---- a good joint quote -------------------------------------------------------------- */

Test(verify, good_joint_quote_verifies)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    srtm_err err;
    srtm_verify_result *r = verify_default(ev, len, &err);
    cr_assert_eq(err, SRTM_OK);
    const char *none[] = {NULL};
    expect_failed_exactly(r, none);
    cr_assert_eq(srtm_verify_result_check_count(r), 18);
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        cr_expect(srtm_verify_result_component_trusted(r, i), "%s: %s",
                  srtm_verify_result_component_name(r, i),
                  srtm_verify_result_component_reason(r, i, 0));
    comp_index(r, "vm-a");
    comp_index(r, "vm-b");
    srtm_verify_result_free(r);
    free(ev);
}

Test(verify, srtmctl_quote_and_verify)
{
    test_platform_start(&P);
    populate(&P);
    const char *ctl = test_binary("SRTMCTL");
    char evpath[300], polpath[300], out[8192], err[4096];
    snprintf(evpath, sizeof(evpath), "%s/ev.bin", P.dir);
    snprintf(polpath, sizeof(polpath), "%s/policy.json", P.dir);
    const char *q[] = {ctl, "--socket", P.d.url, "quote", "--nonce", NONCE_HEX, "vm-a", "vm-b",
                       "-o", evpath, NULL};
    cr_assert_eq(test_run(q, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    struct stat st;
    cr_assert_eq(stat(evpath, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    char *pol = policy(&P, NULL, NULL);
    write_file(polpath, pol, strlen(pol));
    free(pol);
    const char *v[] = {ctl, "verify", evpath, "--aik", P.aik_pem, "--policy", polpath,
                       "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(v, out, sizeof(out), err, sizeof(err)), 0, "%s%s", out, err);
    /* The report may hold the platform (component 0) too, as the closure of the two. */
    cr_assert(strstr(out, "vm-a: trusted\n") != NULL && strstr(out, "vm-b: trusted\n") != NULL &&
                  strstr(out, "untrusted") == NULL && strstr(out, "check ") == NULL,
              "%s", out);
    const char *vj[] = {ctl, "--json", "verify", evpath, "--aik", P.aik_pem, "--policy",
                        polpath, "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(vj, out, sizeof(out), err, sizeof(err)), 0, "%s%s", out, err);
    cr_assert(strncmp(out, "{\"ok\":true,\"checks\":[", 21) == 0, "%s", out);
    /* The wrong nonce: exit 1 and the failed checks named. */
    const char *vn[] = {ctl, "verify", evpath, "--aik", P.aik_pem, "--policy", polpath,
                        "--nonce", NONCE_HEX "00", NULL};
    cr_assert_eq(test_run(vn, out, sizeof(out), err, sizeof(err)), 1, "%s%s", out, err);
    cr_assert(strstr(out, "check nonce: failed: ") != NULL, "%s", out);
    cr_assert(strstr(out, "vm-a: untrusted: evidence not verified") != NULL, "%s", out);
    /* Usage and file errors. */
    const char *vu[] = {ctl, "verify", evpath, "--aik", P.aik_pem, "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(vu, out, sizeof(out), err, sizeof(err)), 2);
    const char *vf[] = {ctl, "verify", "/nonexistent", "--aik", P.aik_pem, "--policy", polpath,
                        "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(vf, out, sizeof(out), err, sizeof(err)), 4);
    /* '-': the evidence on stdout, straight into verify reading stdin. */
    const char *pipe[] = {"/bin/sh", "-c",
                          "\"$0\" --socket \"$1\" quote --nonce \"$2\" vm-a vm-b -o - | "
                          "\"$0\" verify - --aik \"$3\" --policy \"$4\" --nonce \"$2\"",
                          ctl, P.d.url, NONCE_HEX, P.aik_pem, polpath, NULL};
    cr_assert_eq(test_run(pipe, out, sizeof(out), err, sizeof(err)), 0, "%s%s", out, err);
    cr_assert(strstr(out, "vm-a: trusted\n") != NULL, "%s", out);
    /* srtmctl status on a TPM: the proof period's scheme and boot, the quotes it made. */
    const char *stv[] = {ctl, "--socket", P.d.url, "status", NULL};
    cr_assert_eq(test_run(stv, out, sizeof(out), err, sizeof(err)), 0, "%s%s", out, err);
    cr_assert(strstr(out, "tpm yes\n") != NULL && strstr(out, "irk_scheme ") != NULL &&
                  strstr(out, "reset_count ") != NULL && strstr(out, "quote_jobs 0\n") == NULL &&
                  strstr(out, "tpm_quotes 0\n") == NULL && strstr(out, "tpm_ok yes\n") != NULL &&
                  strstr(out, "quotes_waiting 0\n") != NULL,
              "%s", out);
}

/* ---- tpm2_checkquote on the exported TPM part ------------------------------------------ */

static void export_tpm(char *dir, size_t size)
{
    const char *ctl = test_binary("SRTMCTL");
    char evpath[300], out[4096], err[4096];
    snprintf(evpath, sizeof(evpath), "%s/ev.bin", P.dir);
    snprintf(dir, size, "%s/tpm", P.dir);
    const char *q[] = {ctl, "--socket", P.d.url, "quote", "--nonce", NONCE_HEX, "-o", evpath,
                       "--export-tpm", dir, NULL};
    cr_assert_eq(test_run(q, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
}

static void read_line(const char *dir, const char *name, char *out, size_t size)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s", path);
    cr_assert(fgets(out, (int)size, f) != NULL);
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
}

/* tpm2_checkquote on the exported files of the quote (prefix "") or of the certificate
 * ("certificate."), with the nonce given or, when NULL, the exported nonce.hex. */
static int checkquote(const char *dir, const char *prefix, const char *nonce_hex, char *err,
                      size_t err_size)
{
    char m[400], s[400], f[400], nonce[160], n[64];
    snprintf(n, sizeof(n), "%snonce.hex", prefix);
    read_line(dir, n, nonce, sizeof(nonce));
    snprintf(m, sizeof(m), "%s/%squote.attest", dir, prefix);
    snprintf(s, sizeof(s), "%s/%squote.sig", dir, prefix);
    snprintf(f, sizeof(f), "%s/%squote.pcrs", dir, prefix);
    char out[8192];
    const char *a[] = {"tpm2_checkquote", "-u", P.aik_pem, "-m", m, "-s", s, "-f", f, "-g",
                       "sha256", "-q", nonce_hex != NULL ? nonce_hex : nonce, NULL};
    return test_platform_tool(&P, a, out, sizeof(out), err, err_size);
}

Test(verify, tpm2_checkquote_accepts_the_exported_files)
{
    /* The default selection: 9 PCRs (0-7 and 15), more than one TPML_DIGEST list holds. */
    test_platform_start(&P);
    populate(&P);
    char dir[300], err[4096];
    export_tpm(dir, sizeof(dir));
    char sel[128];
    read_line(dir, "pcrs.txt", sel, sizeof(sel));
    cr_assert_str_eq(sel, "sha256:0,1,2,3,4,5,6,7,15");
    cr_assert_eq(checkquote(dir, "", NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(checkquote(dir, "certificate.", NULL, err, sizeof(err)), 0, "%s", err);
    /* ... and the tool is not vacuous: another nonce is refused, and so is one changed
     * byte of the 9th PCR value (the one a mis-split list would drop). */
    cr_assert_neq(checkquote(dir, "", NONCE_HEX, err, sizeof(err)), 0);
    char path[400];
    snprintf(path, sizeof(path), "%s/quote.pcrs", dir);
    uint8_t buf[4096];
    FILE *fp = fopen(path, "rb");
    cr_assert(fp != NULL);
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    /* TPML_PCR_SELECTION, count, first TPML_DIGEST list, then the second list's count and
     * its first digest's size: the 9th value starts after them. */
    size_t ninth = sizeof(TPML_PCR_SELECTION) + 4 + sizeof(TPML_DIGEST) + 4 + 2;
    cr_assert_lt(ninth, n);
    buf[ninth] ^= 1;
    write_file(path, buf, n);
    cr_assert_neq(checkquote(dir, "", NULL, err, sizeof(err)), 0);
}

Test(verify, the_exported_raw_pcr_values_hash_to_the_quoted_digest)
{
    /* quote.pcrvalues, the values concatenated, for checking the digest by hand. */
    test_platform_start(&P);
    populate(&P);
    char dir[300], err[4096], out[8192];
    export_tpm(dir, sizeof(dir));
    char m[400], f[400];
    snprintf(m, sizeof(m), "%s/quote.attest", dir);
    snprintf(f, sizeof(f), "%s/quote.pcrvalues", dir);
    const char *pr[] = {"tpm2_print", "-t", "TPMS_ATTEST", m, NULL};
    cr_assert_eq(test_platform_tool(&P, pr, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    const char *pd = strstr(out, "pcrDigest: ");
    cr_assert(pd != NULL, "%s", out);
    pd += strlen("pcrDigest: ");
    const char *dg[] = {"openssl", "dgst", "-sha256", "-r", f, NULL};
    char sum[256];
    cr_assert_eq(test_platform_tool(&P, dg, sum, sizeof(sum), err, sizeof(err)), 0);
    cr_assert(strncmp(pd, sum, 64) == 0, "pcrDigest %.64s, SHA-256 of quote.pcrvalues %.64s",
              pd, sum);
}

/* ---- attacks ---------------------------------------------------------------------------- */

static void flip_and_expect(const uint8_t *ev, size_t len, size_t pos, const char *what)
{
    Srtm__Evidence *e = unpack(ev, len);
    cr_assert_lt(pos, e->report.len);
    e->report.data[pos] ^= 0x01;
    uint8_t *bad;
    size_t bad_len;
    pack(e, &bad, &bad_len);
    srtm__evidence__free_unpacked(e, NULL);
    srtm_err err;
    srtm_verify_result *r = verify_default(bad, bad_len, &err);
    cr_expect_eq(err, SRTM_E_DENIED, "flip at %s", what);
    expect_check(r, "quote-qualifier", false, NULL);
    expect_check(r, "irk-signature", false, "does not verify");
    expect_check(r, "nonce", true, NULL);
    expect_check(r, "quote-signature", true, NULL);
    expect_check(r, "certificate-signature", true, NULL);
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    free(bad);
}

Test(verify, one_flipped_byte_in_the_report_is_refused)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    Srtm__Evidence *e = unpack(ev, len);
    size_t rlen = e->report.len;
    /* Where the digest of "initrd" sits inside vm-a's log. */
    uint8_t d[SRTM_DIGEST_LEN];
    cr_assert_eq(srtm_sha256("initrd", 6, d), SRTM_OK);
    const uint8_t *hit = memmem(e->report.data, rlen, d, sizeof(d));
    cr_assert(hit != NULL);
    size_t digest_pos = (size_t)(hit - e->report.data) + 5;
    srtm__evidence__free_unpacked(e, NULL);
    flip_and_expect(ev, len, 0, "the first byte");
    flip_and_expect(ev, len, rlen / 2, "the middle");
    flip_and_expect(ev, len, rlen - 1, "the last byte");
    flip_and_expect(ev, len, digest_pos, "a log entry's digest");
    /* The snapshot's sequence number, changed and re-encoded. */
    e = unpack(ev, len);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    cr_assert(rep != NULL);
    rep->seq += 1;
    size_t n = srtm__ccr_report__get_packed_size(rep);
    uint8_t *buf = malloc(n);
    srtm__ccr_report__pack(rep, buf);
    cr_assert_eq(n, e->report.len);
    size_t diff = 0;
    while (diff < n && buf[diff] == e->report.data[diff])
        diff++;
    cr_assert_lt(diff, n, "re-encoding changed nothing");
    srtm__ccr_report__free_unpacked(rep, NULL);
    free(buf);
    srtm__evidence__free_unpacked(e, NULL);
    flip_and_expect(ev, len, diff, "the seq");
    free(ev);
}

Test(verify, a_wrong_nonce_is_refused)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    uint8_t other[sizeof(NONCE)];
    memcpy(other, NONCE, sizeof(other));
    other[3] ^= 0x80;
    char *pol = policy(&P, NULL, NULL);
    srtm_err err;
    srtm_verify_result *r = verify_full(ev, len, P.aik_pem, pol, other, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *f[] = {"nonce", "quote-qualifier", "irk-signature", NULL};
    expect_failed_exactly(r, f);
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    /* The evidence's own nonce field rewritten to match: the quote still binds the old. */
    Srtm__Evidence *e = unpack(ev, len);
    memcpy(e->nonce.data, other, sizeof(other));
    uint8_t *bad;
    size_t bad_len;
    pack(e, &bad, &bad_len);
    srtm__evidence__free_unpacked(e, NULL);
    r = verify_full(bad, bad_len, P.aik_pem, pol, other, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *f2[] = {"quote-qualifier", "irk-signature", NULL};
    expect_failed_exactly(r, f2);
    srtm_verify_result_free(r);
    free(bad);
    free(pol);
    free(ev);
}

Test(verify, an_irk_certificate_from_an_earlier_boot_is_refused)
{
    uint8_t *old = NULL, *now = NULL;
    size_t old_len = 0, now_len = 0;
    start_with_evidence(&old, &old_len);
    test_platform_reboot(&P);
    populate(&P);
    quote(&P, NULL, 0, &now, &now_len);
    /* Both genuine evidences verify on their own... */
    srtm_err err;
    srtm_verify_result *r = verify_default(now, now_len, &err);
    cr_assert_eq(err, SRTM_OK);
    srtm_verify_result_free(r);
    /* ... the old certificate spliced into the new evidence does not. */
    Srtm__Evidence *eo = unpack(old, old_len);
    Srtm__Evidence *en = unpack(now, now_len);
    Srtm__TpmQuote *keep = en->irk_certificate;
    en->irk_certificate = eo->irk_certificate;
    uint8_t *bad;
    size_t bad_len;
    pack(en, &bad, &bad_len);
    en->irk_certificate = keep;
    srtm__evidence__free_unpacked(eo, NULL);
    srtm__evidence__free_unpacked(en, NULL);
    r = verify_default(bad, bad_len, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *f[] = {"same-boot", NULL};
    expect_failed_exactly(r, f);
    expect_check(r, "same-boot", false, "another boot");
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    free(bad);
    free(old);
    free(now);
}

/* An inline policy from the evidence's own PCR values, with one changed. */
static char *inline_policy(const uint8_t *ev, size_t len, int change_proof_pcr,
                           int change_running_pcr, const char *extra)
{
    Srtm__Evidence *e = unpack(ev, len);
    char proof[2048] = "", running[2048] = "";
    for (int w = 0; w < 2; w++) {
        const Srtm__TpmQuote *q = w == 0 ? e->irk_certificate : e->quote;
        char *out = w == 0 ? proof : running;
        int change = w == 0 ? change_proof_pcr : change_running_pcr;
        for (size_t i = 0; i < q->n_pcrs; i++) {
            uint8_t v[SRTM_DIGEST_LEN];
            memcpy(v, q->pcr_values[i].data, sizeof(v));
            if ((int)q->pcrs[i] == change)
                v[0] ^= 0xff;
            char hex[65];
            cr_assert_eq(hex_encode(v, sizeof(v), hex, sizeof(hex)), SRTM_OK);
            size_t used = strlen(out);
            snprintf(out + used, 2048 - used, "%s\"%u\":\"%s\"", i ? "," : "", q->pcrs[i], hex);
        }
    }
    srtm__evidence__free_unpacked(e, NULL);
    char *t = NULL;
    cr_assert(asprintf(&t,
                       "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                       "\"pcrs\":{\"proof\":{%s},\"running\":{%s}%s},"
                       "\"require\":[\"vm-a\",\"vm-b\"],\"unlisted\":\"replay-only\"}",
                       proof, running, extra ? extra : "") > 0);
    return t;
}

Test(verify, a_pcr_value_differing_from_the_reference_is_refused)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    srtm_err err;
    char *pol = inline_policy(ev, len, -1, -1, NULL);
    srtm_verify_result *r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_OK);
    srtm_verify_result_free(r);
    free(pol);

    pol = inline_policy(ev, len, -1, 15, NULL);
    r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *f1[] = {"quote-pcrs-reference", NULL};
    expect_failed_exactly(r, f1);
    expect_check(r, "quote-pcrs-reference", false, "PCR 15 is ");
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    free(pol);

    pol = inline_policy(ev, len, 3, -1, NULL);
    r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *f2[] = {"certificate-pcrs-reference", NULL};
    expect_failed_exactly(r, f2);
    expect_check(r, "certificate-pcrs-reference", false, "PCR 3 is ");
    srtm_verify_result_free(r);
    free(pol);
    free(ev);
}

Test(verify, a_quote_signed_by_another_aik_is_refused)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    char pem2[300], out[4096], err_text[4096];
    snprintf(pem2, sizeof(pem2), "%s/aik2.pem", P.dir);
    const char *enroll[] = {test_binary("SRTM_KEYMGR"), "--tcti", P.tpm.tcti, "enroll",
                            "--aik-handle", "0x81010003", "--aik-pem", pem2, NULL};
    cr_assert_eq(test_run(enroll, out, sizeof(out), err_text, sizeof(err_text)), 0, "%s",
                 err_text);
    char *pol = policy(&P, NULL, NULL);
    srtm_err err;
    srtm_verify_result *r = verify_full(ev, len, pem2, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *f[] = {"quote-signature", "certificate-signature", NULL};
    expect_failed_exactly(r, f);
    expect_check(r, "quote-signature", false, "does not verify with the AIK");
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    free(pol);
    free(ev);
}

/* Sign data with a non-restricted TPM key (TPM2_Sign); the marshalled TPMT_SIGNATURE into
 * sig. The key and its PEM live in P.dir. */
static void forge_key(void)
{
    char prim[300], pub[300], priv[300], key[300], pem[300], out[4096], err[4096];
    snprintf(prim, sizeof(prim), "%s/prim.ctx", P.dir);
    snprintf(pub, sizeof(pub), "%s/forge.pub", P.dir);
    snprintf(priv, sizeof(priv), "%s/forge.priv", P.dir);
    snprintf(key, sizeof(key), "%s/forge.ctx", P.dir);
    snprintf(pem, sizeof(pem), "%s/forge.pem", P.dir);
    const char *cp[] = {"tpm2_createprimary", "-Q", "-C", "o", "-g", "sha256", "-G", "ecc",
                        "-c", prim, NULL};
    const char *cr[] = {"tpm2_create", "-Q", "-C", prim, "-G", "ecc256:ecdsa-sha256", "-a",
                        "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign", "-u", pub,
                        "-r", priv, NULL};
    const char *ld[] = {"tpm2_load", "-Q", "-C", prim, "-u", pub, "-r", priv, "-c", key, NULL};
    const char *rp[] = {"tpm2_readpublic", "-Q", "-c", key, "-f", "pem", "-o", pem, NULL};
    const char *fl[] = {"tpm2_flushcontext", "-t", NULL};
    const char *const *steps[] = {cp, fl, cr, fl, ld, rp, fl};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        cr_assert_eq(test_platform_tool(&P, steps[i], out, sizeof(out), err, sizeof(err)), 0,
                     "%s: %s", steps[i][0], err);
}

static void forge_sign(const uint8_t *data, size_t len, ProtobufCBinaryData *sig_out)
{
    char msg[300], sig[300], key[300], out[4096], err[4096];
    snprintf(msg, sizeof(msg), "%s/forged.attest", P.dir);
    snprintf(sig, sizeof(sig), "%s/forged.sig", P.dir);
    snprintf(key, sizeof(key), "%s/forge.ctx", P.dir);
    write_file(msg, data, len);
    const char *sg[] = {"tpm2_sign", "-Q", "-c", key, "-g", "sha256", "-s", "ecdsa", "-f", "tss",
                        "-o", sig, msg, NULL};
    cr_assert_eq(test_platform_tool(&P, sg, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    const char *fl[] = {"tpm2_flushcontext", "-t", NULL};
    cr_assert_eq(test_platform_tool(&P, fl, out, sizeof(out), err, sizeof(err)), 0);
    char *buf = NULL;
    size_t n = 0;
    cr_assert_eq(read_small_file(sig, 4096, &buf, &n), SRTM_OK);
    sig_out->data = (uint8_t *)buf;
    sig_out->len = n;
}

/* Evidence whose quote and certificate attests are patched by patch() and signed with the
 * forged key; verified against the forged key's PEM. */
static srtm_verify_result *forged(const uint8_t *ev, size_t len, void (*patch)(uint8_t *),
                                  srtm_err *err)
{
    Srtm__Evidence *e = unpack(ev, len);
    ProtobufCBinaryData qs, cs;
    patch(e->quote->attest.data);
    patch(e->irk_certificate->attest.data);
    forge_sign(e->quote->attest.data, e->quote->attest.len, &qs);
    forge_sign(e->irk_certificate->attest.data, e->irk_certificate->attest.len, &cs);
    ProtobufCBinaryData keep_q = e->quote->signature, keep_c = e->irk_certificate->signature;
    e->quote->signature = qs;
    e->irk_certificate->signature = cs;
    uint8_t *bad;
    size_t bad_len;
    pack(e, &bad, &bad_len);
    e->quote->signature = keep_q;
    e->irk_certificate->signature = keep_c;
    free(qs.data);
    free(cs.data);
    srtm__evidence__free_unpacked(e, NULL);
    char pem[300];
    snprintf(pem, sizeof(pem), "%s/forge.pem", P.dir);
    char *pol = policy(&P, NULL, NULL);
    srtm_verify_result *r = verify_full(bad, bad_len, pem, pol, NONCE, err);
    free(pol);
    free(bad);
    return r;
}

static void patch_magic(uint8_t *attest)
{
    attest[3] ^= 0x01; /* TPM_GENERATED_VALUE 0xff544347 -> 0xff544346 */
}

static void patch_type(uint8_t *attest)
{
    attest[5] = 0x17; /* TPM_ST_ATTEST_QUOTE 0x8018 -> TPM_ST_ATTEST_CERTIFY 0x8017 */
}

Test(verify, tpm2_sign_over_a_forged_attest_is_refused)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    forge_key();
    srtm_err err;
    srtm_verify_result *r = forged(ev, len, patch_magic, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    /* The forged key's signatures verify: only the structure gives the forgery away. */
    expect_check(r, "quote-signature", true, NULL);
    expect_check(r, "certificate-signature", true, NULL);
    expect_check(r, "quote-attest", false, "not TPM_GENERATED_VALUE");
    expect_check(r, "certificate-attest", false, "not TPM_GENERATED_VALUE");
    expect_check(r, "irk-signature", true, NULL);
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    /* TPM_GENERATED kept (a non-restricted key signs it), the type changed. */
    r = forged(ev, len, patch_type, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    expect_check(r, "quote-signature", true, NULL);
    expect_check(r, "quote-attest", false, "not TPM_ST_ATTEST_QUOTE");
    expect_check(r, "certificate-attest", false, "not TPM_ST_ATTEST_QUOTE");
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    free(ev);
}

/* ---- CCR values and logs -------------------------------------------------------------- */

/* A hand-built component: CCR 0 with the log "kernel", "initrd" and value v. */
static void hand_built(Srtm__ReportComponent *c, Srtm__ReportCcr *ccr, Srtm__ReportCcr **ccrs,
                       Srtm__LogEntry *e, Srtm__LogEntry **log, uint8_t d[2][SRTM_DIGEST_LEN],
                       uint8_t value[SRTM_DIGEST_LEN])
{
    srtm__report_component__init(c);
    srtm__report_ccr__init(ccr);
    c->name = "vm-a";
    c->handle = 1;
    c->n_ccrs = 1;
    c->ccrs = ccrs;
    ccrs[0] = ccr;
    ccr->index = 0;
    ccr->value.data = value;
    ccr->value.len = SRTM_DIGEST_LEN;
    ccr->n_log = 2;
    ccr->log = log;
    const char *data[2] = {"kernel", "initrd"};
    uint8_t acc[SRTM_DIGEST_LEN] = {0};
    for (int i = 0; i < 2; i++) {
        srtm__log_entry__init(&e[i]);
        cr_assert_eq(srtm_sha256(data[i], 6, d[i]), SRTM_OK);
        e[i].index = (uint64_t)i;
        e[i].digest.data = d[i];
        e[i].digest.len = SRTM_DIGEST_LEN;
        log[i] = &e[i];
        uint8_t two[2 * SRTM_DIGEST_LEN];
        memcpy(two, acc, SRTM_DIGEST_LEN);
        memcpy(two + SRTM_DIGEST_LEN, d[i], SRTM_DIGEST_LEN);
        cr_assert_eq(srtm_sha256(two, sizeof(two), acc), SRTM_OK);
    }
    memcpy(value, acc, SRTM_DIGEST_LEN);
}

Test(verify, a_ccr_value_not_matching_its_log_unit)
{
    Srtm__ReportComponent c;
    Srtm__ReportCcr ccr, *ccrs[1];
    Srtm__LogEntry e[2], *log[2];
    uint8_t d[2][SRTM_DIGEST_LEN], value[SRTM_DIGEST_LEN];
    hand_built(&c, &ccr, ccrs, e, log, d, value);
    srtm_verifier_policy *pol = NULL;
    char msg[256];
    const char *text = "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                       "\"pcrs\":{\"proof\":{\"0\":\"" "00000000000000000000000000000000"
                       "00000000000000000000000000000000\"},\"running\":{\"0\":\""
                       "0000000000000000000000000000000000000000000000000000000000000001\"}},"
                       "\"require\":[\"vm-a\"],\"unlisted\":\"replay-only\"}";
    cr_assert_eq(srtm_policy_parse(text, strlen(text), NULL, &pol, msg, sizeof(msg)), SRTM_OK,
                 "%s", msg);
    verify_verdict v = {.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_assert(v.trusted, "%s", v.n_reasons ? v.reasons[0] : "");
    verdict_clear(&v);
    value[7] ^= 0x20;
    v = (verify_verdict){.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_assert(!v.trusted);
    cr_assert_eq(v.n_reasons, 1);
    cr_assert(strstr(v.reasons[0], "CCR 0: value does not match the replay of its 2 log") !=
              NULL, "%s", v.reasons[0]);
    verdict_clear(&v);
    /* An entry dropped from the log: the replay differs too. */
    value[7] ^= 0x20;
    ccr.n_log = 1;
    v = (verify_verdict){.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_assert(!v.trusted);
    verdict_clear(&v);
    srtm_policy_free(pol);
}

Test(verify, a_ccr_value_edited_in_real_evidence_breaks_the_irk_signature)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    Srtm__Evidence *e = unpack(ev, len);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    cr_assert(rep != NULL);
    bool edited = false;
    for (size_t i = 0; i < rep->n_components && !edited; i++)
        if (strcmp(rep->components[i]->name, "vm-a") == 0) {
            rep->components[i]->ccrs[0]->value.data[0] ^= 1;
            edited = true;
        }
    cr_assert(edited);
    size_t n = srtm__ccr_report__get_packed_size(rep);
    uint8_t *buf = malloc(n);
    srtm__ccr_report__pack(rep, buf);
    srtm__ccr_report__free_unpacked(rep, NULL);
    ProtobufCBinaryData keep = e->report;
    e->report.data = buf;
    e->report.len = n;
    uint8_t *bad;
    size_t bad_len;
    pack(e, &bad, &bad_len);
    e->report = keep;
    free(buf);
    srtm__evidence__free_unpacked(e, NULL);
    srtm_err err;
    srtm_verify_result *r = verify_default(bad, bad_len, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *f[] = {"quote-qualifier", "irk-signature", NULL};
    expect_failed_exactly(r, f);
    size_t a = comp_index(r, "vm-a");
    cr_assert(!srtm_verify_result_component_trusted(r, a));
    cr_assert(comp_reason_has(r, a, "value does not match the replay"));
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    free(bad);
    free(ev);
}

Test(verify, a_log_entry_outside_the_allowlist)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    char k[65], i[65];
    digest_hex("kernel", k);
    digest_hex("initrd", i);
    char rule[256];
    snprintf(rule, sizeof(rule), "{\"allowed_digests\":[\"%s\"]}", k);
    char *pol = policy(&P, rule, NULL);
    srtm_err err;
    srtm_verify_result *r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    const char *none[] = {NULL};
    expect_failed_exactly(r, none);
    size_t a = comp_index(r, "vm-a"), b = comp_index(r, "vm-b");
    cr_assert(!srtm_verify_result_component_trusted(r, a));
    cr_assert_eq(srtm_verify_result_component_reason_count(r, a), 1);
    cr_assert(comp_reason_has(r, a, i), "%s", srtm_verify_result_component_reason(r, a, 0));
    cr_assert(comp_reason_has(r, a, "log entry 1"));
    cr_assert(srtm_verify_result_component_trusted(r, b));
    srtm_verify_result_free(r);
    /* The CLI says the same, and exits 1. */
    char polpath[300], evpath[300], out[8192], errt[4096];
    snprintf(polpath, sizeof(polpath), "%s/policy.json", P.dir);
    snprintf(evpath, sizeof(evpath), "%s/ev.bin", P.dir);
    write_file(polpath, pol, strlen(pol));
    write_file(evpath, ev, len);
    const char *v[] = {test_binary("SRTMCTL"), "verify", evpath, "--aik", P.aik_pem, "--policy",
                       polpath, "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(v, out, sizeof(out), errt, sizeof(errt)), 1, "%s", errt);
    char want[256];
    snprintf(want, sizeof(want), "vm-a: untrusted: CCR 0: log entry 1 digest %s", i);
    cr_assert(strstr(out, want) != NULL, "%s", out);
    cr_assert(strstr(out, "vm-b: trusted\n") != NULL, "%s", out);
    free(pol);

    /* An expected value instead: the right one is trusted, another is not. */
    Srtm__Evidence *e = unpack(ev, len);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    char value[65] = "";
    for (size_t c = 0; c < rep->n_components; c++)
        if (strcmp(rep->components[c]->name, "vm-a") == 0)
            cr_assert_eq(hex_encode(rep->components[c]->ccrs[0]->value.data, 32, value, 65),
                         SRTM_OK);
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(e, NULL);
    snprintf(rule, sizeof(rule), "{\"expected_value\":\"%s\"}", value);
    pol = policy(&P, rule, NULL);
    r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_OK);
    srtm_verify_result_free(r);
    free(pol);
    value[0] = value[0] == '0' ? '1' : '0';
    snprintf(rule, sizeof(rule), "{\"expected_value\":\"%s\"}", value);
    pol = policy(&P, rule, NULL);
    r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    cr_assert(comp_reason_has(r, comp_index(r, "vm-a"), "is not the expected value"));
    srtm_verify_result_free(r);
    free(pol);
    free(ev);
}

Test(verify, a_required_component_missing_from_the_report)
{
    test_platform_start(&P);
    populate(&P);
    uint8_t *ev = NULL;
    size_t len = 0;
    const char *only_b[] = {"vm-b"};
    quote(&P, only_b, 1, &ev, &len);
    srtm_err err;
    srtm_verify_result *r = verify_default(ev, len, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    size_t a = comp_index(r, "vm-a");
    cr_assert(!srtm_verify_result_component_trusted(r, a));
    cr_assert_str_eq(srtm_verify_result_component_reason(r, a, 0), "missing from the report");
    cr_assert(srtm_verify_result_component_trusted(r, comp_index(r, "vm-b")));
    srtm_verify_result_free(r);
    /* Requiring only vm-b with rules for vm-a still in the policy: vm-a's rules meet
     * nothing in the report, which fails closed (they might be a typo). */
    char *pol = policy(&P, NULL, "[\"vm-b\"]");
    r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
    cr_assert_eq(err, SRTM_E_DENIED);
    a = comp_index(r, "vm-a");
    cr_assert_str_eq(srtm_verify_result_component_reason(r, a, 0),
                     "named in the policy but not in the report");
    cr_assert(srtm_verify_result_component_trusted(r, comp_index(r, "vm-b")));
    srtm_verify_result_free(r);
    free(pol);
    /* A policy about vm-b alone: the verdict is good. */
    char b[65], comps[300];
    digest_hex("app", b);
    snprintf(comps, sizeof(comps),
             "\"vm-b\":{\"ccrs\":{\"0\":{\"allowed_digests\":[]},\"1\":{\"allowed_digests\":"
             "[\"%s\"]}}}",
             b);
    r = verify_comps(ev, len, comps, ",\"require\":[\"vm-b\"]", &err);
    cr_assert_eq(err, SRTM_OK);
    srtm_verify_result_free(r);
    free(ev);
}

/* The dependency rule on a report srtmd built: a quote about vm-b covers its closure, the
 * platform, and vm-b is trusted only if the platform is. (Hand-built graphs are tested in
 * test_verify_graph.c.) */
Test(verify, the_dependency_rule_on_real_evidence)
{
    test_platform_start(&P);
    populate(&P);
    uint8_t *ev = NULL;
    size_t len = 0;
    /* Something measured into the platform's CCR 0 (an unmeasured component 0 is
     * described by the PCRs alone). */
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &P.d.admin, "platform", 0, "boot-cfg", 8, 1, "boot-cfg",
                                  NULL),
                 SRTM_OK);
    srtm_close(c);
    const char *only_b[] = {"vm-b"};
    quote(&P, only_b, 1, &ev, &len);
    char a[65];
    digest_hex("app", a);
    const char *unlisted[] = {"replay-only", "untrusted"};
    for (size_t k = 0; k < 2; k++) {
        char *pol = NULL;
        cr_assert(asprintf(&pol,
                           "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                           "\"pcrs\":{\"reference_file\":\"%s\"},\"components\":{\"vm-b\":"
                           "{\"ccrs\":{\"0\":{\"allowed_digests\":[]},"
                           "\"1\":{\"allowed_digests\":[\"%s\"]}}}},"
                           "\"require\":[\"vm-b\"],\"unlisted\":\"%s\"}",
                           P.ref, a, unlisted[k]) > 0);
        srtm_err err;
        srtm_verify_result *r = verify_full(ev, len, P.aik_pem, pol, NONCE, &err);
        size_t plat = comp_index(r, "platform"), b = comp_index(r, "vm-b");
        cr_assert_eq(srtm_verify_result_component_count(r), 2, "the closure of vm-b");
        if (k == 0) {
            cr_expect_eq(err, SRTM_OK);
            cr_expect(srtm_verify_result_component_trusted(r, plat));
            cr_expect(srtm_verify_result_component_trusted(r, b), "%s",
                      srtm_verify_result_component_reason(r, b, 0));
        } else {
            /* The platform's CCRs are not named: it is untrusted, and so is vm-b, whose
             * own CCR passes. */
            cr_expect_eq(err, SRTM_E_DENIED);
            cr_expect(!srtm_verify_result_component_trusted(r, plat));
            cr_expect(!srtm_verify_result_component_trusted(r, b));
            cr_expect_eq(srtm_verify_result_component_reason_count(r, b), 1);
            cr_expect_str_eq(srtm_verify_result_component_reason(r, b, 0),
                             "depends on platform, which is untrusted: not named in the policy "
                             "(\"unlisted\": \"untrusted\")");
        }
        srtm_verify_result_free(r);
        free(pol);
    }
    free(ev);
}

/* Reversible CCRs: the verifier replays revert markers itself and checks srtmd's
 * "reverted" flags against them; a reverted measurement outside the allowlist no longer
 * counts (that is how a component regains trust). */
Test(verify, reverted_logs_are_replayed_and_checked_unit)
{
    Srtm__ReportComponent c;
    Srtm__ReportCcr ccr, *ccrs[1];
    Srtm__LogEntry e[3], *log[3];
    uint8_t d[2][SRTM_DIGEST_LEN], value[SRTM_DIGEST_LEN];
    hand_built(&c, &ccr, ccrs, e, log, d, value);
    /* kernel (seq 10, live), initrd (seq 11, reverted), marker back to seq 10. */
    ccr.policy = SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    e[0].seq = 10;
    e[1].seq = 11;
    e[1].reverted = true;
    srtm__log_entry__init(&e[2]);
    e[2].index = 2;
    e[2].seq = 12;
    e[2].revert_marker = true;
    e[2].revert_to_seq = 10;
    log[2] = &e[2];
    ccr.n_log = 3;
    uint8_t two[2 * SRTM_DIGEST_LEN] = {0};
    memcpy(two + SRTM_DIGEST_LEN, d[0], SRTM_DIGEST_LEN);
    cr_assert_eq(srtm_sha256(two, sizeof(two), value), SRTM_OK); /* value after kernel */
    char hex[2 * SRTM_DIGEST_LEN + 1];
    cr_assert_eq(hex_encode(d[0], SRTM_DIGEST_LEN, hex, sizeof(hex)), SRTM_OK);
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
             "\"pcrs\":{\"proof\":{\"0\":\"%064d\"},\"running\":{\"0\":\"%064d\"}},"
             "\"components\":{\"vm-a\":{\"ccrs\":{\"0\":{\"allowed_digests\":[\"%s\"]}}}}}",
             0, 1, hex);
    srtm_verifier_policy *pol = NULL;
    char msg[256];
    cr_assert_eq(srtm_policy_parse(text, strlen(text), NULL, &pol, msg, sizeof(msg)), SRTM_OK,
                 "%s", msg);
    /* Consistent: trusted, although initrd is not in the allowlist (it was reverted). */
    verify_verdict v = {.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_expect(v.trusted, "%s", v.n_reasons ? v.reasons[0] : "");
    verdict_clear(&v);
    /* The flag without the undo, the undo without the flag, a marker to nowhere, and a
     * marker in an irreversible CCR are each refused. */
    e[1].reverted = false;
    v = (verify_verdict){.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_expect(!v.trusted, "an undone measurement not flagged reverted was accepted");
    verdict_clear(&v);
    e[1].reverted = true;
    e[0].reverted = true;
    v = (verify_verdict){.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_expect(!v.trusted, "a live measurement flagged reverted was accepted");
    verdict_clear(&v);
    e[0].reverted = false;
    e[2].revert_to_seq = 11;
    v = (verify_verdict){.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_expect(!v.trusted, "a marker naming a reverted measurement was accepted");
    verdict_clear(&v);
    e[2].revert_to_seq = 10;
    ccr.policy = SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE;
    v = (verify_verdict){.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_expect(!v.trusted, "a marker in an irreversible CCR was accepted");
    verdict_clear(&v);
    /* Without the revert, initrd counts again and is not allowed. */
    ccr.policy = SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    e[1].reverted = false;
    ccr.n_log = 2;
    uint8_t v2[2 * SRTM_DIGEST_LEN];
    memcpy(v2, value, SRTM_DIGEST_LEN);
    memcpy(v2 + SRTM_DIGEST_LEN, d[1], SRTM_DIGEST_LEN);
    cr_assert_eq(srtm_sha256(v2, sizeof(v2), value), SRTM_OK);
    v = (verify_verdict){.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    cr_expect(!v.trusted, "a live measurement outside the allowlist was accepted");
    verdict_clear(&v);
    srtm_policy_free(pol);
}

/* ---- names that mean one thing ---------------------------------------------------------- */

static size_t path_index(const srtm_verify_result *r, const char *path)
{
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        if (strcmp(srtm_verify_result_component_path(r, i), path) == 0)
            return i;
    cr_assert_fail("no verdict for the path %s", path);
    return 0;
}

/*
 * A compromised agent registers a child named vm-b before the one meant to (dm, or the
 * platform) can: srtmd's names are first come, first served. The squatter measures what
 * the real vm-b would. A policy written for the real vm-b, by bare name (a child of the
 * platform) or by path (under dm), never gives the squatter vm-b's rules, and the verdict
 * about vm-b fails; a policy that names the squatter by its own path trusts it, so the
 * refusals are about the path alone.
 */
Test(verify, a_squatted_name_never_gets_the_real_ones_rules)
{
    test_platform_start(&P);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    srtm_cap agent, dm, squat, dmcap;
    uint64_t h;
    cr_assert_eq(srtm_register(c, &P.d.admin, "agent", 1, &h, &agent), SRTM_OK);
    cr_assert_eq(srtm_register(c, &P.d.admin, "dm", 1, &h, &dm), SRTM_OK);
    cr_assert_eq(srtm_register_child(c, &agent, "agent", "vm-b", 1, NULL, 0, NULL, 0, &h, &squat),
                 SRTM_OK);
    /* The real one cannot register any more, neither under dm nor under the platform. */
    cr_assert_neq(srtm_register_child(c, &dm, "dm", "vm-b", 1, NULL, 0, NULL, 0, &h, &dmcap),
                  SRTM_OK);
    cr_assert_neq(srtm_register(c, &P.d.admin, "vm-b", 1, &h, &dmcap), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &squat, "vm-b", 0, "app", 3, 1, "app", NULL), SRTM_OK);
    srtm_close(c);
    uint8_t *ev = NULL;
    size_t len = 0;
    quote(&P, NULL, 0, &ev, &len);
    char a[65], rule[300], comps[400];
    digest_hex("app", a);
    snprintf(rule, sizeof(rule), "{\"ccrs\":{\"0\":{\"allowed_digests\":[\"%s\"]}}}", a);
    /* 1. The policy of the flat case: bare "vm-b", a child of the platform. */
    srtm_err err;
    snprintf(comps, sizeof(comps), "\"vm-b\":%s", rule);
    srtm_verify_result *r = verify_comps(ev, len, comps, ",\"require\":[\"vm-b\"]", &err);
    cr_expect_eq(err, SRTM_E_DENIED);
    size_t sq = path_index(r, "platform/agent/vm-b");
    cr_expect_str_eq(srtm_verify_result_component_name(r, sq), "vm-b");
    cr_expect(!srtm_verify_result_component_trusted(r, sq));
    cr_expect(comp_reason_has(r, sq, "not named in the policy"), "%s",
              srtm_verify_result_component_reason(r, sq, 0));
    /* The verdict about the name the policy meant: missing, not the squatter's. */
    size_t want = path_index(r, "vm-b");
    cr_expect(!srtm_verify_result_component_trusted(r, want));
    cr_expect_str_eq(srtm_verify_result_component_reason(r, want, 0), "missing from the report");
    srtm_verify_result_free(r);
    /* 2. The real vm-b named by its path under dm, even with "unlisted": "replay-only". */
    snprintf(comps, sizeof(comps), "\"platform/dm/vm-b\":%s", rule);
    r = verify_comps(ev, len, comps,
                     ",\"require\":[\"platform/dm/vm-b\"],\"unlisted\":\"replay-only\"", &err);
    cr_expect_eq(err, SRTM_E_DENIED);
    want = path_index(r, "platform/dm/vm-b");
    cr_expect(!srtm_verify_result_component_trusted(r, want));
    cr_expect_str_eq(srtm_verify_result_component_reason(r, want, 0), "missing from the report");
    srtm_verify_result_free(r);
    /* 3. The control: the same rule under the squatter's own path is met. */
    snprintf(comps, sizeof(comps), "\"platform/agent/vm-b\":%s", rule);
    r = verify_comps(ev, len, comps,
                     ",\"require\":[\"platform/agent/vm-b\"],\"unlisted\":\"replay-only\"",
                     &err);
    cr_expect_eq(err, SRTM_OK);
    cr_expect(srtm_verify_result_component_trusted(r, path_index(r, "platform/agent/vm-b")));
    srtm_verify_result_free(r);

    /* Through srtmctl: every verdict line starts with the path; --json has "path". */
    const char *ctl = test_binary("SRTMCTL");
    char evpath[300], polpath[300], out[8192], errs[4096];
    snprintf(evpath, sizeof(evpath), "%s/squat.bin", P.dir);
    snprintf(polpath, sizeof(polpath), "%s/squat.json", P.dir);
    write_file(evpath, ev, len);
    char *pol = NULL;
    cr_assert(asprintf(&pol,
                       "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                       "\"pcrs\":{\"reference_file\":\"%s\"},\"components\":{\"vm-b\":{\"ccrs\":"
                       "{\"0\":{\"allowed_digests\":[\"%s\"]}}}},\"require\":[\"vm-b\"]}",
                       P.ref, a) > 0);
    write_file(polpath, pol, strlen(pol));
    free(pol);
    const char *v[] = {ctl, "verify", evpath, "--aik", P.aik_pem, "--policy", polpath,
                       "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(v, out, sizeof(out), errs, sizeof(errs)), 1, "%s%s", out, errs);
    cr_expect(strstr(out, "\nplatform/agent/vm-b: untrusted: not named in the policy") != NULL,
              "%s", out);
    cr_expect(strstr(out, "\nvm-b: untrusted: missing from the report") != NULL, "%s", out);
    cr_expect(strstr(out, "vm-b: trusted") == NULL, "%s", out);
    const char *vj[] = {ctl, "--json", "verify", evpath, "--aik", P.aik_pem, "--policy",
                        polpath, "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(vj, out, sizeof(out), errs, sizeof(errs)), 1, "%s%s", out, errs);
    cr_expect(strstr(out, "{\"component\":\"vm-b\",\"path\":\"platform/agent/vm-b\","
                          "\"trusted\":false,") != NULL,
              "%s", out);
    cr_expect(strstr(out, "{\"component\":\"platform\",\"path\":\"platform\",\"trusted\":"
                          "true}") != NULL,
              "%s", out);
    /* srtmctl's commands take the path too, and refuse a path the name is not at. */
    const char *rd[] = {ctl, "--socket", P.d.url, "read", "platform/agent/vm-b", "0", NULL};
    cr_expect_eq(test_run(rd, out, sizeof(out), errs, sizeof(errs)), 0, "%s", errs);
    const char *lg[] = {ctl, "--socket", P.d.url, "log", "platform/agent/vm-b", "0", NULL};
    cr_expect_eq(test_run(lg, out, sizeof(out), errs, sizeof(errs)), 0, "%s", errs);
    cr_expect(strstr(out, "app") != NULL, "%s", out);
    const char *wrong[] = {ctl, "--socket", P.d.url, "read", "platform/dm/vm-b", "0", NULL};
    cr_expect_neq(test_run(wrong, out, sizeof(out), errs, sizeof(errs)), 0);
    cr_expect(strstr(errs, "no component at the path platform/dm/vm-b ('vm-b' is at "
                           "platform/agent/vm-b)") != NULL,
              "%s", errs);
    const char *flat[] = {ctl, "--socket", P.d.url, "read", "platform/vm-b", "0", NULL};
    cr_expect_neq(test_run(flat, out, sizeof(out), errs, sizeof(errs)), 0);
    free(ev);
}

/* What the policy names must be in the report: a key with a typo does not silently drop
 * the rules of the component it meant. */
Test(verify, a_typo_in_a_policy_key_fails)
{
    test_platform_start(&P);
    populate(&P);
    uint8_t *ev = NULL;
    size_t len = 0;
    quote(&P, NULL, 0, &ev, &len);
    char k[65], i[65], a[65];
    digest_hex("kernel", k);
    digest_hex("initrd", i);
    digest_hex("app", a);
    const char *keys[] = {"vm-a", "vm-wbe", "vm-wbe"};
    const char *tail[] = {"", "", ",\"unlisted\":\"replay-only\""};
    for (size_t t = 0; t < 3; t++) {
        char comps[600];
        snprintf(comps, sizeof(comps),
                 "\"%s\":{\"ccrs\":{\"0\":{\"allowed_digests\":[\"%s\",\"%s\"]}}},"
                 "\"vm-b\":{\"ccrs\":{\"0\":{\"allowed_digests\":[]},"
                 "\"1\":{\"allowed_digests\":[\"%s\"]}}}",
                 keys[t], k, i, a);
        srtm_err err;
        srtm_verify_result *r = verify_comps(ev, len, comps, tail[t], &err);
        if (t == 0) {
            cr_expect_eq(err, SRTM_OK, "the genuine policy: %s",
                         srtm_verify_result_component_reason(r, 0, 0));
        } else {
            cr_expect_eq(err, SRTM_E_DENIED, "case %zu", t);
            size_t typo = comp_index(r, "vm-wbe");
            cr_expect(!srtm_verify_result_component_trusted(r, typo));
            cr_expect_str_eq(srtm_verify_result_component_reason(r, typo, 0),
                             "named in the policy but not in the report");
            /* vm-a itself: unlisted, untrusted by default; replay-only judges its replay. */
            cr_expect_eq(srtm_verify_result_component_trusted(r, comp_index(r, "vm-a")), t == 2);
        }
        srtm_verify_result_free(r);
    }
    free(ev);
}

/* ---- reports srtmd would never sign, signed anyway ---------------------------------------- */

/* The extraData (qualifyingData) of a marshalled TPMS_ATTEST: after magic, type and the
 * qualifiedSigner TPM2B_NAME, a TPM2B_DATA of 32 bytes here. */
static uint8_t *extra_data(ProtobufCBinaryData *attest)
{
    const uint8_t *a = attest->data;
    cr_assert(attest->len > 8);
    size_t name = (size_t)a[6] << 8 | a[7], off = 8 + name;
    cr_assert(attest->len > off + 2 + SRTM_DIGEST_LEN);
    cr_assert_eq((size_t)a[off] << 8 | a[off + 1], SRTM_DIGEST_LEN);
    return attest->data + off + 2;
}

/*
 * Evidence for report bytes of the test's choosing, as a compromised srtmd could make it:
 * the report signed by a fresh IRK, the certificate and quote attests rewritten to that
 * IRK and report and signed by the forge key (forge_key), which the verifier is then given
 * as the AIK. Everything but the report's content verifies, so a refusal is about the
 * content alone. *out is the caller's (free).
 */
static void resign(const uint8_t *ev, size_t len, const uint8_t *report, size_t rlen,
                   uint8_t **out, size_t *out_len)
{
    Srtm__Evidence *e = unpack(ev, len);
    irk *k = NULL;
    uint8_t pub[IRK_PUB_DER_MAX], sig[IRK_SIG_MAX];
    size_t pub_len = 0, sig_len = 0;
    cr_assert_eq(irk_generate(&k), SRTM_OK);
    cr_assert_eq(irk_public_der(k, pub, &pub_len), SRTM_OK);
    cr_assert_eq(irk_sign_report(k, NONCE, sizeof(NONCE), report, rlen, sig, &sig_len), SRTM_OK);
    irk_free(k);
    cr_assert_eq(irk_cert_qualifier(pub, pub_len, extra_data(&e->irk_certificate->attest)),
                 SRTM_OK);
    cr_assert_eq(irk_quote_qualifier(NONCE, sizeof(NONCE), report, rlen,
                                     extra_data(&e->quote->attest)),
                 SRTM_OK);
    ProtobufCBinaryData qs, cs;
    forge_sign(e->quote->attest.data, e->quote->attest.len, &qs);
    forge_sign(e->irk_certificate->attest.data, e->irk_certificate->attest.len, &cs);
    ProtobufCBinaryData keep[5] = {e->quote->signature, e->irk_certificate->signature, e->report,
                                   e->irk_public, e->irk_signature};
    e->quote->signature = qs;
    e->irk_certificate->signature = cs;
    e->report = (ProtobufCBinaryData){.data = (uint8_t *)report, .len = rlen};
    e->irk_public = (ProtobufCBinaryData){.data = pub, .len = pub_len};
    e->irk_signature = (ProtobufCBinaryData){.data = sig, .len = sig_len};
    pack(e, out, out_len);
    e->quote->signature = keep[0];
    e->irk_certificate->signature = keep[1];
    e->report = keep[2];
    e->irk_public = keep[3];
    e->irk_signature = keep[4];
    free(qs.data);
    free(cs.data);
    srtm__evidence__free_unpacked(e, NULL);
}

/* The report of ev, unpacked (srtm__ccr_report__free_unpacked). */
static Srtm__CcrReport *report_of(const uint8_t *ev, size_t len)
{
    Srtm__Evidence *e = unpack(ev, len);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    srtm__evidence__free_unpacked(e, NULL);
    cr_assert(rep != NULL);
    return rep;
}

static Srtm__ReportComponent *component_named(Srtm__CcrReport *rep, const char *name)
{
    for (size_t i = 0; i < rep->n_components; i++)
        if (strcmp(rep->components[i]->name, name) == 0)
            return rep->components[i];
    cr_assert_fail("no component %s in the report", name);
    return NULL;
}

/* rep packed, re-signed (resign) and verified with the forge key and the default policy. */
static srtm_verify_result *verify_signed(const uint8_t *ev, size_t len, const Srtm__CcrReport *rep,
                                         const char *nul_at, srtm_err *err)
{
    size_t rlen = srtm__ccr_report__get_packed_size(rep);
    uint8_t *bytes = malloc(rlen);
    cr_assert(bytes != NULL);
    srtm__ccr_report__pack(rep, bytes);
    if (nul_at != NULL) { /* the first 'X' after nul_at becomes a NUL byte */
        uint8_t *at = memmem(bytes, rlen, nul_at, strlen(nul_at));
        cr_assert(at != NULL);
        at = memchr(at, 'X', rlen - (size_t)(at - bytes));
        cr_assert(at != NULL);
        *at = '\0';
    }
    uint8_t *forged_ev = NULL;
    size_t forged_len = 0;
    resign(ev, len, bytes, rlen, &forged_ev, &forged_len);
    free(bytes);
    char pem[300];
    snprintf(pem, sizeof(pem), "%s/forge.pem", P.dir);
    char *pol = policy(&P, NULL, NULL);
    srtm_verify_result *r = verify_full(forged_ev, forged_len, pem, pol, NONCE, err);
    free(pol);
    free(forged_ev);
    return r;
}

/* Only report-parse fails (and the checks built on it); nothing of the report is read. */
static void expect_report_refused(const srtm_verify_result *r, const char *reason_part)
{
    const char *failed[] = {"report-parse", "format", "same-boot", "report-handles", "continuity",
                            NULL};
    expect_failed_exactly(r, failed);
    expect_check(r, "report-parse", false, reason_part);
    cr_expect_str_eq(srtm_verify_result_component_reason(r, comp_index(r, "vm-a"), 0),
                     "missing from the report");
    expect_no_component_trusted(r);
}

/*
 * Names and descriptions are text: a NUL byte inside a name (which protobuf-c would cut
 * short, so that "vm-a\0x" reads as "vm-a" and satisfies require: ["vm-a"]), a name or a
 * description that is not UTF-8, a name with '/', and an empty report are refused, each in
 * a report signed by a certified-looking IRK. The unchanged report, re-signed the same way,
 * verifies: the harness alone refuses nothing.
 */
Test(verify, names_and_descriptions_must_be_text_in_signed_reports)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    forge_key();
    srtm_err err;
    Srtm__CcrReport *rep = report_of(ev, len);
    srtm_verify_result *r = verify_signed(ev, len, rep, NULL, &err);
    cr_expect_eq(err, SRTM_OK, "the re-signed genuine report: %s",
                 srtm_verify_result_check_reason(r, 1));
    srtm_verify_result_free(r);

    /* NUL in a name: vm-a's own entry, spelled "vm-a\0x". */
    Srtm__ReportComponent *a = component_named(rep, "vm-a");
    char *keep = a->name;
    a->name = "vm-aXx";
    r = verify_signed(ev, len, rep, "vm-aXx", &err);
    cr_expect_eq(err, SRTM_E_DENIED);
    expect_report_refused(r, "does not encode back to its own bytes");
    srtm_verify_result_free(r);
    /* A name that is not UTF-8, and one with the path separator. */
    const char *bad_names[] = {"vm-\xff", "vm-\xc3\x28", "dm/vm-a"};
    for (size_t i = 0; i < 3; i++) {
        a->name = (char *)bad_names[i];
        r = verify_signed(ev, len, rep, NULL, &err);
        cr_expect_eq(err, SRTM_E_DENIED, "name %zu", i);
        expect_report_refused(r, "is not 1 to 128 bytes of UTF-8 without '/'");
        srtm_verify_result_free(r);
    }
    a->name = keep;
    /* A description that is not UTF-8, and one with a NUL byte. */
    Srtm__LogEntry *entry = a->ccrs[0]->log[0];
    char *keep_desc = entry->description;
    entry->description = "vmlinuz\xc3";
    r = verify_signed(ev, len, rep, NULL, &err);
    cr_expect_eq(err, SRTM_E_DENIED);
    expect_report_refused(r, "the description is not at most 256 bytes of UTF-8");
    srtm_verify_result_free(r);
    /* ... and srtmctl --json still prints valid UTF-8 JSON about it. */
    entry->description = "vmlinuzXevil";
    r = verify_signed(ev, len, rep, "vmlinuzXevil", &err);
    cr_expect_eq(err, SRTM_E_DENIED);
    expect_report_refused(r, "does not encode back to its own bytes");
    srtm_verify_result_free(r);
    entry->description = keep_desc;

    /* An empty report: all the evidence verifies, and nothing the policy names is there. */
    size_t keep_n = rep->n_components;
    rep->n_components = 0;
    r = verify_signed(ev, len, rep, NULL, &err);
    cr_expect_eq(err, SRTM_E_DENIED);
    const char *none[] = {NULL};
    expect_failed_exactly(r, none);
    cr_expect_eq(srtm_verify_result_component_count(r), 2);
    cr_expect_str_eq(srtm_verify_result_component_reason(r, comp_index(r, "vm-a"), 0),
                     "missing from the report");
    expect_no_component_trusted(r);
    srtm_verify_result_free(r);
    rep->n_components = keep_n;
    srtm__ccr_report__free_unpacked(rep, NULL);
    free(ev);
}

/* --json output of a refused report with bytes that are not UTF-8: valid JSON, valid
 * UTF-8, and not one of the report's names in it. */
Test(verify, json_output_stays_valid_utf8)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    forge_key();
    Srtm__CcrReport *rep = report_of(ev, len);
    Srtm__ReportComponent *b = component_named(rep, "vm-b");
    Srtm__LogEntry *entry = component_named(rep, "vm-a")->ccrs[0]->log[0];
    char *keep_name = b->name, *keep_desc = entry->description;
    b->name = "vm-\xff\xfe";
    entry->description = "\xc3\x28";
    size_t rlen = srtm__ccr_report__get_packed_size(rep);
    uint8_t *bytes = malloc(rlen);
    cr_assert(bytes != NULL);
    srtm__ccr_report__pack(rep, bytes);
    b->name = keep_name;
    entry->description = keep_desc;
    uint8_t *forged_ev = NULL;
    size_t forged_len = 0;
    resign(ev, len, bytes, rlen, &forged_ev, &forged_len);
    free(bytes);
    const char *ctl = test_binary("SRTMCTL");
    char evpath[300], polpath[300], pem[300], out[16384], errs[4096];
    snprintf(evpath, sizeof(evpath), "%s/bad-utf8.bin", P.dir);
    snprintf(polpath, sizeof(polpath), "%s/policy.json", P.dir);
    snprintf(pem, sizeof(pem), "%s/forge.pem", P.dir);
    write_file(evpath, forged_ev, forged_len);
    free(forged_ev);
    char *pol = policy(&P, NULL, NULL);
    write_file(polpath, pol, strlen(pol));
    free(pol);
    const char *vj[] = {ctl, "--json", "verify", evpath, "--aik", pem, "--policy", polpath,
                        "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(vj, out, sizeof(out), errs, sizeof(errs)), 1, "%s%s", out, errs);
    cr_expect(utf8_valid(out, strlen(out)), "%s", out);
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, out, (int)strlen(out));
    cr_expect(o != NULL && json_tokener_get_error(tok) == json_tokener_success, "%s", out);
    json_object_put(o);
    json_tokener_free(tok);
    cr_expect(strstr(out, "\"ok\":false") != NULL, "%s", out);
    cr_expect(strstr(out, "the description is not at most 256 bytes of UTF-8") != NULL, "%s",
              out);
    /* A message quoting a file name that is not UTF-8: the bytes become U+FFFD. */
    const char *vf[] = {ctl, "--json", "verify", "/nonexistent/\xff\xc3", "--aik", pem,
                        "--policy", polpath, "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(vf, out, sizeof(out), errs, sizeof(errs)), 4, "%s%s", out, errs);
    cr_expect(utf8_valid(out, strlen(out)), "%s", out);
    cr_expect(strstr(out, "/nonexistent/\\ufffd\\ufffd") != NULL, "%s", out);
    tok = json_tokener_new();
    o = json_tokener_parse_ex(tok, out, (int)strlen(out));
    cr_expect(o != NULL && json_tokener_get_error(tok) == json_tokener_success, "%s", out);
    json_object_put(o);
    json_tokener_free(tok);
    srtm__ccr_report__free_unpacked(rep, NULL);
    free(ev);
}

/* srtm_verify takes nonces of SRTM_MIN_NONCE to SRTM_MAX_NONCE bytes, as srtmctl does: a
 * 1-byte nonce could be guessed and old evidence replayed. */
Test(verify, a_short_nonce_is_refused_by_the_library)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    start_with_evidence(&ev, &len);
    char *pem = NULL;
    size_t pem_len = 0;
    cr_assert_eq(read_small_file(P.aik_pem, 65536, &pem, &pem_len), SRTM_OK);
    char *text = policy(&P, NULL, NULL);
    srtm_verifier_policy *pol = NULL;
    char msg[512];
    cr_assert_eq(srtm_policy_parse(text, strlen(text), "/", &pol, msg, sizeof(msg)), SRTM_OK,
                 "%s", msg);
    const size_t lens[] = {1, SRTM_MIN_NONCE - 1, SRTM_MAX_NONCE + 1};
    uint8_t nonce[SRTM_MAX_NONCE + 1] = {0};
    for (size_t i = 0; i < 3; i++) {
        srtm_verify_result *r = (srtm_verify_result *)0x1;
        cr_expect_eq(srtm_verify(ev, len, pem, pol, nonce, lens[i], &r), SRTM_E_INVALID,
                     "a nonce of %zu bytes", lens[i]);
        cr_expect_null(r);
    }
    srtm_verify_result *r = NULL;
    cr_expect_eq(srtm_verify(ev, len, pem, pol, NONCE, sizeof(NONCE), &r), SRTM_OK);
    srtm_verify_result_free(r);
    srtm_policy_free(pol);
    free(text);
    free(pem);
    free(ev);
}

/* ---- a policy written from a known-good platform ----------------------------------- */

static srtm_err verify_with_policy_file(const char *polpath, const uint8_t *ev, size_t len,
                                        srtm_verify_result **r)
{
    char msg[512];
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_load(polpath, &pol, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    char pem[4096];
    FILE *f = fopen(P.aik_pem, "r");
    cr_assert(f != NULL);
    size_t n = fread(pem, 1, sizeof(pem) - 1, f);
    fclose(f);
    pem[n] = '\0';
    srtm_err err = srtm_verify(ev, len, pem, pol, NONCE, sizeof(NONCE), r);
    srtm_policy_free(pol);
    return err;
}

Test(verify, a_created_policy_verifies_its_platform_and_refuses_a_changed_component)
{
    test_platform_start(&P);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    srtm_cap a;
    uint64_t h;
    cr_assert_eq(srtm_register(c, &P.d.admin, "vm-a", 1, &h, &a), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &a, "vm-a", 0, "kernel", 6, 1, "vmlinuz", NULL), SRTM_OK);
    srtm_close(c);
    uint8_t *ev = NULL;
    size_t len = 0;
    quote(&P, NULL, 0, &ev, &len);
    char evpath[300], polpath[300], out[4096], err[4096];
    snprintf(evpath, sizeof(evpath), "%s/good.bin", P.dir);
    snprintf(polpath, sizeof(polpath), "%s/created.json", P.dir);
    write_file(evpath, ev, len);
    const char *ctl = test_binary("SRTMCTL");
    const char *pc[] = {ctl, "policy", "create", "--from", evpath, "--reference", P.ref, "-o",
                        polpath, NULL};
    cr_assert_eq(test_run(pc, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    /* An existing policy is never replaced. */
    cr_assert_eq(test_run(pc, out, sizeof(out), err, sizeof(err)), 4, "%s", err);
    srtm_verify_result *r = NULL;
    cr_assert_eq(verify_with_policy_file(polpath, ev, len, &r), SRTM_OK);
    srtm_verify_result_free(r);
    free(ev);
    /* The same platform with one more measurement in vm-a: refused. */
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &a, "vm-a", 0, "rootkit", 7, 1, "rootkit.ko", NULL),
                 SRTM_OK);
    srtm_close(c);
    quote(&P, NULL, 0, &ev, &len);
    cr_assert_eq(verify_with_policy_file(polpath, ev, len, &r), SRTM_E_DENIED);
    bool seen = false;
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        if (strcmp(srtm_verify_result_component_path(r, i), "platform/vm-a") == 0) {
            cr_assert_not(srtm_verify_result_component_trusted(r, i));
            cr_assert(strstr(srtm_verify_result_component_reason(r, i, 0),
                             "(\"rootkit.ko\") is not in the allowlist") != NULL,
                      "%s", srtm_verify_result_component_reason(r, i, 0));
            seen = true;
        }
    cr_assert(seen);
    srtm_verify_result_free(r);
    free(ev);
}

/* ---- the CCR logs as a Canonical Event Log, read by an independent reader ------------ */

static int run_to_file(const char *const *argv, const char *path)
{
    static char out[1 << 20];
    char err[4096];
    int rc = test_run(argv, out, sizeof(out), err, sizeof(err));
    write_file(path, out, strlen(out));
    return rc;
}

Test(verify, the_cel_replays_to_the_reported_ccr_values)
{
    /* Two components, a reversible CCR with a revert: the reverted measurement is not a
     * CEL record, so the replay still gives the value. */
    test_platform_start(&P);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    srtm_cap a, b;
    uint64_t h, s1 = 0;
    const uint32_t rev[] = {1};
    cr_assert_eq(srtm_register(c, &P.d.admin, "vm-a", 1, &h, &a), SRTM_OK);
    cr_assert_eq(srtm_register_child(c, &P.d.admin, NULL, "fw", 2, NULL, 0, rev, 1, &h, &b),
                 SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &a, "vm-a", 0, "kernel", 6, 1, "vmlinuz", NULL), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &b, "fw", 1, "rules-1", 7, 2, "rules", &s1), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &b, "fw", 1, "rules-2", 7, 2, "rules", NULL), SRTM_OK);
    cr_assert_eq(srtm_revert(c, &b, "fw", 1, s1, NULL, NULL, NULL, NULL), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &b, "fw", 0, "fw-image", 8, 1, "fw.img", NULL), SRTM_OK);
    srtm_close(c);
    uint8_t *ev = NULL;
    size_t len = 0;
    quote(&P, NULL, 0, &ev, &len);
    char evpath[300], celpath[300], showpath[300], script[400], out[4096], err[4096];
    snprintf(evpath, sizeof(evpath), "%s/cel-ev.bin", P.dir);
    snprintf(celpath, sizeof(celpath), "%s/cel.json", P.dir);
    snprintf(showpath, sizeof(showpath), "%s/show.json", P.dir);
    write_file(evpath, ev, len);
    free(ev);
    const char *ctl = test_binary("SRTMCTL");
    const char *cel[] = {ctl, "show", "--format", "cel", evpath, NULL};
    const char *show[] = {ctl, "--json", "show", evpath, NULL};
    cr_assert_eq(run_to_file(cel, celpath), 0);
    cr_assert_eq(run_to_file(show, showpath), 0);
    snprintf(script, sizeof(script), "%s/../check-cel.py", getenv("SRTM_TEST_DATA"));
    const char *check[] = {"/usr/bin/python3", script, celpath, showpath, NULL};
    cr_assert_eq(test_run(check, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(out, "3 records, 4 CCRs match") != NULL, "%s", out);
    /* The same from srtmd, one CCR at a time, against 'srtmctl --json read'. */
    const char *lc[] = {ctl, "--socket", P.d.url, "log", "fw", "1", "--format", "cel", NULL};
    const char *rd[] = {ctl, "--socket", P.d.url, "--json", "read", "fw", "1", NULL};
    cr_assert_eq(run_to_file(lc, celpath), 0);
    cr_assert_eq(run_to_file(rd, showpath), 0);
    cr_assert_eq(test_run(check, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    cr_assert(strstr(out, "1 records, 1 CCRs match") != NULL, "%s", out);
    /* The reader is not vacuous: a record srtm did not write breaks the replay. */
    const char *text = "[{\"recnum\":0,\"pcr\":1,\"digests\":[{\"hashAlg\":\"sha256\","
                       "\"digest\":\"0000000000000000000000000000000000000000000000000000000"
                       "000000000\"}],\"content_type\":\"srtm_ccr\",\"content\":{\"handle\":2}}]";
    write_file(celpath, text, strlen(text));
    cr_assert_neq(test_run(check, out, sizeof(out), err, sizeof(err)), 0);
}
