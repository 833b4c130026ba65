/*
 * srtmctl's private header: what the command files share. A command is one file (or a
 * section of its family's file) that defines a `command` with its own options, argument
 * struct, parser and run function, and one line in the table of main.c.
 */
#ifndef SRTMCTL_CTL_H
#define SRTMCTL_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include <srtm/srtm.h>

#include "common.h"

/* Exit codes, documented in ctl_exit_help. */
enum {
    CTL_CONTINUE = -1, /* internal: no verdict yet, go on to the next phase */
    CTL_OK = 0,
    CTL_FAILED = 1,      /* srtmd refused, or the operation failed */
    CTL_USAGE = 2,       /* bad or missing arguments */
    CTL_UNREACHABLE = 3, /* srtmd could not be reached or did not answer in time */
    CTL_LOCAL_FILE = 4,  /* a local file could not be used */
};

#define MAX_URL 4096u
#define MAX_PATH_ARG 1024 /* bytes of a component path given for NAME */
#define HEX_DIGEST_LEN (2u * SRTM_DIGEST_LEN)
#define CTL_MAX_POLICY (16u * 1024u * 1024u) /* bytes of a policy read from stdin */
#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* getopt codes every command shares; a command's own codes start at O_FIRST. */
enum { O_HELP = 256, O_FIRST = 300 };
#define OPT_HELP {"help", no_argument, NULL, O_HELP}
#define OPT_END {NULL, 0, NULL, 0}

typedef struct globals {
    const char *socket;   /* NULL: libsrtm's default */
    const char *cap_path; /* NULL: none given */
    bool json;
    int32_t timeout_ms; /* 0: libsrtm's default */
    /* A tls+tcp:// socket: this client's certificate and key, srtmd's CA (NULL: none) */
    const char *tls_cert, *tls_key, *tls_ca, *tls_name;
} globals;

typedef struct ctx {
    globals g;
    srtm_conn *conn; /* NULL for offline commands */
    srtm_cap cap;    /* loaded when the command needs_cap */
} ctx;

/*
 * One command. parse sees argv with argv[0] the command name and fills args (args_size
 * zeroed bytes) without any I/O, so a usage error never touches a file or the daemon; it
 * returns CTL_CONTINUE when the command can run. run then acts on the connection (or on
 * local files only when offline).
 */
typedef struct command {
    const char *name;
    int (*parse)(const struct command *cmd, const globals *g, int argc, char **argv,
                 void *args);
    int (*run)(ctx *c, const void *args);
    size_t args_size;
    bool needs_cap; /* --cap is loaded before connecting */
    bool offline;   /* works on local files only: no connection to srtmd */
    const char *synopsis;
    const char *help;
} command;

/* The commands, one per family file. */
extern const command ctl_cmd_register, ctl_cmd_extend, ctl_cmd_read, ctl_cmd_log,
    ctl_cmd_revert, ctl_cmd_terminate;
extern const command ctl_cmd_depend, ctl_cmd_undepend, ctl_cmd_graph;
extern const command ctl_cmd_quote, ctl_cmd_verify, ctl_cmd_state;
extern const command ctl_cmd_list, ctl_cmd_status;
extern const command ctl_cmd_policy, ctl_cmd_show;

extern const char ctl_exit_help[];

/* ---- argument parsing (args.c) ---- */

bool parse_u64(const char *s, uint64_t max, uint64_t *out);
bool parse_u32(const char *s, uint32_t max, uint32_t *out);
/* A string option of 1 to max bytes. */
int take_string(const command *cmd, const char *opt, const char *arg, size_t max,
                const char **out);
typedef int (*ctl_opt_fn)(const command *cmd, int code, const char *arg, void *args);
/* getopt_long over argv (argv[0] the command); --help prints the command's usage and
 * ends with CTL_OK. On CTL_CONTINUE *first_pos is the index of the first positional. */
int ctl_getopt(const command *cmd, int argc, char **argv, const char *shortopts,
               const struct option *opts, ctl_opt_fn fn, void *args, int *first_pos);
/* n positionals within [min, max], or a usage error naming the synopsis. */
int ctl_count_positionals(const command *cmd, int n, unsigned min, unsigned max);
/* NAME: a component name, or a path ("platform/dm/vm") when allow_path. */
int ctl_take_name(const command *cmd, const char *arg, bool allow_path, const char **out);
int ctl_take_ccr(const command *cmd, const char *arg, uint32_t *out);
/* --nonce HEX */
int ctl_take_nonce(const command *cmd, const char *arg, uint8_t nonce[SRTM_MAX_NONCE],
                   size_t *len);
int bad_option(const command *cmd, int c, char **argv);
/* arg is one of the global options (main.c), misplaced after the command. */
bool is_global_option(const char *arg);
void command_usage(const command *cmd);

/* ---- output (json.c) ---- */

/* Text output keeps one record per line and fields split by spaces whatever a peer
 * stored: backslash, control bytes and the bytes in extra become escapes. */
void print_escaped_set(const char *s, const char *extra);
void print_escaped(const char *s, bool escape_space);
/* Adds v under key, taking ownership of v; false (v released) when anything is NULL. */
bool jput(json_object *o, const char *key, json_object *v);
bool jput_hex(json_object *o, const char *key, const uint8_t *bytes, size_t len);
/* Prints o as one line and releases it; ok false means building it ran out of memory. */
int emit_json(json_object *o, bool ok);
/* emit_json for an object whose string under key is a secret: wiped after printing. */
int emit_json_secret(json_object *o, const char *key, bool ok);
/* Append item(src, 0..n-1) to arr; false (arr partly filled) if any item fails. */
bool fill_array(json_object *arr, size_t n, json_object *(*item)(const void *, size_t),
                const void *src);
/* 'seq N', or the JSON object with the component, key: val when key is not NULL, and seq. */
int print_change(const ctx *c, const char *component, const char *key, const char *val,
                 uint64_t seq);

/* 'log --format cel' (cel.c): the entries of it as a CEL JSON array on stdout. */
int log_cel(const ctx *c, const char *name, uint32_t ccr, srtm_log_iter *it);

/* ---- failures (errors.c) ---- */

int exit_code_for(srtm_err err);
/* With --json, the error object of docs/json.md on stdout: id srtm_err_id(err). */
void json_error(const ctx *c, srtm_err err, const char *message);
/* Whether usage errors also print the error object (id "usage"). */
void ctl_set_json_errors(bool on);
/* A request that libsrtm or srtmd refused. */
int fail(const ctx *c, srtm_err err);
/* A local file that could not be used; the message names it. */
int file_error(const ctx *c, srtm_err err, const char *fmt, ...) SRTM_PRINTF(3, 4);
/* One line: what is wrong and where to read more. */
int usage_error(const command *cmd, const char *fmt, ...) SRTM_PRINTF(2, 3);
const char *cap_load_reason(srtm_err err);

/* ---- local files (io.c): "-" is stdin for an input, stdout for an output ---- */

bool ctl_is_stdio(const char *path);
/* The whole of path, at most max bytes, NUL-terminated into a new *buf (the caller frees
 * it); what names it in the error ("evidence file"). */
int ctl_read_input(const ctx *c, const char *what, const char *path, size_t max, char **buf,
                   size_t *len);
/* SHA-256 of the contents of path. */
int ctl_hash_input(const ctx *c, const char *what, const char *path,
                   uint8_t out[SRTM_DIGEST_LEN]);

/* ---- the verifier state of 'verify --state' (state.c) ---- */

/* The state kept in path: *out NULL when there is no such file (no state yet); a file
 * that cannot be read or is not a state is a local-file error. The caller frees *out. */
int ctl_state_load(const ctx *c, const char *path, srtm_verify_state **out);
/* Replace the state in path with the one after r (mode 0600), when r's evidence-level
 * checks passed; otherwise path is left as it is. */
int ctl_state_save(const ctx *c, const char *path, const srtm_verify_result *r);

/* ---- components named by path (graph.c) ---- */

/* NAME as srtmd knows it: a path given for NAME is resolved to its last name, checked
 * against the parent chain srtmd reports; *name points into arg. */
int ctl_component(ctx *c, const char *arg, const char **name);

#endif
