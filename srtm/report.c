/*
 * Building a CcrReport. The protobuf structures point into the table (values, digests,
 * names) and into a private arena (descriptions, which the table keeps without NUL), and
 * are packed before the caller releases the table lock.
 */
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "report.h"
#include "srtm.pb-c.h"

/* Generous: protobuf-c structures of a report as large as SRTM_MAX_REPORT. */
#define REPORT_ARENA_BUDGET (8u * (size_t)SRTM_MAX_REPORT)

static srtm_err fill_ccr(arena *a, const ccr_component *c, uint32_t index, Srtm__ReportCcr *rc)
{
    const uint8_t *value = NULL;
    srtm_policy policy;
    uint64_t len = 0;
    srtm_err err = ccr_get(c, index, &value, &policy, &len);
    if (err != SRTM_OK)
        return err;
    srtm__report_ccr__init(rc);
    rc->index = index;
    rc->policy = policy == SRTM_POLICY_REVERSIBLE ? SRTM__CHANGE_POLICY__POLICY_REVERSIBLE
                                                  : SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE;
    rc->value.data = (uint8_t *)value;
    rc->value.len = SRTM_DIGEST_LEN;
    if (len == 0)
        return SRTM_OK;
    Srtm__LogEntry *entries = arena_alloc(a, len * sizeof(*entries));
    Srtm__LogEntry **ptrs = arena_alloc(a, len * sizeof(*ptrs));
    if (entries == NULL || ptrs == NULL)
        return SRTM_E_TOO_BIG;
    for (uint64_t i = 0; i < len; i++) {
        ccr_log_view v;
        err = ccr_log_at(c, index, i, &v);
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
        e->reverted = (v.flags & CCR_ENTRY_REVERTED) != 0;
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
    rc->log = ptrs;
    rc->n_log = len;
    return SRTM_OK;
}

static srtm_err fill_edges(arena *a, const graph *g, uint64_t h, Srtm__ReportComponent *out)
{
    size_t ndeps = 0, ndependents = 0, got = 0;
    srtm_err err = graph_degree(g, h, &ndeps, &ndependents);
    if (err != SRTM_OK || ndeps == 0)
        return err;
    out->depends_on = arena_alloc(a, ndeps * sizeof(uint64_t));
    if (out->depends_on == NULL)
        return SRTM_E_TOO_BIG;
    err = graph_deps(g, h, 0, out->depends_on, ndeps, &got);
    out->n_depends_on = got;
    return err;
}

/* The record of the component's dependency changes, oldest first. */
static srtm_err fill_changes(arena *a, const ccr_component *c, Srtm__ReportComponent *out)
{
    const ccr_dep_change *ch = NULL;
    size_t n = ccr_comp_dep_changes(c, &ch);
    if (n == 0)
        return SRTM_OK;
    Srtm__DependencyChange *recs = arena_alloc(a, n * sizeof(*recs));
    Srtm__DependencyChange **ptrs = arena_alloc(a, n * sizeof(*ptrs));
    if (recs == NULL || ptrs == NULL)
        return SRTM_E_TOO_BIG;
    for (size_t i = 0; i < n; i++) {
        srtm__dependency_change__init(&recs[i]);
        recs[i].seq = ch[i].seq;
        recs[i].component = ccr_comp_handle(c);
        recs[i].on = ch[i].on;
        recs[i].actor = ch[i].actor;
        recs[i].removed = ch[i].removed;
        ptrs[i] = &recs[i];
    }
    out->dependency_changes = ptrs;
    out->n_dependency_changes = n;
    return SRTM_OK;
}

static srtm_err fill_component(arena *a, const graph *g, const ccr_component *c,
                               Srtm__ReportComponent *out)
{
    srtm__report_component__init(out);
    out->handle = ccr_comp_handle(c);
    out->name = (char *)ccr_comp_name(c);
    out->parent = ccr_comp_parent(c);
    out->terminated = graph_is_terminated(g, out->handle);
    srtm_err edges = fill_edges(a, g, out->handle, out);
    if (edges == SRTM_OK)
        edges = fill_changes(a, c, out);
    if (edges != SRTM_OK)
        return edges;
    uint32_t n = ccr_comp_ccr_count(c);
    Srtm__ReportCcr *ccrs = arena_alloc(a, n * sizeof(*ccrs));
    Srtm__ReportCcr **ptrs = arena_alloc(a, n * sizeof(*ptrs));
    if (ccrs == NULL || ptrs == NULL)
        return SRTM_E_TOO_BIG;
    for (uint32_t i = 0; i < n; i++) {
        srtm_err err = fill_ccr(a, c, i, &ccrs[i]);
        if (err != SRTM_OK)
            return err;
        ptrs[i] = &ccrs[i];
    }
    out->ccrs = ptrs;
    out->n_ccrs = n;
    return SRTM_OK;
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

srtm_err report_build(const ccr_table *t, const graph *g, const report_identity *id,
                      const ccr_component *const *comps, size_t n, uint8_t **out, size_t *len_out)
{
    size_t count = comps != NULL ? n : ccr_table_count(t);
    uint64_t bound = 0;
    srtm_err err = report_size_bound(t, g, comps, n, &bound);
    if (err != SRTM_OK)
        return err;
    arena a;
    arena_init(&a, REPORT_ARENA_BUDGET);
    Srtm__ReportComponent *rcs = arena_alloc(&a, (count ? count : 1) * sizeof(*rcs));
    Srtm__ReportComponent **ptrs = arena_alloc(&a, (count ? count : 1) * sizeof(*ptrs));
    if (rcs == NULL || ptrs == NULL)
        err = SRTM_E_NO_MEMORY;
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        const ccr_component *c = comps != NULL ? comps[i] : ccr_find_handle(t, i);
        err = fill_component(&a, g, c, &rcs[i]);
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
        r.seq = ccr_table_seq(t);
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
