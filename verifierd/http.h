/*
 * The fleet verifier's HTTP API, Prometheus metrics and status page (docs/fleet.md, "HTTP
 * API" and "Metrics"), served by GNU libmicrohttpd from the store (store.h). The module
 * opens its own store connection; connections are served on threads of its own, one
 * request at a time against that connection (a mutex covers every store call).
 */
#ifndef SRTM_VERIFIERD_HTTP_H
#define SRTM_VERIFIERD_HTTP_H

#include <stddef.h>

#include <srtm/srtm.h>

typedef struct vhttp vhttp;

typedef struct vhttp_config {
    const char *listen_url; /* http://HOST:PORT; PORT 0 picks a free port (vhttp_port) */
    const char *store_url;  /* as store_open takes it */
    const char *node;       /* this verifier node's id, shown on the status page */
    /* Appends the attestation loop's own counters, in Prometheus text, to /metrics: at most
     * cap bytes into buf, the count into *len; 0 on success. May be NULL. Called from the
     * server's threads, concurrently with the loop. */
    int (*metrics_text)(void *ctx, char *buf, size_t cap, size_t *len);
    void *metrics_ctx;
} vhttp_config;

/* Open the store and start serving on cfg->listen_url. *out is owned by the caller and
 * released with vhttp_stop. SRTM_E_INVALID: a bad config or URL; SRTM_E_IO: the store
 * would not open; SRTM_E_TRANSPORT: the address could not be served. */
__attribute__((warn_unused_result)) srtm_err vhttp_start(const vhttp_config *cfg, vhttp **out);
/* Stop listening, close every connection and wait for their threads (a request in flight
 * finishes its store call first), close the store, free v. NULL-safe. */
void vhttp_stop(vhttp *v);
/* The TCP port v listens on (the one picked when listen_url said port 0). */
unsigned vhttp_port(const vhttp *v);

#endif
