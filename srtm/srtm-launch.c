/*
 * srtm-launch: what starts srtmd runs this first (a boot script, the test harness, or
 * systemd's ExecStartPre=). It extends the SRTM PCR with the launch measurement of the
 * srtmd binary and its configuration, which brings the PCRs into the SRTM-proof-PCR
 * state that the IRK is sealed to. Run it exactly once per boot, right before srtmd.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km.h"
#include "launch.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: srtm-launch --srtmd PATH [--config FILE] [--srtm-pcr N] [--tcti STRING]\n"
            "Extend the SRTM PCR with SHA-256(\"%s\" || SHA-256(srtmd) || SHA-256(config)),\n"
            "the measurement srtm-keymgr predicts, right before srtmd starts.\n"
            "\n"
            "  --srtmd PATH      the srtmd binary that is about to run\n"
            "  --config FILE     its configuration file (srtmd --config FILE); none: empty\n"
            "  --srtm-pcr N      the SRTM PCR (default: srtm-pcr of the configuration, else 15)\n"
            "  --tcti STRING     the TPM (tctildr string; default: tcti of the configuration,\n"
            "                    else tctildr's default)\n"
            "  --print           print the measurement and do not extend\n"
            "  --help            show this help\n"
            "\n"
            "Exit status: 0 extended (or printed); 1 a file or the TPM failed; 2 usage.\n",
            LAUNCH_TAG);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"srtmd", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"srtm-pcr", required_argument, NULL, 'p'}, {"tcti", required_argument, NULL, 't'},
        {"print", no_argument, NULL, 'P'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *srtmd = NULL, *config = NULL, *tcti = NULL;
    unsigned long pcr = 15;
    bool pcr_given = false;
    char cfg_tcti[256], cfg_pcr[8];
    bool print_only = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 's':
            srtmd = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 't':
            tcti = optarg;
            break;
        case 'p':
            errno = 0;
            pcr = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || pcr >= KM_PCR_COUNT) {
                fprintf(stderr, "srtm-launch: --srtm-pcr takes 0 to 23\n");
                return 2;
            }
            pcr_given = true;
            break;
        case 'P':
            print_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (srtmd == NULL || optind != argc) {
        fprintf(stderr, "srtm-launch: --srtmd PATH is required (see --help)\n");
        return 2;
    }
    /* Unless told otherwise, use the SRTM PCR and the TPM that srtmd's configuration
     * names, so the launcher and srtmd cannot disagree. */
    if (!pcr_given && launch_config_value(config, "srtm-pcr", cfg_pcr, sizeof(cfg_pcr))) {
        char *end = NULL;
        pcr = strtoul(cfg_pcr, &end, 10);
        if (*end != '\0' || pcr >= KM_PCR_COUNT) {
            fprintf(stderr, "srtm-launch: %s: bad srtm-pcr\n", config);
            return 2;
        }
    }
    if (tcti == NULL && launch_config_value(config, "tcti", cfg_tcti, sizeof(cfg_tcti)))
        tcti = cfg_tcti;
    launch_measurement m;
    srtm_err err = launch_measure(srtmd, config, &m);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-launch: cannot read %s: %s\n", err == SRTM_E_IO ? "a file" : "",
                srtm_strerror(err));
        return 1;
    }
    char hex[2 * SRTM_DIGEST_LEN + 1];
    if (hex_encode(m.event, sizeof(m.event), hex, sizeof(hex)) != SRTM_OK)
        return 1;
    if (print_only) {
        printf("%s\n", hex);
        return 0;
    }
    km_ctx *ctx = NULL;
    err = km_open(tcti, &ctx);
    if (err == SRTM_OK)
        err = km_pcr_extend(ctx, (unsigned)pcr, m.event);
    km_close(ctx);
    if (err != SRTM_OK) {
        fprintf(stderr, "srtm-launch: cannot extend PCR %lu: %s\n", pcr, srtm_strerror(err));
        return 1;
    }
    printf("srtm-launch: PCR %lu extended with %s\n", pcr, hex);
    return 0;
}
