/*
 * Unit tests of the verifier's dependency rule (client-lib/verify.c, dependency_rule):
 * trusted(X) = X's own rules pass AND every component X depends on, directly or
 * transitively, is trusted; the verdict names the failing dependency and the chain to
 * it. Reports are built by hand (no TPM, no daemon) and judged by verify_report_only(),
 * which runs everything srtm_verify runs after the TPM-level checks. Also the report's
 * self-consistency (missing handles, cycles, parents, duplicate handles), "terminated",
 * and the paper's firewall scenario (section 6.2) on a reversible CCR. Then the rules over
 * a component's history (client-lib/verifier/history.c): dependency records, removed
 * dependencies judged at the cut, and who made each revert.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "verify_int.h"

#define MAX_LOG 8
#define MAX_DEPS 4
#define MAX_CHANGES 8

/* One hand-built component with one CCR. */
typedef struct hcomp {
    Srtm__ReportComponent c;
    Srtm__ReportCcr ccr;
    Srtm__ReportCcr *ccrs[1];
    Srtm__LogEntry e[MAX_LOG];
    Srtm__LogEntry *log[MAX_LOG];
    uint8_t d[MAX_LOG][SRTM_DIGEST_LEN];
    char desc[MAX_LOG][32];
    uint8_t value[SRTM_DIGEST_LEN];
    uint64_t deps[MAX_DEPS];
    Srtm__DependencyChange ch[MAX_CHANGES];
    Srtm__DependencyChange *chp[MAX_CHANGES];
    char name[32];
} hcomp;

typedef struct hrep {
    Srtm__CcrReport r;
    Srtm__ReportComponent **ptrs;
    hcomp *c;
    size_t n;
    uint64_t seq; /* the global sequence number of the last log entry */
} hrep;

static void digest_of(const char *data, uint8_t out[SRTM_DIGEST_LEN])
{
    cr_assert_eq(srtm_sha256(data, strlen(data), out), SRTM_OK);
}

static void hex_of(const char *data, char out[2 * SRTM_DIGEST_LEN + 1])
{
    uint8_t d[SRTM_DIGEST_LEN];
    digest_of(data, d);
    cr_assert_eq(hex_encode(d, sizeof(d), out, 2 * SRTM_DIGEST_LEN + 1), SRTM_OK);
}

/* The CCR value: replay of the live measurements (a marker returns to the value after
 * the live measurement it names), written independently of the verifier's replay. */
static void recompute(hcomp *h)
{
    uint8_t vals[MAX_LOG][SRTM_DIGEST_LEN];
    uint64_t seqs[MAX_LOG];
    size_t live = 0;
    for (size_t k = 0; k < h->ccr.n_log; k++) {
        const Srtm__LogEntry *e = &h->e[k];
        if (e->revert_marker) {
            while (live > 0 && seqs[live - 1] > e->revert_to_seq)
                live--;
            continue;
        }
        uint8_t two[2 * SRTM_DIGEST_LEN] = {0};
        if (live > 0)
            memcpy(two, vals[live - 1], SRTM_DIGEST_LEN);
        memcpy(two + SRTM_DIGEST_LEN, h->d[k], SRTM_DIGEST_LEN);
        cr_assert_eq(srtm_sha256(two, sizeof(two), vals[live]), SRTM_OK);
        seqs[live++] = e->seq;
    }
    if (live > 0)
        memcpy(h->value, vals[live - 1], SRTM_DIGEST_LEN);
    else
        memset(h->value, 0, SRTM_DIGEST_LEN);
}

/* Component i (handle i, name NAME) depending on deps, parent the first of them. */
static void hset(hrep *h, size_t i, const char *name, const uint64_t *deps, size_t ndeps)
{
    hcomp *c = &h->c[i];
    cr_assert(ndeps <= MAX_DEPS);
    if (name != c->name)
        snprintf(c->name, sizeof(c->name), "%s", name);
    c->c.name = c->name;
    if (ndeps > 0)
        memcpy(c->deps, deps, ndeps * sizeof(*deps));
    c->c.depends_on = c->deps;
    c->c.n_depends_on = ndeps;
    c->c.parent = ndeps > 0 ? deps[0] : 0;
}

/* A report of n components: "platform" (handle 0) and "cI" (handle I) depending on
 * the platform, each with an empty CCR 0. */
static hrep *hrep_new(size_t n)
{
    hrep *h = calloc(1, sizeof(*h));
    cr_assert(h != NULL);
    h->c = calloc(n, sizeof(*h->c));
    h->ptrs = calloc(n, sizeof(*h->ptrs));
    cr_assert(h->c != NULL && h->ptrs != NULL);
    h->n = n;
    srtm__ccr_report__init(&h->r);
    h->r.format = 1;
    h->r.components = h->ptrs;
    h->r.n_components = n;
    for (size_t i = 0; i < n; i++) {
        hcomp *c = &h->c[i];
        srtm__report_component__init(&c->c);
        srtm__report_ccr__init(&c->ccr);
        c->c.handle = i;
        c->c.ccrs = c->ccrs;
        c->c.n_ccrs = 1;
        c->ccrs[0] = &c->ccr;
        c->ccr.log = c->log;
        c->ccr.value.data = c->value;
        c->ccr.value.len = SRTM_DIGEST_LEN;
        h->ptrs[i] = &c->c;
        char name[32];
        snprintf(name, sizeof(name), "c%zu", i);
        const uint64_t zero = 0;
        hset(h, i, i == 0 ? "platform" : name, &zero, i == 0 ? 0 : 1);
    }
    return h;
}

static void hrep_free(hrep *h)
{
    free(h->c);
    free(h->ptrs);
    free(h);
}

static hcomp *hfind(hrep *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->c[i].name, name) == 0)
            return &h->c[i];
    cr_assert_fail("no component %s", name);
    return NULL;
}

/* Measure data into the CCR of name; returns the entry's sequence number. */
static uint64_t hmeasure(hrep *h, const char *name, const char *data)
{
    hcomp *c = hfind(h, name);
    size_t k = c->ccr.n_log++;
    cr_assert(k < MAX_LOG);
    Srtm__LogEntry *e = &c->e[k];
    srtm__log_entry__init(e);
    digest_of(data, c->d[k]);
    snprintf(c->desc[k], sizeof(c->desc[k]), "%s", data);
    e->index = k;
    e->seq = ++h->seq;
    e->digest.data = c->d[k];
    e->digest.len = SRTM_DIGEST_LEN;
    e->description = c->desc[k];
    c->log[k] = e;
    recompute(c);
    return e->seq;
}

/* Revert the (reversible) CCR of name to the live measurement to_seq, as srtmd does: the
 * live measurements after it are flagged reverted and a marker is appended. */
static void hrevert(hrep *h, const char *name, uint64_t to_seq)
{
    hcomp *c = hfind(h, name);
    for (size_t k = 0; k < c->ccr.n_log; k++)
        if (!c->e[k].revert_marker && c->e[k].seq > to_seq)
            c->e[k].reverted = true;
    size_t k = c->ccr.n_log++;
    cr_assert(k < MAX_LOG);
    Srtm__LogEntry *e = &c->e[k];
    srtm__log_entry__init(e);
    e->index = k;
    e->seq = ++h->seq;
    e->revert_marker = true;
    e->revert_to_seq = to_seq;
    c->log[k] = e;
    recompute(c);
}

/* Append a dependency record to name: the edge to on added (or removed) by actor, with the
 * next sequence number, and depends_on changed to match. Returns the record's seq. */
static uint64_t hchange(hrep *h, const char *name, uint64_t on, uint64_t actor, bool removed)
{
    hcomp *c = hfind(h, name);
    size_t k = c->c.n_dependency_changes++;
    cr_assert(k < MAX_CHANGES);
    Srtm__DependencyChange *d = &c->ch[k];
    srtm__dependency_change__init(d);
    d->seq = ++h->seq;
    d->component = c->c.handle;
    d->on = on;
    d->actor = actor;
    d->removed = removed;
    c->chp[k] = d;
    c->c.dependency_changes = c->chp;
    size_t n = c->c.n_depends_on, at = n;
    for (size_t i = 0; i < n; i++)
        if (c->deps[i] == on)
            at = i;
    if (removed && at < n) {
        memmove(&c->deps[at], &c->deps[at + 1], (n - at - 1) * sizeof(uint64_t));
        c->c.n_depends_on--;
    } else if (!removed && at == n) {
        cr_assert(n < MAX_DEPS);
        c->deps[c->c.n_depends_on++] = on;
    }
    return d->seq;
}

/* The records of a registration: name's present edges, added by its parent. */
static void hregistered(hrep *h, const char *name)
{
    hcomp *c = hfind(h, name);
    uint64_t deps[MAX_DEPS];
    size_t n = c->c.n_depends_on;
    memcpy(deps, c->deps, n * sizeof(uint64_t));
    c->c.n_depends_on = 0;
    for (size_t i = 0; i < n; i++)
        hchange(h, name, deps[i], c->c.parent, false);
}

/* A policy: no PCRs that matter here, the platform with an empty CCR 0, the given
 * components object and extra keys; components the policy does not name are judged by
 * the replay alone (the dependency rule is what these tests are about). */
static srtm_verifier_policy *hpolicy(const char *components, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
             "\"pcrs\":{\"proof\":{\"0\":\"%064d\"},\"running\":{\"0\":\"%064d\"}},"
             "\"unlisted\":\"replay-only\","
             "\"components\":{\"platform\":{\"ccrs\":{\"0\":{\"allowed_digests\":[]}}}%s%s}%s%s}",
             0, 1, components && components[0] ? "," : "", components ? components : "",
             extra ? "," : "", extra ? extra : "");
    srtm_verifier_policy *p = NULL;
    char msg[256];
    cr_assert_eq(srtm_policy_parse(text, strlen(text), NULL, &p, msg, sizeof(msg)), SRTM_OK,
                 "%s: %s", msg, text);
    return p;
}

/* {"NAME":{"ccrs":{"INDEX":{"allowed_digests":[digests of the datas]}}}} */
static void allow(char *out, size_t size, const char *name, unsigned index,
                  const char *const *datas, size_t n)
{
    size_t used = (size_t)snprintf(out, size, "\"%s\":{\"ccrs\":{\"%u\":{\"allowed_digests\":[",
                                   name, index);
    for (size_t i = 0; i < n; i++) {
        char hex[65];
        hex_of(datas[i], hex);
        used += (size_t)snprintf(out + used, size - used, "%s\"%s\"", i ? "," : "", hex);
    }
    snprintf(out + used, size - used, "]}}}");
}

static srtm_verify_result *judge(const srtm_verifier_policy *p, const hrep *h)
{
    srtm_verify_result *r = NULL;
    cr_assert_eq(verify_report_only(p, &h->r, &r), SRTM_OK);
    cr_assert(r != NULL);
    return r;
}

static size_t at(const srtm_verify_result *r, const char *name)
{
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        if (strcmp(srtm_verify_result_component_name(r, i), name) == 0)
            return i;
    cr_assert_fail("no verdict for %s", name);
    return 0;
}

static bool trusted(const srtm_verify_result *r, const char *name)
{
    return srtm_verify_result_component_trusted(r, at(r, name));
}

/* The verdict of name has exactly one reason, want. */
static void expect_only_reason(const srtm_verify_result *r, const char *name, const char *want)
{
    size_t i = at(r, name);
    cr_expect(!srtm_verify_result_component_trusted(r, i), "%s is trusted", name);
    cr_expect_eq(srtm_verify_result_component_reason_count(r, i), 1, "%s: %zu reasons, first '%s'",
                 name, srtm_verify_result_component_reason_count(r, i),
                 srtm_verify_result_component_reason(r, i, 0));
    cr_expect_str_eq(srtm_verify_result_component_reason(r, i, 0), want, "%s", name);
}

static bool has_reason(const srtm_verify_result *r, const char *name, const char *want)
{
    size_t i = at(r, name);
    for (size_t j = 0; j < srtm_verify_result_component_reason_count(r, i); j++)
        if (strcmp(srtm_verify_result_component_reason(r, i, j), want) == 0)
            return true;
    return false;
}

static void expect_all_trusted(const srtm_verify_result *r)
{
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        cr_expect(srtm_verify_result_component_trusted(r, i), "%s: %s",
                  srtm_verify_result_component_name(r, i),
                  srtm_verify_result_component_reason(r, i, 0));
    cr_expect(srtm_verify_result_ok(r));
}

/* ---- the rule -------------------------------------------------------------------------- */

/* BIM, the flat special case: everything depends only on the platform. */
Test(verify_graph, flat_report_all_trusted)
{
    hrep *h = hrep_new(4);
    hset(h, 1, "vm-a", (uint64_t[]){0}, 1);
    hset(h, 2, "vm-b", (uint64_t[]){0}, 1);
    hset(h, 3, "vm-c", (uint64_t[]){0}, 1);
    hmeasure(h, "vm-a", "kernel");
    hmeasure(h, "vm-b", "app");
    const char *k[] = {"kernel"}, *a[] = {"app"};
    char ca[512], cb[512], comps[1100];
    allow(ca, sizeof(ca), "vm-a", 0, k, 1);
    allow(cb, sizeof(cb), "vm-b", 0, a, 1);
    snprintf(comps, sizeof(comps), "%s,%s", ca, cb);
    srtm_verifier_policy *p = hpolicy(comps, NULL);
    srtm_verify_result *r = judge(p, h);
    cr_assert_eq(srtm_verify_result_component_count(r), 4);
    expect_all_trusted(r);
    for (size_t i = 0; i < 4; i++)
        cr_expect_eq(srtm_verify_result_component_reason_count(r, i), 0);
    srtm_verify_result_free(r);
    /* One flat component failing touches no other. */
    hmeasure(h, "vm-b", "rootkit");
    r = judge(p, h);
    cr_expect(!srtm_verify_result_ok(r));
    cr_expect(!trusted(r, "vm-b"));
    cr_expect(trusted(r, "vm-a") && trusted(r, "vm-c") && trusted(r, "platform"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* web -> fw -> platform; fw's CCR 1 fails the allowlist: web is untrusted and its verdict
 * names fw and why; fw is untrusted on its own; the platform stays trusted. */
Test(verify_graph, a_chain_names_the_failing_dependency)
{
    hrep *h = hrep_new(3);
    hset(h, 1, "fw-vm", (uint64_t[]){0}, 1);
    hset(h, 2, "web-vm", (uint64_t[]){1}, 1);
    hfind(h, "fw-vm")->ccr.index = 1;
    hmeasure(h, "fw-vm", "rules-1");
    hmeasure(h, "web-vm", "httpd");
    const char *fw_ok[] = {"rules-1"}, *web_ok[] = {"httpd"};
    char cf[512], cw[512], comps[1100];
    allow(cf, sizeof(cf), "fw-vm", 1, fw_ok, 1);
    /* web-vm is not a child of the platform: the policy names it by its path. */
    allow(cw, sizeof(cw), "platform/fw-vm/web-vm", 0, web_ok, 1);
    snprintf(comps, sizeof(comps), "%s,%s", cf, cw);
    srtm_verifier_policy *p = hpolicy(comps, NULL);
    srtm_verify_result *r = judge(p, h);
    expect_all_trusted(r);
    srtm_verify_result_free(r);

    hmeasure(h, "fw-vm", "rules-evil");
    r = judge(p, h);
    char hex[65], fw_reason[256], web_reason[300];
    hex_of("rules-evil", hex);
    snprintf(fw_reason, sizeof(fw_reason),
             "CCR 1: log entry 1 digest %s (\"rules-evil\") is not in the allowlist", hex);
    snprintf(web_reason, sizeof(web_reason), "depends on fw-vm, whose %s", fw_reason);
    expect_only_reason(r, "fw-vm", fw_reason);
    expect_only_reason(r, "web-vm", web_reason);
    cr_expect(trusted(r, "platform"));
    cr_expect(!srtm_verify_result_ok(r));
    srtm_verify_result_free(r);
    /* Requiring only the platform: the verdict is good ("require" semantics kept). */
    srtm_policy_free(p);
    char extra[] = "\"require\":[\"platform\"]";
    p = hpolicy(comps, extra);
    r = judge(p, h);
    cr_expect(srtm_verify_result_ok(r));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* Figure 3(c): a VM on the vTPM VM, which depends on its manager. The reason names the
 * path: vm -> vtpm-vm -> vtpm-mgr, whose CCR 0 failed. */
Test(verify_graph, a_longer_chain_names_the_path)
{
    hrep *h = hrep_new(4);
    hset(h, 1, "vtpm-mgr", (uint64_t[]){0}, 1);
    hset(h, 2, "vtpm-vm", (uint64_t[]){1}, 1);
    hset(h, 3, "web-vm", (uint64_t[]){0, 2}, 2);
    hmeasure(h, "vtpm-mgr", "mgr-v2");
    const char *ok[] = {"mgr-v1"};
    char comps[512];
    allow(comps, sizeof(comps), "vtpm-mgr", 0, ok, 1);
    srtm_verifier_policy *p = hpolicy(comps, NULL);
    srtm_verify_result *r = judge(p, h);
    char hex[65], own[256], want[400];
    hex_of("mgr-v2", hex);
    snprintf(own, sizeof(own), "CCR 0: log entry 0 digest %s (\"mgr-v2\") is not in the allowlist",
             hex);
    expect_only_reason(r, "vtpm-mgr", own);
    snprintf(want, sizeof(want), "depends on vtpm-mgr, whose %s", own);
    expect_only_reason(r, "vtpm-vm", want);
    snprintf(want, sizeof(want), "depends on vtpm-vm, which depends on vtpm-mgr, whose %s", own);
    expect_only_reason(r, "web-vm", want);
    cr_expect(trusted(r, "platform"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* Section 6.2: VM_A depends on VM_FW, whose reversible CCR 1 holds its rule set. R_alpha
 * is allowed, R_beta is not; VM_FW alternates without a restart and VM_A's verdict
 * follows, through the revert marker and the reverted flag. */
Test(verify_graph, firewall_scenario_follows_the_reversible_rule_set)
{
    hrep *h = hrep_new(3);
    hset(h, 1, "VM_FW", (uint64_t[]){0}, 1);
    hset(h, 2, "VM_A", (uint64_t[]){0, 1}, 2);
    hcomp *fw = hfind(h, "VM_FW");
    fw->ccr.index = 1;
    fw->ccr.policy = SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    const char *rules[] = {"R_alpha"};
    char comps[512];
    allow(comps, sizeof(comps), "VM_FW", 1, rules, 1);
    srtm_verifier_policy *p = hpolicy(comps, "\"require\":[\"VM_A\"]");

    uint64_t alpha = hmeasure(h, "VM_FW", "R_alpha");
    srtm_verify_result *r = judge(p, h);
    expect_all_trusted(r);
    srtm_verify_result_free(r);

    hmeasure(h, "VM_FW", "R_beta");
    r = judge(p, h);
    char hex[65], want[400];
    hex_of("R_beta", hex);
    snprintf(want, sizeof(want),
             "depends on VM_FW, whose CCR 1: log entry 1 digest %s (\"R_beta\") is not in the "
             "allowlist",
             hex);
    expect_only_reason(r, "VM_A", want);
    cr_expect(!srtm_verify_result_ok(r));
    srtm_verify_result_free(r);

    /* Back to R_alpha: R_beta stays in the log, flagged reverted, after a marker. */
    hrevert(h, "VM_FW", alpha);
    cr_assert_eq(fw->ccr.n_log, 3);
    cr_assert(fw->e[1].reverted && fw->e[2].revert_marker);
    r = judge(p, h);
    expect_all_trusted(r);
    srtm_verify_result_free(r);

    /* The flag srtmd set is checked, not trusted: R_beta undone but not flagged. */
    fw->e[1].reverted = false;
    r = judge(p, h);
    cr_expect(!trusted(r, "VM_A"));
    cr_expect(has_reason(r, "VM_A",
                         "depends on VM_FW, whose CCR 1: log entry 1: a measurement undone by a "
                         "revert is not marked reverted"));
    srtm_verify_result_free(r);
    fw->e[1].reverted = true;

    /* And R_beta again after the revert: untrusted again, no restart involved. */
    hmeasure(h, "VM_FW", "R_beta");
    r = judge(p, h);
    cr_expect(!trusted(r, "VM_A"));
    cr_expect(trusted(r, "platform"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* ---- the report's self-consistency --------------------------------------------------------- */

Test(verify_graph, a_missing_dependency_handle_fails_closed)
{
    hrep *h = hrep_new(3);
    hset(h, 1, "a", (uint64_t[]){0, 7}, 2);
    hset(h, 2, "b", (uint64_t[]){1}, 1);
    srtm_verifier_policy *p = hpolicy(NULL, NULL);
    srtm_verify_result *r = judge(p, h);
    expect_only_reason(r, "a", "depends on handle 7, which is missing from the report");
    expect_only_reason(r, "b", "depends on a, which depends on handle 7, which is missing from "
                               "the report");
    cr_expect(trusted(r, "platform"));
    cr_expect(!srtm_verify_result_ok(r));
    srtm_verify_result_free(r);
    /* A report without the platform (a quote without the closure): nothing that depends
     * on it can be trusted. */
    h->r.components = h->ptrs + 1;
    h->r.n_components = 2;
    hset(h, 1, "a", (uint64_t[]){0}, 1);
    r = judge(p, h);
    expect_only_reason(r, "a", "depends on handle 0, which is missing from the report");
    cr_expect(!trusted(r, "b"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

Test(verify_graph, a_cycle_makes_every_component_on_it_untrusted)
{
    hrep *h = hrep_new(6);
    hset(h, 1, "a", (uint64_t[]){0, 3}, 2);
    hset(h, 2, "b", (uint64_t[]){0, 1}, 2);
    hset(h, 3, "c", (uint64_t[]){0, 2}, 2); /* a -> c -> b -> a */
    hset(h, 4, "d", (uint64_t[]){1}, 1);    /* depends on the cycle, is not on it */
    hset(h, 5, "e", (uint64_t[]){0, 5}, 2); /* depends on itself */
    srtm_verifier_policy *p = hpolicy(NULL, NULL);
    srtm_verify_result *r = judge(p, h);
    expect_only_reason(r, "a", "dependency cycle: depends on c, which depends back on it");
    expect_only_reason(r, "b", "dependency cycle: depends on a, which depends back on it");
    expect_only_reason(r, "c", "dependency cycle: depends on b, which depends back on it");
    expect_only_reason(r, "d", "depends on a, which is untrusted: dependency cycle: depends on "
                               "c, which depends back on it");
    expect_only_reason(r, "e", "dependency cycle: depends on itself");
    cr_expect(trusted(r, "platform"));
    srtm_verify_result_free(r);
    /* Broken, the same components are trusted: the cycle was the only reason. */
    hset(h, 3, "c", (uint64_t[]){0}, 1);
    hset(h, 5, "e", (uint64_t[]){0}, 1);
    r = judge(p, h);
    expect_all_trusted(r);
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

Test(verify_graph, the_parent_must_be_among_the_dependencies)
{
    hrep *h = hrep_new(4);
    hset(h, 1, "a", NULL, 0);                /* no edge at all, parent 0 */
    hset(h, 2, "b", (uint64_t[]){0}, 1);
    h->c[2].c.parent = 1;                    /* registered by a, but no edge to it */
    hset(h, 3, "c", (uint64_t[]){0}, 1);
    srtm_verifier_policy *p = hpolicy(NULL, NULL);
    srtm_verify_result *r = judge(p, h);
    expect_only_reason(r, "a", "its parent, handle 0, is not among its dependencies");
    expect_only_reason(r, "b", "its parent, handle 1, is not among its dependencies");
    cr_expect(trusted(r, "c") && trusted(r, "platform"));
    srtm_verify_result_free(r);
    /* The platform depends on nothing: with a dependency it, and all on it, fail. */
    hset(h, 1, "a", (uint64_t[]){0}, 1);
    h->c[2].c.parent = 0;
    hset(h, 0, "platform", (uint64_t[]){3}, 1);
    r = judge(p, h);
    cr_expect(!trusted(r, "platform"));
    cr_expect(has_reason(r, "platform", "component 0 (the platform TCB) depends on handle 3; "
                                        "it can depend on nothing"));
    cr_expect(!trusted(r, "a") && !trusted(r, "b") && !trusted(r, "c"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* Duplicate or unordered handles: the edges would be ambiguous, so the whole report is
 * refused at the evidence level (check "report-handles") and nothing is trusted. */
Test(verify_graph, duplicate_handles_fail_the_evidence)
{
    hrep *h = hrep_new(3);
    srtm_verifier_policy *p = hpolicy(NULL, NULL);
    srtm_verify_result *r = judge(p, h);
    cr_assert_eq(srtm_verify_result_check_count(r), 2);
    cr_expect_str_eq(srtm_verify_result_check_name(r, 0), "report-handles");
    cr_expect(srtm_verify_result_check_ok(r, 0));
    cr_expect_str_eq(srtm_verify_result_check_name(r, 1), "continuity");
    cr_expect(srtm_verify_result_check_ok(r, 1));
    expect_all_trusted(r);
    srtm_verify_result_free(r);
    h->c[2].c.handle = 1;
    r = judge(p, h);
    cr_expect(!srtm_verify_result_check_ok(r, 0));
    cr_expect_str_eq(srtm_verify_result_check_reason(r, 0),
                     "handle 1 appears more than once in the report");
    for (size_t i = 0; i < 3; i++)
        cr_expect_str_eq(srtm_verify_result_component_reason(r, i, 0),
                         "evidence not verified (failed: report-handles, continuity)");
    cr_expect_str_eq(srtm_verify_result_check_reason(r, 1), "not checked: report-handles failed");
    cr_expect(!trusted(r, "platform") && !trusted(r, "c1") && !trusted(r, "c2"));
    cr_expect(!srtm_verify_result_ok(r));
    srtm_verify_result_free(r);
    h->c[2].c.handle = 0;
    r = judge(p, h);
    cr_expect_str_eq(srtm_verify_result_check_reason(r, 0),
                     "handles are not ascending (0 after 1)");
    cr_expect(!trusted(r, "platform"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* ---- terminated components ------------------------------------------------------------------ */

Test(verify_graph, terminated_dependency_under_both_policies)
{
    hrep *h = hrep_new(4);
    hset(h, 1, "a", (uint64_t[]){0}, 1);
    hset(h, 2, "b", (uint64_t[]){0, 1}, 2);
    hset(h, 3, "c", (uint64_t[]){2}, 1);
    h->c[1].c.terminated = true;
    const char *policies[] = {NULL, "\"terminated\":\"untrusted\""};
    for (size_t i = 0; i < 2; i++) {
        srtm_verifier_policy *p = hpolicy(NULL, policies[i]);
        srtm_verify_result *r = judge(p, h);
        expect_only_reason(r, "a", "terminated");
        expect_only_reason(r, "b", "depends on a, which is terminated");
        expect_only_reason(r, "c", "depends on b, which depends on a, which is terminated");
        cr_expect(trusted(r, "platform"));
        cr_expect(!srtm_verify_result_ok(r));
        srtm_verify_result_free(r);
        srtm_policy_free(p);
    }
    srtm_verifier_policy *p = hpolicy(NULL, "\"terminated\":\"accepted\"");
    srtm_verify_result *r = judge(p, h);
    expect_all_trusted(r);
    srtm_verify_result_free(r);
    /* Accepting termination accepts nothing else: a terminated component whose CCR
     * fails its rules is still untrusted for that. */
    srtm_policy_free(p);
    hmeasure(h, "a", "bad");
    char comps[512];
    const char *ok[] = {"good"};
    allow(comps, sizeof(comps), "a", 0, ok, 1);
    p = hpolicy(comps, "\"terminated\":\"accepted\"");
    r = judge(p, h);
    cr_expect(!trusted(r, "a") && !trusted(r, "b") && !trusted(r, "c"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    /* A terminated component whose CCR also fails: dependents are told it is terminated. */
    p = hpolicy(comps, NULL);
    r = judge(p, h);
    cr_expect_str_eq(srtm_verify_result_component_reason(r, at(r, "a"), 0), "terminated");
    expect_only_reason(r, "b", "depends on a, which is terminated");
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* ---- scale and determinism ------------------------------------------------------------------ */

/* c1 <- c2 <- ... <- c4999: evaluated without recursion, each reason bounded. */
Test(verify_graph, a_chain_of_5000)
{
    const size_t n = 5000;
    hrep *h = hrep_new(n);
    for (size_t i = 2; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%zu", i);
        hset(h, i, name, (uint64_t[]){i - 1}, 1);
    }
    srtm_verifier_policy *p = hpolicy(NULL, NULL);
    srtm_verify_result *r = judge(p, h);
    cr_assert_eq(srtm_verify_result_component_count(r), n);
    expect_all_trusted(r);
    srtm_verify_result_free(r);

    hmeasure(h, "c1", "bad");
    srtm_policy_free(p);
    char comps[512];
    const char *ok[] = {"good"};
    allow(comps, sizeof(comps), "c1", 0, ok, 1);
    p = hpolicy(comps, NULL);
    r = judge(p, h);
    cr_expect(trusted(r, "platform"));
    for (size_t i = 1; i < n; i++)
        cr_assert(!srtm_verify_result_component_trusted(r, i), "c%zu trusted", i);
    char hex[65], own[256], want[1024];
    hex_of("bad", hex);
    snprintf(own, sizeof(own), "CCR 0: log entry 0 digest %s (\"bad\") is not in the allowlist",
             hex);
    expect_only_reason(r, "c1", own);
    snprintf(want, sizeof(want), "depends on c1, whose %s", own);
    expect_only_reason(r, "c2", want);
    snprintf(want, sizeof(want), "depends on c8, which depends on c7, which depends on c6, "
                                 "which depends on c5, which depends on c4, which depends on "
                                 "c3, which depends on c2, which depends on c1, whose %s",
             own);
    expect_only_reason(r, "c9", want);
    /* Nine names still fit; from ten on, the eighth is followed by the count of those
     * left out and the end of the chain. */
    snprintf(want, sizeof(want), "depends on c9, which depends on c8, which depends on c7, "
                                 "which depends on c6, which depends on c5, which depends on "
                                 "c4, which depends on c3, which depends on c2, which depends "
                                 "on c1, whose %s",
             own);
    expect_only_reason(r, "c10", want);
    snprintf(want, sizeof(want), "depends on c10, which depends on c9, which depends on c8, "
                                 "which depends on c7, which depends on c6, which depends on "
                                 "c5, which depends on c4, which depends on c3, which depends "
                                 "on ... (1 more) ..., which depends on c1, whose %s",
             own);
    expect_only_reason(r, "c11", want);
    snprintf(want, sizeof(want), "depends on c4998, which depends on c4997, which depends on "
                                 "c4996, which depends on c4995, which depends on c4994, which "
                                 "depends on c4993, which depends on c4992, which depends on "
                                 "c4991, which depends on ... (4989 more) ..., which depends on "
                                 "c1, whose %s",
             own);
    expect_only_reason(r, "c4999", want);
    srtm_verify_result_free(r);

    /* The same chain, built the other way round in handle order (each component depends
     * on the next handle, the last on the platform), and a cycle closing it. */
    for (size_t i = 1; i < n; i++)
        hset(h, i, h->c[i].name, (uint64_t[]){i + 1 < n ? i + 1 : 0}, 1);
    /* c1 is no child of the platform now, so the bare key "c1" no longer names it (and
     * its path is too long to name): it fails by its replay instead. */
    h->c[1].value[0] ^= 1;
    r = judge(p, h);
    for (size_t i = 1; i < n; i++)
        cr_assert_eq(srtm_verify_result_component_trusted(r, i), i > 1, "c%zu", i);
    srtm_verify_result_free(r);
    hset(h, n - 1, h->c[n - 1].name, (uint64_t[]){1}, 1);
    r = judge(p, h);
    for (size_t i = 1; i < n; i++)
        cr_assert(!srtm_verify_result_component_trusted(r, i), "c%zu", i);
    cr_expect(has_reason(r, "c4999", "dependency cycle: depends on c1, which depends back on it"));
    cr_expect(trusted(r, "platform"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* Two failing dependencies: the smallest handle is named, whatever the order of the
 * edges and of their chains. */
Test(verify_graph, the_smallest_failing_handle_is_named)
{
    hrep *h = hrep_new(5);
    hset(h, 1, "deep", (uint64_t[]){0}, 1);
    hset(h, 2, "low", (uint64_t[]){1}, 1);  /* fails through deep */
    hset(h, 3, "high", (uint64_t[]){0}, 1); /* fails on its own */
    hmeasure(h, "deep", "bad-deep");
    hmeasure(h, "high", "bad-high");
    char cd[512], ch[512], comps[1100];
    const char *ok[] = {"good"};
    allow(cd, sizeof(cd), "deep", 0, ok, 1);
    allow(ch, sizeof(ch), "high", 0, ok, 1);
    snprintf(comps, sizeof(comps), "%s,%s", cd, ch);
    srtm_verifier_policy *p = hpolicy(comps, NULL);
    char hex[65], want[400];
    hex_of("bad-deep", hex);
    snprintf(want, sizeof(want),
             "depends on low, which depends on deep, whose CCR 0: log entry 0 digest %s "
             "(\"bad-deep\") is not in the allowlist",
             hex);
    const uint64_t orders[2][3] = {{0, 2, 3}, {3, 2, 0}};
    for (size_t i = 0; i < 2; i++) {
        hset(h, 4, "top", orders[i], 3);
        h->c[4].c.parent = 0;
        srtm_verify_result *r = judge(p, h);
        expect_only_reason(r, "top", want);
        srtm_verify_result_free(r);
    }
    /* With low fixed, high is the one named. */
    hset(h, 2, "low", (uint64_t[]){0}, 1);
    srtm_verify_result *r = judge(p, h);
    hex_of("bad-high", hex);
    snprintf(want, sizeof(want),
             "depends on high, whose CCR 0: log entry 0 digest %s (\"bad-high\") is not in the "
             "allowlist",
             hex);
    expect_only_reason(r, "top", want);
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* A component failing on its own and through a dependency lists both reasons, its own
 * first; components it depends on are unaffected by it. */
Test(verify_graph, own_and_dependency_reasons_together)
{
    hrep *h = hrep_new(3);
    hset(h, 1, "a", (uint64_t[]){0}, 1);
    hset(h, 2, "b", (uint64_t[]){0, 1}, 2);
    h->c[1].c.terminated = true;
    h->c[2].c.terminated = true;
    srtm_verifier_policy *p = hpolicy(NULL, NULL);
    srtm_verify_result *r = judge(p, h);
    size_t b = at(r, "b");
    cr_assert_eq(srtm_verify_result_component_reason_count(r, b), 2);
    cr_expect_str_eq(srtm_verify_result_component_reason(r, b, 0), "terminated");
    cr_expect_str_eq(srtm_verify_result_component_reason(r, b, 1),
                     "depends on a, which is terminated");
    expect_only_reason(r, "a", "terminated");
    cr_expect(trusted(r, "platform"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* ---- names and paths ------------------------------------------------------------------------ */

/* A policy of exactly the given components and extra keys (no platform rule, "unlisted"
 * at its default, "untrusted"). */
static srtm_verifier_policy *strict_policy(const char *components, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
             "\"pcrs\":{\"proof\":{\"0\":\"%064d\"},\"running\":{\"0\":\"%064d\"}},"
             "\"components\":{%s}%s%s}",
             0, 1, components, extra ? "," : "", extra ? extra : "");
    srtm_verifier_policy *p = NULL;
    char msg[256];
    cr_assert_eq(srtm_policy_parse(text, strlen(text), NULL, &p, msg, sizeof(msg)), SRTM_OK,
                 "%s: %s", msg, text);
    return p;
}

static size_t at_path(const srtm_verify_result *r, const char *path)
{
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        if (strcmp(srtm_verify_result_component_path(r, i), path) == 0)
            return i;
    cr_assert_fail("no verdict for the path %s", path);
    return 0;
}

/* platform <- agent <- vm-b (a squatter), platform <- dm: the rules for "vm-b" (a child of
 * the platform) or "platform/dm/vm-b" never reach the squatter; its own path does. */
Test(verify_graph, a_bare_name_reaches_only_children_of_the_platform)
{
    hrep *h = hrep_new(4);
    hset(h, 1, "agent", (uint64_t[]){0}, 1);
    hset(h, 2, "dm", (uint64_t[]){0}, 1);
    hset(h, 3, "vm-b", (uint64_t[]){1}, 1);
    hmeasure(h, "vm-b", "app");
    const char *app[] = {"app"};
    char rule[512], comps[1024];
    const char *keys[] = {"vm-b", "platform/dm/vm-b", "platform/agent/vm-b"};
    for (size_t k = 0; k < 3; k++) {
        allow(rule, sizeof(rule), keys[k], 0, app, 1);
        snprintf(comps, sizeof(comps), "%s", rule);
        char extra[256];
        snprintf(extra, sizeof(extra), "\"require\":[\"%s\"],\"unlisted\":\"replay-only\"",
                 keys[k]);
        srtm_verifier_policy *p = strict_policy(comps, extra);
        srtm_verify_result *r = judge(p, h);
        cr_expect_str_eq(srtm_verify_result_component_path(r, 3), "platform/agent/vm-b");
        cr_expect_str_eq(srtm_verify_result_component_path(r, 0), "platform");
        if (k < 2) {
            cr_expect(!srtm_verify_result_ok(r), "%s", keys[k]);
            size_t miss = at_path(r, keys[k]);
            cr_expect_geq(miss, 4, "the verdict about %s is not the squatter's", keys[k]);
            cr_expect_str_eq(srtm_verify_result_component_reason(r, miss, 0),
                             "missing from the report");
        } else {
            cr_expect(srtm_verify_result_ok(r));
        }
        srtm_verify_result_free(r);
        srtm_policy_free(p);
    }
    /* Under the default "unlisted", the squatter is untrusted by name. */
    allow(rule, sizeof(rule), "vm-b", 0, app, 1);
    srtm_verifier_policy *p = strict_policy(rule, "\"unlisted\":\"untrusted\"");
    srtm_verify_result *r = judge(p, h);
    cr_expect(has_reason(r, "vm-b", "not named in the policy (\"unlisted\": \"untrusted\")"));
    cr_expect(!srtm_verify_result_ok(r));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* A component named both by its bare name and by its path is untrusted; a component whose
 * parent is missing from the report has no path. */
Test(verify_graph, named_twice_or_without_a_path)
{
    hrep *h = hrep_new(3);
    hset(h, 1, "vm-a", (uint64_t[]){0}, 1);
    hset(h, 2, "vm-c", (uint64_t[]){0}, 1);
    char a1[512], a2[512], comps[1100];
    const char *none[] = {"x"};
    allow(a1, sizeof(a1), "vm-a", 0, none, 0);
    allow(a2, sizeof(a2), "platform/vm-a", 0, none, 0);
    snprintf(comps, sizeof(comps), "%s,%s", a1, a2);
    srtm_verifier_policy *p = hpolicy(comps, NULL);
    srtm_verify_result *r = judge(p, h);
    expect_only_reason(r, "vm-a", "named twice in the policy, as \"vm-a\" and \"platform/vm-a\"");
    cr_expect(trusted(r, "vm-c"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    /* vm-c's parent, handle 9, is not in the report. */
    hset(h, 2, "vm-c", (uint64_t[]){9}, 1);
    p = hpolicy(a1, NULL);
    r = judge(p, h);
    cr_expect_str_eq(srtm_verify_result_component_path(r, at(r, "vm-c")), "");
    cr_expect(!trusted(r, "vm-c"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* ---- history: dependency records, removed dependencies, reverts --------------------------- */

/* platform, fw (c1) and vm (c2), both children of the platform; vm depends on fw by its own
 * choice. fw's CCR 0 is reversible, and the policy allows "fw-good" in it and "vm-kernel" in
 * vm's. Returns the policy (extra: more of the components object, or NULL). */
static srtm_verifier_policy *fw_vm(hrep **out, const char *extra)
{
    hrep *h = hrep_new(3);
    hset(h, 1, "fw", (uint64_t[]){0}, 1);
    hset(h, 2, "vm", (uint64_t[]){0}, 1);
    hregistered(h, "fw");
    hregistered(h, "vm");
    hchange(h, "vm", 1, 2, false);
    hfind(h, "fw")->ccr.policy = SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    hfind(h, "vm")->ccr.policy = SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    const char *good[] = {"fw-good"}, *kern[] = {"vm-kernel"};
    char a[512], b[512], comps[1400];
    allow(a, sizeof(a), "fw", 0, good, 1);
    allow(b, sizeof(b), "vm", 0, kern, 1);
    if (extra != NULL) /* "vm":{...} with a revert_by: replace vm's object */
        snprintf(comps, sizeof(comps), "%s,%s", a, extra);
    else
        snprintf(comps, sizeof(comps), "%s,%s", a, b);
    *out = h;
    return hpolicy(comps, NULL);
}

static void not_allowed_reason(char *out, size_t size, const char *data, uint64_t seq)
{
    char hex[65];
    hex_of(data, hex);
    snprintf(out, size,
             "removed its dependency on fw at seq %llu while fw was untrusted: CCR 0: log "
             "entry 0 digest %s (\"%s\") is not in the allowlist",
             (unsigned long long)seq, hex, data);
}

/* The attack of the brief: fw is bad, vm cuts it (a legitimate actor), the verdict of vm
 * stays untrusted and names the removed edge and its seq. */
Test(verify_graph, a_dependency_bad_at_the_cut_keeps_the_dependent_untrusted)
{
    hrep *h = NULL;
    srtm_verifier_policy *p = fw_vm(&h, NULL);
    hmeasure(h, "vm", "vm-kernel");
    hmeasure(h, "fw", "fw-evil");
    uint64_t cut = hchange(h, "vm", 1, 2, true);
    srtm_verify_result *r = judge(p, h);
    char want[400];
    not_allowed_reason(want, sizeof(want), "fw-evil", cut);
    cr_expect(!trusted(r, "vm"));
    cr_expect(has_reason(r, "vm", want), "%s", want);
    /* fw is still bad now, so the dependency rule names the removed edge too. */
    snprintf(want, sizeof(want), "depended on fw until its removal at seq %llu, whose CCR 0: ",
             (unsigned long long)cut);
    cr_expect(strncmp(srtm_verify_result_component_reason(r, at(r, "vm"), 1), want,
                      strlen(want)) == 0);
    cr_expect(!trusted(r, "fw"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* The text of a report: names of 1 to 128 bytes of UTF-8 without '/', descriptions UTF-8
 * (part of check report-parse; a NUL inside a string is found by packing, test_verify.c). */
Test(verify_graph, report_text_is_checked)
{
    hrep *h = hrep_new(2);
    hset(h, 1, "vm-a", (uint64_t[]){0}, 1);
    hmeasure(h, "vm-a", "kernel");
    char reason[256] = "";
    cr_expect(report_text_ok(&h->r, reason, sizeof(reason)), "%s", reason);
    const char *bad[] = {"a/b", "\xff", "\xc3\x28", "\xed\xa0\x80", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        h->c[1].c.name = (char *)bad[i];
        cr_expect(!report_text_ok(&h->r, reason, sizeof(reason)), "name %zu", i);
        cr_expect_str_eq(reason, "the name of component 1 (handle 1) is not 1 to 128 bytes of "
                                 "UTF-8 without '/'");
    }
    h->c[1].c.name = h->c[1].name;
    snprintf(h->c[1].desc[0], sizeof(h->c[1].desc[0]), "bad\xc3");
    cr_expect(!report_text_ok(&h->r, reason, sizeof(reason)));
    cr_expect_str_eq(reason, "component 1 (handle 1), CCR 0, log entry 0: the description is "
                             "not at most 256 bytes of UTF-8");
    hrep_free(h);
}

/* Reverting fw after the cut does not help: at the cut, the bad measurement was live. */
Test(verify_graph, a_revert_after_the_cut_does_not_clean_the_cut)
{
    hrep *h = NULL;
    srtm_verifier_policy *p = fw_vm(&h, NULL);
    hmeasure(h, "vm", "vm-kernel");
    hmeasure(h, "fw", "fw-evil");
    uint64_t cut = hchange(h, "vm", 1, 2, true);
    hrevert(h, "fw", 0);
    srtm_verify_result *r = judge(p, h);
    cr_expect(trusted(r, "fw"), "fw's own log is clean now");
    char want[400];
    not_allowed_reason(want, sizeof(want), "fw-evil", cut);
    expect_only_reason(r, "vm", want);
    srtm_verify_result_free(r);
    /* A revert before the cut does: the cut state is clean. */
    hrep_free(h);
    srtm_policy_free(p);
    p = fw_vm(&h, NULL);
    hmeasure(h, "vm", "vm-kernel");
    hmeasure(h, "fw", "fw-evil");
    hrevert(h, "fw", 0);
    hchange(h, "vm", 1, 2, true);
    r = judge(p, h);
    expect_all_trusted(r);
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* The genuine case: fw was trusted when cut. A bad measurement of fw after the cut still
 * counts (its present trust is part of the rule), and the reason names the removed edge. */
Test(verify_graph, a_dependency_trusted_at_the_cut_and_after)
{
    hrep *h = NULL;
    srtm_verifier_policy *p = fw_vm(&h, NULL);
    hmeasure(h, "vm", "vm-kernel");
    hmeasure(h, "fw", "fw-good");
    uint64_t cut = hchange(h, "vm", 1, 2, true);
    srtm_verify_result *r = judge(p, h);
    expect_all_trusted(r);
    srtm_verify_result_free(r);
    hmeasure(h, "fw", "fw-evil");
    r = judge(p, h);
    char hex[65], want[400];
    hex_of("fw-evil", hex);
    snprintf(want, sizeof(want),
             "depended on fw until its removal at seq %llu, whose CCR 0: log entry 1 digest %s "
             "(\"fw-evil\") is not in the allowlist",
             (unsigned long long)cut, hex);
    expect_only_reason(r, "vm", want);
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

Test(verify_graph, a_removed_dependency_missing_from_the_report)
{
    hrep *h = NULL;
    srtm_verifier_policy *p = fw_vm(&h, NULL);
    hmeasure(h, "vm", "vm-kernel");
    uint64_t cut = hchange(h, "vm", 1, 2, true);
    /* A report without fw: the cut cannot be judged. */
    h->ptrs[1] = h->ptrs[2];
    h->r.n_components = 2;
    srtm_verify_result *r = judge(p, h);
    char want[300];
    snprintf(want, sizeof(want),
             "removed its dependency on handle 1 at seq %llu, whose state then cannot be "
             "established: it is missing from the report",
             (unsigned long long)cut);
    expect_only_reason(r, "vm", want);
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* A removal made by the dependency itself (srtmd refuses it; a report saying so fails). */
Test(verify_graph, a_removal_by_the_dependency_itself_fails)
{
    hrep *h = NULL;
    srtm_verifier_policy *p = fw_vm(&h, NULL);
    hmeasure(h, "vm", "vm-kernel");
    hmeasure(h, "fw", "fw-good");
    uint64_t cut = hchange(h, "vm", 1, 1, true);
    srtm_verify_result *r = judge(p, h);
    char want[300];
    snprintf(want, sizeof(want),
             "its dependency on fw was removed at seq %llu by fw, which may not remove it",
             (unsigned long long)cut);
    expect_only_reason(r, "vm", want);
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* The records must replay to depends_on: an edge that vanished without a record fails. */
Test(verify_graph, records_that_do_not_replay_fail)
{
    hrep *h = NULL;
    srtm_verifier_policy *p = fw_vm(&h, NULL);
    hcomp *vm = hfind(h, "vm");
    vm->c.n_depends_on = 1; /* the edge to fw dropped, no record */
    srtm_verify_result *r = judge(p, h);
    expect_only_reason(r, "vm", "its dependency changes do not replay to its dependencies: an "
                                "edge recorded that is missing from depends_on");
    srtm_verify_result_free(r);
    vm->c.n_depends_on = 2;
    vm->ch[1].removed = true; /* a removal of an edge that is still there */
    r = judge(p, h);
    cr_expect(!trusted(r, "vm"));
    srtm_verify_result_free(r);
    srtm_policy_free(p);
    hrep_free(h);
}

/* Reverts: by default the component and its parent chain; a policy's revert_by decides
 * otherwise. */
Test(verify_graph, revert_by_who_made_the_revert)
{
    hrep *h = NULL;
    srtm_verifier_policy *p = fw_vm(&h, NULL);
    uint64_t k = hmeasure(h, "vm", "vm-kernel");
    hmeasure(h, "fw", "fw-good");
    hmeasure(h, "vm", "vm-kernel");
    hrevert(h, "vm", k);
    hcomp *vm = hfind(h, "vm");
    Srtm__LogEntry *marker = &vm->e[2];
    cr_assert(marker->revert_marker);
    static const struct {
        uint64_t by;
        const char *revert_by; /* NULL: the key is absent */
        bool trusted;
    } cases[] = {
        {2, NULL, true},                 /* itself */
        {0, NULL, true},                 /* its parent */
        {1, NULL, false},                /* its dependency fw */
        {1, "[\"fw\"]", true},          /* named by the policy */
        {2, "[\"self\"]", true},
        {0, "[\"self\"]", false},        /* the parent, not in the list */
        {9, "[\"self\",\"fw\"]", false}, /* not in the report */
    };
    for (size_t i = 0; i < SRTM_ARRAY_LEN(cases); i++) {
        marker->revert_by = cases[i].by;
        srtm_verifier_policy *q = p;
        if (cases[i].revert_by != NULL) {
            const char *kern[] = {"vm-kernel"};
            char b[512], vmobj[700];
            allow(b, sizeof(b), "vm", 0, kern, 1);
            /* "vm":{"ccrs":...} -> "vm":{"revert_by":[...],"ccrs":...} */
            snprintf(vmobj, sizeof(vmobj), "\"vm\":{\"revert_by\":%s,%s", cases[i].revert_by,
                     b + strlen("\"vm\":{"));
            hrep *unused = NULL;
            q = fw_vm(&unused, vmobj);
            hrep_free(unused);
        }
        srtm_verify_result *r = judge(q, h);
        cr_expect_eq(trusted(r, "vm"), cases[i].trusted, "case %zu", i);
        if (!cases[i].trusted) {
            char want[200];
            snprintf(want, sizeof(want),
                     "CCR 0: log entry 2: reverted by %s (handle %llu), which may not revert it",
                     cases[i].by == 1 ? "fw" : cases[i].by == 0 ? "platform" : "(not in the report)",
                     (unsigned long long)cases[i].by);
            expect_only_reason(r, "vm", want);
        }
        srtm_verify_result_free(r);
        if (q != p)
            srtm_policy_free(q);
    }
    srtm_policy_free(p);
    hrep_free(h);
}

/* A revert_by name follows the naming rule: "fw" is platform/fw, so a component named fw
 * under another parent (platform/agent/fw, a squatter of the name) may not revert vm; its
 * path may. */
Test(verify_graph, revert_by_names_follow_the_path_rule)
{
    hrep *h = hrep_new(4);
    hset(h, 1, "agent", (uint64_t[]){0}, 1);
    hset(h, 2, "fw", (uint64_t[]){1}, 1);
    hset(h, 3, "vm", (uint64_t[]){0}, 1);
    hregistered(h, "agent");
    hregistered(h, "fw");
    hregistered(h, "vm");
    hcomp *vm = hfind(h, "vm");
    vm->ccr.policy = SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    uint64_t k = hmeasure(h, "vm", "vm-kernel");
    hmeasure(h, "vm", "vm-kernel");
    hrevert(h, "vm", k);
    Srtm__LogEntry *marker = NULL;
    for (size_t i = 0; i < vm->ccr.n_log; i++)
        if (vm->ccr.log[i]->revert_marker)
            marker = vm->ccr.log[i];
    cr_assert(marker != NULL);
    marker->revert_by = 2;
    const char *kern[] = {"vm-kernel"};
    char b[512], vmobj[700];
    allow(b, sizeof(b), "vm", 0, kern, 1);
    const char *lists[] = {"[\"fw\"]", "[\"platform/fw\"]", "[\"platform/agent/fw\"]"};
    for (size_t i = 0; i < SRTM_ARRAY_LEN(lists); i++) {
        snprintf(vmobj, sizeof(vmobj), "\"vm\":{\"revert_by\":%s,%s", lists[i],
                 b + strlen("\"vm\":{"));
        srtm_verifier_policy *p = hpolicy(vmobj, NULL);
        srtm_verify_result *r = judge(p, h);
        bool want = i == 2;
        cr_expect_eq(trusted(r, "vm"), want, "revert_by %s", lists[i]);
        if (!want)
            expect_only_reason(r, "vm", "CCR 0: log entry 2: reverted by fw (handle 2), which "
                                        "may not revert it");
        srtm_verify_result_free(r);
        srtm_policy_free(p);
    }
    hrep_free(h);
}
