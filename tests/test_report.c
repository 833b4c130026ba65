/*
 * CCR reports for joint quotes, built by the service: what they contain, the selection
 * rules, the refusals, and that a report taken while another thread extends is one
 * consistent snapshot (every value is the replay of its log, no entry newer than the
 * report's sequence number).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "service.h"
#include "srtm.pb-c.h"

static srtm_cap admin = {{7, 7, 7}};
static srtm_service *svc;
static service_worker *w;
static const service_peer peer = {0, 0};

static void setup(void)
{
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    cr_assert_eq(service_worker_new(svc, &w), SRTM_OK);
    report_identity id = {.instance = {1, 2, 3, 4}, .reset_count = 5, .restart_count = 6};
    service_set_identity(svc, &id, true);
}

static void teardown(void)
{
    service_worker_free(w);
    service_free(svc);
}

TestSuite(report, .init = setup, .fini = teardown);

static Srtm__Response *call(service_worker *wk, Srtm__Request *req)
{
    req->version = SRTM__VERSION__VERSION_1;
    size_t n = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    cr_assert(buf != NULL);
    srtm__request__pack(req, buf);
    uint8_t *out = NULL;
    size_t on = 0;
    cr_assert_eq(service_call(wk, buf, n, &peer, &out, &on), SRTM_OK);
    free(buf);
    Srtm__Response *r = srtm__response__unpack(NULL, on, out);
    free(out);
    cr_assert(r != NULL);
    return r;
}

static ProtobufCBinaryData text(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static srtm_cap reg(const char *name, uint32_t nccrs)
{
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name = text(name);
    rr.ccr_count = nccrs;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    req.capability.data = admin.bytes;
    req.capability.len = SRTM_CAP_LEN;
    Srtm__Response *r = call(w, &req);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "register %s: %s", name, r->message);
    srtm_cap cap;
    memcpy(cap.bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);
    return cap;
}

static void extend(service_worker *wk, const char *name, const srtm_cap *cap, uint32_t ccr,
                   uint8_t tag, const char *desc)
{
    uint8_t d[32];
    memset(d, tag, sizeof(d));
    Srtm__ComponentRef ref;
    srtm__component_ref__init(&ref);
    ref.ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref.name = text(name);
    ProtobufCBinaryData dd = text(desc);
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = &ref;
    ex.digests.data = d;
    ex.digests.len = 32;
    ex.n_ccrs = 1;
    ex.ccrs = &ccr;
    ex.n_descriptions = 1;
    ex.descriptions = &dd;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    req.capability.data = (uint8_t *)cap->bytes;
    req.capability.len = SRTM_CAP_LEN;
    Srtm__Response *r = call(wk, &req);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "extend: %s", r->message);
    srtm__response__free_unpacked(r, NULL);
}

static const uint8_t nonce[16] = "0123456789abcdef";

/* Ask for a quote of the named components (none: all); return the status and, on
 * success, the report (caller frees). */
static bool no_closure;

static Srtm__Status quote(service_worker *wk, const char *const *names, size_t n,
                          size_t nonce_len, Srtm__CcrReport **out)
{
    Srtm__ComponentRef refs[8], *pr[8];
    cr_assert_leq(n, 8u);
    for (size_t i = 0; i < n; i++) {
        srtm__component_ref__init(&refs[i]);
        refs[i].ref_case = SRTM__COMPONENT_REF__REF_NAME;
        refs[i].name = text(names[i]);
        pr[i] = &refs[i];
    }
    uint8_t nb[80] = {0};
    memcpy(nb, nonce, sizeof(nonce));
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce.data = nb;
    q.nonce.len = nonce_len;
    q.n_components = n;
    q.components = pr;
    q.no_closure = no_closure;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    Srtm__Response *r = call(wk, &req);
    Srtm__Status st = r->status;
    if (st != SRTM__STATUS__STATUS_OK)
        cr_expect(r->message[0] != '\0', "refusal without a message");
    srtm__response__free_unpacked(r, NULL);
    if (st == SRTM__STATUS__STATUS_OK && out != NULL) {
        size_t len = 0;
        const uint8_t *bytes = service_worker_report(wk, &len);
        cr_assert(bytes != NULL && len > 0);
        *out = srtm__ccr_report__unpack(NULL, len, bytes);
        cr_assert(*out != NULL, "the report does not parse");
    }
    return st;
}

static void replay(const Srtm__ReportCcr *c, uint8_t out[32])
{
    uint8_t v[32] = {0};
    for (size_t i = 0; i < c->n_log; i++) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned int n = 0;
        cr_assert(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
                  EVP_DigestUpdate(ctx, v, 32) == 1 &&
                  EVP_DigestUpdate(ctx, c->log[i]->digest.data, c->log[i]->digest.len) == 1 &&
                  EVP_DigestFinal_ex(ctx, v, &n) == 1);
        EVP_MD_CTX_free(ctx);
    }
    memcpy(out, v, 32);
}

Test(report, contents_selection_and_identity)
{
    srtm_cap a = reg("vm-a", 2), b = reg("vm-b", 1);
    reg("vm-c", 1);
    extend(w, "vm-a", &a, 1, 0x11, "kernel");
    extend(w, "vm-a", &a, 1, 0x12, "");
    extend(w, "vm-b", &b, 0, 0x21, "initrd");
    Srtm__CcrReport *r = NULL;
    const char *sel[] = {"vm-b", "vm-a", "vm-b"}; /* out of order, with a duplicate */
    cr_assert_eq(quote(w, sel, 3, 16, &r), SRTM__STATUS__STATUS_OK);
    cr_expect_eq(r->format, 1);
    cr_expect_eq(r->reset_count, 5);
    cr_expect_eq(r->restart_count, 6);
    cr_assert_eq(r->srtm_instance.len, 16);
    cr_expect_eq(r->srtm_instance.data[3], 4);
    cr_expect_eq(r->seq, 7, "4 registrations (platform included) and 3 extends");
    /* The selection and its dependency closure (here the platform), each once. */
    cr_assert_eq(r->n_components, 3, "duplicates, unselected components or no closure");
    cr_expect_str_eq(r->components[0]->name, "platform");
    cr_expect_str_eq(r->components[1]->name, "vm-a");
    cr_expect_str_eq(r->components[2]->name, "vm-b");
    cr_expect_lt(r->components[1]->handle, r->components[2]->handle);
    cr_assert_eq(r->components[1]->n_depends_on, 1, "the edge to the parent is missing");
    cr_expect_eq(r->components[1]->depends_on[0], 0);
    cr_expect_eq(r->components[1]->parent, 0);
    const Srtm__ReportComponent *va = r->components[1];
    cr_assert_eq(va->n_ccrs, 2);
    cr_expect_eq(va->ccrs[0]->n_log, 0);
    cr_assert_eq(va->ccrs[1]->n_log, 2);
    cr_expect_str_eq(va->ccrs[1]->log[0]->description, "kernel");
    cr_expect_str_eq(va->ccrs[1]->log[1]->description, "");
    cr_expect_eq(va->ccrs[1]->log[1]->index, 1);
    for (size_t i = 0; i < 2; i++) {
        uint8_t v[32];
        replay(va->ccrs[i], v);
        cr_assert_eq(va->ccrs[i]->value.len, 32);
        cr_expect_arr_eq(va->ccrs[i]->value.data, v, 32, "CCR %zu is not its log's replay", i);
    }
    srtm__ccr_report__free_unpacked(r, NULL);
    /* Without the closure: exactly the selection. */
    no_closure = true;
    cr_assert_eq(quote(w, sel, 3, 16, &r), SRTM__STATUS__STATUS_OK);
    no_closure = false;
    cr_expect_eq(r->n_components, 2);
    srtm__ccr_report__free_unpacked(r, NULL);
    /* No selection: every component, platform included. */
    cr_assert_eq(quote(w, NULL, 0, 64, &r), SRTM__STATUS__STATUS_OK);
    cr_expect_eq(r->n_components, 4);
    cr_expect_str_eq(r->components[0]->name, "platform");
    srtm__ccr_report__free_unpacked(r, NULL);
}

Test(report, refusals)
{
    reg("vm-a", 1);
    const char *unknown[] = {"vm-a", "nobody"};
    cr_expect_eq(quote(w, unknown, 2, 16, NULL), SRTM__STATUS__STATUS_NO_COMPONENT);
    cr_expect_eq(quote(w, NULL, 0, 15, NULL), SRTM__STATUS__STATUS_INVALID, "15-byte nonce");
    cr_expect_eq(quote(w, NULL, 0, 65, NULL), SRTM__STATUS__STATUS_INVALID, "65-byte nonce");
    report_identity id = {{0}, 0, 0};
    service_set_identity(svc, &id, false);
    cr_expect_eq(quote(w, NULL, 0, 16, NULL), SRTM__STATUS__STATUS_UNSUPPORTED,
                 "a quote without a TPM");
    size_t len = 1;
    cr_expect(service_worker_report(w, &len) == NULL && len == 0,
              "a refused quote left a report behind");
}

typedef struct writer_arg {
    srtm_cap cap;
    volatile int stop;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    service_worker *ww = NULL;
    cr_assert_eq(service_worker_new(svc, &ww), SRTM_OK);
    for (unsigned i = 0; !a->stop && i < 200000; i++)
        extend(ww, "busy", &a->cap, i % 3, (uint8_t)i, "m");
    service_worker_free(ww);
    return NULL;
}

Test(report, snapshot_is_consistent_under_concurrent_extends)
{
    writer_arg a = {.cap = reg("busy", 3), .stop = 0};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, writer, &a), 0);
    const char *sel[] = {"busy"};
    for (int k = 0; k < 50; k++) {
        Srtm__CcrReport *r = NULL;
        cr_assert_eq(quote(w, sel, 1, 16, &r), SRTM__STATUS__STATUS_OK);
        const Srtm__ReportComponent *c = r->components[0];
        for (size_t i = 0; i < c->n_ccrs; i++) {
            uint8_t v[32];
            replay(c->ccrs[i], v);
            cr_expect_arr_eq(c->ccrs[i]->value.data, v, 32, "torn snapshot in round %d", k);
            for (size_t j = 0; j < c->ccrs[i]->n_log; j++)
                cr_expect_leq(c->ccrs[i]->log[j]->seq, r->seq, "entry newer than the report");
        }
        srtm__ccr_report__free_unpacked(r, NULL);
    }
    a.stop = 1;
    pthread_join(th, NULL);
}

/* ---- incremental reports (docs/protocol.md, "Incremental quotes") ---- */

TestSuite(incremental, .init = setup, .fini = teardown);

static const uint8_t our_instance[16] = {1, 2, 3, 4}; /* setup's identity */

static Srtm__ComponentRef *name_ref(Srtm__ComponentRef *ref, const char *name)
{
    srtm__component_ref__init(ref);
    ref->ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref->name = text(name);
    return ref;
}

/* Register name with nccrs CCRs, CCRs rev[0..nrev-1] REVERSIBLE, depending on dep (or
 * NULL), by the admin. */
static srtm_cap reg_mixed(const char *name, uint32_t nccrs, uint32_t *rev, size_t nrev,
                          const char *dep)
{
    Srtm__ComponentRef dref, *dp = &dref;
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name = text(name);
    rr.ccr_count = nccrs;
    rr.reversible = rev;
    rr.n_reversible = nrev;
    if (dep != NULL) {
        name_ref(&dref, dep);
        rr.depends_on = &dp;
        rr.n_depends_on = 1;
    }
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    req.capability.data = admin.bytes;
    req.capability.len = SRTM_CAP_LEN;
    Srtm__Response *r = call(w, &req);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "register %s: %s", name, r->message);
    srtm_cap cap;
    memcpy(cap.bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);
    return cap;
}

/* n measurements of CCR ccr of name in one batch; digest i is (tag, counter) so that
 * every measurement differs. */
static void extend_n(service_worker *wk, const char *name, const srtm_cap *cap, uint32_t ccr,
                     size_t n, uint8_t tag)
{
    static uint32_t counter;
    uint8_t *d = calloc(n, 32);
    uint32_t *ccrs = calloc(n, sizeof(*ccrs));
    cr_assert(d != NULL && ccrs != NULL);
    for (size_t i = 0; i < n; i++) {
        d[32 * i] = tag;
        counter++;
        memcpy(&d[32 * i + 1], &counter, sizeof(counter));
        ccrs[i] = ccr;
    }
    Srtm__ComponentRef ref;
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = name_ref(&ref, name);
    ex.digests.data = d;
    ex.digests.len = 32 * n;
    ex.n_ccrs = n;
    ex.ccrs = ccrs;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    req.capability.data = (uint8_t *)cap->bytes;
    req.capability.len = SRTM_CAP_LEN;
    Srtm__Response *r = call(wk, &req);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "extend: %s", r->message);
    srtm__response__free_unpacked(r, NULL);
    free(d);
    free(ccrs);
}

/* A quote of names[0..n-1] (none: all) asking for the report since (inst, since_seq);
 * the report's bytes (caller frees) and, when out is given, the parsed report. */
static uint8_t *quote_since_bytes(const char *const *names, size_t n, const uint8_t *inst,
                                  size_t inst_len, uint64_t since_seq, size_t *len_out,
                                  Srtm__CcrReport **out)
{
    Srtm__ComponentRef refs[4], *pr[4];
    cr_assert_leq(n, 4u);
    for (size_t i = 0; i < n; i++)
        pr[i] = name_ref(&refs[i], names[i]);
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce.data = (uint8_t *)nonce;
    q.nonce.len = sizeof(nonce);
    q.n_components = n;
    q.components = pr;
    q.no_closure = no_closure;
    q.since_instance.data = (uint8_t *)inst;
    q.since_instance.len = inst_len;
    q.since_seq = since_seq;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    Srtm__Response *r = call(w, &req);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "quote: %s", r->message);
    srtm__response__free_unpacked(r, NULL);
    size_t len = 0;
    const uint8_t *bytes = service_worker_report(w, &len);
    cr_assert(bytes != NULL && len > 0);
    uint8_t *copy = malloc(len);
    cr_assert_not_null(copy);
    memcpy(copy, bytes, len);
    if (out != NULL) {
        *out = srtm__ccr_report__unpack(NULL, len, copy);
        cr_assert(*out != NULL, "the report does not parse");
    }
    *len_out = len;
    return copy;
}

static Srtm__CcrReport *quote_since(const char *const *names, size_t n, const uint8_t *inst,
                                    size_t inst_len, uint64_t since_seq)
{
    size_t len = 0;
    Srtm__CcrReport *r = NULL;
    free(quote_since_bytes(names, n, inst, inst_len, since_seq, &len, &r));
    return r;
}

static const Srtm__ReportComponent *comp_named(const Srtm__CcrReport *r, const char *name)
{
    for (size_t i = 0; i < r->n_components; i++)
        if (strcmp(r->components[i]->name, name) == 0)
            return r->components[i];
    cr_assert_fail("%s is not in the report", name);
    return NULL;
}

/* The replay of entries [0, k) of c's log from 32 zero bytes. */
static void replay_prefix(const Srtm__ReportCcr *c, size_t k, uint8_t out[32])
{
    Srtm__ReportCcr part = *c;
    cr_assert_leq(k, c->n_log);
    part.n_log = k;
    replay(&part, out);
}

/* The replay of c's reported entries from its base value. */
static void replay_from_base(const Srtm__ReportCcr *c, uint8_t out[32])
{
    uint8_t v[32] = {0};
    if (c->log_offset > 0) {
        cr_assert_eq(c->base_value.len, 32);
        memcpy(v, c->base_value.data, 32);
    }
    for (size_t i = 0; i < c->n_log; i++) {
        uint8_t in[64];
        memcpy(in, v, 32);
        memcpy(in + 32, c->log[i]->digest.data, 32);
        unsigned int n = 0;
        cr_assert(EVP_Digest(in, sizeof(in), v, &n, EVP_sha256(), NULL) == 1);
    }
    memcpy(out, v, 32);
}

/* inc's CCR is full's from entry inc->log_offset on, with the value of the entries
 * before as base value. */
static void expect_continues(const Srtm__ReportCcr *inc, const Srtm__ReportCcr *full,
                             uint64_t offset, const char *what)
{
    cr_assert_eq(inc->log_offset, offset, "%s: log_offset %llu, want %llu", what,
                 (unsigned long long)inc->log_offset, (unsigned long long)offset);
    cr_assert_eq(inc->n_log + offset, full->n_log, "%s: %zu entries after %llu of %zu", what,
                 inc->n_log, (unsigned long long)offset, full->n_log);
    if (offset > 0) {
        uint8_t base[32];
        replay_prefix(full, offset, base);
        cr_assert_eq(inc->base_value.len, 32, "%s", what);
        cr_assert_arr_eq(inc->base_value.data, base, 32, "%s: base value is not the replay of "
                                                          "the entries left out", what);
    } else {
        cr_assert_eq(inc->base_value.len, 0, "%s: a base value without offset", what);
    }
    for (size_t i = 0; i < inc->n_log; i++) {
        const Srtm__LogEntry *a = inc->log[i], *b = full->log[offset + i];
        cr_assert_eq(a->index, offset + i, "%s: entry %zu has index %llu", what, i,
                     (unsigned long long)a->index);
        cr_assert_eq(a->seq, b->seq, "%s", what);
        cr_assert_arr_eq(a->digest.data, b->digest.data, 32, "%s", what);
        cr_assert_str_eq(a->description, b->description, "%s", what);
    }
    cr_assert_arr_eq(inc->value.data, full->value.data, 32, "%s: value", what);
    uint8_t v[32];
    replay_from_base(inc, v);
    cr_assert_arr_eq(inc->value.data, v, 32, "%s: value is not the replay from the base", what);
}

Test(incremental, irreversible_logs_after_since_with_their_base_value)
{
    uint32_t rev1 = 1;
    srtm_cap vm = reg_mixed("vm", 3, &rev1, 1, NULL);
    extend_n(w, "vm", &vm, 0, 600, 0xa0);
    extend_n(w, "vm", &vm, 1, 5, 0xb0);
    const char *sel[] = {"vm"};
    Srtm__CcrReport *first = quote_since(sel, 1, NULL, 0, 0);
    cr_assert_eq(first->since_seq, 0);
    uint64_t s1 = first->seq;
    extend_n(w, "vm", &vm, 0, 100, 0xa1);
    extend_n(w, "vm", &vm, 1, 3, 0xb1);
    extend_n(w, "vm", &vm, 2, 2, 0xc1);
    /* Incremental first, then full, at the same cut: the cache tells them apart. */
    Srtm__CcrReport *inc = quote_since(sel, 1, our_instance, 16, s1);
    Srtm__CcrReport *full = quote_since(sel, 1, NULL, 0, 0);
    cr_assert_eq(inc->seq, full->seq);
    cr_assert_eq(inc->since_seq, s1);
    cr_assert_eq(full->since_seq, 0);
    const Srtm__ReportComponent *ic = comp_named(inc, "vm"), *fc = comp_named(full, "vm");
    expect_continues(ic->ccrs[0], fc->ccrs[0], 600, "IRREVERSIBLE CCR 0");
    cr_assert_arr_eq(ic->ccrs[0]->base_value.data, comp_named(first, "vm")->ccrs[0]->value.data,
                     32, "the base value is not the value the first report had");
    expect_continues(ic->ccrs[1], fc->ccrs[1], 0, "REVERSIBLE CCR 1 (whole)");
    cr_assert_eq(ic->ccrs[1]->n_log, 8);
    expect_continues(ic->ccrs[2], fc->ccrs[2], 0, "CCR 2, nothing before since");
    /* Every other field as in the full report. */
    cr_assert_eq(inc->n_components, full->n_components);
    cr_assert_eq(ic->n_depends_on, fc->n_depends_on);
    cr_assert_eq(ic->n_dependency_changes, fc->n_dependency_changes);
    /* A since inside the log, at checkpoints and around them. */
    const Srtm__ReportCcr *f0 = fc->ccrs[0];
    static const size_t ks[] = {1, 255, 256, 257, 511, 512, 513, 699, 700};
    for (size_t i = 0; i < SRTM_ARRAY_LEN(ks); i++) {
        uint64_t since = f0->log[ks[i] - 1]->seq;
        Srtm__CcrReport *r = quote_since(sel, 1, our_instance, 16, since);
        char what[64];
        snprintf(what, sizeof(what), "since entry %zu", ks[i] - 1);
        expect_continues(comp_named(r, "vm")->ccrs[0], f0, ks[i], what);
        srtm__ccr_report__free_unpacked(r, NULL);
    }
    srtm__ccr_report__free_unpacked(first, NULL);
    srtm__ccr_report__free_unpacked(inc, NULL);
    srtm__ccr_report__free_unpacked(full, NULL);
}

/* app -> on added or removed by app itself (capability cap). */
static void depend(const srtm_cap *cap, const char *app, const char *on, bool remove)
{
    Srtm__ComponentRef cref, oref;
    Srtm__DependRequest dr = SRTM__DEPEND_REQUEST__INIT;
    dr.component = name_ref(&cref, app);
    dr.on = name_ref(&oref, on);
    dr.remove = remove;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_DEPEND;
    req.depend = &dr;
    req.capability.data = (uint8_t *)cap->bytes;
    req.capability.len = SRTM_CAP_LEN;
    Srtm__Response *resp = call(w, &req);
    cr_assert_eq(resp->status, SRTM__STATUS__STATUS_OK, "depend: %s", resp->message);
    srtm__response__free_unpacked(resp, NULL);
}

/* The target of a removed edge is judged as it was at the removal, which may lie before
 * since: its CCRs are whole in an incremental report that holds the removal record. */
Test(incremental, a_removal_target_is_whole)
{
    srtm_cap dep = reg_mixed("dep", 1, NULL, 0, NULL);
    srtm_cap app = reg_mixed("app", 1, NULL, 0, NULL);
    extend_n(w, "dep", &dep, 0, 300, 0xd0);
    extend_n(w, "app", &app, 0, 300, 0xe0);
    depend(&app, "app", "dep", false); /* app declares the edge, so app may remove it */
    depend(&app, "app", "dep", true);
    const char *sel[] = {"app"};
    Srtm__CcrReport *first = quote_since(sel, 1, NULL, 0, 0);
    extend_n(w, "dep", &dep, 0, 10, 0xd1);
    extend_n(w, "app", &app, 0, 10, 0xe1);
    Srtm__CcrReport *inc = quote_since(sel, 1, our_instance, 16, first->seq);
    Srtm__CcrReport *full = quote_since(sel, 1, NULL, 0, 0);
    cr_assert_eq(inc->since_seq, first->seq);
    cr_assert_eq(inc->n_components, 3, "platform, dep (a removed edge's target), app");
    expect_continues(comp_named(inc, "app")->ccrs[0], comp_named(full, "app")->ccrs[0], 300,
                     "app");
    expect_continues(comp_named(inc, "dep")->ccrs[0], comp_named(full, "dep")->ccrs[0], 0,
                     "dep, the removal's target");
    srtm__ccr_report__free_unpacked(inc, NULL);
    /* Quoted alone, dep is nobody's removal target in the report. */
    const char *dsel[] = {"dep"};
    inc = quote_since(dsel, 1, our_instance, 16, first->seq);
    expect_continues(comp_named(inc, "dep")->ccrs[0], comp_named(full, "dep")->ccrs[0], 300,
                     "dep alone");
    srtm__ccr_report__free_unpacked(inc, NULL);
    srtm__ccr_report__free_unpacked(first, NULL);
    srtm__ccr_report__free_unpacked(full, NULL);
}

/* Another run's instance, since_seq 0, a since_seq ahead of srtmd, and since_instance of
 * any other length get the full report, byte for byte; none is refused, none changes the
 * table. */
Test(incremental, anything_else_is_answered_in_full)
{
    srtm_cap vm = reg_mixed("vm", 1, NULL, 0, NULL);
    extend_n(w, "vm", &vm, 0, 300, 0x70);
    size_t full_len = 0, len = 0;
    uint8_t *full = quote_since_bytes(NULL, 0, NULL, 0, 0, &full_len, NULL);
    Srtm__CcrReport *fr = srtm__ccr_report__unpack(NULL, full_len, full);
    cr_assert_not_null(fr);
    uint64_t seq = fr->seq;
    srtm__ccr_report__free_unpacked(fr, NULL);
    uint8_t other[16], longer[17] = {1, 2, 3, 4};
    memcpy(other, our_instance, 16);
    other[15] ^= 1;
    struct {
        const uint8_t *inst;
        size_t len;
        uint64_t since;
        const char *what;
    } cases[] = {
        {other, 16, seq - 10, "another instance"},
        {our_instance, 16, 0, "since_seq 0"},
        {our_instance, 16, seq + 1, "since_seq beyond the report's"},
        {our_instance, 16, UINT64_MAX, "since_seq UINT64_MAX"},
        {our_instance, 5, seq - 10, "a 5-byte instance"},
        {longer, 17, seq - 10, "a 17-byte instance"},
        {NULL, 0, seq - 10, "no instance"},
    };
    for (size_t i = 0; i < SRTM_ARRAY_LEN(cases); i++) {
        uint8_t *got = quote_since_bytes(NULL, 0, cases[i].inst, cases[i].len, cases[i].since,
                                         &len, NULL);
        cr_assert_eq(len, full_len, "%s: not the full report", cases[i].what);
        cr_assert_arr_eq(got, full, len, "%s: not the full report", cases[i].what);
        free(got);
    }
    /* And the same cut still answers an incremental request incrementally. */
    Srtm__CcrReport *inc = quote_since(NULL, 0, our_instance, 16, seq - 10);
    cr_assert_eq(inc->seq, seq, "a since request changed the table");
    cr_assert_eq(inc->since_seq, seq - 10);
    cr_assert_eq(comp_named(inc, "vm")->ccrs[0]->log_offset, 290);
    srtm__ccr_report__free_unpacked(inc, NULL);
    /* since_seq equal to the cut: nothing after it, every IRREVERSIBLE value a base. */
    inc = quote_since(NULL, 0, our_instance, 16, seq);
    const Srtm__ReportCcr *c = comp_named(inc, "vm")->ccrs[0];
    cr_assert_eq(c->log_offset, 300);
    cr_assert_eq(c->n_log, 0);
    cr_assert_arr_eq(c->base_value.data, c->value.data, 32);
    srtm__ccr_report__free_unpacked(inc, NULL);
    free(full);
}

typedef struct inc_writer_arg {
    srtm_cap cap;
    volatile int stop;
} inc_writer_arg;

static void *inc_writer(void *p)
{
    inc_writer_arg *a = p;
    service_worker *ww = NULL;
    cr_assert_eq(service_worker_new(svc, &ww), SRTM_OK);
    for (unsigned i = 0; !a->stop && i < 20000; i++)
        extend_n(ww, "busy", &a->cap, i % 2, 1 + i % 37, (uint8_t)i);
    service_worker_free(ww);
    return NULL;
}

/* Incremental reports taken while another thread extends: each is one snapshot (its
 * values the replay from the base value, no entry newer than the report, the first
 * reported entry the first after since). */
Test(incremental, consistent_under_concurrent_extends)
{
    inc_writer_arg a = {.cap = reg_mixed("busy", 2, NULL, 0, NULL), .stop = 0};
    extend_n(w, "busy", &a.cap, 0, 1000, 0x10);
    const char *sel[] = {"busy"};
    Srtm__CcrReport *first = quote_since(sel, 1, NULL, 0, 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, inc_writer, &a), 0);
    for (int k = 0; k < 50; k++) {
        Srtm__CcrReport *r = quote_since(sel, 1, our_instance, 16, first->seq);
        cr_assert_eq(r->since_seq, first->seq);
        const Srtm__ReportComponent *c = comp_named(r, "busy");
        cr_assert_eq(c->ccrs[0]->log_offset, 1000);
        cr_assert_arr_eq(c->ccrs[0]->base_value.data,
                         comp_named(first, "busy")->ccrs[0]->value.data, 32);
        for (size_t i = 0; i < c->n_ccrs; i++) {
            uint8_t v[32];
            replay_from_base(c->ccrs[i], v);
            cr_expect_arr_eq(c->ccrs[i]->value.data, v, 32, "torn snapshot in round %d", k);
            for (size_t j = 0; j < c->ccrs[i]->n_log; j++) {
                cr_expect_leq(c->ccrs[i]->log[j]->seq, r->seq, "entry newer than the report");
                cr_expect_gt(c->ccrs[i]->log[j]->seq, first->seq, "entry before since");
            }
        }
        srtm__ccr_report__free_unpacked(r, NULL);
    }
    a.stop = 1;
    pthread_join(th, NULL);
    srtm__ccr_report__free_unpacked(first, NULL);
}
