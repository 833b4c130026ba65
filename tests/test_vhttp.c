/*
 * The fleet verifier's HTTP API (verifierd/http.h) against a SQLite store in a temporary
 * directory, populated through store.h: every endpoint, paging, bad input refused without
 * a change, the metrics text, the status page in a real headless browser (chromium) with a
 * host name and a reason holding markup, and the test-only server tests/vhttp_serve.c.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "http.h"
#include "store.h"

#define XSS_NAME "<script>document.title='pwned'</script>"
#define XSS_NAME_URL "%3Cscript%3Edocument.title%3D'pwned'%3C%2Fscript%3E"
#define XSS_REASON "<img src=x onerror=\\\"document.title='pwned2'\\\">"
#define AIK                                                                              \
    "-----BEGIN PUBLIC KEY-----\n"                                                       \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJokf0qWcqcorywBd6/LflHJKs6XK\n"                 \
    "hsv5snihv8aAP/2+6D4QivSHEPM3ccRqMuDPejNMQSGq3EDpZoFl4W0U0Q==\n"                     \
    "-----END PUBLIC KEY-----\n"
#define AIK_JSON                                                                         \
    "-----BEGIN PUBLIC KEY-----\\n"                                                      \
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEJokf0qWcqcorywBd6/LflHJKs6XK\\n"                \
    "hsv5snihv8aAP/2+6D4QivSHEPM3ccRqMuDPejNMQSGq3EDpZoFl4W0U0Q==\\n"                    \
    "-----END PUBLIC KEY-----\\n"
#define H64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
               c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define POLICY                                                                           \
    "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"             \
    "\"pcrs\":{\"proof\":{\"15\":\"" H64("0") "\"},\"running\":{\"15\":\"" H64("1") "\"}}," \
    "\"components\":{\"vm-a\":{\"ccrs\":{\"0\":{\"allowed_digests\":[]}}}}}"

static struct {
    char dir[256];
    char url[300];
    int port;
    vstore *s;
    vhttp *v;
    int64_t now;
} F;

static int loop_metrics(void *ctx, char *buf, size_t cap, size_t *len)
{
    (void)ctx;
    int n = snprintf(buf, cap, "# TYPE srtm_fleet_loop_attempts_total counter\n"
                               "srtm_fleet_loop_attempts_total 7\n");
    *len = (size_t)n;
    return n < 0 || (size_t)n >= cap;
}

static void add_host(const char *name, const char *policy, int64_t interval, int64_t added)
{
    vs_host h = {0};
    snprintf(h.name, sizeof h.name, "%s", name);
    snprintf(h.address, sizeof h.address, "tcp://10.0.0.1:4711");
    snprintf(h.aik_pem, sizeof h.aik_pem, "%s", AIK);
    snprintf(h.policy, sizeof h.policy, "%s", policy);
    h.interval_s = interval;
    cr_assert_eq(store_host_add(F.s, &h, added, NULL), SRTM_OK, "%s", store_errmsg(F.s));
}

/* alpha trusted, beta untrusted (three changes), gamma never attempted and stale, the
 * markup host untrusted with a markup reason. */
static void populate(void)
{
    int64_t t = F.now;
    cr_assert_eq(store_policy_put(F.s, "base", POLICY, strlen(POLICY), t), SRTM_OK);
    cr_assert_eq(store_policy_put(F.s, "other", POLICY, strlen(POLICY), t), SRTM_OK);
    add_host("alpha", "base", 60, t);
    add_host("beta", "base", 60, t);
    add_host("gamma", "other", 10, t - 1000);
    add_host(XSS_NAME, "base", 60, t);
    cr_assert_eq(store_verdict_append(F.s, "alpha", t - 5, "trusted", "[]"), SRTM_OK);
    cr_assert_eq(store_verdict_append(F.s, "beta", t - 30, "trusted", "[]"), SRTM_OK);
    cr_assert_eq(store_verdict_append(F.s, "beta", t - 20, "untrusted", "[\"old reason\"]"),
                 SRTM_OK);
    cr_assert_eq(store_verdict_append(F.s, "beta", t - 10, "untrusted",
                                      "[\"quote-pcrs-reference: PCR 15 differs\","
                                      "\"vm-a: digest not allowed\"]"),
                 SRTM_OK);
    cr_assert_eq(store_verdict_append(F.s, XSS_NAME, t - 3, "untrusted", "[\"" XSS_REASON "\"]"),
                 SRTM_OK);
    cr_assert_eq(store_attempt(F.s, "alpha", "node-1", t - 5, "ok"), SRTM_OK);
    cr_assert_eq(store_attempt(F.s, "beta", "node-2", t - 10, "verified"), SRTM_OK);
    cr_assert_eq(store_attempt(F.s, XSS_NAME, "node-1", t - 3, "ok"), SRTM_OK);
}

static void init(void)
{
    memset(&F, 0, sizeof F);
    snprintf(F.dir, sizeof F.dir, "/tmp/srtm-vhttp-XXXXXX");
    cr_assert_not_null(mkdtemp(F.dir));
    snprintf(F.url, sizeof F.url, "sqlite:%s/store.db", F.dir);
    F.now = (int64_t)time(NULL);
    char err[256];
    cr_assert_eq(store_open(F.url, &F.s, err, sizeof err), SRTM_OK, "%s", err);
    populate();
    F.port = test_free_port();
    char listen[64];
    snprintf(listen, sizeof listen, "http://127.0.0.1:%d", F.port);
    vhttp_config cfg = {.listen_url = listen, .store_url = F.url, .node = "node-1",
                        .metrics_text = loop_metrics};
    cr_assert_eq(vhttp_start(&cfg, &F.v), SRTM_OK);
}

static void fini(void)
{
    vhttp_stop(F.v);
    store_close(F.s);
    const char *rm[] = {"/bin/rm", "-rf", F.dir, NULL};
    char out[64];
    (void)test_run(rm, out, sizeof out, NULL, 0);
}

TestSuite(vhttp, .init = init, .fini = fini, .timeout = 120);

typedef struct reply {
    int status;
    char *head;
    char *body; /* inside head's buffer */
    size_t body_len;
} reply;

static void reply_free(reply *r)
{
    free(r->head);
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the server may refuse before reading it all */
        p += n;
        len -= (size_t)n;
    }
}

/* One request over a fresh connection (Connection: close); the whole answer. */
static reply http_port(int port, const char *method, const char *path, const char *body,
                       size_t body_len)
{
    int fd = dial(port);
    char head[4096];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, path, body != NULL ? body_len : 0);
    cr_assert(n > 0 && (size_t)n < sizeof head);
    send_all(fd, head, (size_t)n);
    if (body != NULL)
        send_all(fd, body, body_len);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t got;
    while ((got = read(fd, buf + len, cap - len)) > 0) {
        len += (size_t)got;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    close(fd);
    buf[len] = '\0';
    reply r = {.head = buf};
    cr_assert_eq(sscanf(buf, "HTTP/1.1 %d", &r.status), 1, "%s %s (%zu body bytes): answer: %.200s",
                 method, path, body_len, buf);
    char *sep = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(sep);
    r.body = sep + 4;
    r.body_len = len - (size_t)(r.body - buf);
    return r;
}

static reply http(const char *method, const char *path, const char *body)
{
    return http_port(F.port, method, path, body, body != NULL ? strlen(body) : 0);
}

/* GET path, expect status, answer the parsed JSON (owned by the caller). */
static json_object *get_json(const char *method, const char *path, const char *body, int status)
{
    reply r = http(method, path, body);
    cr_assert_eq(r.status, status, "%s %s: %d %s", method, path, r.status, r.body);
    json_object *o = json_tokener_parse(r.body);
    cr_assert_not_null(o, "%s %s: not JSON: %s", method, path, r.body);
    reply_free(&r);
    return o;
}

static json_object *at(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no %s in %s", key,
              json_object_to_json_string(o));
    return v;
}

static const char *str_at(json_object *o, const char *key)
{
    return json_object_get_string(at(o, key));
}

static size_t host_count(void)
{
    vs_host *h = calloc(200, sizeof(*h));
    size_t n = 0;
    cr_assert_eq(store_host_list(F.s, "", h, 200, &n), SRTM_OK);
    free(h);
    return n;
}

/* An error answer: status, JSON {"error": ...} holding part (NULL: any). */
static void expect_error(const char *method, const char *path, const char *body, int status,
                         const char *part)
{
    json_object *o = get_json(method, path, body, status);
    const char *e = str_at(o, "error");
    cr_assert(part == NULL || strstr(e, part) != NULL, "%s %s: error '%s', not '%s'", method,
              path, e, part);
    json_object_put(o);
}

Test(vhttp, hosts_are_listed_in_pages_by_name)
{
    json_object *o = get_json("GET", "/api/hosts?limit=3", NULL, 200);
    json_object *hosts = at(o, "hosts");
    cr_assert_eq(json_object_array_length(hosts), 3);
    cr_assert_str_eq(str_at(json_object_array_get_idx(hosts, 0), "name"), XSS_NAME);
    cr_assert_str_eq(str_at(json_object_array_get_idx(hosts, 1), "name"), "alpha");
    cr_assert_str_eq(str_at(o, "next"), "beta");
    json_object_put(o);
    o = get_json("GET", "/api/hosts?limit=3&after=beta", NULL, 200);
    hosts = at(o, "hosts");
    cr_assert_eq(json_object_array_length(hosts), 1);
    json_object *g = json_object_array_get_idx(hosts, 0);
    cr_assert_str_eq(str_at(g, "name"), "gamma");
    cr_assert(json_object_get_boolean(at(g, "stale")));
    cr_assert(json_object_is_type(at(g, "last_attempt"), json_type_null));
    cr_assert(json_object_is_type(at(o, "next"), json_type_null));
    json_object_put(o);
    expect_error("GET", "/api/hosts?limit=0", NULL, 400, "limit");
    expect_error("GET", "/api/hosts?limit=1001", NULL, 400, "limit");
    expect_error("GET", "/api/hosts?limit=1x", NULL, 400, "limit");
    expect_error("GET", "/api/hosts?after=%zz", NULL, 400, "after");
}

Test(vhttp, a_host_shows_its_verdict_reasons_attempt_and_staleness)
{
    json_object *o = get_json("GET", "/api/hosts/beta", NULL, 200);
    cr_assert_str_eq(str_at(o, "verdict"), "untrusted");
    cr_assert_str_eq(str_at(o, "policy"), "base");
    cr_assert_str_eq(str_at(o, "aik_pem"), AIK);
    json_object *reasons = at(o, "reasons");
    cr_assert_eq(json_object_array_length(reasons), 2);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(reasons, 1)),
                     "vm-a: digest not allowed");
    json_object *a = at(o, "last_attempt");
    cr_assert_str_eq(str_at(a, "node"), "node-2");
    cr_assert_str_eq(str_at(a, "outcome"), "verified");
    cr_assert_eq(json_object_get_int64(at(a, "time")), F.now - 10);
    cr_assert_not(json_object_get_boolean(at(o, "stale")));
    json_object_put(o);
    o = get_json("GET", "/api/hosts/" XSS_NAME_URL, NULL, 200);
    cr_assert_str_eq(str_at(o, "name"), XSS_NAME);
    json_object_put(o);
    o = get_json("GET", "/api/hosts/gamma", NULL, 200);
    cr_assert(json_object_get_boolean(at(o, "stale")));
    cr_assert_str_eq(str_at(o, "verdict"), "");
    json_object_put(o);
}

/* A path ending in a percent escape is decoded into bounded buffers (nng 1.5.2's own HTTP
 * server wrote past its buffer on exactly these): each is answered right, many times over. */
Test(vhttp, paths_ending_in_an_escape_are_decoded_in_bounds)
{
    for (int i = 0; i < 50; i++) {
        expect_error("GET", "/api/policies/a%01", NULL, 400, "name");
        expect_error("GET", "/x%41", NULL, 404, NULL);
        json_object *o = get_json("GET", "/api/hosts/alph%61", NULL, 200);
        cr_assert_str_eq(str_at(o, "name"), "alpha");
        json_object_put(o);
        o = get_json("GET", "/api/hosts/b%65ta/history?limit=1", NULL, 200);
        cr_assert_eq(json_object_array_length(at(o, "history")), 1);
        json_object_put(o);
    }
}

/* Requests that are not HTTP/1.x as this server reads it are refused, with the status
 * libmicrohttpd gives (505 for another HTTP version, 414 for a request line over the
 * connection's memory) or 400 (the checks of http_mhd.c and the rest of libmicrohttpd's). */
Test(vhttp, malformed_requests_are_refused)
{
    const struct {
        const char *text;
        const char *status;
    } bad[] = {
        {"GET /api/stale HTTP/2.0\r\nHost: x\r\n\r\n", "505"},
        {"get /api/stale HTTP/1.1\r\n\r\n", "400"},
        {"GET /api/stale HTTP/1.1\r\nbroken header\r\n\r\n", "400"},
        {"POST /api/hosts HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         "400"},
        {"POST /api/hosts HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "400"},
        {"POST /api/hosts HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400"},
        {"GET api/stale HTTP/1.1\r\n\r\n", "400"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int fd = dial(F.port);
        send_all(fd, bad[i].text, strlen(bad[i].text));
        char buf[512] = "", want[32];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        cr_assert_gt(n, 0, "no answer to request %zu", i);
        snprintf(want, sizeof want, "HTTP/1.1 %s ", bad[i].status);
        cr_assert(strncmp(buf, want, strlen(want)) == 0, "request %zu: %s", i, buf);
    }
    /* A raw NUL byte in the target: refused, not served for the name before it. */
    const char nul[] = "GET /api/hosts/alpha\0x HTTP/1.1\r\nHost: x\r\n\r\n";
    int nfd = dial(F.port);
    send_all(nfd, nul, sizeof nul - 1);
    char nbuf[512] = "";
    cr_assert_gt(read(nfd, nbuf, sizeof nbuf - 1), 0);
    close(nfd);
    cr_assert(strncmp(nbuf, "HTTP/1.1 400 ", 13) == 0, "%s", nbuf);
    /* A request line over the connection's memory bound. */
    int fd = dial(F.port);
    char *big = malloc(20000);
    memset(big, 'a', 20000);
    memcpy(big, "GET /", 5);
    send_all(fd, big, 20000);
    char buf[256] = "";
    cr_assert_gt(read(fd, buf, sizeof buf - 1), 0);
    close(fd);
    free(big);
    cr_assert(strncmp(buf, "HTTP/1.1 414 ", 13) == 0, "%s", buf);
    /* Headers over it. */
    fd = dial(F.port);
    big = malloc(20000);
    memset(big, 'a', 20000);
    memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 24);
    send_all(fd, big, 20000);
    memset(buf, 0, sizeof buf);
    cr_assert_gt(read(fd, buf, sizeof buf - 1), 0);
    close(fd);
    free(big);
    cr_assert(strncmp(buf, "HTTP/1.1 431 ", 13) == 0, "%s", buf);
    cr_assert_eq(host_count(), 4);
}

/* A %00 in a name is refused, never taken as the end of the name: "alpha%00x" must not
 * read, delete or overwrite alpha (a decoder that stops at the NUL would). */
Test(vhttp, a_nul_in_a_name_is_refused_not_truncated)
{
    expect_error("GET", "/api/hosts/alpha%00x", NULL, 400, "name");
    expect_error("GET", "/api/hosts/alpha%00", NULL, 400, "name");
    expect_error("GET", "/api/hosts/alpha%00/history", NULL, 400, "name");
    expect_error("DELETE", "/api/hosts/beta%00", NULL, 400, "name");
    expect_error("PUT", "/api/policies/base%00x", POLICY, 400, "name");
    expect_error("GET", "/api/hosts?after=alpha%00", NULL, 400, "after");
    cr_assert_eq(host_count(), 4);
    json_object *o = get_json("GET", "/api/hosts/beta", NULL, 200);
    cr_assert_str_eq(str_at(o, "name"), "beta");
    json_object_put(o);
}

/* Port 0 in the listen URL: a free port is picked and vhttp_port names it. */
Test(vhttp, port_zero_listens_on_a_free_port)
{
    vhttp_config cfg = {.listen_url = "http://127.0.0.1:0", .store_url = F.url, .node = "n"};
    vhttp *v = NULL;
    cr_assert_eq(vhttp_start(&cfg, &v), SRTM_OK);
    int port = (int)vhttp_port(v);
    cr_assert(port > 0 && port != F.port, "port %d", port);
    reply r = http_port(port, "GET", "/api/stale", NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "gamma") != NULL, "%s", r.body);
    reply_free(&r);
    vhttp_stop(v);
    cfg.listen_url = "http://127.0.0.1";
    cr_assert_eq(vhttp_start(&cfg, &v), SRTM_E_INVALID);
    cfg.listen_url = "tcp://127.0.0.1:0";
    cr_assert_eq(vhttp_start(&cfg, &v), SRTM_E_INVALID);
    cfg.listen_url = "http://127.0.0.1:70000";
    cr_assert_eq(vhttp_start(&cfg, &v), SRTM_E_INVALID);
}

Test(vhttp, bad_names_and_unknown_paths_are_refused)
{
    expect_error("GET", "/api/hosts/nobody", NULL, 404, "nobody");
    expect_error("GET", "/api/hosts/a%00b", NULL, 400, "name");
    expect_error("GET", "/api/hosts/a%01b", NULL, 400, "name");
    expect_error("GET", "/api/hosts/a%2", NULL, 400, "name");
    char path[400];
    snprintf(path, sizeof path, "/api/hosts/%0129d", 0);
    expect_error("GET", path, NULL, 400, "name");
    expect_error("GET", "/api/hosts/beta/nothing", NULL, 404, NULL);
    expect_error("GET", "/api/nothing", NULL, 404, NULL);
    expect_error("PATCH", "/api/hosts/beta", NULL, 405, NULL);
    expect_error("POST", "/metrics", NULL, 405, NULL);
    expect_error("GET", "/api/stale", "x", 400, NULL);
}

#define HOST_JSON(name, policy, interval)                                                \
    "{\"name\":\"" name "\",\"address\":\"tcp://10.0.0.9:4711\",\"aik_pem\":\"" AIK_JSON \
    "\",\"policy\":\"" policy "\",\"interval_s\":" interval "}"

Test(vhttp, a_host_is_added_once)
{
    json_object *o = get_json("POST", "/api/hosts", HOST_JSON("delta", "base", "30"), 201);
    cr_assert_str_eq(str_at(o, "name"), "delta");
    cr_assert_eq(json_object_get_int64(at(o, "interval_s")), 30);
    json_object_put(o);
    o = get_json("GET", "/api/hosts/delta", NULL, 200);
    cr_assert_str_eq(str_at(o, "address"), "tcp://10.0.0.9:4711");
    json_object_put(o);
    cr_assert_eq(host_count(), 5);
    expect_error("POST", "/api/hosts", HOST_JSON("delta", "base", "30"), 409, "exists");
    cr_assert_eq(host_count(), 5);
}

Test(vhttp, bad_hosts_are_refused_without_a_change)
{
    struct {
        const char *body;
        const char *part;
    } bad[] = {
        {"{\"name\":", "JSON"},
        {"[1]", "JSON"},
        {HOST_JSON("e", "base", "30") " x", "JSON"},
        {"{\"name\":\"e\",\"name\":\"f\",\"address\":\"a\",\"aik_pem\":\"" AIK_JSON
         "\",\"policy\":\"base\",\"interval_s\":3}",
         "twice"},
        {"{\"name\":\"e\",\"address\":\"a\",\"policy\":\"base\",\"interval_s\":3}", "aik_pem"},
        {HOST_JSON("e", "nopolicy", "30"), "no policy named"},
        {HOST_JSON("e", "base", "0"), "interval_s"},
        {HOST_JSON("e", "base", "\"30\""), "interval_s"},
        {HOST_JSON("bad\\u0001name", "base", "30"), "control"},
        {"{\"name\":\"e\",\"address\":\"a\",\"aik_pem\":\"not a key\",\"policy\":\"base\","
         "\"interval_s\":3}",
         "aik_pem"},
        {"{\"name\":\"e\",\"address\":\"a\",\"aik_pem\":\"" AIK_JSON "\",\"policy\":\"base\","
         "\"interval_s\":3,\"admin\":true}",
         "unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error("POST", "/api/hosts", bad[i].body, 400, bad[i].part);
    /* Over the route's bound: 413, also far over it (refused unread). */
    size_t big = 100 << 10;
    char *body = malloc(big);
    memset(body, ' ', big);
    memcpy(body, HOST_JSON("e", "base", "30"), strlen(HOST_JSON("e", "base", "30")));
    reply r = http_port(F.port, "POST", "/api/hosts", body, big);
    cr_assert_eq(r.status, 413, "%d %s", r.status, r.body);
    cr_assert(strstr(r.body, "\"error\"") != NULL);
    reply_free(&r);
    free(body);
    big = 2 << 20;
    body = calloc(1, big);
    r = http_port(F.port, "POST", "/api/hosts", body, big);
    cr_assert_eq(r.status, 413, "%d", r.status);
    reply_free(&r);
    free(body);
    cr_assert_eq(host_count(), 4);
}

Test(vhttp, a_host_is_deleted)
{
    reply r = http("DELETE", "/api/hosts/beta", NULL);
    cr_assert_eq(r.status, 204);
    reply_free(&r);
    expect_error("GET", "/api/hosts/beta", NULL, 404, NULL);
    expect_error("DELETE", "/api/hosts/beta", NULL, 404, NULL);
    cr_assert_eq(host_count(), 3);
}

Test(vhttp, history_is_paged_newest_first)
{
    json_object *o = get_json("GET", "/api/hosts/beta/history?limit=2", NULL, 200);
    json_object *h = at(o, "history");
    cr_assert_eq(json_object_array_length(h), 2);
    cr_assert_eq(json_object_get_int64(at(json_object_array_get_idx(h, 0), "time")), F.now - 10);
    cr_assert_str_eq(str_at(json_object_array_get_idx(h, 1), "verdict"), "untrusted");
    cr_assert_eq(json_object_get_int64(at(o, "next_skip")), 2);
    json_object_put(o);
    o = get_json("GET", "/api/hosts/beta/history?skip=2&limit=2", NULL, 200);
    h = at(o, "history");
    cr_assert_eq(json_object_array_length(h), 1);
    cr_assert_str_eq(str_at(json_object_array_get_idx(h, 0), "verdict"), "trusted");
    cr_assert(json_object_is_type(at(o, "next_skip"), json_type_null));
    json_object_put(o);
    expect_error("GET", "/api/hosts/nobody/history", NULL, 404, NULL);
    expect_error("GET", "/api/hosts/beta/history?skip=-1", NULL, 400, "skip");
}

Test(vhttp, the_ear_follows_the_srtmctl_shape)
{
    vs_policy pol = {0};
    cr_assert_eq(store_policy_get(F.s, "base", &pol), SRTM_OK);
    char id[100];
    snprintf(id, sizeof id, "sha256:%s", pol.version);
    vs_policy_free(&pol);
    json_object *o = get_json("GET", "/api/hosts/beta/ear", NULL, 200);
    cr_assert_str_eq(str_at(o, "eat_profile"), "tag:github.com,2023:veraison/ear");
    cr_assert_str_eq(str_at(at(o, "ear.verifier-id"), "developer"), "srtm");
    cr_assert_not(json_object_get_boolean(at(o, "srtm.ok")));
    cr_assert_geq(json_object_get_int64(at(o, "iat")), F.now);
    json_object *sub = at(at(o, "submods"), "beta");
    cr_assert_str_eq(str_at(sub, "ear.status"), "contraindicated");
    cr_assert_str_eq(str_at(sub, "ear.appraisal-policy-id"), id);
    cr_assert_eq(json_object_array_length(at(sub, "srtm.reasons")), 2);
    json_object_put(o);
    o = get_json("GET", "/api/hosts/alpha/ear", NULL, 200);
    cr_assert(json_object_get_boolean(at(o, "srtm.ok")));
    cr_assert_str_eq(str_at(at(at(o, "submods"), "alpha"), "ear.status"), "affirming");
    json_object_put(o);
    o = get_json("GET", "/api/hosts/gamma/ear", NULL, 200);
    cr_assert_str_eq(str_at(at(at(o, "submods"), "gamma"), "ear.status"), "none");
    json_object_put(o);
    expect_error("GET", "/api/hosts/nobody/ear", NULL, 404, NULL);
}

Test(vhttp, policies_are_stored_only_when_the_verifier_accepts_them)
{
    json_object *o = get_json("PUT", "/api/policies/third", POLICY, 200);
    cr_assert_eq(strlen(str_at(o, "version")), 64);
    json_object_put(o);
    o = get_json("GET", "/api/policies?limit=2", NULL, 200);
    cr_assert_eq(json_object_array_length(at(o, "policies")), 2);
    cr_assert_str_eq(str_at(o, "next"), "other");
    json_object_put(o);
    o = get_json("GET", "/api/policies?after=other", NULL, 200);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(at(o, "policies"), 0)),
                     "third");
    json_object_put(o);
    o = get_json("GET", "/api/policies/third", NULL, 200);
    cr_assert_str_eq(str_at(at(o, "policy"), "format"), "srtm-policy-v1");
    json_object_put(o);
    /* Refused with the parser's message, nothing stored. */
    expect_error("PUT", "/api/policies/bad",
                 "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                 "\"pcrs\":{\"proof\":{\"15\":\"zz\"},\"running\":{\"15\":\"" H64("1") "\"}}}",
                 400, "pcrs");
    expect_error("PUT", "/api/policies/bad", "{\"format\":", 400, "JSON");
    expect_error("PUT", "/api/policies/bad",
                 "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                 "\"pcrs\":{\"reference_file\":\"/etc/hostname\"}}",
                 400, "reference_file");
    expect_error("GET", "/api/policies/bad", NULL, 404, NULL);
    expect_error("PUT", "/api/policies/a%01", POLICY, 400, "name");
}

Test(vhttp, stale_hosts_are_listed)
{
    json_object *o = get_json("GET", "/api/stale", NULL, 200);
    json_object *s = at(o, "stale");
    cr_assert_eq(json_object_array_length(s), 1);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(s, 0)), "gamma");
    json_object_put(o);
}

/* The value of the sample named exactly `sample` in Prometheus text; -1 when absent. */
static long sample_value(const char *text, const char *sample)
{
    long v = -1;
    size_t n = strlen(sample);
    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        if (strncmp(line, sample, n) == 0 && line[n] == ' ') {
            char *stop = NULL;
            v = strtol(line + n + 1, &stop, 10);
            cr_assert(stop == end || *stop == '\0', "bad sample line");
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return v;
}

Test(vhttp, metrics_count_the_fleet)
{
    reply r = http("GET", "/metrics", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.head, "Content-Type: text/plain; version=0.0.4") != NULL, "%s", r.head);
    /* Every line a comment or "name{labels} value". */
    for (char *line = r.body; *line != '\0';) {
        char *end = strchr(line, '\n');
        cr_assert_not_null(end, "the text ends with a newline");
        *end = '\0';
        char name[128], val[32];
        cr_assert(line[0] == '#' || sscanf(line, "%127[a-z_]%*[^ ] %31s", name, val) == 2 ||
                      sscanf(line, "%127[a-z_] %31s", name, val) == 2,
                  "bad line '%s'", line);
        *end = '\n';
        line = end + 1;
    }
    cr_assert_eq(sample_value(r.body, "srtm_fleet_hosts{verdict=\"trusted\"}"), 1);
    cr_assert_eq(sample_value(r.body, "srtm_fleet_hosts{verdict=\"untrusted\"}"), 2);
    cr_assert_eq(sample_value(r.body, "srtm_fleet_hosts{verdict=\"none\"}"), 1);
    cr_assert_eq(sample_value(r.body, "srtm_fleet_hosts_stale"), 1);
    cr_assert_eq(sample_value(r.body, "srtm_fleet_api_db_errors_total"), 0);
    cr_assert_eq(sample_value(r.body, "srtm_fleet_loop_attempts_total"), 7);
    cr_assert(strstr(r.body, "# TYPE srtm_fleet_hosts gauge\n") != NULL);
    cr_assert(strstr(r.body, "# TYPE srtm_fleet_api_db_errors_total counter\n") != NULL);
    reply_free(&r);
}

Test(vhttp, a_database_error_is_a_500_and_counted)
{
    /* The schema's table gone under the API's connection: every host query fails. */
    char err[256];
    cr_assert_eq(store_host_remove(F.s, "alpha"), SRTM_OK);
    vstore *s2 = NULL;
    cr_assert_eq(store_open(F.url, &s2, err, sizeof err), SRTM_OK);
    store_close(s2);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "%s/store.db", F.dir);
    const char *argv[] = {"/usr/bin/env", "python3", "-c",
                          "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                          "c.execute('PRAGMA foreign_keys=OFF'); c.execute('DROP TABLE verdicts'); "
                          "c.commit()",
                          cmd, NULL};
    char out[256], eout[512];
    cr_assert_eq(test_run(argv, out, sizeof out, eout, sizeof eout), 0, "%s", eout);
    expect_error("GET", "/api/hosts/beta/history", NULL, 500, "database");
    reply r = http("GET", "/metrics", NULL);
    cr_assert_eq(sample_value(r.body, "srtm_fleet_api_db_errors_total"), 1, "%s", r.body);
    reply_free(&r);
}

Test(vhttp, the_page_runs_only_its_own_script)
{
    reply r = http("GET", "/", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.head, "Content-Type: text/html") != NULL);
    char *csp = strstr(r.head, "Content-Security-Policy: ");
    cr_assert_not_null(csp, "%s", r.head);
    char *end = strstr(csp, "\r\n");
    *end = '\0';
    cr_assert(strstr(csp, "default-src 'none'") != NULL, "%s", csp);
    cr_assert(strstr(csp, "script-src 'sha256-") != NULL, "%s", csp);
    cr_assert(strstr(csp, "script-src 'unsafe-inline'") == NULL, "%s", csp);
    *end = '\r';
    /* Nothing from the store is in the page itself: it is fetched and set as text. */
    cr_assert(strstr(r.body, "alpha") == NULL);
    reply_free(&r);
}

/* The page as a headless chromium renders it after its script ran; malloc'd. */
static char *browser_dom(void)
{
    const char *chromium = "/usr/bin/chromium";
    if (access(chromium, X_OK) != 0)
        cr_skip_test("chromium is not installed (apt-get install chromium): page not checked");
    char profile[300], dirarg[340], url[64];
    snprintf(profile, sizeof profile, "%s/chromium", F.dir);
    snprintf(dirarg, sizeof dirarg, "--user-data-dir=%s", profile);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", F.port);
    const char *argv[] = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--disable-extensions", dirarg,
                          "--virtual-time-budget=5000", "--dump-dom", url, NULL};
    size_t cap = 1 << 20;
    char *out = malloc(cap), err[4096];
    int rc = test_run(argv, out, cap, err, sizeof err);
    cr_assert_eq(rc, 0, "chromium: %s", err);
    return out;
}

Test(vhttp, the_page_shows_the_fleet_and_markup_as_text)
{
    char *dom = browser_dom();
    cr_assert(strstr(dom, "<title>srtm fleet</title>") != NULL, "title changed: %.2000s", dom);
    cr_assert(strstr(dom, "4 hosts") != NULL, "the script did not finish: %.3000s", dom);
    cr_assert(strstr(dom, "<td class=\"name\">alpha</td>") != NULL, "%.3000s", dom);
    cr_assert(strstr(dom, "<td class=\"name\">beta</td>") != NULL);
    cr_assert(strstr(dom, "<td class=\"node\">node-2</td>") != NULL);
    cr_assert(strstr(dom, "<li class=\"reason\">quote-pcrs-reference: PCR 15 differs</li>") !=
              NULL);
    cr_assert(strstr(dom, "<li class=\"reason\">vm-a: digest not allowed</li>") != NULL);
    /* The markup host: its name and reason are text, escaped in the serialised DOM. */
    cr_assert(strstr(dom, "<td class=\"name\">&lt;script&gt;document.title='pwned'&lt;/script&gt;"
                          "</td>") != NULL,
              "%.3000s", dom);
    cr_assert(strstr(dom, "<li class=\"reason\">&lt;img src=x onerror=\"document.title='pwned2'"
                          "\"&gt;</li>") != NULL,
              "%.3000s", dom);
    cr_assert(strstr(dom, "<img") == NULL);
    cr_assert(strstr(dom, "<td class=\"stale stale\">stale</td>") == NULL);
    cr_assert(strstr(dom, ">stale</td>") != NULL);
    free(dom);
}

Test(vhttp, the_test_server_serves_until_sigterm)
{
    int port = test_free_port();
    char portarg[16];
    snprintf(portarg, sizeof portarg, "%d", port);
    const char *serve = test_binary("VHTTP_SERVE");
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        execl(serve, "vhttp_serve", F.url, portarg, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[128] = "";
    ssize_t n = read(fds[0], line, sizeof line - 1);
    close(fds[0]);
    cr_assert_gt(n, 0);
    cr_assert(strncmp(line, "ready ", 6) == 0, "%s", line);
    reply r = http_port(port, "GET", "/api/stale", NULL, 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "gamma") != NULL);
    reply_free(&r);
    kill(pid, SIGTERM);
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* srtm-fleet with args against the fixture's server; its exit status, stdout and stderr. */
static int fleet(const char *const *args, char *out, size_t out_size, char *err, size_t err_size)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", F.port);
    const char *argv[16] = {test_binary("SRTM_FLEET"), "-u", url};
    size_t n = 3;
    for (; args[n - 3] != NULL && n < 15; n++)
        argv[n] = args[n - 3];
    argv[n] = NULL;
    return test_run(argv, out, out_size, err, err_size);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0, 1);
    cr_assert_eq(fclose(f), 0);
}

Test(vhttp, srtm_fleet_drives_the_api)
{
    char pol[300], aik[300], out[8192], err[1024];
    snprintf(pol, sizeof pol, "%s/policy.json", F.dir);
    snprintf(aik, sizeof aik, "%s/aik.pem", F.dir);
    write_text(pol, POLICY);
    write_text(aik, AIK);
    const char *put[] = {"put-policy", "fourth", pol, NULL};
    cr_assert_eq(fleet(put, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, "\"name\":\"fourth\"") != NULL, "%s", out);
    const char *add[] = {"add", "web 1/a", "tcp://10.0.0.7:4711", aik, "fourth", "45", NULL};
    cr_assert_eq(fleet(add, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fleet(add, out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "409") != NULL, "%s", err);
    const char *get[] = {"host", "web 1/a", NULL};
    cr_assert_eq(fleet(get, out, sizeof out, err, sizeof err), 0, "%s", err);
    json_object *o = json_tokener_parse(out);
    cr_assert_not_null(o, "%s", out);
    cr_assert_str_eq(str_at(o, "name"), "web 1/a");
    cr_assert_eq(json_object_get_int64(at(o, "interval_s")), 45);
    json_object_put(o);
    const char *list[] = {"hosts", "beta", "1", NULL};
    cr_assert_eq(fleet(list, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, "\"name\":\"gamma\"") != NULL && strstr(out, "alpha") == NULL, "%s", out);
    const char *hist[] = {"history", "beta", "1", "1", NULL};
    cr_assert_eq(fleet(hist, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert(strstr(out, "old reason") != NULL, "%s", out);
    const char *rm[] = {"remove", "web 1/a", NULL};
    cr_assert_eq(fleet(rm, out, sizeof out, err, sizeof err), 0, "%s", err);
    cr_assert_eq(fleet(get, out, sizeof out, err, sizeof err), 1);
    cr_assert(strstr(err, "404") != NULL, "%s", err);
    const char *bad_policy[] = {"put-policy", "x", "/nonexistent/policy.json", NULL};
    cr_assert_eq(fleet(bad_policy, out, sizeof out, err, sizeof err), 3);
    const char *usage[] = {"host", NULL};
    cr_assert_eq(fleet(usage, out, sizeof out, err, sizeof err), 2);
    const char *unknown[] = {"frobnicate", NULL};
    cr_assert_eq(fleet(unknown, out, sizeof out, err, sizeof err), 2);
    /* Nothing listening: 3. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", test_free_port());
    const char *argv[] = {test_binary("SRTM_FLEET"), "-u", url, "stale", NULL};
    cr_assert_eq(test_run(argv, out, sizeof out, err, sizeof err), 3, "%s", err);
}

/* Four clients at once, reading and adding hosts: the server answers on several threads,
 * the one store connection is used by one at a time, every request is answered right. */
static void *client(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 25; i++) {
        reply r = http("GET", "/api/hosts/beta", NULL);
        if (r.status != 200 || strstr(r.body, "\"verdict\":\"untrusted\"") == NULL)
            return (void *)1;
        reply_free(&r);
        char body[1024];
        char name[32];
        snprintf(name, sizeof name, "c%ld-%d", id, i);
        snprintf(body, sizeof body,
                 "{\"name\":\"%s\",\"address\":\"a\",\"aik_pem\":\"" AIK_JSON
                 "\",\"policy\":\"base\",\"interval_s\":60}",
                 name);
        r = http("POST", "/api/hosts", body);
        if (r.status != 201)
            return (void *)2;
        reply_free(&r);
    }
    return NULL;
}

Test(vhttp, concurrent_clients_share_the_store_connection)
{
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, client, (void *)i), 0);
    for (int i = 0; i < 4; i++) {
        void *rv = NULL;
        cr_assert_eq(pthread_join(t[i], &rv), 0);
        cr_assert_null(rv, "client %d failed (%p)", i, rv);
    }
    cr_assert_eq(host_count(), 4 + 100);
}
