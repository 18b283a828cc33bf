/*
 * defaults.c — the default rollout plan (DESIGN.md, "Rollouts"): the
 * vendor's own hosts in two steps, early access in two growing waves, then
 * GA in waves of 1%, 5%, 25% and 100% of the eligible hosts. docs/gates.md
 * explains each number; in short:
 *
 * - A crash at load is seen as silence one check-in interval plus the grace
 *   period after the host took the release (300 + 90 s), and the silence
 *   test alarms after about four such hosts, so the first internal step
 *   bakes 10 minutes (8 in an emergency): long enough to halt there, before
 *   any customer host.
 * - Later waves bake 10-15 minutes, so good content reaches 99% of eligible
 *   hosts without a GA delay in well under two hours (about 25 minutes in
 *   an emergency).
 */
#include <stdio.h>
#include <string.h>

#include "ringfence/rollout.h"

static void wave(rf_plan *p, const char *name, rf_ring ring, double fraction, uint32_t bake,
                 uint32_t ebake, uint32_t min_reports)
{
    rf_wave *w = &p->waves[p->nwaves++];
    memset(w, 0, sizeof(*w));
    snprintf(w->name, sizeof(w->name), "%s", name);
    w->ring = ring;
    w->fraction = fraction;
    w->bake_s = bake;
    w->emergency_bake_s = ebake;
    w->min_reports = min_reports;
}

void rf_plan_default(rf_plan *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "default");
    p->checkin_interval_s = 300;
    p->silence_grace_s = 90;
    p->gates.alpha = 1e-5;
    p->gates.silence_ratio = 20.0;
    p->gates.detect_ratio = 5.0;
    p->gates.fail_p0 = 1e-4;
    p->gates.fail_p1 = 0.02;
    p->gates.cpu_shift = 0.405465108; /* ln 1.5 */
    p->gates.cpu_min_control = 50;
    wave(p, "internal-10%", RF_RING_INTERNAL, 0.10, 600, 480, 5);
    wave(p, "internal-100%", RF_RING_INTERNAL, 1.00, 600, 120, 10);
    wave(p, "early-10%", RF_RING_EARLY, 0.10, 900, 120, 20);
    wave(p, "early-100%", RF_RING_EARLY, 1.00, 900, 120, 50);
    wave(p, "ga-1%", RF_RING_GA, 0.01, 900, 120, 50);
    wave(p, "ga-5%", RF_RING_GA, 0.05, 900, 120, 100);
    wave(p, "ga-25%", RF_RING_GA, 0.25, 900, 120, 200);
    wave(p, "ga-100%", RF_RING_GA, 1.00, 900, 120, 0);
}
