/*
 * Writes the seed corpus of fuzz_service (corpus/service/): one input per protocol
 * operation, each a record [selector][length:2, little endian][packed Request] in the
 * framing of fuzz_service.c, valid against the state fuzz_service.c starts from, and one
 * input of several records. Usage: make-seeds DIR
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srtm.pb-c.h"

/* fuzz_service.c's capability selectors. */
enum { SEL_NONE = 0, SEL_ADMIN = 1, SEL_VM = 2, SEL_FW = 3 };

static const char *dir;
static uint8_t buf[65536];
static size_t used;

static void add(uint8_t sel, Srtm__Request *req)
{
    req->version = SRTM__VERSION__VERSION_1;
    size_t n = srtm__request__get_packed_size(req);
    if (used + 3 + n > sizeof(buf)) {
        fprintf(stderr, "make-seeds: seed too big\n");
        exit(1);
    }
    buf[used++] = sel;
    buf[used++] = (uint8_t)(n & 0xff);
    buf[used++] = (uint8_t)(n >> 8);
    srtm__request__pack(req, buf + used);
    used += n;
}

static void emit(const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, used, f) != used || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    used = 0;
}

static Srtm__ComponentRef *by_name(Srtm__ComponentRef *r, const char *name)
{
    srtm__component_ref__init(r);
    r->ref_case = SRTM__COMPONENT_REF__REF_NAME;
    r->name.data = (uint8_t *)name;
    r->name.len = strlen(name);
    return r;
}

static void seed_register(void)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__RegisterRequest r = SRTM__REGISTER_REQUEST__INIT;
    Srtm__ComponentRef dep, *deps[] = {&dep};
    uint32_t rev[] = {0};
    r.name.data = (uint8_t *)"vm-b";
    r.name.len = 4;
    r.ccr_count = 3;
    r.n_depends_on = 1;
    r.depends_on = deps;
    by_name(&dep, "fw");
    r.n_reversible = 1;
    r.reversible = rev;
    req.op_case = SRTM__REQUEST__OP_REGISTER_COMPONENT;
    req.register_component = &r;
    add(SEL_ADMIN, &req);
}

static void seed_extend(uint8_t n)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__ExtendRequest e = SRTM__EXTEND_REQUEST__INIT;
    Srtm__ComponentRef c;
    uint8_t digests[4 * 32];
    uint32_t ccrs[4], types[4];
    ProtobufCBinaryData descs[4];
    for (uint8_t i = 0; i < n; i++) {
        memset(digests + 32 * i, 0x50 + i, 32);
        ccrs[i] = i % 2;
        types[i] = i;
        descs[i].data = (uint8_t *)"measured file";
        descs[i].len = 13;
    }
    e.component = by_name(&c, "vm-a");
    e.digests.data = digests;
    e.digests.len = 32u * n;
    e.n_ccrs = n;
    e.ccrs = ccrs;
    e.n_event_types = n;
    e.event_types = types;
    e.n_descriptions = n;
    e.descriptions = descs;
    req.op_case = SRTM__REQUEST__OP_EXTEND;
    req.extend = &e;
    add(SEL_VM, &req);
}

static void seed_read(void)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__ReadRequest r = SRTM__READ_REQUEST__INIT;
    Srtm__ComponentRef c = SRTM__COMPONENT_REF__INIT;
    uint32_t ccrs[] = {1, 0};
    c.ref_case = SRTM__COMPONENT_REF__REF_HANDLE;
    c.handle = 1;
    r.component = &c;
    r.n_ccrs = 2;
    r.ccrs = ccrs;
    req.op_case = SRTM__REQUEST__OP_READ;
    req.read = &r;
    add(SEL_NONE, &req);
}

static void seed_log(void)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__LogRequest l = SRTM__LOG_REQUEST__INIT;
    Srtm__ComponentRef c;
    l.component = by_name(&c, "vm-a");
    l.ccr = 1;
    l.offset = 0;
    l.max_entries = 2;
    req.op_case = SRTM__REQUEST__OP_LOG;
    req.log = &l;
    add(SEL_NONE, &req);
}

static void seed_list(void)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__ListRequest l = SRTM__LIST_REQUEST__INIT;
    l.include_platform = true;
    l.max_entries = 2;
    req.op_case = SRTM__REQUEST__OP_LIST;
    req.list = &l;
    add(SEL_NONE, &req);
}

static void seed_quote(void)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__QuoteRequest q = SRTM__QUOTE_REQUEST__INIT;
    Srtm__ComponentRef a, b, *sel[] = {&a, &b};
    static uint8_t nonce[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    q.nonce.data = nonce;
    q.nonce.len = sizeof(nonce);
    q.n_components = 2;
    q.components = sel;
    by_name(&a, "fw");
    by_name(&b, "vm-a.app");
    req.op_case = SRTM__REQUEST__OP_QUOTE;
    req.quote = &q;
    add(SEL_NONE, &req);
}

static void seed_depend(bool remove)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__DependRequest d = SRTM__DEPEND_REQUEST__INIT;
    Srtm__ComponentRef c, on;
    d.component = by_name(&c, "fw");
    d.on = by_name(&on, remove ? "vm-a" : "vm-a.app");
    d.remove = remove;
    req.op_case = SRTM__REQUEST__OP_DEPEND;
    req.depend = &d;
    add(SEL_FW, &req);
}

static void seed_revert(void)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__RevertRequest r = SRTM__REVERT_REQUEST__INIT;
    Srtm__ComponentRef c;
    r.component = by_name(&c, "vm-a");
    r.ccr = 1;
    r.to_seq = 6;
    req.op_case = SRTM__REQUEST__OP_REVERT;
    req.revert = &r;
    add(SEL_VM, &req);
}

static void seed_terminate(void)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__TerminateRequest t = SRTM__TERMINATE_REQUEST__INIT;
    Srtm__ComponentRef c;
    t.component = by_name(&c, "vm-a.app");
    req.op_case = SRTM__REQUEST__OP_TERMINATE;
    req.terminate = &t;
    add(SEL_VM, &req);
}

static void seed_graph(bool one)
{
    Srtm__Request req = SRTM__REQUEST__INIT;
    Srtm__GraphRequest g = SRTM__GRAPH_REQUEST__INIT;
    Srtm__ComponentRef c;
    if (one)
        g.component = by_name(&c, "fw");
    g.max_entries = 3;
    req.op_case = SRTM__REQUEST__OP_GRAPH;
    req.graph = &g;
    add(SEL_NONE, &req);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make-seeds DIR\n");
        return 2;
    }
    dir = argv[1];
    seed_register();
    emit("register");
    seed_extend(3);
    emit("extend");
    seed_read();
    emit("read");
    seed_log();
    emit("log");
    seed_list();
    emit("list");
    seed_quote();
    emit("quote");
    seed_depend(false);
    emit("depend");
    seed_depend(true);
    emit("depend-remove");
    seed_revert();
    emit("revert");
    seed_terminate();
    emit("terminate");
    seed_graph(false);
    emit("graph");
    seed_graph(true);
    emit("graph-one");
    /* A session: register, measure, depend, revert, terminate, quote. */
    seed_register();
    seed_extend(2);
    seed_depend(false);
    seed_revert();
    seed_terminate();
    seed_quote();
    emit("session");
    return 0;
}
