/*
 * srtmctl's administration commands: list (every component and its quota usage) and
 * status (srtmd's own state).
 */
#include <stdio.h>

#include "ctl.h"

/* ---- list -------------------------------------------------------------------------- */

static void list_text(const srtm_components *l)
{
    for (size_t i = 0; i < srtm_components_count(l); i++) {
        printf("%llu ", (unsigned long long)srtm_components_handle(l, i));
        print_escaped(srtm_components_name(l, i), true);
        printf(" %u uid=%u pid=%u\n", (unsigned)srtm_components_ccr_count(l, i),
               (unsigned)srtm_components_peer_uid(l, i),
               (unsigned)srtm_components_peer_pid(l, i));
    }
}

static json_object *component_json(const srtm_components *l, size_t i)
{
    json_object *o = json_object_new_object();
    bool ok = jput(o, "handle", json_object_new_uint64(srtm_components_handle(l, i)));
    ok = ok && jput(o, "component", json_object_new_string(srtm_components_name(l, i)));
    ok = ok && jput(o, "ccr_count", json_object_new_uint64(srtm_components_ccr_count(l, i)));
    ok = ok && jput(o, "peer_uid", json_object_new_uint64(srtm_components_peer_uid(l, i)));
    ok = ok && jput(o, "peer_pid", json_object_new_uint64(srtm_components_peer_pid(l, i)));
    uint64_t entries = 0, bytes = 0;
    uint32_t children = 0;
    srtm_components_usage(l, i, &entries, &bytes, &children);
    ok = ok && jput(o, "log_entries", json_object_new_uint64(entries));
    ok = ok && jput(o, "log_bytes", json_object_new_uint64(bytes));
    ok = ok && jput(o, "children", json_object_new_uint64(children));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *component_item(const void *l, size_t i)
{
    return component_json(l, i);
}

static int list_json(const srtm_components *l)
{
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    bool ok = arr != NULL && fill_array(arr, srtm_components_count(l), component_item, l);
    ok = jput(o, "components", arr) && ok;
    uint64_t stored = 0, budget = 0;
    srtm_components_stored(l, &stored, &budget);
    ok = ok && jput(o, "stored_bytes", json_object_new_uint64(stored));
    ok = ok && jput(o, "memory_budget", json_object_new_uint64(budget));
    return emit_json(o, ok);
}

static int list_run(ctx *c, const void *args)
{
    (void)args;
    srtm_components *l = NULL;
    srtm_err err = srtm_list(c->conn, &l);
    if (err != SRTM_OK)
        return fail(c, err);
    int rc = CTL_OK;
    if (c->g.json)
        rc = list_json(l);
    else
        list_text(l);
    srtm_components_free(l);
    return rc;
}

static const struct option list_opts[] = {OPT_HELP, OPT_END};

static int list_parse(const command *cmd, const globals *g, int argc, char **argv, void *args)
{
    (void)g;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, list_opts, NULL, args, &first);
    return rc == CTL_CONTINUE ? ctl_count_positionals(cmd, argc - first, 0, 0) : rc;
}

const command ctl_cmd_list = {
    .name = "list",
    .parse = list_parse,
    .run = list_run,
    .args_size = 1,
    .synopsis = "list",
    .help = "Print every registered component, the platform (handle 0) included, one\n"
            "line each: 'HANDLE NAME CCRS uid=UID pid=PID' (the uid and pid of the\n"
            "process that registered it). In NAME a backslash is written '\\\\', spaces\n"
            "and control bytes '\\xHH'.\n"
            "JSON: {\"components\":[{\"component\",\"handle\",\"ccr_count\",\"peer_uid\","
            "\"peer_pid\",\"log_entries\",\"log_bytes\",\"children\"}],\"stored_bytes\","
            "\"memory_budget\"} (usage against srtmd's quotas)\n",
};

/* ---- status ------------------------------------------------------------------------ */

static void status_text(const srtm_status_info *st)
{
    printf("tpm %s\n", st->tpm ? "yes" : "no");
    if (st->tpm)
        printf("irk_scheme %s\nreset_count %u\nrestart_count %u\nquote_jobs %llu\n"
               "tpm_quotes %llu\nquotes_waiting %llu\ntpm_ok %s\n",
               st->irk_scheme, (unsigned)st->reset_count, (unsigned)st->restart_count,
               (unsigned long long)st->quote_jobs, (unsigned long long)st->tpm_quotes,
               (unsigned long long)st->quotes_waiting, st->tpm_ok ? "yes" : "no");
    for (size_t i = 0; i < st->n_listeners; i++) {
        fputs("listener ", stdout);
        print_escaped(st->listeners[i], true);
        putchar('\n');
    }
    printf("listener_restarts %u\ncomponents %llu\nlog_entries %llu\nstored_bytes %llu\n"
           "memory_budget %llu\nseq %llu\n",
           (unsigned)st->listener_restarts, (unsigned long long)st->components,
           (unsigned long long)st->log_entries, (unsigned long long)st->stored_bytes,
           (unsigned long long)st->memory_budget, (unsigned long long)st->seq);
}

/* Without a TPM the TPM's fields do not apply: left out (docs/json.md). */
static int status_json(const srtm_status_info *st)
{
    json_object *o = json_object_new_object();
    json_object *urls = json_object_new_array();
    bool ok = jput(o, "tpm", json_object_new_boolean(st->tpm));
    if (st->tpm) {
        ok = ok && jput(o, "irk_scheme", json_object_new_string(st->irk_scheme));
        ok = ok && jput(o, "reset_count", json_object_new_uint64(st->reset_count));
        ok = ok && jput(o, "restart_count", json_object_new_uint64(st->restart_count));
        ok = ok && jput(o, "quote_jobs", json_object_new_uint64(st->quote_jobs));
        ok = ok && jput(o, "tpm_quotes", json_object_new_uint64(st->tpm_quotes));
        ok = ok && jput(o, "quotes_waiting", json_object_new_uint64(st->quotes_waiting));
        ok = ok && jput(o, "tpm_ok", json_object_new_boolean(st->tpm_ok));
    }
    for (size_t i = 0; ok && urls != NULL && i < st->n_listeners; i++) {
        json_object *u = json_object_new_string(st->listeners[i]);
        if (u == NULL || json_object_array_add(urls, u) != 0) {
            json_object_put(u);
            ok = false;
        }
    }
    ok = jput(o, "listeners", urls) && ok;
    ok = ok && jput(o, "listener_restarts", json_object_new_uint64(st->listener_restarts));
    ok = ok && jput(o, "components", json_object_new_uint64(st->components));
    ok = ok && jput(o, "log_entries", json_object_new_uint64(st->log_entries));
    ok = ok && jput(o, "stored_bytes", json_object_new_uint64(st->stored_bytes));
    ok = ok && jput(o, "memory_budget", json_object_new_uint64(st->memory_budget));
    ok = ok && jput(o, "seq", json_object_new_uint64(st->seq));
    return emit_json(o, ok);
}

static int status_run(ctx *c, const void *args)
{
    (void)args;
    srtm_status_info st = {.size = sizeof(st)};
    srtm_err err = srtm_status(c->conn, &st);
    if (err != SRTM_OK)
        return fail(c, err);
    if (c->g.json)
        return status_json(&st);
    status_text(&st);
    return CTL_OK;
}

const command ctl_cmd_status = {
    .name = "status",
    .parse = list_parse, /* no options, no arguments */
    .run = status_run,
    .args_size = 1,
    .synopsis = "status",
    .help = "Print srtmd's own state, one 'KEY VALUE' line each: tpm (yes or no); with a\n"
            "TPM irk_scheme, reset_count and restart_count (the TPM boot of the IRK\n"
            "certificate), quote_jobs and tpm_quotes (joint quotes answered, TPM quotes\n"
            "made for them), quotes_waiting (queued for the TPM now) and tpm_ok (no when\n"
            "the last TPM quote failed); a 'listener URL' line per listener (the local socket first),\n"
            "listener_restarts (stalled listeners replaced), components, log_entries,\n"
            "stored_bytes and memory_budget (the quota they count against), seq. Needs no\n"
            "capability; srtmd answers on its local socket only.\n"
            "JSON: {\"tpm\"[,\"irk_scheme\",\"reset_count\",\"restart_count\",\"quote_jobs\",\n"
            "\"tpm_quotes\",\"quotes_waiting\",\"tpm_ok\"],\"listeners\":[urls],\"listener_restarts\",\"components\",\n"
            "\"log_entries\",\"stored_bytes\",\"memory_budget\",\"seq\"}\n",
};
