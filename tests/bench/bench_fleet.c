/*
 * bench_fleet: what one fleet verifier node does on this machine, with the host simulator
 * on the same machine. srtm-sim serves HOSTS hosts (--shared-boot, LOG entries per CCR at
 * boot, GROWTH entries per second per CCR); a SQLite store holds them with one shared policy
 * and an interval of INTERVAL seconds; the attestation loop (verifierd/attest.h, the
 * loop srtm-verifierd runs) attests them in this process for SECONDS seconds with up to
 * INFLIGHT attempts at once and WORKERS verification threads. Prints the attempts by
 * outcome, attestations per second, this process's CPU seconds per attestation and
 * attestations per CPU second (per core), the attempt latency (mean, histogram), the
 * evidence bytes of one quote (the bytes on the wire per attestation, the request being
 * about 60 bytes), the resident memory per host, and at the end the hosts that are stale
 * (last attempt older than two intervals) and the oldest last attempt.
 *
 * MODE (default incremental) chooses how the loop verifies: `incremental` quotes each host
 * since its stored state after the first full attempt (docs/fleet.md, "Incremental
 * attempts"), `full` verifies every attempt in full (attest_config.full_only). For each
 * kind of attempt it prints the count and the answer bytes per attempt, and the figures of
 * the steady state: from the moment every host was attested once (the first round is
 * full in both modes) to the end, the verifier's CPU per attestation and attestations
 * per CPU second.
 *
 * Usage: bench_fleet BUILD_DIR HOSTS INTERVAL SECONDS [LOG] [GROWTH] [INFLIGHT] [WORKERS]
 *        [MODE]
 */
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include <json-c/json.h>
#include <srtm/srtm.h>

#include "attest.h"
#include "common.h"
#include "store.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_fleet: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char *buf = calloc(1, 256 * 1024);
    size_t n = buf != NULL ? fread(buf, 1, 256 * 1024 - 1, f) : 0;
    fclose(f);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return buf;
}

static char *host_file(const char *dir, unsigned i, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/host-%u/%s", dir, i, name);
    return slurp(path);
}

/* Host 0's policy with its reference PCRs inline: one policy for the whole fleet. */
static char *shared_policy(const char *dir)
{
    char *pol = host_file(dir, 0, "policy.json"), *ref = host_file(dir, 0, "reference.json");
    json_object *p = json_tokener_parse(pol), *r = json_tokener_parse(ref), *proof, *running;
    if (p == NULL || r == NULL || !json_object_object_get_ex(r, "proof", &proof) ||
        !json_object_object_get_ex(r, "running", &running))
        exit(1);
    json_object *pcrs = json_object_new_object();
    json_object_object_add(pcrs, "proof", json_object_get(proof));
    json_object_object_add(pcrs, "running", json_object_get(running));
    json_object_object_add(p, "pcrs", pcrs);
    char *out = strdup(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
    json_object_put(p);
    json_object_put(r);
    free(pol);
    free(ref);
    return out;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The evidence of one joint quote of host 0: the bytes an attestation moves. */
static size_t evidence_bytes(const char *dir)
{
    char *url = host_file(dir, 0, "url");
    srtm_conn *c = NULL;
    uint8_t nonce[32] = {1}, *ev = NULL;
    size_t len = 0;
    if (srtm_open(url, &c) != SRTM_OK || srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev,
                                                    &len) != SRTM_OK)
        len = 0;
    free(ev);
    srtm_close(c);
    free(url);
    return len;
}

/* One simulator serves at most this many hosts: each holds about two file descriptors,
 * and a process may hold 20,000 on the machines of docs/benchmarks.md. Simulator k
 * serves hosts k * SIM_HOSTS ... on 127.0.0.(k + 1), from DIR/sim-k. */
#define SIM_HOSTS 9000u

static void sim_dir(const char *dir, unsigned k, char *out, size_t size)
{
    snprintf(out, size, "%s/sim-%u", dir, k);
}

static void fill_store(const char *dir, const char *url, unsigned hosts, int64_t interval)
{
    vstore *s = NULL;
    char err[256] = "";
    if (store_open(url, &s, err, sizeof(err)) != SRTM_OK) {
        fprintf(stderr, "bench_fleet: %s\n", err);
        exit(1);
    }
    char sd[512], pname[32];
    for (unsigned k = 0; k * SIM_HOSTS < hosts; k++) { /* one policy per simulator */
        sim_dir(dir, k, sd, sizeof(sd));
        snprintf(pname, sizeof(pname), "fleet-%u", k);
        char *body = shared_policy(sd);
        if (store_policy_put(s, pname, body, strlen(body), time(NULL)) != SRTM_OK)
            exit(1);
        free(body);
    }
    vs_host *h = calloc(1, sizeof(*h));
    for (unsigned i = 0; i < hosts; i++) {
        sim_dir(dir, i / SIM_HOSTS, sd, sizeof(sd));
        char *addr = host_file(sd, i % SIM_HOSTS, "url"), *aik = host_file(sd, i % SIM_HOSTS, "aik.pem");
        snprintf(h->name, sizeof(h->name), "host-%06u", i);
        snprintf(h->address, sizeof(h->address), "%s", addr);
        snprintf(h->aik_pem, sizeof(h->aik_pem), "%s\n", aik);
        snprintf(h->policy, sizeof(h->policy), "fleet-%u", i / SIM_HOSTS);
        h->interval_s = interval;
        if (store_host_add(s, h, time(NULL), NULL) != SRTM_OK) {
            fprintf(stderr, "bench_fleet: %s\n", store_errmsg(s));
            exit(1);
        }
        free(addr);
        free(aik);
    }
    free(h);
    store_close(s);
}

/* The stale hosts and the oldest last attempt, read at the end. */
static void report_staleness(const char *url, unsigned hosts)
{
    vstore *s = NULL;
    char err[256] = "";
    if (store_open(url, &s, err, sizeof(err)) != SRTM_OK)
        exit(1);
    vs_name *stale = calloc(VS_PAGE_MAX, sizeof(*stale));
    size_t n = 0;
    int64_t now = time(NULL), oldest = now;
    if (store_stale(s, now, stale, VS_PAGE_MAX, &n) != SRTM_OK)
        exit(1);
    vs_host *page = calloc(1000, sizeof(*page));
    char after[VS_NAME_MAX + 1] = "";
    unsigned seen = 0, never = 0;
    size_t got = 0;
    do {
        if (store_host_list(s, after, page, 1000, &got) != SRTM_OK)
            exit(1);
        for (size_t i = 0; i < got; i++) {
            seen++;
            never += page[i].last_attempt == 0;
            if (page[i].last_attempt != 0 && page[i].last_attempt < oldest)
                oldest = page[i].last_attempt;
        }
        if (got > 0)
            memcpy(after, page[got - 1].name, sizeof(after));
    } while (got == 1000);
    printf("at the end: %zu of %u hosts stale, %u never attempted, oldest last attempt %lld s "
           "ago\n",
           n, seen, never, (long long)(now - oldest));
    (void)hosts;
    free(page);
    free(stale);
    store_close(s);
}

static uint64_t verified(const attest_metrics *m)
{
    uint64_t n = 0;
    for (unsigned k = 0; k < ATTEST_KINDS; k++)
        n += m->kinds[k];
    return n;
}

/* The attempts by kind with their answer bytes, and the steady state: the counters from
 * s0 (every host attested once, at cpu0 and t0) to m (at cpu1, t1). */
static void print_kinds(const attest_metrics *s0, const attest_metrics *m, double cpu,
                        double wall)
{
    printf("verified attempts by kind:");
    for (unsigned k = 0; k < ATTEST_KINDS; k++)
        printf(" %s %llu (%.0f bytes each)", attest_kind_name((attest_kind)k),
               (unsigned long long)m->kinds[k],
               m->kinds[k] ? (double)m->kind_bytes[k] / m->kinds[k] : 0.0);
    printf("\n");
    uint64_t n = verified(m) - verified(s0), bytes = 0;
    for (unsigned k = 0; k < ATTEST_KINDS; k++)
        bytes += m->kind_bytes[k] - s0->kind_bytes[k];
    if (n == 0 || wall <= 0) {
        printf("steady state: no attempt after the first round\n");
        return;
    }
    printf("steady state (after the first round, %.1f s): %llu attestations, %.0f bytes "
           "received per attestation, verifier CPU %.2f s: %.2f ms per attestation, %.0f "
           "attestations per CPU second, %.1f attestations/s\n",
           wall, (unsigned long long)n, (double)bytes / n, cpu, 1e3 * cpu / n,
           cpu > 0 ? n / cpu : 0, n / wall);
}

static void print_metrics(const attest_metrics *m, double wall, double cpu, unsigned hosts,
                          long rss_before, long rss_after)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < ATTEST_OUTCOMES; i++)
        total += m->attempts[i];
    printf("attempts: %llu (trusted %llu, untrusted %llu, unreachable %llu, error %llu) in "
           "%.1f s: %.1f attestations/s\n",
           (unsigned long long)total, (unsigned long long)m->attempts[ATTEST_TRUSTED],
           (unsigned long long)m->attempts[ATTEST_UNTRUSTED],
           (unsigned long long)m->attempts[ATTEST_UNREACHABLE],
           (unsigned long long)m->attempts[ATTEST_ERROR], wall, total / wall);
    printf("verifier CPU: %.2f s (%.0f %% of one core): %.0f us per attestation, %.0f "
           "attestations per CPU second\n",
           cpu, 100 * cpu / wall, total ? 1e6 * cpu / total : 0, cpu > 0 ? total / cpu : 0);
    printf("attempt latency: mean %.1f ms; histogram (ms upper bound: count):",
           m->latency_count ? (double)m->latency_ms_sum / m->latency_count : 0);
    for (unsigned i = 0; i < ATTEST_LATENCY_BUCKETS; i++)
        if (m->latency_buckets[i] != 0) {
            if (i < ATTEST_LATENCY_BUCKETS - 1)
                printf(" %u:%llu", attest_latency_le_ms[i],
                       (unsigned long long)m->latency_buckets[i]);
            else
                printf(" more:%llu", (unsigned long long)m->latency_buckets[i]);
        }
    printf("\nresident memory: %ld -> %ld KiB, %.1f KiB per host; database errors %llu\n",
           rss_before, rss_after, (double)(rss_after - rss_before) / hosts,
           (unsigned long long)m->db_errors);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_fleet BUILD_DIR HOSTS INTERVAL SECONDS [LOG] [GROWTH] "
                        "[INFLIGHT] [WORKERS] [full|incremental]\n");
        return 2;
    }
    const char *b = argv[1];
    unsigned hosts = (unsigned)atoi(argv[2]);
    int64_t interval = atoll(argv[3]);
    int seconds = atoi(argv[4]);
    const char *log = argc > 5 ? argv[5] : "4", *growth = argc > 6 ? argv[6] : "0";
    unsigned inflight = argc > 7 ? (unsigned)atoi(argv[7]) : 256;
    unsigned workers = argc > 8 ? (unsigned)atoi(argv[8]) : 2;
    const char *mode = argc > 9 ? argv[9] : "incremental";
    if (hosts == 0 || interval <= 0 || seconds <= 0 || inflight == 0 || workers == 0 ||
        (strcmp(mode, "full") != 0 && strcmp(mode, "incremental") != 0))
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    srtm_log_set_level(SRTM_LOG_WARN); /* not a line per verdict */
    char dir[] = "/tmp/srtm-bench-fleet-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char sim[512], url[600], sd0[512];
    snprintf(sim, sizeof(sim), "%s/tests/srtm-sim", b);
    unsigned nsims = (hosts + SIM_HOSTS - 1) / SIM_HOSTS;
    if (nsims > 250)
        return 2;
    pid_t sim_pids[250];
    double t0 = bench_now();
    for (unsigned k = 0; k < nsims; k++) {
        char n[16], sd[512], addr[32];
        snprintf(n, sizeof(n), "%u", hosts - k * SIM_HOSTS < SIM_HOSTS ? hosts - k * SIM_HOSTS
                                                                        : SIM_HOSTS);
        sim_dir(dir, k, sd, sizeof(sd));
        snprintf(addr, sizeof(addr), "127.0.0.%u", k + 1);
        if ((sim_pids[k] = fork()) == 0) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            execl(sim, sim, "--hosts", n, "--dir", sd, "--addr", addr, "--shared-boot",
                  "--log-entries", log, "--growth", growth, (char *)NULL);
            _exit(127);
        }
    }
    for (unsigned k = 0; k < nsims; k++) {
        char ready[600];
        sim_dir(dir, k, sd0, sizeof(sd0));
        snprintf(ready, sizeof(ready), "%s/ready", sd0);
        while (access(ready, F_OK) != 0 && bench_now() - t0 < 1200 &&
               waitpid(sim_pids[k], NULL, WNOHANG) == 0)
            usleep(50000);
        if (access(ready, F_OK) != 0)
            return 1;
    }
    printf("%u simulated hosts up in %.1f s, %u simulators (log entries per CCR %s, growth "
           "%s/s per CCR)\n",
           hosts, bench_now() - t0, nsims, log, growth);
    sim_dir(dir, 0, sd0, sizeof(sd0));
    size_t ev = evidence_bytes(sd0);
    printf("evidence of one attestation: %zu bytes\n", ev);
    snprintf(url, sizeof(url), "sqlite:%s/fleet.db", dir);
    t0 = bench_now();
    fill_store(dir, url, hosts, interval);
    printf("store filled in %.1f s; interval %lld s, %u in flight at most, %u verification "
           "threads, %d s, %s verification\n",
           bench_now() - t0, (long long)interval, inflight, workers, seconds, mode);

    attest_config cfg = {.store_url = url, .node = "bench", .max_inflight = inflight,
                         .timeout_ms = 10000, .lease_s = 60, .workers = workers,
                         .full_only = strcmp(mode, "full") == 0};
    attest_loop *l = NULL;
    char err[256] = "";
    long rss0 = rss_kib();
    double cpu0 = cpu_seconds();
    t0 = bench_now();
    if (attest_start(&cfg, &l, err, sizeof(err)) != SRTM_OK) {
        fprintf(stderr, "bench_fleet: %s\n", err);
        return 1;
    }
    attest_metrics m = {0}, s0 = {0};
    double steady_t = 0, steady_cpu = 0;
    for (int s = 1; s <= seconds; s++) {
        sleep(1);
        attest_metrics_get(l, &m);
        if (steady_t == 0 && verified(&m) >= hosts) { /* the first round is done */
            s0 = m;
            steady_t = bench_now();
            steady_cpu = cpu_seconds();
        }
        if (s % 10 == 0 || s == seconds) {
            uint64_t total = 0;
            for (unsigned i = 0; i < ATTEST_OUTCOMES; i++)
                total += m.attempts[i];
            printf("  %4d s: %llu attempts, %llu in flight\n", s, (unsigned long long)total,
                   (unsigned long long)m.inflight);
        }
    }
    attest_metrics_get(l, &m);
    double t1 = bench_now(), cpu1 = cpu_seconds(), wall = t1 - t0, cpu = cpu1 - cpu0;
    long rss1 = rss_kib();
    attest_stop(l);
    print_metrics(&m, wall, cpu, hosts, rss0, rss1);
    print_kinds(&s0, &m, steady_t > 0 ? cpu1 - steady_cpu : 0, steady_t > 0 ? t1 - steady_t : 0);
    report_staleness(url, hosts);
    for (unsigned k = 0; k < nsims; k++) {
        kill(sim_pids[k], SIGTERM);
        waitpid(sim_pids[k], NULL, 0);
    }
    bench_sh("rm -rf %s", dir);
    return 0;
}
