/*
 * srtmctl's administration commands: list (every component and its quota usage).
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
    ok = ok && jput(o, "name", json_object_new_string(srtm_components_name(l, i)));
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
            "JSON: {\"components\":[{\"handle\",\"name\",\"ccr_count\",\"peer_uid\","
            "\"peer_pid\",\"log_entries\",\"log_bytes\",\"children\"}],\"stored_bytes\","
            "\"memory_budget\"} (usage against srtmd's quotas)\n",
};
