/*
 * Isolation of srtmd (docs/security.md): --user drops root for good and srtmd still serves
 * and shuts down cleanly; the process is not dumpable and cannot be ptraced, even by its
 * own user; OpenSSL's secure heap is set up and locked; the seccomp filter is in force.
 * Tests that start srtmd as another user need root (CI runs as root) and skip otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"

static test_daemon d;
static char log_path[64];

static void need_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to start srtmd as another user");
}

/* Start srtmd with extra arguments, its stderr (the log) going to log_path. */
static void start_logged(const char *const *extra)
{
    snprintf(log_path, sizeof(log_path), "/tmp/srtm-isolation-log-XXXXXX");
    int fd = mkstemp(log_path);
    cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
    int saved = dup(STDERR_FILENO);
    cr_assert(saved >= 0);
    dup2(fd, STDERR_FILENO); /* the helper's child inherits it */
    close(fd);
    test_daemon_start(&d, extra);
    dup2(saved, STDERR_FILENO);
    close(saved);
    /* srtmd writes the admin capability (the helper's "ready") just before it isolates
     * itself: wait until it serves, i.e. until the "serving" line is logged. */
    for (int i = 0; i < 500; i++) {
        char line[512];
        bool serving = false;
        FILE *f = fopen(log_path, "r");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL)
            serving = serving || strstr(line, " serving on ") != NULL;
        if (f != NULL)
            fclose(f);
        if (serving)
            return;
        usleep(10000);
    }
    cr_assert_fail("srtmd did not log that it serves within 5 s");
}

static void stop_logged(void)
{
    if (d.pid > 0)
        test_daemon_stop(&d);
    if (log_path[0] != '\0')
        unlink(log_path);
}

static void nobody(uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam("nobody");
    cr_assert(pw != NULL, "no user nobody on this system");
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
}

static const char *const as_nobody[] = {"--user", "nobody", "--log-level", "debug", NULL};
static const char *const info[] = {"--log-level", "info", NULL};

TestSuite(isolation, .fini = stop_logged, .timeout = 60);

Test(isolation, drops_to_user_and_still_serves)
{
    need_root();
    uid_t uid;
    gid_t gid;
    nobody(&uid, &gid);
    /* In the sanitizer build, LeakSanitizer stops the world with ptrace at exit, which a
     * non-dumpable process that gave up root refuses (that is the point): leak checking
     * is off for this one srtmd; every other test's srtmd runs with it. No effect in the
     * normal build. */
    setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
    start_logged(as_nobody);
    char v[128], want[128];
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)uid, (unsigned)uid, (unsigned)uid,
             (unsigned)uid);
    test_proc_status(d.pid, "Uid", v, sizeof(v));
    cr_assert_str_eq(v, want, "Uid line: %s", v);
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)gid, (unsigned)gid, (unsigned)gid,
             (unsigned)gid);
    test_proc_status(d.pid, "Gid", v, sizeof(v));
    cr_assert_str_eq(v, want, "Gid line: %s", v);
    test_proc_status(d.pid, "CapEff", v, sizeof(v));
    cr_assert_str_eq(v, "0000000000000000", "capabilities left: %s", v);

    /* Serves register and extend over ipc after the drop (and under seccomp). */
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    srtm_cap cap;
    uint64_t handle = 0;
    cr_assert_eq(srtm_register(c, &d.admin, "isolated", 1, &handle, &cap), SRTM_OK);
    uint8_t digest[SRTM_DIGEST_LEN] = {1, 2, 3};
    cr_assert_eq(srtm_extend(c, &cap, "isolated", 0, digest, 1, "after the drop", NULL),
                 SRTM_OK);
    srtm_cap_wipe(&cap);
    srtm_close(c);

    /* The runtime directory was given to the user, so srtmd removes its files at exit. */
    struct stat st;
    cr_assert(stat(d.dir, &st) == 0 && st.st_uid == uid, "runtime dir not given to nobody");
    char dir[sizeof(d.dir)], sock[sizeof(d.sock_path)], capf[sizeof(d.cap_path)];
    memcpy(dir, d.dir, sizeof(dir));
    memcpy(sock, d.sock_path, sizeof(sock));
    memcpy(capf, d.cap_path, sizeof(capf));
    /* Stop without the helper's directory removal, to see what srtmd removed itself. */
    kill(d.pid, SIGTERM);
    int status = 0;
    cr_assert_eq(waitpid(d.pid, &status, 0), d.pid);
    d.pid = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unclean exit: status %d",
              status);
    cr_expect(access(capf, F_OK) != 0, "admin capability file left behind");
    cr_expect(access(sock, F_OK) != 0, "socket file left behind");
    test_daemon_stop(&d); /* removes the directory */
    (void)dir;
}

Test(isolation, unknown_user_or_root_is_refused)
{
    need_root();
    const char *srtmd = test_binary("SRTMD");
    const char *bad[] = {srtmd, "--foreground", "--no-tpm", "--listen",
                         "ipc:///tmp/srtm-isolation-never.sock", "--admin-cap",
                         "/tmp/srtm-isolation-never.cap", "--user", "no-such-user-srtm", NULL};
    char out[256], err[1024];
    cr_expect_eq(test_run(bad, out, sizeof(out), err, sizeof(err)), 1, "%s", err);
    cr_expect(strstr(err, "no user") != NULL, "%s", err);
    bad[8] = "root";
    cr_expect_eq(test_run(bad, out, sizeof(out), err, sizeof(err)), 1, "%s", err);
    cr_expect(strstr(err, "root") != NULL, "%s", err);
}

/* In a child that becomes the same user as srtmd: PTRACE_ATTACH must fail with EPERM. */
Test(isolation, not_dumpable_so_no_ptrace_even_by_its_user)
{
    need_root();
    uid_t uid;
    gid_t gid;
    nobody(&uid, &gid);
    start_logged(as_nobody);
    pid_t target = d.pid;
    pid_t child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        if (setgid(gid) != 0 || setuid(uid) != 0)
            _exit(10);
        errno = 0;
        long r = ptrace(PTRACE_ATTACH, target, NULL, NULL);
        _exit(r == -1 && errno == EPERM ? 0 : r == 0 ? 11 : 12);
    }
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "ptrace by srtmd's own user was not refused with EPERM (child status %d)",
              status);
    /* /proc files of a non-dumpable process belong to root, not to its user. */
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)target);
    cr_assert(stat(path, &st) == 0 && st.st_uid == 0, "%s not root-owned", path);
    /* No core file either. */
    snprintf(path, sizeof(path), "/proc/%d/limits", (int)target);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL);
    char line[256];
    bool core0 = false;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long soft = 1, hard = 1;
        if (sscanf(line, "Max core file size %lu %lu", &soft, &hard) == 2)
            core0 = soft == 0 && hard == 0;
    }
    fclose(f);
    cr_expect(core0, "RLIMIT_CORE is not 0");
    cr_expect_eq(test_daemon_stop(&d), 0);
}

/* The same without --user (the default for the other tests): srtmd run by a user. */
Test(isolation, not_dumpable_without_user)
{
    start_logged(info);
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)d.pid);
    cr_assert(stat(path, &st) == 0, "%s", path);
    if (geteuid() == 0)
        cr_expect_eq(st.st_uid, 0u);
    errno = 0;
    /* Our own child, same uid: a dumpable process could be attached to (Yama permitting). */
    if (geteuid() != 0) {
        long r = ptrace(PTRACE_ATTACH, d.pid, NULL, NULL);
        cr_expect(r == -1 && errno == EPERM, "ptrace attach by the same user succeeded");
        if (r == 0)
            ptrace(PTRACE_DETACH, d.pid, NULL, NULL);
    }
    cr_expect_eq(test_daemon_stop(&d), 0);
}

/* Secure heap in use, and a locked mapping for it in smaps. */
Test(isolation, secure_heap_is_used_and_locked)
{
    const char *const extra[] = {"--log-level", "debug", NULL};
    start_logged(extra);
    char path[64], line[512];
    FILE *f = fopen(log_path, "r");
    cr_assert(f != NULL);
    unsigned long used = 0;
    bool seen = false;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "secure heap: ");
        if (p != NULL && sscanf(p, "secure heap: %lu bytes in use", &used) == 1)
            seen = true;
    }
    fclose(f);
    cr_assert(seen, "no \"secure heap\" line in srtmd's debug log");
    cr_expect_gt(used, 0ul, "the secure heap is empty");
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)d.pid);
    f = fopen(path, "r");
    cr_assert(f != NULL, "cannot read %s", path);
    /* OpenSSL maps the arena with mlock2(MLOCK_ONFAULT) and MADV_DONTDUMP: VmFlags "lo"
     * (locked) and "dd" (not in core dumps); the pages it touched count as Locked. */
    unsigned long size_kb = 0, locked_kb = 0;
    bool found = false;
    while (fgets(line, sizeof(line), f) != NULL && !found) {
        unsigned long kb = 0;
        if (sscanf(line, "Size: %lu kB", &kb) == 1)
            size_kb = kb;
        else if (sscanf(line, "Locked: %lu kB", &kb) == 1)
            locked_kb = kb;
        else if (strncmp(line, "VmFlags:", 8) == 0)
            found = strstr(line, " lo") != NULL && strstr(line, " dd") != NULL &&
                    size_kb >= 32 && locked_kb > 0;
    }
    fclose(f);
    cr_expect(found, "no locked, not-dumped mapping of at least 32 KiB in %s", path);
    cr_expect_eq(test_daemon_stop(&d), 0);
}

Test(isolation, seccomp_filter_in_force)
{
    start_logged(info);
    char v[64];
    test_proc_status(d.pid, "Seccomp", v, sizeof(v));
    cr_expect_str_eq(v, "2", "Seccomp: %s (2 is filter mode)", v);
    test_proc_status(d.pid, "NoNewPrivs", v, sizeof(v));
    cr_expect_str_eq(v, "1", "NoNewPrivs: %s", v);
    cr_expect_eq(test_daemon_stop(&d), 0);
}

Test(isolation, no_seccomp_turns_it_off)
{
    const char *const extra[] = {"--no-seccomp", "--log-level", "info", NULL};
    start_logged(extra);
    char v[64];
    test_proc_status(d.pid, "Seccomp", v, sizeof(v));
    cr_expect_str_eq(v, "0", "Seccomp: %s with --no-seccomp", v);
    cr_expect_eq(test_daemon_stop(&d), 0);
}
