/*
 * bench_lockfree: what large quotes cost an unrelated extend. In the service layer (no
 * TPM, no transport: reports are built, not signed), one thread extends one component
 * with single measurements and times each call, first with nothing else running, then
 * while QUOTERS threads (each with its own worker) quote the tail of a CHAIN-deep chain
 * back to back, a report of CHAIN + 1 components each. A quote holds the table lock only
 * to take a cut; the report is found and built after the lock is released, so the
 * extends' p99 should stay near the quiet p99. The loaded run starts once
 * every quoter has answered a quote. Prints p50, p99 and max of both runs and the quotes
 * answered during the loaded run. Then, single-threaded on the table directly (no
 * scheduling in the figures), the median time of the part of such a quote that holds the
 * lock (the cut) and of the parts that do not (closure, size bound, snapshot; build, pack).
 * Usage: bench_lockfree [CHAIN] [EXTENDS] [QUOTERS]
 */
#include "bench_util.h"
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "ccr.h"
#include "report.h"
#include "service.h"
#include "srtm.pb-c.h"

static const srtm_cap admin = {{2, 7, 1, 8, 2}};
static const service_peer peer = {0, 0};
static srtm_service *svc;
static atomic_bool quoting;
static atomic_uint quotes_done;
static uint64_t chain_tail;

static Srtm__Response *call(service_worker *w, Srtm__Request *req, const srtm_cap *cap)
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
static srtm_cap reg(service_worker *w, const char *name, uint64_t parent, const srtm_cap *cap,
                    uint64_t *handle_out)
{
    Srtm__ComponentRef p = handle_ref(parent);
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name = (ProtobufCBinaryData){.len = strlen(name), .data = (uint8_t *)name};
    rr.ccr_count = 1;
    rr.parent = parent ? &p : NULL;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    Srtm__Response *r = call(w, &req, cap);
    if (r->status != SRTM__STATUS__STATUS_OK)
        exit(1);
    srtm_cap out;
    memcpy(out.bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    *handle_out = r->register_component->handle;
    srtm__response__free_unpacked(r, NULL);
    return out;
}

static void *quoter(void *arg)
{
    (void)arg;
    service_worker *w = NULL;
    if (service_worker_new(svc, &w) != SRTM_OK)
        exit(1);
    Srtm__ComponentRef ref = handle_ref(chain_tail), *refs[1] = {&ref};
    uint8_t nonce[16] = "bench-lockfree!!";
    while (atomic_load(&quoting)) {
        Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
        q.nonce = (ProtobufCBinaryData){.len = sizeof(nonce), .data = nonce};
        q.n_components = 1;
        q.components = refs;
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_QUOTE;
        req.quote = &q;
        Srtm__Response *r = call(w, &req, NULL);
        if (r->status != SRTM__STATUS__STATUS_OK) {
            fprintf(stderr, "bench_lockfree: quote refused: %s\n", r->message);
            exit(1);
        }
        srtm__response__free_unpacked(r, NULL);
        atomic_fetch_add(&quotes_done, 1);
    }
    service_worker_free(w);
    return NULL;
}

/* n single extends of handle h, one a millisecond (a component measuring as it runs,
 * not a batch); each call's seconds into t. */
static void extends(service_worker *w, uint64_t h, const srtm_cap *cap, double *t, int n)
{
    uint8_t digest[SRTM_DIGEST_LEN] = {0};
    uint32_t ccr = 0;
    Srtm__ComponentRef ref = handle_ref(h);
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = &ref;
    ex.digests = (ProtobufCBinaryData){.len = sizeof(digest), .data = digest};
    ex.n_ccrs = 1;
    ex.ccrs = &ccr;
    for (int i = 0; i < n; i++) {
        digest[0] = (uint8_t)i;
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_EXTEND;
        req.extend = &ex;
        double t0 = bench_now();
        Srtm__Response *r = call(w, &req, cap);
        t[i] = bench_now() - t0;
        if (r->status != SRTM__STATUS__STATUS_OK)
            exit(1);
        srtm__response__free_unpacked(r, NULL);
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

static void print(const char *what, double *t, int n, double *p99_out)
{
    qsort(t, (size_t)n, sizeof(*t), bench_cmp_double);
    double p50 = t[n / 2], p99 = t[(size_t)((n - 1) * 0.99)], max = t[n - 1];
    printf("%-34s p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", what, p50 * 1e3, p99 * 1e3,
           max * 1e3);
    *p99_out = p99;
}

/* The chain again, on a bare table: the cut (what a quote does under the lock) against
 * closure + bound + snapshot and build + pack (what it does after). */
static void phases(unsigned chain, const report_identity *id)
{
    static const uint8_t cap[SRTM_DIGEST_LEN];
    ccr_table *t = NULL;
    if (ccr_table_new(cap, &t) != SRTM_OK)
        exit(1);
    char name[32];
    for (uint64_t i = 1; i <= chain; i++) {
        uint64_t h = 0, seq = 0, dep = i - 1;
        snprintf(name, sizeof(name), "c%" PRIu64, i);
        if (ccr_register(t, name, strlen(name), 1, SRTM_POLICY_IRREVERSIBLE, cap, 0, 0, &h,
                         &seq) != SRTM_OK ||
            ccr_dep_reserve(t, ccr_find_handle(t, h), 1) != SRTM_OK)
            exit(1);
        ccr_dep_record(ccr_find_handle(t, h),
                       &(ccr_dep_change){.seq = seq, .on = dep, .actor = dep});
    }
    enum { ROUNDS = 9 };
    double locked[ROUNDS], snap[ROUNDS], build[ROUNDS];
    report_snapshot *s = NULL;
    if (report_snapshot_new(&s) != SRTM_OK)
        exit(1);
    uint64_t tail = chain;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = bench_now();
        ccr_cut cut = ccr_table_cut(t);
        double t1 = bench_now();
        if (report_snapshot_take(t, &cut, &tail, 1, true, 0, s) != SRTM_OK)
            exit(1);
        double t2 = bench_now();
        uint8_t *out = NULL;
        size_t len = 0;
        if (report_snapshot_build(s, id, &out, &len) != SRTM_OK)
            exit(1);
        locked[r] = t1 - t0;
        snap[r] = t2 - t1;
        build[r] = bench_now() - t2;
        free(out);
        report_snapshot_release(s);
    }
    report_snapshot_free(s);
    printf("quote of %u components, medians of %d: under the lock (cut) %.4f ms; after it: "
           "closure, bound, snapshot %.3f ms, build, pack %.3f ms\n",
           chain + 1, ROUNDS, bench_median(locked, ROUNDS) * 1e3,
           bench_median(snap, ROUNDS) * 1e3, bench_median(build, ROUNDS) * 1e3);
    ccr_table_free(t);
}

int main(int argc, char **argv)
{
    unsigned chain = argc > 1 ? (unsigned)atoi(argv[1]) : 100000;
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    int nq = argc > 3 ? atoi(argv[3]) : 4;
    setvbuf(stdout, NULL, _IOLBF, 0);
    report_identity id = {.instance = {1}};
    service_worker *w = NULL;
    double *t = malloc((size_t)(n > 0 ? n : 1) * sizeof(*t));
    pthread_t *th = malloc((size_t)(nq > 0 ? nq : 1) * sizeof(*th));
    if (chain == 0 || n <= 0 || nq <= 0 || t == NULL || th == NULL ||
        service_new(&admin, &svc) != SRTM_OK || service_worker_new(svc, &w) != SRTM_OK)
        return 1;
    /* A chain deeper than the default quotas allow, on purpose. */
    service_quota q;
    service_quota_unlimited(&q);
    service_set_quota(svc, &q);
    service_set_identity(svc, &id, true);
    srtm_cap cap = admin;
    char name[32];
    for (unsigned i = 1; i <= chain; i++) {
        snprintf(name, sizeof(name), "c%u", i);
        cap = reg(w, name, chain_tail, &cap, &chain_tail);
    }
    uint64_t probe = 0;
    srtm_cap probe_cap = reg(w, "probe", 0, &admin, &probe);
    printf("%u-deep chain, %d single extends of another component, %d quote threads\n", chain,
           n, nq);
    double quiet = 0, loaded = 0;
    extends(w, probe, &probe_cap, t, n);
    print("extend, no quotes", t, n, &quiet);
    atomic_store(&quoting, true);
    for (int i = 0; i < nq; i++)
        if (pthread_create(&th[i], NULL, quoter, NULL) != 0)
            return 1;
    /* The extends start once every quoter is at work. */
    while (atomic_load(&quotes_done) < (unsigned)nq)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    unsigned before = atomic_load(&quotes_done);
    double t0 = bench_now();
    extends(w, probe, &probe_cap, t, n);
    double dt = bench_now() - t0;
    atomic_store(&quoting, false);
    for (int i = 0; i < nq; i++)
        pthread_join(th[i], NULL);
    char what[64];
    snprintf(what, sizeof(what), "extend, %d quote loops", nq);
    print(what, t, n, &loaded);
    printf("%u quotes of %u components answered meanwhile (%.1f s); p99 ratio %.2f\n",
           atomic_load(&quotes_done) - before, chain + 1, dt, quiet > 0 ? loaded / quiet : 0);
    service_worker_free(w);
    service_free(svc);
    phases(chain, &id);
    free(t);
    free(th);
    return 0;
}
