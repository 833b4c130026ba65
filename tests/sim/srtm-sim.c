/*
 * srtm-sim: N simulated srtm hosts in one process, for the tests and benchmarks of a fleet
 * verifier (not installed). Host i listens on tcp://ADDR:(BASE + i), ADDR 127.0.0.1 unless
 * --addr names another loopback address (or, with --port 0, on a port the kernel chooses) and answers srtmd's read-only protocol there as
 * srtmd's tcp listener does: nng REP0, the Request/Response messages of proto/srtm.proto.
 * A quote is answered with evidence in exactly srtmd's format (docs/evidence.md), made
 * with the host's own software AIK and IRK (P-256, fresh from OpenSSL at start). Answers
 * are asynchronous (nng contexts and aios, a few per host), never a thread per host.
 *
 * For every host it writes DIR/host-I/{aik.pem, reference.json, policy.json, url}, the
 * files `srtmctl verify` and srtm_verify() need, then DIR/hosts.tsv (one line per host:
 * index, url, directory, knobs) and last DIR/ready (its pid): a caller waits for that.
 * It serves until SIGTERM or SIGINT. tests/sim/README.md describes the hosts, the knobs,
 * the lies and which check of the verifier catches each.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>

#include "sim.h"

#define CTX_PER_HOST 2u
#define MAX_HOSTS 100000u

static const char usage[] =
    "usage: srtm-sim --hosts N --dir DIR [--port BASE] [options]\n"
    "  --hosts N             simulated hosts (1..100000)\n"
    "  --dir DIR             output directory (created): DIR/host-I/, hosts.tsv, ready\n"
    "  --port BASE           host I listens on ADDR:BASE+I; 0 (default): any free port\n"
    "  --addr ADDR           the IPv4 address to listen on (default 127.0.0.1; any of\n"
    "                        127.0.0.0/8 is loopback: several simulators on several\n"
    "                        addresses serve more hosts than one address has ports)\n"
    "  --log-entries N       initial log entries of every CCR (default 4)\n"
    "  --growth R            log entries per second added to every CCR (default 0)\n"
    "  --slow MS[@HOSTS]     delay every answer by MS milliseconds\n"
    "  --dead HOSTS          listen but never answer\n"
    "  --lie KIND[@HOSTS]    KIND: bad-digest, replayed-nonce, unknown-binary, wrong-aik\n"
    "  --reboot-every S[@HOSTS]  reboot every S seconds (boot counters move, logs restart)\n"
    "  --spliced-increment HOSTS  every other quote rewrites log entry 0 of vm-1 CCR 0,\n"
    "                        replayed honestly: each evidence verifies alone, but does not\n"
    "                        extend the log the quote before reported\n"
    "  --shared-boot         every host runs host 0's boot chain (PCR 0, launch event), so\n"
    "                        one policy with inline PCRs fits every host\n"
    "  --tls DIR             serve tls+tcp:// with mutual TLS as srtmd does: DIR/srv.pem and\n"
    "                        srv.key for every host, clients' certificates must chain to\n"
    "                        DIR/ca.pem (tests/data/make-tls.sh makes such a DIR)\n"
    "HOSTS: all (the default), a list of indexes and ranges (0,3,5-9), or a fraction\n"
    "(0.1: every tenth host, spread evenly). A later option overrides an earlier one.\n";

__attribute__((noreturn)) static void die(const char *what)
{
    fprintf(stderr, "srtm-sim: %s\n", what);
    exit(1);
}

double sim_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A number of the command line, whole and within [0, max]; anything else ends the run. */
static double number(const char *s, double max, const char *what)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= max)) {
        fprintf(stderr, "srtm-sim: %s: not a number from 0 to %g: %s\n", what, max, s);
        exit(2);
    }
    return v;
}

/* ---- host selections ---- */

/* true when host i of n is in spec (all, a fraction, or indexes and ranges). */
static bool in_spec(const char *spec, unsigned i)
{
    if (spec == NULL || strcmp(spec, "all") == 0)
        return true;
    if (strchr(spec, '.') != NULL) {
        double f = strtod(spec, NULL);
        return floor((i + 1) * f) != floor(i * f);
    }
    for (const char *p = spec; *p != '\0';) {
        char *end;
        unsigned long lo = strtoul(p, &end, 10), hi = lo;
        if (*end == '-')
            hi = strtoul(end + 1, &end, 10);
        if (i >= lo && i <= hi)
            return true;
        if (*end != ',')
            break;
        p = end + 1;
    }
    return false;
}

/* A knob given on the command line, applied to the hosts in its spec, in order. */
typedef struct knob_arg {
    int opt;
    char value[64];
    const char *spec;
} knob_arg;

static sim_lie parse_lie(const char *s)
{
    static const char *const names[] = {
        [SIM_BAD_DIGEST] = "bad-digest", [SIM_REPLAYED_NONCE] = "replayed-nonce",
        [SIM_UNKNOWN_BINARY] = "unknown-binary", [SIM_WRONG_AIK] = "wrong-aik"};
    for (size_t i = 1; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(s, names[i]) == 0)
            return (sim_lie)i;
    die("--lie: unknown KIND");
}

enum { O_HOSTS = 1, O_DIR, O_PORT, O_LOG, O_GROWTH, O_SLOW, O_DEAD, O_LIE, O_REBOOT, O_SPLICE,
       O_SHARED, O_TLS, O_ADDR };

static void apply(const knob_arg *a, sim_knobs *k)
{
    switch (a->opt) {
    case O_SLOW:
        k->slow_ms = (uint32_t)number(a->value, 3600000, "--slow");
        break;
    case O_DEAD:
        k->dead = true;
        break;
    case O_SPLICE:
        k->spliced = true;
        break;
    case O_LIE:
        k->lie = parse_lie(a->value);
        break;
    case O_REBOOT:
        k->reboot_every = number(a->value, 1e9, "--reboot-every");
        break;
    }
}

/* ---- options ---- */

typedef struct options {
    unsigned hosts;
    const char *dir;
    unsigned port;
    const char *addr;
    const char *tls_dir;
    sim_knobs base;
    knob_arg knobs[64];
    size_t n_knobs;
} options;

static void add_knob(options *o, int opt, const char *arg)
{
    if (o->n_knobs == sizeof(o->knobs) / sizeof(o->knobs[0]))
        die("too many knobs");
    knob_arg *a = &o->knobs[o->n_knobs++];
    a->opt = opt;
    if (opt == O_DEAD || opt == O_SPLICE) {
        a->spec = arg;
        return;
    }
    const char *at = strchr(arg, '@');
    size_t n = at != NULL ? (size_t)(at - arg) : strlen(arg);
    if (n >= sizeof(a->value))
        die("knob value too long");
    memcpy(a->value, arg, n);
    a->value[n] = '\0';
    a->spec = at != NULL ? at + 1 : NULL;
}

static void parse(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"hosts", required_argument, NULL, O_HOSTS}, {"dir", required_argument, NULL, O_DIR},
        {"port", required_argument, NULL, O_PORT}, {"log-entries", required_argument, NULL, O_LOG},
        {"growth", required_argument, NULL, O_GROWTH}, {"slow", required_argument, NULL, O_SLOW},
        {"dead", required_argument, NULL, O_DEAD}, {"lie", required_argument, NULL, O_LIE},
        {"reboot-every", required_argument, NULL, O_REBOOT},
        {"spliced-increment", required_argument, NULL, O_SPLICE},
        {"shared-boot", no_argument, NULL, O_SHARED}, {"tls", required_argument, NULL, O_TLS},
        {"addr", required_argument, NULL, O_ADDR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->base.log_entries = 4;
    o->addr = "127.0.0.1";
    int c;
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case O_HOSTS: o->hosts = (unsigned)number(optarg, MAX_HOSTS, "--hosts"); break;
        case O_DIR: o->dir = optarg; break;
        case O_PORT: o->port = (unsigned)number(optarg, 65535, "--port"); break;
        case O_LOG: o->base.log_entries = (uint64_t)number(optarg, 1e7, "--log-entries"); break;
        case O_GROWTH: o->base.growth = number(optarg, 1e6, "--growth"); break;
        case O_SHARED: o->base.shared_boot = true; break;
        case O_TLS: o->tls_dir = optarg; break;
        case O_ADDR: o->addr = optarg; break;
        case O_SLOW: case O_DEAD: case O_LIE: case O_REBOOT: case O_SPLICE:
            add_knob(o, c, optarg);
            break;
        case 'h': fputs(usage, stdout); exit(0);
        default: fputs(usage, stderr); exit(2);
        }
    }
    struct in_addr a;
    if (inet_pton(AF_INET, o->addr, &a) != 1)
        die("--addr: not an IPv4 address");
    if (o->hosts == 0 || o->hosts > MAX_HOSTS || o->dir == NULL || optind != argc ||
        (o->port != 0 && o->port + o->hosts > 65536)) {
        fputs(usage, stderr);
        exit(2);
    }
    sim_knobs k = {0}; /* a bad value fails now, not at some host */
    for (size_t i = 0; i < o->n_knobs; i++)
        apply(&o->knobs[i], &k);
}

/* ---- serving ---- */

typedef enum { ST_RECV, ST_WAIT, ST_SEND } ctx_state;

/* One outstanding request of a host: receive, answer (maybe after a delay), send. */
typedef struct sim_ctx {
    sim_host *h;
    nng_ctx ctx;
    nng_aio *aio;
    ctx_state state;
    nng_msg *reply;
} sim_ctx;

typedef struct server {
    sim_host *hosts;
    nng_socket *socks;
    sim_ctx *ctxs;
    unsigned n;
    double t0;
    nng_tls_config *tls; /* --tls: every host's listener configuration */
} server;

static server srv;

static void ctx_recv(sim_ctx *c)
{
    c->state = ST_RECV;
    nng_ctx_recv(c->ctx, c->aio);
}

static void ctx_send(sim_ctx *c)
{
    c->state = ST_SEND;
    nng_aio_set_msg(c->aio, c->reply);
    c->reply = NULL;
    nng_ctx_send(c->ctx, c->aio);
}

/* Answer the request just received; no answer at all only when memory runs out. */
static void ctx_answer(sim_ctx *c)
{
    nng_msg *req = nng_aio_get_msg(c->aio);
    uint8_t *out = NULL;
    size_t len = 0;
    srtm_err err = sim_host_answer(c->h, nng_msg_body(req), nng_msg_len(req),
                                   sim_now() - srv.t0, &out, &len);
    nng_msg_free(req);
    if (err != SRTM_OK || nng_msg_alloc(&c->reply, len) != 0) {
        free(out);
        ctx_recv(c);
        return;
    }
    memcpy(nng_msg_body(c->reply), out, len);
    free(out);
    if (c->h->k.slow_ms > 0) {
        c->state = ST_WAIT;
        nng_sleep_aio((nng_duration)c->h->k.slow_ms, c->aio);
    } else {
        ctx_send(c);
    }
}

static void ctx_cb(void *arg)
{
    sim_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    switch (c->state) {
    case ST_RECV:
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            return;
        if (rv != 0)
            ctx_recv(c);
        else
            ctx_answer(c);
        return;
    case ST_WAIT:
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
            nng_msg_free(c->reply);
            c->reply = NULL;
            return;
        }
        ctx_send(c);
        return;
    case ST_SEND:
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(c->aio));
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
            return;
        ctx_recv(c);
        return;
    }
}

/* The --tls configuration, as srtmd's tls+tcp listener has it: DIR/srv.pem and srv.key,
 * client certificates required, chaining to DIR/ca.pem. */
static nng_tls_config *tls_config(const char *dir)
{
    char path[3][512];
    static const char *const names[] = {"srv.pem", "srv.key", "ca.pem"};
    char *pem[3] = {NULL, NULL, NULL};
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        snprintf(path[i], sizeof(path[i]), "%s/%s", dir, names[i]);
        if (read_small_file(path[i], 1u << 20, &pem[i], &len) != SRTM_OK)
            die("--tls: cannot read DIR/srv.pem, srv.key or ca.pem");
    }
    nng_tls_config *c = NULL;
    if (nng_tls_config_alloc(&c, NNG_TLS_MODE_SERVER) != 0 ||
        nng_tls_config_own_cert(c, pem[0], pem[1], NULL) != 0 ||
        nng_tls_config_ca_chain(c, pem[2], NULL) != 0 ||
        nng_tls_config_auth_mode(c, NNG_TLS_AUTH_MODE_REQUIRED) != 0)
        die("--tls: the files are not a certificate, its key and a CA in PEM");
    for (int i = 0; i < 3; i++)
        free(pem[i]);
    return c;
}

/* Listen for host i; its url into url. */
static int host_listen(unsigned i, const char *addr, unsigned base, char url[64])
{
    nng_listener l;
    char want[64];
    int port = 0;
    const char *scheme = srv.tls != NULL ? "tls+tcp" : "tcp";
    snprintf(want, 64, "%s://%s:%u", scheme, addr, base == 0 ? 0 : base + i);
    int rv = nng_rep0_open(&srv.socks[i]);
    if (rv == 0)
        rv = nng_socket_set_size(srv.socks[i], NNG_OPT_RECVMAXSZ, 2 * (size_t)SRTM_MAX_MESSAGE);
    if (rv == 0)
        rv = nng_listener_create(&l, srv.socks[i], want);
    if (rv == 0 && srv.tls != NULL)
        rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, srv.tls);
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv == 0)
        rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port);
    if (rv == 0)
        snprintf(url, 64, "%s://%s:%d", scheme, addr, port);
    return rv;
}

static int host_serve(unsigned i)
{
    int rv = 0;
    for (unsigned j = 0; j < CTX_PER_HOST && rv == 0 && !srv.hosts[i].k.dead; j++) {
        sim_ctx *c = &srv.ctxs[i * CTX_PER_HOST + j];
        c->h = &srv.hosts[i];
        rv = nng_ctx_open(&c->ctx, srv.socks[i]);
        if (rv == 0)
            rv = nng_aio_alloc(&c->aio, ctx_cb, c);
        if (rv == 0)
            ctx_recv(c);
    }
    return rv;
}

/* ---- files ---- */

static void write_small(const char *path, const char *text)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0)
        die(path);
}

static const char *lie_name(sim_lie l)
{
    static const char *const names[] = {"honest", "bad-digest", "replayed-nonce",
                                        "unknown-binary", "wrong-aik"};
    return names[l];
}

static void host_files(const options *o, unsigned i, const char *url, FILE *tsv)
{
    char d[4096], p[4200];
    snprintf(d, sizeof(d), "%s/host-%u", o->dir, i);
    if (mkdir(d, 0755) != 0 && errno != EEXIST)
        die(d);
    if (sim_host_write_files(&srv.hosts[i], d) != SRTM_OK)
        die("cannot write a host's files");
    snprintf(p, sizeof(p), "%s/url", d);
    char line[80];
    snprintf(line, sizeof(line), "%s\n", url);
    write_small(p, line);
    const sim_knobs *k = &srv.hosts[i].k;
    fprintf(tsv, "%u\t%s\t%s\t%s\t%s\t%u\t%g\t%s\n", i, url, d, lie_name(k->lie),
            k->dead ? "dead" : "alive", k->slow_ms, k->reboot_every,
            k->spliced ? "spliced" : "appends");
}

/* ---- main ---- */

static void raise_nofile(unsigned hosts)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < (rlim_t)hosts * 2 + 64)
        fprintf(stderr, "srtm-sim: warning: %llu file descriptors for %u hosts\n",
                (unsigned long long)r.rlim_cur, hosts);
}

static void start(const options *o)
{
    srv.n = o->hosts;
    srv.hosts = calloc(o->hosts, sizeof(*srv.hosts));
    srv.socks = calloc(o->hosts, sizeof(*srv.socks));
    srv.ctxs = calloc((size_t)o->hosts * CTX_PER_HOST, sizeof(*srv.ctxs));
    if (srv.hosts == NULL || srv.socks == NULL || srv.ctxs == NULL)
        die("out of memory");
    if (mkdir(o->dir, 0755) != 0 && errno != EEXIST)
        die(o->dir);
    char path[4200];
    snprintf(path, sizeof(path), "%s/hosts.tsv", o->dir);
    FILE *tsv = fopen(path, "w");
    if (tsv == NULL)
        die(path);
    srv.t0 = sim_now();
    if (o->tls_dir != NULL)
        srv.tls = tls_config(o->tls_dir);
    for (unsigned i = 0; i < o->hosts; i++) {
        sim_knobs k = o->base;
        for (size_t j = 0; j < o->n_knobs; j++)
            if (in_spec(o->knobs[j].spec, i))
                apply(&o->knobs[j], &k);
        char url[64];
        if (sim_host_init(&srv.hosts[i], i, &k, 0.0) != SRTM_OK)
            die("cannot create a host's keys");
        if (host_listen(i, o->addr, o->port, url) != 0)
            die("cannot listen (port taken, or out of file descriptors)");
        host_files(o, i, url, tsv);
        if (host_serve(i) != 0)
            die("cannot start serving");
    }
    if (fclose(tsv) != 0)
        die(path);
}

int main(int argc, char **argv)
{
    options o;
    parse(argc, argv, &o);
    raise_nofile(o.hosts);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before nng starts its threads */
    start(&o);
    char path[4200], pid[32];
    snprintf(path, sizeof(path), "%s/ready", o.dir);
    snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    write_small(path, pid);
    int sig = 0;
    sigwait(&set, &sig);
    for (unsigned i = 0; i < srv.n; i++)
        nng_close(srv.socks[i]);
    for (size_t i = 0; i < (size_t)srv.n * CTX_PER_HOST; i++)
        nng_aio_free(srv.ctxs[i].aio); /* waits for its callback; NULL for dead hosts */
    for (unsigned i = 0; i < srv.n; i++)
        sim_host_fini(&srv.hosts[i]);
    free(srv.hosts);
    free(srv.socks);
    free(srv.ctxs);
    return 0;
}
