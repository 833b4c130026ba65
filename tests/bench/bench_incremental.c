/*
 * bench_incremental: what an incremental report saves srtmd (docs/protocol.md,
 * "Incremental quotes"). On the CCR table directly (no TPM, no transport, single thread:
 * reports are built, not signed), one component with one IRREVERSIBLE CCR of ENTRIES
 * measurements (32-byte descriptions), then NEW more; the report of the component (with
 * its closure, the platform) is taken and built REPS times in full and REPS times since
 * the sequence number before the NEW, the two alternating. Prints the median time of
 * each (snapshot and build, pack included) and the report sizes; then the median time of
 * the value after all ENTRIES from the checkpoints (what a base value costs) against a
 * replay of every entry.
 * Usage: bench_incremental [ENTRIES] [NEW] [REPS]
 */
#include "bench_util.h"
#include <inttypes.h>
#include <string.h>

#include "ccr.h"
#include "report.h"

static void die(const char *what, srtm_err err)
{
    fprintf(stderr, "bench_incremental: %s: %s\n", what, srtm_strerror(err));
    exit(1);
}

/* n more measurements of CCR 0 of c, in batches, digest and description from a counter. */
static void fill(ccr_table *t, ccr_component *c, uint64_t n)
{
    static uint64_t counter;
    static uint8_t d[SRTM_MAX_BATCH][SRTM_DIGEST_LEN];
    static char desc[SRTM_MAX_BATCH][33];
    static ccr_measurement m[SRTM_MAX_BATCH];
    while (n > 0) {
        size_t k = n < SRTM_MAX_BATCH ? (size_t)n : SRTM_MAX_BATCH;
        for (size_t i = 0; i < k; i++) {
            counter++;
            memset(d[i], 0, SRTM_DIGEST_LEN);
            memcpy(d[i], &counter, sizeof(counter));
            snprintf(desc[i], sizeof(desc[i]), "measurement %020" PRIu64, counter);
            m[i] = (ccr_measurement){.ccr = 0, .digest = d[i], .event_type = 1,
                                     .desc = desc[i], .desc_len = 32};
        }
        uint64_t first = 0, last = 0;
        srtm_err err = ccr_extend(t, c, m, k, &first, &last);
        if (err != SRTM_OK)
            die("extend", err);
        n -= k;
    }
}

/* Seconds to snapshot and build the report of handle h at the cut since since. */
static double one_report(const ccr_table *t, report_snapshot *s, uint64_t h, uint64_t since,
                         size_t *len_out)
{
    static const report_identity id = {.instance = {7}, .reset_count = 1, .restart_count = 1};
    double t0 = bench_now();
    ccr_cut cut = ccr_table_cut(t);
    uint8_t *out = NULL;
    srtm_err err = report_snapshot_take(t, &cut, &h, 1, true, since, s);
    if (err == SRTM_OK)
        err = report_snapshot_build(s, &id, &out, len_out);
    double dt = bench_now() - t0;
    if (err != SRTM_OK)
        die("report", err);
    free(out);
    return dt;
}

int main(int argc, char **argv)
{
    uint64_t entries = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    uint64_t fresh = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    int reps = argc > 3 ? atoi(argv[3]) : 21;
    if (reps < 1 || reps > 10000)
        reps = 21;
    uint8_t cap[SRTM_DIGEST_LEN] = {1};
    ccr_table *t = NULL;
    srtm_err err = ccr_table_new(cap, &t);
    uint64_t h = 0, seq = 0;
    if (err == SRTM_OK)
        err = ccr_register(t, "vm", 2, 1, SRTM_POLICY_IRREVERSIBLE, cap, 0, 0, &h, &seq);
    if (err != SRTM_OK)
        die("table", err);
    ccr_component *c = ccr_find_handle(t, h);
    fill(t, c, entries);
    uint64_t since = ccr_table_seq(t);
    fill(t, c, fresh);
    report_snapshot *s = NULL;
    if ((err = report_snapshot_new(&s)) != SRTM_OK)
        die("snapshot", err);
    double *full = calloc((size_t)reps, sizeof(double));
    double *inc = calloc((size_t)reps, sizeof(double));
    if (full == NULL || inc == NULL)
        die("memory", SRTM_E_NO_MEMORY);
    size_t full_len = 0, inc_len = 0;
    one_report(t, s, h, 0, &full_len); /* warm: the snapshot's arrays, the page cache */
    for (int i = 0; i < reps; i++) {
        full[i] = one_report(t, s, h, 0, &full_len);
        inc[i] = one_report(t, s, h, since, &inc_len);
    }
    printf("CCR of %" PRIu64 " + %" PRIu64 " entries, %d reports each\n", entries, fresh, reps);
    printf("full report:        %9.3f ms  %zu bytes\n", 1e3 * bench_median(full, reps),
           full_len);
    printf("incremental report: %9.3f ms  %zu bytes\n", 1e3 * bench_median(inc, reps), inc_len);

    /* The value after every entry before since: from the checkpoints, and replayed. */
    ccr_cut cut = ccr_table_cut(t);
    ccr_frozen f;
    sha256_hasher *hs = NULL;
    if ((err = ccr_cut_freeze(c, 0, &cut, &f)) != SRTM_OK ||
        (err = sha256_hasher_new(&hs)) != SRTM_OK)
        die("freeze", err);
    for (int i = 0; i < reps; i++) {
        uint8_t v[SRTM_DIGEST_LEN], w[SRTM_DIGEST_LEN] = {0};
        double t0 = bench_now();
        if ((err = ccr_frozen_value_after(hs, &f, entries, v)) != SRTM_OK)
            die("value after", err);
        full[i] = bench_now() - t0;
        t0 = bench_now();
        for (uint64_t k = 0; k < entries; k++) {
            ccr_log_view e;
            if ((err = ccr_frozen_at(&f, k, &e)) != SRTM_OK ||
                (err = sha256_hasher_two(hs, w, sizeof(w), e.digest, SRTM_DIGEST_LEN, w)) !=
                    SRTM_OK)
                die("replay", err);
        }
        inc[i] = bench_now() - t0;
        if (memcmp(v, w, sizeof(v)) != 0)
            die("the value from the checkpoints is not the replay", SRTM_E_INTERNAL);
    }
    printf("value after %" PRIu64 " entries: %9.3f ms from the checkpoints, %9.3f ms "
           "replayed\n",
           entries, 1e3 * bench_median(full, reps), 1e3 * bench_median(inc, reps));
    sha256_hasher_free(hs);
    free(full);
    free(inc);
    report_snapshot_free(s);
    ccr_table_free(t);
    return 0;
}
