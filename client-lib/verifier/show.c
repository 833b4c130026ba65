/*
 * What an evidence file holds, without a policy and without verifying anything
 * (srtm_evidence_describe, 'srtmctl show'): the nonce, both TPM quotes as parsed from their
 * attests (selection, PCR values, clock info), the IRK, and every component of the report
 * with its CCR values, logs, dependency edges and records; and the CCR logs as the TCG
 * Canonical Event Log (srtm_evidence_cel, cel.c). The JSON shapes: docs/evidence.md, "srtmctl
 * show".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "verify_int.h"
#include "show_int.h"

bool show_put(json_object *o, const char *key, json_object *v)
{
    if (o == NULL || v == NULL) {
        json_object_put(v);
        return false;
    }
    return json_object_object_add(o, key, v) == 0;
}

bool show_push(json_object *a, json_object *v)
{
    if (a == NULL || v == NULL || json_object_array_add(a, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

json_object *show_hex(const uint8_t *d, size_t len)
{
    if (len > 4096)
        return NULL;
    char *hex = malloc(2 * len + 1);
    json_object *o = hex != NULL && hex_encode(d, len, hex, 2 * len + 1) == SRTM_OK
                         ? json_object_new_string(hex)
                         : NULL;
    free(hex);
    return o;
}

static json_object *quote_json(const Srtm__TpmQuote *q)
{
    km_quote_info info;
    if (q == NULL || km_quote_parse(q->attest.data, q->attest.len, &info) != SRTM_OK)
        return NULL;
    json_object *o = json_object_new_object(), *pcrs = json_object_new_object();
    bool ok = o != NULL && pcrs != NULL;
    for (size_t i = 0; ok && i < q->n_pcrs && i < q->n_pcr_values; i++) {
        char key[16];
        snprintf(key, sizeof(key), "%u", q->pcrs[i]);
        ok = show_put(pcrs, key, show_hex(q->pcr_values[i].data, q->pcr_values[i].len));
    }
    ok = show_put(o, "pcrs", pcrs) && ok;
    pcrs = NULL;
    ok = ok && show_put(o, "pcr_digest", show_hex(info.pcr_digest, sizeof(info.pcr_digest)));
    ok = ok && show_put(o, "qualifying_data", show_hex(info.qualifying, info.qualifying_len));
    ok = ok && show_put(o, "clock", json_object_new_uint64(info.clock));
    ok = ok && show_put(o, "reset_count", json_object_new_uint64(info.reset_count));
    ok = ok && show_put(o, "restart_count", json_object_new_uint64(info.restart_count));
    ok = ok && show_put(o, "safe", json_object_new_boolean(info.safe));
    ok = ok && show_put(o, "firmware_version", json_object_new_uint64(info.firmware_version));
    json_object_put(pcrs);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Absent for a quote that is absent or whose attest does not parse. */
static bool put_quote(json_object *o, const char *key, const Srtm__TpmQuote *q)
{
    km_quote_info info;
    if (q == NULL || km_quote_parse(q->attest.data, q->attest.len, &info) != SRTM_OK)
        return true; /* absent: nothing to describe */
    return show_put(o, key, quote_json(q));
}

static json_object *entry_json(const Srtm__LogEntry *e)
{
    json_object *o = json_object_new_object();
    bool ok = show_put(o, "index", json_object_new_uint64(e->index));
    ok = ok && show_put(o, "seq", json_object_new_uint64(e->seq));
    ok = ok && show_put(o, "revert_marker", json_object_new_boolean(e->revert_marker));
    ok = ok && show_put(o, "reverted", json_object_new_boolean(e->reverted));
    if (e->revert_marker) {
        ok = ok && show_put(o, "revert_to_seq", json_object_new_uint64(e->revert_to_seq));
        ok = ok && show_put(o, "revert_by_handle", json_object_new_uint64(e->revert_by));
    } else {
        ok = ok && show_put(o, "digest", show_hex(e->digest.data, e->digest.len));
        ok = ok && show_put(o, "event_type", json_object_new_uint64(e->event_type));
        if (e->description[0] != '\0')
            ok = ok && show_put(o, "description", json_object_new_string(e->description));
    }
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *ccr_json(const Srtm__ReportCcr *c)
{
    json_object *o = json_object_new_object(), *log = json_object_new_array();
    bool ok = show_put(o, "index", json_object_new_uint64(c->index));
    ok = ok && show_put(o, "policy", json_object_new_string(c->policy == SRTM__CHANGE_POLICY__POLICY_REVERSIBLE ? "reversible" : "irreversible"));
    ok = ok && show_put(o, "value", show_hex(c->value.data, c->value.len));
    for (size_t i = 0; ok && i < c->n_log; i++)
        ok = show_push(log, entry_json(c->log[i]));
    ok = show_put(o, "log", log) && ok;
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *component_json(const Srtm__ReportComponent *c, const char *path)
{
    json_object *o = json_object_new_object(), *ccrs = json_object_new_array();
    json_object *deps = json_object_new_array(), *changes = json_object_new_array();
    bool ok = show_put(o, "component", json_object_new_string(c->name));
    ok = ok && show_put(o, "handle", json_object_new_uint64(c->handle));
    if (path != NULL)
        ok = ok && show_put(o, "path", json_object_new_string(path));
    if (c->handle != 0)
        ok = ok && show_put(o, "parent_handle", json_object_new_uint64(c->parent));
    ok = ok && show_put(o, "terminated", json_object_new_boolean(c->terminated));
    for (size_t i = 0; ok && i < c->n_depends_on; i++)
        ok = show_push(deps, json_object_new_uint64(c->depends_on[i]));
    for (size_t i = 0; ok && i < c->n_dependency_changes; i++) {
        const Srtm__DependencyChange *d = c->dependency_changes[i];
        json_object *r = json_object_new_object();
        bool rok = show_put(r, "seq", json_object_new_uint64(d->seq)) &&
                   show_put(r, "on_handle", json_object_new_uint64(d->on)) &&
                   show_put(r, "actor_handle", json_object_new_uint64(d->actor)) &&
                   show_put(r, "removed", json_object_new_boolean(d->removed));
        ok = rok ? show_push(changes, r) : (json_object_put(r), false);
    }
    for (size_t i = 0; ok && i < c->n_ccrs; i++)
        ok = show_push(ccrs, ccr_json(c->ccrs[i]));
    if (c->n_depends_on > 0)
        ok = show_put(o, "depends_on_handles", deps) && ok;
    else
        json_object_put(deps);
    if (c->n_dependency_changes > 0)
        ok = show_put(o, "dependency_changes", changes) && ok;
    else
        json_object_put(changes);
    ok = show_put(o, "ccrs", ccrs) && ok;
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *report_json(const Srtm__CcrReport *rep)
{
    size_t n = rep->n_components;
    char **paths = calloc(n ? n : 1, sizeof(*paths));
    json_object *o = json_object_new_object(), *comps = json_object_new_array();
    bool ok = paths != NULL && verify_paths(rep, paths) == SRTM_OK;
    ok = ok && show_put(o, "format", json_object_new_uint64(rep->format));
    ok = ok && show_put(o, "seq", json_object_new_uint64(rep->seq));
    ok = ok && show_put(o, "reset_count", json_object_new_uint64(rep->reset_count));
    ok = ok && show_put(o, "restart_count", json_object_new_uint64(rep->restart_count));
    ok = ok && show_put(o, "srtm_instance", show_hex(rep->srtm_instance.data, rep->srtm_instance.len));
    for (size_t i = 0; ok && i < n; i++)
        ok = show_push(comps, component_json(rep->components[i], paths[i]));
    ok = show_put(o, "components", comps) && ok;
    for (size_t i = 0; paths != NULL && i < n; i++)
        free(paths[i]);
    free(paths);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

srtm_err show_finish(json_object *o, char **json_out)
{
    const char *s = o != NULL ? json_object_to_json_string_ext(
                                    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                              : NULL;
    char *text = s != NULL ? strdup(s) : NULL;
    json_object_put(o);
    if (text == NULL)
        return SRTM_E_NO_MEMORY;
    *json_out = text;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_evidence_describe(const uint8_t *evidence, size_t len, char **json_out)
{
    if (json_out == NULL)
        return SRTM_E_INVALID;
    Srtm__Evidence *ev = NULL;
    Srtm__CcrReport *rep = NULL;
    srtm_err err = evidence_open(evidence, len, &ev, &rep);
    if (err != SRTM_OK)
        return err;
    json_object *o = json_object_new_object();
    bool ok = show_put(o, "verified", json_object_new_boolean(0));
    ok = ok && show_put(o, "format", json_object_new_uint64(ev->format));
    ok = ok && show_put(o, "nonce", show_hex(ev->nonce.data, ev->nonce.len));
    ok = ok && put_quote(o, "quote", ev->quote);
    ok = ok && put_quote(o, "certificate", ev->irk_certificate);
    ok = ok && show_put(o, "irk_public", show_hex(ev->irk_public.data, ev->irk_public.len));
    if (ev->batch != NULL) {
        json_object *b = json_object_new_object();
        ok = show_put(b, "leaf_index", json_object_new_uint64(ev->batch->leaf_index)) && ok;
        ok = show_put(b, "leaf_count", json_object_new_uint64(ev->batch->leaf_count)) && ok;
        ok = show_put(o, "batch", b) && ok;
    }
    ok = ok && show_put(o, "report", report_json(rep));
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(ev, NULL);
    if (!ok) {
        json_object_put(o);
        return SRTM_E_NO_MEMORY;
    }
    return show_finish(o, json_out);
}
