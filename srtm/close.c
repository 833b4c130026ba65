/* Closing the SRTM-proof-period; see close.h. */
#include <string.h>

#include "close.h"

srtm_err proof_close_digest(uint8_t out[SRTM_DIGEST_LEN])
{
    return srtm_sha256(PROOF_CLOSE_TAG, strlen(PROOF_CLOSE_TAG), out);
}

srtm_err proof_close_ctx(km_ctx *ctx, unsigned srtm_pcr)
{
    uint8_t d[SRTM_DIGEST_LEN];
    srtm_err err = proof_close_digest(d);
    if (err == SRTM_OK)
        err = km_pcr_extend(ctx, srtm_pcr, d);
    if (err != SRTM_OK)
        log_error("COULD NOT CLOSE the proof period (extend of PCR %u failed: %s): the IRK "
                  "stays obtainable in this boot; reboot before trusting this platform",
                  srtm_pcr, srtm_strerror(err));
    return err;
}

void proof_log_unclosed(const char *tcti, srtm_err err)
{
    log_error("COULD NOT CLOSE the SRTM-proof-period: the TPM (TCTI %s) cannot be reached "
              "(%s); if srtm-launch ran, the IRK stays obtainable until `srtm-launch --close` "
              "succeeds or the machine reboots",
              tcti != NULL ? tcti : "default", srtm_strerror(err));
}

srtm_err proof_close(const char *tcti, unsigned srtm_pcr)
{
    km_ctx *ctx = NULL;
    srtm_err err = km_open(tcti, &ctx);
    if (err != SRTM_OK) {
        proof_log_unclosed(tcti, err);
        return err;
    }
    err = proof_close_ctx(ctx, srtm_pcr);
    if (err == SRTM_OK)
        log_info("SRTM-proof-period closed (PCR %u extended with the close event)", srtm_pcr);
    km_close(ctx);
    return err;
}
