/*
 * The per-boot IRK scheme and one srtmd per TPM, on a real swtpm through the shipped tools
 * (srtm-keymgr enroll/predict; srtm-launch in one step, measuring, extending and executing
 * srtmd --config with "irk-scheme perboot", whose socket and admin capability are in the
 * measured file): every boot has its own IRK, never written to a file, and each boot's
 * evidence verifies as trusted; a key of boot 1 (its certificate and a signature with it)
 * is refused in boot 2; a key certified after the period closed is refused by the
 * certificate's PCR check, and so is the evidence of a srtmd restarted in the same boot.
 * While an srtmd serves the TPM, a second one is kept off three ways: srtmd started
 * directly exits at the lock, srtmd with an unmeasured option exits without closing the
 * period, and srtm-launch refuses before it extends; each time the SRTM PCR stays as it
 * was and the first srtmd's evidence still verifies.
 */
#define _GNU_SOURCE /* asprintf */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "config.h"
#include "helpers.h"
#include "irk.h"
#include "km.h"
#include "launch.h"
#include "srtm.pb-c.h"
#include "verify_int.h"

#define AIK_HANDLE 0x81010002u
#define PROOF_MASK 0x80FFu /* PCRs 0-7 and 15 */
#define NONCE_HEX "00112233445566778899aabbccddeeff"

static const uint8_t NONCE[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

typedef struct platform {
    test_swtpm tpm;
    char dir[256];
    char conf[320], blob[320], ref[320], pem[320];
    test_daemon d;
    bool running;
} platform;

static platform P;

#define KEYMGR(...) \
    test_tool("SRTM_KEYMGR", (const char *const[]){__VA_ARGS__, NULL}, err, sizeof(err))

/* Enrol the AIK and predict the reference for a per-boot configuration that names P.d's
 * socket and admin capability (srtmd with a TPM takes them from the measured file only).
 * No wrap-irk: the scheme has nothing to wrap. irk-blob names a file only to show it is
 * never written. */
static void setup(void)
{
    memset(&P, 0, sizeof(P));
    test_swtpm_start(&P.tpm);
    test_daemon_prepare(&P.d);
    snprintf(P.dir, sizeof(P.dir), "/tmp/srtm-perboot-XXXXXX");
    cr_assert(mkdtemp(P.dir) != NULL);
    snprintf(P.conf, sizeof(P.conf), "%s/srtmd.conf", P.dir);
    snprintf(P.blob, sizeof(P.blob), "%s/irk.sealed", P.dir);
    snprintf(P.ref, sizeof(P.ref), "%s/reference.json", P.dir);
    snprintf(P.pem, sizeof(P.pem), "%s/aik.pem", P.dir);
    char lines[800];
    test_daemon_conf_lines(&P.d, lines, sizeof(lines));
    FILE *f = fopen(P.conf, "w");
    cr_assert(f != NULL);
    /* The lock file named in the configuration: every reader of it (srtmd's start, its
     * early exits, srtm-launch's probe) must take that one, not the default. */
    fprintf(f, "srtm-pcr 15\nproof-pcrs 0-7\nirk-scheme perboot\nirk-blob %s\nlock-file %s/tpm.lock\n%s",
            P.blob, P.dir, lines);
    fclose(f);
    /* The lock file exists from the start, so that it never counts as a file the per-boot
     * scheme wrote. */
    char lock[320];
    snprintf(lock, sizeof(lock), "%s/tpm.lock", P.dir);
    int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "cannot create %s", lock);
    close(fd);
    char err[4096];
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "enroll", "--aik-pem", P.pem), 0, "enroll: %s",
                 err);
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "predict", "--srtmd", test_binary("SRTMD"),
                        "--config", P.conf, "-o", P.ref),
                 0, "predict: %s", err);
}

/* An srtmd still running is stopped checked: a crash or a sanitizer report at its exit
 * fails the test binary. Otherwise only its directory is removed. */
static void teardown(void)
{
    if (P.running)
        test_daemon_stop_checked(&P.d);
    else
        test_daemon_stop(&P.d);
    test_swtpm_stop(&P.tpm);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", P.dir);
}

TestSuite(perboot, .init = setup, .fini = teardown, .timeout = 180);

/* ---- helpers ------------------------------------------------------------------------- */

/* As the unit starts srtmd: srtm-launch measures srtmd and P.conf, extends the SRTM PCR
 * and executes srtmd, which serves once its proof period is over. */
static void launch_srtmd(void)
{
    test_daemon_launch(&P.d, P.tpm.tcti, P.conf, NULL);
    P.running = true;
}

/* What srtm-launch does before its exec, done here: extend the SRTM PCR with srtmd's
 * launch measurement, which puts the TPM in the proof state. exec_srtmd() then starts
 * srtmd in it, and the test can act in the proof state in between. */
static void extend_as_the_launcher(void)
{
    char msg[CONFIG_MSG_MAX];
    srtm_config *c = NULL;
    launch_measurement m;
    km_ctx *ctx = NULL;
    cr_assert_eq(config_load(P.conf, &c, NULL, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(launch_measure(test_binary("SRTMD"), c, &m), SRTM_OK);
    config_free(c);
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_pcr_extend(ctx, 15, m.event), SRTM_OK);
    km_close(ctx);
}

/* srtmd executed directly, with no launcher and no extend before it. */
static void exec_srtmd(void)
{
    test_daemon_exec(&P.d, P.tpm.tcti, P.conf, NULL);
    P.running = true;
}

static void stop_srtmd(void)
{
    cr_assert_eq(test_daemon_stop(&P.d), 0, "srtmd did not exit cleanly");
    P.running = false;
}

static void reboot(void)
{
    if (P.running)
        stop_srtmd();
    test_swtpm_reboot(&P.tpm);
}

/* Register vm-a and extend its CCR 0 with "kernel", then quote it: the evidence. */
static void evidence(uint8_t **ev, size_t *len)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    srtm_cap a;
    uint64_t h;
    cr_assert_eq(srtm_register(c, &P.d.admin, "vm-a", 1, &h, &a), SRTM_OK);
    cr_assert_eq(srtm_extend_data(c, &a, "vm-a", 0, "kernel", 6, 1, "vmlinuz", NULL), SRTM_OK);
    const char *names[] = {"vm-a"};
    srtm_err err = srtm_quote(c, NONCE, sizeof(NONCE), names, 1, ev, len);
    cr_assert_eq(err, SRTM_OK, "quote: %s: %s", srtm_strerror(err), srtm_last_message(c));
    srtm_cap_wipe(&a);
    srtm_close(c);
}

static char *policy_text(void)
{
    uint8_t d[SRTM_DIGEST_LEN];
    char k[65];
    cr_assert_eq(srtm_sha256("kernel", 6, d), SRTM_OK);
    cr_assert_eq(hex_encode(d, sizeof(d), k, sizeof(k)), SRTM_OK);
    char *t = NULL;
    cr_assert(asprintf(&t,
                       "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                       "\"pcrs\":{\"reference_file\":\"%s\"},"
                       "\"components\":{\"vm-a\":{\"ccrs\":{\"0\":{\"allowed_digests\":"
                       "[\"%s\"]}}}},\"require\":[\"vm-a\"]}",
                       P.ref, k) > 0);
    return t;
}

/* srtm_verify with the AIK and the reference policy; the caller frees the result. */
static srtm_verify_result *verify(const uint8_t *ev, size_t len, srtm_err *err_out)
{
    char *pem = NULL, *text = policy_text(), msg[512];
    size_t pem_len = 0;
    cr_assert_eq(read_small_file(P.pem, 65536, &pem, &pem_len), SRTM_OK);
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_parse(text, strlen(text), "/", &pol, msg, sizeof(msg)), SRTM_OK,
                 "policy: %s", msg);
    srtm_verify_result *r = NULL;
    srtm_err err = srtm_verify(ev, len, pem, pol, NONCE, sizeof(NONCE), &r);
    cr_assert(err == SRTM_OK || err == SRTM_E_DENIED, "srtm_verify: %s", srtm_strerror(err));
    cr_assert(r != NULL);
    srtm_policy_free(pol);
    free(pem);
    free(text);
    *err_out = err;
    return r;
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

static void expect_trusted(const uint8_t *ev, size_t len, const char *what)
{
    srtm_err err;
    srtm_verify_result *r = verify(ev, len, &err);
    cr_expect_eq(err, SRTM_OK, "%s does not verify", what);
    const char *none[] = {NULL};
    expect_failed_exactly(r, none);
    /* vm-a, and the platform (component 0) that the report may hold as its closure */
    bool vm_a = false;
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++) {
        vm_a = vm_a || strcmp(srtm_verify_result_component_name(r, i), "vm-a") == 0;
        cr_expect(srtm_verify_result_component_trusted(r, i), "%s: %s is not trusted", what,
                  srtm_verify_result_component_name(r, i));
    }
    cr_expect(vm_a, "%s: vm-a is not in the result", what);
    srtm_verify_result_free(r);
}

/* Refused, by exactly the named check. */
static void expect_refused_by(const uint8_t *ev, size_t len, const char *check)
{
    srtm_err err;
    srtm_verify_result *r = verify(ev, len, &err);
    cr_expect_eq(err, SRTM_E_DENIED, "the evidence was accepted");
    const char *failed[] = {check, NULL};
    expect_failed_exactly(r, failed);
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        cr_expect(!srtm_verify_result_component_trusted(r, i), "a component is trusted");
    srtm_verify_result_free(r);
}

/* An IRK the test holds, certified by the AIK now (whatever state the PCRs are in), as
 * srtmd's certify() does: what a thief of an IRK and its certificate would hold. */
typedef struct own_irk {
    irk *key;
    uint8_t pub[IRK_PUB_DER_MAX];
    size_t pub_len;
    km_tpm_quote cert;
} own_irk;

static void certify_own_irk(own_irk *o)
{
    km_ctx *ctx = NULL;
    const km_aik *aik = NULL;
    uint8_t q[SRTM_DIGEST_LEN];
    cr_assert_eq(irk_generate(&o->key), SRTM_OK);
    cr_assert_eq(irk_public_der(o->key, o->pub, &o->pub_len), SRTM_OK);
    cr_assert_eq(irk_cert_qualifier(o->pub, o->pub_len, q), SRTM_OK);
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_aik_load(ctx, AIK_HANDLE, &aik), SRTM_OK);
    cr_assert_eq(km_quote(ctx, aik, PROOF_MASK, q, sizeof(q), &o->cert), SRTM_OK);
    km_close(ctx);
}

/* The evidence ev with its IRK part replaced by o's: o's public key and certificate, and
 * o's signature over ev's report and nonce. The joint quote stays srtmd's. */
static void substitute_irk(const uint8_t *ev, size_t len, own_irk *o, uint8_t **out,
                           size_t *out_len)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert(e != NULL);
    uint8_t sig[IRK_SIG_MAX];
    size_t sig_len = 0;
    cr_assert_eq(irk_sign_report(o->key, e->nonce.data, e->nonce.len, e->report.data,
                                 e->report.len, sig, &sig_len),
                 SRTM_OK);
    uint32_t pcrs[KM_PCR_COUNT];
    ProtobufCBinaryData values[KM_PCR_COUNT];
    size_t n = 0;
    for (unsigned i = 0; i < KM_PCR_COUNT; i++) {
        if (o->cert.pcrs.mask & (1u << i)) {
            pcrs[n] = i;
            values[n].data = o->cert.pcrs.value[i];
            values[n].len = KM_DIGEST_LEN;
            n++;
        }
    }
    Srtm__TpmQuote cert = SRTM__TPM_QUOTE__INIT;
    cert.attest.data = o->cert.attest;
    cert.attest.len = o->cert.attest_len;
    cert.signature.data = o->cert.sig;
    cert.signature.len = o->cert.sig_len;
    cert.n_pcrs = n;
    cert.pcrs = pcrs;
    cert.n_pcr_values = n;
    cert.pcr_values = values;
    Srtm__TpmQuote *saved_cert = e->irk_certificate;
    ProtobufCBinaryData saved_pub = e->irk_public, saved_sig = e->irk_signature;
    e->irk_certificate = &cert;
    e->irk_public.data = o->pub;
    e->irk_public.len = o->pub_len;
    e->irk_signature.data = sig;
    e->irk_signature.len = sig_len;
    *out_len = srtm__evidence__get_packed_size(e);
    *out = malloc(*out_len);
    cr_assert(*out != NULL);
    srtm__evidence__pack(e, *out);
    e->irk_certificate = saved_cert;
    e->irk_public = saved_pub;
    e->irk_signature = saved_sig;
    srtm__evidence__free_unpacked(e, NULL);
}

static void irk_public_of(const uint8_t *ev, size_t len, uint8_t *out, size_t *out_len)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert(e != NULL && e->irk_public.len <= IRK_PUB_DER_MAX);
    memcpy(out, e->irk_public.data, e->irk_public.len);
    *out_len = e->irk_public.len;
    srtm__evidence__free_unpacked(e, NULL);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f != NULL, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* srtmctl verify on ev: its exit status, and its output in out. */
static int srtmctl_verify(const uint8_t *ev, size_t len, char *out, size_t out_size)
{
    char evpath[300], polpath[300], err[4096];
    snprintf(evpath, sizeof(evpath), "%s/ev.bin", P.dir);
    snprintf(polpath, sizeof(polpath), "%s/policy.json", P.dir);
    write_file(evpath, ev, len);
    char *pol = policy_text();
    write_file(polpath, pol, strlen(pol));
    free(pol);
    const char *v[] = {test_binary("SRTMCTL"), "verify", evpath, "--aik", P.pem, "--policy",
                       polpath, "--nonce", NONCE_HEX, NULL};
    int rc = test_run(v, out, out_size, err, sizeof(err));
    unlink(evpath);
    unlink(polpath);
    return rc;
}

/* ---- the per-boot scheme --------------------------------------------------------------- */

Test(perboot, every_boot_has_its_own_irk_never_stored_and_each_verifies)
{
    int files_before = test_count_names(P.dir, "");
    uint8_t pub1[IRK_PUB_DER_MAX], pub2[IRK_PUB_DER_MAX];
    size_t pub1_len = 0, pub2_len = 0, len1 = 0, len2 = 0;
    uint8_t *ev1 = NULL, *ev2 = NULL;
    char out[8192];

    launch_srtmd();
    evidence(&ev1, &len1);
    expect_trusted(ev1, len1, "boot 1's evidence");
    cr_expect_eq(srtmctl_verify(ev1, len1, out, sizeof(out)), 0, "srtmctl verify: %s", out);
    cr_expect(strstr(out, "vm-a: trusted\n") != NULL, "%s", out);
    irk_public_of(ev1, len1, pub1, &pub1_len);

    reboot();
    launch_srtmd();
    evidence(&ev2, &len2);
    expect_trusted(ev2, len2, "boot 2's evidence");
    cr_expect_eq(srtmctl_verify(ev2, len2, out, sizeof(out)), 0, "srtmctl verify: %s", out);
    irk_public_of(ev2, len2, pub2, &pub2_len);

    cr_expect(pub1_len != pub2_len || memcmp(pub1, pub2, pub1_len) != 0,
              "both boots used the same IRK");
    /* Nothing was written for the IRK: not the configured blob, nor anything else. */
    cr_expect(!test_path_exists(P.blob), "the per-boot scheme wrote %s", P.blob);
    cr_expect_eq(test_count_names(P.dir, ""), files_before, "files appeared in %s", P.dir);
    free(ev1);
    free(ev2);
}

/* A thief of boot 1's IRK (private key and certificate) is stopped at the next boot: the
 * certificate's resetCount is not the quote's. In boot 1 the same forgery verifies, so the
 * refusal in boot 2 is the boot check's doing, not a flaw in the forgery. */
Test(perboot, a_stolen_irk_of_boot_1_is_refused_in_boot_2)
{
    uint8_t *ev = NULL, *forged = NULL;
    size_t len = 0, flen = 0;
    own_irk stolen;
    extend_as_the_launcher();
    certify_own_irk(&stolen); /* in boot 1's proof state, as srtmd's own IRK is */
    exec_srtmd();
    evidence(&ev, &len);
    substitute_irk(ev, len, &stolen, &forged, &flen);
    expect_trusted(forged, flen, "boot 1's evidence with the boot-1 key");
    free(ev);
    free(forged);

    reboot();
    launch_srtmd();
    evidence(&ev, &len);
    expect_trusted(ev, len, "boot 2's own evidence");
    substitute_irk(ev, len, &stolen, &forged, &flen);
    expect_refused_by(forged, flen, "same-boot");
    char out[8192];
    cr_expect_eq(srtmctl_verify(forged, flen, out, sizeof(out)), 1, "srtmctl verify: %s", out);
    cr_expect(strstr(out, "check same-boot: failed") != NULL, "%s", out);
    free(ev);
    free(forged);
    irk_free(stolen.key);
}

/* The per-boot key is only as good as the moment it is certified: a process that creates
 * and certifies a key of its own after srtmd closed the period gets a certificate with the
 * closed PCR values, which the verifier checks against the proof-state reference. */
Test(perboot, a_key_certified_after_the_close_is_refused)
{
    uint8_t *ev = NULL, *forged = NULL;
    size_t len = 0, flen = 0;
    own_irk late;
    launch_srtmd();
    evidence(&ev, &len);
    certify_own_irk(&late);
    substitute_irk(ev, len, &late, &forged, &flen);
    expect_refused_by(forged, flen, "certificate-pcrs-reference");
    free(ev);
    free(forged);
    irk_free(late.key);
}

/* srtmd itself restarted in the same boot creates and certifies a key after the close:
 * it starts, but no verifier accepts its evidence. Both ways: executed again with no new
 * launch (the SRTM PCR holds the close), and through srtm-launch again as the unit
 * restarts it (its extend takes the PCR further from the proof state). */
static void expect_refused_as_restarted(const char *what)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    evidence(&ev, &len);
    srtm_err err;
    srtm_verify_result *r = verify(ev, len, &err);
    cr_expect_eq(err, SRTM_E_DENIED, "evidence of %s was accepted", what);
    const char *failed[] = {"certificate-pcrs-reference", "quote-pcrs-reference", NULL};
    expect_failed_exactly(r, failed);
    srtm_verify_result_free(r);
    free(ev);
}

Test(perboot, a_restart_in_the_same_boot_is_refused_by_the_verifier)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    launch_srtmd();
    evidence(&ev, &len);
    expect_trusted(ev, len, "the first srtmd's evidence"); /* the control */
    free(ev);
    stop_srtmd();
    exec_srtmd();
    expect_refused_as_restarted("srtmd restarted without a launch");
    stop_srtmd();
    launch_srtmd();
    expect_refused_as_restarted("srtmd restarted through srtm-launch");
}

/* ---- one srtmd per TPM ------------------------------------------------------------------ */

static void read_pcr15(uint8_t out[KM_DIGEST_LEN])
{
    km_ctx *ctx = NULL;
    km_pcr_values v;
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_pcr_read(ctx, 1u << 15, &v), SRTM_OK);
    km_close(ctx);
    memcpy(out, v.value[15], KM_DIGEST_LEN);
}

/* A second srtmd's configuration: the same TPM and proof state, its own socket and admin
 * capability in P.dir. Its path into conf, the admin capability's into cap. */
static void second_conf(char *conf, size_t conf_size, char *cap, size_t cap_size)
{
    snprintf(conf, conf_size, "%s/second.conf", P.dir);
    snprintf(cap, cap_size, "%s/second.cap", P.dir);
    FILE *f = fopen(conf, "w");
    cr_assert(f != NULL, "cannot write %s", conf);
    fprintf(f,
            "srtm-pcr 15\nproof-pcrs 0-7\nirk-scheme perboot\nirk-blob %s\n"
            "lock-file %s/tpm.lock\nlisten ipc://%s/second.sock\nadmin-cap %s\n",
            P.blob, P.dir, P.dir, cap);
    fclose(f);
}

/*
 * The first srtmd (launched and serving) keeps the second off: argv, the attempt, exits
 * with status want_rc and names the first one's pid; the SRTM PCR is as before, nothing was
 * written for the second, and the first one's next evidence still verifies. The lock file
 * named in both configurations throughout (lock-file). Bounded: a second srtmd that is not kept off would
 * serve on its own socket, so argv starts with timeout.
 */
static void expect_kept_off(const char *const *argv, int want_rc, const char *cap,
                            const char *what, char *err, size_t err_size)
{
    uint8_t before[KM_DIGEST_LEN], after[KM_DIGEST_LEN];
    char out[256], want[64];
    read_pcr15(before);
    int rc = test_run(argv, out, sizeof(out), err, err_size);
    cr_expect_eq(rc, want_rc, "%s: exit %d, not %d: %s", what, rc, want_rc, err);
    snprintf(want, sizeof(want), "another srtmd (pid %ld) serves this TPM", (long)P.d.pid);
    cr_expect(strstr(err, want) != NULL, "%s: no clear message (want '%s'): %s", what, want,
              err);
    cr_expect(!test_path_exists(cap), "%s wrote an admin capability", what);
    read_pcr15(after);
    cr_expect_arr_eq(after, before, KM_DIGEST_LEN, "%s changed the SRTM PCR", what);
    cr_expect(test_daemon_alive(&P.d), "the first srtmd died");
    uint8_t *ev = NULL;
    size_t len = 0;
    evidence(&ev, &len);
    expect_trusted(ev, len, "the first srtmd's evidence after the second one's attempt");
    free(ev);
}

/* A second srtmd started directly on the same TPM, with its own measured-style
 * configuration (another socket and admin capability): it exits 1 at the lock, before
 * the TPM is touched. */
Test(perboot, a_second_srtmd_on_the_tpm_exits_and_extends_nothing)
{
    char conf[400], cap[400], err[8192];
    launch_srtmd();
    second_conf(conf, sizeof(conf), cap, sizeof(cap));
    const char *argv[] = {"/usr/bin/timeout", "60", test_binary("SRTMD"), "--config", conf,
                          "--tcti", P.tpm.tcti, "--foreground", NULL};
    expect_kept_off(argv, 1, cap, "a second srtmd", err, sizeof(err));
}

/* A second srtmd with an option srtmd refuses beside a measured configuration exits 2
 * before it runs, and every such early exit would close the period: not while another
 * srtmd holds the TPM's lock, whose quotes the close would spoil. */
Test(perboot, a_second_srtmd_refused_on_its_command_line_does_not_close)
{
    char conf[400], cap[400], err[8192];
    launch_srtmd();
    second_conf(conf, sizeof(conf), cap, sizeof(cap));
    const char *argv[] = {"/usr/bin/timeout", "60", test_binary("SRTMD"), "--config", conf,
                          "--tcti", P.tpm.tcti, "--foreground", "--no-seccomp", NULL};
    expect_kept_off(argv, 2, cap, "a second srtmd with --no-seccomp", err, sizeof(err));
    cr_expect(strstr(err, "--no-seccomp is refused on the command line") != NULL,
              "refused for another reason: %s", err);
}

/* srtm-launch for a second srtmd probes the lock before it extends: it refuses, extends
 * nothing and executes nothing. */
Test(perboot, srtm_launch_for_a_second_srtmd_extends_nothing)
{
    char conf[400], cap[400], err[8192];
    launch_srtmd();
    second_conf(conf, sizeof(conf), cap, sizeof(cap));
    const char *argv[] = {"/usr/bin/timeout", "60", test_binary("SRTM_LAUNCH"), "--tcti",
                          P.tpm.tcti, "--config", conf, "--", test_binary("SRTMD"),
                          "--config", conf, "--tcti", P.tpm.tcti, "--foreground", NULL};
    expect_kept_off(argv, 1, cap, "srtm-launch for a second srtmd", err, sizeof(err));
    cr_expect(strstr(err, "nothing extended") != NULL, "%s", err);
}
