/*
 * Request dispatch. Every operation has one handler in a static table and the same
 * phases: validate (fields alone, and the SHA-256 of a presented capability; no lock),
 * then under the table lock authorise (find the component, compare the capability's
 * digest in constant time) and act, then answer (the response is built in
 * the worker's arena from copies, so it is packed after the lock is released).
 * Malformed input gets an error response and changes nothing.
 *
 * A quote holds the lock only to find the components it names and take a cut (the
 * sequence number and the component count, O(1)). Its answer phase, after the lock is
 * released, finds the closure, bounds the size, snapshots and builds the report of the
 * table as it was at the cut (report.h; ccr.h, "Reading at a cut"), so however large the
 * report, a quote does not delay extends.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "arena.h"
#include "ccr.h"
#include "graph.h"
#include "report.h"
#include "report_cache.h"
#include "service.h"
#include "srtm.pb-c.h"

/* A request may make protobuf-c and the handlers allocate at most this much. A full
 * batch (SRTM_MAX_BATCH measurements with SRTM_MAX_DESC descriptions) needs about 3.5 MiB. */
#define REQUEST_ARENA_BUDGET (16u * 1024u * 1024u)

_Static_assert((int)SRTM__STATUS__STATUS_QUOTA == (int)SRTM_E_QUOTA, "status enum drifted");
_Static_assert(SRTM_ERR_COUNT == (int)SRTM_E_QUOTA + 1, "SRTM_ERR_COUNT drifted");

struct srtm_service {
    pthread_mutex_t lock; /* covers table and graph; see the file comment of service.h */
    ccr_table *table;
    graph *graph;         /* node i is the component with handle i, always */
    bool broken;          /* table and graph disagree after an allocation failure */
    report_identity identity; /* set once before serving */
    report_cache *reports;    /* recent quotes' reports, by cut and selection */
    bool can_quote;           /* a TPM and a certified IRK are in place */
    service_quota quota;      /* set once before serving */
    /* service_set_rss_probe; the samples under the lock */
    uint64_t (*rss)(void);
    uint64_t rss_base, rss_base_stored, rss_last, rss_last_stored;
    long rss_last_ms;
    service_status_fn status_fn; /* srtmd's part of a status answer; set once, may be NULL */
    void *status_arg;
};

struct service_worker {
    srtm_service *svc;
    arena arena;
    sha256_hasher *hasher;
    Srtm__Response resp;
    srtm_err status;
    uint8_t *secret;     /* a secret copied into the response, wiped after packing */
    size_t secret_len;
    /* A quote in the making: the cut and selection taken under the lock, then the
     * snapshot (its memory kept from one quote to the next) and the report built after
     * the lock, for the quoter. */
    ccr_cut cut;
    uint64_t *cut_sel; /* the handles named, in the arena; cut_n of them */
    size_t cut_n;
    uint64_t cut_since; /* an incremental report's since (quote_since); 0: full */
    report_snapshot *snap;
    report_identity snap_id; /* the service's identity when the cut was taken */
    uint8_t *report;
    size_t report_len;
    uint8_t report_digest[SRTM_DIGEST_LEN]; /* SHA-256(report), when report_digest_ok */
    bool report_digest_ok;
    ProtobufCBinaryData quote_nonce; /* points into the request, in the arena */
    bool quote_pending;
    bool defer_large;                /* service_worker_defer_large_quotes */
    const Srtm__Request *build_req;  /* a quote left to build, in the arena; else NULL */
    /* The answer's message lives outside the arena, so that a request that used up its
     * memory budget still gets an error that says why. */
    char message[256];
    bool read_only; /* serves a listener that must never change state (tcp://) */
};

/* What a handler works with. */
typedef struct op_call {
    service_worker *w;
    const Srtm__Request *req;
    const service_peer *peer;
    Srtm__Response *resp;
    ccr_table *table; /* valid in authorise and act only (under the lock) */
    graph *graph;     /* likewise */
    ccr_component *comp;
    ccr_component *other; /* the second component an operation names (dependency target) */
    ccr_component *actor; /* the component whose capability authorises the change */
    /* The presented capability, hashed before the lock (hash_presented_cap); check_cap
     * only compares under it. cap_status is SRTM_OK with cap_hash set, or the refusal
     * check_cap answers, with cap_refusal its message. */
    bool cap_hashed;
    srtm_err cap_status;
    const char *cap_refusal;
    uint8_t cap_hash[SRTM_DIGEST_LEN];
} op_call;

typedef struct op_desc {
    const char *name;
    bool mutation;
    /* Fields alone; no lock held. */
    srtm_err (*validate)(op_call *c);
    /* Under the lock: find the target and decide; then change state and answer. */
    srtm_err (*authorise)(op_call *c);
    srtm_err (*act)(op_call *c);
    /* Optional, after the lock is released: work from what act copied. */
    srtm_err (*answer)(op_call *c);
    /* Optional: whether answer may be left for service_worker_build_quote. */
    bool (*answer_is_long)(const op_call *c);
} op_desc;

static void set_message(op_call *c, const char *fmt, ...) SRTM_PRINTF(2, 3);

static void set_message(op_call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->w->message, sizeof(c->w->message), fmt, ap);
    va_end(ap);
    if (n >= 0)
        c->resp->message = c->w->message;
}

static void *zalloc(op_call *c, size_t size)
{
    void *p = arena_alloc(&c->w->arena, size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

static char *copy_str(op_call *c, const char *s, size_t len)
{
    char *p = arena_alloc(&c->w->arena, len + 1);
    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static uint8_t *copy_bytes(op_call *c, const uint8_t *b, size_t len)
{
    uint8_t *p = arena_alloc(&c->w->arena, len);
    if (p != NULL && len > 0)
        memcpy(p, b, len);
    return p;
}

/* ---- shared phases ---- */

/* A component name from a peer: 1..SRTM_MAX_NAME bytes of UTF-8 without NUL. */
static srtm_err validate_name(op_call *c, const ProtobufCBinaryData *name)
{
    if (name->len == 0) {
        set_message(c, "component name empty");
        return SRTM_E_INVALID;
    }
    if (name->len > SRTM_MAX_NAME) {
        set_message(c, "component name longer than %u bytes", SRTM_MAX_NAME);
        return SRTM_E_TOO_BIG;
    }
    if (!utf8_valid((const char *)name->data, name->len)) {
        set_message(c, "component name is not UTF-8 without NUL bytes");
        return SRTM_E_INVALID;
    }
    return SRTM_OK;
}

static srtm_err validate_ref(op_call *c, const Srtm__ComponentRef *ref)
{
    if (ref == NULL || ref->ref_case == SRTM__COMPONENT_REF__REF__NOT_SET) {
        set_message(c, "component missing");
        return SRTM_E_INVALID;
    }
    if (ref->ref_case == SRTM__COMPONENT_REF__REF_NAME)
        return validate_name(c, &ref->name);
    return SRTM_OK;
}

static srtm_err find_ref(op_call *c, const Srtm__ComponentRef *ref)
{
    if (ref->ref_case == SRTM__COMPONENT_REF__REF_NAME) {
        c->comp = ccr_find_name(c->table, (const char *)ref->name.data, ref->name.len);
        if (c->comp == NULL) {
            /* Names are public (list shows them) and were checked to be UTF-8 without
             * NUL; echoing one helps users. */
            set_message(c, "no component named '%.*s'", (int)ref->name.len,
                        (const char *)ref->name.data);
            return SRTM_E_NO_COMPONENT;
        }
    } else {
        c->comp = ccr_find_handle(c->table, ref->handle);
        if (c->comp == NULL) {
            set_message(c, "no component with handle %llu", (unsigned long long)ref->handle);
            return SRTM_E_NO_COMPONENT;
        }
    }
    return SRTM_OK;
}

_Static_assert(SRTM_CAP_LEN == 32, "the refusal below names the capability length");

/*
 * The validate phase's share of a capability check, run by run() before it takes the
 * lock: hash the capability presented with the request into c->cap_hash. A missing or
 * malformed capability is not refused here but remembered in c->cap_status, so that
 * check_cap refuses it where the order of checks (docs/protocol.md) puts it: after the
 * target was found.
 */

static void hash_presented_cap(op_call *c)
{
    const ProtobufCBinaryData *cap = &c->req->capability;
    c->cap_hashed = true;
    c->cap_status = SRTM_E_DENIED;
    if (cap->len == 0)
        c->cap_refusal = "this operation needs a capability";
    else if (cap->len != SRTM_CAP_LEN)
        c->cap_refusal = "capability must be 32 bytes";
    else if ((c->cap_status = sha256_hasher_two(c->w->hasher, cap->data, cap->len, NULL, 0,
                                                c->cap_hash)) != SRTM_OK)
        c->cap_refusal = "hashing the capability failed";
}

/* Under the lock: the presented capability's hash against comp's, in constant time. */
static srtm_err check_cap(op_call *c, const ccr_component *comp)
{
    if (!c->cap_hashed) { /* fail closed should a path skip the validate phase's share */
        set_message(c, "capability not checked");
        return SRTM_E_INTERNAL;
    }
    if (c->cap_status != SRTM_OK) {
        set_message(c, "%s", c->cap_refusal);
        return c->cap_status;
    }
    if (!ccr_cap_matches(comp, c->cap_hash)) {
        set_message(c, "capability does not authorise changes to '%s'", ccr_comp_name(comp));
        return SRTM_E_DENIED;
    }
    return SRTM_OK;
}

/* ---- register ---- */

static srtm_err register_validate(op_call *c)
{
    const Srtm__RegisterRequest *r = c->req->register_component;
    srtm_err err = validate_name(c, &r->name);
    if (err != SRTM_OK)
        return err;
    /* '/' joins the names of a path ("platform/dm/vm-b"), which is how a verifier tells
     * components of the same name apart (docs/verifier.md). */
    if (memchr(r->name.data, '/', r->name.len) != NULL) {
        set_message(c, "component name contains '/'");
        return SRTM_E_INVALID;
    }
    if (r->ccr_count > SRTM_MAX_CCRS_PER_REGISTER) {
        set_message(c, "more than %u CCRs in one registration", SRTM_MAX_CCRS_PER_REGISTER);
        return SRTM_E_TOO_BIG;
    }
    if (r->parent != NULL && (err = validate_ref(c, r->parent)) != SRTM_OK)
        return err;
    if (r->n_depends_on > SRTM_MAX_DEPS) {
        set_message(c, "more than %u dependencies declared", SRTM_MAX_DEPS);
        return SRTM_E_TOO_BIG;
    }
    for (size_t i = 0; i < r->n_depends_on; i++)
        if ((err = validate_ref(c, r->depends_on[i])) != SRTM_OK)
            return err;
    uint32_t nccrs = r->ccr_count ? r->ccr_count : 1;
    for (size_t i = 0; i < r->n_reversible; i++) {
        if (r->reversible[i] >= nccrs) {
            set_message(c, "reversible CCR %u, but the component gets %u CCRs", r->reversible[i],
                        nccrs);
            return SRTM_E_NO_CCR;
        }
    }
    return SRTM_OK;
}

/* Resolve ref into *out without disturbing c->comp. */
static srtm_err find_into(op_call *c, const Srtm__ComponentRef *ref, ccr_component **out)
{
    ccr_component *saved = c->comp;
    srtm_err err = find_ref(c, ref);
    if (err == SRTM_OK)
        *out = c->comp;
    c->comp = saved;
    return err;
}

/* Refuse everything that changes state once table and graph disagree. */
static srtm_err check_not_broken(op_call *c)
{
    if (c->w->svc->broken) {
        set_message(c, "srtmd ran out of memory in the middle of a change and accepts no "
                       "more changes; restart it (after a reboot)");
        return SRTM_E_INTERNAL;
    }
    return SRTM_OK;
}

/* ---- quotas: checked in authorise, against counters the CCR table keeps ---- */

static srtm_err quota_refuse(op_call *c, const char *fmt, ...) SRTM_PRINTF(2, 3);

static srtm_err quota_refuse(op_call *c, const char *fmt, ...)
{
    char text[sizeof(c->w->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    set_message(c, "quota: %s", text);
    return SRTM_E_QUOTA;
}

/* true when have + add passes limit. */
static bool over(uint64_t have, uint64_t add, uint64_t limit)
{
    return add > limit || have > limit - add;
}

static long monotonic_ms(void)
{
    return (long)(srtm_mono_ns() / 1000000);
}

#define RSS_RATIO_MAX 64u

/* Under the lock: how much srtmd's resident memory grew since service_set_rss_probe,
 * from a sample at most SERVICE_RSS_PERIOD_MS or SERVICE_RSS_STEP stored bytes old. */
static uint64_t rss_growth(srtm_service *s, uint64_t stored)
{
    long now = monotonic_ms();
    if (now - s->rss_last_ms >= SERVICE_RSS_PERIOD_MS ||
        stored - s->rss_last_stored >= SERVICE_RSS_STEP) {
        s->rss_last = s->rss();
        s->rss_last_ms = now;
        s->rss_last_stored = stored;
    }
    return s->rss_last > s->rss_base ? s->rss_last - s->rss_base : 0;
}

/* Room in srtmd's memory budget for add more accounted bytes: stored, and resident. */
static srtm_err quota_global(op_call *c, uint64_t add)
{
    srtm_service *s = c->w->svc;
    const service_quota *q = &s->quota;
    uint64_t used = ccr_table_stored(c->table);
    if (over(used, add, q->memory_budget))
        return quota_refuse(c, "srtmd stores %llu bytes, the change adds %llu (memory-budget "
                               "%llu)",
                            (unsigned long long)used, (unsigned long long)add,
                            (unsigned long long)q->memory_budget);
    if (s->rss == NULL)
        return SRTM_OK;
    /* The change is expected to take resident memory in the proportion srtmd's memory
     * grew to what it stored so far (decoding, log segments, the allocator's own), at
     * least twice its accounted bytes; the proportion once a first MiB is stored, before
     * which srtmd's own working memory is most of the growth. */
    uint64_t grown = rss_growth(s, used), stored = used - s->rss_base_stored, ratio = 2;
    if (stored >= SERVICE_RSS_STEP && grown / stored + 1 > ratio)
        ratio = grown / stored + 1 > RSS_RATIO_MAX ? RSS_RATIO_MAX : grown / stored + 1;
    uint64_t need = add > UINT64_MAX / RSS_RATIO_MAX ? UINT64_MAX : add * ratio;
    if (over(grown, need, q->memory_budget))
        return quota_refuse(c, "srtmd's resident memory grew by %llu bytes since it started "
                               "serving, the change needs about %llu (memory-budget %llu)",
                            (unsigned long long)grown, (unsigned long long)need,
                            (unsigned long long)q->memory_budget);
    return SRTM_OK;
}

/* Room in comp's logs for add_e more entries of add_b accounted bytes. */
static srtm_err quota_log(op_call *c, const ccr_component *comp, uint64_t add_e, uint64_t add_b)
{
    const service_quota *q = &c->w->svc->quota;
    uint64_t e = 0, b = 0;
    uint32_t children = 0, depth = 0;
    ccr_comp_usage(comp, &e, &b, &children, &depth);
    const char *n = ccr_comp_name(comp);
    if (over(e, add_e, q->log_entries_per_component))
        return quota_refuse(c, "component '%s' has %llu log entries, the change adds %llu "
                               "(log-entries-per-component %llu)",
                            n, (unsigned long long)e, (unsigned long long)add_e,
                            (unsigned long long)q->log_entries_per_component);
    if (over(b, add_b, q->log_bytes_per_component))
        return quota_refuse(c, "component '%s' has %llu log bytes, the change adds %llu "
                               "(log-bytes-per-component %llu)",
                            n, (unsigned long long)b, (unsigned long long)add_b,
                            (unsigned long long)q->log_bytes_per_component);
    return quota_global(c, add_b);
}

/* Room in CCR index of comp for add_e more entries of add_b accounted bytes. */
static srtm_err quota_ccr(op_call *c, const ccr_component *comp, uint32_t index, uint64_t add_e,
                          uint64_t add_b)
{
    const service_quota *q = &c->w->svc->quota;
    uint64_t e = 0, b = 0;
    if (ccr_usage(comp, index, &e, &b) != SRTM_OK)
        return SRTM_OK; /* no such CCR: the act phase says so */
    const char *n = ccr_comp_name(comp);
    if (over(e, add_e, q->log_entries_per_ccr))
        return quota_refuse(c, "CCR %u of '%s' has %llu log entries, the change adds %llu "
                               "(log-entries-per-ccr %llu)",
                            index, n, (unsigned long long)e, (unsigned long long)add_e,
                            (unsigned long long)q->log_entries_per_ccr);
    if (over(b, add_b, q->log_bytes_per_ccr))
        return quota_refuse(c, "CCR %u of '%s' has %llu log bytes, the change adds %llu "
                               "(log-bytes-per-ccr %llu)",
                            index, n, (unsigned long long)b, (unsigned long long)add_b,
                            (unsigned long long)q->log_bytes_per_ccr);
    return SRTM_OK;
}

/* A batch: per CCR (summed in the arena), then per component and globally. */
static srtm_err quota_extend(op_call *c)
{
    const Srtm__ExtendRequest *r = c->req->extend;
    size_t n = r->digests.len / SRTM_DIGEST_LEN;
    uint32_t nccrs = ccr_comp_ccr_count(c->comp);
    uint64_t *per = zalloc(c, 2 * (size_t)nccrs * sizeof(*per));
    if (per == NULL)
        return SRTM_E_NO_MEMORY;
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t cost = ccr_entry_cost(r->n_descriptions ? r->descriptions[i].len : 0);
        bytes += cost;
        if (r->ccrs[i] < nccrs) {
            per[2 * r->ccrs[i]]++;
            per[2 * r->ccrs[i] + 1] += cost;
        }
    }
    /* An IRREVERSIBLE CCR's checkpoints count with the entries that complete them. */
    for (uint32_t k = 0; k < nccrs; k++) {
        uint64_t cp = per[2 * k] > 0 ? ccr_checkpoint_bytes(c->comp, k, per[2 * k]) : 0;
        per[2 * k + 1] += cp;
        bytes += cp;
    }
    srtm_err err = SRTM_OK;
    for (uint32_t k = 0; k < nccrs && err == SRTM_OK; k++)
        if (per[2 * k] > 0)
            err = quota_ccr(c, c->comp, k, per[2 * k], per[2 * k + 1]);
    if (err == SRTM_OK)
        err = quota_log(c, c->comp, n, bytes);
    return err;
}

/* A new child of c->actor registered by c->peer. */
static srtm_err quota_register(op_call *c)
{
    const service_quota *q = &c->w->svc->quota;
    const Srtm__RegisterRequest *r = c->req->register_component;
    uint64_t e = 0, b = 0;
    uint32_t children = 0, depth = 0;
    ccr_comp_usage(c->actor, &e, &b, &children, &depth);
    const char *n = ccr_comp_name(c->actor);
    if (children >= q->children_per_component)
        return quota_refuse(c, "component '%s' has %u children (children-per-component %llu)",
                            n, children, (unsigned long long)q->children_per_component);
    if ((uint64_t)depth + 1 > q->depth)
        return quota_refuse(c, "a child of '%s' would be at depth %llu (max-depth %llu)", n,
                            (unsigned long long)depth + 1, (unsigned long long)q->depth);
    uint64_t mine = ccr_uid_components(c->table, c->peer->uid);
    if (mine >= q->components_per_uid)
        return quota_refuse(c, "uid %u has registered %llu components (components-per-uid "
                               "%llu)",
                            c->peer->uid, (unsigned long long)mine,
                            (unsigned long long)q->components_per_uid);
    return quota_global(c, ccr_component_cost(r->name.len, r->ccr_count ? r->ccr_count : 1));
}

void service_quota_defaults(service_quota *q)
{
    *q = (service_quota){
        .log_entries_per_component = 1u << 20,
        .log_bytes_per_component = 32u << 20,
        .log_entries_per_ccr = 1u << 20,
        .log_bytes_per_ccr = 32u << 20,
        .children_per_component = 4096,
        .depth = 16,
        .components_per_uid = 65536,
        .memory_budget = (uint64_t)512 << 20,
    };
}

void service_quota_unlimited(service_quota *q)
{
    *q = (service_quota){UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                         UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
}

void service_set_quota(srtm_service *s, const service_quota *q)
{
    pthread_mutex_lock(&s->lock);
    s->quota = *q;
    pthread_mutex_unlock(&s->lock);
}

void service_set_rss_probe(srtm_service *s, uint64_t (*rss)(void))
{
    pthread_mutex_lock(&s->lock);
    s->rss = rss;
    s->rss_base = s->rss_last = rss != NULL ? rss() : 0;
    s->rss_last_ms = monotonic_ms();
    s->rss_last_stored = s->rss_base_stored = ccr_table_stored(s->table);
    pthread_mutex_unlock(&s->lock);
}

static srtm_err register_authorise(op_call *c)
{
    /* The parent registers its child: component 0 (the admin capability) unless the
     * request names another parent. */
    const Srtm__RegisterRequest *r = c->req->register_component;
    srtm_err err = check_not_broken(c);
    if (err != SRTM_OK)
        return err;
    c->actor = ccr_find_handle(c->table, CCR_PLATFORM_HANDLE);
    if (r->parent != NULL && (err = find_into(c, r->parent, &c->actor)) != SRTM_OK)
        return err;
    if ((err = check_cap(c, c->actor)) != SRTM_OK)
        return err;
    if (graph_is_terminated(c->graph, ccr_comp_handle(c->actor))) {
        set_message(c, "'%s' is terminated and cannot register components",
                    ccr_comp_name(c->actor));
        return SRTM_E_INVALID;
    }
    return quota_register(c);
}

/* The child's dependencies: its parent, then the declared ones, each once. */
static srtm_err child_deps(op_call *c, uint64_t *deps, size_t *n_out)
{
    const Srtm__RegisterRequest *r = c->req->register_component;
    size_t n = 0;
    deps[n++] = ccr_comp_handle(c->actor);
    for (size_t i = 0; i < r->n_depends_on; i++) {
        ccr_component *d = NULL;
        srtm_err err = find_into(c, r->depends_on[i], &d);
        if (err != SRTM_OK)
            return err;
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = deps[k] == ccr_comp_handle(d);
        if (!seen)
            deps[n++] = ccr_comp_handle(d);
    }
    *n_out = n;
    return SRTM_OK;
}

static srtm_err register_act(op_call *c)
{
    const Srtm__RegisterRequest *r = c->req->register_component;
    uint8_t *cap = arena_alloc(&c->w->arena, SRTM_CAP_LEN);
    Srtm__RegisterResponse *out = zalloc(c, sizeof(*out));
    if (cap == NULL || out == NULL)
        return SRTM_E_NO_MEMORY;
    if (RAND_priv_bytes(cap, SRTM_CAP_LEN) != 1) {
        set_message(c, "random generator failed");
        return SRTM_E_CRYPTO;
    }
    c->w->secret = cap;
    c->w->secret_len = SRTM_CAP_LEN;
    uint8_t cap_hash[SRTM_DIGEST_LEN];
    srtm_err err = sha256_hasher_two(c->w->hasher, cap, SRTM_CAP_LEN, NULL, 0, cap_hash);
    if (err != SRTM_OK)
        return err;
    uint32_t nccrs = r->ccr_count ? r->ccr_count : 1;
    uint64_t reversible = 0;
    for (size_t i = 0; i < r->n_reversible; i++)
        reversible |= (uint64_t)1 << r->reversible[i];
    uint64_t deps[SRTM_MAX_DEPS + 1];
    size_t ndeps = 0;
    if ((err = child_deps(c, deps, &ndeps)) != SRTM_OK)
        return err;
    if (ccr_find_name(c->table, (const char *)r->name.data, r->name.len) != NULL) {
        set_message(c, "a component named '%.*s' exists", (int)r->name.len,
                    (const char *)r->name.data);
        return SRTM_E_EXISTS;
    }
    uint64_t handle = 0, seq = 0, ghandle = 0;
    err = ccr_register_mixed(c->table, (const char *)r->name.data, r->name.len, nccrs,
                             reversible, cap_hash, c->peer->uid, c->peer->pid, &handle, &seq);
    if (err != SRTM_OK)
        return err;
    ccr_comp_set_parent(c->table, ccr_find_handle(c->table, handle), deps[0]);
    /* Every check that could refuse the graph node was made above; what remains is an
     * allocation failure, after which table and graph would disagree: stop changes. */
    ccr_component *child = ccr_find_handle(c->table, handle);
    err = graph_add_node(c->graph, deps, ndeps, &ghandle);
    if (err == SRTM_OK)
        err = ccr_dep_reserve(c->table, child, ndeps);
    for (size_t i = 0; err == SRTM_OK && i < ndeps; i++)
        ccr_dep_record(child, &(ccr_dep_change){.seq = seq, .on = deps[i], .actor = deps[0]});
    if (err != SRTM_OK || ghandle != handle) {
        c->w->svc->broken = true;
        log_error("the dependency graph could not follow registration %llu (%s): refusing "
                  "all further changes",
                  (unsigned long long)handle, srtm_strerror(err));
        set_message(c, "out of memory");
        return SRTM_E_NO_MEMORY;
    }
    srtm__register_response__init(out);
    out->handle = handle;
    out->seq = seq;
    out->capability.data = cap;
    out->capability.len = SRTM_CAP_LEN;
    c->resp->result_case = SRTM__RESPONSE__RESULT_REGISTER_COMPONENT;
    c->resp->register_component = out;
    return SRTM_OK;
}

/* ---- extend ---- */

static srtm_err extend_validate(op_call *c)
{
    const Srtm__ExtendRequest *r = c->req->extend;
    srtm_err err = validate_ref(c, r->component);
    if (err != SRTM_OK)
        return err;
    if (r->digests.len == 0) {
        set_message(c, "empty batch");
        return SRTM_E_INVALID;
    }
    if (r->digests.len % SRTM_DIGEST_LEN != 0) {
        set_message(c, "digests: %zu bytes is not a whole number of %u-byte digests",
                    r->digests.len, SRTM_DIGEST_LEN);
        return SRTM_E_INVALID;
    }
    size_t n = r->digests.len / SRTM_DIGEST_LEN;
    if (n > SRTM_MAX_BATCH) {
        set_message(c, "batch of %zu measurements; at most %u", n, SRTM_MAX_BATCH);
        return SRTM_E_TOO_BIG;
    }
    if (r->n_ccrs != n || (r->n_event_types != 0 && r->n_event_types != n) ||
        (r->n_descriptions != 0 && r->n_descriptions != n)) {
        set_message(c, "batch columns disagree: %zu digests, %zu CCR indexes, %zu event types, "
                       "%zu descriptions",
                    n, r->n_ccrs, r->n_event_types, r->n_descriptions);
        return SRTM_E_INVALID;
    }
    for (size_t i = 0; i < r->n_descriptions; i++) {
        const ProtobufCBinaryData *d = &r->descriptions[i];
        if (d->len > SRTM_MAX_DESC) {
            set_message(c, "measurement %zu: description longer than %u bytes", i,
                        SRTM_MAX_DESC);
            return SRTM_E_TOO_BIG;
        }
        if (!utf8_valid((const char *)d->data, d->len)) {
            set_message(c, "measurement %zu: description is not UTF-8 without NUL bytes", i);
            return SRTM_E_INVALID;
        }
    }
    return SRTM_OK;
}

static srtm_err extend_authorise(op_call *c)
{
    srtm_err err = check_not_broken(c);
    if (err == SRTM_OK)
        err = find_ref(c, c->req->extend->component);
    if (err == SRTM_OK)
        err = check_cap(c, c->comp);
    if (err == SRTM_OK)
        err = quota_extend(c);
    return err;
}

static srtm_err extend_act(op_call *c)
{
    const Srtm__ExtendRequest *r = c->req->extend;
    size_t n = r->digests.len / SRTM_DIGEST_LEN;
    ccr_measurement *m = arena_alloc(&c->w->arena, n * sizeof(*m));
    Srtm__ExtendResponse *out = zalloc(c, sizeof(*out));
    if (m == NULL || out == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        m[i].ccr = r->ccrs[i];
        m[i].digest = r->digests.data + i * SRTM_DIGEST_LEN;
        m[i].event_type = r->n_event_types ? r->event_types[i] : 0;
        m[i].desc = r->n_descriptions ? (const char *)r->descriptions[i].data : NULL;
        m[i].desc_len = r->n_descriptions ? r->descriptions[i].len : 0;
    }
    uint64_t first = 0, last = 0;
    srtm_err err = ccr_extend(c->table, c->comp, m, n, &first, &last);
    if (err == SRTM_E_NO_CCR)
        set_message(c, "component '%s' has %u CCRs", ccr_comp_name(c->comp),
                    ccr_comp_ccr_count(c->comp));
    if (err != SRTM_OK)
        return err;
    srtm__extend_response__init(out);
    out->first_seq = first;
    out->last_seq = last;
    c->resp->result_case = SRTM__RESPONSE__RESULT_EXTEND;
    c->resp->extend = out;
    return SRTM_OK;
}

/* ---- read ---- */

static srtm_err read_validate(op_call *c)
{
    const Srtm__ReadRequest *r = c->req->read;
    srtm_err err = validate_ref(c, r->component);
    if (err == SRTM_OK && r->n_ccrs > SRTM_MAX_LOG_PAGE) {
        set_message(c, "more than %u CCRs requested", SRTM_MAX_LOG_PAGE);
        err = SRTM_E_TOO_BIG;
    }
    return err;
}

static srtm_err find_component(op_call *c)
{
    const Srtm__ComponentRef *ref = NULL;
    switch (c->req->op_case) {
    case SRTM__REQUEST__OP_READ:
        ref = c->req->read->component;
        break;
    case SRTM__REQUEST__OP_LOG:
        ref = c->req->log->component;
        break;
    default:
        return SRTM_E_INTERNAL;
    }
    return find_ref(c, ref);
}

static srtm_err fill_ccr(op_call *c, uint32_t index, Srtm__CcrValue **slot)
{
    const uint8_t *value = NULL;
    srtm_policy policy;
    uint64_t log_len = 0;
    srtm_err err = ccr_get(c->comp, index, &value, &policy, &log_len);
    if (err != SRTM_OK) {
        set_message(c, "component '%s' has no CCR %u", ccr_comp_name(c->comp), index);
        return err;
    }
    Srtm__CcrValue *v = zalloc(c, sizeof(*v));
    uint8_t *val = copy_bytes(c, value, SRTM_DIGEST_LEN);
    if (v == NULL || val == NULL)
        return SRTM_E_NO_MEMORY;
    srtm__ccr_value__init(v);
    v->index = index;
    v->policy = policy == SRTM_POLICY_REVERSIBLE ? SRTM__CHANGE_POLICY__POLICY_REVERSIBLE
                                                 : SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE;
    v->value.data = val;
    v->value.len = SRTM_DIGEST_LEN;
    v->log_length = log_len;
    *slot = v;
    return SRTM_OK;
}

static srtm_err read_act(op_call *c)
{
    const Srtm__ReadRequest *r = c->req->read;
    size_t n = r->n_ccrs ? r->n_ccrs : ccr_comp_ccr_count(c->comp);
    Srtm__ReadResponse *out = zalloc(c, sizeof(*out));
    Srtm__CcrValue **vals = zalloc(c, (n ? n : 1) * sizeof(*vals));
    char *name = copy_str(c, ccr_comp_name(c->comp), strlen(ccr_comp_name(c->comp)));
    if (out == NULL || vals == NULL || name == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        uint32_t index = r->n_ccrs ? r->ccrs[i] : (uint32_t)i;
        srtm_err err = fill_ccr(c, index, &vals[i]);
        if (err != SRTM_OK)
            return err;
    }
    srtm__read_response__init(out);
    out->handle = ccr_comp_handle(c->comp);
    out->name = name;
    out->n_ccrs = n;
    out->ccrs = vals;
    out->seq = ccr_table_seq(c->table);
    c->resp->result_case = SRTM__RESPONSE__RESULT_READ;
    c->resp->read = out;
    return SRTM_OK;
}

/* ---- log ---- */

static srtm_err log_validate(op_call *c)
{
    return validate_ref(c, c->req->log->component);
}

static srtm_err log_act(op_call *c)
{
    const Srtm__LogRequest *r = c->req->log;
    const uint8_t *value = NULL;
    srtm_policy policy;
    uint64_t len = 0;
    srtm_err err = ccr_get(c->comp, r->ccr, &value, &policy, &len);
    if (err != SRTM_OK) {
        set_message(c, "component '%s' has no CCR %u", ccr_comp_name(c->comp), r->ccr);
        return err;
    }
    if (r->offset > len) {
        set_message(c, "offset %llu is past the end of the log (%llu entries)",
                    (unsigned long long)r->offset, (unsigned long long)len);
        return SRTM_E_RANGE;
    }
    uint64_t max = r->max_entries == 0 || r->max_entries > SRTM_MAX_LOG_PAGE ? SRTM_MAX_LOG_PAGE
                                                                              : r->max_entries;
    uint64_t n = len - r->offset < max ? len - r->offset : max;
    Srtm__LogResponse *out = zalloc(c, sizeof(*out));
    Srtm__LogEntry **entries = zalloc(c, (n ? n : 1) * sizeof(*entries));
    Srtm__LogEntry *storage = arena_alloc(&c->w->arena, (n ? n : 1) * sizeof(*storage));
    uint8_t *val = copy_bytes(c, value, SRTM_DIGEST_LEN);
    if (out == NULL || entries == NULL || storage == NULL || val == NULL)
        return SRTM_E_NO_MEMORY;
    for (uint64_t i = 0; i < n; i++) {
        ccr_log_view v;
        err = ccr_log_at(c->comp, r->ccr, r->offset + i, &v);
        if (err != SRTM_OK)
            return err;
        Srtm__LogEntry *e = &storage[i];
        srtm__log_entry__init(e);
        e->index = r->offset + i;
        e->seq = v.seq;
        if (v.digest != NULL) {
            e->digest.data = copy_bytes(c, v.digest, SRTM_DIGEST_LEN);
            e->digest.len = SRTM_DIGEST_LEN;
            if (e->digest.data == NULL)
                return SRTM_E_NO_MEMORY;
        }
        e->reverted = (v.flags & CCR_ENTRY_REVERTED) != 0;
        e->revert_marker = (v.flags & CCR_ENTRY_MARKER) != 0;
        e->revert_to_seq = v.revert_to;
        e->revert_by = v.revert_by;
        e->event_type = v.event_type;
        e->description = copy_str(c, v.desc, v.desc_len);
        if (e->description == NULL)
            return SRTM_E_NO_MEMORY;
        entries[i] = e;
    }
    srtm__log_response__init(out);
    out->entries = entries;
    out->n_entries = n;
    out->next_offset = r->offset + n;
    out->log_length = len;
    out->value.data = val;
    out->value.len = SRTM_DIGEST_LEN;
    c->resp->result_case = SRTM__RESPONSE__RESULT_LOG;
    c->resp->log = out;
    return SRTM_OK;
}

/* ---- list ---- */

static srtm_err list_validate(op_call *c)
{
    (void)c;
    return SRTM_OK;
}

static srtm_err list_authorise(op_call *c)
{
    /* Component names and handles are public. */
    (void)c;
    return SRTM_OK;
}

static srtm_err list_act(op_call *c)
{
    const Srtm__ListRequest *r = c->req->list;
    size_t count = ccr_table_count(c->table);
    /* after_handle + 1 would wrap for UINT64_MAX and list everything again. */
    uint64_t start = r->after_handle == UINT64_MAX ? UINT64_MAX : r->after_handle + 1;
    if (r->after_handle == 0 && r->include_platform)
        start = 0;
    uint64_t max = r->max_entries == 0 || r->max_entries > SRTM_MAX_LIST_PAGE ? SRTM_MAX_LIST_PAGE
                                                                               : r->max_entries;
    uint64_t n = start >= count ? 0 : count - start;
    bool more = n > max;
    if (more)
        n = max;
    Srtm__ListResponse *out = zalloc(c, sizeof(*out));
    Srtm__ComponentInfo **items = zalloc(c, (n ? n : 1) * sizeof(*items));
    Srtm__ComponentInfo *storage = arena_alloc(&c->w->arena, (n ? n : 1) * sizeof(*storage));
    if (out == NULL || items == NULL || storage == NULL)
        return SRTM_E_NO_MEMORY;
    for (uint64_t i = 0; i < n; i++) {
        const ccr_component *comp = ccr_find_handle(c->table, start + i);
        Srtm__ComponentInfo *ci = &storage[i];
        srtm__component_info__init(ci);
        ci->handle = ccr_comp_handle(comp);
        ci->name = copy_str(c, ccr_comp_name(comp), strlen(ccr_comp_name(comp)));
        if (ci->name == NULL)
            return SRTM_E_NO_MEMORY;
        ci->ccr_count = ccr_comp_ccr_count(comp);
        ci->peer_uid = ccr_comp_peer_uid(comp);
        ci->peer_pid = ccr_comp_peer_pid(comp);
        ci->registered_seq = ccr_comp_registered_seq(comp);
        uint32_t depth = 0;
        ccr_comp_usage(comp, &ci->log_entries, &ci->log_bytes, &ci->children, &depth);
        items[i] = ci;
    }
    srtm__list_response__init(out);
    out->components = items;
    out->n_components = n;
    out->more = more;
    out->seq = ccr_table_seq(c->table);
    out->stored_bytes = ccr_table_stored(c->table);
    out->memory_budget = c->w->svc->quota.memory_budget;
    c->resp->result_case = SRTM__RESPONSE__RESULT_LIST;
    c->resp->list = out;
    return SRTM_OK;
}

/* ---- hierarchical integrity management ---- */

/* The actor of a change to component c->comp: actor_ref, or the component itself, whose
 * capability must be presented. */
static srtm_err find_actor(op_call *c, const Srtm__ComponentRef *actor_ref)
{
    srtm_err err = check_not_broken(c);
    if (err != SRTM_OK)
        return err;
    c->actor = c->comp;
    if (actor_ref != NULL && (err = find_into(c, actor_ref, &c->actor)) != SRTM_OK)
        return err;
    return check_cap(c, c->actor);
}

/* true when a is x or one of x's ancestors (its parent, grandparent, ... component 0).
 * Handles are dense and a parent registers before its child, so the walk ends. */
static bool in_parent_chain(const ccr_table *t, uint64_t a, uint64_t x)
{
    for (;;) {
        if (a == x)
            return true;
        const ccr_component *cx = ccr_find_handle(t, x);
        if (cx == NULL || x == CCR_PLATFORM_HANDLE || ccr_comp_parent(cx) >= x)
            return false;
        x = ccr_comp_parent(cx);
    }
}

/* Adding a dependency (the paper's defence against spurious dependencies): the
 * component itself or a component it already depends on, directly or transitively. */
static srtm_err authorise_add(op_call *c)
{
    if (!graph_may_change_deps(c->graph, ccr_comp_handle(c->actor), ccr_comp_handle(c->comp))) {
        set_message(c, "'%s' may not add dependencies of '%s': only the component itself or a "
                       "component it depends on may",
                    ccr_comp_name(c->actor), ccr_comp_name(c->comp));
        return SRTM_E_DENIED;
    }
    return SRTM_OK;
}

/*
 * Removing the edge comp -> other (docs/protocol.md, "Who may change edges"): only the
 * component itself or its parent chain, never the dependency being removed nor anything
 * it depends on; an edge an ancestor declared only by that ancestor or one above it.
 * The edge to the parent is never removable.
 */
static srtm_err authorise_remove(op_call *c)
{
    uint64_t a = ccr_comp_handle(c->comp), b = ccr_comp_handle(c->other);
    uint64_t actor = ccr_comp_handle(c->actor);
    const char *an = ccr_comp_name(c->actor);
    if (b == ccr_comp_parent(c->comp) && a != CCR_PLATFORM_HANDLE) {
        set_message(c, "'%s' always depends on its parent '%s'", ccr_comp_name(c->comp),
                    ccr_comp_name(c->other));
        return SRTM_E_INVALID;
    }
    bool below_b = false;
    if (actor != b && graph_is_dependency(c->graph, b, actor, &below_b) != SRTM_OK)
        return SRTM_E_NO_MEMORY;
    uint64_t declarer = ccr_dep_declarer(c->comp, b);
    const ccr_component *d = ccr_find_handle(c->table, declarer);
    if (!in_parent_chain(c->table, actor, a))
        set_message(c, "'%s' may not remove dependencies of '%s': only the component itself "
                       "or its parent chain may",
                    an, ccr_comp_name(c->comp));
    else if (actor == b || below_b)
        set_message(c, "'%s' may not remove the dependency of '%s' on '%s': it is that "
                       "dependency or one it depends on",
                    an, ccr_comp_name(c->comp), ccr_comp_name(c->other));
    else if (declarer != a && d != NULL && in_parent_chain(c->table, declarer, a) &&
             !in_parent_chain(c->table, actor, declarer))
        set_message(c, "the dependency of '%s' on '%s' was declared by '%s'; only it or its "
                       "parent chain may remove it",
                    ccr_comp_name(c->comp), ccr_comp_name(c->other), ccr_comp_name(d));
    else
        return SRTM_OK;
    return SRTM_E_DENIED;
}

/* Reverting a component's CCR: the component itself or its parent chain. */
static srtm_err authorise_revert(op_call *c)
{
    if (!in_parent_chain(c->table, ccr_comp_handle(c->actor), ccr_comp_handle(c->comp))) {
        set_message(c, "'%s' may not revert '%s': only the component itself or its parent "
                       "chain may",
                    ccr_comp_name(c->actor), ccr_comp_name(c->comp));
        return SRTM_E_DENIED;
    }
    return SRTM_OK;
}

static srtm_err depend_validate(op_call *c)
{
    const Srtm__DependRequest *r = c->req->depend;
    srtm_err err = validate_ref(c, r->component);
    if (err == SRTM_OK)
        err = validate_ref(c, r->on);
    if (err == SRTM_OK && r->actor != NULL)
        err = validate_ref(c, r->actor);
    return err;
}

static srtm_err depend_authorise(op_call *c)
{
    const Srtm__DependRequest *r = c->req->depend;
    srtm_err err = find_ref(c, r->component);
    if (err == SRTM_OK)
        err = find_into(c, r->on, &c->other);
    if (err == SRTM_OK)
        err = find_actor(c, r->actor);
    if (err == SRTM_OK)
        err = r->remove ? authorise_remove(c) : authorise_add(c);
    return err;
}

static srtm_err depend_act(op_call *c)
{
    const Srtm__DependRequest *r = c->req->depend;
    uint64_t a = ccr_comp_handle(c->comp), b = ccr_comp_handle(c->other);
    const char *an = ccr_comp_name(c->comp), *bn = ccr_comp_name(c->other);
    /* Everything that can fail comes before the edge changes: the record of the change
     * must follow it. */
    Srtm__DependResponse *out = zalloc(c, sizeof(*out));
    srtm_err err = out != NULL ? ccr_dep_reserve(c->table, c->comp, 1) : SRTM_E_NO_MEMORY;
    if (err == SRTM_E_TOO_BIG)
        set_message(c, "'%s' has %u recorded dependency changes, the most allowed", an,
                    SRTM_MAX_DEP_CHANGES);
    if (err != SRTM_OK)
        return err;
    if (r->remove) {
        err = graph_remove_edge(c->graph, a, b);
        if (err == SRTM_E_INVALID)
            set_message(c, "'%s' does not depend on '%s'", an, bn);
    } else {
        graph_refusal why = GRAPH_REFUSAL_NONE;
        err = graph_add_edge(c->graph, a, b, &why);
        if (why == GRAPH_REFUSAL_SELF_LOOP)
            set_message(c, "'%s' cannot depend on itself", an);
        else if (why == GRAPH_REFUSAL_CYCLE)
            set_message(c, "'%s' already depends on '%s': the dependency would make a cycle", bn,
                        an);
        else if (err == SRTM_E_EXISTS)
            set_message(c, "'%s' already depends on '%s'", an, bn);
    }
    if (err != SRTM_OK)
        return err;
    srtm__depend_response__init(out);
    out->seq = ccr_table_next_seq(c->table);
    ccr_dep_record(c->comp, &(ccr_dep_change){.seq = out->seq,
                                              .on = b,
                                              .actor = ccr_comp_handle(c->actor),
                                              .removed = r->remove});
    c->resp->result_case = SRTM__RESPONSE__RESULT_DEPEND;
    c->resp->depend = out;
    return SRTM_OK;
}

static srtm_err revert_validate(op_call *c)
{
    const Srtm__RevertRequest *r = c->req->revert;
    srtm_err err = validate_ref(c, r->component);
    if (err == SRTM_OK && r->actor != NULL)
        err = validate_ref(c, r->actor);
    return err;
}

static srtm_err revert_authorise(op_call *c)
{
    const Srtm__RevertRequest *r = c->req->revert;
    srtm_err err = find_ref(c, r->component);
    if (err == SRTM_OK)
        err = find_actor(c, r->actor);
    if (err == SRTM_OK)
        err = authorise_revert(c);
    /* The revert marker is one more entry. */
    if (err == SRTM_OK)
        err = quota_ccr(c, c->comp, r->ccr, 1, ccr_entry_cost(0));
    if (err == SRTM_OK)
        err = quota_log(c, c->comp, 1, ccr_entry_cost(0));
    return err;
}

static srtm_err revert_act(op_call *c)
{
    const Srtm__RevertRequest *r = c->req->revert;
    uint64_t reverted = 0, seq = 0;
    srtm_err err = ccr_revert(c->table, c->comp, r->ccr, r->to_seq, ccr_comp_handle(c->actor),
                              &reverted, &seq);
    const char *n = ccr_comp_name(c->comp);
    if (err == SRTM_E_NO_CCR)
        set_message(c, "'%s' has no CCR %u", n, r->ccr);
    /* Not a refusal of the actor, who is authorised by now: the CCR's policy (public,
     * as read reports it) never allows a revert. */
    if (err == SRTM_E_DENIED) {
        err = SRTM_E_INVALID;
        set_message(c, "CCR %u of '%s' is irreversible: only a reversible CCR can be reverted",
                    r->ccr, n);
    }
    else if (err == SRTM_E_RANGE)
        set_message(c, "sequence number %llu is not a live measurement of CCR %u of '%s'",
                    (unsigned long long)r->to_seq, r->ccr, n);
    if (err != SRTM_OK)
        return err;
    const uint8_t *value = NULL;
    srtm_policy policy;
    uint64_t len = 0;
    Srtm__RevertResponse *out = zalloc(c, sizeof(*out));
    if (out == NULL || ccr_get(c->comp, r->ccr, &value, &policy, &len) != SRTM_OK)
        return SRTM_E_NO_MEMORY;
    srtm__revert_response__init(out);
    out->seq = seq;
    out->reverted = reverted;
    out->value.data = copy_bytes(c, value, SRTM_DIGEST_LEN);
    out->value.len = SRTM_DIGEST_LEN;
    if (out->value.data == NULL)
        return SRTM_E_NO_MEMORY;
    c->resp->result_case = SRTM__RESPONSE__RESULT_REVERT;
    c->resp->revert = out;
    return SRTM_OK;
}

static srtm_err terminate_validate(op_call *c)
{
    return validate_ref(c, c->req->terminate->component);
}

static srtm_err terminate_authorise(op_call *c)
{
    srtm_err err = check_not_broken(c);
    if (err == SRTM_OK)
        err = find_ref(c, c->req->terminate->component);
    if (err != SRTM_OK)
        return err;
    if (ccr_comp_handle(c->comp) == CCR_PLATFORM_HANDLE) {
        set_message(c, "component 0, the platform, cannot be terminated");
        return SRTM_E_INVALID;
    }
    /* A parent terminates its child. */
    c->actor = ccr_find_handle(c->table, ccr_comp_parent(c->comp));
    return check_cap(c, c->actor);
}

static srtm_err terminate_act(op_call *c)
{
    srtm_err err = graph_terminate(c->graph, ccr_comp_handle(c->comp));
    Srtm__TerminateResponse *out = zalloc(c, sizeof(*out));
    if (err != SRTM_OK || out == NULL)
        return err != SRTM_OK ? err : SRTM_E_NO_MEMORY;
    srtm__terminate_response__init(out);
    out->seq = ccr_table_next_seq(c->table);
    ccr_comp_terminate(c->comp, out->seq);
    c->resp->result_case = SRTM__RESPONSE__RESULT_TERMINATE;
    c->resp->terminate = out;
    return SRTM_OK;
}

static srtm_err graph_validate(op_call *c)
{
    const Srtm__GraphRequest *r = c->req->graph;
    return r->component != NULL ? validate_ref(c, r->component) : SRTM_OK;
}

static srtm_err graph_authorise(op_call *c)
{
    const Srtm__GraphRequest *r = c->req->graph;
    return r->component != NULL ? find_ref(c, r->component) : SRTM_OK;
}

static srtm_err fill_node(op_call *c, uint64_t h, Srtm__GraphNode *n)
{
    const ccr_component *comp = ccr_find_handle(c->table, h);
    size_t ndeps = 0, ndependents = 0;
    srtm_err err = graph_degree(c->graph, h, &ndeps, &ndependents);
    if (err != SRTM_OK)
        return err;
    srtm__graph_node__init(n);
    n->handle = h;
    n->name = copy_str(c, ccr_comp_name(comp), strlen(ccr_comp_name(comp)));
    n->parent = ccr_comp_parent(comp);
    n->terminated = graph_is_terminated(c->graph, h);
    n->depends_on = arena_alloc(&c->w->arena, (ndeps ? ndeps : 1) * sizeof(uint64_t));
    if (n->name == NULL || n->depends_on == NULL)
        return SRTM_E_NO_MEMORY;
    size_t got = 0;
    err = graph_deps(c->graph, h, 0, n->depends_on, ndeps, &got);
    n->n_depends_on = got;
    return err;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static srtm_err graph_act(op_call *c)
{
    const Srtm__GraphRequest *r = c->req->graph;
    uint64_t *handles = NULL;
    size_t n = 0;
    bool more = false;
    srtm_err err = SRTM_OK;
    if (r->component != NULL) {
        /* The component and its dependency closure, by handle. */
        uint64_t *closure = NULL;
        size_t nc = 0;
        if ((err = graph_closure(c->graph, ccr_comp_handle(c->comp), &closure, &nc)) != SRTM_OK)
            return err;
        handles = arena_alloc(&c->w->arena, (nc + 1) * sizeof(*handles));
        if (handles != NULL) {
            if (nc > 0)
                memcpy(handles, closure, nc * sizeof(*handles));
            handles[nc] = ccr_comp_handle(c->comp);
            n = nc + 1;
            qsort(handles, n, sizeof(*handles), cmp_u64);
        }
        free(closure);
        if (handles == NULL)
            return SRTM_E_NO_MEMORY;
        if (n > SRTM_MAX_LIST_PAGE) {
            set_message(c, "the closure has %zu components; read the graph page by page", n);
            return SRTM_E_TOO_BIG;
        }
    } else {
        uint64_t count = ccr_table_count(c->table);
        uint64_t start = r->after_handle == 0 ? 0 : r->after_handle + 1;
        if (r->after_handle == UINT64_MAX)
            start = count;
        uint64_t max = r->max_entries == 0 || r->max_entries > SRTM_MAX_LIST_PAGE
                           ? SRTM_MAX_LIST_PAGE
                           : r->max_entries;
        n = start >= count ? 0 : (size_t)(count - start);
        more = n > max;
        if (more)
            n = (size_t)max;
        handles = arena_alloc(&c->w->arena, (n ? n : 1) * sizeof(*handles));
        if (handles == NULL)
            return SRTM_E_NO_MEMORY;
        for (size_t i = 0; i < n; i++)
            handles[i] = start + i;
    }
    Srtm__GraphResponse *out = zalloc(c, sizeof(*out));
    Srtm__GraphNode *nodes = arena_alloc(&c->w->arena, (n ? n : 1) * sizeof(*nodes));
    Srtm__GraphNode **ptrs = arena_alloc(&c->w->arena, (n ? n : 1) * sizeof(*ptrs));
    if (out == NULL || nodes == NULL || ptrs == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n && err == SRTM_OK; i++) {
        err = fill_node(c, handles[i], &nodes[i]);
        ptrs[i] = &nodes[i];
    }
    if (err != SRTM_OK)
        return err;
    srtm__graph_response__init(out);
    out->nodes = ptrs;
    out->n_nodes = n;
    out->more = more;
    out->seq = ccr_table_seq(c->table);
    c->resp->result_case = SRTM__RESPONSE__RESULT_GRAPH;
    c->resp->graph = out;
    return SRTM_OK;
}

/* ---- quote ---- */

#define QUOTE_MAX_SELECTION SRTM_MAX_LIST_PAGE

static srtm_err quote_validate(op_call *c)
{
    const Srtm__QuoteRequest *r = c->req->quote;
    if (r->nonce.len < SRTM_MIN_NONCE || r->nonce.len > SRTM_MAX_NONCE) {
        set_message(c, "nonce of %zu bytes; it must have %u to %u", r->nonce.len,
                    SRTM_MIN_NONCE, SRTM_MAX_NONCE);
        return SRTM_E_INVALID;
    }
    if (r->n_components > QUOTE_MAX_SELECTION) {
        set_message(c, "more than %u components selected", QUOTE_MAX_SELECTION);
        return SRTM_E_TOO_BIG;
    }
    for (size_t i = 0; i < r->n_components; i++) {
        srtm_err err = validate_ref(c, r->components[i]);
        if (err != SRTM_OK)
            return err;
    }
    return SRTM_OK;
}

/* Reads need no capability; the selection must name existing components. */
static srtm_err quote_authorise(op_call *c)
{
    if (!c->w->svc->can_quote) {
        set_message(c, "srtmd runs without a TPM (--no-tpm): reports cannot be signed");
        return SRTM_E_UNSUPPORTED;
    }
    return SRTM_OK;
}

/*
 * The since of an incremental report (docs/protocol.md, "Incremental quotes"): the
 * request's since_seq when it names a report of this srtmd run (since_instance is this
 * run's instance, exactly) at or before the cut; 0 (a full report) otherwise, a malformed
 * since_instance included: it is not this run's, and a full report is always a right
 * answer.
 */
static uint64_t quote_since(const Srtm__QuoteRequest *r, const report_identity *id,
                            uint64_t cut_seq)
{
    if (r->since_seq == 0 || r->since_seq > cut_seq ||
        r->since_instance.len != sizeof(id->instance) || r->since_instance.data == NULL ||
        memcmp(r->since_instance.data, id->instance, sizeof(id->instance)) != 0)
        return 0;
    return r->since_seq;
}

/* Under the lock: the components named and the cut; nothing proportional to the report. */
static srtm_err quote_act(op_call *c)
{
    const Srtm__QuoteRequest *r = c->req->quote;
    uint64_t *sel = NULL;
    if (r->n_components > 0 &&
        (sel = arena_alloc(&c->w->arena, r->n_components * sizeof(*sel))) == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < r->n_components; i++) {
        srtm_err err = find_ref(c, r->components[i]);
        if (err != SRTM_OK)
            return err;
        sel[i] = ccr_comp_handle(c->comp);
    }
    c->w->cut = ccr_table_cut(c->table);
    c->w->cut_sel = sel;
    c->w->cut_n = r->n_components;
    c->w->snap_id = c->w->svc->identity;
    c->w->cut_since = quote_since(r, &c->w->snap_id, c->w->cut.seq);
    return SRTM_OK;
}

static int cmp_handle(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The report of the cut quote_act took, when a quote at the same cut and with the same
 * selection built it already. Sorts the selection and drops its repeats first. */
static bool quote_cached(service_worker *w, bool closure, report_key *k)
{
    uint64_t *sel = w->cut_sel;
    size_t n = 0;
    if (w->cut_n > 1)
        qsort(sel, w->cut_n, sizeof(*sel), cmp_handle);
    for (size_t i = 0; i < w->cut_n; i++)
        if (n == 0 || sel[n - 1] != sel[i])
            sel[n++] = sel[i];
    *k = (report_key){.id = w->snap_id, .seq = w->cut.seq, .since = w->cut_since,
                      .closure = closure, .handles = sel, .n = n};
    return report_cache_get(w->svc->reports, k, &w->report, &w->report_len, w->report_digest);
}

/* The snapshot and report of the cut. */
static srtm_err quote_build(service_worker *w, bool closure)
{
    srtm_err err = w->snap != NULL ? SRTM_OK : report_snapshot_new(&w->snap);
    if (err == SRTM_OK)
        err = report_snapshot_take(w->svc->table, &w->cut, w->cut_sel, w->cut_n, closure,
                                   w->cut_since, w->snap);
    if (err == SRTM_OK)
        err = report_snapshot_build(w->snap, &w->snap_id, &w->report, &w->report_len);
    return err;
}

/* Whether the answer builds the report of a large table (service.h). */
static bool quote_is_long(const op_call *c)
{
    return c->w->cut.count > SERVICE_BUILD_FROM;
}

/* Without the lock: the closure, bound, snapshot and report at the cut quote_act took. By
 * default the report covers what the selection depends on, with the edges, so the
 * verifier can apply the dependency rule. A report built once for a cut and selection is
 * kept for the next quotes of the same (report_cache.h). */
static srtm_err quote_answer(op_call *c)
{
    service_worker *w = c->w;
    const Srtm__QuoteRequest *r = c->req->quote;
    report_key key;
    if (quote_cached(w, !r->no_closure, &key)) {
        w->report_digest_ok = true;
        w->quote_nonce = r->nonce;
        w->quote_pending = true;
        return SRTM_OK;
    }
    srtm_err err = quote_build(w, !r->no_closure);
    if (err == SRTM_E_TOO_BIG)
        set_message(c, "the report of %zu components would exceed %u bytes; select fewer "
                       "components%s",
                    report_snapshot_selected(w->snap), SRTM_MAX_REPORT,
                    r->no_closure ? "" : " (or quote without the dependency closure)");
    if (w->snap != NULL)
        report_snapshot_release(w->snap);
    /* A report small enough to keep is hashed here, once for every quote that shares it
     * (the signer takes the digest); a larger one by the signer. */
    if (err == SRTM_OK && w->report_len <= REPORT_CACHE_MAX_REPORT &&
        sha256_hasher_two(w->hasher, w->report, w->report_len, NULL, 0, w->report_digest) ==
            SRTM_OK) {
        w->report_digest_ok = true;
        report_cache_put(w->svc->reports, &key, w->report, w->report_len, w->report_digest);
    }
    if (err == SRTM_OK) {
        w->quote_nonce = r->nonce;
        w->quote_pending = true;
    }
    return err;
}

/* ---- status ---- */

static srtm_err status_validate(op_call *c)
{
    if (c->w->read_only) {
        set_message(c, "status is served on the local socket only: it tells srtmd's load");
        return SRTM_E_DENIED;
    }
    /* srtmd's part is gathered here, before the table's lock: the quoter and the
     * listeners have locks of their own, never taken under it. */
    const srtm_service *s = c->w->svc;
    service_status_extra x;
    memset(&x, 0, sizeof(x));
    if (s->status_fn != NULL)
        s->status_fn(s->status_arg, &x);
    Srtm__StatusResponse *out = zalloc(c, sizeof(*out));
    char **urls = zalloc(c, SERVICE_STATUS_MAX_LISTENERS * sizeof(*urls));
    if (out == NULL || urls == NULL)
        return SRTM_E_NO_MEMORY;
    srtm__status_response__init(out);
    out->tpm = s->can_quote;
    const char *scheme = x.irk_scheme != NULL ? x.irk_scheme : "";
    out->irk_scheme = copy_str(c, scheme, strlen(scheme));
    out->reset_count = s->identity.reset_count;
    out->restart_count = s->identity.restart_count;
    out->quote_jobs = x.quote_jobs;
    out->tpm_quotes = x.tpm_quotes;
    out->quotes_waiting = x.quotes_waiting;
    out->tpm_ok = x.tpm_ok;
    out->listener_restarts = x.listener_restarts;
    size_t nl = x.n_listeners < SERVICE_STATUS_MAX_LISTENERS ? x.n_listeners
                                                             : SERVICE_STATUS_MAX_LISTENERS;
    for (size_t i = 0; i < nl; i++)
        if ((urls[i] = copy_str(c, x.listeners[i], strlen(x.listeners[i]))) == NULL)
            return SRTM_E_NO_MEMORY;
    out->listeners = urls;
    out->n_listeners = nl;
    if (out->irk_scheme == NULL)
        return SRTM_E_NO_MEMORY;
    c->resp->daemon_status = out;
    return SRTM_OK;
}

/* Reading srtmd's state needs no capability. */
static srtm_err status_authorise(op_call *c)
{
    (void)c;
    return SRTM_OK;
}

static srtm_err status_act(op_call *c)
{
    Srtm__StatusResponse *out = c->resp->daemon_status;
    size_t n = ccr_table_count(c->table);
    uint64_t entries = 0;
    for (size_t h = 0; h < n; h++) {
        uint64_t e = 0, b = 0;
        uint32_t children = 0, depth = 0;
        ccr_comp_usage(ccr_find_handle(c->table, h), &e, &b, &children, &depth);
        entries += e;
    }
    out->components = n;
    out->log_entries = entries;
    out->stored_bytes = ccr_table_stored(c->table);
    out->memory_budget = c->w->svc->quota.memory_budget;
    out->seq = ccr_table_seq(c->table);
    c->resp->result_case = SRTM__RESPONSE__RESULT_DAEMON_STATUS;
    return SRTM_OK;
}

/* ---- the table ---- */

static const op_desc ops[] = {
    [SRTM__REQUEST__OP_REGISTER_COMPONENT] = {.name = "register",
                                              .mutation = true,
                                              .validate = register_validate,
                                              .authorise = register_authorise,
                                              .act = register_act},
    [SRTM__REQUEST__OP_EXTEND] = {.name = "extend",
                                  .mutation = true,
                                  .validate = extend_validate,
                                  .authorise = extend_authorise,
                                  .act = extend_act},
    [SRTM__REQUEST__OP_READ] = {.name = "read",
                                .validate = read_validate,
                                .authorise = find_component,
                                .act = read_act},
    [SRTM__REQUEST__OP_LOG] = {.name = "log",
                               .validate = log_validate,
                               .authorise = find_component,
                               .act = log_act},
    [SRTM__REQUEST__OP_LIST] = {.name = "list",
                                .validate = list_validate,
                                .authorise = list_authorise,
                                .act = list_act},
    [SRTM__REQUEST__OP_QUOTE] = {.name = "quote",
                                 .validate = quote_validate,
                                 .authorise = quote_authorise,
                                 .act = quote_act,
                                 .answer = quote_answer,
                                 .answer_is_long = quote_is_long},
    [SRTM__REQUEST__OP_DEPEND] = {.name = "depend",
                                  .mutation = true,
                                  .validate = depend_validate,
                                  .authorise = depend_authorise,
                                  .act = depend_act},
    [SRTM__REQUEST__OP_REVERT] = {.name = "revert",
                                  .mutation = true,
                                  .validate = revert_validate,
                                  .authorise = revert_authorise,
                                  .act = revert_act},
    [SRTM__REQUEST__OP_TERMINATE] = {.name = "terminate",
                                     .mutation = true,
                                     .validate = terminate_validate,
                                     .authorise = terminate_authorise,
                                     .act = terminate_act},
    [SRTM__REQUEST__OP_GRAPH] = {.name = "graph",
                                 .validate = graph_validate,
                                 .authorise = graph_authorise,
                                 .act = graph_act},
    [SRTM__REQUEST__OP_DAEMON_STATUS] = {.name = "status",
                                         .validate = status_validate,
                                         .authorise = status_authorise,
                                         .act = status_act},
};

static const op_desc *find_op(const Srtm__Request *req)
{
    size_t i = (size_t)req->op_case;
    if (i >= SRTM_ARRAY_LEN(ops) || ops[i].name == NULL)
        return NULL;
    return &ops[i];
}

static srtm_err run(op_call *c)
{
    const op_desc *op = find_op(c->req);
    if (op == NULL) {
        set_message(c, "no operation in request, or one this daemon does not offer");
        return SRTM_E_UNSUPPORTED;
    }
    if (op->mutation && c->w->read_only) {
        set_message(c, "this listener serves reads and quotes only; change state over the "
                       "local socket");
        return SRTM_E_DENIED;
    }
    srtm_err err = op->validate(c);
    if (err != SRTM_OK)
        return err;
    hash_presented_cap(c);
    srtm_service *s = c->w->svc;
    pthread_mutex_lock(&s->lock);
    c->table = s->table;
    c->graph = s->graph;
    err = op->authorise(c);
    if (err == SRTM_OK)
        err = op->act(c);
    c->table = NULL;
    c->graph = NULL;
    pthread_mutex_unlock(&s->lock);
    if (err == SRTM_OK && op->answer_is_long != NULL && c->w->defer_large &&
        op->answer_is_long(c)) {
        c->w->build_req = c->req; /* service_worker_build_quote answers it */
        return SRTM_OK;
    }
    if (err == SRTM_OK && op->answer != NULL)
        err = op->answer(c);
    if (err == SRTM_E_NO_MEMORY && c->resp->message == NULL)
        set_message(c, "out of memory");
    if (err != SRTM_OK && op->mutation)
        log_debug("%s refused: %s", op->name, srtm_strerror(err));
    return err;
}

static void wipe_secret(service_worker *w)
{
    if (w->secret != NULL)
        OPENSSL_cleanse(w->secret, w->secret_len);
    w->secret = NULL;
    w->secret_len = 0;
}

static void drop_report(service_worker *w)
{
    free(w->report);
    w->report = NULL;
    w->report_len = 0;
    w->report_digest_ok = false;
    w->quote_pending = false;
}

/* The answer's status; an error answer carries no partial result. Its packed size. */
static size_t finish(service_worker *w, srtm_err err)
{
    if (err != SRTM_OK) {
        w->resp.result_case = SRTM__RESPONSE__RESULT__NOT_SET;
        wipe_secret(w);
        drop_report(w);
    }
    w->resp.status = (Srtm__Status)err;
    w->status = err;
    return srtm__response__get_packed_size(&w->resp);
}

size_t service_worker_handle(service_worker *w, const uint8_t *req, size_t len,
                             const service_peer *peer)
{
    wipe_secret(w);
    drop_report(w);
    w->build_req = NULL;
    arena_reset(&w->arena);
    srtm__response__init(&w->resp);
    op_call c = {.w = w, .peer = peer, .resp = &w->resp};
    srtm_err err;
    Srtm__Request *r = NULL;
    if (len > SRTM_MAX_MESSAGE) {
        set_message(&c, "message of %zu bytes; at most %u", len, SRTM_MAX_MESSAGE);
        err = SRTM_E_TOO_BIG;
    } else if ((r = srtm__request__unpack(&w->arena.pb, len, req)) == NULL) {
        /* Either not a Request at all or one that needs more memory than allowed. */
        arena_reset(&w->arena);
        set_message(&c, "not a valid srtm Request message");
        err = SRTM_E_MALFORMED;
    } else if (r->version != SRTM__VERSION__VERSION_1) {
        set_message(&c, "protocol version %d not supported; this daemon speaks %d",
                    (int)r->version, (int)SRTM__VERSION__VERSION_1);
        err = SRTM_E_VERSION;
    } else {
        c.req = r;
        err = run(&c);
    }
    /* The request's capability, unpacked into the arena, is not needed past this point. */
    if (r != NULL && r->capability.data != NULL)
        OPENSSL_cleanse(r->capability.data, r->capability.len);
    return w->build_req != NULL ? 0 : finish(w, err);
}

void service_worker_defer_large_quotes(service_worker *w)
{
    w->defer_large = true;
}

bool service_worker_build_pending(const service_worker *w)
{
    return w->build_req != NULL;
}

size_t service_worker_build_quote(service_worker *w)
{
    op_call c = {.w = w, .req = w->build_req, .resp = &w->resp};
    w->build_req = NULL;
    return finish(w, c.req != NULL ? quote_answer(&c) : SRTM_E_INTERNAL);
}

void service_worker_pack(service_worker *w, uint8_t *out)
{
    srtm__response__pack(&w->resp, out);
    wipe_secret(w);
}

void service_worker_set_read_only(service_worker *w)
{
    w->read_only = true;
}

void service_worker_discard(service_worker *w)
{
    wipe_secret(w);
}

srtm_err service_worker_status(const service_worker *w)
{
    return w->status;
}

srtm_err service_call(service_worker *w, const uint8_t *req, size_t len, const service_peer *peer,
                      uint8_t **resp_out, size_t *resp_len_out)
{
    size_t n = service_worker_handle(w, req, len, peer);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL) {
        wipe_secret(w);
        return SRTM_E_NO_MEMORY;
    }
    service_worker_pack(w, buf);
    *resp_out = buf;
    *resp_len_out = n;
    return SRTM_OK;
}

srtm_err service_new(const srtm_cap *admin, srtm_service **out)
{
    srtm_service *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SRTM_E_NO_MEMORY;
    uint8_t h[SRTM_DIGEST_LEN];
    srtm_err err = srtm_sha256(admin->bytes, SRTM_CAP_LEN, h);
    if (err == SRTM_OK)
        err = ccr_table_new(h, &s->table);
    if (err == SRTM_OK && (err = graph_new(&s->graph)) != SRTM_OK)
        ccr_table_free(s->table);
    if (err == SRTM_OK && (err = report_cache_new(&s->reports)) != SRTM_OK) {
        ccr_table_free(s->table);
        graph_free(s->graph);
    }
    if (err == SRTM_OK && pthread_mutex_init(&s->lock, NULL) != 0) {
        ccr_table_free(s->table);
        graph_free(s->graph);
        report_cache_free(s->reports);
        err = SRTM_E_INTERNAL;
    }
    if (err != SRTM_OK) {
        free(s);
        return err;
    }
    service_quota_defaults(&s->quota);
    *out = s;
    return SRTM_OK;
}

void service_free(srtm_service *s)
{
    if (s == NULL)
        return;
    ccr_table_free(s->table);
    graph_free(s->graph);
    report_cache_free(s->reports);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

srtm_err service_worker_new(srtm_service *s, service_worker **out)
{
    service_worker *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = sha256_hasher_new(&w->hasher);
    if (err != SRTM_OK) {
        free(w);
        return err;
    }
    w->svc = s;
    arena_init(&w->arena, REQUEST_ARENA_BUDGET);
    *out = w;
    return SRTM_OK;
}

void service_worker_free(service_worker *w)
{
    if (w == NULL)
        return;
    wipe_secret(w);
    drop_report(w);
    report_snapshot_free(w->snap);
    arena_fini(&w->arena);
    sha256_hasher_free(w->hasher);
    free(w);
}

bool service_worker_quote_pending(const service_worker *w)
{
    return w->quote_pending;
}

const uint8_t *service_worker_quote_nonce(const service_worker *w, size_t *len_out)
{
    *len_out = w->quote_nonce.len;
    return w->quote_nonce.data;
}

static Srtm__TpmQuote *tpm_quote_msg(op_call *c, const service_tpm_quote *q)
{
    Srtm__TpmQuote *m = zalloc(c, sizeof(*m));
    unsigned n = (unsigned)__builtin_popcount(q->pcr_mask);
    uint32_t *pcrs = arena_alloc(&c->w->arena, (n ? n : 1) * sizeof(*pcrs));
    ProtobufCBinaryData *vals = arena_alloc(&c->w->arena, (n ? n : 1) * sizeof(*vals));
    if (m == NULL || pcrs == NULL || vals == NULL)
        return NULL;
    srtm__tpm_quote__init(m);
    size_t k = 0;
    for (unsigned i = 0; i < 32; i++) {
        if (!(q->pcr_mask & (1u << i)))
            continue;
        pcrs[k] = i;
        vals[k].data = (uint8_t *)q->pcr_values[i];
        vals[k].len = SRTM_DIGEST_LEN;
        k++;
    }
    m->attest.data = (uint8_t *)q->attest;
    m->attest.len = q->attest_len;
    m->signature.data = (uint8_t *)q->sig;
    m->signature.len = q->sig_len;
    m->n_pcrs = n;
    m->pcrs = pcrs;
    m->n_pcr_values = n;
    m->pcr_values = vals;
    return m;
}

/* The Merkle proof of a batched quote, in the worker's arena. */
static srtm_err batch_msg(op_call *c, const service_signed *s, Srtm__MerkleProof **out)
{
    Srtm__MerkleProof *m = zalloc(c, sizeof(*m));
    ProtobufCBinaryData *path = arena_alloc(&c->w->arena, (s->path_len ? s->path_len : 1) *
                                                              sizeof(*path));
    if (m == NULL || path == NULL)
        return SRTM_E_NO_MEMORY;
    srtm__merkle_proof__init(m);
    m->leaf_index = s->leaf_index;
    m->leaf_count = s->leaf_count;
    for (size_t i = 0; i < s->path_len; i++) {
        path[i].data = (uint8_t *)s->path[i];
        path[i].len = SRTM_DIGEST_LEN;
    }
    m->path = path;
    m->n_path = s->path_len;
    *out = m;
    return SRTM_OK;
}

size_t service_worker_build_refuse(service_worker *w, const service_signed *s)
{
    w->build_req = NULL;
    return service_worker_finish_quote(w, s);
}

size_t service_worker_finish_quote(service_worker *w, const service_signed *s)
{
    op_call c = {.w = w, .resp = &w->resp};
    srtm_err err = s->err;
    if (err != SRTM_OK && s->message != NULL) {
        set_message(&c, "%s", s->message);
    } else if (err != SRTM_OK) {
        set_message(&c, "signing the report failed: %s", srtm_strerror(err));
    } else {
        Srtm__QuoteResponse *qr = zalloc(&c, sizeof(*qr));
        Srtm__Evidence *ev = zalloc(&c, sizeof(*ev));
        Srtm__TpmQuote *quote = tpm_quote_msg(&c, &s->quote);
        Srtm__TpmQuote *cert = tpm_quote_msg(&c, &s->certificate);
        if (qr == NULL || ev == NULL || quote == NULL || cert == NULL) {
            err = SRTM_E_NO_MEMORY;
            set_message(&c, "out of memory");
        } else {
            srtm__evidence__init(ev);
            ev->format = 1;
            ev->nonce = w->quote_nonce;
            ev->report.data = w->report;
            ev->report.len = w->report_len;
            ev->irk_signature.data = (uint8_t *)s->irk_sig;
            ev->irk_signature.len = s->irk_sig_len;
            ev->quote = quote;
            ev->irk_certificate = cert;
            ev->irk_public.data = (uint8_t *)s->irk_public;
            ev->irk_public.len = s->irk_public_len;
            if (s->leaf_count > 1 && (err = batch_msg(&c, s, &ev->batch)) != SRTM_OK)
                set_message(&c, "out of memory");
            srtm__quote_response__init(qr);
            qr->evidence = ev;
            w->resp.result_case = SRTM__RESPONSE__RESULT_QUOTE;
            w->resp.quote = qr;
        }
    }
    if (err != SRTM_OK)
        w->resp.result_case = SRTM__RESPONSE__RESULT__NOT_SET;
    w->resp.status = (Srtm__Status)err;
    w->status = err;
    w->quote_pending = false;
    return srtm__response__get_packed_size(&w->resp);
}

void service_set_status_source(srtm_service *s, service_status_fn fn, void *arg)
{
    s->status_fn = fn;
    s->status_arg = arg;
}

void service_set_identity(srtm_service *s, const report_identity *id, bool can_quote)
{
    pthread_mutex_lock(&s->lock);
    s->identity = *id;
    s->can_quote = can_quote;
    pthread_mutex_unlock(&s->lock);
}

const uint8_t *service_worker_report(const service_worker *w, size_t *len_out)
{
    *len_out = w->report_len;
    return w->report;
}

const uint8_t *service_worker_report_digest(const service_worker *w)
{
    return w->report != NULL && w->report_digest_ok ? w->report_digest : NULL;
}

void service_stats(srtm_service *s, size_t *components_out, uint64_t *seq_out)
{
    pthread_mutex_lock(&s->lock);
    *components_out = ccr_table_count(s->table);
    *seq_out = ccr_table_seq(s->table);
    pthread_mutex_unlock(&s->lock);
}
