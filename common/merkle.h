/*
 * The Merkle tree of batched joint quotes. When several quote requests wait for the TPM,
 * srtmd answers them with one TPM2_Quote whose qualifyingData is the root of a tree over
 * their qualifiers q_i = SHA-256(nonce_i || SHA-256(report_i)) (the qualifyingData each
 * would have had alone). Domain-separated as in RFC 6962:
 *   leaf = SHA-256(0x00 || q)      node = SHA-256(0x01 || left || right)
 * and a level with an odd number of nodes carries its last node up unchanged. The value
 * quoted (the "root" below) binds the tree to its size:
 *   root = SHA-256(0x02 || leaf count as 4 bytes big-endian || top node)
 * A leaf's inclusion path lists its siblings from the bottom up; with the leaf's index
 * and the leaf count, a verifier recomputes the root without knowing the other requests.
 */
#ifndef SRTM_MERKLE_H
#define SRTM_MERKLE_H

#include "common.h"

#define MERKLE_MAX_LEAVES 256u
#define MERKLE_MAX_PATH 8u /* ceil(log2(MERKLE_MAX_LEAVES)) */

/* The root over n (1..MERKLE_MAX_LEAVES) qualifiers, and leaf index's path (path_out may
 * be NULL to skip it). */
SRTM_WUR srtm_err merkle_build(const uint8_t (*qual)[SRTM_DIGEST_LEN], size_t n, size_t index,
                               uint8_t root_out[SRTM_DIGEST_LEN],
                               uint8_t (*path_out)[SRTM_DIGEST_LEN], size_t *path_len_out);

/* The root over n qualifiers and every leaf's path (paths[i], path_lens[i]) in one pass:
 * O(n log n) hashes instead of n trees. */
SRTM_WUR srtm_err merkle_build_all(const uint8_t (*qual)[SRTM_DIGEST_LEN], size_t n,
                                   uint8_t root_out[SRTM_DIGEST_LEN],
                                   uint8_t (*paths)[MERKLE_MAX_PATH][SRTM_DIGEST_LEN],
                                   size_t *path_lens);

/* The root that leaf index of n, with qualifier q and inclusion path, leads to.
 * SRTM_E_INVALID when index, n or the path length do not fit together. */
SRTM_WUR srtm_err merkle_root_from_path(const uint8_t q[SRTM_DIGEST_LEN], size_t index, size_t n,
                                        const uint8_t (*path)[SRTM_DIGEST_LEN], size_t path_len,
                                        uint8_t root_out[SRTM_DIGEST_LEN]);

#endif /* SRTM_MERKLE_H */
