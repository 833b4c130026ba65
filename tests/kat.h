/*
 * Loader for tests/data/ccr-kat.txt, the CCR known-answer vectors made by
 * tests/data/make-ccr-kat.py (hashlib only, independent of the code under test). The
 * file format is documented in its header. Shared by test_ccr.c and test_service.c.
 */
#ifndef SRTM_TEST_KAT_H
#define SRTM_TEST_KAT_H

#include <stddef.h>
#include <stdint.h>

#include <srtm/srtm.h>

#define KAT_NAME_MAX 32

typedef enum kat_kind {
    KAT_COMP,   /* a new component: name, ccr = number of CCRs */
    KAT_EXT,    /* extend CCR ccr of name with bytes (the digest) */
    KAT_EXPECT, /* CCR ccr of name has loglen entries and value bytes */
} kat_kind;

typedef struct kat_line {
    kat_kind kind;
    int lineno;
    char name[KAT_NAME_MAX];
    uint32_t ccr;
    uint64_t loglen;
    uint8_t bytes[SRTM_DIGEST_LEN];
} kat_line;

typedef struct kat {
    kat_line *lines; /* owned; release with kat_free() */
    size_t n;
    size_t n_comp, n_ext, n_expect;
} kat;

/*
 * Load $SRTM_TEST_DATA/ccr-kat.txt, strictly: an unknown record, a wrong field count,
 * bad hex or an empty file fails the running criterion test.
 */
void kat_load(kat *k);
void kat_free(kat *k);

#endif /* SRTM_TEST_KAT_H */
