/*
 * metrics.c — GET /metrics in the Prometheus text format (version 0.0.4):
 * counters kept with atomics on the request path, a request latency
 * histogram, and gauges read from the in-memory state when scraped.
 */
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* Upper bounds of the latency buckets, in microseconds; the last is +Inf. */
static const uint64_t bounds_us[] = {250,   500,    1000,   2500,    5000,    10000, 20000,
                                     50000, 100000, 250000, 500000, 1000000, 5000000};
#define NBOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

void rfd_metrics_observe(rfd_server *s, unsigned status, uint64_t us)
{
    atomic_fetch_add(&s->m.requests, 1);
    unsigned c = status / 100;
    if (c >= 1 && c <= 5)
        atomic_fetch_add(&s->m.status[c], 1);
    size_t b = 0;
    while (b < NBOUNDS && us > bounds_us[b])
        b++;
    atomic_fetch_add(&s->m.lat_bucket[b], 1);
    atomic_fetch_add(&s->m.lat_sum_us, us);
}

char *rfd_metrics_text(rfd_server *s)
{
    rf_buf b;
    rf_buf_init(&b);
    rfd_metrics *m = &s->m;
#define COUNTER(name, help, v)                                                          \
    rf_buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, \
                  (unsigned long long)(v))
    COUNTER("ringfenced_checkins_total", "Agent check-ins answered.", atomic_load(&m->checkins));
    COUNTER("ringfenced_assignments_total", "Content assignments handed to agents.",
            atomic_load(&m->assignments));
    COUNTER("ringfenced_enrollments_total", "Hosts enrolled.", atomic_load(&m->enrollments));
    COUNTER("ringfenced_reports_logged_total", "Entries written to rollout logs.",
            atomic_load(&m->reports_logged));
    COUNTER("ringfenced_reports_dropped_total",
            "Check-in reports dropped because the queue was full.", atomic_load(&s->q_dropped));
    COUNTER("ringfenced_ticks_total", "Ticker rounds.", atomic_load(&m->ticks));
    rf_buf_printf(&b, "# HELP ringfenced_requests_total HTTP requests by status class.\n"
                      "# TYPE ringfenced_requests_total counter\n");
    for (unsigned c = 1; c <= 5; c++)
        rf_buf_printf(&b, "ringfenced_requests_total{code=\"%uxx\"} %llu\n", c,
                      (unsigned long long)atomic_load(&m->status[c]));
    static const char *const dn[4] = {"hold", "promote", "halt", "complete"};
    rf_buf_printf(&b, "# HELP ringfenced_gate_decisions_total Rollout engine decisions taken "
                      "by this instance.\n# TYPE ringfenced_gate_decisions_total counter\n");
    for (unsigned d = 1; d < 4; d++)
        rf_buf_printf(&b, "ringfenced_gate_decisions_total{action=\"%s\"} %llu\n", dn[d],
                      (unsigned long long)atomic_load(&m->decisions[d]));

    rf_buf_printf(&b, "# HELP ringfenced_request_duration_seconds Time to answer a request.\n"
                      "# TYPE ringfenced_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += atomic_load(&m->lat_bucket[i]);
        if (i < NBOUNDS)
            rf_buf_printf(&b, "ringfenced_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                          (double)bounds_us[i] / 1e6, (unsigned long long)cum);
        else
            rf_buf_printf(&b, "ringfenced_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                          (unsigned long long)cum);
    }
    rf_buf_printf(&b, "ringfenced_request_duration_seconds_sum %.6f\n",
                  (double)atomic_load(&m->lat_sum_us) / 1e6);
    rf_buf_printf(&b, "ringfenced_request_duration_seconds_count %llu\n", (unsigned long long)cum);

    /* Gauges. */
    static const char *const states[] = {"running", "halted", "rolling-back", "complete"};
    size_t count[4] = {0};
    pthread_mutex_lock(&s->ro_mu);
    for (size_t i = 0; i < s->nro; i++)
        for (size_t k = 0; k < 4; k++)
            count[k] += strcmp(s->ro[i]->row.state, states[k]) == 0;
    pthread_mutex_unlock(&s->ro_mu);
    rf_buf_printf(&b, "# HELP ringfenced_rollouts Newest rollout of each channel, by state.\n"
                      "# TYPE ringfenced_rollouts gauge\n");
    for (size_t k = 0; k < 4; k++)
        rf_buf_printf(&b, "ringfenced_rollouts{state=\"%s\"} %zu\n", states[k], count[k]);
    pthread_rwlock_rdlock(&s->hosts_lock);
    size_t nh = s->nhosts;
    pthread_rwlock_unlock(&s->hosts_lock);
    rf_buf_printf(&b, "# HELP ringfenced_hosts Enrolled hosts known to this instance.\n"
                      "# TYPE ringfenced_hosts gauge\nringfenced_hosts %zu\n", nh);
    rf_buf_printf(&b, "# HELP ringfenced_leader 1 if this instance runs the rollout engine.\n"
                      "# TYPE ringfenced_leader gauge\nringfenced_leader %d\n",
                  atomic_load(&s->leader));
#undef COUNTER
    return rf_buf_take(&b);
}
