/*
 * Incremental verification (docs/verifier.md, "Incremental verification"): the state a
 * verifier keeps of the last report of a host it verified, and the evidence-level check
 * 18 "continuity", which decides whether a report may be judged from that state.
 *
 * Invariants:
 * - within one srtmd run (srtm instance and boot counters) an IRREVERSIBLE CCR's log only
 *   grows, so every report of the run must extend each such log the state holds: its
 *   first L entries replay to the stored value V (a full report), or it starts after
 *   exactly L entries from base value V (an incremental report). Anything else is a lie
 *   of the host and fails the check like any other evidence failure;
 * - a failure that only says the state cannot be used for this report (none, another
 *   run, another policy, a CCR it does not hold, stored entries not known to be allowed)
 *   is not a verdict on the host: it sets needs_full, and a full quote is judged instead;
 * - a stored CCR is resumable only when its stored entries replayed to its value and none
 *   of them can give a reason under the policy it was judged by, so that continuing the
 *   replay and the allowlist from the state gives the verdict of the full report.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "verify_int.h"

#define STATE_FORMAT 1u

/* ---- the state ---- */

static int ccr_state_cmp(const void *a, const void *b)
{
    const verify_ccr_state *x = a, *y = b;
    if (x->handle != y->handle)
        return x->handle < y->handle ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

const verify_ccr_state *continuity_find(const srtm_verify_state *s, uint64_t handle,
                                        uint32_t index)
{
    verify_ccr_state key = {.handle = handle, .index = index};
    return s->n_ccrs > 0 ? bsearch(&key, s->ccrs, s->n_ccrs, sizeof(*s->ccrs), ccr_state_cmp)
                         : NULL;
}

SRTM_API void srtm_verify_state_free(srtm_verify_state *state)
{
    if (state == NULL)
        return;
    free(state->ccrs);
    free(state);
}

/* The stored record, checked: what srtm_verify_result_state writes and nothing else. */
static bool state_msg_ok(const Srtm__VerifierState *m)
{
    if (m->format != STATE_FORMAT || m->srtm_instance.len != SRTM_INSTANCE_LEN ||
        m->policy_sha256.len != SRTM_DIGEST_LEN ||
        (m->tainted != NULL && strlen(m->tainted) >= sizeof(((srtm_verify_state *)0)->tainted)))
        return false;
    for (size_t i = 0; i < m->n_ccrs; i++) {
        const Srtm__VerifierCcrState *c = m->ccrs[i];
        if (c->value.len != SRTM_DIGEST_LEN)
            return false;
        if (i > 0) {
            const Srtm__VerifierCcrState *p = m->ccrs[i - 1];
            if (p->handle > c->handle || (p->handle == c->handle && p->index >= c->index))
                return false;
        }
    }
    return true;
}

static srtm_verify_state *state_from_msg(const Srtm__VerifierState *m)
{
    srtm_verify_state *s = calloc(1, sizeof(*s));
    verify_ccr_state *ccrs = calloc(m->n_ccrs ? m->n_ccrs : 1, sizeof(*ccrs));
    if (s == NULL || ccrs == NULL) {
        free(s);
        free(ccrs);
        return NULL;
    }
    memcpy(s->instance, m->srtm_instance.data, SRTM_INSTANCE_LEN);
    s->reset_count = m->reset_count;
    s->restart_count = m->restart_count;
    s->seq = m->seq;
    memcpy(s->policy_sha256, m->policy_sha256.data, SRTM_DIGEST_LEN);
    for (size_t i = 0; i < m->n_ccrs; i++) {
        const Srtm__VerifierCcrState *c = m->ccrs[i];
        ccrs[i] = (verify_ccr_state){.handle = c->handle, .index = c->index,
                                     .length = c->length, .resumable = c->resumable};
        memcpy(ccrs[i].value, c->value.data, SRTM_DIGEST_LEN);
    }
    s->ccrs = ccrs;
    s->n_ccrs = m->n_ccrs;
    snprintf(s->tainted, sizeof(s->tainted), "%s", m->tainted != NULL ? m->tainted : "");
    return s;
}

SRTM_API srtm_err srtm_verify_state_parse(const uint8_t *blob, size_t len,
                                          srtm_verify_state **out)
{
    if (out != NULL)
        *out = NULL;
    if (blob == NULL || out == NULL)
        return SRTM_E_INVALID;
    if (len > SRTM_MAX_REPORT)
        return SRTM_E_MALFORMED;
    Srtm__VerifierState *m = srtm__verifier_state__unpack(NULL, len, blob);
    if (m == NULL)
        return SRTM_E_MALFORMED;
    srtm_err err = state_msg_ok(m) ? SRTM_OK : SRTM_E_MALFORMED;
    srtm_verify_state *s = err == SRTM_OK ? state_from_msg(m) : NULL;
    if (err == SRTM_OK && s == NULL)
        err = SRTM_E_NO_MEMORY;
    srtm__verifier_state__free_unpacked(m, NULL);
    if (err == SRTM_OK)
        *out = s;
    return err;
}

SRTM_API int srtm_verify_state_since(const srtm_verify_state *state,
                                     const srtm_verifier_policy *policy,
                                     uint8_t instance_out[SRTM_INSTANCE_LEN], uint64_t *seq_out)
{
    if (state == NULL || policy == NULL || instance_out == NULL || seq_out == NULL ||
        state->seq == 0 || state->tainted[0] != '\0' ||
        CRYPTO_memcmp(state->policy_sha256, policy->sha256, SRTM_DIGEST_LEN) != 0)
        return 0;
    for (size_t i = 0; i < state->n_ccrs; i++)
        if (!state->ccrs[i].resumable)
            return 0;
    memcpy(instance_out, state->instance, SRTM_INSTANCE_LEN);
    *seq_out = state->seq;
    return 1;
}

SRTM_API srtm_err srtm_verify_result_state(const srtm_verify_result *result, uint8_t **blob_out,
                                           size_t *len_out)
{
    if (blob_out == NULL || len_out == NULL || result == NULL)
        return SRTM_E_INVALID;
    const srtm_verify_state *s = result->next;
    if (s == NULL)
        return SRTM_E_DENIED;
    Srtm__VerifierCcrState *ccrs = calloc(s->n_ccrs ? s->n_ccrs : 1, sizeof(*ccrs));
    Srtm__VerifierCcrState **ptrs = calloc(s->n_ccrs ? s->n_ccrs : 1, sizeof(*ptrs));
    srtm_err err = ccrs != NULL && ptrs != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    for (size_t i = 0; err == SRTM_OK && i < s->n_ccrs; i++) {
        srtm__verifier_ccr_state__init(&ccrs[i]);
        ccrs[i].handle = s->ccrs[i].handle;
        ccrs[i].index = s->ccrs[i].index;
        ccrs[i].length = s->ccrs[i].length;
        ccrs[i].value = (ProtobufCBinaryData){SRTM_DIGEST_LEN, (uint8_t *)s->ccrs[i].value};
        ccrs[i].resumable = s->ccrs[i].resumable;
        ptrs[i] = &ccrs[i];
    }
    Srtm__VerifierState m = SRTM__VERIFIER_STATE__INIT;
    m.format = STATE_FORMAT;
    m.srtm_instance = (ProtobufCBinaryData){SRTM_INSTANCE_LEN, (uint8_t *)s->instance};
    m.reset_count = s->reset_count;
    m.restart_count = s->restart_count;
    m.seq = s->seq;
    m.policy_sha256 = (ProtobufCBinaryData){SRTM_DIGEST_LEN, (uint8_t *)s->policy_sha256};
    m.ccrs = ptrs;
    m.n_ccrs = s->n_ccrs;
    m.tainted = (char *)s->tainted;
    size_t n = err == SRTM_OK ? srtm__verifier_state__get_packed_size(&m) : 0;
    uint8_t *blob = err == SRTM_OK ? malloc(n ? n : 1) : NULL;
    if (err == SRTM_OK && blob == NULL)
        err = SRTM_E_NO_MEMORY;
    if (err == SRTM_OK && srtm__verifier_state__pack(&m, blob) != n)
        err = SRTM_E_INTERNAL;
    free(ccrs);
    free(ptrs);
    if (err != SRTM_OK) {
        free(blob);
        return err;
    }
    *blob_out = blob;
    *len_out = n;
    return SRTM_OK;
}

SRTM_API int srtm_verify_result_needs_full(const srtm_verify_result *result)
{
    return result != NULL && result->needs_full;
}

/* ---- the state after a verified report ---- */

/* No reason of the policy can come from r's entries: the CCR has no allowlist rule, or
 * every entry it judges is in it (the rules are those of the component's path). */
static bool ccr_resumable(const srtm_verifier_policy *p, const Srtm__ReportComponent *c,
                          const char *path, const Srtm__ReportCcr *r)
{
    const pol_component *twice = NULL;
    const pol_component *pc = policy_rules_for(p, c, path, &twice);
    if (twice != NULL)
        return false;
    const pol_ccr *rule = pc != NULL ? policy_find_ccr(pc, r->index) : NULL;
    return rule == NULL || !rule->has_allowed || verify_all_allowed(r, rule);
}

static bool stored(const Srtm__ReportComponent *c, const verify_verdict *v, size_t j)
{
    return c->ccrs[j]->policy == SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE &&
           j < v->n_ccr_ok && v->ccr_ok[j];
}

srtm_err continuity_state(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                          const verify_verdict *v, srtm_verify_state **out)
{
    *out = NULL;
    if (rep->srtm_instance.len != SRTM_INSTANCE_LEN)
        return SRTM_OK; /* not a report of an srtmd run: nothing to continue */
    size_t n = 0;
    for (size_t i = 0; i < rep->n_components; i++)
        for (size_t j = 0; j < rep->components[i]->n_ccrs; j++)
            n += stored(rep->components[i], &v[i], j);
    srtm_verify_state *s = calloc(1, sizeof(*s));
    verify_ccr_state *ccrs = calloc(n ? n : 1, sizeof(*ccrs));
    if (s == NULL || ccrs == NULL) {
        free(s);
        free(ccrs);
        return SRTM_E_NO_MEMORY;
    }
    size_t k = 0;
    for (size_t i = 0; i < rep->n_components; i++) {
        const Srtm__ReportComponent *c = rep->components[i];
        for (size_t j = 0; j < c->n_ccrs; j++) {
            const Srtm__ReportCcr *r = c->ccrs[j];
            if (!stored(c, &v[i], j))
                continue;
            ccrs[k] = (verify_ccr_state){.handle = c->handle, .index = r->index,
                                         .length = r->log_offset + r->n_log,
                                         .resumable = ccr_resumable(p, c, v[i].path, r)};
            memcpy(ccrs[k++].value, r->value.data, SRTM_DIGEST_LEN);
        }
    }
    /* The replay rule failed every repeated (handle, index) but its first; handles are
     * unique (report-handles). Ascending order makes the blob deterministic. */
    qsort(ccrs, n, sizeof(*ccrs), ccr_state_cmp);
    memcpy(s->instance, rep->srtm_instance.data, SRTM_INSTANCE_LEN);
    s->reset_count = rep->reset_count;
    s->restart_count = rep->restart_count;
    s->seq = rep->seq;
    memcpy(s->policy_sha256, p->sha256, SRTM_DIGEST_LEN);
    s->ccrs = ccrs;
    s->n_ccrs = n;
    *out = s;
    return SRTM_OK;
}

static bool same_run(const Srtm__CcrReport *rep, const srtm_verify_state *s);

srtm_err continuity_taint(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                          const srtm_verify_state *s, const char *reason,
                          srtm_verify_state **out)
{
    *out = NULL;
    if (rep->srtm_instance.len != SRTM_INSTANCE_LEN)
        return SRTM_OK;
    /* No CCRs: every later report of the run fails before they would be read, and the
     * state stays small whatever the host reported, so a verifier can always keep it. */
    srtm_verify_state *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return SRTM_E_NO_MEMORY;
    if (s != NULL && same_run(rep, s)) {
        *t = *s;
        t->ccrs = NULL;
        t->n_ccrs = 0;
    } else {
        memcpy(t->instance, rep->srtm_instance.data, SRTM_INSTANCE_LEN);
        t->reset_count = rep->reset_count;
        t->restart_count = rep->restart_count;
        t->seq = rep->seq;
        memcpy(t->policy_sha256, p->sha256, SRTM_DIGEST_LEN);
    }
    /* A lie found against a tainted state repeats its first reason. */
    if (s == NULL || !same_run(rep, s) || s->tainted[0] == '\0')
        snprintf(t->tainted, sizeof(t->tainted), "%s", reason);
    *out = t;
    return SRTM_OK;
}

/* ---- check 18: continuity ---- */

typedef struct cont {
    sha256_hasher *h;
    const srtm_verifier_policy *p;
    const Srtm__CcrReport *rep;
    const srtm_verify_state *s; /* NULL: none */
    char lie[VERIFY_REASON_LEN];  /* the first lie found; "" while none */
    char full[VERIFY_REASON_LEN]; /* the first reason the state cannot be used */
    char err[VERIFY_REASON_LEN];  /* the first internal failure: the check could not run */
} cont;

static void say(char *buf, const char *prefix, const Srtm__ReportComponent *c,
                const Srtm__ReportCcr *r, const char *fmt, va_list ap) SRTM_PRINTF(5, 0);
static void say(char *buf, const char *prefix, const Srtm__ReportComponent *c,
                const Srtm__ReportCcr *r, const char *fmt, va_list ap)
{
    if (buf[0] != '\0')
        return; /* the first one found is told */
    int n = 0;
    if (c != NULL && r != NULL)
        n = snprintf(buf, VERIFY_REASON_LEN, "%s%s (handle %llu) CCR %u: ", prefix, c->name,
                     (unsigned long long)c->handle, r->index);
    else
        n = snprintf(buf, VERIFY_REASON_LEN, "%s", prefix);
    if (n >= 0 && (size_t)n < VERIFY_REASON_LEN)
        vsnprintf(buf + n, VERIFY_REASON_LEN - (size_t)n, fmt, ap);
}

/* A lie: the report cannot be what an honest srtmd sends. */
static void lie(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r,
                const char *fmt, ...) SRTM_PRINTF(4, 5);
static void lie(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(x->lie, "", c, r, fmt, ap);
    va_end(ap);
}

/* The verifier failed (memory, hashing): nothing is known about the host. */
static void failed(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r,
                   const char *fmt, ...) SRTM_PRINTF(4, 5);
static void failed(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(x->err, "", c, r, fmt, ap);
    va_end(ap);
}

/* The state cannot be used for this report: a full quote is needed, no verdict. */
static void full(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r,
                 const char *fmt, ...) SRTM_PRINTF(4, 5);
static void full(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say(x->full, "cannot continue: ", c, r, fmt, ap);
    va_end(ap);
}

static void hex32(const uint8_t *d, char out[2 * SRTM_DIGEST_LEN + 1])
{
    if (hex_encode(d, SRTM_DIGEST_LEN, out, 2 * SRTM_DIGEST_LEN + 1) != SRTM_OK)
        out[0] = '\0';
}

/* The shape of an incremental CCR, which needs no state: only IRREVERSIBLE CCRs start
 * after entry 0, from a 32-byte base value, with the entries that follow it. */
static void shape_incremental(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r)
{
    unsigned long long off = (unsigned long long)r->log_offset;
    if (r->log_offset == 0) {
        if (r->base_value.len != 0)
            lie(x, c, r, "a base value of %zu bytes with log_offset 0", r->base_value.len);
    } else if (r->policy != SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE) {
        lie(x, c, r, "log_offset %llu on a CCR that is not IRREVERSIBLE", off);
    } else if (r->base_value.len != SRTM_DIGEST_LEN) {
        lie(x, c, r, "log_offset %llu with a base value of %zu bytes, not %u", off,
            r->base_value.len, SRTM_DIGEST_LEN);
    } else if (r->log_offset > UINT64_MAX - r->n_log) {
        lie(x, c, r, "log_offset %llu and %zu entries overflow", off, r->n_log);
    } else if (r->n_log > 0 && r->log[0]->seq <= x->rep->since_seq) {
        lie(x, c, r, "log entry %llu has seq %llu, not after since_seq %llu", off,
            (unsigned long long)r->log[0]->seq, (unsigned long long)x->rep->since_seq);
    } else {
        for (size_t k = 0; k < r->n_log && x->lie[0] == '\0'; k++)
            if (r->log[k]->index != r->log_offset + k)
                lie(x, c, r, "reported log entry %zu has index %llu, not %llu: the entries "
                             "after log_offset %llu are not consecutive",
                    k, (unsigned long long)r->log[k]->index,
                    (unsigned long long)(r->log_offset + k), off);
    }
}

/* Every CCR's shape; a full report has no incremental CCR at all, and the CCRs of a
 * component that some reported component removed as a dependency are reported whole
 * (the removal is judged at its own seq, which may lie before since_seq). */
static bool shapes(cont *x)
{
    const Srtm__CcrReport *rep = x->rep;
    bool *target = calloc(rep->n_components ? rep->n_components : 1, sizeof(*target));
    if (target == NULL)
        return false;
    for (size_t i = 0; i < rep->n_components; i++)
        for (size_t k = 0; k < rep->components[i]->n_dependency_changes; k++) {
            const Srtm__DependencyChange *d = rep->components[i]->dependency_changes[k];
            size_t j = d->removed ? verify_find_handle(rep, d->on) : VERIFY_NONE;
            if (j != VERIFY_NONE)
                target[j] = true;
        }
    for (size_t i = 0; i < rep->n_components && x->lie[0] == '\0'; i++) {
        const Srtm__ReportComponent *c = rep->components[i];
        for (size_t j = 0; j < c->n_ccrs && x->lie[0] == '\0'; j++) {
            const Srtm__ReportCcr *r = c->ccrs[j];
            if (rep->since_seq == 0 && (r->log_offset != 0 || r->base_value.len != 0))
                lie(x, c, r, "log_offset %llu and a base value of %zu bytes in a full report "
                             "(since_seq 0)",
                    (unsigned long long)r->log_offset, r->base_value.len);
            else if (target[i] && r->log_offset != 0)
                lie(x, c, r, "log_offset %llu, but %s is the target of a removal record and "
                             "must be reported whole",
                    (unsigned long long)r->log_offset, c->name);
            else
                shape_incremental(x, c, r);
        }
    }
    free(target);
    return true;
}

static bool same_run(const Srtm__CcrReport *rep, const srtm_verify_state *s)
{
    return rep->srtm_instance.len == SRTM_INSTANCE_LEN &&
           memcmp(rep->srtm_instance.data, s->instance, SRTM_INSTANCE_LEN) == 0 &&
           rep->reset_count == s->reset_count && rep->restart_count == s->restart_count;
}

/* The value of r's first n entries (n <= its reported entries), replayed from 32 zero
 * bytes as an IRREVERSIBLE CCR; false with *bad at an entry that is no measurement. */
static srtm_err prefix_value(sha256_hasher *h, const Srtm__ReportCcr *r, uint64_t n,
                             uint8_t out[SRTM_DIGEST_LEN], size_t *bad)
{
    memset(out, 0, SRTM_DIGEST_LEN);
    *bad = SIZE_MAX;
    srtm_err err = SRTM_OK;
    for (size_t k = 0; err == SRTM_OK && k < n; k++) {
        const Srtm__LogEntry *e = r->log[k];
        if (e->revert_marker || e->digest.len != SRTM_DIGEST_LEN) {
            *bad = k;
            break;
        }
        err = sha256_hasher_two(h, out, SRTM_DIGEST_LEN, e->digest.data, SRTM_DIGEST_LEN, out);
    }
    return err;
}

/* A CCR of the state in a report of the same run, reported from entry 0: its log starts
 * with the L entries verified, which replay to V. */
static void extends_whole(cont *x, const Srtm__ReportComponent *c, const Srtm__ReportCcr *r,
                          const verify_ccr_state *st)
{
    unsigned long long seq = (unsigned long long)x->s->seq, L = (unsigned long long)st->length;
    uint8_t v[SRTM_DIGEST_LEN];
    size_t bad = SIZE_MAX;
    if (r->policy != SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE)
        lie(x, c, r, "not IRREVERSIBLE, yet it was at seq %llu", seq);
    else if (st->length > r->n_log)
        lie(x, c, r, "%zu log entries, fewer than the %llu verified at seq %llu: the log does "
                     "not extend what was verified",
            r->n_log, L, seq);
    else if (st->length > 0 && prefix_value(x->h, r, st->length, v, &bad) != SRTM_OK)
        failed(x, c, r, "cannot hash its log");
    else if (st->length > 0 && bad != SIZE_MAX)
        lie(x, c, r, "log entry %zu is not a 32-byte measurement, yet it was verified at seq "
                     "%llu: the log does not extend what was verified",
            bad, seq);
    else if (st->length > 0 && CRYPTO_memcmp(v, st->value, SRTM_DIGEST_LEN) != 0) {
        char got[2 * SRTM_DIGEST_LEN + 1], want[2 * SRTM_DIGEST_LEN + 1];
        hex32(v, got);
        hex32(st->value, want);
        lie(x, c, r, "log entry 0 .. %llu replay to %s, not the %s verified at seq %llu: the "
                     "log does not extend what was verified",
            L - 1, got, want, seq);
    }
}

/* A CCR reported after log_offset entries: it continues the state exactly. */
static void extends_incremental(cont *x, const Srtm__ReportComponent *c,
                                const Srtm__ReportCcr *r)
{
    const verify_ccr_state *st = continuity_find(x->s, c->handle, r->index);
    unsigned long long off = (unsigned long long)r->log_offset;
    if (st == NULL) {
        full(x, c, r, "reported after %llu entries, but the state does not hold it", off);
    } else if (r->log_offset != st->length ||
               CRYPTO_memcmp(r->base_value.data, st->value, SRTM_DIGEST_LEN) != 0) {
        char got[2 * SRTM_DIGEST_LEN + 1], want[2 * SRTM_DIGEST_LEN + 1];
        hex32(r->base_value.data, got);
        hex32(st->value, want);
        lie(x, c, r, "log_offset %llu, base value %s, not the %llu entries and value %s "
                     "verified at seq %llu: the log does not extend what was verified",
            off, got, (unsigned long long)st->length, want, (unsigned long long)x->s->seq);
    } else if (!st->resumable) {
        full(x, c, r, "its first %llu entries were verified, but not all are in its allowlist: "
                      "only a full report can be judged",
             off);
    }
}

/* A report of the run the state is of: the sequence goes on, and every CCR of the state
 * that is reported extends its verified log. Components of the state that are not
 * reported are fine (the selection may differ). */
static void same_run_rules(cont *x)
{
    const Srtm__CcrReport *rep = x->rep;
    unsigned long long seq = (unsigned long long)x->s->seq;
    if (rep->since_seq != 0 && rep->since_seq != x->s->seq)
        lie(x, NULL, NULL, "since_seq %llu is not the seq %llu of the state it was asked with",
            (unsigned long long)rep->since_seq, seq);
    else if (rep->seq < x->s->seq)
        lie(x, NULL, NULL, "seq %llu is before the seq %llu verified earlier in this srtmd "
                           "run: the sequence went back",
            (unsigned long long)rep->seq, seq);
    for (size_t i = 0; i < rep->n_components && x->lie[0] == '\0'; i++) {
        const Srtm__ReportComponent *c = rep->components[i];
        for (size_t j = 0; j < c->n_ccrs && x->lie[0] == '\0'; j++) {
            const Srtm__ReportCcr *r = c->ccrs[j];
            const verify_ccr_state *st = NULL;
            if (r->log_offset != 0)
                extends_incremental(x, c, r);
            else if ((st = continuity_find(x->s, c->handle, r->index)) != NULL)
                extends_whole(x, c, r, st);
        }
    }
    if (rep->since_seq != 0 &&
        CRYPTO_memcmp(x->s->policy_sha256, x->p->sha256, SRTM_DIGEST_LEN) != 0)
        full(x, NULL, NULL, "the state was kept under another policy");
}

/* The rules in order: shapes (no state needed), then the state's run. Lies win over
 * needs_full: a host that lies is judged, whatever the state. */
static void continuity_rules(cont *x)
{
    if (!shapes(x))
        failed(x, NULL, NULL, "out of memory");
    else if (x->lie[0] != '\0')
        ;
    else if (x->s != NULL && same_run(x->rep, x->s) && x->s->tainted[0] != '\0')
        lie(x, NULL, NULL, "an earlier report of this srtmd run failed continuity: %s",
            x->s->tainted);
    else if (x->s != NULL && same_run(x->rep, x->s))
        same_run_rules(x);
    else if (x->rep->since_seq != 0 && x->s == NULL)
        full(x, NULL, NULL, "an incremental report (since_seq %llu) and no state to continue",
             (unsigned long long)x->rep->since_seq);
    else if (x->rep->since_seq != 0)
        full(x, NULL, NULL, "an incremental report (since_seq %llu) of another srtmd run or "
                            "boot than the state's",
             (unsigned long long)x->rep->since_seq);
}

bool continuity_check(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                      const srtm_verify_state *s, char *reason, size_t size, bool *needs_full,
                      bool *internal)
{
    cont x = {.p = p, .rep = rep, .s = s};
    *needs_full = false;
    *internal = false;
    if (sha256_hasher_new(&x.h) != SRTM_OK) {
        snprintf(reason, size, "cannot hash");
        *internal = true;
        return false;
    }
    continuity_rules(&x);
    sha256_hasher_free(x.h);
    if (x.err[0] != '\0') { /* whatever else was found: the rules did not all run */
        snprintf(reason, size, "%s", x.err);
        *internal = true;
        return false;
    }
    if (x.lie[0] != '\0') {
        snprintf(reason, size, "%s", x.lie);
        return false;
    }
    if (x.full[0] != '\0') {
        snprintf(reason, size, "%s", x.full);
        *needs_full = true;
        return false;
    }
    return true;
}
