/* The attestation loop's counters in Prometheus text (docs/fleet.md, "Metrics"). */
#include <stdarg.h>
#include <stdio.h>

#include "attest.h"

typedef struct out {
    char *buf;
    size_t cap, len;
    bool full;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
    if (o->full)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        o->full = true;
    else
        o->len += (size_t)n;
}

int attest_metrics_text(const attest_metrics *m, char *buf, size_t cap, size_t *len)
{
    if (m == NULL || buf == NULL || cap == 0 || len == NULL)
        return -1;
    out o = {buf, cap, 0, false};
    put(&o, "# HELP srtm_fleet_attempts_total Attestation attempts this node finished, by "
            "outcome.\n# TYPE srtm_fleet_attempts_total counter\n");
    for (unsigned i = 0; i < ATTEST_OUTCOMES; i++)
        put(&o, "srtm_fleet_attempts_total{outcome=\"%s\"} %llu\n",
            attest_outcome_name((attest_outcome)i), (unsigned long long)m->attempts[i]);
    put(&o, "# HELP srtm_fleet_verified_attempts_total Attempts this node finished with a "
            "verified answer (trusted or untrusted), by the report the verdict came from.\n"
            "# TYPE srtm_fleet_verified_attempts_total counter\n");
    for (unsigned i = 0; i < ATTEST_KINDS; i++)
        put(&o, "srtm_fleet_verified_attempts_total{kind=\"%s\"} %llu\n",
            attest_kind_name((attest_kind)i), (unsigned long long)m->kinds[i]);
    put(&o, "# HELP srtm_fleet_answer_bytes_total Bytes of the answers of those attempts.\n"
            "# TYPE srtm_fleet_answer_bytes_total counter\n");
    for (unsigned i = 0; i < ATTEST_KINDS; i++)
        put(&o, "srtm_fleet_answer_bytes_total{kind=\"%s\"} %llu\n",
            attest_kind_name((attest_kind)i), (unsigned long long)m->kind_bytes[i]);
    put(&o, "# HELP srtm_fleet_verdict_changes_total Verdict changes this node recorded.\n"
            "# TYPE srtm_fleet_verdict_changes_total counter\n"
            "srtm_fleet_verdict_changes_total %llu\n",
        (unsigned long long)m->verdict_changes);
    put(&o, "# HELP srtm_fleet_attempt_duration_seconds From claiming a host to recording "
            "its outcome.\n# TYPE srtm_fleet_attempt_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (unsigned i = 0; i < ATTEST_LATENCY_BUCKETS - 1; i++) {
        cum += m->latency_buckets[i];
        put(&o, "srtm_fleet_attempt_duration_seconds_bucket{le=\"%g\"} %llu\n",
            attest_latency_le_ms[i] / 1000.0, (unsigned long long)cum);
    }
    cum += m->latency_buckets[ATTEST_LATENCY_BUCKETS - 1];
    put(&o, "srtm_fleet_attempt_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
            "srtm_fleet_attempt_duration_seconds_sum %.3f\n"
            "srtm_fleet_attempt_duration_seconds_count %llu\n",
        (unsigned long long)cum, m->latency_ms_sum / 1000.0,
        (unsigned long long)m->latency_count);
    put(&o, "# HELP srtm_fleet_attempts_in_flight Attempts claimed and not yet recorded.\n"
            "# TYPE srtm_fleet_attempts_in_flight gauge\nsrtm_fleet_attempts_in_flight %llu\n",
        (unsigned long long)m->inflight);
    put(&o, "# HELP srtm_fleet_loop_db_errors_total Store calls of the attestation loop that "
            "failed.\n# TYPE srtm_fleet_loop_db_errors_total counter\n"
            "srtm_fleet_loop_db_errors_total %llu\n",
        (unsigned long long)m->db_errors);
    if (o.full)
        return -1;
    *len = o.len;
    return 0;
}
