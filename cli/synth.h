/*
 * synth.h — a synthetic IPC content workspace, for benchmarks and for any CLI
 * code that needs realistic content at scale without a real rule set.
 *
 * There is ONE generator of instances (synth_channel): it makes an rf_channel
 * in memory — every instance with 2..5 criteria and two embedded tests (one
 * event that must match, one that must not). The YAML form of a channel
 * (synth_channel_yaml) is written FROM that rf_channel, so the in-memory and
 * the on-disk channel always come from the same random choices.
 *
 * The template type is "ipc_named_pipe" version 1 with 21 fields, like the
 * 19 July type; criteria only ever use fields 0..19, so content is runnable
 * by both the 20-input and the 21-input sensor of the synthetic workspace.
 *
 * Every instance carries exactly one "distinctive" criterion (an instance
 * token like "zqhkmp" in a pipe name, command line, user name or image, or a
 * random file hash) that background events never produce, plus common
 * criteria (image suffixes, SIDs, integrity levels, ...) that background
 * events often satisfy. So a background event matches no instance but still
 * drives partial matches; an event built from an instance's criteria
 * (synth_events_fill) matches it. Everything is ASCII and deterministic in the
 * seed.
 */
#ifndef RINGFENCE_CLI_SYNTH_H
#define RINGFENCE_CLI_SYNTH_H

#include <stdint.h>

#include "ringfence/channel.h"
#include "ringfence/interp.h"
#include "ringfence/schema.h"
#include "ringfence/util.h"

#define SYNTH_TYPE_NAME "ipc_named_pipe"
#define SYNTH_TYPE_VERSION 1u
#define SYNTH_NFIELDS 21u     /* the template type declares 21 fields ... */
#define SYNTH_CRIT_FIELDS 20u /* ... and criteria only use indices 0..19 */
#define SYNTH_SENSOR_20 "7.11.18110" /* supplies 20 inputs */
#define SYNTH_SENSOR_21 "7.11.18200" /* supplies all 21 */
#define SYNTH_CHANNEL_NUMBER 291u


/* Name and type of field i (< SYNTH_NFIELDS). */
const char *synth_field_name(uint32_t i);
rf_field_type synth_field_type(uint32_t i);

/* YAML text of the template type and of one sensor manifest. Caller frees. */
char *synth_type_yaml(void);
char *synth_sensor_yaml(const char *sensor_version, uint32_t inputs);

/*
 * An in-memory workspace holding the template type and both sensors
 * (SYNTH_SENSOR_20, SYNTH_SENSOR_21). On success *out is the caller's
 * (rf_workspace_free).
 */
rf_rc synth_workspace(rf_workspace **out, rf_err *err);

/*
 * The generator: a channel of n instances (1..RF_MAX_INSTANCES) drawn from
 * `seed`. Every pointer in it is malloc'd, so rf_channel_free frees it; on
 * success *out is the caller's. Fails only with RF_E_NOMEM or RF_E_USAGE.
 */
rf_rc synth_channel(uint32_t n, uint64_t seed, rf_channel **out);

/* Append the channel as a Channel YAML document to b (check b->oom). */
void synth_channel_yaml(const rf_channel *ch, rf_buf *b);

/*
 * A batch of events. inputs[i * ninputs + j] is input j of event i; strings
 * point into the batch's own storage and stay valid until the next fill or
 * synth_events_free. target[i] is the instance event i was built to match,
 * or UINT32_MAX for a background event.
 */
typedef struct synth_events {
    uint32_t n;
    uint32_t ninputs;
    rf_input *inputs;
    uint32_t *target;
    /* private */
    uint32_t cap;
    uint32_t *offs; /* string offsets into text while filling */
    rf_buf text;
} synth_events;

void synth_events_init(synth_events *ev);
void synth_events_free(synth_events *ev);

/*
 * (Re)fill ev with n events of `ninputs` inputs (SYNTH_CRIT_FIELDS..
 * SYNTH_NFIELDS) for channel ch (made by synth_channel). Each event is, with
 * probability match_ppm / 1e6, built to match a random instance of ch;
 * otherwise it is background. Returns RF_E_NOMEM or RF_OK.
 */
rf_rc synth_events_fill(synth_events *ev, rf_rng *r, const rf_channel *ch,
                        uint32_t n, uint32_t ninputs, uint32_t match_ppm) RF_WUR;

/* Append one event as a JSON line (with '\n') to b. */
void synth_event_json(rf_buf *b, const rf_input *in, uint32_t ninputs,
                      const char *sensor_version);

#endif
