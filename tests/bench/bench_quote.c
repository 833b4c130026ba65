/*
 * bench_quote: on swtpm, in one run,
 *   1. the SRTM-proof-period: wall time from starting srtmd (which unseals the IRK,
 *      certifies it and closes the period before it serves) until it serves, against
 *      the time of starting srtmd --no-tpm (the same daemon without the period);
 *   2. joint quote latency through libsrtm (report of 10 components, IRK signature, TPM
 *      quote) against a bare km_quote on a second swtpm with the same kind of AIK (the
 *      TPM's share), alternating, medians;
 *   3. throughput with 64 concurrent verifiers against two references: bare TPM quotes
 *      back to back, and a bare nng echo server answering 64 clients with messages of
 *      the sizes of a quote request and its evidence (the transport's own ceiling on this
 *      machine); with the CPU time srtmd, swtpm and the verifiers spent per joint quote
 *      (and the echo server and its clients per round trip).
 * Usage: bench_quote BUILD_DIR [ROUNDS]
 *
 * With --tpm-delay MS it measures instead what batching buys on a TPM as slow as a
 * discrete one: srtmd's TPM is a swtpm behind tpm_delay_proxy, which holds every
 * TPM2_Quote back for MS milliseconds; 64 verifiers ask for joint quotes against bare
 * km_quote calls back to back through a second proxy with the same delay.
 * Usage: bench_quote BUILD_DIR --tpm-delay MS
 */
#include "bench_echo.h"
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

#include <nng/protocol/reqrep0/req.h>
#include <srtm/srtm.h>

#include "km.h"
#include "srtm.pb-c.h"

#define QUOTES_PER_ROUND 50
#define VERIFIERS 64
#define BURST_S 3

/* srtmd's own count of the TPM quotes made for the joint quotes it answered. */
static void print_quoter(srtm_conn *c)
{
    srtm_status_info st = {.size = sizeof(st)};
    if (srtm_status(c, &st) == SRTM_OK)
        printf("  srtmd: %llu joint quotes answered with %llu TPM quotes (%.3f per joint quote)\n",
               (unsigned long long)st.quote_jobs, (unsigned long long)st.tpm_quotes,
               st.quote_jobs > 0 ? (double)st.tpm_quotes / (double)st.quote_jobs : 0.0);
}

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

/* The measured platform: 10 components of 10 entries each. 0 on success. */
static int populate(srtm_conn *c, const srtm_cap *admin)
{
    srtm_cap cap;
    uint64_t h;
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "vm-%d", i);
        if (srtm_register(c, admin, name, 1, &h, &cap) != SRTM_OK)
            return -1;
        for (int k = 0; k < 10; k++) {
            uint8_t d[32] = {(uint8_t)i, (uint8_t)k};
            if (srtm_extend(c, &cap, name, 0, d, 0, "module", NULL) != SRTM_OK)
                return -1;
        }
    }
    return 0;
}

/* 64 verifiers quoting at url for seconds; joint quotes answered per second. */
static double burst(const char *url, double seconds)
{
    pthread_t th[VERIFIERS];
    burst_url = url;
    burst_done = 0;
    burst_until = bench_now() + seconds;
    for (int i = 0; i < VERIFIERS; i++)
        pthread_create(&th[i], NULL, burst_verifier, NULL);
    for (int i = 0; i < VERIFIERS; i++)
        pthread_join(th[i], NULL);
    return (double)burst_done / seconds;
}

/* One client of the transport reference: echo round trips back to back until the
 * deadline. */
static size_t echo_req_len;
static void *burst_echo(void *arg)
{
    nng_socket s;
    if (nng_req0_open(&s) != 0 ||
        nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
        nng_dial(s, arg, NULL, 0) != 0) {
        burst_failed++;
        return NULL;
    }
    while (bench_now() < burst_until) {
        nng_msg *m = NULL, *r = NULL;
        if (nng_msg_alloc(&m, echo_req_len) != 0)
            break;
        memset(nng_msg_body(m), 1, echo_req_len);
        if (nng_sendmsg(s, m, 0) != 0 || nng_recvmsg(s, &r, 0) != 0) {
            burst_failed++;
            break;
        }
        nng_msg_free(r);
        burst_done++;
    }
    nng_close(s);
    return NULL;
}

/* CPU seconds (user + system) a process has used so far, from /proc. */
static double cpu_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime) follow the ")" closing the command name. */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double cpu_self(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t swtpm(const char *dir, int port)
{
    pid_t pid = bench_swtpm_spawn(dir, port);
    usleep(200000);
    return pid;
}

/* Start tpm_delay_proxy on port (and port + 1) in front of the swtpm at upstream; returns
 * once it listens. */
static pid_t delay_proxy(const char *b, int port, int upstream, unsigned delay_ms)
{
    int fds[2];
    char exe[400], a1[16], a2[16], a3[16];
    if (pipe(fds) != 0)
        exit(1);
    snprintf(exe, sizeof(exe), "%s/tests/tpm_delay_proxy", b);
    snprintf(a1, sizeof(a1), "%d", port);
    snprintf(a2, sizeof(a2), "%d", upstream);
    snprintf(a3, sizeof(a3), "%u", delay_ms);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(exe, exe, a1, a2, a3, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char ready[8] = {0};
    if (read(fds[0], ready, sizeof(ready) - 1) <= 0 || strncmp(ready, "ready", 5) != 0) {
        fprintf(stderr, "bench_quote: %s did not start\n", exe);
        exit(1);
    }
    close(fds[0]);
    return pid;
}

/* The delayed-TPM measurement (--tpm-delay); see the top of the file. */
static int delayed_main(const char *b, unsigned delay_ms)
{
    char dir[] = "/tmp/srtm-bench-delay-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    bench_sh("mkdir -p %s/tpm-a %s/tpm-b", dir, dir);
    int port_a = 23450, port_b = 23460, proxy_a = 23470, proxy_b = 23480;
    pid_t ta = swtpm(strcat(strcpy((char[300]){0}, dir), "/tpm-a"), port_a);
    pid_t tb = swtpm(strcat(strcpy((char[300]){0}, dir), "/tpm-b"), port_b);
    pid_t pa = delay_proxy(b, proxy_a, port_a, delay_ms);
    pid_t pb = delay_proxy(b, proxy_b, port_b, delay_ms);
    char tcti_a[64], tcti_b[64], extra[1200], url[400], cap_path[400];
    snprintf(tcti_a, sizeof(tcti_a), "swtpm:host=127.0.0.1,port=%d", proxy_a);
    snprintf(tcti_b, sizeof(tcti_b), "swtpm:host=127.0.0.1,port=%d", proxy_b);
    bench_provision(b, tcti_a, dir, "info");
    snprintf(extra, sizeof(extra), "--pidfile %s/pid 2>%s/srtmd.log", dir, dir);
    bench_launch_srtmd(b, tcti_a, dir, extra);
    snprintf(url, sizeof(url), "ipc://%s/s.sock", dir);
    snprintf(cap_path, sizeof(cap_path), "%s/a.cap", dir);
    srtm_conn *c = NULL;
    srtm_cap admin;
    if (srtm_cap_load(cap_path, &admin) != SRTM_OK || srtm_open(url, &c) != SRTM_OK ||
        populate(c, &admin) != 0)
        return 1;
    double joint_rate = burst(url, BURST_S);
    unsigned long long failed = burst_failed;
    km_ctx *kb = NULL;
    const km_aik *aik = NULL;
    if (km_open(tcti_b, &kb) != SRTM_OK || km_aik_create(kb, 0x81010002, &aik) != SRTM_OK)
        return 1;
    uint64_t bare = 0;
    double t0 = bench_now();
    while (bench_now() < t0 + BURST_S) {
        km_tpm_quote q;
        uint8_t qual[32] = {(uint8_t)bare};
        if (km_quote(kb, aik, 0x80FF, qual, sizeof(qual), &q) != SRTM_OK)
            return 1;
        bare++;
    }
    double bare_rate = (double)bare / (bench_now() - t0);
    printf("bench_quote --tpm-delay %u: every TPM2_Quote held back %u ms\n", delay_ms, delay_ms);
    printf("  %d concurrent verifiers for %d s:    %7.1f joint quotes/s (%llu failed)\n",
           VERIFIERS, BURST_S, joint_rate, failed);
    printf("  bare km_quote back to back:           %7.1f quotes/s  (joint = %.1fx the TPM)\n",
           bare_rate, joint_rate / bare_rate);
    km_close(kb);
    print_quoter(c);
    srtm_close(c);
    bench_sh("kill $(cat %s/pid)", dir);
    pid_t children[] = {pa, pb, ta, tb};
    for (int i = 0; i < 4; i++) {
        kill(children[i], SIGTERM);
        waitpid(children[i], NULL, 0);
    }
    bench_sh("rm -rf %s", dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_quote BUILD_DIR [ROUNDS]\n"
                        "       bench_quote BUILD_DIR --tpm-delay MS\n");
        return 2;
    }
    const char *b = argv[1];
    if (argc > 3 && strcmp(argv[2], "--tpm-delay") == 0) {
        setenv("TSS2_LOG", "all+NONE", 1);
        long ms = strtol(argv[3], NULL, 10);
        return delayed_main(b, ms >= 0 && ms <= 10000 ? (unsigned)ms : 200u);
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > 50)
        rounds = 5;
    setenv("TSS2_LOG", "all+NONE", 1);
    char dir[] = "/tmp/srtm-bench-quote-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    /* The echo server of the transport reference is forked now, before this process
     * uses nng (nng does not survive a fork); it learns its answer size from the pipe. */
    int echo_pipe[2];
    if (pipe(echo_pipe) != 0)
        return 1;
    pid_t echo = fork();
    if (echo == 0) {
        size_t reply_len = 0;
        close(echo_pipe[1]);
        if (read(echo_pipe[0], &reply_len, sizeof(reply_len)) != sizeof(reply_len))
            _exit(0);
        char echo_url[400];
        snprintf(echo_url, sizeof(echo_url), "ipc://%s/echo.sock", dir);
        bench_echo_serve(echo_url, reply_len);
    }
    close(echo_pipe[0]);
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
    char extra[1200];
    snprintf(extra, sizeof(extra), "--pidfile %s/pid 2>%s/srtmd.log", dir, dir);
    double t0 = bench_now();
    bench_launch_srtmd(b, tcti_a, dir, extra); /* the launch is part of the start-up */
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
    srtm_cap admin;
    if (srtm_cap_load(cap_path, &admin) != SRTM_OK || srtm_open(url, &c) != SRTM_OK)
        return 1;
    if (populate(c, &admin) != 0)
        return 1;
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
    uint8_t *sample = NULL;
    size_t evidence_len = 0;
    if (srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &sample, &evidence_len) != SRTM_OK)
        return 1;
    free(sample);
    pid_t srtmd_pid = 0;
    {
        char pidfile[400];
        snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
        FILE *f = fopen(pidfile, "r");
        if (f == NULL || fscanf(f, "%d", &srtmd_pid) != 1)
            return 1;
        fclose(f);
    }
    double cpu_d0 = cpu_of(srtmd_pid), cpu_t0 = cpu_of(ta), cpu_v0 = cpu_self();
    double joint_rate = burst(url, BURST_S);
    unsigned long long joint_done = burst_done;
    double cpu_d = cpu_of(srtmd_pid) - cpu_d0, cpu_t = cpu_of(ta) - cpu_t0,
           cpu_v = cpu_self() - cpu_v0;

    /* The transport alone: the same 64 clients and message sizes, an echo server. */
    char echo_url[400];
    snprintf(echo_url, sizeof(echo_url), "ipc://%s/echo.sock", dir);
    {
        Srtm__QuoteRequest qr = SRTM__QUOTE_REQUEST__INIT;
        qr.nonce.data = nonce;
        qr.nonce.len = sizeof(nonce);
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.version = SRTM__VERSION__VERSION_1;
        req.op_case = SRTM__REQUEST__OP_QUOTE;
        req.quote = &qr;
        echo_req_len = srtm__request__get_packed_size(&req);
    }
    if (write(echo_pipe[1], &evidence_len, sizeof(evidence_len)) != sizeof(evidence_len))
        return 1;
    close(echo_pipe[1]);
    usleep(200000);
    burst_done = 0;
    unsigned long long failed_joint = burst_failed;
    double cpu_e0 = cpu_of(echo), cpu_c0 = cpu_self();
    burst_until = bench_now() + BURST_S;
    pthread_t th[VERIFIERS];
    for (int i = 0; i < VERIFIERS; i++)
        pthread_create(&th[i], NULL, burst_echo, echo_url);
    for (int i = 0; i < VERIFIERS; i++)
        pthread_join(th[i], NULL);
    double echo_rate = (double)burst_done / BURST_S;
    double cpu_e = (cpu_of(echo) - cpu_e0) / (double)burst_done;
    double cpu_c = (cpu_self() - cpu_c0) / (double)burst_done;
    kill(echo, SIGKILL);
    waitpid(echo, NULL, 0);

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
           VERIFIERS, BURST_S, joint_rate, failed_joint);
    printf("  bare TPM quotes back to back:         %7.0f quotes/s  (joint = %.1fx the TPM)\n",
           tpm_rate, joint_rate / tpm_rate);
    printf("  bare nng echo, %d clients, %zu B / %zu B: %7.0f round trips/s (joint = %.0f%% of it)\n",
           VERIFIERS, echo_req_len, evidence_len, echo_rate, 100.0 * joint_rate / echo_rate);
    printf("  CPU per joint quote: srtmd %.0f us, swtpm %.0f us, verifiers %.0f us; "
           "per echo: server %.0f us, clients %.0f us\n",
           cpu_d / (double)joint_done * 1e6, cpu_t / (double)joint_done * 1e6,
           cpu_v / (double)joint_done * 1e6, cpu_e * 1e6, cpu_c * 1e6);
    km_close(kb);
    print_quoter(c);
    srtm_close(c);
    bench_sh("kill $(cat %s/pid)", dir);
    kill(ta, SIGTERM);
    kill(tb, SIGTERM);
    waitpid(ta, NULL, 0);
    waitpid(tb, NULL, 0);
    bench_sh("rm -rf %s", dir);
    return 0;
}
