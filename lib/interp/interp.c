/*
 * interp.c — the Content Interpreter (interp.h): building a matcher for one
 * channel as run by one sensor, and evaluating events against it.
 *
 * Building checks the channel's structure instead of trusting it, then the
 * 19 July rule: every non-wildcard criterion's field index must be below the
 * inputs the sensor supplies (RF_E_CAPABILITY otherwise). Criteria get global
 * ids 0..ncrit-1 and are sorted into per-field structures:
 *
 *   contains, regex,     Vectorscan block-mode databases per field (pattern
 *   prefix, suffix, glob id -> criteria): see interp_db below and pattern.c.
 *                        Globs of the shapes lit*, *lit, *lit*, lit and *
 *                        become prefix, suffix, contains, equals, any-string.
 *   string equals/one_of hash table per field (and one for nocase values,
 *                        keyed by the ASCII-lower-cased value)
 *   int equals/one_of    hash table per field
 *   int range            interval list per field (table.c)
 *
 * An instance that has a selective string criterion has its int and
 * any-string criteria checked directly once the string ones held (interp_def),
 * so an unselective range does not cost a hit per instance per event.
 *
 * Evaluating an event visits only the fields that carry criteria. Each
 * criterion that holds bumps its instance's counter once; an instance matches
 * when the counter reaches its number of criteria. Counters and "already
 * counted" marks live in the caller's scratch, stamped with a per-event epoch
 * so nothing is cleared between events; when the 32-bit epoch wraps the
 * arrays are zeroed once. Nothing is allocated while evaluating.
 *
 * The interpreter copies ids, actions and severities, so the channel and the
 * manifest may be freed after rf_interp_build. Only header types of
 * lib/channel and lib/schema are used, no functions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "interp/interp_int.h"

/* The databases of a field. Unanchored literals compile fast; anchoring is
 * checked in the match callback from the match's end offset instead:
 *   DB_FWD  contains, regexes, other globs: the whole input, any match counts
 *           (no HS_FLAG_SINGLEMATCH, which loses matches in Vectorscan 5.4.9:
 *           see pattern.c; the per-event criterion stamps make repeats free)
 *   DB_PRE  prefixes: the first maxlen bytes; counts if it ends at len(lit)
 *   DB_SUF  suffixes, reversed: the last maxlen bytes reversed; same check */
enum { DB_FWD, DB_PRE, DB_SUF, DB_COUNT };

typedef struct interp_db {
    hs_database_t *db;  /* NULL when empty */
    uint32_t npat;      /* distinct (expression, flags) pairs */
    uint32_t *pat_off;  /* [npat+1]: pattern id p -> pat_crit[pat_off[p] .. pat_off[p+1]) */
    uint32_t *pat_crit; /* criterion ids, grouped by pattern */
    uint32_t *pat_len;  /* DB_PRE, DB_SUF: literal length of each pattern id */
    uint32_t maxlen;    /* DB_PRE, DB_SUF: longest literal */
} interp_db;

typedef struct interp_field {
    uint32_t index; /* input index */
    interp_db db[DB_COUNT];
    uint32_t nany;
    uint32_t *any;  /* criteria every string value satisfies */
    rfinterp_stab eq, eq_nc;
    rfinterp_itab ieq;
    rfinterp_rlist ranges;
} interp_field;

/* A criterion checked directly, after its instance's other criteria held:
 * an int criterion, or a string criterion every string satisfies, of an
 * instance that also has a selective string criterion. Counting those
 * through tables would cost a hit per instance per event when they are
 * unselective (a pid range of [1, 65535]); checked last they cost nothing
 * for the ~99% of instances whose selective criteria fail. */
enum { DEF_ANYSTR, DEF_RANGE, DEF_SET };

typedef struct interp_def {
    uint32_t field;
    uint32_t kind; /* DEF_* */
    int64_t lo, hi;     /* DEF_RANGE (equals: lo == hi) */
    uint32_t soff, sn;  /* DEF_SET: sorted unique values defvals[soff .. soff+sn) */
} interp_def;

struct rf_interp {
    uint32_t ninst, ncrit, nfields, nalways;
    uint32_t *def_off;    /* [ninst+1]: instance i -> defs[def_off[i] .. def_off[i+1]) */
    interp_def *defs;
    int64_t *defvals;
    uint32_t inputs_required, inputs_supplied;
    uint32_t *inst_need;  /* criteria per instance */
    uint32_t *crit_inst;  /* criterion id -> instance */
    uint32_t *always;     /* instances with no criteria, ascending */
    interp_field *fields; /* only fields with criteria, ascending index */
    char **ids;
    char *idbuf;
    uint8_t *action, *severity;
    hs_scratch_t *proto;  /* big enough for every database; cloned per scratch */
    size_t mem;
};

typedef struct inst_state {
    uint32_t epoch, count;
} inst_state;

struct rf_interp_scratch {
    const rf_interp *ip;
    const rf_input *inputs; /* of the event being evaluated */
    hs_scratch_t *hs;
    uint32_t epoch;
    uint32_t nmatched;
    uint32_t *crit_epoch; /* [ncrit]: == epoch once counted this event */
    inst_state *inst;     /* [ninst] */
    uint32_t *matched;    /* [ninst] */
    char lower[RF_MAX_STRING]; /* nocase equals: the input lower-cased */
    char rev[RF_MAX_STRING];   /* suffixes: the input's tail, reversed */
};

/* ---- building ---- */

/* Patterns collected for one database. */
typedef struct pat_build {
    uint32_t n;
    char **exprs;
    unsigned *flags;
    uint32_t *len;
    uint32_t *crit;
} pat_build;

/* What one field collects while building. */
typedef struct field_build {
    uint32_t npat, nient, nrange; /* counted in pass 1 (npat bounds each pb) */
    uint32_t iient, irange, nany; /* filled in pass 2 */
    pat_build pb[DB_COUNT];
    uint32_t *any;
    rfinterp_sbuild eq, eq_nc;
    rfinterp_ient *ients;
    rfinterp_range *ranges;
} field_build;

static const char *nz(const char *s)
{
    return s ? s : "?";
}

/* Our own rf_sensor_find_support: lib/interp uses lib/schema's types only. */
static const rf_sensor_support *find_support(const rf_sensor_manifest *m, const char *type,
                                             uint32_t version)
{
    if (!m->supports)
        return NULL;
    for (uint32_t i = 0; i < m->nsupports; i++) {
        const rf_sensor_support *s = &m->supports[i];
        if (s->name && s->version == version && strcmp(s->name, type) == 0)
            return s;
    }
    return NULL;
}

/* Check one criterion's shape; returns a message or NULL, and *rc. */
static const char *crit_shape(const rf_crit *c, rf_rc *rc)
{
    *rc = RF_E_SCHEMA;
    if (c->kind > RF_CRIT_KIND_MAX)
        return "unknown criterion kind";
    if (c->vtype != RF_VAL_STRING && c->vtype != RF_VAL_INT)
        return "criterion value type is neither string nor int";
    if (c->flags & ~RF_CRIT_FLAGS_ALL)
        return "unknown criterion flags";
    if ((c->flags & RF_CRIT_NOCASE) && c->vtype != RF_VAL_STRING)
        return "nocase on an int criterion";
    switch (c->kind) {
    case RF_CRIT_EQUALS:
        if (c->nvals != 1)
            return "equals needs exactly one value";
        break;
    case RF_CRIT_PREFIX:
    case RF_CRIT_SUFFIX:
    case RF_CRIT_CONTAINS:
    case RF_CRIT_GLOB:
    case RF_CRIT_REGEX:
        if (c->vtype != RF_VAL_STRING)
            return "pattern criterion on an int value";
        if (c->nvals != 1)
            return "pattern criterion needs exactly one value";
        break;
    case RF_CRIT_ONE_OF:
        if (c->nvals < 1)
            return "one_of needs at least one value";
        if (c->nvals > RF_MAX_ONE_OF) {
            *rc = RF_E_LIMIT;
            return "one_of has more values than RF_MAX_ONE_OF";
        }
        break;
    case RF_CRIT_RANGE:
        if (c->vtype != RF_VAL_INT || c->nvals != 2)
            return "range needs two int values";
        break;
    default:
        return "unknown criterion kind";
    }
    if (!c->vals)
        return "criterion has no values";
    uint32_t max = c->kind == RF_CRIT_REGEX ? RF_MAX_REGEX : RF_MAX_STRING;
    for (uint32_t k = 0; k < c->nvals; k++) {
        const rf_value *v = &c->vals[k];
        if (v->type != c->vtype)
            return "criterion value of the wrong type";
        if (v->type == RF_VAL_STRING) {
            if (!v->s)
                return "string value is NULL";
            if (v->len > max) {
                *rc = RF_E_LIMIT;
                return "string value longer than its limit";
            }
            if (memchr(v->s, '\0', v->len))
                return "string value contains a NUL byte";
        }
    }
    if (c->kind == RF_CRIT_RANGE && c->vals[0].i > c->vals[1].i)
        return "range with lo > hi";
    *rc = RF_OK;
    return NULL;
}

static void field_build_free(field_build *fb)
{
    for (int d = 0; d < DB_COUNT; d++) {
        pat_build *pb = &fb->pb[d];
        for (uint32_t i = 0; i < pb->n; i++)
            free(pb->exprs[i]);
        free(pb->exprs);
        free(pb->flags);
        free(pb->len);
        free(pb->crit);
    }
    free(fb->any);
    rfinterp_sbuild_free(&fb->eq);
    rfinterp_sbuild_free(&fb->eq_nc);
    free(fb->ients);
    free(fb->ranges);
}

/* Put criterion c (id g) into its field's builder. */
static rf_rc add_crit(field_build *fb, const rf_crit *c, uint32_t g, rf_err *err)
{
    int nocase = (c->flags & RF_CRIT_NOCASE) != 0;
    if (rfinterp_is_pattern_kind(c->kind)) {
        const char *lit;
        uint32_t litlen;
        rfinterp_class cls = rfinterp_classify(c, &lit, &litlen);
        if (cls == RFI_ANYSTR) {
            fb->any[fb->nany++] = g;
            return RF_OK;
        }
        if (cls == RFI_EQUALS)
            return rfinterp_sbuild_add(nocase ? &fb->eq_nc : &fb->eq, lit, litlen, nocase, g);
        rf_buf b;
        rf_buf_init(&b);
        unsigned flags = 0;
        rf_rc rc;
        int d = cls == RFI_PREFIX ? DB_PRE : cls == RFI_SUFFIX ? DB_SUF : DB_FWD;
        if (cls == RFI_REGEX) {
            rc = rfinterp_pattern(c, &b, &flags, err);
        } else {
            rc = rfinterp_literal(lit, litlen, cls == RFI_SUFFIX, &b);
            /* prefix/suffix: every occurrence is reported and the callback
             * keeps the one ending at len(lit) (bounded: the scan covers only
             * the first/last maxlen bytes) */
            flags = nocase ? HS_FLAG_CASELESS : 0; /* no SINGLEMATCH: pattern.c */
        }
        if (rc != RF_OK) {
            rf_buf_free(&b);
            return rc;
        }
        pat_build *pb = &fb->pb[d];
        uint32_t p = pb->n;
        pb->exprs[p] = rf_buf_take(&b);
        if (!pb->exprs[p])
            return RF_E_NOMEM;
        pb->n++;
        pb->flags[p] = flags;
        pb->len[p] = d == DB_FWD ? 0 : litlen; /* 0: no end-offset check */
        pb->crit[p] = g;
        return RF_OK;
    }
    if (c->kind == RF_CRIT_RANGE) {
        fb->ranges[fb->irange++] = (rfinterp_range){c->vals[0].i, c->vals[1].i, g};
        return RF_OK;
    }
    /* equals / one_of */
    for (uint32_t k = 0; k < c->nvals; k++) {
        if (c->vtype == RF_VAL_INT) {
            fb->ients[fb->iient++] = (rfinterp_ient){c->vals[k].i, g};
        } else {
            rf_rc rc = rfinterp_sbuild_add(nocase ? &fb->eq_nc : &fb->eq, c->vals[k].s,
                                           c->vals[k].len, nocase, g);
            if (rc != RF_OK)
                return rc;
        }
    }
    return RF_OK;
}

/* 1 if c is selective enough to be counted through the field tables. */
static int crit_strong(const rf_crit *c)
{
    if (c->kind == RF_CRIT_ANY || c->vtype != RF_VAL_STRING)
        return 0;
    if (!rfinterp_is_pattern_kind(c->kind))
        return 1;
    const char *lit;
    uint32_t litlen;
    return rfinterp_classify(c, &lit, &litlen) != RFI_ANYSTR;
}

static int i64_cmp(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return a < b ? -1 : a > b;
}

/* Append c as a deferred check (c is an int criterion or matches any string). */
static void add_def(rf_interp *ip, uint32_t *ndef, size_t *nvals, const rf_crit *c)
{
    interp_def *d = &ip->defs[(*ndef)++];
    d->field = c->field;
    if (c->vtype == RF_VAL_STRING) {
        d->kind = DEF_ANYSTR;
    } else if (c->kind == RF_CRIT_RANGE || c->kind == RF_CRIT_EQUALS) {
        d->kind = DEF_RANGE;
        d->lo = c->vals[0].i;
        d->hi = c->kind == RF_CRIT_RANGE ? c->vals[1].i : c->vals[0].i;
    } else { /* one_of */
        d->kind = DEF_SET;
        int64_t *v = ip->defvals + *nvals;
        for (uint32_t k = 0; k < c->nvals; k++)
            v[k] = c->vals[k].i;
        qsort(v, c->nvals, sizeof(*v), i64_cmp);
        uint32_t n = 0;
        for (uint32_t k = 0; k < c->nvals; k++)
            if (n == 0 || v[n - 1] != v[k])
                v[n++] = v[k];
        d->soff = (uint32_t)*nvals;
        d->sn = n;
        *nvals += n;
    }
}

/* The deferred checks of instance i against the event's inputs. */
static int defs_hold(const rf_interp *ip, uint32_t i, const rf_input *inputs)
{
    for (uint32_t k = ip->def_off[i]; k < ip->def_off[i + 1]; k++) {
        const interp_def *d = &ip->defs[k];
        const rf_input *in = &inputs[d->field]; /* field < inputs_required <= ninputs */
        if (d->kind == DEF_ANYSTR) {
            if (in->type != RF_VAL_STRING || (!in->s && in->len))
                return 0;
            continue;
        }
        if (in->type != RF_VAL_INT)
            return 0;
        if (d->kind == DEF_RANGE) {
            if (in->i < d->lo || in->i > d->hi)
                return 0;
            continue;
        }
        const int64_t *v = ip->defvals + d->soff;
        uint32_t lo = 0, hi = d->sn;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (v[mid] < in->i)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == d->sn || v[lo] != in->i)
            return 0;
    }
    return 1;
}

void rf_interp_free(rf_interp *ip)
{
    if (!ip)
        return;
    if (ip->fields)
        for (uint32_t f = 0; f < ip->nfields; f++) {
            interp_field *fl = &ip->fields[f];
            for (int d = 0; d < DB_COUNT; d++) {
                hs_free_database(fl->db[d].db);
                free(fl->db[d].pat_off);
                free(fl->db[d].pat_crit);
                free(fl->db[d].pat_len);
            }
            free(fl->any);
            rfinterp_stab_free(&fl->eq);
            rfinterp_stab_free(&fl->eq_nc);
            rfinterp_itab_free(&fl->ieq);
            rfinterp_rlist_free(&fl->ranges);
        }
    free(ip->fields);
    hs_free_scratch(ip->proto);
    free(ip->def_off);
    free(ip->defs);
    free(ip->defvals);
    free(ip->inst_need);
    free(ip->crit_inst);
    free(ip->always);
    free(ip->ids);
    free(ip->idbuf);
    free(ip->action);
    free(ip->severity);
    free(ip);
}

/* Sorting pattern indices by (flags, expression): qsort has no context
 * argument, and builds may run on several threads at once. */
static _Thread_local const pat_build *sort_fb;

static int pat_cmp(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    if (sort_fb->flags[a] != sort_fb->flags[b])
        return sort_fb->flags[a] < sort_fb->flags[b] ? -1 : 1;
    int c = strcmp(sort_fb->exprs[a], sort_fb->exprs[b]);
    if (c)
        return c;
    return a < b ? -1 : a > b; /* keep criterion order inside a group */
}

/*
 * Compile field fb's patterns into fl->db. Identical (expression, flags)
 * pairs become one Vectorscan pattern whose id maps to all their criteria:
 * content often repeats a value across instances (the same image-path suffix
 * with different pipe names), and the database should not grow with that.
 * crit_src and crit_inst name the culprit when compilation fails.
 */
static rf_rc compile_db(const rf_channel *ch, const pat_build *fb, interp_db *fl,
                        uint32_t field, const uint32_t *crit_inst,
                        const rf_crit *const *crit_src, rf_err *err)
{
    rf_rc rc = RF_OK;
    uint32_t *order = malloc(fb->n * sizeof(*order));
    const char **uexpr = malloc(fb->n * sizeof(*uexpr));
    unsigned *uflags = malloc(fb->n * sizeof(*uflags));
    unsigned *ids = malloc(fb->n * sizeof(*ids));
    uint32_t *first = malloc(fb->n * sizeof(*first)); /* a criterion of each pattern */
    fl->pat_off = malloc((fb->n + 1) * sizeof(*fl->pat_off));
    fl->pat_crit = malloc(fb->n * sizeof(*fl->pat_crit));
    fl->pat_len = malloc(fb->n * sizeof(*fl->pat_len));
    if (!order || !uexpr || !uflags || !ids || !first || !fl->pat_off || !fl->pat_crit ||
        !fl->pat_len) {
        rc = rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    for (uint32_t p = 0; p < fb->n; p++)
        order[p] = p;
    sort_fb = fb;
    qsort(order, fb->n, sizeof(*order), pat_cmp);
    sort_fb = NULL;
    uint32_t nu = 0;
    for (uint32_t k = 0; k < fb->n; k++) {
        uint32_t p = order[k];
        if (k == 0 || fb->flags[p] != uflags[nu - 1] || strcmp(fb->exprs[p], uexpr[nu - 1]) != 0) {
            uexpr[nu] = fb->exprs[p];
            uflags[nu] = fb->flags[p];
            ids[nu] = nu;
            first[nu] = fb->crit[p];
            fl->pat_off[nu] = k;
            fl->pat_len[nu] = fb->len[p];
            if (fb->len[p] > fl->maxlen)
                fl->maxlen = fb->len[p];
            nu++;
        }
        fl->pat_crit[k] = fb->crit[p];
    }
    fl->pat_off[nu] = fb->n;
    fl->npat = nu;

    hs_compile_error_t *cerr = NULL;
    if (hs_compile_multi(uexpr, uflags, ids, nu, HS_MODE_BLOCK, NULL, &fl->db, &cerr) !=
        HS_SUCCESS) {
        const char *msg = cerr && cerr->message ? cerr->message : "unknown error";
        if (cerr && cerr->expression >= 0 && (uint32_t)cerr->expression < nu) {
            uint32_t g = first[cerr->expression];
            const rf_crit *c = crit_src[g];
            const rf_instance *in = &ch->instances[crit_inst[g]];
            rc = rf_err_set(err, RF_E_PATTERN, ch->source, c->line, 0,
                            "instance '%s' field '%s': %s '%s' does not compile: %s",
                            in->id, nz(c->field_name), rfinterp_kind_name(c->kind),
                            c->vals[0].s, msg);
        } else {
            rc = rf_err_set(err, RF_E_LIMIT, ch->source, 0, 0,
                            "patterns of field %u do not compile together: %s", field,
                            msg);
        }
        fl->db = NULL;
        hs_free_compile_error(cerr);
    }
out:
    free(order);
    free(uexpr);
    free(uflags);
    free(ids);
    free(first);
    return rc;
}

rf_rc rf_interp_build(const rf_channel *ch, const rf_sensor_manifest *m, rf_interp **out,
                      rf_err *err)
{
    if (!ch || !m || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_interp_build: NULL argument");
    const char *src = ch->source;
    if (!ch->template_type)
        return rf_err_set(err, RF_E_SCHEMA, src, 0, 0, "channel has no template type");
    const rf_sensor_support *sup = find_support(m, ch->template_type, ch->template_version);
    if (!sup)
        return rf_err_set(err, RF_E_NOTFOUND, src, 0, 0,
                          "sensor %s does not implement template type %s version %u",
                          nz(m->sensor_version), ch->template_type, ch->template_version);
    if (ch->ninstances > RF_MAX_INSTANCES)
        return rf_err_set(err, RF_E_LIMIT, src, 0, 0,
                          "channel has %u instances, more than the limit of %u",
                          ch->ninstances, (unsigned)RF_MAX_INSTANCES);
    if (ch->ninstances && !ch->instances)
        return rf_err_set(err, RF_E_SCHEMA, src, 0, 0, "channel has no instance array");

    rf_rc rc = RF_OK;
    rf_interp *ip = NULL;
    field_build *fbs = NULL;
    uint32_t *fmap = NULL; /* input index -> builder index + 1 */
    const rf_crit **crit_src = NULL;
    uint32_t nf = 0, ncrit = 0, npat = 0, maxfield = 0, nalways = 0;
    size_t nintvals = 0;
    size_t idbytes = 0;

    /* Pass 1: check everything, count. */
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        if (!in->id)
            return rf_err_set(err, RF_E_SCHEMA, src, in->line, 0, "instance %u has no id", i);
        size_t idlen = strnlen(in->id, RF_ID_MAX + 1);
        if (idlen > RF_ID_MAX)
            return rf_err_set(err, RF_E_LIMIT, src, in->line, 0,
                              "instance %u: id longer than %u bytes", i, (unsigned)RF_ID_MAX);
        idbytes += idlen + 1;
        if (in->action != RF_ACTION_DETECT && in->action != RF_ACTION_BLOCK)
            return rf_err_set(err, RF_E_SCHEMA, src, in->line, 0,
                              "instance '%s': unknown action %d", in->id, (int)in->action);
        if (in->severity < RF_SEV_INFO || in->severity > RF_SEV_CRITICAL)
            return rf_err_set(err, RF_E_SCHEMA, src, in->line, 0,
                              "instance '%s': unknown severity %d", in->id, (int)in->severity);
        if (in->ncrits && !in->crits)
            return rf_err_set(err, RF_E_SCHEMA, src, in->line, 0,
                              "instance '%s': no criteria array", in->id);
        uint32_t real = 0;
        for (uint32_t k = 0; k < in->ncrits; k++) {
            const rf_crit *c = &in->crits[k];
            if (c->kind == RF_CRIT_ANY)
                continue; /* an explicit wildcard constrains nothing */
            rf_rc src_rc;
            const char *why = crit_shape(c, &src_rc);
            if (why)
                return rf_err_set(err, src_rc, src, c->line, 0,
                                  "instance '%s' criterion on field '%s' (index %u): %s",
                                  in->id, nz(c->field_name), c->field, why);
            if (c->field >= sup->inputs)
                return rf_err_set(err, RF_E_CAPABILITY, src, c->line, 0,
                                  "instance '%s' criterion on field '%s' (index %u) needs "
                                  "input %u, but sensor %s supplies %u inputs",
                                  in->id, nz(c->field_name), c->field, c->field + 1u,
                                  nz(m->sensor_version), sup->inputs);
            if (rfinterp_is_pattern_kind(c->kind))
                npat++;
            if (c->vtype == RF_VAL_INT)
                nintvals += c->nvals;
            if (c->field > maxfield)
                maxfield = c->field;
            real++;
        }
        if (ncrit > UINT32_MAX - real)
            return rf_err_set(err, RF_E_LIMIT, src, 0, 0, "too many criteria");
        ncrit += real;
        if (!real)
            nalways++;
    }
    if (npat > RF_MAX_PATTERNS)
        return rf_err_set(err, RF_E_LIMIT, src, 0, 0,
                          "channel has %u patterns, more than the limit of %u", npat,
                          (unsigned)RF_MAX_PATTERNS);

    ip = calloc(1, sizeof(*ip));
    if (!ip)
        goto nomem;
    ip->ninst = ch->ninstances;
    ip->ncrit = ncrit;
    ip->nalways = nalways;
    ip->inputs_supplied = sup->inputs;
    size_t ni = ip->ninst ? ip->ninst : 1, nc = ncrit ? ncrit : 1;
    ip->inst_need = calloc(ni, sizeof(*ip->inst_need));
    ip->crit_inst = calloc(nc, sizeof(*ip->crit_inst));
    ip->always = calloc(nalways ? nalways : 1, sizeof(*ip->always));
    ip->ids = calloc(ni, sizeof(*ip->ids));
    ip->idbuf = malloc(idbytes ? idbytes : 1);
    ip->action = calloc(ni, 1);
    ip->severity = calloc(ni, 1);
    crit_src = calloc(nc, sizeof(*crit_src));
    ip->def_off = calloc(ni + 1, sizeof(*ip->def_off));
    ip->defs = calloc(nc, sizeof(*ip->defs));
    ip->defvals = calloc(nintvals ? nintvals : 1, sizeof(*ip->defvals));
    fmap = calloc((size_t)maxfield + 1, sizeof(*fmap));
    if (!ip->inst_need || !ip->crit_inst || !ip->always || !ip->ids || !ip->idbuf ||
        !ip->action || !ip->severity || !crit_src || !fmap || !ip->def_off || !ip->defs ||
        !ip->defvals)
        goto nomem;

    /* Fields in use, and how much each collects. */
    for (uint32_t i = 0; i < ch->ninstances; i++)
        for (uint32_t k = 0; k < ch->instances[i].ncrits; k++) {
            const rf_crit *c = &ch->instances[i].crits[k];
            if (c->kind != RF_CRIT_ANY && !fmap[c->field])
                fmap[c->field] = 1;
        }
    for (uint32_t f = 0; f <= maxfield; f++)
        if (fmap[f])
            fmap[f] = ++nf;
    fbs = calloc(nf ? nf : 1, sizeof(*fbs));
    ip->fields = calloc(nf ? nf : 1, sizeof(*ip->fields));
    if (!fbs || !ip->fields)
        goto nomem;
    ip->nfields = nf;
    for (uint32_t f = 0; f < nf; f++) {
        rfinterp_sbuild_init(&fbs[f].eq);
        rfinterp_sbuild_init(&fbs[f].eq_nc);
    }
    for (uint32_t f = 0; f <= maxfield; f++)
        if (fmap[f])
            ip->fields[fmap[f] - 1].index = f;
    for (uint32_t i = 0; i < ch->ninstances; i++)
        for (uint32_t k = 0; k < ch->instances[i].ncrits; k++) {
            const rf_crit *c = &ch->instances[i].crits[k];
            if (c->kind == RF_CRIT_ANY)
                continue;
            field_build *fb = &fbs[fmap[c->field] - 1];
            if (rfinterp_is_pattern_kind(c->kind))
                fb->npat++;
            else if (c->kind == RF_CRIT_RANGE)
                fb->nrange++;
            else if (c->vtype == RF_VAL_INT)
                fb->nient += c->nvals;
        }
    for (uint32_t f = 0; f < nf; f++) {
        field_build *fb = &fbs[f];
        if (fb->npat) {
            for (int d = 0; d < DB_COUNT; d++) {
                pat_build *pb = &fb->pb[d];
                pb->exprs = calloc(fb->npat, sizeof(*pb->exprs));
                pb->flags = calloc(fb->npat, sizeof(*pb->flags));
                pb->len = calloc(fb->npat, sizeof(*pb->len));
                pb->crit = calloc(fb->npat, sizeof(*pb->crit));
                if (!pb->exprs || !pb->flags || !pb->len || !pb->crit)
                    goto nomem;
            }
            if (!(fb->any = calloc(fb->npat, sizeof(*fb->any))))
                goto nomem;
        }
        if (fb->nient && !(fb->ients = malloc(fb->nient * sizeof(*fb->ients))))
            goto nomem;
        if (fb->nrange && !(fb->ranges = malloc(fb->nrange * sizeof(*fb->ranges))))
            goto nomem;
    }

    /* Pass 2: number the criteria and hand them to their fields. */
    uint32_t g = 0, na = 0, ndef = 0;
    size_t nvals = 0;
    size_t idoff = 0;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        size_t idlen = strlen(in->id);
        memcpy(ip->idbuf + idoff, in->id, idlen + 1);
        ip->ids[i] = ip->idbuf + idoff;
        idoff += idlen + 1;
        ip->action[i] = (uint8_t)in->action;
        ip->severity[i] = (uint8_t)in->severity;
        uint32_t need = 0;
        int strong = 0;
        for (uint32_t k = 0; k < in->ncrits && !strong; k++)
            strong = crit_strong(&in->crits[k]);
        ip->def_off[i] = ndef;
        for (uint32_t k = 0; k < in->ncrits; k++) {
            const rf_crit *c = &in->crits[k];
            if (c->kind == RF_CRIT_ANY)
                continue;
            if (c->field + 1u > ip->inputs_required)
                ip->inputs_required = c->field + 1u;
            if (strong && !crit_strong(c)) {
                add_def(ip, &ndef, &nvals, c);
                continue;
            }
            ip->crit_inst[g] = i;
            crit_src[g] = c;
            rc = add_crit(&fbs[fmap[c->field] - 1], c, g, err);
            if (rc == RF_E_NOMEM)
                goto nomem;
            if (rc != RF_OK) {
                /* rfinterp_pattern's message lacks the instance: add it. */
                char why[RF_ERR_MSG_MAX];
                snprintf(why, sizeof(why), "%s", err ? err->msg : "");
                rf_err_set(err, rc, src, c->line, 0, "instance '%s' field '%s': %s", in->id,
                           nz(c->field_name), why);
                goto fail;
            }
            need++;
            g++;
        }
        ip->inst_need[i] = need;
        if (!need)
            ip->always[na++] = i;
    }

    ip->def_off[ch->ninstances] = ndef;

    /* Finish each field. */
    for (uint32_t f = 0; f < nf; f++) {
        field_build *fb = &fbs[f];
        interp_field *fl = &ip->fields[f];
        for (int d = 0; d < DB_COUNT; d++) {
            if (!fb->pb[d].n)
                continue;
            rc = compile_db(ch, &fb->pb[d], &fl->db[d], fl->index, ip->crit_inst, crit_src, err);
            if (rc != RF_OK)
                goto fail;
            if (hs_alloc_scratch(fl->db[d].db, &ip->proto) != HS_SUCCESS)
                goto nomem;
        }
        fl->nany = fb->nany;
        fl->any = fb->any;
        fb->any = NULL;
        if (rfinterp_stab_finish(&fb->eq, &fl->eq) != RF_OK ||
            rfinterp_stab_finish(&fb->eq_nc, &fl->eq_nc) != RF_OK ||
            rfinterp_itab_finish(fb->ients, fb->iient, &fl->ieq) != RF_OK)
            goto nomem;
        /* i*: what was added; n* (counted in pass 1) also covered deferred ones */
        rc = rfinterp_rlist_finish(fb->ranges, fb->irange, &fl->ranges);
        fb->ranges = NULL; /* owned by the list now, or freed */
        if (rc != RF_OK)
            goto nomem;
    }

    /* What it holds (one scratch counted: each thread has its own). */
    size_t mem = sizeof(*ip) + idbytes +
                 (size_t)ip->ninst * (sizeof(uint32_t) + sizeof(char *) + 2) +
                 (size_t)ncrit * sizeof(uint32_t) + nalways * sizeof(uint32_t) +
                 nf * sizeof(interp_field);
    for (uint32_t f = 0; f < nf; f++) {
        const interp_field *fl = &ip->fields[f];
        for (int d = 0; d < DB_COUNT; d++) {
            const interp_db *db = &fl->db[d];
            size_t dbsize = 0;
            if (db->db && hs_database_size(db->db, &dbsize) == HS_SUCCESS)
                mem += dbsize;
            if (db->db)
                mem += ((size_t)db->npat * 2 + 1 + db->pat_off[db->npat]) * sizeof(uint32_t);
        }
        mem += fl->nany * sizeof(uint32_t) + rfinterp_stab_memory(&fl->eq) +
               rfinterp_stab_memory(&fl->eq_nc) + rfinterp_itab_memory(&fl->ieq) +
               (size_t)fl->ranges.n * sizeof(rfinterp_range) +
               ((size_t)fl->ranges.n / RFINTERP_RANGE_BLOCK + 1) * sizeof(int64_t);
    }
    size_t scrsize = 0;
    if (ip->proto && hs_scratch_size(ip->proto, &scrsize) == HS_SUCCESS)
        mem += scrsize;
    mem += ((size_t)ip->ninst + 1) * sizeof(uint32_t) + ndef * sizeof(interp_def) +
           nvals * sizeof(int64_t);
    ip->mem = mem + sizeof(rf_interp_scratch) +
              (size_t)ncrit * sizeof(uint32_t) + (size_t)ip->ninst * (sizeof(inst_state) + 4);

    for (uint32_t f = 0; f < nf; f++)
        field_build_free(&fbs[f]);
    free(fbs);
    free(fmap);
    free(crit_src);
    *out = ip;
    return RF_OK;

nomem:
    rc = rf_err_set(err, RF_E_NOMEM, src, 0, 0, "out of memory building the interpreter");
fail:
    if (fbs)
        for (uint32_t f = 0; f < nf; f++)
            field_build_free(&fbs[f]);
    free(fbs);
    free(fmap);
    free(crit_src);
    rf_interp_free(ip);
    return rc;
}

/* ---- scratch ---- */

rf_rc rf_interp_scratch_new(const rf_interp *ip, rf_interp_scratch **out)
{
    if (!ip || !out)
        return RF_E_USAGE;
    rf_interp_scratch *s = calloc(1, sizeof(*s));
    if (!s)
        return RF_E_NOMEM;
    s->ip = ip;
    s->crit_epoch = calloc(ip->ncrit ? ip->ncrit : 1, sizeof(*s->crit_epoch));
    s->inst = calloc(ip->ninst ? ip->ninst : 1, sizeof(*s->inst));
    s->matched = calloc(ip->ninst ? ip->ninst : 1, sizeof(*s->matched));
    if (!s->crit_epoch || !s->inst || !s->matched)
        goto fail;
    if (ip->proto && hs_clone_scratch(ip->proto, &s->hs) != HS_SUCCESS)
        goto fail;
    *out = s;
    return RF_OK;
fail:
    rf_interp_scratch_free(s);
    return RF_E_NOMEM;
}

void rf_interp_scratch_free(rf_interp_scratch *s)
{
    if (!s)
        return;
    hs_free_scratch(s->hs);
    free(s->crit_epoch);
    free(s->inst);
    free(s->matched);
    free(s);
}

void rfinterp_scratch_set_epoch(rf_interp_scratch *s, uint32_t epoch)
{
    s->epoch = epoch;
}

/* ---- evaluation ---- */

static inline void hit(rf_interp_scratch *s, uint32_t g)
{
    if (s->crit_epoch[g] == s->epoch)
        return; /* this criterion already counted for this event */
    s->crit_epoch[g] = s->epoch;
    const rf_interp *ip = s->ip;
    uint32_t i = ip->crit_inst[g];
    inst_state *st = &s->inst[i];
    if (st->epoch != s->epoch) {
        st->epoch = s->epoch;
        st->count = 0;
    }
    if (++st->count == ip->inst_need[i] &&
        (ip->def_off[i] == ip->def_off[i + 1] || defs_hold(ip, i, s->inputs)))
        s->matched[s->nmatched++] = i;
}

static inline void hit_all(rf_interp_scratch *s, const uint32_t *ids, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        hit(s, ids[k]);
}

typedef struct scan_ctx {
    rf_interp_scratch *s;
    const interp_db *db;
} scan_ctx;

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    scan_ctx *c = ctx;
    const interp_db *db = c->db;
    /* DB_PRE / DB_SUF: only the occurrence at the very start of the scanned
     * window counts (the window is reversed for suffixes). */
    if (db->maxlen && to != db->pat_len[id])
        return 0;
    hit_all(c->s, db->pat_crit + db->pat_off[id], db->pat_off[id + 1] - db->pat_off[id]);
    return 0;
}

static void sift_down(uint32_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[root] >= a[child])
            return;
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

/* In place, no allocation (glibc's qsort may malloc). */
static void sort_u32(uint32_t *a, size_t n)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > v; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

static void eval_ranges(rf_interp_scratch *s, const rfinterp_rlist *l, int64_t v)
{
    uint32_t nb = (l->n + RFINTERP_RANGE_BLOCK - 1) / RFINTERP_RANGE_BLOCK;
    for (uint32_t b = 0; b < nb; b++) {
        uint32_t start = b * RFINTERP_RANGE_BLOCK;
        if (l->r[start].lo > v)
            return; /* sorted by lo: nothing later starts at or below v */
        if (l->block_max[b] < v)
            continue;
        uint32_t end = start + RFINTERP_RANGE_BLOCK < l->n ? start + RFINTERP_RANGE_BLOCK : l->n;
        for (uint32_t i = start; i < end && l->r[i].lo <= v; i++)
            if (l->r[i].hi >= v)
                hit(s, l->r[i].crit);
    }
}

rf_rc rf_interp_eval(const rf_interp *ip, rf_interp_scratch *scr, const rf_input *inputs,
                     uint32_t ninputs, uint32_t *matches, uint32_t cap, uint32_t *nmatches)
{
    if (nmatches)
        *nmatches = 0;
    if (!ip || !scr || !nmatches || scr->ip != ip || (ninputs && !inputs) || (cap && !matches))
        return RF_E_USAGE;
    /* The run-time check: every field index used below is < inputs_required. */
    if (ninputs < ip->inputs_required)
        return RF_E_INPUT;

    if (++scr->epoch == 0) {
        memset(scr->crit_epoch, 0, (size_t)ip->ncrit * sizeof(*scr->crit_epoch));
        memset(scr->inst, 0, (size_t)ip->ninst * sizeof(*scr->inst));
        scr->epoch = 1;
    }
    scr->nmatched = 0;
    scr->inputs = inputs;

    for (uint32_t f = 0; f < ip->nfields; f++) {
        const interp_field *fl = &ip->fields[f];
        const rf_input *in = &inputs[fl->index];
        if (in->type == RF_VAL_STRING) {
            if (!in->s && in->len)
                continue; /* malformed input: treated as absent */
            const char *sv = in->s ? in->s : "";
            if (fl->nany)
                hit_all(scr, fl->any, fl->nany);
            const interp_db *db = &fl->db[DB_FWD];
            if (db->db) {
                scan_ctx ctx = {scr, db};
                if (hs_scan(db->db, sv, in->len, 0, scr->hs, on_match, &ctx) != HS_SUCCESS)
                    return RF_E_INTERNAL;
            }
            db = &fl->db[DB_PRE];
            if (db->db && in->len) {
                scan_ctx ctx = {scr, db};
                uint32_t n = in->len < db->maxlen ? in->len : db->maxlen;
                if (hs_scan(db->db, sv, n, 0, scr->hs, on_match, &ctx) != HS_SUCCESS)
                    return RF_E_INTERNAL;
            }
            db = &fl->db[DB_SUF];
            if (db->db && in->len) {
                scan_ctx ctx = {scr, db};
                uint32_t n = in->len < db->maxlen ? in->len : db->maxlen; /* <= RF_MAX_STRING */
                const char *tail = sv + in->len - n;
                for (uint32_t k = 0; k < n; k++)
                    scr->rev[k] = tail[n - 1 - k];
                if (hs_scan(db->db, scr->rev, n, 0, scr->hs, on_match, &ctx) != HS_SUCCESS)
                    return RF_E_INTERNAL;
            }
            uint32_t n;
            const uint32_t *ids;
            if ((ids = rfinterp_stab_find(&fl->eq, sv, in->len, &n)) != NULL)
                hit_all(scr, ids, n);
            if (fl->eq_nc.nkeys && in->len >= fl->eq_nc.minlen && in->len <= fl->eq_nc.maxlen) {
                /* maxlen <= RF_MAX_STRING, checked at build */
                for (uint32_t k = 0; k < in->len; k++) {
                    char ch = sv[k];
                    scr->lower[k] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + ('a' - 'A')) : ch;
                }
                if ((ids = rfinterp_stab_find(&fl->eq_nc, scr->lower, in->len, &n)) != NULL)
                    hit_all(scr, ids, n);
            }
        } else if (in->type == RF_VAL_INT) {
            uint32_t n;
            const uint32_t *ids;
            if ((ids = rfinterp_itab_find(&fl->ieq, in->i, &n)) != NULL)
                hit_all(scr, ids, n);
            if (fl->ranges.n)
                eval_ranges(scr, &fl->ranges, in->i);
        }
        /* RF_VAL_ABSENT (or anything else): no criterion on this field holds. */
    }

    uint32_t nm = scr->nmatched;
    for (uint32_t k = 0; k < ip->nalways; k++)
        scr->matched[nm++] = ip->always[k];
    sort_u32(scr->matched, nm);
    if (cap)
        memcpy(matches, scr->matched, (size_t)(nm < cap ? nm : cap) * sizeof(*matches));
    *nmatches = nm;
    return RF_OK;
}

/* ---- facts ---- */

uint32_t rf_interp_ninstances(const rf_interp *ip)
{
    return ip ? ip->ninst : 0;
}

uint32_t rf_interp_inputs_required(const rf_interp *ip)
{
    return ip ? ip->inputs_required : 0;
}

uint32_t rf_interp_inputs_supplied(const rf_interp *ip)
{
    return ip ? ip->inputs_supplied : 0;
}

const char *rf_interp_instance_id(const rf_interp *ip, uint32_t idx)
{
    return ip && idx < ip->ninst ? ip->ids[idx] : NULL;
}

rf_action rf_interp_instance_action(const rf_interp *ip, uint32_t idx)
{
    return ip && idx < ip->ninst ? (rf_action)ip->action[idx] : (rf_action)0;
}

rf_severity rf_interp_instance_severity(const rf_interp *ip, uint32_t idx)
{
    return ip && idx < ip->ninst ? (rf_severity)ip->severity[idx] : (rf_severity)0;
}

size_t rf_interp_memory(const rf_interp *ip)
{
    return ip ? ip->mem : 0;
}
