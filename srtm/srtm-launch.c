/*
 * srtm-launch: measures srtmd and its configuration into the SRTM PCR, which brings the
 * PCRs into the SRTM-proof-PCR state the IRK is sealed to, and starts srtmd in the same
 * step:
 *
 *   srtm-launch [--config FILE] -- /path/to/srtmd --config FILE [--foreground]
 *
 * The configuration is read once and parsed with srtmd's grammar (config.h) before
 * anything is extended: a file srtmd would refuse is refused here, with the PCR unchanged.
 * The binary measured is the open file that is then executed (fexecve). If the exec fails
 * the period is closed here. `srtm-launch --close` closes it from outside (the unit's
 * ExecStopPost=, so that any stop or crash of srtmd closes it too).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "close.h"
#include "km.h"
#include "launch.h"
#include "lock.h"

extern char **environ;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: srtm-launch [--config FILE] [--tcti STRING] [--srtm-pcr N] -- SRTMD [ARG]...\n"
            "       srtm-launch --close [--config FILE] [--tcti STRING] [--srtm-pcr N]\n"
            "       srtm-launch --print --srtmd PATH [--config FILE]\n"
            "Extend the SRTM PCR with SHA-256(\"%s\" || SHA-256(srtmd) || SHA-256(config)),\n"
            "the measurement srtm-keymgr predicts, then execute srtmd (SRTMD, an absolute\n"
            "path, with its arguments, which must name the same --config FILE).\n"
            "\n"
            "  --config FILE     srtmd's configuration file (none: the empty file is measured);\n"
            "                    refused, with nothing extended, if srtmd would refuse it\n"
            "  --tcti STRING     the TPM (tctildr string), when the configuration names none;\n"
            "                    also given to srtmd\n"
            "  --srtm-pcr N      the SRTM PCR; must agree with the configuration's srtm-pcr\n"
            "                    (default: the configuration's, else 15)\n"
            "  --close           extend the close event instead: end the SRTM-proof-period\n"
            "  --print           print the measurement of --srtmd PATH and extend nothing\n"
            "  --help            show this help\n"
            "  --version         show the version\n"
            "\n"
            "Exit status: 0 closed or printed (srtmd's own status after the exec); 1 a file,\n"
            "the TPM or the exec failed (the period is closed when the TPM answers); 2 usage.\n",
            LAUNCH_TAG);
}

typedef struct launch_opts {
    const char *config_path, *tcti, *pcr, *srtmd;
    bool close, print;
    srtm_config *config;
    unsigned srtm_pcr;
} launch_opts;

static int parse_cmdline(int argc, char **argv, launch_opts *o)
{
    static const struct option opts[] = {
        {"srtmd", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"srtm-pcr", required_argument, NULL, 'p'}, {"tcti", required_argument, NULL, 't'},
        {"print", no_argument, NULL, 'P'},          {"close", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (c) {
        case 's': o->srtmd = optarg; break;
        case 'c': o->config_path = optarg; break;
        case 't': o->tcti = optarg; break;
        case 'p': o->pcr = optarg; break;
        case 'P': o->print = true; break;
        case 'C': o->close = true; break;
        case 'h': usage(stdout); exit(0);
        case 'V': printf("srtm-launch %s\n", SRTM_VERSION_STRING); exit(0);
        default: usage(stderr); return 2;
        }
    }
    return 0;
}

/* A value the command line and the configuration both give must agree: srtmd takes the
 * configuration's, and the launcher must open the period where srtmd closes it. */
static bool one_value(const launch_opts *o, config_key_id id, const char *cmdline,
                      const char **out)
{
    const char *file = config_get(o->config, id);
    if (file != NULL && cmdline != NULL && strcmp(file, cmdline) != 0) {
        fprintf(stderr, "srtm-launch: --%s %s disagrees with %s:%u (%s %s)\n",
                config_keys[id].name, cmdline, o->config_path, config_line(o->config, id),
                config_keys[id].name, file);
        return false;
    }
    *out = file != NULL ? file : cmdline;
    return true;
}

/* Load the configuration (srtmd's grammar) and settle the SRTM PCR and the TPM. */
static int settle(launch_opts *o)
{
    char msg[CONFIG_MSG_MAX];
    if (o->config_path != NULL &&
        config_load(o->config_path, &o->config, NULL, msg, sizeof(msg)) != SRTM_OK) {
        fprintf(stderr, "srtm-launch: %s (nothing extended)\n", msg);
        return 2;
    }
    const char *pcr = NULL;
    if (!one_value(o, CFG_SRTM_PCR, o->pcr, &pcr) || !one_value(o, CFG_TCTI, o->tcti, &o->tcti))
        return 2;
    o->srtm_pcr = 15;
    if (pcr != NULL && !launch_parse_pcr(pcr, &o->srtm_pcr)) {
        fprintf(stderr, "srtm-launch: srtm-pcr takes 0 to 23, not '%s'\n", pcr);
        return 2;
    }
    return 0;
}

/* The value of option name ("--config") in srtmd's arguments; NULL when absent. */
static const char *child_value(char **args, const char *name)
{
    const char *seen = NULL;
    size_t n = strlen(name);
    for (size_t i = 1; args[i] != NULL; i++) {
        if (strncmp(args[i], name, n) == 0 && args[i][n] == '=')
            seen = args[i] + n + 1;
        else if (strcmp(args[i], name) == 0 && args[i + 1] != NULL)
            seen = args[++i];
    }
    return seen;
}

/* srtmd must run with the configuration measured here and close the period on the TPM
 * extended here. */
static bool child_agrees(const launch_opts *o, char **args)
{
    const char *conf = child_value(args, "--config"), *tcti = child_value(args, "--tcti");
    /* These make srtmd exit or run without ever closing the period opened here. */
    static const char *const never_close[] = {"--no-tpm", "--help", "--version"};
    for (size_t i = 1; args[i] != NULL; i++)
        for (size_t k = 0; k < sizeof(never_close) / sizeof(never_close[0]); k++)
            if (strcmp(args[i], never_close[k]) == 0) {
                fprintf(stderr, "srtm-launch: srtmd %s would never close the period; not "
                                "launched\n",
                        never_close[k]);
                return false;
            }
    if (config_get(o->config, CFG_NO_TPM) != NULL) {
        fprintf(stderr, "srtm-launch: %s:%u: no-tpm: srtmd without a TPM has no proof period "
                        "to open; not launched\n",
                o->config_path, config_line(o->config, CFG_NO_TPM));
        return false;
    }
    if ((conf == NULL) != (o->config_path == NULL) ||
        (conf != NULL && strcmp(conf, o->config_path) != 0)) {
        fprintf(stderr, "srtm-launch: srtmd must run with the configuration measured here: "
                        "give both the same --config FILE (srtm-launch: %s, srtmd: %s)\n",
                o->config_path != NULL ? o->config_path : "none", conf != NULL ? conf : "none");
        return false;
    }
    if (tcti != NULL && (o->tcti == NULL || strcmp(tcti, o->tcti) != 0)) {
        fprintf(stderr, "srtm-launch: srtmd --tcti %s is not the TPM extended here (%s)\n", tcti,
                o->tcti != NULL ? o->tcti : "the default");
        return false;
    }
    return true;
}

static int extend(const launch_opts *o, const launch_measurement *m)
{
    km_ctx *ctx = NULL;
    srtm_err err = km_open(o->tcti, &ctx);
    if (err == SRTM_OK)
        err = km_pcr_extend(ctx, o->srtm_pcr, m->event);
    km_close(ctx);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-launch: cannot extend PCR %u: %s\n", o->srtm_pcr,
                srtm_strerror(err));
        return 1;
    }
    return 0;
}

/* srtmd's argv with --tcti added when the launcher was told the TPM and srtmd was not. */
static char **child_argv(const launch_opts *o, int n, char **args)
{
    char **v = calloc((size_t)n + 3, sizeof(*v));
    if (v == NULL)
        return NULL;
    int k = 0;
    v[k++] = args[0];
    /* First, so that srtmd knows the TPM to close even if a later argument is wrong. */
    if (o->tcti != NULL && child_value(args, "--tcti") == NULL &&
        config_get(o->config, CFG_TCTI) == NULL) {
        v[k++] = "--tcti";
        v[k++] = (char *)o->tcti;
    }
    for (int i = 1; i < n; i++)
        v[k++] = args[i];
    return v;
}

/* No srtmd may serve this TPM already (lock.h): this launch would extend the SRTM PCR
 * under it and spoil its quotes until a reboot. The same lock file srtmd takes. */
static bool tpm_free(const launch_opts *o)
{
    char dir[PATH_MAX], path[PATH_MAX];
    const char *file = config_get(o->config, CFG_LOCK_FILE);
    if (file == NULL) {
        if (!lock_runtime_dir(dir, sizeof(dir)) ||
            !lock_default_path(o->tcti, dir, path, sizeof(path)))
            return false;
        file = path;
    }
    return lock_probe(file) == SRTM_OK;
}

/* Measure the open binary, extend, execute it; close the period if the exec fails. */
static int launch_exec(const launch_opts *o, int n, char **args)
{
    if (args[0][0] != '/') {
        fprintf(stderr, "srtm-launch: give srtmd as an absolute path, not '%s'\n", args[0]);
        return 2;
    }
    if (!child_agrees(o, args))
        return 2;
    if (!tpm_free(o)) {
        fprintf(stderr, "srtm-launch: nothing extended\n");
        return 1;
    }
    char **v = child_argv(o, n, args);
    int fd = v != NULL ? open(args[0], O_RDONLY | O_CLOEXEC) : -1;
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    launch_measurement m;
    if (fd < 0 || launch_measure(self, o->config, &m) != SRTM_OK) {
        fprintf(stderr, "srtm-launch: cannot read %s: %s (nothing extended)\n", args[0],
                fd < 0 ? strerror(errno) : "read failed");
        free(v);
        return 1;
    }
    int rc = extend(o, &m);
    char hex[2 * SRTM_DIGEST_LEN + 1];
    if (rc == 0 && hex_encode(m.event, sizeof(m.event), hex, sizeof(hex)) == SRTM_OK)
        fprintf(stderr, "srtm-launch: PCR %u extended with %s; executing %s\n", o->srtm_pcr,
                hex, args[0]);
    if (rc == 0) {
        fexecve(fd, v, environ);
        fprintf(stderr, "srtm-launch: cannot execute %s: %s; closing the SRTM-proof-period\n",
                args[0], strerror(errno));
        (void)proof_close(o->tcti, o->srtm_pcr);
        rc = 1;
    }
    close(fd);
    free(v);
    return rc;
}

static int print_only(const launch_opts *o)
{
    launch_measurement m;
    char hex[2 * SRTM_DIGEST_LEN + 1];
    if (o->srtmd == NULL) {
        fprintf(stderr, "srtm-launch: --print needs --srtmd PATH\n");
        return 2;
    }
    if (launch_measure(o->srtmd, o->config, &m) != SRTM_OK ||
        hex_encode(m.event, sizeof(m.event), hex, sizeof(hex)) != SRTM_OK) {
        fprintf(stderr, "srtm-launch: cannot read %s\n", o->srtmd);
        return 1;
    }
    printf("%s\n", hex);
    return 0;
}

int main(int argc, char **argv)
{
    launch_opts o;
    memset(&o, 0, sizeof(o));
    srtm_log_detect_journal(); /* the unit's ExecStart= and ExecStopPost= */
    int rc = parse_cmdline(argc, argv, &o);
    int rest = argc - optind;
    if (rc == 0 && (int)o.close + (int)o.print + (int)(rest > 0) != 1) {
        fprintf(stderr, "srtm-launch: give one of -- SRTMD [ARG]..., --close or --print "
                        "(see --help)\n");
        rc = 2;
    }
    if (rc == 0 && o.srtmd != NULL && !o.print) {
        fprintf(stderr, "srtm-launch: --srtmd goes with --print; to launch, give srtmd after "
                        "--\n");
        rc = 2;
    }
    if (rc == 0)
        rc = settle(&o);
    if (rc == 0 && o.print)
        rc = print_only(&o);
    else if (rc == 0 && o.close)
        rc = proof_close(o.tcti, o.srtm_pcr) == SRTM_OK ? 0 : 1;
    else if (rc == 0)
        rc = launch_exec(&o, rest, argv + optind);
    config_free(o.config);
    return rc;
}
