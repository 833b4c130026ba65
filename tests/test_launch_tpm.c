/*
 * The launch leaves no way around the IRK, on a real swtpm with the shipped tools: after
 * srtm-launch opened the SRTM-proof-period, every way srtmd can give up early (a bad
 * command-line option, a bad configuration, an unusable admin capability, pid file or
 * socket path, a TPM it cannot reach) leaves the period closed, so that another process
 * cannot unseal the IRK; a configuration srtmd would refuse is refused by srtm-launch
 * (nothing extended) and srtm-keymgr alike; a failed exec and `srtm-launch --close` close.
 * Each attack is checked against a control that shows the door really was open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "common.h"
#include "config.h"
#include "km.h"
#include "launch.h"

typedef struct platform {
    test_swtpm tpm;
    char dir[256];
    char conf[320], blob[320], ref[320], pem[320], url[340], cap[320];
} platform;

static platform P;

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
}

#define KEYMGR(...) \
    test_tool("SRTM_KEYMGR", (const char *const[]){__VA_ARGS__, NULL}, err, sizeof(err))
#define LAUNCH(...) \
    test_tool("SRTM_LAUNCH", (const char *const[]){__VA_ARGS__, NULL}, err, sizeof(err))

/* Wrap a new IRK for the binary srtmd (measured by srtm-launch) with P.conf. */
static void provision(const char *srtmd)
{
    char err[4096];
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "predict", "--srtmd", srtmd, "--config", P.conf,
                        "-o", P.ref, "--force"),
                 0, "predict: %s", err);
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "wrap-irk", "--reference", P.ref, "-o", P.blob,
                        "--force"),
                 0, "wrap-irk: %s", err);
}

/* P.conf: the SRTM PCR, the proof PCRs, the sealed IRK, where srtmd serves, and extra
 * lines. */
static void write_conf(const char *url, const char *cap, const char *extra)
{
    char text[2048];
    /* The test's own lock file: the default one is derived from the TCTI string, which
     * tests that name an unreachable TPM share with each other. */
    snprintf(text, sizeof(text), "srtm-pcr 15\nproof-pcrs 0-7\nirk-blob %s\nlisten %s\n"
             "admin-cap %s\nlock-file %s/tpm.lock\n%s",
             P.blob, url, cap, P.dir, extra);
    write_text(P.conf, text, 0644);
}

static void setup(void)
{
    memset(&P, 0, sizeof(P));
    setenv("TSS2_LOG", "all+NONE", 1);
    test_swtpm_start(&P.tpm);
    snprintf(P.dir, sizeof(P.dir), "/tmp/srtm-launch-tpm-XXXXXX");
    cr_assert(mkdtemp(P.dir) != NULL);
    snprintf(P.conf, sizeof(P.conf), "%s/srtmd.conf", P.dir);
    snprintf(P.blob, sizeof(P.blob), "%s/irk.sealed", P.dir);
    snprintf(P.ref, sizeof(P.ref), "%s/reference.json", P.dir);
    snprintf(P.pem, sizeof(P.pem), "%s/aik.pem", P.dir);
    snprintf(P.url, sizeof(P.url), "ipc://%s/srtmd.sock", P.dir);
    snprintf(P.cap, sizeof(P.cap), "%s/admin.cap", P.dir);
    char err[4096];
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "enroll", "--aik-pem", P.pem), 0, "enroll: %s",
                 err);
    write_conf(P.url, P.cap, "");
}

static void teardown(void)
{
    test_swtpm_stop(&P.tpm);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir);
    if (P.dir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", P.dir);
}

TestSuite(launch_tpm, .init = setup, .fini = teardown, .timeout = 240);

/* Another process (this test) tries to unseal the IRK with the proof PCRs: SRTM_OK means
 * the period is open. */
static srtm_err other_unseal(void)
{
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
    srtm_err err = km_unseal(ctx, KM_PARENT_PRIMARY, &s, 0x80FF, &secret);
    if (err == SRTM_OK)
        km_secret_wipe(&secret);
    km_close(ctx);
    return err;
}

static void pcr15(uint8_t out[32])
{
    km_ctx *ctx = NULL;
    km_pcr_values v;
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_pcr_read(ctx, 1u << 15, &v), SRTM_OK);
    km_close(ctx);
    memcpy(out, v.value[15], 32);
}

/* srtm-launch --tcti --config P.conf -- SRTMD --config P.conf --foreground and more:
 * srtmd's exit status (through the launcher's exec), stderr in err. */
static int launch_srtmd(const char *const *more, char *err, size_t err_size)
{
    const char *argv[32] = {"/usr/bin/timeout", "60", test_binary("SRTM_LAUNCH"), "--tcti",
                            P.tpm.tcti, "--config", P.conf, "--", test_binary("SRTMD"),
                            "--config", P.conf, "--foreground", "--log-level", "warn"};
    size_t n = 14;
    for (size_t i = 0; more != NULL && more[i] != NULL && n < 31; i++)
        argv[n++] = more[i];
    argv[n] = NULL;
    char out[512];
    return test_run(argv, out, sizeof(out), err, err_size);
}

/* The control: a binary that exits at once instead of srtmd (/bin/true, with the IRK
 * wrapped for it) leaves the period open, and another process can unseal the IRK. Every
 * test below starts from this door, or from the real srtmd's. */
static void open_the_door(void)
{
    char err[4096];
    provision("/bin/true");
    cr_assert_eq(LAUNCH("--tcti", P.tpm.tcti, "--config", P.conf, "--", "/bin/true",
                        "--config", P.conf),
                 0, "srtm-launch -- /bin/true: %s", err);
    cr_assert_eq(other_unseal(), SRTM_OK, "the control failed: the door did not open");
}

Test(launch_tpm, a_launched_binary_that_never_closes_leaves_the_door_open)
{
    open_the_door(); /* the control itself: the tests below can fail */
}

/* ---- srtmd gives up early: the period is closed ------------------------------------- */

/* srtmd, launched with the configuration P.conf (written by the caller) and the further
 * arguments more, gives up with status and message: the period must be closed. */
static void expect_closed_after(const char *const *more, int status, const char *message)
{
    char err[8192];
    provision(test_binary("SRTMD"));
    int rc = launch_srtmd(more, err, sizeof(err));
    cr_expect_eq(rc, status, "srtmd exited %d: %s", rc, err);
    cr_expect(strstr(err, message) != NULL, "unclear message: %s", err);
    cr_expect_eq(other_unseal(), SRTM_E_DENIED,
                 "after srtmd gave up (%s) another process could unseal the IRK", message);
}

Test(launch_tpm, unmeasured_command_line_options_are_refused_and_close)
{
    const char *no_seccomp[] = {"--no-seccomp", NULL};
    expect_closed_after(no_seccomp, 2, "--no-seccomp is refused on the command line");
}

Test(launch_tpm, user_on_the_command_line_is_refused_and_closes)
{
    const char *user[] = {"--user", "nobody", NULL};
    expect_closed_after(user, 2, "put 'user nobody' in it");
}

Test(launch_tpm, listener_on_the_command_line_is_refused_and_closes)
{
    const char *tcp[] = {"--listen-tcp", "tcp://127.0.0.1:1", NULL};
    expect_closed_after(tcp, 2, "--listen-tcp is refused on the command line");
}

Test(launch_tpm, unknown_command_line_option_closes)
{
    const char *bogus[] = {"--bogus", NULL};
    expect_closed_after(bogus, 2, "bogus");
}

/* getopt would take "--no-t" for --no-tpm, which srtm-launch does not look for: srtmd
 * wants every option spelled out. */
Test(launch_tpm, abbreviated_options_are_refused_and_close)
{
    const char *abbrev[] = {"--no-t", NULL};
    expect_closed_after(abbrev, 2, "write --no-tpm in full");
}

Test(launch_tpm, unusable_admin_cap_closes)
{
    write_conf(P.url, "/nonexistent/srtm/admin.cap", "");
    expect_closed_after(NULL, 1, "--admin-cap /nonexistent/srtm/admin.cap");
}

Test(launch_tpm, unusable_pidfile_closes)
{
    const char *pid[] = {"--pidfile", "/nonexistent/srtm/srtmd.pid", NULL};
    expect_closed_after(pid, 1, "--pidfile /nonexistent/srtm/srtmd.pid");
}

Test(launch_tpm, unusable_socket_path_closes)
{
    write_conf("ipc:///nonexistent/srtm/srtmd.sock", P.cap, "");
    expect_closed_after(NULL, 1, "/nonexistent/srtm");
}

/* srtmd refuses a configuration (here: one changed after it was measured) and still
 * closes the SRTM PCR the file's first lines name. */
Test(launch_tpm, a_configuration_srtmd_refuses_closes)
{
    open_the_door();
    char bad[400], text[600], err[8192], out[256];
    snprintf(bad, sizeof(bad), "%s/bad.conf", P.dir);
    snprintf(text, sizeof(text), "srtm-pcr 15\nproof-pcrs 0-7\nworkers 4\nworkers 5\n");
    write_text(bad, text, 0644);
    const char *argv[] = {test_binary("SRTMD"), "--config", bad, "--tcti", P.tpm.tcti,
                          "--foreground", NULL};
    cr_expect_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 2);
    cr_expect(strstr(err, "bad.conf:4: 'workers' given twice") != NULL, "%s", err);
    cr_expect_eq(other_unseal(), SRTM_E_DENIED, "srtmd left the period open on a bad config");
}

/* The TPM cannot be reached at first: srtmd says it could not close and exits; once the
 * TPM answers, `srtm-launch --close` (the unit's ExecStopPost=) closes. */
Test(launch_tpm, tpm_unreachable_at_first_then_closed_when_it_answers)
{
    open_the_door();
    char err[8192], out[256];
    const char *argv[] = {test_binary("SRTMD"), "--config", P.conf, "--tcti",
                          "swtpm:host=127.0.0.1,port=1", "--foreground", NULL};
    cr_expect_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
    cr_expect(strstr(err, "COULD NOT CLOSE") != NULL && strstr(err, "srtm-launch --close"),
              "srtmd did not say the period stays open and what closes it: %s", err);
    cr_assert_eq(LAUNCH("--close", "--config", P.conf, "--tcti", P.tpm.tcti), 0,
                 "srtm-launch --close: %s", err);
    cr_expect_eq(other_unseal(), SRTM_E_DENIED, "srtm-launch --close left the period open");
}

/* What srtm-launch does before the exec, done here: extend the SRTM PCR with srtmd's launch
 * measurement (the IRK wrapped for it), so that the door is open for the real srtmd. */
static void extend_as_the_launcher(void)
{
    char msg[CONFIG_MSG_MAX];
    srtm_config *c = NULL;
    launch_measurement m;
    km_ctx *ctx = NULL;
    provision(test_binary("SRTMD"));
    cr_assert_eq(config_load(P.conf, &c, NULL, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(launch_measure(test_binary("SRTMD"), c, &m), SRTM_OK);
    config_free(c);
    cr_assert_eq(km_open(P.tpm.tcti, &ctx), SRTM_OK);
    cr_assert_eq(km_pcr_extend(ctx, 15, m.event), SRTM_OK);
    km_close(ctx);
    cr_assert_eq(other_unseal(), SRTM_OK, "the control failed: the door did not open");
}

/* The TPM could not be reached by srtmd, then a later start through the launcher (systemctl
 * start): its extend moves the SRTM PCR out of the proof state first, so the later srtmd
 * does not obtain an IRK that was exposed in a stale period; it fails and closes. */
Test(launch_tpm, tpm_unreachable_at_first_then_a_later_start_closes_first)
{
    extend_as_the_launcher();
    char err[8192], out[256];
    const char *argv[] = {test_binary("SRTMD"), "--config", P.conf, "--tcti",
                          "swtpm:host=127.0.0.1,port=1", "--foreground", NULL};
    cr_expect_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
    cr_expect(strstr(err, "COULD NOT CLOSE") != NULL, "%s", err);
    cr_expect_eq(other_unseal(), SRTM_OK, "the unreachable TPM was closed after all?");
    int rc = launch_srtmd(NULL, err, sizeof(err));
    cr_expect_eq(rc, 1, "the later srtmd exited %d: %s", rc, err);
    cr_expect(strstr(err, "refuses to unseal the IRK") != NULL,
              "the later srtmd obtained the IRK of a stale period: %s", err);
    cr_expect_eq(other_unseal(), SRTM_E_DENIED, "the later start left the period open");
}

Test(launch_tpm, close_ends_the_period)
{
    open_the_door();
    char err[4096];
    cr_assert_eq(LAUNCH("--close", "--config", P.conf, "--tcti", P.tpm.tcti), 0, "%s", err);
    cr_expect_eq(other_unseal(), SRTM_E_DENIED);
}

/* The exec of srtmd fails after the extend (a file that is not executable): the launcher
 * closes the period itself. */
Test(launch_tpm, a_failed_exec_closes)
{
    char fake[400], err[4096];
    snprintf(fake, sizeof(fake), "%s/srtmd-not-executable", P.dir);
    write_text(fake, "not a program\n", 0644);
    provision(fake);
    int rc = LAUNCH("--tcti", P.tpm.tcti, "--config", P.conf, "--", fake, "--config", P.conf);
    cr_expect_eq(rc, 1, "exit %d: %s", rc, err);
    cr_expect(strstr(err, "cannot execute") != NULL && strstr(err, "closing") != NULL, "%s",
              err);
    cr_expect_eq(other_unseal(), SRTM_E_DENIED, "a failed exec left the period open");
}

/* srtmd must run with the configuration and the TPM that were measured and extended, and
 * in a way that closes the period. */
Test(launch_tpm, srtmd_with_another_configuration_or_tpm_is_not_launched)
{
    char other[400], err[4096];
    uint8_t before[32], after[32];
    snprintf(other, sizeof(other), "%s/other.conf", P.dir);
    write_text(other, "srtm-pcr 15\nno-seccomp\n", 0644);
    pcr15(before);
    cr_expect_eq(LAUNCH("--tcti", P.tpm.tcti, "--config", P.conf, "--", test_binary("SRTMD"),
                        "--config", other),
                 2);
    cr_expect(strstr(err, "same --config") != NULL, "%s", err);
    cr_expect_eq(LAUNCH("--tcti", P.tpm.tcti, "--config", P.conf, "--", test_binary("SRTMD"),
                        "--config", P.conf, "--tcti", "swtpm:host=127.0.0.1,port=1"),
                 2);
    cr_expect(strstr(err, "not the TPM extended here") != NULL, "%s", err);
    cr_expect_eq(LAUNCH("--tcti", P.tpm.tcti, "--", test_binary("SRTMD"), "--config", other),
                 2);
    /* An srtmd that would run without a TPM, or only print, would never close. */
    const char *never[] = {"--no-tpm", "--help", "--version"};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(LAUNCH("--tcti", P.tpm.tcti, "--config", P.conf, "--",
                            test_binary("SRTMD"), "--config", P.conf, never[i]),
                     2, "launched srtmd %s", never[i]);
        cr_expect(strstr(err, "would never close") != NULL, "%s", err);
    }
    write_text(other, "srtm-pcr 15\nno-tpm\n", 0644);
    cr_expect_eq(LAUNCH("--tcti", P.tpm.tcti, "--config", other, "--", test_binary("SRTMD"),
                        "--config", other),
                 2);
    cr_expect(strstr(err, "other.conf:2: no-tpm") != NULL, "%s", err);
    pcr15(after);
    cr_expect_arr_eq(before, after, 32, "a refused launch extended the SRTM PCR");
}

/* ---- one grammar: a file srtmd refuses, every tool refuses, before extending ---------- */

Test(launch_tpm, bad_configurations_are_refused_by_every_tool_with_file_and_line)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"srtm-pcr 15\nsrtm-pcr 14\n", ":2: 'srtm-pcr' given twice"},
        {"srtm-pcr=14\n", ":1: 'srtm-pcr=14': write 'key value'"},
        {"# x\nsrtm-pcrs 14\n", ":2: unknown key 'srtm-pcrs'"},
        {"srtm-pcr 15\nproof-pcrs\n", ":2: 'proof-pcrs' needs a value"},
        {"no-seccomp 1\n", ":1: 'no-seccomp' is a flag"},
    };
    char conf[400], err[8192], out[256], url[400], cap[400];
    snprintf(conf, sizeof(conf), "%s/bad.conf", P.dir);
    snprintf(url, sizeof(url), "ipc://%s/bad.sock", P.dir);
    snprintf(cap, sizeof(cap), "%s/bad.cap", P.dir);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char want[400];
        snprintf(want, sizeof(want), "%s%s", conf, bad[i].want);
        write_text(conf, bad[i].text, 0644);
        uint8_t before[32], after[32];
        pcr15(before);
        int rc = LAUNCH("--tcti", P.tpm.tcti, "--config", conf, "--", test_binary("SRTMD"),
                        "--config", conf);
        cr_expect_eq(rc, 2, "srtm-launch accepted %s", bad[i].text);
        cr_expect(strstr(err, want) != NULL, "srtm-launch: want '%s', got %s", want, err);
        pcr15(after);
        cr_expect_arr_eq(before, after, 32, "srtm-launch extended for %s", bad[i].text);
        rc = KEYMGR("--tcti", P.tpm.tcti, "predict", "--srtmd", test_binary("SRTMD"),
                    "--config", conf, "-o", P.ref, "--force");
        cr_expect_eq(rc, 2, "srtm-keymgr accepted %s", bad[i].text);
        cr_expect(strstr(err, want) != NULL, "srtm-keymgr: want '%s', got %s", want, err);
        const char *srtmd[] = {test_binary("SRTMD"), "--config", conf, "--no-tpm",
                               "--foreground", "--listen", url, "--admin-cap", cap, NULL};
        rc = test_run(srtmd, out, sizeof(out), err, sizeof(err));
        cr_expect_eq(rc, 2, "srtmd accepted %s", bad[i].text);
        cr_expect(strstr(err, want) != NULL, "srtmd: want '%s', got %s", want, err);
    }
}

/* Without --config, srtmd with a TPM takes no option that changes what it does. */
Test(launch_tpm, without_a_configuration_unmeasured_options_are_refused)
{
    char err[4096], out[256];
    const char *workers[] = {test_binary("SRTMD"), "--tcti", P.tpm.tcti, "--foreground",
                             "--workers", "4", NULL};
    cr_expect_eq(test_run(workers, out, sizeof(out), err, sizeof(err)), 2);
    cr_expect(strstr(err, "--workers is refused on the command line") != NULL, "%s", err);
    const char *listen[] = {test_binary("SRTMD"), "--tcti", P.tpm.tcti, "--foreground",
                            "--listen", P.url, NULL};
    cr_expect_eq(test_run(listen, out, sizeof(out), err, sizeof(err)), 2);
    cr_expect(strstr(err, "--listen is refused on the command line") != NULL, "%s", err);
    /* The control: with --no-tpm (no IRK, no signed reports) the same is allowed. */
    const char *no_tpm[] = {"/usr/bin/timeout", "--preserve-status", "2", test_binary("SRTMD"),
                            "--no-tpm", "--foreground", "--workers", "4", "--listen", P.url,
                            "--admin-cap", P.cap, NULL};
    cr_expect_eq(test_run(no_tpm, out, sizeof(out), err, sizeof(err)), 0,
                 "srtmd --no-tpm with command-line options did not serve: %s", err);
}
