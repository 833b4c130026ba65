/*
 * The verifier: decides, from an evidence bundle, the AIK public key and a policy, which
 * components of a CCR report can be trusted (docs/verifier.md).
 *
 * Two levels. Evidence-level checks (the table `checks` below, run in order) establish
 * that the report bytes are what srtmd signed with an IRK that a TPM certified during the
 * SRTM-proof-period of the boot the joint quote comes from, with the PCRs of the
 * reference. Each check names the checks it builds on; one whose basis failed is failed
 * too ("not checked: ..."), so nothing is ever reported as passing on unverified input.
 * Component-level rules (the table `component_rules`) then judge each component's own
 * CCRs and logs, and the dependency rule judges each component by the components it
 * depends on. A component is trusted only if every evidence-level check passed, its own
 * rules did, and every component it depends on, directly or transitively, is trusted.
 *
 * Invariant: the result starts untrusted and is only ever set to ok at the very end,
 * after every check ran; any allocation failure returns an error and no result.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "irk.h"
#include "merkle.h"
#include "verify_int.h"

#define TPM_GENERATED 0xff544347u
#define TPM_ST_ATTEST_QUOTE 0x8018u
#define MAX_REASONS_PER_CCR 8u

/* ---- small helpers ---- */

static char *vxprintf(const char *fmt, va_list ap) SRTM_PRINTF(1, 0);

static char *vxprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s != NULL)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static void hex32(const uint8_t *d, char out[2 * SRTM_DIGEST_LEN + 1])
{
    if (hex_encode(d, SRTM_DIGEST_LEN, out, 2 * SRTM_DIGEST_LEN + 1) != SRTM_OK)
        out[0] = '\0';
}

srtm_err verdict_fail(verify_verdict *v, const char *fmt, ...)
{
    v->trusted = false;
    char **grown = realloc(v->reasons, (v->n_reasons + 1) * sizeof(*grown));
    if (grown == NULL)
        return SRTM_E_NO_MEMORY;
    v->reasons = grown;
    va_list ap;
    va_start(ap, fmt);
    char *s = vxprintf(fmt, ap);
    va_end(ap);
    if (s == NULL)
        return SRTM_E_NO_MEMORY;
    v->reasons[v->n_reasons++] = s;
    return SRTM_OK;
}

void verdict_clear(verify_verdict *v)
{
    for (size_t i = 0; i < v->n_reasons; i++)
        free(v->reasons[i]);
    free(v->reasons);
    free(v->ccr_ok);
    free(v->name);
    free(v->path);
    memset(v, 0, sizeof(*v));
}

/* ---- component rules ---- */

/*
 * A component rule judges one component of the report on its own; every rule runs, so a
 * verdict lists every reason. Rules that need other components (the dependency rule of
 * hierarchical integrity management: trusted(X) needs every dependency of X trusted) run
 * afterwards over all verdicts, in verify_components' second pass (dependency_rule).
 */
typedef srtm_err (*component_rule)(sha256_hasher *h, const srtm_verifier_policy *p,
                                   const Srtm__ReportComponent *c, verify_verdict *v);

/* One live measurement during a replay: its sequence number and the value after it. */
typedef struct live_entry {
    uint64_t seq;
    uint8_t value[SRTM_DIGEST_LEN];
} live_entry;

/*
 * Replay one CCR's log from 32 zero bytes, or from its 32-byte base value when it is
 * reported after log_offset entries (an incremental report; the caller checked its
 * length): value' = SHA-256(value || digest) per live measurement; a revert marker
 * returns to the value after the live measurement it names (or to the start), undoing
 * the live measurements after that point. The flags srtmd set are checked, not trusted:
 * the measurements a marker undoes must be exactly those flagged reverted, and only a
 * REVERSIBLE CCR may have markers. *reason is set when the log is inconsistent; out is
 * the replayed value otherwise.
 */
static srtm_err replay_ccr(sha256_hasher *h, const Srtm__ReportCcr *r, uint8_t out[SRTM_DIGEST_LEN],
                           const char **reason, size_t *at)
{
    live_entry *live = malloc((r->n_log ? r->n_log : 1) * sizeof(*live));
    bool *undone = calloc(r->n_log ? r->n_log : 1, sizeof(*undone));
    size_t *idx = malloc((r->n_log ? r->n_log : 1) * sizeof(*idx));
    if (live == NULL || undone == NULL || idx == NULL) {
        free(live);
        free(undone);
        free(idx);
        return SRTM_E_NO_MEMORY;
    }
    size_t n = 0;
    srtm_err err = SRTM_OK;
    *reason = NULL;
    static const uint8_t zero[SRTM_DIGEST_LEN];
    const uint8_t *start = r->log_offset != 0 ? r->base_value.data : zero;
    for (size_t k = 0; k < r->n_log && *reason == NULL && err == SRTM_OK; k++) {
        const Srtm__LogEntry *e = r->log[k];
        *at = k;
        if (e->revert_marker) {
            if (r->policy != SRTM__CHANGE_POLICY__POLICY_REVERSIBLE) {
                *reason = "a revert marker in an irreversible CCR";
                break;
            }
            while (n > 0 && live[n - 1].seq > e->revert_to_seq)
                undone[idx[--n]] = true;
            if (e->revert_to_seq != 0 && (n == 0 || live[n - 1].seq != e->revert_to_seq))
                *reason = "a revert marker names no live measurement";
            continue;
        }
        if (e->digest.len != SRTM_DIGEST_LEN) {
            *reason = "a log entry without a 32-byte digest";
            break;
        }
        const uint8_t *prev = n > 0 ? live[n - 1].value : start;
        if (sha256_hasher_two(h, prev, SRTM_DIGEST_LEN, e->digest.data, SRTM_DIGEST_LEN,
                              live[n].value) != SRTM_OK) {
            err = SRTM_E_CRYPTO;
            break;
        }
        live[n].seq = e->seq;
        idx[n++] = k;
    }
    for (size_t k = 0; k < r->n_log && *reason == NULL && err == SRTM_OK; k++) {
        if (!r->log[k]->revert_marker && r->log[k]->reverted != undone[k]) {
            *at = k;
            *reason = undone[k] ? "a measurement undone by a revert is not marked reverted"
                                : "a measurement marked reverted was never reverted";
        }
    }
    if (err == SRTM_OK && *reason == NULL)
        memcpy(out, n > 0 ? live[n - 1].value : start, SRTM_DIGEST_LEN);
    free(live);
    free(undone);
    free(idx);
    return err;
}

/* One CCR's replay (replay_ccr) against its value; *ok when they agree. Log entries are
 * named by their position in the whole log (log_offset + their place in the report). */
static srtm_err replay_one(sha256_hasher *h, const Srtm__ReportCcr *r, verify_verdict *v,
                           bool *ok)
{
    *ok = false;
    unsigned long long off = (unsigned long long)r->log_offset;
    if (r->value.len != SRTM_DIGEST_LEN)
        return verdict_fail(v, "CCR %u: value is %zu bytes, not %u", r->index, r->value.len,
                            SRTM_DIGEST_LEN);
    if (r->log_offset != 0 && r->base_value.len != SRTM_DIGEST_LEN)
        return verdict_fail(v, "CCR %u: base value is %zu bytes, not %u", r->index,
                            r->base_value.len, SRTM_DIGEST_LEN);
    uint8_t acc[SRTM_DIGEST_LEN];
    const char *reason = NULL;
    size_t at = 0;
    srtm_err err = replay_ccr(h, r, acc, &reason, &at);
    if (err != SRTM_OK)
        return err;
    if (reason != NULL)
        return verdict_fail(v, "CCR %u: log entry %llu: %s", r->index,
                            off + (unsigned long long)at, reason);
    if (CRYPTO_memcmp(acc, r->value.data, SRTM_DIGEST_LEN) != 0)
        return r->log_offset == 0
                   ? verdict_fail(v, "CCR %u: value does not match the replay of its %zu log "
                                     "entries",
                                  r->index, r->n_log)
                   : verdict_fail(v, "CCR %u: value does not match the replay of its %zu log "
                                     "entries after entry %llu from its base value",
                                  r->index, r->n_log, off - 1);
    *ok = true;
    return SRTM_OK;
}

/* Every CCR value equals the replay of its log; which CCRs did is kept in v->ccr_ok (the
 * state of incremental verification keeps only those). */
static srtm_err rule_replay(sha256_hasher *h, const srtm_verifier_policy *p,
                            const Srtm__ReportComponent *c, verify_verdict *v)
{
    (void)p;
    bool *ok = calloc(c->n_ccrs ? c->n_ccrs : 1, sizeof(*ok));
    if (ok == NULL)
        return SRTM_E_NO_MEMORY;
    free(v->ccr_ok);
    v->ccr_ok = ok;
    v->n_ccr_ok = c->n_ccrs;
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < c->n_ccrs; i++) {
        const Srtm__ReportCcr *r = c->ccrs[i];
        bool twice = false;
        for (size_t j = 0; err == SRTM_OK && j < i; j++)
            if (c->ccrs[j]->index == r->index) {
                twice = true;
                err = verdict_fail(v, "CCR %u appears twice in the report", r->index);
            }
        if (err == SRTM_OK)
            err = replay_one(h, r, v, &ok[i]);
        ok[i] = ok[i] && !twice;
    }
    return err;
}

/* Entries the allowlist judges: live measurements. Reverted measurements no longer count
 * towards the value (undoing a change is how a component regains trust), and markers
 * measure nothing. */
static bool judged(const Srtm__LogEntry *e)
{
    return !e->reverted && !e->revert_marker;
}

/* The log entries of one CCR against its allowlist; a reason per entry outside it, at
 * most MAX_REASONS_PER_CCR of them. Only the reported entries are judged: those before an
 * incremental CCR's log_offset were all allowed (check continuity). */
static srtm_err allowlist_reasons(const Srtm__ReportCcr *r, const pol_ccr *pc, verify_verdict *v)
{
    size_t bad = 0;
    for (size_t k = 0; k < r->n_log; k++) {
        const Srtm__LogEntry *e = r->log[k];
        if (!judged(e))
            continue;
        if (e->digest.len == SRTM_DIGEST_LEN && policy_find_digest(pc, e->digest.data) != NULL)
            continue;
        if (++bad > MAX_REASONS_PER_CCR)
            continue;
        char hex[2 * SRTM_DIGEST_LEN + 1] = "(malformed)";
        if (e->digest.len == SRTM_DIGEST_LEN)
            hex32(e->digest.data, hex);
        const char *d = e->description != NULL ? e->description : "";
        bool show = d[0] != '\0' && utf8_valid(d, strlen(d));
        srtm_err err = verdict_fail(v, "CCR %u: log entry %llu digest %s%s%s%s is not in the "
                                       "allowlist",
                                    r->index, (unsigned long long)(r->log_offset + k), hex,
                                    show ? " (\"" : "", show ? d : "", show ? "\")" : "");
        if (err != SRTM_OK)
            return err;
    }
    if (bad > MAX_REASONS_PER_CCR)
        return verdict_fail(v, "CCR %u: %zu more log entries are not in the allowlist",
                            r->index, bad - MAX_REASONS_PER_CCR);
    return SRTM_OK;
}

bool verify_all_allowed(const Srtm__ReportCcr *r, const pol_ccr *pc)
{
    for (size_t k = 0; k < r->n_log; k++)
        if (judged(r->log[k]) && (r->log[k]->digest.len != SRTM_DIGEST_LEN ||
                                  policy_find_digest(pc, r->log[k]->digest.data) == NULL))
            return false;
    return true;
}

/* One CCR against its policy: acceptable when the value is the expected one or every
 * log entry is in the allowlist (either rule given suffices). */
static srtm_err judge_ccr(const Srtm__ReportCcr *r, const pol_ccr *pc, verify_verdict *v)
{
    bool expected_ok = pc->has_expected && r->value.len == SRTM_DIGEST_LEN &&
                       CRYPTO_memcmp(r->value.data, pc->expected, SRTM_DIGEST_LEN) == 0;
    bool allowed_ok = pc->has_allowed && verify_all_allowed(r, pc);
    if (expected_ok || allowed_ok)
        return SRTM_OK;
    srtm_err err = SRTM_OK;
    if (pc->has_expected) {
        char hex[2 * SRTM_DIGEST_LEN + 1] = "(malformed)";
        if (r->value.len == SRTM_DIGEST_LEN)
            hex32(r->value.data, hex);
        err = verdict_fail(v, "CCR %u: value %s is not the expected value", r->index, hex);
    }
    if (err == SRTM_OK && pc->has_allowed)
        err = allowlist_reasons(r, pc, v);
    return err;
}

static bool has_log_entries(const Srtm__ReportComponent *c)
{
    for (size_t i = 0; i < c->n_ccrs; i++)
        if (c->ccrs[i]->n_log > 0 || c->ccrs[i]->log_offset > 0)
            return true;
    return false;
}

/* The policy's rules for this component (found by its path, or by its bare name for
 * component 0 and its children: policy_rules_for): allowlists and expected values; CCRs
 * the policy names must be in the report. */
static srtm_err rule_policy(sha256_hasher *h, const srtm_verifier_policy *p,
                           const Srtm__ReportComponent *c, verify_verdict *v)
{
    (void)h;
    const pol_component *twice = NULL;
    const pol_component *pc = policy_rules_for(p, c, v->path, &twice);
    if (twice != NULL)
        return verdict_fail(v, "named twice in the policy, as \"%s\" and \"%s\"", twice->name,
                            pc->name);
    /* Component 0 with nothing measured is described by the PCR reference alone. */
    if (pc == NULL && c->handle == 0 && !has_log_entries(c))
        return SRTM_OK;
    if (pc == NULL)
        return p->unlisted == POL_UNLISTED_UNTRUSTED
                   ? verdict_fail(v, "not named in the policy (\"unlisted\": \"untrusted\")")
                   : SRTM_OK;
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < c->n_ccrs; i++) {
        const pol_ccr *rule = policy_find_ccr(pc, c->ccrs[i]->index);
        if (rule != NULL)
            err = judge_ccr(c->ccrs[i], rule, v);
        else if (p->unlisted == POL_UNLISTED_UNTRUSTED)
            err = verdict_fail(v, "CCR %u: no rule in the policy", c->ccrs[i]->index);
    }
    for (size_t j = 0; err == SRTM_OK && j < pc->n_ccrs; j++) {
        bool found = false;
        for (size_t i = 0; i < c->n_ccrs && !found; i++)
            found = c->ccrs[i]->index == pc->ccrs[j].index;
        if (!found)
            err = verdict_fail(v, "CCR %u named by the policy is missing from the report",
                               pc->ccrs[j].index);
    }
    return err;
}

/* A terminated component: its CCRs and log stay readable, but unless the policy accepts
 * termination ("terminated": "accepted") it is untrusted, and so is all that depends on
 * it (the dependency rule's reason then says "which is terminated"). */
static srtm_err rule_terminated(sha256_hasher *h, const srtm_verifier_policy *p,
                                const Srtm__ReportComponent *c, verify_verdict *v)
{
    (void)h;
    if (c->terminated && p->terminated == POL_TERMINATED_UNTRUSTED)
        return verdict_fail(v, "terminated");
    return SRTM_OK;
}

static const component_rule component_rules[] = {rule_terminated, rule_replay, rule_policy};

srtm_err verify_policy_rules(const srtm_verifier_policy *p, const Srtm__ReportComponent *c,
                             verify_verdict *v)
{
    return rule_policy(NULL, p, c, v);
}

static srtm_err component_rules_run(sha256_hasher *h, const srtm_verifier_policy *p,
                                    const Srtm__ReportComponent *c, verify_verdict *v)
{
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < SRTM_ARRAY_LEN(component_rules); i++)
        err = component_rules[i](h, p, c, v);
    return err;
}

srtm_err verify_component_rules(const srtm_verifier_policy *p, const Srtm__ReportComponent *c,
                                verify_verdict *v)
{
    sha256_hasher *h = NULL;
    srtm_err err = sha256_hasher_new(&h);
    if (err == SRTM_OK)
        err = component_rules_run(h, p, c, v);
    sha256_hasher_free(h);
    return err;
}

/* ---- the report's text ---- */

/* A name as srtmd registers it: 1 to SRTM_MAX_NAME bytes of UTF-8 (no NUL), no '/', which
 * separates the names of a path. */
static bool report_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= SRTM_MAX_NAME && utf8_valid(name, n) && strchr(name, '/') == NULL;
}

bool report_text_ok(const Srtm__CcrReport *rep, char *reason, size_t size)
{
    for (size_t i = 0; i < rep->n_components; i++) {
        const Srtm__ReportComponent *c = rep->components[i];
        if (!report_name_ok(c->name)) {
            snprintf(reason, size, "the name of component %zu (handle %llu) is not 1 to %u "
                                   "bytes of UTF-8 without '/'",
                     i, (unsigned long long)c->handle, SRTM_MAX_NAME);
            return false;
        }
        for (size_t j = 0; j < c->n_ccrs; j++) {
            const Srtm__ReportCcr *r = c->ccrs[j];
            for (size_t k = 0; k < r->n_log; k++) {
                const char *d = r->log[k]->description != NULL ? r->log[k]->description : "";
                size_t n = strlen(d);
                if (n > SRTM_MAX_DESC || !utf8_valid(d, n)) {
                    snprintf(reason, size, "component %zu (handle %llu), CCR %u, log entry %llu: "
                                           "the description is not at most %u bytes of UTF-8",
                             i, (unsigned long long)c->handle, r->index,
                             (unsigned long long)(r->log_offset + k), SRTM_MAX_DESC);
                    return false;
                }
            }
        }
    }
    return true;
}

/* ---- evidence-level checks ---- */

typedef struct vstate {
    const srtm_verifier_policy *pol;
    const uint8_t *nonce;
    size_t nonce_len;
    const uint8_t *evidence;
    size_t evidence_len;
    EVP_PKEY *aik;
    Srtm__Evidence *ev;
    Srtm__CcrReport *report;
    km_quote_info qinfo, cinfo;
    km_pcr_values qpcrs, cpcrs;
    srtm_verify_result *r;
    const srtm_verify_state *state; /* of the host's last verified report; NULL: none */
    bool needs_full;                /* continuity failed only because of the state */
    bool cont_internal;             /* continuity failed because the verifier did */
    uint8_t report_digest[SRTM_DIGEST_LEN]; /* SHA-256(report), once have_digest */
    bool have_digest;
    char reason[VERIFY_REASON_LEN]; /* the running check's reason when it fails */
} vstate;

/* q = SHA-256(nonce || SHA-256(report)), the request's qualifier, hashing the report at
 * most once per verification (the quote and the IRK signature both bind it); false when
 * hashing failed (an internal failure). */
static bool request_qualifier(vstate *s, uint8_t q[SRTM_DIGEST_LEN])
{
    if (!s->have_digest)
        s->have_digest = srtm_sha256(s->ev->report.data, s->ev->report.len,
                                     s->report_digest) == SRTM_OK;
    return s->have_digest && irk_quote_qualifier_of_digest(s->nonce, s->nonce_len,
                                                           s->report_digest, q) == SRTM_OK;
}

/* A check returns true when it passed; on failure it has written s->reason. */
typedef bool (*check_fn)(vstate *s);

static bool failf(vstate *s, const char *fmt, ...) SRTM_PRINTF(2, 3);
static bool failf(vstate *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
    va_end(ap);
    return false;
}

static bool check_evidence_parse(vstate *s)
{
    if (s->evidence_len > VERIFY_MAX_EVIDENCE)
        return failf(s, "evidence of %zu bytes is larger than %zu", s->evidence_len,
                     VERIFY_MAX_EVIDENCE);
    s->ev = srtm__evidence__unpack(NULL, s->evidence_len, s->evidence);
    if (s->ev == NULL)
        return failf(s, "not an Evidence message");
    if (s->ev->quote == NULL)
        return failf(s, "no joint quote");
    if (s->ev->irk_certificate == NULL)
        return failf(s, "no IRK certificate");
    if (s->ev->irk_public.len == 0 || s->ev->irk_signature.len == 0)
        return failf(s, "no IRK public key or signature");
    return true;
}

/*
 * protobuf-c hands strings over as C strings: a NUL byte inside one silently shortens it
 * (a name "a\0x" would read as "a"). Packing the parsed report again gives back exactly
 * the bytes received only if nothing was lost that way; srtmd packs with the same code,
 * so its reports always pass.
 */
static bool report_reencodes(vstate *s)
{
    size_t n = srtm__ccr_report__get_packed_size(s->report);
    uint8_t *again = n == s->ev->report.len ? malloc(n ? n : 1) : NULL;
    if (n == s->ev->report.len && again == NULL)
        return failf(s, "out of memory");
    bool same = again != NULL && srtm__ccr_report__pack(s->report, again) == n &&
                memcmp(again, s->ev->report.data, n) == 0;
    free(again);
    return same ? true
                : failf(s, "the report does not encode back to its own bytes: a name or "
                           "description holds a NUL byte, or the encoding is not srtmd's");
}

static bool check_report_parse(vstate *s)
{
    if (s->ev->report.len == 0)
        return failf(s, "no report");
    s->report = srtm__ccr_report__unpack(NULL, s->ev->report.len, s->ev->report.data);
    if (s->report == NULL)
        return failf(s, "the report bytes are not a CcrReport");
    if (!report_reencodes(s))
        return false;
    return report_text_ok(s->report, s->reason, sizeof(s->reason));
}

static bool check_format(vstate *s)
{
    if (s->ev->format != 1)
        return failf(s, "evidence format %u, expected 1", s->ev->format);
    if (s->report->format != 1)
        return failf(s, "report format %u, expected 1", s->report->format);
    return true;
}

static bool check_nonce(vstate *s)
{
    if (s->ev->nonce.len != s->nonce_len ||
        CRYPTO_memcmp(s->ev->nonce.data, s->nonce, s->nonce_len) != 0)
        return failf(s, "the evidence answers another nonce than the one given");
    return true;
}

/* ECDSA/SHA-256 over the attest bytes with the AIK, as the policy's scheme says. */
static bool aik_signature(vstate *s, const Srtm__TpmQuote *q)
{
    uint8_t der[KM_MAX_DER_SIG];
    size_t der_len = 0;
    srtm_err err = km_sig_to_der(q->signature.data, q->signature.len, der, sizeof(der), &der_len);
    if (err == SRTM_E_UNSUPPORTED)
        return failf(s, "the signature is not ecdsa-sha256, the scheme the policy names");
    if (err != SRTM_OK)
        return failf(s, "the signature is not a TPMT_SIGNATURE (%s)", srtm_strerror(err));
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, s->aik) == 1 &&
             EVP_DigestVerify(md, der, der_len, q->attest.data, q->attest.len) == 1;
    EVP_MD_CTX_free(md);
    return ok ? true : failf(s, "the signature does not verify with the AIK public key given");
}

static bool check_quote_signature(vstate *s)
{
    return aik_signature(s, s->ev->quote);
}

static bool check_certificate_signature(vstate *s)
{
    return aik_signature(s, s->ev->irk_certificate);
}

static bool attest(vstate *s, const Srtm__TpmQuote *q, km_quote_info *out)
{
    /* magic and type first, from the raw bytes: another type changes the layout of the
     * rest, so a parse error would hide the reason that matters. */
    if (q->attest.len >= 6) {
        const uint8_t *a = q->attest.data;
        uint32_t magic = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
        uint16_t type = (uint16_t)(a[4] << 8 | a[5]);
        if (magic != TPM_GENERATED)
            return failf(s, "magic is 0x%08x, not TPM_GENERATED_VALUE: the TPM did not make "
                            "this structure",
                         magic);
        if (type != TPM_ST_ATTEST_QUOTE)
            return failf(s, "attestation type 0x%04x is not TPM_ST_ATTEST_QUOTE", type);
    }
    srtm_err err = km_quote_parse(q->attest.data, q->attest.len, out);
    if (err != SRTM_OK)
        return failf(s, "the attest structure does not parse as a quote (%s)",
                     srtm_strerror(err));
    return true;
}

static bool check_quote_attest(vstate *s)
{
    return attest(s, s->ev->quote, &s->qinfo);
}

static bool check_certificate_attest(vstate *s)
{
    return attest(s, s->ev->irk_certificate, &s->cinfo);
}

/* The PCR values sent along, whose selection must equal the attest's, and whose digest
 * must be the attest's pcrDigest. */
static bool pcr_digest(vstate *s, const Srtm__TpmQuote *q, const km_quote_info *info,
                       km_pcr_values *out)
{
    memset(out, 0, sizeof(*out));
    if (q->n_pcrs != q->n_pcr_values)
        return failf(s, "%zu PCR numbers but %zu values", q->n_pcrs, q->n_pcr_values);
    for (size_t i = 0; i < q->n_pcrs; i++) {
        uint32_t pcr = q->pcrs[i];
        if (pcr >= KM_PCR_COUNT || (i > 0 && pcr <= q->pcrs[i - 1]))
            return failf(s, "PCR numbers are not ascending numbers below %u", KM_PCR_COUNT);
        if (q->pcr_values[i].len != KM_DIGEST_LEN)
            return failf(s, "the value of PCR %u is %zu bytes", pcr, q->pcr_values[i].len);
        memcpy(out->value[pcr], q->pcr_values[i].data, KM_DIGEST_LEN);
        out->mask |= 1u << pcr;
    }
    if (out->mask != info->pcr_mask)
        return failf(s, "the PCR values given (mask 0x%06x) are not the selection quoted "
                        "(mask 0x%06x)",
                     out->mask, info->pcr_mask);
    uint8_t d[KM_DIGEST_LEN];
    if (km_pcr_digest(out, d) != SRTM_OK)
        return failf(s, "cannot compute the PCR digest");
    if (CRYPTO_memcmp(d, info->pcr_digest, KM_DIGEST_LEN) != 0)
        return failf(s, "the PCR values given do not hash to the quoted PCR digest");
    return true;
}

static bool check_quote_pcr_digest(vstate *s)
{
    return pcr_digest(s, s->ev->quote, &s->qinfo, &s->qpcrs);
}

static bool check_certificate_pcr_digest(vstate *s)
{
    return pcr_digest(s, s->ev->irk_certificate, &s->cinfo, &s->cpcrs);
}

/* Quoted PCRs against a reference: every reference PCR present and holding one of its
 * reference values; PCRs the reference lacks only if the policy allows extras. */
static bool pcr_reference(vstate *s, const km_pcr_values *got, const pol_pcrs *ref,
                          const char *which)
{
    for (unsigned i = 0; i < KM_PCR_COUNT; i++) {
        uint32_t bit = 1u << i;
        if ((ref->mask & bit) && !(got->mask & bit))
            return failf(s, "PCR %u of the %s reference is not quoted", i, which);
        if ((ref->mask & bit) && !policy_pcr_allows(ref, i, got->value[i])) {
            char a[2 * KM_DIGEST_LEN + 1], b[2 * KM_DIGEST_LEN + 1];
            hex32(got->value[i], a);
            hex32(ref->value[i][0], b);
            if (ref->n[i] == 1)
                return failf(s, "PCR %u is %s, the %s reference says %s", i, a, which, b);
            return failf(s, "PCR %u is %s, none of the %u values the %s reference allows (%s, ...)",
                         i, a, ref->n[i], which, b);
        }
        if (!(ref->mask & bit) && (got->mask & bit) && !s->pol->allow_extra_pcrs)
            return failf(s, "PCR %u is quoted but not in the %s reference (pcrs.allow_extra "
                            "is false)",
                         i, which);
    }
    return true;
}

static bool check_certificate_pcrs_reference(vstate *s)
{
    return pcr_reference(s, &s->cpcrs, &s->pol->proof, "proof");
}

static bool check_quote_pcrs_reference(vstate *s)
{
    return pcr_reference(s, &s->qpcrs, &s->pol->running, "running");
}

static bool check_certificate_qualifier(vstate *s)
{
    uint8_t q[SRTM_DIGEST_LEN];
    if (irk_cert_qualifier(s->ev->irk_public.data, s->ev->irk_public.len, q) != SRTM_OK)
        return failf(s, "cannot hash the IRK public key");
    if (s->cinfo.qualifying_len != SRTM_DIGEST_LEN ||
        CRYPTO_memcmp(q, s->cinfo.qualifying, SRTM_DIGEST_LEN) != 0)
        return failf(s, "the certificate's qualifyingData is not SHA-256(\"%s\" || IRK public "
                        "key): it certifies another key",
                     IRK_CERT_TAG);
    return true;
}

static bool check_same_boot(vstate *s)
{
    if (s->cinfo.reset_count != s->qinfo.reset_count ||
        s->cinfo.restart_count != s->qinfo.restart_count)
        return failf(s, "the IRK certificate is from another boot (resetCount %u, "
                        "restartCount %u) than the quote (resetCount %u, restartCount %u)",
                     s->cinfo.reset_count, s->cinfo.restart_count, s->qinfo.reset_count,
                     s->qinfo.restart_count);
    if (s->report->reset_count != s->qinfo.reset_count ||
        s->report->restart_count != s->qinfo.restart_count)
        return failf(s, "the report claims resetCount %u, restartCount %u; the quote has %u, %u",
                     s->report->reset_count, s->report->restart_count, s->qinfo.reset_count,
                     s->qinfo.restart_count);
    return true;
}

/* A batched quote: the root that this request's leaf and inclusion path lead to. */
static bool batch_root(vstate *s, const uint8_t q[SRTM_DIGEST_LEN], uint8_t root[SRTM_DIGEST_LEN])
{
    const Srtm__MerkleProof *b = s->ev->batch;
    if (b->leaf_count < 2 || b->leaf_count > MERKLE_MAX_LEAVES || b->leaf_index >= b->leaf_count ||
        b->n_path > MERKLE_MAX_PATH)
        return failf(s, "the batch proof claims leaf %u of %u with %zu path elements",
                     b->leaf_index, b->leaf_count, b->n_path);
    uint8_t path[MERKLE_MAX_PATH][SRTM_DIGEST_LEN];
    for (size_t i = 0; i < b->n_path; i++) {
        if (b->path[i].len != SRTM_DIGEST_LEN)
            return failf(s, "batch path element %zu is %zu bytes, not %u", i, b->path[i].len,
                         SRTM_DIGEST_LEN);
        memcpy(path[i], b->path[i].data, SRTM_DIGEST_LEN);
    }
    if (merkle_root_from_path(q, b->leaf_index, b->leaf_count,
                              (const uint8_t(*)[SRTM_DIGEST_LEN])path, b->n_path, root) != SRTM_OK)
        return failf(s, "the batch path does not fit leaf %u of a tree of %u", b->leaf_index,
                     b->leaf_count);
    return true;
}

static bool check_quote_qualifier(vstate *s)
{
    uint8_t q[SRTM_DIGEST_LEN], want[SRTM_DIGEST_LEN];
    if (!request_qualifier(s, q))
        return failf(s, "cannot hash the nonce and the report");
    /* Alone, the quote binds this request's qualifier; in a batch, the Merkle root. */
    memcpy(want, q, sizeof(want));
    if (s->ev->batch != NULL && !batch_root(s, q, want))
        return false;
    if (s->qinfo.qualifying_len != SRTM_DIGEST_LEN ||
        CRYPTO_memcmp(want, s->qinfo.qualifying, SRTM_DIGEST_LEN) != 0)
        return failf(s, s->ev->batch != NULL
                            ? "the batch path from SHA-256(nonce || SHA-256(report)) does not lead "
                              "to the quote's qualifyingData: the report, the nonce or the path is "
                              "not the one the TPM quoted"
                            : "the quote's qualifyingData is not SHA-256(nonce || SHA-256(report)): "
                              "the report or the nonce is not the one the TPM quoted");
    return true;
}

/* Alone, the IRK signs this report and nonce; in a batch, once for all, the Merkle root
 * this request's qualifier leads to (docs/evidence.md, "The three bindings"). */
static bool check_irk_signature(vstate *s)
{
    uint8_t q[SRTM_DIGEST_LEN], root[SRTM_DIGEST_LEN];
    if (!request_qualifier(s, q))
        return failf(s, "cannot hash the nonce and the report");
    if (s->ev->batch != NULL && !batch_root(s, q, root))
        return false;
    irk *k = NULL;
    if (irk_from_public_der(s->ev->irk_public.data, s->ev->irk_public.len, &k) != SRTM_OK)
        return failf(s, "the IRK public key is not a P-256 key");
    srtm_err err = s->ev->batch != NULL
                       ? irk_verify_root(k, root, s->ev->irk_signature.data,
                                         s->ev->irk_signature.len)
                       : irk_verify_report_digest(k, s->nonce, s->nonce_len, s->report_digest,
                                                  s->ev->irk_signature.data,
                                                  s->ev->irk_signature.len);
    irk_free(k);
    if (err != SRTM_OK)
        return failf(s, s->ev->batch != NULL
                            ? "the IRK signature over the batch's Merkle root does not verify"
                            : "the IRK signature over the nonce and the report does not verify");
    return true;
}

/*
 * The report's handles are unique and ascending, as srtmd builds it: the dependency
 * edges name handles, so each must name exactly one component, and a report in which a
 * handle means two components cannot be evaluated at all (an evidence-level failure).
 */
static bool report_handles_ok(const Srtm__CcrReport *rep, char *reason, size_t size)
{
    for (size_t i = 1; i < rep->n_components; i++) {
        uint64_t a = rep->components[i - 1]->handle, b = rep->components[i]->handle;
        if (a == b) {
            snprintf(reason, size, "handle %llu appears more than once in the report",
                     (unsigned long long)b);
            return false;
        }
        if (a > b) {
            snprintf(reason, size, "handles are not ascending (%llu after %llu)",
                     (unsigned long long)b, (unsigned long long)a);
            return false;
        }
    }
    return true;
}

static bool check_report_handles(vstate *s)
{
    return report_handles_ok(s->report, s->reason, sizeof(s->reason));
}

/* Within one srtmd run the report extends what the state verified (continuity.c). */
static bool check_continuity(vstate *s)
{
    return continuity_check(s->pol, s->report, s->state, s->reason, sizeof(s->reason),
                            &s->needs_full, &s->cont_internal);
}

/* Check indexes, for the dependency lists below. */
enum {
    C_EVIDENCE_PARSE,
    C_REPORT_PARSE,
    C_FORMAT,
    C_NONCE,
    C_QUOTE_SIG,
    C_CERT_SIG,
    C_QUOTE_ATTEST,
    C_CERT_ATTEST,
    C_QUOTE_PCR_DIGEST,
    C_CERT_PCR_DIGEST,
    C_CERT_PCRS_REF,
    C_QUOTE_PCRS_REF,
    C_CERT_QUALIFIER,
    C_SAME_BOOT,
    C_QUOTE_QUALIFIER,
    C_IRK_SIG,
    C_REPORT_HANDLES,
    C_CONTINUITY,
    C_COUNT,
};

#define NO_DEP (-1)

typedef struct check_def {
    const char *name;
    check_fn fn;
    int needs[3]; /* checks whose success this one builds on; NO_DEP ends the list */
} check_def;

static const check_def checks[C_COUNT] = {
    [C_EVIDENCE_PARSE] = {"evidence-parse", check_evidence_parse, {NO_DEP}},
    [C_REPORT_PARSE] = {"report-parse", check_report_parse, {C_EVIDENCE_PARSE, NO_DEP}},
    [C_FORMAT] = {"format", check_format, {C_EVIDENCE_PARSE, C_REPORT_PARSE, NO_DEP}},
    [C_NONCE] = {"nonce", check_nonce, {C_EVIDENCE_PARSE, NO_DEP}},
    [C_QUOTE_SIG] = {"quote-signature", check_quote_signature, {C_EVIDENCE_PARSE, NO_DEP}},
    [C_CERT_SIG] = {"certificate-signature", check_certificate_signature,
                    {C_EVIDENCE_PARSE, NO_DEP}},
    [C_QUOTE_ATTEST] = {"quote-attest", check_quote_attest, {C_EVIDENCE_PARSE, NO_DEP}},
    [C_CERT_ATTEST] = {"certificate-attest", check_certificate_attest,
                       {C_EVIDENCE_PARSE, NO_DEP}},
    [C_QUOTE_PCR_DIGEST] = {"quote-pcr-digest", check_quote_pcr_digest,
                            {C_QUOTE_ATTEST, NO_DEP}},
    [C_CERT_PCR_DIGEST] = {"certificate-pcr-digest", check_certificate_pcr_digest,
                           {C_CERT_ATTEST, NO_DEP}},
    [C_CERT_PCRS_REF] = {"certificate-pcrs-reference", check_certificate_pcrs_reference,
                         {C_CERT_PCR_DIGEST, NO_DEP}},
    [C_QUOTE_PCRS_REF] = {"quote-pcrs-reference", check_quote_pcrs_reference,
                          {C_QUOTE_PCR_DIGEST, NO_DEP}},
    [C_CERT_QUALIFIER] = {"certificate-qualifier", check_certificate_qualifier,
                          {C_CERT_ATTEST, NO_DEP}},
    [C_SAME_BOOT] = {"same-boot", check_same_boot, {C_QUOTE_ATTEST, C_CERT_ATTEST,
                                                    C_REPORT_PARSE}},
    [C_QUOTE_QUALIFIER] = {"quote-qualifier", check_quote_qualifier, {C_QUOTE_ATTEST, NO_DEP}},
    [C_IRK_SIG] = {"irk-signature", check_irk_signature, {C_EVIDENCE_PARSE, NO_DEP}},
    [C_REPORT_HANDLES] = {"report-handles", check_report_handles, {C_REPORT_PARSE, NO_DEP}},
    [C_CONTINUITY] = {"continuity", check_continuity, {C_REPORT_HANDLES, NO_DEP}},
};

static srtm_err add_check(srtm_verify_result *r, const char *name, bool ok, const char *reason)
{
    verify_check *c = &r->checks[r->n_checks];
    c->ok = ok;
    c->name = strdup(name);
    c->reason = strdup(ok ? "" : reason);
    r->n_checks++;
    return c->name != NULL && c->reason != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
}

static srtm_err run_checks(vstate *s)
{
    srtm_verify_result *r = s->r;
    r->checks = calloc(C_COUNT, sizeof(*r->checks));
    if (r->checks == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = SRTM_OK;
    for (int i = 0; err == SRTM_OK && i < C_COUNT; i++) {
        const check_def *d = &checks[i];
        const char *unmet = NULL;
        for (int k = 0; k < 3 && d->needs[k] != NO_DEP && unmet == NULL; k++)
            if (!r->checks[d->needs[k]].ok)
                unmet = checks[d->needs[k]].name;
        bool ok = false;
        if (unmet != NULL) {
            snprintf(s->reason, sizeof(s->reason), "not checked: %s failed", unmet);
        } else {
            s->reason[0] = '\0';
            ok = d->fn(s);
        }
        err = add_check(r, d->name, ok, s->reason);
    }
    return err;
}

/*
 * What check 18 leaves behind when it is the one failed evidence-level check (at index
 * continuity of r's checks): needs_full when only the state could not be used, nothing
 * when the verifier failed (internal), or, when it found a lie in evidence otherwise
 * verified, the tainted state of the run in r->next (the host signed it: the run is not
 * to be trusted again). SRTM_E_NO_MEMORY.
 */
static srtm_err continuity_outcome(srtm_verify_result *r, size_t continuity, bool needs_full,
                                   bool internal, const srtm_verifier_policy *p,
                                   const Srtm__CcrReport *rep, const srtm_verify_state *state)
{
    bool others_ok = true;
    for (size_t i = 0; i < r->n_checks; i++)
        others_ok = others_ok && (i == continuity || r->checks[i].ok);
    bool only = others_ok && continuity < r->n_checks && !r->checks[continuity].ok;
    r->needs_full = only && needs_full;
    if (!only || needs_full || internal || rep == NULL)
        return SRTM_OK;
    return continuity_taint(p, rep, state, r->checks[continuity].reason, &r->next);
}

/* ---- the dependency rule ---- */

/*
 * trusted(X) = X's own rules pass AND every component X depends on, directly or
 * transitively through the report's depends_on edges, is trusted (DESIGN.md, HIM). The
 * report must describe a graph the rule can be evaluated on, so before it a component
 * fails on its own (fail closed) when an edge names a handle the report lacks, when it is
 * on a cycle, when its parent is not among its dependencies (every child depends on its
 * parent), or when component 0, the platform TCB, has dependencies at all.
 *
 * One iterative Tarjan pass over the edges finds the cycles and evaluates the rule: it
 * completes a strongly connected component only after every component reachable from
 * it, so each dependency's verdict is final when it is read. Time and memory are linear
 * in the report (plus a binary search per edge); no recursion, so chains of any length
 * are fine. Among several untrusted dependencies the smallest handle is named, so the
 * verdicts do not depend on the order anything was visited in.
 *
 * An untrusted component's explanation is a chain: X depends on c0, which depends on
 * c1, ..., which depends on cm, whose own rules failed. For each component the first
 * link, the length and the end of its chain are memoised, so each reason is built in
 * bounded time (at most DEP_CHAIN_SHOWN links are named, the rest counted).
 */

#define NONE VERIFY_NONE
#define DEP_CHAIN_SHOWN 8u
#define MAX_MISSING_REASONS 8u

typedef struct dep_graph {
    const srtm_verifier_policy *pol;
    const Srtm__CcrReport *rep;
    verify_verdict *v; /* one per report component, report order */
    size_t n;
    size_t *first; /* resolved edges of i: edge[first[i]] .. edge[first[i + 1] - 1] */
    size_t *edge;
    uint64_t *cut;  /* per edge: 0 for a present edge, else the seq of its removal */
    bool *own_ok;   /* own rules and the report's consistency */
    bool *trusted;  /* final, once i's strongly connected component is complete */
    size_t *next;   /* the dependency i's chain continues with, NONE at its end */
    size_t *hops;   /* links from i to the end of its chain */
    size_t *last;   /* the end of i's chain: a component whose own rules failed */
    size_t *order;  /* Tarjan: visit order, NONE when unvisited */
    size_t *low;
    size_t *cursor; /* next edge to follow */
    size_t *scc;    /* id of the completed strongly connected component, NONE before */
    size_t *stack;  /* Tarjan's stack of open components */
    size_t *calls;  /* the explicit DFS call stack */
    bool *on_stack;
} dep_graph;

/* A growable string for the reasons built from chains. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) SRTM_PRINTF(2, 3);
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    if (b->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = vxprintf(fmt, ap);
    va_end(ap);
    size_t n = s != NULL ? strlen(s) : 0;
    if (s != NULL && b->len + n + 1 > b->cap) {
        size_t cap = 2 * (b->len + n + 1);
        char *grown = realloc(b->s, cap);
        if (grown == NULL) {
            free(s);
            s = NULL;
        } else {
            b->s = grown;
            b->cap = cap;
        }
    }
    if (s == NULL) {
        b->failed = true;
        return;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
    free(s);
}

/* The index of the component with handle h, or NONE (handles are ascending and unique:
 * the report-handles check). */
size_t verify_find_handle(const Srtm__CcrReport *rep, uint64_t h)
{
    size_t lo = 0, hi = rep->n_components;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t m = rep->components[mid]->handle;
        if (m == h)
            return mid;
        if (m < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NONE;
}

#define find_handle verify_find_handle

static srtm_err dep_graph_alloc(dep_graph *g)
{
    size_t n = g->n, m = 0;
    for (size_t i = 0; i < n; i++)
        m += g->rep->components[i]->n_depends_on + g->rep->components[i]->n_dependency_changes;
    size_t nn = n ? n : 1;
    g->first = calloc(n + 1, sizeof(size_t));
    g->edge = calloc(m ? m : 1, sizeof(size_t));
    g->cut = calloc(m ? m : 1, sizeof(uint64_t));
    size_t **arrays[] = {&g->next, &g->hops, &g->last, &g->order, &g->low,
                         &g->cursor, &g->scc,  &g->stack, &g->calls};
    bool ok = g->first != NULL && g->edge != NULL && g->cut != NULL;
    for (size_t k = 0; k < SRTM_ARRAY_LEN(arrays); k++)
        ok = (*arrays[k] = malloc(nn * sizeof(size_t))) != NULL && ok;
    g->own_ok = calloc(nn, sizeof(bool));
    g->trusted = calloc(nn, sizeof(bool));
    g->on_stack = calloc(nn, sizeof(bool));
    if (!ok || g->own_ok == NULL || g->trusted == NULL || g->on_stack == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        g->order[i] = g->scc[i] = g->next[i] = NONE;
        g->hops[i] = 0;
        g->last[i] = i;
    }
    return SRTM_OK;
}

static void dep_graph_free(dep_graph *g)
{
    free(g->cut);
    void *arrays[] = {g->first,  g->edge,  g->own_ok, g->trusted, g->next,
                      g->hops,   g->last,  g->order,  g->low,     g->cursor,
                      g->scc,    g->stack, g->calls,  g->on_stack};
    for (size_t k = 0; k < SRTM_ARRAY_LEN(arrays); k++)
        free(arrays[k]);
}

/* Resolve the edges to report indexes, and the consistency checks that need no
 * traversal: missing handles, the parent among the dependencies, a platform without
 * dependencies. */
static srtm_err resolve_edges(dep_graph *g)
{
    srtm_err err = SRTM_OK;
    size_t m = 0;
    for (size_t i = 0; err == SRTM_OK && i < g->n; i++) {
        const Srtm__ReportComponent *c = g->rep->components[i];
        verify_verdict *v = &g->v[i];
        g->first[i] = m;
        size_t missing = 0;
        bool parent_found = false;
        for (size_t k = 0; err == SRTM_OK && k < c->n_depends_on; k++) {
            uint64_t h = c->depends_on[k];
            parent_found = parent_found || h == c->parent;
            size_t j = find_handle(g->rep, h);
            if (j != NONE)
                g->edge[m++] = j;
            else if (++missing <= MAX_MISSING_REASONS)
                err = verdict_fail(v, "depends on handle %llu, which is missing from the report",
                                   (unsigned long long)h);
        }
        /* A removed dependency counts with its present trust too (docs/verifier.md);
         * one missing from the report failed in verify_history. */
        for (size_t k = 0; k < c->n_dependency_changes; k++) {
            const Srtm__DependencyChange *d = c->dependency_changes[k];
            size_t j = d->removed ? find_handle(g->rep, d->on) : NONE;
            if (j != NONE) {
                g->cut[m] = d->seq;
                g->edge[m++] = j;
            }
        }
        if (err == SRTM_OK && missing > MAX_MISSING_REASONS)
            err = verdict_fail(v, "depends on %zu more handles missing from the report",
                               missing - MAX_MISSING_REASONS);
        if (err == SRTM_OK && c->handle == 0 && c->n_depends_on > 0)
            err = verdict_fail(v, "component 0 (the platform TCB) depends on handle %llu; it "
                                  "can depend on nothing",
                               (unsigned long long)c->depends_on[0]);
        if (err == SRTM_OK && c->handle != 0 && !parent_found)
            err = verdict_fail(v, "its parent, handle %llu, is not among its dependencies",
                               (unsigned long long)c->parent);
    }
    g->first[g->n] = m;
    return err;
}

/* The words after "depends on NAME, " for a component r whose own rules failed. */
static void chain_end(const dep_graph *g, size_t r, strbuf *b)
{
    const verify_verdict *v = &g->v[r];
    if (g->rep->components[r]->terminated && g->pol->terminated == POL_TERMINATED_UNTRUSTED) {
        sb_printf(b, "which is terminated");
        return;
    }
    const char *why = v->n_reasons > 0 ? v->reasons[0] : "untrusted";
    if (strncmp(why, "CCR ", 4) == 0)
        sb_printf(b, "whose %s", why);
    else if (strncmp(why, "depends on ", 11) == 0)
        sb_printf(b, "which %s", why);
    else
        sb_printf(b, "which is untrusted: %s", why);
}

/* "depends on d, which depends on ..., whose ...": d's chain, at most DEP_CHAIN_SHOWN
 * links named before the end. */
static srtm_err dependency_reason(const dep_graph *g, size_t x, size_t d, uint64_t cut)
{
    strbuf b = {0};
    if (cut != 0)
        sb_printf(&b, "depended on %s until its removal at seq %llu, ",
                  g->rep->components[d]->name, (unsigned long long)cut);
    else
        sb_printf(&b, "depends on %s, ", g->rep->components[d]->name);
    size_t cur = d;
    for (size_t shown = 1; g->next[cur] != NONE; shown++) {
        if (shown == DEP_CHAIN_SHOWN && g->hops[cur] > 1) {
            sb_printf(&b, "which depends on ... (%zu more) ..., ", g->hops[cur] - 1);
            cur = g->last[cur];
            sb_printf(&b, "which depends on %s, ", g->rep->components[cur]->name);
            break;
        }
        cur = g->next[cur];
        sb_printf(&b, "which depends on %s, ", g->rep->components[cur]->name);
    }
    chain_end(g, cur, &b);
    srtm_err err = b.failed ? SRTM_E_NO_MEMORY : verdict_fail(&g->v[x], "%s", b.s);
    free(b.s);
    return err;
}

static bool smaller_handle(const dep_graph *g, size_t a, size_t best)
{
    return best == NONE || g->rep->components[a]->handle < g->rep->components[best]->handle;
}

/*
 * A completed strongly connected component: members stack[from .. top). Every component
 * reachable from it outside it already has its final verdict. A component on a cycle (a
 * member of a component of two or more, or with an edge to itself) fails on its own.
 */
static srtm_err evaluate_scc(dep_graph *g, size_t from, size_t top, size_t id)
{
    srtm_err err = SRTM_OK;
    for (size_t k = from; k < top; k++)
        g->scc[g->stack[k]] = id;
    for (size_t k = from; err == SRTM_OK && k < top; k++) {
        size_t x = g->stack[k], inside = NONE, outside = NONE;
        uint64_t cut = 0;
        for (size_t e = g->first[x]; e < g->first[x + 1]; e++) {
            size_t d = g->edge[e];
            if (g->scc[d] == id) {
                if (smaller_handle(g, d, inside))
                    inside = d;
            } else if (!g->trusted[d] && smaller_handle(g, d, outside)) {
                outside = d;
                cut = g->cut[e];
            }
        }
        if (inside == x)
            err = verdict_fail(&g->v[x], "dependency cycle: depends on itself");
        else if (inside != NONE)
            err = verdict_fail(&g->v[x], "dependency cycle: depends on %s, which depends back on "
                                         "it",
                               g->rep->components[inside]->name);
        bool own_ok = g->v[x].trusted;
        if (err == SRTM_OK && outside != NONE)
            err = dependency_reason(g, x, outside, cut);
        g->trusted[x] = own_ok && outside == NONE;
        if (own_ok && outside != NONE) {
            g->next[x] = outside;
            g->hops[x] = g->hops[outside] + 1;
            g->last[x] = g->last[outside];
        }
    }
    return err;
}

/* Tarjan's algorithm with an explicit call stack. */
static srtm_err dependency_pass(dep_graph *g)
{
    size_t counter = 0, sp = 0, ids = 0;
    srtm_err err = SRTM_OK;
    for (size_t s = 0; err == SRTM_OK && s < g->n; s++) {
        if (g->order[s] != NONE)
            continue;
        size_t depth = 0;
        g->calls[depth++] = s;
        g->order[s] = g->low[s] = counter++;
        g->cursor[s] = g->first[s];
        g->stack[sp++] = s;
        g->on_stack[s] = true;
        while (err == SRTM_OK && depth > 0) {
            size_t v = g->calls[depth - 1];
            if (g->cursor[v] < g->first[v + 1]) {
                size_t w = g->edge[g->cursor[v]++];
                if (g->order[w] == NONE) {
                    g->order[w] = g->low[w] = counter++;
                    g->cursor[w] = g->first[w];
                    g->stack[sp++] = w;
                    g->on_stack[w] = true;
                    g->calls[depth++] = w;
                } else if (g->on_stack[w] && g->order[w] < g->low[v]) {
                    g->low[v] = g->order[w];
                }
                continue;
            }
            depth--;
            if (depth > 0 && g->low[v] < g->low[g->calls[depth - 1]])
                g->low[g->calls[depth - 1]] = g->low[v];
            if (g->low[v] != g->order[v])
                continue;
            size_t from = sp;
            do
                g->on_stack[g->stack[--from]] = false;
            while (g->stack[from] != v);
            err = evaluate_scc(g, from, sp, ids++);
            sp = from;
        }
    }
    return err;
}

/* Pass 2 of verify_components: the report's self-consistency and the dependency rule,
 * over the verdicts of pass 1 (v[i] is the verdict of rep->components[i]). */
static srtm_err dependency_rule(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                                verify_verdict *v)
{
    dep_graph g = {.pol = p, .rep = rep, .v = v, .n = rep->n_components};
    srtm_err err = dep_graph_alloc(&g);
    if (err == SRTM_OK)
        err = resolve_edges(&g);
    if (err == SRTM_OK)
        err = dependency_pass(&g);
    dep_graph_free(&g);
    return err;
}

/* ---- verdicts ---- */

static verify_verdict *new_verdict(srtm_verify_result *r, const char *name, const char *path,
                                   bool in_report)
{
    verify_verdict *v = &r->comps[r->n_comps];
    memset(v, 0, sizeof(*v));
    v->trusted = true;
    v->in_report = in_report;
    if ((v->name = strdup(name)) == NULL)
        return NULL;
    if (path != NULL && (v->path = strdup(path)) == NULL) {
        free(v->name);
        v->name = NULL;
        return NULL;
    }
    r->n_comps++;
    return v;
}

/*
 * Each component's path: the names from component 0 down to it, joined by '/'. Memoised
 * along the parent links, iteratively (state 1: on the walk being followed, 2: done), so
 * a chain of any length costs linear time. paths[i] stays NULL when the parent links
 * from i do not reach component 0 (a parent missing from the report, a cycle) or the path
 * is longer than VERIFY_MAX_PATH: such a component can be named by no policy, and the
 * dependency rule makes the first two untrusted anyway (its parent is a missing or
 * cyclic dependency, or not among its dependencies).
 */
static srtm_err compute_paths(const Srtm__CcrReport *rep, char **paths)
{
    size_t n = rep->n_components;
    uint8_t *state = calloc(n ? n : 1, 1);
    size_t *walk = malloc((n ? n : 1) * sizeof(*walk));
    srtm_err err = state != NULL && walk != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    for (size_t i = 0; err == SRTM_OK && i < n; i++) {
        size_t depth = 0, cur = i;
        /* Up the parent links to component 0, a component already done, a parent missing
         * from the report, or one on this walk (a cycle). */
        while (state[cur] == 0) {
            state[cur] = 1;
            walk[depth++] = cur;
            const Srtm__ReportComponent *c = rep->components[cur];
            if (c->handle == 0)
                break;
            size_t up = find_handle(rep, c->parent);
            if (up == NONE || state[up] == 1)
                break;
            cur = up;
        }
        /* Unwind from the top of the walk: each path is its parent's plus its name, and
         * none when the parent has none (so a missing parent or a cycle leaves all NULL). */
        while (err == SRTM_OK && depth > 0) {
            size_t k = walk[--depth];
            const Srtm__ReportComponent *c = rep->components[k];
            state[k] = 2;
            const char *up = NULL;
            if (c->handle != 0) {
                size_t j = find_handle(rep, c->parent);
                up = j != NONE ? paths[j] : NULL;
                if (up == NULL)
                    continue;
            }
            size_t ulen = up != NULL ? strlen(up) + 1 : 0, nlen = strlen(c->name);
            if (ulen + nlen > VERIFY_MAX_PATH)
                continue;
            char *path = malloc(ulen + nlen + 1);
            if (path == NULL) {
                err = SRTM_E_NO_MEMORY;
                continue;
            }
            if (up != NULL) {
                memcpy(path, up, ulen - 1);
                path[ulen - 1] = '/';
            }
            memcpy(path + ulen, c->name, nlen + 1);
            paths[k] = path;
        }
    }
    free(state);
    free(walk);
    return err;
}

srtm_err verify_paths(const Srtm__CcrReport *rep, char **paths)
{
    return compute_paths(rep, paths);
}

typedef struct path_entry {
    const char *path;
    size_t idx; /* in the report */
} path_entry;

static int path_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const path_entry *)a)->path, ((const path_entry *)b)->path);
}

/* The report components' known paths, sorted, to find what a policy name means. */
typedef struct path_index {
    path_entry *sorted;
    size_t n;
    const char *root; /* the name of component 0, NULL when the report lacks it */
} path_index;

static srtm_err path_index_build(const Srtm__CcrReport *rep, char **paths, path_index *x)
{
    size_t n = rep != NULL ? rep->n_components : 0;
    x->sorted = calloc(n ? n : 1, sizeof(*x->sorted));
    if (x->sorted == NULL)
        return SRTM_E_NO_MEMORY;
    x->n = 0;
    x->root = NULL;
    for (size_t i = 0; i < n; i++) {
        if (paths[i] != NULL)
            x->sorted[x->n++] = (path_entry){.path = paths[i], .idx = i};
        if (rep->components[i]->handle == 0)
            x->root = rep->components[i]->name;
    }
    qsort(x->sorted, x->n, sizeof(*x->sorted), path_entry_cmp);
    return SRTM_OK;
}

/* The report index of the component a policy name stands for, or NONE. */
static size_t path_lookup(const path_index *x, const char *name)
{
    char want[VERIFY_MAX_PATH + SRTM_MAX_NAME + 2];
    if (x->n == 0 || !policy_resolve_name(name, x->root, want, sizeof(want)))
        return NONE;
    path_entry key = {.path = want};
    const path_entry *hit = bsearch(&key, x->sorted, x->n, sizeof(*x->sorted), path_entry_cmp);
    return hit != NULL ? hit->idx : NONE;
}

static int name_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names the report holds more than once (sorted copy, neighbours compared). */
static srtm_err duplicate_names(const Srtm__CcrReport *rep, const char ***sorted_out)
{
    const char **names = calloc(rep->n_components ? rep->n_components : 1, sizeof(*names));
    if (names == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < rep->n_components; i++)
        names[i] = rep->components[i]->name;
    qsort(names, rep->n_components, sizeof(*names), name_ptr_cmp);
    *sorted_out = names;
    return SRTM_OK;
}

static bool in_sorted(const char **names, size_t n, const char *name, size_t *count)
{
    const char **hit = n ? bsearch(&name, names, n, sizeof(*names), name_ptr_cmp) : NULL;
    *count = 0;
    if (hit == NULL)
        return false;
    const char **lo = hit, **hi = hit;
    while (lo > names && strcmp(lo[-1], name) == 0)
        lo--;
    while (hi + 1 < names + n && strcmp(hi[1], name) == 0)
        hi++;
    *count = (size_t)(hi - lo) + 1;
    return true;
}

/* A list of the failed evidence-level checks, for the reason of every component. */
static void failed_checks(const srtm_verify_result *r, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->n_checks && used < size; i++)
        if (!r->checks[i].ok) {
            int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                             r->checks[i].name);
            used += n > 0 ? (size_t)n : 0;
        }
}

/* A verdict for a name of the policy that matches no reported component (once per name). */
static srtm_err unmatched_name(srtm_verify_result *r, size_t n_rep, const char *name,
                               const char *reason)
{
    for (size_t j = n_rep; j < r->n_comps; j++)
        if (strcmp(r->comps[j].name, name) == 0)
            return SRTM_OK;
    verify_verdict *v = new_verdict(r, name, name, false);
    return v != NULL ? verdict_fail(v, "%s", reason) : SRTM_E_NO_MEMORY;
}

/*
 * Fail closed on what the policy names: every components key and every required name
 * must stand for a component of the report (a key with a typo, or a component the quote
 * left out, would otherwise drop its rules unnoticed). Then requested_ok: no such
 * unmatched name, and every requested component (required, or else every reported) is
 * trusted.
 */
static srtm_err policy_names(const srtm_verifier_policy *pol, const Srtm__CcrReport *rep,
                             char **paths, srtm_verify_result *r)
{
    size_t n_rep = rep != NULL ? rep->n_components : 0;
    path_index x;
    srtm_err err = path_index_build(rep, paths, &x);
    bool ok = true;
    for (size_t i = 0; err == SRTM_OK && i < pol->n_require; i++) {
        size_t k = path_lookup(&x, pol->require[i]);
        if (k == NONE)
            err = unmatched_name(r, n_rep, pol->require[i], "missing from the report");
        else
            ok = ok && r->comps[k].trusted;
    }
    for (size_t i = 0; err == SRTM_OK && i < pol->n_comps; i++)
        if (path_lookup(&x, pol->comps[i].name) == NONE)
            err = unmatched_name(r, n_rep, pol->comps[i].name,
                                 "named in the policy but not in the report");
    for (size_t i = 0; i < r->n_comps; i++)
        ok = ok && (r->comps[i].in_report || r->comps[i].trusted);
    for (size_t i = 0; pol->n_require == 0 && i < r->n_comps; i++)
        ok = ok && r->comps[i].trusted;
    r->requested_ok = ok;
    free(x.sorted);
    return err;
}

/*
 * The verdicts: each component on its own, then (only on verified evidence: an
 * unverified report's edges mean nothing) the dependency rule over all of them, then the
 * names of the policy the report lacks.
 */
static srtm_err verify_components(const srtm_verifier_policy *pol, const Srtm__CcrReport *rep,
                                  sha256_hasher *h, bool evidence_ok, srtm_verify_result *r)
{
    size_t n_rep = rep != NULL ? rep->n_components : 0;
    r->comps = calloc(n_rep + pol->n_require + pol->n_comps + 1, sizeof(*r->comps));
    char **paths = calloc(n_rep ? n_rep : 1, sizeof(*paths));
    if (r->comps == NULL || paths == NULL) {
        free(paths);
        return SRTM_E_NO_MEMORY;
    }
    char failed[512];
    failed_checks(r, failed, sizeof(failed));
    const char **sorted = NULL;
    srtm_err err = rep != NULL ? duplicate_names(rep, &sorted) : SRTM_OK;
    if (err == SRTM_OK && rep != NULL)
        err = compute_paths(rep, paths);
    /* Pass 1: each component on its own. */
    for (size_t i = 0; err == SRTM_OK && i < n_rep; i++) {
        const Srtm__ReportComponent *c = rep->components[i];
        verify_verdict *v = new_verdict(r, c->name, paths[i], true);
        if (v == NULL)
            err = SRTM_E_NO_MEMORY;
        size_t count = 0;
        if (err == SRTM_OK && !evidence_ok)
            err = verdict_fail(v, "evidence not verified (failed: %s)", failed);
        if (err == SRTM_OK && in_sorted(sorted, n_rep, c->name, &count) && count > 1)
            err = verdict_fail(v, "appears %zu times in the report", count);
        if (err == SRTM_OK)
            err = component_rules_run(h, pol, c, v);
    }
    /* Pass 2: rules over several components: each one's history, then the dependency
     * rule. */
    if (err == SRTM_OK && evidence_ok && rep != NULL)
        err = verify_history(h, pol, rep, r->comps);
    if (err == SRTM_OK && evidence_ok && rep != NULL)
        err = dependency_rule(pol, rep, r->comps);
    /* What to keep for the next report of this run (incremental verification). */
    if (err == SRTM_OK && evidence_ok && rep != NULL)
        err = continuity_state(pol, rep, r->comps, &r->next);
    /* Then the names of the policy. */
    if (err == SRTM_OK)
        err = policy_names(pol, rep, paths, r);
    for (size_t i = 0; i < n_rep; i++)
        free(paths[i]);
    free(paths);
    free(sorted);
    return err;
}

static srtm_err load_aik(const char *pem, EVP_PKEY **out)
{
    size_t n = strnlen(pem, 65536);
    BIO *bio = n < 65536 ? BIO_new_mem_buf(pem, (int)n) : NULL;
    EVP_PKEY *k = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    char group[64] = "";
    size_t glen = 0;
    if (k == NULL || !EVP_PKEY_is_a(k, "EC") ||
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &glen) != 1 ||
        strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(k);
        return SRTM_E_INVALID;
    }
    *out = k;
    return SRTM_OK;
}

static srtm_err verify_run(vstate *s)
{
    srtm_err err = run_checks(s);
    bool evidence_ok = err == SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < s->r->n_checks; i++)
        evidence_ok = evidence_ok && s->r->checks[i].ok;
    sha256_hasher *h = NULL;
    if (err == SRTM_OK)
        err = sha256_hasher_new(&h);
    /* A report whose text failed report-parse is not read further: its names could not
     * even be shown. */
    const Srtm__CcrReport *rep = err == SRTM_OK && s->r->checks[C_REPORT_PARSE].ok ? s->report
                                                                                  : NULL;
    if (err == SRTM_OK)
        err = verify_components(s->pol, rep, h, evidence_ok, s->r);
    sha256_hasher_free(h);
    if (err == SRTM_OK) {
        s->r->ok = evidence_ok && s->r->requested_ok;
        err = continuity_outcome(s->r, C_CONTINUITY, s->needs_full, s->cont_internal, s->pol,
                                 rep, s->state);
    }
    return err;
}

/* The report-level checks of verify_report_state: report-handles, then continuity. */
static srtm_err report_checks(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                              const srtm_verify_state *state, srtm_verify_result *r,
                              bool *needs_full, bool *internal)
{
    char reason[VERIFY_REASON_LEN] = "";
    *needs_full = false;
    *internal = false;
    if ((r->checks = calloc(2, sizeof(*r->checks))) == NULL)
        return SRTM_E_NO_MEMORY;
    bool handles_ok = report_handles_ok(rep, reason, sizeof(reason));
    srtm_err err = add_check(r, checks[C_REPORT_HANDLES].name, handles_ok, reason);
    bool ok = false;
    if (!handles_ok)
        snprintf(reason, sizeof(reason), "not checked: %s failed", checks[C_REPORT_HANDLES].name);
    else
        ok = continuity_check(p, rep, state, reason, sizeof(reason), needs_full, internal);
    if (err == SRTM_OK)
        err = add_check(r, checks[C_CONTINUITY].name, ok, reason);
    return err;
}

srtm_err verify_report_state(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                             const srtm_verify_state *state, srtm_verify_result **out)
{
    srtm_verify_result *r = calloc(1, sizeof(*r));
    sha256_hasher *h = NULL;
    bool needs_full = false, internal = false;
    srtm_err err = r != NULL ? sha256_hasher_new(&h) : SRTM_E_NO_MEMORY;
    if (err == SRTM_OK)
        err = report_checks(p, rep, state, r, &needs_full, &internal);
    bool evidence_ok = err == SRTM_OK && r->checks[0].ok && r->checks[1].ok;
    if (err == SRTM_OK)
        err = verify_components(p, rep, h, evidence_ok, r);
    sha256_hasher_free(h);
    if (err == SRTM_OK) {
        r->ok = evidence_ok && r->requested_ok;
        err = continuity_outcome(r, 1, needs_full, internal, p, rep, state);
    }
    if (err != SRTM_OK) {
        srtm_verify_result_free(r);
        return err;
    }
    *out = r;
    return SRTM_OK;
}

srtm_err verify_report_only(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                            srtm_verify_result **out)
{
    return verify_report_state(p, rep, NULL, out);
}

SRTM_API srtm_err srtm_verify_with_state(const uint8_t *evidence, size_t len, const char *aik_pem,
                                         const srtm_verifier_policy *policy, const uint8_t *nonce,
                                         size_t nonce_len, const srtm_verify_state *state,
                                         srtm_verify_result **out)
{
    if (out != NULL)
        *out = NULL;
    if (evidence == NULL || aik_pem == NULL || policy == NULL || nonce == NULL || out == NULL ||
        nonce_len < SRTM_MIN_NONCE || nonce_len > SRTM_MAX_NONCE)
        return SRTM_E_INVALID;
    vstate s = {.pol = policy, .nonce = nonce, .nonce_len = nonce_len, .evidence = evidence,
                .evidence_len = len, .state = state};
    srtm_err err = load_aik(aik_pem, &s.aik);
    if (err != SRTM_OK)
        return err;
    s.r = calloc(1, sizeof(*s.r));
    err = s.r != NULL ? verify_run(&s) : SRTM_E_NO_MEMORY;
    EVP_PKEY_free(s.aik);
    srtm__evidence__free_unpacked(s.ev, NULL);
    srtm__ccr_report__free_unpacked(s.report, NULL);
    if (err != SRTM_OK) {
        srtm_verify_result_free(s.r);
        return err;
    }
    *out = s.r;
    return s.r->ok ? SRTM_OK : SRTM_E_DENIED;
}

SRTM_API srtm_err srtm_verify(const uint8_t *evidence, size_t len, const char *aik_pem,
                              const srtm_verifier_policy *policy, const uint8_t *nonce,
                              size_t nonce_len, srtm_verify_result **out)
{
    return srtm_verify_with_state(evidence, len, aik_pem, policy, nonce, nonce_len, NULL, out);
}

/* ---- result accessors ---- */

SRTM_API void srtm_verify_result_free(srtm_verify_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_checks; i++) {
        free(r->checks[i].name);
        free(r->checks[i].reason);
    }
    free(r->checks);
    for (size_t i = 0; i < r->n_comps; i++)
        verdict_clear(&r->comps[i]);
    free(r->comps);
    srtm_verify_state_free(r->next);
    free(r);
}

SRTM_API int srtm_verify_result_ok(const srtm_verify_result *r)
{
    return r != NULL && r->ok;
}

SRTM_API size_t srtm_verify_result_check_count(const srtm_verify_result *r)
{
    return r != NULL ? r->n_checks : 0;
}

static const verify_check *check_at(const srtm_verify_result *r, size_t i)
{
    return r != NULL && i < r->n_checks ? &r->checks[i] : NULL;
}

SRTM_API const char *srtm_verify_result_check_name(const srtm_verify_result *r, size_t i)
{
    const verify_check *c = check_at(r, i);
    return c != NULL ? c->name : "";
}

SRTM_API int srtm_verify_result_check_ok(const srtm_verify_result *r, size_t i)
{
    const verify_check *c = check_at(r, i);
    return c != NULL && c->ok;
}

SRTM_API const char *srtm_verify_result_check_reason(const srtm_verify_result *r, size_t i)
{
    const verify_check *c = check_at(r, i);
    return c != NULL ? c->reason : "";
}

SRTM_API size_t srtm_verify_result_component_count(const srtm_verify_result *r)
{
    return r != NULL ? r->n_comps : 0;
}

static const verify_verdict *comp_at(const srtm_verify_result *r, size_t i)
{
    return r != NULL && i < r->n_comps ? &r->comps[i] : NULL;
}

SRTM_API const char *srtm_verify_result_component_name(const srtm_verify_result *r, size_t i)
{
    const verify_verdict *v = comp_at(r, i);
    return v != NULL ? v->name : "";
}

SRTM_API const char *srtm_verify_result_component_path(const srtm_verify_result *r, size_t i)
{
    const verify_verdict *v = comp_at(r, i);
    return v != NULL && v->path != NULL ? v->path : "";
}

SRTM_API int srtm_verify_result_component_trusted(const srtm_verify_result *r, size_t i)
{
    const verify_verdict *v = comp_at(r, i);
    return v != NULL && v->trusted;
}

SRTM_API size_t srtm_verify_result_component_reason_count(const srtm_verify_result *r, size_t i)
{
    const verify_verdict *v = comp_at(r, i);
    return v != NULL ? v->n_reasons : 0;
}

SRTM_API const char *srtm_verify_result_component_reason(const srtm_verify_result *r, size_t i,
                                                         size_t j)
{
    const verify_verdict *v = comp_at(r, i);
    return v != NULL && j < v->n_reasons ? v->reasons[j] : "";
}
