/*
 * interp.h — the Content Interpreter. An rf_interp is built for one channel
 * AND one sensor manifest: building refuses any non-wildcard criterion on an
 * input that sensor does not supply (the load-time check), and every
 * evaluation is told how many inputs the event carries and checks again (the
 * run-time check). Matching uses Vectorscan databases per field and hash
 * tables for exact values; evaluating an event allocates nothing.
 */
#ifndef RINGFENCE_INTERP_H
#define RINGFENCE_INTERP_H

#include "ringfence/channel.h"
#include "ringfence/schema.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_interp rf_interp;
typedef struct rf_interp_scratch rf_interp_scratch;

/* One input of an event, as a sensor hands it over. Borrowed pointers. */
typedef struct rf_input {
    rf_value_type type; /* RF_VAL_ABSENT, RF_VAL_STRING or RF_VAL_INT */
    const char *s;      /* RF_VAL_STRING: bytes (need not be NUL-terminated) */
    uint32_t len;
    int64_t i;          /* RF_VAL_INT */
} rf_input;

/*
 * Build an interpreter for `ch` as run by sensor `m`.
 * Fails with RF_E_NOTFOUND if m does not implement the channel's template
 * type and version, RF_E_CAPABILITY if a criterion names an input index >= the
 * inputs m supplies (message: instance, field, index, sensor version,
 * inputs), RF_E_PATTERN if a pattern does not compile, RF_E_LIMIT.
 * The interpreter copies what it needs: ch and m may be freed afterwards.
 * On success *out is owned by the caller (rf_interp_free).
 */
rf_rc rf_interp_build(const rf_channel *ch, const rf_sensor_manifest *m,
                      rf_interp **out, rf_err *err) RF_WUR;

void rf_interp_free(rf_interp *ip);

/*
 * Per-thread evaluation scratch for one interpreter (Vectorscan scratch and
 * per-event marks and the candidate list), so that rf_interp_eval allocates nothing. One
 * scratch must not be used by two threads at once. Free with
 * rf_interp_scratch_free (NULL-safe).
 */
rf_rc rf_interp_scratch_new(const rf_interp *ip, rf_interp_scratch **out) RF_WUR;
void rf_interp_scratch_free(rf_interp_scratch *s);

/*
 * Evaluate one event. `inputs` has `ninputs` entries (what the sensor
 * supplied). Writes the indices of matching instances, in increasing order,
 * to matches[0..*nmatches-1] (at most `cap`; *nmatches counts them all, so
 * *nmatches > cap means some were not written).
 * Returns RF_E_INPUT, with *nmatches = 0 and without reading past
 * inputs[ninputs-1], if the event carries fewer inputs than the interpreter
 * needs. An input whose type differs from a criterion's type does not match.
 */
rf_rc rf_interp_eval(const rf_interp *ip, rf_interp_scratch *scr,
                     const rf_input *inputs, uint32_t ninputs, uint32_t *matches,
                     uint32_t cap, uint32_t *nmatches);

/* Facts about a built interpreter. */
uint32_t rf_interp_ninstances(const rf_interp *ip);
uint32_t rf_interp_inputs_required(const rf_interp *ip);
uint32_t rf_interp_inputs_supplied(const rf_interp *ip); /* by its sensor */
const char *rf_interp_instance_id(const rf_interp *ip, uint32_t idx);
rf_action rf_interp_instance_action(const rf_interp *ip, uint32_t idx);
rf_severity rf_interp_instance_severity(const rf_interp *ip, uint32_t idx);
/* Bytes held by the interpreter's databases and tables, plus one scratch
 * (approximate). */
size_t rf_interp_memory(const rf_interp *ip);

/*
 * Check one pattern criterion alone in the matching engine (validator stage
 * 4): RF_OK, or RF_E_PATTERN / RF_E_LIMIT with the engine's message.
 */
rf_rc rf_interp_check_crit(const rf_crit *c, rf_err *err) RF_WUR;

#ifdef __cplusplus
}
#endif
#endif
