/*
 * A client for tests/test_transport.c. Its own program: nng cannot be used in a process
 * forked from one that already used it, and a preload library must be there from the start.
 *
 * transport_client scan URL, under the freescan preload library: registers a component
 * with the admin capability ($FREESCAN_CAP, hex), has its fresh capability scanned for
 * too, extends with it, lists, closes, and reports how many freed blocks held either
 * capability. Exit status: 0 nothing found, 1 usage, 2 a request failed, 3 a capability
 * was found in freed memory, 4 the preload library is missing.
 *
 * transport_client open URL: srtm_open(URL) and print srtm_last_message(NULL) on stdout.
 * Exit status: the srtm_err.
 *
 * transport_client hold URL NAME1 NAME2: on one connection, registers NAME1 with the admin
 * capability ($FREESCAN_CAP, hex), prints "ready", waits for a line on stdin, registers
 * NAME2, closes. Exit status: 0, 1 usage, 2 a request failed.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <srtm/srtm.h>

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_cap(const char *hex, srtm_cap *cap)
{
    if (hex == NULL || strlen(hex) != 2 * SRTM_CAP_LEN)
        return -1;
    for (size_t i = 0; i < SRTM_CAP_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        cap->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int requests(const char *url, const srtm_cap *admin, void (*add)(const uint8_t *))
{
    srtm_conn *c = NULL;
    srtm_cap cap;
    uint64_t h;
    srtm_components *l = NULL;
    uint8_t dg[32] = {1};
    srtm_err err = srtm_open(url, &c);
    if (err == SRTM_OK)
        err = srtm_register(c, admin, "wiped", 1, &h, &cap);
    if (err == SRTM_OK)
        add(cap.bytes);
    for (int i = 0; i < 3 && err == SRTM_OK; i++)
        err = srtm_extend(c, &cap, "wiped", 0, dg, 0, "scanned", NULL);
    if (err == SRTM_OK)
        err = srtm_list(c, &l);
    /* A refused request carries the capability as well. */
    if (err == SRTM_OK && srtm_register(c, &cap, "refused", 1, &h, &cap) == SRTM_OK)
        err = SRTM_E_INTERNAL;
    if (err != SRTM_OK)
        fprintf(stderr, "transport_client: %s: %s\n", srtm_strerror(err), srtm_last_message(c));
    srtm_components_free(l);
    srtm_close(c);
    srtm_cap_wipe(&cap);
    return err == SRTM_OK ? 0 : 2;
}

static int open_only(const char *url)
{
    srtm_conn *c = NULL;
    srtm_err err = srtm_open(url, &c);
    printf("%s", srtm_last_message(NULL));
    srtm_close(c);
    return (int)err;
}

/* Two registrations on one connection that stays open between them. */
static int hold(const char *url, const srtm_cap *admin, const char *first, const char *second)
{
    srtm_conn *c = NULL;
    srtm_cap cap;
    uint64_t h;
    char line[16];
    srtm_err err = srtm_open(url, &c);
    if (err == SRTM_OK)
        err = srtm_register(c, admin, first, 1, &h, &cap);
    if (err == SRTM_OK) {
        printf("ready\n");
        fflush(stdout);
        if (fgets(line, sizeof(line), stdin) == NULL)
            err = SRTM_E_INTERNAL;
    }
    if (err == SRTM_OK)
        err = srtm_register(c, admin, second, 1, &h, &cap);
    if (err != SRTM_OK)
        fprintf(stderr, "transport_client: %s: %s\n", srtm_strerror(err), srtm_last_message(c));
    srtm_close(c);
    srtm_cap_wipe(&cap);
    return err == SRTM_OK ? 0 : 2;
}

int main(int argc, char **argv)
{
    srtm_cap admin;
    if (argc == 3 && strcmp(argv[1], "open") == 0)
        return open_only(argv[2]);
    if (argc == 5 && strcmp(argv[1], "hold") == 0) {
        if (parse_cap(getenv("FREESCAN_CAP"), &admin) != 0)
            return 1;
        int rc = hold(argv[2], &admin, argv[3], argv[4]);
        srtm_cap_wipe(&admin);
        return rc;
    }
    if (argc != 3 || strcmp(argv[1], "scan") != 0 ||
        parse_cap(getenv("FREESCAN_CAP"), &admin) != 0) {
        fprintf(stderr, "usage: transport_client open URL | FREESCAN_CAP=HEX "
                        "transport_client scan URL | FREESCAN_CAP=HEX transport_client hold "
                        "URL NAME1 NAME2\n");
        return 1;
    }
    void (*add)(const uint8_t *) = (void (*)(const uint8_t *))dlsym(RTLD_DEFAULT, "freescan_add");
    unsigned long (*hits)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "freescan_hits");
    if (add == NULL || hits == NULL)
        return 4;
    int rc = requests(argv[2], &admin, add);
    srtm_cap_wipe(&admin);
    unsigned long n = hits();
    if (n > 0)
        fprintf(stderr, "transport_client: %lu freed block(s) held a capability\n", n);
    return rc != 0 ? rc : n > 0 ? 3 : 0;
}
