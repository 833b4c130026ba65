/*
 * One simulated srtm host: software AIK and IRK, PCRs, boot counters and a CCR table
 * (component 0 "platform" and SIM_VMS VMs "vm-1".., vm-3 depending on vm-1 and vm-4 on
 * vm-3), answering quotes with evidence in exactly the format of srtmd
 * (docs/evidence.md): the packed CcrReport, the IRK signature, a TPMS_ATTEST marshalled
 * with tss2-mu and signed by the AIK as a TPMT_SIGNATURE, the IRK certificate (the
 * proof-period quote over SHA-256(IRK_CERT_TAG || IRK public key)) and the IRK public key.
 *
 * Invariants: every measured CCR of a host has the same log length n; entry k of CCR slot
 * s measures binary k mod SIM_BINARIES of that slot, so the log is never stored, only n
 * and the value it replays to; entry k of slot s has the global sequence number
 * SIM_VMS + 1 + k * SLOTS + s (the VMs' registrations take 1..SIM_VMS). A reboot starts
 * the logs again and moves resetCount. Lies change only the evidence, never the state.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "km.h"
#include "sim.h"
#include "sim_int.h"
#include "srtm.pb-c.h"

#define SLOTS (1u + 2u * SIM_VMS)
#define PCR_BOOT 0u
#define PCR_SRTM 15u
#define CLOSE_TAG "srtm: SRTM-proof-period closed"

/* The digests of the honest binaries, the same for every host (so are the policies). */
static uint8_t binaries[SLOTS][SIM_BINARIES][SRTM_DIGEST_LEN];
static pthread_once_t binaries_once = PTHREAD_ONCE_INIT;
static bool binaries_ok;

static void binaries_init(void)
{
    binaries_ok = true;
    for (unsigned s = 0; s < SLOTS; s++)
        for (unsigned b = 0; b < SIM_BINARIES; b++) {
            char text[64];
            int n = snprintf(text, sizeof(text), "srtm-sim slot %u binary %u", s, b);
            if (srtm_sha256(text, (size_t)n, binaries[s][b]) != SRTM_OK)
                binaries_ok = false;
        }
}

const uint8_t *sim_binary(unsigned slot, uint64_t k)
{
    return binaries[slot][k % SIM_BINARIES];
}

srtm_err sim_extend(const uint8_t old[SRTM_DIGEST_LEN], const uint8_t d[SRTM_DIGEST_LEN],
                    uint8_t out[SRTM_DIGEST_LEN])
{
    uint8_t buf[2 * SRTM_DIGEST_LEN];
    memcpy(buf, old, SRTM_DIGEST_LEN);
    memcpy(buf + SRTM_DIGEST_LEN, d, SRTM_DIGEST_LEN);
    return srtm_sha256(buf, sizeof(buf), out);
}

/* ---- checkpoints of the honest logs ----
 * cp[s][j] is the value of slot s after j * SIM_CHECKPOINT honest entries; the table only
 * grows, under cp_lock, and is shared by every host (they measure the same binaries). */
static pthread_mutex_t cp_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t (*cp[SLOTS])[SRTM_DIGEST_LEN];
static size_t cp_n[SLOTS], cp_cap[SLOTS];

/* Extend slot's table to hold checkpoint j (cp_lock held). */
static srtm_err cp_grow(unsigned slot, size_t j)
{
    srtm_err err = SRTM_OK;
    while (cp_n[slot] <= j && err == SRTM_OK) {
        if (cp_n[slot] == cp_cap[slot]) {
            size_t cap = cp_cap[slot] ? 2 * cp_cap[slot] : 64;
            void *p = realloc(cp[slot], cap * SRTM_DIGEST_LEN);
            if (p == NULL)
                return SRTM_E_NO_MEMORY;
            cp[slot] = p;
            cp_cap[slot] = cap;
        }
        size_t k = cp_n[slot];
        if (k == 0) {
            memset(cp[slot][0], 0, SRTM_DIGEST_LEN);
        } else {
            memcpy(cp[slot][k], cp[slot][k - 1], SRTM_DIGEST_LEN);
            for (uint64_t e = (k - 1) * SIM_CHECKPOINT; e < k * SIM_CHECKPOINT && err == SRTM_OK;
                 e++)
                err = sim_extend(cp[slot][k], sim_binary(slot, e), cp[slot][k]);
        }
        cp_n[slot] += err == SRTM_OK;
    }
    return err;
}

srtm_err sim_value_at(unsigned slot, uint64_t n, uint8_t out[SRTM_DIGEST_LEN])
{
    if (slot >= SLOTS || n / SIM_CHECKPOINT >= SIZE_MAX / SRTM_DIGEST_LEN)
        return SRTM_E_INVALID;
    size_t j = (size_t)(n / SIM_CHECKPOINT);
    uint8_t v[SRTM_DIGEST_LEN];
    pthread_mutex_lock(&cp_lock);
    srtm_err err = cp_grow(slot, j);
    if (err == SRTM_OK)
        memcpy(v, cp[slot][j], SRTM_DIGEST_LEN);
    pthread_mutex_unlock(&cp_lock);
    for (uint64_t e = (uint64_t)j * SIM_CHECKPOINT; e < n && err == SRTM_OK; e++)
        err = sim_extend(v, sim_binary(slot, e), v);
    if (err == SRTM_OK)
        memcpy(out, v, SRTM_DIGEST_LEN);
    return err;
}

/* SHA-256 of "srtm-sim host INDEX WHAT". */
static srtm_err text_digest(const char *what, unsigned index, uint8_t out[SRTM_DIGEST_LEN])
{
    char text[96];
    int n = snprintf(text, sizeof(text), "srtm-sim host %u %s", index, what);
    if (n < 0 || (size_t)n >= sizeof(text))
        return SRTM_E_INTERNAL;
    return srtm_sha256(text, (size_t)n, out);
}

/* ---- keys ---- */

static srtm_err p256_key(EVP_PKEY **out)
{
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    return *out != NULL ? SRTM_OK : SRTM_E_CRYPTO;
}

static srtm_err host_keys(sim_host *h)
{
    srtm_err err = p256_key(&h->aik);
    if (err == SRTM_OK)
        err = p256_key(&h->wrong_aik);
    if (err == SRTM_OK)
        err = irk_generate(&h->irk);
    if (err == SRTM_OK)
        err = irk_public_der(h->irk, h->irk_pub, &h->irk_pub_len);
    uint8_t der[128];
    unsigned char *p = der;
    int len = err == SRTM_OK ? i2d_PUBKEY(h->aik, NULL) : -1;
    if (err == SRTM_OK && (len <= 0 || (size_t)len > sizeof(der) || i2d_PUBKEY(h->aik, &p) != len))
        err = SRTM_E_CRYPTO;
    if (err == SRTM_OK)
        err = srtm_sha256(der, (size_t)len, h->signer);
    return err;
}

/* ---- boots and logs ---- */

static srtm_err host_pcrs(sim_host *h)
{
    static const uint8_t zero[SRTM_DIGEST_LEN];
    unsigned chain = h->k.shared_boot ? 0 : h->index; /* whose boot chain the host runs */
    srtm_err err = text_digest("firmware and boot loader", chain, h->pcr_boot);
    if (err == SRTM_OK)
        err = text_digest("srtmd launch event", chain, h->launch_event);
    if (err == SRTM_OK)
        err = srtm_sha256(CLOSE_TAG, strlen(CLOSE_TAG), h->close_event);
    if (err == SRTM_OK)
        err = sim_extend(zero, h->launch_event, h->pcr_proof);
    if (err == SRTM_OK)
        err = sim_extend(h->pcr_proof, h->close_event, h->pcr_running);
    return err;
}

/* Bring every CCR to n entries (n only grows within a boot). */
static srtm_err grow_to(sim_host *h, uint64_t n)
{
    srtm_err err = SRTM_OK;
    for (unsigned s = 0; s < SLOTS && err == SRTM_OK; s++) {
        sim_ccr *c = &h->ccrs[s];
        while (c->n < n && (err = sim_extend(c->value, sim_binary(s, c->n), c->value)) == SRTM_OK)
            c->n++;
    }
    return err;
}

static srtm_err make_certificate(sim_host *h)
{
    uint8_t cq[SRTM_DIGEST_LEN];
    sim_attest a = {.qual = cq, .pcr0 = h->pcr_boot, .pcr15 = h->pcr_proof,
                    .clock = 4500, .reset_count = (uint32_t)(1 + h->boot), .signer = h->signer};
    EVP_PKEY *key = h->k.lie == SIM_WRONG_AIK ? h->wrong_aik : h->aik;
    srtm_err err = irk_cert_qualifier(h->irk_pub, h->irk_pub_len, cq);
    if (err == SRTM_OK)
        err = sim_make_attest(&a, h->cert_attest, sizeof(h->cert_attest), &h->cert_attest_len);
    if (err == SRTM_OK)
        err = sim_tpm_sign(key, h->cert_attest, h->cert_attest_len, h->cert_sig,
                           sizeof(h->cert_sig), &h->cert_sig_len);
    return err;
}

/* A new boot: the logs start again from the initial size, the counters move. */
static srtm_err host_boot(sim_host *h, uint64_t boot, double start)
{
    h->boot = boot;
    h->boot_start = start;
    memset(h->ccrs, 0, sizeof(h->ccrs));
    srtm_err err = RAND_bytes(h->instance, sizeof(h->instance)) == 1 ? SRTM_OK : SRTM_E_CRYPTO;
    if (err == SRTM_OK)
        err = make_certificate(h);
    if (err == SRTM_OK)
        err = grow_to(h, h->k.log_entries);
    return err;
}

/* The state at time now (seconds since the simulator started): reboots, then growth. */
srtm_err sim_host_advance(sim_host *h, double now)
{
    srtm_err err = SRTM_OK;
    if (h->k.reboot_every > 0) {
        uint64_t boot = (uint64_t)floor(now / h->k.reboot_every);
        if (boot > h->boot)
            err = host_boot(h, boot, (double)boot * h->k.reboot_every);
    }
    double grown = h->k.growth * (now - h->boot_start);
    if (err == SRTM_OK && grown >= 1.0)
        err = grow_to(h, h->k.log_entries + (uint64_t)grown);
    return err;
}

srtm_err sim_host_init(sim_host *h, unsigned index, const sim_knobs *k, double now)
{
    memset(h, 0, sizeof(*h));
    h->index = index;
    h->k = *k;
    if (pthread_once(&binaries_once, binaries_init) != 0 || !binaries_ok)
        return SRTM_E_CRYPTO;
    if (pthread_mutex_init(&h->lock, NULL) != 0)
        return SRTM_E_NO_MEMORY;
    srtm_err err = host_keys(h);
    if (err == SRTM_OK)
        err = host_pcrs(h);
    if (err == SRTM_OK)
        err = host_boot(h, 0, now);
    return err;
}

void sim_host_fini(sim_host *h)
{
    EVP_PKEY_free(h->aik);
    EVP_PKEY_free(h->wrong_aik);
    irk_free(h->irk);
    pthread_mutex_destroy(&h->lock);
}

/* The host's table as components: handles, names, parents and edges (ascending). */
static const uint64_t vm_deps[SIM_VMS][3] = {{0}, {0}, {0, 1}, {0, 3}};
static const size_t vm_ndeps[SIM_VMS] = {1, 1, 2, 2};

size_t sim_component_deps(unsigned handle, const uint64_t **deps)
{
    if (handle == 0 || handle > SIM_VMS) {
        *deps = NULL;
        return 0;
    }
    *deps = vm_deps[handle - 1];
    return vm_ndeps[handle - 1];
}

/* Slots of component handle: platform slot 0; VM v (1-based) slots 2v-1 and 2v. */
unsigned sim_component_slots(unsigned handle, unsigned *first)
{
    *first = handle == 0 ? 0 : 2 * handle - 1;
    return handle == 0 ? 1 : 2;
}
