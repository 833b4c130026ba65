/*
 * tpm_delay_proxy: a TPM with a hardware-like quote latency, for benchmarks. It stands in
 * front of a swtpm on a port pair like swtpm's own (PORT for commands, PORT + 1 for
 * control) and forwards every connection to the swtpm at UPSTREAM and UPSTREAM + 1, but
 * holds each TPM2_Quote back for DELAY_MS before forwarding it: a swtpm quotes in well under
 * a millisecond, a discrete TPM takes a few hundred.
 *
 * tpm2-tss's swtpm TCTI (3.2.1) writes each TPM command as it is on the command port,
 * unframed: tag (uint16, 0x8001 or 0x8002), size (uint32, the whole command) and command
 * code (uint32), big-endian, then the parameters; the locality goes over the control port
 * (CMD_SET_LOCALITY) and the response comes back unframed too. The proxy reads whole
 * commands from the client this way; bytes that do not start with a TPM tag switch the
 * connection to a plain relay. The control port is always a plain relay. One thread per
 * direction of each connection (tcti-swtpm opens a connection per command and the TPM
 * serves one command at a time anyway).
 *
 * Usage: tpm_delay_proxy PORT UPSTREAM_PORT [DELAY_MS]  (default 200 ms; 127.0.0.1 only).
 * It prints "ready" on stdout once it listens and runs until killed. Not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TPM2_ST_NO_SESSIONS 0x8001u
#define TPM2_ST_SESSIONS 0x8002u
#define TPM2_CC_QUOTE 0x158u
#define TPM_HEADER 10u /* tag, size, command code */
/* Larger than any TPM 2.0 command buffer (TPM2_PT_MAX_COMMAND_SIZE is 4096 on swtpm). */
#define MAX_COMMAND 8192u

static unsigned delay_ms = 200;
static int upstream_port;

typedef struct relay {
    int from, to;
    int framed; /* parse the command port's framing (client to TPM direction only) */
} relay;

static int read_full(int fd, uint8_t *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = write(fd, buf + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Copy bytes as they come until either side closes. */
static void plain(int from, int to)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t r = read(from, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || write_full(to, buf, (size_t)r) != 0)
            return;
    }
}

/* Forward whole TPM commands, holding back each TPM2_Quote; 0 when the client closed
 * between commands, -1 on an error, 1 when the rest must go as a plain relay. */
static int framed(int from, int to)
{
    uint8_t buf[MAX_COMMAND];
    for (;;) {
        if (read_full(from, buf, 2) != 0)
            return 0;
        unsigned tag = (unsigned)buf[0] << 8 | buf[1];
        if (tag != TPM2_ST_NO_SESSIONS && tag != TPM2_ST_SESSIONS)
            return write_full(to, buf, 2) == 0 ? 1 : -1;
        if (read_full(from, buf + 2, TPM_HEADER - 2) != 0)
            return -1;
        uint32_t size = be32(buf + 2);
        if (size < TPM_HEADER || size > MAX_COMMAND ||
            read_full(from, buf + TPM_HEADER, size - TPM_HEADER) != 0)
            return -1;
        if (be32(buf + 6) == TPM2_CC_QUOTE)
            sleep_ms(delay_ms);
        if (write_full(to, buf, size) != 0)
            return -1;
    }
}

static void *relay_main(void *arg)
{
    relay *r = arg;
    if (!r->framed || framed(r->from, r->to) == 1)
        plain(r->from, r->to);
    /* Tell the other side; the other direction's thread closes its own descriptors. */
    shutdown(r->to, SHUT_WR);
    shutdown(r->from, SHUT_RD);
    free(r);
    return NULL;
}

static int connect_upstream(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int start_relay(int from, int to, int is_framed, pthread_t *t)
{
    relay *r = malloc(sizeof(*r));
    if (r == NULL)
        return -1;
    *r = (relay){.from = from, .to = to, .framed = is_framed};
    if (pthread_create(t, NULL, relay_main, r) != 0) {
        free(r);
        return -1;
    }
    return 0;
}

/* One accepted connection: both directions, then close both sockets. */
typedef struct conn {
    int client;
    int ctrl;
} conn;

static void *conn_main(void *arg)
{
    conn *c = arg;
    int up = connect_upstream(upstream_port + c->ctrl);
    pthread_t a, b;
    if (up >= 0 && start_relay(c->client, up, !c->ctrl, &a) == 0) {
        if (start_relay(up, c->client, 0, &b) == 0)
            pthread_join(b, NULL);
        else
            shutdown(c->client, SHUT_RD);
        pthread_join(a, NULL);
    }
    if (up >= 0)
        close(up);
    close(c->client);
    free(c);
    return NULL;
}

static int listen_on(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0) {
        perror("tpm_delay_proxy: listen");
        exit(1);
    }
    return fd;
}

static void accept_one(int lfd, int ctrl)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn *c = malloc(sizeof(*c));
    pthread_t t;
    if (c != NULL) {
        *c = (conn){.client = fd, .ctrl = ctrl};
        if (pthread_create(&t, NULL, conn_main, c) == 0) {
            pthread_detach(t);
            return;
        }
        free(c);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tpm_delay_proxy PORT UPSTREAM_PORT [DELAY_MS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    upstream_port = atoi(argv[2]);
    if (argc > 3)
        delay_ms = (unsigned)strtoul(argv[3], NULL, 10);
    if (port <= 0 || port > 65534 || upstream_port <= 0 || upstream_port > 65534 ||
        delay_ms > 60000) {
        fprintf(stderr, "tpm_delay_proxy: bad port or delay\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct pollfd p[2] = {{.fd = listen_on(port), .events = POLLIN},
                          {.fd = listen_on(port + 1), .events = POLLIN}};
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < 2; i++)
            if (p[i].revents & POLLIN)
                accept_one(p[i].fd, i);
    }
}
