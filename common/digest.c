/*
 * SHA-256 through OpenSSL 3 EVP. The digest is fetched once per process (implicit
 * fetching on every call costs more than the hash of a CCR extend) and each hasher
 * reuses its EVP_MD_CTX.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common.h"

struct sha256_hasher {
    EVP_MD_CTX *ctx;
};

static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    /* Kept for the life of the process: every hasher uses it. */
    g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
    if (pthread_once(&g_sha256_once, fetch_sha256) != 0)
        return NULL;
    return g_sha256;
}

srtm_err sha256_hasher_new(sha256_hasher **out)
{
    if (sha256_md() == NULL)
        return SRTM_E_CRYPTO;
    sha256_hasher *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return SRTM_E_NO_MEMORY;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL) {
        free(h);
        return SRTM_E_NO_MEMORY;
    }
    *out = h;
    return SRTM_OK;
}

void sha256_hasher_free(sha256_hasher *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

srtm_err sha256_hasher_begin(sha256_hasher *h)
{
    return EVP_DigestInit_ex(h->ctx, sha256_md(), NULL) == 1 ? SRTM_OK : SRTM_E_CRYPTO;
}

srtm_err sha256_hasher_update(sha256_hasher *h, const void *data, size_t len)
{
    if (len == 0)
        return SRTM_OK;
    return EVP_DigestUpdate(h->ctx, data, len) == 1 ? SRTM_OK : SRTM_E_CRYPTO;
}

srtm_err sha256_hasher_finish(sha256_hasher *h, uint8_t out[SRTM_DIGEST_LEN])
{
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != SRTM_DIGEST_LEN)
        return SRTM_E_CRYPTO;
    return SRTM_OK;
}

srtm_err sha256_hasher_two(sha256_hasher *h, const void *a, size_t alen, const void *b,
                           size_t blen, uint8_t out[SRTM_DIGEST_LEN])
{
    srtm_err err = sha256_hasher_begin(h);
    if (err == SRTM_OK)
        err = sha256_hasher_update(h, a, alen);
    if (err == SRTM_OK)
        err = sha256_hasher_update(h, b, blen);
    if (err == SRTM_OK)
        err = sha256_hasher_finish(h, out);
    return err;
}

SRTM_API srtm_err srtm_sha256(const void *data, size_t len, uint8_t digest_out[SRTM_DIGEST_LEN])
{
    if (data == NULL && len != 0)
        return SRTM_E_INVALID;
    sha256_hasher *h = NULL;
    srtm_err err = sha256_hasher_new(&h);
    if (err != SRTM_OK)
        return err;
    uint8_t tmp[SRTM_DIGEST_LEN];
    err = sha256_hasher_two(h, data, len, NULL, 0, tmp);
    if (err == SRTM_OK)
        memcpy(digest_out, tmp, sizeof(tmp));
    sha256_hasher_free(h);
    return err;
}

SRTM_API srtm_err srtm_sha256_file(const char *path, uint8_t digest_out[SRTM_DIGEST_LEN])
{
    if (path == NULL)
        return SRTM_E_INVALID;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return SRTM_E_IO;
    sha256_hasher *h = NULL;
    srtm_err err = sha256_hasher_new(&h);
    if (err == SRTM_OK)
        err = sha256_hasher_begin(h);
    uint8_t buf[65536];
    while (err == SRTM_OK) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = SRTM_E_IO;
            break;
        }
        if (n == 0)
            break;
        err = sha256_hasher_update(h, buf, (size_t)n);
    }
    uint8_t tmp[SRTM_DIGEST_LEN];
    if (err == SRTM_OK)
        err = sha256_hasher_finish(h, tmp);
    if (err == SRTM_OK)
        memcpy(digest_out, tmp, sizeof(tmp));
    sha256_hasher_free(h);
    close(fd);
    return err;
}
