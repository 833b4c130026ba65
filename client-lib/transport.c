/*
 * libsrtm's transport (transport.h). A REQ0 peer written out: the 8-byte SP header
 * exchange, then one request and one answer at a time, each framed as nng's ipc (type
 * byte 1, 8-byte big-endian length) or tcp (8-byte length) transport frames it, the
 * payload starting with the 4-byte request id (high bit set) that the answer echoes.
 *
 * A socket path (ipc://, unix:// or an absolute path) is connected with a plain Unix socket
 * that the calling thread reads and writes itself, waiting in poll(): nng's stream API
 * would hand every wait to its poller thread and back, which costs the caller several
 * times the system calls' CPU per answer. abstract:// and tcp:// go through nng's streams.
 *
 * Invariants: a request is written from the caller's buffer and an answer read into one
 * buffer this file allocates and the caller wipes, so no copy of a capability is left
 * where libsrtm cannot wipe it; a stream on which anything went wrong (time-out, short
 * read, wrong id) is dropped, never reused, so a late answer can never be taken for the
 * next one; a request is sent at most once.
 */
#include "transport.h"

#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>
#include <openssl/crypto.h>

#define SP_PROTO_REQ0 0x30
#define SP_PROTO_REP0 0x31
#define MAX_URL (PATH_MAX + 16)

struct transport {
    char url[MAX_URL]; /* resolved: always with its scheme */
    const char *path;  /* into url: the ipc socket path, or NULL */
    bool ipc;          /* ipc framing (type byte) rather than tcp's */
    nng_stream_dialer *dialer; /* without a socket path only */
    nng_tls_config *tls;       /* tls+tcp:// only */
    nng_stream *stream; /* NULL while not connected */
    int fd;             /* with a socket path: the connection, -1 while not connected */
    nng_aio *aio;
    int32_t timeout_ms;
    uint32_t next_id;
};

static const char *const ipc_schemes[] = {"ipc://", "unix://", "abstract://"};
static const char *const tcp_schemes[] = {"tcp://", "tcp4://", "tcp6://"};

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* url with a scheme srtmd serves, or an absolute path taken as ipc://PATH. */
static srtm_err resolve(transport *t, const char *url, char *msg, size_t size)
{
    int n = url[0] == '/' ? snprintf(t->url, sizeof(t->url), "ipc://%s", url)
                          : snprintf(t->url, sizeof(t->url), "%s", url);
    if (n < 0 || (size_t)n >= sizeof(t->url)) {
        snprintf(msg, size, "srtmd's address is longer than %zu bytes", sizeof(t->url) - 1);
        return SRTM_E_TOO_BIG;
    }
    for (size_t i = 0; i < sizeof(ipc_schemes) / sizeof(ipc_schemes[0]); i++)
        if (has_prefix(t->url, ipc_schemes[i])) {
            t->ipc = true;
            t->path = i < 2 ? t->url + strlen(ipc_schemes[i]) : NULL;
            return SRTM_OK;
        }
    for (size_t i = 0; i < sizeof(tcp_schemes) / sizeof(tcp_schemes[0]); i++)
        if (has_prefix(t->url, tcp_schemes[i]))
            return SRTM_OK;
    if (has_prefix(t->url, "tls+tcp://"))
        return SRTM_OK;
    if (strstr(url, "://") != NULL)
        snprintf(msg, size, "'%.200s': srtmd is reached over ipc://, tcp:// or tls+tcp:// only",
                 url);
    else
        snprintf(msg, size,
                 "'%.200s' is not an address of srtmd: give ipc://PATH, tcp://HOST:PORT or "
                 "an absolute socket path",
                 url);
    return SRTM_E_INVALID;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* errno of a failed socket call as nng's error, so that both paths report alike. */
static int nng_of_errno(int e)
{
    switch (e) {
    case ENOENT:
        return NNG_ENOENT;
    case ECONNREFUSED:
        return NNG_ECONNREFUSED;
    case EACCES:
    case EPERM:
        return NNG_EPERM;
    case EAGAIN:
    case ETIMEDOUT:
        return NNG_ETIMEDOUT;
    case ENAMETOOLONG:
        return NNG_EADDRINVAL;
    case ECONNRESET:
        return NNG_ECONNRESET;
    case EPIPE:
        return NNG_ECONNSHUT;
    case ENOMEM:
    case ENOBUFS:
        return NNG_ENOMEM;
    default:
        return NNG_ESYSERR + e;
    }
}

/* One send or receive on the socket, waiting in poll() until deadline: the bytes moved, or
 * minus nng's error. MSG_NOSIGNAL: a closed peer must not raise SIGPIPE in the caller. */
static ssize_t fd_move(int fd, bool out, uint8_t *p, size_t len, nng_time deadline)
{
    for (;;) {
        ssize_t n = out ? send(fd, p, len, MSG_NOSIGNAL) : recv(fd, p, len, 0);
        if (n > 0)
            return n;
        if (n == 0)
            return -NNG_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -nng_of_errno(errno);
        nng_time now = nng_clock();
        if (now >= deadline)
            return -NNG_ETIMEDOUT;
        nng_time wait = deadline - now;
        struct pollfd pfd = {.fd = fd, .events = out ? POLLOUT : POLLIN};
        if (poll(&pfd, 1, wait > INT_MAX ? INT_MAX : (int)wait) < 0 && errno != EINTR)
            return -nng_of_errno(errno);
    }
}

/* Move all len bytes of p (send or receive) before deadline; nng's own error on failure. */
static int move_all(transport *t, bool send, uint8_t *p, size_t len, nng_time deadline)
{
    while (len > 0 && t->fd >= 0) {
        ssize_t n = fd_move(t->fd, send, p, len, deadline);
        if (n < 0)
            return (int)-n;
        if ((size_t)n > len)
            return NNG_ECLOSED;
        p += n;
        len -= (size_t)n;
    }
    while (len > 0) {
        nng_time now = nng_clock();
        if (now >= deadline)
            return NNG_ETIMEDOUT;
        nng_iov iov = {.iov_buf = p, .iov_len = len};
        int rv = nng_aio_set_iov(t->aio, 1, &iov);
        if (rv != 0)
            return rv;
        nng_aio_set_timeout(t->aio, (nng_duration)(deadline - now));
        if (send)
            nng_stream_send(t->stream, t->aio);
        else
            nng_stream_recv(t->stream, t->aio);
        nng_aio_wait(t->aio);
        if ((rv = nng_aio_result(t->aio)) != 0)
            return rv;
        size_t n = nng_aio_count(t->aio);
        if (n == 0 || n > len)
            return NNG_ECLOSED;
        p += n;
        len -= n;
    }
    return 0;
}

static void drop_stream(transport *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->stream != NULL) {
        nng_stream_close(t->stream);
        nng_stream_free(t->stream);
        t->stream = NULL;
    }
}

static srtm_err from_nng(int rv)
{
    return rv == NNG_ETIMEDOUT ? SRTM_E_TIMEOUT
           : rv == NNG_ENOMEM  ? SRTM_E_NO_MEMORY
                               : SRTM_E_TRANSPORT;
}

/* ---- why a connection failed ---- */

/* Who may connect to the socket at path, as its owner, group and mode say. */
static void explain_denied(const transport *t, char *msg, size_t size)
{
    struct stat st;
    if (stat(t->path, &st) != 0) {
        snprintf(msg, size,
                 "permission denied: %s: a directory on the way is closed to uid %u", t->path,
                 (unsigned)geteuid());
        return;
    }
    char gbuf[1024], gname[64] = "";
    struct group g, *gp = NULL;
    if (getgrgid_r(st.st_gid, &g, gbuf, sizeof(gbuf), &gp) == 0 && gp != NULL)
        snprintf(gname, sizeof(gname), " (%.40s)", gp->gr_name);
    snprintf(msg, size,
             "permission denied: %s (mode %04o, owner uid %u, group %u%s): connecting needs "
             "that user or membership of that group, srtmd's group",
             t->path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
             (unsigned)st.st_gid, gname);
}

/* nng reports a missing ipc socket as a refused connection: look at the path itself. */
static void explain_refused(const transport *t, char *msg, size_t size)
{
    struct stat st;
    int rc = t->path != NULL ? lstat(t->path, &st) : -1;
    int e = errno;
    if (t->path == NULL)
        snprintf(msg, size, "nothing listening at %s (is srtmd running?)", t->url);
    else if (rc != 0 && e == EACCES)
        explain_denied(t, msg, size);
    else if (rc != 0)
        snprintf(msg, size, "no socket at %s (is srtmd running?)", t->path);
    else if (!S_ISSOCK(st.st_mode))
        snprintf(msg, size, "%s is not a socket", t->path);
    else
        snprintf(msg, size, "nothing listening at %s (a stale socket: srtmd is not running)",
                 t->path);
}

static void explain_dial(const transport *t, int rv, char *msg, size_t size)
{
    if (rv == NNG_ECONNREFUSED || rv == NNG_ENOENT)
        explain_refused(t, msg, size);
    else if (rv == NNG_EPERM && t->path != NULL)
        explain_denied(t, msg, size);
    else if (rv == NNG_ETIMEDOUT)
        snprintf(msg, size, "no connection to srtmd at %s in time", t->url);
    else
        snprintf(msg, size, "cannot connect to srtmd at %s: %s", t->url, nng_strerror(rv));
}

/* ---- connecting ---- */

/* Exchange SP headers: ours says REQ0, srtmd's must say REP0. */
static int handshake(transport *t, nng_time deadline)
{
    uint8_t mine[8] = {0, 'S', 'P', 0, 0, SP_PROTO_REQ0, 0, 0};
    uint8_t want[8] = {0, 'S', 'P', 0, 0, SP_PROTO_REP0, 0, 0};
    uint8_t theirs[8];
    int rv = move_all(t, true, mine, sizeof(mine), deadline);
    if (rv == 0)
        rv = move_all(t, false, theirs, sizeof(theirs), deadline);
    if (rv == 0 && memcmp(theirs, want, sizeof(want)) != 0)
        rv = NNG_EPROTO;
    return rv;
}

/* Connect to the socket at t->path within timeout_ms (SO_SNDTIMEO bounds a connect that
 * waits for room in a full backlog); the socket is non-blocking afterwards. 0 or nng's
 * error. */
static int connect_path(transport *t)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(t->path);
    if (n >= sizeof(sa.sun_path))
        return NNG_EADDRINVAL;
    memcpy(sa.sun_path, t->path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return nng_of_errno(errno);
    struct timeval tv = {.tv_sec = t->timeout_ms / 1000, .tv_usec = t->timeout_ms % 1000 * 1000};
    int rv = 0;
    if (t->timeout_ms > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        rv = nng_of_errno(errno);
    while (rv == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINTR)
            rv = nng_of_errno(errno);
    }
    int fl = rv == 0 ? fcntl(fd, F_GETFL) : -1;
    if (rv == 0 && (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0))
        rv = nng_of_errno(errno);
    if (rv != 0) {
        close(fd);
        return rv;
    }
    t->fd = fd;
    return 0;
}

/* Connect through nng's stream dialer (abstract:// and tcp://). 0 or nng's error. */
static int connect_stream(transport *t)
{
    nng_aio_set_timeout(t->aio, t->timeout_ms);
    nng_stream_dialer_dial(t->dialer, t->aio);
    nng_aio_wait(t->aio);
    int rv = nng_aio_result(t->aio);
    if (rv == 0)
        t->stream = nng_aio_get_output(t->aio, 0);
    return rv;
}

static srtm_err dial(transport *t, char *msg, size_t size)
{
    nng_time deadline = nng_clock() + (nng_time)t->timeout_ms;
    int rv = t->path != NULL ? connect_path(t) : connect_stream(t);
    if (rv != 0) {
        explain_dial(t, rv, msg, size);
        return rv == NNG_EADDRINVAL ? SRTM_E_INVALID : from_nng(rv);
    }
    rv = handshake(t, deadline);
    if (rv != 0) {
        drop_stream(t);
        snprintf(msg, size, "%s at %s: %s",
                 rv == NNG_EPROTO ? "not srtmd's protocol" : "no protocol handshake", t->url,
                 rv == NNG_EPROTO ? "the peer is not a REP0 socket" : nng_strerror(rv));
        return from_nng(rv);
    }
    return SRTM_OK;
}

static srtm_err read_pem(const char *what, const char *path, char **out, size_t *len,
                         char *msg, size_t size)
{
    srtm_err err = path == NULL ? SRTM_E_INVALID : read_small_file(path, 1u << 20, out, len);
    if (err != SRTM_OK)
        snprintf(msg, size, "TLS %s %.200s: %s", what, path != NULL ? path : "(none given)",
                 path != NULL ? srtm_strerror(err) : "a tls+tcp:// address needs it");
    return err;
}

/* The client's TLS configuration: its certificate, srtmd's CA and name, TLS 1.2 or later,
 * srtmd's certificate required. The key's bytes are wiped once nng has parsed them. */
static srtm_err make_tls(transport *t, const tp_tls *tls, char *msg, size_t size)
{
    char *cert = NULL, *key = NULL, *ca = NULL, host[256];
    size_t cert_len = 0, key_len = 0, ca_len = 0;
    const char *name = tls->server_name;
    if (name == NULL && !url_host(t->url, host, sizeof(host))) {
        snprintf(msg, size, "'%.200s' names no host", t->url);
        return SRTM_E_INVALID;
    }
    srtm_err err = read_pem("certificate", tls->cert_file, &cert, &cert_len, msg, size);
    if (err == SRTM_OK)
        err = read_pem("key", tls->key_file, &key, &key_len, msg, size);
    if (err == SRTM_OK)
        err = read_pem("CA", tls->ca_file, &ca, &ca_len, msg, size);
    int rv = 0;
    const char *step = "";
    if (err == SRTM_OK &&
        ((rv = nng_tls_config_alloc(&t->tls, NNG_TLS_MODE_CLIENT)) != 0 ||
         (step = "TLS versions", rv = nng_tls_config_version(t->tls, NNG_TLS_1_2, NNG_TLS_1_3)) != 0 ||
         (step = "the certificate and key are not a PEM certificate and its key",
          rv = nng_tls_config_own_cert(t->tls, cert, key, NULL)) != 0 ||
         (step = "the CA file holds no PEM certificate",
          rv = nng_tls_config_ca_chain(t->tls, ca, NULL)) != 0 ||
         (step = "the server name", rv = nng_tls_config_server_name(t->tls, name != NULL ? name : host)) != 0 ||
         (step = "", rv = nng_tls_config_auth_mode(t->tls, NNG_TLS_AUTH_MODE_REQUIRED)) != 0 ||
         (rv = nng_stream_dialer_set_ptr(t->dialer, NNG_OPT_TLS_CONFIG, t->tls)) != 0)) {
        snprintf(msg, size, "TLS for %s: %s%s%s", t->url, step, *step ? ": " : "",
                 nng_strerror(rv));
        err = SRTM_E_INVALID;
    }
    if (key != NULL)
        OPENSSL_cleanse(key, key_len);
    free(key);
    free(cert);
    free(ca);
    return err;
}

static srtm_err make_dialer(transport *t, char *msg, size_t size)
{
    if (t->path != NULL)
        return SRTM_OK; /* a plain Unix socket (connect_path) */
    int rv = nng_aio_alloc(&t->aio, NULL, NULL);
    if (rv == 0)
        rv = nng_stream_dialer_alloc(&t->dialer, t->url);
    /* A request is one small write: do not let Nagle hold it back. */
    if (rv == 0 && !t->ipc && !has_prefix(t->url, "tls+"))
        rv = nng_stream_dialer_set_bool(t->dialer, NNG_OPT_TCP_NODELAY, true);
    if (rv == 0)
        return SRTM_OK;
    snprintf(msg, size, "cannot use %s: %s", t->url, nng_strerror(rv));
    return rv == NNG_EADDRINVAL || rv == NNG_ENOTSUP ? SRTM_E_INVALID : from_nng(rv);
}

srtm_err tp_open_tls(const char *url, int32_t timeout_ms, const tp_tls *tls, transport **out,
                     char *msg, size_t size)
{
    transport *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return SRTM_E_NO_MEMORY;
    t->timeout_ms = timeout_ms;
    t->fd = -1;
    srtm_err err = resolve(t, url, msg, size);
    if (err == SRTM_OK && has_prefix(t->url, "tls+tcp://") != (tls != NULL)) {
        snprintf(msg, size,
                 tls != NULL ? "'%.200s' is not a tls+tcp:// address: TLS files go with one only"
                             : "'%.200s' needs this client's TLS certificate, key and srtmd's "
                               "CA (srtm_open_tls; srtmctl --tls-cert, --tls-key, --tls-ca)",
                 t->url);
        err = SRTM_E_INVALID;
    }
    if (err == SRTM_OK)
        err = make_dialer(t, msg, size);
    if (err == SRTM_OK && tls != NULL)
        err = make_tls(t, tls, msg, size);
    if (err == SRTM_OK)
        err = dial(t, msg, size);
    if (err != SRTM_OK) {
        tp_close(t);
        return err;
    }
    *out = t;
    return SRTM_OK;
}

srtm_err tp_open(const char *url, int32_t timeout_ms, transport **out, char *msg, size_t size)
{
    return tp_open_tls(url, timeout_ms, NULL, out, msg, size);
}

void tp_close(transport *t)
{
    if (t == NULL)
        return;
    drop_stream(t);
    nng_stream_dialer_free(t->dialer); /* accepts NULL */
    if (t->tls != NULL)
        nng_tls_config_free(t->tls);
    nng_aio_free(t->aio); /* accepts NULL */
    free(t);
}

void tp_set_timeout(transport *t, int32_t timeout_ms)
{
    t->timeout_ms = timeout_ms;
}

/* ---- one request, one answer ---- */

/* Frame buf's body with id; returns where the frame starts in buf. */
static size_t frame(const transport *t, uint8_t *buf, size_t body_len, uint32_t id)
{
    size_t start = t->ipc ? 0 : 1;
    buf[0] = 1; /* ipc's message type; tcp frames begin after it */
    put_be64(buf + 1, 4 + (uint64_t)body_len);
    buf[9] = (uint8_t)(id >> 24);
    buf[10] = (uint8_t)(id >> 16);
    buf[11] = (uint8_t)(id >> 8);
    buf[12] = (uint8_t)id;
    return start;
}

/* Read one answer frame for id, bounded by max_answer before anything is allocated. */
static srtm_err read_answer(transport *t, uint32_t id, size_t max_answer, uint8_t **ans,
                            size_t *ans_len, char *msg, size_t size)
{
    nng_time deadline = nng_clock() + (nng_time)t->timeout_ms;
    uint8_t hdr[9];
    size_t hlen = t->ipc ? 9 : 8;
    int rv = move_all(t, false, hdr, hlen, deadline);
    if (rv != 0) {
        if (rv == NNG_ETIMEDOUT)
            snprintf(msg, size, "no answer from srtmd in time");
        else
            snprintf(msg, size, "the connection to srtmd broke before its answer (%s); the "
                                "request may have been applied",
                     nng_strerror(rv));
        return rv == NNG_ETIMEDOUT || rv == NNG_ECONNSHUT || rv == NNG_ECLOSED ||
                       rv == NNG_ECONNRESET
                   ? SRTM_E_TIMEOUT
                   : from_nng(rv);
    }
    uint64_t len = get_be64(hdr + hlen - 8);
    if ((t->ipc && hdr[0] != 1) || len < 4) {
        snprintf(msg, size, "srtmd's answer is not a framed REQ0 reply");
        return SRTM_E_MALFORMED;
    }
    if (len - 4 > max_answer) {
        snprintf(msg, size, "srtmd's answer is over the message size limit");
        return SRTM_E_TOO_BIG;
    }
    uint8_t *b = malloc((size_t)len);
    if (b == NULL)
        return SRTM_E_NO_MEMORY;
    rv = move_all(t, false, b, (size_t)len, deadline);
    uint8_t want[4] = {(uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
                       (uint8_t)id};
    srtm_err err = rv != 0 ? from_nng(rv) : SRTM_OK;
    if (rv != 0)
        snprintf(msg, size, "%s", rv == NNG_ETIMEDOUT ? "no answer from srtmd in time"
                                                      : "srtmd's answer was cut short");
    else if (memcmp(b, want, sizeof(want)) != 0) {
        snprintf(msg, size, "srtmd answered another request");
        err = SRTM_E_MALFORMED;
    }
    if (err != SRTM_OK) {
        OPENSSL_cleanse(b, (size_t)len);
        free(b);
        return err;
    }
    *ans = b;
    *ans_len = (size_t)len;
    return SRTM_OK;
}

srtm_err tp_call(transport *t, uint8_t *buf, size_t body_len, size_t max_answer, uint8_t **ans,
                 size_t *ans_len, char *msg, size_t size)
{
    srtm_err err = t->stream == NULL && t->fd < 0 ? dial(t, msg, size) : SRTM_OK;
    if (err != SRTM_OK)
        return err;
    uint32_t id = (t->next_id++ & 0x7fffffffu) | 0x80000000u;
    size_t start = frame(t, buf, body_len, id);
    int rv = move_all(t, true, buf + start, TP_HEADROOM - start + body_len,
                      nng_clock() + (nng_time)t->timeout_ms);
    if (rv != 0) {
        snprintf(msg, size, "cannot send to srtmd at %s: %s", t->url, nng_strerror(rv));
        err = from_nng(rv);
    }
    if (err == SRTM_OK)
        err = read_answer(t, id, max_answer, ans, ans_len, msg, size);
    /* Whatever went wrong left the stream in an unknown place: the next call dials anew. */
    if (err != SRTM_OK)
        drop_stream(t);
    return err;
}
