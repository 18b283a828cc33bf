/*
 * cmd_plan.c — `ringfence plan`: a release's blast radius before it
 * starts. It loads a fleet (rf_fleet_load), a plan (rf_plan_load, or the
 * default plan) and a channel file, starts the rollout engine over them
 * (rf_rollout_new) and asks the engine, for every host, which wave it is in
 * or why it is excluded (rf_rollout_host_wave) — the same answers the
 * server and the simulator get — then reports:
 *
 * - hosts per wave (and cumulative), per tenant, per sensor build;
 * - hosts excluded, each counted once under the first of: paused, pinned,
 *   sensor cannot run it, offline (never checks in);
 * - the most customer hosts that can take the release before the first
 *   gate can act (one check-in interval plus the silence grace after the
 *   first wave opens), and before the first wave with customer hosts has
 *   baked;
 * - the expected time to reach 50/90/99% of eligible hosts, if every gate
 *   passes: waves open one after the other as each bakes (an empty wave is
 *   skipped at once, as the engine does; a wave also waits for its
 *   min_reports check-ins), a host becomes eligible when its wave opens
 *   plus its tenant's GA delay (waived in an emergency for tenants that
 *   opted in), and takes the release uniformly within one check-in
 *   interval after that.
 *
 * Output is a text report (aligned tables, a bar chart of hosts per wave)
 * or, with --json, the same numbers as one JSON object.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ringfence/rollout.h"

#include "common.h"
#include "ringfence/channel.h"
#include "ringfence/schema.h"
#include "ringfence/util.h"

static const char usage[] =
    "usage: ringfence plan --fleet FLEET.yaml --release FILE.rfc [--plan PLAN.yaml]\n"
    "                      [--seed K] [--sensor-manifests DIR] [--emergency] [--json]\n"
    "\n"
    "Show a release's blast radius before it starts: which hosts of the fleet\n"
    "get it in which wave of the plan, who is excluded and why (paused, pinned,\n"
    "sensor build cannot run it, offline), hosts per tenant and per sensor\n"
    "build, the most customer hosts that can take it before the first health\n"
    "gate can act, and the expected time to reach 50%, 90% and 99% of the\n"
    "eligible hosts if every gate passes.\n"
    "\n"
    "Options:\n"
    "  --fleet FILE          the fleet (docs/gates.md, \"Fleet files\")\n"
    "  --release FILE.rfc    the channel file to release\n"
    "  --plan FILE           the rollout plan (default: the built-in default plan,\n"
    "                        examples/plans/default.yaml)\n"
    "  --seed K              seed for the fleet's hosts and the engine's ranks\n"
    "                        (default 1); same seed, same answer\n"
    "  --sensor-manifests DIR  decide which sensor builds can run the release\n"
    "                        from the workspace's sensor manifests (DIR/sensors)\n"
    "                        instead of the fleet's input counts\n"
    "  --emergency           an emergency release: emergency bakes, and no GA\n"
    "                        delay for tenants that opted into emergencies\n"
    "  --json                print the same as one JSON object\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit codes: 0 shown, 1 a fleet, plan or channel file is invalid, 2 usage\n"
    "or I/O error.\n"
    "\n"
    "Example:\n"
    "  ringfence plan --fleet examples/fleets/small.yaml --release c291-v5.rfc\n";

/* Exclusion reasons as reported: the engine's, with customer policy named
 * first when a host is excluded for more than one reason. */
enum { R_PAUSED, R_PINNED, R_SENSOR, R_OFFLINE, R_COUNT };
static const char *const reason_key[R_COUNT] = {"paused", "pinned", "sensor", "offline"};
static const char *const reason_text[R_COUNT] = {
    "paused (tenant policy)", "pinned (tenant policy)", "sensor build cannot run it",
    "offline (never checks in)"};

#define TOP_TENANTS 20
#define BAR_WIDTH 30

typedef struct tstat {
    uint32_t hosts, eligible;
    uint32_t excl[R_COUNT];
} tstat;

typedef struct plan_report {
    /* inputs */
    const rf_fleet *fleet;
    const rf_plan *plan;
    const rf_release *rel;
    const rf_channel *ch;
    const char *fleet_path, *release_path, *plan_path;
    uint64_t seed;
    int manifests; /* sensor_ok from manifests */

    /* hosts */
    uint64_t eligible, excl[R_COUNT], offline_total, internal_hosts, customer_hosts;
    uint64_t wave_hosts[RF_MAX_WAVES], wave_customer[RF_MAX_WAVES], wave_prompt[RF_MAX_WAVES];
    uint32_t *sensor_hosts, *sensor_eligible;
    tstat *tenant;
    uint32_t *order; /* tenants by hosts, largest first */

    /* schedule */
    int64_t wave_open[RF_MAX_WAVES], wave_dur[RF_MAX_WAVES], complete_at;

    /* eligible times: counts per (wave, delay class), all and customer */
    uint32_t nclass;
    uint32_t *class_delay; /* distinct effective delays, ascending */
    uint32_t *cnt_all, *cnt_cust;

    /* blast radius */
    int64_t detect_s;
    uint64_t exposed_all_before_gate, exposed_cust_before_gate;
    int first_cust_wave; /* -1: no customer host is eligible */
    int64_t first_cust_baked_at;
    uint64_t exposed_cust_full_bake;

    /* time to reach shares of eligible hosts (seconds; -1: none eligible) */
    double t50, t90, t99;
} plan_report;

static const char *ring_name(rf_ring r)
{
    switch (r) {
    case RF_RING_INTERNAL: return "internal";
    case RF_RING_EARLY: return "early";
    case RF_RING_GA: return "ga";
    }
    return "?";
}

/* "0s", "45s", "6m30s", "2h", "1h05m", "3d", "1d01h35m" */
static const char *fmt_dur(double secs, char *buf, size_t n)
{
    if (secs < 0) {
        snprintf(buf, n, "-");
        return buf;
    }
    uint64_t s = (uint64_t)llround(secs);
    uint64_t d = s / 86400, h = (s % 86400) / 3600, m = (s % 3600) / 60, x = s % 60;
    if (s < 60)
        snprintf(buf, n, "%" PRIu64 "s", x);
    else if (s < 3600)
        snprintf(buf, n, x ? "%" PRIu64 "m%02" PRIu64 "s" : "%" PRIu64 "m", m, x);
    else if (s < 86400)
        snprintf(buf, n, m ? "%" PRIu64 "h%02" PRIu64 "m" : "%" PRIu64 "h", h, m);
    else if (m)
        snprintf(buf, n, "%" PRIu64 "d%02" PRIu64 "h%02" PRIu64 "m", d, h, m);
    else
        snprintf(buf, n, h ? "%" PRIu64 "d%02" PRIu64 "h" : "%" PRIu64 "d", d, h);
    return buf;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The GA delay a group's hosts wait in a GA wave (as the engine applies it). */
static uint32_t group_delay(const rf_fleet_group *g, const rf_release *rel)
{
    const rf_policy *p = &g->policy;
    if (p->mode != RF_POLICY_GA || (rel->emergency && p->emergency_opt_in))
        return 0;
    return p->ga_delay_s;
}

static uint32_t class_of(const plan_report *r, uint32_t delay)
{
    uint32_t lo = 0, hi = r->nclass;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->class_delay[mid] < delay)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static const tstat *sort_tenants_ctx;

static int cmp_tenant(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const tstat *t = sort_tenants_ctx;
    if (t[x].hosts != t[y].hosts)
        return t[x].hosts > t[y].hosts ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Eligible time of (wave w, delay class c). */
static int64_t elig_time(const plan_report *r, uint32_t w, uint32_t c)
{
    int64_t t = r->wave_open[w];
    if (r->plan->waves[w].ring == RF_RING_GA)
        t += r->class_delay[c];
    return t;
}

/*
 * When the eligible hosts take the release: item i is n_i hosts eligible at
 * e_i, each taking it uniformly in [e_i, e_i + I). Sorted by e, with prefix
 * sums of n and n*e, the share taken by t is
 *   (N(e <= t - I) + sum over t - I < e_i < t of n_i (t - e_i) / I) / total,
 * found in O(log K), so the quantile search costs nothing even for a fleet
 * with a million distinct GA delays.
 */
typedef struct elig_item {
    int64_t e;
    uint32_t n;
} elig_item;

typedef struct take_curve {
    uint32_t k;
    int64_t *e;   /* ascending */
    double *cn;   /* cn[i] = sum of n over items before i (k + 1 entries) */
    double *cne;  /* same for n * e */
    double interval, total;
} take_curve;

static int cmp_item(const void *a, const void *b)
{
    const elig_item *x = a, *y = b;
    return x->e < y->e ? -1 : x->e > y->e;
}

/* First index with e > t (strict) or e >= t. */
static uint32_t bound(const take_curve *c, double t, int strict)
{
    uint32_t lo = 0, hi = c->k;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        double e = (double)c->e[mid];
        if (strict ? e <= t : e < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static double taken_by(const take_curve *c, double t)
{
    uint32_t a = bound(c, t - c->interval, 1), b = bound(c, t, 0);
    if (b < a)
        b = a;
    double full = c->cn[a];
    double part = ((c->cn[b] - c->cn[a]) * t - (c->cne[b] - c->cne[a])) / c->interval;
    return (full + part) / c->total;
}

/* The earliest time (to 0.5 s) by which a share q of eligible hosts took it. */
static double time_to(const take_curve *c, double q, double hi)
{
    double lo = 0;
    for (int i = 0; i < 64 && hi - lo > 0.5; i++) {
        double mid = (lo + hi) / 2;
        if (taken_by(c, mid) >= q)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

/* Fill r->t50/t90/t99 from the (wave, delay class) counts. */
static rf_rc take_times(plan_report *r, rf_err *err)
{
    uint32_t nw = r->plan->nwaves, nc = r->nclass, k = 0;
    for (size_t cell = 0; cell < (size_t)nw * nc; cell++)
        k += r->cnt_all[cell] != 0;
    elig_item *it = malloc((size_t)(k ? k : 1) * sizeof(*it));
    take_curve c = {k, NULL, NULL, NULL, (double)r->plan->checkin_interval_s,
                    (double)r->eligible};
    c.e = malloc((size_t)(k ? k : 1) * sizeof(*c.e));
    c.cn = malloc((size_t)(k + 1) * sizeof(*c.cn));
    c.cne = malloc((size_t)(k + 1) * sizeof(*c.cne));
    rf_rc rc = RF_OK;
    if (!it || !c.e || !c.cn || !c.cne) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory computing the plan");
        goto out;
    }
    k = 0;
    for (uint32_t w = 0; w < nw; w++)
        for (uint32_t cl = 0; cl < nc; cl++)
            if (r->cnt_all[(size_t)w * nc + cl])
                it[k++] = (elig_item){elig_time(r, w, cl), r->cnt_all[(size_t)w * nc + cl]};
    qsort(it, k, sizeof(*it), cmp_item);
    c.cn[0] = c.cne[0] = 0;
    for (uint32_t i = 0; i < k; i++) {
        c.e[i] = it[i].e;
        c.cn[i + 1] = c.cn[i] + it[i].n;
        c.cne[i + 1] = c.cne[i] + (double)it[i].n * (double)it[i].e;
    }
    r->t50 = r->t90 = r->t99 = -1;
    if (k && r->eligible) {
        double hi = (double)it[k - 1].e + c.interval + 1;
        r->t50 = time_to(&c, 0.50, hi);
        r->t90 = time_to(&c, 0.90, hi);
        r->t99 = time_to(&c, 0.99, hi);
    }
out:
    free(it);
    free(c.e);
    free(c.cn);
    free(c.cne);
    return rc;
}

/* Every figure of the report. RF_E_NOMEM or RF_OK. */
static rf_rc compute(plan_report *r, const rf_rollout *ro, rf_err *err)
{
    const rf_fleet *f = r->fleet;
    const rf_plan *p = r->plan;
    uint32_t nw = p->nwaves;

    r->sensor_hosts = calloc(f->nsensors, sizeof(uint32_t));
    r->sensor_eligible = calloc(f->nsensors, sizeof(uint32_t));
    r->tenant = calloc(f->ntenants ? f->ntenants : 1, sizeof(tstat));
    r->order = malloc((f->ntenants ? f->ntenants : 1) * sizeof(uint32_t));
    uint32_t *gd = malloc((size_t)(f->ngroups + 1) * sizeof(uint32_t));
    uint32_t *gclass = malloc((size_t)(f->ngroups ? f->ngroups : 1) * sizeof(uint32_t));
    if (!r->sensor_hosts || !r->sensor_eligible || !r->tenant || !r->order || !gd || !gclass)
        goto nomem;

    /* Delay classes: the distinct effective GA delays, 0 always among them. */
    for (uint32_t g = 0; g < f->ngroups; g++)
        gd[g] = group_delay(&f->groups[g], r->rel);
    gd[f->ngroups] = 0;
    qsort(gd, (size_t)f->ngroups + 1, sizeof(*gd), cmp_u32);
    uint32_t nc = 0;
    for (uint32_t i = 0; i <= f->ngroups; i++)
        if (nc == 0 || gd[nc - 1] != gd[i])
            gd[nc++] = gd[i];
    r->class_delay = gd;
    r->nclass = nc;
    gd = NULL;
    for (uint32_t g = 0; g < f->ngroups; g++)
        gclass[g] = class_of(r, group_delay(&f->groups[g], r->rel));
    r->cnt_all = calloc((size_t)nw * nc, sizeof(uint32_t));
    r->cnt_cust = calloc((size_t)nw * nc, sizeof(uint32_t));
    if (!r->cnt_all || !r->cnt_cust)
        goto nomem;

    for (uint32_t h = 0; h < f->nhosts; h++) {
        uint32_t g = f->host_group[h], t = f->groups[g].tenant, s = f->host_sensor[h];
        const rf_policy *pol = &f->groups[g].policy;
        int internal = f->tenants[t].internal != 0;
        int offline = (f->host_flags[h] & RF_HOST_OFFLINE) != 0;
        tstat *ts = &r->tenant[t];
        ts->hosts++;
        r->sensor_hosts[s]++;
        r->offline_total += offline;
        if (internal)
            r->internal_hosts++;
        else
            r->customer_hosts++;
        uint32_t w = 0;
        rf_exclusion ex = rf_rollout_host_wave(ro, h, &w);
        int reason = -1;
        if (ex != RF_EXCL_NONE) {
            if (ex == RF_EXCL_PAUSED || (!internal && pol->mode == RF_POLICY_PAUSED))
                reason = R_PAUSED;
            else if (ex == RF_EXCL_PINNED || (!internal && pol->mode == RF_POLICY_PINNED))
                reason = R_PINNED;
            else
                reason = R_SENSOR;
        } else if (offline) {
            reason = R_OFFLINE;
        }
        if (reason >= 0) {
            r->excl[reason]++;
            ts->excl[reason]++;
            continue;
        }
        if (w >= nw) {
            free(gclass);
            return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                              "the engine put host %u in wave %u of %u", h, w, nw);
        }
        r->eligible++;
        ts->eligible++;
        r->sensor_eligible[s]++;
        r->wave_hosts[w]++;
        size_t cell = (size_t)w * nc + gclass[g];
        r->cnt_all[cell]++;
        if (!internal) {
            r->wave_customer[w]++;
            r->cnt_cust[cell]++;
        }
    }
    free(gclass);
    gclass = NULL;

    /* Hosts of each wave that can take it as soon as it opens. */
    for (uint32_t w = 0; w < nw; w++)
        r->wave_prompt[w] = p->waves[w].ring == RF_RING_GA ? r->cnt_all[(size_t)w * nc]
                                                           : r->wave_hosts[w];

    /* Schedule: a wave with hosts lasts its bake, and at least until
     * min_reports check-ins after taking it have come in (the engine asks
     * for at most half of the hosts that can take it at once): the k-th of
     * n prompt hosts reports about (1 + k/n) check-in intervals after the
     * wave opens. An empty wave is promoted at once. */
    double I = (double)p->checkin_interval_s;
    int64_t t = 0;
    for (uint32_t w = 0; w < nw; w++) {
        r->wave_open[w] = t;
        int64_t d = 0;
        if (r->wave_hosts[w]) {
            d = r->rel->emergency ? p->waves[w].emergency_bake_s : p->waves[w].bake_s;
            uint64_t need = p->waves[w].min_reports;
            if (need > r->wave_prompt[w] / 2)
                need = r->wave_prompt[w] / 2;
            if (need > 0) {
                int64_t wait = (int64_t)ceil(I * (1.0 + (double)need / (double)r->wave_prompt[w]));
                if (wait > d)
                    d = wait;
            }
        }
        r->wave_dur[w] = d;
        t += d;
    }
    r->complete_at = t;

    /* Blast radius. */
    r->detect_s = (int64_t)p->checkin_interval_s + (int64_t)p->silence_grace_s;
    r->first_cust_wave = -1;
    for (uint32_t w = 0; w < nw && r->first_cust_wave < 0; w++)
        if (r->wave_customer[w])
            r->first_cust_wave = (int)w;
    if (r->first_cust_wave >= 0) {
        uint32_t c0 = (uint32_t)r->first_cust_wave;
        r->first_cust_baked_at = r->wave_open[c0] +
                                 (r->rel->emergency ? p->waves[c0].emergency_bake_s
                                                    : p->waves[c0].bake_s);
    }
    for (uint32_t w = 0; w < nw; w++) {
        for (uint32_t c = 0; c < nc; c++) {
            size_t cell = (size_t)w * nc + c;
            if (!r->cnt_all[cell])
                continue;
            int64_t e = elig_time(r, w, c);
            if (e < r->detect_s) {
                r->exposed_all_before_gate += r->cnt_all[cell];
                r->exposed_cust_before_gate += r->cnt_cust[cell];
            }
            if (r->first_cust_wave >= 0 && e < r->first_cust_baked_at)
                r->exposed_cust_full_bake += r->cnt_cust[cell];
        }
    }

    rf_rc rc = take_times(r, err);
    if (rc)
        return rc;

    for (uint32_t i = 0; i < f->ntenants; i++)
        r->order[i] = i;
    sort_tenants_ctx = r->tenant;
    qsort(r->order, f->ntenants, sizeof(*r->order), cmp_tenant);
    sort_tenants_ctx = NULL;
    return RF_OK;

nomem:
    free(gd);
    free(gclass);
    return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory computing the plan");
}

static void report_free(plan_report *r)
{
    free(r->sensor_hosts);
    free(r->sensor_eligible);
    free(r->tenant);
    free(r->order);
    free(r->class_delay);
    free(r->cnt_all);
    free(r->cnt_cust);
}

/* A tenant's policy in a few characters: "ga", "ga+24h", "early",
 * "pinned v4", "paused", "internal", or "mixed" for groups that differ. */
static const char *tenant_policy(const rf_fleet *f, uint32_t t, char *buf, size_t n)
{
    if (f->tenants[t].internal) {
        snprintf(buf, n, "internal");
        return buf;
    }
    const rf_policy *first = NULL;
    for (uint32_t g = 0; g < f->ngroups; g++) {
        if (f->groups[g].tenant != t)
            continue;
        const rf_policy *p = &f->groups[g].policy;
        if (!first) {
            first = p;
            continue;
        }
        if (p->mode != first->mode || p->ga_delay_s != first->ga_delay_s ||
            p->pinned_version != first->pinned_version) {
            snprintf(buf, n, "mixed");
            return buf;
        }
    }
    char d[32];
    if (!first)
        snprintf(buf, n, "-");
    else if (first->mode == RF_POLICY_GA && first->ga_delay_s)
        snprintf(buf, n, "ga+%s", fmt_dur(first->ga_delay_s, d, sizeof(d)));
    else if (first->mode == RF_POLICY_GA)
        snprintf(buf, n, "ga");
    else if (first->mode == RF_POLICY_EARLY)
        snprintf(buf, n, "early");
    else if (first->mode == RF_POLICY_PINNED)
        snprintf(buf, n, "pinned v%" PRIu64, first->pinned_version);
    else
        snprintf(buf, n, "paused");
    return buf;
}

/* Tenants are laid out one group after another only in fleet files; find
 * the groups of t by scanning (fine for 20 tenants). The emergency opt-in
 * is per tenant in fleet files: report it if any group has it. */
static int tenant_emergency(const rf_fleet *f, uint32_t t)
{
    for (uint32_t g = 0; g < f->ngroups; g++)
        if (f->groups[g].tenant == t && f->groups[g].policy.emergency_opt_in)
            return 1;
    return 0;
}

static double pct(uint64_t a, uint64_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void print_text(const plan_report *r)
{
    const rf_fleet *f = r->fleet;
    const rf_plan *p = r->plan;
    char d1[32], d2[32], d3[32];

    printf("ringfence plan: channel ");
    cli_puts_safe(stdout, r->rel->channel);
    printf(" content version %" PRIu64 " (needs %u inputs), %s release\n",
           r->rel->content_version, r->rel->inputs_required,
           r->rel->emergency ? "emergency" : "normal");
    printf("  release   ");
    cli_puts_safe(stdout, r->release_path);
    printf("\n  fleet     ");
    cli_puts_safe(stdout, r->fleet_path);
    printf(" (seed %" PRIu64 "): %u hosts, %u tenants, %u sensor builds\n", r->seed, f->nhosts,
           f->ntenants, f->nsensors);
    printf("  plan      ");
    cli_puts_safe(stdout, p->name);
    if (r->plan_path) {
        printf(" (");
        cli_puts_safe(stdout, r->plan_path);
        printf(")");
    } else {
        printf(" (built in)");
    }
    printf(": %u waves, check-in every %s, silent after %s more\n", p->nwaves,
           fmt_dur(p->checkin_interval_s, d1, sizeof(d1)),
           fmt_dur(p->silence_grace_s, d2, sizeof(d2)));

    printf("\nhosts\n");
    printf("  %-38s %10" PRIu64 "  %5.1f%%\n", "eligible", r->eligible,
           pct(r->eligible, f->nhosts));
    for (int i = 0; i < R_COUNT; i++) {
        char label[64];
        snprintf(label, sizeof(label), "excluded: %s", reason_text[i]);
        printf("  %-38s %10" PRIu64 "  %5.1f%%", label, r->excl[i], pct(r->excl[i], f->nhosts));
        if (i == R_OFFLINE)
            printf("   (%" PRIu64 " offline in all)", r->offline_total);
        printf("\n");
    }

    int ww = 4;
    for (uint32_t w = 0; w < p->nwaves; w++) {
        int l = (int)strlen(p->waves[w].name);
        if (l > ww)
            ww = l;
    }
    uint64_t maxh = 0, cum = 0;
    for (uint32_t w = 0; w < p->nwaves; w++)
        if (r->wave_hosts[w] > maxh)
            maxh = r->wave_hosts[w];
    printf("\nwaves (%s bakes; times if every gate passes)\n",
           r->rel->emergency ? "emergency" : "normal");
    printf("  %2s  %-*s  %-8s  %8s  %8s  %10s  %10s  %10s\n", "#", ww, "wave", "ring", "opens",
           "lasts", "hosts", "cumulative", "customer");
    for (uint32_t w = 0; w < p->nwaves; w++) {
        cum += r->wave_hosts[w];
        printf("  %2u  %-*s  %-8s  %8s  %8s  %10" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "  ",
               w + 1, ww, p->waves[w].name, ring_name(p->waves[w].ring),
               fmt_dur((double)r->wave_open[w], d1, sizeof(d1)),
               fmt_dur((double)r->wave_dur[w], d2, sizeof(d2)), r->wave_hosts[w], cum,
               r->wave_customer[w]);
        int bar = maxh ? (int)llround((double)BAR_WIDTH * (double)r->wave_hosts[w] /
                                      (double)maxh)
                       : 0;
        if (bar == 0 && r->wave_hosts[w])
            bar = 1;
        for (int i = 0; i < bar; i++)
            fputc('#', stdout);
        printf("\n");
    }
    printf("  the last wave has baked after %s\n", fmt_dur((double)r->complete_at, d1, sizeof(d1)));

    printf("\nblast radius\n");
    printf("  the first gate can act after %s (check-in %s + grace %s after wave %s opens)\n",
           fmt_dur((double)r->detect_s, d1, sizeof(d1)),
           fmt_dur(p->checkin_interval_s, d2, sizeof(d2)),
           fmt_dur(p->silence_grace_s, d3, sizeof(d3)), p->waves[0].name);
    printf("  %-58s %10" PRIu64 "\n", "customer hosts that can take it before then",
           r->exposed_cust_before_gate);
    printf("  %-58s %10" PRIu64 "\n", "all hosts that can take it before then",
           r->exposed_all_before_gate);
    if (r->first_cust_wave >= 0) {
        char label[160];
        snprintf(label, sizeof(label), "customer hosts by the end of the bake of %s (%s)",
                 p->waves[r->first_cust_wave].name,
                 fmt_dur((double)r->first_cust_baked_at, d1, sizeof(d1)));
        printf("  %-58s %10" PRIu64 "\n", label, r->exposed_cust_full_bake);
        printf("  (%s is the first wave with customer hosts)\n",
               p->waves[r->first_cust_wave].name);
    } else {
        printf("  no customer host is eligible\n");
    }

    printf("\ntime to reach eligible hosts (each takes it within one check-in interval)\n");
    printf("  50%%  %10s\n  90%%  %10s\n  99%%  %10s\n", fmt_dur(r->t50, d1, sizeof(d1)),
           fmt_dur(r->t90, d2, sizeof(d2)), fmt_dur(r->t99, d3, sizeof(d3)));

    int sw = 7;
    for (uint32_t s = 0; s < f->nsensors; s++) {
        int l = (int)strlen(f->sensors[s].version);
        if (l > sw)
            sw = l;
    }
    printf("\nsensor builds (%s)\n", r->manifests ? "from the sensor manifests"
                                                   : "from the fleet's input counts");
    printf("  %-*s  %6s  %7s  %10s  %10s\n", sw, "version", "inputs", "runs it", "hosts",
           "eligible");
    for (uint32_t s = 0; s < f->nsensors; s++) {
        printf("  ");
        cli_puts_safe(stdout, f->sensors[s].version);
        printf("%*s  %6u  %7s  %10u  %10u\n", sw - (int)strlen(f->sensors[s].version), "",
               f->sensors[s].inputs, r->rel->sensor_ok[s] ? "yes" : "no", r->sensor_hosts[s],
               r->sensor_eligible[s]);
    }

    uint32_t top = f->ntenants < TOP_TENANTS ? f->ntenants : TOP_TENANTS;
    int tw = 6;
    for (uint32_t i = 0; i < top; i++) {
        int l = (int)strlen(f->tenants[r->order[i]].name);
        if (l > tw)
            tw = l;
    }
    char others[64];
    snprintf(others, sizeof(others), "others (%u)", f->ntenants - top);
    if (f->ntenants > top && (int)strlen(others) > tw)
        tw = (int)strlen(others);
    printf("\ntenants (%u largest of %u)\n", top, f->ntenants);
    printf("  %-*s  %-12s  %5s  %9s  %9s  %8s  %8s  %8s  %8s\n", tw, "tenant", "policy", "emerg",
           "hosts", "eligible", "paused", "pinned", "sensor", "offline");
    tstat rest;
    memset(&rest, 0, sizeof(rest));
    for (uint32_t i = 0; i < f->ntenants; i++) {
        uint32_t t = r->order[i];
        const tstat *ts = &r->tenant[t];
        if (i >= top) {
            rest.hosts += ts->hosts;
            rest.eligible += ts->eligible;
            for (int k = 0; k < R_COUNT; k++)
                rest.excl[k] += ts->excl[k];
            continue;
        }
        char pol[48];
        printf("  %-*s  %-12s  %5s  %9u  %9u  %8u  %8u  %8u  %8u\n", tw, f->tenants[t].name,
               tenant_policy(f, t, pol, sizeof(pol)), tenant_emergency(f, t) ? "yes" : "no",
               ts->hosts, ts->eligible, ts->excl[R_PAUSED], ts->excl[R_PINNED],
               ts->excl[R_SENSOR], ts->excl[R_OFFLINE]);
    }
    if (f->ntenants > top)
        printf("  %-*s  %-12s  %5s  %9u  %9u  %8u  %8u  %8u  %8u\n", tw, others, "", "",
               rest.hosts, rest.eligible, rest.excl[R_PAUSED], rest.excl[R_PINNED],
               rest.excl[R_SENSOR], rest.excl[R_OFFLINE]);
}

/* json_object_set_new that remembers a failure instead of losing it. */
static void put(json_t *obj, const char *key, json_t *val, int *oom)
{
    if (!val || json_object_set_new(obj, key, val) != 0)
        *oom = 1;
}

static void append(json_t *arr, json_t *val, int *oom)
{
    if (!val || json_array_append_new(arr, val) != 0)
        *oom = 1;
}

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *jexcl(const uint32_t *excl, int *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = 1;
        return NULL;
    }
    for (int k = 0; k < R_COUNT; k++)
        put(o, reason_key[k], jint(excl[k]), oom);
    return o;
}

static json_t *jtenant(const char *name, const tstat *ts, int *oom)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(o, "name", json_string(name), oom);
    put(o, "hosts", jint(ts->hosts), oom);
    put(o, "eligible", jint(ts->eligible), oom);
    put(o, "excluded", jexcl(ts->excl, oom), oom);
    return o;
}

static json_t *build_json(const plan_report *r)
{
    const rf_fleet *f = r->fleet;
    const rf_plan *p = r->plan;
    int oom = 0;
    json_t *root = json_object();
    if (!root)
        return NULL;

    json_t *rel = json_object();
    put(root, "release", rel, &oom);
    if (rel) {
        put(rel, "file", json_string(r->release_path), &oom);
        put(rel, "channel", json_string(r->rel->channel), &oom);
        put(rel, "template_type", json_string(r->ch->template_type), &oom);
        put(rel, "content_version", jint(r->rel->content_version), &oom);
        put(rel, "inputs_required", jint(r->rel->inputs_required), &oom);
        put(rel, "emergency", json_boolean(r->rel->emergency), &oom);
    }
    json_t *fl = json_object();
    put(root, "fleet", fl, &oom);
    if (fl) {
        put(fl, "file", json_string(r->fleet_path), &oom);
        put(fl, "seed", jint(r->seed), &oom);
        put(fl, "hosts", jint(f->nhosts), &oom);
        put(fl, "tenants", jint(f->ntenants), &oom);
        put(fl, "internal_hosts", jint(r->internal_hosts), &oom);
        put(fl, "customer_hosts", jint(r->customer_hosts), &oom);
        put(fl, "offline_hosts", jint(r->offline_total), &oom);
    }
    json_t *pl = json_object();
    put(root, "plan", pl, &oom);
    if (pl) {
        put(pl, "name", json_string(p->name), &oom);
        put(pl, "file", r->plan_path ? json_string(r->plan_path) : json_null(), &oom);
        put(pl, "checkin_interval_s", jint(p->checkin_interval_s), &oom);
        put(pl, "silence_grace_s", jint(p->silence_grace_s), &oom);
    }

    put(root, "hosts", jint(f->nhosts), &oom);
    put(root, "eligible", jint(r->eligible), &oom);
    json_t *ex = json_object();
    put(root, "excluded", ex, &oom);
    if (ex) {
        uint64_t tot = 0;
        for (int k = 0; k < R_COUNT; k++) {
            put(ex, reason_key[k], jint(r->excl[k]), &oom);
            tot += r->excl[k];
        }
        put(ex, "total", jint(tot), &oom);
    }

    json_t *waves = json_array();
    put(root, "waves", waves, &oom);
    uint64_t cum = 0;
    for (uint32_t w = 0; waves && w < p->nwaves && !oom; w++) {
        const rf_wave *v = &p->waves[w];
        json_t *o = json_object();
        append(waves, o, &oom);
        if (!o)
            break;
        cum += r->wave_hosts[w];
        put(o, "index", jint(w), &oom);
        put(o, "name", json_string(v->name), &oom);
        put(o, "ring", json_string(ring_name(v->ring)), &oom);
        put(o, "fraction", json_real(v->fraction), &oom);
        put(o, "bake_s", jint(r->rel->emergency ? v->emergency_bake_s : v->bake_s), &oom);
        put(o, "min_reports", jint(v->min_reports), &oom);
        put(o, "opens_s", jint((uint64_t)r->wave_open[w]), &oom);
        put(o, "lasts_s", jint((uint64_t)r->wave_dur[w]), &oom);
        put(o, "hosts", jint(r->wave_hosts[w]), &oom);
        put(o, "cumulative", jint(cum), &oom);
        put(o, "customer_hosts", jint(r->wave_customer[w]), &oom);
        put(o, "prompt_hosts", jint(r->wave_prompt[w]), &oom);
    }
    put(root, "complete_s", jint((uint64_t)r->complete_at), &oom);

    json_t *br = json_object();
    put(root, "blast_radius", br, &oom);
    if (br) {
        put(br, "first_gate_s", jint((uint64_t)r->detect_s), &oom);
        put(br, "customer_before_first_gate", jint(r->exposed_cust_before_gate), &oom);
        put(br, "all_before_first_gate", jint(r->exposed_all_before_gate), &oom);
        if (r->first_cust_wave >= 0) {
            put(br, "first_customer_wave", json_string(p->waves[r->first_cust_wave].name),
                &oom);
            put(br, "first_customer_wave_baked_s", jint((uint64_t)r->first_cust_baked_at),
                &oom);
        } else {
            put(br, "first_customer_wave", json_null(), &oom);
            put(br, "first_customer_wave_baked_s", json_null(), &oom);
        }
        put(br, "customer_before_first_customer_bake", jint(r->exposed_cust_full_bake), &oom);
    }

    json_t *tt = json_object();
    put(root, "time_to_eligible_s", tt, &oom);
    if (tt) {
        const struct {
            const char *k;
            double v;
        } q[] = {{"p50", r->t50}, {"p90", r->t90}, {"p99", r->t99}};
        for (size_t i = 0; i < 3; i++)
            put(tt, q[i].k, q[i].v < 0 ? json_null() : jint((uint64_t)llround(q[i].v)), &oom);
    }

    json_t *sens = json_array();
    put(root, "sensors", sens, &oom);
    for (uint32_t s = 0; sens && s < f->nsensors && !oom; s++) {
        json_t *o = json_object();
        append(sens, o, &oom);
        if (!o)
            break;
        put(o, "version", json_string(f->sensors[s].version), &oom);
        put(o, "inputs", jint(f->sensors[s].inputs), &oom);
        put(o, "can_run", json_boolean(r->rel->sensor_ok[s]), &oom);
        put(o, "hosts", jint(r->sensor_hosts[s]), &oom);
        put(o, "eligible", jint(r->sensor_eligible[s]), &oom);
    }

    uint32_t top = f->ntenants < TOP_TENANTS ? f->ntenants : TOP_TENANTS;
    json_t *ten = json_array();
    put(root, "tenants", ten, &oom);
    tstat rest;
    memset(&rest, 0, sizeof(rest));
    for (uint32_t i = 0; ten && i < f->ntenants && !oom; i++) {
        uint32_t t = r->order[i];
        const tstat *ts = &r->tenant[t];
        if (i >= top) {
            rest.hosts += ts->hosts;
            rest.eligible += ts->eligible;
            for (int k = 0; k < R_COUNT; k++)
                rest.excl[k] += ts->excl[k];
            continue;
        }
        json_t *o = jtenant(f->tenants[t].name, ts, &oom);
        append(ten, o, &oom);
        if (!o)
            break;
        char pol[48];
        put(o, "internal", json_boolean(f->tenants[t].internal), &oom);
        put(o, "policy", json_string(tenant_policy(f, t, pol, sizeof(pol))), &oom);
        put(o, "emergency_opt_in", json_boolean(tenant_emergency(f, t)), &oom);
    }
    json_t *oth = jtenant("others", &rest, &oom);
    put(root, "others", oth, &oom);
    if (oth)
        put(oth, "tenants", jint(f->ntenants - top), &oom);

    if (oom) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* Which fleet sensor builds can run the channel: by the fleet's input
 * counts, or by the workspace's sensor manifests (a build without a
 * manifest, or whose manifest lacks the template type, cannot). */
static int sensors_ok(const rf_fleet *f, const rf_channel *ch, uint32_t need, const char *dir,
                      uint8_t *ok)
{
    if (!dir) {
        for (uint32_t s = 0; s < f->nsensors; s++)
            ok[s] = f->sensors[s].inputs >= need;
        return RF_EXIT_OK;
    }
    int ec = cli_check_dir(dir, "sensor manifests directory");
    if (ec)
        return ec;
    rf_workspace *ws = NULL;
    rf_err err;
    rf_err_clear(&err);
    rf_rc rc = rf_workspace_load(dir, &ws, &err);
    if (rc) {
        cli_error_rf(&err);
        return cli_exit_for_rc(rc);
    }
    for (uint32_t s = 0; s < f->nsensors; s++) {
        const rf_sensor_manifest *m = rf_workspace_find_sensor(ws, f->sensors[s].version);
        const rf_sensor_support *sup =
            m ? rf_sensor_find_support(m, ch->template_type, ch->template_version) : NULL;
        ok[s] = sup && sup->inputs >= need;
    }
    rf_workspace_free(ws);
    return RF_EXIT_OK;
}

int cmd_plan(int argc, char **argv, const char *workspace)
{
    static const struct option longopts[] = {
        {"fleet", required_argument, NULL, 'f'},
        {"release", required_argument, NULL, 'r'},
        {"plan", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 's'},
        {"sensor-manifests", required_argument, NULL, 'm'},
        {"emergency", no_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *fleet_path = NULL, *release_path = NULL, *plan_path = NULL, *manifests = NULL;
    uint64_t seed = 1;
    int emergency = 0, as_json = 0, c;
    (void)workspace;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":C:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f': fleet_path = optarg; break;
        case 'r': release_path = optarg; break;
        case 'p': plan_path = optarg; break;
        case 'm': manifests = optarg; break;
        case 'e': emergency = 1; break;
        case 'j': as_json = 1; break;
        case 's':
            if (rf_parse_u64(optarg, UINT64_MAX, &seed) != RF_OK)
                return cli_usage_error("plan", "--seed needs a non-negative integer, not '%s'",
                                       optarg);
            break;
        case 'C': break;
        case 'h': return cli_help(usage);
        default: return cli_option_error("plan", argv, c);
        }
    }
    if (optind < argc)
        return cli_usage_error("plan", "unexpected argument '%s'", argv[optind]);
    if (!fleet_path)
        return cli_usage_error("plan", "--fleet FLEET.yaml is required");
    if (!release_path)
        return cli_usage_error("plan", "--release FILE.rfc is required");
    int ec = cli_check_file(fleet_path, "fleet file");
    if (!ec)
        ec = cli_check_file(release_path, "release");
    if (!ec && plan_path)
        ec = cli_check_file(plan_path, "plan file");
    if (ec)
        return ec;

    rf_err err;
    rf_err_clear(&err);
    rf_channel *ch = NULL;
    rf_fleet *fleet = NULL;
    rf_rollout *ro = NULL;
    uint8_t *ok = NULL;
    json_t *root = NULL;
    char *text = NULL;
    plan_report r;
    memset(&r, 0, sizeof(r));
    rf_plan plan;
    rf_release rel;
    memset(&rel, 0, sizeof(rel));

    rf_rc rc = rf_channel_read_file(release_path, &ch, &err);
    if (!rc) {
        if (plan_path)
            rc = rf_plan_load(plan_path, &plan, &err);
        else
            rf_plan_default(&plan);
    }
    if (!rc)
        rc = rf_fleet_load(fleet_path, seed, &fleet, &err);
    if (rc) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }

    ok = calloc(fleet->nsensors, 1);
    if (!ok) {
        cli_error("out of memory");
        ec = RF_EXIT_USAGE;
        goto out;
    }
    uint32_t need = rf_channel_inputs_required(ch);
    ec = sensors_ok(fleet, ch, need, manifests, ok);
    if (ec)
        goto out;
    snprintf(rel.channel, sizeof(rel.channel), "%u", ch->channel);
    rel.content_version = ch->content_version;
    rel.last_good_version = ch->content_version > 1 ? ch->content_version - 1 : 0;
    rel.inputs_required = need;
    rel.sensor_ok = ok;
    rel.emergency = emergency;

    rc = rf_rollout_new(&plan, fleet, &rel, seed, 0, &ro, &err);
    if (!rc) {
        r.fleet = fleet;
        r.plan = &plan;
        r.rel = &rel;
        r.ch = ch;
        r.fleet_path = fleet_path;
        r.release_path = release_path;
        r.plan_path = plan_path;
        r.seed = seed;
        r.manifests = manifests != NULL;
        rc = compute(&r, ro, &err);
    }
    if (rc) {
        cli_error_rf(&err);
        ec = cli_exit_for_rc(rc);
        goto out;
    }

    if (!as_json) {
        print_text(&r);
        ec = RF_EXIT_OK;
        goto out;
    }
    root = build_json(&r);
    if (root)
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    if (!text) {
        cli_error("cannot render the plan as JSON (out of memory)");
        ec = RF_EXIT_USAGE;
        goto out;
    }
    fputs(text, stdout);
    fputc('\n', stdout);
    ec = RF_EXIT_OK;

out:
    free(text);
    json_decref(root);
    report_free(&r);
    rf_rollout_free(ro);
    free(ok);
    rf_fleet_free(fleet);
    rf_channel_free(ch);
    return ec;
}
