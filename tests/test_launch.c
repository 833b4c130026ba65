/*
 * The launch measurement and the configuration helpers shared by srtm-launch,
 * srtm-keymgr and srtmd: the measurement is exactly the documented hash (recomputed here
 * with plain EVP), PCR lists parse strictly, configuration values are found as srtmd
 * reads them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <openssl/evp.h>

#include "launch.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void sha256(const void *d, size_t n, uint8_t out[32])
{
    unsigned int len = 0;
    cr_assert_eq(EVP_Digest(d, n, out, &len, EVP_sha256(), NULL), 1);
}

Test(launch, measurement_is_the_documented_hash)
{
    char bin[] = "/tmp/srtm-launch-bin-XXXXXX", cfg[] = "/tmp/srtm-launch-cfg-XXXXXX";
    int a = mkstemp(bin), b = mkstemp(cfg);
    cr_assert(a >= 0 && b >= 0);
    close(a);
    close(b);
    write_file(bin, "pretend this is srtmd");
    write_file(cfg, "srtm-pcr 15\n");
    launch_measurement m;
    cr_assert_eq(launch_measure(bin, cfg, &m), SRTM_OK);
    uint8_t hb[32], hc[32], buf[14 + 64], want[32];
    sha256("pretend this is srtmd", 21, hb);
    sha256("srtm-pcr 15\n", 12, hc);
    memcpy(buf, "srtm-launch-v1", 14);
    memcpy(buf + 14, hb, 32);
    memcpy(buf + 46, hc, 32);
    sha256(buf, sizeof(buf), want);
    cr_expect_arr_eq(m.binary, hb, 32);
    cr_expect_arr_eq(m.config, hc, 32);
    cr_expect_arr_eq(m.event, want, 32, "the launch event is not the documented hash");
    /* No configuration: the empty one. */
    cr_assert_eq(launch_measure(bin, NULL, &m), SRTM_OK);
    sha256("", 0, hc);
    cr_expect_arr_eq(m.config, hc, 32);
    cr_expect_eq(launch_measure("/nonexistent/srtmd", NULL, &m), SRTM_E_IO);
    unlink(bin);
    unlink(cfg);
}

Test(launch, pcr_lists)
{
    uint32_t m = 0;
    cr_expect(launch_parse_pcr_list("0-7", &m) && m == 0xFF);
    cr_expect(launch_parse_pcr_list("0-7,15", &m) && m == 0x80FF);
    cr_expect(launch_parse_pcr_list("23", &m) && m == 1u << 23);
    cr_expect(launch_parse_pcr_list("3,3,2-3", &m) && m == 0xC);
    const char *bad[] = {"", "24", "7-3", "1,", ",1", "a", "1-", "-1", "0-24", "1 2", "99999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = 42;
        cr_expect(!launch_parse_pcr_list(bad[i], &m), "'%s' accepted", bad[i]);
    }
}

Test(launch, configuration_values)
{
    char cfg[] = "/tmp/srtm-launch-cfg-XXXXXX";
    int fd = mkstemp(cfg);
    cr_assert(fd >= 0);
    close(fd);
    write_file(cfg, "# comment\nsrtm-pcr 14   # trailing\n\ntcti swtpm:host=127.0.0.1,port=1\n");
    char v[64];
    cr_expect(launch_config_value(cfg, "srtm-pcr", v, sizeof(v)) && strcmp(v, "14") == 0);
    cr_expect(launch_config_value(cfg, "tcti", v, sizeof(v)) &&
              strcmp(v, "swtpm:host=127.0.0.1,port=1") == 0);
    cr_expect(!launch_config_value(cfg, "proof-pcrs", v, sizeof(v)));
    cr_expect(!launch_config_value(cfg, "tcti", v, 8), "a value longer than the buffer");
    cr_expect(!launch_config_value(NULL, "tcti", v, sizeof(v)));
    unlink(cfg);
}
