/*
 * srtm-fleet: a small command line client of the fleet verifier's HTTP API (docs/fleet.md,
 * "HTTP API" and "srtm-fleet"). Each command is one request; the answer's JSON body goes to
 * stdout as the server sent it. Exit status: 0 a 2xx answer, 1 an error answer (its message
 * on stderr), 2 a usage error, 3 the server could not be reached or a file not read.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "common.h"
#include "store.h"

#define FLEET_TIMEOUT_MS 30000
#define FLEET_FILE_MAX VS_POLICY_MAX

enum { EXIT_ANSWER = 1, EXIT_USAGE = 2, EXIT_REACH = 3 };

static const char usage[] =
    "usage: srtm-fleet [-u URL] COMMAND [ARGS]\n"
    "  URL: the API (default $SRTM_FLEET_URL, else http://127.0.0.1:8080)\n"
    "commands:\n"
    "  hosts [AFTER [LIMIT]]            list hosts by name\n"
    "  host NAME                        one host with its verdict and reasons\n"
    "  add NAME ADDRESS AIK.pem POLICY INTERVAL_S\n"
    "  remove NAME\n"
    "  history NAME [SKIP [LIMIT]]      verdict changes, newest first\n"
    "  ear NAME                         the current verdict as EAR claims\n"
    "  policies [AFTER [LIMIT]]\n"
    "  policy NAME\n"
    "  put-policy NAME FILE             store (or replace) a policy\n"
    "  stale                            hosts not attempted for two intervals\n"
    "  metrics                          the Prometheus text\n";

/* Append src to dst (cap bytes) percent-encoded as encodeURIComponent does. */
static bool encode(char *dst, size_t cap, const char *src)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = strlen(dst);
    for (const unsigned char *p = (const unsigned char *)src; *p != '\0'; p++) {
        bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || strchr("-_.!~*'()", *p) != NULL;
        if (o + (plain ? 1 : 3) >= cap)
            return false;
        if (plain) {
            dst[o++] = (char)*p;
        } else {
            dst[o++] = '%';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        }
    }
    dst[o] = '\0';
    return true;
}

/* "/api/COLL[/NAME[/SUB]]" with NAME encoded. */
static bool path_of(char *out, size_t cap, const char *coll, const char *name, const char *sub)
{
    int n = snprintf(out, cap, "/api/%s%s", coll, name != NULL ? "/" : "");
    if (n < 0 || (size_t)n >= cap || (name != NULL && !encode(out, cap, name)))
        return false;
    size_t len = strlen(out);
    if (sub == NULL)
        return true;
    n = snprintf(out + len, cap - len, "/%s", sub);
    return n > 0 && (size_t)n < cap - len;
}

/* "?a=A&b=B" for the parameters given (NULL ones left out), appended to out. */
static bool query_of(char *out, size_t cap, const char *k1, const char *v1, const char *k2,
                     const char *v2)
{
    const char *keys[2] = {k1, k2}, *vals[2] = {v1, v2};
    for (int i = 0; i < 2; i++) {
        if (vals[i] == NULL)
            continue;
        size_t len = strlen(out);
        int n = snprintf(out + len, cap - len, "%s%s=", strchr(out, '?') ? "&" : "?", keys[i]);
        if (n < 0 || (size_t)n >= cap - len || !encode(out, cap, vals[i]))
            return false;
    }
    return true;
}

/* One request; the answer's body to stdout (2xx) or its error to stderr. */
static int transact(const char *base, const char *method, const char *path, const char *body,
                    size_t body_len)
{
    char full[4096];
    nng_url *url = NULL;
    nng_http_client *cli = NULL;
    nng_http_req *req = NULL;
    nng_http_res *res = NULL;
    nng_aio *aio = NULL;
    int rv = snprintf(full, sizeof(full), "%s%s", base, path) < (int)sizeof(full) ? 0 : NNG_EINVAL;
    if (rv == 0)
        rv = nng_url_parse(&url, full);
    if (rv == 0 && (rv = nng_http_client_alloc(&cli, url)) == 0 &&
        (rv = nng_http_req_alloc(&req, url)) == 0 && (rv = nng_http_res_alloc(&res)) == 0 &&
        (rv = nng_aio_alloc(&aio, NULL, NULL)) == 0 &&
        (rv = nng_http_req_set_method(req, method)) == 0 && body != NULL) {
        rv = nng_http_req_set_header(req, "Content-Type", "application/json");
        if (rv == 0)
            rv = nng_http_req_copy_data(req, body, body_len);
    }
    if (rv == 0) {
        nng_aio_set_timeout(aio, FLEET_TIMEOUT_MS);
        nng_http_client_transact(cli, req, res, aio);
        nng_aio_wait(aio);
        rv = nng_aio_result(aio);
    }
    int status = rv == 0 ? nng_http_res_get_status(res) : 0;
    if (rv != 0)
        fprintf(stderr, "srtm-fleet: %s: %s\n", full, nng_strerror(rv));
    void *data = NULL;
    size_t len = 0;
    if (rv == 0)
        nng_http_res_get_data(res, &data, &len);
    int code = rv != 0 ? EXIT_REACH : status >= 200 && status < 300 ? 0 : EXIT_ANSWER;
    if (code == 0 && len > 0) {
        fwrite(data, 1, len, stdout);
        if (((const char *)data)[len - 1] != '\n')
            putchar('\n');
    } else if (code == EXIT_ANSWER) {
        json_tokener *tok = json_tokener_new();
        json_object *o = tok != NULL ? json_tokener_parse_ex(tok, data, (int)len) : NULL;
        json_object *e = NULL;
        bool has = o != NULL && json_object_object_get_ex(o, "error", &e) &&
                   json_object_is_type(e, json_type_string);
        fprintf(stderr, "srtm-fleet: %d: %s\n", status,
                has ? json_object_get_string(e) : "(no error message)");
        json_object_put(o);
        json_tokener_free(tok);
    }
    nng_aio_free(aio);
    nng_http_res_free(res);
    nng_http_req_free(req);
    nng_http_client_free(cli);
    nng_url_free(url);
    return code;
}

static int read_file(const char *path, char **text, size_t *len)
{
    if (read_small_file(path, FLEET_FILE_MAX, text, len) == SRTM_OK)
        return 0;
    fprintf(stderr, "srtm-fleet: cannot read %s\n", path);
    return EXIT_REACH;
}

static int cmd_add(const char *base, char **a)
{
    char *pem = NULL, *end = NULL;
    size_t pem_len = 0;
    long long interval = strtoll(a[4], &end, 10);
    if (end == a[4] || *end != '\0') {
        fprintf(stderr, "srtm-fleet: INTERVAL_S must be a number\n");
        return EXIT_USAGE;
    }
    int code = read_file(a[2], &pem, &pem_len);
    json_object *o = code == 0 ? json_object_new_object() : NULL;
    if (code == 0 && o == NULL)
        code = EXIT_REACH;
    if (code == 0) {
        json_object_object_add(o, "name", json_object_new_string(a[0]));
        json_object_object_add(o, "address", json_object_new_string(a[1]));
        json_object_object_add(o, "aik_pem", json_object_new_string_len(pem, (int)pem_len));
        json_object_object_add(o, "policy", json_object_new_string(a[3]));
        json_object_object_add(o, "interval_s", json_object_new_int64(interval));
        const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        code = body != NULL ? transact(base, "POST", "/api/hosts", body, strlen(body)) : EXIT_REACH;
    }
    json_object_put(o);
    free(pem);
    return code;
}

static int cmd_put_policy(const char *base, const char *path, const char *file)
{
    char *text = NULL;
    size_t len = 0;
    int code = read_file(file, &text, &len);
    if (code == 0)
        code = transact(base, "PUT", path, text, len);
    free(text);
    return code;
}

typedef struct command {
    const char *name;
    int min, max; /* arguments */
    const char *method, *coll, *sub;
    bool named;
    const char *k1, *k2; /* query keys of the optional arguments after the name */
} command;

static const command commands[] = {
    {"hosts", 0, 2, "GET", "hosts", NULL, false, "after", "limit"},
    {"host", 1, 1, "GET", "hosts", NULL, true, NULL, NULL},
    {"remove", 1, 1, "DELETE", "hosts", NULL, true, NULL, NULL},
    {"history", 1, 3, "GET", "hosts", "history", true, "skip", "limit"},
    {"ear", 1, 1, "GET", "hosts", "ear", true, NULL, NULL},
    {"policies", 0, 2, "GET", "policies", NULL, false, "after", "limit"},
    {"policy", 1, 1, "GET", "policies", NULL, true, NULL, NULL},
    {"put-policy", 2, 2, "PUT", "policies", NULL, true, NULL, NULL},
    {"stale", 0, 0, "GET", "stale", NULL, false, NULL, NULL},
    {"add", 5, 5, "POST", "hosts", NULL, false, NULL, NULL},
    {"metrics", 0, 0, "GET", NULL, NULL, false, NULL, NULL},
};

static int run(const char *base, const command *c, char **a, int n)
{
    char path[2048] = "/metrics";
    if (strcmp(c->name, "add") == 0)
        return cmd_add(base, a);
    int first = c->named ? 1 : 0;
    if (c->coll != NULL &&
        (!path_of(path, sizeof(path), c->coll, c->named ? a[0] : NULL, c->sub) ||
         (c->k1 != NULL && !query_of(path, sizeof(path), c->k1, n > first ? a[first] : NULL,
                                     c->k2, n > first + 1 ? a[first + 1] : NULL)))) {
        fprintf(stderr, "srtm-fleet: arguments too long\n");
        return EXIT_USAGE;
    }
    if (strcmp(c->name, "put-policy") == 0)
        return cmd_put_policy(base, path, a[1]);
    return transact(base, c->method, path, NULL, 0);
}

int main(int argc, char **argv)
{
    const char *base = getenv("SRTM_FLEET_URL");
    int opt;
    while ((opt = getopt(argc, argv, "+u:h")) != -1) {
        if (opt != 'u') {
            fputs(usage, opt == 'h' ? stdout : stderr);
            return opt == 'h' ? 0 : EXIT_USAGE;
        }
        base = optarg;
    }
    if (base == NULL || base[0] == '\0')
        base = "http://127.0.0.1:8080";
    if (optind >= argc) {
        fputs(usage, stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    int n = argc - optind - 1;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        const command *c = &commands[i];
        if (strcmp(c->name, name) != 0)
            continue;
        if (n < c->min || n > c->max) {
            fprintf(stderr, "srtm-fleet: %s takes %d to %d arguments\n%s", name, c->min, c->max,
                    usage);
            return EXIT_USAGE;
        }
        return run(base, c, argv + optind + 1, n);
    }
    fprintf(stderr, "srtm-fleet: unknown command '%s'\n%s", name, usage);
    return EXIT_USAGE;
}
