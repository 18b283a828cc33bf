/*
 * report.c — the validator's report: every stage's status and summary and
 * every finding, the accessors of validate.h, and the JSON rendering that the
 * CLI prints, the server stores next to a release and TUF metadata hashes.
 * Recording a finding never fails the caller: an allocation failure marks the
 * report incomplete (oom), and rf_validate_* then returns RF_E_NOMEM rather
 * than a report that silently lacks a finding.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ringfence/util.h"
#include "validate/validate_int.h"

static const char *const stage_names[RF_STAGE_COUNT] = {
    "parse", "schema", "capability", "patterns", "tests", "execution", "differential",
};

const char *rf_stage_name(rf_stage s)
{
    if ((unsigned)s < RF_STAGE_COUNT)
        return stage_names[s];
    return "unknown";
}

int rf_stage_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < RF_STAGE_COUNT; i++)
        if (strcmp(stage_names[i], name) == 0)
            return i;
    return -1;
}

const char *rf_stage_status_name(rf_stage_status s)
{
    switch (s) {
    case RF_STATUS_NOT_RUN: return "not_run";
    case RF_STATUS_PASS: return "pass";
    case RF_STATUS_FAIL: return "fail";
    case RF_STATUS_SKIPPED: return "skipped";
    }
    return "unknown";
}

rf_report *rfval_report_new(void)
{
    rf_report *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    for (int i = 0; i < RF_STAGE_COUNT; i++)
        r->status[i] = RF_STATUS_NOT_RUN;
    return r;
}

void rf_report_free(rf_report *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->nfindings; i++) {
        rfval_finding *f = &r->findings[i];
        free(f->message);
        free(f->file);
        free(f->instance);
        free(f->field);
        free(f->sensor_version);
    }
    free(r->findings);
    for (int i = 0; i < RF_STAGE_COUNT; i++)
        free(r->summary[i]);
    free(r->file);
    free(r->template_type);
    free(r->bytes);
    free(r);
}

/* strdup that records a failure in the report; NULL stays NULL. */
static char *rdup(rf_report *r, const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        r->oom = 1;
    return d;
}

static void vadd(rf_report *r, rf_stage st, int error, const rfval_where *w,
                 const char *fmt, va_list ap) RF_PRINTF(5, 0);

static void vadd(rf_report *r, rf_stage st, int error, const rfval_where *w,
                 const char *fmt, va_list ap)
{
    if (r->nfindings == r->cap) {
        uint32_t cap = r->cap ? r->cap * 2 : 16;
        rfval_finding *p = realloc(r->findings, cap * sizeof(*p));
        if (!p) {
            r->oom = 1;
            return;
        }
        r->findings = p;
        r->cap = cap;
    }
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    rfval_finding *f = &r->findings[r->nfindings];
    memset(f, 0, sizeof(*f));
    f->stage = st;
    f->error = error;
    f->message = rdup(r, msg);
    f->file = rdup(r, w ? w->file : NULL);
    f->line = w ? w->line : 0;
    f->instance = rdup(r, w ? w->instance : NULL);
    f->field = rdup(r, w ? w->field : NULL);
    f->field_index = w ? w->field_index : -1;
    f->sensor_version = rdup(r, w ? w->sensor_version : NULL);
    f->sensor_inputs = w ? w->sensor_inputs : -1;
    r->nfindings++;
}

void rfval_add(rf_report *r, rf_stage st, int error, const rfval_where *w,
               const char *fmt, ...)
{
    if ((unsigned)st >= RF_STAGE_COUNT)
        return;
    if (error)
        r->errors[st]++;
    if (r->listed[st] >= RF_MAX_FINDINGS_PER_STAGE) {
        r->suppressed[st]++;
        return;
    }
    r->listed[st]++;
    va_list ap;
    va_start(ap, fmt);
    vadd(r, st, error, w, fmt, ap);
    va_end(ap);
}

void rfval_set_stage(rf_report *r, rf_stage st, rf_stage_status status,
                     const char *fmt, ...)
{
    if ((unsigned)st >= RF_STAGE_COUNT)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(r->summary[st]);
    r->summary[st] = rdup(r, buf);
    r->status[st] = status;
}

void rfval_add_unlisted(rf_report *r, rf_stage st, int error, uint32_t n)
{
    if ((unsigned)st >= RF_STAGE_COUNT || !n)
        return;
    if (error)
        r->errors[st] += n;
    r->suppressed[st] += n;
}

/* Append a finding past the per-stage cap (for the note about the cap). */
static void add_nocap(rf_report *r, rf_stage st, const char *fmt, ...) RF_PRINTF(3, 4);

static void add_nocap(rf_report *r, rf_stage st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vadd(r, st, 0, NULL, fmt, ap);
    va_end(ap);
}

void rfval_report_finish(rf_report *r)
{
    for (int st = 0; st < RF_STAGE_COUNT; st++) {
        if (!r->suppressed[st])
            continue;
        add_nocap(r, (rf_stage)st,
                  "%u more findings of this stage are not listed (the report lists "
                  "at most %u per stage)",
                  r->suppressed[st], (unsigned)RF_MAX_FINDINGS_PER_STAGE);
        r->suppressed[st] = 0;
    }
}

int rf_report_passed(const rf_report *r)
{
    if (!r)
        return 0;
    for (int st = 0; st < RF_STAGE_COUNT; st++) {
        if (r->status[st] == RF_STATUS_FAIL || r->errors[st])
            return 0;
    }
    /* A report on which parse never ran accepts nothing. */
    return r->status[RF_STAGE_PARSE] == RF_STATUS_PASS;
}

rf_stage_status rf_report_stage_status(const rf_report *r, rf_stage s)
{
    if (!r || (unsigned)s >= RF_STAGE_COUNT)
        return RF_STATUS_NOT_RUN;
    return r->status[s];
}

const char *rf_report_stage_summary(const rf_report *r, rf_stage s)
{
    if (!r || (unsigned)s >= RF_STAGE_COUNT || !r->summary[s])
        return "";
    return r->summary[s];
}

uint32_t rf_report_nfindings(const rf_report *r)
{
    return r ? r->nfindings : 0;
}

rf_rc rf_report_finding(const rf_report *r, uint32_t i, rf_finding *out)
{
    if (!r || !out || i >= r->nfindings)
        return RF_E_USAGE;
    const rfval_finding *f = &r->findings[i];
    out->stage = f->stage;
    out->error = f->error;
    out->message = f->message ? f->message : "";
    out->file = f->file;
    out->line = f->line;
    out->instance = f->instance;
    out->field = f->field;
    out->field_index = f->field_index;
    out->sensor_version = f->sensor_version;
    out->sensor_inputs = f->sensor_inputs;
    return RF_OK;
}

const uint8_t *rf_report_channel_bytes(const rf_report *r, size_t *len)
{
    if (!r || !r->bytes) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = r->nbytes;
    return r->bytes;
}

/* json_string of possibly-NULL text: JSON null for NULL. Strings here are
 * UTF-8 already (they come from validated content); json_string refuses
 * anything else, which we turn into null rather than lose the report. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    return j ? j : json_null();
}

/* json_object_set_new that remembers failures in *bad. */
static void jset(json_t *o, const char *k, json_t *v, int *bad)
{
    if (!v || json_object_set_new(o, k, v) != 0)
        *bad = 1;
}

static json_t *finding_json(const rfval_finding *f, int *bad)
{
    json_t *o = json_object();
    if (!o) {
        *bad = 1;
        return NULL;
    }
    jset(o, "severity", json_string(f->error ? "error" : "warning"), bad);
    jset(o, "message", jstr(f->message), bad);
    jset(o, "file", jstr(f->file), bad);
    jset(o, "line", f->line ? json_integer(f->line) : json_null(), bad);
    jset(o, "instance", jstr(f->instance), bad);
    jset(o, "field", jstr(f->field), bad);
    jset(o, "field_index", f->field_index >= 0 ? json_integer(f->field_index) : json_null(),
         bad);
    jset(o, "sensor_version", jstr(f->sensor_version), bad);
    jset(o, "sensor_inputs",
         f->sensor_inputs >= 0 ? json_integer(f->sensor_inputs) : json_null(), bad);
    return o;
}

rf_rc rf_report_to_json(const rf_report *r, char **out)
{
    if (!r || !out)
        return RF_E_USAGE;
    int bad = 0;
    json_t *root = json_object();
    json_t *stages = json_array();
    if (!root || !stages) {
        json_decref(root);
        json_decref(stages);
        return RF_E_NOMEM;
    }
    jset(root, "ringfence_report", json_integer(1), &bad);
    jset(root, "file", jstr(r->file), &bad);
    if (r->have_channel) {
        char hex[65];
        rf_hex(r->body_sha256, 32, hex);
        jset(root, "channel", json_integer(r->channel), &bad);
        jset(root, "template_type", jstr(r->template_type), &bad);
        jset(root, "template_version", json_integer(r->template_version), &bad);
        jset(root, "content_version", json_integer(r->content_version), &bad);
        jset(root, "body_sha256", json_string(hex), &bad);
    } else {
        jset(root, "channel", json_null(), &bad);
        jset(root, "template_type", json_null(), &bad);
        jset(root, "template_version", json_null(), &bad);
        jset(root, "content_version", json_null(), &bad);
        jset(root, "body_sha256", json_null(), &bad);
    }
    jset(root, "verdict", json_string(rf_report_passed(r) ? "accepted" : "rejected"), &bad);
    for (int st = 0; st < RF_STAGE_COUNT && !bad; st++) {
        json_t *so = json_object();
        json_t *fa = json_array();
        if (!so || !fa) {
            json_decref(so);
            json_decref(fa);
            bad = 1;
            break;
        }
        jset(so, "name", json_string(stage_names[st]), &bad);
        jset(so, "status", json_string(rf_stage_status_name(r->status[st])), &bad);
        jset(so, "summary", jstr(r->summary[st] ? r->summary[st] : ""), &bad);
        for (uint32_t i = 0; i < r->nfindings && !bad; i++) {
            if ((int)r->findings[i].stage != st)
                continue;
            json_t *fo = finding_json(&r->findings[i], &bad);
            if (!fo || json_array_append_new(fa, fo) != 0)
                bad = 1;
        }
        jset(so, "findings", fa, &bad);
        if (json_array_append_new(stages, so) != 0)
            bad = 1;
    }
    jset(root, "stages", stages, &bad);
    char *s = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        return RF_E_NOMEM;
    *out = s;
    return RF_OK;
}
