/*
 * The requests of the fleet verifier's HTTP API: a route table (method, collection, named
 * or not, sub-resource) in front of the operations of http_api.c, the status page and the
 * metrics. http_mhd.c reads requests off the connections and calls vh_handle. Operations
 * run under v->mu, the one lock of the one store connection.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "http_int.h"

typedef struct route {
    const char *method;
    const char *coll; /* "hosts", "policies", "stale" */
    bool named;
    const char *sub; /* NULL, "history", "ear" */
    size_t body_max;
    vh_op op;
} route;

static const route routes[] = {
    {.method = "GET", .coll = "hosts", .op = vh_op_hosts_list},
    {.method = "POST", .coll = "hosts", .body_max = VH_HOST_BODY_MAX, .op = vh_op_host_add},
    {.method = "GET", .coll = "hosts", .named = true, .op = vh_op_host_get},
    {.method = "DELETE", .coll = "hosts", .named = true, .op = vh_op_host_del},
    {.method = "GET", .coll = "hosts", .named = true, .sub = "history", .op = vh_op_history},
    {.method = "GET", .coll = "hosts", .named = true, .sub = "ear", .op = vh_op_ear},
    {.method = "GET", .coll = "policies", .op = vh_op_policy_list},
    {.method = "GET", .coll = "policies", .named = true, .op = vh_op_policy_get},
    {.method = "PUT", .coll = "policies", .named = true, .body_max = VS_POLICY_MAX,
     .op = vh_op_policy_put},
    {.method = "GET", .coll = "stale", .op = vh_op_stale},
};

int vh_fail(vreq *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return status;
}

int vh_store_fail(vreq *r, srtm_err err)
{
    const char *msg = store_errmsg(r->v->store);
    switch (err) {
    case SRTM_E_NO_COMPONENT:
        return vh_fail(r, 404, "%s", msg);
    case SRTM_E_EXISTS:
        return vh_fail(r, 409, "%s", msg);
    case SRTM_E_INVALID:
    case SRTM_E_TOO_BIG:
        return vh_fail(r, 400, "%s", msg);
    default:
        r->v->db_errors++;
        fprintf(stderr, "srtm-verifierd: http: database error: %s\n", msg);
        return vh_fail(r, 500, "database error");
    }
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : isxdigit(c) ? tolower(c) - 'a' + 10 : -1;
}

bool vh_decode(const char *src, size_t len, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval((unsigned char)src[i + 1]) : -1;
            int lo = hi >= 0 ? hexval((unsigned char)src[i + 2]) : -1;
            if (lo < 0)
                return false;
            c = hi * 16 + lo;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap)
            return false;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    return true;
}

bool vh_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > VS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

bool vh_param(const char *query, const char *key, char *buf, size_t cap, bool *bad)
{
    size_t klen = strlen(key);
    for (const char *p = query; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            if (!vh_decode(p + klen + 1, len - klen - 1, buf, cap))
                *bad = true;
            return !*bad;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* Split "/api/COLL[/NAME[/SUB]]" (no query); false when the shape is not that. */
static bool split_path(const char *path, char *coll, size_t ccap, char *name, size_t ncap,
                       char *sub, size_t scap, bool *bad_name)
{
    if (strncmp(path, "/api/", 5) != 0)
        return false;
    const char *p = path + 5, *s1 = strchr(p, '/');
    size_t clen = s1 != NULL ? (size_t)(s1 - p) : strlen(p);
    if (clen == 0 || clen >= ccap)
        return false;
    memcpy(coll, p, clen);
    coll[clen] = '\0';
    name[0] = sub[0] = '\0';
    if (s1 == NULL)
        return true;
    const char *n = s1 + 1, *s2 = strchr(n, '/');
    size_t nlen = s2 != NULL ? (size_t)(s2 - n) : strlen(n);
    if (!vh_decode(n, nlen, name, ncap) || !vh_name_ok(name))
        *bad_name = true;
    if (s2 == NULL)
        return true;
    size_t slen = strlen(s2 + 1);
    if (slen == 0 || slen >= scap || strchr(s2 + 1, '/') != NULL)
        return false;
    memcpy(sub, s2 + 1, slen + 1);
    return true;
}

/* Run op under the store lock; a module being stopped (store closed) answers 500. */
static int locked(vreq *r, vh_op op)
{
    pthread_mutex_lock(&r->v->mu);
    int status = r->v->store != NULL ? op(r) : vh_fail(r, 500, "shutting down");
    pthread_mutex_unlock(&r->v->mu);
    return status;
}

/* The route for method and path, or the status why none. */
static int find_route(const char *method, const char *path, vreq *r, const route **out)
{
    char coll[16], sub[16];
    bool bad_name = false, path_known = false;
    if (!split_path(path, coll, sizeof(coll), r->name, sizeof(r->name), sub, sizeof(sub),
                    &bad_name))
        return vh_fail(r, 404, "no such resource");
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        const route *rt = &routes[i];
        if (strcmp(rt->coll, coll) != 0 || rt->named != (r->name[0] != '\0' || bad_name) ||
            strcmp(rt->sub != NULL ? rt->sub : "", sub) != 0)
            continue;
        path_known = true;
        if (strcmp(rt->method, method) == 0) {
            *out = rt;
            return bad_name ? vh_fail(r, 400, "bad name in the path") : 200;
        }
    }
    return path_known ? vh_fail(r, 405, "method not allowed") : vh_fail(r, 404, "no such resource");
}

static int run_api(vreq *r, const char *method, const char *path)
{
    const route *rt = NULL;
    int status = find_route(method, path, r, &rt);
    if (status != 200)
        return status;
    if (r->body_len > rt->body_max)
        return rt->body_max == 0 ? vh_fail(r, 400, "this request takes no body")
                                 : vh_fail(r, 413, "body over %zu bytes", rt->body_max);
    return locked(r, rt->op);
}

static int run(vreq *r, const char *method, const char *path)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(path, "/") == 0 || strcmp(path, "/metrics") == 0) {
        if (!get)
            return vh_fail(r, 405, "method not allowed");
        if (r->body_len > 0)
            return vh_fail(r, 400, "this request takes no body");
        if (path[1] != '\0')
            return locked(r, vh_op_metrics);
        r->text = strdup(vh_page_html);
        r->text_len = r->text != NULL ? strlen(r->text) : 0;
        r->ctype = "text/html; charset=utf-8";
        r->csp = r->v->csp;
        return r->text != NULL ? 200 : vh_fail(r, 500, "out of memory");
    }
    return run_api(r, strcmp(method, "HEAD") == 0 ? "GET" : method, path);
}

/* The answer of a finished request: r's JSON or text, or {"error": r->err}. */
static bool answer(vreq *r, int status, vh_answer *a)
{
    const char *text = r->text;
    size_t len = r->text_len;
    a->status = status;
    a->ctype = r->ctype;
    a->csp = r->csp;
    if (status >= 400 || (r->json == NULL && r->text == NULL && status != 204)) {
        json_object_put(r->json);
        r->json = json_object_new_object();
        if (r->json != NULL)
            json_object_object_add(r->json, "error", json_object_new_string(r->err));
    }
    if (r->json != NULL) {
        text = json_object_to_json_string_ext(r->json, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        len = text != NULL ? strlen(text) : 0;
        a->ctype = "application/json";
        if (text == NULL)
            return false;
    }
    a->body = len > 0 ? malloc(len) : NULL;
    if (len > 0 && a->body == NULL)
        return false;
    if (len > 0)
        memcpy(a->body, text, len);
    a->len = len;
    return true;
}

size_t vh_body_max(const char *method, const char *path)
{
    vreq scratch = {0};
    const route *rt = NULL;
    if (strcmp(path, "/") == 0 || strcmp(path, "/metrics") == 0)
        return 0;
    (void)find_route(method, path, &scratch, &rt); /* a bad name still names a route */
    return rt != NULL ? rt->body_max : 0;
}

bool vh_handle(vhttp *v, const char *method, const char *target, const char *body,
               size_t body_len, vh_answer *a)
{
    vreq r = {.v = v, .now = (int64_t)time(NULL), .body = body, .body_len = body_len};
    char path[VH_TARGET_MAX + 1];
    size_t plen = strcspn(target, "?");
    int status;
    memset(a, 0, sizeof(*a));
    if (plen > VH_TARGET_MAX || target[0] != '/') {
        status = vh_fail(&r, 400, "bad request target");
    } else {
        memcpy(path, target, plen);
        path[plen] = '\0';
        r.query = target[plen] == '?' ? target + plen + 1 : "";
        status = run(&r, method, path);
    }
    bool ok = answer(&r, status, a);
    json_object_put(r.json);
    free(r.text);
    return ok;
}

/* The page may run its own script (allowed by its SHA-256) and fetch from this server,
 * nothing else: no other script, inline handler, frame or outside resource. */
static srtm_err page_csp(vhttp *v)
{
    unsigned char md[EVP_MAX_MD_SIZE], b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
    unsigned int len = 0;
    if (EVP_Digest(vh_page_script, strlen(vh_page_script), md, &len, EVP_sha256(), NULL) != 1)
        return SRTM_E_CRYPTO;
    EVP_EncodeBlock(b64, md, (int)len);
    int n = snprintf(v->csp, sizeof(v->csp),
                     "default-src 'none'; script-src 'sha256-%s'; style-src 'unsafe-inline'; "
                     "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                     "frame-ancestors 'none'",
                     b64);
    return n > 0 && (size_t)n < sizeof(v->csp) ? SRTM_OK : SRTM_E_TOO_BIG;
}

srtm_err vhttp_start(const vhttp_config *cfg, vhttp **out)
{
    if (cfg == NULL || out == NULL || cfg->listen_url == NULL || cfg->store_url == NULL ||
        cfg->node == NULL || strlen(cfg->node) > VS_NODE_MAX)
        return SRTM_E_INVALID;
    vhttp *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return SRTM_E_NO_MEMORY;
    pthread_mutex_init(&v->mu, NULL);
    snprintf(v->node, sizeof(v->node), "%s", cfg->node);
    v->metrics_text = cfg->metrics_text;
    v->metrics_ctx = cfg->metrics_ctx;
    char msg[256] = "";
    srtm_err err = store_open(cfg->store_url, &v->store, msg, sizeof(msg));
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-verifierd: http: store: %s\n", msg);
        err = SRTM_E_IO;
    }
    if (err == SRTM_OK)
        err = page_csp(v);
    if (err == SRTM_OK)
        err = vh_listen(v, cfg->listen_url);
    if (err != SRTM_OK) {
        vhttp_stop(v);
        return err;
    }
    *out = v;
    return SRTM_OK;
}

unsigned vhttp_port(const vhttp *v)
{
    return v->port;
}

void vhttp_stop(vhttp *v)
{
    if (v == NULL)
        return;
    vh_unlisten(v); /* every connection's thread has ended */
    store_close(v->store);
    pthread_mutex_destroy(&v->mu);
    free(v);
}
