/*
 * validate.c — the Content Validator (validate.h): stages 1 to 5 and the
 * order in which all seven run. The validator loads content with exactly the
 * calls the server and the agent use (rf_compile_*, rf_channel_write,
 * rf_channel_read, rf_interp_build, rf_interp_eval, rf_event_parse); a source
 * is compiled, written and read back, and every stage after parsing works on
 * the channel as read back — what an agent would load — while line numbers
 * come from the compiled source, whose instance and criterion order the
 * writer preserves.
 *
 * The 19 July 2024 failure passed a validator that compared content with the
 * template type's *declaration* (21 fields) instead of with what sensors
 * *supply* (20 inputs). Here three stages catch that on their own: the
 * capability stage (every sensor's input count, statically), the tests stage
 * (interpreters built per sensor, events truncated to that sensor), and the
 * execution stage (a child process, including an interpreter built as the
 * old validator believed, whose run-time bounds check must refuse events).
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringfence/compile.h"
#include "ringfence/util.h"
#include "validate/validate_int.h"

#define GIB (1024ull * 1024ull * 1024ull)

void rf_validate_opts_init(rf_validate_opts *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof(*o));
    o->diff_max_ratio = 10.0;
    o->diff_min_detections = 100;
    o->exec_cpu_seconds = 10;
    o->exec_mem_bytes = 2 * GIB;
    o->exec_event_budget_ns = 50000;
    o->synthetic_events = RF_MAX_SYNTHETIC_EVENTS;
}

/* Copy the caller's options with zeros replaced by defaults; RF_E_USAGE for
 * values that cannot mean anything. */
static rf_rc fill_opts(rf_validate_opts *o, const rf_validate_opts *in, rf_err *err)
{
    rf_validate_opts d;
    rf_validate_opts_init(&d);
    if (!in) {
        *o = d;
        return RF_OK;
    }
    *o = *in;
    if (o->skip & ~((1u << RF_STAGE_COUNT) - 1u))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "unknown stage bit in skip mask 0x%x",
                          o->skip);
    if (o->skip & (1u << RF_STAGE_PARSE))
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "the parse stage cannot be skipped: every other stage needs it");
    if (isnan(o->diff_max_ratio) || o->diff_max_ratio < 0)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "diff_max_ratio must be >= 1");
    if (o->diff_max_ratio == 0)
        o->diff_max_ratio = d.diff_max_ratio;
    if (o->diff_max_ratio < 1.0)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "diff_max_ratio must be >= 1");
    if (!o->diff_min_detections)
        o->diff_min_detections = d.diff_min_detections;
    if (!o->exec_cpu_seconds)
        o->exec_cpu_seconds = d.exec_cpu_seconds;
    if (!o->exec_mem_bytes)
        o->exec_mem_bytes = d.exec_mem_bytes;
    if (!o->exec_event_budget_ns)
        o->exec_event_budget_ns = d.exec_event_budget_ns;
    if (!o->synthetic_events || o->synthetic_events > RF_MAX_SYNTHETIC_EVENTS)
        o->synthetic_events = RF_MAX_SYNTHETIC_EVENTS;
    return RF_OK;
}

void rfval_progress(const rfval_run *v, rf_stage st, const char *fmt, ...)
{
    if (!v->o.progress)
        return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    v->o.progress(v->o.progress_ctx, st, buf);
}

/* ---- source lines ---- */

static const rf_instance *src_inst(const rfval_run *v, uint32_t i)
{
    if (!v->src || i >= v->src->ninstances || i >= v->ch->ninstances)
        return NULL;
    const rf_instance *s = &v->src->instances[i];
    /* Same order is the writer's promise; check the id so a broken promise
     * gives line 0 rather than a wrong line. */
    if (!s->id || !v->ch->instances[i].id || strcmp(s->id, v->ch->instances[i].id) != 0)
        return NULL;
    return s;
}

uint32_t rfval_line_inst(const rfval_run *v, uint32_t i)
{
    const rf_instance *s = src_inst(v, i);
    return s ? s->line : 0;
}

uint32_t rfval_line_crit(const rfval_run *v, uint32_t i, uint32_t j)
{
    const rf_instance *s = src_inst(v, i);
    if (!s)
        return 0;
    if (j < s->ncrits && s->crits[j].line)
        return s->crits[j].line;
    return s->line;
}

uint32_t rfval_line_test(const rfval_run *v, uint32_t i, uint32_t k)
{
    const rf_instance *s = src_inst(v, i);
    if (!s)
        return 0;
    if (k < s->ntests && s->tests[k].line)
        return s->tests[k].line;
    return s->line;
}

const rf_sensor_support *rfval_support(const rfval_run *v, uint32_t k)
{
    const rf_sensor_manifest *m = &v->ws->sensors[v->sens[k]];
    return rf_sensor_find_support(m, v->ch->template_type, v->ch->template_version);
}

/* "file:line" prefix for messages; "file" alone when the line is unknown. */
static void loc(const rfval_run *v, uint32_t line, char *buf, size_t n)
{
    if (line)
        snprintf(buf, n, "%s:%u", v->display, line);
    else
        snprintf(buf, n, "%s", v->display);
}

static int stage_skipped(const rfval_run *v, rf_stage st)
{
    return (v->o.skip >> st) & 1u;
}

/* Finish a stage that ran: FAIL if it recorded an error, else PASS. */
static void close_stage(rfval_run *v, rf_stage st, const char *fmt, ...) RF_PRINTF(3, 4);

static void close_stage(rfval_run *v, rf_stage st, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    rfval_set_stage(v->r, st, v->r->errors[st] ? RF_STATUS_FAIL : RF_STATUS_PASS, "%s", buf);
}

/* ---- stage 1: parse ---- */

static int is_parse_rc(rf_rc rc)
{
    return rc != RF_E_SCHEMA && rc != RF_E_NOTFOUND;
}

static void add_err_finding(rfval_run *v, rf_stage st, const char *what, const rf_err *e)
{
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = e->file[0] ? e->file : v->display;
    w.line = e->line;
    char full[RF_ERR_MSG_MAX + 64];
    rf_err_format(e, full, sizeof(full));
    rfval_add(v->r, st, 1, &w, "%s%s (%s)", what, full, rf_strerror(e->rc));
}

static void take_channel_facts(rfval_run *v)
{
    rf_report *r = v->r;
    r->have_channel = 1;
    r->channel = v->ch->channel;
    free(r->template_type);
    r->template_type = strdup(v->ch->template_type ? v->ch->template_type : "");
    if (!r->template_type)
        r->oom = 1;
    r->template_version = v->ch->template_version;
    r->content_version = v->ch->content_version;
    memcpy(r->body_sha256, v->ch->body_sha256, 32);
}

/* Binary input: the total reader, nothing else. Takes ownership of buf. */
static rf_rc parse_binary(rfval_run *v, uint8_t *buf, size_t len)
{
    rf_err e;
    rf_err_clear(&e);
    v->r->bytes = buf;
    v->r->nbytes = len;
    rf_rc rc = rf_channel_read(buf, len, v->display, &v->ch, &e);
    if (rc == RF_E_NOMEM)
        return rc;
    if (rc != RF_OK) {
        add_err_finding(v, RF_STAGE_PARSE, "the channel file does not read: ", &e);
        rfval_set_stage(v->r, RF_STAGE_PARSE, RF_STATUS_FAIL,
                        "%zu bytes refused by the channel reader", len);
        return RF_OK;
    }
    take_channel_facts(v);
    rfval_set_stage(v->r, RF_STAGE_PARSE, RF_STATUS_PASS,
                    "%zu-byte channel file read: %u instances, needs %u inputs", len,
                    v->ch->ninstances, rf_channel_inputs_required(v->ch));
    return RF_OK;
}

/* Source input: compile, write, read back. */
static rf_rc parse_source(rfval_run *v, const char *path)
{
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc = rf_compile_file(v->ws, path, &v->src, &e);
    if (rc == RF_E_NOMEM)
        return rc;
    if (rc != RF_OK) {
        if (is_parse_rc(rc)) {
            add_err_finding(v, RF_STAGE_PARSE, "", &e);
            rfval_set_stage(v->r, RF_STAGE_PARSE, RF_STATUS_FAIL, "the source does not parse");
        } else {
            rfval_set_stage(v->r, RF_STAGE_PARSE, RF_STATUS_PASS, "the source parses");
            add_err_finding(v, RF_STAGE_SCHEMA, "", &e);
            rfval_set_stage(v->r, RF_STAGE_SCHEMA, RF_STATUS_FAIL,
                            "the source breaks the content model; it does not compile");
        }
        return RF_OK;
    }
    uint8_t *bytes = NULL;
    size_t n = 0;
    rc = rf_channel_write(v->src, &bytes, &n, &e);
    if (rc == RF_E_NOMEM)
        return rc;
    if (rc != RF_OK) {
        rf_stage st = is_parse_rc(rc) ? RF_STAGE_PARSE : RF_STAGE_SCHEMA;
        if (st == RF_STAGE_SCHEMA)
            rfval_set_stage(v->r, RF_STAGE_PARSE, RF_STATUS_PASS, "the source parses");
        add_err_finding(v, st, "the channel writer refused the compiled channel: ", &e);
        rfval_set_stage(v->r, st, RF_STATUS_FAIL, "the compiled channel cannot be written");
        return RF_OK;
    }
    v->r->bytes = bytes;
    v->r->nbytes = n;
    rc = rf_channel_read(bytes, n, v->display, &v->ch, &e);
    if (rc == RF_E_NOMEM)
        return rc;
    if (rc != RF_OK) {
        /* The writer and the reader disagree: a ringfence bug, but what
         * matters here is that no agent could load this file. */
        add_err_finding(v, RF_STAGE_PARSE,
                        "the compiled channel file does not read back (writer/reader "
                        "disagreement): ",
                        &e);
        rfval_set_stage(v->r, RF_STAGE_PARSE, RF_STATUS_FAIL,
                        "compiled to %zu bytes, which the channel reader refuses", n);
        return RF_OK;
    }
    take_channel_facts(v);
    rfval_set_stage(v->r, RF_STAGE_PARSE, RF_STATUS_PASS,
                    "compiled to %zu bytes and read back: %u instances, needs %u inputs", n,
                    v->ch->ninstances, rf_channel_inputs_required(v->ch));
    return RF_OK;
}

/* ---- stage 2: schema ---- */

static int kind_fits(rf_crit_kind k, rf_value_type t)
{
    switch (k) {
    case RF_CRIT_EQUALS:
    case RF_CRIT_ONE_OF: return t == RF_VAL_STRING || t == RF_VAL_INT;
    case RF_CRIT_PREFIX:
    case RF_CRIT_SUFFIX:
    case RF_CRIT_CONTAINS:
    case RF_CRIT_GLOB:
    case RF_CRIT_REGEX: return t == RF_VAL_STRING;
    case RF_CRIT_RANGE: return t == RF_VAL_INT;
    case RF_CRIT_ANY: return 0;
    }
    return 0;
}

static int field_type_fits(rf_field_type ft, rf_value_type vt)
{
    return (ft == RF_TYPE_STRING && vt == RF_VAL_STRING) ||
           (ft == RF_TYPE_INT && vt == RF_VAL_INT);
}

static const char *ftype_name(rf_field_type t)
{
    return t == RF_TYPE_INT ? "int" : t == RF_TYPE_STRING ? "string" : "?";
}

static const char *vtype_name(rf_value_type t)
{
    return t == RF_VAL_INT ? "int" : t == RF_VAL_STRING ? "string" : "absent";
}

static void schema_crit(rfval_run *v, uint32_t i, uint32_t j)
{
    const rf_instance *in = &v->ch->instances[i];
    const rf_crit *c = &in->crits[j];
    const rf_template_type *tt = v->tt;
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = v->display;
    w.line = rfval_line_crit(v, i, j);
    w.instance = in->id;
    w.field = c->field_name;
    w.field_index = c->field;
    char at[RF_ERR_FILE_MAX + 16];
    loc(v, w.line, at, sizeof(at));

    if (c->field >= tt->nfields) {
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                  "%s: instance '%s' has a criterion on field index %u, but template type "
                  "%s v%u declares only %u fields",
                  at, in->id, c->field, tt->name, tt->version, tt->nfields);
        return;
    }
    const rf_field *f = &tt->fields[c->field];
    if (!c->field_name || strcmp(c->field_name, f->name) != 0) {
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                  "%s: instance '%s': the channel names field index %u '%s', but template "
                  "type %s v%u calls it '%s' (was the type changed without a version bump?)",
                  at, in->id, c->field, c->field_name ? c->field_name : "", tt->name,
                  tt->version, f->name);
        return;
    }
    if (!field_type_fits(f->type, c->vtype)) {
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                  "%s: instance '%s': a %s criterion on field '%s', which is of type %s", at,
                  in->id, vtype_name(c->vtype), f->name, ftype_name(f->type));
        return;
    }
    if (!kind_fits(c->kind, c->vtype) ||
        ((c->flags & RF_CRIT_NOCASE) && c->vtype != RF_VAL_STRING) ||
        (c->flags & ~RF_CRIT_FLAGS_ALL)) {
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                  "%s: instance '%s': criterion '%s' (flags 0x%x) does not apply to a %s "
                  "field ('%s')",
                  at, in->id, rf_crit_kind_name(c->kind), c->flags, ftype_name(f->type),
                  f->name);
        return;
    }
    uint32_t want = c->kind == RF_CRIT_RANGE ? 2 : 1;
    int nbad = c->kind == RF_CRIT_ONE_OF ? (c->nvals < 1 || c->nvals > RF_MAX_ONE_OF)
                                         : c->nvals != want;
    for (uint32_t k = 0; !nbad && k < c->nvals; k++)
        nbad = c->vals[k].type != c->vtype;
    if (!nbad && c->kind == RF_CRIT_RANGE && c->vals[0].i > c->vals[1].i)
        nbad = 1;
    if (nbad)
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                  "%s: instance '%s': criterion '%s' on field '%s' has malformed values "
                  "(%u values)",
                  at, in->id, rf_crit_kind_name(c->kind), f->name, c->nvals);
}

static void schema_tests(rfval_run *v, uint32_t i)
{
    const rf_instance *in = &v->ch->instances[i];
    const rf_template_type *tt = v->tt;
    for (uint32_t k = 0; k < in->ntests; k++) {
        const rf_test *t = &in->tests[k];
        for (uint32_t q = 0; q < t->ninputs; q++) {
            const rf_test_input *ti = &t->inputs[q];
            rfval_where w = RFVAL_WHERE_NONE;
            w.file = v->display;
            w.line = rfval_line_test(v, i, k);
            w.instance = in->id;
            w.field_index = ti->field;
            char at[RF_ERR_FILE_MAX + 16];
            loc(v, w.line, at, sizeof(at));
            if (ti->field >= tt->nfields) {
                rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                          "%s: instance '%s': test %u sets field index %u, but template type "
                          "%s v%u declares only %u fields",
                          at, in->id, k + 1, ti->field, tt->name, tt->version, tt->nfields);
                continue;
            }
            const rf_field *f = &tt->fields[ti->field];
            w.field = f->name;
            if (ti->v.type != RF_VAL_ABSENT && !field_type_fits(f->type, ti->v.type))
                rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                          "%s: instance '%s': test %u gives a %s value for field '%s', which "
                          "is of type %s",
                          at, in->id, k + 1, vtype_name(ti->v.type), f->name,
                          ftype_name(f->type));
        }
    }
}

static int cmp_idp(const void *a, const void *b)
{
    const rf_instance *x = *(const rf_instance *const *)a;
    const rf_instance *y = *(const rf_instance *const *)b;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static rf_rc stage_schema(rfval_run *v)
{
    const rf_channel *ch = v->ch;
    rfval_progress(v, RF_STAGE_SCHEMA, "checking %u instances against the workspace",
                   ch->ninstances);
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = v->display;
    if (ch->channel < 1)
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w, "%s: channel number 0 is not valid (1..65535)",
                  v->display);
    if (ch->content_version < 1)
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                  "%s: content_version must be >= 1 (it is %u)", v->display,
                  ch->content_version);
    v->tt = rf_workspace_find_type(v->ws, ch->template_type, ch->template_version);
    if (!v->tt) {
        rfval_add(v->r, RF_STAGE_SCHEMA, 1, &w,
                  "%s: template type '%s' version %u is not in the workspace (types/)",
                  v->display, ch->template_type, ch->template_version);
    } else {
        for (uint32_t i = 0; i < ch->ninstances; i++) {
            for (uint32_t j = 0; j < ch->instances[i].ncrits; j++)
                schema_crit(v, i, j);
            schema_tests(v, i);
        }
    }
    /* Ids are unique by the reader's own checks; sorting pointers is cheap
     * enough to check again rather than trust another module. */
    if (ch->ninstances > 1) {
        const rf_instance **ids = malloc(ch->ninstances * sizeof(*ids));
        if (!ids)
            return RF_E_NOMEM;
        for (uint32_t i = 0; i < ch->ninstances; i++)
            ids[i] = &ch->instances[i];
        qsort(ids, ch->ninstances, sizeof(*ids), cmp_idp);
        for (uint32_t i = 1; i < ch->ninstances; i++) {
            if (cmp_idp(&ids[i - 1], &ids[i]) == 0) {
                rfval_where wi = RFVAL_WHERE_NONE;
                wi.file = v->display;
                wi.instance = ids[i]->id;
                rfval_add(v->r, RF_STAGE_SCHEMA, 1, &wi, "%s: instance id '%s' is not unique",
                          v->display, ids[i]->id);
            }
        }
        free(ids);
    }
    if (v->tt)
        close_stage(v, RF_STAGE_SCHEMA,
                    "%u instances against template type %s v%u (%u fields): %u errors",
                    ch->ninstances, v->tt->name, v->tt->version, v->tt->nfields,
                    v->r->errors[RF_STAGE_SCHEMA]);
    else
        close_stage(v, RF_STAGE_SCHEMA, "template type %s v%u not found", ch->template_type,
                    ch->template_version);
    return RF_OK;
}

/* ---- the sensors that run this channel ---- */

static rf_rc find_sensors(rfval_run *v)
{
    const rf_workspace *ws = v->ws;
    v->nsens = 0;
    if (!ws->nsensors)
        return RF_OK;
    v->sens = malloc(ws->nsensors * sizeof(*v->sens));
    if (!v->sens)
        return RF_E_NOMEM;
    for (uint32_t k = 0; k < ws->nsensors; k++)
        if (rf_sensor_find_support(&ws->sensors[k], v->ch->template_type,
                                   v->ch->template_version))
            v->sens[v->nsens++] = k;
    return RF_OK;
}

/* No sensor runs the type. Every stage that checks content against sensors
 * treats this as an ERROR, not a note: validating against zero sensors is
 * exactly the blind spot of 19 July (content checked against a declaration,
 * never against what a real sensor supplies). */
void rfval_no_sensor_finding(rfval_run *v, rf_stage st)
{
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = v->display;
    rfval_add(v->r, st, 1, &w,
              "%s: no sensor in the workspace runs template type %s v%u: nothing validated "
              "this content against real inputs",
              v->display, v->ch->template_type, v->ch->template_version);
}

/* ---- stage 3: fleet capability (the 19 July check) ---- */

static void stage_capability(rfval_run *v)
{
    const rf_channel *ch = v->ch;
    rfval_progress(v, RF_STAGE_CAPABILITY, "checking field indices against %u sensors",
                   v->nsens);
    if (!v->nsens) {
        rfval_no_sensor_finding(v, RF_STAGE_CAPABILITY);
        close_stage(v, RF_STAGE_CAPABILITY, "0 sensors checked: none runs %s v%u",
                    ch->template_type, ch->template_version);
        return;
    }
    uint64_t ncrit = 0;
    uint32_t min_inputs = UINT32_MAX;
    for (uint32_t k = 0; k < v->nsens; k++) {
        const rf_sensor_manifest *m = &v->ws->sensors[v->sens[k]];
        const rf_sensor_support *sup = rfval_support(v, k);
        if (sup->inputs < min_inputs)
            min_inputs = sup->inputs;
        for (uint32_t i = 0; i < ch->ninstances; i++) {
            const rf_instance *in = &ch->instances[i];
            for (uint32_t j = 0; j < in->ncrits; j++) {
                const rf_crit *c = &in->crits[j];
                if (k == 0)
                    ncrit++;
                if (c->kind == RF_CRIT_ANY || c->field < sup->inputs)
                    continue;
                rfval_where w = RFVAL_WHERE_NONE;
                w.file = v->display;
                w.line = rfval_line_crit(v, i, j);
                w.instance = in->id;
                w.field = c->field_name;
                w.field_index = c->field;
                w.sensor_version = m->sensor_version;
                w.sensor_inputs = (int32_t)sup->inputs;
                char at[RF_ERR_FILE_MAX + 16];
                loc(v, w.line, at, sizeof(at));
                char range[48];
                if (sup->inputs)
                    snprintf(range, sizeof(range), "indices 0..%u", sup->inputs - 1);
                else
                    snprintf(range, sizeof(range), "none at all");
                rfval_add(v->r, RF_STAGE_CAPABILITY, 1, &w,
                          "%s: instance '%s' has a criterion on field '%s' (index %u), but "
                          "sensor %s supplies only %u inputs (%s)",
                          at, in->id, c->field_name ? c->field_name : "?", c->field,
                          m->sensor_version, sup->inputs, range);
            }
        }
    }
    close_stage(v, RF_STAGE_CAPABILITY,
                "%llu non-wildcard criteria in %u instances checked against %u sensors "
                "(fewest inputs supplied: %u; channel needs %u): %u violation(s)",
                (unsigned long long)ncrit, ch->ninstances, v->nsens, min_inputs,
                rf_channel_inputs_required(ch), v->r->errors[RF_STAGE_CAPABILITY]);
}

/* ---- stage 4: patterns and limits ---- */

/* Limits that need no engine; the engine half of the stage (every pattern
 * compiled alone) runs in a child process (exec.c). */
static void patterns_limits(rfval_run *v)
{
    const rf_channel *ch = v->ch;
    rfval_where w0 = RFVAL_WHERE_NONE;
    w0.file = v->display;
    uint64_t npat = 0;
    if (ch->ninstances > RF_MAX_INSTANCES)
        rfval_add(v->r, RF_STAGE_PATTERNS, 1, &w0, "%s: %u instances, over the limit of %u",
                  v->display, ch->ninstances, (unsigned)RF_MAX_INSTANCES);
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        const rf_instance *in = &ch->instances[i];
        for (uint32_t j = 0; j < in->ncrits; j++) {
            const rf_crit *c = &in->crits[j];
            rfval_where w = RFVAL_WHERE_NONE;
            w.file = v->display;
            w.line = rfval_line_crit(v, i, j);
            w.instance = in->id;
            w.field = c->field_name;
            w.field_index = c->field;
            char at[RF_ERR_FILE_MAX + 16];
            loc(v, w.line, at, sizeof(at));
            if (c->nvals > RF_MAX_ONE_OF)
                rfval_add(v->r, RF_STAGE_PATTERNS, 1, &w,
                          "%s: instance '%s': %u values on field '%s', over the limit of %u",
                          at, in->id, c->nvals, c->field_name, (unsigned)RF_MAX_ONE_OF);
            for (uint32_t k = 0; k < c->nvals; k++) {
                const rf_value *val = &c->vals[k];
                if (val->type != RF_VAL_STRING)
                    continue;
                uint32_t lim = c->kind == RF_CRIT_REGEX ? RF_MAX_REGEX : RF_MAX_STRING;
                if (val->len > lim)
                    rfval_add(v->r, RF_STAGE_PATTERNS, 1, &w,
                              "%s: instance '%s': a %u-byte %s value on field '%s', over the "
                              "limit of %u bytes",
                              at, in->id, val->len, rf_crit_kind_name(c->kind),
                              c->field_name, lim);
            }
            if (c->vtype == RF_VAL_STRING && c->kind >= RF_CRIT_PREFIX &&
                c->kind <= RF_CRIT_REGEX)
                npat++;
        }
    }
    if (npat > RF_MAX_PATTERNS)
        rfval_add(v->r, RF_STAGE_PATTERNS, 1, &w0,
                  "%s: %llu patterns in the channel, over the engine limit of %u", v->display,
                  (unsigned long long)npat, (unsigned)RF_MAX_PATTERNS);
}

/* Stage 5 runs in the interpreter processes (exec.c), one build per sensor
 * serving tests, execution and differential; what needs no interpreter is
 * checked here: an instance with no test at all. */
static void instances_without_tests(rfval_run *v)
{
    const rf_channel *ch = v->ch;
    for (uint32_t i = 0; i < ch->ninstances; i++) {
        if (ch->instances[i].ntests)
            continue;
        rfval_where w = RFVAL_WHERE_NONE;
        w.file = v->display;
        w.line = rfval_line_inst(v, i);
        w.instance = ch->instances[i].id;
        char at[RF_ERR_FILE_MAX + 16];
        loc(v, w.line, at, sizeof(at));
        rfval_add(v->r, RF_STAGE_TESTS, 0, &w,
                  "%s: instance '%s' has no tests: nothing shows it matches what it is "
                  "meant to",
                  at, ch->instances[i].id);
    }
}

/* ---- the corpus and the baseline (stages 6, 7) ---- */

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* Parse the corpus once, in the parent: the child inherits it through
 * fork(), and every sensor and both channels of the differential replay the
 * same parsed events. Bad lines are warnings: the corpus is test data, not
 * the content under review. */
static rf_rc load_corpus_file(rfval_run *v, const char *path, const char *shown,
                              uint32_t *cap)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc = rf_file_read(path, RF_MAX_CORPUS_BYTES, &buf, &len, &e);
    if (rc == RF_E_NOMEM)
        return rc;
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = shown;
    if (rc != RF_OK) {
        char msg[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX];
        rf_err_format(&e, msg, sizeof(msg));
        rfval_add(v->r, RF_STAGE_EXECUTION, 0, &w, "corpus file not read: %s", msg);
        return RF_OK;
    }
    const char *p = (const char *)buf, *end = p + len;
    uint32_t lineno = 0, nbad = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        size_t n = (size_t)(le - p);
        if (n && p[n - 1] == '\r')
            n--;
        int blank = 1;
        for (size_t q = 0; q < n && blank; q++)
            blank = p[q] == ' ' || p[q] == '\t';
        if (!blank) {
            rf_event *ev = NULL;
            rf_err_clear(&e);
            rc = n > RF_MAX_EVENT_LINE ? RF_E_LIMIT : rf_event_parse(p, n, &ev, &e);
            if (rc == RF_E_NOMEM) {
                free(buf);
                return rc;
            }
            if (rc != RF_OK) {
                if (++nbad <= 5) {
                    w.line = lineno;
                    rfval_add(v->r, RF_STAGE_EXECUTION, 0, &w,
                              "%s:%u: corpus line skipped: %s (%s)", shown, lineno,
                              rc == RF_E_LIMIT && !e.msg[0] ? "line too long" : e.msg,
                              rf_strerror(rc));
                }
            } else {
                if (v->nevents == *cap) {
                    uint32_t nc = *cap ? *cap * 2 : 1024;
                    rf_event **ne = realloc(v->events, nc * sizeof(*ne));
                    if (!ne) {
                        rf_event_free(ev);
                        free(buf);
                        return RF_E_NOMEM;
                    }
                    v->events = ne;
                    *cap = nc;
                }
                v->events[v->nevents++] = ev;
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (nbad > 5) {
        w.line = 0;
        rfval_add(v->r, RF_STAGE_EXECUTION, 0, &w, "%s: %u corpus lines skipped in all",
                  shown, nbad);
    }
    free(buf);
    return RF_OK;
}

static rf_rc load_corpus(rfval_run *v)
{
    char dir[4096];
    if (v->o.corpus_dir) {
        snprintf(dir, sizeof(dir), "%s", v->o.corpus_dir);
    } else if (v->ws->dir && v->ws->dir[0]) {
        snprintf(dir, sizeof(dir), "%s/corpus", v->ws->dir);
    } else {
        return RF_OK;
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        if (v->o.corpus_dir) {
            rfval_where w = RFVAL_WHERE_NONE;
            w.file = v->o.corpus_dir;
            rfval_add(v->r, RF_STAGE_EXECUTION, 0, &w,
                      "corpus directory %s cannot be read: only synthetic events are used",
                      v->o.corpus_dir);
        }
        return RF_OK;
    }
    rf_rc rc = RF_OK;
    uint32_t cap = 0;
    for (int i = 0; i < n; i++) {
        if (rc == RF_OK && ends_with(names[i]->d_name, ".jsonl")) {
            char path[4096 + 256];
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
            rc = load_corpus_file(v, path, path, &cap);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

/* The baseline goes through the same loader as the content. */
static rf_rc load_baseline(rfval_run *v)
{
    const char *path = v->o.baseline_path;
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc;
    rfval_where w = RFVAL_WHERE_NONE;
    w.file = path;
    if (ends_with(path, ".rfc")) {
        rc = rf_channel_read_file(path, &v->baseline, &e);
    } else {
        rf_channel *src = NULL;
        uint8_t *bytes = NULL;
        size_t n = 0;
        rc = rf_compile_file(v->ws, path, &src, &e);
        if (rc == RF_OK)
            rc = rf_channel_write(src, &bytes, &n, &e);
        if (rc == RF_OK)
            rc = rf_channel_read(bytes, n, path, &v->baseline, &e);
        free(bytes);
        rf_channel_free(src);
    }
    if (rc == RF_E_NOMEM)
        return rc;
    if (rc != RF_OK) {
        char msg[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX];
        rf_err_format(&e, msg, sizeof(msg));
        rfval_add(v->r, RF_STAGE_DIFFERENTIAL, 1, &w, "the baseline does not load: %s (%s)",
                  msg, rf_strerror(rc));
        return RF_OK;
    }
    const rf_channel *b = v->baseline, *c = v->ch;
    if (b->channel != c->channel)
        rfval_add(v->r, RF_STAGE_DIFFERENTIAL, 1, &w,
                  "the baseline is channel %u, this content is channel %u: not comparable",
                  b->channel, c->channel);
    if (b->content_version >= c->content_version)
        rfval_add(v->r, RF_STAGE_DIFFERENTIAL, 1, &w,
                  "the baseline has content_version %u, not lower than this content's %u "
                  "(content versions must strictly increase)",
                  b->content_version, c->content_version);
    if (strcmp(b->template_type, c->template_type) != 0)
        rfval_add(v->r, RF_STAGE_DIFFERENTIAL, 1, &w,
                  "the baseline is for template type %s, this content for %s: not comparable",
                  b->template_type, c->template_type);
    if (v->r->errors[RF_STAGE_DIFFERENTIAL]) {
        rf_channel_free(v->baseline);
        v->baseline = NULL;
    }
    return RF_OK;
}

/* ---- the pipeline ---- */

static void mark_rest(rfval_run *v, int from, rf_stage_status st, const char *why)
{
    for (int s = from; s < RF_STAGE_COUNT; s++) {
        if (v->r->status[s] != RF_STATUS_NOT_RUN || v->r->summary[s])
            continue;
        if (stage_skipped(v, (rf_stage)s))
            rfval_set_stage(v->r, (rf_stage)s, RF_STATUS_SKIPPED, "skipped on request");
        else
            rfval_set_stage(v->r, (rf_stage)s, st, "%s", why);
    }
}

static rf_rc run_stages(rfval_run *v)
{
    rf_rc rc;
    rf_report *r = v->r;
    if (r->status[RF_STAGE_PARSE] != RF_STATUS_PASS) {
        mark_rest(v, RF_STAGE_SCHEMA, RF_STATUS_NOT_RUN, "not run: the content does not parse");
        return RF_OK;
    }
    if (r->status[RF_STAGE_SCHEMA] == RF_STATUS_FAIL) {
        mark_rest(v, RF_STAGE_CAPABILITY, RF_STATUS_NOT_RUN,
                  "not run: the content breaks the schema");
        return RF_OK;
    }
    if (stage_skipped(v, RF_STAGE_SCHEMA)) {
        rfval_set_stage(r, RF_STAGE_SCHEMA, RF_STATUS_SKIPPED, "skipped on request");
    } else {
        rfval_progress(v, RF_STAGE_SCHEMA, "start");
        if ((rc = stage_schema(v)) != RF_OK)
            return rc;
        if (r->status[RF_STAGE_SCHEMA] == RF_STATUS_FAIL) {
            mark_rest(v, RF_STAGE_CAPABILITY, RF_STATUS_NOT_RUN,
                      "not run: the content breaks the schema");
            return RF_OK;
        }
    }
    if (!v->tt)
        v->tt = rf_workspace_find_type(v->ws, v->ch->template_type, v->ch->template_version);
    if ((rc = find_sensors(v)) != RF_OK)
        return rc;

    if (stage_skipped(v, RF_STAGE_CAPABILITY))
        rfval_set_stage(r, RF_STAGE_CAPABILITY, RF_STATUS_SKIPPED, "skipped on request");
    else
        stage_capability(v);

    int do_tests = !stage_skipped(v, RF_STAGE_TESTS);
    int do_exec = !stage_skipped(v, RF_STAGE_EXECUTION);
    int do_diff = !stage_skipped(v, RF_STAGE_DIFFERENTIAL) && v->o.baseline_path;
    for (int s = RF_STAGE_PATTERNS; s < RF_STAGE_COUNT; s++)
        if (stage_skipped(v, (rf_stage)s))
            rfval_set_stage(r, (rf_stage)s, RF_STATUS_SKIPPED, "skipped on request");
    if (!stage_skipped(v, RF_STAGE_DIFFERENTIAL) && !v->o.baseline_path)
        rfval_set_stage(r, RF_STAGE_DIFFERENTIAL, RF_STATUS_SKIPPED,
                        "no baseline given: nothing to compare with");
    if (do_tests)
        instances_without_tests(v);

    /* Stage 4's engine half and stages 5-7 run in child processes under
     * limits; the pattern checks start first and overlap the corpus read. */
    int do_patterns = !stage_skipped(v, RF_STAGE_PATTERNS);
    if (do_patterns)
        patterns_limits(v);
    if (!do_patterns && !do_tests && !do_exec && !do_diff)
        return RF_OK;
    rfval_exec *x = NULL;
    if ((rc = rfval_exec_start(v, do_patterns, &x)) != RF_OK)
        return rc;
    if (do_exec || do_diff) {
        rfval_progress(v, do_exec ? RF_STAGE_EXECUTION : RF_STAGE_DIFFERENTIAL,
                       "reading the corpus");
        rc = load_corpus(v);
    }
    if (rc == RF_OK && do_diff) {
        rc = load_baseline(v);
        if (rc == RF_OK && !v->baseline) {
            close_stage(v, RF_STAGE_DIFFERENTIAL, "the baseline cannot be compared");
            do_diff = 0;
        } else if (rc == RF_OK && !v->nevents) {
            rfval_set_stage(r, RF_STAGE_DIFFERENTIAL, RF_STATUS_SKIPPED,
                            "no corpus events: detection volume cannot be compared");
            do_diff = 0;
        }
    }
    if (rc != RF_OK) {
        /* Out of memory: reap what was started, report the failure. */
        (void)rfval_exec_finish(x, 0, 0, 0);
        return rc;
    }
    return rfval_exec_finish(x, do_tests, do_exec, do_diff);
}

/* Name used in messages: the path relative to the workspace when inside it
 * ("channels/c291.yaml"), else as given. */
static const char *display_name(const rf_workspace *ws, const char *path)
{
    if (ws && ws->dir && ws->dir[0]) {
        size_t n = strlen(ws->dir);
        while (n > 1 && ws->dir[n - 1] == '/')
            n--;
        if (strncmp(path, ws->dir, n) == 0 && path[n] == '/' && path[n + 1])
            return path + n + 1;
    }
    if (strncmp(path, "./", 2) == 0 && path[2])
        return path + 2;
    return path;
}

static void run_free(rfval_run *v)
{
    rf_channel_free(v->src);
    rf_channel_free(v->ch);
    rf_channel_free(v->baseline);
    for (uint32_t i = 0; i < v->nevents; i++)
        rf_event_free(v->events[i]);
    free(v->events);
    free(v->sens);
}

/*
 * The threads of this process (from /proc/self/stat), 0 if unknown. The
 * validator forks its jobs (exec.c), and a child forked from a process with
 * other threads inherits the locks they held at that moment, and can wait
 * on one forever (AddressSanitizer's allocator is such a lock; so is any
 * library's). So it refuses to run in such a process: a multi-threaded host
 * runs it in a process of its own, as ringfenced does (`validate-job`).
 */
static long process_threads(void)
{
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* "pid (comm) state ppid ..."; comm may hold anything, so count the
     * fields after its last ')': num_threads is field 20, the 18th there. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 3; field < 20 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    return p ? strtol(p + 1, NULL, 10) : 0;
}

/*
 * The common body of rf_validate_path and rf_validate_bytes. Exactly one of
 * path (a source to compile) and owned bytes (a binary, ownership taken) is
 * used.
 */
static rf_rc validate(const rf_workspace *ws, const char *display, const char *srcpath,
                      uint8_t *bytes, size_t nbytes, const rf_err *read_err,
                      const rf_validate_opts *opts, rf_report **out, rf_err *err)
{
    long threads = process_threads();
    if (threads > 1) {
        free(bytes);
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0,
                          "the validator must run in a single-threaded process (it forks "
                          "its checks); this one has %ld threads: run it in a process of "
                          "its own",
                          threads);
    }
    rfval_run v;
    memset(&v, 0, sizeof(v));
    rf_rc rc = fill_opts(&v.o, opts, err);
    if (rc != RF_OK) {
        free(bytes);
        return rc;
    }
    v.ws = ws;
    v.display = display;
    v.r = rfval_report_new();
    if (!v.r) {
        free(bytes);
        return rf_err_set(err, RF_E_NOMEM, NULL, 0, 0, "out of memory");
    }
    v.r->file = strdup(display);
    if (!v.r->file)
        v.r->oom = 1;

    rfval_progress(&v, RF_STAGE_PARSE, "start");
    if (read_err) {
        rfval_where w = RFVAL_WHERE_NONE;
        w.file = display;
        char msg[RF_ERR_MSG_MAX + RF_ERR_FILE_MAX];
        rf_err_format(read_err, msg, sizeof(msg));
        rfval_add(v.r, RF_STAGE_PARSE, 1, &w, "%s", msg);
        rfval_set_stage(v.r, RF_STAGE_PARSE, RF_STATUS_FAIL, "the file cannot be read");
    } else if (srcpath) {
        rc = parse_source(&v, srcpath);
    } else {
        rc = parse_binary(&v, bytes, nbytes);
    }
    if (rc == RF_OK)
        rc = run_stages(&v);
    rfval_report_finish(v.r);
    if (rc == RF_OK && v.r->oom)
        rc = RF_E_NOMEM;
    run_free(&v);
    if (rc != RF_OK) {
        rf_report_free(v.r);
        return rf_err_set(err, rc, display, 0, 0, "validation could not run: %s",
                          rf_strerror(rc));
    }
    *out = v.r;
    return RF_OK;
}

rf_rc rf_validate_path(const rf_workspace *ws, const char *path,
                       const rf_validate_opts *opts, rf_report **out, rf_err *err)
{
    if (!ws || !path || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_validate_path: NULL argument");
    const char *display = display_name(ws, path);
    if (!ends_with(path, ".rfc"))
        return validate(ws, display, path, NULL, 0, NULL, opts, out, err);
    uint8_t *buf = NULL;
    size_t len = 0;
    rf_err e;
    rf_err_clear(&e);
    rf_rc rc = rf_file_read(path, RF_MAX_CHANNEL_BYTES, &buf, &len, &e);
    if (rc == RF_E_NOMEM)
        return rf_err_set(err, rc, path, 0, 0, "out of memory reading the channel file");
    if (rc != RF_OK)
        return validate(ws, display, NULL, NULL, 0, &e, opts, out, err);
    return validate(ws, display, NULL, buf, len, NULL, opts, out, err);
}

rf_rc rf_validate_bytes(const rf_workspace *ws, const uint8_t *buf, size_t len,
                        const char *name, const rf_validate_opts *opts, rf_report **out,
                        rf_err *err)
{
    if (!ws || (!buf && len) || !out)
        return rf_err_set(err, RF_E_USAGE, NULL, 0, 0, "rf_validate_bytes: NULL argument");
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return rf_err_set(err, RF_E_NOMEM, name, 0, 0, "out of memory copying the channel");
    if (len)
        memcpy(copy, buf, len);
    return validate(ws, name ? name : "<channel>", NULL, copy, len, NULL, opts, out, err);
}
