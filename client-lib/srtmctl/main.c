/*
 * srtmctl: the command-line client of srtmd, built on the public libsrtm API only.
 *
 * This file holds the global options and the dispatch table; every command lives in its
 * family's file (ccr.c, graph.c, quote.c, admin.c) and owns its options, its argument
 * struct and its parser. Every command goes through the same phases: parse its arguments
 * (no I/O, so a usage error never touches a file or the daemon), load the capability when
 * the command mutates, connect unless it is offline, act, print. Shared helpers: args.c
 * (numbers, names, the getopt driver), errors.c (messages, exit codes, the JSON error
 * object), json.c (output), io.c (local files, '-' for stdin and stdout).
 *
 * Adding a command: write a file (or a section of its family's file) defining a
 * `const command ctl_cmd_NAME` (ctl.h), declare it in ctl.h, add the file to
 * client-lib/meson.build and add one line to commands[] below. Its JSON output follows
 * docs/json.md. The command names, options, output formats and exit codes are an
 * interface: scripts outside the project call them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* The order is the order of 'srtmctl --help'. */
static const command *const commands[] = {
    &ctl_cmd_register, &ctl_cmd_extend,    &ctl_cmd_read,  &ctl_cmd_log,
    &ctl_cmd_list,     &ctl_cmd_depend,    &ctl_cmd_undepend,
    &ctl_cmd_revert,   &ctl_cmd_terminate, &ctl_cmd_graph, &ctl_cmd_quote,
    &ctl_cmd_verify,   &ctl_cmd_state,     &ctl_cmd_status,
    &ctl_cmd_policy,   &ctl_cmd_show,
};

const char ctl_exit_help[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  srtmd refused the request or the operation failed; the reason is on stderr and,\n"
    "     with --json, also on stdout as {\"error\":{\"id\":..,\"status\":N,\"message\":..}}\n"
    "     (docs/json.md);\n"
    "     for verify: the evidence does not verify or a requested component is untrusted\n"
    "  2  usage error: a bad or missing argument, including a command that changes\n"
    "     state (register, extend, depend, undepend, revert, terminate) without --cap\n"
    "     (nothing is sent to srtmd); with --json before COMMAND, also the error\n"
    "     object, id \"usage\"\n"
    "  3  srtmd could not be reached or did not answer in time\n"
    "  4  local file problem: the --cap file, --cap-out or --file is unreadable, exists,\n"
    "     or has unsafe permissions (a capability file must be mode 0600, owned by you\n"
    "     or root); for quote, verify and state: the evidence, AIK, policy, state or\n"
    "     export files cannot be read or written, or the policy, AIK or state file is\n"
    "     malformed; the message names the file; with --json also the error object\n";

enum { O_SOCKET = O_FIRST, O_CAP, O_JSON, O_TIMEOUT, O_VERSION, O_TLS_CERT, O_TLS_KEY,
       O_TLS_CA, O_TLS_NAME };

static const struct option global_opts[] = {
    {"socket", required_argument, NULL, O_SOCKET},
    {"cap", required_argument, NULL, O_CAP},
    {"json", no_argument, NULL, O_JSON},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"tls-cert", required_argument, NULL, O_TLS_CERT},
    {"tls-key", required_argument, NULL, O_TLS_KEY},
    {"tls-ca", required_argument, NULL, O_TLS_CA},
    {"tls-server-name", required_argument, NULL, O_TLS_NAME},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    OPT_END,
};

static void usage(void)
{
    printf("Usage: srtmctl [--socket URL] [--cap FILE] [--json] [--timeout MS] [--tls-...]\n"
           "               COMMAND [ARGS]\n"
           "Command-line client of srtmd, the Software-based Root of Trust for Measurement.\n"
           "\n"
           "Global options (before COMMAND):\n"
           "  --socket URL   srtmd endpoint (default $SRTM_SOCKET, else libsrtm's default)\n"
           "  --cap FILE     capability file authorising a change: the parent's for\n"
           "                 register (the admin capability for children of component 0)\n"
           "                 and terminate, the component's own for extend, the actor's\n"
           "                 for depend, undepend and revert\n"
           "  --json         print the result (or the error) as one JSON object\n"
           "  --timeout MS   wait at most MS milliseconds for each answer (default 10000)\n"
           "  --tls-cert FILE, --tls-key FILE, --tls-ca FILE\n"
           "                 for a tls+tcp:// socket (mutual TLS): this client's\n"
           "                 certificate and key, and the CA srtmd's certificate must\n"
           "                 chain to (PEM); all three are needed\n"
           "  --tls-server-name NAME\n"
           "                 the name srtmd's certificate must carry (default: the\n"
           "                 socket URL's host)\n"
           "  --help         show this help; 'srtmctl COMMAND --help' describes COMMAND\n"
           "  --version      show the version\n"
           "\n"
           "Commands:\n");
    for (size_t i = 0; i < SRTM_ARRAY_LEN(commands); i++)
        printf("  %s\n", commands[i]->synopsis);
    printf("\n%s", ctl_exit_help);
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < SRTM_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    return NULL;
}

bool is_global_option(const char *arg)
{
    for (const struct option *o = global_opts; o->name != NULL; o++) {
        size_t n = strlen(o->name);
        if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, o->name, n) == 0 &&
            (arg[2 + n] == '\0' || arg[2 + n] == '='))
            return true;
    }
    return false;
}

static int global_option(int code, const char *arg, globals *g)
{
    uint32_t ms = 0;
    switch (code) {
    case O_SOCKET:
        return take_string(NULL, "--socket", arg, MAX_URL, &g->socket);
    case O_CAP:
        return take_string(NULL, "--cap", arg, PATH_MAX - 1, &g->cap_path);
    case O_JSON:
        g->json = true;
        return CTL_CONTINUE;
    case O_TLS_CERT:
        return take_string(NULL, "--tls-cert", arg, PATH_MAX - 1, &g->tls_cert);
    case O_TLS_KEY:
        return take_string(NULL, "--tls-key", arg, PATH_MAX - 1, &g->tls_key);
    case O_TLS_CA:
        return take_string(NULL, "--tls-ca", arg, PATH_MAX - 1, &g->tls_ca);
    case O_TLS_NAME:
        return take_string(NULL, "--tls-server-name", arg, 255, &g->tls_name);
    case O_TIMEOUT:
        if (!parse_u32(arg, INT32_MAX, &ms) || ms == 0)
            return usage_error(NULL, "--timeout takes milliseconds, from 1 to %d", INT32_MAX);
        g->timeout_ms = (int32_t)ms;
        return CTL_CONTINUE;
    case O_HELP:
        usage();
        return CTL_OK;
    case O_VERSION:
        printf("srtmctl %s (libsrtm %s)\n", SRTM_VERSION_STRING, srtm_version());
        return CTL_OK;
    default:
        return usage_error(NULL, "unexpected option");
    }
}

/* Global options stop at the first non-option ('+'): what follows belongs to COMMAND.
 * *cmd_index is the index of COMMAND in argv. */
static int parse_globals(int argc, char **argv, globals *g, int *cmd_index)
{
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+:", global_opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return bad_option(NULL, c, argv);
        int rc = global_option(c, optarg, g);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return usage_error(NULL, "no command given");
    if (g->socket == NULL) {
        const char *env = getenv("SRTM_SOCKET");
        if (env != NULL && env[0] != '\0' && strnlen(env, MAX_URL + 1) <= MAX_URL)
            g->socket = env;
    }
    *cmd_index = optind;
    return CTL_CONTINUE;
}

static int load_cap(ctx *c, const command *cmd)
{
    if (c->g.cap_path == NULL)
        return usage_error(cmd, "needs --cap FILE before the command");
    errno = 0;
    srtm_err err = srtm_cap_load(c->g.cap_path, &c->cap);
    if (err == SRTM_E_IO && errno != 0)
        return file_error(c, err, "capability file '%s' cannot be read: %s", c->g.cap_path,
                          strerror(errno));
    if (err != SRTM_OK)
        return file_error(c, err, "capability file '%s' %s", c->g.cap_path,
                          cap_load_reason(err));
    return CTL_CONTINUE;
}

static int run_command(ctx *c, const command *cmd, const void *args)
{
    if (cmd->needs_cap) {
        int rc = load_cap(c, cmd);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    if (cmd->offline)
        return cmd->run(c, args);
    bool tls = c->g.tls_cert != NULL || c->g.tls_key != NULL || c->g.tls_ca != NULL;
    if (tls && (c->g.tls_cert == NULL || c->g.tls_key == NULL || c->g.tls_ca == NULL))
        return usage_error(NULL, "--tls-cert, --tls-key and --tls-ca go together");
    srtm_err err = tls ? srtm_open_tls(c->g.socket, c->g.tls_cert, c->g.tls_key, c->g.tls_ca,
                                       c->g.tls_name, &c->conn)
                       : srtm_open(c->g.socket, &c->conn);
    if (err == SRTM_OK && c->g.timeout_ms > 0)
        err = srtm_set_timeout(c->conn, c->g.timeout_ms);
    int rc = err == SRTM_OK ? cmd->run(c, args) : fail(c, err);
    srtm_close(c->conn);
    c->conn = NULL;
    return rc;
}

/* Output that never reached stdout (a full disk, a closed pipe) is a failure too. */
static int finish_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "srtmctl: cannot write output: %s\n", strerror(errno));
        return rc == CTL_OK ? CTL_FAILED : rc;
    }
    return rc;
}

/* Whether --json comes before the command, so that a usage error found before the
 * global options are parsed prints the error object too. */
static bool wants_json(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            return true;
        if (find_command(argv[i]) != NULL)
            return false;
    }
    return false;
}

int main(int argc, char **argv)
{
    ctx c;
    memset(&c, 0, sizeof(c));
    ctl_set_json_errors(wants_json(argc, argv));
    int cmd_index = 0;
    int rc = parse_globals(argc, argv, &c.g, &cmd_index);
    const command *cmd = NULL;
    if (rc == CTL_CONTINUE) {
        cmd = find_command(argv[cmd_index]);
        if (cmd == NULL)
            rc = usage_error(NULL, "unknown command '%s'", argv[cmd_index]);
    }
    void *args = NULL;
    if (rc == CTL_CONTINUE && (args = calloc(1, cmd->args_size)) == NULL) {
        fprintf(stderr, "srtmctl: out of memory\n");
        rc = CTL_FAILED;
    }
    if (rc == CTL_CONTINUE)
        rc = cmd->parse(cmd, &c.g, argc - cmd_index, argv + cmd_index, args);
    if (rc == CTL_CONTINUE)
        rc = run_command(&c, cmd, args);
    free(args);
    srtm_cap_wipe(&c.cap);
    return finish_output(rc);
}
