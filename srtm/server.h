/*
 * srtmd's transport: an nng rep0 socket served by a pool of contexts, each an
 * asynchronous receive -> handle -> send loop, so many clients are served at once and a
 * slow client holds up nobody but itself.
 */
#ifndef SRTM_SERVER_H
#define SRTM_SERVER_H

#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "common.h"
#include "service.h"

typedef struct srtm_server srtm_server;

typedef struct srtm_quoter srtm_quoter;

typedef struct server_config {
    const char *url;     /* ipc:// (mutations and reads) */
    srtm_quoter *quoter; /* signs reports, owned by the server from server_start on
                          * (also on failure); NULL without a TPM: quotes are refused */
    int socket_mode;     /* permission bits of an ipc:// socket file */
    unsigned workers;    /* concurrent requests in flight, and the most quotes waiting for
                          * the quoter; workers/4 (at least 2) more contexts are kept for
                          * other requests, further quotes are refused (SRTM_E_TPM) */
    bool read_only;      /* refuse every mutation (a tcp:// listener for verifiers) */
    bool borrow_quoter;  /* use quoter without owning it: free this server before the
                          * server that owns it */
    uid_t owner_ok;      /* besides root and srtmd's euid, who may own the socket and its
                          * directory (the --user srtmd drops to); 0 for none */
    /* A tls+tcp:// url: the listener's TLS configuration and the watchdog probe's (tls.h);
     * the caller keeps both alive until server_free returns. NULL otherwise. */
    nng_tls_config *tls, *probe_tls;
} server_config;

/*
 * For an ipc:// url (others pass): refuse, with a message, a socket directory that is not
 * root's, srtmd's or owner_ok's, or that group or others may write without the sticky bit;
 * refuse anything at the path that is not a socket, or that belongs to another user, or a
 * socket where a srtmd (or anything else) listens. A stale socket (connect refused) is
 * removed, with a warning. Nothing else is removed or changed.
 */
SRTM_WUR srtm_err server_check_path(const char *url, uid_t owner_ok);

/*
 * Listen for s, but take no request yet: connections are accepted and their requests wait
 * in nng until server_serve, so that srtmd answers nothing before it is isolated (the
 * privilege drop and the system call filter). The caller owns *out; server_free() stops it.
 */
SRTM_WUR srtm_err server_start(srtm_service *s, const server_config *cfg, srtm_server **out);

/* Start answering requests (the workers and the listener watchdog). On failure the
 * caller frees srv. A second call does nothing. */
SRTM_WUR srtm_err server_serve(srtm_server *srv);

/* Stop serving (in-flight requests are abandoned), close the socket, free. NULL is fine. */
void server_free(srtm_server *srv);

/* How often the watchdog had to replace a listener that stopped accepting. */
unsigned server_listener_restarts(const srtm_server *srv);

#endif /* SRTM_SERVER_H */
