/*
 * The CCR table: every component's Component Configuration Registers and their
 * append-only measurement logs (BIM, paper section 6.1). Pure data structure: no I/O,
 * no sockets, no TPM, no locking. srtmd's service layer holds one mutex around every
 * call, which is also what orders mutations by the global sequence number, except
 * the reads at a cut ("Reading at a cut" below), which need no lock.
 *
 * Components are found in O(1) on average by handle (handles are dense, never reused:
 * an array) and by name (open addressing under a keyed SipHash, so peers cannot force
 * collisions).
 */
#ifndef SRTM_CCR_H
#define SRTM_CCR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef struct ccr_table ccr_table;
typedef struct ccr_component ccr_component;

/* Component 0 is the platform TCB, described by the TPM's PCRs. */
#define CCR_PLATFORM_HANDLE 0u
#define CCR_PLATFORM_NAME "platform"

typedef struct ccr_measurement {
    uint32_t ccr;
    const uint8_t *digest; /* SRTM_DIGEST_LEN bytes */
    uint32_t event_type;
    const char *desc; /* desc_len bytes, not NUL-terminated; may be NULL when 0 */
    size_t desc_len;
} ccr_measurement;

/* Log entry flags. A reverted measurement stays in the log, marked; a revert marker is
 * the entry that records a revert (to which point, asked by whom). */
#define CCR_ENTRY_REVERTED 1u
#define CCR_ENTRY_MARKER 2u

/* A read-only view of one log entry; its pointers stay valid as long as the table. */
typedef struct ccr_log_view {
    uint64_t seq;
    unsigned flags;
    uint64_t revert_to; /* markers: the seq reverted to (0: the start) */
    uint64_t revert_by; /* markers: handle of the component that asked */
    const uint8_t *digest; /* NULL for a marker */
    uint32_t event_type;
    const char *desc;
    size_t desc_len;
} ccr_log_view;

/* A new table holding only component 0 (one CCR) whose capability hash is cap_hash. */
SRTM_WUR srtm_err ccr_table_new(const uint8_t cap_hash[SRTM_DIGEST_LEN], ccr_table **out);
void ccr_table_free(ccr_table *t);

/* The global sequence number of the last mutation (0: none yet). */
uint64_t ccr_table_seq(const ccr_table *t);
/* Number of components, component 0 included. */
size_t ccr_table_count(const ccr_table *t);

/*
 * Add a component with nccrs CCRs of the given policy. name must be valid UTF-8 of
 * 1..SRTM_MAX_NAME bytes. SRTM_E_EXISTS if the name is taken. On failure nothing
 * changes.
 */
SRTM_WUR srtm_err ccr_register(ccr_table *t, const char *name, size_t name_len, uint32_t nccrs,
                               srtm_policy policy, const uint8_t cap_hash[SRTM_DIGEST_LEN],
                               uint32_t peer_uid, uint32_t peer_pid, uint64_t *handle_out,
                               uint64_t *seq_out);

/*
 * As ccr_register, with CCR i REVERSIBLE when bit i of reversible is set and IRREVERSIBLE
 * otherwise (fixed for the CCR's life). SRTM_E_NO_CCR for a bit beyond nccrs.
 */
SRTM_WUR srtm_err ccr_register_mixed(ccr_table *t, const char *name, size_t name_len,
                                     uint32_t nccrs, uint64_t reversible,
                                     const uint8_t cap_hash[SRTM_DIGEST_LEN], uint32_t peer_uid,
                                     uint32_t peer_pid, uint64_t *handle_out, uint64_t *seq_out);

/*
 * Revert REVERSIBLE CCR index of c to the value it had right after its live measurement
 * with global sequence number to_seq (0: back to the initial value). The live
 * measurements after that point stay in the log, marked CCR_ENTRY_REVERTED; a marker
 * entry recording to_seq and by (the asking component's handle) is appended with the next
 * sequence number. Afterwards the value is the replay of the live measurements.
 * SRTM_E_NO_CCR, SRTM_E_DENIED (an IRREVERSIBLE CCR), SRTM_E_RANGE (to_seq is not a live
 * measurement of this CCR), SRTM_E_NO_MEMORY; nothing changes on error.
 */
SRTM_WUR srtm_err ccr_revert(ccr_table *t, ccr_component *c, uint32_t index, uint64_t to_seq,
                             uint64_t by, uint64_t *reverted_out, uint64_t *seq_out);

/* NULL when absent. */
ccr_component *ccr_find_name(const ccr_table *t, const char *name, size_t name_len);
ccr_component *ccr_find_handle(const ccr_table *t, uint64_t handle);

/* Constant-time comparison of the component's capability hash with cap_hash. */
bool ccr_cap_matches(const ccr_component *c, const uint8_t cap_hash[SRTM_DIGEST_LEN]);

/*
 * Apply n measurements to component c in order, atomically: every one lands or none
 * does. Each gets the next global sequence number. Errors: SRTM_E_INVALID (n == 0),
 * SRTM_E_TOO_BIG (n > SRTM_MAX_BATCH or a description over SRTM_MAX_DESC),
 * SRTM_E_NO_CCR, SRTM_E_NO_MEMORY, SRTM_E_CRYPTO.
 */
SRTM_WUR srtm_err ccr_extend(ccr_table *t, ccr_component *c, const ccr_measurement *m, size_t n,
                             uint64_t *first_seq_out, uint64_t *last_seq_out);

uint64_t ccr_comp_handle(const ccr_component *c);
/* The component that registered c (0 for children of the platform and for component 0). */
uint64_t ccr_comp_parent(const ccr_component *c);
/* Set by the service in the critical section that registered c; counts c as a child of
 * parent and makes c one level deeper. */
void ccr_comp_set_parent(ccr_table *t, ccr_component *c, uint64_t parent);
/* Take the next global sequence number for a structural change (dependencies,
 * termination), which the table itself does not record. */
uint64_t ccr_table_next_seq(ccr_table *t);
/*
 * The record of a component's dependency edges (docs/protocol.md, "Dependency
 * changes"): every edge added or removed, with the global sequence number of the change
 * and the component that asked. The edges declared at registration are recorded with
 * the registration's sequence number and the parent as actor. Append-only, at most
 * SRTM_MAX_DEP_CHANGES records per component.
 */
typedef struct ccr_dep_change {
    uint64_t seq;
    uint64_t on;    /* the dependency */
    uint64_t actor; /* the component whose capability made the change */
    bool removed;   /* false: the edge was added */
} ccr_dep_change;
/* Room for n more records of c, so that recording after a graph change cannot fail.
 * SRTM_E_TOO_BIG past SRTM_MAX_DEP_CHANGES, SRTM_E_NO_MEMORY; nothing changes then. */
SRTM_WUR srtm_err ccr_dep_reserve(ccr_table *t, ccr_component *c, size_t n);
/* Append one record into the room ccr_dep_reserve made (never fails then). */
void ccr_dep_record(ccr_component *c, const ccr_dep_change *change);
/* c's records, oldest first; *out points into the table. The first n records stay
 * readable at *out, unchanged, as long as the table lives (a grown record is a copy). */
size_t ccr_comp_dep_changes(const ccr_component *c, const ccr_dep_change **out);
/* The actor of the record that added c's present edge to on (c itself when none). */
uint64_t ccr_dep_declarer(const ccr_component *c, uint64_t on);
const char *ccr_comp_name(const ccr_component *c); /* NUL-terminated */
uint32_t ccr_comp_ccr_count(const ccr_component *c);
uint32_t ccr_comp_peer_uid(const ccr_component *c);
uint32_t ccr_comp_peer_pid(const ccr_component *c);
uint64_t ccr_comp_registered_seq(const ccr_component *c);

/* The CCR's value (pointer into the table, valid until the next mutation), policy and
 * log length. SRTM_E_NO_CCR when index is out of range. */
SRTM_WUR srtm_err ccr_get(const ccr_component *c, uint32_t index, const uint8_t **value_out,
                          srtm_policy *policy_out, uint64_t *log_len_out);

/*
 * Reading at a cut. Under the mutex, ccr_table_cut() takes a cut: the global sequence
 * number and the component count, O(1). Everything below can then be read WITHOUT the
 * mutex, while others register, extend, revert, change edges and terminate, and reads the
 * table as it was at the cut: entries, dependency records and components never move and
 * their fields never change once counted (ccr.c, file comment), and components live as
 * long as the table. The table must outlive every reader.
 */
typedef struct ccr_cut {
    uint64_t seq; /* the last mutation the cut includes */
    size_t count; /* components at the cut: handles 0 .. count - 1 */
} ccr_cut;
ccr_cut ccr_table_cut(const ccr_table *t);
/* The component with this handle, NULL when it was registered after the cut. */
const ccr_component *ccr_cut_handle(const ccr_table *t, const ccr_cut *cut, uint64_t handle);
/* Whether c was terminated at the cut. */
bool ccr_cut_terminated(const ccr_component *c, const ccr_cut *cut);
/* c's dependency records at the cut (the first n, oldest first; *out stays valid). */
size_t ccr_cut_dep_changes(const ccr_component *c, const ccr_cut *cut,
                           const ccr_dep_change **out);
/* Upper bounds on c's log entries and description bytes at the cut (the counts now,
 * which never fall). */
void ccr_cut_log_bound(const ccr_component *c, uint64_t *entries_out, uint64_t *desc_bytes_out);

/*
 * A CCR at a cut: its log's length at the cut, its policy and, unless value_stale, its
 * value at the cut. The value is stale when the CCR changed after the cut or while it
 * was read; the value at the cut is then the replay of the live measurements among the
 * len entries (ccr_revert). The view omits CCR_ENTRY_REVERTED, which a later revert may
 * set: whether an entry was reverted at the cut follows from the markers below len (an
 * entry is reverted when a later marker in the log reverts to a point before it: its
 * revert_to is below the entry's seq).
 */
struct ccr;
typedef struct ccr_frozen {
    const struct ccr *log;
    uint64_t len;
    uint8_t value[SRTM_DIGEST_LEN];
    bool value_stale;
    srtm_policy policy;
} ccr_frozen;
SRTM_WUR srtm_err ccr_cut_freeze(const ccr_component *c, uint32_t index, const ccr_cut *cut,
                                 ccr_frozen *out);
/* Entry i < f->len, flags CCR_ENTRY_MARKER or 0; pointers valid as long as the table.
 * SRTM_E_RANGE. Needs no lock. */
SRTM_WUR srtm_err ccr_frozen_at(const ccr_frozen *f, uint64_t i, ccr_log_view *out);
/* The number of f's entries with seq at most seq: a prefix of the log, which is in
 * increasing seq order (binary search). Needs no lock. */
uint64_t ccr_frozen_count_upto(const ccr_frozen *f, uint64_t seq);
/*
 * The value of IRREVERSIBLE f after its first k entries (k <= f->len), the replay of
 * entries 0 .. k - 1 from 32 zero bytes: the checkpoint below k and at most
 * CCR_CHECKPOINT_EVERY - 1 SHA-256 steps with h (the caller's: the table's hasher is for
 * the mutex holder). SRTM_E_DENIED for a REVERSIBLE CCR, SRTM_E_RANGE, SRTM_E_CRYPTO;
 * out is written only on success. Needs no lock.
 */
SRTM_WUR srtm_err ccr_frozen_value_after(sha256_hasher *h, const ccr_frozen *f, uint64_t k,
                                         uint8_t out[SRTM_DIGEST_LEN]);
/* Mark c terminated at seq (the first termination counts). Under the mutex. */
void ccr_comp_terminate(ccr_component *c, uint64_t seq);

/* Entry i of the CCR's log. SRTM_E_NO_CCR or SRTM_E_RANGE. */
SRTM_WUR srtm_err ccr_log_at(const ccr_component *c, uint32_t index, uint64_t i,
                             ccr_log_view *out);

/*
 * Replay: the value a log of digests yields from the all-zero initial value. Used by
 * tests and, later, the verifier; out = H(...H(H(0^32 || d0) || d1)... || dn-1).
 */
SRTM_WUR srtm_err ccr_replay(sha256_hasher *h, const uint8_t (*digests)[SRTM_DIGEST_LEN],
                             size_t n, uint8_t out[SRTM_DIGEST_LEN]);

/*
 * Quota accounting (docs/protocol.md, "Limits"), kept incrementally so that a check is
 * O(1). An entry costs ccr_entry_cost(its description's length): the fixed entry (digest,
 * sequence number, event type, flags; a revert marker too) plus the description. An
 * IRREVERSIBLE CCR's checkpoint (a value kept every CCR_CHECKPOINT_EVERY entries, so that
 * an incremental report's base value is cheap) costs CCR_CHECKPOINT_COST, counted with
 * the entry that completes it. A component costs ccr_component_cost(): its block with
 * name and CCRs. The table's stored bytes are the sum over every entry, checkpoint and
 * component; none of these counts ever falls, since logs are append-only and components
 * are never removed.
 */
#define CCR_CHECKPOINT_EVERY 256u
#define CCR_CHECKPOINT_COST SRTM_DIGEST_LEN
size_t ccr_entry_cost(size_t desc_len);
/* The accounted bytes of the checkpoints that add_entries more entries of CCR index of c
 * would store (0 for a REVERSIBLE CCR or no such CCR). Under the mutex. */
uint64_t ccr_checkpoint_bytes(const ccr_component *c, uint32_t index, uint64_t add_entries);
size_t ccr_component_cost(size_t name_len, uint32_t nccrs);
uint64_t ccr_table_stored(const ccr_table *t);
/* Components registered by processes of uid. */
uint64_t ccr_uid_components(const ccr_table *t, uint32_t uid);
/* c's log entries and their bytes over all its CCRs, its children and its depth. */
void ccr_comp_usage(const ccr_component *c, uint64_t *entries_out, uint64_t *bytes_out,
                    uint32_t *children_out, uint32_t *depth_out);
/* CCR index's log entries and their bytes (checkpoints included). SRTM_E_NO_CCR when out
 * of range. */
SRTM_WUR srtm_err ccr_usage(const ccr_component *c, uint32_t index, uint64_t *entries_out,
                            uint64_t *bytes_out);

/* Approximate bytes of memory the table uses (for benchmarks). */
size_t ccr_table_memory(const ccr_table *t);

#endif /* SRTM_CCR_H */
