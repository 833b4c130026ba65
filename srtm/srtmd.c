/*
 * srtmd: the SRTM daemon. Sets up the CCR service, writes the admin capability of
 * component 0 to a root-only file, serves requests over nng until SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <nng/nng.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config.h"
#include "launch.h"
#include "lock.h"
#include "notify.h"
#include "proof.h"
#include "sandbox.h"
#include "server.h"
#include "service.h"
#include "tls.h"

#define DEFAULT_WORKERS 64u
#define MAX_WORKERS 1024u

#define DEFAULT_SRTM_PCR 15u
#define DEFAULT_PROOF_PCRS 0x000000FFu /* PCRs 0-7: the boot chain */
#define DEFAULT_AIK_HANDLE 0x81010002u
#define DEFAULT_IRK_BLOB "/var/lib/srtm/irk.sealed"

typedef struct options {
    char listen[PATH_MAX + 16];
    char listen_tcp[256];
    char admin_cap[PATH_MAX];
    char pidfile[PATH_MAX];
    int socket_mode;
    unsigned workers;
    bool foreground;
    bool no_tpm;
    char tcti[256];
    char irk_blob[PATH_MAX];
    proof_config proof;
    char user[64];   /* --user: drop to this user once everything is open */
    bool no_seccomp; /* --no-seccomp: for debugging only */
    char lock_file[PATH_MAX]; /* --lock-file; empty: lock_default_path() */
    service_quota quota;
    char tls_cert[PATH_MAX], tls_key[PATH_MAX], tls_ca[PATH_MAX]; /* tls+tcp listen-tcp */
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: srtmd [OPTION]...\n"
            "The SRTM daemon: Component Configuration Registers for every component of the\n"
            "host, served over a local socket.\n"
            "\n"
            "  --listen URL        where to serve, ipc:// only (default\n"
            "                      ipc:///run/srtm/srtmd.sock as root, else\n"
            "                      ipc://$XDG_RUNTIME_DIR/srtm/srtmd.sock)\n"
            "  --listen-tcp URL    also serve reads and quotes (never changes) on a tcp://\n"
            "                      URL, e.g. tcp://0.0.0.0:7380, for remote verifiers, or\n"
            "                      with mutual TLS on tls+tcp://HOST:PORT\n"
            "  --tls-cert FILE     srtmd's certificate (PEM) for a tls+tcp:// listen-tcp\n"
            "  --tls-key FILE      its private key (PEM; mode 0600, root's or srtmd's)\n"
            "  --tls-ca FILE       the CA certificates (PEM) that verifiers' certificates must\n"
            "                      chain to; clients without one are refused\n"
            "  --admin-cap FILE    write the admin capability of component 0 here, mode 0600\n"
            "                      (default: admin.cap beside an ipc:// socket)\n"
            "  --socket-mode MODE  permission bits of the ipc:// socket file (default 0660)\n"
            "  --workers N         requests served concurrently (default %u), and at most\n"
            "                      as many quotes waiting for the TPM; N/4 (at least 2) more\n"
            "                      are kept for CCR requests while quotes wait\n"
            "  --pidfile FILE      write the daemon's pid here\n"
            "  --foreground        do not detach; without it srtmd returns once it serves\n"
            "  --log-level LEVEL   error, warn, info (default) or debug; logs go to stderr\n"
            "                      (with syslog priorities when it is the journal), and\n"
            "                      to syslog once a detached srtmd serves\n"
            "  --config FILE       options from FILE, one per line without the dashes\n"
            "                      (\"srtm-pcr 15\"); srtm-launch measures this file. With a\n"
            "                      TPM, every other option belongs there: only --foreground,\n"
            "                      --log-level, --pidfile and --tcti may be given here\n"
            "                      (docs/configuration.md)\n"
            "  --user NAME         once the TPM, sockets and files are open, drop to this\n"
            "                      user and its groups; the ipc:// socket's directory is\n"
            "                      given to it, so it must hold srtmd's files only (see\n"
            "                      docs/security.md)\n"
            "  --no-seccomp        do not install the system call filter (debugging only)\n"
            "\n"
            "Quotas (what one peer can make srtmd store; docs/configuration.md):\n"
            "  --log-entries-per-component N, --log-bytes-per-component N,\n"
            "  --log-entries-per-ccr N, --log-bytes-per-ccr N, --children-per-component N,\n"
            "  --max-depth N, --components-per-uid N, --memory-budget BYTES\n"
            "\n"
            "The SRTM-proof-period (run at start; see docs/key-management.md):\n"
            "  --tcti STRING       TPM to use, a tctildr string (default: tctildr's default;\n"
            "                      swtpm:host=127.0.0.1,port=2321 for a software TPM)\n"
            "  --srtm-pcr N        the SRTM PCR the launcher extended (default %u)\n"
            "  --proof-pcrs LIST   PCRs the IRK is sealed to and quotes cover, e.g. 0-7\n"
            "                      (default 0-7; the SRTM PCR is always added)\n"
            "  --aik-handle HEX    persistent handle of the AIK (default 0x%08x)\n"
            "  --irk-blob FILE     the sealed IRK (default %s)\n"
            "  --irk-scheme NAME   mit (srtm-keymgr wraps the IRK; default), s1t (srtmd\n"
            "                      creates and seals it at its first start) or perboot\n"
            "                      (srtmd creates a new IRK in every boot, never stored)\n"
            "  --lock-file FILE    the lock that keeps a second srtmd off this TPM (default\n"
            "                      srtmd.lock, or srtmd-HASH.lock for a --tcti, in the\n"
            "                      runtime directory; see docs/security.md)\n"
            "  --insecure-resettable-pcr  accept PCR 16 or 23 as the SRTM PCR: any process\n"
            "                      can reset those, so only for tests on a software TPM\n"
            "  --no-tpm            run without a TPM: CCRs are served, reports are never\n"
            "                      signed and quotes are refused (development only)\n"
            "  --help              show this help\n"
            "  --version           show the version\n"
            "\n"
            "Without --no-tpm srtmd does not start unless the proof period succeeds; it\n"
            "closes the period (extends the SRTM PCR) on every failure too, usage errors\n"
            "included.\n"
            "Exit status: 0 after a clean shutdown (SIGTERM, SIGINT); 1 when srtmd could not\n"
            "start (the message says why); 2 for a usage error.\n",
            DEFAULT_WORKERS, DEFAULT_SRTM_PCR, DEFAULT_AIK_HANDLE, DEFAULT_IRK_BLOB);
}

static bool copy_opt(char *dst, size_t size, const char *src, const char *what)
{
    size_t n = strlen(src);
    if (n == 0 || n >= size) {
        fprintf(stderr, "srtmd: %s is empty or too long\n", what);
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

static bool ensure_dir(const char *dir, uid_t also_ok)
{
    /* Only the daemon's own runtime directory is created, never its parents. */
    if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) != 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", dir, strerror(errno));
        return false;
    }
    struct stat st;
    /* With --user, an earlier srtmd may have given the directory to that user. */
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        (st.st_uid != geteuid() && st.st_uid != also_ok)) {
        log_error("%s is not a directory owned by uid %u", dir, (unsigned)geteuid());
        return false;
    }
    return true;
}

/* A number option: base 8, 10 or 16, from lo to hi. */
static bool parse_number(const char *v, int base, unsigned long lo, unsigned long hi,
                         unsigned long *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(v, &end, base);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < lo || n > hi)
        return false;
    *out = n;
    return true;
}

/* A quota: a decimal number from 1 (docs/configuration.md, "Quotas"). */
static bool apply_quota(service_quota *q, config_key_id id, const char *v)
{
    unsigned long n = 0;
    if (!parse_number(v, 10, 1, ULONG_MAX, &n))
        return false;
    switch (id) {
    case CFG_LOG_ENTRIES_PER_COMPONENT: q->log_entries_per_component = n; break;
    case CFG_LOG_BYTES_PER_COMPONENT: q->log_bytes_per_component = n; break;
    case CFG_LOG_ENTRIES_PER_CCR: q->log_entries_per_ccr = n; break;
    case CFG_LOG_BYTES_PER_CCR: q->log_bytes_per_ccr = n; break;
    case CFG_CHILDREN_PER_COMPONENT: q->children_per_component = n; break;
    case CFG_MAX_DEPTH: q->depth = n; break;
    case CFG_COMPONENTS_PER_UID: q->components_per_uid = n; break;
    case CFG_MEMORY_BUDGET: q->memory_budget = n; break;
    default: return false;
    }
    return true;
}

/* One option's value into o, from the file or the command line (where names it in
 * messages: "--workers" or "FILE:LINE: workers"). 2 on a bad value. */
static int apply_value(options *o, config_key_id id, const char *v, const char *where)
{
    unsigned long n = 0;
    srtm_log_level lvl;
    bool ok = true;
    switch (id) {
    case CFG_LISTEN:
        if (strncmp(v, "ipc://", 6) != 0) {
            fprintf(stderr, "srtmd: %s takes an ipc:// URL only (changes and capabilities "
                            "never cross a network); serve remote verifiers with listen-tcp "
                            "(--listen-tcp), which takes reads and quotes only\n",
                    where);
            return 2;
        }
        return copy_opt(o->listen, sizeof(o->listen), v, where) ? 0 : 2;
    case CFG_LOCK_FILE: return copy_opt(o->lock_file, sizeof(o->lock_file), v, where) ? 0 : 2;
    case CFG_ADMIN_CAP: return copy_opt(o->admin_cap, sizeof(o->admin_cap), v, where) ? 0 : 2;
    case CFG_PIDFILE: return copy_opt(o->pidfile, sizeof(o->pidfile), v, where) ? 0 : 2;
    case CFG_TCTI: return copy_opt(o->tcti, sizeof(o->tcti), v, where) ? 0 : 2;
    case CFG_IRK_BLOB: return copy_opt(o->irk_blob, sizeof(o->irk_blob), v, where) ? 0 : 2;
    case CFG_USER: return copy_opt(o->user, sizeof(o->user), v, where) ? 0 : 2;
    case CFG_LISTEN_TCP:
        ok = (strncmp(v, "tcp://", 6) == 0 || strncmp(v, "tls+tcp://", 10) == 0) &&
             copy_opt(o->listen_tcp, sizeof(o->listen_tcp), v, where);
        break;
    case CFG_TLS_CERT: return copy_opt(o->tls_cert, sizeof(o->tls_cert), v, where) ? 0 : 2;
    case CFG_TLS_KEY: return copy_opt(o->tls_key, sizeof(o->tls_key), v, where) ? 0 : 2;
    case CFG_TLS_CA: return copy_opt(o->tls_ca, sizeof(o->tls_ca), v, where) ? 0 : 2;
    case CFG_SOCKET_MODE:
        ok = parse_number(v, 8, 0, 0777, &n);
        o->socket_mode = (int)n;
        break;
    case CFG_WORKERS:
        ok = parse_number(v, 10, 1, MAX_WORKERS, &n);
        o->workers = (unsigned)n;
        break;
    case CFG_LOG_LEVEL:
        ok = srtm_log_parse_level(v, &lvl);
        if (ok)
            srtm_log_set_level(lvl);
        break;
    case CFG_SRTM_PCR: ok = launch_parse_pcr(v, &o->proof.srtm_pcr); break;
    case CFG_PROOF_PCRS: ok = launch_parse_pcr_list(v, &o->proof.proof_mask); break;
    case CFG_AIK_HANDLE:
        ok = parse_number(v, 16, KM_PERSISTENT_FIRST, KM_PERSISTENT_LAST, &n);
        o->proof.aik_handle = (uint32_t)n;
        break;
    case CFG_IRK_SCHEME:
        ok = strcmp(v, "mit") == 0 || strcmp(v, "s1t") == 0 || strcmp(v, "perboot") == 0;
        o->proof.scheme = strcmp(v, "s1t") == 0       ? IRK_SCHEME_S1T
                          : strcmp(v, "perboot") == 0 ? IRK_SCHEME_PERBOOT
                                                      : IRK_SCHEME_MIT;
        break;
    case CFG_LOG_ENTRIES_PER_COMPONENT:
    case CFG_LOG_BYTES_PER_COMPONENT:
    case CFG_LOG_ENTRIES_PER_CCR:
    case CFG_LOG_BYTES_PER_CCR:
    case CFG_CHILDREN_PER_COMPONENT:
    case CFG_MAX_DEPTH:
    case CFG_COMPONENTS_PER_UID:
    case CFG_MEMORY_BUDGET: ok = apply_quota(&o->quota, id, v); break;
    case CFG_FOREGROUND: o->foreground = true; break;
    case CFG_NO_SECCOMP: o->no_seccomp = true; break;
    case CFG_NO_TPM: o->no_tpm = true; break;
    case CFG_INSECURE_RESETTABLE_PCR: o->proof.allow_resettable = true; break;
    case CFG_KEY_COUNT: ok = false; break;
    }
    if (!ok)
        fprintf(stderr, "srtmd: %s: bad value '%s' (see srtmd --help)\n", where, v);
    return ok ? 0 : 2;
}

/* The command line: --config, --help, --version and every key of config_keys[]. */
typedef struct cmdline {
    const char *config;
    const char *value[CFG_KEY_COUNT]; /* NULL: not given; "" for a flag given */
} cmdline;

/* getopt_long takes "--no-t" for "--no-tpm": the option just read must be spelled out,
 * so that what srtm-launch checks in srtmd's arguments is what srtmd runs with. */
static bool spelled_out(char **argv, const char *name)
{
    const char *used = optarg != NULL && optind >= 2 && optarg == argv[optind - 1]
                           ? argv[optind - 2]
                           : argv[optind - 1];
    size_t n = strlen(name);
    return strncmp(used, "--", 2) == 0 && strncmp(used + 2, name, n) == 0 &&
           (used[2 + n] == '\0' || used[2 + n] == '=');
}

static int scan_cmdline(int argc, char **argv, cmdline *cl)
{
    enum { O_CONFIG = CFG_KEY_COUNT + 1, O_HELP, O_VER };
    struct option longopts[CFG_KEY_COUNT + 4];
    for (int i = 0; i < CFG_KEY_COUNT; i++)
        longopts[i] = (struct option){config_keys[i].name,
                                      config_keys[i].takes_value ? required_argument
                                                                 : no_argument,
                                      NULL, i};
    longopts[CFG_KEY_COUNT] = (struct option){"config", required_argument, NULL, O_CONFIG};
    longopts[CFG_KEY_COUNT + 1] = (struct option){"help", no_argument, NULL, O_HELP};
    longopts[CFG_KEY_COUNT + 2] = (struct option){"version", no_argument, NULL, O_VER};
    longopts[CFG_KEY_COUNT + 3] = (struct option){NULL, 0, NULL, 0};
    memset(cl, 0, sizeof(*cl));
    int c, rc = 0, li = -1;
    while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
        if (c != '?' && !spelled_out(argv, longopts[li].name)) {
            fprintf(stderr, "srtmd: write --%s in full\n", longopts[li].name);
            rc = 2;
            continue;
        }
        if (c == O_HELP) {
            usage(stdout);
            exit(0);
        }
        if (c == O_VER) {
            printf("srtmd %s\n", SRTM_VERSION_STRING);
            exit(0);
        }
        const char **slot = c == O_CONFIG ? &cl->config
                            : c >= 0 && c < CFG_KEY_COUNT ? &cl->value[c]
                                                          : NULL;
        /* After a mistake, read on: a --tcti further on still names the TPM to close. */
        if (slot == NULL) {
            fprintf(stderr, "srtmd: see srtmd --help\n");
            rc = 2;
        } else if (*slot != NULL) {
            fprintf(stderr, "srtmd: --%s given twice\n",
                    longopts[c == O_CONFIG ? CFG_KEY_COUNT : c].name);
            rc = 2;
        } else {
            *slot = optarg != NULL ? optarg : "";
        }
    }
    if (optind != argc) {
        fprintf(stderr, "srtmd: unexpected argument '%s'\n", argv[optind]);
        rc = 2;
    }
    return rc;
}

/* With a TPM, only what the measured file says counts: an option that changes what
 * srtmd does (config_keys[].unmeasured_ok false) is refused on the command line. */
static int check_unmeasured(const cmdline *cl, const srtm_config *cfg, bool no_tpm)
{
    for (int i = 0; i < CFG_KEY_COUNT; i++) {
        if (cl->value[i] == NULL)
            continue;
        const char *name = config_keys[i].name;
        if (config_get(cfg, (config_key_id)i) != NULL) {
            fprintf(stderr, "srtmd: --%s is also in %s (line %u): give it once\n", name,
                    config_name(cfg), config_line(cfg, (config_key_id)i));
            return 2;
        }
        if (no_tpm || config_keys[i].unmeasured_ok)
            continue;
        fprintf(stderr, "srtmd: --%s is refused on the command line: srtmd uses a TPM, and "
                        "only the --config file is measured (by srtm-launch); put '%s%s%s' "
                        "in it\n",
                name, name, config_keys[i].takes_value ? " " : "",
                config_keys[i].takes_value ? cl->value[i] : "");
        return 2;
    }
    return 0;
}

/* The file's options, then the command line's: each key was given at most once. */
static int apply_all(options *o, const srtm_config *cfg, const cmdline *cl)
{
    int rc = 0;
    char where[CONFIG_MSG_MAX];
    for (int i = 0; i < CFG_KEY_COUNT && rc == 0; i++) {
        const char *v = config_get(cfg, (config_key_id)i);
        snprintf(where, sizeof(where), "%s:%u: %s", cfg != NULL ? config_name(cfg) : "",
                 config_line(cfg, (config_key_id)i), config_keys[i].name);
        if (v != NULL)
            rc = apply_value(o, (config_key_id)i, v, where);
    }
    for (int i = 0; i < CFG_KEY_COUNT && rc == 0; i++) {
        snprintf(where, sizeof(where), "--%s", config_keys[i].name);
        if (cl->value[i] != NULL)
            rc = apply_value(o, (config_key_id)i, cl->value[i], where);
    }
    return rc;
}

static void set_defaults(options *o)
{
    memset(o, 0, sizeof(*o));
    o->socket_mode = 0660;
    o->workers = DEFAULT_WORKERS;
    o->proof.srtm_pcr = DEFAULT_SRTM_PCR;
    o->proof.proof_mask = DEFAULT_PROOF_PCRS;
    o->proof.aik_handle = DEFAULT_AIK_HANDLE;
    o->proof.scheme = IRK_SCHEME_MIT;
    memcpy(o->irk_blob, DEFAULT_IRK_BLOB, sizeof(DEFAULT_IRK_BLOB));
    service_quota_defaults(&o->quota);
}

/* TLS is all or nothing: a tls+tcp:// listen-tcp needs tls-cert, tls-key and tls-ca, and
 * they mean nothing without it (a plain tcp:// listener with them would look protected
 * and not be). 0, or 2 with a message. */
static int check_tls_options(const options *o)
{
    bool tls = strncmp(o->listen_tcp, "tls+tcp://", 10) == 0;
    bool any = o->tls_cert[0] != '\0' || o->tls_key[0] != '\0' || o->tls_ca[0] != '\0';
    bool all = o->tls_cert[0] != '\0' && o->tls_key[0] != '\0' && o->tls_ca[0] != '\0';
    if (tls && !all) {
        fprintf(stderr, "srtmd: listen-tcp %s needs tls-cert, tls-key and tls-ca (srtmd's "
                        "certificate, its key, and the CA of the verifiers' certificates)\n",
                o->listen_tcp);
        return 2;
    }
    if (!tls && any) {
        fprintf(stderr, "srtmd: tls-cert, tls-key and tls-ca are for a tls+tcp:// listen-tcp; "
                        "%s%s serves without TLS\n",
                o->listen_tcp[0] != '\0' ? o->listen_tcp : "no listen-tcp is set, and ipc://",
                o->listen_tcp[0] != '\0' ? "" : " always");
        return 2;
    }
    return 0;
}

/* The command line and the --config file (config.h: one grammar) into o. 0, or 2 for a
 * usage error; even then o->proof names the SRTM PCR and the TPM as far as they could be
 * read, so that the caller can close the proof period. */
static int load_options(int argc, char **argv, options *o)
{
    set_defaults(o);
    cmdline cl;
    int rc = scan_cmdline(argc, argv, &cl);
    srtm_config *cfg = NULL, *partial = NULL;
    char msg[CONFIG_MSG_MAX];
    if (rc == 0 && cl.config != NULL &&
        config_load(cl.config, &cfg, &partial, msg, sizeof(msg)) != SRTM_OK) {
        fprintf(stderr, "srtmd: %s\n", msg);
        rc = 2;
    }
    /* The TPM and the SRTM PCR first: a failure below still knows what to close. */
    const srtm_config *known = cfg != NULL ? cfg : partial;
    const char *pcr = config_get(known, CFG_SRTM_PCR), *tcti = config_get(known, CFG_TCTI);
    if (pcr == NULL || !launch_parse_pcr(pcr, &o->proof.srtm_pcr))
        o->proof.srtm_pcr = DEFAULT_SRTM_PCR;
    if (tcti == NULL)
        tcti = cl.value[CFG_TCTI];
    if (tcti != NULL)
        snprintf(o->tcti, sizeof(o->tcti), "%s", tcti);
    /* And the lock file: an early exit must not close while another srtmd holds it. */
    const char *lock = config_get(known, CFG_LOCK_FILE);
    if (lock == NULL)
        lock = cl.value[CFG_LOCK_FILE];
    if (lock != NULL)
        snprintf(o->lock_file, sizeof(o->lock_file), "%s", lock);
    /* A file that could not be parsed does not count as saying no-tpm: close. */
    o->no_tpm = cl.value[CFG_NO_TPM] != NULL || config_get(cfg, CFG_NO_TPM) != NULL;
    if (rc == 0)
        rc = check_unmeasured(&cl, cfg, o->no_tpm);
    if (rc == 0)
        rc = apply_all(o, cfg, &cl);
    if (rc == 0)
        rc = check_tls_options(o);
    config_free(cfg);
    config_free(partial);
    o->proof.proof_mask |= 1u << o->proof.srtm_pcr;
    o->proof.tcti = o->tcti[0] != '\0' ? o->tcti : NULL;
    o->proof.irk_blob = o->irk_blob;
    return rc;
}

/* Fill in defaults that depend on the environment; create the runtime directory when
 * the defaults put files there. */
static bool resolve_paths(options *o, uid_t run_as)
{
    char dir[PATH_MAX];
    bool need_dir = o->listen[0] == '\0' || o->admin_cap[0] == '\0';
    if (!need_dir)
        return true;
    if (o->listen[0] != '\0' && strncmp(o->listen, "ipc://", 6) == 0) {
        /* Put the admin capability beside the socket. */
        const char *path = o->listen + 6;
        const char *slash = strrchr(path, '/');
        size_t n = slash ? (size_t)(slash - path) : 0;
        if (n == 0 || n >= sizeof(dir)) {
            log_error("give --admin-cap: no directory to put it in");
            return false;
        }
        memcpy(dir, path, n);
        dir[n] = '\0';
    } else if (o->listen[0] != '\0') {
        log_error("give --admin-cap: no default place for it with --listen %s", o->listen);
        return false;
    } else if (!lock_runtime_dir(dir, sizeof(dir))) {
        log_error("runtime directory path too long");
        return false;
    } else if (!ensure_dir(dir, run_as)) {
        return false;
    }
    if (o->listen[0] == '\0' &&
        (size_t)snprintf(o->listen, sizeof(o->listen), "ipc://%s/srtmd.sock", dir) >=
            sizeof(o->listen))
        return false;
    if (o->admin_cap[0] == '\0' &&
        (size_t)snprintf(o->admin_cap, sizeof(o->admin_cap), "%s/admin.cap", dir) >=
            sizeof(o->admin_cap))
        return false;
    return true;
}

/* Replace path atomically with a 0600 file holding text (a temporary file is renamed). */
static bool write_private_file(const char *path, const char *text, size_t len)
{
    char tmp[PATH_MAX + 16];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
        return false;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("cannot write %s (creating %s): %s", path, tmp, strerror(errno));
        return false;
    }
    int saved = fchmod(fd, 0600) == 0 ? 0 : errno;
    if (saved == 0)
        saved = write_full(fd, text, len);
    if (saved == 0 && fsync(fd) != 0)
        saved = errno;
    if (close(fd) != 0 && saved == 0)
        saved = errno;
    if (saved == 0 && rename(tmp, path) != 0)
        saved = errno;
    bool ok = saved == 0;
    if (!ok) {
        log_error("cannot write %s: %s", path, strerror(saved));
        unlink(tmp);
    }
    return ok;
}

static bool write_admin_cap(const char *path, const srtm_cap *cap)
{
    char text[SRTM_CAP_LEN * 2 + 2];
    if (srtm_cap_to_hex(cap, text, sizeof(text)) != SRTM_OK)
        return false;
    size_t n = strlen(text);
    text[n++] = '\n';
    bool ok = write_private_file(path, text, n);
    OPENSSL_cleanse(text, sizeof(text));
    return ok;
}

static bool write_pidfile(const char *path)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    return write_private_file(path, text, (size_t)n);
}

/*
 * Detach unless --foreground: the parent waits until the child serves (or failed) and
 * exits with the matching status, so "srtmd && srtmctl ..." never races the socket.
 */
static int detach(int *ready_fd)
{
    int p[2];
    if (pipe(p) != 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        char status = 1;
        ssize_t n;
        do {
            n = read(p[0], &status, 1);
        } while (n < 0 && errno == EINTR);
        _exit(n == 1 && status == 0 ? 0 : 1);
    }
    close(p[0]);
    setsid();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        /* Until it serves, srtmd logs to the stderr it was started with through a copy
         * (announce_serving closes it); nothing else writes there. */
        if (srtm_log_keep_stderr())
            dup2(devnull, STDERR_FILENO);
        close(devnull);
    }
    *ready_fd = p[1];
    return 0;
}

static void report_ready(int *ready_fd, char status)
{
    if (*ready_fd < 0)
        return;
    ssize_t n = write(*ready_fd, &status, 1);
    (void)n;
    close(*ready_fd);
    *ready_fd = -1;
}

/*
 * srtmd serves: tell whoever waits. systemd (Type=notify, NOTIFY_SOCKET set) gets READY=1;
 * without NOTIFY_SOCKET nothing is sent. A detached srtmd's parent exits 0, and
 * from here on srtmd logs to syslog, never to the terminal that started it.
 * After the seccomp filter, which allows what notify_systemd uses.
 */
static void announce_serving(int *ready_fd)
{
    (void)notify_systemd("READY=1");
    if (*ready_fd < 0)
        return;
    report_ready(ready_fd, 0);
    srtm_log_use_syslog("srtmd");
}

/* A file srtmd will create (--admin-cap, --pidfile): its directory must exist and be
 * writable now, so that a mistake stops srtmd before the proof period, not after. */
static bool file_creatable(const char *path, const char *what)
{
    char dir[PATH_MAX];
    if (!path_dir(path, dir, sizeof(dir))) {
        log_error("%s %s: path too long", what, path);
        return false;
    }
    struct stat st;
    if (stat(dir, &st) != 0) {
        log_error("%s %s: directory %s: %s", what, path, dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        log_error("%s %s: %s is not a directory", what, path, dir);
        return false;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        log_error("%s %s: cannot create files in %s: %s", what, path, dir, strerror(errno));
        return false;
    }
    return true;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* The names srtmd's own files have in its socket's directory (sandbox_dir_dedicated),
 * with the default lock files of srtmds on other TPMs (lock.h). */
#define OWN_NAMES_MAX 8
static void own_names(const options *o, const char *names[OWN_NAMES_MAX])
{
    size_t n = 0;
    names[n++] = base_name(o->listen);
    names[n++] = base_name(o->admin_cap);
    if (o->pidfile[0] != '\0')
        names[n++] = base_name(o->pidfile);
    if (o->lock_file[0] != '\0')
        names[n++] = base_name(o->lock_file);
    names[n++] = LOCK_DEFAULT_NAME;
    names[n++] = LOCK_DEFAULT_PREFIX "*";
    names[n] = NULL;
}

static bool ipc_dir(const char *url, char *out, size_t size);

/* With --user the socket's directory is given to the user: only a directory of srtmd's
 * own qualifies (docs/security.md). */
static bool user_dir_ok(const options *o, const sandbox_user *user)
{
    char dir[PATH_MAX];
    const char *names[OWN_NAMES_MAX];
    own_names(o, names);
    return !ipc_dir(o->listen, dir, sizeof(dir)) || sandbox_dir_dedicated(dir, user, names);
}

/* Everything srtmd can check about its configuration before the proof period, which
 * cannot be repeated in this boot once closed. */
static bool preflight(const options *o, const sandbox_user *user, uid_t run_as)
{
    if (user != NULL && !user_dir_ok(o, user))
        return false;
    if (server_check_path(o->listen, run_as) != SRTM_OK)
        return false;
    if (!file_creatable(o->admin_cap, "--admin-cap"))
        return false;
    return o->pidfile[0] == '\0' || file_creatable(o->pidfile, "--pidfile");
}

/*
 * One srtmd per TPM (lock.h): before the TPM is touched. Without a TPM there is no proof
 * period to protect, so no lock unless --lock-file asks for one. The descriptor stays open
 * for srtmd's life (taken after detach, so the process that serves holds it; it survives
 * the privilege drop).
 */
/* The lock file of this srtmd's TPM into o->lock_file: --lock-file, else the default in
 * the runtime directory (created when make_dir). */
static bool lock_path(options *o, uid_t run_as, bool make_dir)
{
    char dir[PATH_MAX];
    if (o->lock_file[0] != '\0')
        return true;
    if (!lock_runtime_dir(dir, sizeof(dir)) || (make_dir && !ensure_dir(dir, run_as)) ||
        !lock_default_path(o->proof.tcti, dir, o->lock_file, sizeof(o->lock_file))) {
        log_error("no place for the lock file: give --lock-file");
        return false;
    }
    return true;
}

static bool take_lock(options *o, uid_t run_as, int *fd_out, bool *held_elsewhere)
{
    if (o->no_tpm && o->lock_file[0] == '\0')
        return true;
    if (!lock_path(o, run_as, true))
        return false;
    srtm_err err = lock_take(o->lock_file, fd_out);
    *held_elsewhere = err == SRTM_E_EXISTS;
    return err == SRTM_OK;
}

/* Each connection is a file descriptor: take the soft limit up to the hard one (nng polls
 * with epoll, so high descriptor numbers are fine). */
static void raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max)
        return;
    rlim_t was = r.rlim_cur;
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) == 0)
        log_debug("file descriptor limit raised from %llu to %llu", (unsigned long long)was,
                  (unsigned long long)r.rlim_max);
}

/* The directory holding an ipc:// URL's socket file; false for other transports. */
static bool ipc_dir(const char *url, char *out, size_t size)
{
    if (strncmp(url, "ipc://", 6) != 0)
        return false;
    const char *path = url + 6;
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n == 0 || n >= size)
        return false;
    memcpy(out, path, n);
    out[n] = '\0';
    return true;
}

/* srtmd's resident memory, for the memory budget (service_set_rss_probe): from
 * /proc/self/statm, opened before the system call filter and read with pread. */
static int statm_fd = -1;
static uint64_t page_size;

static uint64_t resident_bytes(void)
{
    char buf[128];
    ssize_t n = pread(statm_fd, buf, sizeof(buf) - 1, 0);
    unsigned long size = 0, resident = 0;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%lu %lu", &size, &resident) != 2)
        return 0;
    return (uint64_t)resident * page_size;
}

static void watch_resident_memory(srtm_service *svc)
{
    long ps = sysconf(_SC_PAGESIZE);
    statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (statm_fd < 0 || ps <= 0) {
        log_warn("cannot read /proc/self/statm (%s): the memory budget holds the stored bytes "
                 "only, not the resident memory",
                 strerror(errno));
        return;
    }
    page_size = (uint64_t)ps;
    service_set_rss_probe(svc, resident_bytes);
}

/*
 * Once everything that needs root is open (TPM connection, listeners, admin capability and
 * pid files): become the --user and install the seccomp filter. After this srtmd only
 * serves. The socket's directory goes to the user so that the listener watchdog can still
 * replace the socket and srtmd can remove its files at exit.
 */
static bool isolate(const options *o, const sandbox_user *user)
{
    if (user != NULL) {
        char dir[PATH_MAX];
        const char *names[OWN_NAMES_MAX];
        own_names(o, names);
        if (ipc_dir(o->listen, dir, sizeof(dir)) && !sandbox_give_dir(dir, user, names))
            return false;
        /* The socket file too: root made it, and the watchdog's probes connect to it as
         * the user. lchown: the path is srtmd's own socket, never followed. */
        if (strncmp(o->listen, "ipc://", 6) == 0 &&
            lchown(o->listen + 6, user->uid, user->gid) != 0)
            log_warn("cannot give the socket %s to %s: %s", o->listen + 6, user->name,
                     strerror(errno));
        if (!sandbox_drop_privileges(user))
            return false;
        log_info("running as %s (uid %u, gid %u)", user->name, (unsigned)user->uid,
                 (unsigned)user->gid);
    }
    if (o->no_seccomp) {
        log_warn("--no-seccomp: serving WITHOUT the system call filter (debugging only)");
        return true;
    }
    if (!sandbox_seccomp())
        return false;
    log_debug("seccomp filter installed");
    return true;
}

/* srtmd's part of a status answer (service_set_status_source): set up before serving,
 * read by the workers. */
typedef struct status_source {
    srtm_quoter *quoter; /* NULL with --no-tpm */
    srtm_server *srv;    /* the local listener's server */
    const char *scheme;
    const char *urls[2];
    size_t n_urls;
} status_source;

static void fill_status(void *arg, service_status_extra *out)
{
    const status_source *s = arg;
    out->irk_scheme = s->quoter != NULL ? s->scheme : "";
    if (s->quoter != NULL) {
        quoter_counts qc;
        quoter_stats(s->quoter, &qc);
        out->quote_jobs = qc.jobs;
        out->tpm_quotes = qc.tpm_quotes;
        out->quotes_waiting = qc.waiting;
        out->tpm_ok = qc.last_err == SRTM_OK;
    }
    if (s->srv != NULL)
        out->listener_restarts = server_listener_restarts(s->srv);
    for (size_t i = 0; i < s->n_urls && i < SERVICE_STATUS_MAX_LISTENERS; i++)
        out->listeners[out->n_listeners++] = s->urls[i];
}

static const char *scheme_name(irk_scheme s)
{
    return s == IRK_SCHEME_S1T ? "s1t" : s == IRK_SCHEME_PERBOOT ? "perboot" : "mit";
}

/* Start and serve until a signal. *no_close: the proof period was entered (it closes the
 * period itself whenever the TPM answers), or another srtmd holds this TPM's lock (the
 * period is that srtmd's, closed long ago). 0 after a clean shutdown, else 1. */
static int run(options *o_in, bool *no_close)
{
    options o = *o_in;
    int rc;
    umask(077);
    sandbox_user user;
    if (o.user[0] != '\0' && geteuid() != 0) {
        log_error("--user %s: only root can change to another user", o.user);
        return 1;
    }
    if (o.user[0] != '\0' && !sandbox_user_lookup(o.user, &user))
        return 1;
    if (!resolve_paths(&o, o.user[0] != '\0' ? user.uid : geteuid()))
        return 1;

    int ready_fd = -1;
    if (!o.foreground && detach(&ready_fd) != 0)
        return 1;
    /* Before any secret exists: no core file, no ptrace, a locked heap for the IRK. */
    if (!sandbox_protect_process())
        return 1;
    sandbox_secure_heap();

    /* Signals are taken synchronously by the main thread; nng's threads inherit the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    srtm_service *svc = NULL;
    srtm_server *srv = NULL, *tcp_srv = NULL;
    server_tls tls = {NULL, NULL};
    bool cap_written = false, pid_written = false;
    rc = 1;
    /* After detaching and blocking the signals: the socket check may start nng's threads. */
    uid_t run_as = o.user[0] != '\0' ? user.uid : geteuid();
    int lock_fd = -1;
    /* Another srtmd serves this TPM: the period is its, closed long ago, and another close
     * would only spoil its quotes (lock.h). */
    if (!take_lock(&o, run_as, &lock_fd, no_close) ||
        !preflight(&o, o.user[0] != '\0' ? &user : NULL, run_as)) {
        if (lock_fd >= 0)
            close(lock_fd); /* main() closes the period only once no srtmd holds the lock */
        report_ready(&ready_fd, 1);
        return 1;
    }

    srtm_cap admin;
    if (RAND_priv_bytes(admin.bytes, sizeof(admin.bytes)) != 1) {
        log_error("random generator failed");
        goto out;
    }
    srtm_quoter *quoter = NULL;
    report_identity id;
    memset(&id, 0, sizeof(id));
    if (o.no_tpm) {
        log_warn("*** --no-tpm: running WITHOUT a TPM. CCRs are served, but no report can be "
                 "signed and every quote is refused. For development and tests only. ***");
    } else {
        *no_close = true;
        if (proof_period(&o.proof, &quoter, &id) != SRTM_OK) {
            log_error("srtmd does not start without a completed SRTM-proof-period");
            goto out;
        }
    }
    log_debug("secure heap: %zu bytes in use", sandbox_secure_heap_used());
    srtm_err err = service_new(&admin, &svc);
    if (err != SRTM_OK) {
        log_error("cannot set up the CCR table: %s", srtm_strerror(err));
        quoter_free(quoter);
        goto out;
    }
    service_set_identity(svc, &id, quoter != NULL);
    status_source status = {.quoter = quoter,
                            .scheme = scheme_name(o.proof.scheme),
                            .urls = {o.listen, o.listen_tcp},
                            .n_urls = o.listen_tcp[0] != '\0' ? 2 : 1};
    service_set_status_source(svc, fill_status, &status);
    service_set_quota(svc, &o.quota);
    server_config cfg = {.url = o.listen,
                         .socket_mode = o.socket_mode,
                         .workers = o.workers,
                         .quoter = quoter,
                         .owner_ok = run_as};
    err = server_start(svc, &cfg, &srv);
    if (err != SRTM_OK)
        goto out;
    status.srv = srv; /* before server_serve starts the workers that read it */
    if (o.listen_tcp[0] != '\0') {
        server_config tcp = {.url = o.listen_tcp,
                             .workers = o.workers,
                             .quoter = quoter,
                             .read_only = true,
                             .borrow_quoter = true};
        if (o.tls_cert[0] != '\0') {
            if (server_tls_load(o.tls_cert, o.tls_key, o.tls_ca, run_as, &tls) != SRTM_OK)
                goto out;
            tcp.tls = tls.listen;
            tcp.probe_tls = tls.probe;
        }
        if (server_start(svc, &tcp, &tcp_srv) != SRTM_OK)
            goto out;
        log_info("reads and quotes also on %s (no changes accepted there)", o.listen_tcp);
    }
    /* Written only once the socket is ours: a second srtmd fails above and never
     * overwrites the admin capability of the one that serves. */
    if (!write_admin_cap(o.admin_cap, &admin))
        goto out;
    cap_written = true;
    srtm_cap_wipe(&admin);
    if (o.pidfile[0] != '\0') {
        if (!write_pidfile(o.pidfile))
            goto out;
        pid_written = true;
    }
    watch_resident_memory(svc); /* opened as root, before the filter */
    if (!isolate(&o, o.user[0] != '\0' ? &user : NULL))
        goto out;
    /* Only now, isolated, does srtmd take requests (they waited in the socket until here). */
    if (server_serve(srv) != SRTM_OK || (tcp_srv != NULL && server_serve(tcp_srv) != SRTM_OK)) {
        log_error("cannot start serving");
        goto out;
    }
    log_info("srtmd %s serving on %s with %u workers; admin capability in %s",
             SRTM_VERSION_STRING, o.listen, o.workers, o.admin_cap);
    announce_serving(&ready_fd);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            size_t comps = 0;
            uint64_t seq = 0;
            service_stats(svc, &comps, &seq);
            log_info("%zu components, sequence number %llu", comps, (unsigned long long)seq);
            continue;
        }
        log_info("signal %d: shutting down", sig);
        (void)notify_systemd("STOPPING=1");
        break;
    }
    rc = 0;
out:
    srtm_cap_wipe(&admin);
    server_free(tcp_srv); /* borrows the quoter that srv owns: first */
    server_tls_free(&tls);
    server_free(srv);
    /* Join nng's threads, which ran the workers: their exit frees what OpenSSL keeps per
     * thread (the DRBGs of RAND_priv_bytes), which LeakSanitizer reports otherwise. */
    nng_fini();
    service_free(svc);
    /* After --user these work in the runtime directory srtmd was given; elsewhere they may
     * not (the unit's RuntimeDirectory= cleanup removes what is left). */
    if (cap_written && unlink(o.admin_cap) != 0)
        log_warn("cannot remove %s: %s", o.admin_cap, strerror(errno));
    if (pid_written && unlink(o.pidfile) != 0)
        log_warn("cannot remove %s: %s", o.pidfile, strerror(errno));
    report_ready(&ready_fd, 1);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

/* Before closing on an early exit: an srtmd that serves this TPM (it holds the lock)
 * closed its period long ago, and another close would only spoil its quotes. */
static bool held_by_another(options *o)
{
    return lock_path(o, geteuid(), false) && lock_probe(o->lock_file) == SRTM_E_EXISTS;
}

int main(int argc, char **argv)
{
    options o;
    bool no_close = false;
    srtm_log_detect_journal();
    int rc = load_options(argc, argv, &o);
    if (rc == 0)
        rc = run(&o, &no_close);
    /* Every exit before the proof period closes it: srtm-launch may have opened it, and
     * until it is closed any process that reaches the TPM can unseal the IRK. */
    if (rc != 0 && !o.no_tpm && !no_close && !held_by_another(&o))
        proof_close(o.proof.tcti, o.proof.srtm_pcr);
    return rc;
}
