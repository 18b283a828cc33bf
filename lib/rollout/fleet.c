/*
 * fleet.c — fleets: the hosts a rollout is planned or simulated over. A
 * Fleet YAML document (docs/gates.md, "Fleet files") describes a fleet by
 * counts and distributions — sensor builds with shares, tenants with host
 * counts, groups with shares and policies, an offline share, and optionally
 * a `generate:` section — and rf_fleet_load expands it into compact per-host
 * arrays (7 bytes a host: 8.5 million hosts in about 60 MiB).
 *
 * Expansion is deterministic: the same file and seed give the same arrays,
 * byte for byte. Counts are exact where the file states them (hosts per
 * tenant and group; customer hosts per sensor build and offline hosts by
 * largest-remainder rounding of their shares), and only *which* host gets
 * which sensor build, or is offline, is drawn from the seed. Vendor-internal
 * hosts are dealt round-robin over every sensor build, so the internal ring
 * exercises every build before any customer host does.
 *
 * rf_fleet_generate makes large synthetic fleets (heavy-tailed tenant sizes,
 * a policy mix) through the same builder, with no per-host allocation
 * beyond the three host arrays.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringfence/rollout.h"
#include "ringfence/util.h"
#include "rollout/rollout_int.h"

/* Shares of one list must sum to 1 within this. */
#define SHARE_EPS 1e-6

/* Independent random streams drawn from one seed. */
enum { STREAM_SENSORS = 1, STREAM_OFFLINE = 2, STREAM_GEN = 3 };

/* ---- values shared with plan.c ----------------------------------------------- */

rf_rc rfrollout_load_doc(const char *path, rfyaml_doc **out, rf_err *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_rc rc = rf_file_read(path, RF_MAX_SOURCE_BYTES, &buf, &len, err);
    if (rc)
        return rc;
    rc = rfyaml_parse(path, (const char *)buf, len, out, err);
    free(buf);
    return rc;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

rf_rc rfrollout_duration(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                         uint32_t lo, uint32_t hi, uint32_t *out, rf_err *err)
{
    char b[80];
    uint64_t total = 0;
    if (n->kind == RFYAML_SCALAR && n->plain && n->stype == RFYAML_INT) {
        int64_t v;
        rf_rc rc = rfyaml_int(d, n, what, INT64_MIN, INT64_MAX, &v, err);
        if (rc)
            return rc;
        if (v < 0)
            goto too_big;
        total = (uint64_t)v;
    } else if (n->kind == RFYAML_SCALAR && n->stype == RFYAML_STR && n->len > 0) {
        const char *s = n->str;
        while (*s) {
            if (!is_digit(*s))
                goto bad;
            uint64_t v = 0;
            while (is_digit(*s)) {
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > 1000000000ull)
                    goto too_big;
                s++;
            }
            uint64_t unit;
            switch (*s) {
            case 's': unit = 1; break;
            case 'm': unit = 60; break;
            case 'h': unit = 3600; break;
            case 'd': unit = 86400; break;
            default: goto bad;
            }
            s++;
            total += v * unit;
            if (total > 100000000000ull)
                goto too_big;
        }
    } else {
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s must be a duration such as 90s, 5m, 24h or 3d; found %s",
                            what, rfyaml_describe(n));
    }
    if (total < lo || total > hi)
        goto too_big;
    *out = (uint32_t)total;
    return RF_OK;
bad:
    return rfyaml_error(d, n, err, RF_E_SCHEMA,
                        "%s '%s' is not a duration: write a number of seconds or "
                        "numbers with units s, m, h, d (90s, 5m, 1h30m, 3d)",
                        what, rfyaml_show(n->str, b, sizeof(b)));
too_big:
    return rfyaml_error(d, n, err, RF_E_SCHEMA,
                        "%s '%s' is out of range: it must be between %us and %us", what,
                        rfyaml_show(n->str, b, sizeof(b)), lo, hi);
}

/* strtod over a string already known to be a plain decimal number. */
static int parse_double(const char *s, double *out)
{
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != 0 || !isfinite(v))
        return -1;
    if (errno == ERANGE && fabs(v) > 1.0)
        return -1;
    *out = v;
    return 0;
}

/* A plain decimal: [+-]digits[.digits][e[+-]digits] (no hex, octal, inf, nan). */
static int decimal_syntax(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    int digits = 0;
    while (is_digit(*s)) {
        s++;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (is_digit(*s)) {
            s++;
            digits++;
        }
    }
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    return *s == 0;
}

rf_rc rfrollout_number(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                       double lo, double hi, double *out, rf_err *err)
{
    char b[80];
    double v;
    if (n->kind != RFYAML_SCALAR || !n->plain ||
        (n->stype != RFYAML_INT && n->stype != RFYAML_FLOAT)) {
        if (n->kind == RFYAML_SCALAR && !n->plain)
            return rfyaml_error(d, n, err, RF_E_SCHEMA,
                                "%s must be a number; found the quoted string '%s' "
                                "(write numbers without quotes)",
                                what, rfyaml_show(n->str, b, sizeof(b)));
        return rfyaml_error(d, n, err, RF_E_SCHEMA, "%s must be a number; found %s", what,
                            rfyaml_describe(n));
    }
    if (!decimal_syntax(n->str) || parse_double(n->str, &v) != 0)
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s must be a finite decimal number; found '%s'", what,
                            rfyaml_show(n->str, b, sizeof(b)));
    if (!(v >= lo && v <= hi))
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s is %s, outside the allowed range %g..%g", what,
                            rfyaml_show(n->str, b, sizeof(b)), lo, hi);
    *out = v;
    return RF_OK;
}

rf_rc rfrollout_fraction(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                         double *out, rf_err *err)
{
    char b[80];
    if (n->kind == RFYAML_SCALAR && n->stype == RFYAML_STR && n->len >= 2 &&
        n->str[n->len - 1] == '%') {
        char num[64];
        double v;
        if (n->len - 1 >= sizeof(num))
            goto bad_pct;
        memcpy(num, n->str, n->len - 1);
        num[n->len - 1] = 0;
        if (num[0] == '+' || num[0] == '-' || !decimal_syntax(num) ||
            strchr(num, 'e') || strchr(num, 'E') || parse_double(num, &v) != 0)
            goto bad_pct;
        if (!(v >= 0.0 && v <= 100.0))
            return rfyaml_error(d, n, err, RF_E_SCHEMA,
                                "%s is %s, outside 0%%..100%%", what,
                                rfyaml_show(n->str, b, sizeof(b)));
        *out = v / 100.0;
        return RF_OK;
    bad_pct:
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s '%s' is not a percentage such as 25%% or 0.5%%", what,
                            rfyaml_show(n->str, b, sizeof(b)));
    }
    if (n->kind == RFYAML_SCALAR && n->plain &&
        (n->stype == RFYAML_INT || n->stype == RFYAML_FLOAT)) {
        double v = 0;
        rf_rc rc = rfrollout_number(d, n, what, -INFINITY, INFINITY, &v, err);
        if (rc)
            return rc;
        if (!(v >= 0.0 && v <= 1.0))
            return rfyaml_error(d, n, err, RF_E_SCHEMA,
                                "%s is %s, outside 0..1 (write a share as 0.25 or 25%%)",
                                what, rfyaml_show(n->str, b, sizeof(b)));
        *out = v;
        return RF_OK;
    }
    return rfyaml_error(d, n, err, RF_E_SCHEMA,
                        "%s must be a share between 0 and 1 (0.25) or a percentage "
                        "(25%%); found %s",
                        what, rfyaml_describe(n));
}

int rfrollout_label_valid(const char *s)
{
    size_t i = 0;
    for (; i < RF_NAME_MAX && s[i]; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' ||
              c == '.' || c == '-' || c == '%' || c == '+'))
            return 0;
    }
    return i > 0 && i < RF_NAME_MAX;
}

rf_rc rfrollout_label(const rfyaml_doc *d, const rfyaml_node *n, const char *what,
                      char *out, rf_err *err)
{
    const char *s;
    size_t len;
    rf_rc rc = rfyaml_str(d, n, what, &s, &len, err);
    if (rc)
        return rc;
    if (len >= RF_NAME_MAX || !rfrollout_label_valid(s)) {
        char b[80];
        return rfyaml_error(d, n, err, RF_E_SCHEMA,
                            "%s '%s' is not a valid name: use 1 to %d characters from "
                            "A-Z, a-z, 0-9 and _ . - %% +",
                            what, rfyaml_show(s, b, sizeof(b)), RF_NAME_MAX - 1);
    }
    memcpy(out, s, len + 1);
    return RF_OK;
}

/* ---- the builder ---------------------------------------------------------------- */

/* A fleet under construction: tenants and groups with their host counts,
 * expanded into host arrays at the end. */
typedef struct fbuild {
    rf_fleet *f;
    uint32_t tcap, gcap;
    uint32_t *group_hosts; /* parallel to f->groups */
    double *sensor_share;  /* parallel to f->sensors */
    uint64_t hosts;        /* sum of group_hosts */
} fbuild;

static rf_rc fb_init(fbuild *b, rf_err *err)
{
    memset(b, 0, sizeof(*b));
    b->f = calloc(1, sizeof(*b->f));
    if (!b->f)
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory making a fleet");
    return RF_OK;
}

static void fb_free(fbuild *b)
{
    rf_fleet_free(b->f);
    free(b->group_hosts);
    free(b->sensor_share);
    memset(b, 0, sizeof(*b));
}

void rf_fleet_free(rf_fleet *f)
{
    if (!f)
        return;
    free(f->tenants);
    free(f->groups);
    free(f->sensors);
    free(f->host_group);
    free(f->host_sensor);
    free(f->host_flags);
    free(f);
}

static rf_rc fb_nomem(rf_err *err)
{
    return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory making a fleet");
}

/* Room for `more` tenants and groups. */
static rf_rc fb_reserve(fbuild *b, uint32_t more_tenants, uint32_t more_groups, rf_err *err)
{
    rf_fleet *f = b->f;
    uint64_t need_t = (uint64_t)f->ntenants + more_tenants;
    uint64_t need_g = (uint64_t)f->ngroups + more_groups;
    /* +1: the generated vendor tenant comes on top of the customer tenants. */
    if (need_t > RF_FLEET_MAX_TENANTS + 1u ||
        need_g > (uint64_t)(RF_FLEET_MAX_TENANTS + 1u) * RF_FLEET_MAX_GROUPS_PER_TENANT)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0, "more than %u tenants (the limit)",
                          RF_FLEET_MAX_TENANTS);
    if (need_t > b->tcap) {
        uint64_t cap = need_t;
        if (cap < 16)
            cap = 16;
        if (cap < (uint64_t)b->tcap * 2)
            cap = (uint64_t)b->tcap * 2;
        rf_fleet_tenant *t = realloc(f->tenants, (size_t)cap * sizeof(*t));
        if (!t)
            return fb_nomem(err);
        f->tenants = t;
        b->tcap = (uint32_t)cap;
    }
    if (need_g > b->gcap) {
        uint64_t cap = need_g;
        if (cap < 16)
            cap = 16;
        if (cap < (uint64_t)b->gcap * 2)
            cap = (uint64_t)b->gcap * 2;
        rf_fleet_group *g = realloc(f->groups, (size_t)cap * sizeof(*g));
        if (!g)
            return fb_nomem(err);
        f->groups = g;
        uint32_t *gh = realloc(b->group_hosts, (size_t)cap * sizeof(*gh));
        if (!gh)
            return fb_nomem(err);
        b->group_hosts = gh;
        b->gcap = (uint32_t)cap;
    }
    return RF_OK;
}

/* Append a tenant (room reserved by the caller). */
static uint32_t fb_tenant(fbuild *b, const char *name, int internal)
{
    rf_fleet_tenant *t = &b->f->tenants[b->f->ntenants];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    t->internal = internal;
    return b->f->ntenants++;
}

/* Append a group with its host count (room reserved by the caller). */
static void fb_group(fbuild *b, uint32_t tenant, const char *name, const rf_policy *pol,
                     uint32_t hosts)
{
    rf_fleet_group *g = &b->f->groups[b->f->ngroups];
    memset(g, 0, sizeof(*g));
    snprintf(g->name, sizeof(g->name), "%s", name);
    g->tenant = tenant;
    /* Field by field, so that padding stays zero and fleets compare bytewise. */
    g->policy.mode = pol->mode;
    g->policy.ga_delay_s = pol->ga_delay_s;
    g->policy.pinned_version = pol->pinned_version;
    g->policy.emergency_opt_in = pol->emergency_opt_in;
    b->group_hosts[b->f->ngroups++] = hosts;
    b->hosts += hosts;
}

static rf_rc fb_sensors(fbuild *b, uint32_t n, const rf_fleet_sensor *s, const double *share,
                        rf_err *err)
{
    rf_fleet *f = b->f;
    f->sensors = calloc(n, sizeof(*f->sensors));
    b->sensor_share = calloc(n, sizeof(*b->sensor_share));
    if (!f->sensors || !b->sensor_share)
        return fb_nomem(err);
    memcpy(f->sensors, s, (size_t)n * sizeof(*s));
    memcpy(b->sensor_share, share, (size_t)n * sizeof(*share));
    f->nsensors = n;
    return RF_OK;
}

/* The two sensor builds of examples/channel-291 (the default mix). */
static const rf_fleet_sensor default_sensors[2] = {
    {"7.11.18110", 20},
    {"7.16.18605", 21},
};
static const double default_sensor_share[2] = {0.6, 0.4};

/*
 * Largest-remainder apportionment: split `total` into n integer parts
 * proportional to w[0..n) (finite, >= 0, not all 0), summing exactly to
 * total; ties go to the lower index. out[] gets the parts. O(n log n).
 */
typedef struct rem {
    double frac;
    uint32_t i;
} rem;

static int rem_cmp(const void *a, const void *b)
{
    const rem *x = a, *y = b;
    if (x->frac != y->frac)
        return x->frac > y->frac ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

static rf_rc apportion(uint64_t total, const double *w, uint32_t n, uint32_t *out, rf_err *err)
{
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += w[i];
    if (n == 0 || !(sum > 0) || !isfinite(sum))
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "apportion: no positive weights");
    rem *r = malloc((size_t)n * sizeof(*r));
    if (!r)
        return fb_nomem(err);
    int64_t left = (int64_t)total;
    for (uint32_t i = 0; i < n; i++) {
        double q = (double)total * (w[i] / sum);
        double fl = floor(q);
        if (fl > (double)total)
            fl = (double)total;
        out[i] = (uint32_t)fl;
        left -= (int64_t)out[i];
        r[i].frac = q - fl;
        r[i].i = i;
    }
    qsort(r, n, sizeof(*r), rem_cmp);
    /* The floors sum to at most total and fall short by less than n + 1:
     * one more to each of the largest remainders, cycling if need be.
     * (Floating-point rounding cannot make them overshoot by a whole host
     * at these sizes; if it ever did, take back from the smallest.) */
    for (uint32_t k = 0; left > 0; k = (k + 1) % n) {
        out[r[k].i]++;
        left--;
    }
    for (uint32_t k = n; left < 0 && k > 0; k--) {
        if (out[r[k - 1].i] > 0) {
            out[r[k - 1].i]--;
            left++;
        }
    }
    if (left != 0) {
        free(r);
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "apportion: rounding failed");
    }
    free(r);
    return RF_OK;
}

/*
 * Turn the tenants and groups into hosts. Internal hosts come first (in
 * group order) and take the sensor builds round-robin; the customer hosts
 * after them get exactly the apportioned count of each build, shuffled with
 * the seed; then exactly round(offline * hosts) hosts, chosen with the
 * seed, are marked offline.
 */
static rf_rc fb_expand(fbuild *b, double offline, uint64_t seed, rf_err *err)
{
    rf_fleet *f = b->f;
    if (b->hosts == 0)
        return rf_err_set(err, RF_E_SCHEMA, NULL, 0, 0, "the fleet has no hosts");
    if (b->hosts > RF_FLEET_MAX_HOSTS)
        return rf_err_set(err, RF_E_LIMIT, NULL, 0, 0,
                          "the fleet has %llu hosts, more than the limit of %u",
                          (unsigned long long)b->hosts, RF_FLEET_MAX_HOSTS);
    if (f->nsensors == 0)
        return rf_err_set(err, RF_E_INTERNAL, NULL, 0, 0, "fleet without sensors");
    uint32_t n = (uint32_t)b->hosts;
    f->host_group = malloc((size_t)n * sizeof(*f->host_group));
    f->host_sensor = malloc((size_t)n * sizeof(*f->host_sensor));
    f->host_flags = calloc(n, sizeof(*f->host_flags));
    if (!f->host_group || !f->host_sensor || !f->host_flags)
        return fb_nomem(err);
    f->nhosts = n;

    uint32_t pos = 0, internal = 0;
    for (int pass = 1; pass >= 0; pass--) {
        for (uint32_t g = 0; g < f->ngroups; g++) {
            if ((f->tenants[f->groups[g].tenant].internal != 0) != pass)
                continue;
            for (uint32_t k = 0; k < b->group_hosts[g]; k++)
                f->host_group[pos++] = g;
        }
        if (pass == 1)
            internal = pos;
    }
    for (uint32_t i = 0; i < internal; i++)
        f->host_sensor[i] = (uint16_t)(i % f->nsensors);

    uint32_t customers = n - internal;
    if (customers) {
        uint32_t *cnt = malloc((size_t)f->nsensors * sizeof(*cnt));
        if (!cnt)
            return fb_nomem(err);
        rf_rc rc = apportion(customers, b->sensor_share, f->nsensors, cnt, err);
        if (rc) {
            free(cnt);
            return rc;
        }
        uint16_t *hs = f->host_sensor + internal;
        uint32_t o = 0;
        for (uint32_t s = 0; s < f->nsensors; s++)
            for (uint32_t k = 0; k < cnt[s]; k++)
                hs[o++] = (uint16_t)s;
        free(cnt);
        rf_rng rng;
        rfrollout_rng_seed(&rng, seed, STREAM_SENSORS);
        for (uint32_t i = customers - 1; i > 0; i--) {
            uint32_t j = rf_rng_below(&rng, i + 1);
            uint16_t t = hs[i];
            hs[i] = hs[j];
            hs[j] = t;
        }
    }

    /* Selection sampling (Knuth's algorithm S): exactly k of n, one pass. */
    uint32_t k = (uint32_t)llround(offline * (double)n);
    if (k > n)
        k = n;
    rf_rng rng;
    rfrollout_rng_seed(&rng, seed, STREAM_OFFLINE);
    for (uint32_t i = 0, chosen = 0; i < n && chosen < k; i++) {
        if (rf_rng_below(&rng, n - i) < k - chosen) {
            f->host_flags[i] |= RF_HOST_OFFLINE;
            chosen++;
        }
    }
    return RF_OK;
}

/* ---- the generator ---------------------------------------------------------------- */

void rf_fleet_gen_default(rf_fleet_gen *g)
{
    g->internal_hosts = 2000;
    g->offline = 0.02;
    g->share_early = 0.05;
    g->share_delayed = 0.10;
    g->share_pinned = 0.02;
    g->share_paused = 0.01;
    g->share_emergency = 0.30;
    g->tenant_alpha = 1.2;
    g->nsensors = 0;
    g->sensors = NULL;
    g->sensor_share = NULL;
}

static int share_ok(double x)
{
    return x >= 0.0 && x <= 1.0; /* false for NaN */
}

/* Check a sensor list: versions, inputs, shares summing to 1. */
static int sensors_ok(uint32_t n, const rf_fleet_sensor *s, const double *share, char *msg,
                      size_t msz)
{
    if (n > RF_FLEET_MAX_SENSORS) {
        snprintf(msg, msz, "%u sensor builds, more than the limit of %u", n,
                 (unsigned)RF_FLEET_MAX_SENSORS);
        return 0;
    }
    if (n == 0)
        return 1;
    if (!s || !share) {
        snprintf(msg, msz, "sensors and sensor_share must be given with nsensors");
        return 0;
    }
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!memchr(s[i].version, 0, sizeof(s[i].version)) || !s[i].version[0]) {
            snprintf(msg, msz, "sensor %u has no version", i);
            return 0;
        }
        if (s[i].inputs > RF_MAX_FIELDS) {
            snprintf(msg, msz, "sensor %u has %u inputs, more than %u", i, s[i].inputs,
                     (unsigned)RF_MAX_FIELDS);
            return 0;
        }
        if (!share_ok(share[i])) {
            snprintf(msg, msz, "sensor share %u is outside 0..1", i);
            return 0;
        }
        sum += share[i];
    }
    if (fabs(sum - 1.0) > SHARE_EPS) {
        snprintf(msg, msz, "the sensor shares sum to %g, not 1", sum);
        return 0;
    }
    return 1;
}

/* Check generator parameters; 0 and a message when they are impossible.
 * `extra_hosts` are hosts the fleet already has (from a fleet file). */
static int gen_ok(const rf_fleet_gen *g, uint64_t extra_hosts, char *msg, size_t msz)
{
    if (g->tenants > RF_FLEET_MAX_TENANTS) {
        snprintf(msg, msz, "%u tenants, more than the limit of %u", g->tenants,
                 RF_FLEET_MAX_TENANTS);
        return 0;
    }
    if (g->hosts > 0 && g->tenants == 0) {
        snprintf(msg, msz, "%u hosts need at least one tenant", g->hosts);
        return 0;
    }
    if (g->hosts < g->tenants) {
        snprintf(msg, msz, "%u tenants need at least as many hosts (each has at least one); "
                 "got %u hosts", g->tenants, g->hosts);
        return 0;
    }
    uint64_t total = extra_hosts + (uint64_t)g->hosts + g->internal_hosts;
    if (total == 0) {
        snprintf(msg, msz, "no hosts to generate");
        return 0;
    }
    if (total > RF_FLEET_MAX_HOSTS) {
        snprintf(msg, msz, "%llu hosts in all, more than the limit of %u",
                 (unsigned long long)total, RF_FLEET_MAX_HOSTS);
        return 0;
    }
    const struct {
        const char *name;
        double v;
    } shares[] = {
        {"offline", g->offline},           {"share_early", g->share_early},
        {"share_delayed", g->share_delayed}, {"share_pinned", g->share_pinned},
        {"share_paused", g->share_paused}, {"share_emergency", g->share_emergency},
    };
    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
        if (!share_ok(shares[i].v)) {
            snprintf(msg, msz, "%s is %g, outside 0..1", shares[i].name, shares[i].v);
            return 0;
        }
    }
    double policy = g->share_early + g->share_delayed + g->share_pinned + g->share_paused;
    if (policy > 1.0 + SHARE_EPS) {
        snprintf(msg, msz, "share_early + share_delayed + share_pinned + share_paused is "
                 "%g, more than 1", policy);
        return 0;
    }
    if (!(g->tenant_alpha >= 0.1 && g->tenant_alpha <= 10.0)) {
        snprintf(msg, msz, "tenant_alpha is %g, outside 0.1..10", g->tenant_alpha);
        return 0;
    }
    return sensors_ok(g->nsensors, g->sensors, g->sensor_share, msg, msz);
}

/*
 * Append the generated tenants of g to b: the vendor's own tenant
 * ("vendor", internal_hosts hosts) then g->tenants customer tenants
 * "tenant-000001"... with Pareto(tenant_alpha) sizes scaled to sum to
 * exactly g->hosts (each at least 1), and exact policy and emergency
 * counts by tenant, placed with the seed. Parameters already checked.
 */
static rf_rc gen_into(fbuild *b, const rf_fleet_gen *g, uint64_t seed, rf_err *err)
{
    rf_rc rc = fb_reserve(b, g->tenants + 1, g->tenants + 1, err);
    if (rc)
        return rc;
    if (g->internal_hosts) {
        rf_policy pol = {RF_POLICY_GA, 0, 0, 1};
        uint32_t t = fb_tenant(b, "vendor", 1);
        fb_group(b, t, "default", &pol, g->internal_hosts);
    }
    uint32_t nt = g->tenants;
    if (nt == 0)
        return RF_OK;

    double *w = malloc((size_t)nt * sizeof(*w));
    uint32_t *size = malloc((size_t)nt * sizeof(*size));
    uint8_t *mode = malloc(nt);
    if (!w || !size || !mode) {
        rc = fb_nomem(err);
        goto out;
    }
    rf_rng rng;
    rfrollout_rng_seed(&rng, seed, STREAM_GEN);
    /* Pareto(x_m = 1, alpha): (1 - u)^(-1/alpha), u in [0, 1), so finite. */
    double inv = -1.0 / g->tenant_alpha;
    for (uint32_t i = 0; i < nt; i++)
        w[i] = pow(1.0 - rf_rng_unit(&rng), inv);
    rc = apportion((uint64_t)g->hosts - nt, w, nt, size, err);
    if (rc)
        goto out;

    /* Policy modes by tenant: exact counts, shuffled. 0 early, 1 delayed,
     * 2 pinned, 3 paused, 4 GA without delay. */
    double pw[5] = {g->share_early, g->share_delayed, g->share_pinned, g->share_paused, 0};
    pw[4] = 1.0 - (pw[0] + pw[1] + pw[2] + pw[3]);
    if (pw[4] < 0)
        pw[4] = 0;
    uint32_t pc[5];
    if (pw[0] + pw[1] + pw[2] + pw[3] + pw[4] > 0) {
        rc = apportion(nt, pw, 5, pc, err);
        if (rc)
            goto out;
    } else {
        memset(pc, 0, sizeof(pc));
        pc[4] = nt;
    }
    uint32_t o = 0;
    for (uint8_t m = 0; m < 5; m++)
        for (uint32_t k = 0; k < pc[m]; k++)
            mode[o++] = m;
    for (uint32_t i = nt - 1; i > 0; i--) {
        uint32_t j = rf_rng_below(&rng, i + 1);
        uint8_t t = mode[i];
        mode[i] = mode[j];
        mode[j] = t;
    }

    uint32_t kem = (uint32_t)llround(g->share_emergency * (double)nt), chosen = 0;
    if (kem > nt)
        kem = nt;
    for (uint32_t i = 0; i < nt; i++) {
        rf_policy pol;
        memset(&pol, 0, sizeof(pol));
        switch (mode[i]) {
        case 0: pol.mode = RF_POLICY_EARLY; break;
        case 1:
            pol.mode = RF_POLICY_GA;
            pol.ga_delay_s = 3600u + rf_rng_below(&rng, RF_FLEET_MAX_DELAY_S - 3600u + 1u);
            break;
        case 2:
            pol.mode = RF_POLICY_PINNED;
            pol.pinned_version = 1;
            break;
        case 3: pol.mode = RF_POLICY_PAUSED; break;
        default: pol.mode = RF_POLICY_GA; break;
        }
        if (chosen < kem && rf_rng_below(&rng, nt - i) < kem - chosen) {
            pol.emergency_opt_in = 1;
            chosen++;
        }
        char name[RF_NAME_MAX];
        snprintf(name, sizeof(name), "tenant-%06u", i + 1);
        uint32_t t = fb_tenant(b, name, 0);
        fb_group(b, t, "default", &pol, 1u + size[i]);
    }
out:
    free(w);
    free(size);
    free(mode);
    return rc;
}

rf_rc rf_fleet_generate(const rf_fleet_gen *g, uint64_t seed, rf_fleet **out, rf_err *err)
{
    char msg[RF_ERR_MSG_MAX - 32];
    if (!g || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_fleet_generate: NULL argument");
    if (!gen_ok(g, 0, msg, sizeof(msg)))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "cannot generate a fleet: %s", msg);
    fbuild b;
    rf_rc rc = fb_init(&b, err);
    if (rc)
        return rc;
    if (g->nsensors)
        rc = fb_sensors(&b, g->nsensors, g->sensors, g->sensor_share, err);
    else
        rc = fb_sensors(&b, 2, default_sensors, default_sensor_share, err);
    if (!rc)
        rc = gen_into(&b, g, seed, err);
    if (!rc)
        rc = fb_expand(&b, g->offline, seed, err);
    if (rc) {
        fb_free(&b);
        return rc;
    }
    *out = b.f;
    b.f = NULL;
    fb_free(&b);
    return RF_OK;
}

/* ---- Fleet YAML ----------------------------------------------------------------- */

typedef struct fload {
    const rfyaml_doc *d;
    fbuild *b;
    rf_err *err;
    /* The node that named each tenant, for messages about duplicates. */
    const rfyaml_node **tenant_node;
    uint32_t tenant_node_cap;
} fload;

static const char *tenant_name_at(const void *ctx, uint32_t i)
{
    return ((const rf_fleet *)ctx)->tenants[i].name;
}

static rf_rc parse_sensors(fload *L, const rfyaml_node *n)
{
    const rfyaml_doc *d = L->d;
    rf_rc rc = rfyaml_want_seq(d, n, "'sensors'", L->err);
    if (rc)
        return rc;
    if (n->n == 0)
        return rfyaml_error(d, n, L->err, RF_E_SCHEMA, "'sensors' lists no sensor build");
    if (n->n > RF_FLEET_MAX_SENSORS)
        return rfyaml_error(d, n, L->err, RF_E_LIMIT,
                            "'sensors' lists %u builds, more than the limit of %u", n->n,
                            (unsigned)RF_FLEET_MAX_SENSORS);
    rf_fleet_sensor *s = calloc(n->n, sizeof(*s));
    double *share = calloc(n->n, sizeof(*share));
    if (!s || !share) {
        rc = fb_nomem(L->err);
        goto out;
    }
    static const char *const keys[] = {"version", "inputs", "share"};
    double sum = 0;
    for (uint32_t i = 0; i < n->n; i++) {
        const rfyaml_node *it = n->items[i], *vn, *in, *sn;
        const char *ctx = "a sensor of 'sensors'";
        rc = rfyaml_want_map(d, it, "each entry of 'sensors'", L->err);
        if (!rc)
            rc = rfyaml_only_keys(d, it, ctx, keys, 3, L->err);
        if (!rc)
            rc = rfyaml_require(d, it, "version", ctx, &vn, L->err);
        if (!rc)
            rc = rfyaml_require(d, it, "inputs", ctx, &in, L->err);
        if (!rc)
            rc = rfyaml_require(d, it, "share", ctx, &sn, L->err);
        if (rc)
            goto out;
        const char *ver;
        size_t len;
        rc = rfyaml_str(d, vn, "'version'", &ver, &len, L->err);
        if (rc)
            goto out;
        int ok = len > 0 && len < RF_SENSOR_VERSION_MAX;
        for (size_t k = 0; ok && k < len; k++) {
            char c = ver[k];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
                 c == '-' || c == '+' || c == '_';
        }
        char b[80];
        if (!ok) {
            rc = rfyaml_error(d, vn, L->err, RF_E_SCHEMA,
                              "sensor version '%s' is not valid: use 1 to %d characters "
                              "from digits, letters and . - + _",
                              rfyaml_show(ver, b, sizeof(b)), RF_SENSOR_VERSION_MAX - 1);
            goto out;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (!strcmp(s[j].version, ver)) {
                rc = rfyaml_error(d, vn, L->err, RF_E_SCHEMA,
                                  "sensor version '%s' is listed twice (first at line %u)",
                                  rfyaml_show(ver, b, sizeof(b)),
                                  rfyaml_get(n->items[j], "version")->line);
                goto out;
            }
        }
        memcpy(s[i].version, ver, len + 1);
        int64_t inputs;
        rc = rfyaml_int(d, in, "'inputs'", 0, RF_MAX_FIELDS, &inputs, L->err);
        if (!rc)
            rc = rfrollout_fraction(d, sn, "'share'", &share[i], L->err);
        if (rc)
            goto out;
        s[i].inputs = (uint32_t)inputs;
        sum += share[i];
    }
    if (fabs(sum - 1.0) > SHARE_EPS) {
        rc = rfyaml_error(d, n, L->err, RF_E_SCHEMA,
                          "the shares of 'sensors' sum to %.9g, not 1", sum);
        goto out;
    }
    rc = fb_sensors(L->b, n->n, s, share, L->err);
out:
    free(s);
    free(share);
    return rc;
}

/*
 * The policy keys of a tenant or group (policy, delay, version) over the
 * inherited policy *pol. Setting `policy` drops an inherited delay or
 * version that the new mode does not take.
 */
static rf_rc parse_policy(fload *L, const rfyaml_node *m, rf_policy *pol)
{
    const rfyaml_doc *d = L->d;
    const rfyaml_node *pn = rfyaml_get(m, "policy"), *dn = rfyaml_get(m, "delay"),
                      *vn = rfyaml_get(m, "version");
    rf_rc rc;
    char b[80];
    if (pn) {
        const char *s;
        rc = rfyaml_str(d, pn, "'policy'", &s, NULL, L->err);
        if (rc)
            return rc;
        rf_policy_mode mode;
        if (!strcmp(s, "ga"))
            mode = RF_POLICY_GA;
        else if (!strcmp(s, "early"))
            mode = RF_POLICY_EARLY;
        else if (!strcmp(s, "pinned"))
            mode = RF_POLICY_PINNED;
        else if (!strcmp(s, "paused"))
            mode = RF_POLICY_PAUSED;
        else
            return rfyaml_error(d, pn, L->err, RF_E_SCHEMA,
                                "unknown policy '%s'; expected one of: ga, early, pinned, "
                                "paused",
                                rfyaml_show(s, b, sizeof(b)));
        if (mode != pol->mode) {
            pol->mode = mode;
            pol->ga_delay_s = 0;
            pol->pinned_version = 0;
        }
    }
    if (dn) {
        if (pol->mode != RF_POLICY_GA)
            return rfyaml_error(d, dn, L->err, RF_E_SCHEMA,
                                "'delay' applies only to policy ga (a GA delay)");
        rc = rfrollout_duration(d, dn, "GA 'delay'", 0, RF_FLEET_MAX_DELAY_S, &pol->ga_delay_s,
                                L->err);
        if (rc)
            return rc;
    }
    if (vn) {
        if (pol->mode != RF_POLICY_PINNED)
            return rfyaml_error(d, vn, L->err, RF_E_SCHEMA,
                                "'version' applies only to policy pinned (the version the "
                                "hosts stay on)");
        int64_t v;
        rc = rfyaml_int(d, vn, "pinned 'version'", 1, INT64_MAX, &v, L->err);
        if (rc)
            return rc;
        pol->pinned_version = (uint64_t)v;
    }
    if (pol->mode == RF_POLICY_PINNED && pol->pinned_version == 0)
        return rfyaml_error(d, pn ? pn : m, L->err, RF_E_SCHEMA,
                            "policy pinned needs 'version': the content version the hosts "
                            "stay on");
    return RF_OK;
}

static const char *group_name_at(const void *ctx, uint32_t i)
{
    const rfyaml_node *list = ctx;
    return rfyaml_get(list->items[i], "name")->str;
}

static rf_rc parse_tenant(fload *L, const rfyaml_node *it)
{
    const rfyaml_doc *d = L->d;
    rf_err *err = L->err;
    static const char *const keys[] = {"name",   "internal", "hosts",   "emergency_opt_in",
                                       "policy", "delay",    "version", "groups"};
    const char *ctx = "a tenant";
    const rfyaml_node *nn, *hn;
    rf_rc rc = rfyaml_want_map(d, it, "each entry of 'tenants'", err);
    if (!rc)
        rc = rfyaml_only_keys(d, it, ctx, keys, sizeof(keys) / sizeof(keys[0]), err);
    if (!rc)
        rc = rfyaml_require(d, it, "name", ctx, &nn, err);
    if (!rc)
        rc = rfyaml_require(d, it, "hosts", ctx, &hn, err);
    if (rc)
        return rc;
    char name[RF_NAME_MAX];
    int64_t hosts;
    int internal = 0;
    rf_policy pol = {RF_POLICY_GA, 0, 0, 0};
    rc = rfrollout_label(d, nn, "tenant name", name, err);
    if (!rc)
        rc = rfyaml_int(d, hn, "'hosts'", 0, RF_FLEET_MAX_HOSTS, &hosts, err);
    if (!rc && rfyaml_get(it, "internal"))
        rc = rfyaml_bool(d, rfyaml_get(it, "internal"), "'internal'", &internal, err);
    if (!rc && rfyaml_get(it, "emergency_opt_in"))
        rc = rfyaml_bool(d, rfyaml_get(it, "emergency_opt_in"), "'emergency_opt_in'",
                         &pol.emergency_opt_in, err);
    if (!rc)
        rc = parse_policy(L, it, &pol);
    if (rc)
        return rc;
    if (L->b->hosts + (uint64_t)hosts > RF_FLEET_MAX_HOSTS)
        return rfyaml_error(d, hn, err, RF_E_LIMIT,
                            "with tenant '%s' the fleet has more than %u hosts (the limit)",
                            name, RF_FLEET_MAX_HOSTS);

    const rfyaml_node *gl = rfyaml_get(it, "groups");
    uint32_t ng = 1;
    if (gl) {
        rc = rfyaml_want_seq(d, gl, "'groups'", err);
        if (rc)
            return rc;
        if (gl->n == 0)
            return rfyaml_error(d, gl, err, RF_E_SCHEMA,
                                "'groups' of tenant '%s' lists no group; leave it out for "
                                "one group",
                                name);
        if (gl->n > RF_FLEET_MAX_GROUPS_PER_TENANT)
            return rfyaml_error(d, gl, err, RF_E_LIMIT,
                                "tenant '%s' has %u groups, more than the limit of %u", name,
                                gl->n, RF_FLEET_MAX_GROUPS_PER_TENANT);
        ng = gl->n;
    }
    if (L->b->f->ntenants >= RF_FLEET_MAX_TENANTS)
        return rfyaml_error(d, it, err, RF_E_LIMIT, "more than %u tenants (the limit)",
                            RF_FLEET_MAX_TENANTS);
    rc = fb_reserve(L->b, 1, ng, err);
    if (rc)
        return rc;
    if (L->b->f->ntenants >= L->tenant_node_cap) {
        uint32_t cap = L->tenant_node_cap ? L->tenant_node_cap * 2 : 64;
        const rfyaml_node **tn = realloc(L->tenant_node, (size_t)cap * sizeof(*tn));
        if (!tn)
            return fb_nomem(err);
        L->tenant_node = tn;
        L->tenant_node_cap = cap;
    }
    L->tenant_node[L->b->f->ntenants] = nn;

    if (!gl) {
        uint32_t t = fb_tenant(L->b, name, internal);
        fb_group(L->b, t, "default", &pol, (uint32_t)hosts);
        return RF_OK;
    }

    /* Groups: parse all, check names and shares, then apportion. */
    static const char *const gkeys[] = {"name", "share", "policy", "delay", "version"};
    rf_policy *gp = calloc(ng, sizeof(*gp));
    double *share = calloc(ng, sizeof(*share));
    uint32_t *cnt = calloc(ng, sizeof(*cnt));
    char (*gname)[RF_NAME_MAX] = calloc(ng, RF_NAME_MAX);
    if (!gp || !share || !cnt || !gname) {
        rc = fb_nomem(err);
        goto out;
    }
    double sum = 0;
    for (uint32_t i = 0; i < ng; i++) {
        const rfyaml_node *g = gl->items[i], *gn, *sn;
        const char *gctx = "a group";
        rc = rfyaml_want_map(d, g, "each entry of 'groups'", err);
        if (!rc)
            rc = rfyaml_only_keys(d, g, gctx, gkeys, sizeof(gkeys) / sizeof(gkeys[0]), err);
        if (!rc)
            rc = rfyaml_require(d, g, "name", gctx, &gn, err);
        if (!rc)
            rc = rfyaml_require(d, g, "share", gctx, &sn, err);
        if (!rc)
            rc = rfrollout_label(d, gn, "group name", gname[i], err);
        if (!rc)
            rc = rfrollout_fraction(d, sn, "group 'share'", &share[i], err);
        if (rc)
            goto out;
        gp[i] = pol;
        rc = parse_policy(L, g, &gp[i]);
        if (rc)
            goto out;
        sum += share[i];
    }
    uint32_t first, second;
    if (rf_find_repeat(ng, group_name_at, gl, &first, &second) != RF_OK) {
        rc = fb_nomem(err);
        goto out;
    }
    if (second != UINT32_MAX) {
        const rfyaml_node *a = rfyaml_get(gl->items[first], "name"),
                          *bn = rfyaml_get(gl->items[second], "name");
        rc = rfyaml_error(d, bn, err, RF_E_SCHEMA,
                          "group name '%s' is used twice in tenant '%s' (first at line %u)",
                          gname[second], name, a->line);
        goto out;
    }
    if (fabs(sum - 1.0) > SHARE_EPS) {
        rc = rfyaml_error(d, gl, err, RF_E_SCHEMA,
                          "the shares of the groups of tenant '%s' sum to %.9g, not 1", name,
                          sum);
        goto out;
    }
    if (hosts > 0) {
        rc = apportion((uint64_t)hosts, share, ng, cnt, err);
        if (rc)
            goto out;
    }
    uint32_t t = fb_tenant(L->b, name, internal);
    for (uint32_t i = 0; i < ng; i++)
        fb_group(L->b, t, gname[i], &gp[i], cnt[i]);
out:
    free(gp);
    free(share);
    free(cnt);
    free(gname);
    return rc;
}

/* The `generate:` section: rf_fleet_gen fields over rf_fleet_gen_default. */
static rf_rc parse_generate(fload *L, const rfyaml_node *n, rf_fleet_gen *g)
{
    const rfyaml_doc *d = L->d;
    rf_err *err = L->err;
    static const char *const keys[] = {"hosts",         "tenants",      "internal_hosts",
                                       "share_early",   "share_delayed", "share_pinned",
                                       "share_paused",  "share_emergency", "tenant_alpha"};
    const char *ctx = "'generate'";
    const rfyaml_node *hn, *tn;
    rf_rc rc = rfyaml_want_map(d, n, ctx, err);
    if (!rc)
        rc = rfyaml_only_keys(d, n, ctx, keys, sizeof(keys) / sizeof(keys[0]), err);
    if (!rc)
        rc = rfyaml_require(d, n, "hosts", ctx, &hn, err);
    if (!rc)
        rc = rfyaml_require(d, n, "tenants", ctx, &tn, err);
    if (rc)
        return rc;
    int64_t v;
    rc = rfyaml_int(d, hn, "generated 'hosts'", 0, RF_FLEET_MAX_HOSTS, &v, err);
    if (rc)
        return rc;
    g->hosts = (uint32_t)v;
    rc = rfyaml_int(d, tn, "generated 'tenants'", 0, RF_FLEET_MAX_TENANTS, &v, err);
    if (rc)
        return rc;
    g->tenants = (uint32_t)v;
    const rfyaml_node *x = rfyaml_get(n, "internal_hosts");
    if (x) {
        rc = rfyaml_int(d, x, "'internal_hosts'", 0, RF_FLEET_MAX_HOSTS, &v, err);
        if (rc)
            return rc;
        g->internal_hosts = (uint32_t)v;
    }
    const struct {
        const char *key;
        double *out;
    } shares[] = {
        {"share_early", &g->share_early},   {"share_delayed", &g->share_delayed},
        {"share_pinned", &g->share_pinned}, {"share_paused", &g->share_paused},
        {"share_emergency", &g->share_emergency},
    };
    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
        x = rfyaml_get(n, shares[i].key);
        if (!x)
            continue;
        char what[48];
        snprintf(what, sizeof(what), "'%s'", shares[i].key);
        rc = rfrollout_fraction(d, x, what, shares[i].out, err);
        if (rc)
            return rc;
    }
    x = rfyaml_get(n, "tenant_alpha");
    if (x) {
        rc = rfrollout_number(d, x, "'tenant_alpha'", 0.1, 10.0, &g->tenant_alpha, err);
        if (rc)
            return rc;
    }
    if (g->hosts < g->tenants || (g->hosts > 0 && g->tenants == 0))
        return rfyaml_error(d, hn, err, RF_E_SCHEMA,
                            "generate: %u hosts cannot fill %u tenants (each tenant has at "
                            "least one host)",
                            g->hosts, g->tenants);
    return RF_OK;
}

rf_rc rf_fleet_load(const char *path, uint64_t seed, rf_fleet **out, rf_err *err)
{
    rfyaml_doc *doc = NULL;
    fbuild b;
    memset(&b, 0, sizeof(b));
    fload L;
    memset(&L, 0, sizeof(L));
    if (!path || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_fleet_load: NULL argument");
    rf_rc rc = rfrollout_load_doc(path, &doc, err);
    if (rc)
        return rc;
    const rfyaml_node *root = rfyaml_root(doc);
    L.d = doc;
    L.b = &b;
    L.err = err;
    static const char *const keys[] = {"fleet",   "checkin_interval", "sensors",
                                       "offline", "tenants",          "generate"};
    const char *ctx = "a fleet file";
    const rfyaml_node *fn, *x;
    rc = rfyaml_want_map(doc, root, "a fleet file", err);
    if (!rc)
        rc = rfyaml_only_keys(doc, root, ctx, keys, sizeof(keys) / sizeof(keys[0]), err);
    if (!rc)
        rc = rfyaml_require(doc, root, "fleet", ctx, &fn, err);
    if (rc)
        goto out;
    char name[RF_NAME_MAX];
    rc = rfrollout_label(doc, fn, "fleet name", name, err);
    if (rc)
        goto out;
    if ((x = rfyaml_get(root, "checkin_interval"))) {
        uint32_t ci;
        rc = rfrollout_duration(doc, x, "'checkin_interval'", 1, 86400, &ci, err);
        if (rc)
            goto out;
    }
    double offline = 0;
    if ((x = rfyaml_get(root, "offline"))) {
        rc = rfrollout_fraction(doc, x, "'offline'", &offline, err);
        if (rc)
            goto out;
    }
    rc = fb_init(&b, err);
    if (rc)
        goto out;
    if ((x = rfyaml_get(root, "sensors")))
        rc = parse_sensors(&L, x);
    else
        rc = fb_sensors(&b, 2, default_sensors, default_sensor_share, err);
    if (rc)
        goto out;

    const rfyaml_node *tl = rfyaml_get(root, "tenants"), *gn = rfyaml_get(root, "generate");
    if (!tl && !gn) {
        rc = rfyaml_error(doc, root, err, RF_E_SCHEMA,
                          "a fleet file needs 'tenants', 'generate' or both");
        goto out;
    }
    if (tl) {
        rc = rfyaml_want_seq(doc, tl, "'tenants'", err);
        for (uint32_t i = 0; !rc && i < tl->n; i++)
            rc = parse_tenant(&L, tl->items[i]);
        if (rc)
            goto out;
        uint32_t first, second;
        if (rf_find_repeat(b.f->ntenants, tenant_name_at, b.f, &first, &second) != RF_OK) {
            rc = fb_nomem(err);
            goto out;
        }
        if (second != UINT32_MAX) {
            rc = rfyaml_error(doc, L.tenant_node[second], err, RF_E_SCHEMA,
                              "tenant name '%s' is used twice (first at line %u)",
                              b.f->tenants[second].name, L.tenant_node[first]->line);
            goto out;
        }
    }
    if (gn) {
        rf_fleet_gen g;
        memset(&g, 0, sizeof(g));
        rf_fleet_gen_default(&g);
        g.offline = offline;
        g.nsensors = b.f->nsensors;
        g.sensors = b.f->sensors;
        g.sensor_share = b.sensor_share;
        rc = parse_generate(&L, gn, &g);
        if (rc)
            goto out;
        char msg[RF_ERR_MSG_MAX - 32];
        if (!gen_ok(&g, b.hosts, msg, sizeof(msg))) {
            rc = rfyaml_error(doc, gn, err, RF_E_SCHEMA, "generate: %s", msg);
            goto out;
        }
        uint32_t listed = b.f->ntenants;
        if ((uint64_t)listed + g.tenants + 1 > RF_FLEET_MAX_TENANTS) {
            rc = rfyaml_error(doc, gn, err, RF_E_LIMIT,
                              "generate: more than %u tenants in all (the limit)",
                              RF_FLEET_MAX_TENANTS);
            goto out;
        }
        rc = gen_into(&b, &g, seed, err);
        if (rc)
            goto out;
        /* A generated name may collide with a listed one. */
        uint32_t first, second;
        if (rf_find_repeat(b.f->ntenants, tenant_name_at, b.f, &first, &second) != RF_OK) {
            rc = fb_nomem(err);
            goto out;
        }
        if (second != UINT32_MAX) {
            uint32_t listed_one = first < listed ? first : second;
            rc = rfyaml_error(doc, gn, err, RF_E_SCHEMA,
                              "generate: the generated tenant '%s' has the name of the tenant "
                              "at line %u; rename that tenant%s",
                              b.f->tenants[second].name,
                              listed_one < listed ? L.tenant_node[listed_one]->line : 0,
                              !strcmp(b.f->tenants[second].name, "vendor")
                                  ? " or set internal_hosts: 0"
                                  : "");
            goto out;
        }
    }
    if (b.hosts == 0) {
        rc = rfyaml_error(doc, tl ? tl : gn, err, RF_E_SCHEMA, "the fleet has no hosts");
        goto out;
    }
    rc = fb_expand(&b, offline, seed, err);
    if (rc) {
        if (err && !err->file[0])
            snprintf(err->file, sizeof(err->file), "%s", path);
        goto out;
    }
    *out = b.f;
    b.f = NULL;
out:
    fb_free(&b);
    free(L.tenant_node);
    rfyaml_free(doc);
    return rc;
}
