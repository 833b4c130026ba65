/*
 * Hierarchical integrity management in the service: parents register children with
 * their dependencies, the rule for who may change a component's dependencies (the
 * paper's defence against spurious dependencies), cycles, reversible CCRs and revert,
 * termination, and graph reads. Every refusal is checked to change nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "service.h"
#include "srtm.pb-c.h"

static srtm_cap admin = {{9, 9, 9}};
static srtm_service *svc;
static service_worker *w;
static const service_peer peer = {0, 0};

static void setup(void)
{
    cr_assert_eq(service_new(&admin, &svc), SRTM_OK);
    cr_assert_eq(service_worker_new(svc, &w), SRTM_OK);
}

static void teardown(void)
{
    service_worker_free(w);
    service_free(svc);
}

TestSuite(him, .init = setup, .fini = teardown);

static Srtm__Response *call(Srtm__Request *req, const srtm_cap *cap)
{
    req->version = SRTM__VERSION__VERSION_1;
    if (cap != NULL) {
        req->capability.data = (uint8_t *)cap->bytes;
        req->capability.len = SRTM_CAP_LEN;
    }
    size_t n = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    cr_assert(buf != NULL);
    srtm__request__pack(req, buf);
    uint8_t *out = NULL;
    size_t on = 0;
    cr_assert_eq(service_call(w, buf, n, &peer, &out, &on), SRTM_OK);
    free(buf);
    Srtm__Response *r = srtm__response__unpack(NULL, on, out);
    free(out);
    cr_assert(r != NULL);
    return r;
}

/* A ComponentRef by name, in static storage (up to 8 live at once). */
static Srtm__ComponentRef *ref(const char *name)
{
    static Srtm__ComponentRef refs[8];
    static int next;
    Srtm__ComponentRef *r = &refs[next++ % 8];
    srtm__component_ref__init(r);
    r->ref_case = SRTM__COMPONENT_REF__REF_NAME;
    r->name.data = (uint8_t *)name;
    r->name.len = strlen(name);
    return r;
}

static srtm_err status_of(Srtm__Response *r)
{
    srtm_err e = (srtm_err)r->status;
    if (e != SRTM_OK)
        cr_expect(r->message[0] != '\0', "refusal without a message");
    srtm__response__free_unpacked(r, NULL);
    return e;
}

/* Register name as a child of parent (NULL: component 0) authorised by auth, depending
 * also on deps; reversible: mask of CCR indexes. Returns the status; *cap_out set on OK. */
static srtm_err reg(const char *name, const char *parent, const srtm_cap *auth,
                    const char *const *deps, size_t ndeps, uint32_t nccrs, uint32_t rev_mask,
                    srtm_cap *cap_out)
{
    Srtm__ComponentRef *drefs[8];
    for (size_t i = 0; i < ndeps; i++)
        drefs[i] = ref(deps[i]);
    uint32_t rev[32];
    size_t nrev = 0;
    for (uint32_t i = 0; i < 32; i++)
        if (rev_mask & (1u << i))
            rev[nrev++] = i;
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name.data = (uint8_t *)name;
    rr.name.len = strlen(name);
    rr.ccr_count = nccrs;
    rr.parent = parent ? ref(parent) : NULL;
    rr.n_depends_on = ndeps;
    rr.depends_on = drefs;
    rr.n_reversible = nrev;
    rr.reversible = rev;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    Srtm__Response *r = call(&req, auth);
    if (r->status == SRTM__STATUS__STATUS_OK && cap_out != NULL)
        memcpy(cap_out->bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    return status_of(r);
}

static srtm_err depend(const char *a, const char *on, const char *actor, const srtm_cap *cap,
                       bool remove)
{
    Srtm__DependRequest d = SRTM__DEPEND_REQUEST__INIT;
    d.component = ref(a);
    d.on = ref(on);
    d.actor = actor ? ref(actor) : NULL;
    d.remove = remove;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_DEPEND;
    req.depend = &d;
    return status_of(call(&req, cap));
}

/* The whole graph as text "h:parent:dep,dep:T|..." for before/after comparisons. */
static void graph_text(char *out, size_t size)
{
    Srtm__GraphRequest g = SRTM__GRAPH_REQUEST__INIT;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_GRAPH;
    req.graph = &g;
    Srtm__Response *r = call(&req, NULL);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < r->graph->n_nodes; i++) {
        const Srtm__GraphNode *n = r->graph->nodes[i];
        len += (size_t)snprintf(out + len, size - len, "%llu:%llu:", (unsigned long long)n->handle,
                                (unsigned long long)n->parent);
        for (size_t k = 0; k < n->n_depends_on; k++)
            len += (size_t)snprintf(out + len, size - len, "%llu,",
                                    (unsigned long long)n->depends_on[k]);
        len += (size_t)snprintf(out + len, size - len, "%s|", n->terminated ? "T" : "");
    }
    srtm__response__free_unpacked(r, NULL);
}

#define UNCHANGED_AFTER(expr, want, what)                                                          \
    do {                                                                                           \
        char before_[4096], after_[4096];                                                          \
        size_t comps_;                                                                             \
        uint64_t seq_before_, seq_after_;                                                          \
        graph_text(before_, sizeof(before_));                                                      \
        service_stats(svc, &comps_, &seq_before_);                                                 \
        cr_expect_eq((expr), (want), "%s", what);                                                  \
        graph_text(after_, sizeof(after_));                                                        \
        service_stats(svc, &comps_, &seq_after_);                                                  \
        cr_expect_str_eq(after_, before_, "%s changed the graph", what);                           \
        cr_expect_eq(seq_after_, seq_before_, "%s took a sequence number", what);                  \
    } while (0)

Test(him, parents_register_children_with_their_dependencies)
{
    srtm_cap dm, net, vm, stranger;
    cr_assert_eq(reg("dom-mgr", NULL, &admin, NULL, 0, 1, 0, &dm), SRTM_OK);
    cr_assert_eq(reg("net-vm", "dom-mgr", &dm, NULL, 0, 1, 0, &net), SRTM_OK);
    const char *deps[] = {"net-vm"};
    cr_assert_eq(reg("web-vm", "dom-mgr", &dm, deps, 1, 2, 0x2, &vm), SRTM_OK);
    cr_assert_eq(reg("stranger", NULL, &admin, NULL, 0, 1, 0, &stranger), SRTM_OK);
    char g[4096];
    graph_text(g, sizeof(g));
    /* platform 0; dom-mgr 1 -> 0; net-vm 2 -> 1; web-vm 3 -> 1, 2; stranger 4 -> 0 */
    cr_expect_str_eq(g, "0:0:|1:0:0,|2:1:1,|3:1:1,2,|4:0:0,|");
    /* Only the parent registers its children: not the admin, not a stranger. */
    UNCHANGED_AFTER(reg("x", "dom-mgr", &admin, NULL, 0, 1, 0, NULL), SRTM_E_DENIED,
                    "admin registering under dom-mgr");
    UNCHANGED_AFTER(reg("x", "dom-mgr", &stranger, NULL, 0, 1, 0, NULL), SRTM_E_DENIED,
                    "stranger registering under dom-mgr");
    UNCHANGED_AFTER(reg("x", NULL, &dm, NULL, 0, 1, 0, NULL), SRTM_E_DENIED,
                    "a component's capability for component 0's child");
    const char *unknown[] = {"nobody"};
    UNCHANGED_AFTER(reg("x", "dom-mgr", &dm, unknown, 1, 1, 0, NULL), SRTM_E_NO_COMPONENT,
                    "an unknown declared dependency");
    UNCHANGED_AFTER(reg("x", "dom-mgr", &dm, NULL, 0, 2, 0x4, NULL), SRTM_E_NO_CCR,
                    "a reversible CCR beyond the count");
    UNCHANGED_AFTER(reg("net-vm", "dom-mgr", &dm, NULL, 0, 1, 0, NULL), SRTM_E_EXISTS,
                    "a duplicate name");
}

Test(him, who_may_change_dependencies)
{
    srtm_cap a, b, c, s;
    cr_assert_eq(reg("a", NULL, &admin, NULL, 0, 1, 0, &a), SRTM_OK);
    cr_assert_eq(reg("b", NULL, &admin, NULL, 0, 1, 0, &b), SRTM_OK);
    cr_assert_eq(reg("c", NULL, &admin, NULL, 0, 1, 0, &c), SRTM_OK);
    cr_assert_eq(reg("s", NULL, &admin, NULL, 0, 1, 0, &s), SRTM_OK);
    /* A itself adds a dependency. */
    cr_expect_eq(depend("a", "b", NULL, &a, false), SRTM_OK);
    /* A stranger cannot add a dependency to A (spurious-dependency denial of service). */
    UNCHANGED_AFTER(depend("a", "s", "s", &s, false), SRTM_E_DENIED, "stranger adds to a");
    UNCHANGED_AFTER(depend("a", "s", NULL, &s, false), SRTM_E_DENIED,
                    "stranger's capability as a's");
    UNCHANGED_AFTER(depend("a", "s", "b", &s, false), SRTM_E_DENIED,
                    "stranger claiming to be b");
    /* A dependency of A may add a further dependency to A. */
    cr_expect_eq(depend("a", "c", "b", &b, false), SRTM_OK);
    /* A component that depends on A may not change A. */
    cr_assert_eq(depend("s", "a", NULL, &s, false), SRTM_OK);
    UNCHANGED_AFTER(depend("a", "c", "s", &s, true), SRTM_E_DENIED, "a dependent removes from a");
    /* Cycles, self-loops, duplicates and missing edges are refused. */
    UNCHANGED_AFTER(depend("b", "a", NULL, &b, false), SRTM_E_INVALID, "2-cycle");
    UNCHANGED_AFTER(depend("c", "s", NULL, &c, false), SRTM_E_INVALID, "longer cycle");
    UNCHANGED_AFTER(depend("a", "a", NULL, &a, false), SRTM_E_INVALID, "self-loop");
    UNCHANGED_AFTER(depend("a", "b", NULL, &a, false), SRTM_E_EXISTS, "duplicate edge");
    UNCHANGED_AFTER(depend("b", "c", NULL, &b, true), SRTM_E_INVALID, "missing edge");
    /* The edge to the parent stays. */
    UNCHANGED_AFTER(depend("a", "platform", NULL, &a, true), SRTM_E_INVALID, "parent edge");
    /* A removes its own dependency; the change takes a sequence number. */
    size_t comps;
    uint64_t s1, s2;
    service_stats(svc, &comps, &s1);
    cr_expect_eq(depend("a", "c", NULL, &a, true), SRTM_OK);
    service_stats(svc, &comps, &s2);
    cr_expect_eq(s2, s1 + 1);
}

static srtm_err revert(const char *comp, uint32_t ccr, uint64_t to, const char *actor,
                       const srtm_cap *cap)
{
    Srtm__RevertRequest r = SRTM__REVERT_REQUEST__INIT;
    r.component = ref(comp);
    r.ccr = ccr;
    r.to_seq = to;
    r.actor = actor ? ref(actor) : NULL;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REVERT;
    req.revert = &r;
    return status_of(call(&req, cap));
}

static uint64_t extend(const char *comp, uint32_t ccr, uint8_t tag, const srtm_cap *cap)
{
    uint8_t d[32];
    memset(d, tag, sizeof(d));
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = ref(comp);
    ex.digests.data = d;
    ex.digests.len = 32;
    ex.n_ccrs = 1;
    ex.ccrs = &ccr;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    Srtm__Response *r = call(&req, cap);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK, "%s", r->message);
    uint64_t seq = r->extend->first_seq;
    srtm__response__free_unpacked(r, NULL);
    return seq;
}

Test(him, revert_rules)
{
    srtm_cap fw, mgr, s;
    cr_assert_eq(reg("fw-mgr", NULL, &admin, NULL, 0, 1, 0, &mgr), SRTM_OK);
    cr_assert_eq(reg("fw", "fw-mgr", &mgr, NULL, 0, 2, 0x2, &fw), SRTM_OK);
    cr_assert_eq(reg("s", NULL, &admin, NULL, 0, 1, 0, &s), SRTM_OK);
    uint64_t alpha = extend("fw", 1, 0xa, &fw);
    uint64_t base = extend("fw", 0, 0x1, &fw);
    extend("fw", 1, 0xb, &fw);
    /* An irreversible CCR is no permission matter, but a wrong capability still is. */
    UNCHANGED_AFTER(revert("fw", 0, base, NULL, &fw), SRTM_E_INVALID, "irreversible CCR");
    UNCHANGED_AFTER(revert("fw", 0, base, NULL, &s), SRTM_E_DENIED,
                    "wrong capability, irreversible CCR");
    UNCHANGED_AFTER(revert("fw", 1, alpha, NULL, &s), SRTM_E_DENIED, "wrong capability");
    UNCHANGED_AFTER(revert("fw", 1, alpha, "s", &s), SRTM_E_DENIED, "a stranger as actor");
    UNCHANGED_AFTER(revert("fw", 1, base, NULL, &fw), SRTM_E_RANGE, "another CCR's seq");
    UNCHANGED_AFTER(revert("fw", 1, 99999, NULL, &fw), SRTM_E_RANGE, "outside the log");
    UNCHANGED_AFTER(revert("fw", 7, alpha, NULL, &fw), SRTM_E_NO_CCR, "no such CCR");
    /* The component, and a component it depends on (its manager), may revert. */
    cr_expect_eq(revert("fw", 1, alpha, NULL, &fw), SRTM_OK);
    extend("fw", 1, 0xb, &fw);
    cr_expect_eq(revert("fw", 1, alpha, "fw-mgr", &mgr), SRTM_OK);
}

static srtm_err terminate(const char *comp, const srtm_cap *cap)
{
    Srtm__TerminateRequest t = SRTM__TERMINATE_REQUEST__INIT;
    t.component = ref(comp);
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_TERMINATE;
    req.terminate = &t;
    return status_of(call(&req, cap));
}

Test(him, termination)
{
    srtm_cap mgr, vm, child;
    cr_assert_eq(reg("mgr", NULL, &admin, NULL, 0, 1, 0, &mgr), SRTM_OK);
    cr_assert_eq(reg("vm", "mgr", &mgr, NULL, 0, 1, 0, &vm), SRTM_OK);
    UNCHANGED_AFTER(terminate("vm", &vm), SRTM_E_DENIED, "a component terminating itself");
    UNCHANGED_AFTER(terminate("vm", &admin), SRTM_E_DENIED, "the admin for mgr's child");
    UNCHANGED_AFTER(terminate("platform", &admin), SRTM_E_INVALID, "component 0");
    cr_expect_eq(terminate("vm", &mgr), SRTM_OK);
    char g[4096];
    graph_text(g, sizeof(g));
    cr_expect(strstr(g, "2:1:1,T|") != NULL, "terminated not shown: %s", g);
    /* Its CCRs stay readable and it registers no children. */
    UNCHANGED_AFTER(reg("child", "vm", &vm, NULL, 0, 1, 0, &child), SRTM_E_INVALID,
                    "a terminated parent registering");
}

Test(him, graph_reads)
{
    srtm_cap a, b;
    cr_assert_eq(reg("a", NULL, &admin, NULL, 0, 1, 0, &a), SRTM_OK);
    const char *deps[] = {"a"};
    cr_assert_eq(reg("b", NULL, &admin, deps, 1, 1, 0, &b), SRTM_OK);
    cr_assert_eq(reg("c", NULL, &admin, NULL, 0, 1, 0, NULL), SRTM_OK);
    /* One component: itself and its closure. */
    Srtm__GraphRequest g = SRTM__GRAPH_REQUEST__INIT;
    g.component = ref("b");
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_GRAPH;
    req.graph = &g;
    Srtm__Response *r = call(&req, NULL);
    cr_assert_eq(r->status, SRTM__STATUS__STATUS_OK);
    cr_assert_eq(r->graph->n_nodes, 3, "b, a and the platform");
    cr_expect_str_eq(r->graph->nodes[2]->name, "b");
    srtm__response__free_unpacked(r, NULL);
    /* Paging over everything. */
    Srtm__GraphRequest p = SRTM__GRAPH_REQUEST__INIT;
    p.max_entries = 2;
    req.graph = &p;
    r = call(&req, NULL);
    cr_assert_eq(r->graph->n_nodes, 2);
    cr_expect(r->graph->more);
    uint64_t last = r->graph->nodes[1]->handle;
    srtm__response__free_unpacked(r, NULL);
    p.after_handle = last;
    r = call(&req, NULL);
    cr_expect_eq(r->graph->n_nodes, 2, "c and b after handle 1");
    cr_expect(!r->graph->more);
    srtm__response__free_unpacked(r, NULL);
}

/*
 * Removing an edge (docs/protocol.md, "Who may change edges"): the component or its parent
 * chain; never the dependency itself nor anything it depends on; an edge an ancestor
 * declared only by that ancestor or above; an edge a dependency added, by the component.
 */
Test(him, who_may_remove_an_edge)
{
    srtm_cap dm, fw, vm, w2, sub, gen;
    cr_assert_eq(reg("dm", NULL, &admin, NULL, 0, 1, 0, &dm), SRTM_OK);
    cr_assert_eq(reg("fw", NULL, &admin, NULL, 0, 1, 0, &fw), SRTM_OK);
    cr_assert_eq(reg("gen", NULL, &admin, NULL, 0, 1, 0, &gen), SRTM_OK);
    const char *deps[] = {"fw"};
    cr_assert_eq(reg("vm", "dm", &dm, deps, 1, 1, 0, &vm), SRTM_OK);
    cr_assert_eq(reg("sub", "vm", &vm, NULL, 0, 1, 0, &sub), SRTM_OK);
    cr_assert_eq(reg("w2", NULL, &admin, NULL, 0, 1, 0, &w2), SRTM_OK);
    /* vm -> fw was declared by dm at registration. */
    UNCHANGED_AFTER(depend("vm", "fw", "fw", &fw, true), SRTM_E_DENIED, "the dependency itself");
    UNCHANGED_AFTER(depend("vm", "fw", NULL, &vm, true), SRTM_E_DENIED,
                    "the child drops its parent's edge");
    UNCHANGED_AFTER(depend("vm", "fw", "sub", &sub, true), SRTM_E_DENIED, "a child of vm");
    UNCHANGED_AFTER(depend("vm", "fw", "w2", &w2, true), SRTM_E_DENIED, "a stranger");
    UNCHANGED_AFTER(depend("vm", "fw", "platform", &admin, true), SRTM_E_DENIED,
                    "an ancestor fw depends on");
    /* sub -> fw added later by sub's parent vm: declared by an ancestor, so sub may not
     * remove it, vm may. */
    cr_assert_eq(depend("sub", "fw", "vm", &vm, false), SRTM_OK);
    UNCHANGED_AFTER(depend("sub", "fw", NULL, &sub, true), SRTM_E_DENIED,
                    "the child drops an edge its parent added");
    cr_expect_eq(depend("sub", "fw", "vm", &vm, true), SRTM_OK);
    /* w2 -> gen added by w2's dependency fw, not an ancestor: w2 may remove it, fw not. */
    cr_assert_eq(depend("w2", "fw", NULL, &w2, false), SRTM_OK);
    cr_assert_eq(depend("w2", "gen", "fw", &fw, false), SRTM_OK);
    UNCHANGED_AFTER(depend("w2", "gen", "fw", &fw, true), SRTM_E_DENIED,
                    "a dependency that is not an ancestor");
    UNCHANGED_AFTER(depend("w2", "gen", "gen", &gen, true), SRTM_E_DENIED, "gen cuts itself");
    cr_expect_eq(depend("w2", "gen", NULL, &w2, true), SRTM_OK);
    /* The declaring parent removes its edge. */
    cr_expect_eq(depend("vm", "fw", "dm", &dm, true), SRTM_OK);
}

Test(him, who_may_revert)
{
    srtm_cap dm, fw, vm;
    cr_assert_eq(reg("dm", NULL, &admin, NULL, 0, 1, 0, &dm), SRTM_OK);
    cr_assert_eq(reg("fw", NULL, &admin, NULL, 0, 1, 0, &fw), SRTM_OK);
    const char *deps[] = {"fw"};
    cr_assert_eq(reg("vm", "dm", &dm, deps, 1, 1, 0x1, &vm), SRTM_OK);
    uint64_t s1 = extend("vm", 0, 1, &vm);
    extend("vm", 0, 2, &vm);
    UNCHANGED_AFTER(revert("vm", 0, s1, "fw", &fw), SRTM_E_DENIED, "a dependency reverts");
    cr_expect_eq(revert("vm", 0, s1, "dm", &dm), SRTM_OK, "the parent");
    cr_expect_eq(revert("vm", 0, 0, "platform", &admin), SRTM_OK, "the grandparent");
}

/* The record of dependency changes is bounded: past SRTM_MAX_DEP_CHANGES, TOO_BIG. */
Test(him, dependency_records_are_bounded)
{
    srtm_cap a, b;
    cr_assert_eq(reg("a", NULL, &admin, NULL, 0, 1, 0, &a), SRTM_OK);
    cr_assert_eq(reg("b", NULL, &admin, NULL, 0, 1, 0, &b), SRTM_OK);
    /* One record from the registration, then add/remove pairs. */
    for (unsigned i = 1; i < SRTM_MAX_DEP_CHANGES; i++)
        cr_assert_eq(depend("a", "b", NULL, &a, i % 2 == 0), SRTM_OK, "change %u", i);
    UNCHANGED_AFTER(depend("a", "b", NULL, &a, false), SRTM_E_TOO_BIG, "record full");
    cr_expect_eq(depend("b", "a", NULL, &b, false), SRTM_E_INVALID, "a -> b is still there");
}

/* A copy of cap with one bit flipped. */
static srtm_cap flipped(const srtm_cap *cap, unsigned bit)
{
    srtm_cap out = *cap;
    out.bytes[(bit / 8) % SRTM_CAP_LEN] ^= (uint8_t)(1u << (bit % 8));
    return out;
}

/* The extend helper asserts success; this one reports the status. */
static srtm_err extend_status(const char *comp, const srtm_cap *cap)
{
    uint8_t d[32] = {0x5e};
    uint32_t ccr = 0;
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = ref(comp);
    ex.digests.data = d;
    ex.digests.len = sizeof(d);
    ex.n_ccrs = 1;
    ex.ccrs = &ccr;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    return status_of(call(&req, cap));
}

/*
 * The capability is hashed before the lock and compared under it: for every operation
 * that takes one, the authorising component's capability with one bit flipped (first,
 * middle and last byte) is refused and changes nothing, and the exact one is accepted.
 */
Test(him, every_capability_check_refuses_a_wrong_capability)
{
    srtm_cap mgr, vm, fw, child;
    cr_assert_eq(reg("mgr", NULL, &admin, NULL, 0, 1, 0, &mgr), SRTM_OK);
    cr_assert_eq(reg("fw", NULL, &admin, NULL, 0, 1, 0, &fw), SRTM_OK);
    cr_assert_eq(reg("vm", "mgr", &mgr, NULL, 0, 2, 0x2, &vm), SRTM_OK);
    uint64_t first = extend("vm", 1, 0xa, &vm);
    extend("vm", 1, 0xb, &vm);
    const unsigned bits[] = {0, 8 * SRTM_CAP_LEN / 2 + 3, 8 * SRTM_CAP_LEN - 1};
    for (size_t i = 0; i < SRTM_ARRAY_LEN(bits); i++) {
        srtm_cap bad_admin = flipped(&admin, bits[i]), bad_mgr = flipped(&mgr, bits[i]);
        srtm_cap bad_vm = flipped(&vm, bits[i]);
        UNCHANGED_AFTER(reg("x", NULL, &bad_admin, NULL, 0, 1, 0, NULL), SRTM_E_DENIED,
                        "register with a wrong admin capability");
        UNCHANGED_AFTER(reg("x", "mgr", &bad_mgr, NULL, 0, 1, 0, NULL), SRTM_E_DENIED,
                        "register child with a wrong parent capability");
        UNCHANGED_AFTER(extend_status("vm", &bad_vm), SRTM_E_DENIED, "extend, wrong capability");
        UNCHANGED_AFTER(depend("vm", "fw", NULL, &bad_vm, false), SRTM_E_DENIED,
                        "depend, wrong capability");
        UNCHANGED_AFTER(revert("vm", 1, first, NULL, &bad_vm), SRTM_E_DENIED,
                        "revert, wrong capability");
        UNCHANGED_AFTER(terminate("vm", &bad_mgr), SRTM_E_DENIED, "terminate, wrong capability");
    }
    UNCHANGED_AFTER(extend_status("vm", NULL), SRTM_E_DENIED, "extend without a capability");
    UNCHANGED_AFTER(terminate("vm", NULL), SRTM_E_DENIED, "terminate without a capability");
    /* The exact capabilities are accepted, each by the operation it authorises. */
    cr_expect_eq(reg("child", "mgr", &mgr, NULL, 0, 1, 0, &child), SRTM_OK);
    cr_expect_eq(extend_status("vm", &vm), SRTM_OK);
    cr_expect_eq(depend("vm", "fw", NULL, &vm, false), SRTM_OK);
    cr_expect_eq(revert("vm", 1, first, NULL, &vm), SRTM_OK);
    cr_expect_eq(terminate("vm", &mgr), SRTM_OK);
}
