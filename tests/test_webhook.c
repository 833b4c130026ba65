/*
 * The verdict-change webhook (verifierd/webhook.h) against a real HTTP receiver
 * (libmicrohttpd in this process): events arrive in order with the fields docs/fleet.md
 * names and an HMAC the test recomputes with OpenSSL; a failing receiver is retried, then
 * counted; redirects are not followed; a receiver that never answers cannot stall
 * webhook_notify (a full queue drops and counts); wrong URLs and unsafe secret files are
 * refused. Then the attestation loop on srtm-sim hosts posts exactly one event per verdict
 * change: an honest host's "trusted", a liar's "untrusted" with its reasons.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attest.h"
#include "fleet_helpers.h"
#include "helpers.h"
#include "store.h"
#include "webhook.h"

#define MAX_SEEN 64

/* What the receiver saw. */
typedef struct seen {
    char path[128];
    char *body;
    char signature[128];
    char content_type[64];
} seen;

static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static seen rx[MAX_SEEN];
static unsigned rx_n;
static int rx_fail_first; /* answer 500 to this many requests first */
static bool rx_redirect;  /* answer 302 to everything */
static struct MHD_Daemon *rx_daemon;
static int rx_port;

typedef struct upload {
    char *buf;
    size_t len;
} upload;

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **state)
{
    (void)cls;
    (void)version;
    upload *u = *state;
    if (u == NULL) {
        *state = calloc(1, sizeof(upload));
        return *state != NULL ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        char *b = realloc(u->buf, u->len + *size + 1);
        if (b == NULL)
            return MHD_NO;
        memcpy(b + u->len, data, *size);
        u->len += *size;
        b[u->len] = '\0';
        u->buf = b;
        *size = 0;
        return MHD_YES;
    }
    unsigned code = 200;
    pthread_mutex_lock(&rx_lock);
    if (strcmp(method, "POST") == 0 && rx_n < MAX_SEEN) {
        seen *s = &rx[rx_n++];
        snprintf(s->path, sizeof(s->path), "%s", url);
        s->body = u->buf != NULL ? u->buf : strdup("");
        u->buf = NULL;
        const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Srtm-Signature");
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        snprintf(s->signature, sizeof(s->signature), "%s", sig != NULL ? sig : "");
        snprintf(s->content_type, sizeof(s->content_type), "%s", ct != NULL ? ct : "");
    }
    if (rx_redirect)
        code = 302;
    else if (rx_fail_first > 0) {
        rx_fail_first--;
        code = 500;
    }
    pthread_mutex_unlock(&rx_lock);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                             MHD_RESPMEM_PERSISTENT);
    if (code == 302)
        MHD_add_response_header(r, "Location", "/elsewhere");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)c;
    (void)t;
    upload *u = *state;
    if (u != NULL) {
        free(u->buf);
        free(u);
    }
    *state = NULL;
}

static void rx_start(void)
{
    rx_port = test_free_port();
    rx_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)rx_port, NULL,
                                 NULL, answer, NULL, MHD_OPTION_NOTIFY_COMPLETED, completed,
                                 NULL, MHD_OPTION_END);
    cr_assert(rx_daemon != NULL, "the receiver does not start on port %d", rx_port);
}

static void rx_stop(void)
{
    if (rx_daemon != NULL)
        MHD_stop_daemon(rx_daemon);
    rx_daemon = NULL;
    for (unsigned i = 0; i < rx_n; i++)
        free(rx[i].body);
    rx_n = 0;
    rx_fail_first = 0;
    rx_redirect = false;
}

TestSuite(webhook, .init = rx_start, .fini = rx_stop, .timeout = 60);

static unsigned rx_count(void)
{
    pthread_mutex_lock(&rx_lock);
    unsigned n = rx_n;
    pthread_mutex_unlock(&rx_lock);
    return n;
}

/* Wait (bounded) until the webhook has finished n events, sent or failed. */
static webhook_counts wait_done(webhook *w, uint64_t n)
{
    webhook_counts c;
    double end = fleet_now_s() + 30;
    do {
        webhook_counts_get(w, &c);
        if (c.sent + c.failed >= n)
            return c;
        fleet_sleep_ms(20);
    } while (fleet_now_s() < end);
    cr_assert_fail("%llu of %llu events finished", (unsigned long long)(c.sent + c.failed),
                   (unsigned long long)n);
    return c;
}

static const char secret[] = "a webhook secret of 39 bytes, or so...";

static webhook *start(const char *path, bool with_secret, unsigned attempts)
{
    char url[128], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", rx_port, path);
    webhook_config cfg = {.url = url, .attempts = attempts, .timeout_ms = 3000};
    if (with_secret) {
        cfg.secret = (const uint8_t *)secret;
        cfg.secret_len = strlen(secret);
    }
    webhook *w = NULL;
    cr_assert_eq(webhook_start(&cfg, &w, err, sizeof(err)), SRTM_OK, "%s", err);
    return w;
}

static void expect_signature(const seen *s)
{
    uint8_t mac[32];
    unsigned len = 0;
    cr_assert(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const uint8_t *)s->body,
                   strlen(s->body), mac, &len) != NULL);
    char want[80] = "sha256=";
    for (unsigned i = 0; i < len; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
    cr_expect_str_eq(s->signature, want);
}

Test(webhook, delivers_signed_events_in_order)
{
    webhook *w = start("/hook", true, 3);
    webhook_notify(w, "node-a", "host-1", "", "trusted", "", 1000);
    webhook_notify(w, "node-a", "host-1", "trusted", "untrusted",
                   "{\"components\":[{\"name\":\"vm-1\",\"reasons\":[\"CCR 0: x\"]}]}", 1060);
    webhook_notify(w, "node-a", "host-2", "untrusted", "unreachable", "", 1061);
    webhook_counts c = wait_done(w, 3);
    cr_expect_eq(c.sent, 3);
    cr_expect_eq(c.failed + c.dropped, 0);
    webhook_stop(w);
    cr_assert_eq(rx_count(), 3);
    static const char *verdict[] = {"trusted", "untrusted", "unreachable"};
    for (unsigned i = 0; i < 3; i++) {
        cr_expect_str_eq(rx[i].path, "/hook");
        cr_expect_str_eq(rx[i].content_type, "application/json");
        expect_signature(&rx[i]);
        json_object *o = json_tokener_parse(rx[i].body), *v = NULL;
        cr_assert(o != NULL, "not JSON: %s", rx[i].body);
        cr_assert(json_object_object_get_ex(o, "verdict", &v));
        cr_expect_str_eq(json_object_get_string(v), verdict[i]);
        cr_assert(json_object_object_get_ex(o, "event", &v));
        cr_expect_str_eq(json_object_get_string(v), "verdict-change");
        cr_assert(json_object_object_get_ex(o, "node", &v));
        cr_expect_str_eq(json_object_get_string(v), "node-a");
        json_object_put(o);
    }
    json_object *o = json_tokener_parse(rx[0].body), *v = NULL;
    cr_expect(json_object_object_get_ex(o, "previous", &v) && v == NULL,
              "a first verdict has previous null: %s", rx[0].body);
    json_object_put(o);
    o = json_tokener_parse(rx[1].body);
    cr_assert(json_object_object_get_ex(o, "reasons", &v) &&
              json_object_is_type(v, json_type_object), "reasons are the history's JSON: %s",
              rx[1].body);
    cr_assert(json_object_object_get_ex(o, "previous", &v));
    cr_expect_str_eq(json_object_get_string(v), "trusted");
    cr_assert(json_object_object_get_ex(o, "at", &v));
    cr_expect_eq(json_object_get_int64(v), 1060);
    cr_assert(json_object_object_get_ex(o, "host", &v));
    cr_expect_str_eq(json_object_get_string(v), "host-1");
    json_object_put(o);
}

Test(webhook, unsigned_without_a_secret)
{
    webhook *w = start("/plain", false, 1);
    webhook_notify(w, "n", "h", "", "trusted", "", 1);
    cr_expect_eq(wait_done(w, 1).sent, 1);
    webhook_stop(w);
    cr_assert_eq(rx_count(), 1);
    cr_expect_str_eq(rx[0].signature, "", "no secret, no signature header");
}

Test(webhook, a_failing_receiver_is_retried_then_counted)
{
    rx_fail_first = 2;
    webhook *w = start("/hook", true, 3);
    webhook_notify(w, "n", "h", "", "trusted", "", 1);
    webhook_counts c = wait_done(w, 1);
    cr_expect_eq(c.sent, 1, "delivered at the third attempt");
    cr_expect_eq(rx_count(), 3);
    rx_fail_first = 1000;
    webhook_notify(w, "n", "h", "trusted", "untrusted", "", 2);
    c = wait_done(w, 2);
    cr_expect_eq(c.sent, 1);
    cr_expect_eq(c.failed, 1, "three 500 answers: not delivered");
    cr_expect_eq(rx_count(), 6);
    webhook_stop(w);
}

Test(webhook, redirects_are_not_followed)
{
    rx_redirect = true;
    webhook *w = start("/hook", true, 1);
    webhook_notify(w, "n", "h", "", "trusted", "", 1);
    webhook_counts c = wait_done(w, 1);
    cr_expect_eq(c.failed, 1);
    webhook_stop(w);
    cr_assert_eq(rx_count(), 1, "only the webhook's own URL was asked");
    cr_expect_str_eq(rx[0].path, "/hook");
}

/* A receiver that accepts connections and never answers: notify still returns at once;
 * beyond the queue, events are dropped and counted. */
Test(webhook, a_silent_receiver_cannot_stall_the_loop)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 64) == 0 &&
              getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    char url[64], err[256] = "";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    webhook_config cfg = {.url = url, .queue_max = 4, .attempts = 1, .timeout_ms = 120000};
    webhook *w = NULL;
    cr_assert_eq(webhook_start(&cfg, &w, err, sizeof(err)), SRTM_OK, "%s", err);
    for (int i = 0; i < 50; i++)
        webhook_notify(w, "n", "h", "", i % 2 ? "trusted" : "untrusted", "", i);
    webhook_counts c;
    webhook_counts_get(w, &c);
    cr_expect_leq(c.queued, 4);
    cr_expect_geq(c.dropped, 45, "dropped %llu", (unsigned long long)c.dropped);
    webhook_stop(w); /* abandons the request in flight: within a second, not after its
                      * 120-s time-out, which the suite's 60-s limit would catch */
    close(fd);
}

Test(webhook, wrong_urls_and_unsafe_secrets_are_refused)
{
    static const char *bad[] = {"file:///etc/passwd", "ftp://127.0.0.1/", "127.0.0.1:80",
                                "gopher://x/", "HTTP//x"};
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        webhook *w = NULL;
        webhook_config cfg = {.url = bad[i]};
        cr_expect_neq(webhook_start(&cfg, &w, err, sizeof(err)), SRTM_OK, "%s accepted", bad[i]);
        cr_expect_null(w);
    }
    webhook *w = NULL;
    webhook_config shortkey = {.url = "http://127.0.0.1:1/", .secret = (const uint8_t *)"short",
                               .secret_len = 5};
    cr_expect_neq(webhook_start(&shortkey, &w, err, sizeof(err)), SRTM_OK);

    char dir[] = "/tmp/srtm-hook-XXXXXX", path[96], link[96];
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/secret", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fprintf(f, "%s\n", secret);
    fclose(f);
    uint8_t *key = NULL;
    size_t len = 0;
    cr_assert_eq(chmod(path, 0644), 0);
    cr_expect_eq(webhook_read_secret(path, &key, &len, err, sizeof(err)), SRTM_E_DENIED,
                 "a secret others may read is refused");
    cr_assert_eq(chmod(path, 0600), 0);
    cr_assert_eq(symlink(path, link), 0);
    cr_expect_neq(webhook_read_secret(link, &key, &len, err, sizeof(err)), SRTM_OK,
                  "a link is not followed");
    cr_assert_eq(webhook_read_secret(path, &key, &len, err, sizeof(err)), SRTM_OK, "%s", err);
    cr_expect_eq(len, strlen(secret), "the trailing newline is not part of the key");
    cr_expect_eq(memcmp(key, secret, len), 0);
    free(key);
    f = fopen(path, "w");
    fprintf(f, "tooshort\n");
    fclose(f);
    cr_expect_eq(webhook_read_secret(path, &key, &len, err, sizeof(err)), SRTM_E_INVALID);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

/* ---- the attestation loop posts its verdict changes ---- */

static unsigned events_of(const char *host, const char *verdict, char *reasons, size_t size)
{
    unsigned n = 0;
    pthread_mutex_lock(&rx_lock);
    for (unsigned i = 0; i < rx_n; i++) {
        json_object *o = json_tokener_parse(rx[i].body), *h = NULL, *v = NULL, *r = NULL;
        if (o != NULL && json_object_object_get_ex(o, "host", &h) &&
            json_object_object_get_ex(o, "verdict", &v) &&
            strcmp(json_object_get_string(h), host) == 0 &&
            (verdict == NULL || strcmp(json_object_get_string(v), verdict) == 0)) {
            n++;
            if (reasons != NULL && json_object_object_get_ex(o, "reasons", &r))
                snprintf(reasons, size, "%s", json_object_to_json_string(r));
        }
        json_object_put(o);
    }
    pthread_mutex_unlock(&rx_lock);
    return n;
}

Test(webhook, the_loop_posts_each_verdict_change_once)
{
    char dir[] = "/tmp/srtm-hook-sim-XXXXXX", log[96], ready[96], url[128];
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(log, sizeof(log), "%s/sim.log", dir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    const char *argv[] = {test_binary("SRTM_SIM"), "--hosts", "2", "--dir", dir, "--shared-boot",
                          "--lie", "unknown-binary@1", NULL};
    pid_t sim = fleet_spawn(argv, log);
    double end = fleet_now_s() + 20;
    while (!test_path_exists(ready) && fleet_now_s() < end)
        fleet_sleep_ms(20);
    cr_assert(test_path_exists(ready), "srtm-sim did not come up (see %s)", log);
    snprintf(url, sizeof(url), "sqlite:%s/fleet.db", dir);
    vstore *s = NULL;
    char err[256] = "";
    cr_assert_eq(store_open(url, &s, err, sizeof(err)), SRTM_OK, "%s", err);
    char *policy = fleet_shared_policy(dir);
    cr_assert_eq(store_policy_put(s, "fleet", policy, strlen(policy), time(NULL)), SRTM_OK);
    free(policy);
    for (unsigned i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof(name), "host-%u", i);
        fleet_add_sim_host(s, dir, i, name, "fleet", 1);
    }
    webhook *w = start("/fleet", true, 3);
    attest_config cfg = {.store_url = url, .node = "hook-node", .max_inflight = 4,
                         .timeout_ms = 5000, .lease_s = 30, .workers = 1, .webhook = w};
    attest_loop *l = NULL;
    cr_assert_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_OK, "%s", err);
    /* Until each host was attempted three times: every attempt after the first changes
     * nothing, so it must post nothing. */
    attest_metrics m;
    end = fleet_now_s() + 40;
    do {
        fleet_sleep_ms(100);
        attest_metrics_get(l, &m);
    } while (m.attempts[ATTEST_TRUSTED] + m.attempts[ATTEST_UNTRUSTED] < 6 &&
             fleet_now_s() < end);
    attest_stop(l);
    webhook_counts c = wait_done(w, m.verdict_changes);
    webhook_stop(w);
    cr_assert_geq(m.attempts[ATTEST_TRUSTED], 1);
    cr_assert_geq(m.attempts[ATTEST_UNTRUSTED], 1);
    cr_expect_eq(m.verdict_changes, 2, "one change per host");
    cr_expect_eq(c.sent, 2);
    char reasons[4096] = "";
    cr_expect_eq(events_of("host-0", "trusted", NULL, 0), 1);
    cr_expect_eq(events_of("host-0", NULL, NULL, 0), 1);
    cr_expect_eq(events_of("host-1", "untrusted", reasons, sizeof(reasons)), 1);
    cr_expect_eq(events_of("host-1", NULL, NULL, 0), 1);
    cr_expect(strstr(reasons, "not in the allowlist") != NULL, "reasons: %s", reasons);
    for (unsigned i = 0; i < rx_n; i++)
        expect_signature(&rx[i]);
    store_close(s);
    kill(sim, SIGTERM);
    waitpid(sim, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}
