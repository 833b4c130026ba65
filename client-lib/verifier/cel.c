/*
 * CCR logs as the TCG Canonical Event Log, JSON encoding (TCG "Canonical Event Log
 * Format", version 1.0): one JSON array of records for a whole evidence file. The mapping
 * (docs/evidence.md, "The CCR logs as a Canonical Event Log"): a record per live
 * measurement of every CCR of every component, in report order, then log order; "pcr" is
 * the CCR index and the content (content_type "srtm_ccr", not a TCG-registered type) names
 * the component by handle and path, so (handle, pcr) is the register a reader replays.
 * Reverted measurements and revert markers are not records: extending the records of one
 * (handle, pcr) in order from 32 zero bytes gives the CCR's value.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "show_int.h"
#include "verify_int.h"

static json_object *cel_record(uint64_t recnum, const Srtm__ReportComponent *c,
                               const char *path, const Srtm__ReportCcr *ccr,
                               const Srtm__LogEntry *e)
{
    json_object *r = json_object_new_object(), *digests = json_object_new_array();
    json_object *d = json_object_new_object(), *content = json_object_new_object();
    bool ok = show_put(r, "recnum", json_object_new_uint64(recnum));
    ok = ok && show_put(r, "pcr", json_object_new_uint64(ccr->index));
    ok = ok && show_put(d, "hashAlg", json_object_new_string("sha256"));
    ok = ok && show_put(d, "digest", show_hex(e->digest.data, e->digest.len));
    ok = show_push(digests, d) && ok;
    d = NULL;
    ok = show_put(r, "digests", digests) && ok;
    digests = NULL;
    ok = ok && show_put(r, "content_type", json_object_new_string("srtm_ccr"));
    ok = ok && show_put(content, "handle", json_object_new_uint64(c->handle));
    ok = ok && show_put(content, "component", json_object_new_string(c->name));
    if (path != NULL)
        ok = ok && show_put(content, "path", json_object_new_string(path));
    ok = ok && show_put(content, "seq", json_object_new_uint64(e->seq));
    ok = ok && show_put(content, "event_type", json_object_new_uint64(e->event_type));
    ok = ok && show_put(content, "description", json_object_new_string(e->description));
    ok = show_put(r, "content", content) && ok;
    content = NULL;
    json_object_put(d);
    json_object_put(digests);
    json_object_put(content);
    if (!ok) {
        json_object_put(r);
        return NULL;
    }
    return r;
}

static srtm_err cel_component(json_object *cel, uint64_t *recnum,
                              const Srtm__ReportComponent *c, const char *path)
{
    for (size_t i = 0; i < c->n_ccrs; i++) {
        const Srtm__ReportCcr *ccr = c->ccrs[i];
        for (size_t j = 0; j < ccr->n_log; j++) {
            const Srtm__LogEntry *e = ccr->log[j];
            if (e->revert_marker || e->reverted)
                continue;
            if (e->digest.len != SRTM_DIGEST_LEN)
                return SRTM_E_MALFORMED;
            if (!show_push(cel, cel_record((*recnum)++, c, path, ccr, e)))
                return SRTM_E_NO_MEMORY;
        }
    }
    return SRTM_OK;
}

SRTM_API srtm_err srtm_evidence_cel(const uint8_t *evidence, size_t len, char **json_out)
{
    if (json_out == NULL)
        return SRTM_E_INVALID;
    Srtm__Evidence *ev = NULL;
    Srtm__CcrReport *rep = NULL;
    srtm_err err = evidence_open(evidence, len, &ev, &rep);
    if (err != SRTM_OK)
        return err;
    size_t n = rep->n_components;
    char **paths = calloc(n ? n : 1, sizeof(*paths));
    json_object *cel = json_object_new_array();
    err = paths != NULL && cel != NULL ? verify_paths(rep, paths) : SRTM_E_NO_MEMORY;
    uint64_t recnum = 0;
    for (size_t i = 0; err == SRTM_OK && i < n; i++)
        err = cel_component(cel, &recnum, rep->components[i], paths[i]);
    for (size_t i = 0; paths != NULL && i < n; i++)
        free(paths[i]);
    free(paths);
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(ev, NULL);
    if (err != SRTM_OK) {
        json_object_put(cel);
        return err;
    }
    return show_finish(cel, json_out);
}
