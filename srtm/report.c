/*
 * Building a CcrReport in two steps: report_snapshot_take, under the table lock, copies
 * per component and CCR what can still change (the CCR's value and log length, the
 * component's direct dependencies, the length of its record of dependency changes,
 * whether it is terminated) and the sequence number; report_snapshot_build, without the
 * lock, reads the entries below those lengths, which never move or change (ccr.h,
 * "Snapshots"), and packs the report. The protobuf structures point into the table
 * (digests, names), into the snapshot (values, edges) and into a private arena
 * (descriptions, which the table keeps without NUL).
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "report.h"
#include "srtm.pb-c.h"

/* Generous: protobuf-c structures of a report as large as SRTM_MAX_REPORT. */
#define REPORT_ARENA_BUDGET (8u * (size_t)SRTM_MAX_REPORT)
/* A snapshot keeps arrays up to this size for the next one: a 100,000-component report
 * takes about 15 MiB. */
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
} snap_comp;

/* The arrays are kept from one snapshot to the next (up to REPORT_SNAPSHOT_KEEP bytes):
 * memory the process touches for the first time costs page faults, which would
 * otherwise dominate the time a quote holds the lock. */
struct report_snapshot {
    uint64_t seq;
    size_t n;
    snap_comp *comps;
    ccr_frozen *ccrs;
    uint64_t *deps;
    size_t cap_comps, cap_ccrs, cap_deps;
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
    s->comps = NULL;
    s->ccrs = NULL;
    s->deps = NULL;
    s->cap_comps = s->cap_ccrs = s->cap_deps = 0;
    s->n = 0;
}

void report_snapshot_release(report_snapshot *s)
{
    if (s != NULL && s->cap_comps * sizeof(*s->comps) + s->cap_ccrs * sizeof(*s->ccrs) +
                             s->cap_deps * sizeof(*s->deps) >
                         REPORT_SNAPSHOT_KEEP)
        drop_arrays(s);
}

void report_snapshot_free(report_snapshot *s)
{
    if (s == NULL)
        return;
    drop_arrays(s);
    free(s);
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

static srtm_err fill_ccr(arena *a, const ccr_frozen *f, uint32_t index, Srtm__ReportCcr *rc)
{
    srtm__report_ccr__init(rc);
    rc->index = index;
    rc->policy = f->policy == SRTM_POLICY_REVERSIBLE ? SRTM__CHANGE_POLICY__POLICY_REVERSIBLE
                                                     : SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE;
    rc->value.data = (uint8_t *)f->value;
    rc->value.len = SRTM_DIGEST_LEN;
    uint64_t len = f->len;
    if (len == 0)
        return SRTM_OK;
    Srtm__LogEntry *entries = arena_alloc(a, len * sizeof(*entries));
    Srtm__LogEntry **ptrs = arena_alloc(a, len * sizeof(*ptrs));
    if (entries == NULL || ptrs == NULL)
        return SRTM_E_TOO_BIG;
    for (uint64_t i = 0; i < len; i++) {
        ccr_log_view v;
        srtm_err err = ccr_frozen_at(f, i, &v);
        if (err != SRTM_OK)
            return err;
        Srtm__LogEntry *e = &entries[i];
        srtm__log_entry__init(e);
        e->index = i;
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

static srtm_err fill_component(arena *a, const report_snapshot *s, const snap_comp *sc,
                               Srtm__ReportComponent *out)
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
    for (uint32_t i = 0; i < n && err == SRTM_OK; i++) {
        err = fill_ccr(a, &s->ccrs[sc->ccr_off + i], i, &ccrs[i]);
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
 * An upper bound on the packed ReportComponent of c, field by field, every field counted
 * as present and every length prefix at its largest: h bytes bound a handle's varint and
 * s bytes a sequence number's (or a log index, which is below the sequence number).
 */
static srtm_err component_bound(const graph *g, const ccr_component *c, uint64_t h, uint64_t s,
                                uint64_t *out)
{
    size_t ndeps = 0;
    srtm_err err = graph_degree(g, ccr_comp_handle(c), &ndeps, NULL);
    if (err != SRTM_OK)
        return err;
    const ccr_dep_change *ch = NULL;
    uint64_t nch = ccr_comp_dep_changes(c, &ch);
    uint64_t entries = 0, desc = 0;
    ccr_comp_log_totals(c, &entries, &desc);
    /* wrapper, handle, name, parent, depends_on (packed or not), terminated */
    uint64_t b = 11 + (1 + h) + 3 + strlen(ccr_comp_name(c)) + (1 + h) + 11 +
                 ndeps * (1 + h) + 2;
    b += nch * (2 + (1 + s) + 3 * (1 + h) + 2);
    /* per CCR: wrapper, index, policy, value */
    b += (uint64_t)ccr_comp_ccr_count(c) * (11 + 6 + 2 + 34);
    /* per entry: wrapper, index, seq, digest, event_type, description prefix, reverted,
     * revert_marker, revert_to_seq, revert_by; then the description bytes */
    b += entries * (3 + (1 + s) + (1 + s) + 34 + 6 + 3 + 2 + 2 + (1 + s) + (1 + h)) + desc;
    *out = b;
    return SRTM_OK;
}

srtm_err report_size_bound(const ccr_table *t, const graph *g, const ccr_component *const *comps,
                           size_t n, uint64_t *bound_out)
{
    size_t count = comps != NULL ? n : ccr_table_count(t);
    uint64_t h = varint_len(ccr_table_count(t));
    uint64_t s = varint_len(ccr_table_seq(t));
    uint64_t total = 6 + 18 + 6 + 6 + 11; /* format, instance, reset, restart, seq */
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        const ccr_component *c = comps != NULL ? comps[i] : ccr_find_handle(t, i);
        uint64_t b = 0;
        err = component_bound(g, c, h, s, &b);
        total += b;
        if (err == SRTM_OK && total > SRTM_MAX_REPORT)
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

/* Room in s for count components: their CCRs and direct dependencies. */
static srtm_err snapshot_room(report_snapshot *s, const ccr_table *t, const graph *g,
                              const ccr_component *const *comps, size_t count)
{
    size_t nccrs = 0, ndeps = 0;
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        const ccr_component *c = comps != NULL ? comps[i] : ccr_find_handle(t, i);
        size_t d = 0;
        err = graph_degree(g, ccr_comp_handle(c), &d, NULL);
        nccrs += ccr_comp_ccr_count(c);
        ndeps += d;
    }
    if (err == SRTM_OK)
        err = room((void **)&s->comps, &s->cap_comps, count, sizeof(*s->comps));
    if (err == SRTM_OK)
        err = room((void **)&s->ccrs, &s->cap_ccrs, nccrs, sizeof(*s->ccrs));
    if (err == SRTM_OK)
        err = room((void **)&s->deps, &s->cap_deps, ndeps, sizeof(*s->deps));
    return err;
}

/* Component c as it is now, its CCRs and edges appended at *ccr_at and *dep_at. */
static srtm_err snapshot_component(report_snapshot *s, const graph *g, const ccr_component *c,
                                   snap_comp *sc, size_t *ccr_at, size_t *dep_at)
{
    sc->handle = ccr_comp_handle(c);
    sc->parent = ccr_comp_parent(c);
    sc->name = ccr_comp_name(c);
    sc->terminated = graph_is_terminated(g, sc->handle);
    sc->nccrs = ccr_comp_ccr_count(c);
    sc->n_changes = ccr_comp_dep_changes(c, &sc->changes);
    sc->ccr_off = *ccr_at;
    sc->dep_off = *dep_at;
    srtm_err err = graph_degree(g, sc->handle, &sc->ndeps, NULL);
    size_t got = 0;
    if (err == SRTM_OK && sc->ndeps > 0)
        err = graph_deps(g, sc->handle, 0, &s->deps[sc->dep_off], sc->ndeps, &got);
    sc->ndeps = got;
    for (uint32_t i = 0; err == SRTM_OK && i < sc->nccrs; i++)
        err = ccr_freeze(c, i, &s->ccrs[sc->ccr_off + i]);
    *ccr_at += sc->nccrs;
    *dep_at += got;
    return err;
}

srtm_err report_snapshot_take(const ccr_table *t, const graph *g,
                              const ccr_component *const *comps, size_t n, report_snapshot *s)
{
    size_t count = comps != NULL ? n : ccr_table_count(t);
    uint64_t bound = 0;
    s->n = 0;
    srtm_err err = report_size_bound(t, g, comps, n, &bound);
    if (err == SRTM_OK)
        err = snapshot_room(s, t, g, comps, count);
    if (err != SRTM_OK)
        return err;
    s->seq = ccr_table_seq(t);
    size_t ccr_at = 0, dep_at = 0;
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        const ccr_component *c = comps != NULL ? comps[i] : ccr_find_handle(t, i);
        err = snapshot_component(s, g, c, &s->comps[i], &ccr_at, &dep_at);
    }
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
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        err = fill_component(&a, s, &s->comps[i], &rcs[i]);
        ptrs[i] = &rcs[i];
    }
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

srtm_err report_build(const ccr_table *t, const graph *g, const report_identity *id,
                      const ccr_component *const *comps, size_t n, uint8_t **out, size_t *len_out)
{
    report_snapshot *s = NULL;
    srtm_err err = report_snapshot_new(&s);
    if (err == SRTM_OK)
        err = report_snapshot_take(t, g, comps, n, s);
    if (err == SRTM_OK)
        err = report_snapshot_build(s, id, out, len_out);
    report_snapshot_free(s);
    return err;
}
