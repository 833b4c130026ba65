/* srtmd's TLS configurations; see tls.h. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls.h"


/* A private key must be srtmd's alone: not a link, owned by root or srtmd, mode 0600 or
 * stricter. */
static bool key_file_ok(const char *path, uid_t owner_ok)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        log_error("tls-key %s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        log_error("tls-key %s is not a regular file (a symbolic link or another kind)", path);
        return false;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid() && (owner_ok == 0 || st.st_uid != owner_ok)) {
        log_error("tls-key %s belongs to uid %u, not to root or srtmd's user", path,
                  (unsigned)st.st_uid);
        return false;
    }
    if ((st.st_mode & 077) != 0) {
        log_error("tls-key %s is open to group or others (mode %03o): a private key must be "
                  "0600 or 0400",
                  path, (unsigned)(st.st_mode & 0777));
        return false;
    }
    return true;
}

/* PEM text of what write puts into a memory BIO, NUL-terminated, into *out. */
static srtm_err bio_text(BIO *b, char **out)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || data == NULL)
        return SRTM_E_CRYPTO;
    char *s = OPENSSL_secure_malloc((size_t)n + 1);
    if (s == NULL)
        return SRTM_E_NO_MEMORY;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    *out = s;
    return SRTM_OK;
}

/* The watchdog probe's identity: a fresh P-256 key and a self-signed certificate, PEM. */
static srtm_err probe_identity(char **cert_pem, char **key_pem)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIO *cb = BIO_new(BIO_s_secmem()), *kb = BIO_new(BIO_s_secmem());
    srtm_err err = k != NULL && x != NULL && cb != NULL && kb != NULL ? SRTM_OK : SRTM_E_CRYPTO;
    X509_NAME *name = x != NULL ? X509_get_subject_name(x) : NULL;
    if (err == SRTM_OK &&
        (X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
         X509_gmtime_adj(X509_getm_notAfter(x), 100L * 365 * 86400) == NULL ||
         X509_set_pubkey(x, k) != 1 ||
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)"srtmd listener probe", -1, -1,
                                    0) != 1 ||
         X509_set_issuer_name(x, name) != 1 || X509_sign(x, k, EVP_sha256()) <= 0 ||
         PEM_write_bio_X509(cb, x) != 1 ||
         PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL) != 1))
        err = SRTM_E_CRYPTO;
    *cert_pem = *key_pem = NULL;
    if (err == SRTM_OK && (err = bio_text(cb, cert_pem)) == SRTM_OK &&
        (err = bio_text(kb, key_pem)) != SRTM_OK) {
        OPENSSL_secure_clear_free(*cert_pem, strlen(*cert_pem) + 1);
        *cert_pem = NULL;
    }
    BIO_free(cb);
    BIO_free(kb);
    X509_free(x);
    EVP_PKEY_free(k);
    return err;
}

static void pem_free(char *s)
{
    if (s != NULL)
        OPENSSL_secure_clear_free(s, strlen(s) + 1);
}

static srtm_err nng_fail(const char *what, int rv)
{
    log_error("TLS: %s: %s", what, nng_strerror(rv));
    return SRTM_E_CRYPTO;
}

/* The listener's config: own certificate, tls-ca and the probe's certificate trusted,
 * client certificates required, TLS 1.2 at least. */
static srtm_err listen_config(const char *cert, const char *key, const char *ca,
                              const char *probe_cert, nng_tls_config **out)
{
    size_t ca_len = strlen(ca), probe_len = strlen(probe_cert);
    char *chain = malloc(ca_len + 1 + probe_len + 1);
    if (chain == NULL)
        return SRTM_E_NO_MEMORY;
    memcpy(chain, ca, ca_len);
    chain[ca_len] = '\n';
    memcpy(chain + ca_len + 1, probe_cert, probe_len + 1);
    nng_tls_config *c = NULL;
    int rv = nng_tls_config_alloc(&c, NNG_TLS_MODE_SERVER);
    srtm_err err = rv != 0 ? nng_fail("cannot make a configuration", rv) : SRTM_OK;
    if (err == SRTM_OK && (rv = nng_tls_config_version(c, NNG_TLS_1_2, NNG_TLS_1_3)) != 0)
        err = nng_fail("TLS versions", rv);
    if (err == SRTM_OK && (rv = nng_tls_config_own_cert(c, cert, key, NULL)) != 0)
        err = nng_fail("tls-cert and tls-key are not a certificate and its private key in PEM",
                       rv);
    if (err == SRTM_OK && (rv = nng_tls_config_ca_chain(c, chain, NULL)) != 0)
        err = nng_fail("tls-ca holds no PEM certificate", rv);
    if (err == SRTM_OK && (rv = nng_tls_config_auth_mode(c, NNG_TLS_AUTH_MODE_REQUIRED)) != 0)
        err = nng_fail("requiring client certificates", rv);
    free(chain);
    if (err != SRTM_OK) {
        if (c != NULL)
            nng_tls_config_free(c);
        return err;
    }
    *out = c;
    return SRTM_OK;
}

/* The probe's config: its own certificate; it only checks that the listener takes it in,
 * so it does not authenticate the listener. */
static srtm_err probe_config(const char *cert, const char *key, nng_tls_config **out)
{
    nng_tls_config *c = NULL;
    int rv = nng_tls_config_alloc(&c, NNG_TLS_MODE_CLIENT);
    srtm_err err = rv != 0 ? nng_fail("cannot make the probe's configuration", rv) : SRTM_OK;
    if (err == SRTM_OK && (rv = nng_tls_config_own_cert(c, cert, key, NULL)) != 0)
        err = nng_fail("the probe's certificate", rv);
    if (err == SRTM_OK && (rv = nng_tls_config_auth_mode(c, NNG_TLS_AUTH_MODE_NONE)) != 0)
        err = nng_fail("the probe's authentication mode", rv);
    if (err != SRTM_OK) {
        if (c != NULL)
            nng_tls_config_free(c);
        return err;
    }
    *out = c;
    return SRTM_OK;
}

/* An encrypted key is refused rather than asked for on a terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* The key must be the certificate's (an operator's mix-up would otherwise only show as
 * failed handshakes); a certificate out of its validity period is worth a warning. */
static srtm_err cert_and_key_match(const char *cert_file, const char *cert, const char *key_file,
                                   const char *key, size_t key_len)
{
    BIO *cb = BIO_new_mem_buf(cert, -1), *kb = BIO_new_mem_buf(key, (int)key_len);
    X509 *x = cb != NULL ? PEM_read_bio_X509(cb, NULL, no_password, NULL) : NULL;
    EVP_PKEY *k = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, no_password, NULL) : NULL;
    srtm_err err = SRTM_OK;
    if (x == NULL) {
        log_error("tls-cert %s holds no PEM certificate", cert_file);
        err = SRTM_E_INVALID;
    } else if (k == NULL) {
        log_error("tls-key %s holds no PEM private key (an encrypted key is not supported)",
                  key_file);
        err = SRTM_E_INVALID;
    } else if (X509_check_private_key(x, k) != 1) {
        log_error("tls-key %s is not the key of the certificate in tls-cert %s", key_file,
                  cert_file);
        err = SRTM_E_INVALID;
    } else if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0 ||
               X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
        log_warn("tls-cert %s is not valid now (outside its validity period): verifiers "
                 "will refuse it",
                 cert_file);
    }
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    return err;
}

static srtm_err read_pem(const char *key, const char *path, char **out)
{
    size_t len = 0;
    srtm_err err = read_small_file(path, TLS_FILE_MAX, out, &len);
    if (err != SRTM_OK)
        log_error("%s %s: cannot read it: %s", key, path, srtm_strerror(err));
    return err;
}

srtm_err server_tls_load(const char *cert_file, const char *key_file, const char *ca_file,
                         uid_t owner_ok, server_tls *out)
{
    memset(out, 0, sizeof(*out));
    char *cert = NULL, *key = NULL, *ca = NULL, *probe_cert = NULL, *probe_key = NULL;
    size_t key_len = 0;
    srtm_err err = key_file_ok(key_file, owner_ok) ? SRTM_OK : SRTM_E_DENIED;
    if (err == SRTM_OK)
        err = read_pem("tls-cert", cert_file, &cert);
    if (err == SRTM_OK && (err = read_small_file(key_file, TLS_FILE_MAX, &key, &key_len)) !=
                              SRTM_OK)
        log_error("tls-key %s: cannot read it: %s", key_file, srtm_strerror(err));
    if (err == SRTM_OK)
        err = cert_and_key_match(cert_file, cert, key_file, key, key_len);
    if (err == SRTM_OK)
        err = read_pem("tls-ca", ca_file, &ca);
    if (err == SRTM_OK && (err = probe_identity(&probe_cert, &probe_key)) != SRTM_OK)
        log_error("TLS: cannot make the listener probe's certificate: %s", srtm_strerror(err));
    if (err == SRTM_OK)
        err = listen_config(cert, key, ca, probe_cert, &out->listen);
    if (err == SRTM_OK)
        err = probe_config(probe_cert, probe_key, &out->probe);
    if (key != NULL) {
        OPENSSL_cleanse(key, key_len);
        free(key);
    }
    free(cert);
    free(ca);
    pem_free(probe_cert);
    pem_free(probe_key);
    if (err != SRTM_OK)
        server_tls_free(out);
    return err;
}

void server_tls_free(server_tls *t)
{
    if (t == NULL)
        return;
    if (t->listen != NULL)
        nng_tls_config_free(t->listen);
    if (t->probe != NULL)
        nng_tls_config_free(t->probe);
    t->listen = t->probe = NULL;
}
