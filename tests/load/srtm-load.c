/*
 * srtm-load: the load test of srtmd (docs/benchmarks.md, "Load test").
 *
 * N client threads, each with its own connection, register their own components (children
 * of component 0 with the admin capability, and children of their own components during
 * the run) and send a weighted random mix for --duration seconds: single and batched
 * extends, reads, log reads, reverts of reversible CCRs, joint quotes of their own
 * components with fresh nonces (a sample verified with srtm_verify), registrations, and
 * requests designed to fail with one exact code. No client touches another's components,
 * so each keeps an exact model of what srtmd acknowledged: every measurement's sequence
 * number (its digest, event type and description are derived from its position), the
 * revert markers and the reverted flags, and every CCR's value. The last --steady seconds
 * store nothing (reads, log reads, quotes, designed failures only), so srtmd's memory must
 * stay flat then.
 *
 * At the end every CCR of every client component is read with its whole log: the value
 * must equal the replay of the log (OpenSSL EVP SHA-256, from 32 zero bytes, live
 * measurements only) and the model's value, every acknowledged measurement must be at its
 * place exactly once with nothing else in the log, and the reverted flags must match. The
 * global sequence numbers srtmd handed out during the run must be exactly those of the
 * acknowledged measurements, revert markers and registrations: a request that failed
 * changed nothing. srtmd's VmRSS (--srtmd-pid) is sampled every second.
 *
 * srtmd keeps every measurement, so a long run at full speed would fill the machine's
 * memory: --max-entries bounds what the run stores by shrinking batches while it is ahead
 * of the pace that reaches the budget at the end of the storing phase.
 *
 * Prints a report and "load: PASS" or "load: FAIL (reasons)"; exit status 0 only on PASS,
 * 1 on FAIL, 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <srtm/srtm.h>

/* ---- tunables of the mix and of the model ---------------------------------------- */

#define TREE_LOG_CAP 1024u    /* log entries of a tree component before it stops growing */
#define TREE_MAX_DEPTH 3      /* children of component 0 are at depth 1 */
#define TREE_MIN_ACTIVE 2u    /* tree components still growing, per client */
#define TREE_MAX_CCRS 6u
#define BULK_CCRS 4u          /* the bulk component: long logs, all CCRs irreversible */
#define BATCH_MAX 512u        /* batch sizes are log-uniform in 1..BATCH_MAX */
#define LOG_READ_MAX 1024u    /* entries a log read op checks (one page) */
#define MAX_PRINTED 40        /* failures and inconsistencies printed in detail */

/* Per-item memory of srtmd measured by bench_scale (docs/benchmarks.md), for the bound on
 * RSS growth per stored item. */
#define SRTMD_BYTES_PER_ENTRY 67.0
#define SRTMD_BYTES_PER_COMPONENT 345.0
#define SRTMD_BYTES_PER_CCR 240.0 /* a CCR's first log array */

enum op {
    OP_EXTEND, OP_BATCH, OP_READ, OP_LOG, OP_REVERT, OP_QUOTE, OP_REGISTER, OP_FAIL,
    OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
    "extend", "batch", "read", "log", "revert", "quote", "register", "fail",
};
/* Weights of the mix while storing, and in the final phase that stores nothing. */
static const unsigned store_weights[OP_COUNT] = {30, 12, 22, 12, 6, 3, 1, 4};
static const unsigned steady_weights[OP_COUNT] = {0, 0, 55, 30, 0, 5, 0, 5};

enum fail_kind { FAIL_REVERT_IRREVERSIBLE, FAIL_WRONG_CAP, FAIL_NO_COMPONENT, FAIL_NO_CCR,
                 FAIL_KINDS };
static const char *const fail_names[FAIL_KINDS] = {
    "revert of an irreversible CCR (INVALID)", "extend with a wrong capability (DENIED)",
    "unknown component (NO_COMPONENT)", "CCR out of range (NO_CCR)",
};
static const srtm_err fail_codes[FAIL_KINDS] = {SRTM_E_INVALID, SRTM_E_DENIED,
                                                SRTM_E_NO_COMPONENT, SRTM_E_NO_CCR};

/* Latency histogram: 32 buckets per power of two of nanoseconds (3 % resolution). */
#define HIST_SUB 32u
#define HIST_BUCKETS (64u * HIST_SUB)

static size_t hist_index(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (size_t)ns;
    unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* >= 5 */
    return (size_t)(e - 4u) * HIST_SUB + (size_t)((ns >> (e - 5u)) & (HIST_SUB - 1u));
}

static double hist_value(size_t i)
{
    if (i < HIST_SUB)
        return (double)i;
    unsigned e = (unsigned)(i / HIST_SUB) + 4u;
    uint64_t lo = (uint64_t)(HIST_SUB + i % HIST_SUB) << (e - 5u);
    return (double)lo + (double)(1ull << (e - 5u)) / 2;
}

/* ---- the model ------------------------------------------------------------------- */

/* A log entry of the model: its sequence number and two flags. Its digest, event type and
 * description follow from (run seed, component, CCR, position). */
#define E_MARKER (1ull << 63)
#define E_REVERTED (1ull << 62)
#define E_SEQ (E_REVERTED - 1)

typedef struct m_marker {
    uint64_t index, to_seq;
} m_marker;

typedef struct m_ccr {
    bool reversible;
    uint8_t value[SRTM_DIGEST_LEN];
    uint64_t *e;
    size_t len, cap;
    m_marker *mk; /* revert markers, in log order */
    size_t nmk, mkcap;
} m_ccr;

typedef struct m_comp {
    char name[48];
    uint64_t gid; /* unique over the run: names and digests derive from it */
    uint64_t handle;
    srtm_cap cap;
    long parent; /* index among the client's components, -1: component 0 */
    int depth;
    bool bulk, tainted, active;
    uint32_t nccrs;
    m_ccr *ccrs;
    uint64_t entries; /* log entries over all CCRs */
} m_comp;

typedef struct client {
    int id;
    pthread_t th;
    srtm_conn *conn;
    uint64_t rng[4];
    EVP_MD_CTX *md;
    srtm_batch *batch;
    m_comp **comps;
    size_t ncomps, comps_cap;
    size_t bulk;    /* index of the bulk component */
    size_t nactive; /* tree components still growing */
    uint64_t last_seq;
    uint64_t missing; /* names of unknown components */
    /* statistics, read by the main thread after join */
    uint64_t count[2][OP_COUNT];
    uint32_t (*hist)[HIST_BUCKETS];
    uint32_t *verify_hist;
    uint64_t fails[FAIL_KINDS];
    uint64_t measurements, markers, reverted, desc_bytes, ccrs_made;
    uint64_t quotes, verified, evidence_bytes, paced;
    uint64_t unexpected, timeouts, inconsistent;
    uint64_t checked_entries, checked_ccrs, tainted;
    _Atomic uint64_t live_ops, live_meas;
    bool in_steady;
} client;

/* ---- global state ---------------------------------------------------------------- */

static struct {
    const char *url;
    srtm_cap admin;
    unsigned clients;
    double duration, steady;
    long srtmd_pid;
    char *aik_pem;
    char *policy_text;
    char policy_dir[4096];
    bool quotes;
    unsigned verify_every;
    int32_t timeout_ms;
    uint64_t seed;
    char tag[17]; /* hex, in every component name of the run */
    double rss_slack_mib, rss_factor;
    EVP_MD *sha256;
    double t0, t_store_end, t_end;
    _Atomic bool stop;
    _Atomic unsigned in_steady;
    _Atomic uint64_t next_gid;
    _Atomic uint64_t stored; /* log entries stored by the run so far */
    double max_entries;
    _Atomic int printed;
    _Atomic bool fatal;
    client *cl;
} g;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (atomic_fetch_add(&g.printed, 1) >= MAX_PRINTED)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A failure of the load program itself (memory, OpenSSL): the run cannot go on. */
static void fatal(const char *what)
{
    fprintf(stderr, "load: fatal: %s\n", what);
    atomic_store(&g.fatal, true);
    atomic_store(&g.stop, true);
}

/* xoshiro256** seeded through splitmix64. */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd(client *cl)
{
    uint64_t *s = cl->rng;
    uint64_t r = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s[3] << 45 | s[3] >> 19;
    return r;
}

/* Uniform in 0..n-1 (n > 0). */
static uint64_t below(client *cl, uint64_t n)
{
    return rnd(cl) % n;
}

static bool chance(client *cl, unsigned percent)
{
    return below(cl, 100) < percent;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- hashing (OpenSSL EVP SHA-256) ------------------------------------------------ */

static bool sha256_two(client *cl, const void *a, size_t alen, const void *b, size_t blen,
                       uint8_t out[SRTM_DIGEST_LEN])
{
    unsigned n = 0;
    if (EVP_DigestInit_ex(cl->md, g.sha256, NULL) != 1 ||
        EVP_DigestUpdate(cl->md, a, alen) != 1 ||
        (blen > 0 && EVP_DigestUpdate(cl->md, b, blen) != 1) ||
        EVP_DigestFinal_ex(cl->md, out, &n) != 1 || n != SRTM_DIGEST_LEN) {
        fatal("SHA-256 failed");
        return false;
    }
    return true;
}

/* The extend rule: value' = SHA-256(value || digest). */
static bool extend_value(client *cl, uint8_t value[SRTM_DIGEST_LEN],
                         const uint8_t digest[SRTM_DIGEST_LEN])
{
    return sha256_two(cl, value, SRTM_DIGEST_LEN, digest, SRTM_DIGEST_LEN, value);
}

/* The digest of the measurement at position pos of CCR ccr of m: random-looking, unique. */
static bool derive_digest(client *cl, const m_comp *m, uint32_t ccr, uint64_t pos,
                          uint8_t out[SRTM_DIGEST_LEN])
{
    uint64_t in[4] = {g.seed, m->gid, ccr, pos};
    return sha256_two(cl, in, sizeof(in), NULL, 0, out);
}

static uint32_t derive_event(uint64_t pos)
{
    return (uint32_t)(pos % 7);
}

/* The description of that measurement: "" for three in four. Returns its length. */
static size_t derive_desc(const m_comp *m, uint32_t ccr, uint64_t pos, char out[64])
{
    out[0] = '\0';
    if (pos % 4 != 0)
        return 0;
    int n = snprintf(out, 64, "load %llu/%u/%llu", (unsigned long long)m->gid, ccr,
                     (unsigned long long)pos);
    return n > 0 ? (size_t)n : 0;
}

/* ---- model bookkeeping ------------------------------------------------------------ */

static bool ccr_push(m_ccr *r, uint64_t e)
{
    if (r->len == r->cap) {
        size_t n = r->cap ? r->cap * 2 : 16;
        uint64_t *p = realloc(r->e, n * sizeof(*p));
        if (p == NULL) {
            fatal("out of memory for the model");
            return false;
        }
        r->e = p;
        r->cap = n;
    }
    r->e[r->len++] = e;
    return true;
}

static bool marker_push(m_ccr *r, uint64_t index, uint64_t to_seq)
{
    if (r->nmk == r->mkcap) {
        size_t n = r->mkcap ? r->mkcap * 2 : 4;
        m_marker *p = realloc(r->mk, n * sizeof(*p));
        if (p == NULL) {
            fatal("out of memory for the model");
            return false;
        }
        r->mk = p;
        r->mkcap = n;
    }
    r->mk[r->nmk++] = (m_marker){index, to_seq};
    return true;
}

/* The to_seq of the marker at log index i (which must be a marker). */
static uint64_t marker_to(const m_ccr *r, uint64_t i)
{
    size_t lo = 0, hi = r->nmk;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->mk[mid].index < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nmk && r->mk[lo].index == i ? r->mk[lo].to_seq : UINT64_MAX;
}

static void comp_free(m_comp *m)
{
    if (m == NULL)
        return;
    for (uint32_t i = 0; i < m->nccrs; i++) {
        free(m->ccrs[i].e);
        free(m->ccrs[i].mk);
    }
    free(m->ccrs);
    srtm_cap_wipe(&m->cap);
    free(m);
}

static void set_inactive(client *cl, m_comp *m)
{
    if (m->active)
        cl->nactive--;
    m->active = false;
}

/* ---- failures --------------------------------------------------------------------- */

static void unexpected(client *cl, const char *what, const m_comp *m, srtm_err err)
{
    cl->unexpected++;
    if (err == SRTM_E_TIMEOUT)
        cl->timeouts++;
    say("client %d: %s %s failed unexpectedly: %s (srtmd: \"%s\")", cl->id, what,
        m != NULL ? m->name : "", srtm_strerror(err), srtm_last_message(cl->conn));
}

/* A mutation whose outcome is unknown (timeout, transport): the component leaves the mix
 * and the final exact check. */
static void mutation_failed(client *cl, const char *what, m_comp *m, srtm_err err)
{
    unexpected(cl, what, m, err);
    if (m != NULL && !m->tainted) {
        m->tainted = true;
        set_inactive(cl, m);
        cl->tainted++;
    }
}

static void inconsistent(client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void inconsistent(client *cl, const char *fmt, ...)
{
    cl->inconsistent++;
    if (atomic_fetch_add(&g.printed, 1) >= MAX_PRINTED)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "load: client %d: INCONSISTENT: %s\n", cl->id, msg);
}

/* A sequence number srtmd acknowledged: each must be above the client's previous one. */
static void check_seq(client *cl, uint64_t first, uint64_t last, const char *what)
{
    if (first <= cl->last_seq || last < first)
        inconsistent(cl, "%s: sequence numbers %llu..%llu after %llu", what,
                     (unsigned long long)first, (unsigned long long)last,
                     (unsigned long long)cl->last_seq);
    if (last > cl->last_seq)
        cl->last_seq = last;
}

/* ---- picking components ------------------------------------------------------------ */

static m_comp *pick_any(client *cl)
{
    for (int tries = 0; tries < 16; tries++) {
        m_comp *m = cl->comps[below(cl, cl->ncomps)];
        if (!m->tainted)
            return m;
    }
    return cl->comps[cl->bulk]->tainted ? NULL : cl->comps[cl->bulk];
}

/* Index of a random tree component (not tainted; still growing if active_only), or -1. */
static long pick_tree(client *cl, bool active_only)
{
    for (int tries = 0; tries < 32; tries++) {
        size_t i = (size_t)below(cl, cl->ncomps);
        const m_comp *m = cl->comps[i];
        if (!m->bulk && !m->tainted && (!active_only || m->active))
            return (long)i;
    }
    for (size_t i = 0; i < cl->ncomps; i++) {
        const m_comp *m = cl->comps[i];
        if (!m->bulk && !m->tainted && (!active_only || m->active))
            return (long)i;
    }
    return -1;
}

/* A parent for a new component: one of the client's own of depth below the limit, or -1
 * (component 0) for about three in ten. */
static long pick_parent(client *cl)
{
    long p = chance(cl, 70) ? pick_tree(cl, false) : -1;
    return p >= 0 && cl->comps[p]->depth < TREE_MAX_DEPTH ? p : -1;
}

/* ---- operations ------------------------------------------------------------------- */

static bool op_register_under(client *cl, long parent, bool bulk);

/* Keep TREE_MIN_ACTIVE tree components growing: register new ones (a few at a time, so a
 * failing srtmd is not flooded). */
static bool ensure_active(client *cl)
{
    for (int i = 0; i < 4 && !atomic_load(&g.stop) && cl->nactive < TREE_MIN_ACTIVE; i++)
        if (!op_register_under(cl, pick_parent(cl), false))
            return false;
    return true;
}

/*
 * Register a new component of this client: under component 0 with the admin capability
 * (parent -1) or under one of its own components with that component's capability.
 */
static bool op_register_under(client *cl, long parent, bool bulk)
{
    m_comp *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        fatal("out of memory");
        return false;
    }
    if (cl->ncomps == cl->comps_cap) {
        size_t n = cl->comps_cap ? cl->comps_cap * 2 : 16;
        m_comp **p = realloc(cl->comps, n * sizeof(*p));
        if (p == NULL) {
            free(m);
            fatal("out of memory");
            return false;
        }
        cl->comps = p;
        cl->comps_cap = n;
    }
    m->gid = atomic_fetch_add(&g.next_gid, 1);
    snprintf(m->name, sizeof(m->name), "load-%s-%llu", g.tag, (unsigned long long)m->gid);
    m->parent = parent;
    m->depth = parent < 0 ? 1 : cl->comps[parent]->depth + 1;
    m->bulk = bulk;
    m->nccrs = bulk ? BULK_CCRS : 1 + (uint32_t)below(cl, TREE_MAX_CCRS);
    m->ccrs = calloc(m->nccrs, sizeof(*m->ccrs));
    if (m->ccrs == NULL) {
        comp_free(m);
        fatal("out of memory");
        return false;
    }
    uint32_t rev[SRTM_MAX_CCRS_PER_REGISTER];
    size_t nrev = 0;
    for (uint32_t i = 0; i < m->nccrs && !bulk; i++) {
        if (chance(cl, 50)) {
            rev[nrev++] = i;
            m->ccrs[i].reversible = true;
        }
    }
    const m_comp *p = parent < 0 ? NULL : cl->comps[parent];
    double t = now();
    srtm_err err = srtm_register_child(cl->conn, p != NULL ? &p->cap : &g.admin,
                                       p != NULL ? p->name : NULL, m->name, m->nccrs, NULL, 0,
                                       nrev ? rev : NULL, nrev, &m->handle, &m->cap);
    uint64_t ns = (uint64_t)((now() - t) * 1e9);
    cl->hist[OP_REGISTER][hist_index(ns)]++;
    cl->count[cl->in_steady][OP_REGISTER]++;
    atomic_fetch_add_explicit(&cl->live_ops, 1, memory_order_relaxed);
    if (err != SRTM_OK) {
        /* The component may exist now (timeout): keep it, tainted, so the end can tell. */
        m->tainted = err == SRTM_E_TIMEOUT || err == SRTM_E_TRANSPORT;
        unexpected(cl, "register", m, err);
        if (!m->tainted) {
            comp_free(m);
            return true;
        }
        cl->tainted++;
    }
    m->active = !bulk && !m->tainted;
    cl->nactive += m->active;
    cl->ccrs_made += m->nccrs;
    if (bulk)
        cl->bulk = cl->ncomps;
    cl->comps[cl->ncomps++] = m;
    return true;
}

static bool op_register(client *cl)
{
    return op_register_under(cl, pick_parent(cl), false);
}

/* Record an acknowledged measurement at the end of the model's log. */
static bool model_measure(client *cl, m_comp *m, uint32_t ccr, uint64_t seq,
                          const uint8_t digest[SRTM_DIGEST_LEN])
{
    m_ccr *r = &m->ccrs[ccr];
    if (!ccr_push(r, seq) || !extend_value(cl, r->value, digest))
        return false;
    m->entries++;
    cl->measurements++;
    atomic_fetch_add_explicit(&g.stored, 1, memory_order_relaxed);
    if (!m->bulk && m->entries >= TREE_LOG_CAP)
        set_inactive(cl, m);
    return true;
}

static bool op_extend(client *cl)
{
    long t = chance(cl, 20) ? (long)cl->bulk : pick_tree(cl, true);
    if (t < 0 || cl->comps[t]->tainted)
        return true;
    m_comp *m = cl->comps[t];
    uint32_t ccr = (uint32_t)below(cl, m->nccrs);
    uint64_t pos = m->ccrs[ccr].len;
    uint8_t d[SRTM_DIGEST_LEN];
    char desc[64];
    size_t dl = derive_desc(m, ccr, pos, desc);
    if (!derive_digest(cl, m, ccr, pos, d))
        return false;
    cl->desc_bytes += dl;
    uint64_t seq = 0;
    srtm_err err = srtm_extend(cl->conn, &m->cap, m->name, ccr, d, derive_event(pos),
                               dl ? desc : NULL, &seq);
    if (err != SRTM_OK) {
        mutation_failed(cl, "extend", m, err);
        return true;
    }
    check_seq(cl, seq, seq, "extend");
    atomic_fetch_add_explicit(&cl->live_meas, 1, memory_order_relaxed);
    return model_measure(cl, m, ccr, seq, d);
}

static bool op_batch(client *cl)
{
    uint32_t n = (uint32_t)exp((double)below(cl, 1u << 20) / (1u << 20) * log(BATCH_MAX + 1.0));
    if (n < 1)
        n = 1;
    if (n > BATCH_MAX)
        n = BATCH_MAX;
    /* Storage budget: ahead of the pace that reaches --max-entries at the end of the storing
     * phase, batches shrink to at most 8 measurements. */
    double pace = g.max_entries * (now() - g.t0) / (g.duration - g.steady);
    if ((double)atomic_load_explicit(&g.stored, memory_order_relaxed) > pace && n > 8) {
        n = 1 + (uint32_t)below(cl, 8);
        cl->paced++;
    }
    m_comp *m = NULL;
    if (!chance(cl, 60)) {
        long t = pick_tree(cl, true);
        m = t >= 0 ? cl->comps[t] : NULL;
        if (m != NULL && n > TREE_LOG_CAP - m->entries)
            n = (uint32_t)(TREE_LOG_CAP - m->entries);
    }
    if (m == NULL || n == 0) {
        m = cl->comps[cl->bulk];
        if (n == 0)
            n = 1;
    }
    if (m->tainted)
        return true;
    uint32_t ccrs[BATCH_MAX];
    uint8_t digests[BATCH_MAX][SRTM_DIGEST_LEN];
    uint64_t pending[SRTM_MAX_CCRS_PER_REGISTER] = {0};
    srtm_batch_clear(cl->batch);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ccr = (uint32_t)below(cl, m->nccrs);
        uint64_t pos = m->ccrs[ccr].len + pending[ccr]++;
        uint8_t *d = digests[i];
        char desc[64];
        size_t dl = derive_desc(m, ccr, pos, desc);
        if (!derive_digest(cl, m, ccr, pos, d))
            return false;
        cl->desc_bytes += dl;
        srtm_err err = srtm_batch_add(cl->batch, ccr, d, derive_event(pos), dl ? desc : NULL);
        if (err != SRTM_OK) {
            unexpected(cl, "batch_add", m, err);
            return true;
        }
        ccrs[i] = ccr;
    }
    uint64_t first = 0, last = 0;
    srtm_err err = srtm_batch_submit(cl->conn, &m->cap, m->name, cl->batch, &first, &last);
    if (err != SRTM_OK) {
        mutation_failed(cl, "batch", m, err);
        return true;
    }
    check_seq(cl, first, last, "batch");
    if (last - first + 1 != n)
        inconsistent(cl, "batch of %u on %s: sequence numbers %llu..%llu", n, m->name,
                     (unsigned long long)first, (unsigned long long)last);
    atomic_fetch_add_explicit(&cl->live_meas, n, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        if (!model_measure(cl, m, ccrs[i], first + i, digests[i]))
            return false;
    return true;
}

static void compare_ccrs(client *cl, const m_comp *m, const srtm_ccrs *r, const uint32_t *idx,
                         size_t n, const char *what)
{
    if (srtm_ccrs_count(r) != n || srtm_ccrs_handle(r) != m->handle) {
        inconsistent(cl, "%s %s: %zu CCRs of handle %llu, expected %zu of handle %llu", what,
                     m->name, srtm_ccrs_count(r), (unsigned long long)srtm_ccrs_handle(r), n,
                     (unsigned long long)m->handle);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t index = 0;
        srtm_policy pol = 0;
        uint8_t v[SRTM_DIGEST_LEN];
        uint64_t len = 0;
        if (srtm_ccrs_get(r, i, &index, &pol, v, &len) != SRTM_OK) {
            inconsistent(cl, "%s %s: CCR %zu missing", what, m->name, i);
            continue;
        }
        uint32_t want = idx != NULL ? idx[i] : (uint32_t)i;
        const m_ccr *mr = &m->ccrs[want];
        srtm_policy want_pol = mr->reversible ? SRTM_POLICY_REVERSIBLE : SRTM_POLICY_IRREVERSIBLE;
        if (index != want || pol != want_pol || len != mr->len ||
            memcmp(v, mr->value, SRTM_DIGEST_LEN) != 0) {
            char a[65], b[65];
            hex(v, SRTM_DIGEST_LEN, a);
            hex(mr->value, SRTM_DIGEST_LEN, b);
            inconsistent(cl, "%s %s CCR %u: index %u policy %d length %llu value %s, model: "
                         "policy %d length %zu value %s", what, m->name, want, index, (int)pol,
                         (unsigned long long)len, a, (int)want_pol, mr->len, b);
        }
    }
}

static bool op_read(client *cl)
{
    m_comp *m = pick_any(cl);
    if (m == NULL)
        return true;
    uint32_t idx[SRTM_MAX_CCRS_PER_REGISTER];
    size_t n = 0;
    if (chance(cl, 30)) {
        for (uint32_t i = 0; i < m->nccrs; i++)
            if (chance(cl, 50))
                idx[n++] = i;
    }
    srtm_ccrs *r = NULL;
    srtm_err err = srtm_read(cl->conn, m->name, n ? idx : NULL, n, &r);
    if (err != SRTM_OK) {
        unexpected(cl, "read", m, err);
        return true;
    }
    compare_ccrs(cl, m, r, n ? idx : NULL, n ? n : m->nccrs, "read");
    srtm_ccrs_free(r);
    return true;
}

/* Compare one log entry srtmd returned with the model's entry at the same index (unless
 * compare is false); when value is not NULL, also fold it into a replay. False on a
 * difference. */
static bool compare_entry(client *cl, const m_comp *m, uint32_t ccr, uint64_t i,
                          const srtm_log_entry *e, bool compare, uint8_t *value)
{
    const m_ccr *r = &m->ccrs[ccr];
    uint64_t me = r->e[i];
    bool marker = (me & E_MARKER) != 0, reverted = (me & E_REVERTED) != 0;
    const uint8_t *dg = srtm_log_entry_digest(e);
    bool ok = !compare || (srtm_log_entry_index(e) == i && srtm_log_entry_seq(e) == (me & E_SEQ) &&
              srtm_log_entry_is_revert(e) == (int)marker &&
              srtm_log_entry_reverted(e) == (int)reverted);
    const char *why = "index, sequence number or flags";
    if (compare && ok && marker) {
        ok = dg == NULL && srtm_log_entry_revert_to(e) == marker_to(r, i) &&
             srtm_log_entry_revert_by(e) == m->handle;
        why = "revert marker";
    } else if (compare && ok) {
        uint8_t d[SRTM_DIGEST_LEN];
        char desc[64];
        derive_desc(m, ccr, i, desc);
        if (!derive_digest(cl, m, ccr, i, d))
            return false;
        ok = dg != NULL && memcmp(dg, d, SRTM_DIGEST_LEN) == 0 &&
             srtm_log_entry_event_type(e) == derive_event(i) &&
             strcmp(srtm_log_entry_description(e), desc) == 0;
        why = "digest, event type or description";
    }
    if (!ok)
        inconsistent(cl, "log of %s CCR %u entry %llu (seq %llu, flags %d%d): %s differ from "
                     "the model (seq %llu, flags %d%d)", m->name, ccr, (unsigned long long)i,
                     (unsigned long long)srtm_log_entry_seq(e), srtm_log_entry_is_revert(e),
                     srtm_log_entry_reverted(e), why, (unsigned long long)(me & E_SEQ),
                     (int)marker, (int)reverted);
    /* The replay of srtmd's log as srtmd reports it: live measurements only. */
    if (value != NULL && dg != NULL && !srtm_log_entry_is_revert(e) && !srtm_log_entry_reverted(e))
        extend_value(cl, value, dg);
    return ok;
}

static bool op_log(client *cl)
{
    m_comp *m = pick_any(cl);
    if (m == NULL)
        return true;
    uint32_t ccr = (uint32_t)below(cl, m->nccrs);
    const m_ccr *r = &m->ccrs[ccr];
    uint64_t off = below(cl, r->len + 1);
    uint64_t n = r->len - off < LOG_READ_MAX ? r->len - off : LOG_READ_MAX;
    srtm_log_iter *it = NULL;
    srtm_err err = srtm_log_open(cl->conn, m->name, ccr, off, &it);
    if (err != SRTM_OK) {
        unexpected(cl, "log", m, err);
        return true;
    }
    for (uint64_t i = 0; i < n; i++) {
        const srtm_log_entry *e = NULL;
        err = srtm_log_next(it, &e);
        if (err != SRTM_OK) {
            if (err == SRTM_E_END)
                inconsistent(cl, "log of %s CCR %u ends at %llu, model %zu", m->name, ccr,
                             (unsigned long long)(off + i), r->len);
            else
                unexpected(cl, "log", m, err);
            break;
        }
        if (!compare_entry(cl, m, ccr, off + i, e, true, NULL))
            break; /* one report per read */
    }
    srtm_log_iter_free(it);
    return true;
}

static bool op_revert(client *cl)
{
    m_comp *m = NULL;
    uint32_t ccr = 0;
    for (int tries = 0; tries < 16 && m == NULL; tries++) {
        long t = pick_tree(cl, false);
        if (t < 0)
            break;
        m_comp *c = cl->comps[t];
        uint32_t i = (uint32_t)below(cl, c->nccrs);
        if (c->ccrs[i].reversible && (c->entries < TREE_LOG_CAP || c->ccrs[i].len > 0)) {
            m = c;
            ccr = i;
        }
    }
    if (m == NULL)
        return op_read(cl);
    m_ccr *r = &m->ccrs[ccr];
    /* The point: the start, or a random live measurement. */
    uint64_t live = 0;
    for (size_t i = 0; i < r->len; i++)
        live += !(r->e[i] & (E_MARKER | E_REVERTED));
    uint64_t target = live > 0 && !chance(cl, 15) ? 1 + below(cl, live) : 0; /* 1-based */
    uint64_t to_seq = 0, undone = 0;
    uint8_t v[SRTM_DIGEST_LEN] = {0};
    uint64_t seen = 0;
    size_t at = 0; /* log index after the point */
    for (size_t i = 0; i < r->len; i++) {
        if (r->e[i] & (E_MARKER | E_REVERTED))
            continue;
        if (seen < target) {
            uint8_t d[SRTM_DIGEST_LEN];
            if (!derive_digest(cl, m, ccr, i, d) || !extend_value(cl, v, d))
                return false;
            seen++;
            if (seen == target) {
                to_seq = r->e[i] & E_SEQ;
                at = i + 1;
            }
        } else {
            undone++;
        }
    }
    uint64_t reverted = 0, seq = 0;
    uint8_t value[SRTM_DIGEST_LEN];
    srtm_err err = srtm_revert(cl->conn, &m->cap, m->name, ccr, to_seq, NULL, &reverted, value,
                               &seq);
    if (err != SRTM_OK) {
        mutation_failed(cl, "revert", m, err);
        return true;
    }
    check_seq(cl, seq, seq, "revert");
    if (reverted != undone || memcmp(value, v, SRTM_DIGEST_LEN) != 0)
        inconsistent(cl, "revert of %s CCR %u to %llu: %llu undone, model %llu; value %s",
                     m->name, ccr, (unsigned long long)to_seq, (unsigned long long)reverted,
                     (unsigned long long)undone,
                     memcmp(value, v, SRTM_DIGEST_LEN) ? "differs" : "equal");
    for (size_t i = at; i < r->len; i++)
        if (!(r->e[i] & E_MARKER))
            r->e[i] |= E_REVERTED;
    if (!marker_push(r, r->len, to_seq) || !ccr_push(r, seq | E_MARKER))
        return false;
    memcpy(r->value, v, SRTM_DIGEST_LEN);
    m->entries++;
    cl->markers++;
    atomic_fetch_add_explicit(&g.stored, 1, memory_order_relaxed);
    cl->reverted += undone;
    if (m->entries >= TREE_LOG_CAP)
        set_inactive(cl, m);
    return true;
}

/* The path of model component k ("platform/a/b"), as the verifier names it. */
static void model_path(const client *cl, long k, char *out, size_t size)
{
    if (k < 0) {
        snprintf(out, size, "platform");
        return;
    }
    model_path(cl, cl->comps[k]->parent, out, size);
    size_t n = strlen(out);
    if (n + 1 < size)
        snprintf(out + n, size - n, "/%s", cl->comps[k]->name);
}

/* A policy for this quote: the --policy file with, for the quoted component and each of its
 * ancestors (named by path), every CCR's expected value from the model, and the quoted one
 * required; other components of the closure are judged by their replay. */
static char *quote_policy(client *cl, size_t ci)
{
    json_object *root = json_tokener_parse(g.policy_text);
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return NULL;
    }
    bool ok = true;
    json_object *comps = NULL;
    if (!json_object_object_get_ex(root, "components", &comps)) {
        comps = json_object_new_object();
        ok = comps != NULL && json_object_object_add(root, "components", comps) == 0;
    }
    for (long k = (long)ci; ok && k >= 0; k = cl->comps[k]->parent) {
        const m_comp *m = cl->comps[k];
        json_object *ccrs = json_object_new_object(), *c = json_object_new_object();
        ok = ccrs != NULL && c != NULL && json_object_object_add(c, "ccrs", ccrs) == 0;
        if (!ok) {
            json_object_put(ccrs);
            json_object_put(c);
            break;
        }
        char path[1024];
        model_path(cl, k, path, sizeof(path));
        ok = json_object_object_add(comps, path, c) == 0;
        if (!ok)
            json_object_put(c);
        for (uint32_t i = 0; ok && i < m->nccrs; i++) {
            char key[16], vhex[65];
            snprintf(key, sizeof(key), "%u", i);
            hex(m->ccrs[i].value, SRTM_DIGEST_LEN, vhex);
            json_object *rule = json_object_new_object(), *s = json_object_new_string(vhex);
            ok = rule != NULL && s != NULL &&
                 json_object_object_add(rule, "expected_value", s) == 0;
            if (!ok) {
                json_object_put(s);
                json_object_put(rule);
                break;
            }
            ok = json_object_object_add(ccrs, key, rule) == 0;
            if (!ok)
                json_object_put(rule);
        }
    }
    char path[1024];
    model_path(cl, (long)ci, path, sizeof(path));
    if (ok && !json_object_object_get_ex(root, "unlisted", NULL))
        ok = json_object_object_add(root, "unlisted", json_object_new_string("replay-only")) == 0;
    json_object *req = ok ? json_object_new_array() : NULL;
    json_object *name = req != NULL ? json_object_new_string(path) : NULL;
    ok = name != NULL && json_object_array_add(req, name) == 0;
    if (!ok)
        json_object_put(name);
    ok = ok && json_object_object_add(root, "require", req) == 0;
    if (!ok)
        json_object_put(req);
    const char *text = ok ? json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN) : NULL;
    char *copy = text != NULL ? strdup(text) : NULL;
    json_object_put(root);
    return copy;
}

static void verify_quote(client *cl, size_t ci, const uint8_t *ev, size_t len,
                         const uint8_t *nonce, size_t nonce_len)
{
    const m_comp *m = cl->comps[ci];
    double t = now();
    char *text = quote_policy(cl, ci);
    if (text == NULL) {
        fatal("cannot build the quote's policy");
        return;
    }
    srtm_verifier_policy *pol = NULL;
    char msg[512] = "";
    srtm_err err = srtm_policy_parse(text, strlen(text), g.policy_dir, &pol, msg, sizeof(msg));
    free(text);
    if (err != SRTM_OK) {
        say("client %d: the quote's policy does not load: %s", cl->id, msg);
        fatal("the policy (--policy) does not load with the quoted values added");
        return;
    }
    srtm_verify_result *res = NULL;
    err = srtm_verify(ev, len, g.aik_pem, pol, nonce, nonce_len, &res);
    srtm_policy_free(pol);
    if (err != SRTM_OK && err != SRTM_E_DENIED) {
        unexpected(cl, "verify", m, err);
        return;
    }
    bool checks_ok = true;
    for (size_t i = 0; i < srtm_verify_result_check_count(res); i++) {
        if (!srtm_verify_result_check_ok(res, i)) {
            checks_ok = false;
            inconsistent(cl, "quote of %s: check %s failed: %s", m->name,
                         srtm_verify_result_check_name(res, i),
                         srtm_verify_result_check_reason(res, i));
        }
    }
    if (err != SRTM_OK || !srtm_verify_result_ok(res)) {
        for (size_t i = 0; i < srtm_verify_result_component_count(res); i++) {
            if (srtm_verify_result_component_trusted(res, i))
                continue;
            inconsistent(cl, "quote of %s: %s untrusted: %s", m->name,
                         srtm_verify_result_component_name(res, i),
                         srtm_verify_result_component_reason_count(res, i) > 0
                             ? srtm_verify_result_component_reason(res, i, 0)
                             : "");
        }
        if (checks_ok && srtm_verify_result_component_count(res) == 0)
            inconsistent(cl, "quote of %s: not verified", m->name);
    } else {
        cl->verified++;
    }
    srtm_verify_result_free(res);
    cl->verify_hist[hist_index((uint64_t)((now() - t) * 1e9))]++;
}

static bool op_quote(client *cl)
{
    long t0 = pick_tree(cl, false);
    if (t0 < 0)
        return op_read(cl);
    size_t ci = (size_t)t0;
    const m_comp *m = cl->comps[ci];
    uint8_t nonce[SRTM_MAX_NONCE];
    size_t nlen = SRTM_MIN_NONCE + below(cl, SRTM_MAX_NONCE - SRTM_MIN_NONCE + 1);
    if (RAND_bytes(nonce, (int)nlen) != 1) {
        fatal("RAND_bytes failed");
        return false;
    }
    const char *names[1] = {m->name};
    uint8_t *ev = NULL;
    size_t len = 0;
    double t = now();
    srtm_err err = srtm_quote(cl->conn, nonce, nlen, names, 1, &ev, &len);
    uint64_t ns = (uint64_t)((now() - t) * 1e9);
    cl->hist[OP_QUOTE][hist_index(ns)]++;
    if (err != SRTM_OK) {
        unexpected(cl, "quote", m, err);
        return true;
    }
    cl->quotes++;
    cl->evidence_bytes += len;
    if (g.aik_pem != NULL && g.policy_text != NULL && g.verify_every > 0 &&
        cl->quotes % g.verify_every == 1 % g.verify_every)
        verify_quote(cl, ci, ev, len, nonce, nlen);
    free(ev);
    return true;
}

/* Requests designed to fail, each with exactly one status. */
static bool op_fail(client *cl)
{
    enum fail_kind k = (enum fail_kind)below(cl, FAIL_KINDS);
    m_comp *m = pick_any(cl);
    if (m == NULL)
        return true;
    m_comp *bulk = cl->comps[cl->bulk];
    uint8_t d[SRTM_DIGEST_LEN] = {0xfa, 0x11};
    srtm_err err = SRTM_OK;
    unsigned variant = (unsigned)below(cl, 4);
    char missing[64];
    snprintf(missing, sizeof(missing), "load-%s-missing-%d-%llu", g.tag, cl->id,
             (unsigned long long)cl->missing++);
    switch (k) {
    case FAIL_REVERT_IRREVERSIBLE: {
        /* bulk's CCRs are all irreversible; a live point of it or the start */
        uint32_t ccr = (uint32_t)below(cl, bulk->nccrs);
        const m_ccr *r = &bulk->ccrs[ccr];
        uint64_t to = r->len > 0 && chance(cl, 50) ? r->e[below(cl, r->len)] & E_SEQ : 0;
        m = bulk;
        err = srtm_revert(cl->conn, &bulk->cap, bulk->name, ccr, to, NULL, NULL, NULL, NULL);
        break;
    }
    case FAIL_WRONG_CAP: {
        srtm_cap wrong;
        if (RAND_bytes(wrong.bytes, sizeof(wrong.bytes)) != 1) {
            fatal("RAND_bytes failed");
            return false;
        }
        /* a random capability, or the capability of another of its own components */
        if (variant < 2 && cl->ncomps > 1) {
            const m_comp *o = cl->comps[below(cl, cl->ncomps)];
            if (o != m)
                wrong = o->cap;
        }
        if (variant % 2 == 0) {
            err = srtm_extend(cl->conn, &wrong, m->name, 0, d, 0, "designed to fail", NULL);
        } else {
            srtm_batch_clear(cl->batch);
            if ((err = srtm_batch_add(cl->batch, 0, d, 0, NULL)) == SRTM_OK &&
                (err = srtm_batch_add(cl->batch, 0, d, 0, NULL)) == SRTM_OK)
                err = srtm_batch_submit(cl->conn, &wrong, m->name, cl->batch, NULL, NULL);
        }
        srtm_cap_wipe(&wrong);
        break;
    }
    case FAIL_NO_COMPONENT:
        if (variant == 0) {
            err = srtm_extend(cl->conn, &m->cap, missing, 0, d, 0, NULL, NULL);
        } else if (variant == 1) {
            srtm_ccrs *r = NULL;
            err = srtm_read(cl->conn, missing, NULL, 0, &r);
            srtm_ccrs_free(r);
        } else if (variant == 2) {
            srtm_log_iter *it = NULL;
            err = srtm_log_open(cl->conn, missing, 0, 0, &it);
            srtm_log_iter_free(it);
        } else {
            err = srtm_revert(cl->conn, &m->cap, missing, 0, 0, NULL, NULL, NULL, NULL);
        }
        break;
    case FAIL_NO_CCR: {
        uint32_t ccr = m->nccrs + (uint32_t)below(cl, 4);
        if (variant == 0) {
            err = srtm_extend(cl->conn, &m->cap, m->name, ccr, d, 0, NULL, NULL);
        } else if (variant == 1) {
            srtm_ccrs *r = NULL;
            err = srtm_read(cl->conn, m->name, &ccr, 1, &r);
            srtm_ccrs_free(r);
        } else if (variant == 2) {
            srtm_log_iter *it = NULL;
            err = srtm_log_open(cl->conn, m->name, ccr, 0, &it);
            srtm_log_iter_free(it);
        } else {
            /* a batch whose last measurement is out of range: none of it lands */
            srtm_batch_clear(cl->batch);
            if ((err = srtm_batch_add(cl->batch, 0, d, 0, NULL)) == SRTM_OK &&
                (err = srtm_batch_add(cl->batch, ccr, d, 0, NULL)) == SRTM_OK)
                err = srtm_batch_submit(cl->conn, &m->cap, m->name, cl->batch, NULL, NULL);
        }
        break;
    }
    default:
        break;
    }
    if (err == fail_codes[k]) {
        cl->fails[k]++;
    } else {
        cl->unexpected++;
        say("client %d: designed failure \"%s\" on %s returned %s (srtmd: \"%s\")", cl->id,
            fail_names[k], m->name, srtm_strerror(err), srtm_last_message(cl->conn));
        /* A mutation that succeeded by mistake leaves the model: taint the component. */
        if (err == SRTM_OK && !m->tainted) {
            m->tainted = true;
            set_inactive(cl, m);
            cl->tainted++;
        }
    }
    return true;
}

/* ---- the client thread ------------------------------------------------------------ */

static enum op pick_op(client *cl, const unsigned *w)
{
    unsigned total = 0;
    for (int i = 0; i < OP_COUNT; i++)
        total += (i == OP_QUOTE && !g.quotes) ? 0 : w[i];
    unsigned r = (unsigned)below(cl, total);
    for (int i = 0; i < OP_COUNT; i++) {
        unsigned wi = (i == OP_QUOTE && !g.quotes) ? 0 : w[i];
        if (r < wi)
            return (enum op)i;
        r -= wi;
    }
    return OP_READ;
}

static void *client_main(void *arg)
{
    client *cl = arg;
    /* The bulk component and the first tree components. */
    bool ok = op_register_under(cl, -1, true) && ensure_active(cl);
    if (ok && (cl->ncomps == 0 || !cl->comps[cl->bulk]->bulk)) {
        fatal("a client could not register its bulk component");
        ok = false;
    }
    while (ok && !atomic_load(&g.stop)) {
        double t = now();
        if (t >= g.t_end)
            break;
        if (!cl->in_steady && t >= g.t_store_end) {
            cl->in_steady = true;
            atomic_fetch_add(&g.in_steady, 1);
        }
        enum op op = pick_op(cl, cl->in_steady ? steady_weights : store_weights);
        switch (op) {
        case OP_EXTEND:
            ok = op_extend(cl);
            break;
        case OP_BATCH:
            ok = op_batch(cl);
            break;
        case OP_READ:
            ok = op_read(cl);
            break;
        case OP_LOG:
            ok = op_log(cl);
            break;
        case OP_REVERT:
            ok = op_revert(cl);
            break;
        case OP_QUOTE:
            ok = op_quote(cl);
            break;
        case OP_REGISTER:
            ok = op_register(cl);
            break;
        case OP_FAIL:
        default:
            ok = op_fail(cl);
            break;
        }
        if (!ok)
            break;
        if (op != OP_REGISTER) {
            if (op != OP_QUOTE)
                cl->hist[op][hist_index((uint64_t)((now() - t) * 1e9))]++;
            cl->count[cl->in_steady][op]++;
            atomic_fetch_add_explicit(&cl->live_ops, 1, memory_order_relaxed);
        }
        if (!cl->in_steady)
            ok = ensure_active(cl);
    }
    if (!cl->in_steady) {
        cl->in_steady = true;
        atomic_fetch_add(&g.in_steady, 1);
    }
    return NULL;
}

/* ---- the final check -------------------------------------------------------------- */

static void check_comp(client *cl, const m_comp *m)
{
    srtm_ccrs *r = NULL;
    srtm_err err = srtm_read(cl->conn, m->name, NULL, 0, &r);
    if (err != SRTM_OK) {
        unexpected(cl, "final read", m, err);
        return;
    }
    compare_ccrs(cl, m, r, NULL, m->nccrs, "final read");
    for (uint32_t c = 0; c < m->nccrs && c < srtm_ccrs_count(r); c++) {
        const m_ccr *mr = &m->ccrs[c];
        uint8_t value[SRTM_DIGEST_LEN], replay[SRTM_DIGEST_LEN] = {0};
        if (srtm_ccrs_get(r, c, NULL, NULL, value, NULL) != SRTM_OK)
            continue;
        srtm_log_iter *it = NULL;
        err = srtm_log_open(cl->conn, m->name, c, 0, &it);
        if (err != SRTM_OK) {
            unexpected(cl, "final log", m, err);
            continue;
        }
        uint64_t i = 0;
        bool same = true; /* so far; after a difference only the replay goes on */
        for (;; i++) {
            const srtm_log_entry *e = NULL;
            err = srtm_log_next(it, &e);
            if (err == SRTM_E_END)
                break;
            if (err != SRTM_OK) {
                unexpected(cl, "final log", m, err);
                break;
            }
            if (i >= mr->len) {
                if (!same)
                    continue;
                same = false;
                inconsistent(cl, "log of %s CCR %u has an entry %llu (seq %llu) the model "
                             "lacks: not acknowledged", m->name, c, (unsigned long long)i,
                             (unsigned long long)srtm_log_entry_seq(e));
                continue;
            }
            same = compare_entry(cl, m, c, i, e, same, replay) && same;
        }
        srtm_log_iter_free(it);
        if (err != SRTM_E_END)
            continue;
        if (i < mr->len)
            inconsistent(cl, "log of %s CCR %u has %llu entries, %zu acknowledged", m->name, c,
                         (unsigned long long)i, mr->len);
        if (memcmp(replay, value, SRTM_DIGEST_LEN) != 0)
            inconsistent(cl, "%s CCR %u: the value is not the replay of its log", m->name, c);
        if (memcmp(replay, mr->value, SRTM_DIGEST_LEN) != 0)
            inconsistent(cl, "%s CCR %u: the replay of its log is not the model's value",
                         m->name, c);
        cl->checked_entries += i;
        cl->checked_ccrs++;
    }
    srtm_ccrs_free(r);
}

static void *check_main(void *arg)
{
    client *cl = arg;
    for (size_t i = 0; i < cl->ncomps && !atomic_load(&g.fatal); i++)
        if (!cl->comps[i]->tainted)
            check_comp(cl, cl->comps[i]);
    return NULL;
}

/* ---- srtmd's memory --------------------------------------------------------------- */

typedef struct sample {
    double t;
    long rss_kib;
    uint64_t ops, meas;
    bool steady; /* every client was in the final phase when it was taken */
} sample;

static struct {
    sample *s;
    size_t n, cap;
    pthread_mutex_t mu;
} samples = {.mu = PTHREAD_MUTEX_INITIALIZER};

static long rss_kib(void)
{
    if (g.srtmd_pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", g.srtmd_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* CPU seconds srtmd used so far (user + system), or -1. */
static double srtmd_cpu(void)
{
    if (g.srtmd_pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", g.srtmd_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which is in parentheses and may hold spaces. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds this process used so far. */
static double own_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void take_sample(void)
{
    sample s = {.t = now() - g.t0, .rss_kib = rss_kib(),
                .steady = atomic_load(&g.in_steady) == g.clients};
    for (unsigned i = 0; i < g.clients; i++) {
        s.ops += atomic_load_explicit(&g.cl[i].live_ops, memory_order_relaxed);
        s.meas += atomic_load_explicit(&g.cl[i].live_meas, memory_order_relaxed);
    }
    pthread_mutex_lock(&samples.mu);
    if (samples.n == samples.cap) {
        size_t n = samples.cap ? samples.cap * 2 : 1024;
        sample *p = realloc(samples.s, n * sizeof(*p));
        if (p == NULL) {
            pthread_mutex_unlock(&samples.mu);
            fatal("out of memory");
            return;
        }
        samples.s = p;
        samples.cap = n;
    }
    samples.s[samples.n++] = s;
    pthread_mutex_unlock(&samples.mu);
}

static _Atomic bool sampler_stop;

static void *sampler_main(void *arg)
{
    (void)arg;
    struct timespec next;
    unsigned ticks = 0;
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!atomic_load(&sampler_stop)) {
        next.tv_sec += 1;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
        if (atomic_load(&sampler_stop))
            break;
        take_sample();
        /* A progress line a minute in long runs. */
        pthread_mutex_lock(&samples.mu);
        bool have = samples.n > 0;
        sample last = have ? samples.s[samples.n - 1] : (sample){0};
        pthread_mutex_unlock(&samples.mu);
        if (have && g.duration >= 120 && ++ticks % 60 == 0) {
            printf("load: %4.0f s: %llu requests, %llu measurements", last.t,
                   (unsigned long long)last.ops, (unsigned long long)last.meas);
            if (last.rss_kib >= 0)
                printf(", srtmd VmRSS %.0f MiB", last.rss_kib / 1024.0);
            printf("\n");
            fflush(stdout);
        }
    }
    return NULL;
}

/* ---- report ----------------------------------------------------------------------- */

static double hist_quantile(const uint64_t *h, uint64_t total, double q)
{
    if (total == 0)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)total);
    if (want == 0)
        want = 1;
    uint64_t acc = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        acc += h[i];
        if (acc >= want)
            return hist_value(i);
    }
    return hist_value(HIST_BUCKETS - 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            size_t n = cap ? cap * 2 : 8192;
            char *p = n <= 64u * 1024 * 1024 ? realloc(buf, n) : NULL;
            if (p == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
            cap = n;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    bool err = ferror(f) != 0;
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: srtm-load --url URL --admin-cap FILE [OPTION]...\n"
            "The load test of srtmd: concurrent clients with a mixed workload, then an exact\n"
            "check of every CCR and log against what srtmd acknowledged (docs/benchmarks.md).\n"
            "\n"
            "  --url URL          srtmd's socket (default $SRTM_SOCKET)\n"
            "  --admin-cap FILE   the admin capability (component 0's)\n"
            "  --clients N        client threads, one connection each (default 64)\n"
            "  --duration S       seconds of load (default 60)\n"
            "  --steady S         final seconds that store nothing (default a fifth of the\n"
            "                     duration); srtmd's memory must stay flat in them\n"
            "  --srtmd-pid PID    sample srtmd's VmRSS every second and check it\n"
            "  --rss-slack MIB    allowance on the memory bound while storing (default 16\n"
            "                     MiB); a quarter of it on the bound while storing nothing\n"
            "  --rss-factor F     srtmd may grow F times its measured cost per stored log\n"
            "                     entry, component and CCR while storing (default 2)\n"
            "  --aik PEM          the AIK public key, to verify quotes\n"
            "  --policy FILE      the verification policy (reference PCRs); each verified\n"
            "                     quote adds the model's values of its components to it\n"
            "  --verify-every N   verify one quote in N per client (default 4; 0: none)\n"
            "  --no-quote         no quotes (for srtmd --no-tpm)\n"
            "  --timeout MS       time to wait for each answer (default 60000)\n"
            "  --seed N           seed of the clients' random choices (default: random)\n"
            "  --max-entries N    storage budget: batches shrink to 1..8 measurements while\n"
            "                     the run is ahead of the pace that stores N log entries by\n"
            "                     the end of the storing phase (default 40000000, about\n"
            "                     3 GB in srtmd)\n"
            "  --help             show this help\n"
            "\n"
            "Exit status: 0 when every check passed (\"load: PASS\"), 1 otherwise, 2 for a\n"
            "usage error.\n");
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, const char **cap_path, const char **aik_path,
                      const char **policy_path)
{
    enum { O_URL = 256, O_CAP, O_CLIENTS, O_DURATION, O_STEADY, O_PID, O_SLACK, O_AIK,
           O_POLICY, O_VERIFY, O_NOQUOTE, O_TIMEOUT, O_SEED, O_MAXENT, O_FACTOR, O_HELP };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"admin-cap", required_argument, NULL, O_CAP},
        {"clients", required_argument, NULL, O_CLIENTS},
        {"duration", required_argument, NULL, O_DURATION},
        {"steady", required_argument, NULL, O_STEADY},
        {"srtmd-pid", required_argument, NULL, O_PID},
        {"rss-slack", required_argument, NULL, O_SLACK},
        {"rss-factor", required_argument, NULL, O_FACTOR},
        {"aik", required_argument, NULL, O_AIK},
        {"policy", required_argument, NULL, O_POLICY},
        {"verify-every", required_argument, NULL, O_VERIFY},
        {"no-quote", no_argument, NULL, O_NOQUOTE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"seed", required_argument, NULL, O_SEED},
        {"max-entries", required_argument, NULL, O_MAXENT},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    g.url = getenv("SRTM_SOCKET");
    g.clients = 64;
    g.duration = 60;
    g.steady = -1;
    g.quotes = true;
    g.verify_every = 4;
    g.timeout_ms = 60000;
    g.rss_slack_mib = 16;
    g.rss_factor = 2;
    g.max_entries = 40e6;
    bool seeded = false;
    int c, li = 0;
    double v = 0;
    while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
        bool ok = true;
        switch (c) {
        case O_URL:
            g.url = optarg;
            break;
        case O_CAP:
            *cap_path = optarg;
            break;
        case O_CLIENTS:
            ok = parse_num(optarg, 1, 4096, &v);
            g.clients = (unsigned)v;
            break;
        case O_DURATION:
            ok = parse_num(optarg, 1, 7 * 86400, &g.duration);
            break;
        case O_STEADY:
            ok = parse_num(optarg, 0, 7 * 86400, &g.steady);
            break;
        case O_PID:
            ok = parse_num(optarg, 1, 1e9, &v);
            g.srtmd_pid = (long)v;
            break;
        case O_SLACK:
            ok = parse_num(optarg, 0, 1e6, &g.rss_slack_mib);
            break;
        case O_FACTOR:
            ok = parse_num(optarg, 1, 1000, &g.rss_factor);
            break;
        case O_AIK:
            *aik_path = optarg;
            break;
        case O_POLICY:
            *policy_path = optarg;
            break;
        case O_VERIFY:
            ok = parse_num(optarg, 0, 1e9, &v);
            g.verify_every = (unsigned)v;
            break;
        case O_NOQUOTE:
            g.quotes = false;
            break;
        case O_TIMEOUT:
            ok = parse_num(optarg, 1, 3.6e6, &v);
            g.timeout_ms = (int32_t)v;
            break;
        case O_SEED: {
            char *end = NULL;
            errno = 0;
            unsigned long long seed = strtoull(optarg, &end, 10);
            ok = errno == 0 && end != optarg && *end == '\0' && optarg[0] != '-';
            g.seed = seed;
            seeded = true;
            break;
        }
        case O_MAXENT:
            ok = parse_num(optarg, 0, 1e12, &g.max_entries);
            break;
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "srtm-load: bad value '%s' for --%s\n", optarg, longopts[li].name);
            return 2;
        }
    }
    if (optind != argc || g.url == NULL || *cap_path == NULL) {
        fprintf(stderr, "srtm-load: --url (or $SRTM_SOCKET) and --admin-cap are needed\n");
        usage(stderr);
        return 2;
    }
    if ((*aik_path == NULL) != (*policy_path == NULL)) {
        fprintf(stderr, "srtm-load: --aik and --policy go together\n");
        return 2;
    }
    if (g.steady < 0)
        g.steady = g.duration / 5;
    if (g.steady >= g.duration) {
        fprintf(stderr, "srtm-load: --steady must be shorter than --duration\n");
        return 2;
    }
    if (!seeded && RAND_bytes((unsigned char *)&g.seed, sizeof(g.seed)) != 1)
        return 1;
    return 0;
}

typedef struct reasons {
    char text[2048];
} reasons;

static void fail_reason(reasons *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_reason(reasons *r, const char *fmt, ...)
{
    size_t n = strlen(r->text);
    if (n > 0 && n + 2 < sizeof(r->text)) {
        memcpy(r->text + n, "; ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text + n, sizeof(r->text) - n, fmt, ap);
    va_end(ap);
}

/* Final sequence-number accounting: every number srtmd handed out during the run belongs to
 * exactly one acknowledged measurement or revert marker, or to a registration. */
static void check_seqs(uint64_t seq0, uint64_t seq_end, uint64_t registrations, reasons *why)
{
    uint64_t span = seq_end - seq0;
    uint8_t *bits = calloc(span / 8 + 1, 1);
    if (bits == NULL) {
        fatal("out of memory for the sequence number check");
        return;
    }
    uint64_t dup = 0, outside = 0, marked = 0;
    for (unsigned c = 0; c < g.clients; c++) {
        const client *cl = &g.cl[c];
        for (size_t i = 0; i < cl->ncomps; i++) {
            const m_comp *m = cl->comps[i];
            for (uint32_t k = 0; k < m->nccrs; k++) {
                for (size_t j = 0; j < m->ccrs[k].len; j++) {
                    uint64_t s = m->ccrs[k].e[j] & E_SEQ;
                    if (s <= seq0 || s > seq_end) {
                        outside++;
                        continue;
                    }
                    uint64_t b = s - seq0 - 1;
                    if (bits[b / 8] & (1u << (b % 8)))
                        dup++;
                    bits[b / 8] |= (uint8_t)(1u << (b % 8));
                    marked++;
                }
            }
        }
    }
    free(bits);
    uint64_t unmarked = span - (marked - dup);
    printf("  sequence numbers %llu..%llu: %llu measurements and markers, %llu registrations, "
           "%llu duplicates, %llu outside\n",
           (unsigned long long)seq0 + 1, (unsigned long long)seq_end,
           (unsigned long long)(marked - dup), (unsigned long long)unmarked,
           (unsigned long long)dup, (unsigned long long)outside);
    if (dup > 0 || outside > 0)
        fail_reason(why, "%llu sequence numbers acknowledged twice or outside the run",
                    (unsigned long long)(dup + outside));
    if (unmarked != registrations)
        fail_reason(why, "%llu sequence numbers not accounted for by acknowledged changes "
                    "(%llu registrations)", (unsigned long long)unmarked,
                    (unsigned long long)registrations);
}

static uint64_t platform_seq(srtm_conn *c, srtm_err *err)
{
    srtm_ccrs *r = NULL;
    *err = srtm_read(c, "platform", NULL, 0, &r);
    uint64_t s = *err == SRTM_OK ? srtm_ccrs_seq(r) : 0;
    srtm_ccrs_free(r);
    return s;
}

int main(int argc, char **argv)
{
    const char *cap_path = NULL, *aik_path = NULL, *policy_path = NULL;
    int rc = parse_args(argc, argv, &cap_path, &aik_path, &policy_path);
    if (rc != 0)
        return rc;
    srtm_err err = srtm_cap_load(cap_path, &g.admin);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-load: %s: %s\n", cap_path, srtm_strerror(err));
        return 2;
    }
    if (aik_path != NULL) {
        g.aik_pem = read_text(aik_path);
        g.policy_text = read_text(policy_path);
        if (g.aik_pem == NULL || g.policy_text == NULL) {
            fprintf(stderr, "srtm-load: cannot read %s\n",
                    g.aik_pem == NULL ? aik_path : policy_path);
            return 2;
        }
        const char *slash = strrchr(policy_path, '/');
        size_t n = slash == NULL ? 1 : (size_t)(slash - policy_path);
        if (n >= sizeof(g.policy_dir)) {
            fprintf(stderr, "srtm-load: %s: path too long\n", policy_path);
            return 2;
        }
        memcpy(g.policy_dir, slash == NULL ? "." : policy_path, n);
        g.policy_dir[n] = '\0';
        srtm_verifier_policy *pol = NULL;
        char msg[512] = "";
        if (srtm_policy_load(policy_path, &pol, msg, sizeof(msg)) != SRTM_OK) {
            fprintf(stderr, "srtm-load: %s: %s\n", policy_path, msg);
            return 2;
        }
        srtm_policy_free(pol);
    }
    g.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    uint8_t tag[8];
    if (g.sha256 == NULL || RAND_bytes(tag, sizeof(tag)) != 1) {
        fprintf(stderr, "srtm-load: OpenSSL is not usable\n");
        return 1;
    }
    hex(tag, sizeof(tag), g.tag);
    g.cl = calloc(g.clients, sizeof(*g.cl));
    if (g.cl == NULL)
        return 1;

    srtm_conn *main_conn = NULL;
    if ((err = srtm_open(g.url, &main_conn)) != SRTM_OK ||
        (err = srtm_set_timeout(main_conn, g.timeout_ms)) != SRTM_OK) {
        fprintf(stderr, "srtm-load: cannot connect to %s: %s\n", g.url, srtm_strerror(err));
        return 1;
    }
    uint64_t seq0 = platform_seq(main_conn, &err);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-load: cannot read component 0: %s\n", srtm_strerror(err));
        return 1;
    }
    for (unsigned i = 0; i < g.clients; i++) {
        client *cl = &g.cl[i];
        cl->id = (int)i;
        uint64_t x = g.seed ^ ((uint64_t)i * 0x2545f4914f6cdd1dull);
        for (int k = 0; k < 4; k++)
            cl->rng[k] = splitmix(&x);
        cl->md = EVP_MD_CTX_new();
        cl->hist = calloc(OP_COUNT, sizeof(*cl->hist));
        cl->verify_hist = calloc(HIST_BUCKETS, sizeof(*cl->verify_hist));
        if (cl->md == NULL || cl->hist == NULL || cl->verify_hist == NULL ||
            srtm_batch_new(&cl->batch) != SRTM_OK)
            return 1;
        if ((err = srtm_open(g.url, &cl->conn)) != SRTM_OK ||
            (err = srtm_set_timeout(cl->conn, g.timeout_ms)) != SRTM_OK) {
            fprintf(stderr, "srtm-load: client %u cannot connect: %s\n", i, srtm_strerror(err));
            return 1;
        }
    }

    long rss_start = rss_kib();
    if (g.srtmd_pid > 0 && rss_start < 0) {
        fprintf(stderr, "srtm-load: cannot read /proc/%ld/status\n", g.srtmd_pid);
        return 1;
    }
    printf("srtm-load: %u clients, %.0f s (the last %.0f s store nothing), quotes %s, seed %llu, "
           "components load-%s-*\n",
           g.clients, g.duration, g.steady,
           !g.quotes ? "off" : g.aik_pem != NULL ? "on, verified" : "on, not verified",
           (unsigned long long)g.seed, g.tag);
    fflush(stdout);
    double cpu0_srtmd = srtmd_cpu(), cpu0_own = own_cpu();
    g.t0 = now();
    g.t_store_end = g.t0 + g.duration - g.steady;
    g.t_end = g.t0 + g.duration;
    take_sample();
    pthread_t sampler;
    if (pthread_create(&sampler, NULL, sampler_main, NULL) != 0)
        return 1;
    for (unsigned i = 0; i < g.clients; i++)
        if (pthread_create(&g.cl[i].th, NULL, client_main, &g.cl[i]) != 0)
            return 1;
    for (unsigned i = 0; i < g.clients; i++)
        pthread_join(g.cl[i].th, NULL);
    double t_load = now() - g.t0;
    atomic_store(&sampler_stop, true);
    pthread_join(sampler, NULL);
    take_sample();
    long rss_end = rss_kib();
    double cpu_srtmd = srtmd_cpu() - cpu0_srtmd, cpu_own = own_cpu() - cpu0_own;

    /* The final check, each client over its own components, in parallel. */
    double tc = now();
    for (unsigned i = 0; i < g.clients; i++)
        if (pthread_create(&g.cl[i].th, NULL, check_main, &g.cl[i]) != 0)
            return 1;
    for (unsigned i = 0; i < g.clients; i++)
        pthread_join(g.cl[i].th, NULL);
    double t_check = now() - tc;
    uint64_t seq_end = platform_seq(main_conn, &err);

    /* Totals. */
    uint64_t count[2][OP_COUNT] = {{0}}, fails[FAIL_KINDS] = {0};
    uint64_t meas = 0, markers = 0, reverted = 0, desc = 0, ccrs = 0, comps = 0, quotes = 0,
             verified = 0, evb = 0, unexp = 0, timeouts = 0, incons = 0, checked = 0,
             checked_ccrs = 0, tainted = 0, paced = 0;
    uint64_t *hist = calloc((size_t)(OP_COUNT + 1) * HIST_BUCKETS, sizeof(*hist));
    if (hist == NULL)
        return 1;
    for (unsigned i = 0; i < g.clients; i++) {
        const client *cl = &g.cl[i];
        for (int p = 0; p < 2; p++)
            for (int o = 0; o < OP_COUNT; o++)
                count[p][o] += cl->count[p][o];
        for (int o = 0; o < OP_COUNT; o++)
            for (size_t b = 0; b < HIST_BUCKETS; b++)
                hist[(size_t)o * HIST_BUCKETS + b] += cl->hist[o][b];
        for (size_t b = 0; b < HIST_BUCKETS; b++)
            hist[(size_t)OP_COUNT * HIST_BUCKETS + b] += cl->verify_hist[b];
        for (int k = 0; k < FAIL_KINDS; k++)
            fails[k] += cl->fails[k];
        meas += cl->measurements;
        markers += cl->markers;
        reverted += cl->reverted;
        desc += cl->desc_bytes;
        ccrs += cl->ccrs_made;
        comps += cl->ncomps;
        quotes += cl->quotes;
        verified += cl->verified;
        evb += cl->evidence_bytes;
        unexp += cl->unexpected;
        timeouts += cl->timeouts;
        incons += cl->inconsistent;
        checked += cl->checked_entries;
        checked_ccrs += cl->checked_ccrs;
        tainted += cl->tainted;
        paced += cl->paced;
    }
    uint64_t designed = 0;
    for (int k = 0; k < FAIL_KINDS; k++)
        designed += fails[k];

    reasons why = {{0}};
    double store_s = g.duration - g.steady;
    uint64_t ops_store = 0, ops_steady = 0;
    for (int o = 0; o < OP_COUNT; o++) {
        ops_store += count[0][o];
        ops_steady += count[1][o];
    }
    printf("\nload: %.1f s with %u clients (%.0f s storing, %.0f s storing nothing); final "
           "check %.1f s\n", t_load, g.clients, store_s, g.steady, t_check);
    printf("  %-9s %12s %12s %11s %11s %11s\n", "op", "storing", "steady", "median", "p99",
           "max");
    for (int o = 0; o < OP_COUNT; o++) {
        const uint64_t *h = &hist[(size_t)o * HIST_BUCKETS];
        uint64_t n = 0;
        size_t top = 0;
        for (size_t b = 0; b < HIST_BUCKETS; b++) {
            n += h[b];
            if (h[b])
                top = b;
        }
        printf("  %-9s %12llu %12llu %9.3f ms %8.3f ms %8.1f ms\n", op_names[o],
               (unsigned long long)count[0][o], (unsigned long long)count[1][o],
               hist_quantile(h, n, 0.5) / 1e6, hist_quantile(h, n, 0.99) / 1e6,
               n ? hist_value(top) / 1e6 : 0.0);
    }
    {
        const uint64_t *h = &hist[(size_t)OP_COUNT * HIST_BUCKETS];
        uint64_t n = 0;
        for (size_t b = 0; b < HIST_BUCKETS; b++)
            n += h[b];
        if (n > 0)
            printf("  %-9s %12llu %12s %9.3f ms %8.3f ms   (srtm_verify, not a request)\n",
                   "verify", (unsigned long long)n, "", hist_quantile(h, n, 0.5) / 1e6,
                   hist_quantile(h, n, 0.99) / 1e6);
    }
    /* Per-second throughput while storing, from the sampler. */
    double *rate = calloc(samples.n + 1, sizeof(*rate));
    size_t nrate = 0;
    for (size_t i = 1; i < samples.n && rate != NULL; i++) {
        const sample *a = &samples.s[i - 1], *b = &samples.s[i];
        if (b->t <= store_s && b->t - a->t > 0.5)
            rate[nrate++] = (double)(b->ops - a->ops) / (b->t - a->t);
    }
    printf("  throughput while storing: %.0f requests/s, %.0f measurements/s (%llu measurements, "
           "%llu revert markers undoing %llu)\n",
           (double)ops_store / store_s, (double)meas / store_s, (unsigned long long)meas,
           (unsigned long long)markers, (unsigned long long)reverted);
    if (nrate > 2) {
        qsort(rate, nrate, sizeof(*rate), cmp_double);
        printf("  requests/s per second while storing: min %.0f, median %.0f, max %.0f\n",
               rate[0], rate[nrate / 2], rate[nrate - 1]);
    }
    free(rate);
    if (paced > 0)
        printf("  storage budget (--max-entries %.0f): %llu batches shrunk to 1..8 measurements\n",
               g.max_entries, (unsigned long long)paced);
    printf("  throughput storing nothing: %.0f requests/s; whole run %.0f requests/s\n",
           g.steady > 0 ? (double)ops_steady / g.steady : 0.0,
           (double)(ops_store + ops_steady) / t_load);
    if (cpu0_srtmd >= 0)
        printf("  CPU during the load: srtmd %.0f s (%.2f cores), srtm-load %.0f s (%.2f cores)\n",
               cpu_srtmd, cpu_srtmd / t_load, cpu_own, cpu_own / t_load);
    printf("  components %llu (CCRs %llu); quotes %llu (%.0f KiB evidence on average), %llu "
           "verified\n",
           (unsigned long long)comps, (unsigned long long)ccrs, (unsigned long long)quotes,
           quotes ? (double)evb / (double)quotes / 1024 : 0.0, (unsigned long long)verified);
    printf("  designed failures %llu, each with its exact status:", (unsigned long long)designed);
    for (int k = 0; k < FAIL_KINDS; k++)
        printf("%s %llu %s", k ? "," : "", (unsigned long long)fails[k], fail_names[k]);
    printf("\n  unexpected failures %llu (timeouts, ambiguous: %llu; components left out of the "
           "check: %llu)\n",
           (unsigned long long)unexp, (unsigned long long)timeouts, (unsigned long long)tainted);
    printf("  final check: %llu CCRs, %llu log entries against the model and their replay; "
           "%llu inconsistencies\n",
           (unsigned long long)checked_ccrs, (unsigned long long)checked,
           (unsigned long long)incons);
    if (unexp > 0)
        fail_reason(&why, "%llu unexpected failures", (unsigned long long)unexp);
    if (incons > 0)
        fail_reason(&why, "%llu inconsistencies", (unsigned long long)incons);
    if (g.quotes && g.aik_pem != NULL && verified == 0)
        fail_reason(&why, "no quote verified");
    if (atomic_load(&g.fatal))
        fail_reason(&why, "the load program stopped early");
    if (err != SRTM_OK) {
        fail_reason(&why, "cannot read the final sequence number: %s", srtm_strerror(err));
    } else {
        /* Registrations: every one the clients made, and no other. */
        srtm_components *list = NULL;
        uint64_t ours = 0;
        if ((err = srtm_list(main_conn, &list)) != SRTM_OK) {
            fail_reason(&why, "cannot list components: %s", srtm_strerror(err));
        } else {
            char prefix[40];
            int pn = snprintf(prefix, sizeof(prefix), "load-%s-", g.tag);
            for (size_t i = 0; i < srtm_components_count(list); i++)
                ours += strncmp(srtm_components_name(list, i), prefix, (size_t)pn) == 0;
            srtm_components_free(list);
            if (ours != comps)
                fail_reason(&why, "srtmd lists %llu components of the run, the clients "
                            "registered %llu", (unsigned long long)ours,
                            (unsigned long long)comps);
        }
        check_seqs(seq0, seq_end, comps, &why);
    }

    /* srtmd's memory. */
    if (g.srtmd_pid > 0) {
        long rss_base = -1, rss_max_steady = 0;
        double t_base = 0;
        for (size_t i = 0; i < samples.n; i++) {
            const sample *s = &samples.s[i];
            if (!s->steady)
                continue;
            if (rss_base < 0) {
                rss_base = s->rss_kib;
                t_base = s->t;
            }
            if (s->rss_kib > rss_max_steady)
                rss_max_steady = s->rss_kib;
        }
        double entries = (double)(meas + markers);
        double expect = SRTMD_BYTES_PER_ENTRY * entries + 2.0 * (double)desc +
                        SRTMD_BYTES_PER_COMPONENT * (double)comps +
                        SRTMD_BYTES_PER_CCR * (double)ccrs;
        double slack = g.rss_slack_mib * 1048576.0;
        printf("  srtmd VmRSS: start %.1f MiB, after storing %.1f MiB (t=%.0f s), end %.1f MiB "
               "(highest storing nothing %.1f MiB)\n",
               rss_start / 1024.0, rss_base / 1024.0, t_base, rss_end / 1024.0,
               rss_max_steady / 1024.0);
        if (rss_base < 0 || rss_end < 0) {
            fail_reason(&why, "srtmd's memory was not sampled in the final phase");
        } else {
            double grow = (double)(rss_base - rss_start) * 1024.0;
            double per = entries > 0 ? grow / entries : 0;
            double bound = g.rss_factor * expect + slack;
            printf("  storing: grew %.1f MiB for %.0f log entries, %llu components: %.1f B per "
                   "entry all included (bound %.1f MiB: %g times the per-item costs + %g MiB)\n",
                   grow / 1048576.0, entries, (unsigned long long)comps, per,
                   bound / 1048576.0, g.rss_factor, g.rss_slack_mib);
            if (grow > bound)
                fail_reason(&why, "srtmd grew %.1f MiB while storing, over %.1f MiB",
                            grow / 1048576.0, bound / 1048576.0);
            double steady_grow = (double)(rss_end - rss_base) * 1024.0;
            double steady_bound = slack / 4 + 0.01 * (double)rss_base * 1024.0;
            printf("  storing nothing: grew %.2f MiB (bound %.2f MiB)\n",
                   steady_grow / 1048576.0, steady_bound / 1048576.0);
            if (steady_grow > steady_bound)
                fail_reason(&why, "srtmd grew %.2f MiB while storing nothing, over %.2f MiB",
                            steady_grow / 1048576.0, steady_bound / 1048576.0);
        }
    }

    if (why.text[0] == '\0')
        printf("load: PASS\n");
    else
        printf("load: FAIL (%s)\n", why.text);
    fflush(stdout);

    for (unsigned i = 0; i < g.clients; i++) {
        client *cl = &g.cl[i];
        for (size_t k = 0; k < cl->ncomps; k++)
            comp_free(cl->comps[k]);
        free(cl->comps);
        free(cl->hist);
        free(cl->verify_hist);
        srtm_batch_free(cl->batch);
        EVP_MD_CTX_free(cl->md);
        srtm_close(cl->conn);
    }
    free(g.cl);
    free(hist);
    free(samples.s);
    free(g.aik_pem);
    free(g.policy_text);
    srtm_cap_wipe(&g.admin);
    srtm_close(main_conn);
    EVP_MD_free(g.sha256);
    return why.text[0] == '\0' ? 0 : 1;
}
