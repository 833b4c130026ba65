/*
 * srtmd's configuration grammar; see config.h. The only parser of the file: srtmd,
 * srtm-launch and srtm-keymgr all call config_load, so they cannot read a file two ways.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const config_key config_keys[CFG_KEY_COUNT] = {
    [CFG_LISTEN] = {"listen", true, false},
    [CFG_LISTEN_TCP] = {"listen-tcp", true, false},
    [CFG_ADMIN_CAP] = {"admin-cap", true, false},
    [CFG_SOCKET_MODE] = {"socket-mode", true, false},
    [CFG_WORKERS] = {"workers", true, false},
    [CFG_PIDFILE] = {"pidfile", true, true},
    [CFG_FOREGROUND] = {"foreground", false, true},
    [CFG_LOG_LEVEL] = {"log-level", true, true},
    [CFG_USER] = {"user", true, false},
    [CFG_NO_SECCOMP] = {"no-seccomp", false, false},
    [CFG_NO_TPM] = {"no-tpm", false, false},
    [CFG_TCTI] = {"tcti", true, true},
    [CFG_SRTM_PCR] = {"srtm-pcr", true, false},
    [CFG_PROOF_PCRS] = {"proof-pcrs", true, false},
    [CFG_AIK_HANDLE] = {"aik-handle", true, false},
    [CFG_IRK_BLOB] = {"irk-blob", true, false},
    [CFG_IRK_SCHEME] = {"irk-scheme", true, false},
    [CFG_INSECURE_RESETTABLE_PCR] = {"insecure-resettable-pcr", false, false},
    [CFG_LOCK_FILE] = {"lock-file", true, false},
    [CFG_LOG_ENTRIES_PER_COMPONENT] = {"log-entries-per-component", true, false},
    [CFG_LOG_BYTES_PER_COMPONENT] = {"log-bytes-per-component", true, false},
    [CFG_LOG_ENTRIES_PER_CCR] = {"log-entries-per-ccr", true, false},
    [CFG_LOG_BYTES_PER_CCR] = {"log-bytes-per-ccr", true, false},
    [CFG_CHILDREN_PER_COMPONENT] = {"children-per-component", true, false},
    [CFG_MAX_DEPTH] = {"max-depth", true, false},
    [CFG_COMPONENTS_PER_UID] = {"components-per-uid", true, false},
    [CFG_MEMORY_BUDGET] = {"memory-budget", true, false},
    [CFG_TLS_CERT] = {"tls-cert", true, false},
    [CFG_TLS_KEY] = {"tls-key", true, false},
    [CFG_TLS_CA] = {"tls-ca", true, false},
};

struct srtm_config {
    char name[512];
    char *bytes;                    /* the file as read, NUL-terminated */
    size_t len;
    char *work;                     /* a copy cut into keys and values */
    const char *value[CFG_KEY_COUNT];
    unsigned line[CFG_KEY_COUNT];
};

bool config_key_find(const char *name, config_key_id *out)
{
    for (int i = 0; i < CFG_KEY_COUNT; i++)
        if (strcmp(config_keys[i].name, name) == 0) {
            *out = (config_key_id)i;
            return true;
        }
    return false;
}

static srtm_err fail(char *msg, size_t size, const char *name, unsigned line, const char *fmt,
                     ...)
{
    char text[CONFIG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(msg, size, "%s:%u: %s", name, line, text);
    else
        snprintf(msg, size, "%s: %s", name, text);
    return SRTM_E_INVALID;
}

/* One line (without its newline, NUL-terminated, writable) into c. */
static srtm_err parse_line(srtm_config *c, char *line, unsigned no, char *msg, size_t size)
{
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    char *save = NULL;
    char *key = strtok_r(line, " \t\r", &save);
    if (key == NULL)
        return SRTM_OK;
    char *value = strtok_r(NULL, " \t\r", &save);
    char *more = value != NULL ? strtok_r(NULL, " \t\r", &save) : NULL;
    config_key_id id;
    if (strchr(key, '=') != NULL)
        return fail(msg, size, c->name, no, "'%.64s': write 'key value' (a space, no '=')",
                    key);
    if (!config_key_find(key, &id))
        return fail(msg, size, c->name, no, "unknown key '%.64s'", key);
    if (c->line[id] != 0)
        return fail(msg, size, c->name, no, "'%s' given twice (first on line %u)", key,
                    c->line[id]);
    if (config_keys[id].takes_value && value == NULL)
        return fail(msg, size, c->name, no, "'%s' needs a value", key);
    if (!config_keys[id].takes_value && value != NULL)
        return fail(msg, size, c->name, no, "'%s' is a flag and takes no value", key);
    if (more != NULL)
        return fail(msg, size, c->name, no, "'%s' takes one value", key);
    c->value[id] = value != NULL ? value : "";
    c->line[id] = no;
    return SRTM_OK;
}

static srtm_err parse_all(srtm_config *c, char *msg, size_t size)
{
    if (memchr(c->bytes, '\0', c->len) != NULL)
        return fail(msg, size, c->name, 0, "contains a NUL byte");
    memcpy(c->work, c->bytes, c->len + 1);
    srtm_err err = SRTM_OK;
    char *p = c->work;
    for (unsigned no = 1; err == SRTM_OK && *p != '\0'; no++) {
        char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (n > CONFIG_LINE_MAX)
            return fail(msg, size, c->name, no, "line longer than %u bytes", CONFIG_LINE_MAX);
        if (nl != NULL)
            *nl = '\0';
        err = parse_line(c, p, no, msg, size);
        p = nl != NULL ? nl + 1 : p + n;
    }
    return err;
}

srtm_err config_parse(const char *name, const char *bytes, size_t len, srtm_config **out,
                      srtm_config **out_partial, char *msg, size_t msg_size)
{
    if (out_partial != NULL)
        *out_partial = NULL;
    if (len > CONFIG_MAX_BYTES)
        return fail(msg, msg_size, name, 0, "larger than %u bytes", CONFIG_MAX_BYTES);
    srtm_config *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SRTM_E_NO_MEMORY;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->bytes = malloc(len + 1);
    c->work = malloc(len + 1);
    if (c->bytes == NULL || c->work == NULL) {
        config_free(c);
        return SRTM_E_NO_MEMORY;
    }
    memcpy(c->bytes, bytes, len);
    c->bytes[len] = '\0';
    c->len = len;
    srtm_err err = parse_all(c, msg, msg_size);
    if (err == SRTM_OK)
        *out = c;
    else if (out_partial != NULL)
        *out_partial = c;
    else
        config_free(c);
    return err;
}

srtm_err config_load(const char *path, srtm_config **out, srtm_config **out_partial, char *msg,
                     size_t msg_size)
{
    if (out_partial != NULL)
        *out_partial = NULL;
    char *text = NULL;
    size_t len = 0;
    srtm_err err = read_small_file(path, CONFIG_MAX_BYTES, &text, &len);
    if (err == SRTM_E_TOO_BIG)
        return fail(msg, msg_size, path, 0, "larger than %u bytes", CONFIG_MAX_BYTES);
    if (err != SRTM_OK) {
        snprintf(msg, msg_size, "%s: cannot read it: %s", path, srtm_strerror(err));
        return err;
    }
    err = config_parse(path, text, len, out, out_partial, msg, msg_size);
    free(text);
    return err;
}

const char *config_get(const srtm_config *c, config_key_id id)
{
    return c != NULL && id < CFG_KEY_COUNT ? c->value[id] : NULL;
}

unsigned config_line(const srtm_config *c, config_key_id id)
{
    return c != NULL && id < CFG_KEY_COUNT ? c->line[id] : 0;
}

const char *config_bytes(const srtm_config *c, size_t *len_out)
{
    *len_out = c->len;
    return c->bytes;
}

const char *config_name(const srtm_config *c)
{
    return c->name;
}

void config_free(srtm_config *c)
{
    if (c == NULL)
        return;
    free(c->bytes);
    free(c->work);
    free(c);
}
