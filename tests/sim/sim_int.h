/* srtm-sim's internals shared by sim_host.c, sim_evidence.c and sim_files.c. */
#ifndef SRTM_SIM_INT_H
#define SRTM_SIM_INT_H

#include "sim.h"

/* A TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE over PCRs 0 and 15 (SHA-256). */
typedef struct sim_attest {
    const uint8_t *qual, *pcr0, *pcr15, *signer;
    uint64_t clock;
    uint32_t reset_count;
} sim_attest;

SRTM_WUR srtm_err sim_make_attest(const sim_attest *a, uint8_t *out, size_t size,
                                  size_t *len_out);
/* ECDSA-SHA256 of msg with key as a marshalled TPMT_SIGNATURE. */
SRTM_WUR srtm_err sim_tpm_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *out,
                               size_t size, size_t *len_out);
SRTM_WUR srtm_err sim_extend(const uint8_t old[SRTM_DIGEST_LEN], const uint8_t d[SRTM_DIGEST_LEN],
                             uint8_t out[SRTM_DIGEST_LEN]);
/* Bring the host to time now (seconds since the start): reboots and log growth. */
SRTM_WUR srtm_err sim_host_advance(sim_host *h, double now);

/* The honest digest of entry k of CCR slot. */
const uint8_t *sim_binary(unsigned slot, uint64_t k);
/* The dependencies of component handle (ascending); their count. */
size_t sim_component_deps(unsigned handle, const uint64_t **deps);
/* The CCR slots of component handle: the count, the first in *first. */
unsigned sim_component_slots(unsigned handle, unsigned *first);

/* The value of CCR slot after its first n honest entries, from a table of checkpoints
 * (one every SIM_CHECKPOINT entries) shared by every host: every host measures the same
 * binaries, so at most SIM_CHECKPOINT - 1 SHA-256s per call, as srtmd's base values. */
#define SIM_CHECKPOINT 256u
SRTM_WUR srtm_err sim_value_at(unsigned slot, uint64_t n, uint8_t out[SRTM_DIGEST_LEN]);

/* What a quote request asked for: the report of this srtmd run verified before
 * (docs/protocol.md, "Incremental quotes"); seq 0: a full report. */
typedef struct sim_since {
    const uint8_t *instance;
    size_t instance_len;
    uint64_t seq;
} sim_since;

/* The packed CcrReport of the components in the bit set selected (malloc'd into *out):
 * incremental as srtmd makes it when since names this boot's instance and a sequence
 * number 1 .. the report's, else full. */
SRTM_WUR srtm_err sim_report(const sim_host *h, uint32_t selected, const sim_since *since,
                             uint8_t **out, size_t *len_out);

/* What the unknown-binary lie measures, and no policy allows. */
#define SIM_UNKNOWN_TEXT "srtm-sim binary the policy does not know"

#endif
