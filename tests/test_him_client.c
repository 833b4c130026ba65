/*
 * Hierarchical integrity management from the client side: libsrtm's register_child,
 * depend, revert, terminate and graph calls and the log accessors for revert markers, and
 * the srtmctl commands built on them, against a real srtmd (--no-tpm) started per test.
 * Every refusal is attempted for real and checked to change nothing a client can see.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "helpers.h"

#define HEX_LEN 64u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct run_result {
    int rc;
    char out[65536];
    char err[8192];
} run_result;

/* Criterion runs every test in its own process, so file-scope state is per test. */
static test_daemon D;
static run_result R;
static srtm_conn *conn;

static void setup(void)
{
    test_daemon_start(&D, NULL);
    cr_assert_eq(srtm_open(D.url, &conn), SRTM_OK);
}

static void teardown(void)
{
    srtm_close(conn);
    test_daemon_stop_checked(&D);
}

TestSuite(him_lib, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(him_ctl, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(him_ctl_offline, .timeout = 60);

/* ---- independent expectations ---- */

static void to_hex(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", in[i]);
    out[2 * len] = '\0';
}

/* ---- libsrtm helpers ---- */

/* name as a child of parent (NULL: component 0) authorised by auth. */
static uint64_t lib_reg(const char *name, const char *parent, const srtm_cap *auth,
                        const char *const *deps, size_t ndeps, uint32_t ccrs,
                        const uint32_t *rev, size_t nrev, srtm_cap *cap_out)
{
    uint64_t h = 0;
    srtm_err err =
        srtm_register_child(conn, auth, parent, name, ccrs, deps, ndeps, rev, nrev, &h, cap_out);
    cr_assert_eq(err, SRTM_OK, "register %s: %s: %s", name, srtm_strerror(err),
                 srtm_last_message(conn));
    return h;
}

/* The family most tests use: dm (child of 0, 2 CCRs); net and vm children of dm, vm
 * depending also on net, with 3 CCRs of which 1 and 2 are reversible; x, a stranger. */
typedef struct family {
    srtm_cap dm, net, vm, x;
    uint64_t hdm, hnet, hvm, hx;
} family;

static void lib_family(family *f)
{
    static const char *const deps[] = {"net"};
    static const uint32_t rev[] = {1, 2};
    f->hdm = lib_reg("dm", NULL, &D.admin, NULL, 0, 2, NULL, 0, &f->dm);
    f->hnet = lib_reg("net", "dm", &f->dm, NULL, 0, 1, NULL, 0, &f->net);
    f->hvm = lib_reg("vm", "dm", &f->dm, deps, 1, 3, rev, 2, &f->vm);
    f->hx = lib_reg("x", NULL, &D.admin, NULL, 0, 1, NULL, 0, &f->x);
}

static ptrdiff_t node_of(const srtm_graph *g, const char *name)
{
    for (size_t i = 0; i < srtm_graph_count(g); i++)
        if (strcmp(srtm_graph_name(g, i), name) == 0)
            return (ptrdiff_t)i;
    return -1;
}

/* The direct dependencies of name in the whole graph, as handles, into out (max 8). */
static size_t deps_of(const char *name, uint64_t out[8])
{
    srtm_graph *g = NULL;
    cr_assert_eq(srtm_graph_read(conn, NULL, &g), SRTM_OK);
    ptrdiff_t i = node_of(g, name);
    cr_assert_geq(i, 0, "%s not in the graph", name);
    size_t n = 0;
    const uint64_t *d = srtm_graph_deps(g, (size_t)i, &n);
    cr_assert_leq(n, 8u);
    if (n > 0)
        memcpy(out, d, n * sizeof(*d));
    srtm_graph_free(g);
    return n;
}

static void read_value(const char *name, uint32_t ccr, uint8_t value[32], uint64_t *len)
{
    srtm_ccrs *c = NULL;
    cr_assert_eq(srtm_read(conn, name, &ccr, 1, &c), SRTM_OK);
    cr_assert_eq(srtm_ccrs_get(c, 0, NULL, NULL, value, len), SRTM_OK);
    srtm_ccrs_free(c);
}

/* ---- libsrtm ---- */

Test(him_lib, register_child_with_deps_and_reversible_ccrs)
{
    family f;
    lib_family(&f);

    srtm_ccrs *c = NULL;
    cr_assert_eq(srtm_read(conn, "vm", NULL, 0, &c), SRTM_OK);
    cr_assert_eq(srtm_ccrs_count(c), 3u);
    static const srtm_policy want[] = {SRTM_POLICY_IRREVERSIBLE, SRTM_POLICY_REVERSIBLE,
                                       SRTM_POLICY_REVERSIBLE};
    for (size_t i = 0; i < 3; i++) {
        srtm_policy p = 0;
        cr_assert_eq(srtm_ccrs_get(c, i, NULL, &p, NULL, NULL), SRTM_OK);
        cr_assert_eq(p, want[i], "CCR %zu", i);
    }
    srtm_ccrs_free(c);

    srtm_graph *g = NULL;
    cr_assert_eq(srtm_graph_read(conn, NULL, &g), SRTM_OK);
    cr_assert_eq(srtm_graph_count(g), 5u);
    for (size_t i = 0; i < srtm_graph_count(g); i++)
        cr_assert_eq(srtm_graph_handle(g, i), i, "nodes in handle order");
    cr_assert_str_eq(srtm_graph_name(g, 0), "platform");
    size_t n = 99;
    cr_assert_null(srtm_graph_deps(g, 0, &n));
    cr_assert_eq(n, 0u);
    size_t vm = (size_t)node_of(g, "vm");
    cr_assert_eq(srtm_graph_parent(g, vm), f.hdm);
    const uint64_t *d = srtm_graph_deps(g, vm, &n);
    cr_assert_eq(n, 2u);
    cr_assert_eq(d[0], f.hdm);
    cr_assert_eq(d[1], f.hnet);
    cr_assert_eq(srtm_graph_terminated(g, vm), 0);
    cr_assert_eq(srtm_graph_parent(g, (size_t)node_of(g, "dm")), 0u);
    /* Out of range. */
    cr_assert_str_eq(srtm_graph_name(g, 99), "");
    cr_assert_null(srtm_graph_deps(g, 99, &n));
    cr_assert_eq(n, 0u);
    srtm_graph_free(g);

    /* One component: itself and its dependency closure, not the stranger. */
    cr_assert_eq(srtm_graph_read(conn, "vm", &g), SRTM_OK);
    cr_assert_eq(srtm_graph_count(g), 4u);
    cr_assert_lt(node_of(g, "x"), 0);
    srtm_graph_free(g);
    cr_assert_eq(srtm_graph_read(conn, "nope", &g), SRTM_E_NO_COMPONENT);
    srtm_graph_free(NULL);

    /* srtm_register keeps working: a child of component 0, irreversible CCRs. */
    uint64_t h = 0;
    srtm_cap cap;
    cr_assert_eq(srtm_register(conn, &D.admin, "plain", 2, &h, &cap), SRTM_OK);
    cr_assert_eq(deps_of("plain", (uint64_t[8]){0}), 1u);
}

Test(him_lib, register_child_refusals)
{
    family f;
    lib_family(&f);
    uint64_t h = 0;
    srtm_cap cap;
    static const uint32_t rev_bad[] = {2};
    /* Refused by libsrtm before sending. */
    cr_assert_eq(srtm_register_child(conn, &f.dm, "dm", "c", 2, NULL, 0, rev_bad, 1, &h, &cap),
                 SRTM_E_NO_CCR);
    cr_assert_eq(srtm_register_child(conn, &f.dm, "dm", "c", 1, NULL, 3, NULL, 0, &h, &cap),
                 SRTM_E_INVALID);
    const char *many[SRTM_MAX_DEPS + 1];
    for (size_t i = 0; i < ARRAY_LEN(many); i++)
        many[i] = "net";
    cr_assert_eq(srtm_register_child(conn, &f.dm, "dm", "c", 1, many, ARRAY_LEN(many), NULL, 0,
                                     &h, &cap),
                 SRTM_E_TOO_BIG);
    /* Refused by srtmd: the wrong parent capability, an unknown dependency. */
    cr_assert_eq(srtm_register_child(conn, &f.x, "dm", "c", 1, NULL, 0, NULL, 0, &h, &cap),
                 SRTM_E_DENIED);
    static const char *const unknown[] = {"ghost"};
    cr_assert_eq(srtm_register_child(conn, &f.dm, "dm", "c", 1, unknown, 1, NULL, 0, &h, &cap),
                 SRTM_E_NO_COMPONENT);
    srtm_graph *g = NULL;
    cr_assert_eq(srtm_graph_read(conn, NULL, &g), SRTM_OK);
    cr_assert_eq(srtm_graph_count(g), 5u, "nothing registered");
    srtm_graph_free(g);
}

Test(him_lib, depend_rules)
{
    family f;
    lib_family(&f);
    uint64_t before[8], after[8], seq = 0;
    size_t nb = deps_of("vm", before);

    /* A stranger may not give vm a dependency on itself (spurious dependency). */
    cr_assert_eq(srtm_depend(conn, &f.x, "vm", "x", "x", false, &seq), SRTM_E_DENIED);
    /* Nor with vm's name as actor but its own capability. */
    cr_assert_eq(srtm_depend(conn, &f.x, "vm", "x", NULL, false, &seq), SRTM_E_DENIED);
    cr_assert_eq(deps_of("vm", after), nb);
    cr_assert_arr_eq(after, before, nb * sizeof(uint64_t));

    /* A dependency of vm (net) adds a further dependency of vm. */
    cr_assert_eq(srtm_depend(conn, &f.net, "vm", "x", "net", false, &seq), SRTM_OK);
    cr_assert_gt(seq, 0u);
    cr_assert_eq(deps_of("vm", after), 3u);
    cr_assert_eq(after[2], f.hx);
    /* An existing edge. */
    cr_assert_eq(srtm_depend(conn, &f.vm, "vm", "x", NULL, false, NULL), SRTM_E_EXISTS);

    /* A cycle: net may change its own dependencies, but not to depend on vm. */
    nb = deps_of("net", before);
    cr_assert_eq(srtm_depend(conn, &f.net, "net", "vm", NULL, false, NULL), SRTM_E_INVALID);
    cr_assert(strstr(srtm_last_message(conn), "cycle") != NULL, "%s", srtm_last_message(conn));
    cr_assert_eq(deps_of("net", after), nb);

    /* Removal: vm itself drops x; the parent edge stays. */
    uint64_t seq2 = 0;
    cr_assert_eq(srtm_depend(conn, &f.vm, "vm", "x", NULL, true, &seq2), SRTM_OK);
    cr_assert_gt(seq2, seq);
    cr_assert_eq(deps_of("vm", after), 2u);
    cr_assert_eq(srtm_depend(conn, &f.vm, "vm", "dm", NULL, true, NULL), SRTM_E_INVALID);
    cr_assert_eq(srtm_depend(conn, &f.vm, "vm", "x", NULL, true, NULL), SRTM_E_INVALID);
    cr_assert_eq(deps_of("vm", after), 2u);
    /* Arguments. */
    cr_assert_eq(srtm_depend(conn, NULL, "vm", "x", NULL, false, NULL), SRTM_E_INVALID);
    cr_assert_eq(srtm_depend(conn, &f.vm, "vm", "", NULL, false, NULL), SRTM_E_INVALID);
}

/* Extend CCR ccr of vm with SHA-256(text); returns the seq. */
static uint64_t lib_extend(const srtm_cap *cap, uint32_t ccr, const char *text)
{
    uint64_t seq = 0;
    cr_assert_eq(srtm_extend_data(conn, cap, "vm", ccr, text, strlen(text), 0, text, &seq),
                 SRTM_OK);
    return seq;
}

Test(him_lib, revert_and_log_markers)
{
    family f;
    lib_family(&f);
    uint64_t s1 = lib_extend(&f.vm, 1, "a");
    uint8_t after_a[32], v[32];
    read_value("vm", 1, after_a, NULL);
    lib_extend(&f.vm, 1, "b");
    lib_extend(&f.vm, 1, "c");
    uint64_t irr = lib_extend(&f.vm, 0, "i");
    uint64_t len = 0;
    uint8_t before[32];
    read_value("vm", 1, before, &len);
    cr_assert_eq(len, 3u);

    /* Refusals, each changing nothing. */
    cr_assert_eq(srtm_revert(conn, &f.vm, "vm", 0, 0, NULL, NULL, NULL, NULL), SRTM_E_INVALID);
    cr_assert(strstr(srtm_last_message(conn), "irreversible") != NULL);
    cr_assert_eq(srtm_revert(conn, &f.x, "vm", 1, s1, NULL, NULL, NULL, NULL), SRTM_E_DENIED);
    cr_assert_eq(srtm_revert(conn, &f.x, "vm", 1, s1, "x", NULL, NULL, NULL), SRTM_E_DENIED);
    cr_assert_eq(srtm_revert(conn, &f.vm, "vm", 1, irr, NULL, NULL, NULL, NULL), SRTM_E_RANGE);
    cr_assert_eq(srtm_revert(conn, &f.vm, "vm", 1, 999999, NULL, NULL, NULL, NULL),
                 SRTM_E_RANGE);
    cr_assert_eq(srtm_revert(conn, &f.vm, "vm", 7, 0, NULL, NULL, NULL, NULL), SRTM_E_NO_CCR);
    read_value("vm", 1, v, &len);
    cr_assert_eq(len, 3u);
    cr_assert_arr_eq(v, before, 32);

    /* Back to just after "a": two measurements undone. */
    uint64_t reverted = 0, mseq = 0;
    cr_assert_eq(srtm_revert(conn, &f.vm, "vm", 1, s1, NULL, &reverted, v, &mseq), SRTM_OK);
    cr_assert_eq(reverted, 2u);
    cr_assert_arr_eq(v, after_a, 32);
    cr_assert_gt(mseq, irr);
    /* dm, a component vm depends on, reverts it to its initial value. */
    uint8_t zero[32] = {0};
    cr_assert_eq(srtm_revert(conn, &f.dm, "vm", 1, 0, "dm", &reverted, v, NULL), SRTM_OK);
    cr_assert_eq(reverted, 1u);
    cr_assert_arr_eq(v, zero, 32);

    srtm_log_iter *it = NULL;
    const srtm_log_entry *e = NULL;
    cr_assert_eq(srtm_log_open(conn, "vm", 1, 0, &it), SRTM_OK);
    static const char *const texts[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(srtm_log_next(it, &e), SRTM_OK);
        uint8_t d[32];
        test_sha256(texts[i], 1, NULL, 0, d);
        cr_assert_not_null(srtm_log_entry_digest(e));
        cr_assert_arr_eq(srtm_log_entry_digest(e), d, 32);
        cr_assert_eq(srtm_log_entry_reverted(e), 1, "entry %d", i);
        cr_assert_eq(srtm_log_entry_is_revert(e), 0);
        cr_assert_eq(srtm_log_entry_revert_to(e), 0u);
        cr_assert_eq(srtm_log_entry_revert_by(e), 0u);
        cr_assert_str_eq(srtm_log_entry_description(e), texts[i]);
    }
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK); /* the first marker */
    cr_assert_eq(srtm_log_entry_index(e), 3u);
    cr_assert_eq(srtm_log_entry_seq(e), mseq);
    cr_assert_null(srtm_log_entry_digest(e));
    cr_assert_eq(srtm_log_entry_is_revert(e), 1);
    cr_assert_eq(srtm_log_entry_reverted(e), 0);
    cr_assert_eq(srtm_log_entry_revert_to(e), s1);
    cr_assert_eq(srtm_log_entry_revert_by(e), f.hvm);
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK); /* the second */
    cr_assert_null(srtm_log_entry_digest(e));
    cr_assert_eq(srtm_log_entry_revert_to(e), 0u);
    cr_assert_eq(srtm_log_entry_revert_by(e), f.hdm);
    cr_assert_eq(srtm_log_next(it, &e), SRTM_E_END);
    srtm_log_iter_free(it);

    /* The irreversible CCR's log has plain entries. */
    cr_assert_eq(srtm_log_open(conn, "vm", 0, 0, &it), SRTM_OK);
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK);
    cr_assert_eq(srtm_log_entry_reverted(e), 0);
    cr_assert_eq(srtm_log_entry_is_revert(e), 0);
    srtm_log_iter_free(it);
    cr_assert_eq(srtm_log_entry_reverted(NULL), 0);
    cr_assert_null(srtm_log_entry_digest(NULL));
}

Test(him_lib, terminate_by_parent_only)
{
    family f;
    lib_family(&f);
    uint64_t seq = 0;
    cr_assert_eq(srtm_terminate(conn, &f.net, "vm", &seq), SRTM_E_DENIED);
    cr_assert_eq(srtm_terminate(conn, &f.vm, "vm", &seq), SRTM_E_DENIED);
    cr_assert_eq(srtm_terminate(conn, &D.admin, "platform", &seq), SRTM_E_INVALID);
    srtm_graph *g = NULL;
    cr_assert_eq(srtm_graph_read(conn, NULL, &g), SRTM_OK);
    for (size_t i = 0; i < srtm_graph_count(g); i++)
        cr_assert_eq(srtm_graph_terminated(g, i), 0);
    srtm_graph_free(g);

    cr_assert_eq(srtm_terminate(conn, &f.dm, "vm", &seq), SRTM_OK);
    cr_assert_gt(seq, 0u);
    cr_assert_eq(srtm_graph_read(conn, "vm", &g), SRTM_OK);
    cr_assert_eq(srtm_graph_terminated(g, (size_t)node_of(g, "vm")), 1);
    cr_assert_eq(srtm_graph_terminated(g, (size_t)node_of(g, "net")), 0);
    srtm_graph_free(g);
    /* Its CCRs stay readable. */
    uint8_t v[32];
    read_value("vm", 0, v, NULL);
}

Test(him_lib, quote_selection_without_tpm)
{
    uint8_t nonce[16] = {1};
    uint8_t *ev = NULL;
    size_t len = 0;
    cr_assert_eq(srtm_quote_selection(conn, nonce, sizeof(nonce), NULL, 0, false, &ev, &len),
                 SRTM_E_UNSUPPORTED);
    cr_assert_eq(srtm_quote_selection(conn, nonce, 8, NULL, 0, true, &ev, &len),
                 SRTM_E_INVALID);
    cr_assert_null(ev);
}

Test(him_lib, graph_pages_past_one_page)
{
    /* More components than one graph page holds: the whole graph comes page by page. */
    srtm_cap cap;
    uint64_t h = 0;
    for (unsigned i = 0; i < SRTM_MAX_LIST_PAGE + 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%u", i);
        cr_assert_eq(srtm_register(conn, &D.admin, name, 1, &h, &cap), SRTM_OK);
    }
    srtm_graph *g = NULL;
    cr_assert_eq(srtm_graph_read(conn, NULL, &g), SRTM_OK);
    cr_assert_eq(srtm_graph_count(g), SRTM_MAX_LIST_PAGE + 11u);
    for (size_t i = 0; i < srtm_graph_count(g); i++)
        cr_assert_eq(srtm_graph_handle(g, i), i);
    srtm_graph_free(g);
}

/* ---- srtmctl helpers ---- */

static void ctl_argv(const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = test_binary("SRTMCTL");
    for (size_t i = 0; args[i] != NULL; i++) {
        cr_assert(n < ARRAY_LEN(argv) - 1, "too many arguments for srtmctl");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    R.rc = test_run(argv, R.out, sizeof(R.out), R.err, sizeof(R.err));
}

#define CTL(...) ctl_argv((const char *const[]){__VA_ARGS__, NULL})
#define CTL_D(...) CTL("--socket", D.url, __VA_ARGS__)
/* srtmctl with the capability of component who (its file DIR/who.cap; "admin": D's). */
#define CTL_AS(who, ...) CTL("--socket", D.url, "--cap", cap_file(who), __VA_ARGS__)

#define ASSERT_RC(want)                                                                    \
    cr_assert_eq(R.rc, (want), "srtmctl exited %d, want %d\nstdout: %s\nstderr: %s", R.rc,  \
                 (want), R.out, R.err)

static const char *cap_file(const char *who)
{
    static char paths[4][300];
    static int next;
    if (strcmp(who, "admin") == 0)
        return D.cap_path;
    char *p = paths[next++ % 4];
    snprintf(p, 300, "%s/%s.cap", D.dir, who);
    return p;
}

static json_object *out_json(void)
{
    size_t len = strlen(R.out);
    cr_assert(len > 0 && R.out[len - 1] == '\n', "JSON output must end with a newline: %s",
              R.out);
    cr_assert_null(memchr(R.out, '\n', len - 1), "JSON output must be one line: %s", R.out);
    json_object *o = json_tokener_parse(R.out);
    cr_assert_not_null(o, "not JSON: %s", R.out);
    return o;
}

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
              json_object_to_json_string(o));
    return v;
}

/* The family of the libsrtm tests, through srtmctl, capabilities in DIR/NAME.cap. */
static void ctl_family(void)
{
    CTL_AS("admin", "register", "dm", "--ccrs", "2", "--cap-out", cap_file("dm"));
    ASSERT_RC(0);
    CTL_AS("dm", "register", "net", "--parent", "dm", "--cap-out", cap_file("net"));
    ASSERT_RC(0);
    CTL_AS("dm", "register", "vm", "--parent", "dm", "--depends-on", "net", "--ccrs", "3",
           "--reversible", "1,2", "--cap-out", cap_file("vm"));
    ASSERT_RC(0);
    cr_assert_eq(strncmp(R.out, "handle 3\ncapability_file ", 25), 0, "%s", R.out);
    CTL_AS("admin", "register", "x", "--cap-out", cap_file("x"));
    ASSERT_RC(0);
}

/* What a refusal must leave unchanged: the graph and vm's CCRs, as srtmctl shows them. */
typedef struct snapshot {
    char graph[sizeof(R.out)], read[sizeof(R.out)];
} snapshot;

static void take_snapshot(snapshot *s)
{
    CTL_D("--json", "graph");
    ASSERT_RC(0);
    memcpy(s->graph, R.out, sizeof(R.out));
    CTL_D("read", "vm");
    ASSERT_RC(0);
    memcpy(s->read, R.out, sizeof(R.out));
}

static void assert_unchanged(const snapshot *s, const char *what)
{
    snapshot now;
    take_snapshot(&now);
    cr_assert_str_eq(now.graph, s->graph, "%s changed the graph", what);
    cr_assert_str_eq(now.read, s->read, "%s changed vm's CCRs", what);
}

/* A refusal: exit 1 and the reason on stderr, then nothing changed. */
static void assert_refused(const snapshot *s, const char *what, const char *reason)
{
    ASSERT_RC(1);
    cr_assert(strstr(R.err, reason) != NULL, "%s: stderr lacks '%s': %s", what, reason, R.err);
    assert_unchanged(s, what);
}

static unsigned long long ctl_extend(const char *ccr, const char *data)
{
    CTL_AS("vm", "extend", "vm", ccr, "--data", data);
    ASSERT_RC(0);
    unsigned long long seq = 0;
    cr_assert_eq(sscanf(R.out, "seq %llu", &seq), 1, "%s", R.out);
    return seq;
}

/* ---- srtmctl ---- */

Test(him_ctl, register_children_and_graph_text)
{
    ctl_family();
    CTL_D("graph");
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "0 platform parent=- deps=-\n"
                            "1 dm parent=platform deps=platform\n"
                            "2 net parent=dm deps=dm\n"
                            "3 vm parent=dm deps=dm,net\n"
                            "4 x parent=platform deps=platform\n");
    CTL_D("graph", "vm");
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "0 platform parent=- deps=-\n"
                            "1 dm parent=platform deps=platform\n"
                            "2 net parent=dm deps=dm\n"
                            "3 vm parent=dm deps=dm,net\n");
    CTL_D("graph", "ghost");
    ASSERT_RC(1);

    /* The policies, in read's JSON only; its text stays 'INDEX HEX'. */
    CTL_D("--json", "read", "vm");
    ASSERT_RC(0);
    json_object *o = out_json();
    json_object *ccrs = jget(o, "ccrs");
    static const char *const want[] = {"irreversible", "reversible", "reversible"};
    cr_assert_eq(json_object_array_length(ccrs), 3u);
    for (size_t i = 0; i < 3; i++)
        cr_assert_str_eq(
            json_object_get_string(jget(json_object_array_get_idx(ccrs, i), "policy")),
            want[i]);
    json_object_put(o);
    CTL_D("read", "vm", "1");
    ASSERT_RC(0);
    cr_assert_eq(strncmp(R.out, "1 ", 2), 0);
    cr_assert_eq(strlen(R.out), 2u + HEX_LEN + 1u, "%s", R.out);

    /* The new capability is usable: vm extends a reversible CCR. */
    ctl_extend("2", "hello");
}

Test(him_ctl, graph_json)
{
    ctl_family();
    CTL_D("--json", "graph");
    ASSERT_RC(0);
    json_object *o = out_json();
    json_object *comps = jget(o, "components");
    cr_assert_eq(json_object_array_length(comps), 5u);
    json_object *p = json_object_array_get_idx(comps, 0);
    cr_assert_str_eq(json_object_get_string(jget(p, "component")), "platform");
    cr_assert_not(json_object_object_get_ex(p, "parent", NULL), "component 0 has no parent");
    json_object *vm = json_object_array_get_idx(comps, 3);
    cr_assert_eq(json_object_get_uint64(jget(vm, "handle")), 3u);
    cr_assert_str_eq(json_object_get_string(jget(vm, "component")), "vm");
    cr_assert_str_eq(json_object_get_string(jget(vm, "parent")), "dm");
    cr_assert_eq(json_object_get_uint64(jget(vm, "parent_handle")), 1u);
    json_object *deps = jget(vm, "depends_on");
    cr_assert_eq(json_object_array_length(deps), 2u);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(deps, 0)), "dm");
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(deps, 1)), "net");
    cr_assert_eq(json_object_array_length(jget(vm, "depends_on_handles")), 2u);
    cr_assert_eq(json_object_get_boolean(jget(vm, "terminated")), 0);
    json_object_put(o);
}

Test(him_ctl, refusals_change_nothing)
{
    ctl_family();
    unsigned long long s1 = ctl_extend("1", "a");
    ctl_extend("1", "b");
    unsigned long long irr = ctl_extend("0", "i");
    snapshot s;
    take_snapshot(&s);

    /* A stranger adding a dependency to vm. */
    CTL_AS("x", "depend", "vm", "--on", "x", "--actor", "x");
    assert_refused(&s, "a stranger's depend", "denied");
    CTL_AS("x", "depend", "vm", "--on", "x");
    assert_refused(&s, "a stranger's depend as vm", "denied");
    CTL_AS("x", "undepend", "vm", "--on", "net", "--actor", "x");
    assert_refused(&s, "a stranger's undepend", "denied");
    /* A cycle. */
    CTL_AS("net", "depend", "net", "--on", "vm");
    assert_refused(&s, "a cycle", "cycle");
    CTL_AS("vm", "depend", "vm", "--on", "vm");
    assert_refused(&s, "a self-loop", "itself");
    /* Removing the edge to the parent. */
    CTL_AS("vm", "undepend", "vm", "--on", "dm");
    assert_refused(&s, "dropping the parent", "parent");
    /* Reverts: an irreversible CCR, a wrong capability, seqs outside the CCR's log. */
    char seq[32];
    snprintf(seq, sizeof(seq), "%llu", s1);
    CTL_AS("vm", "revert", "vm", "0", "--to", "0");
    assert_refused(&s, "reverting an irreversible CCR", "irreversible");
    cr_assert(strstr(R.err, "denied") == NULL, "an irreversible CCR is no permission matter: %s",
              R.err);
    CTL_AS("x", "revert", "vm", "0", "--to", "0");
    assert_refused(&s, "a wrong capability on an irreversible CCR", "denied");
    CTL_AS("x", "revert", "vm", "1", "--to", seq);
    assert_refused(&s, "a revert with a wrong capability", "denied");
    CTL_AS("x", "revert", "vm", "1", "--to", seq, "--actor", "x");
    assert_refused(&s, "a stranger's revert", "denied");
    snprintf(seq, sizeof(seq), "%llu", irr);
    CTL_AS("vm", "revert", "vm", "1", "--to", seq);
    assert_refused(&s, "a revert to another CCR's measurement", "not a live measurement");
    CTL_AS("vm", "revert", "vm", "1", "--to", "987654");
    assert_refused(&s, "a revert past the log", "not a live measurement");
    /* Terminate by anyone but the parent. */
    CTL_AS("vm", "terminate", "vm");
    assert_refused(&s, "terminate by itself", "denied");
    CTL_AS("x", "terminate", "vm");
    assert_refused(&s, "terminate by a stranger", "denied");

    /* --json gets the error object. */
    CTL_AS("x", "--json", "depend", "vm", "--on", "x", "--actor", "x");
    ASSERT_RC(1);
    json_object *o = out_json();
    cr_assert_eq(json_object_get_int(jget(jget(o, "error"), "status")), (int)SRTM_E_DENIED);
    json_object_put(o);
}

Test(him_ctl, dependency_adds_further_dependency)
{
    ctl_family();
    CTL_AS("net", "depend", "vm", "--on", "x", "--actor", "net");
    ASSERT_RC(0);
    unsigned long long seq = 0;
    cr_assert_eq(sscanf(R.out, "seq %llu", &seq), 1, "%s", R.out);
    CTL_D("graph", "vm");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "3 vm parent=dm deps=dm,net,x\n") != NULL, "%s", R.out);
    cr_assert(strstr(R.out, "4 x parent=platform") != NULL, "closure grew: %s", R.out);
    /* dm, vm's parent (a dependency too), removes it again, in JSON. */
    CTL_AS("dm", "--json", "undepend", "vm", "--on", "x", "--actor", "dm");
    ASSERT_RC(0);
    json_object *o = out_json();
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), "vm");
    cr_assert_str_eq(json_object_get_string(jget(o, "on")), "x");
    cr_assert_gt(json_object_get_uint64(jget(o, "seq")), seq);
    json_object_put(o);
    CTL_D("graph", "vm");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "3 vm parent=dm deps=dm,net\n") != NULL, "%s", R.out);
}

Test(him_ctl, revert_then_log_shows_markers)
{
    ctl_family();
    unsigned long long s1 = ctl_extend("1", "a");
    CTL_D("read", "vm", "1");
    ASSERT_RC(0);
    char after_a[HEX_LEN + 1];
    cr_assert_eq(sscanf(R.out, "1 %64s", after_a), 1);
    ctl_extend("1", "b");
    CTL_AS("vm", "extend", "vm", "1", "--data", "c", "--desc", "fake [reverted]");
    ASSERT_RC(0);

    char seq[32];
    snprintf(seq, sizeof(seq), "%llu", s1);
    CTL_AS("vm", "revert", "vm", "1", "--to", seq);
    ASSERT_RC(0);
    char value[HEX_LEN + 1];
    unsigned long long reverted = 0, mseq = 0;
    cr_assert_eq(sscanf(R.out, "value %64s\nreverted %llu\nseq %llu\n", value, &reverted, &mseq),
                 3, "%s", R.out);
    cr_assert_str_eq(value, after_a);
    cr_assert_eq(reverted, 2u);
    CTL_D("read", "vm", "1");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, after_a) != NULL);

    /* dm (vm depends on it) reverts to the start, in JSON. */
    CTL_AS("dm", "--json", "revert", "vm", "1", "--to", "0", "--actor", "dm");
    ASSERT_RC(0);
    json_object *o = out_json();
    uint8_t zero[32] = {0};
    char zhex[HEX_LEN + 1];
    to_hex(zero, 32, zhex);
    cr_assert_str_eq(json_object_get_string(jget(o, "value")), zhex);
    cr_assert_eq(json_object_get_uint64(jget(o, "reverted")), 1u);
    cr_assert_eq(json_object_get_uint64(jget(o, "ccr")), 1u);
    unsigned long long mseq2 = json_object_get_uint64(jget(o, "seq"));
    json_object_put(o);

    CTL_D("log", "vm", "1");
    ASSERT_RC(0);
    char *save = NULL;
    char *line[6] = {NULL};
    line[0] = strtok_r(R.out, "\n", &save);
    for (int i = 1; i < 6; i++)
        line[i] = strtok_r(NULL, "\n", &save);
    cr_assert_not_null(line[4], "five lines expected");
    cr_assert_null(line[5]);
    uint8_t d[32];
    char hex[HEX_LEN + 1], want[256];
    test_sha256("a", 1, NULL, 0, d);
    to_hex(d, 32, hex);
    snprintf(want, sizeof(want), "0 %llu %s 0 [reverted]", s1, hex);
    cr_assert_str_eq(line[0], want);
    cr_assert_eq(strncmp(line[1], "1 ", 2), 0, "%s", line[1]);
    cr_assert(strstr(line[1], " 0 [reverted]") != NULL, "%s", line[1]);
    /* The description cannot pose as the mark: its '[' is escaped. */
    cr_assert(strstr(line[2], " 0 fake \\x5breverted] [reverted]") != NULL, "%s", line[2]);
    snprintf(want, sizeof(want), "3 %llu revert-to %llu by 3", mseq, s1);
    cr_assert_str_eq(line[3], want);
    snprintf(want, sizeof(want), "4 %llu revert-to 0 by 1", mseq2);
    cr_assert_str_eq(line[4], want);

    CTL_D("--json", "log", "vm", "1");
    ASSERT_RC(0);
    o = out_json();
    json_object *entries = jget(o, "entries");
    cr_assert_eq(json_object_array_length(entries), 5u);
    json_object *e0 = json_object_array_get_idx(entries, 0);
    cr_assert_eq(json_object_get_boolean(jget(e0, "reverted")), 1);
    cr_assert_eq(json_object_get_boolean(jget(e0, "revert_marker")), 0);
    cr_assert_str_eq(json_object_get_string(jget(e0, "digest")), hex);
    json_object *m = json_object_array_get_idx(entries, 3);
    cr_assert_eq(json_object_get_boolean(jget(m, "reverted")), 0);
    cr_assert_eq(json_object_get_boolean(jget(m, "revert_marker")), 1);
    cr_assert_eq(json_object_get_uint64(jget(m, "revert_to_seq")), s1);
    cr_assert_eq(json_object_get_uint64(jget(m, "revert_by_handle")), 3u);
    cr_assert_str_eq(json_object_get_string(jget(m, "revert_by")), "vm");
    cr_assert_not(json_object_object_get_ex(m, "digest", NULL), "a marker measured nothing");
    json_object *m2 = json_object_array_get_idx(entries, 4);
    cr_assert_str_eq(json_object_get_string(jget(m2, "revert_by")), "dm");
    cr_assert_not(json_object_object_get_ex(e0, "revert_by", NULL), "only on markers");
    cr_assert_not(json_object_object_get_ex(e0, "revert_to_seq", NULL), "only on markers");
    json_object_put(o);
}

Test(him_ctl, terminate_by_parent)
{
    ctl_family();
    CTL_AS("dm", "terminate", "vm");
    ASSERT_RC(0);
    cr_assert_eq(strncmp(R.out, "seq ", 4), 0, "%s", R.out);
    CTL_D("graph");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "3 vm parent=dm deps=dm,net terminated\n") != NULL, "%s", R.out);
    cr_assert(strstr(R.out, "2 net parent=dm deps=dm\n") != NULL, "%s", R.out);
    CTL_D("--json", "graph", "vm");
    ASSERT_RC(0);
    json_object *o = out_json();
    json_object *comps = jget(o, "components");
    json_object *vm = json_object_array_get_idx(comps, json_object_array_length(comps) - 1);
    cr_assert_str_eq(json_object_get_string(jget(vm, "component")), "vm");
    cr_assert_eq(json_object_get_boolean(jget(vm, "terminated")), 1);
    json_object_put(o);
    CTL_D("graph", "--dot");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "  c3 [label=\"vm\", style=dashed];\n") != NULL, "%s", R.out);
    /* Its CCRs stay readable; a terminated component registers no children. */
    CTL_D("read", "vm");
    ASSERT_RC(0);
    CTL_AS("vm", "register", "child", "--parent", "vm");
    ASSERT_RC(1);
    CTL_AS("dm", "--json", "terminate", "net");
    ASSERT_RC(0);
    o = out_json();
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), "net");
    cr_assert(json_object_is_type(jget(o, "seq"), json_type_int));
    json_object_put(o);
}

/* Lines of s that contain needle. */
static size_t count_lines_with(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *line = s; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
        n += strstr(buf, needle) != NULL;
        line += len + (nl != NULL);
    }
    return n;
}

Test(him_ctl, graph_dot_structure)
{
    ctl_family();
    CTL_AS("net", "depend", "vm", "--on", "x", "--actor", "net");
    ASSERT_RC(0);
    CTL_AS("admin", "register", "odd \"name\"\\", "--cap-out", cap_file("odd"));
    ASSERT_RC(0);
    CTL_D("graph", "--dot");
    ASSERT_RC(0);
    cr_assert_eq(strncmp(R.out, "digraph ", 8), 0, "%s", R.out);
    /* Balanced braces outside quoted strings, closed exactly at the end. */
    int depth = 0;
    bool quoted = false;
    for (const char *p = R.out; *p != '\0'; p++) {
        if (quoted && *p == '\\' && p[1] != '\0')
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == '{')
            depth++;
        else if (!quoted && *p == '}') {
            depth--;
            cr_assert_geq(depth, 0);
            if (depth == 0)
                cr_assert_str_eq(p, "}\n", "text after the closing brace");
        }
    }
    cr_assert_eq(depth, 0);
    cr_assert(!quoted, "an unterminated string");
    /* One edge line per dependency: dm->0, net->dm, vm->dm, vm->net, vm->x, x->0, odd->0. */
    cr_assert_eq(count_lines_with(R.out, "->"), 7u, "%s", R.out);
    cr_assert(strstr(R.out, "  c3 -> c1 [style=solid];\n") != NULL, "%s", R.out);
    cr_assert(strstr(R.out, "  c3 -> c2 [style=dashed];\n") != NULL, "%s", R.out);
    cr_assert(strstr(R.out, "  c3 -> c4 [style=dashed];\n") != NULL, "%s", R.out);
    cr_assert(strstr(R.out, "  c3 [label=\"vm\"];\n") != NULL, "%s", R.out);
    cr_assert(strstr(R.out, "  c5 [label=\"odd \\\"name\\\"\\\\\"];\n") != NULL, "%s", R.out);
    cr_assert_eq(count_lines_with(R.out, "[label="), 6u);

    /* With Graphviz at hand, dot itself must accept it. */
    if (access("/usr/bin/dot", X_OK) == 0) {
        char path[300];
        snprintf(path, sizeof(path), "%s/g.dot", D.dir);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(R.out, f);
        fclose(f);
        const char *argv[] = {"/usr/bin/dot", "-Tcanon", path, NULL};
        cr_assert_eq(test_run(argv, R.out, sizeof(R.out), R.err, sizeof(R.err)), 0, "%s",
                     R.err);
    }

    /* The closure of one component only. */
    CTL_D("graph", "net", "--dot");
    ASSERT_RC(0);
    cr_assert_eq(count_lines_with(R.out, "->"), 2u, "%s", R.out);
}

Test(him_ctl, usage_errors_send_nothing)
{
    ctl_family();
    snapshot s;
    take_snapshot(&s);
    CTL_AS("vm", "depend", "vm");
    ASSERT_RC(2);
    cr_assert(strstr(R.err, "--on") != NULL, "%s", R.err);
    CTL_D("depend", "vm", "--on", "x");
    ASSERT_RC(2); /* no --cap */
    CTL_AS("vm", "revert", "vm", "1");
    ASSERT_RC(2);
    CTL_AS("vm", "revert", "vm", "1", "--to", "-1");
    ASSERT_RC(2);
    CTL_AS("vm", "revert", "vm", "--to", "1");
    ASSERT_RC(2);
    CTL_AS("dm", "register", "c", "--parent", "dm", "--ccrs", "2", "--reversible", "2");
    ASSERT_RC(2);
    CTL_AS("dm", "register", "c", "--parent", "dm", "--reversible", "0,,1");
    ASSERT_RC(2);
    CTL_AS("dm", "register", "c", "--parent", "dm", "--depends-on", "net,");
    ASSERT_RC(2);
    CTL_AS("dm", "register", "c", "--parent", "dm", "--depends-on", ",net");
    ASSERT_RC(2);
    CTL_D("--json", "graph", "--dot");
    ASSERT_RC(2);
    CTL_D("graph", "a", "b");
    ASSERT_RC(2);
    CTL_D("terminate", "vm");
    ASSERT_RC(2);
    assert_unchanged(&s, "usage errors");

    /* --depends-on repeated, --reversible repeated. */
    CTL_AS("dm", "register", "c", "--parent", "dm", "--depends-on", "net", "--depends-on",
           "x,vm", "--ccrs", "4", "--reversible", "3", "--reversible", "0,1");
    ASSERT_RC(0);
    CTL_D("graph", "c");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, " c parent=dm deps=dm,net,vm,x\n") != NULL, "%s", R.out);
    CTL_D("--json", "read", "c");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "\"index\":2,\"policy\":\"irreversible\"") != NULL, "%s", R.out);
    cr_assert(strstr(R.out, "\"index\":3,\"policy\":\"reversible\"") != NULL, "%s", R.out);
}

Test(him_ctl_offline, help_for_new_commands)
{
    static const char *const cmds[] = {"depend", "undepend", "revert", "terminate", "graph"};
    CTL("--help");
    ASSERT_RC(0);
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        cr_assert(strstr(R.out, cmds[i]) != NULL, "%s missing from --help", cmds[i]);
    }
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        CTL("--socket", "ipc:///nonexistent/srtmd.sock", cmds[i], "--help");
        ASSERT_RC(0);
        cr_assert(strstr(R.out, "Usage: srtmctl") != NULL, "%s --help: %s", cmds[i], R.out);
        cr_assert(strstr(R.out, cmds[i]) != NULL);
    }
    CTL("register", "--help");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "--parent") != NULL && strstr(R.out, "--reversible") != NULL);
}
