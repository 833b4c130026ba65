/*
 * The launch measurement and the configuration grammar shared by srtm-launch,
 * srtm-keymgr and srtmd: the measurement is exactly the documented hash (recomputed here
 * with plain EVP) of the bytes parsed, PCR lists parse strictly, and every deviation from
 * the grammar is refused with FILE:LINE.
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
    srtm_config *c = NULL;
    char msg[CONFIG_MSG_MAX];
    cr_assert_eq(config_load(cfg, &c, NULL, msg, sizeof(msg)), SRTM_OK, "%s", msg);
    cr_assert_eq(launch_measure(bin, c, &m), SRTM_OK);
    config_free(c);
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

/* Parse text as the file "F"; on an error the message, else "". */
static srtm_config *parse(const char *text, char *msg, size_t size)
{
    srtm_config *c = NULL;
    msg[0] = '\0';
    if (config_parse("F", text, strlen(text), &c, NULL, msg, size) != SRTM_OK)
        return NULL;
    return c;
}

Test(config, values_comments_blank_lines_and_flags)
{
    char msg[CONFIG_MSG_MAX];
    const char *text = "# comment\nsrtm-pcr 14   # trailing\n\n\t\ntcti swtpm:host=127.0.0.1,"
                       "port=1\r\nno-seccomp\n";
    srtm_config *c = parse(text, msg, sizeof(msg));
    cr_assert_not_null(c, "%s", msg);
    cr_expect_str_eq(config_get(c, CFG_SRTM_PCR), "14");
    cr_expect_eq(config_line(c, CFG_SRTM_PCR), 2u);
    cr_expect_str_eq(config_get(c, CFG_TCTI), "swtpm:host=127.0.0.1,port=1");
    cr_expect_str_eq(config_get(c, CFG_NO_SECCOMP), "");
    cr_expect_null(config_get(c, CFG_PROOF_PCRS));
    size_t len = 0;
    const char *bytes = config_bytes(c, &len);
    cr_expect(len == strlen(text) && memcmp(bytes, text, len) == 0,
              "the bytes kept are not the bytes parsed");
    config_free(c);
    config_free(NULL);
}

/* Each line is refused with FILE:LINE and a message naming the mistake. */
Test(config, every_grammar_error_is_refused_with_its_line)
{
    struct {
        const char *text, *want;
    } bad[] = {
        {"srtm-pcr 15\nsrtm-pcr 14\n", "F:2: 'srtm-pcr' given twice (first on line 1)"},
        {"# x\nsrtm-pcr=14\n", "F:2: 'srtm-pcr=14': write 'key value'"},
        {"srtm-pcr= 14\n", "F:1: 'srtm-pcr=': write 'key value'"},
        {"\n\nlock-files /x\n", "F:3: unknown key 'lock-files'"},
        {"--srtm-pcr 15\n", "F:1: unknown key '--srtm-pcr'"},
        {"config /etc/x\n", "F:1: unknown key 'config'"},
        {"srtm-pcr\n", "F:1: 'srtm-pcr' needs a value"},
        {"srtm-pcr # 15\n", "F:1: 'srtm-pcr' needs a value"},
        {"no-seccomp yes\n", "F:1: 'no-seccomp' is a flag and takes no value"},
        {"tcti a b\n", "F:1: 'tcti' takes one value"},
    };
    char msg[CONFIG_MSG_MAX];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        srtm_config *c = parse(bad[i].text, msg, sizeof(msg));
        cr_expect_null(c, "accepted: %s", bad[i].text);
        config_free(c);
        cr_expect(strncmp(msg, bad[i].want, strlen(bad[i].want)) == 0, "'%s': got '%s'",
                  bad[i].text, msg);
    }
}

Test(config, long_lines_nul_bytes_and_big_files_are_refused)
{
    char msg[CONFIG_MSG_MAX];
    char line[CONFIG_LINE_MAX + 32];
    memset(line, ' ', sizeof(line));
    memcpy(line, "# ", 2);
    line[CONFIG_LINE_MAX + 1] = '\0';
    cr_expect_null(parse(line, msg, sizeof(msg)));
    cr_expect(strstr(msg, "F:1: line longer than") != NULL, "%s", msg);
    line[CONFIG_LINE_MAX] = '\0'; /* exactly the limit: fine */
    srtm_config *c = parse(line, msg, sizeof(msg));
    cr_expect_not_null(c, "%s", msg);
    config_free(c);
    cr_expect_eq(config_parse("F", "no-tpm\n\0x", 9, &c, NULL, msg, sizeof(msg)),
                 SRTM_E_INVALID);
    cr_expect(strstr(msg, "NUL") != NULL, "%s", msg);
    char *big = calloc(1, CONFIG_MAX_BYTES + 2);
    cr_assert_not_null(big);
    memset(big, '\n', CONFIG_MAX_BYTES + 1);
    cr_expect_eq(config_parse("F", big, CONFIG_MAX_BYTES + 1, &c, NULL, msg, sizeof(msg)),
                 SRTM_E_INVALID);
    free(big);
}

/* On an error the lines before it are still known (srtmd closes the period with them). */
Test(config, partial_result_keeps_the_lines_before_the_error)
{
    char msg[CONFIG_MSG_MAX];
    srtm_config *c = NULL, *partial = NULL;
    const char *text = "srtm-pcr 14\ntcti x\nbogus\n";
    cr_assert_eq(config_parse("F", text, strlen(text), &c, &partial, msg, sizeof(msg)),
                 SRTM_E_INVALID);
    cr_expect_null(c);
    cr_assert_not_null(partial);
    cr_expect_str_eq(config_get(partial, CFG_SRTM_PCR), "14");
    config_free(partial);
    cr_expect_neq(config_load("/nonexistent/srtmd.conf", &c, &partial, msg, sizeof(msg)),
                  SRTM_OK);
    cr_expect_null(partial);
    cr_expect(strstr(msg, "/nonexistent/srtmd.conf") != NULL, "%s", msg);
}

/* The key table: names unique, every key reachable by name. */
Test(config, key_table)
{
    for (int i = 0; i < CFG_KEY_COUNT; i++) {
        config_key_id id;
        cr_assert_not_null(config_keys[i].name, "row %d is empty", i);
        cr_expect(config_key_find(config_keys[i].name, &id) && id == (config_key_id)i,
                  "%s found at another row", config_keys[i].name);
    }
}

Test(launch, single_pcr_numbers)
{
    unsigned v = 99;
    cr_expect(launch_parse_pcr("0", &v) && v == 0);
    cr_expect(launch_parse_pcr("23", &v) && v == 23);
    const char *bad[] = {"", "24", "-1", "+1", "1 ", "0x1", "15a", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(!launch_parse_pcr(bad[i], &v), "'%s' accepted", bad[i]);
}
