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
