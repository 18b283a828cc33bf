/*
 * validate.h — the Content Validator: the seven stages of DESIGN.md run over
 * a channel (source YAML or binary .rfc) against every sensor manifest of a
 * workspace, producing a report with every finding.
 *
 *   1 parse       the total reader (a source is compiled and read back)
 *   2 schema      template type/version exist, fields and types fit, ids unique
 *   3 capability  every non-wildcard field index < inputs of EVERY sensor
 *                 implementing the type (the 19 July check)
 *   4 patterns    every string criterion compiles in the engine; limits hold
 *   5 tests       embedded tests, once per sensor, events truncated to it
 *   6 execution   the interpreter in a child process under CPU and memory
 *                 limits, fed the corpus and synthetic all-fields events
 *   7 differential detection volume on the corpus against --baseline
 */
#ifndef RINGFENCE_VALIDATE_H
#define RINGFENCE_VALIDATE_H

#include "ringfence/channel.h"
#include "ringfence/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rf_stage {
    RF_STAGE_PARSE = 0,
    RF_STAGE_SCHEMA = 1,
    RF_STAGE_CAPABILITY = 2,
    RF_STAGE_PATTERNS = 3,
    RF_STAGE_TESTS = 4,
    RF_STAGE_EXECUTION = 5,
    RF_STAGE_DIFFERENTIAL = 6,
} rf_stage;
#define RF_STAGE_COUNT 7

typedef enum rf_stage_status {
    RF_STATUS_NOT_RUN = 0, /* an earlier stage failed */
    RF_STATUS_PASS = 1,
    RF_STATUS_FAIL = 2,
    RF_STATUS_SKIPPED = 3, /* switched off, or nothing to do (no baseline) */
} rf_stage_status;

typedef struct rf_validate_opts {
    uint32_t skip;              /* bit (1u << rf_stage): stages switched off */
    const char *baseline_path;  /* previous release (.rfc or .yaml), or NULL */
    const char *corpus_dir;     /* NULL: <workspace>/corpus */
    double diff_max_ratio;      /* reject if detections > ratio * baseline; 0: 10.0 */
    uint32_t diff_min_detections; /* ignore jumps below this many; 0: 100 */
    uint32_t exec_cpu_seconds;  /* CPU limit of each child process; 0: 10 */
    uint64_t exec_mem_bytes;    /* address-space limit of each child; 0: 2 GiB */
    uint64_t exec_event_budget_ns; /* limit on the mean CPU time per event, measured
                                    * over at least 20,000 evaluations; 0: 50000 */
    uint32_t synthetic_events;  /* synthetic events per sensor, one per instance up to
                                   this many; 0: RF_MAX_SYNTHETIC_EVENTS (every instance) */
    void (*progress)(void *ctx, rf_stage stage, const char *what); /* or NULL */
    void *progress_ctx;
} rf_validate_opts;

/* Defaults for every field (zeros mean defaults too). */
void rf_validate_opts_init(rf_validate_opts *o);

typedef struct rf_report rf_report;

/* One finding; strings borrowed from the report, NULL when not applicable. */
typedef struct rf_finding {
    rf_stage stage;
    int error;                  /* 1 rejects the content; 0 a warning or note */
    const char *message;
    const char *file;
    uint32_t line;
    const char *instance;
    const char *field;
    int32_t field_index;        /* -1 when not applicable */
    const char *sensor_version;
    int32_t sensor_inputs;      /* -1 when not applicable */
} rf_finding;

/*
 * Validate the channel at `path` (".rfc" is read as a binary channel file,
 * anything else compiled as YAML) against ws. Returns RF_OK whenever a
 * report was produced — whether the content passed is rf_report_passed();
 * returns an error only when validation could not run (RF_E_NOMEM, RF_E_USAGE).
 * On RF_OK *out is owned by the caller (rf_report_free).
 */
rf_rc rf_validate_path(const rf_workspace *ws, const char *path,
                       const rf_validate_opts *opts, rf_report **out,
                       rf_err *err) RF_WUR;

/* Same, for a channel file already in memory (the server's upload check). */
rf_rc rf_validate_bytes(const rf_workspace *ws, const uint8_t *buf, size_t len,
                        const char *name, const rf_validate_opts *opts,
                        rf_report **out, rf_err *err) RF_WUR;

void rf_report_free(rf_report *r);

int rf_report_passed(const rf_report *r);
rf_stage_status rf_report_stage_status(const rf_report *r, rf_stage s);
/* Short summary of a stage ("28 instances × 2 sensors, 0 failures"). */
const char *rf_report_stage_summary(const rf_report *r, rf_stage s);
uint32_t rf_report_nfindings(const rf_report *r);
/* The i-th finding, or RF_E_USAGE. */
rf_rc rf_report_finding(const rf_report *r, uint32_t i, rf_finding *out);

/* The whole verdict as JSON (every stage, every finding). Caller frees. */
rf_rc rf_report_to_json(const rf_report *r, char **out) RF_WUR;

/* The compiled channel file (after stage 1), or NULL; borrowed. */
const uint8_t *rf_report_channel_bytes(const rf_report *r, size_t *len);

const char *rf_stage_name(rf_stage s);        /* "capability" */
int rf_stage_from_name(const char *name);     /* -1 if unknown */
const char *rf_stage_status_name(rf_stage_status s); /* "pass" */

#ifdef __cplusplus
}
#endif
#endif
