/*
 * The dependency DAG: per node, two sorted uint32 adjacency lists (dependencies and
 * dependents) with room for two entries inside the node, an epoch stamp and a mark
 * for searches, and the terminated flag. See graph.h for the costs and the rules.
 *
 * Invariants (checked by graph_debug_consistent): every list is strictly ascending;
 * b is in deps(a) exactly when a is in dependents(b); no self-loop; no cycle (every
 * insertion is preceded by the path search). A refused or failed mutation changes no
 * list: capacity is reserved before anything is written.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "graph_int.h"

/* ---- growable sorted uint32 lists with inline room for two ---- */

#define VEC_INLINE 2u

typedef struct vec32 {
    union {
        uint32_t *heap;             /* when cap > VEC_INLINE */
        uint32_t inl[VEC_INLINE];   /* when cap == VEC_INLINE */
    } u;
    uint32_t n;
    uint32_t cap;
} vec32;

typedef struct node {
    vec32 deps;       /* what this node depends on, ascending */
    vec32 dependents; /* what depends on this node, ascending */
    uint32_t stamp;   /* mark is meaningful only when stamp == graph.epoch */
    uint8_t mark;
    uint8_t terminated;
} node;

/* Marks; a search uses the ones it needs. */
enum {
    MARK_FWD = 1,    /* path search: reached from the source; closure: seen */
    MARK_BWD = 2,    /* path search: reaches the destination */
};

/* Scratch buffers reused by searches; their capacity only grows. */
typedef struct u32buf {
    uint32_t *p;
    size_t n, cap;
} u32buf;

struct graph {
    node *nodes;
    size_t count, cap;
    uint32_t epoch;
    u32buf qf, qb; /* forward and backward queues of a path search, the closure queue */
    size_t bytes; /* everything allocated above, for graph_memory_bytes */
};

static uint32_t *vec_data(vec32 *v)
{
    return v->cap > VEC_INLINE ? v->u.heap : v->u.inl;
}

static const uint32_t *vec_cdata(const vec32 *v)
{
    return v->cap > VEC_INLINE ? v->u.heap : v->u.inl;
}

static void vec_init(vec32 *v)
{
    memset(v, 0, sizeof(*v));
    v->cap = VEC_INLINE;
}

static void vec_release(graph *g, vec32 *v)
{
    if (v->cap > VEC_INLINE) {
        free(v->u.heap);
        g->bytes -= (size_t)v->cap * sizeof(uint32_t);
    }
    vec_init(v);
}

/* Make room for need entries; on failure v is unchanged. */
static srtm_err vec_reserve(graph *g, vec32 *v, uint64_t need)
{
    if (need <= v->cap)
        return SRTM_OK;
    if (need > UINT32_MAX)
        return SRTM_E_TOO_BIG;
    uint64_t ncap = (uint64_t)v->cap * 2;
    if (ncap < 4)
        ncap = 4;
    if (ncap < need)
        ncap = need;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    uint32_t *p;
    if (v->cap > VEC_INLINE) {
        p = realloc(v->u.heap, (size_t)ncap * sizeof(uint32_t));
        if (!p)
            return SRTM_E_NO_MEMORY;
    } else {
        p = malloc((size_t)ncap * sizeof(uint32_t));
        if (!p)
            return SRTM_E_NO_MEMORY;
        memcpy(p, v->u.inl, v->n * sizeof(uint32_t));
    }
    g->bytes += (size_t)(ncap - v->cap) * sizeof(uint32_t);
    if (v->cap == VEC_INLINE)
        g->bytes += VEC_INLINE * sizeof(uint32_t); /* the inline room was never counted */
    v->u.heap = p;
    v->cap = (uint32_t)ncap;
    return SRTM_OK;
}

/* Give memory back after removals; keeps memory proportional to the edges. */
static void vec_shrink(graph *g, vec32 *v)
{
    if (v->cap <= VEC_INLINE)
        return;
    if (v->n <= VEC_INLINE) {
        uint32_t *p = v->u.heap;
        uint32_t n = v->n, cap = v->cap;
        memcpy(v->u.inl, p, n * sizeof(uint32_t));
        v->cap = VEC_INLINE;
        free(p);
        g->bytes -= (size_t)cap * sizeof(uint32_t);
        return;
    }
    if (v->cap >= 16 && v->n < v->cap / 4) {
        uint32_t ncap = v->cap / 2;
        uint32_t *p = realloc(v->u.heap, (size_t)ncap * sizeof(uint32_t));
        if (p) { /* a failed shrink is harmless */
            g->bytes -= (size_t)(v->cap - ncap) * sizeof(uint32_t);
            v->u.heap = p;
            v->cap = ncap;
        }
    }
}

/* Binary search: true when x is present; *pos is its index or where it would go. */
static bool vec_find(const vec32 *v, uint32_t x, uint32_t *pos)
{
    const uint32_t *d = vec_cdata(v);
    uint32_t lo = 0, hi = v->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return lo < v->n && d[lo] == x;
}

/* Capacity must have been reserved. */
static void vec_insert_at(vec32 *v, uint32_t pos, uint32_t x)
{
    uint32_t *d = vec_data(v);
    memmove(d + pos + 1, d + pos, (size_t)(v->n - pos) * sizeof(uint32_t));
    d[pos] = x;
    v->n++;
}

static void vec_remove_at(vec32 *v, uint32_t pos)
{
    uint32_t *d = vec_data(v);
    memmove(d + pos, d + pos + 1, (size_t)(v->n - pos - 1) * sizeof(uint32_t));
    v->n--;
}

/* ---- scratch buffers ---- */

static srtm_err buf_push(graph *g, u32buf *b, uint32_t x)
{
    if (b->n == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        uint32_t *p = realloc(b->p, ncap * sizeof(uint32_t));
        if (!p)
            return SRTM_E_NO_MEMORY;
        g->bytes += (ncap - b->cap) * sizeof(uint32_t);
        b->p = p;
        b->cap = ncap;
    }
    b->p[b->n++] = x;
    return SRTM_OK;
}

/*
 * Start a search: a fresh epoch makes every mark stale in O(1). Only when the 32-bit
 * epoch wraps (once per 4 billion searches) are the stamps cleared, in O(nodes).
 */
static uint32_t new_epoch(graph *g)
{
    if (++g->epoch == 0) {
        for (size_t i = 0; i < g->count; i++)
            g->nodes[i].stamp = 0;
        g->epoch = 1;
    }
    return g->epoch;
}

static bool seen(const graph *g, uint32_t v)
{
    return g->nodes[v].stamp == g->epoch;
}

static void set_mark(graph *g, uint32_t v, uint8_t mark)
{
    g->nodes[v].stamp = g->epoch;
    g->nodes[v].mark = mark;
}

static bool in_range(const graph *g, uint64_t h)
{
    return h < g->count;
}

/* ---- lifetime ---- */

static srtm_err nodes_reserve(graph *g, size_t need)
{
    if (need <= g->cap)
        return SRTM_OK;
    size_t ncap = g->cap ? g->cap * 2 : 16;
    if (ncap < need)
        ncap = need;
    node *p = realloc(g->nodes, ncap * sizeof(node));
    if (!p)
        return SRTM_E_NO_MEMORY;
    g->bytes += (ncap - g->cap) * sizeof(node);
    g->nodes = p;
    g->cap = ncap;
    return SRTM_OK;
}

srtm_err graph_new(graph **out)
{
    graph *g = calloc(1, sizeof(*g));
    if (!g)
        return SRTM_E_NO_MEMORY;
    g->bytes = sizeof(*g);
    uint64_t h;
    srtm_err err = graph_add_node(g, NULL, 0, &h);
    if (err != SRTM_OK) {
        graph_free(g);
        return err;
    }
    *out = g;
    return SRTM_OK;
}

void graph_free(graph *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->count; i++) {
        vec_release(g, &g->nodes[i].deps);
        vec_release(g, &g->nodes[i].dependents);
    }
    free(g->nodes);
    free(g->qf.p);
    free(g->qb.p);
    free(g);
}

uint64_t graph_node_count(const graph *g)
{
    return g->count;
}

size_t graph_memory_bytes(const graph *g)
{
    return g->bytes;
}

/* ---- structure ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

srtm_err graph_add_node(graph *g, const uint64_t *deps, size_t ndeps, uint64_t *handle_out)
{
    if (g->count >= GRAPH_MAX_NODES)
        return SRTM_E_TOO_BIG;
    if (ndeps > 0 && !deps)
        return SRTM_E_INVALID;
    for (size_t i = 0; i < ndeps; i++)
        if (!in_range(g, deps[i]))
            return SRTM_E_NO_COMPONENT;
    /* ndeps <= count < UINT32_MAX unless there is a duplicate */
    if (ndeps > g->count)
        return SRTM_E_INVALID;

    srtm_err err = nodes_reserve(g, g->count + 1);
    if (err != SRTM_OK)
        return err;
    vec32 out;
    vec_init(&out);
    err = vec_reserve(g, &out, ndeps);
    if (err != SRTM_OK)
        return err;
    uint32_t *d = vec_data(&out);
    for (size_t i = 0; i < ndeps; i++)
        d[i] = (uint32_t)deps[i];
    qsort(d, ndeps, sizeof(uint32_t), cmp_u32);
    for (size_t i = 1; i < ndeps; i++) {
        if (d[i] == d[i - 1]) {
            vec_release(g, &out);
            return SRTM_E_INVALID;
        }
    }
    for (size_t i = 0; i < ndeps; i++) {
        vec32 *in = &g->nodes[d[i]].dependents;
        err = vec_reserve(g, in, (uint64_t)in->n + 1);
        if (err != SRTM_OK) { /* capacity grown so far is harmless */
            vec_release(g, &out);
            return err;
        }
    }

    uint32_t h = (uint32_t)g->count;
    out.n = (uint32_t)ndeps;
    for (size_t i = 0; i < ndeps; i++) {
        vec32 *in = &g->nodes[d[i]].dependents;
        vec_insert_at(in, in->n, h); /* h is the largest handle: appending keeps order */
    }
    node *n = &g->nodes[h];
    n->deps = out;
    vec_init(&n->dependents);
    n->stamp = 0;
    n->mark = 0;
    n->terminated = 0;
    g->count++;
    *handle_out = h;
    return SRTM_OK;
}

/*
 * Is there a path src ->+ dst (following dependencies)? src != dst. Searches forward
 * from src over dependencies and backward from dst over dependents, alternating by
 * edges scanned, and stops when the two meet or either side runs out: the cost is at
 * most about twice the smaller side's part of the graph. Correct because when one side
 * runs out its whole reachable set has been marked, and the other side's start node
 * was marked from the beginning, so a path would have been seen as a meeting.
 */
static srtm_err path_exists(graph *g, uint32_t src, uint32_t dst, bool *out)
{
    new_epoch(g);
    g->qf.n = 0;
    g->qb.n = 0;
    set_mark(g, src, MARK_FWD);
    set_mark(g, dst, MARK_BWD);
    srtm_err err = buf_push(g, &g->qf, src);
    if (err == SRTM_OK)
        err = buf_push(g, &g->qb, dst);
    if (err != SRTM_OK)
        return err;

    size_t fi = 0, bi = 0;     /* queue positions */
    uint32_t fj = 0, bj = 0;   /* positions in the current node's list */
    uint64_t fscan = 0, bscan = 0;
    while (fi < g->qf.n && bi < g->qb.n) {
        bool fwd = fscan <= bscan;
        u32buf *q = fwd ? &g->qf : &g->qb;
        size_t *qi = fwd ? &fi : &bi;
        uint32_t *j = fwd ? &fj : &bj;
        node *v = &g->nodes[q->p[*qi]];
        const vec32 *list = fwd ? &v->deps : &v->dependents;
        if (fwd)
            fscan++;
        else
            bscan++;
        if (*j >= list->n) {
            (*qi)++;
            *j = 0;
            continue;
        }
        uint32_t w = vec_cdata(list)[(*j)++];
        if (seen(g, w)) {
            if (g->nodes[w].mark == (fwd ? MARK_BWD : MARK_FWD)) {
                *out = true;
                return SRTM_OK;
            }
            continue;
        }
        set_mark(g, w, fwd ? MARK_FWD : MARK_BWD);
        err = buf_push(g, q, w);
        if (err != SRTM_OK)
            return err;
    }
    *out = false;
    return SRTM_OK;
}

srtm_err graph_add_edge(graph *g, uint64_t a, uint64_t b, graph_refusal *why)
{
    if (why)
        *why = GRAPH_REFUSAL_NONE;
    if (!in_range(g, a) || !in_range(g, b))
        return SRTM_E_NO_COMPONENT;
    if (a == b) {
        if (why)
            *why = GRAPH_REFUSAL_SELF_LOOP;
        return SRTM_E_INVALID;
    }
    uint32_t ua = (uint32_t)a, ub = (uint32_t)b, pos_out, pos_in;
    if (vec_find(&g->nodes[ua].deps, ub, &pos_out))
        return SRTM_E_EXISTS;
    bool cycle;
    srtm_err err = path_exists(g, ub, ua, &cycle);
    if (err != SRTM_OK)
        return err;
    if (cycle) {
        if (why)
            *why = GRAPH_REFUSAL_CYCLE;
        return SRTM_E_INVALID;
    }
    vec32 *out = &g->nodes[ua].deps, *in = &g->nodes[ub].dependents;
    err = vec_reserve(g, out, (uint64_t)out->n + 1);
    if (err == SRTM_OK)
        err = vec_reserve(g, in, (uint64_t)in->n + 1);
    if (err != SRTM_OK)
        return err;
    (void)vec_find(in, ua, &pos_in);
    vec_insert_at(out, pos_out, ub);
    vec_insert_at(in, pos_in, ua);
    return SRTM_OK;
}

srtm_err graph_remove_edge(graph *g, uint64_t a, uint64_t b)
{
    if (!in_range(g, a) || !in_range(g, b))
        return SRTM_E_NO_COMPONENT;
    uint32_t ua = (uint32_t)a, ub = (uint32_t)b, pos_out, pos_in;
    vec32 *out = &g->nodes[ua].deps, *in = &g->nodes[ub].dependents;
    if (!vec_find(out, ub, &pos_out))
        return SRTM_E_INVALID;
    if (!vec_find(in, ua, &pos_in))
        return SRTM_E_INTERNAL; /* the mirror invariant is broken */
    vec_remove_at(out, pos_out);
    vec_remove_at(in, pos_in);
    vec_shrink(g, out);
    vec_shrink(g, in);
    return SRTM_OK;
}

bool graph_has_edge(const graph *g, uint64_t a, uint64_t b)
{
    uint32_t pos;
    return in_range(g, a) && in_range(g, b) &&
           vec_find(&g->nodes[a].deps, (uint32_t)b, &pos);
}

srtm_err graph_degree(const graph *g, uint64_t x, size_t *ndeps_out, size_t *ndependents_out)
{
    if (!in_range(g, x))
        return SRTM_E_NO_COMPONENT;
    if (ndeps_out)
        *ndeps_out = g->nodes[x].deps.n;
    if (ndependents_out)
        *ndependents_out = g->nodes[x].dependents.n;
    return SRTM_OK;
}

static srtm_err copy_page(const vec32 *v, size_t offset, uint64_t *out, size_t cap,
                          size_t *n_out)
{
    if (cap > 0 && !out)
        return SRTM_E_INVALID;
    if (offset > v->n)
        return SRTM_E_RANGE;
    size_t n = v->n - offset;
    if (n > cap)
        n = cap;
    const uint32_t *d = vec_cdata(v) + offset;
    for (size_t i = 0; i < n; i++)
        out[i] = d[i];
    *n_out = n;
    return SRTM_OK;
}

srtm_err graph_deps(const graph *g, uint64_t x, size_t offset, uint64_t *out, size_t cap,
                    size_t *n_out)
{
    if (!in_range(g, x))
        return SRTM_E_NO_COMPONENT;
    return copy_page(&g->nodes[x].deps, offset, out, cap, n_out);
}

srtm_err graph_dependents(const graph *g, uint64_t x, size_t offset, uint64_t *out,
                          size_t cap, size_t *n_out)
{
    if (!in_range(g, x))
        return SRTM_E_NO_COMPONENT;
    return copy_page(&g->nodes[x].dependents, offset, out, cap, n_out);
}

/* ---- queries ---- */

srtm_err graph_closure(graph *g, uint64_t x, uint64_t **out, size_t *n_out)
{
    if (!in_range(g, x))
        return SRTM_E_NO_COMPONENT;
    new_epoch(g);
    u32buf *q = &g->qf;
    q->n = 0;
    set_mark(g, (uint32_t)x, MARK_FWD);
    srtm_err err = buf_push(g, q, (uint32_t)x);
    if (err != SRTM_OK)
        return err;
    for (size_t head = 0; head < q->n; head++) {
        const vec32 *deps = &g->nodes[q->p[head]].deps;
        const uint32_t *d = vec_cdata(deps);
        for (uint32_t i = 0; i < deps->n; i++) {
            if (seen(g, d[i]))
                continue;
            set_mark(g, d[i], MARK_FWD);
            err = buf_push(g, q, d[i]);
            if (err != SRTM_OK)
                return err;
        }
    }
    size_t n = q->n - 1; /* x itself is q->p[0] */
    uint64_t *res = NULL;
    if (n > 0) {
        res = malloc(n * sizeof(uint64_t));
        if (!res)
            return SRTM_E_NO_MEMORY;
        for (size_t i = 0; i < n; i++)
            res[i] = q->p[i + 1];
    }
    *out = res;
    *n_out = n;
    return SRTM_OK;
}

srtm_err graph_is_dependency(graph *g, uint64_t a, uint64_t x, bool *out)
{
    if (!in_range(g, a) || !in_range(g, x))
        return SRTM_E_NO_COMPONENT;
    if (a == x) {
        *out = false;
        return SRTM_OK;
    }
    return path_exists(g, (uint32_t)a, (uint32_t)x, out);
}

bool graph_may_change_deps(graph *g, uint64_t actor, uint64_t target)
{
    if (!in_range(g, actor) || !in_range(g, target))
        return false;
    if (actor == target)
        return true;
    bool dep = false;
    if (graph_is_dependency(g, target, actor, &dep) != SRTM_OK)
        return false;
    return dep;
}

srtm_err graph_terminate(graph *g, uint64_t x)
{
    if (!in_range(g, x))
        return SRTM_E_NO_COMPONENT;
    g->nodes[x].terminated = 1;
    return SRTM_OK;
}

bool graph_is_terminated(const graph *g, uint64_t x)
{
    return in_range(g, x) && g->nodes[x].terminated;
}

/* ---- test hooks ---- */

void graph_debug_set_epoch(graph *g, uint32_t epoch)
{
    g->epoch = epoch;
}

static bool list_ok(const graph *g, const vec32 *v, uint32_t self)
{
    const uint32_t *d = vec_cdata(v);
    if (v->n > v->cap)
        return false;
    for (uint32_t i = 0; i < v->n; i++) {
        if (d[i] >= g->count || d[i] == self)
            return false;
        if (i > 0 && d[i] <= d[i - 1])
            return false;
    }
    return true;
}

bool graph_debug_consistent(const graph *g)
{
    size_t nout = 0, nin = 0;
    for (size_t i = 0; i < g->count; i++) {
        const node *n = &g->nodes[i];
        if (!list_ok(g, &n->deps, (uint32_t)i) || !list_ok(g, &n->dependents, (uint32_t)i))
            return false;
        nout += n->deps.n;
        nin += n->dependents.n;
        const uint32_t *d = vec_cdata(&n->deps);
        for (uint32_t k = 0; k < n->deps.n; k++) {
            uint32_t pos;
            if (!vec_find(&g->nodes[d[k]].dependents, (uint32_t)i, &pos))
                return false;
        }
    }
    /* every dependency is mirrored and lists hold no duplicates, so equal totals mean
     * every dependent entry is mirrored too */
    return nout == nin;
}
