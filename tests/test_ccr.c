/*
 * Unit tests of the CCR table (srtm/ccr.c): CCR arithmetic against the independent
 * known-answer vectors of tests/data/ccr-kat.txt, replay, batch atomicity, the global
 * sequence number, lookups, registration limits, capability hashes and log entries.
 * Pure code: no daemon, no sockets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "ccr.h"
#include "common.h"
#include "kat.h"

static ccr_table *t;
static uint8_t admin_hash[SRTM_DIGEST_LEN];
static uint8_t user_hash[SRTM_DIGEST_LEN];

static void setup(void)
{
    for (unsigned i = 0; i < SRTM_DIGEST_LEN; i++) {
        admin_hash[i] = (uint8_t)(0xa0 + i);
        user_hash[i] = (uint8_t)(0x10 + 3 * i);
    }
    cr_assert_eq(ccr_table_new(admin_hash, &t), SRTM_OK);
}

static void teardown(void)
{
    ccr_table_free(t);
    t = NULL;
}

TestSuite(ccr, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static ccr_component *reg(const char *name, uint32_t nccrs)
{
    uint64_t handle = 0, seq = 0;
    srtm_err err = ccr_register(t, name, strlen(name), nccrs, SRTM_POLICY_IRREVERSIBLE, user_hash,
                                1000, 42, &handle, &seq);
    cr_assert_eq(err, SRTM_OK, "register %s: %s", name, srtm_strerror(err));
    ccr_component *c = ccr_find_handle(t, handle);
    cr_assert_not_null(c);
    return c;
}

static void digest_of(const char *s, uint8_t out[SRTM_DIGEST_LEN])
{
    cr_assert_eq(srtm_sha256(s, strlen(s), out), SRTM_OK);
}

static void extend1(ccr_component *c, uint32_t index, const uint8_t digest[SRTM_DIGEST_LEN])
{
    ccr_measurement m = {.ccr = index, .digest = digest};
    uint64_t first = 0, last = 0;
    uint64_t before = ccr_table_seq(t);
    cr_assert_eq(ccr_extend(t, c, &m, 1, &first, &last), SRTM_OK);
    cr_assert_eq(first, before + 1);
    cr_assert_eq(last, before + 1);
}

static void expect_value(const ccr_component *c, uint32_t index, const uint8_t want[32],
                         uint64_t want_len, int lineno)
{
    const uint8_t *value = NULL;
    srtm_policy policy = 0;
    uint64_t len = 99;
    cr_assert_eq(ccr_get(c, index, &value, &policy, &len), SRTM_OK);
    cr_assert_eq(len, want_len, "ccr-kat.txt:%d: log length %llu, want %llu", lineno,
                 (unsigned long long)len, (unsigned long long)want_len);
    char got_hex[65], want_hex[65];
    cr_assert_eq(hex_encode(value, 32, got_hex, sizeof(got_hex)), SRTM_OK);
    cr_assert_eq(hex_encode(want, 32, want_hex, sizeof(want_hex)), SRTM_OK);
    cr_assert_str_eq(got_hex, want_hex, "ccr-kat.txt:%d: %s CCR %u", lineno, ccr_comp_name(c),
                     index);
}

/* Everything observable about one CCR, for "nothing changed" checks. */
typedef struct ccr_snap {
    uint8_t value[SRTM_DIGEST_LEN];
    uint64_t len;
    uint64_t last_seq;
    uint8_t last_digest[SRTM_DIGEST_LEN];
} ccr_snap;

static void snap(const ccr_component *c, uint32_t index, ccr_snap *s)
{
    const uint8_t *value = NULL;
    srtm_policy policy;
    memset(s, 0, sizeof(*s));
    cr_assert_eq(ccr_get(c, index, &value, &policy, &s->len), SRTM_OK);
    memcpy(s->value, value, SRTM_DIGEST_LEN);
    if (s->len > 0) {
        ccr_log_view v;
        cr_assert_eq(ccr_log_at(c, index, s->len - 1, &v), SRTM_OK);
        s->last_seq = v.seq;
        memcpy(s->last_digest, v.digest, SRTM_DIGEST_LEN);
    }
}

static void assert_same(const ccr_snap *a, const ccr_snap *b, const char *what)
{
    cr_assert_eq(a->len, b->len, "%s: log length changed", what);
    cr_assert(memcmp(a->value, b->value, SRTM_DIGEST_LEN) == 0, "%s: value changed", what);
    cr_assert_eq(a->last_seq, b->last_seq, "%s: last log entry changed", what);
    cr_assert(memcmp(a->last_digest, b->last_digest, SRTM_DIGEST_LEN) == 0,
              "%s: last log entry changed", what);
}

/* Components of the KAT by name (the file holds a handful). */
typedef struct kat_comps {
    char names[32][KAT_NAME_MAX];
    ccr_component *comps[32];
    size_t n;
} kat_comps;

static ccr_component *kat_comp(kat_comps *kc, const kat_line *l)
{
    for (size_t i = 0; i < kc->n; i++)
        if (strcmp(kc->names[i], l->name) == 0)
            return kc->comps[i];
    cr_assert_fail("ccr-kat.txt:%d: component %s not declared", l->lineno, l->name);
    return NULL;
}

static void kat_add_comp(kat_comps *kc, const kat_line *l)
{
    cr_assert_lt(kc->n, SRTM_ARRAY_LEN(kc->comps));
    strcpy(kc->names[kc->n], l->name);
    kc->comps[kc->n++] = reg(l->name, l->ccr);
}

/* Apply the whole KAT file one extend at a time, checking every expect line. */
static void kat_apply_single(const kat *k, kat_comps *kc)
{
    size_t checked = 0;
    for (size_t i = 0; i < k->n; i++) {
        const kat_line *l = &k->lines[i];
        if (l->kind == KAT_COMP) {
            kat_add_comp(kc, l);
        } else if (l->kind == KAT_EXT) {
            extend1(kat_comp(kc, l), l->ccr, l->bytes);
        } else {
            expect_value(kat_comp(kc, l), l->ccr, l->bytes, l->loglen, l->lineno);
            checked++;
        }
    }
    cr_assert_eq(checked, k->n_expect);
}

/* ---- known answers ---- */

Test(ccr, kat_one_extend_at_a_time)
{
    kat k;
    kat_load(&k);
    kat_comps kc = {0};
    kat_apply_single(&k, &kc);
    kat_free(&k);
}

/*
 * The same vectors applied in batches: every extend of a component is queued until an
 * expect line of that component is reached, so batches mix CCRs and extend one CCR
 * several times (the new value of an earlier measurement in the batch feeds the next).
 */
Test(ccr, kat_batched)
{
    kat k;
    kat_load(&k);
    kat_comps kc = {0};
    ccr_measurement *pending = calloc(k.n, sizeof(*pending));
    const char **owner = calloc(k.n, sizeof(*owner));
    cr_assert(pending != NULL && owner != NULL);
    size_t npending = 0, batches = 0, largest = 0;
    for (size_t i = 0; i < k.n; i++) {
        const kat_line *l = &k.lines[i];
        if (l->kind == KAT_COMP) {
            kat_add_comp(&kc, l);
        } else if (l->kind == KAT_EXT) {
            pending[npending] = (ccr_measurement){.ccr = l->ccr, .digest = l->bytes};
            owner[npending++] = l->name;
        } else {
            /* Flush this component's queued measurements, keeping the others queued. */
            ccr_measurement batch[2048];
            size_t nb = 0, keep = 0;
            for (size_t j = 0; j < npending; j++) {
                if (strcmp(owner[j], l->name) == 0) {
                    cr_assert_lt(nb, SRTM_ARRAY_LEN(batch));
                    batch[nb++] = pending[j];
                } else {
                    pending[keep] = pending[j];
                    owner[keep++] = owner[j];
                }
            }
            npending = keep;
            ccr_component *c = kat_comp(&kc, l);
            if (nb > 0) {
                uint64_t first = 0, last = 0, before = ccr_table_seq(t);
                cr_assert_eq(ccr_extend(t, c, batch, nb, &first, &last), SRTM_OK);
                cr_assert_eq(first, before + 1);
                cr_assert_eq(last, before + nb);
                batches++;
                largest = nb > largest ? nb : largest;
            }
            expect_value(c, l->ccr, l->bytes, l->loglen, l->lineno);
        }
    }
    cr_assert_eq(npending, 0, "ccr-kat.txt ends with extends that no expect line checks");
    cr_assert_geq(batches, 5);
    cr_assert_geq(largest, 400, "the 1000-extend sequence should give a large batch");
    free(pending);
    free(owner);
    kat_free(&k);
}

/* ccr_replay alone (no table) against every expect line. */
Test(ccr, kat_replay)
{
    kat k;
    kat_load(&k);
    sha256_hasher *h = NULL;
    cr_assert_eq(sha256_hasher_new(&h), SRTM_OK);
    uint8_t(*digests)[SRTM_DIGEST_LEN] = calloc(k.n, SRTM_DIGEST_LEN);
    cr_assert_not_null(digests);
    size_t checked = 0;
    for (size_t i = 0; i < k.n; i++) {
        const kat_line *l = &k.lines[i];
        if (l->kind != KAT_EXPECT)
            continue;
        /* The digests of this CCR up to here, in order. */
        size_t n = 0;
        for (size_t j = 0; j < i; j++) {
            const kat_line *e = &k.lines[j];
            if (e->kind == KAT_EXT && e->ccr == l->ccr && strcmp(e->name, l->name) == 0)
                memcpy(digests[n++], e->bytes, SRTM_DIGEST_LEN);
        }
        cr_assert_eq(n, l->loglen, "ccr-kat.txt:%d: inconsistent log length", l->lineno);
        uint8_t out[SRTM_DIGEST_LEN];
        memset(out, 0x55, sizeof(out));
        cr_assert_eq(ccr_replay(h, (const uint8_t(*)[SRTM_DIGEST_LEN])digests, n, out), SRTM_OK);
        cr_assert(memcmp(out, l->bytes, SRTM_DIGEST_LEN) == 0, "ccr-kat.txt:%d: replay differs",
                  l->lineno);
        checked++;
    }
    cr_assert_eq(checked, k.n_expect);
    free(digests);
    sha256_hasher_free(h);
    kat_free(&k);
}

/* After the KAT, every log holds exactly the digests extended, with increasing seq,
 * and replaying the log gives the CCR's value. */
Test(ccr, kat_log_readback)
{
    kat k;
    kat_load(&k);
    kat_comps kc = {0};
    kat_apply_single(&k, &kc);
    sha256_hasher *h = NULL;
    cr_assert_eq(sha256_hasher_new(&h), SRTM_OK);
    uint8_t(*digests)[SRTM_DIGEST_LEN] = calloc(k.n, SRTM_DIGEST_LEN);
    cr_assert_not_null(digests);
    for (size_t ci = 0; ci < kc.n; ci++) {
        ccr_component *c = kc.comps[ci];
        for (uint32_t r = 0; r < ccr_comp_ccr_count(c); r++) {
            size_t n = 0;
            for (size_t j = 0; j < k.n; j++) {
                const kat_line *e = &k.lines[j];
                if (e->kind == KAT_EXT && e->ccr == r && strcmp(e->name, kc.names[ci]) == 0)
                    memcpy(digests[n++], e->bytes, SRTM_DIGEST_LEN);
            }
            uint64_t prev_seq = 0;
            for (size_t i = 0; i < n; i++) {
                ccr_log_view v;
                cr_assert_eq(ccr_log_at(c, r, i, &v), SRTM_OK);
                cr_assert(memcmp(v.digest, digests[i], SRTM_DIGEST_LEN) == 0);
                cr_assert_gt(v.seq, prev_seq);
                prev_seq = v.seq;
            }
            ccr_log_view v;
            cr_assert_eq(ccr_log_at(c, r, n, &v), SRTM_E_RANGE);
            const uint8_t *value = NULL;
            srtm_policy policy;
            uint64_t len = 0;
            cr_assert_eq(ccr_get(c, r, &value, &policy, &len), SRTM_OK);
            cr_assert_eq(len, n);
            uint8_t replayed[SRTM_DIGEST_LEN];
            cr_assert_eq(ccr_replay(h, (const uint8_t(*)[SRTM_DIGEST_LEN])digests, n, replayed),
                         SRTM_OK);
            cr_assert(memcmp(replayed, value, SRTM_DIGEST_LEN) == 0);
        }
    }
    free(digests);
    sha256_hasher_free(h);
    kat_free(&k);
}

Test(ccr, replay_of_nothing_is_zero)
{
    sha256_hasher *h = NULL;
    cr_assert_eq(sha256_hasher_new(&h), SRTM_OK);
    uint8_t out[SRTM_DIGEST_LEN], zero[SRTM_DIGEST_LEN] = {0};
    memset(out, 0xee, sizeof(out));
    cr_assert_eq(ccr_replay(h, NULL, 0, out), SRTM_OK);
    cr_assert(memcmp(out, zero, sizeof(zero)) == 0);
    sha256_hasher_free(h);
}

/* ---- batch atomicity ---- */

/* A component with 3 CCRs and some history, and snapshots of all its CCRs. */
static ccr_component *atomic_fixture(ccr_snap snaps[3])
{
    ccr_component *c = reg("atomic", 3);
    uint8_t d[SRTM_DIGEST_LEN];
    for (int i = 0; i < 7; i++) {
        char s[16];
        snprintf(s, sizeof(s), "pre%d", i);
        digest_of(s, d);
        extend1(c, (uint32_t)(i % 3), d);
    }
    for (uint32_t r = 0; r < 3; r++)
        snap(c, r, &snaps[r]);
    return c;
}

static void assert_batch_refused(ccr_component *c, const ccr_snap snaps[3],
                                 const ccr_measurement *m, size_t n, srtm_err want,
                                 const char *what)
{
    uint64_t seq = ccr_table_seq(t);
    uint64_t first = 0xdead, last = 0xbeef;
    srtm_err err = ccr_extend(t, c, m, n, &first, &last);
    cr_assert_eq(err, want, "%s: got %s, want %s", what, srtm_strerror(err), srtm_strerror(want));
    cr_assert_eq(first, 0xdead, "%s: out-parameter written on failure", what);
    cr_assert_eq(last, 0xbeef, "%s: out-parameter written on failure", what);
    cr_assert_eq(ccr_table_seq(t), seq, "%s: sequence number moved", what);
    for (uint32_t r = 0; r < 3; r++) {
        ccr_snap now;
        snap(c, r, &now);
        assert_same(&snaps[r], &now, what);
    }
}

/* After refused batches the table still extends correctly: the next measurement gets
 * the next sequence number and the value is the replay of the log. */
static void assert_still_sound(ccr_component *c, const ccr_snap snaps[3])
{
    uint64_t seq = ccr_table_seq(t);
    uint8_t d[SRTM_DIGEST_LEN];
    digest_of("after", d);
    extend1(c, 1, d);
    cr_assert_eq(ccr_table_seq(t), seq + 1);
    uint8_t want[SRTM_DIGEST_LEN];
    uint8_t buf[64];
    memcpy(buf, snaps[1].value, 32);
    memcpy(buf + 32, d, 32);
    cr_assert_eq(srtm_sha256(buf, sizeof(buf), want), SRTM_OK);
    const uint8_t *value = NULL;
    srtm_policy policy;
    uint64_t len = 0;
    cr_assert_eq(ccr_get(c, 1, &value, &policy, &len), SRTM_OK);
    cr_assert_eq(len, snaps[1].len + 1);
    cr_assert(memcmp(value, want, 32) == 0);
}

Test(ccr, batch_with_bad_ccr_index_changes_nothing)
{
    ccr_snap snaps[3];
    ccr_component *c = atomic_fixture(snaps);
    uint8_t d[5][SRTM_DIGEST_LEN];
    ccr_measurement m[5];
    for (int i = 0; i < 5; i++) {
        char s[16];
        snprintf(s, sizeof(s), "b%d", i);
        digest_of(s, d[i]);
        m[i] =
            (ccr_measurement){.ccr = (uint32_t)(i % 3), .digest = d[i], .desc = "x", .desc_len = 1};
    }
    m[3].ccr = 3; /* the component has CCRs 0..2 */
    assert_batch_refused(c, snaps, m, 5, SRTM_E_NO_CCR, "bad index in the middle");
    m[3].ccr = 1;
    m[4].ccr = UINT32_MAX;
    assert_batch_refused(c, snaps, m, 5, SRTM_E_NO_CCR, "bad index last");
    m[4].ccr = 2;
    m[0].ccr = 7;
    assert_batch_refused(c, snaps, m, 5, SRTM_E_NO_CCR, "bad index first");
    assert_still_sound(c, snaps);
}

Test(ccr, batch_with_long_description_changes_nothing)
{
    ccr_snap snaps[3];
    ccr_component *c = atomic_fixture(snaps);
    static char long_desc[SRTM_MAX_DESC + 1];
    memset(long_desc, 'd', sizeof(long_desc));
    uint8_t d[SRTM_DIGEST_LEN];
    digest_of("desc", d);
    ccr_measurement m[6];
    for (int i = 0; i < 6; i++)
        m[i] = (ccr_measurement){
            .ccr = (uint32_t)(i % 3), .digest = d, .desc = long_desc, .desc_len = SRTM_MAX_DESC};
    m[4].desc_len = SRTM_MAX_DESC + 1;
    assert_batch_refused(c, snaps, m, 6, SRTM_E_TOO_BIG, "over-long description");
    assert_still_sound(c, snaps);
}

Test(ccr, batch_with_missing_digest_changes_nothing)
{
    ccr_snap snaps[3];
    ccr_component *c = atomic_fixture(snaps);
    uint8_t d[SRTM_DIGEST_LEN];
    digest_of("nodigest", d);
    ccr_measurement m[3] = {{.ccr = 0, .digest = d}, {.ccr = 1, .digest = d}, {.ccr = 2}};
    assert_batch_refused(c, snaps, m, 3, SRTM_E_INVALID, "NULL digest");
    m[2].digest = d;
    m[2].desc_len = 5; /* and desc NULL */
    assert_batch_refused(c, snaps, m, 3, SRTM_E_INVALID, "NULL description of length 5");
    assert_still_sound(c, snaps);
}

Test(ccr, batch_size_limits)
{
    ccr_snap snaps[3];
    ccr_component *c = atomic_fixture(snaps);
    uint8_t d[SRTM_DIGEST_LEN];
    digest_of("limits", d);
    size_t n = SRTM_MAX_BATCH + 1;
    ccr_measurement *m = calloc(n, sizeof(*m));
    cr_assert_not_null(m);
    for (size_t i = 0; i < n; i++)
        m[i] = (ccr_measurement){.ccr = (uint32_t)(i % 3), .digest = d};
    assert_batch_refused(c, snaps, m, 0, SRTM_E_INVALID, "empty batch");
    assert_batch_refused(c, snaps, m, n, SRTM_E_TOO_BIG, "batch over SRTM_MAX_BATCH");
    /* Exactly SRTM_MAX_BATCH is allowed and gets consecutive sequence numbers. */
    uint64_t seq = ccr_table_seq(t), first = 0, last = 0;
    cr_assert_eq(ccr_extend(t, c, m, SRTM_MAX_BATCH, &first, &last), SRTM_OK);
    cr_assert_eq(first, seq + 1);
    cr_assert_eq(last, seq + SRTM_MAX_BATCH);
    uint64_t total = 0;
    for (uint32_t r = 0; r < 3; r++) {
        const uint8_t *value = NULL;
        srtm_policy policy;
        uint64_t len = 0;
        cr_assert_eq(ccr_get(c, r, &value, &policy, &len), SRTM_OK);
        total += len - snaps[r].len;
    }
    cr_assert_eq(total, SRTM_MAX_BATCH);
    free(m);
}

/* ---- sequence numbers ---- */

Test(ccr, sequence_numbers_are_consecutive_and_global)
{
    /* Registering the platform is the first mutation. */
    cr_assert_eq(ccr_table_seq(t), 1);
    ccr_component *p = ccr_find_handle(t, CCR_PLATFORM_HANDLE);
    cr_assert_not_null(p);
    cr_assert_eq(ccr_comp_registered_seq(p), 1);

    uint64_t ha = 0, sa = 0, hb = 0, sb = 0;
    cr_assert_eq(ccr_register(t, "a", 1, 2, SRTM_POLICY_IRREVERSIBLE, user_hash, 0, 0, &ha, &sa),
                 SRTM_OK);
    cr_assert_eq(ccr_register(t, "b", 1, 1, SRTM_POLICY_IRREVERSIBLE, user_hash, 0, 0, &hb, &sb),
                 SRTM_OK);
    cr_assert_eq(sa, 2);
    cr_assert_eq(sb, 3);
    ccr_component *a = ccr_find_handle(t, ha), *b = ccr_find_handle(t, hb);
    cr_assert_eq(ccr_comp_registered_seq(a), 2);
    cr_assert_eq(ccr_comp_registered_seq(b), 3);

    uint8_t d[4][SRTM_DIGEST_LEN];
    for (int i = 0; i < 4; i++)
        memset(d[i], i + 1, SRTM_DIGEST_LEN);
    ccr_measurement ma[3] = {
        {.ccr = 1, .digest = d[0]}, {.ccr = 0, .digest = d[1]}, {.ccr = 1, .digest = d[2]}};
    uint64_t first = 0, last = 0;
    cr_assert_eq(ccr_extend(t, a, ma, 3, &first, &last), SRTM_OK);
    cr_assert_eq(first, 4);
    cr_assert_eq(last, 6);
    ccr_measurement mb = {.ccr = 0, .digest = d[3]};
    cr_assert_eq(ccr_extend(t, b, &mb, 1, &first, &last), SRTM_OK);
    cr_assert_eq(first, 7);
    cr_assert_eq(last, 7);
    cr_assert_eq(ccr_extend(t, p, &mb, 1, &first, &last), SRTM_OK);
    cr_assert_eq(first, 8);
    uint64_t hc = 0, sc = 0;
    cr_assert_eq(ccr_register(t, "c", 1, 1, SRTM_POLICY_REVERSIBLE, user_hash, 0, 0, &hc, &sc),
                 SRTM_OK);
    cr_assert_eq(sc, 9);
    cr_assert_eq(ccr_table_seq(t), 9);

    /* The log entries carry the numbers, in batch order. */
    ccr_log_view v;
    cr_assert_eq(ccr_log_at(a, 1, 0, &v), SRTM_OK);
    cr_assert_eq(v.seq, 4);
    cr_assert_eq(ccr_log_at(a, 0, 0, &v), SRTM_OK);
    cr_assert_eq(v.seq, 5);
    cr_assert_eq(ccr_log_at(a, 1, 1, &v), SRTM_OK);
    cr_assert_eq(v.seq, 6);
    cr_assert_eq(ccr_log_at(b, 0, 0, &v), SRTM_OK);
    cr_assert_eq(v.seq, 7);
    cr_assert_eq(ccr_log_at(p, 0, 0, &v), SRTM_OK);
    cr_assert_eq(v.seq, 8);
}

/* ---- lookups ---- */

Test(ccr, lookup_by_name_and_handle)
{
    ccr_component *p = ccr_find_name(t, CCR_PLATFORM_NAME, strlen(CCR_PLATFORM_NAME));
    cr_assert_not_null(p);
    cr_assert_eq(p, ccr_find_handle(t, CCR_PLATFORM_HANDLE));
    cr_assert_eq(ccr_comp_handle(p), CCR_PLATFORM_HANDLE);
    cr_assert_eq(ccr_comp_ccr_count(p), 1);
    cr_assert(ccr_cap_matches(p, admin_hash));

    const char *names[] = {"ab", "abc", "a", "b\xc3\xa9", "x y", "abcd"};
    ccr_component *cs[SRTM_ARRAY_LEN(names)];
    for (size_t i = 0; i < SRTM_ARRAY_LEN(names); i++) {
        cs[i] = reg(names[i], (uint32_t)i + 1);
        cr_assert_eq(ccr_comp_handle(cs[i]), i + 1, "handles are dense, from 1");
    }
    cr_assert_eq(ccr_table_count(t), SRTM_ARRAY_LEN(names) + 1);
    for (size_t i = 0; i < SRTM_ARRAY_LEN(names); i++) {
        ccr_component *c = ccr_find_name(t, names[i], strlen(names[i]));
        cr_assert_eq(c, cs[i], "%s", names[i]);
        cr_assert_eq(ccr_find_handle(t, i + 1), cs[i]);
        cr_assert_str_eq(ccr_comp_name(c), names[i]);
        cr_assert_eq(ccr_comp_ccr_count(c), i + 1);
        cr_assert_eq(ccr_comp_peer_uid(c), 1000);
        cr_assert_eq(ccr_comp_peer_pid(c), 42);
    }
    /* Lookups use exactly name_len bytes. */
    cr_assert_eq(ccr_find_name(t, "abcd", 3), cs[1]);
    cr_assert_eq(ccr_find_name(t, "abcd", 2), cs[0]);
    cr_assert_null(ccr_find_name(t, "abcde", 5));
    cr_assert_null(ccr_find_name(t, "A", 1));
    cr_assert_null(ccr_find_name(t, "", 0));
    cr_assert_null(ccr_find_name(t, "ab\0", 3));
    static char big[SRTM_MAX_NAME + 2];
    memset(big, 'a', sizeof(big) - 1);
    cr_assert_null(ccr_find_name(t, big, SRTM_MAX_NAME + 1));
    cr_assert_null(ccr_find_handle(t, SRTM_ARRAY_LEN(names) + 1));
    cr_assert_null(ccr_find_handle(t, UINT64_MAX));
    cr_assert_null(ccr_find_handle(t, (uint64_t)1 << 32));
}

Test(ccr, duplicate_name_refused_without_change)
{
    ccr_component *c = reg("dup", 2);
    size_t count = ccr_table_count(t);
    uint64_t seq = ccr_table_seq(t);
    uint8_t other_hash[SRTM_DIGEST_LEN];
    memset(other_hash, 0x77, sizeof(other_hash));
    uint64_t handle = 0x1234, rseq = 0x5678;
    cr_assert_eq(
        ccr_register(t, "dup", 3, 5, SRTM_POLICY_REVERSIBLE, other_hash, 1, 2, &handle, &rseq),
        SRTM_E_EXISTS);
    cr_assert_eq(ccr_register(t, CCR_PLATFORM_NAME, strlen(CCR_PLATFORM_NAME), 1,
                              SRTM_POLICY_IRREVERSIBLE, other_hash, 1, 2, &handle, &rseq),
                 SRTM_E_EXISTS);
    cr_assert_eq(handle, 0x1234, "out-parameter written on failure");
    cr_assert_eq(rseq, 0x5678, "out-parameter written on failure");
    cr_assert_eq(ccr_table_count(t), count);
    cr_assert_eq(ccr_table_seq(t), seq);
    cr_assert_eq(ccr_find_name(t, "dup", 3), c);
    cr_assert_eq(ccr_comp_ccr_count(c), 2);
    cr_assert(ccr_cap_matches(c, user_hash), "the original capability still holds");
    cr_assert(!ccr_cap_matches(c, other_hash), "the refused registration's capability does not");
    cr_assert(ccr_cap_matches(ccr_find_handle(t, 0), admin_hash));
    cr_assert_null(ccr_find_handle(t, count));
}

Test(ccr, registration_limits)
{
    static char name[SRTM_MAX_NAME + 2];
    memset(name, 'n', sizeof(name) - 1);
    struct {
        const char *name;
        size_t len;
        uint32_t nccrs;
        srtm_policy policy;
        srtm_err want;
        const char *what;
    } bad[] = {
        {"", 0, 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_INVALID, "empty name"},
        {name, SRTM_MAX_NAME + 1, 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_TOO_BIG, "name too long"},
        {"bad\xff", 4, 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_INVALID, "invalid UTF-8 (0xff)"},
        {"\xc0\xaf", 2, 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_INVALID, "overlong UTF-8"},
        {"\xed\xa0\x80", 3, 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_INVALID, "UTF-8 surrogate"},
        {"trunc\xe2\x82", 7, 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_INVALID, "truncated UTF-8"},
        {"nul\0x", 5, 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_INVALID, "embedded NUL"},
        {"zero", 4, 0, SRTM_POLICY_IRREVERSIBLE, SRTM_E_INVALID, "no CCRs"},
        {"many", 4, SRTM_MAX_CCRS_PER_REGISTER + 1, SRTM_POLICY_IRREVERSIBLE, SRTM_E_TOO_BIG,
         "too many CCRs"},
        {"pol0", 4, 1, (srtm_policy)0, SRTM_E_INVALID, "policy 0"},
        {"pol3", 4, 1, (srtm_policy)3, SRTM_E_INVALID, "policy 3"},
    };
    size_t count = ccr_table_count(t);
    uint64_t seq = ccr_table_seq(t);
    for (size_t i = 0; i < SRTM_ARRAY_LEN(bad); i++) {
        uint64_t handle = 0xaa, rseq = 0xbb;
        srtm_err err = ccr_register(t, bad[i].name, bad[i].len, bad[i].nccrs, bad[i].policy,
                                    user_hash, 0, 0, &handle, &rseq);
        cr_assert_eq(err, bad[i].want, "%s: got %s", bad[i].what, srtm_strerror(err));
        cr_assert_eq(handle, 0xaa, "%s: out-parameter written on failure", bad[i].what);
        cr_assert_eq(rseq, 0xbb, "%s: out-parameter written on failure", bad[i].what);
        cr_assert_eq(ccr_table_count(t), count, "%s", bad[i].what);
        cr_assert_eq(ccr_table_seq(t), seq, "%s", bad[i].what);
        if (bad[i].len > 0 && bad[i].len <= SRTM_MAX_NAME)
            cr_assert_null(ccr_find_name(t, bad[i].name, bad[i].len), "%s", bad[i].what);
    }
    /* The limits themselves are allowed. */
    uint64_t handle = 0, rseq = 0;
    cr_assert_eq(ccr_register(t, name, SRTM_MAX_NAME, SRTM_MAX_CCRS_PER_REGISTER,
                              SRTM_POLICY_REVERSIBLE, user_hash, 0, 0, &handle, &rseq),
                 SRTM_OK);
    ccr_component *c = ccr_find_name(t, name, SRTM_MAX_NAME);
    cr_assert_not_null(c);
    cr_assert_eq(strlen(ccr_comp_name(c)), SRTM_MAX_NAME);
    cr_assert_eq(ccr_comp_ccr_count(c), SRTM_MAX_CCRS_PER_REGISTER);
    const uint8_t *value = NULL;
    srtm_policy policy = 0;
    uint64_t len = 1;
    cr_assert_eq(ccr_get(c, SRTM_MAX_CCRS_PER_REGISTER - 1, &value, &policy, &len), SRTM_OK);
    cr_assert_eq(policy, SRTM_POLICY_REVERSIBLE);
    cr_assert_eq(len, 0);
    cr_assert_eq(ccr_get(c, SRTM_MAX_CCRS_PER_REGISTER, &value, &policy, &len), SRTM_E_NO_CCR);
    /* A multi-byte UTF-8 name (4-byte sequence included) is fine. */
    const char *utf = "\xd0\xba\xd0\xbe\xd0\xbc\xd0\xbf-\xf0\x9f\x94\x92";
    reg(utf, 1);
    cr_assert_not_null(ccr_find_name(t, utf, strlen(utf)));
}

/* ---- capabilities ---- */

Test(ccr, capability_hash_match_and_mismatch)
{
    ccr_component *c = reg("capped", 1);
    cr_assert(ccr_cap_matches(c, user_hash));
    cr_assert(!ccr_cap_matches(c, admin_hash));
    for (unsigned i = 0; i < SRTM_DIGEST_LEN; i++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            uint8_t h[SRTM_DIGEST_LEN];
            memcpy(h, user_hash, sizeof(h));
            h[i] ^= (uint8_t)(1u << bit);
            cr_assert(!ccr_cap_matches(c, h), "byte %u bit %u flipped still matches", i, bit);
        }
    }
    uint8_t zero[SRTM_DIGEST_LEN] = {0};
    cr_assert(!ccr_cap_matches(c, zero));
    ccr_component *p = ccr_find_handle(t, 0);
    cr_assert(ccr_cap_matches(p, admin_hash));
    cr_assert(!ccr_cap_matches(p, user_hash));
}

/* ---- log entries ---- */

Test(ccr, log_entries_read_back_exactly)
{
    ccr_component *c = reg("logged", 2);
    static char maxdesc[SRTM_MAX_DESC];
    for (size_t i = 0; i < sizeof(maxdesc); i++)
        maxdesc[i] = (char)('a' + i % 26);
    struct {
        uint32_t ccr;
        uint32_t event_type;
        const char *desc;
        size_t desc_len;
    } in[] = {
        {0, 0, NULL, 0},
        {1, 1, "", 0},
        {0, UINT32_MAX, "x", 1},
        {0, 0x80000000u, "%s%n\\", 5},
        {1, 7, "caf\xc3\xa9 \xf0\x9f\x94\x92", 10},
        {0, 42, maxdesc, SRTM_MAX_DESC},
        {1, 43, maxdesc + 1, SRTM_MAX_DESC - 1},
    };
    const size_t n = SRTM_ARRAY_LEN(in);
    /* Many rounds so that entry and description storage are reallocated in between. */
    const int rounds = 40;
    uint8_t(*digests)[SRTM_DIGEST_LEN] = calloc((size_t)rounds * n, SRTM_DIGEST_LEN);
    cr_assert_not_null(digests);
    for (int r = 0; r < rounds; r++) {
        ccr_measurement m[SRTM_ARRAY_LEN(in)];
        for (size_t i = 0; i < n; i++) {
            uint8_t *d = digests[(size_t)r * n + i];
            for (unsigned b = 0; b < SRTM_DIGEST_LEN; b++)
                d[b] = (uint8_t)(r * 31 + (int)i * 7 + (int)b);
            m[i] = (ccr_measurement){.ccr = in[i].ccr,
                                     .digest = d,
                                     .event_type = in[i].event_type + (uint32_t)r,
                                     .desc = in[i].desc,
                                     .desc_len = in[i].desc_len};
        }
        uint64_t first = 0, last = 0;
        cr_assert_eq(ccr_extend(t, c, m, n, &first, &last), SRTM_OK);
        cr_assert_eq(last - first + 1, n);
    }
    /* Read everything back. Entry k of CCR x is the k-th measurement with ccr == x. */
    uint64_t next[2] = {0, 0};
    uint64_t seq = ccr_comp_registered_seq(c);
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < n; i++) {
            ccr_log_view v;
            uint32_t x = in[i].ccr;
            cr_assert_eq(ccr_log_at(c, x, next[x]++, &v), SRTM_OK);
            cr_assert_eq(v.seq, ++seq);
            cr_assert(memcmp(v.digest, digests[(size_t)r * n + i], SRTM_DIGEST_LEN) == 0);
            cr_assert_eq(v.event_type, in[i].event_type + (uint32_t)r);
            cr_assert_eq(v.desc_len, in[i].desc_len, "round %d entry %zu", r, i);
            if (in[i].desc_len > 0)
                cr_assert(memcmp(v.desc, in[i].desc, in[i].desc_len) == 0,
                          "round %d entry %zu: description differs", r, i);
        }
    }
    ccr_log_view v;
    cr_assert_eq(ccr_log_at(c, 0, next[0], &v), SRTM_E_RANGE);
    cr_assert_eq(ccr_log_at(c, 1, next[1], &v), SRTM_E_RANGE);
    cr_assert_eq(ccr_log_at(c, 1, UINT64_MAX, &v), SRTM_E_RANGE);
    cr_assert_eq(ccr_log_at(c, 2, 0, &v), SRTM_E_NO_CCR);
    const uint8_t *value = NULL;
    srtm_policy policy;
    uint64_t len = 0;
    cr_assert_eq(ccr_get(c, 2, &value, &policy, &len), SRTM_E_NO_CCR);
    free(digests);
}

/* ---- scale ---- */

Test(ccr, many_components_all_findable, .timeout = 60)
{
    const uint32_t n = 100000;
    char name[32];
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "comp-%u", i);
        uint64_t handle = 0, seq = 0;
        cr_assert_eq(ccr_register(t, name, strlen(name), 1 + i % 3, SRTM_POLICY_IRREVERSIBLE,
                                  user_hash, i, 0, &handle, &seq),
                     SRTM_OK, "%s", name);
        cr_assert_eq(handle, (uint64_t)i + 1);
        cr_assert_eq(seq, (uint64_t)i + 2);
    }
    cr_assert_eq(ccr_table_count(t), (size_t)n + 1);
    cr_assert_eq(ccr_table_seq(t), (uint64_t)n + 1);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "comp-%u", i);
        ccr_component *c = ccr_find_name(t, name, strlen(name));
        cr_assert_not_null(c, "%s not found by name", name);
        cr_assert_eq(ccr_find_handle(t, (uint64_t)i + 1), c, "%s not found by handle", name);
        cr_assert_str_eq(ccr_comp_name(c), name);
        cr_assert_eq(ccr_comp_ccr_count(c), 1 + i % 3);
        cr_assert_eq(ccr_comp_peer_uid(c), i);
        cr_assert_eq(ccr_uid_components(t, i), 1, "uid %u", i); /* 100,000 distinct uids */
    }
    cr_assert_eq(ccr_uid_components(t, n), 0);
    cr_assert_null(ccr_find_name(t, "comp-100000", 11));
    cr_assert_null(ccr_find_handle(t, (uint64_t)n + 1));
    cr_assert_not_null(ccr_find_name(t, CCR_PLATFORM_NAME, strlen(CCR_PLATFORM_NAME)));
    /* Re-registering any of them is refused. */
    uint64_t handle = 0, seq = 0;
    cr_assert_eq(ccr_register(t, "comp-77777", 10, 1, SRTM_POLICY_IRREVERSIBLE, user_hash, 0, 0,
                              &handle, &seq),
                 SRTM_E_EXISTS);
    cr_assert_gt(ccr_table_memory(t), (size_t)n * 64);
}

/* ---- checkpoints: the value after the first k entries at a cut ---- */

#define CP_LOG 1000u

/* Digest i of the checkpoint tests' log. */
static void cp_digest(unsigned i, uint8_t out[SRTM_DIGEST_LEN])
{
    char s[32];
    snprintf(s, sizeof(s), "entry-%u", i);
    digest_of(s, out);
}

/* The value after the first k digests of cp_digest, replayed the plain way. */
static void cp_replay(uint64_t k, uint8_t out[SRTM_DIGEST_LEN])
{
    uint8_t (*d)[SRTM_DIGEST_LEN] = calloc(k ? k : 1, SRTM_DIGEST_LEN);
    cr_assert_not_null(d);
    for (unsigned i = 0; i < k; i++)
        cp_digest(i, d[i]);
    sha256_hasher *h = NULL;
    cr_assert_eq(sha256_hasher_new(&h), SRTM_OK);
    cr_assert_eq(ccr_replay(h, (const uint8_t(*)[SRTM_DIGEST_LEN])d, (size_t)k, out), SRTM_OK);
    sha256_hasher_free(h);
    free(d);
}

/* Append entries [from, to) of cp_digest to CCR 0 of c in batches of odd sizes, with an
 * entry of CCR 1 in each batch, so that checkpoints fall inside batches and sequence
 * numbers of CCR 0 are not consecutive. */
static void cp_fill(ccr_component *c, unsigned from, unsigned to)
{
    static uint8_t d[300][SRTM_DIGEST_LEN];
    ccr_measurement m[301];
    for (unsigned at = from; at < to;) {
        unsigned n = to - at < 97 ? to - at : 97 + at % 200;
        if (n > to - at)
            n = to - at;
        for (unsigned i = 0; i < n; i++) {
            cp_digest(at + i, d[i]);
            m[i] = (ccr_measurement){.ccr = 0, .digest = d[i]};
        }
        m[n] = (ccr_measurement){.ccr = 1, .digest = d[0]};
        uint64_t first = 0, last = 0;
        cr_assert_eq(ccr_extend(t, c, m, n + 1, &first, &last), SRTM_OK);
        at += n;
    }
}

static void expect_after(sha256_hasher *h, const ccr_frozen *f, uint64_t k)
{
    uint8_t want[SRTM_DIGEST_LEN], got[SRTM_DIGEST_LEN];
    cp_replay(k, want);
    cr_assert_eq(ccr_frozen_value_after(h, f, k, got), SRTM_OK, "k = %llu",
                 (unsigned long long)k);
    cr_assert(memcmp(got, want, SRTM_DIGEST_LEN) == 0,
              "the value after %llu entries is not their replay", (unsigned long long)k);
}

Test(ccr, value_after_k_entries_equals_the_replay)
{
    ccr_component *c = reg("vm", 2);
    cp_fill(c, 0, CP_LOG);
    ccr_cut cut = ccr_table_cut(t);
    ccr_frozen f;
    cr_assert_eq(ccr_cut_freeze(c, 0, &cut, &f), SRTM_OK);
    cr_assert_eq(f.len, CP_LOG);
    sha256_hasher *h = NULL;
    cr_assert_eq(sha256_hasher_new(&h), SRTM_OK);
    static const uint64_t ks[] = {0, 1, 255, 256, 257, 511, 512, 767, 768, 999, 1000};
    for (size_t i = 0; i < SRTM_ARRAY_LEN(ks); i++)
        expect_after(h, &f, ks[i]);
    /* After every entry: the frozen value. */
    uint8_t got[SRTM_DIGEST_LEN];
    cr_assert_eq(ccr_frozen_value_after(h, &f, CP_LOG, got), SRTM_OK);
    cr_assert(!f.value_stale);
    cr_assert(memcmp(got, f.value, SRTM_DIGEST_LEN) == 0);
    /* Past the log: refused, out untouched. */
    memset(got, 0x5a, sizeof(got));
    cr_assert_eq(ccr_frozen_value_after(h, &f, CP_LOG + 1, got), SRTM_E_RANGE);
    cr_assert_eq(got[0], 0x5a);
    sha256_hasher_free(h);
}

/* A cut taken before later entries (and checkpoints) still reads its own prefix. */
Test(ccr, value_after_k_at_an_earlier_cut)
{
    ccr_component *c = reg("vm", 2);
    cp_fill(c, 0, 600);
    ccr_cut cut = ccr_table_cut(t);
    cp_fill(c, 600, CP_LOG);
    ccr_frozen f;
    cr_assert_eq(ccr_cut_freeze(c, 0, &cut, &f), SRTM_OK);
    cr_assert_eq(f.len, 600);
    cr_assert(f.value_stale); /* changed after the cut */
    sha256_hasher *h = NULL;
    cr_assert_eq(sha256_hasher_new(&h), SRTM_OK);
    expect_after(h, &f, 512);
    expect_after(h, &f, 600);
    uint8_t got[SRTM_DIGEST_LEN];
    cr_assert_eq(ccr_frozen_value_after(h, &f, 601, got), SRTM_E_RANGE);
    sha256_hasher_free(h);
}

/* The entries with seq at most s: a prefix found by binary search. */
Test(ccr, count_upto_a_sequence_number)
{
    ccr_component *c = reg("vm", 2);
    cp_fill(c, 0, 300);
    ccr_cut cut = ccr_table_cut(t);
    ccr_frozen f;
    cr_assert_eq(ccr_cut_freeze(c, 0, &cut, &f), SRTM_OK);
    cr_assert_eq(ccr_frozen_count_upto(&f, 0), 0);
    cr_assert_eq(ccr_frozen_count_upto(&f, UINT64_MAX), 300);
    for (uint64_t i = 0; i < 300; i += 37) {
        ccr_log_view v;
        cr_assert_eq(ccr_frozen_at(&f, i, &v), SRTM_OK);
        cr_assert_eq(ccr_frozen_count_upto(&f, v.seq), i + 1);
        cr_assert_eq(ccr_frozen_count_upto(&f, v.seq - 1), i);
    }
}

/* A REVERSIBLE CCR has no checkpoints: a revert changes what a prefix replays to. */
Test(ccr, value_after_k_refused_for_reversible)
{
    uint64_t handle = 0, seq = 0;
    cr_assert_eq(ccr_register(t, "rv", 2, 1, SRTM_POLICY_REVERSIBLE, user_hash, 1, 1, &handle,
                              &seq),
                 SRTM_OK);
    ccr_component *c = ccr_find_handle(t, handle);
    uint8_t d[SRTM_DIGEST_LEN];
    digest_of("x", d);
    extend1(c, 0, d);
    ccr_cut cut = ccr_table_cut(t);
    ccr_frozen f;
    cr_assert_eq(ccr_cut_freeze(c, 0, &cut, &f), SRTM_OK);
    sha256_hasher *h = NULL;
    cr_assert_eq(sha256_hasher_new(&h), SRTM_OK);
    uint8_t got[SRTM_DIGEST_LEN];
    cr_assert_eq(ccr_frozen_value_after(h, &f, 1, got), SRTM_E_DENIED);
    sha256_hasher_free(h);
}

/* A checkpoint's bytes are accounted with the entry that completes it, in the CCR's, the
 * component's and the table's counts; a REVERSIBLE CCR's entries cost only themselves. */
Test(ccr, checkpoints_are_accounted)
{
    ccr_component *c = reg("vm", 2);
    uint64_t stored = ccr_table_stored(t);
    cr_assert_eq(ccr_checkpoint_bytes(c, 0, 255), 0);
    cr_assert_eq(ccr_checkpoint_bytes(c, 0, 256), CCR_CHECKPOINT_COST);
    cr_assert_eq(ccr_checkpoint_bytes(c, 0, 1000), 3 * CCR_CHECKPOINT_COST);
    cr_assert_eq(ccr_checkpoint_bytes(c, 7, 1000), 0); /* no such CCR */
    cp_fill(c, 0, CP_LOG);
    size_t batches = 0;
    for (unsigned at = 0; at < CP_LOG; batches++) {
        unsigned n = CP_LOG - at < 97 ? CP_LOG - at : 97 + at % 200;
        at += n < CP_LOG - at ? n : CP_LOG - at;
    }
    uint64_t e = 0, b = 0;
    cr_assert_eq(ccr_usage(c, 0, &e, &b), SRTM_OK);
    cr_assert_eq(e, CP_LOG);
    cr_assert_eq(b, CP_LOG * ccr_entry_cost(0) + 3 * CCR_CHECKPOINT_COST);
    uint64_t ce = 0, cb = 0;
    uint32_t children = 0, depth = 0;
    ccr_comp_usage(c, &ce, &cb, &children, &depth);
    cr_assert_eq(ce, CP_LOG + batches);
    cr_assert_eq(cb, b + batches * ccr_entry_cost(0)); /* CCR 1 has fewer than 256 */
    cr_assert_eq(ccr_table_stored(t), stored + cb);
    /* 24 more entries complete checkpoint 3. */
    cr_assert_eq(ccr_checkpoint_bytes(c, 0, 23), 0);
    cr_assert_eq(ccr_checkpoint_bytes(c, 0, 24), CCR_CHECKPOINT_COST);

    uint64_t handle = 0, seq = 0;
    cr_assert_eq(ccr_register(t, "rv", 2, 1, SRTM_POLICY_REVERSIBLE, user_hash, 1, 1, &handle,
                              &seq),
                 SRTM_OK);
    cr_assert_eq(ccr_checkpoint_bytes(ccr_find_handle(t, handle), 0, 1000), 0);
}
