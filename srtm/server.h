/*
 * srtmd's transport: an nng rep0 socket served by a pool of contexts, each an
 * asynchronous receive -> handle -> send loop, so many clients are served at once and a
 * slow client holds up nobody but itself.
 */
#ifndef SRTM_SERVER_H
#define SRTM_SERVER_H

#include <stdint.h>

#include "common.h"
#include "service.h"

typedef struct srtm_server srtm_server;

typedef struct srtm_quoter srtm_quoter;

typedef struct server_config {
    const char *url;     /* ipc:// (mutations and reads) */
    srtm_quoter *quoter; /* signs reports, owned by the server from server_start on
                          * (also on failure); NULL without a TPM: quotes are refused */
    int socket_mode;     /* permission bits of an ipc:// socket file */
    unsigned workers;    /* concurrent requests in flight */
    bool read_only;      /* refuse every mutation (a tcp:// listener for verifiers) */
    bool borrow_quoter;  /* use quoter without owning it: free this server before the
                          * server that owns it */
} server_config;

/* Listen and start serving s. The caller owns *out; srtm_server_free() stops it. */
SRTM_WUR srtm_err server_start(srtm_service *s, const server_config *cfg, srtm_server **out);

/* Stop serving (in-flight requests are abandoned), close the socket, free. NULL is fine. */
void server_free(srtm_server *srv);

/* How often the watchdog had to replace a listener that stopped accepting. */
unsigned server_listener_restarts(const srtm_server *srv);

#endif /* SRTM_SERVER_H */
