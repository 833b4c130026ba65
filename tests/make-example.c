/*
 * Writes the worked example of docs/evidence.md: one small evidence file made with
 * software keys instead of a TPM (the AIK and the IRK are the fixed P-256 private keys
 * DIR/aik-key.pem and DIR/irk-key.pem), with the policy, reference file, AIK public key and
 * nonce that verify it. Everything but the ECDSA signatures is deterministic.
 *
 * Usage: make-example DIR    (writes DIR/evidence.bin, evidence-batch.bin, aik.pem,
 *                             policy.json, reference.json, nonce.hex;
 *                             tests/data/regenerate-example.sh runs it)
 *
 * The example: a flat platform, component 0 "platform" with one empty CCR and component 1
 * "vm-a" (parent 0) whose IRREVERSIBLE CCR 0 holds two measurements, with the record of
 * the dependency its registration made; PCRs 0 and 15 quoted.
 * evidence-batch.bin is the same request answered in a batch: leaf 2 of 3 of a Merkle
 * tree whose other two leaves are the qualifiers of two other (made-up) requests, with the
 * IRK's one signature of the batch's root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "irk.h"
#include "km.h"
#include "merkle.h"
#include "srtm.pb-c.h"

#define PCR_BOOT 0u
#define PCR_SRTM 15u
#define CLOSE_TAG "srtm: SRTM-proof-period closed"

static const char *dir;

static void die(const char *what)
{
    fprintf(stderr, "make-example: %s\n", what);
    exit(1);
}

static void sha(const void *a, size_t n, uint8_t out[32])
{
    if (srtm_sha256(a, n, out) != SRTM_OK)
        die("sha256");
}

static void extend(const uint8_t old[32], const uint8_t d[32], uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(buf, old, 32);
    memcpy(buf + 32, d, 32);
    sha(buf, sizeof(buf), out);
}

static void write_out(const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die(path);
}

static EVP_PKEY *read_key(const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    if (k == NULL)
        die(path);
    return k;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* ---- the report ---- */

static const uint8_t instance[16] = {0x5e, 0x1f, 0x0d, 0xa7, 0x30, 0x11, 0x42, 0x9b,
                                     0x8c, 0x6e, 0x2a, 0x71, 0x03, 0xc4, 0xd5, 0x96};

static size_t make_report(uint8_t **out)
{
    static uint8_t d1[32], d2[32], v1[32], v2[32];
    static const uint8_t zero[32];
    sha("/usr/lib/vm-a/kernel", strlen("/usr/lib/vm-a/kernel"), d1);
    sha("/etc/vm-a/config", strlen("/etc/vm-a/config"), d2);
    extend(zero, d1, v1);
    extend(v1, d2, v2);

    Srtm__LogEntry e1 = SRTM__LOG_ENTRY__INIT, e2 = SRTM__LOG_ENTRY__INIT;
    Srtm__LogEntry *log[] = {&e1, &e2};
    e1.index = 0;
    e1.seq = 2;
    e1.digest = (ProtobufCBinaryData){32, d1};
    e1.event_type = 1;
    e1.description = "kernel";
    e2.index = 1;
    e2.seq = 3;
    e2.digest = (ProtobufCBinaryData){32, d2};
    e2.event_type = 2;
    e2.description = "config";

    Srtm__ReportCcr pc = SRTM__REPORT_CCR__INIT, vc = SRTM__REPORT_CCR__INIT;
    Srtm__ReportCcr *pccrs[] = {&pc}, *vccrs[] = {&vc};
    pc.index = 0;
    pc.policy = SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE;
    pc.value = (ProtobufCBinaryData){32, (uint8_t *)zero};
    vc.index = 0;
    vc.policy = SRTM__CHANGE_POLICY__POLICY_IRREVERSIBLE;
    vc.value = (ProtobufCBinaryData){32, v2};
    vc.n_log = 2;
    vc.log = log;

    Srtm__ReportComponent platform = SRTM__REPORT_COMPONENT__INIT;
    Srtm__ReportComponent vm = SRTM__REPORT_COMPONENT__INIT;
    Srtm__ReportComponent *comps[] = {&platform, &vm};
    uint64_t deps[] = {0};
    platform.handle = 0;
    platform.name = "platform";
    platform.n_ccrs = 1;
    platform.ccrs = pccrs;
    vm.handle = 1;
    vm.name = "vm-a";
    vm.n_ccrs = 1;
    vm.ccrs = vccrs;
    vm.parent = 0;
    vm.n_depends_on = 1;
    vm.depends_on = deps;
    /* srtmd records the edges a registration makes: vm-a's on its parent, at the
     * registration's sequence number 1, made by the parent's capability. */
    Srtm__DependencyChange reg = SRTM__DEPENDENCY_CHANGE__INIT;
    Srtm__DependencyChange *changes[] = {&reg};
    reg.seq = 1;
    reg.component = 1;
    reg.on = 0;
    reg.actor = 0;
    reg.removed = false;
    vm.n_dependency_changes = 1;
    vm.dependency_changes = changes;

    Srtm__CcrReport r = SRTM__CCR_REPORT__INIT;
    r.format = 1;
    r.srtm_instance = (ProtobufCBinaryData){sizeof(instance), (uint8_t *)instance};
    r.reset_count = 1;
    r.restart_count = 0;
    r.seq = 3;
    r.n_components = 2;
    r.components = comps;
    size_t n = srtm__ccr_report__get_packed_size(&r);
    *out = malloc(n);
    if (*out == NULL)
        die("out of memory");
    srtm__ccr_report__pack(&r, *out);
    return n;
}

/* ---- the TPM part, made in software ---- */

typedef struct pcrs {
    uint8_t boot[32], proof[32], running[32];
} pcrs;

static void make_pcrs(pcrs *p, uint8_t close_event[32])
{
    static const uint8_t zero[32];
    uint8_t launch[32];
    sha("example firmware and boot loader", strlen("example firmware and boot loader"),
        p->boot);
    sha("example srtmd launch event", strlen("example srtmd launch event"), launch);
    sha(CLOSE_TAG, strlen(CLOSE_TAG), close_event);
    extend(zero, launch, p->proof);
    extend(p->proof, close_event, p->running);
}

/* A marshalled TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE over PCRs 0 and 15 (SHA-256). */
static size_t make_attest(const uint8_t qual[32], const uint8_t pcr0[32], const uint8_t pcr15[32],
                          uint64_t clock, const uint8_t signer[32], uint8_t *out, size_t size)
{
    TPMS_ATTEST a;
    memset(&a, 0, sizeof(a));
    a.magic = TPM2_GENERATED_VALUE;
    a.type = TPM2_ST_ATTEST_QUOTE;
    a.qualifiedSigner.size = 34;
    a.qualifiedSigner.name[0] = 0x00;
    a.qualifiedSigner.name[1] = 0x0b;
    memcpy(a.qualifiedSigner.name + 2, signer, 32);
    a.extraData.size = 32;
    memcpy(a.extraData.buffer, qual, 32);
    a.clockInfo.clock = clock;
    a.clockInfo.resetCount = 1;
    a.clockInfo.restartCount = 0;
    a.clockInfo.safe = TPM2_YES;
    a.firmwareVersion = 0x2000000000001ull;
    TPMS_QUOTE_INFO *q = &a.attested.quote;
    q->pcrSelect.count = 1;
    q->pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA256;
    q->pcrSelect.pcrSelections[0].sizeofSelect = 3;
    q->pcrSelect.pcrSelections[0].pcrSelect[PCR_BOOT / 8] |= 1u << (PCR_BOOT % 8);
    q->pcrSelect.pcrSelections[0].pcrSelect[PCR_SRTM / 8] |= 1u << (PCR_SRTM % 8);
    uint8_t both[64];
    memcpy(both, pcr0, 32);
    memcpy(both + 32, pcr15, 32);
    q->pcrDigest.size = 32;
    sha(both, sizeof(both), q->pcrDigest.buffer);
    size_t off = 0;
    if (Tss2_MU_TPMS_ATTEST_Marshal(&a, out, size, &off) != TSS2_RC_SUCCESS)
        die("TPMS_ATTEST marshal");
    return off;
}

/* ECDSA-SHA256 over msg with key, as a marshalled TPMT_SIGNATURE (r and s of 32 bytes,
 * left-padded with zeros as a TPM writes them). */
static size_t tpm_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *out, size_t size)
{
    uint8_t der[80];
    size_t der_len = sizeof(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, der, &der_len, msg, len) != 1)
        die("ECDSA sign");
    EVP_MD_CTX_free(md);
    const uint8_t *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (es == NULL)
        die("DER signature");
    TPMT_SIGNATURE s;
    memset(&s, 0, sizeof(s));
    s.sigAlg = TPM2_ALG_ECDSA;
    s.signature.ecdsa.hash = TPM2_ALG_SHA256;
    s.signature.ecdsa.signatureR.size = 32;
    s.signature.ecdsa.signatureS.size = 32;
    if (BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, 32) != 32 ||
        BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, 32) != 32)
        die("r, s");
    ECDSA_SIG_free(es);
    size_t off = 0;
    if (Tss2_MU_TPMT_SIGNATURE_Marshal(&s, out, size, &off) != TSS2_RC_SUCCESS)
        die("TPMT_SIGNATURE marshal");
    return off;
}

/* ---- the files next to the evidence ---- */

static void write_reference(const pcrs *p, const uint8_t close_event[32])
{
    char b[65], pr[65], ru[65], ce[65], text[1024];
    hex(p->boot, 32, b);
    hex(p->proof, 32, pr);
    hex(p->running, 32, ru);
    hex(close_event, 32, ce);
    int n = snprintf(text, sizeof(text),
                     "{\n  \"format\": \"srtm-reference-v1\",\n  \"bank\": \"sha256\",\n"
                     "  \"srtm_pcr\": 15,\n  \"close_event\": \"%s\",\n"
                     "  \"proof\": {\n    \"0\": \"%s\",\n    \"15\": \"%s\"\n  },\n"
                     "  \"running\": {\n    \"0\": \"%s\",\n    \"15\": \"%s\"\n  }\n}\n",
                     ce, b, pr, b, ru);
    write_out("reference.json", text, (size_t)n);
}

static void write_policy(void)
{
    uint8_t d1[32], d2[32];
    char h1[65], h2[65], text[1024];
    sha("/usr/lib/vm-a/kernel", strlen("/usr/lib/vm-a/kernel"), d1);
    sha("/etc/vm-a/config", strlen("/etc/vm-a/config"), d2);
    hex(d1, 32, h1);
    hex(d2, 32, h2);
    int n = snprintf(text, sizeof(text),
                     "{\n  \"format\": \"srtm-policy-v1\",\n"
                     "  \"aik\": {\"scheme\": \"ecdsa-sha256\"},\n"
                     "  \"pcrs\": {\"reference_file\": \"reference.json\"},\n"
                     "  \"components\": {\n"
                     "    \"platform\": {\"ccrs\": {\"0\": {\"allowed_digests\": []}}},\n"
                     "    \"vm-a\": {\"ccrs\": {\"0\": {\"allowed_digests\": [\n"
                     "      {\"digest\": \"%s\", \"label\": \"kernel\"},\n"
                     "      {\"digest\": \"%s\", \"label\": \"config\"}\n    ]}}}\n  },\n"
                     "  \"require\": [\"vm-a\"]\n}\n",
                     h1, h2);
    write_out("policy.json", text, (size_t)n);
}

static void write_aik_pem(EVP_PKEY *aik)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/aik.pem", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || PEM_write_PUBKEY(f, aik) != 1 || fclose(f) != 0)
        die(path);
}

/* What the plain and the batched evidence share. */
typedef struct example {
    const uint8_t *nonce;
    const uint8_t *report;
    size_t report_len;
    const uint8_t *irk_sig;
    size_t irk_sig_len;
    const uint8_t *pub;
    size_t pub_len;
    const uint8_t *ca, *cs;
    size_t ca_len, cs_len;
    const pcrs *p;
} example;

static void write_evidence(const char *name, const example *x, const uint8_t *qa, size_t qa_len,
                           const uint8_t *qs, size_t qs_len, Srtm__MerkleProof *batch)
{
    uint32_t pcr_idx[] = {PCR_BOOT, PCR_SRTM};
    ProtobufCBinaryData qv[] = {{32, (uint8_t *)x->p->boot}, {32, (uint8_t *)x->p->running}};
    ProtobufCBinaryData cv[] = {{32, (uint8_t *)x->p->boot}, {32, (uint8_t *)x->p->proof}};
    Srtm__TpmQuote quote = SRTM__TPM_QUOTE__INIT, cert = SRTM__TPM_QUOTE__INIT;
    quote.attest = (ProtobufCBinaryData){qa_len, (uint8_t *)qa};
    quote.signature = (ProtobufCBinaryData){qs_len, (uint8_t *)qs};
    quote.n_pcrs = quote.n_pcr_values = 2;
    quote.pcrs = pcr_idx;
    quote.pcr_values = qv;
    cert.attest = (ProtobufCBinaryData){x->ca_len, (uint8_t *)x->ca};
    cert.signature = (ProtobufCBinaryData){x->cs_len, (uint8_t *)x->cs};
    cert.n_pcrs = cert.n_pcr_values = 2;
    cert.pcrs = pcr_idx;
    cert.pcr_values = cv;

    Srtm__Evidence ev = SRTM__EVIDENCE__INIT;
    ev.format = 1;
    ev.nonce = (ProtobufCBinaryData){16, (uint8_t *)x->nonce};
    ev.report = (ProtobufCBinaryData){x->report_len, (uint8_t *)x->report};
    ev.irk_signature = (ProtobufCBinaryData){x->irk_sig_len, (uint8_t *)x->irk_sig};
    ev.quote = &quote;
    ev.irk_certificate = &cert;
    ev.irk_public = (ProtobufCBinaryData){x->pub_len, (uint8_t *)x->pub};
    ev.batch = batch;
    size_t ev_len = srtm__evidence__get_packed_size(&ev);
    uint8_t *buf = malloc(ev_len);
    if (buf == NULL)
        die("out of memory");
    srtm__evidence__pack(&ev, buf);
    write_out(name, buf, ev_len);
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-example DIR\n");
        return 2;
    }
    dir = argv[1];
    static const uint8_t nonce[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                      0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    EVP_PKEY *aik = read_key("aik-key.pem"), *irk_key = read_key("irk-key.pem");

    /* The IRK, through the project's own code. */
    uint8_t priv[IRK_PRIV_DER_MAX], pub[IRK_PUB_DER_MAX], irk_sig[IRK_SIG_MAX];
    unsigned char *pp = priv;
    int priv_len = i2d_PrivateKey(irk_key, NULL);
    if (priv_len <= 0 || (size_t)priv_len > sizeof(priv) || i2d_PrivateKey(irk_key, &pp) != priv_len)
        die("IRK private key");
    irk *k = NULL;
    size_t pub_len = 0, irk_sig_len = 0;
    uint8_t *report = NULL;
    size_t report_len = make_report(&report);
    uint8_t q[32], cq[32];
    if (irk_from_private_der(priv, (size_t)priv_len, &k) != SRTM_OK ||
        irk_public_der(k, pub, &pub_len) != SRTM_OK ||
        irk_sign_report(k, nonce, sizeof(nonce), report, report_len, irk_sig, &irk_sig_len) !=
            SRTM_OK ||
        irk_quote_qualifier(nonce, sizeof(nonce), report, report_len, q) != SRTM_OK ||
        irk_cert_qualifier(pub, pub_len, cq) != SRTM_OK)
        die("IRK operations");
    OPENSSL_cleanse(priv, sizeof(priv));

    /* The AIK's name stand-in: not checked by the verifier (docs/evidence.md). */
    uint8_t aik_der[128], signer[32];
    unsigned char *ap = aik_der;
    int aik_len = i2d_PUBKEY(aik, NULL);
    if (aik_len <= 0 || (size_t)aik_len > sizeof(aik_der) || i2d_PUBKEY(aik, &ap) != aik_len)
        die("AIK public key");
    sha(aik_der, (size_t)aik_len, signer);

    pcrs p;
    uint8_t close_event[32];
    make_pcrs(&p, close_event);
    uint8_t qa[KM_MAX_ATTEST], qs[KM_MAX_SIG], ca[KM_MAX_ATTEST], cs[KM_MAX_SIG];
    size_t qa_len = make_attest(q, p.boot, p.running, 7200000, signer, qa, sizeof(qa));
    size_t ca_len = make_attest(cq, p.boot, p.proof, 4500, signer, ca, sizeof(ca));
    size_t qs_len = tpm_sign(aik, qa, qa_len, qs, sizeof(qs));
    size_t cs_len = tpm_sign(aik, ca, ca_len, cs, sizeof(cs));

    example ex = {.nonce = nonce, .report = report, .report_len = report_len,
                  .irk_sig = irk_sig, .irk_sig_len = irk_sig_len, .pub = pub,
                  .pub_len = pub_len, .ca = ca, .ca_len = ca_len, .cs = cs, .cs_len = cs_len,
                  .p = &p};
    write_evidence("evidence.bin", &ex, qa, qa_len, qs, qs_len, NULL);

    /* The batched answer: leaf 2 of 3, the odd last leaf carried up a level. */
    uint8_t leaves[3][32], root[32], path[MERKLE_MAX_PATH][32];
    size_t path_len = 0;
    sha("another request 0", strlen("another request 0"), leaves[0]);
    sha("another request 1", strlen("another request 1"), leaves[1]);
    memcpy(leaves[2], q, 32);
    if (merkle_build((const uint8_t(*)[32])leaves, 3, 2, root, path, &path_len) != SRTM_OK)
        die("Merkle tree");
    /* One IRK signature for the whole batch: over its root. */
    uint8_t root_sig[IRK_SIG_MAX];
    size_t root_sig_len = 0;
    if (irk_sign_root(k, root, root_sig, &root_sig_len) != SRTM_OK)
        die("IRK batch signature");
    irk_free(k);
    example bx = ex;
    bx.irk_sig = root_sig;
    bx.irk_sig_len = root_sig_len;
    uint8_t ba[KM_MAX_ATTEST], bs[KM_MAX_SIG];
    size_t ba_len = make_attest(root, p.boot, p.running, 7200000, signer, ba, sizeof(ba));
    size_t bs_len = tpm_sign(aik, ba, ba_len, bs, sizeof(bs));
    ProtobufCBinaryData bpath[MERKLE_MAX_PATH];
    for (size_t i = 0; i < path_len; i++)
        bpath[i] = (ProtobufCBinaryData){32, path[i]};
    Srtm__MerkleProof proof = SRTM__MERKLE_PROOF__INIT;
    proof.leaf_index = 2;
    proof.leaf_count = 3;
    proof.n_path = path_len;
    proof.path = bpath;
    write_evidence("evidence-batch.bin", &bx, ba, ba_len, bs, bs_len, &proof);

    char nhex[2 * sizeof(nonce) + 2];
    hex(nonce, sizeof(nonce), nhex);
    strcat(nhex, "\n");
    write_out("nonce.hex", nhex, strlen(nhex));
    write_reference(&p, close_event);
    write_policy();
    write_aik_pem(aik);
    free(report);
    EVP_PKEY_free(aik);
    EVP_PKEY_free(irk_key);
    return 0;
}
