/*
 * km internals shared by the keymgmt sources: the context and AIK structures, the one
 * TSS2_RC -> srtm_err conversion, PCR selection helpers and key templates.
 */
#ifndef SRTM_KM_INT_H
#define SRTM_KM_INT_H

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>

#include "common.h"
#include "km.h"

/* An AIK loaded into a context; owned by the context (a singly linked list). */
struct km_aik {
    struct km_aik *next;
    km_ctx *ctx;
    uint32_t handle;
    ESYS_TR tr;          /* ESYS_TR_NONE once evicted */
    TPM2B_PUBLIC pub;
};

struct km_ctx {
    TSS2_TCTI_CONTEXT *tcti;
    ESYS_CONTEXT *esys;
    struct km_aik *aiks;
};

/* The one place a TSS2_RC becomes an srtm_err: SRTM_OK for success, else logs
 * "what: Tss2_RC_Decode(rc)" once and maps as described in km.h. */
srtm_err km_rc(TSS2_RC rc, const char *what);

/* true when mask selects at least one PCR and nothing outside 0..23. */
bool km_mask_valid(uint32_t mask);
/* The TPML_PCR_SELECTION of mask in the SHA-256 bank (sizeofSelect 3). */
void km_sel_from_mask(uint32_t mask, TPML_PCR_SELECTION *sel);
/* The mask of a selection; false if it selects another bank or PCRs beyond 23. */
bool km_mask_from_sel(const TPML_PCR_SELECTION *sel, uint32_t *mask);

/* Flush a transient object or session, logging a failure; sets *tr to ESYS_TR_NONE. */
void km_flush(km_ctx *ctx, ESYS_TR *tr);

/* Create the storage primary (owner hierarchy, ECC P-256 restricted decrypt). */
srtm_err km_storage_primary(km_ctx *ctx, ESYS_TR *out);
/* The storage parent for seal/unseal: a new primary (*flush = true) or a persistent one. */
srtm_err km_parent_get(km_ctx *ctx, uint32_t parent, ESYS_TR *out, bool *flush);

/* EVP_PKEY of an ECC P-256 TPMT_PUBLIC (OpenSSL 3 fromdata). Caller frees. */
srtm_err km_ecc_public_to_evp(const TPMT_PUBLIC *pub, void **pkey_out);

/* Handle ranges; tss2 3.2.1's TPM2_HR_TRANSIENT shifts a signed 0x80 by 24 (UBSan). */
#define KM_HR_TRANSIENT 0x80000000u
#define KM_HR_HMAC_SESSION 0x02000000u
#define KM_HR_POLICY_SESSION 0x03000000u
#define KM_HR_RANGE_MASK 0xFF000000u

/* Persistent handle in the owner range? */
static inline bool km_handle_valid(uint32_t h)
{
    return h >= KM_PERSISTENT_FIRST && h <= KM_PERSISTENT_LAST;
}

/* Cleanup attribute for buffers ESYS returns. */
static inline void km_esys_freep(void *p)
{
    Esys_Free(*(void **)p);
}
#define KM_AUTO_ESYS __attribute__((cleanup(km_esys_freep)))

#endif /* SRTM_KM_INT_H */
