/* The one string table for srtm_err: the status codes of the protocol and of libsrtm. */
#include "common.h"

static const char *const err_strings[SRTM_ERR_COUNT] = {
    [SRTM_OK] = "success",
    [SRTM_E_INVALID] = "invalid argument",
    [SRTM_E_MALFORMED] = "malformed message",
    [SRTM_E_VERSION] = "unsupported protocol version",
    [SRTM_E_TOO_BIG] = "over a size limit",
    [SRTM_E_NO_COMPONENT] = "no such component",
    [SRTM_E_EXISTS] = "already exists",
    [SRTM_E_DENIED] = "permission denied (missing or wrong capability)",
    [SRTM_E_NO_CCR] = "no such CCR",
    [SRTM_E_RANGE] = "out of range",
    [SRTM_E_NO_MEMORY] = "out of memory",
    [SRTM_E_TRANSPORT] = "transport failure (is srtmd running?)",
    [SRTM_E_TIMEOUT] = "timed out",
    [SRTM_E_INTERNAL] = "internal error",
    [SRTM_E_CRYPTO] = "cryptographic failure",
    [SRTM_E_UNSUPPORTED] = "not supported",
    [SRTM_E_IO] = "input/output error",
    [SRTM_E_END] = "no more entries",
    [SRTM_E_TPM] = "TPM failure",
    [SRTM_E_QUOTA] = "over a quota",
};

/* Stable identifiers for programs (srtmctl's JSON errors): never reworded, never reused. */
static const char *const err_ids[SRTM_ERR_COUNT] = {
    [SRTM_OK] = "ok",
    [SRTM_E_INVALID] = "invalid",
    [SRTM_E_MALFORMED] = "malformed",
    [SRTM_E_VERSION] = "version",
    [SRTM_E_TOO_BIG] = "too_big",
    [SRTM_E_NO_COMPONENT] = "not_found",
    [SRTM_E_EXISTS] = "exists",
    [SRTM_E_DENIED] = "denied",
    [SRTM_E_NO_CCR] = "no_ccr",
    [SRTM_E_RANGE] = "range",
    [SRTM_E_NO_MEMORY] = "no_memory",
    [SRTM_E_TRANSPORT] = "transport",
    [SRTM_E_TIMEOUT] = "timeout",
    [SRTM_E_INTERNAL] = "internal",
    [SRTM_E_CRYPTO] = "crypto",
    [SRTM_E_UNSUPPORTED] = "unsupported",
    [SRTM_E_IO] = "io",
    [SRTM_E_END] = "end",
    [SRTM_E_TPM] = "tpm",
    [SRTM_E_QUOTA] = "quota",
};

SRTM_API const char *srtm_err_id(srtm_err err)
{
    if ((unsigned)err >= SRTM_ERR_COUNT || err_ids[err] == NULL)
        return "unknown";
    return err_ids[err];
}

SRTM_API const char *srtm_strerror(srtm_err err)
{
    if ((unsigned)err >= SRTM_ERR_COUNT || err_strings[err] == NULL)
        return "unknown error";
    return err_strings[err];
}

SRTM_API const char *srtm_version(void)
{
    return SRTM_VERSION_STRING;
}
