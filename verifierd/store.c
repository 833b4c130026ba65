/*
 * The fleet verifier's storage operations, written once for both back-ends: argument
 * bounds, the SQL of every statement, transactions, and copying rows out with checked
 * lengths. The back-ends (store_sqlite.c, store_pg.c) only run statements.
 *
 * Invariants: a host's current verdict and its history change in one transaction; a lease
 * is taken only from a due host whose lease is free or expired, inside one write
 * transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: rows locked FOR UPDATE SKIP LOCKED),
 * so no two nodes hold a host at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "store_int.h"

#define SCHEMA_VERSION 1

#define HOST_COLS                                                                        \
    "id, name, address, aik_pem, policy, interval_s, added, verdict, last_attempt, "     \
    "last_node, last_outcome, next_due, lease_owner, lease_expiry"

#define DUE_AND_FREE "next_due <= $2 AND lease_expiry <= $2"
#define CLAIM_SQL(lock)                                                                  \
    "UPDATE hosts SET lease_owner = $1, lease_expiry = $3 WHERE id IN (SELECT id FROM "  \
    "hosts WHERE " DUE_AND_FREE " ORDER BY next_due, id LIMIT $4" lock ") AND "          \
    DUE_AND_FREE " RETURNING name"

static const char *const sql[ST_COUNT] = {
    [ST_SCHEMA_GET] = "SELECT version FROM schema_version",
    [ST_SCHEMA_SET] = "INSERT INTO schema_version (version) VALUES ($1)",
    [ST_POLICY_PUT] = "INSERT INTO policies (name, body, version, updated) VALUES ($1, $2, "
                      "$3, $4) ON CONFLICT (name) DO UPDATE SET body = excluded.body, "
                      "version = excluded.version, updated = excluded.updated",
    [ST_POLICY_GET] = "SELECT name, body, version, updated FROM policies WHERE name = $1",
    [ST_POLICY_VERSION] = "SELECT version FROM policies WHERE name = $1",
    [ST_POLICY_LIST] = "SELECT name FROM policies WHERE name > $1 ORDER BY name LIMIT $2",
    [ST_HOST_ADD] = "INSERT INTO hosts (name, address, aik_pem, policy, interval_s, added, "
                    "next_due) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    [ST_HOST_REMOVE] = "DELETE FROM hosts WHERE name = $1",
    [ST_HOST_GET] = "SELECT " HOST_COLS " FROM hosts WHERE name = $1",
    [ST_HOST_LIST] = "SELECT " HOST_COLS " FROM hosts WHERE name > $1 ORDER BY name LIMIT $2",
    [ST_HOST_ID] = "SELECT id FROM hosts WHERE name = $1",
    [ST_STATE_PUT] = "INSERT INTO host_state (host_id, instance, reset_count, restart_count, "
                     "seq, blob) SELECT id, $2, $3, $4, $5, $6 FROM hosts WHERE name = $1 "
                     "ON CONFLICT (host_id) DO UPDATE SET instance = excluded.instance, "
                     "reset_count = excluded.reset_count, restart_count = "
                     "excluded.restart_count, seq = excluded.seq, blob = excluded.blob",
    [ST_STATE_GET] = "SELECT s.instance, s.reset_count, s.restart_count, s.seq, s.blob FROM "
                     "host_state s JOIN hosts h ON h.id = s.host_id WHERE h.name = $1",
    [ST_VERDICT_INSERT] = "INSERT INTO verdicts (host_id, time, verdict, reasons) SELECT id, "
                          "$2, $3, $4 FROM hosts WHERE name = $1",
    [ST_VERDICT_SET] = "UPDATE hosts SET verdict = $2, reasons = $3 WHERE name = $1",
    [ST_VERDICT_CURRENT] = "SELECT verdict, reasons FROM hosts WHERE name = $1",
    [ST_VERDICT_HISTORY] = "SELECT v.time, v.verdict, v.reasons FROM verdicts v JOIN hosts h "
                           "ON h.id = v.host_id WHERE h.name = $1 ORDER BY v.time DESC, "
                           "v.id DESC LIMIT $2 OFFSET $3",
    /* The lease is freed only if this node still holds it: a node whose lease expired and
     * was taken over must not free the new holder's lease. */
    [ST_ATTEMPT] = "UPDATE hosts SET last_attempt = $2, last_node = $3, last_outcome = $4, "
                   "next_due = $2 + interval_s, lease_expiry = CASE WHEN lease_owner = $3 "
                   "THEN 0 ELSE lease_expiry END, lease_owner = CASE WHEN lease_owner = $3 "
                   "THEN '' ELSE lease_owner END WHERE name = $1",
    [ST_ATTEMPT_NEXT] = "UPDATE hosts SET last_attempt = $2, last_node = $3, last_outcome = $4, "
                        "next_due = $5, lease_expiry = CASE WHEN lease_owner = $3 "
                        "THEN 0 ELSE lease_expiry END, lease_owner = CASE WHEN lease_owner = $3 "
                        "THEN '' ELSE lease_owner END WHERE name = $1",
    /* Locks the host's row for the rest of the transaction (PostgreSQL; SQLite's BEGIN
     * IMMEDIATE holds the database) if, and only if, node holds its lease: a claim by
     * another node then waits for the commit, and sees a lease still held. */
    [ST_HOLD] = "UPDATE hosts SET lease_owner = lease_owner WHERE name = $1 AND lease_owner = $2",
    [ST_CLAIM] = CLAIM_SQL(""),
    [ST_RENEW_ONE] = "UPDATE hosts SET lease_expiry = $2 WHERE lease_owner = $1 AND name = $3",
    [ST_RELEASE_ONE] = "UPDATE hosts SET lease_owner = '', lease_expiry = 0 "
                       "WHERE lease_owner = $1 AND name = $2",
    [ST_RELEASE_ALL] = "UPDATE hosts SET lease_owner = '', lease_expiry = 0 "
                       "WHERE lease_owner = $1",
    [ST_STALE] = "SELECT name FROM hosts WHERE (CASE WHEN last_attempt > 0 THEN "
                 "last_attempt ELSE added END) < $1 - 2 * interval_s ORDER BY name LIMIT $2",
};

static const char claim_skip_locked[] = CLAIM_SQL(" FOR UPDATE SKIP LOCKED");

srtm_err vs_fail(vstore *s, srtm_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return err;
}

static srtm_err run(vstore *s, vs_stmt st, const vs_param *p, size_t np, vs_row_fn fn,
                    void *ctx, int64_t *changes)
{
    const char *text = (st == ST_CLAIM && s->drv->skip_locked) ? claim_skip_locked : sql[st];
    return s->drv->exec(s, st, text, p, np, fn, ctx, changes);
}

static vs_param P_I(int64_t v)
{
    return (vs_param){.type = VS_P_I64, .i = v};
}

static vs_param P_T(const char *t)
{
    return (vs_param){.type = VS_P_TEXT, .p = t, .len = strlen(t)};
}

static vs_param P_B(const void *b, size_t len)
{
    return (vs_param){.type = VS_P_BLOB, .p = len ? b : "", .len = len};
}

/* A string argument: present, non-empty unless empty_ok, at most max bytes. */
static srtm_err check_str(vstore *s, const char *what, const char *v, size_t max, bool empty_ok)
{
    if (!v)
        return vs_fail(s, SRTM_E_INVALID, "%s missing", what);
    size_t len = strnlen(v, max + 1);
    if (len > max)
        return vs_fail(s, SRTM_E_TOO_BIG, "%s longer than %zu bytes", what, max);
    if (len == 0 && !empty_ok)
        return vs_fail(s, SRTM_E_INVALID, "%s empty", what);
    return SRTM_OK;
}

static srtm_err check_page(vstore *s, const void *out, size_t max, const size_t *n)
{
    if (!out || !n || max == 0)
        return vs_fail(s, SRTM_E_INVALID, "no output page");
    if (max > VS_PAGE_MAX)
        return vs_fail(s, SRTM_E_TOO_BIG, "page over %u rows", VS_PAGE_MAX);
    return SRTM_OK;
}

/* Copy column col into dst (cap bytes with the NUL). */
static srtm_err col_str(vstore *s, const vs_row *r, int col, char *dst, size_t cap)
{
    size_t len;
    const char *v = s->drv->col_bytes(r, col, &len);
    if (len >= cap)
        return vs_fail(s, SRTM_E_TOO_BIG, "stored value of column %d over its bound", col);
    memcpy(dst, v, len);
    dst[len] = '\0';
    return SRTM_OK;
}

/* A malloc'd NUL-terminated copy of column col, at most max bytes. */
static srtm_err col_dup(vstore *s, const vs_row *r, int col, size_t max, char **out,
                        size_t *len_out)
{
    size_t len;
    const char *v = s->drv->col_bytes(r, col, &len);
    if (len > max)
        return vs_fail(s, SRTM_E_TOO_BIG, "stored value of column %d over its bound", col);
    char *c = malloc(len + 1);
    if (!c)
        return vs_fail(s, SRTM_E_NO_MEMORY, "out of memory");
    memcpy(c, v, len);
    c[len] = '\0';
    *out = c;
    if (len_out)
        *len_out = len;
    return SRTM_OK;
}

/* ---- open and schema ---- */

static srtm_err row_version(vstore *s, void *ctx, const vs_row *r)
{
    *(int64_t *)ctx = s->drv->col_i64(r, 0);
    return SRTM_OK;
}

/* Create the schema, or check the one there, in one transaction (under the back-end's
 * migration lock, so that nodes opening one database at once do not race). */
static srtm_err migrate(vstore *s)
{
    int64_t version = 0;
    srtm_err err = s->drv->begin(s);
    if (err != SRTM_OK)
        return err;
    if (s->drv->migrate_lock)
        err = s->drv->script(s, s->drv->migrate_lock);
    if (err == SRTM_OK)
        err = s->drv->script(s, "CREATE TABLE IF NOT EXISTS schema_version "
                                "(version BIGINT NOT NULL)");
    if (err == SRTM_OK)
        err = run(s, ST_SCHEMA_GET, NULL, 0, row_version, &version, NULL);
    if (err == SRTM_OK && version == 0) {
        err = s->drv->script(s, s->drv->schema_v1);
        vs_param p[] = {P_I(SCHEMA_VERSION)};
        if (err == SRTM_OK)
            err = run(s, ST_SCHEMA_SET, p, 1, NULL, NULL, NULL);
    } else if (err == SRTM_OK && version != SCHEMA_VERSION) {
        err = vs_fail(s, SRTM_E_VERSION, "database schema version %lld, this build knows %d",
                      (long long)version, SCHEMA_VERSION);
    }
    srtm_err end = s->drv->end(s, err == SRTM_OK);
    return err == SRTM_OK ? end : err;
}

srtm_err store_open(const char *url, vstore **out, char *err_out, size_t errlen)
{
    if (!url || !out)
        return SRTM_E_INVALID;
    vstore *s = calloc(1, sizeof *s);
    if (!s)
        return SRTM_E_NO_MEMORY;
    srtm_err err;
    if (strncmp(url, "sqlite:", 7) == 0)
        err = vs_sqlite_open(url + 7, s);
    else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        err = vs_pg_open(url, s);
    else
        err = vs_fail(s, SRTM_E_INVALID, "store URL must start with sqlite: or postgresql://");
    if (err == SRTM_OK)
        err = migrate(s);
    if (err != SRTM_OK) {
        if (errlen)
            snprintf(err_out, errlen, "%s", s->errmsg);
        store_close(s);
        return err;
    }
    *out = s;
    return SRTM_OK;
}

void store_close(vstore *s)
{
    if (!s)
        return;
    if (s->drv)
        s->drv->close(s);
    free(s);
}

const char *store_errmsg(const vstore *s)
{
    return s ? s->errmsg : "no store";
}

const char *store_backend(const vstore *s)
{
    return s && s->drv ? s->drv->name : "none";
}

/* A write of one or more statements in one transaction; fn runs them. */
static srtm_err in_tx(vstore *s, srtm_err (*fn)(vstore *s, void *ctx), void *ctx)
{
    srtm_err err = s->drv->begin(s);
    if (err != SRTM_OK)
        return err;
    err = fn(s, ctx);
    srtm_err end = s->drv->end(s, err == SRTM_OK);
    return err == SRTM_OK ? end : err;
}

static srtm_err not_found_if_none(vstore *s, srtm_err err, int64_t changes, const char *what,
                                  const char *name)
{
    if (err == SRTM_OK && changes == 0)
        return vs_fail(s, SRTM_E_NO_COMPONENT, "no %s named '%s'", what, name);
    return err;
}

/* ---- policies ---- */

srtm_err store_policy_put(vstore *s, const char *name, const char *body, size_t body_len,
                          int64_t now)
{
    srtm_err err = check_str(s, "policy name", name, VS_NAME_MAX, false);
    if (err != SRTM_OK)
        return err;
    if (!body || body_len == 0)
        return vs_fail(s, SRTM_E_INVALID, "policy body empty");
    if (body_len > VS_POLICY_MAX || memchr(body, '\0', body_len))
        return vs_fail(s, body_len > VS_POLICY_MAX ? SRTM_E_TOO_BIG : SRTM_E_INVALID,
                       "policy body over %u bytes or not text", VS_POLICY_MAX);
    uint8_t digest[SRTM_DIGEST_LEN];
    char version[2 * SRTM_DIGEST_LEN + 1];
    err = srtm_sha256(body, body_len, digest);
    if (err == SRTM_OK)
        err = hex_encode(digest, sizeof digest, version, sizeof version);
    if (err != SRTM_OK)
        return vs_fail(s, err, "cannot hash the policy body");
    vs_param p[] = {P_T(name), {.type = VS_P_TEXT, .p = body, .len = body_len}, P_T(version),
                    P_I(now)};
    return run(s, ST_POLICY_PUT, p, 4, NULL, NULL, NULL);
}

static srtm_err row_policy(vstore *s, void *ctx, const vs_row *r)
{
    vs_policy *p = ctx;
    srtm_err err = col_str(s, r, 0, p->name, sizeof p->name);
    if (err == SRTM_OK)
        err = col_str(s, r, 2, p->version, sizeof p->version);
    p->updated = s->drv->col_i64(r, 3);
    if (err == SRTM_OK && !p->body)
        err = col_dup(s, r, 1, VS_POLICY_MAX, &p->body, &p->body_len);
    return err;
}

srtm_err store_policy_get(vstore *s, const char *name, vs_policy *out)
{
    vs_policy p = {0};
    srtm_err err = check_str(s, "policy name", name, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = run(s, ST_POLICY_GET, (vs_param[]){P_T(name)}, 1, row_policy, &p, NULL);
    if (err == SRTM_OK && !p.body)
        err = vs_fail(s, SRTM_E_NO_COMPONENT, "no policy named '%s'", name);
    if (err != SRTM_OK) {
        vs_policy_free(&p);
        return err;
    }
    *out = p;
    return SRTM_OK;
}

typedef struct policy_version_row {
    char v[2 * SRTM_DIGEST_LEN + 1];
    bool found;
} policy_version_row;

static srtm_err row_policy_version(vstore *s, void *ctx, const vs_row *r)
{
    policy_version_row *v = ctx;
    v->found = true;
    return col_str(s, r, 0, v->v, sizeof v->v);
}

srtm_err store_policy_version(vstore *s, const char *name, char out[2 * SRTM_DIGEST_LEN + 1])
{
    policy_version_row v = {.found = false};
    srtm_err err = check_str(s, "policy name", name, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = run(s, ST_POLICY_VERSION, (vs_param[]){P_T(name)}, 1, row_policy_version, &v, NULL);
    if (err == SRTM_OK && !v.found)
        err = vs_fail(s, SRTM_E_NO_COMPONENT, "no policy named '%s'", name);
    if (err == SRTM_OK)
        memcpy(out, v.v, sizeof v.v);
    return err;
}

void vs_policy_free(vs_policy *p)
{
    if (!p)
        return;
    free(p->body);
    p->body = NULL;
    p->body_len = 0;
}

typedef struct name_page {
    vs_name *out;
    size_t max, n;
} name_page;

static srtm_err row_name(vstore *s, void *ctx, const vs_row *r)
{
    name_page *pg = ctx;
    if (pg->n >= pg->max)
        return vs_fail(s, SRTM_E_INTERNAL, "more rows than asked for");
    srtm_err err = col_str(s, r, 0, pg->out[pg->n].s, sizeof pg->out[pg->n].s);
    if (err == SRTM_OK)
        pg->n++;
    return err;
}

srtm_err store_policy_list(vstore *s, const char *after, vs_name *out, size_t max, size_t *n)
{
    name_page pg = {.out = out, .max = max};
    srtm_err err = check_page(s, out, max, n);
    if (err == SRTM_OK)
        err = check_str(s, "page start", after, VS_NAME_MAX, true);
    if (err == SRTM_OK)
        err = run(s, ST_POLICY_LIST, (vs_param[]){P_T(after), P_I((int64_t)max)}, 2, row_name,
                  &pg, NULL);
    if (err == SRTM_OK)
        *n = pg.n;
    return err;
}

/* ---- hosts ---- */

static srtm_err check_host(vstore *s, const vs_host *h)
{
    srtm_err err = check_str(s, "host name", h->name, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = check_str(s, "host address", h->address, VS_ADDR_MAX, false);
    if (err == SRTM_OK)
        err = check_str(s, "AIK public key", h->aik_pem, VS_AIK_MAX, false);
    if (err == SRTM_OK)
        err = check_str(s, "policy name", h->policy, VS_NAME_MAX, false);
    if (err == SRTM_OK && (h->interval_s < 1 || h->interval_s > VS_INTERVAL_MAX))
        err = vs_fail(s, SRTM_E_RANGE, "interval %lld s outside 1..%d", (long long)h->interval_s,
                      VS_INTERVAL_MAX);
    return err;
}

srtm_err store_host_add(vstore *s, const vs_host *h, int64_t now, int64_t *id_out)
{
    int64_t id = 0;
    srtm_err err = h ? check_host(s, h) : vs_fail(s, SRTM_E_INVALID, "no host");
    if (err != SRTM_OK)
        return err;
    vs_param p[] = {P_T(h->name),   P_T(h->address),    P_T(h->aik_pem),
                    P_T(h->policy), P_I(h->interval_s), P_I(now)};
    err = run(s, ST_HOST_ADD, p, 6, row_version, &id, NULL);
    if (err == SRTM_E_EXISTS)
        err = vs_fail(s, err, "a host named '%s' exists", h->name);
    else if (err == SRTM_E_NO_COMPONENT)
        err = vs_fail(s, err, "no policy named '%s'", h->policy);
    if (err == SRTM_OK && id_out)
        *id_out = id;
    return err;
}

srtm_err store_host_remove(vstore *s, const char *name)
{
    int64_t changes = 0;
    srtm_err err = check_str(s, "host name", name, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = run(s, ST_HOST_REMOVE, (vs_param[]){P_T(name)}, 1, NULL, NULL, &changes);
    return not_found_if_none(s, err, changes, "host", name);
}

static srtm_err row_host(vstore *s, const vs_row *r, vs_host *h)
{
    const vs_driver *d = s->drv;
    h->id = d->col_i64(r, 0);
    srtm_err err = col_str(s, r, 1, h->name, sizeof h->name);
    if (err == SRTM_OK)
        err = col_str(s, r, 2, h->address, sizeof h->address);
    if (err == SRTM_OK)
        err = col_str(s, r, 3, h->aik_pem, sizeof h->aik_pem);
    if (err == SRTM_OK)
        err = col_str(s, r, 4, h->policy, sizeof h->policy);
    h->interval_s = d->col_i64(r, 5);
    h->added = d->col_i64(r, 6);
    if (err == SRTM_OK)
        err = col_str(s, r, 7, h->verdict, sizeof h->verdict);
    h->last_attempt = d->col_i64(r, 8);
    if (err == SRTM_OK)
        err = col_str(s, r, 9, h->last_node, sizeof h->last_node);
    if (err == SRTM_OK)
        err = col_str(s, r, 10, h->last_outcome, sizeof h->last_outcome);
    h->next_due = d->col_i64(r, 11);
    if (err == SRTM_OK)
        err = col_str(s, r, 12, h->lease_owner, sizeof h->lease_owner);
    h->lease_expiry = d->col_i64(r, 13);
    return err;
}

typedef struct host_page {
    vs_host *out;
    size_t max, n;
} host_page;

static srtm_err row_host_page(vstore *s, void *ctx, const vs_row *r)
{
    host_page *pg = ctx;
    if (pg->n >= pg->max)
        return vs_fail(s, SRTM_E_INTERNAL, "more rows than asked for");
    srtm_err err = row_host(s, r, &pg->out[pg->n]);
    if (err == SRTM_OK)
        pg->n++;
    return err;
}

srtm_err store_host_get(vstore *s, const char *name, vs_host *out)
{
    vs_host *h = calloc(1, sizeof *h);
    host_page pg = {.out = h, .max = 1};
    srtm_err err = h ? check_str(s, "host name", name, VS_NAME_MAX, false)
                     : vs_fail(s, SRTM_E_NO_MEMORY, "out of memory");
    if (err == SRTM_OK)
        err = run(s, ST_HOST_GET, (vs_param[]){P_T(name)}, 1, row_host_page, &pg, NULL);
    if (err == SRTM_OK && pg.n == 0)
        err = vs_fail(s, SRTM_E_NO_COMPONENT, "no host named '%s'", name);
    if (err == SRTM_OK)
        *out = *h;
    free(h);
    return err;
}

srtm_err store_host_list(vstore *s, const char *after, vs_host *out, size_t max, size_t *n)
{
    host_page pg = {.out = out, .max = max};
    srtm_err err = check_page(s, out, max, n);
    if (err == SRTM_OK)
        err = check_str(s, "page start", after, VS_NAME_MAX, true);
    if (err == SRTM_OK)
        err = run(s, ST_HOST_LIST, (vs_param[]){P_T(after), P_I((int64_t)max)}, 2,
                  row_host_page, &pg, NULL);
    if (err == SRTM_OK)
        *n = pg.n;
    return err;
}

/* Fails with SRTM_E_NO_COMPONENT unless host exists. */
static srtm_err host_exists(vstore *s, const char *host)
{
    int64_t id = 0;
    srtm_err err = check_str(s, "host name", host, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = run(s, ST_HOST_ID, (vs_param[]){P_T(host)}, 1, row_version, &id, NULL);
    if (err == SRTM_OK && id == 0)
        err = vs_fail(s, SRTM_E_NO_COMPONENT, "no host named '%s'", host);
    return err;
}

/* ---- last verified state ---- */

srtm_err store_state_put(vstore *s, const char *host, const vs_state *st)
{
    int64_t changes = 0;
    srtm_err err = check_str(s, "host name", host, VS_NAME_MAX, false);
    if (err == SRTM_OK && (!st || !vs_state_fits(st) || (st->blob_len && !st->blob)))
        err = vs_fail(s, SRTM_E_TOO_BIG, "state missing or over its bounds (instance %u, "
                                         "blob %u bytes)", VS_INSTANCE_MAX, VS_STATE_MAX);
    if (err != SRTM_OK)
        return err;
    vs_param p[] = {P_T(host),          P_B(st->instance, st->instance_len),
                    P_I(st->reset_count), P_I(st->restart_count),
                    P_I(st->seq),         P_B(st->blob, st->blob_len)};
    err = run(s, ST_STATE_PUT, p, 6, NULL, NULL, &changes);
    return not_found_if_none(s, err, changes, "host", host);
}

static srtm_err row_state(vstore *s, void *ctx, const vs_row *r)
{
    vs_state *st = ctx;
    size_t len;
    const void *inst = s->drv->col_bytes(r, 0, &len);
    if (len > VS_INSTANCE_MAX)
        return vs_fail(s, SRTM_E_TOO_BIG, "stored instance over %u bytes", VS_INSTANCE_MAX);
    memcpy(st->instance, inst, len);
    st->instance_len = len;
    st->reset_count = s->drv->col_i64(r, 1);
    st->restart_count = s->drv->col_i64(r, 2);
    st->seq = s->drv->col_i64(r, 3);
    free(st->blob);
    st->blob = NULL;
    return col_dup(s, r, 4, VS_STATE_MAX, (char **)&st->blob, &st->blob_len);
}

srtm_err store_state_get(vstore *s, const char *host, vs_state *out)
{
    vs_state st = {0};
    srtm_err err = host_exists(s, host);
    if (err == SRTM_OK)
        err = run(s, ST_STATE_GET, (vs_param[]){P_T(host)}, 1, row_state, &st, NULL);
    if (err == SRTM_OK && !st.blob)
        err = vs_fail(s, SRTM_E_NO_COMPONENT, "host '%s' has no verified state", host);
    if (err != SRTM_OK) {
        vs_state_clear(&st);
        return err;
    }
    *out = st;
    return SRTM_OK;
}

bool vs_state_fits(const vs_state *st)
{
    return st->instance_len <= VS_INSTANCE_MAX && st->blob_len <= VS_STATE_MAX;
}

void vs_state_clear(vs_state *st)
{
    if (!st)
        return;
    free(st->blob);
    st->blob = NULL;
    st->blob_len = 0;
}

/* ---- verdicts ---- */

typedef struct verdict_args {
    const char *host, *verdict, *reasons;
    int64_t time;
} verdict_args;

static srtm_err verdict_tx(vstore *s, void *ctx)
{
    verdict_args *a = ctx;
    int64_t changes = 0;
    vs_param p[] = {P_T(a->host), P_I(a->time), P_T(a->verdict), P_T(a->reasons)};
    srtm_err err = run(s, ST_VERDICT_INSERT, p, 4, NULL, NULL, &changes);
    err = not_found_if_none(s, err, changes, "host", a->host);
    vs_param q[] = {P_T(a->host), P_T(a->verdict), P_T(a->reasons)};
    if (err == SRTM_OK)
        err = run(s, ST_VERDICT_SET, q, 3, NULL, NULL, NULL);
    return err;
}

srtm_err store_verdict_append(vstore *s, const char *host, int64_t time, const char *verdict,
                              const char *reasons)
{
    verdict_args a = {host, verdict, reasons, time};
    srtm_err err = check_str(s, "host name", host, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = check_str(s, "verdict", verdict, VS_VERDICT_MAX, false);
    if (err == SRTM_OK)
        err = check_str(s, "reasons", reasons, VS_REASONS_MAX, true);
    if (err == SRTM_OK)
        err = in_tx(s, verdict_tx, &a);
    return err;
}

typedef struct verdict_page {
    vs_verdict *out;
    size_t max, n;
    int first_col; /* 0: time, verdict, reasons; 1: verdict, reasons */
} verdict_page;

static srtm_err row_verdict(vstore *s, void *ctx, const vs_row *r)
{
    verdict_page *pg = ctx;
    if (pg->n >= pg->max)
        return vs_fail(s, SRTM_E_INTERNAL, "more rows than asked for");
    vs_verdict *v = &pg->out[pg->n];
    int c = pg->first_col;
    v->time = c == 0 ? s->drv->col_i64(r, 0) : 0;
    srtm_err err = col_str(s, r, 1 - c, v->verdict, sizeof v->verdict);
    if (err == SRTM_OK)
        err = col_dup(s, r, 2 - c, VS_REASONS_MAX, &v->reasons, NULL);
    if (err == SRTM_OK)
        pg->n++;
    return err;
}

srtm_err store_verdict_current(vstore *s, const char *host, vs_verdict *out)
{
    vs_verdict v = {0};
    verdict_page pg = {.out = &v, .max = 1, .first_col = 1};
    srtm_err err = check_str(s, "host name", host, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = run(s, ST_VERDICT_CURRENT, (vs_param[]){P_T(host)}, 1, row_verdict, &pg, NULL);
    if (err == SRTM_OK && pg.n == 0)
        err = vs_fail(s, SRTM_E_NO_COMPONENT, "no host named '%s'", host);
    if (err != SRTM_OK) {
        vs_verdicts_free(&v, pg.n);
        return err;
    }
    *out = v;
    return SRTM_OK;
}

srtm_err store_verdict_history(vstore *s, const char *host, size_t skip, vs_verdict *out,
                               size_t max, size_t *n)
{
    verdict_page pg = {.out = out, .max = max};
    srtm_err err = check_page(s, out, max, n);
    if (err == SRTM_OK && skip > INT64_MAX)
        err = vs_fail(s, SRTM_E_RANGE, "page start out of range");
    if (err == SRTM_OK)
        err = host_exists(s, host);
    vs_param p[] = {P_T(host ? host : ""), P_I((int64_t)max), P_I((int64_t)skip)};
    if (err == SRTM_OK)
        err = run(s, ST_VERDICT_HISTORY, p, 3, row_verdict, &pg, NULL);
    if (err != SRTM_OK) {
        vs_verdicts_free(out, pg.n);
        return err;
    }
    *n = pg.n;
    return SRTM_OK;
}

void vs_verdicts_free(vs_verdict *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].reasons);
        v[i].reasons = NULL;
    }
}

/* ---- attempts and leases ---- */

static srtm_err check_lease(vstore *s, const char *node, int64_t now, int64_t lease_s)
{
    srtm_err err = check_str(s, "node id", node, VS_NODE_MAX, false);
    if (err == SRTM_OK && (lease_s < 1 || lease_s > VS_INTERVAL_MAX || now < 0 ||
                           now > INT64_MAX - VS_INTERVAL_MAX))
        err = vs_fail(s, SRTM_E_RANGE, "lease of %lld s at %lld out of range",
                      (long long)lease_s, (long long)now);
    return err;
}

/* What an attempt records: its host, node and outcome (and with n_params 5, next_due) are
 * checked, then stmt runs with (host, now, node, outcome[, next_due]). */
static srtm_err record_attempt(vstore *s, vs_stmt stmt, const char *host, const char *node,
                               int64_t now, const char *outcome, int64_t next_due,
                               size_t n_params)
{
    int64_t changes = 0;
    srtm_err err = check_str(s, "host name", host, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = check_lease(s, node, now, 1);
    if (err == SRTM_OK)
        err = check_str(s, "outcome", outcome, VS_OUTCOME_MAX, true);
    if (err == SRTM_OK && n_params == 5 && (next_due <= now || next_due - now > VS_INTERVAL_MAX))
        err = vs_fail(s, SRTM_E_INVALID, "next due time must lie within one year after now");
    vs_param p[] = {P_T(host ? host : ""), P_I(now), P_T(node ? node : ""),
                    P_T(outcome ? outcome : ""), P_I(next_due)};
    if (err == SRTM_OK)
        err = run(s, stmt, p, n_params, NULL, NULL, &changes);
    return not_found_if_none(s, err, changes, "host", host);
}

srtm_err store_attempt(vstore *s, const char *host, const char *node, int64_t now,
                       const char *outcome)
{
    return record_attempt(s, ST_ATTEMPT, host, node, now, outcome, 0, 4);
}

srtm_err store_attempt_next(vstore *s, const char *host, const char *node, int64_t now,
                            const char *outcome, int64_t next_due)
{
    return record_attempt(s, ST_ATTEMPT_NEXT, host, node, now, outcome, next_due, 5);
}

/* ---- an attempt's whole record, fenced by its lease ---- */

typedef struct record_args {
    const char *host, *node;
    const vs_record *r;
    bool changed;
    char previous[VS_VERDICT_MAX + 1];
} record_args;

static srtm_err record_tx(vstore *s, void *ctx)
{
    record_args *a = ctx;
    const vs_record *r = a->r;
    int64_t changes = 0;
    srtm_err err = run(s, ST_HOLD, (vs_param[]){P_T(a->host), P_T(a->node)}, 2, NULL, NULL,
                       &changes);
    if (err == SRTM_OK && changes == 0)
        return vs_fail(s, SRTM_E_DENIED, "node '%s' does not hold the lease of host '%s' "
                                         "(or there is no such host)", a->node, a->host);
    vs_verdict cur = {0};
    if (err == SRTM_OK)
        err = store_verdict_current(s, a->host, &cur); /* the host's row is held: it exists */
    if (err == SRTM_OK) {
        snprintf(a->previous, sizeof a->previous, "%s", cur.verdict);
        a->changed = strcmp(cur.verdict, r->verdict) != 0 || !cur.reasons ||
                     strcmp(cur.reasons, r->reasons) != 0;
        vs_verdicts_free(&cur, 1);
    }
    if (err == SRTM_OK && a->changed) {
        verdict_args v = {a->host, r->verdict, r->reasons, r->now};
        err = verdict_tx(s, &v);
    }
    if (err == SRTM_OK && r->state) {
        vs_state old = {0};
        srtm_err g = run(s, ST_STATE_GET, (vs_param[]){P_T(a->host)}, 1, row_state, &old, NULL);
        const vs_state *st = r->state;
        bool same = g == SRTM_OK && old.blob != NULL && old.instance_len == st->instance_len &&
                    memcmp(old.instance, st->instance, st->instance_len) == 0 &&
                    old.reset_count == st->reset_count &&
                    old.restart_count == st->restart_count && old.seq == st->seq &&
                    old.blob_len == st->blob_len &&
                    (st->blob_len == 0 || memcmp(old.blob, st->blob, st->blob_len) == 0);
        vs_state_clear(&old);
        err = g != SRTM_OK ? g : same ? SRTM_OK : store_state_put(s, a->host, st);
    }
    if (err == SRTM_OK)
        err = store_attempt_next(s, a->host, a->node, r->now, r->outcome, r->next_due);
    return err;
}

srtm_err store_record(vstore *s, const char *host, const char *node, const vs_record *r,
                      bool *changed, char previous[VS_VERDICT_MAX + 1])
{
    record_args a = {.host = host, .node = node, .r = r};
    srtm_err err = check_str(s, "host name", host, VS_NAME_MAX, false);
    if (err == SRTM_OK)
        err = check_lease(s, node, r ? r->now : 0, 1);
    if (err == SRTM_OK && !r)
        err = vs_fail(s, SRTM_E_INVALID, "no record");
    if (err == SRTM_OK)
        err = check_str(s, "verdict", r->verdict, VS_VERDICT_MAX, false);
    if (err == SRTM_OK)
        err = check_str(s, "reasons", r->reasons, VS_REASONS_MAX, true);
    if (err == SRTM_OK)
        err = in_tx(s, record_tx, &a);
    if (changed)
        *changed = err == SRTM_OK && a.changed;
    if (previous)
        snprintf(previous, VS_VERDICT_MAX + 1, "%s", a.previous);
    return err;
}

typedef struct claim_args {
    vs_param p[4];
    name_page pg;
} claim_args;

static srtm_err claim_tx(vstore *s, void *ctx)
{
    claim_args *a = ctx;
    a->pg.n = 0;
    return run(s, ST_CLAIM, a->p, 4, row_name, &a->pg, NULL);
}

srtm_err store_claim_due(vstore *s, const char *node, int64_t now, int64_t lease_s,
                         size_t limit, vs_name *out, size_t *n)
{
    srtm_err err = check_page(s, out, limit, n);
    if (err == SRTM_OK)
        err = check_lease(s, node, now, lease_s);
    if (err != SRTM_OK)
        return err;
    claim_args a = {.p = {P_T(node), P_I(now), P_I(now + lease_s), P_I((int64_t)limit)},
                    .pg = {.out = out, .max = limit}};
    err = in_tx(s, claim_tx, &a);
    if (err == SRTM_OK)
        *n = a.pg.n;
    return err;
}

typedef struct renew_args {
    const char *node;
    const vs_name *hosts;
    size_t n;
    int64_t expiry;
    int64_t changes;
} renew_args;

static srtm_err renew_tx(vstore *s, void *ctx)
{
    renew_args *a = ctx;
    srtm_err err = SRTM_OK;
    a->changes = 0;
    for (size_t i = 0; err == SRTM_OK && i < a->n; i++) {
        int64_t c = 0;
        err = run(s, ST_RENEW_ONE, (vs_param[]){P_T(a->node), P_I(a->expiry), P_T(a->hosts[i].s)},
                  3, NULL, NULL, &c);
        a->changes += c;
    }
    return err;
}

srtm_err store_renew_hosts(vstore *s, const char *node, const vs_name *hosts, size_t n,
                           int64_t now, int64_t lease_s, size_t *renewed)
{
    srtm_err err = check_lease(s, node, now, lease_s);
    for (size_t i = 0; err == SRTM_OK && i < n; i++)
        err = check_str(s, "host name", hosts[i].s, VS_NAME_MAX, false);
    if (err != SRTM_OK || n == 0) {
        if (err == SRTM_OK && renewed)
            *renewed = 0;
        return err;
    }
    renew_args a = {.node = node, .hosts = hosts, .n = n, .expiry = now + lease_s};
    err = in_tx(s, renew_tx, &a);
    if (err == SRTM_OK && renewed)
        *renewed = (size_t)a.changes;
    return err;
}

srtm_err store_release(vstore *s, const char *node, const char *host)
{
    srtm_err err = check_str(s, "node id", node, VS_NODE_MAX, false);
    if (err == SRTM_OK && host)
        err = check_str(s, "host name", host, VS_NAME_MAX, false);
    if (err != SRTM_OK)
        return err;
    if (host)
        return run(s, ST_RELEASE_ONE, (vs_param[]){P_T(node), P_T(host)}, 2, NULL, NULL, NULL);
    return run(s, ST_RELEASE_ALL, (vs_param[]){P_T(node)}, 1, NULL, NULL, NULL);
}

srtm_err store_stale(vstore *s, int64_t now, vs_name *out, size_t max, size_t *n)
{
    name_page pg = {.out = out, .max = max};
    srtm_err err = check_page(s, out, max, n);
    if (err == SRTM_OK)
        err = run(s, ST_STALE, (vs_param[]){P_I(now), P_I((int64_t)max)}, 2, row_name, &pg,
                  NULL);
    if (err == SRTM_OK)
        *n = pg.n;
    return err;
}
