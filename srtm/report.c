/*
 * Building a CcrReport at a cut (ccr.h, "Reading at a cut"), without the table lock:
 * report_snapshot_take finds the selection's closure from the dependency records, bounds
 * the report's size and copies per component and CCR what can still change (the log
 * length and value at the cut, the direct dependencies the records give at the cut, the
 * number of records, whether it was terminated); report_snapshot_build reads the entries
 * below those lengths, which never move or change, and packs the report. A CCR changed
 * after the cut (or while it was read) gets its value at the cut from the entries at the
 * cut: an IRREVERSIBLE one from its last checkpoint at the cut (at most 255 hashes), a
 * REVERSIBLE one by replaying its live measurements, as a verifier does. An incremental
 * report's base values come from the checkpoints the same way. The protobuf structures point into the table
 * (digests, names), into the snapshot (values, edges) and into a private arena
 * (descriptions, which the table keeps without NUL, and replayed values).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "report.h"
#include "srtm.pb-c.h"

/* Generous: protobuf-c structures of a report as large as SRTM_MAX_REPORT. */
#define REPORT_ARENA_BUDGET (8u * (size_t)SRTM_MAX_REPORT)
/* A snapshot keeps arrays up to this size for the next one: a 100,000-component report
 * takes about 17 MiB. */
#define REPORT_SNAPSHOT_KEEP (16u * 1024u * 1024u)

/* One component as it was at the snapshot. */
typedef struct snap_comp {
    uint64_t handle, parent;
    const char *name; /* in the table, never changes */
    bool terminated;
    uint32_t nccrs;
    size_t ccr_off;  /* its CCRs: ccrs[ccr_off .. ccr_off + nccrs - 1] */
    size_t dep_off, ndeps; /* its direct dependencies: deps[dep_off ..], ascending */
    const ccr_dep_change *changes; /* the first n_changes never change */
    size_t n_changes;
    bool whole; /* an incremental report reports its CCRs whole (a removal's target) */
} snap_comp;

/* A dependency record being replayed: the edge's target and the record's position. */
typedef struct edge_rec {
    uint64_t on;
    size_t pos;
    bool removed;
} edge_rec;

/* The arrays are kept from one snapshot to the next (up to REPORT_SNAPSHOT_KEEP bytes):
 * memory the process touches for the first time costs page faults. */
struct report_snapshot {
    uint64_t seq;
    uint64_t since; /* 0: a full report; else IRREVERSIBLE logs after this seq */
    size_t n, selected;
    snap_comp *comps;
    ccr_frozen *ccrs;
    uint64_t *deps;
    uint64_t *queue, *order; /* the closure in visiting order, then ascending */
    uint64_t *seen;          /* one bit per component at the cut */
    edge_rec *edges;         /* SRTM_MAX_DEP_CHANGES records of one component */
    uint64_t *whole;         /* one bit per component at the cut: a removal's target */
    size_t cap_comps, cap_ccrs, cap_deps, cap_queue, cap_order, cap_seen, cap_whole;
};

srtm_err report_snapshot_new(report_snapshot **out)
{
    report_snapshot *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SRTM_E_NO_MEMORY;
    *out = s;
    return SRTM_OK;
}

static void drop_arrays(report_snapshot *s)
{
    free(s->comps);
    free(s->ccrs);
    free(s->deps);
    free(s->queue);
    free(s->order);
    free(s->seen);
    free(s->whole);
    s->comps = NULL;
    s->ccrs = NULL;
    s->deps = NULL;
    s->queue = s->order = s->seen = s->whole = NULL;
    s->cap_comps = s->cap_ccrs = s->cap_deps = s->cap_queue = s->cap_order = s->cap_seen = 0;
    s->cap_whole = 0;
    s->n = 0;
}

void report_snapshot_release(report_snapshot *s)
{
    if (s != NULL && s->cap_comps * sizeof(*s->comps) + s->cap_ccrs * sizeof(*s->ccrs) +
                             (s->cap_deps + s->cap_queue + s->cap_order + s->cap_seen +
                              s->cap_whole) *
                                 sizeof(uint64_t) >
                         REPORT_SNAPSHOT_KEEP)
        drop_arrays(s);
}

void report_snapshot_free(report_snapshot *s)
{
    if (s == NULL)
        return;
    drop_arrays(s);
    free(s->edges);
    free(s);
}

size_t report_snapshot_selected(const report_snapshot *s)
{
    return s->selected;
}

/* An entry is reverted when a marker after it reverts to a point before it; scanning
 * from the end, the smallest revert_to seen so far decides. The same entries ccr_revert
 * marks, as they stood at the snapshot. */
static void mark_reverted(Srtm__LogEntry *entries, uint64_t len)
{
    uint64_t lowest = UINT64_MAX;
    for (uint64_t i = len; i > 0; i--) {
        Srtm__LogEntry *e = &entries[i - 1];
        if (e->revert_marker) {
            if (e->revert_to_seq < lowest)
                lowest = e->revert_to_seq;
        } else {
            e->reverted = lowest < e->seq;
        }
    }
}

/* The value of a REVERSIBLE CCR at the cut whose value changed after it: the replay of
 * the live measurements of its whole log (reverted already marked). */
static srtm_err replay_live(arena *a, sha256_hasher **h, Srtm__LogEntry *const *entries,
                            uint64_t len, uint8_t **out)
{
    uint8_t *v = arena_alloc(a, SRTM_DIGEST_LEN);
    srtm_err err = v != NULL ? SRTM_OK : SRTM_E_TOO_BIG;
    if (err == SRTM_OK && *h == NULL)
        err = sha256_hasher_new(h);
    if (err == SRTM_OK)
        memset(v, 0, SRTM_DIGEST_LEN);
    for (uint64_t i = 0; err == SRTM_OK && i < len; i++)
        if (!entries[i]->revert_marker && !entries[i]->reverted)
            err = sha256_hasher_two(*h, v, SRTM_DIGEST_LEN, entries[i]->digest.data,
                                    SRTM_DIGEST_LEN, v);
    *out = v;
    return err;
}

/* The value of an IRREVERSIBLE CCR after its first k entries at the cut (a checkpoint and
 * at most 255 hashes: ccr_frozen_value_after), into the arena. */
static srtm_err value_after(arena *a, sha256_hasher **h, const ccr_frozen *f, uint64_t k,
                            uint8_t **out)
{
    uint8_t *v = arena_alloc(a, SRTM_DIGEST_LEN);
    srtm_err err = v != NULL ? SRTM_OK : SRTM_E_TOO_BIG;
    if (err == SRTM_OK && *h == NULL)
        err = sha256_hasher_new(h);
    if (err == SRTM_OK)
        err = ccr_frozen_value_after(*h, f, k, v);
    if (err == SRTM_OK)
        *out = v;
    return err;
}

/* rc->log: the entries from..f->len - 1 at the cut, with their index in the whole log. */
static srtm_err fill_log(arena *a, const ccr_frozen *f, uint64_t from, Srtm__ReportCcr *rc)
{
    uint64_t len = f->len - from;
    Srtm__LogEntry *entries = arena_alloc(a, len * sizeof(*entries));
    Srtm__LogEntry **ptrs = arena_alloc(a, len * sizeof(*ptrs));
    if (entries == NULL || ptrs == NULL)
        return SRTM_E_TOO_BIG;
    for (uint64_t i = 0; i < len; i++) {
        ccr_log_view v;
        srtm_err err = ccr_frozen_at(f, from + i, &v);
        if (err != SRTM_OK)
            return err;
        Srtm__LogEntry *e = &entries[i];
        srtm__log_entry__init(e);
        e->index = from + i;
        e->seq = v.seq;
        if (v.digest != NULL) {
            e->digest.data = (uint8_t *)v.digest;
            e->digest.len = SRTM_DIGEST_LEN;
        }
        e->revert_marker = (v.flags & CCR_ENTRY_MARKER) != 0;
        e->revert_to_seq = v.revert_to;
        e->revert_by = v.revert_by;
        e->event_type = v.event_type;
        char *desc = arena_alloc(a, v.desc_len + 1);
        if (desc == NULL)
            return SRTM_E_TOO_BIG;
        if (v.desc_len > 0)
            memcpy(desc, v.desc, v.desc_len);
        desc[v.desc_len] = '\0';
        e->description = desc;
        ptrs[i] = e;
    }
    mark_reverted(entries, len);
    rc->log = ptrs;
    rc->n_log = len;
    return SRTM_OK;
}

/*
 * One CCR at the cut. since != 0 (an incremental report) leaves out an IRREVERSIBLE
 * CCR's entries with seq <= since, which are a prefix of its log, and gives the value
 * after them instead (docs/protocol.md, "Incremental quotes"). A REVERSIBLE CCR is always
 * whole: a revert can reach below any offset and mark earlier entries reverted.
 */
static srtm_err fill_ccr(arena *a, sha256_hasher **h, const ccr_frozen *f, uint32_t index,
                         uint64_t since, Srtm__ReportCcr *rc)
{
    bool irreversible = f->policy == SRTM_POLICY_IRREVERSIBLE;
    srtm__report_ccr__init(rc);
    rc->index = index;
    rc->policy = irreversible ? SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE
                              : SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    rc->value.data = (uint8_t *)f->value;
    rc->value.len = SRTM_DIGEST_LEN;
    uint64_t from = since != 0 && irreversible ? ccr_frozen_count_upto(f, since) : 0;
    srtm_err err = SRTM_OK;
    if (from > 0) {
        rc->log_offset = from;
        rc->base_value.len = SRTM_DIGEST_LEN;
        err = value_after(a, h, f, from, &rc->base_value.data);
    }
    /* A value that changed after the cut: the value after the entries at the cut. */
    if (err == SRTM_OK && f->value_stale && irreversible)
        err = value_after(a, h, f, f->len, &rc->value.data);
    if (err == SRTM_OK && f->len > from)
        err = fill_log(a, f, from, rc);
    if (err == SRTM_OK && f->value_stale && !irreversible)
        err = replay_live(a, h, rc->log, rc->n_log, &rc->value.data);
    return err;
}

/* The record of the component's dependency changes, oldest first. */
static srtm_err fill_changes(arena *a, const snap_comp *sc, Srtm__ReportComponent *out)
{
    size_t n = sc->n_changes;
    if (n == 0)
        return SRTM_OK;
    Srtm__DependencyChange *recs = arena_alloc(a, n * sizeof(*recs));
    Srtm__DependencyChange **ptrs = arena_alloc(a, n * sizeof(*ptrs));
    if (recs == NULL || ptrs == NULL)
        return SRTM_E_TOO_BIG;
    for (size_t i = 0; i < n; i++) {
        srtm__dependency_change__init(&recs[i]);
        recs[i].seq = sc->changes[i].seq;
        recs[i].component = sc->handle;
        recs[i].on = sc->changes[i].on;
        recs[i].actor = sc->changes[i].actor;
        recs[i].removed = sc->changes[i].removed;
        ptrs[i] = &recs[i];
    }
    out->dependency_changes = ptrs;
    out->n_dependency_changes = n;
    return SRTM_OK;
}

static srtm_err fill_component(arena *a, sha256_hasher **h, const report_snapshot *s,
                               const snap_comp *sc, Srtm__ReportComponent *out)
{
    srtm__report_component__init(out);
    out->handle = sc->handle;
    out->name = (char *)sc->name;
    out->parent = sc->parent;
    out->terminated = sc->terminated;
    if (sc->ndeps > 0) {
        out->depends_on = &s->deps[sc->dep_off];
        out->n_depends_on = sc->ndeps;
    }
    srtm_err err = fill_changes(a, sc, out);
    if (err != SRTM_OK)
        return err;
    uint32_t n = sc->nccrs;
    Srtm__ReportCcr *ccrs = arena_alloc(a, n * sizeof(*ccrs));
    Srtm__ReportCcr **ptrs = arena_alloc(a, n * sizeof(*ptrs));
    if (ccrs == NULL || ptrs == NULL)
        return SRTM_E_TOO_BIG;
    uint64_t since = sc->whole ? 0 : s->since;
    for (uint32_t i = 0; i < n && err == SRTM_OK; i++) {
        err = fill_ccr(a, h, &s->ccrs[sc->ccr_off + i], i, since, &ccrs[i]);
        ptrs[i] = &ccrs[i];
    }
    out->ccrs = ptrs;
    out->n_ccrs = n;
    return err;
}

/* Bytes of the varint encoding of v. */
static uint64_t varint_len(uint64_t v)
{
    uint64_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/*
 * An upper bound on the packed ReportComponent of c at the cut, field by field, every
 * field counted as present and every length prefix at its largest: h bytes bound a
 * handle's varint and s bytes a sequence number's (or a log index, which is below the
 * sequence number). Its present edges are at most its records.
 */
static uint64_t component_bound(const ccr_component *c, const ccr_cut *cut, uint64_t h,
                                uint64_t s)
{
    const ccr_dep_change *ch = NULL;
    uint64_t nch = ccr_cut_dep_changes(c, cut, &ch);
    uint64_t entries = 0, desc = 0;
    ccr_cut_log_bound(c, &entries, &desc);
    /* wrapper, handle, name, parent, depends_on (packed or not), terminated */
    uint64_t b = 11 + (1 + h) + 3 + strlen(ccr_comp_name(c)) + (1 + h) + 11 + nch * (1 + h) + 2;
    b += nch * (2 + (1 + s) + 3 * (1 + h) + 2);
    /* per CCR: wrapper, index, policy, value */
    b += (uint64_t)ccr_comp_ccr_count(c) * (11 + 6 + 2 + 34);
    /* per entry: wrapper, index, seq, digest, event_type, description prefix, reverted,
     * revert_marker, revert_to_seq, revert_by; then the description bytes */
    b += entries * (3 + (1 + s) + (1 + s) + 34 + 6 + 3 + 2 + 2 + (1 + s) + (1 + h)) + desc;
    return b;
}

srtm_err report_size_bound(const ccr_table *t, const ccr_cut *cut, const uint64_t *handles,
                           size_t n, uint64_t *bound_out)
{
    size_t count = handles != NULL ? n : cut->count;
    uint64_t h = varint_len(cut->count);
    uint64_t s = varint_len(cut->seq);
    /* format, instance, reset, restart, seq, since_seq */
    uint64_t total = 6 + 18 + 6 + 6 + 11 + 11;
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        const ccr_component *c = ccr_cut_handle(t, cut, handles != NULL ? handles[i] : i);
        if (c == NULL)
            err = SRTM_E_NO_COMPONENT;
        else if ((total += component_bound(c, cut, h, s)) > SRTM_MAX_REPORT)
            err = SRTM_E_TOO_BIG; /* stop early: the bound only grows */
    }
    *bound_out = total;
    return err;
}

/* *p holds at least need elements of elem bytes (its contents are not kept). */
static srtm_err room(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap && *p != NULL)
        return SRTM_OK;
    free(*p);
    *cap = 0;
    *p = malloc((need ? need : 1) * elem);
    if (*p == NULL)
        return SRTM_E_NO_MEMORY;
    *cap = need;
    return SRTM_OK;
}

/* Visit h once: mark it and queue it. */
static srtm_err visit(report_snapshot *s, const ccr_cut *cut, uint64_t h, size_t *nq)
{
    if (h >= cut->count)
        return SRTM_E_NO_COMPONENT;
    uint64_t bit = (uint64_t)1 << (h % 64);
    if ((s->seen[h / 64] & bit) == 0) {
        s->seen[h / 64] |= bit;
        s->queue[(*nq)++] = h;
    }
    return SRTM_OK;
}

/*
 * s->order[0 .. *n_out - 1]: the selection and, with closure, every component reached
 * through the dependency records at the cut (a record's target was a dependency, present
 * or removed since), each once, ascending: the marks are one bit per component, read in
 * order.
 */
static srtm_err select_at_cut(report_snapshot *s, const ccr_table *t, const ccr_cut *cut,
                              const uint64_t *sel, size_t n, bool closure, size_t *n_out)
{
    size_t words = cut->count / 64 + 1;
    srtm_err err = room((void **)&s->queue, &s->cap_queue, cut->count, sizeof(uint64_t));
    if (err == SRTM_OK)
        err = room((void **)&s->order, &s->cap_order, cut->count, sizeof(uint64_t));
    if (err == SRTM_OK)
        err = room((void **)&s->seen, &s->cap_seen, words, sizeof(uint64_t));
    if (err != SRTM_OK)
        return err;
    memset(s->seen, 0, words * sizeof(uint64_t));
    size_t nq = 0;
    for (size_t i = 0; err == SRTM_OK && i < n; i++)
        err = visit(s, cut, sel[i], &nq);
    for (size_t i = 0; closure && err == SRTM_OK && i < nq; i++) {
        const ccr_dep_change *ch = NULL;
        size_t nch = ccr_cut_dep_changes(ccr_cut_handle(t, cut, s->queue[i]), cut, &ch);
        for (size_t k = 0; err == SRTM_OK && k < nch; k++)
            err = visit(s, cut, ch[k].on, &nq);
    }
    size_t m = 0;
    for (size_t w = 0; err == SRTM_OK && w < words; w++)
        for (uint64_t bits = s->seen[w]; bits != 0; bits &= bits - 1)
            s->order[m++] = w * 64 + (uint64_t)__builtin_ctzll(bits);
    *n_out = m;
    return err;
}

static int by_on_then_pos(const void *a, const void *b)
{
    const edge_rec *x = a, *y = b;
    if (x->on != y->on)
        return x->on < y->on ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* The present edges the records ch[0..n-1] replay to, ascending, into out (room for n):
 * per target, its last record decides. Returns their number. */
static size_t replay_edges(edge_rec *scratch, const ccr_dep_change *ch, size_t n, uint64_t *out)
{
    for (size_t i = 0; i < n; i++)
        scratch[i] = (edge_rec){.on = ch[i].on, .pos = i, .removed = ch[i].removed};
    if (n > 1)
        qsort(scratch, n, sizeof(*scratch), by_on_then_pos);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if ((i + 1 == n || scratch[i + 1].on != scratch[i].on) && !scratch[i].removed)
            out[m++] = scratch[i].on;
    return m;
}

/* Room in s for the count components of s->order (or all at the cut): their CCRs and
 * the edges their records can give. */
static srtm_err snapshot_room(report_snapshot *s, const ccr_table *t, const ccr_cut *cut,
                              const uint64_t *order, size_t count)
{
    size_t nccrs = 0, ndeps = 0;
    for (size_t i = 0; i < count; i++) {
        const ccr_component *c = ccr_cut_handle(t, cut, order != NULL ? order[i] : i);
        const ccr_dep_change *ch = NULL;
        nccrs += ccr_comp_ccr_count(c);
        ndeps += ccr_cut_dep_changes(c, cut, &ch);
    }
    srtm_err err = room((void **)&s->comps, &s->cap_comps, count, sizeof(*s->comps));
    if (err == SRTM_OK)
        err = room((void **)&s->ccrs, &s->cap_ccrs, nccrs, sizeof(*s->ccrs));
    if (err == SRTM_OK)
        err = room((void **)&s->deps, &s->cap_deps, ndeps, sizeof(*s->deps));
    if (err == SRTM_OK && s->edges == NULL &&
        (s->edges = malloc(SRTM_MAX_DEP_CHANGES * sizeof(*s->edges))) == NULL)
        err = SRTM_E_NO_MEMORY;
    return err;
}

/* Component c as it was at the cut, its CCRs and edges appended at *ccr_at and *dep_at. */
static srtm_err snapshot_component(report_snapshot *s, const ccr_cut *cut,
                                   const ccr_component *c, snap_comp *sc, size_t *ccr_at,
                                   size_t *dep_at)
{
    sc->handle = ccr_comp_handle(c);
    sc->parent = ccr_comp_parent(c);
    sc->name = ccr_comp_name(c);
    sc->terminated = ccr_cut_terminated(c, cut);
    sc->nccrs = ccr_comp_ccr_count(c);
    sc->n_changes = ccr_cut_dep_changes(c, cut, &sc->changes);
    if (sc->n_changes > SRTM_MAX_DEP_CHANGES)
        return SRTM_E_TOO_BIG;
    sc->ccr_off = *ccr_at;
    sc->dep_off = *dep_at;
    sc->ndeps = replay_edges(s->edges, sc->changes, sc->n_changes, &s->deps[sc->dep_off]);
    srtm_err err = SRTM_OK;
    for (uint32_t i = 0; err == SRTM_OK && i < sc->nccrs; i++)
        err = ccr_cut_freeze(c, i, cut, &s->ccrs[sc->ccr_off + i]);
    *ccr_at += sc->nccrs;
    *dep_at += sc->ndeps;
    return err;
}

/* An incremental report's components whose CCRs are reported whole: every target of a
 * removal record of a reported component (the verifier judges the target as it was at
 * the removal, which may lie before since). */
static srtm_err mark_whole(report_snapshot *s, const ccr_cut *cut, size_t count)
{
    size_t words = cut->count / 64 + 1;
    srtm_err err = room((void **)&s->whole, &s->cap_whole, words, sizeof(uint64_t));
    if (err != SRTM_OK)
        return err;
    memset(s->whole, 0, words * sizeof(uint64_t));
    for (size_t i = 0; i < count; i++)
        for (size_t k = 0; k < s->comps[i].n_changes; k++) {
            const ccr_dep_change *ch = &s->comps[i].changes[k];
            if (ch->removed && ch->on < cut->count)
                s->whole[ch->on / 64] |= (uint64_t)1 << (ch->on % 64);
        }
    for (size_t i = 0; i < count; i++) {
        uint64_t h = s->comps[i].handle;
        s->comps[i].whole = (s->whole[h / 64] >> (h % 64)) & 1;
    }
    return SRTM_OK;
}

srtm_err report_snapshot_take(const ccr_table *t, const ccr_cut *cut, const uint64_t *sel,
                              size_t n, bool closure, uint64_t since, report_snapshot *s)
{
    s->n = 0;
    s->selected = 0;
    s->since = since <= cut->seq ? since : 0;
    size_t count = cut->count;
    const uint64_t *order = NULL; /* NULL: every component at the cut */
    srtm_err err = SRTM_OK;
    if (n > 0) {
        err = select_at_cut(s, t, cut, sel, n, closure, &count);
        order = s->order;
    }
    if (err != SRTM_OK)
        return err;
    s->selected = count;
    uint64_t bound = 0;
    err = report_size_bound(t, cut, order, count, &bound);
    if (err == SRTM_OK)
        err = snapshot_room(s, t, cut, order, count);
    if (err != SRTM_OK)
        return err;
    s->seq = cut->seq;
    size_t ccr_at = 0, dep_at = 0;
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        const ccr_component *c = ccr_cut_handle(t, cut, order != NULL ? order[i] : i);
        err = snapshot_component(s, cut, c, &s->comps[i], &ccr_at, &dep_at);
        s->comps[i].whole = false;
    }
    if (err == SRTM_OK && s->since != 0)
        err = mark_whole(s, cut, count);
    if (err == SRTM_OK)
        s->n = count;
    return err;
}

srtm_err report_snapshot_build(const report_snapshot *s, const report_identity *id,
                               uint8_t **out, size_t *len_out)
{
    size_t count = s->n;
    srtm_err err = SRTM_OK;
    arena a;
    arena_init(&a, REPORT_ARENA_BUDGET);
    Srtm__ReportComponent *rcs = arena_alloc(&a, (count ? count : 1) * sizeof(*rcs));
    Srtm__ReportComponent **ptrs = arena_alloc(&a, (count ? count : 1) * sizeof(*ptrs));
    if (rcs == NULL || ptrs == NULL)
        err = SRTM_E_NO_MEMORY;
    sha256_hasher *h = NULL; /* made when a value must be replayed */
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        err = fill_component(&a, &h, s, &s->comps[i], &rcs[i]);
        ptrs[i] = &rcs[i];
    }
    sha256_hasher_free(h);
    Srtm__CcrReport r = SRTM__CCR_REPORT__INIT;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (err == SRTM_OK) {
        r.format = 1;
        r.srtm_instance.data = (uint8_t *)id->instance;
        r.srtm_instance.len = sizeof(id->instance);
        r.reset_count = id->reset_count;
        r.restart_count = id->restart_count;
        r.seq = s->seq;
        r.since_seq = s->since;
        r.components = ptrs;
        r.n_components = count;
        len = srtm__ccr_report__get_packed_size(&r);
        if (len > SRTM_MAX_REPORT)
            err = SRTM_E_TOO_BIG;
        else if ((buf = malloc(len ? len : 1)) == NULL)
            err = SRTM_E_NO_MEMORY;
    }
    if (err == SRTM_OK) {
        srtm__ccr_report__pack(&r, buf);
        *out = buf;
        *len_out = len;
    }
    arena_fini(&a);
    return err;
}

srtm_err report_build(const ccr_table *t, const report_identity *id, const uint64_t *sel,
                      size_t n, uint8_t **out, size_t *len_out)
{
    return report_build_since(t, id, sel, n, 0, out, len_out);
}

srtm_err report_build_since(const ccr_table *t, const report_identity *id, const uint64_t *sel,
                            size_t n, uint64_t since, uint8_t **out, size_t *len_out)
{
    ccr_cut cut = ccr_table_cut(t);
    report_snapshot *s = NULL;
    srtm_err err = report_snapshot_new(&s);
    if (err == SRTM_OK)
        err = report_snapshot_take(t, &cut, sel, n, false, since, s);
    if (err == SRTM_OK)
        err = report_snapshot_build(s, id, out, len_out);
    report_snapshot_free(s);
    return err;
}
