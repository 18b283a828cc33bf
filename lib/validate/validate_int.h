/*
 * validate_int.h — what the files of lib/validate share and nobody else sees:
 * the report (report.c: findings, stage results, JSON), the state one
 * validation run carries from stage to stage (validate.c), and the execution
 * and differential stages that run in a child process (exec.c). The public
 * contract is validate.h.
 */
#ifndef RINGFENCE_LIB_VALIDATE_INT_H
#define RINGFENCE_LIB_VALIDATE_INT_H

#include <stdint.h>

#include "ringfence/event.h"
#include "ringfence/interp.h"
#include "ringfence/validate.h"

/* ---- the report ---- */

/* One finding as the report stores it: every string owned by the report. */
typedef struct rfval_finding {
    rf_stage stage;
    int error;
    char *message;
    char *file;
    uint32_t line;
    char *instance;
    char *field;
    int32_t field_index;
    char *sensor_version;
    int32_t sensor_inputs;
} rfval_finding;

struct rf_report {
    char *file; /* display name of what was validated */
    int have_channel;
    uint16_t channel;
    char *template_type;
    uint32_t template_version;
    uint32_t content_version;
    uint8_t body_sha256[32];

    rf_stage_status status[RF_STAGE_COUNT];
    char *summary[RF_STAGE_COUNT];
    uint32_t errors[RF_STAGE_COUNT];     /* error findings, listed or not */
    uint32_t listed[RF_STAGE_COUNT];     /* findings stored for the stage */
    uint32_t suppressed[RF_STAGE_COUNT]; /* findings over the per-stage cap */

    rfval_finding *findings;
    uint32_t nfindings, cap;

    uint8_t *bytes; /* the channel file after stage 1 */
    size_t nbytes;

    int oom; /* an allocation failed while recording: the report is incomplete */
};

/*
 * Where a finding points. Every member is optional: NULL strings, 0 line and
 * -1 indices mean "not applicable". Strings are copied into the report.
 */
typedef struct rfval_where {
    const char *file;
    uint32_t line;
    const char *instance;
    const char *field;
    int32_t field_index;
    const char *sensor_version;
    int32_t sensor_inputs;
} rfval_where;

#define RFVAL_WHERE_NONE                                                     \
    { NULL, 0, NULL, NULL, -1, NULL, -1 }

/* A new, empty report (every stage NOT_RUN), or NULL when out of memory. */
rf_report *rfval_report_new(void);

/*
 * Append a finding. After RF_MAX_FINDINGS_PER_STAGE findings for one stage,
 * further ones are only counted (errors still fail the stage); the count is
 * listed as one closing finding by rfval_report_finish.
 */
void rfval_add(rf_report *r, rf_stage st, int error, const rfval_where *w,
               const char *fmt, ...) RF_PRINTF(5, 6);

/* Set a stage's status and summary (summary formatted, copied). */
void rfval_set_stage(rf_report *r, rf_stage st, rf_stage_status status,
                     const char *fmt, ...) RF_PRINTF(4, 5);

/* Close the report: list the findings that were over the per-stage caps. */
void rfval_report_finish(rf_report *r);

/* ---- one validation run ---- */

typedef struct rfval_run {
    const rf_workspace *ws;
    rf_validate_opts o;          /* defaults filled in */
    rf_report *r;
    const char *display;         /* file name used in messages */
    rf_channel *src;             /* compiled source (line numbers), or NULL */
    rf_channel *ch;              /* the channel as read back: what agents load */
    const rf_template_type *tt;  /* ch's type in ws, or NULL */

    /* Sensors implementing (template_type, template_version): indices into ws. */
    uint32_t *sens;
    uint32_t nsens;

    /* The corpus, parsed once (stages 6 and 7). */
    rf_event **events;
    uint32_t nevents;

    rf_channel *baseline;        /* stage 7, or NULL */
} rfval_run;

/* Source line of instance i / criterion j / test k (0 when unknown). */
uint32_t rfval_line_inst(const rfval_run *v, uint32_t i);
uint32_t rfval_line_crit(const rfval_run *v, uint32_t i, uint32_t j);
uint32_t rfval_line_test(const rfval_run *v, uint32_t i, uint32_t k);

/* The support entry of sensor number k of v->sens (never NULL). */
const rf_sensor_support *rfval_support(const rfval_run *v, uint32_t k);

/* The error finding of stage st when no sensor of the workspace runs the
 * channel's template type: validating against zero sensors is the blind
 * spot of 19 July, so it is an error wherever content meets sensors. */
void rfval_no_sensor_finding(rfval_run *v, rf_stage st);

/* Call the caller's progress callback, if any. */
void rfval_progress(const rfval_run *v, rf_stage st, const char *fmt, ...)
    RF_PRINTF(3, 4);

/*
 * The stages that load content into the matching engine run in child
 * processes under CPU and memory limits, up to one per CPU at a time:
 *   - one job per sensor: builds the interpreter for it once and uses it for
 *     the embedded tests (do_tests), the corpus and synthetic events
 *     (do_exec) and the comparison with v->baseline (do_diff);
 *   - one job (do_exec) for the run-time layer: an interpreter built as the
 *     template type declares it, fed every short sensor's real-length events;
 *   - one job (do_patterns) compiling every pattern alone.
 * rfval_exec_start starts the patterns job at once (it needs only the
 * channel) so that it overlaps the parent's reading of the corpus;
 * rfval_exec_finish adds and runs the interpreter jobs, waits for every
 * child, records the findings and summaries of the stages asked for and
 * frees x (also on failure).
 * Both return RF_E_NOMEM only: everything a child does wrong is a finding.
 */
typedef struct rfval_exec rfval_exec;

rf_rc rfval_exec_start(rfval_run *v, int do_patterns, rfval_exec **out);
rf_rc rfval_exec_finish(rfval_exec *x, int do_tests, int do_exec, int do_diff);

/* Record n findings of stage st that are counted but not listed. */
void rfval_add_unlisted(rf_report *r, rf_stage st, int error, uint32_t n);

#endif
