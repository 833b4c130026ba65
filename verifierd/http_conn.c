/*
 * HTTP/1.1 on the wire for the fleet verifier's API: nng's TCP stream listener, one thread
 * per connection (at most VH_CONN_MAX at once), one request per connection (every answer
 * says Connection: close). The request is bounded before it is read: a head of at most
 * VH_HEAD_MAX bytes, a Content-Length no larger than the route takes (413, the body left
 * unread), no chunked bodies, every read and write under a time-out and the whole request
 * under VH_CONN_TIMEOUT_MS, so a slow client holds a connection's thread for a bounded time.
 *
 * nng's own HTTP server (nng/supplemental/http) is not used: in nng 1.5.2 (Debian 12) it
 * decodes the request path in place and, for a path that ends in a percent escape such as
 * "/x%41", steps past the string's NUL and copies heap bytes over the following chunk
 * (http_server.c, http_uri_canonify): one request from any client corrupts the server's
 * heap. Here the target is never decoded in place; http.c decodes names into bounded
 * buffers. TLS would be nng's tls+tcp:// stream with a TLS configuration at the listener.
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "http_int.h"

#define VH_HEAD_MAX (16u << 10)
#define VH_IO_TIMEOUT_MS 10000
#define VH_CONN_TIMEOUT_MS 30000 /* the whole request, read and answered */
#define VH_DRAIN_MAX (16u << 20)

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    default: return "Internal Server Error";
    }
}

/* The deadline of the connection this thread serves (one thread per connection). */
static _Thread_local nng_time conn_deadline;

/* One read or write on s with aio, within VH_IO_TIMEOUT_MS and the connection's deadline. */
static int io(nng_stream *s, nng_aio *aio, bool send, void *buf, size_t len, size_t *done)
{
    nng_iov iov = {.iov_buf = buf, .iov_len = len};
    nng_time now = nng_clock(), deadline = conn_deadline;
    *done = 0;
    if (now >= deadline)
        return NNG_ETIMEDOUT;
    int rv = nng_aio_set_iov(aio, 1, &iov);
    if (rv != 0)
        return rv;
    nng_aio_set_timeout(aio, deadline - now < VH_IO_TIMEOUT_MS ? (nng_duration)(deadline - now)
                                                               : VH_IO_TIMEOUT_MS);
    if (send)
        nng_stream_send(s, aio);
    else
        nng_stream_recv(s, aio);
    nng_aio_wait(aio);
    *done = nng_aio_count(aio);
    return nng_aio_result(aio);
}

static int send_all(nng_stream *s, nng_aio *aio, const char *p, size_t len)
{
    size_t n = 0;
    int rv = 0;
    while (rv == 0 && len > 0) {
        rv = io(s, aio, true, (void *)p, len, &n);
        p += n;
        len -= n;
    }
    return rv;
}

static void respond(nng_stream *s, nng_aio *aio, const vh_answer *a, bool head_only)
{
    char head[1024];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "%s%s%s%s%s%s\r\n",
                     a->status, reason(a->status), a->len, a->ctype ? "Content-Type: " : "",
                     a->ctype ? a->ctype : "", a->ctype ? "\r\n" : "",
                     a->csp ? "Content-Security-Policy: " : "", a->csp ? a->csp : "",
                     a->csp ? "\r\n" : "");
    if (n <= 0 || (size_t)n >= sizeof(head))
        return;
    if (send_all(s, aio, head, (size_t)n) == 0 && !head_only && a->len > 0)
        (void)send_all(s, aio, a->body, a->len);
}

static void respond_error(nng_stream *s, nng_aio *aio, int status, const char *json)
{
    vh_answer a = {.status = status, .ctype = "application/json", .body = (char *)json,
                   .len = strlen(json)};
    respond(s, aio, &a, false);
}

/* Read and drop what the client still sends of a refused body (at most VH_DRAIN_MAX), so
 * that closing the connection does not reset it before the client has read the answer. */
static void drain(nng_stream *s, nng_aio *aio, unsigned long long left)
{
    char buf[16384];
    size_t n = 0;
    if (left > VH_DRAIN_MAX)
        return; /* too much to wait for: the client may see a reset */
    while (left > 0 && io(s, aio, false, buf, sizeof(buf), &n) == 0 && n > 0)
        left = n < left ? left - n : 0;
}

/* The request head: "METHOD TARGET HTTP/1.x" and the headers we read. */
typedef struct head {
    char *method, *target;
    unsigned long long content_length;
    bool chunked;
} head;

/* Parse the NUL-terminated head text (without the final blank line) in place. */
static bool parse_head(char *text, head *h)
{
    char *line_end = strstr(text, "\r\n");
    if (line_end != NULL)
        *line_end = '\0';
    char *sp1 = strchr(text, ' '), *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == text || sp1 - text > 16 || sp2 == sp1 + 1 ||
        (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0))
        return false;
    *sp1 = *sp2 = '\0';
    h->method = text;
    h->target = sp1 + 1;
    for (char *m = h->method; *m != '\0'; m++)
        if (!isupper((unsigned char)*m))
            return false;
    bool have_length = false;
    for (char *l = line_end != NULL ? line_end + 2 : NULL; l != NULL && *l != '\0';) {
        char *e = strstr(l, "\r\n");
        if (e != NULL)
            *e = '\0';
        char *colon = strchr(l, ':');
        if (colon == NULL)
            return false;
        *colon = '\0';
        char *val = colon + 1 + strspn(colon + 1, " \t");
        if (strcasecmp(l, "Transfer-Encoding") == 0)
            h->chunked = true;
        if (strcasecmp(l, "Content-Length") == 0) {
            char *end = NULL;
            if (have_length || !isdigit((unsigned char)val[0]) || strlen(val) > 19)
                return false;
            h->content_length = strtoull(val, &end, 10);
            if (*(end + strspn(end, " \t")) != '\0')
                return false;
            have_length = true;
        }
        l = e != NULL ? e + 2 : NULL;
    }
    return true;
}

/* Read until the blank line ending the head; the bytes after it stay in buf (buf[len] is
 * set to NUL). The head itself may hold no NUL byte. */
static bool read_head(nng_stream *s, nng_aio *aio, char *buf, size_t *len, char **end)
{
    *len = 0;
    for (;;) {
        buf[*len] = '\0';
        *end = memmem(buf, *len, "\r\n\r\n", 4);
        size_t head_len = *end != NULL ? (size_t)(*end - buf) : *len;
        if (memchr(buf, '\0', head_len) != NULL)
            return false;
        if (*end != NULL)
            return true;
        size_t n = 0;
        if (*len == VH_HEAD_MAX || io(s, aio, false, buf + *len, VH_HEAD_MAX - *len, &n) != 0 ||
            n == 0)
            return false;
        *len += n;
    }
}

static void serve(vhttp *v, nng_stream *s, nng_aio *aio)
{
    char *buf = malloc(VH_HEAD_MAX + 1), *end = NULL, *body = NULL;
    size_t len = 0;
    head h = {0};
    if (buf == NULL || !read_head(s, aio, buf, &len, &end)) {
        if (buf != NULL && len > 0)
            respond_error(s, aio, 400, "{\"error\":\"bad or too large request head\"}");
        free(buf);
        return;
    }
    end[2] = '\0'; /* keep the last header's CRLF */
    size_t have = len - (size_t)(end + 4 - buf);
    char *rest = end + 4;
    char path[VH_TARGET_MAX + 1] = "";
    if (!parse_head(buf, &h) || h.chunked || strlen(h.target) > VH_TARGET_MAX) {
        respond_error(s, aio, 400, "{\"error\":\"bad request head, or a chunked body\"}");
        free(buf);
        return;
    }
    snprintf(path, sizeof(path), "%.*s", (int)strcspn(h.target, "?"), h.target);
    bool head_only = strcmp(h.method, "HEAD") == 0;
    size_t max = vh_body_max(head_only ? "GET" : h.method, path);
    if (h.content_length > max) {
        respond_error(s, aio, max == 0 ? 400 : 413,
                      max == 0 ? "{\"error\":\"this request takes no body\"}"
                               : "{\"error\":\"body over the size bound\"}");
        drain(s, aio, h.content_length - have);
        free(buf);
        return;
    }
    size_t want = (size_t)h.content_length, got = have < want ? have : want, n = 0;
    body = want > 0 ? malloc(want) : NULL;
    if (want > 0 && body == NULL) {
        free(buf);
        return;
    }
    if (got > 0)
        memcpy(body, rest, got);
    while (got < want && io(s, aio, false, body + got, want - got, &n) == 0 && n > 0)
        got += n;
    vh_answer a = {0};
    if (got == want && vh_handle(v, h.method, h.target, body, want, &a))
        respond(s, aio, &a, head_only);
    free(a.body);
    free(body);
    free(buf);
}

typedef struct conn {
    vhttp *v;
    nng_stream *s;
    size_t slot;
} conn;

static void *conn_main(void *arg)
{
    conn *c = arg;
    nng_aio *aio = NULL;
    conn_deadline = nng_clock() + VH_CONN_TIMEOUT_MS;
    if (nng_aio_alloc(&aio, NULL, NULL) == 0)
        serve(c->v, c->s, aio);
    nng_aio_free(aio);
    pthread_mutex_lock(&c->v->conn_mu);
    c->v->conns[c->slot] = NULL;
    c->v->n_conns--;
    pthread_cond_broadcast(&c->v->conn_cv);
    pthread_mutex_unlock(&c->v->conn_mu);
    nng_stream_free(c->s);
    free(c);
    return NULL;
}

/* Hand s to a thread of its own, or close it when VH_CONN_MAX are being served. */
static void start_conn(vhttp *v, nng_stream *s)
{
    conn *c = calloc(1, sizeof(*c));
    pthread_mutex_lock(&v->conn_mu);
    size_t i = 0;
    while (i < VH_CONN_MAX && v->conns[i] != NULL)
        i++;
    bool take = c != NULL && i < VH_CONN_MAX && !v->stopping;
    if (take) {
        *c = (conn){.v = v, .s = s, .slot = i};
        v->conns[i] = s;
        v->n_conns++;
    }
    pthread_mutex_unlock(&v->conn_mu);
    pthread_t t;
    pthread_attr_t attr;
    bool started = take && pthread_attr_init(&attr) == 0 &&
                   pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
                   pthread_create(&t, &attr, conn_main, c) == 0;
    if (take)
        pthread_attr_destroy(&attr);
    if (started)
        return;
    if (take) {
        pthread_mutex_lock(&v->conn_mu);
        v->conns[i] = NULL;
        v->n_conns--;
        pthread_mutex_unlock(&v->conn_mu);
    }
    nng_stream_free(s);
    free(c);
}

static void *accept_main(void *arg)
{
    vhttp *v = arg;
    nng_aio *aio = NULL;
    if (nng_aio_alloc(&aio, NULL, NULL) != 0)
        return NULL;
    for (;;) {
        nng_stream_listener_accept(v->listener, aio);
        nng_aio_wait(aio);
        int rv = nng_aio_result(aio);
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            break;
        if (rv == 0)
            start_conn(v, nng_aio_get_output(aio, 0));
        else
            nng_msleep(10); /* e.g. out of file descriptors: do not spin */
    }
    nng_aio_free(aio);
    return NULL;
}

srtm_err vh_listen(vhttp *v, const char *listen_url)
{
    char tcp[600];
    nng_stream_listener *l = NULL;
    pthread_mutex_init(&v->conn_mu, NULL);
    pthread_cond_init(&v->conn_cv, NULL);
    if (strncmp(listen_url, "http://", 7) != 0 ||
        snprintf(tcp, sizeof(tcp), "tcp://%s", listen_url + 7) >= (int)sizeof(tcp))
        return SRTM_E_INVALID;
    tcp[strcspn(tcp + 6, "/") + 6] = '\0'; /* no path */
    if (nng_stream_listener_alloc(&l, tcp) != 0)
        return SRTM_E_INVALID;
    v->listener = l;
    if (nng_stream_listener_listen(l) != 0)
        return SRTM_E_TRANSPORT;
    if (pthread_create(&v->acceptor, NULL, accept_main, v) != 0)
        return SRTM_E_NO_MEMORY;
    v->accepting = true;
    return SRTM_OK;
}

void vh_unlisten(vhttp *v)
{
    if (v->listener == NULL)
        return;
    nng_stream_listener_close(v->listener);
    if (v->accepting)
        pthread_join(v->acceptor, NULL);
    pthread_mutex_lock(&v->conn_mu);
    v->stopping = true;
    for (size_t i = 0; i < VH_CONN_MAX; i++)
        if (v->conns[i] != NULL)
            nng_stream_close(v->conns[i]);
    while (v->n_conns > 0)
        pthread_cond_wait(&v->conn_cv, &v->conn_mu);
    pthread_mutex_unlock(&v->conn_mu);
    nng_stream_listener_free(v->listener);
    v->listener = NULL;
    pthread_cond_destroy(&v->conn_cv);
    pthread_mutex_destroy(&v->conn_mu);
}
