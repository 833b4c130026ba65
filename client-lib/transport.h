/*
 * libsrtm's transport: one byte-stream connection to srtmd speaking the SP wire protocol
 * of a REQ0 peer itself (docs/protocol.md, "Transport"), so that every byte of a request
 * or an answer lives in a buffer libsrtm owns and wipes. A socket path is a plain Unix
 * socket read and written by the calling thread; abstract:// and tcp:// use nng's stream
 * API. Either way the bytes are written from and read into those buffers directly.
 */
#ifndef SRTM_TRANSPORT_H
#define SRTM_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include <srtm/srtm.h>

typedef struct transport transport;

/* Bytes a request buffer keeps free in front of its body for the framing and the
 * request id; tp_call fills them in. */
#define TP_HEADROOM 13u

/*
 * Resolve url (ipc://PATH, abstract://NAME, tcp://HOST:PORT, tcp4://, tcp6://, or an
 * absolute path taken as ipc://PATH; tls+tcp:// through tp_open_tls) and connect. On success the caller owns *out
 * (tp_close). On failure msg (size bytes) says where and why, naming the resolved URL.
 */
srtm_err tp_open(const char *url, int32_t timeout_ms, transport **out, char *msg, size_t size);

/* A tls+tcp:// connection's files (PEM): this client's certificate and key, the CA
 * certificates srtmd's certificate must chain to, and the name it must carry (NULL: the
 * URL's host). */
typedef struct tp_tls {
    const char *cert_file, *key_file, *ca_file, *server_name;
} tp_tls;

/* As tp_open; tls is required for a tls+tcp:// url and refused for another. */
srtm_err tp_open_tls(const char *url, int32_t timeout_ms, const tp_tls *tls, transport **out,
                     char *msg, size_t size);

/* Close the connection and free t; accepts NULL. */
void tp_close(transport *t);

/* Time allowed for sending a request and, separately, for its answer. */
void tp_set_timeout(transport *t, int32_t timeout_ms);

/*
 * Send buf[TP_HEADROOM .. TP_HEADROOM + body_len) as one request and wait for its answer.
 * buf stays the caller's (wipe and free it). On SRTM_OK *ans (at most max_answer bytes,
 * refused before allocating when larger) is a heap buffer the caller owns, wipes and
 * frees, of which the answer's body is *ans + 4, *ans_len - 4 bytes. A connection that
 * broke earlier is dialled again first; a request is never sent twice. On failure msg
 * says why.
 */
srtm_err tp_call(transport *t, uint8_t *buf, size_t body_len, size_t max_answer, uint8_t **ans,
                 size_t *ans_len, char *msg, size_t size);

#endif
