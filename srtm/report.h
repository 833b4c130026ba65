/*
 * CCR reports: the snapshot of selected components (values and whole logs) that a
 * joint quote covers. Built from the CCR table by the caller holding the table lock, and
 * serialised at once, so the bytes describe one sequence number and nothing else;
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

/*
 * Serialise a CcrReport of the n components comps (ascending handles, no duplicates;
 * all components when comps is NULL), each with its parent, its direct dependencies in g
 * and whether it is terminated, into a new malloc'd buffer (*out, *len_out); the
 * caller frees it. SRTM_E_TOO_BIG, before anything is allocated, when report_size_bound
 * exceeds SRTM_MAX_REPORT, and when the packed report would.
 */
SRTM_WUR srtm_err report_build(const ccr_table *t, const graph *g, const report_identity *id,
                               const ccr_component *const *comps, size_t n, uint8_t **out,
                               size_t *len_out);

#endif /* SRTM_REPORT_H */
