/*
 * The PostgreSQL back-end (libpq): one connection per store, every statement prepared once
 * per connection (named "vsN") with its parameter types, parameters and results in binary.
 * A claim locks the rows it takes with FOR UPDATE SKIP LOCKED inside its transaction, so
 * concurrent nodes take disjoint hosts without waiting for each other.
 *
 * A lost connection (server restart) fails the statement in flight with SRTM_E_TRANSPORT;
 * the next call reconnects and prepares again. Nothing is re-sent on its own: a statement
 * whose commit was not confirmed is the caller's to repeat.
 */
#include <endian.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Type OIDs of pg_type.h, fixed by PostgreSQL. */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

typedef struct pg {
    PGconn *conn;
    bool prepared[ST_COUNT];
    bool in_tx;
} pg;

static const char schema_v1[] =
    "CREATE TABLE policies (name TEXT COLLATE \"C\" PRIMARY KEY, body TEXT NOT NULL, "
    "  version TEXT NOT NULL, updated BIGINT NOT NULL);"
    "CREATE TABLE hosts (id BIGSERIAL PRIMARY KEY, name TEXT COLLATE \"C\" NOT NULL UNIQUE, "
    "  address TEXT NOT NULL, aik_pem TEXT NOT NULL, "
    "  policy TEXT COLLATE \"C\" NOT NULL REFERENCES policies (name), "
    "  interval_s BIGINT NOT NULL, added BIGINT NOT NULL, verdict TEXT NOT NULL DEFAULT '', "
    "  reasons TEXT NOT NULL DEFAULT '', last_attempt BIGINT NOT NULL DEFAULT 0, "
    "  last_node TEXT NOT NULL DEFAULT '', last_outcome TEXT NOT NULL DEFAULT '', "
    "  next_due BIGINT NOT NULL, lease_owner TEXT NOT NULL DEFAULT '', "
    "  lease_expiry BIGINT NOT NULL DEFAULT 0);"
    "CREATE INDEX hosts_due ON hosts (next_due);"
    "CREATE INDEX hosts_lease ON hosts (lease_owner);"
    "CREATE INDEX hosts_policy ON hosts (policy);"
    "CREATE TABLE host_state (host_id BIGINT PRIMARY KEY "
    "  REFERENCES hosts (id) ON DELETE CASCADE, instance BYTEA NOT NULL, "
    "  reset_count BIGINT NOT NULL, restart_count BIGINT NOT NULL, seq BIGINT NOT NULL, "
    "  blob BYTEA NOT NULL);"
    "CREATE TABLE verdicts (id BIGSERIAL PRIMARY KEY, host_id BIGINT NOT NULL "
    "  REFERENCES hosts (id) ON DELETE CASCADE, time BIGINT NOT NULL, "
    "  verdict TEXT NOT NULL, reasons TEXT NOT NULL);"
    "CREATE INDEX verdicts_host ON verdicts (host_id, time, id);";

/* After a failed result (or none): the srtm_err, with the server's message on s. */
static srtm_err pg_fail(vstore *s, pg *p, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    srtm_err err = SRTM_E_IO;
    if (PQstatus(p->conn) != CONNECTION_OK || (state && strncmp(state, "08", 2) == 0) ||
        (state && strncmp(state, "57P", 3) == 0))
        err = SRTM_E_TRANSPORT; /* connection lost, or the server shutting down */
    else if (state && strcmp(state, "23505") == 0)
        err = SRTM_E_EXISTS;
    else if (state && strcmp(state, "23503") == 0)
        err = SRTM_E_NO_COMPONENT;
    else if (state && strncmp(state, "23", 2) == 0)
        err = SRTM_E_INVALID;
    else if (state && strcmp(state, "54000") == 0)
        err = SRTM_E_TOO_BIG;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!*msg)
        msg = PQerrorMessage(p->conn);
    return vs_fail(s, err, "postgresql: %.*s", (int)strcspn(msg, "\n"), msg);
}

/* Reconnect a connection found broken, outside a transaction; statements are prepared
 * again on the new connection. */
static srtm_err pg_ensure(vstore *s, pg *p)
{
    if (PQstatus(p->conn) == CONNECTION_OK)
        return SRTM_OK;
    p->in_tx = false;
    memset(p->prepared, 0, sizeof p->prepared);
    PQreset(p->conn);
    return PQstatus(p->conn) == CONNECTION_OK ? SRTM_OK : pg_fail(s, p, NULL);
}

static srtm_err pg_prepare(vstore *s, pg *p, vs_stmt st, const char *sql, const vs_param *par,
                           size_t np)
{
    if (p->prepared[st])
        return SRTM_OK;
    Oid types[VS_PARAMS_MAX];
    for (size_t i = 0; i < np; i++)
        types[i] = par[i].type == VS_P_I64 ? OID_INT8
                   : par[i].type == VS_P_TEXT ? OID_TEXT : OID_BYTEA;
    char name[16];
    snprintf(name, sizeof name, "vs%d", (int)st);
    PGresult *res = PQprepare(p->conn, name, sql, (int)np, types);
    srtm_err err = PQresultStatus(res) == PGRES_COMMAND_OK ? SRTM_OK : pg_fail(s, p, res);
    PQclear(res);
    if (err == SRTM_OK)
        p->prepared[st] = true;
    return err;
}

static srtm_err pg_rows(vstore *s, PGresult *res, vs_row_fn fn, void *ctx, int64_t *changes)
{
    srtm_err err = SRTM_OK;
    int rows = PQntuples(res);
    for (int i = 0; fn && err == SRTM_OK && i < rows; i++)
        err = fn(s, ctx, &(vs_row){.impl = res, .index = i});
    if (err == SRTM_OK && changes) {
        const char *t = PQcmdTuples(res);
        *changes = *t ? strtoll(t, NULL, 10) : rows;
    }
    return err;
}

static srtm_err pg_exec(vstore *s, vs_stmt st, const char *sql, const vs_param *par, size_t np,
                        vs_row_fn fn, void *ctx, int64_t *changes)
{
    pg *p = s->impl;
    if (np > VS_PARAMS_MAX)
        return vs_fail(s, SRTM_E_INTERNAL, "too many parameters");
    srtm_err err = p->in_tx ? SRTM_OK : pg_ensure(s, p);
    if (err == SRTM_OK)
        err = pg_prepare(s, p, st, sql, par, np);
    if (err != SRTM_OK)
        return err;
    const char *values[VS_PARAMS_MAX];
    int lengths[VS_PARAMS_MAX], formats[VS_PARAMS_MAX];
    uint64_t be[VS_PARAMS_MAX];
    for (size_t i = 0; i < np; i++) {
        be[i] = htobe64((uint64_t)par[i].i);
        values[i] = par[i].type == VS_P_I64 ? (const char *)&be[i] : par[i].p;
        lengths[i] = par[i].type == VS_P_I64 ? 8 : (int)par[i].len;
        formats[i] = 1;
    }
    char name[16];
    snprintf(name, sizeof name, "vs%d", (int)st);
    PGresult *res = PQexecPrepared(p->conn, name, (int)np, values, lengths, formats, 1);
    ExecStatusType rs = PQresultStatus(res);
    if (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK)
        err = pg_rows(s, res, fn, ctx, changes);
    else
        err = pg_fail(s, p, res);
    PQclear(res);
    return err;
}

static srtm_err pg_script(vstore *s, const char *sql)
{
    pg *p = s->impl;
    PGresult *res = PQexec(p->conn, sql);
    ExecStatusType rs = PQresultStatus(res);
    srtm_err err = rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK ? SRTM_OK : pg_fail(s, p, res);
    PQclear(res);
    return err;
}

/* Binary int8, or int4 from an expression; 0 for NULL. */
static int64_t pg_col_i64(const vs_row *r, int col)
{
    const PGresult *res = r->impl;
    const unsigned char *v = (const unsigned char *)PQgetvalue(res, r->index, col);
    int len = PQgetlength(res, r->index, col);
    uint64_t x = 0;
    if (len != 8 && len != 4)
        return 0;
    for (int i = 0; i < len; i++)
        x = (x << 8) | v[i];
    return len == 8 ? (int64_t)x : (int64_t)(int32_t)(uint32_t)x;
}

static const void *pg_col_bytes(const vs_row *r, int col, size_t *len)
{
    const PGresult *res = r->impl;
    *len = (size_t)PQgetlength(res, r->index, col);
    return PQgetvalue(res, r->index, col); /* libpq NUL-terminates even binary values */
}

static srtm_err pg_begin(vstore *s)
{
    pg *p = s->impl;
    srtm_err err = pg_ensure(s, p);
    if (err == SRTM_OK)
        err = pg_script(s, "BEGIN");
    p->in_tx = err == SRTM_OK;
    return err;
}

static srtm_err pg_end(vstore *s, bool commit)
{
    pg *p = s->impl;
    srtm_err err = SRTM_OK;
    if (commit)
        err = pg_script(s, "COMMIT");
    else if (PQstatus(p->conn) == CONNECTION_OK)
        (void)pg_script(s, "ROLLBACK"); /* the first error is kept */
    p->in_tx = false;
    return err;
}

static void pg_close(vstore *s)
{
    pg *p = s->impl;
    if (!p)
        return;
    PQfinish(p->conn);
    free(p);
    s->impl = NULL;
}

static const vs_driver pg_driver = {
    .name = "postgresql",
    .exec = pg_exec,
    .script = pg_script,
    .col_i64 = pg_col_i64,
    .col_bytes = pg_col_bytes,
    .begin = pg_begin,
    .end = pg_end,
    .close = pg_close,
    .schema_v1 = schema_v1,
    /* Nodes opening one database at once create the schema one after the other. */
    .migrate_lock = "SELECT pg_advisory_xact_lock(7365617)",
    .skip_locked = true,
};

srtm_err vs_pg_open(const char *uri, vstore *s)
{
    if (strlen(uri) > 4096)
        return vs_fail(s, SRTM_E_TOO_BIG, "postgresql: URI over 4096 bytes");
    pg *p = calloc(1, sizeof *p);
    if (!p)
        return vs_fail(s, SRTM_E_NO_MEMORY, "out of memory");
    s->drv = &pg_driver;
    s->impl = p;
    p->conn = PQconnectdb(uri);
    if (!p->conn)
        return vs_fail(s, SRTM_E_NO_MEMORY, "out of memory");
    if (PQstatus(p->conn) != CONNECTION_OK)
        return pg_fail(s, p, NULL);
    return pg_script(s, "SET client_min_messages = warning");
}
