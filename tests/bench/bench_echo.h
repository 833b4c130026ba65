/* A bare nng req/rep echo server built the way srtmd serves (a pool of contexts with aio
 * callbacks), answering every request with reply_len bytes: the transport alone, the
 * reference srtm's round trips are compared with. Run it in a forked child; it never
 * returns. */
#ifndef SRTM_BENCH_ECHO_H
#define SRTM_BENCH_ECHO_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#define BENCH_ECHO_WORKERS 64

typedef struct bench_echo_worker {
    nng_ctx ctx;
    nng_aio *aio;
    int sending;
    size_t reply_len;
} bench_echo_worker;

static void bench_echo_cb(void *arg)
{
    bench_echo_worker *w = arg;
    if (nng_aio_result(w->aio) != 0)
        return;
    if (w->sending) {
        w->sending = 0;
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    /* A fresh answer of the answer's size, as srtmd allocates one per request. */
    nng_msg *in = nng_aio_get_msg(w->aio), *out = NULL;
    nng_msg_free(in);
    if (nng_msg_alloc(&out, w->reply_len) != 0)
        _exit(1);
    memset(nng_msg_body(out), 0x5a, w->reply_len);
    nng_aio_set_msg(w->aio, out);
    w->sending = 1;
    nng_ctx_send(w->ctx, w->aio);
}

static inline void bench_echo_serve(const char *url, size_t reply_len)
{
    nng_socket s;
    static bench_echo_worker ws[BENCH_ECHO_WORKERS];
    if (nng_rep0_open(&s) != 0)
        _exit(1);
    for (int i = 0; i < BENCH_ECHO_WORKERS; i++) {
        ws[i].reply_len = reply_len;
        if (nng_aio_alloc(&ws[i].aio, bench_echo_cb, &ws[i]) != 0 ||
            nng_ctx_open(&ws[i].ctx, s) != 0)
            _exit(1);
    }
    if (nng_listen(s, url, NULL, 0) != 0)
        _exit(1);
    for (int i = 0; i < BENCH_ECHO_WORKERS; i++)
        nng_ctx_recv(ws[i].ctx, ws[i].aio);
    for (;;)
        pause();
}

#endif
