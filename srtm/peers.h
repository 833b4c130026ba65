/*
 * The credentials of each connection's peer, read once when srtmd takes the connection in,
 * so that a request costs a lookup instead of two getsockopt calls. Pure: keyed by nng's
 * pipe id, no I/O. The server adds an entry when a connection arrives (nng's ADD_PRE
 * event) and removes it when the connection is gone (REM_POST); nng releases a pipe id only
 * after REM_POST, so an id found here is that of the live connection it was read from.
 */
#ifndef SRTM_PEERS_H
#define SRTM_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct peer_table peer_table;

/* A connection's peer: 0 when unknown (not an ipc:// connection). */
typedef struct peer_cred {
    uint32_t uid, pid;
} peer_cred;

/* An empty table; the caller owns it (peers_free). */
SRTM_WUR srtm_err peers_new(peer_table **out);
/* Frees every entry and the table; NULL is fine. */
void peers_free(peer_table *t);

/* Enter (or replace) connection id's peer. SRTM_E_NO_MEMORY leaves the table unchanged:
 * that connection's requests are not found and the caller asks the socket instead. */
SRTM_WUR srtm_err peers_add(peer_table *t, uint32_t id, peer_cred cred);
/* Forget connection id; nothing happens when it is not there. */
void peers_remove(peer_table *t, uint32_t id);
/* Connection id's peer into *out; false (and *out untouched) when it is not there. */
SRTM_WUR bool peers_find(peer_table *t, uint32_t id, peer_cred *out);
/* The connections entered and not removed. */
size_t peers_count(peer_table *t);

#endif /* SRTM_PEERS_H */
