/*
 * What an operator meets with srtm-keymgr and srtm-launch on a new machine: --version,
 * a missing /var/lib/srtm, tctildr's default search, enroll --reuse, an owner password
 * (tpm2_changeauth -c owner) and a TPM in dictionary-attack lockout. Each refusal is
 * checked next to the case that works.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common.h"
#include "helpers.h"
#include "km.h"

#define AIK_HANDLE "0x81010002"

static char dir[256];
static test_swtpm tpm;
static char err[8192];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/srtm-kmcli-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
}

static void remove_dir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect(system(cmd) == 0);
}

static void tpm_setup(void)
{
    make_dir();
    test_swtpm_start(&tpm);
    cr_assert(setenv("TPM2TOOLS_TCTI", tpm.tcti, 1) == 0);
}

static void tpm_teardown(void)
{
    test_swtpm_stop(&tpm);
    remove_dir();
}

static void path_in(char *out, size_t size, const char *name)
{
    cr_assert((size_t)snprintf(out, size, "%s/%s", dir, name) < size);
}

/* Run a tpm2-tools program (from /usr/bin) on this test's swtpm; its exit status. */
static int tpm2(const char *const *argv)
{
    char out[4096];
    return test_run(argv, out, sizeof(out), err, sizeof(err));
}

TestSuite(tools, .init = make_dir, .fini = remove_dir, .timeout = 60);

Test(tools, version_of_every_program)
{
    static const char *const progs[][2] = {
        {"SRTM_KEYMGR", "srtm-keymgr "}, {"SRTM_LAUNCH", "srtm-launch "}, {"SRTMD", "srtmd "}};
    for (size_t i = 0; i < 3; i++) {
        const char *argv[] = {test_binary(progs[i][0]), "--version", NULL};
        char out[256];
        cr_expect_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 0, "%s: %s",
                     progs[i][1], err);
        cr_expect(strncmp(out, progs[i][1], strlen(progs[i][1])) == 0 &&
                      strstr(out, SRTM_VERSION_STRING) != NULL,
                  "%s", out);
    }
}

/* -o in a directory that does not exist yet (/var/lib/srtm on a new machine): created,
 * one level only; a path two levels short is refused. */
Test(tools, output_directory_is_created_one_level)
{
    char out[300], deep[300], sub[300];
    path_in(out, sizeof(out), "new/ref.json");
    path_in(deep, sizeof(deep), "a/b/ref.json");
    path_in(sub, sizeof(sub), "new");
    /* Proof PCRs = the SRTM PCR alone: predict needs no TPM. */
    const char *args[] = {"predict", "--srtmd", test_binary("SRTMD"), "--proof-pcrs", "15",
                          "-o", out, NULL};
    cr_assert_eq(test_tool("SRTM_KEYMGR", args, err, sizeof(err)), 0, "%s", err);
    cr_expect(test_path_exists(out));
    struct stat st;
    cr_assert(stat(sub, &st) == 0);
    cr_expect_eq(st.st_mode & 07777, 0755, "public output: 0755, not %o", st.st_mode & 07777);
    args[6] = deep;
    cr_expect_eq(test_tool("SRTM_KEYMGR", args, err, sizeof(err)), 1);
    cr_expect(strstr(err, "No such file or directory") != NULL, "%s", err);
    char a[300];
    path_in(a, sizeof(a), "a");
    cr_expect(!test_path_exists(a), "a mistyped path was built");
}

/* Without --tcti tctildr searches; what it did not find is not printed as errors (four
 * "ERROR:tcti" lines before), and the message says how to name the TPM and see more. */
Test(tools, default_tcti_search_is_quiet)
{
    cr_assert(unsetenv("TSS2_LOG") == 0);
    char out[300];
    path_in(out, sizeof(out), "ref.json");
    const char *args[] = {"predict", "--srtmd", test_binary("SRTMD"), "-o", out, NULL};
    int rc = test_tool("SRTM_KEYMGR", args, err, sizeof(err));
    if (rc == 0)
        cr_skip_test("tctildr's default found a TPM on this machine");
    cr_expect_eq(rc, 1, "%s", err);
    cr_expect(strstr(err, "ERROR:tcti") == NULL, "%s", err);
    cr_expect(strstr(err, "--tcti") != NULL && strstr(err, "TSS2_LOG=tcti+debug") != NULL,
              "%s", err);
    /* TSS2_LOG given: it wins, the search is shown. */
    cr_assert(setenv("TSS2_LOG", "tcti+error", 1) == 0);
    cr_expect_eq(test_tool("SRTM_KEYMGR", args, err, sizeof(err)), 1);
    cr_expect(strstr(err, "ERROR:tcti") != NULL, "%s", err);
}

TestSuite(tools_tpm, .init = tpm_setup, .fini = tpm_teardown, .timeout = 120);

/* enroll --reuse on an enrolled TPM: exit 0 and no error printed; without --reuse: a
 * refusal that names --reuse. */
Test(tools_tpm, enroll_reuse_is_not_an_error)
{
    char pem[300], pem2[300];
    path_in(pem, sizeof(pem), "aik.pem");
    path_in(pem2, sizeof(pem2), "aik2.pem");
    const char *args[] = {"--tcti", tpm.tcti, "enroll", "--aik-pem", pem, NULL, NULL};
    cr_assert_eq(test_tool("SRTM_KEYMGR", args, err, sizeof(err)), 0, "%s", err);
    args[4] = pem2;
    cr_expect_eq(test_tool("SRTM_KEYMGR", args, err, sizeof(err)), 1);
    cr_expect(strstr(err, "--reuse") != NULL, "%s", err);
    args[5] = "--reuse";
    cr_expect_eq(test_tool("SRTM_KEYMGR", args, err, sizeof(err)), 0, "%s", err);
    cr_expect(strstr(err, "error") == NULL, "enroll --reuse printed: %s", err);
    /* The output file exists now: --force, which enroll takes, is what the message names. */
    cr_expect_eq(test_tool("SRTM_KEYMGR", args, err, sizeof(err)), 1);
    cr_expect(strstr(err, "--force") != NULL, "%s", err);
    const char *forced[] = {"--tcti", tpm.tcti, "enroll", "--aik-pem", pem2, "--reuse",
                            "--force", NULL};
    cr_expect_eq(test_tool("SRTM_KEYMGR", forced, err, sizeof(err)), 0, "%s", err);
}

/* An owner password (tpm2_changeauth -c owner): wrap-irk without -P fails with a message
 * that says to give -P; with the password it seals, into a directory it creates 0700. */
Test(tools_tpm, wrap_irk_with_an_owner_password)
{
    char ref[300], blob[300], sub[300];
    path_in(ref, sizeof(ref), "ref.json");
    path_in(sub, sizeof(sub), "lib");
    path_in(blob, sizeof(blob), "lib/irk.sealed");
    const char *predict[] = {"--tcti", tpm.tcti, "predict", "--srtmd", test_binary("SRTMD"),
                             "-o", ref, NULL};
    cr_assert_eq(test_tool("SRTM_KEYMGR", predict, err, sizeof(err)), 0, "%s", err);
    const char *change[] = {"/usr/bin/tpm2_changeauth", "-c", "owner", "s3cret", NULL};
    cr_assert_eq(tpm2(change), 0, "tpm2_changeauth: %s", err);

    const char *wrap[] = {"--tcti", tpm.tcti, "wrap-irk", "--reference", ref, "-o", blob,
                          NULL, NULL, NULL};
    cr_expect_eq(test_tool("SRTM_KEYMGR", wrap, err, sizeof(err)), 1);
    cr_expect(strstr(err, "0x9a2") != NULL && strstr(err, "-P") != NULL, "%s", err);
    cr_expect(!test_path_exists(blob));
    wrap[7] = "-P";
    wrap[8] = "wrong";
    cr_expect_eq(test_tool("SRTM_KEYMGR", wrap, err, sizeof(err)), 1);
    wrap[8] = "s3cret";
    cr_expect_eq(test_tool("SRTM_KEYMGR", wrap, err, sizeof(err)), 0, "%s", err);
    struct stat st;
    cr_assert(stat(blob, &st) == 0, "no sealed IRK");
    cr_assert(stat(sub, &st) == 0);
    cr_expect_eq(st.st_mode & 07777, 0700, "the IRK's directory is %o", st.st_mode & 07777);
    /* The same in hex. */
    const char *hex[] = {"--tcti", tpm.tcti, "wrap-irk", "--reference", ref, "-o", blob,
                         "--force", "--owner-auth", "hex:733363726574", NULL};
    cr_expect_eq(test_tool("SRTM_KEYMGR", hex, err, sizeof(err)), 0, "%s", err);
    /* enroll persists the AIK under the owner hierarchy: the same password. */
    char pem[300];
    path_in(pem, sizeof(pem), "aik.pem");
    const char *enroll[] = {"--tcti", tpm.tcti, "enroll", "--aik-pem", pem, NULL, NULL, NULL};
    cr_expect_eq(test_tool("SRTM_KEYMGR", enroll, err, sizeof(err)), 1);
    cr_expect(strstr(err, "-P") != NULL, "%s", err);
    enroll[5] = "-P";
    enroll[6] = "s3cret";
    cr_expect_eq(test_tool("SRTM_KEYMGR", enroll, err, sizeof(err)), 0, "%s", err);
    /* From a file, off the command line: the password with its newline, or in hex. */
    char pw[300], arg[320];
    path_in(pw, sizeof(pw), "owner.pw");
    snprintf(arg, sizeof(arg), "file:%s", pw);
    const char *by_file[] = {"--tcti", tpm.tcti, "-P", arg, "wrap-irk", "--reference", ref,
                             "-o", blob, "--force", NULL};
    FILE *f = fopen(pw, "w");
    cr_assert_not_null(f);
    fputs("s3cret\n", f);
    fclose(f);
    cr_expect_eq(test_tool("SRTM_KEYMGR", by_file, err, sizeof(err)), 0, "%s", err);
    f = fopen(pw, "w");
    fputs("hex:733363726574\r\n", f);
    fclose(f);
    cr_expect_eq(test_tool("SRTM_KEYMGR", by_file, err, sizeof(err)), 0, "%s", err);
    /* The wrong password in the file, a missing file and an over-long one are refused. */
    f = fopen(pw, "w");
    fputs("s3cre7\n", f);
    fclose(f);
    cr_expect_eq(test_tool("SRTM_KEYMGR", by_file, err, sizeof(err)), 1);
    f = fopen(pw, "w");
    for (int i = 0; i < 200; i++)
        fputc('a', f);
    fclose(f);
    cr_expect_eq(test_tool("SRTM_KEYMGR", by_file, err, sizeof(err)), 1);
    cr_expect(strstr(err, "over 64 bytes") != NULL, "%s", err);
    unlink(pw);
    cr_expect_eq(test_tool("SRTM_KEYMGR", by_file, err, sizeof(err)), 1);
    cr_expect(strstr(err, "file:") != NULL && strstr(err, "No such file") != NULL, "%s", err);
}

/* Dictionary-attack lockout (one failed authorization of a DA-protected object, with the
 * TPM's maximum set to 1): the AIK (DA-protected) cannot quote, and the message names the
 * remedy. After tpm2_dictionarylockout -c the same quote works. */
Test(tools_tpm, lockout_message_names_the_remedy)
{
    char pem[300], prim[300], pub[300], priv[300];
    path_in(pem, sizeof(pem), "aik.pem");
    path_in(prim, sizeof(prim), "prim.ctx");
    path_in(pub, sizeof(pub), "key.pub");
    path_in(priv, sizeof(priv), "key.priv");
    const char *enroll[] = {"--tcti", tpm.tcti, "enroll", "--aik-pem", pem, NULL};
    cr_assert_eq(test_tool("SRTM_KEYMGR", enroll, err, sizeof(err)), 0, "%s", err);
    const char *setda[] = {"/usr/bin/tpm2_dictionarylockout", "-s", "-n", "1", "-t", "600",
                           "-l", "600", NULL};
    cr_assert_eq(tpm2(setda), 0, "%s", err);
    const char *mkprim[] = {"/usr/bin/tpm2_createprimary", "-C", "o", "-p", "good", "-c",
                            prim, NULL};
    cr_assert_eq(tpm2(mkprim), 0, "%s", err);
    const char *bad[] = {"/usr/bin/tpm2_create", "-C", prim, "-P", "bad", "-u", pub, "-r",
                         priv, NULL};
    cr_assert_neq(tpm2(bad), 0, "a wrong password was accepted");

    km_ctx *ctx = NULL;
    cr_assert_eq(km_open(tpm.tcti, &ctx), SRTM_OK);
    const km_aik *aik = NULL;
    cr_assert_eq(km_aik_load(ctx, 0x81010002u, &aik), SRTM_OK);
    km_tpm_quote q;
    uint8_t nonce[16] = {1};
    char logf[300];
    path_in(logf, sizeof(logf), "stderr");
    int saved = dup(STDERR_FILENO), fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    srtm_err e = km_quote(ctx, aik, 0x1, nonce, sizeof(nonce), &q);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fd);
    char *log = NULL;
    size_t len = 0;
    cr_assert_eq(read_small_file(logf, 65536, &log, &len), SRTM_OK);
    cr_expect_neq(e, SRTM_OK, "a quote in lockout");
    cr_expect(strstr(log, "lockout") != NULL && strstr(log, "tpm2_dictionarylockout -c"),
              "%s", log);
    free(log);

    const char *clear[] = {"/usr/bin/tpm2_dictionarylockout", "-c", NULL};
    cr_assert_eq(tpm2(clear), 0, "%s", err);
    cr_expect_eq(km_quote(ctx, aik, 0x1, nonce, sizeof(nonce), &q), SRTM_OK,
                 "the quote after the reset");
    km_close(ctx);
}
