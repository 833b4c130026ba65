/*
 * The launch measurement: what the launcher extends into the SRTM PCR before srtmd
 * starts, and what srtm-keymgr predicts. One definition for both:
 *   launch = SHA-256("srtm-launch-v1" || SHA-256(srtmd binary) || SHA-256(configuration))
 * where the configuration is srtmd's --config file (empty when there is none).
 */
#ifndef SRTM_LAUNCH_H
#define SRTM_LAUNCH_H

#include "common.h"
#include "config.h"

#define LAUNCH_TAG "srtm-launch-v1"

typedef struct launch_measurement {
    uint8_t binary[SRTM_DIGEST_LEN]; /* SHA-256 of the srtmd binary */
    uint8_t config[SRTM_DIGEST_LEN]; /* SHA-256 of the configuration file */
    uint8_t event[SRTM_DIGEST_LEN];  /* the digest extended into the SRTM PCR */
} launch_measurement;

/* Measure srtmd at binary_path with the configuration config (NULL: none, measured as
 * the empty file): the bytes config_load read and parsed, never the file read again.
 * SRTM_E_IO when the binary cannot be read. */
SRTM_WUR srtm_err launch_measure(const char *binary_path, const srtm_config *config,
                                 launch_measurement *out);

/* A PCR number below 24 (decimal, nothing else); false otherwise. */
bool launch_parse_pcr(const char *s, unsigned *out);

/* PCRs of the SHA-256 bank a PCR list may name. */
#define LAUNCH_PCR_COUNT 24u

/* Parse a PCR list such as "0-7,9,15" (numbers and ranges, each below 24) into a bit
 * mask; false for anything else, including an empty list. */
bool launch_parse_pcr_list(const char *s, uint32_t *mask_out);

#endif /* SRTM_LAUNCH_H */
