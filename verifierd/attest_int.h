/*
 * Private to the attestation loop: an attempt, the policy cache and the loop itself,
 * shared by attest.c (the driver and the nng side) and attest_record.c (the verification
 * threads: srtm_verify and what is written to the store).
 */
#ifndef SRTM_VERIFIERD_ATTEST_INT_H
#define SRTM_VERIFIERD_ATTEST_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <nng/nng.h>

#include "attest.h"

/* A parsed policy, shared by every attempt of every host naming it at that version.
 * refs and the list links are covered by attest_loop.lock; the policy itself is
 * immutable (srtm.h: usable by many threads at once). */
typedef struct pcache {
    struct pcache *next;
    char name[VS_NAME_MAX + 1];
    char version[2 * SRTM_DIGEST_LEN + 1];
    srtm_verifier_policy *policy; /* NULL: the body did not parse, msg says why */
    char msg[256];
    unsigned refs;  /* the cache's own (while listed) plus one per attempt */
    bool listed;
} pcache;

typedef enum { PH_SEND, PH_RECV } attempt_phase;

/* One attempt at one host, from its claim to its recorded outcome. */
typedef struct attempt {
    struct attempt *prev, *next; /* in flight (loop.flying) or queued (loop.done) */
    struct attempt *held_prev, *held_next; /* on loop.held from claim to free */
    bool overdue;          /* running too long: its lease is no longer renewed (lock) */
    struct attest_loop *l;
    char host[VS_NAME_MAX + 1];
    char aik_pem[VS_AIK_MAX + 1];
    int64_t interval_s;
    bool was_unreachable;  /* the host's last outcome, for the back-off */
    int64_t last_delay_s;  /* its next_due - last_attempt then */
    pcache *pol;
    /* Incremental verification (docs/fleet.md, "Incremental attempts"): the host's stored
     * state (NULL: none, or cfg.full_only), and the report the quote asks since (seq 0: a
     * full quote). retried: the full quote after an incremental answer the state could not
     * judge was sent; answer_bytes: every answer of the attempt. */
    srtm_verify_state *state;
    uint8_t since_instance[SRTM_INSTANCE_LEN];
    uint64_t since_seq;
    bool retried;
    uint64_t answer_bytes;
    uint8_t nonce[ATTEST_NONCE_LEN];
    nng_socket sock;
    nng_ctx ctx;
    nng_aio *aio;
    bool opened;           /* sock and ctx open */
    attempt_phase phase;
    uint64_t deadline_ms; /* attest_now_ms() by which the answer must be in */
    int rv;                /* nng's result: 0 with answer, else the failure */
    nng_msg *answer;
    uint64_t t0_ms;
} attempt;

/* A host whose outcome could not be recorded: its lease is given back, so that the host
 * is attempted again at the next claim rather than once its lease expires. */
typedef struct pending_release {
    struct pending_release *next;
    char host[VS_NAME_MAX + 1];
} pending_release;

typedef struct attest_loop {
    attest_config cfg;
    char node[VS_NODE_MAX + 1];
    vstore *driver_store;
    vstore **worker_stores;
    pthread_t driver;
    pthread_t *workers;
    unsigned n_workers;
    unsigned worker_seq; /* the next worker's index into worker_stores (under lock) */
    bool driver_started;
    bool claim_failing; /* the driver's own: the last claim failed */
    /* lock covers everything below: the queues, the counts, the cache, the flags. */
    pthread_mutex_t lock;
    pthread_cond_t wake_driver, wake_workers;
    attempt flying; /* list head of the attempts in flight */
    attempt held;   /* list head of every attempt from its claim to its free: the hosts
                     * whose leases the heartbeat renews */
    attempt *done_head, *done_tail; /* answered, waiting for a verification thread */
    unsigned inflight;
    bool stopping, workers_stop;
    pcache *cache;
    pending_release *releases; /* retried by the driver before each heartbeat */
    attest_metrics m;
} attest_loop;

uint64_t attest_now_ms(void);

/* Give host's lease back through s; when that fails too, leave it to the driver to retry.
 * Called without the lock. */
void attest_release(attest_loop *l, vstore *s, const char *host);

/* The verification threads' body (attest_record.c). */
void *attest_worker(void *arg);

/* Drop one reference to p (lock held). */
void attest_pcache_put(attest_loop *l, pcache *p);

/* Send a's quote again, in full, with a new nonce, on its connection (lock not held):
 * ATTEST_RESENT (a is in flight again: its answer comes back through the queue),
 * ATTEST_RESEND_STOPPING (the loop stops; record nothing) or ATTEST_RESEND_FAILED. */
typedef enum { ATTEST_RESENT, ATTEST_RESEND_STOPPING, ATTEST_RESEND_FAILED } attest_resend;
attest_resend attest_resend_full(attempt *a);

/* Free a finished attempt: its aio, socket, answer and policy reference; one fewer in
 * flight. Called without the lock. */
void attest_attempt_free(attempt *a);

#endif
