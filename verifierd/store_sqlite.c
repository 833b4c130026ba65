/*
 * The SQLite back-end: one database file in WAL mode (readers do not block the writer),
 * a busy time-out so that several connections wait for each other instead of failing,
 * foreign keys on, and every statement prepared once and reused. Write transactions are
 * BEGIN IMMEDIATE: the write lock is taken at the start, so a claim reads and updates the
 * leases with no other writer in between.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_int.h"

#define BUSY_TIMEOUT_MS 10000

typedef struct sq {
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
} sq;

static const char schema_v1[] =
    "CREATE TABLE policies (name TEXT PRIMARY KEY, body TEXT NOT NULL, "
    "  version TEXT NOT NULL, updated INTEGER NOT NULL);"
    "CREATE TABLE hosts (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE, "
    "  address TEXT NOT NULL, aik_pem TEXT NOT NULL, "
    "  policy TEXT NOT NULL REFERENCES policies (name), interval_s INTEGER NOT NULL, "
    "  added INTEGER NOT NULL, verdict TEXT NOT NULL DEFAULT '', "
    "  reasons TEXT NOT NULL DEFAULT '', last_attempt INTEGER NOT NULL DEFAULT 0, "
    "  last_node TEXT NOT NULL DEFAULT '', last_outcome TEXT NOT NULL DEFAULT '', "
    "  next_due INTEGER NOT NULL, lease_owner TEXT NOT NULL DEFAULT '', "
    "  lease_expiry INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX hosts_due ON hosts (next_due);"
    "CREATE INDEX hosts_lease ON hosts (lease_owner);"
    "CREATE INDEX hosts_policy ON hosts (policy);"
    "CREATE TABLE host_state (host_id INTEGER PRIMARY KEY "
    "  REFERENCES hosts (id) ON DELETE CASCADE, instance BLOB NOT NULL, "
    "  reset_count INTEGER NOT NULL, restart_count INTEGER NOT NULL, seq INTEGER NOT NULL, "
    "  blob BLOB NOT NULL);"
    "CREATE TABLE verdicts (id INTEGER PRIMARY KEY AUTOINCREMENT, host_id INTEGER NOT NULL "
    "  REFERENCES hosts (id) ON DELETE CASCADE, time INTEGER NOT NULL, "
    "  verdict TEXT NOT NULL, reasons TEXT NOT NULL);"
    "CREATE INDEX verdicts_host ON verdicts (host_id, time, id);";

/* SQLite's result code as srtm_err, with its message recorded on s. */
static srtm_err sq_fail(vstore *s, sqlite3 *db, int rc)
{
    srtm_err err = SRTM_E_IO;
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        err = SRTM_E_TIMEOUT;
        break;
    case SQLITE_NOMEM:
        err = SRTM_E_NO_MEMORY;
        break;
    case SQLITE_TOOBIG:
        err = SRTM_E_TOO_BIG;
        break;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
            err = SRTM_E_NO_COMPONENT;
        else if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
            err = SRTM_E_EXISTS;
        else
            err = SRTM_E_INVALID;
        break;
    }
    return vs_fail(s, err, "sqlite: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static srtm_err sq_prepare(vstore *s, sq *q, vs_stmt st, const char *sql)
{
    if (q->stmt[st])
        return SRTM_OK;
    int rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->stmt[st], NULL);
    return rc == SQLITE_OK ? SRTM_OK : sq_fail(s, q->db, rc);
}

/* Parameters are written $1..$N in the SQL; bind each by that name. */
static srtm_err sq_bind(vstore *s, sq *q, sqlite3_stmt *stmt, const vs_param *p, size_t np)
{
    for (size_t i = 0; i < np; i++) {
        char name[24];
        snprintf(name, sizeof name, "$%zu", i + 1);
        int idx = sqlite3_bind_parameter_index(stmt, name), rc;
        if (idx == 0)
            return vs_fail(s, SRTM_E_INTERNAL, "statement has no parameter %s", name);
        if (p[i].type == VS_P_I64)
            rc = sqlite3_bind_int64(stmt, idx, p[i].i);
        else if (p[i].type == VS_P_TEXT)
            rc = sqlite3_bind_text64(stmt, idx, p[i].p, p[i].len, SQLITE_STATIC, SQLITE_UTF8);
        else
            rc = sqlite3_bind_blob64(stmt, idx, p[i].p, p[i].len, SQLITE_STATIC);
        if (rc != SQLITE_OK)
            return sq_fail(s, q->db, rc);
    }
    return SRTM_OK;
}

static srtm_err sq_exec(vstore *s, vs_stmt st, const char *sql, const vs_param *p, size_t np,
                        vs_row_fn fn, void *ctx, int64_t *changes)
{
    sq *q = s->impl;
    srtm_err err = sq_prepare(s, q, st, sql);
    sqlite3_stmt *stmt = q->stmt[st];
    if (err == SRTM_OK)
        err = sq_bind(s, q, stmt, p, np);
    int rc = SQLITE_DONE;
    while (err == SRTM_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        if (fn)
            err = fn(s, ctx, &(vs_row){.impl = stmt});
    if (err == SRTM_OK && rc != SQLITE_DONE)
        err = sq_fail(s, q->db, sqlite3_extended_errcode(q->db));
    if (err == SRTM_OK && changes)
        *changes = sqlite3_changes64(q->db);
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    return err;
}

static srtm_err sq_script(vstore *s, const char *sql)
{
    sq *q = s->impl;
    int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? SRTM_OK : sq_fail(s, q->db, sqlite3_extended_errcode(q->db));
}

static int64_t sq_col_i64(const vs_row *r, int col)
{
    return sqlite3_column_int64((sqlite3_stmt *)r->impl, col);
}

static const void *sq_col_bytes(const vs_row *r, int col, size_t *len)
{
    sqlite3_stmt *stmt = (sqlite3_stmt *)r->impl;
    /* text() before bytes(): the length is that of the text form, NUL-terminated. */
    const void *v = sqlite3_column_type(stmt, col) == SQLITE_BLOB
                        ? sqlite3_column_blob(stmt, col)
                        : (const void *)sqlite3_column_text(stmt, col);
    *len = (size_t)sqlite3_column_bytes(stmt, col);
    return v ? v : "";
}

static srtm_err sq_begin(vstore *s)
{
    return sq_script(s, "BEGIN IMMEDIATE");
}

static srtm_err sq_end(vstore *s, bool commit)
{
    sq *q = s->impl;
    if (commit)
        return sq_script(s, "COMMIT");
    if (sqlite3_get_autocommit(q->db) == 0)
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL); /* the first error is kept */
    return SRTM_OK;
}

static void sq_close(vstore *s)
{
    sq *q = s->impl;
    if (!q)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(q->stmt[i]);
    sqlite3_close(q->db);
    free(q);
    s->impl = NULL;
}

static const vs_driver sqlite_driver = {
    .name = "sqlite",
    .exec = sq_exec,
    .script = sq_script,
    .col_i64 = sq_col_i64,
    .col_bytes = sq_col_bytes,
    .begin = sq_begin,
    .end = sq_end,
    .close = sq_close,
    .schema_v1 = schema_v1,
    .migrate_lock = NULL, /* BEGIN IMMEDIATE already serialises */
    .skip_locked = false,
};

srtm_err vs_sqlite_open(const char *path, vstore *s)
{
    if (!path || !*path || strlen(path) > 4096)
        return vs_fail(s, SRTM_E_INVALID, "sqlite: no database path, or one over 4096 bytes");
    sq *q = calloc(1, sizeof *q);
    if (!q)
        return vs_fail(s, SRTM_E_NO_MEMORY, "out of memory");
    s->drv = &sqlite_driver;
    s->impl = q;
    int rc = sqlite3_open_v2(path, &q->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        return sq_fail(s, q->db, rc);
    sqlite3_extended_result_codes(q->db, 1);
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
    /* Switching a new database to WAL takes its exclusive lock; SQLite answers SQLITE_BUSY
     * at once, without the busy handler, to one of two connections doing so together
     * (nodes started at once on a new database), so that is retried here, within the
     * same time-out. */
    srtm_err err;
    for (int waited_ms = 0;; waited_ms += 5) {
        err = sq_script(s, "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;");
        if (err != SRTM_E_TIMEOUT || waited_ms >= BUSY_TIMEOUT_MS)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000000L}, NULL);
    }
    return err;
}
