/*
 * srtmd's quotas end to end: set on srtmd's command line (the configuration's keys), a
 * request over one refused over the wire with SRTM_E_QUOTA and the quota's name and
 * value, nothing changed, srtmd still serving, and the usage visible in srtm_list and
 * srtmctl --json list. A quota's value is checked like every option.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"

static test_daemon d;

TestSuite(quota_daemon, .timeout = 60);

static srtm_cap reg(srtm_conn *c, const char *name)
{
    srtm_cap cap;
    uint64_t h = 0;
    srtm_err err = srtm_register(c, &d.admin, name, 1, &h, &cap);
    cr_assert_eq(err, SRTM_OK, "register %s: %s (%s)", name, srtm_strerror(err),
                 srtm_last_message(c));
    return cap;
}

static srtm_err extend(srtm_conn *c, const srtm_cap *cap, const char *name, unsigned i)
{
    uint8_t digest[SRTM_DIGEST_LEN];
    char label[32];
    int n = snprintf(label, sizeof(label), "%s-%u", name, i);
    test_sha256(label, (size_t)n, NULL, 0, digest);
    return srtm_extend(c, cap, name, 0, digest, 0, "abc", NULL);
}

static uint64_t log_len(srtm_conn *c, const char *name)
{
    srtm_ccrs *v = NULL;
    uint32_t ccr = 0;
    uint64_t len = 0;
    uint8_t value[SRTM_DIGEST_LEN];
    cr_assert_eq(srtm_read(c, name, &ccr, 1, &v), SRTM_OK);
    cr_assert_eq(srtm_ccrs_get(v, 0, NULL, NULL, value, &len), SRTM_OK);
    srtm_ccrs_free(v);
    return len;
}

Test(quota_daemon, over_the_wire_refused_with_its_status_and_usage_listed)
{
    const char *extra[] = {"--log-entries-per-component", "3", "--memory-budget", "100000000",
                           NULL};
    test_daemon_start(&d, extra);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    srtm_cap vm = reg(c, "vm"), other = reg(c, "other");
    for (unsigned i = 0; i < 3; i++)
        cr_assert_eq(extend(c, &vm, "vm", i), SRTM_OK, "%s", srtm_last_message(c));
    srtm_err err = extend(c, &vm, "vm", 3);
    cr_expect_eq(err, SRTM_E_QUOTA, "a fourth entry: %s (%s)", srtm_strerror(err),
                 srtm_last_message(c));
    cr_expect(strstr(srtm_last_message(c),
                     "quota: component 'vm' has 3 log entries, the change adds 1 "
                     "(log-entries-per-component 3)") != NULL,
              "message: %s", srtm_last_message(c));
    cr_expect_eq(log_len(c, "vm"), 3, "the refused entry landed");
    cr_expect_eq(extend(c, &other, "other", 0), SRTM_OK, "other: %s", srtm_last_message(c));

    srtm_components *l = NULL;
    cr_assert_eq(srtm_list(c, &l), SRTM_OK);
    uint64_t entries = 0, bytes = 0, stored = 0, budget = 0;
    uint32_t children = 0;
    cr_assert_str_eq(srtm_components_name(l, 1), "vm");
    srtm_components_usage(l, 1, &entries, &bytes, &children);
    cr_expect_eq(entries, 3);
    cr_expect_gt(bytes, 3 * (SRTM_DIGEST_LEN + 3));
    srtm_components_usage(l, 0, &entries, &bytes, &children);
    cr_expect_eq(children, 2, "the platform's children");
    srtm_components_stored(l, &stored, &budget);
    cr_expect_eq(budget, 100000000);
    cr_expect(stored > 0 && stored < budget, "stored %llu", (unsigned long long)stored);
    srtm_components_free(l);
    srtm_close(c);

    char out[8192], errs[1024];
    const char *argv[] = {test_binary("SRTMCTL"), "--json", "--socket", d.url, "list", NULL};
    int rc = test_run(argv, out, sizeof(out), errs, sizeof(errs));
    cr_expect_eq(rc, 0, "srtmctl list: %s", errs);
    cr_expect(strstr(out, "\"log_entries\":3") != NULL, "%s", out);
    cr_expect(strstr(out, "\"memory_budget\":100000000") != NULL, "%s", out);
    test_daemon_stop_checked(&d);
}

Test(quota_daemon, quota_values_are_checked)
{
    static const char *const bad[][2] = {{"--memory-budget", "0"},
                                         {"--max-depth", "-1"},
                                         {"--components-per-uid", "many"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *argv[] = {test_binary("SRTMD"), "--no-tpm", "--foreground", bad[i][0],
                              bad[i][1], NULL};
        char out[256], err[1024];
        int rc = test_run(argv, out, sizeof(out), err, sizeof(err));
        cr_expect_eq(rc, 2, "%s %s: exit %d", bad[i][0], bad[i][1], rc);
        cr_expect(strstr(err, "bad value") != NULL, "%s %s: %s", bad[i][0], bad[i][1], err);
    }
}

/* srtmd's VmRSS in KiB. */
static unsigned long rss_kib(pid_t pid)
{
    char v[64] = "";
    test_proc_status(pid, "VmRSS", v, sizeof(v));
    return strtoul(v, NULL, 10);
}

/* A flood of full batches stops at the memory budget measured as srtmd's resident memory,
 * not only as the bytes it accounts: however much decoding and storage cost beyond the
 * accounted bytes, srtmd's memory after the flood has grown by at most the budget. */
Test(quota_daemon, a_flood_stops_within_the_budget_of_resident_memory)
{
    const unsigned long budget = 24ul << 20;
    char budget_s[32];
    snprintf(budget_s, sizeof(budget_s), "%lu", budget);
    const char *extra[] = {"--memory-budget", budget_s, NULL};
    test_daemon_start(&d, extra);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    unsigned long before = rss_kib(d.pid);
    srtm_batch *b = NULL;
    cr_assert_eq(srtm_batch_new(&b), SRTM_OK);
    char desc[SRTM_MAX_DESC + 1];
    memset(desc, 'd', SRTM_MAX_DESC);
    desc[SRTM_MAX_DESC] = '\0';
    uint8_t digest[SRTM_DIGEST_LEN] = {0};
    for (unsigned i = 0; i < SRTM_MAX_BATCH; i++)
        cr_assert_eq(srtm_batch_add(b, 0, digest, 0, desc), SRTM_OK);
    srtm_err err = SRTM_OK;
    unsigned batches = 0;
    for (unsigned k = 0; err == SRTM_OK && k < 64; k++) {
        char name[32];
        snprintf(name, sizeof(name), "hog-%u", k);
        srtm_cap cap;
        uint64_t h = 0;
        if ((err = srtm_register(c, &d.admin, name, 1, &h, &cap)) != SRTM_OK)
            break;
        /* A component's own log quota ends its batches first; then the next one. */
        while ((err = srtm_batch_submit(c, &cap, name, b, NULL, NULL)) == SRTM_OK)
            batches++;
        if (err == SRTM_E_QUOTA && strstr(srtm_last_message(c), "memory-budget") == NULL)
            err = SRTM_OK;
    }
    cr_assert_eq(err, SRTM_E_QUOTA, "the flood ended with %s: %s", srtm_strerror(err),
                 srtm_last_message(c));
    cr_expect(strstr(srtm_last_message(c), "memory-budget") != NULL, "%s",
              srtm_last_message(c));
    cr_assert_gt(batches, 0, "not one batch was stored");
    unsigned long after = rss_kib(d.pid);
    cr_expect_leq((after - before) * 1024, budget,
                  "srtmd grew from %lu to %lu KiB after %u batches, over the budget of %lu KiB",
                  before, after, batches, budget / 1024);
    /* Still serving: reads answer. */
    srtm_components *l = NULL;
    cr_expect_eq(srtm_list(c, &l), SRTM_OK, "%s", srtm_last_message(c));
    srtm_components_free(l);
    srtm_batch_free(b);
    srtm_close(c);
    test_daemon_stop_checked(&d);
}
