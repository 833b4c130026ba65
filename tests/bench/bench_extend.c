/*
 * bench_extend: in one run and on the same machine state, measures
 *   1. a bare nng req/rep round trip between two processes, with the byte sizes of an
 *      srtm single-extend request and its answer, made with the same nng calls as
 *      libsrtm and served the way srtmd serves (a pool of nng contexts with aio
 *      callbacks);
 *   2. a single synchronous srtm extend round trip through libsrtm to a real srtmd;
 *   3. batched extend throughput (measurements per second) through libsrtm, with one
 *      and with two client connections;
 *   4. when swtpm is on PATH, the reference of 3: TPM2_PCR_Extend calls per second on a
 *      swtpm through tpm2-tss ESAPI (Esys_PCR_Extend, one digest per call, as a
 *      component would extend a PCR), the same SHA-256 bank.
 * Rounds of 1 to 4 alternate so that drift of the machine hits all alike; the median
 * round is reported. Usage: bench_extend SRTMD_PATH [ROUNDS]
 */
#include "bench_echo.h"
#include "bench_util.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include <srtm/srtm.h>

#include "km.h"
#include "srtm.pb-c.h"

#define RTT_ITERS 5000
#define REPLY_LEN 8 /* size of a packed srtm extend answer */
#define BATCH 8192
#define BATCHES_PER_ROUND 40
#define PCR_EXTENDS_PER_ROUND 2000
#define PCR_BENCH 16 /* the debug PCR: extending it changes nothing a quote relies on */

/* ---- measurements ---- */

/* The same nng calls libsrtm makes (message API, no copies): only srtm's own work is
 * missing, which is what the comparison is for. */
static double bare_rtt_us(const char *url, size_t req_len)
{
    nng_socket s;
    /* libsrtm's socket options: no resend timer, 10 s send and receive timeouts. */
    if (nng_req0_open(&s) != 0 ||
        nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE) != 0 ||
        nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000) != 0 ||
        nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 10000) != 0 || nng_dial(s, url, NULL, 0) != 0) {
        fprintf(stderr, "bench: cannot reach the echo server\n");
        exit(1);
    }
    double t0 = bench_now();
    for (int i = 0; i < RTT_ITERS; i++) {
        nng_msg *m = NULL, *r = NULL;
        if (nng_msg_alloc(&m, req_len) != 0)
            exit(1);
        memset(nng_msg_body(m), i & 0xff, req_len);
        if (nng_sendmsg(s, m, 0) != 0 || nng_recvmsg(s, &r, 0) != 0) {
            fprintf(stderr, "bench: echo failed\n");
            exit(1);
        }
        nng_msg_free(r);
    }
    double t = bench_now() - t0;
    nng_close(s);
    return t / RTT_ITERS * 1e6;
}

/* Packed size of the single-extend request libsrtm sends for name. */
static size_t extend_request_size(const char *name)
{
    uint8_t digest[SRTM_DIGEST_LEN] = {0}, cap[SRTM_CAP_LEN] = {0};
    uint32_t ccr = 0;
    Srtm__ComponentRef ref;
    srtm__component_ref__init(&ref);
    ref.ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref.name.data = (uint8_t *)name;
    ref.name.len = strlen(name);
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = &ref;
    ex.digests.data = digest;
    ex.digests.len = sizeof(digest);
    ex.n_ccrs = 1;
    ex.ccrs = &ccr;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.capability.data = cap;
    req.capability.len = sizeof(cap);
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    return srtm__request__get_packed_size(&req);
}

static srtm_conn *open_conn(const char *url)
{
    srtm_conn *c = NULL;
    srtm_err err = srtm_open(url, &c);
    if (err != SRTM_OK) {
        fprintf(stderr, "bench: srtm_open: %s\n", srtm_strerror(err));
        exit(1);
    }
    return c;
}

static double srtm_rtt_us(srtm_conn *c, const srtm_cap *cap, const char *name)
{
    uint8_t d[SRTM_DIGEST_LEN] = {1};
    double t0 = bench_now();
    for (int i = 0; i < RTT_ITERS; i++) {
        d[0] = (uint8_t)i;
        srtm_err err = srtm_extend(c, cap, name, 0, d, 0, NULL, NULL);
        if (err != SRTM_OK) {
            fprintf(stderr, "bench: extend: %s\n", srtm_strerror(err));
            exit(1);
        }
    }
    return (bench_now() - t0) / RTT_ITERS * 1e6;
}

typedef struct batch_job {
    const char *url;
    srtm_cap cap;
    const char *name;
    int batches;
    double seconds;
} batch_job;

static void *batch_thread(void *p)
{
    batch_job *j = p;
    srtm_conn *c = open_conn(j->url);
    srtm_batch *b = NULL;
    if (srtm_batch_new(&b) != SRTM_OK)
        exit(1);
    uint8_t d[SRTM_DIGEST_LEN] = {2};
    double t0 = bench_now();
    for (int k = 0; k < j->batches; k++) {
        /* Building the batch is part of the cost a component pays. */
        srtm_batch_clear(b);
        for (uint32_t i = 0; i < BATCH; i++) {
            d[0] = (uint8_t)i;
            d[1] = (uint8_t)(i >> 8);
            d[2] = (uint8_t)k;
            if (srtm_batch_add(b, i % 4, d, 0, NULL) != SRTM_OK)
                exit(1);
        }
        srtm_err err = srtm_batch_submit(c, &j->cap, j->name, b, NULL, NULL);
        if (err != SRTM_OK) {
            fprintf(stderr, "bench: batch: %s (%s)\n", srtm_strerror(err), srtm_last_message(c));
            exit(1);
        }
    }
    j->seconds = bench_now() - t0;
    srtm_batch_free(b);
    srtm_close(c);
    return NULL;
}

/* Measurements per second with nthreads connections, each to its own component. */
static double batched_rate(const char *url, batch_job *jobs, int nthreads)
{
    pthread_t th[2];
    double t0 = bench_now();
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, batch_thread, &jobs[i]);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    double t = bench_now() - t0;
    (void)url;
    return (double)nthreads * BATCHES_PER_ROUND * BATCH / t;
}

/* Esys_PCR_Extend calls per second on the TPM behind k, one digest each. */
static double pcr_extend_rate(km_ctx *k)
{
    uint8_t d[KM_DIGEST_LEN] = {3};
    double t0 = bench_now();
    for (int i = 0; i < PCR_EXTENDS_PER_ROUND; i++) {
        d[0] = (uint8_t)i;
        d[1] = (uint8_t)(i >> 8);
        if (km_pcr_extend(k, PCR_BENCH, d) != SRTM_OK) {
            fprintf(stderr, "bench: PCR extend failed\n");
            exit(1);
        }
    }
    return PCR_EXTENDS_PER_ROUND / (bench_now() - t0);
}

/* A swtpm on two free local ports with its state in dir; 0 when swtpm is not installed. */
static pid_t start_swtpm(const char *dir, char *tcti, size_t tcti_size, km_ctx **k)
{
    if (system("command -v swtpm >/dev/null 2>&1") != 0)
        return 0;
    for (int port = 23500; port < 23600; port += 2) {
        pid_t pid = bench_swtpm_spawn(dir, port);
        snprintf(tcti, tcti_size, "swtpm:host=127.0.0.1,port=%d", port);
        for (int tries = 0; tries < 100; tries++) {
            usleep(20000);
            if (km_open(tcti, k) == SRTM_OK)
                return pid;
            if (waitpid(pid, NULL, WNOHANG) == pid)
                break; /* port taken: try the next pair */
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    fprintf(stderr, "bench: swtpm did not start\n");
    exit(1);
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_extend SRTMD_PATH [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    if (rounds < 1 || rounds > 100)
        rounds = 7;
    char dir[] = "/tmp/srtm-bench-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char srtm_url[128], echo_url[128], cap_path[128];
    snprintf(srtm_url, sizeof(srtm_url), "ipc://%s/srtmd.sock", dir);
    snprintf(echo_url, sizeof(echo_url), "ipc://%s/echo.sock", dir);
    snprintf(cap_path, sizeof(cap_path), "%s/admin.cap", dir);

    char *srtmd_argv[] = {argv[1], "--foreground", "--listen", srtm_url, "--admin-cap", cap_path,
                          "--log-level", "error", "--no-tpm",
                          /* millions of entries in one component: past the default quotas */
                          "--log-entries-per-component", "1000000000000",
                          "--log-bytes-per-component", "1000000000000",
                          "--log-entries-per-ccr", "1000000000000",
                          "--log-bytes-per-ccr", "1000000000000", "--memory-budget",
                          "1000000000000", NULL};
    pid_t srtmd = spawn(srtmd_argv);
    pid_t echo = fork();
    if (echo == 0)
        bench_echo_serve(echo_url, REPLY_LEN);
    srtm_cap admin;
    int tries = 0;
    while (srtm_cap_load(cap_path, &admin) != SRTM_OK && tries++ < 500)
        usleep(10000);
    usleep(50000); /* let the echo server listen */

    srtm_conn *c = open_conn(srtm_url);
    srtm_cap caps[3];
    const char *names[3] = {"bench-single", "bench-batch-a", "bench-batch-b"};
    for (int i = 0; i < 3; i++) {
        uint64_t h;
        srtm_err err = srtm_register(c, &admin, names[i], 4, &h, &caps[i]);
        if (err != SRTM_OK) {
            fprintf(stderr, "bench: register: %s\n", srtm_strerror(err));
            return 1;
        }
    }
    size_t req_len = extend_request_size(names[0]);

    char tpm_dir[160], tcti[96];
    snprintf(tpm_dir, sizeof(tpm_dir), "%s/tpm", dir);
    km_ctx *k = NULL;
    pid_t tpm = mkdir(tpm_dir, 0700) == 0 ? start_swtpm(tpm_dir, tcti, sizeof(tcti), &k) : 0;

    double bare[100], single[100], rate1[100], rate2[100], pcr[100];
    batch_job jobs[2] = {{srtm_url, caps[1], names[1], BATCHES_PER_ROUND, 0},
                         {srtm_url, caps[2], names[2], BATCHES_PER_ROUND, 0}};
    bare_rtt_us(echo_url, req_len); /* warm-up */
    srtm_rtt_us(c, &caps[0], names[0]);
    for (int r = 0; r < rounds; r++) {
        bare[r] = bare_rtt_us(echo_url, req_len);
        single[r] = srtm_rtt_us(c, &caps[0], names[0]);
        rate1[r] = batched_rate(srtm_url, jobs, 1);
        rate2[r] = batched_rate(srtm_url, jobs, 2);
        if (k != NULL)
            pcr[r] = pcr_extend_rate(k);
    }
    double mb = bench_median(bare, rounds), ms = bench_median(single, rounds);
    double r1 = bench_median(rate1, rounds), r2 = bench_median(rate2, rounds);
    printf("bench_extend: %d rounds, medians\n", rounds);
    printf("  bare nng req/rep round trip (%zu B request, %d B answer): %8.1f us\n", req_len,
           REPLY_LEN, mb);
    printf("  srtm single extend round trip:                       %8.1f us  (%.2fx bare)\n", ms,
           ms / mb);
    printf("  srtm batched extend, %d per batch, 1 connection:   %10.0f measurements/s\n", BATCH,
           r1);
    printf("  srtm batched extend, %d per batch, 2 connections:  %10.0f measurements/s\n", BATCH,
           r2);
    if (k != NULL) {
        double mp = bench_median(pcr, rounds);
        printf("  Esys_PCR_Extend on swtpm, 1 digest per call:         %10.0f extends/s\n", mp);
        printf("  batched srtm extends / TPM PCR extends:   %6.0fx (1 connection), %.0fx (2)\n",
               r1 / mp, r2 / mp);
        km_close(k);
        kill(tpm, SIGTERM);
        waitpid(tpm, NULL, 0);
    } else {
        printf("  (swtpm not found: no TPM PCR extend reference)\n");
    }
    srtm_close(c);
    srtm_cap_wipe(&admin);
    kill(echo, SIGKILL);
    kill(srtmd, SIGTERM);
    waitpid(echo, NULL, 0);
    waitpid(srtmd, NULL, 0);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return 0;
}
