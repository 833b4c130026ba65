/*
 * srtmctl's failures: one line on stderr, the exit code of ctl_exit_help and, with
 * --json, the error object on stdout.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

int exit_code_for(srtm_err err)
{
    if (err == SRTM_E_TRANSPORT || err == SRTM_E_TIMEOUT)
        return CTL_UNREACHABLE;
    if (err == SRTM_E_IO)
        return CTL_LOCAL_FILE;
    return CTL_FAILED;
}

/* Usage errors come before a ctx exists: main says once whether --json was given. */
static bool json_errors;

void ctl_set_json_errors(bool on)
{
    json_errors = on;
}

/* {"error":{"id":ID,"status":N,"message":TEXT}} (docs/json.md). */
static void json_error_object(const char *id, srtm_err status, const char *message)
{
    json_object *o = json_object_new_object();
    json_object *e = json_object_new_object();
    bool ok = jput(e, "id", json_object_new_string(id));
    ok = ok && jput(e, "status", json_object_new_int((int)status));
    ok = ok && jput(e, "message", json_object_new_string(message));
    ok = jput(o, "error", e) && ok;
    emit_json(o, ok);
}

void json_error(const ctx *c, srtm_err err, const char *message)
{
    if (c->g.json)
        json_error_object(srtm_err_id(err), err, message[0] != '\0' ? message : srtm_strerror(err));
}

int fail(const ctx *c, srtm_err err)
{
    const char *msg = c->conn != NULL ? srtm_last_message(c->conn) : "";
    char where[MAX_URL + 32] = "";
    if (msg[0] == '\0' && exit_code_for(err) == CTL_UNREACHABLE) {
        /* The daemon said nothing, so name the place it was looked for. */
        snprintf(where, sizeof(where), "%s srtmd at %s",
                 err == SRTM_E_TIMEOUT ? "no answer from" : "could not reach",
                 c->g.socket != NULL ? c->g.socket : "libsrtm's default socket");
        msg = where;
    }
    if (msg[0] != '\0')
        fprintf(stderr, "srtmctl: %s: %s\n", srtm_strerror(err), msg);
    else
        fprintf(stderr, "srtmctl: %s\n", srtm_strerror(err));
    json_error(c, err, msg);
    return exit_code_for(err);
}

int file_error(const ctx *c, srtm_err err, const char *fmt, ...)
{
    char msg[PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "srtmctl: %s\n", msg);
    json_error(c, err, msg);
    return CTL_LOCAL_FILE;
}

int usage_error(const command *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, "srtmctl: %s: %s (try 'srtmctl %s --help')\n", cmd->name, msg,
                cmd->name);
    else
        fprintf(stderr, "srtmctl: %s (try 'srtmctl --help')\n", msg);
    if (json_errors)
        json_error_object("usage", SRTM_E_INVALID, msg);
    return CTL_USAGE;
}

const char *cap_load_reason(srtm_err err)
{
    switch (err) {
    case SRTM_E_DENIED:
        return "must be a regular file (not a symlink) owned by you or root, mode 0600";
    case SRTM_E_INVALID:
        return "does not hold a capability (64 hex digits)";
    case SRTM_E_IO:
        return "cannot be read";
    default:
        return srtm_strerror(err);
    }
}
