/* Strict parser of the CCR known-answer file; see kat.h and tests/data/ccr-kat.txt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common.h"
#include "kat.h"

static void parse_hex32(const char *hex, int lineno, uint8_t out[SRTM_DIGEST_LEN])
{
    cr_assert(strlen(hex) == 2 * SRTM_DIGEST_LEN, "ccr-kat.txt:%d: hex field of %zu digits", lineno,
              strlen(hex));
    cr_assert(hex_decode(hex, strlen(hex), out, SRTM_DIGEST_LEN) == SRTM_OK,
              "ccr-kat.txt:%d: bad hex", lineno);
}

static void parse_line(char *s, int lineno, kat_line *out)
{
    char *fields[6];
    size_t nf = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        cr_assert(nf < SRTM_ARRAY_LEN(fields), "ccr-kat.txt:%d: too many fields", lineno);
        fields[nf++] = tok;
    }
    cr_assert(nf >= 3, "ccr-kat.txt:%d: too few fields", lineno);
    memset(out, 0, sizeof(*out));
    out->lineno = lineno;
    cr_assert(strlen(fields[1]) < KAT_NAME_MAX, "ccr-kat.txt:%d: name too long", lineno);
    strcpy(out->name, fields[1]);
    char *end = NULL;
    unsigned long ccr = strtoul(fields[2], &end, 10);
    cr_assert(*end == '\0' && ccr <= UINT32_MAX, "ccr-kat.txt:%d: bad number", lineno);
    out->ccr = (uint32_t)ccr;
    if (strcmp(fields[0], "comp") == 0) {
        cr_assert(nf == 3, "ccr-kat.txt:%d: comp takes 2 fields", lineno);
        out->kind = KAT_COMP;
    } else if (strcmp(fields[0], "ext") == 0) {
        cr_assert(nf == 4, "ccr-kat.txt:%d: ext takes 3 fields", lineno);
        out->kind = KAT_EXT;
        parse_hex32(fields[3], lineno, out->bytes);
    } else if (strcmp(fields[0], "expect") == 0) {
        cr_assert(nf == 5, "ccr-kat.txt:%d: expect takes 4 fields", lineno);
        out->kind = KAT_EXPECT;
        unsigned long long len = strtoull(fields[3], &end, 10);
        cr_assert(*end == '\0', "ccr-kat.txt:%d: bad log length", lineno);
        out->loglen = len;
        parse_hex32(fields[4], lineno, out->bytes);
    } else {
        cr_assert_fail("ccr-kat.txt:%d: unknown record '%s'", lineno, fields[0]);
    }
}

void kat_load(kat *k)
{
    memset(k, 0, sizeof(*k));
    const char *dir = getenv("SRTM_TEST_DATA");
    cr_assert(dir != NULL && dir[0] != '\0', "SRTM_TEST_DATA is not set (use meson test)");
    char path[4096];
    snprintf(path, sizeof(path), "%s/ccr-kat.txt", dir);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot open %s", path);
    size_t cap = 0;
    char buf[512];
    int lineno = 0;
    while (fgets(buf, sizeof(buf), f) != NULL) {
        lineno++;
        size_t len = strlen(buf);
        cr_assert(len > 0 && buf[len - 1] == '\n', "ccr-kat.txt:%d: line too long", lineno);
        buf[len - 1] = '\0';
        if (buf[0] == '#' || buf[0] == '\0')
            continue;
        if (k->n == cap) {
            cap = cap ? 2 * cap : 256;
            k->lines = realloc(k->lines, cap * sizeof(*k->lines));
            cr_assert(k->lines != NULL);
        }
        kat_line *l = &k->lines[k->n++];
        parse_line(buf, lineno, l);
        k->n_comp += l->kind == KAT_COMP;
        k->n_ext += l->kind == KAT_EXT;
        k->n_expect += l->kind == KAT_EXPECT;
    }
    fclose(f);
    /* Guard against a truncated or emptied data file making the tests pass vacuously. */
    cr_assert(k->n_comp >= 5 && k->n_ext >= 1000 && k->n_expect >= 20,
              "ccr-kat.txt holds too few vectors (%zu comp, %zu ext, %zu expect)", k->n_comp,
              k->n_ext, k->n_expect);
}

void kat_free(kat *k)
{
    free(k->lines);
    memset(k, 0, sizeof(*k));
}
