/*
 * GET /metrics: the fleet in Prometheus text format 0.0.4 (docs/fleet.md, "Metrics"): hosts
 * by current verdict, stale hosts, database errors of the API, then the attestation loop's
 * own text (vhttp_config.metrics_text). Counted from the store at every scrape.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

#define METRICS_MAX (1u << 20)
#define VERDICTS_MAX 16u /* distinct verdict labels; more are counted as "other" */
#define SCAN_PAGE 256u

typedef struct tally {
    char verdict[VERDICTS_MAX][VS_VERDICT_MAX + 1];
    uint64_t count[VERDICTS_MAX];
    size_t n;
} tally;

static void count(tally *t, const char *verdict)
{
    const char *v = verdict[0] != '\0' ? verdict : "none";
    size_t i = 0;
    while (i < t->n && strcmp(t->verdict[i], v) != 0)
        i++;
    if (i == t->n && t->n == VERDICTS_MAX)
        i = VERDICTS_MAX - 1, v = "other";
    if (i == t->n)
        snprintf(t->verdict[t->n++], sizeof(t->verdict[0]), "%s", v);
    t->count[i]++;
}

static srtm_err scan_hosts(vreq *r, tally *t)
{
    vs_host *page = calloc(SCAN_PAGE, sizeof(*page));
    char after[VS_NAME_MAX + 1] = "";
    size_t n = SCAN_PAGE;
    srtm_err err = page != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    count(t, "trusted"), count(t, "untrusted"), count(t, "none");
    t->count[0] = t->count[1] = t->count[2] = 0;
    while (err == SRTM_OK && n == SCAN_PAGE) {
        err = store_host_list(r->v->store, after, page, SCAN_PAGE, &n);
        for (size_t i = 0; err == SRTM_OK && i < n; i++)
            count(t, page[i].verdict);
        if (err == SRTM_OK && n > 0)
            snprintf(after, sizeof(after), "%s", page[n - 1].name);
    }
    free(page);
    return err;
}

typedef struct out {
    char *buf;
    size_t len;
    bool full;
} out;

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = o->full ? -1 : vsnprintf(o->buf + o->len, METRICS_MAX - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= METRICS_MAX - o->len)
        o->full = true;
    else
        o->len += (size_t)n;
}

/* A label value: backslash, double quote and newline escaped. */
static void label(const char *s, char *dst, size_t cap)
{
    size_t o = 0;
    for (; *s != '\0' && o + 3 < cap; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n')
            dst[o++] = '\\';
        dst[o++] = *s == '\n' ? 'n' : *s;
    }
    dst[o] = '\0';
}

static void render(vreq *r, const tally *t, size_t n_stale, out *o)
{
    emit(o, "# HELP srtm_fleet_hosts Hosts by current verdict (none: not verified yet).\n"
            "# TYPE srtm_fleet_hosts gauge\n");
    for (size_t i = 0; i < t->n; i++) {
        char v[2 * VS_VERDICT_MAX + 1];
        label(t->verdict[i], v, sizeof(v));
        emit(o, "srtm_fleet_hosts{verdict=\"%s\"} %llu\n", v, (unsigned long long)t->count[i]);
    }
    emit(o, "# HELP srtm_fleet_hosts_stale Hosts not attempted for two intervals.\n"
            "# TYPE srtm_fleet_hosts_stale gauge\nsrtm_fleet_hosts_stale %zu\n", n_stale);
    emit(o, "# HELP srtm_fleet_api_db_errors_total Database errors met by the HTTP API.\n"
            "# TYPE srtm_fleet_api_db_errors_total counter\n"
            "srtm_fleet_api_db_errors_total %llu\n", (unsigned long long)r->v->db_errors);
    if (r->v->metrics_text != NULL && !o->full) {
        size_t len = 0;
        if (r->v->metrics_text(r->v->metrics_ctx, o->buf + o->len, METRICS_MAX - o->len - 1,
                               &len) != 0 || len >= METRICS_MAX - o->len)
            o->full = true;
        else
            o->len += len;
    }
}

int vh_op_metrics(vreq *r)
{
    tally *t = calloc(1, sizeof(*t));
    vs_name *stale = calloc(VS_PAGE_MAX, sizeof(*stale));
    out o = {.buf = malloc(METRICS_MAX)};
    size_t n_stale = 0;
    srtm_err err = t != NULL && stale != NULL && o.buf != NULL ? SRTM_OK : SRTM_E_NO_MEMORY;
    if (err == SRTM_OK)
        err = scan_hosts(r, t);
    if (err == SRTM_OK)
        err = store_stale(r->v->store, r->now, stale, VS_PAGE_MAX, &n_stale);
    int status = err == SRTM_OK ? 200 : vh_store_fail(r, err);
    if (status == 200)
        render(r, t, n_stale, &o);
    if (status == 200 && o.full)
        status = vh_fail(r, 500, "metrics over %u bytes, or the loop's metrics failed",
                         METRICS_MAX);
    if (status == 200) {
        r->text = o.buf;
        r->text_len = o.len;
        r->ctype = "text/plain; version=0.0.4; charset=utf-8";
        o.buf = NULL;
    }
    free(o.buf);
    free(stale);
    free(t);
    return status;
}
