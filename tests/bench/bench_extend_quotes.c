/*
 * bench_extend_quotes: what large joint quotes cost an unrelated extend, end to end. On
 * swtpm, srtmd is provisioned and launched as the unit does, with a read-only tcp
 * listener; a CHAIN-deep chain of components is registered (each the child of the one
 * before) and one more, the probe. The probe's single extends (libsrtm over the local
 * socket, one a millisecond) are timed first with nothing else running, then while
 * VERIFIERS threads, each on its own tcp connection, ask srtmd for joint quotes of the
 * chain's tail back to back: each a report of the whole closure, CHAIN + 1 components,
 * signed with the IRK and quoted by the TPM. The two conditions alternate in ROUNDS rounds
 * (default 5) of EXTENDS / ROUNDS extends each, quiet then loaded, so that a drift of the
 * machine (another process, the page cache, the CPU's clock) falls on both alike; a loaded
 * round starts once every verifier has its first evidence. Prints p50, p99 and max of each
 * round and of all the rounds of each condition together, and the joint quotes answered.
 * The verifiers run in a process of their own, forked before anything opens an nng
 * socket, as verifiers are never inside the component that measures: in one process they
 * would share nng's poller and task threads (which receive their 7.8 MB answers) with the
 * component's extends. With --remote-verifiers that process runs at nice 19, as a stand-in
 * for verifiers on other machines: the figures are then srtmd's, not the two cores shared
 * with the verifiers' own reception of the evidence.
 * Usage: bench_extend_quotes BUILD_DIR [CHAIN] [EXTENDS] [VERIFIERS] [--rounds=R]
 *                           [--remote-verifiers]
 */
#define _GNU_SOURCE
#include "bench_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <srtm/srtm.h>

static char tcp_url[64], tail[32];
static atomic_bool quoting;
static atomic_uint quotes_done, quotes_failed;
static atomic_ullong evidence_bytes;
static bool remote_verifiers;

static void *verifier(void *arg)
{
    (void)arg;
    srtm_conn *c = NULL;
    if (srtm_open(tcp_url, &c) != SRTM_OK) {
        atomic_fetch_add(&quotes_failed, 1);
        return NULL;
    }
    const char *sel[] = {tail};
    uint8_t nonce[32] = {7};
    while (atomic_load(&quoting)) {
        uint8_t *ev = NULL;
        size_t len = 0;
        nonce[0]++;
        double tq = bench_now();
        if (srtm_quote(c, nonce, sizeof(nonce), sel, 1, &ev, &len) == SRTM_OK) {
            atomic_fetch_add(&quotes_done, 1);
            atomic_fetch_add(&evidence_bytes, len);
        } else if (atomic_fetch_add(&quotes_failed, 1) == 0) {
            fprintf(stderr, "a joint quote failed after %u answered, %.3f s into its quote, quoting %d: %s\n",
                    atomic_load(&quotes_done), bench_now() - tq, (int)atomic_load(&quoting),
                    srtm_last_message(c));
        }
        free(ev);
    }
    srtm_close(c);
    return NULL;
}

/* What the verifier process reports: when every verifier has its first evidence, and
 * when they have stopped. */
typedef struct vcount {
    unsigned done, failed;
    unsigned long long bytes;
} vcount;

static vcount vcount_now(void)
{
    return (vcount){atomic_load(&quotes_done), atomic_load(&quotes_failed),
                    atomic_load(&evidence_bytes)};
}

/* The verifier process: on 'g' start nv quoting threads and report once each has an
 * answer; on 'x' stop them and report; on end of input exit. */
static void verifier_process(int cmd, int rep, int nv)
{
    if (remote_verifiers && setpriority(PRIO_PROCESS, 0, 19) != 0)
        perror("setpriority");
    pthread_t th[64];
    char op;
    while (read(cmd, &op, 1) == 1) {
        if (op == 'g') {
            unsigned start = atomic_load(&quotes_done) + atomic_load(&quotes_failed);
            atomic_store(&quoting, true);
            for (int i = 0; i < nv; i++)
                if (pthread_create(&th[i], NULL, verifier, NULL) != 0)
                    _exit(1);
            while (atomic_load(&quotes_done) + atomic_load(&quotes_failed) < start + (unsigned)nv)
                nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
        } else if (op == 'x') {
            atomic_store(&quoting, false);
            for (int i = 0; i < nv; i++)
                pthread_join(th[i], NULL);
        }
        vcount v = vcount_now();
        if (write(rep, &v, sizeof(v)) != (ssize_t)sizeof(v))
            _exit(1);
    }
    _exit(0);
}

static int vp_cmd = -1, vp_rep = -1;
static pid_t vp_pid;
static unsigned vp_failed;

static void verifier_process_start(int nv)
{
    int a[2], b[2];
    /* Close-on-exec: swtpm and srtmd, started later, must not hold the command pipe open,
     * or closing it would not end the verifier process. */
    if (pipe2(a, O_CLOEXEC) != 0 || pipe2(b, O_CLOEXEC) != 0)
        exit(1);
    vp_pid = fork();
    if (vp_pid < 0)
        exit(1);
    if (vp_pid == 0) {
        close(a[1]);
        close(b[0]);
        verifier_process(a[0], b[1], nv);
    }
    close(a[0]);
    close(b[1]);
    vp_cmd = a[1];
    vp_rep = b[0];
}

static vcount verifier_process_ask(char op)
{
    vcount v;
    if (write(vp_cmd, &op, 1) != 1 || read(vp_rep, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
        fprintf(stderr, "the verifier process is gone\n");
        exit(1);
    }
    vp_failed = v.failed;
    return v;
}

static void verifier_process_stop(void)
{
    close(vp_cmd);
    waitpid(vp_pid, NULL, 0);
}

/* n single extends of the probe, one a millisecond; t[i] the latency of each. */
static void extends(srtm_conn *c, const srtm_cap *cap, double *t, int n)
{
    for (int i = 0; i < n; i++) {
        uint8_t d[SRTM_DIGEST_LEN] = {(uint8_t)i, (uint8_t)(i >> 8)};
        double t0 = bench_now();
        if (srtm_extend(c, cap, "probe", 0, d, 0, NULL, NULL) != SRTM_OK) {
            fprintf(stderr, "extend failed\n");
            exit(1);
        }
        t[i] = bench_now() - t0;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

/* Sorts a copy of t; prints and returns its p99. */
static double print(const char *what, const double *t, int n)
{
    double *s = malloc((size_t)n * sizeof(*s));
    if (s == NULL)
        exit(1);
    memcpy(s, t, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), bench_cmp_double);
    double p99 = s[(size_t)((n - 1) * 0.99)];
    printf("%-34s p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what, s[n / 2] * 1e3,
           p99 * 1e3, s[n - 1] * 1e3);
    free(s);
    return p99;
}

/* One loaded round: the verifier process quotes while n extends run; counts into *answered. */
static void loaded_round(srtm_conn *c, const srtm_cap *cap, double *t, int n,
                         unsigned *answered, unsigned long long *bytes, double *seconds)
{
    vcount before = verifier_process_ask('g');
    double t0 = bench_now();
    extends(c, cap, t, n);
    *seconds += bench_now() - t0;
    vcount after = verifier_process_ask('x');
    *answered += after.done - before.done;
    *bytes += after.bytes - before.bytes;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_extend_quotes BUILD_DIR [CHAIN] [EXTENDS] [VERIFIERS] "
                        "[--rounds=R] [--remote-verifiers]\n");
        return 2;
    }
    const char *b = argv[1];
    int rounds = 5;
    while (argc > 2 && strncmp(argv[argc - 1], "--", 2) == 0) {
        if (strcmp(argv[argc - 1], "--remote-verifiers") == 0)
            remote_verifiers = true;
        else if (strncmp(argv[argc - 1], "--rounds=", 9) == 0)
            rounds = atoi(argv[argc - 1] + 9);
        else
            return 2;
        argc--;
    }
    unsigned chain = argc > 2 ? (unsigned)atoi(argv[2]) : 100000;
    int n = argc > 3 ? atoi(argv[3]) : 2000;
    int nv = argc > 4 ? atoi(argv[4]) : 4;
    if (chain == 0 || chain > 1000000 || nv <= 0 || nv > 64 || rounds <= 0 || n < rounds)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    setenv("TSS2_LOG", "all+NONE", 1);
    char dir[] = "/tmp/srtm-bench-extq-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    int port = 23450, tcp_port = 23459;
    bench_sh("mkdir -p %s/tpm", dir);
    char tpm_dir[64], tcti[64], more[300];
    snprintf(tpm_dir, sizeof(tpm_dir), "%s/tpm", dir);
    pid_t tpm = bench_swtpm_spawn(tpm_dir, port);
    usleep(200000);
    snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", port);
    snprintf(tcp_url, sizeof(tcp_url), "tcp://127.0.0.1:%d", tcp_port);
    snprintf(tail, sizeof(tail), "c%u", chain);
    verifier_process_start(nv); /* before this process opens any nng socket */
    /* A chain deeper than the default quotas allow, on purpose. */
    snprintf(more, sizeof(more),
             "listen-tcp %s\\nmax-depth %u\\ncomponents-per-uid %u\\nmemory-budget 4294967296\\n",
             tcp_url, chain + 1, chain + 2);
    bench_provision_conf(b, tcti, dir, getenv("BENCH_LOG") ? getenv("BENCH_LOG") : "error", more);
    char extra[400];
    snprintf(extra, sizeof(extra), "--pidfile %s/pid 2>%s/srtmd.log", dir, dir);
    bench_launch_srtmd(b, tcti, dir, extra);

    char url[400], cap_path[400];
    snprintf(url, sizeof(url), "ipc://%s/s.sock", dir);
    snprintf(cap_path, sizeof(cap_path), "%s/a.cap", dir);
    srtm_conn *c = NULL;
    srtm_cap admin, cap, probe_cap;
    uint64_t h = 0;
    if (srtm_cap_load(cap_path, &admin) != SRTM_OK || srtm_open(url, &c) != SRTM_OK)
        return 1;
    double t0 = bench_now();
    char parent[32] = "";
    cap = admin;
    for (unsigned i = 1; i <= chain; i++) {
        char name[32];
        snprintf(name, sizeof(name), "c%u", i);
        srtm_cap child;
        if (srtm_register_child(c, &cap, i == 1 ? NULL : parent, name, 1, NULL, 0, NULL, 0, &h,
                                &child) != SRTM_OK) {
            fprintf(stderr, "registering %s failed\n", name);
            return 1;
        }
        cap = child;
        memcpy(parent, name, sizeof(name));
    }
    if (srtm_register(c, &admin, "probe", 1, &h, &probe_cap) != SRTM_OK)
        return 1;
    printf("%u-deep chain registered in %.1f s; %d single extends of another component over "
           "the local socket, %d verifiers (another process) quoting the tail over tcp%s\n",
           chain, bench_now() - t0, n, nv, remote_verifiers ? " (at nice 19)" : "");

    int per = n / rounds;
    n = per * rounds;
    double *tq = malloc((size_t)n * sizeof(*tq)), *tl = malloc((size_t)n * sizeof(*tl));
    if (tq == NULL || tl == NULL)
        return 1;
    unsigned answered = 0;
    unsigned long long bytes = 0;
    double seconds = 0;
    char what[64];
    for (int r = 0; r < rounds; r++) {
        extends(c, &probe_cap, tq + r * per, per);
        loaded_round(c, &probe_cap, tl + r * per, per, &answered, &bytes, &seconds);
        snprintf(what, sizeof(what), "round %d: extend, no quotes", r + 1);
        double q = print(what, tq + r * per, per);
        snprintf(what, sizeof(what), "round %d: extend, %d verifiers", r + 1, nv);
        double l = print(what, tl + r * per, per);
        printf("round %d: p99 ratio %.2f\n", r + 1, q > 0 ? l / q : 0);
    }
    snprintf(what, sizeof(what), "all %d: extend, no quotes", n);
    double quiet = print(what, tq, n);
    snprintf(what, sizeof(what), "all %d: extend, %d verifiers", n, nv);
    double loaded = print(what, tl, n);
    printf("%u joint quotes of %u components answered while the extends ran (%.1f s, %.1f MB "
           "of evidence each), %u failed; p99 ratio %.2f\n",
           answered, chain + 1, seconds, answered ? (double)bytes / answered / 1e6 : 0.0,
           vp_failed, quiet > 0 ? loaded / quiet : 0);
    srtm_close(c);
    verifier_process_stop();
    bench_sh("kill $(cat %s/pid) 2>/dev/null; sleep 0.3", dir);
    kill(tpm, SIGTERM);
    if (vp_failed > 0)
        bench_sh("grep -v 'registered\\|extended' %s/srtmd.log | tail -40", dir);
    bench_sh("rm -rf %s", dir);
    free(tq);
    free(tl);
    return vp_failed > 0 ? 1 : 0;
}
