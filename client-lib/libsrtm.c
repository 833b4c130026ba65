/*
 * libsrtm: the client side of the srtm protocol. Every call builds one Request, sends
 * it to srtmd over libsrtm's own REQ0 stream (transport.c), waits for the Response and
 * checks that its shape matches what was asked before anything is handed to the caller:
 * a daemon's answer is input like any other.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common.h"
#include "srtm.pb-c.h"
#include "transport.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MESSAGE_MAX 512

struct srtm_conn {
    transport *tp;
    char message[MESSAGE_MAX]; /* why the last request failed, or "" */
};

/* Why the calling thread's last srtm_open failed: srtm_last_message(NULL). */
static _Thread_local char open_message[MESSAGE_MAX];

/* ---- connection ---- */

static srtm_err default_url(char *out, size_t size)
{
    const char *env = getenv("SRTM_SOCKET");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (env != NULL && env[0] != '\0')
        n = snprintf(out, size, "%s", env);
    else if (geteuid() == 0)
        n = snprintf(out, size, "%s", SRTM_DEFAULT_URL);
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, size, "ipc://%s/srtm/srtmd.sock", xdg);
    else
        n = snprintf(out, size, "ipc:///tmp/srtm-%u/srtmd.sock", (unsigned)geteuid());
    return n > 0 && (size_t)n < size ? SRTM_OK : SRTM_E_TOO_BIG;
}

static srtm_err open_conn(const char *url, const tp_tls *tls, srtm_conn **out)
{
    open_message[0] = '\0';
    if (out == NULL)
        return SRTM_E_INVALID;
    char buf[PATH_MAX + 16];
    if (url == NULL) {
        srtm_err err = default_url(buf, sizeof(buf));
        if (err != SRTM_OK) {
            snprintf(open_message, sizeof(open_message), "$SRTM_SOCKET is too long");
            return err;
        }
        url = buf;
    }
    srtm_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = tp_open_tls(url, DEFAULT_TIMEOUT_MS, tls, &c->tp, open_message,
                               sizeof(open_message));
    if (err != SRTM_OK) {
        free(c);
        return err;
    }
    *out = c;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_open(const char *url, srtm_conn **out)
{
    return open_conn(url, NULL, out);
}

SRTM_API srtm_err srtm_open_tls(const char *url, const char *cert_file, const char *key_file,
                                const char *ca_file, const char *server_name, srtm_conn **out)
{
    if (url == NULL || cert_file == NULL || key_file == NULL || ca_file == NULL) {
        open_message[0] = '\0';
        return SRTM_E_INVALID;
    }
    tp_tls tls = {cert_file, key_file, ca_file, server_name};
    return open_conn(url, &tls, out);
}

SRTM_API void srtm_close(srtm_conn *conn)
{
    if (conn == NULL)
        return;
    tp_close(conn->tp);
    free(conn);
}

SRTM_API srtm_err srtm_set_timeout(srtm_conn *conn, int32_t timeout_ms)
{
    if (conn == NULL || timeout_ms <= 0)
        return SRTM_E_INVALID;
    tp_set_timeout(conn->tp, timeout_ms);
    return SRTM_OK;
}

SRTM_API const char *srtm_last_message(const srtm_conn *conn)
{
    return conn != NULL ? conn->message : open_message;
}

static void set_message(srtm_conn *c, const char *msg)
{
    snprintf(c->message, sizeof(c->message), "%s", msg != NULL ? msg : "");
}

/* Check an unpacked answer's status and shape; frees it on failure. */
static srtm_err check_response(srtm_conn *c, Srtm__Response *resp,
                               Srtm__Response__ResultCase want)
{
    if (resp == NULL) {
        set_message(c, "srtmd's answer is not a valid Response");
        return SRTM_E_MALFORMED;
    }
    srtm_err err = (srtm_err)resp->status;
    if ((unsigned)resp->status >= SRTM_ERR_COUNT) {
        err = SRTM_E_MALFORMED;
        set_message(c, "srtmd answered with an unknown status");
    } else if (err != SRTM_OK) {
        set_message(c, resp->message);
    } else if (resp->result_case != want) {
        err = SRTM_E_MALFORMED;
        set_message(c, "srtmd's answer does not match the request");
    }
    if (err != SRTM_OK)
        srtm__response__free_unpacked(resp, NULL);
    return err;
}

/*
 * Send req, receive and decode the answer. On SRTM_OK *resp_out holds a response of
 * result case want; the caller frees it with srtm__response__free_unpacked(.., NULL).
 * The packed request (it may hold a capability) and the raw answer (a register's holds
 * the new one) are libsrtm's own buffers, wiped on every path before they are freed.
 */
static srtm_err call(srtm_conn *c, Srtm__Request *req, Srtm__Response__ResultCase want,
                     Srtm__Response **resp_out)
{
    c->message[0] = '\0';
    req->version = SRTM__VERSION__VERSION_1;
    size_t len = srtm__request__get_packed_size(req);
    if (len > SRTM_MAX_MESSAGE) {
        set_message(c, "request over the message size limit");
        return SRTM_E_TOO_BIG;
    }
    uint8_t *buf = malloc(TP_HEADROOM + len);
    if (buf == NULL)
        return SRTM_E_NO_MEMORY;
    srtm__request__pack(req, buf + TP_HEADROOM);
    uint8_t *ans = NULL;
    size_t ans_len = 0;
    /* Evidence carries a whole CCR report: allow the largest one srtmd builds. */
    srtm_err err = tp_call(c->tp, buf, len, (size_t)SRTM_MAX_REPORT + SRTM_MAX_MESSAGE, &ans,
                           &ans_len, c->message, sizeof(c->message));
    OPENSSL_cleanse(buf, TP_HEADROOM + len);
    free(buf);
    if (err != SRTM_OK)
        return err;
    Srtm__Response *resp = srtm__response__unpack(NULL, ans_len - 4, ans + 4);
    OPENSSL_cleanse(ans, ans_len);
    free(ans);
    err = check_response(c, resp, want);
    if (err == SRTM_OK)
        *resp_out = resp;
    return err;
}

static srtm_err check_name(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return SRTM_E_INVALID;
    if (strnlen(name, SRTM_MAX_NAME + 1) > SRTM_MAX_NAME)
        return SRTM_E_TOO_BIG;
    return SRTM_OK;
}

static void set_ref(Srtm__ComponentRef *ref, const char *name)
{
    srtm__component_ref__init(ref);
    ref->ref_case = SRTM__COMPONENT_REF__REF_NAME;
    ref->name.data = (uint8_t *)name;
    ref->name.len = strlen(name);
}

static void set_cap(Srtm__Request *req, const srtm_cap *cap)
{
    req->capability.data = (uint8_t *)cap->bytes;
    req->capability.len = SRTM_CAP_LEN;
}

/* ---- register ---- */

/* The request's own limits, checked before anything is sent. */
static srtm_err check_register(const char *parent, const char *name, uint32_t ccr_count,
                               const char *const *deps, size_t ndeps, const uint32_t *rev,
                               size_t nrev)
{
    srtm_err err = check_name(name);
    if (err == SRTM_OK && parent != NULL)
        err = check_name(parent);
    if (err != SRTM_OK)
        return err;
    if ((deps == NULL && ndeps != 0) || (rev == NULL && nrev != 0))
        return SRTM_E_INVALID;
    if (ccr_count > SRTM_MAX_CCRS_PER_REGISTER || ndeps > SRTM_MAX_DEPS ||
        nrev > SRTM_MAX_CCRS_PER_REGISTER)
        return SRTM_E_TOO_BIG;
    for (size_t i = 0; i < ndeps; i++)
        if ((err = check_name(deps[i])) != SRTM_OK)
            return err;
    for (size_t i = 0; i < nrev; i++)
        if (rev[i] >= (ccr_count ? ccr_count : 1))
            return SRTM_E_NO_CCR;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_register_child(srtm_conn *conn, const srtm_cap *parent_cap,
                                      const char *parent, const char *name,
                                      uint32_t ccr_count, const char *const *depends_on,
                                      size_t ndeps, const uint32_t *reversible, size_t nrev,
                                      uint64_t *handle_out, srtm_cap *cap_out)
{
    if (conn == NULL || parent_cap == NULL || handle_out == NULL || cap_out == NULL)
        return SRTM_E_INVALID;
    srtm_err err =
        check_register(parent, name, ccr_count, depends_on, ndeps, reversible, nrev);
    if (err != SRTM_OK)
        return err;
    /* Bounded by SRTM_MAX_DEPS: no allocation needed. */
    Srtm__ComponentRef parent_ref, dep_refs[SRTM_MAX_DEPS];
    Srtm__ComponentRef *dep_ptrs[SRTM_MAX_DEPS];
    for (size_t i = 0; i < ndeps; i++) {
        set_ref(&dep_refs[i], depends_on[i]);
        dep_ptrs[i] = &dep_refs[i];
    }
    Srtm__RegisterRequest r = SRTM__REGISTER_REQUEST__INIT;
    r.name.data = (uint8_t *)name;
    r.name.len = strlen(name);
    r.ccr_count = ccr_count;
    if (parent != NULL) {
        set_ref(&parent_ref, parent);
        r.parent = &parent_ref;
    }
    r.n_depends_on = ndeps;
    r.depends_on = ndeps > 0 ? dep_ptrs : NULL;
    r.n_reversible = nrev;
    r.reversible = (uint32_t *)reversible;
    Srtm__Request req = SRTM__REQUEST__INIT;
    set_cap(&req, parent_cap);
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &r;
    Srtm__Response *resp = NULL;
    err = call(conn, &req, SRTM__RESPONSE__RESULT_REGISTER_COMPONENT, &resp);
    if (err != SRTM_OK)
        return err;
    const Srtm__RegisterResponse *out = resp->register_component;
    if (out->capability.len != SRTM_CAP_LEN) {
        set_message(conn, "srtmd returned a capability of the wrong size");
        err = SRTM_E_MALFORMED;
    } else {
        memcpy(cap_out->bytes, out->capability.data, SRTM_CAP_LEN);
        *handle_out = out->handle;
    }
    OPENSSL_cleanse(out->capability.data, out->capability.len);
    srtm__response__free_unpacked(resp, NULL);
    return err;
}

SRTM_API srtm_err srtm_register(srtm_conn *conn, const srtm_cap *auth, const char *name,
                                uint32_t ccr_count, uint64_t *handle_out, srtm_cap *cap_out)
{
    return srtm_register_child(conn, auth, NULL, name, ccr_count, NULL, 0, NULL, 0, handle_out,
                               cap_out);
}

/* ---- extend ---- */

/*
 * A batch is kept column-wise, the way the protocol sends it: submitting builds no
 * per-measurement structures, only the descriptions column when there is one.
 */
struct srtm_batch {
    size_t n, cap;
    uint8_t (*digests)[SRTM_DIGEST_LEN];
    uint32_t *ccrs;
    uint32_t *events;
    size_t *desc_off; /* into descs */
    uint16_t *desc_len;
    char *descs;
    size_t descs_len, descs_cap;
    bool any_event, any_desc;
};

/* One batch's columns as the wire wants them; descs may be NULL (all empty). */
typedef struct columns {
    size_t n;
    const uint8_t *digests;
    const uint32_t *ccrs;
    const uint32_t *events; /* NULL: all 0 */
    ProtobufCBinaryData *descs; /* NULL: all empty */
} columns;

static srtm_err submit(srtm_conn *conn, const srtm_cap *cap, const char *component,
                       const columns *cols, uint64_t *first_out, uint64_t *last_out)
{
    if (conn == NULL || cap == NULL)
        return SRTM_E_INVALID;
    srtm_err err = check_name(component);
    if (err != SRTM_OK)
        return err;
    if (cols->n == 0)
        return SRTM_E_INVALID;
    Srtm__ComponentRef ref;
    set_ref(&ref, component);
    Srtm__ExtendRequest r = SRTM__EXTEND_REQUEST__INIT;
    r.component = &ref;
    r.digests.data = (uint8_t *)cols->digests;
    r.digests.len = cols->n * SRTM_DIGEST_LEN;
    r.n_ccrs = cols->n;
    r.ccrs = (uint32_t *)cols->ccrs;
    if (cols->events != NULL) {
        r.n_event_types = cols->n;
        r.event_types = (uint32_t *)cols->events;
    }
    if (cols->descs != NULL) {
        r.n_descriptions = cols->n;
        r.descriptions = cols->descs;
    }
    Srtm__Request req = SRTM__REQUEST__INIT;
    set_cap(&req, cap);
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &r;
    Srtm__Response *resp = NULL;
    err = call(conn, &req, SRTM__RESPONSE__RESULT_EXTEND, &resp);
    if (err != SRTM_OK)
        return err;
    const Srtm__ExtendResponse *out = resp->extend;
    if (out->last_seq < out->first_seq || out->last_seq - out->first_seq + 1 != cols->n) {
        set_message(conn, "srtmd acknowledged a different number of measurements");
        err = SRTM_E_MALFORMED;
    } else {
        if (first_out != NULL)
            *first_out = out->first_seq;
        if (last_out != NULL)
            *last_out = out->last_seq;
    }
    srtm__response__free_unpacked(resp, NULL);
    return err;
}

SRTM_API srtm_err srtm_batch_new(srtm_batch **out)
{
    if (out == NULL)
        return SRTM_E_INVALID;
    srtm_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return SRTM_E_NO_MEMORY;
    *out = b;
    return SRTM_OK;
}

SRTM_API void srtm_batch_free(srtm_batch *batch)
{
    if (batch == NULL)
        return;
    free(batch->digests);
    free(batch->ccrs);
    free(batch->events);
    free(batch->desc_off);
    free(batch->desc_len);
    free(batch->descs);
    free(batch);
}

SRTM_API void srtm_batch_clear(srtm_batch *batch)
{
    if (batch == NULL)
        return;
    batch->n = 0;
    batch->descs_len = 0;
    batch->any_event = false;
    batch->any_desc = false;
}

SRTM_API size_t srtm_batch_count(const srtm_batch *batch)
{
    return batch != NULL ? batch->n : 0;
}

/* Grow every column to hold cap entries; on failure the batch is unchanged in content. */
static srtm_err batch_grow(srtm_batch *b, size_t cap)
{
    void *p;
    if ((p = realloc(b->digests, cap * SRTM_DIGEST_LEN)) == NULL)
        return SRTM_E_NO_MEMORY;
    b->digests = p;
    if ((p = realloc(b->ccrs, cap * sizeof(*b->ccrs))) == NULL)
        return SRTM_E_NO_MEMORY;
    b->ccrs = p;
    if ((p = realloc(b->events, cap * sizeof(*b->events))) == NULL)
        return SRTM_E_NO_MEMORY;
    b->events = p;
    if ((p = realloc(b->desc_off, cap * sizeof(*b->desc_off))) == NULL)
        return SRTM_E_NO_MEMORY;
    b->desc_off = p;
    if ((p = realloc(b->desc_len, cap * sizeof(*b->desc_len))) == NULL)
        return SRTM_E_NO_MEMORY;
    b->desc_len = p;
    b->cap = cap;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_batch_add(srtm_batch *b, uint32_t ccr, const uint8_t digest[SRTM_DIGEST_LEN],
                                 uint32_t event_type, const char *description)
{
    if (b == NULL || digest == NULL)
        return SRTM_E_INVALID;
    if (description == NULL)
        description = "";
    size_t dlen = strnlen(description, SRTM_MAX_DESC + 1);
    if (dlen > SRTM_MAX_DESC || b->n >= SRTM_MAX_BATCH)
        return SRTM_E_TOO_BIG;
    if (!utf8_valid(description, dlen))
        return SRTM_E_INVALID;
    if (b->n == b->cap) {
        size_t n = b->cap ? b->cap * 2 : 64;
        if (n > SRTM_MAX_BATCH)
            n = SRTM_MAX_BATCH;
        srtm_err err = batch_grow(b, n);
        if (err != SRTM_OK)
            return err;
    }
    if (b->descs_len + dlen > b->descs_cap) {
        size_t n = b->descs_cap ? b->descs_cap : 1024;
        while (n < b->descs_len + dlen)
            n *= 2;
        char *p = realloc(b->descs, n);
        if (p == NULL)
            return SRTM_E_NO_MEMORY;
        b->descs = p;
        b->descs_cap = n;
    }
    size_t i = b->n++;
    memcpy(b->digests[i], digest, SRTM_DIGEST_LEN);
    b->ccrs[i] = ccr;
    b->events[i] = event_type;
    b->desc_off[i] = b->descs_len;
    b->desc_len[i] = (uint16_t)dlen;
    if (dlen > 0)
        memcpy(b->descs + b->descs_len, description, dlen);
    b->descs_len += dlen;
    b->any_event |= event_type != 0;
    b->any_desc |= dlen > 0;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_batch_submit(srtm_conn *conn, const srtm_cap *cap, const char *component,
                                    const srtm_batch *b, uint64_t *first_seq_out,
                                    uint64_t *last_seq_out)
{
    if (b == NULL)
        return SRTM_E_INVALID;
    columns cols = {.n = b->n,
                    .digests = (const uint8_t *)b->digests,
                    .ccrs = b->ccrs,
                    .events = b->any_event ? b->events : NULL};
    /* The descriptions column is built only when some measurement has one. */
    if (b->any_desc) {
        cols.descs = malloc(b->n * sizeof(*cols.descs));
        if (cols.descs == NULL)
            return SRTM_E_NO_MEMORY;
        for (size_t i = 0; i < b->n; i++) {
            cols.descs[i].data = (uint8_t *)b->descs + b->desc_off[i];
            cols.descs[i].len = b->desc_len[i];
        }
    }
    srtm_err err = submit(conn, cap, component, &cols, first_seq_out, last_seq_out);
    free(cols.descs);
    return err;
}

SRTM_API srtm_err srtm_extend(srtm_conn *conn, const srtm_cap *cap, const char *component,
                              uint32_t ccr, const uint8_t digest[SRTM_DIGEST_LEN],
                              uint32_t event_type, const char *description, uint64_t *seq_out)
{
    if (digest == NULL)
        return SRTM_E_INVALID;
    if (description == NULL)
        description = "";
    size_t dlen = strnlen(description, SRTM_MAX_DESC + 1);
    if (dlen > SRTM_MAX_DESC)
        return SRTM_E_TOO_BIG;
    if (!utf8_valid(description, dlen))
        return SRTM_E_INVALID;
    /* One measurement straight from the caller's memory: no allocation on this path. */
    ProtobufCBinaryData desc = {.len = dlen, .data = (uint8_t *)description};
    columns cols = {.n = 1,
                    .digests = digest,
                    .ccrs = &ccr,
                    .events = event_type != 0 ? &event_type : NULL,
                    .descs = dlen > 0 ? &desc : NULL};
    return submit(conn, cap, component, &cols, seq_out, NULL);
}

SRTM_API srtm_err srtm_extend_data(srtm_conn *conn, const srtm_cap *cap, const char *component,
                                   uint32_t ccr, const void *data, size_t len,
                                   uint32_t event_type, const char *description,
                                   uint64_t *seq_out)
{
    uint8_t d[SRTM_DIGEST_LEN];
    srtm_err err = srtm_sha256(data, len, d);
    if (err != SRTM_OK)
        return err;
    return srtm_extend(conn, cap, component, ccr, d, event_type, description, seq_out);
}

SRTM_API srtm_err srtm_extend_file(srtm_conn *conn, const srtm_cap *cap, const char *component,
                                   uint32_t ccr, const char *path, uint32_t event_type,
                                   const char *description, uint64_t *seq_out)
{
    uint8_t d[SRTM_DIGEST_LEN];
    srtm_err err = srtm_sha256_file(path, d);
    if (err != SRTM_OK)
        return err;
    return srtm_extend(conn, cap, component, ccr, d, event_type, description, seq_out);
}

/* ---- read ---- */

typedef struct ccr_info {
    uint32_t index;
    srtm_policy policy;
    uint8_t value[SRTM_DIGEST_LEN];
    uint64_t log_length;
} ccr_info;

struct srtm_ccrs {
    uint64_t handle, seq;
    size_t n;
    ccr_info items[];
};

static srtm_policy policy_from_wire(Srtm__ChangePolicy p)
{
    return p == SRTM__CHANGE_POLICY__POLICY_REVERSIBLE ? SRTM_POLICY_REVERSIBLE
                                                       : SRTM_POLICY_IRREVERSIBLE;
}

SRTM_API srtm_err srtm_read(srtm_conn *conn, const char *component, const uint32_t *indexes,
                            size_t count, srtm_ccrs **out)
{
    if (conn == NULL || out == NULL || (indexes == NULL && count != 0))
        return SRTM_E_INVALID;
    srtm_err err = check_name(component);
    if (err != SRTM_OK)
        return err;
    if (count > SRTM_MAX_LOG_PAGE)
        return SRTM_E_TOO_BIG;
    Srtm__ComponentRef ref;
    set_ref(&ref, component);
    Srtm__ReadRequest r = SRTM__READ_REQUEST__INIT;
    r.component = &ref;
    r.n_ccrs = count;
    r.ccrs = (uint32_t *)indexes;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_READ;
    req.read = &r;
    Srtm__Response *resp = NULL;
    err = call(conn, &req, SRTM__RESPONSE__RESULT_READ, &resp);
    if (err != SRTM_OK)
        return err;
    const Srtm__ReadResponse *rr = resp->read;
    srtm_ccrs *res = NULL;
    if (count != 0 && rr->n_ccrs != count)
        err = SRTM_E_MALFORMED;
    for (size_t i = 0; err == SRTM_OK && i < rr->n_ccrs; i++)
        if (rr->ccrs[i]->value.len != SRTM_DIGEST_LEN)
            err = SRTM_E_MALFORMED;
    if (err == SRTM_OK && (res = malloc(sizeof(*res) + rr->n_ccrs * sizeof(ccr_info))) == NULL)
        err = SRTM_E_NO_MEMORY;
    if (err == SRTM_OK) {
        res->handle = rr->handle;
        res->seq = rr->seq;
        res->n = rr->n_ccrs;
        for (size_t i = 0; i < rr->n_ccrs; i++) {
            res->items[i].index = rr->ccrs[i]->index;
            res->items[i].policy = policy_from_wire(rr->ccrs[i]->policy);
            memcpy(res->items[i].value, rr->ccrs[i]->value.data, SRTM_DIGEST_LEN);
            res->items[i].log_length = rr->ccrs[i]->log_length;
        }
        *out = res;
    } else if (err == SRTM_E_MALFORMED) {
        set_message(conn, "srtmd's CCR values are malformed");
    }
    srtm__response__free_unpacked(resp, NULL);
    return err;
}

SRTM_API void srtm_ccrs_free(srtm_ccrs *ccrs)
{
    free(ccrs);
}

SRTM_API size_t srtm_ccrs_count(const srtm_ccrs *ccrs)
{
    return ccrs != NULL ? ccrs->n : 0;
}

SRTM_API uint64_t srtm_ccrs_handle(const srtm_ccrs *ccrs)
{
    return ccrs != NULL ? ccrs->handle : 0;
}

SRTM_API uint64_t srtm_ccrs_seq(const srtm_ccrs *ccrs)
{
    return ccrs != NULL ? ccrs->seq : 0;
}

SRTM_API srtm_err srtm_ccrs_get(const srtm_ccrs *ccrs, size_t i, uint32_t *index_out,
                                srtm_policy *policy_out, uint8_t value_out[SRTM_DIGEST_LEN],
                                uint64_t *log_length_out)
{
    if (ccrs == NULL || i >= ccrs->n)
        return SRTM_E_RANGE;
    const ccr_info *c = &ccrs->items[i];
    if (index_out != NULL)
        *index_out = c->index;
    if (policy_out != NULL)
        *policy_out = c->policy;
    if (value_out != NULL)
        memcpy(value_out, c->value, SRTM_DIGEST_LEN);
    if (log_length_out != NULL)
        *log_length_out = c->log_length;
    return SRTM_OK;
}

/* ---- logs ---- */

struct srtm_log_entry {
    uint64_t index, seq;
    uint32_t event_type;
    const uint8_t *digest; /* NULL for a revert marker */
    const char *description;
    bool reverted, marker;
    uint64_t revert_to, revert_by;
};

struct srtm_log_iter {
    srtm_conn *conn;
    char component[SRTM_MAX_NAME + 1];
    uint32_t ccr;
    uint64_t offset;     /* of the next entry to return */
    Srtm__Response *page; /* current page, or NULL */
    size_t pos;          /* next entry of the page */
    srtm_log_entry cur;
};

/* A measurement carries a digest and no revert fields; a revert marker carries no digest
 * and is never itself reverted. */
static bool entry_well_formed(const Srtm__LogEntry *e)
{
    if (e->revert_marker)
        return e->digest.len == 0 && !e->reverted;
    return e->digest.len == SRTM_DIGEST_LEN && e->revert_to_seq == 0 && e->revert_by == 0;
}

static srtm_err fetch_page(srtm_log_iter *it)
{
    if (it->page != NULL) {
        srtm__response__free_unpacked(it->page, NULL);
        it->page = NULL;
    }
    it->pos = 0;
    Srtm__ComponentRef ref;
    set_ref(&ref, it->component);
    Srtm__LogRequest r = SRTM__LOG_REQUEST__INIT;
    r.component = &ref;
    r.ccr = it->ccr;
    r.offset = it->offset;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_LOG;
    req.log = &r;
    Srtm__Response *resp = NULL;
    srtm_err err = call(it->conn, &req, SRTM__RESPONSE__RESULT_LOG, &resp);
    if (err != SRTM_OK)
        return err;
    const Srtm__LogResponse *lr = resp->log;
    bool ok = lr->n_entries <= SRTM_MAX_LOG_PAGE && lr->next_offset == it->offset + lr->n_entries;
    for (size_t i = 0; ok && i < lr->n_entries; i++)
        ok = entry_well_formed(lr->entries[i]) && lr->entries[i]->index == it->offset + i;
    if (!ok) {
        srtm__response__free_unpacked(resp, NULL);
        set_message(it->conn, "srtmd's log page is malformed");
        return SRTM_E_MALFORMED;
    }
    it->page = resp;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_log_open(srtm_conn *conn, const char *component, uint32_t ccr,
                                uint64_t offset, srtm_log_iter **out)
{
    if (conn == NULL || out == NULL)
        return SRTM_E_INVALID;
    srtm_err err = check_name(component);
    if (err != SRTM_OK)
        return err;
    srtm_log_iter *it = calloc(1, sizeof(*it));
    if (it == NULL)
        return SRTM_E_NO_MEMORY;
    it->conn = conn;
    memcpy(it->component, component, strlen(component) + 1);
    it->ccr = ccr;
    it->offset = offset;
    /* Fetch the first page now so that an unknown component, CCR or offset is reported
     * by open rather than by the first next. */
    err = fetch_page(it);
    if (err != SRTM_OK) {
        free(it);
        return err;
    }
    *out = it;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_log_next(srtm_log_iter *it, const srtm_log_entry **entry_out)
{
    if (it == NULL || entry_out == NULL)
        return SRTM_E_INVALID;
    if (it->page == NULL || it->pos >= it->page->log->n_entries) {
        srtm_err err = fetch_page(it);
        if (err != SRTM_OK)
            return err;
        if (it->page->log->n_entries == 0)
            return SRTM_E_END;
    }
    const Srtm__LogEntry *e = it->page->log->entries[it->pos++];
    it->cur.index = e->index;
    it->cur.seq = e->seq;
    it->cur.event_type = e->event_type;
    it->cur.digest = e->revert_marker ? NULL : e->digest.data;
    it->cur.description = e->description;
    it->cur.reverted = e->reverted;
    it->cur.marker = e->revert_marker;
    it->cur.revert_to = e->revert_to_seq;
    it->cur.revert_by = e->revert_by;
    it->offset = e->index + 1;
    *entry_out = &it->cur;
    return SRTM_OK;
}

SRTM_API uint64_t srtm_log_offset(const srtm_log_iter *it)
{
    return it != NULL ? it->offset : 0;
}

SRTM_API void srtm_log_iter_free(srtm_log_iter *it)
{
    if (it == NULL)
        return;
    if (it->page != NULL)
        srtm__response__free_unpacked(it->page, NULL);
    free(it);
}

SRTM_API uint64_t srtm_log_entry_index(const srtm_log_entry *e)
{
    return e != NULL ? e->index : 0;
}

SRTM_API uint64_t srtm_log_entry_seq(const srtm_log_entry *e)
{
    return e != NULL ? e->seq : 0;
}

SRTM_API const uint8_t *srtm_log_entry_digest(const srtm_log_entry *e)
{
    return e != NULL ? e->digest : NULL;
}

SRTM_API uint32_t srtm_log_entry_event_type(const srtm_log_entry *e)
{
    return e != NULL ? e->event_type : 0;
}

SRTM_API const char *srtm_log_entry_description(const srtm_log_entry *e)
{
    return e != NULL && e->description != NULL ? e->description : "";
}

SRTM_API int srtm_log_entry_reverted(const srtm_log_entry *e)
{
    return e != NULL && e->reverted;
}

SRTM_API int srtm_log_entry_is_revert(const srtm_log_entry *e)
{
    return e != NULL && e->marker;
}

SRTM_API uint64_t srtm_log_entry_revert_to(const srtm_log_entry *e)
{
    return e != NULL && e->marker ? e->revert_to : 0;
}

SRTM_API uint64_t srtm_log_entry_revert_by(const srtm_log_entry *e)
{
    return e != NULL && e->marker ? e->revert_by : 0;
}

/* ---- hierarchical integrity management ---- */

/* The optional actor of a depend or revert: a reference when named, else absent. */
static Srtm__ComponentRef *opt_ref(Srtm__ComponentRef *storage, const char *name)
{
    if (name == NULL)
        return NULL;
    set_ref(storage, name);
    return storage;
}

SRTM_API srtm_err srtm_depend(srtm_conn *conn, const srtm_cap *cap, const char *component,
                              const char *on, const char *actor, bool remove,
                              uint64_t *seq_out)
{
    if (conn == NULL || cap == NULL)
        return SRTM_E_INVALID;
    srtm_err err = check_name(component);
    if (err == SRTM_OK)
        err = check_name(on);
    if (err == SRTM_OK && actor != NULL)
        err = check_name(actor);
    if (err != SRTM_OK)
        return err;
    Srtm__ComponentRef comp_ref, on_ref, actor_ref;
    set_ref(&comp_ref, component);
    set_ref(&on_ref, on);
    Srtm__DependRequest r = SRTM__DEPEND_REQUEST__INIT;
    r.component = &comp_ref;
    r.on = &on_ref;
    r.remove = remove;
    r.actor = opt_ref(&actor_ref, actor);
    Srtm__Request req = SRTM__REQUEST__INIT;
    set_cap(&req, cap);
    req.op_case = SRTM__REQUEST__OP_DEPEND;
    req.depend = &r;
    Srtm__Response *resp = NULL;
    err = call(conn, &req, SRTM__RESPONSE__RESULT_DEPEND, &resp);
    if (err != SRTM_OK)
        return err;
    if (seq_out != NULL)
        *seq_out = resp->depend->seq;
    srtm__response__free_unpacked(resp, NULL);
    return SRTM_OK;
}

SRTM_API srtm_err srtm_revert(srtm_conn *conn, const srtm_cap *cap, const char *component,
                              uint32_t ccr, uint64_t to_seq, const char *actor,
                              uint64_t *reverted_out, uint8_t value_out[SRTM_DIGEST_LEN],
                              uint64_t *seq_out)
{
    if (conn == NULL || cap == NULL)
        return SRTM_E_INVALID;
    srtm_err err = check_name(component);
    if (err == SRTM_OK && actor != NULL)
        err = check_name(actor);
    if (err != SRTM_OK)
        return err;
    Srtm__ComponentRef comp_ref, actor_ref;
    set_ref(&comp_ref, component);
    Srtm__RevertRequest r = SRTM__REVERT_REQUEST__INIT;
    r.component = &comp_ref;
    r.ccr = ccr;
    r.to_seq = to_seq;
    r.actor = opt_ref(&actor_ref, actor);
    Srtm__Request req = SRTM__REQUEST__INIT;
    set_cap(&req, cap);
    req.op_case = SRTM__REQUEST__OP_REVERT;
    req.revert = &r;
    Srtm__Response *resp = NULL;
    err = call(conn, &req, SRTM__RESPONSE__RESULT_REVERT, &resp);
    if (err != SRTM_OK)
        return err;
    const Srtm__RevertResponse *out = resp->revert;
    if (out->value.len != SRTM_DIGEST_LEN) {
        set_message(conn, "srtmd's CCR value after the revert is malformed");
        err = SRTM_E_MALFORMED;
    } else {
        if (reverted_out != NULL)
            *reverted_out = out->reverted;
        if (value_out != NULL)
            memcpy(value_out, out->value.data, SRTM_DIGEST_LEN);
        if (seq_out != NULL)
            *seq_out = out->seq;
    }
    srtm__response__free_unpacked(resp, NULL);
    return err;
}

SRTM_API srtm_err srtm_terminate(srtm_conn *conn, const srtm_cap *parent_cap,
                                 const char *component, uint64_t *seq_out)
{
    if (conn == NULL || parent_cap == NULL)
        return SRTM_E_INVALID;
    srtm_err err = check_name(component);
    if (err != SRTM_OK)
        return err;
    Srtm__ComponentRef ref;
    set_ref(&ref, component);
    Srtm__TerminateRequest r = SRTM__TERMINATE_REQUEST__INIT;
    r.component = &ref;
    Srtm__Request req = SRTM__REQUEST__INIT;
    set_cap(&req, parent_cap);
    req.op_case = SRTM__REQUEST__OP_TERMINATE;
    req.terminate = &r;
    Srtm__Response *resp = NULL;
    err = call(conn, &req, SRTM__RESPONSE__RESULT_TERMINATE, &resp);
    if (err != SRTM_OK)
        return err;
    if (seq_out != NULL)
        *seq_out = resp->terminate->seq;
    srtm__response__free_unpacked(resp, NULL);
    return SRTM_OK;
}

/* ---- graph ---- */

typedef struct graph_node {
    uint64_t handle, parent;
    char *name;
    uint64_t *deps; /* ascending; NULL when ndeps is 0 */
    size_t ndeps;
    bool terminated;
} graph_node;

struct srtm_graph {
    graph_node *items;
    size_t n, cap;
};

SRTM_API void srtm_graph_free(srtm_graph *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->items[i].name);
        free(g->items[i].deps);
    }
    free(g->items);
    free(g);
}

/* Copy one node; a node whose handle does not follow the previous one, or whose
 * dependencies are not strictly ascending, is malformed (paging relies on the order). */
static srtm_err graph_append(srtm_graph *g, const Srtm__GraphNode *gn)
{
    if (g->n > 0 && gn->handle <= g->items[g->n - 1].handle)
        return SRTM_E_MALFORMED;
    for (size_t k = 1; k < gn->n_depends_on; k++)
        if (gn->depends_on[k] <= gn->depends_on[k - 1])
            return SRTM_E_MALFORMED;
    if (g->n == g->cap) {
        size_t n = g->cap ? g->cap * 2 : 64;
        graph_node *p = realloc(g->items, n * sizeof(*p));
        if (p == NULL)
            return SRTM_E_NO_MEMORY;
        g->items = p;
        g->cap = n;
    }
    graph_node node = {.handle = gn->handle,
                       .parent = gn->parent,
                       .ndeps = gn->n_depends_on,
                       .terminated = gn->terminated};
    node.name = strndup(gn->name, SRTM_MAX_NAME);
    if (node.ndeps > 0 && (node.deps = malloc(node.ndeps * sizeof(*node.deps))) != NULL)
        memcpy(node.deps, gn->depends_on, node.ndeps * sizeof(*node.deps));
    if (node.name == NULL || (node.ndeps > 0 && node.deps == NULL)) {
        free(node.name);
        free(node.deps);
        return SRTM_E_NO_MEMORY;
    }
    g->items[g->n++] = node;
    return SRTM_OK;
}

/* One graph request: component's closure, or the page after after_handle (first: from
 * component 0). *more tells whether a further page follows. */
static srtm_err graph_page(srtm_conn *conn, const char *component, uint64_t after_handle,
                           srtm_graph *g, bool *more)
{
    Srtm__ComponentRef ref;
    Srtm__GraphRequest r = SRTM__GRAPH_REQUEST__INIT;
    r.component = opt_ref(&ref, component);
    r.after_handle = after_handle;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_GRAPH;
    req.graph = &r;
    Srtm__Response *resp = NULL;
    srtm_err err = call(conn, &req, SRTM__RESPONSE__RESULT_GRAPH, &resp);
    if (err != SRTM_OK)
        return err;
    const Srtm__GraphResponse *gr = resp->graph;
    size_t before = g->n;
    if (gr->n_nodes > SRTM_MAX_LIST_PAGE || (component != NULL && gr->more))
        err = SRTM_E_MALFORMED;
    for (size_t i = 0; err == SRTM_OK && i < gr->n_nodes; i++)
        err = graph_append(g, gr->nodes[i]);
    *more = gr->more;
    srtm__response__free_unpacked(resp, NULL);
    if (err == SRTM_OK && *more && g->n == before)
        err = SRTM_E_MALFORMED; /* "more" with an empty page would never end */
    return err;
}

SRTM_API srtm_err srtm_graph_read(srtm_conn *conn, const char *component, srtm_graph **out)
{
    if (conn == NULL || out == NULL)
        return SRTM_E_INVALID;
    if (component != NULL) {
        srtm_err err = check_name(component);
        if (err != SRTM_OK)
            return err;
    }
    srtm_graph *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = SRTM_OK;
    bool more = true;
    while (err == SRTM_OK && more) {
        /* Handles strictly increase across pages (graph_append), so this ends. */
        uint64_t after = g->n > 0 ? g->items[g->n - 1].handle : 0;
        err = graph_page(conn, component, after, g, &more);
    }
    if (err == SRTM_E_MALFORMED)
        set_message(conn, "srtmd's dependency graph is malformed");
    if (err != SRTM_OK) {
        srtm_graph_free(g);
        return err;
    }
    *out = g;
    return SRTM_OK;
}

SRTM_API size_t srtm_graph_count(const srtm_graph *g)
{
    return g != NULL ? g->n : 0;
}

static const graph_node *node_at(const srtm_graph *g, size_t i)
{
    return g != NULL && i < g->n ? &g->items[i] : NULL;
}

SRTM_API uint64_t srtm_graph_handle(const srtm_graph *g, size_t i)
{
    const graph_node *n = node_at(g, i);
    return n != NULL ? n->handle : 0;
}

SRTM_API const char *srtm_graph_name(const srtm_graph *g, size_t i)
{
    const graph_node *n = node_at(g, i);
    return n != NULL ? n->name : "";
}

SRTM_API uint64_t srtm_graph_parent(const srtm_graph *g, size_t i)
{
    const graph_node *n = node_at(g, i);
    return n != NULL ? n->parent : 0;
}

SRTM_API int srtm_graph_terminated(const srtm_graph *g, size_t i)
{
    const graph_node *n = node_at(g, i);
    return n != NULL && n->terminated;
}

SRTM_API const uint64_t *srtm_graph_deps(const srtm_graph *g, size_t i, size_t *n_out)
{
    const graph_node *n = node_at(g, i);
    if (n_out != NULL)
        *n_out = n != NULL ? n->ndeps : 0;
    return n != NULL ? n->deps : NULL;
}

/* ---- list ---- */

typedef struct comp_info {
    uint64_t handle;
    char *name;
    uint32_t ccr_count, uid, pid;
    uint64_t log_entries, log_bytes;
    uint32_t children;
} comp_info;

struct srtm_components {
    comp_info *items;
    size_t n, cap;
    uint64_t stored, budget;
};

SRTM_API void srtm_components_free(srtm_components *list)
{
    if (list == NULL)
        return;
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i].name);
    free(list->items);
    free(list);
}

static srtm_err append_page(srtm_components *l, const Srtm__ListResponse *lr, uint64_t *last)
{
    for (size_t i = 0; i < lr->n_components; i++) {
        const Srtm__ComponentInfo *ci = lr->components[i];
        /* Handles come in increasing order; anything else would make paging loop. */
        if ((l->n > 0 || i > 0) && ci->handle <= *last)
            return SRTM_E_MALFORMED;
        if (l->n == l->cap) {
            size_t n = l->cap ? l->cap * 2 : 64;
            comp_info *p = realloc(l->items, n * sizeof(*p));
            if (p == NULL)
                return SRTM_E_NO_MEMORY;
            l->items = p;
            l->cap = n;
        }
        char *name = strndup(ci->name, SRTM_MAX_NAME);
        if (name == NULL)
            return SRTM_E_NO_MEMORY;
        l->items[l->n++] = (comp_info){.handle = ci->handle,
                                       .name = name,
                                       .ccr_count = ci->ccr_count,
                                       .uid = ci->peer_uid,
                                       .pid = ci->peer_pid,
                                       .log_entries = ci->log_entries,
                                       .log_bytes = ci->log_bytes,
                                       .children = ci->children};
        *last = ci->handle;
    }
    l->stored = lr->stored_bytes;
    l->budget = lr->memory_budget;
    return SRTM_OK;
}

SRTM_API srtm_err srtm_list(srtm_conn *conn, srtm_components **out)
{
    if (conn == NULL || out == NULL)
        return SRTM_E_INVALID;
    srtm_components *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return SRTM_E_NO_MEMORY;
    srtm_err err = SRTM_OK;
    uint64_t last = 0;
    bool more = true, first = true;
    while (err == SRTM_OK && more) {
        Srtm__ListRequest r = SRTM__LIST_REQUEST__INIT;
        r.after_handle = last;
        r.include_platform = first;
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_LIST;
        req.list = &r;
        Srtm__Response *resp = NULL;
        err = call(conn, &req, SRTM__RESPONSE__RESULT_LIST, &resp);
        if (err != SRTM_OK)
            break;
        size_t before = l->n;
        err = append_page(l, resp->list, &last);
        more = resp->list->more;
        srtm__response__free_unpacked(resp, NULL);
        if (err == SRTM_OK && more && l->n == before)
            err = SRTM_E_MALFORMED; /* "more" with an empty page would never end */
        first = false;
    }
    if (err == SRTM_E_MALFORMED && conn->message[0] == '\0')
        set_message(conn, "srtmd's component list is malformed");
    if (err != SRTM_OK) {
        srtm_components_free(l);
        return err;
    }
    *out = l;
    return SRTM_OK;
}

SRTM_API size_t srtm_components_count(const srtm_components *list)
{
    return list != NULL ? list->n : 0;
}

static const comp_info *comp_at(const srtm_components *l, size_t i)
{
    return l != NULL && i < l->n ? &l->items[i] : NULL;
}

SRTM_API const char *srtm_components_name(const srtm_components *list, size_t i)
{
    const comp_info *c = comp_at(list, i);
    return c != NULL ? c->name : "";
}

SRTM_API uint64_t srtm_components_handle(const srtm_components *list, size_t i)
{
    const comp_info *c = comp_at(list, i);
    return c != NULL ? c->handle : 0;
}

SRTM_API uint32_t srtm_components_ccr_count(const srtm_components *list, size_t i)
{
    const comp_info *c = comp_at(list, i);
    return c != NULL ? c->ccr_count : 0;
}

SRTM_API uint32_t srtm_components_peer_uid(const srtm_components *list, size_t i)
{
    const comp_info *c = comp_at(list, i);
    return c != NULL ? c->uid : 0;
}

SRTM_API uint32_t srtm_components_peer_pid(const srtm_components *list, size_t i)
{
    const comp_info *c = comp_at(list, i);
    return c != NULL ? c->pid : 0;
}

SRTM_API void srtm_components_usage(const srtm_components *list, size_t i, uint64_t *entries_out,
                                    uint64_t *bytes_out, uint32_t *children_out)
{
    const comp_info *c = comp_at(list, i);
    *entries_out = c != NULL ? c->log_entries : 0;
    *bytes_out = c != NULL ? c->log_bytes : 0;
    *children_out = c != NULL ? c->children : 0;
}

SRTM_API void srtm_components_stored(const srtm_components *list, uint64_t *stored_out,
                                     uint64_t *budget_out)
{
    *stored_out = list != NULL ? list->stored : 0;
    *budget_out = list != NULL ? list->budget : 0;
}

/* ---- joint quotes ---- */

SRTM_API srtm_err srtm_quote(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                             const char *const *components, size_t count,
                             uint8_t **evidence_out, size_t *len_out)
{
    return srtm_quote_selection(conn, nonce, nonce_len, components, count, true, evidence_out,
                                len_out);
}

/* A quote request; since_instance NULL: a full report, else SRTM_INSTANCE_LEN bytes. */
static srtm_err quote_request(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                              const char *const *components, size_t count, bool closure,
                              const uint8_t *since_instance, uint64_t since_seq,
                              uint8_t **evidence_out, size_t *len_out);

SRTM_API srtm_err srtm_quote_selection(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                                       const char *const *components, size_t count,
                                       bool closure, uint8_t **evidence_out, size_t *len_out)
{
    return quote_request(conn, nonce, nonce_len, components, count, closure, NULL, 0,
                         evidence_out, len_out);
}

SRTM_API srtm_err srtm_quote_since(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                                   const char *const *components, size_t count, bool closure,
                                   const uint8_t *since_instance, uint64_t since_seq,
                                   uint8_t **evidence_out, size_t *len_out)
{
    if (since_instance == NULL)
        return SRTM_E_INVALID;
    return quote_request(conn, nonce, nonce_len, components, count, closure, since_instance,
                         since_seq, evidence_out, len_out);
}

static srtm_err quote_request(srtm_conn *conn, const uint8_t *nonce, size_t nonce_len,
                              const char *const *components, size_t count, bool closure,
                              const uint8_t *since_instance, uint64_t since_seq,
                              uint8_t **evidence_out, size_t *len_out)
{
    if (conn == NULL || nonce == NULL || evidence_out == NULL || len_out == NULL ||
        (components == NULL && count != 0))
        return SRTM_E_INVALID;
    if (nonce_len < SRTM_MIN_NONCE || nonce_len > SRTM_MAX_NONCE)
        return SRTM_E_INVALID;
    if (count > SRTM_MAX_LIST_PAGE)
        return SRTM_E_TOO_BIG;
    Srtm__ComponentRef *refs = calloc(count ? count : 1, sizeof(*refs));
    Srtm__ComponentRef **ptrs = calloc(count ? count : 1, sizeof(*ptrs));
    srtm_err err = refs != NULL && ptrs != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    for (size_t i = 0; err == SRTM_OK && i < count; i++) {
        err = check_name(components[i]);
        set_ref(&refs[i], components[i]);
        ptrs[i] = &refs[i];
    }
    Srtm__Response *resp = NULL;
    if (err == SRTM_OK) {
        Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
        q.nonce.data = (uint8_t *)nonce;
        q.nonce.len = nonce_len;
        q.n_components = count;
        q.components = ptrs;
        q.no_closure = !closure;
        if (since_instance != NULL) {
            q.since_instance.data = (uint8_t *)since_instance;
            q.since_instance.len = SRTM_INSTANCE_LEN;
            q.since_seq = since_seq;
        }
        Srtm__Request req = SRTM__REQUEST__INIT;
        req.op_case = SRTM__REQUEST__OP_QUOTE;
        req.quote = &q;
        err = call(conn, &req, SRTM__RESPONSE__RESULT_QUOTE, &resp);
    }
    free(refs);
    free(ptrs);
    if (err != SRTM_OK)
        return err;
    const Srtm__Evidence *ev = resp->quote->evidence;
    uint8_t *buf = NULL;
    size_t n = 0;
    if (ev == NULL) {
        set_message(conn, "srtmd's answer holds no evidence");
        err = SRTM_E_MALFORMED;
    } else {
        /* The report and the TPM structures are bytes fields: re-encoding the envelope
         * keeps every signed byte as srtmd sent it. */
        n = srtm__evidence__get_packed_size(ev);
        buf = malloc(n ? n : 1);
        if (buf == NULL)
            err = SRTM_E_NO_MEMORY;
        else
            srtm__evidence__pack(ev, buf);
    }
    srtm__response__free_unpacked(resp, NULL);
    if (err == SRTM_OK) {
        *evidence_out = buf;
        *len_out = n;
    }
    return err;
}

/* Copies of srtmd's strings into fixed fields: one that does not fit is a malformed
 * answer, never a truncated one. */
SRTM_API srtm_err srtm_status(srtm_conn *conn, srtm_status_info *out)
{
    if (conn == NULL || out == NULL || out->size < sizeof(size_t))
        return SRTM_E_INVALID;
    Srtm__StatusRequest r = SRTM__STATUS_REQUEST__INIT;
    Srtm__Request req = SRTM__REQUEST__INIT;
    req.op_case = SRTM__REQUEST__OP_DAEMON_STATUS;
    req.daemon_status = &r;
    Srtm__Response *resp = NULL;
    srtm_err err = call(conn, &req, SRTM__RESPONSE__RESULT_DAEMON_STATUS, &resp);
    if (err != SRTM_OK)
        return err;
    const Srtm__StatusResponse *s = resp->daemon_status;
    srtm_status_info v;
    memset(&v, 0, sizeof(v));
    v.tpm = s->tpm;
    int n = snprintf(v.irk_scheme, sizeof(v.irk_scheme), "%s", s->irk_scheme);
    if (n < 0 || (size_t)n >= sizeof(v.irk_scheme) || s->n_listeners > SRTM_STATUS_MAX_LISTENERS)
        err = SRTM_E_MALFORMED;
    for (size_t i = 0; err == SRTM_OK && i < s->n_listeners; i++) {
        n = snprintf(v.listeners[i], sizeof(v.listeners[i]), "%s", s->listeners[i]);
        if (n < 0 || (size_t)n >= sizeof(v.listeners[i]))
            err = SRTM_E_MALFORMED;
    }
    v.n_listeners = s->n_listeners;
    v.reset_count = s->reset_count;
    v.restart_count = s->restart_count;
    v.quote_jobs = s->quote_jobs;
    v.tpm_quotes = s->tpm_quotes;
    v.listener_restarts = s->listener_restarts;
    v.components = s->components;
    v.log_entries = s->log_entries;
    v.stored_bytes = s->stored_bytes;
    v.memory_budget = s->memory_budget;
    v.seq = s->seq;
    v.quotes_waiting = s->quotes_waiting;
    v.tpm_ok = s->tpm_ok;
    srtm__response__free_unpacked(resp, NULL);
    if (err != SRTM_OK) {
        set_message(conn, "srtmd's status does not fit srtm_status_info");
        return err;
    }
    size_t size = out->size < sizeof(v) ? out->size : sizeof(v);
    v.size = size;
    memcpy(out, &v, size);
    return SRTM_OK;
}
