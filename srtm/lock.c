/* One srtmd per TPM; see lock.h. The lock file is never removed: removing it would let a
 * second srtmd lock a new file while the first still holds the old one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock.h"

bool lock_runtime_dir(char *out, size_t size)
{
    int n;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (geteuid() == 0)
        n = snprintf(out, size, "/run/srtm");
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, size, "%s/srtm", xdg);
    else
        n = snprintf(out, size, "/tmp/srtm-%u", (unsigned)geteuid());
    return n > 0 && (size_t)n < size;
}

bool lock_default_path(const char *tcti, const char *runtime_dir, char *out, size_t size)
{
    int n;
    if (tcti == NULL) {
        n = snprintf(out, size, "%s/" LOCK_DEFAULT_NAME, runtime_dir);
    } else {
        uint8_t d[SRTM_DIGEST_LEN];
        char hex[2 * SRTM_DIGEST_LEN + 1];
        if (srtm_sha256(tcti, strlen(tcti), d) != SRTM_OK ||
            hex_encode(d, sizeof(d), hex, sizeof(hex)) != SRTM_OK)
            return false;
        n = snprintf(out, size, "%s/" LOCK_DEFAULT_PREFIX "%.16s.lock", runtime_dir, hex);
    }
    return n > 0 && (size_t)n < size;
}

/* The pid the holder wrote, or 0 when the file does not say. */
static long holder_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end = NULL;
    long pid = strtol(buf, &end, 10);
    return end != buf && pid > 0 ? pid : 0;
}

/* The lock file must be srtmd's own: whoever else could open it could hold the lock and
 * keep srtmd from starting. */
static srtm_err check_file(int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        log_error("lock file %s: %s", path, strerror(errno));
        return SRTM_E_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        log_error("lock file %s is not a regular file", path);
        return SRTM_E_DENIED;
    }
    if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        log_error("lock file %s belongs to uid %u or is open to group or others (mode %04o): "
                  "another user could hold it; remove it and start srtmd again",
                  path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        return SRTM_E_DENIED;
    }
    return SRTM_OK;
}

static void report_holder(int fd, const char *path)
{
    char pid[24] = "unknown";
    long holder = holder_pid(fd);
    if (holder > 0)
        snprintf(pid, sizeof(pid), "%ld", holder);
    log_error("another srtmd (pid %s) serves this TPM; it holds %s. A second srtmd would "
              "close the proof period again and spoil the quotes of the one that serves "
              "until a reboot: stop it first (or, for another TPM, give tcti or "
              "lock-file in the configuration)",
              pid, path);
}

static srtm_err write_pid(int fd, const char *path)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        log_error("cannot write the pid into the lock file %s: %s", path, strerror(errno));
        return SRTM_E_IO;
    }
    return SRTM_OK;
}

/* An exclusive lock on fd without waiting: SRTM_E_EXISTS (the holder named) when another
 * process holds it, SRTM_E_IO on any other failure. */
static srtm_err try_lock(int fd, const char *path)
{
    int rv;
    do {
        rv = flock(fd, LOCK_EX | LOCK_NB);
    } while (rv != 0 && errno == EINTR);
    if (rv == 0)
        return SRTM_OK;
    if (errno == EWOULDBLOCK) {
        report_holder(fd, path);
        return SRTM_E_EXISTS;
    }
    log_error("cannot lock %s: %s", path, strerror(errno));
    return SRTM_E_IO;
}

srtm_err lock_take(const char *path, int *fd_out)
{
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        int e = errno;
        log_error("cannot open the lock file %s: %s", path,
                  e == ELOOP ? "it is a symbolic link" : strerror(e));
        return e == ELOOP ? SRTM_E_DENIED : SRTM_E_IO;
    }
    srtm_err err = check_file(fd, path);
    if (err == SRTM_OK)
        err = try_lock(fd, path);
    if (err == SRTM_OK)
        err = write_pid(fd, path);
    if (err != SRTM_OK) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return SRTM_OK;
}

srtm_err lock_probe(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT)
        return SRTM_OK;
    if (fd < 0) {
        log_error("cannot open the lock file %s: %s", path,
                  errno == ELOOP ? "it is a symbolic link" : strerror(errno));
        return SRTM_E_IO;
    }
    srtm_err err = try_lock(fd, path);
    close(fd); /* releases the probe's lock */
    return err;
}
