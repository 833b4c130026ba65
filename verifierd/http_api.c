/*
 * The JSON operations of the fleet verifier's HTTP API (docs/fleet.md, "HTTP API"). Each
 * runs with the store lock held (http.c), validates what the request says, acts on the
 * store and builds the answer in r->json. A request that fails validation changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "http_int.h"
#include "json_strict.h"

#define EAR_PROFILE "tag:github.com,2023:veraison/ear"

/* Unsigned parameter key in [lo, hi] (def when absent) into *out; false (with the 400
 * written) when malformed or out of range. */
static bool num_param(vreq *r, const char *key, size_t def, size_t lo, size_t hi, size_t *out)
{
    char buf[24];
    bool bad = false;
    *out = def;
    if (!vh_param(r->query, key, buf, sizeof(buf), &bad))
        return bad ? (vh_fail(r, 400, "bad %s", key), false) : true;
    char *end = NULL;
    unsigned long long n = buf[0] >= '0' && buf[0] <= '9' ? strtoull(buf, &end, 10) : 0;
    if (end == NULL || *end != '\0' || n < lo || n > hi) {
        vh_fail(r, 400, "%s must be a number from %zu to %zu", key, lo, hi);
        return false;
    }
    *out = (size_t)n;
    return true;
}

/* The `after` parameter of a name-paged list; false (400 written) when malformed. */
static bool after_param(vreq *r, char after[VS_NAME_MAX + 1])
{
    bool bad = false;
    after[0] = '\0';
    if (!vh_param(r->query, "after", after, VS_NAME_MAX + 1, &bad) && bad)
        return vh_fail(r, 400, "bad after"), false;
    return true;
}

/* Stored reasons as JSON: "" -> [], JSON text -> its value, anything else -> the string. */
static json_object *reasons_json(const char *text)
{
    if (text == NULL || text[0] == '\0')
        return json_object_new_array();
    json_tokener *tok = json_tokener_new();
    json_object *o = tok != NULL ? json_tokener_parse_ex(tok, text, (int)strlen(text)) : NULL;
    bool whole = tok != NULL && json_tokener_get_error(tok) == json_tokener_success &&
                 json_tokener_get_parse_end(tok) == strlen(text);
    json_tokener_free(tok);
    if (o != NULL && whole)
        return o;
    json_object_put(o);
    return json_object_new_string(text);
}

/* The names store_stale lists now (at most VS_PAGE_MAX), sorted by name; malloc'd. */
static srtm_err stale_set(vreq *r, vs_name **out, size_t *n)
{
    vs_name *names = calloc(VS_PAGE_MAX, sizeof(*names));
    if (names == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = store_stale(r->v->store, r->now, names, VS_PAGE_MAX, n);
    if (err != SRTM_OK) {
        free(names);
        return err;
    }
    *out = names;
    return SRTM_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const vs_name *)a)->s, ((const vs_name *)b)->s);
}

static bool in_set(const vs_name *set, size_t n, const char *name)
{
    vs_name key;
    snprintf(key.s, sizeof(key.s), "%s", name);
    return bsearch(&key, set, n, sizeof(*set), name_cmp) != NULL;
}

static json_object *host_json(const vs_host *h, bool stale)
{
    json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    json_object_object_add(o, "name", json_object_new_string(h->name));
    json_object_object_add(o, "address", json_object_new_string(h->address));
    json_object_object_add(o, "policy", json_object_new_string(h->policy));
    json_object_object_add(o, "interval_s", json_object_new_int64(h->interval_s));
    json_object_object_add(o, "added", json_object_new_int64(h->added));
    json_object_object_add(o, "verdict", json_object_new_string(h->verdict));
    json_object *a = NULL;
    if (h->last_attempt != 0 && (a = json_object_new_object()) != NULL) {
        json_object_object_add(a, "time", json_object_new_int64(h->last_attempt));
        json_object_object_add(a, "node", json_object_new_string(h->last_node));
        json_object_object_add(a, "outcome", json_object_new_string(h->last_outcome));
    }
    json_object_object_add(o, "last_attempt", a);
    json_object_object_add(o, "next_due", json_object_new_int64(h->next_due));
    json_object_object_add(o, "stale", json_object_new_boolean(stale));
    return o;
}

int vh_op_hosts_list(vreq *r)
{
    char after[VS_NAME_MAX + 1];
    size_t limit = 0, n = 0, n_stale = 0;
    if (!after_param(r, after) || !num_param(r, "limit", VH_PAGE_DEFAULT, 1, VH_PAGE_LIMIT, &limit))
        return 400;
    vs_host *hosts = calloc(limit, sizeof(*hosts));
    vs_name *stale = NULL;
    if (hosts == NULL)
        return vh_fail(r, 500, "out of memory");
    srtm_err err = store_host_list(r->v->store, after, hosts, limit, &n);
    if (err == SRTM_OK)
        err = stale_set(r, &stale, &n_stale);
    json_object *list = err == SRTM_OK ? json_object_new_array() : NULL;
    for (size_t i = 0; list != NULL && i < n; i++)
        json_object_array_add(list, host_json(&hosts[i], in_set(stale, n_stale, hosts[i].name)));
    if (list != NULL && (r->json = json_object_new_object()) != NULL) {
        json_object_object_add(r->json, "hosts", list);
        json_object_object_add(r->json, "next", n == limit && n > 0
                                                    ? json_object_new_string(hosts[n - 1].name)
                                                    : NULL);
        list = NULL;
    }
    json_object_put(list);
    free(hosts);
    free(stale);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}

int vh_op_host_get(vreq *r)
{
    vs_host *h = calloc(1, sizeof(*h));
    vs_verdict cur = {0};
    vs_name *stale = NULL;
    size_t n_stale = 0;
    if (h == NULL)
        return vh_fail(r, 500, "out of memory");
    srtm_err err = store_host_get(r->v->store, r->name, h);
    if (err == SRTM_OK)
        err = store_verdict_current(r->v->store, r->name, &cur);
    if (err == SRTM_OK)
        err = stale_set(r, &stale, &n_stale);
    if (err == SRTM_OK && (r->json = host_json(h, in_set(stale, n_stale, h->name))) != NULL) {
        json_object_object_add(r->json, "aik_pem", json_object_new_string(h->aik_pem));
        json_object_object_add(r->json, "verdict_time", json_object_new_int64(cur.time));
        json_object_object_add(r->json, "reasons", reasons_json(cur.reasons));
    }
    vs_verdicts_free(&cur, 1);
    free(h);
    free(stale);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}

int vh_op_host_del(vreq *r)
{
    srtm_err err = store_host_remove(r->v->store, r->name);
    return err != SRTM_OK ? vh_store_fail(r, err) : 204;
}

int vh_op_history(vreq *r)
{
    size_t skip = 0, limit = 0, n = 0;
    if (!num_param(r, "skip", 0, 0, VH_SKIP_MAX, &skip) ||
        !num_param(r, "limit", VH_PAGE_DEFAULT, 1, VH_PAGE_LIMIT, &limit))
        return 400;
    vs_verdict *v = calloc(limit, sizeof(*v));
    if (v == NULL)
        return vh_fail(r, 500, "out of memory");
    srtm_err err = store_verdict_history(r->v->store, r->name, skip, v, limit, &n);
    json_object *list = err == SRTM_OK ? json_object_new_array() : NULL;
    for (size_t i = 0; list != NULL && i < n; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "time", json_object_new_int64(v[i].time));
        json_object_object_add(e, "verdict", json_object_new_string(v[i].verdict));
        json_object_object_add(e, "reasons", reasons_json(v[i].reasons));
        json_object_array_add(list, e);
    }
    if (list != NULL && (r->json = json_object_new_object()) != NULL) {
        json_object_object_add(r->json, "host", json_object_new_string(r->name));
        json_object_object_add(r->json, "history", list);
        json_object_object_add(r->json, "next_skip",
                               n == limit ? json_object_new_int64((int64_t)(skip + n)) : NULL);
        list = NULL;
    }
    json_object_put(list);
    if (err == SRTM_OK)
        vs_verdicts_free(v, n);
    free(v);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}

/* docs/verifier.md, "The verdict as an EAR": trusted -> affirming, untrusted ->
 * contraindicated; no verdict yet (or another word) -> none, nothing appraised. */
static const char *ear_status(const char *verdict)
{
    if (strcmp(verdict, "trusted") == 0)
        return "affirming";
    return strcmp(verdict, "untrusted") == 0 ? "contraindicated" : "none";
}

static json_object *ear_submod(const vs_verdict *cur, const char *policy_version)
{
    char policy_id[8 + 2 * SRTM_DIGEST_LEN + 1];
    snprintf(policy_id, sizeof(policy_id), "sha256:%s", policy_version);
    json_object *reasons = reasons_json(cur->reasons);
    if (reasons != NULL && !json_object_is_type(reasons, json_type_array)) {
        json_object *a = json_object_new_array();
        json_object_array_add(a, json_object_is_type(reasons, json_type_string)
                                     ? reasons
                                     : json_object_new_string(json_object_to_json_string(reasons)));
        if (!json_object_is_type(reasons, json_type_string))
            json_object_put(reasons);
        reasons = a;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "ear.status", json_object_new_string(ear_status(cur->verdict)));
    json_object_object_add(o, "ear.appraisal-policy-id", json_object_new_string(policy_id));
    json_object_object_add(o, "srtm.reasons", reasons);
    return o;
}

int vh_op_ear(vreq *r)
{
    vs_host *h = calloc(1, sizeof(*h));
    vs_verdict cur = {0};
    vs_policy pol = {0};
    if (h == NULL)
        return vh_fail(r, 500, "out of memory");
    srtm_err err = store_host_get(r->v->store, r->name, h);
    if (err == SRTM_OK)
        err = store_verdict_current(r->v->store, r->name, &cur);
    if (err == SRTM_OK)
        err = store_policy_get(r->v->store, h->policy, &pol);
    if (err == SRTM_OK && (r->json = json_object_new_object()) != NULL) {
        json_object *vid = json_object_new_object(), *subs = json_object_new_object();
        json_object_object_add(vid, "developer", json_object_new_string("srtm"));
        json_object_object_add(vid, "build", json_object_new_string("srtm " SRTM_VERSION_STRING));
        json_object_object_add(subs, h->name, ear_submod(&cur, pol.version));
        json_object_object_add(r->json, "eat_profile", json_object_new_string(EAR_PROFILE));
        json_object_object_add(r->json, "iat", json_object_new_int64(r->now));
        json_object_object_add(r->json, "ear.verifier-id", vid);
        json_object_object_add(r->json, "srtm.ok",
                               json_object_new_boolean(strcmp(cur.verdict, "trusted") == 0));
        json_object_object_add(r->json, "srtm.verdict-time", json_object_new_int64(cur.time));
        json_object_object_add(r->json, "submods", subs);
    }
    vs_policy_free(&pol);
    vs_verdicts_free(&cur, 1);
    free(h);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}

/* Parse body as one JSON object, all of it, in the strict grammar the policy parser uses
 * (no duplicate keys, NaN, NUL or comments: json_strict.h); NULL (400 written) otherwise. */
static json_object *body_object(vreq *r)
{
    char msg[200] = "";
    if (r->body_len == 0 || json_strict_check(r->body, r->body_len, 64, msg, sizeof(msg)) != SRTM_OK)
        return vh_fail(r, 400, "the body is not one JSON object: %s", msg), NULL;
    json_tokener *tok = json_tokener_new_ex(64);
    json_object *o = NULL;
    if (tok != NULL && r->body_len <= VS_POLICY_MAX) {
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
        if (json_tokener_get_error(tok) != json_tokener_success ||
            json_tokener_get_parse_end(tok) != r->body_len || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    if (o == NULL)
        vh_fail(r, 400, "the body is not one JSON object");
    return o;
}

static bool aik_ok(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    bool ok = k != NULL;
    EVP_PKEY_free(k);
    BIO_free(bio);
    return ok;
}

/* A string member key of o, at most max bytes, into dst; false (400 written) otherwise. */
static bool str_member(vreq *r, json_object *o, const char *key, char *dst, size_t max)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return vh_fail(r, 400, "%s: a string is required", key), false;
    size_t len = (size_t)json_object_get_string_len(v);
    if (len == 0 || len > max || strlen(json_object_get_string(v)) != len)
        return vh_fail(r, 400, "%s: 1 to %zu bytes, no NUL", key, max), false;
    memcpy(dst, json_object_get_string(v), len + 1);
    return true;
}

static bool host_from_json(vreq *r, json_object *o, vs_host *h)
{
    static const char *const keys[] = {"name", "address", "aik_pem", "policy", "interval_s"};
    json_object_object_foreach(o, key, val) {
        (void)val;
        bool known = false;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            known = known || strcmp(key, keys[i]) == 0;
        if (!known)
            return vh_fail(r, 400, "unknown key %.64s", key), false;
    }
    json_object *iv = NULL;
    if (!str_member(r, o, "name", h->name, VS_NAME_MAX) ||
        !str_member(r, o, "address", h->address, VS_ADDR_MAX) ||
        !str_member(r, o, "aik_pem", h->aik_pem, VS_AIK_MAX) ||
        !str_member(r, o, "policy", h->policy, VS_NAME_MAX))
        return false;
    if (!vh_name_ok(h->name) || !vh_name_ok(h->policy))
        return vh_fail(r, 400, "name and policy: no control characters"), false;
    if (!json_object_object_get_ex(o, "interval_s", &iv) || !json_object_is_type(iv, json_type_int) ||
        json_object_get_int64(iv) < 1 || json_object_get_int64(iv) > VS_INTERVAL_MAX)
        return vh_fail(r, 400, "interval_s: an integer from 1 to %d", VS_INTERVAL_MAX), false;
    h->interval_s = json_object_get_int64(iv);
    if (!aik_ok(h->aik_pem))
        return vh_fail(r, 400, "aik_pem: not a PEM public key"), false;
    return true;
}

int vh_op_host_add(vreq *r)
{
    vs_host *h = calloc(1, sizeof(*h));
    json_object *o = h != NULL ? body_object(r) : NULL;
    int status = h == NULL ? vh_fail(r, 500, "out of memory") : o == NULL ? 400 : 201;
    if (status == 201 && !host_from_json(r, o, h))
        status = 400;
    json_object_put(o);
    srtm_err err = status == 201 ? store_host_add(r->v->store, h, r->now, NULL) : SRTM_OK;
    if (err == SRTM_E_NO_COMPONENT)
        status = vh_fail(r, 400, "policy: no policy named '%s'", h->policy);
    else if (err != SRTM_OK)
        status = vh_store_fail(r, err);
    if (status == 201 && (err = store_host_get(r->v->store, h->name, h)) != SRTM_OK)
        status = vh_store_fail(r, err);
    if (status == 201)
        r->json = host_json(h, false);
    free(h);
    return status;
}

/* True when a key "reference_file" appears anywhere in o: a stored policy is
 * self-contained, it may not make the verifier read a file of its own machine. */
static bool names_a_file(json_object *o, int depth)
{
    if (depth > 64)
        return true;
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (names_a_file(json_object_array_get_idx(o, i), depth + 1))
                return true;
        return false;
    }
    if (!json_object_is_type(o, json_type_object))
        return false;
    json_object_object_foreach(o, key, val) {
        if (strcmp(key, "reference_file") == 0 || names_a_file(val, depth + 1))
            return true;
    }
    return false;
}

int vh_op_policy_put(vreq *r)
{
    json_object *o = body_object(r);
    if (o == NULL)
        return 400;
    bool file = names_a_file(o, 0);
    json_object_put(o);
    if (file)
        return vh_fail(r, 400, "a fleet policy is self-contained: reference_file is refused");
    char msg[400] = "";
    srtm_verifier_policy *p = NULL;
    srtm_err err = srtm_policy_parse(r->body, r->body_len, "/nonexistent", &p, msg, sizeof(msg));
    srtm_policy_free(p);
    if (err != SRTM_OK)
        return vh_fail(r, 400, "%s", msg[0] != '\0' ? msg : srtm_strerror(err));
    vs_policy pol = {0};
    err = store_policy_put(r->v->store, r->name, r->body, r->body_len, r->now);
    if (err == SRTM_OK)
        err = store_policy_get(r->v->store, r->name, &pol);
    if (err == SRTM_OK && (r->json = json_object_new_object()) != NULL) {
        json_object_object_add(r->json, "name", json_object_new_string(pol.name));
        json_object_object_add(r->json, "version", json_object_new_string(pol.version));
        json_object_object_add(r->json, "updated", json_object_new_int64(pol.updated));
    }
    vs_policy_free(&pol);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}

int vh_op_policy_list(vreq *r)
{
    char after[VS_NAME_MAX + 1];
    size_t limit = 0, n = 0;
    if (!after_param(r, after) || !num_param(r, "limit", VH_PAGE_DEFAULT, 1, VH_PAGE_LIMIT, &limit))
        return 400;
    vs_name *names = calloc(limit, sizeof(*names));
    if (names == NULL)
        return vh_fail(r, 500, "out of memory");
    srtm_err err = store_policy_list(r->v->store, after, names, limit, &n);
    json_object *list = err == SRTM_OK ? json_object_new_array() : NULL;
    for (size_t i = 0; list != NULL && i < n; i++)
        json_object_array_add(list, json_object_new_string(names[i].s));
    if (list != NULL && (r->json = json_object_new_object()) != NULL) {
        json_object_object_add(r->json, "policies", list);
        json_object_object_add(r->json, "next", n == limit && n > 0
                                                    ? json_object_new_string(names[n - 1].s)
                                                    : NULL);
        list = NULL;
    }
    json_object_put(list);
    free(names);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}

int vh_op_policy_get(vreq *r)
{
    vs_policy pol = {0};
    srtm_err err = store_policy_get(r->v->store, r->name, &pol);
    if (err == SRTM_OK && (r->json = json_object_new_object()) != NULL) {
        json_object_object_add(r->json, "name", json_object_new_string(pol.name));
        json_object_object_add(r->json, "version", json_object_new_string(pol.version));
        json_object_object_add(r->json, "updated", json_object_new_int64(pol.updated));
        json_object_object_add(r->json, "policy", reasons_json(pol.body));
    }
    vs_policy_free(&pol);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}

int vh_op_stale(vreq *r)
{
    vs_name *names = NULL;
    size_t n = 0;
    srtm_err err = stale_set(r, &names, &n);
    json_object *list = err == SRTM_OK ? json_object_new_array() : NULL;
    for (size_t i = 0; list != NULL && i < n; i++)
        json_object_array_add(list, json_object_new_string(names[i].s));
    if (list != NULL && (r->json = json_object_new_object()) != NULL) {
        json_object_object_add(r->json, "now", json_object_new_int64(r->now));
        json_object_object_add(r->json, "stale", list);
        list = NULL;
    }
    json_object_put(list);
    free(names);
    return err != SRTM_OK ? vh_store_fail(r, err) : 200;
}
