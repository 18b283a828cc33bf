/*
 * event.h — events as sensors hand them over, in JSON lines:
 *   {"template_type":"ipc_named_pipe","sensor_version":"7.11.18110",
 *    "inputs":["\\\\.\\pipe\\x","C:\\a.exe",4]}
 * inputs is a positional array whose length is what the sensor supplied;
 * each element is a string, an integer or null (absent). Unknown keys are
 * errors. The parser is used by `ringfence eval`, the validator's corpus
 * replay and, later, the agent.
 */
#ifndef RINGFENCE_EVENT_H
#define RINGFENCE_EVENT_H

#include "ringfence/interp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rf_event {
    char *template_type;  /* may be NULL when the line omits it */
    char *sensor_version; /* may be NULL when the line omits it */
    uint32_t ninputs;
    rf_input *inputs;     /* strings point into storage owned by the event */
} rf_event;

/*
 * Parse one JSON line (no trailing newline needed; len <= RF_MAX_EVENT_LINE).
 * Errors: RF_E_PARSE (not JSON, not an object, bad UTF-8), RF_E_SCHEMA
 * (unknown key, wrong type, integer out of int64 range), RF_E_LIMIT (too many
 * inputs, string too long). On success *out is owned by the caller
 * (rf_event_free).
 * Details: "inputs" is required; trailing whitespace after the object is
 * allowed; a string input may hold "\u0000" (len counts it) and is bounded
 * only by the line limit. The event and everything it points to are ONE
 * allocation: do not pass a hand-built rf_event to rf_event_free.
 */
rf_rc rf_event_parse(const char *line, size_t len, rf_event **out, rf_err *err) RF_WUR;

void rf_event_free(rf_event *ev);

/* Serialise an event as one JSON line (no newline); caller frees *out with
 * free(). RF_E_SCHEMA if a string input is not valid UTF-8. */
rf_rc rf_event_to_json(const rf_event *ev, char **out) RF_WUR;

#ifdef __cplusplus
}
#endif
#endif
