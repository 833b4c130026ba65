/*
 * nng transport for the service. Each worker owns an nng context, an aio and a
 * service_worker, and cycles RECV -> SEND -> RECV from its aio callback. The service's
 * own mutex is the only lock requests share.
 *
 * The socket's receive limit is twice SRTM_MAX_MESSAGE: a message between the two
 * limits gets a TOO_BIG answer from the service; a larger one is dropped by nng, which
 * closes that connection (the sender's libsrtm refuses to send one in the first place).
 */
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "server.h"

typedef enum { W_RECV, W_SEND } worker_state;

typedef struct worker {
    srtm_server *srv;
    nng_ctx ctx;
    nng_aio *aio;
    worker_state state;
    service_worker *sw;
} worker;

struct srtm_server {
    nng_socket sock;
    nng_listener listener;
    bool sock_open;
    unsigned nworkers;
    worker *workers;
};

static void peer_of(nng_msg *msg, service_peer *peer)
{
    peer->uid = 0;
    peer->pid = 0;
    nng_pipe p = nng_msg_get_pipe(msg);
    uint64_t v = 0;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &v) == 0 && v <= UINT32_MAX)
        peer->uid = (uint32_t)v;
    if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &v) == 0 && v <= UINT32_MAX)
        peer->pid = (uint32_t)v;
}

static void worker_recv(worker *w)
{
    w->state = W_RECV;
    nng_ctx_recv(w->ctx, w->aio);
}

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
    peer_of(in, &peer);
    size_t n = service_worker_handle(w->sw, nng_msg_body(in), nng_msg_len(in), &peer);
    nng_msg_free(in);
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

static srtm_err listen_on(srtm_server *srv, const server_config *cfg)
{
    int rv = nng_listener_create(&srv->listener, srv->sock, cfg->url);
    if (rv != 0) {
        log_error("cannot listen on %s: %s", cfg->url, nng_strerror(rv));
        return SRTM_E_TRANSPORT;
    }
    if (strncmp(cfg->url, "ipc://", 6) == 0) {
        rv = nng_listener_set_int(srv->listener, NNG_OPT_IPC_PERMISSIONS, cfg->socket_mode);
        if (rv != 0) {
            log_error("cannot set permissions of %s: %s", cfg->url, nng_strerror(rv));
            return SRTM_E_TRANSPORT;
        }
    }
    rv = nng_listener_start(srv->listener, 0);
    if (rv == NNG_EADDRINUSE) {
        log_error("cannot listen on %s: another srtmd (or another program) is serving there",
                  cfg->url);
        return SRTM_E_TRANSPORT;
    }
    if (rv != 0) {
        log_error("cannot listen on %s: %s", cfg->url, nng_strerror(rv));
        return SRTM_E_TRANSPORT;
    }
    return SRTM_OK;
}

srtm_err server_start(srtm_service *s, const server_config *cfg, srtm_server **out)
{
    srtm_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = SRTM_E_TRANSPORT;
    int rv = nng_rep0_open(&srv->sock);
    if (rv != 0) {
        log_error("cannot open socket: %s", nng_strerror(rv));
        goto fail;
    }
    srv->sock_open = true;
    rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ, 2 * (size_t)SRTM_MAX_MESSAGE);
    if (rv != 0) {
        log_error("cannot set receive limit: %s", nng_strerror(rv));
        goto fail;
    }
    srv->workers = calloc(cfg->workers, sizeof(*srv->workers));
    if (srv->workers == NULL) {
        err = SRTM_E_NO_MEMORY;
        goto fail;
    }
    for (unsigned i = 0; i < cfg->workers; i++) {
        worker *w = &srv->workers[i];
        w->srv = srv;
        err = service_worker_new(s, &w->sw);
        if (err != SRTM_OK)
            goto fail;
        srv->nworkers = i + 1;
        if ((rv = nng_aio_alloc(&w->aio, worker_cb, w)) != 0 ||
            (rv = nng_ctx_open(&w->ctx, srv->sock)) != 0) {
            log_error("cannot set up worker: %s", nng_strerror(rv));
            err = SRTM_E_TRANSPORT;
            goto fail;
        }
    }
    err = listen_on(srv, cfg);
    if (err != SRTM_OK)
        goto fail;
    for (unsigned i = 0; i < srv->nworkers; i++)
        worker_recv(&srv->workers[i]);
    *out = srv;
    return SRTM_OK;
fail:
    server_free(srv);
    return err;
}

void server_free(srtm_server *srv)
{
    if (srv == NULL)
        return;
    /* Stop every aio first: after nng_aio_stop no callback runs any more. */
    for (unsigned i = 0; i < srv->nworkers; i++)
        if (srv->workers[i].aio != NULL)
            nng_aio_stop(srv->workers[i].aio);
    if (srv->sock_open)
        nng_close(srv->sock);
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
    free(srv);
}
