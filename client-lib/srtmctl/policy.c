/*
 * srtmctl policy create: a verification policy written from the evidence of a known-good
 * platform (srtm_policy_create; docs/verifier.md, "Writing a policy from a known-good
 * platform"). Offline: reads local files only.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

typedef struct policy_args {
    const char *evidence;  /* --from EVIDENCE */
    const char *reference; /* --reference FILE, or NULL */
    const char *output;    /* -o FILE */
} policy_args;

enum { O_FROM = O_FIRST, O_REFERENCE, O_OUTPUT = 'o' };

/* The policy file, created anew (an existing file is not replaced: it may be the one in
 * use), mode 0644. */
static int write_policy(const ctx *c, const char *path, const char *text)
{
    FILE *f = fopen(path, "wxe");
    bool ok = f != NULL && fputs(text, f) >= 0;
    int saved = errno;
    if (f != NULL && fclose(f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok)
        return CTL_CONTINUE;
    if (f != NULL)
        unlink(path);
    return file_error(c, SRTM_E_IO, "cannot write policy file '%s': %s", path,
                      strerror(saved));
}

static int policy_run(ctx *c, const void *args)
{
    const policy_args *a = args;
    char *ev = NULL, *text = NULL, ref[PATH_MAX];
    size_t len = 0;
    int rc = ctl_read_input(c, "evidence file", a->evidence,
                            (size_t)SRTM_MAX_REPORT + SRTM_MAX_MESSAGE, &ev, &len); /* - : stdin */
    if (rc != CTL_CONTINUE)
        return rc;
    srtm_err err = SRTM_OK;
    /* Absolute: the policy resolves it relative to its own directory. */
    if (a->reference != NULL && realpath(a->reference, ref) == NULL)
        rc = file_error(c, SRTM_E_IO, "reference file '%s': %s", a->reference, strerror(errno));
    if (rc == CTL_CONTINUE) {
        err = srtm_policy_create((const uint8_t *)ev, len, a->reference ? ref : NULL, &text);
        if (err == SRTM_E_MALFORMED)
            rc = file_error(c, err, "evidence file '%s': not evidence whose report names "
                                    "every component by a path", a->evidence);
        else if (err != SRTM_OK)
            rc = fail(c, err);
    }
    if (rc == CTL_CONTINUE)
        rc = write_policy(c, a->output, text);
    if (rc == CTL_CONTINUE && c->g.json) {
        json_object *o = json_object_new_object();
        rc = emit_json(o, jput(o, "policy", json_object_new_string(a->output)));
    } else if (rc == CTL_CONTINUE) {
        printf("policy %s\n", a->output);
        rc = CTL_OK;
    }
    free(text);
    free(ev);
    return rc;
}

static const struct option policy_opts[] = {
    {"from", required_argument, NULL, O_FROM},
    {"reference", required_argument, NULL, O_REFERENCE},
    {"output", required_argument, NULL, O_OUTPUT},
    OPT_HELP,
    OPT_END,
};

static int policy_option(const command *cmd, int code, const char *arg, void *args)
{
    policy_args *a = args;
    switch (code) {
    case O_FROM:
        return take_string(cmd, "--from", arg, PATH_MAX - 1, &a->evidence);
    case O_REFERENCE:
        return take_string(cmd, "--reference", arg, PATH_MAX - 1, &a->reference);
    case O_OUTPUT:
        return take_string(cmd, "-o", arg, PATH_MAX - 1, &a->output);
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int policy_parse(const command *cmd, const globals *g, int argc, char **argv,
                        void *args)
{
    (void)g;
    policy_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, "o:", policy_opts, policy_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 1, 1);
    if (rc == CTL_CONTINUE && strcmp(argv[first], "create") != 0)
        rc = usage_error(cmd, "unknown subcommand '%s'", argv[first]);
    if (rc == CTL_CONTINUE && a->evidence == NULL)
        rc = usage_error(cmd, "needs --from EVIDENCE");
    if (rc == CTL_CONTINUE && a->output == NULL)
        rc = usage_error(cmd, "needs -o FILE");
    return rc;
}

const command ctl_cmd_policy = {
    .name = "policy",
    .parse = policy_parse,
    .run = policy_run,
    .args_size = sizeof(policy_args),
    .offline = true,
    .synopsis = "policy create --from EVIDENCE [--reference FILE] -o POLICY",
    .help = "Write a verification policy (docs/verifier.md) from the evidence of a platform\n"
            "you know to be good: every component of its report by its path, each CCR\n"
            "allowing exactly the measurements it holds now. The evidence is not verified.\n"
            "POLICY is created (an existing file is refused), mode 0644.\n"
            "  --from EVIDENCE   the evidence file ('srtmctl quote')\n"
            "  --reference FILE  use srtm-keymgr's reference file for the PCRs (by its\n"
            "                    absolute path); without it, the PCR values the evidence's\n"
            "                    quotes show\n"
            "  -o, --output FILE the policy file\n"
            "JSON: {\"policy\"}\n",
};
