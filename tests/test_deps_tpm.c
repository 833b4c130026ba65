/*
 * Dependency changes as evidence, on a real platform (swtpm, srtm-keymgr, srtm-launch,
 * srtmd; tests/helpers.c test_platform_start), through libsrtm and srtmctl: who may
 * remove an edge and revert a CCR (srtmd refuses the rest), the removal recorded in the
 * signed report, and the verifier judging a removed dependency as it was at the cut and
 * reverts by who made them (docs/protocol.md "Dependency changes", docs/verifier.md).
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "helpers.h"
#include "verify_int.h"

static const uint8_t NONCE[16] = {0x10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
#define NONCE_HEX "10112233445566778899aabbccddeeff"

static test_platform P;
static srtm_conn *conn;

static void stop_platform(void)
{
    srtm_close(conn);
    conn = NULL;
    test_platform_stop(&P);
}

TestSuite(deps_tpm, .fini = stop_platform, .timeout = 300);

static void start(void)
{
    test_platform_start(&P);
    cr_assert_eq(srtm_open(P.d.url, &conn), SRTM_OK);
}

static void digest_hex(const char *data, char out[65])
{
    uint8_t d[SRTM_DIGEST_LEN];
    cr_assert_eq(srtm_sha256(data, strlen(data), d), SRTM_OK);
    cr_assert_eq(hex_encode(d, sizeof(d), out, 65), SRTM_OK);
}

static uint64_t reg(const char *name, const char *parent, const srtm_cap *auth,
                    const char *dep, uint32_t ccrs, const uint32_t *rev, size_t nrev,
                    srtm_cap *cap)
{
    uint64_t h = 0;
    const char *deps[] = {dep};
    srtm_err err = srtm_register_child(conn, auth, parent, name, ccrs, dep ? deps : NULL,
                                       dep ? 1 : 0, rev, nrev, &h, cap);
    cr_assert_eq(err, SRTM_OK, "register %s: %s", name, srtm_last_message(conn));
    return h;
}

static uint64_t measure(const srtm_cap *cap, const char *comp, uint32_t ccr, const char *data)
{
    uint64_t seq = 0;
    srtm_err err = srtm_extend_data(conn, cap, comp, ccr, data, strlen(data), 1, data, &seq);
    cr_assert_eq(err, SRTM_OK, "extend %s: %s", comp, srtm_last_message(conn));
    return seq;
}

static void save_cap(const char *name, const srtm_cap *cap, char *path, size_t size)
{
    snprintf(path, size, "%s/%s.cap", P.dir, name);
    cr_assert_eq(srtm_cap_save(path, cap), SRTM_OK);
}

/* {"NAME":{"ccrs":{"C":{"allowed_digests":[D]}}}} for one datum. */
static void allow1(char *out, size_t size, const char *name, const char *ccrs_json)
{
    snprintf(out, size, "\"%s\":{%s\"ccrs\":{%s}}", name, "", ccrs_json);
}

static void ccr_rule(char *out, size_t size, unsigned index, const char *a, const char *b)
{
    char ha[65], hb[65];
    digest_hex(a, ha);
    digest_hex(b != NULL ? b : a, hb);
    snprintf(out, size, "\"%u\":{\"allowed_digests\":[\"%s\",\"%s\"]}", index, ha, hb);
}

/* The policy text: the platform's reference PCRs and the components object given. */
static char *policy_text(const char *components)
{
    char *t = NULL;
    cr_assert(asprintf(&t,
                       "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                       "\"pcrs\":{\"reference_file\":\"%s\"},\"components\":{%s}}",
                       P.ref, components) > 0);
    return t;
}

static srtm_verify_result *verify_with(const uint8_t *ev, size_t len, const char *components)
{
    char *pem = NULL;
    size_t pem_len = 0;
    cr_assert_eq(read_small_file(P.aik_pem, 65536, &pem, &pem_len), SRTM_OK);
    char *text = policy_text(components);
    srtm_verifier_policy *pol = NULL;
    char msg[512];
    cr_assert_eq(srtm_policy_parse(text, strlen(text), "/", &pol, msg, sizeof(msg)), SRTM_OK,
                 "policy: %s", msg);
    srtm_verify_result *r = NULL;
    srtm_err err = srtm_verify(ev, len, pem, pol, NONCE, sizeof(NONCE), &r);
    cr_assert(err == SRTM_OK || err == SRTM_E_DENIED, "srtm_verify: %s", srtm_strerror(err));
    srtm_policy_free(pol);
    free(text);
    free(pem);
    return r;
}

static size_t comp(const srtm_verify_result *r, const char *name)
{
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        if (strcmp(srtm_verify_result_component_name(r, i), name) == 0)
            return i;
    cr_assert_fail("no verdict for %s", name);
    return 0;
}

static bool reason_has(const srtm_verify_result *r, const char *name, const char *part)
{
    size_t i = comp(r, name);
    for (size_t j = 0; j < srtm_verify_result_component_reason_count(r, i); j++)
        if (strstr(srtm_verify_result_component_reason(r, i, j), part) != NULL)
            return true;
    return false;
}

static void expect_trusted(const srtm_verify_result *r, const char *name)
{
    size_t i = comp(r, name);
    cr_expect(srtm_verify_result_component_trusted(r, i), "%s: %s", name,
              srtm_verify_result_component_reason(r, i, 0));
}

/*
 * fw is measured bad and vm depends on it. fw cannot remove the edge (srtmctl undepend
 * --actor fw is refused and the edge stays); vm may remove it, but the verdict stays
 * untrusted, naming the removed edge and its seq: fw was untrusted when it was cut.
 */
Test(deps_tpm, a_bad_dependency_cannot_cut_itself_loose)
{
    start();
    srtm_cap fw, vm;
    reg("fw", NULL, &P.d.admin, NULL, 1, NULL, 0, &fw);
    reg("vm", NULL, &P.d.admin, NULL, 1, NULL, 0, &vm);
    cr_assert_eq(srtm_depend(conn, &vm, "vm", "fw", NULL, false, NULL), SRTM_OK);
    measure(&vm, "vm", 0, "vm-kernel");
    measure(&fw, "fw", 0, "fw-evil");
    char fwcap[300], out[8192], err[4096];
    save_cap("fw", &fw, fwcap, sizeof(fwcap));
    const char *ctl = test_binary("SRTMCTL");
    const char *u[] = {ctl, "--socket", P.d.url, "--cap", fwcap, "undepend", "vm", "--on",
                       "fw", "--actor", "fw", NULL};
    cr_assert_eq(test_run(u, out, sizeof(out), err, sizeof(err)), 1, "%s%s", out, err);
    cr_expect(strstr(err, "may not remove") != NULL, "%s", err);
    cr_expect_eq(srtm_depend(conn, &vm, "vm", "fw", NULL, false, NULL), SRTM_E_EXISTS,
                 "the refused removal changed the graph");
    /* The component itself removes it: allowed, recorded, and judged at the cut. */
    uint64_t cut = 0;
    cr_assert_eq(srtm_depend(conn, &vm, "vm", "fw", NULL, true, &cut), SRTM_OK);
    char evpath[300], polpath[300], want[256];
    snprintf(evpath, sizeof(evpath), "%s/ev.bin", P.dir);
    snprintf(polpath, sizeof(polpath), "%s/policy.json", P.dir);
    const char *q[] = {ctl, "--socket", P.d.url, "quote", "--nonce", NONCE_HEX, "vm",
                       "-o", evpath, NULL};
    cr_assert_eq(test_run(q, out, sizeof(out), err, sizeof(err)), 0, "%s", err);
    char r1[256], r2[256], comps[1024];
    ccr_rule(r1, sizeof(r1), 0, "fw-good", NULL);
    ccr_rule(r2, sizeof(r2), 0, "vm-kernel", NULL);
    char a[512], b[512];
    allow1(a, sizeof(a), "fw", r1);
    allow1(b, sizeof(b), "vm", r2);
    snprintf(comps, sizeof(comps), "%s,%s", a, b);
    char *pol = policy_text(comps);
    FILE *f = fopen(polpath, "w");
    cr_assert(f != NULL);
    fputs(pol, f);
    fclose(f);
    free(pol);
    const char *v[] = {ctl, "verify", evpath, "--aik", P.aik_pem, "--policy", polpath,
                       "--nonce", NONCE_HEX, NULL};
    cr_assert_eq(test_run(v, out, sizeof(out), err, sizeof(err)), 1, "%s%s", out, err);
    snprintf(want, sizeof(want),
             "vm: untrusted: removed its dependency on fw at seq %llu while fw was untrusted: "
             "CCR 0: log entry 0 digest ",
             (unsigned long long)cut);
    cr_expect(strstr(out, want) != NULL, "want '%s' in:\n%s", want, out);
}

/*
 * The genuine changes stay trusted: a component removes a dependency that was trusted
 * when cut; a parent removes the edge it declared; the parent reverts its child. The
 * refusals: the child drops its parent's edge, the parent edge itself, a dependency
 * reverts its dependent. A policy's "revert_by" then decides who may revert.
 */
Test(deps_tpm, genuine_changes_stay_trusted_and_refusals_change_nothing)
{
    start();
    static const uint32_t rev[] = {1};
    srtm_cap dm, fw, vm, app;
    uint64_t hdm = reg("dm", NULL, &P.d.admin, NULL, 1, NULL, 0, &dm);
    uint64_t hfw = reg("fw", NULL, &P.d.admin, NULL, 1, NULL, 0, &fw);
    uint64_t hvm = reg("vm", "dm", &dm, "fw", 2, rev, 1, &vm);
    reg("app", NULL, &P.d.admin, NULL, 1, NULL, 0, &app);
    cr_assert_eq(srtm_depend(conn, &app, "app", "fw", NULL, false, NULL), SRTM_OK);
    measure(&fw, "fw", 0, "fw-good");
    measure(&dm, "dm", 0, "dm-kernel");
    measure(&app, "app", 0, "app-bin");
    measure(&vm, "vm", 0, "vm-kernel");
    uint64_t cfg_a = measure(&vm, "vm", 1, "cfg-a");
    measure(&vm, "vm", 1, "cfg-b");
    /* Refused, nothing changes. */
    cr_expect_eq(srtm_depend(conn, &vm, "vm", "fw", NULL, true, NULL), SRTM_E_DENIED,
                 "the child drops the edge its parent declared");
    cr_expect(strstr(srtm_last_message(conn), "declared by 'dm'") != NULL, "%s",
              srtm_last_message(conn));
    cr_expect_eq(srtm_depend(conn, &vm, "vm", "dm", NULL, true, NULL), SRTM_E_INVALID,
                 "the edge to the parent");
    cr_expect_eq(srtm_revert(conn, &fw, "vm", 1, cfg_a, "fw", NULL, NULL, NULL), SRTM_E_DENIED,
                 "a dependency reverts its dependent");
    cr_expect_eq(srtm_depend(conn, &vm, "vm", "fw", NULL, false, NULL), SRTM_E_EXISTS);
    /* Allowed. */
    cr_assert_eq(srtm_depend(conn, &dm, "vm", "fw", "dm", true, NULL), SRTM_OK,
                 "%s", srtm_last_message(conn));
    cr_assert_eq(srtm_depend(conn, &app, "app", "fw", NULL, true, NULL), SRTM_OK);
    cr_assert_eq(srtm_revert(conn, &dm, "vm", 1, cfg_a, "dm", NULL, NULL, NULL), SRTM_OK,
                 "%s", srtm_last_message(conn));
    uint8_t *ev = NULL;
    size_t len = 0;
    cr_assert_eq(srtm_quote(conn, NONCE, sizeof(NONCE), NULL, 0, &ev, &len), SRTM_OK);

    char fwr[256], dmr[256], appr[256], vm0[256], vm1[256];
    ccr_rule(fwr, sizeof(fwr), 0, "fw-good", NULL);
    ccr_rule(dmr, sizeof(dmr), 0, "dm-kernel", NULL);
    ccr_rule(appr, sizeof(appr), 0, "app-bin", NULL);
    ccr_rule(vm0, sizeof(vm0), 0, "vm-kernel", NULL);
    ccr_rule(vm1, sizeof(vm1), 1, "cfg-a", "cfg-b");
    const char *revert_by[] = {NULL, "[\"self\"]", "[\"dm\",\"self\"]"};
    for (size_t k = 0; k < 3; k++) {
        char comps[4096], rb[128] = "";
        if (revert_by[k] != NULL)
            snprintf(rb, sizeof(rb), "\"revert_by\":%s,", revert_by[k]);
        snprintf(comps, sizeof(comps),
                 "\"dm\":{\"ccrs\":{%s}},\"fw\":{\"ccrs\":{%s}},\"app\":{\"ccrs\":{%s}},"
                 "\"platform/dm/vm\":{%s\"ccrs\":{%s,%s}}",
                 dmr, fwr, appr, rb, vm0, vm1);
        srtm_verify_result *r = verify_with(ev, len, comps);
        expect_trusted(r, "app");
        expect_trusted(r, "dm");
        expect_trusted(r, "fw");
        if (k == 1) {
            char want[128];
            snprintf(want, sizeof(want), "reverted by dm (handle %llu), which may not revert it",
                     (unsigned long long)hdm);
            cr_expect(!srtm_verify_result_component_trusted(r, comp(r, "vm")));
            cr_expect(reason_has(r, "vm", want), "%s",
                      srtm_verify_result_component_reason(r, comp(r, "vm"), 0));
        } else {
            expect_trusted(r, "vm");
        }
        srtm_verify_result_free(r);
    }
    /* The removal is in the signed report, with its actor. */
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert(e != NULL);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    cr_assert(rep != NULL);
    size_t i = verify_find_handle(rep, hvm);
    cr_assert_neq(i, VERIFY_NONE);
    const Srtm__ReportComponent *c = rep->components[i];
    cr_assert_str_eq(c->name, "vm");
    cr_assert_eq(c->n_dependency_changes, 3, "dm and fw at registration, fw removed");
    cr_expect(!c->dependency_changes[0]->removed && c->dependency_changes[0]->on == hdm);
    cr_expect(c->dependency_changes[2]->removed && c->dependency_changes[2]->on == hfw &&
              c->dependency_changes[2]->actor == hdm);
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(e, NULL);
    free(ev);
}

/* The nice value of srtmd's threads: their lowest and highest (field 19 of each
 * /proc/PID/task/TID/stat). */
static void thread_nices(pid_t pid, int *lo, int *hi)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd),
             "for f in /proc/%d/task/*/stat; do sed 's/.*) //' \"$f\" | cut -d' ' -f17; done",
             (int)pid);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    *lo = 100;
    *hi = -100;
    int v = 0;
    while (fscanf(p, "%d", &v) == 1) {
        *lo = v < *lo ? v : *lo;
        *hi = v > *hi ? v : *hi;
    }
    pclose(p);
}

/* A quote of more than 1,024 components is built on srtmd's builder thread, at a lower
 * priority than the threads serving measurements; the evidence holds every component at
 * the cut, each once, in handle order. */
Test(deps_tpm, a_large_table_is_quoted_through_the_builder)
{
    start();
    srtm_cap cap;
    char name[32];
    for (unsigned i = 0; i < 1100; i++) {
        snprintf(name, sizeof(name), "c%u", i);
        reg(name, NULL, &P.d.admin, NULL, 1, NULL, 0, &cap);
    }
    measure(&cap, name, 0, "the last one");
    int lo = 0, hi = 0;
    thread_nices(P.d.pid, &lo, &hi);
    /* The builder: 10 above the others, as far as nice goes (19). */
    cr_expect_eq(hi, lo + 10 > 19 ? 19 : lo + 10,
                 "srtmd's threads run at nice %d to %d: no builder at +10", lo, hi);
    uint8_t *ev = NULL;
    size_t len = 0;
    cr_assert_eq(srtm_quote(conn, NONCE, sizeof(NONCE), NULL, 0, &ev, &len), SRTM_OK, "%s",
                 srtm_last_message(conn));
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert(e != NULL);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    cr_assert(rep != NULL);
    cr_expect_eq(rep->n_components, 1101, "%zu components reported", rep->n_components);
    for (size_t i = 1; i < rep->n_components; i++)
        cr_assert_gt(rep->components[i]->handle, rep->components[i - 1]->handle);
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(e, NULL);
    free(ev);
}
