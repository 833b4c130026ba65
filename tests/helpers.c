/* Test helpers: a real srtmd per test on a private socket, a real swtpm; see helpers.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "helpers.h"

/* In a forked child before exec: die when the test process dies, so a test that times
 * out or crashes leaves no swtpm or srtmd behind (its teardown never runs). */
static void die_with_parent(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

const char *test_binary(const char *env_name)
{
    const char *p = getenv(env_name);
    cr_assert(p != NULL && p[0] != '\0', "%s is not set (run the tests with meson test)",
              env_name);
    return p;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void test_daemon_prepare(test_daemon *d)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/srtm-test-XXXXXX");
    cr_assert(mkdtemp(d->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(d->sock_path, sizeof(d->sock_path), "%s/srtmd.sock", d->dir);
    snprintf(d->url, sizeof(d->url), "ipc://%s", d->sock_path);
    snprintf(d->cap_path, sizeof(d->cap_path), "%s/admin.cap", d->dir);
}

void test_daemon_conf_lines(const test_daemon *d, char *out, size_t size)
{
    int n = snprintf(out, size, "listen %s\nadmin-cap %s\n", d->url, d->cap_path);
    cr_assert(n > 0 && (size_t)n < size, "configuration lines do not fit");
}

/* srtmd with the test's extra arguments: with a TPM after the launcher's arguments in
 * launch (an empty list: no launcher) (d prepared, its socket and admin capability named
 * in the measured configuration), else in a new directory with --listen and --admin-cap. */
static void daemon_spawn(test_daemon *d, const char *const *launch,
                         const char *const *extra_args)
{
    if (launch == NULL) {
        test_daemon_prepare(d);
    } else {
        /* A stop removed the directory; the configuration still names it. */
        cr_assert(mkdir(d->dir, 0700) == 0 || errno == EEXIST, "mkdir %s: %s", d->dir,
                  strerror(errno));
        d->pid = 0;
    }
    const char *srtmd = test_binary("SRTMD");
    const char *argv[48];
    size_t n = 0;
    for (size_t i = 0; launch != NULL && launch[i] != NULL && n < 16; i++)
        argv[n++] = launch[i];
    const char *exe = n > 0 ? argv[0] : srtmd;
    argv[n++] = srtmd;
    argv[n++] = "--foreground";
    if (launch == NULL) {
        argv[n++] = "--listen";
        argv[n++] = d->url;
        argv[n++] = "--admin-cap";
        argv[n++] = d->cap_path;
    }
    /* Without a TPM unless the test names one; at level warn unless it names another
     * (srtmd takes each option once). */
    bool tpm = launch != NULL, level = false;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL; i++) {
        tpm = tpm || strcmp(extra_args[i], "--tcti") == 0;
        level = level || strcmp(extra_args[i], "--log-level") == 0;
    }
    if (!level) {
        argv[n++] = "--log-level";
        argv[n++] = "warn";
    }
    if (!tpm)
        argv[n++] = "--no-tpm";
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && n < 47; i++)
        argv[n++] = extra_args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        die_with_parent();
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    d->pid = pid;
    for (int i = 0; i < 500; i++) {
        if (access(d->cap_path, F_OK) == 0 && srtm_cap_load(d->cap_path, &d->admin) == SRTM_OK)
            return;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            d->pid = 0;
            cr_assert_fail("srtmd exited during start-up (status %d)", status);
        }
        sleep_ms(10);
    }
    cr_assert_fail("srtmd did not write %s within 5 s", d->cap_path);
}

void test_daemon_start(test_daemon *d, const char *const *extra_args)
{
    daemon_spawn(d, NULL, extra_args);
}

void test_daemon_launch(test_daemon *d, const char *tcti, const char *conf,
                        const char *const *extra_args)
{
    const char *launch[] = {test_binary("SRTM_LAUNCH"), "--tcti", tcti, "--config", conf, "--",
                            NULL};
    const char *extra[24] = {"--config", conf, "--tcti", tcti};
    size_t n = 4;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && n < 23; i++)
        extra[n++] = extra_args[i];
    extra[n] = NULL;
    daemon_spawn(d, launch, extra);
}

void test_daemon_exec(test_daemon *d, const char *tcti, const char *conf,
                      const char *const *extra_args)
{
    const char *none[] = {NULL}; /* no launcher: srtmd is executed itself */
    const char *extra[24] = {"--config", conf, "--tcti", tcti};
    size_t n = 4;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && n < 23; i++)
        extra[n++] = extra_args[i];
    extra[n] = NULL;
    daemon_spawn(d, none, extra);
}

bool test_daemon_alive(const test_daemon *d)
{
    return d->pid > 0 && kill(d->pid, 0) == 0 && waitpid(d->pid, NULL, WNOHANG) == 0;
}

int test_daemon_stop(test_daemon *d)
{
    int rc = -1;
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int status = 0;
        for (int i = 0; i < 1000; i++) {
            pid_t r = waitpid(d->pid, &status, WNOHANG);
            if (r == d->pid) {
                rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
                break;
            }
            if (i == 999) {
                kill(d->pid, SIGKILL);
                waitpid(d->pid, &status, 0);
            }
            sleep_ms(10);
        }
        d->pid = 0;
    }
    srtm_cap_wipe(&d->admin);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
    if (d->dir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", d->dir);
    return rc;
}

void test_sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    cr_assert_not_null(ctx);
    cr_assert_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    cr_assert_eq(EVP_DigestUpdate(ctx, a, alen), 1);
    if (blen > 0)
        cr_assert_eq(EVP_DigestUpdate(ctx, b, blen), 1);
    cr_assert_eq(EVP_DigestFinal_ex(ctx, out, &len), 1);
    cr_assert_eq(len, 32u);
    EVP_MD_CTX_free(ctx);
}

bool test_path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int test_count_names(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        if (strstr(e->d_name, part) != NULL)
            n++;
    closedir(d);
    return n;
}

int test_tool(const char *env, const char *const *args, char *err, size_t err_size)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = test_binary(env);
    for (size_t i = 0; args[i] != NULL; i++) {
        cr_assert(n < 31, "too many arguments for test_tool");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char out[4096];
    return test_run(argv, out, sizeof(out), err, err_size);
}

void test_daemon_stop_checked(test_daemon *d)
{
    pid_t pid = d->pid;
    int rc = test_daemon_stop(d);
    if (pid > 0 && rc != 0) {
        fprintf(stderr, "srtmd (pid %ld) did not exit cleanly on SIGTERM: status %d (its log "
                        "is above)\n", (long)pid, rc);
        abort();
    }
}

/* Read what fd has into buf; false at end of file or error. */
static bool drain(int fd, char *buf, size_t size, size_t *len)
{
    char tmp[4096];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n < 0 && errno == EINTR)
        return true;
    if (n <= 0)
        return false;
    size_t room = (buf != NULL && size > 0) ? size - 1 - *len : 0;
    size_t take = (size_t)n < room ? (size_t)n : room;
    if (take > 0) {
        memcpy(buf + *len, tmp, take);
        *len += take;
        buf[*len] = '\0';
    }
    return true;
}

int test_run(const char *const *argv, char *out, size_t out_size, char *err, size_t err_size)
{
    int po[2], pe[2];
    if (pipe(po) != 0)
        return -1;
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    if (out != NULL && out_size > 0)
        out[0] = '\0';
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(po[1], STDOUT_FILENO);
        dup2(pe[1], STDERR_FILENO);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t lens[2] = {0, 0};
    char *bufs[2] = {out, err};
    size_t sizes[2] = {out_size, err_size};
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, 30000) <= 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            if (!drain(fds[i].fd, bufs[i], sizes[i], &lens[i])) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- swtpm ---------------------------------------------------------------------------- */

/* Bind 127.0.0.1:port (0: any) and return the bound port, or -1. The socket is closed. */
static int probe_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int got = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        got = ntohs(a.sin_port);
    close(fd);
    return got;
}

/* The lowest port the kernel hands out to outgoing connections (32768 by default). */
static int ephemeral_low(void)
{
    int low = 32768, high = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose(f);
    }
    return low > 12000 && low <= 65535 ? low : 32768;
}

/*
 * A port P such that P .. P + n - 1 are free right now, chosen at random below the
 * ephemeral range: a port in that range can be taken between this check and the bind by
 * any outgoing connection on the machine (tpm2-tss's swtpm TCTI opens one per TPM command,
 * so a busy TPM user leaves thousands in TIME_WAIT), a port below it only by another
 * listener.
 */
static int free_ports(int n)
{
    static unsigned seed;
    if (seed == 0)
        seed = (unsigned)getpid() ^ (unsigned)time(NULL) << 8;
    int low = 10000, span = ephemeral_low() - n - low;
    for (int i = 0; i < 200; i++) {
        int p = low + (int)(rand_r(&seed) % (unsigned)span), k = 0;
        while (k < n && probe_port(p + k) == p + k)
            k++;
        if (k == n)
            return p;
    }
    return -1;
}

int test_free_port(void)
{
    int p = free_ports(1);
    cr_assert_gt(p, 0, "no free local port");
    return p;
}

static bool port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Spawn swtpm on t->dir and port (0: a free one); true once it accepts connections. */
static bool swtpm_spawn(test_swtpm *t, int want_port)
{
    const char *bin = getenv("SWTPM");
    if (bin == NULL || bin[0] == '\0')
        bin = "swtpm";
    int port = want_port > 0 ? want_port : free_ports(2);
    if (port < 0)
        return false;
    char server[96], ctrl[96], state[300];
    snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
    snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
    snprintf(state, sizeof(state), "dir=%s", t->dir);
    const char *argv[] = {bin,       "socket", "--tpm2",     "--server", server,
                          "--ctrl",  ctrl,     "--tpmstate", state,      "--flags",
                          "not-need-init,startup-clear", NULL};
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        die_with_parent();
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDOUT_FILENO);
        execvp(bin, (char *const *)argv);
        _exit(127);
    }
    t->pid = pid;
    t->port = port;
    snprintf(t->tcti, sizeof(t->tcti), "swtpm:host=127.0.0.1,port=%d", port);
    for (int i = 0; i < 500; i++) {
        if (port_accepts(port))
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid) { /* lost a port race: caller retries */
            t->pid = 0;
            return false;
        }
        sleep_ms(10);
    }
    test_swtpm_kill(t);
    return false;
}

static void swtpm_spawn_retry(test_swtpm *t)
{
    /* Come back on the same port when it is still free (a daemon under test keeps its
     * TCTI string across the reboot); otherwise on any free one. */
    int same = t->port;
    for (int i = 0; i < 5; i++)
        if (swtpm_spawn(t, i == 0 ? same : 0))
            return;
    cr_assert_fail("swtpm did not start (state %s)", t->dir);
}

void test_swtpm_start(test_swtpm *t)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/srtm-swtpm-XXXXXX");
    cr_assert(mkdtemp(t->dir) != NULL, "mkdtemp: %s", strerror(errno));
    swtpm_spawn_retry(t);
}

void test_swtpm_kill(test_swtpm *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGKILL);
        waitpid(t->pid, NULL, 0);
        t->pid = 0;
    }
}

void test_swtpm_reboot(test_swtpm *t)
{
    /* SIGTERM lets swtpm finish writing its state; persistent data is written as it
     * changes anyway. */
    if (t->pid > 0) {
        kill(t->pid, SIGTERM);
        int i;
        for (i = 0; i < 300 && waitpid(t->pid, NULL, WNOHANG) != t->pid; i++)
            sleep_ms(10);
        if (i == 300)
            test_swtpm_kill(t);
        t->pid = 0;
    }
    swtpm_spawn_retry(t);
}

void test_swtpm_stop(test_swtpm *t)
{
    test_swtpm_kill(t);
    if (t->dir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", t->dir);
        t->dir[0] = '\0';
    }
}

/* ---- a whole platform: swtpm, enrolment, proof period, srtmd -------------------------- */

/* Run argv (argv[0] a path); fail the test with its stderr unless it exits 0. */
static void run_ok(const char *what, const char *const *argv)
{
    char out[4096], err[4096];
    int rc = test_run(argv, out, sizeof(out), err, sizeof(err));
    cr_assert(rc == 0, "%s failed (exit %d): %s%s", what, rc, err, out);
}

static void platform_launch(test_platform *p)
{
    test_daemon_launch(&p->d, p->tpm.tcti, p->conf, NULL);
}

static void platform_start(test_platform *p, const char *proof_pcrs, const char *more);

void test_platform_start_pcrs(test_platform *p, const char *proof_pcrs)
{
    platform_start(p, proof_pcrs, "");
}

void test_platform_start_conf(test_platform *p, const char *more_lines)
{
    platform_start(p, "0-7", more_lines);
}

static void platform_start(test_platform *p, const char *proof_pcrs, const char *more)
{
    memset(p, 0, sizeof(*p));
    setenv("TSS2_LOG", "all+NONE", 1);
    snprintf(p->proof_pcrs, sizeof(p->proof_pcrs), "%s", proof_pcrs);
    snprintf(p->dir, sizeof(p->dir), "/tmp/srtm-platform-XXXXXX");
    cr_assert(mkdtemp(p->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(p->conf, sizeof(p->conf), "%s/srtmd.conf", p->dir);
    snprintf(p->aik_pem, sizeof(p->aik_pem), "%s/aik.pem", p->dir);
    snprintf(p->ref, sizeof(p->ref), "%s/reference.json", p->dir);
    snprintf(p->blob, sizeof(p->blob), "%s/irk.sealed", p->dir);
    char lines[800];
    test_daemon_prepare(&p->d);
    test_daemon_conf_lines(&p->d, lines, sizeof(lines));
    FILE *f = fopen(p->conf, "w");
    cr_assert(f != NULL, "cannot write %s", p->conf);
    fprintf(f, "srtm-pcr 15\nproof-pcrs %s\nirk-blob %s\n%s%s", proof_pcrs, p->blob, lines,
            more);
    fclose(f);
    test_swtpm_start(&p->tpm);
    const char *keymgr = test_binary("SRTM_KEYMGR");
    const char *enroll[] = {keymgr, "--tcti", p->tpm.tcti, "enroll", "--aik-pem", p->aik_pem,
                            NULL};
    run_ok("srtm-keymgr enroll", enroll);
    const char *predict[] = {keymgr, "--tcti", p->tpm.tcti, "predict", "--srtmd",
                             test_binary("SRTMD"), "--config", p->conf, "--srtm-pcr", "15",
                             "--proof-pcrs", proof_pcrs, "-o", p->ref, NULL};
    run_ok("srtm-keymgr predict", predict);
    const char *wrap[] = {keymgr, "--tcti", p->tpm.tcti, "wrap-irk", "--reference", p->ref,
                          "-o", p->blob, NULL};
    run_ok("srtm-keymgr wrap-irk", wrap);
    platform_launch(p);
}

void test_platform_start(test_platform *p)
{
    test_platform_start_pcrs(p, "0-7");
}

void test_platform_reboot(test_platform *p)
{
    test_daemon_stop(&p->d);
    test_swtpm_reboot(&p->tpm);
    platform_launch(p);
}

int test_platform_tool(const test_platform *p, const char *const *argv, char *out,
                       size_t out_size, char *err, size_t err_size)
{
    static char path[1024];
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", env != NULL ? env : "/usr/bin:/bin");
    path[0] = '\0';
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof(path), "%s/%s", d, argv[0]);
        if (access(path, X_OK) == 0)
            break;
        path[0] = '\0';
    }
    cr_assert(path[0] != '\0', "%s is not on PATH", argv[0]);
    const char *args[64];
    size_t n = 0;
    args[n++] = path;
    for (size_t i = 1; argv[i] != NULL && n < 63; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    setenv("TPM2TOOLS_TCTI", p->tpm.tcti, 1);
    setenv("TSS2_LOG", "all+NONE", 1);
    return test_run(args, out, out_size, err, err_size);
}

void test_platform_stop(test_platform *p)
{
    if (p->d.pid > 0 || p->d.dir[0] != '\0')
        test_daemon_stop(&p->d);
    memset(&p->d, 0, sizeof(p->d));
    test_swtpm_stop(&p->tpm);
    if (p->dir[0] != '\0') {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", p->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", p->dir);
        p->dir[0] = '\0';
    }
}

void test_proc_status(pid_t pid, const char *name, char *out, size_t size)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot read %s", path);
    out[0] = '\0';
    size_t n = strlen(name);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            snprintf(out, size, "%s", v);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    }
    fclose(f);
}
