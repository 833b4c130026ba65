/*
 * bench_quotelock: how long a large joint quote holds srtmd's table lock, measured in the
 * service layer without a TPM or transport (the report is built, not signed). A probe
 * thread takes the lock (service_stats) back to back while the worker answers quotes;
 * the longest the probe waited is the longest the lock was held against it.
 *   1. a chain of CHAIN children quoted by its tail named 1,024 times (answered);
 *   2. one component with 22 full batches (180,224 entries with 256-byte descriptions),
 *      whose report would exceed SRTM_MAX_REPORT (refused);
 * each with the worker's median call time and the process's peak memory afterwards.
 * Usage: bench_quotelock [CHAIN] [ROUNDS]
 */
#include "bench_util.h"
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "service.h"
#include "srtm.pb-c.h"

static const srtm_cap admin = {{3, 1, 4, 1, 5}};
static const service_peer peer = {0, 0};
static srtm_service *svc;
static service_worker *w;
static atomic_bool probing;
static double probe_max;

static Srtm__Response *call(Srtm__Request *req, const srtm_cap *cap)
{
    req->version = SRTM__VERSION__VERSION_1;
    if (cap != NULL) {
        req->capability.data = (uint8_t *)cap->bytes;
        req->capability.len = SRTM_CAP_LEN;
    }
    size_t n = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(n), *out = NULL;
    size_t on = 0;
    if (buf == NULL)
        exit(1);
    srtm__request__pack(req, buf);
    if (service_call(w, buf, n, &peer, &out, &on) != SRTM_OK)
        exit(1);
    free(buf);
    Srtm__Response *r = srtm__response__unpack(NULL, on, out);
    free(out);
    if (r == NULL)
        exit(1);
    return r;
}

static Srtm__ComponentRef handle_ref(uint64_t h)
{
    Srtm__ComponentRef r;
    srtm__component_ref__init(&r);
    r.ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
    r.handle = h;
    return r;
}

/* Register a child of parent (0: the platform) with cap; exit on failure. */
static srtm_cap reg(const char *name, uint64_t parent, const srtm_cap *cap)
{
    Srtm__ComponentRef p = handle_ref(parent);
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name = (ProtobufCBinaryData){.len = strlen(name), .data = (uint8_t *)name};
    rr.ccr_count = 1;
    rr.parent = parent ? &p : NULL;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    Srtm__Response *r = call(&req, cap);
    if (r->status != SRTM__STATUS__STATUS_OK)
        exit(1);
    srtm_cap out;
    memcpy(out.bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);
    return out;
}

static void fill(uint64_t h, const srtm_cap *cap, unsigned batches)
{
    static uint8_t digests[SRTM_MAX_BATCH][SRTM_DIGEST_LEN];
    static uint32_t ccrs[SRTM_MAX_BATCH];
    static ProtobufCBinaryData descs[SRTM_MAX_BATCH];
    static char desc[SRTM_MAX_DESC];
    memset(desc, 'd', sizeof(desc));
    for (size_t i = 0; i < SRTM_MAX_BATCH; i++)
        descs[i] = (ProtobufCBinaryData){.len = sizeof(desc), .data = (uint8_t *)desc};
    Srtm__ComponentRef ref = handle_ref(h);
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = &ref;
    ex.digests = (ProtobufCBinaryData){.len = sizeof(digests), .data = &digests[0][0]};
    ex.n_ccrs = ex.n_descriptions = SRTM_MAX_BATCH;
    ex.ccrs = ccrs;
    ex.descriptions = descs;
    for (unsigned b = 0; b < batches; b++) {
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_EXTEND;
        req.extend = &ex;
        Srtm__Response *r = call(&req, cap);
        if (r->status != SRTM__STATUS__STATUS_OK)
            exit(1);
        srtm__response__free_unpacked(r, NULL);
    }
}

static void *probe(void *arg)
{
    (void)arg;
    size_t n = 0;
    uint64_t seq = 0;
    while (atomic_load(&probing)) {
        double t0 = bench_now();
        service_stats(svc, &n, &seq);
        double dt = bench_now() - t0;
        if (dt > probe_max)
            probe_max = dt;
    }
    return NULL;
}

static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f != NULL && kib < 0 && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kib) != 1)
            kib = -1;
    if (f != NULL)
        fclose(f);
    return kib;
}

/* rounds quotes of handle named `times` times; prints the figures. */
static void run(const char *what, uint64_t handle, size_t times, int rounds)
{
    Srtm__ComponentRef ref = handle_ref(handle);
    Srtm__ComponentRef **refs = malloc(times * sizeof(*refs));
    double *t = malloc((size_t)rounds * sizeof(*t));
    if (refs == NULL || t == NULL)
        exit(1);
    for (size_t i = 0; i < times; i++)
        refs[i] = &ref;
    uint8_t nonce[16] = "bench-quotelock!";
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    q.nonce = (ProtobufCBinaryData){.len = sizeof(nonce), .data = nonce};
    q.n_components = times;
    q.components = refs;
    pthread_t th;
    probe_max = 0;
    atomic_store(&probing, true);
    if (pthread_create(&th, NULL, probe, NULL) != 0)
        exit(1);
    int status = 0;
    for (int i = 0; i < rounds; i++) {
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_QUOTE;
        req.quote = &q;
        double t0 = bench_now();
        Srtm__Response *r = call(&req, NULL);
        t[i] = bench_now() - t0;
        status = r->status;
        srtm__response__free_unpacked(r, NULL);
    }
    atomic_store(&probing, false);
    pthread_join(th, NULL);
    printf("%-44s %-8s call median %8.3f ms, longest lock wait %8.3f ms, VmHWM %ld MiB\n", what,
           srtm_strerror((srtm_err)status), bench_median(t, rounds) * 1e3, probe_max * 1e3,
           vm_hwm_kib() / 1024);
    free(refs);
    free(t);
}

int main(int argc, char **argv)
{
    unsigned chain = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    report_identity id = {.instance = {1}};
    if (chain == 0 || rounds <= 0 || service_new(&admin, &svc) != SRTM_OK ||
        service_worker_new(svc, &w) != SRTM_OK)
        return 1;
    /* A chain deeper and a log larger than the default quotas allow, on purpose. */
    service_quota q;
    service_quota_unlimited(&q);
    service_set_quota(svc, &q);
    service_set_identity(svc, &id, true);
    srtm_cap cap = admin;
    char name[32];
    for (unsigned i = 1; i <= chain; i++) {
        snprintf(name, sizeof(name), "c%u", i);
        cap = reg(name, i - 1, &cap);
    }
    srtm_cap big = reg("big", 0, &admin);
    fill(chain + 1, &big, 22);
    printf("%u-deep chain, %d rounds each, VmHWM after setup %ld MiB\n", chain, rounds,
           vm_hwm_kib() / 1024);
    char what[64];
    snprintf(what, sizeof(what), "tail of a %u-deep chain, named 1024 times", chain);
    run(what, chain, 1024, rounds);
    run("180,224 entries (report over 48 MiB)", chain + 1, 1, rounds);
    service_worker_free(w);
    service_free(svc);
    return 0;
}
