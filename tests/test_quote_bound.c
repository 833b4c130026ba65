/*
 * Quotes are bounded before they are built: a selection naming the same deep component
 * many times costs one closure, each component is reported once, and a report that
 * would exceed SRTM_MAX_REPORT is refused before its structures are allocated (checked
 * through the process's peak resident memory, VmHWM). Also the bound itself: it is never
 * below the packed size of the report it bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ccr.h"
#include "graph.h"
#include "report.h"
#include "service.h"
#include "srtm.pb-c.h"

static srtm_cap admin = {{3, 1, 4, 1, 5}};
static srtm_service *svc;
static service_worker *w;
static const service_peer peer = {0, 0};

static void setup(void)
{
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    /* These tests are about reports larger than the default quotas let one component or
     * one chain grow (max-depth 16, 32 MiB per CCR): the quotas are lifted. */
    service_quota q;
    service_quota_unlimited(&q);
    service_set_quota(svc, &q);
    cr_assert_eq(service_worker_new(svc, &w), SRTM_OK);
    report_identity id = {.instance = {9}, .reset_count = 1, .restart_count = 2};
    service_set_identity(svc, &id, true);
}

static void teardown(void)
{
    service_worker_free(w);
    service_free(svc);
}

TestSuite(quote_bound, .init = setup, .fini = teardown);

/* The process's peak resident set in KiB. */
static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long kib = -1;
    while (kib < 0 && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kib) != 1)
            kib = -1;
    fclose(f);
    cr_assert_geq(kib, 0, "no VmHWM in /proc/self/status");
    return kib;
}

static Srtm__Response *call(Srtm__Request *req, const srtm_cap *cap)
{
    req->version = SRTM__VERSION__VERSION_1;
    if (cap != NULL) {
        req->capability.data = (uint8_t *)cap->bytes;
        req->capability.len = SRTM_CAP_LEN;
    }
    size_t n = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    cr_assert_not_null(buf);
    srtm__request__pack(req, buf);
    uint8_t *out = NULL;
    size_t on = 0;
    cr_assert_eq(service_call(w, buf, n, &peer, &out, &on), SRTM_OK);
    free(buf);
    Srtm__Response *r = srtm__response__unpack(NULL, on, out);
    free(out);
    cr_assert_not_null(r);
    return r;
}

/* Register name as a child of parent_handle (authorised by cap); its capability. */
static srtm_cap reg_child(const char *name, uint64_t parent_handle, const srtm_cap *cap)
{
    Srtm__ComponentRef parent;
    srtm__component_ref__init(&parent);
    parent.ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
    parent.handle = parent_handle;
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name = (ProtobufCBinaryData){.len = strlen(name), .data = (uint8_t *)name};
    rr.ccr_count = 1;
    rr.parent = parent_handle != 0 ? &parent : NULL;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    Srtm__Response *r = call(&req, cap);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "register %s: %s", name, r->message);
    srtm_cap out;
    memcpy(out.bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);
    return out;
}

/* A quote of the n components named by handle in handles; the status, and the report
 * (caller frees) on success; *message_out gets the refusal's message (caller frees). */
static Srtm__Status quote(const uint64_t *handles, size_t n, bool no_closure,
                          Srtm__CcrReport **out, char **message_out)
{
    Srtm__ComponentRef *refs = calloc(n ? n : 1, sizeof(*refs));
    Srtm__ComponentRef **pr = calloc(n ? n : 1, sizeof(*pr));
    cr_assert(refs != NULL && pr != NULL);
    for (size_t i = 0; i < n; i++) {
        srtm__component_ref__init(&refs[i]);
        refs[i].ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
        refs[i].handle = handles[i];
        pr[i] = &refs[i];
    }
    uint8_t nonce[16] = "quote-bound-0123";
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce.data = nonce;
    q.nonce.len = sizeof(nonce);
    q.n_components = n;
    q.components = pr;
    q.no_closure = no_closure;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    Srtm__Response *r = call(&req, NULL);
    Srtm__Status st = r->status;
    if (message_out != NULL)
        *message_out = strdup(r->message != NULL ? r->message : "");
    srtm__response__free_unpacked(r, NULL);
    free(refs);
    free(pr);
    if (st == SRTM__STATUS__STATUS_OK && out != NULL) {
        size_t len = 0;
        const uint8_t *bytes = service_worker_report(w, &len);
        cr_assert(bytes != NULL && len > 0);
        *out = srtm__ccr_report__unpack(NULL, len, bytes);
        cr_assert_not_null(*out, "the report does not parse");
    }
    return st;
}

#define CHAIN 20000u
#define REPEAT 1024u

/*
 * A chain of CHAIN children, each registered by the previous one, and a quote naming
 * the tail REPEAT times: one union closure (the whole chain and component 0), each
 * component reported once, and the quote's peak memory nowhere near REPEAT closures
 * (REPEAT * CHAIN handles would be 160 MiB).
 */
Test(quote_bound, deep_chain_tail_named_1024_times, .timeout = 120)
{
    srtm_cap cap = admin;
    uint64_t parent = 0;
    char name[32];
    for (unsigned i = 1; i <= CHAIN; i++) {
        snprintf(name, sizeof(name), "c%u", i);
        srtm_cap next = reg_child(name, parent, &cap);
        cap = next;
        parent = i;
    }
    uint64_t *sel = malloc(REPEAT * sizeof(*sel));
    cr_assert_not_null(sel);
    for (size_t i = 0; i < REPEAT; i++)
        sel[i] = CHAIN;
    long before = vm_hwm_kib();
    Srtm__CcrReport *r = NULL;
    Srtm__Status st = quote(sel, REPEAT, false, &r, NULL);
    long grown = vm_hwm_kib() - before;
    free(sel);
    cr_assert_eq(st, SRTM__STATUS__STATUS_OK, "the quote was refused");
    cr_expect_lt(grown, 64 * 1024, "the quote raised the peak memory by %ld KiB", grown);
    cr_assert_eq(r->n_components, CHAIN + 1, "each component of the closure once");
    for (size_t i = 0; i < r->n_components; i++)
        cr_assert_eq(r->components[i]->handle, i, "component %zu out of order or twice", i);
    srtm__ccr_report__free_unpacked(r, NULL);
}

/* Without the closure, a selection of duplicates is the set of its components. */
Test(quote_bound, duplicates_without_closure_reported_once)
{
    srtm_cap a = reg_child("a", 0, &admin);
    reg_child("b", 1, &a);
    uint64_t sel[] = {2, 1, 2, 2, 1, 2};
    Srtm__CcrReport *r = NULL;
    cr_assert_eq(quote(sel, SRTM_ARRAY_LEN(sel), true, &r, NULL), SRTM__STATUS__STATUS_OK);
    cr_assert_eq(r->n_components, 2);
    cr_expect_eq(r->components[0]->handle, 1);
    cr_expect_eq(r->components[1]->handle, 2);
    srtm__ccr_report__free_unpacked(r, NULL);
}

/* Extend component handle (CCR 0) with batches of SRTM_MAX_BATCH measurements, each
 * with a description of SRTM_MAX_DESC bytes. */
static void extend_full_batches(uint64_t handle, const srtm_cap *cap, unsigned batches)
{
    static uint8_t digests[SRTM_MAX_BATCH][SRTM_DIGEST_LEN];
    static uint32_t ccrs[SRTM_MAX_BATCH];
    static ProtobufCBinaryData descs[SRTM_MAX_BATCH];
    static char desc[SRTM_MAX_DESC];
    memset(desc, 'd', sizeof(desc));
    for (size_t i = 0; i < SRTM_MAX_BATCH; i++) {
        memset(digests[i], (int)(i & 0xff), SRTM_DIGEST_LEN);
        descs[i] = (ProtobufCBinaryData){.len = sizeof(desc), .data = (uint8_t *)desc};
    }
    Srtm__ComponentRef ref;
    srtm__component_ref__init(&ref);
    ref.ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
    ref.handle = handle;
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = &ref;
    ex.digests = (ProtobufCBinaryData){.len = sizeof(digests), .data = &digests[0][0]};
    ex.n_ccrs = SRTM_MAX_BATCH;
    ex.ccrs = ccrs;
    ex.n_descriptions = SRTM_MAX_BATCH;
    ex.descriptions = descs;
    for (unsigned b = 0; b < batches; b++) {
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_EXTEND;
        req.extend = &ex;
        Srtm__Response *r = call(&req, cap);
        cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "extend: %s", r->message);
        srtm__response__free_unpacked(r, NULL);
    }
}

/*
 * 22 full batches (180,224 measurements of 256-byte descriptions, a report of about
 * 55 MB): the quote is refused with TOO_BIG and a message, and refused before the
 * report's structures (some 65 MB) are allocated: the peak memory barely moves.
 */
Test(quote_bound, oversized_report_refused_before_building, .timeout = 120)
{
    srtm_cap a = reg_child("big", 0, &admin);
    extend_full_batches(1, &a, 22);
    uint64_t sel[] = {1};
    long before = vm_hwm_kib();
    char *msg = NULL;
    Srtm__Status st = quote(sel, 1, false, NULL, &msg);
    long grown = vm_hwm_kib() - before;
    cr_expect_eq(st, SRTM__STATUS__STATUS_TOO_BIG, "got %d: %s", (int)st, msg);
    cr_expect(strstr(msg, "would exceed") != NULL, "unclear message: %s", msg);
    cr_expect_lt(grown, 8 * 1024, "the refused quote raised the peak memory by %ld KiB", grown);
    free(msg);
    size_t len = 1;
    cr_expect(service_worker_report(w, &len) == NULL && len == 0, "a report was left behind");
    /* A selection that fits is still answered. */
    reg_child("small", 0, &admin);
    uint64_t small[] = {2};
    cr_expect_eq(quote(small, 1, false, NULL, NULL), SRTM__STATUS__STATUS_OK);
}

/* A table built directly: components with logs (descriptions, revert markers, event
 * types), dependency edges and their records, a terminated component. */
static void build_table(ccr_table *t, graph *g)
{
    uint8_t h[SRTM_DIGEST_LEN] = {1};
    uint64_t handle = 0, seq = 0, gh = 0;
    for (unsigned i = 1; i <= 40; i++) {
        char name[SRTM_MAX_NAME + 1];
        memset(name, 'n', sizeof(name) - 1);
        int len = snprintf(name, sizeof(name), "component-%u", i);
        size_t name_len = (size_t)len;
        if (i % 5 == 0) { /* the longest name: the padding after the number */
            name[len] = 'n';
            name_len = SRTM_MAX_NAME;
        }
        cr_assert_eq(ccr_register_mixed(t, name, name_len, 1 + i % 4, 0x1, h, 0, 0, &handle,
                                        &seq), SRTM_OK);
        uint64_t deps[3] = {i - 1, i / 2, i / 3};
        size_t ndeps = i > 3 ? 3 : 1;
        cr_assert_eq(graph_add_node(g, deps, ndeps, &gh), SRTM_OK);
        cr_assert_eq(gh, handle);
        ccr_component *c = ccr_find_handle(t, handle);
        cr_assert_eq(ccr_dep_reserve(t, c, ndeps), SRTM_OK);
        for (size_t k = 0; k < ndeps; k++)
            ccr_dep_record(c, &(ccr_dep_change){.seq = seq, .on = deps[k], .actor = i - 1,
                                                .removed = k == 2});
        uint8_t d[SRTM_DIGEST_LEN];
        char desc[SRTM_MAX_DESC];
        memset(desc, 'x', sizeof(desc));
        ccr_measurement m[64];
        size_t nm = (i * 7) % 64;
        for (size_t k = 0; k < nm; k++) {
            memset(d, (int)k, sizeof(d));
            m[k] = (ccr_measurement){.ccr = (uint32_t)(k % (1 + i % 4)), .digest = d,
                                     .event_type = k % 3 ? 0 : 0xffffffffu, .desc = desc,
                                     .desc_len = (k * 37) % (SRTM_MAX_DESC + 1)};
        }
        uint64_t first = 0, last = 0, reverted = 0;
        if (nm > 0)
            cr_assert_eq(ccr_extend(t, c, m, nm, &first, &last), SRTM_OK);
        if (nm > 2 && ccr_comp_ccr_count(c) > 0)
            cr_assert_eq(ccr_revert(t, c, 0, 0, i - 1, &reverted, &seq), SRTM_OK);
        if (i % 7 == 0)
            cr_assert_eq(graph_terminate(g, handle), SRTM_OK);
    }
}

/* The bound is never below the packed report, for every component alone and for all. */
Test(quote_bound, size_bound_covers_the_packed_report)
{
    uint8_t h[SRTM_DIGEST_LEN] = {1};
    ccr_table *t = NULL;
    graph *g = NULL;
    cr_assert_eq(ccr_table_new(h, &t), SRTM_OK);
    cr_assert_eq(graph_new(&g), SRTM_OK);
    build_table(t, g);
    report_identity id = {.instance = {0xff}, .reset_count = 0xffffffffu,
                          .restart_count = 0xffffffffu};
    ccr_cut cut = ccr_table_cut(t);
    for (uint64_t i = 0; i <= ccr_table_count(t); i++) {
        size_t n = i < ccr_table_count(t) ? 1 : 0; /* the last round: every component */
        uint8_t *buf = NULL;
        size_t len = 0;
        uint64_t bound = 0;
        cr_assert_eq(report_size_bound(t, &cut, n ? &i : NULL, n, &bound), SRTM_OK);
        cr_assert_eq(report_build(t, &id, &i, n, &buf, &len), SRTM_OK);
        cr_expect_geq(bound, len, "selection %llu: bound %llu below the report's %zu bytes",
                      (unsigned long long)i, (unsigned long long)bound, len);
        cr_expect_leq(bound, 2 * len, "selection %llu: bound %llu, report %zu: too loose",
                      (unsigned long long)i, (unsigned long long)bound, len);
        free(buf);
    }
    graph_free(g);
    ccr_table_free(t);
}
