/*
 * Private to the store: the back-end table. store.c holds every operation and its SQL once
 * (parameters written $1..$N, which both SQLite and PostgreSQL accept); a back-end only
 * runs numbered statements, reusing each prepared statement, and maps its errors to srtm_err.
 */
#ifndef SRTM_VERIFIERD_STORE_INT_H
#define SRTM_VERIFIERD_STORE_INT_H

#include <stdbool.h>

#include "store.h"

typedef enum vs_stmt {
    ST_SCHEMA_GET,
    ST_SCHEMA_SET,
    ST_POLICY_PUT,
    ST_POLICY_GET,
    ST_POLICY_VERSION,
    ST_POLICY_LIST,
    ST_HOST_ADD,
    ST_HOST_REMOVE,
    ST_HOST_GET,
    ST_HOST_LIST,
    ST_HOST_ID,
    ST_STATE_PUT,
    ST_STATE_GET,
    ST_VERDICT_INSERT,
    ST_VERDICT_SET,
    ST_VERDICT_CURRENT,
    ST_VERDICT_HISTORY,
    ST_ATTEMPT,
    ST_ATTEMPT_NEXT,
    ST_HOLD,
    ST_CLAIM,
    ST_RENEW_ONE,
    ST_RELEASE_ONE,
    ST_RELEASE_ALL,
    ST_STALE,
    ST_COUNT
} vs_stmt;

#define VS_PARAMS_MAX 8

typedef enum vs_ptype { VS_P_I64, VS_P_TEXT, VS_P_BLOB } vs_ptype;

typedef struct vs_param {
    vs_ptype type;
    int64_t i;
    const void *p; /* TEXT and BLOB: len bytes (never NULL) */
    size_t len;
} vs_param;

/* One result row, valid only during the callback. */
typedef struct vs_row {
    const void *impl;
    int index;
} vs_row;

typedef srtm_err (*vs_row_fn)(vstore *s, void *ctx, const vs_row *row);

typedef struct vs_driver {
    const char *name;
    /* Run statement stmt (SQL text sql) with params; fn is called for each row (may be NULL);
     * the number of rows changed into *changes (may be NULL). */
    srtm_err (*exec)(vstore *s, vs_stmt stmt, const char *sql, const vs_param *p, size_t np,
                     vs_row_fn fn, void *ctx, int64_t *changes);
    /* Run SQL text without parameters or results (schema). */
    srtm_err (*script)(vstore *s, const char *sql);
    int64_t (*col_i64)(const vs_row *r, int col);
    /* Column bytes (TEXT or BLOB; NUL-terminated), length into *len; "" for NULL. */
    const void *(*col_bytes)(const vs_row *r, int col, size_t *len);
    /* Begin a write transaction (SQLite: BEGIN IMMEDIATE). */
    srtm_err (*begin)(vstore *s);
    /* Commit when commit is true, else roll back; returns the commit's result. */
    srtm_err (*end)(vstore *s, bool commit);
    void (*close)(vstore *s);
    const char *schema_v1;   /* the schema's DDL in this back-end's types */
    const char *migrate_lock; /* run first in the migration transaction, or NULL */
    bool skip_locked;        /* claim with FOR UPDATE SKIP LOCKED */
} vs_driver;

struct vstore {
    const vs_driver *drv;
    void *impl;
    char errmsg[512];
};

/* Record a failure message on s and return err. */
srtm_err vs_fail(vstore *s, srtm_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

srtm_err vs_sqlite_open(const char *path, vstore *s);
srtm_err vs_pg_open(const char *uri, vstore *s);

#endif
