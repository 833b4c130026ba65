/*
 * HTTP/1.1 on the wire for the fleet verifier's API: GNU libmicrohttpd parses the requests
 * (a thread pool of VH_THREADS, at most VH_CONN_MAX connections, VH_IDLE_S without a byte
 * closes a connection, VH_CONN_MEMORY bytes of head per connection: a longer request line
 * is a 414, longer headers a 431). Every answer says Connection: close.
 *
 * What this file adds to libmicrohttpd's checks, before any body byte is read: a method of
 * upper-case letters, no Transfer-Encoding (so no chunked body), one Content-Length and
 * none over the route's bound (413, or 400 for a route that takes no body; the body is left
 * unread), a request target of at most VH_TARGET_MAX bytes and no NUL byte. The body is
 * collected into a buffer of exactly Content-Length bytes.
 *
 * The request target is taken raw, as the client sent it, from the URI callback: http.c
 * alone percent-decodes names, into bounded buffers, refusing %00 and bad escapes.
 * libmicrohttpd's own unescaping is switched off (it would end a name at a %00 and turn a
 * %2F inside a name into a path separator).
 *
 * nng's HTTP server (nng/supplemental/http) is not used: in nng 1.5.2 (Debian 12) it
 * decodes the request path in place and, for a path that ends in a percent escape such as
 * "/x%41", steps past the string's NUL and copies heap bytes over the following chunk
 * (http_server.c, http_uri_canonify): one request from any client corrupts its heap.
 * TLS for the API would be MHD_USE_TLS with MHD_OPTION_HTTPS_MEM_KEY/CERT here (Debian's
 * libmicrohttpd is built with GnuTLS).
 */
#define _GNU_SOURCE /* memrchr */
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "common.h"
#include "http_int.h"

#define VH_THREADS 4u
#define VH_IDLE_S 10u
#define VH_CONN_MEMORY (16u << 10)

/* One request: its raw target (from the URI callback) and its body as it arrives. Owned
 * by libmicrohttpd's request context; freed in request_done. */
typedef struct vh_req {
    bool started;
    bool target_too_long;
    const char *raw; /* the target in libmicrohttpd's buffer, valid until the head is parsed */
    size_t raw_len;  /* strlen(raw), at most VH_TARGET_MAX + 1 */
    char target[VH_TARGET_MAX + 1];
    char *body;
    size_t len, want;
} vh_req;

static void *request_start(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    vh_req *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    size_t n = strnlen(uri, VH_TARGET_MAX + 1);
    q->raw = uri;
    q->raw_len = n;
    q->target_too_long = n > VH_TARGET_MAX;
    if (!q->target_too_long)
        memcpy(q->target, uri, n + 1);
    return q;
}

static void request_done(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    vh_req *q = *req_cls;
    if (q != NULL) {
        free(q->body);
        free(q);
    }
    *req_cls = NULL;
}

/* Names are decoded by http.c from the raw target, never by libmicrohttpd. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    srtm_log(SRTM_LOG_DEBUG, "verifierd: http: %s", msg);
}

/* Send a (body malloc'd, handed over; NULL when len is 0). */
static enum MHD_Result respond(struct MHD_Connection *c, vh_answer *a)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(a->len, a->len > 0 ? a->body : (void *)"",
                                        a->len > 0 ? MHD_RESPMEM_MUST_FREE
                                                   : MHD_RESPMEM_PERSISTENT);
    if (res == NULL) {
        free(a->body);
        return MHD_NO;
    }
    if (a->len == 0)
        free(a->body);
    a->body = NULL;
    enum MHD_Result ok = MHD_add_response_header(res, "Connection", "close");
    if (ok == MHD_YES)
        ok = MHD_add_response_header(res, "Cache-Control", "no-store");
    if (ok == MHD_YES)
        ok = MHD_add_response_header(res, "X-Content-Type-Options", "nosniff");
    if (ok == MHD_YES && a->ctype != NULL)
        ok = MHD_add_response_header(res, "Content-Type", a->ctype);
    if (ok == MHD_YES && a->csp != NULL)
        ok = MHD_add_response_header(res, "Content-Security-Policy", a->csp);
    if (ok == MHD_YES)
        ok = MHD_queue_response(c, (unsigned int)a->status, res);
    MHD_destroy_response(res);
    return ok;
}

static enum MHD_Result refuse(struct MHD_Connection *c, int status, const char *json)
{
    size_t len = strlen(json);
    vh_answer a = {.status = status, .ctype = "application/json", .body = malloc(len),
                   .len = len};
    if (a.body == NULL)
        return MHD_NO;
    memcpy(a.body, json, len);
    return respond(c, &a);
}

static enum MHD_Result count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, "Content-Length") == 0)
        (*(unsigned *)cls)++;
    return MHD_YES;
}

/* Whether the target is whole: libmicrohttpd 0.9.75 keeps the request line in place and
 * ends the target with a NUL just before the version, so a target that stops earlier held a
 * NUL byte of its own ("/api/hosts/alpha\0x" would be served as alpha). Were the line not
 * kept in place, every request would be refused (fail closed; the tests would show it). */
static bool target_whole(const vh_req *q, const char *url, const char *version)
{
    return !q->target_too_long && url == q->raw && version[0] != '\0' &&
           q->raw + q->raw_len + 1 == version;
}

/* The head is complete, no body byte read: refuse what this server does not take (the
 * status and *why, a JSON answer), or make room for the body (0). */
static int check_head(struct MHD_Connection *c, vh_req *q, const char *method, bool whole,
                      const char **why)
{
    unsigned lengths = 0;
    size_t mlen = strlen(method), cl_len = 0;
    bool method_ok = mlen > 0 && mlen <= 16 && strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == mlen;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL)
        cl_len = strlen(cl);
    (void)MHD_get_connection_values(c, MHD_HEADER_KIND, count_length, &lengths);
    *why = "{\"error\":\"bad request head, or a chunked body\"}";
    /* libmicrohttpd refuses a malformed Content-Length itself; not relied upon here. */
    if (!method_ok || lengths > 1 || !whole ||
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding") != NULL ||
        (cl != NULL && (cl_len == 0 || cl_len > 19 || strspn(cl, "0123456789") != cl_len)))
        return 400;
    unsigned long long want = cl != NULL ? strtoull(cl, NULL, 10) : 0;
    char path[VH_TARGET_MAX + 1];
    snprintf(path, sizeof(path), "%.*s", (int)strcspn(q->target, "?"), q->target);
    size_t max = vh_body_max(strcmp(method, "HEAD") == 0 ? "GET" : method, path);
    if (want > max) {
        *why = max == 0 ? "{\"error\":\"this request takes no body\"}"
                        : "{\"error\":\"body over the size bound\"}";
        return max == 0 ? 400 : 413;
    }
    q->want = (size_t)want;
    q->body = q->want > 0 ? malloc(q->want) : NULL;
    return q->want > 0 && q->body == NULL ? 500 : 0;
}

/* libmicrohttpd calls this once when the head is in, once per piece of body, and once
 * when the body is complete (*upload_len 0): then the request is answered. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_len, void **req_cls)
{
    vh_req *q = *req_cls; /* its raw target is used, not url */
    const char *why = NULL;
    if (q == NULL)
        return MHD_NO; /* out of memory in request_start: close */
    if (!q->started) {
        q->started = true;
        int status = check_head(c, q, method, target_whole(q, url, version), &why);
        return status == 0 ? MHD_YES : status == 500 ? MHD_NO : refuse(c, status, why);
    }
    if (*upload_len > 0) {
        if (*upload_len > q->want - q->len)
            return MHD_NO; /* more than Content-Length said: cannot happen, close */
        memcpy(q->body + q->len, upload, *upload_len);
        q->len += *upload_len;
        *upload_len = 0;
        return MHD_YES;
    }
    vh_answer a = {0};
    if (q->len != q->want || !vh_handle(cls, method, q->target, q->body, q->len, &a)) {
        free(a.body);
        return MHD_NO;
    }
    return respond(c, &a);
}

/* The address of listen_url, "http://HOST:PORT" (HOST may be [v6], a name or empty for
 * every address; PORT 0 picks a free port), into *out (freeaddrinfo). */
static srtm_err resolve(const char *listen_url, struct addrinfo **out)
{
    char host[256], port[8];
    const char *h = listen_url + 7, *colon = NULL;
    if (strncmp(listen_url, "http://", 7) != 0)
        return SRTM_E_INVALID;
    size_t hlen = strcspn(h, "/");
    const char *end = h + hlen;
    if (h[0] == '[') {
        const char *close = memchr(h, ']', hlen);
        colon = close != NULL && close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        h++;
    } else {
        colon = memrchr(h, ':', hlen);
    }
    if (colon == NULL)
        return SRTM_E_INVALID;
    size_t n = (size_t)(colon - h) - (h[-1] == '[' ? 1 : 0), plen = (size_t)(end - colon - 1);
    if (n >= sizeof(host) || plen == 0 || plen >= sizeof(port) ||
        strspn(colon + 1, "0123456789") < plen)
        return SRTM_E_INVALID;
    memcpy(host, h, n);
    host[n] = '\0';
    memcpy(port, colon + 1, plen);
    port[plen] = '\0';
    if (strtoul(port, NULL, 10) > 65535)
        return SRTM_E_INVALID;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    return getaddrinfo(n > 0 ? host : NULL, port, &hints, out) == 0 ? SRTM_OK : SRTM_E_INVALID;
}

srtm_err vh_listen(vhttp *v, const char *listen_url)
{
    struct addrinfo *ai = NULL;
    srtm_err err = resolve(listen_url, &ai);
    if (err != SRTM_OK)
        return err;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, v, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, VH_THREADS, MHD_OPTION_CONNECTION_LIMIT, VH_CONN_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, VH_IDLE_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)VH_CONN_MEMORY, MHD_OPTION_URI_LOG_CALLBACK, request_start, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_UNESCAPE_CALLBACK,
        no_unescape, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (d == NULL)
        return SRTM_E_TRANSPORT;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    v->mhd = d;
    v->port = info != NULL ? info->port : 0;
    return v->port != 0 ? SRTM_OK : SRTM_E_TRANSPORT;
}

void vh_unlisten(vhttp *v)
{
    if (v->mhd != NULL)
        MHD_stop_daemon(v->mhd); /* waits for its threads, a request in flight included */
    v->mhd = NULL;
}
