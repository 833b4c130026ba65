/*
 * srtm_log: one line per message, written with one write(2) so that the lines of
 * concurrent threads never interleave. The sink is chosen once at start (before threads):
 * a terminal or file gets a UTC timestamp and the level; the systemd journal gets the
 * syslog priority prefix "<N>" it parses (sd-daemon(3)) and adds its own timestamp; a
 * detached srtmd logs through syslog(3), never to the terminal that started it.
 * g_log_lock covers the switch of sink and descriptor and every write: a line is never
 * written to a descriptor that was closed (and perhaps reused for a socket) meanwhile.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static _Atomic int g_log_level = SRTM_LOG_INFO;
static _Atomic int g_log_sink = SRTM_LOG_TO_STDERR;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_log_fd = STDERR_FILENO;

/* syslog priorities of SRTM_LOG_ERROR..SRTM_LOG_DEBUG. */
static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

void srtm_log_set_level(srtm_log_level level)
{
    atomic_store(&g_log_level, (int)level);
}

srtm_log_level srtm_log_get_level(void)
{
    return (srtm_log_level)atomic_load(&g_log_level);
}

bool srtm_log_parse_level(const char *s, srtm_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < SRTM_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (srtm_log_level)i;
            return true;
        }
    }
    return false;
}

void srtm_log_detect_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    char extra = 0;
    struct stat st;
    bool journal = env != NULL && sscanf(env, "%llu:%llu%c", &dev, &ino, &extra) == 2 &&
                   fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
                   (unsigned long long)st.st_ino == ino;
    atomic_store(&g_log_sink, journal ? SRTM_LOG_TO_JOURNAL : SRTM_LOG_TO_STDERR);
}

bool srtm_log_keep_stderr(void)
{
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return false;
    pthread_mutex_lock(&g_log_lock);
    g_log_fd = fd;
    pthread_mutex_unlock(&g_log_lock);
    return true;
}

void srtm_log_use_syslog(const char *ident)
{
    pthread_mutex_lock(&g_log_lock);
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    atomic_store(&g_log_sink, SRTM_LOG_TO_SYSLOG);
    if (g_log_fd != STDERR_FILENO)
        close(g_log_fd);
    g_log_fd = -1;
    pthread_mutex_unlock(&g_log_lock);
}

srtm_log_sink srtm_log_get_sink(void)
{
    return (srtm_log_sink)atomic_load(&g_log_sink);
}

/* The line's beginning for the sink: "<N>" or "TIMESTAMP srtm LEVEL: ". */
static int line_prefix(srtm_log_sink sink, srtm_log_level level, char *line, size_t size)
{
    static const char *const tags[] = {"error", "warn", "info", "debug"};
    if (sink == SRTM_LOG_TO_JOURNAL)
        return snprintf(line, size, "<%d>", priorities[level]);
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    return snprintf(line, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ srtm %s: ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                    tm.tm_sec, ts.tv_nsec / 1000000, tags[level]);
}

/* One line to the sink; under g_log_lock. */
static void log_line(srtm_log_sink sink, srtm_log_level level, const char *fmt, va_list ap)
{
    char line[1024];
    int n = sink == SRTM_LOG_TO_SYSLOG ? 0 : line_prefix(sink, level, line, sizeof(line));
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = (m < 0) ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (sink == SRTM_LOG_TO_SYSLOG) {
        line[len] = '\0';
        syslog(priorities[level], "%s", line);
        return;
    }
    line[len++] = '\n';
    if (g_log_fd >= 0) {
        ssize_t w = write(g_log_fd, line, len);
        (void)w;
    }
}

void srtm_log(srtm_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&g_log_level) || (unsigned)level >= SRTM_ARRAY_LEN(priorities))
        return;
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&g_log_lock);
    log_line(srtm_log_get_sink(), level, fmt, ap);
    pthread_mutex_unlock(&g_log_lock);
    va_end(ap);
}
