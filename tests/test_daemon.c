/*
 * srtmd and libsrtm together over real ipc:// sockets: the operations, incremental log
 * reads, bad input on the wire (each refused with a clear status, no state change, the
 * daemon still serving), concurrency, and the daemon's life cycle.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <openssl/evp.h>

#include "helpers.h"
#include "srtm.pb-c.h"

static test_daemon d;

static void start(void)
{
    test_daemon_start(&d, NULL);
}

static void stop(void)
{
    test_daemon_stop_checked(&d);
}

TestSuite(daemon, .init = start, .fini = stop, .timeout = 60);

static void digest_of(const char *label, unsigned i, uint8_t out[32])
{
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%s-%u", label, i);
    test_sha256(buf, (size_t)n, NULL, 0, out);
}

static srtm_conn *conn_open(void)
{
    srtm_conn *c = NULL;
    cr_assert_eq(srtm_open(d.url, &c), SRTM_OK);
    return c;
}

static srtm_cap reg(srtm_conn *c, const char *name, uint32_t nccrs)
{
    srtm_cap cap;
    uint64_t h = 0;
    srtm_err err = srtm_register(c, &d.admin, name, nccrs, &h, &cap);
    cr_assert_eq(err, SRTM_OK, "register %s: %s (%s)", name, srtm_strerror(err),
                 srtm_last_message(c));
    return cap;
}

static void read_value(srtm_conn *c, const char *name, uint32_t ccr, uint8_t out[32],
                       uint64_t *log_len)
{
    srtm_ccrs *v = NULL;
    cr_assert_eq(srtm_read(c, name, &ccr, 1, &v), SRTM_OK);
    cr_assert_eq(srtm_ccrs_get(v, 0, NULL, NULL, out, log_len), SRTM_OK);
    srtm_ccrs_free(v);
}

/* Replay the whole log of a CCR with the reference hash; returns the entry count. */
static uint64_t replay(srtm_conn *c, const char *name, uint32_t ccr, uint8_t out[32])
{
    srtm_log_iter *it = NULL;
    cr_assert_eq(srtm_log_open(c, name, ccr, 0, &it), SRTM_OK);
    uint8_t v[32] = {0};
    uint64_t n = 0;
    const srtm_log_entry *e;
    srtm_err err;
    while ((err = srtm_log_next(it, &e)) == SRTM_OK) {
        cr_assert_eq(srtm_log_entry_index(e), n);
        test_sha256(v, 32, srtm_log_entry_digest(e), 32, v);
        n++;
    }
    cr_assert_eq(err, SRTM_E_END, "log iteration: %s", srtm_strerror(err));
    srtm_log_iter_free(it);
    memcpy(out, v, 32);
    return n;
}

Test(daemon, register_extend_read_log_list)
{
    srtm_conn *c = conn_open();
    srtm_cap cap = reg(c, "vm-one", 2);
    uint8_t dg[32], expect[32] = {0}, got[32];
    digest_of("kernel", 1, dg);
    uint64_t seq = 0;
    cr_assert_eq(srtm_extend(c, &cap, "vm-one", 1, dg, 7, "kernel image", &seq), SRTM_OK);
    cr_expect_gt(seq, 0);
    test_sha256(expect, 32, dg, 32, expect);
    uint64_t len = 0;
    read_value(c, "vm-one", 1, got, &len);
    cr_expect_arr_eq(got, expect, 32, "CCR 1 is not SHA-256(0^32 || digest)");
    cr_expect_eq(len, 1);
    uint8_t zero[32] = {0};
    read_value(c, "vm-one", 0, got, &len);
    cr_expect_arr_eq(got, zero, 32, "untouched CCR 0 changed");

    srtm_log_iter *it = NULL;
    cr_assert_eq(srtm_log_open(c, "vm-one", 1, 0, &it), SRTM_OK);
    const srtm_log_entry *e = NULL;
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK);
    cr_expect_eq(srtm_log_entry_seq(e), seq);
    cr_expect_eq(srtm_log_entry_event_type(e), 7);
    cr_expect_str_eq(srtm_log_entry_description(e), "kernel image");
    cr_expect_arr_eq(srtm_log_entry_digest(e), dg, 32);
    cr_expect_eq(srtm_log_next(it, &e), SRTM_E_END);
    srtm_log_iter_free(it);

    srtm_components *l = NULL;
    cr_assert_eq(srtm_list(c, &l), SRTM_OK);
    cr_assert_eq(srtm_components_count(l), 2);
    cr_expect_str_eq(srtm_components_name(l, 0), "platform");
    cr_expect_eq(srtm_components_handle(l, 0), 0);
    cr_expect_str_eq(srtm_components_name(l, 1), "vm-one");
    cr_expect_eq(srtm_components_ccr_count(l, 1), 2);
    /* Peer credentials of the registering process are recorded. */
    cr_expect_eq(srtm_components_peer_uid(l, 1), (uint32_t)getuid());
    cr_expect_eq(srtm_components_peer_pid(l, 1), (uint32_t)getpid());
    srtm_components_free(l);
    srtm_close(c);
}

Test(daemon, extend_data_and_file_hash_locally)
{
    srtm_conn *c = conn_open();
    srtm_cap cap = reg(c, "app", 1);
    const char *text = "configuration v1";
    cr_assert_eq(srtm_extend_data(c, &cap, "app", 0, text, strlen(text), 0, NULL, NULL), SRTM_OK);
    char path[] = "/tmp/srtm-test-file-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "binary", 6), 6);
    close(fd);
    cr_assert_eq(srtm_extend_file(c, &cap, "app", 0, path, 0, "app binary", NULL), SRTM_OK);
    cr_expect_eq(srtm_extend_file(c, &cap, "app", 0, "/nonexistent/file", 0, NULL, NULL),
                 SRTM_E_IO);
    unlink(path);
    uint8_t d1[32], d2[32], v[32] = {0}, got[32];
    test_sha256(text, strlen(text), NULL, 0, d1);
    test_sha256("binary", 6, NULL, 0, d2);
    test_sha256(v, 32, d1, 32, v);
    test_sha256(v, 32, d2, 32, v);
    uint64_t len = 0;
    read_value(c, "app", 0, got, &len);
    cr_expect_arr_eq(got, v, 32);
    cr_expect_eq(len, 2, "the failed file extend must not have landed");
    srtm_close(c);
}

Test(daemon, batched_extend_over_several_ccrs)
{
    srtm_conn *c = conn_open();
    srtm_cap cap = reg(c, "vm-batch", 3);
    srtm_batch *b = NULL;
    cr_assert_eq(srtm_batch_new(&b), SRTM_OK);
    uint8_t expect[3][32] = {{0}};
    for (unsigned i = 0; i < 3000; i++) {
        uint8_t dg[32];
        digest_of("batch", i, dg);
        cr_assert_eq(srtm_batch_add(b, i % 3, dg, i, "m"), SRTM_OK);
        test_sha256(expect[i % 3], 32, dg, 32, expect[i % 3]);
    }
    uint64_t first = 0, last = 0;
    cr_assert_eq(srtm_batch_submit(c, &cap, "vm-batch", b, &first, &last), SRTM_OK);
    cr_expect_eq(last - first + 1, 3000);
    srtm_ccrs *v = NULL;
    cr_assert_eq(srtm_read(c, "vm-batch", NULL, 0, &v), SRTM_OK);
    cr_assert_eq(srtm_ccrs_count(v), 3);
    for (size_t i = 0; i < 3; i++) {
        uint8_t got[32];
        uint64_t len;
        uint32_t index;
        cr_assert_eq(srtm_ccrs_get(v, i, &index, NULL, got, &len), SRTM_OK);
        cr_expect_eq(index, i);
        cr_expect_eq(len, 1000);
        cr_expect_arr_eq(got, expect[i], 32, "CCR %zu after the batch", i);
    }
    srtm_ccrs_free(v);
    /* The log of 1000 entries spans several pages. */
    uint8_t rep[32];
    cr_expect_eq(replay(c, "vm-batch", 2, rep), 1000);
    cr_expect_arr_eq(rep, expect[2], 32);
    srtm_batch_free(b);
    srtm_close(c);
}

Test(daemon, incremental_log_reads)
{
    srtm_conn *c = conn_open();
    srtm_cap cap = reg(c, "vm-inc", 1);
    uint8_t dg[32];
    for (unsigned i = 0; i < 5; i++) {
        digest_of("inc", i, dg);
        cr_assert_eq(srtm_extend(c, &cap, "vm-inc", 0, dg, 0, NULL, NULL), SRTM_OK);
    }
    srtm_log_iter *it = NULL;
    cr_assert_eq(srtm_log_open(c, "vm-inc", 0, 3, &it), SRTM_OK);
    const srtm_log_entry *e;
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK);
    cr_expect_eq(srtm_log_entry_index(e), 3);
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK);
    cr_expect_eq(srtm_log_entry_index(e), 4);
    cr_assert_eq(srtm_log_next(it, &e), SRTM_E_END);
    cr_expect_eq(srtm_log_offset(it), 5);
    /* New entries appear on the same iterator, and only those. */
    for (unsigned i = 5; i < 7; i++) {
        digest_of("inc", i, dg);
        cr_assert_eq(srtm_extend(c, &cap, "vm-inc", 0, dg, 0, NULL, NULL), SRTM_OK);
    }
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK);
    cr_expect_eq(srtm_log_entry_index(e), 5);
    cr_expect_arr_eq(srtm_log_entry_digest(e), (digest_of("inc", 5, dg), dg), 32);
    cr_assert_eq(srtm_log_next(it, &e), SRTM_OK);
    cr_expect_eq(srtm_log_entry_index(e), 6);
    cr_expect_eq(srtm_log_next(it, &e), SRTM_E_END);
    srtm_log_iter_free(it);
    /* Offset past the end is refused; at the end gives nothing. */
    cr_expect_eq(srtm_log_open(c, "vm-inc", 0, 8, &it), SRTM_E_RANGE);
    cr_assert_eq(srtm_log_open(c, "vm-inc", 0, 7, &it), SRTM_OK);
    cr_expect_eq(srtm_log_next(it, &e), SRTM_E_END);
    srtm_log_iter_free(it);
    srtm_close(c);
}

/* ---- bad input on the wire ---- */

typedef struct snapshot {
    size_t components;
    uint8_t value[32];
    uint64_t log_len;
} snapshot;

static snapshot snap(srtm_conn *c)
{
    snapshot s;
    srtm_components *l = NULL;
    cr_assert_eq(srtm_list(c, &l), SRTM_OK, "daemon no longer serving");
    s.components = srtm_components_count(l);
    srtm_components_free(l);
    read_value(c, "target", 0, s.value, &s.log_len);
    return s;
}

static void expect_unchanged(srtm_conn *c, const snapshot *before)
{
    snapshot after = snap(c);
    cr_expect_eq(after.components, before->components, "component count changed");
    cr_expect_eq(after.log_len, before->log_len, "log length changed");
    cr_expect_arr_eq(after.value, before->value, 32, "CCR value changed");
}

/* Send raw bytes on a fresh req socket and decode the answer (NULL if none). */
static Srtm__Response *raw_call(const void *bytes, size_t len, int timeout_ms)
{
    nng_socket s;
    cr_assert_eq(nng_req0_open(&s), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms), 0);
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms), 0); /* a hang is a failure */
    cr_assert_eq(nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
    cr_assert_eq(nng_dial(s, d.url, NULL, 0), 0);
    Srtm__Response *r = NULL;
    if (nng_send(s, (void *)bytes, len, 0) == 0) {
        void *buf = NULL;
        size_t n = 0;
        if (nng_recv(s, &buf, &n, NNG_FLAG_ALLOC) == 0) {
            r = srtm__response__unpack(NULL, n, buf);
            cr_assert(r != NULL, "daemon answered with something that is not a Response");
            nng_free(buf, n);
        }
    }
    nng_close(s);
    return r;
}

static Srtm__Response *raw_request(Srtm__Request *req)
{
    size_t n = srtm__request__get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    cr_assert(buf != NULL);
    srtm__request__pack(req, buf);
    Srtm__Response *r = raw_call(buf, n, 5000);
    free(buf);
    cr_assert(r != NULL, "no answer");
    return r;
}

static void expect_status(Srtm__Response *r, srtm_err want, const char *what)
{
    cr_expect_eq((int)r->status, (int)want, "%s: status %d (%s), wanted %d", what, (int)r->status,
                 r->message, (int)want);
    cr_expect(r->message != NULL && r->message[0] != '\0', "%s: no message", what);
    cr_expect_eq(r->result_case, SRTM__RESPONSE__RESULT__NOT_SET, "%s: error with a result", what);
    srtm__response__free_unpacked(r, NULL);
}

/* One measurement's columns, owned by the test. */
typedef struct one_measurement {
    uint8_t digest[32];
    uint32_t ccr;
    ProtobufCBinaryData desc;
} one_measurement;

static ProtobufCBinaryData text(const char *s)
{
    return (ProtobufCBinaryData){.len = strlen(s), .data = (uint8_t *)s};
}

/* An extend request of the one measurement *m for name. */
static Srtm__Request extend_req(Srtm__ExtendRequest *ex, Srtm__ComponentRef *ref,
                                one_measurement *m, const char *name, const srtm_cap *cap)
{
    srtm__component_ref__init(ref);
    ref->ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref->name = text(name);
    srtm__extend_request__init(ex);
    ex->component = ref;
    ex->digests.data = m->digest;
    ex->digests.len = 32;
    ex->n_ccrs = 1;
    ex->ccrs = &m->ccr;
    ex->n_descriptions = 1;
    ex->descriptions = &m->desc;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = ex;
    if (cap != NULL) {
        req.capability.data = (uint8_t *)cap->bytes;
        req.capability.len = SRTM_CAP_LEN;
    }
    return req;
}

Test(daemon, bad_input_is_refused_without_state_change)
{
    srtm_conn *c = conn_open();
    srtm_cap cap = reg(c, "target", 1);
    srtm_cap other = reg(c, "other", 1);
    uint8_t dg[32];
    digest_of("x", 0, dg);
    cr_assert_eq(srtm_extend(c, &cap, "target", 0, dg, 0, NULL, NULL), SRTM_OK);
    snapshot before = snap(c);

    /* Bytes that are not protobuf. */
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x42, 0x00, 0x13};
    Srtm__Response *r = raw_call(junk, sizeof(junk), 5000);
    cr_assert(r != NULL);
    expect_status(r, SRTM_E_MALFORMED, "junk");
    expect_unchanged(c, &before);

    /* A valid envelope with a wrong protocol version. */
    one_measurement m = {.ccr = 0, .desc = text("")};
    memcpy(m.digest, dg, 32);
    Srtm__ExtendRequest ex;
    Srtm__ComponentRef ref;
    Srtm__Request req = extend_req(&ex, &ref, &m, "target", &cap);
    req.version = 2;
    expect_status(raw_request(&req), SRTM_E_VERSION, "version 2");
    req.version = SRTM__VERSION__VERSION_UNSPECIFIED;
    expect_status(raw_request(&req), SRTM_E_VERSION, "version 0");
    expect_unchanged(c, &before);

    /* Missing, wrong and another component's capability. */
    req = extend_req(&ex, &ref, &m, "target", NULL);
    expect_status(raw_request(&req), SRTM_E_DENIED, "no capability");
    srtm_cap wrong = cap;
    wrong.bytes[5] ^= 1;
    req = extend_req(&ex, &ref, &m, "target", &wrong);
    expect_status(raw_request(&req), SRTM_E_DENIED, "wrong capability");
    req = extend_req(&ex, &ref, &m, "target", &other);
    expect_status(raw_request(&req), SRTM_E_DENIED, "capability of another component");
    cr_expect_eq(srtm_extend(c, &other, "target", 0, dg, 0, NULL, NULL), SRTM_E_DENIED);
    expect_unchanged(c, &before);

    /* Unknown component, by name and by handle; a name with a NUL in it. */
    req = extend_req(&ex, &ref, &m, "nobody", &cap);
    expect_status(raw_request(&req), SRTM_E_NO_COMPONENT, "unknown name");
    req = extend_req(&ex, &ref, &m, "target", &cap);
    ref.name.len = sizeof("target\0x") - 1;
    ref.name.data = (uint8_t *)"target\0x";
    expect_status(raw_request(&req), SRTM_E_INVALID, "name with a NUL");
    ref.ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
    ref.handle = 999;
    expect_status(raw_request(&req), SRTM_E_NO_COMPONENT, "unknown handle");
    expect_unchanged(c, &before);

    /* Over-long description, bad digests, CCR out of range, inconsistent columns, empty
     * batch, batch over the limit. */
    char longdesc[SRTM_MAX_DESC + 2];
    memset(longdesc, 'd', sizeof(longdesc) - 1);
    longdesc[sizeof(longdesc) - 1] = '\0';
    req = extend_req(&ex, &ref, &m, "target", &cap);
    m.desc = text(longdesc);
    expect_status(raw_request(&req), SRTM_E_TOO_BIG, "long description");
    m.desc = (ProtobufCBinaryData){.len = 5, .data = (uint8_t *)"ab\0cd"};
    expect_status(raw_request(&req), SRTM_E_INVALID, "description with a NUL");
    m.desc = text("");
    ex.digests.len = 31;
    expect_status(raw_request(&req), SRTM_E_INVALID, "31-byte digest");
    ex.digests.len = 32;
    m.ccr = 5;
    expect_status(raw_request(&req), SRTM_E_NO_CCR, "CCR out of range");
    m.ccr = 0;
    ex.n_ccrs = 0;
    expect_status(raw_request(&req), SRTM_E_INVALID, "no CCR column");
    ex.n_ccrs = 1;
    ex.digests.len = 0;
    expect_status(raw_request(&req), SRTM_E_INVALID, "empty batch");
    size_t over = SRTM_MAX_BATCH + 1;
    uint8_t *digests = calloc(over, 32);
    uint32_t *ccrs = calloc(over, sizeof(uint32_t));
    cr_assert(digests != NULL && ccrs != NULL);
    ex.digests.data = digests;
    ex.digests.len = over * 32;
    ex.n_ccrs = over;
    ex.ccrs = ccrs;
    ex.n_descriptions = 0;
    expect_status(raw_request(&req), SRTM_E_TOO_BIG, "batch over the limit");
    free(digests);
    free(ccrs);
    expect_unchanged(c, &before);

    /* Registration: over-long name, duplicate name, no capability. */
    char longname[SRTM_MAX_NAME + 2];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    Srtm__RegisterRequest rr = SRTM__REGISTER_REQUEST__INIT;
    rr.name = text(longname);
    Srtm__Request rq = SRTM__REQUEST__INIT;
    rq.version = SRTM__VERSION__VERSION_1;
    rq.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    rq.register_component = &rr;
    rq.capability.data = d.admin.bytes;
    rq.capability.len = SRTM_CAP_LEN;
    expect_status(raw_request(&rq), SRTM_E_TOO_BIG, "long name");
    rr.name = text("target");
    expect_status(raw_request(&rq), SRTM_E_EXISTS, "duplicate name");
    rr.name = text("fresh");
    rq.capability.data = cap.bytes; /* a component's capability is not the admin's */
    expect_status(raw_request(&rq), SRTM_E_DENIED, "register without admin capability");
    expect_unchanged(c, &before);

    /* A request with no operation. */
    Srtm__Request empty = SRTM__REQUEST__INIT;
    empty.version = SRTM__VERSION__VERSION_1;
    expect_status(raw_request(&empty), SRTM_E_UNSUPPORTED, "no operation");
    expect_unchanged(c, &before);
    srtm_close(c);
}

Test(daemon, oversized_messages)
{
    srtm_conn *c = conn_open();
    srtm_cap cap = reg(c, "target", 1);
    (void)cap;
    snapshot before = snap(c);
    /* Over the protocol limit but within what the socket accepts: a TOO_BIG answer. */
    size_t n = SRTM_MAX_MESSAGE + 1024;
    uint8_t *big = calloc(1, n);
    cr_assert(big != NULL);
    Srtm__Response *r = raw_call(big, n, 5000);
    cr_assert(r != NULL, "no answer to an oversized message");
    expect_status(r, SRTM_E_TOO_BIG, "oversized message");
    free(big);
    /* Over the socket's limit: nng drops it with the connection; no answer, no crash. */
    n = 2 * (size_t)SRTM_MAX_MESSAGE + 4096;
    big = calloc(1, n);
    cr_assert(big != NULL);
    r = raw_call(big, n, 1000);
    cr_expect(r == NULL, "a message over the socket limit was answered");
    if (r != NULL)
        srtm__response__free_unpacked(r, NULL);
    free(big);
    cr_expect(test_daemon_alive(&d));
    expect_unchanged(c, &before);
    /* libsrtm refuses to build such requests in the first place. */
    srtm_batch *b = NULL;
    cr_assert_eq(srtm_batch_new(&b), SRTM_OK);
    uint8_t dg[32] = {1};
    for (size_t i = 0; i < SRTM_MAX_BATCH; i++)
        cr_assert_eq(srtm_batch_add(b, 0, dg, 0, NULL), SRTM_OK);
    cr_expect_eq(srtm_batch_add(b, 0, dg, 0, NULL), SRTM_E_TOO_BIG);
    cr_expect_eq(srtm_batch_count(b), SRTM_MAX_BATCH);
    char longdesc[SRTM_MAX_DESC + 2];
    memset(longdesc, 'd', sizeof(longdesc) - 1);
    longdesc[sizeof(longdesc) - 1] = '\0';
    srtm_batch_clear(b);
    cr_expect_eq(srtm_batch_add(b, 0, dg, 0, longdesc), SRTM_E_TOO_BIG);
    cr_expect_eq(srtm_batch_count(b), 0);
    srtm_batch_free(b);
    srtm_close(c);
}

/* A peer that connects and hangs up during the SP handshake (nng 1.5 then stops
 * accepting, nanomsg/nng#1518): srtmd must serve new clients again within seconds. */
Test(daemon, hangup_during_handshake_does_not_cut_off_new_clients)
{
    for (int i = 0; i < 5; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        cr_assert(fd >= 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        cr_assert_lt(strlen(d.sock_path), sizeof(sa.sun_path));
        memcpy(sa.sun_path, d.sock_path, strlen(d.sock_path) + 1);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
    }
    /* Retry for up to 20 s: recovery takes a few probe periods, longer on a loaded
     * machine, and a refused connect returns at once. */
    srtm_err err = SRTM_E_TIMEOUT;
    for (int attempt = 0; attempt < 100 && err != SRTM_OK; attempt++) {
        if (attempt > 0) {
            struct timespec pause = {0, 200 * 1000000L};
            nanosleep(&pause, NULL);
        }
        srtm_conn *c = NULL;
        err = srtm_open(d.url, &c);
        if (err == SRTM_OK) {
            cr_assert_eq(srtm_set_timeout(c, 1000), SRTM_OK);
            srtm_components *l = NULL;
            err = srtm_list(c, &l);
            srtm_components_free(l);
        }
        srtm_close(c);
    }
    cr_expect_eq(err, SRTM_OK, "srtmd no longer accepts clients: %s", srtm_strerror(err));
    cr_expect(test_daemon_alive(&d));
}

/* ---- concurrency ---- */

#define CONC_THREADS 8
#define CONC_ROUNDS 200

typedef struct conc_arg {
    unsigned id;
    srtm_cap cap;
    uint64_t seqs[CONC_ROUNDS];
    int failures;
} conc_arg;

static void *conc_worker(void *p)
{
    conc_arg *a = p;
    srtm_conn *c = NULL;
    if (srtm_open(d.url, &c) != SRTM_OK) {
        a->failures = CONC_ROUNDS;
        return NULL;
    }
    for (unsigned i = 0; i < CONC_ROUNDS; i++) {
        uint8_t dg[32];
        char label[32];
        snprintf(label, sizeof(label), "t%u", a->id);
        digest_of(label, i, dg);
        if (srtm_extend(c, &a->cap, "shared", i % 2, dg, a->id, NULL, &a->seqs[i]) != SRTM_OK)
            a->failures++;
    }
    srtm_close(c);
    return NULL;
}

Test(daemon, concurrent_clients_extend_one_component)
{
    srtm_conn *c = conn_open();
    srtm_cap cap = reg(c, "shared", 2);
    pthread_t th[CONC_THREADS];
    static conc_arg args[CONC_THREADS];
    for (unsigned t = 0; t < CONC_THREADS; t++) {
        args[t] = (conc_arg){.id = t, .cap = cap};
        cr_assert_eq(pthread_create(&th[t], NULL, conc_worker, &args[t]), 0);
    }
    for (unsigned t = 0; t < CONC_THREADS; t++)
        pthread_join(th[t], NULL);
    /* Every acknowledged measurement is in the log exactly once, at its sequence number,
     * and every CCR value equals the replay of its log. */
    unsigned found[CONC_THREADS][CONC_ROUNDS] = {{0}};
    for (uint32_t ccr = 0; ccr < 2; ccr++) {
        srtm_log_iter *it = NULL;
        cr_assert_eq(srtm_log_open(c, "shared", ccr, 0, &it), SRTM_OK);
        const srtm_log_entry *e;
        uint8_t v[32] = {0};
        uint64_t prev_seq = 0, n = 0;
        while (srtm_log_next(it, &e) == SRTM_OK) {
            unsigned t = srtm_log_entry_event_type(e);
            cr_assert_lt(t, CONC_THREADS);
            cr_expect_gt(srtm_log_entry_seq(e), prev_seq, "sequence numbers not increasing");
            prev_seq = srtm_log_entry_seq(e);
            for (unsigned i = ccr; i < CONC_ROUNDS; i += 2) {
                if (args[t].seqs[i] == srtm_log_entry_seq(e)) {
                    uint8_t dg[32];
                    char label[32];
                    snprintf(label, sizeof(label), "t%u", t);
                    digest_of(label, i, dg);
                    cr_expect_arr_eq(srtm_log_entry_digest(e), dg, 32);
                    found[t][i]++;
                }
            }
            test_sha256(v, 32, srtm_log_entry_digest(e), 32, v);
            n++;
        }
        srtm_log_iter_free(it);
        uint8_t got[32];
        uint64_t len;
        read_value(c, "shared", ccr, got, &len);
        cr_expect_eq(len, n);
        cr_expect_arr_eq(got, v, 32, "CCR %u is not the replay of its log", ccr);
        cr_expect_eq(n, CONC_THREADS * CONC_ROUNDS / 2);
    }
    for (unsigned t = 0; t < CONC_THREADS; t++) {
        cr_expect_eq(args[t].failures, 0, "thread %u had failed extends", t);
        for (unsigned i = 0; i < CONC_ROUNDS; i++)
            cr_expect_eq(found[t][i], 1, "measurement %u of thread %u found %u times", i, t,
                         found[t][i]);
    }
    srtm_close(c);
}

/* ---- life cycle ---- */

Test(daemon, second_daemon_on_same_socket_refused)
{
    char cap2[320];
    snprintf(cap2, sizeof(cap2), "%s/second.cap", d.dir);
    const char *srtmd = test_binary("SRTMD");
    const char *argv[] = {srtmd,       "--foreground", "--listen", d.url,
                          "--admin-cap", cap2,           "--no-tpm", NULL};
    char out[256], err[2048];
    int rc = test_run(argv, out, sizeof(out), err, sizeof(err));
    cr_expect_eq(rc, 1, "second srtmd exited %d", rc);
    cr_expect(strstr(err, "another srtmd") != NULL, "unclear message: %s", err);
    cr_expect_neq(access(cap2, F_OK), 0, "second srtmd wrote an admin capability");
    /* The first one still serves with its own admin capability. */
    srtm_conn *c = conn_open();
    reg(c, "still-here", 1);
    srtm_close(c);
}

Test(daemon, admin_cap_file_is_private_and_removed_on_exit)
{
    struct stat st;
    cr_assert_eq(stat(d.cap_path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    pid_t pid = d.pid;
    cr_expect_eq(test_daemon_stop(&d), 0);
    (void)pid;
    cr_expect_neq(access(d.cap_path, F_OK), 0, "admin capability left behind");
    test_daemon_start(&d, NULL); /* for the suite's fini */
}

Test(daemon, unreachable_daemon_is_a_transport_error)
{
    srtm_conn *c = NULL;
    cr_expect_eq(srtm_open("ipc:///nonexistent/srtmd.sock", &c), SRTM_E_TRANSPORT);
    cr_expect(c == NULL);
}

/* Without --no-tpm, srtmd does not start when no TPM answers: no silent downgrade. */
Test(daemon, no_tpm_means_no_start_unless_asked)
{
    char conf[320], cap[320], text[1200];
    snprintf(conf, sizeof(conf), "%s/other.conf", d.dir);
    snprintf(cap, sizeof(cap), "%s/other.cap", d.dir);
    /* With a TPM the socket and the admin capability are measured: in the file. Its own
     * lock file: the default one, derived from the TCTI string, is shared with other tests
     * that name the same unreachable TPM. */
    snprintf(text, sizeof(text),
             "listen ipc://%s/other.sock\nadmin-cap %s\nlock-file %s/other.lock\n", d.dir, cap,
             d.dir);
    FILE *f = fopen(conf, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
    const char *argv[] = {test_binary("SRTMD"), "--foreground", "--config", conf, "--tcti",
                          "swtpm:host=127.0.0.1,port=1", NULL};
    char out[256], err[4096];
    cr_expect_eq(test_run(argv, out, sizeof(out), err, sizeof(err)), 1);
    cr_expect(strstr(err, "--no-tpm") != NULL, "the message does not say what to do: %s", err);
    cr_expect_neq(access(cap, F_OK), 0, "an admin capability was written");
}

/* With --no-tpm, srtmd says so and refuses quotes with a clear error. */
Test(daemon, quotes_are_refused_without_a_tpm)
{
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    uint8_t nonce[16] = {1};
    q.nonce.data = nonce;
    q.nonce.len = sizeof(nonce);
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.version = SRTM__VERSION__VERSION_1;
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    Srtm__Response *r = raw_request(&req);
    cr_expect(strstr(r->message, "without a TPM") != NULL, "unclear: %s", r->message);
    expect_status(r, SRTM_E_UNSUPPORTED, "quote with --no-tpm");
}

/* The tcp:// listener serves reads (and quotes) but refuses every change, even with a
 * valid capability: a remote party can attest, never measure. */
Test(daemon, tcp_listener_is_read_only)
{
    test_daemon_stop(&d);
    int port = test_free_port();
    char tcp[64];
    snprintf(tcp, sizeof(tcp), "tcp://127.0.0.1:%d", port);
    const char *extra[] = {"--listen-tcp", tcp, NULL};
    test_daemon_start(&d, extra);
    srtm_conn *local = conn_open(), *remote = NULL;
    srtm_cap cap = reg(local, "vm-net", 1);
    uint8_t dg[32] = {7};
    cr_assert_eq(srtm_extend(local, &cap, "vm-net", 0, dg, 0, NULL, NULL), SRTM_OK);
    cr_assert_eq(srtm_open(tcp, &remote), SRTM_OK);
    uint8_t v_local[32], v_remote[32];
    uint64_t len;
    read_value(local, "vm-net", 0, v_local, &len);
    read_value(remote, "vm-net", 0, v_remote, &len);
    cr_expect_arr_eq(v_local, v_remote, 32);
    cr_expect_eq(srtm_extend(remote, &cap, "vm-net", 0, dg, 0, NULL, NULL), SRTM_E_DENIED,
                 "an extend over tcp was accepted");
    cr_expect(strstr(srtm_last_message(remote), "reads and quotes only") != NULL, "%s",
              srtm_last_message(remote));
    srtm_cap c2;
    uint64_t h;
    cr_expect_eq(srtm_register(remote, &d.admin, "from-afar", 1, &h, &c2), SRTM_E_DENIED,
                 "a registration over tcp was accepted");
    read_value(local, "vm-net", 0, v_remote, &len);
    cr_expect_arr_eq(v_local, v_remote, 32, "the refused extend changed the CCR");
    cr_expect_eq(len, 1);
    srtm_close(remote);
    srtm_close(local);
}

Test(daemon, help_and_version)
{
    const char *srtmd = test_binary("SRTMD");
    char out[4096];
    const char *h[] = {srtmd, "--help", NULL};
    cr_expect_eq(test_run(h, out, sizeof(out), NULL, 0), 0);
    cr_expect(strstr(out, "--listen") != NULL && strstr(out, "--admin-cap") != NULL);
    const char *v[] = {srtmd, "--version", NULL};
    cr_expect_eq(test_run(v, out, sizeof(out), NULL, 0), 0);
    cr_expect(strstr(out, SRTM_VERSION_STRING) != NULL);
    const char *bad[] = {srtmd, "--workers", "0", NULL};
    cr_expect_eq(test_run(bad, out, sizeof(out), NULL, 0), 2);
}
