/*
 * srtm-verifierd as a process against a fleet of srtm-sim hosts sharing one policy, through
 * a SQLite store: honest hosts become trusted, every liar untrusted with the check that
 * catches it named in its reasons, a dead host unreachable and tried again, a rebooting
 * host verified again in its new boot; no host goes stale; SIGTERM ends the daemon with 0
 * and leaves no lease held. Two daemons on one store never hold one host at once. The loop
 * run in-process counts what it did (attest_metrics_get).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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

#include <pthread.h>

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "attest.h"
#include "fleet_helpers.h"
#include "helpers.h"
#include "srtm.pb-c.h"
#include "store.h"

enum { HONEST_A, HONEST_B, BAD_DIGEST, REPLAYED_NONCE, UNKNOWN_BINARY, WRONG_AIK, DEAD, SLOW,
       REBOOT, HOSTS };

static char dir[64];
static pid_t sim_pid;
static char url[128];

static char *host_file(unsigned i, const char *name)
{
    return fleet_host_file(dir, i, name);
}

static char *shared_policy(void)
{
    return fleet_shared_policy(dir);
}

static vstore *open_store(void)
{
    vstore *s = NULL;
    char err[256] = "";
    cr_assert_eq(store_open(url, &s, err, sizeof(err)), SRTM_OK, "%s", err);
    return s;
}

/* A fresh SQLite store DIR/FILE (url names it) holding "fleet", the shared policy of the
 * sim serving from base. */
static vstore *fleet_store(const char *file, const char *base)
{
    snprintf(url, sizeof(url), "sqlite:%s/%s", dir, file);
    vstore *s = open_store();
    char *body = fleet_shared_policy(base);
    cr_assert_eq(store_policy_put(s, "fleet", body, strlen(body), time(NULL)), SRTM_OK);
    free(body);
    return s;
}

/* Add host i of the sim serving from base to s as host-I, with the shared policy "fleet"
 * and a 2-s interval. */
static void add_host_in(vstore *s, const char *base, unsigned i)
{
    char name[32];
    snprintf(name, sizeof(name), "host-%u", i);
    fleet_add_sim_host(s, base, i, name, "fleet", 2);
}

static void add_sim_host(vstore *s, unsigned i)
{
    add_host_in(s, dir, i);
}

static void fleet_up(void)
{
    snprintf(dir, sizeof(dir), "/tmp/srtm-vd-test-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    char n[8], log[128], ready[128];
    snprintf(n, sizeof(n), "%d", HOSTS);
    snprintf(log, sizeof(log), "%s/sim.log", dir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    const char *argv[] = {test_binary("SRTM_SIM"), "--hosts", n, "--dir", dir, "--shared-boot",
                          "--lie", "bad-digest@2", "--lie", "replayed-nonce@3",
                          "--lie", "unknown-binary@4", "--lie", "wrong-aik@5", "--dead", "6",
                          "--slow", "300@7", "--reboot-every", "3@8", NULL};
    sim_pid = fleet_spawn(argv, log);
    double end = fleet_now_s() + 20;
    while (!test_path_exists(ready) && fleet_now_s() < end && waitpid(sim_pid, NULL, WNOHANG) == 0)
        fleet_sleep_ms(20);
    cr_assert(test_path_exists(ready), "srtm-sim did not come up (see %s)", log);
    vstore *s = fleet_store("fleet.db", dir);
    for (unsigned i = 0; i < HOSTS; i++)
        add_sim_host(s, i);
    store_close(s);
}

static void fleet_down(void)
{
    if (sim_pid > 0) {
        int st = 0;
        kill(sim_pid, SIGTERM);
        cr_expect(waitpid(sim_pid, &st, 0) == sim_pid);
        sim_pid = 0;
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect(system(cmd) == 0);
}

TestSuite(verifierd, .init = fleet_up, .fini = fleet_down, .timeout = 90);

static char http_url[64]; /* when set, the daemon serves its HTTP API there */

static pid_t daemon_start_args(const char *node, const char *max_inflight, const char *timeout)
{
    char log[128];
    snprintf(log, sizeof(log), "%s/verifierd-%s.log", dir, node);
    const char *argv[] = {test_binary("SRTM_VERIFIERD"), "--store", url, "--node", node,
                          "--timeout-ms", timeout, "--lease-s", "6", "--workers", "2",
                          "--max-inflight", max_inflight, NULL, NULL, NULL};
    if (http_url[0] != '\0') {
        argv[13] = "--http";
        argv[14] = http_url;
    }
    return fleet_spawn(argv, log);
}

/* GET path from the daemon's HTTP API on port; the body into body (NUL-terminated), the
 * status code returned (-1: no answer). */
static int http_get(int port, const char *path, char *body, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                                       "close\r\n\r\n", path);
    size_t got = 0;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        write(fd, req, (size_t)n) != n) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    static char all[1 << 20];
    ssize_t r;
    while (got < sizeof(all) - 1 && (r = read(fd, all + got, sizeof(all) - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    all[got] = '\0';
    int status = -1;
    if (sscanf(all, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *b = strstr(all, "\r\n\r\n");
    snprintf(body, size, "%s", b != NULL ? b + 4 : "");
    return status;
}

static pid_t daemon_start(const char *node)
{
    return daemon_start_args(node, "64", "1500");
}

static void daemon_stop(pid_t pid)
{
    int st = 0;
    cr_assert_eq(kill(pid, SIGTERM), 0);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "srtm-verifierd ended with 0x%x", st);
}

/* What the test waits for, read from the store. */
typedef struct fleet_view {
    vs_host h[HOSTS];
    vs_verdict v[HOSTS];
    int64_t reset_count[HOSTS];
} fleet_view;

static void view_read(vstore *s, fleet_view *f)
{
    for (unsigned i = 0; i < HOSTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "host-%u", i);
        cr_assert_eq(store_host_get(s, name, &f->h[i]), SRTM_OK, "%s", store_errmsg(s));
        vs_verdicts_free(&f->v[i], 1);
        cr_assert_eq(store_verdict_current(s, name, &f->v[i]), SRTM_OK);
        vs_state st = {0};
        f->reset_count[i] = store_state_get(s, name, &st) == SRTM_OK ? st.reset_count : 0;
        vs_state_clear(&st);
    }
}

static bool is(const fleet_view *f, unsigned i, const char *verdict)
{
    return strcmp(f->v[i].verdict, verdict) == 0;
}

/* dead_first: the dead host's first unreachable attempt; boot_first: the first boot the
 * rebooting host was verified in (0: none yet). */
static bool settled(const fleet_view *f, int64_t dead_first, int64_t boot_first)
{
    static const unsigned trusted[] = {HONEST_A, HONEST_B, SLOW, REBOOT};
    static const unsigned untrusted[] = {BAD_DIGEST, REPLAYED_NONCE, UNKNOWN_BINARY, WRONG_AIK};
    for (size_t k = 0; k < 4; k++)
        if (!is(f, trusted[k], "trusted") || !is(f, untrusted[k], "untrusted"))
            return false;
    return is(f, DEAD, "unreachable") && dead_first > 0 &&
           f->h[DEAD].last_attempt > dead_first && boot_first > 0 &&
           f->reset_count[REBOOT] > boot_first;
}

static void expect_reason(const fleet_view *f, unsigned i, const char *text)
{
    cr_expect(strstr(f->v[i].reasons, text) != NULL, "host-%u: '%s' not in %s", i, text,
              f->v[i].reasons);
}

Test(verifierd, fleet_verdicts)
{
    int port = test_free_port();
    snprintf(http_url, sizeof(http_url), "http://127.0.0.1:%d", port);
    pid_t pid = daemon_start("node-a");
    vstore *s = open_store();
    fleet_view *f = calloc(1, sizeof(*f));
    int64_t dead_first = 0, boot_first = 0;
    double end = fleet_now_s() + 40;
    for (;;) {
        view_read(s, f);
        if (dead_first == 0 && is(f, DEAD, "unreachable"))
            dead_first = f->h[DEAD].last_attempt;
        if (boot_first == 0)
            boot_first = f->reset_count[REBOOT];
        if (settled(f, dead_first, boot_first) || fleet_now_s() > end)
            break;
        fleet_sleep_ms(250);
    }
    for (unsigned i = 0; i < HOSTS; i++)
        cr_log_info("host-%u: %s %s (%s)", i, f->v[i].verdict, f->v[i].reasons,
                    f->h[i].last_outcome);
    cr_assert(settled(f, dead_first, boot_first), "the fleet did not reach its verdicts in time");
    expect_reason(f, BAD_DIGEST, "does not match the replay");
    expect_reason(f, REPLAYED_NONCE, "\"check\":\"nonce\"");
    expect_reason(f, UNKNOWN_BINARY, "is not in the allowlist");
    expect_reason(f, WRONG_AIK, "\"check\":\"quote-signature\"");
    cr_expect(strstr(f->h[DEAD].last_outcome, "unreachable: ") == f->h[DEAD].last_outcome,
              "%s", f->h[DEAD].last_outcome);
    vs_name stale[HOSTS];
    size_t n = 1;
    cr_assert_eq(store_stale(s, time(NULL), stale, HOSTS, &n), SRTM_OK);
    cr_expect_eq(n, 0, "stale: %s", n > 0 ? stale[0].s : "");
    /* A verdict that did not change is not appended again. */
    vs_verdict hist[8];
    cr_assert_eq(store_verdict_history(s, "host-0", 0, hist, 8, &n), SRTM_OK);
    cr_expect_eq(n, 1, "an honest host's history holds one verdict, not %zu", n);
    vs_verdicts_free(hist, n);
    /* The daemon's HTTP API: the verdicts and reasons as stored, its own counters. */
    static char body[1 << 20];
    cr_assert_eq(http_get(port, "/api/hosts/host-2", body, sizeof(body)), 200);
    cr_expect(strstr(body, "untrusted") != NULL && strstr(body, "does not match the replay"),
              "%s", body);
    cr_assert_eq(http_get(port, "/metrics", body, sizeof(body)), 200);
    unsigned long long trusted = 0, count = 0;
    const char *t = strstr(body, "srtm_fleet_attempts_total{outcome=\"trusted\"} ");
    const char *c = strstr(body, "srtm_fleet_attempt_duration_seconds_count ");
    cr_assert(t != NULL && c != NULL, "%s", body);
    cr_expect(sscanf(t, "%*s %llu", &trusted) == 1 && trusted >= 3, "%s", t);
    cr_expect(sscanf(c, "%*s %llu", &count) == 1 && count >= trusted, "%s", c);
    cr_expect(strstr(body, "srtm_fleet_hosts{verdict=\"untrusted\"} 4") != NULL, "%s", body);
    /* The honest hosts' attempts after their first are incremental, counted by kind. */
    unsigned long long inc = 0, inc_bytes = 0;
    const char *k = strstr(body, "srtm_fleet_verified_attempts_total{kind=\"incremental\"} ");
    const char *kb = strstr(body, "srtm_fleet_answer_bytes_total{kind=\"incremental\"} ");
    cr_assert(k != NULL && kb != NULL, "%s", body);
    cr_expect(sscanf(k, "%*s %llu", &inc) == 1 && inc >= 1, "%s", k);
    cr_expect(sscanf(kb, "%*s %llu", &inc_bytes) == 1 && inc_bytes > inc * 1000, "%s", kb);
    http_url[0] = '\0';
    daemon_stop(pid);
    view_read(s, f);
    for (unsigned i = 0; i < HOSTS; i++) {
        cr_expect_str_eq(f->h[i].lease_owner, "", "host-%u still leased", i);
        vs_verdicts_free(&f->v[i], 1);
    }
    free(f);
    store_close(s);
}

/* ---- the lease rule across two daemons ----
 * Fake hosts that take 600 ms per answer on two contexts each count the quotes they serve
 * at once: two daemons on one store, both with free slots, must never quote one host
 * twice at the same time. */

#define FAKE_HOSTS 4
#define FAKE_CTX 2 /* fake_serve names "the other" request as 1 - me */

typedef struct fake_host {
    nng_socket sock;
    char url[64];
    pthread_mutex_t lock;
    int busy, max_busy, quotes; /* under lock */
    /* under lock: the requests being served (pipe id 0: none), and the first overlap seen:
     * the same request on two pipes is nng's resend after a lost connection, two
     * different ones two attempts */
    struct {
        uint32_t pipe, sum;
        size_t len;
    } serving[FAKE_CTX];
    char overlap[200];
    bool closed; /* under lock: the daemons are being stopped; overlaps no longer count */
    pthread_t th[FAKE_CTX];
} fake_host;

/* Answer every request after 600 ms with STATUS_DENIED, counting overlaps. */
static void *fake_serve(void *arg)
{
    fake_host *h = arg;
    nng_ctx ctx;
    nng_aio *aio = NULL;
    if (nng_ctx_open(&ctx, h->sock) != 0 || nng_aio_alloc(&aio, NULL, NULL) != 0)
        return NULL;
    Srtm__Response r = SRTM__RESPONSE__INIT;
    r.status = SRTM__STATUS__STATUS_DENIED;
    r.message = "fake host";
    uint8_t ans[64];
    size_t ans_len = srtm__response__pack(&r, ans);
    for (;;) {
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            break;
        nng_msg *m = nng_aio_get_msg(aio);
        uint32_t sum = 2166136261u; /* FNV-1a of the request */
        for (size_t k = 0; k < nng_msg_len(m); k++)
            sum = (sum ^ ((const uint8_t *)nng_msg_body(m))[k]) * 16777619u;
        pthread_mutex_lock(&h->lock);
        h->quotes++;
        if (++h->busy > h->max_busy && !h->closed)
            h->max_busy = h->busy;
        unsigned me = 0;
        while (me < FAKE_CTX - 1 && h->serving[me].pipe != 0)
            me++;
        h->serving[me].pipe = nng_pipe_id(nng_msg_get_pipe(m));
        h->serving[me].sum = sum;
        h->serving[me].len = nng_msg_len(m);
        if (h->busy > 1 && !h->closed && h->overlap[0] == '\0')
            snprintf(h->overlap, sizeof(h->overlap),
                     "pipe %u (%zu bytes, FNV-1a %08x) while serving pipe %u (%zu bytes, "
                     "FNV-1a %08x) at %.3f s", h->serving[me].pipe, h->serving[me].len, sum,
                     h->serving[1 - me].pipe, h->serving[1 - me].len, h->serving[1 - me].sum,
                     fleet_now_s());
        pthread_mutex_unlock(&h->lock);
        fleet_sleep_ms(600);
        pthread_mutex_lock(&h->lock);
        h->busy--;
        h->serving[me].pipe = 0;
        pthread_mutex_unlock(&h->lock);
        nng_msg_clear(m);
        if (nng_msg_append(m, ans, ans_len) != 0) {
            nng_msg_free(m);
            continue;
        }
        nng_aio_set_msg(aio, m);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(m);
    }
    nng_aio_free(aio);
    return NULL;
}

static void fake_start(fake_host *h)
{
    nng_listener l;
    int port = 0;
    pthread_mutex_init(&h->lock, NULL);
    cr_assert_eq(nng_rep0_open(&h->sock), 0);
    cr_assert_eq(nng_listen(h->sock, "tcp://127.0.0.1:0", &l, 0), 0);
    cr_assert_eq(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port), 0);
    snprintf(h->url, sizeof(h->url), "tcp://127.0.0.1:%d", port);
    for (unsigned i = 0; i < FAKE_CTX; i++)
        cr_assert_eq(pthread_create(&h->th[i], NULL, fake_serve, h), 0);
}

static void fake_stop(fake_host *h)
{
    nng_close(h->sock); /* fails the waiting receives */
    for (unsigned i = 0; i < FAKE_CTX; i++)
        pthread_join(h->th[i], NULL);
    pthread_mutex_destroy(&h->lock);
}

Test(verifierd, two_daemons_never_share_a_host)
{
    static fake_host fakes[FAKE_HOSTS];
    snprintf(url, sizeof(url), "sqlite:%s/pair.db", dir);
    vstore *s = open_store();
    char *body = shared_policy(), *aik = host_file(0, "aik.pem");
    cr_assert_eq(store_policy_put(s, "fleet", body, strlen(body), time(NULL)), SRTM_OK);
    vs_host *h = calloc(1, sizeof(*h));
    for (unsigned i = 0; i < FAKE_HOSTS; i++) {
        fake_start(&fakes[i]);
        snprintf(h->name, sizeof(h->name), "fake-%u", i);
        snprintf(h->address, sizeof(h->address), "%s", fakes[i].url);
        snprintf(h->aik_pem, sizeof(h->aik_pem), "%s\n", aik);
        snprintf(h->policy, sizeof(h->policy), "fleet");
        h->interval_s = 1;
        cr_assert_eq(store_host_add(s, h, time(NULL), NULL), SRTM_OK, "%s", store_errmsg(s));
    }
    /* Two slots each for four hosts: neither daemon can take the whole fleet. A time-out
     * far above the answer time: an attempt given up while its host still works on it
     * would overlap the next one without any lease broken. */
    pid_t a = daemon_start_args("node-a", "2", "5000"),
          b = daemon_start_args("node-b", "2", "5000");
    bool seen_a = false, seen_b = false;
    double end = fleet_now_s() + 6;
    while (fleet_now_s() < end) {
        for (unsigned i = 0; i < FAKE_HOSTS; i++) {
            snprintf(h->name, sizeof(h->name), "fake-%u", i);
            cr_assert_eq(store_host_get(s, h->name, h), SRTM_OK);
            seen_a = seen_a || strcmp(h->last_node, "node-a") == 0;
            seen_b = seen_b || strcmp(h->last_node, "node-b") == 0;
        }
        fleet_sleep_ms(100);
    }
    /* A stopping daemon abandons its attempts and releases their hosts, which are due at
     * once: the other daemon may quote one while it still answers the abandoned request
     * (seen: in 2 of 6 runs with 1.5 s between the two stops). That is no attempt
     * overlapping another, so the count ends here. */
    for (unsigned i = 0; i < FAKE_HOSTS; i++) {
        pthread_mutex_lock(&fakes[i].lock);
        fakes[i].closed = true;
        pthread_mutex_unlock(&fakes[i].lock);
    }
    daemon_stop(a);
    daemon_stop(b);
    bool logs_shown = false;
    for (unsigned i = 0; i < FAKE_HOSTS; i++) {
        fake_stop(&fakes[i]);
        if (fakes[i].max_busy > 1 && !logs_shown) { /* what the daemons did, for the failure */
            char cmd[256];
            snprintf(cmd, sizeof(cmd), "tail -n 60 %s/verifierd-node-a.log "
                                       "%s/verifierd-node-b.log >&2", dir, dir);
            logs_shown = system(cmd) == 0;
        }
        cr_expect_geq(fakes[i].quotes, 3, "fake-%u quoted %d times", i, fakes[i].quotes);
        cr_expect_eq(fakes[i].max_busy, 1, "fake-%u served %d quotes at once: %s", i,
                     fakes[i].max_busy, fakes[i].overlap);
        snprintf(h->name, sizeof(h->name), "fake-%u", i);
        cr_assert_eq(store_host_get(s, h->name, h), SRTM_OK);
        cr_expect_str_eq(h->lease_owner, "");
        cr_expect(strncmp(h->last_outcome, "error: srtmd answered denied", 28) == 0, "%s",
                  h->last_outcome);
        vs_verdict hist[4];
        size_t n = 0;
        cr_assert_eq(store_verdict_history(s, h->name, 0, hist, 4, &n), SRTM_OK);
        cr_expect(n == 1 && strcmp(hist[0].verdict, "error") == 0,
                  "fake-%u: every attempt was answered (%zu verdicts, the last %s)", i, n,
                  n > 0 ? hist[0].verdict : "none");
        vs_verdicts_free(hist, n);
    }
    cr_expect(seen_a && seen_b, "both daemons attest (a: %d, b: %d)", seen_a, seen_b);
    free(h);
    free(body);
    free(aik);
    store_close(s);
}

/* ---- the loop in-process: its counters ---- */

static uint64_t total_attempts(const attest_metrics *m)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < ATTEST_OUTCOMES; i++)
        n += m->attempts[i];
    return n;
}

Test(verifierd, loop_counters)
{
    static const unsigned picked[] = {HONEST_A, BAD_DIGEST, DEAD};
    vstore *s = fleet_store("loop.db", dir);
    vs_host *h = calloc(1, sizeof(*h));
    for (size_t k = 0; k < 3; k++)
        add_sim_host(s, picked[k]);
    attest_config cfg = {.store_url = url, .node = "in-process", .max_inflight = 8,
                         .timeout_ms = 1000, .lease_s = 6, .workers = 1};
    attest_loop *l = NULL;
    char err[256] = "";
    cr_assert_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_OK, "%s", err);
    attest_metrics m = {0};
    double end = fleet_now_s() + 30;
    do {
        fleet_sleep_ms(200);
        attest_metrics_get(l, &m);
    } while ((m.attempts[ATTEST_TRUSTED] == 0 || m.attempts[ATTEST_UNTRUSTED] == 0 ||
              m.attempts[ATTEST_UNREACHABLE] < 2) && fleet_now_s() < end);
    attest_stop(l);
    cr_assert_geq(m.attempts[ATTEST_TRUSTED], 1);
    cr_assert_geq(m.attempts[ATTEST_UNTRUSTED], 1);
    cr_assert_geq(m.attempts[ATTEST_UNREACHABLE], 2, "the dead host is retried");
    cr_expect_eq(m.attempts[ATTEST_ERROR], 0);
    cr_expect_geq(m.verdict_changes, 3);
    cr_expect_leq(m.verdict_changes, total_attempts(&m));
    cr_expect_eq(m.latency_count, total_attempts(&m));
    uint64_t in_buckets = 0;
    for (unsigned i = 0; i < ATTEST_LATENCY_BUCKETS; i++)
        in_buckets += m.latency_buckets[i];
    cr_expect_eq(in_buckets, m.latency_count);
    cr_expect_geq(m.latency_ms_sum, 1000 * m.attempts[ATTEST_UNREACHABLE],
                  "an unreachable attempt lasts its time-out");
    cr_expect_leq(m.inflight, cfg.max_inflight);
    cr_expect_eq(m.db_errors, 0);
    for (size_t k = 0; k < 3; k++) {
        snprintf(h->name, sizeof(h->name), "host-%u", picked[k]);
        cr_assert_eq(store_host_get(s, h->name, h), SRTM_OK);
        cr_expect_str_eq(h->lease_owner, "", "%s still leased after attest_stop", h->name);
    }
    /* A configuration the loop cannot honour is refused before anything starts. */
    cfg.timeout_ms = 7000; /* longer than the lease */
    cr_expect_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_E_INVALID);
    free(h);
    store_close(s);
}

/* Wait (up to 20 s) until host's current verdict is want; the verdict is left in *v. */
static bool wait_verdict(vstore *s, const char *host, const char *want, vs_verdict *v)
{
    double end = fleet_now_s() + 20;
    do {
        vs_verdicts_free(v, 1);
        cr_assert_eq(store_verdict_current(s, host, v), SRTM_OK);
        if (strcmp(v->verdict, want) == 0)
            return true;
        fleet_sleep_ms(200);
    } while (fleet_now_s() < end);
    return false;
}

/* The cache of parsed policies follows the stored policy: a new body is used on the next
 * attempt, one that does not parse makes the verdict "error", and a good one again trusts. */
Test(verifierd, policy_change_is_seen)
{
    vstore *s = fleet_store("policy.db", dir);
    char *body = shared_policy(); /* put back after the broken one */
    add_sim_host(s, HONEST_A);
    attest_config cfg = {.store_url = url, .node = "in-process", .max_inflight = 4,
                         .timeout_ms = 1000, .lease_s = 6, .workers = 1};
    attest_loop *l = NULL;
    char err[256] = "";
    cr_assert_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_OK, "%s", err);
    vs_verdict v = {0};
    cr_assert(wait_verdict(s, "host-0", "trusted", &v), "got %s", v.verdict);
    static const char broken[] = "{\"format\": \"srtm-policy-v1\", \"no such key\": 1}";
    cr_assert_eq(store_policy_put(s, "fleet", broken, strlen(broken), time(NULL)), SRTM_OK);
    cr_assert(wait_verdict(s, "host-0", "error", &v), "got %s", v.verdict);
    cr_expect(strstr(v.reasons, "policy fleet: ") != NULL, "%s", v.reasons);
    cr_assert_eq(store_policy_put(s, "fleet", body, strlen(body), time(NULL)), SRTM_OK);
    cr_assert(wait_verdict(s, "host-0", "trusted", &v), "got %s", v.verdict);
    attest_stop(l);
    vs_verdicts_free(&v, 1);
    free(body);
    store_close(s);
}

/* Stopping cancels what is in flight: an attempt at a host that never answers ends at
 * once, records nothing (the host was not attempted) and leaves no lease. */
Test(verifierd, stop_cancels_in_flight)
{
    vstore *s = fleet_store("stop.db", dir);
    add_sim_host(s, DEAD);
    attest_config cfg = {.store_url = url, .node = "in-process", .max_inflight = 4,
                         .timeout_ms = 5000, .lease_s = 30, .workers = 1};
    attest_loop *l = NULL;
    char err[256] = "";
    cr_assert_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_OK, "%s", err);
    attest_metrics m = {0};
    double end = fleet_now_s() + 10;
    do {
        fleet_sleep_ms(50);
        attest_metrics_get(l, &m);
    } while (m.inflight == 0 && fleet_now_s() < end);
    cr_assert_eq(m.inflight, 1, "the dead host's attempt is in flight");
    fleet_sleep_ms(300); /* connected and waiting for the answer */
    double t0 = fleet_now_s();
    attest_stop(l);
    cr_expect_lt(fleet_now_s() - t0, 2.0, "attest_stop waited for the time-out");
    vs_host *h = calloc(1, sizeof(*h));
    char name[32];
    snprintf(name, sizeof(name), "host-%u", DEAD);
    cr_assert_eq(store_host_get(s, name, h), SRTM_OK);
    cr_expect_eq(h->last_attempt, 0, "a cancelled attempt is not recorded");
    cr_expect_str_eq(h->lease_owner, "");
    free(h);
    store_close(s);
}

/* ---- mutual TLS ---- */

/* Hosts at tls+tcp:// addresses (srtm-sim --tls, as srtmd's tls+tcp listener) are
 * attested with the verifier's certificate; with a certificate of another CA, or with none,
 * they are unreachable: srtmd takes in only the fleet's verifiers. */
Test(verifierd, hosts_over_mutual_tls)
{
    char tls[128], simdir[128], ready[160], log[160], script[512], out[64], errs[512];
    snprintf(tls, sizeof(tls), "%s/tls", dir);
    snprintf(simdir, sizeof(simdir), "%s/tls-sim", dir);
    cr_assert(mkdir(tls, 0700) == 0 && mkdir(simdir, 0700) == 0);
    snprintf(script, sizeof(script), "%s/make-tls.sh", getenv("SRTM_TEST_DATA"));
    const char *mk[] = {"/bin/sh", script, tls, NULL};
    cr_assert_eq(test_run(mk, out, sizeof(out), errs, sizeof(errs)), 0, "%s", errs);
    snprintf(log, sizeof(log), "%s/sim.log", simdir);
    snprintf(ready, sizeof(ready), "%s/ready", simdir);
    const char *argv[] = {test_binary("SRTM_SIM"), "--hosts", "2", "--dir", simdir,
                          "--shared-boot", "--tls", tls, NULL};
    pid_t tls_sim = fleet_spawn(argv, log);
    double end = fleet_now_s() + 20;
    while (!test_path_exists(ready) && fleet_now_s() < end)
        fleet_sleep_ms(20);
    cr_assert(test_path_exists(ready), "srtm-sim --tls did not come up (see %s)", log);
    char *pem[4];
    static const char *const files[] = {"cli.pem", "cli.key", "ca.pem", "evil.pem"};
    for (int i = 0; i < 4; i++) {
        char path[192];
        snprintf(path, sizeof(path), "%s/%s", tls, files[i]);
        pem[i] = fleet_slurp(path);
    }
    char evil_key_path[192];
    snprintf(evil_key_path, sizeof(evil_key_path), "%s/evil.key", tls);
    char *evil_key = fleet_slurp(evil_key_path);
    /* Three stores, three loops: the fleet's certificate, another CA's, none. */
    static const char *const names[] = {"fleet", "stranger", "plain"};
    const char *certs[][2] = {{pem[0], pem[1]}, {pem[3], evil_key}, {NULL, NULL}};
    static const char *const want[] = {"trusted", "unreachable", "unreachable"};
    char *addr = fleet_host_file(simdir, 0, "url");
    cr_assert(strncmp(addr, "tls+tcp://", 10) == 0, "%s", addr);
    free(addr);
    for (int k = 0; k < 3; k++) {
        char file[32];
        snprintf(file, sizeof(file), "tls-%s.db", names[k]);
        vstore *s = fleet_store(file, simdir);
        add_host_in(s, simdir, 0);
        attest_config cfg = {.store_url = url, .node = names[k], .max_inflight = 4,
                             .timeout_ms = 1500, .lease_s = 6, .workers = 1,
                             .tls_cert_pem = certs[k][0], .tls_key_pem = certs[k][1],
                             .tls_ca_pem = certs[k][0] != NULL ? pem[2] : NULL};
        attest_loop *l = NULL;
        char err[256] = "";
        cr_assert_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_OK, "%s", err);
        vs_verdict v = {0};
        cr_expect(wait_verdict(s, "host-0", want[k], &v), "%s: got %s (%s)", names[k],
                  v.verdict, v.reasons != NULL ? v.reasons : "");
        attest_stop(l);
        vs_verdicts_free(&v, 1);
        store_close(s);
    }
    for (int i = 0; i < 4; i++)
        free(pem[i]);
    free(evil_key);
    kill(tls_sim, SIGTERM);
    cr_expect(waitpid(tls_sim, NULL, 0) == tls_sim);
}

/* ---- incremental attempts (docs/fleet.md, "Incremental attempts") ---- */

/* Start srtm-sim serving its hosts from DIR/sub with args after --dir; its pid. */
static pid_t sim_in(const char *sub, char *simdir, size_t size, const char *const *args)
{
    char log[192], ready[192];
    snprintf(simdir, size, "%s/%s", dir, sub);
    cr_assert(mkdir(simdir, 0700) == 0);
    snprintf(log, sizeof(log), "%s/sim.log", simdir);
    snprintf(ready, sizeof(ready), "%s/ready", simdir);
    const char *argv[24] = {test_binary("SRTM_SIM"), "--dir", simdir, "--shared-boot"};
    size_t n = 4;
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    pid_t pid = fleet_spawn(argv, log);
    double end = fleet_now_s() + 20;
    while (!test_path_exists(ready) && fleet_now_s() < end && waitpid(pid, NULL, WNOHANG) == 0)
        fleet_sleep_ms(20);
    cr_assert(test_path_exists(ready), "srtm-sim did not come up (see %s)", log);
    return pid;
}

static void sim_end(pid_t pid)
{
    kill(pid, SIGTERM);
    cr_expect(waitpid(pid, NULL, 0) == pid);
}

/* The loop in-process on store url (one host), until done(m) or 30 s; the counters. */
static attest_loop *loop_start(void)
{
    attest_config cfg = {.store_url = url, .node = "in-process", .max_inflight = 4,
                         .timeout_ms = 2000, .lease_s = 6, .workers = 1};
    attest_loop *l = NULL;
    char err[256] = "";
    cr_assert_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_OK, "%s", err);
    return l;
}

static void loop_until(attest_loop *l, attest_metrics *m, bool (*done)(const attest_metrics *))
{
    double end = fleet_now_s() + 30;
    do {
        fleet_sleep_ms(100);
        attest_metrics_get(l, m);
    } while (!done(m) && fleet_now_s() < end);
}

static uint64_t full_seen; /* the full attempts before the policy changed */

static bool two_incremental(const attest_metrics *m)
{
    return m->kinds[ATTEST_KIND_INCREMENTAL] >= 2;
}

static bool full_again(const attest_metrics *m)
{
    return m->kinds[ATTEST_KIND_FULL] > full_seen;
}

static void log_metrics(const attest_metrics *m)
{
    cr_log_info("full %llu (%llu bytes), incremental %llu (%llu bytes), retries %llu; "
                "trusted %llu, untrusted %llu, unreachable %llu, error %llu",
                (unsigned long long)m->kinds[0], (unsigned long long)m->kind_bytes[0],
                (unsigned long long)m->kinds[1], (unsigned long long)m->kind_bytes[1],
                (unsigned long long)m->kinds[2], (unsigned long long)m->attempts[0],
                (unsigned long long)m->attempts[1], (unsigned long long)m->attempts[2],
                (unsigned long long)m->attempts[3]);
}

/* An honest host whose logs grow (600 entries per CCR, 20 more a second): the first
 * attempt is full, the later ones incremental, trusted, and their answers a fraction of
 * the full one's bytes; its state follows the reports. A changed policy gives a full
 * attempt (the state was judged under the old one), then incremental ones again. */
Test(verifierd, honest_growing_host_is_verified_incrementally)
{
    char simdir[160];
    static const char *const args[] = {"--hosts", "1", "--log-entries", "600", "--growth", "20",
                                       NULL};
    pid_t sim = sim_in("grow", simdir, sizeof(simdir), args);
    vstore *s = fleet_store("inc.db", simdir);
    add_host_in(s, simdir, 0);
    attest_loop *l = loop_start();
    attest_metrics m = {0};
    loop_until(l, &m, two_incremental);
    log_metrics(&m);
    cr_assert_geq(m.kinds[ATTEST_KIND_INCREMENTAL], 2, "incremental attempts follow the first");
    cr_assert_eq(m.kinds[ATTEST_KIND_FULL], 1, "only the first attempt is full");
    cr_assert_eq(m.kinds[ATTEST_KIND_RETRY], 0);
    cr_assert_eq(m.attempts[ATTEST_UNTRUSTED] + m.attempts[ATTEST_ERROR], 0);
    double full = (double)m.kind_bytes[ATTEST_KIND_FULL],
           inc = (double)m.kind_bytes[ATTEST_KIND_INCREMENTAL] / m.kinds[ATTEST_KIND_INCREMENTAL];
    cr_expect_lt(inc, full / 4, "an incremental answer %.0f bytes, the full one %.0f", inc,
                 full);
    vs_host *h = calloc(1, sizeof(*h));
    cr_assert_eq(store_host_get(s, "host-0", h), SRTM_OK);
    cr_expect_str_eq(h->verdict, "trusted");
    vs_state st = {0};
    cr_assert_eq(store_state_get(s, "host-0", &st), SRTM_OK);
    cr_expect(st.blob_len > 0 && st.seq > 600 * 9, "the state holds the last report (seq %lld)",
              (long long)st.seq);
    vs_state_clear(&st);
    /* The same policy, another text: another SHA-256, so the next quote is full. */
    char *body = fleet_shared_policy(simdir), *spaced = malloc(strlen(body) + 2);
    snprintf(spaced, strlen(body) + 2, "%s ", body);
    full_seen = m.kinds[ATTEST_KIND_FULL];
    uint64_t inc_before = m.kinds[ATTEST_KIND_INCREMENTAL];
    cr_assert_eq(store_policy_put(s, "fleet", spaced, strlen(spaced), time(NULL)), SRTM_OK);
    loop_until(l, &m, full_again);
    attest_metrics_get(l, &m);
    uint64_t inc_at_full = m.kinds[ATTEST_KIND_INCREMENTAL];
    full_seen = inc_at_full + 1;
    double end = fleet_now_s() + 10;
    while (m.kinds[ATTEST_KIND_INCREMENTAL] <= inc_at_full && fleet_now_s() < end) {
        fleet_sleep_ms(100);
        attest_metrics_get(l, &m);
    }
    attest_stop(l);
    log_metrics(&m);
    cr_assert_eq(m.kinds[ATTEST_KIND_FULL], 2, "the changed policy gave one full attempt");
    cr_expect_leq(inc_at_full, inc_before + 1, "at most one incremental attempt was in flight");
    cr_assert_gt(m.kinds[ATTEST_KIND_INCREMENTAL], inc_at_full, "then incremental again");
    cr_assert_eq(m.attempts[ATTEST_UNTRUSTED] + m.attempts[ATTEST_ERROR], 0);
    cr_assert_eq(m.kinds[ATTEST_KIND_RETRY], 0);
    vs_verdict hist[4];
    size_t n = 0;
    cr_assert_eq(store_verdict_history(s, "host-0", 0, hist, 4, &n), SRTM_OK);
    cr_expect_eq(n, 1, "trusted throughout: one verdict");
    vs_verdicts_free(hist, n);
    free(h);
    free(body);
    free(spaced);
    store_close(s);
    sim_end(sim);
}

static bool rebooted_and_back(const attest_metrics *m)
{
    return m->kinds[ATTEST_KIND_FULL] >= 2 && m->kinds[ATTEST_KIND_INCREMENTAL] >= 2;
}

/* A host that reboots every 5 s: each new boot (another srtm instance, resetCount moved)
 * is verified from a full report, since srtmd answers a request since another run in
 * full, and trusted; within a boot the attempts are incremental. */
Test(verifierd, rebooting_host_is_verified_in_full_after_each_reboot)
{
    char simdir[160];
    static const char *const args[] = {"--hosts", "1", "--log-entries", "100", "--growth", "10",
                                       "--reboot-every", "5", NULL};
    pid_t sim = sim_in("reboot", simdir, sizeof(simdir), args);
    vstore *s = fleet_store("reboot.db", simdir);
    add_host_in(s, simdir, 0);
    attest_loop *l = loop_start();
    attest_metrics m = {0};
    loop_until(l, &m, rebooted_and_back);
    attest_stop(l);
    log_metrics(&m);
    cr_assert_geq(m.kinds[ATTEST_KIND_FULL], 2, "a full attempt after the reboot");
    cr_assert_geq(m.kinds[ATTEST_KIND_INCREMENTAL], 2);
    cr_assert_eq(m.kinds[ATTEST_KIND_RETRY], 0, "another run's full answer needs no retry");
    cr_assert_eq(m.attempts[ATTEST_UNTRUSTED] + m.attempts[ATTEST_ERROR], 0);
    vs_state st = {0};
    cr_assert_eq(store_state_get(s, "host-0", &st), SRTM_OK);
    cr_expect_gt(st.reset_count, 1, "the state is of a later boot");
    vs_state_clear(&st);
    vs_verdict v = {0};
    cr_assert_eq(store_verdict_current(s, "host-0", &v), SRTM_OK);
    cr_expect_str_eq(v.verdict, "trusted");
    vs_verdicts_free(&v, 1);
    store_close(s);
    sim_end(sim);
}

/* A host whose every second quote rewrites an entry an earlier one reported
 * (srtm-sim --spliced-increment), attested by the daemon: asked since its first report,
 * its second reports a base value that is not the value verified, so it is untrusted with
 * the continuity check's reason in its verdict, its history and the HTTP API. */
Test(verifierd, spliced_host_fails_continuity)
{
    char simdir[160];
    static const char *const args[] = {"--hosts", "1", "--spliced-increment", "0", NULL};
    pid_t sim = sim_in("spliced", simdir, sizeof(simdir), args);
    vstore *s = fleet_store("spliced.db", simdir);
    add_host_in(s, simdir, 0);
    int port = test_free_port();
    snprintf(http_url, sizeof(http_url), "http://127.0.0.1:%d", port);
    pid_t pid = daemon_start("node-s");
    vs_verdict v = {0};
    bool untrusted = wait_verdict(s, "host-0", "untrusted", &v);
    static char body[1 << 20];
    int status = http_get(port, "/api/hosts/host-0/history", body, sizeof(body));
    http_url[0] = '\0';
    daemon_stop(pid);
    cr_assert(untrusted, "got %s", v.verdict);
    cr_expect(strstr(v.reasons, "\"check\":\"continuity\"") != NULL, "%s", v.reasons);
    cr_expect(strstr(v.reasons, "does not extend what was verified") != NULL, "%s", v.reasons);
    cr_expect(strstr(v.reasons, "evidence not verified (failed: continuity)") != NULL, "%s",
              v.reasons);
    vs_verdict hist[8];
    size_t n = 0;
    cr_assert_eq(store_verdict_history(s, "host-0", 0, hist, 8, &n), SRTM_OK);
    cr_assert_geq(n, 2);
    cr_expect_str_eq(hist[n - 1].verdict, "trusted", "its first, full report was trusted");
    vs_verdicts_free(hist, n);
    cr_assert_eq(status, 200);
    cr_expect(strstr(body, "continuity") != NULL, "%s", body);
    vs_verdicts_free(&v, 1);
    store_close(s);
    sim_end(sim);
}

static bool retried_then_incremental(const attest_metrics *m)
{
    return m->kinds[ATTEST_KIND_RETRY] >= 1 && m->kinds[ATTEST_KIND_INCREMENTAL] >= 1;
}

/* A stored state that holds the platform's CCR only (the state of a quote of the platform
 * alone): the loop asks since it, srtmd (the sim) answers incrementally for every
 * component, and the VMs' CCRs, reported after entries the state does not hold, cannot
 * be judged from it (needs full). The same attempt quotes again in full and is trusted
 * (kind full-retry); the state of that result then allows incremental attempts. */
Test(verifierd, an_answer_the_state_cannot_judge_is_quoted_again_in_full)
{
    char simdir[160];
    static const char *const args[] = {"--hosts", "1", "--log-entries", "50", "--growth", "10",
                                       NULL};
    pid_t sim = sim_in("retry", simdir, sizeof(simdir), args);
    vstore *s = fleet_store("retry.db", simdir);
    add_host_in(s, simdir, 0);
    char *addr = fleet_host_file(simdir, 0, "url"), *aik = fleet_host_file(simdir, 0, "aik.pem");
    char *body = fleet_shared_policy(simdir), msg[256] = "";
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_parse(body, strlen(body), NULL, &pol, msg, sizeof(msg)), SRTM_OK,
                 "%s", msg);
    srtm_conn *c = NULL;
    uint8_t nonce[32] = {7}, *ev = NULL;
    size_t len = 0;
    const char *platform[] = {"platform"};
    cr_assert_eq(srtm_open(addr, &c), SRTM_OK);
    cr_assert_eq(srtm_quote_selection(c, nonce, sizeof(nonce), platform, 1, false, &ev, &len),
                 SRTM_OK);
    srtm_close(c);
    srtm_verify_result *r = NULL;
    cr_assert_eq(srtm_verify_with_state(ev, len, aik, pol, nonce, sizeof(nonce), NULL, &r),
                 SRTM_E_DENIED, "the policy's VMs are not reported");
    vs_state st = {0};
    cr_assert_eq(srtm_verify_result_state(r, &st.blob, &st.blob_len), SRTM_OK,
                 "the evidence verified");
    srtm_verify_state *vst = NULL;
    cr_assert_eq(srtm_verify_state_parse(st.blob, st.blob_len, &vst), SRTM_OK);
    cr_assert_eq(srtm_verify_state_since(vst, pol, st.instance, (uint64_t *)&st.seq), 1,
                 "the platform's CCR is resumable: the loop will ask since");
    st.instance_len = SRTM_INSTANCE_LEN;
    st.reset_count = 1;
    cr_assert_eq(store_state_put(s, "host-0", &st), SRTM_OK, "%s", store_errmsg(s));
    attest_loop *l = loop_start();
    attest_metrics m = {0};
    loop_until(l, &m, retried_then_incremental);
    attest_stop(l);
    log_metrics(&m);
    cr_assert_eq(m.kinds[ATTEST_KIND_RETRY], 1, "the first attempt is quoted again in full");
    cr_assert_eq(m.kinds[ATTEST_KIND_FULL], 0);
    cr_assert_geq(m.kinds[ATTEST_KIND_INCREMENTAL], 1, "then incremental");
    cr_assert_eq(m.attempts[ATTEST_UNTRUSTED] + m.attempts[ATTEST_ERROR], 0);
    cr_expect_gt(m.kind_bytes[ATTEST_KIND_RETRY], 0);
    vs_verdict v = {0};
    cr_assert_eq(store_verdict_current(s, "host-0", &v), SRTM_OK);
    cr_expect_str_eq(v.verdict, "trusted");
    vs_verdicts_free(&v, 1);
    srtm_verify_state_free(vst);
    srtm_verify_result_free(r);
    srtm_policy_free(pol);
    vs_state_clear(&st);
    free(ev);
    free(addr);
    free(aik);
    free(body);
    store_close(s);
    sim_end(sim);
}
