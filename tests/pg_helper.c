/*
 * A private PostgreSQL cluster for tests (pg_helper.h). The server binaries are found in
 * $SRTM_PG_BINDIR, else /usr/lib/postgresql/15/bin (Debian 12's postgresql-15).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "pg_helper.h"

#define PG_PORT "5432"

static const char *bindir(void)
{
    const char *d = getenv("SRTM_PG_BINDIR");
    return d && *d ? d : "/usr/lib/postgresql/15/bin";
}

/* Run argv with stdin from /dev/null and stdout and stderr into the file out_path (no other
 * descriptor inherited: the server pg_ctl leaves running must not hold a pipe of ours).
 * Returns the exit status, -1 if it did not exit normally; the output into err. */
static int run_to_file(const char *const *argv, const char *out_path, char *err, size_t errlen)
{
    err[0] = '\0';
    int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    FILE *f = fopen(out_path, "r");
    if (f) {
        size_t n = fread(err, 1, errlen - 1, f);
        err[n] = '\0';
        fclose(f);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Run a PostgreSQL tool with args (NULL-terminated), as the postgres user when root.
 * Returns the exit status; its output into err. */
static int pg_tool(const test_pg *pg, const char *tool, const char *const *args, char *err,
                   size_t errlen)
{
    const char *argv[24];
    char path[512], out[320];
    size_t n = 0;
    snprintf(path, sizeof path, "%s/%s", bindir(), tool);
    snprintf(out, sizeof out, "%s.out", pg->dir); /* beside the directory, owned by us */
    if (geteuid() == 0) {
        argv[n++] = "/usr/sbin/runuser";
        argv[n++] = "-u";
        argv[n++] = "postgres";
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (size_t i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return run_to_file(argv, out, err, errlen);
}

static void show_log(const test_pg *pg)
{
    char path[320], line[512];
    snprintf(path, sizeof path, "%s/server.log", pg->dir);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        fprintf(stderr, "pg: %s", line);
    if (f)
        fclose(f);
}

static void pg_ctl(test_pg *pg, const char *action)
{
    char data[320], log[320], opts[400], err[4096];
    snprintf(data, sizeof data, "%s/data", pg->dir);
    snprintf(log, sizeof log, "%s/server.log", pg->dir);
    snprintf(opts, sizeof opts, "-k %s -p " PG_PORT " -c listen_addresses=", pg->dir);
    const char *args[] = {action, "-w", "-t", "120", "-m", "fast", "-D", data, "-l", log,
                          "-o", opts, NULL};
    int rc = pg_tool(pg, "pg_ctl", args, err, sizeof err);
    if (rc != 0)
        show_log(pg);
    cr_assert_eq(rc, 0, "pg_ctl %s: %s", action, err);
}

void test_pg_start(test_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    snprintf(pg->dir, sizeof pg->dir, "/tmp/srtm-pg-XXXXXX");
    cr_assert_not_null(mkdtemp(pg->dir), "mkdtemp");
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        cr_assert_not_null(pw, "running as root needs a postgres system user");
        cr_assert_eq(chown(pg->dir, pw->pw_uid, pw->pw_gid), 0, "chown %s", pg->dir);
    }
    char data[320], err[4096];
    snprintf(data, sizeof data, "%s/data", pg->dir);
    const char *args[] = {"-D", data, "-U", "srtm", "-A", "trust", "--locale=C", "-E", "UTF8",
                          "--no-sync", NULL};
    int rc = pg_tool(pg, "initdb", args, err, sizeof err);
    cr_assert_eq(rc, 0, "initdb: %s", err);
    pg_ctl(pg, "start");
    pg->running = 1;
    snprintf(pg->url, sizeof pg->url, "postgresql://srtm@/postgres?host=%s&port=" PG_PORT,
             pg->dir);
}

void test_pg_restart(test_pg *pg)
{
    pg_ctl(pg, "restart");
}

void test_pg_stop(test_pg *pg)
{
    if (!pg || !pg->dir[0])
        return;
    if (pg->running) {
        char data[320], err[1024];
        snprintf(data, sizeof data, "%s/data", pg->dir);
        const char *args[] = {"stop", "-w", "-m", "fast", "-D", data, NULL};
        (void)pg_tool(pg, "pg_ctl", args, err, sizeof err);
        pg->running = 0;
    }
    const char *rm[] = {"/bin/rm", "-rf", pg->dir, NULL};
    char out[256], path[320];
    (void)test_run(rm, out, sizeof out, NULL, 0);
    snprintf(path, sizeof path, "%s.out", pg->dir);
    unlink(path);
    pg->dir[0] = '\0';
}

void test_pg_createdb(const test_pg *pg, const char *name, char *url, size_t size)
{
    cr_assert(strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name));
    PGconn *c = PQconnectdb(pg->url);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    char sql[200];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    PGresult *res = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    int n = snprintf(url, size, "postgresql://srtm@/%s?host=%s&port=" PG_PORT, name, pg->dir);
    cr_assert(n > 0 && (size_t)n < size);
}
