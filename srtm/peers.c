/*
 * The per-connection peer table; see peers.h. Invariant: one rwlock covers the buckets and
 * the count; lookups (one per request, on every nng callback thread) share it, the pipe
 * events that add and remove entries take it alone. The table holds at most one entry per
 * open connection, which srtmd's file descriptor limit bounds.
 */
#include <pthread.h>
#include <stdlib.h>

#include "peers.h"

#define PEER_BUCKETS 1024 /* a power of two */

typedef struct peer_entry {
    uint32_t id;
    peer_cred cred;
    struct peer_entry *next;
} peer_entry;

struct peer_table {
    pthread_rwlock_t lock;
    peer_entry *bucket[PEER_BUCKETS];
    size_t count;
};

static size_t bucket_of(uint32_t id)
{
    /* nng hands out ids consecutively from a random start: spread them (Fibonacci hash). */
    return (size_t)((id * 2654435761u) >> 22) & (PEER_BUCKETS - 1);
}

srtm_err peers_new(peer_table **out)
{
    peer_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return SRTM_E_NO_MEMORY;
    if (pthread_rwlock_init(&t->lock, NULL) != 0) {
        free(t);
        return SRTM_E_INTERNAL;
    }
    *out = t;
    return SRTM_OK;
}

void peers_free(peer_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < PEER_BUCKETS; i++) {
        peer_entry *e = t->bucket[i];
        while (e != NULL) {
            peer_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

/* Under the lock: the link pointing at id's entry, or at the bucket's terminating NULL. */
static peer_entry **link_of(peer_table *t, uint32_t id)
{
    peer_entry **l = &t->bucket[bucket_of(id)];
    while (*l != NULL && (*l)->id != id)
        l = &(*l)->next;
    return l;
}

srtm_err peers_add(peer_table *t, uint32_t id, peer_cred cred)
{
    peer_entry *fresh = malloc(sizeof(*fresh));
    if (fresh == NULL)
        return SRTM_E_NO_MEMORY;
    *fresh = (peer_entry){.id = id, .cred = cred};
    pthread_rwlock_wrlock(&t->lock);
    peer_entry **l = link_of(t, id);
    if (*l != NULL) {
        (*l)->cred = cred;
    } else {
        *l = fresh;
        fresh = NULL;
        t->count++;
    }
    pthread_rwlock_unlock(&t->lock);
    free(fresh);
    return SRTM_OK;
}

void peers_remove(peer_table *t, uint32_t id)
{
    pthread_rwlock_wrlock(&t->lock);
    peer_entry **l = link_of(t, id);
    peer_entry *gone = *l;
    if (gone != NULL) {
        *l = gone->next;
        t->count--;
    }
    pthread_rwlock_unlock(&t->lock);
    free(gone);
}

bool peers_find(peer_table *t, uint32_t id, peer_cred *out)
{
    pthread_rwlock_rdlock(&t->lock);
    const peer_entry *e = *link_of(t, id);
    if (e != NULL)
        *out = e->cred;
    pthread_rwlock_unlock(&t->lock);
    return e != NULL;
}

size_t peers_count(peer_table *t)
{
    pthread_rwlock_rdlock(&t->lock);
    size_t n = t->count;
    pthread_rwlock_unlock(&t->lock);
    return n;
}
