/*
 * Quote reports built off the table lock (report.h, ccr.h "Reading at a cut"): a cut
 * taken under the lock yields, whether the snapshot is taken before or after later
 * extends, reverts, dependency changes, registrations and terminations, exactly the bytes
 * of the report of the state at the cut; and reports built by quoting threads while other
 * threads change the table
 * are each internally consistent (every CCR value is the replay of its reported log, every
 * reverted mark is justified by a reported marker, every edge by the reported record of
 * dependency changes, nothing newer than the report's sequence number). A report that read
 * memory a later change writes, moves or frees fails these checks (or ASan).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "ccr.h"
#include "graph.h"
#include "report.h"
#include "report_cache.h"
#include "service.h"
#include "srtm.pb-c.h"

static const uint8_t zero_cap[SRTM_DIGEST_LEN];
static const report_identity ident = {.instance = {4, 2}, .reset_count = 1, .restart_count = 3};

/* ---- the snapshot against later changes, on the table and graph directly ---- */

static ccr_component *add(ccr_table *t, graph *g, const char *name, uint32_t nccrs)
{
    uint64_t h = 0, seq = 0, gh = 0;
    cr_assert_eq(ccr_register_mixed(t, name, strlen(name), nccrs, UINT64_MAX >> (64 - nccrs),
                                    zero_cap, 0, 0, &h, &seq),
                 SRTM_OK);
    cr_assert_eq(graph_add_node(g, NULL, 0, &gh), SRTM_OK);
    cr_assert_eq(gh, h);
    return ccr_find_handle(t, h);
}

/* n measurements on CCR index of c, each with a description of desc_len bytes. */
static uint64_t measure(ccr_table *t, ccr_component *c, uint32_t index, size_t n, uint8_t tag,
                        size_t desc_len)
{
    static uint8_t digest[SRTM_DIGEST_LEN];
    static char desc[SRTM_MAX_DESC];
    memset(desc, 'a' + tag % 26, sizeof(desc));
    uint64_t first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        memset(digest, tag + (uint8_t)i, sizeof(digest));
        ccr_measurement m = {.ccr = index, .digest = digest, .desc = desc, .desc_len = desc_len};
        cr_assert_eq(ccr_extend(t, c, &m, 1, &first, &last), SRTM_OK);
    }
    return last;
}

static void edge(ccr_table *t, graph *g, ccr_component *a, ccr_component *b, bool removed)
{
    uint64_t ha = ccr_comp_handle(a), hb = ccr_comp_handle(b);
    cr_assert_eq(ccr_dep_reserve(t, a, 1), SRTM_OK);
    if (removed)
        cr_assert_eq(graph_remove_edge(g, ha, hb), SRTM_OK);
    else
        cr_assert_eq(graph_add_edge(g, ha, hb, NULL), SRTM_OK);
    ccr_dep_record(a, &(ccr_dep_change){
                          .seq = ccr_table_next_seq(t), .on = hb, .actor = ha, .removed = removed});
}

Test(snapshot, report_is_the_state_when_taken)
{
    ccr_table *t = NULL;
    graph *g = NULL;
    cr_assert_eq(ccr_table_new(zero_cap, &t), SRTM_OK);
    cr_assert_eq(graph_new(&g), SRTM_OK);
    ccr_component *a = add(t, g, "a", 2), *b = add(t, g, "b", 1);
    uint64_t keep = measure(t, a, 0, 2, 0x10, 5);
    measure(t, a, 0, 1, 0x20, 0);
    measure(t, b, 0, 3, 0x30, 17);
    uint64_t reverted = 0, seq = 0;
    cr_assert_eq(ccr_revert(t, a, 0, keep, ccr_comp_handle(a), &reverted, &seq), SRTM_OK);
    edge(t, g, a, b, false);

    uint8_t *before = NULL, *after = NULL, *late = NULL, *now = NULL;
    size_t before_len = 0, after_len = 0, late_len = 0, now_len = 0;
    cr_assert_eq(report_build(t, &ident, NULL, 0, &before, &before_len), SRTM_OK);
    ccr_cut cut = ccr_table_cut(t);
    report_snapshot *s = NULL, *s_late = NULL;
    cr_assert_eq(report_snapshot_new(&s), SRTM_OK);
    cr_assert_eq(report_snapshot_new(&s_late), SRTM_OK);
    cr_assert_eq(report_snapshot_take(t, &cut, NULL, 0, false, 0, s), SRTM_OK);

    /* Everything a report reads, changed: logs grown past their segments and description
     * chunks, entries below the snapshot marked reverted, the record of dependency
     * changes grown (copied), edges cut and added, a component terminated, one added. */
    measure(t, a, 0, 300, 0x40, SRTM_MAX_DESC);
    measure(t, a, 1, 50, 0x50, 100);
    measure(t, b, 0, 70, 0x60, 3);
    cr_assert_eq(ccr_revert(t, a, 0, 0, ccr_comp_handle(b), &reverted, &seq), SRTM_OK);
    cr_assert_gt(reverted, 300, "the revert did not reach below the snapshot");
    for (int i = 0; i < 6; i++)
        edge(t, g, a, b, i % 2 == 0);
    edge(t, g, b, ccr_find_handle(t, 0), false);
    cr_assert_eq(graph_terminate(g, ccr_comp_handle(b)), SRTM_OK);
    ccr_comp_terminate(b, ccr_table_next_seq(t));
    add(t, g, "c", 3);

    /* The snapshot taken at the cut before the changes, and one taken at the same cut
     * after them (every CCR's value then comes from the replay of its log at the cut). */
    cr_assert_eq(report_snapshot_build(s, &ident, &after, &after_len), SRTM_OK);
    cr_assert_eq(report_snapshot_take(t, &cut, NULL, 0, false, 0, s_late), SRTM_OK);
    cr_assert_eq(report_snapshot_build(s_late, &ident, &late, &late_len), SRTM_OK);
    cr_assert_eq(report_build(t, &ident, NULL, 0, &now, &now_len), SRTM_OK);
    cr_assert(now_len != before_len || memcmp(now, before, now_len) != 0,
              "the changes did not change the report: the test proves nothing");
    cr_assert_eq(after_len, before_len, "the snapshot's report has another size");
    cr_assert(memcmp(after, before, before_len) == 0,
              "the snapshot's report differs from the report of the state it was taken of");
    cr_assert_eq(late_len, before_len, "the late snapshot's report has another size");
    cr_assert(memcmp(late, before, before_len) == 0,
              "a snapshot taken after the changes differs from the report at its cut");
    free(before);
    free(after);
    free(late);
    free(now);
    report_snapshot_free(s);
    report_snapshot_free(s_late);
    graph_free(g);
    ccr_table_free(t);
}

Test(snapshot, refused_before_allocation_when_too_big)
{
    ccr_table *t = NULL;
    graph *g = NULL;
    cr_assert_eq(ccr_table_new(zero_cap, &t), SRTM_OK);
    cr_assert_eq(graph_new(&g), SRTM_OK);
    ccr_component *a = add(t, g, "big", 1);
    /* Entries with full descriptions until the size bound passes SRTM_MAX_REPORT. */
    size_t n = SRTM_MAX_REPORT / SRTM_MAX_DESC + 1;
    static uint8_t digests[SRTM_MAX_BATCH][SRTM_DIGEST_LEN];
    static char desc[SRTM_MAX_DESC];
    ccr_measurement *m = calloc(SRTM_MAX_BATCH, sizeof(*m));
    cr_assert_not_null(m);
    for (size_t i = 0; i < SRTM_MAX_BATCH; i++)
        m[i] = (ccr_measurement){.digest = digests[i], .desc = desc, .desc_len = sizeof(desc)};
    uint64_t first = 0, last = 0;
    for (size_t done = 0; done < n; done += SRTM_MAX_BATCH)
        cr_assert_eq(ccr_extend(t, a, m, SRTM_MAX_BATCH, &first, &last), SRTM_OK);
    free(m);
    report_snapshot *s = NULL;
    cr_assert_eq(report_snapshot_new(&s), SRTM_OK);
    ccr_cut cut = ccr_table_cut(t);
    cr_expect_eq(report_snapshot_take(t, &cut, NULL, 0, false, 0, s), SRTM_E_TOO_BIG);
    report_snapshot_free(s);
    graph_free(g);
    ccr_table_free(t);
}

/* ---- reports built while other threads change the table, through the service ---- */

#define CHURN_COMPONENTS 6
#define REPORTS_PER_QUOTER 60

static srtm_service *svc;
static const srtm_cap admin = {{9, 9, 1}};
static const service_peer peer = {0, 0};
static srtm_cap caps[CHURN_COMPONENTS], base_cap;
static atomic_bool stop;
static atomic_uint reports;
static atomic_uint failures;
static char first_failure[256];
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *fmt, ...) SRTM_PRINTF(1, 2);
static void fail(const char *fmt, ...)
{
    pthread_mutex_lock(&failure_lock);
    if (atomic_fetch_add(&failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(first_failure, sizeof(first_failure), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&failure_lock);
}

static ProtobufCBinaryData text(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static Srtm__ComponentRef name_ref(const char *name)
{
    Srtm__ComponentRef r;
    srtm__component_ref__init(&r);
    r.ref_case = SRTM__COMPONENT_REF__REF_NAME;
    r.name = text(name);
    return r;
}

/* Call; the status. The report of a quote stays in wk. */
static Srtm__Status call(service_worker *wk, Srtm__Request *req, const srtm_cap *cap,
                         Srtm__Response **out)
{
    req->version = SRTM__VERSION__VERSION_1;
    if (cap != NULL) {
        req->capability.data = (uint8_t *)cap->bytes;
        req->capability.len = SRTM_CAP_LEN;
    }
    size_t n = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1), *resp = NULL;
    size_t rn = 0;
    cr_assert_not_null(buf);
    srtm__request__pack(req, buf);
    cr_assert_eq(service_call(wk, buf, n, &peer, &resp, &rn), SRTM_OK);
    free(buf);
    Srtm__Response *r = srtm__response__unpack(NULL, rn, resp);
    free(resp);
    cr_assert_not_null(r);
    Srtm__Status st = r->status;
    if (out != NULL)
        *out = r;
    else
        srtm__response__free_unpacked(r, NULL);
    return st;
}

static srtm_cap reg(service_worker *wk, const char *name)
{
    uint32_t rev[] = {0, 1};
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name = text(name);
    rr.ccr_count = 2;
    rr.n_reversible = 2;
    rr.reversible = rev;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    Srtm__Response *r = NULL;
    cr_assert_eq(call(wk, &req, &admin, &r), SRTM__STATUS__STATUS_OK, "register %s", name);
    srtm_cap cap;
    memcpy(cap.bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);
    return cap;
}

/* The description a measurement with this first digest byte carries: checked in every
 * report, so a description read from moved or reused memory shows. */
static size_t desc_for(uint8_t tag, char *out)
{
    size_t len = (size_t)tag % 40;
    memset(out, 'A' + tag % 26, len);
    return len;
}

static void extend(service_worker *wk, const char *name, const srtm_cap *cap, uint32_t ccr,
                   uint8_t tag, uint32_t n)
{
    uint8_t digests[8][SRTM_DIGEST_LEN];
    char descs[8][64];
    uint32_t ccrs[8];
    ProtobufCBinaryData d[8];
    for (uint32_t i = 0; i < n; i++) {
        memset(digests[i], (uint8_t)(tag + i), SRTM_DIGEST_LEN);
        d[i] = (ProtobufCBinaryData){.len = desc_for((uint8_t)(tag + i), descs[i]),
                                     .data = (uint8_t *)descs[i]};
        ccrs[i] = ccr;
    }
    Srtm__ComponentRef ref = name_ref(name);
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = &ref;
    ex.digests = (ProtobufCBinaryData){.len = n * SRTM_DIGEST_LEN, .data = &digests[0][0]};
    ex.n_ccrs = ex.n_descriptions = n;
    ex.ccrs = ccrs;
    ex.descriptions = d;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    if (call(wk, &req, cap, NULL) != SRTM__STATUS__STATUS_OK)
        fail("extend %s refused", name);
}

static void revert(service_worker *wk, const char *name, const srtm_cap *cap, uint32_t ccr)
{
    Srtm__ComponentRef ref = name_ref(name);
    Srtm__RevertRequest rv = SRTM__REVERT_REQUEST__INIT;
    rv.component = &ref;
    rv.ccr = ccr;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REVERT;
    req.revert = &rv;
    if (call(wk, &req, cap, NULL) != SRTM__STATUS__STATUS_OK)
        fail("revert %s refused", name);
}

static Srtm__Status depend(service_worker *wk, const char *name, const srtm_cap *cap,
                           const char *on, bool remove)
{
    Srtm__ComponentRef ref = name_ref(name), to = name_ref(on);
    Srtm__DependRequest dr = SRTM__DEPEND_REQUEST__INIT;
    dr.component = &ref;
    dr.on = &to;
    dr.remove = remove;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_DEPEND;
    req.depend = &dr;
    return call(wk, &req, cap, NULL);
}

static void terminate(service_worker *wk, const char *name, const srtm_cap *cap)
{
    Srtm__ComponentRef ref = name_ref(name);
    Srtm__TerminateRequest tr = SRTM__TERMINATE_REQUEST__INIT;
    tr.component = &ref;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_TERMINATE;
    req.terminate = &tr;
    if (call(wk, &req, cap, NULL) != SRTM__STATUS__STATUS_OK)
        fail("terminate %s refused", name);
}

static void churn_name(char *out, size_t cap, unsigned i)
{
    snprintf(out, cap, "churn-%u", i);
}

/* Extends (in small batches), reverts and dependency changes on the churn components. */
static void *mutator(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    service_worker *wk = NULL;
    cr_assert_eq(service_worker_new(svc, &wk), SRTM_OK);
    char name[32];
    for (unsigned i = 0; !atomic_load(&stop) && i < 20000; i++) {
        unsigned k = (i * 7 + seed) % CHURN_COMPONENTS;
        churn_name(name, sizeof(name), k);
        unsigned what = (i + seed) % 16;
        if (what < 11)
            extend(wk, name, &caps[k], what % 2, (uint8_t)(i * 13), 1 + what % 5);
        else if (what < 13)
            revert(wk, name, &caps[k], what % 2);
        else
            (void)depend(wk, name, &caps[k], "base", what == 13);
    }
    service_worker_free(wk);
    return NULL;
}

/* Components registered, measured and terminated, one after the other. */
static void *lifecycle(void *arg)
{
    (void)arg;
    service_worker *wk = NULL;
    cr_assert_eq(service_worker_new(svc, &wk), SRTM_OK);
    char name[32];
    for (unsigned i = 0; !atomic_load(&stop) && i < 2000; i++) {
        snprintf(name, sizeof(name), "short-lived-%u", i);
        srtm_cap cap = reg(wk, name);
        extend(wk, name, &cap, 0, (uint8_t)i, 3);
        (void)depend(wk, name, &cap, "base", false);
        terminate(wk, name, &admin); /* the parent, the platform, terminates */
    }
    service_worker_free(wk);
    return NULL;
}

static void replay_into(uint8_t v[SRTM_DIGEST_LEN], const uint8_t *digest)
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, v, SRTM_DIGEST_LEN) == 1 &&
              EVP_DigestUpdate(ctx, digest, SRTM_DIGEST_LEN) == 1 &&
              EVP_DigestFinal_ex(ctx, v, &n) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        fail("SHA-256 failed");
}

/* One entry against the report's sequence number, its index and the entry before it. */
static void check_entry(const Srtm__CcrReport *r, const Srtm__ReportComponent *c,
                        const Srtm__ReportCcr *rc, size_t i, uint64_t lowest)
{
    const Srtm__LogEntry *e = rc->log[i];
    char want[64];
    if (e->index != i || e->seq > r->seq || (i > 0 && e->seq <= rc->log[i - 1]->seq))
        fail("%s CCR %u entry %zu: index %" PRIu64 ", seq %" PRIu64 " in a report at %" PRIu64,
             c->name, rc->index, i, e->index, e->seq, r->seq);
    if (e->revert_marker)
        return;
    if (e->digest.len != SRTM_DIGEST_LEN) {
        fail("%s CCR %u entry %zu: no digest", c->name, rc->index, i);
        return;
    }
    size_t len = desc_for(e->digest.data[0], want);
    if (strlen(e->description) != len || memcmp(e->description, want, len) != 0)
        fail("%s CCR %u entry %zu: description '%s' is not its measurement's", c->name,
             rc->index, i, e->description);
    /* Reverted exactly when a later reported marker reverts to a point before it
     * (lowest: the lowest revert_to_seq of the markers after entry i). */
    bool reverted = lowest < e->seq;
    if (e->reverted != reverted)
        fail("%s CCR %u entry %zu (seq %" PRIu64 ") reverted=%d, the reported markers say %d",
             c->name, rc->index, i, e->seq, e->reverted, reverted);
}

static void check_ccr(const Srtm__CcrReport *r, const Srtm__ReportComponent *c,
                      const Srtm__ReportCcr *rc)
{
    uint8_t v[SRTM_DIGEST_LEN] = {0};
    uint64_t lowest = UINT64_MAX;
    for (size_t i = rc->n_log; i > 0; i--) {
        check_entry(r, c, rc, i - 1, lowest);
        if (rc->log[i - 1]->revert_marker && rc->log[i - 1]->revert_to_seq < lowest)
            lowest = rc->log[i - 1]->revert_to_seq;
    }
    for (size_t i = 0; i < rc->n_log; i++) {
        const Srtm__LogEntry *e = rc->log[i];
        if (!e->revert_marker && !e->reverted && e->digest.len == SRTM_DIGEST_LEN)
            replay_into(v, e->digest.data);
    }
    if (rc->value.len != SRTM_DIGEST_LEN || memcmp(rc->value.data, v, SRTM_DIGEST_LEN) != 0)
        fail("%s CCR %u: the value is not the replay of its %zu reported entries", c->name,
             rc->index, rc->n_log);
}

/* Whether the reported record of c's changes leaves an edge to on. */
static bool recorded_edge(const Srtm__ReportComponent *c, uint64_t on)
{
    bool present = false;
    for (size_t i = 0; i < c->n_dependency_changes; i++)
        if (c->dependency_changes[i]->on == on)
            present = !c->dependency_changes[i]->removed;
    return present;
}

/* The present edges are exactly those the reported record of changes leaves. */
static void check_edges(const Srtm__CcrReport *r, const Srtm__ReportComponent *c)
{
    uint64_t seen[16];
    size_t nseen = 0;
    for (size_t i = 0; i < c->n_dependency_changes; i++) {
        const Srtm__DependencyChange *ch = c->dependency_changes[i];
        if (ch->seq > r->seq)
            fail("%s: a dependency change newer than the report", c->name);
        bool known = false;
        for (size_t j = 0; j < nseen; j++)
            known |= seen[j] == ch->on;
        if (!known && nseen < SRTM_ARRAY_LEN(seen))
            seen[nseen++] = ch->on;
    }
    size_t want = 0;
    for (size_t j = 0; j < nseen; j++)
        want += recorded_edge(c, seen[j]);
    if (want != c->n_depends_on)
        fail("%s: %zu edges reported, the record leaves %zu", c->name, c->n_depends_on, want);
    for (size_t i = 0; i < c->n_depends_on; i++)
        if (!recorded_edge(c, c->depends_on[i]))
            fail("%s: edge to %" PRIu64 " without a record", c->name, c->depends_on[i]);
}

static void check_report(const uint8_t *bytes, size_t len)
{
    Srtm__CcrReport *r = srtm__ccr_report__unpack(NULL, len, bytes);
    if (r == NULL) {
        fail("a report does not parse");
        return;
    }
    for (size_t i = 0; i < r->n_components; i++) {
        const Srtm__ReportComponent *c = r->components[i];
        for (size_t k = 0; k < c->n_ccrs; k++)
            check_ccr(r, c, c->ccrs[k]);
        if (strncmp(c->name, "churn-", 6) == 0)
            check_edges(r, c);
    }
    srtm__ccr_report__free_unpacked(r, NULL);
}

/* Quotes of the churn components (every tenth: of every component), each report checked. */
static void *quoter(void *arg)
{
    (void)arg;
    service_worker *wk = NULL;
    cr_assert_eq(service_worker_new(svc, &wk), SRTM_OK);
    uint8_t nonce[16] = "snapshot-nonce!";
    for (int i = 0; i < REPORTS_PER_QUOTER; i++) {
        Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
        q.nonce = (ProtobufCBinaryData){.len = sizeof(nonce), .data = nonce};
        Srtm__ComponentRef refs[CHURN_COMPONENTS], *pr[CHURN_COMPONENTS];
        char names[CHURN_COMPONENTS][32];
        for (unsigned k = 0; i % 10 != 0 && k < CHURN_COMPONENTS; k++) {
            churn_name(names[k], sizeof(names[k]), k);
            refs[k] = name_ref(names[k]);
            pr[k] = &refs[k];
            q.components = pr;
            q.n_components = k + 1;
        }
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_QUOTE;
        req.quote = &q;
        if (call(wk, &req, NULL, NULL) != SRTM__STATUS__STATUS_OK) {
            fail("quote %d refused", i);
            continue;
        }
        size_t len = 0;
        const uint8_t *bytes = service_worker_report(wk, &len);
        check_report(bytes, len);
        atomic_fetch_add(&reports, 1);
    }
    service_worker_free(wk);
    return NULL;
}

Test(snapshot, reports_consistent_while_the_table_changes, .timeout = 300)
{
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    service_quota q;
    service_quota_unlimited(&q);
    service_set_quota(svc, &q);
    service_set_identity(svc, &ident, true);
    service_worker *wk = NULL;
    cr_assert_eq(service_worker_new(svc, &wk), SRTM_OK);
    base_cap = reg(wk, "base");
    char name[32];
    for (unsigned k = 0; k < CHURN_COMPONENTS; k++) {
        churn_name(name, sizeof(name), k);
        caps[k] = reg(wk, name);
    }
    pthread_t mut[2], life, quo[2];
    for (uintptr_t i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&mut[i], NULL, mutator, (void *)(i * 5)), 0);
    cr_assert_eq(pthread_create(&life, NULL, lifecycle, NULL), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&quo[i], NULL, quoter, NULL), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(quo[i], NULL);
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(mut[i], NULL);
    pthread_join(life, NULL);
    size_t ncomp = 0;
    uint64_t seq = 0;
    service_stats(svc, &ncomp, &seq);
    cr_log_info("%u reports checked; %zu components, sequence number %" PRIu64,
                atomic_load(&reports), ncomp, seq);
    cr_expect_eq(atomic_load(&failures), 0, "%u inconsistencies; the first: %s",
                 atomic_load(&failures), first_failure);
    service_worker_free(wk);
    service_free(svc);
}

/* ---- the reports of recent quotes (report_cache.h) ---- */

Test(report_cache, a_report_is_served_only_for_its_cut_selection_and_identity)
{
    report_cache *rc = NULL;
    cr_assert_eq(report_cache_new(&rc), SRTM_OK);
    uint64_t sel[] = {0, 3, 7}, other[] = {0, 3, 8};
    report_key k = {.id = ident, .seq = 42, .closure = true, .handles = sel, .n = 3};
    const uint8_t bytes[] = "a report";
    uint8_t dig[SRTM_DIGEST_LEN] = {0xd1, 0x6e}, dig_got[SRTM_DIGEST_LEN];
    report_cache_put(rc, &k, bytes, sizeof(bytes), dig);
    uint8_t *got = NULL;
    size_t len = 0;
    cr_assert(report_cache_get(rc, &k, &got, &len, dig_got), "the report just kept is not found");
    cr_assert_arr_eq(dig_got, dig, sizeof(dig));
    cr_assert_eq(len, sizeof(bytes));
    cr_assert_arr_eq(got, bytes, len);
    free(got);
    /* Anything else: another cut, selection, closure, reporter or since (a full report
     * never answers an incremental request). */
    report_key miss[6] = {k, k, k, k, k, k};
    miss[0].seq = 43;
    miss[1].handles = other;
    miss[2].closure = false;
    miss[3].id.restart_count++;
    miss[4].n = 0;
    miss[5].since = 41;
    for (size_t i = 0; i < SRTM_ARRAY_LEN(miss); i++)
        cr_expect_not(report_cache_get(rc, &miss[i], &got, &len, dig_got), "key %zu got a report", i);
    /* Too large to keep; and the oldest is replaced once every slot is taken. */
    static uint8_t big[REPORT_CACHE_MAX_REPORT + 1];
    report_cache_put(rc, &miss[0], big, sizeof(big), dig);
    cr_expect_not(report_cache_get(rc, &miss[0], &got, &len, dig_got), "an oversized report was kept");
    for (uint64_t s = 100; s < 100 + REPORT_CACHE_SLOTS; s++) {
        report_key n = k;
        n.seq = s;
        report_cache_put(rc, &n, bytes, sizeof(bytes), dig);
    }
    cr_expect_not(report_cache_get(rc, &k, &got, &len, dig_got), "the oldest report was not replaced");
    report_cache_free(rc);
}

/* An incremental report kept for since 41 answers only since 41: not a full request, not
 * another since. */
Test(report_cache, an_incremental_report_is_served_only_for_its_since)
{
    report_cache *rc = NULL;
    cr_assert_eq(report_cache_new(&rc), SRTM_OK);
    report_key k = {.id = ident, .seq = 42, .since = 41};
    const uint8_t bytes[] = "an incremental report";
    uint8_t dig[SRTM_DIGEST_LEN] = {0x1c}, dig_got[SRTM_DIGEST_LEN];
    report_cache_put(rc, &k, bytes, sizeof(bytes), dig);
    uint8_t *got = NULL;
    size_t len = 0;
    cr_assert(report_cache_get(rc, &k, &got, &len, dig_got));
    free(got);
    report_key full = k, other = k;
    full.since = 0;
    other.since = 40;
    cr_expect_not(report_cache_get(rc, &full, &got, &len, dig_got), "a full request got it");
    cr_expect_not(report_cache_get(rc, &other, &got, &len, dig_got), "since 40 got it");
    report_cache_free(rc);
}

/* Quote names[0..n-1] through the service; a copy of the report. */
static uint8_t *quote_names(service_worker *wk, const char *const *names, size_t n, uint8_t tag,
                            size_t *len_out)
{
    uint8_t nonce[16] = {tag};
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce = (ProtobufCBinaryData){.len = sizeof(nonce), .data = nonce};
    Srtm__ComponentRef refs[4], *pr[4];
    cr_assert_leq(n, 4);
    for (size_t k = 0; k < n; k++) {
        refs[k] = name_ref(names[k]);
        pr[k] = &refs[k];
    }
    q.components = pr;
    q.n_components = n;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    cr_assert_eq(call(wk, &req, NULL, NULL), SRTM__STATUS__STATUS_OK);
    const uint8_t *bytes = service_worker_report(wk, len_out);
    uint8_t *copy = malloc(*len_out);
    cr_assert_not_null(copy);
    memcpy(copy, bytes, *len_out);
    return copy;
}

Test(report_cache, a_change_after_a_quote_is_in_the_next_quote)
{
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    service_set_identity(svc, &ident, true);
    service_worker *w1 = NULL, *w2 = NULL;
    cr_assert_eq(service_worker_new(svc, &w1), SRTM_OK);
    cr_assert_eq(service_worker_new(svc, &w2), SRTM_OK);
    srtm_cap a = reg(w1, "a");
    reg(w1, "b");
    extend(w1, "a", &a, 1, 0x11, 1);
    const char *ab[] = {"a", "b", "a"}, *ba[] = {"b", "a"};
    size_t l1 = 0, l2 = 0, l3 = 0;
    uint8_t *r1 = quote_names(w1, ab, 3, 1, &l1);
    uint8_t *r2 = quote_names(w2, ba, 2, 2, &l2); /* another worker, order and nonce */
    cr_assert(l1 == l2 && memcmp(r1, r2, l1) == 0,
              "two quotes of one selection at one cut got different reports");
    /* Every kind of change gives the next quote a new report that shows it. */
    for (int change = 0; change < 4; change++) {
        if (change == 0)
            extend(w1, "a", &a, 1, 0x21, 1);
        else if (change == 1)
            revert(w1, "a", &a, 1);
        else if (change == 2)
            cr_assert_eq(depend(w1, "a", &a, "b", false), SRTM__STATUS__STATUS_OK);
        else
            terminate(w1, "b", &admin);
        cr_assert_eq(atomic_load(&failures), 0, "change %d refused: %s", change, first_failure);
        uint8_t *r3 = quote_names(w2, ba, 2, (uint8_t)(3 + change), &l3);
        cr_assert(l3 != l1 || memcmp(r3, r1, l1) != 0,
                  "change %d: the quote after it got the report from before it", change);
        Srtm__CcrReport *before = srtm__ccr_report__unpack(NULL, l1, r1);
        Srtm__CcrReport *after = srtm__ccr_report__unpack(NULL, l3, r3);
        cr_assert(before != NULL && after != NULL);
        cr_expect_gt(after->seq, before->seq, "change %d: the report's seq did not move", change);
        srtm__ccr_report__free_unpacked(before, NULL);
        srtm__ccr_report__free_unpacked(after, NULL);
        free(r1);
        r1 = r3;
        l1 = l3;
    }
    free(r1);
    free(r2);
    service_worker_free(w1);
    service_worker_free(w2);
    service_free(svc);
}

/* ---- large quotes built later, on the caller's choice of thread ---- */

/* Quote every component on wk, a worker that defers large quotes. */
static void quote_all_on(service_worker *wk)
{
    uint8_t nonce[16] = {5};
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce = (ProtobufCBinaryData){.len = sizeof(nonce), .data = nonce};
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    uint8_t buf[128];
    size_t n = srtm__request__get_packed_size(&req);
    cr_assert_leq(n, sizeof(buf));
    srtm__request__pack(&req, buf);
    (void)service_worker_handle(wk, buf, n, &peer);
}

Test(report_cache, large_quotes_are_built_later_from_their_cut, .timeout = 120)
{
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    service_quota q;
    service_quota_unlimited(&q);
    service_set_quota(svc, &q);
    service_set_identity(svc, &ident, true);
    service_worker *wk = NULL, *other = NULL;
    cr_assert_eq(service_worker_new(svc, &wk), SRTM_OK);
    cr_assert_eq(service_worker_new(svc, &other), SRTM_OK);
    service_worker_defer_large_quotes(wk);
    srtm_cap a = reg(other, "a");
    /* A small table: answered at once. */
    quote_all_on(wk);
    cr_expect_not(service_worker_build_pending(wk), "a quote of a small table was deferred");
    cr_expect(service_worker_quote_pending(wk));
    char name[32];
    for (unsigned i = 0; i < SERVICE_BUILD_FROM; i++) {
        snprintf(name, sizeof(name), "n%u", i);
        reg(other, name);
    }
    /* A large one: deferred after its cut; the table goes on changing meanwhile (the lock
     * is free), and the report built later is the table at the cut. */
    quote_all_on(wk);
    cr_assert(service_worker_build_pending(wk), "a quote of a large table was not deferred");
    extend(other, "a", &a, 0, 0x77, 1);
    reg(other, "late");
    cr_assert_eq(atomic_load(&failures), 0, "%s", first_failure);
    (void)service_worker_build_quote(wk);
    cr_assert_eq(service_worker_status(wk), SRTM_OK);
    cr_assert(service_worker_quote_pending(wk));
    cr_assert_not(service_worker_build_pending(wk));
    size_t len = 0;
    const uint8_t *bytes = service_worker_report(wk, &len);
    Srtm__CcrReport *r = srtm__ccr_report__unpack(NULL, len, bytes);
    cr_assert_not_null(r);
    cr_expect_eq(r->n_components, SERVICE_BUILD_FROM + 2, "components at the cut: %zu",
                 r->n_components);
    for (size_t i = 0; i < r->n_components; i++)
        if (strcmp(r->components[i]->name, "a") == 0)
            cr_expect_eq(r->components[i]->ccrs[0]->n_log, 0,
                         "an extend after the cut is in the report");
    srtm__ccr_report__free_unpacked(r, NULL);
    service_worker_free(wk);
    service_worker_free(other);
    service_free(svc);
}
