/*
 * Private to the HTTP module: one request as the operations see it, and the pieces split
 * over http.c (routing, answers), http_mhd.c (HTTP/1.1 through libmicrohttpd),
 * http_api.c (the JSON operations), http_metrics.c and http_page.c (the status page).
 */
#ifndef SRTM_VERIFIERD_HTTP_INT_H
#define SRTM_VERIFIERD_HTTP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "http.h"
#include "store.h"

#define VH_PAGE_DEFAULT 100u
#define VH_PAGE_LIMIT 1000u          /* rows per API page */
#define VH_HOST_BODY_MAX (64u << 10) /* POST /api/hosts */
#define VH_SKIP_MAX 1000000000u

#define VH_TARGET_MAX 8192u          /* request target (path and query) */
#define VH_CONN_MAX 32u              /* connections served at once; more are refused */

struct vhttp {
    /* http_mhd.c: the libmicrohttpd daemon (struct MHD_Daemon) and the port it listens on. */
    void *mhd;
    uint16_t port;
    /* One store connection; mu covers every call on it and db_errors. */
    pthread_mutex_t mu;
    vstore *store;
    uint64_t db_errors;
    char node[VS_NODE_MAX + 1];
    char csp[256]; /* the page's Content-Security-Policy */
    int (*metrics_text)(void *ctx, char *buf, size_t cap, size_t *len);
    void *metrics_ctx;
};

typedef struct vreq {
    vhttp *v;
    char name[VS_NAME_MAX + 1]; /* the percent-decoded name of the path, "" when none */
    const char *query;          /* after '?', "" when none */
    const char *body;
    size_t body_len;
    int64_t now;
    /* The answer: JSON (owned), or text (owned, malloc'd) with its type. */
    json_object *json;
    char *text;
    size_t text_len;
    const char *ctype;
    const char *csp; /* a Content-Security-Policy to send, or NULL */
    char err[512];
} vreq;

/* One answer: status, type, body (malloc'd, len bytes), and the page's CSP or NULL. */
typedef struct vh_answer {
    int status;
    const char *ctype;
    const char *csp;
    char *body;
    size_t len;
} vh_answer;

/* Answer one request (method, target as sent: path and query, its body); false when
 * memory ran out. a->body is the caller's to free. */
bool vh_handle(vhttp *v, const char *method, const char *target, const char *body,
               size_t body_len, vh_answer *a);
/* The most body bytes method and path take (0: none, also for an unknown route). */
size_t vh_body_max(const char *method, const char *path);
/* Listen on listen_url (http://HOST:PORT, PORT 0: a free port) and serve until vh_unlisten. */
srtm_err vh_listen(vhttp *v, const char *listen_url);
/* Stop listening, close every connection, wait for the threads. Safe when not listening. */
void vh_unlisten(vhttp *v);

/* An operation runs with v->mu held and returns the HTTP status; on an error status it has
 * written r->err. */
typedef int (*vh_op)(vreq *r);

int vh_fail(vreq *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The status for a store failure (404, 409, 400, or 500, which counts a database error). */
int vh_store_fail(vreq *r, srtm_err err);
/* Query parameter key, percent-decoded into buf; false when absent. *bad when malformed. */
bool vh_param(const char *query, const char *key, char *buf, size_t cap, bool *bad);
/* Percent-decode src into dst (cap bytes with the NUL); false on bad escapes, a NUL byte or
 * overflow. */
bool vh_decode(const char *src, size_t len, char *dst, size_t cap);
/* A host or policy name: 1..VS_NAME_MAX bytes, no control bytes. */
bool vh_name_ok(const char *name);

int vh_op_hosts_list(vreq *r);
int vh_op_host_add(vreq *r);
int vh_op_host_get(vreq *r);
int vh_op_host_del(vreq *r);
int vh_op_history(vreq *r);
int vh_op_ear(vreq *r);
int vh_op_policy_list(vreq *r);
int vh_op_policy_get(vreq *r);
int vh_op_policy_put(vreq *r);
int vh_op_stale(vreq *r);
int vh_op_metrics(vreq *r);

extern const char vh_page_html[];
extern const char vh_page_script[];

#endif
