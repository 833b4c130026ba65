/*
 * The SRTM-proof-period on a real swtpm, driven through the shipped tools exactly as an
 * administrator would (srtm-keymgr enroll/predict/wrap-irk/rewrap, srtm-launch, srtmd
 * --config): the IRK is obtained and certified, the period is closed, the IRK cannot be
 * unsealed again in the same boot, a restarted srtmd fails closed, a resettable SRTM
 * PCR is refused, a TPM that goes away fails quotes but not CCR operations, and the S1T
 * scheme and an update by rewrap work across reboots.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "helpers.h"
#include "irk.h"
#include "km.h"
#include "srtm.pb-c.h"

typedef struct platform {
    test_swtpm tpm;
    char dir[256];
    char conf[320], blob[320], ref[320], pem[320];
    test_daemon d;
    bool running;
    const char *launch_conf; /* launch() was called: the next srtmd start goes through it */
} platform;

static platform P;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* srtmd's configuration: the measured file. extra: more lines. The TCTI is given on
 * the command line instead, so that a swtpm that comes back on another port after a
 * reboot does not change what is measured. */
static void write_conf(platform *p, const char *path, unsigned pcr, const char *blob,
                       const char *extra)
{
    char text[2048], lines[800];
    test_daemon_conf_lines(&p->d, lines, sizeof(lines));
    snprintf(text, sizeof(text), "srtm-pcr %u\nproof-pcrs 0-7\nirk-blob %s\n%s%s", pcr, blob,
             lines, extra ? extra : "");
    write_text(path, text);
}

#define KEYMGR(...) \
    test_tool("SRTM_KEYMGR", (const char *const[]){__VA_ARGS__, NULL}, err, sizeof(err))

static void provision_pcr(platform *p, const char *conf, const char *blob, const char *ref,
                          unsigned pcr)
{
    char err[4096], pcrs[8];
    snprintf(pcrs, sizeof(pcrs), "%u", pcr);
    cr_assert_eq(KEYMGR("--tcti", p->tpm.tcti, "predict", "--srtmd", test_binary("SRTMD"),
                        "--config", conf, "--srtm-pcr", pcrs, "-o", ref, "--force"),
                 0, "predict: %s", err);
    cr_assert_eq(KEYMGR("--tcti", p->tpm.tcti, "wrap-irk", "--reference", ref, "-o", blob,
                        "--force"),
                 0, "wrap-irk: %s", err);
}

static void provision(platform *p, const char *conf, const char *blob, const char *ref)
{
    provision_pcr(p, conf, blob, ref, 15);
}

/* The next srtmd start goes through srtm-launch (one step: it measures, extends and
 * executes srtmd), as the unit starts it. pcr is the configuration's SRTM PCR. */
static void launch(platform *p, const char *conf, unsigned pcr)
{
    (void)pcr;
    p->launch_conf = conf;
}

static void start_srtmd(platform *p, const char *conf)
{
    cr_assert(p->launch_conf != NULL && strcmp(p->launch_conf, conf) == 0,
              "srtmd starts through srtm-launch only");
    test_daemon_launch(&p->d, p->tpm.tcti, conf, NULL);
    p->launch_conf = NULL;
    p->running = true;
}

/* Run srtmd in the foreground (through srtm-launch when launch() was called) expecting it
 * to refuse to start; return its exit status and stderr. The configuration names P.d's
 * socket and admin capability. */
static int srtmd_fails(platform *p, const char *conf, char *err, size_t err_size)
{
    const char *argv[24];
    size_t n = 0;
    if (p->launch_conf != NULL) {
        argv[n++] = test_binary("SRTM_LAUNCH");
        argv[n++] = "--tcti";
        argv[n++] = p->tpm.tcti;
        argv[n++] = "--config";
        argv[n++] = conf;
        argv[n++] = "--";
    }
    const char *rest[] = {test_binary("SRTMD"), "--config", conf, "--tcti", p->tpm.tcti,
                          "--foreground", NULL};
    for (size_t i = 0; rest[i] != NULL; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    p->launch_conf = NULL;
    cr_assert(mkdir(p->d.dir, 0700) == 0 || errno == EEXIST);
    char out[256];
    int rc = test_run(argv, out, sizeof(out), err, err_size);
    cr_expect_neq(access(p->d.cap_path, F_OK), 0, "a refused srtmd wrote an admin capability");
    return rc;
}

static void setup(void)
{
    memset(&P, 0, sizeof(P));
    test_swtpm_start(&P.tpm);
    test_daemon_prepare(&P.d);
    snprintf(P.dir, sizeof(P.dir), "/tmp/srtm-proof-XXXXXX");
    cr_assert(mkdtemp(P.dir) != NULL);
    snprintf(P.conf, sizeof(P.conf), "%s/srtmd.conf", P.dir);
    snprintf(P.blob, sizeof(P.blob), "%s/irk.sealed", P.dir);
    snprintf(P.ref, sizeof(P.ref), "%s/reference.json", P.dir);
    snprintf(P.pem, sizeof(P.pem), "%s/aik.pem", P.dir);
    char err[4096];
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "enroll", "--aik-pem", P.pem), 0, "enroll: %s",
                 err);
    write_conf(&P, P.conf, 15, P.blob, NULL);
}

static void teardown(void)
{
    test_daemon_stop(&P.d); /* also removes its directory when it did not run */
    test_swtpm_stop(&P.tpm);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", P.dir);
}

TestSuite(proof, .init = setup, .fini = teardown, .timeout = 120);

/* Reference PCR value from srtm-keymgr's reference file. */
static void ref_value(const char *ref, const char *section, unsigned pcr, uint8_t out[32])
{
    json_object *r = json_object_from_file(ref), *s = NULL, *v = NULL;
    char key[4];
    snprintf(key, sizeof(key), "%u", pcr);
    cr_assert(r != NULL && json_object_object_get_ex(r, section, &s) &&
              json_object_object_get_ex(s, key, &v));
    const char *hex = json_object_get_string(v);
    cr_assert_eq(hex_decode(hex, strlen(hex), out, 32), SRTM_OK);
    json_object_put(r);
}

static Srtm__Evidence *get_evidence(platform *p, const uint8_t *nonce, size_t nlen,
                                    srtm_err *err_out)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(p->d.url, &c), SRTM_OK);
    uint8_t *ev = NULL;
    size_t len = 0;
    srtm_err err = srtm_quote(c, nonce, nlen, NULL, 0, &ev, &len);
    srtm_close(c);
    if (err_out != NULL)
        *err_out = err;
    if (err != SRTM_OK)
        return NULL;
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    free(ev);
    cr_assert(e != NULL, "evidence does not parse");
    return e;
}

static void pcr_value_of(const Srtm__TpmQuote *q, unsigned pcr, uint8_t out[32])
{
    for (size_t i = 0; i < q->n_pcrs; i++) {
        if (q->pcrs[i] == pcr) {
            cr_assert_eq(q->pcr_values[i].len, 32);
            memcpy(out, q->pcr_values[i].data, 32);
            return;
        }
    }
    cr_assert_fail("PCR %u not in the quote", pcr);
}

Test(proof, period_certifies_the_irk_and_quotes_bind_report_and_nonce)
{
    provision(&P, P.conf, P.blob, P.ref);
    launch(&P, P.conf, 15);
    start_srtmd(&P, P.conf);
    const uint8_t nonce[20] = "fresh verifier nonce";
    Srtm__Evidence *e = get_evidence(&P, nonce, sizeof(nonce), NULL);
    cr_assert(e != NULL);
    /* The IRK signs the report for this nonce. */
    irk *k = NULL;
    cr_assert_eq(irk_from_public_der(e->irk_public.data, e->irk_public.len, &k), SRTM_OK);
    cr_expect_eq(irk_verify_report(k, nonce, sizeof(nonce), e->report.data, e->report.len,
                                   e->irk_signature.data, e->irk_signature.len),
                 SRTM_OK);
    irk_free(k);
    /* The certificate binds the IRK's public key; the quote binds nonce and report. */
    km_quote_info cert, quote;
    cr_assert_eq(km_quote_parse(e->irk_certificate->attest.data, e->irk_certificate->attest.len,
                                &cert),
                 SRTM_OK);
    cr_assert_eq(km_quote_parse(e->quote->attest.data, e->quote->attest.len, &quote), SRTM_OK);
    uint8_t q[32];
    cr_assert_eq(irk_cert_qualifier(e->irk_public.data, e->irk_public.len, q), SRTM_OK);
    cr_assert_eq(cert.qualifying_len, 32);
    cr_expect_arr_eq(cert.qualifying, q, 32, "certificate does not bind the IRK");
    cr_assert_eq(irk_quote_qualifier(nonce, sizeof(nonce), e->report.data, e->report.len, q),
                 SRTM_OK);
    cr_expect_arr_eq(quote.qualifying, q, 32, "quote does not bind nonce and report");
    cr_expect_eq(cert.reset_count, quote.reset_count);
    cr_expect_eq(cert.restart_count, quote.restart_count);
    /* The SRTM PCR was in the predicted proof state for the certificate, and in the
     * predicted closed state for the quote. */
    uint8_t want[32], got[32];
    ref_value(P.ref, "proof", 15, want);
    pcr_value_of(e->irk_certificate, 15, got);
    cr_expect_arr_eq(got, want, 32, "certificate's PCR 15 is not the predicted proof value");
    ref_value(P.ref, "running", 15, want);
    pcr_value_of(e->quote, 15, got);
    cr_expect_arr_eq(got, want, 32, "quote's PCR 15 is not the predicted closed value");
    srtm__evidence__free_unpacked(e, NULL);
}

Test(proof, irk_cannot_be_unsealed_after_the_period_and_a_restart_fails_closed)
{
    provision(&P, P.conf, P.blob, P.ref);
    launch(&P, P.conf, 15);
    start_srtmd(&P, P.conf);
    /* Nobody can unseal the IRK any more in this boot: srtmd closed the period. */
    test_daemon_stop(&P.d);
    P.running = false;
    km_ctx *ctx = NULL;
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    char *blob = NULL;
    size_t len = 0;
    cr_assert_eq(read_small_file(P.blob, KM_MAX_SEALED, &blob, &len), SRTM_OK);
    km_sealed s;
    memcpy(s.blob, blob, len);
    s.len = len;
    free(blob);
    km_secret secret;
    cr_expect_eq(km_unseal(ctx, KM_PARENT_PRIMARY, &s, 0x80FF, &secret), SRTM_E_DENIED,
                 "the IRK could be unsealed after the proof period was closed");
    km_close(ctx);
    /* A restarted srtmd (no reboot) cannot obtain the IRK: it exits with a clear error,
     * with or without a second run of the launcher. */
    char err[8192];
    cr_expect_eq(srtmd_fails(&P, P.conf, err, sizeof(err)), 1);
    cr_expect(strstr(err, "refuses to unseal the IRK") != NULL, "unclear error: %s", err);
    launch(&P, P.conf, 15);
    cr_expect_eq(srtmd_fails(&P, P.conf, err, sizeof(err)), 1);
    cr_expect(strstr(err, "refuses to unseal the IRK") != NULL, "unclear error: %s", err);
    /* After a reboot and the launcher, the same blob works again. */
    test_swtpm_reboot(&P.tpm);
    launch(&P, P.conf, 15);
    start_srtmd(&P, P.conf);
}

Test(proof, resettable_srtm_pcr_is_refused_unless_insecure)
{
    char conf23[400], err[8192];
    snprintf(conf23, sizeof(conf23), "%s/srtmd-23.conf", P.dir);
    write_conf(&P, conf23, 23, P.blob, NULL);
    provision_pcr(&P, conf23, P.blob, P.ref, 23);
    launch(&P, conf23, 23);
    cr_expect_eq(srtmd_fails(&P, conf23, err, sizeof(err)), 1);
    cr_expect(strstr(err, "--insecure-resettable-pcr") != NULL, "unclear error: %s", err);
    /* It still closed the period: PCR 23 moved past the proof value. */
    km_ctx *ctx = NULL;
    km_pcr_values v;
    uint8_t proof[32];
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_pcr_read(ctx, 1u << 23, &v), SRTM_OK);
    km_close(ctx);
    ref_value(P.ref, "proof", 23, proof);
    cr_expect_arr_neq(v.value[23], proof, 32, "the refused srtmd left the period open");
    /* With the explicit flag, on a fresh boot, srtmd accepts PCR 23. */
    test_swtpm_reboot(&P.tpm);
    write_conf(&P, conf23, 23, P.blob, "insecure-resettable-pcr\n");
    provision_pcr(&P, conf23, P.blob, P.ref, 23);
    launch(&P, conf23, 23);
    start_srtmd(&P, conf23);
}

Test(proof, tpm_gone_fails_quotes_but_not_ccr_operations_until_it_returns)
{
    provision(&P, P.conf, P.blob, P.ref);
    launch(&P, P.conf, 15);
    start_srtmd(&P, P.conf);
    test_swtpm_kill(&P.tpm);
    uint8_t nonce[16] = {9};
    srtm_err err = SRTM_OK;
    Srtm__Evidence *gone = get_evidence(&P, nonce, sizeof(nonce), &err);
    cr_expect(gone == NULL);
    cr_expect_eq(err, SRTM_E_TPM, "quote without a TPM: %s", srtm_strerror(err));
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    srtm_cap cap;
    uint64_t h;
    cr_expect_eq(srtm_register(c, &P.d.admin, "vm-after", 1, &h, &cap), SRTM_OK);
    uint8_t d[32] = {1};
    cr_expect_eq(srtm_extend(c, &cap, "vm-after", 0, d, 0, NULL, NULL), SRTM_OK);
    srtm_close(c);
    cr_expect(test_daemon_alive(&P.d));
    /* The TPM comes back (a reboot of the TPM alone): srtmd reconnects and quotes again,
     * and the quote shows the new boot, which a verifier will not match with the IRK
     * certificate of the old one. */
    int port = P.tpm.port;
    test_swtpm_reboot(&P.tpm);
    cr_assert_eq(P.tpm.port, port, "swtpm did not come back on its port");
    Srtm__Evidence *e = get_evidence(&P, nonce, sizeof(nonce), &err);
    cr_assert(e != NULL, "no quote after the TPM came back: %s", srtm_strerror(err));
    km_quote_info cert, quote;
    cr_assert_eq(km_quote_parse(e->irk_certificate->attest.data, e->irk_certificate->attest.len,
                                &cert),
                 SRTM_OK);
    cr_assert_eq(km_quote_parse(e->quote->attest.data, e->quote->attest.len, &quote), SRTM_OK);
    cr_expect_neq(cert.reset_count, quote.reset_count);
    srtm__evidence__free_unpacked(e, NULL);
}

Test(proof, s1t_creates_the_irk_once_and_recovers_it_after_a_reboot)
{
    write_conf(&P, P.conf, 15, P.blob, "irk-scheme s1t\n");
    launch(&P, P.conf, 15);
    start_srtmd(&P, P.conf);
    struct stat st;
    cr_assert_eq(stat(P.blob, &st), 0, "S1T did not store the sealed IRK");
    cr_expect_eq(st.st_mode & 0777, 0600);
    uint8_t nonce[16] = {3};
    Srtm__Evidence *e1 = get_evidence(&P, nonce, sizeof(nonce), NULL);
    cr_assert(e1 != NULL);
    test_daemon_stop(&P.d);
    P.running = false;
    /* Later boots unseal the same IRK; its certificate is new. */
    test_swtpm_reboot(&P.tpm);
    launch(&P, P.conf, 15);
    start_srtmd(&P, P.conf);
    Srtm__Evidence *e2 = get_evidence(&P, nonce, sizeof(nonce), NULL);
    cr_assert(e2 != NULL);
    cr_assert_eq(e1->irk_public.len, e2->irk_public.len);
    cr_expect_arr_eq(e1->irk_public.data, e2->irk_public.data, e1->irk_public.len,
                     "S1T did not recover its IRK after the reboot");
    km_quote_info c1, c2;
    cr_assert_eq(km_quote_parse(e1->irk_certificate->attest.data,
                                e1->irk_certificate->attest.len, &c1),
                 SRTM_OK);
    cr_assert_eq(km_quote_parse(e2->irk_certificate->attest.data,
                                e2->irk_certificate->attest.len, &c2),
                 SRTM_OK);
    cr_expect_neq(c1.reset_count, c2.reset_count, "the certificate is not of the new boot");
    srtm__evidence__free_unpacked(e1, NULL);
    srtm__evidence__free_unpacked(e2, NULL);
}

Test(proof, rewrap_moves_the_irk_to_an_updated_configuration)
{
    provision(&P, P.conf, P.blob, P.ref);
    /* The update: another configuration (and so another proof state) and another blob. */
    char conf2[400], blob2[400], ref2[400], err[4096];
    snprintf(conf2, sizeof(conf2), "%s/srtmd-new.conf", P.dir);
    snprintf(blob2, sizeof(blob2), "%s/irk-new.sealed", P.dir);
    snprintf(ref2, sizeof(ref2), "%s/reference-new.json", P.dir);
    write_conf(&P, conf2, 15, blob2, "workers 8\n");
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "rewrap", "--srtmd", test_binary("SRTMD"),
                        "--config", conf2, "-o", blob2, "--reference-out", ref2),
                 0, "rewrap: %s", err);
    /* Booting the new configuration works with the new blob ... */
    launch(&P, conf2, 15);
    start_srtmd(&P, conf2);
    test_daemon_stop(&P.d);
    P.running = false;
    /* ... and the old blob does not open for the new configuration. */
    test_swtpm_reboot(&P.tpm);
    write_conf(&P, conf2, 15, P.blob, "workers 8\n");
    launch(&P, conf2, 15);
    cr_expect_eq(srtmd_fails(&P, conf2, err, sizeof(err)), 1);
}

/* srtm-keymgr predict and srtm-launch take the SRTM PCR and the proof PCRs from the
 * configuration they measure, so they cannot disagree with srtmd. */
Test(proof, tools_take_the_pcrs_from_the_configuration)
{
    char conf[400], ref[400], err[4096];
    snprintf(conf, sizeof(conf), "%s/pcr14.conf", P.dir);
    snprintf(ref, sizeof(ref), "%s/pcr14.json", P.dir);
    char text[1024], lines[800];
    test_daemon_conf_lines(&P.d, lines, sizeof(lines));
    snprintf(text, sizeof(text), "srtm-pcr 14\nproof-pcrs 0-3\n%s", lines);
    write_text(conf, text);
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "predict", "--srtmd", test_binary("SRTMD"),
                        "--config", conf, "-o", ref),
                 0, "predict: %s", err);
    json_object *r = json_object_from_file(ref), *proof = NULL, *pcr = NULL;
    cr_assert(r != NULL && json_object_object_get_ex(r, "proof", &proof) &&
              json_object_object_get_ex(r, "srtm_pcr", &pcr));
    cr_expect_eq(json_object_get_int(pcr), 14);
    cr_expect_eq(json_object_object_length(proof), 5, "PCRs 0-3 and 14");
    json_object_put(r);
    /* srtm-launch extends PCR 14 with the launch event, srtmd (no sealed IRK here) fails
     * and closes PCR 14: the running value, which passes through the proof value. */
    uint8_t want[32];
    ref_value(ref, "running", 14, want);
    launch(&P, conf, 14);
    cr_expect_eq(srtmd_fails(&P, conf, err, sizeof(err)), 1);
    km_ctx *ctx = NULL;
    km_pcr_values v;
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_pcr_read(ctx, 1u << 14, &v), SRTM_OK);
    km_close(ctx);
    cr_expect_arr_eq(v.value[14], want, 32, "srtm-launch or srtmd extended another PCR or "
                                            "value");
}

/* A remote verifier gets joint quotes over the read-only tcp:// listener. */
Test(proof, quotes_over_the_tcp_listener)
{
    char tcp[64];
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", P.tpm.port + 2);
    char line[128];
    snprintf(line, sizeof(line), "listen-tcp %s\n", tcp);
    write_conf(&P, P.conf, 15, P.blob, line); /* the listeners are measured */
    provision(&P, P.conf, P.blob, P.ref);
    launch(&P, P.conf, 15);
    start_srtmd(&P, P.conf);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(tcp, &c), SRTM_OK);
    uint8_t nonce[16] = "over the network";
    uint8_t *ev = NULL;
    size_t len = 0;
    cr_expect_eq(srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev, &len), SRTM_OK, "%s",
                 srtm_last_message(c));
    cr_expect_gt(len, 0);
    free(ev);
    srtm_close(c);
}
