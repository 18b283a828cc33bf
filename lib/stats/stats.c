/*
 * stats.c — the CUSUM sequential tests of stats.h. Each test keeps a
 * statistic s >= 0, adds the log likelihood ratio of every observation,
 * floors at zero and alarms (stickily) at the threshold h = ln(1/alpha).
 * Inputs come from hosts and may be anything: non-finite or out-of-range
 * values are ignored rather than allowed to poison the statistic.
 */
#include <math.h>

#include "ringfence/stats.h"

double rf_stats_threshold(double alpha)
{
    if (!(alpha > 0.0) || !(alpha < 1.0))
        alpha = 1e-3;
    return log(1.0 / alpha);
}

static void step(double *s, double *s_max, double inc, double h, int *alarmed)
{
    *s += inc;
    if (*s < 0.0)
        *s = 0.0;
    if (*s > *s_max)
        *s_max = *s;
    if (*s >= h)
        *alarmed = 1;
}

void rf_cusum_rate_init(rf_cusum_rate *c, double ratio, double alpha)
{
    *c = (rf_cusum_rate){0};
    c->ratio = ratio > 1.0 && isfinite(ratio) ? ratio : 10.0;
    c->h = rf_stats_threshold(alpha);
}

int rf_cusum_rate_add(rf_cusum_rate *c, int treated, double T, double C)
{
    if (!isfinite(T) || !isfinite(C) || T < 0.0 || C < 0.0 || T + C <= 0.0)
        return c->alarmed;
    if ((treated && T <= 0.0) || (!treated && C <= 0.0))
        return c->alarmed;
    if (treated)
        c->treated++;
    else
        c->control++;
    double p0 = T / (T + C);
    double p1 = c->ratio * T / (c->ratio * T + C);
    double inc;
    if (treated)
        inc = log(p1 / p0);
    else
        inc = (p1 < 1.0 && p0 < 1.0) ? log((1.0 - p1) / (1.0 - p0)) : 0.0;
    step(&c->s, &c->s_max, inc, c->h, &c->alarmed);
    return c->alarmed;
}

void rf_cusum_bern_init(rf_cusum_bern *c, double p0, double p1, double alpha)
{
    *c = (rf_cusum_bern){0};
    if (!(p0 > 0.0 && p0 < 1.0))
        p0 = 1e-4;
    if (!(p1 > p0 && p1 < 1.0))
        p1 = p0 * 100.0 < 0.5 ? p0 * 100.0 : 0.5;
    c->p0 = p0;
    c->p1 = p1;
    c->h = rf_stats_threshold(alpha);
}

int rf_cusum_bern_add(rf_cusum_bern *c, int bad)
{
    c->n++;
    double inc;
    if (bad) {
        c->bad++;
        inc = log(c->p1 / c->p0);
    } else {
        inc = log((1.0 - c->p1) / (1.0 - c->p0));
    }
    step(&c->s, &c->s_max, inc, c->h, &c->alarmed);
    return c->alarmed;
}

void rf_cusum_mean_init(rf_cusum_mean *c, double shift, double alpha, uint64_t min_control,
                        double sd_floor)
{
    *c = (rf_cusum_mean){0};
    c->shift = shift > 0.0 && isfinite(shift) ? shift : log(1.5);
    c->h = rf_stats_threshold(alpha);
    c->min_control = min_control ? min_control : 1;
    c->sd_floor = sd_floor > 0.0 && isfinite(sd_floor) ? sd_floor : 0.05;
}

double rf_cusum_mean_mu(const rf_cusum_mean *c)
{
    return c->ncontrol ? c->mu : 0.0;
}

double rf_cusum_mean_sd(const rf_cusum_mean *c)
{
    return c->ncontrol > 1 ? sqrt(c->m2 / (double)(c->ncontrol - 1)) : 0.0;
}

int rf_cusum_mean_add(rf_cusum_mean *c, int treated, double x)
{
    if (!isfinite(x))
        return c->alarmed;
    if (!treated) {
        /* Welford's update of the control mean and variance. */
        c->ncontrol++;
        double d = x - c->mu;
        c->mu += d / (double)c->ncontrol;
        c->m2 += d * (x - c->mu);
        return c->alarmed;
    }
    if (c->ncontrol < c->min_control)
        return c->alarmed;
    c->ntreated++;
    double sd = rf_cusum_mean_sd(c);
    if (sd < c->sd_floor)
        sd = c->sd_floor;
    /* Huber's clipping: a deviation counts at most max(3 sd, 2 shifts).
     * Real per-event costs are heavy-tailed (an evaluation after the
     * process was descheduled runs on cold caches), and one report far out
     * in the tail would otherwise add as much as several reports of a real
     * shift: on 120 agents sharing 2 cores it halted good releases. A real
     * shift moves every report and still adds up; a tenfold one still
     * alarms within a few reports (2 shifts above the mean is 2.25x). */
    double d = x - c->mu, clip = 3.0 * sd > 2.0 * c->shift ? 3.0 * sd : 2.0 * c->shift;
    if (d > clip)
        d = clip;
    else if (d < -clip)
        d = -clip;
    double inc = (c->shift / (sd * sd)) * (d - c->shift / 2.0);
    step(&c->s, &c->s_max, inc, c->h, &c->alarmed);
    return c->alarmed;
}
