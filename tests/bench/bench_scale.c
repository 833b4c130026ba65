/*
 * bench_scale: srtmd's service at scale, in process (the same code srtmd runs, without
 * the socket): registers components in a realistic shape (domain managers registering
 * children that also depend on shared service components), then reports
 *   - memory per component (RSS growth / components) and per log entry,
 *   - the cost of a single-measurement extend request (decode, capability check,
 *     extend, answer) with 1,000 components and with N components, interleaved.
 * and, through the real transport (srtmd's server on an ipc:// socket, libsrtm on the
 * other end, as a component sees it), the same comparison for synchronous extends.
 * Registration is done in process to save time; everything after it is srtmd's code.
 * Usage: bench_scale [N]   (default 1000000)
 */
#include "bench_util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <srtm/srtm.h>

#include "server.h"
#include "service.h"
#include "srtm.pb-c.h"

#define MANAGERS 300
#define SERVICES 8
#define EXTENDS 200000


static long rss_kb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    if (f != NULL)
        fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static const service_peer peer = {0, 0};

/* A packed request kept for reuse. */
typedef struct packed {
    uint8_t buf[512];
    size_t len;
} packed;

static Srtm__Response *call(service_worker *w, Srtm__Request *req)
{
    req->version = SRTM__VERSION__VERSION_1;
    static uint8_t buf[64 * 1024];
    if (srtm__request__get_packed_size(req) > sizeof(buf))
        exit(1);
    size_t n = srtm__request__pack(req, buf);
    uint8_t *out = NULL;
    size_t on = 0;
    if (service_call(w, buf, n, &peer, &out, &on) != SRTM_OK)
        exit(1);
    Srtm__Response *r = srtm__response__unpack(NULL, on, out);
    free(out);
    if (r == NULL || r->status != SRTM__STATUS__STATUS_OK) {
        fprintf(stderr, "bench_scale: %s\n", r ? r->message : "bad answer");
        exit(1);
    }
    return r;
}

static void name_of(char *out, size_t size, uint64_t i)
{
    snprintf(out, size, "component-%llu", (unsigned long long)i);
}

/* Register name under parent (NULL: platform) with auth, depending also on dep. */
static srtm_cap reg(service_worker *w, const char *name, const char *parent, const srtm_cap *auth,
                    const char *dep)
{
    Srtm__ComponentRef pref, dref, *dp = &dref;
    srtm__component_ref__init(&pref);
    srtm__component_ref__init(&dref);
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name.data = (uint8_t *)name;
    rr.name.len = strlen(name);
    if (parent != NULL) {
        pref.ref_case = SRTM__COMPONENT_REF__REF_NAME;
        pref.name.data = (uint8_t *)parent;
        pref.name.len = strlen(parent);
        rr.parent = &pref;
    }
    if (dep != NULL) {
        dref.ref_case = SRTM__COMPONENT_REF__REF_NAME;
        dref.name.data = (uint8_t *)dep;
        dref.name.len = strlen(dep);
        rr.n_depends_on = 1;
        rr.depends_on = &dp;
    }
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &rr;
    req.capability.data = (uint8_t *)auth->bytes;
    req.capability.len = SRTM_CAP_LEN;
    Srtm__Response *r = call(w, &req);
    srtm_cap cap;
    memcpy(cap.bytes, r->register_component->capability.data, SRTM_CAP_LEN);
    srtm__response__free_unpacked(r, NULL);
    return cap;
}

static void pack_extend(packed *p, const char *name, const srtm_cap *cap, uint8_t tag)
{
    uint8_t d[32];
    memset(d, tag, sizeof(d));
    uint32_t ccr = 0;
    Srtm__ComponentRef ref;
    srtm__component_ref__init(&ref);
    ref.ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref.name.data = (uint8_t *)name;
    ref.name.len = strlen(name);
    Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
    ex.component = &ref;
    ex.digests.data = d;
    ex.digests.len = 32;
    ex.n_ccrs = 1;
    ex.ccrs = &ccr;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &ex;
    req.capability.data = (uint8_t *)cap->bytes;
    req.capability.len = SRTM_CAP_LEN;
    p->len = srtm__request__pack(&req, p->buf);
}

/* ns per extend request over reqs (random components), through the service. */
static double extend_ns(service_worker *w, const packed *reqs, size_t n)
{
    double t0 = bench_now();
    for (size_t i = 0; i < n; i++) {
        service_worker_handle(w, reqs[i].buf, reqs[i].len, &peer);
        if (service_worker_status(w) != SRTM_OK)
            exit(1);
    }
    return (bench_now() - t0) / (double)n * 1e9;
}

int main(int argc, char **argv)
{
    uint64_t total = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    if (total < 2000)
        total = 2000;
    srtm_cap admin = {{1}};
    srtm_service *svc = NULL;
    service_worker *w = NULL;
    if (service_new(&admin, &svc) != SRTM_OK || service_worker_new(svc, &w) != SRTM_OK)
        return 1;
    /* A million components of one peer: far past the default quotas. */
    service_quota q;
    service_quota_unlimited(&q);
    service_set_quota(svc, &q);
    srtm_cap *caps = malloc(total * sizeof(*caps));
    if (caps == NULL)
        return 1;
    char name[64], parent[64], dep[64];
    long rss0 = rss_kb();
    double t0 = bench_now();
    /* Shared services and managers under the platform; then components under managers,
     * each also depending on one shared service. Component i's capability is caps[i]. */
    uint64_t made = 0;
    for (; made < SERVICES + MANAGERS; made++) {
        name_of(name, sizeof(name), made);
        caps[made] = reg(w, name, NULL, &admin, NULL);
    }
    for (; made < total; made++) {
        uint64_t mgr = SERVICES + (made % MANAGERS), svc_i = made % SERVICES;
        name_of(name, sizeof(name), made);
        name_of(parent, sizeof(parent), mgr);
        name_of(dep, sizeof(dep), svc_i);
        caps[made] = reg(w, name, parent, &caps[mgr], dep);
        if (made == 1000) {
            /* nothing: the 1,000-component measurement uses components below 1,000 */
        }
    }
    double reg_s = bench_now() - t0;
    long rss1 = rss_kb();

    /* Memory per log entry on long logs: 1,000 components, 400 entries each, in
     * batches (the per-entry storage, not the first allocation of a log). */
    enum { LONG_COMPONENTS = 1000, LONG_ENTRIES = 400 };
    {
        uint8_t digests[LONG_ENTRIES][32];
        uint32_t zeros[LONG_ENTRIES] = {0};
        memset(digests, 5, sizeof(digests));
        for (uint64_t i = 0; i < LONG_COMPONENTS; i++) {
            uint64_t k = total - 1 - i;
            name_of(name, sizeof(name), k);
            Srtm__ComponentRef ref;
            srtm__component_ref__init(&ref);
            ref.ref_case = SRTM__COMPONENT_REF__REF_NAME;
            ref.name.data = (uint8_t *)name;
            ref.name.len = strlen(name);
            Srtm__ExtendRequest ex = SRTM__EXTEND_REQUEST__INIT;
            ex.component = &ref;
            ex.digests.data = &digests[0][0];
            ex.digests.len = sizeof(digests);
            ex.n_ccrs = LONG_ENTRIES;
            ex.ccrs = zeros;
            Srtm__Request req = SRTM__REQUEST__INIT;
            req.op_case = SRTM__REQUEST__OP_EXTEND;
            req.extend = &ex;
            req.capability.data = caps[k].bytes;
            req.capability.len = SRTM_CAP_LEN;
            srtm__response__free_unpacked(call(w, &req), NULL);
        }
    }
    long rss_long = rss_kb();
    /* Steady state: every component has measured something before the timing. */
    for (uint64_t k = SERVICES + MANAGERS; k < total; k++) {
        packed p;
        name_of(name, sizeof(name), k);
        pack_extend(&p, name, &caps[k], 1);
        service_worker_handle(w, p.buf, p.len, &peer);
    }
    long rss1b = rss_kb();

    /* Extends: the same number of requests to random components among the first 1,000
     * and among all, alternating in rounds. */
    packed *small = malloc(EXTENDS * sizeof(*small)), *large = malloc(EXTENDS * sizeof(*large));
    if (small == NULL || large == NULL)
        return 1;
    srand(7);
    for (size_t i = 0; i < EXTENDS; i++) {
        uint64_t a = SERVICES + MANAGERS + (uint64_t)rand() % 1000;
        uint64_t b = SERVICES + MANAGERS + ((uint64_t)rand() * RAND_MAX + (uint64_t)rand()) %
                                               (total - SERVICES - MANAGERS);
        name_of(name, sizeof(name), a);
        pack_extend(&small[i], name, &caps[a], (uint8_t)i);
        name_of(name, sizeof(name), b);
        pack_extend(&large[i], name, &caps[b], (uint8_t)i);
    }
    double s[5], l[5];
    for (int r = 0; r < 5; r++) {
        s[r] = extend_ns(w, small, EXTENDS / 5);
        l[r] = extend_ns(w, large, EXTENDS / 5);
    }
    double ms = 0, ml = 0;
    for (int r = 0; r < 5; r++) {
        ms += s[r] / 5;
        ml += l[r] / 5;
    }
    /* Through the transport: srtmd's server over this service, libsrtm as the client. */
    char dir[] = "/tmp/srtm-bench-scale-XXXXXX", url[128];
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(url, sizeof(url), "ipc://%s/srtmd.sock", dir);
    server_config cfg = {.url = url, .socket_mode = 0600, .workers = 8};
    srtm_server *srv = NULL;
    srtm_conn *conn = NULL;
    if (server_start(svc, &cfg, &srv) != SRTM_OK || server_serve(srv) != SRTM_OK ||
        srtm_open(url, &conn) != SRTM_OK)
        return 1;
    enum { RTT = 4000 };
    double rs[5], rl[5];
    for (int r = 0; r < 5; r++) {
        double *out[2] = {&rs[r], &rl[r]};
        for (int which = 0; which < 2; which++) {
            double t1 = bench_now();
            for (int i = 0; i < RTT; i++) {
                uint64_t k = SERVICES + MANAGERS +
                             (which == 0 ? (uint64_t)rand() % 1000
                                         : ((uint64_t)rand() * RAND_MAX + (uint64_t)rand()) %
                                               (total - SERVICES - MANAGERS));
                uint8_t d[32] = {(uint8_t)i, (uint8_t)r};
                name_of(name, sizeof(name), k);
                if (srtm_extend(conn, &caps[k], name, 0, d, 0, NULL, NULL) != SRTM_OK)
                    return 1;
            }
            *out[which] = (bench_now() - t1) / RTT * 1e6;
        }
    }
    srtm_close(conn);
    server_free(srv);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    double ts = bench_median(rs, 5), tl = bench_median(rl, 5);

    uint64_t entries = (uint64_t)LONG_COMPONENTS * LONG_ENTRIES;
    printf("bench_scale: %llu components (%d managers, %d shared services)\n",
           (unsigned long long)total, MANAGERS, SERVICES);
    printf("  register: %.1f us per component (capability generation included)\n",
           reg_s / (double)total * 1e6);
    printf("  memory: %.0f bytes per component (RSS growth %.1f MiB)\n",
           (double)(rss1 - rss0) * 1024.0 / (double)total, (double)(rss1 - rss0) / 1024.0);
    printf("  memory: %.0f bytes per log entry in long logs (%llu entries, RSS growth %.1f MiB)\n",
           (double)(rss_long - rss1) * 1024.0 / (double)entries, (unsigned long long)entries,
           (double)(rss_long - rss1) / 1024.0);
    printf("  memory: %.0f bytes for a component's first log entry (a log of 4 slots)\n",
           (double)(rss1b - rss_long) * 1024.0 / (double)(total - SERVICES - MANAGERS));
    printf("  extend request among the first 1,000 components: %7.0f ns\n", ms);
    printf("  extend request among all %llu components:     %7.0f ns  (%.2fx)\n",
           (unsigned long long)total, ml, ml / ms);
    printf("  through srtmd's socket (libsrtm srtm_extend, medians of 5 x %d):\n", RTT);
    printf("    among the first 1,000 components: %7.1f us\n", ts);
    printf("    among all %llu components:    %7.1f us  (%.3fx)\n", (unsigned long long)total,
           tl, tl / ts);
    service_worker_free(w);
    service_free(svc);
    free(caps);
    free(small);
    free(large);
    return 0;
}
