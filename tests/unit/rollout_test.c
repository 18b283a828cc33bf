/*
 * rollout_test.c — the rollout engine's rules on small hand-made fleets
 * (waves, policies, delays, pinning, pause, emergency opt-in, exclusion by
 * sensor, promotion, hold, halt, rollback, evidence), property tests on
 * random fleets, determinism, and the sequential tests of lib/stats against
 * values worked out by hand.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringfence/rollout.h"
#include "ringfence/stats.h"

/* ---- stats known values ---------------------------------------------------- */

static void test_stats_known_values(void **state)
{
    (void)state;
    assert_true(fabs(rf_stats_threshold(1e-5) - 11.512925) < 1e-5);

    /* Equal exposures, ratio 20: p0 = 1/2, p1 = 20/21. */
    rf_cusum_rate c;
    rf_cusum_rate_init(&c, 20.0, 1e-5);
    rf_cusum_rate_add(&c, 1, 100.0, 100.0);
    assert_true(fabs(c.s - log(40.0 / 21.0)) < 1e-12);
    rf_cusum_rate_add(&c, 0, 100.0, 100.0);
    double expect = log(40.0 / 21.0) + log((1.0 / 21.0) / 0.5);
    if (expect < 0)
        expect = 0;
    assert_true(fabs(c.s - expect) < 1e-12);
    /* Tiny treated exposure: each treated event adds about ln 20. */
    rf_cusum_rate_init(&c, 20.0, 1e-5);
    int n = 0;
    while (!rf_cusum_rate_add(&c, 1, 1.0, 1e9))
        n++;
    assert_int_equal(n + 1, 4); /* ceil(11.51 / 3.0) */
    /* Uninformative events are ignored. */
    rf_cusum_rate_init(&c, 20.0, 1e-5);
    rf_cusum_rate_add(&c, 1, 0.0, 10.0);
    rf_cusum_rate_add(&c, 0, 10.0, 0.0);
    rf_cusum_rate_add(&c, 1, NAN, 10.0);
    assert_int_equal(c.treated + c.control, 0);
    assert_true(c.s == 0.0);

    rf_cusum_bern b;
    rf_cusum_bern_init(&b, 1e-4, 0.02, 1e-5);
    rf_cusum_bern_add(&b, 1);
    assert_true(fabs(b.s - log(200.0)) < 1e-12);
    rf_cusum_bern_add(&b, 0);
    assert_true(fabs(b.s - (log(200.0) + log(0.98 / 0.9999))) < 1e-12);
    rf_cusum_bern_add(&b, 1);
    assert_false(b.alarmed); /* 10.57 < 11.51 */
    rf_cusum_bern_add(&b, 1);
    assert_true(b.alarmed);
    /* Floors at zero: a long good history does not bank credit. */
    rf_cusum_bern_init(&b, 1e-4, 0.02, 1e-5);
    for (int i = 0; i < 100000; i++)
        rf_cusum_bern_add(&b, 0);
    assert_true(b.s == 0.0);
    for (int i = 0; i < 3; i++)
        rf_cusum_bern_add(&b, 1);
    assert_true(b.alarmed);

    rf_cusum_mean m;
    rf_cusum_mean_init(&m, log(1.5), 1e-5, 10, 0.05);
    for (int i = 0; i < 100; i++)
        rf_cusum_mean_add(&m, 0, log(1000.0) + ((i % 2) ? 0.1 : -0.1));
    assert_true(fabs(rf_cusum_mean_mu(&m) - log(1000.0)) < 1e-9);
    assert_true(fabs(rf_cusum_mean_sd(&m) - 0.1 * sqrt(100.0 / 99.0)) < 1e-9);
    for (int i = 0; i < 100; i++)
        rf_cusum_mean_add(&m, 1, log(1000.0) + ((i % 2) ? 0.1 : -0.1));
    assert_false(m.alarmed); /* same distribution */
    int k = 0;
    while (!rf_cusum_mean_add(&m, 1, log(10000.0)) && k < 100)
        k++;
    assert_true(m.alarmed);
    assert_true(k < 3); /* ten times the CPU: at once */

    /* Heavy tails: control and treated alike, 1 report in 20 seven times
     * the others (an evaluation on cold caches), and among the treated a
     * burst of three reports at twenty times. Unclipped, that burst took
     * the CUSUM to 18.9 against a threshold of 11.5; clipped, to 7.4. */
    rf_cusum_mean_init(&m, log(1.5), 1e-5, 10, 0.05);
    for (int i = 0; i < 200; i++)
        rf_cusum_mean_add(&m, 0, log(7000.0) + ((i % 2) ? 0.075 : -0.075) +
                                     (i % 20 == 0 ? log(7.0) : 0.0));
    for (int i = 0; i < 2000; i++) {
        double tail = i >= 1000 && i < 1003 ? log(20.0) : i % 20 == 0 ? log(7.0) : 0.0;
        rf_cusum_mean_add(&m, 1, log(7000.0) + ((i % 2) ? 0.075 : -0.075) + tail);
    }
    assert_false(m.alarmed);
    /* ... and a real 1.5x shift of every report still alarms, soon */
    k = 0;
    while (!rf_cusum_mean_add(&m, 1, log(7000.0 * 1.5) + ((k % 2) ? 0.075 : -0.075)) &&
           k < 200)
        k++;
    assert_true(m.alarmed);
    assert_true(k < 100);
}

/* ---- hand-made fleets --------------------------------------------------------- */

typedef struct fx {
    rf_fleet f;
    rf_fleet_tenant tenants[8];
    rf_fleet_group groups[8];
    rf_fleet_sensor sensors[2];
    uint8_t sensor_ok[2];
    rf_release rel;
    rf_plan plan;
} fx;

/* Groups: 0 vendor internal, 1 GA, 2 early, 3 GA delay 24 h (opted in to
 * emergencies), 4 pinned, 5 paused, 6 GA delay 24 h (not opted in). */
static fx *fleet_new(uint32_t nhosts)
{
    fx *x = calloc(1, sizeof(*x));
    x->f.ntenants = 7;
    x->f.tenants = x->tenants;
    x->tenants[0].internal = 1;
    x->f.ngroups = 7;
    x->f.groups = x->groups;
    for (uint32_t i = 0; i < 7; i++)
        x->groups[i].tenant = i;
    x->groups[2].policy.mode = RF_POLICY_EARLY;
    x->groups[3].policy.ga_delay_s = 86400;
    x->groups[3].policy.emergency_opt_in = 1;
    x->groups[4].policy.mode = RF_POLICY_PINNED;
    x->groups[4].policy.pinned_version = 4;
    x->groups[5].policy.mode = RF_POLICY_PAUSED;
    x->groups[6].policy.ga_delay_s = 86400;
    x->f.nsensors = 2;
    x->f.sensors = x->sensors;
    x->sensors[0].inputs = 20;
    x->sensors[1].inputs = 21;
    x->sensor_ok[0] = 1;
    x->sensor_ok[1] = 1;
    x->f.nhosts = nhosts;
    x->f.host_group = calloc(nhosts, sizeof(uint32_t));
    x->f.host_sensor = calloc(nhosts, sizeof(uint16_t));
    x->f.host_flags = calloc(nhosts, 1);
    for (uint32_t h = 0; h < nhosts; h++) {
        x->f.host_group[h] = h % 7;
        x->f.host_sensor[h] = (uint16_t)((h / 7) % 2);
    }
    x->rel.content_version = 5;
    x->rel.last_good_version = 4;
    x->rel.inputs_required = 21;
    x->rel.sensor_ok = x->sensor_ok;
    rf_plan_default(&x->plan);
    return x;
}

static void fleet_free(fx *x)
{
    free(x->f.host_group);
    free(x->f.host_sensor);
    free(x->f.host_flags);
    free(x);
}

static rf_rollout *start(fx *x, uint64_t seed)
{
    rf_rollout *ro = NULL;
    rf_err err;
    assert_int_equal(rf_rollout_new(&x->plan, &x->f, &x->rel, seed, 1000, &ro, &err), RF_OK);
    return ro;
}

/* Promote through every wave with healthy reports (each host takes it at
 * the first minute it may, and checks in); returns the time reached. */
static int64_t run_healthy(fx *x, rf_rollout *ro, int64_t t, int64_t until)
{
    rf_decision d;
    uint8_t *took = calloc(x->f.nhosts, 1);
    for (; t < until && rf_rollout_state_of(ro) == RF_ROLLOUT_RUNNING; t += 60) {
        for (uint32_t h = 0; h < x->f.nhosts; h++) {
            if (took[h] || rf_rollout_assignment(ro, h, t, 0) != RF_ASSIGN_RELEASE)
                continue;
            took[h] = 1;
            rf_health_report r = {t, h, RF_REPORT_TOOK, 1, 0};
            rf_rollout_observe(ro, &r);
            r.kind = RF_REPORT_CHECKIN;
            rf_rollout_observe(ro, &r);
        }
        rf_rollout_step(ro, t, &d);
    }
    free(took);
    return t;
}

static void test_policies_and_exclusions(void **state)
{
    (void)state;
    fx *x = fleet_new(7000);
    x->sensor_ok[0] = 0; /* sensor 0 cannot run it */
    rf_rollout *ro = start(x, 42);
    uint32_t w;
    for (uint32_t h = 0; h < x->f.nhosts; h++) {
        rf_exclusion e = rf_rollout_host_wave(ro, h, &w);
        uint32_t g = x->f.host_group[h];
        if (x->f.host_sensor[h] == 0)
            assert_int_equal(e, RF_EXCL_SENSOR);
        else if (g == 4)
            assert_int_equal(e, RF_EXCL_PINNED);
        else if (g == 5)
            assert_int_equal(e, RF_EXCL_PAUSED);
        else {
            assert_int_equal(e, RF_EXCL_NONE);
            rf_ring ring = x->plan.waves[w].ring;
            if (g == 0)
                assert_int_equal(ring, RF_RING_INTERNAL);
            else if (g == 2)
                assert_int_equal(ring, RF_RING_EARLY);
            else
                assert_int_equal(ring, RF_RING_GA);
        }
    }
    /* At the start only internal wave 1 is open. */
    for (uint32_t h = 0; h < x->f.nhosts; h++) {
        if (rf_rollout_assignment(ro, h, 1000, 0) == RF_ASSIGN_RELEASE) {
            assert_int_equal(rf_rollout_host_wave(ro, h, &w), RF_EXCL_NONE);
            assert_int_equal(w, 0);
        }
    }
    rf_rollout_free(ro);
    fleet_free(x);
}

static void test_waves_delay_and_completion(void **state)
{
    (void)state;
    fx *x = fleet_new(14000);
    rf_rollout *ro = start(x, 7);
    int64_t t = run_healthy(x, ro, 1000, 1000 + 4 * 3600);
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_COMPLETE);
    /* Every wave opened in order, each after the previous one's bake. */
    for (uint32_t w = 1; w < x->plan.nwaves; w++) {
        assert_true(rf_rollout_wave_opened(ro, w) != RF_NEVER);
        assert_true(rf_rollout_wave_opened(ro, w) - rf_rollout_wave_opened(ro, w - 1) >=
                    (int64_t)x->plan.waves[w - 1].bake_s);
    }
    /* GA delay: group 3 and 6 hosts become eligible 24 h after their wave. */
    int seen = 0;
    for (uint32_t h = 0; h < x->f.nhosts; h++) {
        uint32_t g = x->f.host_group[h], w;
        if (g != 3 && g != 6)
            continue;
        assert_int_equal(rf_rollout_host_wave(ro, h, &w), RF_EXCL_NONE);
        assert_int_equal(rf_rollout_eligible_at(ro, h), rf_rollout_wave_opened(ro, w) + 86400);
        assert_int_equal(rf_rollout_assignment(ro, h, t, 0), RF_ASSIGN_NONE);
        seen++;
    }
    assert_true(seen > 0);
    rf_rollout_free(ro);

    /* Emergency: shorter bakes, same waves; the opted-in tenant's delay is
     * waived, the other's is not. */
    x->rel.emergency = 1;
    ro = start(x, 7);
    run_healthy(x, ro, 1000, 1000 + 4 * 3600);
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_COMPLETE);
    int64_t total = rf_rollout_wave_opened(ro, x->plan.nwaves - 1) - 1000;
    assert_true(total < 30 * 60);
    for (uint32_t w = 1; w < x->plan.nwaves; w++)
        assert_true(rf_rollout_wave_opened(ro, w) > rf_rollout_wave_opened(ro, w - 1));
    for (uint32_t h = 0; h < x->f.nhosts; h++) {
        uint32_t g = x->f.host_group[h], w;
        if (g != 3 && g != 6)
            continue;
        (void)rf_rollout_host_wave(ro, h, &w);
        int64_t expect = rf_rollout_wave_opened(ro, w) + (g == 6 ? 86400 : 0);
        assert_int_equal(rf_rollout_eligible_at(ro, h), expect);
    }
    rf_rollout_free(ro);
    fleet_free(x);
}

static void test_hold_until_reports(void **state)
{
    (void)state;
    fx *x = fleet_new(14000);
    rf_rollout *ro = start(x, 3);
    rf_decision d;
    /* Bake passed but no reports: hold, with the reason. */
    assert_int_equal(rf_rollout_step(ro, 1000 + 700, &d), RF_DECIDE_HOLD);
    assert_non_null(strstr(d.reason, "reports"));
    assert_int_equal(rf_rollout_wave(ro), 0);
    /* Reports arrive: promote. */
    for (uint32_t h = 0; h < x->f.nhosts; h++) {
        if (rf_rollout_assignment(ro, h, 1700, 0) == RF_ASSIGN_RELEASE) {
            rf_health_report r = {1700, h, RF_REPORT_TOOK, 1, 0};
            rf_rollout_observe(ro, &r);
            r.kind = RF_REPORT_CHECKIN;
            rf_rollout_observe(ro, &r);
        }
    }
    assert_int_equal(rf_rollout_step(ro, 1701, &d), RF_DECIDE_PROMOTE);
    assert_int_equal(d.wave, 1);
    assert_int_equal(rf_rollout_wave_opened(ro, 1), 1701);
    rf_rollout_free(ro);
    fleet_free(x);

    /* A wave of one host is never promoted without a report from it: no
     * evidence is not good evidence (a host that crashed cannot report). */
    x = fleet_new(7);
    ro = start(x, 3);
    uint32_t w, one = UINT32_MAX;
    for (uint32_t h = 0; h < x->f.nhosts; h++)
        if (rf_rollout_host_wave(ro, h, &w) == RF_EXCL_NONE && x->f.host_group[h] == 0)
            one = h;
    assert_true(one != UINT32_MAX);
    int64_t t = 1000;
    while (rf_rollout_wave(ro) < 2 && t < 1000 + 86400) {
        if (rf_rollout_assignment(ro, one, t, 0) == RF_ASSIGN_RELEASE) {
            rf_health_report r = {t, one, RF_REPORT_TOOK, 1, 0};
            rf_rollout_observe(ro, &r); /* took it, then never reported again */
        }
        (void)rf_rollout_step(ro, t, &d);
        t += 60;
    }
    uint32_t wone;
    (void)rf_rollout_host_wave(ro, one, &wone);
    assert_true(rf_rollout_wave(ro) <= wone);
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_RUNNING);
    assert_non_null(strstr(d.reason, "0 of 1 reports"));
    rf_rollout_free(ro);
    fleet_free(x);
}

static void test_halt_rollback_and_evidence(void **state)
{
    (void)state;
    fx *x = fleet_new(14000);
    rf_rollout *ro = start(x, 9);
    uint32_t took[64];
    uint32_t n = 0;
    for (uint32_t h = 0; h < x->f.nhosts && n < 64; h++) {
        if (rf_rollout_assignment(ro, h, 1100, 0) == RF_ASSIGN_RELEASE) {
            rf_health_report r = {1100, h, RF_REPORT_TOOK, 1, 0};
            rf_rollout_observe(ro, &r);
            took[n++] = h;
        }
    }
    assert_true(n >= 8);
    /* Background: control hosts go silent now and then. */
    rf_health_report bg = {1200, 1, RF_REPORT_SILENT, 0, 0};
    rf_rollout_observe(ro, &bg);
    rf_decision d;
    assert_int_equal(rf_rollout_step(ro, 1200, &d), RF_DECIDE_HOLD);
    /* Crash at load: the hosts that took it fall silent one after another. */
    int halted_after = 0;
    for (uint32_t i = 0; i < n; i++) {
        rf_health_report r = {1500 + (int64_t)i, took[i], RF_REPORT_SILENT, 1, 0};
        rf_rollout_observe(ro, &r);
        if (rf_rollout_step(ro, 1500 + (int64_t)i, &d) == RF_DECIDE_HALT) {
            halted_after = (int)i + 1;
            break;
        }
    }
    assert_true(halted_after >= 2 && halted_after <= 6);
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_HALTED);
    assert_string_equal(d.ev.signal, "silence");
    assert_int_equal(d.ev.treated_events, (uint64_t)halted_after);
    assert_true(d.ev.statistic >= d.ev.threshold);
    assert_true(fabs(d.ev.threshold - log(1e5)) < 1e-9);
    assert_non_null(strstr(d.reason, "silent"));
    /* Halted: nothing new for anyone, rollback for those that took it. */
    assert_int_equal(rf_rollout_rollback_version(ro), 6);
    for (uint32_t h = 0; h < x->f.nhosts; h++) {
        assert_int_equal(rf_rollout_assignment(ro, h, 999999, 0), RF_ASSIGN_NONE);
        assert_int_equal(rf_rollout_eligible_at(ro, h), RF_NEVER);
    }
    assert_int_equal(rf_rollout_assignment(ro, took[0], 2000, 1), RF_ASSIGN_ROLLBACK);
    assert_int_equal(rf_rollout_step(ro, 99999, &d), RF_DECIDE_HOLD);
    assert_int_equal(rf_rollout_wave(ro), 0);
    rf_rollout_free(ro);
    fleet_free(x);
}

/* Operator halt, resume and rollback (the server's halt|resume|rollback). */
static void test_operator_actions(void **state)
{
    (void)state;
    fx *x = fleet_new(1400);
    rf_rollout *ro = start(x, 3);
    rf_decision d;
    rf_err err;
    uint32_t h0 = UINT32_MAX;
    for (uint32_t h = 0; h < x->f.nhosts && h0 == UINT32_MAX; h++)
        if (rf_rollout_assignment(ro, h, 1100, 0) == RF_ASSIGN_RELEASE)
            h0 = h;
    assert_true(h0 != UINT32_MAX);
    rf_health_report r = {1100, h0, RF_REPORT_TOOK, 1, 0};
    rf_rollout_observe(ro, &r);

    /* Resume needs a halt; a halt keeps the release where it is. */
    assert_int_equal(rf_rollout_operator(ro, RF_OP_RESUME, 1150, &d, &err), RF_E_USAGE);
    assert_non_null(strstr(err.msg, "not halted"));
    assert_int_equal(rf_rollout_operator(ro, RF_OP_HALT, 1200, &d, &err), RF_OK);
    assert_int_equal(d.action, RF_DECIDE_HALT);
    assert_string_equal(d.ev.signal, "operator");
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_HALTED);
    assert_false(rf_rollout_halted_by_gate(ro));
    assert_false(rf_rollout_rolling_back(ro));
    assert_int_equal(rf_rollout_assignment(ro, h0, 1300, 1), RF_ASSIGN_NONE);
    for (uint32_t h = 0; h < x->f.nhosts; h++)
        assert_int_equal(rf_rollout_assignment(ro, h, 1300, 0), RF_ASSIGN_NONE);
    assert_int_equal(rf_rollout_operator(ro, RF_OP_HALT, 1250, &d, &err), RF_E_USAGE);

    /* Resume: the wave's hosts may take it again. */
    assert_int_equal(rf_rollout_operator(ro, RF_OP_RESUME, 1400, &d, &err), RF_OK);
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_RUNNING);
    int any = 0;
    for (uint32_t h = 0; h < x->f.nhosts; h++)
        any |= h != h0 && rf_rollout_assignment(ro, h, 1400, 0) == RF_ASSIGN_RELEASE;
    assert_true(any);

    /* Rollback from running: halted, and the host that took it goes back. */
    assert_int_equal(rf_rollout_operator(ro, RF_OP_ROLLBACK, 1500, &d, &err), RF_OK);
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_HALTED);
    assert_true(rf_rollout_rolling_back(ro));
    assert_int_equal(rf_rollout_rollback_version(ro), 6);
    assert_int_equal(rf_rollout_assignment(ro, h0, 1500, 1), RF_ASSIGN_ROLLBACK);
    assert_int_equal(rf_rollout_operator(ro, RF_OP_RESUME, 1600, &d, &err), RF_E_USAGE);
    assert_int_equal(rf_rollout_operator(ro, RF_OP_ROLLBACK, 1600, &d, &err), RF_E_USAGE);
    rf_rollout_free(ro);

    /* A gate halt cannot be resumed; it rolls back by itself. */
    ro = start(x, 3);
    rf_rollout_observe(ro, &r);
    for (int64_t i = 0; i < 40 && rf_rollout_state_of(ro) == RF_ROLLOUT_RUNNING; i++) {
        uint32_t h = (uint32_t)(h0 + 7 * (uint32_t)i) % x->f.nhosts;
        rf_health_report s = {1200 + i, h, RF_REPORT_TOOK, 1, 0};
        rf_rollout_observe(ro, &s);
        s.kind = RF_REPORT_SILENT;
        rf_rollout_observe(ro, &s);
        (void)rf_rollout_step(ro, 1200 + i, &d);
    }
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_HALTED);
    assert_true(rf_rollout_halted_by_gate(ro));
    assert_true(rf_rollout_rolling_back(ro));
    assert_int_equal(rf_rollout_operator(ro, RF_OP_RESUME, 2000, &d, &err), RF_E_USAGE);
    assert_non_null(strstr(err.msg, "gate"));
    rf_rollout_free(ro);

    /* A complete rollout cannot be rolled back. */
    ro = start(x, 3);
    (void)run_healthy(x, ro, 1000, 1000 + 40 * 86400);
    assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_COMPLETE);
    assert_int_equal(rf_rollout_operator(ro, RF_OP_ROLLBACK, 10 * 86400, &d, &err), RF_E_USAGE);
    rf_rollout_free(ro);
    fleet_free(x);
}

/* Detections by window (the server's): equal rates never alarm, whatever
 * the shares; ten times the rate on the treated hosts alarms within a few
 * windows. */
static void test_detection_windows(void **state)
{
    (void)state;
    fx *x = fleet_new(7000);
    rf_rollout *ro = start(x, 5);
    rf_decision d;
    /* 200 treated hosts of 7000 report 2 detections per check-in, as all do. */
    for (int64_t w = 0; w < 2000; w++) {
        uint64_t rt = 200 + (uint64_t)(w % 7), rc = 6800 - (uint64_t)(w % 5);
        rf_rollout_observe_detections(ro, 1000 + w * 390, 2 * rt, 2 * rc, (double)rt,
                                      (double)rc);
        assert_int_equal(rf_rollout_step(ro, 1000 + w * 390, &d) == RF_DECIDE_HALT, 0);
    }
    rf_rollout_free(ro);
    ro = start(x, 5);
    int halted = -1;
    for (int64_t w = 0; w < 20 && halted < 0; w++) {
        rf_rollout_observe_detections(ro, 1000 + w * 390, 20 * 200, 2 * 6800, 200, 6800);
        if (rf_rollout_step(ro, 1000 + w * 390, &d) == RF_DECIDE_HALT)
            halted = (int)w;
    }
    assert_true(halted >= 0 && halted <= 2);
    assert_string_equal(d.ev.signal, "detections");
    rf_rollout_free(ro);
    fleet_free(x);
}

static void test_other_gates(void **state)
{
    (void)state;
    for (int which = 0; which < 3; which++) {
        fx *x = fleet_new(14000);
        rf_rollout *ro = start(x, 11);
        rf_decision d;
        uint32_t h = 0;
        for (int i = 0; i < 200; i++) { /* control baseline */
            rf_health_report r = {1100, (uint32_t)i, RF_REPORT_CPU, 0, 1000.0 + (i % 7)};
            rf_rollout_observe(ro, &r);
            r.kind = RF_REPORT_DETECTIONS;
            r.value = 1;
            rf_rollout_observe(ro, &r);
        }
        for (h = 0; h < x->f.nhosts; h++)
            if (rf_rollout_assignment(ro, h, 1200, 0) == RF_ASSIGN_RELEASE) {
                rf_health_report r = {1200, h, RF_REPORT_TOOK, 1, 0};
                rf_rollout_observe(ro, &r);
                if (which == 0)
                    r.kind = RF_REPORT_REVERT;
                else if (which == 1) {
                    r.kind = RF_REPORT_CPU;
                    r.value = 10000.0;
                } else {
                    r.kind = RF_REPORT_DETECTIONS;
                    r.value = 50;
                }
                r.t = 1500;
                rf_rollout_observe(ro, &r);
                if (rf_rollout_step(ro, 1500, &d) == RF_DECIDE_HALT)
                    break;
            }
        assert_int_equal(rf_rollout_state_of(ro), RF_ROLLOUT_HALTED);
        const char *sig[] = {"reverts", "cpu", "detections"};
        assert_string_equal(d.ev.signal, sig[which]);
        rf_rollout_free(ro);
        fleet_free(x);
    }
}

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9e3779b97f4a7c15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_properties_random_fleets(void **state)
{
    (void)state;
    uint64_t s = 12345;
    for (int round = 0; round < 30; round++) {
        fx *x = fleet_new(3000);
        for (uint32_t h = 0; h < x->f.nhosts; h++) {
            x->f.host_group[h] = (uint32_t)(rnd(&s) % 7);
            x->f.host_sensor[h] = (uint16_t)(rnd(&s) % 2);
            x->f.host_flags[h] = (rnd(&s) % 50 == 0) ? RF_HOST_OFFLINE : 0;
        }
        x->sensor_ok[rnd(&s) % 2] = (uint8_t)(rnd(&s) % 2);
        x->rel.emergency = (int)(rnd(&s) % 2);
        rf_rollout *ro = start(x, rnd(&s));
        int halt_at = (int)(rnd(&s) % 40);
        rf_decision d;
        int64_t t = 1000;
        for (int step = 0; step < 60; step++, t += 120) {
            if (step == halt_at) {
                for (int i = 0; i < 20; i++) {
                    rf_health_report r = {t, 0, RF_REPORT_REVERT, 1, 0};
                    rf_rollout_observe(ro, &r);
                }
            }
            rf_rollout_step(ro, t, &d);
            int halted = rf_rollout_state_of(ro) == RF_ROLLOUT_HALTED;
            for (uint32_t h = 0; h < x->f.nhosts; h++) {
                rf_assign a = rf_rollout_assignment(ro, h, t, 0);
                if (a != RF_ASSIGN_RELEASE)
                    continue;
                uint32_t g = x->f.host_group[h];
                /* paused or pinned tenants never get another version */
                assert_true(g != 4 && g != 5);
                /* no host gets a release its sensor cannot run */
                assert_true(x->sensor_ok[x->f.host_sensor[h]]);
                /* a halted rollout assigns nothing new */
                assert_false(halted);
            }
        }
        rf_rollout_free(ro);
        fleet_free(x);
    }
}

static void test_determinism(void **state)
{
    (void)state;
    fx *x = fleet_new(5000);
    rf_rollout *a = start(x, 99), *b = start(x, 99), *c = start(x, 100);
    int differ = 0;
    for (uint32_t h = 0; h < x->f.nhosts; h++) {
        uint32_t wa = 0, wb = 0, wc = 0;
        assert_int_equal(rf_rollout_host_wave(a, h, &wa), rf_rollout_host_wave(b, h, &wb));
        assert_int_equal(wa, wb);
        (void)rf_rollout_host_wave(c, h, &wc);
        differ += wa != wc;
    }
    assert_true(differ > 0);
    rf_rollout_free(a);
    rf_rollout_free(b);
    rf_rollout_free(c);
    fleet_free(x);
}

static void test_bad_plans(void **state)
{
    (void)state;
    fx *x = fleet_new(100);
    rf_rollout *ro = NULL;
    rf_err err;
    x->plan.nwaves = 0;
    assert_int_equal(rf_rollout_new(&x->plan, &x->f, &x->rel, 1, 0, &ro, &err), RF_E_SCHEMA);
    rf_plan_default(&x->plan);
    x->plan.nwaves = 2; /* internal only: GA hosts never offered */
    assert_int_equal(rf_rollout_new(&x->plan, &x->f, &x->rel, 1, 0, &ro, &err), RF_E_SCHEMA);
    assert_non_null(strstr(err.msg, "GA"));
    assert_null(ro);
    fleet_free(x);

    /* A plan in memory (the server keeps the plan text of each rollout). */
    rf_plan p;
    static const char good[] = "plan: fast\ncheckin_interval: 2s\nsilence_grace: 3s\n";
    assert_int_equal(rf_plan_parse("mem", good, sizeof(good) - 1, &p, &err), RF_OK);
    assert_string_equal(p.name, "fast");
    assert_int_equal(p.checkin_interval_s, 2);
    assert_int_equal(p.silence_grace_s, 3);
    static const char bad[] = "plan: x\nwaves: []\n";
    assert_int_equal(rf_plan_parse("mem", bad, sizeof(bad) - 1, &p, &err), RF_E_SCHEMA);
    assert_string_equal(err.file, "mem");
    assert_int_equal(err.line, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_known_values),
        cmocka_unit_test(test_policies_and_exclusions),
        cmocka_unit_test(test_waves_delay_and_completion),
        cmocka_unit_test(test_hold_until_reports),
        cmocka_unit_test(test_halt_rollback_and_evidence),
        cmocka_unit_test(test_operator_actions),
        cmocka_unit_test(test_detection_windows),
        cmocka_unit_test(test_other_gates),
        cmocka_unit_test(test_properties_random_fleets),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_bad_plans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
