/*
 * Closing the SRTM-proof-period: extend the SRTM PCR with the close event, after which the
 * PCRs cannot return to the proof state (and the IRK cannot be unsealed) before a reboot.
 * Shared by srtmd (after the period, and on every exit before it) and srtm-launch (--close,
 * and when the exec of srtmd fails). Extending an already closed period again is harmless.
 */
#ifndef SRTM_CLOSE_H
#define SRTM_CLOSE_H

#include <stdint.h>

#include "common.h"
#include "km.h"

/* The digest extended into the SRTM PCR to close the period: SHA-256 of this text. */
#define PROOF_CLOSE_TAG "srtm: SRTM-proof-period closed"

/* The digest extended at the close: SHA-256(PROOF_CLOSE_TAG). */
SRTM_WUR srtm_err proof_close_digest(uint8_t out[SRTM_DIGEST_LEN]);

/* Extend PCR srtm_pcr of the open TPM ctx with the close event; logs a failure loudly. */
SRTM_WUR srtm_err proof_close_ctx(km_ctx *ctx, unsigned srtm_pcr);

/* The same on the TPM at tcti (NULL: the tctildr default), opened and closed here. */
srtm_err proof_close(const char *tcti, unsigned srtm_pcr);

/* Say loudly that the period may stay open because the TPM at tcti cannot be reached. */
void proof_log_unclosed(const char *tcti, srtm_err err);

#endif /* SRTM_CLOSE_H */
