/*
 * bench_graph: the cost of graph/ at 1,000,000 components in a realistic shape
 * (issue 4): the platform, a few shared service VMs (networking, storage, vTPM and its
 * manager, ...) that most components depend on (wide fan-in), a few hundred domain
 * managers each managing thousands of components, and deep chains of nested VMs and
 * applications 1000 long. Measures ns per add-edge (with its cycle check), closure at
 * various depths, and the graph's memory per node and per edge. (The trust rule is the
 * verifier's, measured on reports by bench_verify.)
 *
 * Usage: bench_graph [NODES]   (default 1000000; the shape scales with it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "graph.h"

#define SERVICES 8    /* 1..8; service 4 (vTPM) also depends on 3 (vTPM manager) */
#define MANAGERS 300
#define CHAINS 40
#define CHAIN_LEN 1000

static uint64_t rng = 0x6a09e667f3bcc908ull;

static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void check(srtm_err err, const char *what)
{
    if (err != SRTM_OK) {
        fprintf(stderr, "bench_graph: %s: %s\n", what, srtm_strerror(err));
        exit(1);
    }
}

typedef struct shape {
    uint64_t n;
    uint64_t managers[MANAGERS];
    uint64_t chain_first[CHAINS]; /* chain c is chain_first[c] .. + CHAIN_LEN - 1 */
    uint64_t first_component, ncomponents;
    size_t edges;
} shape;

/* Nodes with their parent only; the service dependencies come from add_edge, timed. */
static void build_nodes(graph *g, shape *s)
{
    uint64_t h;
    for (int i = 1; i <= SERVICES; i++) {
        check(graph_add_node(g, (uint64_t[]){0}, 1, &h), "service");
        s->edges++;
    }
    check(graph_add_edge(g, 4, 3, NULL), "vTPM -> its manager");
    s->edges++;
    for (int m = 0; m < MANAGERS; m++) {
        check(graph_add_node(g, (uint64_t[]){0}, 1, &s->managers[m]), "manager");
        s->edges++;
    }
    s->first_component = graph_node_count(g);
    s->ncomponents = s->n - s->first_component - (uint64_t)CHAINS * CHAIN_LEN;
    for (uint64_t i = 0; i < s->ncomponents; i++) {
        check(graph_add_node(g, &s->managers[i % MANAGERS], 1, &h), "component");
        s->edges++;
    }
    /* chains: the head is a VM of a manager; each further level nests in the previous */
    for (int c = 0; c < CHAINS; c++) {
        check(graph_add_node(g, &s->managers[(c * 7) % MANAGERS], 1, &s->chain_first[c]),
              "chain head");
        s->edges++;
        for (int k = 1; k < CHAIN_LEN; k++) {
            check(graph_add_node(g, NULL, 0, &h), "chain node");
        }
    }
}

static double time_service_edges(graph *g, shape *s, size_t *count)
{
    double t0 = now_ns();
    for (uint64_t i = 0; i < s->ncomponents; i++) {
        uint64_t x = s->first_component + i;
        /* networking (1) or storage (2) for almost everyone, sometimes the vTPM (4) */
        uint64_t first = 1 + rnd() % 2;
        check(graph_add_edge(g, x, first, NULL), "component -> service");
        (*count)++;
        if (rnd() % 4 == 0) {
            check(graph_add_edge(g, x, 4, NULL), "component -> vTPM");
            (*count)++;
        }
    }
    return now_ns() - t0;
}

static double time_chain_edges(graph *g, shape *s, size_t *count)
{
    double t0 = now_ns();
    for (int c = 0; c < CHAINS; c++) {
        for (uint64_t k = 1; k < CHAIN_LEN; k++) {
            uint64_t x = s->chain_first[c] + k;
            check(graph_add_edge(g, x, x - 1, NULL), "chain edge");
            (*count)++;
            if (k % 10 == 0) {
                check(graph_add_edge(g, x, 5 + k % 3, NULL), "chain -> service");
                (*count)++;
            }
        }
    }
    return now_ns() - t0;
}

/* Remove an existing edge a -> b and add it again, reps times; ns per add. */
static double readd_ns(graph *g, uint64_t a, uint64_t b, int reps)
{
    double total = 0;
    for (int i = 0; i < reps; i++) {
        check(graph_remove_edge(g, a, b), "remove");
        double t0 = now_ns();
        check(graph_add_edge(g, a, b, NULL), "re-add");
        total += now_ns() - t0;
    }
    return total / reps;
}

static double refused_ns(graph *g, uint64_t a, uint64_t b, int reps)
{
    double t0 = now_ns();
    for (int i = 0; i < reps; i++) {
        if (graph_add_edge(g, a, b, NULL) != SRTM_E_INVALID) {
            fprintf(stderr, "bench_graph: cycle %llu -> %llu not refused\n",
                    (unsigned long long)a, (unsigned long long)b);
            exit(1);
        }
    }
    return (now_ns() - t0) / reps;
}

static void bench_closure(graph *g, const char *what, uint64_t x, int reps)
{
    size_t n = 0;
    double t0 = now_ns();
    for (int i = 0; i < reps; i++) {
        uint64_t *cl;
        check(graph_closure(g, x, &cl, &n), "closure");
        free(cl);
    }
    double ns = (now_ns() - t0) / reps;
    printf("  closure  %-34s %7zu nodes  %10.0f ns  (%5.1f ns/node)\n", what, n, ns,
           n ? ns / (double)n : 0.0);
}

static void bench_may(graph *g, const char *what, uint64_t actor, uint64_t target, int reps)
{
    bool r = false;
    double t0 = now_ns();
    for (int i = 0; i < reps; i++)
        r = graph_may_change_deps(g, actor, target);
    printf("  may_change_deps %-27s %-5s %10.0f ns\n", what, r ? "yes" : "no",
           (now_ns() - t0) / reps);
}

int main(int argc, char **argv)
{
    shape *s = calloc(1, sizeof(*s));
    s->n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    if (!s || s->n < 1 + SERVICES + MANAGERS + (uint64_t)CHAINS * CHAIN_LEN + MANAGERS) {
        fprintf(stderr, "usage: bench_graph [NODES >= %d]\n",
                1 + SERVICES + 2 * MANAGERS + CHAINS * CHAIN_LEN);
        return 2;
    }
    printf("bench_graph: %llu nodes: platform, %d services, %d managers, %d chains of %d\n",
           (unsigned long long)s->n, SERVICES, MANAGERS, CHAINS, CHAIN_LEN);

    /* memory of the nodes alone, in a graph of their own */
    graph *bare;
    check(graph_new(&bare), "graph_new");
    for (uint64_t i = 1; i < s->n; i++) {
        uint64_t h;
        check(graph_add_node(bare, NULL, 0, &h), "bare node");
    }
    size_t bare_bytes = graph_memory_bytes(bare);
    graph_free(bare);

    long rss0 = rss_kib();
    graph *g;
    check(graph_new(&g), "graph_new");
    double t0 = now_ns();
    build_nodes(g, s);
    double build_ns = now_ns() - t0;
    printf("  add_node (with its parent edge)           %8.0f ns/node\n",
           build_ns / (double)s->n);

    size_t nsvc = 0, nchain = 0;
    double svc_ns = time_service_edges(g, s, &nsvc);
    double chain_ns = time_chain_edges(g, s, &nchain);
    s->edges += nsvc + nchain;
    printf("  add_edge component -> shared service     %8.0f ns/edge  (%zu edges)\n",
           svc_ns / (double)nsvc, nsvc);
    printf("  add_edge chain level -> previous level   %8.0f ns/edge  (%zu edges)\n",
           chain_ns / (double)nchain, nchain);

    uint64_t deep = s->chain_first[0] + CHAIN_LEN - 1;
    uint64_t mid = s->chain_first[0] + CHAIN_LEN / 2;
    uint64_t leaf = s->first_component + 12345 % s->ncomponents;
    printf("  add_edge re-add depth-500 -> depth-499   %8.0f ns\n",
           readd_ns(g, mid, mid - 1, 1000));
    printf("  add_edge re-add manager -> platform      %8.0f ns\n",
           readd_ns(g, s->managers[1], 0, 1000));
    uint64_t leaf_svc; /* the leaf's smallest dependency: networking or storage */
    size_t got;
    check(graph_deps(g, leaf, 0, &leaf_svc, 1, &got), "deps");
    printf("  add_edge re-add leaf -> shared service    %8.0f ns\n",
           readd_ns(g, leaf, leaf_svc, 1000));
    printf("  add_edge refused: platform -> depth-1000 (cycle)     %8.0f ns\n",
           refused_ns(g, 0, deep, 1000));
    printf("  add_edge refused: shared service -> leaf (cycle)     %8.0f ns\n",
           refused_ns(g, leaf_svc, leaf, 1000));
    printf("  add_edge refused: chain head -> depth-1000 (cycle)   %8.0f ns\n",
           refused_ns(g, s->chain_first[0], deep, 1000));

    bench_closure(g, "platform", 0, 1000);
    bench_closure(g, "manager", s->managers[0], 1000);
    bench_closure(g, "leaf component", leaf, 1000);
    static const int depths[] = {1, 10, 100, 1000};
    for (size_t i = 0; i < sizeof(depths) / sizeof(depths[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "chain node at depth %d", depths[i]);
        bench_closure(g, what, s->chain_first[1] + (uint64_t)depths[i] - 1,
                      depths[i] >= 100 ? 200 : 1000);
    }

    bench_may(g, "platform on depth-1000", 0, deep, 1000);
    bench_may(g, "chain head on depth-1000", s->chain_first[0], deep, 1000);
    bench_may(g, "stranger leaf on leaf", leaf + 1, leaf, 1000);
    bench_may(g, "depth-1000 on its head", deep, s->chain_first[0], 1000);

    size_t bytes = graph_memory_bytes(g);
    long rss1 = rss_kib();
    printf("memory: %zu edges; graph_memory_bytes %.1f MiB, RSS growth %.1f MiB\n", s->edges,
           (double)bytes / 1048576.0, (double)(rss1 - rss0) / 1024.0);
    printf("  per node (nodes only, incl. array slack) %6.1f bytes\n",
           (double)bare_bytes / (double)s->n);
    printf("  per edge (the rest / edges)              %6.1f bytes\n",
           (double)(bytes - bare_bytes) / (double)s->edges);
    printf("  everything / nodes                       %6.1f bytes\n",
           (double)bytes / (double)s->n);
    printf("reproduce: ninja -C build tests/bench_graph && build/tests/bench_graph %llu\n",
           (unsigned long long)s->n);
    graph_free(g);
    free(s);
    return 0;
}
