/*
 * engine.c — the rollout engine: which host may take a release when, and
 * the health gates that promote, hold or halt it. Pure and deterministic:
 * every call gets the time from the caller, the only randomness is the rank
 * of each host, a hash of (seed, host), and no call does I/O.
 *
 * Per-host questions (rf_rollout_host_wave, rf_rollout_eligible_at,
 * rf_rollout_assignment) are O(number of waves) and allocate nothing, so a
 * server can ask at every check-in and the simulator for millions of hosts.
 * The gates are the CUSUM tests of lib/stats, fed by rf_rollout_observe;
 * exposures (host-seconds at risk in each group) are integrated between
 * reports from the counts of hosts checking in.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringfence/rollout.h"
#include "ringfence/util.h"

struct rf_rollout {
    const rf_plan *plan;
    const rf_fleet *fleet;
    const rf_release *rel;
    uint64_t seed;
    int64_t t0;
    rf_rollout_state state;
    uint32_t wave;                   /* newest open wave */
    int64_t opened[RF_MAX_WAVES];    /* RF_NEVER until opened */
    uint64_t wave_hosts[RF_MAX_WAVES]; /* hosts (online) of each wave */
    uint64_t wave_prompt[RF_MAX_WAVES]; /* those of them with no GA delay */
    uint64_t wave_took[RF_MAX_WAVES];
    uint64_t wave_reports[RF_MAX_WAVES];
    int ring_has_waves[3];
    int64_t halted_at;
    uint64_t rollback_version;
    int halted_by_gate;  /* a gate halted it (an operator cannot resume it) */
    int rolling_back;    /* hosts that took it are told to take the rollback */

    /* gates */
    rf_cusum_rate silence;
    rf_cusum_rate detect;
    rf_cusum_bern fail;
    rf_cusum_mean cpu;
    uint64_t reverts, load_failures;

    /* exposure */
    int64_t t_last;
    uint64_t n_treated_alive;
    uint64_t n_control_alive;
    double exp_t;
    double exp_c;
    uint64_t treated_hosts;
};

static double host_rank(const rf_rollout *ro, uint32_t host)
{
    return (double)(rf_mix64(ro->seed ^ rf_mix64(host)) >> 11) * 0x1.0p-53;
}

static uint32_t bake_of(const rf_rollout *ro, uint32_t w)
{
    const rf_wave *wv = &ro->plan->waves[w];
    return ro->rel->emergency ? wv->emergency_bake_s : wv->bake_s;
}

/* The ring a host's waves come from: a ring without waves in the plan
 * falls through to GA. */
static rf_ring effective_ring(const rf_rollout *ro, rf_ring r)
{
    if (r != RF_RING_GA && !ro->ring_has_waves[r])
        return RF_RING_GA;
    return r;
}

rf_exclusion rf_rollout_host_wave(const rf_rollout *ro, uint32_t host, uint32_t *wave)
{
    const rf_fleet *f = ro->fleet;
    if (host >= f->nhosts)
        return RF_EXCL_SENSOR;
    const rf_fleet_group *g = &f->groups[f->host_group[host]];
    if (!ro->rel->sensor_ok[f->host_sensor[host]])
        return RF_EXCL_SENSOR;
    rf_ring ring;
    if (f->tenants[g->tenant].internal) {
        ring = RF_RING_INTERNAL;
    } else {
        switch (g->policy.mode) {
        case RF_POLICY_PAUSED: return RF_EXCL_PAUSED;
        case RF_POLICY_PINNED: return RF_EXCL_PINNED;
        case RF_POLICY_EARLY: ring = RF_RING_EARLY; break;
        default: ring = RF_RING_GA; break;
        }
    }
    ring = effective_ring(ro, ring);
    double u = host_rank(ro, host);
    uint32_t last = 0;
    for (uint32_t w = 0; w < ro->plan->nwaves; w++) {
        if (ro->plan->waves[w].ring != ring)
            continue;
        last = w;
        if (u < ro->plan->waves[w].fraction) {
            *wave = w;
            return RF_EXCL_NONE;
        }
    }
    *wave = last; /* rounding at fraction 1.0 */
    return RF_EXCL_NONE;
}

static int in_ga_ring(const rf_rollout *ro, uint32_t w)
{
    return ro->plan->waves[w].ring == RF_RING_GA;
}

int64_t rf_rollout_eligible_at(const rf_rollout *ro, uint32_t host)
{
    uint32_t w;
    if (ro->state == RF_ROLLOUT_HALTED || rf_rollout_host_wave(ro, host, &w) != RF_EXCL_NONE)
        return RF_NEVER;
    if (ro->opened[w] == RF_NEVER)
        return RF_NEVER;
    int64_t t = ro->opened[w];
    if (in_ga_ring(ro, w)) {
        const rf_policy *p = &ro->fleet->groups[ro->fleet->host_group[host]].policy;
        if (p->mode == RF_POLICY_GA && !(ro->rel->emergency && p->emergency_opt_in))
            t += p->ga_delay_s;
    }
    return t;
}

rf_assign rf_rollout_assignment(const rf_rollout *ro, uint32_t host, int64_t now, int took)
{
    if (took)
        return ro->rolling_back ? RF_ASSIGN_ROLLBACK : RF_ASSIGN_NONE;
    int64_t e = rf_rollout_eligible_at(ro, host);
    return e != RF_NEVER && now >= e ? RF_ASSIGN_RELEASE : RF_ASSIGN_NONE;
}

rf_rc rf_rollout_new(const rf_plan *plan, const rf_fleet *fleet, const rf_release *rel,
                     uint64_t seed, int64_t t0, rf_rollout **out, rf_err *err)
{
    if (!plan || !fleet || !rel || !rel->sensor_ok || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rollout needs a plan, a fleet and a release");
    if (plan->nwaves == 0 || plan->nwaves > RF_MAX_WAVES)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "plan %s has %u waves (1..%d allowed)",
                          plan->name, plan->nwaves, RF_MAX_WAVES);
    int has_ga = 0;
    for (uint32_t w = 0; w < plan->nwaves; w++)
        has_ga |= plan->waves[w].ring == RF_RING_GA && plan->waves[w].fraction >= 1.0;
    if (!has_ga)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "plan %s has no GA wave reaching 100%%: some hosts would never "
                          "be offered the release", plan->name);
    rf_rollout *ro = calloc(1, sizeof(*ro));
    if (!ro)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    ro->plan = plan;
    ro->fleet = fleet;
    ro->rel = rel;
    ro->seed = seed;
    ro->t0 = t0;
    ro->t_last = t0;
    ro->halted_at = RF_NEVER;
    for (uint32_t w = 0; w < RF_MAX_WAVES; w++)
        ro->opened[w] = RF_NEVER;
    for (uint32_t w = 0; w < plan->nwaves; w++) {
        if ((unsigned)plan->waves[w].ring > RF_RING_GA) {
            free(ro);
            return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "wave %s has no valid ring",
                              plan->waves[w].name);
        }
        ro->ring_has_waves[plan->waves[w].ring] = 1;
    }
    for (uint32_t h = 0; h < fleet->nhosts; h++) {
        if (fleet->host_flags[h] & RF_HOST_OFFLINE)
            continue;
        ro->n_control_alive++;
        uint32_t w;
        if (rf_rollout_host_wave(ro, h, &w) != RF_EXCL_NONE)
            continue;
        ro->wave_hosts[w]++;
        const rf_policy *p = &fleet->groups[fleet->host_group[h]].policy;
        if (!in_ga_ring(ro, w) || p->mode != RF_POLICY_GA || p->ga_delay_s == 0 ||
            (rel->emergency && p->emergency_opt_in))
            ro->wave_prompt[w]++;
    }
    rf_cusum_rate_init(&ro->silence, plan->gates.silence_ratio, plan->gates.alpha);
    rf_cusum_bern_init(&ro->fail, plan->gates.fail_p0, plan->gates.fail_p1, plan->gates.alpha);
    /* CPU reports and detections come from every host, many times over a
     * rollout: each observation can start an excursion of the CUSUM, so
     * their threshold is sized to the number of observations a rollout can
     * bring (about one per host per check-in over a day), not to one
     * excursion. A real fault moves these statistics by far more than the
     * extra margin (CPU x10 adds ~85 per report, a detection storm ~1.6 per
     * detection). Silence and reverts are rare events and keep ln(1/alpha). */
    double nobs = (double)(fleet->nhosts ? fleet->nhosts : 1) * 288.0;
    double alpha_many = plan->gates.alpha / nobs;
    rf_cusum_rate_init(&ro->detect, plan->gates.detect_ratio, alpha_many);
    rf_cusum_mean_init(&ro->cpu, plan->gates.cpu_shift, alpha_many,
                       plan->gates.cpu_min_control, 0.05);
    ro->wave = 0;
    ro->opened[0] = t0;
    ro->state = RF_ROLLOUT_RUNNING;
    *out = ro;
    return RF_OK;
}

void rf_rollout_free(rf_rollout *ro)
{
    free(ro);
}

rf_rollout_state rf_rollout_state_of(const rf_rollout *ro)
{
    return ro->state;
}

uint32_t rf_rollout_wave(const rf_rollout *ro)
{
    return ro->wave;
}

int64_t rf_rollout_wave_opened(const rf_rollout *ro, uint32_t wave)
{
    return wave < RF_MAX_WAVES ? ro->opened[wave] : RF_NEVER;
}

uint64_t rf_rollout_rollback_version(const rf_rollout *ro)
{
    return ro->rollback_version;
}

/* Integrate host-seconds at risk in each group up to t. */
static void advance(rf_rollout *ro, int64_t t)
{
    if (t <= ro->t_last)
        return;
    double dt = (double)(t - ro->t_last);
    ro->exp_t += (double)ro->n_treated_alive * dt;
    ro->exp_c += (double)ro->n_control_alive * dt;
    ro->t_last = t;
}

static void dec(uint64_t *n)
{
    if (*n > 0)
        (*n)--;
}

void rf_rollout_observe(rf_rollout *ro, const rf_health_report *r)
{
    advance(ro, r->t);
    uint32_t w = 0;
    int in_wave = 0;
    if (r->kind == RF_REPORT_TOOK || (r->kind == RF_REPORT_CHECKIN && r->treated))
        in_wave = rf_rollout_host_wave(ro, r->host, &w) == RF_EXCL_NONE;
    /* The rate tests condition each event on the hosts at risk in each group
     * at that moment: under "no harm" an event falls on a treated host with
     * probability n_treated / (n_treated + n_control). */
    double at_t = (double)ro->n_treated_alive, at_c = (double)ro->n_control_alive;
    switch (r->kind) {
    case RF_REPORT_TOOK:
        ro->treated_hosts++;
        ro->n_treated_alive++;
        dec(&ro->n_control_alive);
        if (in_wave)
            ro->wave_took[w]++;
        /* One trial per host for the revert/load-failure test. */
        rf_cusum_bern_add(&ro->fail, 0);
        break;
    case RF_REPORT_CHECKIN:
        if (r->treated && in_wave)
            ro->wave_reports[w]++;
        break;
    case RF_REPORT_SILENT:
        rf_cusum_rate_add(&ro->silence, r->treated, at_t, at_c);
        dec(r->treated ? &ro->n_treated_alive : &ro->n_control_alive);
        break;
    case RF_REPORT_BACK:
        if (r->treated)
            ro->n_treated_alive++;
        else
            ro->n_control_alive++;
        break;
    case RF_REPORT_REVERT:
    case RF_REPORT_LOAD_FAIL:
        if (r->kind == RF_REPORT_REVERT)
            ro->reverts++;
        else
            ro->load_failures++;
        if (r->treated)
            rf_cusum_bern_add(&ro->fail, 1);
        break;
    case RF_REPORT_CPU:
        if (r->value > 0 && isfinite(r->value))
            rf_cusum_mean_add(&ro->cpu, r->treated, log(r->value));
        break;
    case RF_REPORT_DETECTIONS: {
        double n = r->value;
        if (!(n >= 1) || !isfinite(n))
            break;
        if (n > 10000)
            n = 10000; /* one report cannot outweigh the rest of the fleet */
        for (uint32_t i = 0; i < (uint32_t)n; i++)
            rf_cusum_rate_add(&ro->detect, r->treated, at_t, at_c);
        break;
    }
    }
}

void rf_rollout_observe_detections(rf_rollout *ro, int64_t t, uint64_t treated,
                                   uint64_t control, double treated_exposure,
                                   double control_exposure)
{
    advance(ro, t);
    if (!(treated_exposure > 0) || !(control_exposure > 0) || !isfinite(treated_exposure) ||
        !isfinite(control_exposure))
        return;
    /* Bound the work of one window; the shares are kept. */
    const uint64_t cap = 1000000;
    if (treated + control > cap) {
        double k = (double)cap / (double)(treated + control);
        treated = (uint64_t)((double)treated * k);
        control = (uint64_t)((double)control * k);
    }
    /* One window's events have no order: the treated ones are spread evenly
     * among the control ones. */
    uint64_t it = 0, ic = 0;
    while (it < treated || ic < control) {
        int tr = it < treated && (ic >= control || it * control <= ic * treated);
        if (tr)
            it++;
        else
            ic++;
        rf_cusum_rate_add(&ro->detect, tr, treated_exposure, control_exposure);
    }
}

static void fill_evidence(const rf_rollout *ro, rf_evidence *ev, const char *signal,
                          double stat, double thr, uint64_t te, uint64_t ce)
{
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->signal, sizeof(ev->signal), "%s", signal);
    ev->statistic = stat;
    ev->threshold = thr;
    ev->treated_events = te;
    ev->control_events = ce;
    ev->treated_exposure_s = ro->exp_t;
    ev->control_exposure_s = ro->exp_c;
    ev->treated_hosts = ro->treated_hosts;
    ev->reports = ro->wave_reports[ro->wave];
}

/* The first gate that alarmed, with its evidence; 0 if none. The statistic
 * given is the largest it reached (the alarm latches; later events may have
 * lowered it since). */
static int gate_alarm(const rf_rollout *ro, rf_evidence *ev, char *why, size_t n)
{
    if (ro->silence.alarmed) {
        fill_evidence(ro, ev, "silence", ro->silence.s_max, ro->silence.h, ro->silence.treated,
                      ro->silence.control);
        snprintf(why, n,
                 "silence: %llu hosts that took it went silent against %llu control hosts; "
                 "rate-ratio CUSUM %.2f >= %.2f",
                 (unsigned long long)ro->silence.treated, (unsigned long long)ro->silence.control,
                 ro->silence.s_max, ro->silence.h);
        return 1;
    }
    if (ro->fail.alarmed) {
        fill_evidence(ro, ev, ro->reverts >= ro->load_failures ? "reverts" : "load-failures",
                      ro->fail.s_max, ro->fail.h, ro->fail.bad, ro->fail.n);
        snprintf(why, n,
                 "boot-guard reverts %llu, load failures %llu among %llu hosts; "
                 "Bernoulli CUSUM %.2f >= %.2f",
                 (unsigned long long)ro->reverts, (unsigned long long)ro->load_failures,
                 (unsigned long long)ro->fail.n, ro->fail.s_max, ro->fail.h);
        return 1;
    }
    if (ro->cpu.alarmed) {
        fill_evidence(ro, ev, "cpu", ro->cpu.s_max, ro->cpu.h, ro->cpu.ntreated, ro->cpu.ncontrol);
        snprintf(why, n,
                 "per-event CPU: %llu treated reports against control mean %.0f ns; "
                 "mean-shift CUSUM %.2f >= %.2f",
                 (unsigned long long)ro->cpu.ntreated, exp(rf_cusum_mean_mu(&ro->cpu)),
                 ro->cpu.s_max, ro->cpu.h);
        return 1;
    }
    if (ro->detect.alarmed) {
        fill_evidence(ro, ev, "detections", ro->detect.s_max, ro->detect.h, ro->detect.treated,
                      ro->detect.control);
        snprintf(why, n,
                 "detection volume: %llu detections on hosts that took it against %llu on "
                 "control hosts; rate-ratio CUSUM %.2f >= %.2f",
                 (unsigned long long)ro->detect.treated, (unsigned long long)ro->detect.control,
                 ro->detect.s_max, ro->detect.h);
        return 1;
    }
    return 0;
}

static void halt(rf_rollout *ro, int64_t now)
{
    ro->state = RF_ROLLOUT_HALTED;
    ro->halted_at = now;
    uint64_t v = ro->rel->content_version > ro->rel->last_good_version
                     ? ro->rel->content_version
                     : ro->rel->last_good_version;
    ro->rollback_version = v + 1;
}

rf_decide rf_rollout_step(rf_rollout *ro, int64_t now, rf_decision *out)
{
    advance(ro, now);
    memset(out, 0, sizeof(*out));
    out->t = now;
    out->wave = ro->wave;
    /* After a halt or completion nothing changes any more: HOLD, with the
     * state named (the decision that ended it was returned once). */
    if (ro->state != RF_ROLLOUT_RUNNING) {
        out->action = RF_DECIDE_HOLD;
        snprintf(out->reason, sizeof(out->reason), "%s at wave %s",
                 ro->state == RF_ROLLOUT_HALTED ? "halted" : "complete",
                 ro->plan->waves[ro->wave].name);
        return RF_DECIDE_HOLD;
    }
    if (gate_alarm(ro, &out->ev, out->reason, sizeof(out->reason))) {
        halt(ro, now);
        ro->halted_by_gate = 1;
        ro->rolling_back = 1;
        out->action = RF_DECIDE_HALT;
        return RF_DECIDE_HALT;
    }
    uint32_t w = ro->wave;
    const rf_wave *wv = &ro->plan->waves[w];
    int64_t baked = now - ro->opened[w];
    /* Reports needed: the plan's minimum, but never more than half the
     * wave's hosts that can take it now (a small wave cannot supply more,
     * and tenants with a GA delay take it only later) ... */
    uint64_t need = wv->min_reports;
    if (need > ro->wave_prompt[w] / 2)
        need = ro->wave_prompt[w] / 2;
    /* ... and never none while it has hosts that can take it now: a wave of
     * one host that crashed on the release would otherwise pass on no
     * evidence at all. */
    if (need == 0 && wv->min_reports > 0 && ro->wave_prompt[w] > 0)
        need = 1;
    fill_evidence(ro, &out->ev, "bake", (double)baked, (double)bake_of(ro, w),
                  ro->wave_took[w], ro->wave_hosts[w]);
    int empty = ro->wave_hosts[w] == 0;
    if (!empty && (baked < (int64_t)bake_of(ro, w) || ro->wave_reports[w] < need)) {
        out->action = RF_DECIDE_HOLD;
        snprintf(out->reason, sizeof(out->reason),
                 "wave %s: baked %llds of %us, %llu of %llu reports, gates quiet", wv->name,
                 (long long)baked, bake_of(ro, w), (unsigned long long)ro->wave_reports[w],
                 (unsigned long long)need);
        return RF_DECIDE_HOLD;
    }
    if (w + 1 >= ro->plan->nwaves) {
        ro->state = RF_ROLLOUT_COMPLETE;
        out->action = RF_DECIDE_COMPLETE;
        snprintf(out->reason, sizeof(out->reason),
                 "last wave %s baked %llds with %llu reports and quiet gates", wv->name,
                 (long long)baked, (unsigned long long)ro->wave_reports[w]);
        return RF_DECIDE_COMPLETE;
    }
    ro->wave = w + 1;
    ro->opened[w + 1] = now;
    out->wave = w + 1;
    out->action = RF_DECIDE_PROMOTE;
    snprintf(out->reason, sizeof(out->reason),
             "wave %s %s (%llds, %llu reports, gates quiet): opening %s", wv->name,
             empty ? "has no hosts" : "baked", (long long)baked,
             (unsigned long long)ro->wave_reports[w], ro->plan->waves[w + 1].name);
    return RF_DECIDE_PROMOTE;
}

int rf_rollout_rolling_back(const rf_rollout *ro)
{
    return ro->rolling_back;
}

int rf_rollout_halted_by_gate(const rf_rollout *ro)
{
    return ro->halted_by_gate;
}

rf_rc rf_rollout_operator(rf_rollout *ro, rf_operator_op op, int64_t now, rf_decision *out,
                          rf_err *err)
{
    if (!ro || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_rollout_operator: NULL argument");
    advance(ro, now);
    rf_decision d;
    memset(&d, 0, sizeof(d));
    d.t = now;
    d.wave = ro->wave;
    const char *wname = ro->plan->waves[ro->wave].name;
    switch (op) {
    case RF_OP_HALT:
        if (ro->state != RF_ROLLOUT_RUNNING)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "the rollout is %s, not running",
                              ro->state == RF_ROLLOUT_HALTED ? "halted" : "complete");
        halt(ro, now);
        d.action = RF_DECIDE_HALT;
        snprintf(d.reason, sizeof(d.reason),
                 "halted by an operator at wave %s: nobody new gets it; hosts that took it "
                 "keep it until a rollback", wname);
        break;
    case RF_OP_RESUME:
        if (ro->state != RF_ROLLOUT_HALTED)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "the rollout is %s, not halted",
                              ro->state == RF_ROLLOUT_RUNNING ? "running" : "complete");
        if (ro->halted_by_gate)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "a health gate halted this rollout: it cannot be resumed; "
                              "release a fixed version and start a new rollout");
        if (ro->rolling_back)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "this rollout is being rolled back: it cannot be resumed");
        ro->state = RF_ROLLOUT_RUNNING;
        ro->halted_at = RF_NEVER;
        d.action = RF_DECIDE_HOLD;
        snprintf(d.reason, sizeof(d.reason), "resumed by an operator at wave %s", wname);
        break;
    case RF_OP_ROLLBACK:
        if (ro->state == RF_ROLLOUT_COMPLETE)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                              "the rollout is complete: release the last good content as a "
                              "new version instead");
        if (ro->rolling_back)
            return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "the rollout is already rolling back");
        if (ro->state == RF_ROLLOUT_RUNNING)
            halt(ro, now);
        ro->rolling_back = 1;
        d.action = RF_DECIDE_HALT;
        snprintf(d.reason, sizeof(d.reason),
                 "rollback by an operator at wave %s: hosts that took it get version %llu "
                 "(the last good content)", wname, (unsigned long long)ro->rollback_version);
        break;
    default:
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "unknown operator action %d", (int)op);
    }
    fill_evidence(ro, &d.ev, "operator", 0, 0, ro->wave_took[ro->wave],
                  ro->wave_hosts[ro->wave]);
    *out = d;
    return RF_OK;
}

uint64_t rf_rollout_wave_hosts(const rf_rollout *ro, uint32_t wave)
{
    return wave < RF_MAX_WAVES ? ro->wave_hosts[wave] : 0;
}

uint64_t rf_rollout_wave_took(const rf_rollout *ro, uint32_t wave)
{
    return wave < RF_MAX_WAVES ? ro->wave_took[wave] : 0;
}

uint64_t rf_rollout_wave_reports(const rf_rollout *ro, uint32_t wave)
{
    return wave < RF_MAX_WAVES ? ro->wave_reports[wave] : 0;
}
