/*
 * The fleet verifier's storage: hosts, shared policies, the last verified state and the
 * verdict history of every host, its attempts, and the leases that spread hosts over
 * several verifier nodes on one database. One interface, two back-ends chosen by the URL
 * (sqlite:PATH, or a libpq URI postgresql://... / postgres://...); callers never see which.
 *
 * Conventions: every function returns an srtm_err (SRTM_OK is 0); out-parameters are last
 * and written only on success; strings passed in are NUL-terminated and bounded by the
 * VS_*_MAX limits below (SRTM_E_TOO_BIG past them, SRTM_E_INVALID when empty); an unknown
 * host or policy is SRTM_E_NO_COMPONENT ("not_found"), a duplicate SRTM_E_EXISTS, a
 * database failure SRTM_E_IO and a lost PostgreSQL connection SRTM_E_TRANSPORT (the next
 * call reconnects). store_errmsg() says what failed. Times are Unix seconds.
 * A vstore is one database connection: not thread-safe; give each thread its own.
 */
#ifndef SRTM_VERIFIERD_STORE_H
#define SRTM_VERIFIERD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <srtm/srtm.h>

#define VS_NAME_MAX 128u            /* host and policy names */
#define VS_ADDR_MAX 512u            /* host address (URL) */
#define VS_AIK_MAX 8192u            /* AIK public key, PEM text */
#define VS_POLICY_MAX (8u << 20)    /* policy body (JSON text) */
#define VS_VERDICT_MAX 32u          /* verdict string */
#define VS_REASONS_MAX (64u << 10)  /* reasons (JSON text) */
#define VS_NODE_MAX 64u             /* verifier node id */
#define VS_OUTCOME_MAX 256u         /* attempt outcome */
#define VS_INSTANCE_MAX 64u         /* srtm instance bytes of a boot identity */
#define VS_STATE_MAX (16u << 20)    /* opaque incremental-verification state */
#define VS_INTERVAL_MAX 31536000    /* one year, in seconds */
#define VS_PAGE_MAX 10000u          /* rows per page or claim */

#define VS_WUR __attribute__((warn_unused_result))

typedef struct vstore vstore;

typedef struct vs_host {
    int64_t id;
    char name[VS_NAME_MAX + 1];
    char address[VS_ADDR_MAX + 1];
    char aik_pem[VS_AIK_MAX + 1];
    char policy[VS_NAME_MAX + 1]; /* the name of a stored policy */
    int64_t interval_s;           /* 1..VS_INTERVAL_MAX */
    int64_t added;                /* set by store_host_add */
    /* Read-only here, maintained by the store: */
    char verdict[VS_VERDICT_MAX + 1]; /* current verdict, "" before the first */
    int64_t last_attempt;             /* 0: never attempted */
    char last_node[VS_NODE_MAX + 1];
    char last_outcome[VS_OUTCOME_MAX + 1];
    int64_t next_due;
    char lease_owner[VS_NODE_MAX + 1]; /* "" when free */
    int64_t lease_expiry;
} vs_host;

typedef struct vs_policy {
    char name[VS_NAME_MAX + 1];
    char version[2 * SRTM_DIGEST_LEN + 1]; /* SHA-256 hex of the body, set by the store */
    int64_t updated;
    char *body; /* NUL-terminated, owned by the vs_policy; vs_policy_free releases it */
    size_t body_len;
} vs_policy;

/* Last verified state of a host: the boot identity, how far it was verified, and an opaque
 * blob for incremental verification. */
typedef struct vs_state {
    uint8_t instance[VS_INSTANCE_MAX];
    size_t instance_len;
    int64_t reset_count;
    int64_t restart_count;
    int64_t seq;  /* sequence number verified up to */
    uint8_t *blob; /* owned by the vs_state; vs_state_clear releases it; may be NULL */
    size_t blob_len;
} vs_state;

typedef struct vs_verdict {
    int64_t time;
    char verdict[VS_VERDICT_MAX + 1];
    char *reasons; /* NUL-terminated JSON text, owned; vs_verdicts_free releases it */
} vs_verdict;

typedef struct vs_name {
    char s[VS_NAME_MAX + 1];
} vs_name;

/* Open (creating or migrating the schema) the store at url; *out is owned by the caller and
 * released with store_close. On failure err (errlen bytes, may be 0) says why. */
VS_WUR srtm_err store_open(const char *url, vstore **out, char *err, size_t errlen);
void store_close(vstore *s); /* NULL-safe */
/* The message of the last failure on s; never NULL. */
const char *store_errmsg(const vstore *s);
/* "sqlite" or "postgresql". */
const char *store_backend(const vstore *s);

/* ---- policies ---- */
/* Insert or replace policy name with body (body_len bytes of JSON text, no NUL). */
VS_WUR srtm_err store_policy_put(vstore *s, const char *name, const char *body, size_t body_len,
                          int64_t now);
/* *out filled; its body is owned by *out (vs_policy_free). */
VS_WUR srtm_err store_policy_get(vstore *s, const char *name, vs_policy *out);
void vs_policy_free(vs_policy *p); /* releases p->body; NULL-safe */
/* Only the version (SHA-256 hex of the body) of policy name: a cache of parsed policies
 * checks it without reading the body. */
VS_WUR srtm_err store_policy_version(vstore *s, const char *name,
                                     char out[2 * SRTM_DIGEST_LEN + 1]);
/* Names of the policies after `after` ("" for the first page), by name, at most max. */
VS_WUR srtm_err store_policy_list(vstore *s, const char *after, vs_name *out, size_t max, size_t *n);

/* ---- hosts ---- */
/* Add h (name, address, aik_pem, policy, interval_s; the rest is ignored) at time now; the
 * host is due at once. Its id is written to *id_out (may be NULL). */
VS_WUR srtm_err store_host_add(vstore *s, const vs_host *h, int64_t now, int64_t *id_out);
/* Remove the host with its state, history and lease. */
VS_WUR srtm_err store_host_remove(vstore *s, const char *name);
VS_WUR srtm_err store_host_get(vstore *s, const char *name, vs_host *out);
/* Hosts with names after `after` ("" for the first page), by name, at most max (<=
 * VS_PAGE_MAX) into out[]; the count into *n. */
VS_WUR srtm_err store_host_list(vstore *s, const char *after, vs_host *out, size_t max, size_t *n);

/* ---- last verified state ---- */
VS_WUR srtm_err store_state_put(vstore *s, const char *host, const vs_state *st);
/* SRTM_E_NO_COMPONENT when the host has no state yet. out->blob is owned by *out. */
VS_WUR srtm_err store_state_get(vstore *s, const char *host, vs_state *out);
void vs_state_clear(vs_state *st); /* releases st->blob; NULL-safe */
/* Whether st is within what the store keeps (instance VS_INSTANCE_MAX, blob VS_STATE_MAX
 * bytes); store_state_put refuses any other with SRTM_E_TOO_BIG. */
bool vs_state_fits(const vs_state *st);

/* ---- verdicts ---- */
/* Record a verdict change: one history row and the host's current verdict and reasons, in
 * one transaction. reasons is JSON text ("" allowed). */
VS_WUR srtm_err store_verdict_append(vstore *s, const char *host, int64_t time, const char *verdict,
                              const char *reasons);
/* The host's current verdict ("" and reasons "" before the first); reasons owned by out. */
VS_WUR srtm_err store_verdict_current(vstore *s, const char *host, vs_verdict *out);
/* The host's history, newest first, skipping `skip` changes, at most max. */
VS_WUR srtm_err store_verdict_history(vstore *s, const char *host, size_t skip, vs_verdict *out,
                               size_t max, size_t *n);
void vs_verdicts_free(vs_verdict *v, size_t n); /* releases the reasons of v[0..n) */

/* ---- attempts and leases ----
 * The lease rule: a host is claimed by one node at a time. store_claim_due hands a host to a
 * node only when it is due (next_due <= now) and its lease is free or expired, setting the
 * lease to (node, now + lease_s) in one transaction, so two nodes never hold one host.
 * store_attempt records the attempt, makes the host due again one interval later and frees
 * the lease. A node that dies leaves leases that expire after lease_s; another node then
 * takes the host over. */
VS_WUR srtm_err store_attempt(vstore *s, const char *host, const char *node, int64_t now,
                       const char *outcome);
/* As store_attempt, but the host is due again at next_due (now < next_due <= now +
 * VS_INTERVAL_MAX, SRTM_E_INVALID otherwise) rather than one interval later: the daemon's
 * jitter and back-off. */
VS_WUR srtm_err store_attempt_next(vstore *s, const char *host, const char *node, int64_t now,
                            const char *outcome, int64_t next_due);
/* What an attempt leaves: its verdict and reasons (appended to the history when they
 * differ from the current ones), the verifier state of evidence whose checks passed (NULL:
 * none; stored when it differs from the stored one), and store_attempt_next's outcome and
 * next due time. */
typedef struct vs_record {
    int64_t now, next_due;
    const char *verdict, *reasons, *outcome;
    const vs_state *state;
} vs_record;
/* Record an attempt of host by node in one transaction, only while node holds the host's
 * lease: SRTM_E_DENIED, with nothing written, once the lease expired and another node
 * claimed the host (or the host is gone). So a node that lost a lease (a stall, a
 * partition from the store) never writes an older verdict or state over those of the node
 * that took the host over. *changed (may be NULL): whether a verdict was appended;
 * previous (may be NULL): the verdict before. */
VS_WUR srtm_err store_record(vstore *s, const char *host, const char *node, const vs_record *r,
                             bool *changed, char previous[VS_VERDICT_MAX + 1]);
VS_WUR srtm_err store_claim_due(vstore *s, const char *node, int64_t now, int64_t lease_s,
                         size_t limit, vs_name *out, size_t *n);
/* Extend to now + lease_s the leases node holds of the n hosts named (one transaction);
 * leases node holds of other hosts are left to expire. The heartbeat of a node names the
 * hosts it is attempting, so that a lease it holds without knowing it (a claim whose
 * answer was lost) expires instead of being renewed for ever. The count into *renewed
 * (may be NULL). */
VS_WUR srtm_err store_renew_hosts(vstore *s, const char *node, const vs_name *hosts, size_t n,
                                  int64_t now, int64_t lease_s, size_t *renewed);
/* Free the lease of host if node holds it (host NULL: every lease node holds). */
VS_WUR srtm_err store_release(vstore *s, const char *node, const char *host);
/* Hosts whose last attempt is older than two intervals (never attempted: added more than two
 * intervals ago), by name, at most max. */
VS_WUR srtm_err store_stale(vstore *s, int64_t now, vs_name *out, size_t max, size_t *n);

#endif
