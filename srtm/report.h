/*
 * CCR reports: the state of selected components (values and logs) that a joint quote
 * covers, at one sequence number; whole, or incremental (docs/protocol.md, "Incremental
 * quotes": IRREVERSIBLE logs from the first entry after a sequence number the verifier
 * names, with the value before it). Under the table lock the caller only takes a cut
 * (ccr_table_cut: the sequence number and the component count, O(1)); the closure, the
 * size bound, the snapshot (report_snapshot_take) and the serialised report
 * (report_snapshot_build) are all computed after the lock is released, from what the
 * table had at the cut (ccr.h, "Reading at a cut"). The report describes the cut's
 * sequence number and nothing else; signatures then cover these exact bytes.
 */
#ifndef SRTM_REPORT_H
#define SRTM_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ccr.h"

/* Who is reporting: this srtmd run and the TPM boot its IRK certificate belongs to. */
typedef struct report_identity {
    uint8_t instance[16];
    uint32_t reset_count, restart_count;
} report_identity;

/*
 * An upper bound on the packed size of the CcrReport of the n components handles (at the
 * cut; ascending, no repeats; every component at the cut when handles is NULL), computed
 * from per-component counters in O(components + CCRs + dependency records) without
 * allocating: *bound_out (always written; partial when an error stops the count).
 * SRTM_E_TOO_BIG as soon as it exceeds SRTM_MAX_REPORT. Needs no lock.
 */
SRTM_WUR srtm_err report_size_bound(const ccr_table *t, const ccr_cut *cut,
                                    const uint64_t *handles, size_t n, uint64_t *bound_out);

typedef struct report_snapshot report_snapshot;

/* An empty snapshot, to be filled (and refilled) by report_snapshot_take; the caller owns
 * *out and releases it with report_snapshot_free(). SRTM_E_NO_MEMORY. */
SRTM_WUR srtm_err report_snapshot_new(report_snapshot **out);

/*
 * WITHOUT the table lock, at a cut taken under it (ccr_table_cut): fill s with the table
 * as it was at the cut for the components sel[0..n-1] (handles below cut->count, any
 * order, repeats allowed) and, with closure, everything they depended on at the cut
 * (present edges and the targets of removed edges, transitively, from the dependency
 * records), each once in ascending handle order; n == 0: every component at the cut.
 * Per component: its parent, its direct dependencies at the cut, its dependency records,
 * whether it was terminated, and per CCR the log length and value at the cut. s's arrays
 * are reused when they are large enough. since: 0 for a full report; else the caller
 * checked that the request named this srtmd run, and the report built from s is
 * incremental from since (a since above cut->seq gives a full report all the same):
 * each IRREVERSIBLE CCR leaves out its entries with seq <= since and carries the value
 * after them (log_offset, base_value), except the CCRs of a component that is the target
 * of a removal record of a reported component, which are whole, as are REVERSIBLE CCRs. SRTM_E_NO_COMPONENT (a handle beyond the cut);
 * SRTM_E_TOO_BIG, before the arrays are allocated, when report_size_bound exceeds
 * SRTM_MAX_REPORT; SRTM_E_NO_MEMORY. On error s holds no snapshot. The table must outlive
 * the snapshot (components are never freed before the table).
 */
SRTM_WUR srtm_err report_snapshot_take(const ccr_table *t, const ccr_cut *cut,
                                       const uint64_t *sel, size_t n, bool closure,
                                       uint64_t since, report_snapshot *s);
/* The number of components the last take selected (closure included), also when it
 * was refused as too big. */
size_t report_snapshot_selected(const report_snapshot *s);
/* After a build: give the arrays back when they are larger than a snapshot keeps. */
void report_snapshot_release(report_snapshot *s);
/* Accepts NULL. */
void report_snapshot_free(report_snapshot *s);

/*
 * Without the lock (others may change the table meanwhile): serialise the CcrReport of
 * snapshot s into a new malloc'd buffer (*out, *len_out); the caller frees it. The bytes
 * are those of the table as it was at the cut. SRTM_E_TOO_BIG when the packed report
 * would exceed SRTM_MAX_REPORT.
 */
SRTM_WUR srtm_err report_snapshot_build(const report_snapshot *s, const report_identity *id,
                                        uint8_t **out, size_t *len_out);

/* Cut, snapshot (no closure) and build in one call, for tests: a full report, or the
 * report incremental from since (report_snapshot_take). */
SRTM_WUR srtm_err report_build(const ccr_table *t, const report_identity *id,
                               const uint64_t *sel, size_t n, uint8_t **out, size_t *len_out);
SRTM_WUR srtm_err report_build_since(const ccr_table *t, const report_identity *id,
                                     const uint64_t *sel, size_t n, uint64_t since,
                                     uint8_t **out, size_t *len_out);

#endif /* SRTM_REPORT_H */
