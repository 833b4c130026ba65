/*
 * The fleet verifier against a real host: srtmd on swtpm, launched as the unit launches it,
 * serving remote verifiers with mutual TLS (listen-tcp tls+tcp://), attested by the
 * attestation loop of srtm-verifierd through a SQLite store. The host is trusted while its
 * component runs what the policy allows; a binary the policy does not know turns it
 * untrusted within about one interval, with the reason stored in its history; after a
 * reboot (a new boot: resetCount moves, srtmd starts empty) and the component's honest
 * start, it is verified again from scratch and trusted. After the first full attempt the
 * loop quotes srtmd since its last verified report (incremental attempts), and the
 * unknown binary is caught by such an attempt.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <srtm/srtm.h>

#include "attest.h"
#include "fleet_helpers.h"
#include "helpers.h"
#include "store.h"

#define INTERVAL 2

static test_platform P;
static char tls_dir[64], url[300];

static srtm_cap vm_cap; /* vm-1's capability, wiped at teardown */

static void teardown(void)
{
    srtm_cap_wipe(&vm_cap);
    test_platform_stop(&P);
    if (tls_dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
        cr_expect(system(cmd) == 0);
    }
}

TestSuite(fleet_e2e, .fini = teardown, .timeout = 180);

static char *tls_pem(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", tls_dir, name);
    return fleet_slurp(path);
}

static void digest_of(const char *what, uint8_t d[SRTM_DIGEST_LEN], char hex[65])
{
    cr_assert_eq(srtm_sha256((const uint8_t *)what, strlen(what), d), SRTM_OK);
    for (unsigned i = 0; i < SRTM_DIGEST_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}


/* Extend vm-1's CCR 0 with the digest of binary (its name as the description). */
static void extend_vm(const char *binary)
{
    srtm_conn *c = NULL;
    uint8_t d[SRTM_DIGEST_LEN];
    char hex[65];
    digest_of(binary, d, hex);
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK, "%s", srtm_last_message(NULL));
    cr_assert_eq(srtm_extend(c, &vm_cap, "vm-1", 0, d, 0, binary, NULL), SRTM_OK, "%s",
                 srtm_last_message(c));
    srtm_close(c);
}

/* Register vm-1 (one CCR) and extend it with the digest of binary. */
static void start_vm(const char *binary)
{
    srtm_conn *c = NULL;
    srtm_cap admin;
    uint64_t h = 0;
    cr_assert_eq(srtm_cap_load(P.d.cap_path, &admin), SRTM_OK);
    cr_assert_eq(srtm_open(P.d.url, &c), SRTM_OK, "%s", srtm_last_message(NULL));
    cr_assert_eq(srtm_register(c, &admin, "vm-1", 1, &h, &vm_cap), SRTM_OK, "%s",
                 srtm_last_message(c));
    srtm_close(c);
    srtm_cap_wipe(&admin);
    extend_vm(binary);
}

/* The policy: vm-1 may run "vm-1 kernel" only, the platform nothing; PCRs from the
 * platform's reference file (an absolute path). */
static char *policy(void)
{
    uint8_t d[SRTM_DIGEST_LEN];
    char hex[65], *out = malloc(2048);
    digest_of("vm-1 kernel", d, hex);
    snprintf(out, 2048,
             "{\"format\": \"srtm-policy-v1\", \"aik\": {\"scheme\": \"ecdsa-sha256\"}, "
             "\"pcrs\": {\"reference_file\": \"%s\"}, \"components\": {"
             "\"platform\": {\"ccrs\": {\"0\": {\"allowed_digests\": []}}}, "
             "\"vm-1\": {\"ccrs\": {\"0\": {\"allowed_digests\": [{\"digest\": \"%s\", "
             "\"label\": \"kernel\"}]}}}}, \"require\": [\"vm-1\"]}",
             P.ref, hex);
    return out;
}

static bool wait_verdict(vstore *s, const char *want, int within_s, vs_verdict *v)
{
    time_t end = time(NULL) + within_s;
    do {
        vs_verdicts_free(v, 1);
        memset(v, 0, sizeof(*v));
        cr_assert_eq(store_verdict_current(s, "host-1", v), SRTM_OK);
        if (strcmp(v->verdict, want) == 0)
            return true;
        usleep(100000);
    } while (time(NULL) <= end);
    return false;
}

Test(fleet_e2e, a_real_host_over_mutual_tls_untrusted_then_rebooted)
{
    snprintf(tls_dir, sizeof(tls_dir), "/tmp/srtm-e2e-tls-XXXXXX");
    cr_assert(mkdtemp(tls_dir) != NULL);
    char script[512], out[64], err[512], more[1024], addr[64];
    snprintf(script, sizeof(script), "%s/make-tls.sh", getenv("SRTM_TEST_DATA"));
    const char *mk[] = {"/bin/sh", script, tls_dir, NULL};
    cr_assert_eq(test_run(mk, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    int port = test_free_port();
    snprintf(addr, sizeof(addr), "tls+tcp://127.0.0.1:%d", port);
    snprintf(more, sizeof(more), "listen-tcp %s\ntls-cert %s/srv.pem\ntls-key %s/srv.key\n"
                                 "tls-ca %s/ca.pem\n",
             addr, tls_dir, tls_dir, tls_dir);
    test_platform_start_conf(&P, more);
    start_vm("vm-1 kernel");

    snprintf(url, sizeof(url), "sqlite:%s/fleet.db", P.dir);
    vstore *s = NULL;
    char serr[256] = "";
    cr_assert_eq(store_open(url, &s, serr, sizeof(serr)), SRTM_OK, "%s", serr);
    char *body = policy();
    cr_assert_eq(store_policy_put(s, "host-policy", body, strlen(body), time(NULL)), SRTM_OK,
                 "%s", store_errmsg(s));
    vs_host *h = calloc(1, sizeof(*h));
    char *aik = fleet_slurp(P.aik_pem);
    snprintf(h->name, sizeof(h->name), "host-1");
    snprintf(h->address, sizeof(h->address), "%s", addr);
    snprintf(h->aik_pem, sizeof(h->aik_pem), "%s\n", aik);
    snprintf(h->policy, sizeof(h->policy), "host-policy");
    h->interval_s = INTERVAL;
    cr_assert_eq(store_host_add(s, h, time(NULL), NULL), SRTM_OK, "%s", store_errmsg(s));
    char *cert = tls_pem("cli.pem"), *key = tls_pem("cli.key"), *ca = tls_pem("ca.pem");
    attest_config cfg = {.store_url = url, .node = "e2e", .max_inflight = 4,
                         .timeout_ms = 5000, .lease_s = 30, .workers = 1,
                         .tls_cert_pem = cert, .tls_key_pem = key, .tls_ca_pem = ca};
    attest_loop *l = NULL;
    char lerr[256] = "";
    cr_assert_eq(attest_start(&cfg, &l, lerr, sizeof(lerr)), SRTM_OK, "%s", lerr);
    vs_verdict v = {0};
    cr_assert(wait_verdict(s, "trusted", 30, &v), "got %s: %s", v.verdict,
              v.reasons != NULL ? v.reasons : "");
    vs_state st = {0};
    cr_assert_eq(store_state_get(s, "host-1", &st), SRTM_OK);
    int64_t boot = st.reset_count;
    vs_state_clear(&st);

    /* The allowed binary again: the next attempts ask srtmd since the report verified,
     * and it answers incrementally; still trusted. */
    extend_vm("vm-1 kernel");
    attest_metrics m = {0};
    for (time_t end = time(NULL) + 4 * INTERVAL + 5;
         m.kinds[ATTEST_KIND_INCREMENTAL] < 2 && time(NULL) <= end; usleep(100000))
        attest_metrics_get(l, &m);
    cr_assert_geq(m.kinds[ATTEST_KIND_INCREMENTAL], 2, "full %llu, incremental %llu",
                  (unsigned long long)m.kinds[ATTEST_KIND_FULL],
                  (unsigned long long)m.kinds[ATTEST_KIND_INCREMENTAL]);
    cr_expect_eq(m.kinds[ATTEST_KIND_RETRY], 0);
    cr_expect_eq(m.attempts[ATTEST_UNTRUSTED] + m.attempts[ATTEST_ERROR], 0);

    /* An unknown binary: untrusted within about one interval, the reason stored, found
     * by an incremental attempt. */
    time_t t0 = time(NULL);
    extend_vm("a binary nobody allowed");
    cr_assert(wait_verdict(s, "untrusted", 2 * INTERVAL + 2, &v),
              "still %s %ld s after the unknown binary ran", v.verdict, (long)(time(NULL) - t0));
    cr_expect(strstr(v.reasons, "not in the allowlist") != NULL, "%s", v.reasons);
    for (time_t end = time(NULL) + 5; time(NULL) <= end; usleep(100000)) {
        cr_assert_eq(store_host_get(s, "host-1", h), SRTM_OK);
        if (strncmp(h->last_outcome, "untrusted", 9) == 0)
            break; /* the attempt is recorded just after its verdict */
    }
    cr_expect_str_eq(h->last_outcome, "untrusted: incremental");
    vs_verdict hist[4] = {0};
    size_t n = 0;
    cr_assert_eq(store_verdict_history(s, "host-1", 0, hist, 4, &n), SRTM_OK);
    cr_expect(n == 2 && strcmp(hist[0].verdict, "untrusted") == 0 &&
                  strcmp(hist[1].verdict, "trusted") == 0,
              "history: %zu changes", n);
    vs_verdicts_free(hist, n);

    /* A reboot: a new boot, srtmd empty, then vm-1's honest start: trusted again, from a
     * full verification of the new boot. */
    test_platform_reboot(&P);
    start_vm("vm-1 kernel");
    cr_assert(wait_verdict(s, "trusted", 30, &v), "after the reboot: %s: %s", v.verdict,
              v.reasons != NULL ? v.reasons : "");
    cr_assert_eq(store_state_get(s, "host-1", &st), SRTM_OK);
    cr_expect_gt(st.reset_count, boot, "the state is still of the boot before");
    vs_state_clear(&st);
    free(body);
    free(aik);
    free(h);
    free(cert);
    free(key);
    free(ca);
    attest_stop(l);
    vs_verdicts_free(&v, 1);
    store_close(s);
}
