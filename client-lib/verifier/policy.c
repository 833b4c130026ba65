/*
 * The verifier's policy file (docs/verifier.md): reference PCR values, the AIK signature
 * scheme, per-component allowlists and expected CCR values, the required components, and
 * what a terminated component means.
 *
 * Parsing is strict because a policy decides trust: an unknown key is far more likely a
 * typo ("allowed_digest") that would silently drop a rule than an extension, so it
 * refuses the file, and every message names the key path where the problem is. Sizes and
 * counts are bounded (verify_int.h). The loaded policy is immutable, with its lists
 * sorted for binary search, so verifying a report of n log entries costs O(n log m).
 * The JSON itself passes a strict grammar first (json_strict.c). Components are named by
 * path or by a bare name that reaches only component 0's children (policy_rules_for), and
 * the defaults fail closed: unlisted components are untrusted, and a policy that names
 * nothing, or requires an empty list, is refused.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "json_strict.h"
#include "verify_int.h"

#define REFERENCE_FORMAT "srtm-reference-v1"
#define POLICY_FORMAT "srtm-policy-v1"
#define PATH_LEN 512u
#define JSON_MAX_DEPTH 16u

typedef struct pctx {
    char *msg;
    size_t msg_size;
    const char *base_dir;
    size_t n_digests;
} pctx;

/* snprintf that may truncate by design (paths in messages are for humans). */
static void bprintf(char *out, size_t size, const char *fmt, ...) SRTM_PRINTF(3, 4);
static void bprintf(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

/* Record "PATH: reason" in the caller's message buffer and return err. */
static srtm_err perr(pctx *x, srtm_err err, const char *path, const char *fmt, ...)
    SRTM_PRINTF(4, 5);
static srtm_err perr(pctx *x, srtm_err err, const char *path, const char *fmt, ...)
{
    if (x->msg == NULL || x->msg_size == 0)
        return err;
    char reason[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (path != NULL && path[0] != '\0')
        bprintf(x->msg, x->msg_size, "%s: %s", path, reason);
    else
        bprintf(x->msg, x->msg_size, "%s", reason);
    /* One line, as promised: a key or value quoted from the file may hold control bytes
     * (an escaped newline in a key, say); they must not reach a log or terminal. */
    for (char *p = x->msg; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return err;
}

/* path + "." + key (or "[i]" when key is NULL) into out. */
static void subpath(char out[PATH_LEN], const char *path, const char *key, size_t i)
{
    if (key == NULL)
        bprintf(out, PATH_LEN, "%s[%zu]", path, i);
    else if (path[0] == '\0')
        bprintf(out, PATH_LEN, "%s", key);
    else
        bprintf(out, PATH_LEN, "%s.%s", path, key);
}

static const char *type_name(json_type t)
{
    switch (t) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "a boolean";
    case json_type_double:
    case json_type_int:
        return "a number";
    case json_type_object:
        return "an object";
    case json_type_array:
        return "an array";
    case json_type_string:
        return "a string";
    }
    return "unknown";
}

static srtm_err want_type(pctx *x, const char *path, json_object *v, json_type t)
{
    if (json_object_is_type(v, t))
        return SRTM_OK;
    return perr(x, SRTM_E_INVALID, path, "must be %s, not %s", type_name(t),
                type_name(json_object_get_type(v)));
}

/* Refuse any key of obj not in allowed (NULL-terminated). */
static srtm_err only_keys(pctx *x, const char *path, json_object *obj, const char *const *allowed)
{
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known) {
            char p[PATH_LEN];
            subpath(p, path, key, 0);
            return perr(x, SRTM_E_INVALID, p, "unknown key");
        }
    }
    return SRTM_OK;
}

static srtm_err get_string(pctx *x, const char *path, json_object *v, size_t max,
                           const char **out)
{
    srtm_err err = want_type(x, path, v, json_type_string);
    if (err != SRTM_OK)
        return err;
    size_t n = (size_t)json_object_get_string_len(v);
    const char *s = json_object_get_string(v);
    if (n == 0 || n > max)
        return perr(x, SRTM_E_INVALID, path, "must hold 1 to %zu bytes", max);
    if (strlen(s) != n || !utf8_valid(s, n))
        return perr(x, SRTM_E_INVALID, path, "must be UTF-8 text without NUL");
    *out = s;
    return SRTM_OK;
}

static srtm_err get_digest(pctx *x, const char *path, json_object *v, uint8_t out[SRTM_DIGEST_LEN])
{
    srtm_err err = want_type(x, path, v, json_type_string);
    if (err != SRTM_OK)
        return err;
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (hex_decode(s, n, out, SRTM_DIGEST_LEN) != SRTM_OK)
        return perr(x, SRTM_E_INVALID, path, "must be %u hex digits (a SHA-256 digest)",
                    2 * SRTM_DIGEST_LEN);
    return SRTM_OK;
}

/* A PCR number as an object key: "0" to "23", no sign, no leading zero. */
static bool pcr_key(const char *key, unsigned *out)
{
    size_t n = strlen(key);
    if (n == 0 || n > 2 || key[0] < '0' || key[0] > '9' || (n == 2 && key[0] == '0'))
        return false;
    if (n == 2 && (key[1] < '0' || key[1] > '9'))
        return false;
    unsigned v = (unsigned)(key[0] - '0');
    if (n == 2)
        v = v * 10 + (unsigned)(key[1] - '0');
    if (v >= KM_PCR_COUNT)
        return false;
    *out = v;
    return true;
}

/* One PCR's reference: "hex", or an array of 1 to POLICY_MAX_PCR_VALUES different "hex"
 * (several values accepted, e.g. the old and the new one during an update). */
static srtm_err parse_pcr_values(pctx *x, const char *path, json_object *val, pol_pcrs *out,
                                 unsigned pcr)
{
    if (!json_object_is_type(val, json_type_array)) {
        out->n[pcr] = 1;
        return get_digest(x, path, val, out->value[pcr][0]);
    }
    size_t n = json_object_array_length(val);
    if (n == 0 || n > POLICY_MAX_PCR_VALUES)
        return perr(x, SRTM_E_INVALID, path, "must list 1 to %u values", POLICY_MAX_PCR_VALUES);
    for (size_t i = 0; i < n; i++) {
        char p[PATH_LEN];
        bprintf(p, sizeof(p), "%s[%zu]", path, i);
        srtm_err err = get_digest(x, p, json_object_array_get_idx(val, i), out->value[pcr][i]);
        if (err != SRTM_OK)
            return err;
        for (size_t j = 0; j < i; j++)
            if (memcmp(out->value[pcr][j], out->value[pcr][i], SRTM_DIGEST_LEN) == 0)
                return perr(x, SRTM_E_INVALID, p, "the same value as [%zu]", j);
    }
    out->n[pcr] = (uint8_t)n;
    return SRTM_OK;
}

/* {"0": hex, "15": [hex, hex], ...} into out; at least one PCR. */
static srtm_err parse_pcr_map(pctx *x, const char *path, json_object *v, pol_pcrs *out)
{
    srtm_err err = want_type(x, path, v, json_type_object);
    if (err != SRTM_OK)
        return err;
    memset(out, 0, sizeof(*out));
    json_object_object_foreach(v, key, val)
    {
        char p[PATH_LEN];
        subpath(p, path, key, 0);
        unsigned pcr;
        if (!pcr_key(key, &pcr))
            return perr(x, SRTM_E_INVALID, p, "not a PCR number (0 to %u)", KM_PCR_COUNT - 1);
        err = parse_pcr_values(x, p, val, out, pcr);
        if (err != SRTM_OK)
            return err;
        out->mask |= 1u << pcr;
    }
    if (out->mask == 0)
        return perr(x, SRTM_E_INVALID, path, "names no PCR");
    return SRTM_OK;
}

/* true when PCR pcr of r may hold value d. */
bool policy_pcr_allows(const pol_pcrs *r, unsigned pcr, const uint8_t d[SRTM_DIGEST_LEN])
{
    bool found = false;
    for (unsigned i = 0; pcr < KM_PCR_COUNT && i < r->n[pcr]; i++)
        found |= CRYPTO_memcmp(r->value[pcr][i], d, SRTM_DIGEST_LEN) == 0;
    return found;
}

/* A JSON document from text: strict syntax, nothing after it, bounded nesting. */
static srtm_err parse_json(pctx *x, const char *what, const char *text, size_t len,
                           json_object **out)
{
    if (len > INT_MAX)
        return perr(x, SRTM_E_TOO_BIG, what, "too large");
    /* json-c alone would accept duplicate keys, NUL in keys, NaN and single quotes. */
    char why[384];
    srtm_err serr = json_strict_check(text, len, JSON_MAX_DEPTH, why, sizeof(why));
    if (serr == SRTM_E_INVALID)
        return perr(x, serr, what, "not valid JSON: %s", why);
    if (serr != SRTM_OK)
        return serr;
    json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
    if (tok == NULL)
        return SRTM_E_NO_MEMORY;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    srtm_err err = SRTM_OK;
    if (root == NULL || jerr != json_tokener_success)
        err = perr(x, SRTM_E_INVALID, what, "not valid JSON: %s near byte %zu",
                   json_tokener_error_desc(jerr), end);
    else if (end < len && text[end] != '\0' && strspn(text + end, " \t\r\n") != len - end)
        err = perr(x, SRTM_E_INVALID, what, "text after the JSON object at byte %zu", end);
    else if (!json_object_is_type(root, json_type_object))
        err = perr(x, SRTM_E_INVALID, what, "must be a JSON object");
    json_tokener_free(tok);
    if (err != SRTM_OK) {
        json_object_put(root);
        return err;
    }
    *out = root;
    return SRTM_OK;
}

/* srtm-keymgr's reference file: "format", "proof" and "running" are used; its other
 * keys (launch details, close event) are that tool's business and not read. */
static srtm_err load_reference(pctx *x, const char *path, const char *file,
                               srtm_verifier_policy *p)
{
    char full[PATH_MAX];
    if (file[0] == '/')
        snprintf(full, sizeof(full), "%s", file);
    else if (snprintf(full, sizeof(full), "%s/%s", x->base_dir, file) >= (int)sizeof(full))
        return perr(x, SRTM_E_TOO_BIG, path, "path too long");
    char *text = NULL;
    size_t len = 0;
    srtm_err err = read_small_file(full, POLICY_MAX_REFERENCE, &text, &len);
    if (err == SRTM_E_IO)
        return perr(x, err, path, "cannot read '%s': %s", full, strerror(errno));
    if (err == SRTM_E_TOO_BIG)
        return perr(x, err, path, "'%s' is larger than %u bytes", full, POLICY_MAX_REFERENCE);
    if (err != SRTM_OK)
        return err;
    char what[PATH_LEN];
    bprintf(what, sizeof(what), "%s ('%s')", path, full);
    json_object *root = NULL;
    err = parse_json(x, what, text, len, &root);
    free(text);
    json_object *v = NULL;
    if (err == SRTM_OK && (!json_object_object_get_ex(root, "format", &v) ||
                           !json_object_is_type(v, json_type_string) ||
                           strcmp(json_object_get_string(v), REFERENCE_FORMAT) != 0))
        err = perr(x, SRTM_E_INVALID, what, "format must be \"%s\"", REFERENCE_FORMAT);
    if (err == SRTM_OK && json_object_object_get_ex(root, "bank", &v) &&
        (!json_object_is_type(v, json_type_string) ||
         strcmp(json_object_get_string(v), "sha256") != 0))
        err = perr(x, SRTM_E_UNSUPPORTED, what, "bank must be \"sha256\"");
    char sub[PATH_LEN];
    if (err == SRTM_OK) {
        bprintf(sub, sizeof(sub), "%s.proof", what);
        err = json_object_object_get_ex(root, "proof", &v)
                  ? parse_pcr_map(x, sub, v, &p->proof)
                  : perr(x, SRTM_E_INVALID, sub, "missing");
    }
    if (err == SRTM_OK) {
        bprintf(sub, sizeof(sub), "%s.running", what);
        err = json_object_object_get_ex(root, "running", &v)
                  ? parse_pcr_map(x, sub, v, &p->running)
                  : perr(x, SRTM_E_INVALID, sub, "missing");
    }
    json_object_put(root);
    return err;
}

static srtm_err parse_pcr_sources(pctx *x, json_object *v, srtm_verifier_policy *p);

/*
 * The IRK certificate must show the proof state and the joint quote the state after the
 * close. References that cannot tell the two apart (no PCR named by both with different
 * values: the SRTM PCR, which srtmd extends with the close event) would let a key
 * certified after the period closed, by any process that reaches the TPM, pass as
 * certified inside it. Such a reference is refused.
 */
static srtm_err check_states_differ(pctx *x, const srtm_verifier_policy *p)
{
    /* With several values per PCR, the states differ for sure only where no running value
     * of a PCR is also a proof value of it: otherwise one PCR state could pass as both. */
    uint32_t both = p->proof.mask & p->running.mask;
    for (unsigned i = 0; i < KM_PCR_COUNT; i++) {
        bool disjoint = (both & (1u << i)) != 0;
        for (unsigned j = 0; disjoint && j < p->running.n[i]; j++)
            disjoint = !policy_pcr_allows(&p->proof, i, p->running.value[i][j]);
        if (disjoint)
            return SRTM_OK;
    }
    return perr(x, SRTM_E_INVALID, "pcrs",
                "proof and running must differ in a PCR both name (the SRTM PCR, which the "
                "close event extends), with no value in common there: otherwise a key "
                "certified after the proof period would pass as certified inside it");
}

static srtm_err parse_pcrs(pctx *x, json_object *v, srtm_verifier_policy *p)
{
    srtm_err err = parse_pcr_sources(x, v, p);
    return err != SRTM_OK ? err : check_states_differ(x, p);
}

static srtm_err parse_pcr_sources(pctx *x, json_object *v, srtm_verifier_policy *p)
{
    static const char *const keys[] = {"reference_file", "proof", "running", "allow_extra",
                                       NULL};
    srtm_err err = want_type(x, "pcrs", v, json_type_object);
    if (err == SRTM_OK)
        err = only_keys(x, "pcrs", v, keys);
    if (err != SRTM_OK)
        return err;
    json_object *ref = NULL, *proof = NULL, *running = NULL, *extra = NULL;
    json_object_object_get_ex(v, "reference_file", &ref);
    json_object_object_get_ex(v, "proof", &proof);
    json_object_object_get_ex(v, "running", &running);
    if (json_object_object_get_ex(v, "allow_extra", &extra)) {
        err = want_type(x, "pcrs.allow_extra", extra, json_type_boolean);
        if (err != SRTM_OK)
            return err;
        p->allow_extra_pcrs = json_object_get_boolean(extra);
    }
    if (ref != NULL) {
        if (proof != NULL || running != NULL)
            return perr(x, SRTM_E_INVALID, "pcrs",
                        "give either reference_file or proof and running, not both");
        const char *file = NULL;
        err = get_string(x, "pcrs.reference_file", ref, PATH_MAX - 1, &file);
        return err != SRTM_OK ? err : load_reference(x, "pcrs.reference_file", file, p);
    }
    if (proof == NULL || running == NULL)
        return perr(x, SRTM_E_INVALID, "pcrs", "needs reference_file, or both proof and running");
    err = parse_pcr_map(x, "pcrs.proof", proof, &p->proof);
    return err != SRTM_OK ? err : parse_pcr_map(x, "pcrs.running", running, &p->running);
}

static srtm_err parse_aik(pctx *x, json_object *v)
{
    static const char *const keys[] = {"scheme", NULL};
    srtm_err err = want_type(x, "aik", v, json_type_object);
    if (err == SRTM_OK)
        err = only_keys(x, "aik", v, keys);
    json_object *s = NULL;
    if (err == SRTM_OK && !json_object_object_get_ex(v, "scheme", &s))
        err = perr(x, SRTM_E_INVALID, "aik.scheme", "missing");
    const char *scheme = NULL;
    if (err == SRTM_OK)
        err = get_string(x, "aik.scheme", s, 64, &scheme);
    /* The only scheme km's AIK template makes; anything else would be a policy meant for
     * another key, so it is refused rather than ignored. */
    if (err == SRTM_OK && strcmp(scheme, "ecdsa-sha256") != 0)
        err = perr(x, SRTM_E_UNSUPPORTED, "aik.scheme",
                   "\"%s\" is not supported; the only scheme is \"ecdsa-sha256\"", scheme);
    return err;
}

static int digest_cmp(const void *a, const void *b)
{
    return memcmp(((const pol_digest *)a)->d, ((const pol_digest *)b)->d, SRTM_DIGEST_LEN);
}

static srtm_err parse_allowed_item(pctx *x, const char *path, json_object *v, pol_digest *out)
{
    if (json_object_is_type(v, json_type_string))
        return get_digest(x, path, v, out->d);
    static const char *const keys[] = {"digest", "label", NULL};
    if (!json_object_is_type(v, json_type_object))
        return perr(x, SRTM_E_INVALID, path,
                    "must be a hex digest or an object {\"digest\", \"label\"}, not %s",
                    type_name(json_object_get_type(v)));
    srtm_err err = only_keys(x, path, v, keys);
    json_object *d = NULL, *l = NULL;
    char p[PATH_LEN];
    subpath(p, path, "digest", 0);
    if (err == SRTM_OK)
        err = json_object_object_get_ex(v, "digest", &d) ? get_digest(x, p, d, out->d)
                                                          : perr(x, SRTM_E_INVALID, p, "missing");
    if (err == SRTM_OK && json_object_object_get_ex(v, "label", &l)) {
        const char *label = NULL;
        subpath(p, path, "label", 0);
        err = get_string(x, p, l, POLICY_MAX_LABEL, &label);
        if (err == SRTM_OK && (out->label = strdup(label)) == NULL)
            err = SRTM_E_NO_MEMORY;
    }
    return err;
}

static srtm_err parse_allowed(pctx *x, const char *path, json_object *v, pol_ccr *c)
{
    srtm_err err = want_type(x, path, v, json_type_array);
    if (err != SRTM_OK)
        return err;
    size_t n = json_object_array_length(v);
    if (n > POLICY_MAX_DIGESTS - x->n_digests)
        return perr(x, SRTM_E_TOO_BIG, path, "more than %u allowed digests in the policy",
                    POLICY_MAX_DIGESTS);
    x->n_digests += n;
    c->has_allowed = true;
    c->allowed = calloc(n ? n : 1, sizeof(*c->allowed));
    if (c->allowed == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        char p[PATH_LEN];
        subpath(p, path, NULL, i);
        err = parse_allowed_item(x, p, json_object_array_get_idx(v, i), &c->allowed[i]);
        c->n_allowed = i + 1; /* so that a label of a failed item is freed */
        if (err != SRTM_OK)
            return err;
    }
    qsort(c->allowed, n, sizeof(*c->allowed), digest_cmp);
    return SRTM_OK;
}

static srtm_err parse_ccr(pctx *x, const char *path, json_object *v, pol_ccr *c)
{
    static const char *const keys[] = {"allowed_digests", "expected_value", "comment", NULL};
    srtm_err err = want_type(x, path, v, json_type_object);
    if (err == SRTM_OK)
        err = only_keys(x, path, v, keys);
    if (err != SRTM_OK)
        return err;
    json_object *a = NULL, *e = NULL, *cm = NULL;
    char p[PATH_LEN];
    if (json_object_object_get_ex(v, "comment", &cm)) {
        const char *ignored;
        subpath(p, path, "comment", 0);
        err = get_string(x, p, cm, 4096, &ignored);
        if (err != SRTM_OK)
            return err;
    }
    if (json_object_object_get_ex(v, "allowed_digests", &a)) {
        subpath(p, path, "allowed_digests", 0);
        err = parse_allowed(x, p, a, c);
        if (err != SRTM_OK)
            return err;
    }
    if (json_object_object_get_ex(v, "expected_value", &e)) {
        subpath(p, path, "expected_value", 0);
        err = get_digest(x, p, e, c->expected);
        if (err != SRTM_OK)
            return err;
        c->has_expected = true;
    }
    if (!c->has_allowed && !c->has_expected)
        return perr(x, SRTM_E_INVALID, path, "needs allowed_digests or expected_value");
    return SRTM_OK;
}

static int ccr_cmp(const void *a, const void *b)
{
    uint32_t x = ((const pol_ccr *)a)->index, y = ((const pol_ccr *)b)->index;
    return x < y ? -1 : x > y;
}

/* A CCR index as an object key: decimal, no sign, no leading zero, at most UINT32_MAX. */
static bool ccr_key(const char *key, uint32_t *out)
{
    size_t n = strlen(key);
    if (n == 0 || n > 10 || (n > 1 && key[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (key[i] < '0' || key[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* "revert_by": the names of the components that may revert this component's CCRs;
 * "self" stands for the component itself (docs/verifier.md). */
static srtm_err parse_revert_by(pctx *x, const char *path, json_object *v, pol_component *c)
{
    srtm_err err = want_type(x, path, v, json_type_array);
    if (err != SRTM_OK)
        return err;
    size_t n = json_object_array_length(v);
    if (n > POLICY_MAX_REVERT_BY)
        return perr(x, SRTM_E_TOO_BIG, path, "more than %u names", POLICY_MAX_REVERT_BY);
    c->has_revert_by = true;
    c->revert_by = calloc(n ? n : 1, sizeof(*c->revert_by));
    if (c->revert_by == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        char ip[PATH_LEN];
        subpath(ip, path, NULL, i);
        const char *name = NULL;
        err = get_string(x, ip, json_object_array_get_idx(v, i), SRTM_MAX_NAME, &name);
        if (err != SRTM_OK)
            return err;
        if ((c->revert_by[c->n_revert_by++] = strdup(name)) == NULL)
            return SRTM_E_NO_MEMORY;
    }
    return SRTM_OK;
}

static srtm_err parse_component(pctx *x, const char *path, json_object *v, pol_component *c)
{
    static const char *const keys[] = {"ccrs", "comment", "revert_by", NULL};
    srtm_err err = want_type(x, path, v, json_type_object);
    if (err == SRTM_OK)
        err = only_keys(x, path, v, keys);
    json_object *ccrs = NULL, *cm = NULL;
    char p[PATH_LEN];
    if (err == SRTM_OK && json_object_object_get_ex(v, "comment", &cm)) {
        const char *ignored;
        subpath(p, path, "comment", 0);
        err = get_string(x, p, cm, 4096, &ignored);
    }
    json_object *rb = NULL;
    if (err == SRTM_OK && json_object_object_get_ex(v, "revert_by", &rb)) {
        subpath(p, path, "revert_by", 0);
        err = parse_revert_by(x, p, rb, c);
    }
    subpath(p, path, "ccrs", 0);
    if (err == SRTM_OK && !json_object_object_get_ex(v, "ccrs", &ccrs))
        err = perr(x, SRTM_E_INVALID, p, "missing");
    if (err == SRTM_OK)
        err = want_type(x, p, ccrs, json_type_object);
    if (err != SRTM_OK)
        return err;
    size_t n = (size_t)json_object_object_length(ccrs);
    if (n > POLICY_MAX_CCRS)
        return perr(x, SRTM_E_TOO_BIG, p, "more than %u CCRs", POLICY_MAX_CCRS);
    c->ccrs = calloc(n ? n : 1, sizeof(*c->ccrs));
    if (c->ccrs == NULL)
        return SRTM_E_NO_MEMORY;
    json_object_object_foreach(ccrs, key, val)
    {
        char cp[PATH_LEN];
        subpath(cp, p, key, 0);
        pol_ccr *r = &c->ccrs[c->n_ccrs++];
        if (!ccr_key(key, &r->index))
            return perr(x, SRTM_E_INVALID, cp, "not a CCR index (a number from 0)");
        err = parse_ccr(x, cp, val, r);
        if (err != SRTM_OK)
            return err;
    }
    qsort(c->ccrs, c->n_ccrs, sizeof(*c->ccrs), ccr_cmp);
    return SRTM_OK;
}

static int comp_cmp(const void *a, const void *b)
{
    return strcmp(((const pol_component *)a)->name, ((const pol_component *)b)->name);
}

/* A name as the policy writes it (components keys, require): a bare component name, or a
 * path "platform/dm/vm-b" of names joined by '/' (docs/verifier.md, "Names and paths"). */
static srtm_err check_name(pctx *x, const char *path, const char *key, size_t len)
{
    if (len == 0 || len > VERIFY_MAX_PATH || !utf8_valid(key, len))
        return perr(x, SRTM_E_INVALID, path,
                    "a component name or path is 1 to %u bytes of UTF-8 without NUL",
                    VERIFY_MAX_PATH);
    size_t seg = 0; /* bytes of the name being read */
    for (size_t i = 0; i <= len; i++) {
        if (i < len && key[i] != '/') {
            seg++;
            continue;
        }
        if (seg == 0 || seg > SRTM_MAX_NAME)
            return perr(x, SRTM_E_INVALID, path,
                        "each name of a path is 1 to %u bytes (an empty name, or '/' at "
                        "either end?)",
                        SRTM_MAX_NAME);
        seg = 0;
    }
    return SRTM_OK;
}

static srtm_err parse_components(pctx *x, json_object *v, srtm_verifier_policy *p)
{
    srtm_err err = want_type(x, "components", v, json_type_object);
    if (err != SRTM_OK)
        return err;
    size_t n = (size_t)json_object_object_length(v);
    if (n > POLICY_MAX_COMPONENTS)
        return perr(x, SRTM_E_TOO_BIG, "components", "more than %u components",
                    POLICY_MAX_COMPONENTS);
    p->comps = calloc(n ? n : 1, sizeof(*p->comps));
    if (p->comps == NULL)
        return SRTM_E_NO_MEMORY;
    json_object_object_foreach(v, key, val)
    {
        char cp[PATH_LEN];
        subpath(cp, "components", key, 0);
        err = check_name(x, cp, key, strlen(key));
        if (err != SRTM_OK)
            return err;
        pol_component *c = &p->comps[p->n_comps++];
        if ((c->name = strdup(key)) == NULL)
            return SRTM_E_NO_MEMORY;
        err = parse_component(x, cp, val, c);
        if (err != SRTM_OK)
            return err;
    }
    qsort(p->comps, p->n_comps, sizeof(*p->comps), comp_cmp);
    return SRTM_OK;
}

static srtm_err parse_require(pctx *x, json_object *v, srtm_verifier_policy *p)
{
    srtm_err err = want_type(x, "require", v, json_type_array);
    if (err != SRTM_OK)
        return err;
    size_t n = json_object_array_length(v);
    if (n > POLICY_MAX_REQUIRE)
        return perr(x, SRTM_E_TOO_BIG, "require", "more than %u names", POLICY_MAX_REQUIRE);
    if (n == 0)
        return perr(x, SRTM_E_INVALID, "require",
                    "empty: it would require nothing; name the components, or leave the key "
                    "out to require every reported component");
    p->require = calloc(n ? n : 1, sizeof(*p->require));
    if (p->require == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_LEN];
        subpath(path, "require", NULL, i);
        const char *name = NULL;
        err = get_string(x, path, json_object_array_get_idx(v, i), VERIFY_MAX_PATH, &name);
        if (err == SRTM_OK)
            err = check_name(x, path, name, strlen(name));
        if (err != SRTM_OK)
            return err;
        if ((p->require[p->n_require++] = strdup(name)) == NULL)
            return SRTM_E_NO_MEMORY;
    }
    return SRTM_OK;
}

static srtm_err parse_unlisted(pctx *x, json_object *v, srtm_verifier_policy *p)
{
    const char *s = NULL;
    srtm_err err = get_string(x, "unlisted", v, 64, &s);
    if (err != SRTM_OK)
        return err;
    if (strcmp(s, "replay-only") == 0)
        p->unlisted = POL_UNLISTED_REPLAY_ONLY;
    else if (strcmp(s, "untrusted") == 0)
        p->unlisted = POL_UNLISTED_UNTRUSTED;
    else
        return perr(x, SRTM_E_INVALID, "unlisted", "must be \"replay-only\" or \"untrusted\"");
    return SRTM_OK;
}

static srtm_err parse_terminated(pctx *x, json_object *v, srtm_verifier_policy *p)
{
    const char *s = NULL;
    srtm_err err = get_string(x, "terminated", v, 64, &s);
    if (err != SRTM_OK)
        return err;
    if (strcmp(s, "untrusted") == 0)
        p->terminated = POL_TERMINATED_UNTRUSTED;
    else if (strcmp(s, "accepted") == 0)
        p->terminated = POL_TERMINATED_ACCEPTED;
    else
        return perr(x, SRTM_E_INVALID, "terminated", "must be \"untrusted\" or \"accepted\"");
    return SRTM_OK;
}

static srtm_err parse_root(pctx *x, json_object *root, srtm_verifier_policy *p)
{
    static const char *const keys[] = {"format",  "comment",  "aik",        "pcrs", "components",
                                       "require", "unlisted", "terminated", NULL};
    srtm_err err = only_keys(x, "", root, keys);
    json_object *v = NULL;
    const char *s = NULL;
    if (err == SRTM_OK && !json_object_object_get_ex(root, "format", &v))
        err = perr(x, SRTM_E_INVALID, "format", "missing (\"%s\")", POLICY_FORMAT);
    if (err == SRTM_OK)
        err = get_string(x, "format", v, 64, &s);
    if (err == SRTM_OK && strcmp(s, POLICY_FORMAT) != 0)
        err = perr(x, SRTM_E_UNSUPPORTED, "format", "must be \"%s\"", POLICY_FORMAT);
    if (err == SRTM_OK && json_object_object_get_ex(root, "comment", &v))
        err = get_string(x, "comment", v, 4096, &s);
    if (err == SRTM_OK)
        err = json_object_object_get_ex(root, "aik", &v) ? parse_aik(x, v)
                                                          : perr(x, SRTM_E_INVALID, "aik",
                                                                 "missing");
    if (err == SRTM_OK)
        err = json_object_object_get_ex(root, "pcrs", &v) ? parse_pcrs(x, v, p)
                                                           : perr(x, SRTM_E_INVALID, "pcrs",
                                                                  "missing");
    if (err == SRTM_OK && json_object_object_get_ex(root, "components", &v))
        err = parse_components(x, v, p);
    if (err == SRTM_OK && json_object_object_get_ex(root, "require", &v))
        err = parse_require(x, v, p);
    if (err == SRTM_OK && json_object_object_get_ex(root, "unlisted", &v))
        err = parse_unlisted(x, v, p);
    if (err == SRTM_OK && json_object_object_get_ex(root, "terminated", &v))
        err = parse_terminated(x, v, p);
    /* Fail closed: a policy that names nothing would trust any report at all. */
    if (err == SRTM_OK && p->n_comps == 0 && p->n_require == 0)
        err = perr(x, SRTM_E_INVALID, "components",
                   "the policy names no component and requires none, so it would trust any "
                   "report; list the components (or \"require\" some)");
    return err;
}

SRTM_API srtm_err srtm_policy_parse(const char *text, size_t len, const char *base_dir,
                                    srtm_verifier_policy **out, char *msg, size_t msg_size)
{
    pctx x = {.msg = msg, .msg_size = msg_size, .base_dir = base_dir ? base_dir : "."};
    if (msg != NULL && msg_size > 0)
        msg[0] = '\0';
    if (text == NULL || out == NULL)
        return perr(&x, SRTM_E_INVALID, "", "no policy text");
    if (len > POLICY_MAX_FILE)
        return perr(&x, SRTM_E_TOO_BIG, "", "policy larger than %u bytes", POLICY_MAX_FILE);
    srtm_verifier_policy *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SRTM_E_NO_MEMORY;
    p->unlisted = POL_UNLISTED_UNTRUSTED;
    p->terminated = POL_TERMINATED_UNTRUSTED;
    json_object *root = NULL;
    /* The policy's identity for incremental verification: a state is only continued
     * under the very text it was judged under. */
    srtm_err err = srtm_sha256(text, len, p->sha256);
    if (err == SRTM_OK)
        err = parse_json(&x, "policy", text, len, &root);
    if (err == SRTM_OK)
        err = parse_root(&x, root, p);
    json_object_put(root);
    if (err != SRTM_OK) {
        if (err == SRTM_E_NO_MEMORY)
            perr(&x, err, "", "out of memory");
        srtm_policy_free(p);
        return err;
    }
    *out = p;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_policy_load(const char *path, srtm_verifier_policy **out, char *msg,
                                   size_t msg_size)
{
    pctx x = {.msg = msg, .msg_size = msg_size};
    if (msg != NULL && msg_size > 0)
        msg[0] = '\0';
    if (path == NULL || out == NULL)
        return perr(&x, SRTM_E_INVALID, "", "no policy path");
    char *text = NULL;
    size_t len = 0;
    srtm_err err = read_small_file(path, POLICY_MAX_FILE, &text, &len);
    if (err != SRTM_OK) {
        int saved = errno;
        perr(&x, err, "", "policy file '%s': %s", path,
             err == SRTM_E_IO ? strerror(saved) : srtm_strerror(err));
        errno = saved;
        return err;
    }
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    err = srtm_policy_parse(text, len, dir, out, msg, msg_size);
    free(text);
    return err;
}

SRTM_API void srtm_policy_free(srtm_verifier_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_comps; i++) {
        pol_component *c = &p->comps[i];
        for (size_t j = 0; j < c->n_ccrs; j++) {
            for (size_t k = 0; k < c->ccrs[j].n_allowed; k++)
                free(c->ccrs[j].allowed[k].label);
            free(c->ccrs[j].allowed);
        }
        free(c->ccrs);
        for (size_t j = 0; j < c->n_revert_by; j++)
            free(c->revert_by[j]);
        free(c->revert_by);
        free(c->name);
    }
    free(p->comps);
    for (size_t i = 0; i < p->n_require; i++)
        free(p->require[i]);
    free(p->require);
    free(p);
}

/* ---- lookups ---- */

static int name_key_cmp(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const pol_component *)elem)->name);
}

const pol_component *policy_find_component(const srtm_verifier_policy *p, const char *name)
{
    if (p->n_comps == 0)
        return NULL;
    return bsearch(name, p->comps, p->n_comps, sizeof(*p->comps), name_key_cmp);
}

static int index_key_cmp(const void *key, const void *elem)
{
    uint32_t x = *(const uint32_t *)key, y = ((const pol_ccr *)elem)->index;
    return x < y ? -1 : x > y;
}

const pol_ccr *policy_find_ccr(const pol_component *c, uint32_t index)
{
    if (c->n_ccrs == 0)
        return NULL;
    return bsearch(&index, c->ccrs, c->n_ccrs, sizeof(*c->ccrs), index_key_cmp);
}

static int digest_key_cmp(const void *key, const void *elem)
{
    return memcmp(key, ((const pol_digest *)elem)->d, SRTM_DIGEST_LEN);
}

const pol_digest *policy_find_digest(const pol_ccr *ccr, const uint8_t d[SRTM_DIGEST_LEN])
{
    if (ccr->n_allowed == 0)
        return NULL;
    return bsearch(d, ccr->allowed, ccr->n_allowed, sizeof(*ccr->allowed), digest_key_cmp);
}

/* ---- names and paths ---- */

/*
 * A bare name reaches only component 0 and its direct children; anything deeper is named
 * by its path. So a component registered under another parent than the one the policy
 * author had in mind (a name taken first by someone else) never gets the rules written
 * for the real one: its path differs, and its bare name does not apply to it.
 */
const pol_component *policy_rules_for(const srtm_verifier_policy *p,
                                      const Srtm__ReportComponent *c, const char *path,
                                      const pol_component **twice)
{
    *twice = NULL;
    const pol_component *by_path = path != NULL ? policy_find_component(p, path) : NULL;
    const pol_component *by_name = NULL;
    if (c->handle != 0 && c->parent == 0)
        by_name = policy_find_component(p, c->name);
    if (by_path != NULL && by_name != NULL && by_path != by_name)
        *twice = by_name;
    return by_path != NULL ? by_path : by_name;
}

bool policy_resolve_name(const char *name, const char *root, char *out, size_t size)
{
    int n;
    if (strchr(name, '/') != NULL || (root != NULL && strcmp(name, root) == 0))
        n = snprintf(out, size, "%s", name);
    else if (root != NULL)
        n = snprintf(out, size, "%s/%s", root, name);
    else
        return false;
    return n > 0 && (size_t)n < size;
}
