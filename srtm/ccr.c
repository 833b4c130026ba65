/*
 * The CCR table. Invariants, all kept under the service mutex held by the caller:
 * - a CCR's log is append-only and its value is always the replay of its log from
 *   32 zero bytes: extend appends the entry and updates the value in the same step;
 * - every mutation takes the next global sequence number, so sequence numbers order
 *   all mutations across components;
 * - a batch is applied all-or-nothing: it is validated, memory is reserved and the new
 *   values are computed before the first entry is appended;
 * - nothing once written moves or changes, so that a quote can read the table as it
 *   was at a sequence number without the mutex (ccr.h, "Reading at a cut"): log entries
 *   live in segments that are never reallocated, a description stays where it was
 *   copied, a revert only appends its marker (the per-entry reverted mark is kept apart
 *   from the entry's frozen fields, for readers under the mutex), a grown dependency
 *   record or handle index keeps its older copy until the table is freed, and components
 *   are never freed before the table;
 * - what such a reader reads without the mutex is published in order: an entry or a
 *   dependency record is written whole before the count that covers it is stored (a
 *   release store), a grown block before the pointer to it, and a CCR's value and log
 *   length change together inside its sequence lock (odd while they change);
 * - an IRREVERSIBLE CCR keeps a checkpoint every CCR_CHECKPOINT_EVERY entries, the value
 *   after its entries 0 .. CCR_CHECKPOINT_EVERY * (j + 1) - 1 (checkpoint j), written
 *   in the step that appends that last entry, before the length that covers it is
 *   stored, into segments that are never reallocated: published like the entry, never
 *   moved or changed, so a value after k entries costs less than CCR_CHECKPOINT_EVERY
 *   hashes, also at a cut. A REVERSIBLE CCR has none (a revert changes what a prefix
 *   replays to).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ccr.h"

typedef struct log_entry {
    uint64_t seq; /* every field but reverted is written once, before the entry is counted */
    union {
        uint8_t digest[SRTM_DIGEST_LEN]; /* a measurement */
        struct {
            uint64_t to_seq;   /* a revert marker: the entry reverted to (0: the start) */
            uint64_t by;       /* handle of the component that asked */
        } revert;
    } u;
    uint32_t event_type;
    uint16_t desc_len;
    uint8_t marker;   /* a revert marker */
    uint8_t reverted; /* set by a later revert; read under the mutex only */
    const char *desc; /* desc_len bytes in one of the CCR's description chunks */
} log_entry;

/* Log storage: segment k holds SEG0_ENTRIES << k entries and is never reallocated, so an
 * entry never moves. Segment 0 hangs off the CCR itself; the directory of the others is
 * allocated when the log first outgrows segment 0. */
#define SEG0_ENTRIES 4u
#define LOG_SEGMENTS 36u /* room for SEG0_ENTRIES * (2^36 - 1) entries */

/* Checkpoint segment k holds CP_SEG0 << k checkpoints and is never reallocated; the
 * directory of CP_SEGMENTS slots is allocated with the first checkpoint. */
#define CP_SEG0 4u
#define CP_SEGMENTS 36u
typedef uint8_t cp_value[SRTM_DIGEST_LEN];

/* Descriptions are copied into chunks that are never reallocated; a full chunk is left
 * as it is and a new one started. */
#define DESC_CHUNK_FIRST 64u
#define DESC_CHUNK_MAX (64u * 1024u)
typedef struct desc_chunk {
    struct desc_chunk *older;
    size_t size, used;
    char data[];
} desc_chunk;

/* The record of dependency changes: grown by copying into a bigger block; the older block
 * stays (a snapshot may still read it) until the component is freed. */
typedef struct dep_block {
    struct dep_block *older;
    uint32_t cap;
    ccr_dep_change rec[];
} dep_block;

typedef struct ccr {
    uint8_t value[SRTM_DIGEST_LEN];
    uint8_t policy;
    uint8_t batch_mark; /* 0: untouched by the batch being applied, 1: counted, 2: reserved,
                         * 3: being written (its sequence lock is odd) */
    uint8_t ncps;       /* checkpoint segments allocated */
    uint32_t batch_entries;
    uint32_t batch_desc;
    int32_t batch_last; /* index into the scratch values of this CCR's newest value, or -1 */
    uint8_t nsegs;      /* log segments allocated */
    uint32_t version;   /* sequence lock over value and len: odd while they change */
    log_entry *seg0;    /* segment 0 */
    log_entry **segs;   /* LOG_SEGMENTS slots (slot 0 unused), or NULL */
    uint64_t len, cap;  /* entries written (release-stored), entries the segments hold */
    desc_chunk *chunk;  /* newest description chunk (older ones linked from it) */
    uint64_t descs_len; /* description bytes of the log */
    cp_value **cps;     /* CP_SEGMENTS slots (IRREVERSIBLE CCRs), or NULL */
} ccr;

struct ccr_component {
    uint64_t handle;
    uint64_t parent; /* the component that registered it; 0 for component 0 itself */
    uint64_t registered_seq;
    uint32_t peer_uid, peer_pid;
    uint32_t nccrs;
    uint8_t cap_hash[SRTM_DIGEST_LEN];
    ccr *ccrs;
    dep_block *changes; /* the record of its dependency edges, append-only (release-stored) */
    uint32_t n_changes; /* release-stored after the record it counts is written */
    uint64_t terminated_seq; /* 0: running; else the seq of its termination (release-stored) */
    uint64_t log_entries, log_bytes; /* accounted: every CCR's entries (ccr_entry_cost) and
                                      * checkpoints (CCR_CHECKPOINT_COST) */
    uint32_t children;               /* components registered with this one as parent */
    uint32_t depth;                  /* 0 for component 0, its children 1, ... */
    uint16_t name_len;
    char name[]; /* NUL-terminated */
};

/* A slot of the name index keeps hash bits beside the pointer, so a probe touches the
 * component only when the bits match: at a million components every avoided pointer
 * chase is a cache miss saved on the extend path. */
typedef struct name_slot {
    ccr_component *comp; /* NULL: empty */
    uint32_t hash;       /* high bits of the name's hash */
} name_slot;

/* A handle index outgrown by the table, kept for readers at a cut until the table is
 * freed (the sizes double, so they add up to less than the current one). */
typedef struct old_index {
    struct old_index *older;
    ccr_component **by_handle;
} old_index;

struct ccr_table {
    ccr_component **by_handle; /* index = handle; grown by copying (release-stored) */
    old_index *old_indexes;
    size_t count, by_handle_cap;
    name_slot *slots; /* name index, open addressing, linear probing */
    size_t nslots;    /* power of two; at most half full */
    uint8_t sip_key[16];
    uint64_t seq;
    sha256_hasher *hasher;
    uint8_t (*scratch)[SRTM_DIGEST_LEN]; /* SRTM_MAX_BATCH new values of a batch */
    size_t memory;
    uint64_t stored; /* accounted bytes: every entry and every component block */
    /* Components registered per peer uid: an open-addressing hash table (linear probing,
     * at most half full, a power of two in size), O(1) per registration however many uids
     * register. Entries are never removed. */
    struct uid_count {
        uint32_t uid;
        bool used;
        uint64_t n;
    } *uids;
    size_t n_uids, cap_uids;
};

static uint64_t name_hash(const ccr_table *t, const char *name, size_t len)
{
    return siphash24(t->sip_key, name, len);
}

static srtm_err add_component(ccr_table *t, const char *name, size_t name_len, uint32_t nccrs,
                              uint64_t reversible, const uint8_t cap_hash[SRTM_DIGEST_LEN],
                              uint32_t uid, uint32_t pid, ccr_component **out);

srtm_err ccr_table_new(const uint8_t cap_hash[SRTM_DIGEST_LEN], ccr_table **out)
{
    ccr_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = SRTM_E_NO_MEMORY;
    t->nslots = 64;
    t->slots = calloc(t->nslots, sizeof(*t->slots));
    t->by_handle_cap = 64;
    t->by_handle = calloc(t->by_handle_cap, sizeof(*t->by_handle));
    t->scratch = malloc(SRTM_MAX_BATCH * sizeof(*t->scratch));
    if (t->slots == NULL || t->by_handle == NULL || t->scratch == NULL)
        goto fail;
    if (RAND_bytes(t->sip_key, sizeof(t->sip_key)) != 1) {
        err = SRTM_E_CRYPTO;
        goto fail;
    }
    err = sha256_hasher_new(&t->hasher);
    if (err != SRTM_OK)
        goto fail;
    ccr_component *platform = NULL;
    err = add_component(t, CCR_PLATFORM_NAME, strlen(CCR_PLATFORM_NAME), 1, 0, cap_hash, 0, 0,
                        &platform);
    if (err != SRTM_OK)
        goto fail;
    *out = t;
    return SRTM_OK;
fail:
    ccr_table_free(t);
    return err;
}

static void ccr_storage_free(ccr *r)
{
    free(r->seg0);
    for (unsigned k = 1; r->segs != NULL && k < r->nsegs; k++)
        free(r->segs[k]);
    free(r->segs);
    for (desc_chunk *d = r->chunk; d != NULL;) {
        desc_chunk *older = d->older;
        free(d);
        d = older;
    }
    for (unsigned k = 0; r->cps != NULL && k < r->ncps; k++)
        free(r->cps[k]);
    free(r->cps);
}

static void component_free(ccr_component *c)
{
    if (c == NULL)
        return;
    for (uint32_t i = 0; i < c->nccrs; i++)
        ccr_storage_free(&c->ccrs[i]);
    for (dep_block *b = c->changes; b != NULL;) {
        dep_block *older = b->older;
        free(b);
        b = older;
    }
    OPENSSL_cleanse(c->cap_hash, sizeof(c->cap_hash));
    free(c);
}

void ccr_table_free(ccr_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->count; i++)
        component_free(t->by_handle[i]);
    free(t->by_handle);
    for (old_index *o = t->old_indexes; o != NULL;) {
        old_index *older = o->older;
        free(o->by_handle);
        free(o);
        o = older;
    }
    free(t->slots);
    free(t->scratch);
    free(t->uids);
    sha256_hasher_free(t->hasher);
    OPENSSL_cleanse(t->sip_key, sizeof(t->sip_key));
    free(t);
}

uint64_t ccr_table_seq(const ccr_table *t)
{
    return t->seq;
}

size_t ccr_table_count(const ccr_table *t)
{
    return t->count;
}

size_t ccr_table_memory(const ccr_table *t)
{
    return t->memory + t->nslots * sizeof(*t->slots) + t->by_handle_cap * sizeof(*t->by_handle) +
           sizeof(*t);
}

/* Index of the slot holding name, or of the empty slot where it would go. */
static size_t find_slot(const ccr_table *t, const char *name, size_t len, uint64_t h)
{
    size_t mask = t->nslots - 1;
    size_t i = (size_t)h & mask;
    uint32_t hi = (uint32_t)(h >> 32);
    for (;;) {
        const name_slot *sl = &t->slots[i];
        if (sl->comp == NULL)
            return i;
        if (sl->hash == hi && sl->comp->name_len == len && memcmp(sl->comp->name, name, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static srtm_err grow_slots(ccr_table *t)
{
    size_t n = t->nslots * 2;
    name_slot *slots = calloc(n, sizeof(*slots));
    if (slots == NULL)
        return SRTM_E_NO_MEMORY;
    name_slot *old = t->slots;
    size_t old_n = t->nslots;
    t->slots = slots;
    t->nslots = n;
    for (size_t i = 0; i < old_n; i++) {
        ccr_component *c = old[i].comp;
        if (c == NULL)
            continue;
        uint64_t h = name_hash(t, c->name, c->name_len);
        t->slots[find_slot(t, c->name, c->name_len, h)] = old[i];
    }
    free(old);
    return SRTM_OK;
}

/* The slot of uid in a table of cap slots (a power of two): its entry, or the free slot
 * where it belongs. */
static struct uid_count *uid_slot(struct uid_count *slots, size_t cap, uint32_t uid)
{
    size_t i = (size_t)(uid * 2654435761u) & (cap - 1);
    while (slots[i].used && slots[i].uid != uid)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static struct uid_count *find_uid(const ccr_table *t, uint32_t uid)
{
    if (t->cap_uids == 0)
        return NULL;
    struct uid_count *u = uid_slot(t->uids, t->cap_uids, uid);
    return u->used ? u : NULL;
}

/* Room for uid's count, so that counting after insertion cannot fail. */
static srtm_err reserve_uid(ccr_table *t, uint32_t uid)
{
    if (find_uid(t, uid) != NULL || 2 * (t->n_uids + 1) <= t->cap_uids)
        return SRTM_OK;
    size_t n = t->cap_uids ? 2 * t->cap_uids : 16;
    struct uid_count *p = calloc(n, sizeof(*p));
    if (p == NULL)
        return SRTM_E_NO_MEMORY;
    for (size_t i = 0; i < t->cap_uids; i++)
        if (t->uids[i].used)
            *uid_slot(p, n, t->uids[i].uid) = t->uids[i];
    free(t->uids);
    t->uids = p;
    t->cap_uids = n;
    return SRTM_OK;
}

static void count_uid(ccr_table *t, uint32_t uid)
{
    struct uid_count *u = uid_slot(t->uids, t->cap_uids, uid);
    if (!u->used) {
        *u = (struct uid_count){.uid = uid, .used = true};
        t->n_uids++;
    }
    u->n++;
}

uint64_t ccr_uid_components(const ccr_table *t, uint32_t uid)
{
    const struct uid_count *u = find_uid(t, uid);
    return u != NULL ? u->n : 0;
}

/* The checkpoints of r when its log holds len entries. */
static uint64_t checkpoints(const ccr *r, uint64_t len)
{
    return r->policy == SRTM_POLICY_IRREVERSIBLE ? len / CCR_CHECKPOINT_EVERY : 0;
}

size_t ccr_entry_cost(size_t desc_len)
{
    return sizeof(log_entry) + desc_len;
}

/* The block add_component allocates: the component, its name, then its CCRs. */
static size_t ccr_offset(size_t name_len)
{
    return (sizeof(ccr_component) + name_len + 1 + _Alignof(ccr) - 1) & ~(_Alignof(ccr) - 1);
}

size_t ccr_component_cost(size_t name_len, uint32_t nccrs)
{
    return ccr_offset(name_len) + (size_t)nccrs * sizeof(ccr);
}

uint64_t ccr_table_stored(const ccr_table *t)
{
    return t->stored;
}

void ccr_comp_usage(const ccr_component *c, uint64_t *entries_out, uint64_t *bytes_out,
                    uint32_t *children_out, uint32_t *depth_out)
{
    *entries_out = c->log_entries;
    *bytes_out = c->log_bytes;
    *children_out = c->children;
    *depth_out = c->depth;
}

srtm_err ccr_usage(const ccr_component *c, uint32_t index, uint64_t *entries_out,
                   uint64_t *bytes_out)
{
    if (index >= c->nccrs)
        return SRTM_E_NO_CCR;
    const ccr *r = &c->ccrs[index];
    *entries_out = r->len;
    *bytes_out = r->len * sizeof(log_entry) + r->descs_len +
                 checkpoints(r, r->len) * CCR_CHECKPOINT_COST;
    return SRTM_OK;
}

uint64_t ccr_checkpoint_bytes(const ccr_component *c, uint32_t index, uint64_t add_entries)
{
    if (index >= c->nccrs)
        return 0;
    const ccr *r = &c->ccrs[index];
    uint64_t after = r->len + add_entries < r->len ? UINT64_MAX : r->len + add_entries;
    return (checkpoints(r, after) - checkpoints(r, r->len)) * CCR_CHECKPOINT_COST;
}

/* Copied, not reallocated: a reader at a cut may be reading the older index. */
static srtm_err grow_handles(ccr_table *t)
{
    size_t n = t->by_handle_cap * 2;
    ccr_component **p = malloc(n * sizeof(*p));
    old_index *o = malloc(sizeof(*o));
    if (p == NULL || o == NULL) {
        free(p);
        free(o);
        return SRTM_E_NO_MEMORY;
    }
    memcpy(p, t->by_handle, t->count * sizeof(*p));
    o->by_handle = t->by_handle;
    o->older = t->old_indexes;
    t->old_indexes = o;
    __atomic_store_n(&t->by_handle, p, __ATOMIC_RELEASE);
    t->memory += t->by_handle_cap * sizeof(*p);
    t->by_handle_cap = n;
    return SRTM_OK;
}

static srtm_err add_component(ccr_table *t, const char *name, size_t name_len, uint32_t nccrs,
                              uint64_t reversible, const uint8_t cap_hash[SRTM_DIGEST_LEN],
                              uint32_t uid, uint32_t pid, ccr_component **out)
{
    if (name_len == 0 || nccrs == 0)
        return SRTM_E_INVALID;
    if (name_len > SRTM_MAX_NAME || nccrs > SRTM_MAX_CCRS_PER_REGISTER)
        return SRTM_E_TOO_BIG;
    if (!utf8_valid(name, name_len))
        return SRTM_E_INVALID;
    if (nccrs < 64 && (reversible >> nccrs) != 0)
        return SRTM_E_NO_CCR; /* a reversible index beyond the CCRs created */
    uint64_t h = name_hash(t, name, name_len);
    if (t->slots[find_slot(t, name, name_len, h)].comp != NULL)
        return SRTM_E_EXISTS;
    /* Reserve room in both indexes first so that nothing can fail after insertion. */
    if ((t->count + 1) * 2 > t->nslots && grow_slots(t) != SRTM_OK)
        return SRTM_E_NO_MEMORY;
    if (t->count == t->by_handle_cap && grow_handles(t) != SRTM_OK)
        return SRTM_E_NO_MEMORY;
    if (reserve_uid(t, uid) != SRTM_OK)
        return SRTM_E_NO_MEMORY;
    /* One block: the component, its name, then its CCRs (one allocation, and the CCRs
     * sit next to what a lookup already touched). */
    size_t ccr_off = ccr_offset(name_len);
    ccr_component *c = calloc(1, ccr_off + nccrs * sizeof(ccr));
    if (c == NULL)
        return SRTM_E_NO_MEMORY;
    c->ccrs = (ccr *)((char *)c + ccr_off);
    for (uint32_t i = 0; i < nccrs; i++) {
        c->ccrs[i].policy = (uint8_t)((reversible >> i) & 1 ? SRTM_POLICY_REVERSIBLE
                                                            : SRTM_POLICY_IRREVERSIBLE);
        c->ccrs[i].batch_last = -1;
    }
    c->nccrs = nccrs;
    memcpy(c->name, name, name_len);
    c->name[name_len] = '\0';
    c->name_len = (uint16_t)name_len;

    memcpy(c->cap_hash, cap_hash, SRTM_DIGEST_LEN);
    c->peer_uid = uid;
    c->peer_pid = pid;
    c->handle = t->count;
    c->registered_seq = ++t->seq;
    t->by_handle[t->count++] = c;
    t->slots[find_slot(t, name, name_len, h)] = (name_slot){.comp = c, .hash = (uint32_t)(h >> 32)};
    t->memory += ccr_off + nccrs * sizeof(ccr);
    t->stored += ccr_component_cost(name_len, nccrs);
    if (c->handle != CCR_PLATFORM_HANDLE)
        count_uid(t, uid); /* component 0 is srtmd's own, not a peer's */
    *out = c;
    return SRTM_OK;
}

srtm_err ccr_register(ccr_table *t, const char *name, size_t name_len, uint32_t nccrs,
                      srtm_policy policy, const uint8_t cap_hash[SRTM_DIGEST_LEN],
                      uint32_t peer_uid, uint32_t peer_pid, uint64_t *handle_out,
                      uint64_t *seq_out)
{
    if (policy != SRTM_POLICY_IRREVERSIBLE && policy != SRTM_POLICY_REVERSIBLE)
        return SRTM_E_INVALID;
    uint64_t mask = 0;
    if (policy == SRTM_POLICY_REVERSIBLE)
        mask = nccrs >= 64 ? UINT64_MAX : (((uint64_t)1 << nccrs) - 1);
    return ccr_register_mixed(t, name, name_len, nccrs, mask, cap_hash, peer_uid, peer_pid,
                              handle_out, seq_out);
}

srtm_err ccr_register_mixed(ccr_table *t, const char *name, size_t name_len, uint32_t nccrs,
                            uint64_t reversible, const uint8_t cap_hash[SRTM_DIGEST_LEN],
                            uint32_t peer_uid, uint32_t peer_pid, uint64_t *handle_out,
                            uint64_t *seq_out)
{
    ccr_component *c = NULL;
    srtm_err err = add_component(t, name, name_len, nccrs, reversible, cap_hash, peer_uid,
                                 peer_pid, &c);
    if (err != SRTM_OK)
        return err;
    *handle_out = c->handle;
    *seq_out = c->registered_seq;
    return SRTM_OK;
}

ccr_component *ccr_find_name(const ccr_table *t, const char *name, size_t name_len)
{
    if (name_len == 0 || name_len > SRTM_MAX_NAME)
        return NULL;
    uint64_t h = name_hash(t, name, name_len);
    return t->slots[find_slot(t, name, name_len, h)].comp;
}

ccr_component *ccr_find_handle(const ccr_table *t, uint64_t handle)
{
    return handle < t->count ? t->by_handle[handle] : NULL;
}

const ccr_component *ccr_cut_handle(const ccr_table *t, const ccr_cut *cut, uint64_t handle)
{
    if (handle >= cut->count)
        return NULL;
    ccr_component *const *index = __atomic_load_n(&t->by_handle, __ATOMIC_ACQUIRE);
    return index[handle];
}

ccr_cut ccr_table_cut(const ccr_table *t)
{
    return (ccr_cut){.seq = t->seq, .count = t->count};
}

bool ccr_cap_matches(const ccr_component *c, const uint8_t cap_hash[SRTM_DIGEST_LEN])
{
    return CRYPTO_memcmp(c->cap_hash, cap_hash, SRTM_DIGEST_LEN) == 0;
}

/* Entry i of r's log (i < r->cap). Segment k starts at SEG0_ENTRIES * (2^k - 1). */
static log_entry *entry_at(const ccr *r, uint64_t i)
{
    uint64_t j = i / SEG0_ENTRIES + 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(j);
    uint64_t off = i - SEG0_ENTRIES * (((uint64_t)1 << k) - 1);
    return (k == 0 ? r->seg0 : r->segs[k]) + off;
}

/* Checkpoint j of r (j below the checkpoints its segments hold). */
static cp_value *checkpoint_at(const ccr *r, uint64_t j)
{
    uint64_t x = j / CP_SEG0 + 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(x);
    uint64_t off = j - CP_SEG0 * (((uint64_t)1 << k) - 1);
    return &r->cps[k][off];
}

/* Room in r's checkpoint segments for a log of len entries. */
static srtm_err checkpoint_room(ccr_table *t, ccr *r, uint64_t len)
{
    uint64_t need = checkpoints(r, len);
    if (need > 0 && r->cps == NULL) {
        r->cps = calloc(CP_SEGMENTS, sizeof(*r->cps));
        if (r->cps == NULL)
            return SRTM_E_NO_MEMORY;
        t->memory += CP_SEGMENTS * sizeof(*r->cps);
    }
    while (CP_SEG0 * (((uint64_t)1 << r->ncps) - 1) < need) {
        if (r->ncps >= CP_SEGMENTS)
            return SRTM_E_NO_MEMORY;
        uint64_t n = (uint64_t)CP_SEG0 << r->ncps;
        cp_value *seg = malloc(n * sizeof(*seg));
        if (seg == NULL)
            return SRTM_E_NO_MEMORY;
        r->cps[r->ncps++] = seg;
        t->memory += n * sizeof(*seg);
    }
    return SRTM_OK;
}

/* One more log segment. */
static srtm_err add_segment(ccr_table *t, ccr *r)
{
    if (r->nsegs >= LOG_SEGMENTS)
        return SRTM_E_NO_MEMORY;
    if (r->nsegs == 1 && r->segs == NULL) {
        r->segs = calloc(LOG_SEGMENTS, sizeof(*r->segs));
        if (r->segs == NULL)
            return SRTM_E_NO_MEMORY;
        t->memory += LOG_SEGMENTS * sizeof(*r->segs);
    }
    uint64_t n = (uint64_t)SEG0_ENTRIES << r->nsegs;
    log_entry *seg = malloc(n * sizeof(*seg));
    if (seg == NULL)
        return SRTM_E_NO_MEMORY;
    if (r->nsegs == 0)
        r->seg0 = seg;
    else
        r->segs[r->nsegs] = seg;
    r->nsegs++;
    r->cap += n;
    t->memory += n * sizeof(*seg);
    return SRTM_OK;
}

/* A description chunk with room for add_desc more bytes. */
static srtm_err desc_room(ccr_table *t, ccr *r, uint64_t add_desc)
{
    if (add_desc == 0 || (r->chunk != NULL && r->chunk->size - r->chunk->used >= add_desc))
        return SRTM_OK;
    size_t size = r->chunk == NULL ? DESC_CHUNK_FIRST : r->chunk->size * 2;
    if (size > DESC_CHUNK_MAX)
        size = DESC_CHUNK_MAX;
    if (size < add_desc)
        size = (size_t)add_desc;
    desc_chunk *d = malloc(sizeof(*d) + size);
    if (d == NULL)
        return SRTM_E_NO_MEMORY;
    d->older = r->chunk;
    d->size = size;
    d->used = 0;
    r->chunk = d;
    t->memory += sizeof(*d) + size;
    return SRTM_OK;
}

/* Make room for add_entries more entries and add_desc more description bytes (in one
 * chunk). A failure leaves only unused room behind. */
static srtm_err reserve(ccr_table *t, ccr *r, uint64_t add_entries, uint64_t add_desc)
{
    srtm_err err = SRTM_OK;
    while (err == SRTM_OK && r->len + add_entries > r->cap)
        err = add_segment(t, r);
    if (err == SRTM_OK)
        err = desc_room(t, r, add_desc);
    if (err == SRTM_OK)
        err = checkpoint_room(t, r, r->len + add_entries);
    return err;
}

/* The sequence lock of a CCR's value and log length (ccr_cut_freeze reads them). */
static void write_begin(ccr *r)
{
    __atomic_store_n(&r->version, r->version + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(ccr *r)
{
    __atomic_store_n(&r->version, r->version + 1, __ATOMIC_RELEASE);
}

/* Ends the sequence lock of every CCR the batch wrote, and forgets the batch. */
static void clear_marks(ccr_component *c, const ccr_measurement *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ccr *r = &c->ccrs[m[i].ccr];
        if (r->batch_mark == 3)
            write_end(r);
        r->batch_mark = 0;
        r->batch_entries = 0;
        r->batch_desc = 0;
        r->batch_last = -1;
    }
}

srtm_err ccr_extend(ccr_table *t, ccr_component *c, const ccr_measurement *m, size_t n,
                    uint64_t *first_seq_out, uint64_t *last_seq_out)
{
    if (n == 0)
        return SRTM_E_INVALID;
    if (n > SRTM_MAX_BATCH)
        return SRTM_E_TOO_BIG;
    for (size_t i = 0; i < n; i++) {
        if (m[i].ccr >= c->nccrs)
            return SRTM_E_NO_CCR;
        if (m[i].desc_len > SRTM_MAX_DESC)
            return SRTM_E_TOO_BIG;
        if (m[i].digest == NULL || (m[i].desc_len > 0 && m[i].desc == NULL))
            return SRTM_E_INVALID;
    }
    /* Count what each touched CCR receives, then reserve it: after this nothing fails
     * but the hash, and the hashes are computed before anything is appended. */
    for (size_t i = 0; i < n; i++) {
        ccr *r = &c->ccrs[m[i].ccr];
        r->batch_mark = 1;
        r->batch_entries++;
        r->batch_desc += (uint32_t)m[i].desc_len;
    }
    srtm_err err = SRTM_OK;
    for (size_t i = 0; i < n && err == SRTM_OK; i++) {
        ccr *r = &c->ccrs[m[i].ccr];
        if (r->batch_mark == 1) {
            r->batch_mark = 2;
            err = reserve(t, r, r->batch_entries, r->batch_desc);
        }
    }
    for (size_t i = 0; i < n && err == SRTM_OK; i++) {
        ccr *r = &c->ccrs[m[i].ccr];
        const uint8_t *prev = r->batch_last >= 0 ? t->scratch[r->batch_last] : r->value;
        err = sha256_hasher_two(t->hasher, prev, SRTM_DIGEST_LEN, m[i].digest, SRTM_DIGEST_LEN,
                                t->scratch[i]);
        r->batch_last = (int32_t)i;
    }
    if (err != SRTM_OK) {
        clear_marks(c, m, n);
        return err;
    }
    uint64_t first = t->seq + 1;
    for (size_t i = 0; i < n; i++) {
        ccr *r = &c->ccrs[m[i].ccr];
        if (r->batch_mark == 2) {
            r->batch_mark = 3;
            write_begin(r);
        }
        log_entry *e = entry_at(r, r->len);
        e->seq = ++t->seq;
        memcpy(e->u.digest, m[i].digest, SRTM_DIGEST_LEN);
        e->event_type = m[i].event_type;
        e->desc_len = (uint16_t)m[i].desc_len;
        e->marker = 0;
        e->reverted = 0;
        e->desc = NULL;
        if (m[i].desc_len > 0) {
            e->desc = r->chunk->data + r->chunk->used;
            memcpy(r->chunk->data + r->chunk->used, m[i].desc, m[i].desc_len);
            r->chunk->used += m[i].desc_len;
        }
        __atomic_store_n(&r->descs_len, r->descs_len + m[i].desc_len, __ATOMIC_RELAXED);
        memcpy(r->value, t->scratch[i], SRTM_DIGEST_LEN);
        uint64_t cost = ccr_entry_cost(m[i].desc_len);
        if (checkpoints(r, r->len + 1) > checkpoints(r, r->len)) {
            memcpy(*checkpoint_at(r, checkpoints(r, r->len + 1) - 1), t->scratch[i],
                   SRTM_DIGEST_LEN);
            cost += CCR_CHECKPOINT_COST;
        }
        __atomic_store_n(&r->len, r->len + 1, __ATOMIC_RELEASE);
        c->log_entries++;
        c->log_bytes += cost;
        t->stored += cost;
    }
    clear_marks(c, m, n);
    *first_seq_out = first;
    *last_seq_out = t->seq;
    return SRTM_OK;
}

uint64_t ccr_comp_handle(const ccr_component *c)
{
    return c->handle;
}

uint64_t ccr_comp_parent(const ccr_component *c)
{
    return c->parent;
}

void ccr_comp_set_parent(ccr_table *t, ccr_component *c, uint64_t parent)
{
    ccr_component *p = ccr_find_handle(t, parent);
    if (p != NULL && p != c) {
        c->depth = p->depth + 1;
        p->children++;
    }
    c->parent = parent;
}

uint64_t ccr_table_next_seq(ccr_table *t)
{
    return ++t->seq;
}

/* ---- the record of dependency edges ---- */

srtm_err ccr_dep_reserve(ccr_table *t, ccr_component *c, size_t n)
{
    if (n > SRTM_MAX_DEP_CHANGES || c->n_changes > SRTM_MAX_DEP_CHANGES - n)
        return SRTM_E_TOO_BIG;
    size_t have = c->changes != NULL ? c->changes->cap : 0;
    if (c->n_changes + n <= have)
        return SRTM_OK;
    size_t cap = have ? 2 * have : n;
    if (cap < c->n_changes + n)
        cap = c->n_changes + n;
    if (cap > SRTM_MAX_DEP_CHANGES)
        cap = SRTM_MAX_DEP_CHANGES;
    /* Copied, not reallocated: a snapshot may be reading the older block. */
    dep_block *grown = malloc(sizeof(*grown) + cap * sizeof(grown->rec[0]));
    if (grown == NULL)
        return SRTM_E_NO_MEMORY;
    if (c->n_changes > 0)
        memcpy(grown->rec, c->changes->rec, c->n_changes * sizeof(grown->rec[0]));
    grown->cap = (uint32_t)cap;
    grown->older = c->changes;
    __atomic_store_n(&c->changes, grown, __ATOMIC_RELEASE);
    t->memory += sizeof(*grown) + cap * sizeof(grown->rec[0]);
    return SRTM_OK;
}

void ccr_dep_record(ccr_component *c, const ccr_dep_change *change)
{
    if (c->changes != NULL && c->n_changes < c->changes->cap) {
        c->changes->rec[c->n_changes] = *change;
        __atomic_store_n(&c->n_changes, c->n_changes + 1, __ATOMIC_RELEASE);
    }
}

size_t ccr_comp_dep_changes(const ccr_component *c, const ccr_dep_change **out)
{
    *out = c->changes != NULL ? c->changes->rec : NULL;
    return c->n_changes;
}

uint64_t ccr_dep_declarer(const ccr_component *c, uint64_t on)
{
    for (size_t i = c->n_changes; i > 0; i--)
        if (c->changes->rec[i - 1].on == on && !c->changes->rec[i - 1].removed)
            return c->changes->rec[i - 1].actor;
    return c->handle;
}

const char *ccr_comp_name(const ccr_component *c)
{
    return c->name;
}

uint32_t ccr_comp_ccr_count(const ccr_component *c)
{
    return c->nccrs;
}

uint32_t ccr_comp_peer_uid(const ccr_component *c)
{
    return c->peer_uid;
}

uint32_t ccr_comp_peer_pid(const ccr_component *c)
{
    return c->peer_pid;
}

uint64_t ccr_comp_registered_seq(const ccr_component *c)
{
    return c->registered_seq;
}

srtm_err ccr_get(const ccr_component *c, uint32_t index, const uint8_t **value_out,
                 srtm_policy *policy_out, uint64_t *log_len_out)
{
    if (index >= c->nccrs)
        return SRTM_E_NO_CCR;
    const ccr *r = &c->ccrs[index];
    *value_out = r->value;
    *policy_out = (srtm_policy)r->policy;
    *log_len_out = r->len;
    return SRTM_OK;
}

/* The view of e's frozen fields (flags: CCR_ENTRY_MARKER only). */
static void entry_view(const log_entry *e, ccr_log_view *out)
{
    out->seq = e->seq;
    out->flags = e->marker ? CCR_ENTRY_MARKER : 0;
    out->digest = e->marker ? NULL : e->u.digest;
    out->revert_to = e->marker ? e->u.revert.to_seq : 0;
    out->revert_by = e->marker ? e->u.revert.by : 0;
    out->event_type = e->event_type;
    out->desc = e->desc_len > 0 ? e->desc : "";
    out->desc_len = e->desc_len;
}

srtm_err ccr_log_at(const ccr_component *c, uint32_t index, uint64_t i, ccr_log_view *out)
{
    if (index >= c->nccrs)
        return SRTM_E_NO_CCR;
    const ccr *r = &c->ccrs[index];
    if (i >= r->len)
        return SRTM_E_RANGE;
    const log_entry *e = entry_at(r, i);
    entry_view(e, out);
    if (e->reverted)
        out->flags |= CCR_ENTRY_REVERTED;
    return SRTM_OK;
}

/* The number of entries among r's first len whose seq is at most seq (the log is in
 * increasing seq order). */
static uint64_t len_at(const ccr *r, uint64_t len, uint64_t seq)
{
    if (len == 0 || entry_at(r, len - 1)->seq <= seq)
        return len;
    uint64_t lo = 0, hi = len - 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (entry_at(r, mid)->seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

srtm_err ccr_cut_freeze(const ccr_component *c, uint32_t index, const ccr_cut *cut,
                        ccr_frozen *out)
{
    if (index >= c->nccrs)
        return SRTM_E_NO_CCR;
    const ccr *r = &c->ccrs[index];
    uint32_t v1 = __atomic_load_n(&r->version, __ATOMIC_ACQUIRE);
    uint64_t len = __atomic_load_n(&r->len, __ATOMIC_ACQUIRE);
    memcpy(out->value, r->value, SRTM_DIGEST_LEN);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint32_t v2 = __atomic_load_n(&r->version, __ATOMIC_RELAXED);
    uint64_t at = len_at(r, len, cut->seq);
    out->log = r;
    out->len = at;
    out->policy = (srtm_policy)r->policy;
    /* The value read belongs to len entries only when no write overlapped the read; and
     * it is the value at the cut only when nothing after the cut was appended. */
    out->value_stale = (v1 & 1u) != 0 || v1 != v2 || at != len;
    if (out->value_stale)
        memset(out->value, 0, SRTM_DIGEST_LEN);
    return SRTM_OK;
}

size_t ccr_cut_dep_changes(const ccr_component *c, const ccr_cut *cut,
                           const ccr_dep_change **out)
{
    uint32_t n = __atomic_load_n(&c->n_changes, __ATOMIC_ACQUIRE);
    const dep_block *b = __atomic_load_n(&c->changes, __ATOMIC_ACQUIRE);
    *out = b != NULL ? b->rec : NULL;
    while (n > 0 && b->rec[n - 1].seq > cut->seq)
        n--;
    return n;
}

void ccr_comp_terminate(ccr_component *c, uint64_t seq)
{
    if (c->terminated_seq == 0)
        __atomic_store_n(&c->terminated_seq, seq, __ATOMIC_RELEASE);
}

bool ccr_cut_terminated(const ccr_component *c, const ccr_cut *cut)
{
    uint64_t at = __atomic_load_n(&c->terminated_seq, __ATOMIC_ACQUIRE);
    return at != 0 && at <= cut->seq;
}

void ccr_cut_log_bound(const ccr_component *c, uint64_t *entries_out, uint64_t *desc_bytes_out)
{
    uint64_t entries = 0, desc = 0;
    for (uint32_t i = 0; i < c->nccrs; i++) {
        entries += __atomic_load_n(&c->ccrs[i].len, __ATOMIC_ACQUIRE);
        desc += __atomic_load_n(&c->ccrs[i].descs_len, __ATOMIC_RELAXED);
    }
    *entries_out = entries;
    *desc_bytes_out = desc;
}

srtm_err ccr_frozen_at(const ccr_frozen *f, uint64_t i, ccr_log_view *out)
{
    if (i >= f->len)
        return SRTM_E_RANGE;
    entry_view(entry_at(f->log, i), out);
    return SRTM_OK;
}

uint64_t ccr_frozen_count_upto(const ccr_frozen *f, uint64_t seq)
{
    return len_at(f->log, f->len, seq);
}

srtm_err ccr_frozen_value_after(sha256_hasher *h, const ccr_frozen *f, uint64_t k,
                                uint8_t out[SRTM_DIGEST_LEN])
{
    if (f->policy != SRTM_POLICY_IRREVERSIBLE)
        return SRTM_E_DENIED;
    if (k > f->len)
        return SRTM_E_RANGE;
    /* Checkpoints below f->len / CCR_CHECKPOINT_EVERY were published with the length
     * ccr_cut_freeze read. */
    uint8_t v[SRTM_DIGEST_LEN] = {0};
    uint64_t j = k / CCR_CHECKPOINT_EVERY;
    if (j > 0)
        memcpy(v, *checkpoint_at(f->log, j - 1), sizeof(v));
    srtm_err err = SRTM_OK;
    for (uint64_t i = j * CCR_CHECKPOINT_EVERY; err == SRTM_OK && i < k; i++)
        err = sha256_hasher_two(h, v, sizeof(v), entry_at(f->log, i)->u.digest, SRTM_DIGEST_LEN,
                                v);
    if (err == SRTM_OK)
        memcpy(out, v, sizeof(v));
    return err;
}

/* Index of the live measurement with global sequence number seq in r's log, or -1. The
 * log is in increasing seq order: binary search. */
static int64_t find_live(const ccr *r, uint64_t seq)
{
    uint64_t lo = 0, hi = r->len;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (entry_at(r, mid)->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == r->len || entry_at(r, lo)->seq != seq || entry_at(r, lo)->reverted ||
        entry_at(r, lo)->marker)
        return -1;
    return (int64_t)lo;
}

srtm_err ccr_revert(ccr_table *t, ccr_component *c, uint32_t index, uint64_t to_seq,
                    uint64_t by, uint64_t *reverted_out, uint64_t *seq_out)
{
    if (index >= c->nccrs)
        return SRTM_E_NO_CCR;
    ccr *r = &c->ccrs[index];
    if (r->policy != SRTM_POLICY_REVERSIBLE)
        return SRTM_E_DENIED;
    /* The point to return to: just after a live measurement of this CCR, or the start. */
    int64_t at = -1;
    if (to_seq != 0 && (at = find_live(r, to_seq)) < 0)
        return SRTM_E_RANGE;
    srtm_err err = reserve(t, r, 1, 0);
    if (err != SRTM_OK)
        return err;
    /* The value then: the replay of the live measurements up to and including it. */
    uint8_t v[SRTM_DIGEST_LEN] = {0};
    for (int64_t i = 0; i <= at; i++) {
        const log_entry *e = entry_at(r, (uint64_t)i);
        if (e->reverted || e->marker)
            continue;
        if ((err = sha256_hasher_two(t->hasher, v, sizeof(v), e->u.digest, SRTM_DIGEST_LEN, v)) !=
            SRTM_OK)
            return err;
    }
    uint64_t reverted = 0;
    write_begin(r);
    for (uint64_t i = (uint64_t)(at + 1); i < r->len; i++) {
        /* Only the reverted mark changes: a snapshot never reads it, it reads the marker
         * appended below (or its absence). */
        log_entry *e = entry_at(r, i);
        if (!e->reverted && !e->marker) {
            e->reverted = 1;
            reverted++;
        }
    }
    log_entry *m = entry_at(r, r->len);
    memset(m, 0, sizeof(*m));
    m->seq = ++t->seq;
    m->marker = 1;
    m->u.revert.to_seq = to_seq;
    m->u.revert.by = by;
    c->log_entries++;
    c->log_bytes += ccr_entry_cost(0);
    t->stored += ccr_entry_cost(0);
    memcpy(r->value, v, sizeof(v));
    __atomic_store_n(&r->len, r->len + 1, __ATOMIC_RELEASE);
    write_end(r);
    *reverted_out = reverted;
    *seq_out = m->seq;
    return SRTM_OK;
}

srtm_err ccr_replay(sha256_hasher *h, const uint8_t (*digests)[SRTM_DIGEST_LEN], size_t n,
                    uint8_t out[SRTM_DIGEST_LEN])
{
    uint8_t v[SRTM_DIGEST_LEN] = {0};
    for (size_t i = 0; i < n; i++) {
        srtm_err err = sha256_hasher_two(h, v, sizeof(v), digests[i], SRTM_DIGEST_LEN, v);
        if (err != SRTM_OK)
            return err;
    }
    memcpy(out, v, sizeof(v));
    return SRTM_OK;
}
