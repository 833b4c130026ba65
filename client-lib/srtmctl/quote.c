/*
 * srtmctl's attestation commands: quote (ask srtmd for evidence, optionally exported for
 * tpm2-tools) and verify (judge evidence offline, without srtmd).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* ---- quote ------------------------------------------------------------------------- */

typedef struct quote_args {
    uint8_t nonce[SRTM_MAX_NONCE];
    size_t nonce_len;
    const char *output;       /* -o EVIDENCE */
    const char *export_dir;   /* --export-tpm DIR */
    const char *const *names; /* NAME... (points into argv) */
    size_t n_names;
    uint8_t since_instance[SRTM_INSTANCE_LEN]; /* --since-instance HEX32 */
    bool has_since_instance;
    uint64_t since_seq; /* --since-seq N */
    bool has_since_seq;
} quote_args;

/* Write len bytes to path with mode 0644 through a temporary file and a rename, so a
 * reader never sees half an evidence file. */
static srtm_err write_public_file(const char *path, const uint8_t *data, size_t len)
{
    return write_file_replace(path, data, len, 0644);
}

static int quote_output(const ctx *c, const quote_args *a, size_t len)
{
    if (ctl_is_stdio(a->output))
        return CTL_OK; /* the evidence itself is the output */
    if (!c->g.json) {
        printf("evidence %s %zu\n", a->output, len);
        if (a->export_dir != NULL)
            printf("export_tpm %s\n", a->export_dir);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = jput(o, "evidence", json_object_new_string(a->output));
    ok = ok && jput(o, "bytes", json_object_new_uint64(len));
    if (a->export_dir != NULL)
        ok = ok && jput(o, "export_tpm", json_object_new_string(a->export_dir));
    return emit_json(o, ok);
}

static int export_tpm(const ctx *c, const quote_args *a, const uint8_t *ev, size_t len)
{
    if (mkdir(a->export_dir, 0755) != 0 && errno != EEXIST)
        return file_error(c, SRTM_E_IO, "--export-tpm directory '%s': %s", a->export_dir,
                          strerror(errno));
    srtm_err err = srtm_evidence_export_tpm(ev, len, a->export_dir);
    if (err == SRTM_E_IO)
        return file_error(c, err, "--export-tpm directory '%s': cannot write: %s",
                          a->export_dir, strerror(errno));
    return err == SRTM_OK ? CTL_CONTINUE : fail(c, err);
}

static int quote_run(ctx *c, const void *args)
{
    const quote_args *a = args;
    uint8_t *ev = NULL;
    size_t len = 0;
    srtm_err err =
        a->has_since_instance
            ? srtm_quote_since(c->conn, a->nonce, a->nonce_len, a->names, a->n_names, true,
                               a->since_instance, a->since_seq, &ev, &len)
            : srtm_quote(c->conn, a->nonce, a->nonce_len, a->names, a->n_names, &ev, &len);
    if (err != SRTM_OK)
        return fail(c, err);
    int rc = CTL_CONTINUE;
    if (ctl_is_stdio(a->output)) {
        if (fwrite(ev, 1, len, stdout) != len)
            rc = file_error(c, SRTM_E_IO, "cannot write the evidence to stdout: %s",
                            strerror(errno));
    } else if (write_public_file(a->output, ev, len) != SRTM_OK)
        rc = file_error(c, SRTM_E_IO, "cannot write evidence file '%s': %s", a->output,
                        strerror(errno));
    if (rc == CTL_CONTINUE && a->export_dir != NULL)
        rc = export_tpm(c, a, ev, len);
    if (rc == CTL_CONTINUE)
        rc = quote_output(c, a, len);
    free(ev);
    return rc;
}

enum {
    O_NONCE = O_FIRST,
    O_OUTPUT = 'o',
    O_EXPORT_TPM = O_FIRST + 1,
    O_AIK,
    O_POLICY,
    O_EAR,
    O_SINCE_INSTANCE,
    O_SINCE_SEQ,
    O_STATE = O_FIRST + 20,
};

static const struct option quote_opts[] = {
    {"nonce", required_argument, NULL, O_NONCE},
    {"output", required_argument, NULL, O_OUTPUT},
    {"export-tpm", required_argument, NULL, O_EXPORT_TPM},
    {"since-instance", required_argument, NULL, O_SINCE_INSTANCE},
    {"since-seq", required_argument, NULL, O_SINCE_SEQ},
    OPT_HELP,
    OPT_END,
};

static int quote_option(const command *cmd, int code, const char *arg, void *args)
{
    quote_args *a = args;
    switch (code) {
    case O_NONCE:
        return ctl_take_nonce(cmd, arg, a->nonce, &a->nonce_len);
    case O_OUTPUT:
        return take_string(cmd, "-o", arg, PATH_MAX - 1, &a->output);
    case O_EXPORT_TPM:
        return take_string(cmd, "--export-tpm", arg, PATH_MAX - 64, &a->export_dir);
    case O_SINCE_INSTANCE:
        if (strnlen(arg, 2 * SRTM_INSTANCE_LEN + 1) != 2 * SRTM_INSTANCE_LEN ||
            hex_decode(arg, 2 * SRTM_INSTANCE_LEN, a->since_instance, SRTM_INSTANCE_LEN) !=
                SRTM_OK)
            return usage_error(cmd, "--since-instance takes the %u-byte srtm instance as %u "
                                    "hex digits, not '%s'",
                               SRTM_INSTANCE_LEN, 2 * SRTM_INSTANCE_LEN, arg);
        a->has_since_instance = true;
        return CTL_CONTINUE;
    case O_SINCE_SEQ:
        if (!parse_u64(arg, UINT64_MAX, &a->since_seq))
            return usage_error(cmd, "--since-seq takes a sequence number, not '%s'", arg);
        a->has_since_seq = true;
        return CTL_CONTINUE;
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int quote_parse(const command *cmd, const globals *g, int argc, char **argv, void *args)
{
    quote_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, "o:", quote_opts, quote_option, a, &first);
    int n = argc - first;
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, n, 0, SRTM_MAX_LIST_PAGE);
    for (int i = 0; rc == CTL_CONTINUE && i < n; i++) {
        const char *ignored;
        rc = take_string(cmd, "NAME", argv[first + i], SRTM_MAX_NAME, &ignored);
    }
    a->names = (const char *const *)(argv + first);
    a->n_names = (size_t)n;
    if (rc == CTL_CONTINUE && a->nonce_len == 0)
        rc = usage_error(cmd, "needs --nonce HEX (%u to %u bytes)", SRTM_MIN_NONCE,
                         SRTM_MAX_NONCE);
    if (rc == CTL_CONTINUE && a->output == NULL)
        rc = usage_error(cmd, "needs -o EVIDENCE");
    if (rc == CTL_CONTINUE && a->has_since_instance != a->has_since_seq)
        rc = usage_error(cmd, "--since-instance and --since-seq go together");
    if (rc == CTL_CONTINUE && ctl_is_stdio(a->output) && g->json)
        rc = usage_error(cmd, "-o - (the evidence on stdout) and --json exclude each other");
    return rc;
}

const command ctl_cmd_quote = {
    .name = "quote",
    .parse = quote_parse,
    .run = quote_run,
    .args_size = sizeof(quote_args),
    .synopsis = "quote --nonce HEX [NAME...] -o EVIDENCE [--export-tpm DIR] "
                "[--since-instance HEX32 --since-seq N]",
    .help = "Ask srtmd for a joint quote over the named components (all when none is\n"
            "named): a CCR report signed with the IRK and a TPM quote with the AIK, bound\n"
            "to the nonce. Writes the evidence (mode 0644, replacing EVIDENCE) and prints\n"
            "'evidence EVIDENCE BYTES'. Nothing is verified: use 'srtmctl verify'.\n"
            "  --nonce HEX       the verifier's nonce, 16 to 64 bytes in hex\n"
            "  -o, --output FILE the evidence file ('-': stdout, the evidence only; not\n"
            "                    with --json)\n"
            "  --since-instance HEX32, --since-seq N\n"
            "                    ask for an incremental report after the report of this\n"
            "                    srtmd run (its srtm_instance, 32 hex digits, and seq) the\n"
            "                    verifier last verified: each IRREVERSIBLE CCR's log from the\n"
            "                    first entry after N, with the value before it; srtmd answers\n"
            "                    in full when the instance is not its own or N is 0 or ahead\n"
            "                    of it (docs/protocol.md, \"Incremental quotes\"). Both or\n"
            "                    neither\n"
            "  --export-tpm DIR  also write the TPM part for tpm2-tools into DIR (created\n"
            "                    if missing): quote.attest, quote.sig (DER), quote.pcrs\n"
            "                    (tpm2_quote's format), quote.pcrvalues (raw), pcrs.txt,\n"
            "                    nonce.hex (the quote's qualifyingData), and\n"
            "                    the same with the prefix 'certificate.' for the IRK\n"
            "                    certificate; check them with\n"
            "    tpm2_checkquote -u AIK.pem -m DIR/quote.attest -s DIR/quote.sig \\\n"
            "      -f DIR/quote.pcrs -g sha256 -q $(cat DIR/nonce.hex)\n"
            "JSON: {\"evidence\",\"bytes\"[,\"export_tpm\"]}\n",
};

/* ---- verify ------------------------------------------------------------------------ */

typedef struct verify_args {
    uint8_t nonce[SRTM_MAX_NONCE];
    size_t nonce_len;
    const char *evidence; /* EVIDENCE */
    const char *aik;      /* --aik FILE */
    const char *policy;   /* --policy FILE */
    const char *ear_key;  /* --ear KEY.pem */
    const char *output;   /* -o FILE: the EAR */
    const char *state;    /* --state FILE: read, then replaced after verified evidence */
} verify_args;

static void verify_text(const srtm_verify_result *r)
{
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++) {
        if (srtm_verify_result_check_ok(r, i))
            continue;
        printf("check %s: failed: ", srtm_verify_result_check_name(r, i));
        print_escaped(srtm_verify_result_check_reason(r, i), false);
        putchar('\n');
    }
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++) {
        /* The path says which component it is; the name alone may be taken by another. */
        const char *path = srtm_verify_result_component_path(r, i);
        print_escaped(path[0] != '\0' ? path : srtm_verify_result_component_name(r, i), false);
        if (srtm_verify_result_component_trusted(r, i)) {
            fputs(": trusted\n", stdout);
            continue;
        }
        fputs(": untrusted: ", stdout);
        for (size_t j = 0; j < srtm_verify_result_component_reason_count(r, i); j++) {
            if (j > 0)
                fputs("; ", stdout);
            print_escaped(srtm_verify_result_component_reason(r, i, j), false);
        }
        putchar('\n');
    }
}

static json_object *check_item(const void *r, size_t i)
{
    json_object *o = json_object_new_object();
    bool passed = srtm_verify_result_check_ok(r, i);
    bool ok = jput(o, "check", json_object_new_string(srtm_verify_result_check_name(r, i)));
    ok = ok && jput(o, "ok", json_object_new_boolean(passed));
    if (!passed)
        ok = ok &&
             jput(o, "reason", json_object_new_string(srtm_verify_result_check_reason(r, i)));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *verdict_item(const void *r, size_t i)
{
    json_object *o = json_object_new_object();
    json_object *reasons = json_object_new_array();
    const char *path = srtm_verify_result_component_path(r, i);
    size_t n = srtm_verify_result_component_reason_count(r, i);
    bool ok = jput(o, "component",
                   json_object_new_string(srtm_verify_result_component_name(r, i)));
    if (path[0] != '\0')
        ok = ok && jput(o, "path", json_object_new_string(path));
    ok = ok &&
         jput(o, "trusted", json_object_new_boolean(srtm_verify_result_component_trusted(r, i)));
    for (size_t j = 0; ok && j < n; j++) {
        json_object *s = json_object_new_string(srtm_verify_result_component_reason(r, i, j));
        if (s == NULL || json_object_array_add(reasons, s) != 0) {
            json_object_put(s);
            ok = false;
        }
    }
    if (n > 0)
        ok = jput(o, "reasons", reasons) && ok;
    else
        json_object_put(reasons);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static int verify_json(const srtm_verify_result *r)
{
    json_object *o = json_object_new_object();
    bool ok = jput(o, "ok", json_object_new_boolean(srtm_verify_result_ok(r)));
    if (srtm_verify_result_needs_full(r))
        ok = ok && jput(o, "needs_full", json_object_new_boolean(true));
    json_object *checks = json_object_new_array();
    ok = checks != NULL &&
         fill_array(checks, srtm_verify_result_check_count(r), check_item, r) && ok;
    ok = jput(o, "checks", checks) && ok;
    json_object *comps = json_object_new_array();
    ok = comps != NULL &&
         fill_array(comps, srtm_verify_result_component_count(r), verdict_item, r) && ok;
    ok = jput(o, "components", comps) && ok;
    return emit_json(o, ok);
}

/* The three local inputs; any problem is exit 4 with the file named. */
/* The policy from a file, or from stdin ("-"; a "reference_file" in it is looked for in
 * the current directory). */
static int verify_policy(const ctx *c, const char *path, srtm_verifier_policy **pol)
{
    char msg[1024];
    char *text = NULL;
    size_t len = 0;
    srtm_err err = SRTM_OK;
    if (!ctl_is_stdio(path)) {
        err = srtm_policy_load(path, pol, msg, sizeof(msg));
    } else {
        int rc = ctl_read_input(c, "policy file", path, CTL_MAX_POLICY, &text, &len);
        if (rc != CTL_CONTINUE)
            return rc;
        err = srtm_policy_parse(text, len, ".", pol, msg, sizeof(msg));
        free(text);
    }
    if (err != SRTM_OK)
        return file_error(c, err, "policy file '%s': %s", ctl_is_stdio(path) ? "stdin" : path,
                          msg);
    return CTL_CONTINUE;
}

/* The three local inputs; any problem is exit 4 with the file named. */
static int verify_inputs(const ctx *c, const verify_args *a, uint8_t **ev, size_t *ev_len,
                         char **pem, srtm_verifier_policy **pol)
{
    size_t pem_len = 0;
    int rc = ctl_read_input(c, "evidence file", a->evidence,
                            (size_t)SRTM_MAX_REPORT + SRTM_MAX_MESSAGE, (char **)ev, ev_len);
    if (rc == CTL_CONTINUE)
        rc = ctl_read_input(c, "AIK file", a->aik, 64 * 1024, pem, &pem_len);
    if (rc == CTL_CONTINUE)
        rc = verify_policy(c, a->policy, pol);
    return rc;
}

/* Bytes that are not evidence at all fail every check for the same reason: say so once. */
static bool not_evidence(const srtm_verify_result *r)
{
    return srtm_verify_result_check_count(r) > 0 &&
           strcmp(srtm_verify_result_check_name(r, 0), "evidence-parse") == 0 &&
           !srtm_verify_result_check_ok(r, 0);
}

static int verify_not_evidence(const ctx *c, const verify_args *a, const srtm_verify_result *r)
{
    char msg[PATH_MAX + 512];
    snprintf(msg, sizeof(msg), "'%s' is not an evidence file (%s)",
             ctl_is_stdio(a->evidence) ? "stdin" : a->evidence,
             srtm_verify_result_check_reason(r, 0));
    fprintf(stderr, "srtmctl: verify: %s\n", msg);
    json_error(c, SRTM_E_MALFORMED, msg);
    return CTL_FAILED;
}

/* The verdict as a signed EAR (docs/verifier.md), written whatever the verdict: a
 * relying party learns "contraindicated" from it too. */
static int verify_ear(const ctx *c, const verify_args *a, const srtm_verify_result *r)
{
    uint8_t policy_sha[SRTM_DIGEST_LEN];
    char *pem = NULL, *jwt = NULL;
    size_t pem_len = 0;
    srtm_err err = srtm_sha256_file(a->policy, policy_sha);
    if (err != SRTM_OK)
        return file_error(c, err, "policy file '%s': %s", a->policy, strerror(errno));
    err = read_small_file(a->ear_key, 64 * 1024, &pem, &pem_len);
    if (err != SRTM_OK)
        return file_error(c, err, "EAR key file '%s': %s", a->ear_key,
                          err == SRTM_E_IO ? strerror(errno) : srtm_strerror(err));
    err = srtm_verify_result_ear(r, a->nonce, a->nonce_len, policy_sha, pem, (int64_t)time(NULL),
                                 &jwt);
    explicit_bzero(pem, pem_len); /* a private key */
    free(pem);
    int rc = CTL_CONTINUE;
    if (err == SRTM_E_INVALID)
        rc = file_error(c, err, "EAR key file '%s' is not the PEM of a P-256 private key",
                        a->ear_key);
    else if (err != SRTM_OK)
        rc = fail(c, err);
    else if (write_public_file(a->output, (const uint8_t *)jwt, strlen(jwt)) != SRTM_OK)
        rc = file_error(c, SRTM_E_IO, "cannot write EAR file '%s': %s", a->output,
                        strerror(errno));
    free(jwt);
    return rc;
}

static int verify_run(ctx *c, const void *args)
{
    const verify_args *a = args;
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    char *pem = NULL;
    srtm_verifier_policy *pol = NULL;
    srtm_verify_result *r = NULL;
    srtm_verify_state *st = NULL;
    int rc = verify_inputs(c, a, &ev, &ev_len, &pem, &pol);
    if (rc == CTL_CONTINUE && a->state != NULL)
        rc = ctl_state_load(c, a->state, &st);
    if (rc == CTL_CONTINUE) {
        srtm_err err =
            srtm_verify_with_state(ev, ev_len, pem, pol, a->nonce, a->nonce_len, st, &r);
        if (err == SRTM_E_INVALID)
            rc = file_error(c, err, "AIK file '%s' is not the PEM of a P-256 public key",
                            a->aik);
        else if (err != SRTM_OK && err != SRTM_E_DENIED)
            rc = fail(c, err);
        else if (not_evidence(r))
            rc = verify_not_evidence(c, a, r);
        else if (a->state != NULL && (rc = ctl_state_save(c, a->state, r)) != CTL_CONTINUE)
            ;
        else if (a->ear_key != NULL && (rc = verify_ear(c, a, r)) != CTL_CONTINUE)
            ;
        else if (c->g.json)
            rc = verify_json(r) == CTL_OK && err == SRTM_OK ? CTL_OK : CTL_FAILED;
        else {
            verify_text(r);
            rc = err == SRTM_OK ? CTL_OK : CTL_FAILED;
        }
    }
    srtm_verify_result_free(r);
    srtm_verify_state_free(st);
    srtm_policy_free(pol);
    free(pem);
    free(ev);
    return rc;
}

static const struct option verify_opts[] = {
    {"nonce", required_argument, NULL, O_NONCE},
    {"aik", required_argument, NULL, O_AIK},
    {"policy", required_argument, NULL, O_POLICY},
    {"ear", required_argument, NULL, O_EAR},
    {"output", required_argument, NULL, O_OUTPUT},
    {"state", required_argument, NULL, O_STATE},
    OPT_HELP,
    OPT_END,
};

static int verify_option(const command *cmd, int code, const char *arg, void *args)
{
    verify_args *a = args;
    switch (code) {
    case O_NONCE:
        return ctl_take_nonce(cmd, arg, a->nonce, &a->nonce_len);
    case O_AIK:
        return take_string(cmd, "--aik", arg, PATH_MAX - 1, &a->aik);
    case O_POLICY:
        return take_string(cmd, "--policy", arg, PATH_MAX - 1, &a->policy);
    case O_EAR:
        return take_string(cmd, "--ear", arg, PATH_MAX - 1, &a->ear_key);
    case O_OUTPUT:
        return take_string(cmd, "-o", arg, PATH_MAX - 1, &a->output);
    case O_STATE:
        return take_string(cmd, "--state", arg, PATH_MAX - 16, &a->state);
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int verify_parse(const command *cmd, const globals *g, int argc, char **argv,
                        void *args)
{
    (void)g;
    verify_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, "o:", verify_opts, verify_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 1, 1);
    if (rc == CTL_CONTINUE)
        rc = take_string(cmd, "EVIDENCE", argv[first], PATH_MAX - 1, &a->evidence);
    if (rc == CTL_CONTINUE && a->nonce_len == 0)
        rc = usage_error(cmd, "needs --nonce HEX, the nonce the quote was asked with");
    if (rc == CTL_CONTINUE && a->aik == NULL)
        rc = usage_error(cmd, "needs --aik FILE");
    if (rc == CTL_CONTINUE && a->policy == NULL)
        rc = usage_error(cmd, "needs --policy FILE");
    if (rc == CTL_CONTINUE && (a->ear_key == NULL) != (a->output == NULL))
        rc = usage_error(cmd, "--ear KEY.pem and -o FILE go together");
    if (rc == CTL_CONTINUE && ctl_is_stdio(a->evidence) + ctl_is_stdio(a->aik) +
                                      ctl_is_stdio(a->policy) > 1)
        rc = usage_error(cmd, "only one of EVIDENCE, --aik and --policy can be '-' (stdin)");
    if (rc == CTL_CONTINUE && a->ear_key != NULL && ctl_is_stdio(a->policy))
        rc = usage_error(cmd, "--ear needs the policy as a file: its SHA-256 names it");
    if (rc == CTL_CONTINUE && a->state != NULL && ctl_is_stdio(a->state))
        rc = usage_error(cmd, "--state names a file that is read and replaced, not '-'");
    return rc;
}

const command ctl_cmd_verify = {
    .name = "verify",
    .parse = verify_parse,
    .run = verify_run,
    .args_size = sizeof(verify_args),
    .offline = true,
    .synopsis = "verify EVIDENCE --aik AIK.pem --policy POLICY --nonce HEX [--ear KEY.pem -o FILE] "
                "[--state FILE]",
    .help = "Verify an evidence file (from 'srtmctl quote') against the AIK public key you\n"
            "trust, a policy (docs/verifier.md) and the nonce you asked the quote with.\n"
            "Needs no srtmd. Prints 'check NAME: failed: REASON' for every failed\n"
            "evidence-level check, then one line per component: 'NAME: trusted' or\n"
            "'NAME: untrusted: REASON; REASON'. Exit 0 only if every check passed and\n"
            "every requested component (the policy's \"require\", or else every\n"
            "component in the report) is trusted; 1 otherwise.\n"
            "  --aik FILE        the AIK public key (PEM, from srtm-keymgr enroll)\n"
            "  --policy FILE     the verification policy (JSON)\n"
            "EVIDENCE, the AIK or the policy (one of them) may be '-': stdin. Bytes that are\n"
            "not evidence at all are reported once: 'not an evidence file' (exit 1).\n"
            "  --nonce HEX       the nonce given to 'srtmctl quote'\n"
            "  --ear KEY.pem     also write the verdict as an EAR attestation result, a JWT\n"
            "                    signed with this P-256 private key (ES256), whatever the\n"
            "  -o, --output FILE verdict, into FILE (mode 0644; docs/verifier.md)\n"
            "  --state FILE      incremental verification: judge the evidence with the state\n"
            "                    of the host's last verified report kept in FILE (none if\n"
            "                    FILE does not exist), and when every evidence-level check\n"
            "                    passed replace FILE with the new state (mode 0600). Check\n"
            "                    'continuity' refuses a log that does not extend what was\n"
            "                    verified in the same srtmd run; its reason starts with\n"
            "                    'cannot continue: ' (JSON \"needs_full\": true) when only\n"
            "                    the state could not be used: quote in full and verify\n"
            "                    again. 'srtmctl state FILE' says what to quote since.\n"
            "JSON: {\"ok\"[,\"needs_full\"],\"checks\":[{\"check\",\"ok\"[,\"reason\"]}],"
            "\"components\":[{\"component\"[,\"path\"],\"trusted\"[,\"reasons\":[]]}]}\n"
            "(\"reason\" and \"reasons\" only for what failed)\n",
};
