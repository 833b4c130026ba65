/*
 * The fleet verifier's storage (verifierd/store.h): every test body runs against both
 * back-ends, SQLite in a temporary directory and PostgreSQL in a private cluster started
 * for the test (pg_helper.h), through the same interface.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "pg_helper.h"
#include "store.h"

static struct {
    test_pg pg;
    char dir[256];
    char url[700];
    int is_pg;
} F;

static void sqlite_init(void)
{
    memset(&F, 0, sizeof F);
    snprintf(F.dir, sizeof F.dir, "/tmp/srtm-vstore-XXXXXX");
    cr_assert_not_null(mkdtemp(F.dir));
    snprintf(F.url, sizeof F.url, "sqlite:%s/store.db", F.dir);
}

static void sqlite_fini(void)
{
    const char *rm[] = {"/bin/rm", "-rf", F.dir, NULL};
    char out[64];
    (void)test_run(rm, out, sizeof out, NULL, 0);
}

static void pg_init(void)
{
    memset(&F, 0, sizeof F);
    test_pg_start(&F.pg);
    snprintf(F.url, sizeof F.url, "%s", F.pg.url);
    F.is_pg = 1;
}

static void pg_fini(void)
{
    test_pg_stop(&F.pg);
}

TestSuite(store_sqlite, .init = sqlite_init, .fini = sqlite_fini);
TestSuite(store_pg, .init = pg_init, .fini = pg_fini);

/* Each body once per back-end. */
#define BOTH(name)                                                                       \
    static void body_##name(void);                                                       \
    Test(store_sqlite, name)                                                             \
    {                                                                                    \
        body_##name();                                                                   \
    }                                                                                    \
    Test(store_pg, name)                                                                 \
    {                                                                                    \
        body_##name();                                                                   \
    }                                                                                    \
    static void body_##name(void)

static vstore *open_store(void)
{
    vstore *s = NULL;
    char err[512] = "";
    srtm_err rc = store_open(F.url, &s, err, sizeof err);
    cr_assert_eq(rc, SRTM_OK, "store_open %s: %s (%s)", F.url, srtm_strerror(rc), err);
    cr_assert_str_eq(store_backend(s), F.is_pg ? "postgresql" : "sqlite");
    return s;
}

#define OK(call)                                                                         \
    do {                                                                                 \
        srtm_err rc_ = (call);                                                           \
        cr_assert_eq(rc_, SRTM_OK, "%s: %s (%s)", #call, srtm_strerror(rc_),             \
                     store_errmsg(s));                                                   \
    } while (0)

#define FAILS(call, code)                                                                \
    do {                                                                                 \
        srtm_err rc_ = (call);                                                           \
        cr_assert_eq(rc_, (code), "%s: %s, expected %s (%s)", #call, srtm_strerror(rc_), \
                     srtm_strerror(code), store_errmsg(s));                              \
    } while (0)

static const char policy_body[] = "{\"components\":{\"/usr/bin/x\":\"ab\"}}";

static void put_policy(vstore *s, const char *name)
{
    OK(store_policy_put(s, name, policy_body, strlen(policy_body), 100));
}

static vs_host host_template(const char *name, const char *policy, int64_t interval)
{
    vs_host h;
    memset(&h, 0, sizeof h);
    snprintf(h.name, sizeof h.name, "%s", name);
    snprintf(h.address, sizeof h.address, "tcp://192.0.2.1:7000");
    snprintf(h.aik_pem, sizeof h.aik_pem, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END "
                                          "PUBLIC KEY-----\n");
    snprintf(h.policy, sizeof h.policy, "%s", policy);
    h.interval_s = interval;
    return h;
}

static void add_host(vstore *s, const char *name, int64_t interval, int64_t now)
{
    vs_host h = host_template(name, "base", interval);
    OK(store_host_add(s, &h, now, NULL));
}

static void long_name(char *buf, size_t len)
{
    memset(buf, 'a', len);
    buf[len] = '\0';
}

/* ---- policies ---- */

BOTH(policy_crud)
{
    vstore *s = open_store();
    put_policy(s, "base");
    vs_policy p;
    OK(store_policy_get(s, "base", &p));
    cr_assert_str_eq(p.body, policy_body);
    cr_assert_eq(p.body_len, strlen(policy_body));
    cr_assert_eq(p.updated, 100);
    /* The version is the SHA-256 of the body, computed independently here. */
    uint8_t d[32];
    char hex[65];
    test_sha256(policy_body, strlen(policy_body), NULL, 0, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    cr_assert_str_eq(p.version, hex);
    vs_policy_free(&p);

    /* Replacing changes body and version; a big body survives whole. */
    size_t big = 3u << 20;
    char *body = malloc(big + 1);
    cr_assert_not_null(body);
    memset(body, 'x', big);
    body[0] = '"';
    body[big - 1] = '"';
    body[big] = '\0';
    OK(store_policy_put(s, "base", body, big, 200));
    OK(store_policy_get(s, "base", &p));
    cr_assert_eq(p.body_len, big);
    cr_assert(memcmp(p.body, body, big) == 0);
    cr_assert_str_neq(p.version, hex);
    cr_assert_eq(p.updated, 200);
    vs_policy_free(&p);
    free(body);

    char name[VS_NAME_MAX + 2];
    long_name(name, VS_NAME_MAX + 1);
    FAILS(store_policy_put(s, name, "{}", 2, 1), SRTM_E_TOO_BIG);
    long_name(name, VS_NAME_MAX);
    OK(store_policy_put(s, name, "{}", 2, 1)); /* exactly at the bound */
    FAILS(store_policy_put(s, "", "{}", 2, 1), SRTM_E_INVALID);
    FAILS(store_policy_put(s, "nul", "{}\0x", 4, 1), SRTM_E_INVALID);
    FAILS(store_policy_put(s, "empty", "", 0, 1), SRTM_E_INVALID);
    FAILS(store_policy_put(s, "huge", "{}", VS_POLICY_MAX + 1, 1), SRTM_E_TOO_BIG);
    FAILS(store_policy_get(s, "nope", &p), SRTM_E_NO_COMPONENT);

    put_policy(s, "zeta");
    vs_name names[2];
    size_t n = 0;
    OK(store_policy_list(s, "", names, 2, &n));
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0].s, name); /* "aaa..." */
    cr_assert_str_eq(names[1].s, "base");
    OK(store_policy_list(s, names[1].s, names, 2, &n));
    cr_assert_eq(n, 1);
    cr_assert_str_eq(names[0].s, "zeta");
    store_close(s);
}

/* ---- hosts ---- */

/* The version alone follows the body, as store_policy_get reports it. */
BOTH(policy_version)
{
    vstore *s = open_store();
    put_policy(s, "base");
    vs_policy p = {0};
    char v[2 * SRTM_DIGEST_LEN + 1] = "";
    OK(store_policy_version(s, "base", v));
    OK(store_policy_get(s, "base", &p));
    cr_assert_str_eq(v, p.version);
    vs_policy_free(&p);
    static const char other[] = "{\"format\": \"srtm-policy-v1\", \"other\": true}";
    OK(store_policy_put(s, "base", other, strlen(other), 2000));
    char w[2 * SRTM_DIGEST_LEN + 1] = "";
    OK(store_policy_version(s, "base", w));
    cr_assert_str_neq(w, v, "a new body is a new version");
    OK(store_policy_get(s, "base", &p));
    cr_assert_str_eq(w, p.version);
    vs_policy_free(&p);
    FAILS(store_policy_version(s, "nope", w), SRTM_E_NO_COMPONENT);
    FAILS(store_policy_version(s, "", w), SRTM_E_INVALID);
    store_close(s);
}

BOTH(host_crud)
{
    vstore *s = open_store();
    vs_host h = host_template("h1", "base", 60);
    FAILS(store_host_add(s, &h, 1000, NULL), SRTM_E_NO_COMPONENT); /* unknown policy */
    put_policy(s, "base");
    int64_t id = 0;
    OK(store_host_add(s, &h, 1000, &id));
    cr_assert_gt(id, 0);
    FAILS(store_host_add(s, &h, 1001, NULL), SRTM_E_EXISTS);

    vs_host bad = host_template("h2", "base", 60);
    long_name(bad.name, VS_NAME_MAX);
    bad.name[VS_NAME_MAX] = 'a'; /* no NUL within the bound */
    FAILS(store_host_add(s, &bad, 1, NULL), SRTM_E_TOO_BIG);
    bad = host_template("h2", "base", 0);
    FAILS(store_host_add(s, &bad, 1, NULL), SRTM_E_RANGE);
    bad = host_template("h2", "base", VS_INTERVAL_MAX + 1);
    FAILS(store_host_add(s, &bad, 1, NULL), SRTM_E_RANGE);
    bad = host_template("h2", "base", 60);
    bad.address[0] = '\0';
    FAILS(store_host_add(s, &bad, 1, NULL), SRTM_E_INVALID);
    bad = host_template("h2", "", 60);
    FAILS(store_host_add(s, &bad, 1, NULL), SRTM_E_INVALID);
    bad = host_template("h2", "other", 60);
    FAILS(store_host_add(s, &bad, 1, NULL), SRTM_E_NO_COMPONENT);

    vs_host *got = calloc(1, sizeof *got);
    OK(store_host_get(s, "h1", got));
    cr_assert_eq(got->id, id);
    cr_assert_str_eq(got->address, h.address);
    cr_assert_str_eq(got->aik_pem, h.aik_pem);
    cr_assert_str_eq(got->policy, "base");
    cr_assert_eq(got->interval_s, 60);
    cr_assert_eq(got->added, 1000);
    cr_assert_eq(got->next_due, 1000); /* due at once */
    cr_assert_eq(got->last_attempt, 0);
    cr_assert_str_eq(got->verdict, "");
    FAILS(store_host_get(s, "h2", got), SRTM_E_NO_COMPONENT);

    OK(store_host_remove(s, "h1"));
    FAILS(store_host_get(s, "h1", got), SRTM_E_NO_COMPONENT);
    FAILS(store_host_remove(s, "h1"), SRTM_E_NO_COMPONENT);
    OK(store_host_add(s, &h, 2000, NULL)); /* the name is free again */
    free(got);
    store_close(s);
}

/* Many hosts share one policy; the list is paged in name order. */
BOTH(host_list_paged)
{
    vstore *s = open_store();
    put_policy(s, "base");
    for (int i = 49; i >= 0; i--) {
        char name[16];
        snprintf(name, sizeof name, "host-%02d", i);
        add_host(s, name, 60, 1000);
    }
    vs_host *page = calloc(7, sizeof *page);
    cr_assert_not_null(page);
    char after[VS_NAME_MAX + 1] = "";
    int seen = 0;
    size_t n;
    do {
        OK(store_host_list(s, after, page, 7, &n));
        for (size_t i = 0; i < n; i++, seen++) {
            char want[16];
            snprintf(want, sizeof want, "host-%02d", seen);
            cr_assert_str_eq(page[i].name, want);
            cr_assert_str_eq(page[i].policy, "base");
        }
        if (n)
            snprintf(after, sizeof after, "%s", page[n - 1].name);
    } while (n == 7);
    cr_assert_eq(seen, 50);
    FAILS(store_host_list(s, "", page, 0, &n), SRTM_E_INVALID);
    FAILS(store_host_list(s, "", page, VS_PAGE_MAX + 1, &n), SRTM_E_TOO_BIG);
    free(page);
    store_close(s);
}

/* ---- last verified state ---- */

BOTH(state_round_trip)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h1", 60, 1000);
    vs_state st = {0}, got = {0};
    FAILS(store_state_get(s, "h1", &got), SRTM_E_NO_COMPONENT);

    for (size_t i = 0; i < 16; i++)
        st.instance[i] = (uint8_t)(0xf0 + i);
    st.instance_len = 16;
    st.reset_count = 7;
    st.restart_count = 3;
    st.seq = 123456789012LL;
    st.blob_len = 200000;
    st.blob = malloc(st.blob_len);
    cr_assert_not_null(st.blob);
    for (size_t i = 0; i < st.blob_len; i++)
        st.blob[i] = (uint8_t)(i * 31 + (i >> 8)); /* includes NUL bytes */
    OK(store_state_put(s, "h1", &st));
    OK(store_state_get(s, "h1", &got));
    cr_assert_eq(got.instance_len, 16);
    cr_assert(memcmp(got.instance, st.instance, 16) == 0);
    cr_assert_eq(got.reset_count, 7);
    cr_assert_eq(got.restart_count, 3);
    cr_assert_eq(got.seq, 123456789012LL);
    cr_assert_eq(got.blob_len, st.blob_len);
    cr_assert(memcmp(got.blob, st.blob, st.blob_len) == 0);
    vs_state_clear(&got);

    /* Replaced, with an empty blob. */
    vs_state st2 = st;
    st2.blob = NULL;
    st2.blob_len = 0;
    st2.seq = 5;
    OK(store_state_put(s, "h1", &st2));
    OK(store_state_get(s, "h1", &got));
    cr_assert_eq(got.seq, 5);
    cr_assert_eq(got.blob_len, 0);
    vs_state_clear(&got);

    FAILS(store_state_put(s, "nope", &st), SRTM_E_NO_COMPONENT);
    st2.instance_len = VS_INSTANCE_MAX + 1;
    FAILS(store_state_put(s, "h1", &st2), SRTM_E_TOO_BIG);

    /* Removing the host removes its state. */
    OK(store_host_remove(s, "h1"));
    add_host(s, "h1", 60, 2000);
    FAILS(store_state_get(s, "h1", &got), SRTM_E_NO_COMPONENT);
    vs_state_clear(&st);
    store_close(s);
}

/* ---- verdicts ---- */

BOTH(verdict_history)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h1", 60, 1000);
    add_host(s, "h2", 60, 1000);
    vs_verdict cur;
    OK(store_verdict_current(s, "h1", &cur));
    cr_assert_str_eq(cur.verdict, "");
    vs_verdicts_free(&cur, 1);

    for (int i = 0; i < 25; i++) {
        char reasons[64];
        snprintf(reasons, sizeof reasons, "[\"change %d\"]", i);
        OK(store_verdict_append(s, "h1", 2000 + i * 10, i % 2 ? "untrusted" : "trusted",
                                reasons));
    }
    /* Two changes in the same second: the later one is newer. */
    OK(store_verdict_append(s, "h1", 2240, "trusted", "[\"same second a\"]"));
    OK(store_verdict_append(s, "h1", 2240, "untrusted", "[\"same second b\"]"));
    OK(store_verdict_append(s, "h2", 5000, "trusted", ""));

    OK(store_verdict_current(s, "h1", &cur));
    cr_assert_str_eq(cur.verdict, "untrusted");
    cr_assert_str_eq(cur.reasons, "[\"same second b\"]");
    vs_verdicts_free(&cur, 1);

    vs_verdict page[10];
    size_t n, total = 0;
    int64_t last_time = INT64_MAX;
    for (size_t skip = 0;; skip += n) {
        OK(store_verdict_history(s, "h1", skip, page, 10, &n));
        if (skip == 0) {
            cr_assert_str_eq(page[0].reasons, "[\"same second b\"]");
            cr_assert_str_eq(page[1].reasons, "[\"same second a\"]");
            cr_assert_str_eq(page[2].reasons, "[\"change 24\"]");
        }
        for (size_t i = 0; i < n; i++) {
            cr_assert_leq(page[i].time, last_time, "history not newest first");
            last_time = page[i].time;
        }
        total += n;
        vs_verdicts_free(page, n);
        if (n < 10)
            break;
    }
    cr_assert_eq(total, 27);
    cr_assert_eq(last_time, 2000);
    OK(store_verdict_history(s, "h1", 26, page, 10, &n));
    cr_assert_eq(n, 1);
    cr_assert_str_eq(page[0].reasons, "[\"change 0\"]");
    vs_verdicts_free(page, n);

    FAILS(store_verdict_append(s, "nope", 1, "trusted", ""), SRTM_E_NO_COMPONENT);
    FAILS(store_verdict_history(s, "nope", 0, page, 10, &n), SRTM_E_NO_COMPONENT);
    char v[VS_VERDICT_MAX + 2];
    long_name(v, VS_VERDICT_MAX + 1);
    FAILS(store_verdict_append(s, "h1", 1, v, ""), SRTM_E_TOO_BIG);
    FAILS(store_verdict_append(s, "h1", 1, "", ""), SRTM_E_INVALID);
    /* A refused change left no trace. */
    OK(store_verdict_history(s, "h1", 0, page, 1, &n));
    cr_assert_str_eq(page[0].reasons, "[\"same second b\"]");
    vs_verdicts_free(page, n);
    store_close(s);
}

/* ---- attempts, leases, staleness ---- */

BOTH(attempt_recorded)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h1", 60, 1000);
    OK(store_attempt(s, "h1", "node-a", 1010, "ok"));
    vs_host *h = calloc(1, sizeof *h);
    OK(store_host_get(s, "h1", h));
    cr_assert_eq(h->last_attempt, 1010);
    cr_assert_str_eq(h->last_node, "node-a");
    cr_assert_str_eq(h->last_outcome, "ok");
    cr_assert_eq(h->next_due, 1070);
    OK(store_attempt(s, "h1", "node-b", 1075, "timeout"));
    OK(store_host_get(s, "h1", h));
    cr_assert_str_eq(h->last_node, "node-b");
    cr_assert_str_eq(h->last_outcome, "timeout");
    FAILS(store_attempt(s, "nope", "node-a", 1, "ok"), SRTM_E_NO_COMPONENT);
    char node[VS_NODE_MAX + 2];
    long_name(node, VS_NODE_MAX + 1);
    FAILS(store_attempt(s, "h1", node, 1, "ok"), SRTM_E_TOO_BIG);
    free(h);
    store_close(s);
}

/* The daemon's jitter and back-off: the next due time is the caller's, bounded. */
BOTH(attempt_next_due)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h1", 60, 1000);
    vs_name got[4];
    size_t n = 0;
    OK(store_claim_due(s, "node-a", 1000, 30, 4, got, &n));
    cr_assert_eq(n, 1);
    OK(store_attempt_next(s, "h1", "node-a", 1010, "unreachable: timed out", 1012));
    vs_host *h = calloc(1, sizeof *h);
    OK(store_host_get(s, "h1", h));
    cr_assert_eq(h->next_due, 1012);
    cr_assert_str_eq(h->last_outcome, "unreachable: timed out");
    cr_assert_str_eq(h->lease_owner, "", "the attempt frees the lease");
    OK(store_claim_due(s, "node-a", 1011, 30, 4, got, &n));
    cr_assert_eq(n, 0, "not due before next_due");
    OK(store_claim_due(s, "node-a", 1012, 30, 4, got, &n));
    cr_assert_eq(n, 1);
    FAILS(store_attempt_next(s, "h1", "node-a", 1020, "ok", 1020), SRTM_E_INVALID);
    FAILS(store_attempt_next(s, "h1", "node-a", 1020, "ok", 1020 + VS_INTERVAL_MAX + 1),
          SRTM_E_INVALID);
    FAILS(store_attempt_next(s, "nope", "node-a", 1020, "ok", 1030), SRTM_E_NO_COMPONENT);
    OK(store_host_get(s, "h1", h));
    cr_assert_eq(h->next_due, 1012, "a refused attempt changed nothing");
    free(h);
    store_close(s);
}

typedef struct claimer {
    const char *node;
    vs_name *got;
    size_t n, cap;
    srtm_err err;
} claimer;

/* Claim until nothing is due, on a connection of this thread's own. */
static void *claim_all(void *arg)
{
    claimer *c = arg;
    vstore *s = NULL;
    char msg[256];
    c->err = store_open(F.url, &s, msg, sizeof msg);
    size_t n = 1;
    while (c->err == SRTM_OK && n > 0 && c->n + 7 <= c->cap) {
        c->err = store_claim_due(s, c->node, 5000, 300, 7, c->got + c->n, &n);
        if (c->err == SRTM_OK)
            c->n += n;
    }
    store_close(s);
    return NULL;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const vs_name *)a)->s, ((const vs_name *)b)->s);
}

/* Two nodes claim concurrently: every due host is claimed exactly once. */
BOTH(claim_exclusive)
{
    enum { HOSTS = 300 };
    vstore *s = open_store();
    put_policy(s, "base");
    for (int i = 0; i < HOSTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "h%03d", i);
        add_host(s, name, 60, 1000 + (i % 5) * 1000); /* h with i%5==4 due at 5000 too */
    }
    add_host(s, "later", 60, 9000); /* not due */
    claimer c[2] = {{.node = "node-a"}, {.node = "node-b"}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        c[i].cap = HOSTS + 16;
        c[i].got = calloc(c[i].cap, sizeof(vs_name));
        cr_assert_eq(pthread_create(&t[i], NULL, claim_all, &c[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(c[i].err, SRTM_OK, "%s: %s", c[i].node, srtm_strerror(c[i].err));
    cr_assert_eq(c[0].n + c[1].n, HOSTS, "claimed %zu + %zu", c[0].n, c[1].n);
    vs_name *all = calloc(HOSTS, sizeof *all);
    memcpy(all, c[0].got, c[0].n * sizeof *all);
    memcpy(all + c[0].n, c[1].got, c[1].n * sizeof *all);
    qsort(all, HOSTS, sizeof *all, cmp_name);
    for (int i = 0; i < HOSTS; i++) {
        char want[16];
        snprintf(want, sizeof want, "h%03d", i);
        cr_assert_str_eq(all[i].s, want, "host claimed twice or not at all");
    }
    /* Each lease names the node that claimed it. */
    vs_host *h = calloc(1, sizeof *h);
    OK(store_host_get(s, c[1].n ? c[1].got[0].s : c[0].got[0].s, h));
    cr_assert_str_eq(h->lease_owner, c[1].n ? "node-b" : "node-a");
    cr_assert_eq(h->lease_expiry, 5300);
    free(h);
    free(all);
    free(c[0].got);
    free(c[1].got);
    store_close(s);
}

BOTH(lease_expiry_takeover)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h1", 60, 1000);
    add_host(s, "h2", 60, 1000);
    vs_name got[4];
    size_t n;
    OK(store_claim_due(s, "node-a", 1000, 30, 4, got, &n));
    cr_assert_eq(n, 2);
    OK(store_claim_due(s, "node-b", 1010, 30, 4, got, &n));
    cr_assert_eq(n, 0, "a held lease was handed out");
    OK(store_claim_due(s, "node-a", 1010, 30, 4, got, &n));
    cr_assert_eq(n, 0, "a held lease was handed out again to its holder");
    vs_name both[2] = {{"h1"}, {"h2"}};
    OK(store_renew_hosts(s, "node-a", both, 2, 1020, 30, &n)); /* heartbeat: until 1050 */
    cr_assert_eq(n, 2);
    OK(store_claim_due(s, "node-b", 1049, 30, 4, got, &n));
    cr_assert_eq(n, 0, "a renewed lease was handed out");
    /* node-a dies: its leases expire, node-b takes the hosts over. */
    OK(store_claim_due(s, "node-b", 1050, 30, 4, got, &n));
    cr_assert_eq(n, 2);
    /* node-a comes back late: its attempt is recorded but leaves node-b's lease alone. */
    OK(store_attempt(s, "h1", "node-a", 1055, "ok"));
    vs_host *h = calloc(1, sizeof *h);
    OK(store_host_get(s, "h1", h));
    cr_assert_str_eq(h->lease_owner, "node-b");
    cr_assert_eq(h->lease_expiry, 1080);
    /* node-b's attempt frees its lease; the host is due one interval later. */
    OK(store_attempt(s, "h1", "node-b", 1060, "ok"));
    OK(store_host_get(s, "h1", h));
    cr_assert_str_eq(h->lease_owner, "");
    cr_assert_eq(h->next_due, 1120);
    OK(store_claim_due(s, "node-a", 1079, 30, 4, got, &n)); /* h1 not due, h2 held */
    cr_assert_eq(n, 0);
    /* Release: h2 is free for another node at once. */
    OK(store_release(s, "node-a", "h2")); /* not node-a's: nothing happens */
    OK(store_claim_due(s, "node-a", 1061, 30, 4, got, &n));
    cr_assert_eq(n, 0);
    OK(store_release(s, "node-b", NULL));
    OK(store_claim_due(s, "node-a", 1061, 30, 4, got, &n));
    cr_assert_eq(n, 1);
    cr_assert_str_eq(got[0].s, "h2");
    FAILS(store_claim_due(s, "node-a", 1061, 0, 4, got, &n), SRTM_E_RANGE);
    FAILS(store_claim_due(s, "", 1061, 30, 4, got, &n), SRTM_E_INVALID);
    free(h);
    store_close(s);
}

/* The heartbeat renews only the hosts named: a lease the node holds without knowing it
 * (a claim whose answer was lost) expires and the host is claimed again. */
BOTH(renew_names_only_the_hosts_attempted)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h1", 60, 1000);
    add_host(s, "h2", 60, 1000);
    add_host(s, "h3", 60, 1000);
    vs_name got[4], attempting[2];
    size_t n;
    OK(store_claim_due(s, "node-a", 1000, 30, 2, got, &n)); /* two of them */
    cr_assert_eq(n, 2);
    OK(store_claim_due(s, "node-b", 1000, 30, 4, got + 2, &n)); /* the third */
    cr_assert_eq(n, 1);
    /* node-a attempts only got[0]; it does not know it holds got[1]. */
    snprintf(attempting[0].s, sizeof(attempting[0].s), "%s", got[0].s);
    snprintf(attempting[1].s, sizeof(attempting[1].s), "%s", got[2].s); /* node-b's */
    OK(store_renew_hosts(s, "node-a", attempting, 2, 1020, 30, &n));
    cr_assert_eq(n, 1, "only the host node-a holds and attempts is renewed");
    vs_host *h = calloc(1, sizeof *h);
    OK(store_host_get(s, got[0].s, h));
    cr_assert_eq(h->lease_expiry, 1050);
    OK(store_host_get(s, got[1].s, h));
    cr_assert_eq(h->lease_expiry, 1030, "the forgotten lease keeps its expiry");
    OK(store_host_get(s, got[2].s, h));
    cr_assert_str_eq(h->lease_owner, "node-b");
    cr_assert_eq(h->lease_expiry, 1030, "another node's lease is not renewed by node-a");
    vs_name again[4];
    OK(store_claim_due(s, "node-c", 1030, 30, 4, again, &n));
    cr_assert_eq(n, 2, "the forgotten and node-b's expired leases are claimed again");
    OK(store_renew_hosts(s, "node-a", attempting, 0, 1031, 30, &n));
    cr_assert_eq(n, 0);
    FAILS(store_renew_hosts(s, "node-a", attempting, 1, 1031, 0, &n), SRTM_E_RANGE);
    FAILS(store_renew_hosts(s, "", attempting, 1, 1031, 30, &n), SRTM_E_INVALID);
    vs_name empty = {{0}};
    FAILS(store_renew_hosts(s, "node-a", &empty, 1, 1031, 30, &n), SRTM_E_INVALID);
    free(h);
    store_close(s);
}

/* A node whose lease expired while it attempted (a stall, a partition from the store)
 * must not write its older verdict or state over those of the node that took the host over:
 * a tainted state overwritten by an untainted one would make the next report of a run that
 * lied verify as trusted. */
BOTH(record_only_while_holding_the_lease)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h", 60, 1000);
    vs_name got[1];
    size_t n;
    OK(store_claim_due(s, "node-a", 1000, 30, 1, got, &n));
    cr_assert_eq(n, 1);
    /* node-a stalls; its lease expires and node-b takes the host over */
    OK(store_claim_due(s, "node-b", 1031, 30, 1, got, &n));
    cr_assert_eq(n, 1);
    uint8_t tainted[] = {1, 2, 3}, clean[] = {4, 5, 6, 7};
    vs_state st_b = {.instance = {9}, .instance_len = 16, .reset_count = 1, .seq = 7,
                     .blob = tainted, .blob_len = sizeof tainted};
    vs_record rb = {.now = 1032, .next_due = 1092, .verdict = "untrusted",
                    .reasons = "{\"continuity\":1}", .outcome = "untrusted", .state = &st_b};
    bool changed = false;
    char previous[VS_VERDICT_MAX + 1];
    OK(store_record(s, "h", "node-b", &rb, &changed, previous));
    cr_assert(changed);
    cr_assert_str_eq(previous, "");
    /* node-a's older attempt ends now: nothing of it is written */
    vs_state st_a = {.instance = {9}, .instance_len = 16, .reset_count = 1, .seq = 5,
                     .blob = clean, .blob_len = sizeof clean};
    vs_record ra = {.now = 1033, .next_due = 1093, .verdict = "trusted", .reasons = "",
                    .outcome = "trusted", .state = &st_a};
    changed = true;
    FAILS(store_record(s, "h", "node-a", &ra, &changed, previous), SRTM_E_DENIED);
    cr_assert(!changed);
    vs_verdict v[4];
    OK(store_verdict_history(s, "h", 0, v, 4, &n));
    cr_assert_eq(n, 1);
    cr_assert_str_eq(v[0].verdict, "untrusted");
    vs_verdicts_free(v, n);
    vs_verdict cur = {0};
    OK(store_verdict_current(s, "h", &cur));
    cr_assert_str_eq(cur.verdict, "untrusted");
    vs_verdicts_free(&cur, 1);
    vs_state got_st = {0};
    OK(store_state_get(s, "h", &got_st));
    cr_assert_eq(got_st.seq, 7);
    cr_assert_eq(got_st.blob_len, sizeof tainted);
    cr_assert_eq(memcmp(got_st.blob, tainted, sizeof tainted), 0, "the tainted state stays");
    vs_state_clear(&got_st);
    vs_host *h = calloc(1, sizeof *h);
    OK(store_host_get(s, "h", h));
    cr_assert_str_eq(h->last_node, "node-b");
    cr_assert_eq(h->next_due, 1092);
    cr_assert_str_eq(h->lease_owner, "", "node-b's record freed its lease");
    /* nor once the lease is free, nor for a host that does not exist */
    FAILS(store_record(s, "h", "node-a", &ra, NULL, NULL), SRTM_E_DENIED);
    FAILS(store_record(s, "nope", "node-a", &ra, NULL, NULL), SRTM_E_DENIED);
    /* the holder's record of the same verdict appends nothing; a record without a state
     * keeps the stored one */
    OK(store_claim_due(s, "node-a", 1092, 30, 1, got, &n));
    cr_assert_eq(n, 1);
    vs_record same = rb;
    same.now = 1093;
    same.next_due = 1153;
    same.state = NULL;
    OK(store_record(s, "h", "node-a", &same, &changed, previous));
    cr_assert(!changed);
    cr_assert_str_eq(previous, "untrusted");
    OK(store_verdict_history(s, "h", 0, v, 4, &n));
    cr_assert_eq(n, 1);
    vs_verdicts_free(v, n);
    OK(store_state_get(s, "h", &got_st));
    cr_assert_eq(got_st.seq, 7);
    vs_state_clear(&got_st);
    OK(store_host_get(s, "h", h));
    cr_assert_str_eq(h->last_node, "node-a");
    FAILS(store_record(s, "h", "", &same, NULL, NULL), SRTM_E_INVALID);
    FAILS(store_record(s, "h", "node-a", NULL, NULL, NULL), SRTM_E_INVALID);
    free(h);
    store_close(s);
}

BOTH(stale_detection)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "never", 60, 1000);
    add_host(s, "tried", 60, 1000);
    add_host(s, "slow", 3600, 1000);
    OK(store_attempt(s, "tried", "node-a", 1100, "ok"));
    vs_name out[4];
    size_t n;
    OK(store_stale(s, 1120, out, 4, &n));
    cr_assert_eq(n, 0);
    OK(store_stale(s, 1121, out, 4, &n)); /* never attempted, added 121 s ago */
    cr_assert_eq(n, 1);
    cr_assert_str_eq(out[0].s, "never");
    OK(store_stale(s, 1220, out, 4, &n));
    cr_assert_eq(n, 1);
    OK(store_stale(s, 1221, out, 4, &n));
    cr_assert_eq(n, 2);
    cr_assert_str_eq(out[1].s, "tried");
    OK(store_attempt(s, "tried", "node-b", 1221, "ok"));
    OK(store_stale(s, 1221, out, 4, &n));
    cr_assert_eq(n, 1);
    OK(store_stale(s, 1000 + 7201, out, 4, &n));
    cr_assert_eq(n, 3);
    cr_assert_str_eq(out[0].s, "never");
    cr_assert_str_eq(out[1].s, "slow");
    cr_assert_str_eq(out[2].s, "tried");
    store_close(s);
}

/* ---- durability and reconnection ---- */

static size_t history_len(vstore *s, const char *host)
{
    vs_verdict page[64];
    size_t n = 0;
    OK(store_verdict_history(s, host, 0, page, 64, &n));
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "[%zu]", n - 1 - i);
        cr_assert_str_eq(page[i].reasons, want, "history lost or reordered a change");
    }
    vs_verdicts_free(page, n);
    return n;
}

/* The database server restarts mid-run (SQLite: the connection is dropped and reopened):
 * the store fails the one call in flight with SRTM_E_TRANSPORT, the next call reconnects,
 * and no committed verdict change is lost. */
BOTH(restart_keeps_verdicts)
{
    vstore *s = open_store();
    put_policy(s, "base");
    add_host(s, "h1", 60, 1000);
    for (int i = 0; i < 10; i++) {
        char r[32];
        snprintf(r, sizeof r, "[%d]", i);
        OK(store_verdict_append(s, "h1", 2000 + i, i % 2 ? "untrusted" : "trusted", r));
    }
    if (F.is_pg) {
        test_pg_restart(&F.pg);
        /* The old server closed the connection: the call in flight says so, without
         * having changed anything, and the next call reconnects. */
        FAILS(store_verdict_append(s, "h1", 2010, "trusted", "[10]"), SRTM_E_TRANSPORT);
        OK(store_verdict_append(s, "h1", 2010, "trusted", "[10]"));
    } else {
        store_close(s);
        s = open_store();
        OK(store_verdict_append(s, "h1", 2010, "trusted", "[10]"));
    }
    cr_assert_eq(history_len(s, "h1"), 11);
    OK(store_verdict_append(s, "h1", 2011, "untrusted", "[11]"));
    store_close(s);
    s = open_store(); /* a fresh connection sees every change */
    cr_assert_eq(history_len(s, "h1"), 12);
    vs_verdict cur;
    OK(store_verdict_current(s, "h1", &cur));
    cr_assert_str_eq(cur.reasons, "[11]");
    vs_verdicts_free(&cur, 1);
    store_close(s);
}

/* Opening again finds the schema in place; bad URLs are refused with a reason. */
BOTH(open_reopen_and_refuse)
{
    vstore *s = open_store();
    put_policy(s, "base");
    store_close(s);
    s = open_store();
    vs_policy p;
    OK(store_policy_get(s, "base", &p));
    vs_policy_free(&p);
    store_close(s);

    vstore *t = NULL;
    char err[256] = "";
    cr_assert_eq(store_open("mysql://x", &t, err, sizeof err), SRTM_E_INVALID);
    cr_assert_neq(err[0], '\0');
    cr_assert_null(t);
    cr_assert_eq(store_open("sqlite:", &t, err, sizeof err), SRTM_E_INVALID);
    cr_assert_eq(store_open("sqlite:/nonexistent-dir/x/store.db", &t, err, sizeof err),
                 SRTM_E_IO);
    cr_assert_null(t);
    char url[700];
    snprintf(url, sizeof url, "postgresql://srtm@/postgres?host=%s/none&port=5432",
             F.is_pg ? F.pg.dir : "/tmp");
    cr_assert_eq(store_open(url, &t, err, sizeof err), SRTM_E_TRANSPORT);
    cr_assert(strstr(err, "postgresql") != NULL, "%s", err);
    cr_assert_null(t);
}

/* Run SQL on the test's database directly, beside the store. */
static void raw_sql(const char *sql)
{
    if (F.is_pg) {
        PGconn *c = PQconnectdb(F.url);
        cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
        PGresult *res = PQexec(c, sql);
        cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
    } else {
        sqlite3 *db = NULL;
        cr_assert_eq(sqlite3_open(F.url + strlen("sqlite:"), &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
                     sqlite3_errmsg(db));
        sqlite3_close(db);
    }
}

/* A database of another schema version is refused, not used. */
BOTH(other_schema_version_refused)
{
    vstore *s = open_store();
    store_close(s);
    raw_sql("UPDATE schema_version SET version = 99");
    vstore *t = NULL;
    char err[256] = "";
    cr_assert_eq(store_open(F.url, &t, err, sizeof err), SRTM_E_VERSION, "%s", err);
    cr_assert(strstr(err, "99") != NULL, "%s", err);
    cr_assert_null(t);
}

static void *open_close(void *arg)
{
    vstore *s = NULL;
    char err[256];
    *(srtm_err *)arg = store_open(F.url, &s, err, sizeof err);
    store_close(s);
    return NULL;
}

/* Nodes that start together on a new database create the schema once, without failing. */
BOTH(concurrent_first_open)
{
    enum { N = 4 };
    pthread_t t[N];
    srtm_err rc[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, open_close, &rc[i]), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++)
        cr_assert_eq(rc[i], SRTM_OK, "open %d: %s", i, srtm_strerror(rc[i]));
    vstore *s = open_store();
    put_policy(s, "base");
    store_close(s);
}
