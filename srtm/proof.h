/*
 * The SRTM-proof-period (paper section 5; ../shared/DESIGN.md). Run once at srtmd start,
 * after the launcher extended the SRTM PCR with the digest of srtmd and its
 * configuration: obtain the IRK (unseal it, case MIT; or create and seal it on the very
 * first start, case S1T; or create it afresh in every boot and keep it in memory only,
 * the per-boot scheme), certify it with a TPM2_Quote whose qualifyingData binds the
 * IRK's public key, then close the period by extending the SRTM PCR with the close event.
 * Once a TPM is reachable the period is closed on every path, success or failure: until
 * then anyone could unseal the IRK.
 */
#ifndef SRTM_PROOF_H
#define SRTM_PROOF_H

#include <stdbool.h>
#include <stdint.h>

#include "close.h"
#include "quoter.h"
#include "report.h"

typedef enum irk_scheme {
    IRK_SCHEME_MIT = 0, /* M creates the IRK; srtm-keymgr wraps it for the TPM */
    IRK_SCHEME_S1T = 1, /* srtmd creates it at its first start and seals it for later */
    IRK_SCHEME_PERBOOT = 2, /* srtmd creates a new one in every boot's period, never stored */
} irk_scheme;

typedef struct proof_config {
    const char *tcti;      /* tctildr string; NULL: the tctildr default */
    unsigned srtm_pcr;     /* the SRTM PCR */
    uint32_t proof_mask;   /* PCRs the IRK is sealed to and quotes cover; has srtm_pcr */
    uint32_t aik_handle;   /* persistent AIK */
    const char *irk_blob;  /* sealed IRK file (not used by IRK_SCHEME_PERBOOT) */
    irk_scheme scheme;
    bool allow_resettable; /* accept PCR 16 or 23 as the SRTM PCR (tests on swtpm only) */
} proof_config;

/*
 * Run the proof period. On success *quoter_out serves joint quotes and *id_out is the
 * boot identity for reports. Every failure is logged with what to do about it.
 */
SRTM_WUR srtm_err proof_period(const proof_config *cfg, srtm_quoter **quoter_out,
                               report_identity *id_out);

#endif /* SRTM_PROOF_H */
