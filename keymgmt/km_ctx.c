/*
 * Opening a TPM: tctildr, ESYS, TPM2_Startup, and flushing what a crashed run left loaded
 * (there is no resource manager in front of swtpm or /dev/tpm0, and the TPM has only a
 * few object and session slots).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_tctildr.h>

#include "km_int.h"

/* Longest wait for one TPM answer. A TPM that is gone fails at connect, at once. */
#define KM_TIMEOUT_MS 10000

void km_flush(km_ctx *ctx, ESYS_TR *tr)
{
    if (*tr == ESYS_TR_NONE)
        return;
    (void)km_rc(Esys_FlushContext(ctx->esys, *tr), "flush context");
    *tr = ESYS_TR_NONE;
}

/* Flush every handle of one range (transient objects, loaded or saved sessions). */
static srtm_err flush_range(km_ctx *ctx, TPM2_HC first)
{
    TPMS_CAPABILITY_DATA *cap KM_AUTO_ESYS = NULL;
    TPMI_YES_NO more = TPM2_NO;
    srtm_err err = km_rc(Esys_GetCapability(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                            TPM2_CAP_HANDLES, first, TPM2_MAX_CAP_HANDLES,
                                            &more, &cap),
                         "list handles");
    if (err != SRTM_OK)
        return err;
    for (uint32_t i = 0; i < cap->data.handles.count; i++) {
        TPM2_HANDLE h = cap->data.handles.handle[i];
        /* The loaded-session query (0x02) lists HMAC (0x02) and policy (0x03) sessions;
         * the saved-session query (0x03) both kinds too. */
        TPM2_HC type = h & KM_HR_RANGE_MASK;
        bool session_query = first != KM_HR_TRANSIENT;
        if (session_query ? (type != KM_HR_HMAC_SESSION && type != KM_HR_POLICY_SESSION)
                          : type != KM_HR_TRANSIENT)
            break;
        ESYS_TR tr = ESYS_TR_NONE;
        err = km_rc(Esys_TR_FromTPMPublic(ctx->esys, h, ESYS_TR_NONE, ESYS_TR_NONE,
                                          ESYS_TR_NONE, &tr),
                    "leftover handle");
        if (err != SRTM_OK)
            return err;
        log_info("flushing leftover TPM handle 0x%08x", (unsigned)h);
        err = km_rc(Esys_FlushContext(ctx->esys, tr), "flush leftover handle");
        if (err != SRTM_OK) {
            (void)Esys_TR_Close(ctx->esys, &tr);
            return err;
        }
    }
    return SRTM_OK;
}

static srtm_err ctx_start(km_ctx *ctx, const char *tcti)
{
    srtm_err err = km_rc(Tss2_TctiLdr_Initialize(tcti, &ctx->tcti), "load TCTI");
    if (err != SRTM_OK)
        return err;
    err = km_rc(Esys_Initialize(&ctx->esys, ctx->tcti, NULL), "initialise ESYS");
    if (err != SRTM_OK)
        return err;
    err = km_rc(Esys_SetTimeout(ctx->esys, KM_TIMEOUT_MS), "set timeout");
    if (err != SRTM_OK)
        return err;
    TSS2_RC rc = Esys_Startup(ctx->esys, TPM2_SU_CLEAR);
    if (rc != TPM2_RC_INITIALIZE) { /* TPM_RC_INITIALIZE: started already, fine */
        err = km_rc(rc, "startup");
        if (err != SRTM_OK)
            return err;
    }
    const TPM2_HC ranges[] = {KM_HR_TRANSIENT, KM_HR_HMAC_SESSION, KM_HR_POLICY_SESSION};
    for (size_t i = 0; i < SRTM_ARRAY_LEN(ranges) && err == SRTM_OK; i++)
        err = flush_range(ctx, ranges[i]);
    return err;
}

srtm_err km_open(const char *tcti, km_ctx **out)
{
    if (out == NULL)
        return SRTM_E_INVALID;
    km_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = ctx_start(ctx, tcti);
    if (err != SRTM_OK) {
        km_close(ctx);
        return err;
    }
    *out = ctx;
    return SRTM_OK;
}

srtm_err km_set_owner_auth(km_ctx *ctx, const char *auth)
{
    if (ctx == NULL || auth == NULL)
        return SRTM_E_INVALID;
    TPM2B_AUTH a = {.size = 0};
    srtm_err err = SRTM_OK;
    size_t n = strlen(auth);
    if (strncmp(auth, "hex:", 4) == 0) {
        n = (n - 4) / 2;
        err = n <= sizeof(a.buffer) ? hex_decode(auth + 4, strlen(auth + 4), a.buffer, n)
                                    : SRTM_E_TOO_BIG;
    } else if (n > sizeof(a.buffer)) {
        err = SRTM_E_TOO_BIG;
    } else {
        memcpy(a.buffer, auth, n);
    }
    a.size = (UINT16)n;
    if (err == SRTM_OK)
        err = km_rc(Esys_TR_SetAuth(ctx->esys, ESYS_TR_RH_OWNER, &a), "owner authorization");
    OPENSSL_cleanse(&a, sizeof(a));
    return err;
}

void km_close(km_ctx *ctx)
{
    if (ctx == NULL)
        return;
    struct km_aik *a = ctx->aiks;
    while (a != NULL) {
        struct km_aik *next = a->next;
        if (a->tr != ESYS_TR_NONE && ctx->esys != NULL)
            (void)Esys_TR_Close(ctx->esys, &a->tr); /* forget locally; it stays persisted */
        free(a);
        a = next;
    }
    if (ctx->esys != NULL)
        Esys_Finalize(&ctx->esys);
    if (ctx->tcti != NULL)
        Tss2_TctiLdr_Finalize(&ctx->tcti);
    free(ctx);
}
