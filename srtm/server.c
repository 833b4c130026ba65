/*
 * nng transport for the service. Each worker owns an nng context, an aio and a
 * service_worker, and cycles RECV -> SEND -> RECV from its aio callback. The service's
 * own mutex is the only lock requests share.
 *
 * Those callbacks run on nng's task threads, of which nng 1.5 has twice as many as there
 * are cores, and nng's own transports need them too. So a quote on a large table, whose
 * closure and report take tens of milliseconds to build after its cut, is not built
 * there: the worker hands it to the server's builder thread (at nice +BUILDER_NICE, so
 * that on a busy machine the threads serving measurements run first) and returns to nng;
 * the builder builds the report and goes on as the callback would have (signing, the
 * quoter). Large reports are thereby built one at a time.
 *
 * The socket's receive limit is twice SRTM_MAX_MESSAGE: a message between the two
 * limits gets a TOO_BIG answer from the service; a larger one is dropped by nng, which
 * closes that connection (the sender's libsrtm refuses to send one in the first place).
 *
 * Listener watchdog: in nng 1.5 (Debian 12) a peer that connects and hangs up before srtmd
 * has written its SP header makes the listener stop accepting for good (the write fails
 * with EPIPE, which nng reports as "closed" and the listener takes for its own closing;
 * nanomsg/nng#1518, fixed in nng 1.6.0). nng's transport still accepts and negotiates new
 * connections then, but the listener never collects them, so any local user could cut
 * srtmd off from new clients. The watchdog thread (only with an nng older than 1.6.0)
 * reads the listener's error count every WATCHDOG_PERIOD_MS; only after that count rose
 * does it dial srtmd's own socket. A probe whose handshake completed but that the socket
 * does not take in (a pipe event, so no worker is needed) within STALL_ROUNDS rounds and
 * STALL_GRACE_MS is the stalled state; a probe that has not even completed its handshake
 * means srtmd is busy or starved of CPU, and a listener that is merely slow is never
 * replaced. On a stall a new listener takes over the socket path (bound on a fresh name,
 * renamed over it); the old one stays open, unreachable, until the connections it
 * accepted are gone (pipe events count them per listener), so no client loses its
 * connection. A tcp:// port cannot be bound twice: there the old listener and its
 * connections go first. When srtmd has run out of file descriptors (RLIMIT_NOFILE) the
 * probe cannot connect: the watchdog says so once and leaves the listener alone, new
 * clients wait in the socket's backlog until connections close.
 *
 * Before listening on an ipc:// path, server_check_path makes sure srtmd takes over
 * nothing it must not: nng would remove whatever file is at the path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/crypto.h>

#include "peers.h"
#include "quoter.h"
#include "server.h"
#include "srtm.pb-c.h"

/* The watchdog looks at the listener's error count this often. */
#define WATCHDOG_PERIOD_MS 100
/* Time-out of the start-up check's request to a srtmd already at the socket path. */
#define WATCHDOG_TIMEOUT_MS 2000
/* How long a probe whose handshake completed may wait to be taken in before the listener
 * counts as stalled: rounds and milliseconds, both. */
#define STALL_ROUNDS 3
#define STALL_GRACE_MS 300
/* A replaced listener with no connection left is closed once it has been replaced for
 * longer than nng's 10 s handshake time-out, so that no client still in its handshake with
 * it is cut off. */
#define RETIRED_MIN_MS 15000
/* The current listener and the replaced ones still holding connections. */
#define MAX_LISTENERS 8
/* Peer addresses of the tcp connections taken in last (the probe's is looked up there). */
#define RECENT_PEERS 256

/* The builder thread's nice value above srtmd's own. */
#define BUILDER_NICE 10

typedef enum { W_RECV, W_BUILD, W_QUOTE, W_SEND } worker_state;

typedef struct worker {
    srtm_server *srv;
    nng_ctx ctx;
    nng_aio *aio;
    worker_state state;
    service_worker *sw;
    quote_job job; /* while W_QUOTE: owned by the quoter until job.done */
    struct worker *next_build; /* while W_BUILD: the builder's queue */
    bool slot; /* holds one of quotes_waiting's places since it went to the builder */
} worker;

/* The thread that builds large quotes' reports, and its queue of workers (W_BUILD). */
typedef struct builder {
    pthread_t thread;
    bool running;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool lock_init, started, stopping; /* under lock */
    worker *head, *tail;               /* under lock */
} builder;

/* A listener and the connections it took in and still holds (pipe events). */
typedef struct listener_slot {
    nng_listener l;
    int id;
    unsigned pipes;
    long retired_ms; /* when it was replaced (monotonic ms); 0 while current */
    bool used;
} listener_slot;

struct srtm_server {
    srtm_quoter *quoter; /* NULL without a TPM */
    bool owns_quoter;
    nng_socket sock;
    nng_listener listener; /* the current one, at the socket path; watchdog thread only */
    bool sock_open;
    nng_tls_config *tls, *probe_tls; /* tls+tcp: borrowed from server_config */
    /* Every open listener; pipe_lock covers the table (pipe events come on nng threads). */
    pthread_mutex_t pipe_lock;
    bool pipe_lock_init;
    listener_slot listeners[MAX_LISTENERS];
    peer_table *peers; /* each open connection's peer credentials (pipe events) */
    unsigned generation; /* names of the ipc sockets bound so far */
    unsigned nworkers;
    worker *workers;
    char url[PATH_MAX + 16];
    int socket_mode;
    bool ipc;
    bool relistened;  /* the socket file is ours to remove at exit, not nng's */
    bool serving;     /* server_serve ran: the workers receive */
    /* watchdog */
    pthread_t watchdog;
    bool watchdog_running;
    bool stopping;        /* under wd_lock */
    pthread_mutex_t wd_lock;
    pthread_cond_t wd_cond;
    unsigned restarts;
    bool fds_exhausted; /* watchdog thread only */
    atomic_bool probe_taken; /* the socket took in the watchdog's own ipc probe */
    /* On tcp: the peer addresses (addr_key) of the connections the socket took in last,
     * among which the watchdog looks for its probe's own. */
    _Atomic uint64_t recent_peers[RECENT_PEERS];
    atomic_uint recent_next;
    /* Quotes waiting for the quoter, at most quote_limit (the configured workers); the
     * reserve contexts beyond it stay free for CCR requests while the TPM is slow. */
    atomic_uint quotes_waiting;
    builder build;
    unsigned quote_limit;
};

/* Contexts kept for CCR requests beyond the configured workers: a quarter, at least 2. */
static unsigned reserve_for(unsigned workers)
{
    return workers / 4 > 2 ? workers / 4 : 2;
}

/* The credentials the socket reports for connection p; 0 for what it cannot tell. */
static peer_cred cred_of(nng_pipe p)
{
    peer_cred c = {.uid = 0, .pid = 0};
    uint64_t v = 0;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &v) == 0 && v <= UINT32_MAX)
        c.uid = (uint32_t)v;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &v) == 0 && v <= UINT32_MAX)
        c.pid = (uint32_t)v;
    return c;
}

/* The sender of msg: as read when its connection arrived (pipe_event), or from the socket
 * when that entry could not be made. */
static void peer_of(srtm_server *srv, nng_msg *msg, service_peer *peer)
{
    nng_pipe p = nng_msg_get_pipe(msg);
    peer_cred c;
    if (!peers_find(srv->peers, (uint32_t)nng_pipe_id(p), &c))
        c = cred_of(p);
    peer->uid = c.uid;
    peer->pid = c.pid;
}

static void worker_recv(worker *w)
{
    w->state = W_RECV;
    nng_ctx_recv(w->ctx, w->aio);
}

static void send_answer(worker *w, size_t n);
static void quote_done(quote_job *job);
static void after_handle(worker *w, size_t n);
static void builder_submit(srtm_server *srv, worker *w);

static void worker_cb(void *arg)
{
    worker *w = arg;
    int rv = nng_aio_result(w->aio);
    if (w->state == W_SEND) {
        if (rv != 0) {
            /* The peer went away before its answer could be sent. */
            nng_msg_free(nng_aio_get_msg(w->aio));
            nng_aio_set_msg(w->aio, NULL);
            if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
                return;
        }
        worker_recv(w);
        return;
    }
    if (rv != 0) {
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            return;
        log_warn("receive failed: %s", nng_strerror(rv));
        worker_recv(w);
        return;
    }
    nng_msg *in = nng_aio_get_msg(w->aio);
    service_peer peer;
    peer_of(w->srv, in, &peer);
    size_t n = service_worker_handle(w->sw, nng_msg_body(in), nng_msg_len(in), &peer);
    /* The request may hold a capability: wiped before nng reuses the memory. */
    OPENSSL_cleanse(nng_msg_body(in), nng_msg_len(in));
    nng_msg_free(in);
    if (service_worker_build_pending(w->sw)) {
        /* A quote waiting for the builder holds a context as one waiting for the TPM
         * does: both count against the same limit, so the reserve contexts stay free. */
        if (atomic_fetch_add(&w->srv->quotes_waiting, 1) >= w->srv->quote_limit) {
            atomic_fetch_sub(&w->srv->quotes_waiting, 1);
            service_signed busy = {.err = SRTM_E_TPM,
                                   .message = "too many quotes are waiting to be built or "
                                              "for the TPM; try again later"};
            send_answer(w, service_worker_build_refuse(w->sw, &busy));
            return;
        }
        w->slot = true;
        w->state = W_BUILD;
        builder_submit(w->srv, w);
        return;
    }
    after_handle(w, n);
}

/* After the service answered (or built a quote's report): the quoter, or the answer. */
static void after_handle(worker *w, size_t n)
{
    bool held = w->slot; /* a built quote keeps the place it took for the builder */
    w->slot = false;
    if (held && !(service_worker_quote_pending(w->sw) && w->srv->quoter != NULL))
        atomic_fetch_sub(&w->srv->quotes_waiting, 1); /* no TPM, or the build failed */
    if (service_worker_quote_pending(w->sw) && w->srv->quoter == NULL) {
        service_signed none = {.err = SRTM_E_UNSUPPORTED};
        n = service_worker_finish_quote(w->sw, &none);
    } else if (service_worker_quote_pending(w->sw) && !held &&
               atomic_fetch_add(&w->srv->quotes_waiting, 1) >= w->srv->quote_limit) {
        /* A slow or hung TPM must not take every context: refuse at once. */
        atomic_fetch_sub(&w->srv->quotes_waiting, 1);
        service_signed busy = {.err = SRTM_E_TPM,
                               .message = "too many quotes are waiting for the TPM; try "
                                          "again later"};
        n = service_worker_finish_quote(w->sw, &busy);
    } else if (service_worker_quote_pending(w->sw)) {
        /* The quoter calls quote_done on its own thread; this one goes back to nng. */
        w->state = W_QUOTE;
        w->job.nonce = service_worker_quote_nonce(w->sw, &w->job.nonce_len);
        w->job.report = service_worker_report(w->sw, &w->job.report_len);
        w->job.report_digest = service_worker_report_digest(w->sw);
        w->job.done = quote_done;
        w->job.arg = w;
        srtm_err err = quoter_prepare(w->srv->quoter, &w->job);
        if (err == SRTM_OK) {
            quoter_submit(w->srv->quoter, &w->job);
            return;
        }
        atomic_fetch_sub(&w->srv->quotes_waiting, 1);
        service_signed failed = {.err = err};
        n = service_worker_finish_quote(w->sw, &failed);
    }
    send_answer(w, n);
}

/* ---- the builder of large quotes -------------------------------------------------------- */

static void *builder_main(void *arg)
{
    srtm_server *srv = arg;
    builder *b = &srv->build;
    /* Lower this thread only: a thread is a process to setpriority on Linux. */
    errno = 0;
    int base = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    if ((base != -1 || errno == 0) &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), base + BUILDER_NICE) != 0)
        log_warn("the builder of large quotes runs at normal priority: %s", strerror(errno));
    pthread_mutex_lock(&b->lock);
    b->started = true;
    pthread_cond_broadcast(&b->cond);
    for (;;) {
        while (!b->stopping && b->head == NULL)
            pthread_cond_wait(&b->cond, &b->lock);
        if (b->stopping)
            break;
        worker *w = b->head;
        b->head = w->next_build;
        if (b->head == NULL)
            b->tail = NULL;
        pthread_mutex_unlock(&b->lock);
        after_handle(w, service_worker_build_quote(w->sw));
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void builder_submit(srtm_server *srv, worker *w)
{
    builder *b = &srv->build;
    w->next_build = NULL;
    pthread_mutex_lock(&b->lock);
    if (b->tail != NULL)
        b->tail->next_build = w;
    else
        b->head = w;
    b->tail = w;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Start the builder; returns once it runs (and has lowered its priority: before the
 * system call filter, which has no setpriority). */
static srtm_err builder_start(srtm_server *srv)
{
    builder *b = &srv->build;
    if (pthread_mutex_init(&b->lock, NULL) != 0)
        return SRTM_E_INTERNAL;
    if (pthread_cond_init(&b->cond, NULL) != 0) {
        pthread_mutex_destroy(&b->lock);
        return SRTM_E_INTERNAL;
    }
    b->lock_init = true;
    if (pthread_create(&b->thread, NULL, builder_main, srv) != 0) {
        log_error("cannot start the builder of large quotes");
        return SRTM_E_INTERNAL;
    }
    b->running = true;
    pthread_mutex_lock(&b->lock);
    while (!b->started)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    return SRTM_OK;
}

/* A build under way finishes and is answered; queued ones are dropped (their clients'
 * connections close with the socket). */
static void builder_stop(srtm_server *srv)
{
    builder *b = &srv->build;
    if (b->running) {
        pthread_mutex_lock(&b->lock);
        b->stopping = true;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
        b->running = false;
    }
    if (b->lock_init) {
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->lock);
        b->lock_init = false;
    }
}

static void send_answer(worker *w, size_t n)
{
    nng_msg *out = NULL;
    if (n == 0 || nng_msg_alloc(&out, n) != 0) {
        /* Not even an error answer fits in memory: drop the request; the client times
         * out. Nothing was changed by a request whose answer could not be built. */
        log_error("out of memory answering a request");
        service_worker_discard(w->sw);
        worker_recv(w);
        return;
    }
    service_worker_pack(w->sw, nng_msg_body(out));
    nng_aio_set_msg(w->aio, out);
    w->state = W_SEND;
    nng_ctx_send(w->ctx, w->aio);
}

static void to_service_quote(const km_tpm_quote *q, service_tpm_quote *out)
{
    out->attest = q->attest;
    out->attest_len = q->attest_len;
    out->sig = q->sig;
    out->sig_len = q->sig_len;
    out->pcr_mask = q->pcrs.mask;
    out->pcr_values = (const uint8_t(*)[SRTM_DIGEST_LEN])q->pcrs.value;
}

/* On the quoter thread: the report is signed (or signing failed); answer the client. */
static void quote_done(quote_job *job)
{
    worker *w = job->arg;
    const quoter_identity *id = quoter_get_identity(w->srv->quoter);
    service_signed s = {.err = job->result.err,
                        .irk_sig = job->result.irk_sig,
                        .irk_sig_len = job->result.irk_sig_len,
                        .irk_public = id->irk_public,
                        .irk_public_len = id->irk_public_len,
                        .leaf_index = job->result.leaf_index,
                        .leaf_count = job->result.leaf_count,
                        .path = (const uint8_t(*)[SRTM_DIGEST_LEN])job->result.path,
                        .path_len = job->result.path_len};
    to_service_quote(&job->result.quote, &s.quote);
    to_service_quote(&id->certificate, &s.certificate);
    atomic_fetch_sub(&w->srv->quotes_waiting, 1);
    send_answer(w, service_worker_finish_quote(w->sw, &s));
}

/* ---- listeners and the connections each one holds ------------------------------------- */

static long now_ms(void)
{
    return (long)(srtm_mono_ns() / 1000000);
}

/* Enter a listener in the table before it starts, so that none of its connections goes
 * uncounted; false when the table is full. */
static bool slot_add(srtm_server *srv, nng_listener l)
{
    bool added = false;
    pthread_mutex_lock(&srv->pipe_lock);
    for (unsigned i = 0; i < MAX_LISTENERS && !added; i++) {
        listener_slot *ls = &srv->listeners[i];
        if (!ls->used) {
            *ls = (listener_slot){.l = l, .id = nng_listener_id(l), .used = true};
            added = true;
        }
    }
    pthread_mutex_unlock(&srv->pipe_lock);
    return added;
}

static void slot_remove(srtm_server *srv, nng_listener l)
{
    int id = nng_listener_id(l);
    pthread_mutex_lock(&srv->pipe_lock);
    for (unsigned i = 0; i < MAX_LISTENERS; i++)
        if (srv->listeners[i].used && srv->listeners[i].id == id)
            srv->listeners[i].used = false;
    pthread_mutex_unlock(&srv->pipe_lock);
}

/* Close a listener and forget it (nng closes the connections it accepted). */
static void listener_drop(srtm_server *srv, nng_listener l)
{
    slot_remove(srv, l);
    nng_listener_close(l);
}

/*
 * Pipe events. ADD_PRE and REM_POST come in pairs for every connection a listener takes
 * in, so their difference is the number it still holds (a replaced listener is closed only
 * at zero). ADD_POST: the socket took a connection in, which proves the listener accepts.
 * The peer table gets the connection's credentials at ADD_PRE, before nng starts receiving
 * on it, and loses them at REM_POST, before nng can give its id to another connection.
 */
/* A tcp address as one number (never 0): family, port and address folded. */
static uint64_t addr_key(const nng_sockaddr *sa)
{
    uint64_t k = 0;
    if (sa->s_family == NNG_AF_INET) {
        k = ((uint64_t)sa->s_in.sa_addr << 16) | sa->s_in.sa_port;
    } else if (sa->s_family == NNG_AF_INET6) {
        for (size_t i = 0; i < sizeof(sa->s_in6.sa_addr); i++)
            k = k * 1099511628211u ^ sa->s_in6.sa_addr[i];
        k = (k << 16) ^ sa->s_in6.sa_port;
    }
    return k | (uint64_t)1 << 63;
}

static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    srtm_server *srv = arg;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        /* The watchdog's probe is srtmd's own connection: on ipc its peer is this process;
         * on tcp its peer address is the probe's own (probe_step looks for it). */
        uint64_t pid = 0;
        nng_sockaddr sa;
        if (srv->ipc && nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0 &&
            pid == (uint64_t)getpid())
            atomic_store(&srv->probe_taken, true);
        else if (!srv->ipc && nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0)
            atomic_store(&srv->recent_peers[atomic_fetch_add(&srv->recent_next, 1) %
                                            RECENT_PEERS],
                         addr_key(&sa));
        return;
    }
    if (ev == NNG_PIPE_EV_ADD_PRE && peers_add(srv->peers, (uint32_t)nng_pipe_id(p),
                                               cred_of(p)) != SRTM_OK)
        log_warn("out of memory: the peer of a connection is looked up per request");
    else if (ev == NNG_PIPE_EV_REM_POST) {
        peers_remove(srv->peers, (uint32_t)nng_pipe_id(p));
        log_debug("connection %u to %s closed", (unsigned)nng_pipe_id(p), srv->url);
    }
    int id = nng_listener_id(nng_pipe_listener(p));
    pthread_mutex_lock(&srv->pipe_lock);
    for (unsigned i = 0; i < MAX_LISTENERS; i++) {
        listener_slot *ls = &srv->listeners[i];
        if (ls->used && ls->id == id) {
            if (ev == NNG_PIPE_EV_ADD_PRE)
                ls->pipes++;
            else if (ls->pipes > 0)
                ls->pipes--;
            break;
        }
    }
    pthread_mutex_unlock(&srv->pipe_lock);
}

/* Create and start a listener on url; *out is valid only on success. */
static srtm_err listen_on(srtm_server *srv, const char *url, nng_listener *out)
{
    nng_listener l;
    int rv = nng_listener_create(&l, srv->sock, url);
    if (rv != 0) {
        log_error("cannot listen on %s: %s", url, nng_strerror(rv));
        return SRTM_E_TRANSPORT;
    }
    if (!slot_add(srv, l)) {
        log_error("cannot listen on %s: too many listeners", url);
        nng_listener_close(l);
        return SRTM_E_TRANSPORT;
    }
    if (srv->ipc) {
        rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, srv->socket_mode);
        if (rv != 0) {
            log_error("cannot set permissions of %s: %s", url, nng_strerror(rv));
            listener_drop(srv, l);
            return SRTM_E_TRANSPORT;
        }
    }
    if (srv->tls != NULL && (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, srv->tls)) != 0) {
        log_error("cannot set up TLS on %s: %s", url, nng_strerror(rv));
        listener_drop(srv, l);
        return SRTM_E_TRANSPORT;
    }
    rv = nng_listener_start(l, 0);
    if (rv != 0) {
        if (rv == NNG_EADDRINUSE)
            log_error("cannot listen on %s: another srtmd (or another program) is serving there",
                      url);
        else
            log_error("cannot listen on %s: %s", url, nng_strerror(rv));
        listener_drop(srv, l);
        return SRTM_E_TRANSPORT;
    }
    *out = l;
    return SRTM_OK;
}

/*
 * Listen on srv->url. An ipc:// listener is bound on a fresh name beside the socket path
 * and renamed over it: new clients reach the new listener at once while connections the
 * previous one accepted stay with it. nng unlinks the name a listener was bound on when it
 * closes it; that name is gone after the rename, so closing an old listener never removes
 * the socket path. A new name each time (srtmd's pid and a counter); the directory is
 * srtmd's (server_check_path), so whatever is at that name is a leftover of srtmd's.
 */
static srtm_err listen_public(srtm_server *srv, nng_listener *out)
{
    if (!srv->ipc)
        return listen_on(srv, srv->url, out);
    char tmp_url[sizeof(srv->url) + 32];
    if ((size_t)snprintf(tmp_url, sizeof(tmp_url), "%s.%ld.%u", srv->url, (long)getpid(),
                         srv->generation++) >= sizeof(tmp_url)) {
        log_error("cannot listen on %s: URL too long", srv->url);
        return SRTM_E_TOO_BIG;
    }
    unlink(tmp_url + 6);
    nng_listener fresh;
    srtm_err err = listen_on(srv, tmp_url, &fresh);
    if (err == SRTM_OK && rename(tmp_url + 6, srv->url + 6) != 0) {
        log_error("cannot move the socket %s into place: %s", tmp_url + 6, strerror(errno));
        listener_drop(srv, fresh);
        err = SRTM_E_TRANSPORT;
    }
    if (err == SRTM_OK) {
        srv->relistened = true;
        *out = fresh;
    }
    return err;
}

/* One probe of url: a fresh connection and the request probe; true if answered. */
static bool probe_url(const char *url, const uint8_t *probe, size_t probe_len)
{
    nng_socket s;
    if (nng_req0_open(&s) != 0)
        return true; /* cannot tell; do not act on our own failure */
    bool ok = false;
    void *buf = NULL;
    size_t n = 0;
    if (nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, WATCHDOG_TIMEOUT_MS) == 0 &&
        nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, WATCHDOG_TIMEOUT_MS) == 0 &&
        nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK) == 0 &&
        nng_send(s, (void *)probe, probe_len, 0) == 0 &&
        nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) == 0) {
        ok = true;
        nng_free(buf, n);
    }
    nng_close(s);
    return ok;
}

/* ---- the watchdog --------------------------------------------------------------------- */

/* The value of the direct child statistic name of scope, or UINT64_MAX. */
static uint64_t stat_child(nng_stat *scope, const char *name)
{
    for (nng_stat *c = nng_stat_child(scope); c != NULL; c = nng_stat_next(c))
        if (strcmp(nng_stat_name(c), name) == 0)
            return nng_stat_value(c);
    return UINT64_MAX;
}

/* The "listener" scope whose "id" is id, searched depth first from st, or NULL.
 * (nng 1.5's nng_stat_find_listener returns the first listener of any id.) */
static nng_stat *find_listener_stats(nng_stat *st, int id)
{
    for (nng_stat *c = nng_stat_child(st); c != NULL; c = nng_stat_next(c)) {
        if (nng_stat_type(c) != NNG_STAT_SCOPE)
            continue;
        if (strcmp(nng_stat_name(c), "listener") == 0 && stat_child(c, "id") == (uint64_t)id)
            return c;
        nng_stat *found = find_listener_stats(c, id);
        if (found != NULL)
            return found;
    }
    return NULL;
}

/*
 * The errors a listener counted that can have stopped it, or UINT64_MAX when nng keeps no
 * statistics. nng 1.5 ends the listener's accept loop when a peer hangs up before the SP
 * header could be written to it and counts that error under "other"; the only other errors
 * counted there (system errors such as running out of descriptors, a peer hanging up later
 * in the handshake) pause the loop for 100 ms.
 */
static uint64_t listener_errors(nng_listener l)
{
    nng_stat *all = NULL;
    if (nng_stats_get(&all) != 0)
        return UINT64_MAX;
    nng_stat *ls = find_listener_stats(all, nng_listener_id(l));
    uint64_t v = ls != NULL ? stat_child(ls, "other") : UINT64_MAX;
    nng_stats_free(all);
    return v;
}

/* The watchdog's probe connection, kept open until the socket has taken a connection in
 * and the probe's own handshake is complete: a probe that hung up in the middle of its
 * handshake would itself stall nng 1.5's listener. */
typedef struct wd_probe {
    nng_socket s;
    bool open;
    atomic_bool handshaken; /* the probe's own side completed the SP handshake */
    _Atomic uint64_t self;  /* tcp: addr_key of the probe's own end (0 until handshaken) */
    unsigned rounds;       /* rounds since then without a connection taken in */
    long handshake_ms;     /* when the watchdog first saw the handshake complete */
} wd_probe;

typedef enum { PROBE_TAKEN, PROBE_WAITING, PROBE_STALLED, PROBE_NO_FDS } probe_result;

static void probe_handshaken(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)ev;
    wd_probe *pr = arg;
    nng_sockaddr sa;
    if (nng_pipe_get_addr(p, NNG_OPT_LOCADDR, &sa) == 0 &&
        (sa.s_family == NNG_AF_INET || sa.s_family == NNG_AF_INET6))
        atomic_store(&pr->self, addr_key(&sa));
    atomic_store(&pr->handshaken, true);
}

/* tcp: whether the socket took in the connection whose peer address is the probe's. */
static bool probe_seen(srtm_server *srv, const wd_probe *pr)
{
    uint64_t self = atomic_load(&pr->self);
    for (unsigned i = 0; self != 0 && i < RECENT_PEERS; i++)
        if (atomic_load(&srv->recent_peers[i]) == self)
            return true;
    return false;
}

static void probe_close(wd_probe *pr)
{
    if (pr->open)
        nng_close(pr->s);
    pr->open = false;
}

static bool probe_dial(srtm_server *srv, wd_probe *pr)
{
    atomic_store(&srv->probe_taken, false);
    atomic_store(&pr->handshaken, false);
    atomic_store(&pr->self, 0);
    pr->rounds = 0;
    pr->handshake_ms = 0;
    if (nng_req0_open(&pr->s) != 0)
        return false;
    pr->open = true;
    nng_dialer d;
    if (nng_pipe_notify(pr->s, NNG_PIPE_EV_ADD_POST, probe_handshaken, pr) != 0 ||
        nng_dialer_create(&d, pr->s, srv->url) != 0 ||
        (srv->probe_tls != NULL && nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, srv->probe_tls) != 0) ||
        nng_dialer_start(d, NNG_FLAG_NONBLOCK) != 0) {
        probe_close(pr);
        return false;
    }
    return true;
}

/* true when this process cannot open another file descriptor (RLIMIT_NOFILE). */
static bool out_of_fds(void)
{
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0) {
        close(fd);
        return false;
    }
    return errno == EMFILE || errno == ENFILE;
}

/*
 * One step of the probe. Taken: the socket took the probe's own connection in (on ipc
 * its peer pid is srtmd's, on tcp its peer address is the probe's end). nng counts every
 * connection a client closes as a listener error too, so on a busy socket only the
 * probe's own connection proves that the listener accepts after the error: counting any
 * connection taken in since the last error replaced working tcp listeners, and with them
 * the verifiers' connections, whenever clients came and went. Stalled: the probe completed its
 * handshake, so srtmd's transport ran and accepted it, yet for STALL_ROUNDS rounds and
 * STALL_GRACE_MS the listener did not take it in: nng 1.5's stalled state, where the
 * transport still accepts and negotiates but the listener no longer collects. While the
 * handshake is not complete srtmd is busy, starved of CPU or out of descriptors, none of
 * which a new listener would mend.
 */
static probe_result probe_step(srtm_server *srv, wd_probe *pr)
{
    if (!pr->open && !probe_dial(srv, pr))
        return out_of_fds() ? PROBE_NO_FDS : PROBE_WAITING;
    bool handshaken = atomic_load(&pr->handshaken);
    bool taken = srv->ipc ? atomic_load(&srv->probe_taken) : probe_seen(srv, pr);
    if (taken) {
        /* The listener accepts. The probe hangs up only once its own handshake is
         * complete (it stays open till a later round otherwise): hanging up before
         * srtmd has written its SP header is what stalls nng 1.5's listener. */
        if (handshaken) {
            log_debug("listener watchdog: its probe was taken in on %s", srv->url);
            probe_close(pr);
        }
        return PROBE_TAKEN;
    }
    if (!handshaken)
        return out_of_fds() ? PROBE_NO_FDS : PROBE_WAITING;
    if (pr->handshake_ms == 0)
        pr->handshake_ms = now_ms();
    pr->rounds++;
    if (pr->rounds >= STALL_ROUNDS && now_ms() - pr->handshake_ms >= STALL_GRACE_MS)
        return PROBE_STALLED;
    return PROBE_WAITING;
}

/* Close replaced listeners that hold no connection any more (oldest first once the table
 * is full, even with connections: the number of listeners stays bounded). */
static void close_retired(srtm_server *srv, bool make_room)
{
    long now = now_ms();
    nng_listener to_close[MAX_LISTENERS];
    unsigned n = 0, idle = 0, free_slots = 0, oldest = MAX_LISTENERS;
    pthread_mutex_lock(&srv->pipe_lock);
    for (unsigned i = 0; i < MAX_LISTENERS; i++) {
        listener_slot *ls = &srv->listeners[i];
        if (!ls->used || ls->retired_ms == 0) {
            free_slots += !ls->used;
            continue;
        }
        if (ls->pipes == 0 && now - ls->retired_ms >= RETIRED_MIN_MS) {
            to_close[n++] = ls->l;
            ls->used = false;
            free_slots++;
            idle++;
        } else if (oldest == MAX_LISTENERS ||
                   ls->retired_ms < srv->listeners[oldest].retired_ms) {
            oldest = i;
        }
    }
    if (make_room && free_slots == 0 && oldest < MAX_LISTENERS) {
        log_warn("too many replaced listeners still hold connections; closing the oldest "
                 "(%u connections)",
                 srv->listeners[oldest].pipes);
        to_close[n++] = srv->listeners[oldest].l;
        srv->listeners[oldest].used = false;
    }
    pthread_mutex_unlock(&srv->pipe_lock);
    /* Outside the lock: closing ends connections, whose events take it. */
    for (unsigned i = 0; i < n; i++)
        nng_listener_close(to_close[i]);
    if (idle > 0)
        log_info("closed %u replaced listener(s) of %s: their connections are gone", idle,
                 srv->url);
}

static void retire(srtm_server *srv, nng_listener l)
{
    int id = nng_listener_id(l);
    pthread_mutex_lock(&srv->pipe_lock);
    for (unsigned i = 0; i < MAX_LISTENERS; i++)
        if (srv->listeners[i].used && srv->listeners[i].id == id)
            srv->listeners[i].retired_ms = now_ms();
    pthread_mutex_unlock(&srv->pipe_lock);
}

/*
 * Replace the listener. For ipc:// the new one takes over the socket path and the old one
 * stays open, unreachable, until the connections it accepted are gone (close_retired).
 * A tcp:// port cannot be bound twice: the old listener and its connections go first.
 */
static void relisten(srtm_server *srv)
{
    nng_listener fresh;
    if (!srv->ipc) {
        listener_drop(srv, srv->listener);
        if (listen_on(srv, srv->url, &fresh) == SRTM_OK)
            srv->listener = fresh;
        return;
    }
    close_retired(srv, true);
    if (listen_public(srv, &fresh) != SRTM_OK)
        return;
    retire(srv, srv->listener);
    srv->listener = fresh;
}

typedef struct wd_state {
    wd_probe pr;
    uint64_t seen_errors; /* the listener's error count when it last proved to accept */
    uint64_t last_errors; /* its error count in the previous round */
    unsigned round;
} wd_state;

static void on_probe(srtm_server *srv, wd_state *st, probe_result r, uint64_t errors)
{
    if (r == PROBE_NO_FDS) {
        /* Not a stall: a new listener would not help, connections must close. The probe
         * stays queued: hanging up now would stall the listener once it is accepted. */
        if (!srv->fds_exhausted)
            log_warn("out of file descriptors (RLIMIT_NOFILE): new connections to %s wait "
                     "until clients close some",
                     srv->url);
        srv->fds_exhausted = true;
    } else if (r == PROBE_TAKEN) {
        if (srv->fds_exhausted)
            log_warn("file descriptors available again: accepting connections on %s", srv->url);
        srv->fds_exhausted = false;
        st->seen_errors = errors;
    } else if (r == PROBE_STALLED) {
        /* The probe completed its handshake: srtmd had a descriptor for it. */
        if (srv->fds_exhausted)
            log_warn("file descriptors available again: accepting connections on %s", srv->url);
        srv->fds_exhausted = false;
        log_warn("the listener on %s stopped accepting connections; replacing it", srv->url);
        relisten(srv);
        probe_close(&st->pr); /* after the old listener is unreachable */
        __atomic_fetch_add(&srv->restarts, 1, __ATOMIC_RELAXED);
        st->seen_errors = 0;
        st->last_errors = 0;
    }
}

/*
 * One round. The probe runs only while the listener's error count says it may have
 * stopped (every tenth round without statistics), so a listener that is merely slow is
 * never probed into replacement, and a stall is found within a few rounds.
 */
static void watchdog_round(srtm_server *srv, wd_state *st)
{
    close_retired(srv, false);
    uint64_t errors = listener_errors(srv->listener);
    bool suspect = errors == UINT64_MAX ? st->round % 10 == 0 : errors != st->seen_errors;
    st->round++;
    st->last_errors = errors;
    if (suspect || st->pr.open)
        on_probe(srv, st, probe_step(srv, &st->pr), errors);
}

static void *watchdog_main(void *arg)
{
    srtm_server *srv = arg;
    wd_state st = {.pr = {.open = false}};
    pthread_mutex_lock(&srv->wd_lock);
    while (!srv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)WATCHDOG_PERIOD_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&srv->wd_cond, &srv->wd_lock, &ts);
        if (srv->stopping)
            break;
        pthread_mutex_unlock(&srv->wd_lock);
        watchdog_round(srv, &st);
        pthread_mutex_lock(&srv->wd_lock);
    }
    pthread_mutex_unlock(&srv->wd_lock);
    probe_close(&st.pr);
    return NULL;
}

/* The start-up check's request: a one-entry list, read-only. */
static srtm_err build_probe(uint8_t *buf, size_t size, size_t *len)
{
    Srtm__ListRequest lr = SRTM__LIST_REQUEST__INIT;
    lr.max_entries = 1;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_LIST;
    req.list = &lr;
    *len = srtm__request__get_packed_size(&req);
    if (*len > size)
        return SRTM_E_INTERNAL;
    srtm__request__pack(&req, buf);
    return SRTM_OK;
}

/* "uid 65534 (nobody)", or "uid N" for a uid without a name. */
static const char *owner_text(uid_t uid, char *buf, size_t size)
{
    struct passwd pw, *found = NULL;
    char pwbuf[1024];
    if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found != NULL)
        snprintf(buf, size, "uid %u (%s)", (unsigned)uid, found->pw_name);
    else
        snprintf(buf, size, "uid %u", (unsigned)uid);
    return buf;
}

static bool trusted_owner(uid_t uid, uid_t also_ok)
{
    return uid == 0 || uid == geteuid() || uid == also_ok;
}

static const char *file_kind(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISFIFO(mode))
        return "a FIFO";
    return "a device or other special file";
}

/* A socket file that nothing listens on: connect() is refused. */
static bool stale_socket(const char *path, int *err_out)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    *err_out = 0;
    if (n >= sizeof(sa.sun_path)) {
        *err_out = ENAMETOOLONG;
        return false;
    }
    memcpy(sa.sun_path, path, n + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err_out = errno;
        return false;
    }
    bool stale = false;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        *err_out = errno;
        stale = errno == ECONNREFUSED;
    }
    close(fd);
    return stale;
}

srtm_err server_check_path(const char *url, uid_t also_ok)
{
    if (strncmp(url, "ipc://", 6) != 0)
        return SRTM_OK;
    const char *path = url + 6;
    char dir[PATH_MAX], owner[128];
    struct stat st;
    if (path[0] == '\0' || !path_dir(path, dir, sizeof(dir))) {
        log_error("cannot listen on %s: not a usable socket path", url);
        return SRTM_E_INVALID;
    }
    /* The directory: whoever may write it could replace the socket with their own. */
    if (stat(dir, &st) != 0) {
        log_error("cannot listen on %s: directory %s: %s", url, dir, strerror(errno));
        return SRTM_E_TRANSPORT;
    }
    if (!S_ISDIR(st.st_mode)) {
        log_error("cannot listen on %s: %s is not a directory", url, dir);
        return SRTM_E_TRANSPORT;
    }
    if (!trusted_owner(st.st_uid, also_ok)) {
        log_error("cannot listen on %s: its directory %s belongs to %s, who could replace "
                  "the socket; use a directory of root or srtmd's user",
                  url, dir, owner_text(st.st_uid, owner, sizeof(owner)));
        return SRTM_E_DENIED;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
        log_error("cannot listen on %s: its directory %s (mode %04o) is writable by group or "
                  "others without the sticky bit, so another user could replace the socket",
                  url, dir, (unsigned)(st.st_mode & 07777));
        return SRTM_E_DENIED;
    }
    /* The path itself: nothing there, or a socket of srtmd's. nng would unlink any file
     * it finds there, so srtmd decides first. */
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return SRTM_OK;
        log_error("cannot listen on %s: %s", url, strerror(errno));
        return SRTM_E_TRANSPORT;
    }
    if (!trusted_owner(st.st_uid, also_ok)) {
        log_error("cannot listen on %s: %s exists and belongs to %s, not to srtmd; it is left "
                  "alone (remove it if it is not needed)",
                  url, path, owner_text(st.st_uid, owner, sizeof(owner)));
        return SRTM_E_DENIED;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_error("cannot listen on %s: %s is %s, not a socket; srtmd does not remove or "
                  "change it (choose another --listen path or remove it)",
                  url, path, file_kind(st.st_mode));
        return SRTM_E_EXISTS;
    }
    /* A socket: ask it with a real request first; nng's own check (a bare connect and
     * close) would trip nanomsg/nng#1518 in a live srtmd. */
    uint8_t probe[64];
    size_t probe_len = 0;
    if (build_probe(probe, sizeof(probe), &probe_len) != SRTM_OK)
        return SRTM_E_INTERNAL;
    if (probe_url(url, probe, probe_len)) {
        log_error("cannot listen on %s: another srtmd is serving there", url);
        return SRTM_E_EXISTS;
    }
    int cerr = 0;
    if (!stale_socket(path, &cerr)) {
        if (cerr == 0)
            log_error("cannot listen on %s: a program listens there but does not answer as "
                      "srtmd (a hung srtmd?); not taking its place",
                      url);
        else
            log_error("cannot listen on %s: cannot tell whether the socket is in use: %s", url,
                      strerror(cerr));
        return SRTM_E_EXISTS;
    }
    if (unlink(path) != 0) {
        log_error("cannot remove the stale socket %s: %s", path, strerror(errno));
        return SRTM_E_TRANSPORT;
    }
    log_warn("replaced the stale socket %s (left by a srtmd that did not exit cleanly)", path);
    return SRTM_OK;
}

/* nng 1.6.0 and later keep accepting after a hang-up during the handshake. */
static bool nng_may_stall(void)
{
    unsigned major = 0, minor = 0;
    if (sscanf(nng_version(), "%u.%u", &major, &minor) != 2)
        return true;
    return major < 1 || (major == 1 && minor < 6);
}

static srtm_err start_watchdog(srtm_server *srv)
{
    if (!nng_may_stall()) {
        log_debug("nng %s keeps accepting after a hang-up during the handshake: no listener "
                  "watchdog",
                  nng_version());
        return SRTM_OK;
    }
    if (pthread_mutex_init(&srv->wd_lock, NULL) != 0)
        return SRTM_E_INTERNAL;
    if (pthread_cond_init(&srv->wd_cond, NULL) != 0) {
        pthread_mutex_destroy(&srv->wd_lock);
        return SRTM_E_INTERNAL;
    }
    if (pthread_create(&srv->watchdog, NULL, watchdog_main, srv) != 0) {
        pthread_cond_destroy(&srv->wd_cond);
        pthread_mutex_destroy(&srv->wd_lock);
        return SRTM_E_INTERNAL;
    }
    srv->watchdog_running = true;
    return SRTM_OK;
}

static void stop_watchdog(srtm_server *srv)
{
    if (!srv->watchdog_running)
        return;
    pthread_mutex_lock(&srv->wd_lock);
    srv->stopping = true;
    pthread_cond_signal(&srv->wd_cond);
    pthread_mutex_unlock(&srv->wd_lock);
    pthread_join(srv->watchdog, NULL);
    pthread_cond_destroy(&srv->wd_cond);
    pthread_mutex_destroy(&srv->wd_lock);
    srv->watchdog_running = false;
}

srtm_err server_start(srtm_service *s, const server_config *cfg, srtm_server **out)
{
    srtm_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        if (!cfg->borrow_quoter)
            quoter_free(cfg->quoter);
        return SRTM_E_NO_MEMORY;
    }
    srv->quoter = cfg->quoter; /* unless borrowed, ours from now on, freed by server_free */
    srv->owns_quoter = !cfg->borrow_quoter;
    srtm_err err = SRTM_E_TRANSPORT;
    if (pthread_mutex_init(&srv->pipe_lock, NULL) != 0) {
        err = SRTM_E_INTERNAL;
        goto fail;
    }
    srv->pipe_lock_init = true;
    if ((err = peers_new(&srv->peers)) != SRTM_OK)
        goto fail;
    err = SRTM_E_TRANSPORT;
    if ((size_t)snprintf(srv->url, sizeof(srv->url), "%s", cfg->url) >= sizeof(srv->url)) {
        log_error("listen URL too long");
        goto fail;
    }
    srv->ipc = strncmp(cfg->url, "ipc://", 6) == 0;
    srv->socket_mode = cfg->socket_mode;
    srv->tls = cfg->tls;
    srv->probe_tls = cfg->probe_tls;
    if ((strncmp(cfg->url, "tls+", 4) == 0) != (cfg->tls != NULL && cfg->probe_tls != NULL)) {
        log_error("%s: a tls+tcp:// URL needs a TLS configuration, and only it takes one",
                  cfg->url);
        goto fail;
    }
    int rv = nng_rep0_open(&srv->sock);
    if (rv != 0) {
        log_error("cannot open socket: %s", nng_strerror(rv));
        goto fail;
    }
    srv->sock_open = true;
    if ((rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_PRE, pipe_event, srv)) != 0 ||
        (rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_ADD_POST, pipe_event, srv)) != 0 ||
        (rv = nng_pipe_notify(srv->sock, NNG_PIPE_EV_REM_POST, pipe_event, srv)) != 0) {
        log_error("cannot watch connections: %s", nng_strerror(rv));
        goto fail;
    }
    rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, 2 * (size_t)SRTM_MAX_MESSAGE);
    if (rv != 0) {
        log_error("cannot set receive limit: %s", nng_strerror(rv));
        goto fail;
    }
    srv->quote_limit = cfg->workers;
    unsigned contexts = cfg->workers + reserve_for(cfg->workers);
    srv->workers = calloc(contexts, sizeof(*srv->workers));
    if (srv->workers == NULL) {
        err = SRTM_E_NO_MEMORY;
        goto fail;
    }
    for (unsigned i = 0; i < contexts; i++) {
        worker *w = &srv->workers[i];
        w->srv = srv;
        err = service_worker_new(s, &w->sw);
        if (err != SRTM_OK)
            goto fail;
        if (cfg->read_only)
            service_worker_set_read_only(w->sw);
        service_worker_defer_large_quotes(w->sw);
        srv->nworkers = i + 1;
        if ((rv = nng_aio_alloc(&w->aio, worker_cb, w)) != 0 ||
            (rv = nng_ctx_open(&w->ctx, srv->sock)) != 0) {
            log_error("cannot set up worker: %s", nng_strerror(rv));
            err = SRTM_E_TRANSPORT;
            goto fail;
        }
    }
    err = builder_start(srv);
    if (err != SRTM_OK)
        goto fail;
    err = server_check_path(srv->url, cfg->owner_ok);
    if (err != SRTM_OK)
        goto fail;
    err = listen_public(srv, &srv->listener);
    if (err != SRTM_OK)
        goto fail;
    *out = srv;
    return SRTM_OK;
fail:
    server_free(srv);
    return err;
}

srtm_err server_serve(srtm_server *srv)
{
    if (srv->serving)
        return SRTM_OK;
    srv->serving = true;
    for (unsigned i = 0; i < srv->nworkers; i++)
        worker_recv(&srv->workers[i]);
    return start_watchdog(srv);
}

void server_free(srtm_server *srv)
{
    if (srv == NULL)
        return;
    stop_watchdog(srv);
    /* The builder first: the build under way still answers through its worker's aio. Then
     * the quoter (shared with another server, the tcp listener's, when borrowed): its job
     * under way answers while the socket is open, and no answer is sent after, onto a
     * closed socket or by a freed worker. */
    builder_stop(srv);
    quoter_stop(srv->quoter);
    /* Stop every aio first: after nng_aio_stop no callback runs any more. */
    for (unsigned i = 0; i < srv->nworkers; i++)
        if (srv->workers[i].aio != NULL)
            nng_aio_stop(srv->workers[i].aio);
    if (srv->sock_open)
        nng_close(srv->sock);
    /* The quoter stopped above; the TPM context and the key go with it now. Only then
     * can the workers go. */
    if (srv->owns_quoter)
        quoter_free(srv->quoter);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        worker *w = &srv->workers[i];
        if (w->aio != NULL) {
            nng_msg *m = w->state == W_SEND ? nng_aio_get_msg(w->aio) : NULL;
            if (m != NULL)
                nng_msg_free(m);
            nng_aio_free(w->aio);
        }
        service_worker_free(w->sw);
    }
    free(srv->workers);
    if (srv->relistened)
        unlink(srv->url + 6);
    if (srv->pipe_lock_init)
        pthread_mutex_destroy(&srv->pipe_lock);
    peers_free(srv->peers);
    free(srv);
}

unsigned server_listener_restarts(const srtm_server *srv)
{
    return __atomic_load_n(&srv->restarts, __ATOMIC_RELAXED); /* read by status workers */
}
