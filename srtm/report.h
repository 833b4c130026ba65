/*
 * CCR reports: the snapshot of selected components (values and whole logs) that a
 * joint quote covers. The caller holding the table lock takes a snapshot
 * (report_snapshot_take: O(components + CCRs + direct edges) copies of lengths, values
 * and pointers); the report is built and serialised from it after the lock is released
 * (report_snapshot_build), and describes one sequence number and nothing else;
 * signatures then cover these exact bytes.
 */
#ifndef SRTM_REPORT_H
#define SRTM_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ccr.h"
#include "graph.h"

/* Who is reporting: this srtmd run and the TPM boot its IRK certificate belongs to. */
typedef struct report_identity {
    uint8_t instance[16];
    uint32_t reset_count, restart_count;
} report_identity;

/*
 * An upper bound on the packed size of the CcrReport report_build would make of the same
 * arguments, computed from per-component counters in O(components + CCRs) without
 * allocating: *bound_out (always written; partial when an error stops the count).
 * SRTM_E_TOO_BIG as soon as it exceeds SRTM_MAX_REPORT.
 */
SRTM_WUR srtm_err report_size_bound(const ccr_table *t, const graph *g,
                                    const ccr_component *const *comps, size_t n,
                                    uint64_t *bound_out);

typedef struct report_snapshot report_snapshot;

/* An empty snapshot, to be filled (and refilled) by report_snapshot_take; the caller owns
 * *out and releases it with report_snapshot_free(). SRTM_E_NO_MEMORY. */
SRTM_WUR srtm_err report_snapshot_new(report_snapshot **out);

/*
 * Under the table lock: fill s with the snapshot of the n components comps (ascending
 * handles, no duplicates; all components when comps is NULL), each with its parent, its
 * direct dependencies in g and whether it is terminated. O(components + CCRs + direct
 * edges); s's arrays are reused when they are large enough. SRTM_E_TOO_BIG, before
 * anything is allocated, when report_size_bound exceeds SRTM_MAX_REPORT;
 * SRTM_E_NO_MEMORY. On error s holds no snapshot. The snapshot reads the table later: t
 * must outlive it (components are never freed before the table).
 */
SRTM_WUR srtm_err report_snapshot_take(const ccr_table *t, const graph *g,
                                       const ccr_component *const *comps, size_t n,
                                       report_snapshot *s);
/* After a build: give the arrays back when they are larger than a snapshot keeps. */
void report_snapshot_release(report_snapshot *s);
/* Accepts NULL. */
void report_snapshot_free(report_snapshot *s);

/*
 * Without the lock (others may change the table meanwhile): serialise the CcrReport of
 * snapshot s into a new malloc'd buffer (*out, *len_out); the caller frees it. The bytes
 * are those of the table as it was when s was taken. SRTM_E_TOO_BIG when the packed
 * report would exceed SRTM_MAX_REPORT.
 */
SRTM_WUR srtm_err report_snapshot_build(const report_snapshot *s, const report_identity *id,
                                        uint8_t **out, size_t *len_out);

/* Snapshot and build in one call, for a caller that holds the lock throughout (tests). */
SRTM_WUR srtm_err report_build(const ccr_table *t, const graph *g, const report_identity *id,
                               const ccr_component *const *comps, size_t n, uint8_t **out,
                               size_t *len_out);

#endif /* SRTM_REPORT_H */
