/*
 * The fleet verifier over a mixed fleet: three real hosts (srtmd on a swtpm of its own each,
 * launched as the unit launches it, serving remote verifiers with mutual TLS) and srtm-sim's
 * simulated hosts (honest ones, one host of each lie, a dead one), attested together by one
 * attestation loop (attest_start) through a SQLite store, and read back through the HTTP
 * API and the status page as headless chromium renders it.
 *
 * Every honest host becomes trusted, every liar untrusted for the check that catches its
 * lie, the dead host unreachable. A binary the policy does not know, run on real host 2,
 * makes the first attempt that starts after it untrusted, within one interval, with the
 * binary named in the reasons the API, the page and the history show. A reboot of real host
 * 3 is verified in its new boot and trusted again, while hosts 1 and 2 keep their verdicts.
 */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <srtm/srtm.h>

#include "attest.h"
#include "fleet_helpers.h"
#include "helpers.h"
#include "http.h"
#include "store.h"

#define INTERVAL 2      /* seconds between two attempts of a host (no jitter below 10 s) */
#define JITTER (INTERVAL / 10)
#define SLACK_S 2       /* the loop's 200-ms claim tick, whole-second times, the attempt itself */
#define TIMEOUT_MS 5000 /* per attempt: the dead host's attempts end after it */
#define LEASE_S 30
#define REAL 3
#define BINARY_OK "vm-1 kernel"
#define BINARY_BAD "a binary nobody allowed"

enum { SIM_HONEST_A, SIM_HONEST_B, SIM_HONEST_C, SIM_BAD_DIGEST, SIM_REPLAYED_NONCE,
       SIM_UNKNOWN_BINARY, SIM_WRONG_AIK, SIM_DEAD, SIM_HOSTS };

/* What every host must end up as after the fleet settled, and what its reasons hold. */
typedef struct expected {
    const char *name, *verdict, *reason, *reason2; /* reasons NULL: not checked */
} expected;

/* sim-I is srtm-sim's host I (the enum above). */
static const expected fleet[] = {
    {"real-1", "trusted", NULL, NULL},
    {"real-2", "trusted", NULL, NULL},
    {"real-3", "trusted", NULL, NULL},
    {"sim-0", "trusted", NULL, NULL},
    {"sim-1", "trusted", NULL, NULL},
    {"sim-2", "trusted", NULL, NULL},
    {"sim-3", "untrusted", "value does not match the replay", NULL},
    {"sim-4", "untrusted", "\"check\":\"nonce\"", "\"check\":\"quote-qualifier\""},
    {"sim-5", "untrusted", "(\\\"unknown\\\") is not in the allowlist", NULL},
    {"sim-6", "untrusted", "\"check\":\"quote-signature\"", "\"check\":\"certificate-signature\""},
    {"sim-7", "unreachable", "Timed out", NULL},
};
#define FLEET (sizeof(fleet) / sizeof(fleet[0]))

static struct {
    char dir[64]; /* tls/, sim/ and the store */
    char store_url[128];
    test_platform real[REAL];
    srtm_cap vm_cap[REAL]; /* vm-1's capability on each, wiped at teardown */
    pid_t sim_pid;
    char *tls_cert, *tls_key, *tls_ca;
    vstore *s;
    attest_loop *loop;
    vhttp *http;
    int http_port;
} F;

static void teardown(void)
{
    attest_stop(F.loop);
    vhttp_stop(F.http);
    store_close(F.s);
    if (F.sim_pid > 0) {
        kill(F.sim_pid, SIGTERM);
        cr_expect(waitpid(F.sim_pid, NULL, 0) == F.sim_pid);
    }
    for (unsigned i = 0; i < REAL; i++) {
        srtm_cap_wipe(&F.vm_cap[i]);
        test_platform_stop(&F.real[i]);
    }
    free(F.tls_cert);
    free(F.tls_key);
    free(F.tls_ca);
    if (F.dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
        cr_expect(system(cmd) == 0);
    }
}

TestSuite(fleet_mixed, .fini = teardown, .timeout = 240);

/* ---- the store ---- */

static void add_host(const char *name, const char *addr, const char *aik, const char *policy)
{
    vs_host *h = calloc(1, sizeof(*h));
    cr_assert(h != NULL);
    snprintf(h->name, sizeof(h->name), "%s", name);
    snprintf(h->address, sizeof(h->address), "%s", addr);
    snprintf(h->aik_pem, sizeof(h->aik_pem), "%s\n", aik);
    snprintf(h->policy, sizeof(h->policy), "%s", policy);
    h->interval_s = INTERVAL;
    cr_assert_eq(store_host_add(F.s, h, time(NULL), NULL), SRTM_OK, "%s", store_errmsg(F.s));
    free(h);
}

static void put_policy(const char *name, const char *body)
{
    cr_assert_eq(store_policy_put(F.s, name, body, strlen(body), time(NULL)), SRTM_OK, "%s",
                 store_errmsg(F.s));
}

/* The host's row; static storage, valid until the next call. */
static const vs_host *host(const char *name)
{
    static vs_host h;
    cr_assert_eq(store_host_get(F.s, name, &h), SRTM_OK, "%s: %s", name, store_errmsg(F.s));
    return &h;
}

static int64_t reset_count(const char *name)
{
    vs_state st = {0};
    int64_t rc = store_state_get(F.s, name, &st) == SRTM_OK ? st.reset_count : 0;
    vs_state_clear(&st);
    return rc;
}

static size_t history_len(const char *name)
{
    vs_verdict hist[8];
    size_t n = 0;
    cr_assert_eq(store_verdict_history(F.s, name, 0, hist, 8, &n), SRTM_OK);
    vs_verdicts_free(hist, n);
    return n;
}

/* ---- the real hosts ---- */

static void digest_of(const char *what, uint8_t d[SRTM_DIGEST_LEN], char hex[65])
{
    cr_assert_eq(srtm_sha256((const uint8_t *)what, strlen(what), d), SRTM_OK);
    for (unsigned i = 0; i < SRTM_DIGEST_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Extend vm-1's CCR 0 on real host i with the digest of binary (its name as the
 * description). */
static void extend_vm(unsigned i, const char *binary)
{
    srtm_conn *c = NULL;
    uint8_t d[SRTM_DIGEST_LEN];
    char hex[65];
    digest_of(binary, d, hex);
    cr_assert_eq(srtm_open(F.real[i].d.url, &c), SRTM_OK, "%s", srtm_last_message(NULL));
    cr_assert_eq(srtm_extend(c, &F.vm_cap[i], "vm-1", 0, d, 0, binary, NULL), SRTM_OK, "%s",
                 srtm_last_message(c));
    srtm_close(c);
}

/* Register vm-1 (one CCR) on real host i and extend it with the digest of binary. */
static void start_vm(unsigned i, const char *binary)
{
    srtm_conn *c = NULL;
    srtm_cap admin;
    uint64_t h = 0;
    cr_assert_eq(srtm_cap_load(F.real[i].d.cap_path, &admin), SRTM_OK);
    cr_assert_eq(srtm_open(F.real[i].d.url, &c), SRTM_OK, "%s", srtm_last_message(NULL));
    srtm_cap_wipe(&F.vm_cap[i]);
    cr_assert_eq(srtm_register(c, &admin, "vm-1", 1, &h, &F.vm_cap[i]), SRTM_OK, "%s",
                 srtm_last_message(c));
    srtm_close(c);
    srtm_cap_wipe(&admin);
    extend_vm(i, binary);
}

/* Real host i's policy: vm-1 may run BINARY_OK only, the platform nothing; PCRs from the
 * host's own reference file (its srtmd configuration, measured, names its own ports). */
static void put_real_policy(unsigned i, const char *name)
{
    uint8_t d[SRTM_DIGEST_LEN];
    char hex[65], body[2048];
    digest_of(BINARY_OK, d, hex);
    snprintf(body, sizeof(body),
             "{\"format\": \"srtm-policy-v1\", \"aik\": {\"scheme\": \"ecdsa-sha256\"}, "
             "\"pcrs\": {\"reference_file\": \"%s\"}, \"components\": {"
             "\"platform\": {\"ccrs\": {\"0\": {\"allowed_digests\": []}}}, "
             "\"vm-1\": {\"ccrs\": {\"0\": {\"allowed_digests\": [{\"digest\": \"%s\", "
             "\"label\": \"kernel\"}]}}}}, \"require\": [\"vm-1\"]}",
             F.real[i].ref, hex);
    put_policy(name, body);
}

/* The verifier's certificates and srtmd's, made once for every real host. */
static void tls_up(void)
{
    char tls[128], script[512], out[64], err[512];
    snprintf(tls, sizeof(tls), "%s/tls", F.dir);
    cr_assert_eq(mkdir(tls, 0700), 0);
    const char *data = getenv("SRTM_TEST_DATA");
    cr_assert(data != NULL, "SRTM_TEST_DATA is not set (run the test through meson test)");
    snprintf(script, sizeof(script), "%s/make-tls.sh", data);
    const char *mk[] = {"/bin/sh", script, tls, NULL};
    cr_assert_eq(test_run(mk, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    char path[160];
    snprintf(path, sizeof(path), "%s/cli.pem", tls);
    F.tls_cert = fleet_slurp(path);
    snprintf(path, sizeof(path), "%s/cli.key", tls);
    F.tls_key = fleet_slurp(path);
    snprintf(path, sizeof(path), "%s/ca.pem", tls);
    F.tls_ca = fleet_slurp(path);
}

/* Real host i: srtmd on its own swtpm with a mutual-TLS listener, vm-1 running BINARY_OK,
 * in the store as real-(i+1) under a policy of its own. */
static void real_up(unsigned i)
{
    char addr[64], more[1024], name[16];
    snprintf(addr, sizeof(addr), "tls+tcp://127.0.0.1:%d", test_free_port());
    snprintf(more, sizeof(more),
             "listen-tcp %s\ntls-cert %s/tls/srv.pem\ntls-key %s/tls/srv.key\n"
             "tls-ca %s/tls/ca.pem\n",
             addr, F.dir, F.dir, F.dir);
    test_platform_start_conf(&F.real[i], more);
    start_vm(i, BINARY_OK);
    snprintf(name, sizeof(name), "real-%u", i + 1);
    put_real_policy(i, name);
    char *aik = fleet_slurp(F.real[i].aik_pem);
    add_host(name, addr, aik, name);
    free(aik);
}

/* ---- the simulated hosts ---- */

/* srtm-sim serving SIM_HOSTS hosts with one boot chain, so that one policy ("sim") fits
 * them all; in the store as sim-0 .. sim-7. */
static void sim_up(void)
{
    char sim[128], log[160], ready[160], n[8];
    snprintf(sim, sizeof(sim), "%s/sim", F.dir);
    cr_assert_eq(mkdir(sim, 0700), 0);
    snprintf(n, sizeof(n), "%d", SIM_HOSTS);
    snprintf(log, sizeof(log), "%s/sim.log", F.dir);
    snprintf(ready, sizeof(ready), "%s/ready", sim);
    char bad[32], replay[32], unknown[32], aik[32], dead[8];
    snprintf(bad, sizeof(bad), "bad-digest@%d", SIM_BAD_DIGEST);
    snprintf(replay, sizeof(replay), "replayed-nonce@%d", SIM_REPLAYED_NONCE);
    snprintf(unknown, sizeof(unknown), "unknown-binary@%d", SIM_UNKNOWN_BINARY);
    snprintf(aik, sizeof(aik), "wrong-aik@%d", SIM_WRONG_AIK);
    snprintf(dead, sizeof(dead), "%d", SIM_DEAD);
    const char *argv[] = {test_binary("SRTM_SIM"), "--hosts", n, "--dir", sim, "--shared-boot",
                          "--lie", bad, "--lie", replay, "--lie", unknown, "--lie", aik,
                          "--dead", dead, NULL};
    F.sim_pid = fleet_spawn(argv, log);
    double end = fleet_now_s() + 20;
    while (!test_path_exists(ready) && fleet_now_s() < end &&
           waitpid(F.sim_pid, NULL, WNOHANG) == 0)
        fleet_sleep_ms(20);
    cr_assert(test_path_exists(ready), "srtm-sim did not come up (see %s)", log);
    char *body = fleet_shared_policy(sim);
    put_policy("sim", body);
    free(body);
    for (unsigned i = 0; i < SIM_HOSTS; i++) {
        char name[16];
        char *addr = fleet_host_file(sim, i, "url"), *key = fleet_host_file(sim, i, "aik.pem");
        snprintf(name, sizeof(name), "sim-%u", i);
        add_host(name, addr, key, "sim");
        free(addr);
        free(key);
    }
}

/* ---- the verifier: its loop and its HTTP API ---- */

static void verifier_up(void)
{
    attest_config cfg = {.store_url = F.store_url, .node = "mixed", .max_inflight = 16,
                         .timeout_ms = TIMEOUT_MS, .lease_s = LEASE_S, .workers = 2,
                         .tls_cert_pem = F.tls_cert, .tls_key_pem = F.tls_key,
                         .tls_ca_pem = F.tls_ca};
    char err[256] = "";
    cr_assert_eq(attest_start(&cfg, &F.loop, err, sizeof(err)), SRTM_OK, "%s", err);
    vhttp_config hc = {.listen_url = "http://127.0.0.1:0", .store_url = F.store_url,
                       .node = "mixed"};
    cr_assert_eq(vhttp_start(&hc, &F.http), SRTM_OK);
    F.http_port = (int)vhttp_port(F.http);
}

/* GET path from the API: 200 and JSON, owned by the caller. */
static json_object *api_get(const char *path)
{
    char *body = NULL;
    int status = fleet_http_get(F.http_port, path, &body);
    cr_assert_eq(status, 200, "GET %s: %d %s", path, status, body != NULL ? body : "");
    json_object *o = json_tokener_parse(body);
    cr_assert(o != NULL, "GET %s: not JSON: %s", path, body);
    free(body);
    return o;
}

static const char *str_at(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no %s in %s", key,
              json_object_to_json_string(o));
    return json_object_get_string(v);
}

/* The reasons of a host (or history entry) object of the API, as JSON text in the form the
 * loop stores them. */
static const char *reasons_of(json_object *o)
{
    json_object *r = NULL;
    cr_assert(json_object_object_get_ex(o, "reasons", &r), "no reasons in %s",
              json_object_to_json_string(o));
    return json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- 1: every host's verdict ---- */

static bool settled(void)
{
    for (size_t k = 0; k < FLEET; k++)
        if (strcmp(host(fleet[k].name)->verdict, fleet[k].verdict) != 0)
            return false;
    return true;
}

static void wait_settled(double within_s)
{
    double end = fleet_now_s() + within_s;
    while (!settled() && fleet_now_s() < end)
        fleet_sleep_ms(100);
    for (size_t k = 0; k < FLEET; k++) {
        const vs_host *h = host(fleet[k].name);
        cr_log_info("%s: %s (%s)", h->name, h->verdict, h->last_outcome);
    }
    cr_assert(settled(), "the fleet did not reach its verdicts within %.0f s", within_s);
}

static void expect_reasons(const char *where, const expected *e, const char *reasons)
{
    const char *want[] = {e->reason, e->reason2};
    for (size_t k = 0; k < 2; k++)
        cr_expect(want[k] == NULL || strstr(reasons, want[k]) != NULL,
                  "%s, %s: '%s' not in %s", where, e->name, want[k], reasons);
}

/* The host's verdict and reasons in the store and through GET /api/hosts/NAME. */
static void check_host(const expected *e)
{
    vs_verdict v = {0};
    cr_assert_eq(store_verdict_current(F.s, e->name, &v), SRTM_OK);
    cr_expect_str_eq(v.verdict, e->verdict, "%s", e->name);
    expect_reasons("store", e, v.reasons);
    vs_verdicts_free(&v, 1);
    char path[64];
    snprintf(path, sizeof(path), "/api/hosts/%s", e->name);
    json_object *o = api_get(path);
    cr_expect_str_eq(str_at(o, "verdict"), e->verdict, "API, %s", e->name);
    expect_reasons("API", e, reasons_of(o));
    json_object_put(o);
}

/* ---- 2: an unknown binary on real host 2 ---- */

#define ATTEMPT_WAIT_S (INTERVAL + JITTER + SLACK_S + TIMEOUT_MS / 1000)

/* An attempt as the host's row records it. */
typedef struct attempt_rec {
    int64_t at;  /* when it was recorded */
    int64_t due; /* when the next one may start */
    char outcome[VS_OUTCOME_MAX + 1];
} attempt_rec;

static void attempt_of(const char *name, attempt_rec *r)
{
    const vs_host *h = host(name);
    r->at = h->last_attempt;
    r->due = h->next_due;
    snprintf(r->outcome, sizeof(r->outcome), "%s", h->last_outcome);
}

/* Wait up to within_s for the host's next recorded attempt after prev (polling every
 * 100 ms; attempts are an interval apart); false if none came. */
static bool next_attempt(const char *name, const attempt_rec *prev, attempt_rec *next,
                         double within_s)
{
    double end = fleet_now_s() + within_s;
    do {
        attempt_of(name, next);
        if (next->at != prev->at || next->due != prev->due)
            return true;
        fleet_sleep_ms(100);
    } while (fleet_now_s() < end);
    return false;
}

/* "VERDICT" or "VERDICT: detail". */
static bool outcome_is(const char *outcome, const char *verdict)
{
    size_t n = strlen(verdict);
    return strncmp(outcome, verdict, n) == 0 && (outcome[n] == '\0' || outcome[n] == ':');
}

/* BINARY_BAD runs on real-2 right after an attempt was recorded. The first attempt that
 * surely started after it must say untrusted and start within one interval: an attempt
 * starts at or after the due time its predecessor set, so one whose predecessor was due
 * after `ran` (a whole second after the extension returned) started after the binary ran. */
static void unknown_binary_on_real_2(void)
{
    attempt_rec prev, cur;
    attempt_of("real-2", &prev);
    cr_assert(next_attempt("real-2", &prev, &cur, ATTEMPT_WAIT_S), "real-2 is not attempted");
    cr_assert(outcome_is(cur.outcome, "trusted"), "real-2: %s", cur.outcome);
    prev = cur;
    extend_vm(1, BINARY_BAD);
    int64_t ran = (int64_t)time(NULL);
    for (;;) {
        cr_assert(next_attempt("real-2", &prev, &cur, ATTEMPT_WAIT_S),
                  "no attempt of real-2 recorded within %d s", ATTEMPT_WAIT_S);
        if (prev.due > ran)
            break;
        prev = cur; /* may have started before the binary ran */
    }
    cr_assert(outcome_is(cur.outcome, "untrusted"),
              "the first attempt started after the unknown binary ran says %s", cur.outcome);
    cr_assert_leq(cur.at - ran, INTERVAL + JITTER + SLACK_S,
                  "that attempt ended %lld s after the binary ran (due %lld s after)",
                  (long long)(cur.at - ran), (long long)(prev.due - ran));
    cr_log_info("real-2: the binary ran at %lld; the next attempt was due %lld s and recorded "
                "%lld s later, untrusted",
                (long long)ran, (long long)(prev.due - ran), (long long)(cur.at - ran));
}

#define NAMED "(\\\"" BINARY_BAD "\\\") is not in the allowlist"

/* real-2's reasons name the binary, through the API, and its history (newest first) is
 * that untrusted verdict after the trusted one. */
static void real_2_reasons(void)
{
    json_object *o = api_get("/api/hosts/real-2");
    cr_expect_str_eq(str_at(o, "verdict"), "untrusted");
    const char *r = reasons_of(o);
    cr_expect(strstr(r, NAMED) != NULL && strstr(r, "platform/vm-1") != NULL, "%s", r);
    json_object_put(o);
    o = api_get("/api/hosts/real-2/history");
    json_object *hist = NULL;
    cr_assert(json_object_object_get_ex(o, "history", &hist));
    cr_assert_eq(json_object_array_length(hist), 2, "%s", json_object_to_json_string(hist));
    json_object *last = json_object_array_get_idx(hist, 0);
    cr_expect_str_eq(str_at(last, "verdict"), "untrusted");
    cr_expect(strstr(reasons_of(last), NAMED) != NULL, "%s", reasons_of(last));
    cr_expect_str_eq(str_at(json_object_array_get_idx(hist, 1), "verdict"), "trusted");
    json_object_put(o);
}

/* ---- 3: a reboot of real host 3 ---- */

/* real-3 reboots (swtpm power-cycled, srtmd launched again, empty) and vm-1 starts
 * honestly: trusted again from a verification of the new boot. Meanwhile real-1 stays
 * trusted and real-2 untrusted, in their boots, every time the store is read. */
static void reboot_real_3(void)
{
    int64_t boot[REAL];
    for (unsigned i = 0; i < REAL; i++)
        boot[i] = reset_count(fleet[i].name);
    cr_assert(boot[2] > 0, "real-3 has no stored state");
    test_platform_reboot(&F.real[2]);
    start_vm(2, BINARY_OK);
    double end = fleet_now_s() + 30;
    bool done = false;
    while (!done && fleet_now_s() < end) {
        cr_assert_str_eq(host("real-1")->verdict, "trusted");
        cr_assert_str_eq(host("real-2")->verdict, "untrusted");
        done = strcmp(host("real-3")->verdict, "trusted") == 0 && reset_count("real-3") > boot[2];
        if (!done)
            fleet_sleep_ms(100);
    }
    cr_assert(done, "real-3 after its reboot: %s, reset count %lld (before: %lld)",
              host("real-3")->verdict, (long long)reset_count("real-3"), (long long)boot[2]);
    /* Hosts 1 and 2 are attested on, in their boots, verdicts unchanged. */
    attempt_rec prev, cur;
    attempt_of("real-1", &prev);
    cr_assert(next_attempt("real-1", &prev, &cur, ATTEMPT_WAIT_S), "real-1 is not attempted");
    cr_expect(outcome_is(cur.outcome, "trusted"), "real-1: %s", cur.outcome);
    cr_expect_eq(reset_count("real-1"), boot[0]);
    cr_expect_eq(reset_count("real-2"), boot[1]);
    cr_expect_eq(history_len("real-1"), 1, "real-1's verdict changed");
    cr_expect_eq(history_len("real-2"), 2, "real-2's verdict changed again");
}

/* ---- the status page ---- */

/* The page as a headless chromium renders it after its script ran; malloc'd. */
static char *browser_dom(void)
{
    const char *chromium = "/usr/bin/chromium";
    if (access(chromium, X_OK) != 0)
        cr_skip_test("chromium is not installed (apt-get install chromium): page not checked");
    char dirarg[128], url[64];
    snprintf(dirarg, sizeof(dirarg), "--user-data-dir=%s/chromium", F.dir);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", F.http_port);
    const char *argv[] = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-first-run", "--disable-extensions", dirarg,
                          "--virtual-time-budget=5000", "--dump-dom", url, NULL};
    size_t cap = 1 << 20;
    char *out = malloc(cap), err[4096];
    cr_assert(out != NULL);
    int rc = test_run(argv, out, cap, err, sizeof(err));
    cr_assert_eq(rc, 0, "chromium: %s", err);
    return out;
}

/* Every host's row shows its verdict; real-2's its reason, naming the binary. */
static void check_page(const char *real_2_verdict)
{
    char *dom = browser_dom();
    char want[64];
    snprintf(want, sizeof(want), "%zu hosts", FLEET);
    cr_assert(strstr(dom, want) != NULL, "the page's script did not finish: %.3000s", dom);
    for (size_t k = 0; k < FLEET; k++) {
        const char *v = strcmp(fleet[k].name, "real-2") == 0 ? real_2_verdict : fleet[k].verdict;
        char cell[64], verdict[96];
        snprintf(cell, sizeof(cell), "<td class=\"name\">%s</td>", fleet[k].name);
        snprintf(verdict, sizeof(verdict), "<td class=\"verdict %s\">%s</td>", v, v);
        char *row = strstr(dom, cell);
        cr_assert(row != NULL, "no row for %s: %.3000s", fleet[k].name, dom);
        char *end = strstr(row, "</tr>");
        cr_assert(end != NULL);
        *end = '\0';
        cr_expect(strstr(row, verdict) != NULL, "%s", row);
        if (strcmp(fleet[k].name, "real-2") == 0)
            cr_expect(strstr(row, "<li class=\"reason\">") != NULL && strstr(row, NAMED) != NULL,
                      "real-2's reason on the page: %s", row);
        *end = '<';
    }
    free(dom);
}

/* Stop the loop, then every host: each srtmd and srtm-sim must end with 0 on SIGTERM (a
 * sanitizer report at exit is a failure). The teardown removes the rest. */
static void fleet_down(void)
{
    attest_stop(F.loop);
    F.loop = NULL;
    for (unsigned i = 0; i < REAL; i++)
        cr_expect_eq(test_daemon_stop(&F.real[i].d), 0, "srtmd of real-%u did not end with 0",
                     i + 1);
    int st = 0;
    cr_assert_eq(kill(F.sim_pid, SIGTERM), 0);
    cr_assert_eq(waitpid(F.sim_pid, &st, 0), F.sim_pid);
    F.sim_pid = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "srtm-sim ended with 0x%x", st);
}

Test(fleet_mixed, real_and_simulated_hosts_under_one_verifier)
{
    double t0 = fleet_now_s();
    snprintf(F.dir, sizeof(F.dir), "/tmp/srtm-mixed-XXXXXX");
    cr_assert(mkdtemp(F.dir) != NULL);
    snprintf(F.store_url, sizeof(F.store_url), "sqlite:%s/fleet.db", F.dir);
    char err[256] = "";
    cr_assert_eq(store_open(F.store_url, &F.s, err, sizeof(err)), SRTM_OK, "%s", err);
    tls_up();
    for (unsigned i = 0; i < REAL; i++)
        real_up(i);
    sim_up();
    double t_up = fleet_now_s();
    verifier_up();

    wait_settled(40);
    for (size_t k = 0; k < FLEET; k++)
        check_host(&fleet[k]);
    cr_expect(outcome_is(host("sim-7")->last_outcome, "unreachable"), "%s",
              host("sim-7")->last_outcome);
    double t_settled = fleet_now_s();

    unknown_binary_on_real_2();
    real_2_reasons();
    double t_binary = fleet_now_s();

    reboot_real_3();
    double t_reboot = fleet_now_s();

    check_page("untrusted");
    /* Every host is attested on. The dead one may be listed: each of its attempts takes
     * the time-out, after a back-off of up to an interval, more than two intervals. */
    vs_name stale[FLEET];
    size_t n = 0;
    cr_assert_eq(store_stale(F.s, time(NULL), stale, FLEET, &n), SRTM_OK);
    for (size_t k = 0; k < n; k++)
        cr_expect_str_eq(stale[k].s, "sim-7", "%s is stale", stale[k].s);
    attest_metrics m;
    attest_metrics_get(F.loop, &m);
    cr_log_info("%llu attempts (%llu unreachable), %.0f ms each on average, %llu in "
                "flight now",
                (unsigned long long)m.latency_count,
                (unsigned long long)m.attempts[ATTEST_UNREACHABLE],
                m.latency_count > 0 ? (double)m.latency_ms_sum / (double)m.latency_count : 0.0,
                (unsigned long long)m.inflight);
    cr_log_info("hosts up %.1f s, settled %.1f s, unknown binary %.1f s, reboot %.1f s, "
                "page %.1f s: %.1f s in all",
                t_up - t0, t_settled - t_up, t_binary - t_settled, t_reboot - t_binary,
                fleet_now_s() - t_reboot, fleet_now_s() - t0);
    fleet_down();
}
