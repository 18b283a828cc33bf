/*
 * compile.c — Channel source (YAML, kind: Channel) to rf_channel
 * (compile.h). The document is read through the one YAML loader; field names
 * are resolved to indices through the workspace's template type; everything
 * the source alone can show is checked here (known keys, criterion kinds
 * against field types, values, limits, unique ids) and every refusal names
 * the file, line and column of the node at fault.
 *
 * The channel is built in malloc'd memory that rf_channel_free() can release
 * at any point: arrays are zero-filled before their counts are raised, so an
 * error path simply frees the partial channel. The result depends only on
 * the bytes of the source: criteria are stored sorted by field index and
 * test inputs by field, so compiling a buffer twice gives equal channels.
 */
#include <stdlib.h>
#include <string.h>

#include "ringfence/compile.h"
#include "ringfence/util.h"
#include "yaml/yamldoc.h"

typedef struct cctx {
    const rfyaml_doc *d;
    const rf_template_type *tt;
    rf_err *err;
} cctx;

#define FOR_STRING 1u
#define FOR_INT 2u

static const struct {
    const char *name;
    rf_crit_kind kind;
    unsigned fits; /* FOR_STRING | FOR_INT */
} crit_kinds[] = {
    {"any", RF_CRIT_ANY, FOR_STRING | FOR_INT},
    {"equals", RF_CRIT_EQUALS, FOR_STRING | FOR_INT},
    {"prefix", RF_CRIT_PREFIX, FOR_STRING},
    {"suffix", RF_CRIT_SUFFIX, FOR_STRING},
    {"contains", RF_CRIT_CONTAINS, FOR_STRING},
    {"glob", RF_CRIT_GLOB, FOR_STRING},
    {"regex", RF_CRIT_REGEX, FOR_STRING},
    {"one_of", RF_CRIT_ONE_OF, FOR_STRING | FOR_INT},
    {"range", RF_CRIT_RANGE, FOR_INT},
};
#define NKINDS (sizeof(crit_kinds) / sizeof(crit_kinds[0]))

static const char crit_keys_list[] =
    "any, equals, prefix, suffix, contains, glob, regex, one_of, range, nocase";

static rf_rc nomem(const cctx *c)
{
    return rf_err_set(c->err, RF_E_NOMEM, rfyaml_file(c->d), 0, 0, "out of memory");
}

static const char *type_name(rf_field_type t)
{
    return t == RF_TYPE_INT ? "int" : "string";
}

/* "a, b, c" — the template type's field names, cut to fit a message. */
static void field_list(const rf_template_type *tt, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < tt->nfields; i++) {
        const char *sep = i ? ", " : "";
        size_t need = strlen(sep) + strlen(tt->fields[i].name);
        if (o + need + 5 >= n) {
            if (o + 5 < n)
                memcpy(buf + o, ", ...", 6);
            return;
        }
        memcpy(buf + o, sep, strlen(sep));
        o += strlen(sep);
        memcpy(buf + o, tt->fields[i].name, strlen(tt->fields[i].name) + 1);
        o += strlen(tt->fields[i].name);
    }
}

/* The field index a key names, or an error listing the valid fields. */
static rf_rc field_of(const cctx *c, const rfyaml_node *key, const char *where, int *out)
{
    int fi = rf_template_field_index(c->tt, key->str);
    if (fi >= 0) {
        *out = fi;
        return RF_OK;
    }
    char list[300], b[80];
    field_list(c->tt, list, sizeof(list));
    return rfyaml_error(c->d, key, c->err, RF_E_SCHEMA,
                        "unknown field '%s' in %s; template type '%s' version %u has "
                        "fields: %s",
                        rfyaml_show(key->str, b, sizeof(b)), where, c->tt->name,
                        (unsigned)c->tt->version, list);
}

static int ascii_lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

static int ascii_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = ascii_lower((unsigned char)*a), y = ascii_lower((unsigned char)*b);
        if (x != y || !x)
            return x - y;
    }
}

typedef struct valref {
    const char *s;
    int64_t i;
    uint32_t idx;
    int nocase;
} valref;

static int valref_str_cmp(const void *a, const void *b)
{
    const valref *x = a, *y = b;
    int r = x->nocase ? ascii_casecmp(x->s, y->s) : strcmp(x->s, y->s);
    if (r)
        return r;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int valref_int_cmp(const void *a, const void *b)
{
    const valref *x = a, *y = b;
    if (x->i != y->i)
        return x->i < y->i ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * Find duplicates among n values (sorting keeps this O(n log n) for long
 * one_of lists). Sets *first and *second to the pair whose second occurrence
 * comes earliest; returns 0 when all values differ, -1 out of memory.
 */
static int find_dup(const rf_value *v, uint32_t n, int nocase, uint32_t *first,
                    uint32_t *second)
{
    if (n < 2)
        return 0;
    valref *r = malloc((size_t)n * sizeof(*r));
    if (!r)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        r[i].s = v[i].s;
        r[i].i = v[i].i;
        r[i].idx = i;
        r[i].nocase = nocase;
    }
    int is_str = v[0].type == RF_VAL_STRING;
    qsort(r, n, sizeof(*r), is_str ? valref_str_cmp : valref_int_cmp);
    uint32_t best = UINT32_MAX, bfirst = 0;
    for (uint32_t i = 1; i < n; i++) {
        int same = is_str ? (nocase ? !ascii_casecmp(r[i - 1].s, r[i].s)
                                    : !strcmp(r[i - 1].s, r[i].s))
                          : r[i - 1].i == r[i].i;
        if (same && r[i].idx < best) {
            best = r[i].idx;
            bfirst = r[i - 1].idx;
        }
    }
    free(r);
    if (best == UINT32_MAX)
        return 0;
    *first = bfirst;
    *second = best;
    return 1;
}

/* A string operand: a YAML string, at most `max` bytes, no NUL. */
static rf_rc get_string(const cctx *c, const rfyaml_node *n, const char *what, size_t max,
                        rf_value *out)
{
    const char *s;
    size_t len;
    rf_rc rc = rfyaml_str(c->d, n, what, &s, &len, c->err);
    if (rc)
        return rc;
    if (len > max)
        return rfyaml_error(c->d, n, c->err, RF_E_LIMIT,
                            "%s is %zu bytes long; the limit is %zu bytes", what, len, max);
    if (strlen(s) != len) /* the loader refuses NUL; keep the invariant local */
        return rfyaml_error(c->d, n, c->err, RF_E_SCHEMA, "%s contains a NUL character",
                            what);
    out->type = RF_VAL_STRING;
    out->s = strndup(s, len);
    if (!out->s)
        return nomem(c);
    out->len = (uint32_t)len;
    return RF_OK;
}

static rf_rc get_int(const cctx *c, const rfyaml_node *n, const char *what, rf_value *out)
{
    int64_t v;
    rf_rc rc = rfyaml_int(c->d, n, what, INT64_MIN, INT64_MAX, &v, c->err);
    if (rc)
        return rc;
    out->type = RF_VAL_INT;
    out->i = v;
    return RF_OK;
}

/* Why an empty operand is refused, per kind. */
static const char *empty_why(rf_crit_kind k)
{
    switch (k) {
    case RF_CRIT_PREFIX:
    case RF_CRIT_SUFFIX:
    case RF_CRIT_CONTAINS:
        return "an empty string would match every value; use {any: true} or leave the "
               "field out";
    case RF_CRIT_REGEX:
        return "an empty regex matches every value; use {any: true} or leave the field out";
    case RF_CRIT_GLOB:
        return "an empty glob matches only the empty value; write {equals: ''} if that is "
               "what you mean";
    default:
        return "";
    }
}

static rf_rc parse_one_of(const cctx *c, const rfyaml_node *vn, const char *fname,
                          rf_field_type ft, int nocase, rf_crit *cr)
{
    rf_rc rc = rfyaml_want_seq(c->d, vn, "the value of 'one_of'", c->err);
    if (rc)
        return rc;
    if (vn->n == 0)
        return rfyaml_error(c->d, vn, c->err, RF_E_SCHEMA,
                            "'one_of' for field '%s' is empty; it needs at least one value",
                            fname);
    if (vn->n > RF_MAX_ONE_OF)
        return rfyaml_error(c->d, vn, c->err, RF_E_LIMIT,
                            "'one_of' for field '%s' has %u values; the limit is %d", fname,
                            vn->n, RF_MAX_ONE_OF);
    cr->vals = calloc(vn->n, sizeof(*cr->vals));
    if (!cr->vals)
        return nomem(c);
    char what[RF_NAME_MAX + 40];
    snprintf(what, sizeof(what), "a 'one_of' value for field '%s'", fname);
    for (uint32_t i = 0; i < vn->n; i++) {
        cr->nvals = i + 1;
        rc = ft == RF_TYPE_STRING ? get_string(c, vn->items[i], what, RF_MAX_STRING,
                                               &cr->vals[i])
                                  : get_int(c, vn->items[i], what, &cr->vals[i]);
        if (rc)
            return rc;
    }
    uint32_t a, b;
    int dup = find_dup(cr->vals, cr->nvals, nocase, &a, &b);
    if (dup < 0)
        return nomem(c);
    if (dup) {
        char s[80];
        const rfyaml_node *second = vn->items[b];
        return rfyaml_error(c->d, second, c->err, RF_E_SCHEMA,
                            "duplicate value '%s' in 'one_of' for field '%s'%s (first at "
                            "line %u)",
                            rfyaml_show(second->str, s, sizeof(s)), fname,
                            nocase ? " (nocase)" : "", vn->items[a]->line);
    }
    return RF_OK;
}

static rf_rc parse_range(const cctx *c, const rfyaml_node *vn, const char *fname,
                         rf_crit *cr)
{
    if (vn->kind != RFYAML_SEQ || vn->n != 2)
        return rfyaml_error(c->d, vn, c->err, RF_E_SCHEMA,
                            "'range' for field '%s' must be a list of two integers [LO, HI]",
                            fname);
    cr->vals = calloc(2, sizeof(*cr->vals));
    if (!cr->vals)
        return nomem(c);
    cr->nvals = 2;
    rf_rc rc = get_int(c, vn->items[0], "the low end of 'range'", &cr->vals[0]);
    if (!rc)
        rc = get_int(c, vn->items[1], "the high end of 'range'", &cr->vals[1]);
    if (rc)
        return rc;
    if (cr->vals[0].i > cr->vals[1].i)
        return rfyaml_error(c->d, vn, c->err, RF_E_SCHEMA,
                            "'range' for field '%s' is empty: low end %lld is above high "
                            "end %lld",
                            fname, (long long)cr->vals[0].i, (long long)cr->vals[1].i);
    return RF_OK;
}

/*
 * Parse the criterion `vn` for the field named by `key` (index fi). An
 * explicit wildcard sets *stored = 0 and leaves cr untouched; otherwise cr
 * (zeroed by the caller, already counted in the instance) is filled in.
 */
static rf_rc parse_crit(const cctx *c, const rfyaml_node *key, const rfyaml_node *vn,
                        int fi, rf_crit *cr, int *stored)
{
    const rf_field *f = &c->tt->fields[fi];
    const char *fname = f->name;
    *stored = 0;
    if (vn->kind != RFYAML_MAP)
        return rfyaml_error(c->d, vn, c->err, RF_E_SCHEMA,
                            "the criterion for field '%s' must be a mapping such as "
                            "{equals: ...}; found %s",
                            fname, rfyaml_describe(vn));
    const rfyaml_node *kind_key = NULL, *kind_val = NULL, *nocase_key = NULL,
                      *nocase_val = NULL;
    size_t kidx = 0;
    for (uint32_t i = 0; i < vn->n; i++) {
        const rfyaml_node *k = vn->pairs[i].key;
        if (!strcmp(k->str, "nocase")) {
            nocase_key = k;
            nocase_val = vn->pairs[i].val;
            continue;
        }
        size_t j = 0;
        while (j < NKINDS && strcmp(k->str, crit_kinds[j].name))
            j++;
        char b[80];
        if (j == NKINDS)
            return rfyaml_error(c->d, k, c->err, RF_E_SCHEMA,
                                "unknown key '%s' in the criterion for field '%s'; "
                                "expected one of: %s",
                                rfyaml_show(k->str, b, sizeof(b)), fname, crit_keys_list);
        if (kind_key)
            return rfyaml_error(c->d, k, c->err, RF_E_SCHEMA,
                                "the criterion for field '%s' has two kinds, '%s' and "
                                "'%s'; a field takes exactly one",
                                fname, kind_key->str, k->str);
        kind_key = k;
        kind_val = vn->pairs[i].val;
        kidx = j;
    }
    if (!kind_key)
        return rfyaml_error(c->d, vn, c->err, RF_E_SCHEMA,
                            "the criterion for field '%s' has no kind; expected one of: "
                            "any, equals, prefix, suffix, contains, glob, regex, one_of, "
                            "range",
                            fname);
    rf_crit_kind kind = crit_kinds[kidx].kind;
    const char *kname = crit_kinds[kidx].name;
    int nocase = 0;
    rf_rc rc;
    if (nocase_val) {
        rc = rfyaml_bool(c->d, nocase_val, "'nocase'", &nocase, c->err);
        if (rc)
            return rc;
    }
    if (kind == RF_CRIT_ANY) {
        int any;
        rc = rfyaml_bool(c->d, kind_val, "'any'", &any, c->err);
        if (rc)
            return rc;
        if (!any)
            return rfyaml_error(c->d, kind_val, c->err, RF_E_SCHEMA,
                                "'any: false' for field '%s' means nothing; write "
                                "{any: true} or leave the field out",
                                fname);
        if (nocase_key)
            return rfyaml_error(c->d, nocase_key, c->err, RF_E_SCHEMA,
                                "'nocase' has no meaning with 'any' (field '%s')", fname);
        return RF_OK; /* an explicit wildcard is not stored */
    }
    unsigned need = f->type == RF_TYPE_STRING ? FOR_STRING : FOR_INT;
    if (!(crit_kinds[kidx].fits & need))
        return rfyaml_error(c->d, kind_key, c->err, RF_E_SCHEMA,
                            "field '%s' is %s; criterion '%s' needs %s field", fname,
                            type_name(f->type), kname,
                            f->type == RF_TYPE_STRING ? "an int" : "a string");
    if (nocase_key && f->type != RF_TYPE_STRING)
        return rfyaml_error(c->d, nocase_key, c->err, RF_E_SCHEMA,
                            "'nocase' applies to string criteria only; field '%s' is int",
                            fname);

    *stored = 1;
    cr->field = (uint16_t)fi;
    cr->field_name = strdup(fname);
    if (!cr->field_name)
        return nomem(c);
    cr->kind = kind;
    cr->vtype = f->type == RF_TYPE_STRING ? RF_VAL_STRING : RF_VAL_INT;
    cr->flags = nocase ? RF_CRIT_NOCASE : 0;
    cr->line = key->line;

    if (kind == RF_CRIT_ONE_OF)
        return parse_one_of(c, kind_val, fname, f->type, nocase, cr);
    if (kind == RF_CRIT_RANGE)
        return parse_range(c, kind_val, fname, cr);

    cr->vals = calloc(1, sizeof(*cr->vals));
    if (!cr->vals)
        return nomem(c);
    cr->nvals = 1;
    char what[RF_NAME_MAX + 40];
    snprintf(what, sizeof(what), "the value of '%s' for field '%s'", kname, fname);
    if (f->type == RF_TYPE_INT)
        return get_int(c, kind_val, what, &cr->vals[0]);
    rc = get_string(c, kind_val, what,
                    kind == RF_CRIT_REGEX ? RF_MAX_REGEX : RF_MAX_STRING, &cr->vals[0]);
    if (rc)
        return rc;
    if (cr->vals[0].len == 0 && kind != RF_CRIT_EQUALS)
        return rfyaml_error(c->d, kind_val, c->err, RF_E_SCHEMA,
                            "empty '%s' for field '%s': %s", kname, fname, empty_why(kind));
    return RF_OK;
}

static int crit_cmp(const void *a, const void *b)
{
    const rf_crit *x = a, *y = b;
    return (int)x->field - (int)y->field;
}

static int input_cmp(const void *a, const void *b)
{
    const rf_test_input *x = a, *y = b;
    return (int)x->field - (int)y->field;
}

static rf_rc parse_match(const cctx *c, const rfyaml_node *mn, rf_instance *in)
{
    if (!mn || rfyaml_is_null(mn))
        return RF_OK; /* no criteria: the instance matches every event */
    rf_rc rc = rfyaml_want_map(c->d, mn, "'match'", c->err);
    if (rc)
        return rc;
    if (mn->n == 0)
        return RF_OK;
    in->crits = calloc(mn->n, sizeof(*in->crits));
    if (!in->crits)
        return nomem(c);
    for (uint32_t i = 0; i < mn->n; i++) {
        const rfyaml_node *k = mn->pairs[i].key;
        int fi = 0, stored = 0;
        rc = field_of(c, k, "'match'", &fi);
        if (rc)
            return rc;
        in->ncrits++; /* count the zeroed slot first so an error frees it */
        rc = parse_crit(c, k, mn->pairs[i].val, fi, &in->crits[in->ncrits - 1], &stored);
        if (rc)
            return rc;
        if (!stored)
            in->ncrits--;
    }
    if (in->ncrits == 0) {
        free(in->crits);
        in->crits = NULL;
        return RF_OK;
    }
    /* Keys are unique, so each field appears at most once: the order is total. */
    qsort(in->crits, in->ncrits, sizeof(*in->crits), crit_cmp);
    return RF_OK;
}

static rf_rc parse_test(const cctx *c, const rfyaml_node *tn, rf_test *t)
{
    static const char *const keys[] = {"event", "expect"};
    const char *ctx = "a test";
    const rfyaml_node *en = NULL, *xn = NULL;
    const char *expect = NULL;
    rf_rc rc = rfyaml_want_map(c->d, tn, "each entry of 'tests'", c->err);
    if (!rc)
        rc = rfyaml_only_keys(c->d, tn, ctx, keys, 2, c->err);
    if (!rc)
        rc = rfyaml_require(c->d, tn, "event", ctx, &en, c->err);
    if (!rc)
        rc = rfyaml_require(c->d, tn, "expect", ctx, &xn, c->err);
    if (!rc)
        rc = rfyaml_str(c->d, xn, "'expect'", &expect, NULL, c->err);
    if (!rc)
        rc = rfyaml_want_map(c->d, en, "'event'", c->err);
    if (rc)
        return rc;
    t->line = tn->line;
    if (!strcmp(expect, "match")) {
        t->expect_match = 1;
    } else if (!strcmp(expect, "no_match")) {
        t->expect_match = 0;
    } else {
        char b[80];
        return rfyaml_error(c->d, xn, c->err, RF_E_SCHEMA,
                            "'expect' must be 'match' or 'no_match'; found '%s'",
                            rfyaml_show(expect, b, sizeof(b)));
    }
    if (en->n == 0)
        return RF_OK;
    t->inputs = calloc(en->n, sizeof(*t->inputs));
    if (!t->inputs)
        return nomem(c);
    for (uint32_t i = 0; i < en->n; i++) {
        const rfyaml_node *k = en->pairs[i].key, *v = en->pairs[i].val;
        int fi = 0;
        rc = field_of(c, k, "a test event", &fi);
        if (rc)
            return rc;
        if (rfyaml_is_null(v))
            continue; /* null: the input is absent */
        const rf_field *f = &c->tt->fields[fi];
        rf_test_input *ti = &t->inputs[t->ninputs++];
        ti->field = (uint16_t)fi;
        char what[RF_NAME_MAX + 40];
        snprintf(what, sizeof(what), "test event value for %s field '%s'",
                 type_name(f->type), f->name);
        rc = f->type == RF_TYPE_STRING ? get_string(c, v, what, RF_MAX_STRING, &ti->v)
                                       : get_int(c, v, what, &ti->v);
        if (rc)
            return rc;
    }
    if (t->ninputs > 1)
        qsort(t->inputs, t->ninputs, sizeof(*t->inputs), input_cmp);
    return RF_OK;
}

static int id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == ':' || ch == '-'))
            return 0;
        if (n >= RF_ID_MAX)
            return 0;
    }
    return n >= 1;
}

/* A string that must be one of names[0..n); *idx its position. */
static rf_rc get_enum(const cctx *c, const rfyaml_node *n, const char *what,
                      const char *const *names, size_t count, const char *expected,
                      size_t *idx)
{
    const char *s;
    rf_rc rc = rfyaml_str(c->d, n, what, &s, NULL, c->err);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++) {
        if (!strcmp(s, names[i])) {
            *idx = i;
            return RF_OK;
        }
    }
    char b[80];
    return rfyaml_error(c->d, n, c->err, RF_E_SCHEMA, "%s must be %s; found '%s'", what,
                        expected, rfyaml_show(s, b, sizeof(b)));
}

static rf_rc parse_instance(const cctx *c, const rfyaml_node *item, rf_instance *in)
{
    static const char *const keys[] = {"id", "action", "severity", "match", "tests"};
    static const char *const actions[] = {"detect", "block"};
    static const char *const sevs[] = {"info", "low", "medium", "high", "critical"};
    const char *ctx = "an instance";
    const rfyaml_node *idn = NULL, *an = NULL, *sn = NULL;
    const char *id = NULL;
    size_t ai = 0, si = 0;
    rf_rc rc = rfyaml_want_map(c->d, item, "each entry of 'instances'", c->err);
    if (!rc)
        rc = rfyaml_only_keys(c->d, item, ctx, keys, 5, c->err);
    if (!rc)
        rc = rfyaml_require(c->d, item, "id", ctx, &idn, c->err);
    if (!rc)
        rc = rfyaml_require(c->d, item, "action", ctx, &an, c->err);
    if (!rc)
        rc = rfyaml_require(c->d, item, "severity", ctx, &sn, c->err);
    if (!rc)
        rc = rfyaml_str(c->d, idn, "'id'", &id, NULL, c->err);
    if (rc)
        return rc;
    if (!id_valid(id)) {
        char b[80];
        return rfyaml_error(c->d, idn, c->err, RF_E_SCHEMA,
                            "instance id '%s' is not valid: use 1 to %d characters from "
                            "A-Z, a-z, 0-9 and _ . : -",
                            rfyaml_show(id, b, sizeof(b)), RF_ID_MAX);
    }
    rc = get_enum(c, an, "'action'", actions, 2, "'detect' or 'block'", &ai);
    if (!rc)
        rc = get_enum(c, sn, "'severity'", sevs, 5,
                      "one of info, low, medium, high, critical", &si);
    if (rc)
        return rc;
    in->line = item->line;
    in->action = ai == 0 ? RF_ACTION_DETECT : RF_ACTION_BLOCK;
    in->severity = (rf_severity)(RF_SEV_INFO + (int)si);
    in->id = strdup(id);
    if (!in->id)
        return nomem(c);

    rc = parse_match(c, rfyaml_get(item, "match"), in);
    if (rc)
        return rc;

    const rfyaml_node *tn = rfyaml_get(item, "tests");
    if (!tn || rfyaml_is_null(tn))
        return RF_OK;
    rc = rfyaml_want_seq(c->d, tn, "'tests'", c->err);
    if (rc)
        return rc;
    if (tn->n > RF_MAX_TESTS)
        return rfyaml_error(c->d, tn, c->err, RF_E_LIMIT,
                            "instance '%s' has %u tests; the limit is %d", in->id, tn->n,
                            RF_MAX_TESTS);
    if (tn->n == 0)
        return RF_OK;
    in->tests = calloc(tn->n, sizeof(*in->tests));
    if (!in->tests)
        return nomem(c);
    in->ntests = tn->n;
    for (uint32_t i = 0; i < tn->n; i++) {
        rc = parse_test(c, tn->items[i], &in->tests[i]);
        if (rc)
            return rc;
    }
    return RF_OK;
}

static const char *instance_id_at(const void *ctx, uint32_t i)
{
    return ((const rf_channel *)ctx)->instances[i].id;
}

/* Ids are unique in a channel; sorting keeps this fast at 100,000 ids. */
static rf_rc check_ids(const cctx *c, const rfyaml_node *list, const rf_channel *ch)
{
    uint32_t first, best;
    if (rf_find_repeat(ch->ninstances, instance_id_at, ch, &first, &best) != RF_OK)
        return nomem(c);
    if (best == UINT32_MAX)
        return RF_OK;
    return rfyaml_error(c->d, rfyaml_get(list->items[best], "id"), c->err, RF_E_SCHEMA,
                        "duplicate instance id '%s' (first at line %u)",
                        ch->instances[best].id, ch->instances[first].line);
}

/* The template type the channel names, or an error that says what exists. */
static rf_rc find_type(const rf_workspace *ws, const cctx *c, const rfyaml_node *nn,
                       const rfyaml_node *vn, const char *name, uint32_t version,
                       const rf_template_type **out)
{
    const rf_template_type *tt = rf_workspace_find_type(ws, name, version);
    if (tt) {
        *out = tt;
        return RF_OK;
    }
    char list[200], b[80];
    size_t o = 0;
    list[0] = 0;
    for (uint32_t i = 0; i < ws->ntypes; i++) {
        if (strcmp(ws->types[i].name, name))
            continue;
        int w = snprintf(list + o, sizeof(list) - o, "%s%u", o ? ", " : "",
                         (unsigned)ws->types[i].version);
        if (w < 0 || (size_t)w >= sizeof(list) - o)
            break;
        o += (size_t)w;
    }
    if (o)
        return rfyaml_error(c->d, vn, c->err, RF_E_SCHEMA,
                            "template type '%s' has no version %u in the workspace; "
                            "versions present: %s",
                            name, (unsigned)version, list);
    return rfyaml_error(c->d, nn, c->err, RF_E_SCHEMA,
                        "template type '%s' is not in the workspace (no types/ file "
                        "defines it)",
                        rfyaml_show(name, b, sizeof(b)));
}

rf_rc rf_compile_parse(const rf_workspace *ws, const char *file, const char *buf,
                       size_t len, rf_channel **out, rf_err *err)
{
    static const char *const keys[] = {"kind", "channel", "template_type",
                                       "template_version", "content_version",
                                       "instances"};
    const char *ctx = "a Channel";
    if (!ws || !out || (!buf && len))
        return rf_err_set(err, RF_E_USAGE, file, 0, 0,
                          "rf_compile_parse: no workspace, buffer or output");
    if (len > RF_MAX_SOURCE_BYTES)
        return rf_err_set(err, RF_E_LIMIT, file, 0, 0,
                          "source is %zu bytes, larger than the limit of %u bytes", len,
                          (unsigned)RF_MAX_SOURCE_BYTES);
    rfyaml_doc *d = NULL;
    rf_rc rc = rfyaml_parse(file, buf ? buf : "", len, &d, err);
    if (rc)
        return rc;
    cctx c = {.d = d, .tt = NULL, .err = err};
    rf_channel *ch = NULL;
    const rfyaml_node *root = rfyaml_root(d);
    const rfyaml_node *kn = NULL, *chn = NULL, *tn = NULL, *tvn = NULL, *cvn = NULL;
    const rfyaml_node *in = NULL;
    const char *kind = NULL, *tname = NULL;
    int64_t chan = 0, tver = 0, cver = 0;
    if (root->kind != RFYAML_MAP) {
        rc = rfyaml_error(d, root, err, RF_E_SCHEMA,
                          "a Channel document must be a mapping at the top level; found %s",
                          rfyaml_describe(root));
        goto out_free_doc;
    }
    rc = rfyaml_require(d, root, "kind", "the document", &kn, err);
    if (!rc)
        rc = rfyaml_str(d, kn, "'kind'", &kind, NULL, err);
    if (rc)
        goto out_free_doc;
    if (strcmp(kind, "Channel")) {
        char b[80];
        rc = rfyaml_error(d, kn, err, RF_E_SCHEMA,
                          "this is a '%s' document, not a Channel (expected kind: Channel)",
                          rfyaml_show(kind, b, sizeof(b)));
        goto out_free_doc;
    }
    rc = rfyaml_only_keys(d, root, ctx, keys, sizeof(keys) / sizeof(keys[0]), err);
    if (!rc)
        rc = rfyaml_require(d, root, "channel", ctx, &chn, err);
    if (!rc)
        rc = rfyaml_require(d, root, "template_type", ctx, &tn, err);
    if (!rc)
        rc = rfyaml_require(d, root, "template_version", ctx, &tvn, err);
    if (!rc)
        rc = rfyaml_require(d, root, "content_version", ctx, &cvn, err);
    if (!rc)
        rc = rfyaml_require(d, root, "instances", ctx, &in, err);
    if (!rc)
        rc = rfyaml_int(d, chn, "'channel'", 1, UINT16_MAX, &chan, err);
    if (!rc)
        rc = rfyaml_str(d, tn, "'template_type'", &tname, NULL, err);
    if (!rc)
        rc = rfyaml_int(d, tvn, "'template_version'", 1, UINT32_MAX, &tver, err);
    if (!rc)
        rc = rfyaml_int(d, cvn, "'content_version'", 1, UINT32_MAX, &cver, err);
    if (!rc)
        rc = find_type(ws, &c, tn, tvn, tname, (uint32_t)tver, &c.tt);
    if (!rc)
        rc = rfyaml_want_seq(d, in, "'instances'", err);
    if (rc)
        goto out_free_doc;
    if (in->n > RF_MAX_INSTANCES) {
        rc = rfyaml_error(d, in, err, RF_E_LIMIT,
                          "%u instances; a channel holds at most %d", in->n,
                          RF_MAX_INSTANCES);
        goto out_free_doc;
    }

    ch = calloc(1, sizeof(*ch));
    if (!ch) {
        rc = nomem(&c);
        goto out_free_doc;
    }
    ch->channel = (uint16_t)chan;
    ch->template_version = (uint32_t)tver;
    ch->content_version = (uint32_t)cver;
    ch->template_type = strdup(c.tt->name);
    ch->source = file ? strdup(file) : NULL;
    if (!ch->template_type || (file && !ch->source)) {
        rc = nomem(&c);
        goto out_free_channel;
    }
    if (in->n) {
        ch->instances = calloc(in->n, sizeof(*ch->instances));
        if (!ch->instances) {
            rc = nomem(&c);
            goto out_free_channel;
        }
        ch->ninstances = in->n;
    }
    for (uint32_t i = 0; i < in->n; i++) {
        rc = parse_instance(&c, in->items[i], &ch->instances[i]);
        if (rc)
            goto out_free_channel;
    }
    rc = check_ids(&c, in, ch);
    if (rc)
        goto out_free_channel;
    rfyaml_free(d);
    *out = ch;
    return RF_OK;

out_free_channel:
    rf_channel_free(ch);
out_free_doc:
    rfyaml_free(d);
    return rc;
}

rf_rc rf_compile_file(const rf_workspace *ws, const char *path, rf_channel **out,
                      rf_err *err)
{
    if (!path)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_compile_file: no path");
    uint8_t *buf = NULL;
    size_t len = 0;
    /* rf_file_read refuses directories and checks the size before reading. */
    rf_rc rc = rf_file_read(path, RF_MAX_SOURCE_BYTES, &buf, &len, err);
    if (rc)
        return rc;
    rc = rf_compile_parse(ws, path, (const char *)buf, len, out, err);
    free(buf);
    return rc;
}
