/*
 * Fuzz target: the policy file parser (client-lib/policy.c), srtm_policy_parse over
 * arbitrary text. base_dir is a temporary directory holding a real srtm-keymgr reference
 * file as "reference.json", so a policy that names it reaches the reference parser too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <srtm/srtm.h>

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz_policy: invariant failed at line %d: %s\n", __LINE__,  \
                    #cond);                                                                \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

static const char reference[] =
    "{\"format\":\"srtm-reference-v1\",\"bank\":\"sha256\",\"srtm_pcr\":15,\"launch\":{"
    "\"srtmd_sha256\":\"822e684302e36db3040774727ab502f1a6356271a963b850d01ae5fe52ff0e10\","
    "\"config_sha256\":\"1db6fbf1cfde2b710ac8fce5f8bc67eb6a16198a92de9bf68b07e7eacedbf420\","
    "\"event\":\"25ddb3b72f0c0fe6b21abf152f025dd492305d175c035d53361c6c1cb16156e8\"},"
    "\"close_event\":\"2eba0ad2932cae1bf58ee1011bb3389d0f40bdca124b6fd8e5b40d003b4425a5\","
    "\"proof\":{\"0\":\"67a79eca89ef6eb7480675da2cc1cea60bc446f5c2b1d4d17818cf1a239a0a30\","
    "\"15\":\"de46a4c6509b474938d6faf7dc640d4e3aa413da14fcaa170333244b1c52cdd8\"},"
    "\"running\":{\"0\":\"67a79eca89ef6eb7480675da2cc1cea60bc446f5c2b1d4d17818cf1a239a0a30\","
    "\"15\":\"90ab1c5c17d5ae126458a67b5d2004e1463a22507718e969cbf00bf462235aec\"}}\n";

static char base_dir[] = "/tmp/srtm-fuzz-policy-XXXXXX";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void remove_base_dir(void)
{
    char path[sizeof(base_dir) + 32];
    snprintf(path, sizeof(path), "%s/reference.json", base_dir);
    unlink(path);
    rmdir(base_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    CHECK(mkdtemp(base_dir) != NULL);
    atexit(remove_base_dir);
    char path[sizeof(base_dir) + 32];
    snprintf(path, sizeof(path), "%s/reference.json", base_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(fputs(reference, f) >= 0);
    CHECK(fclose(f) == 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srtm_verifier_policy *pol = NULL;
    char msg[128];
    memset(msg, 'x', sizeof(msg));
    srtm_err err = srtm_policy_parse((const char *)data, size, base_dir, &pol, msg, sizeof(msg));
    if (err == SRTM_OK) {
        CHECK(pol != NULL);
    } else {
        /* Out-parameter untouched on failure; the reason is one NUL-terminated line. */
        CHECK(pol == NULL);
        CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
        CHECK(strchr(msg, '\n') == NULL);
    }
    srtm_policy_free(pol);
    return 0;
}
