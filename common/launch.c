/* The launch measurement; see launch.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"

srtm_err launch_measure(const char *binary_path, const srtm_config *config,
                        launch_measurement *out)
{
    launch_measurement m;
    size_t len = 0;
    const char *bytes = config != NULL ? config_bytes(config, &len) : "";
    srtm_err err = srtm_sha256_file(binary_path, m.binary);
    if (err == SRTM_OK)
        err = srtm_sha256(bytes, len, m.config);
    if (err != SRTM_OK)
        return err;
    uint8_t buf[sizeof(LAUNCH_TAG) - 1 + 2 * SRTM_DIGEST_LEN];
    size_t tag = strlen(LAUNCH_TAG);
    memcpy(buf, LAUNCH_TAG, tag);
    memcpy(buf + tag, m.binary, SRTM_DIGEST_LEN);
    memcpy(buf + tag + SRTM_DIGEST_LEN, m.config, SRTM_DIGEST_LEN);
    err = srtm_sha256(buf, sizeof(buf), m.event);
    if (err == SRTM_OK)
        *out = m;
    return err;
}

/* One PCR number below 24, decimal. */
bool launch_parse_pcr(const char *s, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || s[0] == '+' ||
        v >= LAUNCH_PCR_COUNT)
        return false;
    *out = (unsigned)v;
    return true;
}

/* "0-7,9,15": PCR numbers and ranges, each below 24. */
bool launch_parse_pcr_list(const char *s, uint32_t *mask_out)
{
    uint32_t mask = 0;
    while (*s != '\0') {
        char *end = NULL;
        errno = 0;
        unsigned long a = strtoul(s, &end, 10), b;
        if (errno != 0 || end == s || a >= LAUNCH_PCR_COUNT)
            return false;
        b = a;
        if (*end == '-') {
            const char *t = end + 1;
            b = strtoul(t, &end, 10);
            if (errno != 0 || end == t || b >= LAUNCH_PCR_COUNT || b < a)
                return false;
        }
        for (unsigned long i = a; i <= b; i++)
            mask |= 1u << i;
        if (*end == ',' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return false;
        s = end;
    }
    if (mask == 0)
        return false;
    *mask_out = mask;
    return true;
}
