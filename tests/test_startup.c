/*
 * srtmd's start-up rules (docs/security.md), without a TPM: --listen is ipc:// only; --user
 * is refused for a socket in a shared directory, whose owner stays as it was; no request is
 * answered before srtmd dropped its privileges and installed its filter; a second srtmd
 * with the same lock file exits with a message naming the first, which goes on serving,
 * also when the first detached and dropped to --user; a lock file others could hold is
 * refused. Tests that start srtmd as another user need root and skip otherwise.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "common.h"
#include "helpers.h"

static char dir[64];
static pid_t child;
static test_daemon first;

static void cleanup(void)
{
    if (child > 0) {
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
        child = 0;
    }
    if (first.pid > 0)
        test_daemon_stop(&first);
    if (dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
        dir[0] = '\0';
    }
}

TestSuite(startup, .fini = cleanup, .timeout = 60);

static void need_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to start srtmd as another user");
}

static void make_dir(mode_t mode)
{
    snprintf(dir, sizeof(dir), "/tmp/srtm-startup-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
    cr_assert_eq(chmod(dir, mode), 0);
}

static void nobody(uid_t *uid)
{
    struct passwd *pw = getpwnam("nobody");
    cr_assert(pw != NULL, "no user nobody on this system");
    *uid = pw->pw_uid;
}

/* srtmd with args (NULL-terminated, after the binary), its exit status; stderr in err. */
static int run_srtmd(const char *const *args, char *err, size_t err_size)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = test_binary("SRTMD");
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char out[256];
    return test_run(argv, out, sizeof(out), err, err_size);
}

/* ---- --listen is ipc:// only ------------------------------------------------------------ */

Test(startup, listen_takes_ipc_only)
{
    const char *urls[] = {"tcp://127.0.0.1:7399", "tcp://0.0.0.0:7399", "ws://127.0.0.1:7399",
                          "inproc://srtm"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        char err[4096];
        const char *args[] = {"--no-tpm", "--foreground", "--listen", urls[i], NULL};
        cr_expect_eq(run_srtmd(args, err, sizeof(err)), 2, "--listen %s was not refused",
                     urls[i]);
        cr_expect(strstr(err, "--listen-tcp") != NULL, "no pointer to --listen-tcp: %s", err);
    }
}

/* ---- --user hands over only a directory of srtmd's own ----------------------------------- */

static void expect_user_refused(const char *reason_part)
{
    struct stat before, after;
    cr_assert_eq(stat(dir, &before), 0);
    char url[128], cap[128], err[4096];
    snprintf(url, sizeof(url), "ipc://%s/srtmd.sock", dir);
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    const char *args[] = {"--no-tpm", "--foreground", "--user", "nobody", "--listen", url,
                          "--admin-cap", cap, NULL};
    cr_expect_eq(run_srtmd(args, err, sizeof(err)), 1, "srtmd did not refuse: %s", err);
    cr_expect(strstr(err, reason_part) != NULL, "unclear message: %s", err);
    cr_assert_eq(stat(dir, &after), 0);
    cr_expect(after.st_uid == before.st_uid && after.st_gid == before.st_gid,
              "the directory's owner changed to %u:%u", (unsigned)after.st_uid,
              (unsigned)after.st_gid);
    cr_expect(!test_path_exists(url + 6), "srtmd listened in the refused directory");
    cr_expect(!test_path_exists(cap), "srtmd wrote its capability in the refused directory");
}

/* A root-owned directory that holds files of others (as /run does). */
Test(startup, user_refuses_a_shared_directory)
{
    need_root();
    make_dir(0755);
    char other[128];
    snprintf(other, sizeof(other), "%s/other-service.pid", dir);
    FILE *f = fopen(other, "w");
    cr_assert(f != NULL);
    fclose(f);
    expect_user_refused("which is not srtmd's");
}

/* A directory everyone may write (as /tmp), even while it is empty. */
Test(startup, user_refuses_a_directory_others_may_write)
{
    need_root();
    make_dir(01777);
    expect_user_refused("writable by its owner only");
}

/* ---- nothing answered before the drop --------------------------------------------------- */

/* A client that connects the moment the socket exists, during start-up: its first answer
 * arrives only once srtmd runs as the user under its system call filter. */
Test(startup, no_answer_before_the_privilege_drop)
{
    need_root();
    uid_t uid;
    nobody(&uid);
    /* LeakSanitizer cannot stop a non-dumpable process that gave up root (as in
     * test_isolation); no effect in the normal build. */
    setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
    make_dir(0700);
    char url[128], cap[128];
    snprintf(url, sizeof(url), "ipc://%s/srtmd.sock", dir);
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    const char *argv[] = {test_binary("SRTMD"), "--no-tpm", "--foreground", "--user", "nobody",
                          "--listen", url, "--admin-cap", cap, "--log-level", "warn", NULL};
    child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    srtm_conn *c = NULL;
    for (int i = 0; i < 50000 && srtm_open(url, &c) != SRTM_OK; i++) {
        struct timespec ts = {0, 100000}; /* 0.1 ms: catch the socket as it appears */
        nanosleep(&ts, NULL);
    }
    cr_assert(c != NULL, "could not connect to srtmd within 5 s");
    srtm_components *list = NULL;
    cr_assert_eq(srtm_list(c, &list), SRTM_OK);
    char v[128], want[128];
    test_proc_status(child, "Uid", v, sizeof(v));
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)uid, (unsigned)uid, (unsigned)uid,
             (unsigned)uid);
    cr_expect_str_eq(v, want, "answered while running as Uid %s", v);
    test_proc_status(child, "Seccomp", v, sizeof(v));
    cr_expect_str_eq(v, "2", "answered before the system call filter (Seccomp: %s)", v);
    srtm_components_free(list);
    srtm_close(c);
}

/* ---- one srtmd per lock file --------------------------------------------------------------- */

static void expect_second_refused(const char *lock, long holder)
{
    char url[128], cap[128], err[4096], want[64];
    snprintf(url, sizeof(url), "ipc://%s/second.sock", dir);
    snprintf(cap, sizeof(cap), "%s/second.cap", dir);
    const char *args[] = {"--no-tpm", "--foreground", "--listen", url, "--admin-cap", cap,
                          "--lock-file", lock, NULL};
    cr_expect_eq(run_srtmd(args, err, sizeof(err)), 1);
    snprintf(want, sizeof(want), "another srtmd (pid %ld) serves this TPM", holder);
    cr_expect(strstr(err, want) != NULL, "want '%s': %s", want, err);
    cr_expect(!test_path_exists(url + 6), "the second srtmd listened");
    cr_expect(!test_path_exists(cap), "the second srtmd wrote a capability");
}

Test(startup, a_second_srtmd_with_the_same_lock_file_exits)
{
    make_dir(0700);
    char lock[128];
    snprintf(lock, sizeof(lock), "%s/srtmd.lock", dir);
    const char *extra[] = {"--lock-file", lock, NULL};
    test_daemon_start(&first, extra);
    expect_second_refused(lock, (long)first.pid);
    /* The first one still serves. */
    srtm_conn *c = NULL;
    srtm_components *list = NULL;
    cr_assert_eq(srtm_open(first.url, &c), SRTM_OK);
    cr_expect_eq(srtm_list(c, &list), SRTM_OK);
    srtm_components_free(list);
    srtm_close(c);
    cr_expect_eq(test_daemon_stop(&first), 0);
    /* Released at exit: the next srtmd takes it. */
    test_daemon_start(&first, extra);
}

/* The lock outlives detach's fork and the drop to --user: the serving process holds it. */
Test(startup, the_lock_survives_detach_and_the_user_drop)
{
    need_root();
    setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
    make_dir(0755);
    char sockdir[128], url[160], cap[160], lock[128], pidfile[160], log[128];
    snprintf(sockdir, sizeof(sockdir), "%s/run", dir);
    cr_assert_eq(mkdir(sockdir, 0755), 0);
    snprintf(url, sizeof(url), "ipc://%s/srtmd.sock", sockdir);
    snprintf(cap, sizeof(cap), "%s/admin.cap", sockdir);
    snprintf(pidfile, sizeof(pidfile), "%s/srtmd.pid", sockdir);
    snprintf(lock, sizeof(lock), "%s/srtmd.lock", dir);
    const char *argv[] = {test_binary("SRTMD"), "--no-tpm", "--user", "nobody", "--listen",
                          url, "--admin-cap", cap, "--pidfile", pidfile, "--lock-file", lock,
                          NULL};
    /* Not test_run: srtmd writes to stderr until it serves (then to syslog), here a log file. */
    snprintf(log, sizeof(log), "%s/srtmd.log", dir);
    pid_t p = fork();
    cr_assert(p >= 0);
    if (p == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(p, &status, 0), p);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "detached srtmd failed (see %s)",
              log);
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(read_small_file(pidfile, 64, &text, &len), SRTM_OK);
    long pid = strtol(text, NULL, 10);
    free(text);
    cr_assert_gt(pid, 0);
    child = (pid_t)pid; /* not our child: cleanup's waitpid fails, the kill stops it */
    char v[128];
    test_proc_status(child, "Uid", v, sizeof(v));
    cr_expect(strncmp(v, "0\t", 2) != 0, "the detached srtmd still runs as root");
    expect_second_refused(lock, pid);
    kill(child, SIGTERM);
    for (int i = 0; i < 500 && kill(child, 0) == 0; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    child = 0;
}

/* A lock file another user could open (and so hold) is refused, as is a symbolic link:
 * srtmd must not be kept from starting, nor made to create or truncate a file elsewhere. */
Test(startup, a_lock_file_others_could_hold_is_refused)
{
    make_dir(0700);
    char lock[128], target[128], url[128], cap[128], err[4096];
    snprintf(lock, sizeof(lock), "%s/srtmd.lock", dir);
    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    snprintf(url, sizeof(url), "ipc://%s/srtmd.sock", dir);
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    const char *args[] = {"--no-tpm", "--foreground", "--listen", url, "--admin-cap", cap,
                          "--lock-file", lock, NULL};
    FILE *f = fopen(lock, "w");
    cr_assert(f != NULL);
    fclose(f);
    cr_assert_eq(chmod(lock, 0644), 0);
    cr_expect_eq(run_srtmd(args, err, sizeof(err)), 1, "a 0644 lock file was taken: %s", err);
    cr_expect(strstr(err, "another user could hold it") != NULL, "%s", err);
    if (geteuid() == 0) {
        uid_t uid;
        nobody(&uid);
        cr_assert_eq(chmod(lock, 0600), 0);
        cr_assert_eq(chown(lock, uid, (gid_t)-1), 0);
        cr_expect_eq(run_srtmd(args, err, sizeof(err)), 1, "nobody's lock file was taken: %s",
                     err);
        cr_expect(strstr(err, "another user could hold it") != NULL, "%s", err);
    }
    cr_assert_eq(unlink(lock), 0);
    cr_assert_eq(symlink(target, lock), 0);
    cr_expect_eq(run_srtmd(args, err, sizeof(err)), 1, "a symbolic link was followed: %s", err);
    cr_expect(strstr(err, "symbolic link") != NULL, "%s", err);
    cr_expect(!test_path_exists(target), "srtmd created the link's target");
    cr_expect(!test_path_exists(cap), "a refused srtmd wrote its capability");
}
