/*
 * blast_test.c — the blast radius (lib/rollout/blast.c) on a fleet built by
 * hand, where every figure can be worked out on paper: exclusions counted
 * once each under the right reason (a paused tenant, a pinned tenant,
 * hosts on a sensor build that cannot run the release, offline hosts),
 * hosts per wave summing to the eligible hosts, the schedule (bakes,
 * min_reports, emergency bakes), the hosts exposed before the first gate
 * can act, the times to 50/90/99%; then the JSON (parsed with jansson: its
 * keys, their order and values, escaped names, a name that is not UTF-8),
 * the text report, a generated fleet with more tenants than are listed,
 * and the result outliving its inputs.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ringfence/blast.h"
#include "ringfence/rollout.h"

/* ---- the fleet ------------------------------------------------------------------
 *
 * Two sensor builds: "1.0" supplies 20 inputs, "2.0" 21; the release needs
 * 21, so hosts on 1.0 cannot run it. One group per tenant:
 *
 *   tenant   policy            hosts  on 1.0  offline   counted as
 *   vendor   internal             10       5        -   5 sensor, 5 eligible
 *   paused   paused               20      10        1   20 paused
 *   pinned   pinned v3            30      15        -   30 pinned
 *   prompt   ga                  100       -        4   4 offline, 96 eligible
 *   later    ga + 2 h, opted in   40       1  1 (on 1.0) 1 sensor, 39 eligible
 *   early    early                50       -        -   50 eligible
 *
 * 250 hosts: 190 eligible, 20 paused, 30 pinned, 6 sensor, 4 offline;
 * 6 offline in all; 10 internal, 240 customer.
 */
enum { T_VENDOR, T_PAUSED, T_PINNED, T_PROMPT, T_LATER, T_EARLY, NT };
#define NHOSTS 250

static const struct {
    const char *name;
    int internal;
    rf_policy policy;
    uint32_t hosts, on_old, offline, offline_on_old;
} spec[NT] = {
    [T_VENDOR] = {"vendor", 1, {RF_POLICY_GA, 0, 0, 0}, 10, 5, 0, 0},
    [T_PAUSED] = {"paused", 0, {RF_POLICY_PAUSED, 0, 0, 0}, 20, 10, 1, 0},
    [T_PINNED] = {"pinned", 0, {RF_POLICY_PINNED, 0, 3, 0}, 30, 15, 0, 0},
    [T_PROMPT] = {"prompt", 0, {RF_POLICY_GA, 0, 0, 0}, 100, 0, 4, 0},
    [T_LATER] = {"later", 0, {RF_POLICY_GA, 7200, 0, 1}, 40, 1, 0, 1},
    [T_EARLY] = {"early", 0, {RF_POLICY_EARLY, 0, 0, 0}, 50, 0, 0, 0},
};

static rf_fleet_tenant tenants[NT];
static rf_fleet_group groups[NT];
static rf_fleet_sensor sensors[2] = {{"1.0", 20}, {"2.0", 21}};
static uint32_t host_group[NHOSTS];
static uint16_t host_sensor[NHOSTS];
static uint8_t host_flags[NHOSTS];
static rf_fleet fleet;

static const uint8_t runs_new[2] = {0, 1}; /* 1.0 cannot run it, 2.0 can */
static const uint8_t runs_none[2] = {0, 0};

/* Hosts of each tenant in a block: first those on 1.0, then 2.0. Offline
 * hosts are the last of the block (on 2.0), or the first (on 1.0). */
static void build_fleet(void)
{
    uint32_t h = 0;
    for (uint32_t t = 0; t < NT; t++) {
        snprintf(tenants[t].name, sizeof(tenants[t].name), "%s", spec[t].name);
        tenants[t].internal = spec[t].internal;
        snprintf(groups[t].name, sizeof(groups[t].name), "all");
        groups[t].tenant = t;
        groups[t].policy = spec[t].policy;
        for (uint32_t i = 0; i < spec[t].hosts; i++, h++) {
            host_group[h] = t;
            host_sensor[h] = i < spec[t].on_old ? 0 : 1;
            host_flags[h] = 0;
            if (i >= spec[t].hosts - spec[t].offline || i < spec[t].offline_on_old)
                host_flags[h] = RF_HOST_OFFLINE;
        }
    }
    assert_int_equal(h, NHOSTS);
    fleet = (rf_fleet){NT, tenants, NT, groups, 2, sensors, NHOSTS,
                       host_group, host_sensor, host_flags};
}

static rf_release release(const uint8_t *ok, int emergency)
{
    rf_release r;
    memset(&r, 0, sizeof(r));
    snprintf(r.channel, sizeof(r.channel), "291");
    r.content_version = 5;
    r.last_good_version = 4;
    r.inputs_required = 21;
    r.sensor_ok = ok;
    r.emergency = emergency;
    return r;
}

/* One wave per ring, each 100%: 10 min bakes (2 min in an emergency); the
 * early wave waits for 40 reports, of which the engine asks for at most
 * half of its 50 prompt hosts: 25, in 300 * (1 + 25/50) = 450 s. */
static rf_plan three_waves(void)
{
    rf_plan p;
    rf_plan_default(&p);
    snprintf(p.name, sizeof(p.name), "three");
    p.nwaves = 3;
    const rf_wave w[3] = {
        {"inside", RF_RING_INTERNAL, 1.0, 600, 120, 0},
        {"early", RF_RING_EARLY, 1.0, 600, 120, 40},
        {"everyone", RF_RING_GA, 1.0, 600, 120, 0},
    };
    memcpy(p.waves, w, sizeof(w));
    assert_int_equal(rf_plan_check(&p, NULL), RF_OK);
    return p;
}

static rf_blast *compute(const rf_plan *p, const rf_fleet *f, const rf_release *rel,
                         const rf_blast_names *names)
{
    rf_blast *b = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_blast_compute(p, f, rel, 1, names, &b, &err);
    if (rc)
        fail_msg("%s: %s", rf_strerror(rc), err.msg);
    assert_non_null(b);
    return b;
}

static json_t *to_json(const rf_blast *b)
{
    char *text = NULL;
    rf_err err;
    rf_rc rc = rf_blast_to_json(b, &text, &err);
    if (rc)
        fail_msg("%s: %s", rf_strerror(rc), err.msg);
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root)
        fail_msg("not JSON: %s at line %d: %s", jerr.text, jerr.line, text);
    free(text);
    return root;
}

static json_int_t jget_int(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("'%s' is not an integer", key);
    return json_integer_value(v);
}

/* ---- figures ----------------------------------------------------------------------- */

static void assert_exclusions(const rf_blast_figures *fg)
{
    assert_int_equal(fg->hosts, NHOSTS);
    assert_int_equal(fg->eligible, 190);
    assert_int_equal(fg->excluded[RF_BLAST_PAUSED], 20);
    assert_int_equal(fg->excluded[RF_BLAST_PINNED], 30);
    assert_int_equal(fg->excluded[RF_BLAST_SENSOR], 6);
    assert_int_equal(fg->excluded[RF_BLAST_OFFLINE], 4);
    assert_int_equal(fg->offline_hosts, 6);
    assert_int_equal(fg->internal_hosts, 10);
    assert_int_equal(fg->customer_hosts, 240);
    uint64_t excl = 0, in_waves = 0;
    for (int k = 0; k < RF_BLAST_NREASONS; k++)
        excl += fg->excluded[k];
    for (uint32_t w = 0; w < fg->nwaves; w++)
        in_waves += fg->waves[w].hosts;
    assert_int_equal(fg->eligible + excl, fg->hosts);
    assert_int_equal(in_waves, fg->eligible);
}

static void test_exact_figures(void **state)
{
    (void)state;
    build_fleet();
    rf_plan p = three_waves();
    rf_release rel = release(runs_new, 0);
    rf_blast *b = compute(&p, &fleet, &rel, NULL);
    const rf_blast_figures *fg = rf_blast_figures_of(b);
    assert_exclusions(fg);

    /* Waves: 5 internal, 50 early, 96 + 39 GA of which 96 without delay. */
    assert_int_equal(fg->nwaves, 3);
    const struct {
        uint64_t hosts, customer, prompt;
        int64_t opens, lasts;
    } want[3] = {{5, 0, 5, 0, 600}, {50, 50, 50, 600, 600}, {135, 135, 96, 1200, 600}};
    for (uint32_t w = 0; w < 3; w++) {
        assert_int_equal(fg->waves[w].hosts, want[w].hosts);
        assert_int_equal(fg->waves[w].customer_hosts, want[w].customer);
        assert_int_equal(fg->waves[w].prompt_hosts, want[w].prompt);
        assert_int_equal(fg->waves[w].opens_s, want[w].opens);
        assert_int_equal(fg->waves[w].lasts_s, want[w].lasts);
    }
    assert_int_equal(fg->complete_s, 1800);

    /* Only the internal wave is open before the first gate (300 + 90 s). */
    assert_int_equal(fg->first_gate_s, 390);
    assert_int_equal(fg->customer_before_first_gate, 0);
    assert_int_equal(fg->all_before_first_gate, 5);
    assert_int_equal(fg->first_customer_wave, 1);
    assert_int_equal(fg->first_customer_wave_baked_s, 1200);
    assert_int_equal(fg->customer_before_first_customer_bake, 50);

    /* 190 hosts, each taking it within 300 s of becoming eligible: 5 at 0,
     * 50 at 600, 96 at 1200, 39 at 1200 + 2 h. 50% (95 hosts): 55 + 96 x/300
     * = 95 at 1200 + 125; 90% (171): 151 + 39 x/300 = 171 at 8400 + 153.8;
     * 99% (188.1) at 8400 + 285.4. */
    assert_true(fabs(fg->time_to_50_s - 1325.0) <= 0.5);
    assert_true(fabs(fg->time_to_90_s - (8400.0 + 20.0 / 39.0 * 300.0)) <= 0.5);
    assert_true(fabs(fg->time_to_99_s - (8400.0 + 37.1 / 39.0 * 300.0)) <= 0.5);
    rf_blast_free(b);
}

/* An emergency: 2 min bakes, the early wave still waits 450 s for its
 * reports, and the opted-in tenant skips its GA delay — so the early
 * customers are in before the first gate can act. */
static void test_emergency(void **state)
{
    (void)state;
    build_fleet();
    rf_plan p = three_waves();
    rf_release rel = release(runs_new, 1);
    rf_blast *b = compute(&p, &fleet, &rel, NULL);
    const rf_blast_figures *fg = rf_blast_figures_of(b);
    assert_exclusions(fg);
    assert_int_equal(fg->waves[0].lasts_s, 120);
    assert_int_equal(fg->waves[1].opens_s, 120);
    assert_int_equal(fg->waves[1].lasts_s, 450);
    assert_int_equal(fg->waves[2].opens_s, 570);
    assert_int_equal(fg->waves[2].prompt_hosts, 135);
    assert_int_equal(fg->complete_s, 690);
    assert_int_equal(fg->customer_before_first_gate, 50);
    assert_int_equal(fg->all_before_first_gate, 55);
    assert_int_equal(fg->first_customer_wave_baked_s, 240); /* opens + emergency bake */
    assert_int_equal(fg->customer_before_first_customer_bake, 50);
    /* Every GA host eligible at 570: 99% (188.1 of 190) is 570 + 133.1/135 x 300. */
    assert_true(fabs(fg->time_to_99_s - (570.0 + 133.1 / 135.0 * 300.0)) <= 0.5);
    rf_blast_free(b);
}

/* The default plan's eight waves: per-ring totals as above, in sum. */
static void test_default_plan(void **state)
{
    (void)state;
    build_fleet();
    rf_plan p;
    rf_plan_default(&p);
    rf_release rel = release(runs_new, 0);
    rf_blast *b = compute(&p, &fleet, &rel, NULL);
    const rf_blast_figures *fg = rf_blast_figures_of(b);
    assert_exclusions(fg);
    uint64_t ring[3] = {0, 0, 0}, cust = 0;
    for (uint32_t w = 0; w < fg->nwaves; w++) {
        ring[p.waves[w].ring] += fg->waves[w].hosts;
        cust += fg->waves[w].customer_hosts;
        if (w > 0)
            assert_int_equal(fg->waves[w].opens_s,
                             fg->waves[w - 1].opens_s + fg->waves[w - 1].lasts_s);
    }
    assert_int_equal(ring[RF_RING_INTERNAL], 5);
    assert_int_equal(ring[RF_RING_EARLY], 50);
    assert_int_equal(ring[RF_RING_GA], 135);
    assert_int_equal(cust, 185);
    assert_int_equal(fg->customer_before_first_gate, 0);
    assert_int_equal(fg->first_gate_s, 390);
    rf_blast_free(b);
}

/* No build can run it: everyone is excluded, nothing is eligible. */
static void test_nobody_eligible(void **state)
{
    (void)state;
    build_fleet();
    rf_plan p = three_waves();
    rf_release rel = release(runs_none, 0);
    rf_blast *b = compute(&p, &fleet, &rel, NULL);
    const rf_blast_figures *fg = rf_blast_figures_of(b);
    assert_int_equal(fg->eligible, 0);
    assert_int_equal(fg->excluded[RF_BLAST_PAUSED], 20);
    assert_int_equal(fg->excluded[RF_BLAST_PINNED], 30);
    assert_int_equal(fg->excluded[RF_BLAST_SENSOR], 200);
    assert_int_equal(fg->excluded[RF_BLAST_OFFLINE], 0);
    assert_int_equal(fg->first_customer_wave, -1);
    assert_int_equal(fg->complete_s, 0); /* empty waves are promoted at once */
    assert_true(fg->time_to_50_s < 0 && fg->time_to_99_s < 0);

    json_t *root = to_json(b);
    const json_t *br = json_object_get(root, "blast_radius");
    assert_true(json_is_null(json_object_get(br, "first_customer_wave")));
    assert_true(json_is_null(json_object_get(br, "first_customer_wave_baked_s")));
    assert_true(json_is_null(json_object_get(json_object_get(root, "time_to_eligible_s"), "p50")));
    json_decref(root);

    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    rf_blast_print(b, fp);
    assert_int_equal(fclose(fp), 0);
    assert_non_null(strstr(text, "\n  no customer host is eligible\n"));
    assert_non_null(strstr(text, "\n  50%           -\n"));
    free(text);
    rf_blast_free(b);
}

/* ---- JSON and text ---------------------------------------------------------------------- */

static void test_json(void **state)
{
    (void)state;
    build_fleet();
    rf_plan p = three_waves();
    rf_release rel = release(runs_new, 0);
    const rf_blast_names names = {"c291 \"v5\"\t\x01.rfc", "channel_file", "small.yaml", NULL,
                                  1};
    rf_blast *b = compute(&p, &fleet, &rel, &names);
    json_t *root = to_json(b);

    /* The keys of the report, in order. */
    static const char *const keys[] = {
        "release", "fleet", "plan", "hosts", "eligible", "excluded", "waves", "complete_s",
        "blast_radius", "time_to_eligible_s", "sensors", "tenants", "others"};
    size_t at = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        (void)val;
        assert_true(at < sizeof(keys) / sizeof(keys[0]));
        assert_string_equal(key, keys[at]);
        at++;
    }
    assert_int_equal(at, sizeof(keys) / sizeof(keys[0]));

    const json_t *r = json_object_get(root, "release");
    assert_string_equal(json_string_value(json_object_get(r, "file")), names.release_file);
    assert_string_equal(json_string_value(json_object_get(r, "channel")), "291");
    assert_string_equal(json_string_value(json_object_get(r, "template_type")), "channel_file");
    assert_int_equal(jget_int(r, "content_version"), 5);
    assert_int_equal(jget_int(r, "inputs_required"), 21);
    assert_true(json_is_false(json_object_get(r, "emergency")));
    const json_t *pl = json_object_get(root, "plan");
    assert_string_equal(json_string_value(json_object_get(pl, "name")), "three");
    assert_true(json_is_null(json_object_get(pl, "file")));
    assert_int_equal(jget_int(pl, "checkin_interval_s"), 300);

    assert_int_equal(jget_int(root, "hosts"), NHOSTS);
    assert_int_equal(jget_int(root, "eligible"), 190);
    const json_t *ex = json_object_get(root, "excluded");
    assert_int_equal(jget_int(ex, "paused"), 20);
    assert_int_equal(jget_int(ex, "pinned"), 30);
    assert_int_equal(jget_int(ex, "sensor"), 6);
    assert_int_equal(jget_int(ex, "offline"), 4);
    assert_int_equal(jget_int(ex, "total"), 60);

    const json_t *waves = json_object_get(root, "waves");
    assert_int_equal(json_array_size(waves), 3);
    const json_t *w2 = json_array_get(waves, 2);
    assert_string_equal(json_string_value(json_object_get(w2, "name")), "everyone");
    assert_string_equal(json_string_value(json_object_get(w2, "ring")), "ga");
    assert_true(json_is_real(json_object_get(w2, "fraction")));
    assert_int_equal(jget_int(w2, "hosts"), 135);
    assert_int_equal(jget_int(w2, "cumulative"), 190);
    assert_int_equal(jget_int(w2, "prompt_hosts"), 96);
    assert_int_equal(jget_int(w2, "opens_s"), 1200);
    assert_int_equal(jget_int(json_array_get(waves, 1), "min_reports"), 40);

    const json_t *br = json_object_get(root, "blast_radius");
    assert_int_equal(jget_int(br, "first_gate_s"), 390);
    assert_int_equal(jget_int(br, "customer_before_first_gate"), 0);
    assert_string_equal(json_string_value(json_object_get(br, "first_customer_wave")), "early");
    assert_int_equal(jget_int(json_object_get(root, "time_to_eligible_s"), "p50"), 1325);

    const json_t *sens = json_object_get(root, "sensors");
    assert_int_equal(json_array_size(sens), 2);
    assert_true(json_is_false(json_object_get(json_array_get(sens, 0), "can_run")));
    assert_int_equal(jget_int(json_array_get(sens, 0), "hosts"), 31);
    assert_int_equal(jget_int(json_array_get(sens, 0), "eligible"), 0);
    assert_int_equal(jget_int(json_array_get(sens, 1), "eligible"), 190);

    /* Tenants, largest first, with their policies and exclusions. */
    static const struct {
        const char *name, *policy;
        int emergency;
        json_int_t hosts, eligible, paused, pinned, sensor, offline;
    } tw[NT] = {
        {"prompt", "ga", 0, 100, 96, 0, 0, 0, 4},   {"early", "early", 0, 50, 50, 0, 0, 0, 0},
        {"later", "ga+2h", 1, 40, 39, 0, 0, 1, 0},  {"pinned", "pinned v3", 0, 30, 0, 0, 30, 0, 0},
        {"paused", "paused", 0, 20, 0, 20, 0, 0, 0}, {"vendor", "internal", 0, 10, 5, 0, 0, 5, 0},
    };
    const json_t *ten = json_object_get(root, "tenants");
    assert_int_equal(json_array_size(ten), NT);
    for (size_t i = 0; i < NT; i++) {
        const json_t *t = json_array_get(ten, i);
        const json_t *te = json_object_get(t, "excluded");
        assert_string_equal(json_string_value(json_object_get(t, "name")), tw[i].name);
        assert_string_equal(json_string_value(json_object_get(t, "policy")), tw[i].policy);
        assert_int_equal(json_is_true(json_object_get(t, "emergency_opt_in")), tw[i].emergency);
        assert_int_equal(json_is_true(json_object_get(t, "internal")), i == NT - 1);
        assert_int_equal(jget_int(t, "hosts"), tw[i].hosts);
        assert_int_equal(jget_int(t, "eligible"), tw[i].eligible);
        assert_int_equal(jget_int(te, "paused"), tw[i].paused);
        assert_int_equal(jget_int(te, "pinned"), tw[i].pinned);
        assert_int_equal(jget_int(te, "sensor"), tw[i].sensor);
        assert_int_equal(jget_int(te, "offline"), tw[i].offline);
    }
    const json_t *oth = json_object_get(root, "others");
    assert_int_equal(jget_int(oth, "tenants"), 0);
    assert_int_equal(jget_int(oth, "hosts"), 0);
    json_decref(root);

    /* The text report says the same. */
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    assert_non_null(fp);
    rf_blast_print(b, fp);
    assert_int_equal(fclose(fp), 0);
    assert_non_null(strstr(text, "ringfence plan: channel 291 content version 5 (needs 21 "
                                 "inputs), normal release\n"));
    assert_non_null(strstr(text, "  release   c291 \"v5\"\\x09\\x01.rfc\n"));
    assert_non_null(strstr(text, "  plan      three (built in): 3 waves"));
    assert_non_null(strstr(text, "  excluded: pinned (tenant policy)               30  "));
    assert_non_null(strstr(text, "sensor builds (from the sensor manifests)\n"));
    assert_non_null(strstr(text, "\n  later   ga+2h           yes         40         39"
                                 "         0         0         1         0\n"));
    assert_non_null(strstr(text, "tenants (6 largest of 6)\n"));
    free(text);
    rf_blast_free(b);
}

/* JSON cannot carry a name that is not UTF-8: refused, not mangled. */
static void test_json_not_utf8(void **state)
{
    (void)state;
    build_fleet();
    rf_plan p = three_waves();
    rf_release rel = release(runs_new, 0);
    const rf_blast_names names = {"bad\xff.rfc", NULL, NULL, NULL, 0};
    rf_blast *b = compute(&p, &fleet, &rel, &names);
    char *text = (char *)"untouched";
    rf_err err;
    assert_int_equal(rf_blast_to_json(b, &text, &err), RF_E_USAGE);
    assert_string_equal(text, "untouched");
    assert_non_null(strstr(err.msg, "not valid UTF-8"));
    rf_blast_free(b);
}

/* ---- a generated fleet --------------------------------------------------------------------- */

/* 60 tenants: the 20 largest listed in order, the other 40 summed, and the
 * result still good once the fleet and the plan are gone. */
static void test_generated_fleet(void **state)
{
    (void)state;
    rf_fleet_gen g;
    memset(&g, 0, sizeof(g));
    rf_fleet_gen_default(&g);
    g.hosts = 5000;
    g.tenants = 60;
    g.internal_hosts = 100;
    rf_fleet *f = NULL;
    assert_int_equal(rf_fleet_generate(&g, 7, &f, NULL), RF_OK);
    uint8_t *ok = calloc(f->nsensors, 1);
    assert_non_null(ok);
    for (uint32_t s = 0; s < f->nsensors; s++)
        ok[s] = f->sensors[s].inputs >= 21;
    rf_release rel = release(ok, 0);
    rf_plan *p = malloc(sizeof(*p));
    assert_non_null(p);
    rf_plan_default(p);
    rf_blast *b = compute(p, f, &rel, NULL);
    uint32_t ntenants = f->ntenants, nhosts = f->nhosts;
    rf_fleet_free(f);
    free(ok);
    memset(p, 0xa5, sizeof(*p));
    free(p);

    const rf_blast_figures *fg = rf_blast_figures_of(b);
    uint64_t excl = 0, in_waves = 0;
    for (int k = 0; k < RF_BLAST_NREASONS; k++)
        excl += fg->excluded[k];
    for (uint32_t w = 0; w < fg->nwaves; w++)
        in_waves += fg->waves[w].hosts;
    assert_int_equal(fg->hosts, nhosts);
    assert_int_equal(fg->eligible + excl, nhosts);
    assert_int_equal(in_waves, fg->eligible);
    assert_true(fg->excluded[RF_BLAST_SENSOR] > 0); /* 7.11.18110 supplies 20 inputs */

    json_t *root = to_json(b);
    const json_t *ten = json_object_get(root, "tenants");
    const json_t *oth = json_object_get(root, "others");
    assert_int_equal(json_array_size(ten), RF_BLAST_TOP_TENANTS);
    assert_int_equal(jget_int(oth, "tenants"), ntenants - RF_BLAST_TOP_TENANTS);
    assert_int_equal(jget_int(json_object_get(root, "fleet"), "tenants"), ntenants);
    json_int_t hosts = jget_int(oth, "hosts"), elig = jget_int(oth, "eligible"), prev = INT64_MAX;
    for (size_t i = 0; i < json_array_size(ten); i++) {
        json_int_t h = jget_int(json_array_get(ten, i), "hosts");
        assert_true(h <= prev);
        prev = h;
        hosts += h;
        elig += jget_int(json_array_get(ten, i), "eligible");
    }
    assert_true(jget_int(oth, "hosts") <= prev * (json_int_t)(ntenants - RF_BLAST_TOP_TENANTS));
    assert_int_equal(hosts, nhosts);
    assert_int_equal(elig, fg->eligible);
    json_decref(root);
    rf_blast_free(b);
}

/* ---- bad arguments ------------------------------------------------------------------------ */

static void test_bad_arguments(void **state)
{
    (void)state;
    build_fleet();
    rf_plan p = three_waves();
    rf_release rel = release(runs_new, 0);
    rf_blast *b = (rf_blast *)&fleet; /* never written on failure */
    rf_err err;
    assert_int_equal(rf_blast_compute(NULL, &fleet, &rel, 1, NULL, &b, &err), RF_E_USAGE);
    assert_int_equal(rf_blast_compute(&p, NULL, &rel, 1, NULL, &b, &err), RF_E_USAGE);
    assert_int_equal(rf_blast_compute(&p, &fleet, NULL, 1, NULL, &b, &err), RF_E_USAGE);
    assert_int_equal(rf_blast_compute(&p, &fleet, &rel, 1, NULL, NULL, &err), RF_E_USAGE);
    rel.sensor_ok = NULL;
    assert_int_equal(rf_blast_compute(&p, &fleet, &rel, 1, NULL, &b, &err), RF_E_USAGE);
    rel.sensor_ok = runs_new;
    /* A plan the engine refuses: no GA wave reaching 100%. */
    p.waves[2].fraction = 0.5;
    assert_int_equal(rf_blast_compute(&p, &fleet, &rel, 1, NULL, &b, &err), RF_E_SCHEMA);
    assert_ptr_equal(b, (rf_blast *)&fleet);
    rf_blast_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_figures),
        cmocka_unit_test(test_emergency),
        cmocka_unit_test(test_default_plan),
        cmocka_unit_test(test_nobody_eligible),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_json_not_utf8),
        cmocka_unit_test(test_generated_fleet),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
