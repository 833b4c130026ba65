/*
 * The verification threads of the attestation loop: each takes finished attempts off the
 * queue, turns the answer into an outcome (srtm_verify decides trust; nothing here
 * re-checks evidence) and records it through its own store connection: the verdict when
 * it or its reasons changed, the boot identity of a report whose evidence checks passed,
 * and the attempt with the host's next due time (jitter, or back-off when unreachable).
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
    bool evidence_ok;            /* every evidence-level check passed: the state is real */
    vs_state state;
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

static int64_t json_i64(json_object *o, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : -1;
}

/* The boot identity of verified evidence: srtm instance, boot counters, report seq. */
static bool boot_identity(const uint8_t *ev, size_t len, vs_state *st)
{
    char *text = NULL;
    if (srtm_evidence_describe(ev, len, &text) != SRTM_OK)
        return false;
    json_object *root = json_tokener_parse(text), *rep = NULL, *inst = NULL;
    free(text);
    bool ok = root != NULL && json_object_object_get_ex(root, "report", &rep) &&
              json_object_object_get_ex(rep, "srtm_instance", &inst);
    const char *hex = ok ? json_object_get_string(inst) : "";
    size_t n = strlen(hex) / 2;
    ok = ok && n > 0 && n <= sizeof(st->instance) &&
         hex_decode(hex, strlen(hex), st->instance, n) == SRTM_OK;
    st->instance_len = ok ? n : 0;
    st->reset_count = ok ? json_i64(rep, "reset_count") : -1;
    st->restart_count = ok ? json_i64(rep, "restart_count") : -1;
    st->seq = ok ? json_i64(rep, "seq") : -1;
    json_object_put(root);
    return ok && st->reset_count >= 0 && st->restart_count >= 0 && st->seq >= 0;
}

static void verify(const attempt *a, const uint8_t *ev, size_t len, result *r)
{
    srtm_verify_result *v = NULL;
    srtm_err err = srtm_verify(ev, len, a->aik_pem, a->pol->policy, a->nonce,
                               sizeof(a->nonce), &v);
    if (err != SRTM_OK && err != SRTM_E_DENIED) {
        set_detail(r, ATTEST_ERROR, "verification did not run: %s", srtm_strerror(err));
        return;
    }
    r->outcome = err == SRTM_OK ? ATTEST_TRUSTED : ATTEST_UNTRUSTED;
    if (err != SRTM_OK)
        r->reasons = untrusted_reasons(v);
    bool checks_ok = true;
    for (size_t i = 0; i < srtm_verify_result_check_count(v); i++)
        checks_ok = checks_ok && srtm_verify_result_check_ok(v, i);
    r->evidence_ok = checks_ok && boot_identity(ev, len, &r->state);
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
            verify(a, buf, n, r);
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

/* Append the verdict when it or its reasons differ from the current one; 1 if appended,
 * 0 if not, -1 on a store failure. */
static int record_verdict(vstore *s, const attempt *a, const char *verdict, const char *reasons,
                          int64_t now, char previous[VS_VERDICT_MAX + 1])
{
    vs_verdict cur = {0};
    if (store_verdict_current(s, a->host, &cur) != SRTM_OK)
        return -1;
    bool same = strcmp(cur.verdict, verdict) == 0 && cur.reasons != NULL &&
                strcmp(cur.reasons, reasons) == 0;
    snprintf(previous, VS_VERDICT_MAX + 1, "%s", cur.verdict);
    vs_verdicts_free(&cur, 1);
    if (same)
        return 0;
    return store_verdict_append(s, a->host, now, verdict, reasons) == SRTM_OK ? 1 : -1;
}

/* Store the boot identity when it moved: an unchanged one keeps the stored state (and the
 * blob of incremental verification) as it is. */
static srtm_err record_state(vstore *s, const char *host, const vs_state *st)
{
    vs_state cur = {0};
    srtm_err err = store_state_get(s, host, &cur);
    bool same = err == SRTM_OK && cur.instance_len == st->instance_len &&
                memcmp(cur.instance, st->instance, st->instance_len) == 0 &&
                cur.reset_count == st->reset_count && cur.restart_count == st->restart_count &&
                cur.seq == st->seq;
    vs_state_clear(&cur);
    if (err != SRTM_OK && err != SRTM_E_NO_COMPONENT)
        return err;
    return same ? SRTM_OK : store_state_put(s, host, st);
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
    int db_errors = 0, changed = record_verdict(s, a, verdict, reasons, now, previous);
    db_errors += changed < 0;
    /* A verdict that could not be stored leaves the host as it was: the attempt is not
     * recorded, so the host stays due and is attempted again at the next claim, and the
     * change is stored then, not an interval later (or never, had it changed back). */
    bool verdict_stored = changed >= 0;
    if (verdict_stored && r->evidence_ok && record_state(s, a->host, &r->state) != SRTM_OK)
        db_errors++;
    bool recorded = verdict_stored &&
                    store_attempt_next(s, a->host, l->node, now, outcome,
                                       now + next_delay(a, r->outcome)) == SRTM_OK;
    db_errors += verdict_stored && !recorded;
    if (db_errors > 0)
        srtm_log(SRTM_LOG_WARN, "host %s: recording %s: %s", a->host, verdict, store_errmsg(s));
    if (!recorded) /* the attempt would have freed the lease */
        attest_release(l, s, a->host);
    if (changed > 0) {
        srtm_log(SRTM_LOG_INFO, "host %s: %s %s", a->host, verdict, reasons);
        webhook_notify(l->cfg.webhook, l->node, a->host, previous, verdict, reasons, now);
    }
    uint64_t ms = attest_now_ms() - a->t0_ms;
    size_t b = 0;
    while (b < ATTEST_LATENCY_BUCKETS - 1 && ms > attest_latency_le_ms[b])
        b++;
    pthread_mutex_lock(&l->lock);
    l->m.attempts[r->outcome]++;
    l->m.verdict_changes += changed > 0;
    l->m.db_errors += (uint64_t)db_errors;
    l->m.latency_ms_sum += ms;
    l->m.latency_count++;
    l->m.latency_buckets[b]++;
    pthread_mutex_unlock(&l->lock);
}

/* ---- the thread ---- */

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
        if (!(stopping && a->rv == NNG_ECANCELED)) {
            result r = {0};
            judge(a, &r);
            record(l, s, a, &r);
            json_object_put(r.reasons);
        }
        attest_attempt_free(a);
    }
    return NULL;
}
