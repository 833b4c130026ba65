/*
 * srtmd's tls+tcp listener: mutual TLS for remote verifiers (docs/configuration.md, "TLS").
 * srtmd presents its certificate (tls-cert, tls-key) and takes in only clients whose
 * certificate chains to tls-ca. The listener watchdog probes the listener as a client too:
 * it gets a key and a self-signed certificate of its own, made at start and never written
 * anywhere, which the listener trusts besides tls-ca.
 */
#ifndef SRTM_TLS_H
#define SRTM_TLS_H

#include <sys/types.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "common.h"

typedef struct server_tls {
    nng_tls_config *listen; /* the listener's: server mode, client certificates required */
    nng_tls_config *probe;  /* the watchdog probe's: client mode, with the probe's own key */
} server_tls;

/* The largest certificate or CA file read. */
#define TLS_FILE_MAX (1u << 20)

/*
 * Read the three PEM files (as root, before the privilege drop) and build both configs.
 * The key file must be a regular file (not a symbolic link) owned by root, srtmd's euid or
 * owner_ok, that group and others cannot read or write; its bytes are wiped after use. On
 * failure nothing is kept and the log says which file and why.
 */
SRTM_WUR srtm_err server_tls_load(const char *cert_file, const char *key_file,
                                  const char *ca_file, uid_t owner_ok, server_tls *out);
void server_tls_free(server_tls *t); /* NULL-safe, and safe on a zeroed one */

#endif
