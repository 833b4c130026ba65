/*
 * Verdict-change webhook of the fleet verifier (docs/fleet.md, "Webhook"). Each verdict
 * change the loop appends to a host's history is also POSTed, as one JSON object, to an
 * operator's URL, from a thread of its own: the attestation loop never waits for the
 * receiver. The history in the store stays the record; the webhook is a notification, so
 * an event that cannot be delivered (a full queue, a receiver down after every retry) is
 * counted and logged, never kept.
 *
 * With a secret, every request carries X-Srtm-Signature: sha256=HEX, the HMAC-SHA256 of
 * the exact body under the secret, so that the receiver can tell the events are ours.
 */
#ifndef SRTM_VERIFIERD_WEBHOOK_H
#define SRTM_VERIFIERD_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define WEBHOOK_QUEUE_MAX 65536u
#define WEBHOOK_SECRET_MIN 16u   /* bytes of the HMAC key, at least */
#define WEBHOOK_SECRET_MAX 1024u

typedef struct webhook_config {
    const char *url;       /* http:// or https://; nothing else is fetched */
    const char *ca_file;   /* https: the CA bundle to trust; NULL: the system's */
    const uint8_t *secret; /* HMAC key (copied and wiped at stop); NULL: unsigned */
    size_t secret_len;     /* WEBHOOK_SECRET_MIN..WEBHOOK_SECRET_MAX when secret is set */
    unsigned queue_max;    /* events waiting at most, 1..WEBHOOK_QUEUE_MAX (0: 1024) */
    int timeout_ms;        /* per request (0: 5000) */
    unsigned attempts;     /* per event, 1..10 (0: 3); 0.5 s, 1 s, 2 s ... between */
} webhook_config;

typedef struct webhook webhook;

/* Check cfg and start the sender. On failure err says why. */
SRTM_WUR srtm_err webhook_start(const webhook_config *cfg, webhook **out, char *err,
                                size_t errlen);

/* Stop the sender (an event being sent is finished or times out; the queued ones are
 * dropped and counted), wipe the secret, free w. NULL-safe. */
void webhook_stop(webhook *w);

/*
 * Queue the event "host changed from previous (NULL or "": its first verdict) to verdict
 * at `at` (seconds since the epoch) with reasons (the JSON text the history stores; ""
 * for none)". Never blocks on the network; a full queue drops the event (counted).
 * NULL w: nothing.
 */
void webhook_notify(webhook *w, const char *node, const char *host, const char *previous,
                    const char *verdict, const char *reasons, int64_t at);

typedef struct webhook_counts {
    uint64_t sent;    /* answered 2xx */
    uint64_t failed;  /* every attempt failed (no answer, or not 2xx) */
    uint64_t dropped; /* not queued (queue full) or still queued at stop */
    uint64_t queued;  /* waiting now */
} webhook_counts;

void webhook_counts_get(webhook *w, webhook_counts *out);

/* The counters as Prometheus text (docs/fleet.md, "Metrics") appended at buf + *len;
 * 0, or -1 when cap is too small. */
int webhook_metrics_text(webhook *w, char *buf, size_t cap, size_t *len);

/*
 * Read a secret file: at most WEBHOOK_SECRET_MAX bytes after one trailing newline is
 * dropped, at least WEBHOOK_SECRET_MIN, owned by this user and readable by nobody else
 * (mode & 077 == 0). The caller wipes and frees *out. On failure err says why.
 */
SRTM_WUR srtm_err webhook_read_secret(const char *path, uint8_t **out, size_t *len_out,
                                      char *err, size_t errlen);

#endif
