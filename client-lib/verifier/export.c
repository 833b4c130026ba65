/*
 * The TPM part of an evidence bundle as the files tpm2-tools read, so that anyone can
 * check the quotes with tpm2_checkquote and no srtm code (docs/verifier.md). Nothing is
 * verified here: this is a format conversion.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tss2/tss2_tpm2_types.h>

#include "verify_int.h"

/* Write len bytes to dir/prefix+name, mode 0644, replacing the file (via a rename, so a
 * reader never sees half a file). */
static srtm_err write_file(const char *dir, const char *prefix, const char *name,
                           const void *data, size_t len)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s%s", dir, prefix, name) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return SRTM_E_IO;
    }
    return write_file_replace(path, data, len, 0644);
}

/*
 * The PCR values in the file format tpm2_quote -o writes and tpm2_checkquote -f reads
 * without -l (tpm2-tools lib/pcr.c, pcr_fwrite_serialized): the TPML_PCR_SELECTION
 * structure as laid out in memory, a UINT32 count of digest lists, then that many TPML_DIGEST
 * structures of at most 8 digests each (what one TPM2_PCR_Read returns), integers little
 * endian. Values in ascending PCR order, as the TPM hashes them into pcrDigest. (The raw
 * concatenation read with -l is mis-split by tpm2-tools 5.4 from the 8th PCR on: its reader
 * starts a new list after 7 digests without counting the 8th.) values holds n digests;
 * out receives the file, *len its size.
 */
#define PCRS_PER_LIST 8u
#define PCRS_MAX_LISTS ((KM_PCR_COUNT + PCRS_PER_LIST - 1) / PCRS_PER_LIST)
#define PCRS_FILE_MAX \
    (sizeof(TPML_PCR_SELECTION) + sizeof(UINT32) + PCRS_MAX_LISTS * sizeof(TPML_DIGEST))

static void pcrs_serialize(uint32_t mask, const uint8_t *values, size_t n, uint8_t *out,
                           size_t *len)
{
    TPML_PCR_SELECTION sel;
    memset(&sel, 0, sizeof(sel));
    sel.count = htole32(1);
    sel.pcrSelections[0].hash = htole16(TPM2_ALG_SHA256);
    sel.pcrSelections[0].sizeofSelect = (KM_PCR_COUNT + 7) / 8;
    for (unsigned i = 0; i < KM_PCR_COUNT; i++)
        if (mask & (1u << i))
            sel.pcrSelections[0].pcrSelect[i / 8] |= (uint8_t)(1u << (i % 8));
    size_t off = 0;
    memcpy(out, &sel, sizeof(sel));
    off += sizeof(sel);
    UINT32 lists = htole32((UINT32)((n + PCRS_PER_LIST - 1) / PCRS_PER_LIST));
    memcpy(out + off, &lists, sizeof(lists));
    off += sizeof(lists);
    for (size_t first = 0; first < n; first += PCRS_PER_LIST) {
        TPML_DIGEST list;
        memset(&list, 0, sizeof(list));
        size_t k = n - first < PCRS_PER_LIST ? n - first : PCRS_PER_LIST;
        list.count = htole32((UINT32)k);
        for (size_t j = 0; j < k; j++) {
            list.digests[j].size = htole16(KM_DIGEST_LEN);
            memcpy(list.digests[j].buffer, values + (first + j) * KM_DIGEST_LEN, KM_DIGEST_LEN);
        }
        memcpy(out + off, &list, sizeof(list));
        off += sizeof(list);
    }
    *len = off;
}

static srtm_err export_quote(const char *dir, const char *prefix, const Srtm__TpmQuote *q)
{
    km_quote_info info;
    srtm_err err = km_quote_parse(q->attest.data, q->attest.len, &info);
    if (err != SRTM_OK)
        return SRTM_E_MALFORMED;
    uint8_t der[KM_MAX_DER_SIG];
    size_t der_len = 0;
    if (km_sig_to_der(q->signature.data, q->signature.len, der, sizeof(der), &der_len) !=
        SRTM_OK)
        return SRTM_E_MALFORMED;
    if (q->n_pcrs != q->n_pcr_values || q->n_pcrs == 0 || q->n_pcrs > KM_PCR_COUNT)
        return SRTM_E_MALFORMED;
    uint8_t values[KM_PCR_COUNT * KM_DIGEST_LEN];
    uint32_t mask = 0;
    char sel[16 + KM_PCR_COUNT * 3] = "sha256:";
    for (size_t i = 0; i < q->n_pcrs; i++) {
        if (q->pcrs[i] >= KM_PCR_COUNT || (i > 0 && q->pcrs[i] <= q->pcrs[i - 1]) ||
            q->pcr_values[i].len != KM_DIGEST_LEN)
            return SRTM_E_MALFORMED;
        memcpy(values + i * KM_DIGEST_LEN, q->pcr_values[i].data, KM_DIGEST_LEN);
        mask |= 1u << q->pcrs[i];
        size_t used = strlen(sel);
        snprintf(sel + used, sizeof(sel) - used, "%s%u", i ? "," : "", q->pcrs[i]);
    }
    char nonce[2 * KM_MAX_QUALIFYING + 2];
    if (hex_encode(info.qualifying, info.qualifying_len, nonce, sizeof(nonce)) != SRTM_OK)
        return SRTM_E_MALFORMED;
    strcat(nonce, "\n");
    static_assert(KM_PCR_COUNT <= 8 * TPM2_PCR_SELECT_MAX, "a selection holds every PCR");
    uint8_t pcrs_file[PCRS_FILE_MAX];
    size_t pcrs_len = 0;
    pcrs_serialize(mask, values, q->n_pcrs, pcrs_file, &pcrs_len);
    size_t sel_len = strlen(sel);
    sel[sel_len++] = '\n';
    err = write_file(dir, prefix, "quote.attest", q->attest.data, q->attest.len);
    if (err == SRTM_OK)
        err = write_file(dir, prefix, "quote.sig", der, der_len);
    if (err == SRTM_OK)
        err = write_file(dir, prefix, "quote.pcrs", pcrs_file, pcrs_len);
    if (err == SRTM_OK)
        err = write_file(dir, prefix, "quote.pcrvalues", values, q->n_pcrs * KM_DIGEST_LEN);
    if (err == SRTM_OK)
        err = write_file(dir, prefix, "pcrs.txt", sel, sel_len);
    if (err == SRTM_OK)
        err = write_file(dir, prefix, "nonce.hex", nonce, strlen(nonce));
    return err;
}

SRTM_API srtm_err srtm_evidence_export_tpm(const uint8_t *evidence, size_t len, const char *dir)
{
    if (evidence == NULL || dir == NULL || dir[0] == '\0')
        return SRTM_E_INVALID;
    if (len > VERIFY_MAX_EVIDENCE)
        return SRTM_E_TOO_BIG;
    Srtm__Evidence *ev = srtm__evidence__unpack(NULL, len, evidence);
    srtm_err err = SRTM_OK;
    if (ev == NULL || ev->quote == NULL || ev->irk_certificate == NULL)
        err = SRTM_E_MALFORMED;
    if (err == SRTM_OK)
        err = export_quote(dir, "", ev->quote);
    if (err == SRTM_OK)
        err = export_quote(dir, "certificate.", ev->irk_certificate);
    int saved = errno;
    srtm__evidence__free_unpacked(ev, NULL);
    errno = saved;
    return err;
}
