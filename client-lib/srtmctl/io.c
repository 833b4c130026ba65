/*
 * srtmctl's local inputs and outputs: a path names a file, "-" stdin (for inputs) or
 * stdout (for outputs). A failure names the file and says why (strerror).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

bool ctl_is_stdio(const char *path)
{
    return strcmp(path, "-") == 0;
}

/* An fd to read path from, or -1 with errno set. A named path must be a regular file
 * (a directory is EISDIR); stdin may be anything readable. */
static int open_input(const char *path)
{
    if (ctl_is_stdio(path))
        return STDIN_FILENO;
    /* O_NONBLOCK so that a FIFO does not block the open; it is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    int e = fstat(fd, &st) != 0   ? errno
            : S_ISDIR(st.st_mode) ? EISDIR
            : !S_ISREG(st.st_mode) ? EINVAL
                                   : 0;
    if (e != 0) {
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void close_input(int fd)
{
    if (fd != STDIN_FILENO)
        close(fd);
}

/* One read, retried on EINTR; a descriptor opened O_NONBLOCK is a regular file here. */
static ssize_t read_some(int fd, void *buf, size_t len)
{
    ssize_t n;
    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

static const char *input_name(const char *path)
{
    return ctl_is_stdio(path) ? "stdin" : path;
}

int ctl_read_input(const ctx *c, const char *what, const char *path, size_t max, char **buf,
                   size_t *len)
{
    int fd = open_input(path);
    if (fd < 0)
        return file_error(c, SRTM_E_IO, "%s '%s' cannot be read: %s", what, input_name(path),
                          strerror(errno));
    char *b = malloc(max + 2);
    size_t n = 0;
    int e = b == NULL ? ENOMEM : 0;
    while (e == 0 && n <= max) {
        ssize_t got = read_some(fd, b + n, max + 1 - n);
        if (got < 0)
            e = errno;
        else if (got == 0)
            break;
        else
            n += (size_t)got;
    }
    close_input(fd);
    int rc = CTL_CONTINUE;
    if (e != 0)
        rc = file_error(c, SRTM_E_IO, "%s '%s' cannot be read: %s", what, input_name(path),
                        strerror(e));
    else if (n > max)
        rc = file_error(c, SRTM_E_TOO_BIG, "%s '%s' is larger than %zu bytes", what,
                        input_name(path), max);
    if (rc != CTL_CONTINUE) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return CTL_CONTINUE;
}

/* SHA-256 of everything fd gives; 0 or the errno of a failed read (EIO for a hashing
 * failure). */
static int hash_fd(int fd, uint8_t out[SRTM_DIGEST_LEN])
{
    sha256_hasher *h = NULL;
    uint8_t buf[65536];
    srtm_err err = sha256_hasher_new(&h);
    if (err == SRTM_OK)
        err = sha256_hasher_begin(h);
    int e = 0;
    while (err == SRTM_OK && e == 0) {
        ssize_t n = read_some(fd, buf, sizeof(buf));
        if (n < 0)
            e = errno;
        else if (n == 0)
            break;
        else
            err = sha256_hasher_update(h, buf, (size_t)n);
    }
    if (err == SRTM_OK && e == 0)
        err = sha256_hasher_finish(h, out);
    sha256_hasher_free(h);
    return e != 0 ? e : err != SRTM_OK ? EIO : 0;
}

int ctl_hash_input(const ctx *c, const char *what, const char *path,
                   uint8_t out[SRTM_DIGEST_LEN])
{
    int fd = open_input(path);
    int e = fd < 0 ? errno : hash_fd(fd, out);
    if (fd >= 0)
        close_input(fd);
    if (e != 0)
        return file_error(c, SRTM_E_IO, "%s '%s' cannot be read: %s", what, input_name(path),
                          strerror(e));
    return CTL_CONTINUE;
}
