/* The one conversion of TSS2_RC (TPM, ESYS, MU, TCTI layers) into srtm_err. */
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>

#include "km_int.h"

/* Format-1 TPM response codes carry a handle/session/parameter number in bits 8-11 and
 * bit 6; the error itself is bits 0-5 plus the FMT1 bit. */
static TSS2_RC tpm_error_number(TSS2_RC rc)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return rc;
    if (rc & TPM2_RC_FMT1)
        return rc & (TPM2_RC_FMT1 | 0x3Fu);
    return rc;
}

srtm_err km_rc(TSS2_RC rc, const char *what)
{
    if (rc == TSS2_RC_SUCCESS)
        return SRTM_OK;
    TSS2_RC n = tpm_error_number(rc);
    srtm_err err = SRTM_E_TPM;
    const char *hint = "";
    if (n == TPM2_RC_POLICY_FAIL || n == TPM2_RC_PCR_CHANGED) {
        err = SRTM_E_DENIED;
        hint = " (the PCRs are not in the state this object was sealed to)";
    } else if (n == TPM2_RC_BAD_AUTH || n == TPM2_RC_AUTH_FAIL) {
        hint = " (wrong or missing authorization value: if the owner hierarchy has a "
               "password, as tpm2_changeauth -c owner sets, give it to srtm-keymgr with -P)";
    } else if (n == TPM2_RC_LOCKOUT) {
        hint = " (the TPM is in dictionary-attack lockout after failed authorizations: wait "
               "for its recovery time, or reset it with tpm2_dictionarylockout -c and the "
               "lockout authorization)";
    } else if ((rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_MEMORY) {
        err = SRTM_E_NO_MEMORY;
    } else if ((rc & TSS2_RC_LAYER_MASK) == TSS2_TCTI_RC_LAYER ||
               rc == TSS2_ESYS_RC_BAD_SEQUENCE) {
        /* ESYS keeps an internal error state after a lost command: only a new context
         * works again. */
        hint = " (TPM unreachable; a context that lost its TPM must be reopened)";
    }
    log_error("TPM: %s: %s (0x%x)%s", what, Tss2_RC_Decode(rc), (unsigned)rc, hint);
    return err;
}
