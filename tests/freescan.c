/*
 * An LD_PRELOAD library for tests/test_transport.c: every block handed to free() (or
 * left behind by realloc()) is kept, not freed, up to QUARANTINE blocks (later ones are
 * scanned at once and freed). freescan_hits() scans each kept block over its whole usable
 * size for the capabilities registered with freescan_add() by then (the first from
 * $FREESCAN_CAP, hex), so a capability learnt only after its block was freed (a register's
 * answer) is found too, and counts the blocks that held one: a capability left in freed
 * heap by libsrtm or by nng underneath it. glibc only (__libc_free, malloc_usable_size).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NEEDLE_LEN 32
#define MAX_NEEDLES 8
#define QUARANTINE 65536

extern void __libc_free(void *p);
extern void *__libc_malloc(size_t n);

void freescan_add(const uint8_t cap[NEEDLE_LEN]);
unsigned long freescan_hits(void);

static uint8_t needles[MAX_NEEDLES][NEEDLE_LEN];
static atomic_int nneedles;
static atomic_ulong hits;
static void *kept[QUARANTINE];
static atomic_size_t nkept;

__attribute__((visibility("default"))) void freescan_add(const uint8_t cap[NEEDLE_LEN])
{
    int i = atomic_load(&nneedles);
    if (i < MAX_NEEDLES) {
        memcpy(needles[i], cap, NEEDLE_LEN);
        atomic_store(&nneedles, i + 1);
    }
}

static void scan(const void *p);

__attribute__((visibility("default"))) unsigned long freescan_hits(void)
{
    size_t n = atomic_load(&nkept);
    for (size_t i = 0; i < n && i < QUARANTINE; i++)
        if (kept[i] != NULL)
            scan(kept[i]);
    return atomic_load(&hits);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

__attribute__((constructor)) static void load_first_needle(void)
{
    const char *hex = getenv("FREESCAN_CAP");
    uint8_t cap[NEEDLE_LEN];
    if (hex == NULL || strlen(hex) != 2 * NEEDLE_LEN)
        return;
    for (int i = 0; i < NEEDLE_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return;
        cap[i] = (uint8_t)(hi << 4 | lo);
    }
    freescan_add(cap);
}

static void scan(const void *p)
{
    size_t size = malloc_usable_size((void *)p);
    int n = atomic_load(&nneedles);
    for (int i = 0; i < n; i++)
        if (memmem(p, size, needles[i], NEEDLE_LEN) != NULL) {
            atomic_fetch_add(&hits, 1);
            return;
        }
}

__attribute__((visibility("default"))) void free(void *p)
{
    if (p == NULL)
        return;
    size_t i = atomic_fetch_add(&nkept, 1);
    if (i < QUARANTINE) {
        kept[i] = p;
        return;
    }
    scan(p);
    __libc_free(p);
}

/* Every move goes through free(), so a block realloc() leaves behind is scanned too. */
__attribute__((visibility("default"))) void *realloc(void *p, size_t n)
{
    if (p == NULL)
        return __libc_malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    void *q = __libc_malloc(n);
    if (q == NULL)
        return NULL;
    size_t old = malloc_usable_size(p);
    memcpy(q, p, old < n ? old : n);
    free(p);
    return q;
}
