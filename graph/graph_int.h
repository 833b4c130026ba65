/*
 * Private to graph/ and its unit tests: hooks that let the tests reach states a normal
 * run takes billions of operations to reach, and an invariant checker.
 */
#ifndef SRTM_GRAPH_INT_H
#define SRTM_GRAPH_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "graph.h"

/* Set the visited-mark epoch, e.g. to UINT32_MAX to exercise the wrap-around. */
void graph_debug_set_epoch(graph *g, uint32_t epoch);

/*
 * Check the representation invariants in O(nodes + edges): every list strictly
 * ascending and in range, no self-loop, each dependency mirrored by exactly one
 * dependent entry and vice versa. (Acyclicity is checked by the tests' reference
 * model.) Returns false on the first violation.
 */
bool graph_debug_consistent(const graph *g);

#endif /* SRTM_GRAPH_INT_H */
