/*
 * What a verifier needs for one simulated host, in the formats of the real tools: the AIK
 * public key as `srtm-keymgr enroll --aik-pem` writes it (PEM SubjectPublicKeyInfo), the
 * reference file as `srtm-keymgr predict` writes it, and a policy (docs/verifier.md)
 * allowing exactly the host's honest measurements.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "sim_int.h"

#define SLOTS (1u + 2u * SIM_VMS)
#define NCOMP (1u + SIM_VMS)

/* A growing text buffer; on overflow of its fixed size it stays failed. */
typedef struct text {
    char buf[64 * 1024];
    size_t len;
    bool failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof(t->buf) - t->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(t->buf) - t->len)
        t->failed = true;
    else
        t->len += (size_t)n;
}

static const char *hex(const uint8_t *b, char out[2 * SRTM_DIGEST_LEN + 1])
{
    if (hex_encode(b, SRTM_DIGEST_LEN, out, 2 * SRTM_DIGEST_LEN + 1) != SRTM_OK)
        out[0] = '\0';
    return out;
}

static srtm_err write_text(const char *dir, const char *name, const text *t)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (t->failed || n < 0 || (size_t)n >= sizeof(path))
        return SRTM_E_TOO_BIG;
    FILE *f = fopen(path, "w");
    bool ok = f != NULL && fwrite(t->buf, 1, t->len, f) == t->len;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    return ok ? SRTM_OK : SRTM_E_IO;
}

static srtm_err write_reference(const sim_host *h, const char *dir)
{
    static text t;
    char a[65], b[65], c[65];
    t.len = 0;
    t.failed = false;
    put(&t, "{\n  \"format\": \"srtm-reference-v1\",\n  \"bank\": \"sha256\",\n"
            "  \"srtm_pcr\": 15,\n");
    put(&t, "  \"launch\": {\n    \"srtmd_sha256\": \"%s\",\n    \"config_sha256\": \"%s\",\n"
            "    \"event\": \"%s\"\n  },\n",
        hex(h->signer, a), hex(h->signer, b), hex(h->launch_event, c));
    put(&t, "  \"close_event\": \"%s\",\n", hex(h->close_event, a));
    put(&t, "  \"proof\": {\n    \"0\": \"%s\",\n    \"15\": \"%s\"\n  },\n",
        hex(h->pcr_boot, a), hex(h->pcr_proof, b));
    put(&t, "  \"running\": {\n    \"0\": \"%s\",\n    \"15\": \"%s\"\n  }\n}\n",
        hex(h->pcr_boot, a), hex(h->pcr_running, b));
    return write_text(dir, "reference.json", &t);
}

static void policy_ccr(text *t, unsigned slot, unsigned ccr, bool last)
{
    char a[65];
    put(t, "        \"%u\": {\"allowed_digests\": [\n", ccr);
    for (unsigned b = 0; b < SIM_BINARIES; b++)
        put(t, "          {\"digest\": \"%s\", \"label\": \"slot %u binary %u\"}%s\n",
            hex(sim_binary(slot, b), a), slot, b, b + 1 < SIM_BINARIES ? "," : "");
    put(t, "        ]}%s\n", last ? "" : ",");
}

static srtm_err write_policy(const char *dir)
{
    static text t;
    t.len = 0;
    t.failed = false;
    put(&t, "{\n  \"format\": \"srtm-policy-v1\",\n  \"aik\": {\"scheme\": \"ecdsa-sha256\"},\n"
            "  \"pcrs\": {\"reference_file\": \"reference.json\"},\n  \"components\": {\n");
    for (unsigned c = 0; c < NCOMP; c++) {
        if (c == 0)
            put(&t, "    \"platform\": {\"ccrs\": {\n");
        else
            put(&t, "    \"vm-%u\": {\"ccrs\": {\n", c);
        unsigned first, n = sim_component_slots(c, &first);
        for (unsigned i = 0; i < n; i++)
            policy_ccr(&t, first + i, i, i + 1 == n);
        put(&t, "    }}%s\n", c + 1 < NCOMP ? "," : "");
    }
    put(&t, "  }\n}\n");
    return write_text(dir, "policy.json", &t);
}

static srtm_err write_aik(const sim_host *h, const char *dir)
{
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/aik.pem", dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return SRTM_E_TOO_BIG;
    FILE *f = fopen(path, "w");
    bool ok = f != NULL && PEM_write_PUBKEY(f, h->aik) == 1;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    return ok ? SRTM_OK : SRTM_E_IO;
}

/* Not thread-safe (static buffers): called from main before serving. */
srtm_err sim_host_write_files(const sim_host *h, const char *host_dir)
{
    srtm_err err = write_aik(h, host_dir);
    if (err == SRTM_OK)
        err = write_reference(h, host_dir);
    if (err == SRTM_OK)
        err = write_policy(host_dir);
    return err;
}
