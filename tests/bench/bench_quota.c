/*
 * bench_quota: one peer floods a running srtmd the way an unprivileged component would
 * try to bloat it, and prints what the quotas let it store and srtmd's VmRSS after.
 * Registers components one after another (hog-0, hog-1, ...) and fills each with full
 * batches (SRTM_MAX_BATCH entries with SRTM_MAX_DESC-byte descriptions) until a quota
 * refuses; stops when the refusal names memory-budget or components-per-uid.
 * Usage: bench_quota URL ADMIN_CAP_FILE SRTMD_PID (docs/benchmarks.md, "Quotas").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtm/srtm.h>

/* srtmd's VmRSS in KiB, from /proc/PID/status (0 when unreadable). */
static unsigned long rss_kib(const char *pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    unsigned long kib = 0;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %lu kB", &kib) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kib;
}

/* Fill component name with full batches until a quota refuses; the entries stored. */
static unsigned long fill(srtm_conn *c, const srtm_cap *cap, const char *name, srtm_batch *b,
                          char *why, size_t size)
{
    unsigned long n = 0;
    for (;;) {
        srtm_err err = srtm_batch_submit(c, cap, name, b, NULL, NULL);
        if (err != SRTM_OK) {
            snprintf(why, size, "%s: %s", srtm_strerror(err), srtm_last_message(c));
            return n;
        }
        n += srtm_batch_count(b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_quota URL ADMIN_CAP_FILE SRTMD_PID\n");
        return 2;
    }
    srtm_conn *c = NULL;
    srtm_cap admin;
    srtm_batch *b = NULL;
    if (srtm_open(argv[1], &c) != SRTM_OK || srtm_cap_load(argv[2], &admin) != SRTM_OK ||
        srtm_batch_new(&b) != SRTM_OK) {
        fprintf(stderr, "bench_quota: cannot reach srtmd or read the admin capability\n");
        return 1;
    }
    char desc[SRTM_MAX_DESC + 1];
    memset(desc, 'd', SRTM_MAX_DESC);
    desc[SRTM_MAX_DESC] = '\0';
    uint8_t digest[SRTM_DIGEST_LEN] = {0};
    for (unsigned i = 0; i < SRTM_MAX_BATCH; i++)
        if (srtm_batch_add(b, 0, digest, 0, desc) != SRTM_OK)
            return 1;
    printf("srtmd VmRSS before: %.1f MiB\n", rss_kib(argv[3]) / 1024.0);
    unsigned long total = 0;
    char why[512] = "";
    for (unsigned k = 0;; k++) {
        char name[32];
        srtm_cap cap;
        uint64_t h = 0;
        snprintf(name, sizeof(name), "hog-%u", k);
        srtm_err err = srtm_register(c, &admin, name, 1, &h, &cap);
        if (err != SRTM_OK) {
            snprintf(why, sizeof(why), "%s: %s", srtm_strerror(err), srtm_last_message(c));
            printf("register %s refused: %s\n", name, why);
            break;
        }
        unsigned long n = fill(c, &cap, name, b, why, sizeof(why));
        total += n;
        printf("%s: %lu entries, then %s\n", name, n, why);
        if (strstr(why, "memory-budget") != NULL || strstr(why, "components-per-uid") != NULL)
            break;
    }
    srtm_components *l = NULL;
    uint64_t stored = 0, budget = 0;
    if (srtm_list(c, &l) == SRTM_OK)
        srtm_components_stored(l, &stored, &budget);
    srtm_components_free(l);
    printf("entries stored: %lu; accounted: %llu of %llu bytes\n", total,
           (unsigned long long)stored, (unsigned long long)budget);
    printf("srtmd VmRSS after: %.1f MiB\n", rss_kib(argv[3]) / 1024.0);
    srtm_batch_free(b);
    srtm_close(c);
    return 0;
}
