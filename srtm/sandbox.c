/*
 * Isolation of srtmd; see sandbox.h. Each step fails closed: srtmd does not serve when a
 * step it was asked for did not take effect (the secure heap is the one exception: without
 * enough RLIMIT_MEMLOCK it is a warning, since the key is then still wiped on free).
 */
#define _GNU_SOURCE /* CLONE_THREAD */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <seccomp.h>

#include "common.h"
#include "sandbox.h"

bool sandbox_protect_process(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        log_error("cannot disable core files: %s", strerror(errno));
        return false;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
        log_error("cannot make the process non-dumpable: %s", strerror(errno));
        return false;
    }
    return true;
}

bool sandbox_secure_heap(void)
{
    int rv = CRYPTO_secure_malloc_init(SANDBOX_SECURE_HEAP_SIZE, SANDBOX_SECURE_HEAP_MIN);
    if (rv == 0 || !CRYPTO_secure_malloc_initialized()) {
        log_warn("no secure heap for the IRK (OpenSSL could not set one up): its private key "
                 "is in ordinary memory");
        return false;
    }
    if (rv == 2) {
        /* The arena exists but mlock or madvise failed: usually RLIMIT_MEMLOCK. */
        log_warn("the secure heap for the IRK could not be locked in memory or excluded from "
                 "core dumps (RLIMIT_MEMLOCK too small? it needs %u KiB)",
                 SANDBOX_SECURE_HEAP_SIZE / 1024);
        return false;
    }
    return true;
}

size_t sandbox_secure_heap_used(void)
{
    return CRYPTO_secure_malloc_initialized() ? CRYPTO_secure_used() : 0;
}

bool sandbox_user_lookup(const char *name, sandbox_user *out)
{
    char buf[4096];
    struct passwd pw, *res = NULL;
    int rv = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
    if (rv != 0 || res == NULL) {
        log_error("no user '%s'%s%s", name, rv != 0 ? ": " : "", rv != 0 ? strerror(rv) : "");
        return false;
    }
    if (pw.pw_uid == 0 || pw.pw_gid == 0) {
        log_error("--user %s: that is root (uid or gid 0), nothing would be dropped", name);
        return false;
    }
    size_t n = strlen(name);
    if (n >= sizeof(out->name)) {
        log_error("--user: name too long");
        return false;
    }
    memcpy(out->name, name, n + 1);
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    return true;
}

/* An entry srtmd may find in its own directory: one of its files or a temporary of one;
 * a name ending in '*' stands for every name with that prefix. */
static bool own_entry(const char *name, const char *const *own_names)
{
    for (size_t i = 0; own_names[i] != NULL; i++) {
        size_t n = strlen(own_names[i]);
        bool prefix = n > 1 && own_names[i][n - 1] == '*';
        if (prefix && strncmp(name, own_names[i], n - 1) == 0)
            return true;
        if (!prefix && n > 0 && strncmp(name, own_names[i], n) == 0 &&
            (name[n] == '\0' || name[n] == '.'))
            return true;
    }
    return false;
}

/* The dedicated-directory rule of sandbox.h on the open directory fd. */
static bool dedicated_fd(int fd, const char *dir, const sandbox_user *u,
                         const char *const *own_names)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        log_error("--user: cannot use %s as srtmd's directory", dir);
        return false;
    }
    if ((st.st_uid != 0 && st.st_uid != u->uid) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        log_error("--user: the socket's directory %s (uid %u, mode %04o) is not srtmd's own: "
                  "it must belong to root or %s and be writable by its owner only",
                  dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), u->name);
        return false;
    }
    int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (d == NULL) {
        log_error("--user: cannot read %s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return false;
    }
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (!own_entry(e->d_name, own_names)) {
            log_error("--user: the socket's directory %s holds '%s', which is not srtmd's: "
                      "srtmd gives its socket's directory to %s, so it must be a directory "
                      "of srtmd's own (e.g. the default runtime directory), never a shared one",
                      dir, e->d_name, u->name);
            ok = false;
        }
    }
    closedir(d);
    return ok;
}

bool sandbox_dir_dedicated(const char *dir, const sandbox_user *u, const char *const *own_names)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        log_error("--user: cannot open the socket's directory %s: %s", dir, strerror(errno));
        return false;
    }
    bool ok = dedicated_fd(fd, dir, u, own_names);
    close(fd);
    return ok;
}

bool sandbox_give_dir(const char *dir, const sandbox_user *u, const char *const *own_names)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        log_error("cannot open the runtime directory %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    bool ok = dedicated_fd(fd, dir, u, own_names);
    if (!ok || (st.st_uid == u->uid && st.st_gid == u->gid)) {
        /* refused, or already given */
    } else if (fchown(fd, u->uid, u->gid) != 0) {
        log_error("cannot give the runtime directory %s to %s: %s", dir, u->name,
                  strerror(errno));
        ok = false;
    }
    close(fd);
    return ok;
}

bool sandbox_drop_privileges(const sandbox_user *u)
{
    if (initgroups(u->name, u->gid) != 0) {
        log_error("initgroups(%s): %s", u->name, strerror(errno));
        return false;
    }
    if (setgid(u->gid) != 0) {
        log_error("setgid(%u): %s", (unsigned)u->gid, strerror(errno));
        return false;
    }
    if (setuid(u->uid) != 0) {
        log_error("setuid(%u): %s", (unsigned)u->uid, strerror(errno));
        return false;
    }
    /* Verify, do not trust: no way back to root, real and effective ids as asked. */
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || getuid() != u->uid ||
        geteuid() != u->uid || getgid() != u->gid || getegid() != u->gid) {
        log_error("privileges were not dropped for good");
        return false;
    }
    /* A change of credentials resets the dumpable flag (to fs.suid_dumpable): set it again. */
    return sandbox_protect_process();
}

/*
 * The system calls srtmd makes while serving and at shutdown: nng's I/O threads (epoll,
 * sockets, including the listener watchdog that dials srtmd's own socket and may replace
 * the listener), the quoter (TCP or device connection to the TPM, which it reopens after a
 * TPM failure: tctildr may dlopen a TCTI again), OpenSSL, logging, and exit.
 */
static const int allowed[] = {
    /* memory */
    SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    /* threads and time */
    SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(get_robust_list), SCMP_SYS(rseq),
    SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity), SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep), SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday), SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(getppid),
    SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
    SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
    /* signals: sigwait in main, blocked masks in threads */
    SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigtimedwait), SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
    /* file descriptors and files: logs, the admin capability and pid files at exit, the
     * socket file on listener replacement, a TCTI library after a TPM failure */
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev), SCMP_SYS(pread64),
    SCMP_SYS(close), SCMP_SYS(fcntl), SCMP_SYS(dup), SCMP_SYS(lseek), SCMP_SYS(fstat),
    SCMP_SYS(newfstatat), SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(statx), SCMP_SYS(openat),
    SCMP_SYS(access), SCMP_SYS(faccessat), SCMP_SYS(faccessat2), SCMP_SYS(unlink),
    SCMP_SYS(unlinkat), SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2),
    SCMP_SYS(chmod), SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(pipe2), SCMP_SYS(eventfd2),
    SCMP_SYS(ioctl), SCMP_SYS(getrandom),
    /* polling */
    SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),
    SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(select), SCMP_SYS(pselect6),
    /* sockets: ipc and tcp listeners, the watchdog's probe, the TPM connection */
    SCMP_SYS(socket), SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept),
    SCMP_SYS(accept4), SCMP_SYS(shutdown), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
    SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(sendto), SCMP_SYS(recvfrom),
    SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
#if defined(__SANITIZE_ADDRESS__)
    /* The sanitizer build only: LeakSanitizer stops the world at exit with a clone()d
     * tracer that ptrace-attaches to every thread and reads /proc/self/task
     * with open(2). Found with the audit log (type=1326, SCMP_FLTATR_CTL_LOG). */
    SCMP_SYS(clone), SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl), SCMP_SYS(getdents64),
    SCMP_SYS(sched_getparam), SCMP_SYS(tgkill), SCMP_SYS(kill), SCMP_SYS(open),
    SCMP_SYS(getdents), SCMP_SYS(readlink),
#endif
};

static bool add_rules(scmp_filter_ctx f)
{
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        /* A name this architecture lacks comes out negative (__NR_SCMP_ERROR): skip it. */
        if (allowed[i] < 0)
            continue;
        if (seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed[i], 0) != 0)
            return false;
    }
    /* Threads only, never new processes (there is no execve either). */
    if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) != 0)
        return false;
    /* clone3's flags are in memory a filter cannot read: ENOSYS makes glibc use clone. */
    if (seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) != 0)
        return false;
    /* nng names its threads when they first run, possibly after the filter is in. */
    if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                         SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME)) != 0)
        return false;
    /* abort() and raise() signal this process only. */
    if (seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                         SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid())) != 0)
        return false;
    return true;
}

bool sandbox_seccomp(void)
{
    /* Fail closed and visibly: a call outside the list kills srtmd (and is audited). */
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (f == NULL) {
        log_error("seccomp: cannot create a filter");
        return false;
    }
    bool ok = seccomp_attr_set(f, SCMP_FLTATR_CTL_NNP, 1) == 0 &&
              seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1) == 0 && add_rules(f);
    (void)seccomp_attr_set(f, SCMP_FLTATR_CTL_LOG, 1); /* where the kernel supports it */
    int rv = ok ? seccomp_load(f) : -EINVAL;
    seccomp_release(f);
    if (rv != 0) {
        log_error("seccomp: cannot install the system call filter: %s", strerror(-rv));
        return false;
    }
    return true;
}
