/*
 * bench_verify: the verifier's cost on large evidence, next to its physical floor. On
 * swtpm, provisions a platform with the shipped tools, registers 1,000 components with
 * 100 log entries each, takes one joint quote over all of them, then in one run times
 *   - srtm_verify on that evidence (every check: signatures, PCRs, IRK, and the replay
 *     and allowlist of all 100,000 entries), and
 *   - just hashing the same entries: 100,000 SHA-256(value || digest) (the replay alone,
 *     which no verifier can avoid),
 * alternating, medians. Usage: bench_verify BUILD_DIR [ROUNDS]
 */
#include "bench_util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <srtm/srtm.h>

#define COMPONENTS 1000
#define ENTRIES 100




static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        exit(1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        exit(1);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_verify BUILD_DIR [ROUNDS]\n");
        return 2;
    }
    const char *b = argv[1];
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    if (rounds < 1 || rounds > 50)
        rounds = 7;
    setenv("TSS2_LOG", "all+NONE", 1);
    char dir[] = "/tmp/srtm-bench-verify-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    int port = 23430;
    char tcti[64];
    snprintf(tcti, sizeof(tcti), "swtpm:host=127.0.0.1,port=%d", port);
    bench_sh("mkdir -p %s/tpm && (swtpm socket --tpm2 --server type=tcp,port=%d,bindaddr=127.0.0.1 "
       "--ctrl type=tcp,port=%d,bindaddr=127.0.0.1 --tpmstate dir=%s/tpm "
       "--flags not-need-init,startup-clear & echo $! > %s/swtpm.pid) && sleep 0.3",
       dir, port, port + 1, dir, dir);
    bench_provision(b, tcti, dir, "error");
    char extra[1200];
    snprintf(extra, sizeof(extra), "--pidfile %s/srtmd.pid", dir);
    bench_launch_srtmd(b, tcti, dir, extra);

    /* 1,000 components of 100 entries, and a policy allowing every digest used. */
    char url[300], path[300];
    snprintf(url, sizeof(url), "ipc://%s/s.sock", dir);
    snprintf(path, sizeof(path), "%s/a.cap", dir);
    srtm_cap admin, cap;
    srtm_conn *c = NULL;
    if (srtm_cap_load(path, &admin) != SRTM_OK || srtm_open(url, &c) != SRTM_OK)
        return 1;
    srtm_batch *batch = NULL;
    if (srtm_batch_new(&batch) != SRTM_OK)
        return 1;
    snprintf(path, sizeof(path), "%s/policy.json", dir);
    FILE *pol = fopen(path, "w");
    if (pol == NULL)
        return 1;
    fprintf(pol, "{\"format\":\"srtm-policy-v1\",\"aik\":{\"scheme\":\"ecdsa-sha256\"},"
                 "\"pcrs\":{\"reference_file\":\"reference.json\"},\"components\":{");
    uint8_t digests[ENTRIES][32];
    for (int k = 0; k < ENTRIES; k++) {
        memset(digests[k], 0, 32);
        digests[k][0] = (uint8_t)k;
        digests[k][1] = 0x5a;
    }
    for (int i = 0; i < COMPONENTS; i++) {
        char name[32];
        uint64_t h;
        snprintf(name, sizeof(name), "vm-%04d", i);
        if (srtm_register(c, &admin, name, 1, &h, &cap) != SRTM_OK)
            return 1;
        srtm_batch_clear(batch);
        for (int k = 0; k < ENTRIES; k++)
            if (srtm_batch_add(batch, 0, digests[k], 0, "module") != SRTM_OK)
                return 1;
        if (srtm_batch_submit(c, &cap, name, batch, NULL, NULL) != SRTM_OK)
            return 1;
        fprintf(pol, "%s\"%s\":{\"ccrs\":{\"0\":{\"allowed_digests\":[", i ? "," : "", name);
        for (int k = 0; k < ENTRIES; k++) {
            fprintf(pol, "%s\"", k ? "," : "");
            for (int j = 0; j < 32; j++)
                fprintf(pol, "%02x", digests[k][j]);
            fprintf(pol, "\"");
        }
        fprintf(pol, "]}}}");
    }
    fprintf(pol, "}}\n");
    fclose(pol);
    uint8_t nonce[20] = "bench verify nonce!";
    uint8_t *ev = NULL;
    size_t ev_len = 0;
    if (srtm_quote(c, nonce, sizeof(nonce), NULL, 0, &ev, &ev_len) != SRTM_OK)
        return 1;
    srtm_close(c);
    snprintf(path, sizeof(path), "%s/aik.pem", dir);
    size_t pem_len = 0;
    char *pem = slurp(path, &pem_len);
    snprintf(path, sizeof(path), "%s/policy.json", dir);
    srtm_verifier_policy *policy = NULL;
    char msg[512];
    if (srtm_policy_load(path, &policy, msg, sizeof(msg)) != SRTM_OK) {
        fprintf(stderr, "bench_verify: policy: %s\n", msg);
        return 1;
    }

    double verify[50], floor_t[50];
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA256", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    for (int r = 0; r < rounds; r++) {
        srtm_verify_result *res = NULL;
        double t0 = bench_now();
        srtm_err err = srtm_verify(ev, ev_len, pem, policy, nonce, sizeof(nonce), &res);
        verify[r] = bench_now() - t0;
        if (err != SRTM_OK || !srtm_verify_result_ok(res)) {
            fprintf(stderr, "bench_verify: evidence did not verify (%s)\n", srtm_strerror(err));
            return 1;
        }
        srtm_verify_result_free(res);
        /* The floor: the replay's hashing alone, with a reused context. */
        t0 = bench_now();
        uint8_t v[32] = {0};
        unsigned int n = 0;
        for (int i = 0; i < COMPONENTS; i++)
            for (int k = 0; k < ENTRIES; k++)
                if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, v, 32) != 1 ||
                    EVP_DigestUpdate(ctx, digests[k], 32) != 1 ||
                    EVP_DigestFinal_ex(ctx, v, &n) != 1)
                    return 1;
        floor_t[r] = bench_now() - t0;
    }
    qsort(verify, (size_t)rounds, sizeof(double), bench_cmp_double);
    qsort(floor_t, (size_t)rounds, sizeof(double), bench_cmp_double);
    double mv = verify[rounds / 2], mf = floor_t[rounds / 2];
    printf("bench_verify: evidence of %d components x %d log entries (%zu bytes), %d rounds\n",
           COMPONENTS, ENTRIES, ev_len, rounds);
    printf("  srtm_verify, every check:              %8.1f ms\n", mv * 1e3);
    printf("  hashing the %d entries alone:      %8.1f ms  (verify = %.1fx the floor)\n",
           COMPONENTS * ENTRIES, mf * 1e3, mv / mf);
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
    srtm_policy_free(policy);
    free(pem);
    free(ev);
    bench_sh("kill $(cat %s/srtmd.pid) $(cat %s/swtpm.pid); sleep 0.2; rm -rf %s", dir, dir, dir);
    return 0;
}
