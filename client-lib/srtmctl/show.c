/*
 * srtmctl show: what an evidence file holds, without a policy and without verifying it
 * (srtm_evidence_describe), as text, as JSON (--json) or the CCR logs as a TCG Canonical
 * Event Log (--format cel, srtm_evidence_cel). Offline. docs/evidence.md, "srtmctl show".
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

typedef struct show_args {
    const char *evidence;
    bool cel; /* --format cel */
} show_args;

enum { O_FORMAT = O_FIRST };

static const char *str(json_object *o, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) && v != NULL ? json_object_get_string(v) : "-";
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return v;
}

/* Entries of an array field; 0 when it is absent (nothing to list). */
static size_t alen(json_object *a)
{
    return json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static void text_quote(json_object *root, const char *key)
{
    json_object *q = get(root, key);
    if (q == NULL) {
        printf("%s none\n", key);
        return;
    }
    printf("%s reset_count %s restart_count %s clock %s qualifying_data %s\n", key,
           str(q, "reset_count"), str(q, "restart_count"), str(q, "clock"),
           str(q, "qualifying_data"));
    json_object_object_foreach(get(q, "pcrs"), pcr, val)
        printf("  pcr %s %s\n", pcr, json_object_get_string(val));
}

static void text_entry(json_object *e)
{
    if (json_object_get_boolean(get(e, "revert_marker"))) {
        printf("    entry %s seq %s revert_to_seq %s revert_by %s\n", str(e, "index"),
               str(e, "seq"), str(e, "revert_to_seq"), str(e, "revert_by_handle"));
        return;
    }
    printf("    entry %s seq %s digest %s type %s%s ", str(e, "index"), str(e, "seq"),
           str(e, "digest"), str(e, "event_type"),
           json_object_get_boolean(get(e, "reverted")) ? " reverted" : "");
    json_object *desc = get(e, "description");
    print_escaped(desc != NULL ? json_object_get_string(desc) : "", false);
    putchar('\n');
}

static void text_component(json_object *c)
{
    fputs("component ", stdout);
    json_object *path = get(c, "path");
    print_escaped(path != NULL ? json_object_get_string(path) : str(c, "component"), true);
    printf(" handle %s", str(c, "handle"));
    if (get(c, "parent_handle") != NULL)
        printf(" parent %s", str(c, "parent_handle"));
    printf("%s\n", json_object_get_boolean(get(c, "terminated")) ? " terminated" : "");
    json_object *deps = get(c, "depends_on_handles");
    for (size_t i = 0; i < alen(deps); i++)
        printf("  depends_on %s\n", json_object_get_string(json_object_array_get_idx(deps, i)));
    json_object *ch = get(c, "dependency_changes");
    for (size_t i = 0; i < alen(ch); i++) {
        json_object *d = json_object_array_get_idx(ch, i);
        printf("  dependency_change seq %s %s %s actor %s\n", str(d, "seq"),
               json_object_get_boolean(get(d, "removed")) ? "removed" : "added",
               str(d, "on_handle"), str(d, "actor_handle"));
    }
    json_object *ccrs = get(c, "ccrs");
    for (size_t i = 0; i < alen(ccrs); i++) {
        json_object *r = json_object_array_get_idx(ccrs, i);
        printf("  ccr %s %s value %s\n", str(r, "index"), str(r, "policy"), str(r, "value"));
        json_object *log = get(r, "log");
        for (size_t j = 0; j < alen(log); j++)
            text_entry(json_object_array_get_idx(log, j));
    }
}

static int show_text(const char *json)
{
    json_object *root = json_tokener_parse(json);
    if (root == NULL)
        return CTL_FAILED;
    printf("not verified: a description of the evidence, without a policy\n");
    printf("nonce %s\n", str(root, "nonce"));
    text_quote(root, "quote");
    text_quote(root, "certificate");
    printf("irk_public %s\n", str(root, "irk_public"));
    json_object *rep = get(root, "report");
    printf("report seq %s reset_count %s restart_count %s\n", str(rep, "seq"),
           str(rep, "reset_count"), str(rep, "restart_count"));
    json_object *comps = get(rep, "components");
    for (size_t i = 0; i < alen(comps); i++)
        text_component(json_object_array_get_idx(comps, i));
    json_object_put(root);
    return CTL_OK;
}

static int show_run(ctx *c, const void *args)
{
    const show_args *a = args;
    char *ev = NULL, *json = NULL;
    size_t len = 0;
    int rc = ctl_read_input(c, "evidence file", a->evidence,
                            (size_t)SRTM_MAX_REPORT + SRTM_MAX_MESSAGE, &ev, &len); /* - : stdin */
    if (rc != CTL_CONTINUE)
        return rc;
    srtm_err err = a->cel ? srtm_evidence_cel((const uint8_t *)ev, len, &json)
                 : srtm_evidence_describe((const uint8_t *)ev, len, &json);
    free(ev);
    if (err == SRTM_E_MALFORMED)
        rc = file_error(c, err, "evidence file '%s': not an evidence file", a->evidence);
    else if (err != SRTM_OK)
        rc = fail(c, err);
    else if (a->cel || c->g.json)
        rc = puts(json) >= 0 ? CTL_OK : CTL_FAILED;
    else
        rc = show_text(json);
    free(json);
    return rc;
}

static const struct option show_opts[] = {
    {"format", required_argument, NULL, O_FORMAT},
    OPT_HELP,
    OPT_END,
};

static int show_option(const command *cmd, int code, const char *arg, void *args)
{
    show_args *a = args;
    if (code != O_FORMAT)
        return usage_error(cmd, "unexpected option");
    if (strcmp(arg, "cel") == 0)
        a->cel = true;
    else if (strcmp(arg, "text") != 0)
        return usage_error(cmd, "--format is text or cel");
    return CTL_CONTINUE;
}

static int show_parse(const command *cmd, const globals *g, int argc, char **argv, void *args)
{
    (void)g;
    show_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, show_opts, show_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 1, 1);
    if (rc == CTL_CONTINUE)
        rc = take_string(cmd, "EVIDENCE", argv[first], PATH_MAX - 1, &a->evidence);
    return rc;
}

const command ctl_cmd_show = {
    .name = "show",
    .parse = show_parse,
    .run = show_run,
    .args_size = sizeof(show_args),
    .offline = true,
    .synopsis = "show EVIDENCE [--format text|cel]",
    .help = "Describe an evidence file without a policy and WITHOUT verifying it: the\n"
            "nonce, both TPM quotes (PCR values, clock, resetCount, restartCount), the IRK,\n"
            "every component with its CCR values, logs, dependency edges and records.\n"
            "  --format cel      the CCR logs as a TCG Canonical Event Log (JSON), one\n"
            "                    record per live measurement, pcr = the CCR index\n"
            "JSON (--json): docs/evidence.md, \"srtmctl show\"\n",
};
