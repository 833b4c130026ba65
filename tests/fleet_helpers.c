/* See fleet_helpers.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <json-c/json.h>

#include "fleet_helpers.h"

double fleet_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fleet_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

pid_t fleet_spawn(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

char *fleet_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    char *buf = calloc(1, 1u << 20);
    cr_assert(buf != NULL);
    size_t n = fread(buf, 1, (1u << 20) - 1, f);
    fclose(f);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    return buf;
}

char *fleet_host_file(const char *base, unsigned i, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/host-%u/%s", base, i, name);
    return fleet_slurp(path);
}

char *fleet_shared_policy(const char *base)
{
    char *pol = fleet_host_file(base, 0, "policy.json");
    char *ref = fleet_host_file(base, 0, "reference.json");
    json_object *p = json_tokener_parse(pol), *r = json_tokener_parse(ref), *proof, *running;
    cr_assert(p != NULL && r != NULL);
    cr_assert(json_object_object_get_ex(r, "proof", &proof));
    cr_assert(json_object_object_get_ex(r, "running", &running));
    json_object *pcrs = json_object_new_object();
    json_object_object_add(pcrs, "proof", json_object_get(proof));
    json_object_object_add(pcrs, "running", json_object_get(running));
    json_object_object_add(p, "pcrs", pcrs);
    char *out = strdup(json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
    json_object_put(p);
    json_object_put(r);
    free(pol);
    free(ref);
    return out;
}

int fleet_http_get(int port, const char *path, char **body)
{
    *body = NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    cr_assert(n > 0 && (size_t)n < sizeof(req), "path too long: %s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    const size_t cap = 1u << 20;
    char *all = malloc(cap);
    cr_assert(all != NULL);
    size_t got = 0;
    ssize_t r;
    while (got < cap - 1 && (r = read(fd, all + got, cap - 1 - got)) > 0)
        got += (size_t)r;
    close(fd);
    all[got] = '\0';
    int status = -1;
    const char *b = strstr(all, "\r\n\r\n");
    if (sscanf(all, "HTTP/1.%*d %d", &status) == 1 && b != NULL)
        *body = strdup(b + 4);
    free(all);
    return *body != NULL ? status : -1;
}

void fleet_add_sim_host(vstore *s, const char *base, unsigned i, const char *name,
                        const char *policy, int64_t interval_s)
{
    vs_host *h = calloc(1, sizeof(*h));
    cr_assert(h != NULL);
    char *addr = fleet_host_file(base, i, "url"), *aik = fleet_host_file(base, i, "aik.pem");
    snprintf(h->name, sizeof(h->name), "%s", name);
    snprintf(h->address, sizeof(h->address), "%s", addr);
    snprintf(h->aik_pem, sizeof(h->aik_pem), "%s\n", aik);
    snprintf(h->policy, sizeof(h->policy), "%s", policy);
    h->interval_s = interval_s;
    cr_assert_eq(store_host_add(s, h, time(NULL), NULL), SRTM_OK, "%s", store_errmsg(s));
    free(addr);
    free(aik);
    free(h);
}
