/*
 * srtmctl's argument parsing helpers: numbers, bounded strings, the getopt_long driver
 * every command's parser runs, and the positionals most commands share (NAME, CCR).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Digits only: strtoull alone would accept blanks, a sign and wrap "-1" to UINT64_MAX. */
bool parse_u64(const char *s, uint64_t max, uint64_t *out)
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

bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!parse_u64(s, max, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

int take_string(const command *cmd, const char *opt, const char *arg, size_t max,
                const char **out)
{
    size_t n = strnlen(arg, max + 1);
    if (n == 0 || n > max)
        return usage_error(cmd, "%s takes 1 to %zu bytes", opt, max);
    *out = arg;
    return CTL_CONTINUE;
}

void command_usage(const command *cmd)
{
    printf("Usage: srtmctl [GLOBAL OPTIONS] %s\n%s\n%s", cmd->synopsis, cmd->help,
           ctl_exit_help);
}

/* getopt's own messages are off (opterr = 0) so every usage error is one line of ours. */
int bad_option(const command *cmd, int c, char **argv)
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

int ctl_getopt(const command *cmd, int argc, char **argv, const char *shortopts,
               const struct option *opts, ctl_opt_fn fn, void *args, int *first_pos)
{
    optind = 0; /* glibc: start a fresh scan of a new argv */
    opterr = 0;
    char so[16] = ":";
    if (shortopts != NULL)
        snprintf(so, sizeof(so), ":%s", shortopts);
    int c;
    while ((c = getopt_long(argc, argv, so, opts, NULL)) != -1) {
        if (c == '?' || c == ':')
            return bad_option(cmd, c, argv);
        if (c == O_HELP) {
            command_usage(cmd);
            return CTL_OK;
        }
        int rc = fn != NULL ? fn(cmd, c, optarg, args) : usage_error(cmd, "unexpected option");
        if (rc != CTL_CONTINUE)
            return rc;
    }
    *first_pos = optind;
    return CTL_CONTINUE;
}

int ctl_count_positionals(const command *cmd, int n, unsigned min, unsigned max)
{
    if (n < (int)min || n > (int)max)
        return usage_error(cmd, "%s arguments; usage: srtmctl %s",
                           n < (int)min ? "missing" : "too many", cmd->synopsis);
    return CTL_CONTINUE;
}

int ctl_take_name(const command *cmd, const char *arg, bool allow_path, const char **out)
{
    /* A path names a component too (ctl_component). */
    bool path = allow_path && strchr(arg, '/') != NULL;
    return take_string(cmd, "NAME", arg, path ? MAX_PATH_ARG : SRTM_MAX_NAME, out);
}

int ctl_take_ccr(const command *cmd, const char *arg, uint32_t *out)
{
    if (!parse_u32(arg, UINT32_MAX, out))
        return usage_error(cmd, "CCR takes a CCR index (a number from 0), not '%s'", arg);
    return CTL_CONTINUE;
}

int ctl_take_nonce(const command *cmd, const char *arg, uint8_t nonce[SRTM_MAX_NONCE],
                   size_t *len)
{
    size_t n = strnlen(arg, 2 * SRTM_MAX_NONCE + 1);
    if (n % 2 != 0 || n < 2 * SRTM_MIN_NONCE || n > 2 * SRTM_MAX_NONCE ||
        hex_decode(arg, n, nonce, n / 2) != SRTM_OK)
        return usage_error(cmd, "--nonce takes %u to %u bytes as hex digits", SRTM_MIN_NONCE,
                           SRTM_MAX_NONCE);
    *len = n / 2;
    return CTL_CONTINUE;
}
