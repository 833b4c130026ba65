/*
 * Capabilities: SRTM_CAP_LEN secret bytes, stored in files as hex. Loading refuses files
 * that others could read or replace, so a capability is not taken from a place an
 * attacker could have planted or copied it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common.h"

#define CAP_HEX_LEN (2u * SRTM_CAP_LEN)

SRTM_API void srtm_cap_wipe(srtm_cap *cap)
{
    if (cap != NULL)
        OPENSSL_cleanse(cap->bytes, sizeof(cap->bytes));
}

SRTM_API srtm_err srtm_cap_from_hex(const char *hex, srtm_cap *out)
{
    if (hex == NULL || out == NULL)
        return SRTM_E_INVALID;
    srtm_cap tmp;
    srtm_err err = hex_decode(hex, strnlen(hex, CAP_HEX_LEN + 1), tmp.bytes, SRTM_CAP_LEN);
    if (err == SRTM_OK)
        *out = tmp;
    srtm_cap_wipe(&tmp);
    return err;
}

SRTM_API srtm_err srtm_cap_to_hex(const srtm_cap *cap, char *out, size_t out_size)
{
    if (cap == NULL || out == NULL)
        return SRTM_E_INVALID;
    return hex_encode(cap->bytes, SRTM_CAP_LEN, out, out_size);
}

SRTM_API srtm_err srtm_cap_load(const char *path, srtm_cap *out)
{
    if (path == NULL || out == NULL)
        return SRTM_E_INVALID;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below as
     * not a regular file. Reads of a regular file ignore the flag. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return errno == ELOOP ? SRTM_E_DENIED : SRTM_E_IO;
    struct stat st;
    srtm_err err = SRTM_OK;
    if (fstat(fd, &st) != 0)
        err = SRTM_E_IO;
    else if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 ||
             (st.st_uid != geteuid() && st.st_uid != 0))
        err = SRTM_E_DENIED;
    char buf[CAP_HEX_LEN + 3];
    size_t len = 0;
    while (err == SRTM_OK && len < sizeof(buf)) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            err = SRTM_E_IO;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    int saved_errno = errno;
    close(fd);
    errno = saved_errno;
    if (err == SRTM_OK) {
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        if (len != CAP_HEX_LEN)
            err = SRTM_E_INVALID;
    }
    srtm_cap tmp;
    if (err == SRTM_OK)
        err = hex_decode(buf, len, tmp.bytes, SRTM_CAP_LEN);
    if (err == SRTM_OK)
        *out = tmp;
    OPENSSL_cleanse(buf, sizeof(buf));
    srtm_cap_wipe(&tmp);
    return err;
}

SRTM_API srtm_err srtm_cap_save(const char *path, const srtm_cap *cap)
{
    if (path == NULL || cap == NULL)
        return SRTM_E_INVALID;
    char text[CAP_HEX_LEN + 2];
    srtm_err err = hex_encode(cap->bytes, SRTM_CAP_LEN, text, sizeof(text));
    if (err != SRTM_OK)
        return err;
    text[CAP_HEX_LEN] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        OPENSSL_cleanse(text, sizeof(text));
        return errno == EEXIST ? SRTM_E_EXISTS : SRTM_E_IO;
    }
    if (write_full(fd, text, CAP_HEX_LEN + 1) != 0)
        err = SRTM_E_IO;
    if (err == SRTM_OK && (fchmod(fd, 0600) != 0 || fsync(fd) != 0))
        err = SRTM_E_IO;
    if (close(fd) != 0 && err == SRTM_OK)
        err = SRTM_E_IO;
    if (err != SRTM_OK)
        unlink(path);
    OPENSSL_cleanse(text, sizeof(text));
    return err;
}
