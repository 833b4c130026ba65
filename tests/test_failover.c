/*
 * srtm-verifierd nodes on one PostgreSQL (a private cluster, pg_helper.h) against srtm-sim
 * hosts: when one of two nodes is killed, the other takes every host over within two
 * intervals; when PostgreSQL restarts under a running node, the node survives, reconnects,
 * goes on attesting, and every verdict change it reported is in the history; the loop
 * counts the failed store calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "attest.h"
#include "fleet_helpers.h"
#include "helpers.h"
#include "pg_helper.h"
#include "store.h"

#define MAX_HOSTS 30
#define MAX_NODES 2

static char dir[64];
static pid_t sim_pid;
static pid_t nodes[MAX_NODES];
static test_pg pg;

static char *shared_policy(void)
{
    return fleet_shared_policy(dir);
}

static vstore *open_store(void)
{
    vstore *s = NULL;
    char err[256] = "";
    cr_assert_eq(store_open(pg.url, &s, err, sizeof(err)), SRTM_OK, "%s", err);
    return s;
}

static void skip_without_postgresql(void)
{
    const char *d = getenv("SRTM_PG_BINDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/initdb", d && *d ? d : "/usr/lib/postgresql/15/bin");
    if (access(path, X_OK) != 0)
        cr_skip_test("PostgreSQL's server binaries are absent (%s): install postgresql-15", path);
}

/* A private PostgreSQL, n srtm-sim hosts with one policy "fleet", each added to the store
 * with interval_s; slow: srtm-sim's --slow MS@HOSTS, or NULL. */
static void fleet_up(unsigned n, int64_t interval_s, const char *slow)
{
    skip_without_postgresql();
    snprintf(dir, sizeof(dir), "/tmp/srtm-fo-test-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    test_pg_start(&pg);
    char count[8], log[128], ready[128];
    snprintf(count, sizeof(count), "%u", n);
    snprintf(log, sizeof(log), "%s/sim.log", dir);
    snprintf(ready, sizeof(ready), "%s/ready", dir);
    const char *argv[] = {test_binary("SRTM_SIM"), "--hosts", count, "--dir", dir,
                          "--shared-boot", slow ? "--slow" : NULL, slow, NULL};
    sim_pid = fleet_spawn(argv, log);
    double end = fleet_now_s() + 20;
    while (!test_path_exists(ready) && fleet_now_s() < end && waitpid(sim_pid, NULL, WNOHANG) == 0)
        fleet_sleep_ms(20);
    cr_assert(test_path_exists(ready), "srtm-sim did not come up (see %s)", log);
    vstore *s = open_store();
    char *body = shared_policy();
    cr_assert_eq(store_policy_put(s, "fleet", body, strlen(body), time(NULL)), SRTM_OK,
                 "%s", store_errmsg(s));
    free(body);
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "host-%u", i);
        fleet_add_sim_host(s, dir, i, name, "fleet", interval_s);
    }
    store_close(s);
}

static void fleet_down(void)
{
    for (unsigned i = 0; i < MAX_NODES; i++) {
        if (nodes[i] > 0) {
            kill(nodes[i], SIGKILL);
            waitpid(nodes[i], NULL, 0);
            nodes[i] = 0;
        }
    }
    if (sim_pid > 0) {
        kill(sim_pid, SIGTERM);
        cr_expect(waitpid(sim_pid, NULL, 0) == sim_pid);
        sim_pid = 0;
    }
    test_pg_stop(&pg);
    if (dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        cr_expect(system(cmd) == 0);
        dir[0] = '\0';
    }
}

TestSuite(failover, .fini = fleet_down, .timeout = 120);

static void node_log(const char *node, char *log, size_t size)
{
    snprintf(log, size, "%s/verifierd-%s.log", dir, node);
}

/* max_inflight: a node claims at most that many hosts per 200 ms tick. */
static pid_t node_start(const char *node, const char *lease_s, const char *max_inflight)
{
    char log[128];
    node_log(node, log, sizeof(log));
    const char *argv[] = {test_binary("SRTM_VERIFIERD"), "--store", pg.url, "--node", node,
                          "--timeout-ms", "1500", "--lease-s", lease_s, "--workers", "2",
                          "--max-inflight", max_inflight, NULL};
    return fleet_spawn(argv, log);
}

static bool node_running(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* Every host of the store (n of them) into h[]. A failed read (the test's own connection
 * lost in a restart) returns false; the next call reconnects. */
static bool hosts_read(vstore *s, vs_host *h, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "host-%u", i);
        if (store_host_get(s, name, &h[i]) != SRTM_OK)
            return false;
    }
    return true;
}

/* On a failure: where each host stands, and the nodes' logs. */
static void show_logs(const vs_host *h, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        cr_log_error("host-%u: last attempt %lld by '%s' (%s), lease '%s' until %lld", i,
                     (long long)h[i].last_attempt, h[i].last_node, h[i].last_outcome,
                     h[i].lease_owner, (long long)h[i].lease_expiry);
    static const char *const names[] = {"node-a", "node-b", "solo"};
    for (unsigned k = 0; k < 3; k++) {
        char log[128];
        node_log(names[k], log, sizeof(log));
        if (access(log, R_OK) != 0)
            continue;
        char *text = fleet_slurp(log);
        size_t len = strlen(text);
        cr_log_error("%s: ...%s", log, text + (len > 3000 ? len - 3000 : 0));
        free(text);
    }
}

/* ---- a node dies ---- */

#define FO_HOSTS 30
#define FO_INTERVAL 4
#define FO_LEASE "3"

static bool both_took_part(const vs_host *h)
{
    bool a = false, b = false;
    for (unsigned i = 0; i < FO_HOSTS; i++) {
        if (h[i].last_attempt == 0)
            return false;
        a = a || strcmp(h[i].last_node, "node-a") == 0;
        b = b || strcmp(h[i].last_node, "node-b") == 0;
    }
    return a && b;
}

static unsigned taken_over(const vs_host *h, int64_t killed)
{
    unsigned n = 0;
    for (unsigned i = 0; i < FO_HOSTS; i++)
        n += h[i].last_attempt > killed && strcmp(h[i].last_node, "node-b") == 0;
    return n;
}

/*
 * The bound: every host is attempted again by the survivor within 2 x interval of the kill.
 * A host the dead node had attempted is due again within interval + 10 % jitter; a host
 * it held a lease on (an attempt in flight) is free once the lease expires, at most
 * lease_s after the kill (the lease is set at the claim and renewed every lease_s / 3).
 * With lease_s (3 s) <= interval (4 s), both fall within 1.1 x interval, which leaves most
 * of an interval for the survivor's 200 ms claim tick, the attempt itself and the store's
 * whole-second clock (one second is added for that: last_attempt and the kill time are
 * both truncated to seconds).
 */
Test(failover, two_nodes_one_killed)
{
    /* Every fifth host answers after 1 s, so that the node killed holds leases. */
    fleet_up(FO_HOSTS, FO_INTERVAL, "1000@0.2");
    /* Hosts with a 4-s interval get no jitter (10 % is under a second): all fall due in
     * the same second, and a node with 30 free slots would claim them all at each tick
     * before the other looks. 8 slots each leave some to the other node. */
    nodes[0] = node_start("node-a", FO_LEASE, "8");
    nodes[1] = node_start("node-b", FO_LEASE, "8");
    vstore *s = open_store();
    vs_host *h = calloc(FO_HOSTS, sizeof(*h));
    cr_assert(h != NULL);
    double end = fleet_now_s() + 30;
    while (!(hosts_read(s, h, FO_HOSTS) && both_took_part(h)) && fleet_now_s() < end)
        fleet_sleep_ms(200);
    if (!both_took_part(h))
        show_logs(h, FO_HOSTS);
    cr_assert(both_took_part(h), "every host attempted, by both nodes, within 30 s");
    cr_assert(node_running(nodes[0]) && node_running(nodes[1]));

    /* Killed while it attempts a slow host: its lease must expire before the host can be
     * taken over. */
    unsigned held = 0;
    end = fleet_now_s() + 15;
    while (held == 0 && fleet_now_s() < end) {
        fleet_sleep_ms(50);
        held = 0;
        bool read = hosts_read(s, h, FO_HOSTS);
        for (unsigned i = 0; read && i < FO_HOSTS; i++)
            held += strcmp(h[i].lease_owner, "node-a") == 0;
    }
    cr_assert_gt(held, 0, "node-a held no lease in 15 s");
    cr_assert_eq(kill(nodes[0], SIGKILL), 0);
    cr_assert_eq(waitpid(nodes[0], NULL, 0), nodes[0]);
    nodes[0] = 0;
    int64_t killed = (int64_t)time(NULL);
    int64_t bound = killed + 2 * FO_INTERVAL + 1;
    unsigned n = 0;
    while ((int64_t)time(NULL) <= bound) {
        if (hosts_read(s, h, FO_HOSTS) && (n = taken_over(h, killed)) == FO_HOSTS)
            break;
        fleet_sleep_ms(200);
    }
    if (n < FO_HOSTS) {
        cr_log_error("node-a killed at %lld", (long long)killed);
        show_logs(h, FO_HOSTS);
    }
    cr_assert_eq(n, FO_HOSTS, "%u of %u hosts attempted by node-b within 2 x %d s of the kill",
                 n, FO_HOSTS, FO_INTERVAL);
    cr_assert(node_running(nodes[1]), "the surviving node still runs");
    vs_name stale[FO_HOSTS];
    size_t ns = 1;
    cr_assert_eq(store_stale(s, time(NULL), stale, FO_HOSTS, &ns), SRTM_OK);
    cr_expect_eq(ns, 0, "stale: %s", ns > 0 ? stale[0].s : "");
    free(h);
    store_close(s);
}

/* A claim whose answer never reached the node (the database committed it, the connection
 * broke): the node holds leases it does not know of. Its heartbeat renews only the hosts
 * it attempts, so those leases expire and the hosts are attempted, by it or another node,
 * within a lease and two intervals; no host is left unattended while the node lives. */
Test(failover, a_lease_held_unknowingly_expires)
{
    fleet_up(4, 2, NULL);
    vstore *s = open_store();
    vs_name got[4];
    size_t n = 0;
    int64_t claimed = (int64_t)time(NULL);
    cr_assert_eq(store_claim_due(s, "node-a", claimed, 6, 4, got, &n), SRTM_OK, "%s",
                 store_errmsg(s));
    cr_assert_eq(n, 4);
    nodes[0] = node_start("node-a", "6", "8");
    vs_host h[4];
    int64_t bound = claimed + 6 + 2 * 2 + 2;
    unsigned attempted = 0;
    while ((int64_t)time(NULL) <= bound) {
        attempted = 0;
        bool read = hosts_read(s, h, 4);
        for (unsigned i = 0; read && i < 4; i++)
            attempted += h[i].last_attempt > 0;
        if (attempted == 4)
            break;
        fleet_sleep_ms(200);
    }
    if (attempted < 4)
        show_logs(h, 4);
    cr_assert_eq(attempted, 4, "%u of 4 hosts attempted within the 6-s lease and two 2-s "
                               "intervals of the lost claim", attempted);
    cr_assert(node_running(nodes[0]));
    store_close(s);
}

/* ---- PostgreSQL restarts ---- */

#define PR_HOSTS 8
#define PR_INTERVAL 2

/* Wait (20 s at most) until every host's current verdict is want and, when after > 0, its
 * last attempt is later than after. The test's connection is reopened when it breaks.
 * Meanwhile no host may show a recorded attempt whose outcome is want under an older
 * verdict `from` (NULL: not checked): its verdict change would have been lost. The host
 * row holds both, read at once; the daemon stores the verdict before the attempt. */
static bool wait_all(vstore *s, const char *want, int64_t after, const char *from)
{
    double end = fleet_now_s() + 20;
    do {
        unsigned ok = 0;
        for (unsigned i = 0; i < PR_HOSTS; i++) {
            char name[32];
            snprintf(name, sizeof(name), "host-%u", i);
            vs_host h;
            if (store_host_get(s, name, &h) != SRTM_OK)
                break;
            cr_assert(from == NULL || strcmp(h.verdict, from) != 0 ||
                          strncmp(h.last_outcome, want, strlen(want)) != 0,
                      "%s: attempt recorded as '%s' while the verdict stayed '%s'", name,
                      h.last_outcome, h.verdict);
            ok += strcmp(h.verdict, want) == 0 && h.last_attempt > after;
        }
        if (ok == PR_HOSTS)
            return true;
        fleet_sleep_ms(100);
    } while (fleet_now_s() < end);
    return false;
}

/* Each "host NAME: VERDICT ..." line of the node's log must be in NAME's history, in the
 * order logged: a logged verdict change that the store does not hold was lost. The count
 * of changes checked into *checked. */
static void expect_logged_in_history(vstore *s, const char *log, unsigned *checked)
{
    char *text = fleet_slurp(log);
    unsigned next[PR_HOSTS] = {0}, logged = 0; /* history rows matched so far, per host */
    vs_verdict *hist[PR_HOSTS];
    size_t nhist[PR_HOSTS];
    for (unsigned i = 0; i < PR_HOSTS; i++) {
        char name[32];
        snprintf(name, sizeof(name), "host-%u", i);
        hist[i] = calloc(64, sizeof(vs_verdict));
        cr_assert(hist[i] != NULL);
        cr_assert_eq(store_verdict_history(s, name, 0, hist[i], 64, &nhist[i]), SRTM_OK);
    }
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        const char *p = strstr(line, "host host-");
        unsigned i = 0;
        char verdict[VS_VERDICT_MAX + 1];
        if (p == NULL || sscanf(p, "host host-%u: %32s ", &i, verdict) != 2 || i >= PR_HOSTS)
            continue;
        if (strcmp(verdict, "trusted") != 0 && strcmp(verdict, "untrusted") != 0 &&
            strcmp(verdict, "unreachable") != 0 && strcmp(verdict, "error") != 0)
            continue; /* a warning about the host, not a verdict change */
        logged++;
        /* The history is newest first: walk it from the oldest. */
        while (next[i] < nhist[i] &&
               strcmp(hist[i][nhist[i] - 1 - next[i]].verdict, verdict) != 0)
            next[i]++;
        cr_expect(next[i] < nhist[i], "host-%u: the logged change to %s is not in the history",
                  i, verdict);
        next[i]++;
    }
    for (unsigned i = 0; i < PR_HOSTS; i++) {
        vs_verdicts_free(hist[i], nhist[i]);
        free(hist[i]);
    }
    free(text);
    *checked = logged;
}

Test(failover, postgres_restart_loses_no_verdict_change)
{
    fleet_up(PR_HOSTS, PR_INTERVAL, NULL);
    nodes[0] = node_start("solo", "3", "64");
    vstore *s = open_store();
    cr_assert(wait_all(s, "trusted", 0, NULL), "every host trusted");
    /* A policy that does not parse, then the restart at once: every host's verdict changes
     * to error in the attempts around the restart (some recorded before it, some failing
     * while the server is down, some on connections the restart cut). */
    static const char broken[] = "{\"format\": \"srtm-policy-v1\", \"no such key\": 1}";
    cr_assert_eq(store_policy_put(s, "fleet", broken, strlen(broken), time(NULL)), SRTM_OK);
    test_pg_restart(&pg);
    int64_t restarted = (int64_t)time(NULL);
    cr_assert(node_running(nodes[0]), "srtm-verifierd survives the restart");
    cr_assert(wait_all(s, "error", restarted, "trusted"), "attempts go on after the restart");
    char *body = shared_policy();
    /* The test's own connection was cut by the restart: the first call reconnects. */
    srtm_err err = store_policy_put(s, "fleet", body, strlen(body), time(NULL));
    if (err == SRTM_E_TRANSPORT)
        err = store_policy_put(s, "fleet", body, strlen(body), time(NULL));
    cr_assert_eq(err, SRTM_OK, "%s", store_errmsg(s));
    free(body);
    cr_assert(wait_all(s, "trusted", restarted, "error"), "verdicts change after the restart");
    cr_assert(node_running(nodes[0]), "srtm-verifierd still runs");
    int st = 0;
    cr_assert_eq(kill(nodes[0], SIGTERM), 0);
    cr_assert_eq(waitpid(nodes[0], &st, 0), nodes[0]);
    nodes[0] = 0;
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "srtm-verifierd ended with 0x%x", st);
    char log[128];
    node_log("solo", log, sizeof(log));
    unsigned checked = 0;
    expect_logged_in_history(s, log, &checked);
    /* trusted, error, trusted for every host */
    cr_expect_geq(checked, 3 * PR_HOSTS, "%u verdict changes logged", checked);
    store_close(s);
}

/* The loop in-process, to read its counters: a restart cuts every connection, so the
 * first store call of the driver after it fails; that is counted in db_errors, and the
 * loop goes on attesting. */
Test(failover, postgres_restart_counts_db_errors)
{
    fleet_up(2, PR_INTERVAL, NULL);
    attest_config cfg = {.store_url = pg.url, .node = "in-process", .max_inflight = 4,
                         .timeout_ms = 1500, .lease_s = 3, .workers = 1};
    attest_loop *l = NULL;
    char err[256] = "";
    cr_assert_eq(attest_start(&cfg, &l, err, sizeof(err)), SRTM_OK, "%s", err);
    attest_metrics m = {0};
    double end = fleet_now_s() + 20;
    do {
        fleet_sleep_ms(100);
        attest_metrics_get(l, &m);
    } while (m.attempts[ATTEST_TRUSTED] < 2 && fleet_now_s() < end);
    cr_assert_geq(m.attempts[ATTEST_TRUSTED], 2, "both hosts trusted");
    cr_expect_eq(m.db_errors, 0);
    test_pg_restart(&pg);
    uint64_t before = m.attempts[ATTEST_TRUSTED];
    end = fleet_now_s() + 20;
    do {
        fleet_sleep_ms(100);
        attest_metrics_get(l, &m);
    } while ((m.db_errors == 0 || m.attempts[ATTEST_TRUSTED] < before + 2) && fleet_now_s() < end);
    attest_stop(l);
    cr_expect_gt(m.db_errors, 0, "the calls on connections the restart cut are counted");
    cr_expect_geq(m.attempts[ATTEST_TRUSTED], before + 2, "attempts go on after the restart");
    cr_expect_eq(m.attempts[ATTEST_ERROR] + m.attempts[ATTEST_UNREACHABLE], 0);
}
