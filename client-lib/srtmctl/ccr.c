/*
 * srtmctl's CCR commands: register, extend, read, log, revert, terminate. Each owns its
 * options, argument struct and parser; main.c's table lists them.
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

/* A --json log holds every entry in memory; past this many it stops and says where to
 * go on (--from next_offset), so memory stays bounded whatever the log length. */
#define LOG_JSON_MAX_ENTRIES 65536u

/* NAME then CCR, the positionals of extend, log and revert (read's CCR is optional). */
static int name_ccr(const command *cmd, int n, char **pos, unsigned min, const char **name,
                    uint32_t *ccr, bool *has_ccr)
{
    int rc = ctl_count_positionals(cmd, n, min, 2);
    if (rc == CTL_CONTINUE && n >= 1)
        rc = ctl_take_name(cmd, pos[0], true, name);
    if (rc == CTL_CONTINUE && n >= 2) {
        rc = ctl_take_ccr(cmd, pos[1], ccr);
        if (has_ccr != NULL)
            *has_ccr = rc == CTL_CONTINUE;
    }
    return rc;
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

/* ---- register ---------------------------------------------------------------------- */

#define CAP_FILE_LEN (2u * SRTM_CAP_LEN + 1u) /* 64 hex digits and a newline */

typedef struct register_args {
    const char *name;
    uint32_t ccr_count;
    const char *cap_out;
    const char *parent;
    const char *deps[SRTM_MAX_DEPS]; /* --depends-on, pointing into deps_buf */
    size_t n_deps, deps_used;
    char deps_buf[SRTM_MAX_DEPS * (SRTM_MAX_NAME + 1)];
    uint32_t reversible[SRTM_MAX_CCRS_PER_REGISTER];
    size_t n_reversible;
} register_args;

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

/* Write the capability into fd; 0 or an errno. */
static int write_cap(int fd, const srtm_cap *cap)
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
    return e;
}

/* Write the capability into the reserved file and close it. */
static int save_new_cap(const ctx *c, const register_args *a, int fd, uint64_t handle,
                        const srtm_cap *cap)
{
    int e = write_cap(fd, cap);
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
    bool ok = jput(o, "component", json_object_new_string(a->name));
    ok = ok && jput(o, "handle", json_object_new_uint64(handle));
    ok = ok && jput(o, "capability_file", json_object_new_string(a->cap_out));
    return emit_json(o, ok);
}

static int print_new_cap(const ctx *c, const register_args *a, uint64_t handle,
                         const srtm_cap *cap)
{
    char hex[2 * SRTM_CAP_LEN + 1];
    if (srtm_cap_to_hex(cap, hex, sizeof(hex)) != SRTM_OK)
        return fail(c, SRTM_E_INTERNAL);
    int rc = CTL_OK;
    if (!c->g.json) {
        printf("handle %llu\ncapability %s\n", (unsigned long long)handle, hex);
    } else {
        json_object *o = json_object_new_object();
        bool ok = jput(o, "component", json_object_new_string(a->name));
        ok = ok && jput(o, "handle", json_object_new_uint64(handle));
        ok = ok && jput(o, "capability", json_object_new_string(hex));
        rc = emit_json_secret(o, "capability", ok);
    }
    explicit_bzero(hex, sizeof(hex));
    return rc;
}

static int register_run(ctx *c, const void *args)
{
    const register_args *a = args;
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

/* --depends-on X,Y: names copied into a->deps_buf (the option may be repeated). */
static int add_deps(const command *cmd, const char *arg, register_args *a)
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
static int add_reversible(const command *cmd, const char *arg, register_args *a)
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

enum { O_CCRS = O_FIRST, O_CAP_OUT, O_PARENT, O_DEPENDS_ON, O_REVERSIBLE };

static const struct option register_opts[] = {
    {"ccrs", required_argument, NULL, O_CCRS},
    {"cap-out", required_argument, NULL, O_CAP_OUT},
    {"parent", required_argument, NULL, O_PARENT},
    {"depends-on", required_argument, NULL, O_DEPENDS_ON},
    {"reversible", required_argument, NULL, O_REVERSIBLE},
    OPT_HELP,
    OPT_END,
};

static int register_option(const command *cmd, int code, const char *arg, void *args)
{
    register_args *a = args;
    switch (code) {
    case O_CCRS:
        if (!parse_u32(arg, SRTM_MAX_CCRS_PER_REGISTER, &a->ccr_count) || a->ccr_count == 0)
            return usage_error(cmd, "--ccrs takes a number from 1 to %u",
                               SRTM_MAX_CCRS_PER_REGISTER);
        return CTL_CONTINUE;
    case O_CAP_OUT:
        return take_string(cmd, "--cap-out", arg, PATH_MAX - 1, &a->cap_out);
    case O_PARENT:
        return take_string(cmd, "--parent", arg, SRTM_MAX_NAME, &a->parent);
    case O_DEPENDS_ON:
        return add_deps(cmd, arg, a);
    case O_REVERSIBLE:
        return add_reversible(cmd, arg, a);
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int register_parse(const command *cmd, const globals *g, int argc, char **argv,
                          void *args)
{
    (void)g;
    register_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, register_opts, register_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 1, 1);
    /* The new component's NAME is a name, never a path. */
    if (rc == CTL_CONTINUE)
        rc = ctl_take_name(cmd, argv[first], false, &a->name);
    uint32_t n = a->ccr_count ? a->ccr_count : 1;
    for (size_t i = 0; rc == CTL_CONTINUE && i < a->n_reversible; i++)
        if (a->reversible[i] >= n)
            rc = usage_error(cmd, "--reversible %u: NAME gets %u CCRs (0 to %u)",
                             (unsigned)a->reversible[i], (unsigned)n, (unsigned)n - 1);
    return rc;
}

const command ctl_cmd_register = {
    .name = "register",
    .parse = register_parse,
    .run = register_run,
    .args_size = sizeof(register_args),
    .needs_cap = true,
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
            "JSON: {\"component\",\"handle\",\"capability\"} or {\"component\",\"handle\","
            "\"capability_file\"}\n",
};

/* ---- extend ------------------------------------------------------------------------ */

typedef enum source_kind { SRC_NONE, SRC_DIGEST, SRC_FILE, SRC_DATA } source_kind;

typedef struct extend_args {
    const char *name;
    uint32_t ccr;
    source_kind source;
    unsigned n_sources;
    const char *source_arg; /* --file path or --data text */
    uint8_t digest[SRTM_DIGEST_LEN];
    const char *desc;
    uint32_t event_type;
} extend_args;

/* Hashing locally, before anything is sent, tells a local file problem (exit 4) apart
 * from a refusal by srtmd (exit 1). */
static int source_digest(const ctx *c, const extend_args *a, uint8_t out[SRTM_DIGEST_LEN])
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
        return ctl_hash_input(c, "--file", a->source_arg, out);
    case SRC_NONE:
        err = SRTM_E_INVALID;
        break;
    }
    return err == SRTM_OK ? CTL_CONTINUE : fail(c, err);
}

/* --desc, or else for --file the path given ("stdin" for "-"), should it fit a
 * description (bytes of UTF-8, no control bytes: the log would escape them anyway). */
static const char *extend_desc(const extend_args *a)
{
    if (a->desc != NULL || a->source != SRC_FILE)
        return a->desc;
    if (ctl_is_stdio(a->source_arg))
        return "stdin";
    size_t n = strnlen(a->source_arg, SRTM_MAX_DESC + 1);
    return n <= SRTM_MAX_DESC && utf8_valid(a->source_arg, n) ? a->source_arg : NULL;
}

static int extend_run(ctx *c, const void *args)
{
    const extend_args *a = args;
    uint8_t digest[SRTM_DIGEST_LEN];
    const char *name = NULL;
    int rc = ctl_component(c, a->name, &name);
    if (rc == CTL_CONTINUE)
        rc = source_digest(c, a, digest);
    if (rc != CTL_CONTINUE)
        return rc;
    uint64_t seq = 0;
    srtm_err err = srtm_extend(c->conn, &c->cap, name, a->ccr, digest, a->event_type,
                               extend_desc(a), &seq);
    if (err != SRTM_OK)
        return fail(c, err);
    if (!c->g.json) {
        printf("seq %llu\n", (unsigned long long)seq);
        return CTL_OK;
    }
    json_object *o = json_object_new_object();
    bool ok = jput(o, "component", json_object_new_string(name));
    ok = ok && jput(o, "ccr", json_object_new_uint64(a->ccr));
    ok = ok && jput(o, "seq", json_object_new_uint64(seq));
    return emit_json(o, ok);
}

enum { O_DIGEST = O_FIRST, O_FILE, O_DATA, O_DESC, O_EVENT };

static const struct option extend_opts[] = {
    {"digest", required_argument, NULL, O_DIGEST},
    {"file", required_argument, NULL, O_FILE},
    {"data", required_argument, NULL, O_DATA},
    {"desc", required_argument, NULL, O_DESC},
    {"event-type", required_argument, NULL, O_EVENT},
    OPT_HELP,
    OPT_END,
};

static int set_source(const command *cmd, extend_args *a, source_kind kind, const char *arg)
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

static int extend_option(const command *cmd, int code, const char *arg, void *args)
{
    extend_args *a = args;
    switch (code) {
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
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int extend_parse(const command *cmd, const globals *g, int argc, char **argv,
                        void *args)
{
    (void)g;
    extend_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, extend_opts, extend_option, a, &first);
    if (rc == CTL_CONTINUE && a->n_sources != 1)
        rc = usage_error(cmd, "give exactly one of --digest, --file and --data");
    if (rc == CTL_CONTINUE)
        rc = name_ccr(cmd, argc - first, argv + first, 2, &a->name, &a->ccr, NULL);
    return rc;
}

const command ctl_cmd_extend = {
    .name = "extend",
    .parse = extend_parse,
    .run = extend_run,
    .args_size = sizeof(extend_args),
    .needs_cap = true,
    .synopsis = "extend NAME CCR (--digest HEX | --file PATH | --data TEXT) [--desc TEXT] "
                "[--event-type N]",
    .help = "Extend CCR number CCR of component NAME with one SHA-256 digest and log it.\n"
            "Needs --cap with NAME's capability. Prints 'seq N', the global sequence\n"
            "number of the measurement.\n"
            "  --digest HEX      the digest itself, 64 hex digits\n"
            "  --file PATH       SHA-256 of the contents of PATH ('-': stdin), hashed\n"
            "                    locally; PATH is the description unless --desc is given\n"
            "  --data TEXT       SHA-256 of the bytes of TEXT, hashed locally\n"
            "  --desc TEXT       description for the log (at most 256 bytes of UTF-8)\n"
            "  --event-type N    event type for the log (0 to 4294967295, default 0)\n"
            "JSON: {\"component\",\"ccr\",\"seq\"}\n",
};

/* ---- read -------------------------------------------------------------------------- */

typedef struct read_args {
    const char *name;
    uint32_t ccr;
    bool has_ccr;
} read_args;

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

static json_object *ccr_item(const void *ccrs, size_t i)
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

static int read_json(const char *name, const srtm_ccrs *ccrs)
{
    json_object *o = json_object_new_object();
    json_object *arr = json_object_new_array();
    bool ok = jput(o, "component", json_object_new_string(name));
    ok = ok && jput(o, "handle", json_object_new_uint64(srtm_ccrs_handle(ccrs)));
    ok = ok && jput(o, "seq", json_object_new_uint64(srtm_ccrs_seq(ccrs)));
    ok = ok && fill_array(arr, srtm_ccrs_count(ccrs), ccr_item, ccrs);
    ok = jput(o, "ccrs", arr) && ok;
    return emit_json(o, ok);
}

static int read_run(ctx *c, const void *args)
{
    const read_args *a = args;
    const char *name = NULL;
    int rc = ctl_component(c, a->name, &name);
    if (rc != CTL_CONTINUE)
        return rc;
    srtm_ccrs *ccrs = NULL;
    srtm_err err =
        srtm_read(c->conn, name, a->has_ccr ? &a->ccr : NULL, a->has_ccr ? 1 : 0, &ccrs);
    if (err != SRTM_OK)
        return fail(c, err);
    rc = c->g.json ? read_json(name, ccrs) : read_text(c, ccrs);
    srtm_ccrs_free(ccrs);
    return rc;
}

static const struct option help_only_opts[] = {OPT_HELP, OPT_END};

static int read_parse(const command *cmd, const globals *g, int argc, char **argv, void *args)
{
    (void)g;
    read_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, help_only_opts, NULL, a, &first);
    if (rc == CTL_CONTINUE)
        rc = name_ccr(cmd, argc - first, argv + first, 1, &a->name, &a->ccr, &a->has_ccr);
    return rc;
}

const command ctl_cmd_read = {
    .name = "read",
    .parse = read_parse,
    .run = read_run,
    .args_size = sizeof(read_args),
    .synopsis = "read NAME [CCR]",
    .help = "Print the value of every CCR of component NAME, or of CCR alone, one line\n"
            "each: 'INDEX HEXVALUE'.\n"
            "JSON: {\"component\",\"handle\",\"seq\",\"ccrs\":[{\"index\",\"policy\","
            "\"value\",\"log_length\"}]}\n",
};

/* ---- log --------------------------------------------------------------------------- */

typedef struct log_args {
    const char *name;
    uint32_t ccr;
    uint64_t from;
    bool cel; /* --format cel */
} log_args;

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

/* What applies to the entry only: a measurement has a digest, an event type and (when
 * given) a description; a revert marker the point returned to and who asked. */
static bool entry_fields(json_object *o, const srtm_log_entry *e)
{
    if (srtm_log_entry_is_revert(e))
        return jput(o, "revert_to_seq", json_object_new_uint64(srtm_log_entry_revert_to(e))) &&
               jput(o, "revert_by_handle", json_object_new_uint64(srtm_log_entry_revert_by(e)));
    const char *desc = srtm_log_entry_description(e);
    bool ok = jput_hex(o, "digest", srtm_log_entry_digest(e), SRTM_DIGEST_LEN);
    ok = ok && jput(o, "event_type", json_object_new_uint64(srtm_log_entry_event_type(e)));
    if (desc[0] != '\0')
        ok = ok && jput(o, "description", json_object_new_string(desc));
    return ok;
}

static json_object *entry_json(const srtm_log_entry *e)
{
    json_object *o = json_object_new_object();
    bool ok = jput(o, "index", json_object_new_uint64(srtm_log_entry_index(e)));
    ok = ok && jput(o, "seq", json_object_new_uint64(srtm_log_entry_seq(e)));
    ok = ok && jput(o, "revert_marker", json_object_new_boolean(srtm_log_entry_is_revert(e)));
    ok = ok && jput(o, "reverted", json_object_new_boolean(srtm_log_entry_reverted(e)));
    ok = ok && entry_fields(o, e);
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

/* "revert_by", the name of who reverted, beside each marker's "revert_by_handle", from
 * the graph of the component (itself and its closure, which holds its parent chain:
 * everyone srtmd lets revert it). Read once, only when a marker is there; without it the
 * names are left out. */
static bool add_revert_names(const ctx *c, const char *name, json_object *arr)
{
    srtm_graph *g = NULL;
    bool ok = true;
    for (size_t k = 0; ok && k < json_object_array_length(arr); k++) {
        json_object *e = json_object_array_get_idx(arr, k), *by = NULL;
        if (!json_object_object_get_ex(e, "revert_by_handle", &by))
            continue;
        if (g == NULL && srtm_graph_read(c->conn, name, &g) != SRTM_OK)
            break;
        uint64_t h = json_object_get_uint64(by);
        for (size_t i = 0; ok && i < srtm_graph_count(g); i++)
            if (srtm_graph_handle(g, i) == h)
                ok = jput(e, "revert_by", json_object_new_string(srtm_graph_name(g, i)));
    }
    srtm_graph_free(g);
    return ok;
}

/* The component's handle, which the log itself does not carry. */
static srtm_err component_handle(const ctx *c, const char *name, uint32_t ccr, uint64_t *out)
{
    srtm_ccrs *ccrs = NULL;
    srtm_err err = srtm_read(c->conn, name, &ccr, 1, &ccrs);
    if (err == SRTM_OK)
        *out = srtm_ccrs_handle(ccrs);
    srtm_ccrs_free(ccrs);
    return err;
}

static int log_json(const ctx *c, const char *name, uint32_t ccr, srtm_log_iter *it)
{
    json_object *arr = json_object_new_array();
    if (arr == NULL)
        return emit_json(NULL, false);
    bool more = false;
    uint64_t handle = 0;
    srtm_err err = log_collect(it, arr, &more);
    if (err == SRTM_OK)
        err = component_handle(c, name, ccr, &handle);
    if (err != SRTM_OK) {
        json_object_put(arr);
        return fail(c, err);
    }
    json_object *o = json_object_new_object();
    bool ok = add_revert_names(c, name, arr);
    ok = ok && jput(o, "component", json_object_new_string(name));
    ok = ok && jput(o, "handle", json_object_new_uint64(handle));
    ok = ok && jput(o, "ccr", json_object_new_uint64(ccr));
    ok = ok && jput(o, "next_offset", json_object_new_uint64(srtm_log_offset(it)));
    ok = ok && jput(o, "more", json_object_new_boolean(more));
    ok = jput(o, "entries", arr) && ok;
    return emit_json(o, ok);
}

static int log_run(ctx *c, const void *args)
{
    const log_args *a = args;
    const char *name = NULL;
    int rc = ctl_component(c, a->name, &name);
    if (rc != CTL_CONTINUE)
        return rc;
    srtm_log_iter *it = NULL;
    srtm_err err = srtm_log_open(c->conn, name, a->ccr, a->from, &it);
    if (err != SRTM_OK)
        return fail(c, err);
    rc = a->cel      ? log_cel(c, name, a->ccr, it)
         : c->g.json ? log_json(c, name, a->ccr, it)
                     : log_text(c, it);
    srtm_log_iter_free(it);
    return rc;
}

enum { O_FROM = O_FIRST, O_FORMAT };

static const struct option log_opts[] = {
    {"from", required_argument, NULL, O_FROM},
    {"format", required_argument, NULL, O_FORMAT},
    OPT_HELP,
    OPT_END,
};

static int log_option(const command *cmd, int code, const char *arg, void *args)
{
    log_args *a = args;
    if (code == O_FROM && parse_u64(arg, UINT64_MAX, &a->from))
        return CTL_CONTINUE;
    if (code == O_FORMAT && (strcmp(arg, "cel") == 0 || strcmp(arg, "text") == 0)) {
        a->cel = strcmp(arg, "cel") == 0;
        return CTL_CONTINUE;
    }
    if (code == O_FORMAT)
        return usage_error(cmd, "--format is text or cel");
    if (code == O_FROM)
        return usage_error(cmd, "--from takes an entry offset (a number from 0)");
    return usage_error(cmd, "unexpected option");
}

static int log_parse(const command *cmd, const globals *g, int argc, char **argv, void *args)
{
    (void)g;
    log_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, log_opts, log_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = name_ccr(cmd, argc - first, argv + first, 2, &a->name, &a->ccr, NULL);
    return rc;
}

const command ctl_cmd_log = {
    .name = "log",
    .parse = log_parse,
    .run = log_run,
    .args_size = sizeof(log_args),
    .synopsis = "log NAME CCR [--from OFFSET] [--format cel]",
    .help = "Print the measurement log of CCR number CCR of component NAME, one line per\n"
            "entry: 'INDEX SEQ DIGESTHEX EVENT_TYPE DESCRIPTION', with ' [reverted]' at\n"
            "the end of a measurement undone by a revert; a revert marker (reversible\n"
            "CCRs) is 'INDEX SEQ revert-to SEQ by HANDLE'. In the description a backslash\n"
            "is written '\\\\', '[' and control bytes '\\xHH', so every entry is one line\n"
            "and no description reads as a reverted mark.\n"
            "  --from OFFSET     start at entry OFFSET (default 0)\n"
            "  --format cel      the live measurements as a TCG Canonical Event Log (JSON\n"
            "                    array, pcr = CCR; docs/evidence.md)\n"
            "JSON: {\"component\",\"handle\",\"ccr\",\"next_offset\",\"more\",\"entries\":\n"
            "[{\"index\",\"seq\",\"revert_marker\",\"reverted\", then for a measurement\n"
            "\"digest\",\"event_type\"[,\"description\"], for a revert marker \"revert_to_seq\",\n"
            "\"revert_by\",\"revert_by_handle\"}]} (docs/json.md); at most 65536 entries per\n"
            "run: when \"more\" is true, go on with --from next_offset.\n",
};

/* ---- revert ------------------------------------------------------------------------ */

typedef struct revert_args {
    const char *name;
    uint32_t ccr;
    const char *actor;
    uint64_t to_seq;
    bool has_to;
} revert_args;

static int revert_run(ctx *c, const void *args)
{
    const revert_args *a = args;
    const char *name = NULL;
    int rc = ctl_component(c, a->name, &name);
    if (rc != CTL_CONTINUE)
        return rc;
    uint64_t reverted = 0, seq = 0;
    uint8_t value[SRTM_DIGEST_LEN];
    char hex[HEX_DIGEST_LEN + 1];
    srtm_err err = srtm_revert(c->conn, &c->cap, name, a->ccr, a->to_seq, a->actor, &reverted,
                               value, &seq);
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
    bool ok = jput(o, "component", json_object_new_string(name));
    ok = ok && jput(o, "ccr", json_object_new_uint64(a->ccr));
    ok = ok && jput(o, "value", json_object_new_string(hex));
    ok = ok && jput(o, "reverted", json_object_new_uint64(reverted));
    ok = ok && jput(o, "seq", json_object_new_uint64(seq));
    return emit_json(o, ok);
}

enum { O_TO = O_FIRST, O_ACTOR };

static const struct option revert_opts[] = {
    {"to", required_argument, NULL, O_TO},
    {"actor", required_argument, NULL, O_ACTOR},
    OPT_HELP,
    OPT_END,
};

static int revert_option(const command *cmd, int code, const char *arg, void *args)
{
    revert_args *a = args;
    switch (code) {
    case O_TO:
        if (!parse_u64(arg, UINT64_MAX, &a->to_seq))
            return usage_error(cmd, "--to takes a sequence number (a number from 0)");
        a->has_to = true;
        return CTL_CONTINUE;
    case O_ACTOR:
        return take_string(cmd, "--actor", arg, SRTM_MAX_NAME, &a->actor);
    default:
        return usage_error(cmd, "unexpected option");
    }
}

static int revert_parse(const command *cmd, const globals *g, int argc, char **argv,
                        void *args)
{
    (void)g;
    revert_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, revert_opts, revert_option, a, &first);
    if (rc == CTL_CONTINUE)
        rc = name_ccr(cmd, argc - first, argv + first, 2, &a->name, &a->ccr, NULL);
    if (rc == CTL_CONTINUE && !a->has_to)
        rc = usage_error(cmd, "needs --to SEQ (0: the initial value)");
    return rc;
}

const command ctl_cmd_revert = {
    .name = "revert",
    .parse = revert_parse,
    .run = revert_run,
    .args_size = sizeof(revert_args),
    .needs_cap = true,
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
};

/* ---- terminate --------------------------------------------------------------------- */

typedef struct terminate_args {
    const char *name;
} terminate_args;

static int terminate_run(ctx *c, const void *args)
{
    const terminate_args *a = args;
    const char *name = NULL;
    int rc = ctl_component(c, a->name, &name);
    if (rc != CTL_CONTINUE)
        return rc;
    uint64_t seq = 0;
    srtm_err err = srtm_terminate(c->conn, &c->cap, name, &seq);
    if (err != SRTM_OK)
        return fail(c, err);
    return print_change(c, name, NULL, NULL, seq);
}

static int terminate_parse(const command *cmd, const globals *g, int argc, char **argv,
                           void *args)
{
    (void)g;
    terminate_args *a = args;
    int first = 0;
    int rc = ctl_getopt(cmd, argc, argv, NULL, help_only_opts, NULL, a, &first);
    if (rc == CTL_CONTINUE)
        rc = ctl_count_positionals(cmd, argc - first, 1, 1);
    if (rc == CTL_CONTINUE)
        rc = ctl_take_name(cmd, argv[first], true, &a->name);
    return rc;
}

const command ctl_cmd_terminate = {
    .name = "terminate",
    .parse = terminate_parse,
    .run = terminate_run,
    .args_size = sizeof(terminate_args),
    .needs_cap = true,
    .synopsis = "terminate NAME",
    .help = "Mark NAME terminated; its CCRs and logs stay readable. Needs --cap with the\n"
            "capability of NAME's parent. Prints 'seq N'.\n"
            "JSON: {\"component\",\"seq\"}\n",
};
