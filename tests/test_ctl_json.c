/*
 * srtmctl's one JSON vocabulary (docs/json.md) and its honest errors, end to end: the built
 * binary ($SRTMCTL) against a real srtmd (--no-tpm) started per test, and the verifier
 * against the evidence in tests/data/example. Every command runs with --json and every
 * object it prints is walked: a component is "component" (never "name"), nothing is an
 * empty string, null only where docs/json.md allows it, errors have the documented shape.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include <srtm/srtm.h>

#include "helpers.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct run_result {
    int rc;
    char out[65536];
    char err[8192];
} run_result;

static test_daemon D;
static run_result R;

static void ctl_argv(const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = test_binary("SRTMCTL");
    for (size_t i = 0; args[i] != NULL; i++) {
        cr_assert(n < ARRAY_LEN(argv) - 1, "too many arguments for srtmctl");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    R.rc = test_run(argv, R.out, sizeof(R.out), R.err, sizeof(R.err));
}

#define CTL(...) ctl_argv((const char *const[]){__VA_ARGS__, NULL})
#define CTL_D(...) CTL("--socket", D.url, __VA_ARGS__)
#define CTL_CAP(cap, ...) CTL("--socket", D.url, "--cap", cap, __VA_ARGS__)
#define ASSERT_RC(want)                                                                    \
    cr_assert_eq(R.rc, (want), "srtmctl exited %d, want %d\nstdout: %s\nstderr: %s", R.rc,  \
                 (want), R.out, R.err)

static void setup(void)
{
    test_daemon_start(&D, NULL);
}

static void teardown(void)
{
    test_daemon_stop_checked(&D);
}

TestSuite(ctl_json, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(ctl_json_offline, .timeout = 60);

/* ---- the vocabulary check ---- */

/* The one JSON object of R.out, a single line. */
static json_object *out_json(void)
{
    size_t len = strlen(R.out);
    cr_assert(len > 0 && R.out[len - 1] == '\n', "JSON output must end with a newline: %s",
              R.out);
    cr_assert_null(memchr(R.out, '\n', len - 1), "JSON output must be one line: %s", R.out);
    json_object *o = json_tokener_parse(R.out);
    cr_assert(o != NULL && json_object_is_type(o, json_type_object), "not an object: %s", R.out);
    return o;
}

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
              json_object_to_json_string(o));
    return v;
}

static bool has(json_object *o, const char *key)
{
    return json_object_object_get_ex(o, key, NULL);
}

/*
 * Walks v: no key "name" or "code" anywhere, no empty string, no null except inside a
 * "depends_on" array, and an object with "handle" (a component) also has "component".
 * path says where, for the message.
 */
static void check_vocabulary(json_object *v, const char *path, bool null_ok)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        cr_assert(null_ok, "null at %s: %s", path, R.out);
        return;
    case json_type_string:
        cr_assert_gt(json_object_get_string_len(v), 0, "empty string at %s: %s", path, R.out);
        return;
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(v); i++)
            check_vocabulary(json_object_array_get_idx(v, i), path,
                             strstr(path, ".depends_on") != NULL);
        return;
    case json_type_object: {
        json_object_object_foreach(v, key, val)
        {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.%s", path, key);
            cr_assert(strcmp(key, "name") != 0, "\"name\" at %s: %s", sub, R.out);
            cr_assert(strcmp(key, "code") != 0, "\"code\" at %s: %s", sub, R.out);
            check_vocabulary(val, sub, false);
        }
        if (has(v, "handle"))
            cr_assert(has(v, "component"), "a handle without its component at %s: %s", path,
                      R.out);
        return;
    }
    default:
        return;
    }
}

/* R: exit rc, one JSON object on stdout in the vocabulary; returned for more checks. */
static json_object *json_ok(int rc)
{
    ASSERT_RC(rc);
    json_object *o = out_json();
    check_vocabulary(o, "$", false);
    cr_assert_not(has(o, "error"), "%s", R.out);
    return o;
}

/* R: exit rc and exactly {"error":{"id":id,"status":status,"message":non-empty}}. */
static void json_error(int rc, const char *id, int status)
{
    ASSERT_RC(rc);
    json_object *o = out_json();
    cr_assert_eq(json_object_object_length(o), 1, "only \"error\": %s", R.out);
    json_object *e = jget(o, "error");
    cr_assert_eq(json_object_object_length(e), 3, "id, status, message: %s", R.out);
    cr_assert_str_eq(json_object_get_string(jget(e, "id")), id, "%s", R.out);
    cr_assert(json_object_is_type(jget(e, "status"), json_type_int), "%s", R.out);
    cr_assert_eq(json_object_get_int(jget(e, "status")), status, "%s", R.out);
    cr_assert_gt(json_object_get_string_len(jget(e, "message")), 0, "%s", R.out);
    cr_assert(strstr(R.err, "srtmctl: ") != NULL, "stderr too: %s", R.err);
    json_object_put(o);
}

static void put(json_object *o)
{
    json_object_put(o);
}

/* Register name under the admin capability, capability into DIR/name.cap. */
static void register_cap(const char *name, const char *const *extra, char cap[300])
{
    snprintf(cap, 300, "%s/%s.cap", D.dir, name);
    const char *args[16] = {"--socket", D.url, "--cap", D.cap_path, "--json", "register", name,
                            "--cap-out", cap};
    size_t n = 9;
    for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    ctl_argv(args);
    json_object *o = json_ok(0);
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), name);
    cr_assert_gt(json_object_get_uint64(jget(o, "handle")), 0u);
    cr_assert_str_eq(json_object_get_string(jget(o, "capability_file")), cap);
    put(o);
}

static const char *data_path(const char *file, char out[512])
{
    const char *dir = getenv("SRTM_TEST_DATA");
    cr_assert(dir != NULL && dir[0] != '\0', "SRTM_TEST_DATA is not set (use meson test)");
    snprintf(out, 512, "%s/example/%s", dir, file);
    return out;
}

static void read_nonce(char nonce[160])
{
    char path[512];
    FILE *f = fopen(data_path("nonce.hex", path), "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(nonce, 160, f));
    fclose(f);
    nonce[strcspn(nonce, "\r\n")] = '\0';
}

/* The CCR commands: register (both forms), extend, read, log with a revert marker,
 * revert, terminate. */
static void ccr_commands(const char *vm_cap)
{
    CTL("--socket", D.url, "--cap", D.cap_path, "--json", "register", "plain");
    json_object *o = json_ok(0);
    cr_assert(has(o, "capability") && has(o, "component") && has(o, "handle"), "%s", R.out);
    put(o);
    CTL_CAP(vm_cap, "--json", "extend", "vm", "1", "--data", "one");
    o = json_ok(0);
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), "vm");
    cr_assert_eq(json_object_get_uint64(jget(o, "ccr")), 1u);
    char seq[32];
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)json_object_get_uint64(jget(o, "seq")));
    put(o);
    CTL_CAP(vm_cap, "--json", "extend", "vm", "1", "--digest",
            "0000000000000000000000000000000000000000000000000000000000000001");
    put(json_ok(0));
    CTL_CAP(vm_cap, "--json", "revert", "vm", "1", "--to", seq);
    o = json_ok(0);
    cr_assert_eq(json_object_get_uint64(jget(o, "reverted")), 1u);
    put(o);
    CTL_D("--json", "read", "vm");
    o = json_ok(0);
    cr_assert(has(o, "handle") && has(o, "seq") && has(o, "ccrs"), "%s", R.out);
    put(o);
    CTL_D("--json", "log", "vm", "1");
    o = json_ok(0);
    cr_assert(has(o, "handle"), "log names its component's handle as read does: %s", R.out);
    json_object *entries = jget(o, "entries");
    cr_assert_eq(json_object_array_length(entries), 3u, "%s", R.out);
    json_object *first = json_object_array_get_idx(entries, 0);
    json_object *marker = json_object_array_get_idx(entries, 2);
    cr_assert_not(has(first, "revert_to_seq") || has(first, "revert_by") ||
                      has(first, "revert_by_handle"),
                  "a measurement has no revert fields: %s", R.out);
    cr_assert_not(has(first, "description"), "no description given: %s", R.out);
    cr_assert_not(has(marker, "digest") || has(marker, "event_type"), "%s", R.out);
    cr_assert_str_eq(json_object_get_string(jget(marker, "revert_by")), "vm");
    put(o);
}

static void graph_commands(const char *vm_cap)
{
    CTL_CAP(vm_cap, "--json", "depend", "vm", "--on", "fw");
    json_object *o = json_ok(0);
    cr_assert_str_eq(json_object_get_string(jget(o, "on")), "fw");
    put(o);
    CTL_D("--json", "graph");
    o = json_ok(0);
    json_object *p = json_object_array_get_idx(jget(o, "components"), 0);
    cr_assert_eq(json_object_get_uint64(jget(p, "handle")), 0u);
    cr_assert_not(has(p, "parent") || has(p, "parent_handle"), "component 0: %s", R.out);
    put(o);
    CTL_D("--json", "graph", "vm");
    put(json_ok(0));
    CTL_CAP(vm_cap, "--json", "undepend", "vm", "--on", "fw");
    put(json_ok(0));
    CTL_D("--json", "list");
    o = json_ok(0);
    cr_assert(has(o, "stored_bytes") && has(o, "memory_budget"), "%s", R.out);
    put(o);
    CTL("--socket", D.url, "--cap", D.cap_path, "--json", "terminate", "fw");
    o = json_ok(0);
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), "fw");
    put(o);
}

Test(ctl_json, every_command_speaks_the_vocabulary)
{
    char vm_cap[300], fw_cap[300];
    register_cap("vm", (const char *const[]){"--ccrs", "2", "--reversible", "1", NULL}, vm_cap);
    register_cap("fw", NULL, fw_cap);
    ccr_commands(vm_cap);
    graph_commands(vm_cap);
    /* quote on a daemon without a TPM: whatever it answers is in the vocabulary. */
    char ev[300];
    snprintf(ev, sizeof(ev), "%s/ev.bin", D.dir);
    CTL_D("--json", "quote", "--nonce", "00112233445566778899aabbccddeeff", "-o", ev);
    if (R.rc == 0)
        put(json_ok(0));
    else
        cr_assert(strstr(R.out, "{\"error\":{\"id\":") == R.out, "%s", R.out);
}

Test(ctl_json, errors_have_the_documented_shape)
{
    char vm_cap[300];
    register_cap("vm", NULL, vm_cap);
    CTL_D("--json", "read", "nosuch");
    json_error(1, "not_found", 5);
    CTL_CAP(D.cap_path, "--json", "extend", "vm", "0", "--data", "x");
    json_error(1, "denied", 7);
    CTL_CAP(vm_cap, "--json", "extend", "vm", "9", "--data", "x");
    json_error(1, "no_ccr", 8);
    /* Usage errors too, before and after the command name. */
    CTL_D("--json", "extend", "vm", "0");
    json_error(2, "usage", 1);
    CTL_D("--json", "--timeout", "x", "read", "vm");
    json_error(2, "usage", 1);
    CTL("--json", "no-such-command");
    json_error(2, "usage", 1);
    CTL_D("--json", "graph", "--dot");
    json_error(2, "usage", 1);
    /* A local file. */
    CTL_CAP(vm_cap, "--json", "extend", "vm", "0", "--file", "/nonexistent/x");
    json_error(4, "io", 16);
    /* Without --json, stdout stays empty on an error. */
    CTL_D("read", "nosuch");
    ASSERT_RC(1);
    cr_assert_str_eq(R.out, "");
}

/* ---- honest errors ---- */

Test(ctl_json, extend_file_describes_itself_and_says_why_not)
{
    char cap[300], file[300];
    register_cap("vm", NULL, cap);
    snprintf(file, sizeof(file), "%s/kernel.img", D.dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("kernel", f);
    fclose(f);
    CTL_CAP(cap, "extend", "vm", "0", "--file", file);
    ASSERT_RC(0);
    CTL_CAP(cap, "extend", "vm", "0", "--file", file, "--desc", "given");
    ASSERT_RC(0);
    CTL_D("--json", "log", "vm", "0");
    json_object *o = json_ok(0);
    json_object *e = jget(o, "entries");
    cr_assert_str_eq(json_object_get_string(jget(json_object_array_get_idx(e, 0), "description")),
                     file, "the path is the description without --desc");
    cr_assert_str_eq(json_object_get_string(jget(json_object_array_get_idx(e, 1), "description")),
                     "given");
    put(o);
    /* A directory: the reason, not just "cannot be read". */
    CTL_CAP(cap, "extend", "vm", "0", "--file", "/etc");
    ASSERT_RC(4);
    cr_assert(strstr(R.err, "/etc") != NULL && strstr(R.err, "Is a directory") != NULL, "%s",
              R.err);
    /* Nothing was extended by the refusal. */
    CTL_D("--json", "read", "vm");
    o = json_ok(0);
    cr_assert_eq(json_object_get_uint64(jget(json_object_array_get_idx(jget(o, "ccrs"), 0),
                                             "log_length")),
                 2u);
    put(o);
}

Test(ctl_json, dash_is_stdin_for_file)
{
    char cap[300], file[300];
    register_cap("vm", NULL, cap);
    snprintf(file, sizeof(file), "%s/in", D.dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("abc", f);
    fclose(f);
    /* The same bytes through a file and through stdin give the same digest. */
    CTL_CAP(cap, "extend", "vm", "0", "--file", file);
    ASSERT_RC(0);
    const char *argv[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" < \"$IN\"",
                          test_binary("SRTMCTL"), "--socket", D.url, "--cap", cap,
                          "extend", "vm", "0", "--file", "-", NULL};
    cr_assert_eq(setenv("IN", file, 1), 0);
    R.rc = test_run(argv, R.out, sizeof(R.out), R.err, sizeof(R.err));
    ASSERT_RC(0);
    CTL_D("--json", "log", "vm", "0");
    json_object *o = json_ok(0);
    json_object *e = jget(o, "entries");
    cr_assert_str_eq(json_object_get_string(jget(json_object_array_get_idx(e, 0), "digest")),
                     json_object_get_string(jget(json_object_array_get_idx(e, 1), "digest")));
    cr_assert_str_eq(json_object_get_string(jget(json_object_array_get_idx(e, 1), "description")),
                     "stdin");
    put(o);
}

Test(ctl_json, revert_of_an_irreversible_ccr_says_so)
{
    char cap[300], other[300];
    register_cap("vm", NULL, cap);
    register_cap("other", NULL, other);
    CTL_CAP(cap, "extend", "vm", "0", "--data", "x");
    ASSERT_RC(0);
    CTL_CAP(cap, "--json", "revert", "vm", "0", "--to", "0");
    json_error(1, "invalid", 1);
    cr_assert(strstr(R.err, "irreversible") != NULL, "%s", R.err);
    cr_assert(strstr(R.err, "denied") == NULL, "no permission matter: %s", R.err);
    /* A wrong capability is still a refusal of the capability, whatever the CCR. */
    CTL_CAP(other, "--json", "revert", "vm", "0", "--to", "0");
    json_error(1, "denied", 7);
}

/* ---- status ---- */

Test(ctl_json, status_counts_what_srtmd_holds)
{
    char cap[300];
    register_cap("vm", (const char *const[]){"--ccrs", "2", NULL}, cap);
    CTL_CAP(cap, "extend", "vm", "0", "--data", "a");
    ASSERT_RC(0);
    CTL_CAP(cap, "extend", "vm", "1", "--data", "b");
    ASSERT_RC(0);
    CTL_D("--json", "status");
    json_object *o = json_ok(0);
    cr_assert_eq(json_object_get_boolean(jget(o, "tpm")), 0, "--no-tpm: %s", R.out);
    cr_assert_not(has(o, "irk_scheme") || has(o, "reset_count") || has(o, "quote_jobs") ||
                      has(o, "tpm_ok"),
                  "no TPM fields without a TPM: %s", R.out);
    cr_assert_eq(json_object_get_uint64(jget(o, "components")), 2u, "platform and vm");
    cr_assert_eq(json_object_get_uint64(jget(o, "log_entries")), 2u);
    cr_assert_gt(json_object_get_uint64(jget(o, "stored_bytes")), 0u);
    cr_assert_gt(json_object_get_uint64(jget(o, "memory_budget")),
                 json_object_get_uint64(jget(o, "stored_bytes")));
    json_object *urls = jget(o, "listeners");
    cr_assert_eq(json_object_array_length(urls), 1u, "%s", R.out);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(urls, 0)), D.url);
    uint64_t seq = json_object_get_uint64(jget(o, "seq"));
    put(o);
    /* Text: one KEY VALUE line each; the counts follow a change. */
    CTL_CAP(cap, "extend", "vm", "0", "--data", "c");
    ASSERT_RC(0);
    CTL_D("status");
    ASSERT_RC(0);
    char want[512];
    cr_assert(strstr(R.out, "tpm no\n") != NULL && strstr(R.out, "log_entries 3\n") != NULL,
              "%s", R.out);
    snprintf(want, sizeof(want), "seq %llu\n", (unsigned long long)seq + 1);
    cr_assert(strstr(R.out, want) != NULL, "%s", R.out);
    snprintf(want, sizeof(want), "listener %s\n", D.url);
    cr_assert(strstr(R.out, want) != NULL, "%s", R.out);
    /* Through libsrtm, an older caller's smaller struct is filled no further. */
    srtm_conn *conn = NULL;
    cr_assert_eq(srtm_open(D.url, &conn), SRTM_OK);
    srtm_status_info st;
    memset(&st, 0xa5, sizeof(st));
    st.size = offsetof(srtm_status_info, components);
    cr_assert_eq(srtm_status(conn, &st), SRTM_OK, "%s", srtm_last_message(conn));
    cr_assert_eq(st.n_listeners, 1u);
    cr_assert_eq(st.components, 0xa5a5a5a5a5a5a5a5u, "written past size");
    srtm_status_info zero = {0};
    cr_assert_eq(srtm_status(conn, &zero), SRTM_E_INVALID, "size unset");
    srtm_close(conn);
}

/* The tcp listener does not tell its load to other machines. */
Test(ctl_json, status_is_refused_on_the_tcp_listener)
{
    test_daemon_stop(&D);
    int port = test_free_port();
    char tcp[64];
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
    const char *extra[] = {"--listen-tcp", tcp, NULL};
    test_daemon_start(&D, extra);
    CTL("--socket", tcp, "--json", "status");
    json_error(1, "denied", 7);
    cr_assert(strstr(R.err, "local socket") != NULL, "%s", R.err);
    /* The control: reads work there, and the local socket answers status with both URLs. */
    CTL("--socket", tcp, "--json", "list");
    put(json_ok(0));
    CTL_D("--json", "status");
    json_object *o = json_ok(0);
    json_object *urls = jget(o, "listeners");
    cr_assert_eq(json_object_array_length(urls), 2u, "%s", R.out);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(urls, 1)), tcp);
    put(o);
}

/* ---- verify ---- */

Test(ctl_json_offline, verify_speaks_the_vocabulary)
{
    char ev[512], aik[512], pol[512], nonce[160];
    read_nonce(nonce);
    CTL("--json", "verify", data_path("evidence.bin", ev), "--aik", data_path("aik.pem", aik),
        "--policy", data_path("policy.json", pol), "--nonce", nonce);
    json_object *o = json_ok(0);
    json_object *checks = jget(o, "checks");
    cr_assert_gt(json_object_array_length(checks), 10u);
    for (size_t i = 0; i < json_object_array_length(checks); i++)
        cr_assert_not(has(json_object_array_get_idx(checks, i), "reason"), "%s", R.out);
    json_object *comps = jget(o, "components");
    for (size_t i = 0; i < json_object_array_length(comps); i++) {
        json_object *c = json_object_array_get_idx(comps, i);
        cr_assert(has(c, "component") && !has(c, "reasons"), "%s", R.out);
    }
    put(o);
    /* The wrong nonce: failed checks have their reason, untrusted components theirs. */
    CTL("--json", "verify", ev, "--aik", aik, "--policy", pol, "--nonce",
        "ffeeddccbbaa99887766554433221100");
    o = json_ok(1);
    bool reason = false;
    for (size_t i = 0; i < json_object_array_length(jget(o, "checks")); i++)
        reason |= has(json_object_array_get_idx(jget(o, "checks"), i), "reason");
    cr_assert(reason, "%s", R.out);
    put(o);
}

Test(ctl_json_offline, verify_of_a_policy_says_not_evidence_once)
{
    char aik[512], pol[512], nonce[160];
    read_nonce(nonce);
    data_path("aik.pem", aik);
    data_path("policy.json", pol);
    CTL("verify", pol, "--aik", aik, "--policy", pol, "--nonce", nonce);
    ASSERT_RC(1);
    cr_assert(strstr(R.err, "not an evidence file") != NULL, "%s", R.err);
    cr_assert_str_eq(R.out, "", "no list of failed checks");
    CTL("--json", "verify", pol, "--aik", aik, "--policy", pol, "--nonce", nonce);
    json_error(1, "malformed", 2);
}

Test(ctl_json_offline, verify_reads_dash_from_stdin)
{
    char ev[512], aik[512], pol[512], nonce[160];
    read_nonce(nonce);
    data_path("evidence.bin", ev);
    data_path("aik.pem", aik);
    data_path("policy.json", pol);
    cr_assert_eq(setenv("IN", ev, 1), 0);
    const char *argv[] = {"/bin/sh", "-c", "exec \"$0\" \"$@\" < \"$IN\"",
                          test_binary("SRTMCTL"), "verify", "-", "--aik", aik, "--policy", pol,
                          "--nonce", nonce, NULL};
    R.rc = test_run(argv, R.out, sizeof(R.out), R.err, sizeof(R.err));
    ASSERT_RC(0);
    /* Two inputs cannot both be stdin. */
    CTL("verify", "-", "--aik", aik, "--policy", "-", "--nonce", nonce);
    ASSERT_RC(2);
}

Test(ctl_json_offline, version)
{
    CTL("--version");
    ASSERT_RC(0);
    cr_assert(strncmp(R.out, "srtmctl ", 8) == 0, "%s", R.out);
    cr_assert(strstr(R.out, "libsrtm") != NULL, "%s", R.out);
}
