/*
 * srtmctl end to end: the built binary ($SRTMCTL) against a real srtmd started per test.
 * Expected CCR values are computed here with OpenSSL EVP, independently of libsrtm, so a
 * fault shared by srtmctl and libsrtm cannot hide itself.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "helpers.h"

#define HEX_LEN 64u
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct run_result {
    int rc;
    char out[65536];
    char err[8192];
} run_result;

/* Criterion runs every test in its own process, so file-scope state is per test. */
static test_daemon D;
static run_result R;

static void ctl_argv(run_result *r, const char *const *args)
{
    const char *argv[64];
    size_t n = 0;
    argv[n++] = test_binary("SRTMCTL");
    for (size_t i = 0; args[i] != NULL; i++) {
        cr_assert(n < ARRAY_LEN(argv) - 1, "too many arguments for srtmctl");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    r->rc = test_run(argv, r->out, sizeof(r->out), r->err, sizeof(r->err));
}

/* srtmctl with the given arguments, as is. */
#define CTL(...) ctl_argv(&R, (const char *const[]){__VA_ARGS__, NULL})
/* srtmctl talking to this test's daemon, without and with the admin capability. */
#define CTL_D(...) CTL("--socket", D.url, __VA_ARGS__)
#define CTL_ADMIN(...) CTL("--socket", D.url, "--cap", D.cap_path, __VA_ARGS__)

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

TestSuite(srtmctl, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(srtmctl_offline, .timeout = 60);

/* ---- independent expectations ---- */

/* A CCR starts at 32 zero bytes; extending sets it to SHA-256(value || digest). */
static void extend_expected(uint8_t value[32], const uint8_t digest[32])
{
    test_sha256(value, 32, digest, 32, value);
}

static void to_hex(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", in[i]);
    out[2 * len] = '\0';
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* ---- helpers over srtmctl ---- */

/* The one JSON object of R.out, which must be a single line. */
static json_object *out_json(void)
{
    size_t len = strlen(R.out);
    cr_assert(len > 0 && R.out[len - 1] == '\n', "JSON output must end with a newline: %s",
              R.out);
    cr_assert_null(memchr(R.out, '\n', len - 1), "JSON output must be one line: %s", R.out);
    json_object *o = json_tokener_parse(R.out);
    cr_assert_not_null(o, "not JSON: %s", R.out);
    cr_assert(json_object_is_type(o, json_type_object), "not a JSON object: %s", R.out);
    return o;
}

static json_object *jget(json_object *o, const char *key)
{
    json_object *v = NULL;
    cr_assert(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key,
              json_object_to_json_string(o));
    return v;
}

/* Register name with the admin capability, its capability saved to DIR/name.cap. */
static uint64_t register_to_file(const char *name, const char *ccrs, char cap_path[300])
{
    snprintf(cap_path, 300, "%s/%s.cap", D.dir, name);
    CTL_ADMIN("register", name, "--ccrs", ccrs, "--cap-out", cap_path);
    ASSERT_RC(0);
    unsigned long long handle = 0;
    char file[300] = "";
    cr_assert_eq(sscanf(R.out, "handle %llu\ncapability_file %299s", &handle, file), 2,
                 "unexpected register output: %s", R.out);
    cr_assert_str_eq(file, cap_path);
    return handle;
}

static void read_ccr_hex(const char *name, const char *ccr, char hex[HEX_LEN + 1])
{
    CTL_D("read", name, ccr);
    ASSERT_RC(0);
    unsigned index = 0;
    char extra = 0;
    cr_assert_eq(sscanf(R.out, "%u %64s\n%c", &index, hex, &extra), 2,
                 "read must print one line 'INDEX HEX': %s", R.out);
    cr_assert_eq(index, (unsigned)atoi(ccr));
    cr_assert(is_hex(hex, HEX_LEN), "not 64 hex digits: %s", hex);
}

static void assert_ccr_equals(const char *name, const char *ccr, const uint8_t want[32])
{
    char got[HEX_LEN + 1], want_hex[HEX_LEN + 1];
    read_ccr_hex(name, ccr, got);
    to_hex(want, 32, want_hex);
    cr_assert_str_eq(got, want_hex, "CCR %s of %s", ccr, name);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* ---- register ---- */

Test(srtmctl, register_text)
{
    CTL_ADMIN("register", "comp-a", "--ccrs", "3");
    ASSERT_RC(0);
    unsigned long long handle = 0;
    char cap[HEX_LEN + 2] = "";
    cr_assert_eq(sscanf(R.out, "handle %llu\ncapability %65s", &handle, cap), 2,
                 "unexpected output: %s", R.out);
    cr_assert_gt(handle, 0ull, "component 0 is the platform");
    cr_assert(is_hex(cap, HEX_LEN), "capability is not 64 hex digits: %s", cap);
    cr_assert_eq(count_lines(R.out), 2u, "%s", R.out);

    /* The printed capability is the one that authorises extending. */
    char path[300];
    snprintf(path, sizeof(path), "%s/printed.cap", D.dir);
    char line[HEX_LEN + 2];
    cr_assert_eq(strlen(cap), (size_t)HEX_LEN);
    memcpy(line, cap, HEX_LEN);
    line[HEX_LEN] = '\n';
    line[HEX_LEN + 1] = '\0';
    write_file(path, line, strlen(line), 0600);
    CTL("--socket", D.url, "--cap", path, "extend", "comp-a", "2", "--data", "x");
    ASSERT_RC(0);
}

Test(srtmctl, register_json)
{
    CTL_ADMIN("--json", "register", "comp-j");
    ASSERT_RC(0);
    json_object *o = out_json();
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), "comp-j");
    cr_assert(json_object_is_type(jget(o, "handle"), json_type_int));
    cr_assert_gt(json_object_get_uint64(jget(o, "handle")), 0u);
    cr_assert(is_hex(json_object_get_string(jget(o, "capability")), HEX_LEN), "%s", R.out);
    json_object_put(o);

    /* A second component gets a different handle and capability. */
    CTL_ADMIN("--json", "register", "comp-k");
    ASSERT_RC(0);
    json_object *o2 = out_json();
    cr_assert_neq(json_object_get_uint64(jget(o2, "handle")), 0u);
    json_object_put(o2);
}

Test(srtmctl, register_existing_name_refused)
{
    CTL_ADMIN("register", "dup");
    ASSERT_RC(0);
    CTL_ADMIN("register", "dup");
    ASSERT_RC(1);
    cr_assert(strstr(R.err, "exists") != NULL, "stderr: %s", R.err);
}

Test(srtmctl, register_cap_out_then_extend)
{
    char cap_path[300], json_path[300];
    snprintf(json_path, sizeof(json_path), "%s/comp-f.cap", D.dir);
    CTL_ADMIN("--json", "register", "comp-f", "--cap-out", json_path);
    ASSERT_RC(0);
    json_object *o = out_json();
    cr_assert_str_eq(json_object_get_string(jget(o, "capability_file")), json_path);
    cr_assert(!json_object_object_get_ex(o, "capability", NULL), "capability printed: %s",
              R.out);
    json_object_put(o);

    register_to_file("comp-g", "1", cap_path);
    cr_assert_null(strstr(R.out, "capability "), "capability printed: %s", R.out);
    struct stat st;
    cr_assert_eq(stat(cap_path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);

    uint8_t digest[32], value[32] = {0};
    memset(digest, 0xab, sizeof(digest));
    char hex[HEX_LEN + 1];
    to_hex(digest, 32, hex);
    CTL("--socket", D.url, "--cap", cap_path, "extend", "comp-g", "0", "--digest", hex);
    ASSERT_RC(0);
    extend_expected(value, digest);
    assert_ccr_equals("comp-g", "0", value);
}

Test(srtmctl, register_cap_out_existing_refused_before_registering)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/taken.cap", D.dir);
    write_file(path, "x", 1, 0600);
    CTL_ADMIN("register", "comp-t", "--cap-out", path);
    ASSERT_RC(4);
    cr_assert(strstr(R.err, path) != NULL, "stderr must name the file: %s", R.err);
    CTL_D("read", "comp-t");
    ASSERT_RC(1);

    /* Nor into a directory that does not exist. */
    snprintf(path, sizeof(path), "%s/no-such-dir/comp.cap", D.dir);
    CTL_ADMIN("register", "comp-t", "--cap-out", path);
    ASSERT_RC(4);
    cr_assert(strstr(R.err, path) != NULL, "stderr must name the file: %s", R.err);
    CTL_D("read", "comp-t");
    ASSERT_RC(1);
}

/* ---- extend and read ---- */

Test(srtmctl, extend_digest_chain)
{
    char cap[300];
    register_to_file("chain", "2", cap);
    uint8_t d1[32], d2[32], value[32] = {0}, zero[32] = {0};
    for (int i = 0; i < 32; i++) {
        d1[i] = (uint8_t)i;
        d2[i] = (uint8_t)(0xff - i);
    }
    char h1[HEX_LEN + 1], h2[HEX_LEN + 1];
    to_hex(d1, 32, h1);
    to_hex(d2, 32, h2);
    for (size_t i = 0; i < 64; i++) /* upper-case hex is a digest too */
        if (h2[i] >= 'a')
            h2[i] = (char)(h2[i] - 'a' + 'A');
    CTL("--socket", D.url, "--cap", cap, "extend", "chain", "0", "--digest", h1);
    ASSERT_RC(0);
    unsigned long long seq1 = 0, seq2 = 0;
    cr_assert_eq(sscanf(R.out, "seq %llu", &seq1), 1, "%s", R.out);
    CTL("--socket", D.url, "--cap", cap, "extend", "chain", "0", "--digest", h2);
    ASSERT_RC(0);
    cr_assert_eq(sscanf(R.out, "seq %llu", &seq2), 1, "%s", R.out);
    cr_assert_gt(seq2, seq1);
    extend_expected(value, d1);
    extend_expected(value, d2);
    assert_ccr_equals("chain", "0", value);
    assert_ccr_equals("chain", "1", zero);

    /* Without CCR: every CCR, one 'INDEX HEX' line each and nothing else. */
    char want[2 * (HEX_LEN + 4) + 1], v0[HEX_LEN + 1], v1[HEX_LEN + 1];
    to_hex(value, 32, v0);
    to_hex(zero, 32, v1);
    snprintf(want, sizeof(want), "0 %s\n1 %s\n", v0, v1);
    CTL_D("read", "chain");
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, want);
}

Test(srtmctl, extend_data)
{
    char cap[300];
    register_to_file("data", "1", cap);
    const char *text = "hello, measured world";
    uint8_t digest[32], value[32] = {0};
    test_sha256(text, strlen(text), NULL, 0, digest);
    extend_expected(value, digest);
    CTL("--socket", D.url, "--cap", cap, "extend", "data", "0", "--data", text);
    ASSERT_RC(0);
    assert_ccr_equals("data", "0", value);
}

Test(srtmctl, extend_file)
{
    char cap[300], path[300];
    register_to_file("file", "1", cap);
    uint8_t content[5000], digest[32], value[32] = {0};
    for (size_t i = 0; i < sizeof(content); i++)
        content[i] = (uint8_t)(i * 7 + 3);
    snprintf(path, sizeof(path), "%s/measured.bin", D.dir);
    write_file(path, content, sizeof(content), 0644);
    test_sha256(content, sizeof(content), NULL, 0, digest);
    extend_expected(value, digest);
    CTL("--socket", D.url, "--cap", cap, "extend", "file", "0", "--file", path);
    ASSERT_RC(0);
    assert_ccr_equals("file", "0", value);
}

Test(srtmctl, extend_json_and_read_json)
{
    char cap[300];
    uint64_t handle = register_to_file("js", "2", cap);
    uint64_t last = 0;
    for (int i = 0; i < 3; i++) {
        CTL("--socket", D.url, "--cap", cap, "--json", "extend", "js", "1", "--data", "v");
        ASSERT_RC(0);
        json_object *o = out_json();
        uint64_t seq = json_object_get_uint64(jget(o, "seq"));
        cr_assert_eq(json_object_object_length(o), 3, "component, ccr, seq: %s", R.out);
        cr_assert_str_eq(json_object_get_string(jget(o, "component")), "js");
        cr_assert_gt(seq, last);
        last = seq;
        json_object_put(o);
    }
    CTL_D("--json", "read", "js");
    ASSERT_RC(0);
    json_object *o = out_json();
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), "js");
    cr_assert_eq(json_object_get_uint64(jget(o, "handle")), handle);
    cr_assert_geq(json_object_get_uint64(jget(o, "seq")), last);
    json_object *ccrs = jget(o, "ccrs");
    cr_assert_eq(json_object_array_length(ccrs), 2u);
    json_object *c1 = json_object_array_get_idx(ccrs, 1);
    cr_assert_eq(json_object_get_uint64(jget(c1, "index")), 1u);
    cr_assert_str_eq(json_object_get_string(jget(c1, "policy")), "irreversible");
    cr_assert_eq(json_object_get_uint64(jget(c1, "log_length")), 3u);
    uint8_t d[32], value[32] = {0};
    char want[HEX_LEN + 1];
    test_sha256("v", 1, NULL, 0, d);
    for (int i = 0; i < 3; i++)
        extend_expected(value, d);
    to_hex(value, 32, want);
    cr_assert_str_eq(json_object_get_string(jget(c1, "value")), want);
    json_object_put(o);
}

/* ---- log ---- */

static void extend_three(const char *cap)
{
    CTL("--socket", D.url, "--cap", cap, "extend", "lg", "0", "--data", "one", "--desc",
        "first entry", "--event-type", "7");
    ASSERT_RC(0);
    CTL("--socket", D.url, "--cap", cap, "extend", "lg", "0", "--data", "two");
    ASSERT_RC(0);
    CTL("--socket", D.url, "--cap", cap, "extend", "lg", "0", "--data", "three", "--desc",
        "third", "--event-type", "4294967295");
    ASSERT_RC(0);
}

Test(srtmctl, log_text_and_from)
{
    char cap[300];
    register_to_file("lg", "1", cap);
    extend_three(cap);
    CTL_D("log", "lg", "0");
    ASSERT_RC(0);
    cr_assert_eq(count_lines(R.out), 3u, "%s", R.out);
    static const char *const data[] = {"one", "two", "three"};
    static const unsigned events[] = {7, 0, 4294967295u};
    static const char *const descs[] = {"first entry", "", "third"};
    char *save = NULL;
    uint64_t prev_seq = 0;
    char *line = strtok_r(R.out, "\n", &save);
    for (unsigned i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
        cr_assert_not_null(line);
        uint64_t index = 0, seq = 0;
        unsigned event = 0;
        char hex[HEX_LEN + 1], desc[300] = "", want[HEX_LEN + 1];
        int n = sscanf(line, "%" SCNu64 " %" SCNu64 " %64s %u %299[^\n]", &index, &seq, hex,
                       &event, desc);
        cr_assert_geq(n, 4, "bad log line: %s", line);
        uint8_t d[32];
        test_sha256(data[i], strlen(data[i]), NULL, 0, d);
        to_hex(d, 32, want);
        cr_assert_eq(index, i);
        cr_assert_gt(seq, prev_seq);
        prev_seq = seq;
        cr_assert_str_eq(hex, want);
        cr_assert_eq(event, events[i]);
        cr_assert_str_eq(desc, descs[i]);
    }

    CTL_D("log", "lg", "0", "--from", "1");
    ASSERT_RC(0);
    cr_assert_eq(count_lines(R.out), 2u, "%s", R.out);
    cr_assert_eq(strncmp(R.out, "1 ", 2), 0, "%s", R.out);
    CTL_D("log", "lg", "0", "--from", "3");
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "");
    CTL_D("log", "lg", "0", "--from", "4");
    ASSERT_RC(1);
}

Test(srtmctl, log_json)
{
    char cap[300];
    register_to_file("lg", "1", cap);
    extend_three(cap);
    CTL_D("--json", "log", "lg", "0", "--from", "1");
    ASSERT_RC(0);
    json_object *o = out_json();
    cr_assert_str_eq(json_object_get_string(jget(o, "component")), "lg");
    cr_assert_eq(json_object_get_uint64(jget(o, "ccr")), 0u);
    json_object *entries = jget(o, "entries");
    cr_assert_eq(json_object_array_length(entries), 2u);
    json_object *e = json_object_array_get_idx(entries, 1);
    cr_assert_eq(json_object_get_uint64(jget(e, "index")), 2u);
    cr_assert_eq(json_object_get_uint64(jget(e, "event_type")), 4294967295u);
    cr_assert_str_eq(json_object_get_string(jget(e, "description")), "third");
    cr_assert(is_hex(json_object_get_string(jget(e, "digest")), HEX_LEN));
    cr_assert_gt(json_object_get_uint64(jget(e, "seq")), 0u);
    json_object_put(o);
}

Test(srtmctl, log_text_keeps_one_line_per_entry)
{
    char cap[300];
    register_to_file("esc", "1", cap);
    CTL("--socket", D.url, "--cap", cap, "extend", "esc", "0", "--data", "x", "--desc",
        "two\nlines and a \\ backslash");
    ASSERT_RC(0);
    CTL_D("log", "esc", "0");
    ASSERT_RC(0);
    cr_assert_eq(count_lines(R.out), 1u, "%s", R.out);
    cr_assert(strstr(R.out, " two\\x0alines and a \\\\ backslash\n") != NULL, "%s", R.out);
    CTL_D("--json", "log", "esc", "0");
    ASSERT_RC(0);
    json_object *o = out_json();
    json_object *e = json_object_array_get_idx(jget(o, "entries"), 0);
    cr_assert_str_eq(json_object_get_string(jget(e, "description")),
                     "two\nlines and a \\ backslash");
    json_object_put(o);
}

/* ---- list ---- */

/* true when a line of R.out starts with "HANDLE NAME CCRS uid=OURS pid=". */
static bool list_has(const char *handle_name, unsigned ccrs)
{
    char want[256];
    snprintf(want, sizeof(want), "%s %u uid=%u pid=", handle_name, ccrs, (unsigned)getuid());
    const char *line = R.out;
    while (*line != '\0') {
        if (strncmp(line, want, strlen(want)) == 0)
            return true;
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    return false;
}

Test(srtmctl, list_text)
{
    char cap[300], want[64];
    uint64_t h1 = register_to_file("alpha", "2", cap);
    uint64_t h2 = register_to_file("beta", "5", cap);
    CTL_D("list");
    ASSERT_RC(0);
    cr_assert_eq(count_lines(R.out), 3u, "%s", R.out);
    cr_assert_eq(strncmp(R.out, "0 platform ", 11), 0, "platform first: %s", R.out);
    snprintf(want, sizeof(want), "%" PRIu64 " alpha", h1);
    cr_assert(list_has(want, 2), "%s", R.out);
    snprintf(want, sizeof(want), "%" PRIu64 " beta", h2);
    cr_assert(list_has(want, 5), "%s", R.out);
}

Test(srtmctl, list_json)
{
    char cap[300];
    uint64_t h = register_to_file("gamma", "4", cap);
    CTL_D("--json", "list");
    ASSERT_RC(0);
    json_object *o = out_json();
    json_object *arr = jget(o, "components");
    cr_assert_eq(json_object_array_length(arr), 2u, "%s", R.out);
    json_object *p = json_object_array_get_idx(arr, 0);
    cr_assert_eq(json_object_get_uint64(jget(p, "handle")), 0u);
    cr_assert_str_eq(json_object_get_string(jget(p, "component")), "platform");
    json_object *g = json_object_array_get_idx(arr, 1);
    cr_assert_eq(json_object_get_uint64(jget(g, "handle")), h);
    cr_assert_str_eq(json_object_get_string(jget(g, "component")), "gamma");
    cr_assert_eq(json_object_get_uint64(jget(g, "ccr_count")), 4u);
    cr_assert_eq(json_object_get_uint64(jget(g, "peer_uid")), (uint64_t)getuid());
    cr_assert_gt(json_object_get_uint64(jget(g, "peer_pid")), 0u);
    json_object_put(o);
}

/* ---- refusals ---- */

/* Decided: a mutation without --cap is a usage error (2), caught before anything is sent. */
Test(srtmctl, extend_without_cap_is_usage_error)
{
    char cap[300];
    register_to_file("nocap", "1", cap);
    CTL_D("extend", "nocap", "0", "--data", "x");
    ASSERT_RC(2);
    cr_assert(strstr(R.err, "--cap") != NULL, "stderr: %s", R.err);
    CTL_D("register", "other");
    ASSERT_RC(2);
    uint8_t zero[32] = {0};
    assert_ccr_equals("nocap", "0", zero);
}

Test(srtmctl, extend_wrong_cap_denied)
{
    char cap_a[300], cap_b[300];
    register_to_file("victim", "1", cap_a);
    register_to_file("attacker", "1", cap_b);
    CTL("--socket", D.url, "--cap", cap_b, "extend", "victim", "0", "--data", "evil");
    ASSERT_RC(1);
    cr_assert(strstr(R.err, "denied") != NULL, "stderr: %s", R.err);
    /* The admin capability does not authorise extending a component either. */
    CTL_ADMIN("extend", "victim", "0", "--data", "evil");
    ASSERT_RC(1);
    cr_assert(strstr(R.err, "denied") != NULL, "stderr: %s", R.err);
    uint8_t zero[32] = {0};
    assert_ccr_equals("victim", "0", zero);
    CTL_D("log", "victim", "0");
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "");
}

Test(srtmctl, register_with_component_cap_denied)
{
    char cap[300];
    register_to_file("plain", "1", cap);
    CTL("--socket", D.url, "--cap", cap, "register", "sneaky");
    ASSERT_RC(1);
    cr_assert(strstr(R.err, "denied") != NULL, "stderr: %s", R.err);
    CTL_D("read", "sneaky");
    ASSERT_RC(1);
}

Test(srtmctl, unknown_component)
{
    CTL_D("read", "nosuch");
    ASSERT_RC(1);
    cr_assert(strstr(R.err, "no such component") != NULL, "stderr: %s", R.err);
    CTL_D("log", "nosuch", "0");
    ASSERT_RC(1);
    CTL_ADMIN("extend", "nosuch", "0", "--data", "x");
    ASSERT_RC(1);
    cr_assert_str_eq(R.out, "");
}

Test(srtmctl, unknown_ccr)
{
    char cap[300];
    register_to_file("small", "2", cap);
    CTL_D("read", "small", "2");
    ASSERT_RC(1);
    CTL("--socket", D.url, "--cap", cap, "extend", "small", "2", "--data", "x");
    ASSERT_RC(1);
    CTL_D("log", "small", "5");
    ASSERT_RC(1);
}

Test(srtmctl, json_error_object)
{
    CTL_D("--json", "read", "nosuch");
    ASSERT_RC(1);
    json_object *o = out_json();
    cr_assert_eq(json_object_get_int(jget(jget(o, "error"), "status")), (int)SRTM_E_NO_COMPONENT);
    cr_assert_str_eq(json_object_get_string(jget(jget(o, "error"), "id")), "not_found");
    cr_assert(json_object_is_type(jget(jget(o, "error"), "message"), json_type_string));
    json_object_put(o);
    cr_assert(strstr(R.err, "srtmctl: ") != NULL, "stderr too: %s", R.err);

    char cap[300];
    register_to_file("jerr", "1", cap);
    CTL("--socket", D.url, "--cap", D.cap_path, "--json", "extend", "jerr", "0", "--data", "x");
    ASSERT_RC(1);
    o = out_json();
    cr_assert_eq(json_object_get_int(jget(jget(o, "error"), "status")), (int)SRTM_E_DENIED);
    json_object_put(o);
}

Test(srtmctl, malformed_digest_is_usage_error)
{
    char cap[300];
    register_to_file("dg", "1", cap);
    char short_hex[64], long_hex[66], bad_hex[65];
    memset(short_hex, 'a', 63);
    short_hex[63] = '\0';
    memset(long_hex, 'a', 65);
    long_hex[65] = '\0';
    memset(bad_hex, 'a', 64);
    bad_hex[10] = 'g';
    bad_hex[64] = '\0';
    const char *const bad[] = {short_hex, long_hex, bad_hex, "", "0x1234"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CTL("--socket", D.url, "--cap", cap, "extend", "dg", "0", "--digest", bad[i]);
        ASSERT_RC(2);
        cr_assert(strstr(R.err, "--digest") != NULL, "stderr: %s", R.err);
    }
    CTL_D("log", "dg", "0");
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "", "nothing may have been extended");
}

Test(srtmctl, bad_arguments_are_usage_errors)
{
    char cap[300];
    register_to_file("args", "1", cap);
    char hex[HEX_LEN + 1];
    memset(hex, '0', HEX_LEN);
    hex[HEX_LEN] = '\0';
#define EXPECT_USAGE(...)                                                                  \
    do {                                                                                   \
        CTL("--socket", D.url, "--cap", cap, __VA_ARGS__);                                 \
        ASSERT_RC(2);                                                                      \
        cr_assert(R.err[0] != '\0' && count_lines(R.err) == 1, "one-line hint: %s", R.err); \
    } while (0)
    EXPECT_USAGE("extend", "args", "0");                                   /* no source */
    EXPECT_USAGE("extend", "args", "0", "--data", "a", "--digest", hex);   /* two */
    EXPECT_USAGE("extend", "args", "-1", "--data", "a");
    EXPECT_USAGE("extend", "args", "1x", "--data", "a");
    EXPECT_USAGE("extend", "args", " 1", "--data", "a");
    EXPECT_USAGE("extend", "args", "4294967296", "--data", "a");
    EXPECT_USAGE("extend", "args", "0", "--data", "a", "--event-type", "-1");
    EXPECT_USAGE("extend", "args", "0", "--data", "a", "--event-type", "4294967296");
    EXPECT_USAGE("extend", "args", "--data", "a");                         /* no CCR */
    EXPECT_USAGE("extend", "args", "0", "1", "--data", "a");               /* extra */
    EXPECT_USAGE("register", "new", "--ccrs", "0");
    EXPECT_USAGE("register", "new", "--ccrs", "65");
    EXPECT_USAGE("register", "new", "--ccrs", "+3");
    EXPECT_USAGE("register");
    EXPECT_USAGE("log", "args", "0", "--from", "x");
    EXPECT_USAGE("log", "args", "0", "--from", "18446744073709551616");
    EXPECT_USAGE("log", "args");
    EXPECT_USAGE("read", "args", "0", "1");
    EXPECT_USAGE("list", "extra");
    EXPECT_USAGE("list", "--json"); /* a global option after the command */
    EXPECT_USAGE("read", "args", "--bogus");
    EXPECT_USAGE("log", "args", "0", "--from");
#undef EXPECT_USAGE
    char long_desc[SRTM_MAX_DESC + 2];
    memset(long_desc, 'd', sizeof(long_desc) - 1);
    long_desc[sizeof(long_desc) - 1] = '\0';
    CTL("--socket", D.url, "--cap", cap, "extend", "args", "0", "--data", "a", "--desc",
        long_desc);
    ASSERT_RC(2);
    CTL("--socket", D.url, "--timeout", "0", "list");
    ASSERT_RC(2);
    CTL("--socket", D.url, "--timeout", "abc", "list");
    ASSERT_RC(2);
    CTL_D("log", "args", "0");
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "", "nothing may have been extended");
}

/* ---- local files ---- */

Test(srtmctl, cap_file_readable_by_others_refused)
{
    char path[300], text[HEX_LEN + 2];
    snprintf(path, sizeof(path), "%s/open.cap", D.dir);
    char hex[HEX_LEN + 1];
    cr_assert_eq(srtm_cap_to_hex(&D.admin, hex, sizeof(hex)), SRTM_OK);
    snprintf(text, sizeof(text), "%s\n", hex);
    write_file(path, text, strlen(text), 0644);
    CTL("--socket", D.url, "--cap", path, "register", "x");
    ASSERT_RC(4);
    cr_assert(strstr(R.err, path) != NULL, "stderr must name the file: %s", R.err);
    CTL("--socket", D.url, "--cap", path, "--json", "register", "x");
    ASSERT_RC(4);
    json_object *o = out_json();
    cr_assert_eq(json_object_get_int(jget(jget(o, "error"), "status")), (int)SRTM_E_DENIED);
    json_object_put(o);
    /* The same content at mode 0600 works: the refusal was the mode. */
    cr_assert_eq(chmod(path, 0600), 0);
    CTL("--socket", D.url, "--cap", path, "register", "x");
    ASSERT_RC(0);
}

Test(srtmctl, unreadable_local_files)
{
    char path[300], cap[300];
    snprintf(path, sizeof(path), "%s/missing.cap", D.dir);
    CTL("--socket", D.url, "--cap", path, "register", "x");
    ASSERT_RC(4);
    cr_assert(strstr(R.err, path) != NULL, "stderr: %s", R.err);

    snprintf(path, sizeof(path), "%s/garbage.cap", D.dir);
    write_file(path, "not a capability\n", 17, 0600);
    CTL("--socket", D.url, "--cap", path, "register", "x");
    ASSERT_RC(4);

    register_to_file("lf", "1", cap);
    snprintf(path, sizeof(path), "%s/no-such-input", D.dir);
    CTL("--socket", D.url, "--cap", cap, "extend", "lf", "0", "--file", path);
    ASSERT_RC(4);
    cr_assert(strstr(R.err, path) != NULL, "stderr: %s", R.err);
}

/* ---- without a daemon ---- */

Test(srtmctl_offline, help_for_every_command)
{
    CTL("--help");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "Usage: srtmctl") != NULL, "%s", R.out);
    for (int code = 0; code <= 4; code++) {
        char want[8];
        snprintf(want, sizeof(want), "  %d  ", code);
        cr_assert(strstr(R.out, want) != NULL, "exit code %d undocumented: %s", code, R.out);
    }
    static const char *const cmds[] = {"register", "extend", "read", "log", "list"};
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++)
        cr_assert(strstr(R.out, cmds[i]) != NULL, "%s missing from --help", cmds[i]);
    for (size_t i = 0; i < ARRAY_LEN(cmds); i++) {
        CTL(cmds[i], "--help");
        ASSERT_RC(0);
        cr_assert(strstr(R.out, "Usage: srtmctl") != NULL, "%s --help: %s", cmds[i], R.out);
        cr_assert(strstr(R.out, cmds[i]) != NULL, "%s --help: %s", cmds[i], R.out);
        cr_assert_str_eq(R.err, "");
    }
    /* --help wins over missing arguments and needs neither --cap nor a daemon. */
    CTL("--socket", "ipc:///nonexistent/srtmd.sock", "extend", "--help");
    ASSERT_RC(0);
}

Test(srtmctl_offline, version)
{
    CTL("--version");
    ASSERT_RC(0);
    cr_assert(strstr(R.out, SRTM_VERSION_STRING) != NULL, "%s", R.out);
}

Test(srtmctl_offline, unknown_command_and_no_command)
{
    CTL("frobnicate");
    ASSERT_RC(2);
    cr_assert(strstr(R.err, "frobnicate") != NULL, "stderr: %s", R.err);
    cr_assert_eq(count_lines(R.err), 1u, "one-line hint: %s", R.err);
    CTL("--json");
    ASSERT_RC(2);
    CTL("--bogus", "list");
    ASSERT_RC(2);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(srtmctl_offline, daemon_not_running)
{
    char url[128];
    snprintf(url, sizeof(url), "ipc:///tmp/srtm-no-daemon-%ld/srtmd.sock", (long)getpid());
    double t0 = now_s();
    CTL("--socket", url, "--timeout", "500", "list");
    double elapsed = now_s() - t0;
    ASSERT_RC(3);
    cr_assert_lt(elapsed, 5.0, "took %.1f s", elapsed);
    cr_assert(strstr(R.err, "srtmctl: ") != NULL, "stderr: %s", R.err);

    CTL("--socket", url, "--timeout", "500", "--json", "read", "x");
    ASSERT_RC(3);
    json_object *o = out_json();
    int code = json_object_get_int(jget(jget(o, "error"), "status"));
    cr_assert(code == SRTM_E_TRANSPORT || code == SRTM_E_TIMEOUT, "code %d", code);
    json_object_put(o);
}

/* verify --state with the worked example of docs/evidence.md: the state is written (mode
 * 0600) after verified evidence, 'state' turns it into the options of an incremental
 * quote under the same policy and into nothing under another, the same report verifies
 * again with its own state, and a file that is not a state is refused (exit 4), never
 * replaced. */
Test(srtmctl_offline, verify_state_and_state)
{
    char ex[2048], ev[4096], aik[4096], pol[4096], np[4096], nonce[256];
    char dir[] = "/tmp/srtm-ctl-XXXXXX";
    const char *data = getenv("SRTM_TEST_DATA");
    cr_assert_not_null(data);
    snprintf(ex, sizeof(ex), "%s/example", data);
    snprintf(ev, sizeof(ev), "%s/evidence.bin", ex);
    snprintf(aik, sizeof(aik), "%s/aik.pem", ex);
    snprintf(pol, sizeof(pol), "%s/policy.json", ex);
    snprintf(np, sizeof(np), "%s/nonce.hex", ex);
    FILE *f = fopen(np, "r");
    cr_assert_not_null(f);
    cr_assert(fgets(nonce, sizeof(nonce), f) != NULL);
    fclose(f);
    nonce[strcspn(nonce, "\n")] = '\0';
    cr_assert_not_null(mkdtemp(dir));
    char st[64], other[64], bad[64], ref[16384];
    snprintf(st, sizeof(st), "%s/state", dir);
    snprintf(bad, sizeof(bad), "%s/bad", dir);

    CTL("state", st, "--policy", pol);
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "", "no state yet: quote in full");
    CTL("verify", ev, "--aik", aik, "--policy", pol, "--nonce", nonce, "--state", st);
    ASSERT_RC(0);
    struct stat sb;
    cr_assert_eq(stat(st, &sb), 0, "the state was written");
    cr_assert_eq(sb.st_mode & 07777, 0600);
    CTL("state", st, "--policy", pol);
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "--since-instance 5e1f0da73011429b8c6e2a7103c4d596 --since-seq 3\n");
    CTL("--json", "state", st, "--policy", pol);
    ASSERT_RC(0);
    cr_assert(strstr(R.out, "\"since_seq\":3") != NULL, "%s", R.out);
    CTL("verify", ev, "--aik", aik, "--policy", pol, "--nonce", nonce, "--state", st);
    ASSERT_RC(0);

    /* Another policy (the same rules, another text): quote in full. */
    snprintf(other, sizeof(other), "%s/policy.json", dir);
    snprintf(ref, sizeof(ref), "cp %s/reference.json %s/ && cp %s %s && echo >> %s", ex, dir,
             pol, other, other);
    cr_assert_eq(system(ref), 0);
    CTL("state", st, "--policy", other);
    ASSERT_RC(0);
    cr_assert_str_eq(R.out, "");

    /* Not a state: refused, and left as it is. */
    write_file(bad, "not a state", 11, 0600);
    CTL("verify", ev, "--aik", aik, "--policy", pol, "--nonce", nonce, "--state", bad);
    ASSERT_RC(4);
    cr_assert(strstr(R.err, "is not a verifier state") != NULL, "%s", R.err);
    CTL("state", bad, "--policy", pol);
    ASSERT_RC(4);
    cr_assert_eq(stat(bad, &sb), 0);
    cr_assert_eq(sb.st_size, 11);
    CTL("verify", ev, "--aik", aik, "--policy", pol, "--nonce", nonce, "--state", "-");
    ASSERT_RC(2);
    CTL("state", st);
    ASSERT_RC(2);
    snprintf(ref, sizeof(ref), "rm -rf %s", dir);
    cr_assert_eq(system(ref), 0);
}
