/*
 * srtmctl's side of incremental verification (docs/verifier.md, "Incremental
 * verification"): the state file 'verify --state FILE' reads and replaces, and
 * 'state FILE', which tells a script what to ask the next quote since. Offline.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

int ctl_state_load(const ctx *c, const char *path, srtm_verify_state **out)
{
    char *blob = NULL;
    size_t len = 0;
    *out = NULL;
    srtm_err err = read_small_file(path, SRTM_MAX_REPORT, &blob, &len);
    if (err == SRTM_E_IO && errno == ENOENT)
        return CTL_CONTINUE; /* no state yet: the report is verified on its own */
    if (err == SRTM_OK)
        err = srtm_verify_state_parse((const uint8_t *)blob, len, out);
    free(blob);
    if (err == SRTM_E_IO)
        return file_error(c, err, "state file '%s' cannot be read: %s", path, strerror(errno));
    if (err != SRTM_OK)
        return file_error(c, err, "state file '%s' is not a verifier state (%s); remove it to "
                                  "verify the next report in full",
                          path, srtm_strerror(err));
    return CTL_CONTINUE;
}

int ctl_state_save(const ctx *c, const char *path, const srtm_verify_result *r)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    srtm_err err = srtm_verify_result_state(r, &blob, &len);
    if (err == SRTM_E_DENIED)
        return CTL_CONTINUE; /* the evidence failed: the old state stays */
    if (err != SRTM_OK)
        return fail(c, err);
    err = write_file_replace(path, blob, len, 0600);
    free(blob);
    if (err != SRTM_OK)
        return file_error(c, err, "cannot write state file '%s': %s", path, strerror(errno));
    return CTL_CONTINUE;
}

/* ---- state FILE --policy POLICY ---------------------------------------------------- */

typedef struct state_args {
    const char *state;  /* FILE */
    const char *policy; /* --policy FILE */
} state_args;

enum { O_POLICY = O_FIRST };

static int state_print(const ctx *c, int since, const uint8_t *instance, uint64_t seq)
{
    char hex[2 * SRTM_INSTANCE_LEN + 1] = "";
    if (since && hex_encode(instance, SRTM_INSTANCE_LEN, hex, sizeof(hex)) != SRTM_OK)
        return fail(c, SRTM_E_INTERNAL);
    if (!c->g.json) {
        if (since)
            printf("--since-instance %s --since-seq %llu\n", hex, (unsigned long long)seq);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = o != NULL;
    if (since) {
        ok = ok && jput(o, "since_instance", json_object_new_string(hex));
        ok = ok && jput(o, "since_seq", json_object_new_uint64(seq));
    }
    return emit_json(o, ok);
}

static int state_run(ctx *c, const void *args)
{
    const state_args *a = args;
    srtm_verify_state *st = NULL;
    srtm_verifier_policy *pol = NULL;
    char msg[1024];
    int rc = ctl_state_load(c, a->state, &st);
    if (rc == CTL_CONTINUE) {
        srtm_err err = srtm_policy_load(a->policy, &pol, msg, sizeof(msg));
        if (err != SRTM_OK)
            rc = file_error(c, err, "policy file '%s': %s", a->policy, msg);
    }
    if (rc == CTL_CONTINUE) {
        uint8_t instance[SRTM_INSTANCE_LEN];
        uint64_t seq = 0;
        int since = srtm_verify_state_since(st, pol, instance, &seq);
        rc = state_print(c, since, instance, seq);
    }
    srtm_policy_free(pol);
    srtm_verify_state_free(st);
    return rc;
}

static const struct option state_opts[] = {
    {"policy", required_argument, NULL, O_POLICY},
    OPT_HELP,
    OPT_END,
};

static int state_option(const command *cmd, int code, const char *arg, void *args)
{
    state_args *a = args;
    if (code == O_POLICY)
        return take_string(cmd, "--policy", arg, PATH_MAX - 1, &a->policy);
    return usage_error(cmd, "unexpected option");
}

static int state_parse(const command *cmd, const globals *g, int argc, char **argv, void *args)
{
    (void)g;
    state_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, "", state_opts, state_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 1, 1);
    if (rc == CTL_CONTINUE)
        rc = take_string(cmd, "FILE", argv[first], PATH_MAX - 16, &a->state);
    if (rc == CTL_CONTINUE && a->policy == NULL)
        rc = usage_error(cmd, "needs --policy FILE, the policy the next report is judged by");
    if (rc == CTL_CONTINUE && (ctl_is_stdio(a->state) || ctl_is_stdio(a->policy)))
        rc = usage_error(cmd, "FILE and --policy name files, not '-'");
    return rc;
}

const command ctl_cmd_state = {
    .name = "state",
    .parse = state_parse,
    .run = state_run,
    .args_size = sizeof(state_args),
    .offline = true,
    .synopsis = "state FILE --policy POLICY",
    .help = "What to ask the next quote of a host since, from the state 'srtmctl verify\n"
            "--state FILE' keeps: prints '--since-instance HEX --since-seq N', the options\n"
            "of 'srtmctl quote' for an incremental report, when the state can continue\n"
            "under POLICY; prints nothing when the next quote should be full (no state\n"
            "file yet, another policy, or a CCR whose verified entries are not all in its\n"
            "allowlist). Needs no srtmd. Exit 0 either way.\n"
            "  --policy FILE     the verification policy the next report is judged by\n"
            "JSON: {[\"since_instance\",\"since_seq\"]} (empty: quote in full)\n",
};
