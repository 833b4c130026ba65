/*
 * Faults around the TPM-side files and the TPM itself, on a real swtpm with the shipped
 * tools: a sealed IRK that is missing, damaged, replaceable by others, a symbolic link or
 * a directory; a full disk under srtm-keymgr's outputs, srtmctl quote's evidence and
 * --export-tpm files and the S1T scheme's new blob; swtpm killed while many quotes are in
 * flight. Each ends in a clear message, a non-zero exit where a tool fails, and a defined
 * state: no partial or temporary file, an old file left whole, srtmd serving on.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"

#define NOBODY 65534

typedef struct platform {
    test_swtpm tpm;
    char dir[256];
    char conf[320], blob[320], ref[320], pem[320];
    test_daemon d;
    bool running;
    bool launch; /* launch() was called: the next srtmd start goes through srtm-launch */
    char mnt[64]; /* a small full tmpfs, when a test mounted one */
} platform;

static platform P;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void write_bytes(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    cr_assert(fd >= 0, "cannot create %s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* The whole of a file (at most size bytes); its length, or -1 when missing. */
static ssize_t read_bytes(const char *path, void *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len < size && (n = read(fd, (char *)buf + len, size - len)) > 0)
        len += (size_t)n;
    close(fd);
    return (ssize_t)len;
}

#define KEYMGR(...) \
    test_tool("SRTM_KEYMGR", (const char *const[]){__VA_ARGS__, NULL}, err, sizeof(err))
#define CTL(...) \
    test_tool("SRTMCTL", (const char *const[]){__VA_ARGS__, NULL}, err, sizeof(err))

static void write_conf(const char *blob, const char *extra)
{
    char text[2048], lines[800];
    test_daemon_conf_lines(&P.d, lines, sizeof(lines));
    int n = snprintf(text, sizeof(text), "srtm-pcr 15\nproof-pcrs 0-7\nirk-blob %s\n%s%s", blob,
                     lines, extra != NULL ? extra : "");
    write_bytes(P.conf, text, (size_t)n, 0644);
}

/* Predict and wrap the IRK for the configuration into blob. */
static void provision(const char *blob)
{
    char err[4096];
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "predict", "--srtmd", test_binary("SRTMD"),
                        "--config", P.conf, "-o", P.ref, "--force"),
                 0, "predict: %s", err);
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "wrap-irk", "--reference", P.ref, "-o", blob,
                        "--force"),
                 0, "wrap-irk: %s", err);
}

/* The next srtmd start goes through srtm-launch, which measures and extends, then
 * executes srtmd (one step, as the unit starts it). */
static void launch(void)
{
    P.launch = true;
}

static void start_srtmd(void)
{
    cr_assert(P.launch, "srtmd starts through srtm-launch only");
    test_daemon_launch(&P.d, P.tpm.tcti, P.conf, NULL);
    P.launch = false;
    P.running = true;
}

/* srtmd expecting a refusal: its exit status, stderr in err. With irk_blob, a
 * configuration like P.conf naming that sealed IRK and a socket of its own (the period is
 * closed already: srtmd is refused at the blob); else P.conf, through srtm-launch when
 * launch() was called. */
static int srtmd_refused(const char *irk_blob, char *err, size_t err_size)
{
    char sock[400], cap[400], conf[400];
    snprintf(sock, sizeof(sock), "%s/srtmd.sock", P.d.dir);
    snprintf(cap, sizeof(cap), "%s", P.d.cap_path);
    snprintf(conf, sizeof(conf), "%s", P.conf);
    if (irk_blob != NULL) {
        char text[1200];
        snprintf(conf, sizeof(conf), "%s/refused.conf", P.dir);
        snprintf(sock, sizeof(sock), "%s/refused.sock", P.dir);
        snprintf(cap, sizeof(cap), "%s/refused.cap", P.dir);
        int n = snprintf(text, sizeof(text),
                         "srtm-pcr 15\nproof-pcrs 0-7\nirk-blob %s\nlisten ipc://%s\n"
                         "admin-cap %s\n",
                         irk_blob, sock, cap);
        write_bytes(conf, text, (size_t)n, 0644);
    }
    cr_assert(mkdir(P.d.dir, 0700) == 0 || errno == EEXIST);
    const char *argv[24];
    size_t n = 0;
    argv[n++] = "/usr/bin/timeout"; /* an srtmd that does not refuse: status 124 */
    argv[n++] = "60";
    if (P.launch) {
        argv[n++] = test_binary("SRTM_LAUNCH");
        argv[n++] = "--tcti";
        argv[n++] = P.tpm.tcti;
        argv[n++] = "--config";
        argv[n++] = conf;
        argv[n++] = "--";
        P.launch = false;
    }
    const char *rest[] = {test_binary("SRTMD"), "--config", conf, "--tcti", P.tpm.tcti,
                          "--foreground", "--log-level", "warn", NULL};
    for (size_t i = 0; rest[i] != NULL; i++)
        argv[n++] = rest[i];
    argv[n] = NULL;
    char out[256];
    int rc = test_run(argv, out, sizeof(out), err, err_size);
    cr_expect(!test_path_exists(cap), "a refused srtmd wrote an admin capability");
    cr_expect(!test_path_exists(sock), "a refused srtmd left its socket");
    return rc;
}

static void unmount_full(void)
{
    if (P.mnt[0] == '\0')
        return;
    if (umount2(P.mnt, MNT_DETACH) != 0)
        fprintf(stderr, "cannot unmount %s: %s\n", P.mnt, strerror(errno));
    rmdir(P.mnt);
    P.mnt[0] = '\0';
}

/* Mount a small tmpfs (skip the test when that is not possible). */
static void small_disk(void)
{
    if (geteuid() != 0)
        cr_skip("needs root to mount a small tmpfs");
    snprintf(P.mnt, sizeof(P.mnt), "/tmp/srtm-full-XXXXXX");
    cr_assert(mkdtemp(P.mnt) != NULL);
    if (mount("tmpfs", P.mnt, "tmpfs", 0, "size=256k,mode=0755") != 0) {
        int e = errno;
        rmdir(P.mnt);
        P.mnt[0] = '\0';
        cr_skip("cannot mount a tmpfs (%s): the full-disk test needs it", strerror(e));
    }
}

/* Fill the tmpfs to the last byte. */
static void fill_disk(void)
{
    char fill[300];
    snprintf(fill, sizeof(fill), "%s/fill", P.mnt);
    int fd = open(fill, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    static char block[4096];
    while (write(fd, block, sizeof(block)) > 0)
        ;
    cr_assert_eq(errno, ENOSPC, "filling the tmpfs: %s", strerror(errno));
    while (write(fd, block, 1) > 0)
        ;
    close(fd);
}

static void setup(void)
{
    memset(&P, 0, sizeof(P));
    setenv("TSS2_LOG", "all+NONE", 1);
    test_swtpm_start(&P.tpm);
    test_daemon_prepare(&P.d);
    snprintf(P.dir, sizeof(P.dir), "/tmp/srtm-faults-tpm-XXXXXX");
    cr_assert(mkdtemp(P.dir) != NULL);
    snprintf(P.conf, sizeof(P.conf), "%s/srtmd.conf", P.dir);
    snprintf(P.blob, sizeof(P.blob), "%s/irk.sealed", P.dir);
    snprintf(P.ref, sizeof(P.ref), "%s/reference.json", P.dir);
    snprintf(P.pem, sizeof(P.pem), "%s/aik.pem", P.dir);
    char err[4096];
    cr_assert_eq(KEYMGR("--tcti", P.tpm.tcti, "enroll", "--aik-pem", P.pem), 0, "enroll: %s",
                 err);
    write_conf(P.blob, NULL);
}

static void teardown(void)
{
    /* srtmd must exit cleanly on SIGTERM; criterion ignores assertions in .fini. */
    if (P.running && test_daemon_stop(&P.d) != 0) {
        fprintf(stderr, "srtmd did not exit cleanly on SIGTERM\n");
        abort();
    }
    if (!P.running)
        test_daemon_stop(&P.d); /* removes its directory */
    unmount_full();
    test_swtpm_stop(&P.tpm);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", P.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", P.dir);
}

TestSuite(faults_tpm, .init = setup, .fini = teardown, .timeout = 300);

/* ---- the sealed IRK ------------------------------------------------------------------- */

Test(faults_tpm, irk_blob_missing_damaged_or_replaceable_stops_srtmd)
{
    provision(P.blob);
    launch();
    /* Readable by everyone is fine (it is sealed): a 0644 blob starts srtmd. */
    cr_assert_eq(chmod(P.blob, 0644), 0);
    start_srtmd();
    cr_assert(test_daemon_alive(&P.d));
    test_daemon_stop(&P.d);
    P.running = false;

    static uint8_t good[2048];
    ssize_t len = read_bytes(P.blob, good, sizeof(good));
    cr_assert(len > 16 && len < 1024, "blob of %zd bytes", len);
    char bad[400], err[8192];
    snprintf(bad, sizeof(bad), "%s/bad.sealed", P.dir);
    typedef struct bad_case {
        const char *what;
        const char *message;
    } bad_case;
    static const bad_case cases[] = {
        {"missing", "does not exist"},
        {"empty", "has 0 bytes"},
        {"truncated", "is damaged"},
        {"garbage", "is damaged"},
        {"too large", "not 1 to 1024"},
        {"group-writable", "writable by group or others"},
        {"world-writable", "writable by group or others"},
        {"another user's", "belongs to uid 65534"},
        {"a symbolic link", "is a symbolic link"},
        {"a directory", "not a regular file (a directory)"},
    };
    static uint8_t junk[2000];
    memset(junk, 0x5a, sizeof(junk));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bad_case *c = &cases[i];
        char cmd[500];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", bad);
        cr_assert_eq(system(cmd), 0);
        if (strcmp(c->what, "empty") == 0)
            write_bytes(bad, "", 0, 0600);
        else if (strcmp(c->what, "truncated") == 0)
            write_bytes(bad, good, (size_t)len / 2, 0600);
        else if (strcmp(c->what, "garbage") == 0)
            write_bytes(bad, junk, (size_t)len, 0600);
        else if (strcmp(c->what, "too large") == 0)
            write_bytes(bad, junk, sizeof(junk), 0600);
        else if (strcmp(c->what, "group-writable") == 0)
            write_bytes(bad, good, (size_t)len, 0660);
        else if (strcmp(c->what, "world-writable") == 0)
            write_bytes(bad, good, (size_t)len, 0606);
        else if (strcmp(c->what, "another user's") == 0) {
            if (geteuid() != 0)
                continue;
            write_bytes(bad, good, (size_t)len, 0644);
            cr_assert_eq(chown(bad, NOBODY, NOBODY), 0);
        } else if (strcmp(c->what, "a symbolic link") == 0)
            cr_assert_eq(symlink(P.blob, bad), 0);
        else if (strcmp(c->what, "a directory") == 0)
            cr_assert_eq(mkdir(bad, 0700), 0);
        int rc = srtmd_refused(bad, err, sizeof(err));
        cr_expect_eq(rc, 1, "%s: srtmd exited %d: %s", c->what, rc, err);
        cr_expect(strstr(err, c->message) != NULL, "%s: unclear message: %s", c->what, err);
        cr_expect(strstr(err, bad) != NULL, "%s: the message does not name the blob: %s",
                  c->what, err);
        if (strcmp(c->what, "missing") == 0)
            cr_expect(strstr(err, "srtm-keymgr wrap-irk") != NULL,
                      "the message does not say how to create the blob: %s", err);
    }
    /* None of it touched the good blob. */
    static uint8_t after[2048];
    cr_expect_eq(read_bytes(P.blob, after, sizeof(after)), len);
    cr_expect_arr_eq(after, good, (size_t)len, "the good blob changed");
}

/* ---- a full disk ------------------------------------------------------------------------ */

/* S1T creates the IRK at the first start; if it cannot store it, the IRK would be lost at
 * the next boot, so srtmd does not start with it. */
Test(faults_tpm, s1t_on_a_full_disk_refuses_to_start)
{
    small_disk();
    char blob[200], err[8192];
    snprintf(blob, sizeof(blob), "%s/irk.sealed", P.mnt);
    write_conf(blob, "irk-scheme s1t\n");
    launch();
    fill_disk();
    int rc = srtmd_refused(NULL, err, sizeof(err));
    cr_expect_eq(rc, 1, "srtmd exited %d: %s", rc, err);
    cr_expect(strstr(err, blob) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect(strstr(err, "could not be recovered") != NULL, "the consequence is not said: %s",
              err);
    cr_expect(!test_path_exists(blob), "a partial blob was left");
    cr_expect_eq(test_count_names(P.mnt, ".tmp"), 0, "a temporary file was left");
}

Test(faults_tpm, keymgr_outputs_on_a_full_disk_leave_no_partial_file)
{
    small_disk();
    char blob[200], ref[200], pem[200], err[8192];
    snprintf(blob, sizeof(blob), "%s/irk.sealed", P.mnt);
    snprintf(ref, sizeof(ref), "%s/reference.json", P.mnt);
    snprintf(pem, sizeof(pem), "%s/aik.pem", P.mnt);
    /* A blob that exists before the disk fills up. */
    provision(blob);
    static uint8_t before[2048], after[2048];
    ssize_t len = read_bytes(blob, before, sizeof(before));
    cr_assert_gt(len, 0);
    fill_disk();
    /* wrap-irk --force over it: fails, and the old blob is still whole. */
    int rc = KEYMGR("--tcti", P.tpm.tcti, "wrap-irk", "--reference", P.ref, "-o", blob,
                    "--force");
    cr_expect_eq(rc, 1, "wrap-irk exited %d: %s", rc, err);
    cr_expect(strstr(err, blob) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect_eq(read_bytes(blob, after, sizeof(after)), len, "the old blob was truncated");
    cr_expect_arr_eq(after, before, (size_t)len, "the old blob changed");
    /* Without --force it is refused as before, with the way out in the message. */
    rc = KEYMGR("--tcti", P.tpm.tcti, "wrap-irk", "--reference", P.ref, "-o", blob);
    cr_expect_eq(rc, 1);
    cr_expect(strstr(err, "--force") != NULL, "unclear message: %s", err);
    /* New files on the full disk: none is left half written. */
    char other[200];
    snprintf(other, sizeof(other), "%s/new.sealed", P.mnt);
    rc = KEYMGR("--tcti", P.tpm.tcti, "wrap-irk", "--reference", P.ref, "-o", other);
    cr_expect_eq(rc, 1, "wrap-irk exited %d: %s", rc, err);
    cr_expect(strstr(err, "No space left on device") != NULL, "unclear message: %s", err);
    cr_expect(!test_path_exists(other), "a partial blob was left");
    rc = KEYMGR("--tcti", P.tpm.tcti, "predict", "--srtmd", test_binary("SRTMD"), "--config",
                P.conf, "-o", ref);
    cr_expect_eq(rc, 1, "predict exited %d: %s", rc, err);
    cr_expect(strstr(err, ref) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(ref), "a partial reference was left");
    rc = KEYMGR("--tcti", P.tpm.tcti, "enroll", "--reuse", "--aik-pem", pem);
    cr_expect_eq(rc, 1, "enroll exited %d: %s", rc, err);
    cr_expect(strstr(err, pem) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(pem), "a partial AIK file was left");
    cr_expect_eq(test_count_names(P.mnt, ".tmp"), 0, "a temporary file was left");
}

Test(faults_tpm, quote_outputs_on_a_full_disk_leave_no_partial_file)
{
    provision(P.blob);
    launch();
    start_srtmd();
    small_disk();
    char ev[200], dir[200], err[8192];
    snprintf(ev, sizeof(ev), "%s/evidence.bin", P.mnt);
    snprintf(dir, sizeof(dir), "%s/export", P.mnt);
    const char *nonce = "00112233445566778899aabbccddeeff";
    /* An evidence file from before the disk filled up. */
    int rc = CTL("--socket", P.d.url, "quote", "--nonce", nonce, "-o", ev);
    cr_assert_eq(rc, 0, "quote: %s", err);
    static uint8_t before[65536], after[65536];
    ssize_t len = read_bytes(ev, before, sizeof(before));
    cr_assert_gt(len, 0);
    fill_disk();
    rc = CTL("--socket", P.d.url, "quote", "--nonce", nonce, "-o", ev);
    cr_expect_eq(rc, 4, "quote exited %d: %s", rc, err);
    cr_expect(strstr(err, ev) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect_eq(read_bytes(ev, after, sizeof(after)), len, "the old evidence was truncated");
    cr_expect_arr_eq(after, before, (size_t)len, "the old evidence changed");
    /* --export-tpm into the full disk (the evidence itself elsewhere). */
    char ev2[400];
    snprintf(ev2, sizeof(ev2), "%s/evidence2.bin", P.dir);
    rc = CTL("--socket", P.d.url, "quote", "--nonce", nonce, "-o", ev2, "--export-tpm", dir);
    cr_expect_eq(rc, 4, "quote --export-tpm exited %d: %s", rc, err);
    cr_expect(strstr(err, dir) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect_eq(test_count_names(dir, "quote."), 0, "partial export files were left");
    cr_expect_eq(test_count_names(dir, ".tmp"), 0, "temporary export files were left");
    cr_expect_eq(test_count_names(P.mnt, ".tmp"), 0, "a temporary file was left");
    cr_expect(test_daemon_alive(&P.d));
}

/* ---- the TPM goes away under load --------------------------------------------------------- */

#define QUOTERS 16

typedef struct quoter_arg {
    const char *url;
    atomic_int *done; /* quotes answered so far, all threads */
    srtm_err last;
    char message[256];
    long longest_ms;
    int ok;
    int max_quotes; /* 0: until the first error */
} quoter_arg;

/* Quote until the first error (or 60 s, or max_quotes): record the last result, its
 * message and the longest call. */
static void *quoter(void *p)
{
    quoter_arg *a = p;
    srtm_conn *c = NULL;
    a->last = srtm_open(a->url, &c);
    if (a->last == SRTM_OK)
        a->last = srtm_set_timeout(c, 15000);
    long end = now_ms() + 60000;
    while (a->last == SRTM_OK && now_ms() < end && (a->max_quotes == 0 || a->ok < a->max_quotes)) {
        uint8_t nonce[16] = {1, 2, 3};
        memcpy(nonce + 4, &a, sizeof(a) < 12 ? sizeof(a) : 12);
        uint8_t *ev = NULL;
        size_t len = 0;
        long t0 = now_ms();
        a->last = srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev, &len);
        long took = now_ms() - t0;
        if (took > a->longest_ms)
            a->longest_ms = took;
        free(ev);
        if (a->last == SRTM_OK) {
            a->ok++;
            atomic_fetch_add(a->done, 1);
        }
    }
    if (c != NULL)
        snprintf(a->message, sizeof(a->message), "%s", srtm_last_message(c));
    srtm_close(c);
    return NULL;
}

/* swtpm killed while many verifiers quote: each gets a clear TPM error, none waits for
 * its time-out, srtmd stays up and CCR operations go on; quotes work again once the TPM
 * is back. */
Test(faults_tpm, swtpm_killed_with_quotes_in_flight)
{
    provision(P.blob);
    launch();
    start_srtmd();
    atomic_int done = 0;
    static quoter_arg args[QUOTERS];
    pthread_t th[QUOTERS];
    for (int i = 0; i < QUOTERS; i++) {
        args[i] = (quoter_arg){.url = P.d.url, .done = &done};
        cr_assert_eq(pthread_create(&th[i], NULL, quoter, &args[i]), 0);
    }
    long deadline = now_ms() + 30000;
    while (atomic_load(&done) < 2 * QUOTERS && now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_geq(atomic_load(&done), 2 * QUOTERS, "quotes did not get going");
    test_swtpm_kill(&P.tpm);
    long killed = now_ms();
    for (int i = 0; i < QUOTERS; i++)
        pthread_join(th[i], NULL);
    long all_back = now_ms() - killed;
    for (int i = 0; i < QUOTERS; i++) {
        cr_expect_eq(args[i].last, SRTM_E_TPM, "verifier %d ended with %s (%s)", i,
                     srtm_strerror(args[i].last), args[i].message);
        cr_expect(strstr(args[i].message, "TPM") != NULL, "verifier %d: unclear message: %s", i,
                  args[i].message);
        cr_expect_lt(args[i].longest_ms, 10000, "verifier %d waited %ld ms for an answer", i,
                     args[i].longest_ms);
    }
    cr_expect_lt(all_back, 10000, "the verifiers needed %ld ms to get their errors", all_back);
    cr_assert(test_daemon_alive(&P.d), "srtmd died with the TPM");
    /* CCR operations go on without the TPM. */
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    srtm_cap cap;
    uint64_t h;
    cr_expect_eq(srtm_register(c, &P.d.admin, "vm-after", 1, &h, &cap), SRTM_OK);
    uint8_t d[32] = {1};
    cr_expect_eq(srtm_extend(c, &cap, "vm-after", 0, d, 0, NULL, NULL), SRTM_OK);
    /* srtmctl status / srtm_status tell the operator that the TPM is failing. */
    srtm_status_info st = {.size = sizeof(st)};
    cr_expect_eq(srtm_status(c, &st), SRTM_OK);
    cr_expect(st.tpm && !st.tpm_ok, "status does not say the last TPM quote failed");
    /* The TPM comes back: quotes work again (srtmd's TCTI names the port). */
    int port = P.tpm.port;
    test_swtpm_reboot(&P.tpm);
    cr_assert_eq(P.tpm.port, port, "swtpm did not come back on its port");
    uint8_t nonce[16] = {7};
    uint8_t *ev = NULL;
    size_t len = 0;
    srtm_err err = SRTM_E_TPM;
    for (int i = 0; i < 20 && err != SRTM_OK; i++) {
        err = srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev, &len);
        if (err != SRTM_OK) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    cr_expect_eq(err, SRTM_OK, "no quote after the TPM came back: %s", srtm_strerror(err));
    st = (srtm_status_info){.size = sizeof(st)};
    cr_expect(srtm_status(c, &st) == SRTM_OK && st.tpm_ok && st.quotes_waiting == 0,
              "status does not say the TPM answers again");
    free(ev);
    srtm_close(c);
}


/* swtpm hung (SIGSTOP) while more verifiers quote than srtmd has workers: every worker
 * waits for the TPM, which the listener watchdog must not take for a stalled listener.
 * Once the TPM answers, every waiting quote is answered and srtmd serves as before. */
/* As many quotes as the configured workers wait (for the builder of large quotes, or for
 * the TPM); the rest are refused at once; CCR requests go on meanwhile; after the TPM
 * resumes the waiting ones are answered and a new quote is too (no place leaked). With
 * components > 0, that many are registered first, so that every quote is a large one
 * that goes through the builder before it waits for the TPM. */
static void hung_tpm_case(unsigned components)
{
    write_conf(P.blob, "workers 4\n"); /* measured, like every option */
    provision(P.blob);
    launch();
    start_srtmd();
    if (components > 0) {
        srtm_conn *r = NULL;
        srtm_cap a, cap;
        uint64_t h = 0;
        cr_assert_eq(srtm_open(P.d.url, &r), SRTM_OK);
        cr_assert_eq(srtm_cap_load(P.d.cap_path, &a), SRTM_OK);
        for (unsigned i = 0; i < components; i++) {
            char name[32];
            snprintf(name, sizeof(name), "big-%u", i);
            cr_assert_eq(srtm_register(r, &a, name, 1, &h, &cap), SRTM_OK, "%s",
                         srtm_last_message(r));
        }
        srtm_cap_wipe(&a);
        srtm_close(r);
    }
    kill(P.tpm.pid, SIGSTOP);
    atomic_int done = 0;
    enum { N = 8, WORKERS = 4 };
    static quoter_arg args[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        args[i] = (quoter_arg){.url = P.d.url, .done = &done, .max_quotes = 1};
        cr_assert_eq(pthread_create(&th[i], NULL, quoter, &args[i]), 0);
    }
    /* Much longer than the watchdog needs to replace a stalled listener (about a second). */
    struct timespec ts = {10, 0};
    nanosleep(&ts, NULL);
    cr_expect_eq(atomic_load(&done), 0, "a quote was answered by a stopped TPM");
    /* As many quotes as --workers wait for the TPM; the contexts srtmd keeps beyond them
     * still serve CCR requests at once. */
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK);
    cr_assert_eq(srtm_set_timeout(c, 3000), SRTM_OK);
    srtm_cap admin;
    cr_assert_eq(srtm_cap_load(P.d.cap_path, &admin), SRTM_OK);
    long t0 = now_ms();
    srtm_components *l = NULL;
    cr_expect_eq(srtm_list(c, &l), SRTM_OK, "a CCR request waited for the hung TPM: %s",
                 srtm_last_message(c));
    srtm_components_free(l);
    uint64_t h = 0;
    srtm_cap cap;
    cr_expect_eq(srtm_register(c, &admin, "during-hang", 1, &h, &cap), SRTM_OK, "%s",
                 srtm_last_message(c));
    cr_expect_lt(now_ms() - t0, 2000, "CCR requests took %ld ms", now_ms() - t0);
    srtm_cap_wipe(&admin);
    srtm_cap_wipe(&cap);
    kill(P.tpm.pid, SIGCONT);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        if (args[i].last == SRTM_OK) {
            ok++;
        } else {
            refused++;
            cr_expect_eq(args[i].last, SRTM_E_TPM, "verifier %d: %s (%s)", i,
                         srtm_strerror(args[i].last), args[i].message);
            cr_expect(strstr(args[i].message, "too many quotes are waiting") != NULL,
                      "verifier %d: %s", i, args[i].message);
        }
        cr_expect_lt(args[i].longest_ms, 14000, "verifier %d waited %ld ms", i,
                     args[i].longest_ms);
    }
    cr_expect_eq(ok, WORKERS, "%d quotes answered after the TPM resumed, %d refused", ok,
                 refused);
    cr_expect_eq(refused, N - WORKERS);
    cr_assert(test_daemon_alive(&P.d));
    cr_expect_eq(srtm_list(c, &l), SRTM_OK, "srtmd does not serve after the TPM resumed");
    srtm_components_free(l);
    uint8_t nonce[16] = {9}, *ev = NULL;
    size_t len = 0;
    cr_expect_eq(srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev, &len), SRTM_OK,
                 "a quote after the TPM resumed: %s", srtm_last_message(c));
    free(ev);
    srtm_close(c);
}

Test(faults_tpm, swtpm_hung_quotes_wait_or_are_refused_and_ccr_requests_go_on)
{
    hung_tpm_case(0);
}

Test(faults_tpm, swtpm_hung_large_quotes_wait_or_are_refused_and_ccr_requests_go_on)
{
    hung_tpm_case(1124); /* more than SERVICE_BUILD_FROM (srtm/service.h), 1,024 */
}
