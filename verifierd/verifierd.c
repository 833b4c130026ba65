/*
 * srtm-verifierd: the fleet verifier daemon (docs/fleet.md, "The daemon"). It attests the
 * hosts of a store (SQLite or PostgreSQL) continuously with the attestation loop
 * (attest.h) until SIGTERM or SIGINT, then cancels what is in flight, releases its leases
 * and exits 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <openssl/crypto.h>

#include "attest.h"
#include "common.h"
#include "http.h"
#include "webhook.h"

static const char usage[] =
    "usage: srtm-verifierd --store URL [options]\n"
    "  --store URL         sqlite:PATH or postgresql://... (docs/fleet.md)\n"
    "  --node ID           this verifier's name in the leases (default: the host name)\n"
    "  --max-inflight N    attempts at once (default 64)\n"
    "  --timeout-ms MS     time allowed per attempt: connect, quote, answer (default 10000)\n"
    "  --lease-s S         lease length, renewed every S/3 seconds (default 60)\n"
    "  --workers N         verification threads (default: the number of cores)\n"
    "  --tls-cert FILE, --tls-key FILE, --tls-ca FILE\n"
    "                      mutual TLS for hosts at tls+tcp:// addresses: this verifier's\n"
    "                      certificate and key, and the CA of srtmd's certificates (PEM)\n"
    "  --http URL          serve the HTTP API, metrics and status page on http://HOST:PORT\n"
    "                      (docs/fleet.md; no authentication: bind it to loopback or a\n"
    "                      management network)\n"
    "  --webhook URL       POST every verdict change as JSON to URL (http:// or https://;\n"
    "                      docs/fleet.md, \"Webhook\")\n"
    "  --webhook-secret FILE  sign each POST: X-Srtm-Signature, HMAC-SHA256 under the\n"
    "                      16 to 1024 bytes of FILE (mode 0600)\n"
    "  --webhook-ca FILE   the CA bundle an https:// webhook must chain to (default: the\n"
    "                      system's)\n"
    "  --log-level LEVEL   error, warn, info (default) or debug; logs go to stderr\n"
    "  --version           show the version\n"
    "  --help              this text\n";

enum { O_STORE = 1, O_NODE, O_INFLIGHT, O_TIMEOUT, O_LEASE, O_WORKERS, O_LOG, O_VER,
       O_TLS_CERT, O_TLS_KEY, O_TLS_CA, O_HTTP, O_HOOK, O_HOOK_SECRET, O_HOOK_CA };

/* The options besides the loop's own. */
typedef struct extras {
    const char *http;
    webhook_config hook;
    const char *hook_secret;
} extras;

/* The TLS files given on the command line, read once at start. */
typedef struct tls_files {
    const char *cert, *key, *ca;
    char *cert_pem, *key_pem, *ca_pem;
    size_t key_len;
} tls_files;

static long number(const char *s, long min, long max, const char *what)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "srtm-verifierd: %s must be %ld to %ld\n", what, min, max);
        exit(2);
    }
    return v;
}

static void parse(int argc, char **argv, attest_config *c, char *node, size_t node_size,
                  tls_files *tls, extras *x)
{
    static const struct option longs[] = {
        {"store", required_argument, NULL, O_STORE}, {"node", required_argument, NULL, O_NODE},
        {"max-inflight", required_argument, NULL, O_INFLIGHT},
        {"timeout-ms", required_argument, NULL, O_TIMEOUT},
        {"lease-s", required_argument, NULL, O_LEASE},
        {"workers", required_argument, NULL, O_WORKERS},
        {"tls-cert", required_argument, NULL, O_TLS_CERT},
        {"tls-key", required_argument, NULL, O_TLS_KEY},
        {"tls-ca", required_argument, NULL, O_TLS_CA},
        {"http", required_argument, NULL, O_HTTP},
        {"webhook", required_argument, NULL, O_HOOK},
        {"webhook-secret", required_argument, NULL, O_HOOK_SECRET},
        {"webhook-ca", required_argument, NULL, O_HOOK_CA},
        {"log-level", required_argument, NULL, O_LOG}, {"version", no_argument, NULL, O_VER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *c = (attest_config){.max_inflight = 64, .timeout_ms = 10000, .lease_s = 60, .workers = 2};
    if (cores >= 1 && cores <= ATTEST_WORKERS_MAX)
        c->workers = (unsigned)cores;
    if (gethostname(node, node_size - 1) != 0 || node[0] == '\0')
        snprintf(node, node_size, "verifierd");
    node[node_size - 1] = '\0';
    c->node = node;
    srtm_log_level lvl;
    int o;
    while ((o = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (o) {
        case O_STORE: c->store_url = optarg; break;
        case O_NODE: c->node = optarg; break;
        case O_INFLIGHT:
            c->max_inflight = (unsigned)number(optarg, 1, ATTEST_INFLIGHT_MAX, "--max-inflight");
            break;
        case O_TIMEOUT:
            c->timeout_ms = (int)number(optarg, 1, ATTEST_TIMEOUT_MS_MAX, "--timeout-ms");
            break;
        case O_LEASE: c->lease_s = number(optarg, 3, VS_INTERVAL_MAX, "--lease-s"); break;
        case O_WORKERS:
            c->workers = (unsigned)number(optarg, 1, ATTEST_WORKERS_MAX, "--workers");
            break;
        case O_LOG:
            if (!srtm_log_parse_level(optarg, &lvl)) {
                fprintf(stderr, "srtm-verifierd: unknown log level '%s'\n", optarg);
                exit(2);
            }
            srtm_log_set_level(lvl);
            break;
        case O_TLS_CERT: tls->cert = optarg; break;
        case O_TLS_KEY: tls->key = optarg; break;
        case O_TLS_CA: tls->ca = optarg; break;
        case O_HTTP: x->http = optarg; break;
        case O_HOOK: x->hook.url = optarg; break;
        case O_HOOK_SECRET: x->hook_secret = optarg; break;
        case O_HOOK_CA: x->hook.ca_file = optarg; break;
        case O_VER: printf("srtm-verifierd %s\n", SRTM_VERSION_STRING); exit(0);
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); exit(2);
        }
    }
    if (c->store_url == NULL || optind != argc) {
        fputs(usage, stderr);
        exit(2);
    }
    if ((tls->cert != NULL || tls->key != NULL || tls->ca != NULL) &&
        (tls->cert == NULL || tls->key == NULL || tls->ca == NULL)) {
        fprintf(stderr, "srtm-verifierd: --tls-cert, --tls-key and --tls-ca go together\n");
        exit(2);
    }
    if (x->hook.url == NULL && (x->hook_secret != NULL || x->hook.ca_file != NULL)) {
        fprintf(stderr, "srtm-verifierd: --webhook-secret and --webhook-ca need --webhook\n");
        exit(2);
    }
}

static void free_tls(tls_files *tls)
{
    if (tls->key_pem != NULL)
        OPENSSL_cleanse(tls->key_pem, tls->key_len);
    free(tls->key_pem);
    free(tls->cert_pem);
    free(tls->ca_pem);
}

typedef struct metrics_ctx {
    attest_loop *loop;
    webhook *hook;
} metrics_ctx;

/* vhttp's metrics_text: the loop's counters, and the webhook's when there is one. */
static int loop_metrics(void *ctx, char *buf, size_t cap, size_t *len)
{
    const metrics_ctx *m = ctx;
    attest_metrics am;
    attest_metrics_get(m->loop, &am);
    int rc = attest_metrics_text(&am, buf, cap, len);
    if (rc == 0 && m->hook != NULL)
        rc = webhook_metrics_text(m->hook, buf, cap, len);
    return rc;
}

/* Start the webhook the options ask for (none: *out NULL); false with a message. */
static bool start_webhook(extras *x, webhook **out)
{
    *out = NULL;
    if (x->hook.url == NULL)
        return true;
    char err[512] = "";
    uint8_t *secret = NULL;
    size_t len = 0;
    srtm_err e = SRTM_OK;
    if (x->hook_secret != NULL &&
        (e = webhook_read_secret(x->hook_secret, &secret, &len, err, sizeof(err))) == SRTM_OK) {
        x->hook.secret = secret;
        x->hook.secret_len = len;
    }
    if (e == SRTM_OK)
        e = webhook_start(&x->hook, out, err, sizeof(err));
    if (secret != NULL)
        OPENSSL_cleanse(secret, len);
    free(secret);
    x->hook.secret = NULL;
    if (e != SRTM_OK)
        srtm_log(SRTM_LOG_ERROR, "webhook: %s", err);
    else
        srtm_log(SRTM_LOG_INFO, "verdict changes are posted to %s%s", x->hook.url,
                 x->hook_secret != NULL ? ", signed" : "");
    return e == SRTM_OK;
}

/* Read the TLS files into tls and c; false with a message. */
static bool read_tls(tls_files *tls, attest_config *c)
{
    if (tls->cert == NULL)
        return true;
    size_t len = 0;
    const char *bad = NULL;
    if (read_small_file(tls->cert, 1u << 20, &tls->cert_pem, &len) != SRTM_OK)
        bad = tls->cert;
    else if (read_small_file(tls->key, 1u << 20, &tls->key_pem, &tls->key_len) != SRTM_OK)
        bad = tls->key;
    else if (read_small_file(tls->ca, 1u << 20, &tls->ca_pem, &len) != SRTM_OK)
        bad = tls->ca;
    if (bad != NULL) {
        srtm_log(SRTM_LOG_ERROR, "cannot read %s", bad);
        free_tls(tls);
        return false;
    }
    c->tls_cert_pem = tls->cert_pem;
    c->tls_key_pem = tls->key_pem;
    c->tls_ca_pem = tls->ca_pem;
    return true;
}


int main(int argc, char **argv)
{
    attest_config cfg;
    char node[VS_NODE_MAX + 1];
    tls_files tls = {0};
    extras x = {0};
    parse(argc, argv, &cfg, node, sizeof(node), &tls, &x);
    const char *http = x.http;
    srtm_log_detect_journal();
    if (!read_tls(&tls, &cfg))
        return 1;
    webhook *hook = NULL;
    if (!start_webhook(&x, &hook)) {
        free_tls(&tls);
        return 1;
    }
    cfg.webhook = hook;
    signal(SIGPIPE, SIG_IGN);
    /* Blocked before any thread starts, so that only sigwait below sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    attest_loop *loop = NULL;
    char err[512] = "";
    if (attest_start(&cfg, &loop, err, sizeof(err)) != SRTM_OK) {
        srtm_log(SRTM_LOG_ERROR, "cannot start: %s", err);
        webhook_stop(hook);
        free_tls(&tls);
        return 1;
    }
    vhttp *api = NULL;
    metrics_ctx mctx = {loop, hook};
    vhttp_config hc = {.listen_url = http, .store_url = cfg.store_url, .node = cfg.node,
                       .metrics_text = loop_metrics, .metrics_ctx = &mctx};
    if (http != NULL && vhttp_start(&hc, &api) != SRTM_OK) {
        srtm_log(SRTM_LOG_ERROR, "cannot serve the HTTP API on %s", http);
        attest_stop(loop);
        webhook_stop(hook);
        free_tls(&tls);
        return 1;
    }
    if (api != NULL)
        srtm_log(SRTM_LOG_INFO, "HTTP API, metrics and status page on %s", http);
    srtm_log(SRTM_LOG_INFO, "node %s attesting the hosts of the store (%u in flight at most, "
                            "%d ms per attempt, %u verification threads)",
             cfg.node, cfg.max_inflight, cfg.timeout_ms, cfg.workers);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0)
        ;
    srtm_log(SRTM_LOG_INFO, "signal %d: shutting down", sig);
    vhttp_stop(api); /* before the loop its metrics read */
    attest_stop(loop);
    webhook_stop(hook); /* after the loop, which notifies it */
    nng_fini();
    free_tls(&tls);
    srtm_log(SRTM_LOG_INFO, "stopped; leases released");
    return 0;
}
