/*
 * sim.c — the discrete-event fleet simulator (sim.h, docs/gates.md).
 *
 * Hosts are compact arrays (16 bits of state, a wave index, the second they
 * went down). Time advances through the calendar queue one simulated second
 * at a time; only the events that can change something are scheduled:
 *
 *  - a host's check-in at or after the time the engine makes it eligible
 *    (it asks rf_rollout_assignment and takes the release or the rollback);
 *  - its first check-in after taking it (a CHECKIN report: the engine's
 *    min_reports);
 *  - the check-ins of a sampled share of hosts, treated or not, which
 *    report per-event CPU cost and detections (the gates' baseline);
 *  - a crash caused by the content and the reboots that follow, the boot
 *    guard's revert, or nothing more when there is no boot guard;
 *  - background outages and unrelated crashes, the same for every host;
 *  - the server's silence check: a host that went down and has not checked
 *    in for interval + grace is reported SILENT, and BACK when it returns.
 *
 * A host's check-ins are phase(h) + k * interval + jitter(h, k), so its
 * next check-in after any time is computed, never stepped to. Every random
 * draw is a hash of (seed, purpose, host, index): the run does not depend
 * on the order in which draws are made, and the same seed gives the same
 * run. rf_rollout_step is called every opts.step_s seconds.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ringfence/sim.h"
#include "sim/sim_int.h"

const double rf_sim_reach_levels[RF_SIM_NREACH] = {0.50, 0.90, 0.99};

/* ---- model constants ---------------------------------------------------------------- */

#define LOAD_S 5                /* from check-in (or boot) to content loaded */
#define NOISE_OFF_MEAN_S 28800.0  /* a powered-off host is off 8 h on average */
#define NOISE_CRASH_MEAN_S 1800.0 /* an unrelated crash keeps a host down 30 min on average */
#define CPU_BASE_NS 3000.0      /* per-event CPU cost of a typical host */
#define CPU_HOST_SD 0.25        /* spread of ln(cost) between hosts */
#define CPU_REPORT_SD 0.10      /* spread of ln(cost) between reports of one host */
#define CPU_SPIKE 10.0          /* cpu-spike: cost multiplier */
#define DET_PER_CHECKIN 0.05    /* detections per host per check-in interval (5 min) */
#define DET_HOST_SD 0.30        /* spread of ln(rate) between hosts */
#define FP_STORM 50.0           /* fp-storm: detection multiplier */
#define AUTO_SAMPLED_HOSTS 100000.0 /* sample share 0: about this many reporting hosts */
/* Hosts are sampled in blocks of consecutive ids: every host still has the
 * same chance, independent of its wave (waves are by hashed rank), and the
 * sampled hosts' state shares cache lines, which makes their check-ins,
 * most of a run's events, several times cheaper. */
#define SAMPLE_BLOCK 16u
#define DRAIN_BUF 4096u
#define MAX_NOISE_EVENTS 1e8    /* outages drawn per run: 0.8 GB of queued events at most */

/* Purposes of the hashed draws. */
enum {
    P_PHASE = 1,
    P_JITTER,
    P_SAMPLE,
    P_CPU_HOST,
    P_CPU,
    P_DET_HOST,
    P_DET,
    P_NOISE,
    P_NOISE_DUR,
};

/* Event kinds (low 8 bits of rfsim_event.what; data above). */
enum {
    EV_ASSIGN = 1,    /* a check-in at which the host asks for its assignment */
    EV_REPORT1,       /* first check-in after taking the release */
    EV_SAMPLE,        /* a sampled host's check-in (it reports CPU and detections) */
    EV_UP_CHECKIN,    /* first check-in after coming back up */
    EV_CRASH,         /* the content crashes the host */
    EV_BOOT,          /* a crashed host finishes booting (data: boot number) */
    EV_SILENT_CHECK,  /* the server's deadline for a host that went down */
    EV_NOISE_DOWN,    /* background outage (data 0) or unrelated crash (data 1) */
    EV_NOISE_UP,      /* the outage is over */
};

/* Host state bits. */
enum {
    F_TOOK = 1u << 0,          /* took the release at some time */
    F_RUNS = 1u << 1,          /* runs it now (treated) */
    F_DOWN = 1u << 2,          /* not running at all */
    F_CONTENT = 1u << 3,       /* down because the content crashes it */
    F_NOISE = 1u << 4,         /* down for an unrelated reason */
    F_AWAIT = 1u << 5,         /* went down and has not checked in since */
    F_SILENT = 1u << 6,        /* reported SILENT; BACK is due at its next check-in */
    F_SILENT_TREATED = 1u << 7,
    F_REFUSED = 1u << 8,       /* the boot guard marked the release bad */
    F_PENDING_REVERT = 1u << 9,/* REVERT is due at its next check-in */
    F_ROLLED_BACK = 1u << 10,
    F_CRASH_PENDING = 1u << 11,/* the content crashed it while it was off */
    F_SAMPLED = 1u << 12,
    F_CUSTOMER = 1u << 13,
    F_AFFECTED = 1u << 14,     /* the content would crash it */
    F_OFFLINE = 1u << 15,
};

#define NO_WAVE 0xffu

typedef struct sim {
    const rf_sim_opts *o;
    const rf_fleet *fleet;
    rf_rollout *ro;
    rf_sim_result *res;
    uint64_t seed;
    int64_t I, G, J, end;
    int boot_guard;

    uint32_t nhosts;
    uint16_t *flags;
    uint8_t *wave;
    uint32_t *down_since;
    uint32_t *wave_hosts;              /* hosts of each wave, wave by wave */
    uint32_t wave_off[RF_MAX_WAVES + 1];
    uint32_t nwaves;
    int64_t opened_upto;               /* waves [0, opened_upto) have been scheduled */

    rfsim_calq q;
    rfsim_event *buf;

    /* per second of the run: counts to turn into reach times */
    uint32_t *took_ps, *took_nodelay_ps, *good_ps, *crash_ps;

    /* live counts, all hosts */
    uint64_t exposed, cexposed, crashed, ccrashed, down, recovered, needing, rolled_back;
    uint64_t eligible, eligible_nodelay; /* hosts of opened waves, when they opened */
    int64_t down_s_customer, down_s_internal;
    int halted;
    rf_rc rc; /* first push failure */
} sim;

/* ---- check-in times ------------------------------------------------------------------ */

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline int64_t phase_of(const sim *s, uint32_t h)
{
    return (int64_t)(rfsim_hash(s->seed, P_PHASE, h, 0) % (uint64_t)s->I);
}

static inline int64_t checkin_k(const sim *s, uint32_t h, int64_t ph, int64_t k)
{
    int64_t j = s->J ? (int64_t)(rfsim_hash(s->seed, P_JITTER, h, (uint64_t)k) %
                                 (uint64_t)(s->J + 1))
                     : 0;
    return ph + k * s->I + j;
}

/* The host's first check-in at or after t. */
static int64_t next_checkin(const sim *s, uint32_t h, int64_t t)
{
    int64_t ph = phase_of(s, h);
    int64_t k = floor_div(t - ph - s->J, s->I);
    for (int i = 0; i < 4; i++, k++) {
        int64_t c = checkin_k(s, h, ph, k);
        if (c >= t)
            return c;
    }
    return checkin_k(s, h, ph, k); /* unreachable: jitter < interval */
}

/* The host's last check-in at or before t. */
static int64_t prev_checkin(const sim *s, uint32_t h, int64_t t)
{
    int64_t ph = phase_of(s, h);
    int64_t k = floor_div(t - ph, s->I);
    for (int i = 0; i < 4; i++, k--) {
        int64_t c = checkin_k(s, h, ph, k);
        if (c <= t)
            return c;
    }
    return checkin_k(s, h, ph, k);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static inline void push(sim *s, int64_t t, uint32_t h, uint32_t kind, uint32_t data)
{
    rf_rc rc = rfsim_calq_push(&s->q, t, (rfsim_event){h, kind | (data << 8)});
    if (rc != RF_OK && s->rc == RF_OK)
        s->rc = rc;
}

static inline void observe(sim *s, int64_t t, uint32_t h, rf_report_kind kind, int treated,
                           double value)
{
    rf_health_report r = {.t = t, .host = h, .kind = kind, .treated = treated, .value = value};
    rf_rollout_observe(s->ro, &r);
    s->res->reports++;
}

static inline rf_sim_counts *cls(sim *s, uint32_t h)
{
    return (s->flags[h] & F_CUSTOMER) ? &s->res->customer : &s->res->internal;
}

/* A standard normal draw, near enough for the model and cheap: the sum of
 * four 16-bit uniforms (Irwin-Hall), centred and scaled to variance 1; its
 * tails stop at +-3.46. */
static double normal_of(uint64_t x)
{
    double sum = (double)(x & 0xffffu) + (double)((x >> 16) & 0xffffu) +
                 (double)((x >> 32) & 0xffffu) + (double)(x >> 48);
    return (sum * 0x1.0p-16 - 2.0) * 1.7320508075688772;
}

/* Poisson(mu) by inversion from one uniform; normal beyond mu 50. */
static double poisson_of(uint64_t x, double mu)
{
    if (mu <= 0.0)
        return 0.0;
    if (mu > 50.0) {
        double v = floor(mu + sqrt(mu) * normal_of(x) + 0.5);
        return v < 0.0 ? 0.0 : v;
    }
    double u = rfsim_unit(x), p = exp(-mu), cdf = p;
    uint32_t k = 0;
    while (u > cdf && k < 1000) {
        k++;
        p *= mu / k;
        cdf += p;
    }
    return (double)k;
}

/* ---- host events --------------------------------------------------------------------------- */

static void take(sim *s, uint32_t h, int64_t t)
{
    uint16_t f = s->flags[h];
    f |= F_TOOK | F_RUNS;
    s->flags[h] = f;
    observe(s, t, h, RF_REPORT_TOOK, 1, 0.0);
    cls(s, h)->exposed++;
    s->exposed++;
    if (f & F_CUSTOMER)
        s->cexposed++;
    if (s->res->first_exposure_s == RF_NEVER)
        s->res->first_exposure_s = t;
    s->took_ps[t]++;
    if (s->wave[h] != NO_WAVE &&
        rf_rollout_eligible_at(s->ro, h) <= rf_rollout_wave_opened(s->ro, s->wave[h]))
        s->took_nodelay_ps[t]++;

    int crash_on_load = (f & F_AFFECTED) && s->o->scenario == RF_SIM_JULY19;
    if (f & F_AFFECTED)
        push(s, t + (crash_on_load ? LOAD_S : (int64_t)s->o->latent_delay_s), h, EV_CRASH, 0);
    if (crash_on_load)
        return; /* it never gets as far as reporting */
    if (s->o->confirm_s)
        push(s, t + (int64_t)s->o->confirm_s, h, EV_REPORT1, 0);
    else if (!(f & F_SAMPLED))
        push(s, next_checkin(s, h, t + 1), h, EV_REPORT1, 0);
}

static void rollback(sim *s, uint32_t h, int64_t t)
{
    s->flags[h] = (uint16_t)((s->flags[h] & ~F_RUNS) | F_ROLLED_BACK);
    cls(s, h)->rolled_back++;
    s->rolled_back++;
    s->good_ps[t]++;
}

/* The host went down at t (it was up): the server will look for it at its
 * deadline. */
static void went_down(sim *s, uint32_t h, int64_t t)
{
    if (s->flags[h] & F_AWAIT)
        return; /* came back and has not checked in yet: the old deadline stands */
    s->flags[h] |= F_AWAIT;
    s->down_since[h] = (uint32_t)t;
    push(s, prev_checkin(s, h, t) + s->I + s->G, h, EV_SILENT_CHECK, 0);
}

static void crash_start(sim *s, uint32_t h, int64_t t)
{
    s->flags[h] |= F_DOWN | F_CONTENT;
    went_down(s, h, t);
    rf_sim_counts *c = cls(s, h);
    c->crashed++;
    s->crashed++;
    s->down++;
    if (s->flags[h] & F_CUSTOMER) {
        s->ccrashed++;
        s->crash_ps[t]++;
        s->down_s_customer += s->end - t;
    } else {
        s->down_s_internal += s->end - t;
    }
    if (s->res->first_crash_s == RF_NEVER)
        s->res->first_crash_s = t;
    if (s->boot_guard)
        push(s, t + (int64_t)s->o->boot_s, h, EV_BOOT, 1);
    else
        s->needing++;
}

/* A boot guard revert at t: last-known-good content, the release marked bad. */
static void revert(sim *s, uint32_t h, int64_t t)
{
    uint16_t f = s->flags[h];
    f = (uint16_t)(f & ~(F_DOWN | F_CONTENT | F_RUNS | F_CRASH_PENDING));
    f |= F_REFUSED | F_PENDING_REVERT;
    s->flags[h] = f;
    cls(s, h)->recovered++;
    s->recovered++;
    s->down--;
    if (f & F_CUSTOMER)
        s->down_s_customer -= s->end - t;
    else
        s->down_s_internal -= s->end - t;
    s->good_ps[t]++;
    if (!(f & F_SAMPLED))
        push(s, next_checkin(s, h, t + 1), h, EV_UP_CHECKIN, 0);
}

enum { MODE_PLAIN, MODE_REPORT1, MODE_SAMPLE };

static void report_health(sim *s, uint32_t h, int64_t t, int runs, int64_t k)
{
    const rf_sim_opts *o = s->o;
    double cpu = CPU_BASE_NS *
                 exp(CPU_HOST_SD * normal_of(rfsim_hash(s->seed, P_CPU_HOST, h, 0)) +
                     CPU_REPORT_SD * normal_of(rfsim_hash(s->seed, P_CPU, h, (uint64_t)k)));
    double mu = DET_PER_CHECKIN *
                exp(DET_HOST_SD * normal_of(rfsim_hash(s->seed, P_DET_HOST, h, 0)) -
                    DET_HOST_SD * DET_HOST_SD / 2.0);
    if (runs && o->scenario == RF_SIM_CPU_SPIKE)
        cpu *= CPU_SPIKE;
    if (runs && o->scenario == RF_SIM_FP_STORM)
        mu *= FP_STORM;
    observe(s, t, h, RF_REPORT_CPU, runs, cpu);
    observe(s, t, h, RF_REPORT_DETECTIONS, runs,
            poisson_of(rfsim_hash(s->seed, P_DET, h, (uint64_t)k), mu));
}

/* A check-in of an up host at t. */
static void checkin(sim *s, uint32_t h, int64_t t, int mode)
{
    uint16_t f = s->flags[h];
    if (f & F_DOWN)
        return;
    if (f & F_AWAIT) {
        f = (uint16_t)(f & ~F_AWAIT);
        if (f & F_SILENT) {
            observe(s, t, h, RF_REPORT_BACK, (f & F_SILENT_TREATED) != 0, 0.0);
            f = (uint16_t)(f & ~(F_SILENT | F_SILENT_TREATED));
        }
    }
    if (f & F_PENDING_REVERT) {
        observe(s, t, h, RF_REPORT_REVERT, 1, 0.0);
        f = (uint16_t)(f & ~F_PENDING_REVERT);
    }
    s->flags[h] = f;
    int runs = (f & F_RUNS) != 0;
    /* The reports cover the interval since the last check-in, with the
     * content the host ran then; only then does it ask what to run next.
     * (A host taking the release still reports as a control host: without
     * that, the control group would fall silent while a wave opens.) */
    if (mode == MODE_REPORT1 && runs)
        observe(s, t, h, RF_REPORT_CHECKIN, 1, 0.0);
    if (mode == MODE_SAMPLE) {
        if (runs)
            observe(s, t, h, RF_REPORT_CHECKIN, 1, 0.0);
        report_health(s, h, t, runs, t);
    }
    rf_assign a = rf_rollout_assignment(s->ro, h, t, runs);
    if (a == RF_ASSIGN_RELEASE && !(f & (F_TOOK | F_REFUSED | F_ROLLED_BACK)))
        take(s, h, t);
    else if (a == RF_ASSIGN_ROLLBACK && runs)
        rollback(s, h, t);
}

static void silent_check(sim *s, uint32_t h, int64_t t)
{
    uint16_t f = s->flags[h];
    if (!(f & F_AWAIT) || (f & F_SILENT))
        return;
    if (prev_checkin(s, h, s->down_since[h]) + s->I + s->G > t)
        return; /* an older deadline, from before the current outage */
    int runs = (f & F_RUNS) != 0;
    observe(s, t, h, RF_REPORT_SILENT, runs, 0.0);
    s->flags[h] = (uint16_t)(f | F_SILENT | (runs ? F_SILENT_TREATED : 0));
}

static void noise_down(sim *s, uint32_t h, int64_t t, uint32_t kind)
{
    if (s->flags[h] & F_DOWN)
        return;
    s->flags[h] |= F_DOWN | F_NOISE;
    went_down(s, h, t);
    double u = rfsim_unit(rfsim_hash(s->seed, P_NOISE_DUR, h, (uint64_t)t)) + 0x1.0p-54;
    double mean = kind ? NOISE_CRASH_MEAN_S : NOISE_OFF_MEAN_S;
    double d = -mean * log(u) + (kind ? (double)s->o->boot_s : 0.0);
    if (d > (double)s->end)
        d = (double)s->end;
    push(s, t + 1 + (int64_t)d, h, EV_NOISE_UP, 0);
}

static void noise_up(sim *s, uint32_t h, int64_t t)
{
    uint16_t f = s->flags[h];
    if (!(f & F_NOISE))
        return;
    f = (uint16_t)(f & ~(F_DOWN | F_NOISE));
    s->flags[h] = f;
    if ((f & F_CRASH_PENDING) && (f & F_RUNS)) {
        s->flags[h] = (uint16_t)(f & ~F_CRASH_PENDING);
        crash_start(s, h, t); /* it boots, loads the content and crashes again */
        return;
    }
    if (!(f & F_SAMPLED))
        push(s, next_checkin(s, h, t + 1), h, EV_UP_CHECKIN, 0);
}

static void event(sim *s, rfsim_event ev, int64_t t)
{
    uint32_t h = ev.host, kind = ev.what & 0xffu, data = ev.what >> 8;
    switch (kind) {
    case EV_ASSIGN:
    case EV_UP_CHECKIN:
        checkin(s, h, t, MODE_PLAIN);
        break;
    case EV_REPORT1:
        checkin(s, h, t, MODE_REPORT1);
        break;
    case EV_SAMPLE:
        checkin(s, h, t, MODE_SAMPLE);
        push(s, next_checkin(s, h, t + 1), h, EV_SAMPLE, 0);
        break;
    case EV_CRASH: {
        uint16_t f = s->flags[h];
        if (!(f & F_RUNS) || (f & F_CONTENT))
            break;
        if (f & F_DOWN) {
            s->flags[h] |= F_CRASH_PENDING;
            break;
        }
        crash_start(s, h, t);
        break;
    }
    case EV_BOOT:
        if (!(s->flags[h] & F_CONTENT))
            break;
        if (data <= s->o->boot_guard_tries)
            push(s, t + LOAD_S + (int64_t)s->o->boot_s, h, EV_BOOT, data + 1);
        else
            revert(s, h, t);
        break;
    case EV_SILENT_CHECK:
        silent_check(s, h, t);
        break;
    case EV_NOISE_DOWN:
        noise_down(s, h, t, data);
        break;
    case EV_NOISE_UP:
        noise_up(s, h, t);
        break;
    default:
        break;
    }
    s->res->events++;
}

/* The events of one second concern hosts all over the fleet, so nearly
 * every one starts with cache misses on the host's state and on the fleet
 * arrays the engine reads. Ask for them ahead: the host's own entries
 * PREFETCH_AHEAD events early, its group once its group index has arrived. */
#define PREFETCH_AHEAD 16u

static inline void prefetch(const sim *s, const rf_fleet *f, uint32_t far, uint32_t near)
{
    if (far != UINT32_MAX) {
        __builtin_prefetch(&s->flags[far]);
        __builtin_prefetch(&f->host_group[far]);
        __builtin_prefetch(&f->host_sensor[far]);
    }
    if (near != UINT32_MAX)
        __builtin_prefetch(&f->groups[f->host_group[near]]);
}

/* ---- the rollout ----------------------------------------------------------------------- */

/* Schedule the eligibility check-in of every host of waves the engine has
 * opened since last time. */
static void open_waves(sim *s, int64_t now)
{
    int64_t cur = (int64_t)rf_rollout_wave(s->ro);
    if (rf_rollout_wave_opened(s->ro, (uint32_t)cur) == RF_NEVER)
        return;
    for (int64_t w = s->opened_upto; w <= cur && w < (int64_t)s->nwaves; w++) {
        int64_t opened = rf_rollout_wave_opened(s->ro, (uint32_t)w);
        for (uint32_t i = s->wave_off[w]; i < s->wave_off[w + 1]; i++) {
            uint32_t h = s->wave_hosts[i];
            int64_t e = rf_rollout_eligible_at(s->ro, h);
            if (e == RF_NEVER)
                continue;
            s->eligible++;
            s->eligible_nodelay += e <= opened;
            if (e >= s->end || (s->flags[h] & F_SAMPLED))
                continue; /* after the run; or asks at every check-in anyway */
            push(s, next_checkin(s, h, e > now + 1 ? e : now + 1), h, EV_ASSIGN, 0);
        }
    }
    if (cur + 1 > s->opened_upto)
        s->opened_upto = cur + 1;
}

/* A halt the simulator acts on: every host running the release asks at its
 * next check-in and is told to roll back. Down hosts ask when they are up. */
static void halt(sim *s, int64_t t)
{
    s->halted = 1;
    for (uint32_t h = 0; h < s->nhosts; h++) {
        uint16_t f = s->flags[h];
        if ((f & F_RUNS) && !(f & (F_DOWN | F_SAMPLED)))
            push(s, next_checkin(s, h, t + 1), h, EV_ASSIGN, 0);
    }
}

static rf_rc add_decision(rf_sim_result *r, const rf_decision *d, uint32_t *cap)
{
    if (r->ndecisions == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 32;
        rf_decision *nd = realloc(r->decisions, (size_t)nc * sizeof(*nd));
        if (!nd)
            return RF_E_NOMEM;
        r->decisions = nd;
        *cap = nc;
    }
    r->decisions[r->ndecisions++] = *d;
    return RF_OK;
}

static void snapshot(sim *s, rf_sim_minute *m, uint32_t minute)
{
    m->minute = minute;
    m->exposed = s->exposed;
    m->customer_exposed = s->cexposed;
    m->crashed = s->crashed;
    m->customer_crashed = s->ccrashed;
    m->down = s->down;
    m->recovered = s->recovered;
    m->needing_person = s->needing;
    m->rolled_back = s->rolled_back;
    m->wave = rf_rollout_wave(s->ro);
    m->halted = rf_rollout_state_of(s->ro) == RF_ROLLOUT_HALTED;
}

/* Times (from `from`) at which the running sum of ps[from..] reaches each
 * level of den. */
static void reach(const uint32_t *ps, int64_t n, int64_t from, uint64_t den,
                  const double *levels, int nlevels, int64_t *out)
{
    for (int i = 0; i < nlevels; i++)
        out[i] = RF_NEVER;
    if (den == 0 || from < 0 || from >= n)
        return;
    uint64_t sum = 0;
    int next = 0;
    for (int64_t t = from; t < n && next < nlevels; t++) {
        sum += ps[t];
        while (next < nlevels && (double)sum >= levels[next] * (double)den - 1e-9) {
            out[next] = t - from;
            next++;
        }
    }
}

/* ---- setup ---------------------------------------------------------------------------------- */

const char *rf_sim_scenario_name(rf_sim_scenario s)
{
    switch (s) {
    case RF_SIM_GOOD: return "good";
    case RF_SIM_JULY19: return "july19";
    case RF_SIM_LATENT_CRASH: return "latent-crash";
    case RF_SIM_CPU_SPIKE: return "cpu-spike";
    case RF_SIM_FP_STORM: return "fp-storm";
    }
    return NULL;
}

const char *rf_sim_strategy_name(rf_sim_strategy s)
{
    switch (s) {
    case RF_SIM_RINGFENCE: return "ringfence";
    case RF_SIM_PUSH_ALL: return "push-all";
    }
    return NULL;
}

rf_rc rf_sim_scenario_parse(const char *str, rf_sim_scenario *out)
{
    for (int i = RF_SIM_GOOD; i <= RF_SIM_FP_STORM; i++) {
        if (str && strcmp(str, rf_sim_scenario_name((rf_sim_scenario)i)) == 0) {
            *out = (rf_sim_scenario)i;
            return RF_OK;
        }
    }
    return RF_E_USAGE;
}

rf_rc rf_sim_strategy_parse(const char *str, rf_sim_strategy *out)
{
    for (int i = RF_SIM_RINGFENCE; i <= RF_SIM_PUSH_ALL; i++) {
        if (str && strcmp(str, rf_sim_strategy_name((rf_sim_strategy)i)) == 0) {
            *out = (rf_sim_strategy)i;
            return RF_OK;
        }
    }
    return RF_E_USAGE;
}

void rf_sim_opts_default(rf_sim_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->scenario = RF_SIM_GOOD;
    o->strategy = RF_SIM_RINGFENCE;
    o->gates = 1;
    o->boot_guard = 1;
    o->seed = 1;
    o->duration_s = 86400;
    o->step_s = 15;
    o->latent_delay_s = 3600;
    o->noise_silence = 0.02;
    o->noise_crash = 0.001;
    o->sample = 0.0;
    o->jitter_s = 5;
    o->boot_s = 120;
    o->boot_guard_tries = 3;
    o->confirm_s = 60;
}

static rf_rc check_opts(const rf_sim_opts *o, const rf_plan *plan, rf_err *err)
{
    if (!rf_sim_scenario_name(o->scenario) || !rf_sim_strategy_name(o->strategy))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "unknown scenario or strategy");
    if (o->duration_s < 1 || o->duration_s > RF_SIM_MAX_DURATION_S)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "duration must be 1 s .. %u days", RF_SIM_MAX_DURATION_S / 86400);
    if (o->step_s < 1 || o->step_s > 300)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "step must be 1 .. 300 s");
    if (!(o->noise_silence >= 0.0 && o->noise_silence <= 100.0) ||
        !(o->noise_crash >= 0.0 && o->noise_crash <= 100.0))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "noise rates must be 0 .. 100 per host per day");
    if (!(o->sample >= 0.0 && o->sample <= 1.0))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "sample must be in 0 .. 1");
    if (plan->checkin_interval_s < 10 || plan->checkin_interval_s > 86400)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "plan check-in interval must be 10 s .. 1 day");
    if (o->confirm_s > plan->checkin_interval_s)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "the confirmation check-in must come within one check-in interval "
                          "(%u s) of taking the release", plan->checkin_interval_s);
    if (o->latent_delay_s > RF_SIM_MAX_DURATION_S || o->boot_s < 1 || o->boot_s > 3600 ||
        o->boot_guard_tries < 1 || o->boot_guard_tries > 100)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "latent delay, boot time (1 .. 3600 s) or boot guard tries "
                          "(1 .. 100) out of range");
    if (o->jitter_s > plan->checkin_interval_s / 4)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "jitter must be at most a quarter of the check-in interval (%u s)",
                          plan->checkin_interval_s / 4);
    return RF_OK;
}

/* The 19 July pipeline as a plan: one wave of every host, no bake, nothing
 * to wait for (no gates are ever evaluated: rf_rollout_step is not called). */
static void push_all_plan(const rf_plan *base, rf_plan *p)
{
    *p = *base;
    snprintf(p->name, sizeof(p->name), "push-all");
    p->nwaves = 1;
    memset(&p->waves[0], 0, sizeof(p->waves[0]));
    snprintf(p->waves[0].name, sizeof(p->waves[0].name), "everyone");
    p->waves[0].ring = RF_RING_GA;
    p->waves[0].fraction = 1.0;
}

/* The fleet as the 19 July pipeline saw it: no customer policy (no pause,
 * pin or GA delay). Hosts and tenants are shared, not copied; the engine
 * puts every host in the plan's only (GA) wave. */
static rf_rc push_all_fleet(const rf_fleet *f, rf_fleet *view, rf_fleet_group **groups)
{
    *view = *f;
    *groups = calloc(f->ngroups ? f->ngroups : 1, sizeof(**groups));
    if (!*groups)
        return RF_E_NOMEM;
    for (uint32_t i = 0; i < f->ngroups; i++) {
        (*groups)[i] = f->groups[i];
        (*groups)[i].policy = (rf_policy){.mode = RF_POLICY_GA, .emergency_opt_in = 1};
    }
    view->groups = *groups;
    return RF_OK;
}

/* Zeroed memory for a per-host array, in huge pages where the system
 * allows: random access over tens of MiB otherwise spends much of its time
 * on TLB misses. Free with big_free(p, same size). */
static void *big_alloc(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

static void big_free(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

static rf_rc alloc_host_arrays(sim *s, uint32_t n, uint32_t dur)
{
    if (n == 0)
        n = 1;
    s->flags = big_alloc((size_t)n * sizeof(*s->flags));
    s->wave = big_alloc(n);
    s->down_since = big_alloc((size_t)n * sizeof(*s->down_since));
    s->wave_hosts = malloc((size_t)n * sizeof(*s->wave_hosts));
    s->took_ps = calloc(dur, sizeof(uint32_t));
    s->took_nodelay_ps = calloc(dur, sizeof(uint32_t));
    s->good_ps = calloc(dur, sizeof(uint32_t));
    s->crash_ps = calloc(dur, sizeof(uint32_t));
    s->buf = malloc(DRAIN_BUF * sizeof(*s->buf));
    if (!s->flags || !s->wave || !s->down_since || !s->wave_hosts || !s->took_ps ||
        !s->took_nodelay_ps || !s->good_ps || !s->crash_ps || !s->buf)
        return RF_E_NOMEM;
    return RF_OK;
}

static void free_sim(sim *s)
{
    size_t n = s->nhosts ? s->nhosts : 1;
    big_free(s->flags, n * sizeof(*s->flags));
    big_free(s->wave, n);
    big_free(s->down_since, n * sizeof(*s->down_since));
    free(s->wave_hosts);
    free(s->took_ps);
    free(s->took_nodelay_ps);
    free(s->good_ps);
    free(s->crash_ps);
    free(s->buf);
    rfsim_calq_free(&s->q);
    rf_rollout_free(s->ro);
}

/* Per host: class, offline, sampled, affected, wave; and the wave lists. */
static void classify(sim *s, const rf_fleet *fleet, uint32_t inputs_required, double sample)
{
    rf_sim_result *r = s->res;
    uint32_t count[RF_MAX_WAVES] = {0};
    uint64_t sample_cut = sample >= 1.0 ? UINT64_MAX : (uint64_t)(sample * 0x1.0p64);
    for (uint32_t h = 0; h < s->nhosts; h++) {
        uint16_t f = 0;
        uint32_t g = fleet->host_group[h];
        const rf_fleet_group *grp = &fleet->groups[g];
        if (!fleet->tenants[grp->tenant].internal)
            f |= F_CUSTOMER;
        if (fleet->host_flags[h] & RF_HOST_OFFLINE) {
            f |= F_OFFLINE;
            r->offline++;
        }
        uint32_t w = 0;
        s->wave[h] = NO_WAVE;
        rf_sim_counts *c = (f & F_CUSTOMER) ? &r->customer : &r->internal;
        if (!(f & F_OFFLINE)) {
            c->hosts++;
            if (rf_rollout_host_wave(s->ro, h, &w) == RF_EXCL_NONE && w < s->nwaves) {
                s->wave[h] = (uint8_t)w;
                count[w]++;
                c->eligible++;
                int affected = 0;
                if (s->o->scenario == RF_SIM_JULY19)
                    affected = fleet->sensors[fleet->host_sensor[h]].inputs < inputs_required;
                else if (s->o->scenario == RF_SIM_LATENT_CRASH)
                    affected = 1;
                if (affected) {
                    f |= F_AFFECTED;
                    c->affected++;
                }
            }
            if (rfsim_hash(s->seed, P_SAMPLE, h / SAMPLE_BLOCK, 0) < sample_cut ||
                sample >= 1.0)
                f |= F_SAMPLED;
        }
        s->flags[h] = f;
    }
    uint32_t off = 0;
    for (uint32_t w = 0; w < s->nwaves; w++) {
        s->wave_off[w] = off;
        off += count[w];
    }
    s->wave_off[s->nwaves] = off;
    uint32_t fill[RF_MAX_WAVES];
    memcpy(fill, s->wave_off, sizeof(fill));
    for (uint32_t h = 0; h < s->nhosts; h++)
        if (s->wave[h] != NO_WAVE)
            s->wave_hosts[fill[s->wave[h]]++] = h;
}

/* Background noise: a Poisson number of outages and unrelated crashes over
 * the run, each at a uniform host (that checks in) and second. */
static void draw_noise(sim *s, double rate_per_day, uint32_t kind, uint64_t *count)
{
    uint64_t online = (uint64_t)s->nhosts - s->res->offline;
    double lambda = rate_per_day * (double)online * (double)s->end / 86400.0;
    if (lambda <= 0.0 || online == 0)
        return;
    rfsim_rng rng = {rfsim_hash(s->seed, P_NOISE, kind, 0)};
    uint64_t n = (uint64_t)poisson_of(rfsim_rng_next(&rng), lambda);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t h = 0;
        for (int tries = 0; tries < 64; tries++) {
            h = (uint32_t)(((rfsim_rng_next(&rng) >> 32) * (uint64_t)s->nhosts) >> 32);
            if (!(s->flags[h] & F_OFFLINE))
                break;
        }
        if (s->flags[h] & F_OFFLINE)
            continue;
        int64_t t = (int64_t)(((rfsim_rng_next(&rng) >> 32) * (uint64_t)s->end) >> 32);
        push(s, t, h, EV_NOISE_DOWN, kind);
        (*count)++;
    }
}

rf_rc rf_sim_run(const rf_fleet *fleet, const rf_sim_opts *opts, rf_sim_result **out,
                 rf_err *err)
{
    rf_sim_opts defaults;
    if (!opts) {
        rf_sim_opts_default(&defaults);
        opts = &defaults;
    }
    if (!fleet || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_sim_run: no fleet or result");
    if (fleet->nhosts == 0)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "the fleet has no hosts");
    if (fleet->nsensors == 0 || fleet->ngroups == 0 || fleet->ntenants == 0)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0,
                          "the fleet has no sensors, groups or tenants");

    rf_plan base;
    if (opts->plan)
        base = *opts->plan;
    else
        rf_plan_default(&base);
    rf_rc rc = check_opts(opts, &base, err);
    if (rc != RF_OK)
        return rc;

    int push_all = opts->strategy == RF_SIM_PUSH_ALL;
    rf_plan plan;
    if (push_all) {
        push_all_plan(&base, &plan);
    } else {
        plan = base;
        if (!opts->gates) {
            /* No gates: the engine still runs waves, bakes and report
             * counts, but every test looks for an effect so small (and
             * needs evidence so strong) that it never alarms. */
            plan.gates.alpha = 1e-300;
            plan.gates.silence_ratio = 1.0 + 1e-9;
            plan.gates.detect_ratio = 1.0 + 1e-9;
            plan.gates.fail_p1 = plan.gates.fail_p0 * (1.0 + 1e-9);
            plan.gates.cpu_shift = 1e-9;
        }
    }

    sim s;
    memset(&s, 0, sizeof(s));
    s.o = opts;
    s.fleet = fleet;
    s.seed = opts->seed;
    s.I = plan.checkin_interval_s;
    s.G = plan.silence_grace_s;
    s.J = opts->jitter_s;
    s.end = opts->duration_s;
    s.boot_guard = opts->boot_guard && !push_all;
    s.nhosts = fleet->nhosts;
    s.nwaves = plan.nwaves < RF_MAX_WAVES ? plan.nwaves : RF_MAX_WAVES;

    rf_fleet view;
    rf_fleet_group *vgroups = NULL;
    uint8_t *sensor_ok = NULL;
    rf_sim_result *r = calloc(1, sizeof(*r));
    uint32_t dcap = 0;
    if (!r) {
        rc = RF_E_NOMEM;
        goto out_nomem;
    }
    s.res = r;
    r->opts = *opts;
    r->opts.plan = NULL;
    snprintf(r->plan_name, sizeof(r->plan_name), "%s", plan.name);
    r->checkin_interval_s = plan.checkin_interval_s;
    r->silence_grace_s = plan.silence_grace_s;
    r->hosts = fleet->nhosts;
    r->tenants = fleet->ntenants;
    r->first_exposure_s = r->first_crash_s = r->halt_s = r->complete_s = RF_NEVER;
    r->nwaves = s.nwaves;
    for (uint32_t w = 0; w < s.nwaves; w++)
        snprintf(r->wave_name[w], sizeof(r->wave_name[w]), "%s", plan.waves[w].name);

    /* The release: july19 claims every sensor can run it although it needs
     * 21 inputs; the others need what every sensor of the fleet supplies. */
    uint32_t minputs = UINT32_MAX;
    for (uint32_t i = 0; i < fleet->nsensors; i++)
        if (fleet->sensors[i].inputs < minputs)
            minputs = fleet->sensors[i].inputs;
    r->inputs_required = opts->scenario == RF_SIM_JULY19 ? 21u : minputs;
    sensor_ok = malloc(fleet->nsensors);
    if (!sensor_ok) {
        rc = RF_E_NOMEM;
        goto out_nomem;
    }
    for (uint32_t i = 0; i < fleet->nsensors; i++)
        sensor_ok[i] = opts->scenario == RF_SIM_JULY19
                           ? 1
                           : fleet->sensors[i].inputs >= r->inputs_required;
    rf_release rel;
    memset(&rel, 0, sizeof(rel));
    snprintf(rel.channel, sizeof(rel.channel), "channel-291");
    rel.content_version = 2;
    rel.last_good_version = 1;
    rel.inputs_required = r->inputs_required;
    rel.sensor_ok = sensor_ok;
    rel.emergency = opts->emergency;

    const rf_fleet *efleet = fleet;
    if (push_all) {
        rc = push_all_fleet(fleet, &view, &vgroups);
        if (rc != RF_OK)
            goto out_nomem;
        efleet = &view;
    }
    rc = rf_rollout_new(&plan, efleet, &rel, opts->seed, 0, &s.ro, err);
    if (rc != RF_OK)
        goto out;

    rc = alloc_host_arrays(&s, s.nhosts, opts->duration_s);
    if (rc == RF_OK)
        rc = rfsim_calq_init(&s.q, opts->duration_s);
    if (rc != RF_OK)
        goto out_nomem;

    double online = (double)s.nhosts;
    uint64_t noff = 0;
    for (uint32_t h = 0; h < s.nhosts; h++)
        noff += (fleet->host_flags[h] & RF_HOST_OFFLINE) != 0;
    online -= (double)noff;
    /* Noise is drawn up front into the queue: bound what it may cost. */
    double nnoise = (opts->noise_silence + opts->noise_crash) * online *
                    (double)opts->duration_s / 86400.0;
    if (nnoise > MAX_NOISE_EVENTS) {
        rc = rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                        "the noise rates would draw about %.0f outages over this fleet and "
                        "duration, more than %.0f: lower --noise or --noise-crash",
                        nnoise, MAX_NOISE_EVENTS);
        goto out;
    }
    double sample = opts->sample > 0.0 ? opts->sample
                                       : (online > AUTO_SAMPLED_HOSTS ? AUTO_SAMPLED_HOSTS / online
                                                                      : 1.0);
    r->sample = sample;
    classify(&s, fleet, r->inputs_required, sample);

    r->nminutes = (uint32_t)((opts->duration_s + 59) / 60);
    r->timeline = calloc(r->nminutes, sizeof(*r->timeline));
    if (!r->timeline) {
        rc = RF_E_NOMEM;
        goto out_nomem;
    }

    /* Sampled hosts report at every check-in from the start. */
    for (uint32_t h = 0; h < s.nhosts; h++)
        if (s.flags[h] & F_SAMPLED)
            push(&s, next_checkin(&s, h, 0), h, EV_SAMPLE, 0);
    draw_noise(&s, opts->noise_silence, 0, &r->noise_silences);
    draw_noise(&s, opts->noise_crash, 1, &r->noise_crashes);
    open_waves(&s, -1);

    for (int64_t t = 0; t < s.end; t++) {
        size_t n;
        while ((n = rfsim_calq_drain(&s.q, (uint32_t)t, s.buf, DRAIN_BUF)) > 0)
            for (size_t i = 0; i < n; i++) {
                prefetch(&s, fleet, i + PREFETCH_AHEAD < n ? s.buf[i + PREFETCH_AHEAD].host
                                                           : UINT32_MAX,
                         i + PREFETCH_AHEAD / 2 < n ? s.buf[i + PREFETCH_AHEAD / 2].host
                                                    : UINT32_MAX);
                event(&s, s.buf[i], t);
            }
        if (s.rc != RF_OK) {
            rc = s.rc;
            goto out_nomem;
        }
        if (!push_all && t > 0 && t % opts->step_s == 0 &&
            rf_rollout_state_of(s.ro) == RF_ROLLOUT_RUNNING) {
            rf_decision d;
            memset(&d, 0, sizeof(d));
            rf_decide a = rf_rollout_step(s.ro, t, &d);
            r->steps++;
            if (a == RF_DECIDE_HOLD) {
                r->holds++;
            } else {
                rc = add_decision(r, &d, &dcap);
                if (rc != RF_OK)
                    goto out_nomem;
            }
            if (a == RF_DECIDE_PROMOTE)
                open_waves(&s, t);
            else if (a == RF_DECIDE_COMPLETE && r->complete_s == RF_NEVER)
                r->complete_s = t;
            else if (a == RF_DECIDE_HALT && r->halt_s == RF_NEVER) {
                r->halt_s = t;
                if (opts->gates)
                    halt(&s, t);
            }
        }
        if (t % 60 == 59 || t == s.end - 1)
            snapshot(&s, &r->timeline[t / 60], (uint32_t)(t / 60));
    }

    /* The outcome. */
    r->customer.needing_person = 0;
    r->internal.needing_person = 0;
    for (uint32_t h = 0; h < s.nhosts; h++)
        if (s.flags[h] & F_CONTENT)
            cls(&s, h)->needing_person += !s.boot_guard;
    r->customer.down_hours = (double)s.down_s_customer / 3600.0;
    r->internal.down_hours = (double)s.down_s_internal / 3600.0;
    for (uint32_t w = 0; w < s.nwaves; w++)
        r->wave_opened_s[w] = rf_rollout_wave_opened(s.ro, w);
    r->all_waves_opened = s.nwaves > 0 && r->wave_opened_s[s.nwaves - 1] != RF_NEVER;

    uint64_t cfinal = r->customer.crashed;
    static const double crash_levels[4] = {0.50, 0.90, 0.99, 1.0};
    reach(s.crash_ps, s.end, 0, cfinal, crash_levels, 4, r->crash_reach_s);

    if (opts->scenario == RF_SIM_GOOD) {
        uint64_t den = s.eligible, den_nodelay = s.eligible_nodelay;
        r->good_denominator = den;
        r->good_denominator_nodelay = den_nodelay;
        reach(s.took_ps, s.end, 0, den, rf_sim_reach_levels, RF_SIM_NREACH, r->good_reach_s);
        reach(s.took_nodelay_ps, s.end, 0, den_nodelay, rf_sim_reach_levels, RF_SIM_NREACH,
              r->good_reach_nodelay_s);
    } else {
        r->good_is_rollback = 1;
        r->good_denominator = r->customer.exposed + r->internal.exposed;
        reach(s.good_ps, s.end, r->halt_s == RF_NEVER ? -1 : r->halt_s, r->good_denominator,
              rf_sim_reach_levels, RF_SIM_NREACH, r->good_reach_s);
        for (int i = 0; i < RF_SIM_NREACH; i++)
            r->good_reach_nodelay_s[i] = RF_NEVER;
    }

    free_sim(&s);
    free(sensor_ok);
    free(vgroups);
    *out = r;
    return RF_OK;

out_nomem:
    if (rc == RF_E_NOMEM)
        rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory simulating %u hosts",
                   fleet->nhosts);
out:
    free_sim(&s);
    free(sensor_ok);
    free(vgroups);
    rf_sim_result_free(r);
    return rc;
}

void rf_sim_result_free(rf_sim_result *r)
{
    if (!r)
        return;
    free(r->decisions);
    free(r->timeline);
    free(r);
}
