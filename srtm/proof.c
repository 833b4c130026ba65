/* The SRTM-proof-period; see proof.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "proof.h"

static bool resettable(unsigned pcr)
{
    return pcr == 16 || pcr == 23;
}

static srtm_err check_config(const proof_config *cfg)
{
    if (cfg->srtm_pcr >= KM_PCR_COUNT || !(cfg->proof_mask & (1u << cfg->srtm_pcr))) {
        log_error("the SRTM PCR %u must be one of the proof PCRs", cfg->srtm_pcr);
        return SRTM_E_INVALID;
    }
    if (resettable(cfg->srtm_pcr) && !cfg->allow_resettable) {
        log_error("PCR %u can be reset at locality 0 by any process, so it cannot prove "
                  "that srtmd obtained the IRK: use a PCR that cannot be reset (--srtm-pcr), "
                  "or --insecure-resettable-pcr for tests on a software TPM",
                  cfg->srtm_pcr);
        return SRTM_E_INVALID;
    }
    return SRTM_OK;
}

/*
 * Read the sealed IRK. Its secrecy does not matter (only this TPM in the proof state can
 * unseal it), its integrity does: sealing needs no secret, so whoever can replace the file
 * can seal a key of their own to the same PCR policy and srtmd would certify and use it.
 * So it must be a regular file, not a symbolic link, owned by root (or srtmd's user) and
 * not writable by group or others. *missing is set when there is no file at path.
 */
static srtm_err load_blob(const char *path, km_sealed *out, bool *missing)
{
    *missing = false;
    /* O_NONBLOCK: a FIFO must not block the open; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT) {
            *missing = true;
            return SRTM_E_IO;
        }
        if (e == ELOOP)
            log_error("the sealed IRK %s is a symbolic link: srtmd reads it only from a regular "
                      "file (put the file itself there)",
                      path);
        else
            log_error("cannot open the sealed IRK %s: %s", path, strerror(e));
        return e == ELOOP ? SRTM_E_DENIED : SRTM_E_IO;
    }
    struct stat st;
    srtm_err err = SRTM_OK;
    if (fstat(fd, &st) != 0) {
        log_error("cannot read the sealed IRK %s: %s", path, strerror(errno));
        err = SRTM_E_IO;
    } else if (!S_ISREG(st.st_mode)) {
        log_error("the sealed IRK %s is not a regular file (%s)", path,
                  S_ISDIR(st.st_mode) ? "a directory" : "a special file");
        err = SRTM_E_IO;
    } else if (st.st_uid != 0 && st.st_uid != geteuid()) {
        log_error("the sealed IRK %s belongs to uid %u: whoever can replace it can make srtmd "
                  "use a key of their own; it must belong to root",
                  path, (unsigned)st.st_uid);
        err = SRTM_E_DENIED;
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        log_error("the sealed IRK %s is writable by group or others (mode %04o): whoever can "
                  "replace it can make srtmd use a key of their own; chmod go-w it",
                  path, (unsigned)(st.st_mode & 07777));
        err = SRTM_E_DENIED;
    } else if (st.st_size <= 0 || (uint64_t)st.st_size > KM_MAX_SEALED) {
        log_error("the sealed IRK %s has %lld bytes, not 1 to %u: it is not a sealed IRK "
                  "(restore it, or wrap a new one with `srtm-keymgr wrap-irk`)",
                  path, (long long)st.st_size, KM_MAX_SEALED);
        err = SRTM_E_MALFORMED;
    }
    size_t len = 0;
    while (err == SRTM_OK) {
        /* One byte past the limit notices a file that grew after fstat. */
        if (len == sizeof(out->blob)) {
            log_error("the sealed IRK %s grew past %u bytes while being read", path,
                      KM_MAX_SEALED);
            err = SRTM_E_MALFORMED;
            break;
        }
        ssize_t n = read(fd, out->blob + len, sizeof(out->blob) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("cannot read the sealed IRK %s: %s", path, strerror(errno));
            err = SRTM_E_IO;
        }
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (err == SRTM_OK && len == 0) {
        log_error("the sealed IRK %s is empty", path);
        err = SRTM_E_MALFORMED;
    }
    out->len = len;
    return err;
}

/* Write the sealed IRK (not secret, but only srtmd should replace it): 0600, through a
 * temporary file, fsync and rename, so that a full disk or a crash leaves either no file
 * or the whole one, never a truncated blob (which would lose the IRK at the next boot). */
static srtm_err save_blob(const char *path, const km_sealed *s)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp)) {
        log_error("cannot write the sealed IRK to %s: path too long", path);
        return SRTM_E_TOO_BIG;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("cannot write the sealed IRK to %s (creating %s): %s", path, tmp,
                  strerror(errno));
        return SRTM_E_IO;
    }
    int saved = write_full(fd, s->blob, s->len);
    if (saved == 0 && fsync(fd) != 0)
        saved = errno;
    if (close(fd) != 0 && saved == 0)
        saved = errno;
    if (saved == 0 && rename(tmp, path) != 0)
        saved = errno;
    if (saved != 0) {
        unlink(tmp);
        log_error("cannot write the sealed IRK to %s: %s", path, strerror(saved));
        return SRTM_E_IO;
    }
    /* The rename itself must reach the disk too; a failure here is only logged. */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int n = slash == NULL ? snprintf(dir, sizeof(dir), ".")
                          : snprintf(dir, sizeof(dir), "%.*s",
                                     slash == path ? 1 : (int)(slash - path), path);
    int dfd = n > 0 && (size_t)n < sizeof(dir) ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                               : -1;
    if (dfd < 0 || fsync(dfd) != 0)
        log_warn("cannot sync the directory of %s: %s", path, strerror(errno));
    if (dfd >= 0)
        close(dfd);
    return SRTM_OK;
}

/* Case S1T, first start: create the IRK and seal it to the PCRs as they are now, which
 * is the proof state. */
static srtm_err s1t_create(km_ctx *ctx, const proof_config *cfg, irk **out)
{
    km_pcr_values now;
    uint8_t policy[KM_DIGEST_LEN];
    uint8_t der[IRK_PRIV_DER_MAX];
    size_t der_len = 0;
    km_sealed sealed;
    irk *k = NULL;
    srtm_err err = km_pcr_read(ctx, cfg->proof_mask, &now);
    if (err == SRTM_OK)
        err = km_policy_pcr(NULL, &now, policy);
    if (err == SRTM_OK)
        err = irk_generate(&k);
    if (err == SRTM_OK)
        err = irk_private_der(k, der, &der_len);
    if (err == SRTM_OK)
        err = km_seal(ctx, KM_PARENT_PRIMARY, policy, der, der_len, &sealed);
    OPENSSL_cleanse(der, sizeof(der));
    if (err == SRTM_OK && (err = save_blob(cfg->irk_blob, &sealed)) != SRTM_OK)
        log_error("case S1T: the new IRK could not be stored, so it could not be recovered "
                  "after a reboot; srtmd does not start with it");
    if (err != SRTM_OK) {
        irk_free(k);
        return err;
    }
    log_info("case S1T: created the IRK and sealed it to the proof PCRs in %s", cfg->irk_blob);
    *out = k;
    return SRTM_OK;
}

/*
 * The per-boot scheme: a new IRK inside this boot's proof period, in memory only. Nothing
 * is read or written, so there is no blob to replace and no rewrap on updates; what makes
 * the key trustworthy is only the certificate quote that follows while the PCRs are still
 * in the proof state (a key certified after the close carries the closed PCR values, which
 * the verifier's certificate-pcrs-reference check refuses), and a theft of it is good for
 * this boot only (the verifier's same-boot check).
 */
static srtm_err perboot_create(irk **out)
{
    srtm_err err = irk_generate(out);
    if (err != SRTM_OK)
        log_error("per-boot scheme: cannot create the IRK: %s", srtm_strerror(err));
    else
        log_info("per-boot scheme: created this boot's IRK (kept in memory only)");
    return err;
}

static srtm_err obtain_irk(km_ctx *ctx, const proof_config *cfg, irk **out)
{
    if (cfg->scheme == IRK_SCHEME_PERBOOT)
        return perboot_create(out);
    km_sealed sealed;
    bool missing = false;
    srtm_err err = load_blob(cfg->irk_blob, &sealed, &missing);
    if (missing && cfg->scheme == IRK_SCHEME_S1T)
        return s1t_create(ctx, cfg, out);
    if (missing) {
        log_error("the sealed IRK %s does not exist: create it with `srtm-keymgr wrap-irk "
                  "--reference REFERENCE.json -o %s` (docs/key-management.md), or give "
                  "--irk-blob",
                  cfg->irk_blob, cfg->irk_blob);
        return err;
    }
    if (err != SRTM_OK)
        return err;
    km_secret secret;
    err = km_unseal(ctx, KM_PARENT_PRIMARY, &sealed, cfg->proof_mask, &secret);
    if (err == SRTM_E_DENIED) {
        log_error("the TPM refuses to unseal the IRK: the PCRs are not in the SRTM-proof-PCR "
                  "state it was wrapped for (another srtmd binary or configuration, another "
                  "boot chain, or the period was already closed in this boot); re-wrap with "
                  "`srtm-keymgr rewrap` for an intended change, or reboot");
        return err;
    }
    if (err == SRTM_E_MALFORMED) {
        log_error("the sealed IRK %s is damaged (truncated or not a sealed object): restore "
                  "it, or wrap a new one with `srtm-keymgr wrap-irk`",
                  cfg->irk_blob);
        return err;
    }
    if (err != SRTM_OK) {
        log_error("cannot unseal the IRK from %s: %s", cfg->irk_blob, srtm_strerror(err));
        return err;
    }
    err = irk_from_private_der(secret.bytes, secret.len, out);
    km_secret_wipe(&secret);
    if (err != SRTM_OK)
        log_error("the unsealed IRK is not a P-256 private key");
    return err;
}

/* Quote with qualifyingData = SHA-256(tag || IRK public key): the IRK certificate. */
static srtm_err certify(km_ctx *ctx, const km_aik *aik, const proof_config *cfg, const irk *k,
                        quoter_identity *qid, report_identity *id)
{
    uint8_t q[SRTM_DIGEST_LEN];
    km_quote_info info;
    srtm_err err = irk_public_der(k, qid->irk_public, &qid->irk_public_len);
    if (err == SRTM_OK)
        err = irk_cert_qualifier(qid->irk_public, qid->irk_public_len, q);
    if (err == SRTM_OK)
        err = km_quote(ctx, aik, cfg->proof_mask, q, sizeof(q), &qid->certificate);
    if (err == SRTM_OK)
        err = km_quote_parse(qid->certificate.attest, qid->certificate.attest_len, &info);
    if (err != SRTM_OK) {
        log_error("cannot certify the IRK with the AIK: %s", srtm_strerror(err));
        return err;
    }
    qid->quote_mask = cfg->proof_mask;
    id->reset_count = info.reset_count;
    id->restart_count = info.restart_count;
    return RAND_bytes(id->instance, sizeof(id->instance)) == 1 ? SRTM_OK : SRTM_E_CRYPTO;
}

srtm_err proof_period(const proof_config *cfg, srtm_quoter **quoter_out, report_identity *id_out)
{
    km_ctx *ctx = NULL;
    srtm_err err = km_open(cfg->tcti, &ctx);
    if (err != SRTM_OK) {
        log_error("cannot use the TPM (TCTI %s): %s; srtmd does not start without one "
                  "(--no-tpm runs it for development, without signed reports)",
                  cfg->tcti ? cfg->tcti : "default", srtm_strerror(err));
        proof_log_unclosed(cfg->tcti, err);
        return err;
    }
    const km_aik *aik = NULL;
    irk *key = NULL;
    quoter_identity qid;
    report_identity id;
    memset(&qid, 0, sizeof(qid));
    memset(&id, 0, sizeof(id));
    err = check_config(cfg);
    if (err == SRTM_OK && (err = km_aik_load(ctx, cfg->aik_handle, &aik)) != SRTM_OK)
        log_error("no usable AIK at handle 0x%08x: create it with `srtm-keymgr enroll`",
                  cfg->aik_handle);
    if (err == SRTM_OK)
        err = obtain_irk(ctx, cfg, &key);
    if (err == SRTM_OK)
        err = certify(ctx, aik, cfg, key, &qid, &id);
    /* Close whatever happened above. */
    srtm_err closed = proof_close_ctx(ctx, cfg->srtm_pcr);
    if (err == SRTM_OK)
        err = closed;
    if (err == SRTM_OK)
        err = quoter_start(ctx, aik, key, &qid, cfg->tcti, cfg->aik_handle, quoter_out);
    if (err != SRTM_OK) {
        irk_free(key);
        km_close(ctx);
        return err;
    }
    log_info("proof period closed: IRK certified by the AIK at 0x%08x (TPM resetCount %u, "
             "restartCount %u)",
             cfg->aik_handle, id.reset_count, id.restart_count);
    *id_out = id;
    return SRTM_OK;
}
