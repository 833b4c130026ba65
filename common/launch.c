/* The launch measurement; see launch.h. */
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
