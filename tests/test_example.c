/*
 * The worked example of docs/evidence.md: the stored evidence (tests/data/example/, written
 * by tests/make-example.c) verifies with srtm_verify against its stored policy and AIK
 * with the documented verdict, altered copies of it do not, and every hex block of the
 * document (between <!-- example:NAME --> and <!-- /example:NAME -->) equals the bytes this
 * test computes from the stored files with the project's own code, so the document cannot
 * drift from the code. The reversible log the document uses to explain the replay is judged
 * here too.
 */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtm/srtm.h>

#include "irk.h"
#include "km.h"
#include "merkle.h"
#include "srtm.pb-c.h"
#include "verify_int.h"

#define MAX_BLOCKS 64
#define MAX_BLOCK 4096

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char *buf = malloc(1 << 20);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

static const char *example_dir(void)
{
    static char dir[4096];
    const char *data = getenv("SRTM_TEST_DATA");
    cr_assert_not_null(data, "SRTM_TEST_DATA is not set");
    snprintf(dir, sizeof(dir), "%s/example", data);
    return dir;
}

static char *read_nonce(uint8_t nonce[64], size_t *len)
{
    char *hex = slurp(example_dir(), "nonce.hex", NULL);
    size_t n = strcspn(hex, "\n");
    cr_assert(n % 2 == 0 && n / 2 <= 64);
    for (size_t i = 0; i < n / 2; i++)
        cr_assert(sscanf(hex + 2 * i, "%2hhx", &nonce[i]) == 1);
    *len = n / 2;
    return hex;
}

/* srtm_verify on ev with the example's AIK, policy and nonce; the verdict lines. */
static srtm_err verify(const uint8_t *ev, size_t len, const uint8_t *nonce, size_t nonce_len,
                       char *verdict, size_t size)
{
    char path[4096], msg[512];
    snprintf(path, sizeof(path), "%s/policy.json", example_dir());
    srtm_verifier_policy *pol = NULL;
    cr_assert_eq(srtm_policy_load(path, &pol, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    char *aik = slurp(example_dir(), "aik.pem", NULL);
    srtm_verify_result *r = NULL;
    srtm_err err = srtm_verify(ev, len, aik, pol, nonce, nonce_len, &r);
    cr_assert_not_null(r);
    size_t used = 0;
    verdict[0] = '\0';
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++)
        if (!srtm_verify_result_check_ok(r, i))
            used += (size_t)snprintf(verdict + used, size - used, "check %s: failed\n",
                                     srtm_verify_result_check_name(r, i));
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++)
        used += (size_t)snprintf(verdict + used, size - used, "%s: %s\n",
                                 srtm_verify_result_component_name(r, i),
                                 srtm_verify_result_component_trusted(r, i) ? "trusted"
                                                                           : "untrusted");
    srtm_verify_result_free(r);
    srtm_policy_free(pol);
    free(aik);
    return err;
}

/* The verdict docs/evidence.md documents for the example. */
#define EXAMPLE_VERDICT "platform: trusted\nvm-a: trusted\n"

static void verifies(const char *file)
{
    size_t len = 0, nonce_len = 0;
    uint8_t nonce[64];
    char verdict[1024];
    free(read_nonce(nonce, &nonce_len));
    char *ev = slurp(example_dir(), file, &len);
    cr_assert_eq(verify((uint8_t *)ev, len, nonce, nonce_len, verdict, sizeof(verdict)), SRTM_OK,
                 "%s", verdict);
    cr_assert_str_eq(verdict, EXAMPLE_VERDICT);
    free(ev);
}

Test(example, evidence_verifies)
{
    verifies("evidence.bin");
}

Test(example, batched_evidence_verifies)
{
    verifies("evidence-batch.bin");
}

/* Any changed byte of the report, and another nonce, are refused. */
Test(example, altered_evidence_refused)
{
    size_t len = 0, nonce_len = 0;
    uint8_t nonce[64];
    char verdict[1024];
    free(read_nonce(nonce, &nonce_len));
    char *ev = slurp(example_dir(), "evidence.bin", &len);
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, (uint8_t *)ev);
    cr_assert_not_null(e);
    /* The last byte of the report (vm-a's depends_on) lies inside the file at the same
     * offset as in the report: find it and flip it. */
    uint8_t *at = NULL;
    for (size_t i = 0; at == NULL && i + e->report.len <= len; i++)
        if (memcmp(ev + i, e->report.data, e->report.len) == 0)
            at = (uint8_t *)ev + i;
    cr_assert_not_null(at);
    at[e->report.len - 1] ^= 0x01;
    cr_assert_eq(verify((uint8_t *)ev, len, nonce, nonce_len, verdict, sizeof(verdict)),
                 SRTM_E_DENIED);
    cr_assert(strstr(verdict, "check quote-qualifier: failed") != NULL, "%s", verdict);
    cr_assert(strstr(verdict, "check irk-signature: failed") != NULL, "%s", verdict);
    at[e->report.len - 1] ^= 0x01;
    nonce[0] ^= 0x80;
    cr_assert_eq(verify((uint8_t *)ev, len, nonce, nonce_len, verdict, sizeof(verdict)),
                 SRTM_E_DENIED);
    cr_assert(strstr(verdict, "check nonce: failed") != NULL, "%s", verdict);
    srtm__evidence__free_unpacked(e, NULL);
    free(ev);
}

/* file with its IRK signature replaced by the one of other (and, with flip_path, its batch
 * path element changed): the verdict lines of srtm_verify, which must refuse it. */
static void refused_with_signature_of(const char *file, const char *other, bool flip_path,
                                      char *verdict, size_t size)
{
    size_t len = 0, olen = 0, nonce_len = 0;
    uint8_t nonce[64];
    free(read_nonce(nonce, &nonce_len));
    char *raw = slurp(example_dir(), file, &len), *oraw = slurp(example_dir(), other, &olen);
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, len, (uint8_t *)raw);
    Srtm__Evidence *o = srtm__evidence__unpack(NULL, olen, (uint8_t *)oraw);
    cr_assert(e != NULL && o != NULL);
    uint8_t sig[IRK_SIG_MAX];
    cr_assert(o->irk_signature.len <= sizeof(sig));
    memcpy(sig, o->irk_signature.data, o->irk_signature.len);
    ProtobufCBinaryData own = e->irk_signature; /* freed with e */
    e->irk_signature = (ProtobufCBinaryData){o->irk_signature.len, sig};
    if (flip_path)
        e->batch->path[0].data[0] ^= 0x01;
    size_t n = srtm__evidence__get_packed_size(e);
    uint8_t *packed = malloc(n);
    cr_assert_not_null(packed);
    srtm__evidence__pack(e, packed);
    cr_assert_eq(verify(packed, n, nonce, nonce_len, verdict, size), SRTM_E_DENIED, "%s",
                 verdict);
    free(packed);
    e->irk_signature = own;
    srtm__evidence__free_unpacked(e, NULL);
    srtm__evidence__free_unpacked(o, NULL);
    free(raw);
    free(oraw);
}

/* A batched answer carries the IRK's signature of the batch's root, a lone one the
 * signature of its report: neither passes for the other, and a path that does not lead to
 * the signed root fails the signature as well as the quote. */
Test(example, batch_signature_bound_to_its_root)
{
    char verdict[1024];
    refused_with_signature_of("evidence-batch.bin", "evidence.bin", false, verdict,
                              sizeof(verdict));
    cr_expect(strstr(verdict, "check irk-signature: failed") != NULL, "%s", verdict);
    cr_expect(strstr(verdict, "check quote-qualifier: failed") == NULL, "%s", verdict);
    refused_with_signature_of("evidence.bin", "evidence-batch.bin", false, verdict,
                              sizeof(verdict));
    cr_expect(strstr(verdict, "check irk-signature: failed") != NULL, "%s", verdict);
    cr_expect(strstr(verdict, "check quote-qualifier: failed") == NULL, "%s", verdict);
    refused_with_signature_of("evidence-batch.bin", "evidence-batch.bin", true, verdict,
                              sizeof(verdict));
    cr_expect(strstr(verdict, "check irk-signature: failed") != NULL, "%s", verdict);
    cr_expect(strstr(verdict, "check quote-qualifier: failed") != NULL, "%s", verdict);
}

/* ---- the document's hex blocks ---- */

typedef struct block {
    char name[64];
    uint8_t b[MAX_BLOCK];
    size_t len;
} block;

typedef struct blocks {
    block v[MAX_BLOCKS];
    size_t n;
} blocks;

static block *add(blocks *bs, const char *name)
{
    cr_assert(bs->n < MAX_BLOCKS);
    block *b = &bs->v[bs->n++];
    snprintf(b->name, sizeof(b->name), "%s", name);
    b->len = 0;
    return b;
}

static void put(block *b, const void *data, size_t len)
{
    cr_assert(b->len + len <= MAX_BLOCK);
    memcpy(b->b + b->len, data, len);
    b->len += len;
}

static void put_sha(block *b, const void *a, size_t alen, const void *c, size_t clen)
{
    uint8_t h[32];
    sha256_hasher *ctx = NULL;
    cr_assert_eq(sha256_hasher_new(&ctx), SRTM_OK);
    cr_assert_eq(sha256_hasher_two(ctx, a, alen, c, clen, h), SRTM_OK);
    sha256_hasher_free(ctx);
    put(b, h, 32);
}

static void one(blocks *bs, const char *name, const void *data, size_t len)
{
    put(add(bs, name), data, len);
}

/* Every block the document must hold, computed from the stored plain evidence. */
static void plain_blocks(blocks *bs, const uint8_t *raw, size_t raw_len)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, raw_len, raw);
    cr_assert_not_null(e);
    const ProtobufCBinaryData *n = &e->nonce, *r = &e->report, *pub = &e->irk_public;
    uint8_t rh[32], q[32], cq[32], der[KM_MAX_DER_SIG];
    size_t der_len = 0;
    cr_assert_eq(srtm_sha256(r->data, r->len, rh), SRTM_OK);
    cr_assert_eq(irk_quote_qualifier(n->data, n->len, r->data, r->len, q), SRTM_OK);
    cr_assert_eq(irk_cert_qualifier(pub->data, pub->len, cq), SRTM_OK);
    one(bs, "evidence", raw, raw_len);
    one(bs, "nonce", n->data, n->len);
    one(bs, "report", r->data, r->len);
    one(bs, "report-sha256", rh, 32);
    block *b = add(bs, "quote-qualifier-input");
    put(b, n->data, n->len);
    put(b, rh, 32);
    one(bs, "quote-qualifier", q, 32);
    const Srtm__TpmQuote *qt = e->quote, *ct = e->irk_certificate;
    one(bs, "quote-attest", qt->attest.data, qt->attest.len);
    b = add(bs, "quote-pcr-input");
    put(b, qt->pcr_values[0].data, 32);
    put(b, qt->pcr_values[1].data, 32);
    put_sha(add(bs, "quote-pcr-digest"), qt->pcr_values[0].data, 32, qt->pcr_values[1].data, 32);
    one(bs, "quote-signature", qt->signature.data, qt->signature.len);
    cr_assert_eq(km_sig_to_der(qt->signature.data, qt->signature.len, der, sizeof(der), &der_len),
                 SRTM_OK);
    one(bs, "quote-signature-der", der, der_len);
    one(bs, "irk-public", pub->data, pub->len);
    b = add(bs, "certificate-qualifier-input");
    put(b, IRK_CERT_TAG, strlen(IRK_CERT_TAG));
    put(b, pub->data, pub->len);
    one(bs, "certificate-qualifier", cq, 32);
    one(bs, "certificate-attest", ct->attest.data, ct->attest.len);
    put_sha(add(bs, "certificate-pcr-digest"), ct->pcr_values[0].data, 32,
            ct->pcr_values[1].data, 32);
    one(bs, "certificate-signature", ct->signature.data, ct->signature.len);
    b = add(bs, "irk-message");
    put(b, IRK_REPORT_TAG, strlen(IRK_REPORT_TAG));
    put(b, n->data, n->len);
    put(b, rh, 32);
    put_sha(add(bs, "irk-message-sha256"), b->b, b->len, NULL, 0);
    one(bs, "irk-signature", e->irk_signature.data, e->irk_signature.len);

    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, r->len, r->data);
    cr_assert_not_null(rep);
    cr_assert_eq(rep->n_components, 2);
    const Srtm__ReportCcr *ccr = rep->components[1]->ccrs[0];
    cr_assert_eq(ccr->n_log, 2);
    uint8_t value[32] = {0};
    for (size_t k = 0; k < ccr->n_log; k++) {
        char name[64];
        snprintf(name, sizeof(name), "replay-%zu-input", k + 1);
        b = add(bs, name);
        put(b, value, 32);
        put(b, ccr->log[k]->digest.data, 32);
        cr_assert_eq(km_pcr_extend_sw(value, ccr->log[k]->digest.data, value), SRTM_OK);
        snprintf(name, sizeof(name), "replay-%zu", k + 1);
        one(bs, name, value, 32);
    }
    cr_assert_arr_eq(value, ccr->value.data, 32);
    srtm__ccr_report__free_unpacked(rep, NULL);
    srtm__evidence__free_unpacked(e, NULL);
}

/* The blocks of the batched evidence: the proof's bytes, the leaf, the node, the root. */
static void batched_blocks(blocks *bs, const uint8_t *raw, size_t raw_len)
{
    Srtm__Evidence *e = srtm__evidence__unpack(NULL, raw_len, raw);
    cr_assert_not_null(e);
    cr_assert_not_null(e->batch);
    const Srtm__MerkleProof *p = e->batch;
    cr_assert(p->leaf_index == 2 && p->leaf_count == 3 && p->n_path == 1);
    /* Field 8 is the last one written: its key, its length and the packed proof. */
    size_t plen = srtm__merkle_proof__get_packed_size(p);
    cr_assert(plen < 128 && raw_len > plen + 2);
    one(bs, "batched-batch", raw + raw_len - plen - 2, plen + 2);
    cr_assert_eq(raw[raw_len - plen - 2], (8 << 3) | 2);
    uint8_t q[32], zero = 0x00, one_b = 0x01, leaf[32], node[32], root[32];
    cr_assert_eq(irk_quote_qualifier(e->nonce.data, e->nonce.len, e->report.data, e->report.len,
                                     q),
                 SRTM_OK);
    block *b = add(bs, "batched-batch-leaf");
    put_sha(b, &zero, 1, q, 32);
    memcpy(leaf, b->b, 32);
    uint8_t in[65];
    in[0] = one_b;
    memcpy(in + 1, p->path[0].data, 32);
    memcpy(in + 33, leaf, 32);
    b = add(bs, "batched-batch-node");
    put_sha(b, in, sizeof(in), NULL, 0);
    memcpy(node, b->b, 32);
    uint8_t c[37] = {0x02, 0, 0, 0, 3};
    memcpy(c + 5, node, 32);
    b = add(bs, "batched-batch-root");
    put_sha(b, c, sizeof(c), NULL, 0);
    cr_assert_eq(merkle_root_from_path(q, 2, 3, (const uint8_t(*)[32])p->path[0].data, 1, root),
                 SRTM_OK);
    cr_assert_arr_eq(root, b->b, 32);
    one(bs, "batched-quote-attest", e->quote->attest.data, e->quote->attest.len);
    /* The batch's one IRK signature, over "srtm-irk-batch-v1" || root. */
    b = add(bs, "batched-batch-irk-message");
    put(b, IRK_BATCH_TAG, strlen(IRK_BATCH_TAG));
    put(b, root, 32);
    block *m = b;
    b = add(bs, "batched-batch-irk-message-sha256");
    put_sha(b, m->b, m->len, NULL, 0);
    one(bs, "batched-irk-signature", e->irk_signature.data, e->irk_signature.len);
    srtm__evidence__free_unpacked(e, NULL);
}

static void expected_blocks(blocks *bs)
{
    size_t len = 0;
    char *raw = slurp(example_dir(), "evidence.bin", &len);
    plain_blocks(bs, (uint8_t *)raw, len);
    free(raw);
    raw = slurp(example_dir(), "evidence-batch.bin", &len);
    batched_blocks(bs, (uint8_t *)raw, len);
    free(raw);
}

/* The bytes of one block's text: per line, '#' starts a comment, fence lines are skipped,
 * everything else must be two-digit hex tokens. false when the text is not that. */
static bool parse_hex(const char *s, const char *end, uint8_t *out, size_t *len)
{
    *len = 0;
    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (eol == NULL)
            eol = end;
        const char *stop = memchr(s, '#', (size_t)(eol - s));
        if (stop == NULL)
            stop = eol;
        const char *p = s;
        while (p < stop && isspace((unsigned char)*p))
            p++;
        if (stop - p >= 3 && strncmp(p, "```", 3) == 0)
            p = stop;
        while (p < stop) {
            if (isspace((unsigned char)*p)) {
                p++;
                continue;
            }
            if (stop - p < 2 || !isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
                (stop - p > 2 && !isspace((unsigned char)p[2])) || *len >= MAX_BLOCK)
                return false;
            unsigned v;
            if (sscanf(p, "%2x", &v) != 1)
                return false;
            out[(*len)++] = (uint8_t)v;
            p += 2;
        }
        s = eol + 1;
    }
    return true;
}

/* How many ways doc differs from the expected blocks (each logged when loud): a block
 * missing, unknown, present twice, unterminated, or with other bytes. */
#define MISMATCH(...)                                                                              \
    do {                                                                                           \
        if (loud)                                                                                  \
            cr_log_error(__VA_ARGS__);                                                             \
        bad++;                                                                                     \
    } while (0)

static size_t doc_mismatches(const char *doc, const blocks *bs, bool loud)
{
    size_t bad = 0, seen[MAX_BLOCKS] = {0};
    static uint8_t got[MAX_BLOCK];
    for (const char *s = strstr(doc, "<!-- example:"); s != NULL;
         s = strstr(s + 1, "<!-- example:")) {
        const char *name = s + strlen("<!-- example:");
        size_t nlen = strcspn(name, " \n");
        char close[128];
        snprintf(close, sizeof(close), "<!-- /example:%.*s -->", (int)nlen, name);
        const char *body = strstr(name, "-->"), *end = body ? strstr(body, close) : NULL;
        size_t i = 0;
        while (i < bs->n && (strlen(bs->v[i].name) != nlen || strncmp(bs->v[i].name, name, nlen)))
            i++;
        size_t len = 0;
        if (i == bs->n) {
            MISMATCH("block %.*s: not one the test knows", (int)nlen, name);
        } else if (end == NULL) {
            MISMATCH("block %s: no %s", bs->v[i].name, close);
        } else if (++seen[i] > 1) {
            MISMATCH("block %s: appears twice", bs->v[i].name);
        } else if (!parse_hex(body + 3, end, got, &len)) {
            MISMATCH("block %s: a line is not hex bytes and a # comment", bs->v[i].name);
        } else if (len != bs->v[i].len || memcmp(got, bs->v[i].b, len) != 0) {
            MISMATCH("block %s: %zu bytes differ from the %zu of the stored example "
                         "(run tests/data/regenerate-example.sh)",
                         bs->v[i].name, len, bs->v[i].len);
        }
    }
    for (size_t i = 0; i < bs->n; i++)
        if (seen[i] == 0) {
            MISMATCH("block %s: missing from the document", bs->v[i].name);
        }
    return bad;
}

static char *read_doc(void)
{
    const char *docs = getenv("SRTM_DOCS");
    cr_assert_not_null(docs, "SRTM_DOCS is not set");
    return slurp(docs, "evidence.md", NULL);
}

Test(example, document_matches_the_stored_example)
{
    static blocks bs;
    expected_blocks(&bs);
    char *doc = read_doc();
    cr_assert_eq(doc_mismatches(doc, &bs, true), 0, "docs/evidence.md drifted from tests/data/example");
    free(doc);
}

/* The comparison can fail: one hex digit changed, one block removed. */
Test(example, document_drift_detected)
{
    static blocks bs;
    expected_blocks(&bs);
    char *doc = read_doc();
    char *at = strstr(doc, "<!-- example:report-sha256 -->");
    cr_assert_not_null(at);
    char *digit = strstr(at, "```\n");
    cr_assert_not_null(digit);
    digit += 4;
    char saved = *digit;
    *digit = saved == '0' ? '1' : '0';
    cr_assert_geq(doc_mismatches(doc, &bs, false), 1);
    *digit = saved;
    cr_assert_eq(doc_mismatches(doc, &bs, false), 0);
    memcpy(at, "<!-- removed:report-sha", strlen("<!-- removed:report-sha"));
    cr_assert_geq(doc_mismatches(doc, &bs, false), 1);
    free(doc);
}

/* ---- the reversible log of docs/evidence.md, "Replay of one CCR" ---- */

#define HEX64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* Judges the document's four-entry log (D1, D2 reverted, a marker back to seq 5, D3) as
 * CCR 1 of a component whose policy allows D1 and D3 only; returns the first reason, or
 * "" when trusted. */
static void judge_reversible(bool d2_reverted, uint64_t to_seq, char *reason, size_t size)
{
    static const char text[] =
        "{\"format\": \"srtm-policy-v1\", \"aik\": {\"scheme\": \"ecdsa-sha256\"},"
        " \"pcrs\": {\"proof\": {\"0\": \"" HEX64("00") "\"}, \"running\": {\"0\": \"" HEX64(
            "11") "\"}},"
        " \"components\": {\"fw\": {\"ccrs\": {\"1\": {\"allowed_digests\": [\"" HEX64(
            "01") "\", \"" HEX64("03") "\"]}}}}}";
    srtm_verifier_policy *pol = NULL;
    char msg[256];
    cr_assert_eq(srtm_policy_parse(text, strlen(text), ".", &pol, msg, sizeof(msg)), SRTM_OK,
                 "%s", msg);
    uint8_t d[3][32], v1[32], v3[32];
    for (int i = 0; i < 3; i++)
        memset(d[i], i + 1, 32);
    cr_assert_eq(km_pcr_extend_sw((const uint8_t[32]){0}, d[0], v1), SRTM_OK);
    cr_assert_eq(km_pcr_extend_sw(v1, d[2], v3), SRTM_OK);
    Srtm__LogEntry e[4], *log[4];
    for (int i = 0; i < 4; i++) {
        srtm__log_entry__init(&e[i]);
        log[i] = &e[i];
    }
    e[0].seq = 5;
    e[0].digest = (ProtobufCBinaryData){32, d[0]};
    e[1].seq = 7;
    e[1].digest = (ProtobufCBinaryData){32, d[1]};
    e[1].reverted = d2_reverted;
    e[2].seq = 9;
    e[2].revert_marker = true;
    e[2].revert_to_seq = to_seq;
    e[3].seq = 12;
    e[3].digest = (ProtobufCBinaryData){32, d[2]};
    Srtm__ReportCcr ccr = SRTM__REPORT_CCR__INIT, *ccrs[] = {&ccr};
    ccr.index = 1;
    ccr.policy = SRTM__CHANGE_POLICY__POLICY_REVERSIBLE;
    ccr.value = (ProtobufCBinaryData){32, v3};
    ccr.n_log = 4;
    ccr.log = log;
    Srtm__ReportComponent c = SRTM__REPORT_COMPONENT__INIT;
    c.handle = 1;
    c.name = "fw";
    c.n_ccrs = 1;
    c.ccrs = ccrs;
    verify_verdict v = {.trusted = true};
    cr_assert_eq(verify_component_rules(pol, &c, &v), SRTM_OK);
    snprintf(reason, size, "%s", v.trusted ? "" : v.n_reasons > 0 ? v.reasons[0] : "?");
    verdict_clear(&v);
    srtm_policy_free(pol);
}

/* The log as documented replays to v3, and the reverted D2 is not judged by the
 * allowlist (which lacks it). */
Test(example, reversible_log_as_documented)
{
    char reason[512];
    judge_reversible(true, 5, reason, sizeof(reason));
    cr_assert_str_eq(reason, "");
}

/* The two inconsistencies the document shows, with its reason texts. */
Test(example, reversible_log_inconsistencies)
{
    char reason[512];
    judge_reversible(false, 5, reason, sizeof(reason));
    cr_assert_str_eq(reason, "CCR 1: log entry 1: a measurement undone by a revert is not "
                             "marked reverted");
    judge_reversible(true, 6, reason, sizeof(reason));
    cr_assert_str_eq(reason, "CCR 1: log entry 2: a revert marker names no live measurement");
}
