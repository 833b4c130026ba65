/*
 * One srtmd per TPM. A second srtmd that reached its proof period would fail to obtain
 * the IRK and then close the period again, extending the SRTM PCR a second time: the
 * srtmd that serves would sign quotes whose PCRs no longer match the reference until the
 * next reboot. So srtmd takes an exclusive flock on a lock file before it touches the TPM
 * and holds it (the open descriptor) for its whole life, across the privilege drop; a
 * second srtmd with the same lock file exits before the TPM is touched.
 *
 * The lock is only as good as the agreement on its path: srtmd started with another
 * --lock-file, or with another --tcti string for the same TPM (the default path depends on
 * it), is not kept off (docs/security.md).
 */
#ifndef SRTM_LOCK_H
#define SRTM_LOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define LOCK_DEFAULT_NAME "srtmd.lock"
#define LOCK_DEFAULT_PREFIX "srtmd-" /* then 16 hex digits and ".lock" */

/* srtmd's default runtime directory: /run/srtm for root, else $XDG_RUNTIME_DIR/srtm or
 * /tmp/srtm-UID. The default lock file, socket and admin capability live there. */
SRTM_WUR bool lock_runtime_dir(char *out, size_t size);

/* The default lock file in runtime_dir: srtmd.lock for the default TPM (tcti NULL), else
 * srtmd-H.lock, H the first 16 hex digits of SHA-256(tcti), so that srtmds on different
 * TPMs (e.g. software TPMs on different ports) do not keep each other off. */
SRTM_WUR bool lock_default_path(const char *tcti, const char *runtime_dir, char *out,
                                size_t size);

/*
 * Take the lock at path (created 0600 if missing; it must be a regular file of root or of
 * this euid, never a symbolic link) and write this process's pid into it. On success
 * *fd_out is the descriptor that holds the lock: keep it open (it is close-on-exec) for as
 * long as srtmd runs. SRTM_E_EXISTS (logged with the holder's pid) when another process
 * holds it; other errors are logged too.
 */
SRTM_WUR srtm_err lock_take(const char *path, int *fd_out);

/*
 * srtm-launch, before it extends anything: SRTM_E_EXISTS (logged with the holder's pid)
 * when an srtmd holds the lock at path, SRTM_OK when none does (no file counts as free).
 * Only a probe: the lock is not kept, so two launches at the same instant can both pass;
 * the srtmd that loses then exits at lock_take (docs/security.md).
 */
SRTM_WUR srtm_err lock_probe(const char *path);

#endif /* SRTM_LOCK_H */
