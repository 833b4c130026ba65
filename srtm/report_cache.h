/*
 * The reports of recent quotes, by cut, since and selection. A report is a function of the
 * table's history up to its cut's sequence number, the selection (with or without the
 * closure), whether it is full or incremental from a sequence number (since), and the
 * service's identity, which is set once before serving; so while nothing changes the
 * table, every verifier asking for the same selection and since gets the same report
 * bytes, and they are built once. A full report never answers an incremental request, nor
 * the reverse. The identity is part of the key all the same. Reports up to REPORT_CACHE_MAX_REPORT bytes are kept,
 * in REPORT_CACHE_SLOTS slots, the oldest replaced first. Thread-safe.
 */
#ifndef SRTM_REPORT_CACHE_H
#define SRTM_REPORT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define REPORT_CACHE_SLOTS 8u
#define REPORT_CACHE_MAX_REPORT (1024u * 1024u)

typedef struct report_cache report_cache;

/* What a report is of: who reports, the cut's sequence number and the selection, as the
 * quote named it (handles ascending, no repeats, at most SRTM_MAX_LIST_PAGE; n == 0:
 * every component, closure then irrelevant). */
typedef struct report_key {
    report_identity id;
    uint64_t seq;
    uint64_t since; /* 0: a full report; else incremental from since */
    bool closure;
    const uint64_t *handles;
    size_t n;
} report_key;

SRTM_WUR srtm_err report_cache_new(report_cache **out);
/* Accepts NULL. */
void report_cache_free(report_cache *c);
/* A malloc'd copy of the report of k (*out, *len_out; the caller frees it) and its
 * SHA-256: true, or false when none is kept (or there is no memory for the copy). */
bool report_cache_get(report_cache *c, const report_key *k, uint8_t **out, size_t *len_out,
                      uint8_t digest_out[SRTM_DIGEST_LEN]);
/* Keep a copy of the report of k and its SHA-256 (nothing when it is too large or memory
 * is short). */
void report_cache_put(report_cache *c, const report_key *k, const uint8_t *report, size_t len,
                      const uint8_t digest[SRTM_DIGEST_LEN]);

#endif /* SRTM_REPORT_CACHE_H */
