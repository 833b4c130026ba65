/*
 * The service: srtmd's request handling without any transport. A request is bytes in,
 * a response is bytes out; srtm/server.c moves them over nng, the tests and fuzzers call
 * it directly. One mutex covers the CCR table: it serialises every mutation (which is
 * what makes the global sequence number a total order) and every read (so a read never
 * sees half a batch). A quote takes only a cut under the mutex; its report is read after
 * the mutex is released, as the table was at the cut (report.h).
 */
#ifndef SRTM_SERVICE_H
#define SRTM_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "report.h"

typedef struct srtm_service srtm_service;
typedef struct service_worker service_worker;

/* What the transport knows about the sender of a request. */
typedef struct service_peer {
    uint32_t uid, pid; /* 0 when unknown */
} service_peer;

/* A service whose component 0 (the platform) is administered by the holder of admin. */
SRTM_WUR srtm_err service_new(const srtm_cap *admin, srtm_service **out);
void service_free(srtm_service *s);

/*
 * What one peer may make srtmd store (docs/protocol.md, "Limits"). A change that would
 * go past one is refused with SRTM_E_QUOTA and changes nothing; reads and quotes are
 * never refused by a quota. Log bytes and the memory budget count accounted bytes
 * (ccr.h: ccr_entry_cost, ccr_component_cost).
 */
typedef struct service_quota {
    uint64_t log_entries_per_component, log_bytes_per_component;
    uint64_t log_entries_per_ccr, log_bytes_per_ccr;
    uint64_t children_per_component; /* component 0 included */
    uint64_t depth;                  /* component 0 is at depth 0 */
    uint64_t components_per_uid;     /* by the registering peer's uid */
    uint64_t memory_budget;          /* every entry and component */
} service_quota;

/* The defaults (docs/configuration.md). */
void service_quota_defaults(service_quota *q);

/* No limit at all: for benchmarks and tests that go past the defaults on purpose. */
void service_quota_unlimited(service_quota *q);

/* Replace the quotas; before serving (a service starts with the defaults). */
void service_set_quota(srtm_service *s, const service_quota *q);
/*
 * Hold srtmd's resident memory to the budget too: rss() gives the process's resident
 * bytes (srtmd reads /proc/self/statm). From this call on, a change is also refused when
 * the resident memory would grow past memory_budget: its growth since, plus the change's
 * accounted bytes times the ratio of that growth to the bytes stored since (at least 2,
 * at most 64, from the first SERVICE_RSS_STEP stored: decoding, log segments and the
 * allocator take more than they account). rss
 * is sampled at
 * most every SERVICE_RSS_PERIOD_MS, and whenever the stored bytes grew by
 * SERVICE_RSS_STEP since the last sample. Not set (tests, fuzzers): accounted bytes only.
 */
#define SERVICE_RSS_PERIOD_MS 10
#define SERVICE_RSS_STEP (1u << 20)
void service_set_rss_probe(srtm_service *s, uint64_t (*rss)(void));

/* Per-thread (per nng context) state: decode arena and hasher. Not shared. */
SRTM_WUR srtm_err service_worker_new(srtm_service *s, service_worker **out);
void service_worker_free(service_worker *w);

/*
 * Handle one request of len bytes. Always prepares a response (an error status for bad
 * input; state is unchanged then) and returns its packed size; copy it out with
 * service_worker_pack() before the next call on w. Returns 0 only if not even an
 * error response could be built (out of memory).
 */
size_t service_worker_handle(service_worker *w, const uint8_t *req, size_t len,
                             const service_peer *peer);

/* Pack the prepared response into out (the size returned by handle), then wipe any
 * secret it held from the worker's memory. */
void service_worker_pack(service_worker *w, uint8_t *out);

/* From now on w refuses every operation that changes state (SRTM_E_DENIED), whatever
 * capability comes with it: for listeners reachable from other machines. */
void service_worker_set_read_only(service_worker *w);

/* Drop the prepared response without packing it, wiping any secret it held. */
void service_worker_discard(service_worker *w);

/* Status of the prepared response (for logging and tests). */
srtm_err service_worker_status(const service_worker *w);

/* Convenience for tests and fuzzers: handle and pack into a new malloc'd buffer. */
SRTM_WUR srtm_err service_call(service_worker *w, const uint8_t *req, size_t len,
                               const service_peer *peer, uint8_t **resp_out, size_t *resp_len_out);

/*
 * Who signs reports: this srtmd run and the TPM boot of its IRK certificate. can_quote
 * is false when srtmd runs without a TPM; quotes are then refused (SRTM_E_UNSUPPORTED).
 */
void service_set_identity(srtm_service *s, const report_identity *id, bool can_quote);

/*
 * A quote on a table of more than SERVICE_BUILD_FROM components can take long to answer
 * (its closure and report are built after the lock). A worker set to defer them
 * (service_worker_defer_large_quotes) stops such a quote after its cut:
 * service_worker_handle() then returns 0 and service_worker_build_pending() is true; the
 * caller runs service_worker_build_quote() when it likes, on any thread, and goes on
 * with its result as with service_worker_handle()'s.
 */
#define SERVICE_BUILD_FROM 1024u
void service_worker_defer_large_quotes(service_worker *w);
bool service_worker_build_pending(const service_worker *w);
size_t service_worker_build_quote(service_worker *w);


/* The serialised CCR report of the last quote request handled by w (NULL if none);
 * valid until the next call on w. */
const uint8_t *service_worker_report(const service_worker *w, size_t *len_out);
/* SHA-256 of that report when the service computed it (a report it keeps for other
 * quotes), else NULL: the signer then hashes the report itself. */
const uint8_t *service_worker_report_digest(const service_worker *w);

/* One TPM quote as the quoter produced it (pointers valid during the call). */
typedef struct service_tpm_quote {
    const uint8_t *attest;
    size_t attest_len;
    const uint8_t *sig;
    size_t sig_len;
    uint32_t pcr_mask;
    const uint8_t (*pcr_values)[SRTM_DIGEST_LEN]; /* indexed by PCR number */
} service_tpm_quote;

/* What signs a report: the quoter's results and the proof period's certificate. */
typedef struct service_signed {
    srtm_err err; /* SRTM_OK, or why signing failed */
    const uint8_t *irk_sig;
    size_t irk_sig_len;
    service_tpm_quote quote, certificate;
    const uint8_t *irk_public;
    size_t irk_public_len;
    /* A batched quote (leaf_count > 1): this request's leaf and its inclusion path. */
    uint32_t leaf_index, leaf_count;
    const uint8_t (*path)[SRTM_DIGEST_LEN];
    size_t path_len;
    const char *message; /* with err: the client's message (NULL: a generic one) */
} service_signed;

/* true when the request just handled is a quote whose report awaits signing: the
 * transport passes service_worker_report() to the quoter instead of answering. */
bool service_worker_quote_pending(const service_worker *w);

/* The nonce of the pending quote (valid until the next handle on w). */
const uint8_t *service_worker_quote_nonce(const service_worker *w, size_t *len_out);

/* Complete the pending quote: build the Evidence answer (or the error of s->err) and
 * return its packed size, as service_worker_handle() does. */
size_t service_worker_finish_quote(service_worker *w, const service_signed *s);
/* Instead of building it: answer a deferred quote (service_worker_build_pending) with
 * s's error, as service_worker_finish_quote does. */
size_t service_worker_build_refuse(service_worker *w, const service_signed *s);

/* srtmd's part of a Status answer (docs/protocol.md, "status"): what the service itself
 * does not know. Strings must stay valid while srtmd serves. */
#define SERVICE_STATUS_MAX_LISTENERS 4u
typedef struct service_status_extra {
    const char *irk_scheme; /* "" without a TPM */
    uint64_t quote_jobs, tpm_quotes;
    uint64_t quotes_waiting; /* joint quotes waiting for the TPM */
    bool tpm_ok;             /* the last TPM quote succeeded (or none was made yet) */
    uint32_t listener_restarts;
    const char *listeners[SERVICE_STATUS_MAX_LISTENERS];
    size_t n_listeners;
} service_status_extra;

/* Fills *out (zeroed by the caller; a NULL irk_scheme reads as ""); called by worker
 * threads, without the service's lock. */
typedef void (*service_status_fn)(void *arg, service_status_extra *out);

/* Where status answers get srtmd's part; before serving. Without one they hold the
 * service's counts alone. */
void service_set_status_source(srtm_service *s, service_status_fn fn, void *arg);

/* Number of components and the global sequence number, read under the lock. */
void service_stats(srtm_service *s, size_t *components_out, uint64_t *seq_out);

#endif /* SRTM_SERVICE_H */
