/*
 * interp.c — the Content Interpreter (interp.h): building a matcher for one
 * channel as run by one sensor, and evaluating events against it.
 *
 * Building checks the channel's structure instead of trusting it, then the
 * 19 July rule: every non-wildcard criterion's field index must be below the
 * inputs the sensor supplies (RF_E_CAPABILITY otherwise).
 *
 * Matching is "anchor, then confirm", the fast-pattern scheme of
 * multi-pattern intrusion detection engines. Counting every satisfied
 * criterion per instance made the cost of an event follow the number of
 * broad criteria it satisfies (contains "Microsoft", suffix \rundll32.exe,
 * a SID prefix shared by thousands of instances: ~7,300 counter bumps per
 * event at 10,000 instances, two thirds of the time), so instead:
 *
 *   patterns  Identical string criteria (same field, kind, value, nocase)
 *             become one pattern. Per field, the prefix, suffix, contains,
 *             regex and glob patterns go into Vectorscan databases, literals
 *             and regexes together (compile_field); equals/one_of values go
 *             to hash tables whose entries name patterns. A pattern is marked
 *             satisfied at most once per event (an epoch stamp in the
 *             scratch), so a broad pattern costs one store however many
 *             instances use it and however often it occurs in the input.
 *   anchors   Each instance is filed under ONE criterion, its most selective
 *             (anchor_cost): the first time a pattern is marked in an event,
 *             the instances anchored on it become candidates. Instances with
 *             no string criterion are anchored on an int criterion (per-field
 *             int hash table or interval list of instances), on "any string"
 *             (a per-field list) or, with no criterion at all, always.
 *   confirm   After all anchoring fields are scanned, each candidate's other
 *             criteria are checked: a pattern by one load of its stamp, an
 *             int criterion or an any-string one directly on the input.
 *
 * Only patterns that anchor some instance are looked for up front: each
 * field has an anchor database (scanned on every event: at most one hs_scan
 * per string input) and a confirm database with the patterns nobody is
 * anchored on (say image_path's broad \rundll32.exe), scanned only when the
 * first candidate needs one of them, once per event; exact tables likewise.
 * Most events produce no candidate and never pay for broad patterns.
 *
 * Every instance has exactly one anchor and each anchor fires at most once
 * per event, so an instance cannot become a candidate twice; the per-instance
 * stamp in the scratch makes that a checked fact rather than an assumption,
 * since the candidate array is sized to the number of instances.
 *
 * Stamps live in the caller's scratch, compared with a per-event
 * epoch so nothing is cleared between events; when the 32-bit epoch wraps the
 * arrays are zeroed once. Nothing is allocated while evaluating.
 *
 * The interpreter copies ids, actions and severities, so the channel and the
 * manifest may be freed after rf_interp_build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "interp/interp_int.h"

/* What a Vectorscan match of one pattern must satisfy to count. Prefixes and
 * suffixes are compiled as unanchored literals (anchored expressions compile
 * slowly in bulk: pattern.c) and every occurrence is reported, since
 * HS_FLAG_SINGLEMATCH is never used (pattern.c); the occurrence that ends at
 * len(lit), or at the end of the input, is the anchored one. */
#define END_ANY 0u            /* contains, regex: any match */
#define END_INPUT UINT32_MAX  /* suffix: the match ends where the input ends */
#define END_VERIFY (UINT32_MAX - 1) /* a glob's literal: rfinterp_glob_match decides */

/* A glob confirmed by rfinterp_glob_match (interp_int.h). */
typedef struct interp_glob {
    uint32_t len;
    uint8_t nocase;
    char s[]; /* the glob, len bytes */
} interp_glob;
                              /* otherwise (prefix): the match ends there */

typedef struct interp_hsid {
    uint32_t pat; /* global pattern id */
    uint32_t end; /* END_ANY, END_INPUT or the prefix's length */
} interp_hsid;

/* Where a pattern is looked for: the low two bits of pat_where, and the
 * index (with the field slot above them) of the scratch stamp saying that
 * this part of the field was looked at in this event. */
enum { W_ANCHOR_DB, W_CONFIRM_DB, W_EXACT, W_COUNT = 4 };

typedef struct interp_field {
    uint32_t index;       /* input index */
    uint8_t eager_eq;     /* an exact pattern anchors an instance: look up up front */
    hs_database_t *db[2]; /* [W_ANCHOR_DB], [W_CONFIRM_DB]; NULL when empty */
    interp_hsid *ids[2];  /* Vectorscan id -> pattern */
    uint32_t nids[2];
    rfinterp_stab eq, eq_nc; /* exact values -> pattern ids (eq_nc: lower-cased) */
    uint32_t nany;
    uint32_t *any;        /* instances anchored on "any string value" */
    rfinterp_itab ieq;    /* int value -> instances anchored on equals/one_of */
    rfinterp_rlist ranges; /* .crit holds the instance anchored on the range */
} interp_field;

/* An int or any-string criterion checked directly on the input while
 * confirming a candidate. */
enum { DEF_ANYSTR, DEF_RANGE, DEF_SET };

typedef struct interp_def {
    uint32_t field;     /* input index */
    uint32_t kind;      /* DEF_* */
    int64_t lo, hi;     /* DEF_RANGE (equals: lo == hi) */
    uint32_t soff, sn;  /* DEF_SET: sorted unique values defvals[soff .. soff+sn) */
} interp_def;

struct rf_interp {
    uint32_t ninst, npat, nfields, nalways;
    uint32_t inputs_required, inputs_supplied;
    uint32_t *anc_off;    /* [npat+1]: pattern p -> anc[anc_off[p] .. anc_off[p+1]) */
    uint32_t *anc;        /* instances anchored on a pattern, grouped by pattern */
    uint32_t *pat_where;  /* [npat]: field slot << 2 | W_* */
    interp_glob **glob;   /* [npat]: the glob to confirm a hit with, or NULL */
    uint32_t *chk_off;    /* [ninst+1]: instance i -> chk[chk_off[i] .. chk_off[i+1]) */
    uint32_t *chk;        /* patterns to confirm (the anchor excluded) */
    uint32_t *def_off;    /* [ninst+1]: instance i -> defs[def_off[i] .. def_off[i+1]) */
    interp_def *defs;
    int64_t *defvals;
    uint32_t *always;     /* instances with no criteria, ascending */
    interp_field *fields; /* only fields with criteria, ascending index */
    char **ids;
    char *idbuf;
    uint8_t *action, *severity;
    hs_scratch_t *proto;  /* big enough for every database; cloned per scratch */
    size_t mem;
};

struct rf_interp_scratch {
    const rf_interp *ip;
    const rf_input *inputs; /* of the event being evaluated */
    hs_scratch_t *hs;
    uint32_t epoch;
    uint32_t ncand;
    uint32_t *pat_epoch;  /* [npat]: == epoch once the pattern held this event */
    uint32_t *ver_epoch;  /* [npat]: == epoch once a glob was confirmed or not */
    uint32_t *inst_epoch; /* [ninst]: == epoch once the instance is a candidate */
    uint32_t *cand;       /* [ninst]: candidates, then (compacted) matches */
    uint32_t *done;       /* [nfields * W_COUNT]: == epoch once that part of the
                           * field (slot << 2 | W_*) was looked at this event */
    char lower[RF_MAX_STRING]; /* nocase equals: the input lower-cased */
};

/* ---- building ---- */

static const char *nz(const char *s)
{
    return s ? s : "?";
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
            for (int d = 0; d < 2; d++) {
                hs_free_database(fl->db[d]);
                free(fl->ids[d]);
            }
            free(fl->any);
            rfinterp_stab_free(&fl->eq);
            rfinterp_stab_free(&fl->eq_nc);
            rfinterp_itab_free(&fl->ieq);
            rfinterp_rlist_free(&fl->ranges);
        }
    free(ip->fields);
    hs_free_scratch(ip->proto);
    free(ip->anc_off);
    free(ip->anc);
    free(ip->pat_where);
    if (ip->glob)
        for (uint32_t p = 0; p < ip->npat; p++)
            free(ip->glob[p]);
    free(ip->glob);
    free(ip->chk_off);
    free(ip->chk);
    free(ip->def_off);
    free(ip->defs);
    free(ip->defvals);
    free(ip->always);
    free(ip->ids);
    free(ip->idbuf);
    free(ip->action);
    free(ip->severity);
    free(ip);
}

/* How a string criterion is matched. */
typedef enum str_class {
    SC_ANY,      /* every (well-formed) string value */
    SC_EXACT,    /* equals / one_of / a glob without wildcards: hash tables */
    SC_PREFIX,   /* the Vectorscan database of the field, as a literal... */
    SC_SUFFIX,
    SC_CONTAINS,
    SC_REGEX,    /* ...or as rfinterp_pattern's expression */
} str_class;

/*
 * Classify a string criterion whose shape was checked. For SC_PREFIX,
 * SC_SUFFIX, SC_CONTAINS and a glob's SC_EXACT, *lit / *litlen is the
 * literal; for equals and one_of, *lit is NULL (the values are c->vals).
 */
static str_class str_classify(const rf_crit *c, const char **lit, uint32_t *litlen)
{
    *lit = NULL;
    *litlen = 0;
    if (!rfinterp_is_pattern_kind(c->kind))
        return SC_EXACT;
    switch (rfinterp_classify(c, lit, litlen)) {
    case RFI_ANYSTR: return SC_ANY;
    case RFI_PREFIX: return SC_PREFIX;
    case RFI_SUFFIX: return SC_SUFFIX;
    case RFI_CONTAINS: return SC_CONTAINS;
    case RFI_EQUALS: return SC_EXACT;
    case RFI_REGEX: break;
    }
    *lit = NULL;
    *litlen = 0;
    return SC_REGEX;
}

#define NO_PAT UINT32_MAX  /* criterion with no pattern: int, or any string */
#define NO_CRIT UINT32_MAX /* instance with no criterion */

/* What rf_interp_build keeps while building (freed by build_free). */
typedef struct build {
    const rf_channel *ch;
    uint32_t ncrit, npat;
    uint32_t *fmap;            /* input index -> field slot + 1 */
    const rf_crit **crit_src;  /* [ncrit] */
    uint32_t *crit_inst;       /* [ncrit] */
    uint32_t *crit_pat;        /* [ncrit]: pattern id or NO_PAT */
    uint32_t *inst_coff;       /* [ninst+1]: instance -> its criterion ids */
    uint32_t *anchor;          /* [ninst]: criterion id or NO_CRIT */
    uint32_t *pat_rep;         /* [npat]: one criterion of the pattern (the first) */
    uint32_t *pat_share;       /* [npat]: criteria that share it */
    rfinterp_stab valfreq;     /* (field, lower-cased exact value) -> criteria using it */
} build;

static void build_free(build *b)
{
    free(b->fmap);
    free(b->crit_src);
    free(b->crit_inst);
    free(b->crit_pat);
    free(b->inst_coff);
    free(b->anchor);
    free(b->pat_rep);
    free(b->pat_share);
    rfinterp_stab_free(&b->valfreq);
}

static void put_u32(rf_buf *b, uint32_t v)
{
    rf_buf_append(b, &v, sizeof(v));
}

/* Append s, ASCII-lower-cased when fold (the key of a nocase value). */
static void put_folded(rf_buf *b, const char *s, uint32_t n, int fold)
{
    size_t at = b->len;
    rf_buf_append(b, s, n);
    if (fold && !b->oom)
        for (size_t k = at; k < at + n; k++)
            if (b->data[k] >= 'A' && b->data[k] <= 'Z')
                b->data[k] = (uint8_t)(b->data[k] + ('a' - 'A'));
}

/* Say which instance and field a pattern message (from pattern.c) is about. */
static rf_rc crit_error(const build *b, uint32_t g, rf_rc rc, rf_err *err)
{
    const rf_crit *c = b->crit_src[g];
    char why[RF_ERR_MSG_MAX];
    snprintf(why, sizeof(why), "%s", err ? err->msg : "");
    return rf_err_set(err, rc, b->ch->source, c->line, 0, "instance '%s' field '%s': %s",
                      b->ch->instances[b->crit_inst[g]].id, nz(c->field_name), why);
}

/*
 * Give every string criterion that is not "any string" a pattern id,
 * identical ones the same: the key is (field, class, nocase, literal folded
 * when nocase / expression and flags / values). A one_of's values are keyed
 * in their written order, so {a, b} and {b, a} stay two patterns: correct,
 * only a little less shared. The grouping reuses the exact-value hash table
 * of table.c (key -> sorted criterion ids).
 */
static rf_rc dedupe_patterns(build *b, rf_err *err)
{
    rf_rc rc = RF_OK;
    rfinterp_sbuild kb;
    rfinterp_sbuild_init(&kb);
    rfinterp_stab kt;
    memset(&kt, 0, sizeof(kt));
    rf_buf key;
    rf_buf_init(&key);
    for (uint32_t g = 0; g < b->ncrit; g++) {
        const rf_crit *c = b->crit_src[g];
        b->crit_pat[g] = NO_PAT;
        if (c->vtype != RF_VAL_STRING)
            continue;
        const char *lit;
        uint32_t litlen;
        str_class sc = str_classify(c, &lit, &litlen);
        if (sc == SC_ANY)
            continue;
        int nocase = (c->flags & RF_CRIT_NOCASE) != 0;
        key.len = 0;
        put_u32(&key, c->field);
        uint8_t hdr[2] = {(uint8_t)sc, (uint8_t)nocase};
        rf_buf_append(&key, hdr, sizeof(hdr));
        if (sc == SC_REGEX) {
            unsigned flags = 0;
            size_t at = key.len;
            put_u32(&key, 0);
            rc = rfinterp_pattern(c, &key, &flags, err);
            if (rc != RF_OK) {
                rc = rc == RF_E_NOMEM ? rc : crit_error(b, g, rc, err);
                goto out;
            }
            memcpy(key.data + at, &flags, sizeof(uint32_t));
        } else if (sc == SC_EXACT && !lit) {
            for (uint32_t k = 0; k < c->nvals; k++) {
                put_u32(&key, c->vals[k].len);
                put_folded(&key, c->vals[k].s, c->vals[k].len, nocase);
            }
        } else {
            put_folded(&key, lit, litlen, nocase);
        }
        if (key.oom || key.len > UINT32_MAX) {
            rc = RF_E_NOMEM;
            goto out;
        }
        if ((rc = rfinterp_sbuild_add(&kb, (const char *)key.data, (uint32_t)key.len, 0, g)) !=
            RF_OK)
            goto out;
    }
    if ((rc = rfinterp_stab_finish(&kb, &kt)) != RF_OK)
        goto out;
    b->pat_rep = malloc((kt.nkeys ? kt.nkeys : 1) * sizeof(*b->pat_rep));
    b->pat_share = malloc((kt.nkeys ? kt.nkeys : 1) * sizeof(*b->pat_share));
    if (!b->pat_rep || !b->pat_share) {
        rc = RF_E_NOMEM;
        goto out;
    }
    if (kt.nkeys)
        for (uint32_t s = 0; s <= kt.mask; s++) {
            const rfinterp_sslot *sl = &kt.slots[s];
            if (!sl->pn)
                continue;
            uint32_t p = b->npat++;
            b->pat_rep[p] = kt.posts[sl->poff]; /* posts are sorted: the first criterion */
            b->pat_share[p] = sl->pn;
            for (uint32_t k = 0; k < sl->pn; k++)
                b->crit_pat[kt.posts[sl->poff + k]] = p;
        }
out:
    rfinterp_stab_free(&kt);
    rfinterp_sbuild_free(&kb);
    rf_buf_free(&key);
    return rc;
}

/* (field, value lower-cased) as a key of b->valfreq, into key. */
static void valfreq_key(rf_buf *key, uint32_t field, const char *s, uint32_t len)
{
    key->len = 0;
    put_u32(key, field);
    put_folded(key, s, len, 1);
}

/*
 * Count, per field, how many exact criteria (equals, one_of, glob without
 * wildcard) name each value. How many instances share an exact pattern says
 * little about how often it fires: one_of lists of well-known image paths
 * differ from instance to instance while their values recur everywhere, in
 * content and in events alike. The count of a value is the better guess.
 */
static rf_rc count_values(build *b)
{
    rfinterp_sbuild vb;
    rfinterp_sbuild_init(&vb);
    rf_buf key;
    rf_buf_init(&key);
    rf_rc rc = RF_OK;
    for (uint32_t g = 0; g < b->ncrit && rc == RF_OK; g++) {
        const rf_crit *c = b->crit_src[g];
        const char *lit;
        uint32_t litlen;
        if (c->vtype != RF_VAL_STRING || str_classify(c, &lit, &litlen) != SC_EXACT)
            continue;
        for (uint32_t k = 0; k < (lit ? 1 : c->nvals) && rc == RF_OK; k++) {
            valfreq_key(&key, c->field, lit ? lit : c->vals[k].s, lit ? litlen : c->vals[k].len);
            rc = key.oom || key.len > UINT32_MAX
                     ? RF_E_NOMEM
                     : rfinterp_sbuild_add(&vb, (const char *)key.data, (uint32_t)key.len, 0, g);
        }
    }
    if (rc == RF_OK)
        rc = rfinterp_stab_finish(&vb, &b->valfreq);
    rfinterp_sbuild_free(&vb);
    rf_buf_free(&key);
    return rc;
}

/* Anchor units of an exact criterion: the counts of its values, summed. */
static uint64_t exact_units(const build *b, const rf_crit *c, const char *lit, uint32_t litlen)
{
    uint64_t units = 0;
    char kbuf[4 + RF_MAX_STRING]; /* crit_shape bounded every value */
    for (uint32_t k = 0; k < (lit ? 1 : c->nvals); k++) {
        const char *v = lit ? lit : c->vals[k].s;
        uint32_t len = lit ? litlen : c->vals[k].len, n, field = c->field;
        memcpy(kbuf, &field, 4);
        for (uint32_t j = 0; j < len; j++)
            kbuf[4 + j] = (v[j] >= 'A' && v[j] <= 'Z') ? (char)(v[j] + ('a' - 'A')) : v[j];
        if (!rfinterp_stab_find(&b->valfreq, kbuf, 4 + len, &n))
            n = 1;
        units += n;
    }
    return units;
}

/*
 * How costly criterion g would be as its instance's anchor (lower is better):
 * roughly how many events will fire it, times how many instances share it.
 * Tiers first: a string pattern, then an int equals/one_of, then a range,
 * then "any string". Among patterns the share count dominates (a regex
 * unique to the instance beats "contains Microsoft" shared by thousands),
 * weighted by kind: an exact value counts 1 per criterion naming it
 * (exact_units: exact values are the most selective), a literal of 4 bytes
 * or more 2, a regex 4 (they are often loose), a shorter literal 8 (it
 * occurs in much background text); then the longer literal wins. Ties keep
 * the criterion written first. choose_anchors may still move an anchor off
 * a field that would otherwise be scanned for a handful of instances.
 */
static uint64_t anchor_cost(const build *b, uint32_t g)
{
    const rf_crit *c = b->crit_src[g];
    uint64_t tier, units = 1, len = 0;
    if (c->vtype == RF_VAL_STRING) {
        uint32_t p = b->crit_pat[g];
        if (p == NO_PAT) {
            tier = 3;
        } else {
            const char *lit;
            uint32_t litlen;
            str_class sc = str_classify(c, &lit, &litlen);
            tier = 0;
            if (sc == SC_EXACT) {
                units = exact_units(b, c, lit, litlen);
            } else {
                uint64_t w = sc == SC_REGEX ? 4 : litlen >= 4 ? 2 : 8;
                units = (uint64_t)b->pat_share[p] * w;
            }
            len = sc == SC_EXACT ? 0xffff : litlen;
        }
    } else if (c->kind == RF_CRIT_RANGE) {
        tier = 2;
    } else {
        tier = 1;
        units = c->nvals;
    }
    if (units > (1ull << 43) - 1)
        units = (1ull << 43) - 1;
    if (len > 0xffff)
        len = 0xffff;
    return tier << 60 | units << 16 | (0xffff - len);
}

/*
 * Compile field slot f's prefix, suffix, contains and regex patterns into one
 * Vectorscan database (so one hs_scan per string input). Literals are
 * unanchored (see END_INPUT); regexes and the remaining globs are
 * rfinterp_pattern's expressions. hs_compile_multi takes per-expression
 * flags, so nocase literals (HS_FLAG_CASELESS) and DOTALL globs share the
 * database with everything else.
 *
 * One database rather than literals and regexes apart: on the benchmark's
 * content (bench interp, 10,000 instances) the pipe-name field has 4,925
 * literals and 2,246 regexes; compiled together they took 1.57 s, as two
 * databases 1.54 s (30,000 instances: 5.70 s against 5.40 s). Mixing does
 * not make compilation much slower, and the single database saves an
 * hs_scan call on every event.
 */
static rf_rc compile_field(const build *b, rf_interp *ip, uint32_t f, int which,
                           const uint32_t *pats, uint32_t n, rf_err *err)
{
    interp_field *fl = &ip->fields[f];
    interp_hsid **ids = &fl->ids[which];
    hs_database_t **db = &fl->db[which];
    rf_rc rc = RF_OK;
    rf_buf ex;
    rf_buf_init(&ex);
    rfinterp_run *globs = NULL, *runs = NULL;
    size_t *off = malloc(n * sizeof(*off));
    const char **exprs = malloc(n * sizeof(*exprs));
    unsigned *flags = malloc(n * sizeof(*flags));
    unsigned *hsid = malloc(n * sizeof(*hsid));
    *ids = malloc(n * sizeof(**ids));
    if (!off || !exprs || !flags || !hsid || !*ids) {
        rc = RF_E_NOMEM;
        goto out;
    }
    /* The globs confirmed by rfinterp_glob_match, and the literal run each is
     * looked for by (interp_int.h). */
    uint32_t ng = 0;
    for (uint32_t k = 0; k < n; k++) {
        const rf_crit *c = b->crit_src[b->pat_rep[pats[k]]];
        const char *l;
        uint32_t ll;
        if (c->kind == RF_CRIT_GLOB && str_classify(c, &l, &ll) == SC_REGEX)
            ng++;
    }
    globs = malloc((ng ? ng : 1) * sizeof(*globs));
    runs = malloc((ng ? ng : 1) * sizeof(*runs));
    if (!globs || !runs) {
        rc = RF_E_NOMEM;
        goto out;
    }
    ng = 0;
    for (uint32_t k = 0; k < n; k++) {
        const rf_crit *c = b->crit_src[b->pat_rep[pats[k]]];
        const char *l;
        uint32_t ll;
        if (c->kind == RF_CRIT_GLOB && str_classify(c, &l, &ll) == SC_REGEX)
            globs[ng++] = (rfinterp_run){c->vals[0].s, c->vals[0].len};
    }
    if ((rc = rfinterp_glob_literals(globs, ng, runs)) != RF_OK)
        goto out;
    ng = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t p = pats[k];
        const rf_crit *c = b->crit_src[b->pat_rep[p]];
        const char *lit;
        uint32_t litlen;
        str_class sc = str_classify(c, &lit, &litlen);
        off[k] = ex.len;
        hsid[k] = k;
        (*ids)[k].pat = p;
        if (sc == SC_REGEX && c->kind == RF_CRIT_GLOB) {
            /* Its longest literal run, confirmed on a hit (interp_int.h). */
            int nocase = (c->flags & RF_CRIT_NOCASE) != 0;
            interp_glob *g = malloc(sizeof(*g) + c->vals[0].len);
            if (!g) {
                rc = RF_E_NOMEM;
                goto out;
            }
            g->len = c->vals[0].len;
            g->nocase = (uint8_t)nocase;
            memcpy(g->s, c->vals[0].s, g->len);
            free(ip->glob[p]);
            ip->glob[p] = g;
            (*ids)[k].end = END_VERIFY;
            lit = runs[ng].s;
            litlen = runs[ng].len;
            ng++;
            if ((rc = rfinterp_literal(lit, litlen, 0, &ex)) != RF_OK)
                goto out;
            flags[k] = (litlen ? 0 : HS_FLAG_ALLOWEMPTY) | (nocase ? HS_FLAG_CASELESS : 0);
        } else if (sc == SC_REGEX) {
            (*ids)[k].end = END_ANY;
            rc = rfinterp_pattern(c, &ex, &flags[k], err); /* checked in dedupe_patterns */
            if (rc != RF_OK)
                goto out;
        } else {
            (*ids)[k].end = sc == SC_PREFIX ? litlen : sc == SC_SUFFIX ? END_INPUT : END_ANY;
            if ((rc = rfinterp_literal(lit, litlen, 0, &ex)) != RF_OK)
                goto out;
            flags[k] = (c->flags & RF_CRIT_NOCASE) ? HS_FLAG_CASELESS : 0;
        }
    }
    if (ex.oom) {
        rc = RF_E_NOMEM;
        goto out;
    }
    for (uint32_t k = 0; k < n; k++)
        exprs[k] = (const char *)ex.data + off[k];
    fl->nids[which] = n;

    hs_compile_error_t *cerr = NULL;
    if (hs_compile_multi(exprs, flags, hsid, n, HS_MODE_BLOCK, NULL, db, &cerr) !=
        HS_SUCCESS) {
        const char *msg = cerr && cerr->message ? cerr->message : "unknown error";
        const rf_channel *ch = b->ch;
        if (cerr && cerr->expression >= 0 && (uint32_t)cerr->expression < n) {
            uint32_t g = b->pat_rep[pats[cerr->expression]];
            const rf_crit *c = b->crit_src[g];
            rc = rf_err_set(err, RF_E_PATTERN, ch->source, c->line, 0,
                            "instance '%s' field '%s': %s '%s' does not compile: %s",
                            ch->instances[b->crit_inst[g]].id, nz(c->field_name),
                            rf_crit_kind_name(c->kind), c->vals[0].s, msg);
        } else {
            rc = rf_err_set(err, RF_E_LIMIT, ch->source, 0, 0,
                            "patterns of field %u do not compile together: %s", fl->index,
                            msg);
        }
        *db = NULL;
        hs_free_compile_error(cerr);
        goto out;
    }
    if (hs_alloc_scratch(*db, &ip->proto) != HS_SUCCESS)
        rc = RF_E_NOMEM;
out:
    if (rc == RF_E_NOMEM)
        rf_err_set(err, RF_E_NOMEM, b->ch->source, 0, 0, "out of memory building the interpreter");
    rf_buf_free(&ex);
    free(globs);
    free(runs);
    free(off);
    free(exprs);
    free(flags);
    free(hsid);
    return rc;
}

/* Where an anchor on criterion g costs every event something: a field's
 * database or its exact tables (pat_where: no pattern is in a confirm
 * database yet), or NO_CRIT for the cheap per-field lists of int and
 * any-string anchors. */
static uint32_t anchor_channel(const build *b, const rf_interp *ip, uint32_t g)
{
    return b->crit_pat[g] == NO_PAT ? NO_CRIT : ip->pat_where[b->crit_pat[g]];
}

#define COST_TIER(c) ((c) >> 60)
#define COST_UNITS(c) (((c) >> 16) & ((1ull << 43) - 1))

/*
 * Each instance's anchor: its cheapest criterion (anchor_cost), then a
 * second look at the fields few instances are anchored on. Anchoring even
 * one instance on a field costs every event a scan or a lookup of that
 * field, so when a field's database or tables anchor fewer than
 * ninst / RELOCATE_FRACTION instances (or 16), those instances move to
 * another selective criterion (at most RELOCATE_MAX_UNITS, and no more than
 * RELOCATE_RATIO times its cost) on a field that stays scanned; the emptied
 * field is then looked at only when a candidate needs it. On the benchmark's
 * content this takes two image-path fields off the per-event path: a few
 * dozen instances were anchored on well-known paths (exact values named by
 * one instance only, but common in events) that also carry a unique pipe
 * name.
 */
#define RELOCATE_FRACTION 64u
#define RELOCATE_MAX_UNITS 16u
#define RELOCATE_RATIO 8u

static rf_rc choose_anchors(build *b, const rf_interp *ip)
{
    uint32_t ni = ip->ninst, nch = W_COUNT * ip->nfields;
    uint32_t *cnt = calloc(nch ? nch : 1, sizeof(*cnt));
    if (!cnt)
        return RF_E_NOMEM;
    for (uint32_t i = 0; i < ni; i++) {
        uint32_t best = NO_CRIT;
        uint64_t bestc = UINT64_MAX;
        for (uint32_t g = b->inst_coff[i]; g < b->inst_coff[i + 1]; g++) {
            uint64_t cost = anchor_cost(b, g);
            if (cost < bestc) {
                bestc = cost;
                best = g;
            }
        }
        b->anchor[i] = best;
        if (best != NO_CRIT && anchor_channel(b, ip, best) != NO_CRIT)
            cnt[anchor_channel(b, ip, best)]++;
    }
    uint32_t few = ni / RELOCATE_FRACTION > 16 ? ni / RELOCATE_FRACTION : 16;
    for (uint32_t i = 0; i < ni; i++) {
        uint32_t a = b->anchor[i];
        if (a == NO_CRIT)
            continue;
        uint32_t from = anchor_channel(b, ip, a);
        if (from == NO_CRIT || cnt[from] >= few)
            continue;
        uint64_t acost = anchor_cost(b, a), best = UINT64_MAX;
        uint32_t to = NO_CRIT;
        for (uint32_t g = b->inst_coff[i]; g < b->inst_coff[i + 1]; g++) {
            uint32_t ch = anchor_channel(b, ip, g);
            uint64_t cost = anchor_cost(b, g);
            if (g == a || ch == NO_CRIT || cnt[ch] < few || COST_TIER(cost) != 0 ||
                COST_UNITS(cost) > RELOCATE_MAX_UNITS ||
                COST_UNITS(cost) > RELOCATE_RATIO * COST_UNITS(acost) || cost >= best)
                continue;
            best = cost;
            to = g;
        }
        if (to != NO_CRIT) {
            b->anchor[i] = to;
            cnt[from]--;
            cnt[anchor_channel(b, ip, to)]++;
        }
    }
    free(cnt);
    return RF_OK;
}

/*
 * Pick each instance's anchor, then lay out what evaluation reads: the
 * instances anchored on each pattern, the per-field anchor lists for
 * any-string and int criteria, and each instance's remaining criteria
 * (patterns to look up, int / any-string checks on the input).
 */
static rf_rc lay_out(build *b, rf_interp *ip, size_t *ndefvals)
{
    uint32_t ni = ip->ninst, nf = ip->nfields;
    uint32_t nchk = 0, ndef = 0, na = 0;
    size_t nvals = 0;
    uint32_t *nient = calloc(nf ? nf : 1, sizeof(*nient));
    uint32_t *nrange = calloc(nf ? nf : 1, sizeof(*nrange));
    rfinterp_ient **ients = calloc(nf ? nf : 1, sizeof(*ients));
    rfinterp_range **ranges = calloc(nf ? nf : 1, sizeof(*ranges));
    rf_rc rc = RF_E_NOMEM;
    ip->anc_off = calloc((size_t)b->npat + 1, sizeof(*ip->anc_off));
    if (!nient || !nrange || !ients || !ranges || !ip->anc_off)
        goto out;

    if (choose_anchors(b, ip) != RF_OK)
        goto out;

    /* How much each structure receives. */
    for (uint32_t i = 0; i < ni; i++) {
        uint32_t best = b->anchor[i];
        if (best == NO_CRIT) {
            na++;
            continue;
        }
        const rf_crit *c = b->crit_src[best];
        uint32_t f = b->fmap[c->field] - 1;
        if (b->crit_pat[best] != NO_PAT)
            ip->anc_off[b->crit_pat[best] + 1]++;
        else if (c->vtype == RF_VAL_STRING)
            ip->fields[f].nany++;
        else if (c->kind == RF_CRIT_RANGE)
            nrange[f]++;
        else
            nient[f] += c->nvals;
        for (uint32_t g = b->inst_coff[i]; g < b->inst_coff[i + 1]; g++) {
            if (g == best)
                continue;
            if (b->crit_pat[g] != NO_PAT) {
                nchk++;
            } else {
                ndef++;
                if (b->crit_src[g]->vtype == RF_VAL_INT)
                    nvals += b->crit_src[g]->nvals;
            }
        }
    }
    for (uint32_t p = 0; p < b->npat; p++)
        ip->anc_off[p + 1] += ip->anc_off[p];

    ip->nalways = na;
    ip->anc = malloc(((size_t)ip->anc_off[b->npat] + 1) * sizeof(*ip->anc));
    ip->chk_off = calloc((size_t)ni + 1, sizeof(*ip->chk_off));
    ip->chk = malloc(((size_t)nchk + 1) * sizeof(*ip->chk));
    ip->def_off = calloc((size_t)ni + 1, sizeof(*ip->def_off));
    ip->defs = calloc((size_t)ndef + 1, sizeof(*ip->defs));
    ip->defvals = calloc(nvals + 1, sizeof(*ip->defvals));
    ip->always = malloc(((size_t)na + 1) * sizeof(*ip->always));
    if (!ip->anc || !ip->chk_off || !ip->chk || !ip->def_off || !ip->defs || !ip->defvals ||
        !ip->always)
        goto out;
    for (uint32_t f = 0; f < nf; f++) {
        interp_field *fl = &ip->fields[f];
        if ((fl->nany && !(fl->any = malloc(fl->nany * sizeof(*fl->any)))) ||
            (nient[f] && !(ients[f] = malloc(nient[f] * sizeof(*ients[f])))) ||
            (nrange[f] && !(ranges[f] = malloc(nrange[f] * sizeof(*ranges[f])))))
            goto out;
        fl->nany = nient[f] = nrange[f] = 0; /* cursors from here on */
    }

    /* Fill (instances ascending, so every list comes out ascending). */
    uint32_t *acur = b->pat_share; /* reused: pattern -> next free slot in anc */
    for (uint32_t p = 0; p < b->npat; p++)
        acur[p] = ip->anc_off[p];
    nchk = ndef = na = 0;
    nvals = 0;
    for (uint32_t i = 0; i < ni; i++) {
        uint32_t a = b->anchor[i];
        ip->chk_off[i] = nchk;
        ip->def_off[i] = ndef;
        if (a == NO_CRIT) {
            ip->always[na++] = i;
            continue;
        }
        const rf_crit *c = b->crit_src[a];
        interp_field *fl = &ip->fields[b->fmap[c->field] - 1];
        uint32_t f = (uint32_t)(fl - ip->fields);
        if (b->crit_pat[a] != NO_PAT) {
            ip->anc[acur[b->crit_pat[a]]++] = i;
        } else if (c->vtype == RF_VAL_STRING) {
            fl->any[fl->nany++] = i;
        } else if (c->kind == RF_CRIT_RANGE) {
            ranges[f][nrange[f]++] = (rfinterp_range){c->vals[0].i, c->vals[1].i, i};
        } else {
            for (uint32_t k = 0; k < c->nvals; k++)
                ients[f][nient[f]++] = (rfinterp_ient){c->vals[k].i, i};
        }
        for (uint32_t g = b->inst_coff[i]; g < b->inst_coff[i + 1]; g++) {
            if (g == a)
                continue;
            if (b->crit_pat[g] != NO_PAT)
                ip->chk[nchk++] = b->crit_pat[g];
            else
                add_def(ip, &ndef, &nvals, b->crit_src[g]);
        }
    }
    ip->chk_off[ni] = nchk;
    ip->def_off[ni] = ndef;

    /* Fields: int anchors into their tables; which fields to scan up front. */
    for (uint32_t f = 0; f < nf; f++) {
        interp_field *fl = &ip->fields[f];
        if (rfinterp_itab_finish(ients[f], nient[f], &fl->ieq) != RF_OK)
            goto out;
        rc = rfinterp_rlist_finish(ranges[f], nrange[f], &fl->ranges);
        ranges[f] = NULL; /* owned by the list now, or freed */
        if (rc != RF_OK)
            goto out;
        rc = RF_E_NOMEM;
    }
    for (uint32_t p = 0; p < b->npat; p++) {
        if (ip->anc_off[p] == ip->anc_off[p + 1])
            continue;
        uint32_t w = ip->pat_where[p];
        if ((w & 3) == W_EXACT)
            ip->fields[w >> 2].eager_eq = 1;
    }
    *ndefvals = nvals;
    rc = RF_OK;
out:
    for (uint32_t f = 0; f < nf && ients; f++)
        free(ients[f]);
    for (uint32_t f = 0; f < nf && ranges; f++)
        free(ranges[f]);
    free(ients);
    free(ranges);
    free(nient);
    free(nrange);
    return rc;
}

/* The exact-value tables of every field: value -> exact patterns. */
static rf_rc build_exact(const build *b, rf_interp *ip)
{
    rf_rc rc = RF_OK;
    uint32_t nf = ip->nfields;
    rfinterp_sbuild *eq = calloc(nf ? 2u * nf : 1, sizeof(*eq)); /* [2f]: as is, [2f+1]: nocase */
    if (!eq)
        return RF_E_NOMEM;
    for (uint32_t k = 0; k < 2 * nf; k++)
        rfinterp_sbuild_init(&eq[k]);
    for (uint32_t p = 0; p < b->npat && rc == RF_OK; p++) {
        uint32_t w = ip->pat_where[p];
        if ((w & 3) != W_EXACT)
            continue;
        const rf_crit *c = b->crit_src[b->pat_rep[p]];
        int nocase = (c->flags & RF_CRIT_NOCASE) != 0;
        rfinterp_sbuild *t = &eq[2 * (w >> 2) + (uint32_t)nocase];
        const char *lit;
        uint32_t litlen;
        (void)str_classify(c, &lit, &litlen);
        if (lit)
            rc = rfinterp_sbuild_add(t, lit, litlen, nocase, p);
        else
            for (uint32_t k = 0; k < c->nvals && rc == RF_OK; k++)
                rc = rfinterp_sbuild_add(t, c->vals[k].s, c->vals[k].len, nocase, p);
    }
    for (uint32_t f = 0; f < nf && rc == RF_OK; f++) {
        rc = rfinterp_stab_finish(&eq[2 * f], &ip->fields[f].eq);
        if (rc == RF_OK)
            rc = rfinterp_stab_finish(&eq[2 * f + 1], &ip->fields[f].eq_nc);
    }
    for (uint32_t k = 0; k < 2 * nf; k++)
        rfinterp_sbuild_free(&eq[k]);
    free(eq);
    return rc;
}

/*
 * Patterns by field slot and part, then Vectorscan databases. Each field
 * gets up to two: the patterns some instance is anchored on, scanned on
 * every event, and the others, scanned only when a candidate needs one of
 * them. Broad patterns (suffix \rundll32.exe, the C:\Windows\*\x.exe
 * globs, the -enc regexes) anchor nobody, so the per-event scan of a field
 * is a scan for its selective patterns alone: at 10,000 instances (bench
 * interp, seed 1) this took the server-image field from ~210 to ~60 ns per
 * event and the command line from ~110 to ~90. Called after lay_out, which
 * decides the anchors.
 */
static rf_rc build_databases(const build *b, rf_interp *ip, rf_err *err)
{
    uint32_t nslots = W_COUNT * ip->nfields;
    uint32_t *off = calloc((size_t)nslots + 1, sizeof(*off));
    uint32_t *cur = calloc((size_t)nslots + 1, sizeof(*cur));
    uint32_t *pats = malloc(((size_t)b->npat + 1) * sizeof(*pats));
    rf_rc rc = RF_OK;
    if (!off || !cur || !pats) {
        rc = rf_err_set(err, RF_E_NOMEM, b->ch->source, 0, 0,
                        "out of memory building the interpreter");
        goto out;
    }
    for (uint32_t p = 0; p < b->npat; p++) {
        uint32_t w = ip->pat_where[p];
        if ((w & 3) == W_EXACT)
            continue;
        if (ip->anc_off[p] == ip->anc_off[p + 1])
            w = ip->pat_where[p] = (w & ~3u) | W_CONFIRM_DB;
        off[w + 1]++;
    }
    for (uint32_t k = 0; k < nslots; k++)
        off[k + 1] += off[k];
    memcpy(cur, off, (size_t)nslots * sizeof(*cur));
    for (uint32_t p = 0; p < b->npat; p++)
        if ((ip->pat_where[p] & 3) != W_EXACT)
            pats[cur[ip->pat_where[p]]++] = p;
    for (uint32_t f = 0; f < ip->nfields && rc == RF_OK; f++)
        for (int d = W_ANCHOR_DB; d <= W_CONFIRM_DB && rc == RF_OK; d++) {
            uint32_t k = f << 2 | (uint32_t)d;
            if (off[k + 1] > off[k])
                rc = compile_field(b, ip, f, d, pats + off[k], off[k + 1] - off[k], err);
        }
out:
    free(off);
    free(cur);
    free(pats);
    return rc;
}

/* Bytes held by ip and one scratch (each thread has its own). */
static size_t memory_of(const rf_interp *ip, size_t idbytes, size_t ndefvals)
{
    size_t ni = ip->ninst, np = ip->npat, nf = ip->nfields;
    size_t mem = sizeof(*ip) + idbytes + ni * (sizeof(char *) + 2) +
                 (np + 1 + ip->anc_off[np] + np) * sizeof(uint32_t) +
                 (2 * (ni + 1) + ip->chk_off[ni] + ip->nalways) * sizeof(uint32_t) +
                 ip->def_off[ni] * sizeof(interp_def) + ndefvals * sizeof(int64_t) +
                 nf * sizeof(interp_field) + np * sizeof(*ip->glob);
    for (uint32_t p = 0; p < np; p++)
        if (ip->glob[p])
            mem += sizeof(*ip->glob[p]) + ip->glob[p]->len;
    for (uint32_t f = 0; f < nf; f++) {
        const interp_field *fl = &ip->fields[f];
        for (int d = 0; d < 2; d++) {
            size_t dbsize = 0;
            if (fl->db[d] && hs_database_size(fl->db[d], &dbsize) == HS_SUCCESS)
                mem += dbsize;
            mem += fl->nids[d] * sizeof(interp_hsid);
        }
        mem += fl->nany * sizeof(uint32_t) +
               rfinterp_stab_memory(&fl->eq) + rfinterp_stab_memory(&fl->eq_nc) +
               rfinterp_itab_memory(&fl->ieq) +
               (size_t)fl->ranges.n * sizeof(rfinterp_range) +
               ((size_t)fl->ranges.n / RFINTERP_RANGE_BLOCK + 1) * sizeof(int64_t);
    }
    size_t scrsize = 0;
    if (ip->proto && hs_scratch_size(ip->proto, &scrsize) == HS_SUCCESS)
        mem += scrsize;
    return mem + sizeof(rf_interp_scratch) + 2 * np * sizeof(uint32_t) +
           ni * 2 * sizeof(uint32_t) + nf * W_COUNT * sizeof(uint32_t);
}

rf_rc rf_interp_build(const rf_channel *ch, const rf_sensor_manifest *m, rf_interp **out,
                      rf_err *err)
{
    if (!ch || !m || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_interp_build: NULL argument");
    const char *src = ch->source;
    if (!ch->template_type)
        return rf_err_set(err, RF_E_SCHEMA, src, 0, 0, "channel has no template type");
    const rf_sensor_support *sup = rf_sensor_find_support(m, ch->template_type, ch->template_version);
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
    build b;
    memset(&b, 0, sizeof(b));
    b.ch = ch;
    uint32_t nf = 0, ncrit = 0, npat = 0, maxfield = 0;
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
            if (c->field > maxfield)
                maxfield = c->field;
            real++;
        }
        if (ncrit > UINT32_MAX - 1 - real)
            return rf_err_set(err, RF_E_LIMIT, src, 0, 0, "too many criteria");
        ncrit += real;
    }
    if (npat > RF_MAX_PATTERNS)
        return rf_err_set(err, RF_E_LIMIT, src, 0, 0,
                          "channel has %u patterns, more than the limit of %u", npat,
                          (unsigned)RF_MAX_PATTERNS);

    ip = calloc(1, sizeof(*ip));
    if (!ip)
        goto nomem;
    ip->ninst = ch->ninstances;
    ip->inputs_supplied = sup->inputs;
    b.ncrit = ncrit;
    size_t ni = ip->ninst ? ip->ninst : 1, nc = ncrit ? ncrit : 1;
    ip->ids = calloc(ni, sizeof(*ip->ids));
    ip->idbuf = malloc(idbytes ? idbytes : 1);
    ip->action = calloc(ni, 1);
    ip->severity = calloc(ni, 1);
    b.crit_src = calloc(nc, sizeof(*b.crit_src));
    b.crit_inst = calloc(nc, sizeof(*b.crit_inst));
    b.crit_pat = calloc(nc, sizeof(*b.crit_pat));
    b.inst_coff = calloc(ni + 1, sizeof(*b.inst_coff));
    b.anchor = calloc(ni, sizeof(*b.anchor));
    b.fmap = calloc((size_t)maxfield + 1, sizeof(*b.fmap));
    if (!ip->ids || !ip->idbuf || !ip->action || !ip->severity || !b.crit_src ||
        !b.crit_inst || !b.crit_pat || !b.inst_coff || !b.anchor || !b.fmap)
        goto nomem;

    /* Fields in use get slots, in ascending input index. */
    for (uint32_t i = 0; i < ch->ninstances; i++)
        for (uint32_t k = 0; k < ch->instances[i].ncrits; k++) {
            const rf_crit *c = &ch->instances[i].crits[k];
            if (c->kind != RF_CRIT_ANY)
                b.fmap[c->field] = 1;
        }
    for (uint32_t f = 0; f <= maxfield; f++)
        if (b.fmap[f])
            b.fmap[f] = ++nf;
    ip->fields = calloc(nf ? nf : 1, sizeof(*ip->fields));
    if (!ip->fields)
        goto nomem;
    ip->nfields = nf;
    for (uint32_t f = 0; f <= maxfield; f++)
        if (b.fmap[f])
            ip->fields[b.fmap[f] - 1].index = f;

    /* Pass 2: copy the instances' facts, number the criteria. */
    uint32_t g = 0;
    size_t idoff = 0;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        size_t idlen = strlen(in->id);
        memcpy(ip->idbuf + idoff, in->id, idlen + 1);
        ip->ids[i] = ip->idbuf + idoff;
        idoff += idlen + 1;
        ip->action[i] = (uint8_t)in->action;
        ip->severity[i] = (uint8_t)in->severity;
        b.inst_coff[i] = g;
        for (uint32_t k = 0; k < in->ncrits; k++) {
            const rf_crit *c = &in->crits[k];
            if (c->kind == RF_CRIT_ANY)
                continue;
            if (c->field + 1u > ip->inputs_required)
                ip->inputs_required = c->field + 1u;
            b.crit_src[g] = c;
            b.crit_inst[g] = i;
            g++;
        }
    }
    b.inst_coff[ch->ninstances] = g;

    if ((rc = dedupe_patterns(&b, err)) != RF_OK)
        goto fail_rc;
    if (count_values(&b) != RF_OK)
        goto nomem;
    ip->npat = b.npat;
    ip->pat_where = malloc(((size_t)b.npat + 1) * sizeof(*ip->pat_where));
    ip->glob = calloc((size_t)b.npat + 1, sizeof(*ip->glob));
    if (!ip->pat_where || !ip->glob)
        goto nomem;
    for (uint32_t p = 0; p < b.npat; p++) {
        const rf_crit *c = b.crit_src[b.pat_rep[p]];
        const char *lit;
        uint32_t litlen;
        ip->pat_where[p] = (b.fmap[c->field] - 1) << 2 |
                           (str_classify(c, &lit, &litlen) == SC_EXACT ? W_EXACT : W_ANCHOR_DB);
    }
    if (build_exact(&b, ip) != RF_OK)
        goto nomem;
    size_t ndefvals = 0;
    if (lay_out(&b, ip, &ndefvals) != RF_OK) /* reuses b.pat_share: last to read it */
        goto nomem;
    if ((rc = build_databases(&b, ip, err)) != RF_OK)
        goto fail;
    ip->mem = memory_of(ip, idbytes, ndefvals);

    build_free(&b);
    *out = ip;
    return RF_OK;

fail_rc:
    if (rc != RF_E_NOMEM)
        goto fail;
nomem:
    rc = rf_err_set(err, RF_E_NOMEM, src, 0, 0, "out of memory building the interpreter");
fail:
    build_free(&b);
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
    size_t ni = ip->ninst ? ip->ninst : 1, nf = ip->nfields ? ip->nfields : 1;
    s->pat_epoch = calloc(ip->npat ? ip->npat : 1, sizeof(*s->pat_epoch));
    s->ver_epoch = calloc(ip->npat ? ip->npat : 1, sizeof(*s->ver_epoch));
    s->inst_epoch = calloc(ni, sizeof(*s->inst_epoch));
    s->cand = calloc(ni, sizeof(*s->cand));
    s->done = calloc(nf * W_COUNT, sizeof(*s->done));
    if (!s->pat_epoch || !s->ver_epoch || !s->inst_epoch || !s->cand || !s->done)
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
    free(s->pat_epoch);
    free(s->ver_epoch);
    free(s->inst_epoch);
    free(s->cand);
    free(s->done);
    free(s);
}

void rfinterp_scratch_set_epoch(rf_interp_scratch *s, uint32_t epoch)
{
    s->epoch = epoch;
}

/* ---- evaluation ---- */

/* Instance i's anchor held: it becomes a candidate (once per event). */
static inline void push(rf_interp_scratch *s, uint32_t i)
{
    if (s->inst_epoch[i] == s->epoch)
        return;
    s->inst_epoch[i] = s->epoch;
    s->cand[s->ncand++] = i;
}

static inline void push_all(rf_interp_scratch *s, const uint32_t *ids, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        push(s, ids[k]);
}

/* Pattern p holds for this event (the caller checked it was not marked). */
static inline void mark(rf_interp_scratch *s, uint32_t p)
{
    const rf_interp *ip = s->ip;
    s->pat_epoch[p] = s->epoch;
    push_all(s, ip->anc + ip->anc_off[p], ip->anc_off[p + 1] - ip->anc_off[p]);
}

typedef struct scan_ctx {
    rf_interp_scratch *s;
    const interp_hsid *ids;
    const char *str;        /* the input */
    unsigned long long len; /* of the input */
} scan_ctx;

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    (void)from;
    (void)flags;
    const scan_ctx *c = ctx;
    const interp_hsid *h = &c->ids[id];
    rf_interp_scratch *s = c->s;
    /* Repeats (every occurrence of a literal is reported) stop here. */
    if (s->pat_epoch[h->pat] == s->epoch)
        return 0;
    if (h->end == END_VERIFY) {
        /* A glob's literal: decide once per event, on the whole input. */
        if (s->ver_epoch[h->pat] == s->epoch)
            return 0;
        s->ver_epoch[h->pat] = s->epoch;
        const interp_glob *g = s->ip->glob[h->pat];
        if (!rfinterp_glob_match(g->s, g->len, c->str, (uint32_t)c->len, g->nocase))
            return 0;
    } else if (h->end != END_ANY && to != (h->end == END_INPUT ? c->len : h->end)) {
        return 0; /* a prefix or suffix literal found elsewhere in the input */
    }
    mark(s, h->pat);
    return 0;
}

/* A string input that is well formed (a NULL pointer with a length is
 * treated as absent: no string criterion holds on it). */
static inline int str_input(const rf_input *in)
{
    return in->type == RF_VAL_STRING && (in->s || !in->len);
}

/* Run one of field slot f's databases (W_ANCHOR_DB or W_CONFIRM_DB) over
 * its input, once per event. */
static rf_rc scan_db(rf_interp_scratch *s, uint32_t f, int which)
{
    const interp_field *fl = &s->ip->fields[f];
    const rf_input *in = &s->inputs[fl->index]; /* index < inputs_required <= ninputs */
    s->done[f << 2 | (uint32_t)which] = s->epoch;
    if (!fl->db[which] || !str_input(in))
        return RF_OK;
    scan_ctx ctx = {s, fl->ids[which], in->s ? in->s : "", in->len};
    if (hs_scan(fl->db[which], in->s ? in->s : "", in->len, 0, s->hs, on_match, &ctx) !=
        HS_SUCCESS)
        return RF_E_INTERNAL;
    return RF_OK;
}

static inline void mark_all(rf_interp_scratch *s, const uint32_t *pats, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (s->pat_epoch[pats[k]] != s->epoch)
            mark(s, pats[k]);
}

/* ASCII lower-case n bytes into dst, 8 at a time (SWAR): with a nocase exact
 * table on a field this runs on every event, over values such as long pipe
 * names, and byte by byte it cost more than the hash lookup after it. A byte
 * is upper-case when, with bit 7 clear, adding 0x3f sets bit 7 (>= 'A') and
 * adding 0x25 does not (<= 'Z'); no sum carries into the next byte. */
static void lower_ascii(char *dst, const char *src, uint32_t n)
{
    uint32_t k = 0;
    for (; k + 8 <= n; k += 8) {
        uint64_t v, h;
        memcpy(&v, src + k, 8);
        h = v & 0x7f7f7f7f7f7f7f7full;
        v |= ((h + 0x3f3f3f3f3f3f3f3full) & ~(h + 0x2525252525252525ull) & ~v &
              0x8080808080808080ull) >> 2;
        memcpy(dst + k, &v, 8);
    }
    for (; k < n; k++)
        dst[k] = (src[k] >= 'A' && src[k] <= 'Z') ? (char)(src[k] + ('a' - 'A')) : src[k];
}

/* Look field slot f's input up in its exact-value tables, once per event. */
static void look_up_exact(rf_interp_scratch *s, uint32_t f)
{
    const interp_field *fl = &s->ip->fields[f];
    const rf_input *in = &s->inputs[fl->index];
    s->done[f << 2 | W_EXACT] = s->epoch;
    if (!str_input(in))
        return;
    const char *sv = in->s ? in->s : "";
    uint32_t n;
    const uint32_t *pats;
    if ((pats = rfinterp_stab_find(&fl->eq, sv, in->len, &n)) != NULL)
        mark_all(s, pats, n);
    if (fl->eq_nc.nkeys && in->len >= fl->eq_nc.minlen && in->len <= fl->eq_nc.maxlen) {
        lower_ascii(s->lower, sv, in->len); /* len <= maxlen <= RF_MAX_STRING */
        if ((pats = rfinterp_stab_find(&fl->eq_nc, s->lower, in->len, &n)) != NULL)
            mark_all(s, pats, n);
    }
}

/*
 * 1 if candidate i's criteria other than its anchor hold, 0 if not, -1 on a
 * Vectorscan error. Cheap checks first: the direct int / any-string checks,
 * then patterns already decided this event; only then fields nobody has
 * scanned yet (scanning one marks all its patterns, for later candidates too).
 */
static int confirm(rf_interp_scratch *s, uint32_t i)
{
    const rf_interp *ip = s->ip;
    if (ip->def_off[i] != ip->def_off[i + 1] && !defs_hold(ip, i, s->inputs))
        return 0;
    uint32_t lazy = 0;
    for (uint32_t k = ip->chk_off[i]; k < ip->chk_off[i + 1]; k++) {
        uint32_t p = ip->chk[k];
        if (s->pat_epoch[p] == s->epoch)
            continue;
        if (s->done[ip->pat_where[p]] == s->epoch)
            return 0; /* its part of the field was looked at: p does not hold */
        lazy++;
    }
    if (!lazy)
        return 1;
    for (uint32_t k = ip->chk_off[i]; k < ip->chk_off[i + 1]; k++) {
        uint32_t p = ip->chk[k];
        if (s->pat_epoch[p] == s->epoch)
            continue;
        uint32_t w = ip->pat_where[p];
        if (s->done[w] != s->epoch) {
            if ((w & 3) == W_EXACT)
                look_up_exact(s, w >> 2);
            else if (scan_db(s, w >> 2, (int)(w & 3)) != RF_OK)
                return -1;
        }
        if (s->pat_epoch[p] != s->epoch)
            return 0;
    }
    return 1;
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

/* Instances anchored on a range of this field that contains v. */
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
                push(s, l->r[i].crit);
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
        memset(scr->pat_epoch, 0, (size_t)ip->npat * sizeof(*scr->pat_epoch));
        memset(scr->ver_epoch, 0, (size_t)ip->npat * sizeof(*scr->ver_epoch));
        memset(scr->inst_epoch, 0, (size_t)ip->ninst * sizeof(*scr->inst_epoch));
        memset(scr->done, 0, (size_t)ip->nfields * W_COUNT * sizeof(*scr->done));
        scr->epoch = 1;
    }
    scr->ncand = 0;
    scr->inputs = inputs;

    /* Anchors: only fields on which some instance is anchored. */
    for (uint32_t f = 0; f < ip->nfields; f++) {
        const interp_field *fl = &ip->fields[f];
        const rf_input *in = &inputs[fl->index];
        if (in->type == RF_VAL_STRING) {
            if (fl->nany && str_input(in))
                push_all(scr, fl->any, fl->nany);
            if (fl->eager_eq)
                look_up_exact(scr, f);
            if (fl->db[W_ANCHOR_DB] && scan_db(scr, f, W_ANCHOR_DB) != RF_OK)
                return RF_E_INTERNAL;
        } else if (in->type == RF_VAL_INT) {
            uint32_t n;
            const uint32_t *ids;
            if ((ids = rfinterp_itab_find(&fl->ieq, in->i, &n)) != NULL)
                push_all(scr, ids, n);
            if (fl->ranges.n)
                eval_ranges(scr, &fl->ranges, in->i);
        }
        /* RF_VAL_ABSENT (or anything else): no criterion on this field holds. */
    }
    push_all(scr, ip->always, ip->nalways);

    /* Confirm, compacting the matches to the front of cand. A lazy scan in
     * confirm() pushes nothing (a field is lazy only when no instance is
     * anchored on it), so ncand does not move under this loop. */
    uint32_t nm = 0;
    for (uint32_t k = 0; k < scr->ncand; k++) {
        uint32_t i = scr->cand[k];
        int r = confirm(scr, i);
        if (r < 0)
            return RF_E_INTERNAL;
        if (r)
            scr->cand[nm++] = i;
    }
    sort_u32(scr->cand, nm);
    if (cap)
        memcpy(matches, scr->cand, (size_t)(nm < cap ? nm : cap) * sizeof(*matches));
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
