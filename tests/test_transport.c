/*
 * libsrtm's transport (client-lib/transport.c): no capability is left in freed memory,
 * on the client's side (libsrtm's buffers and nng's alike); a failed connection names the
 * socket and the real cause (missing, stale, permission denied as a non-root user, no
 * scheme); an answer from a peer that is not srtmd's REP0 socket, or one over the size
 * limit, is refused; a request whose answer was lost is not sent again, and the next
 * request connects again; a peer that hung up fails the request without SIGPIPE, and one
 * that never answers times out on time. srtmd credits each connection to its own process: connections of
 * two processes open at once are told apart, and a closed one leaves nothing behind.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
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
#include "srtm.pb-c.h"

TestSuite(transport, .timeout = 60);

/* ---- a temporary directory with a Unix socket in it ---- */

typedef struct sockdir {
    char dir[64];
    char path[100]; /* fits sun_path */
    int fd;
} sockdir;

/* A socket file at DIR/srtmd.sock: listening when listen_too, else a stale one. */
static void sockdir_make(sockdir *s, bool listen_too, mode_t dir_mode, mode_t sock_mode)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/srtm-transport-XXXXXX");
    cr_assert(mkdtemp(s->dir) != NULL);
    snprintf(s->path, sizeof(s->path), "%s/srtmd.sock", s->dir);
    s->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(s->fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
    cr_assert_eq(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (listen_too)
        cr_assert_eq(listen(s->fd, 4), 0);
    else {
        close(s->fd);
        s->fd = -1;
    }
    cr_assert_eq(chmod(s->path, sock_mode), 0);
    cr_assert_eq(chmod(s->dir, dir_mode), 0);
}

static void sockdir_remove(sockdir *s)
{
    if (s->fd >= 0)
        close(s->fd);
    unlink(s->path);
    rmdir(s->dir);
}

/* srtm_open(url) as uid/gid 65534 (nobody), in transport_client; the message it leaves. */
static srtm_err open_as_nobody(const char *url, char *msg, size_t size)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    const char *client = test_binary("SRTM_TRANSPORT_CLIENT");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (dup2(p[1], STDOUT_FILENO) < 0 || setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
            setuid(65534) != 0)
            _exit(100);
        execl(client, client, "open", url, (char *)NULL);
        _exit(101);
    }
    close(p[1]);
    ssize_t n = 0, r;
    while ((size_t)n < size - 1 && (r = read(p[0], msg + n, size - 1 - (size_t)n)) > 0)
        n += r;
    msg[n > 0 ? n : 0] = '\0';
    close(p[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) < 100, "transport_client did not run as nobody");
    return (srtm_err)WEXITSTATUS(st);
}

/* ---- connection errors ---- */

Test(transport, missing_socket_is_named_with_its_cause)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open("ipc:///nonexistent-srtm-dir/srtmd.sock", &c), SRTM_E_TRANSPORT);
    const char *m = srtm_last_message(NULL);
    cr_expect(strstr(m, "/nonexistent-srtm-dir/srtmd.sock") != NULL, "%s", m);
    cr_expect(strstr(m, "no socket") != NULL && strstr(m, "is srtmd running?") != NULL, "%s",
              m);
}

Test(transport, stale_socket_says_nothing_listens)
{
    sockdir s;
    sockdir_make(&s, false, 0755, 0666);
    char url[160];
    snprintf(url, sizeof(url), "ipc://%s", s.path);
    srtm_conn *c = NULL;
    srtm_err err = srtm_open(url, &c);
    const char *m = srtm_last_message(NULL);
    cr_expect_eq(err, SRTM_E_TRANSPORT);
    cr_expect(strstr(m, s.path) != NULL, "%s", m);
    cr_expect(strstr(m, "nothing listening") != NULL && strstr(m, "stale") != NULL, "%s", m);
    sockdir_remove(&s);
}

Test(transport, socket_closed_to_a_user_says_who_may_connect)
{
    sockdir s;
    sockdir_make(&s, true, 0755, 0660);
    char url[160], msg[600];
    snprintf(url, sizeof(url), "ipc://%s", s.path);
    srtm_err err = open_as_nobody(url, msg, sizeof(msg));
    cr_expect_eq(err, SRTM_E_TRANSPORT);
    cr_expect(strstr(msg, s.path) != NULL, "%s", msg);
    cr_expect(strstr(msg, "permission denied") != NULL, "%s", msg);
    cr_expect(strstr(msg, "mode 0660") != NULL && strstr(msg, "group 0") != NULL, "%s", msg);
    cr_expect(strstr(msg, "is srtmd running") == NULL, "%s", msg);
    sockdir_remove(&s);
}

Test(transport, socket_in_a_closed_directory_says_permission_denied)
{
    sockdir s;
    sockdir_make(&s, true, 0700, 0666);
    char url[160], msg[600];
    snprintf(url, sizeof(url), "ipc://%s", s.path);
    srtm_err err = open_as_nobody(url, msg, sizeof(msg));
    cr_expect_eq(err, SRTM_E_TRANSPORT);
    cr_expect(strstr(msg, s.path) != NULL, "%s", msg);
    cr_expect(strstr(msg, "permission denied") != NULL, "%s", msg);
    cr_expect(strstr(msg, "closed to uid 65534") != NULL, "%s", msg);
    sockdir_remove(&s);
}

Test(transport, an_address_without_a_scheme_is_refused_with_a_hint)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open("run/srtm/srtmd.sock", &c), SRTM_E_INVALID);
    const char *m = srtm_last_message(NULL);
    cr_expect(strstr(m, "run/srtm/srtmd.sock") != NULL && strstr(m, "ipc://") != NULL, "%s",
              m);
    cr_assert_eq(srtm_open("http://localhost/", &c), SRTM_E_INVALID);
    cr_expect(strstr(srtm_last_message(NULL), "ipc://, tcp:// or tls+tcp://") != NULL, "%s",
              srtm_last_message(NULL));
    /* A TLS address needs the client's certificate: srtm_open_tls, which takes no other. */
    cr_assert_eq(srtm_open("tls+tcp://127.0.0.1:1", &c), SRTM_E_INVALID);
    cr_expect(strstr(srtm_last_message(NULL), "srtm_open_tls") != NULL, "%s",
              srtm_last_message(NULL));
    cr_assert_eq(srtm_open_tls("tcp://127.0.0.1:1", "c.pem", "c.key", "ca.pem", NULL, &c),
                 SRTM_E_INVALID);
    cr_expect(strstr(srtm_last_message(NULL), "not a tls+tcp:// address") != NULL, "%s",
              srtm_last_message(NULL));
    cr_assert_eq(srtm_open_tls("tls+tcp://127.0.0.1:1", "/nonexistent.pem", "c.key", "ca.pem",
                               NULL, &c),
                 SRTM_E_IO);
    cr_expect(strstr(srtm_last_message(NULL), "/nonexistent.pem") != NULL, "%s",
              srtm_last_message(NULL));
}

Test(transport, an_absolute_path_is_an_ipc_socket)
{
    test_daemon d;
    test_daemon_start(&d, NULL);
    srtm_conn *c = NULL;
    srtm_components *l = NULL;
    cr_expect_eq(srtm_open(d.sock_path, &c), SRTM_OK, "%s", srtm_last_message(NULL));
    cr_expect_eq(srtm_list(c, &l), SRTM_OK, "%s", srtm_last_message(c));
    cr_expect_str_empty(srtm_last_message(NULL));
    srtm_components_free(l);
    srtm_close(c);
    test_daemon_stop_checked(&d);
}

/* ---- no capability in freed memory ---- */

Test(transport, no_freed_block_holds_a_capability, .timeout = 120)
{
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("the free() scanner cannot be preloaded under AddressSanitizer");
#else
    test_daemon d;
    test_daemon_start(&d, NULL);
    char hex[2 * SRTM_CAP_LEN + 1];
    for (size_t i = 0; i < SRTM_CAP_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", d.admin.bytes[i]);
    cr_assert_eq(setenv("FREESCAN_CAP", hex, 1), 0);
    cr_assert_eq(setenv("LD_PRELOAD", test_binary("SRTM_FREESCAN"), 1), 0);
    const char *argv[] = {test_binary("SRTM_TRANSPORT_CLIENT"), "scan", d.url, NULL};
    char out[256], err[1024];
    int rc = test_run(argv, out, sizeof(out), err, sizeof(err));
    unsetenv("LD_PRELOAD");
    cr_expect_eq(rc, 0, "transport_client exited %d: %s", rc, err);
    test_daemon_stop_checked(&d);
#endif
}

/* ---- a peer that is not srtmd ---- */

typedef struct fake_peer {
    sockdir s;
    uint8_t header[8];       /* the SP header it sends */
    uint8_t answer[13];      /* the frame header and request id it answers with */
    bool echo_id;            /* copy the request's id into answer */
} fake_peer;

/* Accept one connection, exchange headers, read one request, send answer, hang on. */
static void *fake_serve(void *arg)
{
    fake_peer *f = arg;
    int fd = accept(f->s.fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    uint8_t buf[4096];
    if (write(fd, f->header, 8) != 8 || read(fd, buf, 8) != 8)
        goto out;
    ssize_t n = read(fd, buf, sizeof(buf)); /* one small request: one read */
    if (n < 13)
        goto out;
    if (f->echo_id)
        memcpy(f->answer + 9, buf + 9, 4);
    if (write(fd, f->answer, sizeof(f->answer)) != (ssize_t)sizeof(f->answer))
        goto out;
    if (read(fd, buf, sizeof(buf)) < 0) /* until the client hangs up */
        goto out;
out:
    close(fd);
    return NULL;
}

/* srtm_list against a fake peer; the status, with the message in msg. */
static srtm_err list_against(fake_peer *f, char *msg, size_t size)
{
    sockdir_make(&f->s, true, 0755, 0666);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, fake_serve, f), 0);
    char url[160];
    snprintf(url, sizeof(url), "ipc://%s", f->s.path);
    srtm_conn *c = NULL;
    srtm_components *l = NULL;
    srtm_err err = srtm_open(url, &c);
    if (err == SRTM_OK) {
        cr_assert_eq(srtm_set_timeout(c, 5000), SRTM_OK);
        err = srtm_list(c, &l);
        snprintf(msg, size, "%s", srtm_last_message(c));
    } else {
        snprintf(msg, size, "%s", srtm_last_message(NULL));
    }
    srtm_components_free(l);
    srtm_close(c);
    pthread_join(th, NULL);
    sockdir_remove(&f->s);
    return err;
}

static const uint8_t REP0_HEADER[8] = {0, 'S', 'P', 0, 0, 0x31, 0, 0};

Test(transport, a_peer_that_is_not_rep0_is_refused)
{
    fake_peer f = {.header = {0, 'S', 'P', 0, 0, 0x21, 0, 0}}; /* PUB0 */
    char msg[512];
    cr_expect_eq(list_against(&f, msg, sizeof(msg)), SRTM_E_TRANSPORT);
    cr_expect(strstr(msg, "not srtmd's protocol") != NULL, "%s", msg);
}

Test(transport, an_answer_over_the_limit_is_refused_unread)
{
    /* Announces 2^40 bytes: refused from the frame header, before any allocation. */
    fake_peer f = {.answer = {1, 0, 0, 1, 0, 0, 0, 0, 0}, .echo_id = true};
    memcpy(f.header, REP0_HEADER, 8);
    char msg[512];
    cr_expect_eq(list_against(&f, msg, sizeof(msg)), SRTM_E_TOO_BIG);
    cr_expect(strstr(msg, "size limit") != NULL, "%s", msg);
}

Test(transport, an_answer_to_another_request_is_refused)
{
    fake_peer f = {.answer = {1, 0, 0, 0, 0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfe}, .echo_id = false};
    memcpy(f.header, REP0_HEADER, 8);
    char msg[512];
    cr_expect_eq(list_against(&f, msg, sizeof(msg)), SRTM_E_MALFORMED);
    cr_expect(strstr(msg, "another request") != NULL, "%s", msg);
}

/* ---- a lost answer: no resend, the next request connects again ---- */

typedef struct replay_peer {
    sockdir s;
    int requests[2]; /* requests seen on the first and the second connection */
} replay_peer;

static bool read_all(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Read one ipc frame into buf (size bytes); its payload length, or 0. */
static size_t read_frame(int fd, uint8_t *buf, size_t size)
{
    uint8_t hdr[9];
    if (!read_all(fd, hdr, sizeof(hdr)) || hdr[0] != 1)
        return 0;
    uint64_t len = 0;
    for (int i = 1; i < 9; i++)
        len = len << 8 | hdr[i];
    return len >= 4 && len <= size && read_all(fd, buf, (size_t)len) ? (size_t)len : 0;
}

/* An empty, successful list answer for request id (4 bytes), framed; its length. */
static size_t list_answer(const uint8_t id[4], uint8_t *out, size_t size)
{
    Srtm__ListResponse lr = SRTM__LIST_RESPONSE__INIT;
    Srtm__Response r = SRTM__RESPONSE__INIT;
    r.result_case = SRTM__RESPONSE__RESULT_LIST;
    r.list = &lr;
    size_t n = srtm__response__get_packed_size(&r);
    cr_assert(13 + n <= size);
    out[0] = 1;
    for (int i = 8; i >= 1; i--)
        out[i] = (uint8_t)((4 + n) >> (8 * (8 - i)));
    memcpy(out + 9, id, 4);
    srtm__response__pack(&r, out + 13);
    return 13 + n;
}

/* First connection: take the request and hang up unanswered. Second: answer each request
 * until the client hangs up. */
static void *replay_serve(void *arg)
{
    replay_peer *f = arg;
    uint8_t buf[4096], out[256];
    for (int conn = 0; conn < 2; conn++) {
        int fd = accept(f->s.fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        size_t n;
        if (write(fd, REP0_HEADER, 8) == 8 && read_all(fd, buf, 8))
            while ((n = read_frame(fd, buf, sizeof(buf))) > 0) {
                f->requests[conn]++;
                if (conn == 0)
                    break;
                size_t m = list_answer(buf, out, sizeof(out));
                if (write(fd, out, m) != (ssize_t)m)
                    break;
            }
        close(fd);
    }
    return NULL;
}

Test(transport, a_lost_answer_is_not_resent_and_the_next_request_reconnects)
{
    replay_peer f = {0};
    sockdir_make(&f.s, true, 0755, 0666);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, replay_serve, &f), 0);
    srtm_conn *c = NULL;
    srtm_components *l = NULL;
    cr_assert_eq(srtm_open(f.s.path, &c), SRTM_OK, "%s", srtm_last_message(NULL));
    cr_assert_eq(srtm_set_timeout(c, 5000), SRTM_OK);
    cr_expect_eq(srtm_list(c, &l), SRTM_E_TIMEOUT);
    cr_expect(strstr(srtm_last_message(c), "may have been applied") != NULL, "%s",
              srtm_last_message(c));
    cr_expect_eq(srtm_list(c, &l), SRTM_OK, "%s", srtm_last_message(c));
    srtm_components_free(l);
    srtm_close(c);
    pthread_join(th, NULL);
    cr_expect_eq(f.requests[0], 1, "first connection saw %d requests", f.requests[0]);
    cr_expect_eq(f.requests[1], 1, "the lost request was sent again: %d", f.requests[1]);
    sockdir_remove(&f.s);
}

/* ---- a peer that goes away or says nothing ---- */

typedef struct quiet_peer {
    sockdir s;
    bool hang_up; /* after the handshake: close at once, else read the request and stay */
    int fd;       /* the accepted connection, closed by the test */
} quiet_peer;

static void *quiet_serve(void *arg)
{
    quiet_peer *f = arg;
    uint8_t buf[8];
    f->fd = accept(f->s.fd, NULL, NULL);
    if (f->fd >= 0 && (write(f->fd, REP0_HEADER, 8) != 8 || !read_all(f->fd, buf, 8))) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->fd >= 0 && f->hang_up) {
        close(f->fd);
        f->fd = -1;
    }
    return NULL;
}

static srtm_conn *open_quiet(quiet_peer *f, pthread_t *th)
{
    sockdir_make(&f->s, true, 0755, 0666);
    f->fd = -1;
    cr_assert_eq(pthread_create(th, NULL, quiet_serve, f), 0);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(f->s.path, &c), SRTM_OK, "%s", srtm_last_message(NULL));
    pthread_join(*th, NULL); /* the handshake is over; with hang_up, the peer is gone */
    return c;
}

/* libsrtm writes its requests itself: a peer that closed must fail the request, never kill
 * the calling process with SIGPIPE (left at its default here). */
Test(transport, a_peer_that_hung_up_fails_the_request_without_sigpipe)
{
    cr_assert(signal(SIGPIPE, SIG_DFL) != SIG_ERR);
    quiet_peer f = {.hang_up = true};
    pthread_t th;
    srtm_conn *c = open_quiet(&f, &th);
    cr_assert_eq(srtm_set_timeout(c, 2000), SRTM_OK);
    srtm_components *l = NULL;
    srtm_err err = srtm_list(c, &l);
    cr_expect(err == SRTM_E_TRANSPORT || err == SRTM_E_TIMEOUT, "%s: %s", srtm_strerror(err),
              srtm_last_message(c));
    srtm_close(c);
    sockdir_remove(&f.s);
}

/* A peer that takes the request and never answers: TIMEOUT after the connection's time-out,
 * not sooner and not much later. */
Test(transport, an_answer_that_never_comes_times_out)
{
    quiet_peer f = {.hang_up = false};
    pthread_t th;
    srtm_conn *c = open_quiet(&f, &th);
    cr_assert_eq(srtm_set_timeout(c, 300), SRTM_OK);
    srtm_components *l = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    srtm_err err = srtm_list(c, &l);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect_eq(err, SRTM_E_TIMEOUT, "%s: %s", srtm_strerror(err), srtm_last_message(c));
    cr_expect_geq(s, 0.29, "gave up after %.3f s", s);
    cr_expect_lt(s, 5.0, "waited %.3f s for a 300 ms time-out", s);
    srtm_close(c);
    if (f.fd >= 0)
        close(f.fd);
    sockdir_remove(&f.s);
}

/* ---- each connection's peer ---- */

static uint32_t registered_pid(const srtm_components *l, const char *name)
{
    for (size_t i = 0; i < srtm_components_count(l); i++)
        if (strcmp(srtm_components_name(l, i), name) == 0) {
            cr_expect_eq(srtm_components_peer_uid(l, i), (uint32_t)getuid());
            return srtm_components_peer_pid(l, i);
        }
    cr_assert_fail("%s is not listed", name);
    return 0;
}

/* srtmd reads a connection's peer once, when it arrives (srtm/peers.h). This process and a
 * transport_client register in turn, each on a connection held open across the other's
 * registrations; every component must be credited to the process that registered it,
 * before, while and after the other connection is open. */
Test(transport, each_connection_is_credited_to_its_own_process)
{
    test_daemon d;
    test_daemon_start(&d, NULL);
    char hex[2 * SRTM_CAP_LEN + 1];
    for (size_t i = 0; i < SRTM_CAP_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", d.admin.bytes[i]);
    srtm_conn *c = NULL;
    uint64_t h;
    srtm_cap cap;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    cr_assert_eq(srtm_register(c, &d.admin, "peer-a", 1, &h, &cap), SRTM_OK);
    int to_child[2], from_child[2];
    cr_assert_eq(pipe(to_child), 0);
    cr_assert_eq(pipe(from_child), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* exec at once: nng cannot be used in a process forked from one that used it */
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        setenv("FREESCAN_CAP", hex, 1);
        const char *client = getenv("SRTM_TRANSPORT_CLIENT");
        if (client != NULL)
            execl(client, client, "hold", d.url, "peer-b", "peer-d", (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    char ready[16] = {0};
    cr_assert_gt(read(from_child[0], ready, sizeof(ready) - 1), 0, "transport_client failed");
    /* Both connections open; the child's arrived last. */
    cr_assert_eq(srtm_register(c, &d.admin, "peer-c", 1, &h, &cap), SRTM_OK);
    cr_assert_eq(write(to_child[1], "go\n", 3), 3);
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "transport_client hold failed");
    close(to_child[1]);
    close(from_child[0]);
    /* The child's connection is closed now. */
    cr_assert_eq(srtm_register(c, &d.admin, "peer-e", 1, &h, &cap), SRTM_OK);
    srtm_components *l = NULL;
    cr_assert_eq(srtm_list(c, &l), SRTM_OK);
    cr_expect_eq(registered_pid(l, "peer-a"), (uint32_t)getpid());
    cr_expect_eq(registered_pid(l, "peer-b"), (uint32_t)child);
    cr_expect_eq(registered_pid(l, "peer-c"), (uint32_t)getpid(),
                 "this connection was credited to the other process");
    cr_expect_eq(registered_pid(l, "peer-d"), (uint32_t)child);
    cr_expect_eq(registered_pid(l, "peer-e"), (uint32_t)getpid());
    srtm_components_free(l);
    srtm_close(c);
    srtm_cap_wipe(&cap);
    test_daemon_stop_checked(&d);
}
