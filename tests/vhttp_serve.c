/*
 * Test-only: serve the fleet verifier's HTTP API (verifierd/http.h) over a store until
 * SIGTERM or SIGINT, so tests and a browser can run against it.
 * Usage: vhttp_serve STORE_URL PORT [NODE]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "http.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: vhttp_serve STORE_URL PORT [NODE]\n");
        return 2;
    }
    int port = atoi(argv[2]);
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "vhttp_serve: bad port\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before the server starts its threads */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    vhttp_config cfg = {.listen_url = url, .store_url = argv[1],
                        .node = argc == 4 ? argv[3] : "test"};
    vhttp *v = NULL;
    srtm_err err = vhttp_start(&cfg, &v);
    if (err != SRTM_OK) {
        fprintf(stderr, "vhttp_serve: %s\n", srtm_strerror(err));
        return 1;
    }
    printf("ready %s\n", url);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    vhttp_stop(v);
    return 0;
}
