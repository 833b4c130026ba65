/*
 * Isolation of srtmd from the rest of the host: no core dumps and no ptrace, OpenSSL's
 * locked secure heap for the IRK's private key, a dedicated user, a seccomp allow-list.
 * The order in srtmd's main is part of the design (see docs/security.md):
 *   sandbox_protect_process, sandbox_secure_heap   before any secret exists
 *   ... proof period, service, listeners, admin capability and pid files ...
 *   sandbox_give_dir, sandbox_drop_privileges       once nothing else needs root
 *   sandbox_seccomp                                 last, just before serving
 */
#ifndef SRTM_SANDBOX_H
#define SRTM_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Size of OpenSSL's secure heap arena and its smallest allocation (powers of two). */
#define SANDBOX_SECURE_HEAP_SIZE (32u * 1024u)
#define SANDBOX_SECURE_HEAP_MIN 16u

typedef struct sandbox_user {
    uid_t uid;
    gid_t gid; /* the user's primary group */
    char name[64];
} sandbox_user;

/* Not dumpable (no core file, no ptrace by other processes of the same user, /proc/PID
 * files root-owned) and RLIMIT_CORE 0. Returns false (logged) if either fails. */
bool sandbox_protect_process(void) __attribute__((warn_unused_result));

/* Set up OpenSSL's secure heap (mlocked, MADV_DONTDUMP, wiped on free) before any private
 * key is created, so that the IRK's private scalar lives there. Returns false, with a
 * warning, when it could not be set up or locked (e.g. RLIMIT_MEMLOCK too small): srtmd
 * then runs without it. */
bool sandbox_secure_heap(void);

/* Bytes of the secure heap in use (0 without one). */
size_t sandbox_secure_heap_used(void);

/* Look a user up by name; false (logged) if there is none or it is root. */
bool sandbox_user_lookup(const char *name, sandbox_user *out) __attribute__((warn_unused_result));

/*
 * Whether dir may be handed to u: a directory (not a symbolic link) owned by root or u,
 * writable by its owner only, holding nothing but srtmd's own files, i.e. entries named
 * as one of own_names (NULL-terminated basenames: the socket, the admin capability, the
 * pid and lock files; a name ending in '*' is a prefix) or one of them followed by '.'
 * (their temporaries). A directory
 * srtmd has just created passes, and so does its own runtime directory; a shared one
 * (/run, /tmp, a directory of other services) does not. false is logged.
 */
bool sandbox_dir_dedicated(const char *dir, const sandbox_user *u, const char *const *own_names)
    __attribute__((warn_unused_result));

/* Hand dir (srtmd's runtime directory) to u, so that after the drop srtmd can still replace
 * its socket (listener watchdog) and remove its socket, admin capability and pid files at
 * exit. Only a directory that passes sandbox_dir_dedicated (checked again on the opened
 * directory) is touched; it stays u's after srtmd exits. */
bool sandbox_give_dir(const char *dir, const sandbox_user *u, const char *const *own_names)
    __attribute__((warn_unused_result));

/* Become u for good: supplementary groups (initgroups), setgid, setuid, in that order, then
 * check that root cannot be regained. Any failure returns false (logged); the caller must
 * not go on serving. */
bool sandbox_drop_privileges(const sandbox_user *u) __attribute__((warn_unused_result));

/* Install the seccomp allow-list on every thread of the process (TSYNC); any other system
 * call kills the process. Returns false (logged) if it could not be installed. */
bool sandbox_seccomp(void) __attribute__((warn_unused_result));

#endif
