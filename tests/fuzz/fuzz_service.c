/*
 * Fuzz target: srtmd's request decoder and dispatcher (srtm/service.c) against a real
 * in-process CCR table and dependency graph, with no transport in between.
 *
 * An input is up to MAX_RECORDS records, each [selector:1][length:2, little endian][request].
 * The selector's low two bits say which capability to splice into the request after
 * unpacking it (none: the bytes go in untouched; the admin's; vm-a's; fw's), so that the
 * fuzzer reaches the authorised paths, which a random 32-byte capability never would.
 * Every input starts from the same fresh service (see populate()), so a crash file
 * replays alone. After each request the cheap invariants of service.h are checked.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "service.h"
#include "srtm.pb-c.h"

#define MAX_RECORDS 8

enum { CAP_NONE, CAP_ADMIN, CAP_VM, CAP_FW, N_CAPS };

static srtm_cap caps[N_CAPS];
static bool verbose; /* SRTM_FUZZ_VERBOSE=1: print each answer (to check the seeds) */

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_service: invariant failed at line %d: %s\n", __LINE__, \
                    #cond);                                                                \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    srtm_log_set_level(SRTM_LOG_ERROR);
    memset(caps[CAP_ADMIN].bytes, 0xad, SRTM_CAP_LEN);
    verbose = getenv("SRTM_FUZZ_VERBOSE") != NULL;
    return 0;
}

/* Pack req, hand it to the service, and return the decoded response (caller frees). */
static Srtm__Response *call(service_worker *w, const Srtm__Request *req)
{
    size_t len = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(len ? len : 1);
    CHECK(buf != NULL);
    srtm__request__pack(req, buf);
    uint8_t *out = NULL;
    size_t out_len = 0;
    service_peer peer = {.uid = 1000, .pid = 4242};
    CHECK(service_call(w, buf, len, &peer, &out, &out_len) == SRTM_OK);
    free(buf);
    Srtm__Response *r = srtm__response__unpack(NULL, out_len, out);
    free(out);
    CHECK(r != NULL);
    return r;
}

static void reg(service_worker *w, const char *name, const srtm_cap *by, const char *parent,
                const char *dep, srtm_cap *cap_out)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    Srtm__ComponentRef p = SRTM__COMPONENT_REF__INIT, d = SRTM__COMPONENT_REF__INIT;
    Srtm__ComponentRef *deps[] = {&d};
    uint32_t reversible[] = {1};
    req.version = SRTM__VERSION__VERSION_1;
    req.capability = (ProtobufCBinaryData){SRTM_CAP_LEN, (uint8_t *)by->bytes};
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    rr.name = (ProtobufCBinaryData){strlen(name), (uint8_t *)name};
    rr.ccr_count = 2;
    rr.n_reversible = 1;
    rr.reversible = reversible;
    if (parent != NULL) {
        p.ref_case = SRTM__COMPONENT_REF__REF_NAME;
        p.name = (ProtobufCBinaryData){strlen(parent), (uint8_t *)parent};
        rr.parent = &p;
    }
    if (dep != NULL) {
        d.ref_case = SRTM__COMPONENT_REF__REF_NAME;
        d.name = (ProtobufCBinaryData){strlen(dep), (uint8_t *)dep};
        rr.n_depends_on = 1;
        rr.depends_on = deps;
    }
    Srtm__Response *r = call(w, &req);
    CHECK(r->status == SRTM__STATUS__STATUS_OK);
    CHECK(r->register_component->capability.len == SRTM_CAP_LEN);
    if (cap_out != NULL)
        memcpy(cap_out->bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);
}

static void extend(service_worker *w, const char *name, const srtm_cap *cap, uint32_t ccr,
                   uint8_t fill)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__ExtendRequest er = SRTM__EXTEND_REQUEST__INIT;
    Srtm__ComponentRef c = SRTM__COMPONENT_REF__INIT;
    uint8_t digest[SRTM_DIGEST_LEN];
    memset(digest, fill, sizeof(digest));
    static const char desc[] = "seed measurement";
    ProtobufCBinaryData d = {sizeof(desc) - 1, (uint8_t *)desc};
    req.version = SRTM__VERSION__VERSION_1;
    req.capability = (ProtobufCBinaryData){SRTM_CAP_LEN, (uint8_t *)cap->bytes};
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &er;
    c.ref_case = SRTM__COMPONENT_REF__REF_NAME;
    c.name = (ProtobufCBinaryData){strlen(name), (uint8_t *)name};
    er.component = &c;
    er.digests = (ProtobufCBinaryData){sizeof(digest), digest};
    er.n_ccrs = 1;
    er.ccrs = &ccr;
    er.n_descriptions = 1;
    er.descriptions = &d;
    Srtm__Response *r = call(w, &req);
    CHECK(r->status == SRTM__STATUS__STATUS_OK);
    srtm__response__free_unpacked(r, NULL);
}

/* The state every input starts from: vm-a (CCR 1 reversible) with a few measurements, its
 * child vm-a.app, and fw, which depends on vm-a. */
static void populate(srtm_service **s_out, service_worker **w_out)
{
    srtm_service *s = NULL;
    service_worker *w = NULL;
    CHECK(service_new(&caps[CAP_ADMIN], &s) == SRTM_OK);
    CHECK(service_worker_new(s, &w) == SRTM_OK);
    report_identity id = {.instance = {1, 2, 3}, .reset_count = 1, .restart_count = 2};
    service_set_identity(s, &id, true);
    reg(w, "vm-a", &caps[CAP_ADMIN], NULL, NULL, &caps[CAP_VM]);
    reg(w, "fw", &caps[CAP_ADMIN], NULL, "vm-a", &caps[CAP_FW]);
    reg(w, "vm-a.app", &caps[CAP_VM], "vm-a", NULL, NULL);
    extend(w, "vm-a", &caps[CAP_VM], 0, 0x11);
    extend(w, "vm-a", &caps[CAP_VM], 1, 0x22);
    extend(w, "vm-a", &caps[CAP_VM], 1, 0x33);
    extend(w, "fw", &caps[CAP_FW], 0, 0x44);
    *s_out = s;
    *w_out = w;
}

/* A quote the dispatcher accepted waits for the TPM: sign it with fixed bytes. */
static void finish_quote(service_worker *w)
{
    size_t rlen = 0;
    const uint8_t *report = service_worker_report(w, &rlen);
    CHECK(report != NULL);
    Srtm__CcrReport *rep = srtm__ccr_report__unpack(NULL, rlen, report);
    CHECK(rep != NULL);
    srtm__ccr_report__free_unpacked(rep, NULL);
    static const uint8_t attest[] = "attest", sig[] = "signature", pub[] = "irk public";
    static const uint8_t pcrs[32][SRTM_DIGEST_LEN];
    service_signed sg = {
        .err = SRTM_OK, .irk_sig = sig, .irk_sig_len = sizeof(sig),
        .quote = {attest, sizeof(attest), sig, sizeof(sig), 0x8001u, pcrs},
        .certificate = {attest, sizeof(attest), sig, sizeof(sig), 0x8000u, pcrs},
        .irk_public = pub, .irk_public_len = sizeof(pub)};
    size_t n = service_worker_finish_quote(w, &sg);
    uint8_t *out = malloc(n ? n : 1);
    CHECK(out != NULL);
    service_worker_pack(w, out);
    Srtm__Response *r = srtm__response__unpack(NULL, n, out);
    free(out);
    CHECK(r != NULL && r->status == SRTM__STATUS__STATUS_OK);
    CHECK(r->result_case == SRTM__RESPONSE__RESULT_QUOTE);
    srtm__response__free_unpacked(r, NULL);
}

static bool holds_cap(const Srtm__Response *r)
{
    if (r->message == NULL)
        return false;
    size_t len = strlen(r->message);
    for (size_t i = CAP_ADMIN; i < N_CAPS; i++)
        if (memmem(r->message, len, caps[i].bytes, SRTM_CAP_LEN) != NULL)
            return true;
    return false;
}

/* One request: splice the selected capability in, call, check the answer. */
static void one(srtm_service *s, service_worker *w, uint8_t sel, const uint8_t *req, size_t len)
{
    uint8_t *buf = NULL;
    Srtm__Request *decoded = srtm__request__unpack(NULL, len, req);
    unsigned cap = sel % N_CAPS;
    if (decoded != NULL && cap != CAP_NONE) {
        ProtobufCBinaryData own = decoded->capability; /* freed with the message */
        decoded->capability.data = caps[cap].bytes;
        decoded->capability.len = SRTM_CAP_LEN;
        len = srtm__request__get_packed_size(decoded);
        buf = malloc(len ? len : 1);
        CHECK(buf != NULL);
        srtm__request__pack(decoded, buf);
        req = buf;
        decoded->capability = own;
    }
    size_t comps_before, comps_after;
    uint64_t seq_before, seq_after;
    service_stats(s, &comps_before, &seq_before);

    uint8_t *out = NULL;
    size_t out_len = 0;
    service_peer peer = {.uid = 1000, .pid = 4242};
    CHECK(service_call(w, req, len, &peer, &out, &out_len) == SRTM_OK);
    Srtm__Response *r = srtm__response__unpack(NULL, out_len, out);
    free(out);
    CHECK(r != NULL);
    if (verbose)
        fprintf(stderr, "fuzz_service: op %d cap %u: %s%s%s\n",
                decoded != NULL ? (int)decoded->op_case : -1, cap,
                srtm_strerror((srtm_err)r->status), r->message ? ": " : "",
                r->message ? r->message : "");
    CHECK((unsigned)r->status < SRTM_ERR_COUNT);
    CHECK((srtm_err)r->status == service_worker_status(w));
    CHECK(!holds_cap(r));
    service_stats(s, &comps_after, &seq_after);
    CHECK(seq_after >= seq_before && comps_after >= comps_before);
    if (r->status != SRTM__STATUS__STATUS_OK) {
        /* An error carries no result and changes nothing. */
        CHECK(r->result_case == SRTM__RESPONSE__RESULT__NOT_SET);
        CHECK(seq_after == seq_before && comps_after == comps_before);
        CHECK(!service_worker_quote_pending(w));
    } else {
        CHECK(decoded != NULL);
        if (decoded->op_case == SRTM__REQUEST__OP_QUOTE) {
            CHECK(service_worker_quote_pending(w));
            finish_quote(w);
        } else {
            CHECK((int)r->result_case == (int)decoded->op_case);
        }
        if (r->result_case == SRTM__RESPONSE__RESULT_REGISTER_COMPONENT)
            CHECK(r->register_component->capability.len == SRTM_CAP_LEN);
    }
    srtm__response__free_unpacked(r, NULL);
    if (decoded != NULL)
        srtm__request__free_unpacked(decoded, NULL);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srtm_service *s;
    service_worker *w;
    populate(&s, &w);
    for (unsigned k = 0; k < MAX_RECORDS && size >= 3; k++) {
        uint8_t sel = data[0];
        size_t len = (size_t)data[1] | (size_t)data[2] << 8;
        data += 3;
        size -= 3;
        if (len > size)
            len = size;
        one(s, w, sel, data, len);
        data += len;
        size -= len;
    }
    service_worker_free(w);
    service_free(s);
    return 0;
}
