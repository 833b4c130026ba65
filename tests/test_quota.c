/*
 * srtmd's quotas (docs/protocol.md, "Limits") through the service without a transport:
 * each quota is filled to its (small) limit, the next request must be refused with
 * SRTM_E_QUOTA and a message naming the quota and its value, change nothing, and leave
 * the service answering and other components unaffected. The accounting itself (ccr.c
 * counters) is checked against ccr_entry_cost and ccr_component_cost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ccr.h"
#include "common.h"
#include "service.h"
#include "srtm.pb-c.h"

static srtm_cap admin;
static srtm_service *svc;
static service_worker *w;
static service_peer peer = {.uid = 1000, .pid = 4242};
static service_quota quota;

/* ---- calling the service ---- */

static Srtm__Response *call(const Srtm__Request *req)
{
    size_t len = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(srtm__request__pack(req, buf), len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    cr_assert_eq(service_call(w, buf, len, &peer, &out, &out_len), SRTM_OK);
    Srtm__Response *r = srtm__response__unpack(NULL, out_len, out);
    cr_assert_not_null(r);
    free(buf);
    free(out);
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

static ProtobufCBinaryData text(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

static void ref_name(Srtm__ComponentRef *ref, const char *name)
{
    srtm__component_ref__init(ref);
    ref->ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref->name = text(name);
}

/* The status of r; frees r. A refusal must carry a message and no result. */
static srtm_err status_of(Srtm__Response *r, char *msg, size_t size)
{
    srtm_err err = (srtm_err)r->status;
    if (err != SRTM_OK) {
        cr_assert(r->message != NULL && r->message[0] != '\0', "refusal without a message");
        cr_assert_eq(r->result_case, SRTM__RESPONSE__RESULT__NOT_SET, "refusal with a result");
    }
    if (msg != NULL)
        snprintf(msg, size, "%s", r->message != NULL ? r->message : "");
    srtm__response__free_unpacked(r, NULL);
    return err;
}

/* Register name (nccrs CCRs, CCR 0 reversible) under parent (NULL: the platform, by the
 * admin); *cap_out gets its capability on success. */
static srtm_err try_register(const char *name, const char *parent, const srtm_cap *auth,
                             srtm_cap *cap_out, char *msg, size_t size)
{
    Srtm__Request req;
    Srtm__RegisterRequest reg;
    Srtm__ComponentRef pref;
    uint32_t rev0 = 0;
    req_init(&req, auth);
    srtm__register_request__init(&reg);
    reg.name = text(name);
    reg.ccr_count = 2;
    reg.n_reversible = 1;
    reg.reversible = &rev0;
    if (parent != NULL) {
        ref_name(&pref, parent);
        reg.parent = &pref;
    }
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &reg;
    Srtm__Response *r = call(&req);
    if (r->status == SRTM__STATUS__STATUS_OK && cap_out != NULL)
        memcpy(cap_out->bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    return status_of(r, msg, size);
}

/* n measurements of CCR ccr of name, each with the description desc. */
static srtm_err try_extend(const char *name, const srtm_cap *cap, uint32_t ccr, size_t n,
                           const char *desc, char *msg, size_t size)
{
    static unsigned counter;
    Srtm__Request req;
    Srtm__ExtendRequest ext;
    Srtm__ComponentRef ref;
    uint8_t(*digests)[SRTM_DIGEST_LEN] = calloc(n, SRTM_DIGEST_LEN);
    uint32_t *ccrs = calloc(n, sizeof(*ccrs));
    ProtobufCBinaryData *descs = calloc(n, sizeof(*descs));
    cr_assert(digests != NULL && ccrs != NULL && descs != NULL);
    for (size_t i = 0; i < n; i++) {
        counter++;
        memcpy(digests[i], &counter, sizeof(counter));
        ccrs[i] = ccr;
        descs[i] = text(desc);
    }
    req_init(&req, cap);
    srtm__extend_request__init(&ext);
    ref_name(&ref, name);
    ext.component = &ref;
    ext.digests = (ProtobufCBinaryData){.len = n * SRTM_DIGEST_LEN, .data = (uint8_t *)digests};
    ext.n_ccrs = n;
    ext.ccrs = ccrs;
    ext.n_descriptions = n;
    ext.descriptions = descs;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ext;
    srtm_err err = status_of(call(&req), msg, size);
    free(digests);
    free(ccrs);
    free(descs);
    return err;
}

static srtm_err try_revert(const char *name, const srtm_cap *cap, uint32_t ccr, char *msg,
                           size_t size)
{
    Srtm__Request req;
    Srtm__RevertRequest rv;
    Srtm__ComponentRef ref;
    req_init(&req, cap);
    srtm__revert_request__init(&rv);
    ref_name(&ref, name);
    rv.component = &ref;
    rv.ccr = ccr;
    rv.to_seq = 0;
    req.op_case = SRTM__REQUEST__OP_REVERT;
    req.revert = &rv;
    return status_of(call(&req), msg, size);
}

/* What a refusal must leave as it was: every component's values and log lengths (both
 * CCRs of each), and the number of components and the global sequence number. */
typedef struct snapshot {
    size_t comps;
    uint64_t seq;
    uint8_t values[8][2][SRTM_DIGEST_LEN];
    uint64_t lens[8][2];
} snapshot;

static void take(snapshot *s)
{
    memset(s, 0, sizeof(*s));
    service_stats(svc, &s->comps, &s->seq);
    for (uint64_t h = 1; h < s->comps && h < 8; h++) {
        Srtm__Request req;
        Srtm__ReadRequest rd;
        Srtm__ComponentRef ref;
        req_init(&req, NULL);
        srtm__read_request__init(&rd);
        srtm__component_ref__init(&ref);
        ref.ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
        ref.handle = h;
        rd.component = &ref;
        req.op_case = SRTM__REQUEST__OP_READ;
        req.read = &rd;
        Srtm__Response *r = call(&req);
        cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "read %llu: %s",
                     (unsigned long long)h, r->message);
        for (size_t i = 0; i < r->read->n_ccrs && i < 2; i++) {
            memcpy(s->values[h][i], r->read->ccrs[i]->value.data, SRTM_DIGEST_LEN);
            s->lens[h][i] = r->read->ccrs[i]->log_length;
        }
        srtm__response__free_unpacked(r, NULL);
    }
}

static void expect_unchanged(const snapshot *before, const char *what)
{
    snapshot now;
    take(&now);
    cr_assert(memcmp(&now, before, sizeof(now)) == 0, "%s: the refusal changed state", what);
}

/* err is SRTM_E_QUOTA and msg names the quota with its value. */
static void expect_quota(srtm_err err, const char *msg, const char *needle, const char *what)
{
    cr_assert_eq(err, SRTM_E_QUOTA, "%s: got %s (%s), want a quota refusal", what,
                 srtm_strerror(err), msg);
    cr_assert(strncmp(msg, "quota: ", 7) == 0, "%s: message '%s'", what, msg);
    cr_assert_not_null(strstr(msg, needle), "%s: '%s' does not name '%s'", what, msg, needle);
}

/* ---- fixture: a service with the quotas set by each test before its first request ---- */

static void setup(void)
{
    for (unsigned i = 0; i < SRTM_CAP_LEN; i++)
        admin.bytes[i] = (uint8_t)(0x3c ^ (i * 7));
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    cr_assert_eq(service_worker_new(svc, &w), SRTM_OK);
    service_quota_defaults(&quota);
    peer.uid = 1000;
}

static void teardown(void)
{
    service_worker_free(w);
    service_free(svc);
}

TestSuite(quota, .init = setup, .fini = teardown);

static char msg[256];
static srtm_cap vm_cap, other_cap;

/* The quota in force, and two components: vm (the hog) and other. */
static void start(void)
{
    service_set_quota(svc, &quota);
    cr_assert_eq(try_register("vm", NULL, &admin, &vm_cap, msg, sizeof(msg)), SRTM_OK, "%s",
                 msg);
    cr_assert_eq(try_register("other", NULL, &admin, &other_cap, msg, sizeof(msg)), SRTM_OK);
}

Test(quota, log_entries_per_component)
{
    quota.log_entries_per_component = 10;
    start();
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 6, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(try_extend("vm", &vm_cap, 1, 4, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    snapshot before;
    take(&before);
    expect_quota(try_extend("vm", &vm_cap, 0, 1, "", msg, sizeof(msg)), msg,
                 "component 'vm' has 10 log entries, the change adds 1 "
                 "(log-entries-per-component 10)",
                 "one more");
    expect_unchanged(&before, "one more");
    expect_quota(try_revert("vm", &vm_cap, 0, msg, sizeof(msg)), msg,
                 "(log-entries-per-component 10)", "a revert marker");
    expect_unchanged(&before, "a revert marker");
    cr_assert_eq(try_extend("other", &other_cap, 0, 10, "", msg, sizeof(msg)), SRTM_OK, "%s",
                 msg);
}

Test(quota, batch_over_the_quota_lands_not_at_all)
{
    quota.log_entries_per_component = 10;
    start();
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 8, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    snapshot before;
    take(&before);
    expect_quota(try_extend("vm", &vm_cap, 0, 3, "", msg, sizeof(msg)), msg,
                 "has 8 log entries, the change adds 3 (log-entries-per-component 10)",
                 "a batch of 3 with room for 2");
    expect_unchanged(&before, "a batch of 3 with room for 2");
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 2, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
}

Test(quota, log_bytes_per_component)
{
    uint64_t cost = ccr_entry_cost(10);
    quota.log_bytes_per_component = 3 * cost;
    start();
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 2, "0123456789", msg, sizeof(msg)), SRTM_OK);
    cr_assert_eq(try_extend("vm", &vm_cap, 1, 1, "0123456789", msg, sizeof(msg)), SRTM_OK);
    snapshot before;
    take(&before);
    char want[128];
    snprintf(want, sizeof(want), "(log-bytes-per-component %llu)", (unsigned long long)(3 * cost));
    expect_quota(try_extend("vm", &vm_cap, 0, 1, "", msg, sizeof(msg)), msg, want,
                 "an entry without description");
    expect_unchanged(&before, "an entry without description");
    cr_assert_eq(try_extend("other", &other_cap, 0, 3, "0123456789", msg, sizeof(msg)),
                 SRTM_OK, "%s", msg);
}

Test(quota, log_entries_and_bytes_per_ccr)
{
    quota.log_entries_per_ccr = 3;
    quota.log_bytes_per_ccr = 3 * ccr_entry_cost(4);
    start();
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 3, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    snapshot before;
    take(&before);
    expect_quota(try_extend("vm", &vm_cap, 0, 1, "", msg, sizeof(msg)), msg,
                 "CCR 0 of 'vm' has 3 log entries, the change adds 1 (log-entries-per-ccr 3)",
                 "a fourth entry in CCR 0");
    expect_unchanged(&before, "a fourth entry in CCR 0");
    /* A batch spread over both CCRs is refused whole when one CCR is over. */
    expect_quota(try_extend("vm", &vm_cap, 1, 4, "", msg, sizeof(msg)), msg,
                 "(log-entries-per-ccr 3)", "four entries in CCR 1");
    expect_unchanged(&before, "four entries in CCR 1");
    cr_assert_eq(try_extend("vm", &vm_cap, 1, 2, "abcd", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    take(&before);
    expect_quota(try_extend("vm", &vm_cap, 1, 1, "abcde", msg, sizeof(msg)), msg,
                 "log-bytes-per-ccr", "CCR 1 over its bytes");
    expect_unchanged(&before, "CCR 1 over its bytes");
}

/* An IRREVERSIBLE CCR's checkpoint (every 256th entry) counts with the entry that
 * completes it: 256 entries do not fit a quota one byte short of their cost with it,
 * whether in one batch or the 256th alone; the REVERSIBLE CCR 0 keeps none. */
Test(quota, checkpoints_count_against_the_byte_quotas)
{
    uint64_t room = 256 * ccr_entry_cost(0) + CCR_CHECKPOINT_COST;
    quota.log_bytes_per_ccr = room - 1;
    start();
    snapshot before;
    take(&before);
    expect_quota(try_extend("vm", &vm_cap, 1, 256, "", msg, sizeof(msg)), msg,
                 "log-bytes-per-ccr", "256 entries and their checkpoint");
    expect_unchanged(&before, "256 entries and their checkpoint");
    cr_assert_eq(try_extend("vm", &vm_cap, 1, 255, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    take(&before);
    char want[128];
    snprintf(want, sizeof(want), "has %llu log bytes, the change adds %llu",
             (unsigned long long)(255 * ccr_entry_cost(0)),
             (unsigned long long)(ccr_entry_cost(0) + CCR_CHECKPOINT_COST));
    expect_quota(try_extend("vm", &vm_cap, 1, 1, "", msg, sizeof(msg)), msg, want,
                 "the 256th entry");
    expect_unchanged(&before, "the 256th entry");
    /* Without a checkpoint the same bytes fit: CCR 0 is REVERSIBLE. */
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 256, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    /* And with the quota at the cost, the 256th lands, its checkpoint accounted. */
    quota.log_bytes_per_ccr = room;
    service_set_quota(svc, &quota);
    cr_assert_eq(try_extend("vm", &vm_cap, 1, 1, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    take(&before);
    expect_quota(try_extend("vm", &vm_cap, 1, 1, "", msg, sizeof(msg)), msg,
                 "log-bytes-per-ccr", "the 257th entry");
    expect_unchanged(&before, "the 257th entry");
}

Test(quota, children_per_component)
{
    quota.children_per_component = 4; /* the platform: vm, other, c1, c2 */
    start();
    srtm_cap c1;
    cr_assert_eq(try_register("c1", NULL, &admin, &c1, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(try_register("c2", NULL, &admin, NULL, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    snapshot before;
    take(&before);
    expect_quota(try_register("c3", NULL, &admin, NULL, msg, sizeof(msg)), msg,
                 "component 'platform' has 4 children (children-per-component 4)",
                 "a fifth child");
    expect_unchanged(&before, "a fifth child");
    cr_assert_eq(try_register("c1-child", "c1", &c1, NULL, msg, sizeof(msg)), SRTM_OK, "%s",
                 msg);
}

Test(quota, depth)
{
    quota.depth = 3;
    start();
    srtm_cap a, b, cc;
    cr_assert_eq(try_register("a", "vm", &vm_cap, &a, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(try_register("b", "a", &a, &b, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    snapshot before;
    take(&before);
    expect_quota(try_register("c", "b", &b, &cc, msg, sizeof(msg)), msg,
                 "a child of 'b' would be at depth 4 (max-depth 3)", "depth 4");
    expect_unchanged(&before, "depth 4");
    cr_assert_eq(try_register("a2", "other", &other_cap, NULL, msg, sizeof(msg)), SRTM_OK);
}

Test(quota, components_per_uid)
{
    quota.components_per_uid = 3;
    start(); /* vm and other, by uid 1000 */
    cr_assert_eq(try_register("third", NULL, &admin, NULL, msg, sizeof(msg)), SRTM_OK);
    snapshot before;
    take(&before);
    expect_quota(try_register("fourth", NULL, &admin, NULL, msg, sizeof(msg)), msg,
                 "uid 1000 has registered 3 components (components-per-uid 3)", "a fourth");
    expect_unchanged(&before, "a fourth");
    peer.uid = 1001;
    cr_assert_eq(try_register("fourth", NULL, &admin, NULL, msg, sizeof(msg)), SRTM_OK,
                 "another uid: %s", msg);
}

/* Usage as srtmd lists it: per component and global. */
static const Srtm__ListResponse *list(Srtm__Response **keep)
{
    Srtm__Request req;
    Srtm__ListRequest ls;
    req_init(&req, NULL);
    srtm__list_request__init(&ls);
    ls.include_platform = true;
    req.op_case = SRTM__REQUEST__OP_LIST;
    req.list = &ls;
    *keep = call(&req);
    cr_assert_eq((*keep)->status, SRTM__STATUS__STATUS_OK);
    return (*keep)->list;
}

Test(quota, memory_budget_refuses_changes_never_reads)
{
    start();
    Srtm__Response *r = NULL;
    uint64_t stored = list(&r)->stored_bytes;
    srtm__response__free_unpacked(r, NULL);
    quota.memory_budget = stored + 5 * ccr_entry_cost(0);
    service_set_quota(svc, &quota);
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 5, "", msg, sizeof(msg)), SRTM_OK, "%s", msg);
    snapshot before;
    take(&before);
    char want[128];
    snprintf(want, sizeof(want), "srtmd stores %llu bytes, the change adds %zu (memory-budget %llu)",
             (unsigned long long)quota.memory_budget, ccr_entry_cost(0),
             (unsigned long long)quota.memory_budget);
    expect_quota(try_extend("other", &other_cap, 0, 1, "", msg, sizeof(msg)), msg, want,
                 "an entry past the budget");
    expect_quota(try_register("new", NULL, &admin, NULL, msg, sizeof(msg)), msg,
                 "(memory-budget", "a component past the budget");
    expect_unchanged(&before, "past the budget"); /* reads still answer */
    const Srtm__ListResponse *l = list(&r);
    cr_assert_eq(l->stored_bytes, quota.memory_budget);
    cr_assert_eq(l->memory_budget, quota.memory_budget);
    srtm__response__free_unpacked(r, NULL);
}

Test(quota, list_shows_usage)
{
    start();
    cr_assert_eq(try_extend("vm", &vm_cap, 0, 3, "abc", msg, sizeof(msg)), SRTM_OK);
    srtm_cap a;
    cr_assert_eq(try_register("a", "vm", &vm_cap, &a, msg, sizeof(msg)), SRTM_OK);
    Srtm__Response *r = NULL;
    const Srtm__ListResponse *l = list(&r);
    cr_assert_eq(l->n_components, 4);
    const Srtm__ComponentInfo *vm = l->components[1];
    cr_assert_str_eq(vm->name, "vm");
    cr_assert_eq(vm->log_entries, 3);
    cr_assert_eq(vm->log_bytes, 3 * ccr_entry_cost(3));
    cr_assert_eq(vm->children, 1);
    cr_assert_eq(l->components[0]->children, 2, "the platform's children: vm and other");
    cr_assert_eq(l->memory_budget, (uint64_t)512 << 20, "the default budget");
    srtm__response__free_unpacked(r, NULL);
}

/* A quote of name (with its closure); the status, and the report's size on success. */
static srtm_err quote(const char *name, size_t *len_out, char *why, size_t size)
{
    static const uint8_t nonce[16] = "0123456789abcdef";
    Srtm__ComponentRef ref, *pr = &ref;
    ref_name(&ref, name);
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce.data = (uint8_t *)nonce;
    q.nonce.len = sizeof(nonce);
    q.n_components = 1;
    q.components = &pr;
    Srtm__Request req;
    req_init(&req, NULL);
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    srtm_err err = status_of(call(&req), why, size);
    *len_out = 0;
    if (err == SRTM_OK)
        cr_assert_not_null(service_worker_report(w, len_out));
    return err;
}

/* The hog at its default byte quota (full descriptions): the report of a component that
 * depends on it (its child) still fits SRTM_MAX_REPORT, and the hog gets no further. */
Test(quota, a_component_at_its_byte_quota_still_fits_a_report, .timeout = 120)
{
    report_identity id = {.instance = {1}, .reset_count = 1, .restart_count = 1};
    service_set_identity(svc, &id, true); /* reports are built; nothing signs them here */
    start();
    char desc[SRTM_MAX_DESC + 1];
    memset(desc, 'd', SRTM_MAX_DESC);
    desc[SRTM_MAX_DESC] = '\0';
    uint64_t room = quota.log_bytes_per_ccr / ccr_entry_cost(SRTM_MAX_DESC);
    for (uint64_t done = 0; done < room;) {
        size_t n = room - done < SRTM_MAX_BATCH ? (size_t)(room - done) : SRTM_MAX_BATCH;
        cr_assert_eq(try_extend("vm", &vm_cap, 0, n, desc, msg, sizeof(msg)), SRTM_OK, "%s",
                     msg);
        done += n;
    }
    expect_quota(try_extend("vm", &vm_cap, 0, 1, desc, msg, sizeof(msg)), msg,
                 "(log-bytes-per-ccr 33554432)", "past the default");
    cr_assert_eq(try_register("vm-app", "vm", &vm_cap, NULL, msg, sizeof(msg)), SRTM_OK);
    size_t len = 0;
    cr_assert_eq(quote("vm-app", &len, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_log_info("report of vm-app and vm at its quota: %zu bytes", len);
    cr_expect_leq(len, SRTM_MAX_REPORT);
    cr_expect_leq(len, quota.log_bytes_per_ccr * 5 / 4, "report %zu bytes for %llu accounted",
                  len, (unsigned long long)quota.log_bytes_per_ccr);
}

/* ---- the accounting in the CCR table ---- */

TestSuite(quota_accounting);

Test(quota_accounting, counters_follow_every_change)
{
    static const uint8_t zero[SRTM_DIGEST_LEN];
    ccr_table *t = NULL;
    cr_assert_eq(ccr_table_new(zero, &t), SRTM_OK);
    uint64_t base = ccr_table_stored(t);
    cr_assert_eq(base, ccr_component_cost(strlen(CCR_PLATFORM_NAME), 1));
    uint64_t h = 0, seq = 0, h2 = 0;
    cr_assert_eq(ccr_register_mixed(t, "fw", 2, 2, 0x1, zero, 7, 1, &h, &seq), SRTM_OK);
    cr_assert_eq(ccr_register_mixed(t, "os", 2, 1, 0, zero, 7, 1, &h2, &seq), SRTM_OK);
    ccr_component *fw = ccr_find_handle(t, h), *os = ccr_find_handle(t, h2);
    ccr_comp_set_parent(t, fw, CCR_PLATFORM_HANDLE);
    ccr_comp_set_parent(t, os, h);
    cr_assert_eq(ccr_uid_components(t, 7), 2);
    cr_assert_eq(ccr_uid_components(t, 8), 0);
    base += ccr_component_cost(2, 2) + ccr_component_cost(2, 1);
    cr_assert_eq(ccr_table_stored(t), base);

    uint8_t d[SRTM_DIGEST_LEN] = {1};
    ccr_measurement m[3] = {{.ccr = 0, .digest = d, .desc = "hello", .desc_len = 5},
                            {.ccr = 1, .digest = d},
                            {.ccr = 0, .digest = d, .desc = "x", .desc_len = 1}};
    uint64_t first = 0, last = 0;
    cr_assert_eq(ccr_extend(t, fw, m, 3, &first, &last), SRTM_OK);
    uint64_t e = 0, b = 0;
    uint32_t children = 0, depth = 0;
    ccr_comp_usage(fw, &e, &b, &children, &depth);
    uint64_t want = ccr_entry_cost(5) + ccr_entry_cost(0) + ccr_entry_cost(1);
    cr_assert_eq(e, 3);
    cr_assert_eq(b, want);
    cr_assert_eq(children, 1);
    cr_assert_eq(depth, 1);
    cr_assert_eq(ccr_usage(fw, 0, &e, &b), SRTM_OK);
    cr_assert_eq(e, 2);
    cr_assert_eq(b, ccr_entry_cost(5) + ccr_entry_cost(1));
    cr_assert_eq(ccr_usage(fw, 2, &e, &b), SRTM_E_NO_CCR);
    cr_assert_eq(ccr_table_stored(t), base + want);

    /* A refused batch (CCR 5 does not exist) counts nothing. */
    m[1].ccr = 5;
    cr_assert_eq(ccr_extend(t, fw, m, 3, &first, &last), SRTM_E_NO_CCR);
    cr_assert_eq(ccr_table_stored(t), base + want);

    /* A revert marker is one more entry without description. */
    uint64_t reverted = 0;
    cr_assert_eq(ccr_revert(t, fw, 0, 0, h, &reverted, &seq), SRTM_OK);
    ccr_comp_usage(fw, &e, &b, &children, &depth);
    cr_assert_eq(e, 4);
    cr_assert_eq(b, want + ccr_entry_cost(0));
    cr_assert_eq(ccr_table_stored(t), base + want + ccr_entry_cost(0));
    ccr_comp_usage(os, &e, &b, &children, &depth);
    cr_assert_eq(e, 0);
    cr_assert_eq(depth, 2);
    ccr_table_free(t);
}
