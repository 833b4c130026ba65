/*
 * km: the one place srtm talks to a TPM (tpm2-tss ESAPI over tctildr), plus the pure helpers
 * around it that need no TPM (policy digests, PCR prediction, quote parsing, key and
 * signature conversion), so that srtmd, srtm-keymgr and the verifier share one definition.
 *
 * Two libraries (keymgmt/meson.build):
 * - km_soft_dep: functions marked [soft] below. Pure computation over tss2-mu and OpenSSL,
 *   no TPM, no ESYS, built position-independent so libsrtm (the verifier) can link it.
 * - km_dep: everything, including km_soft_dep.
 *
 * Conventions (as in <srtm/srtm.h>)
 * - Every function returns an srtm_err; out-parameters come last and are written only on
 *   success. Outputs are value types with fixed-size buffers (no allocation to free) except
 *   km_ctx. A failed TPM command is logged once with Tss2_RC_Decode() and returned as:
 *     SRTM_E_DENIED    a policy check failed: the PCRs are not in the state an object was
 *                      sealed to (TPM_RC_POLICY_FAIL, TPM_RC_PCR_CHANGED);
 *     SRTM_E_NO_MEMORY ESYS or OpenSSL could not allocate;
 *     SRTM_E_TPM       anything else the TPM or the TCTI reported, including a TPM that is
 *                      gone (connection refused: fails in milliseconds, no hang). After a
 *                      lost connection ESYS stays in an error state: every later call on
 *                      that km_ctx answers SRTM_E_TPM too. Recover with km_close, km_open
 *                      and km_aik_load (the TPM keeps its persistent objects).
 *   SRTM_E_INVALID is a caller error caught before talking to the TPM.
 * - PCRs are the SHA-256 bank only. A selection is a bit mask: bit i selects PCR i,
 *   0 <= i < KM_PCR_COUNT. PCR values travel as km_pcr_values, indexed by PCR number.
 * - One km_ctx is one ESYS context over one TCTI connection: use it from one thread at a
 *   time. Without a resource manager (swtpm, /dev/tpm0) only ONE process may use km on a
 *   TPM at a time: km_open flushes every transient object and session it finds.
 * - Secrets (km_secret) are wiped with OPENSSL_cleanse on every path inside km; callers
 *   wipe their copies with km_secret_wipe().
 *
 * Cost (swtpm on a 2-core machine; ESYS 3.2.1 builds an OpenSSL library context for every
 * internal crypto operation, so client CPU dominates): PCR read/extend about 50 us; quote
 * with a loaded AIK about 0.6 ms; km_aik_load (ReadPublic + name hash) and every seal or
 * unseal (primary creation, salted session, load, flush) several ms. srtmd therefore loads
 * the AIK and unseals once at start; only km_quote and PCR operations run per request.
 */
#ifndef SRTM_KM_H
#define SRTM_KM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <srtm/srtm.h>

#define KM_WUR __attribute__((warn_unused_result))

#define KM_PCR_COUNT 24u
#define KM_PCR_MASK_ALL 0x00FFFFFFu
#define KM_DIGEST_LEN 32u        /* SHA-256 */
#define KM_MAX_QUALIFYING 64u    /* bytes of qualifyingData (nonce) in a quote */
#define KM_MAX_ATTEST 1024u      /* bytes of a marshalled quote TPMS_ATTEST (about 150) */
#define KM_MAX_SIG 1024u         /* bytes of a marshalled TPMT_SIGNATURE */
#define KM_MAX_DER_SIG 80u       /* bytes of a DER ECDSA P-256 signature (at most 72) */
#define KM_MAX_PUBLIC 1024u      /* bytes of a marshalled TPM2B_PUBLIC */
#define KM_MAX_PEM 512u          /* bytes of a P-256 public key in PEM, with the NUL */
#define KM_MAX_SECRET 128u       /* bytes of data a sealed object can hold */
#define KM_MAX_SEALED 1024u      /* bytes of a sealed blob (TPM2B_PRIVATE || TPM2B_PUBLIC) */

/* Persistent handles km may use: the owner range of TPM 2.0, 0x81000000-0x817FFFFF. */
#define KM_PERSISTENT_FIRST 0x81000000u
#define KM_PERSISTENT_LAST 0x817FFFFFu

/* Seal/unseal parent: a transient storage primary re-created on every call (see km_seal). */
#define KM_PARENT_PRIMARY 0u

/* PCR values of a selection, indexed by PCR number; value[i] is meaningful when bit i of
 * mask is set, and zero otherwise. */
typedef struct km_pcr_values {
    uint32_t mask;
    uint8_t value[KM_PCR_COUNT][KM_DIGEST_LEN];
} km_pcr_values;

/* A quote: marshalled TPMS_ATTEST and TPMT_SIGNATURE exactly as the TPM produced them, and
 * the PCR values it covers (their digest matches the attest's pcrDigest: km_quote checks). */
typedef struct km_tpm_quote {
    uint8_t attest[KM_MAX_ATTEST];
    size_t attest_len;
    uint8_t sig[KM_MAX_SIG];
    size_t sig_len;
    km_pcr_values pcrs;
} km_tpm_quote;

/* What a verifier needs from a quote's TPMS_ATTEST (km_quote_parse). */
typedef struct km_quote_info {
    uint8_t qualifying[KM_MAX_QUALIFYING]; /* extraData: the nonce the quote was asked for */
    size_t qualifying_len;
    uint64_t clock;          /* ms the TPM has been powered, TPMS_CLOCK_INFO.clock */
    uint32_t reset_count;    /* TPM2_Startup(CLEAR) count: changes on every reboot */
    uint32_t restart_count;  /* resume/restart count since the last reset */
    bool safe;               /* clock value never repeated */
    uint64_t firmware_version;
    uint32_t pcr_mask;       /* selection quoted, SHA-256 bank */
    uint8_t pcr_digest[KM_DIGEST_LEN];
    uint8_t signer_name[2 + 64];  /* qualifiedSigner TPM2B_NAME bytes (alg id + digest) */
    size_t signer_name_len;
} km_quote_info;

/* A sealed object as stored in a file: marshalled TPM2B_PRIVATE followed by marshalled
 * TPM2B_PUBLIC (both carry their size, so the concatenation parses back unambiguously).
 * Not secret: only the TPM that created it can load it, under its storage parent. */
typedef struct km_sealed {
    uint8_t blob[KM_MAX_SEALED];
    size_t len;
} km_sealed;

/* A secret of at most KM_MAX_SECRET bytes. Wipe with km_secret_wipe(). */
typedef struct km_secret {
    uint8_t bytes[KM_MAX_SECRET];
    size_t len;
} km_secret;

typedef struct km_ctx km_ctx;
typedef struct km_aik km_aik;

/* ---- context ------------------------------------------------------------------------ */

/*
 * Connect to a TPM. tcti is a tctildr string ("swtpm:host=127.0.0.1,port=2321", "device:
 * /dev/tpmrm0", "tabrmd"); NULL uses the tctildr default. Runs TPM2_Startup(CLEAR)
 * (an already started TPM is fine) and flushes every transient object and session left
 * loaded by an earlier crashed run. Every TPM command waits at most 10 s for an answer.
 * The caller owns *out and releases it with km_close().
 */
KM_WUR srtm_err km_open(const char *tcti, km_ctx **out);
/* The owner hierarchy's authorization value for what ctx does under it (the storage
 * primary of km_seal, persisting objects): auth as given, or "hex:HEX" for bytes; at most
 * 64 bytes. Without it the value is empty (a TPM as shipped). Nothing is kept but ctx's
 * copy inside ESYS. */
KM_WUR srtm_err km_set_owner_auth(km_ctx *ctx, const char *auth);

/* Release the context, every km_aik it handed out, and the TCTI. Objects persisted in the
 * TPM stay. Accepts NULL. */
void km_close(km_ctx *ctx);

/* ---- PCRs (SHA-256 bank) ---------------------------------------------------------- */

/* Read the PCRs of mask (non-zero, within KM_PCR_MASK_ALL). The values are consistent:
 * read again if the TPM's PCR update counter moved in between. */
KM_WUR srtm_err km_pcr_read(km_ctx *ctx, uint32_t mask, km_pcr_values *out);

/* PCR[pcr] = SHA-256(PCR[pcr] || digest). */
KM_WUR srtm_err km_pcr_extend(km_ctx *ctx, unsigned pcr, const uint8_t digest[KM_DIGEST_LEN]);

/* Reset PCR 16 or 23 to zero (the only ones resettable at locality 0; for tests and the
 * swtpm demo). Any other PCR: SRTM_E_INVALID, nothing sent to the TPM. */
KM_WUR srtm_err km_pcr_reset(km_ctx *ctx, unsigned pcr);

/* [soft] out = SHA-256(old || digest): the value a PCR will have after an extend. */
KM_WUR srtm_err km_pcr_extend_sw(const uint8_t old[KM_DIGEST_LEN],
                                 const uint8_t digest[KM_DIGEST_LEN],
                                 uint8_t out[KM_DIGEST_LEN]);

/* [soft] out = SHA-256 of the selected values concatenated in ascending PCR order: the
 * pcrDigest of a quote and the digest PolicyPCR uses. */
KM_WUR srtm_err km_pcr_digest(const km_pcr_values *pcrs, uint8_t out[KM_DIGEST_LEN]);

/* ---- software policy -------------------------------------------------------------- */

/*
 * [soft] The policy digest after TPM2_PolicyPCR over pcrs->mask with the given (predicted)
 * values, starting from prev (NULL: the all-zero digest of a fresh session):
 *   out = SHA-256(prev || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || km_pcr_digest(pcrs))
 * The TPM need not be in that state: this is how the future SRTM-proof-PCR is targeted.
 */
KM_WUR srtm_err km_policy_pcr(const uint8_t prev[KM_DIGEST_LEN], const km_pcr_values *pcrs,
                              uint8_t out[KM_DIGEST_LEN]);

/* The TPM's own PolicyPCR digest for mask in the PCRs' CURRENT state (trial session).
 * For cross-checking km_policy_pcr; costs a session. */
KM_WUR srtm_err km_policy_pcr_tpm(km_ctx *ctx, uint32_t mask, uint8_t out[KM_DIGEST_LEN]);

/* ---- AIK -------------------------------------------------------------------------- */

/*
 * The AIK is an ECC P-256 restricted signing key (ECDSA, SHA-256), a PRIMARY key of the
 * ENDORSEMENT hierarchy, persisted with TPM2_EvictControl at a handle in the owner range.
 * Why the endorsement hierarchy: it is the hierarchy of the TPM's identity (the EK lives
 * there, so a privacy CA can bind the AIK to the EK with MakeCredential/ActivateCredential),
 * and its seed survives TPM2_Clear (owner change). A primary key is derived from the seed
 * and its template, and km puts SHA-256("srtm AIK" || handle) into the template's unique
 * field: the AIK for a handle can be re-created bit-identical after the persistent copy
 * is lost, and different handles give different, unlinkable AIKs.
 *
 * Returned km_aik pointers are owned by ctx (released by km_close); loading the same handle
 * twice returns the same object.
 */

/* Create the AIK for handle and persist it there. SRTM_E_EXISTS if handle is in use,
 * SRTM_E_INVALID if it is outside KM_PERSISTENT_FIRST..KM_PERSISTENT_LAST. */
KM_WUR srtm_err km_aik_create(km_ctx *ctx, uint32_t handle, const km_aik **out);

/* Load the persistent AIK at handle (one ReadPublic). SRTM_E_TPM if nothing is there,
 * SRTM_E_INVALID if the object there is not a P-256 ECDSA/SHA-256 restricted signing key. */
KM_WUR srtm_err km_aik_load(km_ctx *ctx, uint32_t handle, const km_aik **out);

/* Remove the persistent object at handle from the TPM (re-enrolment, tests); any km_aik
 * of that handle in ctx becomes unusable (km_quote answers SRTM_E_INVALID). */
KM_WUR srtm_err km_evict(km_ctx *ctx, uint32_t handle);

/* The persistent handle of aik. */
uint32_t km_aik_handle(const km_aik *aik);

/* The AIK public key as marshalled TPM2B_PUBLIC (tpm2_checkquote -u accepts it too). */
KM_WUR srtm_err km_aik_public(const km_aik *aik, uint8_t *buf, size_t size, size_t *len_out);

/* The AIK public key as a PEM SubjectPublicKeyInfo, NUL-terminated; *len_out excludes the
 * NUL. buf needs KM_MAX_PEM bytes. */
KM_WUR srtm_err km_aik_pem(const km_aik *aik, char *buf, size_t size, size_t *len_out);

/* [soft] The PEM of a marshalled TPM2B_PUBLIC holding an ECC P-256 key (as km_aik_pem).
 * SRTM_E_MALFORMED for bytes that do not parse, SRTM_E_UNSUPPORTED for another key type. */
KM_WUR srtm_err km_public_to_pem(const uint8_t *pub, size_t pub_len, char *buf, size_t size,
                                 size_t *len_out);

/* ---- quotes ------------------------------------------------------------------------ */

/*
 * TPM2_Quote with aik over the PCRs of mask with qualifyingData q (1..KM_MAX_QUALIFYING
 * bytes; callers hash longer data). Also reads the quoted PCR values and checks that
 * their digest is the attest's pcrDigest (retrying if an extend raced), so out->pcrs is
 * what the signature covers.
 */
KM_WUR srtm_err km_quote(km_ctx *ctx, const km_aik *aik, uint32_t mask, const uint8_t *q,
                         size_t q_len, km_tpm_quote *out);

/*
 * [soft] Parse a marshalled TPMS_ATTEST of a quote. SRTM_E_MALFORMED: bytes that do not
 * unmarshal exactly, a selection outside the SHA-256 bank or a digest of another size.
 * SRTM_E_INVALID: a well-formed structure that is not TPM-generated (magic is not
 * TPM_GENERATED_VALUE) or not a quote. Only on SRTM_OK is *out written. Parsing proves
 * nothing: check the signature over the same bytes first.
 */
KM_WUR srtm_err km_quote_parse(const uint8_t *attest, size_t attest_len, km_quote_info *out);

/* [soft] Convert a marshalled ECDSA/SHA-256 TPMT_SIGNATURE into a DER ECDSA-Sig-Value, as
 * `openssl dgst -verify` and `tpm2_checkquote -s` accept. der needs KM_MAX_DER_SIG bytes.
 * SRTM_E_MALFORMED for bytes that do not parse, SRTM_E_UNSUPPORTED for another scheme. */
KM_WUR srtm_err km_sig_to_der(const uint8_t *sig, size_t sig_len, uint8_t *der, size_t size,
                              size_t *len_out);

/* ---- seal / unseal under PolicyPCR ----------------------------------------------------- */

/*
 * Seal secret (1..KM_MAX_SECRET bytes) into a keyedhash data object whose only
 * authorisation is policy (userWithAuth clear; e.g. km_policy_pcr over predicted values),
 * created with TPM2_Create under the storage parent:
 * - parent == KM_PARENT_PRIMARY: an ECC P-256 restricted decrypt primary key of the OWNER
 *   hierarchy (SRK-style template, AES-128-CFB), re-created for the call and flushed. It is
 *   derived from the storage seed, so it is the same key on every call and boot until the
 *   owner hierarchy is cleared (TPM2_Clear), which rightly makes old blobs unloadable;
 * - otherwise the persistent storage key at that handle (see km_storage_persist).
 * The secret travels to the TPM encrypted (salted session, parameter encryption).
 * out->blob is not secret. Cost: several ms (see top).
 */
KM_WUR srtm_err km_seal(km_ctx *ctx, uint32_t parent, const uint8_t policy[KM_DIGEST_LEN],
                        const uint8_t *secret, size_t secret_len, km_sealed *out);

/*
 * Unseal: load the blob under parent, run a policy session with TPM2_PolicyPCR over mask
 * in the PCRs' current state, TPM2_Unseal (response encrypted), flush everything.
 * SRTM_E_DENIED when the PCRs are not in the sealed state (or mask differs from the one
 * sealed to); SRTM_E_MALFORMED for a blob that does not parse; SRTM_E_TPM when the TPM
 * refuses the blob (other TPM, other parent, cleared owner). *out is written only on
 * success, the caller wipes it.
 */
KM_WUR srtm_err km_unseal(km_ctx *ctx, uint32_t parent, const km_sealed *sealed,
                          uint32_t mask, km_secret *out);

/* Create the storage primary key of KM_PARENT_PRIMARY and persist it at handle (owner
 * range), so seal/unseal can skip the primary creation. SRTM_E_EXISTS if handle is used. */
KM_WUR srtm_err km_storage_persist(km_ctx *ctx, uint32_t handle);

/* Overwrite a secret with zeros (OPENSSL_cleanse). Accepts NULL. */
void km_secret_wipe(km_secret *s);

#endif /* SRTM_KM_H */
