/*
 * blast.h — a release's blast radius before it starts: which hosts of a
 * fleet get it in which wave of a plan, who is excluded and why, hosts per
 * tenant and per sensor build, the most customer hosts that can take it
 * before the first health gate can act, and the expected time to reach
 * 50/90/99% of the eligible hosts if every gate passes. Every answer about
 * a host comes from the rollout engine (rf_rollout_host_wave), so what
 * `ringfence plan` shows, what the server's GET /v1/plan answers and what
 * the engine then does are one computation. See docs/gates.md.
 */
#ifndef RINGFENCE_BLAST_H
#define RINGFENCE_BLAST_H

#include <stdint.h>
#include <stdio.h>

#include "ringfence/ringfence.h"
#include "ringfence/rollout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Tenants reported one by one, largest first; the rest are summed as
 * "others". Twenty fit on a screen and show the tenants that matter most
 * (in examples/fleets/july19.yaml, 20 of 50,000 tenants hold 22% of the
 * hosts); the report stays this size whatever the fleet. */
#define RF_BLAST_TOP_TENANTS 20

/* Why an excluded host gets nothing, as the report counts it: each host
 * once, under the first that applies, customer policy before the sensor
 * build (a paused tenant's host on a build that cannot run the release is
 * "paused"), and "offline" only for hosts the engine would give it. */
typedef enum rf_blast_reason {
    RF_BLAST_PAUSED = 0,  /* its tenant's policy pauses the channel */
    RF_BLAST_PINNED = 1,  /* its tenant pins a version */
    RF_BLAST_SENSOR = 2,  /* its sensor build cannot run the release */
    RF_BLAST_OFFLINE = 3, /* never checks in */
} rf_blast_reason;
#define RF_BLAST_NREASONS 4

/* One wave of the plan. Times are seconds after the release starts, if
 * every gate passes. */
typedef struct rf_blast_wave {
    uint64_t hosts;          /* eligible hosts in this wave */
    uint64_t customer_hosts; /* of them, not the vendor's own */
    uint64_t prompt_hosts;   /* of them, no GA delay: can take it as the wave opens */
    int64_t opens_s;
    int64_t lasts_s;         /* until the next wave opens (0: empty, promoted at once) */
} rf_blast_wave;

/* The headline figures (the JSON has them all, plus tenants and sensors). */
typedef struct rf_blast_figures {
    uint64_t hosts;                        /* every host of the fleet */
    uint64_t eligible;                     /* hosts that get it in some wave */
    uint64_t excluded[RF_BLAST_NREASONS];  /* eligible + all of these = hosts */
    uint64_t offline_hosts;                /* offline in all, excluded for another reason too */
    uint64_t internal_hosts, customer_hosts;
    uint32_t nwaves;                       /* the plan's */
    rf_blast_wave waves[RF_MAX_WAVES];
    int64_t complete_s;                    /* the last wave has baked */
    int64_t first_gate_s;                  /* check-in interval + silence grace */
    uint64_t customer_before_first_gate;   /* eligible before first_gate_s */
    uint64_t all_before_first_gate;
    int first_customer_wave;               /* -1: no customer host is eligible */
    int64_t first_customer_wave_baked_s;   /* when that wave has baked (if >= 0) */
    uint64_t customer_before_first_customer_bake;
    /* Time to reach 50/90/99% of the eligible hosts, each host taking it
     * uniformly within one check-in interval of becoming eligible; to
     * within 0.5 s. -1: no host is eligible. */
    double time_to_50_s, time_to_90_s, time_to_99_s;
} rf_blast_figures;

/* How the report names what it was computed from. None of these changes a
 * figure; any pointer may be NULL (JSON null). rf_blast_compute copies them. */
typedef struct rf_blast_names {
    const char *release_file;   /* the channel file: "release.file" */
    const char *template_type;  /* the channel's template type */
    const char *fleet_file;     /* "fleet.file" */
    const char *plan_file;      /* "plan.file"; NULL: the built-in plan (rf_plan_default) */
    int sensors_from_manifests; /* rel->sensor_ok came from the workspace's sensor
                                   manifests, not the fleet's input counts */
} rf_blast_names;

typedef struct rf_blast rf_blast;

/*
 * Compute the blast radius of `rel` over `fleet` with `plan`, the engine's
 * ranks drawn from `seed` (rf_rollout_new with t0 = 0). names may be NULL.
 * The result owns copies of everything it reports: plan, fleet and rel may
 * be freed or change once this returns. RF_E_USAGE for a missing argument,
 * the engine's error for a plan it refuses (rf_rollout_new), RF_E_NOMEM,
 * RF_E_INTERNAL if the engine contradicts the plan. Caller frees *out with
 * rf_blast_free.
 */
rf_rc rf_blast_compute(const rf_plan *plan, const rf_fleet *fleet, const rf_release *rel,
                       uint64_t seed, const rf_blast_names *names, rf_blast **out,
                       rf_err *err) RF_WUR;
void rf_blast_free(rf_blast *b); /* NULL-safe */

/* The figures; owned by b, valid until rf_blast_free. */
const rf_blast_figures *rf_blast_figures_of(const rf_blast *b);

/*
 * The report as one JSON object (2-space indent, keys in a fixed order, no
 * trailing newline): what `ringfence plan --json` prints. RF_E_USAGE if a
 * name is not valid UTF-8, RF_E_NOMEM. Caller frees *out.
 */
rf_rc rf_blast_to_json(const rf_blast *b, char **out, rf_err *err) RF_WUR;

/* The report as text (aligned tables, a bar chart of hosts per wave): what
 * `ringfence plan` prints. Control characters in the file names, the
 * channel and the sensor versions are escaped; tenant and wave names are
 * printed as they are (fleet and plan files allow only A-Z a-z 0-9 _ . - % +). */
void rf_blast_print(const rf_blast *b, FILE *fp);

#ifdef __cplusplus
}
#endif
#endif
