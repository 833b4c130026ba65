/*
 * srtmd as a system service: its log lines as the journal expects them (a "<N>" syslog
 * priority, no timestamp of its own) when JOURNAL_STREAM names its stderr, as before
 * elsewhere; nothing on the launching terminal once a detached srtmd serves; and
 * sd_notify(READY=1) only once it serves, through its seccomp filter.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "helpers.h"

static test_daemon D;
static char log_path[320];

static void setup(void)
{
    test_daemon_prepare(&D);
    snprintf(log_path, sizeof(log_path), "%s/stderr.log", D.dir);
}

static void teardown(void)
{
    if (D.pid > 0) {
        kill(D.pid, SIGKILL);
        waitpid(D.pid, NULL, 0);
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", D.dir);
    cr_expect(system(cmd) == 0);
}

/* Start srtmd --no-tpm on D's socket with stderr into log_path and env (NAME=VALUE, may
 * be NULL) set; extra (may be NULL) ends srtmd's arguments. Returns the child's pid. */
static pid_t spawn_srtmd(const char *env, const char *extra, const char *extra2)
{
    const char *srtmd = test_binary("SRTMD");
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "open %s: %s", log_path, strerror(errno));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        if (env != NULL)
            putenv((char *)env);
        dup2(fd, STDERR_FILENO);
        execl(srtmd, srtmd, "--no-tpm", "--listen", D.url, "--admin-cap", D.cap_path,
              extra, extra2, (char *)NULL);
        _exit(127);
    }
    close(fd);
    return pid;
}

static void read_log(char *out, size_t size)
{
    FILE *f = fopen(log_path, "r");
    cr_assert(f != NULL);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Wait up to 20 s for text in the log (a loaded machine starts srtmd slowly). */
static bool log_shows(const char *text)
{
    char buf[8192];
    for (int i = 0; i < 400; i++) {
        read_log(buf, sizeof(buf));
        if (strstr(buf, text) != NULL)
            return true;
        usleep(50 * 1000);
    }
    return false;
}

/* "DEV:INO" of path. */
static void stream_id(const char *path, char *out, size_t size)
{
    struct stat st;
    cr_assert(stat(path, &st) == 0);
    snprintf(out, size, "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
}

static int stop(void)
{
    kill(D.pid, SIGTERM);
    int status = 0;
    cr_assert(waitpid(D.pid, &status, 0) == D.pid);
    D.pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TestSuite(service_log, .init = setup, .fini = teardown, .timeout = 60);

/* Under systemd (JOURNAL_STREAM names srtmd's stderr): "<6>message", no timestamp. */
Test(service_log, journal_lines_carry_syslog_priority)
{
    char env[128];
    int fd = open(log_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    close(fd);
    stream_id(log_path, env, sizeof(env));
    D.pid = spawn_srtmd(env, "--foreground", NULL);
    cr_assert(log_shows(" serving on "), "srtmd did not start");
    cr_assert_eq(stop(), 0);
    char buf[8192];
    read_log(buf, sizeof(buf));
    /* The --no-tpm warning (<4>), the serving line and the shutdown (<6>). */
    cr_expect(strstr(buf, "<4>*** --no-tpm") != NULL, "%s", buf);
    cr_expect(strstr(buf, "<6>srtmd ") != NULL, "%s", buf);
    cr_expect(strstr(buf, "<6>signal 15: shutting down") != NULL, "%s", buf);
    for (char *line = buf; *line != '\0';) {
        cr_expect(line[0] == '<' && line[2] == '>', "a line without a priority: %.80s", line);
        char *nl = strchr(line, '\n');
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    cr_expect(strstr(buf, "Z srtm ") == NULL, "a timestamp of srtmd's own: %s", buf);
}

/* Control: JOURNAL_STREAM names another file (srtmd's stderr was redirected): the lines
 * keep their timestamps and levels. */
Test(service_log, other_stream_keeps_timestamps)
{
    char env[128], other[340];
    snprintf(other, sizeof(other), "%s/other", D.dir);
    int fd = open(other, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    close(fd);
    stream_id(other, env, sizeof(env));
    D.pid = spawn_srtmd(env, "--foreground", NULL);
    cr_assert(log_shows(" serving on "), "srtmd did not start");
    cr_assert_eq(stop(), 0);
    char buf[8192];
    read_log(buf, sizeof(buf));
    cr_expect(strstr(buf, "Z srtm info: srtmd ") != NULL, "%s", buf);
    cr_expect(strstr(buf, "<6>") == NULL, "%s", buf);
}

/* Detached: the launching process returns once srtmd serves, having shown that; after
 * it srtmd writes nothing to that stderr (SIGHUP's statistics and the shutdown line
 * would be there otherwise). */
Test(service_log, detached_srtmd_leaves_the_terminal)
{
    char pidfile[340];
    snprintf(pidfile, sizeof(pidfile), "%s/srtmd.pid", D.dir);
    pid_t parent = spawn_srtmd(NULL, "--pidfile", pidfile);
    int status = 0;
    cr_assert(waitpid(parent, &status, 0) == parent);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "srtmd did not detach");
    char buf[8192];
    read_log(buf, sizeof(buf));
    cr_assert(strstr(buf, " serving on ") != NULL, "%s", buf);
    FILE *f = fopen(pidfile, "r");
    cr_assert(f != NULL);
    long pid = 0;
    cr_assert(fscanf(f, "%ld", &pid) == 1 && pid > 1);
    fclose(f);
    cr_assert(kill((pid_t)pid, SIGHUP) == 0);
    usleep(200 * 1000);
    cr_assert(kill((pid_t)pid, SIGTERM) == 0);
    /* srtmd removes its pid file after the shutdown line. */
    for (int i = 0; i < 400 && test_path_exists(pidfile); i++)
        usleep(50 * 1000);
    cr_assert(!test_path_exists(pidfile), "srtmd did not stop");
    read_log(buf, sizeof(buf));
    cr_expect(strstr(buf, "components") == NULL, "logged to the terminal after detaching: %s",
              buf);
    cr_expect(strstr(buf, "shutting down") == NULL,
              "logged to the terminal after detaching: %s", buf);
}

/* Type=notify: READY=1 arrives on NOTIFY_SOCKET after the seccomp filter is in, and only
 * once srtmd serves: its socket and admin capability exist by then. */
Test(service_log, ready_only_once_serving)
{
    char path[340], env[400];
    snprintf(path, sizeof(path), "%s/notify", D.dir);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(s >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cr_assert(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
    snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", path);
    D.pid = spawn_srtmd(env, "--foreground", NULL);
    struct pollfd p = {.fd = s, .events = POLLIN};
    cr_assert(poll(&p, 1, 30000) == 1, "no notification from srtmd");
    char msg[256];
    ssize_t n = recv(s, msg, sizeof(msg) - 1, 0);
    cr_assert(n > 0);
    msg[n] = '\0';
    cr_expect_str_eq(msg, "READY=1");
    cr_expect(test_path_exists(D.sock_path) && test_path_exists(D.cap_path));
    srtm_conn *c = NULL;
    cr_expect(srtm_open(D.url, &c) == SRTM_OK, "READY=1 before srtmd serves");
    srtm_close(c);
    cr_assert(test_daemon_alive(&D), "srtmd died after notifying (seccomp?)");
    cr_expect_eq(stop(), 0);
    close(s);
}

/* The abstract namespace ("@name", as systemd may pass it) works too. */
Test(service_log, ready_on_an_abstract_notify_socket)
{
    char name[64], env[96];
    snprintf(name, sizeof(name), "srtm-test-notify-%ld", (long)getpid());
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(s >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path + 1, name, strlen(name)); /* sun_path[0] = '\0': abstract */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
    cr_assert(bind(s, (struct sockaddr *)&sa, len) == 0, "bind: %s", strerror(errno));
    snprintf(env, sizeof(env), "NOTIFY_SOCKET=@%s", name);
    D.pid = spawn_srtmd(env, "--foreground", NULL);
    struct pollfd p = {.fd = s, .events = POLLIN};
    cr_assert(poll(&p, 1, 30000) == 1, "no notification from srtmd");
    char msg[64];
    ssize_t n = recv(s, msg, sizeof(msg) - 1, 0);
    cr_assert(n > 0);
    msg[n] = '\0';
    cr_expect_str_eq(msg, "READY=1");
    cr_expect_eq(stop(), 0);
    close(s);
}
