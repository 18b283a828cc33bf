/*
 * agent_health_test.c — unit tests for lib/agent/health.c: the cost
 * percentiles of the log-linear histogram against exact ones (uniform and
 * log-uniform random distributions, small exact values), windows that reset
 * while totals do not, the top detections' order and ties, the limit on
 * distinct keys, exact totals under three threads at once, and the RSS read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>

#include <cmocka.h>

#include "ringfence/agent.h"
#include "ringfence/util.h"

static rf_agent_health *new_health(void)
{
    rf_agent_health *h = NULL;
    assert_int_equal(rf_agent_health_new(&h), RF_OK);
    assert_non_null(h);
    return h;
}

/* The header's promise: never below the true value, less than 1/16 above. */
static void assert_within(uint64_t got, uint64_t truth)
{
    if (got < truth || (got - truth) * 16u > truth)
        fail_msg("percentile %llu is not within 1/16 above the true %llu",
                 (unsigned long long)got, (unsigned long long)truth);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static uint64_t exact_pct(const uint64_t *v, size_t n, unsigned pct)
{
    size_t rank = (n * pct + 99u) / 100u;
    return v[rank ? rank - 1u : 0];
}

static void test_uniform(void **state)
{
    (void)state;
    rf_agent_health *h = new_health();
    /* 1..100000 ns in a scrambled order: the histogram must not care. */
    const uint64_t n = 100000;
    for (uint64_t i = 0; i < n; i++)
        rf_agent_health_event(h, (i * 7919u) % n + 1u);
    rf_agent_health_snap s;
    rf_agent_health_snapshot(h, 0, &s);
    assert_int_equal(s.events, n);
    assert_int_equal(s.window_events, n);
    assert_int_equal(s.cpu_ns_mean, 50000); /* 50000.5, truncated */
    assert_within(s.cpu_ns_p50, 50000);
    assert_within(s.cpu_ns_p99, 99000);
    rf_agent_health_free(h);
}

static void test_random_distribution(void **state)
{
    (void)state;
    /* Log-uniform over 1 ns .. ~1 s, so every range of the histogram is
     * used; compared with the exact percentiles of the same values. */
    enum { N = 20000 };
    uint64_t *v = malloc(N * sizeof(*v));
    assert_non_null(v);
    rf_rng r;
    rf_rng_seed(&r, 42);
    rf_agent_health *h = new_health();
    uint64_t sum = 0;
    for (size_t i = 0; i < N; i++) {
        unsigned e = rf_rng_below(&r, 30);
        v[i] = (1ull << e) + (rf_rng_next(&r) & ((1ull << e) - 1u));
        sum += v[i];
        rf_agent_health_event(h, v[i]);
    }
    qsort(v, N, sizeof(*v), cmp_u64);
    rf_agent_health_snap s;
    rf_agent_health_snapshot(h, 1, &s);
    /* This spread is far wider than 16x the median, so the mean counts the
     * samples above that as 16x the median (the cap's own bucket whole: at
     * or above the exact capped mean, within 1/16 of it). */
    uint64_t cap = s.cpu_ns_p50 * 16u, capped = 0;
    for (size_t i = 0; i < N; i++)
        capped += v[i] < cap ? v[i] : cap;
    assert_true(s.cpu_ns_mean >= capped / N && s.cpu_ns_mean <= sum / N);
    assert_true(s.cpu_ns_mean - capped / N <= capped / N / 16u);
    assert_within(s.cpu_ns_p50, exact_pct(v, N, 50));
    assert_within(s.cpu_ns_p99, exact_pct(v, N, 99));

    /* A skewed window: 99 % at 1000 ns, 1 % at 1 ms. p99 is still 1000 by
     * nearest rank; one more slow event moves it to the slow value. */
    for (int i = 0; i < 9900; i++)
        rf_agent_health_event(h, 1000);
    for (int i = 0; i < 100; i++)
        rf_agent_health_event(h, 1000000);
    rf_agent_health_snapshot(h, 0, &s);
    assert_within(s.cpu_ns_p50, 1000);
    assert_within(s.cpu_ns_p99, 1000);
    rf_agent_health_event(h, 1000000);
    rf_agent_health_snapshot(h, 1, &s);
    assert_within(s.cpu_ns_p99, 1000000);
    free(v);
    rf_agent_health_free(h);
}

static void test_small_and_extreme_values(void **state)
{
    (void)state;
    rf_agent_health *h = new_health();
    rf_agent_health_snap s;
    /* Below 16 ns every value has its own bucket: exact. */
    for (uint64_t i = 1; i <= 10; i++)
        rf_agent_health_event(h, i);
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.cpu_ns_p50, 5);
    assert_int_equal(s.cpu_ns_p99, 10);
    assert_int_equal(s.cpu_ns_mean, 5);

    /* One value: every percentile is it (bucket bound clamped to the max). */
    rf_agent_health_event(h, 123456789);
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.cpu_ns_p50, 123456789);
    assert_int_equal(s.cpu_ns_p99, 123456789);

    /* The extremes do not overflow a bucket or the sum. */
    rf_agent_health_event(h, 0);
    rf_agent_health_event(h, UINT64_MAX);
    rf_agent_health_event(h, UINT64_MAX);
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.window_events, 3);
    assert_int_equal(s.cpu_ns_p50, UINT64_MAX);
    assert_int_equal(s.cpu_ns_p99, UINT64_MAX);
    assert_int_equal(s.cpu_ns_mean, UINT64_MAX / 3); /* the sum saturated */
    rf_agent_health_free(h);
}

static void test_windows_reset_totals_do_not(void **state)
{
    (void)state;
    rf_agent_health *h = new_health();
    rf_agent_health_snap s;
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.events, 0);
    assert_int_equal(s.window_events, 0);
    assert_int_equal(s.cpu_ns_mean, 0);
    assert_int_equal(s.cpu_ns_p50, 0);
    assert_int_equal(s.ntop, 0);

    for (int i = 0; i < 100; i++)
        rf_agent_health_event(h, 5000);
    rf_agent_health_detection(h, 291, 4, "x");
    /* Without a new window, reading changes nothing. */
    rf_agent_health_snapshot(h, 0, &s);
    rf_agent_health_snapshot(h, 0, &s);
    assert_int_equal(s.window_events, 100);
    assert_int_equal(s.cpu_ns_mean, 5000);
    assert_within(s.cpu_ns_p50, 5000);
    /* The new window starts after this reading: it still sees the old one. */
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.window_events, 100);
    assert_int_equal(s.cpu_ns_mean, 5000);

    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.events, 100);
    assert_int_equal(s.detections, 1);
    assert_int_equal(s.window_events, 0);
    assert_int_equal(s.cpu_ns_mean, 0);
    assert_int_equal(s.cpu_ns_p50, 0);
    assert_int_equal(s.cpu_ns_p99, 0);
    assert_int_equal(s.ntop, 1); /* detection counts are totals too */

    /* The new window's figures are its own: cheaper events now. */
    for (int i = 0; i < 50; i++)
        rf_agent_health_event(h, 100);
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.events, 150);
    assert_int_equal(s.window_events, 50);
    assert_int_equal(s.cpu_ns_mean, 100);
    assert_within(s.cpu_ns_p99, 100);
    rf_agent_health_free(h);
}

/* One preempted sample must not triple a window's mean; a real shift of the
 * whole distribution must show in full. */
static void test_mean_ignores_preemption(void **state)
{
    (void)state;
    rf_agent_health *h = NULL;
    assert_int_equal(rf_agent_health_new(&h), RF_OK);
    rf_agent_health_snap s;
    for (int i = 0; i < 99; i++)
        rf_agent_health_event(h, 1000);
    rf_agent_health_event(h, 1000000); /* a millisecond off the CPU */
    rf_agent_health_snapshot(h, 1, &s);
    assert_true(s.cpu_ns_mean > 1000 && s.cpu_ns_mean < 1500); /* plain mean: 10990 */
    assert_true(s.cpu_ns_p99 >= 1000);
    for (int i = 0; i < 100; i++)
        rf_agent_health_event(h, i % 2 ? 3000 : 4000); /* content costing 3.5x */
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.cpu_ns_mean, 3500);
    /* Costs spread wide (a multi-modal content) are not capped: all within 16x. */
    for (int i = 0; i < 100; i++)
        rf_agent_health_event(h, i < 60 ? 1000 : 15000);
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.cpu_ns_mean, (60 * 1000 + 40 * 15000) / 100);
    rf_agent_health_free(h);
}

static void test_top_order_and_ties(void **state)
{
    (void)state;
    rf_agent_health *h = new_health();
    struct {
        uint16_t ch;
        uint32_t ver;
        const char *id;
        unsigned n;
    } in[] = {
        {291, 4, "c291-b", 5}, {291, 4, "c291-a", 5}, {17, 1, "z-first-channel", 5},
        {291, 5, "c291-a", 5}, /* same instance at another version: its own key */
        {291, 4, "top", 9},    {300, 1, "one", 1},    {300, 1, "two", 2},
        {300, 1, "three", 3},  {300, 1, "four", 4},   {300, 1, "six", 6},
        {300, 1, "seven", 7},  {300, 1, "single", 1},
    };
    unsigned total = 0;
    /* Interleaved, so that arrival order is not the answer. */
    for (unsigned round = 0; round < 9; round++)
        for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
            if (round < in[i].n) {
                rf_agent_health_detection(h, in[i].ch, in[i].ver, in[i].id);
                total++;
            }
    rf_agent_health_snap s;
    rf_agent_health_snapshot(h, 0, &s);
    assert_int_equal(s.detections, total);
    assert_int_equal(s.ntop, RF_AGENT_HEALTH_TOP);
    struct {
        uint16_t ch;
        uint32_t ver;
        const char *id;
        uint64_t n;
    } want[] = {
        {291, 4, "top", 9},    {300, 1, "seven", 7}, {300, 1, "six", 6},
        {17, 1, "z-first-channel", 5}, /* ties: lower channel first */
        {291, 4, "c291-a", 5}, {291, 5, "c291-a", 5}, /* then id, then version */
        {291, 4, "c291-b", 5}, {300, 1, "four", 4},  {300, 1, "three", 3},
        {300, 1, "two", 2}, /* "one" and "single" (1 each) do not make the top 10 */
    };
    for (uint32_t i = 0; i < RF_AGENT_HEALTH_TOP; i++) {
        assert_int_equal(s.top[i].channel, want[i].ch);
        assert_int_equal(s.top[i].version, want[i].ver);
        assert_string_equal(s.top[i].instance, want[i].id);
        assert_int_equal(s.top[i].count, want[i].n);
    }
    rf_agent_health_free(h);
}

static void test_instance_ids(void **state)
{
    (void)state;
    rf_agent_health *h = new_health();
    /* Ids of RF_ID_MAX bytes (the longest valid) that differ only in the
     * last byte are two keys, even though the snapshot's field cuts both to
     * the same RF_AGENT_INSTANCE_ID_MAX - 1 bytes. */
    char a[RF_ID_MAX + 1], b[RF_ID_MAX + 1];
    memset(a, 'x', RF_ID_MAX);
    memcpy(b, a, RF_ID_MAX);
    a[RF_ID_MAX - 1] = 'a';
    b[RF_ID_MAX - 1] = 'b';
    a[RF_ID_MAX] = b[RF_ID_MAX] = '\0';
    rf_agent_health_detection(h, 1, 1, a);
    rf_agent_health_detection(h, 1, 1, a);
    rf_agent_health_detection(h, 1, 1, b);
    rf_agent_health_detection(h, 1, 1, NULL); /* counted as the id "" */
    rf_agent_health_snap s;
    rf_agent_health_snapshot(h, 0, &s);
    assert_int_equal(s.detections, 4);
    assert_int_equal(s.ntop, 3);
    assert_int_equal(s.top[0].count, 2);
    assert_int_equal(strlen(s.top[0].instance), RF_AGENT_INSTANCE_ID_MAX - 1u);
    assert_memory_equal(s.top[0].instance, a, RF_AGENT_INSTANCE_ID_MAX - 1u);
    assert_int_equal(s.top[1].count, 1);
    assert_string_equal(s.top[1].instance, ""); /* "" sorts first among ties */
    assert_int_equal(s.top[2].count, 1);
    rf_agent_health_free(h);
}

static void test_key_limit(void **state)
{
    (void)state;
    rf_agent_health *h = new_health();
    char id[32];
    /* The limit's worth of keys, once each, then one of them twice more. */
    for (uint32_t i = 0; i < RF_AGENT_HEALTH_MAX_KEYS; i++) {
        snprintf(id, sizeof(id), "inst-%u", i);
        rf_agent_health_detection(h, (uint16_t)(1u + i % 7u), 1, id);
    }
    rf_agent_health_detection(h, 1 + 12345 % 7, 1, "inst-12345");
    rf_agent_health_detection(h, 1 + 12345 % 7, 1, "inst-12345");
    /* Keys past the limit count in the totals only, however often they
     * come: "late" outnumbers every kept key and still is not listed. */
    for (int i = 0; i < 10; i++)
        rf_agent_health_detection(h, 1, 1, "late");
    for (uint32_t i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "over-%u", i);
        rf_agent_health_detection(h, 2, 1, id);
    }
    rf_agent_health_snap s;
    rf_agent_health_snapshot(h, 0, &s);
    assert_int_equal(s.detections, RF_AGENT_HEALTH_MAX_KEYS + 2u + 10u + 100u);
    assert_int_equal(s.ntop, RF_AGENT_HEALTH_TOP);
    assert_string_equal(s.top[0].instance, "inst-12345");
    assert_int_equal(s.top[0].count, 3);
    for (uint32_t i = 1; i < s.ntop; i++) {
        assert_int_equal(s.top[i].count, 1);
        assert_true(strncmp(s.top[i].instance, "inst-", 5) == 0);
        /* ties by channel, then id: channel 1 comes first */
        assert_int_equal(s.top[i].channel, 1);
        if (i > 1)
            assert_true(strcmp(s.top[i - 1].instance, s.top[i].instance) < 0);
    }
    rf_agent_health_free(h);
}

/* ---- three threads at once ---- */

enum { HAMMER_N = 200000 };

typedef struct hammer {
    rf_agent_health *h;
    uint16_t channel;
} hammer;

static void *hammer_main(void *arg)
{
    hammer *hm = arg;
    char id[16];
    for (uint32_t i = 0; i < HAMMER_N; i++) {
        rf_agent_health_event(hm->h, 100u + i % 1000u);
        snprintf(id, sizeof(id), "i%u", i % 4u); /* 4 keys per thread */
        rf_agent_health_detection(hm->h, hm->channel, 1, id);
    }
    return NULL;
}

typedef struct snapper {
    rf_agent_health *h;
    atomic_int stop;
    uint64_t snaps;
    int monotonic; /* 1 while every snapshot's totals were >= the previous */
    uint64_t window_sum;
} snapper;

static void *snapper_main(void *arg)
{
    snapper *sp = arg;
    uint64_t last_ev = 0, last_det = 0;
    sp->monotonic = 1;
    while (!atomic_load(&sp->stop)) {
        rf_agent_health_snap s;
        rf_agent_health_snapshot(sp->h, 1, &s);
        if (s.events < last_ev || s.detections < last_det || s.window_events > s.events)
            sp->monotonic = 0;
        last_ev = s.events;
        last_det = s.detections;
        sp->window_sum += s.window_events;
        sp->snaps++;
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    rf_agent_health *h = new_health();
    hammer a = {h, 10}, b = {h, 20};
    snapper sp = {.h = h};
    pthread_t ta, tb, ts;
    assert_int_equal(pthread_create(&ts, NULL, snapper_main, &sp), 0);
    assert_int_equal(pthread_create(&ta, NULL, hammer_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, hammer_main, &b), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    atomic_store(&sp.stop, 1);
    assert_int_equal(pthread_join(ts, NULL), 0);
    assert_true(sp.monotonic);
    assert_true(sp.snaps > 0);

    rf_agent_health_snap s;
    rf_agent_health_snapshot(h, 1, &s);
    assert_int_equal(s.events, 2u * HAMMER_N);
    assert_int_equal(s.detections, 2u * HAMMER_N);
    /* Every event fell into exactly one window. */
    assert_int_equal(sp.window_sum + s.window_events, 2u * HAMMER_N);
    assert_int_equal(s.ntop, 8);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < s.ntop; i++) {
        assert_int_equal(s.top[i].count, HAMMER_N / 4u);
        sum += s.top[i].count;
    }
    assert_int_equal(sum, 2u * HAMMER_N);
    /* equal counts: channel 10's four keys first, each channel's by id */
    assert_int_equal(s.top[0].channel, 10);
    assert_string_equal(s.top[0].instance, "i0");
    assert_int_equal(s.top[4].channel, 20);
    assert_string_equal(s.top[7].instance, "i3");
    rf_agent_health_free(h);
}

static void test_rss_and_null(void **state)
{
    (void)state;
    uint64_t kb = rf_agent_rss_kb();
    assert_true(kb > 0);
    /* A test process is more than a page and less than a terabyte. */
    assert_true(kb >= 4 && kb < 1024ull * 1024u * 1024u);

    assert_int_equal(rf_agent_health_new(NULL), RF_E_USAGE);
    rf_agent_health_free(NULL);
    rf_agent_health_event(NULL, 1);
    rf_agent_health_detection(NULL, 1, 1, "x");
    rf_agent_health_snap s;
    memset(&s, 0xff, sizeof(s));
    rf_agent_health_snapshot(NULL, 1, &s);
    assert_int_equal(s.events, 0);
    assert_int_equal(s.ntop, 0);
    rf_agent_health_snapshot(NULL, 1, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_random_distribution),
        cmocka_unit_test(test_small_and_extreme_values),
        cmocka_unit_test(test_windows_reset_totals_do_not),
        cmocka_unit_test(test_mean_ignores_preemption),
        cmocka_unit_test(test_top_order_and_ties),
        cmocka_unit_test(test_instance_ids),
        cmocka_unit_test(test_key_limit),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_rss_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
