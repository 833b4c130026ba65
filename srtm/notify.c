/*
 * sd_notify(3)'s protocol, one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a
 * path, or '@' for the abstract namespace), written here instead of linking libsystemd:
 * libsystemd would bring libgcrypt, liblz4, libzstd, liblzma and libcap into the address
 * space of a sandboxed daemon for one sendto; sd_notify(3) documents the protocol as stable
 * for reimplementation.
 * Uses socket, sendto and close only, which srtmd's seccomp filter allows.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "notify.h"

bool notify_systemd(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return true;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
        log_warn("NOTIFY_SOCKET=%s: not a Unix socket path; systemd is not told", path);
        return false;
    }
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: the name is exactly n bytes, no NUL */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t sent = -1;
    if (fd >= 0) {
        sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (sent != (ssize_t)strlen(state)) {
        log_warn("cannot tell systemd %s on %s: %s", state, path, strerror(errno));
        return false;
    }
    return true;
}
