/*
 * Reversible CCRs (hierarchical integrity management): revert returns a CCR exactly to
 * an earlier value of its own log, keeps the undone measurements in the log marked, and
 * records who asked; it is refused for irreversible CCRs and for points outside the log,
 * changing nothing. A randomized run compares extends and reverts with a plain model.
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "ccr.h"

static const uint8_t hash0[32] = {0};
static ccr_table *t;

static void setup(void)
{
    cr_assert_eq(ccr_table_new(hash0, &t), SRTM_OK);
}

static void teardown(void)
{
    ccr_table_free(t);
}

TestSuite(revert, .init = setup, .fini = teardown);

static void H(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
    uint8_t buf[64];
    unsigned int n = 0;
    memcpy(buf, a, 32);
    memcpy(buf + 32, b, 32);
    cr_assert_eq(EVP_Digest(buf, 64, out, &n, EVP_sha256(), NULL), 1);
}

static ccr_component *reg(const char *name, uint32_t nccrs, uint64_t reversible)
{
    uint64_t h, seq;
    cr_assert_eq(ccr_register_mixed(t, name, strlen(name), nccrs, reversible, hash0, 0, 0, &h,
                                    &seq),
                 SRTM_OK);
    return ccr_find_handle(t, h);
}

static uint64_t ext(ccr_component *c, uint32_t ccr, uint8_t tag)
{
    uint8_t d[32];
    memset(d, tag, sizeof(d));
    ccr_measurement m = {.ccr = ccr, .digest = d};
    uint64_t first, last;
    cr_assert_eq(ccr_extend(t, c, &m, 1, &first, &last), SRTM_OK);
    return first;
}

static void value(const ccr_component *c, uint32_t ccr, uint8_t out[32], uint64_t *len)
{
    const uint8_t *v;
    srtm_policy p;
    cr_assert_eq(ccr_get(c, ccr, &v, &p, len), SRTM_OK);
    memcpy(out, v, 32);
}

Test(revert, back_to_an_earlier_point_then_on)
{
    ccr_component *c = reg("fw", 2, 0x2); /* CCR 1 reversible, CCR 0 not */
    uint64_t sa = ext(c, 1, 0xa);
    ext(c, 1, 0xb);
    ext(c, 1, 0xc);
    uint8_t da[32], dd[32], want[32], got[32];
    memset(da, 0xa, 32);
    memset(dd, 0xd, 32);
    H(hash0, da, want);
    uint64_t reverted = 0, mseq = 0;
    cr_assert_eq(ccr_revert(t, c, 1, sa, 42, &reverted, &mseq), SRTM_OK);
    cr_expect_eq(reverted, 2);
    cr_expect_eq(mseq, ccr_table_seq(t));
    uint64_t len;
    value(c, 1, got, &len);
    cr_expect_arr_eq(got, want, 32, "value is not the one after the first measurement");
    cr_expect_eq(len, 4, "undone entries must stay, plus the marker");
    ccr_log_view v;
    cr_assert_eq(ccr_log_at(c, 1, 0, &v), SRTM_OK);
    cr_expect_eq(v.flags, 0u);
    cr_assert_eq(ccr_log_at(c, 1, 1, &v), SRTM_OK);
    cr_expect_eq(v.flags, CCR_ENTRY_REVERTED);
    cr_assert_eq(ccr_log_at(c, 1, 3, &v), SRTM_OK);
    cr_expect_eq(v.flags, CCR_ENTRY_MARKER);
    cr_expect_eq(v.revert_to, sa);
    cr_expect_eq(v.revert_by, 42u, "who asked is not recorded");
    cr_expect(v.digest == NULL);
    /* Extends go on from the reverted value. */
    ext(c, 1, 0xd);
    H(want, dd, want);
    value(c, 1, got, &len);
    cr_expect_arr_eq(got, want, 32);
    /* Back to the very start. */
    cr_assert_eq(ccr_revert(t, c, 1, 0, 7, &reverted, &mseq), SRTM_OK);
    cr_expect_eq(reverted, 2, "a and d were live");
    value(c, 1, got, &len);
    cr_expect_arr_eq(got, hash0, 32);
}

Test(revert, refusals_change_nothing)
{
    ccr_component *c = reg("vm", 2, 0x2), *other = reg("other", 1, 0x1);
    uint64_t s0 = ext(c, 0, 1);
    uint64_t s1 = ext(c, 1, 2);
    ext(c, 1, 3);
    uint64_t so = ext(other, 0, 4);
    uint64_t r, m;
    cr_assert_eq(ccr_revert(t, c, 1, s1, 1, &r, &m), SRTM_OK);
    uint64_t marker_seq = m;
    uint8_t before0[32], before1[32], after[32];
    uint64_t len0, len1, len;
    value(c, 0, before0, &len0);
    value(c, 1, before1, &len1);
    uint64_t seq = ccr_table_seq(t);
    cr_expect_eq(ccr_revert(t, c, 0, s0, 1, &r, &m), SRTM_E_DENIED, "irreversible CCR");
    cr_expect_eq(ccr_revert(t, c, 2, s1, 1, &r, &m), SRTM_E_NO_CCR);
    cr_expect_eq(ccr_revert(t, c, 1, so, 1, &r, &m), SRTM_E_RANGE, "another component's seq");
    cr_expect_eq(ccr_revert(t, c, 1, s0, 1, &r, &m), SRTM_E_RANGE, "another CCR's seq");
    cr_expect_eq(ccr_revert(t, c, 1, s1 + 1, 1, &r, &m), SRTM_E_RANGE, "a reverted entry");
    cr_expect_eq(ccr_revert(t, c, 1, marker_seq, 1, &r, &m), SRTM_E_RANGE, "a marker");
    cr_expect_eq(ccr_revert(t, c, 1, seq + 100, 1, &r, &m), SRTM_E_RANGE, "the future");
    cr_expect_eq(ccr_table_seq(t), seq, "a refusal took a sequence number");
    value(c, 0, after, &len);
    cr_expect_arr_eq(after, before0, 32);
    cr_expect_eq(len, len0);
    value(c, 1, after, &len);
    cr_expect_arr_eq(after, before1, 32);
    cr_expect_eq(len, len1);
    uint64_t h, rs;
    cr_expect_eq(ccr_register_mixed(t, "bad", 3, 2, 0x4, hash0, 0, 0, &h, &rs), SRTM_E_NO_CCR,
                 "reversible bit beyond the CCRs");
}

/* Model: the list of live digests of one reversible CCR. */
Test(revert, randomized_against_a_model)
{
    srand(20261123);
    for (int round = 0; round < 200; round++) {
        char name[32];
        snprintf(name, sizeof(name), "r%d", round);
        ccr_component *c = reg(name, 1, 0x1);
        uint8_t live[300][32];
        uint64_t live_seq[300];
        size_t n = 0;
        for (int op = 0; op < 60; op++) {
            if (n == 0 || rand() % 3 != 0) {
                uint8_t tag = (uint8_t)rand();
                uint64_t s = ext(c, 0, tag);
                memset(live[n], tag, 32);
                live_seq[n++] = s;
            } else {
                size_t keep = (size_t)rand() % (n + 1); /* keep the first `keep` */
                uint64_t to = keep == 0 ? 0 : live_seq[keep - 1];
                uint64_t r, m;
                cr_assert_eq(ccr_revert(t, c, 0, to, 0, &r, &m), SRTM_OK, "round %d", round);
                cr_assert_eq(r, n - keep, "round %d op %d", round, op);
                n = keep;
            }
            uint8_t want[32] = {0}, got[32];
            for (size_t i = 0; i < n; i++)
                H(want, live[i], want);
            uint64_t len;
            value(c, 0, got, &len);
            cr_assert_arr_eq(got, want, 32, "round %d op %d: value is not the live replay",
                             round, op);
        }
    }
}
