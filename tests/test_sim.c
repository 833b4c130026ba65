/*
 * srtm-sim (tests/sim/) against the real client and verifier: evidence quoted over tcp
 * with srtm_quote from an honest simulated host verifies as trusted with srtm_verify and
 * with `srtmctl verify`, given the files the simulator wrote; every lie is caught, by the
 * check the README names; a dead host times out, a slow one answers late, a rebooted one
 * reports its new boot counters and a growing log grows; the read-only protocol holds;
 * a quote asked since an earlier report of the same srtmd run is answered incrementally.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "helpers.h"
#include "srtm.pb-c.h"

/* The hosts of the test fleet, by index. */
enum { HONEST, BAD_DIGEST, REPLAYED_NONCE, UNKNOWN_BINARY, WRONG_AIK, DEAD, REBOOT, SLOW,
       SPLICED, HOSTS };

typedef struct sim {
    pid_t pid;
    char dir[64];
} sim;

static sim fleet;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Start srtm-sim with args (NULL-terminated) after --hosts N --dir; wait for DIR/ready. */
static void sim_start(sim *s, const char *hosts, const char *const *args)
{
    snprintf(s->dir, sizeof(s->dir), "/tmp/srtm-sim-test-XXXXXX");
    cr_assert(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
    const char *argv[40] = {test_binary("SRTM_SIM"), "--hosts", hosts, "--dir", s->dir};
    size_t n = 5;
    for (size_t i = 0; args != NULL && args[i] != NULL && n < 39; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char log[128], ready[128];
    snprintf(log, sizeof(log), "%s/sim.log", s->dir);
    snprintf(ready, sizeof(ready), "%s/ready", s->dir);
    s->pid = fork();
    cr_assert(s->pid >= 0);
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    double end = now_s() + 20;
    while (!test_path_exists(ready) && now_s() < end &&
           waitpid(s->pid, NULL, WNOHANG) == 0)
        usleep(20000);
    cr_assert(test_path_exists(ready), "srtm-sim did not come up (see %s)", log);
}

static void sim_stop(sim *s)
{
    if (s->pid <= 0)
        return;
    int st = 0;
    kill(s->pid, SIGTERM);
    cr_expect(waitpid(s->pid, &st, 0) == s->pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "srtm-sim did not end cleanly: 0x%x", st);
    s->pid = 0;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    cr_expect(system(cmd) == 0);
}

static void fleet_up(void)
{
    static const char *const args[] = {
        "--lie", "bad-digest@1", "--lie", "replayed-nonce@2", "--lie", "unknown-binary@3",
        "--lie", "wrong-aik@4", "--dead", "5", "--reboot-every", "1.5@6", "--slow", "300@7",
        "--spliced-increment", "8", NULL};
    char n[8];
    snprintf(n, sizeof(n), "%d", HOSTS);
    sim_start(&fleet, n, args);
}

static void fleet_down(void)
{
    sim_stop(&fleet);
}

TestSuite(sim, .init = fleet_up, .fini = fleet_down, .timeout = 120);

static void host_file(const sim *s, unsigned host, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/host-%u/%s", s->dir, host, name);
}

/* The whole of a small file, NUL-terminated; the caller frees it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    char *buf = calloc(1, 256 * 1024);
    cr_assert(buf != NULL);
    size_t n = fread(buf, 1, 256 * 1024 - 1, f);
    fclose(f);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return buf;
}

static srtm_err quote_host(const sim *s, unsigned host, const uint8_t nonce[32], int32_t tmo,
                           uint8_t **ev, size_t *len)
{
    char path[256];
    host_file(s, host, "url", path, sizeof(path));
    char *url = slurp(path);
    srtm_conn *c = NULL;
    srtm_err err = srtm_open(url, &c);
    free(url);
    cr_assert_eq(err, SRTM_OK, "srtm_open: %s", srtm_last_message(NULL));
    cr_assert_eq(srtm_set_timeout(c, tmo), SRTM_OK);
    err = srtm_quote(c, nonce, 32, NULL, 0, ev, len);
    srtm_close(c);
    return err;
}

/* srtm_verify with the host's aik.pem and policy.json; *out receives the result. */
static srtm_err verify_host(const sim *s, unsigned host, const uint8_t *ev, size_t len,
                            const uint8_t nonce[32], srtm_verify_result **out)
{
    char path[256], msg[256] = "";
    host_file(s, host, "aik.pem", path, sizeof(path));
    char *aik = slurp(path);
    host_file(s, host, "policy.json", path, sizeof(path));
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_load(path, &pol, msg, sizeof(msg)), SRTM_OK, "policy: %s", msg);
    srtm_err err = srtm_verify(ev, len, aik, pol, nonce, 32, out);
    srtm_policy_free(pol);
    free(aik);
    return err;
}

static void fresh_nonce(uint8_t nonce[32], uint8_t tag)
{
    for (unsigned i = 0; i < 32; i++)
        nonce[i] = (uint8_t)(tag * 31 + i * 7 + (unsigned)getpid());
}

/* Whether the evidence-level check name passed (fails the test when it did not run). */
static bool check_ok(const srtm_verify_result *r, const char *name)
{
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++)
        if (strcmp(srtm_verify_result_check_name(r, i), name) == 0)
            return srtm_verify_result_check_ok(r, i);
    cr_assert_fail("no check %s", name);
    return false;
}

static size_t failed_checks(const srtm_verify_result *r)
{
    size_t n = 0;
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++)
        n += !srtm_verify_result_check_ok(r, i);
    return n;
}

/* The verdict of the component at path: trusted, and its reasons joined. */
static bool verdict(const srtm_verify_result *r, const char *path, char *reasons, size_t size)
{
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++) {
        if (strcmp(srtm_verify_result_component_path(r, i), path) != 0)
            continue;
        reasons[0] = '\0';
        for (size_t j = 0; j < srtm_verify_result_component_reason_count(r, i); j++) {
            strncat(reasons, srtm_verify_result_component_reason(r, i, j),
                    size - strlen(reasons) - 1);
            strncat(reasons, "; ", size - strlen(reasons) - 1);
        }
        return srtm_verify_result_component_trusted(r, i);
    }
    cr_assert_fail("no verdict for %s", path);
    return false;
}

/* Quote host and verify the evidence with its files; the evidence is freed. */
static srtm_err quote_verify(unsigned host, uint8_t tag, srtm_verify_result **out)
{
    uint8_t nonce[32], *ev = NULL;
    size_t len = 0;
    fresh_nonce(nonce, tag);
    cr_assert_eq(quote_host(&fleet, host, nonce, 10000, &ev, &len), SRTM_OK);
    srtm_err err = verify_host(&fleet, host, ev, len, nonce, out);
    free(ev);
    return err;
}

Test(sim, honest_host_is_trusted)
{
    srtm_verify_result *r = NULL;
    cr_assert_eq(quote_verify(HONEST, 1, &r), SRTM_OK);
    cr_assert(srtm_verify_result_ok(r));
    cr_assert_eq(failed_checks(r), 0);
    cr_assert_eq(srtm_verify_result_component_count(r), 5);
    char why[1024];
    cr_assert(verdict(r, "platform/vm-4", why, sizeof(why)), "%s", why);
    srtm_verify_result_free(r);
}

/* The files the simulator writes are the real formats: srtmctl verify takes them. */
Test(sim, srtmctl_verify_accepts_the_simulated_evidence)
{
    uint8_t nonce[32], *ev = NULL;
    size_t len = 0;
    fresh_nonce(nonce, 2);
    cr_assert_eq(quote_host(&fleet, HONEST, nonce, 10000, &ev, &len), SRTM_OK);
    char evpath[256], aik[256], pol[256], hex[65], out[4096], err[4096];
    snprintf(evpath, sizeof(evpath), "%s/evidence.bin", fleet.dir);
    FILE *f = fopen(evpath, "wb");
    cr_assert(f != NULL && fwrite(ev, 1, len, f) == len && fclose(f) == 0);
    free(ev);
    for (unsigned i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", nonce[i]);
    host_file(&fleet, HONEST, "aik.pem", aik, sizeof(aik));
    host_file(&fleet, HONEST, "policy.json", pol, sizeof(pol));
    const char *argv[] = {test_binary("SRTMCTL"), "verify", evpath, "--aik", aik,
                          "--policy", pol, "--nonce", hex, NULL};
    int rc = test_run(argv, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 0, "srtmctl verify: %d\n%s%s", rc, out, err);
    cr_assert(strstr(out, "platform/vm-3: trusted") != NULL, "%s", out);
    /* The same evidence with another host's AIK is refused. */
    host_file(&fleet, BAD_DIGEST, "aik.pem", aik, sizeof(aik));
    rc = test_run(argv, out, sizeof(out), err, sizeof(err));
    cr_assert_eq(rc, 1, "%d\n%s%s", rc, out, err);
    cr_assert(strstr(out, "check quote-signature: failed") != NULL, "%s", out);
}

Test(sim, bad_digest_fails_the_replay)
{
    srtm_verify_result *r = NULL;
    cr_assert_eq(quote_verify(BAD_DIGEST, 3, &r), SRTM_E_DENIED);
    cr_assert_eq(failed_checks(r), 0, "the evidence itself is genuine");
    char why[2048];
    cr_assert_not(verdict(r, "platform/vm-1", why, sizeof(why)));
    cr_assert(strstr(why, "CCR 0: value does not match the replay of its") != NULL, "%s", why);
    cr_assert(strstr(why, "allowlist") == NULL, "only the replay fails: %s", why);
    cr_assert(verdict(r, "platform/vm-2", why, sizeof(why)), "%s", why);
    srtm_verify_result_free(r);
}

Test(sim, replayed_nonce_fails_the_nonce_check)
{
    srtm_verify_result *r = NULL;
    uint8_t first[32], *ev = NULL;
    size_t len = 0;
    fresh_nonce(first, 4);
    cr_assert_eq(quote_host(&fleet, REPLAYED_NONCE, first, 10000, &ev, &len), SRTM_OK);
    free(ev);
    cr_assert_eq(quote_verify(REPLAYED_NONCE, 5, &r), SRTM_E_DENIED);
    cr_assert_not(check_ok(r, "nonce"));
    cr_assert_not(check_ok(r, "quote-qualifier"));
    cr_assert(check_ok(r, "quote-signature"), "the evidence is genuine, only old");
    srtm_verify_result_free(r);
}

Test(sim, unknown_binary_fails_the_policy)
{
    srtm_verify_result *r = NULL;
    cr_assert_eq(quote_verify(UNKNOWN_BINARY, 6, &r), SRTM_E_DENIED);
    cr_assert_eq(failed_checks(r), 0, "it verifies cryptographically");
    char why[2048];
    cr_assert_not(verdict(r, "platform/vm-1", why, sizeof(why)));
    cr_assert(strstr(why, "(\"unknown\") is not in the allowlist") != NULL, "%s", why);
    cr_assert(strstr(why, "replay") == NULL, "the log replays: %s", why);
    srtm_verify_result_free(r);
}

Test(sim, wrong_aik_fails_the_signature_checks)
{
    srtm_verify_result *r = NULL;
    cr_assert_eq(quote_verify(WRONG_AIK, 7, &r), SRTM_E_DENIED);
    cr_assert_not(check_ok(r, "quote-signature"));
    cr_assert_not(check_ok(r, "certificate-signature"));
    cr_assert(check_ok(r, "irk-signature"));
    srtm_verify_result_free(r);
}

Test(sim, dead_host_times_out)
{
    uint8_t nonce[32], *ev = NULL;
    size_t len = 0;
    fresh_nonce(nonce, 8);
    cr_assert_eq(quote_host(&fleet, DEAD, nonce, 500, &ev, &len), SRTM_E_TIMEOUT);
    cr_assert_null(ev);
}

Test(sim, slow_host_answers_late)
{
    double t = now_s();
    srtm_verify_result *r = NULL;
    cr_assert_eq(quote_verify(SLOW, 9, &r), SRTM_OK);
    cr_assert_geq(now_s() - t, 0.3);
    srtm_verify_result_free(r);
}

/* The boot counters of evidence: the report's (same-boot compares them with the quote's). */
static uint32_t report_reset_count(const uint8_t *ev, size_t len, uint64_t *log_len)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert(e != NULL);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    cr_assert(rep != NULL && rep->n_components > 0 && rep->components[0]->n_ccrs > 0);
    uint32_t rc = rep->reset_count;
    *log_len = rep->components[0]->ccrs[0]->n_log;
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(e, NULL);
    return rc;
}

/* Quote host until its report's reset count differs from before (at most 10 s); the new
 * evidence must verify as trusted. */
Test(sim, rebooted_host_reports_new_boot_counters)
{
    uint8_t nonce[32], *ev = NULL;
    size_t len = 0;
    uint64_t log_len;
    fresh_nonce(nonce, 10);
    cr_assert_eq(quote_host(&fleet, REBOOT, nonce, 10000, &ev, &len), SRTM_OK);
    uint32_t before = report_reset_count(ev, len, &log_len), after = before;
    free(ev);
    for (double end = now_s() + 10; after == before && now_s() < end;) {
        usleep(100000);
        cr_assert_eq(quote_host(&fleet, REBOOT, nonce, 10000, &ev, &len), SRTM_OK);
        after = report_reset_count(ev, len, &log_len);
        if (after == before)
            free(ev);
    }
    cr_assert_gt(after, before, "no reboot seen");
    cr_assert_eq(log_len, 4, "the log restarts at its initial size");
    srtm_verify_result *r = NULL;
    cr_assert_eq(verify_host(&fleet, REBOOT, ev, len, nonce, &r), SRTM_OK);
    cr_assert(check_ok(r, "same-boot"));
    free(ev);
    srtm_verify_result_free(r);
}

/* A fleet of its own: logs that grow at 50 entries per second, still trusted. */
Test(sim, growing_logs_grow_and_verify)
{
    sim grow = {0};
    static const char *const args[] = {"--growth", "50", "--log-entries", "2", NULL};
    sim_start(&grow, "2", args);
    uint8_t nonce[32], *ev = NULL;
    size_t len = 0;
    uint64_t first, later = 0;
    fresh_nonce(nonce, 11);
    cr_assert_eq(quote_host(&grow, 1, nonce, 10000, &ev, &len), SRTM_OK);
    report_reset_count(ev, len, &first);
    free(ev);
    for (double end = now_s() + 10; later <= first && now_s() < end;) {
        usleep(100000);
        cr_assert_eq(quote_host(&grow, 1, nonce, 10000, &ev, &len), SRTM_OK);
        report_reset_count(ev, len, &later);
        if (later <= first)
            free(ev);
    }
    cr_assert_gt(later, first);
    srtm_verify_result *r = NULL;
    cr_assert_eq(verify_host(&grow, 1, ev, len, nonce, &r), SRTM_OK);
    free(ev);
    srtm_verify_result_free(r);
    sim_stop(&grow);
}

static srtm_conn *open_host(unsigned host)
{
    char path[256];
    host_file(&fleet, host, "url", path, sizeof(path));
    char *url = slurp(path);
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(url, &c), SRTM_OK);
    free(url);
    return c;
}

/* As srtmd's tcp listener: a mutation is refused, reads other than quote are not offered,
 * and a quote naming an unknown component or selecting one with its closure works. */
Test(sim, read_only_protocol)
{
    srtm_conn *c = open_host(HONEST);
    srtm_cap cap;
    memset(&cap, 0, sizeof(cap));
    uint8_t d[SRTM_DIGEST_LEN] = {1};
    cr_assert_eq(srtm_extend(c, &cap, "vm-1", 0, d, 0, "x", NULL), SRTM_E_DENIED);
    cr_assert(strstr(srtm_last_message(c), "reads and quotes only") != NULL, "%s",
              srtm_last_message(c));
    srtm_ccrs *ccrs = NULL;
    cr_assert_eq(srtm_read(c, "vm-1", NULL, 0, &ccrs), SRTM_E_UNSUPPORTED);
    uint8_t nonce[32], *ev = NULL;
    size_t len = 0;
    fresh_nonce(nonce, 12);
    const char *none[] = {"vm-9"};
    cr_assert_eq(srtm_quote(c, nonce, 32, none, 1, &ev, &len), SRTM_E_NO_COMPONENT);
    const char *vm4[] = {"vm-4"};
    cr_assert_eq(srtm_quote(c, nonce, 32, vm4, 1, &ev, &len), SRTM_OK);
    srtm_verify_result *r = NULL;
    cr_assert_eq(verify_host(&fleet, HONEST, ev, len, nonce, &r), SRTM_E_DENIED,
                 "the policy names vm-2, which the closure of vm-4 leaves out");
    char why[1024];
    cr_assert(verdict(r, "platform/vm-4", why, sizeof(why)), "%s", why);
    cr_assert(verdict(r, "platform/vm-1", why, sizeof(why)), "vm-3 depends on it: %s", why);
    cr_assert_eq(srtm_verify_result_component_count(r), 5, "4 reported, vm-2 named only");
    free(ev);
    srtm_verify_result_free(r);
    srtm_close(c);
}

/* vm-1 CCR 0's first entry digest and log length, the instance and reset count. */
typedef struct log_view {
    uint8_t first[SRTM_DIGEST_LEN], instance[16];
    size_t n;
    uint32_t reset_count;
} log_view;

static void view_log(const uint8_t *ev, size_t len, log_view *v)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert(e != NULL);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    cr_assert(rep != NULL && rep->n_components == 5 && rep->srtm_instance.len == 16);
    const Srtm__ReportCcr *c = rep->components[1]->ccrs[0];
    cr_assert(c->n_log > 0 && c->log[0]->digest.len == SRTM_DIGEST_LEN);
    memcpy(v->first, c->log[0]->digest.data, SRTM_DIGEST_LEN);
    memcpy(v->instance, rep->srtm_instance.data, 16);
    v->n = c->n_log;
    v->reset_count = rep->reset_count;
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(e, NULL);
}

/* Two quotes of the same boot: each verifies alone, yet an entry the first reported is
 * not the same in the second; only a verifier that keeps the first log can tell. */
Test(sim, spliced_increment_rewrites_a_reported_entry)
{
    log_view v[2];
    for (unsigned i = 0; i < 2; i++) {
        uint8_t nonce[32], *ev = NULL;
        size_t len = 0;
        fresh_nonce(nonce, (uint8_t)(13 + i));
        cr_assert_eq(quote_host(&fleet, SPLICED, nonce, 10000, &ev, &len), SRTM_OK);
        srtm_verify_result *r = NULL;
        cr_assert_eq(verify_host(&fleet, SPLICED, ev, len, nonce, &r), SRTM_OK);
        srtm_verify_result_free(r);
        view_log(ev, len, &v[i]);
        free(ev);
    }
    cr_assert_eq(memcmp(v[0].instance, v[1].instance, 16), 0, "the same srtmd");
    cr_assert_eq(v[0].reset_count, v[1].reset_count, "the same boot");
    cr_assert_geq(v[1].n, v[0].n);
    cr_assert_neq(memcmp(v[0].first, v[1].first, SRTM_DIGEST_LEN), 0, "entry 0 was rewritten");
}

/* The same two quotes judged as a fleet verifier does, keeping the state of the first
 * (incremental verification, docs/verifier.md): the second fails check continuity as a lie
 * of the host (needs_full 0), and the state kept from it marks the run tainted. */
Test(sim, spliced_increment_is_caught_by_the_state)
{
    char path[256], msg[256] = "";
    host_file(&fleet, SPLICED, "aik.pem", path, sizeof(path));
    char *aik = slurp(path);
    host_file(&fleet, SPLICED, "policy.json", path, sizeof(path));
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_load(path, &pol, msg, sizeof(msg)), SRTM_OK, "policy: %s", msg);
    srtm_verify_state *st = NULL;
    for (unsigned i = 0; i < 2; i++) {
        uint8_t nonce[32], *ev = NULL, *blob = NULL;
        size_t len = 0, blen = 0;
        fresh_nonce(nonce, (uint8_t)(17 + i));
        cr_assert_eq(quote_host(&fleet, SPLICED, nonce, 10000, &ev, &len), SRTM_OK);
        srtm_verify_result *r = NULL;
        srtm_err err = srtm_verify_with_state(ev, len, aik, pol, nonce, 32, st, &r);
        free(ev);
        if (i == 0) {
            cr_assert_eq(err, SRTM_OK);
            cr_assert_eq(srtm_verify_result_state(r, &blob, &blen), SRTM_OK);
            cr_assert_eq(srtm_verify_state_parse(blob, blen, &st), SRTM_OK);
            free(blob);
        } else {
            cr_expect_eq(err, SRTM_E_DENIED);
            cr_expect(!check_ok(r, "continuity"));
            cr_expect_eq(failed_checks(r), 1, "only continuity fails");
            cr_expect_eq(srtm_verify_result_needs_full(r), 0, "a lie, not a lost state");
            /* The state kept marks the run tainted: no increment is asked for again. */
            srtm_verify_state *t = NULL;
            uint8_t inst[SRTM_INSTANCE_LEN];
            uint64_t since = 0;
            cr_assert_eq(srtm_verify_result_state(r, &blob, &blen), SRTM_OK);
            cr_assert_eq(srtm_verify_state_parse(blob, blen, &t), SRTM_OK);
            free(blob);
            cr_expect_eq(srtm_verify_state_since(t, pol, inst, &since), 0);
            srtm_verify_state_free(t);
            for (size_t k = 0; k < srtm_verify_result_check_count(r); k++)
                if (strcmp(srtm_verify_result_check_name(r, k), "continuity") == 0)
                    cr_expect(strstr(srtm_verify_result_check_reason(r, k),
                                     "vm-1 (handle ") != NULL,
                              "%s", srtm_verify_result_check_reason(r, k));
        }
        srtm_verify_result_free(r);
    }
    srtm_verify_state_free(st);
    srtm_policy_free(pol);
    free(aik);
}

/* ---- incremental answers (docs/protocol.md, "Incremental quotes") ---- */

/* Quote host of s with a request asking since (inst, seq), as a fleet verifier sends it;
 * the report of the evidence, unpacked (the caller frees it). */
static Srtm__CcrReport *quote_since_raw(const sim *s, unsigned host, const uint8_t *inst,
                                        size_t inst_len, uint64_t seq)
{
    char path[256];
    host_file(s, host, "url", path, sizeof(path));
    char *url = slurp(path);
    uint8_t nonce[32];
    fresh_nonce(nonce, 20);
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce = (ProtobufCBinaryData){sizeof(nonce), nonce};
    q.since_instance = (ProtobufCBinaryData){inst_len, (uint8_t *)inst};
    q.since_seq = seq;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    uint8_t buf[256];
    size_t len = srtm__request__pack(&req, buf);
    nng_socket sock;
    void *ans = NULL;
    size_t ans_len = 0;
    cr_assert_eq(nng_req0_open(&sock), 0);
    cr_assert_eq(nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 64u << 20), 0);
    cr_assert_eq(nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 10000), 0);
    cr_assert_eq(nng_dial(sock, url, NULL, 0), 0, "%s", url);
    cr_assert_eq(nng_send(sock, buf, len, 0), 0);
    cr_assert_eq(nng_recv(sock, &ans, &ans_len, NNG_FLAG_ALLOC), 0);
    nng_close(sock);
    free(url);
    Srtm__Response *r = srtm__response__unpack(NULL, ans_len, ans);
    nng_free(ans, ans_len);
    cr_assert(r != NULL && r->status == SRTM__STATUS__STATUS_OK &&
              r->result_case == SRTM__RESPONSE__RESULT_QUOTE && r->quote->evidence != NULL);
    const ProtobufCBinaryData *rb = &r->quote->evidence->report;
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, rb->len, rb->data);
    srtm__response__free_unpacked(r, NULL);
    cr_assert(rep != NULL && rep->srtm_instance.len == 16);
    return rep;
}

/* The replay of n entries from base (32 bytes). */
static void replay(const uint8_t *base, Srtm__LogEntry *const *log, size_t n, uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(out, base, 32);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(log[i]->digest.len, 32);
        memcpy(buf, out, 32);
        memcpy(buf + 32, log[i]->digest.data, 32);
        cr_assert_eq(srtm_sha256(buf, sizeof(buf), out), SRTM_OK);
    }
}

/* An incremental CCR continues the full one of the report before: log_offset is its
 * length (every entry had seq <= since), base_value its value, the entries after it
 * numbered on, and the value the replay from the base. */
static void expect_continues(const Srtm__ReportCcr *full, const Srtm__ReportCcr *inc)
{
    static const uint8_t zero[32];
    uint8_t v[32];
    cr_assert_eq(inc->log_offset, full->n_log);
    cr_assert_eq(inc->base_value.len, 32);
    replay(zero, full->log, full->n_log, v);
    cr_assert_eq(memcmp(v, full->value.data, 32), 0, "the full log replays");
    cr_assert_eq(memcmp(inc->base_value.data, full->value.data, 32), 0);
    for (size_t i = 0; i < inc->n_log; i++)
        cr_assert_eq(inc->log[i]->index, inc->log_offset + i);
    replay(inc->base_value.data, inc->log, inc->n_log, v);
    cr_assert_eq(memcmp(v, inc->value.data, 32), 0, "the value continues the base");
}

/* Every IRREVERSIBLE CCR whole: log_offset 0, no base value, the report's since_seq 0. */
static void expect_full(const Srtm__CcrReport *rep)
{
    cr_assert_eq(rep->since_seq, 0);
    for (size_t c = 0; c < rep->n_components; c++)
        for (size_t k = 0; k < rep->components[c]->n_ccrs; k++) {
            const Srtm__ReportCcr *x = rep->components[c]->ccrs[k];
            cr_assert(x->log_offset == 0 && x->base_value.len == 0);
            cr_assert(x->n_log == 0 || x->log[0]->index == 0);
        }
}

/* A host with 600 entries per CCR (beyond one checkpoint) growing by 50 a second: asked
 * since the report before, it sends only the entries after it, with the base value;
 * asked since another instance, a sequence number it has not reached or an instance of
 * the wrong length, the whole logs. */
Test(sim, incremental_answer_sends_only_new_entries)
{
    sim grow = {0};
    static const char *const args[] = {"--growth", "50", "--log-entries", "600", NULL};
    sim_start(&grow, "1", args);
    Srtm__CcrReport *full = quote_since_raw(&grow, 0, NULL, 0, 0);
    expect_full(full);
    usleep(300000);
    Srtm__CcrReport *inc = quote_since_raw(&grow, 0, full->srtm_instance.data, 16, full->seq);
    cr_assert_eq(inc->since_seq, full->seq);
    cr_assert_gt(inc->seq, full->seq, "the logs grew");
    cr_assert_eq(inc->n_components, full->n_components);
    size_t sent = 0;
    for (size_t c = 0; c < inc->n_components; c++)
        for (size_t k = 0; k < inc->components[c]->n_ccrs; k++) {
            expect_continues(full->components[c]->ccrs[k], inc->components[c]->ccrs[k]);
            sent += inc->components[c]->ccrs[k]->n_log;
            for (size_t i = 0; i < inc->components[c]->ccrs[k]->n_log; i++)
                cr_assert_gt(inc->components[c]->ccrs[k]->log[i]->seq, full->seq);
        }
    cr_assert(sent > 0 && sent < 9 * 100, "%zu new entries in 0.3 s at 50/s", sent);
    uint8_t other[16];
    memcpy(other, full->srtm_instance.data, 16);
    other[0] ^= 1;
    Srtm__CcrReport *r = quote_since_raw(&grow, 0, other, 16, full->seq);
    expect_full(r);
    srtm__ccr_report__free_unpacked(r, NULL);
    r = quote_since_raw(&grow, 0, full->srtm_instance.data, 16, UINT64_MAX);
    expect_full(r);
    srtm__ccr_report__free_unpacked(r, NULL);
    r = quote_since_raw(&grow, 0, full->srtm_instance.data, 15, full->seq);
    expect_full(r);
    srtm__ccr_report__free_unpacked(r, NULL);
    srtm__ccr_report__free_unpacked(full, NULL);
    srtm__ccr_report__free_unpacked(inc, NULL);
    sim_stop(&grow);
}

/* The spliced host's second quote, asked since its first: vm-1 CCR 0's base value is the
 * spliced log's, not the value the first quote reported, and the value continues that
 * base, so only the comparison with what was verified before tells. */
Test(sim, spliced_increment_carries_the_spliced_base)
{
    Srtm__CcrReport *full = quote_since_raw(&fleet, SPLICED, NULL, 0, 0);
    Srtm__CcrReport *inc = quote_since_raw(&fleet, SPLICED, full->srtm_instance.data, 16,
                                           full->seq);
    cr_assert_eq(inc->since_seq, full->seq);
    const Srtm__ReportCcr *f = full->components[1]->ccrs[0], *i = inc->components[1]->ccrs[0];
    cr_assert_eq(i->log_offset, f->n_log);
    cr_assert_eq(i->base_value.len, 32);
    cr_assert_neq(memcmp(i->base_value.data, f->value.data, 32), 0, "the spliced base");
    uint8_t v[32];
    replay(i->base_value.data, i->log, i->n_log, v);
    cr_assert_eq(memcmp(v, i->value.data, 32), 0);
    expect_continues(full->components[1]->ccrs[1], inc->components[1]->ccrs[1]);
    srtm__ccr_report__free_unpacked(full, NULL);
    srtm__ccr_report__free_unpacked(inc, NULL);
}
