/*
 * The fleet verifier's attestation loop (docs/fleet.md, "The daemon"). One driver thread
 * claims due hosts from the store (store_claim_due, so several nodes share one database
 * without attesting a host twice at once), quotes each over nng with aio callbacks (no
 * thread per host), and hands the answers to a small pool of verification threads that
 * call srtm_verify (the trust rule lives there only) and record the outcome. Every thread
 * that touches the store has its own vstore connection.
 */
#ifndef SRTM_VERIFIERD_ATTEST_H
#define SRTM_VERIFIERD_ATTEST_H

#include <stddef.h>
#include <stdint.h>

#include <srtm/srtm.h>

#include "store.h"
#include "webhook.h"

#define ATTEST_INFLIGHT_MAX 10000u
#define ATTEST_WORKERS_MAX 256u
#define ATTEST_TIMEOUT_MS_MAX 600000
#define ATTEST_NONCE_LEN 32u

typedef struct attest_config {
    const char *store_url; /* store.h URL; every thread opens its own connection */
    const char *node;      /* this node's id in the leases (1..VS_NODE_MAX bytes) */
    unsigned max_inflight; /* attempts at once, 1..ATTEST_INFLIGHT_MAX */
    int timeout_ms;        /* per attempt: connect, send and answer, 1..ATTEST_TIMEOUT_MS_MAX */
    int64_t lease_s;       /* lease length; renewed every lease_s / 3; 3..VS_INTERVAL_MAX */
    unsigned workers;      /* verification threads, 1..ATTEST_WORKERS_MAX */
    /* Mutual TLS for hosts at tls+tcp:// addresses (docs/configuration.md, "TLS"): this
     * verifier's certificate and key and the CA of srtmd's certificates, PEM text kept by
     * the caller while the loop runs; all NULL: such hosts are unreachable. */
    const char *tls_cert_pem, *tls_key_pem, *tls_ca_pem;
    webhook *webhook; /* told of every verdict change (webhook.h); NULL: none */
    /* Never quote since a stored state, never verify with one: every attempt is a full
     * verification (the benchmark's comparison; docs/fleet.md, "Incremental attempts"). */
    bool full_only;
} attest_config;

/* Outcomes of an attempt, the index into attest_metrics.attempts. */
typedef enum attest_outcome {
    ATTEST_TRUSTED = 0,
    ATTEST_UNTRUSTED,
    ATTEST_UNREACHABLE,
    ATTEST_ERROR,
    ATTEST_OUTCOMES
} attest_outcome;

/* The kinds of the attempts whose answer was verified, by the report the verdict came
 * from: a full report, an incremental one, or a full one asked for at once after an
 * incremental answer the host's state could not judge (srtm_verify_result_needs_full). */
typedef enum attest_kind {
    ATTEST_KIND_FULL = 0,
    ATTEST_KIND_INCREMENTAL,
    ATTEST_KIND_RETRY,
    ATTEST_KINDS
} attest_kind;

/* The kind names of the metrics and of the attempt outcomes. */
const char *attest_kind_name(attest_kind k);

/* Upper bounds (milliseconds, inclusive) of the latency histogram's buckets; the last
 * bucket counts everything slower. */
#define ATTEST_LATENCY_BUCKETS 10u
extern const uint32_t attest_latency_le_ms[ATTEST_LATENCY_BUCKETS - 1];

/* Counters since the loop started; a snapshot, read with attest_metrics_get. */
typedef struct attest_metrics {
    uint64_t attempts[ATTEST_OUTCOMES];
    uint64_t kinds[ATTEST_KINDS];       /* verified attempts (trusted or untrusted) by kind */
    uint64_t kind_bytes[ATTEST_KINDS];  /* the bytes of their answers (both, for a retry) */
    uint64_t verdict_changes;  /* verdicts appended to the history */
    uint64_t latency_ms_sum;   /* claim to recorded outcome */
    uint64_t latency_count;
    uint64_t latency_buckets[ATTEST_LATENCY_BUCKETS]; /* not cumulative */
    uint64_t inflight;         /* attempts claimed and not yet recorded */
    uint64_t db_errors;        /* store calls that failed */
} attest_metrics;

/* The verdict names written to the store, by outcome. */
const char *attest_outcome_name(attest_outcome o);

typedef struct attest_loop attest_loop;

/*
 * Check cfg, open the store connections and start the driver and the workers. The caller
 * owns *out and ends it with attest_stop. On failure err (errlen bytes) says why.
 */
VS_WUR srtm_err attest_start(const attest_config *cfg, attest_loop **out, char *err,
                             size_t errlen);

/* Cancel the attempts in flight (they record nothing), release every lease this node
 * holds, join the threads and free l. NULL-safe. */
void attest_stop(attest_loop *l);

/* A snapshot of l's counters into *out; safe from any thread while l runs. */
void attest_metrics_get(const attest_loop *l, attest_metrics *out);

/* m in Prometheus text (docs/fleet.md, "Metrics"): at most cap bytes into buf, the count
 * into *len; 0, or -1 when it does not fit. */
int attest_metrics_text(const attest_metrics *m, char *buf, size_t cap, size_t *len);

#endif
