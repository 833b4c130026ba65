/*
 * Unit tests of request dispatch (srtm/service.c) without any transport: requests are
 * packed with the protobuf-c generated API (or crafted byte by byte), handed to
 * service_call(), and the packed responses are unpacked and checked. Every refused
 * request must answer with the expected status and a message, carry no result, and
 * change nothing (checked through service_stats and reads before and after).
 */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <criterion/criterion.h>

#include "ccr.h"
#include "common.h"
#include "kat.h"
#include "service.h"
#include "srtm.pb-c.h"

static srtm_cap admin;
static srtm_service *svc;
static service_worker *w;
static const service_peer peer = {.uid = 1000, .pid = 4242};

/* The fixture's components: alpha (3 CCRs, some history) and beta (1 CCR, empty). */
static srtm_cap alpha_cap, beta_cap;
static uint64_t alpha_handle, beta_handle;

/* ---- calling the service ---- */

static Srtm__Response *call_bytes(const uint8_t *buf, size_t len)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    cr_assert_eq(service_call(w, buf, len, &peer, &out, &out_len), SRTM_OK);
    Srtm__Response *r = srtm__response__unpack(NULL, out_len, out);
    cr_assert_not_null(r, "the response does not unpack");
    cr_assert_eq((int)r->status, (int)service_worker_status(w));
    free(out);
    return r;
}

static uint8_t *pack_req(const Srtm__Request *req, size_t *len_out)
{
    size_t len = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(srtm__request__pack(req, buf), len);
    *len_out = len;
    return buf;
}

static Srtm__Response *call(const Srtm__Request *req)
{
    size_t len = 0;
    uint8_t *buf = pack_req(req, &len);
    Srtm__Response *r = call_bytes(buf, len);
    free(buf);
    return r;
}

static void req_init(Srtm__Request *r, const srtm_cap *cap)
{
    srtm__request__init(r);
    r->version = SRTM__VERSION__VERSION_1;
    if (cap != NULL) {
        r->capability.data = (uint8_t *)cap->bytes;
        r->capability.len = SRTM_CAP_LEN;
    }
}

/* Text for a `bytes` field: len bytes at data, which may include NUL bytes. */
static ProtobufCBinaryData text_len(const char *data, size_t len)
{
    return (ProtobufCBinaryData){.len = len, .data = (uint8_t *)data};
}

/* A C string's bytes, without its terminating NUL. */
static ProtobufCBinaryData text(const char *s)
{
    return text_len(s, strlen(s));
}

static void ref_name(Srtm__ComponentRef *ref, const char *name)
{
    srtm__component_ref__init(ref);
    ref->ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref->name = text(name);
}

static void ref_handle(Srtm__ComponentRef *ref, uint64_t handle)
{
    srtm__component_ref__init(ref);
    ref->ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
    ref->handle = handle;
}

static void expect_ok(Srtm__Response *r, Srtm__Response__ResultCase result, const char *what)
{
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "%s: %s (%s)", what,
                 srtm_strerror((srtm_err)r->status), r->message);
    cr_assert_eq(r->result_case, result, "%s: wrong result", what);
}

/* Status, a non-empty message, and no result (an error carries no partial result). */
static void expect_status(Srtm__Response *r, srtm_err want, const char *what)
{
    cr_assert_eq((int)r->status, (int)want, "%s: got %s (%s), want %s", what,
                 srtm_strerror((srtm_err)r->status), r->message, srtm_strerror(want));
    cr_assert(r->message != NULL && r->message[0] != '\0', "%s: no message", what);
    cr_assert_eq(r->result_case, SRTM__RESPONSE__RESULT__NOT_SET, "%s: error with a result", what);
}

/* ---- operations that must succeed ---- */

static Srtm__Response *register_req(const srtm_cap *auth, const char *name, uint32_t nccrs)
{
    Srtm__Request req;
    Srtm__RegisterRequest reg;
    req_init(&req, auth);
    srtm__register_request__init(&reg);
    reg.name = text(name);
    reg.ccr_count = nccrs;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &reg;
    return call(&req);
}

static uint64_t do_register(const char *name, uint32_t nccrs, srtm_cap *cap_out)
{
    Srtm__Response *r = register_req(&admin, name, nccrs);
    expect_ok(r, SRTM__RESPONSE__RESULT_REGISTER_COMPONENT, name);
    cr_assert_eq(r->register_component->capability.len, SRTM_CAP_LEN);
    memcpy(cap_out->bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    uint64_t handle = r->register_component->handle;
    srtm__response__free_unpacked(r, NULL);
    return handle;
}

/* An extend request under construction: n measurements of CCR 0 with distinct digests,
 * sent column-wise, for the component named name (or handle when name is NULL). The
 * event_types and descriptions columns are left out (all 0, all empty) until ext_event()
 * or ext_desc() sets an entry; then the whole column of n entries is sent. */
typedef struct ext_req {
    Srtm__Request req;
    Srtm__ExtendRequest ext;
    Srtm__ComponentRef ref;
    uint8_t (*digests)[SRTM_DIGEST_LEN]; /* n contiguous digests: the digests column */
    uint32_t *ccrs;                      /* n CCR indexes, all 0 at first */
    uint32_t *event_types;               /* n event types, all 0 at first */
    ProtobufCBinaryData *descs;          /* n descriptions, all empty at first */
    size_t n;
} ext_req;

static void ext_init(ext_req *e, const srtm_cap *cap, const char *name, uint64_t handle, size_t n)
{
    memset(e, 0, sizeof(*e));
    req_init(&e->req, cap);
    srtm__extend_request__init(&e->ext);
    if (name != NULL)
        ref_name(&e->ref, name);
    else
        ref_handle(&e->ref, handle);
    e->ext.component = &e->ref;
    e->digests = calloc(n ? n : 1, SRTM_DIGEST_LEN);
    e->ccrs = calloc(n ? n : 1, sizeof(*e->ccrs));
    e->event_types = calloc(n ? n : 1, sizeof(*e->event_types));
    e->descs = calloc(n ? n : 1, sizeof(*e->descs));
    cr_assert(e->digests != NULL && e->ccrs != NULL && e->event_types != NULL &&
              e->descs != NULL);
    static unsigned counter;
    for (size_t i = 0; i < n; i++) {
        counter++;
        for (unsigned b = 0; b < SRTM_DIGEST_LEN; b++)
            e->digests[i][b] = (uint8_t)(counter * 131 + b * 7 + i);
        e->descs[i] = text("");
    }
    e->n = n;
    e->ext.digests.data = (uint8_t *)e->digests;
    e->ext.digests.len = n * SRTM_DIGEST_LEN;
    e->ext.n_ccrs = n;
    e->ext.ccrs = e->ccrs;
    e->ext.n_event_types = 0;
    e->ext.event_types = e->event_types;
    e->ext.n_descriptions = 0;
    e->ext.descriptions = e->descs;
    e->req.op_case = SRTM__REQUEST__OP_EXTEND;
    e->req.extend = &e->ext;
}

/* Measurement i gets event type v; the event_types column (n entries) is sent. */
static void ext_event(ext_req *e, size_t i, uint32_t v)
{
    cr_assert_lt(i, e->n);
    e->event_types[i] = v;
    e->ext.n_event_types = e->n;
}

/* Measurement i gets the description of len bytes at d (which may hold NUL bytes); the
 * descriptions column (n entries) is sent. */
static void ext_desc_len(ext_req *e, size_t i, const char *d, size_t len)
{
    cr_assert_lt(i, e->n);
    e->descs[i] = text_len(d, len);
    e->ext.n_descriptions = e->n;
}

static void ext_desc(ext_req *e, size_t i, const char *d)
{
    ext_desc_len(e, i, d, strlen(d));
}

static void ext_free(ext_req *e)
{
    free(e->digests);
    free(e->ccrs);
    free(e->event_types);
    free(e->descs);
}

static void do_extend(const srtm_cap *cap, const char *name, uint32_t ccr, size_t n)
{
    ext_req e;
    ext_init(&e, cap, name, 0, n);
    for (size_t i = 0; i < n; i++)
        e.ccrs[i] = ccr;
    Srtm__Response *r = call(&e.req);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, name);
    srtm__response__free_unpacked(r, NULL);
    ext_free(&e);
}

static Srtm__Response *read_req(const char *name, uint64_t handle, const uint32_t *ccrs, size_t n)
{
    Srtm__Request req;
    Srtm__ReadRequest rd;
    Srtm__ComponentRef ref;
    req_init(&req, NULL);
    srtm__read_request__init(&rd);
    if (name != NULL)
        ref_name(&ref, name);
    else
        ref_handle(&ref, handle);
    rd.component = &ref;
    rd.n_ccrs = n;
    rd.ccrs = (uint32_t *)ccrs;
    req.op_case = SRTM__REQUEST__OP_READ;
    req.read = &rd;
    return call(&req);
}

static Srtm__Response *log_req(const char *name, uint32_t ccr, uint64_t offset, uint32_t max)
{
    Srtm__Request req;
    Srtm__LogRequest lg;
    Srtm__ComponentRef ref;
    req_init(&req, NULL);
    srtm__log_request__init(&lg);
    ref_name(&ref, name);
    lg.component = &ref;
    lg.ccr = ccr;
    lg.offset = offset;
    lg.max_entries = max;
    req.op_case = SRTM__REQUEST__OP_LOG;
    req.log = &lg;
    return call(&req);
}

static Srtm__Response *list_req(uint64_t after, bool platform, uint32_t max)
{
    Srtm__Request req;
    Srtm__ListRequest ls;
    req_init(&req, NULL);
    srtm__list_request__init(&ls);
    ls.after_handle = after;
    ls.include_platform = platform;
    ls.max_entries = max;
    req.op_case = SRTM__REQUEST__OP_LIST;
    req.list = &ls;
    return call(&req);
}

/* ---- "nothing changed" ---- */

typedef struct state {
    size_t comps;
    uint64_t seq;
    uint8_t alpha[3][SRTM_DIGEST_LEN];
    uint64_t alpha_len[3];
    uint8_t beta[SRTM_DIGEST_LEN];
    uint64_t beta_len;
} state;

static void take_state(state *s)
{
    memset(s, 0, sizeof(*s));
    service_stats(svc, &s->comps, &s->seq);
    Srtm__Response *r = read_req("alpha", 0, NULL, 0);
    expect_ok(r, SRTM__RESPONSE__RESULT_READ, "read alpha");
    cr_assert_eq(r->read->n_ccrs, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(r->read->ccrs[i]->value.len, SRTM_DIGEST_LEN);
        memcpy(s->alpha[i], r->read->ccrs[i]->value.data, SRTM_DIGEST_LEN);
        s->alpha_len[i] = r->read->ccrs[i]->log_length;
    }
    srtm__response__free_unpacked(r, NULL);
    r = read_req(NULL, beta_handle, NULL, 0);
    expect_ok(r, SRTM__RESPONSE__RESULT_READ, "read beta");
    memcpy(s->beta, r->read->ccrs[0]->value.data, SRTM_DIGEST_LEN);
    s->beta_len = r->read->ccrs[0]->log_length;
    srtm__response__free_unpacked(r, NULL);
}

static void assert_unchanged(const state *before, const char *what)
{
    state now;
    take_state(&now);
    cr_assert_eq(now.comps, before->comps, "%s: component count changed", what);
    cr_assert_eq(now.seq, before->seq, "%s: sequence number moved", what);
    cr_assert(memcmp(now.alpha, before->alpha, sizeof(now.alpha)) == 0,
              "%s: alpha's values changed", what);
    cr_assert(memcmp(now.alpha_len, before->alpha_len, sizeof(now.alpha_len)) == 0,
              "%s: alpha's logs changed", what);
    cr_assert(memcmp(now.beta, before->beta, sizeof(now.beta)) == 0, "%s: beta changed", what);
    cr_assert_eq(now.beta_len, before->beta_len, "%s: beta's log changed", what);
}

/* Send bytes that must be refused with want and change nothing. */
static void refused_bytes(const uint8_t *buf, size_t len, srtm_err want, const char *what)
{
    state before;
    take_state(&before);
    Srtm__Response *r = call_bytes(buf, len);
    expect_status(r, want, what);
    srtm__response__free_unpacked(r, NULL);
    assert_unchanged(&before, what);
}

static void refused(const Srtm__Request *req, srtm_err want, const char *what)
{
    size_t len = 0;
    uint8_t *buf = pack_req(req, &len);
    refused_bytes(buf, len, want, what);
    free(buf);
}

/* ---- fixture ---- */

static void setup(void)
{
    for (unsigned i = 0; i < SRTM_CAP_LEN; i++)
        admin.bytes[i] = (uint8_t)(0xc0 ^ (i * 5));
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    cr_assert_eq(service_worker_new(svc, &w), SRTM_OK);
    alpha_handle = do_register("alpha", 3, &alpha_cap);
    beta_handle = do_register("beta", 1, &beta_cap);
    do_extend(&alpha_cap, "alpha", 0, 2);
    do_extend(&alpha_cap, "alpha", 2, 1);
}

static void teardown(void)
{
    service_worker_free(w);
    service_free(svc);
    w = NULL;
    svc = NULL;
}

TestSuite(service, .init = setup, .fini = teardown);

/* ---- the protocol's status enum is srtm_err ---- */

Test(service, status_enum_equals_srtm_err)
{
    const struct {
        const char *name;
        srtm_err err;
    } map[] = {
        {"STATUS_OK", SRTM_OK},
        {"STATUS_INVALID", SRTM_E_INVALID},
        {"STATUS_MALFORMED", SRTM_E_MALFORMED},
        {"STATUS_VERSION", SRTM_E_VERSION},
        {"STATUS_TOO_BIG", SRTM_E_TOO_BIG},
        {"STATUS_NO_COMPONENT", SRTM_E_NO_COMPONENT},
        {"STATUS_EXISTS", SRTM_E_EXISTS},
        {"STATUS_DENIED", SRTM_E_DENIED},
        {"STATUS_NO_CCR", SRTM_E_NO_CCR},
        {"STATUS_RANGE", SRTM_E_RANGE},
        {"STATUS_NO_MEMORY", SRTM_E_NO_MEMORY},
        {"STATUS_TRANSPORT", SRTM_E_TRANSPORT},
        {"STATUS_TIMEOUT", SRTM_E_TIMEOUT},
        {"STATUS_INTERNAL", SRTM_E_INTERNAL},
        {"STATUS_CRYPTO", SRTM_E_CRYPTO},
        {"STATUS_UNSUPPORTED", SRTM_E_UNSUPPORTED},
        {"STATUS_IO", SRTM_E_IO},
        {"STATUS_END", SRTM_E_END},
        {"STATUS_TPM", SRTM_E_TPM},
        {"STATUS_QUOTA", SRTM_E_QUOTA},
    };
    const ProtobufCEnumDescriptor *d = &srtm__status__descriptor;
    cr_assert_eq(d->n_values, SRTM_ERR_COUNT);
    cr_assert_eq(SRTM_ARRAY_LEN(map), SRTM_ERR_COUNT);
    for (size_t i = 0; i < SRTM_ARRAY_LEN(map); i++) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(d, map[i].name);
        cr_assert_not_null(v, "%s missing from the protocol", map[i].name);
        cr_assert_eq(v->value, (int)map[i].err, "%s is %d in the protocol, %d in srtm_err",
                     map[i].name, v->value, (int)map[i].err);
    }
}

/* ---- register, extend, read ---- */

Test(service, register_answers_handle_capability_seq)
{
    size_t comps = 0;
    uint64_t seq = 0;
    service_stats(svc, &comps, &seq);
    cr_assert_eq(comps, 3);
    Srtm__Response *r = register_req(&admin, "gamma", 4);
    expect_ok(r, SRTM__RESPONSE__RESULT_REGISTER_COMPONENT, "register gamma");
    cr_assert_str_eq(r->message, "");
    const Srtm__RegisterResponse *rr = r->register_component;
    cr_assert_eq(rr->handle, 3);
    cr_assert_eq(rr->seq, seq + 1);
    cr_assert_eq(rr->capability.len, SRTM_CAP_LEN);
    cr_assert(memcmp(rr->capability.data, alpha_cap.bytes, SRTM_CAP_LEN) != 0);
    cr_assert(memcmp(rr->capability.data, admin.bytes, SRTM_CAP_LEN) != 0);
    srtm_cap gamma_cap;
    memcpy(gamma_cap.bytes, rr->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);

    size_t comps2 = 0;
    uint64_t seq2 = 0;
    service_stats(svc, &comps2, &seq2);
    cr_assert_eq(comps2, comps + 1);
    cr_assert_eq(seq2, seq + 1);

    /* Read by name and by handle: 4 zero CCRs with empty logs. */
    for (int by_handle = 0; by_handle < 2; by_handle++) {
        r = by_handle ? read_req(NULL, 3, NULL, 0) : read_req("gamma", 0, NULL, 0);
        expect_ok(r, SRTM__RESPONSE__RESULT_READ, "read gamma");
        cr_assert_eq(r->read->handle, 3);
        cr_assert_str_eq(r->read->name, "gamma");
        cr_assert_eq(r->read->seq, seq2);
        cr_assert_eq(r->read->n_ccrs, 4);
        uint8_t zero[SRTM_DIGEST_LEN] = {0};
        for (uint32_t i = 0; i < 4; i++) {
            const Srtm__CcrValue *v = r->read->ccrs[i];
            cr_assert_eq(v->index, i);
            cr_assert_eq(v->policy, SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE);
            cr_assert_eq(v->value.len, SRTM_DIGEST_LEN);
            cr_assert(memcmp(v->value.data, zero, SRTM_DIGEST_LEN) == 0);
            cr_assert_eq(v->log_length, 0);
        }
        srtm__response__free_unpacked(r, NULL);
    }
    /* The fresh capability authorises extends of gamma. */
    do_extend(&gamma_cap, "gamma", 3, 1);
    /* ccr_count 0 means 1. */
    srtm_cap delta_cap;
    do_register("delta", 0, &delta_cap);
    r = read_req("delta", 0, NULL, 0);
    expect_ok(r, SRTM__RESPONSE__RESULT_READ, "read delta");
    cr_assert_eq(r->read->n_ccrs, 1);
    srtm__response__free_unpacked(r, NULL);
}

static void expected_value(const uint8_t prev[32], const uint8_t digest[32], uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(buf, prev, 32);
    memcpy(buf + 32, digest, 32);
    cr_assert_eq(srtm_sha256(buf, sizeof(buf), out), SRTM_OK);
}

Test(service, extend_single_and_batch)
{
    state before;
    take_state(&before);
    /* One measurement, by handle. */
    ext_req e;
    ext_init(&e, &alpha_cap, NULL, alpha_handle, 1);
    e.ccrs[0] = 1;
    ext_event(&e, 0, 9);
    ext_desc(&e, 0, "single");
    Srtm__Response *r = call(&e.req);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "single extend");
    cr_assert_eq(r->extend->first_seq, before.seq + 1);
    cr_assert_eq(r->extend->last_seq, before.seq + 1);
    srtm__response__free_unpacked(r, NULL);
    uint8_t want1[32];
    expected_value(before.alpha[1], e.digests[0], want1);
    ext_free(&e);

    /* A batch mixing CCRs, by name. */
    ext_req b;
    ext_init(&b, &alpha_cap, "alpha", 0, 6);
    const uint32_t ccrs[6] = {2, 1, 2, 0, 2, 1};
    const char *descs[6] = {"", "one", "caf\xc3\xa9", "x", "\xf0\x9f\x94\x92", "last"};
    for (size_t i = 0; i < 6; i++) {
        b.ccrs[i] = ccrs[i];
        ext_event(&b, i, (uint32_t)(100 + i));
        ext_desc(&b, i, descs[i]);
    }
    r = call(&b.req);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "batch");
    cr_assert_eq(r->extend->first_seq, before.seq + 2);
    cr_assert_eq(r->extend->last_seq, before.seq + 7);
    srtm__response__free_unpacked(r, NULL);

    /* Values: the fold of each CCR's measurements, in batch order. */
    uint8_t want[3][32];
    memcpy(want[0], before.alpha[0], 32);
    memcpy(want[1], want1, 32);
    memcpy(want[2], before.alpha[2], 32);
    for (size_t i = 0; i < 6; i++)
        expected_value(want[ccrs[i]], b.digests[i], want[ccrs[i]]);
    state after;
    take_state(&after);
    for (int i = 0; i < 3; i++)
        cr_assert(memcmp(after.alpha[i], want[i], 32) == 0, "CCR %d", i);
    cr_assert_eq(after.alpha_len[0], before.alpha_len[0] + 1);
    cr_assert_eq(after.alpha_len[1], before.alpha_len[1] + 3);
    cr_assert_eq(after.alpha_len[2], before.alpha_len[2] + 3);
    cr_assert_eq(after.seq, before.seq + 7);

    /* The log of CCR 2 holds the batch's entries exactly. */
    r = log_req("alpha", 2, before.alpha_len[2], 0);
    expect_ok(r, SRTM__RESPONSE__RESULT_LOG, "log");
    cr_assert_eq(r->log->n_entries, 3);
    const size_t of2[3] = {0, 2, 4};
    for (size_t k = 0; k < 3; k++) {
        const Srtm__LogEntry *le = r->log->entries[k];
        size_t i = of2[k];
        cr_assert_eq(le->index, before.alpha_len[2] + k);
        cr_assert_eq(le->seq, before.seq + 2 + i);
        cr_assert_eq(le->digest.len, 32);
        cr_assert(memcmp(le->digest.data, b.digests[i], 32) == 0);
        cr_assert_eq(le->event_type, 100 + i);
        cr_assert_str_eq(le->description, descs[i]);
    }
    cr_assert(memcmp(r->log->value.data, want[2], 32) == 0);
    srtm__response__free_unpacked(r, NULL);
    ext_free(&b);
}

/* The whole independent KAT file through the protocol. */
Test(service, kat_over_protocol, .timeout = 60)
{
    kat k;
    kat_load(&k);
    char names[32][KAT_NAME_MAX + 8];
    srtm_cap caps[32];
    uint64_t handles[32];
    size_t n = 0, checked = 0;
    for (size_t i = 0; i < k.n; i++) {
        const kat_line *l = &k.lines[i];
        char name[KAT_NAME_MAX + 8];
        snprintf(name, sizeof(name), "kat-%s", l->name);
        size_t ci = 0;
        while (ci < n && strcmp(names[ci], name) != 0)
            ci++;
        if (l->kind == KAT_COMP) {
            cr_assert(ci == n && n < 32);
            strcpy(names[n], name);
            handles[n] = do_register(name, l->ccr, &caps[n]);
            n++;
            continue;
        }
        cr_assert_lt(ci, n, "ccr-kat.txt:%d: undeclared component", l->lineno);
        if (l->kind == KAT_EXT) {
            ext_req e;
            /* Alternate naming the component by name and by handle. */
            ext_init(&e, &caps[ci], i % 2 ? name : NULL, handles[ci], 1);
            e.ccrs[0] = l->ccr;
            memcpy(e.digests[0], l->bytes, SRTM_DIGEST_LEN);
            Srtm__Response *r = call(&e.req);
            expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "kat extend");
            srtm__response__free_unpacked(r, NULL);
            ext_free(&e);
        } else {
            uint32_t idx = l->ccr;
            Srtm__Response *r = read_req(name, 0, &idx, 1);
            expect_ok(r, SRTM__RESPONSE__RESULT_READ, "kat read");
            cr_assert_eq(r->read->n_ccrs, 1);
            cr_assert_eq(r->read->ccrs[0]->log_length, l->loglen, "ccr-kat.txt:%d", l->lineno);
            cr_assert(memcmp(r->read->ccrs[0]->value.data, l->bytes, SRTM_DIGEST_LEN) == 0,
                      "ccr-kat.txt:%d: value differs", l->lineno);
            srtm__response__free_unpacked(r, NULL);
            checked++;
        }
    }
    cr_assert_eq(checked, k.n_expect);
    kat_free(&k);
}

Test(service, read_selected_ccrs)
{
    state s;
    take_state(&s);
    const uint32_t idx[3] = {2, 0, 2};
    Srtm__Response *r = read_req("alpha", 0, idx, 3);
    expect_ok(r, SRTM__RESPONSE__RESULT_READ, "read 2,0,2");
    cr_assert_eq(r->read->n_ccrs, 3);
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(r->read->ccrs[i]->index, idx[i]);
        cr_assert(memcmp(r->read->ccrs[i]->value.data, s.alpha[idx[i]], 32) == 0);
        cr_assert_eq(r->read->ccrs[i]->log_length, s.alpha_len[idx[i]]);
    }
    srtm__response__free_unpacked(r, NULL);

    const uint32_t bad[2] = {0, 3};
    state before;
    take_state(&before);
    r = read_req("alpha", 0, bad, 2);
    expect_status(r, SRTM_E_NO_CCR, "read CCR 3 of 3");
    srtm__response__free_unpacked(r, NULL);
    static uint32_t many[SRTM_MAX_LOG_PAGE + 1];
    r = read_req("alpha", 0, many, SRTM_MAX_LOG_PAGE + 1);
    expect_status(r, SRTM_E_TOO_BIG, "read of too many CCRs");
    srtm__response__free_unpacked(r, NULL);
    r = read_req("nobody", 0, NULL, 0);
    expect_status(r, SRTM_E_NO_COMPONENT, "read unknown name");
    srtm__response__free_unpacked(r, NULL);
    r = read_req(NULL, 12345, NULL, 0);
    expect_status(r, SRTM_E_NO_COMPONENT, "read unknown handle");
    srtm__response__free_unpacked(r, NULL);
    assert_unchanged(&before, "refused reads");
}

/* ---- log paging ---- */

static void check_page(const char *name, uint32_t ccr, uint64_t offset, uint32_t max, size_t want_n,
                       uint64_t want_len)
{
    Srtm__Response *r = log_req(name, ccr, offset, max);
    expect_ok(r, SRTM__RESPONSE__RESULT_LOG, "log page");
    const Srtm__LogResponse *lr = r->log;
    cr_assert_eq(lr->n_entries, want_n, "offset %llu max %u: %zu entries, want %zu",
                 (unsigned long long)offset, max, lr->n_entries, want_n);
    cr_assert_eq(lr->next_offset, offset + want_n);
    cr_assert_eq(lr->log_length, want_len);
    cr_assert_eq(lr->value.len, SRTM_DIGEST_LEN);
    uint64_t prev_seq = 0;
    for (size_t i = 0; i < lr->n_entries; i++) {
        cr_assert_eq(lr->entries[i]->index, offset + i);
        cr_assert_gt(lr->entries[i]->seq, prev_seq);
        prev_seq = lr->entries[i]->seq;
    }
    srtm__response__free_unpacked(r, NULL);
}

Test(service, log_paging)
{
    do_extend(&beta_cap, "beta", 0, 25);
    check_page("beta", 0, 0, 10, 10, 25);
    check_page("beta", 0, 10, 10, 10, 25);
    check_page("beta", 0, 20, 10, 5, 25);
    check_page("beta", 0, 24, 1, 1, 25);
    check_page("beta", 0, 25, 10, 0, 25); /* offset == length: no entries */
    check_page("beta", 0, 0, 0, 25, 25);  /* max 0: a full page */

    /* Paging through gives the digests in order and the same as one page. */
    Srtm__Response *all = log_req("beta", 0, 0, 0);
    expect_ok(all, SRTM__RESPONSE__RESULT_LOG, "whole log");
    uint64_t off = 0;
    while (off < 25) {
        Srtm__Response *r = log_req("beta", 0, off, 7);
        expect_ok(r, SRTM__RESPONSE__RESULT_LOG, "page");
        for (size_t i = 0; i < r->log->n_entries; i++)
            cr_assert(memcmp(r->log->entries[i]->digest.data,
                             all->log->entries[off + i]->digest.data, 32) == 0);
        cr_assert_gt(r->log->next_offset, off);
        off = r->log->next_offset;
        srtm__response__free_unpacked(r, NULL);
    }
    srtm__response__free_unpacked(all, NULL);

    state before;
    take_state(&before);
    Srtm__Response *r = log_req("beta", 0, 26, 10);
    expect_status(r, SRTM_E_RANGE, "offset past the end");
    srtm__response__free_unpacked(r, NULL);
    r = log_req("beta", 0, UINT64_MAX, 10);
    expect_status(r, SRTM_E_RANGE, "offset UINT64_MAX");
    srtm__response__free_unpacked(r, NULL);
    r = log_req("beta", 1, 0, 10);
    expect_status(r, SRTM_E_NO_CCR, "log of CCR 1 of 1");
    srtm__response__free_unpacked(r, NULL);
    r = log_req("nobody", 0, 0, 10);
    expect_status(r, SRTM_E_NO_COMPONENT, "log of unknown component");
    srtm__response__free_unpacked(r, NULL);
    assert_unchanged(&before, "refused log requests");
    /* An empty log: offset 0 is its end. */
    check_page("alpha", 1, 0, 10, 0, 0);
}

Test(service, log_page_limit, .timeout = 30)
{
    do_extend(&beta_cap, "beta", 0, 1100);
    check_page("beta", 0, 0, 0, SRTM_MAX_LOG_PAGE, 1100);
    check_page("beta", 0, 0, 5000, SRTM_MAX_LOG_PAGE, 1100);
    check_page("beta", 0, 0, SRTM_MAX_LOG_PAGE, SRTM_MAX_LOG_PAGE, 1100);
    check_page("beta", 0, SRTM_MAX_LOG_PAGE, 0, 1100 - SRTM_MAX_LOG_PAGE, 1100);
    check_page("beta", 0, 1099, 0, 1, 1100);
}

/* ---- list paging ---- */

static void check_list(uint64_t after, bool platform, uint32_t max, uint64_t first, size_t n,
                       bool more)
{
    Srtm__Response *r = list_req(after, platform, max);
    expect_ok(r, SRTM__RESPONSE__RESULT_LIST, "list");
    cr_assert_eq(r->list->n_components, n, "after %llu max %u: %zu components, want %zu",
                 (unsigned long long)after, max, r->list->n_components, n);
    cr_assert_eq(r->list->more, more, "after %llu max %u: more", (unsigned long long)after, max);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(r->list->components[i]->handle, first + i);
    srtm__response__free_unpacked(r, NULL);
}

Test(service, list_paging)
{
    srtm_cap c;
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        do_register(name, (uint32_t)i + 1, &c);
    }
    /* Components: 0 platform, 1 alpha, 2 beta, 3..7 c0..c4. */
    Srtm__Response *r = list_req(0, false, 0);
    expect_ok(r, SRTM__RESPONSE__RESULT_LIST, "list");
    cr_assert_eq(r->list->n_components, 7);
    cr_assert(!r->list->more);
    const Srtm__ComponentInfo *ci = r->list->components[0];
    cr_assert_eq(ci->handle, 1);
    cr_assert_str_eq(ci->name, "alpha");
    cr_assert_eq(ci->ccr_count, 3);
    cr_assert_eq(ci->peer_uid, peer.uid);
    cr_assert_eq(ci->peer_pid, peer.pid);
    cr_assert_eq(ci->registered_seq, 2);
    ci = r->list->components[6];
    cr_assert_str_eq(ci->name, "c4");
    cr_assert_eq(ci->ccr_count, 5);
    size_t comps = 0;
    uint64_t seq = 0;
    service_stats(svc, &comps, &seq);
    cr_assert_eq(r->list->seq, seq);
    srtm__response__free_unpacked(r, NULL);

    r = list_req(0, true, 0);
    expect_ok(r, SRTM__RESPONSE__RESULT_LIST, "list with platform");
    cr_assert_eq(r->list->n_components, 8);
    cr_assert_str_eq(r->list->components[0]->name, CCR_PLATFORM_NAME);
    cr_assert_eq(r->list->components[0]->handle, 0);
    srtm__response__free_unpacked(r, NULL);

    check_list(0, false, 2, 1, 2, true);
    check_list(2, false, 2, 3, 2, true);
    check_list(4, false, 2, 5, 2, true);
    check_list(6, false, 2, 7, 1, false);
    check_list(6, false, 1, 7, 1, false);
    check_list(7, false, 2, 0, 0, false);
    check_list(0, true, 3, 0, 3, true);
    check_list(1000, false, 0, 0, 0, false);
}

/* "List handles greater than after_handle": nothing is greater than UINT64_MAX. */
Test(service, list_after_last_possible_handle_is_empty)
{
    check_list(UINT64_MAX, false, 0, 0, 0, false);
    check_list(UINT64_MAX, true, 0, 0, 0, false);
}

/* ---- malformed bytes ---- */

Test(service, bytes_that_are_not_protobuf)
{
    /* Field 1 with wire type 7 (there is no such wire type). */
    const uint8_t bad_wire[] = {0x0f, 0x01, 0x02};
    refused_bytes(bad_wire, sizeof(bad_wire), SRTM_E_MALFORMED, "wire type 7");
    /* A varint that never ends. */
    uint8_t ff[16];
    memset(ff, 0xff, sizeof(ff));
    refused_bytes(ff, sizeof(ff), SRTM_E_MALFORMED, "0xff bytes");
    /* A length-delimited field longer than the message. */
    const uint8_t overlong[] = {0x12, 0x40, 0x00, 0x01};
    refused_bytes(overlong, sizeof(overlong), SRTM_E_MALFORMED, "length past the end");
    /* Field number 0. */
    const uint8_t field0[] = {0x00, 0x01};
    refused_bytes(field0, sizeof(field0), SRTM_E_MALFORMED, "field number 0");
    /* Wire type mismatch: capability (bytes) sent as a varint. */
    const uint8_t mismatch[] = {0x08, 0x01, 0x10, 0x05};
    refused_bytes(mismatch, sizeof(mismatch), SRTM_E_MALFORMED, "bytes field as varint");

    /* Random bytes (fixed seed): never accepted, never a change. */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    uint8_t buf[300];
    state before;
    take_state(&before);
    for (int round = 0; round < 500; round++) {
        size_t len = 1 + (size_t)(round * 37 % 299);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        Srtm__Response *r = call_bytes(buf, len);
        cr_assert_neq(r->status, SRTM__STATUS__STATUS_OK, "random round %d accepted", round);
        cr_assert(r->message[0] != '\0', "random round %d: no message", round);
        cr_assert_eq(r->result_case, SRTM__RESPONSE__RESULT__NOT_SET);
        srtm__response__free_unpacked(r, NULL);
    }
    assert_unchanged(&before, "random bytes");
}

Test(service, truncated_valid_message)
{
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 3);
    ext_desc(&e, 1, "a description");
    size_t len = 0;
    uint8_t *buf = pack_req(&e.req, &len);
    /* Every proper prefix is refused and changes nothing. */
    state before;
    take_state(&before);
    for (size_t cut = 0; cut < len; cut++) {
        Srtm__Response *r = call_bytes(buf, cut);
        cr_assert_neq(r->status, SRTM__STATUS__STATUS_OK, "prefix of %zu bytes accepted", cut);
        cr_assert(r->message[0] != '\0');
        srtm__response__free_unpacked(r, NULL);
    }
    assert_unchanged(&before, "prefixes");
    refused_bytes(buf, len - 1, SRTM_E_MALFORMED, "last byte cut");
    refused_bytes(buf, len / 2, SRTM_E_MALFORMED, "cut in half");
    refused_bytes(buf, 0, SRTM_E_VERSION, "empty message (version 0)");
    /* The whole message is fine. */
    Srtm__Response *r = call_bytes(buf, len);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "whole message");
    srtm__response__free_unpacked(r, NULL);
    free(buf);
    ext_free(&e);
}

Test(service, wrong_protocol_versions)
{
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 1);
    e.req.version = SRTM__VERSION__VERSION_UNSPECIFIED;
    refused(&e.req, SRTM_E_VERSION, "version 0");
    e.req.version = (Srtm__Version)2;
    refused(&e.req, SRTM_E_VERSION, "version 2");
    e.req.version = (Srtm__Version)-1;
    refused(&e.req, SRTM_E_VERSION, "version -1");
    Srtm__Request none;
    req_init(&none, NULL);
    none.version = (Srtm__Version)2;
    refused(&none, SRTM_E_VERSION, "version 2 without an operation");
    e.req.version = SRTM__VERSION__VERSION_1;
    Srtm__Response *r = call(&e.req);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "version 1");
    srtm__response__free_unpacked(r, NULL);
    ext_free(&e);
}

/* A valid extend request followed by an unknown length-delimited field (number 1000)
 * that pads the message to exactly total bytes. */
static uint8_t *padded_request(const Srtm__Request *req, size_t total)
{
    size_t len = 0;
    uint8_t *inner = pack_req(req, &len);
    uint8_t *buf = malloc(total);
    cr_assert_not_null(buf);
    memcpy(buf, inner, len);
    free(inner);
    size_t pos = len;
    buf[pos++] = 0xc2; /* (1000 << 3) | 2 as a varint */
    buf[pos++] = 0x3e;
    size_t payload = total - pos - 4; /* a 4-byte length varint */
    cr_assert(payload >= (1u << 21) && payload < (1u << 28));
    for (int i = 0; i < 4; i++) {
        buf[pos++] = (uint8_t)((payload >> (7 * i)) & 0x7f) | (i < 3 ? 0x80 : 0);
    }
    memset(buf + pos, 'p', payload);
    cr_assert_eq(pos + payload, total);
    return buf;
}

Test(service, oversized_message, .timeout = 30)
{
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 1);
    uint8_t *big = padded_request(&e.req, SRTM_MAX_MESSAGE + 1);
    refused_bytes(big, SRTM_MAX_MESSAGE + 1, SRTM_E_TOO_BIG, "SRTM_MAX_MESSAGE + 1 bytes");
    free(big);
    /* The limit itself is allowed: the same request padded to exactly the limit. */
    uint8_t *max = padded_request(&e.req, SRTM_MAX_MESSAGE);
    Srtm__Response *r = call_bytes(max, SRTM_MAX_MESSAGE);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "exactly SRTM_MAX_MESSAGE bytes");
    srtm__response__free_unpacked(r, NULL);
    free(max);
    ext_free(&e);
}

/* ---- components and capabilities ---- */

Test(service, unknown_component)
{
    ext_req e;
    ext_init(&e, &alpha_cap, "gamma", 0, 1);
    refused(&e.req, SRTM_E_NO_COMPONENT, "extend unknown name");
    ext_free(&e);
    ext_init(&e, &alpha_cap, "alph", 0, 1);
    refused(&e.req, SRTM_E_NO_COMPONENT, "extend name prefix");
    ext_free(&e);
    ext_init(&e, &alpha_cap, "ALPHA", 0, 1);
    refused(&e.req, SRTM_E_NO_COMPONENT, "extend name in other case");
    ext_free(&e);
    const uint64_t handles[] = {3, 99, (uint64_t)1 << 32, UINT64_MAX};
    for (size_t i = 0; i < SRTM_ARRAY_LEN(handles); i++) {
        ext_init(&e, &alpha_cap, NULL, handles[i], 1);
        refused(&e.req, SRTM_E_NO_COMPONENT, "extend unknown handle");
        ext_free(&e);
    }
}

Test(service, missing_component_reference)
{
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 1);
    e.ext.component = NULL;
    refused(&e.req, SRTM_E_INVALID, "no component");
    Srtm__ComponentRef empty;
    srtm__component_ref__init(&empty);
    e.ext.component = &empty;
    refused(&e.req, SRTM_E_INVALID, "component reference with nothing set");
    ref_name(&empty, "");
    refused(&e.req, SRTM_E_INVALID, "empty component name");
    ext_free(&e);
}

Test(service, capability_checks)
{
    ext_req e;
    ext_init(&e, NULL, "alpha", 0, 1);
    refused(&e.req, SRTM_E_DENIED, "extend without a capability");
    ext_free(&e);

    srtm_cap wrong = alpha_cap;
    for (unsigned i = 0; i < SRTM_CAP_LEN; i += 31) {
        wrong = alpha_cap;
        wrong.bytes[i] ^= 0x01;
        ext_init(&e, &wrong, "alpha", 0, 1);
        refused(&e.req, SRTM_E_DENIED, "one bit of the capability flipped");
        ext_free(&e);
    }
    ext_init(&e, &beta_cap, "alpha", 0, 1);
    refused(&e.req, SRTM_E_DENIED, "another component's capability (by name)");
    ext_free(&e);
    ext_init(&e, &beta_cap, NULL, alpha_handle, 1);
    refused(&e.req, SRTM_E_DENIED, "another component's capability (by handle)");
    ext_free(&e);

    /* Capabilities of the wrong length, including a prefix of the right one. */
    ext_init(&e, &alpha_cap, "alpha", 0, 1);
    e.req.capability.len = SRTM_CAP_LEN - 1;
    refused(&e.req, SRTM_E_DENIED, "31-byte capability");
    uint8_t longer[SRTM_CAP_LEN + 1];
    memcpy(longer, alpha_cap.bytes, SRTM_CAP_LEN);
    longer[SRTM_CAP_LEN] = 0;
    e.req.capability.data = longer;
    e.req.capability.len = sizeof(longer);
    refused(&e.req, SRTM_E_DENIED, "33-byte capability");
    ext_free(&e);

    /* Registering needs the admin capability, not a component's. */
    Srtm__Request req;
    Srtm__RegisterRequest reg;
    req_init(&req, NULL);
    srtm__register_request__init(&reg);
    reg.name = text("intruder");
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &reg;
    refused(&req, SRTM_E_DENIED, "register without a capability");
    req_init(&req, &alpha_cap);
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &reg;
    refused(&req, SRTM_E_DENIED, "register with a component's capability");
    wrong = admin;
    wrong.bytes[SRTM_CAP_LEN - 1] ^= 0x80;
    req_init(&req, &wrong);
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &reg;
    refused(&req, SRTM_E_DENIED, "register with a wrong admin capability");
}

/* ---- names ---- */

Test(service, register_name_limits)
{
    static char name[SRTM_MAX_NAME + 2];
    memset(name, 'n', SRTM_MAX_NAME + 1);
    Srtm__Request req;
    Srtm__RegisterRequest reg;
    req_init(&req, &admin);
    srtm__register_request__init(&reg);
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &reg;
    reg.name = text(name);
    refused(&req, SRTM_E_TOO_BIG, "name of SRTM_MAX_NAME + 1 bytes");
    reg.name = text("");
    refused(&req, SRTM_E_INVALID, "empty name");
    reg.name = text("bad\xff");
    refused(&req, SRTM_E_INVALID, "name not UTF-8");
    reg.name = text("\xed\xa0\x80");
    refused(&req, SRTM_E_INVALID, "name with a surrogate");
    reg.name = text("dm/vm-b"); /* '/' separates the names of a path */
    refused(&req, SRTM_E_INVALID, "name with '/'");
    reg.name = text("alpha");
    refused(&req, SRTM_E_EXISTS, "duplicate name");
    reg.name = text(CCR_PLATFORM_NAME);
    refused(&req, SRTM_E_EXISTS, "the platform's name");
    reg.name = text("manyccrs");
    reg.ccr_count = SRTM_MAX_CCRS_PER_REGISTER + 1;
    refused(&req, SRTM_E_TOO_BIG, "too many CCRs");

    /* The limits themselves are fine. */
    name[SRTM_MAX_NAME] = '\0';
    srtm_cap c;
    cr_assert_eq(do_register(name, SRTM_MAX_CCRS_PER_REGISTER, &c), 3);
    Srtm__Response *r = read_req(name, 0, NULL, 0);
    expect_ok(r, SRTM__RESPONSE__RESULT_READ, "read the longest name");
    cr_assert_eq(r->read->n_ccrs, SRTM_MAX_CCRS_PER_REGISTER);
    srtm__response__free_unpacked(r, NULL);
}

Test(service, over_long_name_in_requests)
{
    static char name[SRTM_MAX_NAME + 2];
    memset(name, 'a', SRTM_MAX_NAME + 1);
    ext_req e;
    ext_init(&e, &alpha_cap, name, 0, 1);
    refused(&e.req, SRTM_E_TOO_BIG, "extend with a name of SRTM_MAX_NAME + 1 bytes");
    ext_free(&e);
    state before;
    take_state(&before);
    Srtm__Response *r = read_req(name, 0, NULL, 0);
    expect_status(r, SRTM_E_TOO_BIG, "read with an over-long name");
    srtm__response__free_unpacked(r, NULL);
    r = log_req(name, 0, 0, 0);
    expect_status(r, SRTM_E_TOO_BIG, "log with an over-long name");
    srtm__response__free_unpacked(r, NULL);
    assert_unchanged(&before, "over-long names");
}

/*
 * Names and descriptions sent to srtmd are `bytes`, so a text with an embedded NUL
 * travels whole (its length covers the NUL) and srtmd must refuse it (INVALID) instead of
 * cutting it short at the NUL. refused_holding() first checks that the packed request
 * really carries the whole text, NUL included, so that these tests cannot pass by
 * sending a shortened text.
 */
static void refused_holding(const Srtm__Request *req, const char *text_bytes, size_t text_len,
                            srtm_err want, const char *what)
{
    cr_assert_not_null(memchr(text_bytes, '\0', text_len), "%s: no NUL to send", what);
    size_t len = 0;
    uint8_t *buf = pack_req(req, &len);
    cr_assert_not_null(memmem(buf, len, text_bytes, text_len),
                       "%s: the packed request does not carry the whole text", what);
    refused_bytes(buf, len, want, what);
    free(buf);
}

Test(service, register_name_with_nul_refused)
{
    static const char evil[] = "evil\0alpha"; /* 10 bytes, the NUL included */
    Srtm__Request req;
    Srtm__RegisterRequest reg;
    req_init(&req, &admin);
    srtm__register_request__init(&reg);
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &reg;
    reg.name = text_len(evil, sizeof(evil) - 1);
    refused_holding(&req, evil, sizeof(evil) - 1, SRTM_E_INVALID, "name with an embedded NUL");
    Srtm__Response *r = read_req("evil", 0, NULL, 0);
    expect_status(r, SRTM_E_NO_COMPONENT, "a truncated name was registered");
    srtm__response__free_unpacked(r, NULL);
    /* A trailing NUL and a lone NUL are refused too. */
    reg.name = text_len(evil, 5);
    refused_holding(&req, evil, 5, SRTM_E_INVALID, "name with a trailing NUL");
    reg.name = text_len(evil + 4, 1);
    refused_holding(&req, evil + 4, 1, SRTM_E_INVALID, "name of one NUL byte");
}

Test(service, extend_name_with_nul_refused)
{
    static const char evil[] = "alpha\0x"; /* 7 bytes; must not be taken for "alpha" */
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 1);
    e.ref.name = text_len(evil, sizeof(evil) - 1);
    refused_holding(&e.req, evil, sizeof(evil) - 1, SRTM_E_INVALID,
                    "\"alpha\\0x\" for the component \"alpha\"");
    e.ref.name = text_len(evil, 6);
    refused_holding(&e.req, evil, 6, SRTM_E_INVALID, "\"alpha\\0\" for the component \"alpha\"");
    ext_free(&e);
}

/* ---- measurements ---- */

Test(service, description_limits)
{
    static char desc[SRTM_MAX_DESC + 2];
    memset(desc, 'd', SRTM_MAX_DESC + 1);
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 3);
    ext_desc(&e, 2, desc);
    refused(&e.req, SRTM_E_TOO_BIG, "description of SRTM_MAX_DESC + 1 bytes");
    ext_desc(&e, 2, "ok");
    ext_desc(&e, 1, "caf\xc3");
    refused(&e.req, SRTM_E_INVALID, "truncated UTF-8 description");
    ext_desc(&e, 1, "\xc0\x80");
    refused(&e.req, SRTM_E_INVALID, "overlong UTF-8 description");
    ext_desc(&e, 1, "\xf4\x90\x80\x80");
    refused(&e.req, SRTM_E_INVALID, "description past U+10FFFF");
    ext_desc(&e, 1, "\xff");
    refused(&e.req, SRTM_E_INVALID, "0xff in a description");
    /* The limit itself is fine and is logged exactly. */
    desc[SRTM_MAX_DESC] = '\0';
    ext_desc(&e, 1, desc);
    state before;
    take_state(&before);
    Srtm__Response *r = call(&e.req);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "description of SRTM_MAX_DESC bytes");
    srtm__response__free_unpacked(r, NULL);
    r = log_req("alpha", 0, before.alpha_len[0] + 1, 1);
    expect_ok(r, SRTM__RESPONSE__RESULT_LOG, "log");
    cr_assert_eq(r->log->n_entries, 1);
    cr_assert_str_eq(r->log->entries[0]->description, desc);
    srtm__response__free_unpacked(r, NULL);
    ext_free(&e);
}

/* A description is logged as sent or refused; never cut short at an embedded NUL. */
Test(service, description_with_nul_refused)
{
    static const char desc[] = "loaded /usr/lib/good.so\0/tmp/evil.so";
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 1);
    ext_desc_len(&e, 0, desc, sizeof(desc) - 1);
    refused_holding(&e.req, desc, sizeof(desc) - 1, SRTM_E_INVALID,
                    "description with an embedded NUL");
    ext_free(&e);
    /* Also as one description among several, and as a description of one NUL byte. */
    ext_init(&e, &alpha_cap, "alpha", 0, 3);
    ext_desc(&e, 0, "first");
    ext_desc_len(&e, 1, desc, sizeof(desc) - 1);
    ext_desc(&e, 2, "last");
    refused_holding(&e.req, desc, sizeof(desc) - 1, SRTM_E_INVALID,
                    "second of three descriptions with an embedded NUL");
    ext_desc_len(&e, 1, desc + 23, 1);
    refused_holding(&e.req, desc + 23, 1, SRTM_E_INVALID, "description of one NUL byte");
    ext_free(&e);
}

/* Measurement i is (ccrs[i], digests[i], event_types[i], descriptions[i]) whichever CCR it
 * lands on: with several CCRs interleaved in one column-wise batch, every log gets its
 * measurements in batch order with their own digest, event type and description, and a
 * description of exactly SRTM_MAX_DESC bytes comes back whole. */
Test(service, columns_round_trip_through_logs)
{
    /* SRTM_MAX_DESC bytes of two-byte UTF-8 (U+00E9), and of ASCII. */
    _Static_assert(SRTM_MAX_DESC % 2 == 0, "SRTM_MAX_DESC is odd");
    static char wide[SRTM_MAX_DESC + 1], ascii[SRTM_MAX_DESC + 1];
    for (size_t i = 0; i < SRTM_MAX_DESC; i += 2) {
        wide[i] = (char)0xc3;
        wide[i + 1] = (char)0xa9;
    }
    memset(ascii, 'A', SRTM_MAX_DESC);
    cr_assert_eq(strlen(wide), SRTM_MAX_DESC);
    enum { N = 8 };
    const uint32_t ccrs[N] = {2, 0, 1, 2, 2, 0, 1, 0};
    const uint32_t events[N] = {0, UINT32_MAX, 7, 0x80000000u, 1, 42, 0x7f, 0x80};
    const char *descs[N] = {wide, "", ascii, "x", "\xf0\x9f\x94\x92 lock", wide, "mid", ascii};

    /* variant 0: both optional columns; 1: event types only; 2: descriptions only;
     * 3: neither (event types 0, descriptions empty). */
    for (int variant = 0; variant < 4; variant++) {
        const bool with_events = variant == 0 || variant == 1;
        const bool with_descs = variant == 0 || variant == 2;
        state before;
        take_state(&before);
        ext_req e;
        ext_init(&e, &alpha_cap, "alpha", 0, N);
        for (size_t i = 0; i < N; i++) {
            e.ccrs[i] = ccrs[i];
            if (with_events)
                ext_event(&e, i, events[i]);
            if (with_descs)
                ext_desc(&e, i, descs[i]);
        }
        cr_assert_eq(e.ext.n_event_types, with_events ? N : 0);
        cr_assert_eq(e.ext.n_descriptions, with_descs ? N : 0);
        Srtm__Response *r = call(&e.req);
        expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "column-wise batch");
        cr_assert_eq(r->extend->first_seq, before.seq + 1);
        cr_assert_eq(r->extend->last_seq, before.seq + N);
        srtm__response__free_unpacked(r, NULL);

        uint8_t want[3][SRTM_DIGEST_LEN];
        memcpy(want, before.alpha, sizeof(want));
        for (size_t i = 0; i < N; i++)
            expected_value(want[ccrs[i]], e.digests[i], want[ccrs[i]]);
        for (uint32_t c = 0; c < 3; c++) {
            r = log_req("alpha", c, before.alpha_len[c], 0);
            expect_ok(r, SRTM__RESPONSE__RESULT_LOG, "log");
            size_t k = 0;
            for (size_t i = 0; i < N; i++) {
                if (ccrs[i] != c)
                    continue;
                cr_assert_lt(k, r->log->n_entries, "variant %d CCR %u: too few entries",
                             variant, c);
                const Srtm__LogEntry *le = r->log->entries[k];
                cr_assert_eq(le->index, before.alpha_len[c] + k);
                cr_assert_eq(le->seq, before.seq + 1 + i);
                cr_assert_eq(le->digest.len, SRTM_DIGEST_LEN);
                cr_assert(memcmp(le->digest.data, e.digests[i], SRTM_DIGEST_LEN) == 0,
                          "variant %d measurement %zu: digest", variant, i);
                cr_assert_eq(le->event_type, with_events ? events[i] : 0,
                             "variant %d measurement %zu: event type %u", variant, i,
                             le->event_type);
                const char *want_desc = with_descs ? descs[i] : "";
                cr_assert_eq(strlen(le->description), strlen(want_desc),
                             "variant %d measurement %zu: description of %zu bytes, want %zu",
                             variant, i, strlen(le->description), strlen(want_desc));
                cr_assert_str_eq(le->description, want_desc);
                k++;
            }
            cr_assert_eq(r->log->n_entries, k, "variant %d CCR %u: %zu entries, want %zu",
                         variant, c, r->log->n_entries, k);
            cr_assert_eq(r->log->log_length, before.alpha_len[c] + k);
            cr_assert(memcmp(r->log->value.data, want[c], SRTM_DIGEST_LEN) == 0,
                      "variant %d CCR %u: value", variant, c);
            srtm__response__free_unpacked(r, NULL);
        }
        ext_free(&e);
    }
}

/* The columns must agree: ccrs exactly n, event_types and descriptions n or none.
 * A disagreement is INVALID, found while validating the fields (before the component and
 * the capability are looked at), and changes nothing. */
Test(service, disagreeing_columns_refused)
{
    enum { N = 3 };
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, N + 1); /* room for columns of N + 1 entries */
    for (size_t i = 0; i < N + 1; i++) {
        e.ccrs[i] = (uint32_t)(i % 3);
        ext_event(&e, i, (uint32_t)(10 + i));
        ext_desc(&e, i, "d");
    }
    e.ext.digests.len = N * SRTM_DIGEST_LEN; /* n = N */
    const struct {
        size_t ccrs, events, descs;
        const char *what;
    } cases[] = {
        {N - 1, N, N, "one CCR index too few"},
        {N + 1, N, N, "one CCR index too many"},
        {0, N, N, "no CCR indexes"},
        {N - 1, 0, 0, "one CCR index too few, no optional columns"},
        {N + 1, 0, 0, "one CCR index too many, no optional columns"},
        {N, N - 1, N, "one event type too few"},
        {N, N + 1, N, "one event type too many"},
        {N, 1, 0, "one event type for three measurements"},
        {N, N, N - 1, "one description too few"},
        {N, N, N + 1, "one description too many"},
        {N, 0, 1, "one description for three measurements"},
    };
    for (size_t k = 0; k < SRTM_ARRAY_LEN(cases); k++) {
        e.ext.n_ccrs = cases[k].ccrs;
        e.ext.n_event_types = cases[k].events;
        e.ext.n_descriptions = cases[k].descs;
        refused(&e.req, SRTM_E_INVALID, cases[k].what);
        /* Validation comes before authorisation: still INVALID with another component's
         * capability, and for an unknown component. */
        e.req.capability.data = beta_cap.bytes;
        refused(&e.req, SRTM_E_INVALID, cases[k].what);
        e.req.capability.data = alpha_cap.bytes;
        ref_name(&e.ref, "nobody");
        refused(&e.req, SRTM_E_INVALID, cases[k].what);
        ref_name(&e.ref, "alpha");
    }
    /* The same columns made to agree are fine. */
    e.ext.n_ccrs = N;
    e.ext.n_event_types = N;
    e.ext.n_descriptions = N;
    state before;
    take_state(&before);
    Srtm__Response *r = call(&e.req);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "agreeing columns");
    cr_assert_eq(r->extend->first_seq, before.seq + 1);
    cr_assert_eq(r->extend->last_seq, before.seq + N);
    srtm__response__free_unpacked(r, NULL);
    ext_free(&e);
}

Test(service, batch_limits)
{
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 0);
    refused(&e.req, SRTM_E_INVALID, "empty batch");
    ext_free(&e);
    ext_init(&e, &alpha_cap, "alpha", 0, SRTM_MAX_BATCH + 1);
    refused(&e.req, SRTM_E_TOO_BIG, "batch of SRTM_MAX_BATCH + 1");
    ext_free(&e);
}

/* A full batch of full descriptions fits the message and the request arena. */
Test(service, largest_batch_accepted, .timeout = 60)
{
    static char desc[SRTM_MAX_DESC + 1];
    memset(desc, 'D', SRTM_MAX_DESC);
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, SRTM_MAX_BATCH);
    for (size_t i = 0; i < SRTM_MAX_BATCH; i++) {
        e.ccrs[i] = (uint32_t)(i % 3);
        ext_event(&e, i, UINT32_MAX);
        ext_desc_len(&e, i, desc, SRTM_MAX_DESC);
    }
    state before;
    take_state(&before);
    Srtm__Response *r = call(&e.req);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "full batch");
    cr_assert_eq(r->extend->first_seq, before.seq + 1);
    cr_assert_eq(r->extend->last_seq, before.seq + SRTM_MAX_BATCH);
    srtm__response__free_unpacked(r, NULL);
    ext_free(&e);
}

Test(service, bad_digests_and_ccr_indexes)
{
    ext_req e;
    ext_init(&e, &alpha_cap, "alpha", 0, 3);
    /* The digests column is n whole 32-byte digests for the n CCR indexes. */
    uint8_t d[4 * SRTM_DIGEST_LEN + 1] = {0};
    memcpy(d, e.digests, 3 * SRTM_DIGEST_LEN);
    e.ext.digests.data = d;
    e.ext.digests.len = 3 * SRTM_DIGEST_LEN - 1;
    refused(&e.req, SRTM_E_INVALID, "31-byte last digest");
    e.ext.digests.len = 2 * SRTM_DIGEST_LEN;
    refused(&e.req, SRTM_E_INVALID, "last digest missing");
    e.ext.digests.len = 0;
    refused(&e.req, SRTM_E_INVALID, "empty digests column");
    e.ext.digests.len = 3 * SRTM_DIGEST_LEN + 1;
    refused(&e.req, SRTM_E_INVALID, "33-byte last digest");
    e.ext.digests.len = 4 * SRTM_DIGEST_LEN;
    refused(&e.req, SRTM_E_INVALID, "a digest more than CCR indexes");
    e.ext.digests.data = (uint8_t *)e.digests;
    e.ext.digests.len = 3 * SRTM_DIGEST_LEN;
    e.ccrs[2] = 3;
    refused(&e.req, SRTM_E_NO_CCR, "CCR 3 of 3, last in the batch");
    e.ccrs[2] = 0;
    e.ccrs[0] = UINT32_MAX;
    refused(&e.req, SRTM_E_NO_CCR, "CCR UINT32_MAX, first in the batch");
    ext_free(&e);
    ext_init(&e, &beta_cap, "beta", 0, 1);
    e.ccrs[0] = 1;
    refused(&e.req, SRTM_E_NO_CCR, "CCR 1 of a one-CCR component");
    ext_free(&e);
}

Test(service, request_without_operation)
{
    Srtm__Request req;
    req_init(&req, &admin);
    refused(&req, SRTM_E_UNSUPPORTED, "no operation");
    /* An operation this daemon does not know (field 99, an empty message: tag
     * (99 << 3) | 2 = 794 = varint 0x9a 0x06). */
    const uint8_t unknown_op[] = {0x08, 0x01, 0x9a, 0x06, 0x00};
    refused_bytes(unknown_op, sizeof(unknown_op), SRTM_E_UNSUPPORTED, "unknown operation");
}

/* ---- allocation bombs ---- */

static long peak_rss_kib(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* A length or count as a 4-byte varint (not minimal for small values, which protobuf
 * accepts), so that the layout of a hand-made request is easy to count. */
static void put_varint4(uint8_t *buf, size_t *pos, size_t v)
{
    cr_assert_lt(v, (size_t)1 << 28);
    for (int i = 0; i < 4; i++)
        buf[(*pos)++] = (uint8_t)((v >> (7 * i)) & 0x7f) | (i < 3 ? 0x80 : 0);
}

/* The size of extend_bytes(ndig, nccrs, ndesc). */
static size_t extend_bytes_len(size_t ndig, size_t nccrs, size_t ndesc)
{
    const size_t body = 9 + (ndig ? 1 + 4 + ndig * SRTM_DIGEST_LEN : 0) +
                        (nccrs ? 1 + 4 + nccrs : 0) + 2 * ndesc;
    return 2 + 2 + SRTM_CAP_LEN + 1 + 4 + body;
}

/* Version 1, alpha's capability, and an ExtendRequest naming alpha with ndig distinct
 * digests, a packed ccrs column of nccrs one-byte varints (CCR 0; 4 bytes each once
 * decoded) and ndesc empty descriptions (0x2a 0x00 each: 2 bytes on the wire, a 16-byte
 * ProtobufCBinaryData once decoded). */
static uint8_t *extend_bytes(size_t ndig, size_t nccrs, size_t ndesc, size_t *len_out)
{
    static const uint8_t ref[9] = {0x0a, 0x07, 0x0a, 0x05, 'a', 'l', 'p', 'h', 'a'};
    const size_t len = extend_bytes_len(ndig, nccrs, ndesc);
    const size_t body = len - (2 + 2 + SRTM_CAP_LEN + 1 + 4);
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    size_t pos = 0;
    buf[pos++] = 0x08; /* version = 1 */
    buf[pos++] = 0x01;
    buf[pos++] = 0x12; /* capability */
    buf[pos++] = SRTM_CAP_LEN;
    memcpy(buf + pos, alpha_cap.bytes, SRTM_CAP_LEN);
    pos += SRTM_CAP_LEN;
    buf[pos++] = 0x5a; /* field 11 (extend), length-delimited */
    put_varint4(buf, &pos, body);
    memcpy(buf + pos, ref, sizeof(ref)); /* component = {name = "alpha"} */
    pos += sizeof(ref);
    if (ndig > 0) {
        buf[pos++] = 0x12; /* field 2 (digests) */
        put_varint4(buf, &pos, ndig * SRTM_DIGEST_LEN);
        for (size_t i = 0; i < ndig * SRTM_DIGEST_LEN; i++)
            buf[pos++] = (uint8_t)(i * 7 + i / SRTM_DIGEST_LEN);
    }
    if (nccrs > 0) {
        buf[pos++] = 0x1a; /* field 3 (ccrs), packed */
        put_varint4(buf, &pos, nccrs);
        memset(buf + pos, 0x00, nccrs);
        pos += nccrs;
    }
    for (size_t i = 0; i < ndesc; i++) {
        buf[pos++] = 0x2a; /* field 5 (descriptions): an empty description */
        buf[pos++] = 0x00;
    }
    cr_assert_eq(pos, len);
    *len_out = len;
    return buf;
}

/* The request must be answered with exactly want, change nothing, not make the peak
 * memory grow much, and leave the worker serving normal requests. */
static void bomb(size_t ndig, size_t nccrs, size_t ndesc, srtm_err want, const char *what)
{
    size_t len = 0;
    uint8_t *buf = extend_bytes(ndig, nccrs, ndesc, &len);
    cr_assert_leq(len, SRTM_MAX_MESSAGE, "%s: %zu bytes", what, len);
    long before_kib = peak_rss_kib();
    refused_bytes(buf, len, want, what);
    long grown = peak_rss_kib() - before_kib;
    cr_assert_lt(grown, 64 * 1024, "%s: peak memory grew by %ld KiB", what, grown);
    free(buf);
    do_extend(&alpha_cap, "alpha", 1, 2);
}

/* One measurement (a digest and a CCR index) followed by as many empty descriptions as
 * fit in the rest of one SRTM_MAX_MESSAGE message. */
static size_t most_descriptions(void)
{
    return (SRTM_MAX_MESSAGE - extend_bytes_len(1, 1, 0)) / 2;
}

Test(service, empty_submessage_bomb_is_refused_cleanly, .timeout = 30)
{
    /* About 2 million empty descriptions in 4 MiB: protobuf-c would need 16 bytes of
     * ProtobufCBinaryData per description (32 MiB) besides its bookkeeping per field
     * occurrence, over the per-request decode budget of 16 MiB; decoding fails inside the
     * budget and the answer is MALFORMED ("not a Request within the memory budget", step 2
     * of docs/protocol.md), before any field is looked at. */
    const size_t most = most_descriptions();
    cr_assert_gt(most, 2000000);
    bomb(1, 1, most, SRTM_E_MALFORMED, "4 MiB of empty descriptions");
    /* Fewer, so that decoding fits the budget: then validation refuses the batch, 200000
     * descriptions for 1 digest, as columns that disagree (INVALID). */
    bomb(1, 1, 200000, SRTM_E_INVALID, "200000 empty descriptions for one measurement");
    /* A batch of SRTM_MAX_BATCH + 1 measurements with empty descriptions: the batch size
     * (from the digests) is checked first, so TOO_BIG. */
    bomb(SRTM_MAX_BATCH + 1, SRTM_MAX_BATCH + 1, SRTM_MAX_BATCH + 1, SRTM_E_TOO_BIG,
         "SRTM_MAX_BATCH + 1 measurements with empty descriptions");
}

Test(service, packed_extend_ccrs_bomb_is_refused_cleanly, .timeout = 30)
{
    /* One digest and a packed ccrs column of as many one-byte varints as fit in one
     * message: 4194212 CCR indexes, 16776848 bytes once decoded as uint32_t. A packed
     * uint32 costs at most 4 bytes in memory per byte on the wire, so 4 MiB of it always
     * decodes within the 16 MiB budget (just), and validation then refuses 4194212 CCR
     * indexes for 1 digest as columns that disagree: INVALID. */
    const size_t most = SRTM_MAX_MESSAGE - extend_bytes_len(1, 0, 0) - 5;
    cr_assert_eq(extend_bytes_len(1, most, 0), SRTM_MAX_MESSAGE);
    /* A million CCR indexes: the same answer, far from the budget. */
    bomb(1, 1000000, 0, SRTM_E_INVALID, "a million CCR indexes for one measurement");

    /* The full message: the checks of bomb(), with the message checked last so that a
     * failure names what is wrong. Decoding uses the budget up to its last few hundred
     * bytes; an error message allocated in the request arena then does not fit, and the
     * answer would be INVALID with an empty message. */
    size_t len = 0;
    uint8_t *buf = extend_bytes(1, most, 0, &len);
    long before_kib = peak_rss_kib();
    state before;
    take_state(&before);
    Srtm__Response *r = call_bytes(buf, len);
    free(buf);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_INVALID,
                 "4 MiB of packed CCR indexes: got %s (%s)", srtm_strerror((srtm_err)r->status),
                 r->message);
    cr_assert_eq(r->result_case, SRTM__RESPONSE__RESULT__NOT_SET);
    char message[256];
    snprintf(message, sizeof(message), "%s", r->message);
    srtm__response__free_unpacked(r, NULL);
    assert_unchanged(&before, "4 MiB of packed CCR indexes");
    long grown = peak_rss_kib() - before_kib;
    cr_assert_lt(grown, 64 * 1024, "peak memory grew by %ld KiB", grown);
    do_extend(&alpha_cap, "alpha", 1, 2);
    cr_assert(message[0] != '\0',
              "4 MiB of packed CCR indexes: INVALID without a message (decoding filled the "
              "request arena, so set_message() could not allocate)");
}

Test(service, empty_measurement_in_a_batch_is_refused)
{
    /* Two measurements without digests (CCR indexes and empty descriptions only):
     * refused for the missing digests, not a crash. */
    size_t len = 0;
    uint8_t *buf = extend_bytes(0, 2, 2, &len);
    refused_bytes(buf, len, SRTM_E_INVALID, "measurements without digests");
    free(buf);
    /* And the smallest well-formed batch through the same encoder is accepted. */
    buf = extend_bytes(1, 1, 1, &len);
    Srtm__Response *r = call_bytes(buf, len);
    expect_ok(r, SRTM__RESPONSE__RESULT_EXTEND, "one measurement, hand-encoded");
    srtm__response__free_unpacked(r, NULL);
    free(buf);
}

Test(service, packed_ccr_list_bomb_is_refused_cleanly, .timeout = 30)
{
    /* A read request whose packed ccrs field holds ~4 MiB of one-byte varints. */
    const size_t n = SRTM_MAX_MESSAGE - 64;
    const size_t body = 9 + 1 + 4 + n; /* component ref, tag, length, payload */
    size_t len = 2 + 1 + 4 + body;
    uint8_t *buf = malloc(len);
    cr_assert_not_null(buf);
    size_t pos = 0;
    buf[pos++] = 0x08;
    buf[pos++] = 0x01;
    buf[pos++] = 0x62; /* field 12 (read), length-delimited */
    for (int i = 0; i < 4; i++)
        buf[pos++] = (uint8_t)((body >> (7 * i)) & 0x7f) | (i < 3 ? 0x80 : 0);
    const uint8_t ref[9] = {0x0a, 0x07, 0x0a, 0x05, 'a', 'l', 'p', 'h', 'a'};
    memcpy(buf + pos, ref, sizeof(ref));
    pos += sizeof(ref);
    buf[pos++] = 0x12; /* field 2 (ccrs), packed */
    for (int i = 0; i < 4; i++)
        buf[pos++] = (uint8_t)((n >> (7 * i)) & 0x7f) | (i < 3 ? 0x80 : 0);
    memset(buf + pos, 0x00, n);
    pos += n;
    cr_assert_eq(pos, len);
    long before_kib = peak_rss_kib();
    state before;
    take_state(&before);
    Srtm__Response *r = call_bytes(buf, len);
    cr_assert(r->status == SRTM__STATUS__STATUS_MALFORMED ||
                  r->status == SRTM__STATUS__STATUS_TOO_BIG,
              "got %s (%s)", srtm_strerror((srtm_err)r->status), r->message);
    cr_assert_eq(r->result_case, SRTM__RESPONSE__RESULT__NOT_SET);
    srtm__response__free_unpacked(r, NULL);
    assert_unchanged(&before, "packed ccrs bomb");
    cr_assert_lt(peak_rss_kib() - before_kib, 64 * 1024);
    free(buf);
}

/* ---- workers ---- */

Test(service, workers_share_state_and_survive_many_requests, .timeout = 60)
{
    service_worker *w2 = NULL;
    cr_assert_eq(service_worker_new(svc, &w2), SRTM_OK);
    state before;
    take_state(&before);
    for (int i = 0; i < 2000; i++) {
        if (i % 2 == 0) {
            do_extend(&beta_cap, "beta", 0, 1);
        } else {
            const uint8_t junk[] = {0x0f, (uint8_t)i};
            Srtm__Response *r = call_bytes(junk, sizeof(junk));
            cr_assert_eq(r->status, SRTM__STATUS__STATUS_MALFORMED);
            srtm__response__free_unpacked(r, NULL);
        }
    }
    /* The second worker sees the first one's work. */
    service_worker *first = w;
    w = w2;
    state after;
    take_state(&after);
    w = first;
    cr_assert_eq(after.beta_len, before.beta_len + 1000);
    cr_assert_eq(after.seq, before.seq + 1000);
    service_worker_free(w2);
    service_worker_free(NULL);
    service_free(NULL);
}
