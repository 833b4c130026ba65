/*
 * A policy from a known-good platform (srtm_policy_create): every component of the
 * evidence's report, named by its path, with an allowlist of exactly the measurements its
 * CCRs hold now; the PCR references from the evidence's own quotes or from srtm-keymgr's
 * reference file. Nothing is verified here: the evidence is taken as the good state, so
 * it must come from a platform the author trusts (docs/verifier.md, "Writing a policy
 * from a known-good platform").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "verify_int.h"

srtm_err evidence_open(const uint8_t *evidence, size_t len, Srtm__Evidence **ev_out,
                       Srtm__CcrReport **rep_out)
{
    if (evidence == NULL || ev_out == NULL || rep_out == NULL)
        return SRTM_E_INVALID;
    if (len > VERIFY_MAX_EVIDENCE)
        return SRTM_E_TOO_BIG;
    Srtm__Evidence *ev = srtm__evidence__unpack(NULL, len, evidence);
    if (ev == NULL)
        return SRTM_E_MALFORMED;
    Srtm__CcrReport *rep = NULL;
    char why[256];
    if (ev->report.len > 0)
        rep = srtm__ccr_report__unpack(NULL, ev->report.len, ev->report.data);
    if (rep == NULL || !report_text_ok(rep, why, sizeof(why))) {
        if (rep != NULL)
            srtm__ccr_report__free_unpacked(rep, NULL);
        srtm__evidence__free_unpacked(ev, NULL);
        return SRTM_E_MALFORMED;
    }
    *ev_out = ev;
    *rep_out = rep;
    return SRTM_OK;
}

static json_object *hex_json(const uint8_t *d, size_t len)
{
    char hex[2 * SRTM_DIGEST_LEN + 1];
    if (len != SRTM_DIGEST_LEN || hex_encode(d, len, hex, sizeof(hex)) != SRTM_OK)
        return NULL;
    return json_object_new_string(hex);
}

/* Adds v under key of o, taking v; false (v released) when anything is NULL. */
static bool put(json_object *o, const char *key, json_object *v)
{
    if (o == NULL || v == NULL) {
        json_object_put(v);
        return false;
    }
    return json_object_object_add(o, key, v) == 0;
}

/* {"0": hex, ...} of a quote's PCR values. */
static json_object *pcr_map(const Srtm__TpmQuote *q)
{
    if (q == NULL || q->n_pcrs != q->n_pcr_values || q->n_pcrs == 0)
        return NULL;
    json_object *m = json_object_new_object();
    bool ok = m != NULL;
    for (size_t i = 0; ok && i < q->n_pcrs; i++) {
        char key[16];
        snprintf(key, sizeof(key), "%u", q->pcrs[i]);
        ok = q->pcrs[i] < KM_PCR_COUNT && !json_object_object_get_ex(m, key, NULL) &&
             put(m, key, hex_json(q->pcr_values[i].data, q->pcr_values[i].len));
    }
    if (!ok) {
        json_object_put(m);
        return NULL;
    }
    return m;
}

static json_object *pcrs_json(const Srtm__Evidence *ev, const char *reference_file)
{
    json_object *p = json_object_new_object();
    bool ok = p != NULL;
    if (reference_file != NULL) {
        ok = ok && put(p, "reference_file", json_object_new_string(reference_file));
    } else {
        ok = ok && put(p, "proof", pcr_map(ev->irk_certificate));
        ok = ok && put(p, "running", pcr_map(ev->quote));
    }
    if (!ok) {
        json_object_put(p);
        return NULL;
    }
    return p;
}

/* One CCR's rule: every live measurement's digest, once, labelled by its description. */
static json_object *ccr_rule(const Srtm__ReportCcr *ccr)
{
    json_object *rule = json_object_new_object(), *list = json_object_new_array();
    json_object *seen = json_object_new_object(); /* digest hex -> true */
    bool ok = rule != NULL && list != NULL && seen != NULL;
    for (size_t i = 0; ok && i < ccr->n_log; i++) {
        const Srtm__LogEntry *e = ccr->log[i];
        if (e->revert_marker || e->reverted)
            continue;
        char hex[2 * SRTM_DIGEST_LEN + 1];
        ok = e->digest.len == SRTM_DIGEST_LEN &&
             hex_encode(e->digest.data, e->digest.len, hex, sizeof(hex)) == SRTM_OK;
        if (!ok || json_object_object_get_ex(seen, hex, NULL))
            continue;
        json_object *item = json_object_new_object();
        ok = put(item, "digest", json_object_new_string(hex)) &&
             (e->description[0] == '\0' ||
              put(item, "label", json_object_new_string(e->description))) &&
             json_object_array_add(list, item) == 0 &&
             put(seen, hex, json_object_new_boolean(1));
        if (!ok)
            json_object_put(item);
    }
    json_object_put(seen);
    ok = put(rule, "allowed_digests", list) && ok;
    if (!ok) {
        json_object_put(rule);
        return NULL;
    }
    return rule;
}

static json_object *component_rules(const Srtm__ReportComponent *c)
{
    json_object *entry = json_object_new_object(), *ccrs = json_object_new_object();
    bool ok = entry != NULL && ccrs != NULL;
    for (size_t i = 0; ok && i < c->n_ccrs; i++) {
        char key[16];
        snprintf(key, sizeof(key), "%u", c->ccrs[i]->index);
        ok = !json_object_object_get_ex(ccrs, key, NULL) && put(ccrs, key, ccr_rule(c->ccrs[i]));
    }
    ok = put(entry, "ccrs", ccrs) && ok;
    if (!ok) {
        json_object_put(entry);
        return NULL;
    }
    return entry;
}

/* Every component by its path; SRTM_E_MALFORMED for one without a path (no policy can
 * name it) or a path twice. */
static srtm_err components_json(const Srtm__CcrReport *rep, json_object *comps)
{
    size_t n = rep->n_components;
    char **paths = calloc(n ? n : 1, sizeof(*paths));
    srtm_err err = paths != NULL ? verify_paths(rep, paths) : SRTM_E_NO_MEMORY;
    for (size_t i = 0; err == SRTM_OK && i < n; i++) {
        if (paths[i] == NULL || json_object_object_get_ex(comps, paths[i], NULL))
            err = SRTM_E_MALFORMED;
        else if (!put(comps, paths[i], component_rules(rep->components[i])))
            err = SRTM_E_NO_MEMORY;
    }
    for (size_t i = 0; paths != NULL && i < n; i++)
        free(paths[i]);
    free(paths);
    if (err == SRTM_OK && n == 0)
        err = SRTM_E_MALFORMED; /* a policy must name something */
    return err;
}

SRTM_API srtm_err srtm_policy_create(const uint8_t *evidence, size_t len,
                                     const char *reference_file, char **json_out)
{
    if (json_out == NULL || (reference_file != NULL && reference_file[0] == '\0'))
        return SRTM_E_INVALID;
    Srtm__Evidence *ev = NULL;
    Srtm__CcrReport *rep = NULL;
    srtm_err err = evidence_open(evidence, len, &ev, &rep);
    json_object *pol = NULL, *comps = NULL, *aik = NULL;
    if (err == SRTM_OK) {
        pol = json_object_new_object();
        comps = json_object_new_object();
        aik = json_object_new_object();
        err = pol != NULL && comps != NULL && aik != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    }
    if (err == SRTM_OK)
        err = components_json(rep, comps);
    if (err == SRTM_OK && reference_file == NULL && (ev->quote == NULL || ev->irk_certificate == NULL))
        err = SRTM_E_MALFORMED;
    if (err == SRTM_OK) {
        bool ok = put(pol, "format", json_object_new_string("srtm-policy-v1"));
        ok = put(aik, "scheme", json_object_new_string("ecdsa-sha256")) && ok;
        ok = put(pol, "aik", aik) && ok;
        aik = NULL;
        json_object *pcrs = pcrs_json(ev, reference_file);
        bool have_pcrs = pcrs != NULL;
        ok = put(pol, "pcrs", pcrs) && ok;
        ok = put(pol, "components", comps) && ok;
        comps = NULL;
        err = ok ? SRTM_OK : !have_pcrs ? SRTM_E_MALFORMED : SRTM_E_NO_MEMORY;
    }
    char *text = NULL;
    if (err == SRTM_OK) {
        const char *s = json_object_to_json_string_ext(
            pol, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        text = s != NULL ? malloc(strlen(s) + 2) : NULL;
        if (text != NULL)
            snprintf(text, strlen(s) + 2, "%s\n", s);
        err = text != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    }
    json_object_put(pol);
    json_object_put(comps);
    json_object_put(aik);
    if (rep != NULL)
        srtm__ccr_report__free_unpacked(rep, NULL);
    if (ev != NULL)
        srtm__evidence__free_unpacked(ev, NULL);
    if (err == SRTM_OK)
        *json_out = text;
    return err;
}
