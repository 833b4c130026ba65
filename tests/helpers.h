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

/* SIGTERM, wait, and return the exit status (as from waitpid's WEXITSTATUS, or -1 if it
 * did not exit normally). Removes the temporary directory. */
int test_daemon_stop(test_daemon *d);

/* true while the daemon process is alive. */
bool test_daemon_alive(const test_daemon *d);

/* Path of a built binary from the environment (SRTMD, SRTMCTL); fails the test if unset. */
const char *test_binary(const char *env_name);

/* Run argv (argv[0] a path) with stdout captured into out (NUL-terminated, truncated to
 * out_size-1) and stderr into err (may be NULL); return the exit status or -1. */
int test_run(const char *const *argv, char *out, size_t out_size, char *err, size_t err_size);

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

#endif
