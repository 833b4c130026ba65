/*
 * The reports of recent quotes (report_cache.h). One mutex over a few slots; a hit copies
 * the report out under it (a memcpy of at most REPORT_CACHE_MAX_REPORT bytes), so no
 * slot is ever read while it is replaced.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "report_cache.h"

typedef struct slot {
    bool used;
    report_identity id;
    uint64_t seq;
    uint64_t since;
    bool closure;
    size_t n;
    uint64_t handles[SRTM_MAX_LIST_PAGE];
    uint8_t *report;
    size_t len;
    uint8_t digest[SRTM_DIGEST_LEN];
} slot;

struct report_cache {
    pthread_mutex_t lock;
    slot slots[REPORT_CACHE_SLOTS];
    size_t next; /* the slot to replace next */
};

srtm_err report_cache_new(report_cache **out)
{
    report_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SRTM_E_NO_MEMORY;
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return SRTM_E_INTERNAL;
    }
    *out = c;
    return SRTM_OK;
}

static void drop(slot *s)
{
    free(s->report);
    s->report = NULL;
    s->used = false;
}

void report_cache_free(report_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < REPORT_CACHE_SLOTS; i++)
        drop(&c->slots[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static bool usable(const report_key *k)
{
    return k->n <= SRTM_MAX_LIST_PAGE && (k->n == 0 || k->handles != NULL);
}

static bool matches(const slot *s, const report_key *k)
{
    return s->used && s->seq == k->seq && s->since == k->since && s->n == k->n &&
           (k->n == 0 || s->closure == k->closure) &&
           memcmp(s->id.instance, k->id.instance, sizeof(k->id.instance)) == 0 &&
           s->id.reset_count == k->id.reset_count && s->id.restart_count == k->id.restart_count &&
           (k->n == 0 || memcmp(s->handles, k->handles, k->n * sizeof(*k->handles)) == 0);
}

bool report_cache_get(report_cache *c, const report_key *k, uint8_t **out, size_t *len_out,
                      uint8_t digest_out[SRTM_DIGEST_LEN])
{
    if (!usable(k))
        return false;
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < REPORT_CACHE_SLOTS && !hit; i++) {
        const slot *s = &c->slots[i];
        if (!matches(s, k))
            continue;
        uint8_t *copy = malloc(s->len);
        if (copy != NULL) {
            memcpy(copy, s->report, s->len);
            *out = copy;
            *len_out = s->len;
            memcpy(digest_out, s->digest, SRTM_DIGEST_LEN);
            hit = true;
        }
        break;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void report_cache_put(report_cache *c, const report_key *k, const uint8_t *report, size_t len,
                      const uint8_t digest[SRTM_DIGEST_LEN])
{
    if (!usable(k) || len == 0 || len > REPORT_CACHE_MAX_REPORT)
        return;
    uint8_t *copy = malloc(len);
    if (copy == NULL)
        return;
    memcpy(copy, report, len);
    pthread_mutex_lock(&c->lock);
    bool known = false;
    for (size_t i = 0; i < REPORT_CACHE_SLOTS && !known; i++)
        known = matches(&c->slots[i], k);
    if (!known) {
        slot *s = &c->slots[c->next];
        c->next = (c->next + 1) % REPORT_CACHE_SLOTS;
        drop(s);
        s->used = true;
        s->id = k->id;
        s->seq = k->seq;
        s->since = k->since;
        s->closure = k->closure;
        s->n = k->n;
        if (k->n > 0)
            memcpy(s->handles, k->handles, k->n * sizeof(*k->handles));
        s->report = copy;
        s->len = len;
        memcpy(s->digest, digest, SRTM_DIGEST_LEN);
        copy = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    free(copy);
}
