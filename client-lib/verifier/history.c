/*
 * The verifier's rules over a component's history that need other components of the
 * report (docs/verifier.md, "Dependency changes and reverts"):
 * - its record of dependency changes replays to its present edges;
 * - every dependency it removed is judged as it was when it was cut: its own CCRs at the
 *   removal's sequence number (the dependency rule adds its present trust);
 * - every revert marker in its logs was made by a component allowed to revert it.
 * They run after each component's own rules and before the dependency rule; each
 * failure appends a reason and makes the component untrusted.
 */
#include <stdlib.h>
#include <string.h>

#include "verify_int.h"

/* true when a is x or one of x's ancestors as the report's parent fields say. A missing
 * ancestor ends the chain (fail closed); parents have smaller handles, so it ends. */
bool verify_in_parent_chain(const Srtm__CcrReport *rep, uint64_t a, uint64_t x)
{
    for (;;) {
        if (a == x)
            return true;
        size_t i = verify_find_handle(rep, x);
        if (i == VERIFY_NONE || x == 0 || rep->components[i]->parent >= x)
            return false;
        x = rep->components[i]->parent;
    }
}

static const char *name_of(const Srtm__CcrReport *rep, uint64_t h)
{
    size_t i = verify_find_handle(rep, h);
    return i != VERIFY_NONE ? rep->components[i]->name : "(not in the report)";
}

/* ---- the record replays to depends_on ---- */

static srtm_err records_rule(const Srtm__ReportComponent *c, verify_verdict *v)
{
    size_t n = c->n_dependency_changes;
    if (n == 0)
        return SRTM_OK; /* component 0: srtmd records every other component's edges */
    if (n > SRTM_MAX_DEP_CHANGES)
        return verdict_fail(v, "%zu dependency changes recorded, more than %u", n,
                            SRTM_MAX_DEP_CHANGES);
    uint64_t *live = malloc(n * sizeof(*live));
    if (live == NULL)
        return SRTM_E_NO_MEMORY;
    size_t nl = 0;
    const char *bad = NULL;
    for (size_t i = 0; i < n && bad == NULL; i++) {
        const Srtm__DependencyChange *d = c->dependency_changes[i];
        size_t at = nl;
        for (size_t k = 0; k < nl; k++)
            if (live[k] == d->on)
                at = k;
        if (d->component != c->handle)
            bad = "a record of another component";
        else if (i > 0 && d->seq < c->dependency_changes[i - 1]->seq)
            bad = "records out of sequence order";
        else if (!d->removed && at < nl)
            bad = "an edge added twice";
        else if (d->removed && at == nl)
            bad = "an edge removed that was not there";
        else if (d->removed)
            live[at] = live[--nl];
        else
            live[nl++] = d->on;
    }
    for (size_t k = 0; k < c->n_depends_on && bad == NULL; k++) {
        bool found = false;
        for (size_t j = 0; j < nl && !found; j++)
            found = live[j] == c->depends_on[k];
        if (!found)
            bad = "an edge in depends_on that no record added";
    }
    if (bad == NULL && nl != c->n_depends_on)
        bad = "an edge recorded that is missing from depends_on";
    free(live);
    return bad != NULL ? verdict_fail(v, "its dependency changes do not replay to its "
                                         "dependencies: %s",
                                      bad)
                       : SRTM_OK;
}

/* ---- a removed dependency as it was at the cut ---- */

/*
 * CCR r as it was right after sequence number s: the entries up to s, with the
 * measurements undone by markers up to s flagged reverted (a revert after s does not
 * count: at the cut the measurement was live), and the value they replay to. out->log
 * points into a new array the caller frees (*owned).
 */
static srtm_err ccr_at(sha256_hasher *h, const Srtm__ReportCcr *r, uint64_t s,
                       Srtm__ReportCcr *out, Srtm__LogEntry **owned, uint8_t *value)
{
    size_t n = 0;
    while (n < r->n_log && r->log[n]->seq <= s)
        n++;
    Srtm__LogEntry *e = calloc(n ? n : 1, sizeof(*e));
    Srtm__LogEntry **p = calloc(n ? n : 1, sizeof(*p));
    size_t *live = calloc(n ? n : 1, sizeof(*live));
    srtm_err err = e != NULL && p != NULL && live != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    size_t nl = 0;
    for (size_t k = 0; err == SRTM_OK && k < n; k++) {
        e[k] = *r->log[k];
        e[k].reverted = false;
        p[k] = &e[k];
        if (e[k].revert_marker) {
            while (nl > 0 && e[live[nl - 1]].seq > e[k].revert_to_seq)
                e[live[--nl]].reverted = true;
        } else if (e[k].digest.len == SRTM_DIGEST_LEN) {
            live[nl++] = k;
        }
    }
    memset(value, 0, SRTM_DIGEST_LEN);
    for (size_t k = 0; err == SRTM_OK && k < nl; k++)
        err = sha256_hasher_two(h, value, SRTM_DIGEST_LEN, e[live[k]].digest.data,
                                SRTM_DIGEST_LEN, value);
    free(live);
    if (err != SRTM_OK) {
        free(e);
        free(p);
        return err;
    }
    *out = *r;
    out->log = p;
    out->n_log = n;
    out->value.data = value;
    out->value.len = SRTM_DIGEST_LEN;
    *owned = e;
    return SRTM_OK;
}

/* Component z's own policy rules at sequence number s, into the scratch verdict sv. */
static srtm_err judge_at(sha256_hasher *h, const srtm_verifier_policy *p,
                         const Srtm__ReportComponent *z, uint64_t s, verify_verdict *sv)
{
    size_t n = z->n_ccrs;
    Srtm__ReportCcr *ccrs = calloc(n ? n : 1, sizeof(*ccrs));
    Srtm__ReportCcr **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    Srtm__LogEntry **owned = calloc(n ? n : 1, sizeof(*owned));
    uint8_t (*values)[SRTM_DIGEST_LEN] = calloc(n ? n : 1, sizeof(*values));
    srtm_err err = ccrs && ptrs && owned && values ? SRTM_OK : SRTM_E_NO_MEMORY;
    size_t done = 0;
    for (; err == SRTM_OK && done < n; done++) {
        err = ccr_at(h, z->ccrs[done], s, &ccrs[done], &owned[done], values[done]);
        ptrs[done] = &ccrs[done];
    }
    if (err == SRTM_OK) {
        Srtm__ReportComponent at = *z;
        at.ccrs = ptrs;
        at.n_ccrs = n;
        err = verify_policy_rules(p, &at, sv);
    }
    for (size_t k = 0; k < n && owned != NULL; k++) {
        free(ccrs != NULL ? ccrs[k].log : NULL);
        free(owned[k]);
    }
    free(ccrs);
    free(ptrs);
    free(owned);
    free(values);
    return err;
}

static srtm_err removed_one(sha256_hasher *h, const srtm_verifier_policy *p,
                            const Srtm__CcrReport *rep, const verify_verdict *all,
                            const Srtm__ReportComponent *c, const Srtm__DependencyChange *d,
                            verify_verdict *v)
{
    unsigned long long seq = (unsigned long long)d->seq;
    size_t j = verify_find_handle(rep, d->on);
    if (j == VERIFY_NONE)
        return verdict_fail(v, "removed its dependency on handle %llu at seq %llu, whose "
                               "state then cannot be established: it is missing from the "
                               "report",
                            (unsigned long long)d->on, seq);
    const Srtm__ReportComponent *z = rep->components[j];
    if (d->actor == d->on || !verify_in_parent_chain(rep, d->actor, c->handle))
        return verdict_fail(v, "its dependency on %s was removed at seq %llu by %s, which may "
                               "not remove it",
                            z->name, seq, name_of(rep, d->actor));
    /* The rules under the removed dependency's own path (the naming rule), borrowed. */
    verify_verdict sv = {.trusted = true, .path = all[j].path};
    srtm_err err = judge_at(h, p, z, d->seq, &sv);
    sv.path = NULL;
    if (err == SRTM_OK && !sv.trusted)
        err = verdict_fail(v, "removed its dependency on %s at seq %llu while %s was untrusted: "
                              "%s",
                           z->name, seq, z->name,
                           sv.n_reasons > 0 ? sv.reasons[0] : "untrusted");
    verdict_clear(&sv);
    return err;
}

/* ---- who reverted ---- */

/* Whether the component at index ci may be reverted by handle by: the policy's revert_by
 * names (resolved by the naming rule against the report's paths, so a component of the
 * same name elsewhere in the tree never qualifies) and "self"; without revert_by, the
 * component and its parent chain. */
static bool may_revert(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                       const verify_verdict *all, size_t ci, uint64_t by)
{
    const Srtm__ReportComponent *c = rep->components[ci];
    const pol_component *twice = NULL;
    const pol_component *pc = policy_rules_for(p, c, all[ci].path, &twice);
    if (pc == NULL || !pc->has_revert_by)
        return verify_in_parent_chain(rep, by, c->handle);
    size_t i = verify_find_handle(rep, by);
    const char *root = NULL;
    for (size_t k = 0; k < rep->n_components; k++)
        if (rep->components[k]->handle == 0)
            root = rep->components[k]->name;
    char want[VERIFY_MAX_PATH + SRTM_MAX_NAME + 2];
    for (size_t k = 0; k < pc->n_revert_by; k++) {
        if (strcmp(pc->revert_by[k], "self") == 0 && by == c->handle)
            return true;
        if (i != VERIFY_NONE && all[i].path != NULL &&
            policy_resolve_name(pc->revert_by[k], root, want, sizeof(want)) &&
            strcmp(want, all[i].path) == 0)
            return true;
    }
    return false;
}

static srtm_err revert_rule(const srtm_verifier_policy *p, const Srtm__CcrReport *rep,
                            const verify_verdict *all, size_t ci, verify_verdict *v)
{
    const Srtm__ReportComponent *c = rep->components[ci];
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < c->n_ccrs; i++) {
        const Srtm__ReportCcr *r = c->ccrs[i];
        for (size_t k = 0; err == SRTM_OK && k < r->n_log; k++) {
            const Srtm__LogEntry *e = r->log[k];
            if (e->revert_marker && !may_revert(p, rep, all, ci, e->revert_by))
                err = verdict_fail(v, "CCR %u: log entry %zu: reverted by %s (handle %llu), "
                                      "which may not revert it",
                                   r->index, k, name_of(rep, e->revert_by),
                                   (unsigned long long)e->revert_by);
        }
    }
    return err;
}

srtm_err verify_history(sha256_hasher *h, const srtm_verifier_policy *p,
                        const Srtm__CcrReport *rep, verify_verdict *v)
{
    srtm_err err = SRTM_OK;
    for (size_t i = 0; err == SRTM_OK && i < rep->n_components; i++) {
        const Srtm__ReportComponent *c = rep->components[i];
        err = records_rule(c, &v[i]);
        for (size_t k = 0; err == SRTM_OK && k < c->n_dependency_changes; k++)
            if (c->dependency_changes[k]->removed)
                err = removed_one(h, p, rep, v, c, c->dependency_changes[k], &v[i]);
        if (err == SRTM_OK)
            err = revert_rule(p, rep, v, i, &v[i]);
    }
    return err;
}
