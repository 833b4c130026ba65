/*
 * Incremental quotes on a real platform (swtpm, srtm-keymgr, srtm-launch, srtmd;
 * tests/helpers.c test_platform_start), through libsrtm (srtm_quote_since), srtmctl and a
 * raw request: what srtmd reports when a verifier names a report of this run it verified
 * (docs/protocol.md, "Incremental quotes"). IRREVERSIBLE logs continue after since_seq
 * with the value of the entries left out (checkpoints crossed: more than 256 entries),
 * REVERSIBLE CCRs and the target of a removed edge are whole, and anything that does not
 * name this run's report at or before the cut (another instance, since_seq 0 or ahead,
 * an instance of another length) is answered in full. Reports are parsed with the
 * generated protobuf-c code.
 */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/evp.h>

#include "common.h"
#include "helpers.h"
#include "srtm.pb-c.h"

static const uint8_t NONCE[16] = {0x1c, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
#define NONCE_HEX "1c112233445566778899aabbccddeeff"

static test_platform P;
static srtm_conn *conn;

static void stop_platform(void)
{
    srtm_close(conn);
    conn = NULL;
    test_platform_stop(&P);
}

TestSuite(incremental_tpm, .fini = stop_platform, .timeout = 300);

/* ---- the platform's components ---- */

static srtm_cap reg(const char *name, uint32_t ccrs, const uint32_t *rev, size_t nrev)
{
    uint64_t h = 0;
    srtm_cap cap;
    srtm_err err = srtm_register_child(conn, &P.d.admin, NULL, name, ccrs, NULL, 0, rev, nrev,
                                       &h, &cap);
    cr_assert_eq(err, SRTM_OK, "register %s: %s", name, srtm_last_message(conn));
    return cap;
}

/* n measurements of CCR ccr of comp in one batch, each digest different. */
static void extend_n(const srtm_cap *cap, const char *comp, uint32_t ccr, size_t n)
{
    static uint32_t counter;
    srtm_batch *b = NULL;
    cr_assert_eq(srtm_batch_new(&b), SRTM_OK);
    for (size_t i = 0; i < n; i++) {
        char text[64];
        uint8_t d[SRTM_DIGEST_LEN];
        snprintf(text, sizeof(text), "%s-%u-%u", comp, ccr, ++counter);
        cr_assert_eq(srtm_sha256(text, strlen(text), d), SRTM_OK);
        cr_assert_eq(srtm_batch_add(b, ccr, d, 1, text), SRTM_OK);
    }
    srtm_err err = srtm_batch_submit(conn, cap, comp, b, NULL, NULL);
    cr_assert_eq(err, SRTM_OK, "extend %s: %s", comp, srtm_last_message(conn));
    srtm_batch_free(b);
}

/* ---- quotes and their reports ---- */

/* The report of an evidence file (caller frees with srtm__ccr_report__free_unpacked). */
static Srtm__CcrReport *report_of(const uint8_t *ev, size_t len)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, ev);
    cr_assert_not_null(e, "the evidence does not parse");
    cr_assert(e->irk_signature.len > 0 && e->quote != NULL, "the evidence is not signed");
    Srtm__CcrReport *r = srtm__ccr_report__unpack(NULL, e->report.len, e->report.data);
    cr_assert_not_null(r, "the report does not parse");
    srtm__evidence__free_unpacked(e, NULL);
    return r;
}

/* Quote every component; since_instance NULL: a full quote (srtm_quote). */
static Srtm__CcrReport *quote(const uint8_t *since_instance, uint64_t since_seq)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    srtm_err err =
        since_instance != NULL
            ? srtm_quote_since(conn, NONCE, sizeof(NONCE), NULL, 0, true, since_instance,
                               since_seq, &ev, &len)
            : srtm_quote(conn, NONCE, sizeof(NONCE), NULL, 0, &ev, &len);
    cr_assert_eq(err, SRTM_OK, "quote: %s", srtm_last_message(conn));
    Srtm__CcrReport *r = report_of(ev, len);
    free(ev);
    return r;
}

/* A quote request sent as raw bytes on a fresh req socket, since_instance of any length:
 * the report of the answer. */
static Srtm__CcrReport *raw_quote(const uint8_t *inst, size_t inst_len, uint64_t since_seq)
{
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce.data = (uint8_t *)NONCE;
    q.nonce.len = sizeof(NONCE);
    q.since_instance.data = (uint8_t *)inst;
    q.since_instance.len = inst_len;
    q.since_seq = since_seq;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    size_t n = srtm__request__get_packed_size(&req);
    uint8_t *buf = malloc(n);
    cr_assert_not_null(buf);
    srtm__request__pack(&req, buf);
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 60000), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 60000), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
    cr_assert_eq(nng_dial(s, P.d.url, NULL, 0), 0);
    cr_assert_eq(nng_send(s, buf, n, 0), 0);
    free(buf);
    void *ans = NULL;
    size_t ans_len = 0;
    cr_assert_eq(nng_recv(s, &ans, &ans_len, NNG_FLAG_ALLOC), 0, "no answer");
    nng_close(s);
    Srtm__Response *resp = srtm__response__unpack(NULL, ans_len, ans);
    nng_free(ans, ans_len);
    cr_assert_not_null(resp);
    cr_assert_eq(resp->status, SRTM__STATUS__STATUS_OK, "quote refused: %s", resp->message);
    cr_assert(resp->result_case == SRTM__RESPONSE__RESULT_QUOTE && resp->quote->evidence);
    size_t elen = srtm__evidence__get_packed_size(resp->quote->evidence);
    uint8_t *ev = malloc(elen);
    cr_assert_not_null(ev);
    srtm__evidence__pack(resp->quote->evidence, ev);
    srtm__response__free_unpacked(resp, NULL);
    Srtm__CcrReport *r = report_of(ev, elen);
    free(ev);
    return r;
}

static const Srtm__ReportComponent *comp_named(const Srtm__CcrReport *r, const char *name)
{
    for (size_t i = 0; i < r->n_components; i++)
        if (strcmp(r->components[i]->name, name) == 0)
            return r->components[i];
    cr_assert_fail("%s is not in the report", name);
    return NULL;
}

/* H(v || d) into v. */
static void step(uint8_t v[32], const uint8_t d[32])
{
    uint8_t in[64];
    unsigned int n = 0;
    memcpy(in, v, 32);
    memcpy(in + 32, d, 32);
    cr_assert(EVP_Digest(in, sizeof(in), v, &n, EVP_sha256(), NULL) == 1);
}

/* inc's CCR continues full's (the same CCR at the same cut): entries from offset on, the
 * replay of full's entries before offset as base value, the same value. */
static void expect_continues(const Srtm__ReportCcr *inc, const Srtm__ReportCcr *full,
                             uint64_t offset, const char *what)
{
    cr_assert_eq(inc->log_offset, offset, "%s: log_offset %llu, want %llu", what,
                 (unsigned long long)inc->log_offset, (unsigned long long)offset);
    cr_assert_eq(full->log_offset, 0, "%s: the full report has an offset", what);
    cr_assert_eq(inc->n_log + offset, full->n_log, "%s: %zu entries after %llu of %zu", what,
                 inc->n_log, (unsigned long long)offset, full->n_log);
    uint8_t v[32] = {0};
    for (size_t i = 0; i < offset; i++)
        step(v, full->log[i]->digest.data);
    if (offset > 0) {
        cr_assert_eq(inc->base_value.len, 32, "%s", what);
        cr_assert_arr_eq(inc->base_value.data, v, 32,
                         "%s: the base value is not the replay of the entries left out", what);
    } else {
        cr_assert_eq(inc->base_value.len, 0, "%s: a base value without offset", what);
    }
    for (size_t i = 0; i < inc->n_log; i++) {
        const Srtm__LogEntry *a = inc->log[i], *b = full->log[offset + i];
        cr_assert_eq(a->index, offset + i, "%s: entry %zu has index %llu", what, i,
                     (unsigned long long)a->index);
        cr_assert_eq(a->seq, b->seq, "%s: entry %zu", what, i);
        cr_assert_eq(a->digest.len, b->digest.len, "%s: entry %zu", what, i);
        if (a->digest.len > 0)
            cr_assert_arr_eq(a->digest.data, b->digest.data, 32, "%s: entry %zu", what, i);
        cr_assert_eq(a->revert_marker, b->revert_marker, "%s: entry %zu", what, i);
        cr_assert_str_eq(a->description, b->description, "%s: entry %zu", what, i);
        cr_assert_eq(a->reverted, b->reverted, "%s: entry %zu", what, i);
        if (!a->revert_marker && !a->reverted)
            step(v, a->digest.data);
    }
    cr_assert_arr_eq(inc->value.data, full->value.data, 32, "%s: value", what);
    if (inc->policy == SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE)
        cr_assert_arr_eq(inc->value.data, v, 32, "%s: value is not the replay from the base",
                         what);
}

/* The platform of the tests: vm (CCR 0 and 2 IRREVERSIBLE, CCR 1 REVERSIBLE), dep and
 * app, app having added and then removed its edge to dep (a removal record). */
static srtm_cap vm, dep, app;

static void populate(void)
{
    test_platform_start(&P);
    cr_assert_eq(srtm_open(P.d.url, &conn), SRTM_OK);
    uint32_t rev1 = 1;
    vm = reg("vm", 3, &rev1, 1);
    dep = reg("dep", 1, NULL, 0);
    app = reg("app", 1, NULL, 0);
    extend_n(&vm, "vm", 0, 600);
    extend_n(&vm, "vm", 1, 5);
    extend_n(&dep, "dep", 0, 300);
    extend_n(&app, "app", 0, 300);
    cr_assert_eq(srtm_depend(conn, &app, "app", "dep", NULL, false, NULL), SRTM_OK);
    cr_assert_eq(srtm_depend(conn, &app, "app", "dep", NULL, true, NULL), SRTM_OK,
                 "remove: %s", srtm_last_message(conn));
}

/* More of everything after the first report. */
static void grow(void)
{
    extend_n(&vm, "vm", 0, 100);
    extend_n(&vm, "vm", 1, 3);
    extend_n(&vm, "vm", 2, 2);
    uint64_t reverted = 0;
    cr_assert_eq(srtm_revert(conn, &vm, "vm", 1, 0, NULL, &reverted, NULL, NULL), SRTM_OK,
                 "revert: %s", srtm_last_message(conn));
    extend_n(&dep, "dep", 0, 10);
    extend_n(&app, "app", 0, 10);
}

/*
 * The verifier verified a full report R1; srtmd grows; the quote since R1 reports each
 * IRREVERSIBLE CCR from the first entry after R1's seq with the value before it, which
 * is R1's value; the full report of the same cut holds exactly the left-out entries
 * before the reported ones. REVERSIBLE CCRs (reverted to the start since R1) and the
 * removed edge's target are whole.
 */
Test(incremental_tpm, an_incremental_report_continues_the_full_one)
{
    populate();
    Srtm__CcrReport *r1 = quote(NULL, 0);
    cr_assert_eq(r1->since_seq, 0);
    cr_assert_eq(r1->srtm_instance.len, SRTM_INSTANCE_LEN);
    grow();
    Srtm__CcrReport *inc = quote(r1->srtm_instance.data, r1->seq);
    Srtm__CcrReport *full = quote(NULL, 0);
    cr_assert_eq(inc->seq, full->seq, "srtmd changed between the two quotes");
    cr_assert_gt(inc->seq, r1->seq);
    cr_assert_eq(inc->since_seq, r1->seq);
    cr_assert_eq(full->since_seq, 0);
    cr_assert_arr_eq(inc->srtm_instance.data, r1->srtm_instance.data, SRTM_INSTANCE_LEN);
    cr_assert_eq(inc->n_components, full->n_components);
    const Srtm__ReportComponent *iv = comp_named(inc, "vm"), *fv = comp_named(full, "vm");
    expect_continues(iv->ccrs[0], fv->ccrs[0], 600, "vm CCR 0 (IRREVERSIBLE, 600 before)");
    cr_assert_arr_eq(iv->ccrs[0]->base_value.data, comp_named(r1, "vm")->ccrs[0]->value.data,
                     32, "the base value is not the value R1 reported");
    expect_continues(iv->ccrs[1], fv->ccrs[1], 0, "vm CCR 1 (REVERSIBLE: whole)");
    cr_assert_eq(iv->ccrs[1]->n_log, 9, "5 + 3 measurements and the revert marker");
    expect_continues(iv->ccrs[2], fv->ccrs[2], 0, "vm CCR 2 (nothing before since)");
    expect_continues(comp_named(inc, "app")->ccrs[0], comp_named(full, "app")->ccrs[0], 300,
                     "app CCR 0");
    expect_continues(comp_named(inc, "dep")->ccrs[0], comp_named(full, "dep")->ccrs[0], 0,
                     "dep CCR 0 (the target of app's removed edge: whole)");
    expect_continues(comp_named(inc, "platform")->ccrs[0],
                     comp_named(full, "platform")->ccrs[0], 0, "platform");
    /* Everything else as in the full report. */
    for (size_t i = 0; i < inc->n_components; i++) {
        const Srtm__ReportComponent *a = inc->components[i], *b = full->components[i];
        cr_assert_str_eq(a->name, b->name);
        cr_assert_eq(a->parent, b->parent);
        cr_assert_eq(a->terminated, b->terminated);
        cr_assert_eq(a->n_depends_on, b->n_depends_on);
        cr_assert_eq(a->n_dependency_changes, b->n_dependency_changes);
        cr_assert_eq(a->n_ccrs, b->n_ccrs);
    }
    /* A second round since the incremental report continues it. */
    extend_n(&vm, "vm", 0, 50);
    Srtm__CcrReport *inc2 = quote(inc->srtm_instance.data, inc->seq);
    cr_assert_eq(inc2->since_seq, inc->seq);
    const Srtm__ReportCcr *c = comp_named(inc2, "vm")->ccrs[0];
    cr_assert_eq(c->log_offset, 700);
    cr_assert_eq(c->n_log, 50);
    cr_assert_arr_eq(c->base_value.data, iv->ccrs[0]->value.data, 32);
    srtm__ccr_report__free_unpacked(inc2, NULL);
    srtm__ccr_report__free_unpacked(r1, NULL);
    srtm__ccr_report__free_unpacked(inc, NULL);
    srtm__ccr_report__free_unpacked(full, NULL);
}

/* Every request that does not name a report of this run at or before srtmd's cut gets
 * the full report: since_seq 0 in it, every log whole; none is refused; srtmd serves on. */
Test(incremental_tpm, anything_else_is_answered_in_full)
{
    populate();
    Srtm__CcrReport *r1 = quote(NULL, 0);
    uint8_t inst[SRTM_INSTANCE_LEN], other[SRTM_INSTANCE_LEN];
    memcpy(inst, r1->srtm_instance.data, sizeof(inst));
    memcpy(other, inst, sizeof(other));
    other[0] ^= 0x80;
    grow();
    Srtm__CcrReport *full = quote(NULL, 0);
    const struct {
        const uint8_t *inst;
        size_t len;
        uint64_t since;
        const char *what;
    } cases[] = {
        {other, SRTM_INSTANCE_LEN, r1->seq, "another instance"},
        {inst, SRTM_INSTANCE_LEN, 0, "since_seq 0"},
        {inst, SRTM_INSTANCE_LEN, full->seq + 1, "since_seq beyond srtmd's"},
        {inst, 5, r1->seq, "a 5-byte instance"},
        {NULL, 0, r1->seq, "no instance"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Srtm__CcrReport *r = cases[i].len == SRTM_INSTANCE_LEN
                                 ? quote(cases[i].inst, cases[i].since)
                                 : raw_quote(cases[i].inst, cases[i].len, cases[i].since);
        cr_assert_eq(r->since_seq, 0, "%s: an incremental report", cases[i].what);
        cr_assert_eq(r->seq, full->seq, "%s: srtmd changed", cases[i].what);
        for (size_t k = 0; k < r->n_components; k++)
            for (size_t j = 0; j < r->components[k]->n_ccrs; j++) {
                const Srtm__ReportCcr *c = r->components[k]->ccrs[j];
                cr_assert_eq(c->log_offset, 0, "%s: %s CCR %zu has an offset", cases[i].what,
                             r->components[k]->name, j);
                cr_assert_eq(c->n_log, full->components[k]->ccrs[j]->n_log, "%s",
                             cases[i].what);
            }
        srtm__ccr_report__free_unpacked(r, NULL);
    }
    /* The same cut, asked properly, is still answered incrementally (a raw 16-byte
     * instance too); and srtmctl asks the same way. */
    Srtm__CcrReport *inc = raw_quote(inst, SRTM_INSTANCE_LEN, r1->seq);
    cr_assert_eq(inc->since_seq, r1->seq);
    cr_assert_eq(comp_named(inc, "vm")->ccrs[0]->log_offset, 600);
    srtm__ccr_report__free_unpacked(inc, NULL);
    char hex[2 * SRTM_INSTANCE_LEN + 1], seq[32], evpath[300], out[4096], err[4096];
    cr_assert_eq(hex_encode(inst, sizeof(inst), hex, sizeof(hex)), SRTM_OK);
    snprintf(seq, sizeof(seq), "%llu", (unsigned long long)r1->seq);
    snprintf(evpath, sizeof(evpath), "%s/inc.bin", P.dir);
    const char *q[] = {test_binary("SRTMCTL"), "--socket", P.d.url, "quote", "--nonce",
                       NONCE_HEX, "-o", evpath, "--since-instance", hex, "--since-seq", seq,
                       NULL};
    cr_assert_eq(test_run(q, out, sizeof(out), err, sizeof(err)), 0, "%s%s", out, err);
    char *ev = NULL;
    size_t len = 0;
    cr_assert_eq(read_small_file(evpath, SRTM_MAX_REPORT, &ev, &len), SRTM_OK);
    inc = report_of((const uint8_t *)ev, len);
    cr_assert_eq(inc->since_seq, r1->seq, "srtmctl quote --since-* asked in full");
    cr_assert_eq(comp_named(inc, "vm")->ccrs[0]->log_offset, 600);
    srtm__ccr_report__free_unpacked(inc, NULL);
    free(ev);
    srtm__ccr_report__free_unpacked(r1, NULL);
    srtm__ccr_report__free_unpacked(full, NULL);
    cr_assert(test_daemon_alive(&P.d), "srtmd died");
}
