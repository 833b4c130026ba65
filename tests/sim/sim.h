/*
 * srtm-sim's simulated hosts: their keys, PCRs, boot counters and CCR tables, and the
 * evidence they answer a quote with (sim_host.c). The serving side is srtm-sim.c.
 */
#ifndef SRTM_SIM_H
#define SRTM_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common.h"
#include "irk.h"

#define SIM_VMS 4u         /* components besides the platform */
#define SIM_BINARIES 16u   /* distinct honest digests per CCR; the policy allows these */
#define SIM_NONCE_MAX 64u

typedef enum sim_lie {
    SIM_HONEST = 0,
    SIM_BAD_DIGEST,     /* a log entry's digest does not replay to the reported value */
    SIM_REPLAYED_NONCE, /* answers with the nonce of an earlier request */
    SIM_UNKNOWN_BINARY, /* a measurement the policy does not allow, correctly signed */
    SIM_WRONG_AIK,      /* quote and certificate signed by another key than aik.pem */
} sim_lie;

/* What the command line chose for a host. */
typedef struct sim_knobs {
    sim_lie lie;
    bool dead;           /* listens, never answers */
    bool spliced;        /* every other quote rewrites an entry an earlier one reported */
    uint32_t slow_ms;    /* delay before each answer */
    double reboot_every; /* seconds; 0: never */
    double growth;       /* log entries per second per CCR */
    uint64_t log_entries; /* initial entries per CCR */
    bool shared_boot;     /* PCR 0 and the launch event of host 0 on every host */
} sim_knobs;

/* A measured CCR: its log is a function of its length (entry k measures binary k mod
 * SIM_BINARIES), so only the length and the value are kept. */
typedef struct sim_ccr {
    uint64_t n;
    uint8_t value[SRTM_DIGEST_LEN];
} sim_ccr;

typedef struct sim_host {
    unsigned index;
    sim_knobs k;
    pthread_mutex_t lock; /* covers everything below: answers of one host are serialised */
    EVP_PKEY *aik, *wrong_aik;
    irk *irk;
    uint8_t irk_pub[IRK_PUB_DER_MAX];
    size_t irk_pub_len;
    uint8_t signer[SRTM_DIGEST_LEN]; /* stands in for the AIK's TPM name */
    uint8_t pcr_boot[SRTM_DIGEST_LEN], pcr_proof[SRTM_DIGEST_LEN], pcr_running[SRTM_DIGEST_LEN];
    uint8_t launch_event[SRTM_DIGEST_LEN], close_event[SRTM_DIGEST_LEN];
    uint8_t instance[16];
    uint64_t boot;               /* boots since the start: resetCount is 1 + boot */
    double boot_start;           /* monotonic seconds when this boot began */
    sim_ccr ccrs[1 + 2 * SIM_VMS]; /* platform CCR 0, then CCRs 0 and 1 of each VM */
    uint8_t cert_attest[256], cert_sig[128];
    size_t cert_attest_len, cert_sig_len;
    uint64_t quotes; /* quotes answered */
    uint8_t last_nonce[SIM_NONCE_MAX];
    size_t last_nonce_len;
} sim_host;

/* Create host index with knobs k: fresh keys, PCRs, an initial boot. */
SRTM_WUR srtm_err sim_host_init(sim_host *h, unsigned index, const sim_knobs *k, double now);
void sim_host_fini(sim_host *h);

/* Write DIR/host-INDEX/{aik.pem,reference.json,policy.json} (DIR/host-INDEX exists). */
SRTM_WUR srtm_err sim_host_write_files(const sim_host *h, const char *host_dir);

/*
 * Answer a packed Request (len bytes) as srtmd's tcp listener would: *out receives a packed
 * Response (malloc'd, the caller frees it). Takes h->lock.
 */
SRTM_WUR srtm_err sim_host_answer(sim_host *h, const uint8_t *req, size_t len, double now,
                                  uint8_t **out, size_t *out_len);

/* Monotonic seconds. */
double sim_now(void);

#endif
