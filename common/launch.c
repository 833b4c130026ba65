/* The launch measurement; see launch.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"

srtm_err launch_measure(const char *binary_path, const char *config_path,
                        launch_measurement *out)
{
    launch_measurement m;
    srtm_err err = srtm_sha256_file(binary_path, m.binary);
    if (err == SRTM_OK)
        err = config_path != NULL ? srtm_sha256_file(config_path, m.config)
                                  : srtm_sha256("", 0, m.config);
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

/* The value of option name in srtmd's configuration file (lines "name value"), copied
 * into out; false when absent. */
bool launch_config_value(const char *path, const char *name, char *out, size_t size)
{
    char *text = NULL;
    size_t len = 0;
    if (path == NULL || read_small_file(path, 64u * 1024u, &text, &len) != SRTM_OK)
        return false;
    bool found = false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *s2 = NULL;
        char *key = strtok_r(line, " \t\r", &s2);
        char *value = key != NULL ? strtok_r(NULL, " \t\r", &s2) : NULL;
        if (key != NULL && value != NULL && strcmp(key, name) == 0 && strlen(value) < size) {
            memcpy(out, value, strlen(value) + 1);
            found = true;
        }
    }
    free(text);
    return found;
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
