/*
 * Test helpers: start a real srtmd (the binary built in this tree, $SRTMD) on a private
 * ipc:// socket in a fresh temporary directory, and stop it; start, reboot and kill a real
 * swtpm on free local TCP ports.
 */
#ifndef SRTM_TEST_HELPERS_H
#define SRTM_TEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <srtm/srtm.h>

typedef struct test_daemon {
    pid_t pid;
    char dir[256];       /* temporary directory holding the socket and files */
    char url[320];       /* ipc://DIR/srtmd.sock */
    char sock_path[300]; /* DIR/srtmd.sock */
    char cap_path[300];  /* DIR/admin.cap */
    srtm_cap admin;      /* loaded from cap_path once the daemon serves */
} test_daemon;

/* Start srtmd with extra arguments (NULL-terminated list, may be NULL); with --no-tpm
 * unless the extra arguments hold --tcti. Fails the test (criterion assert) when it does
 * not come up within 5 s. */
void test_daemon_start(test_daemon *d, const char *const *extra_args);

/* Choose a new temporary directory for d and its socket and admin capability paths,
 * without starting srtmd: for a configuration that names them (test_daemon_conf_lines)
 * before it is measured. */
void test_daemon_prepare(test_daemon *d);

/* "listen URL\nadmin-cap PATH\n" for d (prepared) into out: the lines a measured
 * configuration needs, since srtmd with a TPM takes neither on the command line. */
void test_daemon_conf_lines(const test_daemon *d, char *out, size_t size);

/* Start srtmd as the unit does, in one step: srtm-launch --tcti TCTI --config CONF --
 * SRTMD --config CONF --tcti TCTI --foreground and extra arguments (only those srtmd takes
 * beside a measured configuration). d must be prepared and CONF must hold its
 * test_daemon_conf_lines; the directory is created again if a stop removed it.
 * srtm-launch extends the SRTM PCR and executes srtmd, so d->pid is srtmd. Fails the test
 * as test_daemon_start does. */
void test_daemon_launch(test_daemon *d, const char *tcti, const char *conf,
                        const char *const *extra_args);

/* The same without srtm-launch: srtmd --config CONF --tcti TCTI --foreground and extra
 * arguments, executed directly, the SRTM PCR left as the test put it (e.g. extended by the
 * test itself, or a restart that no launcher preceded). */
void test_daemon_exec(test_daemon *d, const char *tcti, const char *conf,
                      const char *const *extra_args);

/* SIGTERM, wait, and return the exit status (as from waitpid's WEXITSTATUS, or -1 if it
 * did not exit normally). Removes the temporary directory. */
int test_daemon_stop(test_daemon *d);

/* For a suite's .fini: test_daemon_stop, and if srtmd did not exit with status 0 (a crash,
 * a sanitizer report at exit, a hang), say so and abort the test process. criterion
 * ignores assertions in .fini; an abort there fails the test binary. */
void test_daemon_stop_checked(test_daemon *d);

/* true while the daemon process is alive. */
bool test_daemon_alive(const test_daemon *d);

/* Path of a built binary from the environment (SRTMD, SRTMCTL); fails the test if unset. */
const char *test_binary(const char *env_name);

/* Run argv (argv[0] a path) with stdout captured into out (NUL-terminated, truncated to
 * out_size-1) and stderr into err (may be NULL); return the exit status or -1. */
int test_run(const char *const *argv, char *out, size_t out_size, char *err, size_t err_size);

/* Run the built tool named by the environment variable env (SRTM_KEYMGR, SRTM_LAUNCH,
 * SRTMCTL) with args (NULL-terminated, at most 30), stdout discarded and stderr into err;
 * return its exit status as test_run does. */
int test_tool(const char *env, const char *const *args, char *err, size_t err_size);

/* SHA-256 of a followed by b (blen may be 0), with OpenSSL's EVP directly: the tests'
 * independent reference, not the code under test. */
void test_sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32]);

/* true when something (of any kind, a dangling symlink included) is at path. */
bool test_path_exists(const char *path);

/* How many entries of dir have a name containing part (e.g. ".tmp"); 0 when none or
 * when dir cannot be read. */
int test_count_names(const char *dir, const char *part);

/* A local TCP port free right now, below the ephemeral range (for a tcp:// listener). */
int test_free_port(void);

/* A swtpm child process (foreground, reaped by the helpers) with its own state dir. */
typedef struct test_swtpm {
    pid_t pid;
    int port;       /* TPM command port; the control port is port + 1 */
    char dir[256];  /* --tpmstate dir: persistent objects survive a reboot */
    char tcti[96];  /* "swtpm:host=127.0.0.1,port=PORT" for km_open / TPM2TOOLS_TCTI */
} test_swtpm;

/* Start swtpm ($SWTPM, else swtpm on PATH) on two free ports with a fresh state dir;
 * returns when it accepts connections. Fails the test if it does not within 5 s. */
void test_swtpm_start(test_swtpm *t);

/* Power-cycle: stop swtpm and start it again on the same state dir (PCRs reset, resetCount
 * grows, persistent handles stay), on the same port when it is free; otherwise the port
 * (and t->tcti) change. */
void test_swtpm_reboot(test_swtpm *t);

/* SIGKILL swtpm and reap it, keeping the state dir: the TPM is gone. */
void test_swtpm_kill(test_swtpm *t);

/* Kill swtpm if running and remove its state dir. Safe to call twice. */
void test_swtpm_stop(test_swtpm *t);

/*
 * A whole platform as the README's recipe builds it, with the real tools: swtpm; the AIK
 * enrolled (srtm-keymgr enroll); the reference predicted (predict); the IRK wrapped
 * (wrap-irk); srtmd started by srtm-launch in one step (test_daemon_launch), serving
 * after its proof period. Binaries from $SRTM_KEYMGR, $SRTM_LAUNCH and $SRTMD. The
 * configuration file names no TCTI (the tools get --tcti), so that a reboot onto another
 * swtpm port keeps the measured configuration, and with it the proof PCRs, unchanged.
 */
typedef struct test_platform {
    test_swtpm tpm;
    test_daemon d;          /* srtmd, run in the foreground as a child */
    char dir[256];          /* the files below */
    char conf[300];         /* srtmd.conf */
    char aik_pem[300];      /* the AIK public key (PEM) */
    char ref[300];          /* srtm-keymgr's reference.json */
    char blob[300];         /* the sealed IRK */
    char proof_pcrs[32];    /* e.g. "0-7" */
} test_platform;

/* Start it all with proof PCRs "0-7"; fails the test when any step fails. */
void test_platform_start(test_platform *p);

/* The same with another proof PCR list (e.g. "0-5"). */
void test_platform_start_pcrs(test_platform *p, const char *proof_pcrs);

/* The same with proof PCRs "0-7" and more lines (each ending in a newline) in srtmd's
 * configuration, which is measured with them (e.g. a listen-tcp). */
void test_platform_start_conf(test_platform *p, const char *more_lines);

/* Reboot: stop srtmd, power-cycle swtpm (same state: the AIK stays), launch srtmd again. srtmd starts empty (no components). */
void test_platform_reboot(test_platform *p);

/* Run a tool with TPM2TOOLS_TCTI (and TSS2_LOG=all+NONE) set to this platform's TPM;
 * argv[0] is looked up in PATH. Output as in test_run. */
int test_platform_tool(const test_platform *p, const char *const *argv, char *out,
                       size_t out_size, char *err, size_t err_size);

/* Stop srtmd and swtpm and remove every file. Safe to call twice. */
void test_platform_stop(test_platform *p);

/* The value of a "Name:\t..." line of /proc/PID/status into out, or "" if absent;
 * fails the test when the file cannot be read. */
void test_proc_status(pid_t pid, const char *name, char *out, size_t size);

#endif
