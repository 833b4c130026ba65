/*
 * The attestation loop's driver and its nng side. One driver thread claims due hosts
 * (the store's lease rule keeps a host with one node at a time), renews its leases every
 * lease/3 and starts each attempt: a fresh 32-byte nonce, an nng REQ0 socket dialled
 * without blocking, the quote request sent and the answer received through aio callbacks
 * on nng's threads, bounded by one deadline per attempt. A finished attempt (answered,
 * failed or timed out) is queued for the verification threads (attest_record.c).
 * Invariant: inflight counts the attempts from their claim until attest_attempt_free,
 * never more than cfg.max_inflight; the driver claims only free slots.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <openssl/rand.h>

#include "attest_int.h"
#include "common.h"
#include "srtm.pb-c.h"

#define TICK_MS 200

const uint32_t attest_latency_le_ms[ATTEST_LATENCY_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 5000};

const char *attest_outcome_name(attest_outcome o)
{
    static const char *const names[ATTEST_OUTCOMES] = {"trusted", "untrusted", "unreachable",
                                                       "error"};
    return (unsigned)o < ATTEST_OUTCOMES ? names[o] : "error";
}

const char *attest_kind_name(attest_kind k)
{
    static const char *const names[ATTEST_KINDS] = {"full", "incremental", "full-retry"};
    return (unsigned)k < ATTEST_KINDS ? names[k] : "full";
}

uint64_t attest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void attest_metrics_get(const attest_loop *l, attest_metrics *out)
{
    attest_loop *m = (attest_loop *)l; /* the lock is not part of the value */
    pthread_mutex_lock(&m->lock);
    *out = m->m;
    out->inflight = m->inflight;
    pthread_mutex_unlock(&m->lock);
}

/* ---- the policy cache ---- */

void attest_pcache_put(attest_loop *l, pcache *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    (void)l;
    srtm_policy_free(p->policy);
    free(p);
}

/* A reference to the cached policy name at version, or NULL. An older version of name
 * leaves the cache (attempts holding it keep it alive). */
static pcache *pcache_find(attest_loop *l, const char *name, const char *version)
{
    pcache *hit = NULL;
    pthread_mutex_lock(&l->lock);
    for (pcache **pp = &l->cache; *pp != NULL; pp = &(*pp)->next) {
        if (strcmp((*pp)->name, name) != 0)
            continue;
        if (strcmp((*pp)->version, version) == 0) {
            hit = *pp;
            hit->refs++;
        } else {
            pcache *old = *pp;
            *pp = old->next;
            old->listed = false;
            attest_pcache_put(l, old);
        }
        break;
    }
    pthread_mutex_unlock(&l->lock);
    return hit;
}

/* Parse pol and cache it; a reference, or NULL without memory. A body that does not parse
 * is cached too, with its message: it is not parsed again until it changes. */
static pcache *pcache_add(attest_loop *l, const vs_policy *pol)
{
    pcache *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    snprintf(p->name, sizeof(p->name), "%s", pol->name);
    snprintf(p->version, sizeof(p->version), "%s", pol->version);
    if (srtm_policy_parse(pol->body, pol->body_len, NULL, &p->policy, p->msg,
                          sizeof(p->msg)) != SRTM_OK)
        p->policy = NULL;
    p->refs = 2; /* the cache's and the caller's */
    p->listed = true;
    pthread_mutex_lock(&l->lock);
    p->next = l->cache;
    l->cache = p;
    pthread_mutex_unlock(&l->lock);
    return p;
}

/* The parsed policy name, by a look at its version: the body is read and parsed only for
 * a version not seen before, so a thousand hosts sharing a policy parse it once. Only the
 * driver thread adds to the cache, so a version is never parsed twice. */
static srtm_err pcache_get(attest_loop *l, vstore *s, const char *name, pcache **out)
{
    char version[2 * SRTM_DIGEST_LEN + 1];
    srtm_err err = store_policy_version(s, name, version);
    pcache *p = err == SRTM_OK ? pcache_find(l, name, version) : NULL;
    if (err != SRTM_OK || p != NULL) {
        *out = p;
        return err;
    }
    vs_policy pol = {0};
    err = store_policy_get(s, name, &pol);
    if (err == SRTM_OK) {
        p = pcache_find(l, name, pol.version); /* changed since the look: drop the old */
        if (p == NULL)
            p = pcache_add(l, &pol);
        err = p != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    }
    vs_policy_free(&pol);
    if (err == SRTM_OK)
        *out = p;
    return err;
}

/* ---- attempts ---- */

static void queue_done(attempt *a)
{
    attest_loop *l = a->l;
    pthread_mutex_lock(&l->lock);
    a->prev->next = a->next; /* off the in-flight list */
    a->next->prev = a->prev;
    a->prev = a->next = NULL;
    if (l->done_tail != NULL)
        l->done_tail->next = a;
    else
        l->done_head = a;
    l->done_tail = a;
    pthread_cond_signal(&l->wake_workers);
    pthread_mutex_unlock(&l->lock);
}

static nng_duration remaining(const attempt *a)
{
    uint64_t now = attest_now_ms();
    return a->deadline_ms > now ? (nng_duration)(a->deadline_ms - now) : 1;
}

/* nng's callback: the send, then the receive, finished (or failed, timed out, cancelled). */
static void attempt_cb(void *arg)
{
    attempt *a = arg;
    int rv = nng_aio_result(a->aio);
    if (a->phase == PH_SEND && rv == 0) {
        /* Under the lock: drain() sets stopping and cancels under it too, so a receive
         * is either never started or started before the cancel reaches it. */
        pthread_mutex_lock(&a->l->lock);
        bool stopping = a->l->stopping;
        if (!stopping) {
            a->phase = PH_RECV;
            nng_aio_set_timeout(a->aio, remaining(a));
            nng_ctx_recv(a->ctx, a->aio); /* its callback runs later, on nng's taskq */
        }
        pthread_mutex_unlock(&a->l->lock);
        if (stopping) { /* the request went out (nng owns it); no answer is awaited */
            a->rv = NNG_ECANCELED;
            queue_done(a);
        }
        return;
    }
    if (a->phase == PH_SEND)
        nng_msg_free(nng_aio_get_msg(a->aio)); /* a failed send leaves the message ours */
    else if (rv == 0)
        a->answer = nng_aio_get_msg(a->aio);
    a->rv = rv;
    queue_done(a);
}

void attest_attempt_free(attempt *a)
{
    if (a == NULL)
        return;
    nng_aio_free(a->aio); /* waits for a callback still running */
    if (a->opened)
        nng_close(a->sock);
    nng_msg_free(a->answer);
    srtm_verify_state_free(a->state);
    attest_loop *l = a->l;
    pthread_mutex_lock(&l->lock);
    attest_pcache_put(l, a->pol);
    l->inflight--;
    a->held_prev->held_next = a->held_next;
    a->held_next->held_prev = a->held_prev;
    pthread_cond_signal(&l->wake_driver);
    pthread_mutex_unlock(&l->lock);
    free(a);
}

/* The packed quote request: version, the nonce, every component (libsrtm's srtm_quote),
 * and since the report of the host's state when a->since_seq is set (srtm_quote_since). */
static int quote_msg(const attempt *a, nng_msg **out)
{
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce.data = (uint8_t *)a->nonce;
    q.nonce.len = sizeof(a->nonce);
    if (a->since_seq != 0) {
        q.since_instance.data = (uint8_t *)a->since_instance;
        q.since_instance.len = sizeof(a->since_instance);
        q.since_seq = a->since_seq;
    }
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    size_t len = srtm__request__get_packed_size(&req);
    int rv = nng_msg_alloc(out, len);
    if (rv == 0)
        srtm__request__pack(&req, nng_msg_body(*out));
    return rv;
}

/* Dial a tls+tcp:// host with this verifier's certificate, requiring srtmd's to chain to
 * the CA and to name the host. One configuration per attempt: a TLS configuration holds
 * one server name. 0 or nng's error (NNG_ENOTSUP: no TLS files were given). */
static int dial_tls(const attest_config *c, nng_socket sock, const char *address)
{
    if (c->tls_cert_pem == NULL || c->tls_key_pem == NULL || c->tls_ca_pem == NULL)
        return NNG_ENOTSUP;
    char host[256];
    if (!url_host(address, host, sizeof(host)))
        return NNG_EADDRINVAL;
    nng_tls_config *t = NULL;
    nng_dialer d;
    int rv = nng_tls_config_alloc(&t, NNG_TLS_MODE_CLIENT);
    if (rv == 0)
        rv = nng_tls_config_version(t, NNG_TLS_1_2, NNG_TLS_1_3);
    if (rv == 0)
        rv = nng_tls_config_own_cert(t, c->tls_cert_pem, c->tls_key_pem, NULL);
    if (rv == 0)
        rv = nng_tls_config_ca_chain(t, c->tls_ca_pem, NULL);
    if (rv == 0)
        rv = nng_tls_config_server_name(t, host);
    if (rv == 0)
        rv = nng_tls_config_auth_mode(t, NNG_TLS_AUTH_MODE_REQUIRED);
    if (rv == 0)
        rv = nng_dialer_create(&d, sock, address);
    if (rv == 0)
        rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, t); /* the dialer holds it */
    if (rv == 0)
        rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
    if (t != NULL)
        nng_tls_config_free(t);
    return rv;
}

/* Open the socket, dial without blocking and send; 0 or nng's error. Any failure is the
 * attempt's outcome (unreachable), not the loop's. */
static int attempt_send(const attest_config *c, attempt *a, const char *address, int timeout_ms)
{
    int rv = nng_req0_open(&a->sock);
    if (rv == 0) {
        a->opened = true;
        /* The largest evidence srtmd builds; never a second copy of the request. */
        rv = nng_socket_set_size(a->sock, NNG_OPT_RECVMAXSZ,
                                 (size_t)SRTM_MAX_REPORT + SRTM_MAX_MESSAGE);
    }
    if (rv == 0)
        rv = nng_socket_set_ms(a->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0)
        rv = nng_socket_set_ms(a->sock, NNG_OPT_RECONNMINT, 100);
    if (rv == 0)
        rv = nng_ctx_open(&a->ctx, a->sock);
    if (rv == 0)
        rv = strncmp(address, "tls+tcp://", 10) == 0
                 ? dial_tls(c, a->sock, address)
                 : nng_dial(a->sock, address, NULL, NNG_FLAG_NONBLOCK);
    nng_msg *msg = NULL;
    if (rv == 0)
        rv = quote_msg(a, &msg);
    if (rv != 0)
        return rv;
    a->phase = PH_SEND;
    a->deadline_ms = attest_now_ms() + (uint64_t)timeout_ms;
    nng_aio_set_msg(a->aio, msg);
    nng_aio_set_timeout(a->aio, timeout_ms);
    nng_ctx_send(a->ctx, a->aio);
    return 0;
}

/* The host's stored verifier state, and the report to quote since when the state allows
 * it under the host's policy (srtm_verify_state_since); a full quote otherwise. A stored
 * state that does not parse is not used: the host is verified in full and the state of
 * that result replaces it. SRTM_OK, or a store failure. */
static srtm_err attempt_state(attest_loop *l, attempt *a, const char *name)
{
    if (l->cfg.full_only || a->pol->policy == NULL)
        return SRTM_OK;
    vs_state st = {0};
    srtm_err err = store_state_get(l->driver_store, name, &st);
    if (err == SRTM_E_NO_COMPONENT) /* the host exists (read just before): no state yet */
        return SRTM_OK;
    if (err == SRTM_OK && st.blob_len > 0 && /* empty: a boot identity only, or dropped */
        srtm_verify_state_parse(st.blob, st.blob_len, &a->state) != SRTM_OK) {
        srtm_log(SRTM_LOG_WARN, "host %s: its stored verifier state does not parse; "
                                "verifying in full", name);
        a->state = NULL;
    }
    if (err == SRTM_OK && a->state != NULL &&
        srtm_verify_state_since(a->state, a->pol->policy, a->since_instance, &a->since_seq) != 1)
        a->since_seq = 0;
    vs_state_clear(&st);
    return err;
}

attest_resend attest_resend_full(attempt *a)
{
    attest_loop *l = a->l;
    nng_msg *msg = NULL;
    nng_msg_free(a->answer);
    a->answer = NULL;
    a->since_seq = 0;
    a->retried = true;
    if (RAND_bytes(a->nonce, sizeof(a->nonce)) != 1 || quote_msg(a, &msg) != 0)
        return ATTEST_RESEND_FAILED;
    /* Under the lock, as attempt_cb's receive: drain() either sees it in flight and
     * cancels it, or it never starts. */
    pthread_mutex_lock(&l->lock);
    if (l->stopping) {
        pthread_mutex_unlock(&l->lock);
        nng_msg_free(msg);
        return ATTEST_RESEND_STOPPING;
    }
    a->next = l->flying.next;
    a->prev = &l->flying;
    l->flying.next->prev = a;
    l->flying.next = a;
    a->rv = 0;
    a->phase = PH_SEND;
    a->deadline_ms = attest_now_ms() + (uint64_t)l->cfg.timeout_ms;
    nng_aio_set_msg(a->aio, msg);
    nng_aio_set_timeout(a->aio, l->cfg.timeout_ms);
    nng_ctx_send(a->ctx, a->aio);
    pthread_mutex_unlock(&l->lock);
    return ATTEST_RESENT;
}

/* Read host name and its policy, and fill a. SRTM_OK, or a store failure. */
static srtm_err attempt_prepare(attest_loop *l, attempt *a, const char *name, vs_host *h)
{
    srtm_err err = store_host_get(l->driver_store, name, h);
    if (err == SRTM_OK)
        err = pcache_get(l, l->driver_store, h->policy, &a->pol);
    if (err == SRTM_OK)
        err = attempt_state(l, a, name);
    if (err == SRTM_OK && RAND_bytes(a->nonce, sizeof(a->nonce)) != 1)
        err = SRTM_E_CRYPTO;
    if (err != SRTM_OK)
        return err;
    snprintf(a->host, sizeof(a->host), "%s", h->name);
    snprintf(a->aik_pem, sizeof(a->aik_pem), "%s", h->aik_pem);
    a->interval_s = h->interval_s;
    a->was_unreachable = strncmp(h->last_outcome, "unreachable", 11) == 0;
    a->last_delay_s = h->next_due - h->last_attempt;
    return SRTM_OK;
}

/* Start the attempt at one claimed host. The lease is released when nothing could start. */
static void attempt_start(attest_loop *l, const char *name, vs_host *h)
{
    attempt *a = calloc(1, sizeof(*a));
    srtm_err err = a != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    if (err == SRTM_OK) {
        a->l = l;
        a->t0_ms = attest_now_ms();
        err = attempt_prepare(l, a, name, h);
    }
    if (err == SRTM_OK && nng_aio_alloc(&a->aio, attempt_cb, a) != 0)
        err = SRTM_E_NO_MEMORY;
    if (err != SRTM_OK) {
        srtm_log(SRTM_LOG_WARN, "host %s: attempt not started: %s (%s)", name,
                 srtm_strerror(err), store_errmsg(l->driver_store));
        pthread_mutex_lock(&l->lock);
        l->m.db_errors++;
        if (a != NULL)
            attest_pcache_put(l, a->pol);
        pthread_mutex_unlock(&l->lock);
        if (a != NULL && a->aio != NULL)
            nng_aio_free(a->aio);
        if (a != NULL)
            srtm_verify_state_free(a->state);
        free(a);
        attest_release(l, l->driver_store, name);
        return;
    }
    pthread_mutex_lock(&l->lock);
    l->inflight++;
    a->held_next = l->held.held_next;
    a->held_prev = &l->held;
    l->held.held_next->held_prev = a;
    l->held.held_next = a;
    a->next = l->flying.next; /* on the in-flight list before any callback can run */
    a->prev = &l->flying;
    l->flying.next->prev = a;
    l->flying.next = a;
    pthread_mutex_unlock(&l->lock);
    int rv = attempt_send(&l->cfg, a, h->address, l->cfg.timeout_ms);
    if (rv != 0) { /* no callback will come: finish it as unreachable now */
        a->rv = rv;
        queue_done(a);
    }
}

/* ---- the driver ---- */

void attest_release(attest_loop *l, vstore *s, const char *host)
{
    if (store_release(s, l->node, host) == SRTM_OK)
        return;
    srtm_log(SRTM_LOG_WARN, "host %s: lease not released yet: %s", host, store_errmsg(s));
    pending_release *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return; /* the lease then lasts until this node stops */
    snprintf(r->host, sizeof(r->host), "%s", host);
    pthread_mutex_lock(&l->lock);
    l->m.db_errors++;
    r->next = l->releases;
    l->releases = r;
    pthread_mutex_unlock(&l->lock);
}

/* Retry the releases that failed; those failing again stay for the next tick. */
static void retry_releases(attest_loop *l)
{
    pthread_mutex_lock(&l->lock);
    pending_release *r = l->releases;
    l->releases = NULL;
    pthread_mutex_unlock(&l->lock);
    while (r != NULL) {
        pending_release *next = r->next;
        if (store_release(l->driver_store, l->node, r->host) == SRTM_OK) {
            free(r);
        } else {
            pthread_mutex_lock(&l->lock);
            r->next = l->releases;
            l->releases = r;
            pthread_mutex_unlock(&l->lock);
        }
        r = next;
    }
}

/* Whether this node has an attempt of host in flight. A claim can hand it a host it is
 * still attempting when that attempt outlived the lease (its renewal failed for a whole
 * lease); the claim then serves as the renewal, and the one attempt records, since a
 * second attempt of this node would pass the lease check of store_record as well. */
static bool attempting(attest_loop *l, const char *host)
{
    bool found = false;
    pthread_mutex_lock(&l->lock);
    for (attempt *a = l->held.held_next; a != &l->held && !found; a = a->held_next)
        found = strcmp(a->host, host) == 0;
    pthread_mutex_unlock(&l->lock);
    return found;
}

static void claim_and_start(attest_loop *l, vs_name *names, vs_host *h)
{
    pthread_mutex_lock(&l->lock);
    size_t free_slots = l->cfg.max_inflight - l->inflight;
    pthread_mutex_unlock(&l->lock);
    if (free_slots == 0)
        return;
    size_t n = 0;
    if (store_claim_due(l->driver_store, l->node, (int64_t)time(NULL), l->cfg.lease_s,
                        free_slots, names, &n) != SRTM_OK) {
        if (!l->claim_failing) /* once per outage, not every tick */
            srtm_log(SRTM_LOG_WARN, "claiming hosts: %s", store_errmsg(l->driver_store));
        l->claim_failing = true;
        pthread_mutex_lock(&l->lock);
        l->m.db_errors++;
        pthread_mutex_unlock(&l->lock);
        return;
    }
    if (l->claim_failing)
        srtm_log(SRTM_LOG_INFO, "claiming hosts again");
    l->claim_failing = false;
    for (size_t i = 0; i < n; i++)
        if (!attempting(l, names[i].s))
            attempt_start(l, names[i].s, h);
}

/* The heartbeat: renew the leases of the hosts this node is attempting, and only those
 * (store_renew_hosts: a lease held without an attempt expires). */
static void renew(attest_loop *l)
{
    /* An attempt takes at most two quotes (a full one after an answer the state could not
     * judge), its verification and its records; one running longer than two time-outs
     * and a lease is stuck (nng 1.5.2 can hang in nng_close: docs/fleet.md, "Leases"),
     * and its lease is left to expire so that another node can take the host. */
    uint64_t now = attest_now_ms();
    uint64_t overdue = 2u * (uint64_t)l->cfg.timeout_ms + (uint64_t)l->cfg.lease_s * 1000u;
    pthread_mutex_lock(&l->lock);
    size_t n = 0, cap = l->inflight;
    vs_name *names = cap > 0 ? malloc(cap * sizeof(*names)) : NULL;
    for (attempt *a = l->held.held_next; names != NULL && a != &l->held && n < cap;
         a = a->held_next) {
        if (now - a->t0_ms <= overdue) {
            memcpy(names[n++].s, a->host, sizeof(a->host));
        } else if (!a->overdue) {
            a->overdue = true;
            srtm_log(SRTM_LOG_WARN, "host %s: its attempt has run for %llu s; its lease is "
                                    "no longer renewed", a->host,
                     (unsigned long long)((now - a->t0_ms) / 1000u));
        }
    }
    pthread_mutex_unlock(&l->lock);
    srtm_err err = cap > 0 && names == NULL ? SRTM_E_NO_MEMORY : SRTM_OK;
    if (err == SRTM_OK)
        err = store_renew_hosts(l->driver_store, l->node, names, n, (int64_t)time(NULL),
                                l->cfg.lease_s, NULL);
    free(names);
    if (err == SRTM_OK)
        return;
    srtm_log(SRTM_LOG_WARN, "lease renewal: %s", store_errmsg(l->driver_store));
    pthread_mutex_lock(&l->lock);
    l->m.db_errors++;
    pthread_mutex_unlock(&l->lock);
}

/* Cancel every attempt in flight and wait until each is freed. */
static void drain(attest_loop *l)
{
    pthread_mutex_lock(&l->lock);
    for (attempt *a = l->flying.next; a != &l->flying; a = a->next)
        nng_aio_cancel(a->aio); /* the callback runs later, on nng's thread */
    while (l->inflight > 0)
        pthread_cond_wait(&l->wake_driver, &l->lock);
    pthread_mutex_unlock(&l->lock);
}

static void wait_tick(attest_loop *l, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&l->lock);
    if (!l->stopping)
        pthread_cond_timedwait(&l->wake_driver, &l->lock, &ts);
    pthread_mutex_unlock(&l->lock);
}

static void *driver_main(void *arg)
{
    attest_loop *l = arg;
    vs_name *names = calloc(l->cfg.max_inflight, sizeof(*names));
    vs_host *h = malloc(sizeof(*h));
    uint64_t next_renew = attest_now_ms();
    for (;;) {
        pthread_mutex_lock(&l->lock);
        bool stop = l->stopping;
        pthread_mutex_unlock(&l->lock);
        if (stop || names == NULL || h == NULL)
            break;
        retry_releases(l);
        if (attest_now_ms() >= next_renew) {
            renew(l);
            next_renew = attest_now_ms() + (uint64_t)l->cfg.lease_s * 1000u / 3u;
        }
        claim_and_start(l, names, h);
        wait_tick(l, TICK_MS);
    }
    if (names == NULL || h == NULL)
        srtm_log(SRTM_LOG_ERROR, "attestation loop: out of memory");
    drain(l);
    if (store_release(l->driver_store, l->node, NULL) != SRTM_OK)
        srtm_log(SRTM_LOG_WARN, "releasing leases: %s", store_errmsg(l->driver_store));
    free(names);
    free(h);
    return NULL;
}

/* ---- start and stop ---- */

static srtm_err check_config(const attest_config *c, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (c->store_url == NULL || c->store_url[0] == '\0')
        bad = "a store URL is required";
    else if (c->node == NULL || c->node[0] == '\0' || strlen(c->node) > VS_NODE_MAX)
        bad = "the node id must be 1 to 64 bytes";
    else if (c->max_inflight < 1 || c->max_inflight > ATTEST_INFLIGHT_MAX)
        bad = "max-inflight must be 1 to 10000";
    else if (c->timeout_ms < 1 || c->timeout_ms > ATTEST_TIMEOUT_MS_MAX)
        bad = "timeout-ms must be 1 to 600000";
    else if (c->lease_s < 3 || c->lease_s > VS_INTERVAL_MAX)
        bad = "lease-s must be 3 to 31536000";
    else if (c->workers < 1 || c->workers > ATTEST_WORKERS_MAX)
        bad = "workers must be 1 to 256";
    else if ((int64_t)c->timeout_ms / 1000 >= c->lease_s)
        bad = "the lease must outlast the attempt time-out";
    if (bad == NULL)
        return SRTM_OK;
    snprintf(err, errlen, "%s", bad);
    return SRTM_E_INVALID;
}

static srtm_err open_stores(attest_loop *l, const char *url, char *err, size_t errlen)
{
    srtm_err rc = store_open(url, &l->driver_store, err, errlen);
    l->worker_stores = calloc(l->cfg.workers, sizeof(*l->worker_stores));
    l->workers = calloc(l->cfg.workers, sizeof(*l->workers));
    if (rc == SRTM_OK && (l->worker_stores == NULL || l->workers == NULL))
        rc = SRTM_E_NO_MEMORY;
    for (unsigned i = 0; rc == SRTM_OK && i < l->cfg.workers; i++)
        rc = store_open(url, &l->worker_stores[i], err, errlen);
    return rc;
}

srtm_err attest_start(const attest_config *cfg, attest_loop **out, char *err, size_t errlen)
{
    srtm_err rc = check_config(cfg, err, errlen);
    if (rc != SRTM_OK)
        return rc;
    attest_loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return SRTM_E_NO_MEMORY;
    l->cfg = *cfg;
    snprintf(l->node, sizeof(l->node), "%s", cfg->node);
    l->cfg.node = l->node;
    l->cfg.store_url = NULL; /* not kept: the caller's string */
    l->flying.next = l->flying.prev = &l->flying;
    l->held.held_next = l->held.held_prev = &l->held;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake_driver, NULL);
    pthread_cond_init(&l->wake_workers, NULL);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    rc = open_stores(l, cfg->store_url, err, errlen);
    for (unsigned i = 0; rc == SRTM_OK && i < cfg->workers; i++) {
        if (pthread_create(&l->workers[i], NULL, attest_worker, l) != 0)
            rc = SRTM_E_NO_MEMORY;
        else
            l->n_workers++;
    }
    if (rc == SRTM_OK && pthread_create(&l->driver, NULL, driver_main, l) != 0)
        rc = SRTM_E_NO_MEMORY;
    l->driver_started = rc == SRTM_OK;
    if (rc != SRTM_OK) {
        if (err != NULL && errlen > 0 && err[0] == '\0')
            snprintf(err, errlen, "%s", srtm_strerror(rc));
        attest_stop(l);
        return rc;
    }
    *out = l;
    return SRTM_OK;
}

void attest_stop(attest_loop *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    l->stopping = true;
    pthread_cond_broadcast(&l->wake_driver);
    pthread_mutex_unlock(&l->lock);
    if (l->driver_started)
        pthread_join(l->driver, NULL); /* drained and released */
    pthread_mutex_lock(&l->lock);
    l->workers_stop = true;
    pthread_cond_broadcast(&l->wake_workers);
    pthread_mutex_unlock(&l->lock);
    for (unsigned i = 0; i < l->n_workers; i++)
        pthread_join(l->workers[i], NULL);
    for (unsigned i = 0; l->worker_stores != NULL && i < l->cfg.workers; i++)
        store_close(l->worker_stores[i]);
    store_close(l->driver_store);
    while (l->releases != NULL) { /* covered by the release of every lease above */
        pending_release *r = l->releases;
        l->releases = r->next;
        free(r);
    }
    while (l->cache != NULL) {
        pcache *p = l->cache;
        l->cache = p->next;
        attest_pcache_put(l, p);
    }
    free(l->worker_stores);
    free(l->workers);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->wake_driver);
    pthread_cond_destroy(&l->wake_workers);
    free(l);
}
