/*
 * The TPM part of an evidence bundle as the files tpm2-tools read, so that anyone can
 * check the quotes with tpm2_checkquote and no srtm code (docs/verifier.md). Nothing is
 * verified here: this is a format conversion.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verify_int.h"

/* Write len bytes to dir/prefix+name, mode 0644, replacing the file (via a rename, so a
 * reader never sees half a file). */
static srtm_err write_file(const char *dir, const char *prefix, const char *name,
                           const void *data, size_t len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/%s%s", dir, prefix, name) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return SRTM_E_IO;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return SRTM_E_IO;
    int saved = fchmod(fd, 0644) == 0 ? 0 : errno;
    if (saved == 0)
        saved = write_full(fd, data, len);
    if (saved == 0 && fsync(fd) != 0)
        saved = errno;
    if (close(fd) != 0 && saved == 0)
        saved = errno;
    if (saved == 0 && rename(tmp, path) == 0)
        return SRTM_OK;
    if (saved == 0)
        saved = errno;
    unlink(tmp);
    errno = saved;
    return SRTM_E_IO;
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
    char sel[16 + KM_PCR_COUNT * 3] = "sha256:";
    for (size_t i = 0; i < q->n_pcrs; i++) {
        if (q->pcrs[i] >= KM_PCR_COUNT || (i > 0 && q->pcrs[i] <= q->pcrs[i - 1]) ||
            q->pcr_values[i].len != KM_DIGEST_LEN)
            return SRTM_E_MALFORMED;
        memcpy(values + i * KM_DIGEST_LEN, q->pcr_values[i].data, KM_DIGEST_LEN);
        size_t used = strlen(sel);
        snprintf(sel + used, sizeof(sel) - used, "%s%u", i ? "," : "", q->pcrs[i]);
    }
    char nonce[2 * KM_MAX_QUALIFYING + 2];
    if (hex_encode(info.qualifying, info.qualifying_len, nonce, sizeof(nonce)) != SRTM_OK)
        return SRTM_E_MALFORMED;
    strcat(nonce, "\n");
    size_t sel_len = strlen(sel);
    sel[sel_len++] = '\n';
    err = write_file(dir, prefix, "quote.attest", q->attest.data, q->attest.len);
    if (err == SRTM_OK)
        err = write_file(dir, prefix, "quote.sig", der, der_len);
    if (err == SRTM_OK)
        err = write_file(dir, prefix, "quote.pcrs", values, q->n_pcrs * KM_DIGEST_LEN);
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
