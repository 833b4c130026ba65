/*
 * The dependency DAG of hierarchical integrity management (paper section 6.2, DESIGN.md
 * "Hierarchical integrity management"). Pure data structure: no I/O, no sockets, no TPM,
 * no locking. srtmd's service layer holds its one mutex around every call.
 *
 * Nodes are component handles, dense from 0 and never reused, exactly as in the CCR
 * table; graph_new() creates node 0 (the platform TCB) and graph_add_node() appends the
 * next handle, so the daemon adds a graph node in the same critical section as
 * ccr_register() and the two handles agree. An edge A -> B means "A's integrity depends
 * on B's"; the graph is kept acyclic (every refused change leaves it untouched).
 *
 * Costs. Adding an edge A -> B checks for a cycle with a search that alternates between
 * B's dependencies and A's dependents, balanced by edges scanned, so it costs
 * O(min(edges reachable from B, edges reaching A)) plus O(deg) for the sorted insert --
 * never O(number of nodes): visited marks are epoch-stamped, never cleared per query.
 * The sorted insert is a memmove: free when the new entry has the largest handle (the
 * usual case: a new component's edges), about 20 us for a small handle entering a
 * shared service's list of 600,000 dependents (tests/bench/bench_graph.c).
 * Closure and is_dependency are linear in the part of the graph they visit. The trust
 * rule itself is not here: it judges reports, so it lives once, in the verifier
 * (client-lib/verifier/verify.c, dependency_rule; docs/architecture.md). Memory: 40 bytes per node; 8 bytes per edge (a uint32 in each direction), up
 * to twice that while a growable list has slack, and a node's first two dependencies
 * and first two dependents are stored inside the node (no allocation for the common
 * leaf component). graph_memory_bytes() counts every byte the graph allocates; at
 * 1,000,000 components in the benchmark's shape: 42 bytes per node (node array slack
 * included), 6.4 bytes per edge, 56 bytes per component in all.
 *
 * Scratch state. Queries that search (closure, is_dependency, may_change_deps,
 * add_edge) write visited marks and reuse search buffers inside the graph,
 * which is why they take a non-const graph: not even two readers may use one graph at
 * the same time without a lock.
 *
 * Handles are uint64_t in the API (as in the protocol); at most GRAPH_MAX_NODES nodes.
 * A handle >= graph_node_count() is "no such component" (SRTM_E_NO_COMPONENT).
 */
#ifndef SRTM_GRAPH_H
#define SRTM_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct graph graph;

/* Handles are stored as uint32 internally. */
#define GRAPH_MAX_NODES ((uint64_t)UINT32_MAX)

/*
 * A new graph holding node 0 (the platform TCB) and no edges. The caller owns *out and
 * releases it with graph_free(). SRTM_E_NO_MEMORY.
 */
SRTM_WUR srtm_err graph_new(graph **out);
/* Accepts NULL. */
void graph_free(graph *g);

/* Number of nodes; valid handles are 0 .. count-1. O(1). */
uint64_t graph_node_count(const graph *g);

/*
 * Append the node with handle graph_node_count(g) and, atomically, its edges to the
 * ndeps dependencies in deps (each < the new handle; no duplicates; deps may be NULL
 * when ndeps is 0). A new node has no dependents, so no cycle is possible. deps is
 * copied. Errors: SRTM_E_NO_COMPONENT (a dependency out of range), SRTM_E_INVALID (a
 * duplicate), SRTM_E_TOO_BIG (GRAPH_MAX_NODES reached), SRTM_E_NO_MEMORY; on error
 * nothing changes. O(ndeps log ndeps) amortised.
 */
SRTM_WUR srtm_err graph_add_node(graph *g, const uint64_t *deps, size_t ndeps,
                                 uint64_t *handle_out);

/* Why graph_add_edge() refused an edge with SRTM_E_INVALID. */
typedef enum graph_refusal {
    GRAPH_REFUSAL_NONE = 0,      /* not refused for a structural reason */
    GRAPH_REFUSAL_SELF_LOOP = 1, /* a == b */
    GRAPH_REFUSAL_CYCLE = 2,     /* b already depends on a, directly or transitively */
} graph_refusal;

/*
 * Add the edge a -> b (a depends on b). Errors: SRTM_E_NO_COMPONENT (a or b out of
 * range), SRTM_E_INVALID (self-loop or cycle: *why tells which), SRTM_E_EXISTS (the
 * edge is already there), SRTM_E_NO_MEMORY. On error nothing changes. why may be NULL;
 * when not, it is written on every return (GRAPH_REFUSAL_NONE unless SRTM_E_INVALID).
 * Authorisation is the caller's job (graph_may_change_deps). Cost: see the file header.
 */
SRTM_WUR srtm_err graph_add_edge(graph *g, uint64_t a, uint64_t b, graph_refusal *why);

/*
 * Remove the edge a -> b. Errors: SRTM_E_NO_COMPONENT (a or b out of range),
 * SRTM_E_INVALID (no such edge). O(deg(a) + deg(b)).
 */
SRTM_WUR srtm_err graph_remove_edge(graph *g, uint64_t a, uint64_t b);

/* true when the edge a -> b exists; false also when a or b is out of range. O(log deg). */
bool graph_has_edge(const graph *g, uint64_t a, uint64_t b);

/* Number of direct dependencies and of direct dependents of x (either pointer may be
 * NULL). SRTM_E_NO_COMPONENT. O(1). */
SRTM_WUR srtm_err graph_degree(const graph *g, uint64_t x, size_t *ndeps_out,
                               size_t *ndependents_out);

/*
 * Copy x's direct dependencies (graph_deps) or direct dependents (graph_dependents), in
 * ascending handle order, starting at position offset, into out[0..cap-1]; *n_out is
 * the number copied (0 when offset equals the count). Paged so that a shared service
 * with a million dependents needs no big buffer. Errors: SRTM_E_NO_COMPONENT,
 * SRTM_E_RANGE (offset > count), SRTM_E_INVALID (out NULL with cap > 0). O(cap).
 */
SRTM_WUR srtm_err graph_deps(const graph *g, uint64_t x, size_t offset, uint64_t *out,
                             size_t cap, size_t *n_out);
SRTM_WUR srtm_err graph_dependents(const graph *g, uint64_t x, size_t offset, uint64_t *out,
                                   size_t cap, size_t *n_out);

/*
 * The dependency closure of x: every node x depends on, directly or transitively, x
 * itself excluded, in breadth-first order from x with each node's dependencies taken in
 * ascending handle order (deterministic). *out is a new array owned by the caller
 * (free() it); NULL when *n_out is 0. Errors: SRTM_E_NO_COMPONENT, SRTM_E_NO_MEMORY.
 * O(nodes + edges of the closure).
 */
SRTM_WUR srtm_err graph_closure(graph *g, uint64_t x, uint64_t **out, size_t *n_out);

/*
 * *out = a depends on x, directly or transitively (false when a == x: a node never
 * depends on itself). Errors: SRTM_E_NO_COMPONENT, SRTM_E_NO_MEMORY. Cost as the cycle
 * check of graph_add_edge.
 */
SRTM_WUR srtm_err graph_is_dependency(graph *g, uint64_t a, uint64_t x, bool *out);

/*
 * The paper's defence against a spurious-dependency denial of service: may actor add
 * or remove a dependency of target? true when actor == target or target depends on
 * actor, directly or transitively. Fails closed: false when either handle is out of
 * range or memory runs out. The daemon applies it before graph_add_edge/remove_edge.
 */
SRTM_WUR bool graph_may_change_deps(graph *g, uint64_t actor, uint64_t target);

/*
 * Mark x terminated (one way; marking twice is fine). Its edges stay; what depends on it
 * is reported as depending on a terminated component. SRTM_E_NO_COMPONENT. O(1).
 */
SRTM_WUR srtm_err graph_terminate(graph *g, uint64_t x);
/* false also when x is out of range. O(1). */
bool graph_is_terminated(const graph *g, uint64_t x);

/* Bytes the graph has allocated (nodes, edge lists, search buffers), for benchmarks. */
size_t graph_memory_bytes(const graph *g);

#endif /* SRTM_GRAPH_H */
