/* Small helpers shared by the benchmark programs: a monotonic clock, medians, and running
 * a shell command that must succeed. */
#ifndef SRTM_BENCH_UTIL_H
#define SRTM_BENCH_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of n values (sorts them in place). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Run a shell command; exit the benchmark if it fails. */
static inline void bench_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void bench_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "benchmark: failed: %s\n", cmd);
        exit(1);
    }
}

/* Fork a swtpm (TPM 2.0, TCP on port and port + 1 on 127.0.0.1, state in dir) and return
 * its pid without waiting for it to listen. */
static inline pid_t bench_swtpm_spawn(const char *dir, int port)
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
    return pid;
}

/*
 * Enrol a platform on the TPM at tcti as an administrator would, with the shipped tools
 * of build dir b, writing into dir: srtmd.conf (SRTM PCR 15, proof PCRs 0-7, the given
 * log level, the socket dir/s.sock and the admin capability dir/a.cap, then more_lines),
 * aik.pem (srtm-keymgr enroll), reference.json (predict) and irk.sealed (wrap-irk). The
 * launch and srtmd's start are left to the caller, which may time them.
 */
static inline void bench_provision_conf(const char *b, const char *tcti, const char *dir,
                                        const char *log_level, const char *more_lines)
{
    bench_sh("printf 'srtm-pcr 15\\nproof-pcrs 0-7\\nirk-blob %s/irk.sealed\\nlog-level %s\\n"
             "listen ipc://%s/s.sock\\nadmin-cap %s/a.cap\\n%s' > %s/srtmd.conf",
             dir, log_level, dir, dir, more_lines, dir);
    bench_sh("%s/keymgmt/srtm-keymgr --tcti %s enroll --aik-pem %s/aik.pem >/dev/null", b, tcti,
             dir);
    bench_sh("%s/keymgmt/srtm-keymgr --tcti %s predict --srtmd %s/srtm/srtmd --config "
             "%s/srtmd.conf -o %s/reference.json >/dev/null",
             b, tcti, b, dir, dir);
    bench_sh("%s/keymgmt/srtm-keymgr --tcti %s wrap-irk --reference %s/reference.json -o "
             "%s/irk.sealed >/dev/null",
             b, tcti, dir, dir);
}

static inline void bench_provision(const char *b, const char *tcti, const char *dir,
                                   const char *log_level)
{
    bench_provision_conf(b, tcti, dir, log_level, "");
}

/* Start srtmd (extra: its further arguments) as the unit does: srtm-launch measures srtmd
 * and its configuration, extends the SRTM PCR and executes srtmd, in one step. */
static inline void bench_launch_srtmd(const char *b, const char *tcti, const char *dir,
                                      const char *extra)
{
    /* BENCH_SRTMD_NICE=N starts srtmd at nice N, as a unit's Nice=N would. */
    const char *nice = getenv("BENCH_SRTMD_NICE");
    char prefix[32] = "";
    if (nice != NULL && *nice != '\0')
        snprintf(prefix, sizeof(prefix), "nice -n %d ", atoi(nice));
    bench_sh("%s%s/srtm/srtm-launch --tcti %s --config %s/srtmd.conf -- \"$(realpath %s)/srtm/srtmd\" "
             "--config %s/srtmd.conf --tcti %s %s",
             prefix, b, tcti, dir, b, dir, tcti, extra);
}

#endif
