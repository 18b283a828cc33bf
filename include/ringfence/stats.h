/*
 * stats.h — the sequential tests behind rollout health gates. Each test is a
 * CUSUM (Page's repeated sequential probability ratio test): it adds the log
 * likelihood ratio of every observation, floors the sum at zero, and alarms
 * when the sum reaches a threshold h. Under "no effect" the expected
 * increment is negative, so the sum hovers near zero; under the effect it
 * climbs by a known amount per observation, so a crash-type fault alarms
 * after a handful of observations. Floors at zero keep a long healthy
 * history from masking a fault that starts late.
 *
 * All functions are pure arithmetic on caller-owned structs: no allocation,
 * no I/O, no clock, no randomness. docs/gates.md gives the choice of
 * parameters and the measured error rates.
 */
#ifndef RINGFENCE_STATS_H
#define RINGFENCE_STATS_H

#include <stdint.h>

#include "ringfence/ringfence.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Threshold h for a target false-alarm probability alpha over one test's
 * life, from Wald's bound: h = ln(1 / alpha). alpha in (0, 1). */
double rf_stats_threshold(double alpha);

/*
 * Conditional Poisson rate-ratio CUSUM. Events (silences, detections) occur
 * in two groups, treated and control, with exposures (host-seconds at risk)
 * T and C at the moment of the event. Under H0 both groups have the same
 * rate, so an event is treated with probability p0 = T / (T + C); under H1
 * the treated rate is `ratio` times higher: p1 = ratio*T / (ratio*T + C).
 * A treated event adds ln(p1/p0), a control event ln((1-p1)/(1-p0)).
 */
typedef struct rf_cusum_rate {
    double ratio;     /* H1 rate ratio, > 1 */
    double h;         /* alarm threshold */
    double s;         /* current CUSUM statistic (>= 0) */
    double s_max;     /* largest value reached */
    uint64_t treated; /* events seen in each group */
    uint64_t control;
    int alarmed;      /* 1 once s >= h (sticky) */
} rf_cusum_rate;

void rf_cusum_rate_init(rf_cusum_rate *c, double ratio, double alpha);
/* Add one event of group `treated` (1) or control (0) with exposures T, C
 * (host-seconds, >= 0; an event with T + C == 0 or a zero exposure in its own
 * group is ignored as uninformative). Returns 1 if the test has alarmed. */
int rf_cusum_rate_add(rf_cusum_rate *c, int treated, double T, double C);

/*
 * Bernoulli CUSUM: per host that took the release, did a bad thing happen
 * (boot-guard revert, content load failure)? H0 rate p0, H1 rate p1 > p0.
 * A bad outcome adds ln(p1/p0), a good one ln((1-p1)/(1-p0)).
 */
typedef struct rf_cusum_bern {
    double p0, p1, h, s, s_max;
    uint64_t n, bad;
    int alarmed;
} rf_cusum_bern;

void rf_cusum_bern_init(rf_cusum_bern *c, double p0, double p1, double alpha);
int rf_cusum_bern_add(rf_cusum_bern *c, int bad);

/*
 * Gaussian mean-shift CUSUM for a per-host measurement x (log of per-event
 * CPU cost) against the control group's running mean and standard deviation
 * (Welford): an observation adds (d/s^2) * (x - mu - d/2) where d is the
 * shift to detect (ln 1.5: 50% more CPU per event), with x - mu clipped to
 * +-max(3 s, 2 d) (Huber) so that one report from a heavy tail cannot
 * outweigh many. Treated observations are tested; control observations
 * only update mu and s. Needs min_control control observations before it
 * tests anything.
 */
typedef struct rf_cusum_mean {
    double shift, h, s, s_max;
    double mu, m2;       /* Welford state of the control group */
    uint64_t ncontrol, ntreated;
    uint64_t min_control;
    double sd_floor;     /* lower bound on the standard deviation used */
    int alarmed;
} rf_cusum_mean;

void rf_cusum_mean_init(rf_cusum_mean *c, double shift, double alpha, uint64_t min_control,
                        double sd_floor);
int rf_cusum_mean_add(rf_cusum_mean *c, int treated, double x);
/* The control mean and standard deviation so far (0 when unknown). */
double rf_cusum_mean_mu(const rf_cusum_mean *c);
double rf_cusum_mean_sd(const rf_cusum_mean *c);

#ifdef __cplusplus
}
#endif
#endif
