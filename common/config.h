/*
 * srtmd's configuration file, one grammar for every reader (srtmd, srtm-launch,
 * srtm-keymgr), so that what srtm-launch measures is exactly what srtmd runs with:
 *
 *   key value      one option per line; a key from config_keys[] below
 *   key            a flag (an option that takes no value)
 *   # comment      from '#' to the end of the line; blank lines are ignored
 *
 * Errors, each reported as "FILE:LINE: message": an unknown key, a key given twice,
 * "key=value", a missing value, a value given to a flag, more than one value, a line
 * longer than CONFIG_LINE_MAX, a NUL byte, a file larger than CONFIG_MAX_BYTES.
 * The file is read once; the bytes parsed are the bytes measured (config_bytes).
 */
#ifndef SRTM_CONFIG_H
#define SRTM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#define CONFIG_MAX_BYTES (64u * 1024u)
#define CONFIG_LINE_MAX 1024u
#define CONFIG_MSG_MAX 1400u

/* Every option srtmd knows, in the order of config_keys[]. A new option is one row here
 * and one row there. */
typedef enum config_key_id {
    CFG_LISTEN, CFG_LISTEN_TCP, CFG_ADMIN_CAP, CFG_SOCKET_MODE, CFG_WORKERS, CFG_PIDFILE,
    CFG_FOREGROUND, CFG_LOG_LEVEL, CFG_USER, CFG_NO_SECCOMP, CFG_NO_TPM, CFG_TCTI,
    CFG_SRTM_PCR, CFG_PROOF_PCRS, CFG_AIK_HANDLE, CFG_IRK_BLOB, CFG_IRK_SCHEME,
    CFG_INSECURE_RESETTABLE_PCR, CFG_LOCK_FILE,
    CFG_LOG_ENTRIES_PER_COMPONENT, CFG_LOG_BYTES_PER_COMPONENT, CFG_LOG_ENTRIES_PER_CCR,
    CFG_LOG_BYTES_PER_CCR, CFG_CHILDREN_PER_COMPONENT, CFG_MAX_DEPTH, CFG_COMPONENTS_PER_UID,
    CFG_MEMORY_BUDGET, CFG_TLS_CERT, CFG_TLS_KEY, CFG_TLS_CA,
    CFG_KEY_COUNT
} config_key_id;

typedef struct config_key {
    const char *name;  /* "srtm-pcr": the file's key; "--srtm-pcr" on srtmd's command line */
    bool takes_value;  /* false: a flag */
    /* May stand on srtmd's command line when srtmd uses a TPM: only options that cannot
     * change what a verifier trusts (docs/configuration.md, "Measured options"). */
    bool unmeasured_ok;
} config_key;

extern const config_key config_keys[CFG_KEY_COUNT];

/* The key called name; false when there is none. */
bool config_key_find(const char *name, config_key_id *out);

/* A parsed configuration file. */
typedef struct srtm_config srtm_config;

/*
 * Read the file at path once and parse it. On SRTM_OK *out is the configuration (free it
 * with config_free). On an error msg holds "FILE:LINE: message" (or "FILE: message") and,
 * when out_partial is not NULL, *out_partial the lines accepted before the error (free it
 * too; NULL when the file could not be read).
 */
SRTM_WUR srtm_err config_load(const char *path, srtm_config **out, srtm_config **out_partial,
                              char *msg, size_t msg_size);

/* The same for bytes already in memory; name is the file name used in messages. */
SRTM_WUR srtm_err config_parse(const char *name, const char *bytes, size_t len,
                               srtm_config **out, srtm_config **out_partial, char *msg,
                               size_t msg_size);

/* The value of key id (NULL when absent; "" for a flag that is present). */
const char *config_get(const srtm_config *c, config_key_id id);

/* The line key id was given on (0 when absent). */
unsigned config_line(const srtm_config *c, config_key_id id);

/* The file's bytes as read and parsed: what srtm-launch measures. */
const char *config_bytes(const srtm_config *c, size_t *len_out);

/* The file name given to config_load. */
const char *config_name(const srtm_config *c);

/* NULL-safe. */
void config_free(srtm_config *c);

#endif /* SRTM_CONFIG_H */
