/*
 * Test helper: a private PostgreSQL cluster for one test or one test binary, made with
 * initdb and pg_ctl (PostgreSQL 15's server binaries) in a fresh temporary directory,
 * listening only on a unix socket in that directory (no TCP port), trust authentication
 * for a superuser named "srtm". initdb refuses to run as root: as root the cluster's
 * commands run as the "postgres" system user (runuser), which then owns the directory.
 */
#ifndef SRTM_TEST_PG_HELPER_H
#define SRTM_TEST_PG_HELPER_H

typedef struct test_pg {
    char dir[256];  /* temporary directory: data/, the socket, server.log */
    char url[512];  /* postgresql://srtm@/postgres?host=DIR&port=5432 */
    int running;
} test_pg;

/* initdb and start; fails the test (criterion assert) on any error, with the log. */
void test_pg_start(test_pg *pg);
/* pg_ctl restart (fast shutdown: open connections are closed); fails the test on error. */
void test_pg_restart(test_pg *pg);
/* Stop the server (if running) and remove the directory; NULL-safe, for .fini too. */
void test_pg_stop(test_pg *pg);
/* Create database name (letters, digits, _) in pg and write its URL into url (size bytes). */
void test_pg_createdb(const test_pg *pg, const char *name, char *url, size_t size);

#endif
