/* hex, the monotonic clock, file reading and UTF-8 checking shared by srtmd, libsrtm and
 * the tools. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

int64_t srtm_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool url_host(const char *url, char *out, size_t size)
{
    const char *h = strstr(url, "://");
    if (h == NULL)
        return false;
    h += 3;
    const char *end = strrchr(h, ':');
    if (end == NULL || end == h)
        return false;
    if (*h == '[' && end[-1] == ']') {
        h++;
        end--;
    }
    if (end <= h || (size_t)(end - h) >= size)
        return false;
    memcpy(out, h, (size_t)(end - h));
    out[end - h] = '\0';
    return true;
}

srtm_err hex_encode(const uint8_t *in, size_t len, char *out, size_t out_size)
{
    static const char digits[] = "0123456789abcdef";
    if (out_size < 1 || len > (out_size - 1) / 2)
        return SRTM_E_TOO_BIG;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
    return SRTM_OK;
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

srtm_err hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len)
{
    if (hex == NULL || hex_len != 2 * out_len)
        return SRTM_E_INVALID;
    for (size_t i = 0; i < out_len; i++) {
        int hi = hex_nibble(hex[2 * i]);
        int lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return SRTM_E_INVALID;
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return SRTM_OK;
}

bool path_dir(const char *path, char *out, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    if (n >= size || (n == 0 && size < 2))
        return false;
    if (n == 0) {
        out[0] = '.';
        out[1] = '\0';
    } else {
        memcpy(out, path, n);
        out[n] = '\0';
    }
    return true;
}

int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO;
        off += (size_t)n;
    }
    return 0;
}

srtm_err write_file_replace(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return SRTM_E_IO;
    }
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
    int fd = open(tmp, flags, mode);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) /* left by a writer that died */
        fd = open(tmp, flags, mode);
    if (fd < 0)
        return SRTM_E_IO;
    int saved = fchmod(fd, mode) == 0 ? 0 : errno; /* whatever the umask */
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

srtm_err read_small_file(const char *path, size_t max_len, char **buf_out, size_t *len_out)
{
    /* O_NONBLOCK so that a FIFO does not block the open; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return SRTM_E_IO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return SRTM_E_IO;
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return SRTM_E_TOO_BIG;
    }
    char *buf = malloc(max_len + 1);
    if (buf == NULL) {
        close(fd);
        return SRTM_E_NO_MEMORY;
    }
    size_t len = 0;
    srtm_err err = SRTM_OK;
    for (;;) {
        /* Read one byte past max_len to notice a file that grew after fstat. */
        ssize_t n = read(fd, buf + len, max_len + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = SRTM_E_IO;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max_len) {
            err = SRTM_E_TOO_BIG;
            break;
        }
    }
    close(fd);
    if (err != SRTM_OK) {
        free(buf);
        return err;
    }
    buf[len] = '\0';
    *buf_out = buf;
    *len_out = len;
    return SRTM_OK;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t extra;
        uint32_t cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        /* Reject overlong forms, surrogates and code points past U+10FFFF. */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += extra + 1;
    }
    return true;
}
