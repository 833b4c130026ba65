/*
 * What the fleet verifier's tests share: time, running a program with its output in a
 * log, reading a file, the files srtm-sim writes for its hosts (tests/sim/README.md), and
 * a GET from the verifier's HTTP API.
 * Every function fails the test (criterion) when it cannot do its work.
 */
#ifndef SRTM_TESTS_FLEET_HELPERS_H
#define SRTM_TESTS_FLEET_HELPERS_H

#include <stdint.h>
#include <sys/types.h>

#include "store.h"

/* The monotonic clock in seconds; a sleep of ms milliseconds. */
double fleet_now_s(void);
void fleet_sleep_ms(long ms);

/* Fork and exec argv (argv[0] a path) with stdout and stderr appended to log. */
pid_t fleet_spawn(const char *const *argv, const char *log);

/* The file (at most 1 MiB) as a string the caller frees, trailing newlines cut. */
char *fleet_slurp(const char *path);

/* File name of sim host i, serving from base (base/host-I/name), as fleet_slurp reads it. */
char *fleet_host_file(const char *base, unsigned i, const char *name);

/* Host 0's policy of the sim serving from base, with its reference PCRs inline: one
 * policy for every host under --shared-boot. The caller frees it. */
char *fleet_shared_policy(const char *base);

/* Add sim host i serving from base to s as name, with the stored policy `policy` and an
 * interval of interval_s seconds: its address and AIK from the sim's files. */
void fleet_add_sim_host(vstore *s, const char *base, unsigned i, const char *name,
                        const char *policy, int64_t interval_s);

/* GET path (at most about 1000 bytes) from an HTTP server on 127.0.0.1:port, over a fresh
 * connection: the status code, and the body (at most 1 MiB of the answer) into *body, a
 * string the caller frees. -1 and *body NULL when nothing answered. */
int fleet_http_get(int port, const char *path, char **body);

#endif
