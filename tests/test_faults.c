/*
 * Faults around srtmd without a TPM, each expected to end in a clear message and a defined
 * state: clients killed in the middle of a request, connections that send nothing, half a
 * header or half a message, many idle connections and srtmd out of file descriptors; what
 * is already at the socket path when srtmd starts; bad capability files on the client
 * side and unusable --admin-cap paths on srtmd's; a full disk under srtmd's and srtmctl's
 * files.
 *
 * Raw connections speak nng's IPC framing: each side first sends the 8-byte SP header
 * {0, 'S', 'P', 0, protocol (2 bytes, big endian), 0, 0} (REQ0 is 48, REP0 49), then each
 * message is the byte 1, its length as 8 bytes big endian, and the message; a REQ0 message
 * starts with a 4-byte request id with the high bit set.
 */
#define _GNU_SOURCE /* prlimit */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "helpers.h"
#include "srtm.pb-c.h"

#define NOBODY 65534

static test_daemon d;
static char log_path[320]; /* srtmd's stderr, for the daemons this file starts itself */
/* daemon_up: start srtmd without LeakSanitizer (ASan builds), for a test that makes nng
 * leak by design (a stalled listener, nanomsg/nng#1518, docs/security.md "Faults"). */
static bool no_leak_check;


/* ---- small tools ---------------------------------------------------------------------- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    cr_assert(fd >= 0, "cannot create %s: %s", path, strerror(errno));
    size_t n = strlen(text);
    cr_assert_eq(write(fd, text, n), (ssize_t)n);
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

/* The whole of a small file as text ("" when missing). */
static void read_text(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
}

/* A srtmd still running at the end must exit cleanly on SIGTERM within 15 s (no crash, no
 * sanitizer report at exit); criterion ignores assertions in .fini, so the log is shown
 * and an abort says it. */
static void tls_cleanup(void);

static void teardown(void)
{
    bool running = d.pid > 0;
    int rc = 0;
    if (running) {
        kill(d.pid, SIGTERM);
        int status = 0;
        pid_t r = 0;
        long deadline = now_ms() + 15000;
        while ((r = waitpid(d.pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
            sleep_ms(10);
        if (r != d.pid) {
            kill(d.pid, SIGKILL);
            waitpid(d.pid, &status, 0);
            rc = -2;
        } else {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        d.pid = 0;
    }
    if (running && rc != 0) {
        static char log[65536];
        read_text(log_path, log, sizeof(log));
        fprintf(stderr, "srtmd did not exit cleanly on SIGTERM (%s %d); its log:\n%s\n",
                rc == -2 ? "still running after 15 s, status" : "status", rc, log);
    }
    if (d.dir[0] != '\0')
        test_daemon_stop(&d);
    memset(&d, 0, sizeof(d));
    tls_cleanup();
    if (running && rc != 0)
        abort();
}

TestSuite(faults, .fini = teardown, .timeout = 120);

/* Run srtmctl with args (NULL-terminated) and return its exit status. */
static int ctl(char *out, size_t out_size, char *err, size_t err_size, const char *const *args)
{
    const char *argv[40];
    size_t n = 0;
    argv[n++] = test_binary("SRTMCTL");
    argv[n++] = "--socket";
    argv[n++] = d.url;
    argv[n++] = "--timeout";
    argv[n++] = "10000";
    for (size_t i = 0; args[i] != NULL && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return test_run(argv, out, out_size, err, err_size);
}

#define CTL(...) ctl(out, sizeof(out), err, sizeof(err), (const char *const[]){__VA_ARGS__, NULL})

/* srtmd's whole state as srtmctl shows it: the list and the named component's CCRs. */
static void state_of(const char *name, char *buf, size_t size)
{
    char out[8192], err[1024], read_out[8192];
    cr_assert_eq(CTL("--json", "list"), 0, "srtmd no longer serves: %s", err);
    cr_assert_eq(ctl(read_out, sizeof(read_out), err, sizeof(err),
                     (const char *const[]){"--json", "read", name, NULL}),
                 0, "read %s: %s", name, err);
    snprintf(buf, size, "%s\n%s", out, read_out);
}

/* Start srtmd in the foreground with extra arguments, its stderr in log_path; fill d as
 * test_daemon_start does, so that test_daemon_stop stops it. Fails unless it serves. */
static void daemon_up(const char *const *extra)
{
    memset(&d, 0, sizeof(d));
    snprintf(d.dir, sizeof(d.dir), "/tmp/srtm-faults-XXXXXX");
    cr_assert(mkdtemp(d.dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(d.sock_path, sizeof(d.sock_path), "%s/srtmd.sock", d.dir);
    snprintf(d.url, sizeof(d.url), "ipc://%s", d.sock_path);
    snprintf(d.cap_path, sizeof(d.cap_path), "%s/admin.cap", d.dir);
    snprintf(log_path, sizeof(log_path), "%s/srtmd.log", d.dir);
    const char *argv[32];
    size_t n = 0;
    argv[n++] = test_binary("SRTMD");
    argv[n++] = "--foreground";
    argv[n++] = "--listen";
    argv[n++] = d.url;
    argv[n++] = "--admin-cap";
    argv[n++] = d.cap_path;
    argv[n++] = "--no-tpm";
    /* srtmd takes each option once: the caller's --log-level replaces the default. */
    bool level = false;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        level = level || strcmp(extra[i], "--log-level") == 0;
    if (!level) {
        argv[n++] = "--log-level";
        argv[n++] = "warn";
    }
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        if (no_leak_check) {
            const char *was = getenv("ASAN_OPTIONS");
            char opts[512];
            snprintf(opts, sizeof(opts), "%s%sdetect_leaks=0", was != NULL ? was : "",
                     was != NULL && was[0] != '\0' ? ":" : "");
            setenv("ASAN_OPTIONS", opts, 1);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    d.pid = pid;
    long deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        if (srtm_cap_load(d.cap_path, &d.admin) == SRTM_OK)
            return;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            d.pid = 0;
            char log[4096];
            read_text(log_path, log, sizeof(log));
            cr_assert_fail("srtmd exited during start-up (status %d): %s", status, log);
        }
        sleep_ms(10);
    }
    cr_assert_fail("srtmd did not write %s within 10 s", d.cap_path);
}

/* Run srtmd (foreground) expecting a refusal: its exit status, stderr in err. */
static int srtmd_refused(const char *listen, const char *cap, const char *pidfile, char *err,
                         size_t err_size)
{
    const char *argv[18];
    size_t n = 0;
    /* An srtmd that does not refuse is stopped after 20 s (timeout's exit status 124). */
    argv[n++] = "/usr/bin/timeout";
    argv[n++] = "20";
    argv[n++] = test_binary("SRTMD");
    argv[n++] = "--foreground";
    argv[n++] = "--no-tpm";
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--admin-cap";
    argv[n++] = cap;
    if (pidfile != NULL) {
        argv[n++] = "--pidfile";
        argv[n++] = pidfile;
    }
    argv[n] = NULL;
    char out[256];
    long t0 = now_ms();
    int rc = test_run(argv, out, sizeof(out), err, err_size);
    cr_expect_lt(now_ms() - t0, 15000, "srtmd took %ld ms to refuse", now_ms() - t0);
    return rc;
}

/* Start srtmd --no-tpm on url with its admin capability at cap, wait up to 10 s for it
 * to serve (the capability file appears), then stop it with SIGTERM. Returns true when it
 * served; *status_out (may be NULL) receives its wait status. */
static bool srtmd_serves(const char *url, const char *cap, int *status_out)
{
    const char *argv[] = {test_binary("SRTMD"), "--foreground", "--no-tpm", "--listen", url,
                          "--admin-cap", cap, "--log-level", "warn", NULL};
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    long deadline = now_ms() + 10000;
    while (!test_path_exists(cap) && now_ms() < deadline && waitpid(pid, NULL, WNOHANG) == 0)
        sleep_ms(20);
    bool served = test_path_exists(cap);
    kill(pid, SIGTERM);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    if (status_out != NULL)
        *status_out = status;
    return served;
}

/* A list request on a fresh connection; its duration in ms, or -1 when it failed. */
static long timed_list(int timeout_ms)
{
    long t0 = now_ms();
    srtm_conn *c = NULL;
    srtm_err err = srtm_open(d.url, &c);
    if (err == SRTM_OK)
        err = srtm_set_timeout(c, timeout_ms);
    srtm_components *l = NULL;
    if (err == SRTM_OK)
        err = srtm_list(c, &l);
    srtm_components_free(l);
    srtm_close(c);
    return err == SRTM_OK ? now_ms() - t0 : -1;
}

/* ---- raw connections: nng's IPC framing by hand ----------------------------------------- */

static const uint8_t REQ_HEADER[8] = {0, 'S', 'P', 0, 0, 48, 0, 0};
static const uint8_t REP_HEADER[8] = {0, 'S', 'P', 0, 0, 49, 0, 0};

static int raw_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(d.sock_path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, d.sock_path, strlen(d.sock_path) + 1);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Read exactly len bytes within ms; false on end of file, error or time-out. */
static bool read_all(int fd, void *buf, size_t len, int ms)
{
    uint8_t *p = buf;
    long deadline = now_ms() + ms;
    while (len > 0) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return false;
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* true when the peer closed fd within ms (end of file, or a reset). */
static bool closed_within(int fd, int ms)
{
    long deadline = now_ms() + ms;
    while (now_ms() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
            continue;
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
    return false;
}

/* Connect and exchange SP headers, checking srtmd's. */
static int raw_handshake(void)
{
    int fd = raw_connect();
    cr_assert(write_all(fd, REQ_HEADER, sizeof(REQ_HEADER)));
    uint8_t hdr[8];
    cr_assert(read_all(fd, hdr, sizeof(hdr), 5000), "no SP header from srtmd");
    cr_assert_arr_eq(hdr, REP_HEADER, sizeof(hdr), "srtmd's SP header is not REP0's");
    return fd;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* The 9-byte frame header of a message of len bytes. */
static void frame_header(uint8_t out[9], uint64_t len)
{
    out[0] = 1;
    put_be64(out + 1, len);
}

/* A framed REQ0 message: frame header, request id, body. Caller frees. */
static uint8_t *frame(const uint8_t *body, size_t len, uint32_t id, size_t *out_len)
{
    uint8_t *f = malloc(9 + 4 + len);
    cr_assert(f != NULL);
    frame_header(f, 4 + len);
    f[9] = (uint8_t)(id >> 24) | 0x80;
    f[10] = (uint8_t)(id >> 16);
    f[11] = (uint8_t)(id >> 8);
    f[12] = (uint8_t)id;
    memcpy(f + 13, body, len);
    *out_len = 9 + 4 + len;
    return f;
}

/* A packed list request. */
static uint8_t *list_request(size_t *len)
{
    Srtm__ListRequest lr = SRTM__LIST_REQUEST__INIT;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_LIST;
    req.list = &lr;
    *len = srtm__request__get_packed_size(&req);
    uint8_t *buf = malloc(*len);
    cr_assert(buf != NULL);
    srtm__request__pack(&req, buf);
    return buf;
}

/* A packed batched extend of n measurements of CCR 0, all with event type tag and a long
 * description, so that the message is megabytes. */
static uint8_t *batch_request(const srtm_cap *cap, const char *name, size_t n, uint32_t tag,
                              size_t *len)
{
    static char desc[200];
    memset(desc, 'd', sizeof(desc) - 1);
    uint8_t *digests = malloc(n * 32);
    uint32_t *ccrs = calloc(n, sizeof(uint32_t));
    uint32_t *types = malloc(n * sizeof(uint32_t));
    ProtobufCBinaryData *descs = malloc(n * sizeof(*descs));
    cr_assert(digests != NULL && ccrs != NULL && types != NULL && descs != NULL);
    for (size_t i = 0; i < n; i++) {
        memset(digests + 32 * i, (int)(i & 0xff), 32);
        memcpy(digests + 32 * i, &tag, sizeof(tag));
        types[i] = tag;
        descs[i] = (ProtobufCBinaryData){.len = sizeof(desc) - 1, .data = (uint8_t *)desc};
    }
    Srtm__ComponentRef ref;
    srtm__component_ref__init(&ref);
    ref.ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref.name = (ProtobufCBinaryData){.len = strlen(name), .data = (uint8_t *)name};
    Srtm__ExtendRequest ex;
    srtm__extend_request__init(&ex);
    ex.component = &ref;
    ex.digests = (ProtobufCBinaryData){.len = n * 32, .data = digests};
    ex.n_ccrs = n;
    ex.ccrs = ccrs;
    ex.n_event_types = n;
    ex.event_types = types;
    ex.n_descriptions = n;
    ex.descriptions = descs;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    req.capability = (ProtobufCBinaryData){.len = SRTM_CAP_LEN, .data = (uint8_t *)cap->bytes};
    *len = srtm__request__get_packed_size(&req);
    uint8_t *buf = malloc(*len);
    cr_assert(buf != NULL);
    srtm__request__pack(&req, buf);
    free(digests);
    free(ccrs);
    free(types);
    free(descs);
    return buf;
}

/* ---- the CCR and its log ------------------------------------------------------------- */

static void sha256_pair(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
    uint8_t in[64];
    memcpy(in, a, 32);
    memcpy(in + 32, b, 32);
    unsigned int n = 0;
    cr_assert(EVP_Digest(in, sizeof(in), out, &n, EVP_sha256(), NULL) == 1 && n == 32);
}

#define MAX_TAGS 64

typedef struct log_summary {
    uint64_t entries;
    uint64_t count[MAX_TAGS];     /* entries per event type */
    uint64_t first[MAX_TAGS];     /* first and last sequence number per event type */
    uint64_t last[MAX_TAGS];
    bool value_is_replay;
} log_summary;

/* Read CCR 0 of name and its whole log; replay the log with an independent SHA-256. */
static log_summary summarise(const char *name)
{
    log_summary s;
    memset(&s, 0, sizeof(s));
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    srtm_log_iter *it = NULL;
    cr_assert_eq(srtm_log_open(c, name, 0, 0, &it), SRTM_OK);
    uint8_t v[32] = {0};
    const srtm_log_entry *e;
    srtm_err err;
    while ((err = srtm_log_next(it, &e)) == SRTM_OK) {
        uint32_t t = srtm_log_entry_event_type(e);
        cr_assert_lt(t, MAX_TAGS);
        uint64_t seq = srtm_log_entry_seq(e);
        if (s.count[t]++ == 0)
            s.first[t] = seq;
        s.last[t] = seq;
        sha256_pair(v, srtm_log_entry_digest(e), v);
        s.entries++;
    }
    cr_assert_eq(err, SRTM_E_END, "log: %s", srtm_strerror(err));
    srtm_log_iter_free(it);
    srtm_ccrs *r = NULL;
    uint32_t idx = 0;
    cr_assert_eq(srtm_read(c, name, &idx, 1, &r), SRTM_OK);
    uint8_t value[32];
    uint64_t len = 0;
    cr_assert_eq(srtm_ccrs_get(r, 0, NULL, NULL, value, &len), SRTM_OK);
    srtm_ccrs_free(r);
    srtm_close(c);
    cr_expect_eq(len, s.entries, "log length %llu, but %llu entries read",
                 (unsigned long long)len, (unsigned long long)s.entries);
    s.value_is_replay = memcmp(value, v, 32) == 0;
    return s;
}

/* Register name (1 CCR) with srtmctl, its capability in DIR/name.cap. */
static void register_with_ctl(const char *name, char *cap_path, size_t size)
{
    char out[1024], err[1024];
    snprintf(cap_path, size, "%s/%s.cap", d.dir, name);
    cr_assert_eq(CTL("--cap", d.cap_path, "register", name, "--cap-out", cap_path), 0,
                 "register %s: %s", name, err);
}

/* ---- 1. clients killed in the middle of a request ------------------------------------ */

#define KILL_ROUNDS 10               /* event types 1..KILL_ROUNDS */
#define TAG_HALF (KILL_ROUNDS + 1)   /* half a raw message, then killed */
#define TAG_WHOLE (KILL_ROUNDS + 2)  /* a whole raw message, then gone */

/* A client (faults_client) that sends a whole batch through libsrtm and is SIGKILLed at
 * some point while the request is written, handled or answered: srtmd applies the batch
 * whole or not at all, and serves on. */
Test(faults, client_killed_mid_batch_applies_it_all_or_nothing)
{
    daemon_up(NULL);
    char cap_path[400];
    register_with_ctl("target", cap_path, sizeof(cap_path));
    /* The delays span "before the request is out" to "after the answer came". */
    static const long delay_us[KILL_ROUNDS] = {0, 200, 1000, 2000, 4000, 7000, 12000, 20000,
                                               40000, 200000};
    for (uint32_t r = 0; r < KILL_ROUNDS; r++) {
        int p[2];
        cr_assert_eq(pipe(p), 0);
        char tag[16];
        snprintf(tag, sizeof(tag), "%u", r + 1);
        const char *argv[] = {test_binary("SRTM_FAULTS_CLIENT"), d.url, cap_path, "target", tag,
                              NULL};
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            dup2(p[1], STDOUT_FILENO);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        close(p[1]);
        char go;
        cr_assert_eq(read(p[0], &go, 1), 1, "round %u: the child did not get ready", r);
        close(p[0]);
        struct timespec ts = {delay_us[r] / 1000000, (delay_us[r] % 1000000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "round %u: the child failed on its own (status %d)", r, status);
    }
    srtm_cap cap;
    cr_assert_eq(srtm_cap_load(cap_path, &cap), SRTM_OK);
    /* A client killed while it is still writing a raw request: nothing of it lands. */
    size_t body_len = 0, framed_len = 0;
    uint8_t *body = batch_request(&cap, "target", SRTM_MAX_BATCH, TAG_HALF, &body_len);
    uint8_t *framed = frame(body, body_len, 1, &framed_len);
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        int fd = raw_handshake();
        bool ok = write_all(fd, framed, framed_len / 2);
        if (write(p[1], ok ? "h" : "x", 1) != 1)
            _exit(4);
        pause(); /* killed here, half the message sent */
        _exit(0);
    }
    close(p[1]);
    char half;
    cr_assert_eq(read(p[0], &half, 1), 1);
    cr_assert_eq(half, 'h', "the child could not send half the message");
    close(p[0]);
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    /* And one that sends the whole request and is gone before the answer: srtmd has the
     * whole message, so it applies it; its answer goes nowhere. */
    free(framed);
    free(body);
    body = batch_request(&cap, "target", SRTM_MAX_BATCH, TAG_WHOLE, &body_len);
    framed = frame(body, body_len, 2, &framed_len);
    int fd = raw_handshake();
    cr_assert(write_all(fd, framed, framed_len));
    close(fd);
    free(framed);
    free(body);

    cr_assert(test_daemon_alive(&d), "srtmd died");
    log_summary s;
    long deadline = now_ms() + 10000;
    for (;;) { /* the last request may still be in srtmd's hands */
        s = summarise("target");
        if (s.count[TAG_WHOLE] != 0 || now_ms() > deadline)
            break;
        sleep_ms(50);
    }
    cr_expect(s.value_is_replay, "the CCR value is not the replay of its log");
    unsigned applied = 0;
    for (uint32_t t = 1; t <= KILL_ROUNDS; t++) {
        cr_expect(s.count[t] == 0 || s.count[t] == SRTM_MAX_BATCH,
                  "batch of round %u applied in part: %llu of %u measurements", t - 1,
                  (unsigned long long)s.count[t], SRTM_MAX_BATCH);
        if (s.count[t] == SRTM_MAX_BATCH) {
            applied++;
            cr_expect_eq(s.last[t] - s.first[t] + 1, SRTM_MAX_BATCH,
                         "batch of round %u is not contiguous in the sequence", t - 1);
        }
    }
    cr_log_info("%u of %u killed batches were applied (whole), the others not at all", applied,
                KILL_ROUNDS);
    cr_expect_eq(s.count[TAG_HALF], 0, "half a message was applied");
    cr_expect_eq(s.count[TAG_WHOLE], SRTM_MAX_BATCH,
                 "a whole request whose sender left at once: %llu of %u measurements",
                 (unsigned long long)s.count[TAG_WHOLE], SRTM_MAX_BATCH);
    cr_expect_eq(s.entries, (uint64_t)(applied + 1) * SRTM_MAX_BATCH, "stray log entries");
    /* srtmd still serves, promptly. */
    long ms = timed_list(5000);
    cr_expect(ms >= 0 && ms < 3000, "a list took %ld ms after the kills", ms);
}

/* ---- 2. connections that send nothing, or half of something -------------------------- */

/* The framing above is right: a whole raw request is answered. */
Test(faults, raw_framing_is_answered)
{
    daemon_up(NULL);
    int fd = raw_handshake();
    size_t blen = 0, flen = 0;
    uint8_t *body = list_request(&blen);
    uint8_t *f = frame(body, blen, 7, &flen);
    cr_assert(write_all(fd, f, flen));
    uint8_t hdr[9], id[4];
    cr_assert(read_all(fd, hdr, sizeof(hdr), 5000), "no answer to a raw list request");
    cr_assert_eq(hdr[0], 1);
    uint64_t len = 0;
    for (int i = 1; i < 9; i++)
        len = len << 8 | hdr[i];
    cr_assert(len > 4 && len < 65536, "answer length %llu", (unsigned long long)len);
    cr_assert(read_all(fd, id, sizeof(id), 5000));
    cr_expect_eq(id[0], 0x80);
    cr_expect_eq(id[3], 7, "the answer carries another request id");
    uint8_t *ans = malloc(len - 4);
    cr_assert(ans != NULL && read_all(fd, ans, len - 4, 5000));
    Srtm__Response *r = srtm__response__unpack(NULL, len - 4, ans);
    cr_assert(r != NULL, "the answer is not a Response");
    cr_expect_eq(r->status, 0);
    srtm__response__free_unpacked(r, NULL);
    free(ans);
    free(body);
    free(f);
    close(fd);
}

Test(faults, silent_and_half_sent_connections_hold_up_nobody)
{
    daemon_up(NULL);
    cr_assert_geq(timed_list(5000), 0);
    /* Connects and sends nothing. */
    int silent = raw_connect();
    /* Part of the SP header. */
    int part = raw_connect();
    cr_assert(write_all(part, REQ_HEADER, 3));
    /* The header, then a message announced as 1000 bytes of which 10 come. */
    int half = raw_handshake();
    uint8_t fh[9];
    frame_header(fh, 1000);
    cr_assert(write_all(half, fh, sizeof(fh)));
    cr_assert(write_all(half, "0123456789", 10));
    /* A message announced as larger than srtmd accepts (twice SRTM_MAX_MESSAGE): srtmd
     * drops that connection at once, without reading or allocating the length. */
    int huge = raw_handshake();
    frame_header(fh, 1ull << 40);
    cr_assert(write_all(huge, fh, sizeof(fh)));
    cr_expect(closed_within(huge, 5000), "a connection announcing 1 TiB was not closed");
    int over = raw_handshake();
    frame_header(fh, 2ull * SRTM_MAX_MESSAGE + 4096);
    cr_assert(write_all(over, fh, sizeof(fh)));
    cr_expect(closed_within(over, 5000),
              "a connection announcing more than the receive limit was not closed");
    /* Meanwhile others are served promptly, several times over. */
    for (int i = 0; i < 5; i++) {
        long ms = timed_list(5000);
        cr_expect(ms >= 0 && ms < 2500, "a list took %ld ms with stalled peers connected", ms);
    }
    cr_expect(test_daemon_alive(&d));
    /* The stalled peers are still connected, none was answered. */
    uint8_t hdr[8];
    cr_expect(read_all(part, hdr, sizeof(hdr), 100), "no SP header for the partial one");
    cr_expect(!closed_within(half, 200), "the half-sent message's connection was closed");
    close(silent);
    close(part);
    close(half);
    close(huge);
    close(over);
    /* After they go, everything is normal. */
    long ms = timed_list(5000);
    cr_expect(ms >= 0 && ms < 2500, "a list took %ld ms after the stalled peers left", ms);
    cr_expect(test_daemon_alive(&d));
    char log[8192];
    read_text(log_path, log, sizeof(log));
    cr_expect(strstr(log, "replacing it") == NULL, "the listener had to be replaced: %s", log);
}

/* nng closes a connection that has not completed the SP handshake within 10 s, so a
 * silent peer does not hold a descriptor of srtmd's for ever. */
Test(faults, silent_connection_is_closed_by_srtmd, .timeout = 60)
{
    daemon_up(NULL);
    int fd = raw_connect();
    uint8_t hdr[8];
    cr_assert(read_all(fd, hdr, sizeof(hdr), 5000));
    long t0 = now_ms();
    cr_expect(closed_within(fd, 30000), "a silent connection stayed open 30 s");
    cr_log_info("silent connection closed by srtmd after %ld ms", now_ms() - t0);
    close(fd);
    cr_expect_geq(timed_list(5000), 0);
}

#define IDLE_CONNECTIONS 200

Test(faults, many_idle_connections_still_serving)
{
    daemon_up(NULL);
    static int fds[IDLE_CONNECTIONS];
    for (int i = 0; i < IDLE_CONNECTIONS; i++)
        fds[i] = raw_handshake(); /* handshaken: nng keeps these open */
    long ms = timed_list(5000);
    cr_expect(ms >= 0 && ms < 2500, "a list took %ld ms with %d idle connections", ms,
              IDLE_CONNECTIONS);
    for (int i = 0; i < IDLE_CONNECTIONS; i++)
        close(fds[i]);
    ms = timed_list(5000);
    cr_expect(ms >= 0 && ms < 2500, "a list took %ld ms after they closed", ms);
    cr_expect(test_daemon_alive(&d));
}

static int open_fds(pid_t pid)
{
    char cmd[128], out[64];
    snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    cr_assert_eq(test_run(argv, out, sizeof(out), NULL, 0), 0);
    return atoi(out);
}

/* Wait until srtmd's log holds text, up to ms. */
static bool log_says(const char *text, int ms)
{
    static char log[65536];
    long deadline = now_ms() + ms;
    do {
        read_text(log_path, log, sizeof(log));
        if (strstr(log, text) != NULL)
            return true;
        sleep_ms(50);
    } while (now_ms() < deadline);
    return false;
}

/* srtmd at its descriptor limit: it says so, new clients wait (in the socket's backlog)
 * instead of being refused, nothing breaks, and once the connections close it serves
 * again by itself. */
Test(faults, out_of_file_descriptors_then_recovers, .timeout = 120)
{
    /* Clients that give up while queued stall nng 1.5's listener, whose connections and
     * memory nng then never frees: not srtmd's leak, and reported as the descriptors
     * below. */
    no_leak_check = true;
    daemon_up(NULL);
    int base = open_fds(d.pid);
    struct rlimit lim = {.rlim_cur = (rlim_t)base + 24, .rlim_max = (rlim_t)base + 24};
    cr_assert_eq(prlimit(d.pid, RLIMIT_NOFILE, &lim, NULL), 0, "prlimit: %s", strerror(errno));
    /* More connections than srtmd has descriptors left; the kernel queues the rest. */
    enum { N = 60 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect();
        cr_assert(write_all(fds[i], REQ_HEADER, sizeof(REQ_HEADER)));
    }
    cr_expect(log_says("out of file descriptors", 15000),
              "srtmd did not report running out of descriptors");
    /* A new client waits in the backlog: nng's dialer gives up after its 10 s handshake
     * time-out. */
    cr_expect_lt(timed_list(1000), 0, "a request was served with no descriptor left");
    cr_expect(test_daemon_alive(&d), "srtmd died at its descriptor limit");
    for (int i = 0; i < N; i++)
        close(fds[i]);
    long t0 = now_ms(), ms = -1;
    while (ms < 0 && now_ms() - t0 < 20000)
        ms = timed_list(1000);
    cr_expect_geq(ms, 0, "srtmd did not serve again within 20 s after the connections closed");
    cr_expect(log_says("file descriptors available again", 5000));
    /* Clients that gave up while queued hung up during the handshake, which stops nng
     * 1.5's listener (nanomsg/nng#1518): the watchdog replaces it; srtmd serves on. */
    for (int i = 0; i < 5; i++)
        cr_expect_geq(timed_list(5000), 0);
    /* Connections that completed their handshake while nng 1.5's listener was stalled
     * stay open inside nng for good (nanomsg/nng#1518, fixed in later nng): their number is
     * reported, not asserted (docs/security.md, "Faults"). */
    int now_open = open_fds(d.pid);
    for (long deadline = now_ms() + 12000; now_open > base + 2 && now_ms() < deadline;) {
        sleep_ms(200);
        now_open = open_fds(d.pid);
    }
    if (now_open > base + 2)
        fprintf(stderr, /* cr_log_warn would fail the run */
                "note: srtmd keeps %d descriptors of connections accepted while its listener "
                "was stalled (nng 1.5, nanomsg/nng#1518)\n",
                now_open - base);
}

/* ---- the listener watchdog: a stall, a stopped srtmd ----------------------------------- */

/* A framed list request with request id id. Caller frees. */
static uint8_t *framed_list(uint32_t id, size_t *len)
{
    size_t blen = 0;
    uint8_t *body = list_request(&blen);
    uint8_t *f = frame(body, blen, id, len);
    free(body);
    return f;
}

/* Read the answer to request id within ms; false when srtmd closed or reset the
 * connection, or sent something else. */
static bool raw_answer(int fd, uint32_t id, int ms)
{
    uint8_t hdr[9], rid[4];
    bool ok = read_all(fd, hdr, sizeof(hdr), ms) && hdr[0] == 1;
    uint64_t len = 0;
    for (int i = 1; ok && i < 9; i++)
        len = len << 8 | hdr[i];
    ok = ok && len > 4 && len < 65536 && read_all(fd, rid, sizeof(rid), ms) &&
         rid[3] == (uint8_t)id;
    uint8_t *ans = ok ? malloc(len - 4) : NULL;
    ok = ok && ans != NULL && read_all(fd, ans, len - 4, ms);
    free(ans);
    return ok;
}

/* Send a list request with request id id on a handshaken raw connection; true when it is
 * answered within ms. */
static bool raw_list_answered(int fd, uint32_t id, int ms)
{
    size_t flen = 0;
    uint8_t *f = framed_list(id, &flen);
    bool ok = write_all(fd, f, flen);
    free(f);
    return ok && raw_answer(fd, id, ms);
}

/* true when the thread whose stat file is path is stopped (state T). */
static bool thread_stopped(const char *path)
{
    char stat[512];
    read_text(path, stat, sizeof(stat));
    const char *end = strrchr(stat, ')'); /* the state follows "(comm) " */
    return end != NULL && end[1] == ' ' && end[2] == 'T';
}

/* SIGSTOP srtmd and wait until every one of its threads has stopped (state T in /proc), up
 * to 5 s. A group stop reaches the threads one by one: until the last has stopped, nng's
 * I/O thread may still accept a connection and write its SP header. */
static void stop_srtmd(void)
{
    cr_assert_eq(kill(d.pid, SIGSTOP), 0);
    char dir[64], path[600];
    snprintf(dir, sizeof(dir), "/proc/%d/task", (int)d.pid);
    for (long deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(1)) {
        DIR *tasks = opendir(dir);
        cr_assert(tasks != NULL, "cannot read %s", dir);
        bool all = true;
        for (struct dirent *e = readdir(tasks); e != NULL && all; e = readdir(tasks)) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name);
            all = thread_stopped(path);
        }
        closedir(tasks);
        if (all)
            return;
    }
    cr_assert_fail("srtmd did not stop within 5 s");
}

/* Stall nng 1.5's listener for real: peers that connect and hang up before srtmd's
 * transport writes its SP header to them (the write fails with EPIPE, which nng 1.5
 * reports as "closed" and its listener takes for its own closing). srtmd is stopped
 * meanwhile, so that it accepts them only after they hung up. */
static void hang_up_mid_handshake(void)
{
    stop_srtmd();
    for (int i = 0; i < 3; i++)
        close(raw_connect());
    cr_assert_eq(kill(d.pid, SIGCONT), 0);
}

#define ESTABLISHED 4

/* How often srtmd's log says text. */
static int log_count(const char *text)
{
    static char log[65536];
    read_text(log_path, log, sizeof(log));
    int n = 0;
    for (const char *p = strstr(log, text); p != NULL; p = strstr(p + 1, text))
        n++;
    return n;
}

/* Stall the listener and wait until a new client is answered; fails unless that happens
 * within 30 s and the watchdog replaced the listener. The time taken is printed.
 * Hang-ups stall nng 1.5's listener only when their failed handshake finds its accept
 * armed; one that fails while nng hands a good client to srtmd (between the accept and its
 * re-arming) is dropped without harm. So the hang-up is repeated, up to 10 times, until
 * the listener stalls: a test of recovery needs the stall. After a client was answered,
 * the watchdog is given 5 s to find a stall (it takes about 0.5 s). */
static void stall_and_recover(void)
{
    int replaced = log_count("replacing it");
    for (int attempt = 0; attempt < 10; attempt++) {
        long t0 = now_ms();
        hang_up_mid_handshake();
        long ms = -1;
        /* Short time-outs: a client that reached the stalled listener waits out its own. */
        while (ms < 0 && now_ms() - t0 < 30000)
            ms = timed_list(250);
        long recovered = now_ms() - t0;
        cr_assert_geq(ms, 0, "no new client was answered within 30 s of the stall");
        for (long deadline = now_ms() + 5000; now_ms() < deadline; sleep_ms(20)) {
            if (log_count("replacing it") > replaced) {
                fprintf(stderr,
                        "listener stall: a new client was answered %ld ms after the hang-up\n",
                        recovered);
                return;
            }
        }
    }
    cr_assert_fail("the listener did not stall in 10 attempts, nothing was tested");
}

/* Every connection a client closes counts as an error of nng 1.5's listener, which makes
 * the watchdog probe it; clients that come and go must never make it replace a listener
 * that accepts (each replacement costs new clients half a second). */
Test(faults, clients_that_come_and_go_never_replace_the_listener, .timeout = 60)
{
    daemon_up(NULL);
    for (int i = 0; i < 25; i++) {
        cr_assert_geq(timed_list(5000), 0, "client %d not served", i);
        sleep_ms(150); /* the watchdog probes between clients */
    }
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    srtm_status_info st = {.size = sizeof(st)};
    cr_assert_eq(srtm_status(c, &st), SRTM_OK);
    srtm_close(c);
    cr_expect_eq(st.listener_restarts, 0u, "the watchdog replaced a listener that accepts");
    cr_expect_eq(log_count("replacing it"), 0);
}

/* A list on c (opened is how its opening went) within 5 s: 0 when answered. With keep,
 * c is left there for the next call; without, it is closed. */
static int list_on(srtm_err opened, srtm_conn *c, srtm_conn **keep)
{
    srtm_err err = opened;
    if (err == SRTM_OK)
        err = srtm_set_timeout(c, 5000);
    srtm_components *l = NULL;
    if (err == SRTM_OK)
        err = srtm_list(c, &l);
    srtm_components_free(l);
    if (keep != NULL)
        *keep = c;
    else
        srtm_close(c);
    return err == SRTM_OK ? 0 : -1;
}

/* A list over url (or on *keep once it holds a connection): list_on. */
static int list_at(const char *url, srtm_conn **keep)
{
    srtm_conn *c = keep != NULL ? *keep : NULL;
    srtm_err opened = c != NULL ? SRTM_OK : srtm_open(url, &c);
    return list_on(opened, c, keep);
}

/* The same on the read-only tcp listener, where a replacement would also close the
 * connections it holds (a tcp port cannot be bound twice): a verifier's connection held
 * open while other clients come and go keeps being served, and the listener is never
 * replaced. */
Test(faults, tcp_clients_that_come_and_go_never_replace_the_listener, .timeout = 60)
{
    int port = test_free_port();
    char tcp[64];
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
    daemon_up((const char *const[]){"--listen-tcp", tcp, NULL});
    srtm_conn *held = NULL;
    cr_assert_eq(list_at(tcp, &held), 0, "the held connection was not served");
    for (int i = 0; i < 25; i++) {
        cr_assert_eq(list_at(tcp, NULL), 0, "tcp client %d not served", i);
        sleep_ms(150); /* the watchdog probes between clients */
        cr_assert_eq(list_at(tcp, &held), 0,
                     "the held tcp connection broke after %d other clients: %s", i + 1,
                     srtm_last_message(held));
    }
    srtm_close(held);
    cr_expect_eq(log_count("replacing it"), 0, "the watchdog replaced the tcp listener");
}

/* A hang-up during the handshake stalls nng 1.5's listener (nanomsg/nng#1518). The
 * watchdog replaces it; connections the old listener accepted, idle or half-way through
 * sending a request, keep working across the replacement (none is reset), and new clients
 * are answered again. Twice: the replacement is watched as closely as the first listener,
 * and the connections of both replaced listeners live on, past the time after which a
 * replaced listener without connections is closed; once its connections are gone, it is.
 * How long new clients waited is printed (docs/benchmarks.md). */
Test(faults, listener_stall_keeps_connections_and_serves_new_clients, .timeout = 90)
{
    /* Connections that complete their handshake with the stalled listener stay inside
     * nng for good (docs/security.md, "Faults"): not srtmd's leak. */
    no_leak_check = true;
    daemon_up((const char *const[]){"--log-level", "info", NULL});
    int fds[2 * ESTABLISHED];
    for (int i = 0; i < ESTABLISHED; i++) {
        fds[i] = raw_handshake();
        cr_assert(raw_list_answered(fds[i], 1, 5000), "established connection %d not served",
                  i);
    }
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    srtm_components *l = NULL;
    cr_assert_eq(srtm_list(c, &l), SRTM_OK);
    srtm_components_free(l);
    /* One connection is in the middle of sending a request when the listener stalls. */
    size_t flen = 0;
    uint8_t *half = framed_list(7, &flen);
    cr_assert(write_all(fds[0], half, flen / 2));

    stall_and_recover();
    cr_expect(write_all(fds[0], half + flen / 2, flen - flen / 2) &&
                  raw_answer(fds[0], 7, 5000),
              "the request sent across the listener replacement was not answered");
    free(half);
    /* Every established connection is still open and served, several times over. */
    for (int round = 2; round < 5; round++)
        for (int i = 0; i < ESTABLISHED; i++)
            cr_expect(raw_list_answered(fds[i], (uint32_t)round, 5000),
                      "established connection %d lost across the listener replacement", i);

    /* Connections to the new listener, then a stall of that one. */
    for (int i = ESTABLISHED; i < 2 * ESTABLISHED; i++) {
        fds[i] = raw_handshake();
        cr_assert(raw_list_answered(fds[i], 1, 5000));
    }
    stall_and_recover();
    for (int i = 0; i < 2 * ESTABLISHED; i++)
        cr_expect(raw_list_answered(fds[i], 5, 5000),
                  "established connection %d lost across the second replacement", i);
    cr_expect_eq(log_count("replacing it"), 2);
    l = NULL;
    cr_expect_eq(srtm_list(c, &l), SRTM_OK);
    srtm_components_free(l);
    srtm_close(c);

    /* Longer than srtmd keeps a replaced listener that holds no connection (15 s): a
     * listener whose connections were miscounted would be closed with them by now. */
    sleep_ms(16000);
    for (int i = 0; i < 2 * ESTABLISHED; i++)
        cr_expect(raw_list_answered(fds[i], 6, 5000),
                  "established connection %d lost while its listener was kept", i);
    cr_expect_eq(log_count("replaced listener"), 0, "a listener holding connections was closed");
    /* Once the first listener's connections are gone, it is closed; the others live on. */
    for (int i = 0; i < ESTABLISHED; i++)
        close(fds[i]);
    cr_expect(log_says("closed 1 replaced listener(s)", 5000),
              "a replaced listener without connections was not closed");
    for (int i = ESTABLISHED; i < 2 * ESTABLISHED; i++) {
        cr_expect(raw_list_answered(fds[i], 8, 5000), "connection %d lost", i);
        close(fds[i]);
    }
    cr_expect_geq(timed_list(5000), 0);
    cr_expect(test_daemon_alive(&d));
}

/* A srtmd starved of CPU (stopped for 6 s, longer than any probe waits) is slow, not
 * stalled: its listener is not replaced, no established connection is dropped, and a
 * client that connected while it was stopped is answered once it runs again. */
Test(faults, stopped_srtmd_keeps_its_listener_and_connections, .timeout = 90)
{
    daemon_up(NULL);
    int fds[ESTABLISHED];
    for (int i = 0; i < ESTABLISHED; i++) {
        fds[i] = raw_handshake();
        cr_assert(raw_list_answered(fds[i], 1, 5000));
    }
    stop_srtmd();
    /* Queued in the socket's backlog while srtmd is stopped. */
    int waiting = raw_connect();
    cr_assert(write_all(waiting, REQ_HEADER, sizeof(REQ_HEADER)));
    sleep_ms(6000);
    cr_assert_eq(kill(d.pid, SIGCONT), 0);
    uint8_t hdr[8];
    cr_expect(read_all(waiting, hdr, sizeof(hdr), 10000), "the queued client got no SP header");
    cr_expect(raw_list_answered(waiting, 1, 10000), "the queued client was not served");
    for (int round = 2; round < 4; round++)
        for (int i = 0; i < ESTABLISHED; i++)
            cr_expect(raw_list_answered(fds[i], (uint32_t)round, 10000),
                      "established connection %d lost after srtmd was stopped", i);
    /* Give the watchdog time to act if it were going to. */
    sleep_ms(2000);
    for (int i = 0; i < ESTABLISHED; i++)
        cr_expect(raw_list_answered(fds[i], 9, 10000), "connection %d lost", i);
    char log[8192];
    read_text(log_path, log, sizeof(log));
    cr_expect(strstr(log, "replacing it") == NULL, "a stopped srtmd's listener was replaced: %s",
              log);
    for (int i = 0; i < ESTABLISHED; i++)
        close(fds[i]);
    close(waiting);
    cr_expect(test_daemon_alive(&d));
}

/* ---- 3. what is at the socket path when srtmd starts ---------------------------------- */

/* A fresh private directory for paths of a refused srtmd; removed by the caller. */
static void private_dir(char *dir, size_t size)
{
    snprintf(dir, size, "/tmp/srtm-faults-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void remove_tree(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* A socket file that nothing listens on, as a killed program leaves it. */
static void leave_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %s: %s", path,
                 strerror(errno));
    close(fd);
}

Test(faults, regular_file_at_the_socket_path_is_refused_and_kept)
{
    char dir[64], sock[128], url[160], cap[128], err[4096], text[64];
    private_dir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/srtmd.sock", dir);
    snprintf(url, sizeof(url), "ipc://%s", sock);
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    write_text(sock, "precious data\n", 0644);
    struct stat before, after;
    cr_assert_eq(stat(sock, &before), 0);
    cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(err, sock) != NULL && strstr(err, "a regular file, not a socket") != NULL,
              "unclear message: %s", err);
    read_text(sock, text, sizeof(text));
    cr_expect_str_eq(text, "precious data\n", "srtmd changed the file");
    cr_assert_eq(stat(sock, &after), 0, "srtmd removed the file");
    cr_expect_eq(after.st_ino, before.st_ino, "srtmd replaced the file");
    cr_expect_eq(after.st_mode, before.st_mode);
    cr_expect(!test_path_exists(cap), "a refused srtmd wrote an admin capability");
    /* A symbolic link there, even to a socket, is not taken over either. */
    cr_assert_eq(unlink(sock), 0);
    char target[128];
    snprintf(target, sizeof(target), "%s/elsewhere.sock", dir);
    leave_socket(target);
    cr_assert_eq(symlink(target, sock), 0);
    cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(err, "a symbolic link, not a socket") != NULL, "unclear message: %s", err);
    cr_expect(test_path_exists(sock) && test_path_exists(target), "srtmd removed the link or its target");
    remove_tree(dir);
}

/* A srtmd killed with SIGKILL leaves its socket; the next one replaces it and says so. */
Test(faults, stale_socket_of_a_killed_srtmd_is_replaced)
{
    daemon_up(NULL);
    kill(d.pid, SIGKILL);
    cr_assert_eq(waitpid(d.pid, NULL, 0), d.pid);
    d.pid = 0;
    struct stat st;
    cr_assert_eq(lstat(d.sock_path, &st), 0, "the killed srtmd left no socket to test with");
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(unlink(d.cap_path), 0);
    /* The next srtmd on the same paths. */
    char url[320], sock[300];
    snprintf(url, sizeof(url), "%s", d.url);
    snprintf(sock, sizeof(sock), "%s", d.sock_path);
    const char *argv[] = {test_binary("SRTMD"), "--foreground", "--no-tpm", "--listen", url,
                          "--admin-cap", d.cap_path, "--log-level", "warn", NULL};
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0)
            dup2(fd, STDERR_FILENO);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    d.pid = pid;
    cr_expect(log_says("replaced the stale socket", 10000), "srtmd did not say so");
    long deadline = now_ms() + 10000;
    while (srtm_cap_load(d.cap_path, &d.admin) != SRTM_OK && now_ms() < deadline)
        sleep_ms(20);
    cr_assert(test_daemon_alive(&d), "the second srtmd did not start");
    cr_expect_geq(timed_list(5000), 0, "the second srtmd does not serve");
    char log[4096];
    read_text(log_path, log, sizeof(log));
    cr_expect(strstr(log, sock) != NULL, "the message does not name the socket: %s", log);
}

Test(faults, socket_or_file_of_another_user_is_refused_and_kept)
{
    if (geteuid() != 0)
        cr_skip("needs root to give files to uid %d", NOBODY);
    char dir[64], sock[128], url[160], cap[128], err[4096];
    private_dir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/srtmd.sock", dir);
    snprintf(url, sizeof(url), "ipc://%s", sock);
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    /* A stale socket, but another user's: srtmd does not remove it. */
    leave_socket(sock);
    cr_assert_eq(lchown(sock, NOBODY, NOBODY), 0);
    cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(err, "belongs to uid 65534") != NULL && strstr(err, sock) != NULL,
              "the message does not name the owner: %s", err);
    struct stat st;
    cr_expect(lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_uid == NOBODY,
              "srtmd removed or changed another user's socket");
    /* A regular file of another user. */
    cr_assert_eq(unlink(sock), 0);
    write_text(sock, "theirs\n", 0600);
    cr_assert_eq(chown(sock, NOBODY, NOBODY), 0);
    cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(err, "belongs to uid 65534") != NULL, "unclear message: %s", err);
    cr_expect(lstat(sock, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == NOBODY);
    cr_expect(!test_path_exists(cap));
    remove_tree(dir);
}

Test(faults, socket_directory_others_could_write_is_refused)
{
    char dir[64], sub[128], sock[160], url[200], cap[128], err[4096];
    private_dir(dir, sizeof(dir));
    snprintf(sub, sizeof(sub), "%s/run", dir);
    snprintf(sock, sizeof(sock), "%s/srtmd.sock", sub);
    snprintf(url, sizeof(url), "ipc://%s", sock);
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    /* World-writable without the sticky bit, then group-writable. */
    static const mode_t bad[] = {0777, 0770, 0733};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(chmod(sub, bad[i]), 0);
        cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1, "mode %o", bad[i]);
        cr_expect(strstr(err, "without the sticky bit") != NULL && strstr(err, sub) != NULL,
                  "mode %o: unclear message: %s", bad[i], err);
        cr_expect(!test_path_exists(sock) && !test_path_exists(cap), "mode %o: srtmd created files", bad[i]);
    }
    /* Another user's directory. */
    if (geteuid() == 0) {
        cr_assert_eq(chmod(sub, 0755), 0);
        cr_assert_eq(chown(sub, NOBODY, NOBODY), 0);
        cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
        cr_expect(strstr(err, "belongs to uid 65534") != NULL, "unclear message: %s", err);
        cr_expect(!test_path_exists(sock));
        cr_assert_eq(chown(sub, 0, 0), 0);
    }
    /* With the sticky bit (as /tmp) others cannot replace srtmd's socket: accepted. */
    cr_assert_eq(chmod(sub, 01777), 0);
    int status = 0;
    cr_expect(srtmd_serves(url, cap, &status), "srtmd did not start in a sticky directory");
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    remove_tree(dir);
}

/* ---- 4. capability files: srtmctl's and srtmd's ----------------------------------------- */

Test(faults, bad_capability_files_leave_the_state_unchanged)
{
    daemon_up(NULL);
    char out[8192], err[4096], cap_path[400], before[16384], after[16384];
    register_with_ctl("target", cap_path, sizeof(cap_path));
    const char *digest = "1111111111111111111111111111111111111111111111111111111111111111";
    cr_assert_eq(CTL("--cap", cap_path, "extend", "target", "0", "--digest", digest), 0,
                 "the good capability does not work: %s", err);
    state_of("target", before, sizeof(before));
    char bad[400];
    snprintf(bad, sizeof(bad), "%s/bad.cap", d.dir);
    typedef struct bad_case {
        const char *what;
        int rc;
        const char *message;
    } bad_case;
    static const bad_case cases[] = {
        {"missing", 4, "No such file or directory"},
        {"truncated", 4, "does not hold a capability"},
        {"not hex", 4, "does not hold a capability"},
        {"too long", 4, "does not hold a capability"},
        {"mode 0644", 4, "mode 0600"},
        {"another user's", 4, "owned by you or root"},
        {"a symbolic link", 4, "not a symlink"},
        {"a directory", 4, "must be a regular file"},
        {"another capability", 1, "permission denied"},
    };
    char good[128];
    read_text(cap_path, good, sizeof(good));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const bad_case *c = &cases[i];
        remove_tree(bad);
        if (strcmp(c->what, "truncated") == 0)
            write_text(bad, "0123456789\n", 0600);
        else if (strcmp(c->what, "not hex") == 0)
            write_text(bad, "zz23456789012345678901234567890123456789012345678901234567890123"
                            "\n",
                       0600);
        else if (strcmp(c->what, "too long") == 0)
            write_text(bad, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00"
                            "\n",
                       0600);
        else if (strcmp(c->what, "mode 0644") == 0)
            write_text(bad, good, 0644);
        else if (strcmp(c->what, "another user's") == 0) {
            if (geteuid() != 0)
                continue;
            write_text(bad, good, 0600);
            cr_assert_eq(chown(bad, NOBODY, NOBODY), 0);
        } else if (strcmp(c->what, "a symbolic link") == 0)
            cr_assert_eq(symlink(cap_path, bad), 0);
        else if (strcmp(c->what, "a directory") == 0)
            cr_assert_eq(mkdir(bad, 0700), 0);
        else if (strcmp(c->what, "another capability") == 0)
            write_text(bad, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
                       0600);
        int rc = CTL("--cap", bad, "extend", "target", "0", "--digest", digest);
        cr_expect_eq(rc, c->rc, "%s: exit %d, wanted %d (%s)", c->what, rc, c->rc, err);
        cr_expect(strstr(err, c->message) != NULL, "%s: unclear message: %s", c->what, err);
        if (c->rc == 4)
            cr_expect(strstr(err, bad) != NULL, "%s: the message does not name the file: %s",
                      c->what, err);
        state_of("target", after, sizeof(after));
        cr_expect_str_eq(after, before, "%s: the state changed", c->what);
    }
    remove_tree(bad);
}

/* --admin-cap where it cannot be written: srtmd says why, exits 1, before the proof period
 * and before its socket exists, so the next start (with a good path) works. */
Test(faults, unusable_admin_cap_path_stops_srtmd_before_it_listens)
{
    char dir[64], sock[128], url[160], cap[200], err[4096], file[128];
    private_dir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/srtmd.sock", dir);
    snprintf(url, sizeof(url), "ipc://%s", sock);
    snprintf(cap, sizeof(cap), "%s/no-such-dir/admin.cap", dir);
    cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(err, "--admin-cap") != NULL && strstr(err, cap) != NULL &&
                  strstr(err, "No such file or directory") != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(sock), "a refused srtmd left its socket");
    /* The directory is a regular file. */
    snprintf(file, sizeof(file), "%s/plain", dir);
    write_text(file, "x", 0600);
    snprintf(cap, sizeof(cap), "%s/admin.cap", file);
    cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(err, "Not a directory") != NULL || strstr(err, "not a directory") != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(sock));
    /* A read-only file system (root writes anywhere else). */
    char ro[128];
    snprintf(ro, sizeof(ro), "%s/ro", dir);
    cr_assert_eq(mkdir(ro, 0700), 0);
    if (mount("tmpfs", ro, "tmpfs", MS_RDONLY, "size=64k,mode=0700") == 0) {
        snprintf(cap, sizeof(cap), "%s/admin.cap", ro);
        cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
        cr_expect(strstr(err, "Read-only file system") != NULL, "unclear message: %s", err);
        cr_expect(!test_path_exists(sock));
        umount2(ro, MNT_DETACH);
    } else {
        fprintf(stderr, "note: cannot mount a read-only tmpfs (%s): that case is not tested\n",
                strerror(errno));
    }
    /* --pidfile likewise. */
    char pid_path[200], good_cap[128];
    snprintf(good_cap, sizeof(good_cap), "%s/admin.cap", dir);
    snprintf(pid_path, sizeof(pid_path), "%s/nowhere/srtmd.pid", dir);
    cr_expect_eq(srtmd_refused(url, good_cap, pid_path, err, sizeof(err)), 1);
    cr_expect(strstr(err, "--pidfile") != NULL && strstr(err, pid_path) != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(sock) && !test_path_exists(good_cap));
    /* Nothing left behind: the next srtmd starts on the same socket path. */
    cr_expect(srtmd_serves(url, good_cap, NULL), "srtmd did not start after the refusals");
    remove_tree(dir);
}

/* ---- 5. a full disk -------------------------------------------------------------------- */

/* Mount a small tmpfs on a fresh directory and fill it; skip the test when that is not
 * possible (not root, no mount permission). */
static void full_disk(char *mnt, size_t size)
{
    if (geteuid() != 0)
        cr_skip("needs root to mount a small tmpfs");
    snprintf(mnt, size, "/tmp/srtm-full-XXXXXX");
    cr_assert(mkdtemp(mnt) != NULL);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k,mode=0755") != 0) {
        int e = errno;
        rmdir(mnt);
        cr_skip("cannot mount a tmpfs (%s): the full-disk test needs it", strerror(e));
    }
    char fill[300];
    snprintf(fill, sizeof(fill), "%s/fill", mnt);
    int fd = open(fill, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    static char block[4096];
    while (write(fd, block, sizeof(block)) > 0)
        ;
    cr_assert_eq(errno, ENOSPC, "filling the tmpfs: %s", strerror(errno));
    close(fd);
}

static void unmount_full(const char *mnt)
{
    if (umount2(mnt, MNT_DETACH) != 0)
        fprintf(stderr, "cannot unmount %s: %s\n", mnt, strerror(errno));
    rmdir(mnt);
}

Test(faults, full_disk_under_srtmd_files)
{
    char mnt[64], dir[64], sock[128], url[160], cap[160], pidf[160], err[4096];
    full_disk(mnt, sizeof(mnt));
    private_dir(dir, sizeof(dir));
    snprintf(sock, sizeof(sock), "%s/srtmd.sock", dir);
    snprintf(url, sizeof(url), "ipc://%s", sock);
    /* The admin capability on the full disk. */
    snprintf(cap, sizeof(cap), "%s/admin.cap", mnt);
    cr_expect_eq(srtmd_refused(url, cap, NULL, err, sizeof(err)), 1);
    cr_expect(strstr(err, cap) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(cap), "a partial admin capability file was left");
    cr_expect_eq(test_count_names(mnt, ".tmp"), 0, "a temporary file was left");
    cr_expect(!test_path_exists(sock), "the socket was left behind");
    /* The pid file on the full disk: the admin capability (elsewhere) goes too. */
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    snprintf(pidf, sizeof(pidf), "%s/srtmd.pid", mnt);
    cr_expect_eq(srtmd_refused(url, cap, pidf, err, sizeof(err)), 1);
    cr_expect(strstr(err, pidf) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(pidf) && !test_path_exists(cap), "files were left behind");
    cr_expect_eq(test_count_names(mnt, ".tmp"), 0, "a temporary file was left");
    cr_expect(!test_path_exists(sock), "the socket was left behind");
    unmount_full(mnt);
    remove_tree(dir);
}

Test(faults, full_disk_under_srtmctl_files)
{
    daemon_up(NULL);
    char mnt[64], out[8192], err[4096], before[16384], after[16384], cap_path[400];
    register_with_ctl("target", cap_path, sizeof(cap_path));
    state_of("target", before, sizeof(before));
    full_disk(mnt, sizeof(mnt));
    /* --cap-out on the full disk: refused before registering, so no capability is lost. */
    char cap_out[160];
    snprintf(cap_out, sizeof(cap_out), "%s/new.cap", mnt);
    int rc = CTL("--cap", d.cap_path, "register", "newcomer", "--cap-out", cap_out);
    cr_expect_eq(rc, 4, "exit %d: %s", rc, err);
    cr_expect(strstr(err, cap_out) != NULL && strstr(err, "No space left on device") != NULL,
              "unclear message: %s", err);
    cr_expect(!test_path_exists(cap_out), "a partial capability file was left");
    cr_expect_neq(CTL("read", "newcomer"), 0, "the component was registered anyway");
    state_of("target", after, sizeof(after));
    cr_expect_str_eq(after, before, "the state changed");
    /* Output redirected to the full disk: an error, not a silent success. */
    char cmd[1024], sh_err[4096];
    snprintf(cmd, sizeof(cmd), "'%s' --socket '%s' --json log target 0 > '%s/log.json'",
             test_binary("SRTMCTL"), d.url, mnt);
    const char *sh[] = {"/bin/sh", "-c", cmd, NULL};
    rc = test_run(sh, out, sizeof(out), sh_err, sizeof(sh_err));
    cr_expect_eq(rc, 1, "exit %d: %s", rc, sh_err);
    cr_expect(strstr(sh_err, "cannot write output") != NULL &&
                  strstr(sh_err, "No space left on device") != NULL,
              "unclear message: %s", sh_err);
    unmount_full(mnt);
}

/* ---- mutual TLS on the remote listener ------------------------------------------------- */

static char tls_dir[64];

/* Certificates from tests/data/make-tls.sh into a fresh directory; the path of one file. */
static void tls_cleanup(void)
{
    if (tls_dir[0] == '\0')
        return;
    char rm[128];
    snprintf(rm, sizeof(rm), "rm -rf %s", tls_dir);
    if (system(rm) != 0)
        fprintf(stderr, "cannot remove %s\n", tls_dir);
    tls_dir[0] = '\0';
}

static void tls_certs(void)
{
    snprintf(tls_dir, sizeof(tls_dir), "/tmp/srtm-tls-XXXXXX");
    cr_assert(mkdtemp(tls_dir) != NULL);
    char script[512], err[512], out[64];
    snprintf(script, sizeof(script), "%s/make-tls.sh", getenv("SRTM_TEST_DATA"));
    const char *argv[] = {"/bin/sh", script, tls_dir, NULL};
    cr_assert_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 0, "make-tls.sh: %s", err);
}

static const char *tls_file(const char *name)
{
    static char paths[8][128];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 128, "%s/%s", tls_dir, name);
    return p;
}

/* A list through a tls+tcp connection made with the given client files (or on *keep once
 * it holds one): list_on. */
static int tls_list(const char *url, const char *who, const char *ca, const char *name,
                    srtm_conn **keep)
{
    char cert[64], key[64];
    snprintf(cert, sizeof(cert), "%s.pem", who);
    snprintf(key, sizeof(key), "%s.key", who);
    srtm_conn *c = keep != NULL ? *keep : NULL;
    srtm_err opened = c != NULL ? SRTM_OK
                                : srtm_open_tls(url, tls_file(cert), tls_file(key), tls_file(ca),
                                                name, &c);
    return list_on(opened, c, keep);
}

/* srtmd's tls+tcp listener serves verifiers whose certificate its tls-ca issued and that
 * trust srtmd's certificate; it refuses a certificate of another CA, a client without TLS,
 * and a client that does not trust it or expects another name refuses srtmd. None of these
 * costs a verifier's held connection, and the watchdog, which probes the listener with a
 * certificate of its own, never takes it for stalled. */
Test(faults, tls_listener_takes_only_verifiers_of_its_ca, .timeout = 90)
{
    tls_certs();
    int port = test_free_port();
    char url[64], tcp[64];
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
    daemon_up((const char *const[]){"--listen-tcp", url, "--tls-cert", tls_file("srv.pem"),
                                    "--tls-key", tls_file("srv.key"), "--tls-ca",
                                    tls_file("ca.pem"), "--log-level", "debug", NULL});
    srtm_conn *held = NULL;
    cr_assert_eq(tls_list(url, "cli", "ca.pem", "localhost", &held), 0, "%s",
                 srtm_last_message(NULL));
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(tls_list(url, "evil", "ca.pem", "localhost", NULL), -1,
                     "a certificate of another CA was taken in");
        cr_expect_eq(tls_list(url, "cli", "other-ca.pem", "localhost", NULL), -1,
                     "srtmd's certificate passed for one of another CA");
        cr_expect_eq(tls_list(url, "cli", "ca.pem", "other.example", NULL), -1,
                     "srtmd's certificate passed for another name");
        srtm_conn *plain = NULL;
        cr_expect_neq(srtm_open(tcp, &plain), SRTM_OK, "a client without TLS was taken in");
        srtm_close(plain);
        cr_expect_eq(srtm_open(url, &plain), SRTM_E_INVALID);
        cr_assert_eq(tls_list(url, "cli", "ca.pem", "localhost", NULL), 0,
                     "a verifier was not served after %d rounds of refusals: %s", i,
                     srtm_last_message(NULL));
        sleep_ms(150); /* the watchdog probes between clients */
        cr_assert_eq(tls_list(url, "cli", "ca.pem", "localhost", &held), 0,
                     "the held connection broke after %d rounds: %s", i + 1,
                     srtm_last_message(held));
    }
    srtm_close(held);
    cr_expect_eq(log_count("replacing it"), 0, "the watchdog replaced the tls listener");
    /* The refusals made it probe; a probe that cannot take part in mutual TLS would never
     * be taken in, and the watchdog could not tell a stall from a slow listener. */
    cr_expect_gt(log_count("its probe was taken in on tls+tcp://"), 0,
                 "the watchdog's probe never completed a TLS handshake");
}

/* srtmd --no-tpm with extra arguments, expecting a refusal: its exit status, stderr in err. */
static int srtmd_args_refused(const char *const *extra, char *err, size_t err_size)
{
    char dir[] = "/tmp/srtm-refused-XXXXXX", url[64], cap[64], out[256];
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(url, sizeof(url), "ipc://%s/s.sock", dir);
    snprintf(cap, sizeof(cap), "%s/admin.cap", dir);
    /* An srtmd that does not refuse is stopped after 20 s (timeout's exit status 124). */
    const char *argv[32] = {"/usr/bin/timeout", "20", test_binary("SRTMD"), "--foreground",
                            "--no-tpm", "--listen", url, "--admin-cap", cap};
    size_t n = 9;
    for (size_t i = 0; extra[i] != NULL && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int rc = test_run(argv, out, sizeof(out), err, err_size);
    char rm[64];
    snprintf(rm, sizeof(rm), "rm -rf %s", dir);
    cr_expect_eq(system(rm), 0);
    return rc;
}

/* An operator's mistakes in the TLS settings stop srtmd with a message naming them,
 * before it serves: TLS settings without a tls+tcp:// listener (which would look
 * protected and not be), a tls+tcp:// listener without its key, a key others may read, a
 * key that is not the certificate's, and a file that holds no certificate. */
Test(faults, tls_configuration_mistakes_are_refused, .timeout = 120)
{
    tls_certs();
    int port = test_free_port();
    char url[64], tcp[64], err[4096];
    snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
    const char *srv = tls_file("srv.pem"), *key = tls_file("srv.key"), *ca = tls_file("ca.pem");
    cr_expect_eq(srtmd_args_refused((const char *const[]){"--listen-tcp", tcp, "--tls-cert", srv,
                                                          "--tls-key", key, "--tls-ca", ca, NULL},
                                    err, sizeof(err)),
                 2);
    cr_expect(strstr(err, "are for a tls+tcp:// listen-tcp") != NULL, "%s", err);
    cr_expect_eq(srtmd_args_refused((const char *const[]){"--tls-cert", srv, NULL}, err,
                                    sizeof(err)),
                 2);
    cr_expect(strstr(err, "are for a tls+tcp:// listen-tcp") != NULL, "%s", err);
    cr_expect_eq(srtmd_args_refused((const char *const[]){"--listen-tcp", url, "--tls-cert", srv,
                                                          "--tls-ca", ca, NULL},
                                    err, sizeof(err)),
                 2);
    cr_expect(strstr(err, "needs tls-cert, tls-key and tls-ca") != NULL, "%s", err);
    /* The key of another certificate, and a certificate file holding a key. */
    const char *evil_key = tls_file("evil.key");
    cr_expect_eq(srtmd_args_refused((const char *const[]){"--listen-tcp", url, "--tls-cert", srv,
                                                          "--tls-key", evil_key, "--tls-ca", ca,
                                                          NULL},
                                    err, sizeof(err)),
                 1);
    cr_expect(strstr(err, "is not the key of the certificate") != NULL, "%s", err);
    cr_expect_eq(srtmd_args_refused((const char *const[]){"--listen-tcp", url, "--tls-cert", key,
                                                          "--tls-key", key, "--tls-ca", ca, NULL},
                                    err, sizeof(err)),
                 1);
    cr_expect(strstr(err, "holds no PEM certificate") != NULL, "%s", err);
    /* A key group or others may read. */
    cr_assert_eq(chmod(key, 0640), 0);
    cr_expect_eq(srtmd_args_refused((const char *const[]){"--listen-tcp", url, "--tls-cert", srv,
                                                          "--tls-key", key, "--tls-ca", ca, NULL},
                                    err, sizeof(err)),
                 1);
    cr_expect(strstr(err, "open to group or others (mode 640)") != NULL, "%s", err);
}
