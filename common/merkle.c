/* The Merkle tree of batched joint quotes; see merkle.h. */
#include <string.h>

#include "merkle.h"

static srtm_err leaf_hash(const uint8_t q[SRTM_DIGEST_LEN], uint8_t out[SRTM_DIGEST_LEN])
{
    uint8_t buf[1 + SRTM_DIGEST_LEN];
    buf[0] = 0x00;
    memcpy(buf + 1, q, SRTM_DIGEST_LEN);
    return srtm_sha256(buf, sizeof(buf), out);
}

static srtm_err node_hash(const uint8_t l[SRTM_DIGEST_LEN], const uint8_t r[SRTM_DIGEST_LEN],
                          uint8_t out[SRTM_DIGEST_LEN])
{
    uint8_t buf[1 + 2 * SRTM_DIGEST_LEN];
    buf[0] = 0x01;
    memcpy(buf + 1, l, SRTM_DIGEST_LEN);
    memcpy(buf + 1 + SRTM_DIGEST_LEN, r, SRTM_DIGEST_LEN);
    return srtm_sha256(buf, sizeof(buf), out);
}

/* The value quoted: the tree's root bound to its size, so that a proof claiming another
 * leaf count never leads to it (an odd last node carried up would otherwise make some
 * paths valid for several counts). */
static srtm_err commit(size_t n, const uint8_t tree_root[SRTM_DIGEST_LEN],
                       uint8_t out[SRTM_DIGEST_LEN])
{
    uint8_t buf[1 + 4 + SRTM_DIGEST_LEN];
    buf[0] = 0x02;
    buf[1] = (uint8_t)(n >> 24);
    buf[2] = (uint8_t)(n >> 16);
    buf[3] = (uint8_t)(n >> 8);
    buf[4] = (uint8_t)n;
    memcpy(buf + 5, tree_root, SRTM_DIGEST_LEN);
    return srtm_sha256(buf, sizeof(buf), out);
}

srtm_err merkle_build(const uint8_t (*qual)[SRTM_DIGEST_LEN], size_t n, size_t index,
                      uint8_t root_out[SRTM_DIGEST_LEN], uint8_t (*path_out)[SRTM_DIGEST_LEN],
                      size_t *path_len_out)
{
    if (qual == NULL || n == 0 || n > MERKLE_MAX_LEAVES || index >= n)
        return SRTM_E_INVALID;
    uint8_t level[MERKLE_MAX_LEAVES][SRTM_DIGEST_LEN];
    srtm_err err = SRTM_OK;
    for (size_t i = 0; i < n && err == SRTM_OK; i++)
        err = leaf_hash(qual[i], level[i]);
    size_t count = n, at = index, plen = 0;
    while (err == SRTM_OK && count > 1) {
        /* The sibling of `at` at this level, unless it is an odd last node (carried up). */
        size_t sib = at ^ 1;
        if (sib < count) {
            if (path_out != NULL)
                memcpy(path_out[plen], level[sib], SRTM_DIGEST_LEN);
            plen++;
        }
        size_t next = 0;
        for (size_t i = 0; i < count && err == SRTM_OK; i += 2, next++) {
            if (i + 1 < count)
                err = node_hash(level[i], level[i + 1], level[next]);
            else
                memmove(level[next], level[i], SRTM_DIGEST_LEN);
        }
        count = next;
        at /= 2;
    }
    if (err == SRTM_OK)
        err = commit(n, level[0], root_out);
    if (err != SRTM_OK)
        return err;
    if (path_len_out != NULL)
        *path_len_out = plen;
    return SRTM_OK;
}

srtm_err merkle_build_all(const uint8_t (*qual)[SRTM_DIGEST_LEN], size_t n,
                          uint8_t root_out[SRTM_DIGEST_LEN],
                          uint8_t (*paths)[MERKLE_MAX_PATH][SRTM_DIGEST_LEN], size_t *path_lens)
{
    if (qual == NULL || paths == NULL || path_lens == NULL || n == 0 || n > MERKLE_MAX_LEAVES)
        return SRTM_E_INVALID;
    uint8_t level[MERKLE_MAX_LEAVES][SRTM_DIGEST_LEN];
    srtm_err err = SRTM_OK;
    for (size_t i = 0; i < n && err == SRTM_OK; i++) {
        err = leaf_hash(qual[i], level[i]);
        path_lens[i] = 0;
    }
    size_t count = n, shift = 0;
    while (err == SRTM_OK && count > 1) {
        /* Every leaf whose node at this level has a sibling takes that sibling. */
        for (size_t leaf = 0; leaf < n; leaf++) {
            size_t sib = (leaf >> shift) ^ 1;
            if (sib < count)
                memcpy(paths[leaf][path_lens[leaf]++], level[sib], SRTM_DIGEST_LEN);
        }
        size_t next = 0;
        for (size_t i = 0; i < count && err == SRTM_OK; i += 2, next++) {
            if (i + 1 < count)
                err = node_hash(level[i], level[i + 1], level[next]);
            else
                memmove(level[next], level[i], SRTM_DIGEST_LEN);
        }
        count = next;
        shift++;
    }
    if (err == SRTM_OK)
        err = commit(n, level[0], root_out);
    return err;
}

srtm_err merkle_root_from_path(const uint8_t q[SRTM_DIGEST_LEN], size_t index, size_t n,
                               const uint8_t (*path)[SRTM_DIGEST_LEN], size_t path_len,
                               uint8_t root_out[SRTM_DIGEST_LEN])
{
    if (q == NULL || n == 0 || n > MERKLE_MAX_LEAVES || index >= n || path_len > MERKLE_MAX_PATH ||
        (path == NULL && path_len > 0))
        return SRTM_E_INVALID;
    uint8_t h[SRTM_DIGEST_LEN];
    srtm_err err = leaf_hash(q, h);
    size_t count = n, at = index, used = 0;
    while (err == SRTM_OK && count > 1) {
        size_t sib = at ^ 1;
        if (sib < count) {
            if (used == path_len)
                return SRTM_E_INVALID; /* the path is too short for this tree */
            err = (at & 1) ? node_hash(path[used], h, h) : node_hash(h, path[used], h);
            used++;
        }
        count = (count + 1) / 2;
        at /= 2;
    }
    if (err == SRTM_OK && used != path_len)
        return SRTM_E_INVALID; /* a path longer than the tree is deep */
    if (err == SRTM_OK)
        err = commit(n, h, root_out);
    return err;
}
