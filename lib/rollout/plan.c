/*
 * plan.c — rollout plans: reading a Plan YAML document (docs/gates.md,
 * "Plan files") over the default plan, and refusing impossible plans. A
 * plan is checked before any engine sees it, so the engine may rely on its
 * invariants: at least one wave and at most RF_MAX_WAVES; rings in order
 * (internal, early, ga), the last one ga; fractions in (0, 1], strictly
 * growing within a ring, each ring ending at 1.0; emergency bakes never longer than normal
 * ones; gate parameters where the sequential tests are defined.
 *
 * rf_plan_check's messages name the wave ("wave 3 'ga-1%': ..."); when the
 * plan came from a file, rf_plan_load moves the error to that wave's (or
 * that parameter's) line and column.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ringfence/rollout.h"
#include "rollout/rollout_int.h"


static const char *ring_name(rf_ring r)
{
    switch (r) {
    case RF_RING_INTERNAL: return "internal";
    case RF_RING_EARLY: return "early";
    case RF_RING_GA: return "ga";
    }
    return "?";
}

/* Where a check failed: a wave (index) or a parameter (its key; in
 * "gates" when gate is set). */
typedef struct where {
    int wave;        /* -1: not about one wave */
    const char *key; /* the wave's or the plan's key; NULL: the whole */
    int gate;        /* key is inside gates: */
} where;

RF_PRINTF(4, 5)
static rf_rc bad(rf_err *err, where *w, where at, const char *fmt, ...)
{
    *w = at;
    if (!err)
        return RF_E_SCHEMA;
    char msg[RF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "%s", msg);
}

static where W(int wave, const char *key, int gate)
{
    where w = {wave, key, gate};
    return w;
}

static rf_rc plan_check(const rf_plan *p, rf_err *err, where *w)
{
    *w = W(-1, NULL, 0);
    if (p->nwaves == 0)
        return bad(err, w, W(-1, "waves", 0), "the plan has no waves");
    if (p->nwaves > RF_MAX_WAVES)
        return bad(err, w, W(-1, "waves", 0), "the plan has %u waves, more than the limit of %d",
                   p->nwaves, RF_MAX_WAVES);
    if (p->checkin_interval_s < 1 || p->checkin_interval_s > RF_PLAN_MAX_INTERVAL_S)
        return bad(err, w, W(-1, "checkin_interval", 0),
                   "checkin_interval is %us; it must be between 1s and %us",
                   p->checkin_interval_s, RF_PLAN_MAX_INTERVAL_S);
    if (p->silence_grace_s < 1 || p->silence_grace_s > RF_PLAN_MAX_INTERVAL_S)
        return bad(err, w, W(-1, "silence_grace", 0),
                   "silence_grace is %us; it must be between 1s and %us", p->silence_grace_s,
                   RF_PLAN_MAX_INTERVAL_S);

    const rf_gate_params *g = &p->gates;
    if (!(g->alpha > 0 && g->alpha <= 0.1))
        return bad(err, w, W(-1, "alpha", 1),
                   "gates: alpha is %g; a false-alarm probability must be in (0, 0.1]",
                   g->alpha);
    if (!(g->silence_ratio > 1 && g->silence_ratio <= RF_PLAN_MAX_RATIO))
        return bad(err, w, W(-1, "silence_ratio", 1),
                   "gates: silence_ratio is %g; the rate ratio to detect must be above 1 "
                   "(and at most %g)",
                   g->silence_ratio, RF_PLAN_MAX_RATIO);
    if (!(g->detect_ratio > 1 && g->detect_ratio <= RF_PLAN_MAX_RATIO))
        return bad(err, w, W(-1, "detect_ratio", 1),
                   "gates: detect_ratio is %g; the rate ratio to detect must be above 1 "
                   "(and at most %g)",
                   g->detect_ratio, RF_PLAN_MAX_RATIO);
    if (!(g->fail_p0 > 0 && g->fail_p0 < 1))
        return bad(err, w, W(-1, "fail_p0", 1),
                   "gates: fail_p0 is %g; a baseline failure rate must be in (0, 1)", g->fail_p0);
    if (!(g->fail_p1 > g->fail_p0 && g->fail_p1 < 1))
        return bad(err, w, W(-1, "fail_p1", 1),
                   "gates: fail_p1 is %g; the failure rate to detect must be above fail_p0 "
                   "(%g) and below 1",
                   g->fail_p1, g->fail_p0);
    if (!(g->cpu_shift > 0 && g->cpu_shift <= log(RF_PLAN_MAX_CPU_RATIO)))
        return bad(err, w, W(-1, "cpu_ratio", 1),
                   "gates: the CPU ratio to detect is %g; it must be above 1 (and at most %g)",
                   exp(g->cpu_shift), RF_PLAN_MAX_CPU_RATIO);
    if (g->cpu_min_control < 1 || g->cpu_min_control > RF_PLAN_MAX_REPORTS)
        return bad(err, w, W(-1, "cpu_min_control", 1),
                   "gates: cpu_min_control is %u; it must be between 1 and %u",
                   g->cpu_min_control, RF_PLAN_MAX_REPORTS);

    for (uint32_t i = 0; i < p->nwaves; i++) {
        const rf_wave *v = &p->waves[i];
        int wi = (int)i;
        if (!memchr(v->name, 0, sizeof(v->name)) || !rfrollout_label_valid(v->name))
            return bad(err, w, W(wi, "name", 0),
                       "wave %u: the name is empty or not valid (1 to %d characters from "
                       "A-Z, a-z, 0-9 and _ . - %% +)",
                       i + 1, RF_NAME_MAX - 1);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(p->waves[j].name, v->name))
                return bad(err, w, W(wi, "name", 0),
                           "wave %u '%s': the name is already used by wave %u", i + 1,
                           v->name, j + 1);
        if (v->ring != RF_RING_INTERNAL && v->ring != RF_RING_EARLY && v->ring != RF_RING_GA)
            return bad(err, w, W(wi, "ring", 0), "wave %u '%s': unknown ring %d", i + 1,
                       v->name, (int)v->ring);
        if (!(v->fraction > 0 && v->fraction <= 1))
            return bad(err, w, W(wi, "fraction", 0),
                       "wave %u '%s': fraction %g is outside (0, 1]", i + 1, v->name,
                       v->fraction);
        if (i > 0) {
            const rf_wave *u = &p->waves[i - 1];
            if (v->ring < u->ring)
                return bad(err, w, W(wi, "ring", 0),
                           "wave %u '%s': ring %s comes after ring %s; rings go in the "
                           "order internal, early, ga",
                           i + 1, v->name, ring_name(v->ring), ring_name(u->ring));
            if (v->ring == u->ring && !(v->fraction > u->fraction))
                return bad(err, w, W(wi, "fraction", 0),
                           "wave %u '%s': fraction %g does not grow past the %g of wave "
                           "'%s' in the same ring (fractions are cumulative)",
                           i + 1, v->name, v->fraction, u->fraction, u->name);
            if (v->ring != u->ring && u->fraction != 1.0)
                return bad(err, w, W(wi - 1, "fraction", 0),
                           "wave %u '%s': ring %s ends here at fraction %g; the last wave "
                           "of a ring must reach 1.0 (100%%)",
                           i, u->name, ring_name(u->ring), u->fraction);
        }
        if (v->bake_s > RF_PLAN_MAX_BAKE_S)
            return bad(err, w, W(wi, "bake", 0),
                       "wave %u '%s': bake %us is longer than the limit of %us (7 days)",
                       i + 1, v->name, v->bake_s, RF_PLAN_MAX_BAKE_S);
        if (v->emergency_bake_s > v->bake_s)
            return bad(err, w, W(wi, "emergency_bake", 0),
                       "wave %u '%s': emergency_bake %us is longer than bake %us; an "
                       "emergency may only shorten bake times",
                       i + 1, v->name, v->emergency_bake_s, v->bake_s);
        if (v->min_reports > RF_PLAN_MAX_REPORTS)
            return bad(err, w, W(wi, "min_reports", 0),
                       "wave %u '%s': min_reports %u is more than the limit of %u", i + 1,
                       v->name, v->min_reports, RF_PLAN_MAX_REPORTS);
    }
    const rf_wave *last = &p->waves[p->nwaves - 1];
    if (last->ring != RF_RING_GA)
        return bad(err, w, W((int)p->nwaves - 1, "ring", 0),
                   "wave %u '%s': the plan ends in ring %s; it must end with a ga wave at "
                   "1.0 (100%%), or some hosts would never be offered the release",
                   p->nwaves, last->name, ring_name(last->ring));
    if (last->fraction != 1.0)
        return bad(err, w, W((int)p->nwaves - 1, "fraction", 0),
                   "wave %u '%s': ring %s ends here at fraction %g; the last wave of a ring "
                   "must reach 1.0 (100%%)",
                   p->nwaves, last->name, ring_name(last->ring), last->fraction);
    return RF_OK;
}

rf_rc rf_plan_check(const rf_plan *p, rf_err *err)
{
    where w;
    if (!p)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_plan_check: NULL plan");
    return plan_check(p, err, &w);
}

/* ---- Plan YAML ---------------------------------------------------------------------- */

static rf_rc parse_wave(const rfyaml_doc *d, const rfyaml_node *it, uint32_t idx, rf_wave *v,
                        rf_err *err)
{
    static const char *const keys[] = {"name", "ring", "fraction", "bake", "emergency_bake",
                                       "min_reports"};
    char ctx[48];
    snprintf(ctx, sizeof(ctx), "wave %u", idx + 1);
    const rfyaml_node *nn, *rn, *fn, *bn, *x;
    rf_rc rc = rfyaml_want_map(d, it, "each entry of 'waves'", err);
    if (!rc)
        rc = rfyaml_only_keys(d, it, ctx, keys, sizeof(keys) / sizeof(keys[0]), err);
    if (!rc)
        rc = rfyaml_require(d, it, "name", ctx, &nn, err);
    if (!rc)
        rc = rfyaml_require(d, it, "ring", ctx, &rn, err);
    if (!rc)
        rc = rfyaml_require(d, it, "fraction", ctx, &fn, err);
    if (!rc)
        rc = rfyaml_require(d, it, "bake", ctx, &bn, err);
    if (rc)
        return rc;
    memset(v, 0, sizeof(*v));
    rc = rfrollout_label(d, nn, "wave name", v->name, err);
    if (rc)
        return rc;
    const char *ring;
    rc = rfyaml_str(d, rn, "'ring'", &ring, NULL, err);
    if (rc)
        return rc;
    if (!strcmp(ring, "internal"))
        v->ring = RF_RING_INTERNAL;
    else if (!strcmp(ring, "early"))
        v->ring = RF_RING_EARLY;
    else if (!strcmp(ring, "ga"))
        v->ring = RF_RING_GA;
    else {
        char b[80];
        return rfyaml_error(d, rn, err, RF_E_SCHEMA,
                            "wave '%s': unknown ring '%s'; expected one of: internal, early, ga",
                            v->name, rfyaml_show(ring, b, sizeof(b)));
    }
    rc = rfrollout_fraction(d, fn, "wave 'fraction'", &v->fraction, err);
    if (!rc)
        rc = rfrollout_duration(d, bn, "wave 'bake'", 0, RF_PLAN_MAX_BAKE_S, &v->bake_s, err);
    if (rc)
        return rc;
    v->emergency_bake_s = v->bake_s;
    if ((x = rfyaml_get(it, "emergency_bake"))) {
        rc = rfrollout_duration(d, x, "wave 'emergency_bake'", 0, RF_PLAN_MAX_BAKE_S,
                                &v->emergency_bake_s, err);
        if (rc)
            return rc;
    }
    if ((x = rfyaml_get(it, "min_reports"))) {
        int64_t n;
        rc = rfyaml_int(d, x, "wave 'min_reports'", 0, RF_PLAN_MAX_REPORTS, &n, err);
        if (rc)
            return rc;
        v->min_reports = (uint32_t)n;
    }
    return RF_OK;
}

static rf_rc parse_gates(const rfyaml_doc *d, const rfyaml_node *n, rf_gate_params *g,
                         rf_err *err)
{
    static const char *const keys[] = {"alpha",   "silence_ratio", "detect_ratio",   "fail_p0",
                                       "fail_p1", "cpu_ratio",     "cpu_min_control"};
    rf_rc rc = rfyaml_want_map(d, n, "'gates'", err);
    if (!rc)
        rc = rfyaml_only_keys(d, n, "'gates'", keys, sizeof(keys) / sizeof(keys[0]), err);
    if (rc)
        return rc;
    const struct {
        const char *key;
        double lo, hi;
        double *out;
    } nums[] = {
        {"alpha", 0, 0.1, &g->alpha},
        {"silence_ratio", 1, RF_PLAN_MAX_RATIO, &g->silence_ratio},
        {"detect_ratio", 1, RF_PLAN_MAX_RATIO, &g->detect_ratio},
        {"fail_p0", 0, 1, &g->fail_p0},
        {"fail_p1", 0, 1, &g->fail_p1},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        const rfyaml_node *x = rfyaml_get(n, nums[i].key);
        if (!x)
            continue;
        char what[48];
        snprintf(what, sizeof(what), "gates: '%s'", nums[i].key);
        rc = rfrollout_number(d, x, what, nums[i].lo, nums[i].hi, nums[i].out, err);
        if (rc)
            return rc;
    }
    const rfyaml_node *x = rfyaml_get(n, "cpu_ratio");
    if (x) {
        double r;
        rc = rfrollout_number(d, x, "gates: 'cpu_ratio'", 1, RF_PLAN_MAX_CPU_RATIO, &r, err);
        if (rc)
            return rc;
        g->cpu_shift = log(r);
    }
    if ((x = rfyaml_get(n, "cpu_min_control"))) {
        int64_t v;
        rc = rfyaml_int(d, x, "gates: 'cpu_min_control'", 1, RF_PLAN_MAX_REPORTS, &v, err);
        if (rc)
            return rc;
        g->cpu_min_control = (uint32_t)v;
    }
    return RF_OK;
}

static rf_rc plan_from_doc(rfyaml_doc *d, rf_plan *out, rf_err *err);

rf_rc rf_plan_load(const char *path, rf_plan *out, rf_err *err)
{
    if (!path || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_plan_load: NULL argument");
    rfyaml_doc *d = NULL;
    rf_rc rc = rfrollout_load_doc(path, &d, err);
    if (rc)
        return rc;
    return plan_from_doc(d, out, err);
}

rf_rc rf_plan_parse(const char *name, const char *buf, size_t len, rf_plan *out, rf_err *err)
{
    if (!buf || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_plan_parse: NULL argument");
    if (len > RF_MAX_SOURCE_BYTES)
        return rf_err_set(err, RF_E_LIMIT, name, 0, 0, "a plan of %zu bytes is over the limit of %u",
                          len, RF_MAX_SOURCE_BYTES);
    rfyaml_doc *d = NULL;
    rf_rc rc = rfyaml_parse(name, buf, len, &d, err);
    if (rc)
        return rc;
    return plan_from_doc(d, out, err);
}

/* Read the plan of a parsed document; frees d. */
static rf_rc plan_from_doc(rfyaml_doc *d, rf_plan *out, rf_err *err)
{
    rf_rc rc;
    const rfyaml_node *root = rfyaml_root(d), *pn, *x, *gates = NULL, *waves = NULL;
    static const char *const keys[] = {"plan", "checkin_interval", "silence_grace", "gates",
                                       "waves"};
    const char *ctx = "a plan file";
    rf_plan p;
    rf_plan_default(&p);
    rc = rfyaml_want_map(d, root, ctx, err);
    if (!rc)
        rc = rfyaml_only_keys(d, root, ctx, keys, sizeof(keys) / sizeof(keys[0]), err);
    if (!rc)
        rc = rfyaml_require(d, root, "plan", ctx, &pn, err);
    if (!rc)
        rc = rfrollout_label(d, pn, "plan name", p.name, err);
    if (!rc && (x = rfyaml_get(root, "checkin_interval")))
        rc = rfrollout_duration(d, x, "'checkin_interval'", 1, RF_PLAN_MAX_INTERVAL_S,
                                &p.checkin_interval_s, err);
    if (!rc && (x = rfyaml_get(root, "silence_grace")))
        rc = rfrollout_duration(d, x, "'silence_grace'", 1, RF_PLAN_MAX_INTERVAL_S,
                                &p.silence_grace_s, err);
    if (!rc && (gates = rfyaml_get(root, "gates")))
        rc = parse_gates(d, gates, &p.gates, err);
    if (!rc && (waves = rfyaml_get(root, "waves"))) {
        rc = rfyaml_want_seq(d, waves, "'waves'", err);
        if (!rc && waves->n == 0)
            rc = rfyaml_error(d, waves, err, RF_E_SCHEMA,
                              "'waves' lists no wave; leave it out for the default waves");
        if (!rc && waves->n > RF_MAX_WAVES)
            rc = rfyaml_error(d, waves, err, RF_E_SCHEMA,
                              "'waves' lists %u waves, more than the limit of %d", waves->n,
                              RF_MAX_WAVES);
        for (uint32_t i = 0; !rc && i < waves->n; i++)
            rc = parse_wave(d, waves->items[i], i, &p.waves[i], err);
        if (!rc)
            p.nwaves = waves->n;
    }
    if (rc)
        goto out;

    where w;
    rf_err cerr;
    rc = plan_check(&p, &cerr, &w);
    if (rc) {
        /* Put the error where the offending value is written, if it is. */
        const rfyaml_node *at = root;
        if (w.wave >= 0 && waves) {
            at = waves->items[w.wave];
            if (w.key && rfyaml_get(at, w.key))
                at = rfyaml_get(at, w.key);
        } else if (w.wave < 0 && w.key) {
            const rfyaml_node *m = w.gate ? gates : root;
            if (m && rfyaml_get(m, w.key))
                at = rfyaml_get(m, w.key);
        }
        rc = rfyaml_error(d, at, err, rc, "%s%s", cerr.msg,
                          w.wave >= 0 && !waves ? " (in the default waves)" : "");
        goto out;
    }
    *out = p;
out:
    rfyaml_free(d);
    return rc;
}
