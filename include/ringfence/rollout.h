/*
 * rollout.h — who gets a release and when, and what stops a bad one: fleets
 * and tenant policies, rollout plans (waves, bake times, gates), and the
 * rollout engine, a pure deterministic state machine. The engine does no
 * I/O, reads no clock and draws no random numbers: the caller passes the
 * time of every call and a seed at creation, so the server (real check-ins)
 * and the simulator (simulated ones) get the same decisions from the same
 * inputs. See docs/design-rollout.md and docs/gates.md.
 */
#ifndef RINGFENCE_ROLLOUT_H
#define RINGFENCE_ROLLOUT_H

#include <stdint.h>

#include "ringfence/ringfence.h"
#include "ringfence/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RF_NEVER INT64_MAX /* a time that never comes */
#define RF_MAX_WAVES 32

/* ---- fleets -------------------------------------------------------------- */

typedef enum rf_policy_mode {
    RF_POLICY_GA = 0,     /* general availability, after the tenant's GA delay */
    RF_POLICY_EARLY = 1,  /* early access: the early waves */
    RF_POLICY_PINNED = 2, /* stays on pinned_version; never given another */
    RF_POLICY_PAUSED = 3, /* gets nothing new on this channel */
} rf_policy_mode;

typedef struct rf_policy {
    rf_policy_mode mode;
    uint32_t ga_delay_s;      /* 0 .. 72 h, GA only */
    uint64_t pinned_version;  /* PINNED only */
    int emergency_opt_in;     /* an emergency release may skip the GA delay */
} rf_policy;

typedef struct rf_fleet_tenant {
    char name[RF_NAME_MAX];
    int internal; /* the vendor's own hosts: the internal ring */
} rf_fleet_tenant;

typedef struct rf_fleet_group {
    char name[RF_NAME_MAX];
    uint32_t tenant; /* index into tenants */
    rf_policy policy;
} rf_fleet_group;

typedef struct rf_fleet_sensor {
    char version[RF_SENSOR_VERSION_MAX];
    uint32_t inputs; /* inputs this sensor build supplies to the template type */
} rf_fleet_sensor;

#define RF_HOST_OFFLINE 0x01u /* does not check in at all */

/* A fleet: compact per-host arrays (8.5 million hosts ~ 60 MiB). Owned by
 * whoever made it (rf_fleet_load / rf_fleet_generate); rf_fleet_free. */
typedef struct rf_fleet {
    uint32_t ntenants;
    rf_fleet_tenant *tenants;
    uint32_t ngroups;
    rf_fleet_group *groups;
    uint32_t nsensors;
    rf_fleet_sensor *sensors;
    uint32_t nhosts;
    uint32_t *host_group;  /* group of each host */
    uint16_t *host_sensor; /* sensor build of each host */
    uint8_t *host_flags;   /* RF_HOST_* */
} rf_fleet;

void rf_fleet_free(rf_fleet *f);

/*
 * Read a Fleet YAML document (docs/gates.md, "Fleet files"): sensors with
 * their input counts and shares, tenants with host counts, groups and
 * policies, or a `generate:` section that expands counts and distributions
 * into hosts with rf_fleet_generate. Malformed or impossible descriptions
 * are RF_E_PARSE / RF_E_SCHEMA with file:line:col. Caller frees *out.
 */
rf_rc rf_fleet_load(const char *path, uint64_t seed, rf_fleet **out, rf_err *err) RF_WUR;

/* A generated fleet: heavy-tailed tenant sizes, a policy mix, a sensor
 * version mix, offline hosts and vendor-internal hosts on every sensor. */
typedef struct rf_fleet_gen {
    uint32_t hosts;          /* customer hosts */
    uint32_t tenants;        /* customer tenants */
    uint32_t internal_hosts; /* vendor hosts, spread over every sensor build */
    double offline;          /* share of hosts that never check in */
    double share_early;      /* tenants (by count) with early access */
    double share_delayed;    /* GA with a delay of 1..72 h */
    double share_pinned;
    double share_paused;
    double share_emergency;  /* tenants that opted into emergency releases */
    double tenant_alpha;     /* Pareto shape of tenant sizes (smaller: heavier tail) */
    uint32_t nsensors;       /* 0: the two builds of examples/channel-291 */
    const rf_fleet_sensor *sensors;
    const double *sensor_share;
} rf_fleet_gen;

/* Defaults for the fields of g (hosts and tenants left as given). */
void rf_fleet_gen_default(rf_fleet_gen *g);
rf_rc rf_fleet_generate(const rf_fleet_gen *g, uint64_t seed, rf_fleet **out,
                        rf_err *err) RF_WUR;

/* ---- releases -------------------------------------------------------------- */

typedef struct rf_release {
    char channel[RF_NAME_MAX];
    uint64_t content_version;
    uint64_t last_good_version; /* what a rollback carries (as a new version) */
    uint32_t inputs_required;   /* from the channel file header */
    const uint8_t *sensor_ok;   /* per fleet sensor: 1 if that build can run it */
    int emergency;
} rf_release;

/* ---- plans --------------------------------------------------------------------- */

typedef enum rf_ring {
    RF_RING_INTERNAL = 0,
    RF_RING_EARLY = 1,
    RF_RING_GA = 2,
} rf_ring;

typedef struct rf_wave {
    char name[RF_NAME_MAX];
    rf_ring ring;
    double fraction;           /* cumulative share of the ring's eligible hosts, (0, 1] */
    uint32_t bake_s;           /* time after opening before it may be promoted */
    uint32_t emergency_bake_s; /* the same for an emergency release (never 0 waves skipped) */
    uint32_t min_reports;      /* hosts that must have checked in after taking it */
} rf_wave;

typedef struct rf_gate_params {
    double alpha;           /* false-alarm probability of each test */
    double silence_ratio;   /* silence rate ratio the silence test is tuned to detect */
    double detect_ratio;    /* detection-volume rate ratio */
    double fail_p0;         /* baseline rate of reverts / load failures per host */
    double fail_p1;         /* rate to detect */
    double cpu_shift;       /* ln of the per-event CPU ratio to detect */
    uint32_t cpu_min_control;
} rf_gate_params;

typedef struct rf_plan {
    char name[RF_NAME_MAX];
    uint32_t nwaves;
    rf_wave waves[RF_MAX_WAVES];
    rf_gate_params gates;
    uint32_t checkin_interval_s; /* how often agents check in */
    uint32_t silence_grace_s;    /* silent = no check-in for interval + grace */
} rf_plan;

/* The default plan of DESIGN.md: internal in two steps, early in two
 * growing waves, GA 1%, 5%, 25%, 100%. */
void rf_plan_default(rf_plan *p);

/* Read a Plan YAML document (docs/gates.md, "Plan files") over the
 * defaults, then rf_plan_check it. */
rf_rc rf_plan_load(const char *path, rf_plan *out, rf_err *err) RF_WUR;
/* The same for a document in memory; `name` is used in error messages. */
rf_rc rf_plan_parse(const char *name, const char *buf, size_t len, rf_plan *out,
                    rf_err *err) RF_WUR;

/* Reject impossible plans: no waves, fractions not growing within a ring or
 * outside (0, 1], a ring whose last wave is not 1.0, rings out of order
 * (internal, early, ga), parameters out of range. RF_E_SCHEMA. */
rf_rc rf_plan_check(const rf_plan *p, rf_err *err) RF_WUR;

/* ---- the engine -------------------------------------------------------------------- */

typedef struct rf_rollout rf_rollout;

/*
 * Start a rollout of `rel` over `fleet` with `plan` at time t0 (seconds).
 * The engine keeps pointers to plan, fleet and rel (and rel->sensor_ok):
 * they must outlive it. The first wave opens at t0.
 */
rf_rc rf_rollout_new(const rf_plan *plan, const rf_fleet *fleet, const rf_release *rel,
                     uint64_t seed, int64_t t0, rf_rollout **out, rf_err *err) RF_WUR;
void rf_rollout_free(rf_rollout *ro);

/* Why a host gets nothing from this rollout. */
typedef enum rf_exclusion {
    RF_EXCL_NONE = 0,
    RF_EXCL_PAUSED = 1,
    RF_EXCL_PINNED = 2,
    RF_EXCL_SENSOR = 3, /* its sensor build cannot run the release */
} rf_exclusion;

/* The wave a host belongs to (index into plan->waves), or why none. Static:
 * depends only on the host, the plan, the release and the seed. */
rf_exclusion rf_rollout_host_wave(const rf_rollout *ro, uint32_t host, uint32_t *wave);

/* The earliest time the host may take the release: its wave's opening time
 * plus its tenant's GA delay (waived for an emergency release if the tenant
 * opted in); RF_NEVER if excluded, its wave is not open yet, or the rollout
 * halted before it became eligible. */
int64_t rf_rollout_eligible_at(const rf_rollout *ro, uint32_t host);

typedef enum rf_assign {
    RF_ASSIGN_NONE = 0,     /* keep what it runs */
    RF_ASSIGN_RELEASE = 1,  /* take the release */
    RF_ASSIGN_ROLLBACK = 2, /* took the release; take the rollback version */
} rf_assign;

/* What a host checking in at `now` should be told. took: it runs the release. */
rf_assign rf_rollout_assignment(const rf_rollout *ro, uint32_t host, int64_t now, int took);

typedef enum rf_report_kind {
    RF_REPORT_TOOK = 0,      /* host took the release (first check-in with it) */
    RF_REPORT_CHECKIN = 1,   /* a healthy check-in (value: none) */
    RF_REPORT_SILENT = 2,    /* host missed its check-in by the grace period */
    RF_REPORT_BACK = 3,      /* a silent host checked in again */
    RF_REPORT_REVERT = 4,    /* boot guard reverted to last-known-good */
    RF_REPORT_LOAD_FAIL = 5, /* content failed to load */
    RF_REPORT_CPU = 6,       /* value: mean per-event CPU ns since last report */
    RF_REPORT_DETECTIONS = 7,/* value: detections since last report */
} rf_report_kind;

typedef struct rf_health_report {
    int64_t t;
    uint32_t host;
    rf_report_kind kind;
    int treated; /* the host runs the release */
    double value;
} rf_health_report;

/* Feed one report. Reports must come in non-decreasing time order. */
void rf_rollout_observe(rf_rollout *ro, const rf_health_report *r);

/*
 * Detections counted over a window (the server's: one check-in interval plus
 * the silence grace) instead of one report at a time: `treated` on hosts
 * that ran the release, `control` on the others, while they checked in
 * treated_exposure and control_exposure times (or any measure of the time
 * each group was watched). Under "no harm" the treated share of the
 * detections is the treated share of that exposure, whatever the phase of
 * the hosts' check-ins, which the hosts at risk at one moment cannot give.
 */
void rf_rollout_observe_detections(rf_rollout *ro, int64_t t, uint64_t treated,
                                   uint64_t control, double treated_exposure,
                                   double control_exposure);

typedef enum rf_decide {
    RF_DECIDE_HOLD = 0,
    RF_DECIDE_PROMOTE = 1,  /* the next wave opened */
    RF_DECIDE_HALT = 2,     /* a gate alarmed: nobody new gets it; rollback starts */
    RF_DECIDE_COMPLETE = 3, /* the last wave baked and passed */
} rf_decide;

typedef enum rf_rollout_state {
    RF_ROLLOUT_RUNNING = 0,
    RF_ROLLOUT_HALTED = 1,
    RF_ROLLOUT_COMPLETE = 2,
} rf_rollout_state;

/* What a decision rests on, for the operator. */
typedef struct rf_evidence {
    char signal[32];       /* "silence", "reverts", "load-failures", "cpu", "detections", "bake" */
    double statistic;      /* the test statistic at the decision */
    double threshold;
    uint64_t treated_events;
    uint64_t control_events;
    double treated_exposure_s;
    double control_exposure_s;
    uint64_t treated_hosts;  /* hosts that took the release so far */
    uint64_t reports;        /* check-ins after taking it, this wave */
} rf_evidence;

typedef struct rf_decision {
    int64_t t;
    rf_decide action;
    uint32_t wave;  /* the wave concerned (opened, held, or where it halted) */
    char reason[256];
    rf_evidence ev;
} rf_decision;

/* Evaluate gates and bake at `now`; fills *out (always) and returns the
 * action. A HALT is immediate whatever the bake time; PROMOTE opens the
 * next wave at `now`. */
rf_decide rf_rollout_step(rf_rollout *ro, int64_t now, rf_decision *out);

rf_rollout_state rf_rollout_state_of(const rf_rollout *ro);
/* Index of the newest open wave, and its opening time. */
uint32_t rf_rollout_wave(const rf_rollout *ro);
int64_t rf_rollout_wave_opened(const rf_rollout *ro, uint32_t wave);
/* Rollback version (last good content under a new number), valid once halted. */
uint64_t rf_rollout_rollback_version(const rf_rollout *ro);
/* 1 once hosts that took the release are told to take the rollback: after a
 * gate halt at once, after an operator halt only on RF_OP_ROLLBACK. */
int rf_rollout_rolling_back(const rf_rollout *ro);
/* 1 if a health gate (not an operator) halted it. */
int rf_rollout_halted_by_gate(const rf_rollout *ro);
/* Per-wave counts: hosts of the wave (online at the start), hosts that took
 * it, check-ins after taking it. */
uint64_t rf_rollout_wave_hosts(const rf_rollout *ro, uint32_t wave);
uint64_t rf_rollout_wave_took(const rf_rollout *ro, uint32_t wave);
uint64_t rf_rollout_wave_reports(const rf_rollout *ro, uint32_t wave);

/* What an operator may do to a rollout (the server's halt, resume and
 * rollback). Like every engine input these are replayed from the server's
 * log, so they take the time from the caller too. */
typedef enum rf_operator_op {
    RF_OP_HALT = 0,     /* running -> halted; hosts that took it keep it */
    RF_OP_RESUME = 1,   /* halted by an operator (not a gate, no rollback) -> running */
    RF_OP_ROLLBACK = 2, /* running or halted -> halted, rolling back */
} rf_operator_op;

/* Apply an operator action at `now`; *out describes it (action HALT for halt
 * and rollback, HOLD for resume). An action the state does not allow is
 * RF_E_USAGE with the reason (resuming a gate halt, rolling back a complete
 * rollout, ...), and nothing changes. */
rf_rc rf_rollout_operator(rf_rollout *ro, rf_operator_op op, int64_t now, rf_decision *out,
                          rf_err *err) RF_WUR;

#ifdef __cplusplus
}
#endif
#endif
