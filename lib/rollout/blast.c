/*
 * blast.c — a release's blast radius before it starts (blast.h): what
 * `ringfence plan` prints and the server's GET /v1/plan answers. It starts
 * the rollout engine over (plan, fleet, release) and asks it, for every
 * host, which wave it is in or why it is excluded (rf_rollout_host_wave) —
 * the same answers the server and the simulator get — then works out:
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
 * The result keeps copies of what it reports (the plan, the sensor builds,
 * the largest tenants), so the server can compute under a lock on its live
 * fleet and render after. The JSON is written here with rf_buf in exactly
 * the layout jansson's json_dumps(JSON_INDENT(2) | JSON_PRESERVE_ORDER |
 * JSON_REAL_PRECISION(12)) gives, which is what `ringfence plan --json`
 * printed before this moved out of the CLI; the module does not link
 * jansson.
 */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringfence/blast.h"
#include "ringfence/util.h"

#define BAR_WIDTH 30 /* '#'s of the largest wave in the text report */
#define POLICY_MAX 48 /* "pinned v18446744073709551615" and the rest */

static const char *const reason_key[RF_BLAST_NREASONS] = {"paused", "pinned", "sensor",
                                                          "offline"};
static const char *const reason_text[RF_BLAST_NREASONS] = {
    "paused (tenant policy)", "pinned (tenant policy)", "sensor build cannot run it",
    "offline (never checks in)"};

typedef struct tstat {
    uint32_t hosts, eligible;
    uint32_t excl[RF_BLAST_NREASONS];
} tstat;

/* A tenant as reported: one of the largest, or "others". */
typedef struct blast_tenant {
    char name[RF_NAME_MAX];
    int internal, emergency_opt_in;
    char policy[POLICY_MAX];
    tstat st;
} blast_tenant;

typedef struct blast_sensor {
    char version[RF_SENSOR_VERSION_MAX];
    uint32_t inputs;
    int can_run;
    uint32_t hosts, eligible;
} blast_sensor;

struct rf_blast {
    rf_blast_figures fig;
    rf_plan plan; /* a copy: wave names, rings, fractions, bakes */
    char channel[RF_NAME_MAX];
    uint64_t content_version;
    uint32_t inputs_required;
    int emergency;
    uint64_t seed;
    char *release_file, *template_type, *fleet_file, *plan_file; /* NULL: none */
    int manifests;
    uint32_t ntenants, nsensors;
    uint32_t ntop; /* min(ntenants, RF_BLAST_TOP_TENANTS) */
    blast_tenant *top;
    tstat others; /* the tenants after the top ntop, summed */
    blast_sensor *sensors;
};

/* What the computation needs and the result does not keep. */
typedef struct scratch {
    tstat *tenant;           /* per fleet tenant */
    uint32_t nclass;         /* distinct effective GA delays, 0 always among them */
    uint32_t *class_delay;   /* ascending */
    uint32_t *gclass;        /* delay class of each group */
    uint32_t *cnt_all;       /* eligible hosts per (wave, class) */
    uint32_t *cnt_cust;      /* the same, customer hosts */
} scratch;

static const char *ring_name(rf_ring r)
{
    switch (r) {
    case RF_RING_INTERNAL: return "internal";
    case RF_RING_EARLY: return "early";
    case RF_RING_GA: return "ga";
    }
    return "?";
}

/* "0s", "45s", "6m30s", "2h", "1h05m", "3d", "1d01h35m"; "-" when negative. */
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

static uint32_t class_of(const scratch *s, uint32_t delay)
{
    uint32_t lo = 0, hi = s->nclass;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->class_delay[mid] < delay)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Eligible time of (wave w, delay class c). */
static int64_t elig_time(const rf_blast *b, const scratch *s, uint32_t w, uint32_t c)
{
    int64_t t = b->fig.waves[w].opens_s;
    if (b->plan.waves[w].ring == RF_RING_GA)
        t += s->class_delay[c];
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

/* Fill the time_to_*_s figures from the (wave, delay class) counts. */
static rf_rc take_times(rf_blast *b, const scratch *s, rf_err *err)
{
    rf_blast_figures *fg = &b->fig;
    uint32_t nw = b->plan.nwaves, nc = s->nclass, k = 0;
    for (size_t cell = 0; cell < (size_t)nw * nc; cell++)
        k += s->cnt_all[cell] != 0;
    elig_item *it = malloc((size_t)(k ? k : 1) * sizeof(*it));
    take_curve c = {k, NULL, NULL, NULL, (double)b->plan.checkin_interval_s,
                    (double)fg->eligible};
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
            if (s->cnt_all[(size_t)w * nc + cl])
                it[k++] = (elig_item){elig_time(b, s, w, cl), s->cnt_all[(size_t)w * nc + cl]};
    qsort(it, k, sizeof(*it), cmp_item);
    c.cn[0] = c.cne[0] = 0;
    for (uint32_t i = 0; i < k; i++) {
        c.e[i] = it[i].e;
        c.cn[i + 1] = c.cn[i] + it[i].n;
        c.cne[i + 1] = c.cne[i] + (double)it[i].n * (double)it[i].e;
    }
    fg->time_to_50_s = fg->time_to_90_s = fg->time_to_99_s = -1;
    if (k && fg->eligible) {
        double hi = (double)it[k - 1].e + c.interval + 1;
        fg->time_to_50_s = time_to(&c, 0.50, hi);
        fg->time_to_90_s = time_to(&c, 0.90, hi);
        fg->time_to_99_s = time_to(&c, 0.99, hi);
    }
out:
    free(it);
    free(c.e);
    free(c.cn);
    free(c.cne);
    return rc;
}

/* The delay classes of the fleet's groups. RF_E_NOMEM or RF_OK. */
static rf_rc delay_classes(scratch *s, const rf_fleet *f, const rf_release *rel, uint32_t nw)
{
    uint32_t *gd = malloc((size_t)(f->ngroups + 1) * sizeof(uint32_t));
    s->gclass = malloc((size_t)(f->ngroups ? f->ngroups : 1) * sizeof(uint32_t));
    if (!gd || !s->gclass) {
        free(gd);
        return RF_E_NOMEM;
    }
    for (uint32_t g = 0; g < f->ngroups; g++)
        gd[g] = group_delay(&f->groups[g], rel);
    gd[f->ngroups] = 0;
    qsort(gd, (size_t)f->ngroups + 1, sizeof(*gd), cmp_u32);
    uint32_t nc = 0;
    for (uint32_t i = 0; i <= f->ngroups; i++)
        if (nc == 0 || gd[nc - 1] != gd[i])
            gd[nc++] = gd[i];
    s->class_delay = gd;
    s->nclass = nc;
    for (uint32_t g = 0; g < f->ngroups; g++)
        s->gclass[g] = class_of(s, group_delay(&f->groups[g], rel));
    s->cnt_all = calloc((size_t)nw * nc, sizeof(uint32_t));
    s->cnt_cust = calloc((size_t)nw * nc, sizeof(uint32_t));
    return s->cnt_all && s->cnt_cust ? RF_OK : RF_E_NOMEM;
}

/* Ask the engine about every host and count. RF_E_INTERNAL if it puts a
 * host in a wave the plan does not have. */
static rf_rc count_hosts(rf_blast *b, scratch *s, const rf_rollout *ro, const rf_fleet *f,
                         rf_err *err)
{
    rf_blast_figures *fg = &b->fig;
    uint32_t nw = b->plan.nwaves, nc = s->nclass;
    for (uint32_t h = 0; h < f->nhosts; h++) {
        uint32_t g = f->host_group[h], t = f->groups[g].tenant, sn = f->host_sensor[h];
        const rf_policy *pol = &f->groups[g].policy;
        int internal = f->tenants[t].internal != 0;
        int offline = (f->host_flags[h] & RF_HOST_OFFLINE) != 0;
        tstat *ts = &s->tenant[t];
        ts->hosts++;
        b->sensors[sn].hosts++;
        fg->offline_hosts += offline;
        if (internal)
            fg->internal_hosts++;
        else
            fg->customer_hosts++;
        uint32_t w = 0;
        rf_exclusion ex = rf_rollout_host_wave(ro, h, &w);
        int reason = -1;
        if (ex != RF_EXCL_NONE) {
            if (ex == RF_EXCL_PAUSED || (!internal && pol->mode == RF_POLICY_PAUSED))
                reason = RF_BLAST_PAUSED;
            else if (ex == RF_EXCL_PINNED || (!internal && pol->mode == RF_POLICY_PINNED))
                reason = RF_BLAST_PINNED;
            else
                reason = RF_BLAST_SENSOR;
        } else if (offline) {
            reason = RF_BLAST_OFFLINE;
        }
        if (reason >= 0) {
            fg->excluded[reason]++;
            ts->excl[reason]++;
            continue;
        }
        if (w >= nw)
            return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0,
                              "the engine put host %u in wave %u of %u", h, w, nw);
        fg->eligible++;
        ts->eligible++;
        b->sensors[sn].eligible++;
        fg->waves[w].hosts++;
        size_t cell = (size_t)w * nc + s->gclass[g];
        s->cnt_all[cell]++;
        if (!internal) {
            fg->waves[w].customer_hosts++;
            s->cnt_cust[cell]++;
        }
    }
    return RF_OK;
}

static uint32_t bake_of(const rf_blast *b, uint32_t w)
{
    return b->emergency ? b->plan.waves[w].emergency_bake_s : b->plan.waves[w].bake_s;
}

/* When each wave opens and how long it lasts, if every gate passes. */
static void schedule(rf_blast *b, const scratch *s)
{
    rf_blast_figures *fg = &b->fig;
    const rf_plan *p = &b->plan;
    uint32_t nw = p->nwaves;

    /* Hosts of each wave that can take it as soon as it opens. */
    for (uint32_t w = 0; w < nw; w++)
        fg->waves[w].prompt_hosts = p->waves[w].ring == RF_RING_GA
                                        ? s->cnt_all[(size_t)w * s->nclass]
                                        : fg->waves[w].hosts;

    /* A wave with hosts lasts its bake, and at least until min_reports
     * check-ins after taking it have come in (the engine asks for at most
     * half of the hosts that can take it at once): the k-th of n prompt
     * hosts reports about (1 + k/n) check-in intervals after the wave
     * opens. An empty wave is promoted at once. */
    double I = (double)p->checkin_interval_s;
    int64_t t = 0;
    for (uint32_t w = 0; w < nw; w++) {
        rf_blast_wave *v = &fg->waves[w];
        v->opens_s = t;
        int64_t d = 0;
        if (v->hosts) {
            d = bake_of(b, w);
            uint64_t need = p->waves[w].min_reports;
            if (need > v->prompt_hosts / 2)
                need = v->prompt_hosts / 2;
            if (need > 0) {
                int64_t wait = (int64_t)ceil(I * (1.0 + (double)need / (double)v->prompt_hosts));
                if (wait > d)
                    d = wait;
            }
        }
        v->lasts_s = d;
        t += d;
    }
    fg->complete_s = t;
}

/* Hosts that can take it before the first gate can act, and before the
 * first wave with customer hosts has baked. */
static void exposure(rf_blast *b, const scratch *s)
{
    rf_blast_figures *fg = &b->fig;
    const rf_plan *p = &b->plan;
    uint32_t nw = p->nwaves, nc = s->nclass;
    fg->first_gate_s = (int64_t)p->checkin_interval_s + (int64_t)p->silence_grace_s;
    fg->first_customer_wave = -1;
    for (uint32_t w = 0; w < nw && fg->first_customer_wave < 0; w++)
        if (fg->waves[w].customer_hosts)
            fg->first_customer_wave = (int)w;
    if (fg->first_customer_wave >= 0) {
        uint32_t c0 = (uint32_t)fg->first_customer_wave;
        fg->first_customer_wave_baked_s = fg->waves[c0].opens_s + bake_of(b, c0);
    }
    for (uint32_t w = 0; w < nw; w++) {
        for (uint32_t c = 0; c < nc; c++) {
            size_t cell = (size_t)w * nc + c;
            if (!s->cnt_all[cell])
                continue;
            int64_t e = elig_time(b, s, w, c);
            if (e < fg->first_gate_s) {
                fg->all_before_first_gate += s->cnt_all[cell];
                fg->customer_before_first_gate += s->cnt_cust[cell];
            }
            if (fg->first_customer_wave >= 0 && e < fg->first_customer_wave_baked_s)
                fg->customer_before_first_customer_bake += s->cnt_cust[cell];
        }
    }
}

/* A tenant's policy in a few characters: "ga", "ga+24h", "early",
 * "pinned v4", "paused", "internal", or "mixed" for groups that differ. */
static void tenant_policy(const rf_fleet *f, uint32_t t, char *buf, size_t n)
{
    if (f->tenants[t].internal) {
        snprintf(buf, n, "internal");
        return;
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
            return;
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
}

/* The emergency opt-in is per tenant in fleet files, per group in a fleet:
 * report it if any group of the tenant has it. */
static int tenant_emergency(const rf_fleet *f, uint32_t t)
{
    for (uint32_t g = 0; g < f->ngroups; g++)
        if (f->groups[g].tenant == t && f->groups[g].policy.emergency_opt_in)
            return 1;
    return 0;
}

/* Tenants by hosts, largest first; equal sizes in fleet order. */
typedef struct tenant_rank {
    uint32_t hosts, index;
} tenant_rank;

static int cmp_tenant(const void *a, const void *b)
{
    const tenant_rank *x = a, *y = b;
    if (x->hosts != y->hosts)
        return x->hosts > y->hosts ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Keep the largest tenants and sum the others. RF_E_NOMEM or RF_OK. */
static rf_rc top_tenants(rf_blast *b, const scratch *s, const rf_fleet *f)
{
    tenant_rank *order = malloc((size_t)(f->ntenants ? f->ntenants : 1) * sizeof(*order));
    b->ntop = f->ntenants < RF_BLAST_TOP_TENANTS ? f->ntenants : RF_BLAST_TOP_TENANTS;
    b->top = calloc(b->ntop ? b->ntop : 1, sizeof(*b->top));
    if (!order || !b->top) {
        free(order);
        return RF_E_NOMEM;
    }
    for (uint32_t i = 0; i < f->ntenants; i++)
        order[i] = (tenant_rank){s->tenant[i].hosts, i};
    qsort(order, f->ntenants, sizeof(*order), cmp_tenant);
    for (uint32_t i = 0; i < f->ntenants; i++) {
        uint32_t t = order[i].index;
        const tstat *ts = &s->tenant[t];
        if (i >= b->ntop) {
            b->others.hosts += ts->hosts;
            b->others.eligible += ts->eligible;
            for (int k = 0; k < RF_BLAST_NREASONS; k++)
                b->others.excl[k] += ts->excl[k];
            continue;
        }
        blast_tenant *bt = &b->top[i];
        snprintf(bt->name, sizeof(bt->name), "%.*s", RF_NAME_MAX - 1, f->tenants[t].name);
        bt->internal = f->tenants[t].internal != 0;
        bt->emergency_opt_in = tenant_emergency(f, t);
        tenant_policy(f, t, bt->policy, sizeof(bt->policy));
        bt->st = *ts;
    }
    free(order);
    return RF_OK;
}

static rf_rc copy_name(const char *s, char **out)
{
    *out = NULL;
    if (s && !(*out = rf_strdup(s)))
        return RF_E_NOMEM;
    return RF_OK;
}

/* The inputs the report shows. RF_E_NOMEM or RF_OK. */
static rf_rc copy_inputs(rf_blast *b, const rf_plan *plan, const rf_fleet *f,
                         const rf_release *rel, uint64_t seed, const rf_blast_names *names)
{
    b->plan = *plan;
    b->plan.name[RF_NAME_MAX - 1] = '\0';
    for (uint32_t w = 0; w < b->plan.nwaves; w++)
        b->plan.waves[w].name[RF_NAME_MAX - 1] = '\0';
    snprintf(b->channel, sizeof(b->channel), "%.*s", RF_NAME_MAX - 1, rel->channel);
    b->content_version = rel->content_version;
    b->inputs_required = rel->inputs_required;
    b->emergency = rel->emergency != 0;
    b->seed = seed;
    b->ntenants = f->ntenants;
    b->nsensors = f->nsensors;
    b->fig.hosts = f->nhosts;
    b->fig.nwaves = plan->nwaves;
    b->sensors = calloc(f->nsensors ? f->nsensors : 1, sizeof(*b->sensors));
    if (!b->sensors)
        return RF_E_NOMEM;
    for (uint32_t s = 0; s < f->nsensors; s++) {
        blast_sensor *bs = &b->sensors[s];
        snprintf(bs->version, sizeof(bs->version), "%.*s", RF_SENSOR_VERSION_MAX - 1,
                 f->sensors[s].version);
        bs->inputs = f->sensors[s].inputs;
        bs->can_run = rel->sensor_ok[s] != 0;
    }
    if (!names)
        return RF_OK;
    b->manifests = names->sensors_from_manifests != 0;
    if (copy_name(names->release_file, &b->release_file) ||
        copy_name(names->template_type, &b->template_type) ||
        copy_name(names->fleet_file, &b->fleet_file) ||
        copy_name(names->plan_file, &b->plan_file))
        return RF_E_NOMEM;
    return RF_OK;
}

static void scratch_free(scratch *s)
{
    free(s->tenant);
    free(s->class_delay);
    free(s->gclass);
    free(s->cnt_all);
    free(s->cnt_cust);
}

rf_rc rf_blast_compute(const rf_plan *plan, const rf_fleet *fleet, const rf_release *rel,
                       uint64_t seed, const rf_blast_names *names, rf_blast **out,
                       rf_err *err)
{
    if (!plan || !fleet || !rel || !rel->sensor_ok || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "a blast radius needs a plan, a fleet and a release");
    rf_rollout *ro = NULL;
    rf_rc rc = rf_rollout_new(plan, fleet, rel, seed, 0, &ro, err);
    if (rc)
        return rc;
    scratch s;
    memset(&s, 0, sizeof(s));
    rf_blast *b = calloc(1, sizeof(*b));
    if (!b)
        goto out_nomem;
    if (copy_inputs(b, plan, fleet, rel, seed, names) != RF_OK)
        goto out_nomem;
    s.tenant = calloc(fleet->ntenants ? fleet->ntenants : 1, sizeof(*s.tenant));
    if (!s.tenant || delay_classes(&s, fleet, rel, plan->nwaves) != RF_OK)
        goto out_nomem;
    rc = count_hosts(b, &s, ro, fleet, err);
    if (rc)
        goto out_free;
    schedule(b, &s);
    exposure(b, &s);
    rc = take_times(b, &s, err);
    if (rc)
        goto out_free;
    if (top_tenants(b, &s, fleet) != RF_OK)
        goto out_nomem;
    scratch_free(&s);
    rf_rollout_free(ro);
    *out = b;
    return RF_OK;

out_nomem:
    rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory computing the plan");
out_free:
    scratch_free(&s);
    rf_blast_free(b);
    rf_rollout_free(ro);
    return rc;
}

void rf_blast_free(rf_blast *b)
{
    if (!b)
        return;
    free(b->release_file);
    free(b->template_type);
    free(b->fleet_file);
    free(b->plan_file);
    free(b->top);
    free(b->sensors);
    free(b);
}

const rf_blast_figures *rf_blast_figures_of(const rf_blast *b)
{
    return &b->fig;
}

/* ---- JSON -------------------------------------------------------------------- */

/* Nesting of the report: root, waves, one wave. */
#define JW_MAX_DEPTH 4

/* A writer of indented JSON in jansson's layout: members separated by ",\n"
 * and indented two spaces a level, "key": value, empty containers as {} or []. */
typedef struct jw {
    rf_buf b;
    int depth;
    uint32_t n[JW_MAX_DEPTH + 1]; /* members written so far at each depth */
    const char *bad;              /* first string that is not UTF-8 */
} jw;

static void jw_indent(jw *w, int depth)
{
    rf_buf_append(&w->b, "\n", 1);
    for (int i = 0; i < depth; i++)
        rf_buf_append(&w->b, "  ", 2);
}

/* A JSON string, escaped as jansson does: \" \\ \b \f \n \r \t, other
 * control characters as \u00XX, everything else (DEL, '/', UTF-8) as is.
 * JSON cannot carry bytes that are not UTF-8: remember the string. */
static void jw_string(jw *w, const char *s)
{
    size_t len = strlen(s);
    if (!rf_utf8_valid(s, len, NULL) && !w->bad)
        w->bad = s;
    rf_buf_append(&w->b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rf_buf_append(&w->b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': rf_buf_append(&w->b, "\\\"", 2); break;
        case '\\': rf_buf_append(&w->b, "\\\\", 2); break;
        case '\b': rf_buf_append(&w->b, "\\b", 2); break;
        case '\f': rf_buf_append(&w->b, "\\f", 2); break;
        case '\n': rf_buf_append(&w->b, "\\n", 2); break;
        case '\r': rf_buf_append(&w->b, "\\r", 2); break;
        case '\t': rf_buf_append(&w->b, "\\t", 2); break;
        default: rf_buf_printf(&w->b, "\\u%04X", c); break;
        }
    }
    rf_buf_append(&w->b, s + run, len - run);
    rf_buf_append(&w->b, "\"", 1);
}

/* Before a value: the separator, the indent and, in an object, the key. */
static void jw_member(jw *w, const char *key)
{
    if (w->depth == 0)
        return;
    if (w->n[w->depth]++)
        rf_buf_append(&w->b, ",", 1);
    jw_indent(w, w->depth);
    if (key) {
        jw_string(w, key);
        rf_buf_append(&w->b, ": ", 2);
    }
}

static void jw_open(jw *w, const char *key, char c)
{
    assert(w->depth < JW_MAX_DEPTH);
    jw_member(w, key);
    rf_buf_append(&w->b, &c, 1);
    w->n[++w->depth] = 0;
}

static void jw_close(jw *w, char c)
{
    if (w->n[w->depth])
        jw_indent(w, w->depth - 1);
    w->depth--;
    rf_buf_append(&w->b, &c, 1);
}

static void jw_int(jw *w, const char *key, int64_t v)
{
    jw_member(w, key);
    rf_buf_printf(&w->b, "%" PRId64, v);
}

/* Counts as jansson's json_integer took them, a signed 64-bit integer. */
static void jw_u64(jw *w, const char *key, uint64_t v)
{
    jw_int(w, key, (int64_t)v);
}

static void jw_bool(jw *w, const char *key, int v)
{
    jw_member(w, key);
    rf_buf_printf(&w->b, "%s", v ? "true" : "false");
}

static void jw_null(jw *w, const char *key)
{
    jw_member(w, key);
    rf_buf_append(&w->b, "null", 4);
}

static void jw_str(jw *w, const char *key, const char *s)
{
    if (!s) {
        jw_null(w, key);
        return;
    }
    jw_member(w, key);
    jw_string(w, s);
}

/* A real as jansson writes one at precision 12: %.12g, the decimal point a
 * '.', ".0" appended when it would read back as an integer, and the
 * exponent without '+' or leading zeros ("1e-5", "2.5e20"). */
static void jw_real(jw *w, const char *key, double v)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.12g", v);
    for (char *p = buf; *p; p++)
        if (*p == ',')
            *p = '.';
    if (!strchr(buf, '.') && !strchr(buf, 'e')) {
        size_t l = strlen(buf);
        if (l + 3 <= sizeof(buf))
            memcpy(buf + l, ".0", 3);
    }
    char *e = strchr(buf, 'e');
    if (e) {
        char *start = e + 1, *end = e + 2;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start)
            memmove(start, end, strlen(end) + 1);
    }
    jw_member(w, key);
    rf_buf_printf(&w->b, "%s", buf);
}

static void jw_excl(jw *w, const char *key, const uint32_t *excl)
{
    jw_open(w, key, '{');
    for (int k = 0; k < RF_BLAST_NREASONS; k++)
        jw_u64(w, reason_key[k], excl[k]);
    jw_close(w, '}');
}

/* A tenant's figures; the object is left open for more members. */
static void jw_tenant(jw *w, const char *key, const char *name, const tstat *ts)
{
    jw_open(w, key, '{');
    jw_str(w, "name", name);
    jw_u64(w, "hosts", ts->hosts);
    jw_u64(w, "eligible", ts->eligible);
    jw_excl(w, "excluded", ts->excl);
}

rf_rc rf_blast_to_json(const rf_blast *b, char **out, rf_err *err)
{
    if (!b || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "no blast radius to write");
    const rf_blast_figures *fg = &b->fig;
    const rf_plan *p = &b->plan;
    jw w;
    memset(&w, 0, sizeof(w));
    rf_buf_init(&w.b);

    jw_open(&w, NULL, '{');
    jw_open(&w, "release", '{');
    jw_str(&w, "file", b->release_file);
    jw_str(&w, "channel", b->channel);
    jw_str(&w, "template_type", b->template_type);
    jw_u64(&w, "content_version", b->content_version);
    jw_u64(&w, "inputs_required", b->inputs_required);
    jw_bool(&w, "emergency", b->emergency);
    jw_close(&w, '}');

    jw_open(&w, "fleet", '{');
    jw_str(&w, "file", b->fleet_file);
    jw_u64(&w, "seed", b->seed);
    jw_u64(&w, "hosts", fg->hosts);
    jw_u64(&w, "tenants", b->ntenants);
    jw_u64(&w, "internal_hosts", fg->internal_hosts);
    jw_u64(&w, "customer_hosts", fg->customer_hosts);
    jw_u64(&w, "offline_hosts", fg->offline_hosts);
    jw_close(&w, '}');

    jw_open(&w, "plan", '{');
    jw_str(&w, "name", p->name);
    jw_str(&w, "file", b->plan_file);
    jw_u64(&w, "checkin_interval_s", p->checkin_interval_s);
    jw_u64(&w, "silence_grace_s", p->silence_grace_s);
    jw_close(&w, '}');

    jw_u64(&w, "hosts", fg->hosts);
    jw_u64(&w, "eligible", fg->eligible);
    jw_open(&w, "excluded", '{');
    uint64_t tot = 0;
    for (int k = 0; k < RF_BLAST_NREASONS; k++) {
        jw_u64(&w, reason_key[k], fg->excluded[k]);
        tot += fg->excluded[k];
    }
    jw_u64(&w, "total", tot);
    jw_close(&w, '}');

    jw_open(&w, "waves", '[');
    uint64_t cum = 0;
    for (uint32_t i = 0; i < p->nwaves; i++) {
        const rf_wave *v = &p->waves[i];
        const rf_blast_wave *bw = &fg->waves[i];
        cum += bw->hosts;
        jw_open(&w, NULL, '{');
        jw_u64(&w, "index", i);
        jw_str(&w, "name", v->name);
        jw_str(&w, "ring", ring_name(v->ring));
        jw_real(&w, "fraction", v->fraction);
        jw_u64(&w, "bake_s", bake_of(b, i));
        jw_u64(&w, "min_reports", v->min_reports);
        jw_int(&w, "opens_s", bw->opens_s);
        jw_int(&w, "lasts_s", bw->lasts_s);
        jw_u64(&w, "hosts", bw->hosts);
        jw_u64(&w, "cumulative", cum);
        jw_u64(&w, "customer_hosts", bw->customer_hosts);
        jw_u64(&w, "prompt_hosts", bw->prompt_hosts);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    jw_int(&w, "complete_s", fg->complete_s);

    jw_open(&w, "blast_radius", '{');
    jw_int(&w, "first_gate_s", fg->first_gate_s);
    jw_u64(&w, "customer_before_first_gate", fg->customer_before_first_gate);
    jw_u64(&w, "all_before_first_gate", fg->all_before_first_gate);
    if (fg->first_customer_wave >= 0) {
        jw_str(&w, "first_customer_wave", p->waves[fg->first_customer_wave].name);
        jw_int(&w, "first_customer_wave_baked_s", fg->first_customer_wave_baked_s);
    } else {
        jw_null(&w, "first_customer_wave");
        jw_null(&w, "first_customer_wave_baked_s");
    }
    jw_u64(&w, "customer_before_first_customer_bake", fg->customer_before_first_customer_bake);
    jw_close(&w, '}');

    jw_open(&w, "time_to_eligible_s", '{');
    const struct {
        const char *k;
        double v;
    } q[] = {{"p50", fg->time_to_50_s}, {"p90", fg->time_to_90_s}, {"p99", fg->time_to_99_s}};
    for (size_t i = 0; i < 3; i++) {
        if (q[i].v < 0)
            jw_null(&w, q[i].k);
        else
            jw_int(&w, q[i].k, (int64_t)llround(q[i].v));
    }
    jw_close(&w, '}');

    jw_open(&w, "sensors", '[');
    for (uint32_t s = 0; s < b->nsensors; s++) {
        const blast_sensor *bs = &b->sensors[s];
        jw_open(&w, NULL, '{');
        jw_str(&w, "version", bs->version);
        jw_u64(&w, "inputs", bs->inputs);
        jw_bool(&w, "can_run", bs->can_run);
        jw_u64(&w, "hosts", bs->hosts);
        jw_u64(&w, "eligible", bs->eligible);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');

    jw_open(&w, "tenants", '[');
    for (uint32_t i = 0; i < b->ntop; i++) {
        const blast_tenant *bt = &b->top[i];
        jw_tenant(&w, NULL, bt->name, &bt->st);
        jw_bool(&w, "internal", bt->internal);
        jw_str(&w, "policy", bt->policy);
        jw_bool(&w, "emergency_opt_in", bt->emergency_opt_in);
        jw_close(&w, '}');
    }
    jw_close(&w, ']');
    jw_tenant(&w, "others", "others", &b->others);
    jw_u64(&w, "tenants", b->ntenants - b->ntop);
    jw_close(&w, '}');
    jw_close(&w, '}');

    if (w.bad) {
        char shown[64];
        snprintf(shown, sizeof(shown), "%s", w.bad);
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                *c = '?';
        rf_buf_free(&w.b);
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "cannot write '%s' in JSON: it is not valid UTF-8", shown);
    }
    char *text = rf_buf_take(&w.b);
    if (!text)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0,
                          "out of memory writing the plan as JSON");
    *out = text;
    return RF_OK;
}

/* ---- text -------------------------------------------------------------------- */

/* A name for a terminal: control characters escaped; NULL as "-". */
static void put_safe(FILE *fp, const char *s)
{
    if (!s) {
        fputc('-', fp);
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            fputs("\\n", fp);
        else if (c < 0x20 || c == 0x7f)
            fprintf(fp, "\\x%02x", c);
        else
            fputc(c, fp);
    }
}

static double pct(uint64_t a, uint64_t b)
{
    return b ? 100.0 * (double)a / (double)b : 0.0;
}

static void print_tenant_row(FILE *fp, int tw, const char *name, const char *policy,
                             const char *emerg, const tstat *ts)
{
    fprintf(fp, "  %-*s  %-12s  %5s  %9u  %9u  %8u  %8u  %8u  %8u\n", tw, name, policy, emerg,
            ts->hosts, ts->eligible, ts->excl[RF_BLAST_PAUSED], ts->excl[RF_BLAST_PINNED],
            ts->excl[RF_BLAST_SENSOR], ts->excl[RF_BLAST_OFFLINE]);
}

void rf_blast_print(const rf_blast *b, FILE *fp)
{
    const rf_blast_figures *fg = &b->fig;
    const rf_plan *p = &b->plan;
    char d1[32], d2[32], d3[32];

    fprintf(fp, "ringfence plan: channel ");
    put_safe(fp, b->channel);
    fprintf(fp, " content version %" PRIu64 " (needs %u inputs), %s release\n",
            b->content_version, b->inputs_required, b->emergency ? "emergency" : "normal");
    fprintf(fp, "  release   ");
    put_safe(fp, b->release_file);
    fprintf(fp, "\n  fleet     ");
    put_safe(fp, b->fleet_file);
    fprintf(fp, " (seed %" PRIu64 "): %" PRIu64 " hosts, %u tenants, %u sensor builds\n",
            b->seed, fg->hosts, b->ntenants, b->nsensors);
    fprintf(fp, "  plan      ");
    put_safe(fp, p->name);
    if (b->plan_file) {
        fprintf(fp, " (");
        put_safe(fp, b->plan_file);
        fprintf(fp, ")");
    } else {
        fprintf(fp, " (built in)");
    }
    fprintf(fp, ": %u waves, check-in every %s, silent after %s more\n", p->nwaves,
            fmt_dur(p->checkin_interval_s, d1, sizeof(d1)),
            fmt_dur(p->silence_grace_s, d2, sizeof(d2)));

    fprintf(fp, "\nhosts\n");
    fprintf(fp, "  %-38s %10" PRIu64 "  %5.1f%%\n", "eligible", fg->eligible,
            pct(fg->eligible, fg->hosts));
    for (int i = 0; i < RF_BLAST_NREASONS; i++) {
        char label[64];
        snprintf(label, sizeof(label), "excluded: %s", reason_text[i]);
        fprintf(fp, "  %-38s %10" PRIu64 "  %5.1f%%", label, fg->excluded[i],
                pct(fg->excluded[i], fg->hosts));
        if (i == RF_BLAST_OFFLINE)
            fprintf(fp, "   (%" PRIu64 " offline in all)", fg->offline_hosts);
        fprintf(fp, "\n");
    }

    int ww = 4;
    for (uint32_t w = 0; w < p->nwaves; w++) {
        int l = (int)strlen(p->waves[w].name);
        if (l > ww)
            ww = l;
    }
    uint64_t maxh = 0, cum = 0;
    for (uint32_t w = 0; w < p->nwaves; w++)
        if (fg->waves[w].hosts > maxh)
            maxh = fg->waves[w].hosts;
    fprintf(fp, "\nwaves (%s bakes; times if every gate passes)\n",
            b->emergency ? "emergency" : "normal");
    fprintf(fp, "  %2s  %-*s  %-8s  %8s  %8s  %10s  %10s  %10s\n", "#", ww, "wave", "ring",
            "opens", "lasts", "hosts", "cumulative", "customer");
    for (uint32_t w = 0; w < p->nwaves; w++) {
        const rf_blast_wave *v = &fg->waves[w];
        cum += v->hosts;
        fprintf(fp, "  %2u  %-*s  %-8s  %8s  %8s  %10" PRIu64 "  %10" PRIu64 "  %10" PRIu64 "  ",
                w + 1, ww, p->waves[w].name, ring_name(p->waves[w].ring),
                fmt_dur((double)v->opens_s, d1, sizeof(d1)),
                fmt_dur((double)v->lasts_s, d2, sizeof(d2)), v->hosts, cum, v->customer_hosts);
        int bar = maxh ? (int)llround((double)BAR_WIDTH * (double)v->hosts / (double)maxh) : 0;
        if (bar == 0 && v->hosts)
            bar = 1;
        for (int i = 0; i < bar; i++)
            fputc('#', fp);
        fprintf(fp, "\n");
    }
    fprintf(fp, "  the last wave has baked after %s\n",
            fmt_dur((double)fg->complete_s, d1, sizeof(d1)));

    fprintf(fp, "\nblast radius\n");
    fprintf(fp, "  the first gate can act after %s (check-in %s + grace %s after wave %s opens)\n",
            fmt_dur((double)fg->first_gate_s, d1, sizeof(d1)),
            fmt_dur(p->checkin_interval_s, d2, sizeof(d2)),
            fmt_dur(p->silence_grace_s, d3, sizeof(d3)), p->waves[0].name);
    fprintf(fp, "  %-58s %10" PRIu64 "\n", "customer hosts that can take it before then",
            fg->customer_before_first_gate);
    fprintf(fp, "  %-58s %10" PRIu64 "\n", "all hosts that can take it before then",
            fg->all_before_first_gate);
    if (fg->first_customer_wave >= 0) {
        const char *cw = p->waves[fg->first_customer_wave].name;
        char label[160];
        snprintf(label, sizeof(label), "customer hosts by the end of the bake of %s (%s)", cw,
                 fmt_dur((double)fg->first_customer_wave_baked_s, d1, sizeof(d1)));
        fprintf(fp, "  %-58s %10" PRIu64 "\n", label, fg->customer_before_first_customer_bake);
        fprintf(fp, "  (%s is the first wave with customer hosts)\n", cw);
    } else {
        fprintf(fp, "  no customer host is eligible\n");
    }

    fprintf(fp, "\ntime to reach eligible hosts (each takes it within one check-in interval)\n");
    fprintf(fp, "  50%%  %10s\n  90%%  %10s\n  99%%  %10s\n",
            fmt_dur(fg->time_to_50_s, d1, sizeof(d1)), fmt_dur(fg->time_to_90_s, d2, sizeof(d2)),
            fmt_dur(fg->time_to_99_s, d3, sizeof(d3)));

    int sw = 7;
    for (uint32_t s = 0; s < b->nsensors; s++) {
        int l = (int)strlen(b->sensors[s].version);
        if (l > sw)
            sw = l;
    }
    fprintf(fp, "\nsensor builds (%s)\n",
            b->manifests ? "from the sensor manifests" : "from the fleet's input counts");
    fprintf(fp, "  %-*s  %6s  %7s  %10s  %10s\n", sw, "version", "inputs", "runs it", "hosts",
            "eligible");
    for (uint32_t s = 0; s < b->nsensors; s++) {
        const blast_sensor *bs = &b->sensors[s];
        fprintf(fp, "  ");
        put_safe(fp, bs->version);
        fprintf(fp, "%*s  %6u  %7s  %10u  %10u\n", sw - (int)strlen(bs->version), "",
                bs->inputs, bs->can_run ? "yes" : "no", bs->hosts, bs->eligible);
    }

    int tw = 6;
    for (uint32_t i = 0; i < b->ntop; i++) {
        int l = (int)strlen(b->top[i].name);
        if (l > tw)
            tw = l;
    }
    char others[64];
    snprintf(others, sizeof(others), "others (%u)", b->ntenants - b->ntop);
    if (b->ntenants > b->ntop && (int)strlen(others) > tw)
        tw = (int)strlen(others);
    fprintf(fp, "\ntenants (%u largest of %u)\n", b->ntop, b->ntenants);
    fprintf(fp, "  %-*s  %-12s  %5s  %9s  %9s  %8s  %8s  %8s  %8s\n", tw, "tenant", "policy",
            "emerg", "hosts", "eligible", "paused", "pinned", "sensor", "offline");
    for (uint32_t i = 0; i < b->ntop; i++) {
        const blast_tenant *bt = &b->top[i];
        print_tenant_row(fp, tw, bt->name, bt->policy, bt->emergency_opt_in ? "yes" : "no",
                         &bt->st);
    }
    if (b->ntenants > b->ntop)
        print_tenant_row(fp, tw, others, "", "", &b->others);
}
