/*
 * The verification threads of the attestation loop: each takes finished attempts off the
 * queue, turns the answer into an outcome (srtm_verify_with_state decides trust, with the
 * host's stored state; nothing here re-checks evidence) and records it through its own
 * store connection: the verdict when it or its reasons changed, the state of a report
 * whose evidence checks passed (its boot identity and the blob of incremental
 * verification), and the attempt with the host's next due time (jitter, or back-off when
 * unreachable). An incremental answer the state could not judge is quoted again in full
 * at once, in the same attempt.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/rand.h>

#include "attest_int.h"
#include "common.h"
#include "srtm.pb-c.h"

/* What one attempt came to. */
typedef struct result {
    attest_outcome outcome;
    char detail[200]; /* for unreachable and error; fits an attempt outcome */
    json_object *reasons;        /* owned; NULL: "" */
    bool evidence_ok;            /* srtm_verify_result_state gave a state to keep */
    bool verified;               /* trusted or untrusted: kind says of which report */
    bool needs_full;             /* only the state could not be used: quote in full */
    bool drop_state;             /* the record replaces the stored state with none */
    attest_kind kind;
    vs_state state;              /* its blob owned (vs_state_clear) */
} result;

static void set_detail(result *r, attest_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_detail(result *r, attest_outcome o, const char *fmt, ...)
{
    r->outcome = o;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    r->reasons = json_object_new_object();
    if (r->reasons != NULL)
        json_object_object_add(r->reasons, "error", json_object_new_string(r->detail));
}

/* The failed checks and each untrusted component's reasons. */
static json_object *untrusted_reasons(const srtm_verify_result *v)
{
    json_object *o = json_object_new_object(), *checks = json_object_new_array(),
                *comps = json_object_new_array();
    for (size_t i = 0; i < srtm_verify_result_check_count(v); i++) {
        if (srtm_verify_result_check_ok(v, i))
            continue;
        json_object *c = json_object_new_object();
        json_object_object_add(c, "check",
                               json_object_new_string(srtm_verify_result_check_name(v, i)));
        json_object_object_add(c, "reason",
                               json_object_new_string(srtm_verify_result_check_reason(v, i)));
        json_object_array_add(checks, c);
    }
    for (size_t i = 0; i < srtm_verify_result_component_count(v); i++) {
        if (srtm_verify_result_component_trusted(v, i))
            continue;
        const char *path = srtm_verify_result_component_path(v, i);
        json_object *c = json_object_new_object(), *rs = json_object_new_array();
        json_object_object_add(c, "component", json_object_new_string(
            path[0] != '\0' ? path : srtm_verify_result_component_name(v, i)));
        for (size_t j = 0; j < srtm_verify_result_component_reason_count(v, i); j++)
            json_object_array_add(rs, json_object_new_string(
                srtm_verify_result_component_reason(v, i, j)));
        json_object_object_add(c, "reasons", rs);
        json_object_array_add(comps, c);
    }
    json_object_object_add(o, "failed_checks", checks);
    json_object_object_add(o, "components", comps);
    return o;
}

/* The since_seq (field 7, a varint) of a packed CcrReport, read from its top-level fields
 * without unpacking the logs: 0 for a full report, and for bytes that are not a message.
 * It only names the kind of an attempt; srtm_verify_with_state judges the report. */
static uint64_t report_since_seq(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint64_t key = 0, v = 0;
        for (unsigned shift = 0, more = 1; more; shift += 7) { /* the key */
            if (i >= n || shift > 63)
                return 0;
            key |= (uint64_t)(p[i] & 0x7f) << shift;
            more = p[i++] & 0x80;
        }
        unsigned type = key & 7;
        if (type == 0 || type == 2) {
            for (unsigned shift = 0, more = 1; more; shift += 7) {
                if (i >= n || shift > 63)
                    return 0;
                v |= (uint64_t)(p[i] & 0x7f) << shift;
                more = p[i++] & 0x80;
            }
        }
        if (type == 0 && key >> 3 == 7)
            return v;
        size_t skip = type == 1 ? 8 : type == 5 ? 4 : type == 2 ? (size_t)v : 0;
        if ((type != 0 && type != 1 && type != 2 && type != 5) || (uint64_t)skip > n - i)
            return 0;
        i += skip;
    }
    return 0;
}

/* The state to keep after a result whose evidence checks passed: the blob of
 * srtm_verify_result_state and, read back from it, the boot identity and the sequence
 * number it holds (the report's, verified). false when there is none. */
static bool result_state(const srtm_verify_result *v, vs_state *st)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    if (srtm_verify_result_state(v, &blob, &len) != SRTM_OK)
        return false;
    Srtm__VerifierState *vs = srtm__verifier_state__unpack(NULL, len, blob);
    bool ok = vs != NULL && vs->srtm_instance.len > 0 &&
              vs->srtm_instance.len <= sizeof(st->instance) && vs->seq <= INT64_MAX;
    if (ok) {
        memcpy(st->instance, vs->srtm_instance.data, vs->srtm_instance.len);
        st->instance_len = vs->srtm_instance.len;
        st->reset_count = vs->reset_count;
        st->restart_count = vs->restart_count;
        st->seq = (int64_t)vs->seq;
        st->blob = blob;
        st->blob_len = len;
    } else {
        free(blob);
    }
    if (vs != NULL)
        srtm__verifier_state__free_unpacked(vs, NULL);
    return ok;
}

static void verify(const attempt *a, const uint8_t *ev, size_t len, const uint8_t *report,
                   size_t report_len, result *r)
{
    srtm_verify_result *v = NULL;
    srtm_err err = srtm_verify_with_state(ev, len, a->aik_pem, a->pol->policy, a->nonce,
                                          sizeof(a->nonce), a->state, &v);
    if (err != SRTM_OK && err != SRTM_E_DENIED) {
        set_detail(r, ATTEST_ERROR, "verification did not run: %s", srtm_strerror(err));
        return;
    }
    r->outcome = err == SRTM_OK ? ATTEST_TRUSTED : ATTEST_UNTRUSTED;
    r->verified = true;
    r->needs_full = srtm_verify_result_needs_full(v) == 1;
    r->kind = a->retried                              ? ATTEST_KIND_RETRY
              : report_since_seq(report, report_len) ? ATTEST_KIND_INCREMENTAL
                                                     : ATTEST_KIND_FULL;
    snprintf(r->detail, sizeof(r->detail), "%s", attest_kind_name(r->kind));
    if (err != SRTM_OK)
        r->reasons = untrusted_reasons(v);
    /* A state to keep: of verified evidence, or of a run that lied (tainted). */
    r->evidence_ok = result_state(v, &r->state);
    srtm_verify_result_free(v);
}

/* The answer of srtmd (or whatever answered) as an outcome. */
static void judge(const attempt *a, result *r)
{
    if (a->pol->policy == NULL) {
        set_detail(r, ATTEST_ERROR, "policy %s: %s", a->pol->name, a->pol->msg);
        return;
    }
    if (a->rv != 0) {
        set_detail(r, ATTEST_UNREACHABLE, "%s", nng_strerror(a->rv));
        return;
    }
    Srtm__Response *resp = srtm__response__unpack(NULL, nng_msg_len(a->answer),
                                                  nng_msg_body(a->answer));
    if (resp == NULL) {
        set_detail(r, ATTEST_ERROR, "the answer is not a Response");
    } else if (resp->status != SRTM__STATUS__STATUS_OK) {
        set_detail(r, ATTEST_ERROR, "srtmd answered %s: %.200s",
                   (unsigned)resp->status < SRTM_ERR_COUNT ? srtm_err_id((srtm_err)resp->status)
                                                           : "an unknown status",
                   resp->message != NULL ? resp->message : "");
    } else if (resp->result_case != SRTM__RESPONSE__RESULT_QUOTE || resp->quote->evidence == NULL) {
        set_detail(r, ATTEST_ERROR, "the answer holds no evidence");
    } else {
        /* The evidence's fields are bytes: re-encoding keeps every signed byte. */
        size_t n = srtm__evidence__get_packed_size(resp->quote->evidence);
        uint8_t *buf = malloc(n ? n : 1);
        if (buf == NULL) {
            set_detail(r, ATTEST_ERROR, "out of memory");
        } else {
            srtm__evidence__pack(resp->quote->evidence, buf);
            verify(a, buf, n, resp->quote->evidence->report.data,
                   resp->quote->evidence->report.len, r);
        }
        free(buf);
    }
    srtm__response__free_unpacked(resp, NULL);
}

/* ---- recording ---- */

static int64_t rand_below(int64_t n)
{
    uint64_t x = 0;
    if (n <= 0 || RAND_bytes((unsigned char *)&x, sizeof(x)) != 1)
        return 0;
    return (int64_t)(x % (uint64_t)n);
}

/* Seconds until the next attempt: unreachable hosts back off 1, 2, 4 ... seconds up to
 * the interval; everything else waits the interval give or take up to 10 %. */
static int64_t next_delay(const attempt *a, attest_outcome o)
{
    int64_t iv = a->interval_s;
    if (o == ATTEST_UNREACHABLE) {
        int64_t d = a->was_unreachable && a->last_delay_s >= 1 ? 2 * a->last_delay_s : 1;
        return d < iv ? d : iv;
    }
    int64_t j = iv / 10;
    int64_t d = iv - j + rand_below(2 * j + 1);
    return d >= 1 ? d : 1;
}

static void record(attest_loop *l, vstore *s, const attempt *a, result *r)
{
    int64_t now = (int64_t)time(NULL);
    const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
    const char *reasons =
        r->reasons != NULL ? json_object_to_json_string_ext(r->reasons, flags) : "";
    if (strlen(reasons) > VS_REASONS_MAX)
        reasons = "{\"truncated\":true}";
    const char *verdict = attest_outcome_name(r->outcome);
    char outcome[VS_OUTCOME_MAX + 1];
    snprintf(outcome, sizeof(outcome), "%s%s%s", verdict, r->detail[0] ? ": " : "", r->detail);
    char previous[VS_VERDICT_MAX + 1] = "";
    /* One transaction, fenced by the lease: a record that fails leaves the host as it was,
     * due, and it is attempted again at the next claim, so a verdict change is stored
     * then, not an interval later (or never, had it changed back). */
    const vs_state *st = r->evidence_ok || r->drop_state ? &r->state : NULL;
    if (st != NULL && !vs_state_fits(st)) {
        /* kept out of the record, which it would fail: the stored state stays, and the
         * verdict and the attempt are recorded */
        srtm_log(SRTM_LOG_WARN, "host %s: its verifier state (%zu bytes) is over %u bytes; "
                                "not stored", a->host, st->blob_len, VS_STATE_MAX);
        st = NULL;
    }
    vs_record rec = {.now = now,
                     .next_due = now + next_delay(a, r->outcome),
                     .verdict = verdict,
                     .reasons = reasons,
                     .outcome = outcome,
                     .state = st};
    bool changed = false;
    srtm_err err = store_record(s, a->host, l->node, &rec, &changed, previous);
    int db_errors = err != SRTM_OK && err != SRTM_E_DENIED;
    if (err == SRTM_E_DENIED) /* the lease expired and another node took the host */
        srtm_log(SRTM_LOG_WARN, "host %s: %s not recorded: %s", a->host, verdict,
                 store_errmsg(s));
    else if (err != SRTM_OK)
        srtm_log(SRTM_LOG_WARN, "host %s: recording %s: %s", a->host, verdict, store_errmsg(s));
    if (err != SRTM_OK && err != SRTM_E_DENIED) /* the record would have freed the lease */
        attest_release(l, s, a->host);
    if (changed) {
        srtm_log(SRTM_LOG_INFO, "host %s: %s %s", a->host, verdict, reasons);
        webhook_notify(l->cfg.webhook, l->node, a->host, previous, verdict, reasons, now);
    }
    uint64_t ms = attest_now_ms() - a->t0_ms;
    size_t b = 0;
    while (b < ATTEST_LATENCY_BUCKETS - 1 && ms > attest_latency_le_ms[b])
        b++;
    pthread_mutex_lock(&l->lock);
    l->m.attempts[r->outcome]++;
    if (r->verified) {
        l->m.kinds[r->kind]++;
        l->m.kind_bytes[r->kind] += a->answer_bytes;
    }
    l->m.verdict_changes += changed ? 1u : 0u;
    l->m.db_errors += (uint64_t)db_errors;
    l->m.latency_ms_sum += ms;
    l->m.latency_count++;
    l->m.latency_buckets[b]++;
    pthread_mutex_unlock(&l->lock);
}

/* ---- the thread ---- */

/* Judge a's answer and record the outcome; true when instead a was quoted again in full
 * (an incremental answer its state could not judge: srtm_verify_result_needs_full), and
 * is in flight again. A second such answer is not retried: it is an error, and the
 * stored state, which could not judge even a full report, is dropped. */
static bool judge_and_record(attest_loop *l, vstore *s, attempt *a)
{
    result r = {0};
    a->answer_bytes += a->answer != NULL ? nng_msg_len(a->answer) : 0;
    judge(a, &r);
    attest_resend rs = ATTEST_RESEND_FAILED;
    if (r.needs_full && !a->retried) {
        rs = attest_resend_full(a);
        if (rs == ATTEST_RESENT || rs == ATTEST_RESEND_STOPPING) {
            json_object_put(r.reasons);
            vs_state_clear(&r.state);
            return rs == ATTEST_RESENT; /* stopping: nothing is recorded */
        }
    }
    if (r.needs_full) {
        json_object_put(r.reasons);
        vs_state_clear(&r.state);
        memset(&r, 0, sizeof(r));
        set_detail(&r, ATTEST_ERROR, "%s", rs == ATTEST_RESEND_FAILED && !a->retried
                   ? "the full quote after an incremental answer could not be sent"
                   : "the stored verifier state cannot judge a full report; it is dropped");
        r.drop_state = a->retried;
    }
    record(l, s, a, &r);
    json_object_put(r.reasons);
    vs_state_clear(&r.state);
    return false;
}

static attempt *next_done(attest_loop *l)
{
    pthread_mutex_lock(&l->lock);
    while (l->done_head == NULL && !l->workers_stop)
        pthread_cond_wait(&l->wake_workers, &l->lock);
    attempt *a = l->done_head;
    if (a != NULL) {
        l->done_head = a->next;
        if (l->done_head == NULL)
            l->done_tail = NULL;
        a->next = NULL;
    }
    pthread_mutex_unlock(&l->lock);
    return a;
}

void *attest_worker(void *arg)
{
    attest_loop *l = arg;
    pthread_mutex_lock(&l->lock);
    vstore *s = l->worker_stores[l->worker_seq++];
    pthread_mutex_unlock(&l->lock);
    attempt *a;
    while ((a = next_done(l)) != NULL) {
        pthread_mutex_lock(&l->lock);
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->lock);
        /* A cancelled attempt says nothing about the host: record nothing; the driver
         * releases the lease. */
        if (!(stopping && a->rv == NNG_ECANCELED) && judge_and_record(l, s, a))
            continue; /* quoted again in full: back in flight */
        attest_attempt_free(a);
    }
    return NULL;
}
