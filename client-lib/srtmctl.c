/*
 * srtmctl: the command-line client of srtmd, built on the public libsrtm API only.
 *
 * Every command is one entry of a table and goes through the same phases: parse its
 * arguments (no I/O, so a usage error never touches a file or the daemon), load the
 * capability when the command mutates, connect, act, print. The command names, options,
 * output formats and exit codes are an interface: scripts outside the project call them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include <srtm/srtm.h>

#include "common.h"

/* Exit codes, documented in EXIT_HELP. */
enum {
    CTL_CONTINUE = -1, /* internal: no verdict yet, go on to the next phase */
    CTL_OK = 0,
    CTL_FAILED = 1,      /* srtmd refused, or the operation failed */
    CTL_USAGE = 2,       /* bad or missing arguments */
    CTL_UNREACHABLE = 3, /* srtmd could not be reached or did not answer in time */
    CTL_LOCAL_FILE = 4,  /* a local file could not be used */
};

#define MAX_URL 4096u
/* A --json log holds every entry in memory; past this many it stops and says where to
 * go on (--from next_offset), so memory stays bounded whatever the log length. */
#define LOG_JSON_MAX_ENTRIES 65536u
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define MAX_PATH_ARG 1024 /* bytes of a component path given for NAME */
#define HEX_DIGEST_LEN (2u * SRTM_DIGEST_LEN)

static const char EXIT_HELP[] =
    "Exit status:\n"
    "  0  success\n"
    "  1  srtmd refused the request or the operation failed; the reason is on stderr and,\n"
    "     with --json, also on stdout as {\"error\":..,\"code\":N,\"message\":..};\n"
    "     for verify: the evidence does not verify or a requested component is untrusted\n"
    "  2  usage error: a bad or missing argument, including a command that changes\n"
    "     state (register, extend, depend, undepend, revert, terminate) without --cap\n"
    "     (nothing is sent to srtmd)\n"
    "  3  srtmd could not be reached or did not answer in time\n"
    "  4  local file problem: the --cap file, --cap-out or --file is unreadable, exists,\n"
    "     or has unsafe permissions (a capability file must be mode 0600, owned by you\n"
    "     or root); for quote and verify: the evidence, AIK, policy or export files\n"
    "     cannot be read or written, or the policy or AIK file is malformed; the message\n"
    "     names the file; with --json also the error object\n";

typedef struct globals {
    const char *socket;   /* NULL: libsrtm's default */
    const char *cap_path; /* NULL: none given */
    bool json;
    int32_t timeout_ms; /* 0: libsrtm's default */
} globals;

typedef enum source_kind { SRC_NONE, SRC_DIGEST, SRC_FILE, SRC_DATA } source_kind;

/* Everything a command may take; each command reads the fields its options fill. */
typedef struct cmd_args {
    const char *name; /* component */
    uint32_t ccr;
    bool has_ccr;
    uint32_t ccr_count;
    const char *cap_out;
    source_kind source;
    unsigned n_sources;
    const char *source_arg; /* --file path or --data text */
    uint8_t digest[SRTM_DIGEST_LEN];
    const char *desc;
    uint32_t event_type;
    uint64_t from;
    /* quote and verify */
    uint8_t nonce[SRTM_MAX_NONCE];
    size_t nonce_len;
    const char *output;     /* quote: -o EVIDENCE */
    const char *export_dir; /* quote: --export-tpm DIR */
    const char *const *names; /* quote: NAME... (points into argv) */
    size_t n_names;
    const char *evidence; /* verify: EVIDENCE */
    const char *aik;      /* verify: --aik FILE */
    const char *policy;   /* verify: --policy FILE */
    /* hierarchical integrity management */
    const char *parent;  /* register --parent */
    const char *deps[SRTM_MAX_DEPS]; /* register --depends-on, pointing into deps_buf */
    size_t n_deps, deps_used;
    char deps_buf[SRTM_MAX_DEPS * (SRTM_MAX_NAME + 1)];
    uint32_t reversible[SRTM_MAX_CCRS_PER_REGISTER]; /* register --reversible */
    size_t n_reversible;
    const char *on;    /* depend, undepend: --on */
    const char *actor; /* depend, undepend, revert: --actor */
    uint64_t to_seq;   /* revert: --to */
    bool has_to;
    bool dot; /* graph --dot */
} cmd_args;

typedef struct ctx {
    globals g;
    srtm_conn *conn;
    srtm_cap cap;
} ctx;

/* What the positional arguments are. */
typedef enum pos_kind {
    POS_NAME_CCR = 0, /* NAME, then CCR */
    POS_NAMES,        /* any number of component names */
    POS_FILE,         /* one local file */
} pos_kind;

typedef struct command {
    const char *name;
    int (*run)(ctx *c, const cmd_args *a);
    bool needs_cap;
    bool needs_source;          /* exactly one of --digest, --file, --data */
    bool offline;               /* works on local files only: no connection to srtmd */
    pos_kind pos;
    unsigned min_pos, max_pos;  /* how many positional arguments */
    int (*check)(const struct command *cmd, const cmd_args *a); /* after parsing: options
                                                                   that must be given */
    const char *shortopts;      /* getopt short options after ':' (NULL: none) */
    const struct option *opts;  /* --help included */
    const char *synopsis;
    const char *help;
} command;

/* ---- small helpers ----------------------------------------------------------------- */

/* Digits only: strtoull alone would accept blanks, a sign and wrap "-1" to UINT64_MAX. */
static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!parse_u64(s, max, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* Text output keeps one record per line and fields split by spaces whatever a peer
 * stored: backslash, control bytes and the bytes in extra (spaces in non-final fields,
 * list separators) become escapes. */
static void print_escaped_set(const char *s, const char *extra)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p < 0x20 || *p == 0x7f || strchr(extra, *p) != NULL)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
}

static void print_escaped(const char *s, bool escape_space)
{
    print_escaped_set(s, escape_space ? " " : "");
}

static const char *policy_name(srtm_policy p)
{
    switch (p) {
    case SRTM_POLICY_IRREVERSIBLE:
        return "irreversible";
    case SRTM_POLICY_REVERSIBLE:
        return "reversible";
    }
    return "unknown";
}

/* ---- JSON output ------------------------------------------------------------------- */

/* Adds v under key, taking ownership of v; false (v released) when anything is NULL. */
static bool jput(json_object *o, const char *key, json_object *v)
{
    if (o == NULL || v == NULL || json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

static bool jput_hex(json_object *o, const char *key, const uint8_t *bytes, size_t len)
{
    char hex[2 * SRTM_DIGEST_LEN + 1];
    if (len > SRTM_DIGEST_LEN || hex_encode(bytes, len, hex, sizeof(hex)) != SRTM_OK)
        return false;
    return jput(o, key, json_object_new_string(hex));
}

/*
 * Prints JSON text as one line, always valid UTF-8: json-c copies bytes >= 0x80 as they
 * are, so a string from outside (a name, a description) that is not UTF-8 would make the
 * whole line invalid JSON. Such bytes occur only inside strings (everything else json-c
 * writes is ASCII), and each is written as \ufffd instead.
 */
static void puts_json(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : 4;
        if (strnlen((const char *)p, n) == n && utf8_valid((const char *)p, n)) {
            fwrite(p, 1, n, stdout);
            p += n;
        } else {
            fputs("\\ufffd", stdout);
            p++;
        }
    }
    putchar('\n');
}

/* Prints o as one line and releases it; ok false means building it ran out of memory. */
static int emit_json(json_object *o, bool ok)
{
    const char *s = ok && o != NULL ? json_object_to_json_string_ext(o, JSON_FLAGS) : NULL;
    int rc = CTL_OK;
    if (s == NULL) {
        fprintf(stderr, "srtmctl: out of memory building JSON output\n");
        rc = CTL_FAILED;
    } else {
        puts_json(s);
    }
    json_object_put(o);
    return rc;
}

static void json_error(const ctx *c, srtm_err err, const char *message)
{
    if (!c->g.json)
        return;
    json_object *o = json_object_new_object();
    bool ok = jput(o, "error", json_object_new_string(srtm_strerror(err)));
    ok = ok && jput(o, "code", json_object_new_int((int)err));
    ok = ok && jput(o, "message", json_object_new_string(message));
    emit_json(o, ok);
}

/* ---- failures ---------------------------------------------------------------------- */

static int exit_code_for(srtm_err err)
{
    if (err == SRTM_E_TRANSPORT || err == SRTM_E_TIMEOUT)
        return CTL_UNREACHABLE;
    if (err == SRTM_E_IO)
        return CTL_LOCAL_FILE;
    return CTL_FAILED;
}

/* A request that libsrtm or srtmd refused. */
static int fail(const ctx *c, srtm_err err)
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

/* A local file that could not be used; the message names it. */
static int file_error(const ctx *c, srtm_err err, const char *fmt, ...) SRTM_PRINTF(3, 4);
static int file_error(const ctx *c, srtm_err err, const char *fmt, ...)
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

/* One line: what is wrong and where to read more. */
static int usage_error(const command *cmd, const char *fmt, ...) SRTM_PRINTF(2, 3);
static int usage_error(const command *cmd, const char *fmt, ...)
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
    return CTL_USAGE;
}

static const char *cap_load_reason(srtm_err err)
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

/* ---- register ---------------------------------------------------------------------- */

#define CAP_FILE_LEN (2u * SRTM_CAP_LEN + 1u) /* 64 hex digits and a newline */

/* --cap-out: create the file (0600, never over an existing one) and reserve its bytes
 * before registering, so that an existing file, a missing or unwritable directory or a
 * full disk refuses the registration instead of losing the capability srtmd issues. Until
 * the capability is written the file holds NUL bytes, which no capability loader accepts. */
static int reserve_cap_out(const ctx *c, const char *path, int *fd_out)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return file_error(c, SRTM_E_EXISTS, "--cap-out file '%s' exists; not overwriting it",
                          path);
    if (fd < 0)
        return file_error(c, SRTM_E_IO, "--cap-out file '%s': cannot create it: %s", path,
                          strerror(errno));
    int e = fchmod(fd, 0600) == 0 ? posix_fallocate(fd, 0, CAP_FILE_LEN) : errno;
    if (e != 0) {
        close(fd);
        unlink(path);
        return file_error(c, SRTM_E_IO, "--cap-out file '%s': cannot write it: %s", path,
                          strerror(e));
    }
    *fd_out = fd;
    return CTL_CONTINUE;
}

/* Write the capability into the reserved file and close it. */
static int save_new_cap(const ctx *c, const cmd_args *a, int fd, uint64_t handle,
                        const srtm_cap *cap)
{
    char text[CAP_FILE_LEN + 1];
    int e = srtm_cap_to_hex(cap, text, sizeof(text)) == SRTM_OK ? 0 : EINVAL;
    text[CAP_FILE_LEN - 1] = '\n';
    size_t off = 0;
    while (e == 0 && off < CAP_FILE_LEN) {
        ssize_t n = pwrite(fd, text + off, CAP_FILE_LEN - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            e = errno;
        else if (n == 0)
            e = EIO;
        else
            off += (size_t)n;
    }
    explicit_bzero(text, sizeof(text));
    if (e == 0 && fsync(fd) != 0)
        e = errno;
    if (close(fd) != 0 && e == 0)
        e = errno;
    if (e != 0) {
        unlink(a->cap_out);
        /* Printing the capability instead would defeat --cap-out, whose point is to keep
         * it off stdout; the component stays registered without a usable capability. */
        return file_error(c, SRTM_E_IO,
                          "cannot write --cap-out file '%s' (%s); component '%s' is "
                          "registered with handle %llu but its capability is lost",
                          a->cap_out, strerror(e), a->name, (unsigned long long)handle);
    }
    if (!c->g.json) {
        printf("handle %llu\ncapability_file %s\n", (unsigned long long)handle, a->cap_out);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = jput(o, "name", json_object_new_string(a->name));
    ok = ok && jput(o, "handle", json_object_new_uint64(handle));
    ok = ok && jput(o, "capability_file", json_object_new_string(a->cap_out));
    return emit_json(o, ok);
}

/* Best effort against the capability lingering in freed heap: the printed text and the
 * string under key are json-c's own malloc'ed buffers, so writing through them is defined. */
static int emit_json_secret(json_object *o, const char *key, bool ok)
{
    const char *s = ok ? json_object_to_json_string_ext(o, JSON_FLAGS) : NULL;
    if (s == NULL)
        return emit_json(o, false);
    puts(s);
    explicit_bzero((char *)s, strlen(s));
    json_object *secret = NULL;
    if (json_object_object_get_ex(o, key, &secret)) {
        const char *v = json_object_get_string(secret);
        explicit_bzero((char *)v, strlen(v));
    }
    json_object_put(o);
    return CTL_OK;
}

static int print_new_cap(const ctx *c, const cmd_args *a, uint64_t handle, const srtm_cap *cap)
{
    char hex[2 * SRTM_CAP_LEN + 1];
    if (srtm_cap_to_hex(cap, hex, sizeof(hex)) != SRTM_OK)
        return fail(c, SRTM_E_INTERNAL);
    int rc = CTL_OK;
    if (!c->g.json) {
        printf("handle %llu\ncapability %s\n", (unsigned long long)handle, hex);
    } else {
        json_object *o = json_object_new_object();
        bool ok = jput(o, "name", json_object_new_string(a->name));
        ok = ok && jput(o, "handle", json_object_new_uint64(handle));
        ok = ok && jput(o, "capability", json_object_new_string(hex));
        rc = emit_json_secret(o, "capability", ok);
    }
    explicit_bzero(hex, sizeof(hex));
    return rc;
}

static int cmd_register(ctx *c, const cmd_args *a)
{
    int fd = -1;
    if (a->cap_out != NULL) {
        int rc = reserve_cap_out(c, a->cap_out, &fd);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    uint64_t handle = 0;
    srtm_cap cap = {{0}};
    srtm_err err = srtm_register_child(c->conn, &c->cap, a->parent, a->name, a->ccr_count,
                                       a->deps, a->n_deps, a->reversible, a->n_reversible,
                                       &handle, &cap);
    if (err != SRTM_OK) {
        if (fd >= 0) {
            close(fd);
            unlink(a->cap_out);
        }
        return fail(c, err);
    }
    int rc = fd >= 0 ? save_new_cap(c, a, fd, handle, &cap) : print_new_cap(c, a, handle, &cap);
    srtm_cap_wipe(&cap);
    return rc;
}

static int register_check(const command *cmd, const cmd_args *a)
{
    uint32_t n = a->ccr_count ? a->ccr_count : 1;
    for (size_t i = 0; i < a->n_reversible; i++)
        if (a->reversible[i] >= n)
            return usage_error(cmd, "--reversible %u: NAME gets %u CCRs (0 to %u)",
                               (unsigned)a->reversible[i], (unsigned)n, (unsigned)n - 1);
    return CTL_CONTINUE;
}

/* ---- extend ------------------------------------------------------------------------ */

/* Hashing locally, before anything is sent, tells a local file problem (exit 4) apart
 * from a refusal by srtmd (exit 1). */
static int source_digest(const ctx *c, const cmd_args *a, uint8_t out[SRTM_DIGEST_LEN])
{
    srtm_err err = SRTM_OK;
    switch (a->source) {
    case SRC_DIGEST:
        memcpy(out, a->digest, SRTM_DIGEST_LEN);
        break;
    case SRC_DATA:
        err = srtm_sha256(a->source_arg, strlen(a->source_arg), out);
        break;
    case SRC_FILE:
        err = srtm_sha256_file(a->source_arg, out);
        if (err == SRTM_E_IO)
            return file_error(c, err, "--file '%s' cannot be read", a->source_arg);
        break;
    case SRC_NONE:
        err = SRTM_E_INVALID;
        break;
    }
    return err == SRTM_OK ? CTL_CONTINUE : fail(c, err);
}

static int cmd_extend(ctx *c, const cmd_args *a)
{
    uint8_t digest[SRTM_DIGEST_LEN];
    int rc = source_digest(c, a, digest);
    if (rc != CTL_CONTINUE)
        return rc;
    uint64_t seq = 0;
    srtm_err err =
        srtm_extend(c->conn, &c->cap, a->name, a->ccr, digest, a->event_type, a->desc, &seq);
    if (err != SRTM_OK)
        return fail(c, err);
    if (!c->g.json) {
        printf("seq %llu\n", (unsigned long long)seq);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    return emit_json(o, jput(o, "seq", json_object_new_uint64(seq)));
}

/* ---- read -------------------------------------------------------------------------- */

static int read_text(const ctx *c, const srtm_ccrs *ccrs)
{
    for (size_t i = 0; i < srtm_ccrs_count(ccrs); i++) {
        uint32_t index = 0;
        uint8_t value[SRTM_DIGEST_LEN];
        char hex[HEX_DIGEST_LEN + 1];
        srtm_err err = srtm_ccrs_get(ccrs, i, &index, NULL, value, NULL);
        if (err == SRTM_OK)
            err = hex_encode(value, sizeof(value), hex, sizeof(hex));
        if (err != SRTM_OK)
            return fail(c, err);
        printf("%u %s\n", (unsigned)index, hex);
    }
    return CTL_OK;
}

/* Append item(src, 0..n-1) to arr; false (arr partly filled) if any item fails. */
static bool fill_array(json_object *arr, size_t n, json_object *(*item)(const void *, size_t),
                       const void *src)
{
    for (size_t i = 0; i < n; i++) {
        json_object *e = item(src, i);
        if (e == NULL || json_object_array_add(arr, e) != 0) {
            json_object_put(e);
            return false;
        }
    }
    return true;
}

static json_object *ccr_json(const srtm_ccrs *ccrs, size_t i)
{
    uint32_t index = 0;
    srtm_policy policy = SRTM_POLICY_IRREVERSIBLE;
    uint8_t value[SRTM_DIGEST_LEN];
    uint64_t log_length = 0;
    if (srtm_ccrs_get(ccrs, i, &index, &policy, value, &log_length) != SRTM_OK)
        return NULL;
    json_object *o = json_object_new_object();
    bool ok = jput(o, "index", json_object_new_uint64(index));
    ok = ok && jput(o, "policy", json_object_new_string(policy_name(policy)));
    ok = ok && jput_hex(o, "value", value, sizeof(value));
    ok = ok && jput(o, "log_length", json_object_new_uint64(log_length));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *ccr_item(const void *ccrs, size_t i)
{
    return ccr_json(ccrs, i);
}

static int read_json(const cmd_args *a, const srtm_ccrs *ccrs)
{
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    bool ok = jput(o, "component", json_object_new_string(a->name));
    ok = ok && jput(o, "handle", json_object_new_uint64(srtm_ccrs_handle(ccrs)));
    ok = ok && jput(o, "seq", json_object_new_uint64(srtm_ccrs_seq(ccrs)));
    ok = ok && fill_array(arr, srtm_ccrs_count(ccrs), ccr_item, ccrs);
    ok = jput(o, "ccrs", arr) && ok;
    return emit_json(o, ok);
}

static int cmd_read(ctx *c, const cmd_args *a)
{
    srtm_ccrs *ccrs = NULL;
    srtm_err err = srtm_read(c->conn, a->name, a->has_ccr ? &a->ccr : NULL, a->has_ccr ? 1 : 0,
                             &ccrs);
    if (err != SRTM_OK)
        return fail(c, err);
    int rc = c->g.json ? read_json(a, ccrs) : read_text(c, ccrs);
    srtm_ccrs_free(ccrs);
    return rc;
}

/* ---- log --------------------------------------------------------------------------- */

/* A revert marker is 'INDEX SEQ revert-to SEQ by HANDLE'; a measurement undone by a
 * revert ends in ' [reverted]', which a description cannot imitate: '[' in descriptions is
 * written as an escape. */
static void print_entry(const srtm_log_entry *e)
{
    if (srtm_log_entry_is_revert(e)) {
        printf("%llu %llu revert-to %llu by %llu\n", (unsigned long long)srtm_log_entry_index(e),
               (unsigned long long)srtm_log_entry_seq(e),
               (unsigned long long)srtm_log_entry_revert_to(e),
               (unsigned long long)srtm_log_entry_revert_by(e));
        return;
    }
    char hex[HEX_DIGEST_LEN + 1];
    if (hex_encode(srtm_log_entry_digest(e), SRTM_DIGEST_LEN, hex, sizeof(hex)) != SRTM_OK)
        hex[0] = '\0';
    const char *desc = srtm_log_entry_description(e);
    printf("%llu %llu %s %u", (unsigned long long)srtm_log_entry_index(e),
           (unsigned long long)srtm_log_entry_seq(e), hex,
           (unsigned)srtm_log_entry_event_type(e));
    if (desc[0] != '\0') {
        putchar(' ');
        print_escaped_set(desc, "[");
    }
    if (srtm_log_entry_reverted(e))
        fputs(" [reverted]", stdout);
    putchar('\n');
}

/* Streams: any log length in constant memory. */
static int log_text(const ctx *c, srtm_log_iter *it)
{
    const srtm_log_entry *e = NULL;
    srtm_err err;
    while ((err = srtm_log_next(it, &e)) == SRTM_OK)
        print_entry(e);
    return err == SRTM_E_END ? CTL_OK : fail(c, err);
}

static json_object *entry_json(const srtm_log_entry *e)
{
    json_object *o = json_object_new_object();
    bool ok = jput(o, "index", json_object_new_uint64(srtm_log_entry_index(e)));
    ok = ok && jput(o, "seq", json_object_new_uint64(srtm_log_entry_seq(e)));
    const uint8_t *digest = srtm_log_entry_digest(e);
    if (digest != NULL)
        ok = ok && jput_hex(o, "digest", digest, SRTM_DIGEST_LEN);
    else /* a revert marker measured nothing */
        ok = ok && json_object_object_add(o, "digest", NULL) == 0;
    ok = ok && jput(o, "event_type", json_object_new_uint64(srtm_log_entry_event_type(e)));
    ok = ok && jput(o, "description", json_object_new_string(srtm_log_entry_description(e)));
    ok = ok && jput(o, "reverted", json_object_new_boolean(srtm_log_entry_reverted(e)));
    ok = ok && jput(o, "revert_marker", json_object_new_boolean(srtm_log_entry_is_revert(e)));
    ok = ok && jput(o, "revert_to_seq", json_object_new_uint64(srtm_log_entry_revert_to(e)));
    ok = ok && jput(o, "revert_by", json_object_new_uint64(srtm_log_entry_revert_by(e)));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Fills arr with up to LOG_JSON_MAX_ENTRIES entries; *more tells whether some are left. */
static srtm_err log_collect(srtm_log_iter *it, json_object *arr, bool *more)
{
    const srtm_log_entry *e = NULL;
    srtm_err err = SRTM_OK;
    *more = false;
    for (size_t n = 0; err == SRTM_OK; n++) {
        if (n == LOG_JSON_MAX_ENTRIES) {
            *more = true;
            return SRTM_OK;
        }
        err = srtm_log_next(it, &e);
        if (err != SRTM_OK)
            break;
        json_object *j = entry_json(e);
        if (j == NULL || json_object_array_add(arr, j) != 0) {
            json_object_put(j);
            err = SRTM_E_NO_MEMORY;
        }
    }
    return err == SRTM_E_END ? SRTM_OK : err;
}

/* "revert_by_name" beside each marker's "revert_by" handle, from the graph of the
 * component (itself and its closure, which holds its parent chain: everyone srtmd lets
 * revert it). Read once, only when a marker is there; without it the names are left out. */
static bool add_revert_names(const ctx *c, const char *name, json_object *arr)
{
    srtm_graph *g = NULL;
    bool ok = true;
    for (size_t k = 0; ok && k < json_object_array_length(arr); k++) {
        json_object *e = json_object_array_get_idx(arr, k), *m = NULL, *by = NULL;
        if (!json_object_object_get_ex(e, "revert_marker", &m) || !json_object_get_boolean(m) ||
            !json_object_object_get_ex(e, "revert_by", &by))
            continue;
        if (g == NULL && srtm_graph_read(c->conn, name, &g) != SRTM_OK)
            break;
        uint64_t h = json_object_get_uint64(by);
        for (size_t i = 0; ok && i < srtm_graph_count(g); i++)
            if (srtm_graph_handle(g, i) == h)
                ok = jput(e, "revert_by_name", json_object_new_string(srtm_graph_name(g, i)));
    }
    srtm_graph_free(g);
    return ok;
}

static int log_json(const ctx *c, const cmd_args *a, srtm_log_iter *it)
{
    json_object *arr = json_object_new_array();
    if (arr == NULL)
        return emit_json(NULL, false);
    bool more = false;
    srtm_err err = log_collect(it, arr, &more);
    if (err != SRTM_OK) {
        json_object_put(arr);
        return fail(c, err);
    }
    json_object *o = json_object_new_object();
    bool ok = add_revert_names(c, a->name, arr);
    ok = ok && jput(o, "component", json_object_new_string(a->name));
    ok = ok && jput(o, "ccr", json_object_new_uint64(a->ccr));
    ok = ok && jput(o, "next_offset", json_object_new_uint64(srtm_log_offset(it)));
    ok = ok && jput(o, "more", json_object_new_boolean(more));
    ok = jput(o, "entries", arr) && ok;
    return emit_json(o, ok);
}

static int cmd_log(ctx *c, const cmd_args *a)
{
    srtm_log_iter *it = NULL;
    srtm_err err = srtm_log_open(c->conn, a->name, a->ccr, a->from, &it);
    if (err != SRTM_OK)
        return fail(c, err);
    int rc = c->g.json ? log_json(c, a, it) : log_text(c, it);
    srtm_log_iter_free(it);
    return rc;
}

/* ---- list -------------------------------------------------------------------------- */

static void list_text(const srtm_components *l)
{
    for (size_t i = 0; i < srtm_components_count(l); i++) {
        printf("%llu ", (unsigned long long)srtm_components_handle(l, i));
        print_escaped(srtm_components_name(l, i), true);
        printf(" %u uid=%u pid=%u\n", (unsigned)srtm_components_ccr_count(l, i),
               (unsigned)srtm_components_peer_uid(l, i),
               (unsigned)srtm_components_peer_pid(l, i));
    }
}

static json_object *component_json(const srtm_components *l, size_t i)
{
    json_object *o = json_object_new_object();
    bool ok = jput(o, "handle", json_object_new_uint64(srtm_components_handle(l, i)));
    ok = ok && jput(o, "name", json_object_new_string(srtm_components_name(l, i)));
    ok = ok && jput(o, "ccr_count", json_object_new_uint64(srtm_components_ccr_count(l, i)));
    ok = ok && jput(o, "peer_uid", json_object_new_uint64(srtm_components_peer_uid(l, i)));
    ok = ok && jput(o, "peer_pid", json_object_new_uint64(srtm_components_peer_pid(l, i)));
    uint64_t entries = 0, bytes = 0;
    uint32_t children = 0;
    srtm_components_usage(l, i, &entries, &bytes, &children);
    ok = ok && jput(o, "log_entries", json_object_new_uint64(entries));
    ok = ok && jput(o, "log_bytes", json_object_new_uint64(bytes));
    ok = ok && jput(o, "children", json_object_new_uint64(children));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *component_item(const void *l, size_t i)
{
    return component_json(l, i);
}

static int list_json(const srtm_components *l)
{
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    bool ok = arr != NULL && fill_array(arr, srtm_components_count(l), component_item, l);
    ok = jput(o, "components", arr) && ok;
    uint64_t stored = 0, budget = 0;
    srtm_components_stored(l, &stored, &budget);
    ok = ok && jput(o, "stored_bytes", json_object_new_uint64(stored));
    ok = ok && jput(o, "memory_budget", json_object_new_uint64(budget));
    return emit_json(o, ok);
}

static int cmd_list(ctx *c, const cmd_args *a)
{
    (void)a;
    srtm_components *l = NULL;
    srtm_err err = srtm_list(c->conn, &l);
    if (err != SRTM_OK)
        return fail(c, err);
    int rc = CTL_OK;
    if (c->g.json)
        rc = list_json(l);
    else
        list_text(l);
    srtm_components_free(l);
    return rc;
}

/* ---- hierarchical integrity management --------------------------------------------- */

/* 'seq N', or the JSON object with component, the given extra string (may be NULL) and seq. */
static int print_change(const ctx *c, const char *component, const char *key, const char *val,
                        uint64_t seq)
{
    if (!c->g.json) {
        printf("seq %llu\n", (unsigned long long)seq);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = jput(o, "component", json_object_new_string(component));
    if (key != NULL)
        ok = ok && jput(o, key, json_object_new_string(val));
    ok = ok && jput(o, "seq", json_object_new_uint64(seq));
    return emit_json(o, ok);
}

static int depend_run(ctx *c, const cmd_args *a, bool remove)
{
    uint64_t seq = 0;
    srtm_err err = srtm_depend(c->conn, &c->cap, a->name, a->on, a->actor, remove, &seq);
    if (err != SRTM_OK)
        return fail(c, err);
    return print_change(c, a->name, "on", a->on, seq);
}

static int cmd_depend(ctx *c, const cmd_args *a)
{
    return depend_run(c, a, false);
}

static int cmd_undepend(ctx *c, const cmd_args *a)
{
    return depend_run(c, a, true);
}

static int depend_check(const command *cmd, const cmd_args *a)
{
    return a->on != NULL ? CTL_CONTINUE : usage_error(cmd, "needs --on COMPONENT");
}

static int cmd_revert(ctx *c, const cmd_args *a)
{
    uint64_t reverted = 0, seq = 0;
    uint8_t value[SRTM_DIGEST_LEN];
    char hex[HEX_DIGEST_LEN + 1];
    srtm_err err = srtm_revert(c->conn, &c->cap, a->name, a->ccr, a->to_seq, a->actor,
                               &reverted, value, &seq);
    if (err == SRTM_OK)
        err = hex_encode(value, sizeof(value), hex, sizeof(hex));
    if (err != SRTM_OK)
        return fail(c, err);
    if (!c->g.json) {
        printf("value %s\nreverted %llu\nseq %llu\n", hex, (unsigned long long)reverted,
               (unsigned long long)seq);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = jput(o, "component", json_object_new_string(a->name));
    ok = ok && jput(o, "ccr", json_object_new_uint64(a->ccr));
    ok = ok && jput(o, "value", json_object_new_string(hex));
    ok = ok && jput(o, "reverted", json_object_new_uint64(reverted));
    ok = ok && jput(o, "seq", json_object_new_uint64(seq));
    return emit_json(o, ok);
}

static int revert_check(const command *cmd, const cmd_args *a)
{
    return a->has_to ? CTL_CONTINUE : usage_error(cmd, "needs --to SEQ (0: the initial value)");
}

static int cmd_terminate(ctx *c, const cmd_args *a)
{
    uint64_t seq = 0;
    srtm_err err = srtm_terminate(c->conn, &c->cap, a->name, &seq);
    if (err != SRTM_OK)
        return fail(c, err);
    return print_change(c, a->name, NULL, NULL, seq);
}

/* ---- graph ------------------------------------------------------------------------- */

/* Index of the node with handle h (nodes ascend by handle), or -1. */
static ptrdiff_t graph_find(const srtm_graph *g, uint64_t h)
{
    size_t lo = 0, hi = srtm_graph_count(g);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t m = srtm_graph_handle(g, mid);
        if (m == h)
            return (ptrdiff_t)mid;
        if (m < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The name of handle h in g, or NULL when g does not hold it. */
static const char *graph_name_of(const srtm_graph *g, uint64_t h)
{
    ptrdiff_t i = graph_find(g, h);
    return i >= 0 ? srtm_graph_name(g, (size_t)i) : NULL;
}

/* A component in a parent= or deps= field: its name with ' ', ',' and '=' escaped ("-"
 * alone means none, so a component called "-" is written '\x2d'), or '#HANDLE'
 * should the graph not hold it. */
static void print_ref(const srtm_graph *g, uint64_t h)
{
    const char *name = graph_name_of(g, h);
    if (name == NULL)
        printf("#%llu", (unsigned long long)h);
    else if (strcmp(name, "-") == 0)
        fputs("\\x2d", stdout);
    else
        print_escaped_set(name, " ,=#");
}

static void graph_text(const srtm_graph *g)
{
    for (size_t i = 0; i < srtm_graph_count(g); i++) {
        uint64_t h = srtm_graph_handle(g, i);
        printf("%llu ", (unsigned long long)h);
        print_escaped(srtm_graph_name(g, i), true);
        fputs(" parent=", stdout);
        if (h == 0)
            putchar('-'); /* component 0 has no parent */
        else
            print_ref(g, srtm_graph_parent(g, i));
        fputs(" deps=", stdout);
        size_t n = 0;
        const uint64_t *deps = srtm_graph_deps(g, i, &n);
        if (n == 0)
            putchar('-');
        for (size_t k = 0; k < n; k++) {
            if (k > 0)
                putchar(',');
            print_ref(g, deps[k]);
        }
        fputs(srtm_graph_terminated(g, i) ? " terminated\n" : "\n", stdout);
    }
}

/* A handle as JSON: the component's name, or null should the graph not hold it. */
static json_object *name_json(const srtm_graph *g, uint64_t h)
{
    const char *name = graph_name_of(g, h);
    return name != NULL ? json_object_new_string(name) : NULL;
}

static json_object *graph_node_json(const void *gv, size_t i)
{
    const srtm_graph *g = gv;
    uint64_t h = srtm_graph_handle(g, i);
    size_t n = 0;
    const uint64_t *deps = srtm_graph_deps(g, i, &n);
    json_object *o = json_object_new_object();
    json_object *names = json_object_new_array();
    json_object *handles = json_object_new_array();
    bool ok = names != NULL && handles != NULL;
    ok = jput(o, "handle", json_object_new_uint64(h)) && ok;
    ok = ok && jput(o, "name", json_object_new_string(srtm_graph_name(g, i)));
    /* json-c stores a NULL value as JSON null: component 0 has no parent. */
    ok = ok && json_object_object_add(
                   o, "parent", h == 0 ? NULL : name_json(g, srtm_graph_parent(g, i))) == 0;
    ok = ok && jput(o, "parent_handle", json_object_new_uint64(srtm_graph_parent(g, i)));
    for (size_t k = 0; ok && k < n; k++) {
        json_object *dn = name_json(g, deps[k]);
        json_object *dh = json_object_new_uint64(deps[k]);
        if (json_object_array_add(names, dn) != 0) {
            json_object_put(dn);
            ok = false;
        }
        if (dh == NULL || json_object_array_add(handles, dh) != 0) {
            json_object_put(dh);
            ok = false;
        }
    }
    ok = jput(o, "depends_on", names) && ok;
    ok = jput(o, "depends_on_handles", handles) && ok;
    ok = ok && jput(o, "terminated", json_object_new_boolean(srtm_graph_terminated(g, i)));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static int graph_json(const srtm_graph *g)
{
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    bool ok = arr != NULL && fill_array(arr, srtm_graph_count(g), graph_node_json, g);
    ok = jput(o, "components", arr) && ok;
    return emit_json(o, ok);
}

/* s as the inside of a DOT double-quoted string: '"' escaped, a backslash doubled (a
 * label would read it as an escape), control bytes as the visible text '\xHH'. */
static void print_dot_string(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"')
            fputs("\\\"", stdout);
        else if (*p == '\\')
            fputs("\\\\", stdout);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\\\x%02x", *p);
        else
            putchar(*p);
    }
}

/* Graphviz: a node per component (dashed when terminated), an edge A -> B per dependency
 * of A on B: solid to the parent, dashed to every other dependency. Node ids are 'cH'. */
static void graph_dot(const srtm_graph *g)
{
    puts("digraph srtm {\n"
         "  rankdir=BT;\n"
         "  node [shape=box, fontname=\"Helvetica\"];\n"
         "  edge [fontname=\"Helvetica\"];");
    for (size_t i = 0; i < srtm_graph_count(g); i++) {
        printf("  c%llu [label=\"", (unsigned long long)srtm_graph_handle(g, i));
        print_dot_string(srtm_graph_name(g, i));
        printf("\"%s];\n", srtm_graph_terminated(g, i) ? ", style=dashed" : "");
    }
    for (size_t i = 0; i < srtm_graph_count(g); i++) {
        uint64_t h = srtm_graph_handle(g, i), parent = srtm_graph_parent(g, i);
        size_t n = 0;
        const uint64_t *deps = srtm_graph_deps(g, i, &n);
        for (size_t k = 0; k < n; k++)
            printf("  c%llu -> c%llu [style=%s];\n", (unsigned long long)h,
                   (unsigned long long)deps[k],
                   deps[k] == parent && h != 0 ? "solid" : "dashed");
    }
    puts("}");
}

static int cmd_graph(ctx *c, const cmd_args *a)
{
    srtm_graph *g = NULL;
    srtm_err err = srtm_graph_read(c->conn, a->name, &g);
    if (err != SRTM_OK)
        return fail(c, err);
    int rc = CTL_OK;
    if (a->dot)
        graph_dot(g);
    else if (c->g.json)
        rc = graph_json(g);
    else
        graph_text(g);
    srtm_graph_free(g);
    return rc;
}

/* ---- quote ------------------------------------------------------------------------- */

/* Write len bytes to path with mode 0644 through a temporary file and a rename, so a
 * reader never sees half an evidence file. */
static srtm_err write_public_file(const char *path, const uint8_t *data, size_t len)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return SRTM_E_IO;
    }
    FILE *f = fopen(tmp, "wbxe");
    if (f == NULL && errno == EEXIST && unlink(tmp) == 0)
        f = fopen(tmp, "wbxe");
    if (f == NULL)
        return SRTM_E_IO;
    bool ok = fchmod(fileno(f), 0644) == 0 && fwrite(data, 1, len, f) == len &&
              fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0)
        return SRTM_OK;
    saved = errno != 0 ? errno : saved;
    unlink(tmp);
    errno = saved;
    return SRTM_E_IO;
}

static int quote_output(const ctx *c, const cmd_args *a, size_t len)
{
    if (!c->g.json) {
        printf("evidence %s %zu\n", a->output, len);
        if (a->export_dir != NULL)
            printf("export_tpm %s\n", a->export_dir);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = jput(o, "evidence", json_object_new_string(a->output));
    ok = ok && jput(o, "bytes", json_object_new_uint64(len));
    if (a->export_dir != NULL)
        ok = ok && jput(o, "export_tpm", json_object_new_string(a->export_dir));
    return emit_json(o, ok);
}

static int export_tpm(const ctx *c, const cmd_args *a, const uint8_t *ev, size_t len)
{
    if (mkdir(a->export_dir, 0755) != 0 && errno != EEXIST)
        return file_error(c, SRTM_E_IO, "--export-tpm directory '%s': %s", a->export_dir,
                          strerror(errno));
    srtm_err err = srtm_evidence_export_tpm(ev, len, a->export_dir);
    if (err == SRTM_E_IO)
        return file_error(c, err, "--export-tpm directory '%s': cannot write: %s",
                          a->export_dir, strerror(errno));
    return err == SRTM_OK ? CTL_CONTINUE : fail(c, err);
}

static int cmd_quote(ctx *c, const cmd_args *a)
{
    uint8_t *ev = NULL;
    size_t len = 0;
    srtm_err err = srtm_quote(c->conn, a->nonce, a->nonce_len, a->names, a->n_names, &ev, &len);
    if (err != SRTM_OK)
        return fail(c, err);
    int rc = CTL_CONTINUE;
    if (write_public_file(a->output, ev, len) != SRTM_OK)
        rc = file_error(c, SRTM_E_IO, "cannot write evidence file '%s': %s", a->output,
                        strerror(errno));
    if (rc == CTL_CONTINUE && a->export_dir != NULL)
        rc = export_tpm(c, a, ev, len);
    if (rc == CTL_CONTINUE)
        rc = quote_output(c, a, len);
    free(ev);
    return rc;
}

static int quote_check(const command *cmd, const cmd_args *a)
{
    if (a->nonce_len == 0)
        return usage_error(cmd, "needs --nonce HEX (%u to %u bytes)", SRTM_MIN_NONCE,
                           SRTM_MAX_NONCE);
    if (a->output == NULL)
        return usage_error(cmd, "needs -o EVIDENCE");
    return CTL_CONTINUE;
}

/* ---- verify ------------------------------------------------------------------------ */

static void verify_text(const srtm_verify_result *r)
{
    for (size_t i = 0; i < srtm_verify_result_check_count(r); i++) {
        if (srtm_verify_result_check_ok(r, i))
            continue;
        printf("check %s: failed: ", srtm_verify_result_check_name(r, i));
        print_escaped(srtm_verify_result_check_reason(r, i), false);
        putchar('\n');
    }
    for (size_t i = 0; i < srtm_verify_result_component_count(r); i++) {
        /* The path says which component it is; the name alone may be taken by another. */
        const char *path = srtm_verify_result_component_path(r, i);
        print_escaped(path[0] != '\0' ? path : srtm_verify_result_component_name(r, i), false);
        if (srtm_verify_result_component_trusted(r, i)) {
            fputs(": trusted\n", stdout);
            continue;
        }
        fputs(": untrusted: ", stdout);
        for (size_t j = 0; j < srtm_verify_result_component_reason_count(r, i); j++) {
            if (j > 0)
                fputs("; ", stdout);
            print_escaped(srtm_verify_result_component_reason(r, i, j), false);
        }
        putchar('\n');
    }
}

static json_object *check_item(const void *r, size_t i)
{
    json_object *o = json_object_new_object();
    bool ok = jput(o, "name", json_object_new_string(srtm_verify_result_check_name(r, i)));
    ok = ok && jput(o, "ok", json_object_new_boolean(srtm_verify_result_check_ok(r, i)));
    ok = ok && jput(o, "reason", json_object_new_string(srtm_verify_result_check_reason(r, i)));
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static json_object *verdict_item(const void *r, size_t i)
{
    json_object *o = json_object_new_object();
    json_object *reasons = json_object_new_array();
    const char *path = srtm_verify_result_component_path(r, i);
    bool ok = jput(o, "name", json_object_new_string(srtm_verify_result_component_name(r, i)));
    /* json-c's null is the NULL object, which jput would take for a failure. */
    ok = ok && (path[0] != '\0' ? jput(o, "path", json_object_new_string(path))
                                 : json_object_object_add(o, "path", NULL) == 0);
    ok = ok &&
         jput(o, "trusted", json_object_new_boolean(srtm_verify_result_component_trusted(r, i)));
    for (size_t j = 0; ok && j < srtm_verify_result_component_reason_count(r, i); j++)
        ok = json_object_array_add(
                 reasons, json_object_new_string(srtm_verify_result_component_reason(r, i, j))) ==
             0;
    ok = jput(o, "reasons", reasons) && ok;
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static int verify_json(const srtm_verify_result *r)
{
    json_object *o = json_object_new_object();
    bool ok = jput(o, "ok", json_object_new_boolean(srtm_verify_result_ok(r)));
    json_object *checks = json_object_new_array();
    ok = checks != NULL &&
         fill_array(checks, srtm_verify_result_check_count(r), check_item, r) && ok;
    ok = jput(o, "checks", checks) && ok;
    json_object *comps = json_object_new_array();
    ok = comps != NULL &&
         fill_array(comps, srtm_verify_result_component_count(r), verdict_item, r) && ok;
    ok = jput(o, "components", comps) && ok;
    return emit_json(o, ok);
}

/* The three local inputs; any problem is exit 4 with the file named. */
static int verify_inputs(const ctx *c, const cmd_args *a, uint8_t **ev, size_t *ev_len,
                         char **pem, srtm_verifier_policy **pol)
{
    size_t pem_len = 0;
    srtm_err err = read_small_file(a->evidence, (size_t)SRTM_MAX_REPORT + SRTM_MAX_MESSAGE,
                                   (char **)ev, ev_len);
    if (err != SRTM_OK)
        return file_error(c, err, "evidence file '%s': %s", a->evidence,
                          err == SRTM_E_IO ? strerror(errno) : srtm_strerror(err));
    err = read_small_file(a->aik, 64 * 1024, pem, &pem_len);
    if (err != SRTM_OK)
        return file_error(c, err, "AIK file '%s': %s", a->aik,
                          err == SRTM_E_IO ? strerror(errno) : srtm_strerror(err));
    char msg[1024];
    err = srtm_policy_load(a->policy, pol, msg, sizeof(msg));
    if (err != SRTM_OK)
        return file_error(c, err, "policy file '%s': %s", a->policy, msg);
    return CTL_CONTINUE;
}

static int cmd_verify(ctx *c, const cmd_args *a)
{
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    char *pem = NULL;
    srtm_verifier_policy *pol = NULL;
    srtm_verify_result *r = NULL;
    int rc = verify_inputs(c, a, &ev, &ev_len, &pem, &pol);
    if (rc == CTL_CONTINUE) {
        srtm_err err = srtm_verify(ev, ev_len, pem, pol, a->nonce, a->nonce_len, &r);
        if (err == SRTM_E_INVALID)
            rc = file_error(c, err, "AIK file '%s' is not the PEM of a P-256 public key",
                            a->aik);
        else if (err != SRTM_OK && err != SRTM_E_DENIED)
            rc = fail(c, err);
        else if (c->g.json)
            rc = verify_json(r) == CTL_OK && err == SRTM_OK ? CTL_OK : CTL_FAILED;
        else {
            verify_text(r);
            rc = err == SRTM_OK ? CTL_OK : CTL_FAILED;
        }
    }
    srtm_verify_result_free(r);
    srtm_policy_free(pol);
    free(pem);
    free(ev);
    return rc;
}

static int verify_check(const command *cmd, const cmd_args *a)
{
    if (a->nonce_len == 0)
        return usage_error(cmd, "needs --nonce HEX, the nonce the quote was asked with");
    if (a->aik == NULL)
        return usage_error(cmd, "needs --aik FILE");
    if (a->policy == NULL)
        return usage_error(cmd, "needs --policy FILE");
    return CTL_CONTINUE;
}

/* ---- the command table ------------------------------------------------------------- */

enum {
    O_HELP = 256,
    O_VERSION,
    O_SOCKET,
    O_CAP,
    O_JSON,
    O_TIMEOUT,
    O_CCRS,
    O_CAP_OUT,
    O_DIGEST,
    O_FILE,
    O_DATA,
    O_DESC,
    O_EVENT,
    O_FROM,
    O_NONCE,
    O_OUTPUT = 'o',
    O_EXPORT_TPM = 300,
    O_AIK,
    O_POLICY,
    O_PARENT,
    O_DEPENDS_ON,
    O_REVERSIBLE,
    O_ON,
    O_ACTOR,
    O_TO,
    O_DOT,
};

#define OPT_HELP {"help", no_argument, NULL, O_HELP}
#define OPT_END {NULL, 0, NULL, 0}

static const struct option register_opts[] = {
    {"ccrs", required_argument, NULL, O_CCRS},
    {"cap-out", required_argument, NULL, O_CAP_OUT},
    {"parent", required_argument, NULL, O_PARENT},
    {"depends-on", required_argument, NULL, O_DEPENDS_ON},
    {"reversible", required_argument, NULL, O_REVERSIBLE},
    OPT_HELP,
    OPT_END,
};
static const struct option depend_opts[] = {
    {"on", required_argument, NULL, O_ON},
    {"actor", required_argument, NULL, O_ACTOR},
    OPT_HELP,
    OPT_END,
};
static const struct option revert_opts[] = {
    {"to", required_argument, NULL, O_TO},
    {"actor", required_argument, NULL, O_ACTOR},
    OPT_HELP,
    OPT_END,
};
static const struct option graph_opts[] = {
    {"dot", no_argument, NULL, O_DOT},
    OPT_HELP,
    OPT_END,
};
static const struct option extend_opts[] = {
    {"digest", required_argument, NULL, O_DIGEST},
    {"file", required_argument, NULL, O_FILE},
    {"data", required_argument, NULL, O_DATA},
    {"desc", required_argument, NULL, O_DESC},
    {"event-type", required_argument, NULL, O_EVENT},
    OPT_HELP,
    OPT_END,
};
static const struct option log_opts[] = {
    {"from", required_argument, NULL, O_FROM},
    OPT_HELP,
    OPT_END,
};
static const struct option quote_opts[] = {
    {"nonce", required_argument, NULL, O_NONCE},
    {"output", required_argument, NULL, O_OUTPUT},
    {"export-tpm", required_argument, NULL, O_EXPORT_TPM},
    OPT_HELP,
    OPT_END,
};
static const struct option verify_opts[] = {
    {"nonce", required_argument, NULL, O_NONCE},
    {"aik", required_argument, NULL, O_AIK},
    {"policy", required_argument, NULL, O_POLICY},
    OPT_HELP,
    OPT_END,
};
static const struct option help_only_opts[] = {OPT_HELP, OPT_END};

static const command commands[] = {
    {
        .name = "register",
        .run = cmd_register,
        .needs_cap = true,
        .min_pos = 1,
        .max_pos = 1,
        .opts = register_opts,
        .check = register_check,
        .synopsis = "register NAME [--parent P] [--depends-on X,Y] [--ccrs N] [--reversible I,J] "
                    "[--cap-out FILE]",
        .help = "Register component NAME with N CCRs (1 to 64, default 1), irreversible unless\n"
                "listed by --reversible. NAME depends on its parent and on every --depends-on\n"
                "component from the start. Needs --cap with the parent's capability (the\n"
                "admin capability without --parent). Prints 'handle H' and 'capability HEX'\n"
                "(keep it secret: it authorises extending NAME and registering its children).\n"
                "  --parent P        the registering component (default: component 0)\n"
                "  --depends-on X,Y  further dependencies, comma-separated (at most 64 in all;\n"
                "                    the option may be repeated)\n"
                "  --ccrs N          number of CCRs\n"
                "  --reversible I,J  indexes of the CCRs created REVERSIBLE (below N)\n"
                "  --cap-out FILE    write the capability to FILE (mode 0600; an existing\n"
                "                    FILE is refused before registering) and print\n"
                "                    'capability_file FILE' instead of the capability\n"
                "JSON: {\"name\",\"handle\",\"capability\"} or {\"name\",\"handle\","
                "\"capability_file\"}\n",
    },
    {
        .name = "extend",
        .run = cmd_extend,
        .needs_cap = true,
        .needs_source = true,
        .min_pos = 2,
        .max_pos = 2,
        .opts = extend_opts,
        .synopsis = "extend NAME CCR (--digest HEX | --file PATH | --data TEXT) [--desc TEXT] "
                    "[--event-type N]",
        .help = "Extend CCR number CCR of component NAME with one SHA-256 digest and log it.\n"
                "Needs --cap with NAME's capability. Prints 'seq N', the global sequence\n"
                "number of the measurement.\n"
                "  --digest HEX      the digest itself, 64 hex digits\n"
                "  --file PATH       SHA-256 of the contents of PATH, hashed locally\n"
                "  --data TEXT       SHA-256 of the bytes of TEXT, hashed locally\n"
                "  --desc TEXT       description for the log (at most 256 bytes of UTF-8)\n"
                "  --event-type N    event type for the log (0 to 4294967295, default 0)\n"
                "JSON: {\"seq\"}\n",
    },
    {
        .name = "read",
        .run = cmd_read,
        .min_pos = 1,
        .max_pos = 2,
        .opts = help_only_opts,
        .synopsis = "read NAME [CCR]",
        .help = "Print the value of every CCR of component NAME, or of CCR alone, one line\n"
                "each: 'INDEX HEXVALUE'.\n"
                "JSON: {\"component\",\"handle\",\"seq\",\"ccrs\":[{\"index\",\"policy\","
                "\"value\",\"log_length\"}]}\n",
    },
    {
        .name = "log",
        .run = cmd_log,
        .min_pos = 2,
        .max_pos = 2,
        .opts = log_opts,
        .synopsis = "log NAME CCR [--from OFFSET]",
        .help = "Print the measurement log of CCR number CCR of component NAME, one line per\n"
                "entry: 'INDEX SEQ DIGESTHEX EVENT_TYPE DESCRIPTION', with ' [reverted]' at\n"
                "the end of a measurement undone by a revert; a revert marker (reversible\n"
                "CCRs) is 'INDEX SEQ revert-to SEQ by HANDLE'. In the description a backslash\n"
                "is written '\\\\', '[' and control bytes '\\xHH', so every entry is one line\n"
                "and no description reads as a reverted mark.\n"
                "  --from OFFSET     start at entry OFFSET (default 0)\n"
                "JSON: {\"component\",\"ccr\",\"next_offset\",\"more\",\"entries\":[{\"index\",\n"
                "\"seq\",\"digest\",\"event_type\",\"description\",\"reverted\",\"revert_marker\",\n"
                "\"revert_to_seq\",\"revert_by\",\"revert_by_name\"}]} (\"digest\" is null\n"
                "for a revert marker; \"revert_by_name\" only on markers); at most 65536 entries per run: when \"more\" is true, go on\n"
                "with --from next_offset.\n",
    },
    {
        .name = "list",
        .run = cmd_list,
        .opts = help_only_opts,
        .synopsis = "list",
        .help = "Print every registered component, the platform (handle 0) included, one\n"
                "line each: 'HANDLE NAME CCRS uid=UID pid=PID' (the uid and pid of the\n"
                "process that registered it). In NAME a backslash is written '\\\\', spaces\n"
                "and control bytes '\\xHH'.\n"
                "JSON: {\"components\":[{\"handle\",\"name\",\"ccr_count\",\"peer_uid\","
                "\"peer_pid\",\"log_entries\",\"log_bytes\",\"children\"}],\"stored_bytes\","
                "\"memory_budget\"} (usage against srtmd's quotas)\n",
    },
    {
        .name = "depend",
        .run = cmd_depend,
        .needs_cap = true,
        .min_pos = 1,
        .max_pos = 1,
        .opts = depend_opts,
        .check = depend_check,
        .synopsis = "depend NAME --on X [--actor A]",
        .help = "Add the dependency NAME -> X: NAME's integrity depends on X's. Needs --cap\n"
                "with the actor's capability; the actor (default NAME) must be NAME or a\n"
                "component NAME already depends on, directly or transitively. A cycle is\n"
                "refused. Prints 'seq N'.\n"
                "  --on X            the component NAME comes to depend on\n"
                "  --actor A         the component asking (default NAME)\n"
                "JSON: {\"component\",\"on\",\"seq\"}\n",
    },
    {
        .name = "undepend",
        .run = cmd_undepend,
        .needs_cap = true,
        .min_pos = 1,
        .max_pos = 1,
        .opts = depend_opts,
        .check = depend_check,
        .synopsis = "undepend NAME --on X [--actor A]",
        .help = "Remove the dependency NAME -> X (never the one on NAME's parent). Needs --cap\n"
                "with the actor's capability; the actor (default NAME) must be NAME or its\n"
                "parent chain, not X nor anything X depends on, and for an edge an ancestor\n"
                "declared, that ancestor or one above it. The removal is recorded and\n"
                "reported: a verifier still judges X as it was when it was cut.\n"
                "Prints 'seq N'.\n"
                "  --on X            the component NAME stops depending on\n"
                "  --actor A         the component asking (default NAME)\n"
                "JSON: {\"component\",\"on\",\"seq\"}\n",
    },
    {
        .name = "revert",
        .run = cmd_revert,
        .needs_cap = true,
        .min_pos = 2,
        .max_pos = 2,
        .opts = revert_opts,
        .check = revert_check,
        .synopsis = "revert NAME CCR --to SEQ [--actor A]",
        .help = "Return REVERSIBLE CCR number CCR of NAME to its value right after its live\n"
                "measurement with sequence number SEQ (0: its initial value). The undone\n"
                "measurements stay in the log marked reverted, after them a revert marker.\n"
                "Needs --cap with the actor's capability; the actor (default NAME) must be\n"
                "NAME or its parent chain. An irreversible CCR\n"
                "is refused. Prints 'value HEX', 'reverted N' (measurements undone) and\n"
                "'seq S' (of the marker).\n"
                "  --to SEQ          the measurement to return to\n"
                "  --actor A         the component asking (default NAME)\n"
                "JSON: {\"component\",\"ccr\",\"value\",\"reverted\",\"seq\"}\n",
    },
    {
        .name = "terminate",
        .run = cmd_terminate,
        .needs_cap = true,
        .min_pos = 1,
        .max_pos = 1,
        .opts = help_only_opts,
        .synopsis = "terminate NAME",
        .help = "Mark NAME terminated; its CCRs and logs stay readable. Needs --cap with the\n"
                "capability of NAME's parent. Prints 'seq N'.\n"
                "JSON: {\"component\",\"seq\"}\n",
    },
    {
        .name = "graph",
        .run = cmd_graph,
        .min_pos = 0,
        .max_pos = 1,
        .opts = graph_opts,
        .synopsis = "graph [NAME] [--dot]",
        .help = "Print the dependency graph: of NAME and everything it depends on, or of every\n"
                "component. One line per component in handle order:\n"
                "'HANDLE NAME parent=P deps=X,Y' and ' terminated' at the end when it is;\n"
                "P and X,Y are names ('-': none; in them ' ', ',', '=' and '#' are written\n"
                "'\\xHH', and '#H' stands for a handle the graph does not hold).\n"
                "  --dot             print a Graphviz digraph instead: a box per component\n"
                "                    (dashed when terminated), an edge A -> B per dependency\n"
                "                    of A on B (solid to the parent, dashed otherwise);\n"
                "                    render with 'dot -Tpng'. Not with --json.\n"
                "JSON: {\"components\":[{\"handle\",\"name\",\"parent\",\"parent_handle\",\n"
                "\"depends_on\":[names],\"depends_on_handles\":[],\"terminated\"}]}\n"
                "(\"parent\" is null for component 0)\n",
    },
    {
        .name = "quote",
        .run = cmd_quote,
        .pos = POS_NAMES,
        .min_pos = 0,
        .max_pos = SRTM_MAX_LIST_PAGE,
        .opts = quote_opts,
        .shortopts = "o:",
        .check = quote_check,
        .synopsis = "quote --nonce HEX [NAME...] -o EVIDENCE [--export-tpm DIR]",
        .help = "Ask srtmd for a joint quote over the named components (all when none is\n"
                "named): a CCR report signed with the IRK and a TPM quote with the AIK, bound\n"
                "to the nonce. Writes the evidence (mode 0644, replacing EVIDENCE) and prints\n"
                "'evidence EVIDENCE BYTES'. Nothing is verified: use 'srtmctl verify'.\n"
                "  --nonce HEX       the verifier's nonce, 16 to 64 bytes in hex\n"
                "  -o, --output FILE the evidence file\n"
                "  --export-tpm DIR  also write the TPM part for tpm2-tools into DIR (created\n"
                "                    if missing): quote.attest, quote.sig (DER), quote.pcrs,\n"
                "                    pcrs.txt, nonce.hex (the quote's qualifyingData), and\n"
                "                    the same with the prefix 'certificate.' for the IRK\n"
                "                    certificate; check them with\n"
                "    tpm2_checkquote -u AIK.pem -m DIR/quote.attest -s DIR/quote.sig \\\n"
                "      -f DIR/quote.pcrs -l $(cat DIR/pcrs.txt) -g sha256 -q $(cat DIR/nonce.hex)\n"
                "JSON: {\"evidence\",\"bytes\"[,\"export_tpm\"]}\n",
    },
    {
        .name = "verify",
        .run = cmd_verify,
        .offline = true,
        .pos = POS_FILE,
        .min_pos = 1,
        .max_pos = 1,
        .opts = verify_opts,
        .check = verify_check,
        .synopsis = "verify EVIDENCE --aik AIK.pem --policy POLICY --nonce HEX",
        .help = "Verify an evidence file (from 'srtmctl quote') against the AIK public key you\n"
                "trust, a policy (docs/verifier.md) and the nonce you asked the quote with.\n"
                "Needs no srtmd. Prints 'check NAME: failed: REASON' for every failed\n"
                "evidence-level check, then one line per component: 'NAME: trusted' or\n"
                "'NAME: untrusted: REASON; REASON'. Exit 0 only if every check passed and\n"
                "every requested component (the policy's \"require\", or else every\n"
                "component in the report) is trusted; 1 otherwise.\n"
                "  --aik FILE        the AIK public key (PEM, from srtm-keymgr enroll)\n"
                "  --policy FILE     the verification policy (JSON)\n"
                "  --nonce HEX       the nonce given to 'srtmctl quote'\n"
                "JSON: {\"ok\",\"checks\":[{\"name\",\"ok\",\"reason\"}],\"components\":"
                "[{\"name\",\"trusted\",\"reasons\":[]}]}\n",
    },
};

static void usage(void)
{
    printf("Usage: srtmctl [--socket URL] [--cap FILE] [--json] [--timeout MS] COMMAND [ARGS]\n"
           "Command-line client of srtmd, the Software-based Root of Trust for Measurement.\n"
           "\n"
           "Global options (before COMMAND):\n"
           "  --socket URL   srtmd endpoint (default $SRTM_SOCKET, else libsrtm's default)\n"
           "  --cap FILE     capability file authorising a change: the parent's for\n"
           "                 register (the admin capability for children of component 0)\n"
           "                 and terminate, the component's own for extend, the actor's\n"
           "                 for depend, undepend and revert\n"
           "  --json         print the result (or the error) as one JSON object\n"
           "  --timeout MS   wait at most MS milliseconds for each answer (default 10000)\n"
           "  --help         show this help; 'srtmctl COMMAND --help' describes COMMAND\n"
           "  --version      show the version\n"
           "\n"
           "Commands:\n");
    for (size_t i = 0; i < SRTM_ARRAY_LEN(commands); i++)
        printf("  %s\n", commands[i].synopsis);
    printf("\n%s", EXIT_HELP);
}

static void command_usage(const command *cmd)
{
    printf("Usage: srtmctl [GLOBAL OPTIONS] %s\n%s\n%s", cmd->synopsis, cmd->help, EXIT_HELP);
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < SRTM_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* ---- argument parsing ------------------------------------------------------------- */

static const struct option global_opts[] = {
    {"socket", required_argument, NULL, O_SOCKET},
    {"cap", required_argument, NULL, O_CAP},
    {"json", no_argument, NULL, O_JSON},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"help", no_argument, NULL, O_HELP},
    {"version", no_argument, NULL, O_VERSION},
    OPT_END,
};

static bool is_global_option(const char *arg)
{
    for (const struct option *o = global_opts; o->name != NULL; o++) {
        size_t n = strlen(o->name);
        if (strncmp(arg, "--", 2) == 0 && strncmp(arg + 2, o->name, n) == 0 &&
            (arg[2 + n] == '\0' || arg[2 + n] == '='))
            return true;
    }
    return false;
}

/* getopt's own messages are off (opterr = 0) so every usage error is one line of ours. */
static int bad_option(const command *cmd, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        return usage_error(cmd, "option '%s' needs an argument", arg);
    if (optopt != 0 && optopt < 256)
        return usage_error(cmd, "unknown option '-%c'", optopt);
    if (cmd != NULL && is_global_option(arg))
        return usage_error(cmd, "'%s' is a global option: put it before the command", arg);
    return usage_error(cmd, "unknown option '%s'", arg);
}

static int take_string(const command *cmd, const char *opt, const char *arg, size_t max,
                       const char **out)
{
    size_t n = strnlen(arg, max + 1);
    if (n == 0 || n > max)
        return usage_error(cmd, "%s takes 1 to %zu bytes", opt, max);
    *out = arg;
    return CTL_CONTINUE;
}

static int set_source(const command *cmd, cmd_args *a, source_kind kind, const char *arg)
{
    a->n_sources++;
    a->source = kind;
    a->source_arg = arg;
    if (kind == SRC_DIGEST &&
        hex_decode(arg, strnlen(arg, HEX_DIGEST_LEN + 1), a->digest, SRTM_DIGEST_LEN) != SRTM_OK)
        return usage_error(cmd, "--digest takes exactly %u hex digits", HEX_DIGEST_LEN);
    if (kind == SRC_FILE)
        return take_string(cmd, "--file", arg, PATH_MAX - 1, &a->source_arg);
    return CTL_CONTINUE;
}

/* --depends-on X,Y: names copied into a->deps_buf (the option may be repeated). */
static int add_deps(const command *cmd, const char *arg, cmd_args *a)
{
    size_t room = sizeof(a->deps_buf) - a->deps_used;
    size_t len = strnlen(arg, room);
    if (len == room)
        return usage_error(cmd, "--depends-on: more than %u names", SRTM_MAX_DEPS);
    char *p = a->deps_buf + a->deps_used;
    memcpy(p, arg, len + 1);
    a->deps_used += len + 1;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        size_t n = strlen(p);
        if (n == 0 || n > SRTM_MAX_NAME)
            return usage_error(cmd, "--depends-on takes names of 1 to %u bytes, comma-separated",
                               SRTM_MAX_NAME);
        if (a->n_deps == SRTM_MAX_DEPS)
            return usage_error(cmd, "--depends-on: more than %u names", SRTM_MAX_DEPS);
        a->deps[a->n_deps++] = p;
        if (comma == NULL)
            return CTL_CONTINUE;
        p = comma + 1;
    }
}

/* --reversible I,J: CCR indexes (the option may be repeated). */
static int add_reversible(const command *cmd, const char *arg, cmd_args *a)
{
    char buf[1024];
    size_t len = strnlen(arg, sizeof(buf));
    if (len == sizeof(buf))
        return usage_error(cmd, "--reversible: list too long");
    memcpy(buf, arg, len + 1);
    char *save = NULL;
    char *tok = strtok_r(buf, ",", &save);
    if (tok == NULL || buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,") != NULL)
        return usage_error(cmd, "--reversible takes CCR indexes, comma-separated");
    for (; tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        uint32_t v = 0;
        if (!parse_u32(tok, SRTM_MAX_CCRS_PER_REGISTER - 1, &v))
            return usage_error(cmd, "--reversible takes CCR indexes from 0 to %u, "
                                    "comma-separated, not '%s'",
                               SRTM_MAX_CCRS_PER_REGISTER - 1, tok);
        if (a->n_reversible == SRTM_MAX_CCRS_PER_REGISTER)
            return usage_error(cmd, "--reversible: more than %u indexes",
                               SRTM_MAX_CCRS_PER_REGISTER);
        a->reversible[a->n_reversible++] = v;
    }
    return CTL_CONTINUE;
}

static int command_option(const command *cmd, int code, const char *arg, cmd_args *a)
{
    switch (code) {
    case O_HELP:
        command_usage(cmd);
        return CTL_OK;
    case O_CCRS:
        if (!parse_u32(arg, SRTM_MAX_CCRS_PER_REGISTER, &a->ccr_count) || a->ccr_count == 0)
            return usage_error(cmd, "--ccrs takes a number from 1 to %u",
                               SRTM_MAX_CCRS_PER_REGISTER);
        return CTL_CONTINUE;
    case O_CAP_OUT:
        return take_string(cmd, "--cap-out", arg, PATH_MAX - 1, &a->cap_out);
    case O_DIGEST:
        return set_source(cmd, a, SRC_DIGEST, arg);
    case O_FILE:
        return set_source(cmd, a, SRC_FILE, arg);
    case O_DATA:
        return set_source(cmd, a, SRC_DATA, arg);
    case O_DESC:
        return take_string(cmd, "--desc", arg, SRTM_MAX_DESC, &a->desc);
    case O_EVENT:
        if (!parse_u32(arg, UINT32_MAX, &a->event_type))
            return usage_error(cmd, "--event-type takes a number from 0 to %u", UINT32_MAX);
        return CTL_CONTINUE;
    case O_FROM:
        if (!parse_u64(arg, UINT64_MAX, &a->from))
            return usage_error(cmd, "--from takes an entry offset (a number from 0)");
        return CTL_CONTINUE;
    case O_NONCE: {
        size_t n = strnlen(arg, 2 * SRTM_MAX_NONCE + 1);
        if (n % 2 != 0 || n < 2 * SRTM_MIN_NONCE || n > 2 * SRTM_MAX_NONCE ||
            hex_decode(arg, n, a->nonce, n / 2) != SRTM_OK)
            return usage_error(cmd, "--nonce takes %u to %u bytes as hex digits",
                               SRTM_MIN_NONCE, SRTM_MAX_NONCE);
        a->nonce_len = n / 2;
        return CTL_CONTINUE;
    }
    case O_OUTPUT:
        return take_string(cmd, "-o", arg, PATH_MAX - 1, &a->output);
    case O_EXPORT_TPM:
        return take_string(cmd, "--export-tpm", arg, PATH_MAX - 64, &a->export_dir);
    case O_AIK:
        return take_string(cmd, "--aik", arg, PATH_MAX - 1, &a->aik);
    case O_POLICY:
        return take_string(cmd, "--policy", arg, PATH_MAX - 1, &a->policy);
    case O_PARENT:
        return take_string(cmd, "--parent", arg, SRTM_MAX_NAME, &a->parent);
    case O_DEPENDS_ON:
        return add_deps(cmd, arg, a);
    case O_REVERSIBLE:
        return add_reversible(cmd, arg, a);
    case O_ON:
        return take_string(cmd, "--on", arg, SRTM_MAX_NAME, &a->on);
    case O_ACTOR:
        return take_string(cmd, "--actor", arg, SRTM_MAX_NAME, &a->actor);
    case O_TO:
        if (!parse_u64(arg, UINT64_MAX, &a->to_seq))
            return usage_error(cmd, "--to takes a sequence number (a number from 0)");
        a->has_to = true;
        return CTL_CONTINUE;
    case O_DOT:
        a->dot = true;
        return CTL_CONTINUE;
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int command_positionals(const command *cmd, int n, char **pos, cmd_args *a)
{
    if (n < (int)cmd->min_pos || n > (int)cmd->max_pos)
        return usage_error(cmd, "%s arguments; usage: srtmctl %s",
                           n < (int)cmd->min_pos ? "missing" : "too many", cmd->synopsis);
    if (cmd->pos == POS_FILE)
        return take_string(cmd, "EVIDENCE", pos[0], PATH_MAX - 1, &a->evidence);
    if (cmd->pos == POS_NAMES) {
        for (int i = 0; i < n; i++) {
            const char *ignored;
            int rc = take_string(cmd, "NAME", pos[i], SRTM_MAX_NAME, &ignored);
            if (rc != CTL_CONTINUE)
                return rc;
        }
        a->names = (const char *const *)pos;
        a->n_names = (size_t)n;
        return CTL_CONTINUE;
    }
    if (n >= 1) {
        /* A path names a component too (resolve_path), except the new one of register. */
        bool path = strcmp(cmd->name, "register") != 0 && strchr(pos[0], '/') != NULL;
        int rc = take_string(cmd, "NAME", pos[0], path ? MAX_PATH_ARG : SRTM_MAX_NAME,
                             &a->name);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    if (n >= 2) {
        if (!parse_u32(pos[1], UINT32_MAX, &a->ccr))
            return usage_error(cmd, "CCR takes a CCR index (a number from 0), not '%s'",
                               pos[1]);
        a->has_ccr = true;
    }
    return CTL_CONTINUE;
}

/* argv[0] is the command name. Returns CTL_CONTINUE when a holds a runnable command. */
static int parse_command(const command *cmd, int argc, char **argv, cmd_args *a)
{
    memset(a, 0, sizeof(*a));
    optind = 0; /* glibc: start a fresh scan of a new argv */
    opterr = 0;
    char shortopts[16] = ":";
    if (cmd->shortopts != NULL)
        snprintf(shortopts, sizeof(shortopts), ":%s", cmd->shortopts);
    int c;
    while ((c = getopt_long(argc, argv, shortopts, cmd->opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return bad_option(cmd, c, argv);
        int rc = command_option(cmd, c, optarg, a);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    if (cmd->needs_source && a->n_sources != 1)
        return usage_error(cmd, "give exactly one of --digest, --file and --data");
    int rc = command_positionals(cmd, argc - optind, argv + optind, a);
    if (rc == CTL_CONTINUE && cmd->check != NULL)
        rc = cmd->check(cmd, a);
    return rc;
}

static int global_option(int code, const char *arg, globals *g)
{
    uint32_t ms = 0;
    switch (code) {
    case O_SOCKET:
        return take_string(NULL, "--socket", arg, MAX_URL, &g->socket);
    case O_CAP:
        return take_string(NULL, "--cap", arg, PATH_MAX - 1, &g->cap_path);
    case O_JSON:
        g->json = true;
        return CTL_CONTINUE;
    case O_TIMEOUT:
        if (!parse_u32(arg, INT32_MAX, &ms) || ms == 0)
            return usage_error(NULL, "--timeout takes milliseconds, from 1 to %d", INT32_MAX);
        g->timeout_ms = (int32_t)ms;
        return CTL_CONTINUE;
    case O_HELP:
        usage();
        return CTL_OK;
    case O_VERSION:
        printf("srtmctl %s (libsrtm %s)\n", SRTM_VERSION_STRING, srtm_version());
        return CTL_OK;
    default:
        return usage_error(NULL, "unexpected option");
    }
}

/* Global options stop at the first non-option ('+'): what follows belongs to COMMAND.
 * *cmd_index is the index of COMMAND in argv. */
static int parse_globals(int argc, char **argv, globals *g, int *cmd_index)
{
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+:", global_opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return bad_option(NULL, c, argv);
        int rc = global_option(c, optarg, g);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    if (optind >= argc)
        return usage_error(NULL, "no command given");
    if (g->socket == NULL) {
        const char *env = getenv("SRTM_SOCKET");
        if (env != NULL && env[0] != '\0' && strnlen(env, MAX_URL + 1) <= MAX_URL)
            g->socket = env;
    }
    *cmd_index = optind;
    return CTL_CONTINUE;
}

/* ---- main -------------------------------------------------------------------------- */

static int load_cap(ctx *c, const command *cmd)
{
    if (c->g.cap_path == NULL)
        return usage_error(cmd, "needs --cap FILE before the command");
    errno = 0;
    srtm_err err = srtm_cap_load(c->g.cap_path, &c->cap);
    if (err == SRTM_E_IO && errno != 0)
        return file_error(c, err, "capability file '%s' cannot be read: %s", c->g.cap_path,
                          strerror(errno));
    if (err != SRTM_OK)
        return file_error(c, err, "capability file '%s' %s", c->g.cap_path,
                          cap_load_reason(err));
    return CTL_CONTINUE;
}

/* The path of node i of g ("platform/dm/vm-b") into out; false when g lacks a parent or
 * the path does not fit. */
static bool graph_path(const srtm_graph *g, size_t i, char *out, size_t size)
{
    char tmp[MAX_PATH_ARG + 1];
    snprintf(out, size, "%s", srtm_graph_name(g, i));
    for (size_t hops = 0; srtm_graph_handle(g, i) != 0; hops++) {
        uint64_t up = srtm_graph_parent(g, i);
        size_t j = 0, n = srtm_graph_count(g);
        while (j < n && srtm_graph_handle(g, j) != up)
            j++;
        if (j == n || hops >= n)
            return false;
        int w = snprintf(tmp, sizeof(tmp), "%s/%s", srtm_graph_name(g, j), out);
        if (w < 0 || (size_t)w >= sizeof(tmp) || (size_t)w >= size)
            return false;
        memcpy(out, tmp, (size_t)w + 1);
        i = j;
    }
    return true;
}

/*
 * A component given by its path, as the verifier names it (docs/verifier.md, "Names and
 * paths"): srtmd knows names, which are unique, so the last name is looked up and its
 * parent chain (part of its dependency closure) must be the path given. *name points into
 * path on success.
 */
static int resolve_path(ctx *c, const char *path, const char **name)
{
    const char *last = strrchr(path, '/') + 1;
    srtm_graph *g = NULL;
    srtm_err err = srtm_graph_read(c->conn, last, &g);
    if (err != SRTM_OK)
        return fail(c, err);
    char got[MAX_PATH_ARG + 1] = "";
    bool same = false;
    for (size_t i = 0; i < srtm_graph_count(g) && !same; i++)
        if (strcmp(srtm_graph_name(g, i), last) == 0)
            same = graph_path(g, i, got, sizeof(got)) && strcmp(got, path) == 0;
    srtm_graph_free(g);
    if (!same) {
        fprintf(stderr, "srtmctl: %s: no component at the path %s ('%s' is at %s)\n",
                srtm_strerror(SRTM_E_NO_COMPONENT), path, last, got[0] ? got : "no known path");
        json_error(c, SRTM_E_NO_COMPONENT, "no component at that path");
        return exit_code_for(SRTM_E_NO_COMPONENT);
    }
    *name = last;
    return CTL_CONTINUE;
}

static int run_connected(ctx *c, const command *cmd, const cmd_args *a)
{
    cmd_args b = *a;
    if (b.name != NULL && strcmp(cmd->name, "register") != 0 && strchr(b.name, '/') != NULL) {
        int rc = resolve_path(c, a->name, &b.name);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    return cmd->run(c, &b);
}

static int run_command(ctx *c, const command *cmd, const cmd_args *a)
{
    if (cmd->needs_cap) {
        int rc = load_cap(c, cmd);
        if (rc != CTL_CONTINUE)
            return rc;
    }
    if (cmd->offline)
        return cmd->run(c, a);
    srtm_err err = srtm_open(c->g.socket, &c->conn);
    if (err == SRTM_OK && c->g.timeout_ms > 0)
        err = srtm_set_timeout(c->conn, c->g.timeout_ms);
    int rc = err == SRTM_OK ? run_connected(c, cmd, a) : fail(c, err);
    srtm_close(c->conn);
    c->conn = NULL;
    return rc;
}

/* Output that never reached stdout (a full disk, a closed pipe) is a failure too. */
static int finish_output(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "srtmctl: cannot write output: %s\n", strerror(errno));
        return rc == CTL_OK ? CTL_FAILED : rc;
    }
    return rc;
}

int main(int argc, char **argv)
{
    ctx c;
    memset(&c, 0, sizeof(c));
    int cmd_index = 0;
    int rc = parse_globals(argc, argv, &c.g, &cmd_index);
    const command *cmd = NULL;
    if (rc == CTL_CONTINUE) {
        cmd = find_command(argv[cmd_index]);
        if (cmd == NULL)
            rc = usage_error(NULL, "unknown command '%s'", argv[cmd_index]);
    }
    cmd_args a;
    if (rc == CTL_CONTINUE)
        rc = parse_command(cmd, argc - cmd_index, argv + cmd_index, &a);
    if (rc == CTL_CONTINUE && a.dot && c.g.json)
        rc = usage_error(cmd, "--dot and --json exclude each other");
    if (rc == CTL_CONTINUE)
        rc = run_command(&c, cmd, &a);
    srtm_cap_wipe(&c.cap);
    return finish_output(rc);
}
