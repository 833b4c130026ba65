/*
 * Internal helpers shared by srtmd, libsrtm and the tools: SHA-256 with a digest fetched
 * once and a reusable context, hex, logging to stderr with levels, a keyed hash for
 * hash tables, checked file reading. Nothing here is part of the public API except the
 * functions marked SRTM_API (srtm_strerror, srtm_sha256*), which libsrtm exports.
 */
#ifndef SRTM_COMMON_H
#define SRTM_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <srtm/srtm.h>

#define SRTM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SRTM_WUR __attribute__((warn_unused_result))
#define SRTM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- SHA-256 ---- */

/*
 * A SHA-256 hasher: the EVP_MD is fetched once per process, the EVP_MD_CTX is allocated
 * once per hasher and reused, which is several times faster than one-shot EVP_Digest
 * with implicit fetching. A hasher is not thread-safe; give each thread its own.
 */
typedef struct sha256_hasher sha256_hasher;

SRTM_WUR srtm_err sha256_hasher_new(sha256_hasher **out);
void sha256_hasher_free(sha256_hasher *h);
/* out = SHA-256(a || b); b may be NULL when blen is 0. */
SRTM_WUR srtm_err sha256_hasher_two(sha256_hasher *h, const void *a, size_t alen, const void *b,
                                    size_t blen, uint8_t out[SRTM_DIGEST_LEN]);
/* Incremental use: begin, update any number of times, finish. */
SRTM_WUR srtm_err sha256_hasher_begin(sha256_hasher *h);
SRTM_WUR srtm_err sha256_hasher_update(sha256_hasher *h, const void *data, size_t len);
SRTM_WUR srtm_err sha256_hasher_finish(sha256_hasher *h, uint8_t out[SRTM_DIGEST_LEN]);

/* ---- hex ---- */

/* Write 2*len hex digits and a NUL; out_size must be at least 2*len+1. */
SRTM_WUR srtm_err hex_encode(const uint8_t *in, size_t len, char *out, size_t out_size);
/* Decode exactly out_len bytes from a string of exactly 2*out_len hex digits. */
SRTM_WUR srtm_err hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_len);

/* The monotonic clock, in nanoseconds. */
int64_t srtm_mono_ns(void);

/* The host of a SCHEME://HOST:PORT url into out (brackets of an IPv6 address dropped), the
 * name a TLS peer's certificate must carry; false without a scheme, host or port, or when
 * it does not fit in size bytes. */
SRTM_WUR bool url_host(const char *url, char *out, size_t size);

/* ---- logging ---- */

typedef enum srtm_log_level {
    SRTM_LOG_ERROR = 0,
    SRTM_LOG_WARN = 1,
    SRTM_LOG_INFO = 2,
    SRTM_LOG_DEBUG = 3,
} srtm_log_level;

void srtm_log_set_level(srtm_log_level level);
srtm_log_level srtm_log_get_level(void);
/* Parse "error", "warn", "info" or "debug". */
SRTM_WUR bool srtm_log_parse_level(const char *s, srtm_log_level *out);
void srtm_log(srtm_log_level level, const char *fmt, ...) SRTM_PRINTF(2, 3);

/* Where srtm_log writes. STDERR: "TIMESTAMP srtm LEVEL: message" lines. JOURNAL: stderr is
 * the systemd journal, lines are "<N>message" with N the syslog priority and no timestamp
 * of their own. SYSLOG: syslog(3), facility daemon (a detached srtmd). */
typedef enum srtm_log_sink {
    SRTM_LOG_TO_STDERR = 0,
    SRTM_LOG_TO_JOURNAL = 1,
    SRTM_LOG_TO_SYSLOG = 2,
} srtm_log_sink;

/* JOURNAL when $JOURNAL_STREAM ("DEV:INODE", systemd.exec(5)) names the file descriptor 2
 * is, else STDERR. Call once at start, before threads. */
void srtm_log_detect_journal(void);
/* Before a daemon points its stderr elsewhere (/dev/null): keep logging to the stderr it
 * has now, through a copy of the descriptor, until srtm_log_use_syslog closes it. */
SRTM_WUR bool srtm_log_keep_stderr(void);
/* Send the log to syslog(3) under ident (a string that must outlive the process's
 * logging, e.g. a literal); the connection is opened at once. */
void srtm_log_use_syslog(const char *ident);
srtm_log_sink srtm_log_get_sink(void);

#define log_error(...) srtm_log(SRTM_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) srtm_log(SRTM_LOG_WARN, __VA_ARGS__)
#define log_info(...) srtm_log(SRTM_LOG_INFO, __VA_ARGS__)
#define log_debug(...) srtm_log(SRTM_LOG_DEBUG, __VA_ARGS__)

/* ---- keyed hash for hash tables ---- */

/* SipHash-2-4 of data under a 16-byte key. */
uint64_t siphash24(const uint8_t key[16], const void *data, size_t len);

/* ---- files ---- */

/*
 * Read a whole regular file of at most max_len bytes into a new buffer (NUL-terminated
 * for convenience; *len_out excludes the NUL). The caller frees *buf_out.
 * SRTM_E_IO when unreadable, SRTM_E_TOO_BIG when larger than max_len.
 */
SRTM_WUR srtm_err read_small_file(const char *path, size_t max_len, char **buf_out,
                                  size_t *len_out);

/* Replace path with len bytes, mode mode whatever the umask, through path.tmp (created
 * anew, a link never followed), fsync and a rename, so that a reader never sees half a
 * file. SRTM_E_IO with errno set. */
SRTM_WUR srtm_err write_file_replace(const char *path, const void *data, size_t len,
                                     mode_t mode);

/* The directory part of path into out: "/" for "/x", "." for "x". false when it does not
 * fit in size bytes. */
bool path_dir(const char *path, char *out, size_t size);

/* Write all len bytes of buf to fd, retrying short writes and EINTR. Returns 0, or the
 * errno of the failure (EIO when the kernel accepted nothing without saying why). */
SRTM_WUR int write_full(int fd, const void *buf, size_t len);

/* true when s holds exactly len bytes of valid UTF-8 and no NUL. */
bool utf8_valid(const char *s, size_t len);

#endif /* SRTM_COMMON_H */
