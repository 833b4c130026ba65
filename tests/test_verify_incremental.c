/*
 * Unit tests of incremental verification (client-lib/verifier/continuity.c, check 18
 * "continuity", docs/verifier.md "Incremental verification"), without any TPM: a model
 * host keeps components, CCRs and their logs, builds full and incremental reports of
 * itself as srtmd does, and verify_report_state() judges them with the state kept from an
 * earlier report, as srtm_verify_with_state does after the TPM-level checks.
 *
 * Every lie an srtmd could tell in an incremental report, or in a full report of a run it
 * reported before, fails the check with needs_full 0; every case where only the state is
 * unusable fails it with needs_full 1; and, for random logs split at a random point, the
 * incremental verdict equals the verdict of the full report. The stored state is read
 * back strictly.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "verify_int.h"

#define M_COMPS 5
#define M_CCRS 3
#define M_LOG 48
#define M_CHANGES 3
#define POOL 10
#define ALLOWED 8 /* pool entries 0 .. ALLOWED-1 are in every allowlist */

#define IRR SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE
#define REV SRTM__CHANGE_POLICY__POLICY_REVERSIBLE

/* ---- the model host ---- */

typedef struct mentry {
    uint64_t seq;
    int what; /* pool index; -1 for a revert marker */
    uint64_t to_seq;
    bool reverted;
} mentry;

typedef struct mccr {
    uint32_t index;
    Srtm__ChangePolicy policy;
    bool allowlist; /* the policy gives it an allowlist of pool 0 .. ALLOWED-1 */
    size_t n;
    mentry e[M_LOG];
} mccr;

typedef struct mchange {
    uint64_t seq, on;
    bool removed;
} mchange;

typedef struct mcomp {
    char name[16];
    size_t n_ccrs;
    mccr c[M_CCRS];
    size_t n_changes;
    mchange ch[M_CHANGES];
} mcomp;

typedef struct model {
    uint8_t instance[SRTM_INSTANCE_LEN];
    uint32_t reset, restart;
    uint64_t seq;
    size_t n;
    mcomp c[M_COMPS];
    bool replay_only; /* "unlisted": "replay-only", else "untrusted" */
} model;

static void pool_digest(int what, uint8_t out[SRTM_DIGEST_LEN])
{
    char data[16];
    snprintf(data, sizeof(data), "bin%d", what);
    cr_assert_eq(srtm_sha256(data, strlen(data), out), SRTM_OK);
}

/* n components: "platform" (handle 0) and "cI" children of it, each with CCR 0
 * IRREVERSIBLE and allowlisted. */
static void model_init(model *m, size_t n)
{
    memset(m, 0, sizeof(*m));
    memset(m->instance, 0x5a, sizeof(m->instance));
    m->reset = 3;
    m->restart = 1;
    m->n = n;
    m->replay_only = true;
    for (size_t i = 0; i < n; i++) {
        snprintf(m->c[i].name, sizeof(m->c[i].name), i == 0 ? "platform" : "c%zu", i);
        m->c[i].n_ccrs = 1;
        m->c[i].c[0] = (mccr){.index = 0, .policy = IRR, .allowlist = true};
    }
}

static mccr *add_ccr(model *m, size_t comp, Srtm__ChangePolicy policy, bool allowlist)
{
    mcomp *c = &m->c[comp];
    cr_assert(c->n_ccrs < M_CCRS);
    mccr *r = &c->c[c->n_ccrs];
    *r = (mccr){.index = (uint32_t)c->n_ccrs, .policy = policy, .allowlist = allowlist};
    c->n_ccrs++;
    return r;
}

static uint64_t measure(model *m, size_t comp, size_t ccr, int what)
{
    mccr *r = &m->c[comp].c[ccr];
    cr_assert(r->n < M_LOG);
    r->e[r->n++] = (mentry){.seq = ++m->seq, .what = what};
    return m->seq;
}

/* Revert a REVERSIBLE CCR to just after its live measurement to_seq, as srtmd does. */
static void revert(model *m, size_t comp, size_t ccr, uint64_t to_seq)
{
    mccr *r = &m->c[comp].c[ccr];
    cr_assert(r->policy == REV && r->n < M_LOG);
    for (size_t k = 0; k < r->n; k++)
        if (r->e[k].what >= 0 && r->e[k].seq > to_seq)
            r->e[k].reverted = true;
    r->e[r->n++] = (mentry){.seq = ++m->seq, .what = -1, .to_seq = to_seq};
}

/* comp's records: its edge to the platform, an edge to `on` added and then removed. */
static void add_and_remove(model *m, size_t comp, uint64_t on)
{
    mcomp *c = &m->c[comp];
    c->ch[0] = (mchange){.seq = ++m->seq, .on = 0};
    c->ch[1] = (mchange){.seq = ++m->seq, .on = on};
    c->ch[2] = (mchange){.seq = ++m->seq, .on = on, .removed = true};
    c->n_changes = 3;
}

/* The value of r's first n entries, replayed independently of the verifier. */
static void model_value(const mccr *r, size_t n, uint8_t out[SRTM_DIGEST_LEN])
{
    uint8_t vals[M_LOG][SRTM_DIGEST_LEN];
    uint64_t seqs[M_LOG];
    size_t live = 0;
    for (size_t k = 0; k < n; k++) {
        const mentry *e = &r->e[k];
        if (e->what < 0) {
            while (live > 0 && seqs[live - 1] > e->to_seq)
                live--;
            continue;
        }
        uint8_t two[2 * SRTM_DIGEST_LEN] = {0};
        if (live > 0)
            memcpy(two, vals[live - 1], SRTM_DIGEST_LEN);
        pool_digest(e->what, two + SRTM_DIGEST_LEN);
        cr_assert_eq(srtm_sha256(two, sizeof(two), vals[live]), SRTM_OK);
        seqs[live++] = e->seq;
    }
    if (live > 0)
        memcpy(out, vals[live - 1], SRTM_DIGEST_LEN);
    else
        memset(out, 0, SRTM_DIGEST_LEN);
}

/* ---- reports of the model, as srtmd builds them ---- */

typedef struct built {
    Srtm__CcrReport r;
    Srtm__ReportComponent comps[M_COMPS];
    Srtm__ReportComponent *cp[M_COMPS];
    Srtm__ReportCcr ccrs[M_COMPS][M_CCRS];
    Srtm__ReportCcr *ccp[M_COMPS][M_CCRS];
    Srtm__LogEntry e[M_COMPS][M_CCRS][M_LOG];
    Srtm__LogEntry *ep[M_COMPS][M_CCRS][M_LOG];
    uint8_t d[M_COMPS][M_CCRS][M_LOG][SRTM_DIGEST_LEN];
    char desc[M_COMPS][M_CCRS][M_LOG][8];
    uint8_t value[M_COMPS][M_CCRS][SRTM_DIGEST_LEN];
    uint8_t base[M_COMPS][M_CCRS][SRTM_DIGEST_LEN];
    uint64_t deps[M_COMPS][1];
    Srtm__DependencyChange ch[M_COMPS][M_CHANGES];
    Srtm__DependencyChange *chp[M_COMPS][M_CHANGES];
} built;

static bool removal_target(const model *m, size_t comp)
{
    for (size_t i = 0; i < m->n; i++)
        for (size_t k = 0; k < m->c[i].n_changes; k++)
            if (m->c[i].ch[k].removed && m->c[i].ch[k].on == comp)
                return true;
    return false;
}

static void build_ccr(const model *m, built *b, size_t i, size_t j, uint64_t since)
{
    const mccr *mr = &m->c[i].c[j];
    Srtm__ReportCcr *r = &b->ccrs[i][j];
    srtm__report_ccr__init(r);
    r->index = mr->index;
    r->policy = mr->policy;
    model_value(mr, mr->n, b->value[i][j]);
    r->value = (ProtobufCBinaryData){SRTM_DIGEST_LEN, b->value[i][j]};
    size_t off = 0;
    if (since != 0 && mr->policy == IRR && !removal_target(m, i))
        while (off < mr->n && mr->e[off].seq <= since)
            off++;
    if (off > 0) {
        model_value(mr, off, b->base[i][j]);
        r->log_offset = off;
        r->base_value = (ProtobufCBinaryData){SRTM_DIGEST_LEN, b->base[i][j]};
    }
    for (size_t k = off; k < mr->n; k++) {
        const mentry *me = &mr->e[k];
        Srtm__LogEntry *e = &b->e[i][j][k - off];
        srtm__log_entry__init(e);
        e->index = k;
        e->seq = me->seq;
        if (me->what >= 0) {
            pool_digest(me->what, b->d[i][j][k]);
            e->digest = (ProtobufCBinaryData){SRTM_DIGEST_LEN, b->d[i][j][k]};
            snprintf(b->desc[i][j][k], sizeof(b->desc[i][j][k]), "bin%d", me->what);
            e->description = b->desc[i][j][k];
            e->reverted = me->reverted;
        } else {
            e->revert_marker = true;
            e->revert_to_seq = me->to_seq;
            e->revert_by = i;
        }
        b->ep[i][j][k - off] = e;
    }
    r->log = b->ep[i][j];
    r->n_log = mr->n - off;
    b->ccp[i][j] = r;
}

/* The model's report now: full (since 0) or incremental since `since`; the last `drop`
 * components are left out (a smaller selection). The caller frees it. */
static built *build(const model *m, uint64_t since, size_t drop)
{
    built *b = calloc(1, sizeof(*b));
    cr_assert(b != NULL);
    srtm__ccr_report__init(&b->r);
    b->r.format = 1;
    b->r.srtm_instance = (ProtobufCBinaryData){SRTM_INSTANCE_LEN, (uint8_t *)m->instance};
    b->r.reset_count = m->reset;
    b->r.restart_count = m->restart;
    b->r.seq = m->seq;
    b->r.since_seq = since;
    for (size_t i = 0; i + drop < m->n; i++) {
        Srtm__ReportComponent *c = &b->comps[i];
        srtm__report_component__init(c);
        c->handle = i;
        c->name = (char *)m->c[i].name;
        c->parent = 0;
        if (i != 0) {
            b->deps[i][0] = 0;
            c->depends_on = b->deps[i];
            c->n_depends_on = 1;
        }
        for (size_t k = 0; k < m->c[i].n_changes; k++) {
            Srtm__DependencyChange *d = &b->ch[i][k];
            srtm__dependency_change__init(d);
            d->seq = m->c[i].ch[k].seq;
            d->component = i;
            d->on = m->c[i].ch[k].on;
            d->removed = m->c[i].ch[k].removed;
            b->chp[i][k] = d;
        }
        c->dependency_changes = b->chp[i];
        c->n_dependency_changes = m->c[i].n_changes;
        for (size_t j = 0; j < m->c[i].n_ccrs; j++)
            build_ccr(m, b, i, j, since);
        c->ccrs = b->ccp[i];
        c->n_ccrs = m->c[i].n_ccrs;
        b->cp[i] = c;
    }
    b->r.components = b->cp;
    b->r.n_components = m->n - drop;
    return b;
}

/* The policy of the model: every allowlisted CCR allows pool 0 .. ALLOWED-1; `extra` is
 * appended inside the top object (another text is another policy). */
static srtm_verifier_policy *model_policy(const model *m, const char *extra)
{
    char *text = calloc(1, 64 * 1024);
    cr_assert(text != NULL);
    size_t used = (size_t)snprintf(
        text, 64 * 1024,
        "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
        "\"pcrs\":{\"proof\":{\"0\":\"%064d\"},\"running\":{\"0\":\"%064d\"}},"
        "\"unlisted\":\"%s\",\"components\":{",
        0, 1, m->replay_only ? "replay-only" : "untrusted");
    for (size_t i = 0; i < m->n; i++) {
        used += (size_t)snprintf(text + used, 64 * 1024 - used, "%s\"%s\":{\"ccrs\":{",
                                 i ? "," : "", m->c[i].name);
        bool first = true;
        for (size_t j = 0; j < m->c[i].n_ccrs; j++) {
            if (!m->c[i].c[j].allowlist)
                continue;
            used += (size_t)snprintf(text + used, 64 * 1024 - used,
                                     "%s\"%u\":{\"allowed_digests\":[", first ? "" : ",",
                                     m->c[i].c[j].index);
            first = false;
            for (int w = 0; w < ALLOWED; w++) {
                uint8_t d[SRTM_DIGEST_LEN];
                char hex[2 * SRTM_DIGEST_LEN + 1];
                pool_digest(w, d);
                cr_assert_eq(hex_encode(d, sizeof(d), hex, sizeof(hex)), SRTM_OK);
                used += (size_t)snprintf(text + used, 64 * 1024 - used, "%s\"%s\"",
                                         w ? "," : "", hex);
            }
            used += (size_t)snprintf(text + used, 64 * 1024 - used, "]}");
        }
        used += (size_t)snprintf(text + used, 64 * 1024 - used, "}}");
    }
    snprintf(text + used, 64 * 1024 - used, "}%s%s}", extra ? "," : "", extra ? extra : "");
    srtm_verifier_policy *p = NULL;
    char msg[256];
    cr_assert_eq(srtm_policy_parse(text, strlen(text), NULL, &p, msg, sizeof(msg)), SRTM_OK,
                 "%s: %s", msg, text);
    free(text);
    return p;
}

/* ---- a verifier that cannot hash ---- */

static int finals_to_fail; /* the next calls of EVP_DigestFinal_ex that fail */

/* Every SHA-256 of the verifier ends here (common/digest.c): this one, the test's, is the
 * one linked, and fails the next finals_to_fail calls as a broken libcrypto would. */
int EVP_DigestFinal_ex(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *len)
{
    static int (*real)(EVP_MD_CTX *, unsigned char *, unsigned int *);
    if (finals_to_fail > 0) {
        finals_to_fail--;
        return 0;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "EVP_DigestFinal_ex");
    cr_assert(real != NULL, "%s", dlerror());
    return real(ctx, md, len);
}

/* ---- judging ---- */

static srtm_verify_result *judge(const srtm_verifier_policy *p, const built *b,
                                 const srtm_verify_state *st)
{
    srtm_verify_result *r = NULL;
    cr_assert_eq(verify_report_state(p, &b->r, st, &r), SRTM_OK);
    cr_assert(r != NULL);
    return r;
}

/* The state kept after r (its evidence checks passed), read back through the API. */
static srtm_verify_state *state_after(const srtm_verify_result *r)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    cr_assert_eq(srtm_verify_result_state(r, &blob, &len), SRTM_OK, "%s",
                 srtm_verify_result_check_reason(r, 1));
    srtm_verify_state *st = NULL;
    cr_assert_eq(srtm_verify_state_parse(blob, len, &st), SRTM_OK);
    free(blob);
    return st;
}

/* Judge the model's full report now and keep its state; it must verify. */
static srtm_verify_state *verified(const model *m, const srtm_verifier_policy *p)
{
    built *b = build(m, 0, 0);
    srtm_verify_result *r = judge(p, b, NULL);
    cr_assert(srtm_verify_result_check_ok(r, 1), "%s", srtm_verify_result_check_reason(r, 1));
    srtm_verify_state *st = state_after(r);
    srtm_verify_result_free(r);
    free(b);
    return st;
}

static const char *continuity_reason(const srtm_verify_result *r)
{
    cr_assert_str_eq(srtm_verify_result_check_name(r, 1), "continuity");
    return srtm_verify_result_check_reason(r, 1);
}

/* The report is a lie: continuity fails with a reason containing want, no full quote
 * helps, nothing is trusted, and the state kept marks the run tainted with that reason. */
static void expect_lie(const srtm_verify_result *r, const char *want)
{
    cr_expect(!srtm_verify_result_check_ok(r, 1));
    cr_expect(strstr(continuity_reason(r), want) != NULL, "reason '%s' lacks '%s'",
              continuity_reason(r), want);
    cr_expect(strncmp(continuity_reason(r), "cannot continue: ", 17) != 0);
    cr_expect_eq(srtm_verify_result_needs_full(r), 0, "a lie is a verdict");
    cr_expect(!srtm_verify_result_ok(r));
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++) {
        cr_expect(!srtm_verify_result_component_trusted(r, i));
        cr_expect_str_eq(srtm_verify_result_component_reason(r, i, 0),
                         "evidence not verified (failed: continuity)");
    }
    srtm_verify_state *t = state_after(r);
    cr_expect(t->tainted[0] != '\0' && strstr(continuity_reason(r), t->tainted) != NULL,
              "the state keeps the lie: [%s] [%s]", t->tainted, continuity_reason(r));
    cr_expect_eq(t->n_ccrs, 0, "a tainted state keeps no CCR (%zu)", t->n_ccrs);
    srtm_verify_state_free(t);
}

/* Only the state could not be used: needs_full, a reason "cannot continue: ...". */
static void expect_needs_full(const srtm_verify_result *r, const char *want)
{
    cr_expect(!srtm_verify_result_check_ok(r, 1));
    cr_expect(strncmp(continuity_reason(r), "cannot continue: ", 17) == 0, "%s",
              continuity_reason(r));
    cr_expect(strstr(continuity_reason(r), want) != NULL, "reason '%s' lacks '%s'",
              continuity_reason(r), want);
    cr_expect_eq(srtm_verify_result_needs_full(r), 1);
    cr_expect(!srtm_verify_result_ok(r));
}

static void expect_passes(const srtm_verify_result *r)
{
    cr_expect(srtm_verify_result_check_ok(r, 1), "%s", continuity_reason(r));
    cr_expect_eq(srtm_verify_result_needs_full(r), 0);
}

/* Both results judge the components alike: the same names, trust and reasons. */
static void expect_same_verdicts(const srtm_verify_result *a, const srtm_verify_result *b,
                                 unsigned trial)
{
    cr_assert_eq(srtm_verify_result_ok(a), srtm_verify_result_ok(b), "trial %u", trial);
    size_t n = srtm_verify_result_component_count(a);
    cr_assert_eq(n, srtm_verify_result_component_count(b), "trial %u", trial);
    for (size_t i = 0; i < n; i++) {
        const char *name = srtm_verify_result_component_name(a, i);
        cr_assert_str_eq(name, srtm_verify_result_component_name(b, i), "trial %u", trial);
        cr_assert_eq(srtm_verify_result_component_trusted(a, i),
                     srtm_verify_result_component_trusted(b, i), "trial %u %s: '%s' vs '%s'",
                     trial, name, srtm_verify_result_component_reason(a, i, 0),
                     srtm_verify_result_component_reason(b, i, 0));
        size_t k = srtm_verify_result_component_reason_count(a, i);
        cr_assert_eq(k, srtm_verify_result_component_reason_count(b, i), "trial %u %s", trial,
                     name);
        for (size_t j = 0; j < k; j++)
            cr_assert_str_eq(srtm_verify_result_component_reason(a, i, j),
                             srtm_verify_result_component_reason(b, i, j), "trial %u %s", trial,
                             name);
    }
}

/* The standard host: platform, c1 (CCR 0 IRREVERSIBLE, CCR 1 REVERSIBLE), c2, c3; a few
 * measurements before the state is kept and a few after. */
static void standard(model *m)
{
    model_init(m, 4);
    add_ccr(m, 1, REV, true);
    measure(m, 0, 0, 0);
    measure(m, 1, 0, 1);
    measure(m, 1, 0, 2);
    uint64_t keep = measure(m, 1, 1, 3);
    measure(m, 1, 1, 4);
    revert(m, 1, 1, keep);
    measure(m, 2, 0, 5);
    measure(m, 3, 0, 6);
}

static void more(model *m)
{
    measure(m, 1, 0, 7);
    measure(m, 2, 0, 0);
    measure(m, 1, 1, 1);
    measure(m, 0, 0, 2);
}

/* ---- what verifies ---- */

Test(verify_incremental, an_honest_increment_verifies_like_the_full_report)
{
    model m;
    standard(&m);
    srtm_verifier_policy *p = model_policy(&m, NULL);
    srtm_verify_state *st = verified(&m, p);
    uint64_t s = m.seq;
    uint8_t inst[SRTM_INSTANCE_LEN];
    uint64_t since = 0;
    cr_assert_eq(srtm_verify_state_since(st, p, inst, &since), 1);
    cr_expect_eq(since, s);
    cr_expect_eq(memcmp(inst, m.instance, sizeof(inst)), 0);
    more(&m);
    built *inc = build(&m, s, 0), *whole = build(&m, 0, 0);
    cr_assert_eq(inc->ccrs[1][0].log_offset, 2, "c1 CCR 0 starts after its 2 old entries");
    cr_assert_eq(inc->ccrs[1][1].log_offset, 0, "a REVERSIBLE CCR is reported whole");
    srtm_verify_result *ri = judge(p, inc, st), *rf = judge(p, whole, st),
                       *r0 = judge(p, whole, NULL);
    expect_passes(ri);
    expect_passes(rf);
    cr_expect(srtm_verify_result_ok(ri));
    expect_same_verdicts(ri, r0, 0);
    expect_same_verdicts(rf, r0, 0);
    /* The states after the incremental and the full report are the same bytes. */
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    cr_assert_eq(srtm_verify_result_state(ri, &a, &alen), SRTM_OK);
    cr_assert_eq(srtm_verify_result_state(rf, &b, &blen), SRTM_OK);
    cr_expect(alen == blen && memcmp(a, b, alen) == 0, "deterministic state");
    free(a);
    free(b);
    srtm_verify_result_free(ri);
    srtm_verify_result_free(rf);
    srtm_verify_result_free(r0);
    free(inc);
    free(whole);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* A full report of another run or boot is judged on its own: nothing to continue. */
Test(verify_incremental, a_full_report_of_another_run_passes)
{
    model m;
    standard(&m);
    srtm_verifier_policy *p = model_policy(&m, NULL);
    srtm_verify_state *st = verified(&m, p);
    model_init(&m, 2);
    m.instance[0] ^= 1;
    measure(&m, 1, 0, 1);
    built *b = build(&m, 0, 0);
    srtm_verify_result *r = judge(p, b, st);
    expect_passes(r);
    srtm_verify_result_free(r);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* ---- lies: continuity fails, needs_full 0 ---- */

/* The standard host, its state, more measurements, and the increment since the state. */
static built *increment(model *m, srtm_verifier_policy **p, srtm_verify_state **st)
{
    standard(m);
    *p = model_policy(m, NULL);
    *st = verified(m, *p);
    uint64_t s = m->seq;
    more(m);
    return build(m, s, 0);
}

static void lie_case(void (*mutate)(built *b, const model *m), const char *want)
{
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    mutate(b, &m);
    srtm_verify_result *r = judge(p, b, st);
    expect_lie(r, want);
    /* The run stays tainted: its next honest report fails too, with the first reason;
     * the state asks for no increment; a new run starts clean. */
    srtm_verify_state *t = state_after(r);
    uint8_t inst[SRTM_INSTANCE_LEN];
    uint64_t since = 0;
    cr_expect_eq(srtm_verify_state_since(t, p, inst, &since), 0);
    measure(&m, 1, 0, 2);
    built *honest = build(&m, 0, 0);
    srtm_verify_result *again = judge(p, honest, t);
    expect_lie(again, "an earlier report of this srtmd run failed continuity: ");
    cr_expect(strstr(continuity_reason(again), continuity_reason(r)) != NULL, "%s",
              continuity_reason(again));
    srtm_verify_state *t2 = state_after(again);
    cr_expect_str_eq(t2->tainted, t->tainted, "the first lie is what the run is known by");
    m.instance[0] ^= 1;
    built *next_run = build(&m, 0, 0);
    srtm_verify_result *fresh = judge(p, next_run, t2);
    expect_passes(fresh);
    srtm_verify_result_free(fresh);
    srtm_verify_result_free(again);
    srtm_verify_result_free(r);
    srtm_verify_state_free(t);
    srtm_verify_state_free(t2);
    free(next_run);
    free(honest);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* log_offset one more than the state's L: the first new entry hidden in the base. */
static void hide_one(built *b, const model *m)
{
    Srtm__ReportCcr *r = &b->ccrs[1][0];
    model_value(&m->c[1].c[0], (size_t)r->log_offset + 1, b->base[1][0]);
    r->log_offset++;
    r->log++;
    r->n_log--;
}

/* A lie in a report that fails another evidence-level check (here report-handles: a
 * handle twice) proves nothing about the host: no state, nothing tainted. */
Test(verify_incremental, a_lie_in_unverified_evidence_taints_nothing)
{
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    hide_one(b, &m);
    b->comps[2].handle = b->comps[1].handle;
    srtm_verify_result *r = judge(p, b, st);
    cr_expect(!srtm_verify_result_check_ok(r, 0));
    cr_expect(!srtm_verify_result_check_ok(r, 1));
    uint8_t *blob = NULL;
    size_t len = 0;
    cr_expect_eq(srtm_verify_result_state(r, &blob, &len), SRTM_E_DENIED);
    srtm_verify_result_free(r);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* The verifier failing to hash the log it compares with the state says nothing about the
 * host: continuity fails (nothing is trusted on a check that did not run), but it is not a
 * lie, asks for no full quote, and keeps no state, so the run is not tainted and its
 * report verifies once the verifier works again. */
Test(verify_incremental, an_internal_failure_taints_nothing)
{
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    built *whole = build(&m, 0, 0); /* of the same run: its first logs replay to the state */
    finals_to_fail = 1;
    srtm_verify_result *r = judge(p, whole, st);
    finals_to_fail = 0;
    cr_expect(!srtm_verify_result_check_ok(r, 1));
    cr_expect(strstr(continuity_reason(r), ": cannot hash its log") != NULL, "%s",
              continuity_reason(r));
    cr_expect_eq(srtm_verify_result_needs_full(r), 0);
    cr_expect(!srtm_verify_result_ok(r));
    uint8_t *blob = NULL;
    size_t len = 0;
    cr_expect_eq(srtm_verify_result_state(r, &blob, &len), SRTM_E_DENIED, "a state was kept");
    free(blob);
    srtm_verify_result *again = judge(p, whole, st);
    expect_passes(again);
    cr_expect(srtm_verify_result_ok(again));
    srtm_verify_result_free(again);
    srtm_verify_result_free(r);
    free(whole);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

Test(verify_incremental, lie_offset_is_not_the_length_verified)
{
    lie_case(hide_one, "c1 (handle 1) CCR 0: log_offset 3, base value ");
}

static void other_base(built *b, const model *m)
{
    (void)m;
    b->base[1][0][7] ^= 0x40;
}

Test(verify_incremental, lie_base_is_not_the_value_verified)
{
    lie_case(other_base, "the log does not extend what was verified");
}

static void other_since(built *b, const model *m)
{
    (void)m;
    b->r.since_seq--;
}

Test(verify_incremental, lie_since_seq_is_not_the_state_seq)
{
    lie_case(other_since, "is not the seq");
}

static void reversible_offset(built *b, const model *m)
{
    (void)m;
    Srtm__ReportCcr *r = &b->ccrs[1][1];
    r->log_offset = 1;
    r->base_value = (ProtobufCBinaryData){SRTM_DIGEST_LEN, b->base[1][1]};
    for (size_t k = 0; k < r->n_log; k++)
        r->log[k]->index++;
}

Test(verify_incremental, lie_reversible_ccr_with_an_offset)
{
    lie_case(reversible_offset, "c1 (handle 1) CCR 1: log_offset 1 on a CCR that is not "
                                "IRREVERSIBLE");
}

static void index_gap(built *b, const model *m)
{
    (void)m;
    Srtm__ReportCcr *r = &b->ccrs[1][0];
    cr_assert(r->n_log >= 1);
    r->log[r->n_log - 1]->index++;
}

Test(verify_incremental, lie_index_gap)
{
    lie_case(index_gap, "are not consecutive");
}

static void seq_back(built *b, const model *m)
{
    b->r.since_seq = 0; /* a full report of the same run ... */
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->c[i].n_ccrs; j++)
            build_ccr(m, b, i, j, 0);
    b->r.seq = 7; /* ... at a seq before the state's 8 */
}

Test(verify_incremental, lie_seq_goes_back)
{
    lie_case(seq_back, "seq 7 is before the seq 8 verified earlier in this srtmd run");
}

static void seq_back_incremental(built *b, const model *m)
{
    (void)m;
    b->r.seq = b->r.since_seq - 1;
}

Test(verify_incremental, lie_seq_goes_back_in_an_increment)
{
    lie_case(seq_back_incremental, "the sequence went back");
}

/* A full report of the same run in which c1 CCR 0's entry 0 was rewritten and the value
 * replayed from the new log (srtm-sim --spliced-increment): each report verifies alone. */
static void spliced(built *b, const model *m)
{
    model copy = *m;
    copy.c[1].c[0].e[0].what = 4; /* another allowed binary */
    b->r.since_seq = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->c[i].n_ccrs; j++)
            build_ccr(&copy, b, i, j, 0);
}

Test(verify_incremental, lie_full_report_whose_prefix_does_not_replay)
{
    lie_case(spliced, "c1 (handle 1) CCR 0: log entry 0 .. 1 replay to ");
    /* On its own the spliced report verifies: only the state catches it. */
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    spliced(b, &m);
    srtm_verify_result *r = judge(p, b, NULL);
    cr_expect(srtm_verify_result_ok(r), "%s", srtm_verify_result_component_reason(r, 1, 0));
    srtm_verify_result_free(r);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* A full report of the same run whose c1 CCR 0 has fewer entries than verified. */
static void shorter(built *b, const model *m)
{
    model copy = *m;
    copy.c[1].c[0].n = 1;
    b->r.since_seq = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = 0; j < m->c[i].n_ccrs; j++)
            build_ccr(&copy, b, i, j, 0);
}

Test(verify_incremental, lie_shorter_log)
{
    lie_case(shorter, "c1 (handle 1) CCR 0: 1 log entries, fewer than the 2 verified at seq 8");
}

static void offset_in_full(built *b, const model *m)
{
    (void)m;
    b->r.since_seq = 0;
}

Test(verify_incremental, lie_offset_in_a_full_report)
{
    lie_case(offset_in_full, "in a full report (since_seq 0)");
}

/* c3 removed its dependency on c2; c2 is then reported after an offset. */
Test(verify_incremental, lie_removal_target_reported_incrementally)
{
    model m;
    standard(&m);
    add_and_remove(&m, 3, 2);
    srtm_verifier_policy *p = model_policy(&m, NULL);
    srtm_verify_state *st = verified(&m, p);
    uint64_t s = m.seq;
    more(&m);
    built *b = build(&m, s, 0);
    cr_assert_eq(b->ccrs[2][0].log_offset, 0, "srtmd reports a removal target whole");
    srtm_verify_result *r = judge(p, b, st);
    expect_passes(r);
    cr_expect(srtm_verify_result_ok(r));
    srtm_verify_result_free(r);
    /* The lie: c2 CCR 0 after its first entry. */
    Srtm__ReportCcr *c2 = &b->ccrs[2][0];
    model_value(&m.c[2].c[0], 1, b->base[2][0]);
    c2->log_offset = 1;
    c2->base_value = (ProtobufCBinaryData){SRTM_DIGEST_LEN, b->base[2][0]};
    c2->log++;
    c2->n_log--;
    r = judge(p, b, st);
    expect_lie(r, "c2 (handle 2) CCR 0: log_offset 1, but c2 is the target of a removal "
                  "record and must be reported whole");
    srtm_verify_result_free(r);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* ---- the state cannot be used: needs_full 1 ---- */

Test(verify_incremental, needs_full_without_a_state)
{
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    srtm_verify_result *r = judge(p, b, NULL);
    expect_needs_full(r, "no state to continue");
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        cr_expect(!srtm_verify_result_component_trusted(r, i));
    srtm_verify_result_free(r);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

Test(verify_incremental, needs_full_for_another_run_or_boot)
{
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    uint8_t other[SRTM_INSTANCE_LEN];
    memcpy(other, m.instance, sizeof(other));
    other[15] ^= 0x80;
    b->r.srtm_instance.data = other;
    srtm_verify_result *r = judge(p, b, st);
    expect_needs_full(r, "of another srtmd run or boot");
    srtm_verify_result_free(r);
    b->r.srtm_instance.data = m.instance;
    b->r.reset_count++;
    r = judge(p, b, st);
    expect_needs_full(r, "of another srtmd run or boot");
    srtm_verify_result_free(r);
    b->r.reset_count--;
    b->r.restart_count++;
    r = judge(p, b, st);
    expect_needs_full(r, "of another srtmd run or boot");
    srtm_verify_result_free(r);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

Test(verify_incremental, needs_full_under_another_policy)
{
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    srtm_verifier_policy *q = model_policy(&m, "\"terminated\":\"untrusted\"");
    uint8_t inst[SRTM_INSTANCE_LEN];
    uint64_t since = 77;
    cr_expect_eq(srtm_verify_state_since(st, q, inst, &since), 0);
    cr_expect_eq(since, 77, "outputs untouched");
    srtm_verify_result *r = judge(q, b, st);
    expect_needs_full(r, "the state was kept under another policy");
    srtm_verify_result_free(r);
    /* The full report under the other policy is judged, the same run still checked. */
    built *whole = build(&m, 0, 0);
    r = judge(q, whole, st);
    expect_passes(r);
    srtm_verify_result_free(r);
    free(whole);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
    srtm_policy_free(q);
}

/* The state came from a smaller selection: c3 was not in it. */
Test(verify_incremental, needs_full_for_a_ccr_not_in_the_state)
{
    model m;
    standard(&m);
    srtm_verifier_policy *p = model_policy(&m, NULL);
    built *first = build(&m, 0, 1);
    srtm_verify_result *r = judge(p, first, NULL);
    srtm_verify_state *st = state_after(r);
    srtm_verify_result_free(r);
    free(first);
    uint64_t s = m.seq;
    more(&m);
    built *b = build(&m, s, 0);
    r = judge(p, b, st);
    expect_needs_full(r, "c3 (handle 3) CCR 0: reported after 1 entries, but the state does "
                         "not hold it");
    srtm_verify_result_free(r);
    /* The full report of the wider selection is fine. */
    built *whole = build(&m, 0, 0);
    r = judge(p, whole, st);
    expect_passes(r);
    srtm_verify_result_free(r);
    free(whole);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* c2 measured a binary outside its allowlist before the state was kept: its old entries
 * give a reason, so only a full report can be judged. */
Test(verify_incremental, needs_full_for_a_ccr_that_is_not_resumable)
{
    model m;
    standard(&m);
    measure(&m, 2, 0, ALLOWED); /* not allowed */
    srtm_verifier_policy *p = model_policy(&m, NULL);
    built *first = build(&m, 0, 0);
    srtm_verify_result *r = judge(p, first, NULL);
    cr_expect(!srtm_verify_result_ok(r), "c2 is untrusted");
    srtm_verify_state *st = state_after(r);
    srtm_verify_result_free(r);
    free(first);
    uint8_t inst[SRTM_INSTANCE_LEN];
    uint64_t since = 0;
    cr_expect_eq(srtm_verify_state_since(st, p, inst, &since), 0);
    uint64_t s = m.seq;
    more(&m);
    built *b = build(&m, s, 0);
    r = judge(p, b, st);
    expect_needs_full(r, "c2 (handle 2) CCR 0: its first 2 entries were verified, but not all");
    srtm_verify_result_free(r);
    built *whole = build(&m, 0, 0);
    r = judge(p, whole, st);
    expect_passes(r);
    cr_expect(!srtm_verify_result_component_trusted(r, 2));
    srtm_verify_result_free(r);
    free(whole);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* A lie wins over needs_full: a lying increment under another policy is a verdict. */
Test(verify_incremental, a_lie_wins_over_needs_full)
{
    model m;
    srtm_verifier_policy *p = NULL;
    srtm_verify_state *st = NULL;
    built *b = increment(&m, &p, &st);
    srtm_verifier_policy *q = model_policy(&m, "\"terminated\":\"untrusted\"");
    other_base(b, &m);
    srtm_verify_result *r = judge(q, b, st);
    expect_lie(r, "the log does not extend what was verified");
    srtm_verify_result_free(r);
    free(b);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
    srtm_policy_free(q);
}

/* ---- the property: incremental verdict == full verdict ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

/* Random measurements (and reverts of REVERSIBLE CCRs); pool entries up to top. */
static void random_steps(model *m, unsigned steps, int top)
{
    for (unsigned k = 0; k < steps; k++) {
        size_t i = rnd((unsigned)m->n), j = rnd((unsigned)m->c[i].n_ccrs);
        mccr *r = &m->c[i].c[j];
        if (r->n + 1 >= M_LOG)
            continue;
        if (r->policy == REV && r->n > 0 && rnd(4) == 0) {
            size_t at = rnd((unsigned)r->n);
            if (r->e[at].what >= 0 && !r->e[at].reverted)
                revert(m, i, j, r->e[at].seq);
            continue;
        }
        measure(m, i, j, (int)rnd((unsigned)top));
    }
}

static void random_model(model *m)
{
    model_init(m, 2 + rnd(M_COMPS - 1));
    m->replay_only = rnd(2) == 0;
    for (size_t i = 0; i < m->n; i++)
        for (unsigned extra = rnd(M_CCRS); extra > 0; extra--)
            add_ccr(m, i, rnd(3) == 0 ? REV : IRR, rnd(3) != 0);
    if (m->n >= 3 && rnd(3) == 0)
        add_and_remove(m, m->n - 1, 1);
}

Test(verify_incremental, property_incremental_verdict_equals_the_full_verdict,
     .timeout = 120)
{
    unsigned failing = 0;
    for (unsigned trial = 0; trial < 400; trial++) {
        model m;
        random_model(&m);
        random_steps(&m, rnd(24), ALLOWED);
        srtm_verifier_policy *p = model_policy(&m, NULL);
        srtm_verify_state *st = verified(&m, p);
        uint64_t s = m.seq;
        /* After the state, binaries outside the allowlists too. */
        random_steps(&m, rnd(24), rnd(2) ? POOL : ALLOWED);
        built *inc = build(&m, s, 0), *whole = build(&m, 0, 0);
        srtm_verify_result *ri = judge(p, inc, st), *r0 = judge(p, whole, NULL),
                           *rf = judge(p, whole, st);
        expect_passes(ri);
        expect_passes(rf);
        expect_same_verdicts(ri, r0, trial);
        expect_same_verdicts(rf, r0, trial);
        failing += !srtm_verify_result_ok(r0);
        srtm_verify_result_free(ri);
        srtm_verify_result_free(r0);
        srtm_verify_result_free(rf);
        free(inc);
        free(whole);
        srtm_verify_state_free(st);
        srtm_policy_free(p);
    }
    /* The property covered verdicts with allowlist failures in the new entries. */
    cr_expect(failing > 20, "only %u trials had an untrusted component", failing);
}

/* An allowlist failure in the new entries names the entry by its index in the whole log,
 * as the full report does. */
Test(verify_incremental, reasons_name_entries_by_their_index)
{
    model m;
    standard(&m);
    srtm_verifier_policy *p = model_policy(&m, NULL);
    srtm_verify_state *st = verified(&m, p);
    uint64_t s = m.seq;
    measure(&m, 1, 0, ALLOWED + 1);
    built *inc = build(&m, s, 0);
    srtm_verify_result *r = judge(p, inc, st);
    char hex[2 * SRTM_DIGEST_LEN + 1], want[256];
    uint8_t d[SRTM_DIGEST_LEN];
    pool_digest(ALLOWED + 1, d);
    cr_assert_eq(hex_encode(d, sizeof(d), hex, sizeof(hex)), SRTM_OK);
    snprintf(want, sizeof(want), "CCR 0: log entry 2 digest %s (\"bin9\") is not in the allowlist",
             hex);
    cr_expect_str_eq(srtm_verify_result_component_reason(r, 1, 0), want);
    srtm_verify_result_free(r);
    /* A wrong value after an increment: the replay reason counts from the base value. */
    inc->value[1][0][0] ^= 1;
    r = judge(p, inc, st);
    cr_expect_str_eq(srtm_verify_result_component_reason(r, 1, 0),
                     "CCR 0: value does not match the replay of its 1 log entries after "
                     "entry 1 from its base value");
    srtm_verify_result_free(r);
    free(inc);
    srtm_verify_state_free(st);
    srtm_policy_free(p);
}

/* ---- the stored state ---- */

static uint8_t *good_blob(size_t *len)
{
    model m;
    standard(&m);
    srtm_verifier_policy *p = model_policy(&m, NULL);
    built *b = build(&m, 0, 0);
    srtm_verify_result *r = judge(p, b, NULL);
    uint8_t *blob = NULL;
    cr_assert_eq(srtm_verify_result_state(r, &blob, len), SRTM_OK);
    srtm_verify_result_free(r);
    free(b);
    srtm_policy_free(p);
    return blob;
}

static srtm_err parse_msg(const Srtm__VerifierState *m)
{
    size_t n = srtm__verifier_state__get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    cr_assert(buf != NULL);
    srtm__verifier_state__pack(m, buf);
    srtm_verify_state *st = (srtm_verify_state *)0x1;
    srtm_err err = srtm_verify_state_parse(buf, n, &st);
    if (err != SRTM_OK)
        cr_expect(st == NULL, "the output is cleared on failure");
    srtm_verify_state_free(st);
    free(buf);
    return err;
}

Test(verify_incremental, state_parse_refuses_what_it_did_not_write)
{
    size_t len = 0;
    uint8_t *blob = good_blob(&len);
    srtm_verify_state *st = NULL;
    cr_assert_eq(srtm_verify_state_parse(blob, len, &st), SRTM_OK);
    srtm_verify_state_free(st);
    Srtm__VerifierState *m = srtm__verifier_state__unpack(NULL, len, blob);
    cr_assert(m != NULL && m->n_ccrs == 4, "platform, c1 CCR 0, c2, c3: %zu", m->n_ccrs);
    cr_expect_eq(parse_msg(m), SRTM_OK);
    m->format = 2;
    cr_expect_eq(parse_msg(m), SRTM_E_MALFORMED, "another format");
    m->format = 1;
    m->srtm_instance.len = 15;
    cr_expect_eq(parse_msg(m), SRTM_E_MALFORMED, "instance of 15 bytes");
    m->srtm_instance.len = 16;
    m->policy_sha256.len = 31;
    cr_expect_eq(parse_msg(m), SRTM_E_MALFORMED, "policy hash of 31 bytes");
    m->policy_sha256.len = 32;
    m->ccrs[2]->value.len = 31;
    cr_expect_eq(parse_msg(m), SRTM_E_MALFORMED, "value of 31 bytes");
    m->ccrs[2]->value.len = 32;
    Srtm__VerifierCcrState *keep = m->ccrs[1];
    m->ccrs[1] = m->ccrs[2];
    m->ccrs[2] = keep;
    cr_expect_eq(parse_msg(m), SRTM_E_MALFORMED, "not ascending");
    m->ccrs[2] = m->ccrs[1];
    cr_expect_eq(parse_msg(m), SRTM_E_MALFORMED, "the same CCR twice");
    m->ccrs[1] = keep;
    m->ccrs[2]->handle = keep->handle;
    m->ccrs[2]->index = keep->index + 1;
    cr_expect_eq(parse_msg(m), SRTM_OK, "two CCRs of one component, ascending");
    srtm__verifier_state__free_unpacked(m, NULL);

    /* Garbage, truncations and bit flips: refused or read, never a crash (ASan). */
    for (size_t cut = 0; cut < len; cut++) {
        srtm_err err = srtm_verify_state_parse(blob, cut, &st);
        cr_expect(err == SRTM_OK || err == SRTM_E_MALFORMED);
        srtm_verify_state_free(st);
    }
    cr_expect_eq(srtm_verify_state_parse(blob, len - 1, &st), SRTM_E_MALFORMED,
                 "cut inside the last value");
    cr_expect_eq(srtm_verify_state_parse(blob, 0, &st), SRTM_E_MALFORMED, "empty");
    for (size_t bit = 0; bit < 8 * len; bit++) {
        blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        srtm_err err = srtm_verify_state_parse(blob, len, &st);
        cr_expect(err == SRTM_OK || err == SRTM_E_MALFORMED);
        srtm_verify_state_free(st);
        blob[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    uint8_t junk[512];
    for (unsigned t = 0; t < 2000; t++) {
        size_t n = 1 + rnd(sizeof(junk));
        for (size_t k = 0; k < n; k++)
            junk[k] = (uint8_t)rnd(256);
        srtm_err err = srtm_verify_state_parse(junk, n, &st);
        cr_expect(err == SRTM_OK || err == SRTM_E_MALFORMED);
        srtm_verify_state_free(st);
    }
    free(blob);
    uint8_t *huge = calloc(1, (size_t)SRTM_MAX_REPORT + 1);
    cr_assert(huge != NULL);
    cr_expect_eq(srtm_verify_state_parse(huge, (size_t)SRTM_MAX_REPORT + 1, &st),
                 SRTM_E_MALFORMED, "more than SRTM_MAX_REPORT bytes");
    free(huge);
    cr_expect_eq(srtm_verify_state_parse(NULL, 1, &st), SRTM_E_INVALID);
}

/* The state holds the IRREVERSIBLE CCRs whose log replayed, ascending, and since only
 * answers for a state every CCR of which is resumable under the same policy. */
Test(verify_incremental, state_content_and_since)
{
    model m;
    standard(&m);
    srtm_verifier_policy *p = model_policy(&m, NULL);
    built *b = build(&m, 0, 0);
    b->value[3][0][0] ^= 1; /* c3's replay fails: not kept */
    srtm_verify_result *r = judge(p, b, NULL);
    srtm_verify_state *st = state_after(r);
    cr_assert_eq(st->n_ccrs, 3);
    cr_expect(st->ccrs[0].handle == 0 && st->ccrs[1].handle == 1 && st->ccrs[2].handle == 2);
    cr_expect_eq(st->ccrs[1].length, 2);
    cr_expect_eq(st->seq, m.seq);
    cr_expect(continuity_find(st, 3, 0) == NULL);
    cr_expect(continuity_find(st, 1, 1) == NULL, "REVERSIBLE CCRs are not kept");
    uint8_t inst[SRTM_INSTANCE_LEN];
    uint64_t since = 0;
    cr_expect_eq(srtm_verify_state_since(st, p, inst, &since), 1);
    cr_expect_eq(srtm_verify_state_since(NULL, p, inst, &since), 0);
    cr_expect_eq(srtm_verify_state_since(st, NULL, inst, &since), 0);
    srtm_verify_state_free(st);
    srtm_verify_result_free(r);
    /* Evidence that failed keeps no state. */
    b->value[3][0][0] ^= 1;
    b->comps[2].handle = 1;
    r = judge(p, b, NULL);
    uint8_t *blob = NULL;
    size_t len = 0;
    cr_expect_eq(srtm_verify_result_state(r, &blob, &len), SRTM_E_DENIED);
    cr_expect_eq(srtm_verify_result_needs_full(r), 0);
    srtm_verify_result_free(r);
    free(b);
    srtm_policy_free(p);
    srtm_verify_state_free(NULL);
    cr_expect_eq(srtm_verify_result_needs_full(NULL), 0);
}
