/*
 * bench_quote: on swtpm, in one run,
 *   1. the SRTM-proof-period: wall time from starting srtmd (which unseals the IRK,
 *      certifies it and closes the period before it serves) until it serves, against
 *      the time of starting srtmd --no-tpm (the same daemon without the period);
 *   2. joint quote latency through libsrtm (report of 10 components, IRK signature, TPM
 *      quote) against a bare km_quote on a second swtpm with the same kind of AIK (the
 *      TPM's share), alternating, medians.
 * Usage: bench_quote BUILD_DIR [ROUNDS]
 */
#include "bench_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <srtm/srtm.h>

#include "km.h"

#define QUOTES_PER_ROUND 50
#define VERIFIERS 64
#define BURST_S 3

static const char *burst_url;
static double burst_until;
static _Atomic unsigned long long burst_done, burst_failed;

/* One verifier of the throughput phase: quotes back to back until the deadline. */
static void *burst_verifier(void *arg)
{
    (void)arg;
    srtm_conn *c = NULL;
    if (srtm_open(burst_url, &c) != SRTM_OK) {
        burst_failed++;
        return NULL;
    }
    uint8_t nonce[20] = {7};
    for (unsigned i = 0; bench_now() < burst_until; i++) {
        nonce[1] = (uint8_t)i;
        uint8_t *ev = NULL;
        size_t len = 0;
        if (srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev, &len) == SRTM_OK)
            burst_done++;
        else
            burst_failed++;
        free(ev);
    }
    srtm_close(c);
    return NULL;
}





static pid_t swtpm(const char *dir, int port)
{
    pid_t pid = fork();
    if (pid == 0) {
        char server[80], ctrl[80], state[300];
        snprintf(server, sizeof(server), "type=tcp,port=%d,bindaddr=127.0.0.1", port);
        snprintf(ctrl, sizeof(ctrl), "type=tcp,port=%d,bindaddr=127.0.0.1", port + 1);
        snprintf(state, sizeof(state), "dir=%s", dir);
        execlp("swtpm", "swtpm", "socket", "--tpm2", "--server", server, "--ctrl", ctrl,
               "--tpmstate", state, "--flags", "not-need-init,startup-clear", (char *)NULL);
        _exit(127);
    }
    usleep(200000);
    return pid;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_quote BUILD_DIR [ROUNDS]\n");
        return 2;
    }
    const char *b = argv[1];
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > 50)
        rounds = 5;
    setenv("TSS2_LOG", "all+NONE", 1);
    char dir[] = "/tmp/srtm-bench-quote-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    bench_sh("mkdir -p %s/tpm-a %s/tpm-b", dir, dir);
    int port_a = 23410, port_b = 23420;
    pid_t ta = swtpm(strcat(strcpy((char[300]){0}, dir), "/tpm-a"), port_a);
    pid_t tb = swtpm(strcat(strcpy((char[300]){0}, dir), "/tpm-b"), port_b);
    char tcti_a[64], tcti_b[64];
    snprintf(tcti_a, sizeof(tcti_a), "swtpm:host=127.0.0.1,port=%d", port_a);
    snprintf(tcti_b, sizeof(tcti_b), "swtpm:host=127.0.0.1,port=%d", port_b);

    /* Provision platform A as an administrator would. */
    bench_provision(b, tcti_a, dir, "info");

    /* 1. Start-up with and without the proof period (srtmd returns once it serves). */
    double with_tpm = 0, without = 0;
    bench_launch(b, tcti_a, dir);
    double t0 = bench_now();
    bench_sh("%s/srtm/srtmd --config %s/srtmd.conf --tcti %s --listen ipc://%s/s.sock "
       "--admin-cap %s/a.cap --pidfile %s/pid 2>%s/srtmd.log",
       b, dir, tcti_a, dir, dir, dir, dir);
    with_tpm = bench_now() - t0;
    t0 = bench_now();
    bench_sh("%s/srtm/srtmd --no-tpm --log-level error --listen ipc://%s/n.sock --admin-cap %s/n.cap "
       "--pidfile %s/npid",
       b, dir, dir, dir);
    without = bench_now() - t0;
    bench_sh("kill $(cat %s/npid)", dir);

    /* 2. Joint quotes over 10 components of 10 entries each. */
    char url[400], cap_path[400];
    snprintf(url, sizeof(url), "ipc://%s/s.sock", dir);
    snprintf(cap_path, sizeof(cap_path), "%s/a.cap", dir);
    srtm_conn *c = NULL;
    srtm_cap admin, cap;
    uint64_t h;
    if (srtm_cap_load(cap_path, &admin) != SRTM_OK || srtm_open(url, &c) != SRTM_OK)
        return 1;
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "vm-%d", i);
        if (srtm_register(c, &admin, name, 1, &h, &cap) != SRTM_OK)
            return 1;
        for (int k = 0; k < 10; k++) {
            uint8_t d[32] = {(uint8_t)i, (uint8_t)k};
            if (srtm_extend(c, &cap, name, 0, d, 0, "module", NULL) != SRTM_OK)
                return 1;
        }
    }
    km_ctx *kb = NULL;
    const km_aik *aik = NULL;
    if (km_open(tcti_b, &kb) != SRTM_OK || km_aik_create(kb, 0x81010002, &aik) != SRTM_OK)
        return 1;
    double joint[50], tpm[50];
    uint8_t nonce[32] = {1};
    for (int r = 0; r < rounds; r++) {
        t0 = bench_now();
        for (int i = 0; i < QUOTES_PER_ROUND; i++) {
            nonce[0] = (uint8_t)i;
            uint8_t *ev = NULL;
            size_t len = 0;
            if (srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev, &len) != SRTM_OK)
                return 1;
            free(ev);
        }
        joint[r] = (bench_now() - t0) / QUOTES_PER_ROUND;
        t0 = bench_now();
        for (int i = 0; i < QUOTES_PER_ROUND; i++) {
            km_tpm_quote q;
            uint8_t qual[32] = {(uint8_t)i};
            if (km_quote(kb, aik, 0x80FF, qual, sizeof(qual), &q) != SRTM_OK)
                return 1;
        }
        tpm[r] = (bench_now() - t0) / QUOTES_PER_ROUND;
    }
    double mj = bench_median(joint, rounds), mt = bench_median(tpm, rounds);

    /* 3. Throughput: 64 verifiers asking at once for BURST_S seconds (srtmd batches what
     * waits into one TPM quote), against back-to-back bare TPM quotes for as long. */
    burst_url = url;
    burst_until = bench_now() + BURST_S;
    pthread_t th[VERIFIERS];
    for (int i = 0; i < VERIFIERS; i++)
        pthread_create(&th[i], NULL, burst_verifier, NULL);
    for (int i = 0; i < VERIFIERS; i++)
        pthread_join(th[i], NULL);
    double joint_rate = (double)burst_done / BURST_S;
    uint64_t bare = 0;
    double until = bench_now() + BURST_S;
    while (bench_now() < until) {
        km_tpm_quote q;
        uint8_t qual[32] = {(uint8_t)bare};
        if (km_quote(kb, aik, 0x80FF, qual, sizeof(qual), &q) != SRTM_OK)
            return 1;
        bare++;
    }
    double tpm_rate = (double)bare / BURST_S;
    printf("bench_quote: %d rounds of %d quotes, medians\n", rounds, QUOTES_PER_ROUND);
    printf("  srtmd start with the proof period:   %7.1f ms  (without, --no-tpm: %.1f ms)\n",
           with_tpm * 1e3, without * 1e3);
    printf("  joint quote (10 components):         %7.2f ms\n", mj * 1e3);
    printf("  bare km_quote (TPM share, same PCRs): %7.2f ms\n", mt * 1e3);
    printf("  srtm's share (joint - TPM):           %7.2f ms\n", (mj - mt) * 1e3);
    printf("  %d concurrent verifiers for %d s:    %7.0f joint quotes/s (%llu failed)\n",
           VERIFIERS, BURST_S, joint_rate, (unsigned long long)burst_failed);
    printf("  bare TPM quotes back to back:         %7.0f quotes/s  (joint = %.1fx the TPM)\n",
           tpm_rate, joint_rate / tpm_rate);
    km_close(kb);
    srtm_close(c);
    bench_sh("kill $(cat %s/pid); sleep 0.5; grep -o 'quoter: .*' %s/srtmd.log | "
             "sed 's/^/  srtmd: /'",
             dir, dir);
    kill(ta, SIGTERM);
    kill(tb, SIGTERM);
    waitpid(ta, NULL, 0);
    waitpid(tb, NULL, 0);
    bench_sh("rm -rf %s", dir);
    return 0;
}
