/*
 * libsrtm: the client library of the Software-based Root of Trust for Measurement.
 *
 * Components use it to register and extend their Component Configuration Registers
 * (CCRs); anyone may read CCR values, iterate measurement logs and list components.
 *
 * Conventions
 * - Every function returns an srtm_err; SRTM_OK is 0. srtm_strerror() names it.
 * - Out-parameters come last and are written only on success.
 * - Objects returned through "**out" are owned by the caller and released with the
 *   matching *_free()/srtm_close(); every destructor accepts NULL.
 * - Strings and buffers passed in are copied when needed; the library keeps no pointer
 *   to them after the call returns.
 * - A connection (srtm_conn) may be used by one thread at a time. Open one connection
 *   per thread for parallel use; srtmd serves many connections at once.
 * - Capabilities are secrets. libsrtm wipes its own copies; callers should wipe theirs
 *   with srtm_cap_wipe().
 */
#ifndef SRTM_SRTM_H
#define SRTM_SRTM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SRTM_BUILDING_LIB)
#define SRTM_API __attribute__((visibility("default")))
#else
#define SRTM_API
#endif

/* On functions whose result decides trust: ignoring it is a compile-time warning. */
#define SRTM_MUST_CHECK __attribute__((warn_unused_result))

#define SRTM_VERSION_STRING "0.1.0"

/* Limits shared by srtmd and libsrtm (docs/protocol.md). */
#define SRTM_DIGEST_LEN 32u                      /* SHA-256 */
#define SRTM_CAP_LEN 32u                         /* 256-bit capability */
#define SRTM_MAX_NAME 128u                       /* bytes of a component name */
#define SRTM_MAX_DESC 256u                       /* bytes of a log entry description */
#define SRTM_MAX_BATCH 8192u                     /* measurements per extend request */
#define SRTM_MAX_CCRS_PER_REGISTER 64u           /* CCRs created by one register */
#define SRTM_MAX_LOG_PAGE 1024u                  /* log entries per log response */
#define SRTM_MAX_LIST_PAGE 1024u                 /* components per list response */
#define SRTM_MAX_DEPS 64u                        /* dependencies declared in one register */
#define SRTM_MAX_DEP_CHANGES 1024u               /* recorded dependency changes per component */
#define SRTM_MAX_MESSAGE (4u * 1024u * 1024u)    /* bytes of one protocol message */
#define SRTM_MAX_REPORT (48u * 1024u * 1024u)    /* bytes of one serialised CCR report */
#define SRTM_MIN_NONCE 16u                       /* bytes of a quote nonce, at least */
#define SRTM_MAX_NONCE 64u                       /* ... and at most */
#define SRTM_INSTANCE_LEN 16u                    /* bytes of an srtmd run's instance id */

/* Default endpoint of srtmd when running as root. */
#define SRTM_DEFAULT_URL "ipc:///run/srtm/srtmd.sock"

typedef enum srtm_err {
    SRTM_OK = 0,
    SRTM_E_INVALID = 1,      /* a field is missing, empty or out of its bounds */
    SRTM_E_MALFORMED = 2,    /* bytes that are not a valid message */
    SRTM_E_VERSION = 3,      /* unsupported protocol version */
    SRTM_E_TOO_BIG = 4,      /* message, name, description or batch over its limit */
    SRTM_E_NO_COMPONENT = 5, /* unknown component */
    SRTM_E_EXISTS = 6,       /* a component of that name exists */
    SRTM_E_DENIED = 7,       /* missing or wrong capability */
    SRTM_E_NO_CCR = 8,       /* CCR index out of range */
    SRTM_E_RANGE = 9,        /* log offset or other index out of range */
    SRTM_E_NO_MEMORY = 10,
    SRTM_E_TRANSPORT = 11,   /* connection or socket failure */
    SRTM_E_TIMEOUT = 12,     /* no answer in time */
    SRTM_E_INTERNAL = 13,
    SRTM_E_CRYPTO = 14,      /* a cryptographic primitive failed */
    SRTM_E_UNSUPPORTED = 15, /* operation not offered by this daemon */
    SRTM_E_IO = 16,          /* a local file could not be read or written */
    SRTM_E_END = 17,         /* iteration finished: no more entries */
    SRTM_E_TPM = 18,         /* the TPM refused an operation or could not be reached */
    SRTM_E_QUOTA = 19,       /* a quota of srtmd's configuration refuses the change */
} srtm_err;

#define SRTM_ERR_COUNT 20

/* Change policy of a CCR, fixed when the CCR is created. */
typedef enum srtm_policy {
    SRTM_POLICY_IRREVERSIBLE = 1, /* extend only, like a PCR */
    SRTM_POLICY_REVERSIBLE = 2,   /* may be reverted to an earlier point of its log */
} srtm_policy;

/* A human-readable, static description of err; never NULL. */
SRTM_API const char *srtm_strerror(srtm_err err);

/* A stable lower-case identifier of err for programs ("denied", "not_found", "quota";
 * docs/json.md lists them), "unknown" for a code it does not know; never NULL. */
SRTM_API const char *srtm_err_id(srtm_err err);

/* The library version, SRTM_VERSION_STRING of the build. */
SRTM_API const char *srtm_version(void);

/* ---- Capabilities ---------------------------------------------------------------- */

/* A capability is SRTM_CAP_LEN secret bytes; it is a value type, not a handle. */
typedef struct srtm_cap {
    uint8_t bytes[SRTM_CAP_LEN];
} srtm_cap;

/*
 * Read a capability file (SRTM_CAP_LEN*2 hex digits, optional trailing newline).
 * Refuses a file that is not a regular file, is readable or writable by group or
 * others, or is not owned by the caller's uid or root (SRTM_E_DENIED), and a file of
 * the wrong size or content (SRTM_E_INVALID). On SRTM_E_IO errno tells why.
 */
SRTM_API srtm_err srtm_cap_load(const char *path, srtm_cap *out);

/* Write cap to a new file at path with mode 0600 (refuses to overwrite: SRTM_E_EXISTS). */
SRTM_API srtm_err srtm_cap_save(const char *path, const srtm_cap *cap);

/* Parse SRTM_CAP_LEN*2 hex digits. */
SRTM_API srtm_err srtm_cap_from_hex(const char *hex, srtm_cap *out);

/* Format cap as SRTM_CAP_LEN*2 lower-case hex digits and a NUL into out (size >= 65). */
SRTM_API srtm_err srtm_cap_to_hex(const srtm_cap *cap, char *out, size_t out_size);

/* Overwrite cap with zeros in a way the compiler keeps. */
SRTM_API void srtm_cap_wipe(srtm_cap *cap);

/* ---- Connections ----------------------------------------------------------------- */

typedef struct srtm_conn srtm_conn;

/*
 * Connect to srtmd at url (NULL: $SRTM_SOCKET, else SRTM_DEFAULT_URL when root, else
 * ipc://$XDG_RUNTIME_DIR/srtm/srtmd.sock, else ipc:///tmp/srtm-UID/srtmd.sock): an
 * ipc://PATH or tcp://HOST:PORT URL, or an absolute path, taken as ipc://PATH. The
 * caller owns *out; release it with srtm_close(). Fails at once with SRTM_E_TRANSPORT
 * when it cannot connect, and with SRTM_E_INVALID for a malformed url or another scheme;
 * srtm_last_message(NULL) then names the socket and the cause (no socket there, nothing
 * listening on a stale one, permission denied and who may connect). Should srtmd restart
 * or drop the connection later, the request that finds it gone fails (SRTM_E_TIMEOUT when
 * it may have reached srtmd, SRTM_E_TRANSPORT when it cannot have) and is never sent
 * twice (an extend must not be applied twice); the next request connects again by itself.
 */
SRTM_API srtm_err srtm_open(const char *url, srtm_conn **out);

/*
 * As srtm_open, to a srtmd that serves remote verifiers with mutual TLS on a
 * tls+tcp://HOST:PORT url (docs/configuration.md, "TLS"): cert_file and key_file are this
 * client's certificate and private key (PEM), which must chain to srtmd's tls-ca; ca_file
 * holds the CA certificates (PEM) srtmd's certificate must chain to, and server_name (NULL:
 * the url's host) the name that certificate must carry. TLS 1.2 or later. srtm_open refuses
 * a tls+tcp:// url, and this function any other, with SRTM_E_INVALID; a file that cannot be
 * read is SRTM_E_IO, one that holds no PEM certificate or key SRTM_E_INVALID, and a
 * handshake that fails (either side refused the other's certificate) SRTM_E_TRANSPORT;
 * srtm_last_message(NULL) names the file or the cause.
 */
SRTM_API srtm_err srtm_open_tls(const char *url, const char *cert_file, const char *key_file,
                                const char *ca_file, const char *server_name, srtm_conn **out);

/* Close and free a connection; accepts NULL. */
SRTM_API void srtm_close(srtm_conn *conn);

/* Time to wait for each answer, in milliseconds (default 10000). */
SRTM_API srtm_err srtm_set_timeout(srtm_conn *conn, int32_t timeout_ms);

/*
 * The human-readable message for the last failed request on conn (srtmd's, or libsrtm's
 * when the answer never came), or "" when the last request succeeded. Valid until the
 * next call on conn. With conn NULL: why the calling thread's last srtm_open() failed
 * ("" after a success), valid until its next srtm_open().
 */
SRTM_API const char *srtm_last_message(const srtm_conn *conn);

/* ---- Registration ---------------------------------------------------------------- */

/*
 * Register a component called name with ccr_count irreversible CCRs (0 means 1).
 * auth is the capability allowed to register it (the admin capability for children of
 * component 0). On success *handle_out is its handle and *cap_out its fresh capability,
 * which the caller must keep secret and wipe after use.
 */
SRTM_API srtm_err srtm_register(srtm_conn *conn, const srtm_cap *auth, const char *name,
                                uint32_t ccr_count, uint64_t *handle_out, srtm_cap *cap_out);

/*
 * Register name as a child of parent (NULL: component 0, the platform) with ccr_count
 * CCRs (0 means 1). parent_cap is the parent's capability (the admin capability when
 * parent is NULL). The child depends on its parent and on the ndeps components named in
 * depends_on (at most SRTM_MAX_DEPS, SRTM_E_TOO_BIG otherwise; each must exist,
 * SRTM_E_NO_COMPONENT), all set up before the child exists. The nrev CCR indexes in
 * reversible are created REVERSIBLE, the others IRREVERSIBLE (an index not below the
 * CCR count is SRTM_E_NO_CCR). A terminated parent registers nothing (SRTM_E_INVALID).
 * depends_on and reversible may be NULL when their count is 0; they are not kept.
 * On success *handle_out is the child's handle and *cap_out its fresh capability, which
 * the caller must keep secret and wipe after use. srtm_register(conn, auth, name, n, ..)
 * is srtm_register_child(conn, auth, NULL, name, n, NULL, 0, NULL, 0, ..).
 */
SRTM_API srtm_err srtm_register_child(srtm_conn *conn, const srtm_cap *parent_cap,
                                      const char *parent, const char *name,
                                      uint32_t ccr_count, const char *const *depends_on,
                                      size_t ndeps, const uint32_t *reversible, size_t nrev,
                                      uint64_t *handle_out, srtm_cap *cap_out);

/* ---- Hierarchical integrity management ------------------------------------------ */

/*
 * Add (remove == false) or remove (remove == true) the dependency component -> on:
 * component's integrity depends on on's. cap is the actor's capability; the actor
 * (NULL: component itself) must be, to add, component or a component it already depends
 * on, directly or transitively; to remove, component or its parent chain, neither on nor
 * anything on depends on, and for an edge an ancestor declared, that ancestor or one
 * above it (SRTM_E_DENIED otherwise, also for a wrong capability; docs/protocol.md). A
 * cycle or self-loop is SRTM_E_INVALID, an existing edge SRTM_E_EXISTS, removing a
 * missing edge or the edge to the parent SRTM_E_INVALID; srtm_last_message() says which.
 * *seq_out (may be NULL) receives the global sequence number of the change.
 */
SRTM_API srtm_err srtm_depend(srtm_conn *conn, const srtm_cap *cap, const char *component,
                              const char *on, const char *actor, bool remove,
                              uint64_t *seq_out);

/*
 * Revert REVERSIBLE CCR ccr of component to the value it had right after its live
 * measurement with global sequence number to_seq (0: its initial value). cap is the
 * actor's capability; the actor (NULL: component itself) must be component or its parent
 * chain (SRTM_E_DENIED otherwise). The undone measurements stay in the log marked reverted, and a
 * revert marker recording to_seq and the actor is appended. An IRREVERSIBLE CCR is
 * SRTM_E_INVALID (for an authorised actor: a wrong capability is SRTM_E_DENIED first); a to_seq that is not a live measurement of this CCR is SRTM_E_RANGE.
 * Out-parameters may be NULL: *reverted_out how many measurements were undone, value_out
 * the CCR's value now, *seq_out the sequence number of the marker.
 */
SRTM_API srtm_err srtm_revert(srtm_conn *conn, const srtm_cap *cap, const char *component,
                              uint32_t ccr, uint64_t to_seq, const char *actor,
                              uint64_t *reverted_out, uint8_t value_out[SRTM_DIGEST_LEN],
                              uint64_t *seq_out);

/*
 * Mark component terminated; parent_cap is its parent's capability (SRTM_E_DENIED
 * otherwise). Its CCRs and logs stay readable; component 0 cannot be terminated
 * (SRTM_E_INVALID). *seq_out (may be NULL) receives the sequence number of the change.
 */
SRTM_API srtm_err srtm_terminate(srtm_conn *conn, const srtm_cap *parent_cap,
                                 const char *component, uint64_t *seq_out);

typedef struct srtm_graph srtm_graph;

/*
 * Read the dependency graph: of component and its dependency closure (one request;
 * SRTM_E_TOO_BIG when the closure holds more than SRTM_MAX_LIST_PAGE components), or,
 * when component is NULL, of every component, component 0 included, fetched page by page
 * (each page is consistent; the whole is not one snapshot when components change
 * meanwhile). Nodes come in increasing handle order. The caller owns *out; release it
 * with srtm_graph_free().
 */
SRTM_API srtm_err srtm_graph_read(srtm_conn *conn, const char *component, srtm_graph **out);

/* Free a graph; accepts NULL. */
SRTM_API void srtm_graph_free(srtm_graph *g);
SRTM_API size_t srtm_graph_count(const srtm_graph *g);
/* Accessors for node i < count; strings and arrays are owned by g. Out of range: 0, "",
 * NULL with *n_out 0. parent is the registering component (0 for component 0 itself). */
SRTM_API uint64_t srtm_graph_handle(const srtm_graph *g, size_t i);
SRTM_API const char *srtm_graph_name(const srtm_graph *g, size_t i);
SRTM_API uint64_t srtm_graph_parent(const srtm_graph *g, size_t i);
/* 1 when the node's parent marked it terminated, else 0. */
SRTM_API int srtm_graph_terminated(const srtm_graph *g, size_t i);
/* The handles node i directly depends on (its parent included), ascending; *n_out (must
 * not be NULL) receives how many. NULL when there are none. */
SRTM_API const uint64_t *srtm_graph_deps(const srtm_graph *g, size_t i, size_t *n_out);

/* ---- Extending CCRs -------------------------------------------------------------- */

/*
 * Extend CCR ccr of component with one SRTM_DIGEST_LEN-byte digest. description may be
 * NULL. *seq_out (may be NULL) receives the global sequence number of the measurement.
 */
SRTM_API srtm_err srtm_extend(srtm_conn *conn, const srtm_cap *cap, const char *component,
                              uint32_t ccr, const uint8_t digest[SRTM_DIGEST_LEN],
                              uint32_t event_type, const char *description, uint64_t *seq_out);

/* Hash len bytes of data with SHA-256 locally, then extend with the digest. */
SRTM_API srtm_err srtm_extend_data(srtm_conn *conn, const srtm_cap *cap, const char *component,
                                   uint32_t ccr, const void *data, size_t len,
                                   uint32_t event_type, const char *description,
                                   uint64_t *seq_out);

/* Hash the file at path with SHA-256 locally (SRTM_E_IO if unreadable), then extend. */
SRTM_API srtm_err srtm_extend_file(srtm_conn *conn, const srtm_cap *cap, const char *component,
                                   uint32_t ccr, const char *path, uint32_t event_type,
                                   const char *description, uint64_t *seq_out);

/*
 * A batch of measurements for one component, sent in one request and applied
 * atomically and in order: either every measurement lands or none does.
 */
typedef struct srtm_batch srtm_batch;

/* A new, empty batch; the caller owns *out and releases it with srtm_batch_free(). */
SRTM_API srtm_err srtm_batch_new(srtm_batch **out);

/* Free a batch; accepts NULL. */
SRTM_API void srtm_batch_free(srtm_batch *batch);

/* Drop every measurement, keeping the memory for reuse. */
SRTM_API void srtm_batch_clear(srtm_batch *batch);

/* Number of measurements in the batch. */
SRTM_API size_t srtm_batch_count(const srtm_batch *batch);

/*
 * Append a measurement (digest copied, description copied; may be NULL). Refuses a
 * description over SRTM_MAX_DESC and a batch already holding SRTM_MAX_BATCH entries
 * (SRTM_E_TOO_BIG), leaving the batch as it was.
 */
SRTM_API srtm_err srtm_batch_add(srtm_batch *batch, uint32_t ccr,
                                 const uint8_t digest[SRTM_DIGEST_LEN], uint32_t event_type,
                                 const char *description);

/*
 * Send the batch for component. *first_seq_out and *last_seq_out (each may be NULL)
 * receive the sequence numbers of its first and last measurement. The batch is left
 * unchanged; clear it to reuse it.
 */
SRTM_API srtm_err srtm_batch_submit(srtm_conn *conn, const srtm_cap *cap, const char *component,
                                    const srtm_batch *batch, uint64_t *first_seq_out,
                                    uint64_t *last_seq_out);

/* ---- Reading CCRs ---------------------------------------------------------------- */

typedef struct srtm_ccrs srtm_ccrs;

/*
 * Read the CCRs of component: every CCR when indexes is NULL or count is 0, otherwise
 * the count CCRs listed. The caller owns *out; release it with srtm_ccrs_free().
 */
SRTM_API srtm_err srtm_read(srtm_conn *conn, const char *component, const uint32_t *indexes,
                            size_t count, srtm_ccrs **out);

SRTM_API void srtm_ccrs_free(srtm_ccrs *ccrs);
SRTM_API size_t srtm_ccrs_count(const srtm_ccrs *ccrs);
SRTM_API uint64_t srtm_ccrs_handle(const srtm_ccrs *ccrs);
/* Global sequence number at which the values were read. */
SRTM_API uint64_t srtm_ccrs_seq(const srtm_ccrs *ccrs);
/*
 * The i-th CCR read (i < srtm_ccrs_count): its index, policy (IRREVERSIBLE or
 * REVERSIBLE, fixed when the CCR was created), value and log length (revert markers and
 * reverted measurements included).
 * Any out-parameter may be NULL. SRTM_E_RANGE when i is out of range.
 */
SRTM_API srtm_err srtm_ccrs_get(const srtm_ccrs *ccrs, size_t i, uint32_t *index_out,
                                srtm_policy *policy_out, uint8_t value_out[SRTM_DIGEST_LEN],
                                uint64_t *log_length_out);

/* ---- Measurement logs ------------------------------------------------------------ */

typedef struct srtm_log_iter srtm_log_iter;
typedef struct srtm_log_entry srtm_log_entry;

/*
 * Iterate the log of CCR ccr of component from entry offset on (0: the beginning).
 * Entries are fetched from srtmd in pages as the iteration advances, so a log of any
 * length is read in bounded memory, and an iteration that reached the end may be
 * continued later to pick up entries appended since (incremental reads). The caller
 * owns *out; release it with srtm_log_iter_free(). conn must outlive the iterator.
 */
SRTM_API srtm_err srtm_log_open(srtm_conn *conn, const char *component, uint32_t ccr,
                                uint64_t offset, srtm_log_iter **out);

/*
 * The next entry, valid until the next call on it. Returns SRTM_E_END (and leaves the
 * iterator ready to continue) when no entry is left now.
 */
SRTM_API srtm_err srtm_log_next(srtm_log_iter *it, const srtm_log_entry **entry_out);

/* Offset of the next entry srtm_log_next() will return. */
SRTM_API uint64_t srtm_log_offset(const srtm_log_iter *it);

SRTM_API void srtm_log_iter_free(srtm_log_iter *it);

SRTM_API uint64_t srtm_log_entry_index(const srtm_log_entry *e);
SRTM_API uint64_t srtm_log_entry_seq(const srtm_log_entry *e);
/* The SRTM_DIGEST_LEN-byte digest of a measurement; NULL for a revert marker, which
 * records a revert and measured nothing (check srtm_log_entry_is_revert). */
SRTM_API const uint8_t *srtm_log_entry_digest(const srtm_log_entry *e);
SRTM_API uint32_t srtm_log_entry_event_type(const srtm_log_entry *e);
SRTM_API const char *srtm_log_entry_description(const srtm_log_entry *e); /* never NULL */
/* 1 for a measurement undone by a later revert: it stays in the log but is no longer
 * part of the CCR's value. 0 otherwise. */
SRTM_API int srtm_log_entry_reverted(const srtm_log_entry *e);
/* 1 for a revert marker of a REVERSIBLE CCR, 0 for a measurement. */
SRTM_API int srtm_log_entry_is_revert(const srtm_log_entry *e);
/* For a revert marker: the sequence number of the measurement the CCR was returned to
 * (0: its initial value), and the handle of the component that asked. 0 otherwise. */
SRTM_API uint64_t srtm_log_entry_revert_to(const srtm_log_entry *e);
SRTM_API uint64_t srtm_log_entry_revert_by(const srtm_log_entry *e);

/* ---- srtmd's status --------------------------------------------------------------- */

#define SRTM_STATUS_MAX_LISTENERS 4u
#define SRTM_STATUS_MAX_URL 512u /* bytes of a listener URL, NUL included */

/*
 * srtmd's own state (docs/protocol.md, "status"). A value type: the caller sets size to
 * sizeof(srtm_status_info) and libsrtm fills no more than that, so fields are only ever
 * appended and an older caller keeps working with a newer library.
 */
typedef struct srtm_status_info {
    size_t size;
    bool tpm;               /* srtmd quotes with a TPM (false: --no-tpm) */
    char irk_scheme[16];    /* "mit", "s1t", "perboot"; "" without a TPM */
    uint32_t reset_count;   /* the TPM boot of the IRK certificate (its clock info) */
    uint32_t restart_count;
    uint64_t quote_jobs;    /* joint quotes answered so far */
    uint64_t tpm_quotes;    /* TPM quotes made for them: the quoter's health */
    size_t n_listeners;     /* the URLs srtmd serves; the first is the local socket */
    char listeners[SRTM_STATUS_MAX_LISTENERS][SRTM_STATUS_MAX_URL];
    uint32_t listener_restarts; /* stalled local listeners the watchdog replaced */
    uint64_t components;    /* component 0 included */
    uint64_t log_entries;   /* in every CCR's log */
    uint64_t stored_bytes;  /* accounted bytes, against memory_budget (the quota) */
    uint64_t memory_budget;
    uint64_t seq;           /* the global sequence number */
    uint64_t quotes_waiting; /* joint quotes waiting for the TPM now */
    bool tpm_ok;            /* the last TPM quote succeeded (true before the first) */
} srtm_status_info;

/*
 * Ask srtmd for its status; no capability. srtmd answers on its local socket only
 * (SRTM_E_DENIED from a read-only tcp listener). out->size must be set (SRTM_E_INVALID
 * otherwise); out is written only on success.
 */
SRTM_API srtm_err srtm_status(srtm_conn *conn, srtm_status_info *out);

/* ---- Listing components ---------------------------------------------------------- */

typedef struct srtm_components srtm_components;

/*
 * List every registered component (component 0, the platform, included), fetched in
 * pages. The caller owns *out; release it with srtm_components_free().
 */
SRTM_API srtm_err srtm_list(srtm_conn *conn, srtm_components **out);

SRTM_API void srtm_components_free(srtm_components *list);
SRTM_API size_t srtm_components_count(const srtm_components *list);
/* Accessors for entry i < count; strings are owned by list. Out of range: 0 or "". */
SRTM_API const char *srtm_components_name(const srtm_components *list, size_t i);
SRTM_API uint64_t srtm_components_handle(const srtm_components *list, size_t i);
SRTM_API uint32_t srtm_components_ccr_count(const srtm_components *list, size_t i);
SRTM_API uint32_t srtm_components_peer_uid(const srtm_components *list, size_t i);
SRTM_API uint32_t srtm_components_peer_pid(const srtm_components *list, size_t i);
/* Usage against srtmd's quotas (docs/protocol.md, "Limits"): entry i's log entries, their
 * accounted bytes and its children. Out of range: zeros. */
SRTM_API void srtm_components_usage(const srtm_components *list, size_t i, uint64_t *entries_out,
                                    uint64_t *bytes_out, uint32_t *children_out);
/* srtmd's accounted bytes of every log and component, and its memory-budget, as of the
 * last page fetched. */
SRTM_API void srtm_components_stored(const srtm_components *list, uint64_t *stored_out,
                                     uint64_t *budget_out);

/* ---- Joint quotes ---------------------------------------------------------------- */

/*
 * Ask srtmd for a joint quote: a CCR report of the count named components (all when
 * components is NULL or count is 0) signed with the IRK, and a TPM quote with the AIK
 * binding nonce (SRTM_MIN_NONCE..SRTM_MAX_NONCE bytes, chosen by the verifier) and the
 * report. *evidence_out receives the serialised Evidence message, the format of evidence
 * files; the caller releases it with free(). Nothing in it is checked here: verify it.
 * SRTM_E_UNSUPPORTED from a daemon running without a TPM.
 */
SRTM_API srtm_err srtm_quote(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                             const char *const *components, size_t count,
                             uint8_t **evidence_out, size_t *len_out);

/*
 * As srtm_quote; closure true (srtm_quote's behaviour) reports the selected components
 * and everything they depend on, with their edges, parents and terminations; closure
 * false reports only the selection, so a verifier cannot apply the dependency rule to it.
 */
SRTM_API srtm_err srtm_quote_selection(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                                       const char *const *components, size_t count,
                                       bool closure, uint8_t **evidence_out, size_t *len_out);

/*
 * As srtm_quote_selection, asking for an incremental report (docs/protocol.md,
 * "Incremental quotes"): since_instance (SRTM_INSTANCE_LEN bytes) and since_seq name the
 * report of this srtmd run the verifier last verified (srtm_verify_state_since gives
 * both). srtmd then reports each IRREVERSIBLE CCR's log from the first entry after
 * since_seq, or answers with a full report when the instance is not its own or since_seq
 * is 0 or ahead of it; srtm_verify_with_state tells which. SRTM_E_INVALID for NULL
 * since_instance.
 */
SRTM_API srtm_err srtm_quote_since(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                                   const char *const *components, size_t count, bool closure,
                                   const uint8_t *since_instance, uint64_t since_seq,
                                   uint8_t **evidence_out, size_t *len_out);

/* ---- Verifier ------------------------------------------------------------------- */

/*
 * The verifier checks an evidence file (srtm_quote's output) against the AIK public key
 * the verifier trusts and a policy file (docs/verifier.md): the TPM quotes, the IRK
 * certificate, the IRK signature, and every component's CCRs and logs. It does no I/O
 * besides reading the policy (and the reference file it names) and talks to no daemon.
 *
 * Fail closed: srtm_verify returns SRTM_OK only when every evidence-level check passed
 * and every requested component is trusted; a caller that looks at nothing but the
 * return code gets the right answer.
 */

/* A loaded verification policy. Immutable once loaded: one policy may be used by many
 * threads at once. */
typedef struct srtm_verifier_policy srtm_verifier_policy;

/* The outcome of one srtm_verify call. */
typedef struct srtm_verify_result srtm_verify_result;

/*
 * Load and check a policy file (JSON, at most 16 MiB). A "reference_file" it names is
 * read relative to the policy file's directory. Parsing is strict: an unknown key, a
 * value of the wrong type, bad hex or a count over its bound refuses the whole file.
 * On failure msg (may be NULL) receives a one-line reason naming the key path, e.g.
 * "components.vm-a.ccrs.0.allowed_digests[2]: not 64 hex digits" (this out-parameter is
 * written on failure too). SRTM_E_IO: unreadable file (errno tells why); SRTM_E_TOO_BIG:
 * a size or count over its bound; SRTM_E_INVALID: anything else wrong in the content.
 * The caller owns *out and releases it with srtm_policy_free().
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_policy_load(const char *path, srtm_verifier_policy **out,
                                                   char *msg, size_t msg_size);

/* As srtm_policy_load, from len bytes of JSON text in memory; base_dir (NULL: ".") is
 * where a "reference_file" is looked for. */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_policy_parse(const char *text, size_t len,
                                                    const char *base_dir,
                                                    srtm_verifier_policy **out, char *msg,
                                                    size_t msg_size);

/* Free a policy; accepts NULL. */
SRTM_API void srtm_policy_free(srtm_verifier_policy *policy);

/*
 * Verify evidence (len bytes, the serialised Evidence message) against aik_pem (the
 * NUL-terminated PEM text of the AIK public key, not a path), policy, and the nonce the
 * verifier chose for this quote.
 *
 * Returns SRTM_OK when every check passed and every requested component (those the
 * policy's "require" lists, or else every reported component) is trusted, and
 * SRTM_E_DENIED when the verification ran and something failed. In both cases *out
 * receives the result with the detail (owned by the caller, released with
 * srtm_verify_result_free()). Any other code (SRTM_E_INVALID for NULL arguments or an
 * AIK PEM that is not a P-256 public key, SRTM_E_NO_MEMORY) means nothing was verified;
 * *out is then set to NULL. nonce_len must be SRTM_MIN_NONCE..SRTM_MAX_NONCE bytes
 * (SRTM_E_INVALID otherwise): a shorter nonce could be guessed, and old evidence replayed.
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_verify(const uint8_t *evidence, size_t len,
                                              const char *aik_pem,
                                              const srtm_verifier_policy *policy,
                                              const uint8_t *nonce, size_t nonce_len,
                                              srtm_verify_result **out);

/*
 * Incremental verification (docs/verifier.md, "Incremental verification"). A verifier
 * keeps, per host, the state of the last report it verified (srtm_verify_result_state,
 * an opaque byte string to store anywhere), asks the next quote since that report
 * (srtm_verify_state_since, srtm_quote_since) and verifies it with the state
 * (srtm_verify_with_state), which continues each IRREVERSIBLE CCR's replay and allowlist
 * from the stored values instead of from the start, and within one srtmd run refuses a
 * log that does not extend what was verified before (check "continuity"), whether the
 * report is incremental or full.
 */
typedef struct srtm_verify_state srtm_verify_state;

/* Read a stored state (at most SRTM_MAX_REPORT bytes). SRTM_E_MALFORMED for bytes that
 * are not one. The caller owns *out and releases it with srtm_verify_state_free(). */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_verify_state_parse(const uint8_t *blob, size_t len,
                                                          srtm_verify_state **out);

/* Free a state; accepts NULL. */
SRTM_API void srtm_verify_state_free(srtm_verify_state *state);

/*
 * What to ask srtmd for: 1 with the state's srtm instance (SRTM_INSTANCE_LEN bytes) and
 * sequence number when an incremental report can be judged under policy (same policy,
 * no stored CCR whose old entries would give a reason), 0 when the next quote should be
 * full (outputs untouched).
 */
SRTM_API int srtm_verify_state_since(const srtm_verify_state *state,
                                     const srtm_verifier_policy *policy,
                                     uint8_t instance_out[SRTM_INSTANCE_LEN],
                                     uint64_t *seq_out);

/*
 * As srtm_verify, with the state of the host's last verified report (NULL: none, which
 * is srtm_verify). Returns and fills *out as srtm_verify does. When only the state could
 * not be used (an incremental report of a component or CCR the state does not hold, a
 * state of another policy), the check "continuity" fails and
 * srtm_verify_result_needs_full() is 1: quote in full and verify again. Any other failed
 * check is a verdict.
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_verify_with_state(const uint8_t *evidence, size_t len,
                                                         const char *aik_pem,
                                                         const srtm_verifier_policy *policy,
                                                         const uint8_t *nonce, size_t nonce_len,
                                                         const srtm_verify_state *state,
                                                         srtm_verify_result **out);

/* 1 when the result failed only because the state could not be used for it. */
SRTM_API int srtm_verify_result_needs_full(const srtm_verify_result *result);

/*
 * The state to keep after this result, for the next srtm_verify_with_state: a new
 * malloc'd byte string (*blob_out, *len_out) the caller frees. After evidence whose every
 * check passed but continuity, which found a lie, the state marks the srtmd run tainted:
 * every later report of that run fails continuity (docs/verifier.md). SRTM_E_DENIED when
 * any other evidence-level check failed (keep the old state, or none).
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_verify_result_state(const srtm_verify_result *result,
                                                           uint8_t **blob_out, size_t *len_out);

/* Free a result; accepts NULL. */
SRTM_API void srtm_verify_result_free(srtm_verify_result *result);

/* 1 when srtm_verify returned SRTM_OK for this result, 0 otherwise (also for NULL). */
SRTM_API int srtm_verify_result_ok(const srtm_verify_result *result);

/*
 * The evidence-level checks, in the order they ran (docs/verifier.md lists them). Strings
 * are owned by result; out of range gives "" and 0. The reason of a passed check is "";
 * a check that could not run because an earlier one failed is failed with a reason that
 * says which.
 */
SRTM_API size_t srtm_verify_result_check_count(const srtm_verify_result *result);
SRTM_API const char *srtm_verify_result_check_name(const srtm_verify_result *result, size_t i);
SRTM_API int srtm_verify_result_check_ok(const srtm_verify_result *result, size_t i);
SRTM_API const char *srtm_verify_result_check_reason(const srtm_verify_result *result,
                                                     size_t i);

/*
 * One verdict per component: those in the report (report order), then the names of the
 * policy that match nothing in the report (untrusted: "missing from the report" for a
 * required name, "named in the policy but not in the report" for a components key).
 * A component's path is the names from component 0 down to it joined by '/'
 * ("platform/dm/vm-b"); it is "" when the report does not lead from the component to
 * component 0 or the path is longer than 1024 bytes, and for a name of the policy that
 * matched nothing it is that name as the policy wrote it. trusted is 1
 * only if every evidence-level check passed, the component's own checks passed, and
 * every component it depends on (through the report's edges) is trusted; a reason then
 * names the failing dependency chain (docs/verifier.md, "The dependency rule").
 * Strings are owned by result; out of range gives "" and 0.
 */
SRTM_API size_t srtm_verify_result_component_count(const srtm_verify_result *result);
SRTM_API const char *srtm_verify_result_component_name(const srtm_verify_result *result,
                                                       size_t i);
SRTM_API const char *srtm_verify_result_component_path(const srtm_verify_result *result,
                                                       size_t i);
SRTM_API int srtm_verify_result_component_trusted(const srtm_verify_result *result, size_t i);
SRTM_API size_t srtm_verify_result_component_reason_count(const srtm_verify_result *result,
                                                          size_t i);
SRTM_API const char *srtm_verify_result_component_reason(const srtm_verify_result *result,
                                                         size_t i, size_t j);

/*
 * Write the TPM part of evidence as files tpm2-tools read, into the existing directory
 * dir (mode 0644 each, replacing files of the same name): quote.attest (the marshalled
 * TPMS_ATTEST), quote.sig (DER ECDSA signature), quote.pcrs (the PCR values in the format
 * tpm2_quote -o writes: docs/verifier.md), quote.pcrvalues (the PCR values concatenated in
 * ascending PCR order), pcrs.txt (the selection, e.g. "sha256:0,1,2,3,4,5,6,7,15"),
 * nonce.hex (the qualifyingData inside the quote, in hex), and the same six for the IRK
 * certificate with the prefix "certificate." Nothing is verified here. Then
 *   tpm2_checkquote -u aik.pem -m quote.attest -s quote.sig -f quote.pcrs \
 *       -g sha256 -q $(cat nonce.hex)
 * checks the quote with no srtm code involved. SRTM_E_MALFORMED for evidence that does
 * not parse, SRTM_E_IO when a file cannot be written (errno tells why).
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_evidence_export_tpm(const uint8_t *evidence, size_t len,
                                                           const char *dir);

/*
 * The result as an IETF RATS EAR attestation result (draft-ietf-rats-ear), a JWT signed
 * with ES256 by key_pem (the NUL-terminated PEM text of a P-256 private key, not a path):
 * eat_profile "tag:github.com,2023:veraison/ear", iat (seconds since the epoch), the
 * verifier id, eat_nonce (base64url of nonce, the verifier's nonce given to srtm_verify),
 * and one submodule per verdict with its ear.status (trusted: "affirming", untrusted:
 * "contraindicated", a policy name matching nothing in the report: "none") and
 * ear.appraisal-policy-id "sha256:" + the hex SHA-256 of the policy file's bytes
 * (policy_sha256); every claim: docs/verifier.md. The caller owns *jwt_out and releases
 * it with free(). SRTM_E_INVALID for a key that is not a P-256 private key, a nonce not
 * 16 to 64 bytes, or NULL arguments; SRTM_E_CRYPTO when signing fails.
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_verify_result_ear(const srtm_verify_result *result,
                                                         const uint8_t *nonce, size_t nonce_len,
                                                         const uint8_t policy_sha256[SRTM_DIGEST_LEN],
                                                         const char *key_pem, int64_t iat,
                                                         char **jwt_out);

/*
 * A policy (JSON text, docs/verifier.md) from evidence of a known-good platform: every
 * component of the report, keyed by its path, each CCR with an allowlist of exactly the
 * live measurements of its log (labelled by their descriptions); the PCR references are
 * the evidence's own quoted values (IRK certificate: proof, joint quote: running), or,
 * when reference_file is not NULL, that path as "reference_file" (resolved relative to the
 * policy file's directory when it is loaded). Nothing is verified: the evidence is taken
 * as the good state. The caller owns *json_out and releases it with free().
 * SRTM_E_MALFORMED for evidence that does not parse, or a component without a path.
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_policy_create(const uint8_t *evidence, size_t len,
                                                     const char *reference_file,
                                                     char **json_out);

/*
 * What evidence holds, without a policy and without verifying anything, as one JSON
 * object (docs/evidence.md, "srtmctl show"): the nonce, both quotes as parsed (PCR values,
 * pcrDigest, qualifyingData, clock, resetCount, restartCount), the IRK public key, and
 * every component with its path, CCR values, logs, dependency edges and records.
 * SRTM_E_MALFORMED for evidence or a report that does not parse. The caller owns
 * *json_out and releases it with free().
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_evidence_describe(const uint8_t *evidence, size_t len,
                                                         char **json_out);

/*
 * The CCR logs of evidence as a TCG Canonical Event Log in its JSON encoding: an array of
 * records {recnum, pcr (the CCR index), digests [{hashAlg "sha256", digest}],
 * content_type "srtm_ccr", content {handle, component, path, seq, event_type,
 * description}}, one per live measurement (docs/evidence.md gives the mapping). Nothing is
 * verified. The caller owns *json_out and releases it with free().
 */
SRTM_MUST_CHECK SRTM_API srtm_err srtm_evidence_cel(const uint8_t *evidence, size_t len,
                                                    char **json_out);

/* ---- Local hashing helpers ------------------------------------------------------- */

/* SHA-256 of a buffer. */
SRTM_API srtm_err srtm_sha256(const void *data, size_t len, uint8_t digest_out[SRTM_DIGEST_LEN]);

/* SHA-256 of a file's contents (SRTM_E_IO when it cannot be read). */
SRTM_API srtm_err srtm_sha256_file(const char *path, uint8_t digest_out[SRTM_DIGEST_LEN]);

#ifdef __cplusplus
}
#endif

#endif /* SRTM_SRTM_H */
