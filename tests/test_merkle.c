/*
 * The Merkle tree of batched joint quotes: every leaf's path leads to the root, for
 * every tree size up to the maximum, matching a naive reference written here; a wrong
 * path, a swapped leaf, another index or a path of the wrong length never does.
 */
#include <string.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "merkle.h"

static void sha(const uint8_t *a, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    cr_assert_eq(EVP_Digest(a, n, out, &len, EVP_sha256(), NULL), 1);
}

/* Reference: hash level by level from scratch, carrying an odd last node up. */
static void naive_root(uint8_t (*q)[32], size_t n, uint8_t out[32])
{
    size_t count = n;
    static uint8_t lv[MERKLE_MAX_LEAVES][32];
    uint8_t buf[65];
    for (size_t i = 0; i < n; i++) {
        buf[0] = 0;
        memcpy(buf + 1, q[i], 32);
        sha(buf, 33, lv[i]);
    }
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2) {
            if (i + 1 == n) {
                memcpy(lv[m++], lv[i], 32);
                continue;
            }
            buf[0] = 1;
            memcpy(buf + 1, lv[i], 32);
            memcpy(buf + 33, lv[i + 1], 32);
            sha(buf, 65, lv[m++]);
        }
        n = m;
    }
    uint8_t fin[37] = {2, (uint8_t)(count >> 24), (uint8_t)(count >> 16), (uint8_t)(count >> 8),
                       (uint8_t)count};
    memcpy(fin + 5, lv[0], 32);
    sha(fin, sizeof(fin), out);
}

static uint8_t q[MERKLE_MAX_LEAVES][32];

static void fill(void)
{
    for (size_t i = 0; i < MERKLE_MAX_LEAVES; i++) {
        memset(q[i], 0, 32);
        q[i][0] = (uint8_t)i;
        q[i][1] = (uint8_t)(i >> 8);
        q[i][31] = 0xa5;
    }
}

Test(merkle, every_leaf_of_every_size_reaches_the_root)
{
    fill();
    size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 64, 100, 255, 256};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        uint8_t want[32];
        naive_root(q, n, want);
        for (size_t i = 0; i < n; i++) {
            uint8_t root[32], again[32], path[MERKLE_MAX_PATH][32];
            size_t plen = 99;
            cr_assert_eq(merkle_build(q, n, i, root, path, &plen), SRTM_OK);
            cr_assert_arr_eq(root, want, 32, "n=%zu: root differs from the reference", n);
            cr_assert_leq(plen, MERKLE_MAX_PATH);
            cr_assert_eq(merkle_root_from_path(q[i], i, n, path, plen, again), SRTM_OK);
            cr_assert_arr_eq(again, root, 32, "n=%zu leaf %zu: path does not lead to the root", n,
                             i);
        }
    }
    /* All paths in one pass equal the paths built one by one. */
    static uint8_t paths[MERKLE_MAX_LEAVES][MERKLE_MAX_PATH][32];
    size_t lens[MERKLE_MAX_LEAVES];
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        size_t n = sizes[s];
        uint8_t all_root[32], one_root[32], path[MERKLE_MAX_PATH][32];
        size_t plen;
        cr_assert_eq(merkle_build_all(q, n, all_root, paths, lens), SRTM_OK);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(merkle_build(q, n, i, one_root, path, &plen), SRTM_OK);
            cr_assert_arr_eq(all_root, one_root, 32);
            cr_assert_eq(lens[i], plen, "n=%zu leaf %zu", n, i);
            cr_assert_arr_eq(paths[i], path, plen * 32, "n=%zu leaf %zu: paths differ", n, i);
        }
    }
    uint8_t root[32];
    cr_expect_eq(merkle_build(q, 0, 0, root, NULL, NULL), SRTM_E_INVALID);
    cr_expect_eq(merkle_build(q, MERKLE_MAX_LEAVES + 1, 0, root, NULL, NULL), SRTM_E_INVALID);
    cr_expect_eq(merkle_build(q, 5, 5, root, NULL, NULL), SRTM_E_INVALID);
}

Test(merkle, wrong_paths_swapped_leaves_and_indexes_do_not)
{
    fill();
    size_t n = 37, i = 21;
    uint8_t root[32], got[32], path[MERKLE_MAX_PATH][32];
    size_t plen = 0;
    cr_assert_eq(merkle_build(q, n, i, root, path, &plen), SRTM_OK);
    /* A flipped bit anywhere in the path. */
    for (size_t k = 0; k < plen; k++) {
        path[k][k] ^= 1;
        cr_assert_eq(merkle_root_from_path(q[i], i, n, path, plen, got), SRTM_OK);
        cr_expect_arr_neq(got, root, 32, "a corrupted path element %zu was accepted", k);
        path[k][k] ^= 1;
    }
    /* Another request's qualifier with this leaf's path (a swapped leaf). */
    cr_assert_eq(merkle_root_from_path(q[i + 1], i, n, path, plen, got), SRTM_OK);
    cr_expect_arr_neq(got, root, 32, "a swapped leaf was accepted");
    /* The right qualifier at another index. */
    srtm_err err = merkle_root_from_path(q[i], i + 1, n, path, plen, got);
    cr_expect(err != SRTM_OK || memcmp(got, root, 32) != 0, "another index was accepted");
    /* Another leaf count, even one whose levels work out the same for this leaf. */
    for (size_t other = 2; other <= 64; other++) {
        if (other == n)
            continue;
        err = merkle_root_from_path(q[i], i < other ? i : 0, other, path, plen, got);
        cr_expect(err != SRTM_OK || memcmp(got, root, 32) != 0,
                  "a proof claiming %zu leaves instead of %zu was accepted", other, n);
    }
    /* A path one element short or long. */
    cr_expect_eq(merkle_root_from_path(q[i], i, n, path, plen - 1, got), SRTM_E_INVALID);
    cr_expect_eq(merkle_root_from_path(q[i], i, n, path, plen + 1, got), SRTM_E_INVALID);
    /* A single leaf is its own tree: no path, and the root is the leaf hash. */
    cr_assert_eq(merkle_build(q, 1, 0, root, path, &plen), SRTM_OK);
    cr_expect_eq(plen, 0);
    cr_assert_eq(merkle_root_from_path(q[0], 0, 1, NULL, 0, got), SRTM_OK);
    cr_expect_arr_eq(got, root, 32);
}
