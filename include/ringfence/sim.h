/*
 * sim.h — the discrete-event fleet simulator: replays a content release over
 * a whole fleet (millions of hosts) for a simulated day or so, driving the
 * real rollout engine (rf_rollout_*) exactly as the server will, and reports
 * what happened to the hosts: how many took the release, crashed, stayed
 * down, recovered by themselves or need a person, when the rollout halted,
 * and how fast good content reached the fleet. It answers "what would this
 * release and this plan have done to the fleet" before anything ships, and
 * replays the 19 July failure with and without ringfence's layers.
 *
 * The simulator never decides who gets what: eligibility, waves, gates and
 * rollback come from the engine. It models only the hosts (check-ins with a
 * fixed phase and jitter, crashes, reboots, the boot guard, background
 * noise) and the server's silence detection. Everything is drawn from
 * counter-based random numbers keyed by the seed, so the same seed gives
 * the same run, byte for byte. See docs/gates-sim.md.
 */
#ifndef RINGFENCE_SIM_H
#define RINGFENCE_SIM_H

#include <stdint.h>
#include <stdio.h>

#include "ringfence/ringfence.h"
#include "ringfence/rollout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest simulated run: the calendar queue has one bucket per second
 * (8 bytes each), so 31 days is 21 MiB of buckets; a GA delay is at most
 * 72 h, so a month covers any rollout. */
#define RF_SIM_MAX_DURATION_S (31u * 86400u)

/* What the release does to a host that takes it. */
typedef enum rf_sim_scenario {
    RF_SIM_GOOD = 0,         /* nothing: good content */
    RF_SIM_JULY19 = 1,       /* hosts whose sensor supplies fewer inputs than the
                                release requires crash on load; the release claims
                                every sensor can run it */
    RF_SIM_LATENT_CRASH = 2, /* every host crashes latent_delay_s after taking it */
    RF_SIM_CPU_SPIKE = 3,    /* per-event CPU cost x10 on hosts running it */
    RF_SIM_FP_STORM = 4,     /* detections x50 on hosts running it */
} rf_sim_scenario;

typedef enum rf_sim_strategy {
    RF_SIM_RINGFENCE = 0, /* the plan's waves, bakes and gates, and the boot guard */
    RF_SIM_PUSH_ALL = 1,  /* every host at once: no waves, no gates, no boot guard,
                             customer policies ignored (the 19 July pipeline) */
} rf_sim_strategy;

/* The names used on the command line ("july19", "push-all"); NULL if out of range. */
const char *rf_sim_scenario_name(rf_sim_scenario s);
const char *rf_sim_strategy_name(rf_sim_strategy s);
/* Parse those names; RF_E_USAGE if unknown. */
rf_rc rf_sim_scenario_parse(const char *s, rf_sim_scenario *out) RF_WUR;
rf_rc rf_sim_strategy_parse(const char *s, rf_sim_strategy *out) RF_WUR;

typedef struct rf_sim_opts {
    rf_sim_scenario scenario;
    rf_sim_strategy strategy;
    int gates;       /* ringfence: act on a HALT (0: the gates never stop the rollout) */
    int boot_guard;  /* ringfence: hosts revert by themselves after failed boots */
    int emergency;   /* an emergency release: the plan's emergency bakes */
    uint64_t seed;
    uint32_t duration_s;      /* simulated time, 1 .. RF_SIM_MAX_DURATION_S */
    uint32_t step_s;          /* rf_rollout_step every step_s simulated seconds, 1 .. 300 */
    uint32_t latent_delay_s;  /* latent-crash: time from taking it to the crash */
    double noise_silence;     /* per host per day: powered off for a while, then back */
    double noise_crash;       /* per host per day: crashes for unrelated reasons */
    double sample;            /* share of hosts whose every check-in reports CPU and
                                 detections, (0, 1]; 0: automatic (about 100,000 hosts) */
    uint32_t jitter_s;        /* per-check-in jitter, 0 .. interval/4 */
    uint32_t boot_s;          /* time a reboot takes */
    uint32_t boot_guard_tries;/* failed boots before the boot guard reverts */
    uint32_t confirm_s;       /* 0: a host that took the release first reports at its
                                 next periodic check-in; else it checks in confirm_s
                                 after activating it (the boot guard's confirmation) */
    const rf_plan *plan;      /* NULL: rf_plan_default. Kept only during rf_sim_run */
} rf_sim_opts;

/* The defaults: ringfence strategy, good scenario, gates and boot guard on,
 * seed 1, 24 h, step 15 s, latent delay 60 min, noise 0.02/day silence and
 * 0.001/day crash, automatic sampling, jitter 5 s, boot 120 s, 3 tries,
 * a confirmation check-in 60 s after taking the release (the boot guard
 * confirms the trial and the agent reports it). */
void rf_sim_opts_default(rf_sim_opts *o);

/* Outcome for one class of hosts (customer or vendor-internal); every count
 * is of hosts that check in (offline hosts are left out). */
typedef struct rf_sim_counts {
    uint64_t hosts;          /* hosts that check in */
    uint64_t eligible;       /* in a wave of the rollout (not excluded) */
    uint64_t affected;       /* in a wave, and would crash if they took it */
    uint64_t exposed;        /* took the release */
    uint64_t crashed;        /* crashed because of it */
    double down_hours;       /* host-hours down because of it, to the end of the run */
    uint64_t recovered;      /* crashed, then reverted by the boot guard by themselves */
    uint64_t needing_person; /* crashed and still down at the end: a person must fix it */
    uint64_t rolled_back;    /* took the rollback version */
} rf_sim_counts;

/* One row of the timeline: the state at the end of a simulated minute.
 * Counts are of all hosts (customer and internal) unless named customer_. */
typedef struct rf_sim_minute {
    uint32_t minute;          /* 0, 1, ...: the row covers [60m, 60m + 60) seconds */
    uint64_t exposed;         /* took the release, cumulative */
    uint64_t customer_exposed;
    uint64_t crashed;         /* crashed because of it, cumulative */
    uint64_t customer_crashed;
    uint64_t down;            /* down because of it, now */
    uint64_t recovered;       /* reverted by the boot guard, cumulative */
    uint64_t needing_person;  /* down with no way back but a person, now */
    uint64_t rolled_back;     /* took the rollback, cumulative */
    uint32_t wave;            /* newest open wave */
    int halted;
} rf_sim_minute;

/* Time to reach 50%, 90% and 99% of a denominator; RF_NEVER if not reached. */
#define RF_SIM_NREACH 3
extern const double rf_sim_reach_levels[RF_SIM_NREACH];

typedef struct rf_sim_result {
    /* the run */
    rf_sim_opts opts;        /* as given (opts.plan is NULL here) */
    char plan_name[RF_NAME_MAX];
    uint32_t checkin_interval_s;
    uint32_t silence_grace_s;
    uint32_t hosts;          /* every host of the fleet, offline included */
    uint32_t offline;        /* hosts that never check in */
    uint32_t tenants;
    uint32_t inputs_required;
    double sample;           /* the sampling share used */

    /* what happened */
    rf_sim_counts customer;  /* hosts of tenants that are not the vendor's own */
    rf_sim_counts internal;
    int64_t first_exposure_s; /* first host took the release; RF_NEVER: none */
    int64_t first_crash_s;    /* first host crashed because of it */
    int64_t halt_s;           /* the engine halted (acted on only if opts.gates) */
    int64_t complete_s;       /* the last wave baked and passed */
    /* customer crashes: when 50/90/99/100% of the customer hosts that crashed
     * during the run had crashed (seconds from the start) */
    int64_t crash_reach_s[4];

    /* good content reaching the fleet. For the good scenario, the release:
     * denominators are hosts in an opened wave (eligible) and those of them
     * whose eligibility came with no GA delay (nodelay); times are from the
     * start. Otherwise, the rollback: the denominator is the hosts that took
     * the release, which count once they run good content again (rollback
     * or boot-guard revert); times are from the halt. */
    int good_is_rollback;
    uint64_t good_denominator;
    int64_t good_reach_s[RF_SIM_NREACH];
    uint64_t good_denominator_nodelay;
    int64_t good_reach_nodelay_s[RF_SIM_NREACH];
    int all_waves_opened;    /* the denominators above cover every wave */

    /* the plan as run */
    uint32_t nwaves;
    char wave_name[RF_MAX_WAVES][RF_NAME_MAX];
    int64_t wave_opened_s[RF_MAX_WAVES]; /* RF_NEVER: never opened */

    /* every decision other than HOLD, in order, with its evidence */
    uint32_t ndecisions;
    rf_decision *decisions;
    uint64_t holds;          /* HOLD decisions (not listed) */

    uint32_t nminutes;
    rf_sim_minute *timeline;

    /* work done */
    uint64_t events;         /* simulator events processed */
    uint64_t reports;        /* reports fed to rf_rollout_observe */
    uint64_t steps;          /* rf_rollout_step calls */
    uint64_t noise_silences; /* background outages drawn */
    uint64_t noise_crashes;
} rf_sim_result;

/*
 * Run one simulation of `fleet` with `opts` (NULL: defaults). The fleet and
 * opts->plan are only read, and only during the call. On RF_OK, *out is a
 * new result owned by the caller (rf_sim_result_free). RF_E_USAGE for
 * options out of range, RF_E_SCHEMA for a plan or fleet the engine refuses
 * (the engine's message), RF_E_NOMEM.
 */
rf_rc rf_sim_run(const rf_fleet *fleet, const rf_sim_opts *opts, rf_sim_result **out,
                 rf_err *err) RF_WUR;
void rf_sim_result_free(rf_sim_result *r);

/* Writers. Each writes to f and returns RF_E_IO if the stream reports an
 * error, else RF_OK. Output depends only on the result, so the same seed
 * gives identical output. */
/* A summary for a person: outcome table, times, waves and decisions. */
rf_rc rf_sim_write_text(const rf_sim_result *r, FILE *f) RF_WUR;
/* The same as one JSON object (docs/gates-sim.md lists the fields). */
rf_rc rf_sim_write_json(const rf_sim_result *r, FILE *f) RF_WUR;
/* timeline.csv: a header, then one row per simulated minute. */
rf_rc rf_sim_write_timeline(const rf_sim_result *r, FILE *f) RF_WUR;
/* marks.csv: the moments to draw as vertical lines (wave openings, the
 * halt): "minute,label". */
rf_rc rf_sim_write_marks(const rf_sim_result *r, FILE *f) RF_WUR;

#ifdef __cplusplus
}
#endif
#endif
