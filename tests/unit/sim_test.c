/*
 * sim_test.c — the fleet simulator (lib/sim): the calendar queue on its
 * own, then whole runs over a generated fleet of 20,000 customer hosts for
 * a few simulated hours, one per scenario and strategy, each asserting the
 * outcome the model must give (docs/gates.md): push-all crashes every
 * affected host and leaves them to a person; ringfence halts a crash-type
 * release in the internal ring with nobody needing a person; good content
 * completes without a halt; the CPU and detection gates catch their faults;
 * without the boot guard crashed hosts need a person. The same seed must
 * give the same result byte for byte, and bad options are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringfence/rollout.h"
#include "ringfence/sim.h"
#include "sim/sim_int.h"

#define HOSTS 20000u
#define TENANTS 40u

static rf_fleet *fleet;

static int setup(void **state)
{
    (void)state;
    rf_fleet_gen g;
    memset(&g, 0, sizeof(g));
    rf_fleet_gen_default(&g);
    g.hosts = HOSTS;
    g.tenants = TENANTS;
    rf_err err;
    rf_err_clear(&err);
    if (rf_fleet_generate(&g, 7, &fleet, &err) != RF_OK) {
        fprintf(stderr, "rf_fleet_generate: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    rf_fleet_free(fleet);
    fleet = NULL;
    return 0;
}

/* ---- the calendar queue --------------------------------------------------------- */

static void test_calq_order(void **state)
{
    (void)state;
    rfsim_calq q;
    assert_int_equal(rfsim_calq_init(&q, 100), RF_OK);
    /* Three chunks' worth in one bucket, interleaved with another bucket. */
    uint32_t n = 3 * RFSIM_CHUNK_EVENTS + 7;
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(rfsim_calq_push(&q, 5, (rfsim_event){i, 1}), RF_OK);
        assert_int_equal(rfsim_calq_push(&q, 9, (rfsim_event){1000000 + i, 2}), RF_OK);
    }
    assert_int_equal(rfsim_calq_push(&q, 100, (rfsim_event){1, 1}), RF_OK); /* after the end */
    assert_int_equal(rfsim_calq_push(&q, 1000, (rfsim_event){1, 1}), RF_OK);
    assert_int_equal(q.dropped, 2);
    assert_int_equal(q.pending, 2 * n);

    rfsim_event buf[4 * RFSIM_CHUNK_EVENTS];
    assert_int_equal(rfsim_calq_drain(&q, 4, buf, 4 * RFSIM_CHUNK_EVENTS), 0);
    /* A small buffer gets whole chunks, oldest first. */
    size_t got = 0, k;
    uint32_t next = 0;
    while ((k = rfsim_calq_drain(&q, 5, buf, RFSIM_CHUNK_EVENTS)) > 0) {
        assert_true(k <= RFSIM_CHUNK_EVENTS);
        for (size_t i = 0; i < k; i++) {
            assert_int_equal(buf[i].host, next);
            assert_int_equal(buf[i].what, 1);
            next++;
        }
        got += k;
    }
    assert_int_equal(got, n);
    assert_int_equal(q.pending, n);
    /* Events pushed into a bucket while it is drained come out after. */
    k = rfsim_calq_drain(&q, 9, buf, 3 * RFSIM_CHUNK_EVENTS);
    assert_int_equal(k, 3 * RFSIM_CHUNK_EVENTS);
    assert_int_equal(buf[0].host, 1000000);
    assert_int_equal(rfsim_calq_push(&q, 9, (rfsim_event){42, 3}), RF_OK);
    k = rfsim_calq_drain(&q, 9, buf, 4 * RFSIM_CHUNK_EVENTS);
    assert_int_equal(k, 8);
    assert_int_equal(buf[6].host, 1000000 + n - 1);
    assert_int_equal(buf[7].host, 42);
    assert_int_equal(buf[7].what, 3);
    assert_int_equal(rfsim_calq_drain(&q, 9, buf, 4 * RFSIM_CHUNK_EVENTS), 0);
    assert_int_equal(q.pending, 0);
    assert_int_equal(q.chunks_in_use, 0);
    rfsim_calq_free(&q);
}

/* Chunks are recycled: a steady stream never needs more than it once held. */
static void test_calq_reuse(void **state)
{
    (void)state;
    rfsim_calq q;
    assert_int_equal(rfsim_calq_init(&q, 3600), RF_OK);
    rfsim_event buf[1024];
    uint64_t seen = 0;
    for (uint32_t t = 0; t < 3600; t++) {
        for (uint32_t i = 0; i < 300; i++)
            assert_int_equal(rfsim_calq_push(&q, t + 1 + i % 10, (rfsim_event){i, t}), RF_OK);
        size_t k;
        while ((k = rfsim_calq_drain(&q, t, buf, 1024)) > 0)
            seen += k;
    }
    assert_int_equal(seen + q.pending + q.dropped, 3600ull * 300ull);
    assert_true(q.max_chunks <= 10 * 4 + 10);
    assert_int_equal(q.nslabs, 1);
    rfsim_calq_free(&q);
}

/* ---- whole runs ------------------------------------------------------------------ */

static rf_sim_result *run(rf_sim_scenario sc, rf_sim_strategy st, uint32_t hours,
                          void (*tweak)(rf_sim_opts *))
{
    rf_sim_opts o;
    rf_sim_opts_default(&o);
    o.scenario = sc;
    o.strategy = st;
    o.duration_s = hours * 3600u;
    o.seed = 3;
    if (tweak)
        tweak(&o);
    rf_sim_result *r = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_sim_run(fleet, &o, &r, &err);
    if (rc != RF_OK)
        fprintf(stderr, "rf_sim_run: %s\n", err.msg);
    assert_int_equal(rc, RF_OK);
    assert_non_null(r);
    /* Whatever the run, the books balance. */
    const rf_sim_counts *c[2] = {&r->customer, &r->internal};
    for (int i = 0; i < 2; i++) {
        assert_true(c[i]->eligible <= c[i]->hosts);
        assert_true(c[i]->affected <= c[i]->eligible);
        assert_true(c[i]->exposed <= c[i]->eligible);
        assert_true(c[i]->crashed <= c[i]->exposed);
        assert_true(c[i]->recovered + c[i]->needing_person <= c[i]->crashed);
        assert_true(c[i]->down_hours >= 0.0);
    }
    assert_int_equal(r->customer.hosts + r->internal.hosts + r->offline, r->hosts);
    assert_int_equal(r->nminutes, hours * 60u);
    return r;
}

static uint64_t decisions_of(const rf_sim_result *r, rf_decide a, const char *signal)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < r->ndecisions; i++)
        if (r->decisions[i].action == a &&
            (!signal || strcmp(r->decisions[i].ev.signal, signal) == 0))
            n++;
    return n;
}

static void test_july19_push_all(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_JULY19, RF_SIM_PUSH_ALL, 2, NULL);
    /* Every host is in the one wave, customer policies notwithstanding. */
    assert_int_equal(r->customer.eligible, r->customer.hosts);
    assert_int_equal(r->nwaves, 1);
    assert_true(r->customer.affected > r->customer.hosts / 4);
    assert_true(r->customer.affected < r->customer.hosts);
    /* Every affected host that was up crashed, within minutes, for good. */
    assert_true(r->customer.crashed * 100 >= r->customer.affected * 98);
    assert_true(r->customer.crashed <= r->customer.affected);
    assert_int_equal(r->customer.needing_person, r->customer.crashed);
    assert_int_equal(r->customer.recovered, 0);
    assert_int_equal(r->customer.rolled_back, 0);
    assert_true(r->crash_reach_s[2] <= 78 * 60);
    assert_true(r->customer.down_hours > (double)r->customer.crashed * 1.5);
    assert_int_equal(r->halt_s, RF_NEVER);
    assert_int_equal(r->ndecisions, 0);
    assert_int_equal(r->steps, 0);
    assert_int_equal(r->timeline[r->nminutes - 1].needing_person,
                     r->customer.crashed + r->internal.crashed);
    rf_sim_result_free(r);
}

static void test_july19_ringfence(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_JULY19, RF_SIM_RINGFENCE, 2, NULL);
    assert_true(r->halt_s != RF_NEVER);
    assert_int_equal(decisions_of(r, RF_DECIDE_HALT, "silence") +
                         decisions_of(r, RF_DECIDE_HALT, "reverts"),
                     1);
    assert_true(r->first_crash_s != RF_NEVER);
    assert_true(r->halt_s - r->first_crash_s <= 15 * 60);
    /* Halted in the internal ring: no customer host took it. */
    assert_int_equal(r->customer.exposed, 0);
    assert_int_equal(r->customer.crashed, 0);
    assert_true(r->internal.crashed > 0);
    /* The boot guard brought back every crashed host; the rest rolled back. */
    assert_int_equal(r->internal.needing_person, 0);
    assert_int_equal(r->internal.recovered, r->internal.crashed);
    assert_int_equal(r->internal.recovered + r->internal.rolled_back, r->internal.exposed);
    assert_int_equal(r->good_is_rollback, 1);
    assert_true(r->good_reach_s[2] != RF_NEVER);
    assert_true(r->good_reach_s[2] <= 30 * 60);
    assert_int_equal(r->timeline[r->nminutes - 1].down, 0);
    assert_int_equal(r->timeline[r->nminutes - 1].halted, 1);
    rf_sim_result_free(r);
}

static void no_boot_guard(rf_sim_opts *o)
{
    o->boot_guard = 0;
}

static void test_july19_no_boot_guard(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_JULY19, RF_SIM_RINGFENCE, 2, no_boot_guard);
    assert_true(r->halt_s != RF_NEVER);
    assert_int_equal(r->customer.exposed, 0);
    assert_true(r->internal.crashed > 0);
    assert_int_equal(r->internal.recovered, 0);
    assert_int_equal(r->internal.needing_person, r->internal.crashed);
    assert_true(r->internal.down_hours > 0.0);
    rf_sim_result_free(r);
}

static void no_gates(rf_sim_opts *o)
{
    o->gates = 0;
}

/* Without the gates the waves go on; the boot guard alone saves the hosts. */
static void test_july19_no_gates(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_JULY19, RF_SIM_RINGFENCE, 3, no_gates);
    assert_int_equal(r->halt_s, RF_NEVER);
    assert_int_equal(decisions_of(r, RF_DECIDE_HALT, NULL), 0);
    assert_true(r->customer.exposed > 0);
    assert_true(r->customer.crashed > 0);
    assert_int_equal(r->customer.needing_person, 0);
    assert_true(r->customer.recovered > 0);
    rf_sim_result_free(r);
}

static void test_good(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_GOOD, RF_SIM_RINGFENCE, 3, NULL);
    if (r->halt_s != RF_NEVER)
        fprintf(stderr, "good content halted at %lld s: %s\n", (long long)r->halt_s,
                r->decisions[r->ndecisions - 1].reason);
    assert_int_equal(r->halt_s, RF_NEVER);
    assert_int_equal(decisions_of(r, RF_DECIDE_HALT, NULL), 0);
    assert_int_equal(decisions_of(r, RF_DECIDE_PROMOTE, NULL), r->nwaves - 1);
    assert_true(r->complete_s != RF_NEVER);
    assert_int_equal(r->all_waves_opened, 1);
    assert_int_equal(r->customer.crashed + r->internal.crashed, 0);
    assert_int_equal(r->good_is_rollback, 0);
    /* 99% of the hosts with no GA delay updated within two hours. */
    assert_true(r->good_denominator_nodelay > HOSTS / 2);
    assert_true(r->good_reach_nodelay_s[2] != RF_NEVER);
    assert_true(r->good_reach_nodelay_s[2] <= 2 * 3600);
    assert_true(r->customer.exposed + r->internal.exposed >=
                r->good_denominator_nodelay * 99 / 100);
    rf_sim_result_free(r);
}

static void emergency(rf_sim_opts *o)
{
    o->emergency = 1;
}

static void emergency_confirm(rf_sim_opts *o)
{
    o->emergency = 1;
    o->confirm_s = 60;
}

/* An emergency release bakes shorter, never skips a wave. Each wave still
 * waits for reports from hosts that checked in after taking it, one
 * check-in interval (5 min) after it opens, so eight waves take about 45
 * minutes (docs/gates.md, "Measured"). */
static void test_good_emergency(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_GOOD, RF_SIM_RINGFENCE, 2, emergency);
    assert_int_equal(r->halt_s, RF_NEVER);
    assert_int_equal(r->all_waves_opened, 1);
    assert_int_equal(decisions_of(r, RF_DECIDE_PROMOTE, NULL), r->nwaves - 1);
    assert_true(r->good_reach_nodelay_s[2] != RF_NEVER);
    assert_true(r->good_reach_nodelay_s[2] <= 60 * 60);
    /* Every wave opened after at least its emergency bake. */
    for (uint32_t w = 1; w < r->nwaves; w++)
        assert_true(r->wave_opened_s[w] - r->wave_opened_s[w - 1] >= 120);
    rf_sim_result_free(r);
    /* Agents that check in when the boot guard confirms the release, a
     * minute after taking it, let each wave go after its bake. */
    r = run(RF_SIM_GOOD, RF_SIM_RINGFENCE, 2, emergency_confirm);
    assert_int_equal(r->halt_s, RF_NEVER);
    assert_int_equal(r->opts.confirm_s, 60);
    assert_true(r->good_reach_nodelay_s[2] != RF_NEVER);
    assert_true(r->good_reach_nodelay_s[2] <= 30 * 60);
    rf_sim_result_free(r);
}

static void test_cpu_spike(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_CPU_SPIKE, RF_SIM_RINGFENCE, 2, NULL);
    assert_true(r->halt_s != RF_NEVER);
    assert_int_equal(decisions_of(r, RF_DECIDE_HALT, "cpu"), 1);
    assert_int_equal(r->customer.crashed + r->internal.crashed, 0);
    assert_int_equal(r->customer.exposed, 0);
    assert_true(r->internal.rolled_back > 0);
    rf_sim_result_free(r);
}

static void test_fp_storm(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_FP_STORM, RF_SIM_RINGFENCE, 2, NULL);
    assert_true(r->halt_s != RF_NEVER);
    assert_int_equal(decisions_of(r, RF_DECIDE_HALT, "detections"), 1);
    assert_int_equal(r->customer.exposed, 0);
    rf_sim_result_free(r);
}

static void latent_20m(rf_sim_opts *o)
{
    o->latent_delay_s = 1200;
}

static void test_latent_crash(void **state)
{
    (void)state;
    rf_sim_result *r = run(RF_SIM_LATENT_CRASH, RF_SIM_RINGFENCE, 3, latent_20m);
    assert_true(r->halt_s != RF_NEVER);
    assert_true(r->first_crash_s != RF_NEVER);
    assert_true(r->first_crash_s >= 1200);
    assert_true(r->halt_s - r->first_crash_s <= 15 * 60);
    assert_int_equal(r->customer.needing_person + r->internal.needing_person, 0);
    rf_sim_result_free(r);
}

/* ---- determinism and refusals ----------------------------------------------------- */

static char *json_of(const rf_sim_result *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    assert_int_equal(rf_sim_write_json(r, m), RF_OK);
    assert_int_equal(rf_sim_write_timeline(r, m), RF_OK);
    assert_int_equal(fclose(m), 0);
    return buf;
}

static void seed_9(rf_sim_opts *o)
{
    o->seed = 9;
}

static void test_determinism(void **state)
{
    (void)state;
    rf_sim_result *a = run(RF_SIM_JULY19, RF_SIM_RINGFENCE, 1, NULL);
    rf_sim_result *b = run(RF_SIM_JULY19, RF_SIM_RINGFENCE, 1, NULL);
    rf_sim_result *c = run(RF_SIM_JULY19, RF_SIM_RINGFENCE, 1, seed_9);
    char *ja = json_of(a), *jb = json_of(b), *jc = json_of(c);
    assert_string_equal(ja, jb);
    assert_true(strcmp(ja, jc) != 0);
    assert_non_null(strstr(ja, "\"scenario\":\"july19\""));
    assert_non_null(strstr(ja, "\"seed\":3"));
    assert_non_null(strstr(jc, "\"seed\":9"));
    free(ja);
    free(jb);
    free(jc);
    rf_sim_result_free(a);
    rf_sim_result_free(b);
    rf_sim_result_free(c);
}

static void test_refusals(void **state)
{
    (void)state;
    rf_sim_opts o;
    rf_sim_result *r = NULL;
    rf_err err;

    rf_sim_opts_default(&o);
    o.duration_s = 0;
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);
    assert_null(r);
    assert_non_null(strstr(err.msg, "duration"));

    rf_sim_opts_default(&o);
    o.duration_s = RF_SIM_MAX_DURATION_S + 1;
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);

    rf_sim_opts_default(&o);
    o.step_s = 301;
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);

    rf_sim_opts_default(&o);
    o.noise_silence = -1.0;
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);

    rf_sim_opts_default(&o);
    o.sample = 1.5;
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);

    rf_sim_opts_default(&o);
    o.scenario = (rf_sim_scenario)99;
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);

    rf_sim_opts_default(&o);
    o.jitter_s = 200; /* more than a quarter of the 300 s interval */
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);

    rf_sim_opts_default(&o);
    o.confirm_s = 301; /* after the next periodic check-in */
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_USAGE);

    rf_plan p;
    rf_plan_default(&p);
    p.checkin_interval_s = 0;
    rf_sim_opts_default(&o);
    o.plan = &p;
    assert_int_equal(rf_sim_run(fleet, &o, &r, &err), RF_E_SCHEMA);

    rf_fleet empty = *fleet;
    empty.nhosts = 0;
    rf_sim_opts_default(&o);
    assert_int_equal(rf_sim_run(&empty, &o, &r, &err), RF_E_SCHEMA);
    assert_null(r);

    rf_sim_scenario sc;
    rf_sim_strategy st;
    assert_int_equal(rf_sim_scenario_parse("july19", &sc), RF_OK);
    assert_int_equal(sc, RF_SIM_JULY19);
    assert_int_equal(rf_sim_scenario_parse("latent-crash", &sc), RF_OK);
    assert_int_equal(sc, RF_SIM_LATENT_CRASH);
    assert_int_equal(rf_sim_scenario_parse("July19", &sc), RF_E_USAGE);
    assert_int_equal(rf_sim_scenario_parse(NULL, &sc), RF_E_USAGE);
    assert_int_equal(rf_sim_strategy_parse("push-all", &st), RF_OK);
    assert_int_equal(st, RF_SIM_PUSH_ALL);
    assert_int_equal(rf_sim_strategy_parse("pushall", &st), RF_E_USAGE);
    assert_null(rf_sim_scenario_name((rf_sim_scenario)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calq_order),
        cmocka_unit_test(test_calq_reuse),
        cmocka_unit_test(test_july19_push_all),
        cmocka_unit_test(test_july19_ringfence),
        cmocka_unit_test(test_july19_no_boot_guard),
        cmocka_unit_test(test_july19_no_gates),
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_good_emergency),
        cmocka_unit_test(test_cpu_spike),
        cmocka_unit_test(test_fp_storm),
        cmocka_unit_test(test_latent_crash),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
