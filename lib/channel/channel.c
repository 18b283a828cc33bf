/*
 * channel.c — the in-memory channel: names of enum values, freeing, the
 * inputs a channel requires, and rfchan_check(), the single list of content
 * invariants. The writer runs it before it writes a byte and the reader runs
 * it on what it decoded, so "what the writer accepts" and "what the reader
 * accepts" cannot drift apart.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel/internal.h"
#include "ringfence/util.h"

const uint32_t rfchan_rec_size[RFCHAN_NSECTIONS] = {
    RFCHAN_INST_SIZE, RFCHAN_CRIT_SIZE, RFCHAN_VAL_SIZE,
    RFCHAN_TEST_SIZE, RFCHAN_TIN_SIZE,  1,
};

const char *const rfchan_sec_name[RFCHAN_NSECTIONS] = {
    "instances", "criteria", "values", "tests", "test inputs", "strings",
};

const char *rf_crit_kind_name(rf_crit_kind k)
{
    switch (k) {
    case RF_CRIT_ANY: return "any";
    case RF_CRIT_EQUALS: return "equals";
    case RF_CRIT_PREFIX: return "prefix";
    case RF_CRIT_SUFFIX: return "suffix";
    case RF_CRIT_CONTAINS: return "contains";
    case RF_CRIT_GLOB: return "glob";
    case RF_CRIT_REGEX: return "regex";
    case RF_CRIT_ONE_OF: return "one_of";
    case RF_CRIT_RANGE: return "range";
    }
    return "?";
}

const char *rf_action_name(rf_action a)
{
    switch (a) {
    case RF_ACTION_DETECT: return "detect";
    case RF_ACTION_BLOCK: return "block";
    }
    return "?";
}

const char *rf_severity_name(rf_severity s)
{
    switch (s) {
    case RF_SEV_INFO: return "info";
    case RF_SEV_LOW: return "low";
    case RF_SEV_MEDIUM: return "medium";
    case RF_SEV_HIGH: return "high";
    case RF_SEV_CRITICAL: return "critical";
    }
    return "?";
}

uint32_t rf_channel_inputs_required(const rf_channel *ch)
{
    uint32_t need = 0;
    if (!ch || !ch->instances)
        return 0;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        if (!in->crits)
            continue;
        for (uint32_t j = 0; j < in->ncrits; j++) {
            if (in->crits[j].kind != RF_CRIT_ANY && (uint32_t)in->crits[j].field + 1 > need)
                need = (uint32_t)in->crits[j].field + 1;
        }
    }
    return need;
}

static void free_value(rf_value *v)
{
    if (v->type == RF_VAL_STRING)
        free(v->s);
}

/* Frees everything reachable from ch. Safe on partially built channels as
 * long as arrays were zero-filled (calloc) before their counts were set. */
void rf_channel_free(rf_channel *ch)
{
    if (!ch)
        return;
    for (uint32_t i = 0; ch->instances && i < ch->ninstances; i++) {
        rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; in->crits && j < in->ncrits; j++) {
            rf_crit *c = &in->crits[j];
            free(c->field_name);
            for (uint32_t k = 0; c->vals && k < c->nvals; k++)
                free_value(&c->vals[k]);
            free(c->vals);
        }
        free(in->crits);
        for (uint32_t j = 0; in->tests && j < in->ntests; j++) {
            rf_test *t = &in->tests[j];
            for (uint32_t k = 0; t->inputs && k < t->ninputs; k++)
                free_value(&t->inputs[k].v);
            free(t->inputs);
        }
        free(in->tests);
        free(in->id);
    }
    free(ch->instances);
    free(ch->template_type);
    free(ch->source);
    free(ch);
}

/* ---- the checker ---------------------------------------------------------- */

static rf_rc problem(rfchan_problem *p, rf_rc rc, int sec, uint64_t idx, uint32_t at,
                     uint32_t line, const char *fmt, ...) RF_PRINTF(7, 8);

static rf_rc problem(rfchan_problem *p, rf_rc rc, int sec, uint64_t idx, uint32_t at,
                     uint32_t line, const char *fmt, ...)
{
    p->rc = rc;
    p->sec = sec;
    p->idx = idx;
    p->at = at;
    p->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
    va_end(ap);
    return rc;
}

/* [a-z0-9_]{1,64} */
static int name_ok(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= RF_NAME_MAX || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n >= 1;
}

/* [A-Za-z0-9_.:-]{1,128} */
static int id_ok(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= RF_ID_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return 0;
    }
    return n >= 1;
}

/* A string value: present, len consistent, <= RF_MAX_STRING, no NUL, UTF-8.
 * Returns NULL or what is wrong; *limit set when it is a limit. */
static const char *str_problem(const rf_value *v, int *limit)
{
    *limit = 0;
    if (!v->s)
        return "string value has no bytes (NULL)";
    if (v->len > RF_MAX_STRING) {
        *limit = 1;
        return "string longer than RF_MAX_STRING (4096) bytes";
    }
    if (memchr(v->s, 0, v->len) || v->s[v->len] != '\0')
        return "string contains a NUL byte or its length is wrong";
    if (!rf_utf8_valid(v->s, v->len, NULL))
        return "string is not valid UTF-8";
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_strv(const void *a, const void *b)
{
    const rf_value *x = *(const rf_value *const *)a, *y = *(const rf_value *const *)b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* 1 if two values of c are equal; -1 on allocation failure. Values are
 * already known to be of type c->vtype with valid strings. */
static int has_duplicates(const rf_crit *c)
{
    uint32_t n = c->nvals;
    if (n < 2)
        return 0;
    if (n <= 8) { /* small lists: pairwise, no allocation */
        for (uint32_t a = 0; a < n; a++)
            for (uint32_t b = a + 1; b < n; b++) {
                const rf_value *x = &c->vals[a], *y = &c->vals[b];
                if (c->vtype == RF_VAL_INT ? x->i == y->i
                                           : (x->len == y->len && memcmp(x->s, y->s, x->len) == 0))
                    return 1;
            }
        return 0;
    }
    int dup = 0;
    if (c->vtype == RF_VAL_INT) {
        int64_t *v = malloc(n * sizeof(*v));
        if (!v)
            return -1;
        for (uint32_t k = 0; k < n; k++)
            v[k] = c->vals[k].i;
        qsort(v, n, sizeof(*v), cmp_i64);
        for (uint32_t k = 1; k < n && !dup; k++)
            dup = v[k] == v[k - 1];
        free(v);
    } else {
        const rf_value **v = malloc(n * sizeof(*v));
        if (!v)
            return -1;
        for (uint32_t k = 0; k < n; k++)
            v[k] = &c->vals[k];
        qsort(v, n, sizeof(*v), cmp_strv);
        for (uint32_t k = 1; k < n && !dup; k++)
            dup = cmp_strv(&v[k], &v[k - 1]) == 0;
        free(v);
    }
    return dup;
}

/* Walk state: global record counters in file order, and the channel-wide
 * field index <-> field name map. */
typedef struct walk {
    uint64_t ncrit, nval, ntest, ntin;
    const char *field_names[RF_MAX_FIELDS];
    uint16_t used[RF_MAX_FIELDS];
    uint32_t nused;
} walk;

static rf_rc check_value_common(const rf_value *v, int sec, uint64_t idx, uint32_t at,
                                uint32_t line, rfchan_problem *p)
{
    if (v->type == RF_VAL_STRING) {
        int limit;
        const char *why = str_problem(v, &limit);
        if (why)
            return problem(p, limit ? RF_E_LIMIT : RF_E_FORMAT, sec, idx, at, line, "%s", why);
    }
    return RF_OK;
}

static rf_rc check_crit(const rf_instance *in, const rf_crit *c, walk *w, rfchan_problem *p)
{
    uint64_t ci = w->ncrit;
    uint32_t ln = c->line ? c->line : in->line;
    const char *id = in->id;

    if (c->field >= RF_MAX_FIELDS)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_FIELD, ln,
                       "instance '%s': field index %u is not below %d", id, c->field, RF_MAX_FIELDS);
    if (!name_ok(c->field_name))
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_NAME, ln,
                       "instance '%s': field %u has an invalid name (want [a-z0-9_]{1,64})",
                       id, c->field);
    /* One name per index and one index per name across the whole channel: a
     * file that disagrees with itself about the template's fields is corrupt. */
    const char *prev = w->field_names[c->field];
    if (prev && strcmp(prev, c->field_name) != 0)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_NAME, ln,
                       "instance '%s': field %u is named '%s' here but '%s' elsewhere",
                       id, c->field, c->field_name, prev);
    if (!prev) {
        for (uint32_t k = 0; k < w->nused; k++)
            if (strcmp(w->field_names[w->used[k]], c->field_name) == 0)
                return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_NAME, ln,
                               "instance '%s': field name '%s' is used for index %u and %u",
                               id, c->field_name, w->used[k], c->field);
        w->field_names[c->field] = c->field_name;
        w->used[w->nused++] = c->field;
    }
    if (c->kind < RF_CRIT_EQUALS || c->kind > RF_CRIT_KIND_MAX)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_KIND, ln,
                       "instance '%s' field '%s': criterion kind %d is not 1..%d (wildcards are "
                       "not stored)", id, c->field_name, (int)c->kind, RF_CRIT_KIND_MAX);
    if (c->vtype != RF_VAL_STRING && c->vtype != RF_VAL_INT)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VTYPE, ln,
                       "instance '%s' field '%s': value type %d is not 1 (string) or 2 (int)",
                       id, c->field_name, (int)c->vtype);
    if (c->flags & ~RF_CRIT_FLAGS_ALL)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_FLAGS, ln,
                       "instance '%s' field '%s': unknown flags 0x%02x", id, c->field_name,
                       (unsigned)c->flags);
    if ((c->flags & RF_CRIT_NOCASE) && c->vtype != RF_VAL_STRING)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_FLAGS, ln,
                       "instance '%s' field '%s': nocase on an int criterion", id, c->field_name);

    const char *kn = rf_crit_kind_name(c->kind);
    int is_pattern = c->kind >= RF_CRIT_PREFIX && c->kind <= RF_CRIT_REGEX;
    if (is_pattern || c->kind == RF_CRIT_EQUALS) {
        if (is_pattern && c->vtype != RF_VAL_STRING)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VTYPE, ln,
                           "instance '%s' field '%s': %s needs a string value", id,
                           c->field_name, kn);
        if (c->nvals != 1)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VAL_COUNT, ln,
                           "instance '%s' field '%s': %s needs exactly 1 value, has %u", id,
                           c->field_name, kn, c->nvals);
    } else if (c->kind == RF_CRIT_ONE_OF) {
        if (c->nvals < 1)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VAL_COUNT, ln,
                           "instance '%s' field '%s': one_of needs at least 1 value", id,
                           c->field_name);
        if (c->nvals > RF_MAX_ONE_OF)
            return problem(p, RF_E_LIMIT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VAL_COUNT, ln,
                           "instance '%s' field '%s': one_of has %u values, limit %d", id,
                           c->field_name, c->nvals, RF_MAX_ONE_OF);
    } else { /* range */
        if (c->vtype != RF_VAL_INT)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VTYPE, ln,
                           "instance '%s' field '%s': range needs int values", id, c->field_name);
        if (c->nvals != 2)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VAL_COUNT, ln,
                           "instance '%s' field '%s': range needs exactly 2 values, has %u", id,
                           c->field_name, c->nvals);
    }
    if (!c->vals)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VAL_FIRST, ln,
                       "instance '%s' field '%s': values missing (NULL)", id, c->field_name);
    for (uint32_t k = 0; k < c->nvals; k++) {
        const rf_value *v = &c->vals[k];
        uint64_t vi = w->nval + k;
        if (v->type != c->vtype)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_VALUES, vi, RFCHAN_VAL_TYPE, ln,
                           "instance '%s' field '%s': value %u has type %d, criterion has %d",
                           id, c->field_name, k, (int)v->type, (int)c->vtype);
        rf_rc rc = check_value_common(v, RFCHAN_SEC_VALUES, vi, RFCHAN_VAL_PAYLOAD, ln, p);
        if (rc != RF_OK)
            return rc;
        if (is_pattern && v->len == 0)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_VALUES, vi, RFCHAN_VAL_PAYLOAD, ln,
                           "instance '%s' field '%s': empty %s pattern", id, c->field_name, kn);
    }
    if (c->kind == RF_CRIT_RANGE && c->vals[0].i > c->vals[1].i)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_VALUES, w->nval, RFCHAN_VAL_PAYLOAD, ln,
                       "instance '%s' field '%s': range [%lld, %lld] has lo > hi", id,
                       c->field_name, (long long)c->vals[0].i, (long long)c->vals[1].i);
    if (c->kind == RF_CRIT_ONE_OF) {
        int dup = has_duplicates(c);
        if (dup < 0)
            return RF_E_NOMEM;
        if (dup)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, ci, RFCHAN_CRIT_VAL_FIRST, ln,
                           "instance '%s' field '%s': one_of lists a value twice", id,
                           c->field_name);
    }
    w->ncrit++;
    w->nval += c->nvals;
    return RF_OK;
}

static rf_rc check_test(const rf_instance *in, const rf_test *t, uint32_t tj, walk *w,
                        rfchan_problem *p)
{
    uint64_t ti = w->ntest;
    uint32_t ln = t->line ? t->line : in->line;
    if (t->expect_match > 1)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_TESTS, ti, RFCHAN_TEST_EXPECT, ln,
                       "instance '%s' test %u: expect is %u, not 0 or 1", in->id, tj,
                       (unsigned)t->expect_match);
    if (t->ninputs > RF_MAX_FIELDS)
        return problem(p, RF_E_LIMIT, RFCHAN_SEC_TESTS, ti, RFCHAN_TEST_IN_COUNT, ln,
                       "instance '%s' test %u: %u inputs, more than %d fields", in->id, tj,
                       t->ninputs, RF_MAX_FIELDS);
    if (t->ninputs && !t->inputs)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_TESTS, ti, RFCHAN_TEST_IN_FIRST, ln,
                       "instance '%s' test %u: inputs missing (NULL)", in->id, tj);
    for (uint32_t k = 0; k < t->ninputs; k++) {
        const rf_test_input *x = &t->inputs[k];
        uint64_t xi = w->ntin + k;
        if (x->field >= RF_MAX_FIELDS)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_TEST_INPUTS, xi, RFCHAN_TIN_FIELD, ln,
                           "instance '%s' test %u: field index %u is not below %d", in->id, tj,
                           x->field, RF_MAX_FIELDS);
        if (k > 0 && x->field <= t->inputs[k - 1].field)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_TEST_INPUTS, xi, RFCHAN_TIN_FIELD, ln,
                           "instance '%s' test %u: inputs not strictly increasing by field "
                           "(%u after %u)", in->id, tj, x->field, t->inputs[k - 1].field);
        if (x->v.type != RF_VAL_ABSENT && x->v.type != RF_VAL_STRING && x->v.type != RF_VAL_INT)
            return problem(p, RF_E_FORMAT, RFCHAN_SEC_TEST_INPUTS, xi,
                           RFCHAN_TIN_VALUE + RFCHAN_VAL_TYPE, ln,
                           "instance '%s' test %u: input value type %d is not 0..2", in->id, tj,
                           (int)x->v.type);
        rf_rc rc = check_value_common(&x->v, RFCHAN_SEC_TEST_INPUTS, xi,
                                      RFCHAN_TIN_VALUE + RFCHAN_VAL_PAYLOAD, ln, p);
        if (rc != RF_OK)
            return rc;
    }
    w->ntest++;
    w->ntin += t->ninputs;
    return RF_OK;
}

static const char *instance_id_at(const void *ctx, uint32_t i)
{
    return ((const rf_channel *)ctx)->instances[i].id;
}

rf_rc rfchan_check(const rf_channel *ch, rfchan_problem *p)
{
    if (ch->channel < 1)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_HEADER, 0, RFCHAN_H_CHANNEL, 0,
                       "channel number is 0 (must be 1..65535)");
    if (!name_ok(ch->template_type))
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_HEADER, 0, RFCHAN_H_TYPE, 0,
                       "template type name is not [a-z0-9_]{1,64}");
    if (ch->template_version < 1)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_HEADER, 0, RFCHAN_H_TEMPLATE_VER, 0,
                       "template_version is 0 (must be >= 1)");
    if (ch->content_version < 1)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_HEADER, 0, RFCHAN_H_CONTENT_VER, 0,
                       "content_version is 0 (must be >= 1)");
    if (ch->ninstances > RF_MAX_INSTANCES)
        return problem(p, RF_E_LIMIT, RFCHAN_SEC_HEADER, 0, RFCHAN_H_NINSTANCES, 0,
                       "%u instances, limit %d", ch->ninstances, RF_MAX_INSTANCES);
    if (ch->ninstances && !ch->instances)
        return problem(p, RF_E_FORMAT, RFCHAN_SEC_HEADER, 0, RFCHAN_H_NINSTANCES, 0,
                       "instances missing (NULL)");

    walk *w = calloc(1, sizeof(*w));
    if (!w)
        return RF_E_NOMEM;
    rf_rc rc = RF_OK;
    for (uint32_t i = 0; i < ch->ninstances && rc == RF_OK; i++) {
        const rf_instance *in = &ch->instances[i];
        if (!id_ok(in->id)) {
            rc = problem(p, RF_E_FORMAT, RFCHAN_SEC_INSTANCES, i, RFCHAN_INST_ID, in->line,
                         "instance %u: id is not [A-Za-z0-9_.:-]{1,128}", i);
            break;
        }
        if (in->action != RF_ACTION_DETECT && in->action != RF_ACTION_BLOCK) {
            rc = problem(p, RF_E_FORMAT, RFCHAN_SEC_INSTANCES, i, RFCHAN_INST_ACTION, in->line,
                         "instance '%s': action %d is not 1 (detect) or 2 (block)", in->id,
                         (int)in->action);
            break;
        }
        if (in->severity < RF_SEV_INFO || in->severity > RF_SEV_CRITICAL) {
            rc = problem(p, RF_E_FORMAT, RFCHAN_SEC_INSTANCES, i, RFCHAN_INST_SEVERITY, in->line,
                         "instance '%s': severity %d is not 1..5", in->id, (int)in->severity);
            break;
        }
        if (in->ncrits > RF_MAX_FIELDS) {
            rc = problem(p, RF_E_LIMIT, RFCHAN_SEC_INSTANCES, i, RFCHAN_INST_CRIT_COUNT,
                         in->line, "instance '%s': %u criteria, more than %d fields", in->id,
                         in->ncrits, RF_MAX_FIELDS);
            break;
        }
        if (in->ntests > RF_MAX_TESTS) {
            rc = problem(p, RF_E_LIMIT, RFCHAN_SEC_INSTANCES, i, RFCHAN_INST_TEST_COUNT,
                         in->line, "instance '%s': %u tests, limit %d", in->id, in->ntests,
                         RF_MAX_TESTS);
            break;
        }
        if ((in->ncrits && !in->crits) || (in->ntests && !in->tests)) {
            rc = problem(p, RF_E_FORMAT, RFCHAN_SEC_INSTANCES, i, RFCHAN_INST_CRIT_FIRST,
                         in->line, "instance '%s': criteria or tests missing (NULL)", in->id);
            break;
        }
    }
    /* Criteria (and their values), then tests, in file order. */
    for (uint32_t i = 0; i < ch->ninstances && rc == RF_OK; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ncrits && rc == RF_OK; j++) {
            const rf_crit *c = &in->crits[j];
            if (j > 0 && c->field <= in->crits[j - 1].field)
                rc = problem(p, RF_E_FORMAT, RFCHAN_SEC_CRITERIA, w->ncrit, RFCHAN_CRIT_FIELD,
                             c->line ? c->line : in->line,
                             "instance '%s': criteria not strictly increasing by field "
                             "(%u after %u)", in->id, c->field, in->crits[j - 1].field);
            else
                rc = check_crit(in, c, w, p);
        }
    }
    for (uint32_t i = 0; i < ch->ninstances && rc == RF_OK; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ntests && rc == RF_OK; j++)
            rc = check_test(in, &in->tests[j], j, w, p);
    }
    free(w);
    if (rc != RF_OK)
        return rc;

    /* Unique ids. */
    uint32_t first, dup;
    if (rf_find_repeat(ch->ninstances, instance_id_at, ch, &first, &dup) != RF_OK)
        return RF_E_NOMEM;
    if (dup != UINT32_MAX)
        rc = problem(p, RF_E_FORMAT, RFCHAN_SEC_INSTANCES, dup, RFCHAN_INST_ID,
                     ch->instances[dup].line, "instance %u: id '%s' already used by instance %u",
                     dup, ch->instances[dup].id, first);
    return rc;
}
